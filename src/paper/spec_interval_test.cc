// The spec interval on synthetic curves whose answer is known: image i is wrong at a point x
// when its latent u_i < p0 + s x (the reference: u_i < p0), so the error increase is the
// fraction of u in [p0, p0 + s x) and the spec (where the increase crosses the budget B) is
// the empirical quantile x = B / s, with standard deviation sqrt(B (1 - B) / N) / s over images.
#include "spec_interval.h"

#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"

namespace aimc::paper {
namespace {

constexpr double kP0 = 0.10;      // reference error
constexpr double kBudget = 0.05;  // B, as a fraction (5 points)

std::vector<double> Grid() {
  std::vector<double> x;
  for (int k = 0; k <= 40; ++k) x.push_back(0.025 * k);
  return x;
}

// The crossing of the budget by linear interpolation, from the good end (x = 0).
double Crossing(const std::vector<double>& increase) {
  const std::vector<double> x = Grid();
  const double b = 100 * kBudget;
  if (increase[0] > b) return std::nan("");
  for (std::size_t k = 1; k < x.size(); ++k)
    if (increase[k] > b) {
      const double t = (b - increase[k - 1]) / (increase[k] - increase[k - 1]);
      return x[k - 1] + t * (x[k] - x[k - 1]);
    }
  return x.back();
}

struct Curve {
  std::vector<WrongImages> points;
  WrongImages reference;
};

// `chips` chips, chip c with slope s (1 + tau z_c); images' latents shared by the chips.
Curve MakeCurve(std::uint64_t seed, int images, int chips, double s, double tau) {
  Rng rng(seed);
  std::vector<double> u(static_cast<std::size_t>(images));
  for (double& v : u) v = rng.Uniform();
  std::vector<double> slope;
  for (int c = 0; c < chips; ++c) slope.push_back(s * (1 + tau * rng.Normal()));
  Curve curve;
  curve.reference.assign(1, std::vector<std::uint8_t>(u.size()));
  for (std::size_t i = 0; i < u.size(); ++i) curve.reference[0][i] = u[i] < kP0;
  for (double x : Grid()) {
    WrongImages w(static_cast<std::size_t>(chips), std::vector<std::uint8_t>(u.size()));
    for (int c = 0; c < chips; ++c)
      for (std::size_t i = 0; i < u.size(); ++i)
        w[static_cast<std::size_t>(c)][i] = u[i] < kP0 + slope[static_cast<std::size_t>(c)] * x;
    curve.points.push_back(std::move(w));
  }
  return curve;
}

SpecInterval Interval(const Curve& c, std::uint64_t seed, int replicates = 1000) {
  IntervalOptions o;
  o.replicates = replicates;
  o.seed = seed;
  return BootstrapSpec(c.points, c.reference, Crossing, 0.0, Grid().back(), false, o);
}

TEST(SpecInterval, ImagesSpreadIsTheEmpiricalQuantiles) {
  // s = 0.1 per unit x: the spec is at x = 0.5, sd sqrt(0.05 * 0.95 / 4000) / 0.1 = 0.0345.
  const double s = 0.1;
  const int n = 4000;
  const double expected_sd = std::sqrt(kBudget * (1 - kBudget) / n) / s;
  double sd_sum = 0.0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const SpecInterval iv = Interval(MakeCurve(seed, n, 1, s, 0.0), seed);
    EXPECT_EQ(iv.chip_sd, 0.0);  // one chip: the chips do not vary
    EXPECT_NEAR(iv.estimate, kBudget / s, 4 * expected_sd);
    EXPECT_LE(iv.low, iv.estimate);
    EXPECT_GE(iv.high, iv.estimate);
    // A 95 % normal interval is +-1.96 sd wide. One curve's own sd differs from the binomial's
    // by its sampling error (the crossing of 4,000 images' empirical curve, with B / s resolved
    // on a grid of 0.025), and 1,000 replicates place the 2.5th percentile to ~10 %: 35 %.
    EXPECT_NEAR(iv.high - iv.low, 2 * 1.96 * expected_sd, 0.35 * 2 * 1.96 * expected_sd);
    sd_sum += iv.image_sd;
  }
  // Averaged over four curves the bootstrap's sd is within 12 % of the binomial quantile's: the
  // sd of one bootstrap sd from 1,000 replicates is ~2 %, a curve's own spread ~10 % (4 of them
  // average to ~5 %), and the grid's interpolation bends the quantile by a few %.
  EXPECT_NEAR(sd_sum / 4, expected_sd, 0.12 * expected_sd);
}

TEST(SpecInterval, CoversTheTrueSpecAsOftenAsItsLevel) {
  // 60 curves at level 0.9: a covering count below 44 (binomial 60, 0.9: P < 1e-3) fails.
  const double s = 0.1;
  int covered = 0;
  for (std::uint64_t seed = 100; seed < 160; ++seed) {
    IntervalOptions o;
    o.replicates = 400;
    o.level = 0.9;
    o.seed = seed;
    const Curve c = MakeCurve(seed, 1000, 1, s, 0.0);
    const SpecInterval iv =
        BootstrapSpec(c.points, c.reference, Crossing, 0.0, Grid().back(), false, o);
    covered += iv.low <= kBudget / s && kBudget / s <= iv.high;
  }
  EXPECT_GE(covered, 44);
  EXPECT_LE(covered, 59);  // not an interval that covers everything
}

TEST(SpecInterval, ChipsSpreadFollowsTheSlopesSpread) {
  // The spec is B / mean(s_c): its sd over chips is (B / s) tau / sqrt(C), less the bootstrap's
  // (C - 1) / C in variance. 24 chips, tau 0.3: 0.5 * 0.3 / sqrt(24) * sqrt(23 / 24) = 0.030.
  const int chips = 24;
  const double tau = 0.3, s = 0.1;
  const double expected = kBudget / s * tau / std::sqrt(chips) * std::sqrt((chips - 1.0) / chips);
  double sum = 0.0;
  for (std::uint64_t seed = 7; seed < 11; ++seed)
    sum += Interval(MakeCurve(seed, 500, chips, s, tau), seed, 400).chip_sd;
  // The chips' slopes are a sample too (their own sd is known to ~15 % from 24): 30 %.
  EXPECT_NEAR(sum / 4, expected, 0.3 * expected);
}

TEST(SpecInterval, CountsNeededFollowTheSquareRootLaw) {
  SpecInterval iv;
  iv.chips = 4;
  iv.images = 1000;
  iv.chip_sd = 0.02;
  iv.image_sd = 0.01;
  iv.level = 0.95;
  const double z = 1.959964;
  EXPECT_NEAR(iv.HalfWidth(4, 1000), z * std::sqrt(0.02 * 0.02 + 0.01 * 0.01), 1e-5);
  // Half the width: four times the chips and the images.
  EXPECT_NEAR(iv.HalfWidth(16, 4000), iv.HalfWidth(4, 1000) / 2, 1e-12);
  // Chips alone: z sqrt(0.02^2 * 4 / c + 0.01^2) <= 0.03 holds from c = 12 on (z = 1.96); the
  // count is the smallest that meets it.
  const std::int64_t c = iv.ChipsFor(0.03);
  EXPECT_EQ(c, 12);
  EXPECT_LE(iv.HalfWidth(static_cast<double>(c), 1000), 0.03);
  EXPECT_GT(iv.HalfWidth(static_cast<double>(c - 1), 1000), 0.03);
  // Below the images' own part no chip count does.
  EXPECT_EQ(iv.ChipsFor(0.9 * z * 0.01), -1);
  const std::int64_t n = iv.ImagesFor(0.05);
  EXPECT_LE(iv.HalfWidth(4, static_cast<double>(n)), 0.05);
  EXPECT_GT(iv.HalfWidth(4, static_cast<double>(n - 1)), 0.05);
  EXPECT_EQ(iv.ImagesFor(0.9 * z * 0.02), -1);
  // Neither alone reaches 0.01: both grow by k, and k times both gives exactly that width.
  const double k = iv.BothScale(0.01);
  EXPECT_NEAR(iv.HalfWidth(4 * k, 1000 * k), 0.01, 1e-12);
  EXPECT_EQ(iv.NeedsText(0.01), fmt::format("{} chips x {} images ({:.3g} x both)",
                                             static_cast<std::int64_t>(std::ceil(4 * k)),
                                             static_cast<std::int64_t>(std::ceil(1000 * k)), k));
  // A width the measurement already has.
  EXPECT_EQ(iv.NeedsText(1.0), "the 4 chips x 1000 images measured");
}

TEST(SpecInterval, NoSpecCountsAtTheGoodEnd) {
  // The reference is far better than every point: over the budget at x = 0 in every replicate.
  Curve c = MakeCurve(3, 500, 1, 0.1, 0.0);
  for (auto& w : c.points)
    for (auto& row : w)
      for (std::size_t i = 0; i < row.size(); i += 4) row[i] = 1;
  const SpecInterval iv = Interval(c, 3, 100);
  EXPECT_EQ(iv.estimate, 0.0);
  EXPECT_EQ(iv.no_spec, 100);
  EXPECT_EQ(iv.low, 0.0);
  EXPECT_EQ(iv.high, 0.0);
}

TEST(SpecInterval, RefusesCurvesThatDoNotMatch) {
  Curve c = MakeCurve(5, 100, 2, 0.1, 0.0);
  c.points[3].push_back(c.points[3][0]);  // three chips among twos
  EXPECT_THROW(Interval(c, 1, 10), Error);
  Curve d = MakeCurve(5, 100, 1, 0.1, 0.0);
  d.points[2][0].pop_back();  // one image fewer
  EXPECT_THROW(Interval(d, 1, 10), Error);
}

}  // namespace
}  // namespace aimc::paper
