#include "../../src/engine/stop_strings.h"

#include <gtest/gtest.h>

#include <random>

namespace tessera {

// Feeds `text` in pieces and returns (emitted text, matched stop).
static std::pair<std::string, std::optional<std::string>> feed(
    const std::vector<std::string>& stops, const std::vector<std::string>& pieces) {
  StopStringMatcher m(stops);
  std::string out;
  for (const auto& p : pieces) {
    out += m.push(p);
    if (m.matched()) return {out, m.matched()};
  }
  out += m.flush();
  return {out, m.matched()};
}

TEST(StopStrings, NeverEmitsAStopStringSplitAcrossTokens) {
  auto [out, stop] = feed({"</end>"}, {"hello <", "/e", "nd> more"});
  EXPECT_EQ(out, "hello ");
  EXPECT_EQ(stop, "</end>");
}

TEST(StopStrings, ReleasesHeldTextWhenItCannotMatch) {
  StopStringMatcher m({"STOP"});
  EXPECT_EQ(m.push("abc ST"), "abc ");
  EXPECT_EQ(m.push("ORE"), "STORE");
  EXPECT_FALSE(m.matched());
}

TEST(StopStrings, EarliestMatchWins) {
  auto [out, stop] = feed({"cd", "b"}, {"abcd"});
  EXPECT_EQ(out, "a");
  EXPECT_EQ(stop, "b");
}

TEST(StopStrings, FlushReturnsHeldTextWhenFinishedOtherwise) {
  auto [out, stop] = feed({"xyz"}, {"abc x", "y"});
  EXPECT_EQ(out, "abc xy");
  EXPECT_FALSE(stop);
}

// Any split of the text gives the same result as the text in one piece,
// and equals the reference (cut before the first occurrence).
TEST(StopStrings, RandomSplitsAgreeWithReference) {
  std::mt19937 rng(7);
  const std::vector<std::string> stops = {"ab", "bba", "\n\n"};
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    for (int i = 0; i < 12; ++i) text += "ab\nx"[rng() % 4];
    size_t cut = std::string::npos;
    std::optional<std::string> expected_stop;
    for (const auto& s : stops) {
      const size_t p = text.find(s);
      if (p < cut) cut = p, expected_stop = s;
    }
    std::vector<std::string> pieces;
    for (size_t i = 0; i < text.size();) {
      const size_t n = 1 + rng() % 3;
      pieces.push_back(text.substr(i, n));
      i += n;
    }
    auto [out, stop] = feed(stops, pieces);
    EXPECT_EQ(out, text.substr(0, cut)) << text;
    EXPECT_EQ(stop, expected_stop) << text;
  }
}

}  // namespace tessera
