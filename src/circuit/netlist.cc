#include "aimc/circuit/netlist.h"

#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/device/physics.h"

namespace aimc::circuit {

namespace {

// Node names. Zero-resistance connections are not resistors (SPICE rejects R = 0): the nodes they
// join share one name instead.
struct Names {
  const CrossbarOptions& o;
  std::string Source(int i) const { return fmt::format("s{}", i); }
  std::string Sense(int j) const { return fmt::format("k{}", j); }
  std::string Row(int i, int j) const {
    if (o.wire_row_ohm > 0.0) return fmt::format("r{}_{}", i, j);
    return o.driver_ohm > 0.0 ? fmt::format("r{}", i) : Source(i);
  }
  std::string Col(int i, int j) const {
    if (o.wire_col_ohm > 0.0) return fmt::format("c{}_{}", i, j);
    return o.sense_ohm > 0.0 ? fmt::format("c{}", j) : Sense(j);
  }
};

std::string Num(double value) { return fmt::format("{:.17g}", value); }

// ngspice's Newton stops when every node voltage changes by less than reltol |v| + vntol and
// every branch current by less than reltol |i| + abstol; the defaults (1e-3, 1 uV, 1 pA) leave a
// non-linear solution far from converged at the 1e-9 of aimc's tests.
constexpr const char* kNonlinearNgspiceOptions =
    ".options reltol=1e-12 abstol=1e-18 vntol=1e-15 itl1=500\n";

// The netlist of `xbar` with each cell written by cell(net, i, j, row node, column node) and
// `options` (".options ..." lines or empty) before the control block.
template <typename WriteCell>
std::string Netlist(const Crossbar& xbar, const Eigen::VectorXd& v_rows, const std::string& title,
                    const std::string& options, WriteCell&& cell) {
  Require(v_rows.size() == xbar.rows(), "input has {} voltages for {} rows", v_rows.size(),
          xbar.rows());
  RequireFiniteVoltages(xbar, v_rows, "the ngspice netlist");
  const CrossbarOptions& o = xbar.options();
  const Names names{o};
  const int rows = xbar.rows();
  const int cols = xbar.cols();
  const bool both_drive = o.drive == DriveSide::kBoth;
  const bool both_sense = o.sense == SenseSide::kBoth;
  std::ostringstream net;
  net << title << "\n";
  net << "* " << rows << " x " << cols << " crossbar: " << o.ToJson().dump() << "\n";
  for (int i = 0; i < rows; ++i) {
    net << "V" << i << " " << names.Source(i) << " 0 DC " << Num(v_rows(i)) << "\n";
    const double end_ohm = o.driver_ohm + o.wire_row_ohm;
    if (end_ohm > 0.0) {
      net << "Rdl" << i << " " << names.Source(i) << " " << names.Row(i, 0) << " " << Num(end_ohm)
          << "\n";
      if (both_drive) {
        net << "Rdr" << i << " " << names.Source(i) << " " << names.Row(i, cols - 1) << " "
            << Num(end_ohm) << "\n";
      }
    }
    if (o.wire_row_ohm > 0.0) {
      for (int j = 0; j + 1 < cols; ++j) {
        net << "Rr" << i << "_" << j << " " << names.Row(i, j) << " " << names.Row(i, j + 1) << " "
            << Num(o.wire_row_ohm) << "\n";
      }
    }
  }
  for (int j = 0; j < cols; ++j) {
    // Every sense amplifier holds 0 V; both ends of a column feed one ammeter, which then reads
    // the column's total current.
    net << "Vsense" << j << " " << names.Sense(j) << " 0 DC 0\n";
    const double end_ohm = o.sense_ohm + o.wire_col_ohm;
    if (end_ohm > 0.0) {
      net << "Rsb" << j << " " << names.Col(rows - 1, j) << " " << names.Sense(j) << " "
          << Num(end_ohm) << "\n";
      if (both_sense) {
        net << "Rst" << j << " " << names.Col(0, j) << " " << names.Sense(j) << " "
            << Num(end_ohm) << "\n";
      }
    }
    if (o.wire_col_ohm > 0.0) {
      for (int i = 0; i + 1 < rows; ++i) {
        net << "Rc" << i << "_" << j << " " << names.Col(i, j) << " " << names.Col(i + 1, j)
            << " " << Num(o.wire_col_ohm) << "\n";
      }
    }
  }
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < cols; ++j) cell(net, i, j, names.Row(i, j), names.Col(i, j));
  }
  net << options;
  net << ".control\nset numdgt=16\nop\n";
  for (int j = 0; j < cols; ++j) net << "print i(vsense" << j << ")\n";
  for (int i = 0; i < rows; ++i) net << "print i(v" << i << ")\n";
  net << ".endc\n.end\n";
  return net.str();
}

// A linear cell: device and access transistor as one resistor.
void WriteResistorCell(std::ostream& net, const Crossbar& xbar, int i, int j,
                       const std::string& row, const std::string& col) {
  const double r = 1.0 / xbar.conductance_s()(i, j) + xbar.options().access_ohm;
  net << "Rx" << i << "_" << j << " " << row << " " << col << " " << Num(r) << "\n";
}

// I = G0 V s(V) of a device between nodes a and b as an ngspice expression.
std::string CurrentExpression(const device::IvShape& shape, double g0, const std::string& a,
                              const std::string& b) {
  const std::string v = fmt::format("v({},{})", a, b);
  switch (shape.kind) {
    case device::IvShape::Kind::kLinear:
      return fmt::format("{}*{}", Num(g0), v);
    case device::IvShape::Kind::kTmrBias:
      return fmt::format("{0}*{1}*(1+{2})/(1+{2}/(1+({1}/{3})^2))", Num(g0), v, Num(shape.tmr0),
                         Num(shape.v_half_v));
    case device::IvShape::Kind::kSinh:
      return fmt::format("{0}*{1}*sinh({2}/{1})", Num(g0), Num(shape.v0_v), v);
  }
  Fail("unknown I-V shape kind {}", int(shape.kind));
}

}  // namespace

std::string NgspiceNetlist(const Crossbar& xbar, const Eigen::VectorXd& v_rows,
                           const std::string& title) {
  return Netlist(xbar, v_rows, title, "",
                 [&xbar](std::ostream& net, int i, int j, const std::string& row,
                         const std::string& col) { WriteResistorCell(net, xbar, i, j, row, col); });
}

std::string NgspiceNetlist(const NonlinearCrossbar& array, const Eigen::VectorXd& v_rows,
                           const std::string& title) {
  const Crossbar& xbar = array.crossbar();
  Require(v_rows.size() == xbar.rows(), "input has {} voltages for {} rows", v_rows.size(),
          xbar.rows());
  RequireFiniteVoltages(xbar, v_rows, "the ngspice netlist");
  array.RequireHoldsFor(v_rows, "the ngspice netlist");
  const double access_ohm = xbar.options().access_ohm;
  const auto cell = [&](std::ostream& net, int i, int j, const std::string& row,
                        const std::string& col) {
    const device::IvShape& shape = array.Shape(i, j);
    if (shape.linear()) {
      WriteResistorCell(net, xbar, i, j, row, col);
      return;
    }
    // The device from the row node to its own node, the access transistor from there on.
    const std::string mid = access_ohm > 0.0 ? fmt::format("m{}_{}", i, j) : col;
    net << "Bx" << i << "_" << j << " " << row << " " << mid << " I="
        << CurrentExpression(shape, xbar.conductance_s()(i, j), row, mid) << "\n";
    if (access_ohm > 0.0) {
      net << "Ra" << i << "_" << j << " " << mid << " " << col << " " << Num(access_ohm) << "\n";
    }
  };
  return Netlist(xbar, v_rows, title, kNonlinearNgspiceOptions, cell);
}

namespace {

// "i(vsense3) = ..." and "i(v7) = ..." lines of ngspice's output: which kind, its index, its
// value; false for any other line.
bool ParseCurrentLine(const std::string& line, bool* sense, int* index, double* value) {
  const auto at = line.find("i(v");
  const auto eq = line.find('=');
  if (at == std::string::npos || eq == std::string::npos || eq < at) return false;
  std::size_t digits = at + 3;
  *sense = line.compare(digits, 5, "sense") == 0;
  if (*sense) digits += 5;
  if (digits >= line.size() || !std::isdigit(static_cast<unsigned char>(line[digits]))) {
    return false;
  }
  *index = std::atoi(line.c_str() + digits);
  *value = ParseNumber(line.substr(eq + 1), fmt::format("ngspice output '{}'", line));
  return true;
}

}  // namespace

double NgspiceOperatingPoint::SourcePowerW(const Eigen::VectorXd& v_rows) const {
  Require(v_rows.size() == row_source_current_a.size(),
          "input has {} voltages for {} row sources", v_rows.size(), row_source_current_a.size());
  return v_rows.dot(row_source_current_a);
}

NgspiceOperatingPoint RunNgspiceOperatingPoint(const std::filesystem::path& netlist, int rows,
                                               int cols) {
  if (std::system("command -v ngspice >/dev/null 2>&1") != 0) {
    Fail("ngspice is not installed: install it with scripts/install-deps.sh (Debian package "
         "'ngspice')");
  }
  // ngspice -b exits with status 1 even on success: judge by its output. Its notes on stderr
  // would interleave with the printed values, so they go to a file beside the netlist.
  const std::string err_path = netlist.string() + ".stderr";
  const std::string command =
      fmt::format("ngspice -b '{}' 2>'{}'", netlist.string(), err_path);
  FILE* pipe = popen(command.c_str(), "r");
  Require(pipe != nullptr, "cannot run ngspice on {}", netlist.string());
  std::string output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) output += buffer.data();
  pclose(pipe);
  NgspiceOperatingPoint op;
  op.column_current_a = Eigen::VectorXd::Constant(cols, std::nan(""));
  op.row_source_current_a = Eigen::VectorXd::Constant(rows, std::nan(""));
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    bool sense = false;
    int index = -1;
    double value = 0.0;
    if (!ParseCurrentLine(line, &sense, &index, &value)) continue;
    // ngspice's branch current flows into a source's + terminal: a row source delivers -i.
    if (sense && index < cols) op.column_current_a(index) = value;
    if (!sense && index < rows) op.row_source_current_a(index) = -value;
  }
  const auto require = [&](const Eigen::VectorXd& found, const char* what) {
    for (Eigen::Index k = 0; k < found.size(); ++k) {
      if (!std::isnan(found(k))) continue;
      const std::size_t tail = output.size() > 2000 ? output.size() - 2000 : 0;
      Fail("ngspice printed no current for {} {} of {}; its output ends with:\n{}\n(errors: "
           "{})",
           what, k, netlist.string(), output.substr(tail), err_path);
    }
  };
  require(op.column_current_a, "column");
  require(op.row_source_current_a, "row source");
  std::error_code ignored;
  std::filesystem::remove(err_path, ignored);
  return op;
}

Eigen::VectorXd RunNgspice(const std::filesystem::path& netlist, int cols) {
  return RunNgspiceOperatingPoint(netlist, 0, cols).column_current_a;
}

}  // namespace aimc::circuit
