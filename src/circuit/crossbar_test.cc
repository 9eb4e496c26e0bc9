#include "aimc/circuit/crossbar.h"

#include <dlfcn.h>

#include <cmath>

#include <gtest/gtest.h>

#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/netlist.h"
#include "aimc/circuit/power.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "nodal.h"
#include "test_arrays.h"

namespace aimc::circuit {
namespace {

using testing::DenseReferenceCurrents;
using testing::MaxRelativeDifference;
using testing::RandomConductances;
using testing::RandomInputs;

CrossbarOptions Wires(double row_ohm, double col_ohm) {
  CrossbarOptions o;
  o.wire_row_ohm = row_ohm;
  o.wire_col_ohm = col_ohm;
  return o;
}

// Reference: a 1 x 1 array is one series loop, I = V / (R_drv + R_row + 1/G + R_acc + R_col +
// R_sense). Tolerance: a few ulps of the current.
TEST(CrossbarSolver, OneCellIsASeriesLoop) {
  CrossbarOptions o = Wires(3.0, 5.0);
  o.driver_ohm = 7.0;
  o.sense_ohm = 11.0;
  o.access_ohm = 13e3;
  const double g = 1.0 / 1e6;
  const Crossbar xbar(Eigen::MatrixXd::Constant(1, 1, g), o);
  const double expected = 0.2 / (7.0 + 3.0 + 1e6 + 13e3 + 5.0 + 11.0);
  const DcSolver solver(xbar);
  EXPECT_NEAR(solver.ColumnCurrents(Eigen::VectorXd::Constant(1, 0.2))(0), expected,
              1e-14 * expected);
  EXPECT_NEAR(EffectiveMatrix(xbar)(0, 0), expected / 0.2, 1e-14 * expected / 0.2);
}

// Reference: with every wire, driver and sense resistance 0 there is no IR drop, so the solver
// and M_eff reproduce the ideal product G^T V (to rounding of the sums).
TEST(CrossbarSolver, IdealWiresGiveTheIdealProduct) {
  Rng rng(1);
  const Crossbar xbar(RandomConductances(7, 5, rng), CrossbarOptions{});
  const Eigen::VectorXd v = RandomInputs(7, rng);
  const Eigen::VectorXd ideal = IdealCurrents(xbar, v);
  EXPECT_LT(MaxRelativeDifference(DcSolver(xbar).ColumnCurrents(v), ideal), 1e-14);
  EXPECT_LT(MaxRelativeDifference(EffectiveMatrix(xbar).transpose() * v, ideal), 1e-14);
}

struct Case {
  int rows;
  int cols;
  double wire_ohm;
  DriveSide drive;
  SenseSide sense;
  double driver_ohm;
  double sense_ohm;
  double access_ohm;
};

class AgainstDenseNodal : public ::testing::TestWithParam<Case> {};

// Reference: an independent dense nodal analysis in absolute node voltages (test_arrays.h), whose
// column currents are the currents through the end resistors into the sense amplifiers. Both are
// exact; tolerance 1e-10 covers rounding of the dense LU on matrices whose conductances span
// seven decades.
TEST_P(AgainstDenseNodal, SolverEffectiveMatrixAndBatchedSolvesAgree) {
  const Case c = GetParam();
  Rng rng(Rng::Derive(7, static_cast<std::uint64_t>(c.rows * 1000 + c.cols)));
  CrossbarOptions o = Wires(c.wire_ohm, 1.7 * c.wire_ohm);
  o.drive = c.drive;
  o.sense = c.sense;
  o.driver_ohm = c.driver_ohm;
  o.sense_ohm = c.sense_ohm;
  o.access_ohm = c.access_ohm;
  const Crossbar xbar(RandomConductances(c.rows, c.cols, rng), o);
  const Eigen::MatrixXd v = RandomInputs(c.rows, rng);
  const Eigen::VectorXd reference = DenseReferenceCurrents(xbar, v);

  const DcSolver cholmod(xbar, Backend::kCholmod);
  const DcSolver eigen(xbar, Backend::kEigen);
  const Eigen::MatrixXd m_eff = EffectiveMatrix(xbar);
  EXPECT_LT(MaxRelativeDifference(cholmod.ColumnCurrents(Eigen::VectorXd(v)), reference), 1e-10);
  EXPECT_LT(MaxRelativeDifference(eigen.ColumnCurrents(Eigen::VectorXd(v)), reference), 1e-10);
  EXPECT_LT(MaxRelativeDifference(m_eff.transpose() * v, reference), 1e-10);
  // M_eff by the Schur complement and by R unit solves are the same matrix: relative to the
  // largest entry of each column, rounding only.
  const Eigen::MatrixXd by_solves = EffectiveMatrixBySolves(xbar);
  for (int j = 0; j < c.cols; ++j) {
    const double scale = by_solves.col(j).cwiseAbs().maxCoeff();
    EXPECT_LT((m_eff.col(j) - by_solves.col(j)).cwiseAbs().maxCoeff(), 1e-12 * scale) << j;
  }
  // The IR drop must be there (the comparison is not trivially ideal = ideal).
  EXPECT_GT(MaxRelativeDifference(reference, IdealCurrents(xbar, v)), 1e-7);
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, AgainstDenseNodal,
    ::testing::Values(Case{6, 5, 2.0, DriveSide::kLeft, SenseSide::kBottom, 0, 0, 0},
                      Case{9, 4, 50.0, DriveSide::kBoth, SenseSide::kBottom, 0, 0, 0},
                      Case{5, 8, 10.0, DriveSide::kLeft, SenseSide::kBoth, 0, 0, 0},
                      Case{7, 7, 25.0, DriveSide::kBoth, SenseSide::kBoth, 100, 50, 2e3},
                      Case{12, 10, 1.0, DriveSide::kLeft, SenseSide::kBottom, 300, 0, 0},
                      Case{3, 16, 5.0, DriveSide::kLeft, SenseSide::kBottom, 0, 200, 5e4},
                      Case{1, 6, 40.0, DriveSide::kLeft, SenseSide::kBottom, 0, 0, 0},
                      Case{6, 1, 40.0, DriveSide::kBoth, SenseSide::kBoth, 0, 0, 0}));

// Reference: with R_col = 0 and ideal sense amplifiers each row is a separate ladder whose
// exact currents the dense analysis gives; with R_row = 0 and ideal drivers the same holds for
// columns. Exercises the fixed-node bookkeeping.
TEST(CrossbarSolver, IdealLinesOnOneSideAreFixedNodes) {
  Rng rng(3);
  for (const auto& [row_ohm, col_ohm, drv, sense] :
       {std::tuple{10.0, 0.0, 0.0, 0.0}, std::tuple{0.0, 10.0, 0.0, 0.0},
        std::tuple{0.0, 10.0, 500.0, 0.0}, std::tuple{10.0, 0.0, 0.0, 700.0},
        std::tuple{0.0, 0.0, 300.0, 400.0}}) {
    CrossbarOptions o = Wires(row_ohm, col_ohm);
    o.driver_ohm = drv;
    o.sense_ohm = sense;
    o.drive = DriveSide::kBoth;
    const Crossbar xbar(RandomConductances(6, 7, rng), o);
    const Eigen::VectorXd v = RandomInputs(6, rng);
    const Eigen::VectorXd reference = DenseReferenceCurrents(xbar, v);
    EXPECT_LT(MaxRelativeDifference(DcSolver(xbar).ColumnCurrents(v), reference), 1e-10);
    EXPECT_LT(MaxRelativeDifference(EffectiveMatrix(xbar).transpose() * v, reference), 1e-10);
  }
}

// Reference: with all inputs equal and all cells equal, the voltage across cells falls with the
// distance from the driver (left) and from the sense amplifier (bottom), so the far corner
// (row 0, last column) sees the least: the paper's Fig. 15b statement.
TEST(CrossbarSolver, CellVoltageFallsAwayFromDriversAndSenseAmplifiers) {
  const Crossbar xbar(Eigen::MatrixXd::Constant(20, 30, 1e-5), Wires(5.0, 5.0));
  const NodeVoltages nv = DcSolver(xbar).Solve(Eigen::VectorXd::Ones(20));
  const Eigen::MatrixXd cell = nv.CellVoltages();
  Eigen::Index min_row = 0, min_col = 0;
  cell.minCoeff(&min_row, &min_col);
  EXPECT_EQ(min_row, 0);
  EXPECT_EQ(min_col, 29);
  for (int i = 0; i < 20; ++i) {
    for (int j = 0; j + 1 < 30; ++j) EXPECT_GT(cell(i, j), cell(i, j + 1));
  }
  for (int j = 0; j < 30; ++j) {
    for (int i = 0; i + 1 < 20; ++i) EXPECT_LT(cell(i, j), cell(i + 1, j));
  }
  // KCL: the column currents equal the cell currents summed down each column.
  const Eigen::VectorXd summed = (cell.array() * 1e-5).colwise().sum().transpose();
  EXPECT_LT(MaxRelativeDifference(nv.column_current_a, summed), 1e-13);
}

// Reference: the definitions of the two pair layouts; the differential outputs of the array
// from the solver must equal CombinePairs(M_eff)^T x.
TEST(CrossbarPairs, CombinePairsGivesTheDifferentialOutputs) {
  Rng rng(5);
  const Eigen::MatrixXd gp = RandomConductances(6, 4, rng);
  const Eigen::MatrixXd gm = RandomConductances(6, 4, rng);
  const Eigen::VectorXd x = RandomInputs(6, rng);
  for (PairLayout layout : {PairLayout::kColumns, PairLayout::kRows}) {
    const Crossbar xbar(InterleavePairs(gp, gm, layout), Wires(20.0, 20.0));
    const Eigen::VectorXd currents = DcSolver(xbar).ColumnCurrents(PairInputs(x, layout));
    Eigen::VectorXd outputs = currents;
    if (layout == PairLayout::kColumns) {
      outputs.resize(4);
      for (int j = 0; j < 4; ++j) outputs(j) = currents(2 * j) - currents(2 * j + 1);
    }
    const Eigen::VectorXd from_weights =
        CombinePairs(EffectiveMatrix(xbar), layout).transpose() * x;
    // Differences of nearly equal currents: compare against the largest single-column current.
    EXPECT_LT((outputs - from_weights).cwiseAbs().maxCoeff(), 1e-12 * currents.cwiseAbs().maxCoeff())
        << ToString(layout);
    // Without wires, CombinePairs recovers G+ - G- exactly.
    const Crossbar ideal(InterleavePairs(gp, gm, layout), CrossbarOptions{});
    EXPECT_LT((CombinePairs(EffectiveMatrix(ideal), layout) - (gp - gm)).cwiseAbs().maxCoeff(),
              1e-20);
  }
}

TEST(CrossbarErrors, BadConductanceNamesTheCell) {
  Eigen::MatrixXd g = Eigen::MatrixXd::Constant(3, 4, 1e-6);
  for (double bad : {0.0, -1e-6, std::nan(""), double(INFINITY), 1e-320, 1e10}) {
    g(2, 1) = bad;
    try {
      const Crossbar xbar(g, CrossbarOptions{});
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("(row 2, column 1)"), std::string::npos) << e.what();
    }
  }
}

TEST(CrossbarErrors, BadOptionNamesTheField) {
  CrossbarOptions o;
  o.wire_col_ohm = -1.0;
  try {
    o.Validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wire_col_ohm"), std::string::npos) << e.what();
  }
  o.wire_col_ohm = 0.0;
  o.driver_ohm = std::nan("");
  EXPECT_THROW(o.Validate(), Error);
  EXPECT_THROW(Crossbar(Eigen::MatrixXd(0, 3), CrossbarOptions{}), Error);
}

// Issue 9: a wire of 1e-320 ohm (subnormal; 1/R is inf) gave NaN deviations and exit 0.
TEST(CrossbarErrors, SubnormalAndAbsurdParasiticsAreRefused) {
  for (double bad : {1e-320, 1e-10, 1e13, -1.0, std::nan(""), double(INFINITY)}) {
    CrossbarOptions o;
    o.access_ohm = 1.0;
    o.wire_row_ohm = bad;
    try {
      o.Validate();
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("crossbar.wire_row_ohm must be 0 (ideal) or within "
                                           "[1e-09, 1e+12] ohm"),
                std::string::npos)
          << e.what();
    }
  }
  for (double good : {0.0, 1e-9, 1e12}) {
    CrossbarOptions o;
    o.wire_row_ohm = o.wire_col_ohm = o.driver_ohm = o.sense_ohm = o.access_ohm = good;
    EXPECT_NO_THROW(o.Validate()) << good;
  }
}

// Inputs of 1e308 V on 1e3 S cells overflow the currents: the solver says so, naming the array,
// instead of returning inf or NaN.
TEST(CrossbarErrors, NonFiniteSolveNamesTheArray) {
  const Crossbar xbar(Eigen::MatrixXd::Constant(3, 2, 1e3), Wires(1.0, 1.0), "tile (0, 1)");
  const DcSolver solver(xbar);
  try {
    solver.ColumnCurrents(Eigen::VectorXd::Constant(3, 1e308));
    FAIL() << "returned a non-finite solve";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("array 'tile (0, 1)' (3 x 2)"), std::string::npos) << message;
    EXPECT_NE(message.find("non-finite"), std::string::npos) << message;
  }
  EXPECT_TRUE(solver.ColumnCurrents(Eigen::VectorXd::Constant(3, 1.0)).allFinite());
}

TEST(CrossbarErrors, BadInputsAreRejected) {
  const Crossbar xbar(Eigen::MatrixXd::Constant(3, 2, 1e-6), Wires(1.0, 1.0));
  const DcSolver solver(xbar);
  EXPECT_THROW(solver.ColumnCurrents(Eigen::VectorXd::Ones(4)), Error);
  EXPECT_THROW(solver.ColumnCurrents(Eigen::VectorXd::Constant(3, std::nan(""))), Error);
}

// The ideal product, the netlist and the power took NaN inputs (the netlist got "DC nan") and an
// overflowing product returned inf: each names the call, the array and the row now.
TEST(CrossbarErrors, NonFiniteInputsOfEveryCallAreRefused) {
  const Crossbar xbar(Eigen::MatrixXd::Constant(3, 2, 1e-6), Wires(1.0, 1.0), "tile (0, 1)");
  Eigen::VectorXd v = Eigen::VectorXd::Ones(3);
  v(2) = std::nan("");
  const auto message = [&](auto run) {
    try {
      run();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message([&] { IdealCurrents(xbar, v); }),
            "the ideal currents of array 'tile (0, 1)' (3 x 2): the voltage of row 2 is nan, not "
            "a finite voltage");
  EXPECT_NE(message([&] { NgspiceNetlist(xbar, v); }).find("the ngspice netlist of array"),
            std::string::npos);
  const NodeVoltages nodes = DcSolver(xbar).Solve(Eigen::VectorXd::Ones(3));
  EXPECT_NE(message([&] { PowerOf(xbar, v, nodes); }).find("the power of array"),
            std::string::npos);
  const Crossbar unit(Eigen::MatrixXd::Constant(3, 2, 1.0), CrossbarOptions{});
  EXPECT_NE(message([&] { IdealCurrents(unit, Eigen::VectorXd::Constant(3, 1e308)); })
                .find("the current of column 0 overflows"),
            std::string::npos);
  EXPECT_TRUE(IdealCurrents(xbar, Eigen::VectorXd::Ones(3)).allFinite());
}

// R = R_sheet length / width returned inf for (1e308, 1e308, 1e-320).
TEST(CrossbarErrors, SegmentResistanceRefusesArgumentsOutsideTheirDomain) {
  const auto message = [](double sheet, double length, double width) {
    try {
      SegmentResistanceOhm(sheet, length, width);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message(1e308, 1e308, 1e-320),
            "sheet resistance must be in [0, 1e9] ohm/sq, got 1e+308");
  EXPECT_EQ(message(0.5, 100, 1e-320), "line width must be in [0.01, 1e9] nm, got 1e-320");
  EXPECT_EQ(message(0.5, 1e10, 40), "segment length must be in [0.01, 1e9] nm, got 10000000000");
  EXPECT_NE(message(1e9, 1e9, 0.01).find("exceeds 1e+12 ohm"), std::string::npos);
  EXPECT_DOUBLE_EQ(SegmentResistanceOhm(0.5, 100, 50), 1.0);
}

// DcSolver's CHOLMOD factorization is supernodal: its dense blocks are OpenBLAS's, which rounds
// differently with one thread and with several (two, three, four and eight agree bit for bit),
// so Figs. 15b and 15c move with OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS). docs/xbar.md states
// the bound, checked here on the figure's array: 400 x 240 devices of the SOT-MRAM card's R_ON
// and TMR on the 22 nm layout wires, every input at V_read. Measured: 4.3e-14 relative on the
// column-line voltages (the IR drop itself, small numbers), 1e-15 on the cell voltages.
TEST(CrossbarSolver, BlasThreadCountMovesASolveWithinTheStatedBound) {
  const auto set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  const auto get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (set == nullptr || get == nullptr) GTEST_SKIP() << "the BLAS CHOLMOD uses is not OpenBLAS";
  Rng rng(1);
  const double g_on = 1 / 6e6, g_off = g_on / 2.5;
  Eigen::MatrixXd g(400, 240);
  for (Eigen::Index i = 0; i < g.rows(); ++i) {
    for (Eigen::Index j = 0; j < g.cols(); j += 2) {
      const int w = static_cast<int>(3 * rng.Uniform()) - 1;
      g(i, j) = w == 1 ? g_on : g_off;
      g(i, j + 1) = w == -1 ? g_on : g_off;
    }
  }
  CrossbarOptions o;
  o.UseWires(Layout22nm());
  const Crossbar xbar(g, o);
  const Eigen::VectorXd v = Eigen::VectorXd::Constant(400, 0.1);
  const int threads = get();
  set(1);
  const NodeVoltages one = DcSolver(xbar).Solve(v);
  set(2);
  const NodeVoltages two = DcSolver(xbar).Solve(v);
  set(threads);
  const auto worst = [](const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
    return ((a - b).cwiseAbs().array() / a.cwiseAbs().cwiseMax(b.cwiseAbs()).array()).maxCoeff();
  };
  EXPECT_LE(worst(one.col_v, two.col_v), 1e-13);
  EXPECT_LE(worst(one.CellVoltages(), two.CellVoltages()), 1e-14);
  EXPECT_LE(worst(one.column_current_a, two.column_current_a), 1e-14);
}

// Reference: the arithmetic of the stated derivation (docs/xbar.md): sqrt(0.076 um^2) = 275.7 nm,
// 0.5625 Ohm/sq * 137.8 nm / 40 nm = 1.94 Ohm.
TEST(WirePresets, Layout22nmFollowsItsDerivation) {
  const WirePreset p = Layout22nm();
  EXPECT_NEAR(p.row_pitch_nm, 275.68, 0.01);
  EXPECT_NEAR(p.sheet_ohm_per_square, 0.5625, 1e-12);
  EXPECT_NEAR(p.row_segment_ohm(), 1.938, 0.001);
  EXPECT_NEAR(p.col_segment_ohm(), 3.877, 0.001);
  EXPECT_THROW(WirePresetByName("nope"), Error);
}

}  // namespace
}  // namespace aimc::circuit

namespace aimc::circuit {
namespace {

// Reference: M_eff by R unit solves of the IR-drop form (EffectiveMatrixBySolves). Every port
// form is exact in exact arithmetic. The spread (IR-drop) form has no cancellation: 1e-13. The
// end (physical, the default) form subtracts terms of the wire's conductance to get terms of the
// cells' (1e7 apart at 0.1 ohm and 15 MOhm) and loses about three digits here: 1e-11 bounds it
// with room for larger arrays, still 100x inside the 1e-9 required against ngspice.
TEST(EffectiveMatrix, EveryPortFormMatchesBatchedSolves) {
  Rng rng(21);
  for (double wire : {0.1, 2.0, 20.0}) {
    CrossbarOptions o;
    o.wire_row_ohm = wire;
    o.wire_col_ohm = 2 * wire;
    const Crossbar xbar(testing::RandomConductances(48, 40, rng), o);
    const Eigen::MatrixXd reference = EffectiveMatrixBySolves(xbar);
    for (int form = 0; form < 4; ++form) {
      const Eigen::MatrixXd m = internal::EffectiveMatrixWith(xbar, form & 1, form & 2, nullptr);
      const double err = ((m - reference).array() / reference.array()).abs().maxCoeff();
      EXPECT_LT(err, form == 3 ? 1e-13 : 1e-11) << "wire " << wire << " form " << form;
    }
  }
}

}  // namespace
}  // namespace aimc::circuit
