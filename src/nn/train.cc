#include "aimc/nn/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/nn/analog_layer.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/runtime.h"
#include "augment.h"
#include "data_parallel.h"
#include "model_io_internal.h"

namespace aimc::nn {
namespace fs = std::filesystem;

NetworkOptions NetworkFor(const std::string& arch, const Dataset& train) {
  NetworkOptions o;
  o.arch = arch;
  o.in_channels = train.images.size(1);
  o.image_size = train.images.size(2);
  Require(train.images.size(2) == train.images.size(3), "{}: images are not square",
          train.name);
  Require(o.image_size == 28 || o.image_size == 32,
          "{}: images are {}x{}; the networks (lenet5, resnet26) take 28x28 or 32x32 images "
          "(resize the data)",
          train.name, o.image_size, o.image_size);
  o.classes = train.classes;
  return o;
}

namespace {

// Streams of Rng::Derive(seed, stream) per epoch, kept apart so that no two draws share a seed.
constexpr std::uint64_t kShuffleStream = 1'000'000;
constexpr std::uint64_t kNoiseStream = 2'000'000;
constexpr std::uint64_t kAugmentStream = 3'000'000;

// Train's run after its checks of the options; `set_up` turns true when the first epoch starts.
Model TrainRun(const NetworkOptions& network_options, const TrainOptions& options,
               const DataSplit& data, const fs::path& checkpoint,
               const std::function<void(const EpochStats&)>& on_epoch, bool& set_up) {
  const int ranks = options.ranks;
  const int rank = ranks > 1 ? cluster::Rank() : 0;
  const Dataset train = data.train.Head(options.train_subset);
  const Dataset test = data.test.Head(options.test_subset);
  if (ranks == 1)
    Require(train.size() >= 2, "training needs at least 2 images (BatchNorm), got {}",
            train.size());
  else
    Require(train.size() >= 2 * ranks,
            "training on {} ranks needs at least {} images (BatchNorm: 2 per rank), got {}", ranks,
            2 * ranks, train.size());
  RequireFits(network_options, train);
  RequireFits(network_options, test);
  if (!checkpoint.empty()) RequireOutputFile(checkpoint);

  Model result;
  result.info.network = network_options;
  result.info.training = options;
  result.info.class_names = train.class_names;
  result.network = MakeNetwork(network_options, options.seed);
  NetworkImpl& net = *result.network;
  if (!options.init_from.empty()) {
    Require(checkpoint.empty() || !fs::exists(checkpoint) ||
                !fs::equivalent(checkpoint, options.init_from),
            "init_from {} is also the checkpoint: fine-tune into another file",
            options.init_from.string());
    std::string hash;
    try {
      hash = HashFile(options.init_from);
    } catch (const Error& e) {
      Rethrow(e, "the init model, init_from");
    }
    Require(options.init_from_hash.empty() || options.init_from_hash == hash,
            "init_from {} has content hash {}, but init_from_hash is {}: another model file",
            options.init_from.string(), hash, options.init_from_hash);
    result.info.training.init_from_hash = hash;  // saved, and compared on resume
    internal::LoadInit(options.init_from, net);
  }
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(options.learning_rate)
                                                     .weight_decay(options.weight_decay));

  if (!checkpoint.empty() && fs::exists(checkpoint)) {
    torch::serialize::InputArchive archive;
    internal::OpenArchive(checkpoint, archive);
    const ModelInfo saved = internal::ReadInfo(archive, checkpoint);
    TrainOptions with_saved_ranks = result.info.training;
    with_saved_ranks.ranks = saved.training.ranks;
    if (saved.training.ranks != options.ranks &&
        saved.network.ToJson() == network_options.ToJson() &&
        saved.training.SameWeightsAs(with_saved_ranks))
      Fail("{}: the checkpoint was trained on {}, this run is on {}: the float sums of a "
           "data-parallel step depend on the number of ranks, so it resumes on {} only ({}), or "
           "train into another file",
           checkpoint.string(), internal::RanksText(saved.training.ranks),
           internal::RanksText(options.ranks), internal::RanksText(saved.training.ranks),
           saved.training.ranks == 1 ? "without mpirun"
                                     : fmt::format("mpirun -np {}", saved.training.ranks));
    Require(saved.network.ToJson() == network_options.ToJson() &&
                saved.training.SameWeightsAs(result.info.training),
            "{}: a checkpoint with other options is there ({}); remove it or choose another "
            "--out",
            checkpoint.string(), saved.ToJson().dump());
    torch::serialize::InputArchive opt;
    Require(archive.try_read("optimizer", opt),
            "{}: not a training checkpoint (no optimizer state)", checkpoint.string());
    internal::LoadWeights(checkpoint, net, archive);
    try {
      optimizer.load(opt);
    } catch (const c10::Error& e) {
      Fail("{}: the optimizer state does not fit the network ({})", checkpoint.string(),
           e.what_without_backtrace());
    }
    result.info.epochs_done = saved.epochs_done;
    result.info.history = saved.history;
    if (saved.epochs_done > 0)
      spdlog::info("resuming {} after epoch {}/{}", checkpoint.string(), saved.epochs_done,
                   options.epochs);
  }

  const std::int64_t n = train.size();
  // A last batch too small to give every rank 2 images (BatchNorm) joins the one before: with
  // one process, a last batch of one image.
  const std::int64_t smallest_batch = 2 * std::int64_t{ranks};
  const std::vector<torch::Tensor> parameters = net.parameters();
  torch::Tensor gradients;  // data-parallel: every gradient in one buffer
  set_up = true;
  for (int epoch = result.info.epochs_done + 1; epoch <= options.epochs; ++epoch) {
    const auto e = static_cast<std::uint64_t>(epoch);
    // Cosine decay, a function of the epoch alone so that a resumed run matches.
    const double lr = options.learning_rate * 0.5 *
                      (1.0 + std::cos(std::numbers::pi * (epoch - 1) / options.epochs));
    for (auto& group : optimizer.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    net.train();
    // The same seeds on every rank of a data-parallel run: the same shuffle, noise and shifts.
    net.SetTrainingNoise(options.sigma_train, Rng::Derive(options.seed, kNoiseStream + e));
    at::Generator shuffle = MakeGenerator(Rng::Derive(options.seed, kShuffleStream + e));
    at::Generator augment = MakeGenerator(Rng::Derive(options.seed, kAugmentStream + e));
    const torch::Tensor order = at::randperm(n, shuffle, torch::kLong);

    std::optional<Progress> bar;
    if (options.progress)
      bar.emplace(fmt::format("epoch {}/{}", epoch, options.epochs), static_cast<std::size_t>(n),
                  "img");
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0.0;
    double sum_seconds = 0.0;  // data-parallel: in the gradient sums, waits included
    std::int64_t correct = 0, seen = 0;
    // Steps are numbered over epochs: every epoch has the same number of batches.
    std::int64_t steps_per_epoch = 0;
    for (std::int64_t f = 0, bb = 0; f < n; f += bb, ++steps_per_epoch) {
      bb = std::min(options.batch_size, n - f);
      if (n - f - bb > 0 && n - f - bb < smallest_batch) bb = n - f;
    }
    const std::int64_t steps_before = steps_per_epoch * (epoch - 1);
    std::int64_t step_in_epoch = 0;
    for (std::int64_t first = 0, b = 0; first < n; first += b) {
      b = std::min(options.batch_size, n - first);
      if (n - first - b > 0 && n - first - b < smallest_batch) b = n - first;
      // This rank's shard of the batch (all of it with one process).
      const internal::Part shard = internal::PartOf(b, rank, ranks);
      const torch::Tensor idx = order.narrow(0, first + shard.begin, shard.size);
      torch::Tensor x = ToInput(train.images.index_select(0, idx));
      if (options.augment) x = internal::Augment(x, augment, b, shard.begin);
      const torch::Tensor y = train.labels.index_select(0, idx);
      if (options.before_step) {
        options.before_step(net, steps_before + step_in_epoch);
        net.train();
      }
      ++step_in_epoch;
      optimizer.zero_grad();
      const torch::Tensor logits = net.forward(x);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      if (ranks == 1) {
        loss.backward();
      } else {
        // The batch's mean loss is the sum over ranks of shard mean x shard / batch.
        (loss * (static_cast<double>(shard.size) / static_cast<double>(b))).backward();
        const auto sum_start = std::chrono::steady_clock::now();
        internal::SumGradients(parameters, gradients);
        sum_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - sum_start).count();
      }
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(shard.size);
      correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
      seen += shard.size;
      if (bar)  // data-parallel: rank 0's shards
        bar->Update(static_cast<std::size_t>(first + b),
                    fmt::format("loss {:.4f} acc {:.2f} %", loss_sum / static_cast<double>(seen),
                                100.0 * static_cast<double>(correct) / static_cast<double>(seen)));
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (bar) bar->Finish();
    if (ranks > 1) {
      spdlog::info("epoch {}: {:.2f} s of the {:.2f} s went to the gradient sums over {} ranks "
                   "(waits for the slowest rank included)",
                   epoch, sum_seconds, seconds, ranks);
      // The sums over ranks, and rank 0's time.
      double sums[2] = {loss_sum, cluster::IsWriter() ? seconds : 0.0};
      cluster::AllReduceSum(sums, 2);
      loss_sum = sums[0];
      seconds = sums[1];
      cluster::AllReduceSum(&correct, 1);
      internal::AverageRunningStats(net, ranks);
      internal::RequireSameOnEveryRank(internal::StateFingerprint(net), [&](std::int64_t differ) {
        return fmt::format(
            "after epoch {}, {} of {} ranks hold other parameters, BatchNorm statistics or weight "
            "noise than rank 0: the ranks' sums or draws differ (is the MPI library's sum the "
            "same on every rank?)",
            epoch, differ, ranks);
      });
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.loss = loss_sum / static_cast<double>(n);
    stats.train_accuracy = static_cast<double>(correct) / static_cast<double>(n);
    stats.seconds = seconds;
    stats.images_per_second = static_cast<double>(n) / seconds;
    stats.test_accuracy = test.size() > 0 ? internal::TestAccuracy(net, test, rank, ranks) : 0.0;
    result.info.history.push_back(stats);
    result.info.epochs_done = epoch;
    if (!checkpoint.empty()) {
      const auto save = [&] { internal::SaveCheckpoint(checkpoint, net, &optimizer, result.info); };
      if (ranks > 1)
        cluster::OnWriter(save);  // rank 0 writes; its error is every rank's
      else
        save();
    }
    if (on_epoch) on_epoch(stats);
  }
  // Fine-tuning for 0 epochs still leaves its model file.
  if (!checkpoint.empty()) {
    const auto save = [&] {
      if (!fs::exists(checkpoint))
        internal::SaveCheckpoint(checkpoint, net, &optimizer, result.info);
    };
    if (ranks > 1)
      cluster::OnWriter(save);
    else
      save();
  }
  net.eval();
  return result;
}

}  // namespace

Model Train(const NetworkOptions& network_options, const TrainOptions& options,
            const DataSplit& data, const fs::path& checkpoint,
            const std::function<void(const EpochStats&)>& on_epoch) {
  KeepLargeBlocks();
  network_options.Validate();
  options.Validate();
  SetThreads(options.threads);
  const int ranks = options.ranks;
  if (ranks == 1) {
    bool set_up = false;
    return TrainRun(network_options, options, data, checkpoint, on_epoch, set_up);
  }
  // Data-parallel. Every rank checks the same options: an error here is every rank's.
  if (cluster::Size() != ranks)
    throw cluster::CollectiveError(
        fmt::format("data-parallel training on {} ranks needs an MPI job of {} ranks (mpirun -np "
                    "{}), but this one has {}",
                    ranks, ranks, ranks, cluster::Size()));
  // Every rank reads the init model and the checkpoint: the same content everywhere.
  std::string seen;
  if (!options.init_from.empty()) seen += "init_from " + internal::Seen(options.init_from);
  if (!checkpoint.empty()) seen += "; checkpoint " + internal::Seen(checkpoint);
  internal::RequireSameOnEveryRank(seen, [&](std::int64_t differ) {
    return fmt::format(
        "{} of {} ranks see another init model or checkpoint ({}, {}) than rank 0: in "
        "data-parallel training every rank reads them, so they must lie in a folder that every "
        "rank sees",
        differ, ranks, options.init_from.empty() ? "none" : options.init_from.string(),
        checkpoint.empty() ? "none" : checkpoint.string());
  });
  // The set-up reads nothing but the options, the data and those files, the same on every rank:
  // its errors are every rank's, said once.
  bool set_up = false;
  try {
    return TrainRun(network_options, options, data, checkpoint, on_epoch, set_up);
  } catch (const cluster::CollectiveError&) {
    throw;
  } catch (const Error& e) {
    if (set_up) throw;
    throw cluster::CollectiveError(e.what());
  }
}

}  // namespace aimc::nn
