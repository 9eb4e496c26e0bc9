#include "aimc/experiment/bisect.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "aimc/common/error.h"

namespace aimc::experiment {
namespace {

// References: thresholds known in closed form; bisection halves the bracket each step, so after
// n steps the answer is within (bad - good) / 2^n (a factor (bad/good)^(1/2^n) on a log scale).
TEST(Bisect, BisectionFindsALinearThreshold) {
  int calls = 0;
  const double x = BisectBoundary(0.0, 1.0, 20, false, [&](double v) {
    ++calls;
    return v <= 0.37;
  });
  EXPECT_LE(x, 0.37);
  EXPECT_NEAR(x, 0.37, 1.0 / (1 << 20));
  EXPECT_EQ(calls, 22);  // both ends, then one per step
}

TEST(Bisect, BisectionFindsALogThresholdFromAbove) {
  // The smallest R_ON that is fine: ok above 5e6, searched from 1e8 (good) down to 1e5 (bad).
  const double r = BisectBoundary(1e8, 1e5, 30, true, [](double v) { return v >= 5e6; });
  EXPECT_GE(r, 5e6);
  EXPECT_NEAR(std::log10(r), std::log10(5e6), 1e-6);
}

TEST(Bisect, BisectionReportsWholeRangeAndNothing) {
  EXPECT_EQ(BisectBoundary(0.0, 1.0, 5, false, [](double) { return true; }), 1.0);
  EXPECT_TRUE(std::isnan(BisectBoundary(0.0, 1.0, 5, false, [](double) { return false; })));
}

// The state machine judges exactly BisectBoundary's points, in its order, to its result; a
// finished one refuses more verdicts.
TEST(Bisect, BisectionOneVerdictAtATimeIsBisectBoundary) {
  for (const double threshold : {-1.0, 0.0, 0.37, 0.99, 2.0}) {
    for (const int steps : {0, 1, 7}) {
      const auto ok = [&](double v) { return v <= threshold; };
      std::vector<double> direct_points, machine_points;
      const double direct = BisectBoundary(0.0, 1.0, steps, false, [&](double v) {
        direct_points.push_back(v);
        return ok(v);
      });
      Bisection b(0.0, 1.0, steps, false);
      while (!b.done()) {
        machine_points.push_back(b.point());
        b.Feed(ok(b.point()));
      }
      EXPECT_EQ(machine_points, direct_points) << threshold << " " << steps;
      if (std::isnan(direct)) {
        EXPECT_TRUE(std::isnan(b.result()));
      } else {
        EXPECT_EQ(b.result(), direct);
      }
      EXPECT_THROW(b.Feed(true), Error);
      EXPECT_THROW(b.point(), Error);
    }
  }
  Bisection unfinished(1e8, 1e5, 3, true);
  EXPECT_THROW(unfinished.result(), Error);
  EXPECT_THROW(Bisection(0.0, 1.0, 3, true), Error);
}

}  // namespace
}  // namespace aimc::experiment
