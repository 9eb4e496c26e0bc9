#pragma once

// The nodal system shared by the solvers. Unknowns are the deviations of the wire-node voltages
// from the ideal ones (row lines at V_i, column lines at 0 V): x = [u - V; w]. Nodes tied to an
// ideal source or sense amplifier by zero resistance are fixed (deviation 0) and not unknowns.
//
//   K x = P_rows V,     I = G^T V - P_cols^T x,
//
// where K is the conductance (Laplacian) matrix of wires and cells with the sources and sense
// amplifiers as ground, and column i of P_rows (j of P_cols) holds -g at the row node and +g at
// the column node of each cell of row i (column j). See docs/xbar.md.

#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SparseCore>

#include "aimc/circuit/crossbar.h"

namespace aimc::circuit::internal {

using SparseLower = Eigen::SparseMatrix<double, Eigen::ColMajor, std::int64_t>;

/// A link from a line's end node to its driver (row) or sense amplifier (column).
struct EndLink {
  int line;
  std::int64_t node;
  double g;
};

/// How the nodes of one kind of line are numbered: one per crosspoint (resistive wire), one per
/// line (ideal wire behind a resistive driver or sense amplifier), or none (all fixed).
enum class LineNodes { kChain, kMerged, kFixed };

struct NodalSystem {
  /// `assemble`: also build k_lower (the effective matrix assembles its own bordered matrix).
  explicit NodalSystem(const Crossbar& xbar, bool assemble = true);

  int rows = 0;
  int cols = 0;
  Eigen::MatrixXd g;  // cell conductances (device + access), R x C
  LineNodes row_lines = LineNodes::kFixed;
  LineNodes col_lines = LineNodes::kFixed;
  std::int64_t col_base = 0;  // unknown of the first column node (row nodes come first)
  std::int64_t unknowns = 0;
  double row_wire_g = 0.0;  // conductance of one row-wire segment (kChain)
  double col_wire_g = 0.0;
  SparseLower k_lower;            // lower triangle of K, compressed (when assembled)
  std::vector<EndLink> row_ends;  // empty when every row node is fixed; in row order
  std::vector<EndLink> col_ends;

  /// Unknown index of the row node at (i, j); -1 when fixed.
  std::int64_t RowNode(int i, int j) const {
    if (row_lines == LineNodes::kChain) return std::int64_t(i) * cols + j;
    return row_lines == LineNodes::kMerged ? i : -1;
  }
  /// Same for the column node.
  std::int64_t ColNode(int i, int j) const {
    if (col_lines == LineNodes::kChain) return col_base + std::int64_t(j) * rows + i;
    return col_lines == LineNodes::kMerged ? col_base + j : -1;
  }

  /// Calls f(a, b, g) for every conductance g between unknowns a and b (b = -1: a fixed node),
  /// always in the same order: each row's end links and segments, then each column's, then the
  /// cells. K is the sum of their Laplacians.
  template <typename F>
  void ForEachLink(F&& f) const {
    std::size_t e = 0;
    for (int i = 0; i < rows; ++i) {
      for (; e < row_ends.size() && row_ends[e].line == i; ++e) {
        f(row_ends[e].node, -1, row_ends[e].g);
      }
      if (row_lines == LineNodes::kChain) {
        for (int j = 0; j + 1 < cols; ++j) f(RowNode(i, j), RowNode(i, j + 1), row_wire_g);
      }
    }
    e = 0;
    for (int j = 0; j < cols; ++j) {
      for (; e < col_ends.size() && col_ends[e].line == j; ++e) {
        f(col_ends[e].node, -1, col_ends[e].g);
      }
      if (col_lines == LineNodes::kChain) {
        for (int i = 0; i + 1 < rows; ++i) f(ColNode(i, j), ColNode(i + 1, j), col_wire_g);
      }
    }
    for (int i = 0; i < rows; ++i) {
      for (int j = 0; j < cols; ++j) f(RowNode(i, j), ColNode(i, j), g(i, j));
    }
  }

  /// Calls emit(a, b, value) for the entries of K: each link's two diagonal terms and its
  /// off-diagonal one (a != b, given once).
  template <typename Emit>
  void ForEachEntry(Emit&& emit) const {
    ForEachLink([&emit](std::int64_t a, std::int64_t b, double g) {
      if (a >= 0) emit(a, a, g);
      if (b >= 0) emit(b, b, g);
      if (a >= 0 && b >= 0) emit(a, b, -g);
    });
  }

  /// P_rows V for N inputs: v is R x N, the result unknowns x N.
  Eigen::MatrixXd Rhs(const Eigen::MatrixXd& v) const;
  /// I = G^T V - P_cols^T x, C x N.
  Eigen::MatrixXd Currents(const Eigen::MatrixXd& v, const Eigen::MatrixXd& x) const;
  /// The currents the row sources deliver (R x N): through their end links, -g x at the end
  /// node; rows whose nodes are all fixed feed their cells directly, so there it is the row's
  /// cell currents, cell_current(i, n) = sum_j I_ij for input n (R x N, read only then).
  Eigen::MatrixXd SourceCurrents(const Eigen::MatrixXd& x,
                                 const Eigen::MatrixXd& cell_current) const;
  /// The row sums of the linear cell currents g (V_i + x_row - x_col), R x N.
  Eigen::MatrixXd RowCellCurrents(const Eigen::MatrixXd& v, const Eigen::MatrixXd& x) const;
  /// A nested-dissection elimination order from the array's geometry (empty when a line is ideal
  /// and its nodes are merged). Row node (i, j) sits at (x, y) = (j, i + 1/2), column node at
  /// (j + 1/2, i); a cut at integer x removes the row nodes of one column, at integer y the
  /// column nodes of one row, and no wire or cell crosses it: separators of one line length,
  /// the optimum for a 2D mesh, found in O(n log n) instead of a graph partitioner's time.
  std::vector<std::int64_t> GeometricOrdering() const;
  /// "row line node (row 3, column 7)" for error messages.
  std::string NodeName(std::int64_t unknown) const;
};

}  // namespace aimc::circuit::internal

namespace aimc::circuit {
struct EffectiveMatrixInfo;
struct PortMatrices;
namespace internal {
/// M_eff with a chosen port form per side (spread: the IR-drop form, end: the physical one);
/// EffectiveMatrix uses the default. For tests and measurements.
Eigen::MatrixXd EffectiveMatrixWith(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                                    EffectiveMatrixInfo* info);
/// The same with the row admittance too when `row_admittance` (else it is left empty).
PortMatrices PortMatricesWith(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                              bool row_admittance, EffectiveMatrixInfo* info);
}  // namespace internal
}  // namespace aimc::circuit
