#include "aimc/nn/train_options.h"

#include <cmath>
#include <cstdint>
#include <string>

#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/nn/data.h"

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

const FieldTable<TrainOptions>& TrainOptionsFields() {
  static const FieldTable<TrainOptions> table = [] {
    using O = TrainOptions;
    FieldTable<O> t;
    // Only for a fine-tuning run: a model from a random init is saved with the bytes it had
    // before fine-tuning existed, so a re-save keeps the content hash by which fine-tuned models
    // name it.
    const auto not_fine_tuning = [](const O& o) {
      return o.init_from.empty() && o.init_from_hash.empty();
    };
    t.String("dataset", "the data set (mnist, fashion-mnist, cifar10, cifar100, npy, npz, folder)",
             [](O& o) -> std::string& { return o.dataset; });
    t.Path("data_dir", "folder of the data set's files (empty: the built-in data)",
           [](O& o) -> std::filesystem::path& { return o.data_dir; });
    t.Integer<int>("epochs", "", "epochs (0 only when fine-tuning: a copy of init_from)",
                   [](O& o) -> int& { return o.epochs; }, range::Between(0, 10000));
    // BatchNorm normalizes over the batch in training, which takes at least 2 images.
    t.Integer<std::int64_t>("batch_size", "", "images per batch",
                            [](O& o) -> std::int64_t& { return o.batch_size; },
                            range::Between(2, 65536, " (BatchNorm needs 2 images per batch)"));
    t.Double("learning_rate", "", "Adam's learning rate (cosine decay to 0)",
             [](O& o) -> double& { return o.learning_rate; },
             range::All({range::Above(0), range::Below(10)}));
    t.Double("weight_decay", "", "Adam's weight decay",
             [](O& o) -> double& { return o.weight_decay; },
             range::All({range::AtLeast(0), range::Below(1)}));
    t.Double("sigma_train", "", "sigma_w,train: weight noise relative to the unit weight",
             [](O& o) -> double& { return o.sigma_train; }, range::Within(0, 10, "in [0, 10]"));
    t.Integer<std::uint64_t>("seed", "", "seed of weights, shuffling, noise and augmentation",
                             [](O& o) -> std::uint64_t& { return o.seed; });
    t.Integer<std::int64_t>("train_subset", "", "first N training images only (0: all)",
                            [](O& o) -> std::int64_t& { return o.train_subset; },
                            range::AtLeast(0, " (0: all)"));
    t.Integer<std::int64_t>("test_subset", "", "first N test images only (0: all)",
                            [](O& o) -> std::int64_t& { return o.test_subset; },
                            range::AtLeast(0, " (0: all)"));
    t.Bool("augment", "random shifts of up to 2 pixels (and flips for CIFAR)",
           [](O& o) -> bool& { return o.augment; });
    t.Integer<int>("threads", "", "intra-op threads", [](O& o) -> int& { return o.threads; },
                   range::Between(1, 256));
    t.Bool("progress", "progress bar on stderr", [](O& o) -> bool& { return o.progress; });
    t.Path("init_from", "fine-tune from this model file's weights (empty: a random init)",
           [](O& o) -> std::filesystem::path& { return o.init_from; })
        .OmitWhen(not_fine_tuning);
    t.String("init_from_hash", "HashFile(init_from), 16 hex digits",
             [](O& o) -> std::string& { return o.init_from_hash; },
             [](const nlohmann::json& v) {
               const std::string h = v.get<std::string>();
               return h.empty() || (h.size() == 16 &&
                                    h.find_first_not_of("0123456789abcdef") == std::string::npos)
                          ? std::string()
                          : std::string("must be 16 lowercase hex digits (aimc::HashFile) or empty");
             })
        .OmitWhen(not_fine_tuning);
    // Weight-defining (the sums depend on the ranks), so written only for a data-parallel run.
    t.Integer<int>("ranks", "", "MPI ranks that train the network data-parallel",
                   [](O& o) -> int& { return o.ranks; }, range::Between(1, 4096))
        .OmitWhenDefault();
    t.Json("hardware", "the chip of IR-drop-aware training (experiment::IrAwareOptions)",
           [](O& o) -> nlohmann::json& { return o.hardware; })
        .OmitWhen([](const O& o) { return o.hardware.is_null(); });
    return t;
  }();
  return table;
}

void TrainOptions::Validate() const {
  Require(IsDatasetName(dataset),
          "data must be mnist, fashion-mnist, cifar10, cifar100, or a user format npy, npz or "
          "folder (npy and npz optionally with a layout, npy:nhwc), got '{}'",
          dataset);
  Require(!IsUserDataset(dataset) || !data_dir.empty(),
          "data '{}' is a user's data set: give its path as the data folder (--data-dir)", dataset);
  TrainOptionsFields().Validate(*this);
  Require(epochs >= 1 || !init_from.empty(),
          "epochs must be in 1..10000 (0 only when fine-tuning: a copy of init_from), got {}",
          epochs);
  Require(batch_size >= 2 * std::int64_t{ranks},
          "batch_size {} over {} ranks leaves {} image(s) to a rank, but BatchNorm needs 2 images "
          "per rank: use a batch size of at least {} (or fewer ranks)",
          batch_size, ranks, batch_size / ranks, 2 * ranks);
  Require(hardware.is_null() || hardware.is_object(),
          "hardware must be an object (the chip of IR-drop-aware training) or absent");
  Require(hardware.is_null() == !before_step,
          "hardware-aware training needs both its options (hardware) and its step hook "
          "(before_step)");
  Require(init_from_hash.empty() || !init_from.empty(),
          "init_from_hash is set ('{}') but init_from is empty: name the init model's file",
          init_from_hash);
}

nlohmann::json TrainOptions::ToJson() const { return TrainOptionsFields().ToJson(*this); }

TrainOptions TrainOptions::FromJson(const nlohmann::json& json) {
  TrainOptions o;
  TrainOptionsFields().FromJson(json, o, "training options: ");
  // A model read back has no hook: it is not trained further here.
  if (!o.hardware.is_null()) {
    o.before_step = [](NetworkImpl&, std::int64_t) {
      Fail("a model's hardware-aware training options carry no hook to train with");
    };
  }
  o.Validate();
  return o;
}

}  // namespace aimc::nn
