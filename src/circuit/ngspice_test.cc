#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/netlist.h"
#include "aimc/common/csv.h"
#include "aimc/common/rng.h"
#include "test_arrays.h"
#include "../common/test_dir.h"

namespace aimc::circuit {
namespace {

using testing::MaxRelativeDifference;
using testing::RandomConductances;
using testing::RandomInputs;

struct SpiceCase {
  int rows;
  int cols;
  double wire_ohm;
  DriveSide drive = DriveSide::kLeft;
  SenseSide sense = SenseSide::kBottom;
  double driver_ohm = 0.0;
  double sense_ohm = 0.0;
  double access_ohm = 0.0;
  double col_wire_factor = 1.0;
};

std::string CaseName(const ::testing::TestParamInfo<SpiceCase>& info) {
  const SpiceCase& c = info.param;
  return fmt::format("{}x{}_wire{}_{}_{}_{}", c.rows, c.cols, int(c.wire_ohm * 10),
                     ToString(c.drive), ToString(c.sense), info.index);
}

class MatchesNgspice : public ::testing::TestWithParam<SpiceCase> {};

// Reference: ngspice 39's DC operating point of the netlist aimc writes (16 digits printed).
// Tolerance 1e-9 relative per column (the bar); both solve the same linear circuit
// exactly, so only rounding separates them. Fails, with a message, if ngspice is missing.
TEST_P(MatchesNgspice, ColumnCurrents) {
  const SpiceCase& c = GetParam();
  Rng rng(Rng::Derive(11, static_cast<std::uint64_t>(GetParam().rows * 7919 + c.cols * 31) +
                              static_cast<std::uint64_t>(c.wire_ohm * 100)));
  CrossbarOptions o;
  o.wire_row_ohm = c.wire_ohm;
  o.wire_col_ohm = c.wire_ohm * c.col_wire_factor;
  o.drive = c.drive;
  o.sense = c.sense;
  o.driver_ohm = c.driver_ohm;
  o.sense_ohm = c.sense_ohm;
  o.access_ohm = c.access_ohm;
  const Crossbar xbar(RandomConductances(c.rows, c.cols, rng), o);
  const Eigen::VectorXd v = RandomInputs(c.rows, rng);

  const auto dir = UniqueTempPath("aimc_ngspice_test");
  std::filesystem::create_directories(dir);
  const auto path = dir / (CaseName({c, 0}) + ".cir");
  WriteFileAtomic(path, NgspiceNetlist(xbar, v));
  const Eigen::VectorXd spice = RunNgspice(path, c.cols);

  const Eigen::VectorXd solved = DcSolver(xbar).ColumnCurrents(v);
  const Eigen::VectorXd from_m_eff = EffectiveMatrix(xbar).transpose() * v;
  EXPECT_LT(MaxRelativeDifference(solved, spice), 1e-9);
  EXPECT_LT(MaxRelativeDifference(from_m_eff, spice), 1e-9);
  // Not a trivial agreement: the IR drop is well above the tolerance.
  if (c.wire_ohm > 0) {
    EXPECT_GT(MaxRelativeDifference(IdealCurrents(xbar, v), spice), 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Arrays, MatchesNgspice,
    ::testing::Values(SpiceCase{4, 4, 0.5}, SpiceCase{4, 4, 100.0}, SpiceCase{8, 8, 2.0},
                      SpiceCase{8, 16, 20.0}, SpiceCase{16, 16, 1.0}, SpiceCase{16, 16, 10.0},
                      SpiceCase{32, 32, 0.1}, SpiceCase{32, 32, 2.0}, SpiceCase{32, 32, 30.0},
                      SpiceCase{24, 12, 5.0, DriveSide::kBoth, SenseSide::kBoth},
                      SpiceCase{12, 20, 5.0, DriveSide::kLeft, SenseSide::kBoth, 200, 100, 5e3},
                      SpiceCase{10, 10, 0.0, DriveSide::kLeft, SenseSide::kBottom, 500, 300},
                      SpiceCase{10, 10, 3.0, DriveSide::kBoth, SenseSide::kBottom, 0, 0, 0, 0.0}),
    CaseName);

}  // namespace
}  // namespace aimc::circuit
