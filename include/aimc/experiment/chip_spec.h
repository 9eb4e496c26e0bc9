#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "aimc/device/card.h"
#include "aimc/experiment/chip_config.h"
#include "aimc/experiment/chip_options.h"
#include "aimc/nn/quant.h"

namespace aimc::experiment {

struct CalibrationSet;

/// What a chip is. One type for both ways aimc simulates a chip, so that a sweep, `aimc test` and
/// the figures call one interface:
///  - weight noise (the paper's Figs. 13-14): every ternary weight gets Gaussian noise of its
///    level's sigma (relative to the unit weight), drawn once per chip;
///  - devices: every weight a differential pair drawn from `card`, every tile's MVM the DC circuit
///    of its array (`options`: tiles, wires, drivers, sense amplifiers, ADC; Fig. 16), its devices
///    read under the card's physics at options.time_s and temperature_k.
struct ChipSpec {
  nn::LevelNoise noise;
  std::shared_ptr<const device::DeviceCard> card;  // set: device mode
  ChipOptions options;
  /// Device mode with options.calibration_images > 0: what the calibration is fitted on.
  std::shared_ptr<const CalibrationSet> calibration;

  static ChipSpec WeightNoise(const nn::LevelNoise& noise);
  static ChipSpec Devices(std::shared_ptr<const device::DeviceCard> card,
                          const ChipOptions& options = {});
  /// The chip a user configured: validated, its card loaded (weight noise without one). The
  /// calibration set, which needs the network and data, is the caller's (RunChips sets it).
  static ChipSpec FromConfig(const ChipConfig& config);
  bool uses_devices() const { return card != nullptr; }
  void Validate() const;
  /// Everything that defines the chip (the card's parameters in device mode).
  nlohmann::json ToJson() const;
  /// One line for logs: "weight noise sigma -1/0/+1 = ..." or "SOT-MRAM devices, R_ON ...".
  std::string Describe() const;
};

}  // namespace aimc::experiment
