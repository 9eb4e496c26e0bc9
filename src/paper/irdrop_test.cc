// Fig. 16's building block: one chip of ideal devices, with and without wires.
#include "irdrop.h"

#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "aimc/nn/data.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"

namespace aimc::paper {
namespace {

struct Fixture {
  nn::Model model = nn::LoadModel(std::filesystem::path(AIMC_SOURCE_DIR) / "models" /
                                        "lenet5_fashion-mnist_ternary_s0.000_e25_n0_seed1.pt");
  nn::Dataset test = nn::LoadData("fashion-mnist").test.Head(300);
};

TEST(IrDrop, IdealDevicesWithoutWiresAreTheTernaryNetwork) {
  Fixture f;
  const double digital = 100 * (1 - nn::Evaluate(*f.model.network, f.test));
  // No spread and no wires: the chip computes the ternary products exactly (in double), so the
  // error is the digital network's at any R_ON.
  EXPECT_NEAR(IrDropError(*f.model.network, f.test, 6e6, 1.5, 0.0), digital, 1e-9);
  EXPECT_NEAR(IrDropError(*f.model.network, f.test, 1e5, 1.5, 0.0), digital, 1e-9);
}

TEST(IrDrop, ErrorDependsOnRonOverWireResistanceAndGrowsAsRonFalls) {
  Fixture f;
  double seconds = 0.0;
  const double high = IrDropError(*f.model.network, f.test, 1e8, 1.5, 1.0, &seconds);
  const double low = IrDropError(*f.model.network, f.test, 1e5, 1.5, 1.0);
  EXPECT_GT(seconds, 0.0);
  EXPECT_GT(low, high + 10.0);  // 100 kOhm on the layout's wires: far off (Fig. 16)
  // A linear circuit without driver or sense resistance: scaling every resistance by 10 changes
  // nothing, so (R_ON, wire) and (10 R_ON, 10 wire) give the same outputs.
  EXPECT_NEAR(IrDropError(*f.model.network, f.test, 3e5, 1.5, 1.0),
              IrDropError(*f.model.network, f.test, 3e6, 1.5, 10.0), 1e-9);
}

// Reference: hand-computed crossings of small curves.
TEST(IrDrop, SpecIsWhereTheErrorCrossesTheBudget) {
  // sigma_w: increase 0.5 at 0.10, 2.5 at 0.20: the budget 1.5 is crossed half-way, 0.15.
  EXPECT_NEAR(SpecAt({0.0, 0.1, 0.2, 0.3}, {0.0, 0.5, 2.5, 0.2}, 1.5, false), 0.15, 1e-12);
  // R_ON from high to low, in log: half-way between 1e6 and 1e5 is 10^5.5.
  EXPECT_NEAR(SpecAt({1e7, 1e6, 1e5}, {0.0, 1.0, 2.0}, 1.5, true), std::pow(10.0, 5.5), 1e-3);
  // Over the budget at the first point: none; never over it: the sweep's last point.
  EXPECT_TRUE(std::isnan(SpecAt({1e7, 1e6}, {2.0, 0.0}, 1.5, true)));
  EXPECT_EQ(SpecAt({1e7, 1e6}, {0.0, 1.0}, 1.5, true), 1e6);
  // The grid rule it refines: the last point within the budget before the first over it.
  EXPECT_EQ(LowestOk({1e7, 1e6, 1e5}, {0.0, 2.0, 0.0}, 1.5), 1e7);
}

}  // namespace
}  // namespace aimc::paper
