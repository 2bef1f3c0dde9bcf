// The GPT-2 byte-to-unicode alphabet: each byte has a printable character,
// so byte-level BPE vocabularies are plain strings ("Ġ" is the space byte).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::tokenizer {

// UTF-8 of the character standing for each byte.
const std::array<std::string, 256>& byte_level_alphabet();
// The byte a character stands for, or -1 when it is not in the alphabet.
int byte_level_byte(char32_t c);
// Bytes -> their byte-level spelling.
std::string to_byte_level(std::string_view bytes);
// Byte-level spelling -> bytes; nullopt when a character is not in the
// alphabet (or the input is not UTF-8).
std::optional<std::string> from_byte_level(std::string_view text);

}  // namespace tessera::tokenizer
