#include "aimc/circuit/effective_matrix.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "aimc/circuit/dc_solver.h"
#include "aimc/common/error.h"
#include "cholmod_util.h"
#include "nodal.h"

namespace aimc::circuit {

// The physical (end) form on both sides: least fill, and ~1e-13 relative accuracy measured
// against the IR-drop form (effective_matrix tests), far inside the 1e-9 bar.
constexpr bool kSpreadRows = false;
constexpr bool kSpreadCols = false;

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// How a port couples to the wire network. `kSpread`: the IR-drop form, the port's vector holds
// the cell conductances of its whole line (-g at row nodes, +g at column nodes); `kEnd`: the
// physical form, the port is tied to the line's end node(s) by the driver/sense link
// conductance. Both give M_eff exactly; kSpread avoids cancellation (all terms are of the size of
// the IR drop) at the price of fill, kEnd is cheap but loses digits when wires conduct far more
// than cells. A line whose nodes are all fixed (ideal wire and source) must use kSpread.
enum class PortForm { kSpread, kEnd };

struct Ports {
  PortForm rows;
  PortForm cols;
};

// The bordered matrix [[K, Q], [Q^T, D]] (lower triangle), ports after the n wire unknowns, rows
// first; Q_r = P_rows (kSpread) or -B_rows (kEnd), likewise for columns. D must make it positive
// definite: per block, P^T K^-1 P <= diag(line sums of g) (K exceeds the cells' own Laplacian)
// and B^T K^-1 B <= diag(link conductances) (a grounded Laplacian's port Schur complement is
// >= 0), and the joint form is at most twice the blocks, so D = 4 x those bounds leaves a Schur
// complement >= 2 x bounds > 0. The off-diagonal block of the Schur complement,
// S_rc = -Q_r^T K^-1 Q_c, is what M_eff needs; D does not enter it.
internal::SparseLower BorderedMatrix(const internal::NodalSystem& s, Ports form) {
  const std::int64_t n = s.unknowns;
  const std::int64_t ports = s.rows + s.cols;
  std::vector<Eigen::Triplet<double, std::int64_t>> t;
  t.reserve(std::size_t(s.k_lower.nonZeros()) + 4 * std::size_t(s.rows) * s.cols + ports);
  for (std::int64_t col = 0; col < n; ++col) {
    for (internal::SparseLower::InnerIterator it(s.k_lower, col); it; ++it) {
      t.emplace_back(it.row(), col, it.value());
    }
  }
  Eigen::VectorXd bound = Eigen::VectorXd::Zero(ports);
  for (int i = 0; i < s.rows; ++i) {
    for (int j = 0; j < s.cols; ++j) {
      const double g = s.g(i, j);
      const std::int64_t row_port = n + i;
      const std::int64_t col_port = n + s.rows + j;
      const auto a = s.RowNode(i, j);
      const auto c = s.ColNode(i, j);
      if (form.rows == PortForm::kSpread) {
        if (a >= 0) t.emplace_back(row_port, a, -g);
        if (c >= 0) t.emplace_back(row_port, c, g);
        bound(i) += g;
      }
      if (form.cols == PortForm::kSpread) {
        if (a >= 0) t.emplace_back(col_port, a, -g);
        if (c >= 0) t.emplace_back(col_port, c, g);
        bound(s.rows + j) += g;
      }
    }
  }
  if (form.rows == PortForm::kEnd) {
    for (const internal::EndLink& l : s.row_ends) {
      t.emplace_back(n + l.line, l.node, -l.g);
      bound(l.line) += l.g;
    }
  }
  if (form.cols == PortForm::kEnd) {
    for (const internal::EndLink& l : s.col_ends) {
      t.emplace_back(n + s.rows + l.line, l.node, -l.g);
      bound(s.rows + l.line) += l.g;
    }
  }
  for (std::int64_t p = 0; p < ports; ++p) t.emplace_back(n + p, n + p, 4.0 * bound(p));
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

bool PortsLast(const cholmod_factor& f, std::int64_t n) {
  const auto* perm = static_cast<const std::int64_t*>(f.Perm);
  for (std::size_t k = std::size_t(n); k < f.n; ++k) {
    if (perm[k] < n) return false;
  }
  return true;
}

}  // namespace

namespace internal {

Eigen::MatrixXd EffectiveMatrixWith(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                                    EffectiveMatrixInfo* info) {
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
  std::vector<std::int64_t> perm = sys.GeometricOrdering();
  if (perm.empty()) perm = cholmod.Ordering(sys.k_lower);
  for (std::int64_t p = 0; p < ports; ++p) perm.push_back(n + p);  // ports last
  out.order_seconds = SecondsSince(t0);

  Ports form{spread_rows ? PortForm::kSpread : PortForm::kEnd,
             spread_cols ? PortForm::kSpread : PortForm::kEnd};
  // Lines fixed by ideal wires and sources have no end node: only the spread form reaches them.
  if (sys.row_ends.empty()) form.rows = PortForm::kSpread;
  if (sys.col_ends.empty()) form.cols = PortForm::kSpread;
  internal::SparseLower bordered = BorderedMatrix(sys, form);
  sys.k_lower = internal::SparseLower();  // the bordered copy is all that is needed now
  t0 = std::chrono::steady_clock::now();
  const auto name = [&sys, n](std::int64_t row) {
    if (row >= n + sys.rows) return fmt::format("the port of column {}", row - n - sys.rows);
    if (row >= n) return fmt::format("the port of row {}", row - n);
    return sys.NodeName(row);
  };
  // Postordering merges the elimination tree into large supernodes (dense BLAS kernels); it
  // keeps the ports last when they form one clique at the root, which a connected array gives.
  // Otherwise (a forest, e.g. with ideal column lines) factor again in the given order.
  cholmod.Factorize(bordered, &perm, false, true, name, nullptr, nullptr);
  if (!PortsLast(*cholmod.factor(), n)) {
    cholmod.Factorize(bordered, &perm, true, true, name, nullptr, nullptr);
  }
  out.factorize_seconds = SecondsSince(t0);
  out.unknowns = n + ports;
  out.factor_nonzeros = cholmod.FactorNonzeros();
  out.factor_flops = cholmod.common()->fl;
  bordered = internal::SparseLower();

  // Postordering keeps the ports (a dense clique at the root of the elimination tree) last;
  // find where each landed.
  const cholmod_factor& f = *cholmod.factor();
  const auto* final_perm = static_cast<const std::int64_t*>(f.Perm);
  std::vector<std::int64_t> position(std::size_t(ports), -1);
  for (std::int64_t k = n; k < n + ports; ++k) {
    const std::int64_t original = final_perm[k];
    if (original < n) Fail("internal error: a wire node was ordered behind the ports");
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
  // S_rc = -Q_r^T K^-1 Q_c, and with P = B - K E (the identity K^-1 P = K^-1 B - E that links
  // the two forms): spread/spread: M = G + S_rc; spread rows, end columns: M = S_rc; end rows:
  // M = -S_rc.
  Eigen::MatrixXd m(sys.rows, sys.cols);
  m.noalias() = row_part.leftCols(width) * col_part.leftCols(width).transpose();
  if (form.rows == PortForm::kEnd) m = -m;
  if (form.rows == PortForm::kSpread && form.cols == PortForm::kSpread) m += sys.g;
  // A factorization of a positive definite matrix with finite data is finite; anything else
  // means the values span more than double arithmetic holds, reported rather than returned.
  if (!m.allFinite()) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      for (Eigen::Index i = 0; i < m.rows(); ++i) {
        Require(std::isfinite(m(i, j)),
                "the effective matrix of {} is not finite at (row {}, column {}): its "
                "conductances and parasitics span more than double precision resolves",
                xbar.Describe(), i, j);
      }
    }
  }
  out.total_seconds = SecondsSince(start);
  return m;
}

}  // namespace internal

Eigen::MatrixXd EffectiveMatrix(const Crossbar& xbar, EffectiveMatrixInfo* info) {
  return internal::EffectiveMatrixWith(xbar, kSpreadRows, kSpreadCols, info);
}

Eigen::MatrixXd EffectiveMatrixBySolves(const Crossbar& xbar) {
  const DcSolver solver(xbar);
  const Eigen::MatrixXd unit = Eigen::MatrixXd::Identity(xbar.rows(), xbar.rows());
  return solver.BatchColumnCurrents(unit).transpose();
}

}  // namespace aimc::circuit
