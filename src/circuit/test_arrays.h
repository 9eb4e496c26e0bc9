#pragma once

// Test helpers: random arrays in the range and an independent dense nodal analysis.

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/common/rng.h"

namespace aimc::circuit::testing {

/// Conductances log-uniform between 1/(15 MOhm) and 1/(50 kOhm).
inline Eigen::MatrixXd RandomConductances(int rows, int cols, Rng& rng) {
  const double lo = std::log(1.0 / 15e6);
  const double hi = std::log(1.0 / 50e3);
  Eigen::MatrixXd g(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) g(i, j) = std::exp(lo + (hi - lo) * rng.Uniform());
  return g;
}

/// Input voltages uniform in [0.05, 1] V: positive, so no column current cancels to near zero.
inline Eigen::VectorXd RandomInputs(int rows, Rng& rng) {
  Eigen::VectorXd v(rows);
  for (int i = 0; i < rows; ++i) v(i) = 0.05 + 0.95 * rng.Uniform();
  return v;
}

/// max_j |a_j - b_j| / |b_j|.
inline double MaxRelativeDifference(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  return ((a - b).array() / b.array().abs()).abs().maxCoeff();
}

/// The reference circuit's elements, by what they are (for the split of the read power).
enum class Part { kCell, kRowEnd, kRowWire, kColEnd, kColWire };

/// A dense nodal analysis in absolute node voltages, written independently of the library: a
/// list of named resistors, sources as fixed nodes, zero resistances as shared names, LU with
/// partial pivoting.
struct DenseReference {
  struct Resistor {
    std::string a, b;
    double ohm;
    Part part;
    int i = -1;  // the cell's row and column (kCell)
    int j = -1;
  };
  std::vector<Resistor> resistors;
  std::map<std::string, double> voltage;  // every node, fixed ones included

  double Current(const Resistor& r) const { return (voltage.at(r.a) - voltage.at(r.b)) / r.ohm; }
};

inline std::string SourceNode(int i) { return fmt::format("s{}", i); }

inline DenseReference SolveDenseReference(const Crossbar& xbar, const Eigen::VectorXd& v) {
  const CrossbarOptions& o = xbar.options();
  const int rows = xbar.rows();
  const int cols = xbar.cols();
  auto sense = [](int j) { return fmt::format("k{}", j); };
  auto row = [&](int i, int j) {
    if (o.wire_row_ohm > 0) return fmt::format("r{}_{}", i, j);
    return o.driver_ohm > 0 ? fmt::format("r{}", i) : SourceNode(i);
  };
  auto col = [&](int i, int j) {
    if (o.wire_col_ohm > 0) return fmt::format("c{}_{}", i, j);
    return o.sense_ohm > 0 ? fmt::format("c{}", j) : sense(j);
  };
  DenseReference out;
  auto& resistors = out.resistors;
  auto add = [&](const std::string& a, const std::string& b, double ohm, Part part, int i = -1,
                 int j = -1) {
    if (ohm > 0) resistors.push_back({a, b, ohm, part, i, j});
  };
  for (int i = 0; i < rows; ++i) {
    add(SourceNode(i), row(i, 0), o.driver_ohm + o.wire_row_ohm, Part::kRowEnd);
    if (o.drive == DriveSide::kBoth)
      add(SourceNode(i), row(i, cols - 1), o.driver_ohm + o.wire_row_ohm, Part::kRowEnd);
    if (o.wire_row_ohm > 0)
      for (int j = 0; j + 1 < cols; ++j)
        add(row(i, j), row(i, j + 1), o.wire_row_ohm, Part::kRowWire);
  }
  for (int j = 0; j < cols; ++j) {
    add(col(rows - 1, j), sense(j), o.sense_ohm + o.wire_col_ohm, Part::kColEnd);
    if (o.sense == SenseSide::kBoth)
      add(col(0, j), sense(j), o.sense_ohm + o.wire_col_ohm, Part::kColEnd);
    if (o.wire_col_ohm > 0)
      for (int i = 0; i + 1 < rows; ++i)
        add(col(i, j), col(i + 1, j), o.wire_col_ohm, Part::kColWire);
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      add(row(i, j), col(i, j), 1.0 / xbar.conductance_s()(i, j) + o.access_ohm, Part::kCell, i,
          j);

  std::map<std::string, double> fixed;
  for (int i = 0; i < rows; ++i) fixed[SourceNode(i)] = v(i);
  for (int j = 0; j < cols; ++j) fixed[sense(j)] = 0.0;
  std::map<std::string, int> index;
  for (const auto& r : resistors)
    for (const auto* name : {&r.a, &r.b})
      if (!fixed.count(*name) && !index.count(*name)) index.emplace(*name, int(index.size()));
  const int n = static_cast<int>(index.size());
  Eigen::MatrixXd gmat = Eigen::MatrixXd::Zero(n, n);
  Eigen::VectorXd rhs = Eigen::VectorXd::Zero(n);
  for (const auto& r : resistors) {
    const double g = 1.0 / r.ohm;
    const bool fa = fixed.count(r.a) > 0;
    const bool fb = fixed.count(r.b) > 0;
    if (!fa) gmat(index[r.a], index[r.a]) += g;
    if (!fb) gmat(index[r.b], index[r.b]) += g;
    if (!fa && !fb) {
      gmat(index[r.a], index[r.b]) -= g;
      gmat(index[r.b], index[r.a]) -= g;
    }
    if (!fa && fb) rhs(index[r.a]) += g * fixed[r.b];
    if (fa && !fb) rhs(index[r.b]) += g * fixed[r.a];
  }
  const Eigen::VectorXd x = n > 0 ? Eigen::VectorXd(gmat.partialPivLu().solve(rhs))
                                  : Eigen::VectorXd();
  out.voltage = fixed;
  for (const auto& [name, k] : index) out.voltage[name] = x(k);
  return out;
}

/// Column currents by the dense reference: column current = sum of the cell currents of the
/// column.
inline Eigen::VectorXd DenseReferenceCurrents(const Crossbar& xbar, const Eigen::VectorXd& v) {
  const DenseReference ref = SolveDenseReference(xbar, v);
  Eigen::VectorXd currents = Eigen::VectorXd::Zero(xbar.cols());
  for (const auto& r : ref.resistors)
    if (r.part == Part::kCell) currents(r.j) += ref.Current(r);
  return currents;
}

/// The read power by the dense reference, each resistor's I^2 R put where it belongs (a
/// driver's or sense amplifier's share of an end link in proportion to its resistance, a cell's
/// device and access shares likewise); total: sum_i V_i times the current leaving source i.
struct ReferencePower {
  double total_w = 0, devices_w = 0, access_w = 0, row_wires_w = 0, col_wires_w = 0,
         drivers_w = 0, sense_w = 0;
};

inline ReferencePower DenseReferencePower(const Crossbar& xbar, const Eigen::VectorXd& v) {
  const CrossbarOptions& o = xbar.options();
  const DenseReference ref = SolveDenseReference(xbar, v);
  ReferencePower p;
  for (const auto& r : ref.resistors) {
    const double current = ref.Current(r);
    const double i2 = current * current;
    switch (r.part) {
      case Part::kCell:
        p.devices_w += i2 / xbar.conductance_s()(r.i, r.j);
        p.access_w += i2 * o.access_ohm;
        break;
      case Part::kRowEnd:
        p.drivers_w += i2 * o.driver_ohm;
        p.row_wires_w += i2 * o.wire_row_ohm;
        break;
      case Part::kRowWire:
        p.row_wires_w += i2 * r.ohm;
        break;
      case Part::kColEnd:
        p.sense_w += i2 * o.sense_ohm;
        p.col_wires_w += i2 * o.wire_col_ohm;
        break;
      case Part::kColWire:
        p.col_wires_w += i2 * r.ohm;
        break;
    }
    for (int i = 0; i < xbar.rows(); ++i) {
      if (r.a == SourceNode(i)) p.total_w += v(i) * current;
      if (r.b == SourceNode(i)) p.total_w -= v(i) * current;
    }
  }
  return p;
}

}  // namespace aimc::circuit::testing
