// Fig. 16's building block: one chip of ideal devices, with and without wires.
#include "irdrop.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "aimc/nn/data.h"
#include "aimc/nn/train.h"

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

}  // namespace
}  // namespace aimc::paper
