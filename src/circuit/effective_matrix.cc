#include "aimc/circuit/effective_matrix.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "aimc/circuit/dc_solver.h"
#include "aimc/common/error.h"
#include "assembly.h"
#include "cholmod_util.h"
#include "nodal.h"
#include "page_buffer.h"
#include "port_schur.h"

namespace aimc::circuit {

// The physical (end) form on both sides: least fill, and ~1e-13 relative accuracy measured
// against the IR-drop form (effective_matrix tests), far inside the 1e-9 bar.
constexpr bool kSpreadRows = false;
constexpr bool kSpreadCols = false;

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// "1.6 MB", "320 GB": a size for messages.
std::string ByteCount(double bytes) {
  if (bytes < 1e3) return fmt::format("{:.0f} bytes", bytes);
  const char* units[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  int u = 0;
  bytes /= 1e3;
  while (bytes >= 1e3 && u < 5) {
    bytes /= 1e3;
    ++u;
  }
  return fmt::format("{:.3g} {}", bytes, units[u]);
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

// Calls emit(a, b, value) for the entries of the bordered matrix [[K, Q], [Q^T, 0]], ports after
// the n wire unknowns, rows first; Q_r = P_rows (kSpread) or -B_rows (kEnd), likewise for
// columns. The ports are never pivots, so their diagonal block may be anything; the off-diagonal
// block of their Schur complement, S_rc = -Q_r^T K^-1 Q_c, is what M_eff needs.
template <typename Emit>
void ForEachBorderedEntry(const internal::NodalSystem& s, Ports form, Emit&& emit) {
  s.ForEachEntry(emit);
  const std::int64_t n = s.unknowns;
  if (form.rows == PortForm::kSpread || form.cols == PortForm::kSpread) {
    for (int i = 0; i < s.rows; ++i) {
      for (int j = 0; j < s.cols; ++j) {
        const double g = s.g(i, j);
        const std::int64_t row_port = n + i;
        const std::int64_t col_port = n + s.rows + j;
        const auto a = s.RowNode(i, j);
        const auto c = s.ColNode(i, j);
        if (form.rows == PortForm::kSpread) {
          if (a >= 0) emit(row_port, a, -g);
          if (c >= 0) emit(row_port, c, g);
        }
        if (form.cols == PortForm::kSpread) {
          if (a >= 0) emit(col_port, a, -g);
          if (c >= 0) emit(col_port, c, g);
        }
      }
    }
  }
  if (form.rows == PortForm::kEnd) {
    for (const internal::EndLink& l : s.row_ends) emit(n + l.line, l.node, -l.g);
  }
  if (form.cols == PortForm::kEnd) {
    for (const internal::EndLink& l : s.col_ends) emit(n + s.rows + l.line, l.node, -l.g);
  }
}

// Everything a plan depends on: the array's shape, how its lines are made into nodes (which
// parasitics are zero), how many ends of each line are driven or sensed, and the port forms.
// Resistance and conductance values change only the matrix's values.
struct PatternKey {
  int rows = 0;
  int cols = 0;
  internal::LineNodes row_lines = internal::LineNodes::kFixed;
  internal::LineNodes col_lines = internal::LineNodes::kFixed;
  std::size_t row_ends = 0;
  std::size_t col_ends = 0;
  PortForm row_ports = PortForm::kEnd;
  PortForm col_ports = PortForm::kEnd;
  bool operator==(const PatternKey&) const = default;
};

PatternKey KeyOf(const internal::NodalSystem& s, Ports form) {
  return {s.rows,    s.cols,   s.row_lines, s.col_lines, s.row_ends.size(), s.col_ends.size(),
          form.rows, form.cols};
}

// Plans of the most recently used patterns. A plan is immutable once made and handed out as a
// shared_ptr<const>, so any number of builds may eliminate with it at once, and one evicted
// while in use lives until its last build ends; `mutex_` guards only the list. Planning is
// serialized by `planning_`: concurrent first arrays of one pattern plan it once, and the
// ordering libraries (METIS through CHOLMOD) are never entered by two threads at once.
class PlanCache {
 public:
  using Plan = std::shared_ptr<const internal::SchurPlan>;

  // The plan of `key`, made by `make` unless cached; `reused` says which.
  Plan Get(const PatternKey& key, const std::function<internal::SchurPlan()>& make, bool* reused) {
    if (Plan plan = Find(key)) {
      *reused = true;
      return plan;
    }
    const std::lock_guard<std::mutex> planning(planning_);
    if (Plan plan = Find(key)) {
      *reused = true;
      return plan;
    }
    Plan plan = std::make_shared<const internal::SchurPlan>(make());
    *reused = false;
    const std::lock_guard<std::mutex> lock(mutex_);
    plans_.emplace_front(key, plan);
    // Bounded by count and memory (a 1024 x 1024 plan holds ~180 MB); the newest always stays.
    std::int64_t bytes = 0;
    for (auto it = plans_.begin(); it != plans_.end();) {
      bytes += it->second->Bytes();
      const bool over = it != plans_.begin() &&
                        (std::distance(plans_.begin(), it) >= kMaxPlans || bytes > kMaxBytes);
      it = over ? plans_.erase(it) : std::next(it);
    }
    return plan;
  }

  void Clear() {
    const std::lock_guard<std::mutex> lock(mutex_);
    plans_.clear();
  }

 private:
  static constexpr std::ptrdiff_t kMaxPlans = 16;
  static constexpr std::int64_t kMaxBytes = std::int64_t(512) << 20;

  Plan Find(const PatternKey& key) {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->first == key) {
        plans_.splice(plans_.begin(), plans_, it);  // most recently used first
        return plans_.front().second;
      }
    }
    return nullptr;
  }

  std::mutex mutex_;
  std::mutex planning_;
  std::list<std::pair<PatternKey, Plan>> plans_;
};

PlanCache& Plans() {
  static PlanCache cache;
  return cache;
}

}  // namespace

namespace internal {

namespace {

PortMatrices PortMatricesOf(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                            bool row_admittance, EffectiveMatrixInfo& out);

}  // namespace

PortMatrices PortMatricesWith(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                              bool row_admittance, EffectiveMatrixInfo* info) {
  EffectiveMatrixInfo local;
  EffectiveMatrixInfo& out = info != nullptr ? *info : local;
  out = EffectiveMatrixInfo{};
  try {
    return PortMatricesOf(xbar, spread_rows, spread_cols, row_admittance, out);
  } catch (const std::bad_alloc&) {
    // What was asked for: the dense results and, once planned, the elimination's work.
    const double r = double(xbar.rows()), c = double(xbar.cols());
    std::string asked = fmt::format("M_eff ({} x {} doubles, {})", xbar.rows(), xbar.cols(),
                                    ByteCount(8 * r * c));
    if (row_admittance) {
      asked += fmt::format(", Y ({} x {} doubles, {})", xbar.rows(), xbar.rows(),
                           ByteCount(8 * r * r));
    }
    if (out.work_bytes > 0) {
      asked += fmt::format(" and the elimination's work ({} over {} unknowns)",
                           ByteCount(double(out.work_bytes)), out.unknowns);
    }
    Fail("{} of {}: out of memory: it needs {}", row_admittance ? "the port matrices" :
         "the effective matrix", xbar.Describe(), asked);
  }
}

namespace {

PortMatrices PortMatricesOf(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                            bool row_admittance, EffectiveMatrixInfo& out) {
  const auto start = std::chrono::steady_clock::now();
  const internal::NodalSystem sys(xbar, false);
  PortMatrices result;
  if (sys.unknowns == 0) {  // ideal wires, drivers and sense amplifiers: no IR drop
    result.m_eff = sys.g;
    if (row_admittance) result.row_admittance = sys.g.rowwise().sum().asDiagonal();
    out.total_seconds = SecondsSince(start);
    return result;
  }
  const std::int64_t n = sys.unknowns;
  const std::int64_t ports = sys.rows + sys.cols;
  Ports form{spread_rows ? PortForm::kSpread : PortForm::kEnd,
             spread_cols ? PortForm::kSpread : PortForm::kEnd};
  // Lines fixed by ideal wires and sources have no end node: only the spread form reaches them.
  if (sys.row_ends.empty()) form.rows = PortForm::kSpread;
  if (sys.col_ends.empty()) form.cols = PortForm::kSpread;
  const auto entries = [&sys, form](auto&& emit) { ForEachBorderedEntry(sys, form, emit); };
  out.assemble_seconds = SecondsSince(start);

  const PlanCache::Plan plan = Plans().Get(
      KeyOf(sys, form),
      [&sys, &entries, n, ports] {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::int64_t> order = sys.GeometricOrdering();
        if (order.empty()) {
          const internal::SparseLower k = internal::ToSparse(
              internal::AssembleLower(n, nullptr, [&sys](auto&& emit) { sys.ForEachEntry(emit); }),
              n, n);
          order = internal::Cholmod().Ordering(k);
        }
        const double order_seconds = SecondsSince(t0);
        const auto t1 = std::chrono::steady_clock::now();
        const internal::SparseLower bordered = internal::ToSparse(
            internal::AssembleLower(n + ports, nullptr, entries), n + ports, n + ports);
        const double pattern_seconds = SecondsSince(t1);
        internal::SchurPlan plan =
            internal::PlanSchur(bordered, n, sys.rows, sys.cols, std::move(order), order_seconds);
        const auto t2 = std::chrono::steady_clock::now();
        plan.slot = internal::SlotsOf(plan.a_ptr, plan.a_row, n, plan.pinv.data(), entries);
        plan.analyze_seconds += pattern_seconds + SecondsSince(t2);
        return plan;
      },
      &out.reused_plan);
  if (!out.reused_plan) {
    out.order_seconds = plan->order_seconds;
    out.analyze_seconds = plan->analyze_seconds;
  }
  out.unknowns = n + ports;
  out.factor_nonzeros = plan->factor_nonzeros;
  out.factor_flops = plan->flops + (row_admittance ? plan->row_block_flops : 0.0);
  out.work_bytes = plan->WorkBytes() +
                   (row_admittance ? std::int64_t(sizeof(double)) * plan->max_row_block : 0);
  out.plan_bytes = plan->Bytes();

  auto t0 = std::chrono::steady_clock::now();
  internal::PageBuffer values(plan->a_row.size() * sizeof(double));
  auto* a_values = static_cast<double*>(values.data());
  // The values in the plan's layout, summed in the order the entries come.
  std::size_t e = 0;
  entries([&](std::int64_t, std::int64_t, double v) {
    const std::uint32_t slot = plan->slot[e++];
    if (slot != internal::kNoSlot) a_values[slot] += v;
  });
  out.assemble_seconds += SecondsSince(t0);

  t0 = std::chrono::steady_clock::now();
  const auto name = [&sys, n](std::int64_t row) {
    if (row >= n + sys.rows) return fmt::format("the port of column {}", row - n - sys.rows);
    if (row >= n) return fmt::format("the port of row {}", row - n);
    return sys.NodeName(row);
  };
  Eigen::MatrixXd s_rr;
  Eigen::MatrixXd m =
      internal::PortCrossBlock(*plan, a_values, name, row_admittance ? &s_rr : nullptr);
  out.factorize_seconds = SecondsSince(t0);

  // S_rc = -Q_r^T K^-1 Q_c, and with P = B - K E (the identity K^-1 P = K^-1 B - E that links
  // the two forms): spread/spread: M = G + S_rc; spread rows, end columns: M = S_rc; end rows:
  // M = -S_rc.
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
  if (row_admittance) {
    // Y from S_rr = -Q_r^T K^-1 Q_r. Spread rows: a row's source current is what its cells
    // carry, I_i = sum_j g_ij (V_i + x_row - x_col) = (sum_j g_ij) V_i - P_i^T x with
    // K x = P_rows V, so Y = diag(row sums of G) + S_rr, every term of the IR drop's size. End
    // rows: it is what its end links carry, I_i = sum g_end (V_i - u_end) with K u = B_rows V,
    // so Y = diag(end-link conductances) + S_rr; but there the diagonal is a difference of two
    // terms of the wires' size (measured: 2e-9 of Y lost at 0.01 ohm segments), while the
    // off-diagonal entries carry no such term. So the diagonal comes from Kirchhoff's current
    // law instead: a unit input on row i leaves through the columns and the other rows,
    // Y_ii = sum_j M_ij + sum_k!=i (-Y_ik), a sum of positive terms (3e-14 at 0.01 ohm).
    if (form.rows == PortForm::kSpread) {
      s_rr.diagonal() += sys.g.rowwise().sum();
    } else {
      for (Eigen::Index i = 0; i < s_rr.rows(); ++i) {
        double sum = m.row(i).sum();
        for (Eigen::Index k = 0; k < s_rr.cols(); ++k) {
          if (k != i) sum -= s_rr(k, i);
        }
        s_rr(i, i) = sum;
      }
    }
    result.row_admittance = std::move(s_rr);
    Require(result.row_admittance.allFinite(),
            "the row admittance of {} is not finite: its conductances and parasitics span more "
            "than double precision resolves",
            xbar.Describe());
  }
  result.m_eff = std::move(m);
  out.total_seconds = SecondsSince(start);
  return result;
}

}  // namespace

Eigen::MatrixXd EffectiveMatrixWith(const Crossbar& xbar, bool spread_rows, bool spread_cols,
                                    EffectiveMatrixInfo* info) {
  return PortMatricesWith(xbar, spread_rows, spread_cols, false, info).m_eff;
}

}  // namespace internal

Eigen::MatrixXd EffectiveMatrix(const Crossbar& xbar, EffectiveMatrixInfo* info) {
  return internal::EffectiveMatrixWith(xbar, kSpreadRows, kSpreadCols, info);
}

PortMatrices EffectivePortMatrices(const Crossbar& xbar, EffectiveMatrixInfo* info) {
  return internal::PortMatricesWith(xbar, kSpreadRows, kSpreadCols, true, info);
}

void ClearEffectiveMatrixPlans() { Plans().Clear(); }

namespace {

// R solves of unit inputs: an R x R identity and R x C (or R x R) currents.
template <typename Solve>
Eigen::MatrixXd BySolves(const Crossbar& xbar, const char* what, Eigen::Index out_cols,
                         Solve&& solve) {
  try {
    const DcSolver solver(xbar);
    return solve(solver, Eigen::MatrixXd::Identity(xbar.rows(), xbar.rows()));
  } catch (const std::bad_alloc&) {
    const double r = double(xbar.rows());
    Fail("{} of {} by solves: out of memory: it needs the unit inputs ({} x {} doubles, {}), "
         "the result ({} x {} doubles, {}) and the factorization",
         what, xbar.Describe(), xbar.rows(), xbar.rows(), ByteCount(8 * r * r), xbar.rows(),
         out_cols, ByteCount(8 * r * double(out_cols)));
  }
}

}  // namespace

Eigen::MatrixXd EffectiveMatrixBySolves(const Crossbar& xbar) {
  return BySolves(xbar, "the effective matrix", xbar.cols(),
                  [](const DcSolver& solver, const Eigen::MatrixXd& unit) {
                    return Eigen::MatrixXd(solver.BatchColumnCurrents(unit).transpose());
                  });
}

Eigen::MatrixXd RowAdmittanceBySolves(const Crossbar& xbar) {
  return BySolves(xbar, "the row admittance", xbar.rows(),
                  [](const DcSolver& solver, const Eigen::MatrixXd& unit) {
                    return solver.BatchRowCurrents(unit);
                  });
}

}  // namespace aimc::circuit
