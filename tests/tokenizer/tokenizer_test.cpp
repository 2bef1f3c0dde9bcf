#include "tessera/tokenizer/tokenizer.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "tessera/core/error.h"
#include "toy_tokenizers.h"

namespace tessera::tokenizer {
namespace {

using testing::byte_level_spec;
using testing::byte_token;
using testing::sentencepiece_spec;
using Ids = std::vector<int32_t>;

TEST(Tokenizer, ByteLevelMergesWithinWords) {
  // Merge ids follow the 256 bytes: "ab"=256, " ab"=257, "<|end|>"=258.
  Tokenizer tok(byte_level_spec({{"a", "b"}, {" ", "ab"}}));
  EXPECT_EQ(tok.vocab_size(), 259u);
  EXPECT_EQ(tok.encode("ab ab"), (Ids{256, 257}));
  EXPECT_EQ(tok.encode("abab"), (Ids{256, 256}));
  EXPECT_EQ(tok.encode("a b"), (Ids{'a', ' ', 'b'}));
  EXPECT_EQ(tok.decode(Ids{256, 257}), "ab ab");
  EXPECT_EQ(tok.token_text(257),
            "\xC4\xA0"
            "ab");  // "Ġab"
  EXPECT_EQ(tok.token_bytes(257), " ab");
  EXPECT_EQ(tok.find_token("\xC4\xA0"
                           "ab"),
            257);
  EXPECT_FALSE(tok.find_token("zzz").has_value());
}

TEST(Tokenizer, SpecialTokensOnlyWhenParsed) {
  Tokenizer tok(byte_level_spec());
  const int32_t end = *tok.find_token("<|end|>");
  EXPECT_TRUE(tok.is_special(end));
  EXPECT_FALSE(tok.is_special('a'));
  EXPECT_EQ(tok.encode("a<|end|>", true, true), (Ids{'a', end}));
  const Ids plain = tok.encode("a<|end|>", true, false);
  EXPECT_EQ(plain.size(), 8u);  // every byte on its own (no merges)
  EXPECT_EQ(tok.decode(plain), "a<|end|>");
  EXPECT_EQ(tok.decode(Ids{'a', end}, /*skip_special_tokens=*/true), "a");
}

TEST(Tokenizer, BosAndEosFollowTheSpec) {
  TokenizerSpec spec = byte_level_spec();
  spec.bos_id = spec.eos_id;  // reuse <|end|> as both
  spec.add_bos = true;
  spec.add_eos = true;
  Tokenizer tok(spec);
  const int32_t end = tok.eos_id();
  EXPECT_EQ(tok.encode("a"), (Ids{end, 'a', end}));
  EXPECT_EQ(tok.encode("a", /*add_special_tokens=*/false), (Ids{'a'}));
  EXPECT_EQ(tok.encode(""), (Ids{end, end}));
}

TEST(Tokenizer, InvalidUtf8ReadsAsReplacementCharacter) {
  Tokenizer tok(byte_level_spec());
  EXPECT_EQ(tok.encode("a\xFF"
                       "b"),
            tok.encode("a\xEF\xBF\xBD"
                       "b"));
  EXPECT_EQ(tok.decode(Ids{'a', 0xE4}), "a\xEF\xBF\xBD");  // cut character in decode
}

TEST(Tokenizer, OutOfRangeIdsAreErrors) {
  Tokenizer tok(byte_level_spec());
  try {
    tok.decode(Ids{1, 100000});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
  EXPECT_THROW(tok.token_text(-1), Error);
  EXPECT_FALSE(tok.is_special(-1));
}

TEST(Tokenizer, SentencePieceMergesByScore) {
  const std::string sp = "\xE2\x96\x81";  // ▁
  Tokenizer tok(sentencepiece_spec(
      {{sp, -1}, {"h", -2}, {"i", -2}, {sp + "h", -0.5f}, {sp + "hi", -0.1f}, {"hi", -3}}));
  const int32_t hi = *tok.find_token(sp + "hi");
  // "▁" "h" "i": "▁h" scores above "hi", then "▁h"+"i" = "▁hi".
  EXPECT_EQ(tok.encode("hi"), (Ids{tok.bos_id(), hi}));
  EXPECT_EQ(tok.encode("hi hi", false), (Ids{hi, hi}));
  // Unknown characters fall back to their bytes.
  EXPECT_EQ(tok.encode("hi\xC3\xA9", false), (Ids{hi, byte_token(0xC3), byte_token(0xA9)}));
  // HF strips one leading space of the whole text: after "<s>" it stays.
  EXPECT_EQ(tok.decode(tok.encode("hi hi\xC3\xA9")), "<s> hi hi\xC3\xA9");
  EXPECT_EQ(tok.decode(tok.encode("hi hi\xC3\xA9"), true), "hi hi\xC3\xA9");
  // A special token restarts the prefix space, as SentencePiece pieces do.
  EXPECT_EQ(tok.encode("hi</s>hi", false, true), (Ids{hi, tok.eos_id(), hi}));
}

TEST(Tokenizer, FromHfJson) {
  const std::string tokenizer_json = R"({
    "added_tokens": [{"id": 5, "content": "<s>", "special": true, "lstrip": false,
                      "rstrip": false, "normalized": false, "single_word": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                      "use_regex": true},
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120ab": 4},
              "merges": [["a", "b"], "\u0120 ab"]}
  })";
  const std::string config = R"({"bos_token": {"content": "<s>"}, "eos_token": "<s>",
    "chat_template": [{"name": "tool_use", "template": "U"}, {"name": "default", "template": "T"}]})";
  Tokenizer tok(spec_from_hf_json(tokenizer_json, config));
  EXPECT_EQ(tok.bos_id(), 5);
  EXPECT_EQ(tok.eos_id(), 5);
  EXPECT_EQ(tok.spec().bos_token, "<s>");
  EXPECT_EQ(tok.chat_template(), "T");
  EXPECT_EQ(tok.encode("ab ab"), (Ids{5, 3, 4}));
  EXPECT_EQ(tok.encode("ab<s>", false, true), (Ids{3, 5}));
  EXPECT_TRUE(tok.is_special(5));
}

TEST(Tokenizer, HfJsonErrorsAreBadFile) {
  for (const char* bad : {"{", R"({"model": {"type": "WordPiece", "vocab": {}}})",
                          R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})"}) {
    try {
      spec_from_hf_json(bad, "");
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_TRUE(e.kind() == ErrorKind::kBadFile || e.kind() == ErrorKind::kUnsupported) << bad;
    }
  }
}

TEST(Tokenizer, ConcurrentEncodesAgree) {
  const Tokenizer tok(byte_level_spec({{"a", "b"}, {" ", "ab"}, {"ab", "ab"}}));
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i)
    texts.push_back(std::string(i % 7, 'a') + " ab" + std::to_string(i));
  std::vector<Ids> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int round = 0; round < 20; ++round)
        for (size_t i = 0; i < texts.size(); ++i)
          if (tok.encode(texts[i]) != expected[i]) ++mismatches;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, GgufPreNames) {
  for (const std::string& name : known_gguf_pre_names())
    EXPECT_FALSE(pre_tokenizer_for_gguf_pre(name).empty()) << name;
  EXPECT_THROW(pre_tokenizer_for_gguf_pre("no-such"), Error);
}

}  // namespace
}  // namespace tessera::tokenizer
