#include <cmath>
#include <string>

#include <fmt/format.h>

#include "aimc/circuit/arrays.h"
#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"
#include "aimc/device/two_state.h"
#include "aimc/mapping/ternary.h"
#include "parts.h"

namespace aimc::paper {

namespace {

// The FC layer of CNN 1 (Fig. 13a, LeNet-5-like): 400 inputs, 120 outputs, each weight a
// differential pair in adjacent columns (Fig. 9): a 400 x 240 array.
constexpr int kFcInputs = 400;
constexpr int kFcOutputs = 120;
// The read voltage only scales the map; the figure shows fractions of it.
constexpr double kReadV = 0.1;

// Ternary weights uniform over {-1, 0, +1}, each a pair of ideal devices (no spread) at the card's
// R_ON and TMR, encoded by aimc::mapping (Fig. 9), in adjacent columns.
Eigen::MatrixXd TernaryFcArray(double r_on_ohm, double tmr, Rng& rng) {
  Eigen::MatrixXi w(kFcInputs, kFcOutputs);
  for (int j = 0; j < kFcOutputs; ++j)
    for (int i = 0; i < kFcInputs; ++i) w(i, j) = static_cast<int>(std::floor(3.0 * rng.Uniform())) - 1;
  const auto card = IdealCard(r_on_ohm, tmr);
  const mapping::ProgrammedPairs pairs = mapping::Program(w, *card, rng);
  return circuit::InterleavePairs(pairs.g_plus, pairs.g_minus, circuit::PairLayout::kColumns);
}

circuit::CrossbarOptions LayoutWires() {
  circuit::CrossbarOptions o;
  o.UseWires(circuit::Layout22nm());
  return o;
}

report::Figure IrDropMap(const device::MtjOptions& sot, std::uint64_t seed) {
  Rng rng(seed);
  const double r_on = device::MtjCard(sot).r_on_ohm();
  const circuit::Crossbar xbar(TernaryFcArray(r_on, sot.tmr, rng), LayoutWires());
  const Eigen::VectorXd v = Eigen::VectorXd::Constant(kFcInputs, kReadV);  // every input on
  const circuit::NodeVoltages nv = circuit::DcSolver(xbar).Solve(v);
  const Eigen::MatrixXd cell = nv.CellVoltages() / kReadV;
  Eigen::Index min_row = 0, min_col = 0;
  const double min_fraction = cell.minCoeff(&min_row, &min_col);
  report::Figure f;
  f.title = "Fig. 15b: voltage across each device / V_read, FC layer of CNN 1 (400 x 120 pairs)";
  f.table = circuit::VoltageMapTable(nv, v);
  // Drawn as the array sits: sense amplifiers below the last row, drivers left of column 0.
  f.table.columns.push_back("rows_above_sense");
  for (auto& line : f.table.rows) line.push_back(double(kFcInputs - 1) - line[0]);
  f.plot = report::VoltageMapPlot("rows_above_sense",
                                  "column (drivers on the left; G+, G- side by side)",
                                  "rows above the sense amplifiers (row 399 = 0)");
  f.paper =
      "IR drop happens along both activation and summation lines: weights further from the "
      "line voltage sources see a lower voltage and contribute too little";
  f.ours = fmt::format(
      "at R_ON = {:.3g} MOhm, TMR {:.0f} % (the SOT-MRAM card), wires {:.3g} / {:.3g} Ohm per "
      "segment (22 nm layout "
      "estimate), all inputs at V_read: the least device voltage is {:.6f} V_read, at row {}, "
      "column {} (far from driver and sense amplifier); the nearest corner sees {:.6f}",
      r_on / 1e6, 100 * sot.tmr, xbar.options().wire_row_ohm, xbar.options().wire_col_ohm,
      min_fraction, min_row, min_col,
      cell(kFcInputs - 1, 0));
  return f;
}

report::Figure ErrorVsWire(const device::MtjOptions& sot, std::uint64_t seed, bool quick) {
  const double sot_r_on = device::MtjCard(sot).r_on_ohm();
  const std::vector<double> wires =
      quick ? std::vector<double>{0.1, 1, 10, 100} : std::vector<double>{0.1, 0.3, 1, 3, 10, 30, 100};
  const std::vector<double> r_ons = {1e5, 1e6, sot_r_on};
  report::Figure f;
  f.title = "Worst relative column-current error vs wire resistance, FC layer of CNN 1";
  f.table = Table{{"wire_ohm", "r_on_ohm", "worst_rel_error", "mean_rel_error"}, {}};
  double layout_error = 0.0;
  for (double r_on : r_ons) {
    Rng rng(seed);
    const Eigen::MatrixXd g = TernaryFcArray(r_on, sot.tmr, rng);
    Eigen::MatrixXd v(kFcInputs, 8);  // eight random activations in [0, V_read]
    for (Eigen::Index n = 0; n < v.cols(); ++n)
      for (int i = 0; i < kFcInputs; ++i) v(i, n) = kReadV * rng.Uniform();
    const Eigen::MatrixXd ideal = g.transpose() * v;
    for (double wire : wires) {
      circuit::CrossbarOptions o;
      o.wire_row_ohm = o.wire_col_ohm = wire;
      const circuit::Crossbar xbar(g, o);
      const circuit::Deviation d =
          circuit::CompareToIdeal(circuit::DcSolver(xbar).BatchColumnCurrents(v), ideal);
      f.table.Add({wire, r_on, d.worst, d.mean});
    }
    if (r_on == sot_r_on) {
      const circuit::Crossbar layout(g, LayoutWires());
      layout_error =
          circuit::CompareToIdeal(circuit::DcSolver(layout).BatchColumnCurrents(v), ideal).worst;
    }
  }
  f.plot.xlabel = "wire resistance per segment, rows and columns (Ohm)";
  f.plot.ylabel = "worst |I - I_ideal| / I_ideal over columns";
  f.plot.log_x = true;
  f.plot.log_y = true;
  for (double r_on : r_ons) {
    f.plot.series.push_back({"wire_ohm", "worst_rel_error",
                             fmt::format("R_ON = {:g} MOhm", r_on / 1e6), "r_on_ohm", r_on,
                             "linespoints"});
  }
  f.paper = "Fig. 16: below R_ON = 5 MOhm the test error increases due to IR drop";
  f.ours = fmt::format(
      "column-current error grows linearly with R_wire / R_ON; at the SOT-MRAM card's R_ON = {:.3g} "
      "MOhm and the 22 nm layout estimate the worst column is off by {:.3g}",
      sot_r_on / 1e6, layout_error);
  return f;
}

}  // namespace

std::unique_ptr<device::DeviceCard> IdealCard(double r_on_ohm, double tmr) {
  device::TwoStateOptions ideal;
  ideal.name = "ideal";
  ideal.source = "no device spread, so that the error is the circuit's alone";
  ideal.r_on_ohm = r_on_ohm;
  ideal.on_off_ratio = 1.0 + tmr;
  ideal.cv_on = ideal.cv_off = 0.0;
  ideal.r_on_min_ohm = std::min(1.0, r_on_ohm);
  ideal.r_on_max_ohm = std::max(1e12, r_on_ohm);
  return std::make_unique<device::TwoStateCard>(ideal);
}

void AddCircuitPart(report::Study& study, const StudyOptions& options) {
  study.Add({"circuit", "Figs. 15b, 15c: IR drop in the FC layer of CNN 1 (exact DC solve)",
             [options](report::StudyContext& ctx) {
               const std::uint64_t seed = options.run.seed;
               const device::MtjOptions sot = SotMramCard();
               const nlohmann::json card = device::MtjCard(sot).ToJson();
               const nlohmann::json wires = LayoutWires().ToJson();
               ctx.Produce("fig15b_ir_drop_map",
                           {{"rows", kFcInputs}, {"pairs", kFcOutputs}, {"card", card},
                            {"v_read", kReadV}, {"wires", wires}},
                           [&] { return IrDropMap(sot, seed); });
               ctx.Produce("fig15c_error_vs_wire",
                           {{"rows", kFcInputs}, {"pairs", kFcOutputs}, {"card", card},
                            {"quick", options.quick()}},
                           [&] { return ErrorVsWire(sot, seed, options.quick()); });
             }});
}

}  // namespace aimc::paper
