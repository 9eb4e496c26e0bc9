#include "aimc/device/card.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numbers>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/resources.h"
#include "aimc/common/toml_reader.h"
#include "aimc/device/mtj.h"
#include "aimc/device/two_state.h"

namespace aimc::device {

namespace {

MtjOptions ReadMtj(const TomlReader& t) {
  MtjOptions o;
  // Every field but the pillar, which the card gives as its diameter or as the R_ON it makes.
  std::vector<std::string> keys;
  for (const auto& f : MtjOptionsFields().fields())
    if (f.name != "electrical_cd_nm") keys.push_back(f.name);
  MtjOptionsFields().ReadToml(t, o, keys);
  const bool has_ecd = t.Has("electrical_cd_nm");
  const bool has_ron = t.Has("r_on_ohm");
  Require(has_ecd != has_ron, "{}: give exactly one of electrical_cd_nm and r_on_ohm",
          t.source());
  if (has_ecd) {
    o.electrical_cd_nm = t.Double("electrical_cd_nm");
  } else {
    // The pillar that gives this R_ON: E[r^2] = RA / (pi R_ON) = mu^2 + sigma^2.
    const double r_on = t.Double("r_on_ohm");
    Require(std::isfinite(r_on) && r_on > 0, "{}: must be > 0, got {}", t.Where("r_on_ohm"), r_on);
    const double ra = o.t_mgo_nm > 0 ? o.EffectiveRa() : o.ra_ohm_um2;
    const double mean_r2_nm2 = ra / (std::numbers::pi * r_on) * 1e6;
    const double mu2 = mean_r2_nm2 - o.sigma_radius_nm * o.sigma_radius_nm;
    Require(mu2 > 0, "{}: R_ON = {} ohm needs a pillar smaller than the radius spread",
            t.Where("r_on_ohm"), r_on);
    o.electrical_cd_nm = 2.0 * std::sqrt(mu2);
  }
  return o;
}

TwoStateOptions ReadTwoState(const TomlReader& t) {
  TwoStateOptions o;
  TwoStateOptionsFields().ReadToml(t, o);
  // A card that gives no range makes its own R_ON only.
  if (!t.Has("r_on_min_ohm")) o.r_on_min_ohm = o.r_on_ohm;
  if (!t.Has("r_on_max_ohm")) o.r_on_max_ohm = o.r_on_ohm;
  return o;
}

MeasuredOptions ReadMeasured(const TomlReader& t, const std::filesystem::path& card_path) {
  MeasuredOptions o;
  o.name = t.String("name");
  o.source = t.String("source", "");
  std::filesystem::path csv = t.String("csv");
  // A relative CSV path is relative to the card, so a card and its data travel together.
  if (csv.is_relative()) csv = card_path.parent_path() / csv;
  o.csv = csv;
  o.write_voltage_v = t.Double("write_voltage_v");
  o.r_on_min_ohm = t.Double("r_on_min_ohm", 0.0);
  o.r_on_max_ohm = t.Double("r_on_max_ohm", 0.0);
  return o;
}

// The optional [cell] table: area and write cost (docs/energy.md).
CellCost ReadCell(const TomlReader& t) {
  CellCost c;
  if (!t.Has("cell")) return c;
  const TomlReader r = t.Table("cell");
  c.area_um2 = r.Double("area_um2", 0.0);
  c.write_pulse_s = r.Double("write_pulse_s", 0.0);
  c.write_current_a = r.Double("write_current_a", 0.0);
  c.write_pulses = r.Double("write_pulses", 1.0);
  c.source = r.String("source", "");
  return c;  // validated by set_cell, whose error names the field ("cell.area_um2") and the file

}

// The optional physics tables of a card (docs/devices.md). `mtj`: the card, for the free-layer
// volume of a macrospin Delta (null for other kinds).
Physics ReadPhysics(const TomlReader& t, const MtjOptions* mtj) {
  Physics p;
  if (t.Has("iv")) {
    const TomlReader iv = t.Table("iv");
    p.iv.v_half_v = iv.Double("v_half_v", 0.0);
    p.iv.on_v0_v = iv.Double("on_v0_v", 0.0);
    p.iv.off_v0_v = iv.Double("off_v0_v", 0.0);
    p.iv.access_ohm = iv.Double("access_ohm", 0.0);
    p.iv.source = iv.String("source", "");
    Require(p.iv.v_half_v == 0.0 || mtj != nullptr,
            "{}: the bias dependence of the TMR is a property of MTJ cards (kind = \"mtj\"); "
            "give other cards on_v0_v / off_v0_v",
            iv.Where("v_half_v"));
  }
  if (t.Has("read_noise")) {
    const TomlReader r = t.Table("read_noise");
    p.read_noise.sigma_rel = r.Double("sigma_rel", 0.0);
    p.read_noise.flicker_q = r.Double("flicker_q", 0.0);
    p.read_noise.shot_fano = r.Double("shot_fano", 0.0);
    p.read_noise.read_time_s = r.Double("read_time_s", p.read_noise.read_time_s);
    p.read_noise.source = r.String("source", "");
  }
  if (t.Has("retention")) {
    const TomlReader r = t.Table("retention");
    p.retention.reference_temperature_k =
        r.Double("reference_temperature_k", p.retention.reference_temperature_k);
    p.retention.attempt_time_s = r.Double("attempt_time_s", p.retention.attempt_time_s);
    p.retention.source = r.String("source", "");
    const bool macrospin = r.Has("anisotropy_field_mt") || r.Has("saturation_magnetization_ka_per_m") ||
                           r.Has("free_layer_nm");
    Require(r.Has("delta") != macrospin,
            "{}: give either delta or the free layer's anisotropy_field_mt, "
            "saturation_magnetization_ka_per_m and free_layer_nm",
            r.Where("delta"));
    if (macrospin) {
      Require(mtj != nullptr, "{}: a macrospin Delta needs the pillar of an MTJ card",
              r.Where("free_layer_nm"));
      const double t_nm = r.Double("free_layer_nm");
      Require(std::isfinite(t_nm) && t_nm > 0, "{}: must be > 0 nm, got {}",
              r.Where("free_layer_nm"), t_nm);
      const double radius_nm = mtj->electrical_cd_nm / 2.0;
      p.retention.delta = DeltaFromMacrospin(
          r.Double("anisotropy_field_mt"), r.Double("saturation_magnetization_ka_per_m"),
          std::numbers::pi * radius_nm * radius_nm * t_nm, p.retention.reference_temperature_k);
    } else {
      p.retention.delta = r.Double("delta");
      Require(p.retention.delta > 0, "{}: must be > 0 (the energy barrier over k_B T), got {}",
              r.Where("delta"), p.retention.delta);
    }
  }
  if (t.Has("drift")) {
    const TomlReader d = t.Table("drift");
    p.drift.on_nu_mean = d.Double("on_nu_mean", 0.0);
    p.drift.on_nu_sigma = d.Double("on_nu_sigma", 0.0);
    p.drift.off_nu_mean = d.Double("off_nu_mean", 0.0);
    p.drift.off_nu_sigma = d.Double("off_nu_sigma", 0.0);
    p.drift.relax_per_decade = d.Double("relax_per_decade", 0.0);
    p.drift.t0_s = d.Double("t0_s", p.drift.t0_s);
    p.drift.activation_ev = d.Double("activation_ev", 0.0);
    p.drift.reference_temperature_k =
        d.Double("reference_temperature_k", p.drift.reference_temperature_k);
    p.drift.source = d.String("source", "");
  }
  if (t.Has("stuck_at")) {
    const TomlReader f = t.Table("stuck_at");
    p.stuck.on_fraction = f.Double("on_fraction", 0.0);
    p.stuck.off_fraction = f.Double("off_fraction", 0.0);
    p.stuck.source = f.String("source", "");
  }
  p.Validate();
  return p;
}

// What every kind must satisfy: its states within the physical range of resistance, and its
// nominal R_ON within the range of R_ON it says the technology can be made at (for an MTJ, the
// RA range at its pillar).
void RequirePhysical(const DeviceCard& card, const std::string& kind) {
  const StateStats s = card.Stats();
  const double r_on = 1.0 / s.on.mean_s;
  const double r_off = 1.0 / s.off.mean_s;
  Require(r_on >= kMinDeviceOhm && r_off <= kMaxDeviceOhm,
          "the card's states R_ON = 1/E[G_on] = {:.6g} ohm and R_OFF = {:.6g} ohm must lie within "
          "[{:g}, {:g}] ohm",
          r_on, r_off, kMinDeviceOhm, kMaxDeviceOhm);
  const auto [lo, hi] = card.r_on_range_ohm();
  const char* range_keys = kind == "mtj" ? "ra_min_ohm_um2 and ra_max_ohm_um2 at its pillar"
                                         : "r_on_min_ohm and r_on_max_ohm";
  Require(lo >= kMinDeviceOhm && hi <= kMaxDeviceOhm,
          "the card's R_ON range [{:.6g}, {:.6g}] ohm (from {}) must lie within [{:g}, {:g}] ohm",
          lo, hi, range_keys, kMinDeviceOhm, kMaxDeviceOhm);
  // The tolerance of WithRon, which moves a card to the ends of its range.
  Require(r_on >= lo * (1 - 1e-12) && r_on <= hi * (1 + 1e-12),
          "the card's nominal R_ON = {:.6g} ohm lies outside its own R_ON range [{:.6g}, {:.6g}] "
          "ohm (from {})",
          r_on, lo, hi, range_keys);
}

}  // namespace

std::unique_ptr<DeviceCard> LoadCard(const std::filesystem::path& path) {
  const TomlReader t = TomlReader::FromFile(path);
  try {
    const std::string kind = t.String("kind");
    std::unique_ptr<DeviceCard> card;
    Require(kind == "two_state" || !t.Has("levels"),
            "{}: a card of kind '{}' holds two states; intermediate conductance levels need kind "
            "'two_state'",
            t.Where("levels"), kind);
    if (kind == "mtj") {
      const MtjOptions mtj = ReadMtj(t);
      card = std::make_unique<MtjCard>(mtj);
      card->set_physics(ReadPhysics(t, &mtj));
    } else if (kind == "two_state") {
      card = std::make_unique<TwoStateCard>(ReadTwoState(t));
      card->set_physics(ReadPhysics(t, nullptr));
    } else if (kind == "measured") {
      card = std::make_unique<MeasuredCard>(ReadMeasured(t, path));
      card->set_physics(ReadPhysics(t, nullptr));
    } else {
      Fail("{}: must be 'mtj', 'two_state' or 'measured', got '{}'", t.Where("kind"), kind);
    }
    card->set_cell(ReadCell(t));
    t.RejectUnknown();
    RequirePhysical(*card, kind);
    return card;
  } catch (const Error& e) {
    RethrowNamingFile(e, path.string());
  }
}

void DeviceCard::set_cell(CellCost cell) {
  cell.Validate();
  cell_ = std::move(cell);
}

void DeviceCard::set_physics(Physics physics) {
  physics.Validate();
  physics_ = std::move(physics);
}

IvShape DeviceCard::Iv(State state) const {
  const IvLaw& iv = physics_.iv;
  if (state == State::kOn) return iv.on_v0_v > 0 ? IvShape::Sinh(iv.on_v0_v) : IvShape::Linear();
  if (iv.v_half_v > 0) return IvShape::TmrBias(Stats().on_off_ratio() - 1.0, iv.v_half_v);
  return iv.off_v0_v > 0 ? IvShape::Sinh(iv.off_v0_v) : IvShape::Linear();
}

void DeviceCard::RequireReadableAt(double read_voltage_v) const {
  RequireReadVoltage(read_voltage_v, "read_voltage_v");
  Iv(State::kOn).RequireHoldsAt(read_voltage_v, fmt::format("card '{}': iv.on_v0_v", name()));
  Iv(State::kOff).RequireHoldsAt(read_voltage_v, fmt::format("card '{}': iv.off_v0_v", name()));
}

double DeviceCard::UnitWeightSiemens(double read_voltage_v) const {
  RequireReadableAt(read_voltage_v);
  const StateStats s = Stats();
  return s.on.mean_s * Iv(State::kOn).Shape(read_voltage_v) -
         s.off.mean_s * Iv(State::kOff).Shape(read_voltage_v);
}

double DeviceCard::SampleLevel(int level, int top, Rng& rng) const {
  Require(top >= 1 && level >= 0 && level <= top, "card '{}': level {} of {} does not exist",
          name(), level, top);
  if (level == 0) return Sample(State::kOff, rng);
  if (level == top) return Sample(State::kOn, rng);
  Require(levels() > top,
          "card '{}' holds {} conductance levels per device; weights of {} levels need {} (set "
          "`levels` in the card, docs/devices.md)",
          name(), levels(), 2 * top + 1, top + 1);
  return SampleBetween(static_cast<double>(level) / top, rng);
}

ConductanceStats DeviceCard::LevelStats(int level, int top) const {
  Require(top >= 1 && level >= 0 && level <= top, "card '{}': level {} of {} does not exist",
          name(), level, top);
  if (level == 0) return Stats().off;
  if (level == top) return Stats().on;
  Require(levels() > top, "card '{}' holds {} conductance levels per device, not {}", name(),
          levels(), top + 1);
  return BetweenStats(static_cast<double>(level) / top);
}

void DeviceCard::RequireAnalogStates(const std::string& what) const {
  Require(analog_states(),
          "{}: card '{}' has no analog states, its devices hold {} conductance levels (a "
          "magnetic tunnel junction is parallel or antiparallel); continuous weights need a card "
          "with `analog = true` (PCM, RRAM, Flash), or ternary or K-level weights "
          "(--weight-levels)",
          what, name(), levels());
}

namespace {

// A fraction of the way from OFF to ON that a card can program: the ends always, in between
// only with analog states.
void RequireFraction(const DeviceCard& card, double fraction) {
  Require(std::isfinite(fraction) && fraction >= 0.0 && fraction <= 1.0,
          "card '{}': a device can be programmed to a fraction in [0, 1] of the way from OFF to "
          "ON, not {}",
          card.name(), fraction);
  if (fraction > 0.0 && fraction < 1.0)
    card.RequireAnalogStates(fmt::format("a conductance {} of the way from OFF to ON", fraction));
}

}  // namespace

double DeviceCard::SampleFraction(double fraction, Rng& rng) const {
  RequireFraction(*this, fraction);
  if (fraction == 0.0) return Sample(State::kOff, rng);
  if (fraction == 1.0) return Sample(State::kOn, rng);
  return SampleBetween(fraction, rng);
}

ConductanceStats DeviceCard::FractionStats(double fraction) const {
  RequireFraction(*this, fraction);
  if (fraction == 0.0) return Stats().off;
  if (fraction == 1.0) return Stats().on;
  return BetweenStats(fraction);
}

double DeviceCard::SampleBetween(double /*fraction*/, Rng& /*rng*/) const {
  Fail("card '{}' has no intermediate conductance level", name());
}

ConductanceStats DeviceCard::BetweenStats(double /*fraction*/) const {
  Fail("card '{}' has no intermediate conductance level", name());
}

double DeviceCard::Flip(State from, double /*g_s*/, Rng& rng) const {
  return Sample(from == State::kOn ? State::kOff : State::kOn, rng);
}

std::unique_ptr<DeviceCard> DeviceCard::KeepPhysics(std::unique_ptr<DeviceCard> card) const {
  card->physics_ = physics_;
  card->cell_ = cell_;
  return card;
}

namespace {

// The per-device stream of Age: draw k of a device is Rng::Derive(seed, k) (splitmix64), so a
// device costs one draw of the chip's stream and a few arithmetic operations, not the seeding of
// a Mersenne Twister.
class DeviceStream {
 public:
  explicit DeviceStream(std::uint64_t seed) : seed_(seed) {}
  std::uint64_t Next() { return Rng::Derive(seed_, next_++); }
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  /// Box-Muller: always two uniforms, so every device takes the same number of draws.
  double Normal() {
    const double u1 = 1.0 - Uniform();  // (0, 1]
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  std::uint64_t seed_;
  std::uint64_t next_ = 0;
};

State Other(State s) { return s == State::kOn ? State::kOff : State::kOn; }

}  // namespace

DeviceCard::Aged DeviceCard::Age(State written, double g_s, const ReadConditions& conditions,
                                 Rng& aging_rng) const {
  return AgeAt(written, written == State::kOn ? 1.0 : 0.0, g_s, conditions, aging_rng);
}

DeviceCard::Aged DeviceCard::AgeLevel(int level, int top, double g_s,
                                      const ReadConditions& conditions, Rng& aging_rng) const {
  Require(top >= 1 && level >= 0 && level <= top, "AgeLevel: level {} of {}", level, top);
  return AgeFractionChecked(static_cast<double>(level) / top, g_s, conditions, aging_rng);
}

DeviceCard::Aged DeviceCard::AgeFraction(double fraction, double g_s,
                                         const ReadConditions& conditions,
                                         Rng& aging_rng) const {
  RequireFraction(*this, fraction);
  return AgeFractionChecked(fraction, g_s, conditions, aging_rng);
}

DeviceCard::Aged DeviceCard::AgeFractionChecked(double fraction, double g_s,
                                                const ReadConditions& conditions,
                                                Rng& aging_rng) const {
  if (fraction == 0.0 || fraction == 1.0)
    return Age(fraction == 1.0 ? State::kOn : State::kOff, g_s, conditions, aging_rng);
  Require(!physics_.retention.any(),
          "card '{}': its retention model is of a binary state; intermediate conductance levels "
          "(multi-level or continuous weights) have none",
          name());
  return AgeAt(fraction >= 0.5 ? State::kOn : State::kOff, fraction, g_s, conditions,
               aging_rng);
}

DeviceCard::Aged DeviceCard::AgeAt(State written, double fraction, double g_s,
                                   const ReadConditions& conditions, Rng& aging_rng) const {
  const std::uint64_t seed = aging_rng.NextU64();
  Aged out{g_s, written};
  // A device at one of the two states (fraction 0 or 1), or at a level in between.
  const bool binary = fraction == 0.0 || fraction == 1.0;
  const Physics& p = physics_;
  if (!p.stuck.any() && !p.retention.any() && !p.drift.any()) return out;
  // Every draw is made whether used or not: the same device at another time or temperature
  // sees the same numbers, so a chip ages monotonically.
  DeviceStream stream(seed);
  const double u_stuck = stream.Uniform();
  const double u_flip = stream.Uniform();
  const double xi_nu = stream.Normal();
  const double xi_relax = stream.Normal();
  const std::uint64_t redraw_seed = stream.Next();
  const auto become = [&](State state) {
    if (binary && state == out.state) return;
    Rng rng(redraw_seed);
    out.g_s = binary ? Flip(out.state, out.g_s, rng) : Sample(state, rng);
    out.state = state;
    fraction = state == State::kOn ? 1.0 : 0.0;
  };
  bool stuck = false;
  if (u_stuck < p.stuck.on_fraction) {
    become(State::kOn);
    stuck = true;
  } else if (u_stuck < p.stuck.on_fraction + p.stuck.off_fraction) {
    become(State::kOff);
    stuck = true;
  }
  if (!stuck && p.retention.any() &&
      u_flip < p.retention.FlipProbability(conditions.time_s, conditions.temperature_k)) {
    become(Other(out.state));
  }
  if (p.drift.any() && conditions.time_s > 0) {
    const Drift& d = p.drift;
    const double t = d.EffectiveTime(conditions.time_s, conditions.temperature_k);
    if (t > d.t0_s) {
      // The states' nu at fraction 1 (ON) and 0 (OFF), interpolated in between.
      const auto at = [fraction](double off, double on) {
        return fraction == 1.0 ? on : fraction == 0.0 ? off : off + fraction * (on - off);
      };
      // A negative draw of nu would make a device conduct more over time: cut at 0.
      const double nu = std::max(0.0, at(d.off_nu_mean, d.on_nu_mean) +
                                          at(d.off_nu_sigma, d.on_nu_sigma) * xi_nu);
      const double decades = std::log10(t / d.t0_s);
      const double sigma = d.relax_per_decade * decades;
      out.g_s *= std::pow(t / d.t0_s, -nu) * std::exp(sigma * xi_relax - 0.5 * sigma * sigma);
    }
  }
  return out;
}

const std::vector<std::string>& PresetCardNames() {
  static const std::vector<std::string> names = {"flash", "rram", "pcm", "stt_mram", "sot_mram"};
  return names;
}

std::filesystem::path PresetCardPath(const std::string& stem) {
  const std::string file = "configs/devices/" + stem + ".toml";
  if (const auto path = FindShippedFile(file)) return *path;
  Fail("no device card '{}': looked for {} (set AIMC_HOME to the aimc folder)", stem, file);
}

std::unique_ptr<DeviceCard> LoadCardOrPreset(const std::string& path_or_name) {
  const bool is_file =
      path_or_name.find('/') != std::string::npos || path_or_name.ends_with(".toml");
  try {
    return LoadCard(is_file ? std::filesystem::path(path_or_name) : PresetCardPath(path_or_name));
  } catch (const std::filesystem::filesystem_error& e) {
    // The operating system's refusal (a name too long, a folder without permission), said
    // about the card; a name of thousands of characters is shown by its start.
    constexpr std::size_t kShown = 80;
    const std::string shown =
        path_or_name.size() <= kShown
            ? path_or_name
            : fmt::format("{}... ({} characters)", path_or_name.substr(0, kShown),
                          path_or_name.size());
    Fail("card '{}' cannot be read: {}", shown, e.code().message());
  }
}

}  // namespace aimc::device
