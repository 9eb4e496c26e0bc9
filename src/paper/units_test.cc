// RunUnits against the plain loop it stands for: with one rank cluster::Distribute runs the units
// in order, so the results must be exactly the computed values, in unit order.
#include "units.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace aimc::paper {
namespace {

std::vector<double> Unit(std::size_t i) {
  // Lengths 0 to 3, and values that a lossy round trip would change: -0, a subnormal, NaN, 1/3.
  std::vector<double> r;
  const double values[] = {-0.0, std::numeric_limits<double>::denorm_min(), std::nan(""),
                           1.0 / 3.0};
  for (std::size_t k = 0; k < i % 4; ++k) r.push_back(values[(i + k) % 4]);
  return r;
}

TEST(RunUnits, ReturnsEveryUnitsDoublesBitForBitInUnitOrder) {
  const std::size_t n = 11;
  const std::vector<std::vector<double>> results = RunUnits(n, Unit);
  ASSERT_EQ(results.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::vector<double> expected = Unit(i);
    ASSERT_EQ(results[i].size(), expected.size()) << "unit " << i;
    for (std::size_t k = 0; k < expected.size(); ++k)
      EXPECT_EQ(std::bit_cast<std::uint64_t>(results[i][k]),
                std::bit_cast<std::uint64_t>(expected[k]))
          << "unit " << i << ", value " << k;
  }
  EXPECT_TRUE(RunUnits(0, Unit).empty());
}

// on_done sees every unit with its doubles; the bar's status only the units it counts (a
// reference unit after the points, as Fig. 16 has, is not a point of the bar).
TEST(RunUnits, ReportsEveryUnitAndShowsTheCountedOnes) {
  const std::size_t n = 6;
  std::vector<std::size_t> done, shown;
  UnitsOptions options;
  options.progress = "units test";
  options.shown = n - 1;
  options.on_done = [&](std::size_t i, const std::vector<double>& r) {
    EXPECT_EQ(r.size(), 1u);
    done.push_back(i);
  };
  options.status = [&](std::size_t i, const std::vector<double>& r) {
    shown.push_back(i);
    return std::to_string(r.at(0));
  };
  options.cost = std::vector<double>(n, 1.0);
  const auto results = RunUnits(
      n, [](std::size_t i) { return std::vector<double>{static_cast<double>(i)}; }, options);
  EXPECT_EQ(done, (std::vector<std::size_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(shown, (std::vector<std::size_t>{0, 1, 2, 3, 4}));
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(results[i], std::vector<double>{static_cast<double>(i)});
}

}  // namespace
}  // namespace aimc::paper
