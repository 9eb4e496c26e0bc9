#pragma once

// Dense kernels of the front eliminations (column-major, lower triangles), written here rather
// than taken from BLAS so that a result depends on nothing but its inputs:
// - every entry is summed in one fixed order (k ascending, fused multiply-add, in blocks of
//   kDepth), whatever the vector width, so the AVX-512, AVX2 and portable paths agree bit for
//   bit, and no thread count enters (OpenBLAS 0.3.21's dgemm and dpotrf round differently with
//   one and two threads);
// - they run on the calling thread only: concurrent eliminations scale with their callers
//   instead of queueing on OpenBLAS's lock for threaded level-3 calls, and no BLAS thread is
//   woken for a front of a few hundred rows (on a busy machine that costs more than the front).
// A dispatch picks the widest instruction set the processor has, once.

#include <cstdint>

namespace aimc::circuit::internal::dense {

enum class Isa { kPortable, kAvx2, kAvx512 };

/// The instruction set the kernels use on this processor.
Isa Best();
/// Whether this processor can run `isa`.
bool Supported(Isa isa);
const char* ToString(Isa isa);

/// c (m x n) -= a (m x k) b (n x k)^T. With `lower`, only entries c(i, j) with i >= j are
/// required (c's diagonal on its first row and column); blocks wholly above it are skipped.
void GemmNtMinus(std::int64_t m, std::int64_t n, std::int64_t k, const double* a, std::int64_t lda,
                 const double* b, std::int64_t ldb, double* c, std::int64_t ldc, bool lower,
                 Isa isa = Best());

/// Cholesky factor of the n x n lower triangle of `a`, in place. Returns 0, or the 1-based
/// pivot that was not positive.
int Potrf(std::int64_t n, double* a, std::int64_t lda, Isa isa = Best());

/// b (m x n) = b L^-T for L (n x n) lower triangular in `l`.
void TrsmRightLowerTranspose(std::int64_t m, std::int64_t n, const double* l, std::int64_t ldl,
                             double* b, std::int64_t ldb, Isa isa = Best());

/// A small front (size x kept, column-major, lower) eliminated in place with plain loops, where
/// packing for the blocked kernels would cost more than the arithmetic: the Cholesky factor of
/// its first `pivots` columns and the update -L L^T of the other kept columns (rows >= column),
/// as one right-looking pass; and port_block (row_ports x col_ports) = -L_r L_c^T for the
/// row-port rows kept .. kept + row_ports - 1 and the column-port rows after them. Returns 0, or
/// the 1-based pivot that was not positive.
int EliminateSmallFront(double* front, std::int64_t size, std::int64_t pivots, std::int64_t kept,
                        std::int64_t row_ports, std::int64_t col_ports, double* port_block,
                        Isa isa = Best());

/// c (n x n) = -a a^T for a (n x k), lower triangle only (the entries above the diagonal are left
/// as they were), with plain loops: the row ports' own block of a small front's update.
void SyrkLowerLoops(std::int64_t n, std::int64_t k, const double* a, std::int64_t lda, double* c,
                    std::int64_t ldc, Isa isa = Best());

}  // namespace aimc::circuit::internal::dense
