#pragma once

// The analog layer as a PyTorch operator, aimc::analog_layer: what Python's aimc.analog layers
// (AnalogLinear, AnalogConv1d, AnalogConv2d) call in their forward, eagerly or scripted, and what
// the TorchScript import recognizes as a layer mapped by its converter (docs/python.md).
//
//   aimc::analog_layer(Tensor x, Tensor weight, Tensor? bias, Tensor alpha, Tensor? deviation,
//                      str spec, float sigma_w, int seed, int draw) -> Tensor
//
// It computes what AnalogLayerImpl::forward computes without a chip: the input through the DAC
// (PactQuantize's levels: clip to [0, alpha] or [-alpha, alpha], input_bits), the weights
// quantized (QuantizeWeights: ternary, K levels or continuous), plus the chip deviation
// (IR-drop-aware training) and, where sigma_w > 0, the training noise of Fig. 12, then the
// layer's convolution or linear product (LayerProduct) and its bias. The gradients are aimc
// train's straight-through ones (the identity to the float weights; PACT's to the input and
// alpha), each piece one autograd node that computes its value in place: the same values up to
// the float rounding of the order of operations; the DAC's passes and the ternary weight's are
// fused loops over float tensors (src/nn/analog_kernels.h), ATen's passes otherwise. The noise is
// drawn in parallel, chunk c of 65,536 weights from Rng::Derive(Rng::Derive(seed, draw), c), the
// same whatever the threads.

#include <cstdint>
#include <string>
#include <string_view>

#include <torch/types.h>

#include "aimc/nn/analog_layer.h"
#include "aimc/nn/quant.h"

namespace aimc::nn {

/// The chip's ADC in the forward pass (optional spec keys "adc_bits", "tile_rows",
/// "adc_full_scale_fraction": the chip's options of those names): the layer's matrix read in
/// blocks of tile_rows rows (im2col order, as the chip's tiles; a grouped layer's groups on the
/// diagonal blocks of its dense matrix), each block's partial sum in unit weights through its own
/// ADC (AdcFullScaleOf and AdcStepOf, the chip's rule: full scale fraction x rows x the DAC's
/// full scale x the top level; clipped, rounded to the step, straight through inside the clip),
/// then the sum. bits 0: an ideal readout (no blocks). Layers on arrays only (not float ones);
/// the import ignores these keys (a chip applies its own ADC).
struct LayerAdc {
  int bits = 0;
  std::int64_t tile_rows = 1024;
  double full_scale_fraction = 0.25;
};

/// A layer's spec: JSON of the geometry and mapping of one analog layer, e.g.
///   {"kind":"conv2d","in":3,"out":16,"kernel":[3,3],"stride":[1,1],"padding":[1,1],
///    "dilation":[1,1],"groups":1,"bias":true,"ternary":true,"weight_levels":3,
///    "threshold_ratio":0.7,"input_bits":4,"signed_input":false}
/// kind "conv1d" takes one-element lists (a conv of height 1: its tensors have no height
/// dimension); "linear" has no kernel keys; the ADC keys are optional.
struct LayerSpec {
  AnalogLayerOptions options;
  bool conv1d = false;
  LayerAdc adc;
};
/// Unknown keys and values out of range are errors naming the key; `what` names the layer.
LayerSpec ParseLayerSpec(std::string_view spec, const std::string& what);

/// The ADC's full scale for a block of `rows` rows whose inputs reach input_full_scale and whose
/// weights reach level `max_level`: the largest possible output times `fraction`. What
/// experiment::AdcFullScale computes for a chip's tiles (it calls this).
double AdcFullScaleOf(double fraction, std::int64_t rows, double input_full_scale, int max_level);
/// A symmetric mid-tread ADC's step: full_scale / (2^(bits - 1) - 1), so that 0 and +-full scale
/// are levels (experiment::AdcStep calls this).
double AdcStepOf(double full_scale, int bits);

/// The weight a training forward pass uses: scale * (levels + deviation) + noise, the levels
/// straight-through to `weight` (TernarySte); float layers keep `weight`. Noise: sigma_w *
/// max_level * scale * N(0, 1) from `generator`, without gradient (Fig. 12). AnalogLayerImpl's;
/// aimc::analog_layer builds the same value in place, under one autograd node.
torch::Tensor TrainingWeight(const torch::Tensor& weight, const AnalogLayerOptions& options,
                             const torch::Tensor& deviation, double sigma_w,
                             at::Generator* generator);

/// The layer's own product (conv2d with its geometry, or linear) of quantized inputs `xq` with
/// `w` and `bias`; groups as given (chips side by side use their own).
torch::Tensor LayerProduct(const AnalogLayerOptions& options, const torch::Tensor& xq,
                           const torch::Tensor& w, const torch::Tensor& bias, std::int64_t groups);

/// aimc::analog_layer's computation (see above) for a parsed spec.
torch::Tensor AnalogLayerFunction(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, const torch::Tensor& alpha,
                                  const torch::Tensor& deviation, const LayerSpec& spec,
                                  double sigma_w, std::uint64_t seed, std::int64_t draw);

}  // namespace aimc::nn
