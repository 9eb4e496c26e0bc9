#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/rng.h"
#include "aimc/device/physics.h"

namespace aimc::device {

/// The resistances a device card may state or measure (ohm): from 1 ohm (a metal short) to
/// 1e15 ohm (an insulator at read bias). Memory devices read between kilo-ohms and giga-ohms;
/// outside this range a value is a unit slip, and conductances near the limits of double
/// arithmetic (1/1e306 squares to 0) would give moments of 0 beside a Monte-Carlo spread.
inline constexpr double kMinDeviceOhm = 1.0;
inline constexpr double kMaxDeviceOhm = 1e15;

/// The two programmed states of a memory device. ON is the low-resistance state (P for an MTJ),
/// OFF the high-resistance state (AP for an MTJ).
enum class State { kOn, kOff };

/// Moments of the conductance of one state, in siemens.
struct ConductanceStats {
  double mean_s = 0.0;
  double stddev_s = 0.0;
  /// Coefficient of variation sigma/mu.
  double cv() const { return stddev_s / mean_s; }
};

/// Conductance moments of both states of a device population.
struct StateStats {
  ConductanceStats on;   // G_P for an MTJ
  ConductanceStats off;  // G_AP for an MTJ
  double on_off_ratio() const { return on.mean_s / off.mean_s; }
};

/// A technology's device card: the statistics of its conductance states and how to draw one
/// device from them. Implementations: MtjCard (SOT/STT-MRAM from the pillar geometry),
/// TwoStateCard (normal or lognormal states: Flash, RRAM, PCM...), MeasuredCard (a user's
/// measured resistances per state).
class DeviceCard {
 public:
  virtual ~DeviceCard() = default;

  virtual std::string name() const = 0;
  /// Where the numbers come from (paper, table, file).
  virtual std::string source() const = 0;
  /// Exact moments of G in each state (analytic where the model allows it).
  virtual StateStats Stats() const = 0;
  /// One device's conductance (siemens) in the given state. Draws are independent per call.
  virtual double Sample(State state, Rng& rng) const = 0;
  /// Nominal ON resistance (ohm): 1 / E[G_on].
  double r_on_ohm() const { return 1.0 / Stats().on.mean_s; }
  /// Voltage needed to write the device (V), as the card states it.
  virtual double write_voltage_v() const = 0;
  /// The range of nominal ON resistance (ohm) this technology can be made at.
  virtual std::pair<double, double> r_on_range_ohm() const = 0;
  /// The same technology at another nominal ON resistance, keeping its relative spread and
  /// on/off ratio (for an MTJ: another RA at the same pillar). Throws aimc::Error if the card
  /// cannot produce `r_on_ohm` (outside r_on_range_ohm()).
  virtual std::unique_ptr<DeviceCard> WithRon(double r_on_ohm) const = 0;
  /// The same technology with another on/off ratio E[G_on]/E[G_off] (1 + TMR for an MTJ),
  /// keeping R_ON and the relative spreads. Throws aimc::Error where the card cannot (measured).
  virtual std::unique_ptr<DeviceCard> WithOnOffRatio(double ratio) const = 0;
  /// The card's parameters, for manifests (with "physics" when any is set).
  virtual nlohmann::json ToJson() const = 0;

  /// Conductance levels one device can be programmed to: 2 (its ON and OFF states) unless the
  /// card states more (multi-level devices, for weights of more than three levels).
  virtual int levels() const { return 2; }
  /// One device programmed to level `level` of `top` (0: OFF, top: ON; in between: the card's
  /// intermediate levels, evenly spaced in mean conductance, SampleBetween). Needs levels() >
  /// top where 0 < level < top; throws aimc::Error naming the card otherwise.
  double SampleLevel(int level, int top, Rng& rng) const;
  /// Moments of G at level `level` of `top` (Stats() at the ends).
  ConductanceStats LevelStats(int level, int top) const;
  /// Whether a device can be programmed to any conductance between OFF and ON (continuous
  /// weights): false unless the card states it (a magnetic tunnel junction is P or AP).
  virtual bool analog_states() const { return false; }
  /// Throws aimc::Error, naming `what` (a layer, a function) and the card, unless the card has
  /// analog states: the one refusal of continuous weights on a card without them.
  void RequireAnalogStates(const std::string& what) const;
  /// One device programmed to the fraction f in [0, 1] of the way from OFF to ON (0: OFF,
  /// 1: ON, in between SampleBetween). Throws aimc::Error naming the card where f is strictly
  /// between and the card has no analog states.
  double SampleFraction(double fraction, Rng& rng) const;
  /// Moments of G at that fraction.
  ConductanceStats FractionStats(double fraction) const;

  /// Physics beyond the static linear resistor: I-V, read noise, retention, drift, stuck-at
  /// faults. Empty by default; kept by WithRon and WithOnOffRatio.
  const Physics& physics() const { return physics_; }
  /// Validates and sets it; throws aimc::Error naming the field.
  void set_physics(Physics physics);
  /// Cell area and write cost (the energy model's inputs); kept by WithRon and WithOnOffRatio.
  const CellCost& cell() const { return cell_; }
  /// Validates and sets it; throws aimc::Error naming the field.
  void set_cell(CellCost cell);
  /// The I-V shape of a state: an MTJ's AP state gets TMR(V) from v_half_v and the card's TMR,
  /// a sinh law its V0; linear otherwise.
  IvShape Iv(State state) const;
  /// E[G_on] s_on(V) - E[G_off] s_off(V): the unit weight of a pair read at `read_voltage_v`.
  /// Throws aimc::Error where the card cannot be read there (RequireReadableAt).
  double UnitWeightSiemens(double read_voltage_v) const;
  /// Throws aimc::Error naming the card and the key unless `read_voltage_v` is a read voltage
  /// (RequireReadVoltage) at which both states' I-V laws hold (IvShape::RequireHoldsAt).
  void RequireReadableAt(double read_voltage_v) const;

  /// Age() for a device programmed to level `level` of `top` (SampleLevel). An intermediate
  /// level drifts with nu interpolated between the states' (in the level's place between OFF
  /// and ON), relaxes like them, and a stuck device reads as a fresh ON or OFF device; it has
  /// no retention model (a thermally stable binary state), so a card with one is refused.
  struct Aged;
  Aged AgeLevel(int level, int top, double g_s, const ReadConditions& conditions,
                Rng& aging_rng) const;
  /// AgeLevel for a device programmed to the fraction f of the way from OFF to ON
  /// (SampleFraction); AgeLevel(level, top) is AgeFraction(level / top).
  Aged AgeFraction(double fraction, double g_s, const ReadConditions& conditions,
                   Rng& aging_rng) const;

  /// What a device written to `written` and drawn as `g_s` (its low-bias conductance) is when
  /// read under `conditions`: a stuck-at fault replaces it by a device of the stuck state, a
  /// retention flip turns it into the other state (for an MTJ, the same pillar), drift and
  /// relaxation scale it. Consumes exactly one draw of `aging_rng` per device whatever happens,
  /// so the same devices read at a later time age further rather than anew.
  struct Aged {
    double g_s = 0.0;
    State state = State::kOn;  // the state it reads in now (selects its I-V shape)
  };
  Aged Age(State written, double g_s, const ReadConditions& conditions, Rng& aging_rng) const;

 protected:
  /// A device at the fraction f in (0, 1) of the way from OFF to ON (SampleLevel): by default
  /// the card has no intermediate level and throws.
  virtual double SampleBetween(double fraction, Rng& rng) const;
  virtual ConductanceStats BetweenStats(double fraction) const;
  /// The same device in the other state (an MTJ: its pillar's other resistance); by default a
  /// fresh draw of the other state.
  virtual double Flip(State from, double g_s, Rng& rng) const;
  /// Copies this card's physics into a card made from it (WithRon, WithOnOffRatio).
  std::unique_ptr<DeviceCard> KeepPhysics(std::unique_ptr<DeviceCard> card) const;

 private:
  Aged AgeAt(State written, double fraction, double g_s, const ReadConditions& conditions,
             Rng& aging_rng) const;
  /// AgeLevel and AgeFraction once their arguments are checked: the ends age as the states,
  /// an intermediate fraction without retention model.
  Aged AgeFractionChecked(double fraction, double g_s, const ReadConditions& conditions,
                          Rng& aging_rng) const;
  Physics physics_;
  CellCost cell_;
};

/// Loads a card from a TOML file (configs/devices/*.toml). The `kind` key selects "mtj",
/// "two_state" or "measured"; the optional tables [iv], [read_noise], [retention], [drift] and
/// [stuck_at] set its Physics, [cell] its CellCost (see docs/devices.md). Every error names the file, the key and the value. A card whose
/// nominal R_ON lies outside its own R_ON range, or whose states lie outside
/// [kMinDeviceOhm, kMaxDeviceOhm], is refused.
std::unique_ptr<DeviceCard> LoadCard(const std::filesystem::path& path);

/// The cards shipped in configs/devices/, by file stem ("sot_mram", "rram", ...), found under
/// `configs_dir` (default: the source tree's configs/devices or ./configs/devices).
std::filesystem::path PresetCardPath(const std::string& stem);

/// The names of the cards shipped in configs/devices/, in the order of the paper's Table I
/// (the columns of `aimc device list` and of Table I by default).
const std::vector<std::string>& PresetCardNames();

/// What the commands and experiment files accept for a card: a TOML file path (anything with a
/// '/' or ending in .toml) or the name of a preset card ("sot_mram").
std::unique_ptr<DeviceCard> LoadCardOrPreset(const std::string& path_or_name);

}  // namespace aimc::device
