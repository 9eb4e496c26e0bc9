#include "dense.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AIMC_DENSE_X86 1
#endif

namespace aimc::circuit::internal::dense {

namespace {

// Blocking of the product (BLIS style): depth kDepth of one pass (it also fixes where the sums
// of an entry are split, so it is the same for every instruction set), kRowBlock rows of `a`
// packed at a time (L2), kColBlock rows of `b` (L3).
constexpr std::int64_t kDepth = 256;
constexpr std::int64_t kRowBlock = 192;
constexpr std::int64_t kColBlock = 1536;

// A micro-kernel: c (MR x NR, leading dimension ldc) -= a b^T from packed slivers (a: MR values
// per k, b: NR values per k), every entry as acc = fma(a_k, b_k, acc) over k ascending from 0,
// then c - acc.
using Micro = void (*)(std::int64_t depth, const double* a, const double* b, double* c,
                       std::int64_t ldc);

template <int MR, int NR>
void MicroPortable(std::int64_t depth, const double* a, const double* b, double* c,
                   std::int64_t ldc) {
  double acc[MR * NR] = {};
  for (std::int64_t k = 0; k < depth; ++k, a += MR, b += NR) {
    for (int j = 0; j < NR; ++j) {
      for (int i = 0; i < MR; ++i) acc[i + j * MR] = std::fma(a[i], b[j], acc[i + j * MR]);
    }
  }
  for (int j = 0; j < NR; ++j) {
    for (int i = 0; i < MR; ++i) c[i + j * ldc] -= acc[i + j * MR];
  }
}

#ifdef AIMC_DENSE_X86
// 8 x 6 with AVX2: 12 accumulators of 4 doubles.
[[gnu::target("avx2,fma")]] void MicroAvx2(std::int64_t depth, const double* a, const double* b,
                                           double* c, std::int64_t ldc) {
  __m256d acc[2][6];
  for (int j = 0; j < 6; ++j) acc[0][j] = acc[1][j] = _mm256_setzero_pd();
  for (std::int64_t k = 0; k < depth; ++k, a += 8, b += 6) {
    const __m256d a0 = _mm256_loadu_pd(a);
    const __m256d a1 = _mm256_loadu_pd(a + 4);
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j) {
      const __m256d bj = _mm256_broadcast_sd(b + j);
      acc[0][j] = _mm256_fmadd_pd(a0, bj, acc[0][j]);
      acc[1][j] = _mm256_fmadd_pd(a1, bj, acc[1][j]);
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < 6; ++j) {
    double* cj = c + j * ldc;
    _mm256_storeu_pd(cj, _mm256_sub_pd(_mm256_loadu_pd(cj), acc[0][j]));
    _mm256_storeu_pd(cj + 4, _mm256_sub_pd(_mm256_loadu_pd(cj + 4), acc[1][j]));
  }
}

// 16 x 12 with AVX-512: 24 accumulators of 8 doubles.
[[gnu::target("avx512f,fma")]] void MicroAvx512(std::int64_t depth, const double* a,
                                                const double* b, double* c, std::int64_t ldc) {
  __m512d acc[2][12];
  for (int j = 0; j < 12; ++j) acc[0][j] = acc[1][j] = _mm512_setzero_pd();
  for (std::int64_t k = 0; k < depth; ++k, a += 16, b += 12) {
    const __m512d a0 = _mm512_loadu_pd(a);
    const __m512d a1 = _mm512_loadu_pd(a + 8);
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) {
      const __m512d bj = _mm512_set1_pd(b[j]);
      acc[0][j] = _mm512_fmadd_pd(a0, bj, acc[0][j]);
      acc[1][j] = _mm512_fmadd_pd(a1, bj, acc[1][j]);
    }
  }
#pragma GCC unroll 12
  for (int j = 0; j < 12; ++j) {
    double* cj = c + j * ldc;
    _mm512_storeu_pd(cj, _mm512_sub_pd(_mm512_loadu_pd(cj), acc[0][j]));
    _mm512_storeu_pd(cj + 8, _mm512_sub_pd(_mm512_loadu_pd(cj + 8), acc[1][j]));
  }
}
#endif

// Packs rows [0, rows) x depth of a column-major matrix into slivers of S rows: sliver s holds,
// for each k, its S values (zero past `rows`).
template <int S>
void Pack(std::int64_t rows, std::int64_t depth, const double* x, std::int64_t ldx,
          double* packed) {
  for (std::int64_t s = 0; s < rows; s += S) {
    const std::int64_t valid = std::min<std::int64_t>(S, rows - s);
    for (std::int64_t k = 0; k < depth; ++k, packed += S) {
      const double* column = x + s + k * ldx;
      std::int64_t i = 0;
      for (; i < valid; ++i) packed[i] = column[i];
      for (; i < S; ++i) packed[i] = 0.0;
    }
  }
}

template <int MR, int NR>
void Gemm(Micro micro, std::int64_t m, std::int64_t n, std::int64_t k, const double* a,
          std::int64_t lda, const double* b, std::int64_t ldb, double* c, std::int64_t ldc,
          bool lower) {
  static_assert(kRowBlock % MR == 0 && kColBlock % NR == 0);
  // Per thread and kept: a product is called thousands of times per elimination.
  thread_local std::vector<double> a_pack;
  thread_local std::vector<double> b_pack;
  a_pack.resize(std::size_t(kRowBlock * kDepth));
  b_pack.resize(std::size_t(kColBlock * kDepth));
  double tile[MR * NR];
  for (std::int64_t jc = 0; jc < n; jc += kColBlock) {
    const std::int64_t nc = std::min(kColBlock, n - jc);
    for (std::int64_t pc = 0; pc < k; pc += kDepth) {
      const std::int64_t depth = std::min(kDepth, k - pc);
      Pack<NR>(nc, depth, b + jc + pc * ldb, ldb, b_pack.data());
      for (std::int64_t ic = 0; ic < m; ic += kRowBlock) {
        const std::int64_t mc = std::min(kRowBlock, m - ic);
        if (lower && ic + mc <= jc) continue;  // every row above every column of the block
        Pack<MR>(mc, depth, a + ic + pc * lda, lda, a_pack.data());
        for (std::int64_t jr = 0; jr < nc; jr += NR) {
          const std::int64_t nr = std::min<std::int64_t>(NR, nc - jr);
          const double* bp = b_pack.data() + jr * depth;
          for (std::int64_t ir = 0; ir < mc; ir += MR) {
            const std::int64_t mr = std::min<std::int64_t>(MR, mc - ir);
            const std::int64_t i = ic + ir;
            const std::int64_t j = jc + jr;
            if (lower && i + mr <= j) continue;
            const double* ap = a_pack.data() + ir * depth;
            double* ct = c + i + j * ldc;
            if (mr == MR && nr == NR) {
              micro(depth, ap, bp, ct, ldc);
              continue;
            }
            // An edge tile: the same arithmetic on a copy, the valid part copied back.
            std::fill_n(tile, MR * NR, 0.0);
            for (std::int64_t jj = 0; jj < nr; ++jj) {
              std::copy_n(ct + jj * ldc, mr, tile + jj * MR);
            }
            micro(depth, ap, bp, tile, MR);
            for (std::int64_t jj = 0; jj < nr; ++jj) {
              std::copy_n(tile + jj * MR, mr, ct + jj * ldc);
            }
          }
        }
      }
    }
  }
}

// Below these sizes the recursions stop at plain loops.
constexpr std::int64_t kTrsmLeaf = 16;
constexpr std::int64_t kPotrfLeaf = 32;

// The plain-loop kernels are inlined into one function per instruction set, so that the same
// loops are vectorized as wide as the processor allows; fused multiply-adds everywhere keep the
// results identical across them.

// Right-looking Cholesky of the first p columns of a (rows x kept, leading dimension lda,
// lower), updating the other kept columns (rows >= column) as it goes; then port_block
// (row_ports x col_ports) = -L_r L_c^T for the rows kept .. kept + row_ports - 1 and the
// col_ports rows after them.
[[gnu::always_inline]] inline int LoopsCholesky(double* a, std::int64_t lda, std::int64_t rows,
                                                std::int64_t p, std::int64_t kept,
                                                std::int64_t row_ports, std::int64_t col_ports,
                                                double* port_block) {
  for (std::int64_t j = 0; j < p; ++j) {
    double* cj = a + j * lda;
    if (!(cj[j] > 0.0)) return int(j + 1);
    cj[j] = std::sqrt(cj[j]);
    const double inverse = 1.0 / cj[j];
    for (std::int64_t i = j + 1; i < rows; ++i) cj[i] *= inverse;
    for (std::int64_t k = j + 1; k < kept; ++k) {
      double* ck = a + k * lda;
      const double factor = cj[k];
      for (std::int64_t i = k; i < rows; ++i) ck[i] = std::fma(-cj[i], factor, ck[i]);
    }
  }
  if (row_ports == 0 || col_ports == 0) return 0;
  const double* l_row = a + kept;
  const double* l_col = l_row + row_ports;
  std::fill_n(port_block, row_ports * col_ports, 0.0);
  for (std::int64_t j = 0; j < p; ++j) {
    for (std::int64_t c = 0; c < col_ports; ++c) {
      const double factor = l_col[c + j * lda];
      double* target = port_block + c * row_ports;
      for (std::int64_t r = 0; r < row_ports; ++r) {
        target[r] = std::fma(-l_row[r + j * lda], factor, target[r]);
      }
    }
  }
  return 0;
}

// b (m x n) = b L^-T, column by column.
[[gnu::always_inline]] inline void LoopsTrsm(std::int64_t m, std::int64_t n, const double* l,
                                             std::int64_t ldl, double* b, std::int64_t ldb) {
  for (std::int64_t j = 0; j < n; ++j) {
    double* bj = b + j * ldb;
    for (std::int64_t k = 0; k < j; ++k) {
      const double factor = l[j + k * ldl];
      const double* bk = b + k * ldb;
      for (std::int64_t i = 0; i < m; ++i) bj[i] = std::fma(-bk[i], factor, bj[i]);
    }
    const double inverse = 1.0 / l[j + j * ldl];
    for (std::int64_t i = 0; i < m; ++i) bj[i] *= inverse;
  }
}

// c (n x n, lower) = -a a^T for a (n x k): per entry, k ascending, fused multiply-adds.
[[gnu::always_inline]] inline void LoopsSyrkLower(std::int64_t n, std::int64_t k, const double* a,
                                                  std::int64_t lda, double* c, std::int64_t ldc) {
  for (std::int64_t j = 0; j < n; ++j) std::fill_n(c + j + j * ldc, n - j, 0.0);
  for (std::int64_t p = 0; p < k; ++p) {
    const double* ap = a + p * lda;
    for (std::int64_t j = 0; j < n; ++j) {
      const double factor = ap[j];
      double* cj = c + j * ldc;
      for (std::int64_t i = j; i < n; ++i) cj[i] = std::fma(-ap[i], factor, cj[i]);
    }
  }
}

int CholeskyPortable(double* a, std::int64_t lda, std::int64_t rows, std::int64_t p,
                     std::int64_t kept, std::int64_t row_ports, std::int64_t col_ports,
                     double* port_block) {
  return LoopsCholesky(a, lda, rows, p, kept, row_ports, col_ports, port_block);
}
void TrsmPortable(std::int64_t m, std::int64_t n, const double* l, std::int64_t ldl, double* b,
                  std::int64_t ldb) {
  LoopsTrsm(m, n, l, ldl, b, ldb);
}

void SyrkPortable(std::int64_t n, std::int64_t k, const double* a, std::int64_t lda, double* c,
                  std::int64_t ldc) {
  LoopsSyrkLower(n, k, a, lda, c, ldc);
}

#ifdef AIMC_DENSE_X86
[[gnu::target("avx2,fma")]] int CholeskyAvx2(double* a, std::int64_t lda, std::int64_t rows,
                                             std::int64_t p, std::int64_t kept,
                                             std::int64_t row_ports, std::int64_t col_ports,
                                             double* port_block) {
  return LoopsCholesky(a, lda, rows, p, kept, row_ports, col_ports, port_block);
}
[[gnu::target("avx2,fma")]] void TrsmAvx2(std::int64_t m, std::int64_t n, const double* l,
                                          std::int64_t ldl, double* b, std::int64_t ldb) {
  LoopsTrsm(m, n, l, ldl, b, ldb);
}
[[gnu::target("avx2,fma")]] void SyrkAvx2(std::int64_t n, std::int64_t k, const double* a,
                                          std::int64_t lda, double* c, std::int64_t ldc) {
  LoopsSyrkLower(n, k, a, lda, c, ldc);
}
[[gnu::target("avx512f,fma")]] int CholeskyAvx512(double* a, std::int64_t lda, std::int64_t rows,
                                                  std::int64_t p, std::int64_t kept,
                                                  std::int64_t row_ports, std::int64_t col_ports,
                                                  double* port_block) {
  return LoopsCholesky(a, lda, rows, p, kept, row_ports, col_ports, port_block);
}
[[gnu::target("avx512f,fma")]] void TrsmAvx512(std::int64_t m, std::int64_t n, const double* l,
                                               std::int64_t ldl, double* b, std::int64_t ldb) {
  LoopsTrsm(m, n, l, ldl, b, ldb);
}
[[gnu::target("avx512f,fma")]] void SyrkAvx512(std::int64_t n, std::int64_t k, const double* a,
                                               std::int64_t lda, double* c, std::int64_t ldc) {
  LoopsSyrkLower(n, k, a, lda, c, ldc);
}
#endif

int LoopsCholeskyFor(Isa isa, double* a, std::int64_t lda, std::int64_t rows, std::int64_t p,
                     std::int64_t kept, std::int64_t row_ports, std::int64_t col_ports,
                     double* port_block) {
#ifdef AIMC_DENSE_X86
  if (isa == Isa::kAvx512) {
    return CholeskyAvx512(a, lda, rows, p, kept, row_ports, col_ports, port_block);
  }
  if (isa == Isa::kAvx2)
    return CholeskyAvx2(a, lda, rows, p, kept, row_ports, col_ports, port_block);
#endif
  return CholeskyPortable(a, lda, rows, p, kept, row_ports, col_ports, port_block);
}

void LoopsTrsmFor(Isa isa, std::int64_t m, std::int64_t n, const double* l, std::int64_t ldl,
                  double* b, std::int64_t ldb) {
#ifdef AIMC_DENSE_X86
  if (isa == Isa::kAvx512) return TrsmAvx512(m, n, l, ldl, b, ldb);
  if (isa == Isa::kAvx2) return TrsmAvx2(m, n, l, ldl, b, ldb);
#endif
  TrsmPortable(m, n, l, ldl, b, ldb);
}

// Where a recursion splits n columns: half, rounded to a multiple of 16 (whole micro-tiles).
std::int64_t Split(std::int64_t n) { return std::max<std::int64_t>(16, n / 2 / 16 * 16); }

}  // namespace

bool Supported(Isa isa) {
#ifdef AIMC_DENSE_X86
  switch (isa) {
    case Isa::kPortable:
      return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return isa == Isa::kPortable;
#endif
}

Isa Best() {
  static const Isa best = [] {
    if (Supported(Isa::kAvx512)) return Isa::kAvx512;
    if (Supported(Isa::kAvx2)) return Isa::kAvx2;
    return Isa::kPortable;
  }();
  return best;
}

const char* ToString(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
  }
  return "?";
}

void GemmNtMinus(std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
                 const double* b, std::int64_t ldb, double* c, std::int64_t ldc, bool lower,
                 Isa isa) {
  if (m <= 0 || n <= 0 || k <= 0) return;
#ifdef AIMC_DENSE_X86
  if (isa == Isa::kAvx512) return Gemm<16, 12>(MicroAvx512, m, n, k, a, lda, b, ldb, c, ldc, lower);
  if (isa == Isa::kAvx2) return Gemm<8, 6>(MicroAvx2, m, n, k, a, lda, b, ldb, c, ldc, lower);
#endif
  Gemm<4, 4>(MicroPortable<4, 4>, m, n, k, a, lda, b, ldb, c, ldc, lower);
}

int EliminateSmallFront(double* front, std::int64_t size, std::int64_t pivots, std::int64_t kept,
                        std::int64_t row_ports, std::int64_t col_ports, double* port_block,
                        Isa isa) {
  return LoopsCholeskyFor(isa, front, size, size, pivots, kept, row_ports, col_ports, port_block);
}

void SyrkLowerLoops(std::int64_t n, std::int64_t k, const double* a, std::int64_t lda, double* c,
                    std::int64_t ldc, Isa isa) {
  if (n <= 0) return;
#ifdef AIMC_DENSE_X86
  if (isa == Isa::kAvx512) return SyrkAvx512(n, k, a, lda, c, ldc);
  if (isa == Isa::kAvx2) return SyrkAvx2(n, k, a, lda, c, ldc);
#endif
  SyrkPortable(n, k, a, lda, c, ldc);
}

void TrsmRightLowerTranspose(std::int64_t m, std::int64_t n, const double* l, std::int64_t ldl,
                             double* b, std::int64_t ldb, Isa isa) {
  if (m <= 0 || n <= 0) return;
  if (n <= kTrsmLeaf) return LoopsTrsmFor(isa, m, n, l, ldl, b, ldb);
  // [X1 X2] [L11 0; L21 L22]^T = [B1 B2]: X1 = B1 L11^-T, X2 = (B2 - X1 L21^T) L22^-T.
  const std::int64_t n1 = Split(n);
  TrsmRightLowerTranspose(m, n1, l, ldl, b, ldb, isa);
  GemmNtMinus(m, n - n1, n1, b, ldb, l + n1, ldl, b + n1 * ldb, ldb, false, isa);
  TrsmRightLowerTranspose(m, n - n1, l + n1 + n1 * ldl, ldl, b + n1 * ldb, ldb, isa);
}

int Potrf(std::int64_t n, double* a, std::int64_t lda, Isa isa) {
  if (n <= kPotrfLeaf) return LoopsCholeskyFor(isa, a, lda, n, n, n, 0, 0, nullptr);
  // L11 = chol(A11), L21 = A21 L11^-T, L22 = chol(A22 - L21 L21^T).
  const std::int64_t n1 = Split(n);
  if (const int info = Potrf(n1, a, lda, isa); info > 0) return info;
  double* a21 = a + n1;
  double* a22 = a + n1 + n1 * lda;
  TrsmRightLowerTranspose(n - n1, n1, a, lda, a21, lda, isa);
  GemmNtMinus(n - n1, n - n1, n1, a21, lda, a21, lda, a22, lda, true, isa);
  if (const int info = Potrf(n - n1, a22, lda, isa); info > 0) return info + int(n1);
  return 0;
}

}  // namespace aimc::circuit::internal::dense
