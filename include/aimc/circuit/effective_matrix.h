#pragma once

#include <cstdint>

#include <Eigen/Dense>

#include "aimc/circuit/crossbar.h"

namespace aimc::circuit {

struct EffectiveMatrixInfo {
  std::int64_t unknowns = 0;         // wire nodes plus the R + C ports
  std::int64_t factor_nonzeros = 0;  // entries of L's wire columns (dropped front by front)
  double factor_flops = 0.0;         // floating-point operations of the numeric elimination
  std::int64_t work_bytes = 0;       // memory of the numeric elimination: values, fronts, updates
  std::int64_t plan_bytes = 0;       // memory the cached plan of this pattern holds
  bool reused_plan = false;          // ordering and analysis came from an earlier array
  double order_seconds = 0.0;        // fill-reducing ordering (0 when the plan was reused)
  double analyze_seconds = 0.0;      // symbolic analysis: supernodes, fronts (0 when reused)
  double assemble_seconds = 0.0;     // nodal matrix values from the conductances
  double factorize_seconds = 0.0;    // numeric elimination down to the ports
  double total_seconds = 0.0;
};

/// The effective conductance matrix M_eff (R x C) of an array with wire resistance: for any row
/// voltages V, the exact DC column currents are I = M_eff^T V. It depends only on conductances
/// and parasitics, so one build serves every MVM as a dense product.
///
/// Method: the nodal matrix K of the wire nodes is bordered by R + C port unknowns (one per
/// driver, one per sense amplifier, tied to the line ends); eliminating the wire nodes by a
/// multifrontal Cholesky leaves the ports' Schur complement, whose (rows, columns) block is
/// -M_eff = -B_rows^T K^-1 B_cols (see docs/xbar.md).
///
/// The ordering and symbolic analysis depend only on the array's shape and which parasitics are
/// zero (its sparsity pattern): they are made once per pattern and kept in a bounded
/// process-wide cache, so later arrays of a pattern pay for the numeric elimination only. The
/// result does not depend on whether the plan was reused. Safe to call from several threads at
/// once; it runs on the calling thread only, and its result is bit-identical however many
/// threads build at once (it uses no BLAS, whose thread count changes its rounding).
///
///   Eigen::MatrixXd m = EffectiveMatrix(xbar);
///   Eigen::VectorXd i = m.transpose() * v;
Eigen::MatrixXd EffectiveMatrix(const Crossbar& xbar, EffectiveMatrixInfo* info = nullptr);

/// M_eff and the row ports' admittance Y (R x R, symmetric): with the columns at virtual
/// ground the row sources deliver currents I_rows = Y V, so the array's read power is V^T Y V
/// (devices, access transistors, wires, drivers and sense resistances together).
struct PortMatrices {
  Eigen::MatrixXd m_eff;           // R x C, as EffectiveMatrix gives it (bit for bit)
  Eigen::MatrixXd row_admittance;  // Y, R x R, siemens
};

/// M_eff and Y from one elimination: Y is the row-port x row-port block of the same ports'
/// Schur complement, plus a diagonal (docs/xbar.md, "Read power"), so it costs no solve, only
/// that block's share of the dense port updates. With no wire node at all (ideal wires and
/// sources) Y = diag(sum_j G_cell_ij). Bit-identical however many threads build, like
/// EffectiveMatrix.
///
///   PortMatrices p = EffectivePortMatrices(xbar);
///   double power_w = v.dot(p.row_admittance * v);   // read power of input v
PortMatrices EffectivePortMatrices(const Crossbar& xbar, EffectiveMatrixInfo* info = nullptr);

/// Drops the cached plans (their memory is freed once no running build holds them); the next
/// array of each pattern is planned afresh.
void ClearEffectiveMatrixPlans();

/// The same matrix by R batched solves against one factorization (unit inputs). Slower; an
/// independent route for tests.
Eigen::MatrixXd EffectiveMatrixBySolves(const Crossbar& xbar);

/// Y by R batched solves (the row sources' currents for unit inputs). An independent route for
/// tests.
Eigen::MatrixXd RowAdmittanceBySolves(const Crossbar& xbar);

}  // namespace aimc::circuit
