#pragma once

// The weight levels a layer on arrays may have: 3 (ternary, the paper's), an odd K up to 255
// (integer levels in [-(K-1)/2, (K-1)/2] on multi-level devices), or 0: continuous weights on
// cards with analog states.

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "aimc/nn/quant.h"

namespace aimc::nn {

/// The range rule of a weight_levels field (FieldTable): 0 (continuous), or odd and in [3, 255].
inline std::function<std::string(const nlohmann::json&)> WeightLevelsRule() {
  return [](const nlohmann::json& v) {
    return IsWeightLevels(v.get<std::int64_t>()) ? std::string()
                                                 : std::string("must be ") + kWeightLevelsRule;
  };
}

}  // namespace aimc::nn
