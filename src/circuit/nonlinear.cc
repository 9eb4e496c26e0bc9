#include "aimc/circuit/nonlinear.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

#include "aimc/common/error.h"
#include "assembly.h"
#include "cholmod_util.h"
#include "nodal.h"

namespace aimc::circuit {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// A device of I = f(V_d) in series with a resistor R_a, as one two-terminal element: for the
// voltage v across both, V_d solves V_d + R_a f(V_d) = v, and dI/dv = f'/(1 + R_a f'). f is odd
// and increasing with f(V) >= G0 V for V >= 0 (s >= 1), so for v > 0 the root lies in
// [0, v / (1 + R_a G0)]: Newton from the upper end, kept inside the bracket by bisection.
NonlinearCrossbar::CellState Composite(const device::IvShape& shape, double g0, double r_a,
                                       double v) {
  if (shape.linear()) {
    // As Crossbar::CellConductances computes it, so a linear array is the linear circuit exactly.
    const double g = r_a > 0.0 ? 1.0 / (1.0 / g0 + r_a) : g0;
    return {g * v, g};
  }
  if (r_a == 0.0) return {shape.Current(g0, v), shape.Slope(g0, v)};
  const double target = std::abs(v);
  double lo = 0.0;
  double hi = target / (1.0 + r_a * g0);
  double vd = hi;
  for (int k = 0; k < 200 && hi - lo > 2.0 * kEps * hi; ++k) {
    const double h = vd + r_a * shape.Current(g0, vd) - target;
    if (h == 0.0) break;
    (h > 0.0 ? hi : lo) = vd;
    double next = vd - h / (1.0 + r_a * shape.Slope(g0, vd));
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::abs(next - vd) <= kEps * vd) {
      vd = next;
      break;
    }
    vd = next;
  }
  const double slope = shape.Slope(g0, vd);
  const double current = shape.Current(g0, vd);
  return {v < 0.0 ? -current : current, slope / (1.0 + r_a * slope)};
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

NonlinearCrossbar::NonlinearCrossbar(Crossbar xbar, std::vector<device::IvShape> shapes,
                                     ShapeIndex index)
    : xbar_(std::move(xbar)), shapes_(std::move(shapes)), index_(std::move(index)) {
  Require(!shapes_.empty() && shapes_.size() <= 256,
          "a non-linear {} needs 1 to 256 device shapes, got {}", xbar_.Describe(),
          shapes_.size());
  Require(index_.rows() == xbar_.rows() && index_.cols() == xbar_.cols(),
          "the shape index of {} is {} x {}; it must match the array", xbar_.Describe(),
          index_.rows(), index_.cols());
  for (std::size_t k = 0; k < shapes_.size(); ++k) {
    shapes_[k].Validate(fmt::format("shape {} of {}", k, xbar_.Describe()));
  }
  for (int j = 0; j < xbar_.cols(); ++j) {
    for (int i = 0; i < xbar_.rows(); ++i) {
      Require(index_(i, j) < shapes_.size(),
              "cell (row {}, column {}) of {} names shape {}, but there are {} shapes", i, j,
              xbar_.Describe(), int(index_(i, j)), shapes_.size());
    }
  }
}

NonlinearCrossbar::NonlinearCrossbar(Crossbar xbar, const device::IvShape& shape)
    : NonlinearCrossbar(xbar, {shape}, ShapeIndex::Zero(xbar.rows(), xbar.cols())) {}

bool NonlinearCrossbar::linear() const {
  return std::all_of(shapes_.begin(), shapes_.end(),
                     [](const device::IvShape& s) { return s.linear(); });
}

NonlinearCrossbar::CellState NonlinearCrossbar::Cell(int i, int j, double v_cell) const {
  return Composite(Shape(i, j), xbar_.conductance_s()(i, j), xbar_.options().access_ohm, v_cell);
}

NonlinearCrossbar WithTmrBias(Crossbar xbar, double tmr0, double v_half_v, double threshold_s) {
  const Eigen::MatrixXd& g = xbar.conductance_s();
  if (threshold_s == 0.0) threshold_s = std::sqrt(g.maxCoeff() * g.minCoeff());
  Require(std::isfinite(threshold_s) && threshold_s > 0.0,
          "the P/AP threshold must be a positive conductance, got {} S", threshold_s);
  const ShapeIndex index = (g.array() < threshold_s).cast<std::uint8_t>().matrix();
  return NonlinearCrossbar(std::move(xbar),
                           {device::IvShape::Linear(), device::IvShape::TmrBias(tmr0, v_half_v)},
                           index);
}

void NonlinearCrossbar::RequireHoldsFor(const Eigen::MatrixXd& inputs, const char* call) const {
  if (inputs.size() == 0 || linear()) return;
  const double v_max = inputs.cwiseAbs().maxCoeff();
  for (std::size_t k = 0; k < shapes_.size(); ++k) {
    shapes_[k].RequireHoldsAt(v_max, fmt::format("{}: shape {} of {}", call, k, xbar_.Describe()));
  }
}

Eigen::MatrixXd IdealCurrents(const NonlinearCrossbar& array, const Eigen::MatrixXd& v_rows) {
  const int rows = array.crossbar().rows();
  const int cols = array.crossbar().cols();
  Require(v_rows.rows() == rows, "input has {} voltages for {} rows", v_rows.rows(), rows);
  Require(v_rows.allFinite(), "the ideal currents of {}: input voltages must be finite",
          array.crossbar().Describe());
  array.RequireHoldsFor(v_rows, "the ideal currents");
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(cols, v_rows.cols());
  for (Eigen::Index n = 0; n < v_rows.cols(); ++n)
    for (int j = 0; j < cols; ++j)
      for (int i = 0; i < rows; ++i) out(j, n) += array.Cell(i, j, v_rows(i, n)).current_a;
  return out;
}

void NonlinearOptions::Validate() const {
  Require(tolerance_rel >= 1e-15 && tolerance_rel <= 0.1,
          "nonlinear.tolerance_rel must be within [1e-15, 0.1], got {}", tolerance_rel);
  Require(max_iterations >= 1 && max_iterations <= 10000,
          "nonlinear.max_iterations must be within [1, 10000], got {}", max_iterations);
  Require(max_step_halvings >= 0 && max_step_halvings <= 60,
          "nonlinear.max_step_halvings must be within [0, 60], got {}", max_step_halvings);
}

struct NonlinearSolver::Impl {
  Impl(const NonlinearCrossbar& a, NonlinearOptions o)
      : array(a), options(o), sys(a.crossbar(), false), name(a.crossbar().Describe()) {}

  // The state of the cells at one set of node deviations: the KCL residual at every unknown,
  // each cell's current and slope, and the rounding floor of each node's residual.
  struct Eval {
    Eigen::VectorXd residual;
    Eigen::VectorXd floor;    // kFloorUlps eps x the sum of |terms| of each node's residual
    Eigen::MatrixXd current;  // R x C
    Eigen::MatrixXd slope;    // R x C
    double scale = 0.0;       // largest |cell current|
    double Relative() const { return MaxOver(residual); }
    double FloorRelative() const { return MaxOver(floor); }
    // Converged: every node's mismatch below the tolerance or its own rounding floor.
    bool Converged(double tolerance_rel) const {
      const double allowed = tolerance_rel * scale;
      for (Eigen::Index n = 0; n < residual.size(); ++n) {
        if (!(std::abs(residual(n)) <= std::max(allowed, floor(n)))) return false;
      }
      return true;
    }
    double MaxOver(const Eigen::VectorXd& r) const {
      const double worst = r.size() > 0 ? r.cwiseAbs().maxCoeff() : 0.0;
      if (!std::isfinite(worst)) return std::numeric_limits<double>::infinity();
      if (scale > 0.0) return worst / scale;
      return worst > 0.0 ? std::numeric_limits<double>::infinity() : 0.0;
    }
  };

  // A node's deviation is known to one ulp at best, so a link of conductance g moves the node's
  // residual by g eps |x| for a change of the last bit: where wires conduct a million times
  // better than devices, that floor lies well above 1e-12 of a device current. Measured where
  // backtracking stalls (64 x 64 and 256 x 256 MTJ arrays, R_P 6 MOhm, 22 nm wires, both laws):
  // at 0.24 to 0.39 eps of the largest node's sum of |terms|; 8 eps leaves a margin of 20.
  static constexpr double kFloorUlps = 8.0;

  double CellVoltage(const Eigen::VectorXd& v, const Eigen::VectorXd& x, int i, int j) const {
    const auto a = sys.RowNode(i, j);
    const auto c = sys.ColNode(i, j);
    return v(i) + (a >= 0 ? x(a) : 0.0) - (c >= 0 ? x(c) : 0.0);
  }

  // r = K_wires x + sum over cells of I_cell (e_row - e_col): the current leaving each node. The
  // wires' currents are taken link by link, g (x_a - x_b), not as rows of K_w x, whose diagonal
  // terms (sum g) x_a would cancel against the neighbours' and leave rounding of their size.
  void Evaluate(const Eigen::VectorXd& v, const Eigen::VectorXd& x, Eval& e) const {
    e.residual.setZero(sys.unknowns);
    e.floor.setZero(sys.unknowns);
    const std::int64_t* outer = k_wire.outerIndexPtr();
    const std::int64_t* inner = k_wire.innerIndexPtr();
    const double* value = k_wire.valuePtr();
    for (std::int64_t c = 0; c < sys.unknowns; ++c) {
      for (std::int64_t k = outer[c]; k < outer[c + 1]; ++k) {
        const std::int64_t r = inner[k];
        if (r == c || value[k] == 0.0) continue;  // the diagonal; a cell's (added per step)
        const double g = -value[k];
        const double current = g * (x(r) - x(c));
        const double size = g * (std::abs(x(r)) + std::abs(x(c)));
        e.residual(r) += current;
        e.residual(c) -= current;
        e.floor(r) += size;
        e.floor(c) += size;
      }
    }
    for (const auto* ends : {&sys.row_ends, &sys.col_ends}) {
      for (const internal::EndLink& end : *ends) {
        e.residual(end.node) += end.g * x(end.node);
        e.floor(end.node) += end.g * std::abs(x(end.node));
      }
    }
    e.current.resize(sys.rows, sys.cols);
    e.slope.resize(sys.rows, sys.cols);
    double scale = 0.0;
    for (int j = 0; j < sys.cols; ++j) {
      for (int i = 0; i < sys.rows; ++i) {
        const auto a = sys.RowNode(i, j);
        const auto c = sys.ColNode(i, j);
        const double xa = a >= 0 ? x(a) : 0.0;
        const double xc = c >= 0 ? x(c) : 0.0;
        const NonlinearCrossbar::CellState s = array.Cell(i, j, v(i) + xa - xc);
        e.current(i, j) = s.current_a;
        e.slope(i, j) = s.slope_s;
        scale = std::max(scale, std::abs(s.current_a));
        const double size =
            std::abs(s.current_a) + s.slope_s * (std::abs(v(i)) + std::abs(xa) + std::abs(xc));
        if (a >= 0) {
          e.residual(a) += s.current_a;
          e.floor(a) += size;
        }
        if (c >= 0) {
          e.residual(c) -= s.current_a;
          e.floor(c) += size;
        }
      }
    }
    e.floor *= kFloorUlps * kEps;
    e.scale = scale;
  }

  // The Jacobian K_wires + sum of slope (e_row - e_col)(e_row - e_col)^T, factorized.
  void Factorize(const Eigen::MatrixXd& slope) {
    std::copy(k_wire.valuePtr(), k_wire.valuePtr() + k_wire.nonZeros(), jacobian.valuePtr());
    double* value = jacobian.valuePtr();
    std::size_t k = 0;
    for (int i = 0; i < sys.rows; ++i) {
      for (int j = 0; j < sys.cols; ++j, ++k) {
        const double g = slope(i, j);
        const CellSlots& s = slots[k];
        if (s.row >= 0) value[s.row] += g;
        if (s.col >= 0) value[s.col] += g;
        if (s.cross >= 0) value[s.cross] -= g;
      }
    }
    double seconds = 0.0;
    cholmod.Refactorize(jacobian, [this](std::int64_t row) { return sys.NodeName(row); },
                        &seconds);
    summary.factorize_seconds += seconds;
  }

  void FactorizeLinear() {
    if (factor_is_linear) return;
    Factorize(sys.g);
    factor_is_linear = true;
  }

  // Newton from the deviations x (in place) for inputs v.
  NonlinearSummary Newton(const Eigen::VectorXd& v, Eigen::VectorXd& x, Eval& e,
                          const std::string& which) {
    const auto start = std::chrono::steady_clock::now();
    NonlinearSummary out;
    Evaluate(v, x, e);
    Eval trial;
    const char* reason = "max_iterations reached";
    while (!e.Converged(options.tolerance_rel)) {
      if (out.iterations == options.max_iterations) break;
      if (!std::isfinite(e.Relative())) {
        reason = "the residual is not finite";
        break;
      }
      factor_is_linear = false;
      Factorize(e.slope);
      const Eigen::VectorXd dx = -cholmod.Solve(e.residual);
      ++out.iterations;
      // Backtracking on |r|_2 (Armijo with a slope of 1e-4): a full step from far away can
      // overshoot an exponential I-V by orders of magnitude.
      const double norm = e.residual.norm();
      double alpha = 1.0;
      bool accepted = false;
      for (int cut = 0; cut <= options.max_step_halvings; ++cut) {
        Evaluate(v, x + alpha * dx, trial);
        const double trial_norm = trial.residual.norm();
        if (std::isfinite(trial_norm) && (trial_norm <= (1.0 - 1e-4 * alpha) * norm ||
                                          trial.Converged(options.tolerance_rel))) {
          accepted = true;
          break;
        }
        alpha *= 0.5;
        ++out.step_halvings;
      }
      if (!accepted) {
        reason = "no step along the Newton direction reduces the residual";
        break;
      }
      x += alpha * dx;
      std::swap(e, trial);
    }
    out.residual_rel = e.Relative();
    out.floor_rel = e.FloorRelative();
    out.converged = e.Converged(options.tolerance_rel);
    out.seconds = SecondsSince(start);
    if (!out.converged && options.require_convergence) {
      Fail("the Newton solve of {}{} did not converge: residual {:.3g} of the largest device "
           "current after {} iteration(s) ({} step halvings), tolerance {:.3g}, rounding floor "
           "{:.3g} ({})",
           name, which, out.residual_rel, out.iterations, out.step_halvings,
           options.tolerance_rel, out.floor_rel, reason);
    }
    return out;
  }

  // The linear solutions at G0 (the Newton starts) of the inputs v (R x N).
  Eigen::MatrixXd LinearStarts(const Eigen::MatrixXd& v) {
    if (sys.unknowns == 0) return Eigen::MatrixXd(0, v.cols());
    FactorizeLinear();
    return cholmod.Solve(sys.Rhs(v));
  }

  void RequireInputs(const Eigen::MatrixXd& v) const {
    Require(v.rows() == sys.rows, "input has {} voltages for {} rows", v.rows(), sys.rows);
    Require(v.allFinite(), "input voltages must be finite");
    array.RequireHoldsFor(v, "the Newton solve");
  }

  struct CellSlots {
    std::int64_t row = -1;    // (a, a)
    std::int64_t col = -1;    // (c, c)
    std::int64_t cross = -1;  // (max, min)
  };

  NonlinearCrossbar array;
  NonlinearOptions options;
  internal::NodalSystem sys;  // g: the cells' linear (G0) conductances
  std::string name;
  internal::SparseLower k_wire;    // K's pattern, wires and end links only
  internal::SparseLower jacobian;  // the same pattern
  std::vector<CellSlots> slots;    // row-major, where each cell's entries sit in jacobian
  internal::Cholmod cholmod;
  FactorSummary summary;
  bool factor_is_linear = false;
};

NonlinearSolver::NonlinearSolver(const NonlinearCrossbar& array, NonlinearOptions options) {
  options.Validate();
  impl_ = std::make_unique<Impl>(array, options);
  Impl& m = *impl_;
  internal::NodalSystem& s = m.sys;
  m.summary.backend = ToString(Backend::kCholmod);
  m.summary.unknowns = s.unknowns;
  if (s.unknowns == 0) return;  // every node fixed: each cell sees its row's voltage
  // K's pattern with the cells' values 0: the wires' part, to which each step adds the slopes.
  const Eigen::MatrixXd g0 = s.g;
  s.g.setZero();
  const internal::LowerColumns k =
      internal::AssembleLower(s.unknowns, nullptr, [&s](auto&& emit) { s.ForEachEntry(emit); });
  s.g = g0;
  m.k_wire = internal::ToSparse(k, s.unknowns, s.unknowns);
  m.jacobian = m.k_wire;
  m.summary.matrix_nonzeros = m.k_wire.nonZeros();
  const auto slot = [&m](std::int64_t a, std::int64_t b) -> std::int64_t {
    if (a < 0 || b < 0) return -1;
    const std::int64_t col = std::min(a, b);
    const std::int64_t* first = m.k_wire.innerIndexPtr() + m.k_wire.outerIndexPtr()[col];
    const std::int64_t* last = m.k_wire.innerIndexPtr() + m.k_wire.outerIndexPtr()[col + 1];
    const std::int64_t* at = std::lower_bound(first, last, std::max(a, b));
    return at - m.k_wire.innerIndexPtr();
  };
  m.slots.resize(std::size_t(s.rows) * s.cols);
  for (int i = 0; i < s.rows; ++i) {
    for (int j = 0; j < s.cols; ++j) {
      const auto a = s.RowNode(i, j);
      const auto c = s.ColNode(i, j);
      m.slots[std::size_t(i) * s.cols + j] = {slot(a, a), slot(c, c), slot(a, c)};
    }
  }
  const std::vector<std::int64_t> order = s.GeometricOrdering();
  m.cholmod.AnalyzeFor(m.k_wire, order.empty() ? nullptr : &order, false, false,
                       &m.summary.analyze_seconds);
}

NonlinearSolver::~NonlinearSolver() = default;
NonlinearSolver::NonlinearSolver(NonlinearSolver&&) noexcept = default;
NonlinearSolver& NonlinearSolver::operator=(NonlinearSolver&&) noexcept = default;

NonlinearSolution NonlinearSolver::Solve(const Eigen::VectorXd& v_rows) {
  Impl& m = *impl_;
  m.RequireInputs(v_rows);
  Eigen::VectorXd x = m.LinearStarts(v_rows).col(0);
  Impl::Eval e;
  NonlinearSolution out;
  out.summary = m.Newton(v_rows, x, e, "");
  const internal::NodalSystem& s = m.sys;
  NodeVoltages& nv = out.voltages;
  nv.row_v.resize(s.rows, s.cols);
  nv.col_v.resize(s.rows, s.cols);
  for (int i = 0; i < s.rows; ++i) {
    for (int j = 0; j < s.cols; ++j) {
      const auto a = s.RowNode(i, j);
      const auto c = s.ColNode(i, j);
      nv.row_v(i, j) = v_rows(i) + (a >= 0 ? x(a) : 0.0);
      nv.col_v(i, j) = c >= 0 ? x(c) : 0.0;
    }
  }
  nv.column_current_a = e.current.colwise().sum().transpose();
  const Eigen::MatrixXd row_cells = e.current.rowwise().sum();
  nv.row_current_a = s.SourceCurrents(x, row_cells).col(0);
  return out;
}

NonlinearBatch NonlinearSolver::BatchColumnCurrents(const Eigen::MatrixXd& v_rows) {
  Impl& m = *impl_;
  m.RequireInputs(v_rows);
  NonlinearBatch out;
  out.column_current_a.resize(m.sys.cols, v_rows.cols());
  out.summaries.reserve(std::size_t(v_rows.cols()));
  // Starts for a chunk of inputs at a time: one linear factorization serves the chunk, and the
  // starts (unknowns x chunk doubles) stay small at 1024 x 1024.
  constexpr Eigen::Index kChunk = 16;
  Impl::Eval e;
  for (Eigen::Index first = 0; first < v_rows.cols(); first += kChunk) {
    const Eigen::Index n = std::min(kChunk, v_rows.cols() - first);
    const Eigen::MatrixXd starts = m.LinearStarts(v_rows.middleCols(first, n));
    for (Eigen::Index k = 0; k < n; ++k) {
      const Eigen::VectorXd v = v_rows.col(first + k);
      Eigen::VectorXd x = starts.col(k);
      out.summaries.push_back(m.Newton(v, x, e, fmt::format(" for input {}", first + k)));
      out.column_current_a.col(first + k) = e.current.colwise().sum().transpose();
    }
  }
  return out;
}

const FactorSummary& NonlinearSolver::factor_summary() const { return impl_->summary; }

}  // namespace aimc::circuit
