#pragma once

// A chip's element-wise passes as plain loops (aimc/common/vector_clones.h), each over one range
// so that callers split the work with at::parallel_for.

#include <cstdint>

namespace aimc::experiment::kernels {

/// s(V) - 1 of an MTJ state with bias-dependent TMR: s = (1 + TMR0) / (1 + TMR(V)),
/// TMR(V) = TMR0 / (1 + (V / V_h)^2), so s - 1 = (TMR0 - TMR(V)) / (1 + TMR(V)). The chip's
/// ShapeMinusOne and TmrBiasPre's loop both compute it here.
inline double TmrBiasShapeMinusOne(double v, double v_half_v, double tmr0) {
  const double r = v / v_half_v;
  const double tmr = tmr0 / (1 + r * r);
  return (tmr0 - tmr) / (1 + tmr);
}

/// The pre of a non-linear MTJ state (bias-dependent TMR) in double per element:
/// out = x (s(V) - 1), V = x * volts_per_unit (TmrBiasShapeMinusOne).
void TmrBiasPre(const float* x, float* out, std::int64_t n, double volts_per_unit,
                double v_half_v, double tmr0);

}  // namespace aimc::experiment::kernels
