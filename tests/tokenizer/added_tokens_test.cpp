#include "tessera/tokenizer/added_tokens.h"

#include <gtest/gtest.h>

namespace tessera::tokenizer {
namespace {

AddedToken token(int32_t id, std::string content, bool special = true) {
  AddedToken t;
  t.id = id;
  t.content = std::move(content);
  t.special = special;
  return t;
}

// "text|<id>|text" rendering of a split, for readable expectations.
std::string render(const AddedTokenMatcher& m, std::string_view text, bool parse_special) {
  std::vector<TextChunk> chunks;
  m.split(text, parse_special, chunks);
  std::string out;
  for (const TextChunk& c : chunks) {
    if (!out.empty()) out += '|';
    if (c.id >= 0)
      out.append("<").append(std::to_string(c.id)).append(">");
    else
      out.append(text.substr(c.begin, c.end - c.begin));
  }
  return out;
}

TEST(AddedTokens, LongestMatchWins) {
  AddedTokenMatcher m({token(1, "<|im_start|>"), token(2, "<|im"), token(3, "<|im_start|>x")});
  EXPECT_EQ(render(m, "a<|im_start|>b", true), "a|<1>|b");
  EXPECT_EQ(render(m, "a<|im_start|>xb", true), "a|<3>|b");
  EXPECT_EQ(render(m, "<|imx", true), "<2>|x");
}

TEST(AddedTokens, SpecialOnlyWhenParsing) {
  AddedTokenMatcher m({token(1, "<|im_start|>"), token(9, "[USER]", false)});
  EXPECT_EQ(render(m, "x<|im_start|>[USER]y", false), "x<|im_start|>|<9>|y");
  EXPECT_EQ(render(m, "x<|im_start|>[USER]y", true), "x|<1>|<9>|y");
}

TEST(AddedTokens, AdjacentAndRepeated) {
  AddedTokenMatcher m({token(0, "<e>")});
  EXPECT_EQ(render(m, "<e><e>", true), "<0>|<0>");
  EXPECT_EQ(render(m, "<e<e>>", true), "<e|<0>|>");
  EXPECT_EQ(render(m, "", true), "");
}

TEST(AddedTokens, StripFlagsSwallowWhitespace) {
  AddedToken mask = token(5, "<mask>");
  mask.lstrip = true;
  mask.rstrip = true;
  AddedTokenMatcher m({mask});
  EXPECT_EQ(render(m, "a  <mask>\t b", true), "a|<5>|b");
  AddedToken left = token(6, "<l>");
  left.lstrip = true;
  AddedTokenMatcher ml({left});
  EXPECT_EQ(render(ml, "a \xE3\x80\x80<l> b", true), "a|<6>| b");  // U+3000 is whitespace too
}

TEST(AddedTokens, SingleWordNeedsWordBoundaries) {
  AddedToken w = token(7, "cat", false);
  w.single_word = true;
  AddedTokenMatcher m({w});
  EXPECT_EQ(render(m, "a cat sat", true), "a |<7>| sat");
  EXPECT_EQ(render(m, "concatenate", true), "concatenate");
}

}  // namespace
}  // namespace tessera::tokenizer
