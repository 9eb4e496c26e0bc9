#pragma once

#include <filesystem>

namespace aimc::nn::internal {

/// Checks a model file (a LibTorch archive: a zip with data.pkl and one record data/<key> per
/// tensor storage) before LibTorch's loader sees it, because that loader trusts the file: a
/// storage whose record is shorter than the size the pickle declares is read past its end.
/// Reads the pickle with LibTorch's unpickler but the records through our own callback, and
/// requires of every tensor:
///   - its data record holds at least the bytes its storage declares (values x item size),
///   - its view (offset, sizes, strides) lies inside that storage,
///   - its floating-point values are finite.
/// Throws aimc::Error naming the file, the tensor ("model.conv1.weight") and what is wrong; any
/// error of LibTorch's reader becomes an aimc::Error naming the file.
void CheckModelArchive(const std::filesystem::path& path);

}  // namespace aimc::nn::internal
