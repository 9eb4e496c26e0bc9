#include "data_parallel.h"

#include <algorithm>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/nn/analog_layer.h"
#include "aimc/nn/evaluate.h"
#include "evaluate_internal.h"

namespace aimc::nn::internal {
namespace fs = std::filesystem;

Part PartOf(std::int64_t n, int rank, int ranks) {
  const std::int64_t begin = n * rank / ranks, end = n * (rank + 1) / ranks;
  return {begin, end - begin};
}

std::string RanksText(int ranks) {
  return ranks == 1 ? "one process" : fmt::format("{} data-parallel ranks", ranks);
}

void SumGradients(const std::vector<torch::Tensor>& parameters, torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  std::int64_t total = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    Require(p.grad().scalar_type() == torch::kFloat,
            "data-parallel training sums float gradients, got {}",
            c10::toString(p.grad().scalar_type()));
    total += p.grad().numel();
  }
  if (!flat.defined() || flat.numel() < total) flat = torch::empty({total}, torch::kFloat);
  std::int64_t at = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    const std::int64_t k = p.grad().numel();
    flat.narrow(0, at, k).copy_(p.grad().reshape({-1}));
    at += k;
  }
  cluster::AllReduceSum(flat.data_ptr<float>(), static_cast<std::size_t>(total));
  at = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.grad();
    g.copy_(flat.narrow(0, at, g.numel()).view(g.sizes()));
    at += g.numel();
  }
}

void AverageRunningStats(NetworkImpl& net, int ranks) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> stats;
  for (const auto& b : net.named_buffers()) {
    if (b.key().ends_with("running_mean") || b.key().ends_with("running_var"))
      stats.push_back(b.value());
  }
  std::int64_t total = 0;
  for (const auto& t : stats) total += t.numel();
  torch::Tensor sums = torch::empty({total}, torch::kDouble);
  std::int64_t at = 0;
  for (const auto& t : stats) {
    sums.narrow(0, at, t.numel()).copy_(t.reshape({-1}));
    at += t.numel();
  }
  cluster::AllReduceSum(sums.data_ptr<double>(), static_cast<std::size_t>(total));
  sums.div_(static_cast<double>(ranks));
  at = 0;
  for (auto& t : stats) {
    t.copy_(sums.narrow(0, at, t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

void RequireSameOnEveryRank(const std::string& mine,
                            const std::function<std::string(std::int64_t)>& what) {
  std::string first = mine;
  cluster::Broadcast(first);
  std::int64_t differ = first == mine ? 0 : 1;
  cluster::AllReduceSum(&differ, 1);
  if (differ > 0) throw cluster::CollectiveError(what(differ));
}

std::string StateFingerprint(NetworkImpl& net) {
  torch::NoGradGuard no_grad;
  std::uint64_t h = Fnv1a64("");
  const auto add = [&h](const torch::Tensor& t) {
    const torch::Tensor c = t.contiguous();
    h = Fnv1a64(std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes()), h);
  };
  for (const auto& p : net.parameters()) add(p);
  for (const auto& b : net.buffers()) add(b);
  if (net.is_training())
    for (AnalogLayer layer : net.layers()) add(layer->EffectiveWeight());
  return fmt::format("{:016x}", h);
}

std::string Seen(const fs::path& path) {
  if (!fs::exists(path)) return "none";
  try {
    return HashFile(path);
  } catch (const Error&) {
    return "unreadable";
  }
}

double TestAccuracy(NetworkImpl& net, const Dataset& test, int rank, int ranks) {
  constexpr std::int64_t kBatch = 1000;  // Evaluate's
  if (ranks == 1) return Evaluate(net, test, kBatch);
  const Part batches = PartOf((test.size() + kBatch - 1) / kBatch, rank, ranks);
  const std::int64_t begin = std::min(batches.begin * kBatch, test.size());
  const std::int64_t end = std::min((batches.begin + batches.size) * kBatch, test.size());
  Dataset part = test;
  part.images = test.images.narrow(0, begin, end - begin);
  part.labels = test.labels.narrow(0, begin, end - begin);
  std::int64_t correct = CountCorrect(net, part, kBatch)[0].item<std::int64_t>();
  cluster::AllReduceSum(&correct, 1);
  return test.size() == 0 ? 0.0
                          : static_cast<double>(correct) / static_cast<double>(test.size());
}

}  // namespace aimc::nn::internal
