#include "dense.h"

#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include "aimc/common/rng.h"

namespace aimc::circuit::internal::dense {
namespace {

Eigen::MatrixXd Random(Eigen::Index rows, Eigen::Index cols, Rng& rng) {
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index k = 0; k < m.size(); ++k) m.data()[k] = 2.0 * rng.Uniform() - 1.0;
  return m;
}

// Symmetric positive definite, condition number ~10: Q Q^T / n plus the identity.
Eigen::MatrixXd Spd(Eigen::Index n, Rng& rng) {
  const Eigen::MatrixXd q = Random(n, n, rng);
  return q * q.transpose() / double(n) + Eigen::MatrixXd::Identity(n, n);
}

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    if (Supported(isa)) isas.push_back(isa);
  }
  return isas;
}

bool BitIdentical(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  for (Eigen::Index k = 0; k < a.size(); ++k) {
    if (a.data()[k] != b.data()[k]) return false;
  }
  return a.size() == b.size();
}

// Sizes around the kernels' blocks: micro-tiles (4, 6, 8, 12, 16), the depth of one pass (256)
// and the packed row block (192).
const std::vector<std::tuple<int, int, int>> kShapes = {
    {1, 1, 1}, {5, 3, 7}, {17, 13, 16}, {33, 25, 40}, {200, 37, 300}, {61, 250, 513}};

// Reference: Eigen's product of the same matrices. Entries of a b^T are sums of k products of
// numbers in [-1, 1]: 1e-13 absolute is rounding only.
TEST(DenseKernels, ProductMatchesEigen) {
  Rng rng(41);
  for (const auto& [m, n, k] : kShapes) {
    const Eigen::MatrixXd a = Random(m, k, rng);
    const Eigen::MatrixXd b = Random(n, k, rng);
    const Eigen::MatrixXd c0 = Random(m, n, rng);
    const Eigen::MatrixXd expected = c0 - a * b.transpose();
    for (Isa isa : SupportedIsas()) {
      Eigen::MatrixXd c = c0;
      GemmNtMinus(m, n, k, a.data(), m, b.data(), n, c.data(), m, false, isa);
      EXPECT_LT((c - expected).cwiseAbs().maxCoeff(), 1e-13)
          << m << "x" << n << "x" << k << " " << ToString(isa);
      // Lower: the entries on and below the diagonal are those of the full product.
      Eigen::MatrixXd lower = c0;
      GemmNtMinus(m, n, k, a.data(), m, b.data(), n, lower.data(), m, true, isa);
      for (int j = 0; j < n; ++j) {
        for (int i = j; i < m; ++i) EXPECT_EQ(lower(i, j), c(i, j)) << i << "," << j;
      }
    }
  }
}

// Reference: Eigen's -a a^T on and below the diagonal (1e-13 absolute, as above); the entries
// above it are left as they were; and the instruction sets agree bit for bit.
TEST(DenseKernels, RowPortBlockMatchesEigenAndIsTheSameOnEveryIsa) {
  Rng rng(44);
  for (const auto& [n, k] : std::vector<std::pair<int, int>>{{1, 1}, {5, 9}, {17, 40}, {64, 33}}) {
    const Eigen::MatrixXd a = Random(n + 3, k, rng);  // leading dimension n + 3
    const Eigen::MatrixXd expected = -a.topRows(n) * a.topRows(n).transpose();
    Eigen::MatrixXd first;
    for (Isa isa : SupportedIsas()) {
      Eigen::MatrixXd c = Eigen::MatrixXd::Constant(n, n, 7.0);
      SyrkLowerLoops(n, k, a.data(), n + 3, c.data(), n, isa);
      for (int j = 0; j < n; ++j) {
        for (int i = 0; i < n; ++i) {
          if (i >= j) {
            EXPECT_LT(std::abs(c(i, j) - expected(i, j)), 1e-13) << i << "," << j;
          } else {
            EXPECT_EQ(c(i, j), 7.0) << i << "," << j;
          }
        }
      }
      if (first.size() == 0) first = c;
      EXPECT_TRUE(BitIdentical(c, first)) << n << "x" << k << " " << ToString(isa);
    }
  }
}

// Reference: the definitions, L L^T = A and X L^T = B, to rounding (1e-12 for entries of size
// ~1 and condition number ~10); and a matrix that is not positive definite at pivot 38 (its
// leading 37 x 37 block is, the 38 x 38 one is not) must be reported as that pivot.
TEST(DenseKernels, CholeskyAndTriangularSolveSatisfyTheirDefinitions) {
  Rng rng(42);
  for (int n : {1, 7, 31, 32, 33, 100, 300}) {
    const Eigen::MatrixXd a = Spd(n, rng);
    for (Isa isa : SupportedIsas()) {
      Eigen::MatrixXd l = a;
      ASSERT_EQ(Potrf(n, l.data(), n, isa), 0);
      l = l.triangularView<Eigen::Lower>();
      EXPECT_LT((l * l.transpose() - a).cwiseAbs().maxCoeff(), 1e-12) << n << ToString(isa);
      const Eigen::MatrixXd b = Random(45, n, rng);
      Eigen::MatrixXd x = b;
      TrsmRightLowerTranspose(45, n, l.data(), n, x.data(), 45, isa);
      EXPECT_LT((x * l.transpose() - b).cwiseAbs().maxCoeff(), 1e-12) << n << ToString(isa);
    }
  }
  Eigen::MatrixXd bad = Spd(60, rng);
  bad(37, 37) = -1.0;
  for (Isa isa : SupportedIsas()) {
    Eigen::MatrixXd copy = bad;
    EXPECT_EQ(Potrf(60, copy.data(), 60, isa), 38) << ToString(isa);
  }
}

// Reference: the block formulas with Eigen. A front of 40 rows: 10 pivots, 15 more kept (wire)
// rows, then 6 row-port and 9 column-port rows. L11 = chol(A11), L21 = A21 L11^-T, the kept
// update A22 - L21 L21^T (on and below the diagonal) and the port block -L_r L_c^T, to rounding
// (1e-12 for entries of size ~1); and the same bits on every instruction set.
TEST(DenseKernels, SmallFrontEliminationMatchesTheBlockFormulas) {
  Rng rng(44);
  constexpr int kSize = 40, kPivots = 10, kKept = 25, kRowPorts = 6, kColPorts = 9;
  const Eigen::MatrixXd a = Spd(kSize, rng);
  const Eigen::MatrixXd l11 = a.topLeftCorner(kPivots, kPivots).llt().matrixL();
  const Eigen::MatrixXd l21 = l11.triangularView<Eigen::Lower>()
                                  .solve(a.bottomLeftCorner(kSize - kPivots, kPivots).transpose())
                                  .transpose();
  const Eigen::MatrixXd update =
      a.bottomRightCorner(kSize - kPivots, kSize - kPivots) - l21 * l21.transpose();
  const Eigen::MatrixXd ports = -l21.middleRows(kKept - kPivots, kRowPorts) *
                                l21.middleRows(kKept - kPivots + kRowPorts, kColPorts).transpose();
  Eigen::MatrixXd reference;
  for (Isa isa : SupportedIsas()) {
    Eigen::MatrixXd front = a;
    Eigen::MatrixXd block(kRowPorts, kColPorts);
    ASSERT_EQ(EliminateSmallFront(front.data(), kSize, kPivots, kKept, kRowPorts, kColPorts,
                                  block.data(), isa),
              0);
    for (int j = 0; j < kPivots; ++j) {
      for (int i = j; i < kSize; ++i) {
        const double expected = i < kPivots ? l11(i, j) : l21(i - kPivots, j);
        EXPECT_NEAR(front(i, j), expected, 1e-12) << i << "," << j << " " << ToString(isa);
      }
    }
    for (int j = kPivots; j < kKept; ++j) {
      for (int i = j; i < kSize; ++i) {
        EXPECT_NEAR(front(i, j), update(i - kPivots, j - kPivots), 1e-12) << i << "," << j;
      }
    }
    EXPECT_LT((block - ports).cwiseAbs().maxCoeff(), 1e-12) << ToString(isa);
    Eigen::MatrixXd result(kSize + kRowPorts, kSize);
    result << front.triangularView<Eigen::Lower>().toDenseMatrix(),
        Eigen::MatrixXd::Zero(kRowPorts, kSize);
    result.bottomLeftCorner(kRowPorts, kColPorts) = block;
    if (reference.size() == 0) reference = result;
    EXPECT_TRUE(BitIdentical(result, reference)) << ToString(isa);
  }
}

// Reference: the portable kernels. Every entry is summed in one fixed order with fused
// multiply-adds whatever the vector width, so AVX2 and AVX-512 must agree with it bit for bit
// (on processors without them this compares the portable path with itself).
TEST(DenseKernels, EveryInstructionSetGivesTheSameBits) {
  Rng rng(43);
  for (const auto& [m, n, k] : kShapes) {
    const Eigen::MatrixXd a = Random(m, k, rng);
    const Eigen::MatrixXd b = Random(n, k, rng);
    const Eigen::MatrixXd c0 = Random(m, n, rng);
    Eigen::MatrixXd reference = c0;
    GemmNtMinus(m, n, k, a.data(), m, b.data(), n, reference.data(), m, false, Isa::kPortable);
    for (Isa isa : SupportedIsas()) {
      Eigen::MatrixXd c = c0;
      GemmNtMinus(m, n, k, a.data(), m, b.data(), n, c.data(), m, false, isa);
      EXPECT_TRUE(BitIdentical(c, reference)) << m << "x" << n << "x" << k << " " << ToString(isa);
    }
  }
  // The factor is the lower triangle (the strict upper one is scratch, cut at tile edges).
  const Eigen::MatrixXd a = Spd(300, rng);
  Eigen::MatrixXd reference = a;
  ASSERT_EQ(Potrf(300, reference.data(), 300, Isa::kPortable), 0);
  reference = reference.triangularView<Eigen::Lower>();
  for (Isa isa : SupportedIsas()) {
    Eigen::MatrixXd l = a;
    ASSERT_EQ(Potrf(300, l.data(), 300, isa), 0);
    EXPECT_TRUE(BitIdentical(l.triangularView<Eigen::Lower>(), reference)) << ToString(isa);
  }
}

}  // namespace
}  // namespace aimc::circuit::internal::dense
