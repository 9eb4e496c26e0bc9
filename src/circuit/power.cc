#include "aimc/circuit/power.h"

#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::circuit {

namespace {

void RequireFits(const Crossbar& xbar, const Eigen::VectorXd& v_rows, const NodeVoltages& nodes) {
  const int rows = xbar.rows();
  const int cols = xbar.cols();
  Require(v_rows.size() == rows, "power of {}: v_rows has {} voltages for {} rows", xbar.Describe(),
          v_rows.size(), rows);
  RequireFiniteVoltages(xbar, v_rows, "the power");
  Require(nodes.row_v.rows() == rows && nodes.row_v.cols() == cols && nodes.col_v.rows() == rows &&
              nodes.col_v.cols() == cols,
          "power of {}: nodes.row_v and nodes.col_v must be {} x {}, got {} x {} and {} x {}",
          xbar.Describe(), rows, cols, nodes.row_v.rows(), nodes.row_v.cols(), nodes.col_v.rows(),
          nodes.col_v.cols());
  Require(nodes.row_current_a.size() == rows,
          "power of {}: nodes.row_current_a has {} currents for {} rows (DcSolver::Solve and "
          "NonlinearSolver::Solve give one per row)",
          xbar.Describe(), nodes.row_current_a.size(), rows);
}

// The parts outside the cells and the total, from the node voltages. The geometry is that of
// the nodal system (nodal.cc): a resistive line is a chain of one node per crosspoint whose end
// links hold the driver (sense) resistance in series with the end segment; an ideal line behind
// a resistive driver (sense amplifier) is one node, each of its ends one such resistor; an ideal
// line on an ideal source has none.
void AddLines(const Crossbar& xbar, const Eigen::VectorXd& v, const NodeVoltages& nodes,
              ArrayPower& p) {
  const CrossbarOptions& o = xbar.options();
  const int rows = xbar.rows();
  const int cols = xbar.cols();
  const int row_ends = o.drive == DriveSide::kBoth ? 2 : 1;
  const int col_ends = o.sense == SenseSide::kBoth ? 2 : 1;
  const Eigen::MatrixXd& u = nodes.row_v;
  const Eigen::MatrixXd& w = nodes.col_v;
  // A driver (sense) resistance in series with an end segment: one current, two parts.
  const auto end_link = [](double drop, double r_end, double r_wire, double& end_w,
                           double& wire_w) {
    const double current = drop / (r_end + r_wire);
    end_w += current * current * r_end;
    wire_w += current * current * r_wire;
  };
  for (int i = 0; i < rows; ++i) {
    if (o.wire_row_ohm > 0.0) {
      const double g = 1.0 / o.wire_row_ohm;
      for (int j = 0; j + 1 < cols; ++j) {
        const double drop = u(i, j) - u(i, j + 1);
        p.row_wires_w += g * drop * drop;
      }
      end_link(v(i) - u(i, 0), o.driver_ohm, o.wire_row_ohm, p.drivers_w, p.row_wires_w);
      if (row_ends == 2) {
        end_link(v(i) - u(i, cols - 1), o.driver_ohm, o.wire_row_ohm, p.drivers_w, p.row_wires_w);
      }
    } else if (o.driver_ohm > 0.0) {
      const double drop = v(i) - u(i, 0);
      p.drivers_w += row_ends * drop * drop / o.driver_ohm;
    }
  }
  for (int j = 0; j < cols; ++j) {
    if (o.wire_col_ohm > 0.0) {
      const double g = 1.0 / o.wire_col_ohm;
      for (int i = 0; i + 1 < rows; ++i) {
        const double drop = w(i, j) - w(i + 1, j);
        p.col_wires_w += g * drop * drop;
      }
      end_link(w(rows - 1, j), o.sense_ohm, o.wire_col_ohm, p.sense_w, p.col_wires_w);
      if (col_ends == 2) end_link(w(0, j), o.sense_ohm, o.wire_col_ohm, p.sense_w, p.col_wires_w);
    } else if (o.sense_ohm > 0.0) {
      p.sense_w += col_ends * w(0, j) * w(0, j) / o.sense_ohm;
    }
  }
  p.total_w = v.dot(nodes.row_current_a);
}

}  // namespace

double ArrayPower::parts_sum_w() const {
  return devices_w + access_w + row_wires_w + col_wires_w + drivers_w + sense_w;
}

nlohmann::json ArrayPower::ToJson() const {
  return {{"total_w", total_w},         {"devices_w", devices_w},     {"access_w", access_w},
          {"row_wires_w", row_wires_w}, {"col_wires_w", col_wires_w}, {"drivers_w", drivers_w},
          {"sense_w", sense_w}};
}

ArrayPower PowerOf(const Crossbar& xbar, const Eigen::VectorXd& v_rows, const NodeVoltages& nodes) {
  RequireFits(xbar, v_rows, nodes);
  ArrayPower p;
  const double r_access = xbar.options().access_ohm;
  const Eigen::MatrixXd g_cell = xbar.CellConductances();
  const Eigen::MatrixXd& g_device = xbar.conductance_s();
  for (int j = 0; j < xbar.cols(); ++j) {
    for (int i = 0; i < xbar.rows(); ++i) {
      const double current = g_cell(i, j) * (nodes.row_v(i, j) - nodes.col_v(i, j));
      p.devices_w += current * current / g_device(i, j);
      p.access_w += current * current * r_access;
    }
  }
  AddLines(xbar, v_rows, nodes, p);
  return p;
}

ArrayPower PowerOf(const NonlinearCrossbar& array, const Eigen::VectorXd& v_rows,
                   const NonlinearSolution& solution) {
  const Crossbar& xbar = array.crossbar();
  const NodeVoltages& nodes = solution.voltages;
  RequireFits(xbar, v_rows, nodes);
  ArrayPower p;
  const double r_access = xbar.options().access_ohm;
  for (int j = 0; j < xbar.cols(); ++j) {
    for (int i = 0; i < xbar.rows(); ++i) {
      const double v_cell = nodes.row_v(i, j) - nodes.col_v(i, j);
      const double current = array.Cell(i, j, v_cell).current_a;
      // The device sees what the access transistor leaves of the cell's voltage.
      p.devices_w += current * (v_cell - current * r_access);
      p.access_w += current * current * r_access;
    }
  }
  AddLines(xbar, v_rows, nodes, p);
  return p;
}

}  // namespace aimc::circuit
