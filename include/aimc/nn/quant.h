#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace aimc::nn {

/// Quantized weights of one layer: w_q = scale * levels, levels integers in [-L, L] (L = 1:
/// ternary, {-1, 0, +1}; L > 1: 2L + 1 levels for multi-level devices). `scale` is the weight of
/// level +1 (one level step). Continuous weights: levels are floats in [-1, 1], scale the
/// full-scale weight.
struct TernaryWeights {
  torch::Tensor levels;  // int8 (float for continuous weights), the shape of the float weight
  torch::Tensor scale;   // float, (out, 1, ...) broadcastable to the weight (per layer: all equal)
};

/// weight_levels 0: continuous weights, each weight programmed to its own conductance between
/// OFF and ON (analog cards: PCM, RRAM, Flash), the mapping aihwkit uses by default.
inline constexpr int kContinuousWeights = 0;
inline bool IsContinuous(int weight_levels) { return weight_levels == kContinuousWeights; }
/// What weight_levels may be, and the rule in words for the errors that name it.
inline bool IsWeightLevels(std::int64_t weight_levels) {
  return weight_levels == kContinuousWeights ||
         (weight_levels >= 3 && weight_levels <= 255 && weight_levels % 2 == 1);
}
inline constexpr const char* kWeightLevelsRule =
    "0 (continuous) or odd and in [3, 255] (3: ternary)";

/// The largest level of a layer with `weight_levels` levels (odd, >= 3): (weight_levels - 1) / 2;
/// 1 for continuous weights (level 1 is full scale).
inline int MaxLevelOf(int weight_levels) {
  return IsContinuous(weight_levels) ? 1 : (weight_levels - 1) / 2;
}

/// Continuous weights: levels = w / max|w| (float, in [-1, 1]), scale = max|w| per output
/// channel or per layer, so that the largest weight is a full ON/OFF pair (an all-zero channel
/// gets scale 1).
TernaryWeights ContinuousWeights(const torch::Tensor& w, bool per_channel);

/// Ternarize for weight_levels 3 or odd K > 3, ContinuousWeights for kContinuousWeights.
TernaryWeights QuantizeWeights(const torch::Tensor& w, bool per_channel, double threshold_ratio,
                               int weight_levels);

/// Quantizes weights per output channel or per layer (dim 0 of `w` is the output channel).
/// max_level 1: ternary weight networks (Li & Liu 2016):
///   delta = threshold_ratio * mean|w|,   level = sign(w) where |w| > delta, else 0,
///   scale = mean of |w| over the weights with |w| > delta (delta itself when there are none).
/// max_level L > 1: a symmetric uniform quantizer with the least-squares step, found by
/// alternating its two optimality conditions (Lloyd's iteration restricted to a uniform grid):
/// level = clamp(round(w / scale), -L, L) is the nearest grid point for a given step, and
/// scale = <w, level> / <level, level> the best step for given levels, so ||w - scale * level||
/// never grows; it starts from scale = max|w| / L (no clipping). threshold_ratio is not used.
TernaryWeights Ternarize(const torch::Tensor& w, bool per_channel, double threshold_ratio = 0.7,
                         int max_level = 1);

/// TWN's threshold delta of each row of |w| (an output channel, or the whole layer as one row):
/// threshold_ratio * mean |w|, shape (rows, 1). Ternarize's; aimc::analog_layer's fused training
/// weight takes the same, so that both give the same levels bit for bit.
torch::Tensor TwnThreshold(const torch::Tensor& abs_rows, double threshold_ratio);

/// Straight-through estimator: the value is scale * levels, the gradient w.r.t. `w` is the
/// identity (Fig. 12: float weights are kept and updated, the forward pass sees ternary ones).
torch::Tensor TernarySte(const torch::Tensor& w, const TernaryWeights& t);

/// PACT-style k-bit activation: y = clip(x, 0, alpha) rounded to the grid alpha/(2^bits-1) * n.
/// Gradients: d/dx = 1 on (0, alpha) (straight through the rounding), d/dalpha = 1 where
/// x >= alpha (Choi et al. 2018). `alpha` is a one-element tensor. bits = 0: plain ReLU.
/// `is_signed` (a signed DAC, which drives both polarities): y = clip(x, -alpha, alpha) on the
/// grid alpha/(2^(bits-1)-1) * n, a sign bit and bits - 1 of magnitude (bits >= 2), with the
/// gradient d/dalpha = sign(x) where |x| >= alpha; bits = 0: x as it is.
torch::Tensor PactQuantize(const torch::Tensor& x, const torch::Tensor& alpha, int bits,
                           bool is_signed = false);
/// The same levels for inference only (no gradient): clip, scale, round in place, with a
/// quarter of the passes over memory.
torch::Tensor PactQuantizeEval(const torch::Tensor& x, const torch::Tensor& alpha, int bits,
                               bool is_signed = false);
/// Levels of an input quantizer on each side of 0: 2^bits - 1 unsigned, 2^(bits-1) - 1 signed.
double InputLevels(int bits, bool is_signed);

/// Standard deviation of the weight noise per ternary level, in units of the unit weight (the
/// layer's scale): index 0 for w = -1, 1 for w = 0, 2 for w = +1. Uniform(s) is the training
/// model of Fig. 12 (sigma_w,train); level-dependent values come from a device card through
/// aimc::mapping::AnalyticSpread (sigma_-1, sigma_0, sigma_+1).
struct LevelNoise {
  double sigma[3] = {0.0, 0.0, 0.0};
  static LevelNoise Uniform(double sigma_w) { return {{sigma_w, sigma_w, sigma_w}}; }
  bool zero() const { return sigma[0] == 0.0 && sigma[1] == 0.0 && sigma[2] == 0.0; }
  /// Throws aimc::Error unless every sigma is finite and >= 0.
  void Validate() const;
  std::string ToString() const;
};

/// One draw of the noise in level units: eps * sigma[sign(level) + 1] * max_level, eps ~ N(0, 1)
/// from `generator` (float, shape of `levels`). With multi-level weights (max_level L > 1) sigma
/// is relative to the full-scale weight (level L: ON against OFF, as for a ternary pair), so
/// it is L times larger in level steps; every nonzero level takes the sigma of its sign.
torch::Tensor DrawLevelNoise(const torch::Tensor& levels, const LevelNoise& noise,
                             at::Generator& generator, int max_level = 1);

/// A CPU generator with a fixed seed (all of nn's randomness goes through these).
at::Generator MakeGenerator(std::uint64_t seed);

}  // namespace aimc::nn
