#include "tessera/tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

#include "../../src/tokenizer/regex.h"
#include "tessera/core/error.h"

namespace tessera::tokenizer {
namespace {

using Pieces = std::vector<std::string>;

PreTokenizerStep split(std::string pattern, SplitBehavior b, bool invert = false) {
  PreTokenizerStep s;
  s.pattern = std::move(pattern);
  s.behavior = b;
  s.invert = invert;
  return s;
}

PreTokenizerStep byte_level(bool prefix_space = false) {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::kByteLevel;
  s.add_prefix_space = prefix_space;
  return s;
}

// The example of HF tokenizers' SplitDelimiterBehavior documentation.
TEST(PreTokenizer, SplitBehaviorsOnTheDocumentedExample) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(PreTokenizer({split("-", SplitBehavior::kRemoved)}).split(text),
            (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(PreTokenizer({split("-", SplitBehavior::kIsolated)}).split(text),
            (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(PreTokenizer({split("-", SplitBehavior::kMergedWithPrevious)}).split(text),
            (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(PreTokenizer({split("-", SplitBehavior::kMergedWithNext)}).split(text),
            (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(PreTokenizer({split("-", SplitBehavior::kContiguous)}).split(text),
            (Pieces{"the", "-", "final", "--", "countdown"}));
}

TEST(PreTokenizer, InvertKeepsTheMatchesAsWords) {
  EXPECT_EQ(PreTokenizer({split(R"(\w+)", SplitBehavior::kRemoved, true)}).split("ab, cd!"),
            (Pieces{"ab", "cd"}));
}

TEST(PreTokenizer, Gpt2Split) {
  PreTokenizer p({byte_level()});
  EXPECT_EQ(p.split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(p.split("I'm  here!!"), (Pieces{"I", "'m", " ", " here", "!!"}));
  // \s+(?!\S) backs off one newline so the last one stays before "b".
  EXPECT_EQ(p.split("a\n\nb  "), (Pieces{"a", "\n", "\n", "b", "  "}));
  EXPECT_EQ(p.split("x 123"), (Pieces{"x", " 123"}));
}

TEST(PreTokenizer, DigitsBeforeByteLevelSplitEveryDigit) {
  PreTokenizer p({split(R"(\p{N})", SplitBehavior::kIsolated), byte_level()});
  EXPECT_EQ(p.split("in 2024!"), (Pieces{"in", " ", "2", "0", "2", "4", "!"}));
}

TEST(PreTokenizer, PrefixSpaceAppliesToEachPiece) {
  PreTokenizer p({byte_level(true)});
  EXPECT_EQ(p.split("hi there"), (Pieces{" hi", " there"}));
  EXPECT_EQ(p.split(" hi"), (Pieces{" hi"}));
}

TEST(PreTokenizer, LookaheadStopsAtThePieceEnd) {
  // After the digit split, "  " is its own piece, so \s+(?!\S) takes both spaces.
  PreTokenizer p({split(R"(\p{N})", SplitBehavior::kIsolated), byte_level()});
  EXPECT_EQ(p.split("a  1"), (Pieces{"a", "  ", "1"}));
  PreTokenizer plain({byte_level()});
  EXPECT_EQ(plain.split("a  b"), (Pieces{"a", " ", " b"}));
}

TEST(PreTokenizer, WhitespaceIsUnicodeWhiteSpace) {
  EXPECT_EQ(with_explicit_whitespace("a"), "a");
  EXPECT_NE(with_explicit_whitespace(R"(\s)").find("\\x{3000}"), std::string::npos);
  EXPECT_EQ(with_explicit_whitespace(R"(\\s)"), R"(\\s)");  // an escaped backslash, then 's'
  PreTokenizer p({byte_level()});
  // U+180E (Mongolian vowel separator) is not whitespace since Unicode 6.3.
  EXPECT_EQ(p.split("a \xE1\xA0\x8E"), (Pieces{"a", " \xE1\xA0\x8E"}));
  // U+3000 (ideographic space) is.
  EXPECT_EQ(p.split("a\xE3\x80\x80\xE3\x80\x80"), (Pieces{"a", "\xE3\x80\x80\xE3\x80\x80"}));
}

TEST(PreTokenizer, BadPatternIsABadFileError) {
  try {
    PreTokenizer p({split("(unclosed", SplitBehavior::kIsolated)});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
  }
}

}  // namespace
}  // namespace tessera::tokenizer
