#include "aimc/nn/evaluate.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/nn/analog_layer.h"
#include "aimc/nn/runtime.h"
#include "evaluate_internal.h"

namespace aimc::nn {

void RequireFits(const NetworkOptions& network, const Dataset& data) {
  if (data.size() == 0) return;
  Require(data.images.dim() == 4 && data.images.size(1) == network.in_channels &&
              data.images.size(2) == network.image_size &&
              data.images.size(3) == network.image_size &&
              (data.classes == 0 || data.classes == network.classes),
          "data '{}' ({} channels, {}x{}, {} classes) does not fit the network {} ({} channels, "
          "{}x{}, {} classes)",
          data.name, data.images.size(1), data.images.size(2), data.images.size(3), data.classes,
          network.arch, network.in_channels, network.image_size, network.image_size,
          network.classes);
}

namespace {

// OpenBLAS's thread count for a scope, restored after it. OpenBLAS queues concurrent callers
// while it runs threads of its own; called single-threaded it runs them side by side.
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads) {
    using GetFn = int (*)();
    auto* get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (get == nullptr || Set() == nullptr) return;
    previous_ = get();
    Set()(threads);
  }
  ~ScopedBlasThreads() {
    if (previous_ > 0) Set()(previous_);
  }
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  using SetFn = void (*)(int);
  static SetFn Set() { return reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
  int previous_ = 0;
};

}  // namespace

namespace internal {

torch::Tensor CorrectFlags(NetworkImpl& network, const Dataset& data, std::int64_t batch_size) {
  Require(batch_size >= 1, "batch_size must be >= 1, got {}", batch_size);
  RequireFits(network.options(), data);
  KeepLargeBlocks();
  network.eval();
  const std::int64_t chips = network.chips();
  const std::int64_t batches = (data.size() + batch_size - 1) / batch_size;
  std::vector<torch::Tensor> correct(static_cast<std::size_t>(batches));
  const ScopedBlasThreads blas(1);
  at::parallel_for(0, batches, 1, [&](std::int64_t first, std::int64_t last) {
    torch::NoGradGuard no_grad;
    for (std::int64_t b = first; b < last; ++b) {
      const std::int64_t start = b * batch_size;
      const std::int64_t n = std::min(batch_size, data.size() - start);
      const ReadIndexScope reads(start);  // read noise per image, whatever the batch
      const torch::Tensor logits = network.forward(ToInput(data.images.narrow(0, start, n)));
      const torch::Tensor predicted = logits.view({n, chips, -1}).argmax(2);
      correct[static_cast<std::size_t>(b)] =
          predicted.eq(data.labels.narrow(0, start, n).unsqueeze(1));
    }
  });
  if (correct.empty()) return torch::zeros({0, chips}, torch::kBool);
  return torch::cat(correct, 0);
}

torch::Tensor CountCorrect(NetworkImpl& network, const Dataset& data, std::int64_t batch_size) {
  return CorrectFlags(network, data, batch_size).sum(0, /*keepdim=*/false, torch::kLong);
}

}  // namespace internal

double Evaluate(NetworkImpl& network, const Dataset& data, std::int64_t batch_size) {
  Require(network.chips() == 1,
          "Evaluate: {} chips are programmed side by side; use EvaluateSideBySide",
          network.chips());
  const torch::Tensor correct = internal::CountCorrect(network, data, batch_size);
  return data.size() == 0 ? 0.0
                          : static_cast<double>(correct[0].item<std::int64_t>()) /
                                static_cast<double>(data.size());
}

std::vector<double> EvaluateSideBySide(NetworkImpl& network, const Dataset& data,
                                       std::int64_t batch_size) {
  const torch::Tensor correct = internal::CountCorrect(network, data, batch_size);
  std::vector<double> accuracy(static_cast<std::size_t>(correct.size(0)), 0.0);
  for (std::size_t k = 0; k < accuracy.size(); ++k) {
    if (data.size() > 0)
      accuracy[k] = static_cast<double>(correct[static_cast<std::int64_t>(k)].item<std::int64_t>()) /
                    static_cast<double>(data.size());
  }
  return accuracy;
}

std::vector<std::vector<std::uint8_t>> WrongImages(NetworkImpl& network, const Dataset& data,
                                                   std::int64_t batch_size) {
  const torch::Tensor wrong =
      internal::CorrectFlags(network, data, batch_size).logical_not().t().contiguous().to(torch::kUInt8);
  std::vector<std::vector<std::uint8_t>> rows(static_cast<std::size_t>(wrong.size(0)));
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const std::uint8_t* p = wrong[static_cast<std::int64_t>(k)].data_ptr<std::uint8_t>();
    rows[k].assign(p, p + wrong.size(1));
  }
  return rows;
}

}  // namespace aimc::nn
