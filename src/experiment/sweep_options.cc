#include "aimc/experiment/sweep_options.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "aimc/circuit/crossbar.h"
#include "aimc/common/json_default.h"
#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/nn/data.h"
#include "aimc/nn/runtime.h"

namespace aimc::experiment {

namespace {

// The axes' values, each against its range; an axis of read conditions against the chip's own
// checks, which name the field.
void ValidateAxes(const SweepOptions& o) {
  for (double s : o.sigma_w_test)
    Require(std::isfinite(s) && s >= 0, "axes.sigma_w_test values must be >= 0, got {}", s);
  for (double w : o.wire_ohm)
    Require(w == 0.0 || (w >= circuit::kMinParasiticOhm && w <= circuit::kMaxParasiticOhm),
            "axes.wire_ohm values must be 0 or in [{}, {}] ohm, got {}", circuit::kMinParasiticOhm,
            circuit::kMaxParasiticOhm, w);
  for (double r : o.r_on_ohm)
    Require(r >= device::kMinDeviceOhm && r <= device::kMaxDeviceOhm,
            "axes.r_on_ohm values must be in [{}, {}] ohm, got {}", device::kMinDeviceOhm,
            device::kMaxDeviceOhm, r);
  for (auto t : o.tile_rows) Require(t >= 1, "axes.tile_rows values must be >= 1, got {}", t);
  for (double t : o.tmr) Require(std::isfinite(t) && t > 0, "axes.tmr values must be > 0, got {}", t);
  Require(!o.time_s.empty(), "axes.time_s has no values");
  Require(!o.temperature_k.empty(), "axes.temperature_k has no values");
  o.chip.Validate();
  // The axis values replace the chip's read conditions: each must make a valid chip.
  const auto check_axis = [&o](const std::vector<double>& values, double ChipOptions::*member) {
    for (double v : values) {
      ChipOptions at = o.chip;
      at.*member = v;
      try {
        at.Validate();
      } catch (const Error& e) {
        Fail("axes.{}", e.what());
      }
    }
  };
  check_axis(o.time_s, &ChipOptions::time_s);
  check_axis(o.temperature_k, &ChipOptions::temperature_k);
}

// Weight-noise mode takes none of the device axes and options; device mode takes no
// sigma_w,test (the devices give the spread).
void ValidateMode(const SweepOptions& o) {
  if (o.cards.empty()) {
    Require(o.r_on_ohm.empty(), "axes.r_on_ohm needs cards (the devices that set R_ON)");
    Require(o.tmr.empty(), "axes.tmr needs cards");
    const SweepOptions defaults;
    Require(o.time_s == defaults.time_s && o.temperature_k == defaults.temperature_k &&
                o.chip.drift_compensation == defaults.chip.drift_compensation &&
                o.chip.calibration_images == defaults.chip.calibration_images,
            "axes.time_s, axes.temperature_k, chip.drift_compensation and "
            "chip.calibration_images need cards: they act on devices, not on weight noise");
    for (double w : o.wire_ohm) {
      Require(w == 0.0,
              "axes.wire_ohm = {} needs cards: wire resistance acts on devices, not on weight noise",
              w);
    }
  } else {
    Require(o.sigma_w_test.size() == 1 && o.sigma_w_test[0] == 0.0,
            "axes.sigma_w_test applies without cards; with cards the weight spread comes from the "
            "devices");
  }
}

}  // namespace

energy::EnergyOptions SweepEnergyDefaults() {
  energy::EnergyOptions o;
  o.split_mvms = 0;
  return o;
}

void SweepOptions::Validate() const {
  Require(!name.empty(), "name must not be empty");
  Require(!models.empty() || !torchscript.empty(),
          "models or torchscript must list at least one model file");
  for (std::size_t m = 0; m < torchscript.size(); ++m)
    for (std::size_t n = 0; n < m; ++n)
      Require(torchscript[n].stem() != torchscript[m].stem(),
              "torchscript[{}] and [{}] have one stem '{}': their imports would share a file",
              n, m, torchscript[m].stem().string());
  Require(torchscript.empty() || !dataset.empty(),
          "torchscript: an import needs `dataset` (its training images calibrate it)");
  if (!torchscript.empty()) import.Validate();
  Require(!sigma_w_test.empty(), "axes.sigma_w_test has no values");
  Require(!wire_ohm.empty(), "axes.wire_ohm has no values");
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  energy.Validate();
  Require(test_images >= 0, "test_images must be >= 0 (0: all), got {}", test_images);
  nn::RequireThreads(threads);
  ValidateAxes(*this);
  ValidateMode(*this);
  // A name only: ShapeOf reads no file for a name that is not a user's data set.
  if (!dataset.empty() && !nn::IsUserDataset(dataset)) nn::ShapeOf(dataset);
}

nlohmann::json SweepOptions::ToJson() const {
  std::vector<std::string> model_paths;
  for (const auto& m : models) model_paths.push_back(m.string());
  nlohmann::json j = {{"name", name},
                      {"models", model_paths},
                      {"cards", cards},
                      {"dataset", dataset},
                      {"data_dir", data_dir.string()},
                      {"test_images", test_images},
                      {"axes",
                       {{"sigma_w_test", sigma_w_test},
                        {"r_on_ohm", r_on_ohm},
                        {"wire_ohm", wire_ohm},
                        {"tile_rows", tile_rows},
                        {"tmr", tmr}}},
                      {"chips", chips},
                      {"chip", chip.ToJson()},
                      {"seed", seed}};
  // Only where set, so that the definition of an experiment from before these axes is unchanged
  // and its results continue.
  const SweepOptions defaults;
  SetUnlessDefault(j["axes"], "time_s", time_s, defaults.time_s);
  SetUnlessDefault(j["axes"], "temperature_k", temperature_k, defaults.temperature_k);
  SetUnlessDefault(j, "measure_energy", measure_energy, defaults.measure_energy);
  // Only with TorchScript files: other experiments keep their definitions (and results).
  if (!torchscript.empty()) {
    std::vector<std::string> files;
    for (const auto& f : torchscript) files.push_back(f.string());
    j["torchscript"] = files;
    j["import"] = import.ToJson();
  }
  SetUnlessDefault(j, "energy", energy.ToJson(), defaults.energy.ToJson());
  return j;
}

}  // namespace aimc::experiment
