#pragma once
// Process-wide settings of the LibTorch runtime: heap, threads, BLAS.

#include <string>

namespace aimc::nn {

/// Keeps large freed blocks in the heap for reuse (glibc; once per process). Batches of
/// activations and im2col matrices are tens to hundreds of MB: served by mmap and returned at
/// once, every batch pays for fresh zeroed pages (measured: ResNet-26 tests 2.2x faster on 1,000
/// images, a 10,000-image test on a chip 2x). Train, Evaluate and experiment::Chip call it.
void KeepLargeBlocks();

/// Throws aimc::Error unless `threads` is in 1..256 (SetThreads' range).
void RequireThreads(int threads);

/// Sets LibTorch's intra-op threads and, when OpenBLAS is the BLAS, OpenBLAS's threads too;
/// `threads` must be in 1..256.
void SetThreads(int threads);
/// "OpenBLAS <config>" when OpenBLAS is the BLAS in this process, else "reference or unknown".
std::string BlasInfo();

}  // namespace aimc::nn
