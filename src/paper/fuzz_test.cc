// Seeded fuzzing of what aimc reads from outside: experiment files, model archives, model
// options, IDX headers, energy tables, .npy arrays and PNG images. The property of every case: the input loads, and what it loads is
// sound (finite weights), or the reader throws aimc::Error. Any other exception fails the test;
// a crash or a sanitizer report kills it. Seeds are fixed, so a failing case reproduces.

#include <png.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>
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
#include "aimc/common/toml_reader.h"
#include "aimc/energy/model.h"
#include "aimc/experiment/sweep.h"
#include "aimc/paper/table1.h"
#include "aimc/nn/data.h"
#include "aimc/nn/image_file.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/npy.h"
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

// True when every number in `j` is finite (nlohmann writes NaN and inf as null, which a value
// computed from a finite one never is).
bool AllFinite(const nlohmann::json& j) {
  if (j.is_null()) return false;
  if (j.is_number()) return std::isfinite(j.get<double>());
  if (j.is_structured())
    for (const auto& v : j)
      if (!AllFinite(v)) return false;
  return true;
}

// [energy] tables (every sub-table and key, as a sweep file or `aimc energy` gives them) with
// hostile values: each loads with finite options or is refused naming the key.
TEST(Fuzz, EnergyTables) {
  const std::string original =
      "read_time_s = 1e-8\ntiles_parallel = true\nimages = 10\nsplit_mvms = 2\n"
      "[dac]\nenergy_1bit_fj = 2.0\nline_cap_ff_per_cell = 0.2\narea_um2 = 2.0\nimage_bits = 8\n"
      "source = 'a'\n[sense]\nenergy_fj = 20.0\narea_um2 = 10.0\n"
      "[adc]\nfom = 'schreier'\nwalden_fj_per_step = 5.0\nschreier_db = 175.0\n"
      "enob_loss_bits = 0.5\nbits = 8\nsample_rate_hz = 1e8\ncolumns_per_adc = 8\n"
      "area_um2 = 500.0\n[digital]\nadd_pj = 0.1\nmul_pj = 1.1\nfadd_pj = 0.4\n"
      "sram_pj_per_byte = 1.25\nnode_scale = 1.0\nnode = '45 nm'\n";
  testing::Mutator mutate(7005);
  Tally tally{"energy tables"};
  for (int i = 0; i < 300; ++i) {
    const std::string text = mutate.Mutate(original, /*toml=*/true);
    tally.Add(LoadsOrIsRefused(
        [&] {
          const TomlReader t = TomlReader::FromString(text, "energy.toml");
          const energy::EnergyOptions o = energy::ReadEnergyOptions(t, {});
          EXPECT_TRUE(AllFinite(o.ToJson())) << text;
        },
        text));
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

// .npy arrays (uint8 images, float pixels, int64 labels) mutated in their header (version,
// header length, dict) and data, cut or padded: each loads with no more elements than its bytes
// hold or is refused.
TEST(Fuzz, NpyArrays) {
  const fs::path dir = FuzzDir("npy");
  const auto npy = [](const std::string& descr, const std::string& shape, std::size_t bytes) {
    std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape +
                         ", }";
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    std::string out("\x93NUMPY\x01\x00", 8);
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    std::string data(bytes, '\0');
    for (std::size_t b = 0; b < bytes; ++b) data[b] = static_cast<char>((b * 37) % 251);
    return out + header + data;
  };
  const std::vector<std::string> originals = {npy("|u1", "(4, 1, 8, 8)", 256),
                                              npy("<f4", "(2, 3, 4, 4)", 384),
                                              npy("<i8", "(6,)", 48)};
  testing::Mutator mutate(7006);
  Tally tally{"npy arrays"};
  for (int i = 0; i < 300; ++i) {
    const std::string& original = originals[i % originals.size()];
    std::string bytes;
    switch (mutate.Below(3)) {
      case 0:  // the header: version, length or dict
        bytes = mutate.FlipBytes(original.substr(0, 64), 1 + static_cast<int>(mutate.Below(3))) +
                original.substr(64);
        break;
      default: bytes = mutate.Mutate(original, /*toml=*/false);
    }
    const fs::path path = dir / fmt::format("case_{}.npy", i);
    WriteFileAtomic(path, bytes);
    tally.Add(LoadsOrIsRefused(
        [&] {
          const NpyArray a = ReadNpy(path);
          EXPECT_EQ(a.data.size(), static_cast<std::size_t>(a.size() * a.item_bytes)) << path;
          EXPECT_LE(a.data.size(), bytes.size()) << path;
        },
        path.string()));
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

// PNG images (gray and RGB) mutated: chunk lengths and types, pixel data, cut or padded. Each
// decodes to an image of the header's size or is refused (libpng's errors, CRCs, IEND).
TEST(Fuzz, PngImages) {
  const fs::path dir = FuzzDir("png");
  std::vector<std::string> originals;
  for (const int channels : {1, 3}) {
    const torch::Tensor hwc =
        torch::arange(12 * 10 * channels).remainder(251).to(torch::kUInt8).reshape({12, 10, channels});
    png_image image;
    std::memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    image.width = 10;
    image.height = 12;
    image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    const fs::path path = dir / fmt::format("original_{}.png", channels);
    ASSERT_NE(png_image_write_to_file(&image, path.c_str(), 0, hwc.data_ptr<std::uint8_t>(), 0,
                                      nullptr),
              0);
    originals.push_back(ReadFile(path));
  }
  testing::Mutator mutate(7007);
  Tally tally{"PNG images"};
  for (int i = 0; i < 300; ++i) {
    const std::string bytes = mutate.Mutate(originals[i % 2], /*toml=*/false);
    const fs::path path = dir / fmt::format("case_{}.png", i);
    WriteFileAtomic(path, bytes);
    tally.Add(LoadsOrIsRefused(
        [&] {
          const torch::Tensor t = ReadImage(path);
          EXPECT_EQ(t.dim(), 3) << path;
          EXPECT_LE(static_cast<std::size_t>(t.numel()), 1u << 24) << path;
        },
        path.string()));
  }
  EXPECT_GT(tally.loaded, 0);
  EXPECT_LT(tally.loaded, tally.cases);
}

}  // namespace
}  // namespace aimc::nn
