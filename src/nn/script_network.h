#pragma once

// A TorchScript module as an aimc network (arch "torchscript"): the module runs as LibTorch runs
// it, and each of its weight layers that the import put on arrays is replaced, in its inlined
// forward graph, by a call of the operator aimc::weight_layer, which runs the AnalogLayer.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

#include "aimc/nn/network.h"

namespace aimc::nn {

/// NetworkOptions::Validate's part for arch "torchscript": its weight steps and script hash.
void ValidateScriptSteps(const NetworkOptions& options);
/// The network of arch "torchscript" (options.script holds the module's archive).
Network MakeScriptNetwork(const NetworkOptions& options);

namespace internal {

/// One call of a weight product in a module's inlined forward: aten::conv1d/conv2d/conv3d,
/// aten::_convolution (a traced convolution), aten::linear or aimc::analog_layer, on a weight
/// that is a tensor attribute of the module (a Conv/Linear submodule's, or a parameter given to
/// F.conv2d).
struct WeightCall {
  torch::jit::Node* node = nullptr;
  /// The layer: its module's path ("features.0") when the weight is that module's `weight`,
  /// else the weight's own path ("block.kernel"). Two calls with one name share the weights.
  std::string name;
  std::string kind;  // "Conv2d", "Conv1d", "Linear"... (what the call computes)
  std::string weight_path, bias_path;  // bias_path empty: no bias (or not a module tensor)
  SequentialStep step;  // type conv2d/linear, in, out, kernel, stride, padding, dilation, groups, bias
  torch::Tensor weight, bias;
  std::string unsupported;    // why no crossbar layer takes it (empty: one can)
  bool takes_image = false;   // its input is the module's input
  bool non_negative = false;  // its input cannot be negative, by the operations before it
  /// A call of aimc::analog_layer (an analog layer of Python's aimc.analog): the layer as its
  /// converter mapped it, input_alpha the value of its alpha; the step holds the same mapping.
  std::optional<AnalogLayerOptions> mapped;
  std::string alpha_path;
};

/// A module read from its archive's bytes, its forward inlined into one graph (self first).
struct ScriptGraph {
  torch::jit::Module module;
  std::shared_ptr<torch::jit::Graph> graph;
  std::vector<WeightCall> calls;  // in the graph's order
};

/// Reads a TorchScript archive. `what` names it in errors (the file).
ScriptGraph ReadScript(const std::string& bytes, const std::string& what);

/// Replaces the node of calls[i] by aimc::weight_layer(input, slots[i]) where slots[i] >= 0.
void ReplaceCalls(ScriptGraph& script, const std::vector<std::int64_t>& slots);

/// What aimc::weight_layer(x, slot) computes: slots are process-wide, held by their owner.
using SlotFunction = std::function<torch::Tensor(const torch::Tensor&)>;
class Slots {
 public:
  Slots() = default;
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;
  ~Slots();
  std::int64_t Add(SlotFunction function);

 private:
  std::vector<std::int64_t> ids_;
};

/// Runs a module's (rewritten) forward graph on `input`, as LibTorch's interpreter runs it (no
/// graph optimization: the module's own arithmetic). Its output: a tensor, or the first
/// element of a tuple (GoogLeNet's and Inception's named outputs). `what` names the module.
class ScriptRunner {
 public:
  ScriptRunner(torch::jit::Module module, std::shared_ptr<torch::jit::Graph> graph,
               std::string what);
  torch::Tensor operator()(const torch::Tensor& input) const;
  torch::jit::Module& module() { return module_; }

 private:
  torch::jit::Module module_;
  std::shared_ptr<torch::jit::GraphFunction> function_;
  std::string what_;
};

}  // namespace internal
}  // namespace aimc::nn
