#pragma once

// The "sequential" network (NetworkOptions::steps): an imported nn.Sequential rebuilt from its
// model file. Internal to aimc::nn: MakeNetwork and NetworkOptions::Validate call these.

#include "aimc/nn/network.h"

namespace aimc::nn {

/// Checks every step and that their shapes chain from the image (in_channels, image_size) to
/// logits of `classes`; errors name the step.
void ValidateSequential(const NetworkOptions& options);

/// The network of `options.steps` (options validated), weights from torch's global generator.
Network MakeSequential(const NetworkOptions& options);

/// The module name of a step inside the network (dots, which torch forbids, become '_').
std::string StepModuleName(const SequentialStep& step);

/// The AnalogLayer of a crossbar step (mapping "ternary" or "float") of an imported network.
AnalogLayerOptions CrossbarLayerOptions(const SequentialStep& step, const NetworkOptions& network);

/// A step without weights (relu, relu6, pooling, flatten, dropout, identity) applied to `x` as
/// the network applies it (dropout only when `training`): the network's steps and the import's
/// float passes.
torch::Tensor ApplyFunctionStep(const SequentialStep& step, const torch::Tensor& x, bool training);

/// A float conv2d/linear product as PyTorch computes it (`step`'s stride, padding, dilation and
/// groups; `bias` may be undefined), for `chips` chips side by side: the same weights for every
/// chip, and an input of `step.in` channels (the image) read by all of them. The digital
/// weight layers of a sequential network, and the import's float passes (chips = 1).
torch::Tensor FloatStepProduct(const SequentialStep& step, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               std::int64_t chips = 1);

}  // namespace aimc::nn
