#include "aimc/experiment/chip_spec.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/experiment/calibration.h"

namespace aimc::experiment {

ChipSpec ChipSpec::WeightNoise(const nn::LevelNoise& noise) {
  ChipSpec spec;
  spec.noise = noise;
  return spec;
}

ChipSpec ChipSpec::Devices(std::shared_ptr<const device::DeviceCard> card,
                           const ChipOptions& options) {
  ChipSpec spec;
  spec.card = std::move(card);
  spec.options = options;
  return spec;
}

ChipSpec ChipSpec::FromConfig(const ChipConfig& config) {
  config.Validate();
  if (!config.uses_devices()) return WeightNoise(nn::LevelNoise::Uniform(config.sigma_w_test));
  return Devices(config.LoadCard(), config.Options());
}

void ChipSpec::Validate() const {
  if (uses_devices()) {
    options.Validate();
    Require(options.calibration_images == 0 || calibration != nullptr,
            "calibration_images = {}: the chip has no calibration set (CaptureCalibration)",
            options.calibration_images);
  } else {
    noise.Validate();
  }
}

nlohmann::json ChipSpec::ToJson() const {
  if (uses_devices()) return {{"mode", "devices"}, {"card", card->ToJson()}, {"chip", options.ToJson()}};
  return {{"mode", "weight_noise"},
          {"sigma_w", {noise.sigma[0], noise.sigma[1], noise.sigma[2]}}};
}

std::string ChipSpec::Describe() const {
  if (!uses_devices()) return "weight noise " + noise.ToString();
  std::string text =
      fmt::format("{} devices (R_ON {:.4g} Ohm), tiles {} x {}, wires {:.4g}/{:.4g} Ohm",
                  card->name(), card->r_on_ohm(), options.tile_rows, options.tile_cols,
                  options.crossbar.wire_row_ohm, options.crossbar.wire_col_ohm);
  const ChipOptions defaults;
  if (options.time_s != defaults.time_s || options.temperature_k != defaults.temperature_k)
    text += fmt::format(", read {:.4g} s after programming at {:.4g} K", options.time_s,
                        options.temperature_k);
  if (options.drift_compensation != defaults.drift_compensation)
    text += fmt::format(", drift compensation per {}", ToString(options.drift_compensation));
  if (options.calibration_images > 0)
    text += fmt::format(", calibrated per column on {} images", options.calibration_images);
  return text;
}

}  // namespace aimc::experiment
