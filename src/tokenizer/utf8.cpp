#include "utf8.h"

#include "tessera/core/utf8.h"

namespace tessera::tokenizer::utf8 {
namespace {

// Expected length from the lead byte, 0 for bytes that cannot lead.
size_t lead_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Whether the second byte is allowed after `lead` (rules out overlong
// forms, surrogates and code points past U+10FFFF).
bool second_ok(uint8_t lead, uint8_t b) {
  if ((b & 0xC0) != 0x80) return false;
  switch (lead) {
    case 0xE0:
      return b >= 0xA0;
    case 0xED:
      return b <= 0x9F;
    case 0xF0:
      return b >= 0x90;
    case 0xF4:
      return b <= 0x8F;
    default:
      return true;
  }
}

// How many bytes from s[i] match a valid prefix of a character, and the
// length that character needs.
void scan(std::string_view s, size_t i, size_t& need, size_t& ok) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  need = lead_length(p[i]);
  ok = need == 0 ? 0 : 1;
  for (size_t k = 1; k < need && i + k < s.size(); ++k) {
    const uint8_t b = p[i + k];
    const bool good = k == 1 ? second_ok(p[i], b) : (b & 0xC0) == 0x80;
    if (!good) break;
    ok = k + 1;
  }
}

}  // namespace

size_t char_length(std::string_view s, size_t i) {
  size_t need = 0, ok = 0;
  scan(s, i, need, ok);
  return need != 0 && ok == need ? need : 0;
}

int prefix_state(std::string_view s, size_t i) {
  size_t need = 0, ok = 0;
  scan(s, i, need, ok);
  if (need != 0 && ok == need) return static_cast<int>(need);
  if (need != 0 && i + ok == s.size()) return -static_cast<int>(ok);  // cut off by the end
  return 0;
}

char32_t decode_at(std::string_view s, size_t i, size_t len) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + i;
  switch (len) {
    case 1:
      return p[0];
    case 2:
      return (char32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    case 3:
      return (char32_t(p[0] & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    case 4:
      return (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) |
             (char32_t(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    default:
      return kInvalid;
  }
}

void append(std::string& out, char32_t c) { append_utf8(out, c); }

bool is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = char_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string make_valid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = char_length(s, i);
    if (n != 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // Replace the maximal valid-looking prefix (at least one byte) by one U+FFFD.
    size_t need = 0, ok = 0;
    scan(s, i, need, ok);
    out.append(kReplacement);
    i += ok == 0 ? 1 : ok;
  }
  return out;
}

size_t complete_prefix(std::string_view s) {
  // An incomplete character can only be the last 1-3 bytes.
  const size_t start = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = start; i < s.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    if ((b & 0xC0) == 0x80) continue;  // continuation: not a start
    const int state = prefix_state(s, i);
    if (state < 0) return i;  // a possible character waits for more bytes
  }
  return s.size();
}

}  // namespace tessera::tokenizer::utf8
