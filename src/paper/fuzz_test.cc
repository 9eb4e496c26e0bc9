// Seeded fuzzing of what aimc reads from outside: experiment files, model archives, model
// options and IDX headers. The property of every case: the input loads, and what it loads is
// sound (finite weights), or the reader throws aimc::Error. Any other exception fails the test;
// a crash or a sanitizer report kills it. Seeds are fixed, so a failing case reproduces.

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../common/test_mutator.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/resources.h"
#include "aimc/experiment/sweep.h"
#include "aimc/paper/table1.h"
#include "aimc/nn/data.h"
#include "aimc/nn/model_io.h"
#include "../nn/test_archive.h"
#include "../common/test_dir.h"

namespace aimc::nn {
namespace {
namespace fs = std::filesystem;

fs::path FuzzDir(const std::string& name) {
  const fs::path dir = UniqueTempPath("aimc_fuzz_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Runs one case: true when it loaded, false when refused with aimc::Error; any other exception
// is a test failure that shows the case.
bool LoadsOrIsRefused(const std::function<void()>& load, const std::string& what) {
  try {
    load();
    return true;
  } catch (const Error&) {
    return false;
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": " << e.what() << " (not an aimc::Error)";
    return false;
  }
}

struct Tally {
  const char* name;
  int cases = 0;
  int loaded = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  void Add(bool ok) {
    ++cases;
    loaded += ok ? 1 : 0;
  }
  ~Tally() {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s: %d cases, %d loaded, %.2f s\n", name, cases, loaded, s);
  }
};

// The shipped experiment files, each mutant given to both loaders (a sweep read as a verdict
// file must be refused as cleanly as a broken one).
TEST(Fuzz, ExperimentFiles) {
  const fs::path dir = FuzzDir("experiments");
  testing::Mutator mutate(7001);
  Tally tally{"experiment files"};
  for (const char* stem : {"cards_lenet_fashion", "ir_drop_fashion", "noise_lenet_digits", "table1"}) {
    const auto source = FindShippedFile(fmt::format("configs/experiments/{}.toml", stem));
    ASSERT_TRUE(source.has_value()) << stem;
    const std::string original = ReadFile(*source);
    for (int i = 0; i < 30; ++i) {
      const std::string text = mutate.Mutate(original, /*toml=*/true);
      const fs::path path = dir / fmt::format("{}_{}.toml", stem, i);
      WriteFileAtomic(path, text);
      const std::string what = fmt::format("{}:\n{}", path.string(), text);
      tally.Add(LoadsOrIsRefused([&] { experiment::LoadSweep(path); }, what));
      tally.Add(LoadsOrIsRefused([&] { paper::LoadTable1Options(path); }, what));
    }
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

void ExpectFiniteWeights(NetworkImpl& network, const std::string& what) {
  for (const auto& p : network.named_parameters())
    EXPECT_TRUE(torch::isfinite(p.value()).all().item<bool>()) << what << ": " << p.key();
  for (const auto& b : network.named_buffers()) {
    if (b.value().is_floating_point()) {
      EXPECT_TRUE(torch::isfinite(b.value()).all().item<bool>()) << what << ": " << b.key();
    }
  }
}

// A shipped LeNet-5, mutated as bytes (most stop at the zip layer: CRC, directory) and record by
// record behind a valid zip (so that the pickle and the tensor data themselves are corrupt).
TEST(Fuzz, ModelArchives) {
  const auto source = FindShippedFile("models/lenet5_mnist_ternary_s0.000_e15_n0_seed1.pt");
  ASSERT_TRUE(source.has_value());
  const fs::path dir = FuzzDir("models");
  const std::string original = ReadFile(*source);
  std::vector<std::string> records = testing::ArchiveRecords(*source);
  testing::Mutator mutate(7002);
  Tally tally{"model archives"};
  for (int i = 0; i < 300; ++i) {
    const fs::path path = dir / fmt::format("model_{}.pt", i);
    std::string how;
    if (i < 60) {
      WriteFileAtomic(path, mutate.Mutate(original, /*toml=*/false));
      how = "bytes";
    } else {
      // Half of these hit data.pkl, the rest a random record (tensor data, code, version).
      const std::string target = i % 2 == 0 ? std::string("data.pkl")
                                            : records[mutate.Below(records.size())];
      const std::size_t kind = mutate.Below(3);
      testing::RewriteArchive(*source, path, [&](const std::string& name, std::string& bytes) {
        if (name != target) return;
        if (kind == 0) bytes = mutate.FlipBytes(bytes, 1 + static_cast<int>(mutate.Below(4)));
        if (kind == 1) bytes = mutate.Truncate(bytes);
        if (kind == 2) bytes = mutate.Insert(bytes, std::string("\xff\xff\xff\x7f", 4));
      });
      how = fmt::format("record {} ({})", target, kind == 0 ? "flipped" : kind == 1 ? "cut" : "insert");
    }
    const std::string what = fmt::format("{} [{}]", path.string(), how);
    tally.Add(LoadsOrIsRefused(
        [&] {
          Model model = LoadModel(path);
          ExpectFiniteWeights(*model.network, what);
        },
        what));
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

// The options a model file carries as JSON, with hostile values put in its fields.
TEST(Fuzz, ModelOptions) {
  const auto source = FindShippedFile("models/lenet5_mnist_ternary_s0.000_e15_n0_seed1.pt");
  ASSERT_TRUE(source.has_value());
  const nlohmann::json original = LoadModel(*source).info.ToJson();
  const std::vector<nlohmann::json> hostile = {
      4294967297LL, -2147483649LL, 1e30, -1e308, 3.5, -1, 0, nullptr, "text", nlohmann::json::array(),
      nlohmann::json::object(), true, 9223372036854775807LL, 18446744073709551615ULL};
  testing::Mutator mutate(7003);
  Tally tally{"model options"};
  for (int i = 0; i < 150; ++i) {
    nlohmann::json json = original;
    const char* part = mutate.Below(2) == 0 ? "network" : "training";
    std::vector<std::string> keys;
    for (const auto& [key, value] : json[part].items()) keys.push_back(key);
    const std::string key = keys[mutate.Below(keys.size())];
    json[part][key] = hostile[mutate.Below(hostile.size())];
    if (i % 10 == 0) json["epochs_done"] = hostile[mutate.Below(hostile.size())];
    tally.Add(LoadsOrIsRefused([&] { ModelInfo::FromJson(json); }, json.dump()));
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

// IDX files of images and labels: the header's bytes mutated (magic, type, rank, dimensions set
// to 0, 2^23, 2^31, 2^32 - 1), the file cut or padded.
TEST(Fuzz, IdxHeaders) {
  const fs::path dir = FuzzDir("idx");
  WriteIdx(dir / "images", torch::arange(5 * 28 * 28).remainder(256).to(torch::kUInt8).reshape({5, 28, 28}));
  WriteIdx(dir / "labels", torch::tensor({1, 2, 3, 4, 5}, torch::kUInt8));
  testing::Mutator mutate(7004);
  Tally tally{"IDX files"};
  const std::vector<std::uint32_t> dims = {0, 1, 28, 1u << 23, 1u << 31, 0xffffffffu};
  for (int i = 0; i < 160; ++i) {
    std::string bytes = ReadFile(dir / (i % 2 == 0 ? "images" : "labels"));
    switch (mutate.Below(4)) {
      case 0: {  // one big-endian dimension (or the magic) replaced
        const std::size_t field = mutate.Below(bytes[3] == 3 ? 4 : 2);
        const std::uint32_t v = dims[mutate.Below(dims.size())];
        for (int b = 0; b < 4; ++b) bytes[4 * field + b] = static_cast<char>(v >> (24 - 8 * b));
        break;
      }
      case 1:
        bytes = mutate.FlipBytes(bytes.substr(0, 16), 1 + static_cast<int>(mutate.Below(3))) +
                bytes.substr(std::min<std::size_t>(16, bytes.size()));
        break;
      case 2:
        bytes = mutate.Truncate(bytes);
        break;
      default:
        bytes = mutate.Insert(bytes, std::string(1 + mutate.Below(8), '\x07'));
    }
    const fs::path path = dir / fmt::format("case_{}", i);
    WriteFileAtomic(path, bytes);
    const std::string what = fmt::format("{} ({} bytes)", path.string(), bytes.size());
    tally.Add(LoadsOrIsRefused(
        [&] {
          const torch::Tensor t = ReadIdx(path);
          EXPECT_LE(static_cast<std::size_t>(t.numel()), bytes.size()) << what;
        },
        what));
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

}  // namespace
}  // namespace aimc::nn
