#include "chip_kernels.h"

#include "aimc/common/vector_clones.h"

namespace aimc::experiment::kernels {

AIMC_VECTOR_CLONES
void TmrBiasPre(const float* x, float* out, std::int64_t n, double volts_per_unit,
                double v_half_v, double tmr0) {
  // Vectorized in double; the AVX2 clone has no FMA to contract the operations, so the values
  // are ShapeMinusOne's bit for bit.
  for (std::int64_t i = 0; i < n; ++i) {
    const double xd = static_cast<double>(x[i]);
    out[i] = static_cast<float>(xd * TmrBiasShapeMinusOne(xd * volts_per_unit, v_half_v, tmr0));
  }
}

}  // namespace aimc::experiment::kernels
