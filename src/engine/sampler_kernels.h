// Vocabulary-wide loops of the sampler, written so the compiler vectorizes
// them (no calls to libm in the hot loops). Private to src/engine.
#pragma once

#include <cstdint>

namespace tessera::sampler_kernels {

// Sums are taken in float over blocks of this many entries, then in double.
inline constexpr int kBlock = 256;

// exp(x) to about 2 ulp for x in [-87, 88]; exactly 0 below -87 (and -inf).
float fast_exp(float x);

// out[i] = in[i], with NaN replaced by -inf. `out` may equal `in`.
void copy_without_nan(const float* in, float* out, int n);
// Largest value (-inf for n == 0); no NaN expected.
float max_value(const float* v, int n);
// First i with v[i] == value, or -1.
int32_t first_index_of(const float* v, int n, float value);
// Number of v[i] > x.
int count_greater(const float* v, int n, float x);

// w[i] = exp((x[i] - shift) * scale); returns the sum. `w` may equal `x`.
double exp_weights(const float* x, float* w, int n, float shift, float scale);
// block_sums[b] = sum of w over block b (ceil(n / kBlock) blocks); returns the total.
double block_sums(const float* w, int n, double* sums);
// bucket[i] = bit pattern of w[i] >> shift (monotone in w for w >= 0).
void float_buckets(const float* w, int n, int shift, uint16_t* bucket);
// w[i] = 0 where bucket[i] < cut.
void zero_below_bucket(float* w, const uint16_t* bucket, int n, uint16_t cut);
// w[i] = 0 where w[i] < threshold.
void zero_below(float* w, int n, float threshold);

// log(sum(exp(v))) with NaN treated as -inf; -inf when nothing is finite.
double logsumexp(const float* v, int n);

}  // namespace tessera::sampler_kernels
