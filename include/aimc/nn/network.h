#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/nn/module.h>

#include "aimc/common/fields.h"
#include "aimc/energy/model.h"
#include "aimc/nn/analog_layer.h"

namespace aimc::nn {

/// One step of a "sequential" network: a user's nn.Sequential as aimc imported it
/// (ImportTorchScript, docs/byo.md), saved in the model file so that it rebuilds without the
/// TorchScript file. Keys by type (all sizes in elements):
///   conv2d:  in, out, kernel, stride, padding, dilation (2 each), groups, bias, mapping
///   linear:  in, out, bias, mapping
///   batchnorm2d / batchnorm1d: out (features), eps, momentum
///   maxpool2d: kernel, stride, padding, dilation, ceil_mode
///   avgpool2d: kernel, stride, padding, ceil_mode, count_include_pad
///   adaptiveavgpool2d: output_size;  flatten (from dim 1);  dropout: p;  relu, relu6, identity;
///   add: the sum of its two inputs (a residual connection).
/// A step takes the output of the step before it (the image for the first), or, where `inputs`
/// is set, the outputs of those earlier steps (-1: the image): the graph of a module with its
/// own forward (a ResNet), in the order its forward runs. The network's output is the last
/// step's.
/// A weight layer's `mapping` is "ternary" (on arrays: threshold_ratio, input_alpha,
/// input_bits), "float" (an AnalogLayer kept float and digital: float_first_last) or "digital"
/// (a float product no crossbar layer takes; `reason` says why).
struct SequentialStep {
  std::string type;
  std::string name;  // the submodule's path in the imported module ("features.0")
  std::vector<std::int64_t> inputs;  // earlier steps' indices (-1: the image); empty: the last
  std::int64_t in = 0, out = 0;
  std::vector<std::int64_t> kernel = {1, 1}, stride = {1, 1}, padding = {0, 0},
                            dilation = {1, 1}, output_size = {1, 1};
  std::int64_t groups = 1;
  bool bias = false;
  std::string mapping;  // weight layers only
  std::string reason;   // why a weight layer is not ternary (empty when it is)
  double threshold_ratio = 0.7;
  int weight_levels = 3;  // on arrays: 3 ternary, odd K > 3 multi-level (AnalogLayerOptions)
  double input_alpha = 1.0;
  int input_bits = 0;
  bool signed_input = false;  // on arrays with a signed DAC (AnalogLayerOptions::signed_input)
  double eps = 1e-5, momentum = 0.1;  // BatchNorm
  bool ceil_mode = false, count_include_pad = true;  // pooling
  double p = 0.5;  // Dropout

  bool is_weight_layer() const { return type == "conv2d" || type == "linear"; }
  /// An AnalogLayer (ternary or float): "ternary" or "float" mapping.
  bool is_crossbar() const { return is_weight_layer() && mapping != "digital"; }
  nlohmann::json ToJson() const;
  /// Reads what ToJson wrote; `what` names the step in errors ("network step 3").
  static SequentialStep FromJson(const nlohmann::json& json, const std::string& what);
};

/// What a network is made of; saved in every checkpoint, so a model file rebuilds itself.
struct NetworkOptions {
  /// "lenet5" (CNN 1, Fig. 13a), "resnet26" (CNN 2, Fig. 14a), "sequential" (`steps`, an
  /// imported network translated into aimc's steps) or "torchscript" (an imported module that
  /// runs as LibTorch runs it, `script`, with the weight layers of `steps` on arrays).
  std::string arch = "lenet5";
  std::int64_t in_channels = 1;
  std::int64_t image_size = 28;  // 28 or 32 (square images); sequential: 1..1024
  std::int64_t classes = 10;
  std::int64_t width = 1;        // resnet26: channels 16/32/64 times width
  bool ternary = true;           // false: a float network (the baseline)
  int act_bits = 4;              // activation bits of every analog layer's input (0: float)
  bool per_channel = true;       // ternary scale per output channel
  double threshold_ratio = 0.7;  // TWN threshold
  /// Weight levels of every layer on arrays: 3 ternary (the paper's), an odd K > 3 integer
  /// levels in [-(K-1)/2, (K-1)/2] on multi-level devices (written to JSON only when not 3).
  int weight_levels = 3;
  bool float_first_last = false; // keep the first and last layer float and digital
  /// arch "sequential": its steps in forward order; "torchscript": one step per weight layer
  /// of the module (conv2d/linear, `name` its path in the module), in the order its forward
  /// first calls them (written by ToJson only for these two).
  std::vector<SequentialStep> steps;
  /// arch "torchscript": the content hash (HashHex) of the TorchScript archive (written by
  /// ToJson only then), and the archive's bytes, which a model file keeps beside the weights
  /// (not JSON: a module's parameters take megabytes).
  std::string script_hash;
  std::shared_ptr<const std::string> script;

  /// Checks every field and, for "sequential", that the steps' shapes chain from the image to
  /// the logits (errors name the step).
  void Validate() const;
  nlohmann::json ToJson() const;
  /// Reads what ToJson wrote; unknown keys are an error naming them.
  static NetworkOptions FromJson(const nlohmann::json& json);
};

/// The fields of NetworkOptions: names, ranges (those that depend on the arch are
/// NetworkOptions::Validate's) and how a model file's JSON writes them (weight_levels only when
/// not 3, steps only for "sequential": the built-in networks keep their bytes and model hashes).
const FieldTable<NetworkOptions>& NetworkOptionsFields();

/// A network whose weight layers are AnalogLayers. The input is images scaled to [0, 1]
/// (float, (N, C, H, W)); the output is logits (N, classes).
class NetworkImpl : public torch::nn::Module {
 public:
  explicit NetworkImpl(NetworkOptions options) : options_(std::move(options)) {}
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;

  const NetworkOptions& options() const { return options_; }
  /// Every weight layer in forward order (float ones included), and their names.
  const std::vector<AnalogLayer>& layers() const { return layers_; }
  const std::vector<std::string>& layer_names() const { return layer_names_; }
  /// The ternary layers, the ones an analog simulator maps onto arrays.
  std::vector<AnalogLayer> AnalogLayers() const;

  /// sigma_w,train for every ternary layer; layer i draws from seed Rng::Derive(seed, i).
  void SetTrainingNoise(double sigma_w, std::uint64_t seed);
  /// Programs simulated chips for eval-mode inference: `products[i]` for the i-th ternary layer
  /// (AnalogLayers() order), all with the same number of chips K; float layers compute their
  /// own weights K times, and every BatchNorm is folded into the layer before it. forward() then
  /// takes images (N, C, H, W) and returns the K chips' logits side by side, (N, K * classes).
  /// Stays until ClearChips().
  void ProgramChips(std::vector<ChipProduct> products);
  void ClearChips();
  /// Digital work per image outside the weight layers (pooling, residual additions, global
  /// average), given each weight layer's output elements per image (layers() order).
  virtual energy::OtherOps CountOtherOps(const std::vector<double>& layer_outputs) const = 0;
  /// Chips side by side in forward() now (1 when none is programmed).
  std::int64_t chips() const { return chips_; }
  /// Programming is exclusive: whoever programs chips (experiment::Chip, EvaluateChips) claims
  /// the network first and releases it when done, so that a second chip is refused rather than
  /// silently reprogramming the first (or clearing it when destroyed). Claiming again with the
  /// same owner is allowed; throws aimc::Error naming what holds the network.
  void ClaimChips(const void* owner, const std::string& what);
  /// Releases a claim of `owner` (nothing when it holds none).
  void ReleaseChips(const void* owner);
  const void* chip_owner() const { return chip_owner_; }

 protected:
  AnalogLayer AddLayer(const std::string& name, AnalogLayerOptions layer);
  /// Registers a BatchNorm that takes `layer`'s output directly, so that a chip can fold it.
  template <typename Norm>
  Norm AddNorm(const std::string& name, const AnalogLayer& layer, Norm norm) {
    norm = register_module(name, norm);
    RegisterFold(layer, norm.ptr(), norm->options.eps());
    return norm;
  }
  /// A registered BatchNorm in forward(): skipped while folded into its layer.
  template <typename Norm>
  torch::Tensor Normalize(Norm& norm, const torch::Tensor& x) {
    return folded_ && !is_training() ? x : norm(x);
  }
  /// Layer options from the network's options: ternary/bits/scale; `first`/`last` apply the
  /// float_first_last option and the image input range.
  AnalogLayerOptions LayerOptions(LayerKind kind, std::int64_t in, std::int64_t out, bool first,
                                  bool last) const;

 private:
  struct Fold {
    std::size_t layer;
    std::shared_ptr<torch::nn::Module> norm;
    double eps;
  };
  void RegisterFold(const AnalogLayer& layer, std::shared_ptr<torch::nn::Module> norm, double eps);

  NetworkOptions options_;
  std::vector<AnalogLayer> layers_;
  std::vector<std::string> layer_names_;
  std::vector<Fold> folds_;
  bool folded_ = false;
  std::int64_t chips_ = 1;
  const void* chip_owner_ = nullptr;
  std::string chip_owner_what_;
};
using Network = std::shared_ptr<NetworkImpl>;

/// Builds a network with weights initialized from `seed` (torch's global generator is seeded
/// with it, so the same seed gives the same weights).
Network MakeNetwork(const NetworkOptions& options, std::uint64_t seed);

/// Converts a batch of uint8 images (N, C, H, W) to the network's input (float, [0, 1]).
torch::Tensor ToInput(const torch::Tensor& images);

}  // namespace aimc::nn
