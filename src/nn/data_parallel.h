#pragma once
// Data-parallel training (TrainOptions::ranks > 1): what the ranks share, and how.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::nn::internal {

/// Items [begin, begin + size) of n split over `ranks` in contiguous parts whose sizes differ by
/// at most one: rank r's part.
struct Part {
  std::int64_t begin = 0;
  std::int64_t size = 0;
};
Part PartOf(std::int64_t n, int rank, int ranks);

/// "one process" or "N data-parallel ranks", for messages.
std::string RanksText(int ranks);

/// Sums every parameter's gradient over the ranks in place: all of them packed into `flat` (kept
/// between steps), one AllReduceSum, unpacked. Which gradients exist is the same on every rank
/// (the same network and code path), so the packing is too.
void SumGradients(const std::vector<torch::Tensor>& parameters, torch::Tensor& flat);

/// Averages the BatchNorm running statistics over the ranks (each rank's come from its shards).
/// They are exponential averages of the batch statistics, linear in them, so averaging once per
/// epoch gives what averaging every step would, at no cost per step. Sums in double: values that
/// are the same on every rank stay exactly what they are.
void AverageRunningStats(NetworkImpl& net, int ranks);

/// Throws CollectiveError on every rank unless `mine` is rank 0's on every rank; `what` says
/// what differs, given the number of ranks whose value is not rank 0's.
void RequireSameOnEveryRank(const std::string& mine,
                            const std::function<std::string(std::int64_t)>& what);

/// What every rank must hold alike after an epoch: the parameters, the buffers (BatchNorm
/// statistics after averaging) and the next draw of every layer's training noise (a probe of the
/// noise streams: same seed and same number of draws; they are seeded afresh at the next epoch's
/// start, so the probe changes nothing). 16 hex digits.
std::string StateFingerprint(NetworkImpl& net);

/// The content a rank sees of a file that every rank reads: its hash, or why there is none.
std::string Seen(const std::filesystem::path& path);

/// The noise-free test accuracy. Data-parallel: each rank evaluates a contiguous run of the
/// evaluation batches of one process (the same batches, so the same arithmetic), and the correct
/// counts are summed.
double TestAccuracy(NetworkImpl& net, const Dataset& test, int rank, int ranks);

}  // namespace aimc::nn::internal
