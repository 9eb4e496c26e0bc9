#include "aimc/nn/data.h"

#include <zlib.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/resources.h"
#include "aimc/nn/user_data.h"
#include "data_file.h"

namespace aimc::nn {
namespace fs = std::filesystem;

// Whole file through zlib: gzread passes plain files through unchanged, so one path reads both.
std::string ReadDataFile(const fs::path& path,
                         const std::function<void(std::string_view head)>& check_head) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  Require(!error && fs::exists(status), "{}: no such file", path.string());
  Require(!fs::is_directory(status), "{}: is a folder, not a data file", path.string());
  Require(fs::is_regular_file(status),
          "{}: not a regular file (a device, FIFO or socket): aimc reads data from files only",
          path.string());
  gzFile file = gzopen(path.c_str(), "rb");
  Require(file != nullptr, "{}: cannot open", path.string());
  std::string bytes;
  std::array<char, 1 << 16> chunk{};
  for (;;) {
    const int got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      Fail("{}: corrupt gzip data ({})", path.string(), message);
    }
    if (got == 0) break;
    const bool first = bytes.empty();
    bytes.append(chunk.data(), static_cast<std::size_t>(got));
    if (first && check_head) {
      try {
        check_head(bytes);
      } catch (...) {
        gzclose(file);
        throw;
      }
    }
    if (bytes.size() > kMaxDataFileBytes) {
      gzclose(file);
      Fail("{}: more than {} GiB (uncompressed): not a data file aimc reads", path.string(),
           kMaxDataFileBytes >> 30);
    }
  }
  // A gzip stream cut short reads as a short file; zlib reports it only here.
  const int closed = gzclose(file);
  Require(closed == Z_OK, "{}: truncated or corrupt gzip stream (zlib error {})", path.string(),
          closed);
  if (bytes.empty() && check_head) check_head(bytes);
  return bytes;
}

namespace {

std::uint32_t BigEndian32(const std::string& bytes, std::size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void PutBigEndian32(std::string& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(value >> shift));
}

fs::path FindFile(const fs::path& dir, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (fs::exists(dir / name)) return dir / name;
    if (fs::exists(dir / (name + ".gz"))) return dir / (name + ".gz");
  }
  return {};
}

fs::path RequireFile(const fs::path& dir, const std::vector<std::string>& names,
                     const std::string& how_to_get) {
  fs::path found = FindFile(dir, names);
  Require(!found.empty(), "{}: no {} (or .gz) there; {}", dir.string(), names.front(), how_to_get);
  return found;
}

Dataset IdxPair(const fs::path& images_path, const fs::path& labels_path, const std::string& name) {
  Dataset set;
  set.images = ReadIdx(images_path);
  set.labels = ReadIdx(labels_path);
  Require(set.images.dim() == 4, "{}: holds labels, expected images", images_path.string());
  Require(set.labels.dim() == 1, "{}: holds images, expected labels", labels_path.string());
  Require(set.images.size(0) == set.labels.size(0), "{} has {} images but {} has {} labels",
          images_path.string(), set.images.size(0), labels_path.string(), set.labels.size(0));
  set.classes = 10;
  Require(set.labels.max().item<std::int64_t>() < set.classes,
          "{}: label {} is not a digit class 0..9", labels_path.string(),
          set.labels.max().item<std::int64_t>());
  set.name = name;
  return set;
}

DataSplit LoadIdxSplit(const fs::path& dir, const std::string& name, const std::string& how) {
  DataSplit split;
  split.train = IdxPair(RequireFile(dir, {"train-images-idx3-ubyte", "train-images.idx3-ubyte"}, how),
                        RequireFile(dir, {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"}, how),
                        name);
  split.test = IdxPair(RequireFile(dir, {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"}, how),
                       RequireFile(dir, {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"}, how),
                       name);
  return split;
}

DataSplit LoadCifar(const fs::path& data_dir, bool cifar100) {
  const std::string how =
      "download the binary version from https://www.cs.toronto.edu/~kriz/cifar.html and pass "
      "its folder as --data-dir";
  Require(!data_dir.empty(), "{} needs --data-dir; {}", cifar100 ? "cifar100" : "cifar10", how);
  fs::path dir = data_dir;
  const char* sub = cifar100 ? "cifar-100-binary" : "cifar-10-batches-bin";
  if (fs::exists(dir / sub)) dir /= sub;
  DataSplit split;
  if (cifar100) {
    split.train = ReadCifar({RequireFile(dir, {"train.bin"}, how)}, true);
    split.test = ReadCifar({RequireFile(dir, {"test.bin"}, how)}, true);
  } else {
    std::vector<fs::path> train;
    for (int i = 1; i <= 5; ++i)
      train.push_back(RequireFile(dir, {fmt::format("data_batch_{}.bin", i)}, how));
    split.train = ReadCifar(train, false);
    split.test = ReadCifar({RequireFile(dir, {"test_batch.bin"}, how)}, false);
  }
  return split;
}

}  // namespace

Dataset Dataset::Head(std::int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  Dataset head = *this;
  head.images = images.narrow(0, 0, n);
  head.labels = labels.narrow(0, 0, n);
  return head;
}

const std::vector<std::string>& DatasetNames() {
  static const std::vector<std::string> names = {"mnist", "fashion-mnist", "cifar10", "cifar100",
                                                 "npy",   "npz",           "folder"};
  return names;
}

bool IsUserDataset(const std::string& name) { return IsUserFormat(name); }

bool IsDatasetName(const std::string& name) {
  return IsUserDataset(name) ||
         std::find(DatasetNames().begin(), DatasetNames().end(), name) != DatasetNames().end();
}

DatasetShape ShapeOf(const std::string& dataset, const fs::path& data_dir) {
  if (dataset == "mnist" || dataset == "fashion-mnist") return {1, 28, 10};
  if (dataset == "cifar10") return {3, 32, 10};
  if (dataset == "cifar100") return {3, 32, 100};
  // A name with a colon is a user format with a layout, or a mistake ParseUserFormat explains.
  if (IsUserDataset(dataset) || dataset.find(':') != std::string::npos) {
    const DataSplit split = LoadUserData(dataset, data_dir);
    const torch::Tensor& x = split.train.images;
    Require(x.size(2) == x.size(3),
            "data set '{}' at {}: images are {}x{} (height x width); aimc's networks take square "
            "images",
            dataset, data_dir.string(), x.size(2), x.size(3));
    return {x.size(1), x.size(2), split.train.classes};
  }
  Fail("dataset must be one of {} (npy and npz also as npy:nchw, npz:nhwc, ...); got '{}'",
       fmt::join(DatasetNames(), ", "), dataset);
}

std::string Fingerprint(const DataSplit& data) {
  std::uint64_t h = Fnv1a64("");
  for (const Dataset* set : {&data.train, &data.test}) {
    for (const torch::Tensor& t : {set->images, set->labels}) {
      if (!t.defined()) continue;
      const torch::Tensor c = t.contiguous();
      h = Fnv1a64(std::string_view(static_cast<const char*>(c.data_ptr()),
                                   static_cast<std::size_t>(c.numel()) * c.element_size()),
                  h);
    }
  }
  return fmt::format("{:016x}", h);
}

torch::Tensor ReadIdx(const fs::path& path) {
  const std::string bytes = ReadDataFile(path);
  Require(bytes.size() >= 8, "{}: {} bytes, too short for an IDX header", path.string(),
          bytes.size());
  // Magic: two zero bytes, the type (0x08: unsigned byte), the rank.
  const std::uint32_t magic = BigEndian32(bytes, 0);
  const std::uint32_t rank = magic & 0xff;
  Require((magic >> 8) == 0x08 && (rank == 1 || rank == 3),
          "{}: magic number 0x{:08x} is not an uint8 IDX file of labels (0x00000801) or images "
          "(0x00000803)",
          path.string(), magic);
  const std::size_t header = 4 + 4 * std::size_t{rank};
  Require(bytes.size() >= header, "{}: header cut short", path.string());
  std::vector<std::int64_t> dims;
  for (std::uint32_t d = 0; d < rank; ++d) dims.push_back(BigEndian32(bytes, 4 + 4 * d));
  // The product of the dimensions in overflow-checked arithmetic: 2^32-1 per dimension cubed
  // does not fit 64 bits, and must not wrap around to a size that happens to match.
  std::uint64_t count = 1;
  bool overflow = false;
  for (const std::int64_t d : dims) {
    overflow |= __builtin_mul_overflow(count, static_cast<std::uint64_t>(d), &count);
  }
  const std::string shape = fmt::format("{}", fmt::join(dims, " x "));
  Require(count > 0 || overflow, "{}: the header's dimensions {} hold no data", path.string(),
          shape);
  Require(!overflow && count == bytes.size() - header,
          "{}: the header's dimensions {} promise {} bytes of data, the file has {} (truncated or "
          "corrupt)",
          path.string(), shape, overflow ? std::string("more than 2^64") : fmt::format("{}", count),
          bytes.size() - header);
  torch::Tensor data = torch::empty(dims, torch::kUInt8);
  std::memcpy(data.data_ptr<std::uint8_t>(), bytes.data() + header, static_cast<std::size_t>(count));
  if (rank == 1) return data.to(torch::kInt64);
  return data.unsqueeze(1);
}

void WriteIdx(const fs::path& path, const torch::Tensor& data) {
  Require(data.scalar_type() == torch::kUInt8, "WriteIdx: {} needs uint8 data", path.string());
  torch::Tensor t = data.contiguous();
  if (t.dim() == 4) {
    Require(t.size(1) == 1, "WriteIdx: {} images must have one channel", path.string());
    t = t.squeeze(1);
  }
  Require(t.dim() == 1 || t.dim() == 3, "WriteIdx: {} needs rank 1 or 3, got {}", path.string(),
          t.dim());
  std::string bytes;
  PutBigEndian32(bytes, 0x0800u | static_cast<std::uint32_t>(t.dim()));
  for (std::int64_t d = 0; d < t.dim(); ++d) PutBigEndian32(bytes, static_cast<std::uint32_t>(t.size(d)));
  bytes.append(reinterpret_cast<const char*>(t.data_ptr<std::uint8_t>()),
               static_cast<std::size_t>(t.numel()));
  WriteFileAtomic(path, bytes);
}

Dataset ReadCifar(const std::vector<fs::path>& files, bool cifar100, bool fine) {
  const std::size_t label_bytes = cifar100 ? 2 : 1;
  const std::size_t pixels = 3 * 32 * 32;
  const std::size_t record = label_bytes + pixels;
  std::vector<torch::Tensor> images;
  std::vector<torch::Tensor> labels;
  const std::int64_t classes = cifar100 ? (fine ? 100 : 20) : 10;
  for (const auto& path : files) {
    const std::string bytes = ReadDataFile(path);
    Require(!bytes.empty() && bytes.size() % record == 0,
            "{}: {} bytes is not a whole number of {}-byte CIFAR-{} records (truncated or not "
            "the binary version)",
            path.string(), bytes.size(), record, cifar100 ? 100 : 10);
    const auto n = static_cast<std::int64_t>(bytes.size() / record);
    torch::Tensor img = torch::empty({n, 3, 32, 32}, torch::kUInt8);
    torch::Tensor lab = torch::empty({n}, torch::kInt64);
    auto* out = img.data_ptr<std::uint8_t>();
    auto* lab_out = lab.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      const auto* rec = reinterpret_cast<const unsigned char*>(bytes.data()) + i * record;
      const std::int64_t label = cifar100 ? rec[fine ? 1 : 0] : rec[0];
      Require(label < classes, "{}: record {} has label {}, outside 0..{}", path.string(), i,
              label, classes - 1);
      lab_out[i] = label;
      std::memcpy(out + i * static_cast<std::int64_t>(pixels), rec + label_bytes, pixels);
    }
    images.push_back(img);
    labels.push_back(lab);
  }
  Require(!images.empty(), "ReadCifar: no files given");
  Dataset set;
  set.images = torch::cat(images);
  set.labels = torch::cat(labels);
  set.classes = classes;
  set.name = cifar100 ? "cifar100" : "cifar10";
  return set;
}

fs::path DefaultDataRoot() {
  if (const char* env = std::getenv("AIMC_DATA_ROOT"); env != nullptr && *env != '\0') return env;
  // Where `aimc data prepare` put it: the working directory's data/, else the aimc folder's.
  if (const auto found = FindShippedFile("data")) return *found;
  return "data";
}

namespace {

// The published label names of the built-in sets (their papers' and sites' tables).
DataSplit Named(DataSplit split, std::vector<std::string> names) {
  split.train.class_names = split.test.class_names = std::move(names);
  return split;
}

}  // namespace

DataSplit LoadData(const std::string& name, const fs::path& data_dir) {
  if (name == "mnist") {
    const std::vector<std::string> digits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    if (!data_dir.empty())
      return Named(LoadIdxSplit(data_dir, name, "pass the folder of the four MNIST IDX files"),
                   digits);
    return Named(LoadIdxSplit(DefaultDataRoot() / "mnist-digits", name,
                              "run `aimc data prepare` (or `make data`) in the repository root "
                              "first, or pass --data-dir with full MNIST"),
                 digits);
  }
  if (name == "fashion-mnist") {
    const fs::path dir = data_dir.empty() ? fs::path("/usr/share/datasets/fashion-mnist") : data_dir;
    // Xiao, Rasul and Vollgraf 2017, Table 1.
    return Named(LoadIdxSplit(dir, name,
                              "install the Debian package dataset-fashion-mnist "
                              "(scripts/install-deps.sh) or pass --data-dir"),
                 {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                  "Sneaker", "Bag", "Ankle boot"});
  }
  if (name == "cifar10")
    return Named(LoadCifar(data_dir, false),
                 {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                  "truck"});
  if (name == "cifar100") return LoadCifar(data_dir, true);
  if (IsUserDataset(name) || name.find(':') != std::string::npos)
    return LoadUserData(name, data_dir);
  Fail("unknown data set '{}'; known: {} (npy and npz also as npy:nchw, npz:nhwc, ...)", name,
       fmt::join(DatasetNames(), ", "));
}

DigitsSplit PrepareMnistDigits(const fs::path& digits_json_dir, const fs::path& out_dir) {
  constexpr std::int64_t kPixels = 28 * 28;
  std::vector<std::vector<std::uint8_t>> per_class(10);
  for (int digit = 0; digit < 10; ++digit) {
    const fs::path path = digits_json_dir / fmt::format("{}.json", digit);
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(ReadFile(path));
    } catch (const nlohmann::json::exception& e) {
      Fail("{}: not valid JSON ({})", path.string(), e.what());
    }
    Require(json.contains("data") && json["data"].is_array(), "{}: no array 'data'", path.string());
    const auto& data = json["data"];
    Require(!data.empty() && data.size() % kPixels == 0,
            "{}: {} values is not a whole number of 28x28 digits", path.string(), data.size());
    auto& bytes = per_class[digit];
    bytes.reserve(data.size());
    for (const auto& v : data) {
      Require(v.is_number(), "{}: a pixel is not a number", path.string());
      const double x = v.get<double>();
      Require(x >= 0.0 && x <= 1.0, "{}: pixel value {} outside [0, 1]", path.string(), x);
      bytes.push_back(static_cast<std::uint8_t>(std::lround(255.0 * x)));
    }
  }
  std::vector<std::uint8_t> train_images, test_images, train_labels, test_labels;
  std::size_t longest = 0;
  for (const auto& c : per_class) longest = std::max(longest, c.size() / kPixels);
  for (std::size_t i = 0; i < longest; ++i) {
    for (int digit = 0; digit < 10; ++digit) {
      const auto& bytes = per_class[digit];
      if (i >= bytes.size() / kPixels) continue;
      const bool test = i % 5 == 4;
      auto& images = test ? test_images : train_images;
      images.insert(images.end(), bytes.begin() + static_cast<std::ptrdiff_t>(i * kPixels),
                    bytes.begin() + static_cast<std::ptrdiff_t>((i + 1) * kPixels));
      (test ? test_labels : train_labels).push_back(static_cast<std::uint8_t>(digit));
    }
  }
  auto write = [&](const std::string& stem, std::vector<std::uint8_t>& images,
                   std::vector<std::uint8_t>& labels) {
    const auto n = static_cast<std::int64_t>(labels.size());
    WriteIdx(out_dir / (stem + "-images-idx3-ubyte"),
             torch::from_blob(images.data(), {n, 28, 28}, torch::kUInt8));
    WriteIdx(out_dir / (stem + "-labels-idx1-ubyte"),
             torch::from_blob(labels.data(), {n}, torch::kUInt8));
  };
  Require(!fs::exists(out_dir) || fs::is_directory(out_dir), "{}: is a file, not a folder",
          out_dir.string());
  CreateParentFolder(out_dir / "train-images-idx3-ubyte");
  write("train", train_images, train_labels);
  write("t10k", test_images, test_labels);
  return {static_cast<std::int64_t>(train_labels.size()), static_cast<std::int64_t>(test_labels.size())};
}

}  // namespace aimc::nn
