// Each step maps the current list of pieces to a finer one, the way HF
// tokenizers' PreTokenizedString::split does: a regex runs on one piece at a
// time (lookaheads stop at the piece's end) and the behaviour decides what
// happens to the text it matched.
#include "tessera/tokenizer/pre_tokenizer.h"

#include <optional>

#include "regex.h"
#include "tessera/core/error.h"

namespace tessera::tokenizer {

const char* const kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

struct Segment {
  size_t begin, end;
  bool is_match;
};

struct CompiledStep {
  PreTokenizerStep step;
  std::unique_ptr<Regex> regex;  // null for a ByteLevel step without use_regex
};

// Splits one piece into match / gap segments (HF find_matches).
void find_segments(const Regex& regex, std::string_view text, size_t base, bool invert,
                   std::vector<Segment>& segments) {
  segments.clear();
  size_t pos = 0, prev = 0;
  while (pos <= text.size()) {
    size_t b = 0, e = 0;
    if (!regex.find(text, pos, b, e)) break;
    if (e == b) {  // an empty match splits nothing; step over one character
      pos = b + 1;
      while (pos < text.size() && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
      continue;
    }
    if (b > prev) segments.push_back({base + prev, base + b, invert});
    segments.push_back({base + b, base + e, !invert});
    prev = pos = e;
  }
  if (prev < text.size()) segments.push_back({base + prev, base + text.size(), invert});
}

// Applies a delimiter behaviour to the segments of one piece.
void apply_behavior(SplitBehavior behavior, const std::vector<Segment>& segments,
                    std::vector<TextSpan>& out) {
  const size_t first = out.size();
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments) out.push_back({s.begin, s.end});
      break;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments)
        if (!s.is_match) out.push_back({s.begin, s.end});
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && out.size() > first)
          out.back().end = s.end;
        else
          out.push_back({s.begin, s.end});
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext: {
      // Walk backwards: a match joins the piece after it.
      std::vector<TextSpan> reversed;
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !reversed.empty())
          reversed.back().begin = it->begin;
        else
          reversed.push_back({it->begin, it->end});
        previous_match = it->is_match;
      }
      out.insert(out.end(), reversed.rbegin(), reversed.rend());
      break;
    }
    case SplitBehavior::kContiguous:
      for (const Segment& s : segments) {
        if (s.is_match == previous_match && out.size() > first)
          out.back().end = s.end;
        else
          out.push_back({s.begin, s.end});
        previous_match = s.is_match;
      }
      break;
  }
}

}  // namespace

struct PreTokenizer::Impl {
  std::vector<CompiledStep> steps;
};

PreTokenizer::PreTokenizer(const std::vector<PreTokenizerStep>& steps)
    : impl_(std::make_unique<Impl>()) {
  for (const PreTokenizerStep& step : steps) {
    CompiledStep compiled{step, nullptr};
    if (step.kind == PreTokenizerStep::Kind::kSplit)
      compiled.regex = std::make_unique<Regex>(step.pattern);
    else if (step.use_regex)
      compiled.regex = std::make_unique<Regex>(kGpt2Pattern);
    impl_->steps.push_back(std::move(compiled));
  }
}

PreTokenizer::~PreTokenizer() = default;
PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;

void PreTokenizer::split(std::string& buffer, size_t begin, size_t end,
                         std::vector<TextSpan>& out) const {
  thread_local std::vector<TextSpan> current, next;
  thread_local std::vector<Segment> segments;
  current.clear();
  if (end > begin) current.push_back({begin, end});
  for (const CompiledStep& cs : impl_->steps) {
    next.clear();
    for (TextSpan piece : current) {
      if (cs.step.kind == PreTokenizerStep::Kind::kByteLevel && cs.step.add_prefix_space &&
          buffer[piece.begin] != ' ') {
        const size_t at = buffer.size();
        buffer.push_back(' ');
        buffer.append(buffer, piece.begin, piece.end - piece.begin);
        piece = {at, buffer.size()};
      }
      if (!cs.regex) {
        next.push_back(piece);
        continue;
      }
      const std::string_view text(buffer.data() + piece.begin, piece.end - piece.begin);
      const bool invert = cs.step.kind == PreTokenizerStep::Kind::kSplit && cs.step.invert;
      find_segments(*cs.regex, text, piece.begin, invert, segments);
      const SplitBehavior behavior = cs.step.kind == PreTokenizerStep::Kind::kSplit
                                         ? cs.step.behavior
                                         : SplitBehavior::kIsolated;
      apply_behavior(behavior, segments, next);
    }
    std::swap(current, next);
  }
  out.insert(out.end(), current.begin(), current.end());
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::string buffer(text);
  std::vector<TextSpan> spans;
  split(buffer, 0, buffer.size(), spans);
  std::vector<std::string> pieces;
  for (const TextSpan& s : spans) pieces.emplace_back(buffer.substr(s.begin, s.end - s.begin));
  return pieces;
}

}  // namespace tessera::tokenizer
