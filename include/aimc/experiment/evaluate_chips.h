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

/// Chips of `spec` with the given seeds, programmed side by side on `network` (their tiles built
/// in parallel) for the object's life, as EvaluateChips programs them: what Python's
/// aimc.analog evaluates a user's data with. The network is claimed while it lives.
class ProgrammedChips {
 public:
  ProgrammedChips(nn::NetworkImpl& network, const ChipSpec& spec,
                  const std::vector<std::uint64_t>& seeds);
  ~ProgrammedChips();
  ProgrammedChips(const ProgrammedChips&) = delete;
  ProgrammedChips& operator=(const ProgrammedChips&) = delete;
  std::int64_t chips() const { return chips_; }
  /// The chips' logits (N, K, classes) for the network's inputs `input` (float, (N, C, H, W)),
  /// sample n being read number first + n (its index in the data: read noise per sample).
  torch::Tensor Logits(const torch::Tensor& input, std::int64_t first) const;
  /// Images per forward pass of EvaluateChips with `chips` side by side.
  static std::int64_t BatchSize(std::int64_t chips);

 private:
  nn::NetworkImpl& network_;
  std::int64_t chips_ = 0;
};

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
