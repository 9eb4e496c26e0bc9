#include "cholmod_util.h"

#include <chrono>
#include <cstring>

#include "aimc/common/error.h"

namespace aimc::circuit::internal {

namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const char* StatusText(int status) {
  switch (status) {
    case CHOLMOD_OUT_OF_MEMORY: return "out of memory";
    case CHOLMOD_TOO_LARGE: return "problem too large";
    case CHOLMOD_INVALID: return "invalid input";
    case CHOLMOD_GPU_PROBLEM: return "GPU problem";
    case CHOLMOD_NOT_INSTALLED: return "method not installed";
    case CHOLMOD_NOT_POSDEF: return "matrix not positive definite";
    case CHOLMOD_DSMALL: return "diagonal entry tiny";
    default: return "unknown status";
  }
}

}  // namespace

Cholmod::Cholmod() {
  cholmod_l_start(&common_);
  common_.print = 0;  // errors are reported through status, as aimc::Error
}

Cholmod::~Cholmod() {
  if (factor_ != nullptr) cholmod_l_free_factor(&factor_, &common_);
  cholmod_l_finish(&common_);
}

void Cholmod::Check(const char* call) {
  if (common_.status < 0) {
    Fail("CHOLMOD {} failed: {} (status {})", call, StatusText(common_.status), common_.status);
  }
}

cholmod_sparse Cholmod::View(const SparseLower& lower) {
  cholmod_sparse s;
  std::memset(&s, 0, sizeof(s));
  s.nrow = static_cast<std::size_t>(lower.rows());
  s.ncol = static_cast<std::size_t>(lower.cols());
  s.nzmax = static_cast<std::size_t>(lower.nonZeros());
  s.p = const_cast<std::int64_t*>(lower.outerIndexPtr());
  s.i = const_cast<std::int64_t*>(lower.innerIndexPtr());
  s.x = const_cast<double*>(lower.valuePtr());
  s.stype = -1;  // symmetric, lower triangle stored
  s.itype = CHOLMOD_LONG;
  s.xtype = CHOLMOD_REAL;
  s.dtype = CHOLMOD_DOUBLE;
  s.sorted = 1;
  s.packed = 1;
  return s;
}

std::vector<std::int64_t> Cholmod::Ordering(const SparseLower& a) {
  cholmod_sparse view = View(a);
  common_.nmethods = 0;  // AMD, and METIS too when AMD fills much; the best one is kept
  common_.supernodal = CHOLMOD_SIMPLICIAL;
  cholmod_factor* symbolic = cholmod_l_analyze(&view, &common_);
  Check("analyze (ordering)");
  const auto* perm = static_cast<const std::int64_t*>(symbolic->Perm);
  std::vector<std::int64_t> order(perm, perm + a.rows());
  cholmod_l_free_factor(&symbolic, &common_);
  return order;
}

void Cholmod::Factorize(const SparseLower& a, const std::vector<std::int64_t>* perm,
                        bool keep_order, bool supernodal,
                        const std::function<std::string(std::int64_t)>& node_name,
                        double* analyze_seconds, double* factorize_seconds) {
  AnalyzeFor(a, perm, keep_order, supernodal, analyze_seconds);
  Refactorize(a, node_name, factorize_seconds);
}

void Cholmod::AnalyzeFor(const SparseLower& a, const std::vector<std::int64_t>* perm,
                         bool keep_order, bool supernodal, double* analyze_seconds) {
  if (factor_ != nullptr) cholmod_l_free_factor(&factor_, &common_);
  cholmod_sparse view = View(a);
  const auto start = std::chrono::steady_clock::now();
  common_.supernodal = supernodal ? CHOLMOD_SUPERNODAL : CHOLMOD_AUTO;
  if (perm != nullptr) {
    common_.nmethods = 1;
    common_.method[0].ordering = CHOLMOD_GIVEN;
    common_.postorder = keep_order ? 0 : 1;
    factor_ = cholmod_l_analyze_p(&view, reinterpret_cast<SuiteSparse_long*>(
                                             const_cast<std::int64_t*>(perm->data())),
                                  nullptr, 0, &common_);
  } else {
    common_.nmethods = 0;
    factor_ = cholmod_l_analyze(&view, &common_);
  }
  Check("analyze");
  if (analyze_seconds != nullptr) *analyze_seconds = SecondsSince(start);
}

void Cholmod::Refactorize(const SparseLower& a,
                          const std::function<std::string(std::int64_t)>& node_name,
                          double* factorize_seconds) {
  cholmod_sparse view = View(a);
  const auto start = std::chrono::steady_clock::now();
  cholmod_l_factorize(&view, factor_, &common_);
  Check("factorize");
  if (common_.status == CHOLMOD_NOT_POSDEF || factor_->minor < factor_->n) {
    const auto* p = static_cast<const std::int64_t*>(factor_->Perm);
    const std::int64_t row = p[factor_->minor];
    Fail("the nodal matrix is not positive definite at {}: a floating node or a non-physical "
         "value (CHOLMOD broke down at pivot {} of {})",
         node_name(row), factor_->minor, factor_->n);
  }
  if (factorize_seconds != nullptr) *factorize_seconds = SecondsSince(start);
}

const cholmod_factor& Cholmod::Analyze(const SparseLower& a, const std::vector<std::int64_t>& perm,
                                       bool keep_order) {
  if (factor_ != nullptr) cholmod_l_free_factor(&factor_, &common_);
  cholmod_sparse view = View(a);
  common_.supernodal = CHOLMOD_SUPERNODAL;
  common_.nmethods = 1;
  common_.method[0].ordering = CHOLMOD_GIVEN;
  common_.postorder = keep_order ? 0 : 1;
  factor_ = cholmod_l_analyze_p(
      &view, reinterpret_cast<SuiteSparse_long*>(const_cast<std::int64_t*>(perm.data())), nullptr,
      0, &common_);
  Check("analyze");
  return *factor_;
}

Eigen::MatrixXd Cholmod::Solve(const Eigen::MatrixXd& b) {
  cholmod_dense rhs;
  std::memset(&rhs, 0, sizeof(rhs));
  rhs.nrow = static_cast<std::size_t>(b.rows());
  rhs.ncol = static_cast<std::size_t>(b.cols());
  rhs.nzmax = rhs.nrow * rhs.ncol;
  rhs.d = rhs.nrow;
  rhs.x = const_cast<double*>(b.data());
  rhs.xtype = CHOLMOD_REAL;
  rhs.dtype = CHOLMOD_DOUBLE;
  cholmod_dense* x = cholmod_l_solve(CHOLMOD_A, factor_, &rhs, &common_);
  Check("solve");
  Eigen::MatrixXd out =
      Eigen::Map<const Eigen::MatrixXd>(static_cast<const double*>(x->x), b.rows(), b.cols());
  cholmod_l_free_dense(&x, &common_);
  return out;
}

std::int64_t Cholmod::FactorNonzeros() const {
  if (factor_ == nullptr) return 0;
  if (factor_->is_super) return static_cast<std::int64_t>(factor_->xsize);
  return static_cast<std::int64_t>(factor_->nzmax);
}

}  // namespace aimc::circuit::internal
