#pragma once

// Whole data files in memory (data.cc): the built-in sets' IDX and CIFAR files and a user's
// .npy arrays (npy.cc) and images (image_file.cc) go through one reader with one size limit.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace aimc::nn {

/// The largest data file read into memory (uncompressed): CIFAR-100's training batch is 150 MB,
/// full MNIST's images 47 MB; a "file" beyond this is a decompression bomb or a device.
inline constexpr std::uint64_t kMaxDataFileBytes = std::uint64_t{4} << 30;

/// The whole file, gunzipped when it is gzip (zlib passes plain files through unchanged).
/// Only a regular file (or a link to one) is read: a device such as /dev/zero would never end
/// and a FIFO would block. `check_head`, when given, sees the first bytes (up to 64 KiB, fewer
/// only for a shorter file) before the rest is read, so that a file of another kind is refused
/// by its magic at once. Errors name the file: missing, a folder, not a regular file, corrupt or
/// truncated gzip, beyond the limit.
std::string ReadDataFile(const std::filesystem::path& path,
                         const std::function<void(std::string_view head)>& check_head = {});

}  // namespace aimc::nn
