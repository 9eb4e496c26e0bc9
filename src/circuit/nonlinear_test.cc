#include "aimc/circuit/nonlinear.h"

#include <cmath>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/netlist.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "test_arrays.h"
#include "../common/test_dir.h"

namespace aimc::circuit {
namespace {

using device::IvShape;
using testing::MaxRelativeDifference;
using testing::RandomConductances;
using testing::RandomInputs;

// The device laws written out here, independently of IvShape: the reference of the analytic
// tests.
double TmrBiasCurrent(double g0, double tmr0, double v_half, double v) {
  return g0 * v * (1 + tmr0) / (1 + tmr0 / (1 + (v / v_half) * (v / v_half)));
}
double SinhCurrent(double g0, double v0, double v) { return g0 * v0 * std::sinh(v / v0); }

// The strongly non-linear array of the tests: R_on = 10 kOhm devices, half of them ON (P) and
// half OFF (AP, R_on (1 + TMR0)), on wires of several ohm per segment, driven with 0.2 to 1 V.
enum class Law { kTmrBias, kSinh };

NonlinearCrossbar MakeArray(int rows, int cols, Law law, double wire_ohm, double access_ohm,
                            std::uint64_t seed, const std::string& name = {}) {
  Rng rng(seed);
  constexpr double kRon = 1e4;
  constexpr double kTmr0 = 1.5;
  Eigen::MatrixXd g(rows, cols);
  ShapeIndex index(rows, cols);
  for (int j = 0; j < cols; ++j) {
    for (int i = 0; i < rows; ++i) {
      const bool on = rng.Uniform() < 0.5;
      g(i, j) = on ? 1.0 / kRon : 1.0 / (kRon * (1 + kTmr0));
      index(i, j) = on ? 0 : 1;
    }
  }
  CrossbarOptions o;
  o.wire_row_ohm = wire_ohm;
  o.wire_col_ohm = 1.5 * wire_ohm;
  o.access_ohm = access_ohm;
  Crossbar xbar(std::move(g), o, name);
  if (law == Law::kTmrBias) {
    // P linear, AP losing TMR with bias (V_h = 0.4 V).
    return NonlinearCrossbar(std::move(xbar), {IvShape::Linear(), IvShape::TmrBias(kTmr0, 0.4)},
                             index);
  }
  // Both states sinh, the OFF state the more non-linear (V0 = 0.3 V and 0.2 V).
  return NonlinearCrossbar(std::move(xbar), {IvShape::Sinh(0.3), IvShape::Sinh(0.2)}, index);
}

Eigen::VectorXd Inputs(int rows, std::uint64_t seed) {
  Rng rng(seed);
  Eigen::VectorXd v(rows);
  for (int i = 0; i < rows; ++i) v(i) = 0.2 + 0.8 * rng.Uniform();
  return v;
}

// The currents without any wire: each cell at its row's voltage.
Eigen::VectorXd IdealNonlinearCurrents(const NonlinearCrossbar& a, const Eigen::VectorXd& v) {
  Eigen::VectorXd out = Eigen::VectorXd::Zero(a.crossbar().cols());
  for (int i = 0; i < a.crossbar().rows(); ++i)
    for (int j = 0; j < a.crossbar().cols(); ++j) out(j) += a.Cell(i, j, v(i)).current_a;
  return out;
}

TEST(NonlinearOptions, ValidateNamesTheBadField) {
  NonlinearOptions{}.Validate();
  const auto refused = [](NonlinearOptions o, const std::string& field) {
    try {
      o.Validate();
      ADD_FAILURE() << field << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  NonlinearOptions o;
  o.tolerance_rel = 0.0;
  refused(o, "tolerance_rel");
  o.tolerance_rel = std::nan("");
  refused(o, "tolerance_rel");
  o = {};
  o.max_iterations = 0;
  refused(o, "max_iterations");
  o = {};
  o.max_step_halvings = -1;
  refused(o, "max_step_halvings");
  o = {};
  o.max_iterations = 0;
  EXPECT_THROW(NonlinearSolver(MakeArray(2, 2, Law::kSinh, 1.0, 0.0, 1), o), Error);
}

TEST(NonlinearCrossbar, RefusesAnIndexThatDoesNotFit) {
  const Crossbar xbar(Eigen::MatrixXd::Constant(2, 3, 1e-4), {}, "idx");
  EXPECT_THROW(NonlinearCrossbar(xbar, {IvShape::Linear()}, ShapeIndex::Zero(3, 2)), Error);
  ShapeIndex index = ShapeIndex::Zero(2, 3);
  index(1, 2) = 1;
  EXPECT_THROW(NonlinearCrossbar(xbar, {IvShape::Linear()}, index), Error);
  EXPECT_THROW(NonlinearCrossbar(xbar, IvShape::Sinh(-1.0)), Error);
}

// `aimc xbar solve --sinh-v0 0.001 --read-voltage-v 10` printed NaN currents and power: sinh
// overflowed at V / V0 = 1e4. Every route refuses inputs beyond the law's domain, naming it.
TEST(NonlinearCrossbar, InputsBeyondTheDomainOfAShapeAreRefused) {
  CrossbarOptions o;
  o.wire_row_ohm = o.wire_col_ohm = 1.0;
  const Crossbar xbar(Eigen::MatrixXd::Constant(4, 4, 1e-4), o, "tile (0, 0)");
  const NonlinearCrossbar array(xbar, IvShape::Sinh(0.001));
  const Eigen::VectorXd v = Eigen::VectorXd::Constant(4, 10.0);
  const auto message = [](auto run) {
    try {
      run();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  NonlinearSolver solver(array);
  EXPECT_NE(message([&] { solver.Solve(v); })
                .find("the Newton solve: shape 0 of array 'tile (0, 0)' (4 x 4): the sinh law "
                      "with V0 = 0.001 V read at 10 V has V / V0 = 1e+04, beyond 50"),
            std::string::npos);
  EXPECT_NE(message([&] { solver.BatchColumnCurrents(v); }).find("beyond 50"), std::string::npos);
  EXPECT_NE(message([&] { IdealCurrents(array, v); }).find("the ideal currents: shape 0"),
            std::string::npos);
  EXPECT_NE(message([&] { NgspiceNetlist(array, v); }).find("the ngspice netlist: shape 0"),
            std::string::npos);
  // Within the domain the same array solves.
  const NonlinearSolution within = solver.Solve(Eigen::VectorXd::Constant(4, 0.04));
  EXPECT_TRUE(within.voltages.column_current_a.allFinite());
}

// Reference: the device law itself. Without wires every node is fixed and the cell sees its
// input; with an access resistor alone the device voltage is V - I R_a, at which the law must
// give I back. Tolerance: a few ulps of the law's evaluation.
TEST(NonlinearSolver, SingleCellFollowsTheDeviceLaw) {
  constexpr double kG0 = 1e-4;
  for (const double v : {-0.9, -0.1, 0.05, 0.3, 1.2}) {
    const Crossbar bare(Eigen::MatrixXd::Constant(1, 1, kG0), {});
    NonlinearSolver tmr(NonlinearCrossbar(bare, IvShape::TmrBias(1.5, 0.5)));
    EXPECT_NEAR(tmr.Solve(Eigen::VectorXd::Constant(1, v)).voltages.column_current_a(0),
                TmrBiasCurrent(kG0, 1.5, 0.5, v), 1e-14 * std::abs(TmrBiasCurrent(kG0, 1.5, 0.5, v)));
    NonlinearSolver sinh(NonlinearCrossbar(bare, IvShape::Sinh(0.2)));
    EXPECT_NEAR(sinh.Solve(Eigen::VectorXd::Constant(1, v)).voltages.column_current_a(0),
                SinhCurrent(kG0, 0.2, v), 1e-14 * std::abs(SinhCurrent(kG0, 0.2, v)));

    CrossbarOptions o;
    o.access_ohm = 3e3;
    const Crossbar with_access(Eigen::MatrixXd::Constant(1, 1, kG0), o);
    NonlinearSolver series(NonlinearCrossbar(with_access, IvShape::Sinh(0.2)));
    const double i = series.Solve(Eigen::VectorXd::Constant(1, v)).voltages.column_current_a(0);
    EXPECT_NEAR(SinhCurrent(kG0, 0.2, v - i * o.access_ohm), i, 1e-13 * std::abs(i)) << v;
    // Not trivially the device alone: the access resistor takes a sizeable share.
    EXPECT_GT(std::abs(i * o.access_ohm), 0.1 * std::abs(v));
  }
}

// Reference: DcSolver, the linear solver. With every shape linear the circuit is the linear one
// and the linear start is already the solution (no Newton step); only the order of the sums
// differs, so the currents agree to rounding (1e-12 leaves a wide margin over 1e-15).
TEST(NonlinearSolver, LinearShapesGiveTheLinearSolution) {
  struct Case {
    int rows, cols;
    double wire, driver, sense, access;
    DriveSide drive;
    SenseSide sense_side;
  };
  for (const Case& c : {Case{16, 12, 5.0, 0, 0, 0, DriveSide::kLeft, SenseSide::kBottom},
                        Case{9, 20, 2.0, 100, 50, 5e3, DriveSide::kBoth, SenseSide::kBoth},
                        Case{10, 10, 0.0, 300, 200, 1e3, DriveSide::kLeft, SenseSide::kBottom},
                        Case{6, 7, 0.0, 0.0, 0.0, 2e3, DriveSide::kLeft, SenseSide::kBottom}}) {
    Rng rng(Rng::Derive(5, static_cast<std::uint64_t>(c.rows * 100 + c.cols)));
    CrossbarOptions o;
    o.wire_row_ohm = o.wire_col_ohm = c.wire;
    o.driver_ohm = c.driver;
    o.sense_ohm = c.sense;
    o.access_ohm = c.access;
    o.drive = c.drive;
    o.sense = c.sense_side;
    const Crossbar xbar(RandomConductances(c.rows, c.cols, rng), o);
    Eigen::MatrixXd v(c.rows, 3);
    for (int n = 0; n < 3; ++n) v.col(n) = RandomInputs(c.rows, rng);
    const Eigen::MatrixXd linear = DcSolver(xbar).BatchColumnCurrents(v);
    NonlinearSolver solver(NonlinearCrossbar(xbar, IvShape::Linear()));
    const NonlinearBatch batch = solver.BatchColumnCurrents(v);
    for (int n = 0; n < 3; ++n) {
      EXPECT_LT(MaxRelativeDifference(batch.column_current_a.col(n), linear.col(n)), 1e-12);
      EXPECT_EQ(batch.summaries[std::size_t(n)].iterations, 0);
    }
    const NonlinearSolution one = solver.Solve(v.col(0));
    const NodeVoltages lin = DcSolver(xbar).Solve(v.col(0));
    EXPECT_LT((one.voltages.row_v - lin.row_v).cwiseAbs().maxCoeff(), 1e-13);
    EXPECT_LT((one.voltages.col_v - lin.col_v).cwiseAbs().maxCoeff(), 1e-13);
  }
}

// The batch solves each input as Solve does, and Newton converges fast on a strongly
// non-linear array (quadratically once close: a handful of steps).
TEST(NonlinearSolver, BatchMatchesSingleSolves) {
  const NonlinearCrossbar array = MakeArray(24, 20, Law::kSinh, 4.0, 2e3, 3);
  NonlinearSolver solver(array);
  Eigen::MatrixXd v(24, 3);
  for (int n = 0; n < 3; ++n) v.col(n) = Inputs(24, 40 + std::uint64_t(n));
  const NonlinearBatch batch = solver.BatchColumnCurrents(v);
  for (int n = 0; n < 3; ++n) {
    const NonlinearSolution one = solver.Solve(v.col(n));
    EXPECT_TRUE(one.summary.converged);
    EXPECT_LE(one.summary.residual_rel, 1e-12);
    EXPECT_LE(one.summary.iterations, 10);
    EXPECT_LT(MaxRelativeDifference(batch.column_current_a.col(n), one.voltages.column_current_a),
              1e-13);
  }
}

TEST(NonlinearSolver, NonConvergenceNamesTheArray) {
  // sinh with V0 = 0.05 V driven at up to 1 V: currents e^20 times the linear start's.
  Rng rng(9);
  CrossbarOptions o;
  o.wire_row_ohm = o.wire_col_ohm = 5.0;
  const Crossbar xbar(Eigen::MatrixXd::Constant(16, 16, 1e-4), o, "tile (3, 4)");
  const NonlinearCrossbar array(xbar, IvShape::Sinh(0.05));
  NonlinearOptions options;
  options.max_iterations = 1;
  NonlinearSolver solver(array, options);
  const Eigen::VectorXd v = Inputs(16, 2) + Eigen::VectorXd::Constant(16, 0.5);
  try {
    solver.Solve(v);
    ADD_FAILURE() << "one Newton step converged";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("tile (3, 4)"), std::string::npos) << what;
    EXPECT_NE(what.find("did not converge"), std::string::npos) << what;
    EXPECT_NE(what.find("1 iteration"), std::string::npos) << what;
  }
  options.require_convergence = false;
  NonlinearSolver lenient(array, options);
  const NonlinearSolution s = lenient.Solve(v);
  EXPECT_FALSE(s.summary.converged);
  EXPECT_GT(s.summary.residual_rel, 1e-12);
  // Given the steps it needs, the same solve converges.
  options.max_iterations = 100;
  EXPECT_TRUE(NonlinearSolver(array, options).Solve(v).summary.converged);
}

TEST(NonlinearNetlist, WritesBehaviouralSources) {
  const NonlinearCrossbar array = MakeArray(2, 2, Law::kSinh, 1.0, 500.0, 1);
  const std::string net = NgspiceNetlist(array, Eigen::VectorXd::Constant(2, 0.5));
  EXPECT_NE(net.find("Bx0_0 r0_0 m0_0 I="), std::string::npos) << net;
  EXPECT_NE(net.find("sinh(v(r0_0,m0_0)/"), std::string::npos) << net;
  EXPECT_NE(net.find("Ra1_1 m1_1 c1_1 500"), std::string::npos) << net;
  EXPECT_NE(net.find(".options"), std::string::npos) << net;
}

struct SpiceCase {
  int rows;
  int cols;
  Law law;
  double wire_ohm;
  double access_ohm;
};

std::string CaseName(const ::testing::TestParamInfo<SpiceCase>& info) {
  const SpiceCase& c = info.param;
  return fmt::format("{}x{}_{}_wire{}_access{}", c.rows, c.cols,
                     c.law == Law::kTmrBias ? "tmr" : "sinh", int(c.wire_ohm), int(c.access_ohm));
}

class NonlinearMatchesNgspice : public ::testing::TestWithParam<SpiceCase> {};

// Reference: ngspice's DC operating point of the netlist aimc writes, each non-linear device a
// B source of its law, with tolerances tightened to reltol 1e-12 (16 digits printed). Tolerance
// 1e-9 relative per column: both converge the same non-linear circuit well below it. Fails, with
// a message, if ngspice is missing.
TEST_P(NonlinearMatchesNgspice, ColumnCurrents) {
  const SpiceCase& c = GetParam();
  const std::uint64_t seed = std::uint64_t(c.rows * 1000 + c.cols) + (c.law == Law::kSinh ? 7 : 0);
  const NonlinearCrossbar array = MakeArray(c.rows, c.cols, c.law, c.wire_ohm, c.access_ohm, seed);
  const Eigen::VectorXd v = Inputs(c.rows, seed + 1);

  const auto dir = UniqueTempPath("aimc_ngspice_test");
  std::filesystem::create_directories(dir);
  const auto path = dir / ("nonlinear_" + CaseName({c, 0}) + ".cir");
  WriteFileAtomic(path, NgspiceNetlist(array, v));
  const Eigen::VectorXd spice = RunNgspice(path, c.cols);

  NonlinearSolver solver(array);
  const NonlinearSolution ours = solver.Solve(v);
  const double diff = MaxRelativeDifference(ours.voltages.column_current_a, spice);
  EXPECT_LT(diff, 1e-9);
  RecordProperty("max_relative_difference", fmt::format("{:.3g}", diff));
  RecordProperty("iterations", ours.summary.iterations);
  // Not a trivial agreement: the IR drop (> 5 %) and the non-linearity (the linear solution at
  // G0 is off by more than 5 %) both matter.
  const Eigen::VectorXd ideal = IdealNonlinearCurrents(array, v);
  EXPECT_GT(MaxRelativeDifference(ideal, spice), 0.05);
  const Eigen::VectorXd linear = DcSolver(array.crossbar()).ColumnCurrents(v);
  EXPECT_GT(MaxRelativeDifference(linear, spice), 0.05);
}

INSTANTIATE_TEST_SUITE_P(
    Arrays, NonlinearMatchesNgspice,
    ::testing::Values(SpiceCase{4, 4, Law::kTmrBias, 60.0, 0.0},
                      SpiceCase{8, 8, Law::kSinh, 10.0, 0.0},
                      SpiceCase{16, 16, Law::kTmrBias, 5.0, 0.0},
                      SpiceCase{16, 16, Law::kSinh, 5.0, 2e3},
                      SpiceCase{32, 32, Law::kTmrBias, 4.0, 0.0},
                      SpiceCase{32, 32, Law::kTmrBias, 4.0, 3e3},
                      SpiceCase{32, 32, Law::kSinh, 4.0, 0.0},
                      SpiceCase{32, 32, Law::kSinh, 4.0, 3e3},
                      SpiceCase{32, 16, Law::kSinh, 8.0, 1e3}),
    CaseName);

}  // namespace
}  // namespace aimc::circuit
