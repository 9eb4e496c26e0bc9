#pragma once
// A user's own data: NumPy .npy/.npz arrays (npy.h) and folders of PNG/JPEG images
// (image_file.h), read into the Dataset of the built-in sets (uint8 pixels (N, C, H, W), int64
// labels). docs/data.md.

#include <filesystem>
#include <string>

#include "aimc/nn/data.h"
#include "aimc/nn/npy.h"

namespace aimc::nn {

/// The user formats of LoadData, in the form "format" or "format:layout":
///   npy[:nchw|nhwc]  data_dir is a folder with train_images.npy, train_labels.npy,
///                    test_images.npy and test_labels.npy
///   npz[:nchw|nhwc]  data_dir is an .npz file with the arrays x_train, y_train, x_test, y_test
///                    (Keras' convention), or a folder holding exactly one .npz file
///   folder           data_dir holds train/<class>/*.png|jpg|jpeg and test/<class>/...; classes
///                    are the names of train's subfolders, sorted (label 0 is the first)
/// The classes of npy and npz data are 1 + the largest label of train and test.
struct UserFormat {
  std::string format;  // "npy", "npz", "folder"
  ImageLayout layout = ImageLayout::kAuto;
};
/// True for a name of the form above (whether or not its data exist).
bool IsUserFormat(const std::string& name);
/// Throws aimc::Error naming the forms above for any other name.
UserFormat ParseUserFormat(const std::string& name);

/// Reads a user data set (see UserFormat); `name` is the data set's name as given ("npz:nhwc"),
/// kept in Dataset::name. Every error names the file.
DataSplit LoadUserData(const std::string& name, const std::filesystem::path& data_dir);

}  // namespace aimc::nn
