#include "chip_kernels.h"

#include "aimc/common/vector_clones.h"

namespace aimc::experiment::kernels {

AIMC_VECTOR_CLONES
void TmrBiasPre(const float* x, float* out, std::int64_t n, double volts_per_unit,
                double v_half_v, double tmr0) {
  // The same double operations in the same order as ShapeMinusOne: the same values, bit for bit
  // (the AVX2 clone has no FMA to contract them).
  for (std::int64_t i = 0; i < n; ++i) {
    const double xd = static_cast<double>(x[i]);
    const double r = xd * volts_per_unit / v_half_v;
    const double tmr = tmr0 / (1 + r * r);
    out[i] = static_cast<float>(xd * ((tmr0 - tmr) / (1 + tmr)));
  }
}

}  // namespace aimc::experiment::kernels
