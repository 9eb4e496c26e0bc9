#include "aimc/device/card.h"

#include <cmath>
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
  o.name = t.String("name");
  o.source = t.String("source", "");
  o.ra_ohm_um2 = t.Double("ra_ohm_um2", o.ra_ohm_um2);
  o.t_mgo_nm = t.Double("t_mgo_nm", 0.0);
  o.ra0_ohm_um2 = t.Double("ra0_ohm_um2", 0.0);
  o.t0_nm = t.Double("t0_nm", 0.0);
  o.ra_min_ohm_um2 = t.Double("ra_min_ohm_um2", o.ra_min_ohm_um2);
  o.ra_max_ohm_um2 = t.Double("ra_max_ohm_um2", o.ra_max_ohm_um2);
  o.nominal_cd_nm = t.Double("nominal_cd_nm", o.nominal_cd_nm);
  o.sigma_radius_nm = t.Double("sigma_radius_nm", o.sigma_radius_nm);
  o.tmr = t.Double("tmr", o.tmr);
  o.write_voltage_v = t.Double("write_voltage_v", o.write_voltage_v);
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
  o.name = t.String("name");
  o.source = t.String("source", "");
  o.r_on_ohm = t.Double("r_on_ohm");
  o.on_off_ratio = t.Double("on_off_ratio");
  o.cv_on = t.Double("cv_on");
  o.cv_off = t.Double("cv_off");
  o.spread = ParseSpread(t.String("spread", "normal"), t.Where("spread"));
  o.write_voltage_v = t.Double("write_voltage_v");
  o.r_on_min_ohm = t.Double("r_on_min_ohm", o.r_on_ohm);
  o.r_on_max_ohm = t.Double("r_on_max_ohm", o.r_on_ohm);
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
    if (kind == "mtj") {
      card = std::make_unique<MtjCard>(ReadMtj(t));
    } else if (kind == "two_state") {
      card = std::make_unique<TwoStateCard>(ReadTwoState(t));
    } else if (kind == "measured") {
      card = std::make_unique<MeasuredCard>(ReadMeasured(t, path));
    } else {
      Fail("{}: must be 'mtj', 'two_state' or 'measured', got '{}'", t.Where("kind"), kind);
    }
    t.RejectUnknown();
    RequirePhysical(*card, kind);
    return card;
  } catch (const Error& e) {
    RethrowNamingFile(e, path.string());
  }
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
  return LoadCard(is_file ? std::filesystem::path(path_or_name) : PresetCardPath(path_or_name));
}

}  // namespace aimc::device
