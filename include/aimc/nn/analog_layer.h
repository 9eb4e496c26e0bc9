#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

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
  std::int64_t kernel = 1, stride = 1, padding = 0;  // conv only (height, and width unless set)
  /// Conv only, where the width's differ from the height's (a 1 x 7 kernel; a Conv1d is a
  /// conv of height 1): the width's kernel, stride and padding (0, 0 and -1: the height's),
  /// and the dilation of height and width (dilation_w 0: the height's).
  std::int64_t kernel_w = 0, stride_w = 0, padding_w = -1;
  std::int64_t dilation = 1, dilation_w = 0;
  /// Conv only: grouped (depthwise: groups = in) convolution. On arrays the groups' weights lie
  /// on the diagonal blocks of one in * kh * kw x out matrix, its other pairs at weight 0 (both
  /// OFF): an array G times the weights it holds, read as a whole.
  std::int64_t groups = 1;
  /// (height, width) of the kernel, stride, padding and dilation.
  std::vector<std::int64_t> Kernel2() const { return {kernel, kernel_w > 0 ? kernel_w : kernel}; }
  std::vector<std::int64_t> Stride2() const { return {stride, stride_w > 0 ? stride_w : stride}; }
  std::vector<std::int64_t> Padding2() const {
    return {padding, padding_w >= 0 ? padding_w : padding};
  }
  std::vector<std::int64_t> Dilation2() const {
    return {dilation, dilation_w > 0 ? dilation_w : dilation};
  }
  bool bias = true;
  /// Ternary weights; false keeps float weights (a digital layer: first/last layer option).
  bool ternary = true;
  bool per_channel = true;          // ternary scale per output channel (else per layer)
  double threshold_ratio = 0.7;     // TWN delta = threshold_ratio * mean|w| (3 levels only)
  /// Weight levels on the arrays: 3 is ternary; an odd K > 3 gives integer levels in
  /// [-(K-1)/2, (K-1)/2], for multi-level devices (Ternarize's least-squares uniform grid);
  /// 0 (kContinuousWeights) keeps every weight as it is, scaled to [-1, 1] of full scale, for
  /// cards with analog states (ContinuousWeights).
  int weight_levels = 3;
  /// Input activation: ReLU clipped to [0, alpha] and quantized to `input_bits` (0: plain ReLU).
  int input_bits = 4;
  /// alpha is learned (PACT) when true; fixed at `input_alpha` otherwise (the image input: 1).
  bool learn_alpha = true;
  double input_alpha = 4.0;
  /// A signed input (an imported layer whose input can be negative): clipped to
  /// [-alpha, alpha] and quantized by a signed DAC that drives both polarities, -V to +V (the
  /// crossbar is linear in its drive, so the chip's effective matrix holds as it is); a sign
  /// bit and input_bits - 1 of magnitude (input_bits 0: as it is, no ReLU).
  bool signed_input = false;

  void Validate() const;
};

/// A replacement for a layer's matrix-vector products, for analog simulation.
/// Input: (M, rows) quantized activations x = level * input_step(), rows = in * kernel^2 in the
/// im2col order of TernaryMatrix(). Output: (M, cols), the product x * T in units of the unit
/// weight, i.e. before the per-column scale and the bias (the layer applies both).
using MvmFunction = std::function<torch::Tensor(const torch::Tensor& x)>;

/// An elementwise function of a tensor (an input transform, an ADC, a noise draw).
using Elementwise = std::function<torch::Tensor(const torch::Tensor&)>;

/// An extra term of a product part: the layer's own product of pre(x) with `weight`, then `post`.
/// `pre` is elementwise on the part's input (x^2, x (s(V(x)) - 1) for a non-linear I-V), so a
/// convolution stays a convolution; it must map 0 to 0, because the zero padding of a convolution
/// is applied to pre(x) (SetChipProduct checks it). Unset pre or post: the identity.
struct ProductTerm {
  torch::Tensor weight;  // float, the shape of the part's weight
  Elementwise pre = nullptr;
  Elementwise post = nullptr;
};

/// One part of a programmed chip's product: the layer's own product (conv or linear, its stride
/// and padding) of the input channels [channel0, channel0 + weight.size(1)) with `weight`, plus
/// its terms, then `post`, an elementwise function of the part's output (an ADC), if set:
///   post(x * W + sum_t post_t(pre_t(x) * W_t)).
/// A layer whose rows are split over tiles with an ADC has one part per row block; otherwise one
/// part holds it all.
struct ProductPart {
  torch::Tensor weight;  // float, (chips * out, channels[, k, k])
  std::int64_t channel0 = 0;
  Elementwise post = nullptr;
  std::vector<ProductTerm> terms = {};
};

/// Which reads a forward pass makes on the calling thread: sample n of the batch is read number
/// first + n. Random terms of a chip product (read noise) draw sample n's noise from that number,
/// so that a sample's noise does not depend on the batch it came in or on the thread that ran it
/// (nn::Evaluate sets it per batch: the read number is the sample's index in the data set). Like
/// torch::NoGradGuard it holds for the scope and restores what was set before.
class ReadIndexScope {
 public:
  explicit ReadIndexScope(std::int64_t first);
  ~ReadIndexScope();
  ReadIndexScope(const ReadIndexScope&) = delete;
  ReadIndexScope& operator=(const ReadIndexScope&) = delete;
  /// The read number of the first sample of the current forward pass, if a scope set one.
  static std::optional<std::int64_t> Current();

 private:
  std::optional<std::int64_t> previous_;
};

/// Read noise as a term's post: sqrt(max(z, 0)) * xi per element, with xi standard normal and
/// z the term's product (a variance). Sample n of a forward pass draws its xi from Rng::Derive(seed, read number); outside a
/// ReadIndexScope the read numbers continue from the last call of this function object, so that
/// repeated forward passes are fresh reads.
Elementwise GaussianOfVariance(std::uint64_t seed);

/// What a programmed chip's layer computes in eval mode, per output channel o:
///   y_o = out_scale_o * sum_p post_p(x * W_p + sum_t post_t(pre_t(x) * W_t))_o + bias_o,
/// with `chips` chips side by side: chip k's outputs are channels [k * out, (k + 1) * out), its
/// inputs channels [k * in, (k + 1) * in) (or the same input for every chip, e.g. the image).
struct ChipProduct {
  std::vector<ProductPart> parts;
  torch::Tensor out_scale;  // (chips * out) or undefined (1)
  torch::Tensor bias;       // (chips * out) or undefined (0)
  std::int64_t chips = 1;
};

/// A Conv2d or Linear layer with ternary weights, quantized inputs and weight noise.
///
/// Weight noise in training, relative to the unit weight (w_eff = scale * (levels + noise)):
/// SetTrainingNoise(sigma, seed) makes a fresh draw in every training forward pass.
/// In eval mode a chip product (SetChipProduct: one simulated chip, or several side by side)
/// replaces the layer's product; an MVM function (SetMvm) replaces it with a per-MVM hook on
/// im2col columns, the slow reference route.
class AnalogLayerImpl : public torch::nn::Module {
 public:
  explicit AnalogLayerImpl(const AnalogLayerOptions& options);

  torch::Tensor forward(const torch::Tensor& x);

  const AnalogLayerOptions& options() const { return options_; }
  /// True for ternary layers (the ones mapped onto arrays).
  bool analog() const { return options_.ternary; }
  /// The largest weight level L: 1 for ternary and continuous weights, (weight_levels - 1) / 2
  /// otherwise.
  int max_level() const { return MaxLevelOf(options_.weight_levels); }
  /// Continuous weights (weight_levels 0): LevelMatrix() holds fractions of full scale.
  bool continuous() const { return IsContinuous(options_.weight_levels); }
  /// Array size: rows = in * kernel height * kernel width (1 for Linear), cols = out.
  std::int64_t rows() const;
  std::int64_t cols() const;

  /// The matrix of weight levels, int8 (rows, cols), entries in [-L, L] (-1/0/+1 for ternary
  /// weights); rows in im2col order (input channel major, then kernel row, kernel column),
  /// cols = output channels.
  /// Continuous weights have no integer levels: LevelMatrix() holds them.
  torch::Tensor TernaryMatrix() const;
  /// The weight levels as floats (rows, cols), TernaryMatrix()'s layout: the integer levels, or
  /// for continuous weights w / scale in [-1, 1].
  torch::Tensor LevelMatrix() const;
  /// The weights quantized with this layer's options (levels in the weight's shape).
  TernaryWeights Quantized() const;
  /// A tensor of the weight's shape (out, in / groups[, kh, kw]) as the arrays hold it: (out,
  /// in[, kh, kw]), each group's block on the diagonal, zeros elsewhere (itself for groups 1).
  torch::Tensor Dense(const torch::Tensor& w) const;
  /// Dense()'s inverse: the diagonal blocks of (out, in[, kh, kw]), in the weight's shape.
  torch::Tensor Grouped(const torch::Tensor& dense) const;
  /// Per-column scale (float, (cols)): the weight of level +1 in column j is Scale()[j].
  torch::Tensor Scale() const;
  /// Bias (float, (cols)) or an undefined tensor.
  torch::Tensor Bias() const { return bias_; }
  /// The float weights the optimizer updates (out, in[, k, k]).
  torch::Tensor Weight() const { return weight_; }

  /// Input quantization: bits (0: float) and the step between levels (alpha / (2^bits - 1),
  /// signed alpha / (2^(bits-1) - 1)).
  int input_bits() const { return options_.input_bits; }
  double input_step() const;
  /// The input that the DACs drive at full read voltage: alpha (1 for float inputs).
  double input_full_scale() const;
  bool signed_input() const { return options_.signed_input; }
  /// ReLU, clip and quantize as forward() does before the product.
  torch::Tensor QuantizeInput(const torch::Tensor& x) const;
  /// im2col of quantized inputs: (N, C, H, W) -> (N * L, rows) for conv, (N, in) for Linear.
  torch::Tensor InputColumns(const torch::Tensor& xq) const;

  /// Called with the quantized input (N, C, H, W) or (N, in) of every forward pass while set:
  /// how the energy model counts a layer's reads and activations.
  using InputObserver = std::function<void(const torch::Tensor& xq)>;
  void SetInputObserver(InputObserver observer) { observer_ = std::move(observer); }
  void ClearInputObserver() { observer_ = nullptr; }

  void SetMvm(MvmFunction mvm) { mvm_ = std::move(mvm); }
  void ClearMvm() { mvm_ = nullptr; }
  bool has_mvm() const { return static_cast<bool>(mvm_); }

  void SetTrainingNoise(double sigma_w, std::uint64_t seed);
  /// IR-drop-aware training: in training forward passes the weight is scale * (levels +
  /// deviation + noise), `deviation` (float, the weight's shape, unit weights, no gradient) the
  /// chip's effective weight minus the ternary levels (experiment::IrAwareHook sets it). The
  /// straight-through gradient of the levels is unchanged. Undefined: none.
  void SetChipDeviation(torch::Tensor deviation);
  void ClearChipDeviation() { deviation_ = torch::Tensor(); }
  const torch::Tensor& chip_deviation() const { return deviation_; }

  /// A programmed chip's product, used by forward() in eval mode until cleared; it replaces the
  /// layer's own weights and bias (and an MVM function). Checked against the layer's shape.
  void SetChipProduct(ChipProduct product);
  void ClearChipProduct() { chip_.reset(); }
  bool has_chip_product() const { return chip_.has_value(); }
  std::int64_t chips() const { return chip_ ? chip_->chips : 1; }
  /// The digital product of this layer as a ChipProduct: the ternary weight (scale * levels) or
  /// the float weight, and the bias. `chips` copies side by side.
  ChipProduct DigitalProduct(std::int64_t chips = 1) const;
  /// Folds an affine map applied to the layer's outputs (eval-mode BatchNorm: y * s + t per
  /// output channel, s and t of size out) into the chip product; into the weight itself when
  /// the product is one part without `post` whose terms have no `post` either (a term's scale
  /// goes into its weight only where it is linear in it), so the fold costs nothing at run time.
  void FoldAffine(const torch::Tensor& s, const torch::Tensor& t);

  /// The weight the forward pass uses now (float; ternary + the chip's noise when drawn).
  torch::Tensor EffectiveWeight();

 private:
  torch::Tensor Product(const torch::Tensor& xq, const torch::Tensor& w, const torch::Tensor& bias,
                        std::int64_t groups = 1) const;
  torch::Tensor ChipForward(const torch::Tensor& xq) const;
  /// A product of one part without `post`, whose terms have none either, takes its output scale
  /// into the weights.
  void AbsorbOutScale();

  AnalogLayerOptions options_;
  torch::Tensor weight_;
  torch::Tensor bias_;
  torch::Tensor alpha_;  // parameter when learned, buffer otherwise
  MvmFunction mvm_;
  InputObserver observer_;
  torch::Tensor deviation_;
  double train_sigma_ = 0.0;
  std::optional<at::Generator> train_generator_;
  std::optional<ChipProduct> chip_;
};
TORCH_MODULE(AnalogLayer);

}  // namespace aimc::nn
