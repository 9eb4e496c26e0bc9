#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "aimc/circuit/crossbar.h"
#include "aimc/common/enum_names.h"
#include "aimc/common/fields.h"
#include "aimc/device/card.h"

namespace aimc::experiment {

/// How a chip corrects the drift of its conductances (as in practice: a reference read of the
/// all-ones input right after programming and again at read time): every output of a tile is
/// multiplied by c(0) / c(t), c the summed conductance of both devices of its pairs, per column
/// (kColumn) or over the whole array (kArray). Written as "none", "array", "column".
enum class DriftCompensation { kNone, kArray, kColumn };
const EnumNames<DriftCompensation>& DriftCompensationNames();
std::string ToString(DriftCompensation compensation);
/// Throws aimc::Error naming drift_compensation and the allowed names.
DriftCompensation ParseDriftCompensation(const std::string& name);

/// How a network is placed on analog arrays (the paper's Fig. 15a): each ternary layer's matrix
/// (rows = im2col inputs, cols = outputs) is cut into tiles of at most tile_rows x tile_cols
/// weights; each weight is a differential pair of devices drawn from a card; each tile's MVM is
/// the DC circuit of its array (wires, drivers, sense amplifiers), partial sums of row-split tiles
/// are added digitally. Pooling, ReLU, BatchNorm, scales and biases stay digital and exact.
struct ChipOptions {
  /// Weights per tile: rows (activation lines) and weight columns (each a differential pair, so
  /// 2 x tile_cols summation lines with the column layout).
  std::int64_t tile_rows = 1024;
  std::int64_t tile_cols = 512;
  /// DAC: an input at full scale (the activation clip alpha) drives read_voltage_v.
  double read_voltage_v = 0.2;
  /// Wires, drivers, sense amplifiers, access transistor of every tile.
  circuit::CrossbarOptions crossbar;
  circuit::PairLayout layout = circuit::PairLayout::kColumns;
  /// ADC on each tile's outputs: bits (0: none, else 2..24) and full scale as a fraction of the
  /// largest possible tile output (all inputs at full scale, all weights +1). Symmetric and
  /// mid-tread: 2^bits - 1 levels from -full scale to +full scale, 0 among them (AdcStep).
  int adc_bits = 0;
  double adc_full_scale_fraction = 0.25;
  /// When the devices are read (the card's physics: retention, drift, read noise): time since
  /// programming and temperature; and how drift is compensated.
  double time_s = 0.0;
  double temperature_k = 298.15;
  DriftCompensation drift_compensation = DriftCompensation::kNone;
  /// Calibration after programming, as real chips do (docs/sweep.md, "Calibration"): a digital
  /// gain and offset per output column of every analog layer, fitted once per chip on this many
  /// calibration images (never test images: the caller takes them from the training set) and
  /// then frozen; 0: none. The images themselves come with the ChipSpec (CalibrationSet).
  std::int64_t calibration_images = 0;

  void Validate() const;
  /// The read conditions appear only where they differ from their defaults, so that the JSON of
  /// a chip read right after programming is what it was before they existed.
  nlohmann::json ToJson() const;
  device::ReadConditions Conditions() const;
  /// True when any wire, driver, sense or access resistance is non-zero (the circuit matters).
  bool has_parasitics() const;
};

/// The ADC's full scale for a tile of `tile_rows` rows whose inputs reach input_full_scale and
/// whose weights reach level `max_level`.
double AdcFullScale(const ChipOptions& options, std::int64_t tile_rows, double input_full_scale,
                    int max_level = 1);
/// The step of the ADC of ChipOptions: full_scale / (2^(bits - 1) - 1).
double AdcStep(double full_scale, int bits);

/// The fields of ChipOptions (aimc::FieldTable): names, units, help, ranges, as the CLI, a
/// sweep's [chip] table, ChipConfig and Python read them. The wires are not among them: a chip
/// configuration states them as wire_ohm or a preset (ChipConfig).
const FieldTable<ChipOptions>& ChipOptionsFields();

}  // namespace aimc::experiment
