#include "chip_kernels.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "aimc/common/rng.h"
#include "aimc/device/physics.h"

namespace aimc::experiment {
namespace {

// The loop against the card's own I-V shape: x (s(V) - 1) with s from IvShape::Shape, which
// computes s as its own expression (so the two agree to double rounding, then float's).
TEST(ChipKernels, TmrBiasPreEqualsTheCardsShape) {
  const device::IvShape shape = device::IvShape::TmrBias(1.5, 0.5);
  const double volts_per_unit = 0.2;
  Rng rng(4);
  // 1,003 inputs: the vector loop and its tail; activations from 0 to several volts' worth.
  std::vector<float> x(1003), out(x.size());
  for (float& v : x) v = static_cast<float>(std::abs(rng.Normal(0.0, 4.0)));
  x[0] = 0.0f;
  kernels::TmrBiasPre(x.data(), out.data(), static_cast<std::int64_t>(x.size()), volts_per_unit,
                      shape.v_half_v, shape.tmr0);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double xd = x[i];
    const double expected = xd * (shape.Shape(xd * volts_per_unit) - 1.0);
    EXPECT_NEAR(out[i], expected, 1e-6 * (std::abs(expected) + 1e-30)) << "x = " << xd;
  }
  EXPECT_EQ(out[0], 0.0f);  // pre(0) = 0: convolutions pad it with zeros
}

}  // namespace
}  // namespace aimc::experiment
