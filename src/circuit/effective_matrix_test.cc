#include "aimc/circuit/effective_matrix.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"
#include "test_arrays.h"

namespace aimc::circuit {
namespace {

using testing::RandomConductances;

CrossbarOptions Layout(double scale) {
  CrossbarOptions o;
  o.UseWires(Layout22nm(), scale);
  return o;
}

// max |a - b| / |b| over all entries.
double MaxRelativeError(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return ((a - b).array() / b.array().abs()).abs().maxCoeff();
}

bool BitIdentical(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  for (Eigen::Index k = 0; k < a.size(); ++k) {
    if (a.data()[k] != b.data()[k]) return false;
  }
  return true;
}

// Reference: the same build with a freshly made plan (cache cleared), bit for bit; and R unit
// solves (EffectiveMatrixBySolves) to 1e-9 relative, the bar the ngspice comparison sets. The
// second array differs from the first in every conductance and in the wire resistance value,
// neither of which may change the plan.
TEST(EffectiveMatrix, ReusedPlanGivesTheSameMatrixAsAFreshOne) {
  Rng rng(31);
  CrossbarOptions o = Layout(10.0);
  o.driver_ohm = 150.0;
  o.sense_ohm = 80.0;
  o.drive = DriveSide::kBoth;
  const Crossbar first(RandomConductances(56, 72, rng), o);
  o.wire_row_ohm *= 1.3;
  const Crossbar second(RandomConductances(56, 72, rng), o);

  ClearEffectiveMatrixPlans();
  EffectiveMatrixInfo info;
  const Eigen::MatrixXd m_first = EffectiveMatrix(first, &info);
  EXPECT_FALSE(info.reused_plan);
  EXPECT_GT(info.analyze_seconds, 0.0);
  const Eigen::MatrixXd reused = EffectiveMatrix(second, &info);
  EXPECT_TRUE(info.reused_plan);
  EXPECT_EQ(info.order_seconds, 0.0);
  EXPECT_EQ(info.analyze_seconds, 0.0);

  ClearEffectiveMatrixPlans();
  const Eigen::MatrixXd fresh = EffectiveMatrix(second, &info);
  EXPECT_FALSE(info.reused_plan);
  EXPECT_TRUE(BitIdentical(reused, fresh));
  EXPECT_LT(MaxRelativeError(reused, EffectiveMatrixBySolves(second)), 1e-9);
  EXPECT_LT(MaxRelativeError(m_first, EffectiveMatrixBySolves(first)), 1e-9);
  EXPECT_FALSE(BitIdentical(m_first, reused));  // two different arrays, not one result twice
}

// Reference: R unit solves per array. Arrays of one shape whose zero parasitics differ have
// different node sets (a line with an ideal wire is one node, with an ideal driver too none),
// so none may take another's plan; each must still be exact.
TEST(EffectiveMatrix, PatternsOfOneShapeDoNotShareAPlan) {
  Rng rng(32);
  ClearEffectiveMatrixPlans();
  std::vector<CrossbarOptions> variants;
  CrossbarOptions o = Layout(5.0);
  variants.push_back(o);
  o.driver_ohm = 300.0;  // not a pattern change while the row wire is resistive
  variants.push_back(o);
  o.drive = DriveSide::kBoth;
  variants.push_back(o);
  o.wire_row_ohm = 0.0;  // ideal rows behind resistive drivers: one node per row
  variants.push_back(o);
  o.driver_ohm = 0.0;  // ideal rows and drivers: row nodes fixed
  variants.push_back(o);
  o.sense = SenseSide::kBoth;
  variants.push_back(o);
  const std::vector<bool> expect_reused = {false, true, false, false, false, false};
  for (std::size_t v = 0; v < variants.size(); ++v) {
    const Crossbar xbar(RandomConductances(24, 30, rng), variants[v]);
    EffectiveMatrixInfo info;
    const Eigen::MatrixXd m = EffectiveMatrix(xbar, &info);
    EXPECT_EQ(info.reused_plan, expect_reused[v]) << "variant " << v;
    EXPECT_LT(MaxRelativeError(m, EffectiveMatrixBySolves(xbar)), 1e-9) << "variant " << v;
  }
}

// Reference: the same arrays built one after another. Four threads build twelve arrays of
// three patterns at once, starting from an empty cache so that they also plan concurrently;
// every result must be bit-identical to the sequential one.
TEST(EffectiveMatrix, ConcurrentBuildsMatchSequentialBuildsBitForBit) {
  Rng rng(33);
  std::vector<Crossbar> arrays;
  for (int k = 0; k < 12; ++k) {
    const int rows = k % 3 == 0 ? 40 : (k % 3 == 1 ? 64 : 33);
    const int cols = k % 3 == 0 ? 40 : (k % 3 == 1 ? 48 : 70);
    arrays.emplace_back(RandomConductances(rows, cols, rng), Layout(1.0 + k));
  }
  ClearEffectiveMatrixPlans();
  std::vector<Eigen::MatrixXd> sequential;
  for (const Crossbar& x : arrays) sequential.push_back(EffectiveMatrix(x));

  ClearEffectiveMatrixPlans();
  std::vector<Eigen::MatrixXd> concurrent(arrays.size());
  std::vector<std::thread> threads;
  constexpr std::size_t kThreads = 4;
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t k = t; k < arrays.size(); k += kThreads) {
        concurrent[k] = EffectiveMatrix(arrays[k]);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    EXPECT_TRUE(BitIdentical(concurrent[k], sequential[k])) << "array " << k;
  }
  EXPECT_LT(MaxRelativeError(sequential[1], EffectiveMatrixBySolves(arrays[1])), 1e-9);
}

}  // namespace
}  // namespace aimc::circuit
