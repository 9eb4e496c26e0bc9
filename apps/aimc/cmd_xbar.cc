#include <chrono>
#include <cmath>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/circuit/arrays.h"
#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/netlist.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"
#include "aimc/report/figure.h"
#include "commands.h"

namespace aimc::cli {

namespace {

struct XbarArgs {
  int rows = 64;
  int cols = 64;
  double r_on_ohm = 6e6;
  double tmr = 1.5;
  std::string card;
  std::string conductances;
  std::string wire_preset;
  circuit::CrossbarOptions options;
  std::string drive = "left";
  std::string sense = "bottom";
  std::string inputs = "random";
  int count = 1;
  double v_read = 0.1;
  std::uint64_t seed = 1;
};

void AddArrayOptions(CLI::App* cmd, XbarArgs& a) {
  cmd->add_option("--rows", a.rows, "Rows (inputs)")->capture_default_str();
  cmd->add_option("--cols", a.cols, "Columns (outputs)")->capture_default_str();
  cmd->add_option("--r-on", a.r_on_ohm, "ON resistance (ohm); with --card: the card at this R_on")
      ->capture_default_str();
  cmd->add_option("--tmr", a.tmr, "OFF/ON - 1 for random ON/OFF devices")->capture_default_str();
  cmd->add_option("--card", a.card,
                  "Device card (TOML file or preset name such as sot_mram): devices drawn from it");
  cmd->add_option("--conductances", a.conductances,
                  "CSV of the array's conductances: R lines of C values in siemens");
  cmd->add_option("--r-wire-row", a.options.wire_row_ohm, "Row-line resistance per segment (ohm)")
      ->capture_default_str();
  cmd->add_option("--r-wire-col", a.options.wire_col_ohm,
                  "Column-line resistance per segment (ohm)")
      ->capture_default_str();
  cmd->add_option("--wire-preset", a.wire_preset,
                  "Wire resistances from a preset: layout22nm (estimate for the paper's layout)");
  cmd->add_option("--r-driver", a.options.driver_ohm, "Row driver output resistance (ohm)")
      ->capture_default_str();
  cmd->add_option("--r-sense", a.options.sense_ohm, "Sense amplifier input resistance (ohm)")
      ->capture_default_str();
  cmd->add_option("--r-access", a.options.access_ohm,
                  "Access-transistor on-resistance in series with each device (ohm)")
      ->capture_default_str();
  cmd->add_option("--drive", a.drive, "Rows driven at: left, both")
      ->check(CLI::IsMember({"left", "both"}))
      ->capture_default_str();
  cmd->add_option("--sense", a.sense, "Columns sensed at: bottom, both")
      ->check(CLI::IsMember({"bottom", "both"}))
      ->capture_default_str();
  cmd->add_option("--inputs", a.inputs,
                  "random (uniform in [0, v_read]), ones (all v_read) or a CSV file of input "
                  "vectors (volts, one a line)")
      ->capture_default_str();
  cmd->add_option("--count", a.count, "Number of random input vectors")->capture_default_str();
  cmd->add_option("--v-read", a.v_read, "Read voltage (V)")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed of the array and input draws")->capture_default_str();
}

circuit::Crossbar MakeArray(XbarArgs& a, Rng& rng) {
  a.options.drive = circuit::ParseDriveSide(a.drive);
  a.options.sense = circuit::ParseSenseSide(a.sense);
  if (!a.wire_preset.empty()) a.options.UseWires(circuit::WirePresetByName(a.wire_preset));
  Eigen::MatrixXd g;
  if (!a.conductances.empty()) {
    g = circuit::ReadConductances(a.conductances);
    a.rows = static_cast<int>(g.rows());
    a.cols = static_cast<int>(g.cols());
  } else if (!a.card.empty()) {
    std::unique_ptr<device::DeviceCard> card = device::LoadCardOrPreset(a.card);
    card = card->WithRon(a.r_on_ohm);
    g = circuit::SampleArray(a.rows, a.cols, *card, rng);
  } else {
    g = circuit::RandomOnOffArray(a.rows, a.cols, a.r_on_ohm, a.tmr, rng);
  }
  return circuit::Crossbar(std::move(g), a.options);
}

Eigen::MatrixXd MakeInputs(const XbarArgs& a, Rng& rng) {
  Require(std::isfinite(a.v_read), "--v-read must be a finite voltage, got {}", a.v_read);
  if (a.inputs == "ones") return Eigen::MatrixXd::Constant(a.rows, 1, a.v_read);
  if (a.inputs == "random") {
    Require(a.count >= 1, "--count must be >= 1, got {}", a.count);
    Eigen::MatrixXd v(a.rows, a.count);
    for (int n = 0; n < a.count; ++n)
      for (int i = 0; i < a.rows; ++i) v(i, n) = a.v_read * rng.Uniform();
    return v;
  }
  return circuit::ReadInputs(a.inputs, a.rows);
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void RegisterXbar(CLI::App& app) {
  CLI::App* xbar = app.add_subcommand("xbar", "Crossbar IR drop: exact DC solve, SPICE netlist");
  xbar->require_subcommand(1);

  auto solve_args = std::make_shared<XbarArgs>();
  auto csv = std::make_shared<std::string>();
  auto map = std::make_shared<std::string>();
  CLI::App* solve = xbar->add_subcommand(
      "solve",
      "Solve the array's DC circuit with wire resistance exactly (CHOLMOD) and print the worst "
      "and mean relative deviation of the column currents from the ideal G^T V");
  AddArrayOptions(solve, *solve_args);
  solve->add_option("--csv", *csv, "Write the column currents (A), one line per input vector");
  solve->add_option("--map", *map,
                    "Write the voltage map of the first input as <MAP>.csv and a heatmap "
                    "<MAP>.png/.svg (Fig. 15b)");
  solve->callback([solve_args, csv, map] {
    XbarArgs& a = *solve_args;
    if (!csv->empty()) RequireOutputFile(*csv);
    Require(map->empty() || !std::filesystem::path(*map).filename().empty(),
            "--map {}: give a file stem, such as {}/ir_map", *map, *map);
    Rng rng(a.seed);
    const circuit::Crossbar xbar = MakeArray(a, rng);
    const Eigen::MatrixXd v = MakeInputs(a, rng);
    const circuit::DcSolver solver(xbar);
    const auto start = std::chrono::steady_clock::now();
    const Eigen::MatrixXd currents = solver.BatchColumnCurrents(v);
    const double solve_s = Since(start);
    const Eigen::MatrixXd ideal = xbar.conductance_s().transpose() * v;
    const circuit::Deviation d = circuit::CompareToIdeal(currents, ideal);
    const circuit::FactorSummary& s = solver.summary();
    fmt::print("array {} x {}, wires {:.6g} / {:.6g} ohm per segment (row / column)\n", xbar.rows(),
               xbar.cols(), a.options.wire_row_ohm, a.options.wire_col_ohm);
    fmt::print("{} unknowns, factor {} nonzeros, analyze {:.3g} s, factorize {:.3g} s, "
               "{} solve(s) {:.3g} s\n",
               s.unknowns, s.factor_nonzeros, s.analyze_seconds, s.factorize_seconds, v.cols(),
               solve_s);
    fmt::print("relative deviation from ideal: worst {:.6g} (column {}, input {}), mean {:.6g}\n",
               d.worst, d.worst_column, d.worst_input, d.mean);
    if (!csv->empty()) {
      WriteCsv(*csv, circuit::CurrentsTable(currents));
      fmt::print("column currents: {}\n", *csv);
    }
    if (!map->empty()) {
      const Eigen::VectorXd v0 = v.col(0);
      const circuit::NodeVoltages nv = solver.Solve(v0);
      const std::filesystem::path stem(*map);
      report::Figure f;
      f.id = stem.filename().string();
      f.title = fmt::format("Voltage across each device / its input voltage ({} x {})",
                            xbar.rows(), xbar.cols());
      f.table = circuit::VoltageMapTable(nv, v0);
      f.plot = report::VoltageMapPlot("row", "column", "row");
      f.options = a.options.ToJson();
      f.seed = a.seed;
      const std::filesystem::path dir =
          stem.has_parent_path() ? stem.parent_path() : std::filesystem::path(".");
      report::WriteFigure(dir, f, "aimc xbar solve --map");
      fmt::print("voltage map: {}.csv\n", (dir / f.id).string());
    }
  });

  auto net_args = std::make_shared<XbarArgs>();
  auto out = std::make_shared<std::string>("crossbar.cir");
  auto run = std::make_shared<bool>(false);
  CLI::App* netlist = xbar->add_subcommand(
      "netlist",
      "Write the array (first input vector) as an ngspice netlist (.op, sense currents printed "
      "with 16 digits); --run also runs ngspice and compares with aimc's exact solve");
  AddArrayOptions(netlist, *net_args);
  netlist->add_option("--out", *out, "Netlist file")->capture_default_str();
  netlist->add_flag("--run", *run, "Run ngspice on it and print the largest relative difference");
  netlist->callback([net_args, out, run] {
    XbarArgs& a = *net_args;
    RequireOutputFile(*out);
    Rng rng(a.seed);
    const circuit::Crossbar xbar = MakeArray(a, rng);
    const Eigen::VectorXd v = MakeInputs(a, rng).col(0);
    WriteFileAtomic(*out, circuit::NgspiceNetlist(xbar, v));
    fmt::print("netlist: {}\n", *out);
    if (!*run) return;
    auto start = std::chrono::steady_clock::now();
    const Eigen::VectorXd spice = circuit::RunNgspice(*out, xbar.cols());
    const double spice_s = Since(start);
    start = std::chrono::steady_clock::now();
    const circuit::DcSolver solver(xbar);
    const double factor_s = Since(start);
    start = std::chrono::steady_clock::now();
    const Eigen::VectorXd ours = solver.ColumnCurrents(v);
    const double solve_s = Since(start);
    const double diff = ((ours - spice).array() / spice.array().abs()).abs().maxCoeff();
    fmt::print("ngspice {:.6g} s; aimc factorize {:.6g} s, solve {:.6g} s; largest relative "
               "difference {:.3g}\n",
               spice_s, factor_s, solve_s, diff);
  });
}

}  // namespace aimc::cli
