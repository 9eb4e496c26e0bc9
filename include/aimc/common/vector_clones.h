#pragma once

// A plain loop over float arrays compiled twice, for AVX2 and for the baseline, and chosen when
// the library loads by the CPU it runs on (GCC's target_clones, through glibc's ifunc): at the
// baseline's SSE2 a rounding or a select is slower, and the loops lose to LibTorch's own
// vectorized passes; at AVX2 they win. Only for functions free of LibTorch and of lambdas (a
// clone does not reach into a lambda's body).
#define AIMC_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
