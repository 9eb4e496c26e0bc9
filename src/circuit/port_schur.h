#pragma once

// The ports' Schur complement of a bordered nodal matrix A = [[K, Q], [Q^T, D]] by a
// multifrontal elimination of the wire unknowns only.
//
// A supernodal Cholesky of all of A (CHOLMOD) stores L whole (0.9 GB at 1024 x 1024), factors
// the ports' own dense block and then multiplies two slices of it to get S back. Here each
// supernode of CHOLMOD's symbolic analysis is one front: its pivots (wire unknowns) are
// eliminated, the update to the wire rows below goes to the parent front, and the update's
// row-port x column-port block goes straight into S_rc, the block M_eff needs; L is dropped
// front by front. Ports are never pivots, so D does not matter; the row-row block S_rr (the
// row sources' admittance, for the read power) is formed only when asked for, and the
// column-column block never.
//
// The plan (ordering, supernodes, their rows and the front tree) depends only on the sparsity
// pattern of A, not on its values: one plan serves every array of a shape and wiring.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "nodal.h"
#include "page_buffer.h"

namespace aimc::circuit::internal {

/// What the elimination needs of A's sparsity pattern. Positions are in the elimination order:
/// wire unknowns 0..n-1, then the row ports n..n+R-1, then the column ports.
struct SchurPlan {
  std::int64_t n = 0;             // wire unknowns
  std::int64_t rows = 0;          // row ports (R)
  std::int64_t cols = 0;          // column ports (C)
  PageVector<std::int64_t> perm;  // perm[k]: the unknown of A eliminated k-th (ports last)
  PageVector<std::int64_t> pinv;  // its inverse
  // A's lower triangle in positions, wire columns only (the values come with each array): the
  // rows of column k are a_row[a_ptr[k] .. a_ptr[k + 1]), ascending.
  PageVector<std::int64_t> a_ptr;
  PageVector<std::int64_t> a_row;
  // Where each entry of the bordered matrix, in the order it is emitted, adds into the values
  // laid out as a_row (kNoSlot: a port-port entry, not needed). Filled by the caller, who knows
  // the order.
  PageVector<std::uint32_t> slot;
  // Fronts in a postorder of their tree, so that pending updates form a stack. Front f
  // eliminates positions first[f] .. first[f] + pivots[f] - 1; its rows are
  // pattern[pattern_ptr[f] .. pattern_ptr[f + 1]), ascending, the pivots first; its children
  // (whose updates it assembles) are child[child_ptr[f] .. child_ptr[f + 1]), ascending.
  std::vector<std::int64_t> first;
  std::vector<std::int64_t> pivots;
  std::vector<std::int64_t> pattern_ptr;
  PageVector<std::int64_t> pattern;
  std::vector<std::int64_t> child_ptr;
  std::vector<std::int64_t> child;
  // Work space of one elimination, in doubles: the largest front, the largest port block and
  // the deepest stack of pending updates.
  std::int64_t max_front = 0;
  std::int64_t max_port_block = 0;
  std::int64_t max_row_block = 0;  // the largest row-port x row-port block (when S_rr is asked)
  std::int64_t max_stack = 0;
  std::int64_t factor_nonzeros = 0;  // entries of the wire columns of L (never stored whole)
  double flops = 0.0;                // of one numeric elimination
  double row_block_flops = 0.0;      // what forming S_rr adds to it
  double order_seconds = 0.0;
  double analyze_seconds = 0.0;

  std::int64_t fronts() const { return static_cast<std::int64_t>(first.size()); }
  /// Memory of one elimination: A's values, the front, port block, stack and row map.
  std::int64_t WorkBytes() const;
  /// Memory the plan itself holds.
  std::int64_t Bytes() const;
};

/// Plans the elimination of the bordered matrix whose lower triangle is `a` (n wire unknowns
/// then `rows` + `cols` ports) in the order `wire_order` (a permutation of 0..n-1) with the ports
/// last. `order_seconds` is recorded in the plan.
SchurPlan PlanSchur(const SparseLower& a, std::int64_t n, std::int64_t rows, std::int64_t cols,
                    std::vector<std::int64_t> wire_order, double order_seconds);

/// S_rc (R x C): the row ports x column ports block of the ports' Schur complement
/// D - Q^T K^-1 Q of the bordered matrix, whose wire columns' values `values` holds in the
/// layout of plan.a_row. With `s_rr`, also the row ports' own block -Q_r^T K^-1 Q_r (R x R,
/// symmetric; D's row block taken as 0) from the same elimination. A pivot that is not positive
/// throws aimc::Error naming the node through `node_name` (argument: the unknown of the bordered
/// matrix).
Eigen::MatrixXd PortCrossBlock(const SchurPlan& plan, const double* values,
                               const std::function<std::string(std::int64_t)>& node_name,
                               Eigen::MatrixXd* s_rr = nullptr);

}  // namespace aimc::circuit::internal
