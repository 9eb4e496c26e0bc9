#include "aimc/nn/data.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "../common/test_error.h"

namespace aimc::nn {
namespace {
namespace fs = std::filesystem;

class DataFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aimc_nn_data_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Gzip(const fs::path& from, const fs::path& to) {
    const std::string bytes = ReadFile(from);
    gzFile out = gzopen(to.c_str(), "wb");
    ASSERT_NE(out, nullptr);
    ASSERT_EQ(gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size())),
              static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(out), Z_OK);
  }
  static void Truncate(const fs::path& path, std::size_t keep) {
    const std::string bytes = ReadFile(path);
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(keep));
  }

  fs::path dir_;
};

TEST_F(DataFiles, IdxImagesAndLabelsRoundTripPlainAndGzip) {
  const torch::Tensor images = torch::arange(3 * 28 * 28).remainder(256).to(torch::kUInt8).reshape({3, 28, 28});
  const torch::Tensor labels = torch::tensor({7, 0, 9}, torch::kUInt8);
  WriteIdx(dir_ / "img", images);
  WriteIdx(dir_ / "lab", labels);
  Gzip(dir_ / "img", dir_ / "img.gz");
  for (const char* name : {"img", "img.gz"}) {
    const torch::Tensor back = ReadIdx(dir_ / name);
    ASSERT_EQ(back.sizes(), (std::vector<std::int64_t>{3, 1, 28, 28}));
    EXPECT_TRUE(torch::equal(back.squeeze(1), images)) << name;
  }
  EXPECT_TRUE(torch::equal(ReadIdx(dir_ / "lab"), labels.to(torch::kInt64)));
  // The header: magic 0x00000803, then 3, 28, 28, big-endian (the MNIST format's definition).
  const std::string bytes = ReadFile(dir_ / "img");
  EXPECT_EQ(bytes.substr(0, 4), std::string("\0\0\x08\x03", 4));
  EXPECT_EQ(bytes.size(), 16u + 3 * 28 * 28);
}

TEST_F(DataFiles, TruncatedOrCorruptIdxNamesTheFile) {
  WriteIdx(dir_ / "img", torch::zeros({4, 28, 28}, torch::kUInt8));
  Gzip(dir_ / "img", dir_ / "img.gz");
  Truncate(dir_ / "img", 16 + 100);
  std::string message = ErrorMessage([&] { ReadIdx(dir_ / "img"); });
  EXPECT_NE(message.find((dir_ / "img").string()), std::string::npos) << message;
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;

  const std::size_t gz_size = fs::file_size(dir_ / "img.gz");
  Truncate(dir_ / "img.gz", gz_size / 2);
  message = ErrorMessage([&] { ReadIdx(dir_ / "img.gz"); });
  EXPECT_NE(message.find((dir_ / "img.gz").string()), std::string::npos) << message;

  std::ofstream(dir_ / "bad", std::ios::binary) << std::string("\x12\x34\x56\x78\0\0\0\1x", 9);
  message = ErrorMessage([&] { ReadIdx(dir_ / "bad"); });
  EXPECT_NE(message.find("magic"), std::string::npos) << message;
  message = ErrorMessage([&] { ReadIdx(dir_ / "missing"); });
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
}

// Issue 9: dimensions whose product overflows 64 bits surfaced as a LibTorch exception with a
// 30-frame backtrace. 2^23 x 2^23 x 2^18 = 2^64 wraps to 0, the size of a file without data.
TEST_F(DataFiles, IdxHeaderWhoseSizeOverflowsIsRefused) {
  const auto header = [](std::uint32_t magic, std::vector<std::uint32_t> dims) {
    std::string bytes;
    dims.insert(dims.begin(), magic);
    for (std::uint32_t v : dims)
      for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(v >> shift));
    return bytes;
  };
  const fs::path wrap = dir_ / "wrap";
  WriteFileAtomic(wrap, header(0x803, {1u << 23, 1u << 23, 1u << 18}));
  std::string message = ErrorMessage([&] { ReadIdx(wrap); });
  EXPECT_NE(message.find(wrap.string() + ": the header's dimensions 8388608 x 8388608 x 262144 "
                                         "promise more than 2^64 bytes of data, the file has 0"),
            std::string::npos)
      << message;
  const fs::path huge = dir_ / "huge";
  WriteFileAtomic(huge, header(0x803, {0xffffffffu, 0xffffffffu, 0xffffffffu}) + "xyz");
  message = ErrorMessage([&] { ReadIdx(huge); });
  EXPECT_NE(message.find("more than 2^64"), std::string::npos) << message;
  // Within 64 bits but not what the file holds.
  const fs::path big = dir_ / "big";
  WriteFileAtomic(big, header(0x801, {1u << 31}) + "abc");
  message = ErrorMessage([&] { ReadIdx(big); });
  EXPECT_NE(message.find("promise 2147483648 bytes of data, the file has 3"), std::string::npos)
      << message;
  const fs::path empty = dir_ / "empty";
  WriteFileAtomic(empty, header(0x803, {0, 28, 28}));
  EXPECT_NE(ErrorMessage([&] { ReadIdx(empty); }).find("hold no data"), std::string::npos);
  // IDX type 0x0d (float) and a rank of 2 are not aimc's uint8 labels or images.
  for (std::uint32_t magic : {0xd03u, 0x802u}) {
    const fs::path other = dir_ / "other";
    WriteFileAtomic(other, header(magic, {1, 1, 1}) + "x");
    message = ErrorMessage([&] { ReadIdx(other); });
    EXPECT_NE(message.find(other.string() + ": magic number"), std::string::npos) << message;
  }
  // A folder where a file should be.
  message = ErrorMessage([&] { ReadIdx(dir_); });
  EXPECT_NE(message.find("is a folder"), std::string::npos) << message;
}

TEST_F(DataFiles, CifarBinaryRecords) {
  // Two CIFAR-100 records: (coarse, fine, 3072 pixels); pixel k of record r is (r + k) % 256.
  std::string bytes;
  for (int r = 0; r < 2; ++r) {
    bytes.push_back(static_cast<char>(3 + r));
    bytes.push_back(static_cast<char>(42 + r));
    for (int k = 0; k < 3072; ++k) bytes.push_back(static_cast<char>((r + k) % 256));
  }
  WriteFileAtomic(dir_ / "train.bin", bytes);
  const Dataset fine = ReadCifar({dir_ / "train.bin"}, true, true);
  ASSERT_EQ(fine.size(), 2);
  EXPECT_EQ(fine.classes, 100);
  EXPECT_EQ(fine.labels[0].item<std::int64_t>(), 42);
  EXPECT_EQ(fine.labels[1].item<std::int64_t>(), 43);
  EXPECT_EQ(fine.images[1][2][31][31].item<int>(), (1 + 3071) % 256);  // channel-major layout
  EXPECT_EQ(ReadCifar({dir_ / "train.bin"}, true, false).labels[1].item<std::int64_t>(), 4);

  // CIFAR-10: one label byte. The same bytes are not a whole number of records.
  const std::string message = ErrorMessage([&] { ReadCifar({dir_ / "train.bin"}, false); });
  EXPECT_NE(message.find("train.bin"), std::string::npos) << message;
  std::string ten;
  for (int r = 0; r < 3; ++r) {
    ten.push_back(static_cast<char>(r));
    ten.append(3072, static_cast<char>(r));
  }
  fs::create_directories(dir_ / "cifar-10-batches-bin");
  for (int i = 1; i <= 5; ++i)
    WriteFileAtomic(dir_ / "cifar-10-batches-bin" / ("data_batch_" + std::to_string(i) + ".bin"), ten);
  WriteFileAtomic(dir_ / "cifar-10-batches-bin" / "test_batch.bin", ten);
  const DataSplit split = LoadData("cifar10", dir_);
  EXPECT_EQ(split.train.size(), 15);
  EXPECT_EQ(split.test.size(), 3);
  EXPECT_EQ(split.test.labels[2].item<std::int64_t>(), 2);
  EXPECT_EQ(split.train.images.sizes(), (std::vector<std::int64_t>{15, 3, 32, 32}));
}

TEST_F(DataFiles, DigitsSplitIsStratifiedAndDocumented) {
  // Class d has 6 + d digits whose pixels all equal (d + 1) / 20.
  std::int64_t expected_test = 0, expected_train = 0;
  for (int d = 0; d < 10; ++d) {
    const int count = 6 + d;
    std::string json = "{\"data\":[";
    for (int i = 0; i < count * 784; ++i) {
      if (i > 0) json += ',';
      json += std::to_string((d + 1) / 20.0);
    }
    json += "]}";
    WriteFileAtomic(dir_ / (std::to_string(d) + ".json"), json);
    for (int i = 0; i < count; ++i) (i % 5 == 4 ? expected_test : expected_train) += 1;
  }
  const DigitsSplit split = PrepareMnistDigits(dir_, dir_ / "out");
  EXPECT_EQ(split.train, expected_train);
  EXPECT_EQ(split.test, expected_test);
  const DataSplit data = LoadData("mnist", dir_ / "out");
  ASSERT_EQ(data.test.size(), expected_test);
  // Interleaved: the first ten test digits are sample 4 of classes 0..9.
  for (int d = 0; d < 10; ++d) {
    EXPECT_EQ(data.test.labels[d].item<std::int64_t>(), d);
    // Reference: round(255 x value) of the value as written in the JSON.
    EXPECT_EQ(data.test.images[d][0][14][14].item<int>(),
              std::lround(255.0 * std::stod(std::to_string((d + 1) / 20.0))));
  }
  // Idempotent: a second run writes the same bytes.
  const std::string first = ReadFile(dir_ / "out" / "train-images-idx3-ubyte");
  PrepareMnistDigits(dir_, dir_ / "out");
  EXPECT_EQ(ReadFile(dir_ / "out" / "train-images-idx3-ubyte"), first);
}

}  // namespace
}  // namespace aimc::nn
