#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "aimc/nn/quant.h"

namespace aimc::nn {

enum class LayerKind { kConv, kLinear };

/// One weight layer (Conv2d or Linear) as an analog array sees it: its input activations are
/// quantized (the DACs), the matrix-vector product uses ternary weights (the array), the output is
/// multiplied by the per-column scale and gets its bias (digital periphery).
struct AnalogLayerOptions {
  LayerKind kind = LayerKind::kLinear;
  std::int64_t in = 1;   // input channels / features
  std::int64_t out = 1;  // output channels / features
  std::int64_t kernel = 1, stride = 1, padding = 0;  // conv only
  bool bias = true;
  /// Ternary weights; false keeps float weights (a digital layer: first/last layer option).
  bool ternary = true;
  bool per_channel = true;          // ternary scale per output channel (else per layer)
  double threshold_ratio = 0.7;     // TWN delta = threshold_ratio * mean|w|
  /// Input activation: ReLU clipped to [0, alpha] and quantized to `input_bits` (0: plain ReLU).
  int input_bits = 4;
  /// alpha is learned (PACT) when true; fixed at `input_alpha` otherwise (the image input: 1).
  bool learn_alpha = true;
  double input_alpha = 4.0;

  void Validate() const;
};

/// A replacement for a layer's matrix-vector products, for analog simulation.
/// Input: (M, rows) quantized activations x = level * input_step(), rows = in * kernel^2 in the
/// im2col order of TernaryMatrix(). Output: (M, cols), the product x * T in units of the unit
/// weight, i.e. before the per-column scale and the bias (the layer applies both).
using MvmFunction = std::function<torch::Tensor(const torch::Tensor& x)>;

/// A Conv2d or Linear layer with ternary weights, quantized inputs and weight noise.
///
/// Weight noise, relative to the unit weight (w_eff = scale * (levels + noise)):
///   - training: SetTrainingNoise(sigma, seed): a fresh draw in every training forward pass;
///   - test: DrawChip(noise, seed): one draw, fixed until ClearChip() (one simulated chip).
/// With an MVM function set, the layer calls it instead of its own (noisy) product.
class AnalogLayerImpl : public torch::nn::Module {
 public:
  explicit AnalogLayerImpl(const AnalogLayerOptions& options);

  torch::Tensor forward(const torch::Tensor& x);

  const AnalogLayerOptions& options() const { return options_; }
  /// True for ternary layers (the ones mapped onto arrays).
  bool analog() const { return options_.ternary; }
  /// Array size: rows = in * kernel^2 (kernel 1 for Linear), cols = out.
  std::int64_t rows() const;
  std::int64_t cols() const;

  /// The ternary matrix, int8 (rows, cols), entries -1/0/+1; rows in im2col order
  /// (input channel major, then kernel row, kernel column), cols = output channels.
  torch::Tensor TernaryMatrix() const;
  /// Per-column scale (float, (cols)): the weight of level +1 in column j is Scale()[j].
  torch::Tensor Scale() const;
  /// Bias (float, (cols)) or an undefined tensor.
  torch::Tensor Bias() const { return bias_; }
  /// The float weights the optimizer updates (out, in[, k, k]).
  torch::Tensor Weight() const { return weight_; }

  /// Input quantization: bits (0: float) and the step between levels (alpha / (2^bits - 1)).
  int input_bits() const { return options_.input_bits; }
  double input_step() const;
  /// ReLU, clip and quantize as forward() does before the product.
  torch::Tensor QuantizeInput(const torch::Tensor& x) const;
  /// im2col of quantized inputs: (N, C, H, W) -> (N * L, rows) for conv, (N, in) for Linear.
  torch::Tensor InputColumns(const torch::Tensor& xq) const;

  void SetMvm(MvmFunction mvm) { mvm_ = std::move(mvm); }
  void ClearMvm() { mvm_ = nullptr; }
  bool has_mvm() const { return static_cast<bool>(mvm_); }

  void SetTrainingNoise(double sigma_w, std::uint64_t seed);
  void DrawChip(const LevelNoise& noise, std::uint64_t seed);
  void ClearChip();

  /// The weight the forward pass uses now (float; ternary + the chip's noise when drawn).
  torch::Tensor EffectiveWeight();

 private:
  torch::Tensor Product(const torch::Tensor& xq, const torch::Tensor& w) const;

  AnalogLayerOptions options_;
  torch::Tensor weight_;
  torch::Tensor bias_;
  torch::Tensor alpha_;  // parameter when learned, buffer otherwise
  MvmFunction mvm_;
  double train_sigma_ = 0.0;
  std::optional<at::Generator> train_generator_;
  torch::Tensor chip_noise_;  // level units, drawn once per chip
};
TORCH_MODULE(AnalogLayer);

}  // namespace aimc::nn
