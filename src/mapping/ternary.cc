#include "aimc/mapping/ternary.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "aimc/common/error.h"

namespace aimc::mapping {

using device::State;

PairStates StatesOf(int weight) {
  switch (weight) {
    case 1:
      return {State::kOn, State::kOff};
    case 0:
      return {State::kOff, State::kOff};
    case -1:
      return {State::kOff, State::kOn};
    default:
      Fail("a ternary weight must be -1, 0 or +1, got {}", weight);
  }
}

double WeightSpread::sigma_max() const { return std::max({sigma[0], sigma[1], sigma[2]}); }

WeightSpread AnalyticSpread(const device::StateStats& stats) {
  WeightSpread w;
  w.dg_s = stats.on.mean_s - stats.off.mean_s;
  Require(w.dg_s > 0, "the ON state must conduct more than the OFF state (dG = {} S)", w.dg_s);
  // w = (G+ - G-) / dG with independent devices: the variances add.
  const double pm1 = std::hypot(stats.on.stddev_s, stats.off.stddev_s) / w.dg_s;
  w.sigma[0] = pm1;
  w.sigma[1] = std::numbers::sqrt2 * stats.off.stddev_s / w.dg_s;
  w.sigma[2] = pm1;
  return w;
}

WeightSpread MonteCarloSpread(const device::DeviceCard& card, std::int64_t pairs,
                              std::uint64_t seed) {
  Require(pairs >= 2, "Monte Carlo needs at least 2 pairs per level, got {}", pairs);
  const device::StateStats stats = card.Stats();
  WeightSpread w;
  w.dg_s = stats.on.mean_s - stats.off.mean_s;
  Rng rng(seed);
  for (int level = -1; level <= 1; ++level) {
    const PairStates states = StatesOf(level);
    double sum = 0.0;
    double sum2 = 0.0;
    for (std::int64_t i = 0; i < pairs; ++i) {
      const double g_plus = card.Sample(states.plus, rng);
      const double g_minus = card.Sample(states.minus, rng);
      const double x = (g_plus - g_minus) / w.dg_s;
      sum += x;
      sum2 += x * x;
    }
    const double n = static_cast<double>(pairs);
    const double mean = sum / n;
    w.mean[level + 1] = mean;
    w.sigma[level + 1] = std::sqrt(std::max(0.0, (sum2 - n * mean * mean) / (n - 1.0)));
  }
  return w;
}

// With mu_OFF = mu_ON / (1 + TMR), dG = mu_OFF * TMR, sigma_ON = cv_on (1 + TMR) mu_OFF and
// sigma_OFF = cv_off mu_OFF, the Fig. 10 relations in relative terms read
//   sigma_0   = sqrt(2) cv_off / TMR
//   sigma_+-1 = sqrt(cv_on^2 (1 + TMR)^2 + cv_off^2) / TMR.
double Sigma0FromCv(double cv_off, double tmr) { return std::numbers::sqrt2 * cv_off / tmr; }

double SigmaPm1FromCv(double cv_on, double cv_off, double tmr) {
  return std::hypot(cv_on * (1.0 + tmr), cv_off) / tmr;
}

AllowedSpread AllowedSpreadFor(double sigma_w, double tmr) {
  Require(std::isfinite(sigma_w) && sigma_w >= 0, "sigma_w must be >= 0, got {}", sigma_w);
  Require(std::isfinite(tmr) && tmr > 0, "tmr must be > 0, got {}", tmr);
  AllowedSpread a;
  a.zero_cv_off = sigma_w * tmr / std::numbers::sqrt2;
  a.pm1_equal_cv = sigma_w * tmr / std::hypot(1.0 + tmr, 1.0);
  a.pm1_on_only_cv = sigma_w * tmr / (1.0 + tmr);
  a.pm1_off_only_cv = sigma_w * tmr;
  return a;
}

ProgrammedPairs Program(const Eigen::MatrixXi& weights, const device::DeviceCard& card, Rng& rng) {
  ProgrammedPairs p;
  const device::StateStats stats = card.Stats();
  p.dg_s = stats.on.mean_s - stats.off.mean_s;
  p.g_plus.resize(weights.rows(), weights.cols());
  p.g_minus.resize(weights.rows(), weights.cols());
  // Column-major walk: the draw order is fixed by the matrix layout, so a seed gives one chip.
  for (Eigen::Index j = 0; j < weights.cols(); ++j) {
    for (Eigen::Index i = 0; i < weights.rows(); ++i) {
      const PairStates states = StatesOf(weights(i, j));
      p.g_plus(i, j) = card.Sample(states.plus, rng);
      p.g_minus(i, j) = card.Sample(states.minus, rng);
    }
  }
  return p;
}

}  // namespace aimc::mapping
