#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::nn {

/// How a network is trained (Fig. 12). Saved in every checkpoint.
struct TrainOptions {
  std::string dataset = "fashion-mnist";
  std::filesystem::path data_dir;  // empty: built-in data (see LoadData)
  int epochs = 10;                 // 0 only with init_from (a copy of the init model)
  std::int64_t batch_size = 128;
  double learning_rate = 2e-3;     // Adam; cosine decay to 0 over `epochs`
  double weight_decay = 0.0;
  double sigma_train = 0.0;        // sigma_w,train, relative to the unit weight
  std::uint64_t seed = 1;          // weights, shuffling, noise, augmentation
  std::int64_t train_subset = 0;   // first N training images only (0: all)
  std::int64_t test_subset = 0;    // first N test images only (0: all)
  bool augment = false;            // random shifts of up to 2 pixels (and flips for CIFAR)
  int threads = 1;                 // intra-op threads; 1 is as fast as 2 on a busy 2-core box
  bool progress = true;            // progress bar on stderr
  /// Data-parallel training over the ranks of an MPI job (see Train): 1 (the default) trains in
  /// this process alone and uses no MPI, even in a job of many ranks (the study trains
  /// independent networks on its ranks). N > 1 needs a job of exactly N ranks that all call
  /// Train alike, and batch_size >= 2 N (BatchNorm needs 2 images per rank). It changes the
  /// weights (the order of the float sums depends on N), so it is weight-defining, and ToJson
  /// writes it only when it is not 1: a one-process model keeps the bytes it always had.
  int ranks = 1;
  /// Fine-tuning: start from this model file's weights, BatchNorm buffers and PACT alphas
  /// instead of a random init (a fresh Adam state). Its network options must equal the trained
  /// network's. Empty: a random init from `seed`.
  std::filesystem::path init_from;
  /// HashFile(init_from), 16 hex digits: what defines the init, where the path only finds it.
  /// Train fills it in when empty and refuses a file whose content has another hash. Both keys
  /// are in ToJson only when fine-tuning.
  std::string init_from_hash;
  /// IR-drop-aware training: what the forward pass runs through (the chip's options, as
  /// experiment::IrAwareOptions::ToJson writes them); null for plain training. Weight-defining,
  /// and in ToJson only when set.
  nlohmann::json hardware;
  /// Called before every training step (its number from 0, counted over epochs, so that a
  /// resumed run calls it alike) with the network in training mode: how `hardware` acts
  /// (experiment::IrAwareHook). Required exactly when `hardware` is set; not saved.
  std::function<void(NetworkImpl&, std::int64_t step)> before_step;

  void Validate() const;
  nlohmann::json ToJson() const;
  static TrainOptions FromJson(const nlohmann::json& json);
  /// True when `other` trains the same weights: all options equal but threads, the progress
  /// bar, the data folder's path and the init model's path (its content hash counts): what a
  /// checkpoint or a shipped model must match.
  bool SameWeightsAs(const TrainOptions& other) const;
};

struct EpochStats {
  int epoch = 0;  // 1-based
  double loss = 0.0;
  double train_accuracy = 0.0;
  double test_accuracy = 0.0;  // noise-free test accuracy after the epoch
  double seconds = 0.0;        // training pass only
  double images_per_second = 0.0;
};

/// What a model file holds beside the weights.
struct ModelInfo {
  NetworkOptions network;
  TrainOptions training;
  int epochs_done = 0;
  std::vector<EpochStats> history;
  nlohmann::json ToJson() const;
  static ModelInfo FromJson(const nlohmann::json& json);
};

/// A network with what its model file says of it: what Train returns and LoadModel reads.
struct Model {
  Network network;
  ModelInfo info;
};

/// The network options for a data set: channels, image size and classes from the data.
NetworkOptions NetworkFor(const std::string& arch, const Dataset& train);

/// Trains `network_options` on `data`. When `checkpoint` is given, the model, optimizer, epoch,
/// options and seed are saved there after every epoch (atomically), and a checkpoint already
/// there with the same options is resumed: the run continues bit for bit as if never stopped
/// (the shuffling and noise of epoch e are drawn from seeds derived from (seed, e)).
/// With `options.init_from` it fine-tunes that model (hardware-aware fine-tuning of a clean
/// network: same loop, the init's weights instead of random ones); the result's options carry
/// the init's hash. `on_epoch` is called after every epoch.
///
/// Data-parallel (options.ranks = N > 1, in an MPI job of N ranks, every rank calling Train with
/// the same arguments): one network trained by all ranks. Every rank draws the same shuffle;
/// rank r takes the r-th contiguous shard of each global batch (sizes differ by at most one),
/// draws the augmentation of the whole global batch and applies its shard's part, and scales
/// its mean loss by shard / batch, so that the gradients summed over ranks (one MPI_Allreduce
/// of all gradients per step) are those of the global batch's mean loss. Every layer's weight
/// noise comes from the same seed on every rank: the same draw. Each rank's BatchNorm normalizes
/// its shard; the running statistics are averaged over ranks at the end of every epoch (they
/// are linear in the batch statistics, so this equals averaging every step). The test set is
/// sharded and the correct counts summed; the epoch's loss and accuracy are sums over ranks.
/// At the end of every epoch the ranks check that they hold the same parameters, buffers and
/// noise stream (a fingerprint compared over ranks), else every rank throws
/// cluster::CollectiveError. Only rank 0 writes the checkpoint (a failed write is every rank's
/// CollectiveError); every rank reads it to resume, so it must lie in a folder all ranks see
/// (checked: same content on every rank), and it resumes only with the same N. The result and
/// the `on_epoch` calls are the same on every rank; `on_epoch` must act alike on every rank (a
/// throw on some ranks only would leave the others waiting in the next step).
///
///   TrainOptions ft = clean.info.training;  // e.g. the clean model's data and subsets
///   ft.init_from = "clean.pt";
///   ft.sigma_train = 0.3;
///   ft.epochs = 2;
///   ft.learning_rate = 1e-3;
///   Model r = Train(clean.info.network, ft, data, "ft.pt");
Model Train(const NetworkOptions& network_options, const TrainOptions& options,
                  const DataSplit& data, const std::filesystem::path& checkpoint = {},
                  const std::function<void(const EpochStats&)>& on_epoch = nullptr);

/// Throws aimc::Error unless the data's images (channels, height, width) and classes are the
/// network's.
void RequireFits(const NetworkOptions& network, const Dataset& data);

/// Accuracy (0..1) on a data set in eval mode with the network's current chip (if any); the data
/// must fit the network (RequireFits).
double Evaluate(NetworkImpl& network, const Dataset& data, std::int64_t batch_size = 1000);
/// The accuracy of each of the network's programmed chips (NetworkImpl::ProgramChips), all in one
/// pass over `data`; batches of batch_size images.
std::vector<double> EvaluateChips(NetworkImpl& network, const Dataset& data,
                                  std::int64_t batch_size = 1000);


/// Model files (LibTorch archives): weights, buffers, ModelInfo as JSON, and, for checkpoints,
/// the optimizer state.
void SaveModel(const std::filesystem::path& path, NetworkImpl& network, const ModelInfo& info);
/// Loads a model saved by SaveModel or Train (errors name the file).
Model LoadModel(const std::filesystem::path& path);

/// Keeps large freed blocks in the heap for reuse (glibc; once per process). Batches of
/// activations and im2col matrices are tens to hundreds of MB: served by mmap and returned at
/// once, every batch pays for fresh zeroed pages (measured: ResNet-26 tests 2.2x faster on 1,000
/// images, a 10,000-image test on a chip 2x). Train, Evaluate and AnalogChip call it.
void KeepLargeBlocks();

/// Sets LibTorch's intra-op threads and, when OpenBLAS is the BLAS, OpenBLAS's threads too;
/// `threads` must be in 1..256.
void SetThreads(int threads);
/// "OpenBLAS <config>" when OpenBLAS is the BLAS in this process, else "reference or unknown".
std::string BlasInfo();

}  // namespace aimc::nn
