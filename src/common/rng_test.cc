#include "aimc/common/rng.h"

#include <cmath>

#include <gtest/gtest.h>

namespace aimc {
namespace {

TEST(Rng, SameSeedSameDraws) {
  Rng a(42);
  Rng b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.Normal(), b.Normal());
}

// Reference: the standard normal has mean 0 and variance 1; with n = 200000 draws the sample
// mean has standard error 1/sqrt(n) = 0.0022 and the sample variance sqrt(2/n) = 0.0032; the
// bounds are 5 standard errors.
TEST(Rng, NormalHasUnitMoments) {
  Rng rng(7);
  const int n = 200000;
  double sum = 0.0;
  double sum2 = 0.0;
  for (int i = 0; i < n; ++i) {
    const double x = rng.Normal();
    sum += x;
    sum2 += x * x;
  }
  const double mean = sum / n;
  const double var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.0, 5 * 0.0022);
  EXPECT_NEAR(var, 1.0, 5 * 0.0032);
}

TEST(Rng, UniformInUnitInterval) {
  Rng rng(1);
  for (int i = 0; i < 10000; ++i) {
    const double u = rng.Uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(Rng, DerivedStreamsDiffer) {
  EXPECT_NE(Rng::Derive(1, 0), Rng::Derive(1, 1));
  EXPECT_NE(Rng::Derive(1, 0), Rng::Derive(2, 0));
  EXPECT_EQ(Rng::Derive(3, 5), Rng::Derive(3, 5));
}

}  // namespace
}  // namespace aimc
