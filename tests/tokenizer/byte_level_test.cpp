#include "tessera/tokenizer/byte_level.h"

#include <set>

#include <gtest/gtest.h>

namespace tessera::tokenizer {
namespace {

TEST(ByteLevel, AlphabetIsABijectionOntoPrintableCharacters) {
  const auto& alphabet = byte_level_alphabet();
  std::set<std::string> distinct(alphabet.begin(), alphabet.end());
  EXPECT_EQ(distinct.size(), 256u);
  for (int b = '!'; b <= '~'; ++b) EXPECT_EQ(alphabet[b], std::string(1, static_cast<char>(b)));
  // GPT-2's well-known spellings: space is "Ġ" (U+0120), newline "Ċ" (U+010A),
  // tab "ĉ" (U+0109), 0xAD (soft hyphen, not printable) "Ń" (U+0143).
  EXPECT_EQ(alphabet[' '], "\xC4\xA0");
  EXPECT_EQ(alphabet['\n'], "\xC4\x8A");
  EXPECT_EQ(alphabet['\t'], "\xC4\x89");
  EXPECT_EQ(alphabet[0xAD], "\xC5\x83");
  EXPECT_EQ(alphabet[0xE9], "\xC3\xA9");  // printable Latin-1 stays itself: é
}

TEST(ByteLevel, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::string spelled = to_byte_level(all);
  const auto back = from_byte_level(spelled);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, all);
  for (int b = 0; b < 256; ++b) {
    const std::string& c = byte_level_alphabet()[b];
    const auto one = from_byte_level(c);
    ASSERT_TRUE(one.has_value());
    EXPECT_EQ(static_cast<uint8_t>((*one)[0]), b);
  }
}

TEST(ByteLevel, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(from_byte_level("\xE4\xB8\x96").has_value());  // 世
  EXPECT_FALSE(from_byte_level(" ").has_value());             // a raw space is not in it
  EXPECT_FALSE(from_byte_level("\xC4").has_value());          // cut UTF-8
  EXPECT_EQ(byte_level_byte(U'\u0120'), ' ');
  EXPECT_EQ(byte_level_byte(U'\u4E16'), -1);
}

}  // namespace
}  // namespace tessera::tokenizer
