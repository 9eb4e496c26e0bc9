#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "aimc/common/fields.h"

namespace aimc::nn {

class NetworkImpl;

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
  /// It is JSON rather than a typed struct because the chip is defined in `experiment`, which
  /// builds on `nn`: training only stores it, compares it (SameWeightsAs) and saves it with the
  /// model (Validate checks that it is an object); experiment::IrAwareHook (before_step) is what
  /// acts on it.
  nlohmann::json hardware;
  /// Called before every training step (its number from 0, counted over epochs, so that a
  /// resumed run calls it alike) with the network in training mode: how `hardware` acts
  /// (experiment::IrAwareHook). Required exactly when `hardware` is set; not saved.
  std::function<void(NetworkImpl&, std::int64_t step)> before_step;

  /// The fields' ranges (TrainOptionsFields), then the rules between fields.
  void Validate() const;
  nlohmann::json ToJson() const;
  static TrainOptions FromJson(const nlohmann::json& json);
  /// True when `other` trains the same weights: all options equal but threads, the progress
  /// bar, the data folder's path and the init model's path (its content hash counts): what a
  /// checkpoint or a shipped model must match.
  bool SameWeightsAs(const TrainOptions& other) const;
};

/// The fields of TrainOptions (all but the hook): names, units, ranges and how the JSON of a model
/// file writes them (init_from and its hash only when fine-tuning, ranks only when not 1,
/// hardware only when set: models saved before these existed keep their bytes and hashes).
const FieldTable<TrainOptions>& TrainOptionsFields();

}  // namespace aimc::nn
