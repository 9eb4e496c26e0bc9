#include "aimc/experiment/bisect.h"

#include <cmath>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace aimc::experiment
