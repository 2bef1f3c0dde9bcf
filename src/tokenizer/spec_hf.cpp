// TokenizerSpec from an HF folder: tokenizer.json (model, normalizer,
// pre_tokenizer, post_processor, added_tokens) and tokenizer_config.json
// (chat_template, bos/eos tokens, add_bos_token).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tessera/core/error.h"
#include "tessera/tokenizer/tokenizer_spec.h"

namespace tessera::tokenizer {
namespace {

using nlohmann::json;
constexpr const char* kSpaceMark = "\xE2\x96\x81";

// HF's Punctuation pre-tokenizer: Unicode P* plus the ASCII symbols Rust
// counts as punctuation.
constexpr const char* kPunctuationClass = R"([\p{P}$+<=>^`|~])";

std::string regex_escape(const std::string& literal) {
  std::string out;
  for (char c : literal) {
    if (std::string_view("\\^$.|?*+()[]{}-/").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

SplitBehavior parse_behavior(const json& j) {
  const std::string b = j.is_string() ? j.get<std::string>() : "Isolated";
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  fail(ErrorKind::kBadFile, "tokenizer.json: unknown split behavior '{}'", b);
}

// The text of a token given as a string, {"content": ...} or null.
std::string token_content(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string())
    return j["content"].get<std::string>();
  return "";
}

struct Reader {
  TokenizerSpec& spec;
  bool byte_level = false;
  bool metaspace = false;

  void normalizer(const json& n) {
    if (n.is_null()) return;
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
      for (const json& part : n["normalizers"]) normalizer(part);
    } else if (type == "NFC") {
      spec.normalization = Normalization::kNfc;
    } else if (type == "NFKC") {
      spec.normalization = Normalization::kNfkc;
    } else if (type == "Prepend" && n.value("prepend", "") == kSpaceMark) {
      spec.add_space_prefix = true;
      metaspace = true;
    } else if (type == "Replace" && n.value("content", "") == kSpaceMark) {
      metaspace = true;  // " " -> "▁", what our SentencePiece path does
    } else {
      fail(ErrorKind::kUnsupported, "tokenizer.json: unsupported normalizer '{}'", type);
    }
  }

  void add_split(std::string pattern, SplitBehavior behavior, bool invert) {
    if (byte_level)  // HF would run it on the byte-level spelling; we split raw text
      fail(ErrorKind::kUnsupported, "tokenizer.json: a split after ByteLevel is not supported");
    PreTokenizerStep step;
    step.pattern = std::move(pattern);
    step.behavior = behavior;
    step.invert = invert;
    spec.pre_tokenizer.push_back(std::move(step));
  }

  void pre_tokenizer(const json& p) {
    if (p.is_null()) return;
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
      for (const json& part : p["pretokenizers"]) pre_tokenizer(part);
    } else if (type == "ByteLevel") {
      PreTokenizerStep step;
      step.kind = PreTokenizerStep::Kind::kByteLevel;
      step.add_prefix_space = p.value("add_prefix_space", false);
      step.use_regex = p.value("use_regex", true);
      spec.pre_tokenizer.push_back(step);
      byte_level = true;
    } else if (type == "Split") {
      const json& pattern = p["pattern"];
      std::string regex;
      if (pattern.contains("Regex"))
        regex = pattern["Regex"].get<std::string>();
      else if (pattern.contains("String"))
        regex = regex_escape(pattern["String"].get<std::string>());
      else
        fail(ErrorKind::kBadFile, "tokenizer.json: Split without a pattern");
      add_split(regex, parse_behavior(p["behavior"]), p.value("invert", false));
    } else if (type == "Digits") {
      if (p.value("individual_digits", false))
        add_split(R"(\p{N})", SplitBehavior::kIsolated, false);
      else
        add_split(R"(\p{N}+)", SplitBehavior::kIsolated, false);
    } else if (type == "Punctuation") {
      add_split(kPunctuationClass, parse_behavior(p["behavior"]), false);
    } else if (type == "Metaspace") {
      metaspace = true;
      if (p.value("replacement", kSpaceMark) != std::string(kSpaceMark))
        fail(ErrorKind::kUnsupported, "tokenizer.json: Metaspace with another replacement");
      // Older files say add_prefix_space; newer ones prepend_scheme.
      const std::string scheme =
          p.value("prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never");
      spec.add_space_prefix = scheme != "never";
      spec.space_prefix_first_only = scheme == "first";
      spec.space_prefix_if_missing = true;
      spec.split_at_space_mark = p.value("split", true);
    } else {
      fail(ErrorKind::kUnsupported, "tokenizer.json: unsupported pre-tokenizer '{}'", type);
    }
  }

  // TemplateProcessing: which special tokens wrap a single sequence.
  void post_processor(const json& p, bool& found) {
    if (p.is_null()) return;
    const std::string type = p.value("type", "");
    if (type == "Sequence") {
      for (const json& part : p["processors"]) post_processor(part, found);
      return;
    }
    if (type != "TemplateProcessing") return;
    found = true;
    bool seen_sequence = false;
    for (const json& piece : p["single"]) {
      if (piece.contains("Sequence")) {
        seen_sequence = true;
        continue;
      }
      if (!piece.contains("SpecialToken")) continue;
      const std::string name = piece["SpecialToken"].value("id", "");
      int32_t id = -1;
      if (p.contains("special_tokens") && p["special_tokens"].contains(name)) {
        const json& ids = p["special_tokens"][name]["ids"];
        if (!ids.empty()) id = ids[0].get<int32_t>();
      }
      if (!seen_sequence) {
        spec.add_bos = true;
        if (spec.bos_id < 0) spec.bos_id = id;
      } else {
        spec.add_eos = true;
        if (spec.eos_id < 0) spec.eos_id = id;
      }
    }
  }
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, "cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse(std::string_view text, const char* what) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail(ErrorKind::kBadFile, "{} is not valid JSON: {}", what, e.what());
  }
}

}  // namespace

TokenizerSpec spec_from_hf_json(std::string_view tokenizer_json, std::string_view config_json) {
  const json tj = parse(tokenizer_json, "tokenizer.json");
  const json config =
      config_json.empty() ? json::object() : parse(config_json, "tokenizer_config.json");
  TokenizerSpec spec;
  spec.pre_name = "hf";
  try {
    const json& model = tj.at("model");
    const std::string type = model.value("type", "BPE");
    if (type != "BPE") fail(ErrorKind::kUnsupported, "unsupported tokenizer model '{}'", type);

    size_t n = 0;
    for (const auto& [text, id] : model.at("vocab").items())
      n = std::max<size_t>(n, id.get<size_t>() + 1);
    spec.tokens.resize(n);
    for (const auto& [text, id] : model.at("vocab").items()) spec.tokens[id.get<size_t>()] = text;
    for (const json& m : model.value("merges", json::array())) {
      if (m.is_array() && m.size() == 2) {
        spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        continue;
      }
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ', 1);
      if (space == std::string::npos)
        fail(ErrorKind::kBadFile, "tokenizer.json: bad merge '{}'", s);
      spec.merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    }
    spec.byte_fallback = model.value("byte_fallback", false);
    spec.ignore_merges = model.value("ignore_merges", false);

    Reader reader{spec};
    reader.normalizer(tj.value("normalizer", json()));
    reader.pre_tokenizer(tj.value("pre_tokenizer", json()));
    if (reader.byte_level) {
      spec.model = ModelKind::kByteLevelBpe;
    } else if (reader.metaspace) {
      spec.model = ModelKind::kSentencePieceBpe;
    } else {
      const json decoder = tj.value("decoder", json());
      if (decoder.is_object() && decoder.value("type", "") == "ByteLevel")
        spec.model = ModelKind::kByteLevelBpe;
      else
        fail(ErrorKind::kUnsupported, "tokenizer.json: neither byte-level nor SentencePiece BPE");
    }

    for (const json& a : tj.value("added_tokens", json::array())) {
      AddedToken t;
      t.id = a.at("id").get<int32_t>();
      t.content = a.at("content").get<std::string>();
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.single_word = a.value("single_word", false);
      t.normalized = a.value("normalized", false);
      if (t.id < 0) fail(ErrorKind::kBadFile, "tokenizer.json: negative added token id");
      if (static_cast<size_t>(t.id) >= spec.tokens.size()) spec.tokens.resize(t.id + 1);
      if (spec.tokens[t.id].empty()) spec.tokens[t.id] = t.content;
      spec.added_tokens.push_back(std::move(t));
    }
    spec.token_types.assign(spec.tokens.size(), TokenType::kNormal);
    for (const AddedToken& t : spec.added_tokens)
      spec.token_types[t.id] = t.special ? TokenType::kControl : TokenType::kUserDefined;
    if (spec.model == ModelKind::kSentencePieceBpe && spec.byte_fallback)
      for (size_t id = 0; id < spec.tokens.size(); ++id) {
        const std::string& s = spec.tokens[id];
        if (s.size() == 6 && s.starts_with("<0x") && s.back() == '>')
          spec.token_types[id] = TokenType::kByte;
      }

    auto id_of = [&](const std::string& text) -> int32_t {
      if (text.empty()) return -1;
      for (const AddedToken& t : spec.added_tokens)
        if (t.content == text) return t.id;
      for (size_t id = 0; id < spec.tokens.size(); ++id)
        if (spec.tokens[id] == text) return static_cast<int32_t>(id);
      return -1;
    };
    if (model.contains("unk_token") && model["unk_token"].is_string())
      spec.unk_id = id_of(model["unk_token"].get<std::string>());

    spec.bos_token = token_content(config.value("bos_token", json()));
    spec.eos_token = token_content(config.value("eos_token", json()));
    spec.bos_id = id_of(spec.bos_token);
    spec.eos_id = id_of(spec.eos_token);
    spec.pad_id = id_of(token_content(config.value("pad_token", json())));
    bool has_template = false;
    reader.post_processor(tj.value("post_processor", json()), has_template);
    if (!has_template) {
      spec.add_bos = config.value("add_bos_token", false);
      spec.add_eos = config.value("add_eos_token", false);
    }
    if (spec.bos_token.empty() && spec.bos_id >= 0) spec.bos_token = spec.tokens[spec.bos_id];
    if (spec.eos_token.empty() && spec.eos_id >= 0) spec.eos_token = spec.tokens[spec.eos_id];

    const json tmpl = config.value("chat_template", json());
    if (tmpl.is_string()) {
      spec.chat_template = tmpl.get<std::string>();
    } else if (tmpl.is_array()) {  // named templates: the default one, else the first
      for (const json& t : tmpl)
        if (t.value("name", "") == "default" || spec.chat_template.empty())
          spec.chat_template = t.value("template", "");
    }
  } catch (const json::exception& e) {
    fail(ErrorKind::kBadFile, "tokenizer.json: {}", e.what());
  }
  return spec;
}

TokenizerSpec spec_from_hf_folder(const std::string& dir) {
  const std::filesystem::path root(dir);
  const auto tokenizer_path = root / "tokenizer.json";
  if (!std::filesystem::exists(tokenizer_path))
    fail(ErrorKind::kNotFound, "no tokenizer.json in {}", dir);
  const auto config_path = root / "tokenizer_config.json";
  const std::string config =
      std::filesystem::exists(config_path) ? read_file(config_path) : std::string();
  return spec_from_hf_json(read_file(tokenizer_path), config);
}

}  // namespace tessera::tokenizer
