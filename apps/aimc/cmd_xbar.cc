#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/circuit/arrays.h"
#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/netlist.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/circuit/power.h"
#include "aimc/circuit/wires.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"
#include "aimc/report/figure.h"
#include "commands.h"
#include "field_flags.h"

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
  double v_half_v = 0.0;   // > 0: AP cells lose TMR with bias
  double sinh_v0_v = 0.0;  // > 0: every device follows I = G0 V0 sinh(V/V0)
  // Any value other than 0 asks for a non-linear array (a negative one is refused there).
  bool nonlinear() const { return v_half_v != 0.0 || sinh_v0_v != 0.0; }
};

void AddArrayOptions(CLI::App* cmd, XbarArgs& a) {
  cmd->add_option("--rows", a.rows, "Rows (inputs)")->capture_default_str();
  cmd->add_option("--cols", a.cols, "Columns (outputs)")->capture_default_str();
  // The names of aimc test's chip options (experiment::ChipConfig); the old spellings stay.
  cmd->add_option("--r-on-ohm", a.r_on_ohm,
                  "ON resistance (ohm); with --card: the card at this R_on")
      ->capture_default_str();
  cmd->add_option("--tmr", a.tmr, "OFF/ON - 1 for random ON/OFF devices")->capture_default_str();
  cmd->add_option("--card", a.card,
                  "Device card (TOML file or preset name such as sot_mram): devices drawn from it");
  cmd->add_option("--conductances", a.conductances,
                  "CSV of the array's conductances: R lines of C values in siemens");
  cmd->add_option("--wire-row-ohm", a.options.wire_row_ohm,
                  "Row-line resistance per segment (ohm)")
      ->capture_default_str();
  cmd->add_option("--wire-col-ohm", a.options.wire_col_ohm,
                  "Column-line resistance per segment (ohm)")
      ->capture_default_str();
  cmd->add_option("--wires", a.wire_preset,
                  "Wire resistances from a preset: layout22nm (estimate for the paper's layout)");
  cmd->add_option("--driver-ohm", a.options.driver_ohm, "Row driver output resistance (ohm)")
      ->capture_default_str();
  cmd->add_option("--sense-ohm", a.options.sense_ohm, "Sense amplifier input resistance (ohm)")
      ->capture_default_str();
  cmd->add_option("--access-ohm", a.options.access_ohm,
                  "Access-transistor on-resistance in series with each device (ohm)")
      ->capture_default_str();
  const auto number = NumberFlag;
  const auto renamed = [cmd, number](const std::string& old_flag, const std::string& new_flag,
                                     double& target) {
    AddRenamedFlag(cmd, old_flag, new_flag,
                   [&target, number, old_flag](const std::string& t) { target = number(old_flag, t); });
  };
  renamed("--r-on", "--r-on-ohm", a.r_on_ohm);
  renamed("--r-wire-row", "--wire-row-ohm", a.options.wire_row_ohm);
  renamed("--r-wire-col", "--wire-col-ohm", a.options.wire_col_ohm);
  renamed("--r-driver", "--driver-ohm", a.options.driver_ohm);
  renamed("--r-sense", "--sense-ohm", a.options.sense_ohm);
  renamed("--r-access", "--access-ohm", a.options.access_ohm);
  renamed("--v-read", "--read-voltage-v", a.v_read);
  AddRenamedFlag(cmd, "--wire-preset", "--wires", [&a](const std::string& t) { a.wire_preset = t; });
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
  cmd->add_option("--read-voltage-v", a.v_read, "Read voltage (V)")->capture_default_str();
  AddSeedFlag(cmd, a.seed, "Seed of the array and input draws");
  auto* v_half = cmd->add_option(
      "--v-half", a.v_half_v,
      "Non-linear: the AP cells (below the geometric midpoint of the array's conductances) lose "
      "TMR with bias, TMR(V) = TMR/(1+(V/V_h)^2) with TMR from --tmr; V_h in volts (Newton solve)");
  auto* sinh_v0 = cmd->add_option(
      "--sinh-v0", a.sinh_v0_v,
      "Non-linear: every device follows I = G0 V0 sinh(V/V0), G0 its conductance; V0 in volts "
      "(Newton solve)");
  v_half->excludes(sinh_v0);
}

// The array's devices with the I-V the options give (linear when neither is set).
circuit::NonlinearCrossbar MakeNonlinear(const XbarArgs& a, circuit::Crossbar xbar) {
  Require(a.v_half_v >= 0.0, "--v-half must be > 0 V, got {}", a.v_half_v);
  Require(a.sinh_v0_v >= 0.0, "--sinh-v0 must be > 0 V, got {}", a.sinh_v0_v);
  if (a.v_half_v > 0.0) return circuit::WithTmrBias(std::move(xbar), a.tmr, a.v_half_v);
  if (a.sinh_v0_v > 0.0) {
    return circuit::NonlinearCrossbar(std::move(xbar), device::IvShape::Sinh(a.sinh_v0_v));
  }
  return circuit::NonlinearCrossbar(std::move(xbar), device::IvShape::Linear());
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
  Require(std::isfinite(a.v_read), "--read-voltage-v must be a finite voltage, got {}", a.v_read);
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

// How `solve` computes a batch; both routes are exact (docs/xbar.md). A multi-right-hand-side
// CHOLMOD solve costs about as much per input as a single one (measured at 256 x 256: 20 to 80 ms
// for one, 27 to 63 ms per input in batches of 16 to 100), so a batch of N costs a factorization
// and N solves. Building M_eff costs that factorization plus a dense block for the R + C ports,
// after which an input is a dense product (microseconds). Measured at R = C = 64 to 512 with the
// 22 nm wires, the extra cost of M_eff equals 7 to 50 solves (10 to 20 from 128 x 128 on), hence
// the switch at 16 inputs: within a factor of two of the faster route where the two are close,
// far ahead for large batches.
constexpr Eigen::Index kEffectiveMatrixFromInputs = 16;

enum class Route { kSolves, kEffectiveMatrix };

Route ChooseRoute(const std::string& name, Eigen::Index inputs, bool writes_meff) {
  if (name == "solves") return Route::kSolves;
  if (name == "meff" || writes_meff) return Route::kEffectiveMatrix;
  return inputs >= kEffectiveMatrixFromInputs ? Route::kEffectiveMatrix : Route::kSolves;
}

// meff.csv -> meff.json, as the sweep's result and its manifest.
std::filesystem::path ManifestPath(const std::filesystem::path& csv) {
  std::filesystem::path manifest = csv;
  return manifest.replace_extension(".json");
}

// Everything that makes the array, so that the manifest says how to make it again.
nlohmann::json ArrayJson(const XbarArgs& a) {
  nlohmann::json j = {{"rows", a.rows}, {"cols", a.cols}, {"crossbar", a.options.ToJson()}};
  if (!a.conductances.empty()) {
    j["conductances"] = a.conductances;
  } else if (!a.card.empty()) {
    j["card"] = a.card;
    j["r_on_ohm"] = a.r_on_ohm;
  } else {
    j["r_on_ohm"] = a.r_on_ohm;
    j["tmr"] = a.tmr;
  }
  if (!a.wire_preset.empty()) j["wire_preset"] = a.wire_preset;
  return j;
}

// M_eff as R lines of C values (siemens, full precision: every value reads back bit-identical),
// the format --conductances reads: an ideal array of these conductances (no wires, drivers, sense
// or access resistance) gives the same currents.
// The manifest beside it is removed first and written last, so a pair on disk always belongs
// together.
void WriteEffectiveMatrix(const std::filesystem::path& csv, const Eigen::MatrixXd& m,
                          const circuit::EffectiveMatrixInfo& info, const XbarArgs& a) {
  const std::filesystem::path manifest_path = ManifestPath(csv);
  CreateParentFolder(csv);
  std::filesystem::remove(manifest_path);
  std::string text;
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      if (j > 0) text += ',';
      text += FormatDouble(m(i, j));
    }
    text += '\n';
  }
  WriteFileAtomic(csv, text);
  nlohmann::json manifest = MakeManifest("aimc xbar solve --meff", ArrayJson(a), a.seed);
  manifest["matrix"] = {{"csv", csv.filename().string()},
                        {"rows", m.rows()},
                        {"cols", m.cols()},
                        {"unit", "S"},
                        {"meaning", "effective matrix M_eff: column currents I = M_eff^T V"}};
  manifest["effective_matrix"] = {{"unknowns", info.unknowns},
                                  {"factor_nonzeros", info.factor_nonzeros},
                                  {"factor_flops", info.factor_flops}};
  manifest["timings"] = {{"order_seconds", info.order_seconds},
                         {"factorize_seconds", info.factorize_seconds},
                         {"seconds", info.total_seconds}};
  WriteManifest(manifest_path, manifest);
}

// The voltage map of one input (Fig. 15b) as <map>.csv and its heatmap.
void WriteVoltageMap(const std::string& map, const circuit::NodeVoltages& nv,
                     const Eigen::VectorXd& v0, const XbarArgs& a, int rows, int cols) {
  const std::filesystem::path stem(map);
  report::Figure f;
  f.id = stem.filename().string();
  f.title = fmt::format("Voltage across each device / its input voltage ({} x {})", rows, cols);
  f.table = circuit::VoltageMapTable(nv, v0);
  f.plot = report::VoltageMapPlot("row", "column", "row");
  f.options = a.options.ToJson();
  f.seed = a.seed;
  const std::filesystem::path dir =
      stem.has_parent_path() ? stem.parent_path() : std::filesystem::path(".");
  report::WriteFigure(dir, f, "aimc xbar solve --map");
  fmt::print("voltage map: {}.csv\n", (dir / f.id).string());
}

// The read power of the first input and where it goes (docs/xbar.md, "Read power").
void PrintPower(const circuit::ArrayPower& p) {
  fmt::print("read power of input 0: {:.6g} W (devices {:.6g} W, access {:.6g} W, row wires "
             "{:.6g} W, column wires {:.6g} W, drivers {:.6g} W, sense {:.6g} W)\n",
             p.total_w, p.devices_w, p.access_w, p.row_wires_w, p.col_wires_w, p.drivers_w,
             p.sense_w);
}

// `solve` of a non-linear array: Newton per input (docs/xbar.md, "Non-linear devices").
void SolveNonlinear(const XbarArgs& a, const circuit::NonlinearCrossbar& array,
                    const Eigen::MatrixXd& v, const std::string& csv, const std::string& map) {
  const circuit::Crossbar& xbar = array.crossbar();
  fmt::print("array {} x {}, wires {:.6g} / {:.6g} ohm per segment (row / column)\n", xbar.rows(),
             xbar.cols(), a.options.wire_row_ohm, a.options.wire_col_ohm);
  circuit::NonlinearSolver solver(array);
  const auto start = std::chrono::steady_clock::now();
  const circuit::NonlinearBatch batch = solver.BatchColumnCurrents(v);
  const double solve_s = Since(start);
  const circuit::FactorSummary& f = solver.factor_summary();
  int most = 0;
  double total = 0.0;
  double worst_residual = 0.0;
  for (const circuit::NonlinearSummary& n : batch.summaries) {
    most = std::max(most, n.iterations);
    total += n.iterations;
    worst_residual = std::max(worst_residual, n.residual_rel);
  }
  fmt::print("route: newton (devices {}; one Newton solve per input, the nodal pattern analyzed "
             "once)\n",
             a.v_half_v > 0.0 ? fmt::format("AP tmr_bias V_h {:g} V", a.v_half_v)
                              : fmt::format("sinh V0 {:g} V", a.sinh_v0_v));
  fmt::print("{} unknowns, analyze {:.3g} s, {} solve(s) {:.3g} s (factorizations {:.3g} s)\n",
             f.unknowns, f.analyze_seconds, v.cols(), solve_s, f.factorize_seconds);
  fmt::print("newton: iterations mean {:.3g}, max {}; worst residual {:.3g} of the largest "
             "device current\n",
             total / double(batch.summaries.size()), most, worst_residual);
  const circuit::Deviation d =
      circuit::CompareToIdeal(batch.column_current_a, circuit::IdealCurrents(array, v));
  fmt::print("relative deviation from ideal (each device at its input voltage): worst {:.6g} "
             "(column {}, input {}), mean {:.6g}\n",
             d.worst, d.worst_column, d.worst_input, d.mean);
  const Eigen::VectorXd v0 = v.col(0);
  const circuit::NonlinearSolution first = solver.Solve(v0);
  PrintPower(circuit::PowerOf(array, v0, first));
  if (!csv.empty()) {
    WriteCsv(csv, circuit::CurrentsTable(batch.column_current_a));
    fmt::print("column currents: {}\n", csv);
  }
  if (!map.empty()) WriteVoltageMap(map, first.voltages, v0, a, xbar.rows(), xbar.cols());
}

}  // namespace

void RegisterXbar(CLI::App& app) {
  CLI::App* xbar = app.add_subcommand(
      "xbar", "Crossbar IR drop: exact DC solve, effective matrix, SPICE netlist");
  xbar->require_subcommand(1);

  struct SolveArgs {
    XbarArgs array;
    std::string route = "auto";
    std::string csv;
    std::string map;
    std::string meff;
  };
  auto solve_args = std::make_shared<SolveArgs>();
  CLI::App* solve = xbar->add_subcommand(
      "solve",
      "Solve the array's DC circuit with wire resistance exactly (CHOLMOD) and print the worst "
      "and mean relative deviation of the column currents from the ideal G^T V, and the read "
      "power of the first input with its split (devices, access, wires, drivers, sense)");
  AddArrayOptions(solve, solve_args->array);
  const std::string route_help = fmt::format(
      "How the batch is computed, both exact: solves (factorize once, one triangular solve per "
      "input), meff (build M_eff once, then I = M_eff^T V), or auto (meff from {} inputs on, or "
      "with --meff)",
      kEffectiveMatrixFromInputs);
  solve->add_option("--route", solve_args->route, route_help)
      ->check(CLI::IsMember({"auto", "solves", "meff"}))
      ->capture_default_str();
  solve->add_option("--csv", solve_args->csv,
                    "Write the column currents (A), one line per input vector");
  solve->add_option("--map", solve_args->map,
                    "Write the voltage map of the first input as <MAP>.csv and a heatmap "
                    "<MAP>.png/.svg (Fig. 15b)");
  solve->add_option("--meff", solve_args->meff,
                    "Write the effective matrix M_eff (S; I = M_eff^T V exactly, IR drop "
                    "included): R lines of C values, as --conductances reads, and its manifest "
                    "beside it (<stem>.json)");
  solve->callback([solve_args] {
    SolveArgs& s = *solve_args;
    XbarArgs& a = s.array;
    if (!s.csv.empty()) RequireOutputFile(s.csv);
    Require(s.map.empty() || !std::filesystem::path(s.map).filename().empty(),
            "--map {}: give a file stem, such as {}/ir_map", s.map, s.map);
    if (!s.meff.empty()) {
      RequireOutputFile(s.meff);
      Require(ManifestPath(s.meff) != std::filesystem::path(s.meff),
              "--meff {}: its manifest is written beside it as {}; give the matrix another name, "
              "such as meff.csv",
              s.meff, ManifestPath(s.meff).string());
      Require(s.meff != s.csv, "--meff and --csv name the same file {}", s.meff);
    }
    Require(!a.nonlinear() || s.meff.empty(),
            "--meff: a non-linear array (--v-half, --sinh-v0) has no effective matrix; its "
            "currents depend on the input");
    Require(!a.nonlinear() || s.route == "auto",
            "--route {}: a non-linear array is solved by Newton, one solve per input",
            s.route);
    Rng rng(a.seed);
    const circuit::Crossbar xbar = MakeArray(a, rng);
    const Eigen::MatrixXd v = MakeInputs(a, rng);
    if (a.nonlinear()) {
      SolveNonlinear(a, MakeNonlinear(a, xbar), v, s.csv, s.map);
      return;
    }
    const Route route = ChooseRoute(s.route, v.cols(), !s.meff.empty());
    fmt::print("array {} x {}, wires {:.6g} / {:.6g} ohm per segment (row / column)\n", xbar.rows(),
               xbar.cols(), a.options.wire_row_ohm, a.options.wire_col_ohm);

    Eigen::MatrixXd currents;
    Eigen::MatrixXd m_eff;
    circuit::EffectiveMatrixInfo m_info;
    std::optional<circuit::DcSolver> solver;
    if (route == Route::kSolves) {
      solver.emplace(xbar);
      const auto start = std::chrono::steady_clock::now();
      currents = solver->BatchColumnCurrents(v);
      const double solve_s = Since(start);
      const circuit::FactorSummary& f = solver->summary();
      fmt::print("route: solves (factorize the nodal matrix once, one triangular solve per "
                 "input)\n");
      fmt::print("{} unknowns, factor {} nonzeros, analyze {:.3g} s, factorize {:.3g} s, "
                 "{} solve(s) {:.3g} s\n",
                 f.unknowns, f.factor_nonzeros, f.analyze_seconds, f.factorize_seconds, v.cols(),
                 solve_s);
    } else {
      m_eff = circuit::EffectiveMatrix(xbar, &m_info);
      const auto start = std::chrono::steady_clock::now();
      currents = m_eff.transpose() * v;
      const double product_s = Since(start);
      fmt::print("route: meff (build the effective matrix M_eff once, then I = M_eff^T V per "
                 "input)\n");
      fmt::print("{} unknowns, factor {} nonzeros, M_eff {:.3g} s (factorize {:.3g} s), "
                 "{} product(s) {:.3g} s\n",
                 m_info.unknowns, m_info.factor_nonzeros, m_info.total_seconds,
                 m_info.factorize_seconds, v.cols(), product_s);
    }
    const Eigen::MatrixXd ideal = xbar.conductance_s().transpose() * v;
    const circuit::Deviation d = circuit::CompareToIdeal(currents, ideal);
    fmt::print("relative deviation from ideal: worst {:.6g} (column {}, input {}), mean {:.6g}\n",
               d.worst, d.worst_column, d.worst_input, d.mean);
    // The split needs the node voltages: one solve of the first input (a factorization more
    // on the M_eff route).
    if (!solver) solver.emplace(xbar);
    const Eigen::VectorXd v0 = v.col(0);
    const circuit::NodeVoltages first = solver->Solve(v0);
    PrintPower(circuit::PowerOf(xbar, v0, first));
    if (!s.csv.empty()) {
      WriteCsv(s.csv, circuit::CurrentsTable(currents));
      fmt::print("column currents: {}\n", s.csv);
    }
    if (!s.meff.empty()) {
      if (route == Route::kSolves) m_eff = circuit::EffectiveMatrix(xbar, &m_info);
      WriteEffectiveMatrix(s.meff, m_eff, m_info, a);
      fmt::print("effective matrix: {} (manifest {})\n", s.meff, ManifestPath(s.meff).string());
    }
    if (!s.map.empty()) WriteVoltageMap(s.map, first, v0, a, xbar.rows(), xbar.cols());
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
    // One netlist writer and one ngspice run; only aimc's own solve differs with the devices.
    std::optional<circuit::NonlinearCrossbar> array;
    if (a.nonlinear()) array.emplace(MakeNonlinear(a, xbar));
    WriteFileAtomic(*out, array ? circuit::NgspiceNetlist(*array, v) : circuit::NgspiceNetlist(xbar, v));
    fmt::print("netlist: {}\n", *out);
    if (!*run) return;
    auto start = std::chrono::steady_clock::now();
    const Eigen::VectorXd spice = circuit::RunNgspice(*out, xbar.cols());
    const double spice_s = Since(start);
    const auto difference = [&spice](const Eigen::VectorXd& ours) {
      return ((ours - spice).array() / spice.array().abs()).abs().maxCoeff();
    };
    start = std::chrono::steady_clock::now();
    if (array) {
      circuit::NonlinearSolver solver(*array);
      const circuit::NonlinearSolution ours = solver.Solve(v);
      fmt::print("ngspice {:.6g} s; aimc Newton {:.6g} s ({} iterations, residual {:.3g}); "
                 "largest relative difference {:.3g}\n",
                 spice_s, Since(start), ours.summary.iterations, ours.summary.residual_rel,
                 difference(ours.voltages.column_current_a));
      return;
    }
    const circuit::DcSolver solver(xbar);
    const double factor_s = Since(start);
    start = std::chrono::steady_clock::now();
    const Eigen::VectorXd ours = solver.ColumnCurrents(v);
    const double solve_s = Since(start);
    fmt::print("ngspice {:.6g} s; aimc factorize {:.6g} s, solve {:.6g} s; largest relative "
               "difference {:.3g}\n",
               spice_s, factor_s, solve_s, difference(ours));
  });
}

}  // namespace aimc::cli
