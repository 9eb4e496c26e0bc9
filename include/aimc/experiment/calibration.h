#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::experiment {

/// What a chip's calibration is fitted on: the quantized inputs every analog layer sees when the
/// digital network runs the calibration images (im2col columns, double, (M, rows) per layer,
/// at most max_mvms_per_layer of them, evenly spread). Shared by every chip of a network.
struct CalibrationSet {
  std::int64_t images = 0;
  std::vector<torch::Tensor> inputs;  // per analog layer, AnalogLayers() order
};
/// Runs `network` (digital, eval mode, no chip programmed) on `calibration` and keeps each analog
/// layer's inputs. Throws aimc::Error for an empty set or a network with a chip programmed.
std::shared_ptr<const CalibrationSet> CaptureCalibration(nn::NetworkImpl& network,
                                                         const nn::Dataset& calibration,
                                                         std::int64_t max_mvms_per_layer = 4096);

}  // namespace aimc::experiment
