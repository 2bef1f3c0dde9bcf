#include "sample_edits.h"

#include <algorithm>
#include <limits>

namespace tessera {

SampleEditBuilder::SampleEditBuilder(int vocab_size, std::vector<int32_t> eos_token_ids)
    : vocab_(vocab_size),
      eos_(std::move(eos_token_ids)),
      stamp_(size_t(vocab_size), 0u),
      where_(size_t(vocab_size), 0) {}

cuda::SampleEdit& SampleEditBuilder::entry(int32_t token, std::vector<cuda::SampleEdit>& out,
                                           size_t first) {
  if (stamp_[size_t(token)] != generation_) {
    stamp_[size_t(token)] = generation_;
    where_[size_t(token)] = int32_t(out.size() - first);
    out.push_back(cuda::SampleEdit{token, 0.0f, 0, 0u});
  }
  return out[first + size_t(where_[size_t(token)])];
}

int SampleEditBuilder::append(const SamplingParams& params, const SequenceTokens& seq,
                              std::vector<cuda::SampleEdit>& out) {
  const bool banned = seq.num_output() < params.min_tokens;
  const bool repetition = params.repetition_penalty != 1.0f;
  const bool counted = params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f;
  if (params.logit_bias.empty() && !banned && !repetition && !counted) return 0;
  if (++generation_ == 0) {  // wrapped: old marks would look current
    std::fill(stamp_.begin(), stamp_.end(), 0u);
    generation_ = 1;
  }
  const size_t first = out.size();
  const auto in_vocab = [&](int32_t t) { return t >= 0 && t < vocab_; };
  for (const auto& [token, bias] : params.logit_bias)
    if (in_vocab(token)) entry(token, out, first).bias = bias;
  if (banned) {
    for (int32_t t : params.stop_token_ids)
      if (in_vocab(t)) entry(t, out, first).flags |= cuda::SampleEdit::kBanned;
    if (!params.ignore_eos)
      for (int32_t t : eos_)
        if (in_vocab(t)) entry(t, out, first).flags |= cuda::SampleEdit::kBanned;
  }
  if (repetition)
    for (auto part : {seq.prompt, seq.output})
      for (int32_t t : part)
        if (in_vocab(t)) entry(t, out, first).flags |= cuda::SampleEdit::kRepeated;
  if (counted)
    for (int32_t t : seq.output)
      if (in_vocab(t)) ++entry(t, out, first).count;
  std::sort(out.begin() + ptrdiff_t(first), out.end(),
            [](const cuda::SampleEdit& a, const cuda::SampleEdit& b) { return a.token < b.token; });
  return int(out.size() - first);
}

float apply_sample_edit(float v, const cuda::SampleEdit& e, const SamplingParams& params) {
  v += e.bias;
  if (e.flags & cuda::SampleEdit::kBanned) v = -std::numeric_limits<float>::infinity();
  if (e.flags & cuda::SampleEdit::kRepeated) {
    const float r = params.repetition_penalty;
    v = v > 0.0f ? v / r : v * r;
  }
  if (e.count > 0) v -= float(e.count) * params.frequency_penalty + params.presence_penalty;
  return v;
}

}  // namespace tessera
