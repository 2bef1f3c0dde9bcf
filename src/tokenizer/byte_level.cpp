// The alphabet follows GPT-2's published scheme: printable Latin-1 bytes
// stand for themselves, every other byte for U+0100 + its rank among them.
#include "tessera/tokenizer/byte_level.h"

#include <vector>

#include "utf8.h"

namespace tessera::tokenizer {
namespace {

bool printable(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

struct Tables {
  std::array<std::string, 256> alphabet;
  std::array<char32_t, 256> codepoint{};
  std::vector<int16_t> byte_of;  // index: code point (< 0x200)

  Tables() : byte_of(0x200, -1) {
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      const char32_t c = printable(b) ? static_cast<char32_t>(b) : 0x100 + next++;
      codepoint[b] = c;
      byte_of[c] = static_cast<int16_t>(b);
      utf8::append(alphabet[b], c);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_level_alphabet() { return tables().alphabet; }

int byte_level_byte(char32_t c) {
  const auto& t = tables();
  return c < t.byte_of.size() ? t.byte_of[c] : -1;
}

std::string to_byte_level(std::string_view bytes) {
  const auto& alphabet = tables().alphabet;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += alphabet[b];
  return out;
}

std::optional<std::string> from_byte_level(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8::char_length(text, i);
    if (n == 0) return std::nullopt;
    const int b = byte_level_byte(utf8::decode_at(text, i, n));
    if (b < 0) return std::nullopt;
    out.push_back(static_cast<char>(b));
    i += n;
  }
  return out;
}

}  // namespace tessera::tokenizer
