#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "aimc/device/mtj.h"
#include "aimc/device/two_state.h"
#include "aimc/mapping/ternary.h"
#include "aimc/common/error.h"
#include "parts.h"

namespace aimc::paper {

namespace {

using device::MtjCard;
using device::MtjOptions;

std::vector<double> Range(double from, double to, double step) {
  std::vector<double> values;
  const int n = static_cast<int>(std::round((to - from) / step));
  for (int i = 0; i <= n; ++i) values.push_back(from + i * step);
  return values;
}

/// Sample sigma/mu of R = 1/G_P over n devices of a card.
double ResistanceCv(const MtjCard& card, int n, std::uint64_t seed) {
  Rng rng(seed);
  double sum = 0.0;
  double sum2 = 0.0;
  for (int i = 0; i < n; ++i) {
    const double r = 1.0 / card.Sample(device::State::kOn, rng);
    sum += r;
    sum2 += r * r;
  }
  const double mean = sum / n;
  return std::sqrt(std::max(0.0, (sum2 - n * mean * mean) / (n - 1))) / mean;
}

report::Figure Fig04(const MtjOptions& sot) {
  report::Figure f;
  f.title = "Fig. 4: RA product vs MgO thickness";
  f.table.columns = {"t_mgo_nm", "ra_ohm_um2", "r_p_ohm"};
  for (double t : Range(1.6, 2.3, 0.01)) {
    MtjOptions o = sot;
    o.t_mgo_nm = t;
    f.table.Add({t, o.EffectiveRa(), MtjCard(o).r_on_ohm()});
  }
  f.plot.xlabel = "MgO thickness t_MgO (nm)";
  f.plot.ylabel = "RA (ohm um^2)";
  f.plot.log_y = true;
  f.plot.series = {{"t_mgo_nm", "ra_ohm_um2", "RA = RA0 exp(t/t0)", "", 0, "lines"}};
  const auto t_of = [&](double ra) { return sot.t0_nm * std::log(ra / sot.ra0_ohm_um2); };
  f.paper = "RA scales exponentially with MgO thickness, 5-50 kOhm um^2 reached for AiMC";
  f.ours = fmt::format(
      "RA = {:.3g} ohm um^2 x exp(t/{:.4f} nm): 5, 20, 50 kOhm um^2 at {:.3f}, {:.3f}, {:.3f} nm "
      "(thickness anchors assumed); R_P at eCD {:.1f} nm: {:.2f}-{:.2f} MOhm",
      sot.ra0_ohm_um2, sot.t0_nm, t_of(5e3), t_of(20e3), t_of(50e3), sot.electrical_cd_nm,
      5e3 / sot.ra_ohm_um2 * MtjCard(sot).r_on_ohm() / 1e6,
      50e3 / sot.ra_ohm_um2 * MtjCard(sot).r_on_ohm() / 1e6);
  return f;
}

report::Figure Fig08b(const MtjOptions& sot, int samples, std::uint64_t seed) {
  report::Figure f;
  f.title = "Fig. 8b: sigma/mu of R_P vs electrical CD for RA 5, 20, 50 kOhm um^2";
  f.table.columns = {"ecd_nm", "ra_ohm_um2", "mean_r_ohm", "cv_g_exact", "cv_r_mc"};
  const std::vector<double> ras = {5e3, 20e3, 50e3};
  const std::vector<double> ecds = Range(30, 150, 5);
  // Rows grouped by RA (contiguous curves in the plot); one seed per eCD for all RAs: the same
  // radius draws, so any RA dependence would show.
  std::vector<std::vector<double>> cv_r(ras.size());
  for (std::size_t k = 0; k < ras.size(); ++k) {
    for (double ecd : ecds) {
      MtjOptions o = sot;
      o.ra_ohm_um2 = ras[k];
      o.t_mgo_nm = 0;
      o.electrical_cd_nm = ecd;
      const MtjCard card(o);
      cv_r[k].push_back(ResistanceCv(card, samples, Rng::Derive(seed, static_cast<int>(ecd))));
      f.table.Add({ecd, ras[k], 1.0 / card.Stats().on.mean_s, card.Stats().on.cv(), cv_r[k].back()});
    }
  }
  double max_ra_spread = 0.0;
  for (std::size_t i = 0; i < ecds.size(); ++i) {
    double lo = cv_r[0][i];
    double hi = cv_r[0][i];
    for (const auto& c : cv_r) {
      lo = std::min(lo, c[i]);
      hi = std::max(hi, c[i]);
    }
    max_ra_spread = std::max(max_ra_spread, hi - lo);
  }
  for (double ra : ras) {
    f.plot.series.push_back({"ecd_nm", "cv_r_mc", fmt::format("RA {:g} kOhm um^2 (MC)", ra / 1e3),
                             "ra_ohm_um2", ra, "points"});
  }
  f.plot.series.push_back({"ecd_nm", "cv_g_exact", "sigma/mu of G_P (exact)", "ra_ohm_um2",
                           20e3, "lines"});
  f.plot.xlabel = "electrical CD (nm)";
  f.plot.ylabel = "sigma/mu";
  MtjOptions at = sot;
  const MtjCard card(at);
  f.paper = "sigma/mu does not increase with RA; it falls with larger eCD (area variation)";
  f.ours = fmt::format(
      "sigma/mu independent of RA (largest spread across RA {:.1e}, same radius draws); at eCD "
      "{:.1f} nm sigma/mu(R_P) = {:.1f} % (MC), sigma/mu(G_P) = {:.1f} % (exact); {:.1f} % at 150 nm",
      max_ra_spread, sot.electrical_cd_nm,
      100 * ResistanceCv(card, samples, seed), 100 * card.Stats().on.cv(),
      100 * f.table.rows.back()[3]);
  return f;
}

report::Figure Fig08c(const MtjOptions& sot, int samples, std::uint64_t seed) {
  report::Figure f;
  f.title = "Fig. 8c: sigma/mu of R_P vs radius spread sigma_r";
  f.table.columns = {"sigma_r_nm", "ecd_nm", "cv_g_exact", "cv_r_mc"};
  const std::vector<double> ecds = {40.0, sot.electrical_cd_nm, 100.0};
  for (double ecd : ecds) {
    for (double s : Range(0.0, 6.0, 0.25)) {
      MtjOptions o = sot;
      o.electrical_cd_nm = ecd;
      o.sigma_radius_nm = s;
      const MtjCard card(o);
      f.table.Add({s, ecd, card.Stats().on.cv(),
                   ResistanceCv(card, samples, Rng::Derive(seed, static_cast<int>(s * 4)))});
    }
  }
  for (double ecd : ecds) {
    f.plot.series.push_back(
        {"sigma_r_nm", "cv_r_mc", fmt::format("eCD {:.1f} nm, R (MC)", ecd), "ecd_nm", ecd, "points"});
    f.plot.series.push_back(
        {"sigma_r_nm", "cv_g_exact", fmt::format("eCD {:.1f} nm, G (exact)", ecd), "ecd_nm", ecd, "lines"});
  }
  f.plot.xlabel = "sigma of the pillar radius (nm)";
  f.plot.ylabel = "sigma/mu";
  const MtjCard card(sot);
  f.paper = "A Gaussian on the MTJ radius with sigma = 3 nm captures nearly all variation";
  f.ours = fmt::format(
      "sigma_r = 3 nm at eCD {:.1f} nm: sigma/mu(R_P) = {:.1f} % (MC), sigma/mu(G_P) = {:.1f} % "
      "(exact); first order 2 sigma_r / r = {:.1f} %",
      sot.electrical_cd_nm, 100 * ResistanceCv(card, samples, seed), 100 * card.Stats().on.cv(),
      100 * 2 * sot.sigma_radius_nm / (sot.electrical_cd_nm / 2));
  return f;
}

report::Figure Fig10b(const device::DeviceCard& sot_card, std::int64_t pairs, std::uint64_t seed) {
  report::Figure f;
  f.title = fmt::format("Fig. 10b: spread of each weight level vs sigma/mu of the states (TMR {:.0f} %)",
                        100 * (sot_card.Stats().on_off_ratio() - 1));
  f.table.columns = {"cv",          "sigma_m1_analytic", "sigma_0_analytic", "sigma_p1_analytic",
                     "sigma_m1_mc", "sigma_0_mc",        "sigma_p1_mc"};
  for (double cv : Range(0.0, 0.3, 0.02)) {
    device::TwoStateOptions o;
    o.name = "normal states";
    o.r_on_ohm = sot_card.r_on_ohm();
    o.r_on_min_ohm = o.r_on_max_ohm = o.r_on_ohm;
    o.on_off_ratio = sot_card.Stats().on_off_ratio();
    o.cv_on = o.cv_off = cv;
    const device::TwoStateCard card(o);
    const auto a = mapping::AnalyticSpread(card.Stats());
    const auto mc = mapping::MonteCarloSpread(card, pairs, Rng::Derive(seed, static_cast<int>(cv * 100)));
    f.table.Add({cv, a.sigma[0], a.sigma[1], a.sigma[2], mc.sigma[0], mc.sigma[1], mc.sigma[2]});
  }
  f.plot.series = {{"cv", "sigma_p1_analytic", "sigma_+-1 (analytic)", "", 0, "lines"},
                   {"cv", "sigma_0_analytic", "sigma_0 (analytic)", "", 0, "lines"},
                   {"cv", "sigma_p1_mc", "sigma_+1 (MC)", "", 0, "points"},
                   {"cv", "sigma_m1_mc", "sigma_-1 (MC)", "", 0, "points"},
                   {"cv", "sigma_0_mc", "sigma_0 (MC)", "", 0, "points"}};
  f.plot.xlabel = "sigma/mu of G_P and G_AP";
  f.plot.ylabel = "sigma of the weight level (unit weight)";
  const auto sot = mapping::AnalyticSpread(sot_card.Stats());
  f.paper = "sigma_-1, sigma_0, sigma_+1 follow from sigma_GAP, sigma_GP and mu_GP - mu_GAP";
  f.ours = fmt::format(
      "sigma_+-1 = {:.3f} x sigma/mu, sigma_0 = {:.3f} x sigma/mu at the card's TMR; the SOT-MRAM card "
      "(sigma/mu {:.1f} %) gives sigma_+-1 = {:.3f}, sigma_0 = {:.3f}",
      mapping::SigmaPm1FromCv(1, 1, sot_card.Stats().on_off_ratio() - 1),
      mapping::Sigma0FromCv(1, sot_card.Stats().on_off_ratio() - 1),
      100 * sot_card.Stats().on.cv(), sot.sigma_plus1(), sot.sigma_0());
  return f;
}

report::Figure Fig11(double tmr) {
  report::Figure f;
  f.title = fmt::format("Fig. 11: largest allowed sigma/mu of the states vs target sigma_w (TMR {:.0f} %)",
                        100 * tmr);
  f.table.columns = {"sigma_w", "zero_cv_ap", "pm1_equal_cv", "pm1_p_only_cv", "pm1_ap_only_cv"};
  for (double s : Range(0.0, 0.3, 0.005)) {
    const auto a = mapping::AllowedSpreadFor(s, tmr);
    f.table.Add({s, a.zero_cv_off, a.pm1_equal_cv, a.pm1_on_only_cv, a.pm1_off_only_cv});
  }
  f.plot.series = {{"sigma_w", "zero_cv_ap", "weight 0: sigma/mu of AP", "", 0, "lines"},
                   {"sigma_w", "pm1_equal_cv", "weights +-1: equal sigma/mu of P and AP", "", 0, "lines"},
                   {"sigma_w", "pm1_p_only_cv", "weights +-1: P only", "", 0, "lines"},
                   {"sigma_w", "pm1_ap_only_cv", "weights +-1: AP only", "", 0, "lines"}};
  f.plot.xlabel = "target weight spread sigma_w";
  f.plot.ylabel = "largest allowed sigma/mu";
  const auto a = mapping::AllowedSpreadFor(0.15, tmr);
  f.paper = "tolerated sigma/mu of the state distributions for the 0 and -1/+1 weights, TMR 150 %";
  f.ours = fmt::format(
      "for sigma_w = 15 %: weight 0 allows sigma/mu(AP) <= {:.1f} %; weights +-1 allow {:.1f} % "
      "in both states ({:.1f} % P only, {:.1f} % AP only)",
      100 * a.zero_cv_off, 100 * a.pm1_equal_cv, 100 * a.pm1_on_only_cv, 100 * a.pm1_off_only_cv);
  return f;
}

// "A Gaussian distribution on the MTJ radius with sigma = 3 nm" (Fig. 8c), read two ways: 3 nm on
// the radius (the words) or on the diameter (1.5 nm on the radius). At RA fixed, sigma_w depends
// on the eCD only; R_ON = RA / (pi E[r^2]).
double SigmaW(const MtjOptions& base, double ecd_nm, double sigma_radius_nm) {
  MtjOptions o = base;
  o.t_mgo_nm = 0;
  o.electrical_cd_nm = ecd_nm;
  o.sigma_radius_nm = sigma_radius_nm;
  return mapping::AnalyticSpread(MtjCard(o).Stats()).sigma_max();
}

double RonAt(const MtjOptions& base, double ecd_nm, double sigma_radius_nm) {
  MtjOptions o = base;
  o.t_mgo_nm = 0;
  o.electrical_cd_nm = ecd_nm;
  o.sigma_radius_nm = sigma_radius_nm;
  return MtjCard(o).r_on_ohm();
}

// The smallest eCD (nm) with sigma_w <= target: sigma_w falls with eCD (area variation), so
// bisection over [lo, hi] to 1e-6 nm.
double EcdFor(const MtjOptions& base, double sigma_radius_nm, double target) {
  // The card's own bound on the eCD: at most twice the nominal CD.
  double lo = 4 * sigma_radius_nm, hi = 2 * base.nominal_cd_nm;
  if (SigmaW(base, hi, sigma_radius_nm) > target) return std::nan("");
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    (SigmaW(base, mid, sigma_radius_nm) <= target ? hi : lo) = mid;
  }
  return hi;
}

report::Figure SigmaRReading(const MtjOptions& sot, double target) {
  report::Figure f;
  f.title = "sigma_w vs eCD for the two readings of 'sigma = 3 nm on the MTJ radius' (RA fixed)";
  f.table.columns = {"ecd_nm", "r_on_radius_ohm", "sigma_w_radius", "r_on_diameter_ohm",
                     "sigma_w_diameter", "sigma_w_target"};
  const double on_radius = sot.sigma_radius_nm;
  const double on_diameter = sot.sigma_radius_nm / 2;
  for (double ecd : Range(30, 2 * sot.nominal_cd_nm, 5)) {
    f.table.Add({ecd, RonAt(sot, ecd, on_radius), SigmaW(sot, ecd, on_radius),
                 RonAt(sot, ecd, on_diameter), SigmaW(sot, ecd, on_diameter), target});
  }
  f.plot.xlabel = "electrical CD (nm)";
  f.plot.ylabel = "sigma_w (largest of sigma_-1, sigma_0, sigma_+1)";
  f.plot.series = {
      {"ecd_nm", "sigma_w_radius", fmt::format("{:g} nm on the radius", on_radius), "", 0, "lines"},
      {"ecd_nm", "sigma_w_diameter", fmt::format("{:g} nm on the diameter", 2 * on_diameter), "",
       0, "lines"},
      {"ecd_nm", "sigma_w_target", "sigma_w spec of Table I", "", 0, "lines"}};
  const double ecd_r = EcdFor(sot, on_radius, target);
  const double ecd_d = EcdFor(sot, on_diameter, target);
  const auto mohm = [](double r) { return r / 1e6; };
  const auto need = [&](double ecd, double sigma_r) {
    if (std::isnan(ecd))
      return fmt::format("no eCD up to {:.0f} nm (2 x nCD)", 2 * sot.nominal_cd_nm);
    return fmt::format("eCD >= {:.1f} nm (R_ON <= {:.2f} MOhm at this RA)", ecd,
                       mohm(RonAt(sot, ecd, sigma_r)));
  };
  f.paper = "A Gaussian on the MTJ radius with sigma = 3 nm captures the variation (Fig. 8c); "
            "SOT-MRAM reaches sigma_w = 15 % at R_ON = 6 MOhm (Table I)";
  f.ours = fmt::format(
      "the paper is ambiguous; both readings computed at RA {:.3g} kOhm um^2 and the card's eCD "
      "{:.1f} nm (R_ON {:.2f} MOhm): 3 nm on the radius gives sigma_w = {:.1f} %, 3 nm on the "
      "diameter {:.1f} %. For sigma_w = {:.0f} % the radius reading needs {}, the diameter "
      "reading {}. "
      "Table I judges the card as written (configs/devices/sot_mram.toml: sigma_radius_nm = {:g}, "
      "the paper's words) and shows the diameter reading beside it",
      sot.EffectiveRa() / 1e3, sot.electrical_cd_nm, mohm(MtjCard(sot).r_on_ohm()),
      100 * SigmaW(sot, sot.electrical_cd_nm, on_radius),
      100 * SigmaW(sot, sot.electrical_cd_nm, on_diameter), 100 * target, need(ecd_r, on_radius),
      need(ecd_d, on_diameter), on_radius);
  f.options = {{"sigma_w_target", target}};
  return f;
}

}  // namespace

device::MtjOptions SotMramCard() {
  const auto card = device::LoadCardOrPreset("sot_mram");
  const auto* mtj = dynamic_cast<const MtjCard*>(card.get());
  Require(mtj != nullptr, "the sot_mram card must be of kind 'mtj' (the study's SOT-MRAM model)");
  return mtj->options();
}

void AddDevicePart(report::Study& study, const StudyOptions& options) {
  study.Add({"device",
             "Figs. 4, 8b, 8c, 10b, 11: MTJ statistics, the weight-spread mapping, the sigma_r "
             "reading",
             [options](report::StudyContext& ctx) {
               // The SOT-MRAM card as shipped in configs/devices/sot_mram.toml: editing it
               // recomputes every figure made from it.
               const MtjOptions sot = SotMramCard();
               const nlohmann::json card = MtjCard(sot).ToJson();
               const int samples = options.quick() ? 100000 : 1000000;
               const std::uint64_t seed = options.run.seed;
               ctx.Produce("fig04_ra_vs_tmgo", {{"card", card}}, [&] { return Fig04(sot); });
               ctx.Produce("fig08b_cv_vs_ecd", {{"card", card}, {"samples", samples}},
                           [&] { return Fig08b(sot, samples, Rng::Derive(seed, 8)); });
               ctx.Produce("fig08c_cv_vs_sigma_r", {{"card", card}, {"samples", samples}},
                           [&] { return Fig08c(sot, samples, Rng::Derive(seed, 9)); });
               ctx.Produce("fig08d_sigma_r_reading", {{"card", card}, {"sigma_w_target", 0.15}},
                           [&] { return SigmaRReading(sot, 0.15); });
               ctx.Produce("fig10b_weight_spread", {{"card", card}, {"pairs", samples}}, [&] {
                 return Fig10b(MtjCard(sot), samples, Rng::Derive(seed, 10));
               });
               ctx.Produce("fig11_allowed_spread", {{"tmr", sot.tmr}}, [&] { return Fig11(sot.tmr); });
             }});
}

}  // namespace aimc::paper
