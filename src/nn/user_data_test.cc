#include "aimc/nn/user_data.h"

#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>
#include <zip.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/nn/data.h"
#include "aimc/nn/image_file.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/npy.h"
#include "aimc/nn/train.h"
#include "../common/test_error.h"

namespace aimc::nn {
namespace {
namespace fs = std::filesystem;

// ---- writers of the formats under test, from their specifications ----------------------------

// A .npy file as numpy.lib.format writes it: magic, version, header length (2 bytes for 1.0, 4
// for 2.0 and 3.0), the dict padded with spaces and ended by '\n' to a multiple of 64 bytes.
std::string NpyBytes(const std::string& descr, const std::vector<std::int64_t>& shape,
                     const std::string& data, int version = 1, bool fortran = false) {
  std::string dims;
  for (const std::int64_t d : shape) dims += fmt::format("{}, ", d);
  if (shape.size() > 1) dims.resize(dims.size() - 2);  // (2, 3) but (5,)
  if (shape.size() == 1) dims.resize(dims.size() - 1);
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': {}, 'shape': ({}), }}",
                                   descr, fortran ? "True" : "False", dims);
  const std::size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes("\x93NUMPY", 6);
  bytes += static_cast<char>(version);
  bytes += '\0';
  const std::size_t length = header.size();
  bytes += static_cast<char>(length & 0xff);
  bytes += static_cast<char>((length >> 8) & 0xff);
  if (version != 1) bytes += std::string(2, '\0');
  return bytes + header + data;
}

template <typename T>
std::string Raw(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// An .npz: a zip of name.npy members, stored (np.savez) or deflated (np.savez_compressed).
void WriteNpz(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& members,
              bool deflate) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(archive, nullptr);
  std::vector<std::string> keep;  // libzip reads the buffers at zip_close
  keep.reserve(members.size());
  for (const auto& [name, bytes] : members) {
    keep.push_back(bytes);
    zip_source_t* source = zip_source_buffer(archive, keep.back().data(), keep.back().size(), 0);
    ASSERT_NE(source, nullptr);
    const zip_int64_t index = zip_file_add(archive, (name + ".npy").c_str(), source, 0);
    ASSERT_GE(index, 0);
    ASSERT_EQ(zip_set_file_compression(archive, static_cast<zip_uint64_t>(index),
                                       deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0),
              0);
  }
  ASSERT_EQ(zip_close(archive), 0);
}

// (C, H, W) uint8 as an 8-bit PNG (libpng's simplified API).
void WritePng(const fs::path& path, const torch::Tensor& chw) {
  const torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(chw.size(2));
  image.height = static_cast<png_uint_32>(chw.size(1));
  image.format = chw.size(0) == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  ASSERT_NE(png_image_write_to_file(&image, path.c_str(), 0, hwc.data_ptr<std::uint8_t>(), 0,
                                    nullptr),
            0)
      << image.message;
}

// (C, H, W) uint8 as a baseline JPEG of the given quality (libjpeg).
void WriteJpeg(const fs::path& path, const torch::Tensor& chw, int quality) {
  const torch::Tensor hwc = chw.permute({1, 2, 0}).contiguous();
  FILE* file = std::fopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr);
  jpeg_compress_struct info;
  jpeg_error_mgr error;
  info.err = jpeg_std_error(&error);
  jpeg_create_compress(&info);
  jpeg_stdio_dest(&info, file);
  info.image_width = static_cast<JDIMENSION>(chw.size(2));
  info.image_height = static_cast<JDIMENSION>(chw.size(1));
  info.input_components = static_cast<int>(chw.size(0));
  info.in_color_space = chw.size(0) == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  const std::size_t stride = static_cast<std::size_t>(chw.size(0) * chw.size(2));
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = hwc.data_ptr<std::uint8_t>() + stride * info.next_scanline;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::fclose(file);
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// Pixels with every byte value and no symmetry, so a transposed or shifted read differs.
torch::Tensor Pattern(std::vector<std::int64_t> shape, std::int64_t salt = 0) {
  const torch::Tensor i = torch::arange(0, c10::multiply_integers(shape), torch::kInt64);
  return ((i * 7 + i / 13 + salt) % 256).to(torch::kUInt8).reshape(shape);
}

std::string TensorBytes(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()),
                     static_cast<std::size_t>(c.numel() * c.element_size()));
}

bool Same(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && a.equal(b);
}

class UserData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("aimc_user_data_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The npy folder convention: train_images.npy, train_labels.npy, test_images.npy,
  // test_labels.npy.
  void WriteNpyFolder(const fs::path& dir, const std::string& train_images,
                      const std::string& train_labels, const std::string& test_images,
                      const std::string& test_labels) {
    WriteBytes(dir / "train_images.npy", train_images);
    WriteBytes(dir / "train_labels.npy", train_labels);
    WriteBytes(dir / "test_images.npy", test_images);
    WriteBytes(dir / "test_labels.npy", test_labels);
  }

  fs::path dir_;
};

TEST_F(UserData, NpyUint8RoundTripsBitExactInEveryFormatVersionAndLabelType) {
  const torch::Tensor train = Pattern({6, 1, 28, 28}), test = Pattern({3, 1, 28, 28}, 5);
  const std::vector<std::uint8_t> train_labels = {0, 1, 2, 3, 4, 1};
  for (int version : {1, 2, 3}) {
    // Labels as int64, uint8, int16 and uint32: any integer width reads the same.
    const std::vector<std::pair<std::string, std::string>> label_files = {
        {"<i8", Raw(std::vector<std::int64_t>{2, 0, 1})},
        {"|u1", Raw(std::vector<std::uint8_t>{2, 0, 1})},
        {"<i2", Raw(std::vector<std::int16_t>{2, 0, 1})},
        {"<u4", Raw(std::vector<std::uint32_t>{2, 0, 1})}};
    for (const auto& [descr, test_labels] : label_files) {
      const fs::path dir = dir_ / fmt::format("v{}{}", version, descr.substr(1));
      WriteNpyFolder(dir, NpyBytes("|u1", {6, 1, 28, 28}, TensorBytes(train), version),
                     NpyBytes("|u1", {6}, Raw(train_labels), version),
                     NpyBytes("|u1", {3, 28, 28}, TensorBytes(test), version),  // rank 3: C = 1
                     NpyBytes(descr, {3}, test_labels, version));
      const DataSplit split = LoadData("npy", dir);
      EXPECT_TRUE(Same(split.train.images, train)) << version << descr;
      EXPECT_TRUE(Same(split.test.images, test)) << version << descr;
      EXPECT_TRUE(Same(split.train.labels,
                       torch::tensor(std::vector<std::int64_t>{0, 1, 2, 3, 4, 1}, torch::kInt64)));
      EXPECT_TRUE(Same(split.test.labels,
                       torch::tensor(std::vector<std::int64_t>{2, 0, 1}, torch::kInt64)));
      EXPECT_EQ(split.train.classes, 5);  // 1 + the largest label of train and test
      EXPECT_EQ(split.test.classes, 5);
      EXPECT_EQ(split.train.name, "npy");
    }
  }
}

TEST_F(UserData, NhwcIsDetectedFromTheChannelAxisAndTransposedToNchw) {
  const torch::Tensor nchw = Pattern({4, 3, 32, 32});
  const torch::Tensor nhwc = nchw.permute({0, 2, 3, 1}).contiguous();
  const std::string labels = NpyBytes("<i8", {4}, Raw(std::vector<std::int64_t>{0, 1, 0, 1}));
  WriteNpyFolder(dir_ / "nhwc", NpyBytes("|u1", {4, 32, 32, 3}, TensorBytes(nhwc)), labels,
                 NpyBytes("|u1", {4, 32, 32, 3}, TensorBytes(nhwc)), labels);
  EXPECT_TRUE(Same(LoadData("npy", dir_ / "nhwc").train.images, nchw));
  EXPECT_TRUE(Same(LoadData("npy:nhwc", dir_ / "nhwc").test.images, nchw));
  // The same bytes declared NCHW are refused: axis 1 (32) is not a channel count.
  EXPECT_NE(ErrorMessage([&] { LoadData("npy:nchw", dir_ / "nhwc"); }).find("have 32 channels"),
            std::string::npos);

  // (N, 3, 4, 3): axis 1 and axis 3 could both be the channels; the layout decides.
  const torch::Tensor odd = Pattern({2, 3, 4, 3});
  const std::string odd_labels = NpyBytes("<i8", {2}, Raw(std::vector<std::int64_t>{0, 1}));
  WriteNpyFolder(dir_ / "odd", NpyBytes("|u1", {2, 3, 4, 3}, TensorBytes(odd)), odd_labels,
                 NpyBytes("|u1", {2, 3, 4, 3}, TensorBytes(odd)), odd_labels);
  const std::string message = ErrorMessage([&] { LoadData("npy", dir_ / "odd"); });
  EXPECT_NE(message.find((dir_ / "odd" / "train_images.npy").string()), std::string::npos)
      << message;
  EXPECT_NE(message.find("npy:nhwc"), std::string::npos) << message;
  EXPECT_TRUE(Same(LoadData("npy:nchw", dir_ / "odd").train.images, odd));
  EXPECT_TRUE(Same(LoadData("npy:nhwc", dir_ / "odd").train.images, odd.permute({0, 3, 1, 2})));
}

TEST_F(UserData, FloatPixelsInUnitOrByteRangeBecomeTheirRoundedBytes) {
  // [0, 1]: b / 255 in float32 for every byte b reads back as b. [0, 255]: half steps in float64
  // round away from zero (std::lround, "round(x)" in docs/data.md).
  std::vector<float> unit;
  std::vector<double> byte;
  std::vector<std::uint8_t> expect, expect_byte;
  for (int i = 0; i < 2 * 28 * 28; ++i) {
    const int b = (i * 37) % 256;
    unit.push_back(static_cast<float>(b / 255.0));
    expect.push_back(static_cast<std::uint8_t>(b));
    const double half = (i * 37) % 511 / 2.0;  // 0, 0.5, ..., 255
    byte.push_back(half);
    expect_byte.push_back(static_cast<std::uint8_t>(std::lround(half)));
  }
  const torch::Tensor want =
      torch::from_blob(expect.data(), {2, 1, 28, 28}, torch::kUInt8).clone();
  const std::string labels = NpyBytes("|u1", {2}, Raw(std::vector<std::uint8_t>{0, 1}));
  WriteNpyFolder(dir_ / "unit", NpyBytes("<f4", {2, 1, 28, 28}, Raw(unit)), labels,
                 NpyBytes("<f4", {2, 1, 28, 28}, Raw(unit)), labels);
  WriteNpyFolder(dir_ / "byte", NpyBytes("<f8", {2, 28, 28, 1}, Raw(byte)), labels,
                 NpyBytes("<f8", {2, 28, 28, 1}, Raw(byte)), labels);
  EXPECT_TRUE(Same(LoadData("npy", dir_ / "unit").train.images, want));
  EXPECT_TRUE(Same(LoadData("npy", dir_ / "byte").train.images,
                   torch::from_blob(expect_byte.data(), {2, 1, 28, 28}, torch::kUInt8)));

  // NaN, negative and > 255 pixels are refused naming the file and the element.
  for (const double bad : {std::nan(""), -0.25, 300.0}) {
    std::vector<double> pixels(2 * 28 * 28, 0.5);
    pixels[17] = bad;
    const fs::path dir = dir_ / fmt::format("bad{}", bad);
    WriteNpyFolder(dir, NpyBytes("<f8", {2, 28, 28}, Raw(std::vector<double>(2 * 784, 0.5))),
                   labels, NpyBytes("<f8", {2, 28, 28}, Raw(pixels)), labels);
    const std::string message = ErrorMessage([&] { LoadData("npy", dir); });
    EXPECT_NE(message.find((dir / "test_images.npy").string()), std::string::npos) << message;
    EXPECT_NE(message.find("flat index 17"), std::string::npos) << message;
  }
}

TEST_F(UserData, NpzStoredAndDeflatedReadTheSameArrays) {
  const torch::Tensor train = Pattern({5, 28, 28, 1}), test = Pattern({2, 28, 28, 1}, 3);
  const std::vector<std::pair<std::string, std::string>> members = {
      {"x_train", NpyBytes("|u1", {5, 28, 28, 1}, TensorBytes(train))},
      {"y_train", NpyBytes("<i8", {5, 1}, Raw(std::vector<std::int64_t>{0, 1, 2, 0, 1}))},
      {"x_test", NpyBytes("|u1", {2, 28, 28, 1}, TensorBytes(test))},
      {"y_test", NpyBytes("<i4", {2}, Raw(std::vector<std::int32_t>{2, 2}))}};
  WriteNpz(dir_ / "stored.npz", members, false);
  WriteNpz(dir_ / "deflated.npz", members, true);
  EXPECT_LT(fs::file_size(dir_ / "deflated.npz"), fs::file_size(dir_ / "stored.npz"));
  for (const char* file : {"stored.npz", "deflated.npz"}) {
    const DataSplit split = LoadData("npz", dir_ / file);
    EXPECT_TRUE(Same(split.train.images, train.permute({0, 3, 1, 2}))) << file;
    EXPECT_TRUE(Same(split.test.images, test.permute({0, 3, 1, 2}))) << file;
    EXPECT_TRUE(Same(split.train.labels,
                     torch::tensor(std::vector<std::int64_t>{0, 1, 2, 0, 1}, torch::kInt64)));
    EXPECT_EQ(split.test.classes, 3);
  }
  // A folder holding exactly one .npz reads it.
  fs::create_directories(dir_ / "one");
  fs::copy_file(dir_ / "deflated.npz", dir_ / "one" / "data.npz");
  EXPECT_TRUE(Same(LoadData("npz", dir_ / "one").train.images, train.permute({0, 3, 1, 2})));
  EXPECT_EQ(ShapeOf("npz", dir_ / "one").classes, 3);

  // A missing key names the keys there are.
  WriteNpz(dir_ / "partial.npz", {members[0], members[1]}, true);
  const std::string message = ErrorMessage([&] { LoadData("npz", dir_ / "partial.npz"); });
  EXPECT_NE(message.find("no array 'x_test'"), std::string::npos) << message;
  EXPECT_NE(message.find("x_train, y_train"), std::string::npos) << message;

  // A flipped byte in a deflated member's data: a CRC or inflate error naming the member.
  std::string bytes = ReadFile(dir_ / "deflated.npz");
  const std::size_t at = bytes.find("x_train.npy") + 11 + 100;  // inside the member's data
  bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
  WriteBytes(dir_ / "corrupt.npz", bytes);
  const std::string corrupt = ErrorMessage([&] { ReadNpz(dir_ / "corrupt.npz"); });
  EXPECT_NE(corrupt.find("x_train.npy in " + (dir_ / "corrupt.npz").string()), std::string::npos)
      << corrupt;
  // Cut short: the zip's central directory is gone.
  WriteBytes(dir_ / "short.npz", ReadFile(dir_ / "stored.npz").substr(0, 3000));
  const std::string truncated = ErrorMessage([&] { ReadNpz(dir_ / "short.npz"); });
  EXPECT_NE(truncated.find((dir_ / "short.npz").string() + ": not a readable .npz"),
            std::string::npos)
      << truncated;
}

TEST_F(UserData, MalformedArraysAreRefusedNamingTheFile) {
  const std::string images = NpyBytes("|u1", {2, 28, 28}, std::string(2 * 784, '\1'));
  const std::string labels = NpyBytes("|u1", {2}, std::string("\0\1", 2));
  struct Case {
    std::string name;
    std::string train_images, train_labels;
    std::string expect;  // in the message, after the file's name
  };
  std::string bad_magic = images;
  bad_magic[1] = 'X';
  std::string bad_version = images;
  bad_version[6] = 4;
  const std::vector<Case> cases = {
      {"magic", bad_magic, labels, "not a NumPy .npy file"},
      {"version", bad_version, labels, "format version 4.0"},
      {"truncated", images.substr(0, images.size() - 5), labels, "truncated"},
      {"trailing", images + "xx", labels, "trailing bytes"},
      {"header_cut", images.substr(0, 40), labels, "truncated .npy file"},
      {"int16_images", NpyBytes("<i2", {2, 28, 28}, std::string(2 * 784 * 2, '\0')), labels,
       "images of dtype int16"},
      {"complex", NpyBytes("<c8", {2, 28, 28}, std::string(2 * 784 * 8, '\0')), labels,
       "dtype '<c8' is not one aimc reads"},
      {"object", NpyBytes("|O", {2}, std::string(16, '\0')), labels, "dtype '|O'"},
      {"big_endian", NpyBytes(">f4", {2, 28, 28}, std::string(2 * 784 * 4, '\0')), labels,
       "big-endian"},
      {"fortran", NpyBytes("|u1", {2, 28, 28}, std::string(2 * 784, '\1'), 1, true), labels,
       "Fortran order"},
      {"rank2", NpyBytes("|u1", {2, 784}, std::string(2 * 784, '\1')), labels,
       "images of shape (2, 784)"},
      {"count", images, NpyBytes("|u1", {3}, std::string("\0\1\1", 3)), "has 3 labels"},
      {"float_labels", images, NpyBytes("<f4", {2}, std::string(8, '\0')),
       "labels of dtype float32"},
      {"negative_label", images, NpyBytes("<i4", {2}, Raw(std::vector<std::int32_t>{0, -1})),
       "label -1 at index 1"},
  };
  for (const Case& c : cases) {
    const fs::path dir = dir_ / c.name;
    WriteNpyFolder(dir, c.train_images, c.train_labels, images, labels);
    const std::string message = ErrorMessage([&] { LoadData("npy", dir); });
    const std::string file = c.name == "count"
                                 ? (dir / "train_images.npy").string()
                                 : (dir / (c.train_labels == labels ? "train_images.npy"
                                                                    : "train_labels.npy"))
                                       .string();
    EXPECT_NE(message.find(file), std::string::npos) << c.name << ": " << message;
    EXPECT_NE(message.find(c.expect), std::string::npos) << c.name << ": " << message;
  }
  // A missing file, and a user format without its path.
  EXPECT_NE(ErrorMessage([&] { LoadData("npy", dir_ / "none"); }).find("not a folder"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([&] { LoadData("npz", {}); }).find("--data-dir"), std::string::npos);
}

// A data path that is no regular file is refused before it is opened: a link to /dev/zero was
// read without end (588 MB in 6 s) and a FIFO blocked forever.
TEST_F(UserData, OnlyRegularFilesAreReadAndTheMagicComesFirst) {
  const fs::path zero = dir_ / "zero.npy";
  fs::create_symlink("/dev/zero", zero);
  EXPECT_THAT(ErrorMessage([&] { ReadNpy(zero); }),
              ::testing::HasSubstr("zero.npy: not a regular file (a device, FIFO or socket)"));
  const fs::path fifo = dir_ / "fifo.npy";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(ErrorMessage([&] { ReadNpy(fifo); }),
              ::testing::HasSubstr("fifo.npy: not a regular file"));
  EXPECT_THAT(ErrorMessage([&] { ReadImage(fifo); }),
              ::testing::HasSubstr("fifo.npy: not a regular file"));
  // 8 MiB of text named .npy: refused by its first bytes.
  WriteBytes(dir_ / "text.npy", std::string(8 << 20, 'a'));
  EXPECT_THAT(ErrorMessage([&] { ReadNpy(dir_ / "text.npy"); }),
              ::testing::HasSubstr("text.npy: not a NumPy .npy file"));
  WriteBytes(dir_ / "empty.npy", "");
  EXPECT_THAT(ErrorMessage([&] { ReadNpy(dir_ / "empty.npy"); }),
              ::testing::HasSubstr("empty.npy: not a NumPy .npy file"));
}

// A PNG cut after its image data (no IEND chunk) loaded as if whole: libpng's simplified reader
// stops at the last data chunk. Refused, as is a PNG cut inside a chunk or with bytes after IEND.
TEST_F(UserData, PngWithoutItsEndIsRefused) {
  const fs::path whole = dir_ / "whole.png";
  WritePng(whole, Pattern({1, 28, 28}));
  std::ifstream in(whole, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.substr(bytes.size() - 8, 4), "IEND");
  EXPECT_TRUE(Same(ReadImage(whole), Pattern({1, 28, 28})));
  WriteBytes(dir_ / "no_iend.png", bytes.substr(0, bytes.size() - 12));
  EXPECT_THAT(ErrorMessage([&] { ReadImage(dir_ / "no_iend.png"); }),
              ::testing::HasSubstr(
                  "no_iend.png: corrupt or truncated PNG (it ends inside a chunk header"));
  WriteBytes(dir_ / "cut.png", bytes.substr(0, bytes.size() - 20));
  EXPECT_THAT(ErrorMessage([&] { ReadImage(dir_ / "cut.png"); }),
              ::testing::HasSubstr("cut.png: corrupt or truncated PNG (chunk"));
  WriteBytes(dir_ / "tail.png", bytes + "extra");
  EXPECT_THAT(ErrorMessage([&] { ReadImage(dir_ / "tail.png"); }),
              ::testing::HasSubstr("tail.png: 5 bytes after the PNG's IEND chunk"));
}

TEST_F(UserData, NamesOfTheUserFormats) {
  for (const char* ok : {"npy", "npz", "folder", "npy:nchw", "npz:nhwc"}) {
    EXPECT_TRUE(IsDatasetName(ok)) << ok;
    EXPECT_TRUE(IsUserDataset(ok)) << ok;
  }
  for (const char* bad : {"npy:", "npz:hwc", "folder:nhwc", "npyx", "mnist:nhwc", ""})
    EXPECT_FALSE(IsDatasetName(bad)) << bad;
  EXPECT_TRUE(IsDatasetName("cifar10"));
  EXPECT_FALSE(IsUserDataset("cifar10"));
  EXPECT_NE(ErrorMessage([] { ShapeOf("npy:xyz", "/nonexistent"); }).find("must be nchw or nhwc"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([] { LoadData("folder:nhwc", "/nonexistent"); }).find("only npy and npz"),
            std::string::npos);
}

TEST_F(UserData, ShapeOfReadsTheDataAndNetworksRefuseSizesTheyCannotTake) {
  const std::string labels = NpyBytes("|u1", {2}, std::string("\0\3", 2));
  WriteNpyFolder(dir_ / "ok", NpyBytes("|u1", {2, 32, 32, 3}, TensorBytes(Pattern({2, 32, 32, 3}))),
                 labels, NpyBytes("|u1", {2, 32, 32, 3}, TensorBytes(Pattern({2, 32, 32, 3}))),
                 labels);
  const DatasetShape shape = ShapeOf("npy", dir_ / "ok");
  EXPECT_EQ(shape.channels, 3);
  EXPECT_EQ(shape.size, 32);
  EXPECT_EQ(shape.classes, 4);

  WriteNpyFolder(dir_ / "wide", NpyBytes("|u1", {2, 1, 28, 30}, std::string(2 * 28 * 30, '\0')),
                 labels, NpyBytes("|u1", {2, 1, 28, 30}, std::string(2 * 28 * 30, '\0')), labels);
  EXPECT_NE(ErrorMessage([&] { ShapeOf("npy", dir_ / "wide"); }).find("28x30"), std::string::npos);

  WriteNpyFolder(dir_ / "big", NpyBytes("|u1", {2, 1, 64, 64}, std::string(2 * 64 * 64, '\0')),
                 labels, NpyBytes("|u1", {2, 1, 64, 64}, std::string(2 * 64 * 64, '\0')), labels);
  const std::string message =
      ErrorMessage([&] { NetworkFor("lenet5", LoadData("npy", dir_ / "big").train); });
  EXPECT_NE(message.find("images are 64x64; the networks (lenet5, resnet26) take 28x28 or 32x32"),
            std::string::npos)
      << message;
}

TEST_F(UserData, TrainingOnNpzDataRecordsTheFormatAndReadsItBack) {
  // A learnable toy: class k's images are bright in the k-th horizontal band.
  torch::manual_seed(3);
  const auto make = [](std::int64_t n) {
    torch::Tensor labels = torch::arange(n, torch::kInt64) % 3;
    torch::Tensor x = torch::randint(0, 40, {n, 28, 28, 1}, torch::kLong);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t k = labels[i].item<std::int64_t>();
      x[i].narrow(0, 9 * k, 9).add_(200);
    }
    return std::pair{x.to(torch::kUInt8), labels};
  };
  const auto [x_train, y_train] = make(96);
  const auto [x_test, y_test] = make(30);
  WriteNpz(dir_ / "toy.npz",
           {{"x_train", NpyBytes("|u1", {96, 28, 28, 1}, TensorBytes(x_train))},
            {"y_train", NpyBytes("<i8", {96}, TensorBytes(y_train))},
            {"x_test", NpyBytes("|u1", {30, 28, 28, 1}, TensorBytes(x_test))},
            {"y_test", NpyBytes("<i8", {30}, TensorBytes(y_test))}},
           true);
  TrainOptions options;
  options.dataset = "npz:nhwc";
  options.data_dir = dir_ / "toy.npz";
  options.epochs = 8;
  options.batch_size = 16;
  options.progress = false;
  options.Validate();
  const DataSplit data = LoadData(options.dataset, options.data_dir);
  const NetworkOptions net = NetworkFor("lenet5", data.train);
  EXPECT_EQ(net.classes, 3);
  const Model model = Train(net, options, data, dir_ / "model.pt");
  EXPECT_GT(model.info.history.back().test_accuracy, 0.9);  // the bands separate the classes
  const Model back = LoadModel(dir_ / "model.pt");
  EXPECT_EQ(back.info.training.dataset, "npz:nhwc");
  EXPECT_EQ(back.info.training.data_dir, dir_ / "toy.npz");

  TrainOptions no_dir = options;
  no_dir.data_dir.clear();
  EXPECT_NE(ErrorMessage([&] { no_dir.Validate(); }).find("--data-dir"), std::string::npos);
}

// The arrays NumPy itself writes (np.save, np.savez, np.savez_compressed), made by
// src/nn/testdata/make_npy.py with the interpreter CMake found.
TEST_F(UserData, ReadsWhatNumpyWrites) {
  const std::string python = AIMC_PYTHON_EXECUTABLE;
  if (python.empty()) GTEST_SKIP() << "no Python interpreter found at configure time";
  if (std::system(fmt::format("'{}' -c 'import numpy' 2>/dev/null", python).c_str()) != 0)
    GTEST_SKIP() << python << " cannot import numpy (install python3-numpy)";
  const std::string script = std::string(AIMC_SOURCE_DIR) + "/src/nn/testdata/make_npy.py";
  ASSERT_EQ(std::system(fmt::format("'{}' '{}' '{}'", python, script, dir_.string()).c_str()), 0);
  // The script's pattern: pixel (n, y, x, c) = (n * 31 + y * 7 + x * 3 + c) % 256, labels n % 10.
  const auto expect = [](std::int64_t n, std::int64_t c, std::int64_t size) {
    const torch::Tensor i = torch::arange(n).view({n, 1, 1, 1}) * 31 +
                            torch::arange(size).view({1, 1, size, 1}) * 7 +
                            torch::arange(size).view({1, 1, 1, size}) * 3 +
                            torch::arange(c).view({1, c, 1, 1});
    return (i % 256).to(torch::kUInt8);
  };
  const torch::Tensor gray = expect(12, 1, 28), rgb = expect(12, 3, 32);
  const torch::Tensor labels = torch::arange(12, torch::kInt64) % 10;
  for (const char* name : {"savez.npz", "savez_compressed.npz"}) {
    const DataSplit split = LoadData("npz", dir_ / name);
    EXPECT_TRUE(Same(split.train.images, rgb)) << name;  // written NHWC
    EXPECT_TRUE(Same(split.train.labels, labels)) << name;
    EXPECT_TRUE(Same(split.test.images, rgb)) << name;
  }
  const DataSplit folder = LoadData("npy", dir_ / "npy");  // float32 in [0, 1], NCHW, int32 labels
  EXPECT_TRUE(Same(folder.train.images, gray));
  EXPECT_TRUE(Same(folder.test.labels, labels));
  EXPECT_NE(ErrorMessage([&] { ReadNpy(dir_ / "fortran.npy"); }).find("Fortran order"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([&] { ReadNpy(dir_ / "big_endian.npy"); }).find("big-endian"),
            std::string::npos);
}

// ---- image folders ---------------------------------------------------------------------------

TEST_F(UserData, PngFoldersRoundTripBitExactInGrayAndRgbWithSortedClasses) {
  for (const std::int64_t channels : {1, 3}) {
    const fs::path root = dir_ / fmt::format("c{}", channels);
    // Classes named out of order on disk: labels follow the sorted names (cat 0, dog 1, emu 2).
    std::vector<torch::Tensor> train_images, test_images;
    std::vector<std::int64_t> train_labels;
    const std::vector<std::string> sorted = {"cat", "dog", "emu"};
    std::int64_t salt = 0;
    for (const std::string& cls : sorted) {
      fs::create_directories(root / "train" / cls);
      fs::create_directories(root / "test" / cls);
      for (int k = 0; k < 2; ++k) {
        const torch::Tensor image = Pattern({channels, 28, 28}, ++salt);
        WritePng(root / "train" / cls / fmt::format("img{}.png", k), image);
        train_images.push_back(image);
        train_labels.push_back(std::find(sorted.begin(), sorted.end(), cls) - sorted.begin());
      }
      const torch::Tensor image = Pattern({channels, 28, 28}, 100 + ++salt);
      WritePng(root / "test" / cls / "a.PNG", image);  // extensions in any case
      test_images.push_back(image);
    }
    const DataSplit split = LoadData("folder", root);
    EXPECT_TRUE(Same(split.train.images, torch::stack(train_images))) << channels;
    EXPECT_TRUE(Same(split.test.images, torch::stack(test_images))) << channels;
    EXPECT_TRUE(Same(split.train.labels, torch::tensor(train_labels, torch::kInt64)));
    EXPECT_EQ(split.train.classes, 3);
    EXPECT_EQ(split.train.class_names, sorted);
    EXPECT_EQ(split.test.class_names, sorted);
    EXPECT_EQ(ShapeOf("folder", root).channels, channels);
  }
}

// A model remembers the class names it learned (model files keep them); data that name their
// classes in another order or otherwise get a warning that says which labels moved, and data or
// models that do not know their names get none.
TEST_F(UserData, DataWhoseClassesDifferFromTheModelsAreNamed) {
  ModelInfo model;
  Dataset data;
  data.name = "folder";
  EXPECT_EQ(ClassNamesWarning(model, data), "");
  model.class_names = {"T-shirt/top", "Trouser", "Pullover"};
  EXPECT_EQ(ClassNamesWarning(model, data), "");  // the data do not name theirs
  data.class_names = model.class_names;
  EXPECT_EQ(ClassNamesWarning(model, data), "");
  data.class_names = {"Pullover", "T-shirt/top", "Trouser"};  // sorted, as a folder's are
  const std::string order = ClassNamesWarning(model, data);
  EXPECT_NE(order.find("in another order"), std::string::npos) << order;
  EXPECT_NE(order.find("label 0 is 'T-shirt/top' for the model, 'Pullover' in the data"),
            std::string::npos)
      << order;
  data.class_names = {"cat", "dog", "emu"};
  const std::string other = ClassNamesWarning(model, data);
  EXPECT_NE(other.find("names its classes cat, dog, emu"), std::string::npos) << other;
  // Round trip through a model's JSON; a model without names writes none.
  EXPECT_EQ(ModelInfo::FromJson(model.ToJson()).class_names, model.class_names);
  EXPECT_FALSE(ModelInfo().ToJson().contains("class_names"));
  nlohmann::json bad = model.ToJson();
  bad["class_names"] = {1, 2};
  EXPECT_NE(ErrorMessage([&] { ModelInfo::FromJson(bad); }).find("'class_names' must be a list"),
            std::string::npos);
}

TEST_F(UserData, JpegDecodesWithinItsCompressionError) {
  // A smooth image: JPEG at quality 95 stays within a few levels of it.
  for (const std::int64_t channels : {1, 3}) {
    const torch::Tensor y = torch::arange(32).view({1, 32, 1}), x = torch::arange(32).view({1, 1, 32});
    const torch::Tensor c = torch::arange(channels).view({channels, 1, 1});
    const torch::Tensor image = (y * 3 + x * 2 + c * 30).to(torch::kUInt8);
    const fs::path path = dir_ / fmt::format("smooth{}.jpg", channels);
    WriteJpeg(path, image, 95);
    const torch::Tensor read = ReadImage(path);
    ASSERT_EQ(read.sizes(), image.sizes());
    // 6 levels: quality 95 quantizes a smooth gradient's DCT coefficients by 1-2 steps, chroma
    // subsampling (4:2:0) adds up to a few levels where the colour channels differ.
    EXPECT_LE((read.to(torch::kInt) - image.to(torch::kInt)).abs().max().item<int>(), 6);
  }
  // A JPEG cut short is refused (libjpeg's premature-end warning is an error here).
  const std::string bytes = ReadFile(dir_ / "smooth3.jpg");
  WriteBytes(dir_ / "cut.jpg", bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(ErrorMessage([&] { ReadImage(dir_ / "cut.jpg"); })
                .find((dir_ / "cut.jpg").string() + ": corrupt or unreadable JPEG"),
            std::string::npos);
}

TEST_F(UserData, ImageFoldersRefuseMixedSizesChannelsAndStrayFilesNamingThem) {
  const auto make = [&](const std::string& name) {
    const fs::path root = dir_ / name;
    for (const char* split : {"train", "test"})
      for (const char* cls : {"a", "b"}) {
        fs::create_directories(root / split / cls);
        WritePng(root / split / cls / "0.png", Pattern({1, 28, 28}));
      }
    return root;
  };
  const fs::path size = make("size");
  WritePng(size / "test" / "b" / "1.png", Pattern({1, 32, 32}));
  std::string message = ErrorMessage([&] { LoadData("folder", size); });
  EXPECT_NE(message.find((size / "test" / "b" / "1.png").string() + ": the image is 32x32"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find((size / "train" / "a" / "0.png").string() + " is 28x28"),
            std::string::npos)
      << message;

  const fs::path channels = make("channels");
  WriteJpeg(channels / "train" / "b" / "1.jpg", Pattern({3, 28, 28}), 90);
  message = ErrorMessage([&] { LoadData("folder", channels); });
  EXPECT_NE(message.find((channels / "train" / "b" / "1.jpg").string() +
                         ": the image is 28x28 with 3 channels"),
            std::string::npos)
      << message;

  const fs::path stray = make("stray");
  WriteBytes(stray / "train" / "a" / "notes.txt", "x");
  EXPECT_NE(ErrorMessage([&] { LoadData("folder", stray); })
                .find((stray / "train" / "a" / "notes.txt").string() + ": not a .png"),
            std::string::npos);

  const fs::path unknown = make("unknown");
  fs::create_directories(unknown / "test" / "zebra");
  WritePng(unknown / "test" / "zebra" / "0.png", Pattern({1, 28, 28}));
  EXPECT_NE(ErrorMessage([&] { LoadData("folder", unknown); })
                .find("class 'zebra' is not among the training classes (a, b)"),
            std::string::npos);

  const fs::path broken = make("broken");
  const std::string png = ReadFile(broken / "train" / "a" / "0.png");
  WriteBytes(broken / "train" / "a" / "0.png", png.substr(0, png.size() - 20));
  EXPECT_NE(ErrorMessage([&] { LoadData("folder", broken); })
                .find((broken / "train" / "a" / "0.png").string() + ": corrupt or truncated PNG"),
            std::string::npos);

  EXPECT_NE(ErrorMessage([&] { LoadData("folder", dir_ / "nothing"); }).find("no such folder"),
            std::string::npos);
}

}  // namespace
}  // namespace aimc::nn
