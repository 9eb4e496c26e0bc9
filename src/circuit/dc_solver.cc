#include "aimc/circuit/dc_solver.h"

#include <chrono>
#include <cmath>
#include <optional>

#include <Eigen/SparseCholesky>

#include "aimc/common/error.h"
#include "cholmod_util.h"
#include "nodal.h"

namespace aimc::circuit {

const EnumNames<Backend>& BackendNames() {
  static const EnumNames<Backend> names("backend", {{Backend::kCholmod, "cholmod"},
                                                    {Backend::kEigen, "eigen"}});
  return names;
}

std::string ToString(Backend backend) { return BackendNames().Name(backend); }

struct DcSolver::Impl {
  explicit Impl(const Crossbar& xbar) : sys(xbar), array(xbar.Describe()) {}

  // A solve of a positive definite system with finite data is finite; anything else means the
  // values span more than double arithmetic holds, and is reported rather than returned.
  void RequireFinite(const Eigen::MatrixXd& currents, const char* line = "column") const {
    if (currents.allFinite()) return;
    for (Eigen::Index n = 0; n < currents.cols(); ++n) {
      for (Eigen::Index j = 0; j < currents.rows(); ++j) {
        Require(std::isfinite(currents(j, n)),
                "the DC solve of {} gave a non-finite current ({}) at {} {} for input {}: "
                "its conductances and parasitics span more than double precision resolves",
                array, currents(j, n), line, j, n);
      }
    }
  }

  Eigen::MatrixXd SolveDeviations(const Eigen::MatrixXd& v) {
    Require(v.rows() == sys.rows, "input has {} voltages for {} rows", v.rows(), sys.rows);
    Require(v.allFinite(), "input voltages must be finite");
    if (sys.unknowns == 0) return Eigen::MatrixXd(0, v.cols());
    const Eigen::MatrixXd b = sys.Rhs(v);
    if (cholmod) return cholmod->Solve(b);
    Eigen::MatrixXd x = eigen->solve(b);
    Require(eigen->info() == Eigen::Success, "Eigen SimplicialLDLT solve failed");
    return x;
  }

  internal::NodalSystem sys;
  std::string array;
  FactorSummary summary;
  std::optional<internal::Cholmod> cholmod;
  std::optional<Eigen::SimplicialLDLT<internal::SparseLower, Eigen::Lower>> eigen;
};

DcSolver::DcSolver(const Crossbar& xbar, Backend backend) : impl_(std::make_unique<Impl>(xbar)) {
  Impl& m = *impl_;
  m.summary.backend = ToString(backend);
  m.summary.unknowns = m.sys.unknowns;
  m.summary.matrix_nonzeros = m.sys.k_lower.nonZeros();
  if (m.sys.unknowns == 0) return;  // every node fixed by an ideal source: nothing to factor
  const auto name = [&m](std::int64_t row) { return m.sys.NodeName(row); };
  if (backend == Backend::kCholmod) {
    m.cholmod.emplace();
    const std::vector<std::int64_t> order = m.sys.GeometricOrdering();
    m.cholmod->Factorize(m.sys.k_lower, order.empty() ? nullptr : &order, false, false, name,
                         &m.summary.analyze_seconds, &m.summary.factorize_seconds);
    m.summary.factor_nonzeros = m.cholmod->FactorNonzeros();
    return;
  }
  auto start = std::chrono::steady_clock::now();
  m.eigen.emplace();
  m.eigen->analyzePattern(m.sys.k_lower);
  m.summary.analyze_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  start = std::chrono::steady_clock::now();
  m.eigen->factorize(m.sys.k_lower);
  m.summary.factorize_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (m.eigen->info() != Eigen::Success) {
    Fail("the nodal matrix is not positive definite (Eigen SimplicialLDLT): a floating node or "
         "a non-physical value");
  }
  // LDL^T of a positive definite matrix has a positive D; a non-positive pivot names its node.
  const Eigen::VectorXd d = m.eigen->vectorD();
  const auto& perm = m.eigen->permutationPinv();
  for (Eigen::Index k = 0; k < d.size(); ++k) {
    if (!(d(k) > 0.0)) {
      Fail("the nodal matrix is not positive definite at {} (Eigen SimplicialLDLT pivot {})",
           m.sys.NodeName(perm.indices()(k)), k);
    }
  }
  m.summary.factor_nonzeros = m.eigen->matrixL().nestedExpression().nonZeros() + d.size();
}

DcSolver::~DcSolver() = default;
DcSolver::DcSolver(DcSolver&&) noexcept = default;
DcSolver& DcSolver::operator=(DcSolver&&) noexcept = default;

Eigen::VectorXd DcSolver::ColumnCurrents(const Eigen::VectorXd& v_rows) const {
  return BatchColumnCurrents(Eigen::MatrixXd(v_rows)).col(0);
}

Eigen::MatrixXd DcSolver::BatchColumnCurrents(const Eigen::MatrixXd& v_rows) const {
  const Eigen::MatrixXd x = impl_->SolveDeviations(v_rows);
  Eigen::MatrixXd currents = impl_->sys.Currents(v_rows, x);
  impl_->RequireFinite(currents);
  return currents;
}

Eigen::MatrixXd DcSolver::BatchRowCurrents(const Eigen::MatrixXd& v_rows) const {
  const Eigen::MatrixXd x = impl_->SolveDeviations(v_rows);
  const internal::NodalSystem& s = impl_->sys;
  const bool fixed = s.row_lines == internal::LineNodes::kFixed;
  Eigen::MatrixXd currents = s.SourceCurrents(x, fixed ? s.RowCellCurrents(v_rows, x)
                                                       : Eigen::MatrixXd());
  impl_->RequireFinite(currents, "row");
  return currents;
}

NodeVoltages DcSolver::Solve(const Eigen::VectorXd& v_rows) const {
  const Eigen::MatrixXd v = v_rows;
  const Eigen::MatrixXd x = impl_->SolveDeviations(v);
  const internal::NodalSystem& s = impl_->sys;
  NodeVoltages out;
  out.row_v.resize(s.rows, s.cols);
  out.col_v.resize(s.rows, s.cols);
  for (int i = 0; i < s.rows; ++i) {
    for (int j = 0; j < s.cols; ++j) {
      const auto a = s.RowNode(i, j);
      const auto c = s.ColNode(i, j);
      out.row_v(i, j) = v_rows(i) + (a >= 0 ? x(a, 0) : 0.0);
      out.col_v(i, j) = c >= 0 ? x(c, 0) : 0.0;
    }
  }
  out.column_current_a = s.Currents(v, x).col(0);
  const bool fixed = s.row_lines == internal::LineNodes::kFixed;
  out.row_current_a =
      s.SourceCurrents(x, fixed ? s.RowCellCurrents(v, x) : Eigen::MatrixXd()).col(0);
  impl_->RequireFinite(out.column_current_a);
  impl_->RequireFinite(out.row_current_a, "row");
  Require(out.row_v.allFinite() && out.col_v.allFinite(),
          "the DC solve of {} gave non-finite node voltages", impl_->array);
  return out;
}

const FactorSummary& DcSolver::summary() const { return impl_->summary; }

}  // namespace aimc::circuit
