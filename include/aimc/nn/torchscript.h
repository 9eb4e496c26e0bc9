#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/fields.h"
#include "aimc/nn/data.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/network.h"

namespace aimc::nn {

/// How a float PyTorch network (a TorchScript file) becomes an aimc network: post-training
/// quantization of every Conv2d/Linear it can map to ternary weights, calibrated on training
/// images (docs/byo.md).
struct ImportOptions {
  /// Bits of every analog layer's input (0: float). The first layer takes the image, 8-bit
  /// pixels in [0, 1], as aimc's own networks do.
  int act_bits = 8;
  /// The input range alpha of each analog layer (but the first): this percentile of its inputs
  /// on the calibration images (inputs clipped to [0, alpha], then act_bits levels). A fixed
  /// alpha > 0 replaces it (input_alpha).
  double input_percentile = 99.9;
  double input_alpha = 0.0;
  bool per_channel = true;  // ternary scale per output channel
  /// TWN threshold ratios tried per layer: the one whose output on the calibration inputs is
  /// closest (mean squared error) to the float layer's output is kept. One entry: fixed.
  std::vector<double> threshold_ratios = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  /// Weight levels of the layers on arrays: 3 ternary (the threshold search above); an odd
  /// K > 3 quantizes to the least-squares uniform grid of K levels (Ternarize), for
  /// multi-level devices, and the threshold ratios are not used.
  int weight_levels = 3;
  /// Keep the first and the last weight layer float and digital.
  bool float_first_last = false;
  /// A layer whose input can be negative (no ReLU before it: after a normalization, a GELU,
  /// an attention product) goes on arrays with a signed DAC (AnalogLayerOptions::signed_input:
  /// alpha the percentile of |input|); false keeps it float and digital.
  bool signed_inputs = true;
  /// Per ternary layer and threshold ratio, the scale fitted by least squares to the float
  /// layer's output on the calibration inputs (per output channel with per_channel, else one),
  /// instead of TWN's mean |w|, and the bias shifted by the mean error left (bias correction,
  /// Nagel et al., ICCV 2019). Off: TWN's scale and the module's bias, as aimc's training has.
  bool refit = true;
  /// Calibration images (the first N of the set given to ImportTorchScript).
  std::int64_t calibration_images = 256;
  /// What the imported network runs: "steps" translates the module into aimc's steps (arch
  /// "sequential", which needs no TorchScript later) and refuses a module with an operation
  /// they lack; "module" runs the module itself as LibTorch runs it (arch "torchscript": every
  /// operation the module has, its weight layers on arrays); "auto" translates where it can
  /// and runs the module otherwise.
  std::string execution = "auto";

  void Validate() const;
  nlohmann::json ToJson() const;
};

/// The fields of ImportOptions: names (the JSON keys of a manifest), ranges, and weight_levels
/// written only when not 3 (ternary imports keep the manifests they had).
const FieldTable<ImportOptions>& ImportOptionsFields();

/// What became of one Conv2d/Linear of the imported module.
struct ImportedLayer {
  std::string name;    // the submodule's path in the TorchScript module ("features.0")
  std::string kind;    // "Conv2d" or "Linear"
  bool analog = false; // ternary on arrays; else float and digital
  std::string reason;  // why it stays digital (empty when analog)
  double threshold_ratio = 0.0;
  int weight_levels = 3;
  double input_alpha = 0.0;
  double relative_error = 0.0;  // ||y_ternary - y_float|| / ||y_float|| on the calibration inputs
};

/// The network and what was made of each weight layer, in forward order.
struct ImportResult {
  Network network;
  std::vector<ImportedLayer> layers;
  /// One line per layer for the user ("features.0 Conv2d 1->6 k5: analog, ratio 0.7, ...").
  std::string Describe() const;
};

/// Imports a TorchScript module (torch.jit.save of a scripted or traced nn.Module, PyTorch
/// 1.13+) as an aimc network (arch "sequential": NetworkOptions::steps, so that SaveModel keeps it and
/// LoadModel rebuilds it without the file) that runs on chips like the built-in ones
/// (experiment::Chip, TestChips).
///
/// What it takes: Conv2d, Linear, BatchNorm2d/BatchNorm1d, ReLU, ReLU6, MaxPool2d, AvgPool2d,
/// AdaptiveAvgPool2d, Flatten, Dropout and Identity, in Sequentials or in modules whose own
/// forward combines them with a ResNet's functional operations (relu, pooling, flatten, view,
/// mean, dropout, the sum of two activations): the forward's TorchScript graph is followed into
/// a graph of steps (SequentialStep::inputs, "add"). It takes images (N, C, H, W) scaled to
/// [0, 1] and returns logits. Anything else (another operation or submodule type, an if or loop
/// on the input) is refused (aimc::Error naming the module, method and operation). Each
/// Conv2d/Linear whose input is non-negative (the image, or a ReLU's output through
/// pooling/flatten/dropout and sums of such) and that a crossbar can take (square kernel, symmetric zero
/// padding, no dilation, one group) becomes a ternary AnalogLayer; the others stay float and
/// digital, and ImportResult::layers says why. A BatchNorm right after a layer is folded into it
/// on chips, as in aimc's networks.
///
/// `calibration`: training images (the first options.calibration_images of it) whose shapes and
/// classes define the network's input; never test images.
///
///   ImportResult r = ImportTorchScript("lenet.pt", {}, LoadData("fashion-mnist").train);
///   experiment::TestChips(*r.network, test, spec, 10, seed);
ImportResult ImportTorchScript(const std::filesystem::path& path, const ImportOptions& options,
                               const Dataset& calibration);

/// A TorchScript module's bytes (torch.jit.save) imported to run as LibTorch runs it (arch
/// "torchscript", ImportOptions::execution "module"), calibrated on `inputs`, the network's
/// float inputs (N, C, H, H) as the module takes them; `data_classes` > 0 checks the module's
/// outputs against it. What Python's aimc.analog programs chips of: a module that Python's
/// aimc.analog.convert made keeps its layers as they were converted (their specs, alphas and
/// float weights), and its other weight layers stay digital. `what` names it in errors.
ImportResult ImportScriptBytes(std::string bytes, const std::string& what,
                               const ImportOptions& options, const torch::Tensor& inputs,
                               std::int64_t data_classes = 0, const std::string& data_name = "");

/// An import with what its model file says of it.
struct ImportedModel {
  ImportResult import;
  /// training: `dataset` and `data_dir`, init_from = the TorchScript file and init_from_hash its
  /// content's hash (what defines the weights), 0 epochs; history: one entry whose test_accuracy
  /// is the digital accuracy on the first `test_images` test images (0: all).
  ModelInfo info;
  /// The float module's own accuracy on the same images (LibTorch runs the file as it is).
  double float_accuracy = 0.0;
  /// Empty, or, where the import loses more than 2 points against the float module, what it
  /// lost, the layers of largest output error and the remedies (also logged as a warning).
  std::string warning;
};

/// ImportTorchScript on `data.train` as a model: what `aimc import` and Python's
/// aimc.import_torchscript save with SaveModel(out, *m.import.network, m.info).
ImportedModel ImportAsModel(const std::filesystem::path& path, const ImportOptions& options,
                            const std::string& dataset, const std::filesystem::path& data_dir,
                            const DataSplit& data, std::int64_t test_images = 0);

}  // namespace aimc::nn
