#include "aimc/mapping/ternary.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include <nlohmann/json.hpp>

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

namespace {

void RequireMoments(const device::ConductanceStats& s, const char* state) {
  Require(std::isfinite(s.mean_s) && s.mean_s > 0, "stats.{}.mean_s must be > 0 S, got {}", state,
          s.mean_s);
  Require(std::isfinite(s.stddev_s) && s.stddev_s >= 0,
          "stats.{}.stddev_s must be >= 0 S, got {}", state, s.stddev_s);
}

void RequireTmr(double tmr) {
  Require(std::isfinite(tmr) && tmr >= kMinTmr && tmr <= kMaxTmr,
          "tmr must be > 0, within [{:g}, {:g}] (the on/off ratio - 1), got {}", kMinTmr,
          kMaxTmr, tmr);
}

void RequireSpread(double value, const char* argument) {
  Require(std::isfinite(value) && value >= 0 && value <= kMaxRelativeSpread,
          "{} must be in [0, {:g}], got {}", argument, kMaxRelativeSpread, value);
}

// A weight spread that reaches a user is finite or an error naming its inputs.
bool Finite(const WeightSpread& w) {
  for (int k = 0; k < 3; ++k) {
    if (!std::isfinite(w.mean[k]) || !std::isfinite(w.sigma[k])) return false;
  }
  return true;
}

}  // namespace

WeightSpread AnalyticSpread(const device::StateStats& stats) {
  RequireMoments(stats.on, "on");
  RequireMoments(stats.off, "off");
  WeightSpread w;
  w.dg_s = stats.on.mean_s - stats.off.mean_s;
  Require(w.dg_s > 0, "the ON state must conduct more than the OFF state (dG = {} S)", w.dg_s);
  // w = (G+ - G-) / dG with independent devices: the variances add.
  const double pm1 = std::hypot(stats.on.stddev_s, stats.off.stddev_s) / w.dg_s;
  w.sigma[0] = pm1;
  w.sigma[1] = std::numbers::sqrt2 * stats.off.stddev_s / w.dg_s;
  w.sigma[2] = pm1;
  Require(Finite(w),
          "the weight spread of states with dG = {} S and standard deviations {} S (ON), {} S "
          "(OFF) is not finite: dG is too small beside them",
          w.dg_s, stats.on.stddev_s, stats.off.stddev_s);
  return w;
}

WeightSpread MonteCarloSpread(const device::DeviceCard& card, std::int64_t pairs,
                              std::uint64_t seed) {
  // The pairs as drawn: ReadSpread at low bias right after programming, without the card's
  // physics (the same draws of `seed`).
  if (!card.physics().any()) return ReadSpread(card, {}, pairs, seed);
  auto drawn = card.WithRon(card.r_on_ohm());
  drawn->set_physics({});
  return ReadSpread(*drawn, {}, pairs, seed);
}

// With mu_OFF = mu_ON / (1 + TMR), dG = mu_OFF * TMR, sigma_ON = cv_on (1 + TMR) mu_OFF and
// sigma_OFF = cv_off mu_OFF, the Fig. 10 relations in relative terms read
//   sigma_0   = sqrt(2) cv_off / TMR
//   sigma_+-1 = sqrt(cv_on^2 (1 + TMR)^2 + cv_off^2) / TMR.
double Sigma0FromCv(double cv_off, double tmr) {
  RequireSpread(cv_off, "cv_off");
  RequireTmr(tmr);
  return std::numbers::sqrt2 * cv_off / tmr;
}

double SigmaPm1FromCv(double cv_on, double cv_off, double tmr) {
  RequireSpread(cv_on, "cv_on");
  RequireSpread(cv_off, "cv_off");
  RequireTmr(tmr);
  return std::hypot(cv_on * (1.0 + tmr), cv_off) / tmr;
}

AllowedSpread AllowedSpreadFor(double sigma_w, double tmr) {
  RequireSpread(sigma_w, "sigma_w");
  RequireTmr(tmr);
  AllowedSpread a;
  a.zero_cv_off = sigma_w * tmr / std::numbers::sqrt2;
  a.pm1_equal_cv = sigma_w * tmr / std::hypot(1.0 + tmr, 1.0);
  a.pm1_on_only_cv = sigma_w * tmr / (1.0 + tmr);
  a.pm1_off_only_cv = sigma_w * tmr;
  return a;
}

WeightSpread ReadSpread(const device::DeviceCard& card, const device::ReadConditions& conditions,
                        std::int64_t pairs, std::uint64_t seed, double rms_error[3],
                        bool drift_compensation) {
  Require(pairs >= 2, "Monte Carlo needs at least 2 pairs per level, got {}", pairs);
  conditions.Validate();
  const double v = conditions.read_voltage_v;
  const device::ReadNoise& noise = card.physics().read_noise;
  const double sigma_read = noise.SigmaAt(conditions.time_s);
  const bool shot = noise.shot_fano > 0 && v > 0;
  const device::IvShape iv[2] = {card.Iv(device::State::kOn), card.Iv(device::State::kOff)};
  WeightSpread w;
  w.dg_s = card.UnitWeightSiemens(v);
  Require(w.dg_s > 0,
          "card '{}': the unit weight at read_voltage_v = {} V is {} S; ON must conduct more "
          "than OFF",
          card.name(), v, w.dg_s);
  Rng rng(seed);
  Rng aging(Rng::Derive(seed, 1));
  Rng reads(Rng::Derive(seed, 2));
  double programmed_sum = 0.0, read_sum = 0.0;
  // The conductance one read sees: G0 s(V) (1 + sigma xi), plus shot noise of its current.
  const auto read = [&](device::State written, double g0) {
    const device::DeviceCard::Aged a = card.Age(written, g0, conditions, aging);
    programmed_sum += g0 * iv[written == device::State::kOn ? 0 : 1].Shape(v);
    const double g = a.g_s * iv[a.state == device::State::kOn ? 0 : 1].Shape(v);
    double var_rel = sigma_read * sigma_read;
    if (shot) var_rel += noise.ShotVariance(g * v) / ((g * v) * (g * v));
    const double r = g * (1.0 + std::sqrt(var_rel) * reads.Normal());
    read_sum += r;
    return r;
  };
  std::vector<double> x[3];
  for (int level = -1; level <= 1; ++level) {
    const PairStates states = StatesOf(level);
    x[level + 1].resize(static_cast<std::size_t>(pairs));
    for (std::int64_t i = 0; i < pairs; ++i) {
      const double g_plus = read(states.plus, card.Sample(states.plus, rng));
      const double g_minus = read(states.minus, card.Sample(states.minus, rng));
      x[level + 1][static_cast<std::size_t>(i)] = (g_plus - g_minus) / w.dg_s;
    }
  }
  const double gain = drift_compensation && read_sum > 0 ? programmed_sum / read_sum : 1.0;
  for (int level = -1; level <= 1; ++level) {
    double sum = 0.0, sum2 = 0.0, err2 = 0.0;
    for (double xi : x[level + 1]) {
      const double y = gain * xi;
      sum += y;
      sum2 += y * y;
      err2 += (y - level) * (y - level);
    }
    const double n = static_cast<double>(pairs);
    const double mean = sum / n;
    w.mean[level + 1] = mean;
    w.sigma[level + 1] = std::sqrt(std::max(0.0, (sum2 - n * mean * mean) / (n - 1.0)));
    if (rms_error) {
      rms_error[level + 1] = std::sqrt(err2 / n);
      Require(std::isfinite(rms_error[level + 1]),
              "card '{}' read at {}: the rms error of level {} is {}, not a finite number",
              card.name(), conditions.ToJson().dump(), level, rms_error[level + 1]);
    }
  }
  Require(Finite(w), "card '{}' read at {}: the weight spread is not finite (sigma {}, {}, {})",
          card.name(), conditions.ToJson().dump(), w.sigma[0], w.sigma[1], w.sigma[2]);
  return w;
}

std::vector<LevelSpread> MultiLevelSpread(const device::DeviceCard& card, int max_level) {
  Require(max_level >= 1, "MultiLevelSpread: max_level must be >= 1, got {}", max_level);
  Require(max_level == 1 || card.levels() > max_level,
          "card '{}' holds {} conductance levels per device; weights of {} levels need {}",
          card.name(), card.levels(), 2 * max_level + 1, max_level + 1);
  const device::StateStats stats = card.Stats();
  const double dg = stats.on.mean_s - stats.off.mean_s;
  const device::ConductanceStats zero = card.LevelStats(0, max_level);
  std::vector<LevelSpread> out;
  for (int m = 0; m <= max_level; ++m) {
    const device::ConductanceStats g = card.LevelStats(m, max_level);
    out.push_back({(g.mean_s - zero.mean_s) / dg,
                   std::sqrt(g.stddev_s * g.stddev_s + zero.stddev_s * zero.stddev_s) / dg});
  }
  return out;
}

ProgrammedPairs Program(const Eigen::MatrixXi& weights, const device::DeviceCard& card, Rng& rng,
                        int max_level) {
  ProgrammedPairs p;
  const device::StateStats stats = card.Stats();
  p.dg_s = stats.on.mean_s - stats.off.mean_s;
  p.g_plus.resize(weights.rows(), weights.cols());
  p.g_minus.resize(weights.rows(), weights.cols());
  Require(max_level >= 1, "Program: max_level must be >= 1, got {}", max_level);
  Require(max_level == 1 || card.levels() > max_level,
          "card '{}' holds {} conductance levels per device; weights of {} levels need {} (set "
          "`levels` in the card, docs/devices.md)",
          card.name(), card.levels(), 2 * max_level + 1, max_level + 1);
  // Column-major walk: the draw order is fixed by the matrix layout, so a seed gives one chip.
  for (Eigen::Index j = 0; j < weights.cols(); ++j) {
    for (Eigen::Index i = 0; i < weights.rows(); ++i) {
      const int w = weights(i, j);
      if (max_level == 1) {
        const PairStates states = StatesOf(w);
        p.g_plus(i, j) = card.Sample(states.plus, rng);
        p.g_minus(i, j) = card.Sample(states.minus, rng);
        continue;
      }
      Require(w >= -max_level && w <= max_level, "Program: weight level {} outside [-{}, {}]", w,
              max_level, max_level);
      p.g_plus(i, j) = card.SampleLevel(std::max(w, 0), max_level, rng);
      p.g_minus(i, j) = card.SampleLevel(std::max(-w, 0), max_level, rng);
    }
  }
  return p;
}

ProgrammedPairs ProgramContinuous(const Eigen::MatrixXd& weights, const device::DeviceCard& card,
                                  Rng& rng) {
  card.RequireAnalogStates("continuous weights");
  ProgrammedPairs p;
  const device::StateStats stats = card.Stats();
  p.dg_s = stats.on.mean_s - stats.off.mean_s;
  p.g_plus.resize(weights.rows(), weights.cols());
  p.g_minus.resize(weights.rows(), weights.cols());
  for (Eigen::Index j = 0; j < weights.cols(); ++j) {
    for (Eigen::Index i = 0; i < weights.rows(); ++i) {
      const double w = weights(i, j);
      Require(std::isfinite(w) && w >= -1.0 && w <= 1.0,
              "ProgramContinuous: weight ({}, {}) is {}, outside [-1, 1]", i, j, w);
      p.g_plus(i, j) = card.SampleFraction(std::max(w, 0.0), rng);
      p.g_minus(i, j) = card.SampleFraction(std::max(-w, 0.0), rng);
    }
  }
  return p;
}

}  // namespace aimc::mapping
