#include "aimc/device/physics.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::device {

namespace {

constexpr double kBoltzmannJPerK = 1.380649e-23;
constexpr double kBoltzmannEvPerK = 8.617333262e-5;

void RequireFraction(double value, const std::string& field) {
  Require(std::isfinite(value) && value >= 0.0 && value <= 1.0,
          "{} must be a fraction in [0, 1], got {}", field, value);
}

void RequireNonNegative(double value, const std::string& field) {
  Require(std::isfinite(value) && value >= 0.0, "{} must be >= 0, got {}", field, value);
}

void RequireTemperature(double value, const std::string& field) {
  // Below 1 K or above 1000 K a memory is not being operated; the Arrhenius laws would return
  // infinities or a barrier of nothing.
  Require(std::isfinite(value) && value >= 1.0 && value <= 1000.0,
          "{} must be a temperature in [1, 1000] K, got {}", field, value);
}

void RequireIvScale(double value, const std::string& field, const char* zero_means) {
  Require(value == 0.0 ||
              (std::isfinite(value) && value >= kMinIvScaleV && value <= kMaxIvScaleV),
          "{} must be 0 ({}) or within [{:g}, {:g}] V, got {}", field, zero_means, kMinIvScaleV,
          kMaxIvScaleV, value);
}

}  // namespace

void RequireReadVoltage(double read_voltage_v, const std::string& field) {
  Require(read_voltage_v == 0.0 ||
              (std::isfinite(read_voltage_v) && read_voltage_v >= kMinReadVoltageV &&
               read_voltage_v <= kMaxReadVoltageV),
          "{} must be 0 (the low-bias limit) or within [{:g}, {:g}] V, got {} (below 1 mV a read "
          "counts too few electrons for the noise and I-V models)",
          field, kMinReadVoltageV, kMaxReadVoltageV, read_voltage_v);
}

IvShape IvShape::TmrBias(double tmr0, double v_half_v) {
  IvShape s;
  s.kind = Kind::kTmrBias;
  s.tmr0 = tmr0;
  s.v_half_v = v_half_v;
  return s;
}

IvShape IvShape::Sinh(double v0_v) {
  IvShape s;
  s.kind = Kind::kSinh;
  s.v0_v = v0_v;
  return s;
}

double IvShape::Shape(double v) const {
  switch (kind) {
    case Kind::kLinear:
      return 1.0;
    case Kind::kTmrBias: {
      const double u = (v / v_half_v) * (v / v_half_v);
      return (1.0 + tmr0) * (1.0 + u) / (1.0 + u + tmr0);
    }
    case Kind::kSinh: {
      const double x = v / v0_v;
      // sinh(x)/x loses digits near 0: its series to x^4 is exact to rounding below 1e-4.
      if (std::abs(x) < 1e-4) return 1.0 + x * x / 6.0;
      return std::sinh(x) / x;
    }
  }
  return 1.0;
}

double IvShape::Slope(double g0_s, double v) const {
  switch (kind) {
    case Kind::kLinear:
      return g0_s;
    case Kind::kTmrBias: {
      // d/dV [V s(V)] = s + V s'(V), s' = (1 + T0) T0 / (1 + u + T0)^2 du/dV, du/dV = 2V/V_h^2.
      const double u = (v / v_half_v) * (v / v_half_v);
      const double d = 1.0 + u + tmr0;
      const double ds = (1.0 + tmr0) * tmr0 / (d * d) * 2.0 * v / (v_half_v * v_half_v);
      return g0_s * (Shape(v) + v * ds);
    }
    case Kind::kSinh:
      return g0_s * std::cosh(v / v0_v);
  }
  return g0_s;
}

void IvShape::Validate(const std::string& where) const {
  switch (kind) {
    case Kind::kLinear:
      return;
    case Kind::kTmrBias:
      Require(std::isfinite(v_half_v) && v_half_v >= kMinIvScaleV && v_half_v <= kMaxIvScaleV,
              "{}: V_h must be within [{:g}, {:g}] V, got {}", where, kMinIvScaleV, kMaxIvScaleV,
              v_half_v);
      // Devices within [kMinDeviceOhm, kMaxDeviceOhm] have on/off ratios up to 1e15.
      Require(std::isfinite(tmr0) && tmr0 >= 0 && tmr0 <= 1e15,
              "{}: TMR0 must be in [0, 1e15], got {}", where, tmr0);
      return;
    case Kind::kSinh:
      Require(std::isfinite(v0_v) && v0_v >= kMinIvScaleV && v0_v <= kMaxIvScaleV,
              "{}: V0 must be within [{:g}, {:g}] V, got {}", where, kMinIvScaleV, kMaxIvScaleV,
              v0_v);
      return;
  }
}

void IvShape::RequireHoldsAt(double v, const std::string& where) const {
  if (kind != Kind::kSinh) return;
  const double x = std::abs(v) / v0_v;
  Require(x <= kMaxSinhArgument,
          "{}: the sinh law with V0 = {:g} V read at {:g} V has V / V0 = {:.4g}, beyond {:g}, "
          "where it no longer describes a device (the current would exceed 1e19 times its "
          "low-bias value)",
          where, v0_v, v, x, kMaxSinhArgument);
}

nlohmann::json IvShape::ToJson() const {
  switch (kind) {
    case Kind::kLinear:
      return {{"kind", "linear"}};
    case Kind::kTmrBias:
      return {{"kind", "tmr_bias"}, {"tmr0", tmr0}, {"v_half_v", v_half_v}};
    case Kind::kSinh:
      return {{"kind", "sinh"}, {"v0_v", v0_v}};
  }
  return {};
}

std::string IvShape::Describe() const {
  switch (kind) {
    case Kind::kLinear:
      return "linear";
    case Kind::kTmrBias:
      return fmt::format("TMR {:.3g} / (1 + (V / {:.3g} V)^2)", tmr0, v_half_v);
    case Kind::kSinh:
      return fmt::format("sinh, V0 {:.3g} V", v0_v);
  }
  return "";
}

double ReadNoise::SigmaAt(double time_s) const {
  if (flicker_q <= 0.0) return sigma_rel;
  // 1/f noise S_G/G^2 = Q/f integrated from 1/(t + t_read) to 1/(2 t_read); right after
  // programming (t -> 0) the band is empty.
  const double ratio = (time_s + read_time_s) / (2.0 * read_time_s);
  const double log_ratio = ratio > 1.0 ? std::log(ratio) : 0.0;
  return std::hypot(sigma_rel, flicker_q * std::sqrt(log_ratio));
}

double ReadNoise::ShotVariance(double current_a) const {
  constexpr double kElementaryChargeC = 1.602176634e-19;
  return shot_fano * kElementaryChargeC * std::abs(current_a) / read_time_s;
}

double Retention::DeltaAt(double temperature_k) const {
  return delta * reference_temperature_k / temperature_k;
}

double Retention::FlipProbability(double time_s, double temperature_k) const {
  if (delta <= 0.0 || time_s <= 0.0) return 0.0;
  // log(t / tau) = log t - log tau_0 - Delta: no overflow of exp(Delta) for large barriers.
  const double log_rate = std::log(time_s) - std::log(attempt_time_s) - DeltaAt(temperature_k);
  if (log_rate > 700.0) return 1.0;
  return -std::expm1(-std::exp(log_rate));
}

double DeltaFromMacrospin(double mu0_hk_mt, double ms_ka_per_m, double volume_nm3,
                          double temperature_k) {
  Require(std::isfinite(mu0_hk_mt) && mu0_hk_mt > 0,
          "retention.anisotropy_field_mt must be > 0 mT, got {}", mu0_hk_mt);
  Require(std::isfinite(ms_ka_per_m) && ms_ka_per_m > 0,
          "retention.saturation_magnetization_ka_per_m must be > 0 kA/m, got {}", ms_ka_per_m);
  Require(std::isfinite(volume_nm3) && volume_nm3 > 0, "the free-layer volume must be > 0 nm^3, "
          "got {}", volume_nm3);
  RequireTemperature(temperature_k, "retention.reference_temperature_k");
  // E_b = mu0 H_k M_s V / 2 with mu0 H_k in tesla: (T)(A/m)(m^3) = J.
  const double barrier_j = (mu0_hk_mt * 1e-3) * (ms_ka_per_m * 1e3) * (volume_nm3 * 1e-27) / 2.0;
  return barrier_j / (kBoltzmannJPerK * temperature_k);
}

double Drift::EffectiveTime(double time_s, double temperature_k) const {
  if (activation_ev == 0.0) return time_s;
  return time_s * std::exp(activation_ev / kBoltzmannEvPerK *
                           (1.0 / reference_temperature_k - 1.0 / temperature_k));
}

void Physics::Validate() const {
  RequireIvScale(iv.v_half_v, "iv.v_half_v", "bias-independent TMR");
  RequireIvScale(iv.on_v0_v, "iv.on_v0_v", "linear");
  RequireIvScale(iv.off_v0_v, "iv.off_v0_v", "linear");
  Require(iv.access_ohm == 0.0 || (std::isfinite(iv.access_ohm) && iv.access_ohm >= 1e-3 &&
                                   iv.access_ohm <= 1e9),
          "iv.access_ohm must be 0 (none) or within [1e-3, 1e9] ohm, got {}", iv.access_ohm);
  // A relative read noise beyond 1 would make conductances negative on a third of the reads.
  Require(std::isfinite(read_noise.sigma_rel) && read_noise.sigma_rel >= 0 &&
              read_noise.sigma_rel <= 1.0,
          "read_noise.sigma_rel must be in [0, 1], got {}", read_noise.sigma_rel);
  Require(std::isfinite(read_noise.flicker_q) && read_noise.flicker_q >= 0 &&
              read_noise.flicker_q <= 1.0,
          "read_noise.flicker_q must be in [0, 1], got {}", read_noise.flicker_q);
  Require(std::isfinite(read_noise.shot_fano) && read_noise.shot_fano >= 0 &&
              read_noise.shot_fano <= 10.0,
          "read_noise.shot_fano must be in [0, 10], got {}", read_noise.shot_fano);
  // The shot noise F q I / t_read and the 1/f band 1 / (2 t_read) divide by it.
  Require(std::isfinite(read_noise.read_time_s) && read_noise.read_time_s >= kMinReadTimeS &&
              read_noise.read_time_s <= kMaxReadTimeS,
          "read_noise.read_time_s must be within [{:g}, {:g}] s, got {}", kMinReadTimeS,
          kMaxReadTimeS, read_noise.read_time_s);
  // 0 is "no retention model"; anything else must be a barrier.
  Require(retention.delta == 0.0 ||
              (std::isfinite(retention.delta) && retention.delta > 0 && retention.delta <= 1000),
          "retention.delta must be > 0 (and <= 1000), got {}", retention.delta);
  RequireTemperature(retention.reference_temperature_k, "retention.reference_temperature_k");
  Require(std::isfinite(retention.attempt_time_s) && retention.attempt_time_s > 0 &&
              retention.attempt_time_s <= 1.0,
          "retention.attempt_time_s must be in (0, 1] s, got {}", retention.attempt_time_s);
  for (const auto& [value, field] : {std::pair{drift.on_nu_mean, "drift.on_nu_mean"},
                                     std::pair{drift.off_nu_mean, "drift.off_nu_mean"},
                                     std::pair{drift.on_nu_sigma, "drift.on_nu_sigma"},
                                     std::pair{drift.off_nu_sigma, "drift.off_nu_sigma"},
                                     std::pair{drift.relax_per_decade, "drift.relax_per_decade"},
                                     std::pair{drift.activation_ev, "drift.activation_ev"}}) {
    // Drift lowers a conductance (nu >= 0); a spread or rate is >= 0 too.
    RequireNonNegative(value, field);
  }
  Require(drift.on_nu_mean <= 1.0 && drift.off_nu_mean <= 1.0,
          "drift.on_nu_mean and drift.off_nu_mean must be <= 1, got {} and {}", drift.on_nu_mean,
          drift.off_nu_mean);
  Require(drift.relax_per_decade <= 1.0, "drift.relax_per_decade must be <= 1, got {}",
          drift.relax_per_decade);
  Require(drift.activation_ev <= 5.0, "drift.activation_ev must be in [0, 5] eV, got {}",
          drift.activation_ev);
  Require(std::isfinite(drift.t0_s) && drift.t0_s > 0 && drift.t0_s <= 1e6,
          "drift.t0_s must be in (0, 1e6] s, got {}", drift.t0_s);
  RequireTemperature(drift.reference_temperature_k, "drift.reference_temperature_k");
  RequireFraction(stuck.on_fraction, "stuck_at.on_fraction");
  RequireFraction(stuck.off_fraction, "stuck_at.off_fraction");
  Require(stuck.on_fraction + stuck.off_fraction <= 1.0,
          "stuck_at.on_fraction + stuck_at.off_fraction must be <= 1, got {} + {}",
          stuck.on_fraction, stuck.off_fraction);
  Require(iv.v_half_v == 0.0 || iv.off_v0_v == 0.0,
          "iv.v_half_v and iv.off_v0_v both shape the OFF state: give one of them");
}

nlohmann::json Physics::ToJson() const {
  nlohmann::json json = nlohmann::json::object();
  if (!iv.linear() || iv.access_ohm > 0) {
    nlohmann::json j = nlohmann::json::object();
    if (iv.v_half_v > 0) j["v_half_v"] = iv.v_half_v;
    if (iv.on_v0_v > 0) j["on_v0_v"] = iv.on_v0_v;
    if (iv.off_v0_v > 0) j["off_v0_v"] = iv.off_v0_v;
    if (iv.access_ohm > 0) j["access_ohm"] = iv.access_ohm;
    json["iv"] = j;
  }
  if (read_noise.any()) {
    json["read_noise"] = {{"sigma_rel", read_noise.sigma_rel},
                          {"flicker_q", read_noise.flicker_q},
                          {"shot_fano", read_noise.shot_fano},
                          {"read_time_s", read_noise.read_time_s}};
  }
  if (retention.any()) {
    json["retention"] = {{"delta", retention.delta},
                         {"reference_temperature_k", retention.reference_temperature_k},
                         {"attempt_time_s", retention.attempt_time_s}};
  }
  if (drift.any()) {
    json["drift"] = {{"on_nu_mean", drift.on_nu_mean},
                     {"on_nu_sigma", drift.on_nu_sigma},
                     {"off_nu_mean", drift.off_nu_mean},
                     {"off_nu_sigma", drift.off_nu_sigma},
                     {"relax_per_decade", drift.relax_per_decade},
                     {"t0_s", drift.t0_s},
                     {"activation_ev", drift.activation_ev},
                     {"reference_temperature_k", drift.reference_temperature_k}};
  }
  if (stuck.any())
    json["stuck_at"] = {{"on_fraction", stuck.on_fraction}, {"off_fraction", stuck.off_fraction}};
  return json;
}

void ReadConditions::Validate() const {
  RequireReadVoltage(read_voltage_v, "read_voltage_v");
  // Up to a thousand years: beyond, retention figures are extrapolations of extrapolations.
  Require(std::isfinite(time_s) && time_s >= 0 && time_s <= 3.2e10,
          "time_s must be in [0, 3.2e10] s (a thousand years), got {}", time_s);
  RequireTemperature(temperature_k, "temperature_k");
}

nlohmann::json ReadConditions::ToJson() const {
  return {{"read_voltage_v", read_voltage_v},
          {"time_s", time_s},
          {"temperature_k", temperature_k}};
}

void CellCost::Validate() const {
  // A cell below 1e-4 um^2 (10 nm x 10 nm) or above 1e4 um^2 is a unit slip; write pulses from
  // 10 ps to 1 s, currents up to 1 A, and up to a million verify pulses.
  Require(std::isfinite(area_um2) && (area_um2 == 0.0 || (area_um2 >= 1e-4 && area_um2 <= 1e4)),
          "cell.area_um2 must be 0 (not stated) or in [1e-4, 1e4] um^2, got {}", area_um2);
  Require(std::isfinite(write_pulse_s) &&
              (write_pulse_s == 0.0 || (write_pulse_s >= 1e-11 && write_pulse_s <= 1.0)),
          "cell.write_pulse_s must be 0 (not stated) or in [1e-11, 1] s, got {}", write_pulse_s);
  Require(std::isfinite(write_current_a) && write_current_a >= 0.0 && write_current_a <= 1.0,
          "cell.write_current_a must be in [0, 1] A, got {}", write_current_a);
  Require(std::isfinite(write_pulses) && write_pulses >= 1.0 && write_pulses <= 1e6,
          "cell.write_pulses must be in [1, 1e6], got {}", write_pulses);
}

nlohmann::json CellCost::ToJson() const {
  return {{"area_um2", area_um2},           {"write_pulse_s", write_pulse_s},
          {"write_current_a", write_current_a}, {"write_pulses", write_pulses},
          {"source", source}};
}

}  // namespace aimc::device
