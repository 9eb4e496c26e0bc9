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

struct NodalSystem {
  explicit NodalSystem(const Crossbar& xbar);

  int rows = 0;
  int cols = 0;
  Eigen::MatrixXd g;                  // cell conductances (device + access), R x C
  std::vector<std::int64_t> row_node;  // unknown index of the row node at (i, j): i * C + j; -1 fixed
  std::vector<std::int64_t> col_node;  // same for the column node
  std::int64_t unknowns = 0;
  SparseLower k_lower;  // lower triangle of K, compressed
  std::vector<EndLink> row_ends;  // empty when every row node is fixed
  std::vector<EndLink> col_ends;

  std::int64_t RowNode(int i, int j) const { return row_node[std::size_t(i) * cols + j]; }
  std::int64_t ColNode(int i, int j) const { return col_node[std::size_t(i) * cols + j]; }

  /// P_rows V for N inputs: v is R x N, the result unknowns x N.
  Eigen::MatrixXd Rhs(const Eigen::MatrixXd& v) const;
  /// I = G^T V - P_cols^T x, C x N.
  Eigen::MatrixXd Currents(const Eigen::MatrixXd& v, const Eigen::MatrixXd& x) const;
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
namespace internal {
/// M_eff with a chosen port form per side (spread: the IR-drop form, end: the physical one);
/// EffectiveMatrix uses the default. For tests and measurements.
Eigen::MatrixXd EffectiveMatrixWith(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                                    EffectiveMatrixInfo* info);
}  // namespace internal
}  // namespace aimc::circuit
