#pragma once

// Whole data files in memory (data.cc): the built-in sets' IDX and CIFAR files and a user's
// .npy arrays (npy.cc) and images (image_file.cc) go through one reader with one size limit.

#include <cstdint>
#include <filesystem>
#include <string>

namespace aimc::nn {

/// The largest data file read into memory (uncompressed): CIFAR-100's training batch is 150 MB,
/// full MNIST's images 47 MB; a "file" beyond this is a decompression bomb or a device.
inline constexpr std::uint64_t kMaxDataFileBytes = std::uint64_t{4} << 30;

/// The whole file, gunzipped when it is gzip (zlib passes plain files through unchanged).
/// Errors name the file: missing, a folder, corrupt or truncated gzip, beyond the limit.
std::string ReadDataFile(const std::filesystem::path& path);

}  // namespace aimc::nn
