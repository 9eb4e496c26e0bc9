#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/train.h"

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/resources.h"
#include "../common/test_error.h"
#include "augment.h"
#include "../common/test_dir.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <stdexcept>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace aimc::nn {
namespace {
namespace fs = std::filesystem;

// A separable toy set: class c is a bright 6x6 square at one of ten positions, on a noisy
// background. Any working training reaches far above the 10 % of chance.
Dataset ToySet(std::int64_t n, std::uint64_t seed) {
  at::Generator generator = MakeGenerator(seed);
  Dataset set;
  set.labels = at::randint(10, {n}, generator, torch::kLong);
  torch::Tensor images = at::randint(60, {n, 1, 28, 28}, generator, torch::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = set.labels[i].item<std::int64_t>();
    images[i].narrow(1, 2 + 5 * (c / 5) + 6 * (c % 2), 6).narrow(2, 2 + 4 * (c % 5), 6).fill_(250);
  }
  set.images = images.to(torch::kUInt8);
  set.classes = 10;
  set.name = "toy";
  return set;
}

DataSplit ToyData() { return {ToySet(640, 1), ToySet(200, 2)}; }

TrainOptions Quick(int epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 64;
  o.sigma_train = 0.2;
  o.seed = 5;
  o.augment = true;
  o.progress = false;
  return o;
}

fs::path TempFile(const std::string& name) {
  static const TempDir dir("aimc_nn_train");  // one per test program, removed at its exit
  const fs::path path = dir.path() / name;
  fs::remove(path);
  return path;
}

void ExpectSameParameters(NetworkImpl& a, NetworkImpl& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : ba) EXPECT_TRUE(torch::equal(item.value(), bb[item.key()])) << item.key();
}

TEST(Train, TernaryNoisyLeNetLearnsAToySet) {
  const DataSplit data = ToyData();
  const Model r = Train(NetworkFor("lenet5", data.train), Quick(3), data);
  ASSERT_EQ(r.info.history.size(), 3u);
  EXPECT_LT(r.info.history.back().loss, r.info.history.front().loss);
  // Chance is 10 %; the classes are separable, a network that learns is far above.
  EXPECT_GT(r.info.history.back().test_accuracy, 0.6);
}

TEST(Train, SameSeedSameWeightsAndResumeIsExact) {
  const DataSplit data = ToyData();
  const NetworkOptions net = NetworkFor("lenet5", data.train);
  const Model straight = Train(net, Quick(2), data);
  const Model again = Train(net, Quick(2), data);
  ExpectSameParameters(*straight.network, *again.network);

  // Killed after epoch 1 (its checkpoint written), then started again from the checkpoint.
  const fs::path checkpoint = TempFile("resume.pt");
  EXPECT_THROW(Train(net, Quick(2), data, checkpoint,
                     [](const EpochStats&) { throw std::runtime_error("killed"); }),
               std::runtime_error);
  const Model resumed = Train(net, Quick(2), data, checkpoint);
  EXPECT_EQ(resumed.info.epochs_done, 2);
  ExpectSameParameters(*straight.network, *resumed.network);
  EXPECT_EQ(resumed.info.history[0].loss, straight.info.history[0].loss);

  // Other options on an existing checkpoint are refused.
  TrainOptions other = Quick(2);
  other.sigma_train = 0.1;
  EXPECT_THROW(Train(net, other, data, checkpoint), Error);

  // The checkpoint loads as a model for testing, with the same predictions.
  const Model loaded = LoadModel(checkpoint);
  EXPECT_EQ(loaded.info.epochs_done, 2);
  EXPECT_EQ(Evaluate(*loaded.network, data.test), Evaluate(*straight.network, data.test));
  fs::remove(checkpoint);
}


// Issue 9: `--batch-size 1` failed inside LibTorch ("Expected more than 1 value per channel when
// training"): BatchNorm normalizes over the batch.
TEST(Train, BatchesOfOneImageAreRefusedOrAvoided) {
  TrainOptions one = Quick(1);
  one.batch_size = 1;
  try {
    one.Validate();
    FAIL() << "batch_size 1 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("BatchNorm needs 2 images per batch"), std::string::npos)
        << e.what();
  }
  one.batch_size = 64;
  one.threads = 0;
  EXPECT_THROW(one.Validate(), Error);
  EXPECT_THROW(SetThreads(0), Error);
  EXPECT_THROW(SetThreads(-1), Error);
  // 65 images in batches of 64 leave one image: it joins the batch before.
  const DataSplit data{ToySet(65, 1), ToySet(20, 2)};
  const Model r = Train(NetworkFor("lenet5", data.train), Quick(1), data);
  EXPECT_EQ(r.info.epochs_done, 1);
  EXPECT_TRUE(std::isfinite(r.info.history.back().loss));
  const DataSplit single{ToySet(1, 1), ToySet(20, 2)};
  EXPECT_THROW(Train(NetworkFor("lenet5", single.train), Quick(1), single), Error);
}

// `--out` naming an existing folder ended in a filesystem exception after the first epoch.
TEST(Train, AFolderIsNotACheckpoint) {
  const DataSplit data = ToyData();
  const fs::path folder = TempFile("folder_out");
  fs::create_directories(folder);
  try {
    Train(NetworkFor("lenet5", data.train), Quick(1), data, folder);
    FAIL() << "trained into a folder";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(folder.string() + ": is a folder"), std::string::npos)
        << e.what();
  }
  fs::remove_all(folder);
}

TEST(ModelFile, OptionsRoundTripAndUnknownKeysAreRefused) {
  TrainOptions t;
  t.sigma_train = 0.3;
  t.epochs = 7;
  EXPECT_EQ(TrainOptions::FromJson(t.ToJson()).ToJson(), t.ToJson());
  NetworkOptions n;
  n.width = 2;
  EXPECT_EQ(NetworkOptions::FromJson(n.ToJson()).ToJson(), n.ToJson());
  // A misspelt key in a model file's options is an error that names the options and the key.
  const auto refused = [](const std::function<void()>& read, const std::string& what,
                          const std::string& key) {
    try {
      read();
    } catch (const Error& e) {
      const std::string m = e.what();
      return m.find(what) != std::string::npos && m.find(key) != std::string::npos;
    }
    return false;
  };
  nlohmann::json tj = TrainOptions{}.ToJson();
  tj["sigma_trian"] = 0.1;
  EXPECT_TRUE(refused([&] { TrainOptions::FromJson(tj); }, "training options", "sigma_trian"));
  nlohmann::json nj = NetworkOptions{}.ToJson();
  nj["widht"] = 2;
  EXPECT_TRUE(refused([&] { NetworkOptions::FromJson(nj); }, "network options", "widht"));
}

TEST(ModelFile, SameWeightsIgnoresThreadsProgressAndDataFolderOnly) {
  TrainOptions a;
  TrainOptions b = a;
  b.threads = 2;
  b.progress = !a.progress;
  b.data_dir = "/elsewhere";
  EXPECT_TRUE(a.SameWeightsAs(b));
  b.learning_rate /= 2;
  EXPECT_FALSE(a.SameWeightsAs(b));
}

// Data-parallel training (TrainOptions::ranks; trained under mpirun in data_parallel_test.cc).
TEST(TrainOptions, RanksAreWeightDefiningAndSavedOnlyWhenNotOne) {
  TrainOptions one;
  EXPECT_FALSE(one.ToJson().contains("ranks"));  // one-process models keep their bytes
  EXPECT_EQ(TrainOptions::FromJson(one.ToJson()).ranks, 1);
  TrainOptions two = one;
  two.ranks = 2;
  EXPECT_EQ(two.ToJson().at("ranks"), 2);
  EXPECT_EQ(TrainOptions::FromJson(two.ToJson()).ranks, 2);
  EXPECT_FALSE(one.SameWeightsAs(two));  // the sums of a step depend on the ranks

  two.batch_size = 4;
  EXPECT_NO_THROW(two.Validate());
  two.batch_size = 3;
  const std::string m = ErrorMessage([&] { two.Validate(); });
  EXPECT_NE(m.find("batch_size 3 over 2 ranks"), std::string::npos) << m;
  EXPECT_NE(m.find("BatchNorm needs 2 images per rank"), std::string::npos) << m;
  EXPECT_NE(m.find("at least 4"), std::string::npos) << m;
  two.ranks = 0;
  EXPECT_NE(ErrorMessage([&] { two.Validate(); }).find("ranks must be in"), std::string::npos);
}

// Data-parallel augmentation: every rank augments its shard of each batch from its own copy of
// the epoch's generator; the shards together are the batches augmented in one process.
TEST(Train, AugmentingTheShardsOfABatchIsAugmentingTheBatch) {
  for (const std::int64_t channels : {1, 3}) {  // 3: flips too
    at::Generator pixels = MakeGenerator(1);
    const torch::Tensor x = at::rand({17, channels, 8, 8}, pixels);
    const std::int64_t sizes[2] = {10, 7}, starts[2] = {0, 10};  // two batches in a row
    at::Generator one = MakeGenerator(9);
    torch::Tensor whole[2];
    for (int k = 0; k < 2; ++k)
      whole[k] = internal::Augment(x.narrow(0, starts[k], sizes[k]), one, sizes[k], 0);
    EXPECT_FALSE(torch::equal(whole[0], x.narrow(0, 0, 10)));  // guard: it augments
    constexpr int kRanks = 3;
    for (int rank = 0; rank < kRanks; ++rank) {
      at::Generator mine = MakeGenerator(9);
      for (int k = 0; k < 2; ++k) {
        const std::int64_t begin = sizes[k] * rank / kRanks;
        const std::int64_t n = sizes[k] * (rank + 1) / kRanks - begin;
        const torch::Tensor shard =
            internal::Augment(x.narrow(0, starts[k] + begin, n), mine, sizes[k], begin);
        EXPECT_TRUE(torch::equal(shard, whole[k].narrow(0, begin, n)))
            << channels << " channels, batch " << k << ", rank " << rank;
      }
    }
  }
}

TEST(Train, DataParallelTrainingNeedsAJobOfItsRanks) {
  // This test program is one process: a job of one rank.
  const DataSplit data = ToyData();
  TrainOptions o = Quick(1);
  o.ranks = 2;
  const std::string m = ErrorMessage([&] { Train(NetworkFor("lenet5", data.train), o, data); });
  EXPECT_NE(m.find("needs an MPI job of 2 ranks (mpirun -np 2), but this one has 1"),
            std::string::npos)
      << m;
}

// Fine-tuning (TrainOptions::init_from): one epoch of noisy training on the toy set, saved
// without optimizer state like a shipped model.
fs::path TrainedInit(const DataSplit& data, const std::string& name) {
  const Model init = Train(NetworkFor("lenet5", data.train), Quick(1), data);
  const fs::path path = TempFile(name);
  SaveModel(path, *init.network, init.info);
  return path;
}

TrainOptions FineTune(const fs::path& init, int epochs) {
  TrainOptions o = Quick(epochs);
  o.init_from = init;
  o.seed = 9;  // another seed than the init's: its random init would be other weights
  o.sigma_train = 0.3;
  o.learning_rate = 1e-3;
  return o;
}


TEST(TrainFineTune, ZeroEpochsIsTheInitModel) {
  const DataSplit data = ToyData();
  const fs::path init_path = TrainedInit(data, "init_zero.pt");
  Model init = LoadModel(init_path);
  TrainOptions copy = FineTune(init_path, 0);
  copy.sigma_train = 0.0;
  const fs::path out = TempFile("ft_zero.pt");
  const Model r = Train(init.info.network, copy, data, out);
  EXPECT_EQ(r.info.epochs_done, 0);
  EXPECT_EQ(r.info.training.init_from_hash, HashFile(init_path));
  // Reference: the init model itself; weights, BatchNorm statistics and alphas all carried over,
  // so the eval-mode logits are bit for bit the same.
  ExpectSameParameters(*init.network, *r.network);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = ToInput(data.test.images);
  EXPECT_TRUE(torch::equal(init.network->forward(x), r.network->forward(x)));
  // The run leaves its model file, which loads with the same outputs and its init's hash.
  Model saved = LoadModel(out);
  EXPECT_TRUE(torch::equal(saved.network->forward(x), init.network->forward(x)));
  EXPECT_EQ(saved.info.training.init_from_hash, HashFile(init_path));
  // Guard: the fine-tune's own seed draws other weights, so the equality above is the init's.
  const Network fresh = MakeNetwork(init.info.network, copy.seed);
  fresh->eval();
  EXPECT_FALSE(torch::equal(fresh->forward(x), init.network->forward(x)));
  // Without an init, 0 epochs is no training at all.
  TrainOptions scratch = Quick(0);
  EXPECT_NE(ErrorMessage([&] { scratch.Validate(); }).find("epochs"), std::string::npos);
  fs::remove(init_path);
  fs::remove(out);
}

TEST(TrainFineTune, ANetworkOtherThanTheInitsIsRefusedNamingTheField) {
  const DataSplit data = ToyData();
  const fs::path init_path = TrainedInit(data, "init_other.pt");
  NetworkOptions other = NetworkFor("lenet5", data.train);
  other.act_bits = 2;  // the init has 4
  const std::string m = ErrorMessage([&] { Train(other, FineTune(init_path, 1), data); });
  EXPECT_NE(m.find(init_path.string()), std::string::npos) << m;
  EXPECT_NE(m.find("act_bits: init model 4, trained network 2"), std::string::npos) << m;
  EXPECT_EQ(m.find("width"), std::string::npos) << m;  // only the field that differs
  // A hash given with the options must be the file's.
  TrainOptions wrong = FineTune(init_path, 1);
  wrong.init_from_hash = "0123456789abcdef";
  const std::string h = ErrorMessage([&] { Train(NetworkFor("lenet5", data.train), wrong, data); });
  EXPECT_NE(h.find("0123456789abcdef"), std::string::npos) << h;
  EXPECT_NE(h.find(HashFile(init_path)), std::string::npos) << h;
  fs::remove(init_path);
}

TEST(TrainFineTune, ResumeIsExactAndTheInitsContentNotItsPathCounts) {
  const DataSplit data = ToyData();
  const NetworkOptions net = NetworkFor("lenet5", data.train);
  const fs::path init_path = TrainedInit(data, "init_resume.pt");
  const Model straight = Train(net, FineTune(init_path, 2), data);
  // Guard: fine-tuning changed the weights (sigma_train 0.3, learning rate 1e-3).
  Model init = LoadModel(init_path);
  EXPECT_FALSE(torch::equal(init.network->layers().front()->named_parameters()["weight"],
                            straight.network->layers().front()->named_parameters()["weight"]));

  // Killed after epoch 1, then resumed with the init model copied elsewhere: same content, so
  // the same run.
  const fs::path checkpoint = TempFile("ft_resume.pt");
  EXPECT_THROW(Train(net, FineTune(init_path, 2), data, checkpoint,
                     [](const EpochStats&) { throw std::runtime_error("killed"); }),
               std::runtime_error);
  const fs::path moved = TempFile("init_resume_moved.pt");
  fs::copy_file(init_path, moved);
  const Model resumed = Train(net, FineTune(moved, 2), data, checkpoint);
  EXPECT_EQ(resumed.info.epochs_done, 2);
  ExpectSameParameters(*straight.network, *resumed.network);
  ASSERT_EQ(resumed.info.history.size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(resumed.info.history[e].loss, straight.info.history[e].loss);
    EXPECT_EQ(resumed.info.history[e].test_accuracy, straight.info.history[e].test_accuracy);
  }

  // Another init model under the first one's path is another run: refused.
  TrainOptions other_options = Quick(1);
  other_options.seed = 11;
  const Model other = Train(net, other_options, data);
  fs::remove(moved);
  SaveModel(moved, *other.network, other.info);
  EXPECT_NE(
      ErrorMessage([&] { Train(net, FineTune(moved, 2), data, checkpoint); }).find("other options"),
      std::string::npos);
  fs::remove(init_path);
  fs::remove(moved);
  fs::remove(checkpoint);
}

TEST(TrainOptions, InitHashNotPathDefinesSameWeights) {
  TrainOptions a;
  a.init_from = "models/clean.pt";
  a.init_from_hash = "00112233445566ff";
  TrainOptions b = a;
  b.init_from = "/elsewhere/copy_of_clean.pt";
  EXPECT_TRUE(a.SameWeightsAs(b));
  b.init_from_hash = "00112233445566fe";
  EXPECT_FALSE(a.SameWeightsAs(b));
  EXPECT_FALSE(a.SameWeightsAs(TrainOptions{}));  // fine-tuned vs from a random init

  const TrainOptions round = TrainOptions::FromJson(a.ToJson());
  EXPECT_EQ(round.init_from, a.init_from);
  EXPECT_EQ(round.init_from_hash, a.init_from_hash);
  // A random init writes neither key, as the model files written before fine-tuning existed
  // (their options, and so their bytes, stay as they were); such options read as a random init.
  const nlohmann::json old = TrainOptions{}.ToJson();
  EXPECT_FALSE(old.contains("init_from"));
  EXPECT_FALSE(old.contains("init_from_hash"));
  const TrainOptions read = TrainOptions::FromJson(old);
  EXPECT_TRUE(read.init_from.empty());
  EXPECT_TRUE(read.init_from_hash.empty());
  EXPECT_TRUE(read.SameWeightsAs(TrainOptions{}));

  TrainOptions bad = a;
  bad.init_from_hash = "00112233";
  EXPECT_NE(ErrorMessage([&] { bad.Validate(); }).find("init_from_hash"), std::string::npos);
  bad = a;
  bad.init_from.clear();
  EXPECT_NE(ErrorMessage([&] { bad.Validate(); }).find("init_from is empty"), std::string::npos);
}

// The shipped CNN 2 models (models/make.sh): the noisy ones are fine-tuned from the shipped
// clean one, and their stems end in "_ft" and the first 8 hex digits of its content hash.
TEST(TrainFineTune, ShippedNoisyCnn2NamesTheShippedCleanOne) {
  const std::string clean_name = "resnet26_fashion-mnist_ternary_s0.000_e6_n8000_seed1.pt";
  const auto clean = FindShippedFile(fs::path("models") / clean_name);
  ASSERT_TRUE(clean.has_value());
  const std::string hash = HashFile(*clean);
  const Model clean_model = LoadModel(*clean);
  EXPECT_TRUE(clean_model.info.training.init_from.empty());

  // A model from a random init is written with its old bytes: saving the clean model again
  // (under its name, which the archive contains) keeps the hash the fine-tuned stems name.
  const fs::path dir = UniqueTempPath("aimc_nn_train_resave");
  fs::create_directories(dir);
  SaveModel(dir / clean_name, *clean_model.network, clean_model.info);
  EXPECT_EQ(HashFile(dir / clean_name), hash);
  fs::remove_all(dir);

  int fine_tuned = 0;
  for (const auto& entry : fs::directory_iterator(clean->parent_path())) {
    const std::string stem = entry.path().stem().string();
    if (stem.rfind("resnet26_", 0) != 0 || stem.find("_ft") == std::string::npos) continue;
    ++fine_tuned;
    const Model m = LoadModel(entry.path());
    EXPECT_EQ(m.info.training.init_from_hash, hash) << stem;
    EXPECT_EQ(stem.substr(stem.size() - 11), "_ft" + hash.substr(0, 8)) << stem;
    EXPECT_EQ(m.info.network.ToJson(), clean_model.info.network.ToJson()) << stem;
    EXPECT_GT(m.info.training.sigma_train, 0.0) << stem;
  }
  EXPECT_EQ(fine_tuned, 2);  // sigma_w,train 0.15 and 0.30
}

TEST(ModelFile, NotAModelNamesTheFile) {
  const fs::path path = TempFile("garbage.pt");
  WriteFileAtomic(path, "not a model");
  try {
    LoadModel(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  fs::remove(path);
}

}  // namespace
}  // namespace aimc::nn
