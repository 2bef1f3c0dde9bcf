// A model from an HF folder against transformers' logits on the same
// weights: scripts/make_gpu_reference.py writes the folder (a random-init
// Llama with GQA and llama3 rope scaling) and every position's float32
// logits of a few token sequences. Runs only when TESSERA_HF_REFERENCE
// names that folder (scripts/gpu-check.sh makes it on the GPU machine);
// TESSERA_TEST_DEVICE picks the backend (cpu, the default, or cuda) and
// TESSERA_TEST_DTYPE the CUDA backend's type (bfloat16, the default, or
// float16: the same bounds hold; transformers' own half-precision noise is
// printed beside).
//
// The same logits are produced under several schedules through the
// ModelRunner, the way the engine batches work: whole prompts one at a
// time, all prompts in one varlen step, chunked prefill of all prompts
// together, decodes mixed with prefill chunks in one step, and a batch of
// decodes at different context lengths. Each must match: relative L2 error
// ≤ 2e-2 and top-1 agreement ≥ 99%, where a row whose reference top-2 gap
// is within 3 sqrt(2) times the row's own RMS error counts as a tie (either
// answer is within the measured noise; the raw agreement is printed too).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "tessera/backend/backend.h"
#include "tessera/engine/engine.h"
#include "tessera/engine/model_runner.h"
#include "tessera/model/model.h"
#include "tessera/model/weight_source.h"

namespace tessera {
namespace {

struct Reference {
  std::string folder;
  int64_t vocab = 0;
  std::vector<std::vector<int32_t>> seqs;
  std::vector<size_t> first_row;  // of each sequence in `logits`
  std::vector<float> logits;      // [sum of lengths, vocab]
  nlohmann::json meta;
  const float* row(size_t seq, int pos) const {
    return logits.data() + (first_row[seq] + size_t(pos)) * size_t(vocab);
  }
};

// Accumulates the comparison of one schedule.
struct Score {
  double err2 = 0, ref2 = 0, worst_row = 0;
  int64_t rows = 0, top1 = 0, ties = 0, top1_decided = 0;
  // By position: 0, 1-15, 16-127, 128-699, 700+ (where an error comes from).
  static constexpr int kBuckets = 5;
  double bucket_err2[kBuckets] = {}, bucket_ref2[kBuckets] = {};

  static int bucket(int pos) {
    return pos == 0 ? 0 : pos < 16 ? 1 : pos < 128 ? 2 : pos < 700 ? 3 : 4;
  }

  void add(const float* got, const float* want, int64_t vocab, int pos) {
    double e = 0, r = 0;
    int64_t a = 0, b = 0;
    float best = -INFINITY, second = -INFINITY;
    for (int64_t i = 0; i < vocab; ++i) {
      const double d = double(got[i]) - want[i];
      e += d * d;
      r += double(want[i]) * want[i];
      if (got[i] > got[a]) a = i;
      if (want[i] > best) {
        second = best;
        best = want[i];
        b = i;
      } else if (want[i] > second) {
        second = want[i];
      }
    }
    err2 += e;
    ref2 += r;
    bucket_err2[bucket(pos)] += e;
    bucket_ref2[bucket(pos)] += r;
    worst_row = std::max(worst_row, std::sqrt(e / r));
    ++rows;
    top1 += a == b;
    const double rms_err = std::sqrt(e / double(vocab));
    if (double(best) - second <= 3.0 * std::sqrt(2.0) * rms_err) {
      ++ties;
    } else {
      top1_decided += a == b;
    }
  }
  double rel_l2() const { return std::sqrt(err2 / ref2); }
  double decided_agreement() const {
    return rows == ties ? 1.0 : double(top1_decided) / double(rows - ties);
  }
};

const Reference* reference() {
  static const std::unique_ptr<Reference> ref = []() -> std::unique_ptr<Reference> {
    const char* dir = std::getenv("TESSERA_HF_REFERENCE");
    if (!dir || !*dir) return nullptr;
    auto r = std::make_unique<Reference>();
    r->folder = dir;
    std::ifstream meta(r->folder + "/reference.json");
    if (!meta) return nullptr;
    r->meta = nlohmann::json::parse(meta);
    r->vocab = r->meta["vocab_size"].get<int64_t>();
    size_t rows = 0;
    for (const auto& s : r->meta["sequences"]) {
      r->seqs.push_back(s.get<std::vector<int32_t>>());
      r->first_row.push_back(rows);
      rows += r->seqs.back().size();
    }
    r->logits.resize(rows * size_t(r->vocab));
    std::ifstream bin(r->folder + "/logits.f32", std::ios::binary);
    bin.read(reinterpret_cast<char*>(r->logits.data()),
             std::streamsize(r->logits.size() * sizeof(float)));
    if (!bin) return nullptr;
    return r;
  }();
  return ref.get();
}

std::string test_device() {
  const char* d = std::getenv("TESSERA_TEST_DEVICE");
  return d && *d ? d : "cpu";
}

// The activation type under test, as --dtype names it.
std::string test_dtype() {
  if (test_device() != "cuda") return "float32";
  const char* d = std::getenv("TESSERA_TEST_DTYPE");
  return d && *d ? d : "bfloat16";
}

// "cuda bfloat16", "cpu float32": how result lines name the run.
std::string run_label() { return test_device() + " " + test_dtype(); }

// One piece of a step: sequence `seq` computes `n` more tokens.
struct Work {
  size_t seq;
  int n;
};

class HfReference : public ::testing::Test {
 protected:
  void SetUp() override {
    ref_ = reference();
    if (!ref_) GTEST_SKIP() << "TESSERA_HF_REFERENCE is not set (scripts/gpu-check.sh sets it)";
    static std::unique_ptr<WeightSource> source;
    static std::unique_ptr<Backend> backend;
    static std::unique_ptr<Model> model;
    if (!model) {
      source = WeightSource::open(ref_->folder);
      EngineConfig config;
      config.device = test_device();
      config.dtype = test_dtype();
      backend = test_device() == "cuda" ? make_cuda_backend(0, resolve_dtype(config))
                                        : make_cpu_backend();
      model = Model::load(*source, *backend);
    }
    model_ = model.get();
    ASSERT_EQ(model_->config().vocab_size, ref_->vocab);
    // Every sequence its own blocks, laid out backwards so that tables are
    // not contiguous.
    int total = 0;
    for (const auto& s : ref_->seqs) {
      const int blocks = int(s.size() + kBlock - 1) / kBlock;
      tables_.emplace_back(blocks);
      std::iota(tables_.back().rbegin(), tables_.back().rend(), total);
      total += blocks;
    }
    KvCacheShape shape;
    shape.num_layers = model_->config().num_layers;
    shape.num_blocks = total;
    shape.block_size = kBlock;
    shape.num_kv_heads = model_->config().num_kv_heads;
    shape.head_dim = model_->config().head_dim;
    shape.dtype = model_->backend().activation_dtype();
    runner_ = std::make_unique<ModelRunner>(*model_, shape);
    done_.assign(ref_->seqs.size(), 0);
  }

  // Runs one step and scores every row it returns.
  // Prefills every sequence but its last `tail` tokens, then decodes them
  // all together, one token per step; scores only the decode steps.
  void prefill_then_decode(int tail, Score& score, bool want_all_logits = true) {
    Score prefill_score;
    std::vector<Work> prefill;
    for (size_t s = 0; s < num_seqs(); ++s)
      if (length(s) > tail) prefill.push_back({s, length(s) - tail});
    step(prefill, prefill_score);
    while (true) {
      std::vector<Work> work;
      for (size_t s = 0; s < num_seqs(); ++s)
        if (done_[s] < length(s)) work.push_back({s, 1});
      if (work.empty()) break;
      step(work, score, want_all_logits);
    }
  }

  void step(const std::vector<Work>& work, Score& score, bool want_all_logits = true) {
    std::vector<ScheduledSeq> seqs;
    for (const Work& w : work) {
      ScheduledSeq s;
      const auto& ids = ref_->seqs[w.seq];
      s.tokens = std::span<const int32_t>(ids.data(), size_t(done_[w.seq] + w.n));
      s.num_computed = done_[w.seq];
      s.num_new = w.n;
      s.block_table = tables_[w.seq];
      s.want_logits = true;
      s.want_all_logits = want_all_logits;
      seqs.push_back(s);
    }
    std::vector<int> first_row;
    std::span<const float> logits = runner_->run(seqs, first_row);
    for (size_t i = 0; i < work.size(); ++i) {
      const Work& w = work[i];
      for (int r = 0; r < w.n; ++r)
        score.add(logits.data() + size_t(first_row[i] + r) * size_t(ref_->vocab),
                  ref_->row(w.seq, done_[w.seq] + r), ref_->vocab, done_[w.seq] + r);
      done_[w.seq] += w.n;
    }
  }

  void expect_close(const char* what, const Score& s) {
    std::printf(
        "%-34s [%s] %5lld rows: rel L2 %.2e (worst row %.2e), top-1 %.2f%% raw, %.2f%% of %lld "
        "rows outside ties\n",
        what, run_label().c_str(), static_cast<long long>(s.rows), s.rel_l2(), s.worst_row,
        100.0 * double(s.top1) / double(s.rows), 100.0 * s.decided_agreement(),
        static_cast<long long>(s.rows - s.ties));
    std::printf("    rel L2 by position:");
    const char* names[Score::kBuckets] = {"0", "1-15", "16-127", "128-699", "700+"};
    for (int b = 0; b < Score::kBuckets; ++b)
      if (s.bucket_ref2[b] > 0)
        std::printf(" %s: %.2e", names[b], std::sqrt(s.bucket_err2[b] / s.bucket_ref2[b]));
    std::printf("\n");
    EXPECT_GT(s.rows, 0);
    EXPECT_LE(s.rel_l2(), 2e-2) << what;
    EXPECT_GE(s.decided_agreement(), 0.99) << what;
  }

  size_t num_seqs() const { return ref_->seqs.size(); }
  int length(size_t s) const { return int(ref_->seqs[s].size()); }

  static constexpr int kBlock = 16;
  const Reference* ref_ = nullptr;
  Model* model_ = nullptr;
  std::unique_ptr<ModelRunner> runner_;
  std::vector<std::vector<int32_t>> tables_;
  std::vector<int> done_;
};

TEST_F(HfReference, WholePromptsOneAtATime) {
  Score score;
  for (size_t s = 0; s < num_seqs(); ++s) step({{s, length(s)}}, score);
  expect_close("whole prompts, one per step", score);
}

TEST_F(HfReference, AllPromptsInOneStep) {
  Score score;
  std::vector<Work> work;
  for (size_t s = 0; s < num_seqs(); ++s) work.push_back({s, length(s)});
  step(work, score);
  expect_close("all prompts in one varlen step", score);
}

TEST_F(HfReference, ChunkedPrefillOfAllPrompts) {
  // Uneven chunks, so that chunk edges fall inside KV blocks.
  Score score;
  while (true) {
    std::vector<Work> work;
    for (size_t s = 0; s < num_seqs(); ++s)
      if (done_[s] < length(s)) work.push_back({s, std::min(length(s) - done_[s], 97)});
    if (work.empty()) break;
    step(work, score);
  }
  expect_close("chunked prefill, all prompts", score);
}

TEST_F(HfReference, DecodesMixedWithPrefillChunks) {
  // The shorter sequences are prefilled to half, then decode one token per
  // step while the longest is prefilled in chunks in the same steps.
  Score score;
  const size_t longest = num_seqs() - 1;
  std::vector<Work> prefill;
  for (size_t s = 0; s < longest; ++s)
    if (length(s) > 1) prefill.push_back({s, length(s) / 2});
  step(prefill, score);
  while (true) {
    std::vector<Work> work;
    for (size_t s = 0; s < longest; ++s)
      if (done_[s] > 0 && done_[s] < length(s)) work.push_back({s, 1});
    if (done_[longest] < length(longest))
      work.push_back({longest, std::min(length(longest) - done_[longest], 61)});
    if (work.empty()) break;
    step(work, score);
  }
  expect_close("decodes mixed with prefill chunks", score);
}

TEST_F(HfReference, BatchedDecodeAtDifferentContexts) {
  // Every sequence prefilled but its last 40 tokens, then decoded together
  // one token per step: decode attention at contexts from 1 to 1500.
  Score score;
  prefill_then_decode(40, score);
  expect_close("batched decode, contexts 1..1500", score);
}

TEST_F(HfReference, BatchedDecodeThroughCudaGraphs) {
  // The same schedule with decode steps replayed as CUDA graphs (batches of
  // 5, 4 and 3 sequences: buckets 8 and 4, so padding rows run too).
  if (test_device() != "cuda") GTEST_SKIP() << "CUDA graphs need TESSERA_TEST_DEVICE=cuda";
  runner_->enable_cuda_graphs(8, 4096);
  Score score;
  prefill_then_decode(40, score, /*want_all_logits=*/false);
  EXPECT_EQ(runner_->cuda_graphs_captured(), 2);  // buckets 8 and 4
  expect_close("batched decode, CUDA graphs", score);
}

TEST_F(HfReference, TransformersHalfPrecisionBaseline) {
  // Not a check of tessera: how far transformers itself moves from its
  // float32 logits in bf16 and fp16 on the same GPU, for scale.
  for (const char* key : {"bf16_baseline", "fp16_baseline"}) {
    if (!ref_->meta.contains(key)) continue;
    for (const auto& b : ref_->meta[key])
      std::printf("transformers %.4s vs fp32, %4d tokens: rel L2 %.2e, top-1 %.2f%%\n", key,
                  b["length"].get<int>(), b["rel_l2"].get<double>(),
                  100.0 * b["top1"].get<double>());
  }
}

}  // namespace
}  // namespace tessera
