#include "aimc/device/mtj.h"

#include <cmath>
#include <numbers>

#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "../common/test_error.h"

namespace aimc::device {
namespace {

// Reference: direct numerical integration (composite Simpson, 200k panels over [0, mu + 12 sigma])
// of r^k times the normal density, normalised by its integral. Simpson's error at this step is
// ~1e-12 relative; 1e-9 leaves room for rounding.
TEST(TruncatedNormalMoments, MatchNumericalIntegrationWhereTheCutMatters) {
  for (const auto& [mu, sigma] : {std::pair{1.0, 1.0}, std::pair{0.5, 1.0}, std::pair{32.5, 3.0}}) {
    double m[5];
    TruncatedNormalMoments(mu, sigma, m);
    const int n = 200000;
    const double hi = mu + 12 * sigma;
    const double h = hi / n;
    double integral[5] = {0, 0, 0, 0, 0};
    for (int i = 0; i <= n; ++i) {
      const double r = i * h;
      const double w = (i == 0 || i == n) ? 1.0 : (i % 2 ? 4.0 : 2.0);
      const double density = std::exp(-0.5 * (r - mu) * (r - mu) / (sigma * sigma));
      for (int k = 0; k < 5; ++k) integral[k] += w * density * std::pow(r, k);
    }
    for (int k = 1; k < 5; ++k) {
      EXPECT_NEAR(m[k], integral[k] / integral[0], 1e-9 * std::abs(m[k])) << "mu " << mu << " k " << k;
    }
  }
}

// Reference: without the cut (sigma << mu), E[r^2] = mu^2 + sigma^2 and
// Var[r^2] = 4 mu^2 sigma^2 + 2 sigma^4 (moments of a normal).
TEST(MtjCard, ExactMomentsOfConductance) {
  MtjOptions o = SotMramPreset();
  const MtjCard card(o);
  const double mu = o.electrical_cd_nm / 2;
  const double s = o.sigma_radius_nm;
  const double c = std::numbers::pi * 1e-6 / o.ra_ohm_um2;
  const StateStats stats = card.Stats();
  EXPECT_NEAR(stats.on.mean_s, c * (mu * mu + s * s), 1e-12 * stats.on.mean_s);
  EXPECT_NEAR(stats.on.stddev_s, c * std::sqrt(4 * mu * mu * s * s + 2 * s * s * s * s),
              1e-9 * stats.on.stddev_s);
  EXPECT_NEAR(stats.on.mean_s / stats.off.mean_s, 1 + o.tmr, 1e-12);
  EXPECT_NEAR(stats.on.cv(), stats.off.cv(), 1e-12);
}

// The preset's electrical CD is derived from Table I's R_ON = 6 MOhm at RA 20 kOhm um^2.
TEST(MtjCard, PresetMatchesTableOne) {
  const MtjCard card(SotMramPreset());
  EXPECT_NEAR(card.r_on_ohm(), 6e6, 1e-6 * 6e6);
  EXPECT_NEAR(card.options().electrical_cd_nm, 64.87, 0.01);
  EXPECT_LT(card.options().electrical_cd_nm, card.options().nominal_cd_nm);
}

// Fig. 4 fit: the two anchor points are reproduced and RA is one decade per 0.3 nm.
TEST(MtjCard, RaThicknessFit) {
  double ra0 = 0;
  double t0 = 0;
  FitRaThickness(5e3, 1.8, 50e3, 2.1, &ra0, &t0);
  EXPECT_NEAR(ra0 * std::exp(1.8 / t0), 5e3, 1e-9 * 5e3);
  EXPECT_NEAR(ra0 * std::exp(2.1 / t0), 50e3, 1e-9 * 50e3);
  EXPECT_NEAR(ra0, 5e-3, 1e-12);
  MtjOptions o = SotMramPreset();
  o.t_mgo_nm = 2.0;
  EXPECT_NEAR(o.EffectiveRa(), 5e-3 * std::pow(10.0, 2.0 / 0.3), 1e-6);
}

// Monte Carlo vs the exact moments. n = 400k devices: the sample mean's standard error is
// sigma/sqrt(n), the sample variance's sigma^2 sqrt((kurtosis - 1)/n) with the sample's own
// kurtosis; each must be within 5 standard errors (a 1-in-a-million miss for a correct model).
TEST(MtjCard, MonteCarloMatchesExactMoments) {
  for (double sigma_r : {0.0001, 3.0, 8.0}) {
    MtjOptions o = SotMramPreset();
    o.sigma_radius_nm = sigma_r;
    const MtjCard card(o);
    Rng rng(11);
    const int n = 400000;
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    std::vector<double> g(n);
    for (int i = 0; i < n; ++i) g[i] = card.Sample(State::kOn, rng);
    for (double x : g) s1 += x;
    const double mean = s1 / n;
    for (double x : g) {
      const double d = x - mean;
      s2 += d * d;
      s3 += d * d * d;
      s4 += d * d * d * d;
    }
    const double var = s2 / (n - 1);
    const double kurtosis = (s4 / n) / ((s2 / n) * (s2 / n));
    const StateStats exact = card.Stats();
    EXPECT_NEAR(mean, exact.on.mean_s, 5 * exact.on.stddev_s / std::sqrt(n)) << sigma_r;
    const double var_exact = exact.on.stddev_s * exact.on.stddev_s;
    EXPECT_NEAR(var, var_exact, 5 * var_exact * std::sqrt((kurtosis - 1) / n)) << sigma_r;
  }
}

TEST(MtjCard, SampleBothKeepsTheTmrOfOneDevice) {
  const MtjCard card(SotMramPreset());
  Rng rng(3);
  for (int i = 0; i < 100; ++i) {
    const auto [gp, gap] = card.SampleBoth(rng);
    EXPECT_NEAR(gp / gap, 2.5, 1e-12);
  }
}

TEST(MtjCard, WithRonMovesAlongRaAndRefusesOutsideItsRange) {
  const MtjCard card(SotMramPreset());
  const auto [lo, hi] = card.r_on_range_ohm();
  EXPECT_NEAR(lo, 1.5e6, 1e-6 * 1.5e6);  // 6 MOhm x 5/20
  EXPECT_NEAR(hi, 15e6, 1e-6 * 15e6);    // 6 MOhm x 50/20
  const auto moved = card.WithRon(3e6);
  EXPECT_NEAR(moved->r_on_ohm(), 3e6, 1e-6 * 3e6);
  EXPECT_NEAR(moved->Stats().on.cv(), card.Stats().on.cv(), 1e-12);
  try {
    card.WithRon(100e6);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot produce R_ON"), std::string::npos);
  }
}

TEST(MtjCard, WithOnOffRatioSetsTheTmr) {
  const MtjCard card(SotMramPreset());
  const auto moved = card.WithOnOffRatio(3.0);
  EXPECT_NEAR(moved->Stats().on_off_ratio(), 3.0, 1e-12);
  EXPECT_NEAR(moved->r_on_ohm(), card.r_on_ohm(), 1e-6);
  EXPECT_THROW(card.WithOnOffRatio(1.0), Error);
  // 1e308 made R_OFF = 1 / (G_P / 1e308) infinite: refused as the two-state card refuses it.
  const std::string huge = ErrorMessage([&] { card.WithOnOffRatio(1e308); });
  EXPECT_NE(huge.find("on/off ratio x R_ON (R_OFF) must be <= 1e+15 ohm"), std::string::npos)
      << huge;
  EXPECT_NO_THROW(card.WithOnOffRatio(1e15 / card.r_on_ohm()));
}

TEST(MtjOptions, ValidateNamesTheField) {
  const auto message = [](MtjOptions o) { return ErrorMessage([&] { o.Validate(); }); };
  MtjOptions o = SotMramPreset();
  o.electrical_cd_nm = -1;
  EXPECT_NE(message(o).find("electrical_cd_nm"), std::string::npos);
  o = SotMramPreset();
  o.nominal_cd_nm = 0;
  EXPECT_NE(message(o).find("nominal_cd_nm"), std::string::npos);
  o = SotMramPreset();
  o.sigma_radius_nm = o.electrical_cd_nm / 2;
  EXPECT_NE(message(o).find("sigma_radius_nm"), std::string::npos);
  o = SotMramPreset();
  o.tmr = 0;
  EXPECT_NE(message(o).find("tmr"), std::string::npos);
  EXPECT_EQ(message(SotMramPreset()), "");
}

}  // namespace
}  // namespace aimc::device
