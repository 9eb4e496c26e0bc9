#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/fields.h"
#include "aimc/energy/model.h"
#include "aimc/experiment/chip_options.h"
#include "aimc/nn/torchscript.h"

namespace aimc::experiment {

/// The energy options of a sweep point by default: the model's defaults without the split into
/// devices and parasitics (full solves), which a sweep does not report.
energy::EnergyOptions SweepEnergyDefaults();

/// An experiment: trained models tested on simulated chips over a grid of design points.
/// Written as a TOML file (configs/experiments/*.toml, see docs/sweep.md) or built in code.
///
/// Without cards, a point is the paper's weight-noise test (Figs. 13-14): every ternary weight
/// gets Gaussian noise sigma_w,test (relative to the unit weight), one draw per chip. With cards,
/// a point is a chip: devices drawn from the card (at the point's R_ON and TMR), each tile solved
/// as its DC circuit with the point's wire resistance (Fig. 16).
struct SweepOptions {
  std::string name = "sweep";
  std::vector<std::filesystem::path> models;
  /// TorchScript files (float PyTorch networks, docs/byo.md) imported when the sweep runs, as
  /// `aimc import` does with `import` (table [import]) on the training images of `dataset`,
  /// which they need; on one thread, so that a rerun imports the same bytes. Each import is
  /// saved as <result stem>_imports/<file stem>.pt beside the result CSV and is one more model,
  /// after `models`.
  std::vector<std::filesystem::path> torchscript;
  nn::ImportOptions import;
  /// Card files or preset names (sot_mram, ...); empty: weight-noise mode.
  std::vector<std::string> cards;
  /// The data set the models are tested on ("" = the one each model was trained on).
  std::string dataset;
  std::filesystem::path data_dir;
  /// First N test images (0: the whole test set).
  std::int64_t test_images = 0;

  // Axes: every combination is a point.
  std::vector<double> sigma_w_test = {0.0};  // weight-noise mode only
  std::vector<double> r_on_ohm;              // card mode; empty: each card's own R_ON
  std::vector<double> wire_ohm = {0.0};      // per segment, row and column lines alike
  std::vector<std::int64_t> tile_rows;       // empty: chip.tile_rows
  std::vector<double> tmr;                   // card mode; empty: each card's own
  std::vector<double> time_s = {0.0};        // card mode: read time since programming
  std::vector<double> temperature_k = {298.15};  // card mode: read temperature
  int chips = 1;

  ChipOptions chip;
  /// Device mode: every point also measures the energy of an inference on its chip
  /// (Chip::MeasureCost; table [energy] of the file). Sweeps split no MVMs by default.
  bool measure_energy = true;
  energy::EnergyOptions energy = SweepEnergyDefaults();
  std::uint64_t seed = 1;
  int threads = 1;
  bool progress = true;
  /// The experiment file these options were read from (LoadSweep; empty when built in code):
  /// errors of CheckSweepInputs name it. Not part of the experiment's definition.
  std::filesystem::path source_file;

  /// The options alone, reading no file: names, counts and axes in range, the modes consistent
  /// (device axes need cards). Errors name the field, its value and the allowed range.
  void Validate() const;
  nlohmann::json ToJson() const;
};

/// The fields of SweepOptions: names, ranges, and the JSON that defines an experiment (the key
/// of its results: read time and temperature axes, measure_energy, the imports and the energy
/// options only where they are not the defaults, so that older experiments keep their results).
/// threads and progress are options of a run, not of the experiment: never written.
const FieldTable<SweepOptions>& SweepOptionsFields();

/// Reads an experiment file and validates it (SweepOptions::Validate); errors name the file, the
/// key and the reason (unknown keys too). The files it names are checked by CheckSweepInputs.
SweepOptions LoadSweep(const std::filesystem::path& path);

/// The checks of an experiment that read files, which RunSweep runs once before any point:
/// TorchScript files exist, cards load and can produce every R_ON and TMR of the axes, models
/// exist, load, are ternary and fit the data set. Errors name the field (and source_file).
void CheckSweepInputs(const SweepOptions& options);

}  // namespace aimc::experiment
