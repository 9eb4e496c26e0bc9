#pragma once

#include <Eigen/Dense>
#include <nlohmann/json_fwd.hpp>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/nonlinear.h"

namespace aimc::circuit {

/// Where the read power of one input goes (watts). total_w is what the row sources deliver,
/// sum_i V_i I_i; the parts sum to it (up to rounding: energy is conserved, Tellegen's theorem).
/// For a linear array total_w = V^T Y V with Y = EffectivePortMatrices(xbar).row_admittance.
struct ArrayPower {
  double total_w = 0.0;      // delivered by the row sources
  double devices_w = 0.0;    // in the devices (the I-V law's current times the device voltage)
  double access_w = 0.0;     // in the access transistors, I^2 R_access
  double row_wires_w = 0.0;  // in the row-line segments, the end segment(s) included
  double col_wires_w = 0.0;  // in the column-line segments, the end segment(s) included
  double drivers_w = 0.0;    // in the row drivers' output resistances
  double sense_w = 0.0;      // in the sense amplifiers' input resistances

  /// devices + access + row wires + column wires + drivers + sense.
  double parts_sum_w() const;
  /// {"total_w": ..., "devices_w": ..., ...}, one field each.
  nlohmann::json ToJson() const;
};

/// The split of the read power of `xbar` for row voltages `v_rows` (volts) from its DC state
/// `nodes` (DcSolver::Solve of the same input): each cell's current through device and access
/// transistor in series, every wire segment, driver and sense resistance. Throws aimc::Error
/// naming the field when v_rows or nodes does not fit the array.
///
///   const NodeVoltages nodes = DcSolver(xbar).Solve(v);
///   ArrayPower p = PowerOf(xbar, v, nodes);   // p.total_w, p.devices_w, ...
ArrayPower PowerOf(const Crossbar& xbar, const Eigen::VectorXd& v_rows, const NodeVoltages& nodes);

/// The same for a non-linear array from its Newton solution (NonlinearSolver::Solve): a device's
/// current is its I-V law's at the device voltage, the access transistor in series with it.
ArrayPower PowerOf(const NonlinearCrossbar& array, const Eigen::VectorXd& v_rows,
                   const NonlinearSolution& solution);

}  // namespace aimc::circuit
