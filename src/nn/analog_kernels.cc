#include "analog_kernels.h"

#include <bit>
#include <cmath>
#include <cstdint>

#include "aimc/common/vector_clones.h"

namespace aimc::nn::kernels {

namespace {

// Float partial sums in 16 lanes (vectorized without reassociating a single sum), emptied into
// a double every kBlock elements so that a long range keeps its precision.
constexpr std::int64_t kLanes = 16;
constexpr std::int64_t kBlock = 4096;

}  // namespace

AIMC_VECTOR_CLONES
void DacForward(const float* x, float* out, std::int64_t n, float lo, float hi, float step) {
  for (std::int64_t i = 0; i < n; ++i) {
    float v = x[i] < lo ? lo : x[i];
    v = v > hi ? hi : v;
    out[i] = std::nearbyint(v / step) * step;
  }
}

namespace {

// g where `on`, else +0: a bit mask rather than a product or a ?:, which GCC makes a branch in
// some of these loops (and a branch on random data costs more than the whole vector pass).
inline float Keep(float g, bool on) {
  return std::bit_cast<float>(std::bit_cast<std::uint32_t>(g) &
                              (0u - static_cast<std::uint32_t>(on)));
}

// The gradient to x where the clip passes it: 0 < x <= alpha; signed, -alpha <= x <= alpha.
template <bool kSigned>
inline float DacPass(float g, float v, float alpha) {
  return Keep(g, (kSigned ? v >= -alpha : v > 0.0f) & (v <= alpha));
}

// The gradient to alpha: g where x > alpha; signed, minus g where x < -alpha too.
template <bool kSigned>
inline float DacOver(float g, float v, float alpha) {
  return kSigned ? Keep(g, v > alpha) - Keep(g, v < -alpha) : Keep(g, v > alpha);
}

// DacBackward's loop, one per polarity so that each is branch-free.
template <bool kSigned>
inline double DacBackwardLoop(const float* __restrict g, const float* __restrict x,
                              float* __restrict gx, std::int64_t n, float alpha) {
  double total = 0.0;
  for (std::int64_t b = 0; b < n; b += kBlock) {
    const std::int64_t e = b + kBlock < n ? b + kBlock : n;
    float lanes[kLanes] = {};
    std::int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) {
      for (std::int64_t j = 0; j < kLanes; ++j) {
        lanes[j] += DacOver<kSigned>(g[i + j], x[i + j], alpha);
        gx[i + j] = DacPass<kSigned>(g[i + j], x[i + j], alpha);
      }
    }
    for (; i < e; ++i) {
      lanes[0] += DacOver<kSigned>(g[i], x[i], alpha);
      gx[i] = DacPass<kSigned>(g[i], x[i], alpha);
    }
    for (const float l : lanes) total += l;
  }
  return total;
}

}  // namespace

AIMC_VECTOR_CLONES
double DacBackward(const float* g, const float* x, float* gx, std::int64_t n, float alpha,
                   bool is_signed) {
  return is_signed ? DacBackwardLoop<true>(g, x, gx, n, alpha)
                   : DacBackwardLoop<false>(g, x, gx, n, alpha);
}

AIMC_VECTOR_CLONES
void AboveThreshold(const float* w, std::int64_t n, float delta, double* sum,
                    std::int64_t* count) {
  double total = 0.0;
  std::int64_t above = 0;
  for (std::int64_t b = 0; b < n; b += kBlock) {
    const std::int64_t e = b + kBlock < n ? b + kBlock : n;
    float lanes[kLanes] = {};
    std::int32_t counts[kLanes] = {};
    std::int64_t i = b;
    for (; i + kLanes <= e; i += kLanes) {
      for (std::int64_t j = 0; j < kLanes; ++j) {
        const float a = std::fabs(w[i + j]);
        const bool on = a > delta;
        lanes[j] += on ? a : 0.0f;
        counts[j] += on ? 1 : 0;
      }
    }
    for (; i < e; ++i) {
      const float a = std::fabs(w[i]);
      if (a > delta) {
        lanes[0] += a;
        ++counts[0];
      }
    }
    for (std::int64_t j = 0; j < kLanes; ++j) {
      total += lanes[j];
      above += counts[j];
    }
  }
  *sum = total;
  *count = above;
}

AIMC_VECTOR_CLONES
void TernaryWeightRow(const float* w, const float* deviation, const float* z, float* out,
                      std::int64_t n, float delta, float scale, float noise) {
  // One loop per case, so that each is a plain vectorizable loop.
  const auto level = [delta](float v) {
    return static_cast<float>(static_cast<int>(v > delta) - static_cast<int>(v < -delta));
  };
  if (deviation != nullptr && z != nullptr) {
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = (level(w[i]) + deviation[i] + noise * z[i]) * scale;
  } else if (deviation != nullptr) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = (level(w[i]) + deviation[i]) * scale;
  } else if (z != nullptr) {
    for (std::int64_t i = 0; i < n; ++i) out[i] = (level(w[i]) + noise * z[i]) * scale;
  } else {
    for (std::int64_t i = 0; i < n; ++i) out[i] = level(w[i]) * scale;
  }
}

AIMC_VECTOR_CLONES
void SqrtTimes(const float* z, const float* xi, float* out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = z[i] < 0.0f ? 0.0f : z[i];
    out[i] = std::sqrt(v) * xi[i];
  }
}

}  // namespace aimc::nn::kernels
