#pragma once

#include <cstdint>
#include <vector>

#include "aimc/experiment/chip_spec.h"
#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::experiment {

/// The accuracy on `data` of the chips with the given seeds, `chips_per_pass` of them side by
/// side in each pass over the data (their tiles built in parallel); 0 picks it from the network's
/// size. The result does not depend on chips_per_pass or on the thread count. `wrong`, when
/// given, receives each chip's misclassified images (nn::WrongImages), one row per seed.
std::vector<double> EvaluateChips(nn::NetworkImpl& network, const nn::Dataset& data,
                                  const ChipSpec& spec, const std::vector<std::uint64_t>& seeds,
                                  int chips_per_pass = 0,
                                  std::vector<std::vector<std::uint8_t>>* wrong = nullptr);

/// Accuracy over Monte-Carlo chips: mean, sample std (n - 1), min, max.
struct ChipStats {
  std::vector<double> accuracies;
  double mean = 0.0, stddev = 0.0, min = 0.0, max = 0.0;
};
ChipStats Summarize(std::vector<double> accuracies);

/// `chips` chips of `spec` (chip c from Rng::Derive(seed, c)), each over the whole of `data`.
/// Chips are evaluated chips_per_pass at a time (EvaluateChips; 0: automatic).
ChipStats TestChips(nn::NetworkImpl& network, const nn::Dataset& data, const ChipSpec& spec,
                    int chips, std::uint64_t seed, bool progress = false, int chips_per_pass = 0);

}  // namespace aimc::experiment
