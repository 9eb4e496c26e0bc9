#pragma once
// Image files (PNG, JPEG) as pixels: the images of a user's folder data (user_data.h,
// docs/data.md).

#include <filesystem>

#include <torch/types.h>

namespace aimc::nn {

/// Decodes one PNG (libpng) or JPEG (libjpeg) image, chosen by its content, to uint8 (C, H, W):
/// C = 1 for a grayscale image, 3 for a colour one (palette PNGs included). An alpha channel is
/// dropped (composited on black). 16-bit PNGs, CMYK JPEGs and corrupt or truncated files are
/// refused naming the file.
torch::Tensor ReadImage(const std::filesystem::path& path);

}  // namespace aimc::nn
