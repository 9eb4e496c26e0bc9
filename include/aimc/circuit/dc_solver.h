#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <Eigen/Dense>

#include "aimc/circuit/crossbar.h"
#include "aimc/common/enum_names.h"

namespace aimc::circuit {

/// Which sparse Cholesky factors the nodal matrix: CHOLMOD (supernodal, METIS/AMD ordering) or
/// Eigen's SimplicialLDLT (AMD ordering), the fallback and a cross-check.
enum class Backend { kCholmod, kEigen };
const EnumNames<Backend>& BackendNames();  // "cholmod", "eigen"
std::string ToString(Backend backend);

/// What a factorization did: data, not log lines.
struct FactorSummary {
  std::string backend;
  std::int64_t unknowns = 0;         // wire nodes whose voltage is not fixed by a source
  std::int64_t matrix_nonzeros = 0;  // lower triangle of the nodal matrix
  std::int64_t factor_nonzeros = 0;  // entries of L
  double analyze_seconds = 0.0;
  double factorize_seconds = 0.0;
};

/// The DC state of the array for one input vector.
struct NodeVoltages {
  Eigen::MatrixXd row_v;            // R x C: row-line voltage at each crosspoint
  Eigen::MatrixXd col_v;            // R x C: column-line voltage at each crosspoint
  Eigen::VectorXd column_current_a;  // C: current into each column's sense amplifier(s)
  Eigen::VectorXd row_current_a;     // R: current each row's source(s) deliver
  /// Voltage across each cell (device and access transistor), R x C.
  Eigen::MatrixXd CellVoltages() const { return row_v - col_v; }
};

/// The exact DC solution of a crossbar with wire resistance: factorize once, solve many inputs.
///
/// The unknowns are the deviations from the ideal node voltages (row lines at V_i, column lines
/// at 0 V), so the IR drop is computed directly rather than as a small difference of large
/// voltages; the nodal matrix is symmetric positive definite.
///
/// With Backend::kCholmod the dense blocks of the supernodal factorization are OpenBLAS's, which
/// rounds differently with one thread and with several: results can move by up to 1e-13
/// relative with OPENBLAS_NUM_THREADS (docs/xbar.md, "Thread count"). Backend::kEigen uses no
/// BLAS.
///
///   DcSolver solver(xbar);                              // factorizes
///   Eigen::VectorXd i = solver.ColumnCurrents(v);       // one MVM
///   Eigen::MatrixXd batch = solver.BatchColumnCurrents(vs);  // R x N -> C x N
class DcSolver {
 public:
  /// Throws aimc::Error if the factorization fails, naming the node where it broke down.
  explicit DcSolver(const Crossbar& xbar, Backend backend = Backend::kCholmod);
  ~DcSolver();
  DcSolver(DcSolver&&) noexcept;
  DcSolver& operator=(DcSolver&&) noexcept;

  /// Column currents (amperes) for one vector of row voltages (volts).
  Eigen::VectorXd ColumnCurrents(const Eigen::VectorXd& v_rows) const;
  /// Column currents for many inputs at once: v_rows is R x N (one input per column), the
  /// result C x N.
  Eigen::MatrixXd BatchColumnCurrents(const Eigen::MatrixXd& v_rows) const;
  /// The currents the row sources deliver for many inputs: v_rows is R x N, the result R x N.
  Eigen::MatrixXd BatchRowCurrents(const Eigen::MatrixXd& v_rows) const;
  /// Every node voltage, the column currents and the row sources' currents for one input.
  NodeVoltages Solve(const Eigen::VectorXd& v_rows) const;

  const FactorSummary& summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace aimc::circuit
