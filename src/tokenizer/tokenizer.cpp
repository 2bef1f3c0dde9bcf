// Encoding runs: added/special tokens split out of the raw text, then per
// text run: normalization, pre-tokenization into words, BPE per word (cached).
#include "tessera/tokenizer/tokenizer.h"

#include <algorithm>
#include <unordered_map>

#include <utf8proc.h>

#include "tessera/core/error.h"
#include "tessera/tokenizer/added_tokens.h"
#include "tessera/tokenizer/bpe.h"
#include "tessera/tokenizer/byte_level.h"
#include "tessera/tokenizer/pre_tokenizer.h"
#include "utf8.h"
#include "word_cache.h"

namespace tessera::tokenizer {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";  // U+2581 "▁"

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using IdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos)).append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// "<0x1F>" -> 0x1F; -1 when `text` is not a byte token.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value *= 16;
    if (c >= '0' && c <= '9')
      value += c - '0';
    else if (c >= 'A' && c <= 'F')
      value += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      value += c - 'a' + 10;
    else
      return -1;
  }
  return value;
}

std::string normalize(std::string_view text, Normalization form) {
  const int options =
      UTF8PROC_STABLE | UTF8PROC_COMPOSE | (form == Normalization::kNfkc ? UTF8PROC_COMPAT : 0);
  utf8proc_uint8_t* result = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                          static_cast<utf8proc_ssize_t>(text.size()), &result,
                                          static_cast<utf8proc_option_t>(options));
  if (n < 0) return std::string(text);  // cannot happen on valid UTF-8; keep the text
  std::string out(reinterpret_cast<char*>(result), static_cast<size_t>(n));
  free(result);
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  TokenizerSpec spec;
  IdMap vocab;            // token text -> id
  IdMap normal_by_bytes;  // decoded bytes -> id, for ignore_merges
  std::vector<std::string> bytes_of;
  std::vector<uint8_t> special;
  MergeTable merges;
  std::array<int32_t, 256> byte_ids;  // byte-level alphabet or <0xXX> tokens
  PreTokenizer pre_tokenizer;
  AddedTokenMatcher added;
  WordCache cache;
  bool spm = false;

  explicit Impl(TokenizerSpec s)
      : spec(std::move(s)), pre_tokenizer(spec.pre_tokenizer), added(spec.added_tokens) {
    spm = spec.model == ModelKind::kSentencePieceBpe;
    build_vocab();
    build_merges();
  }

  void build_vocab();
  void build_merges();
  void encode_text(std::string_view text, bool prefix_space, std::vector<int32_t>& out) const;
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const;
  void emit_unknown(std::string_view bytes, std::vector<int32_t>& out) const;
};

void Tokenizer::Impl::build_vocab() {
  auto& tokens = spec.tokens;
  for (const AddedToken& t : spec.added_tokens) {
    if (t.id < 0) fail(ErrorKind::kBadFile, "added token '{}' has a negative id", t.content);
    if (static_cast<size_t>(t.id) >= tokens.size()) tokens.resize(t.id + 1);
    if (tokens[t.id].empty()) tokens[t.id] = t.content;
  }
  if (tokens.empty()) fail(ErrorKind::kBadFile, "tokenizer has an empty vocabulary");
  for (int32_t* id : {&spec.bos_id, &spec.eos_id, &spec.unk_id, &spec.pad_id})
    if (*id >= static_cast<int32_t>(tokens.size())) *id = -1;

  const size_t n = tokens.size();
  vocab.reserve(n);
  bytes_of.resize(n);
  special.assign(n, 0);
  byte_ids.fill(-1);
  std::vector<uint8_t> is_added(n, 0);
  for (const AddedToken& t : spec.added_tokens) {
    is_added[t.id] = 1;
    if (t.special) special[t.id] = 1;
  }
  for (size_t id = 0; id < n; ++id) {
    const std::string& text = tokens[id];
    if (!text.empty()) vocab.try_emplace(text, static_cast<int32_t>(id));
    const TokenType type = id < spec.token_types.size() ? spec.token_types[id] : TokenType::kNormal;
    if (type == TokenType::kControl || type == TokenType::kUnknown) special[id] = 1;
    std::string& bytes = bytes_of[id];
    if (spm) {
      const int byte = parse_byte_token(text);
      if (byte >= 0 && type == TokenType::kByte) {
        bytes.assign(1, static_cast<char>(byte));
        if (byte_ids[byte] < 0) byte_ids[byte] = static_cast<int32_t>(id);
      } else {
        bytes = replace_all(text, kSpaceMark, " ");
      }
    } else if (is_added[id] || type == TokenType::kControl || type == TokenType::kUserDefined) {
      bytes = text;  // added tokens are spelled in plain text, not the byte alphabet
    } else {
      auto decoded = from_byte_level(text);
      bytes = decoded ? std::move(*decoded) : text;
    }
    if (!spm && !is_added[id] && type == TokenType::kNormal)
      normal_by_bytes.try_emplace(bytes, static_cast<int32_t>(id));
  }
  if (!spm) {
    const auto& alphabet = byte_level_alphabet();
    for (int b = 0; b < 256; ++b)
      if (auto it = vocab.find(alphabet[b]); it != vocab.end()) byte_ids[b] = it->second;
  }
}

void Tokenizer::Impl::build_merges() {
  auto id_of = [&](std::string_view s) -> int32_t {
    auto it = vocab.find(s);
    return it == vocab.end() ? -1 : it->second;
  };
  if (!spec.merges.empty()) {
    merges.reserve(spec.merges.size());
    int32_t rank = 0;
    std::string joined;
    for (const auto& [left, right] : spec.merges) {
      joined.assign(left).append(right);
      const int32_t l = id_of(left), r = id_of(right), m = id_of(joined);
      if (l >= 0 && r >= 0 && m >= 0) merges.add(l, r, rank, m);
      ++rank;
    }
    return;
  }
  if (!spm || spec.scores.empty()) return;
  // SentencePiece BPE merges the adjacent pair whose union scores highest:
  // every way to cut a token into two tokens is a rule, ranked by score.
  std::vector<int32_t> order(spec.tokens.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  auto score = [&](int32_t id) {
    return static_cast<size_t>(id) < spec.scores.size() ? spec.scores[id] : 0.0f;
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return score(a) > score(b); });
  int32_t rank = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && score(order[i]) != score(order[i - 1])) ++rank;  // equal scores: leftmost wins
    const int32_t id = order[i];
    const TokenType type = static_cast<size_t>(id) < spec.token_types.size() ? spec.token_types[id]
                                                                             : TokenType::kNormal;
    if (type != TokenType::kNormal && type != TokenType::kUserDefined) continue;
    const std::string& text = spec.tokens[id];
    for (size_t cut = 1; cut < text.size(); ++cut) {
      if ((static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) continue;
      const int32_t l = id_of(std::string_view(text).substr(0, cut));
      const int32_t r = id_of(std::string_view(text).substr(cut));
      if (l >= 0 && r >= 0) merges.add(l, r, rank, id);
    }
  }
}

void Tokenizer::Impl::emit_unknown(std::string_view bytes, std::vector<int32_t>& out) const {
  if (spec.byte_fallback || spm) {
    bool all = true;
    for (unsigned char b : bytes) all = all && byte_ids[b] >= 0;
    if (all) {
      for (unsigned char b : bytes) out.push_back(byte_ids[b]);
      return;
    }
  }
  if (spec.unk_id >= 0) out.push_back(spec.unk_id);  // otherwise dropped, as HF BPE does
}

void Tokenizer::Impl::encode_word(std::string_view word, std::vector<int32_t>& out) const {
  if (spec.ignore_merges) {
    if (auto it = normal_by_bytes.find(word); it != normal_by_bytes.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (cache.lookup(word, out)) return;
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  for (size_t i = 0; i < word.size(); ++i) {
    const int32_t id = byte_ids[static_cast<uint8_t>(word[i])];
    symbols.push_back(id >= 0 ? id : -2 - static_cast<int32_t>(i));
  }
  merges.merge(symbols);
  const size_t first = out.size();
  for (int32_t id : symbols) {
    if (id >= 0)
      out.push_back(id);
    else
      emit_unknown(word.substr(static_cast<size_t>(-2 - id), 1), out);
  }
  cache.store(word, out.data() + first, out.size() - first);
}

void Tokenizer::Impl::encode_spm(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::max<size_t>(1, utf8::char_length(text, i));
    auto it = vocab.find(text.substr(i, n));
    symbols.push_back(it != vocab.end() ? it->second : -2 - static_cast<int32_t>(i));
    i += n;
  }
  merges.merge(symbols);
  for (int32_t id : symbols) {
    if (id >= 0) {
      out.push_back(id);
    } else {
      const size_t at = static_cast<size_t>(-2 - id);
      emit_unknown(text.substr(at, std::max<size_t>(1, utf8::char_length(text, at))), out);
    }
  }
}

void Tokenizer::Impl::encode_text(std::string_view text, bool prefix_space,
                                  std::vector<int32_t>& out) const {
  thread_local std::string buffer;
  thread_local std::vector<TextSpan> pieces;
  if (spec.normalization != Normalization::kNone) {
    buffer = normalize(text, spec.normalization);
  } else {
    buffer.assign(text);
  }
  if (spm) {
    std::string marked = replace_all(buffer, " ", kSpaceMark);
    if (prefix_space && !(spec.space_prefix_if_missing && marked.starts_with(kSpaceMark)))
      marked.insert(0, kSpaceMark);
    if (!spec.split_at_space_mark) {
      encode_spm(marked, out);
      return;
    }
    // Metaspace split: every "▁" starts a new word.
    const std::string_view view(marked);
    size_t start = 0;
    while (start < view.size()) {
      size_t next = view.find(kSpaceMark, start + 1);
      if (next == std::string_view::npos) next = view.size();
      encode_spm(view.substr(start, next - start), out);
      start = next;
    }
    return;
  }
  pieces.clear();
  pre_tokenizer.split(buffer, 0, buffer.size(), pieces);
  for (const TextSpan& p : pieces)
    encode_word(std::string_view(buffer).substr(p.begin, p.end - p.begin), out);
}

Tokenizer::Tokenizer(TokenizerSpec spec) : impl_(std::make_unique<Impl>(std::move(spec))) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_hf_folder(const std::string& dir) {
  return Tokenizer(spec_from_hf_folder(dir));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens,
                                       bool parse_special) const {
  const Impl& m = *impl_;
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::make_valid(text);
    text = repaired;
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special_tokens && m.spec.add_bos && m.spec.bos_id >= 0) out.push_back(m.spec.bos_id);
  thread_local std::vector<TextChunk> chunks;
  m.added.split(text, parse_special, chunks);
  // SentencePiece puts its prefix space before the text and after each
  // added token (the text runs HF normalizes one by one).
  bool after_token = true;
  for (const TextChunk& c : chunks) {
    if (c.id >= 0) {
      out.push_back(c.id);
      after_token = true;
    } else {
      const bool prefix = m.spec.add_space_prefix && after_token &&
                          (!m.spec.space_prefix_first_only || c.begin == 0);
      m.encode_text(text.substr(c.begin, c.end - c.begin), prefix, out);
      after_token = false;
    }
  }
  if (add_special_tokens && m.spec.add_eos && m.spec.eos_id >= 0) out.push_back(m.spec.eos_id);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!is_valid(id)) fail(ErrorKind::kInvalidArgument, "token id {} is out of range", id);
    if (skip_special_tokens && impl_->special[id]) continue;
    bytes += impl_->bytes_of[id];
  }
  if (strips_leading_space() && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return utf8::is_valid(bytes) ? bytes : utf8::make_valid(bytes);
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (!is_valid(id)) fail(ErrorKind::kInvalidArgument, "token id {} is out of range", id);
  return impl_->spec.tokens[id];
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (!is_valid(id)) fail(ErrorKind::kInvalidArgument, "token id {} is out of range", id);
  return impl_->bytes_of[id];
}

std::optional<int32_t> Tokenizer::find_token(std::string_view text) const {
  auto it = impl_->vocab.find(text);
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

size_t Tokenizer::vocab_size() const { return impl_->spec.tokens.size(); }
bool Tokenizer::is_special(int32_t id) const { return is_valid(id) && impl_->special[id]; }
int32_t Tokenizer::bos_id() const { return impl_->spec.bos_id; }
int32_t Tokenizer::eos_id() const { return impl_->spec.eos_id; }
int32_t Tokenizer::unk_id() const { return impl_->spec.unk_id; }
int32_t Tokenizer::pad_id() const { return impl_->spec.pad_id; }
bool Tokenizer::strips_leading_space() const { return impl_->spm && impl_->spec.add_space_prefix; }
const TokenizerSpec& Tokenizer::spec() const { return impl_->spec; }

}  // namespace tessera::tokenizer
