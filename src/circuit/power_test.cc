#include "aimc/circuit/power.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/netlist.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "nodal.h"
#include "test_arrays.h"
#include "../common/test_dir.h"

namespace aimc::circuit {
namespace {

using device::IvShape;
using testing::DenseReferencePower;
using testing::RandomConductances;
using testing::RandomInputs;

double Relative(double a, double b) { return std::abs(a - b) / std::abs(b); }

double Quadratic(const Eigen::MatrixXd& y, const Eigen::VectorXd& v) { return v.dot(y * v); }

bool BitIdentical(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  if (a.rows() != b.rows() || a.cols() != b.cols()) return false;
  return std::equal(a.data(), a.data() + a.size(), b.data());
}

// max |a - b| over max |b|: Y's off-diagonal entries are IR-drop sized and carry the rounding
// of the diagonal's size, so the matrix's own scale is the one to compare them on.
double MaxNormRelative(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

// Arrays of every node structure (nodal.cc): resistive lines (chains), ideal lines behind
// resistive drivers or sense amplifiers (one node a line), ideal lines on ideal sources (none),
// one or both ends, with access transistors.
struct Geometry {
  const char* name;
  int rows;
  int cols;
  double wire_row_ohm;
  double wire_col_ohm;
  double driver_ohm = 0.0;
  double sense_ohm = 0.0;
  double access_ohm = 0.0;
  DriveSide drive = DriveSide::kLeft;
  SenseSide sense = SenseSide::kBottom;

  CrossbarOptions Options() const {
    CrossbarOptions o;
    o.wire_row_ohm = wire_row_ohm;
    o.wire_col_ohm = wire_col_ohm;
    o.driver_ohm = driver_ohm;
    o.sense_ohm = sense_ohm;
    o.access_ohm = access_ohm;
    o.drive = drive;
    o.sense = sense;
    return o;
  }
};

void PrintTo(const Geometry& g, std::ostream* os) { *os << g.name; }

const std::vector<Geometry>& Geometries() {
  static const std::vector<Geometry> g = {
      {"wires", 16, 16, 2.0, 3.0},
      {"wires_drivers_sense_access", 12, 20, 5.0, 4.0, 200.0, 100.0, 5e3},
      {"both_sides", 24, 12, 5.0, 5.0, 50.0, 30.0, 1e3, DriveSide::kBoth, SenseSide::kBoth},
      {"thin_wires", 32, 32, 30.0, 45.0, 0.0, 0.0, 0.0, DriveSide::kBoth},
      {"strong_wires", 32, 32, 0.1, 0.1, 0.0, 0.0, 0.0, DriveSide::kLeft, SenseSide::kBoth},
      {"ideal_rows_on_drivers", 10, 14, 0.0, 3.0, 500.0, 0.0, 2e3, DriveSide::kBoth},
      {"ideal_lines_on_drivers_sense", 10, 10, 0.0, 0.0, 500.0, 300.0, 0.0, DriveSide::kLeft,
       SenseSide::kBoth},
      {"ideal_rows_on_ideal_sources", 9, 13, 0.0, 4.0, 0.0, 20.0, 1e3},
      {"ideal_columns", 13, 9, 3.0, 0.0, 10.0, 0.0, 0.0, DriveSide::kBoth, SenseSide::kBoth},
      {"access_only", 6, 7, 0.0, 0.0, 0.0, 0.0, 4e3},
  };
  return g;
}

Crossbar MakeArray(const Geometry& c, std::uint64_t seed) {
  Rng rng(seed);
  return Crossbar(RandomConductances(c.rows, c.cols, rng), c.Options(), c.name);
}

Eigen::VectorXd MakeInputs(int rows, std::uint64_t seed) {
  Rng rng(seed);
  return RandomInputs(rows, rng);
}

// Reference: a dense nodal analysis written independently of the library (test_arrays.h), each
// resistor's I^2 R put into its part, and R unit solves of DcSolver for Y. Tolerance 1e-10
// relative: both are exact for the same linear circuit, so only rounding separates them.
TEST(ReadPower, QuadraticFormEqualsTheSplitOfASolveOnEveryGeometry) {
  std::uint64_t seed = 100;
  for (const Geometry& c : Geometries()) {
    SCOPED_TRACE(c.name);
    const Crossbar xbar = MakeArray(c, ++seed);
    const Eigen::VectorXd v = MakeInputs(c.rows, ++seed);
    const PortMatrices ports = EffectivePortMatrices(xbar);
    const Eigen::MatrixXd& y = ports.row_admittance;
    const double quadratic = Quadratic(y, v);

    const NodeVoltages nodes = DcSolver(xbar).Solve(v);
    const ArrayPower p = PowerOf(xbar, v, nodes);
    EXPECT_LT(Relative(p.total_w, quadratic), 1e-10);
    EXPECT_LT(Relative(p.parts_sum_w(), quadratic), 1e-10);
    // The row sources' currents are Y V.
    EXPECT_LT((nodes.row_current_a - y * v).cwiseAbs().maxCoeff() /
                  nodes.row_current_a.cwiseAbs().maxCoeff(),
              1e-10);
    // Every part against the dense reference, on the total's scale (a part may be ~0).
    const testing::ReferencePower ref = DenseReferencePower(xbar, v);
    EXPECT_LT(Relative(quadratic, ref.total_w), 1e-10);
    const double scale = ref.total_w;
    EXPECT_LT(std::abs(p.devices_w - ref.devices_w) / scale, 1e-10);
    EXPECT_LT(std::abs(p.access_w - ref.access_w) / scale, 1e-10);
    EXPECT_LT(std::abs(p.row_wires_w - ref.row_wires_w) / scale, 1e-10);
    EXPECT_LT(std::abs(p.col_wires_w - ref.col_wires_w) / scale, 1e-10);
    EXPECT_LT(std::abs(p.drivers_w - ref.drivers_w) / scale, 1e-10);
    EXPECT_LT(std::abs(p.sense_w - ref.sense_w) / scale, 1e-10);
    // Each parasitic that is present takes a share well above the tolerance: the parts are not
    // trivially 0 where they exist, and exactly 0 where they do not.
    const CrossbarOptions& o = xbar.options();
    EXPECT_EQ(p.access_w > 1e-8 * scale, o.access_ohm > 0.0);
    EXPECT_EQ(p.row_wires_w > 1e-8 * scale, o.wire_row_ohm > 0.0);
    EXPECT_EQ(p.col_wires_w > 1e-8 * scale, o.wire_col_ohm > 0.0);
    EXPECT_EQ(p.drivers_w > 1e-8 * scale, o.driver_ohm > 0.0);
    EXPECT_EQ(p.sense_w > 1e-8 * scale, o.sense_ohm > 0.0);

    // Y: symmetric, M_eff the same bits as EffectiveMatrix gives, and R unit solves.
    EXPECT_TRUE(BitIdentical(y, y.transpose()));
    EXPECT_TRUE(BitIdentical(ports.m_eff, EffectiveMatrix(xbar)));
    EXPECT_LT(MaxNormRelative(y, RowAdmittanceBySolves(xbar)), 1e-10);
  }
}

// Reference: the cells' own power from a full solve, sum over cells of V_cell^2 G (no access
// transistor: the device sees the whole cell voltage), plus the parasitic parts; and an
// independent sum over the wire segments' voltage drops. Tolerance as above.
TEST(ReadPower, DevicesTakeTheirCellVoltageSquaredTimesG) {
  const Geometry c{"both", 20, 24, 3.0, 4.0, 30.0, 20.0, 0.0, DriveSide::kBoth, SenseSide::kBoth};
  const Crossbar xbar = MakeArray(c, 7);
  const Eigen::VectorXd v = MakeInputs(c.rows, 8);
  const NodeVoltages nodes = DcSolver(xbar).Solve(v);
  const Eigen::MatrixXd vc = nodes.CellVoltages();
  const double devices = (vc.array().square() * xbar.conductance_s().array()).sum();
  const ArrayPower p = PowerOf(xbar, v, nodes);
  EXPECT_LT(Relative(p.devices_w, devices), 1e-12);
  const double quadratic = Quadratic(EffectivePortMatrices(xbar).row_admittance, v);
  const double parasitic = p.row_wires_w + p.col_wires_w + p.drivers_w + p.sense_w;
  EXPECT_LT(Relative(devices + parasitic, quadratic), 1e-10);
  EXPECT_GT(parasitic, 1e-4 * quadratic);  // the parasitics matter here
  double row_segments = 0.0;
  for (int i = 0; i < c.rows; ++i)
    for (int j = 0; j + 1 < c.cols; ++j)
      row_segments += std::pow(nodes.row_v(i, j) - nodes.row_v(i, j + 1), 2) / c.wire_row_ohm;
  EXPECT_GT(p.row_wires_w, row_segments);  // the two end segments come on top
}

// Analytic: without any parasitic every cell sees its row's voltage, so the power is
// sum_ij G_ij V_i^2 and Y = diag(sum_j G_ij), exactly 0 off the diagonal. Tolerance: the
// library sums each row's currents before multiplying by V_i, the reference each term; 1e-14.
TEST(ReadPower, WithoutParasiticsIsSumOfGTimesVSquared) {
  Rng rng(5);
  const Crossbar xbar(RandomConductances(7, 11, rng), CrossbarOptions{});
  const Eigen::VectorXd v = RandomInputs(7, rng);
  const Eigen::MatrixXd& g = xbar.conductance_s();
  double expected = 0.0;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 11; ++j) expected += g(i, j) * v(i) * v(i);

  EffectiveMatrixInfo info;
  const Eigen::MatrixXd y = EffectivePortMatrices(xbar, &info).row_admittance;
  EXPECT_EQ(info.unknowns, 0);
  ASSERT_EQ(y.rows(), 7);
  ASSERT_EQ(y.cols(), 7);
  for (int i = 0; i < 7; ++i) {
    for (int k = 0; k < 7; ++k) {
      if (i == k) {
        EXPECT_LT(Relative(y(i, i), g.row(i).sum()), 1e-15);
      } else {
        EXPECT_EQ(y(i, k), 0.0);
      }
    }
  }
  EXPECT_LT(Relative(Quadratic(y, v), expected), 1e-14);
  const ArrayPower p = PowerOf(xbar, v, DcSolver(xbar).Solve(v));
  EXPECT_LT(Relative(p.total_w, expected), 1e-14);
  EXPECT_LT(Relative(p.devices_w, expected), 1e-14);
  EXPECT_EQ(p.parts_sum_w(), p.devices_w);
}

// Analytic: P = sum G V^2 is linear in G, so doubling every device's resistance (R_ON and the
// rest) halves it; halving is exact in binary floating point, so bit for bit.
TEST(ReadPower, DoublingEveryResistanceHalvesThePowerExactly) {
  Rng rng(6);
  const Eigen::MatrixXd g = RandomConductances(9, 5, rng);
  const Eigen::VectorXd v = RandomInputs(9, rng);
  const Crossbar once(g, CrossbarOptions{});
  const Crossbar doubled(g / 2.0, CrossbarOptions{});
  const Eigen::MatrixXd y = EffectivePortMatrices(once).row_admittance;
  const Eigen::MatrixXd y2 = EffectivePortMatrices(doubled).row_admittance;
  EXPECT_TRUE(BitIdentical(y2, y / 2.0));
  EXPECT_EQ(Quadratic(y2, v), Quadratic(y, v) / 2.0);
  const ArrayPower p = PowerOf(once, v, DcSolver(once).Solve(v));
  const ArrayPower p2 = PowerOf(doubled, v, DcSolver(doubled).Solve(v));
  EXPECT_EQ(p2.total_w, p.total_w / 2.0);
  EXPECT_EQ(p2.devices_w, p.devices_w / 2.0);
}

// Reference: the IR-drop (spread) port form, whose Y = diag(row sums of G) + S_rr is a sum of
// terms of the IR drop's size, against the physical (end) form EffectivePortMatrices uses, whose
// diagonal comes from Kirchhoff's law (Y_ii = sum_j M_ij - sum_k!=i Y_ik) because
// diag(end-link conductances) + S_rr would cancel down from the wires' conductance (2e-9 of Y
// lost at 0.01 ohm segments). Tolerance 1e-12 of Y's scale: the two forms measure within 1e-13
// of each other, 0.1 ohm wires included. The spread form's rows sum to M_eff's (no
// current flows between rows at equal voltages), checked where it is not built in.
TEST(RowAdmittance, BothPortFormsAgree) {
  std::uint64_t seed = 300;
  double worst = 0.0;
  for (const Geometry& c : Geometries()) {
    SCOPED_TRACE(c.name);
    const Crossbar xbar = MakeArray(c, ++seed);
    const PortMatrices end = internal::PortMatricesWith(xbar, false, false, true, nullptr);
    const PortMatrices spread = internal::PortMatricesWith(xbar, true, true, true, nullptr);
    const PortMatrices mixed = internal::PortMatricesWith(xbar, true, false, true, nullptr);
    const double diff = MaxNormRelative(end.row_admittance, spread.row_admittance);
    worst = std::max(worst, diff);
    EXPECT_LT(diff, 1e-12);
    EXPECT_LT(MaxNormRelative(mixed.row_admittance, spread.row_admittance), 1e-12);
    EXPECT_LT(MaxNormRelative(end.m_eff, spread.m_eff), 1e-12);
    const Eigen::VectorXd y_sums = spread.row_admittance.rowwise().sum();
    const Eigen::VectorXd m_sums = spread.m_eff.rowwise().sum();
    EXPECT_LT(MaxNormRelative(y_sums, m_sums), 1e-12);
  }
  RecordProperty("max_relative_difference", fmt::format("{:.3g}", worst));
}

// Reference: the same array's Y from a freshly made plan, bit for bit, and from builds on four
// threads at once (no thread count enters the elimination's rounding).
TEST(RowAdmittance, ReusedPlansAndConcurrentBuildsGiveTheSameBits) {
  Rng rng(41);
  CrossbarOptions o;
  o.UseWires(Layout22nm(), 4.0);
  o.driver_ohm = 120.0;
  o.sense_ohm = 60.0;
  o.drive = DriveSide::kBoth;
  std::vector<Crossbar> arrays;
  for (int k = 0; k < 8; ++k) {
    arrays.emplace_back(RandomConductances(k % 2 == 0 ? 48 : 40, k % 2 == 0 ? 40 : 56, rng), o);
  }
  ClearEffectiveMatrixPlans();
  EffectiveMatrixInfo info;
  EffectivePortMatrices(arrays[0], &info);
  EXPECT_FALSE(info.reused_plan);
  std::vector<Eigen::MatrixXd> sequential;
  for (const Crossbar& x : arrays) sequential.push_back(EffectivePortMatrices(x).row_admittance);
  ClearEffectiveMatrixPlans();
  EXPECT_TRUE(BitIdentical(EffectivePortMatrices(arrays[2], &info).row_admittance, sequential[2]));
  EXPECT_FALSE(info.reused_plan);
  // A plan made by EffectiveMatrix (no Y asked for) serves a build that asks for Y.
  ClearEffectiveMatrixPlans();
  EffectiveMatrix(arrays[4]);
  EXPECT_TRUE(BitIdentical(EffectivePortMatrices(arrays[4], &info).row_admittance, sequential[4]));
  EXPECT_TRUE(info.reused_plan);

  ClearEffectiveMatrixPlans();
  std::vector<Eigen::MatrixXd> concurrent(arrays.size());
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t k = t; k < arrays.size(); k += 4) {
        concurrent[k] = EffectivePortMatrices(arrays[k]).row_admittance;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (std::size_t k = 0; k < arrays.size(); ++k) {
    EXPECT_TRUE(BitIdentical(concurrent[k], sequential[k])) << "array " << k;
  }
  EXPECT_FALSE(BitIdentical(sequential[0], sequential[2]));  // different arrays, different Y
  EXPECT_LT(MaxNormRelative(sequential[1], RowAdmittanceBySolves(arrays[1])), 1e-10);
}

// Reference: R unit solves, on an array whose top fronts are large enough for the blocked
// kernels (more than 2^19 multiply-adds), not only the plain loops of small fronts; tolerance as
// above. Asking for Y adds its flops and work space to the report, and nothing else changes.
TEST(RowAdmittance, LargeFrontsMatchSolves) {
  Rng rng(42);
  CrossbarOptions o;
  o.UseWires(Layout22nm());
  o.driver_ohm = 40.0;
  const Crossbar xbar(RandomConductances(128, 96, rng), o);
  EffectiveMatrixInfo without;
  EffectiveMatrixInfo with;
  const Eigen::MatrixXd m = EffectiveMatrix(xbar, &without);
  const PortMatrices ports = EffectivePortMatrices(xbar, &with);
  EXPECT_TRUE(BitIdentical(ports.m_eff, m));
  EXPECT_LT(MaxNormRelative(ports.row_admittance, RowAdmittanceBySolves(xbar)), 1e-10);
  EXPECT_EQ(with.unknowns, without.unknowns);
  EXPECT_EQ(with.factor_nonzeros, without.factor_nonzeros);
  EXPECT_GT(with.factor_flops, without.factor_flops);
  EXPECT_GT(with.work_bytes, without.work_bytes);
}

TEST(ReadPower, RefusesNodesThatDoNotFit) {
  Rng rng(9);
  CrossbarOptions o;
  o.wire_row_ohm = o.wire_col_ohm = 1.0;
  const Crossbar xbar(RandomConductances(3, 4, rng), o, "tile (1, 2)");
  const Eigen::VectorXd v = Eigen::VectorXd::Constant(3, 0.2);
  NodeVoltages nodes = DcSolver(xbar).Solve(v);
  nodes.row_current_a.resize(0);
  try {
    PowerOf(xbar, v, nodes);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("row_current_a"), std::string::npos) << what;
    EXPECT_NE(what.find("tile (1, 2)"), std::string::npos) << what;
  }
  EXPECT_THROW(PowerOf(xbar, Eigen::VectorXd::Constant(2, 0.2), DcSolver(xbar).Solve(v)), Error);
}

TEST(ReadPower, ToJsonNamesEveryPart) {
  ArrayPower p;
  p.total_w = 6.0;
  p.devices_w = 1.0;
  p.access_w = 2.0;
  p.sense_w = 3.0;
  const nlohmann::json j = p.ToJson();
  EXPECT_EQ(j.at("total_w").get<double>(), 6.0);
  EXPECT_EQ(j.at("access_w").get<double>(), 2.0);
  for (const char* key : {"devices_w", "row_wires_w", "col_wires_w", "drivers_w", "sense_w"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(p.parts_sum_w(), 6.0);
}

std::filesystem::path NetlistPath(const std::string& name) {
  const auto dir = UniqueTempPath("aimc_ngspice_test");
  std::filesystem::create_directories(dir);
  return dir / ("power_" + name + ".cir");
}

class PowerMatchesNgspice : public ::testing::TestWithParam<Geometry> {};

// Reference: ngspice's DC operating point of the netlist aimc writes, the power its row sources
// deliver, -sum_i V_i i(V_i) (16 digits printed). Tolerance 1e-9 relative, the circuit tests'
// bar: both solve the same linear circuit exactly. Fails, with a message, if ngspice is missing.
TEST_P(PowerMatchesNgspice, SourcePower) {
  const Geometry& c = GetParam();
  const Crossbar xbar = MakeArray(c, 500 + std::uint64_t(c.rows * 31 + c.cols));
  const Eigen::VectorXd v = MakeInputs(c.rows, 600 + std::uint64_t(c.rows));
  const auto path = NetlistPath(c.name);
  WriteFileAtomic(path, NgspiceNetlist(xbar, v));
  const NgspiceOperatingPoint op = RunNgspiceOperatingPoint(path, c.rows, c.cols);
  const double spice = op.SourcePowerW(v);

  const double quadratic = Quadratic(EffectivePortMatrices(xbar).row_admittance, v);
  const ArrayPower p = PowerOf(xbar, v, DcSolver(xbar).Solve(v));
  const double worst = std::max(
      {Relative(quadratic, spice), Relative(p.total_w, spice), Relative(p.parts_sum_w(), spice)});
  EXPECT_LT(worst, 1e-9);
  RecordProperty("max_relative_difference", fmt::format("{:.3g}", worst));
  RecordProperty("quadratic_form", fmt::format("{:.3g}", Relative(quadratic, spice)));
  RecordProperty("parts_sum", fmt::format("{:.3g}", Relative(p.parts_sum_w(), spice)));
  // Not a trivial agreement: the parasitics take far more than the tolerance.
  if (p.devices_w != p.total_w) {
    EXPECT_GT(1.0 - p.devices_w / p.total_w, 1e-6);
  }
}

std::string GeometryName(const ::testing::TestParamInfo<Geometry>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Arrays, PowerMatchesNgspice, ::testing::ValuesIn(Geometries()),
                         GeometryName);

// A strongly non-linear array: R_on 10 kOhm devices, half P (linear) and half AP (TMR falling
// with bias, or both states sinh), on resistive wires with drivers, sense and access
// transistors, driven with 0.2 to 1 V.
NonlinearCrossbar MakeNonlinear(const Geometry& c, bool sinh, std::uint64_t seed) {
  Rng rng(seed);
  Eigen::MatrixXd g(c.rows, c.cols);
  ShapeIndex index(c.rows, c.cols);
  for (int j = 0; j < c.cols; ++j) {
    for (int i = 0; i < c.rows; ++i) {
      const bool on = rng.Uniform() < 0.5;
      g(i, j) = on ? 1e-4 : 1e-4 / 2.5;
      index(i, j) = on ? 0 : 1;
    }
  }
  Crossbar xbar(std::move(g), c.Options(), c.name);
  if (sinh) {
    return NonlinearCrossbar(std::move(xbar), {IvShape::Sinh(0.3), IvShape::Sinh(0.2)}, index);
  }
  return NonlinearCrossbar(std::move(xbar), {IvShape::Linear(), IvShape::TmrBias(1.5, 0.4)}, index);
}

// Reference: ngspice's operating point of the B-source netlist (reltol 1e-12), its row sources'
// power. Tolerance 1e-9 relative, as for the column currents of the non-linear tests. The parts
// sum to the total within the Newton residual (1e-12 of the largest device current per node).
TEST(ReadPower, NonlinearMatchesNgspice) {
  const std::vector<std::pair<Geometry, bool>> cases = {
      {{"nl_tmr", 16, 16, 5.0, 7.5, 0.0, 0.0, 0.0}, false},
      {{"nl_sinh_access", 16, 12, 4.0, 6.0, 100.0, 50.0, 2e3}, true},
      {{"nl_tmr_both", 12, 16, 6.0, 6.0, 40.0, 20.0, 1e3, DriveSide::kBoth, SenseSide::kBoth},
       false},
      {{"nl_sinh_ideal_rows", 10, 10, 0.0, 5.0, 0.0, 0.0, 0.0}, true},
  };
  std::uint64_t seed = 700;
  double worst = 0.0;
  for (const auto& [c, sinh] : cases) {
    SCOPED_TRACE(c.name);
    const NonlinearCrossbar array = MakeNonlinear(c, sinh, ++seed);
    Rng rng(++seed);
    Eigen::VectorXd v(c.rows);
    for (int i = 0; i < c.rows; ++i) v(i) = 0.2 + 0.8 * rng.Uniform();
    const auto path = NetlistPath(c.name);
    WriteFileAtomic(path, NgspiceNetlist(array, v));
    const double spice = RunNgspiceOperatingPoint(path, c.rows, c.cols).SourcePowerW(v);

    NonlinearSolver solver(array);
    const NonlinearSolution solution = solver.Solve(v);
    const ArrayPower p = PowerOf(array, v, solution);
    worst = std::max(worst, Relative(p.total_w, spice));
    EXPECT_LT(Relative(p.total_w, spice), 1e-9);
    EXPECT_LT(Relative(p.parts_sum_w(), p.total_w), 1e-10);
    // Not the linear circuit's power: the non-linearity matters.
    const double linear = PowerOf(array.crossbar(), v, DcSolver(array.crossbar()).Solve(v)).total_w;
    EXPECT_GT(Relative(linear, spice), 1e-2);
  }
  RecordProperty("max_relative_difference", fmt::format("{:.3g}", worst));
}

// A linear array written as a NonlinearCrossbar has the linear array's power split.
TEST(ReadPower, LinearShapesGiveTheLinearSplit) {
  const Geometry& c = Geometries()[1];
  const Crossbar xbar = MakeArray(c, 77);
  const Eigen::VectorXd v = MakeInputs(c.rows, 78);
  const NonlinearCrossbar array(xbar, IvShape::Linear());
  NonlinearSolver solver(array);
  const ArrayPower nl = PowerOf(array, v, solver.Solve(v));
  const ArrayPower lin = PowerOf(xbar, v, DcSolver(xbar).Solve(v));
  EXPECT_LT(Relative(nl.total_w, lin.total_w), 1e-10);
  EXPECT_LT(Relative(nl.devices_w, lin.devices_w), 1e-10);
  EXPECT_LT(Relative(nl.access_w, lin.access_w), 1e-10);
  EXPECT_LT(Relative(nl.row_wires_w, lin.row_wires_w), 1e-8);
}

}  // namespace
}  // namespace aimc::circuit
