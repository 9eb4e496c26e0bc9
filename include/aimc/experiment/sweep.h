#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"
#include "aimc/experiment/analog_chip.h"

namespace aimc::experiment {

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
  int chips = 1;

  ChipOptions chip;
  std::uint64_t seed = 1;
  int threads = 1;
  bool progress = true;

  /// Everything is checked before any work starts: models exist and load, fit the data set,
  /// cards load and can produce every R_ON and TMR, axes have values. Errors name the field.
  void Validate() const;
  nlohmann::json ToJson() const;
};

/// Reads an experiment file; errors name the file, the key and the reason (unknown keys too).
SweepOptions LoadSweep(const std::filesystem::path& path);

/// The result columns, one row per (model, card, point, chip).
const std::vector<std::string>& SweepColumns();

/// Runs every point not yet in `csv` and appends each finished one to it at once (fsync), so a
/// sweep killed at any moment and started again loses nothing and skips what it has. A manifest
/// <csv stem>.json beside it records the options. Returns the whole table (old and new rows).
Table RunSweep(const SweepOptions& options, const std::filesystem::path& csv,
               const std::string& command);

/// Mean of `value` over the rows whose `key` columns equal the given values (e.g. the mean error
/// over chips of one point).
double MeanWhere(const Table& table, const std::string& value,
                 const std::vector<std::pair<std::string, double>>& where);

}  // namespace aimc::experiment
