#include "port_schur.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "aimc/common/error.h"
#include "cholmod_util.h"
#include "dense.h"
#include "page_buffer.h"

namespace aimc::circuit::internal {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Whether the analysis kept the ports last and in their given order (postordering can move a
// port that is not at the root of the elimination tree, e.g. in a forest).
bool PortsInPlace(const cholmod_factor& f, std::int64_t n) {
  const auto* perm = static_cast<const std::int64_t*>(f.Perm);
  for (std::size_t k = std::size_t(n); k < f.n; ++k) {
    if (perm[k] != std::int64_t(k)) return false;
  }
  return true;
}

// The sizes of one front: `size` rows (pivots, then `wire` wire rows, then `row_ports` row ports
// and `col_ports` column ports), of which the first pivots + wire columns are kept.
struct FrontShape {
  std::int64_t size;
  std::int64_t pivots;
  std::int64_t wire;
  std::int64_t row_ports;
  std::int64_t col_ports;

  std::int64_t kept() const { return pivots + wire; }
  std::int64_t update() const { return (size - pivots) * wire; }
};

FrontShape ShapeOf(const SchurPlan& plan, std::int64_t f) {
  const std::int64_t* begin = plan.pattern.data() + plan.pattern_ptr[std::size_t(f)];
  const std::int64_t* end = plan.pattern.data() + plan.pattern_ptr[std::size_t(f) + 1];
  FrontShape s;
  s.size = end - begin;
  s.pivots = plan.pivots[std::size_t(f)];
  const std::int64_t* ports = std::lower_bound(begin + s.pivots, end, plan.n);
  const std::int64_t* col_ports = std::lower_bound(ports, end, plan.n + plan.rows);
  s.wire = ports - (begin + s.pivots);
  s.row_ports = col_ports - ports;
  s.col_ports = end - col_ports;
  return s;
}

// Below this many multiply-adds (e.g. 32 pivots of a 128 x 128 front) a front is eliminated
// with plain loops: packing for the blocked kernels costs more than it saves (measured: 1 << 19
// fastest from 128 x 128 to 1024 x 1024 arrays). Depends on the shape only, so a front takes the
// same path, with the same rounding, every time.
constexpr std::int64_t kSmallFront = std::int64_t(1) << 19;

// Eliminates the pivots of a front (size x kept, column-major, lower): L of the pivot columns,
// the update -L L^T of the wire columns (wire and port rows), and into `port_block` (row ports x
// column ports) the ports' cross update; with `row_block` (row ports x row ports) also the row
// ports' own update, lower triangle. Returns 0, or the 1-based pivot that was not positive.
int Eliminate(double* front, const FrontShape& sh, double* port_block, double* row_block) {
  const std::int64_t size = sh.size;
  const std::int64_t p = sh.pivots;
  const std::int64_t kept = sh.kept();
  const double* l_row_ports = front + p + sh.wire;
  const double* l_col_ports = l_row_ports + sh.row_ports;
  const bool cross = sh.row_ports > 0 && sh.col_ports > 0;
  const bool rows = row_block != nullptr && sh.row_ports > 0;
  if (p * size * kept <= kSmallFront) {
    const int info = dense::EliminateSmallFront(front, size, p, kept, sh.row_ports, sh.col_ports,
                                                port_block);
    if (info == 0 && rows) {
      dense::SyrkLowerLoops(sh.row_ports, p, l_row_ports, size, row_block, sh.row_ports);
    }
    return info;
  }
  const int info = dense::Potrf(p, front, size);
  if (info > 0) return info;
  dense::TrsmRightLowerTranspose(size - p, p, front, size, front + p, size);
  // Update of the wire rows (to the parent) and of the port rows against them.
  const double* l_wire = front + p;
  dense::GemmNtMinus(size - p, sh.wire, p, l_wire, size, l_wire, size, front + p + p * size, size,
                     true);
  if (cross) {
    std::fill_n(port_block, sh.row_ports * sh.col_ports, 0.0);
    dense::GemmNtMinus(sh.row_ports, sh.col_ports, p, l_row_ports, size, l_col_ports, size,
                       port_block, sh.row_ports, false);
  }
  if (rows) {
    std::fill_n(row_block, sh.row_ports * sh.row_ports, 0.0);
    dense::GemmNtMinus(sh.row_ports, sh.row_ports, p, l_row_ports, size, l_row_ports, size,
                       row_block, sh.row_ports, true);
  }
  return 0;
}

// A postorder of the front tree (children in ascending order, roots in ascending order).
std::vector<std::int64_t> Postorder(const std::vector<std::int64_t>& parent) {
  const std::size_t fronts = parent.size();
  std::vector<std::int64_t> head(fronts, -1);
  std::vector<std::int64_t> next(fronts, -1);
  for (std::size_t f = fronts; f-- > 0;) {  // prepending in descending order: lists ascend
    if (parent[f] >= 0) {
      next[f] = head[std::size_t(parent[f])];
      head[std::size_t(parent[f])] = std::int64_t(f);
    }
  }
  std::vector<std::int64_t> order;
  order.reserve(fronts);
  std::vector<std::int64_t> stack;
  for (std::size_t root = 0; root < fronts; ++root) {
    if (parent[root] >= 0) continue;
    stack.push_back(std::int64_t(root));
    while (!stack.empty()) {
      const std::int64_t f = stack.back();
      const std::int64_t c = head[std::size_t(f)];
      if (c >= 0) {
        head[std::size_t(f)] = next[std::size_t(c)];  // visit the next child first
        stack.push_back(c);
      } else {
        order.push_back(f);
        stack.pop_back();
      }
    }
  }
  return order;
}

}  // namespace

std::int64_t SchurPlan::WorkBytes() const {
  return std::int64_t(sizeof(double)) *
             (std::int64_t(a_row.size()) + max_front + max_port_block + max_stack) +
         std::int64_t(sizeof(std::int32_t)) * std::int64_t(perm.size());
}

std::int64_t SchurPlan::Bytes() const {
  const std::size_t entries = perm.size() + pinv.size() + a_ptr.size() + a_row.size() +
                              first.size() + pivots.size() + pattern_ptr.size() + pattern.size() +
                              child_ptr.size() + child.size();
  return static_cast<std::int64_t>(entries * sizeof(std::int64_t) +
                                   slot.size() * sizeof(std::uint32_t));
}

SchurPlan PlanSchur(const SparseLower& a, std::int64_t n, std::int64_t rows, std::int64_t cols,
                    std::vector<std::int64_t> wire_order, double order_seconds) {
  const auto start = std::chrono::steady_clock::now();
  SchurPlan plan;
  plan.n = n;
  plan.rows = rows;
  plan.cols = cols;
  plan.order_seconds = order_seconds;
  const std::int64_t total = n + rows + cols;
  std::vector<std::int64_t> order = std::move(wire_order);
  for (std::int64_t p = n; p < total; ++p) order.push_back(p);

  // Supernodes and their rows from CHOLMOD's symbolic analysis (relaxed amalgamation: fewer,
  // larger fronts for the dense kernels). Postordering merges the elimination tree into large
  // supernodes; it keeps the ports last when they form one clique at the root, which a
  // connected array gives. Otherwise keep the given order.
  std::vector<std::int64_t> first, pivots, pattern_ptr{0}, parent;
  PageVector<std::int64_t> pattern;
  {
    Cholmod cholmod;
    const cholmod_factor* f = &cholmod.Analyze(a, order, false);
    if (!PortsInPlace(*f, n)) f = &cholmod.Analyze(a, order, true);
    const auto* perm = static_cast<const std::int64_t*>(f->Perm);
    plan.perm.assign(perm, perm + total);
    const auto* super = static_cast<const std::int64_t*>(f->super);
    const auto* pi = static_cast<const std::int64_t*>(f->pi);
    const auto* s = static_cast<const std::int64_t*>(f->s);
    PageVector<std::int64_t> front_of(std::size_t(n), -1);
    for (std::size_t sn = 0; sn < f->nsuper; ++sn) {
      const std::int64_t k1 = super[sn];
      if (k1 >= n) continue;  // ports only: never eliminated
      const std::int64_t k2 = std::min(super[sn + 1], n);
      for (std::int64_t k = k1; k < k2; ++k) front_of[std::size_t(k)] = std::int64_t(first.size());
      first.push_back(k1);
      pivots.push_back(k2 - k1);
      // A supernode's rows: its own columns, then the rows below, ascending.
      const std::int64_t own = super[sn + 1] - k1;
      for (std::int64_t r = pi[sn]; r < pi[sn + 1]; ++r) {
        const bool in_order = r - pi[sn] < own ? s[r] == k1 + (r - pi[sn]) : s[r] > s[r - 1];
        if (!in_order) Fail("internal error: supernode {} has unordered rows", sn);
        pattern.push_back(s[r]);
      }
      pattern_ptr.push_back(std::int64_t(pattern.size()));
    }
    // A front's update goes to the front holding its first row below the pivots, if that is a
    // wire row (else it has port rows only and goes to S).
    parent.assign(first.size(), -1);
    for (std::size_t fr = 0; fr < first.size(); ++fr) {
      const std::int64_t below = pattern_ptr[fr] + pivots[fr];
      if (below == pattern_ptr[fr + 1] || pattern[std::size_t(below)] >= n) continue;
      parent[fr] = front_of[std::size_t(pattern[std::size_t(below)])];
      if (parent[fr] <= std::int64_t(fr))
        Fail("internal error: front {} has parent {}", fr, parent[fr]);
    }
  }
  plan.pinv.resize(std::size_t(total));
  for (std::int64_t k = 0; k < total; ++k) plan.pinv[std::size_t(plan.perm[std::size_t(k)])] = k;

  // Renumber the fronts in postorder.
  const std::vector<std::int64_t> order_of_fronts = Postorder(parent);
  const std::size_t fronts = order_of_fronts.size();
  std::vector<std::int64_t> renumbered(fronts);
  for (std::size_t k = 0; k < fronts; ++k)
    renumbered[std::size_t(order_of_fronts[k])] = std::int64_t(k);
  plan.pattern_ptr.push_back(0);
  std::vector<std::int64_t> children(fronts + 1, 0);
  for (std::int64_t old : order_of_fronts) {
    plan.first.push_back(first[std::size_t(old)]);
    plan.pivots.push_back(pivots[std::size_t(old)]);
    plan.pattern.insert(plan.pattern.end(), pattern.begin() + pattern_ptr[std::size_t(old)],
                        pattern.begin() + pattern_ptr[std::size_t(old) + 1]);
    plan.pattern_ptr.push_back(std::int64_t(plan.pattern.size()));
    if (parent[std::size_t(old)] >= 0) {
      ++children[std::size_t(renumbered[std::size_t(parent[std::size_t(old)])]) + 1];
    }
  }
  for (std::size_t f = 0; f < fronts; ++f) children[f + 1] += children[f];
  plan.child_ptr = children;
  plan.child.resize(std::size_t(children.back()));
  for (std::int64_t old : order_of_fronts) {  // ascending new numbers: children lists ascend
    if (parent[std::size_t(old)] < 0) continue;
    const std::size_t p = std::size_t(renumbered[std::size_t(parent[std::size_t(old)])]);
    plan.child[std::size_t(children[p]++)] = renumbered[std::size_t(old)];
  }

  // An update's rows must all be rows of the front it goes to (the elimination tree's defining
  // property); checked once here so that the numeric phase can rely on it.
  PageVector<std::int64_t> mark(std::size_t(total), -1);
  for (std::size_t f = 0; f < fronts; ++f) {
    for (std::int64_t r = plan.pattern_ptr[f]; r < plan.pattern_ptr[f + 1]; ++r) {
      mark[std::size_t(plan.pattern[std::size_t(r)])] = std::int64_t(f);
    }
    for (std::int64_t c = plan.child_ptr[f]; c < plan.child_ptr[f + 1]; ++c) {
      const std::size_t ch = std::size_t(plan.child[std::size_t(c)]);
      for (std::int64_t r = plan.pattern_ptr[ch] + plan.pivots[ch]; r < plan.pattern_ptr[ch + 1];
           ++r) {
        if (mark[std::size_t(plan.pattern[std::size_t(r)])] != std::int64_t(f)) {
          Fail("internal error: a row of front {} is not in its parent {}", ch, f);
        }
      }
    }
  }

  // A's lower triangle in positions, wire columns (the counting sort of AssembleLower, on the
  // pattern only).
  plan.a_ptr.assign(std::size_t(n) + 1, 0);
  for (std::int64_t c = 0; c < a.outerSize(); ++c) {
    for (SparseLower::InnerIterator it(a, c); it; ++it) {
      const std::int64_t k = std::min(plan.pinv[std::size_t(it.row())], plan.pinv[std::size_t(c)]);
      if (k < n) ++plan.a_ptr[std::size_t(k) + 1];
    }
  }
  for (std::int64_t k = 0; k < n; ++k) plan.a_ptr[std::size_t(k) + 1] += plan.a_ptr[std::size_t(k)];
  plan.a_row.resize(std::size_t(plan.a_ptr.back()));
  {
    PageVector<std::int64_t> next(plan.a_ptr.begin(), plan.a_ptr.end() - 1);
    for (std::int64_t c = 0; c < a.outerSize(); ++c) {
      for (SparseLower::InnerIterator it(a, c); it; ++it) {
        const std::int64_t pr = plan.pinv[std::size_t(it.row())];
        const std::int64_t pc = plan.pinv[std::size_t(c)];
        if (std::min(pr, pc) < n)
          plan.a_row[std::size_t(next[std::size_t(std::min(pr, pc))]++)] = std::max(pr, pc);
      }
    }
  }
  if (plan.a_row.size() >= std::size_t(~std::uint32_t(0))) {
    Fail("the nodal matrix of a {} x {} array has {} nonzeros, more than this build indexes",
         rows, cols, plan.a_row.size());
  }
  for (std::int64_t k = 0; k < n; ++k) {
    std::sort(plan.a_row.begin() + plan.a_ptr[std::size_t(k)],
              plan.a_row.begin() + plan.a_ptr[std::size_t(k) + 1]);
  }

  // Cost and work space of one numeric elimination.
  std::int64_t stack = 0;
  std::vector<std::int64_t> pending;
  for (std::size_t f = 0; f < fronts; ++f) {
    const FrontShape sh = ShapeOf(plan, std::int64_t(f));
    const double p = double(sh.pivots);
    const double below = double(sh.size - sh.pivots);
    const double w = double(sh.wire);
    const double q = double(sh.row_ports + sh.col_ports);
    plan.flops += p * p * p / 3.0 + below * p * p + w * (w + 1.0) * p + 2.0 * q * w * p +
                  2.0 * double(sh.row_ports) * double(sh.col_ports) * p;
    plan.factor_nonzeros += sh.pivots * sh.size - sh.pivots * (sh.pivots - 1) / 2;
    plan.max_front = std::max(plan.max_front, sh.size * sh.kept());
    plan.max_port_block = std::max(plan.max_port_block, sh.row_ports * sh.col_ports);
    plan.max_row_block = std::max(plan.max_row_block, sh.row_ports * sh.row_ports);
    plan.row_block_flops += double(sh.row_ports) * double(sh.row_ports + 1) * p;
    for (std::int64_t c = plan.child_ptr[f]; c < plan.child_ptr[f + 1]; ++c) {
      stack -= pending.back();
      pending.pop_back();
    }
    if (sh.wire > 0) {
      pending.push_back(sh.update());
      stack += sh.update();
      plan.max_stack = std::max(plan.max_stack, stack);
    }
  }
  plan.analyze_seconds = SecondsSince(start);
  return plan;
}

Eigen::MatrixXd PortCrossBlock(const SchurPlan& plan, const double* values,
                               const std::function<std::string(std::int64_t)>& node_name,
                               Eigen::MatrixXd* s_rr) {
  const std::int64_t n = plan.n;
  const std::int64_t fronts = plan.fronts();
  Eigen::MatrixXd s_rc = Eigen::MatrixXd::Zero(plan.rows, plan.cols);
  // The row ports' own block, accumulated in its lower triangle (a front's row ports ascend, so
  // its lower triangle lands there) and mirrored at the end.
  std::vector<double> row_block;
  if (s_rr != nullptr) {
    s_rr->setZero(plan.rows, plan.rows);
    row_block.resize(std::size_t(plan.max_row_block));
  }
  // One block for the elimination's work arrays: front, port block, update stack, row map.
  PageBuffer work(std::size_t(plan.WorkBytes() - 8 * std::int64_t(plan.a_row.size())));
  double* front = static_cast<double*>(work.data());
  double* port_block = front + plan.max_front;
  double* stack = port_block + plan.max_port_block;
  auto* where = reinterpret_cast<std::int32_t*>(stack + plan.max_stack);
  std::fill_n(where, plan.perm.size(), -1);
  std::vector<std::int64_t> pending;  // offsets in `stack` of the updates not yet assembled
  std::int64_t top = 0;

  for (std::int64_t f = 0; f < fronts; ++f) {
    const FrontShape sh = ShapeOf(plan, f);
    const std::int64_t* rows = plan.pattern.data() + plan.pattern_ptr[std::size_t(f)];
    const std::int64_t size = sh.size;
    const std::int64_t p = sh.pivots;
    std::fill_n(front, size * sh.kept(), 0.0);
    for (std::int64_t k = 0; k < size; ++k) where[rows[k]] = std::int32_t(k);

    const std::int64_t first = plan.first[std::size_t(f)];
    for (std::int64_t j = 0; j < p; ++j) {
      const std::int64_t col = first + j;
      double* column = front + j * size;
      for (std::int64_t e = plan.a_ptr[std::size_t(col)]; e < plan.a_ptr[std::size_t(col) + 1];
           ++e) {
        column[where[plan.a_row[std::size_t(e)]]] += values[e];
      }
    }
    // Extend-add the children's updates, the top of the stack in the children's order. Their
    // wire columns land in pivot or wire columns: wire positions precede port positions.
    const std::int64_t children =
        plan.child_ptr[std::size_t(f) + 1] - plan.child_ptr[std::size_t(f)];
    for (std::int64_t c = 0; c < children; ++c) {
      const std::int64_t child = plan.child[std::size_t(plan.child_ptr[std::size_t(f)] + c)];
      const std::int64_t* child_rows = plan.pattern.data() + plan.pattern_ptr[std::size_t(child)] +
                                       plan.pivots[std::size_t(child)];
      const FrontShape cs = ShapeOf(plan, child);
      const std::int64_t m = cs.size - cs.pivots;
      const double* u = stack + pending[pending.size() - std::size_t(children - c)];
      for (std::int64_t jj = 0; jj < cs.wire; ++jj) {
        double* column = front + std::int64_t(where[child_rows[jj]]) * size;
        for (std::int64_t ii = jj; ii < m; ++ii) column[where[child_rows[ii]]] += u[ii + jj * m];
      }
    }
    if (children > 0) {
      top = pending[pending.size() - std::size_t(children)];
      pending.resize(pending.size() - std::size_t(children));
    }

    const int info =
        Eliminate(front, sh, port_block, s_rr != nullptr ? row_block.data() : nullptr);
    if (info > 0) {
      const std::int64_t row = plan.perm[std::size_t(first + info - 1)];
      Fail(
          "the nodal matrix is not positive definite at {}: a floating node or a non-physical "
          "value (the elimination broke down at pivot {} of {})",
          node_name(row), first + info - 1, n);
    }
    if (sh.row_ports > 0 && sh.col_ports > 0) {
      const std::int64_t* row_ports = rows + p + sh.wire;
      const std::int64_t* col_ports = row_ports + sh.row_ports;
      for (std::int64_t c = 0; c < sh.col_ports; ++c) {
        double* target = s_rc.data() + (col_ports[c] - n - plan.rows) * plan.rows;
        const double* source = port_block + c * sh.row_ports;
        for (std::int64_t r = 0; r < sh.row_ports; ++r) target[row_ports[r] - n] += source[r];
      }
    }
    if (s_rr != nullptr && sh.row_ports > 0) {
      const std::int64_t* row_ports = rows + p + sh.wire;
      for (std::int64_t c = 0; c < sh.row_ports; ++c) {
        double* target = s_rr->data() + (row_ports[c] - n) * plan.rows;
        const double* source = row_block.data() + c * sh.row_ports;
        for (std::int64_t r = c; r < sh.row_ports; ++r) target[row_ports[r] - n] += source[r];
      }
    }
    if (sh.wire > 0) {
      const std::int64_t below = size - p;
      for (std::int64_t j = 0; j < sh.wire; ++j) {
        std::copy_n(front + p + (p + j) * size, below, stack + top + j * below);
      }
      pending.push_back(top);
      top += sh.update();
    }
    for (std::int64_t k = 0; k < size; ++k) where[rows[k]] = -1;
  }
  if (s_rr != nullptr) {
    for (std::int64_t c = 0; c < plan.rows; ++c) {
      for (std::int64_t r = c + 1; r < plan.rows; ++r) (*s_rr)(c, r) = (*s_rr)(r, c);
    }
  }
  return s_rc;
}

}  // namespace aimc::circuit::internal
