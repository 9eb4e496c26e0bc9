#include "aimc/nn/quant.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"

namespace aimc::nn {

TernaryWeights Ternarize(const torch::Tensor& w, bool per_channel, double threshold_ratio) {
  torch::NoGradGuard no_grad;
  const torch::Tensor a = w.abs();
  std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  torch::Tensor delta;
  torch::Tensor rows = per_channel ? a.reshape({w.size(0), -1}) : a.reshape({1, -1});
  delta = rows.mean(1, /*keepdim=*/true) * threshold_ratio;
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

torch::Tensor TernarySte(const torch::Tensor& w, const TernaryWeights& t) {
  const torch::Tensor q = t.scale * t.levels.to(w.scalar_type());
  return w + (q - w).detach();
}

torch::Tensor PactQuantize(const torch::Tensor& x, const torch::Tensor& alpha, int bits) {
  if (bits <= 0) return torch::relu(x);
  // relu(x) - relu(x - alpha) = clip(x, 0, alpha), with the PACT gradient for alpha.
  const torch::Tensor y = torch::relu(x) - torch::relu(x - alpha);
  const double levels = std::ldexp(1.0, bits) - 1.0;
  torch::Tensor q;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor step = alpha / levels;
    q = torch::round(y / step) * step;
  }
  return y + (q - y).detach();
}

torch::Tensor PactQuantizeEval(const torch::Tensor& x, const torch::Tensor& alpha, int bits) {
  torch::NoGradGuard no_grad;
  if (bits <= 0) return torch::relu(x);
  // The step computed and applied as PactQuantize does, so that both give the same levels.
  const torch::Tensor step = alpha / (std::ldexp(1.0, bits) - 1.0);
  return x.clamp(0.0, alpha.item<double>()).div_(step).round_().mul_(step);
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
                             at::Generator& generator) {
  torch::NoGradGuard no_grad;
  const torch::Tensor eps =
      at::randn(levels.sizes(), generator, torch::TensorOptions().dtype(torch::kFloat));
  if (noise.sigma[0] == noise.sigma[1] && noise.sigma[1] == noise.sigma[2])
    return eps * noise.sigma[0];
  const torch::Tensor table = torch::tensor(
      {static_cast<float>(noise.sigma[0]), static_cast<float>(noise.sigma[1]),
       static_cast<float>(noise.sigma[2])});
  return eps * table.index({(levels.to(torch::kLong) + 1)});
}

at::Generator MakeGenerator(std::uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

}  // namespace aimc::nn
