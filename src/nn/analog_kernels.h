#pragma once

// The training forward's element-wise passes (aimc::analog_layer, analog_op.cc) and a chip's
// read noise (GaussianOfVariance), each fused into one loop over the tensor where ATen takes
// several: plain loops over float arrays, compiled
// for AVX2 beside the baseline (aimc/common/vector_clones.h; bench/results/analog_step.md). Each
// function takes one range, so that callers split the work with at::parallel_for.

#include <cstdint>

namespace aimc::nn::kernels {

/// The DAC's levels: out[i] = nearbyint(clamp(x[i], lo, hi) / step) * step in float, as
/// PactQuantizeEval's clamp, div_, round_ and mul_ compute them. NaN stays NaN.
void DacForward(const float* x, float* out, std::int64_t n, float lo, float hi, float step);

/// PACT's gradients: gx[i] = g[i] where the clip passes x[i] (0 < x <= alpha; signed
/// -alpha <= x <= alpha), else +0; gx aliases neither g nor x. Returns alpha's gradient over the range: the sum of g where
/// x > alpha (signed: minus the sum where x < -alpha).
double DacBackward(const float* g, const float* x, float* gx, std::int64_t n, float alpha,
                   bool is_signed);

/// One row of TWN's scale: the sum and count of |w[i]| > delta.
void AboveThreshold(const float* w, std::int64_t n, float delta, double* sum,
                    std::int64_t* count);

/// One row of a ternary training weight: out[i] = scale * (level + deviation[i] + noise *
/// z[i]), level = +1 where w > delta, -1 where w < -delta, else 0. `deviation` may be null;
/// `z` may be null (no noise) or alias `out` (the draws are read before the value is written).
void TernaryWeightRow(const float* w, const float* deviation, const float* z, float* out,
                      std::int64_t n, float delta, float scale, float noise);

/// Read noise from its variance: out[i] = sqrt(max(z[i], 0)) * xi[i] in float, as ATen's
/// clamp_min, sqrt_ and mul_ compute it (NaN stays NaN); `out` may alias `xi`.
void SqrtTimes(const float* z, const float* xi, float* out, std::int64_t n);

}  // namespace aimc::nn::kernels
