#include "aimc/nn/image_file.h"

#include <jpeglib.h>
#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "aimc/common/error.h"
#include "data_file.h"

namespace aimc::nn {
namespace fs = std::filesystem;

namespace {

struct JpegError {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnJpegError(j_common_ptr info) {
  auto* error = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, error->message);
  std::longjmp(error->jump, 1);
}

// Warnings (level -1) are corrupt data that libjpeg would decode around (a truncated file reads
// as grey): refused like errors. Trace messages (level >= 0) are ignored.
void OnJpegMessage(j_common_ptr info, int level) {
  if (level < 0) OnJpegError(info);
}

// A C-style function around setjmp: no object with a destructor lives in its frame, so the jump
// back from libjpeg skips nothing. Returns false with `message` filled on any error.
bool DecodeJpeg(const unsigned char* data, unsigned long size, std::vector<std::uint8_t>* pixels,
                int* width, int* height, int* channels, char* message) {
  jpeg_decompress_struct info;
  JpegError error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = OnJpegError;
  error.manager.emit_message = OnJpegMessage;
  if (setjmp(error.jump)) {
    std::memcpy(message, error.message, JMSG_LENGTH_MAX);
    jpeg_destroy_decompress(&info);
    return false;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, size);
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    std::snprintf(message, JMSG_LENGTH_MAX, "a CMYK JPEG; aimc reads grayscale and RGB images");
    jpeg_destroy_decompress(&info);
    return false;
  }
  info.out_color_space = info.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&info);
  *width = static_cast<int>(info.output_width);
  *height = static_cast<int>(info.output_height);
  *channels = info.output_components;
  const std::size_t stride = static_cast<std::size_t>(*width) * static_cast<std::size_t>(*channels);
  pixels->resize(stride * static_cast<std::size_t>(*height));
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = pixels->data() + stride * info.output_scanline;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return true;
}

// (H, W, C) bytes to a (C, H, W) tensor that owns its memory (a permuted single channel is
// already contiguous, so contiguous() would keep pointing at `hwc`).
torch::Tensor Planar(std::vector<std::uint8_t>& hwc, int height, int width, int channels) {
  return torch::from_blob(hwc.data(), {height, width, channels}, torch::kUInt8)
      .permute({2, 0, 1})
      .clone(at::MemoryFormat::Contiguous);
}

// The chunks from the signature to IEND, each within the file: libpng's simplified reader stops
// after the image data, so a file cut after them (no IEND) would load as if whole.
void RequireWholePng(const std::string& bytes, const fs::path& path) {
  const auto u32 = [&bytes](std::size_t at) {
    return (std::uint32_t{static_cast<unsigned char>(bytes[at])} << 24) |
           (std::uint32_t{static_cast<unsigned char>(bytes[at + 1])} << 16) |
           (std::uint32_t{static_cast<unsigned char>(bytes[at + 2])} << 8) |
           std::uint32_t{static_cast<unsigned char>(bytes[at + 3])};
  };
  std::size_t at = 8;
  for (;;) {
    Require(at + 12 <= bytes.size(),
            "{}: corrupt or truncated PNG (it ends inside a chunk header, before the IEND chunk)",
            path.string());
    const std::uint64_t length = u32(at);
    const std::string type = bytes.substr(at + 4, 4);
    Require(length <= bytes.size() - at - 12,
            "{}: corrupt or truncated PNG (chunk '{}' says {} bytes, the file has {} after its header)",
            path.string(), type, length, bytes.size() - at - 12);
    at += 12 + length;
    if (type == "IEND") break;
  }
  Require(at == bytes.size(), "{}: {} bytes after the PNG's IEND chunk: not a PNG file as written",
          path.string(), bytes.size() - at);
}

torch::Tensor DecodePng(const std::string& bytes, const fs::path& path) {
  RequireWholePng(bytes, path);
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  Require(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0,
          "{}: cannot read the PNG ({})", path.string(), image.message);
  if ((image.format & PNG_FORMAT_FLAG_LINEAR) != 0) {
    png_image_free(&image);
    Fail("{}: a 16-bit PNG; aimc reads 8-bit images (convert it to 8 bits per channel)",
         path.string());
  }
  const int channels = (image.format & PNG_FORMAT_FLAG_COLOR) != 0 ? 3 : 1;
  image.format = channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
  std::vector<std::uint8_t> hwc(PNG_IMAGE_SIZE(image));
  png_color black{0, 0, 0};
  const int ok = png_image_finish_read(&image, &black, hwc.data(), 0, nullptr);
  const std::string message = image.message;
  png_image_free(&image);
  Require(ok != 0, "{}: corrupt or truncated PNG ({})", path.string(), message);
  return Planar(hwc, static_cast<int>(image.height), static_cast<int>(image.width), channels);
}

}  // namespace

torch::Tensor ReadImage(const fs::path& path) {
  // By its first bytes, before a large file of another kind is read whole.
  const auto check_head = [&path](std::string_view head) {
    const auto* data = reinterpret_cast<const unsigned char*>(head.data());
    const bool png = head.size() >= 8 && png_sig_cmp(data, 0, 8) == 0;
    const bool jpeg = head.size() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
    Require(png || jpeg, "{}: neither a PNG nor a JPEG image (by its first bytes)",
            path.string());
  };
  const std::string bytes = ReadDataFile(path, check_head);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() >= 8 && png_sig_cmp(data, 0, 8) == 0) return DecodePng(bytes, path);
  Require(bytes.size() >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF,
          "{}: neither a PNG nor a JPEG image (by its first bytes)", path.string());
  std::vector<std::uint8_t> hwc;
  int width = 0, height = 0, channels = 0;
  char message[JMSG_LENGTH_MAX] = {};
  Require(DecodeJpeg(data, static_cast<unsigned long>(bytes.size()), &hwc, &width, &height,
                     &channels, message),
          "{}: corrupt or unreadable JPEG ({})", path.string(), message);
  return Planar(hwc, height, width, channels);
}

}  // namespace aimc::nn
