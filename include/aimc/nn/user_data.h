#pragma once
// A user's own data: NumPy .npy/.npz arrays and folders of PNG/JPEG images, read into the
// Dataset of the built-in sets (uint8 pixels (N, C, H, W), int64 labels). docs/data.md.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "aimc/nn/data.h"

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
std::string ToString(ImageLayout layout);  // "auto", "nchw", "nhwc"
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

/// Decodes one PNG (libpng) or JPEG (libjpeg) image, chosen by its content, to uint8 (C, H, W):
/// C = 1 for a grayscale image, 3 for a colour one (palette PNGs included). An alpha channel is
/// dropped (composited on black). 16-bit PNGs, CMYK JPEGs and corrupt or truncated files are
/// refused naming the file.
torch::Tensor ReadImage(const std::filesystem::path& path);

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
