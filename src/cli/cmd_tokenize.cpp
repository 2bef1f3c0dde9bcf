// `tessera tokenize -m MODEL`: text -> ids (one JSON string per input line,
// or -p TEXT), or with --decode ids -> text (one JSON array per line). Each
// answer is one JSON line on stdout, so scripts can pipe thousands at once.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "command.h"
#include "tessera/core/error.h"
#include "tessera/engine/load_tokenizer.h"
#include "tessera/tokenizer/detokenizer.h"
#include "tessera/tokenizer/tokenizer.h"

namespace tessera::cli {
namespace {

using tokenizer::Tokenizer;

nlohmann::json parse_line(const std::string& line, size_t number) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::kInvalidArgument, "input line {} is not JSON: {}", number, e.what());
  }
}

struct Options {
  std::string model;
  std::string prompt;
  bool has_prompt = false;  // -p "" is an empty text, not "read stdin"
  bool decode = false;
  bool no_special = false;
  bool parse_special = false;
  bool skip_special = false;
  bool incremental = false;
};

int run(const Options& o) {
  const Tokenizer tok = load_tokenizer(o.model);
  auto encode = [&](const std::string& text) {
    std::cout << nlohmann::json(tok.encode(text, !o.no_special, o.parse_special)).dump() << '\n';
  };
  if (o.has_prompt) {
    if (o.decode) fail(ErrorKind::kInvalidArgument, "--decode reads ids from stdin, not -p");
    encode(o.prompt);
    return 0;
  }
  std::string line;
  size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json input = parse_line(line, number);
    if (o.decode) {
      if (!input.is_array())
        fail(ErrorKind::kInvalidArgument, "input line {}: expected a JSON array of ids", number);
      std::vector<int32_t> ids;
      for (const auto& v : input) {
        if (!v.is_number_integer())
          fail(ErrorKind::kInvalidArgument, "input line {}: ids must be integers", number);
        ids.push_back(v.get<int32_t>());
      }
      if (o.incremental) {  // the pieces a streaming client would see, flush last
        tokenizer::IncrementalDetokenizer detok(tok, o.skip_special);
        nlohmann::json pieces = nlohmann::json::array();
        for (int32_t id : ids) pieces.push_back(detok.push(id));
        pieces.push_back(detok.flush());
        std::cout << pieces.dump() << '\n';
      } else {
        std::cout << nlohmann::json(tok.decode(ids, o.skip_special)).dump() << '\n';
      }
    } else {
      if (!input.is_string())
        fail(ErrorKind::kInvalidArgument, "input line {}: expected a JSON string", number);
      encode(input.get<std::string>());
    }
  }
  std::cout.flush();
  return 0;
}

const bool registered = register_command({
    "tokenize",
    "Encode text to token ids (JSON strings per line) or decode ids (--decode)",
    [](CLI::App& app) -> std::function<int()> {
      auto o = std::make_shared<Options>();
      app.add_option("-m,--model", o->model, "GGUF file, HF folder, or a known model name")
          ->required();
      app.add_option("-p,--prompt", o->prompt, "Encode this text instead of reading stdin")
          ->each([o](const std::string&) { o->has_prompt = true; });
      app.add_flag("--decode", o->decode, "Read JSON arrays of ids, print JSON strings");
      app.add_flag("--no-special", o->no_special, "Do not add BOS/EOS tokens");
      app.add_flag("--parse-special", o->parse_special,
                   "Turn special-token text such as <|im_start|> into its token");
      app.add_flag("--skip-special", o->skip_special, "With --decode: leave out special tokens");
      app.add_flag("--incremental", o->incremental,
                   "With --decode: print the text each id adds, as a JSON array");
      return [o] { return run(*o); };
    },
});

}  // namespace
}  // namespace tessera::cli
