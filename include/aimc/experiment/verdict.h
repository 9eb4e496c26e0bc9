#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace aimc::experiment {

/// How Table I derives the inference specifications and judges the cards. Read from an
/// experiment file (configs/experiments/table1.toml); see docs/sweep.md.
struct VerdictOptions {
  /// Card files or preset names, one column of the table each.
  std::vector<std::string> cards = {"flash", "rram", "pcm", "stt_mram", "sot_mram"};
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
  double tmr = 1.5;
  int bisection_steps = 6;
  /// Monte-Carlo chips per sigma_w,test point.
  int chips = 3;
  /// V_WR spec (V): a system requirement, not a simulation result (the paper's Table I: < 1 V,
  /// so that the write drivers are core-logic transistors).
  double max_write_voltage_v = 1.0;

  /// Throws aimc::Error naming the first bad field.
  void Validate() const;
  nlohmann::json ToJson() const;
};

/// Reads a Table I experiment file; errors name the file, the key and the reason.
VerdictOptions LoadVerdict(const std::filesystem::path& path);

/// The boundary of a monotone criterion: `ok(good)` holds, `ok(bad)` does not (checked first);
/// after `steps` halvings of [good, bad] (geometric halvings when `log_scale`), the last point
/// where `ok` held. When `ok(bad)` holds the whole range passes and `bad` is returned; when
/// `ok(good)` fails nothing passes and NaN is returned.
double BisectBoundary(double good, double bad, int steps, bool log_scale,
                      const std::function<bool(double)>& ok);

}  // namespace aimc::experiment
