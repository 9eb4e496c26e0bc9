#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/csv.h"
#include "aimc/experiment/chip.h"
#include "aimc/nn/torchscript.h"

namespace aimc::experiment {

/// An experiment: trained models tested on simulated chips over a grid of design points.
/// Written as a TOML file (configs/experiments/*.toml, see docs/sweep.md) or built in code.
///
/// Without cards, a point is the paper's weight-noise test (Figs. 13-14): every ternary weight
/// gets Gaussian noise sigma_w,test (relative to the unit weight), one draw per chip. With cards,
/// a point is a chip: devices drawn from the card (at the point's R_ON and TMR), each tile solved
/// as its DC circuit with the point's wire resistance (Fig. 16).
/// The energy options of a sweep point by default: the model's defaults without the split into
/// devices and parasitics (full solves), which a sweep does not report.
energy::EnergyOptions SweepEnergyDefaults();

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

  /// Everything is checked before any work starts: models exist and load, fit the data set,
  /// cards load and can produce every R_ON and TMR, axes have values. Errors name the field.
  void Validate() const;
  nlohmann::json ToJson() const;
};

/// Reads an experiment file; errors name the file, the key and the reason (unknown keys too).
SweepOptions LoadSweep(const std::filesystem::path& path);

/// One point of a sweep: one model on one chip. The CSV's key columns are these fields (and the
/// fingerprints of the model file and the card beside them), so a row names what it measured.
struct SweepPoint {
  std::size_t model = 0;       // index into SweepOptions::models
  int card = -1;               // index into SweepOptions::cards; -1: weight-noise mode
  double sigma_w_test = 0.0;   // weight-noise mode
  double r_on_ohm = 0.0;       // device mode: the card's nominal R_ON at this point
  double wire_ohm = 0.0;       // per segment, rows and columns
  std::int64_t tile_rows = 0;  // device mode
  double tmr = 0.0;            // device mode: E[G_on]/E[G_off] - 1 of the card at this point
  double time_s = 0.0;         // device mode: read time since programming (s)
  double temperature_k = 298.15;  // device mode: read temperature (K)
  int chip = 0;                // Monte-Carlo chip, seed Rng::Derive(seed, chip)

  bool uses_devices() const { return card >= 0; }
};

/// A finished point: its key and what was measured.
struct SweepRow {
  SweepPoint point;
  std::uint64_t model_id = 0;  // 48-bit fingerprint of the model file
  std::uint64_t card_id = 0;   // 48-bit fingerprint of the card's parameters (0: weight noise)
  double accuracy = 0.0;
  double error_pct = 0.0;
  double sigma_w_devices = 0.0;  // the weight spread the devices give (sigma_w,test otherwise)
  std::int64_t test_images = 0;
  double seconds = 0.0;
  /// Device mode: energy per inference (pJ), of it the arrays' read energy, and TOPS/W; NaN in
  /// weight-noise mode or where not measured (rows written before energy existed).
  double energy_pj = std::numeric_limits<double>::quiet_NaN();
  double array_pj = std::numeric_limits<double>::quiet_NaN();
  double tops_per_w = std::numeric_limits<double>::quiet_NaN();
};

/// The result columns, derived from SweepRow's fields; the first SweepKeyColumns() of them are
/// the key of a point. A result written before time_s and temperature_k existed is read with
/// their defaults (0 s, 298.15 K): the chips it measured were read so; one written before the
/// energy columns has NaN there.
const std::vector<std::string>& SweepColumns();
std::size_t SweepKeyColumns();
/// A row as the CSV holds it, and back (errors name the column).
std::vector<double> ToCsvRow(const SweepRow& row);
SweepRow FromCsvRow(const std::vector<double>& values);

/// What a rerun into an existing result does when the experiment is not the one that made it.
enum class OnChange {
  kRefuse,   // throw aimc::Error naming what changed (the default)
  kRestart,  // discard the old result and start a new one
};

/// Runs every point not yet in `csv` and appends each finished one to it at once (fsync), so a
/// sweep killed at any moment and started again loses nothing and skips what it has. The manifest
/// <csv stem>.json beside it holds the definition of the experiment: its options and the
/// fingerprints of the models, cards and test data. A rerun continues only the experiment that
/// made the file: another definition (seed, test images, a card's contents, a model file...) is
/// refused, naming what changed, or with OnChange::kRestart starts a new result, so a result file
/// and its manifest never disagree. Returns the whole table (old and new rows).
Table RunSweep(const SweepOptions& options, const std::filesystem::path& csv,
               const std::string& command, OnChange on_change = OnChange::kRefuse);

/// Mean of `value` over the rows whose `key` columns equal the given values (e.g. the mean error
/// over chips of one point).
double MeanWhere(const Table& table, const std::string& value,
                 const std::vector<std::pair<std::string, double>>& where);

}  // namespace aimc::experiment
