#pragma once
// Figs. 17-19: devices as they are read and as they age (private to the paper module).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/paper/study.h"

namespace aimc::paper {

struct PhysicsPlan {
  /// Fig. 17 and 18: read voltages across a device at full-scale input (V).
  std::vector<double> read_voltage_v;
  std::int64_t spread_pairs = 20000;  // Monte-Carlo pairs per level of Fig. 17
  /// Fig. 19: times after programming (s) and temperatures (C).
  std::vector<double> time_s;
  std::vector<double> temperature_c = {25.0, 85.0};
  /// Fig. 19: the SOT-MRAM card again with these barriers (Delta at 300 K).
  std::vector<double> sot_delta;
  std::vector<std::string> cards;  // preset cards of Fig. 19
  int chips = 2;
  std::int64_t cnn1_test_subset = 0;  // 0: the whole test set
  std::int64_t cnn2_test_subset = 0;
  /// "Retention matters": an error rise over t = 0 by more than this (percentage points).
  double error_rise_pct = 1.5;
  nlohmann::json ToJson() const;
};

/// The plan of a run: its profile's, under its limits.
PhysicsPlan PhysicsPlanFor(const StudyOptions& options);

}  // namespace aimc::paper
