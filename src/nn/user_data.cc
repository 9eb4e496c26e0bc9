#include "aimc/nn/user_data.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/nn/image_file.h"

namespace aimc::nn {
namespace fs = std::filesystem;

namespace {

bool IsImageFile(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

std::vector<fs::path> SortedEntries(const fs::path& dir) {
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with(".")) continue;  // .DS_Store, editors' files
    entries.push_back(e.path());
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::string ShapeText(const torch::Tensor& chw) {
  return fmt::format("{}x{} with {} channel{}", chw.size(1), chw.size(2), chw.size(0),
                     chw.size(0) == 1 ? "" : "s");
}

// One split of an image folder: root/<split>/<class>/<image>, labels from `classes` (train's).
Dataset ReadImageSplit(const fs::path& split_dir, const std::vector<std::string>& classes,
                       const std::string& name, torch::Tensor* first, fs::path* first_path) {
  std::vector<torch::Tensor> images;
  std::vector<std::int64_t> labels;
  for (const fs::path& class_dir : SortedEntries(split_dir)) {
    Require(fs::is_directory(class_dir),
            "{}: a file among the class folders; {} must hold one folder per class",
            class_dir.string(), split_dir.string());
    const std::string cls = class_dir.filename().string();
    const auto it = std::find(classes.begin(), classes.end(), cls);
    Require(it != classes.end(), "{}: class '{}' is not among the training classes ({})",
            class_dir.string(), cls, fmt::join(classes, ", "));
    const auto label = static_cast<std::int64_t>(it - classes.begin());
    std::int64_t count = 0;
    for (const fs::path& file : SortedEntries(class_dir)) {
      Require(!fs::is_directory(file) && IsImageFile(file),
              "{}: not a .png, .jpg or .jpeg image (a class folder holds images only)",
              file.string());
      torch::Tensor image = ReadImage(file);
      if (!first->defined()) {
        *first = image;
        *first_path = file;
      }
      Require(image.sizes() == first->sizes(),
              "{}: the image is {}, but {} is {}; every image of a data set must have the same "
              "size and channels",
              file.string(), ShapeText(image), first_path->string(), ShapeText(*first));
      images.push_back(std::move(image));
      labels.push_back(label);
      ++count;
    }
    Require(count > 0, "{}: no images in this class folder", class_dir.string());
  }
  Require(!images.empty(), "{}: no class folders with images", split_dir.string());
  Dataset set;
  set.images = torch::stack(images);
  set.labels = torch::tensor(labels, torch::kInt64);
  set.classes = static_cast<std::int64_t>(classes.size());
  set.name = name;
  return set;
}

DataSplit LoadImageFolder(const std::string& name, const fs::path& root) {
  const fs::path train = root / "train", test = root / "test";
  for (const fs::path& dir : {train, test})
    Require(fs::is_directory(dir),
            "{}: no such folder; folder data is root/train/<class>/*.png|jpg and "
            "root/test/<class>/*",
            dir.string());
  std::vector<std::string> classes;
  for (const fs::path& p : SortedEntries(train))
    if (fs::is_directory(p)) classes.push_back(p.filename().string());
  Require(classes.size() >= 2, "{}: {} class folder(s); a data set needs at least 2",
          train.string(), classes.size());
  torch::Tensor first;
  fs::path first_path;
  DataSplit split;
  split.train = ReadImageSplit(train, classes, name, &first, &first_path);
  split.test = ReadImageSplit(test, classes, name, &first, &first_path);
  split.train.class_names = split.test.class_names = classes;
  return split;
}

// ---- npy/npz data sets ------------------------------------------------------------------------

struct NamedArray {
  const NpyArray* array;
  std::string what;
};

DataSplit FromArrays(const std::string& name, ImageLayout layout, const NamedArray& x_train,
                     const NamedArray& y_train, const NamedArray& x_test,
                     const NamedArray& y_test) {
  const FloatPixels pixels =
      PixelScaleOf({{x_train.array, x_train.what}, {x_test.array, x_test.what}});
  DataSplit split;
  std::int64_t classes = 0;
  for (auto [set, x, y] : {std::tuple{&split.train, x_train, y_train},
                           std::tuple{&split.test, x_test, y_test}}) {
    set->images = ImagesFromNpy(*x.array, layout, pixels, x.what);
    set->labels = LabelsFromNpy(*y.array, y.what);
    Require(set->images.size(0) == set->labels.size(0), "{} has {} images but {} has {} labels",
            x.what, set->images.size(0), y.what, set->labels.size(0));
    Require(set->labels.size(0) > 0, "{}: no images", x.what);
    classes = std::max(classes, set->labels.max().item<std::int64_t>() + 1);
    set->name = name;
  }
  Require(split.train.images.sizes().slice(1) == split.test.images.sizes().slice(1),
          "{} holds images of {} (C, H, W) but {} of {}", x_train.what,
          fmt::format("{}", fmt::join(split.train.images.sizes().slice(1), " x ")), x_test.what,
          fmt::format("{}", fmt::join(split.test.images.sizes().slice(1), " x ")));
  split.train.classes = split.test.classes = classes;
  return split;
}

DataSplit LoadNpyFolder(const std::string& name, ImageLayout layout, const fs::path& dir) {
  Require(fs::is_directory(dir),
          "{}: not a folder; npy data is a folder with train_images.npy, train_labels.npy, "
          "test_images.npy and test_labels.npy",
          dir.string());
  std::vector<NpyArray> arrays;
  std::vector<std::string> whats;
  for (const char* stem : {"train_images", "train_labels", "test_images", "test_labels"}) {
    const fs::path path = dir / (std::string(stem) + ".npy");
    arrays.push_back(ReadNpy(path));
    whats.push_back(path.string());
  }
  return FromArrays(name, layout, {&arrays[0], whats[0]}, {&arrays[1], whats[1]},
                    {&arrays[2], whats[2]}, {&arrays[3], whats[3]});
}

DataSplit LoadNpzFile(const std::string& name, ImageLayout layout, const fs::path& path_or_dir) {
  fs::path path = path_or_dir;
  if (fs::is_directory(path_or_dir)) {
    std::vector<fs::path> found;
    for (const auto& p : SortedEntries(path_or_dir))
      if (p.extension() == ".npz") found.push_back(p);
    Require(found.size() == 1, "{}: {} .npz files in this folder; name the one to read",
            path_or_dir.string(), found.size());
    path = found.front();
  }
  const std::map<std::string, NpyArray> arrays = ReadNpz(path);
  std::vector<std::string> keys;
  for (const auto& [key, value] : arrays) keys.push_back(key);
  auto get = [&](const std::string& key) {
    const auto it = arrays.find(key);
    Require(it != arrays.end(),
            "{}: no array '{}'; npz data holds x_train, y_train, x_test and y_test (it has: {})",
            path.string(), key, fmt::join(keys, ", "));
    return NamedArray{&it->second, fmt::format("{} in {}", key, path.string())};
  };
  // One at a time, so that the first missing array in this order is the one named.
  const NamedArray x_train = get("x_train"), y_train = get("y_train"), x_test = get("x_test"),
                   y_test = get("y_test");
  return FromArrays(name, layout, x_train, y_train, x_test, y_test);
}

}  // namespace

bool IsUserFormat(const std::string& name) {
  try {
    ParseUserFormat(name);
    return true;
  } catch (const Error&) {
    return false;
  }
}

UserFormat ParseUserFormat(const std::string& name) {
  const std::size_t colon = name.find(':');
  UserFormat f;
  f.format = name.substr(0, colon);
  const bool arrays = f.format == "npy" || f.format == "npz";
  Require(arrays || f.format == "folder",
          "'{}' is not a user data format; those are npy, npz, folder (npy and npz with an "
          "optional layout: npy:nchw, npz:nhwc)",
          name);
  if (colon != std::string::npos) {
    const std::string layout = name.substr(colon + 1);
    Require(arrays && (layout == "nchw" || layout == "nhwc"),
            "'{}': the layout after the colon must be nchw or nhwc, and only npy and npz take "
            "one",
            name);
    f.layout = ParseImageLayout(layout);
  }
  return f;
}

DataSplit LoadUserData(const std::string& name, const fs::path& data_dir) {
  const UserFormat f = ParseUserFormat(name);
  Require(!data_dir.empty(),
          "data set '{}' needs its path as the data folder (--data-dir, or data_dir in an "
          "experiment file): {}",
          name,
          f.format == "npy"      ? "a folder with train_images.npy, train_labels.npy, "
                                   "test_images.npy and test_labels.npy"
          : f.format == "npz"    ? "an .npz file with x_train, y_train, x_test and y_test"
                                 : "a folder with train/<class>/*.png|jpg and test/<class>/*");
  if (f.format == "npy") return LoadNpyFolder(name, f.layout, data_dir);
  if (f.format == "npz") return LoadNpzFile(name, f.layout, data_dir);
  return LoadImageFolder(name, data_dir);
}

}  // namespace aimc::nn
