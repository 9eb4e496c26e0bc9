#pragma once

// A chip's element-wise passes as plain loops (aimc/common/vector_clones.h), each over one range
// so that callers split the work with at::parallel_for.

#include <cstdint>

namespace aimc::experiment::kernels {

/// The pre of a non-linear MTJ state (bias-dependent TMR) in double per element, as
/// ShapeMinusOne's kTmrBias computes it: out = x (s(V) - 1), V = x * volts_per_unit,
/// s - 1 = (TMR0 - TMR(V)) / (1 + TMR(V)), TMR(V) = TMR0 / (1 + (V / V_h)^2).
void TmrBiasPre(const float* x, float* out, std::int64_t n, double volts_per_unit,
                double v_half_v, double tmr0);

}  // namespace aimc::experiment::kernels
