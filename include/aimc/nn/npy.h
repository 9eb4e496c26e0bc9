#pragma once
// NumPy arrays (.npy files and .npz archives) and their elements as images and labels: the
// arrays of a user's own data (user_data.h, docs/data.md).

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "aimc/common/enum_names.h"

namespace aimc::nn {

/// An array from a NumPy .npy file (format versions 1.0, 2.0 and 3.0), as NumPy wrote it:
/// little-endian (or one-byte) bool, integer or floating-point elements in C order.
/// aimc parses the format itself (the header is a Python dict literal of three keys); it refuses
/// big-endian, Fortran-order, object, string, structured and complex arrays by name.
struct NpyArray {
  char kind = 'u';     // 'b' bool, 'i' signed integer, 'u' unsigned integer, 'f' floating point
  int item_bytes = 1;  // 1, 2, 4 or 8 (floats: 4 or 8)
  std::vector<std::int64_t> shape;
  std::string data;    // the elements, C order, little-endian

  /// Elements: the product of the shape (1 for a scalar).
  std::int64_t size() const;
  /// NumPy's name of the element type: "uint8", "int64", "float32", "bool", ...
  std::string dtype() const;
  /// The shape as NumPy prints it: "(100, 28, 28)".
  std::string shape_string() const;
};

/// Parses the bytes of a .npy file. `what` names it in every error ("x.npy", or
/// "x_train.npy in data.npz"): a wrong magic string, an unknown version, a header that is not the
/// dict NumPy writes, a dtype aimc does not read, or data of another size than the shape promises.
NpyArray ParseNpy(std::string_view bytes, const std::string& what);

/// Reads a .npy file (ParseNpy of its bytes).
NpyArray ReadNpy(const std::filesystem::path& path);

/// The arrays of a NumPy .npz archive (np.savez: stored; np.savez_compressed: deflated), keyed by
/// their names without ".npy" ("x_train"). A zip that libzip cannot read, a corrupt or truncated
/// member (CRC or size), or a member that is not a .npy array throws aimc::Error naming the file
/// and the member.
std::map<std::string, NpyArray> ReadNpz(const std::filesystem::path& path);

/// The axis order of a rank-4 image array.
///   kAuto: NCHW when axis 1 has 1 or 3 entries and axis 3 does not, NHWC when axis 3 has 1 or 3
///          and axis 1 does not; both or neither is an error that asks for the layout.
/// A rank-3 array (N, H, W) is one channel in any layout.
enum class ImageLayout { kAuto, kNchw, kNhwc };
const EnumNames<ImageLayout>& ImageLayoutNames();  // "auto", "nchw", "nhwc"
std::string ToString(ImageLayout layout);
ImageLayout ParseImageLayout(const std::string& name);

/// How float pixels map to bytes: x in [0, 1] to round(255 x), or x in [0, 255] to round(x).
/// PixelScaleOf picks it for the arrays of one data set together (train and test alike):
/// [0, 1] when every float pixel lies in [0, 1], else [0, 255]. NaN, infinities and values
/// outside [0, 255] are refused naming the array and the first bad element.
struct FloatPixels {
  double scale = 255.0;  // byte = round(scale * x): 255 for [0, 1], 1 for [0, 255]
};
FloatPixels PixelScaleOf(const std::vector<std::pair<const NpyArray*, std::string>>& images);

/// An image array (uint8, float32 or float64; rank 3 or 4) as uint8 (N, C, H, W) with C = 1 or 3.
/// Integer arrays other than uint8 are refused (their range is not defined).
torch::Tensor ImagesFromNpy(const NpyArray& array, ImageLayout layout, FloatPixels pixels,
                            const std::string& what);

/// A label array (any signed or unsigned integer type; shape (N) or (N, 1)) as int64 (N).
/// Negative labels and float labels are refused naming the array.
torch::Tensor LabelsFromNpy(const NpyArray& array, const std::string& what);

}  // namespace aimc::nn
