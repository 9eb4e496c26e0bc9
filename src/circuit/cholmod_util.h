#pragma once

// A thin owner of CHOLMOD state (long-index interface) with status checks that turn every
// failure into an aimc::Error.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <cholmod.h>

#include "nodal.h"

namespace aimc::circuit::internal {

static_assert(sizeof(SuiteSparse_long) == sizeof(std::int64_t), "CHOLMOD long index is 64-bit");

class Cholmod {
 public:
  Cholmod();
  ~Cholmod();
  Cholmod(const Cholmod&) = delete;
  Cholmod& operator=(const Cholmod&) = delete;

  cholmod_common* common() { return &common_; }
  cholmod_factor* factor() { return factor_; }

  /// A CHOLMOD view (no copy) of a compressed lower triangle.
  static cholmod_sparse View(const SparseLower& lower);

  /// Analyzes and factorizes `a` (lower triangle). `perm` (optional) is used as given (and
  /// postordered unless `keep_order`, which the port Schur complement needs), else CHOLMOD picks
  /// its best ordering. A failure throws aimc::Error; a matrix that is not
  /// positive definite names the node where the factorization broke down via `node_name`
  /// (argument: the row of `a`).
  void Factorize(const SparseLower& a, const std::vector<std::int64_t>* perm, bool keep_order,
                 bool supernodal,
                 const std::function<std::string(std::int64_t)>& node_name,
                 double* analyze_seconds, double* factorize_seconds);

  /// The symbolic analysis alone, as Factorize does it; Refactorize then factorizes any matrix of
  /// `a`'s pattern (a Newton Jacobian) without analyzing again.
  void AnalyzeFor(const SparseLower& a, const std::vector<std::int64_t>* perm, bool keep_order,
                  bool supernodal, double* analyze_seconds);
  /// The numeric factorization of `a` (the pattern AnalyzeFor saw), with Factorize's checks.
  void Refactorize(const SparseLower& a,
                   const std::function<std::string(std::int64_t)>& node_name,
                   double* factorize_seconds);

  /// The supernodal symbolic analysis of `a` (lower triangle) in the order `perm` (postordered
  /// unless `keep_order`), without the numeric factorization; owned like factor().
  const cholmod_factor& Analyze(const SparseLower& a, const std::vector<std::int64_t>& perm,
                                bool keep_order);

  /// Solves A X = B (B is n x N, column-major).
  Eigen::MatrixXd Solve(const Eigen::MatrixXd& b);

  /// The fill-reducing permutation CHOLMOD picks for `a` (AMD or METIS, whichever fills less).
  std::vector<std::int64_t> Ordering(const SparseLower& a);

  std::int64_t FactorNonzeros() const;

 private:
  void Check(const char* call);
  cholmod_common common_;
  cholmod_factor* factor_ = nullptr;
};

}  // namespace aimc::circuit::internal
