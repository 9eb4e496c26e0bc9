#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "aimc/common/csv.h"

namespace aimc::experiment {

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
/// the key of a point.
const std::vector<std::string>& SweepColumns();
std::size_t SweepKeyColumns();
/// A row as the CSV holds it, and back (errors name the column).
std::vector<double> ToCsvRow(const SweepRow& row);
SweepRow FromCsvRow(const std::vector<double>& values);

/// Brings a result table written by an earlier aimc to SweepColumns(): one written before
/// time_s and temperature_k existed gets their defaults (0 s, 298.15 K: the chips it measured
/// were read so), one written before the energy columns gets NaN there. True if it changed the
/// table; a table of other columns is left as it is.
bool UpgradeSweepTable(Table& table);

/// Mean of `value` over the rows whose `key` columns equal the given values (e.g. the mean error
/// over chips of one point).
double MeanWhere(const Table& table, const std::string& value,
                 const std::vector<std::pair<std::string, double>>& where);

}  // namespace aimc::experiment
