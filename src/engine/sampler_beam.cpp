// Candidate selection and scoring for beam search; the scheduler keeps the beams.
#include <algorithm>
#include <cmath>

#include "tessera/core/error.h"
#include "tessera/engine/sampler.h"

namespace tessera {

std::vector<BeamCandidate> top_beam_candidates(std::span<const float> logprob_rows, int vocab,
                                               std::span<const double> beam_cum_logprobs,
                                               int beam_width) {
  const int beams = static_cast<int>(beam_cum_logprobs.size());
  if (vocab <= 0 || beam_width < 1 ||
      static_cast<int64_t>(logprob_rows.size()) != static_cast<int64_t>(beams) * vocab)
    fail(ErrorKind::kInternal, "top_beam_candidates: {} logprobs for {} beams x {}, width {}",
         logprob_rows.size(), beams, vocab, beam_width);
  const int want = 2 * beam_width;
  // A global top-`want` entry is within the top-`want` of its own beam.
  std::vector<BeamCandidate> all;
  all.reserve(static_cast<size_t>(beams) * std::min(want, vocab));
  std::vector<int32_t> ids;
  for (int b = 0; b < beams; ++b) {
    const std::span<const float> row = logprob_rows.subspan(static_cast<size_t>(b) * vocab, vocab);
    select_top_k(row, want, ids);
    for (int32_t t : ids) all.push_back({b, t, beam_cum_logprobs[b] + row[t]});
  }
  const auto better = [](const BeamCandidate& a, const BeamCandidate& x) {
    if (a.cum_logprob != x.cum_logprob) return a.cum_logprob > x.cum_logprob;
    if (a.beam != x.beam) return a.beam < x.beam;
    return a.token < x.token;
  };
  const size_t keep = std::min(all.size(), static_cast<size_t>(want));
  std::partial_sort(all.begin(), all.begin() + keep, all.end(), better);
  all.resize(keep);
  return all;
}

double beam_score(double cum_logprob, int length, double length_penalty) {
  return cum_logprob / std::pow(static_cast<double>(std::max(length, 1)), length_penalty);
}

}  // namespace tessera
