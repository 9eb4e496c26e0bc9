#include "aimc/nn/train_options.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/nn/data.h"
#include "aimc/nn/runtime.h"

namespace aimc::nn {
namespace {

// The options that do not change the weights: threads and the progress bar leave the
// arithmetic of a single-threaded run as it is (more threads may reorder sums), and the paths of
// the data folder and of the init model are not their content (init_from_hash is).
nlohmann::json WeightDefining(const TrainOptions& options) {
  nlohmann::json json = options.ToJson();
  for (const char* key : {"progress", "threads", "data_dir", "init_from"}) json.erase(key);
  return json;
}

}  // namespace

bool TrainOptions::SameWeightsAs(const TrainOptions& other) const {
  return WeightDefining(*this) == WeightDefining(other);
}

void TrainOptions::Validate() const {
  Require(IsDatasetName(dataset),
          "data must be mnist, fashion-mnist, cifar10, cifar100, or a user format npy, npz or "
          "folder (npy and npz optionally with a layout, npy:nhwc), got '{}'",
          dataset);
  Require(!IsUserDataset(dataset) || !data_dir.empty(),
          "data '{}' is a user's data set: give its path as the data folder (--data-dir)", dataset);
  if (init_from.empty())
    Require(epochs >= 1 && epochs <= 10000, "epochs must be in 1..10000, got {}", epochs);
  else
    Require(epochs >= 0 && epochs <= 10000,
            "epochs must be in 0..10000 when fine-tuning (0: a copy of init_from), got {}", epochs);
  // BatchNorm normalizes over the batch in training, which takes at least 2 images.
  Require(batch_size >= 2 && batch_size <= 65536,
          "batch_size must be in 2..65536 (BatchNorm needs 2 images per batch), got {}",
          batch_size);
  Require(ranks >= 1 && ranks <= 4096, "ranks must be in 1..4096, got {}", ranks);
  Require(batch_size >= 2 * std::int64_t{ranks},
          "batch_size {} over {} ranks leaves {} image(s) to a rank, but BatchNorm needs 2 images "
          "per rank: use a batch size of at least {} (or fewer ranks)",
          batch_size, ranks, batch_size / ranks, 2 * ranks);
  Require(learning_rate > 0.0 && learning_rate < 10.0, "learning_rate must be in (0, 10), got {}",
          learning_rate);
  Require(weight_decay >= 0.0 && weight_decay < 1.0, "weight_decay must be in [0, 1), got {}",
          weight_decay);
  Require(std::isfinite(sigma_train) && sigma_train >= 0.0 && sigma_train <= 10.0,
          "sigma_train must be in [0, 10], got {}", sigma_train);
  Require(train_subset >= 0 && test_subset >= 0, "subsets must be >= 0 (0: all), got {}/{}",
          train_subset, test_subset);
  RequireThreads(threads);
  Require(init_from_hash.empty() ||
              (init_from_hash.size() == 16 &&
               init_from_hash.find_first_not_of("0123456789abcdef") == std::string::npos),
          "init_from_hash must be 16 lowercase hex digits (aimc::HashFile) or empty, got '{}'",
          init_from_hash);
  Require(hardware.is_null() || hardware.is_object(),
          "hardware must be an object (the chip of IR-drop-aware training) or absent");
  Require(hardware.is_null() == !before_step,
          "hardware-aware training needs both its options (hardware) and its step hook "
          "(before_step)");
  Require(init_from_hash.empty() || !init_from.empty(),
          "init_from_hash is set ('{}') but init_from is empty: name the init model's file",
          init_from_hash);
}

nlohmann::json TrainOptions::ToJson() const {
  nlohmann::json json = {{"dataset", dataset},         {"data_dir", data_dir.string()},
                         {"epochs", epochs},           {"batch_size", batch_size},
                         {"learning_rate", learning_rate}, {"weight_decay", weight_decay},
                         {"sigma_train", sigma_train}, {"seed", seed},
                         {"train_subset", train_subset}, {"test_subset", test_subset},
                         {"augment", augment},         {"threads", threads},
                         {"progress", progress}};
  // Only for a fine-tuning run: a model from a random init is saved with the bytes it had before
  // fine-tuning existed, so a re-save keeps the content hash by which fine-tuned models name it.
  if (!init_from.empty() || !init_from_hash.empty()) {
    json["init_from"] = init_from.string();
    json["init_from_hash"] = init_from_hash;
  }
  // Likewise only for a data-parallel run (weight-defining: the sums depend on the ranks).
  if (ranks != 1) json["ranks"] = ranks;
  if (!hardware.is_null()) json["hardware"] = hardware;
  return json;
}

TrainOptions TrainOptions::FromJson(const nlohmann::json& json) {
  TrainOptions o;
  Require(json.is_object(), "training options: expected an object, got {}", json.dump());
  TrainOptions keys;
  keys.init_from = "-";
  keys.ranks = 2;
  keys.hardware = nlohmann::json::object();
  keys.before_step = [](NetworkImpl&, std::int64_t) {};
  RequireKnownKeys(json, keys.ToJson(), "training options");
  const std::string what = "training options";
  o.dataset = JsonValue(json, "dataset", o.dataset, what);
  o.data_dir = JsonValue(json, "data_dir", std::string(), what);
  o.epochs = JsonValue(json, "epochs", o.epochs, what);
  o.batch_size = JsonValue(json, "batch_size", o.batch_size, what);
  o.learning_rate = JsonValue(json, "learning_rate", o.learning_rate, what);
  o.weight_decay = JsonValue(json, "weight_decay", o.weight_decay, what);
  o.sigma_train = JsonValue(json, "sigma_train", o.sigma_train, what);
  o.seed = JsonValue(json, "seed", o.seed, what);
  o.train_subset = JsonValue(json, "train_subset", o.train_subset, what);
  o.test_subset = JsonValue(json, "test_subset", o.test_subset, what);
  o.augment = JsonValue(json, "augment", o.augment, what);
  o.threads = JsonValue(json, "threads", o.threads, what);
  o.progress = JsonValue(json, "progress", o.progress, what);
  // Absent for one process, and in models written before data-parallel training existed.
  o.ranks = JsonValue(json, "ranks", o.ranks, what);
  // Absent for a random init, and in models written before fine-tuning existed.
  o.init_from = JsonValue(json, "init_from", std::string(), what);
  o.init_from_hash = JsonValue(json, "init_from_hash", o.init_from_hash, what);
  // Absent for plain training. A model read back has no hook: it is not trained further here.
  if (json.contains("hardware")) {
    o.hardware = json.at("hardware");
    o.before_step = [](NetworkImpl&, std::int64_t) {
      Fail("a model's hardware-aware training options carry no hook to train with");
    };
  }
  o.Validate();
  return o;
}

}  // namespace aimc::nn
