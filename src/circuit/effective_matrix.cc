#include "aimc/circuit/effective_matrix.h"

#include <algorithm>
#include <chrono>

#include "aimc/circuit/dc_solver.h"
#include "aimc/common/error.h"
#include "cholmod_util.h"
#include "nodal.h"

namespace aimc::circuit {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The bordered matrix [[K, P], [P^T, D]] (lower triangle) with P = [P_rows, P_cols]: the ports
// follow the n wire unknowns, rows first. D must make it positive definite: for any port vector
// y, y^T P^T K^-1 P y <= sum_ij g_ij (y_i + y_{R+j})^2 <= 2 y^T diag(row sums, column sums) y,
// because K exceeds the cells' own Laplacian, so D = 4 diag(row sums, column sums) leaves a
// Schur complement >= 2 diag(...) > 0 and is of the size of the IR-drop terms (no cancellation).
internal::SparseLower BorderedMatrix(const internal::NodalSystem& s) {
  const std::int64_t n = s.unknowns;
  const std::int64_t ports = s.rows + s.cols;
  std::vector<Eigen::Triplet<double, std::int64_t>> t;
  t.reserve(std::size_t(s.k_lower.nonZeros()) + 4 * std::size_t(s.rows) * s.cols + ports);
  for (std::int64_t col = 0; col < n; ++col) {
    for (internal::SparseLower::InnerIterator it(s.k_lower, col); it; ++it) {
      t.emplace_back(it.row(), col, it.value());
    }
  }
  for (int i = 0; i < s.rows; ++i) {
    for (int j = 0; j < s.cols; ++j) {
      const double g = s.g(i, j);
      const std::int64_t row_port = n + i;
      const std::int64_t col_port = n + s.rows + j;
      if (const auto a = s.RowNode(i, j); a >= 0) {
        t.emplace_back(row_port, a, -g);
        t.emplace_back(col_port, a, -g);
      }
      if (const auto c = s.ColNode(i, j); c >= 0) {
        t.emplace_back(row_port, c, g);
        t.emplace_back(col_port, c, g);
      }
    }
  }
  const Eigen::VectorXd row_sums = s.g.rowwise().sum();
  const Eigen::VectorXd col_sums = s.g.colwise().sum().transpose();
  for (int i = 0; i < s.rows; ++i) t.emplace_back(n + i, n + i, 4.0 * row_sums(i));
  for (int j = 0; j < s.cols; ++j) {
    t.emplace_back(n + s.rows + j, n + s.rows + j, 4.0 * col_sums(j));
  }
  internal::SparseLower a(n + ports, n + ports);
  a.setFromTriplets(t.begin(), t.end());
  a.makeCompressed();
  return a;
}

// The rows of L (n + ports square, supernodal) that belong to the ports, restricted to the port
// columns: L_pp, whose product L_pp L_pp^T is the ports' Schur complement. Row/column k of the
// result is the port at permuted position n + k.
Eigen::MatrixXd TrailingBlock(const cholmod_factor& f, std::int64_t n, std::int64_t ports) {
  Eigen::MatrixXd lpp = Eigen::MatrixXd::Zero(ports, ports);
  const auto* super = static_cast<const std::int64_t*>(f.super);
  const auto* pi = static_cast<const std::int64_t*>(f.pi);
  const auto* px = static_cast<const std::int64_t*>(f.px);
  const auto* s = static_cast<const std::int64_t*>(f.s);
  const auto* x = static_cast<const double*>(f.x);
  for (std::size_t sn = 0; sn < f.nsuper; ++sn) {
    const std::int64_t first = super[sn];
    const std::int64_t last = super[sn + 1];
    if (last <= n) continue;
    const std::int64_t nsrow = pi[sn + 1] - pi[sn];
    for (std::int64_t col = std::max(first, n); col < last; ++col) {
      const double* values = x + px[sn] + (col - first) * nsrow;
      for (std::int64_t r = 0; r < nsrow; ++r) {
        const std::int64_t row = s[pi[sn] + r];
        if (row >= col) lpp(row - n, col - n) = values[r];
      }
    }
  }
  return lpp;
}

}  // namespace

Eigen::MatrixXd EffectiveMatrix(const Crossbar& xbar, EffectiveMatrixInfo* info) {
  const auto start = std::chrono::steady_clock::now();
  EffectiveMatrixInfo local;
  EffectiveMatrixInfo& out = info != nullptr ? *info : local;
  out = EffectiveMatrixInfo{};
  internal::NodalSystem sys(xbar);
  if (sys.unknowns == 0) {  // ideal wires, drivers and sense amplifiers: no IR drop
    out.total_seconds = SecondsSince(start);
    return sys.g;
  }
  const std::int64_t n = sys.unknowns;
  const std::int64_t ports = sys.rows + sys.cols;
  internal::Cholmod cholmod;

  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::int64_t> perm = cholmod.Ordering(sys.k_lower);
  for (std::int64_t p = 0; p < ports; ++p) perm.push_back(n + p);  // ports last
  out.order_seconds = SecondsSince(t0);

  internal::SparseLower bordered = BorderedMatrix(sys);
  sys.k_lower = internal::SparseLower();  // the bordered copy is all that is needed now
  t0 = std::chrono::steady_clock::now();
  const auto name = [&sys, n](std::int64_t row) {
    if (row >= n + sys.rows) return fmt::format("the port of column {}", row - n - sys.rows);
    if (row >= n) return fmt::format("the port of row {}", row - n);
    return sys.NodeName(row);
  };
  cholmod.Factorize(bordered, &perm, true, name, nullptr, nullptr);
  out.factorize_seconds = SecondsSince(t0);
  out.unknowns = n + ports;
  out.factor_nonzeros = cholmod.FactorNonzeros();
  bordered = internal::SparseLower();

  // Postordering keeps the ports (a dense clique at the root of the elimination tree) last;
  // find where each landed.
  const cholmod_factor& f = *cholmod.factor();
  const auto* final_perm = static_cast<const std::int64_t*>(f.Perm);
  std::vector<std::int64_t> position(std::size_t(ports), -1);
  for (std::int64_t k = n; k < n + ports; ++k) {
    const std::int64_t original = final_perm[k];
    if (original < n) Fail("internal: the ordering moved a wire node behind the ports");
    position[std::size_t(original - n)] = k - n;
  }
  const Eigen::MatrixXd lpp = TrailingBlock(f, n, ports);

  // Schur block (rows, columns) = L_pp[rows] L_pp[cols]^T; only the leading columns up to the
  // last row port are nonzero in the row ports' rows.
  std::int64_t width = 0;
  Eigen::MatrixXd row_part(sys.rows, ports);
  Eigen::MatrixXd col_part(sys.cols, ports);
  for (int i = 0; i < sys.rows; ++i) {
    row_part.row(i) = lpp.row(position[std::size_t(i)]);
    width = std::max(width, position[std::size_t(i)] + 1);
  }
  for (int j = 0; j < sys.cols; ++j) col_part.row(j) = lpp.row(position[std::size_t(sys.rows + j)]);
  Eigen::MatrixXd m = sys.g;
  m.noalias() += row_part.leftCols(width) * col_part.leftCols(width).transpose();
  out.total_seconds = SecondsSince(start);
  return m;
}

Eigen::MatrixXd EffectiveMatrixBySolves(const Crossbar& xbar) {
  const DcSolver solver(xbar);
  const Eigen::MatrixXd unit = Eigen::MatrixXd::Identity(xbar.rows(), xbar.rows());
  return solver.BatchColumnCurrents(unit).transpose();
}

}  // namespace aimc::circuit
