#include <cmath>
#include <string>

#include <fmt/format.h>

#include "aimc/circuit/arrays.h"
#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"
#include "aimc/report/study_parts.h"

namespace aimc::report {

namespace {

// The FC layer of CNN 1 (Fig. 13a, LeNet-5-like): 400 inputs, 120 outputs, each weight a
// differential pair in adjacent columns (Fig. 9): a 400 x 240 array.
constexpr int kFcInputs = 400;
constexpr int kFcOutputs = 120;
// SOT-MRAM of Table I: R_ON = 6 MOhm, TMR = 150 %.
constexpr double kRonOhm = 6e6;
constexpr double kTmr = 1.5;
// The read voltage only scales the map; the figure shows fractions of it.
constexpr double kReadV = 0.1;

// Ternary weights uniform over {-1, 0, +1} on pairs: +1 = (ON, OFF), 0 = (OFF, OFF),
// -1 = (OFF, ON).
Eigen::MatrixXd TernaryFcArray(double r_on_ohm, Rng& rng) {
  const double g_on = 1.0 / r_on_ohm;
  const double g_off = 1.0 / (r_on_ohm * (1.0 + kTmr));
  Eigen::MatrixXd gp(kFcInputs, kFcOutputs);
  Eigen::MatrixXd gm(kFcInputs, kFcOutputs);
  for (int j = 0; j < kFcOutputs; ++j) {
    for (int i = 0; i < kFcInputs; ++i) {
      const int w = static_cast<int>(std::floor(3.0 * rng.Uniform())) - 1;
      gp(i, j) = w == 1 ? g_on : g_off;
      gm(i, j) = w == -1 ? g_on : g_off;
    }
  }
  return circuit::InterleavePairs(gp, gm, circuit::PairLayout::kColumns);
}

circuit::CrossbarOptions LayoutWires() {
  circuit::CrossbarOptions o;
  o.UseWires(circuit::Layout22nm());
  return o;
}

Figure IrDropMap(std::uint64_t seed) {
  Rng rng(seed);
  const circuit::Crossbar xbar(TernaryFcArray(kRonOhm, rng), LayoutWires());
  const Eigen::VectorXd v = Eigen::VectorXd::Constant(kFcInputs, kReadV);  // every input on
  const circuit::NodeVoltages nv = circuit::DcSolver(xbar).Solve(v);
  const Eigen::MatrixXd cell = nv.CellVoltages() / kReadV;
  Eigen::Index min_row = 0, min_col = 0;
  const double min_fraction = cell.minCoeff(&min_row, &min_col);
  Figure f;
  f.title = "Fig. 15b: voltage across each device / V_read, FC layer of CNN 1 (400 x 120 pairs)";
  f.table = circuit::VoltageMapTable(nv, v);
  // Drawn as the array sits: sense amplifiers below the last row, drivers left of column 0.
  f.table.columns.push_back("rows_above_sense");
  for (auto& line : f.table.rows) line.push_back(double(kFcInputs - 1) - line[0]);
  f.plot.xlabel = "column (drivers on the left; G+, G- side by side)";
  f.plot.ylabel = "rows above the sense amplifiers (row 399 = 0)";
  f.plot.heatmap = true;
  f.plot.heatmap_x = "column";
  f.plot.heatmap_y = "rows_above_sense";
  f.plot.heatmap_value = "cell_fraction";
  f.paper =
      "IR drop happens along both activation and summation lines: weights further from the "
      "line voltage sources see a lower voltage and contribute too little";
  f.ours = fmt::format(
      "at R_ON = 6 MOhm, TMR 150 %, wires {:.3g} / {:.3g} Ohm per segment (22 nm layout "
      "estimate), all inputs at V_read: the least device voltage is {:.6f} V_read, at row {}, "
      "column {} (far from driver and sense amplifier); the nearest corner sees {:.6f}",
      xbar.options().wire_row_ohm, xbar.options().wire_col_ohm, min_fraction, min_row, min_col,
      cell(kFcInputs - 1, 0));
  return f;
}

Figure ErrorVsWire(std::uint64_t seed, bool quick) {
  const std::vector<double> wires =
      quick ? std::vector<double>{0.1, 1, 10, 100} : std::vector<double>{0.1, 0.3, 1, 3, 10, 30, 100};
  const std::vector<double> r_ons = {1e5, 1e6, kRonOhm};
  Figure f;
  f.title = "Worst relative column-current error vs wire resistance, FC layer of CNN 1";
  f.table = Table{{"wire_ohm", "r_on_ohm", "worst_rel_error", "mean_rel_error"}, {}};
  double layout_error = 0.0;
  for (double r_on : r_ons) {
    Rng rng(seed);
    const Eigen::MatrixXd g = TernaryFcArray(r_on, rng);
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
    if (r_on == kRonOhm) {
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
      "column-current error grows linearly with R_wire / R_ON; at R_ON = 6 MOhm and the 22 nm "
      "layout estimate the worst column is off by {:.3g}",
      layout_error);
  return f;
}

}  // namespace

void AddCircuitStudy(Study& study) {
  study.Add({"circuit", "Fig. 15b: IR drop in the FC layer of CNN 1 (exact DC solve)",
             [](StudyContext& ctx) {
               const std::uint64_t seed = ctx.options().seed;
               const nlohmann::json wires = LayoutWires().ToJson();
               ctx.Produce("fig15b_ir_drop_map",
                           {{"rows", kFcInputs}, {"pairs", kFcOutputs}, {"r_on_ohm", kRonOhm},
                            {"tmr", kTmr}, {"v_read", kReadV}, {"wires", wires}},
                           [seed] { return IrDropMap(seed); });
               ctx.Produce("fig15c_error_vs_wire",
                           {{"rows", kFcInputs}, {"pairs", kFcOutputs}, {"tmr", kTmr}},
                           [seed, quick = ctx.quick()] { return ErrorVsWire(seed, quick); });
             }});
}

}  // namespace aimc::report
