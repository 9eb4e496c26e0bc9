#include "aimc/nn/analog_layer.h"

#include <cmath>

#include <torch/torch.h>

#include "aimc/common/error.h"

namespace aimc::nn {
namespace F = torch::nn::functional;

void AnalogLayerOptions::Validate() const {
  Require(in >= 1 && out >= 1, "layer in/out must be >= 1, got {}/{}", in, out);
  Require(kernel >= 1 && stride >= 1 && padding >= 0,
          "layer kernel/stride must be >= 1 and padding >= 0, got {}/{}/{}", kernel, stride,
          padding);
  Require(input_bits >= 0 && input_bits <= 16, "layer input_bits must be in 0..16, got {}",
          input_bits);
  Require(input_alpha > 0.0, "layer input_alpha must be > 0, got {}", input_alpha);
  Require(threshold_ratio >= 0.0 && threshold_ratio < 10.0,
          "layer threshold_ratio must be in [0, 10), got {}", threshold_ratio);
}

AnalogLayerImpl::AnalogLayerImpl(const AnalogLayerOptions& options) : options_(options) {
  options_.Validate();
  const std::int64_t fan_in = rows();
  // Kaiming-uniform like torch's Conv2d/Linear default, drawn from the global generator that
  // MakeNetwork seeds.
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  torch::Tensor w = options_.kind == LayerKind::kConv
                        ? torch::empty({options_.out, options_.in, options_.kernel, options_.kernel})
                        : torch::empty({options_.out, options_.in});
  w.uniform_(-std::sqrt(3.0) * bound, std::sqrt(3.0) * bound);
  weight_ = register_parameter("weight", w);
  if (options_.bias) bias_ = register_parameter("bias", torch::zeros({options_.out}));
  const torch::Tensor alpha = torch::full({1}, options_.input_alpha);
  alpha_ = options_.learn_alpha ? register_parameter("alpha", alpha)
                                : register_buffer("alpha", alpha);
}

std::int64_t AnalogLayerImpl::rows() const {
  return options_.kind == LayerKind::kConv ? options_.in * options_.kernel * options_.kernel
                                           : options_.in;
}

std::int64_t AnalogLayerImpl::cols() const { return options_.out; }

double AnalogLayerImpl::input_step() const {
  if (options_.input_bits == 0) return 0.0;
  return alpha_.item<double>() / (std::ldexp(1.0, options_.input_bits) - 1.0);
}

torch::Tensor AnalogLayerImpl::QuantizeInput(const torch::Tensor& x) const {
  return PactQuantize(x, alpha_, options_.input_bits);
}

torch::Tensor AnalogLayerImpl::InputColumns(const torch::Tensor& xq) const {
  if (options_.kind == LayerKind::kLinear) return xq.reshape({xq.size(0), -1});
  const torch::Tensor cols = F::unfold(
      xq, F::UnfoldFuncOptions(options_.kernel).padding(options_.padding).stride(options_.stride));
  return cols.transpose(1, 2).reshape({-1, rows()});
}

torch::Tensor AnalogLayerImpl::TernaryMatrix() const {
  Require(options_.ternary, "TernaryMatrix: this layer keeps float weights");
  const TernaryWeights t = Ternarize(weight_, options_.per_channel, options_.threshold_ratio);
  return t.levels.reshape({options_.out, -1}).t().contiguous();
}

torch::Tensor AnalogLayerImpl::Scale() const {
  Require(options_.ternary, "Scale: this layer keeps float weights");
  const TernaryWeights t = Ternarize(weight_, options_.per_channel, options_.threshold_ratio);
  return t.scale.reshape({-1}).expand({options_.out}).contiguous();
}

void AnalogLayerImpl::SetTrainingNoise(double sigma_w, std::uint64_t seed) {
  Require(std::isfinite(sigma_w) && sigma_w >= 0.0, "sigma_w,train must be >= 0, got {}", sigma_w);
  train_sigma_ = sigma_w;
  train_generator_ = MakeGenerator(seed);
}

void AnalogLayerImpl::DrawChip(const LevelNoise& noise, std::uint64_t seed) {
  noise.Validate();
  chip_noise_ = torch::Tensor();
  if (!options_.ternary || noise.zero()) return;
  at::Generator generator = MakeGenerator(seed);
  const TernaryWeights t = Ternarize(weight_, options_.per_channel, options_.threshold_ratio);
  chip_noise_ = DrawLevelNoise(t.levels, noise, generator);
}

void AnalogLayerImpl::ClearChip() { chip_noise_ = torch::Tensor(); }

torch::Tensor AnalogLayerImpl::EffectiveWeight() {
  if (!options_.ternary) return weight_;
  const TernaryWeights t = Ternarize(weight_, options_.per_channel, options_.threshold_ratio);
  torch::Tensor w = TernarySte(weight_, t);
  if (is_training() && train_sigma_ > 0.0) {
    // Fig. 12: noise after quantization, relative to the unit weight; no gradient flows into
    // the draw, and the scale is held fixed for it.
    torch::Tensor noise;
    {
      torch::NoGradGuard no_grad;
      noise = t.scale * at::randn(weight_.sizes(), *train_generator_, weight_.options()) *
              train_sigma_;
    }
    w = w + noise;
  } else if (!is_training() && chip_noise_.defined()) {
    w = w + (t.scale * chip_noise_);
  }
  return w;
}

torch::Tensor AnalogLayerImpl::Product(const torch::Tensor& xq, const torch::Tensor& w) const {
  if (options_.kind == LayerKind::kLinear) return F::linear(xq, w, bias_);
  return F::conv2d(xq, w, F::Conv2dFuncOptions().bias(bias_).stride(options_.stride).padding(
                              options_.padding));
}

torch::Tensor AnalogLayerImpl::forward(const torch::Tensor& x) {
  const torch::Tensor xq = QuantizeInput(x);
  if (!mvm_) return Product(xq, EffectiveWeight());
  Require(options_.ternary, "an MVM function is set on a float layer");
  const torch::Tensor columns = InputColumns(xq);
  torch::Tensor y = mvm_(columns);
  Require(y.dim() == 2 && y.size(0) == columns.size(0) && y.size(1) == cols(),
          "MVM function returned shape {}, expected [{}, {}]", c10::str(y.sizes()),
          columns.size(0), cols());
  y = y * Scale();
  if (bias_.defined()) y = y + bias_;
  if (options_.kind == LayerKind::kLinear) return y;
  const std::int64_t n = x.size(0);
  const std::int64_t h = (x.size(2) + 2 * options_.padding - options_.kernel) / options_.stride + 1;
  const std::int64_t w = (x.size(3) + 2 * options_.padding - options_.kernel) / options_.stride + 1;
  return y.reshape({n, h, w, cols()}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace aimc::nn
