#include "aimc/device/mtj.h"

#include <cmath>
#include <numbers>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::device {

namespace {

constexpr double kUm2PerNm2 = 1e-6;

double Phi(double x) { return 0.5 * std::erfc(-x / std::numbers::sqrt2); }
double PhiDensity(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi); }

}  // namespace

void TruncatedNormalMoments(double mu, double sigma, double m[5]) {
  // Moments of N(mu, sigma) truncated to (0, inf), by the recursion
  //   m_k = mu m_{k-1} + (k-1) sigma^2 m_{k-2} + sigma a^{k-1} phi(alpha) / Z,  a = 0,
  // alpha = -mu/sigma, Z = 1 - Phi(alpha); the boundary term is there only for k = 1.
  m[0] = 1.0;
  if (sigma == 0.0) {
    for (int k = 1; k < 5; ++k) m[k] = m[k - 1] * mu;
    return;
  }
  const double alpha = -mu / sigma;
  const double z = 1.0 - Phi(alpha);
  m[1] = mu + sigma * PhiDensity(alpha) / z;
  for (int k = 2; k < 5; ++k) m[k] = mu * m[k - 1] + (k - 1) * sigma * sigma * m[k - 2];
}

void FitRaThickness(double ra_low, double t_low, double ra_high, double t_high, double* ra0,
                    double* t0) {
  Require(ra_low > 0 && ra_high > ra_low && t_high > t_low,
          "RA fit needs 0 < RA_low < RA_high and t_low < t_high");
  *t0 = (t_high - t_low) / std::log(ra_high / ra_low);
  *ra0 = ra_low / std::exp(t_low / *t0);
}

MtjOptions SotMramPreset() {
  MtjOptions o;
  o.name = "SOT-MRAM";
  o.source =
      "SOT-MRAM AiMC paper: RA 20 kOhm um^2 at nCD 80 nm, R_ON 6 MOhm, TMR 150 %, V_WR < 1 V "
      "(Table I); sigma_r 3 nm (Fig. 8c); RA range 5-50 kOhm um^2 (Figs. 4, 6); eCD derived from "
      "R_ON; RA(t_MgO) fit assumed (one decade per 0.3 nm)";
  o.ra_ohm_um2 = 20e3;
  FitRaThickness(5e3, 1.80, 50e3, 2.10, &o.ra0_ohm_um2, &o.t0_nm);
  o.nominal_cd_nm = 80.0;
  o.sigma_radius_nm = 3.0;
  o.tmr = 1.5;
  o.write_voltage_v = 0.8;
  // eCD such that 1 / E[G_P] = 6 MOhm: E[r^2] = RA / (pi R_ON) and E[r^2] = mu^2 + sigma^2
  // (the cut at r > 0 is 10 sigma away and changes nothing at double precision).
  const double r_on_ohm = 6e6;
  const double mean_r2_nm2 = o.ra_ohm_um2 / (std::numbers::pi * r_on_ohm) / kUm2PerNm2;
  o.electrical_cd_nm =
      2.0 * std::sqrt(mean_r2_nm2 - o.sigma_radius_nm * o.sigma_radius_nm);
  return o;
}

double MtjOptions::EffectiveRa() const {
  return t_mgo_nm > 0.0 ? ra0_ohm_um2 * std::exp(t_mgo_nm / t0_nm) : ra_ohm_um2;
}

const FieldTable<MtjOptions>& MtjOptionsFields() {
  static const FieldTable<MtjOptions> table = [] {
    using O = MtjOptions;
    FieldTable<O> t;
    t.String("name", "the card's name", [](O& o) -> std::string& { return o.name; }).Required();
    // Where the numbers come from: shown with results, not part of what defines a device.
    t.String("source", "where the numbers come from",
             [](O& o) -> std::string& { return o.source; })
        .OmitWhen([](const O&) { return true; });
    // Written as in use: from the thickness when it is set.
    t.Custom(
        "ra_ohm_um2", "ohm um^2", "RA product (when t_mgo_nm is 0)", FieldKind::kDouble,
        [](const O& o) { return nlohmann::json(o.EffectiveRa()); },
        [](O& o, const nlohmann::json& v) { o.ra_ohm_um2 = v.get<double>(); });
    t.Double("t_mgo_nm", "nm", "MgO thickness (0: use ra_ohm_um2)",
             [](O& o) -> double& { return o.t_mgo_nm; }, range::AtLeast(0, " (0: use ra_ohm_um2)"));
    t.Double("ra0_ohm_um2", "ohm um^2", "RA = ra0 exp(t_mgo / t0): its prefactor",
             [](O& o) -> double& { return o.ra0_ohm_um2; }, range::AtLeast(0));
    t.Double("t0_nm", "nm", "RA = ra0 exp(t_mgo / t0): its thickness scale",
             [](O& o) -> double& { return o.t0_nm; }, range::AtLeast(0));
    t.Double("ra_min_ohm_um2", "ohm um^2", "lowest RA the stack is made at",
             [](O& o) -> double& { return o.ra_min_ohm_um2; }, range::Above(0));
    t.Double("ra_max_ohm_um2", "ohm um^2", "highest RA the stack is made at",
             [](O& o) -> double& { return o.ra_max_ohm_um2; }, range::Above(0));
    t.Double("nominal_cd_nm", "nm", "nominal pillar diameter",
             [](O& o) -> double& { return o.nominal_cd_nm; }, range::Above(0));
    t.Double("electrical_cd_nm", "nm", "electrical pillar diameter (sets the resistance)",
             [](O& o) -> double& { return o.electrical_cd_nm; }, range::Above(0));
    t.Double("sigma_radius_nm", "nm", "standard deviation of the pillar radius",
             [](O& o) -> double& { return o.sigma_radius_nm; }, range::AtLeast(0));
    t.Double("tmr", "", "tunnel magnetoresistance (R_AP - R_P) / R_P",
             [](O& o) -> double& { return o.tmr; }, range::Above(0));
    t.Double("write_voltage_v", "V", "programming voltage",
             [](O& o) -> double& { return o.write_voltage_v; }, range::Above(0));
    return t;
  }();
  return table;
}

void MtjOptions::Validate() const {
  // The thickness fit first: the RA in use, checked with the fields, comes from it.
  if (std::isfinite(t_mgo_nm) && t_mgo_nm > 0.0) {
    Require(std::isfinite(ra0_ohm_um2) && ra0_ohm_um2 > 0.0, "ra0_ohm_um2 must be > 0, got {}",
            ra0_ohm_um2);
    Require(std::isfinite(t0_nm) && t0_nm > 0.0, "t0_nm must be > 0, got {}", t0_nm);
  }
  MtjOptionsFields().Validate(*this);
  Require(sigma_radius_nm < electrical_cd_nm / 2.0,
          "sigma_radius_nm must be < the electrical radius electrical_cd_nm / 2 = {} nm, got {}",
          electrical_cd_nm / 2.0, sigma_radius_nm);
  Require(electrical_cd_nm <= 2.0 * nominal_cd_nm,
          "electrical_cd_nm must be <= 2 x nominal_cd_nm = {} nm, got {}", 2.0 * nominal_cd_nm,
          electrical_cd_nm);
  if (t_mgo_nm == 0.0) Require(ra_ohm_um2 > 0.0, "ra_ohm_um2 must be > 0, got {}", ra_ohm_um2);
  Require(ra_max_ohm_um2 >= ra_min_ohm_um2, "ra_max_ohm_um2 must be >= ra_min_ohm_um2 = {}, got {}",
          ra_min_ohm_um2, ra_max_ohm_um2);
}

MtjCard::MtjCard(MtjOptions options) : options_(std::move(options)) { options_.Validate(); }

double MtjCard::ConductanceP(double radius_nm) const {
  return std::numbers::pi * radius_nm * radius_nm * kUm2PerNm2 / options_.EffectiveRa();
}

StateStats MtjCard::Stats() const {
  double m[5];
  TruncatedNormalMoments(options_.electrical_cd_nm / 2.0, options_.sigma_radius_nm, m);
  // G_P = c r^2: E[G_P] = c E[r^2], Var[G_P] = c^2 (E[r^4] - E[r^2]^2).
  const double c = std::numbers::pi * kUm2PerNm2 / options_.EffectiveRa();
  StateStats s;
  s.on.mean_s = c * m[2];
  s.on.stddev_s = c * std::sqrt(std::max(0.0, m[4] - m[2] * m[2]));
  s.off.mean_s = s.on.mean_s / (1.0 + options_.tmr);
  s.off.stddev_s = s.on.stddev_s / (1.0 + options_.tmr);
  return s;
}

double MtjCard::SampleRadiusNm(Rng& rng) const {
  const double mu = options_.electrical_cd_nm / 2.0;
  for (;;) {
    const double r = rng.Normal(mu, options_.sigma_radius_nm);
    if (r > 0.0) return r;
  }
}

std::pair<double, double> MtjCard::SampleBoth(Rng& rng) const {
  const double g_p = ConductanceP(SampleRadiusNm(rng));
  return {g_p, g_p / (1.0 + options_.tmr)};
}

double MtjCard::Sample(State state, Rng& rng) const {
  const auto [g_p, g_ap] = SampleBoth(rng);
  return state == State::kOn ? g_p : g_ap;
}

std::pair<double, double> MtjCard::r_on_range_ohm() const {
  const double scale = r_on_ohm() / options_.EffectiveRa();
  return {scale * options_.ra_min_ohm_um2, scale * options_.ra_max_ohm_um2};
}

std::unique_ptr<DeviceCard> MtjCard::WithRon(double r_on_ohm) const {
  const auto [lo, hi] = r_on_range_ohm();
  // R_ON is proportional to RA at a fixed pillar: move along Fig. 4.
  Require(r_on_ohm >= lo * (1 - 1e-12) && r_on_ohm <= hi * (1 + 1e-12),
          "card '{}' cannot produce R_ON = {:.4g} ohm: its RA range {:.4g}-{:.4g} ohm um^2 at "
          "eCD {:.4g} nm gives R_ON {:.4g}-{:.4g} ohm",
          options_.name, r_on_ohm, options_.ra_min_ohm_um2, options_.ra_max_ohm_um2,
          options_.electrical_cd_nm, lo, hi);
  MtjOptions o = options_;
  o.ra_ohm_um2 = options_.EffectiveRa() * r_on_ohm / this->r_on_ohm();
  o.t_mgo_nm = 0.0;
  return KeepPhysics(std::make_unique<MtjCard>(o));
}

std::unique_ptr<DeviceCard> MtjCard::WithOnOffRatio(double ratio) const {
  Require(std::isfinite(ratio) && ratio > 1.0, "on/off ratio must be > 1 (TMR > 0), got {}", ratio);
  Require(r_on_ohm() * ratio <= kMaxDeviceOhm,
          "card '{}': on/off ratio x R_ON (R_OFF) must be <= {:g} ohm, got {} x {:.6g} = {:g}",
          options_.name, kMaxDeviceOhm, ratio, r_on_ohm(), ratio * r_on_ohm());
  MtjOptions o = options_;
  o.tmr = ratio - 1.0;
  return KeepPhysics(std::make_unique<MtjCard>(o));
}

double MtjCard::Flip(State from, double g_s, Rng& /*rng*/) const {
  return from == State::kOn ? g_s / (1.0 + options_.tmr) : g_s * (1.0 + options_.tmr);
}

nlohmann::json MtjCard::ToJson() const {
  nlohmann::json j = MtjOptionsFields().ToJson(options_);
  j["kind"] = "mtj";
  if (physics().any()) j["physics"] = physics().ToJson();
  if (cell().any()) j["cell"] = cell().ToJson();
  return j;
}

}  // namespace aimc::device
