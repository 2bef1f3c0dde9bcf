#include "tessera/tokenizer/detokenizer.h"

#include <gtest/gtest.h>

#include "../../src/tokenizer/utf8.h"
#include "tessera/core/error.h"
#include "toy_tokenizers.h"

namespace tessera::tokenizer {
namespace {

using testing::byte_level_spec;
using testing::byte_token;
using testing::sentencepiece_spec;

// Pushes ids one by one; every chunk must be whole UTF-8.
std::vector<std::string> stream(IncrementalDetokenizer& d, const std::vector<int32_t>& ids) {
  std::vector<std::string> chunks;
  for (int32_t id : ids) {
    chunks.push_back(d.push(id));
    EXPECT_TRUE(utf8::is_valid(chunks.back())) << "after id " << id;
  }
  chunks.push_back(d.flush());
  return chunks;
}

std::string join(const std::vector<std::string>& chunks) {
  std::string out;
  for (const auto& c : chunks) out += c;
  return out;
}

TEST(IncrementalDetokenizer, ByteTokensWaitForWholeCharacters) {
  Tokenizer tok(byte_level_spec());
  const std::string text =
      "h\xC3\xA9llo \xF0\x9F\x98\x80 \xE4\xB8\x96\xE7\x95\x8C";  // héllo 😀 世界
  const auto ids = tok.encode(text);
  ASSERT_EQ(ids.size(), text.size());  // no merges: one token per byte
  IncrementalDetokenizer d(tok);
  const auto chunks = stream(d, ids);
  EXPECT_EQ(join(chunks), text);
  // 😀 is bytes 7..10: nothing comes out until its fourth byte.
  EXPECT_EQ(chunks[7], "");
  EXPECT_EQ(chunks[8], "");
  EXPECT_EQ(chunks[9], "");
  EXPECT_EQ(chunks[10], "\xF0\x9F\x98\x80");
}

TEST(IncrementalDetokenizer, TokensThatCutACharacterInTwo) {
  // "世" = E4 B8 96: one token holds "a" + E4 B8, the next 96 + "b".
  Tokenizer tok(byte_level_spec({{"a", "\xE4"}, {"a\xE4", "\xB8"}, {"\x96", "b"}}));
  const std::string text =
      "a\xE4\xB8\x96"
      "b";
  const auto ids = tok.encode(text);
  ASSERT_EQ(ids.size(), 2u);
  IncrementalDetokenizer d(tok);
  EXPECT_EQ(d.push(ids[0]), "a");
  EXPECT_EQ(d.pending_bytes(), 2u);
  EXPECT_EQ(d.push(ids[1]),
            "\xE4\xB8\x96"
            "b");
  EXPECT_EQ(d.flush(), "");
}

TEST(IncrementalDetokenizer, ZwjSequencesAndFlags) {
  Tokenizer tok(byte_level_spec());
  // 👨‍👩‍👧 and 🇯🇵: many code points; each comes out when complete.
  const std::string text =
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "
      "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5";
  IncrementalDetokenizer d(tok);
  const auto chunks = stream(d, tok.encode(text));
  EXPECT_EQ(join(chunks), text);
  size_t non_empty = 0;
  for (const auto& c : chunks) non_empty += !c.empty();
  EXPECT_EQ(non_empty, 8u);  // 5 + space + 2 regional indicators
}

TEST(IncrementalDetokenizer, ByteFallbackTokens) {
  Tokenizer tok(
      sentencepiece_spec({{"\xE2\x96\x81", -1}, {"h", -2}, {"i", -2}, {"\xE2\x96\x81h", -0.5f}}));
  // "▁h" first: the leading prefix space goes, like decode().
  const int32_t first = *tok.find_token("\xE2\x96\x81h");
  IncrementalDetokenizer d(tok);
  EXPECT_EQ(d.push(tok.bos_id()), "<s>");
  EXPECT_EQ(d.push(first), " h");  // BOS text came first, so the space is kept (as HF does)
  IncrementalDetokenizer skip(tok, /*skip_special_tokens=*/true);
  EXPECT_EQ(skip.push(tok.bos_id()), "");
  EXPECT_EQ(skip.push(first), "h");
  EXPECT_EQ(skip.push(byte_token(0xE4)), "");
  EXPECT_EQ(skip.push(byte_token(0xB8)), "");
  EXPECT_EQ(skip.push(byte_token(0x96)), "\xE4\xB8\x96");
  EXPECT_EQ(tok.decode(std::vector<int32_t>{tok.bos_id(), first}, true), "h");
}

TEST(IncrementalDetokenizer, BrokenBytesBecomeReplacementCharacters) {
  Tokenizer tok(byte_level_spec());
  IncrementalDetokenizer d(tok);
  EXPECT_EQ(d.push(0xFF), "\xEF\xBF\xBD");  // can never start a character
  EXPECT_EQ(d.push(0xE4), "");              // might still complete
  EXPECT_EQ(d.push('a'),
            "\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(d.push(0xF0), "");
  EXPECT_EQ(d.push(0x9F), "");
  EXPECT_EQ(d.flush(), "\xEF\xBF\xBD");  // cut off at the end
  EXPECT_EQ(d.pending_bytes(), 0u);
}

TEST(IncrementalDetokenizer, SkipsSpecialTokensWhenAsked) {
  Tokenizer tok(byte_level_spec());
  const int32_t end = *tok.find_token("<|end|>");
  IncrementalDetokenizer keep(tok), skip(tok, true);
  EXPECT_EQ(keep.push('a') + keep.push(end), "a<|end|>");
  EXPECT_EQ(skip.push('a') + skip.push(end), "a");
}

TEST(IncrementalDetokenizer, OutOfRangeIdIsAnError) {
  Tokenizer tok(byte_level_spec());
  IncrementalDetokenizer d(tok);
  EXPECT_THROW(d.push(-1), Error);
  EXPECT_THROW(d.push(static_cast<int32_t>(tok.vocab_size())), Error);
}

TEST(Utf8, CompletePrefix) {
  EXPECT_EQ(utf8::complete_prefix(""), 0u);
  EXPECT_EQ(utf8::complete_prefix("ab"), 2u);
  EXPECT_EQ(utf8::complete_prefix("a\xE4\xB8"), 1u);
  EXPECT_EQ(utf8::complete_prefix("a\xF0\x9F\x98"), 1u);
  EXPECT_EQ(utf8::complete_prefix("a\xF0\x9F\x98\x80"), 5u);
  EXPECT_EQ(utf8::complete_prefix("a\xFF"), 2u);      // hopeless: counts as done
  EXPECT_EQ(utf8::complete_prefix("a\xE0\x80"), 3u);  // overlong start: hopeless
  EXPECT_EQ(utf8::complete_prefix("\xED\xA0"), 2u);   // surrogate: hopeless
}

TEST(Utf8, MakeValid) {
  EXPECT_EQ(utf8::make_valid("ok"), "ok");
  EXPECT_EQ(utf8::make_valid("a\xFF"
                             "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(utf8::make_valid("\xE4\xB8"), "\xEF\xBF\xBD");  // one U+FFFD per broken sequence
  EXPECT_FALSE(utf8::is_valid("\xC0\xAF"));                 // overlong "/"
  EXPECT_TRUE(utf8::is_valid("\xF4\x8F\xBF\xBF"));          // U+10FFFF
  EXPECT_FALSE(utf8::is_valid("\xF4\x90\x80\x80"));         // past U+10FFFF
}

}  // namespace
}  // namespace tessera::tokenizer
