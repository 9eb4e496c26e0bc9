#pragma once

#include <cstdint>
#include <string>

#include "aimc/experiment/chip.h"
#include "aimc/experiment/chip_config.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::experiment {

/// How many chips, on which images: the Monte-Carlo side of "chips of this model on this data".
struct ChipRunOptions {
  int chips = 10;
  std::uint64_t seed = 1;
  /// The first N test images (0: all).
  std::int64_t test_images = 0;
  /// Chips side by side in one pass over the images (0: automatic); results do not depend on it.
  int chips_per_pass = 0;
  bool progress = false;

  /// Throws aimc::Error naming the field.
  void Validate() const;
};

/// What RunChips found.
struct ChipRun {
  ChipStats stats;
  /// The chip in one line (ChipSpec::Describe).
  std::string chip;
  std::int64_t test_images = 0;
  /// Calibrated chips of a network trained IR-drop-aware: the calibration aims at the product
  /// it was trained with (its levels plus its chip deviation), which the caller may say.
  bool calibrates_ir_aware_network = false;
};

/// Chips of `config` with `network` on `data`, the one pipeline of `aimc test` and Python's
/// aimc.test_chips: the configuration validated and its card loaded, every chip calibrated (when
/// config.chip.calibration_images > 0) on the first that many training images (never test
/// images), chip c drawn from Rng::Derive(options.seed, c) and evaluated on the first
/// options.test_images test images.
ChipRun RunChips(nn::NetworkImpl& network, const nn::DataSplit& data, const ChipConfig& config,
                 const ChipRunOptions& options);

}  // namespace aimc::experiment
