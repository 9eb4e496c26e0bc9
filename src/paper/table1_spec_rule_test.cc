// Table I's spec rule on synthetic error curves, whose crossings are known analytically.
#include "table1_spec_rule.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "aimc/experiment/bisect.h"

namespace aimc::paper {
namespace {

struct Search {
  double spec = 0.0;
  std::vector<double> points;  // in the order asked for
  std::vector<double> errors;
};

// Feeds `search` from `error_pct` as DeriveSpecs feeds it from simulations. Stops after 1000
// points so that a search that never ends fails the test instead of hanging it.
Search SearchCurve(SpecSearch search, const std::function<double(double)>& error_pct) {
  Search s;
  while (!search.done() && s.points.size() < 1000) {
    s.points.push_back(search.point());
    s.errors.push_back(error_pct(s.points.back()));
    search.Feed(s.errors.back());
  }
  s.spec = search.done() ? search.spec() : std::nan("");
  return s;
}

Table1Options Options(int steps) {
  Table1Options v;
  v.error_budget_pct = 1.5;
  v.sigma_w_max = 0.6;
  v.r_on_min_ohm = 1e5;
  v.r_on_max_ohm = 1e8;
  v.bisection_steps = steps;
  return v;
}

// A uniform number in [0, 1) that depends on `x` and `seed` only (no std distribution, whose
// results differ between standard libraries).
double Jitter(double x, std::uint64_t seed) {
  std::mt19937_64 g(seed ^ std::bit_cast<std::uint64_t>(x));
  return static_cast<double>(g() >> 11) * 0x1.0p-53;
}

TEST(SpecRule, WithinBudgetIsAnIncreaseOfAtMostTheBudget) {
  EXPECT_TRUE(WithinBudget(2.5, 1.0, 1.5));  // exactly the budget counts as within
  EXPECT_FALSE(WithinBudget(2.625, 1.0, 1.5));
  EXPECT_TRUE(WithinBudget(0.5, 1.0, 1.5));  // below the reference (a lucky chip)
  EXPECT_FALSE(WithinBudget(std::nan(""), 1.0, 1.5));
}

// error = reference + 40 sigma^2 crosses the budget b at sqrt(b / 40): the spec is the last point
// within the budget, so it lies below the crossing by less than one halving of [0, sigma_w_max].
TEST(SpecRule, SigmaWLandsWithinOneStepBelowAKnownCrossing) {
  for (int steps : {1, 3, 6, 10}) {
    const Table1Options v = Options(steps);
    const double step = v.sigma_w_max / std::ldexp(1.0, steps);
    // Reading 1 reads against the network's own noise-free error, curve(0); reading 2 against
    // the clean-trained network's, 0.5 points lower, so its budget is used up earlier.
    const double noise_free = 7.25, clean = 6.75;
    const auto curve = [&](double sigma) { return noise_free + 40 * sigma * sigma; };
    for (const double reference : {noise_free, clean}) {
      const double crossing = std::sqrt((v.error_budget_pct - (noise_free - reference)) / 40);
      const Search s = SearchCurve(SpecSearch::SigmaW(v, reference), curve);
      SCOPED_TRACE(testing::Message() << steps << " steps, reference " << reference);
      EXPECT_LE(s.spec, crossing);
      EXPECT_LT(crossing - s.spec, step);
      // The far end, the noise-free end, then one point per halving.
      EXPECT_EQ(s.points.size(), static_cast<std::size_t>(steps) + 2);
      EXPECT_EQ(s.points[0], v.sigma_w_max);
      EXPECT_EQ(s.points[1], 0.0);
    }
  }
}

// error = reference + 3e6 Ohm / R_ON crosses the budget at R_ON = 2 MOhm; the bisection halves
// log R_ON, so the spec lies above the crossing by less than the factor of one halving.
TEST(SpecRule, ROnLandsWithinOneLogStepAboveAKnownCrossing) {
  for (int steps : {1, 3, 5, 10}) {
    const Table1Options v = Options(steps);
    const double factor = std::pow(v.r_on_max_ohm / v.r_on_min_ohm, 1.0 / std::ldexp(1.0, steps));
    const double digital = 1.1;
    const double crossing = 3e6 / v.error_budget_pct;
    const Search s =
        SearchCurve(SpecSearch::ROn(v, digital), [&](double r) { return digital + 3e6 / r; });
    SCOPED_TRACE(testing::Message() << steps << " steps");
    EXPECT_GE(s.spec, crossing);
    // 1e-12: the geometric midpoints are square roots, each rounded once.
    EXPECT_LT(s.spec / crossing, factor * (1 + 1e-12));
    EXPECT_EQ(s.points.size(), static_cast<std::size_t>(steps) + 2);
    EXPECT_EQ(s.points[0], v.r_on_min_ohm);
    EXPECT_EQ(s.points[1], v.r_on_max_ohm);
  }
}

// A curve within the budget over the whole range: the spec is the far end of the range
// (sigma_w_max, r_on_min_ohm), judged from that one point: "at least this much noise", "at most
// this R_ON" is all the range can tell.
TEST(SpecRule, ACurveThatNeverCrossesGivesTheFarEndOfTheRange) {
  const Table1Options v = Options(6);
  const Search sigma =
      SearchCurve(SpecSearch::SigmaW(v, 5.0), [](double s) { return 5.0 + 0.1 * s; });
  EXPECT_EQ(sigma.spec, v.sigma_w_max);
  EXPECT_EQ(sigma.points.size(), 1u);
  const Search r_on = SearchCurve(SpecSearch::ROn(v, 1.0), [](double r) { return 1.0 + 1e3 / r; });
  EXPECT_EQ(r_on.spec, v.r_on_min_ohm);
  EXPECT_EQ(r_on.points.size(), 1u);
}

// A curve over the budget already at the good end: no spec in the range (NaN), after the two
// ends. Reading 2 when the sigma_train network's noise-free error exceeds the clean one's by
// more than the budget; R_ON when even r_on_max_ohm loses too much to the wires.
TEST(SpecRule, ACurveOverTheBudgetAtTheGoodEndHasNoSpec) {
  const Table1Options v = Options(6);
  const double noise_free = 9.0, clean = 7.0;  // 2 points apart, budget 1.5
  const Search sigma =
      SearchCurve(SpecSearch::SigmaW(v, clean), [&](double s) { return noise_free + 10 * s; });
  EXPECT_TRUE(std::isnan(sigma.spec));
  EXPECT_EQ(sigma.points.size(), 2u);
  const Search r_on = SearchCurve(SpecSearch::ROn(v, 1.0), [](double r) { return 3.0 + 1e9 / r; });
  EXPECT_TRUE(std::isnan(r_on.spec));
  EXPECT_EQ(r_on.points.size(), 2u);
}

// Monte-Carlo errors scatter around the budget where the curve reaches it, and the scatter makes
// the measured curve non-monotone. Whatever the scatter, the search ends after at most
// bisection_steps + 2 points, and its spec is a point of the range that was measured within the
// budget (never one over it, never outside the range).
TEST(SpecRule, NoiseAroundTheBudgetStillEndsInTheRange) {
  const Table1Options v = Options(8);
  const double reference = 4.0, budget = v.error_budget_pct;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    // sigma_w: exactly the reference at 0 (as the noise-free point is), then scattered by up to
    // +-1 point around the budget from the first few percent on.
    const auto sigma_curve = [&](double s) {
      if (s == 0.0) return reference;
      return reference + budget * std::min(1.0, s / 0.03) + 2 * Jitter(s, seed) - 1;
    };
    const Search sigma = SearchCurve(SpecSearch::SigmaW(v, reference), sigma_curve);
    ASSERT_LE(sigma.points.size(), static_cast<std::size_t>(v.bisection_steps) + 2);
    ASSERT_FALSE(std::isnan(sigma.spec));  // the good end is within the budget
    EXPECT_GE(sigma.spec, 0.0);
    EXPECT_LE(sigma.spec, v.sigma_w_max);
    // R_ON: within the budget at r_on_max_ohm, scattered around it everywhere below.
    const auto r_on_curve = [&](double r) {
      if (r == v.r_on_max_ohm) return reference;
      return reference + budget + 2 * Jitter(r, seed) - 1;
    };
    const Search r_on = SearchCurve(SpecSearch::ROn(v, reference), r_on_curve);
    ASSERT_LE(r_on.points.size(), static_cast<std::size_t>(v.bisection_steps) + 2);
    ASSERT_FALSE(std::isnan(r_on.spec));
    EXPECT_GE(r_on.spec, v.r_on_min_ohm);
    EXPECT_LE(r_on.spec, v.r_on_max_ohm);
    for (const Search* s : {&sigma, &r_on}) {
      bool measured_within = false;
      for (std::size_t i = 0; i < s->points.size(); ++i)
        if (s->points[i] == s->spec)
          measured_within = WithinBudget(s->errors[i], reference, budget);
      EXPECT_TRUE(measured_within) << "spec " << s->spec;
    }
  }
}

// The reference: the rule as DeriveSpecs wrote it inline before it had a name (a Bisection over
// the same ends fed "error - reference <= budget"), point for point and to the bit.
TEST(SpecRule, IsTheBisectionOfErrorIncreaseWithinBudget) {
  const Table1Options v = Options(7);
  const double reference = 3.0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const auto curve = [&](double x) { return reference + 3 * Jitter(x, seed); };
    const auto ok = [&](double x) { return curve(x) - reference <= v.error_budget_pct; };
    EXPECT_EQ(
        std::bit_cast<std::uint64_t>(SearchCurve(SpecSearch::SigmaW(v, reference), curve).spec),
        std::bit_cast<std::uint64_t>(
            experiment::BisectBoundary(0.0, v.sigma_w_max, v.bisection_steps, false, ok)));
    EXPECT_EQ(std::bit_cast<std::uint64_t>(SearchCurve(SpecSearch::ROn(v, reference), curve).spec),
              std::bit_cast<std::uint64_t>(experiment::BisectBoundary(
                  v.r_on_max_ohm, v.r_on_min_ohm, v.bisection_steps, true, ok)));
  }
}

}  // namespace
}  // namespace aimc::paper
