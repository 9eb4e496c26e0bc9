#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "aimc/common/enum_names.h"
#include "aimc/common/fields.h"
#include "aimc/device/card.h"

namespace aimc::device {

/// How a state's conductance is spread.
enum class Spread { kNormal, kLognormal };
const EnumNames<Spread>& SpreadNames();  // "normal", "lognormal"
std::string ToString(Spread spread);
/// Parses "normal" or "lognormal"; `where` names the field in the error.
Spread ParseSpread(const std::string& name, const std::string& where);

/// The most conductance levels a card may state per device (8-bit multi-level cells).
inline constexpr int kMaxCardLevels = 256;

/// A generic two-state device (Flash, RRAM, PCM, STT-MRAM rows of the paper's Table I): each
/// state's conductance has a mean (1/R) and a relative spread sigma/mu, drawn from a normal
/// (cut at G > 0) or a lognormal distribution. The lognormal's G and R = 1/G have the same
/// sigma/mu, so a spread quoted on resistance carries over.
struct TwoStateOptions {
  std::string name;
  std::string source;
  /// 1 / E[G_on].
  double r_on_ohm = 1e6;
  /// E[G_on] / E[G_off].
  double on_off_ratio = 2.5;
  double cv_on = 0.05;
  double cv_off = 0.05;
  Spread spread = Spread::kNormal;
  double write_voltage_v = 1.0;
  /// The R_ON range the technology can be made at.
  double r_on_min_ohm = 1e3;
  double r_on_max_ohm = 1e9;
  /// Conductance levels per device (2: ON and OFF only). Level k of L = levels - 1 has the mean
  /// E[G_off] + (k / L) (E[G_on] - E[G_off]) and the standard deviation interpolated the same
  /// way between the states' (cv_off E[G_off] to cv_on E[G_on]), with the states' spread law: a
  /// programming error of fixed size across the range, as iterative program-and-verify leaves
  /// in PCM and RRAM multi-level cells (docs/devices.md).
  int levels = 2;
  /// Analog states: a device can be programmed to any conductance between OFF and ON (PCM,
  /// RRAM, Flash: program and verify to a target), with the spread of `levels`' interpolation,
  /// for continuous weights. false: only its `levels` levels.
  bool analog = false;

  void Validate() const;
};

/// The fields of TwoStateOptions: the keys of a two-state card file and of its JSON (which leaves
/// out the source, and levels where it is 2, so that two-state cards keep their JSON), their
/// ranges (the rules between fields are TwoStateOptions::Validate's) and the keys a card must give.
const FieldTable<TwoStateOptions>& TwoStateOptionsFields();

/// The range rule of a resistance: within [kMinDeviceOhm, kMaxDeviceOhm].
std::function<std::string(const nlohmann::json&)> DeviceOhmRule();

class TwoStateCard : public DeviceCard {
 public:
  explicit TwoStateCard(TwoStateOptions options);

  std::string name() const override { return options_.name; }
  std::string source() const override { return options_.source; }
  StateStats Stats() const override;
  double Sample(State state, Rng& rng) const override;
  double write_voltage_v() const override { return options_.write_voltage_v; }
  std::pair<double, double> r_on_range_ohm() const override {
    return {options_.r_on_min_ohm, options_.r_on_max_ohm};
  }
  std::unique_ptr<DeviceCard> WithRon(double r_on_ohm) const override;
  std::unique_ptr<DeviceCard> WithOnOffRatio(double ratio) const override;
  nlohmann::json ToJson() const override;
  int levels() const override { return options_.levels; }
  bool analog_states() const override { return options_.analog; }
  const TwoStateOptions& options() const { return options_; }

 protected:
  double SampleBetween(double fraction, Rng& rng) const override;
  ConductanceStats BetweenStats(double fraction) const override;

 private:
  /// Mean and nominal standard deviation (before the cut of a normal at G > 0) at `fraction`.
  std::pair<double, double> BetweenMoments(double fraction) const;
  double SampleState(double mean_s, double cv, Rng& rng) const;
  TwoStateOptions options_;
};

/// A user's measured resistances (a wafer map): a CSV with header `r_on_ohm,r_off_ohm`, one
/// device per line (`nan` where a state was not measured). Stats are the sample moments of
/// G = 1/R; Sample draws a measured device at random (bootstrap).
struct MeasuredOptions {
  std::string name = "measured";
  std::string source;
  std::filesystem::path csv;
  double write_voltage_v = 1.0;
  /// The R_ON range the process can be moved to (default: only the measured level).
  double r_on_min_ohm = 0.0;
  double r_on_max_ohm = 0.0;
  /// Resistances scale by this factor (WithRon); 1 = as measured.
  double scale = 1.0;

  void Validate() const;
};

class MeasuredCard : public DeviceCard {
 public:
  /// Reads the CSV; errors name the file, line and column.
  explicit MeasuredCard(MeasuredOptions options);

  std::string name() const override { return options_.name; }
  std::string source() const override { return options_.source; }
  StateStats Stats() const override { return stats_; }
  double Sample(State state, Rng& rng) const override;
  double write_voltage_v() const override { return options_.write_voltage_v; }
  std::pair<double, double> r_on_range_ohm() const override;
  std::unique_ptr<DeviceCard> WithRon(double r_on_ohm) const override;
  std::unique_ptr<DeviceCard> WithOnOffRatio(double ratio) const override;
  nlohmann::json ToJson() const override;

 private:
  MeasuredOptions options_;
  std::vector<double> g_on_s_;
  std::vector<double> g_off_s_;
  StateStats stats_;
};

}  // namespace aimc::device
