#pragma once

#include <cstdint>

#include <Eigen/Dense>

#include "aimc/circuit/crossbar.h"

namespace aimc::circuit {

struct EffectiveMatrixInfo {
  std::int64_t unknowns = 0;         // wire nodes plus the R + C ports
  std::int64_t factor_nonzeros = 0;  // entries of L
  double factor_flops = 0.0;         // floating-point operations of the numeric factorization
  double order_seconds = 0.0;        // fill-reducing ordering of the wire nodes
  double factorize_seconds = 0.0;    // symbolic + numeric factorization
  double total_seconds = 0.0;
};

/// The effective conductance matrix M_eff (R x C) of an array with wire resistance: for any row
/// voltages V, the exact DC column currents are I = M_eff^T V. It depends only on conductances
/// and parasitics, so one build serves every MVM as a dense product.
///
/// Method: the nodal matrix K of the wire nodes is bordered by R + C port unknowns (one per
/// driver, one per sense amplifier, tied to the line ends); with the ports ordered last, the
/// trailing dense block L_pp of the Cholesky factor gives their Schur complement L_pp L_pp^T,
/// whose off-diagonal block is -M_eff = -B_rows^T K^-1 B_cols (see docs/xbar.md).
///
///   Eigen::MatrixXd m = EffectiveMatrix(xbar);
///   Eigen::VectorXd i = m.transpose() * v;
Eigen::MatrixXd EffectiveMatrix(const Crossbar& xbar, EffectiveMatrixInfo* info = nullptr);

/// The same matrix by R batched solves against one factorization (unit inputs). Slower; an
/// independent route for tests.
Eigen::MatrixXd EffectiveMatrixBySolves(const Crossbar& xbar);

}  // namespace aimc::circuit
