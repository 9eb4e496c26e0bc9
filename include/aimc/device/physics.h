#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace aimc::device {

/// The scales where the device models hold. A read voltage is 0 (the low-bias limit) or from
/// 1 mV to 10 V: below 1 mV a 10 ns read of a mega-ohm device counts a few electrons, where shot
/// noise is no longer Gaussian and no read circuit senses the signal. The voltage scales of the
/// I-V laws (V_h, V0) lie from 1 mV to 1 kV, and a sinh law is used at V / V0 <= 50 (a current
/// 1e19 times the low-bias one, far past any device's read; sinh overflows near 710, and the
/// currents, their slopes and squares stay finite within this bound). A read integrates for 1 ps
/// to 1 s.
inline constexpr double kMinReadVoltageV = 1e-3;
inline constexpr double kMaxReadVoltageV = 10.0;
inline constexpr double kMinIvScaleV = 1e-3;
inline constexpr double kMaxIvScaleV = 1e3;
inline constexpr double kMaxSinhArgument = 50.0;
inline constexpr double kMinReadTimeS = 1e-12;
inline constexpr double kMaxReadTimeS = 1.0;

/// Throws aimc::Error unless `read_voltage_v` is 0 or within [kMinReadVoltageV,
/// kMaxReadVoltageV]; `field` names it in the message ("read_voltage_v").
void RequireReadVoltage(double read_voltage_v, const std::string& field);

/// How a device's current depends on the voltage V across it: I = G0 V s(V), with G0 the
/// low-bias conductance a card draws and s an even shape with s(0) = 1.
///   kLinear:  s = 1.
///   kTmrBias: the AP state of an MTJ whose TMR falls with bias, TMR(V) = TMR0 / (1 + (V/V_h)^2),
///             so G_AP(V) = G_P / (1 + TMR(V)) and s = (1 + TMR0) / (1 + TMR(V)).
///   kSinh:    I = G0 V0 sinh(V / V0) (tunnelling / hopping conduction of RRAM, PCM), s =
///             sinh(V/V0) / (V/V0).
struct IvShape {
  enum class Kind { kLinear, kTmrBias, kSinh };
  Kind kind = Kind::kLinear;
  double tmr0 = 0.0;      // kTmrBias: the zero-bias TMR (the card's)
  double v_half_v = 0.0;  // kTmrBias: the bias at which the TMR has halved
  double v0_v = 0.0;      // kSinh

  static IvShape Linear() { return {}; }
  static IvShape TmrBias(double tmr0, double v_half_v);
  static IvShape Sinh(double v0_v);

  bool linear() const { return kind == Kind::kLinear; }
  /// s(V) = G(V) / G0.
  double Shape(double v) const;
  /// I(V) = G0 V s(V).
  double Current(double g0_s, double v) const { return g0_s * v * Shape(v); }
  /// dI/dV (siemens): the small-signal conductance at V.
  double Slope(double g0_s, double v) const;
  /// Throws aimc::Error naming `where` and the bad parameter: V_h or V0 outside [kMinIvScaleV,
  /// kMaxIvScaleV], TMR0 outside [0, 1e15] (the on/off ratios of devices within kMinDeviceOhm to
  /// kMaxDeviceOhm).
  void Validate(const std::string& where) const;
  /// Throws aimc::Error naming `where` unless the law holds at `v` (a sinh law at |V| / V0 <=
  /// kMaxSinhArgument).
  void RequireHoldsAt(double v, const std::string& where) const;
  nlohmann::json ToJson() const;
  /// "linear", "tmr_bias V_h 0.5 V", "sinh V0 0.25 V".
  std::string Describe() const;
};

/// The read-path I-V of a card: one shape per state. An MTJ card's `v_half_v` gives its AP state
/// the kTmrBias shape (P stays linear); a two-state card may give each state a sinh law.
struct IvLaw {
  /// MTJ: the TMR halves at this bias (V); 0: bias-independent TMR.
  double v_half_v = 0.0;
  /// sinh laws of the ON and OFF state (V0 in volts); 0: linear.
  double on_v0_v = 0.0;
  double off_v0_v = 0.0;
  /// Access transistor on-resistance in series with every device (ohm); 0: none. Added to the
  /// array's access_ohm when a chip is built from the card.
  double access_ohm = 0.0;
  std::string source;

  bool linear() const { return v_half_v == 0.0 && on_v0_v == 0.0 && off_v0_v == 0.0; }
};

/// Fluctuation of every read: each read of each device sees G (1 + sigma_rel xi), xi a fresh
/// standard normal. With `flicker_q` > 0 the relative sigma instead follows 1/f noise integrated
/// over the read bandwidth, sigma_rel(t) = q sqrt(ln((t + t_read) / (2 t_read))) at time t after
/// programming (the PCM model of Nandakumar et al., ICECS 2019, used by IBM's aihwkit).
///
/// Shot noise of the read current (tunnel junctions): with `shot_fano` F > 0, a device carrying
/// current I and read (integrated) for read_time_s sees a current noise of variance
/// F q I / t_read (2 F q I over the bandwidth 1 / (2 t_read)), i.e. a relative sigma
/// sqrt(F q / (I t_read)) that falls as the read voltage rises.
struct ReadNoise {
  double sigma_rel = 0.0;
  double flicker_q = 0.0;
  double shot_fano = 0.0;
  double read_time_s = 250e-9;
  std::string source;

  bool any() const { return sigma_rel > 0.0 || flicker_q > 0.0 || shot_fano > 0.0; }
  /// The relative sigma of one read at `time_s` after programming (without shot noise).
  double SigmaAt(double time_s) const;
  /// Variance of the read current of a device carrying `current_a` from shot noise (A^2).
  double ShotVariance(double current_a) const;
};

/// Loss of a stored binary state by thermal activation (MTJs; any binary device with a Delta):
/// the probability that a device has flipped after time t at temperature T is
///   P = 1 - exp(-t / tau),  tau = tau_0 exp(Delta(T))   (Neel-Arrhenius),
/// with Delta(T) = Delta_ref T_ref / T (the energy barrier held constant: its own fall with T,
/// through M_s(T) and H_k(T), is left out and makes this an upper bound on retention).
/// Delta may also come from the macrospin barrier E_b = mu0 H_k M_s V / 2 (DeltaFromMacrospin).
struct Retention {
  double delta = 0.0;            // at reference_temperature_k; 0: no retention model
  double reference_temperature_k = 300.0;
  double attempt_time_s = 1e-9;  // tau_0, 1 ns (Brown, Phys. Rev. 130, 1677 (1963))
  std::string source;

  bool any() const { return delta > 0.0; }
  double DeltaAt(double temperature_k) const;
  double FlipProbability(double time_s, double temperature_k) const;
};

/// Delta = mu0 H_k M_s V / (2 k_B T) of a single-domain free layer: anisotropy field mu0 H_k in
/// millitesla, saturation magnetization in kA/m, volume in nm^3.
double DeltaFromMacrospin(double mu0_hk_mt, double ms_ka_per_m, double volume_nm3,
                          double temperature_k);

/// Conductance drift and relaxation after programming, at time t >= t0:
///   drift (PCM):       G(t) = G(t0) (t / t0)^-nu, nu ~ Normal(nu_mean, nu_sigma) per device and
///                      state, drawn once per device;
///   relaxation (RRAM): G(t) = G(t0) exp(sigma(t) xi - sigma(t)^2 / 2) (mean kept), sigma(t) =
///                      relax_per_decade log10(t / t0), xi drawn once per device.
/// Temperature enters through an Arrhenius acceleration of time, t_eff = t exp(E_a / k_B (1/T_ref
/// - 1/T)); E_a = 0 leaves time as it is.
struct Drift {
  double on_nu_mean = 0.0, on_nu_sigma = 0.0;
  double off_nu_mean = 0.0, off_nu_sigma = 0.0;
  double relax_per_decade = 0.0;
  double t0_s = 1.0;
  double activation_ev = 0.0;
  double reference_temperature_k = 300.0;
  std::string source;

  bool any() const {
    return on_nu_mean != 0.0 || on_nu_sigma != 0.0 || off_nu_mean != 0.0 ||
           off_nu_sigma != 0.0 || relax_per_decade != 0.0;
  }
  /// The time that ages the device as `time_s` at `temperature_k` does at the reference.
  double EffectiveTime(double time_s, double temperature_k) const;
};

/// Devices that do not switch: a fraction reads as ON whatever was written, another as OFF.
struct StuckAt {
  double on_fraction = 0.0;
  double off_fraction = 0.0;
  std::string source;
  bool any() const { return on_fraction > 0.0 || off_fraction > 0.0; }
};

/// Everything about a device beyond its programmed conductance distribution. Every part is
/// optional; a default-constructed Physics is the static linear resistor.
struct Physics {
  IvLaw iv;
  ReadNoise read_noise;
  Retention retention;
  Drift drift;
  StuckAt stuck;

  bool any() const {
    return !iv.linear() || iv.access_ohm > 0 || read_noise.any() || retention.any() ||
           drift.any() || stuck.any();
  }
  /// Throws aimc::Error naming the field (e.g. "retention.delta") and the allowed range.
  void Validate() const;
  /// Only the parts that are set (an empty object for a static resistor).
  nlohmann::json ToJson() const;
};

/// What a cell costs in silicon and to program: the energy model's inputs from the card
/// (docs/energy.md). A cell is one ternary weight: the differential pair of devices with their
/// access transistors (the paper's Fig. 9 "ternary compute cell").
struct CellCost {
  double area_um2 = 0.0;        // one ternary cell (two devices); 0: not stated
  double write_pulse_s = 0.0;   // one write pulse; 0: not stated
  double write_current_a = 0.0;  // through the write path during a pulse
  /// Pulses per device write on average (write-verify loops of analog programming); >= 1.
  double write_pulses = 1.0;
  std::string source;           // where the numbers come from; empty: assumed

  bool any() const { return area_um2 > 0 || write_pulse_s > 0 || write_current_a > 0; }
  /// Energy of programming one device (J): V_WR I_WR t_pulse pulses.
  double WriteEnergyJ(double write_voltage_v) const {
    return write_voltage_v * write_current_a * write_pulse_s * write_pulses;
  }
  /// Throws aimc::Error naming the field ("cell.area_um2") and the allowed range.
  void Validate() const;
  nlohmann::json ToJson() const;
};

/// When and how a programmed device is read.
struct ReadConditions {
  /// The voltage across a device read at full-scale input (V); 0: the low-bias limit.
  double read_voltage_v = 0.0;
  /// Time since programming (s); 0: right after programming (no retention loss, drift or
  /// relaxation).
  double time_s = 0.0;
  double temperature_k = 298.15;

  void Validate() const;
  nlohmann::json ToJson() const;
};

}  // namespace aimc::device
