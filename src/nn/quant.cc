#include "aimc/nn/quant.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "analog_kernels.h"

namespace aimc::nn {

namespace {

// The least-squares uniform quantizer of Ternarize for max_level > 1 (see quant.h).
TernaryWeights UniformLevels(const torch::Tensor& w, bool per_channel, int max_level) {
  // Enough for the step to settle to float precision on layer-sized rows; each iteration can
  // only lower the error, so a fixed count keeps the result deterministic.
  constexpr int kIterations = 20;
  const double top = max_level;
  const torch::Tensor rows = per_channel ? w.reshape({w.size(0), -1}) : w.reshape({1, -1});
  const torch::Tensor peak = rows.abs().amax(1, /*keepdim=*/true);
  // An all-zero row quantizes to level 0 at any step; 1 keeps it positive.
  torch::Tensor scale = torch::where(peak > 0, peak / top, torch::ones_like(peak));
  torch::Tensor levels;
  for (int it = 0; it < kIterations; ++it) {
    levels = torch::round(rows / scale).clamp_(-top, top);
    const torch::Tensor den = levels.square().sum(1, true);
    const torch::Tensor num = (rows * levels).sum(1, true);
    scale = torch::where(den > 0, num / den.clamp_min(1), scale);
  }
  levels = torch::round(rows / scale).clamp_(-top, top);
  std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  if (per_channel) shape[0] = w.size(0);
  return {levels.to(torch::kInt8).reshape(w.sizes()), scale.reshape(shape)};
}

}  // namespace

TernaryWeights Ternarize(const torch::Tensor& w, bool per_channel, double threshold_ratio,
                         int max_level) {
  torch::NoGradGuard no_grad;
  Require(max_level >= 1 && max_level <= 127, "weight levels: the largest level must be in "
          "1..127 (3..255 levels), got {}", max_level);
  if (max_level > 1) return UniformLevels(w, per_channel, max_level);
  const torch::Tensor a = w.abs();
  std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  const torch::Tensor rows = per_channel ? a.reshape({w.size(0), -1}) : a.reshape({1, -1});
  const torch::Tensor delta = TwnThreshold(rows, threshold_ratio);
  const torch::Tensor above = rows > delta;
  const torch::Tensor count = above.sum(1, true).to(a.scalar_type());
  const torch::Tensor sum = (rows * above).sum(1, true);
  // A channel with no weight above delta is all zero; its scale only has to be positive.
  const torch::Tensor scale_rows = torch::where(count > 0, sum / count.clamp_min(1), delta);
  if (per_channel) shape[0] = w.size(0);
  TernaryWeights t;
  const torch::Tensor delta_full = delta.reshape(shape);
  t.levels = (w > delta_full).to(torch::kInt8) - (w < -delta_full).to(torch::kInt8);
  t.scale = scale_rows.reshape(shape);
  return t;
}

torch::Tensor TwnThreshold(const torch::Tensor& abs_rows, double threshold_ratio) {
  return abs_rows.mean(1, /*keepdim=*/true) * threshold_ratio;
}

TernaryWeights ContinuousWeights(const torch::Tensor& w, bool per_channel) {
  torch::NoGradGuard no_grad;
  const torch::Tensor rows = per_channel ? w.reshape({w.size(0), -1}) : w.reshape({1, -1});
  const torch::Tensor peak = rows.abs().amax(1, /*keepdim=*/true);
  const torch::Tensor scale = torch::where(peak > 0, peak, torch::ones_like(peak));
  std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  if (per_channel) shape[0] = w.size(0);
  // |w| <= peak, and IEEE division is monotonic and exact for w = peak: levels in [-1, 1].
  return {(rows / scale).to(torch::kFloat).reshape(w.sizes()), scale.reshape(shape)};
}

TernaryWeights QuantizeWeights(const torch::Tensor& w, bool per_channel, double threshold_ratio,
                               int weight_levels) {
  if (IsContinuous(weight_levels)) return ContinuousWeights(w, per_channel);
  return Ternarize(w, per_channel, threshold_ratio, MaxLevelOf(weight_levels));
}

torch::Tensor TernarySte(const torch::Tensor& w, const TernaryWeights& t) {
  const torch::Tensor q = t.scale * t.levels.to(w.scalar_type());
  return w + (q - w).detach();
}

double InputLevels(int bits, bool is_signed) {
  return is_signed ? std::ldexp(1.0, bits - 1) - 1.0 : std::ldexp(1.0, bits) - 1.0;
}

torch::Tensor PactQuantize(const torch::Tensor& x, const torch::Tensor& alpha, int bits,
                           bool is_signed) {
  if (bits <= 0) return is_signed ? x : torch::relu(x);
  // relu(x) - relu(x - alpha) = clip(x, 0, alpha), with the PACT gradient for alpha; signed,
  // x - relu(x - alpha) + relu(-x - alpha) = clip(x, -alpha, alpha).
  const torch::Tensor y = is_signed ? x - torch::relu(x - alpha) + torch::relu(-x - alpha)
                                    : torch::relu(x) - torch::relu(x - alpha);
  const double levels = InputLevels(bits, is_signed);
  torch::Tensor q;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor step = alpha / levels;
    q = torch::round(y / step) * step;
  }
  return y + (q - y).detach();
}

torch::Tensor PactQuantizeEval(const torch::Tensor& x, const torch::Tensor& alpha, int bits,
                               bool is_signed) {
  torch::NoGradGuard no_grad;
  if (bits <= 0) return is_signed ? x.clone() : torch::relu(x);
  // The step computed and applied as PactQuantize does, so that both give the same levels.
  const torch::Tensor step = alpha / InputLevels(bits, is_signed);
  const double a = alpha.item<double>();
  if (x.device().is_cpu() && x.scalar_type() == torch::kFloat && x.is_contiguous() &&
      step.scalar_type() == torch::kFloat) {
    // The same clip, division, rounding and product in one vectorized pass (analog_kernels.h):
    // equal bit for bit to the four passes below.
    const auto af = static_cast<float>(a);
    const float s = step.item<float>();
    torch::Tensor out = torch::empty_like(x);
    const float* in = x.data_ptr<float>();
    float* o = out.data_ptr<float>();
    at::parallel_for(0, x.numel(), 1 << 15, [&](std::int64_t begin, std::int64_t end) {
      kernels::DacForward(in + begin, o + begin, end - begin, is_signed ? -af : 0.0f, af, s);
    });
    return out;
  }
  return x.clamp(is_signed ? -a : 0.0, a).div_(step).round_().mul_(step);
}

void LevelNoise::Validate() const {
  for (int i = 0; i < 3; ++i)
    Require(std::isfinite(sigma[i]) && sigma[i] >= 0.0,
            "weight noise sigma of level {} must be finite and >= 0, got {}", i - 1, sigma[i]);
}

std::string LevelNoise::ToString() const {
  if (sigma[0] == sigma[1] && sigma[1] == sigma[2]) return fmt::format("sigma_w {}", sigma[0]);
  return fmt::format("sigma_-1 {:.4g}, sigma_0 {:.4g}, sigma_+1 {:.4g}", sigma[0], sigma[1],
                     sigma[2]);
}

torch::Tensor DrawLevelNoise(const torch::Tensor& levels, const LevelNoise& noise,
                             at::Generator& generator, int max_level) {
  torch::NoGradGuard no_grad;
  const torch::Tensor eps =
      at::randn(levels.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat));
  const double top = max_level;
  if (noise.sigma[0] == noise.sigma[1] && noise.sigma[1] == noise.sigma[2])
    return eps * (noise.sigma[0] * top);
  const torch::Tensor table = torch::tensor(
      {static_cast<float>(noise.sigma[0] * top), static_cast<float>(noise.sigma[1] * top),
       static_cast<float>(noise.sigma[2] * top)});
  return eps * table.index({levels.sign().to(torch::kLong) + 1});
}

at::Generator MakeGenerator(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

}  // namespace aimc::nn
