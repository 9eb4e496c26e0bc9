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

}  // namespace aimc::nn
