#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/device/physics.h"

namespace aimc::circuit {

/// Which shape of `NonlinearCrossbar::shapes()` each cell follows (an index, R x C).
using ShapeIndex = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic>;

/// A crossbar whose devices are non-linear: the linear array (each device's conductance is its
/// low-bias G0, plus the parasitics) and, per cell, the I-V shape it follows, I = G0 V s(V)
/// (aimc/device/physics.h). The access transistor (options().access_ohm) stays a linear resistor
/// in series with each device. At most 256 distinct shapes (one byte a cell: 1 MiB at
/// 1024 x 1024).
///
///   NonlinearCrossbar array(xbar, {IvShape::Linear(), IvShape::TmrBias(1.5, 0.5)}, index);
///   NonlinearSolver solver(array);
///   NonlinearSolution s = solver.Solve(v);   // s.voltages.column_current_a
class NonlinearCrossbar {
 public:
  /// Throws aimc::Error for an index of the wrong size, an index past `shapes`, more than 256
  /// shapes, or a shape that fails IvShape::Validate (naming the array).
  NonlinearCrossbar(Crossbar xbar, std::vector<device::IvShape> shapes, ShapeIndex index);
  /// Every cell follows `shape`.
  NonlinearCrossbar(Crossbar xbar, const device::IvShape& shape);

  const Crossbar& crossbar() const { return xbar_; }
  const std::vector<device::IvShape>& shapes() const { return shapes_; }
  const ShapeIndex& index() const { return index_; }
  const device::IvShape& Shape(int i, int j) const { return shapes_[index_(i, j)]; }
  /// True when every cell's shape is linear: the array is the linear Crossbar.
  bool linear() const;
  /// Throws aimc::Error naming `call`, the shape and the array unless every shape holds at the
  /// cell voltages `inputs` (R x N) can make (IvShape::RequireHoldsAt): a passive array sees no
  /// cell voltage beyond the largest input's magnitude.
  void RequireHoldsFor(const Eigen::MatrixXd& inputs, const char* call) const;

  /// The current (A) through cell (i, j), device and access transistor in series, at a voltage
  /// `v_cell` across both, and its small-signal conductance dI/dV_cell (S).
  struct CellState {
    double current_a = 0.0;
    double slope_s = 0.0;
  };
  CellState Cell(int i, int j, double v_cell) const;

 private:
  Crossbar xbar_;
  std::vector<device::IvShape> shapes_;
  ShapeIndex index_;
};

/// An MTJ array whose AP cells lose TMR with bias: every cell below `threshold_s` follows
/// IvShape::TmrBias(tmr0, v_half_v), the others (P) stay linear. `threshold_s` 0: the geometric
/// mean of the array's largest and smallest conductance (G_P / sqrt(1 + TMR) for an array of
/// P and AP cells; no AP cell when all are equal).
NonlinearCrossbar WithTmrBias(Crossbar xbar, double tmr0, double v_half_v,
                              double threshold_s = 0.0);

/// The column currents without any parasitic, each device at its row's voltage:
/// I_j = sum_i I_ij(V_i) (amperes, C x N for R x N inputs; access transistors included).
Eigen::MatrixXd IdealCurrents(const NonlinearCrossbar& array, const Eigen::MatrixXd& v_rows);

/// How the Newton solve of a non-linear array proceeds and when it stops.
struct NonlinearOptions {
  /// Converged when at every node the KCL mismatch is <= tolerance_rel * the largest device
  /// current, or within the rounding floor of the node's own terms (8 eps x the sum of
  /// |g x| over its links and cells: the last bit of a node voltage on a wire that conducts far
  /// better than the devices moves the mismatch by more than 1e-12 of a device current);
  /// within [1e-15, 0.1].
  double tolerance_rel = 1e-12;
  /// Newton steps (one Jacobian factorization each) before giving up; within [1, 10000].
  int max_iterations = 50;
  /// Backtracking: a step is halved at most this often while it fails to reduce the residual;
  /// within [0, 60].
  int max_step_halvings = 30;
  /// false: a solve that does not converge returns its state (summary.converged = false)
  /// instead of throwing.
  bool require_convergence = true;

  /// Throws aimc::Error naming the field, its value and the allowed range.
  void Validate() const;
};

/// What one Newton solve did: data, not log lines.
struct NonlinearSummary {
  int iterations = 0;        // Newton steps after the linear start (Jacobian factorizations)
  int step_halvings = 0;     // backtracking cuts over all steps
  double residual_rel = 0.0;  // max |KCL mismatch| / largest device current, at the end
  double floor_rel = 0.0;     // the largest node's rounding floor, relative the same way
  bool converged = false;
  double seconds = 0.0;
};

/// The DC state of a non-linear array for one input.
struct NonlinearSolution {
  NodeVoltages voltages;  // node voltages, column currents (each column's cell currents), row
                          // sources' currents
  NonlinearSummary summary;
};

/// Column currents of many inputs and the summary of each input's solve.
struct NonlinearBatch {
  Eigen::MatrixXd column_current_a;  // C x N
  std::vector<NonlinearSummary> summaries;
};

/// Newton's method on the nodal equations of a non-linear array (docs/xbar.md, "Non-linear
/// devices"). The unknowns are those of DcSolver (deviations of the wire nodes from their ideal
/// voltages); the Jacobian has the pattern of the linear nodal matrix, with each cell's
/// small-signal conductance in place of its conductance, so the symbolic analysis is done once
/// (in the constructor) and every Newton step is a numeric factorization and a solve.
///
///   NonlinearSolver solver(array);
///   Eigen::MatrixXd i = solver.BatchColumnCurrents(vs).column_current_a;  // R x N -> C x N
class NonlinearSolver {
 public:
  /// Throws aimc::Error for bad options or a failed analysis.
  explicit NonlinearSolver(const NonlinearCrossbar& array, NonlinearOptions options = {});
  ~NonlinearSolver();
  NonlinearSolver(NonlinearSolver&&) noexcept;
  NonlinearSolver& operator=(NonlinearSolver&&) noexcept;

  /// The DC state for one vector of row voltages (volts). Throws aimc::Error naming the array,
  /// the iterations and the residual when Newton does not converge (unless
  /// options.require_convergence is false).
  NonlinearSolution Solve(const Eigen::VectorXd& v_rows);
  /// Each input (a column of the R x N `v_rows`) solved on its own; the linear starts of all
  /// inputs share one factorization. Errors name the input.
  NonlinearBatch BatchColumnCurrents(const Eigen::MatrixXd& v_rows);

  /// The nodal matrix's size, the time of the one symbolic analysis, and the numeric
  /// factorizations' time summed over every solve so far (linear starts and Newton steps).
  const FactorSummary& factor_summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimc::circuit
