#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace aimc::paper {

/// How Table I (the paper's verdict) derives the inference specifications and judges the cards.
/// Read from an experiment file (configs/experiments/table1.toml); see docs/sweep.md.
struct Table1Options {
  /// Card files or preset names, one column of the table each (default: the shipped cards,
  /// device::PresetCardNames()).
  std::vector<std::string> cards;
  /// Allowed test-error increase (percentage points): the paper's "< 1.5 %" of Fig. 14b. For
  /// sigma_w over the same network without noise; for R_ON over the same chip without wires.
  double error_budget_pct = 1.5;
  /// sigma_w spec: CNN 2 trained with this sigma_w,train (the paper's 0.30), bisection of
  /// sigma_w,test over [0, sigma_w_max].
  double sigma_train = 0.30;
  double sigma_w_max = 0.6;
  /// R_ON spec: CNN 1 with the 22 nm layout's wires times wire_scale, bisection of log R_ON
  /// over [r_on_min_ohm, r_on_max_ohm].
  double wire_scale = 1.0;
  double r_on_min_ohm = 1e5;
  double r_on_max_ohm = 1e8;
  /// TMR of the devices in the R_ON bisection; NaN (left out of the file): the SOT-MRAM card's.
  double tmr = std::nan("");
  int bisection_steps = 6;
  /// Monte-Carlo chips per sigma_w,test point.
  int chips = 3;
  /// V_WR spec (V): a system requirement, not a simulation result (the paper's Table I: < 1 V,
  /// so that the write drivers are core-logic transistors).
  double max_write_voltage_v = 1.0;
  /// The rows for devices as they are read in use (docs/devices.md): sigma_w read at
  /// read_voltage_v with the card's I-V and read noise, and after lifetime_s at
  /// hot_temperature_c (retention, drift with one global compensation), judged against the same
  /// sigma_w spec; `spread_pairs` Monte-Carlo pairs per level.
  double read_voltage_v = 0.2;
  double lifetime_s = 3.15576e8;  // 10 years
  double hot_temperature_c = 85.0;
  std::int64_t spread_pairs = 100000;

  Table1Options();
  /// Throws aimc::Error naming the first bad field.
  void Validate() const;
  nlohmann::json ToJson() const;
};

/// Reads a Table I experiment file; errors name the file, the key and the reason.
Table1Options LoadTable1Options(const std::filesystem::path& path);

}  // namespace aimc::paper
