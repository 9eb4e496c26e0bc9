#include "model_file.h"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"
#include "test_archive.h"
#include "../common/test_error.h"
#include "../common/test_dir.h"

namespace aimc::nn {
namespace {
namespace fs = std::filesystem;

fs::path TempFile(const std::string& name) {
  static const TempDir dir("aimc_model_file_test");  // one per test program, removed at its exit
  return dir.path() / name;
}

ModelInfo InfoOf(const NetworkOptions& network) {
  ModelInfo info;
  info.network = network;
  info.training.progress = false;
  return info;
}

// A LeNet-5 saved as aimc saves every model.
fs::path SavedLeNet(const std::string& name, const std::function<void(NetworkImpl&)>& edit = {}) {
  const NetworkOptions options;
  Network net = MakeNetwork(options, 1);
  if (edit) {
    torch::NoGradGuard no_grad;
    edit(*net);
  }
  const fs::path path = TempFile(name);
  SaveModel(path, *net, InfoOf(options));
  return path;
}

using testing::RewriteArchive;

std::vector<std::string> TensorRecords(const fs::path& path) {
  std::vector<std::string> names;
  for (const std::string& name : testing::ArchiveRecords(path))
    if (name.starts_with("data/")) names.push_back(name);
  return names;
}

std::string LoadError(const fs::path& path) {
  return ErrorMessage([&] { LoadModel(path); });
}

void ExpectRefused(const fs::path& path, const std::vector<std::string>& parts) {
  const std::string message = LoadError(path);
  ASSERT_FALSE(message.empty()) << path << " loaded";
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
}

// The chip deviation of an IR-drop-aware network travels with the model: loaded bit for bit
// on the layers that had one, none on the others; non-finite values are refused by name.
TEST(ModelFile, ChipDeviationRoundTripsAndIsChecked) {
  const fs::path with = SavedLeNet("deviation.pt", [](NetworkImpl& net) {
    auto layer = net.AnalogLayers()[1];
    layer->SetChipDeviation(torch::full_like(layer->Weight(), -0.125));
  });
  const Model loaded = LoadModel(with);
  auto analog = loaded.network->AnalogLayers();
  EXPECT_FALSE(analog[0]->chip_deviation().defined());
  ASSERT_TRUE(analog[1]->chip_deviation().defined());
  EXPECT_TRUE(torch::equal(analog[1]->chip_deviation(),
                           torch::full_like(analog[1]->Weight(), -0.125)));
  EXPECT_FALSE(LoadModel(SavedLeNet("plain.pt")).network->AnalogLayers()[1]->chip_deviation().defined());
  const fs::path nan = SavedLeNet("deviation_nan.pt", [](NetworkImpl& net) {
    auto layer = net.AnalogLayers()[0];
    layer->SetChipDeviation(torch::full_like(layer->Weight(), std::nan("")));
  });
  ExpectRefused(nan, {"chip_deviation", "NaN"});
}

// Issue 9: an archive whose tensor data is shorter than its shape loaded with exit 0 and a
// changed accuracy: LibTorch read past the record. Every record of a LeNet, cut in half, must be
// refused by name; the untouched copy (the control) loads with the same weights.
TEST(ModelFile, EveryTruncatedTensorRecordIsRefused) {
  const fs::path good = SavedLeNet("good.pt");
  const fs::path copy = TempFile("copy.pt");
  RewriteArchive(good, copy, [](const std::string&, std::string&) {});
  const Model a = LoadModel(good);
  const Model b = LoadModel(copy);
  for (const auto& p : a.network->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), b.network->named_parameters()[p.key()])) << p.key();

  const std::vector<std::string> records = TensorRecords(good);
  ASSERT_GE(records.size(), 20u);
  for (const std::string& record : records) {
    const fs::path cut = TempFile("cut.pt");
    RewriteArchive(good, cut, [&](const std::string& name, std::string& bytes) {
      if (name == record) bytes.resize(bytes.size() / 2);
    });
    ExpectRefused(cut, {"record '" + record + "' holds", "truncated or corrupt"});
  }
}

// NaN and inf weights loaded silently; a negative BatchNorm variance would give NaN outputs.
TEST(ModelFile, NonFiniteWeightsAndNegativeVariancesAreRefused) {
  std::string key;
  const fs::path nan = SavedLeNet("nan.pt", [&key](NetworkImpl& net) {
    key = net.named_parameters().keys().front();
    net.named_parameters()[key].view(-1)[3] = NAN;
  });
  ExpectRefused(nan, {"tensor 'model." + key + "'", "NaN or infinite"});
  const fs::path inf = SavedLeNet("inf.pt", [&key](NetworkImpl& net) {
    net.named_parameters()[key].view(-1)[0] = -INFINITY;
  });
  ExpectRefused(inf, {"'model." + key + "'", "NaN or infinite"});
  std::string variance;
  const fs::path negative = SavedLeNet("negative_var.pt", [&variance](NetworkImpl& net) {
    for (const auto& b : net.named_buffers()) {
      if (b.key().ends_with("running_var")) variance = b.key();
    }
    net.named_buffers()[variance].fill_(-1.0);
  });
  ASSERT_FALSE(variance.empty());
  ExpectRefused(negative, {"'" + variance + "'", "negative variance"});
}

TEST(ModelFile, GarbageAndCutFilesAreRefusedByName) {
  const fs::path good = SavedLeNet("source.pt");
  std::string bytes = ReadFile(good);
  Rng rng(11);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng.Uniform() * 256);
  const fs::path random = TempFile("random.pt");
  WriteFileAtomic(random, garbage);
  ExpectRefused(random, {"not a readable model file"});
  const fs::path half = TempFile("half.pt");
  WriteFileAtomic(half, bytes.substr(0, bytes.size() / 2));
  ExpectRefused(half, {"not a readable model file"});
  // A valid zip whose pickle is noise.
  const fs::path pickle = TempFile("bad_pickle.pt");
  RewriteArchive(good, pickle, [&rng](const std::string& name, std::string& b) {
    if (name != "data.pkl") return;
    for (std::size_t i = 8; i < b.size(); i += 7) b[i] = static_cast<char>(rng.Uniform() * 256);
  });
  ExpectRefused(pickle, {});
  // A record named in the pickle but missing from the zip.
  const fs::path missing = TempFile("missing_record.pt");
  RewriteArchive(good, missing, [](const std::string& name, std::string& b) {
    if (name == "data.pkl") {
      // Rename the first storage key "0" the pickle refers to: its record is then absent.
      const std::size_t at = b.find(std::string("X\x01\x00\x00\x00" "0", 6));
      if (at != std::string::npos) b[at + 5] = 'z';
    }
  });
  ExpectRefused(missing, {"tensor data 'data/z' is missing from the archive"});
  const fs::path folder = TempFile("folder.pt");
  fs::create_directories(folder);
  ExpectRefused(folder, {"not a model file"});
}

// Module::load replaces each tensor by the file's, shape included; a file whose model info
// promises another network must not swap in weights of the wrong shape.
TEST(ModelFile, WeightsOfAnotherShapeAreRefused) {
  NetworkOptions options;
  const Network net = MakeNetwork(options, 1);
  NetworkOptions claimed = options;
  claimed.classes = 20;
  const fs::path path = TempFile("other_shape.pt");
  SaveModel(path, *net, InfoOf(claimed));
  ExpectRefused(path, {"has shape [10, ", "but the network lenet5 needs [20, "});
}

// A 32 x 32 data set on a 28 x 28 LeNet failed inside LibTorch with a shape error.
TEST(ModelFile, DataThatDoesNotFitTheNetworkIsRefused) {
  const Network net = MakeNetwork(NetworkOptions{}, 1);
  Dataset data;
  data.images = torch::zeros({4, 1, 32, 32}, torch::kUInt8);
  data.labels = torch::zeros({4}, torch::kInt64);
  data.classes = 10;
  data.name = "wide";
  try {
    Evaluate(*net, data);
    FAIL() << "evaluated";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data 'wide' (1 channels, 32x32, 10 classes) does not "
                                         "fit the network lenet5 (1 channels, 28x28"),
              std::string::npos)
        << e.what();
  }
  data.images = torch::zeros({4, 1, 28, 28}, torch::kUInt8);
  EXPECT_NO_THROW(Evaluate(*net, data));
}

}  // namespace
}  // namespace aimc::nn
