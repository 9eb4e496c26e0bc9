#include "aimc/nn/user_data.h"

#include <jpeglib.h>
#include <png.h>
#include <zip.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "data_file.h"

namespace aimc::nn {
namespace fs = std::filesystem;

namespace {

// ---- .npy -------------------------------------------------------------------------------------

// The header is a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (100, 28, 28), }
// written by numpy.lib.format; this reads exactly that grammar (strings, True/False, tuples of
// integers), nothing more.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  struct Fields {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<std::int64_t>> shape;
  };

  Fields Parse() {
    Fields f;
    Expect('{');
    for (;;) {
      SkipSpace();
      if (Peek() == '}') break;
      const std::string key = String();
      Expect(':');
      SkipSpace();
      if (key == "descr") {
        Require(Peek() == '\'' || Peek() == '"',
                "{}: the header's descr is not a simple type string (a structured dtype?); aimc "
                "reads plain integer and float arrays",
                what_);
        f.descr = String();
      } else if (key == "fortran_order") {
        f.fortran_order = Bool();
      } else if (key == "shape") {
        f.shape = Tuple();
      } else {
        Fail("{}: unknown key '{}' in the .npy header (expected descr, fortran_order, shape)",
             what_, key);
      }
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      SkipSpace();
      Require(Peek() == '}', "{}: .npy header: expected ',' or '}}' at offset {}", what_, pos_);
    }
    Expect('}');
    return f;
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  void Expect(char c) {
    SkipSpace();
    Require(Peek() == c, "{}: .npy header is not the dict NumPy writes: expected '{}' at offset {}",
            what_, c, pos_);
    ++pos_;
  }
  std::string String() {
    SkipSpace();
    const char quote = Peek();
    Require(quote == '\'' || quote == '"', "{}: .npy header: expected a quoted string at offset {}",
            what_, pos_);
    const std::size_t end = text_.find(quote, pos_ + 1);
    Require(end != std::string_view::npos, "{}: .npy header: unterminated string", what_);
    std::string s(text_.substr(pos_ + 1, end - pos_ - 1));
    pos_ = end + 1;
    return s;
  }
  bool Bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    Fail("{}: .npy header: fortran_order must be True or False", what_);
  }
  std::vector<std::int64_t> Tuple() {
    Expect('(');
    std::vector<std::int64_t> dims;
    for (;;) {
      SkipSpace();
      if (Peek() == ')') break;
      Require(std::isdigit(static_cast<unsigned char>(Peek())),
              "{}: .npy header: shape must be a tuple of non-negative integers", what_);
      std::int64_t d = 0;
      while (std::isdigit(static_cast<unsigned char>(Peek()))) {
        Require(d < (std::int64_t{1} << 52), "{}: .npy header: a dimension is too large", what_);
        d = 10 * d + (Peek() - '0');
        ++pos_;
      }
      if (Peek() == 'L') ++pos_;  // Python 2's long integers, in files NumPy wrote back then
      dims.push_back(d);
      SkipSpace();
      if (Peek() == ',') ++pos_;
    }
    Expect(')');
    return dims;
  }

  std::string_view text_;
  std::string what_;
  std::size_t pos_ = 0;
};

std::uint32_t LittleEndian(std::string_view bytes, std::size_t offset, int count) {
  std::uint32_t v = 0;
  for (int i = count - 1; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(bytes[offset + static_cast<std::size_t>(i)]);
  return v;
}

// Parses the header and returns where the data begin; fills everything but data.
std::size_t ParseNpyHeader(std::string_view bytes, const std::string& what, NpyArray& out) {
  static constexpr std::string_view kMagic("\x93NUMPY", 6);
  Require(bytes.size() >= 10 && bytes.substr(0, 6) == kMagic,
          "{}: not a NumPy .npy file (it does not start with \\x93NUMPY)", what);
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  Require(major >= 1 && major <= 3 && minor == 0,
          "{}: .npy format version {}.{}; aimc reads 1.0, 2.0 and 3.0", what, major, minor);
  const int length_bytes = major == 1 ? 2 : 4;
  const std::size_t start = 8 + static_cast<std::size_t>(length_bytes);
  Require(bytes.size() >= start, "{}: truncated .npy header", what);
  const std::size_t header_length = LittleEndian(bytes, 8, length_bytes);
  Require(bytes.size() >= start + header_length,
          "{}: truncated .npy file: its header says {} header bytes, the file has {} after the "
          "magic",
          what, header_length, bytes.size() - start);
  const HeaderParser::Fields f = HeaderParser(bytes.substr(start, header_length), what).Parse();
  Require(f.descr && f.fortran_order && f.shape,
          "{}: the .npy header lacks one of descr, fortran_order, shape", what);

  const std::string& d = *f.descr;
  Require(d.size() >= 3, "{}: dtype '{}' is not one aimc reads", what, d);
  const char order = d[0];
  out.kind = d[1];
  const std::string digits = d.substr(2);
  Require(digits.size() <= 2 && digits.find_first_not_of("0123456789") == std::string::npos,
          "{}: dtype '{}' is not one aimc reads", what, d);
  const int size = std::stoi(digits);
  out.item_bytes = size;
  const bool known = (out.kind == 'b' && size == 1) ||
                     ((out.kind == 'i' || out.kind == 'u') &&
                      (size == 1 || size == 2 || size == 4 || size == 8)) ||
                     (out.kind == 'f' && (size == 4 || size == 8));
  Require(known,
          "{}: dtype '{}' is not one aimc reads (bool, signed or unsigned integers, float32, "
          "float64; no objects, strings, complex, half or datetime)",
          what, d);
  Require(order == '<' || order == '|' || order == '=' || (order == '>' && size == 1),
          "{}: dtype '{}' is big-endian; aimc reads little-endian arrays (save it with "
          "arr.astype(arr.dtype.newbyteorder('<')))",
          what, d);
  out.shape = *f.shape;
  Require(!*f.fortran_order || out.shape.size() <= 1,
          "{}: the array is in Fortran order; aimc reads C order (save "
          "np.ascontiguousarray(arr))",
          what);
  return start + header_length;
}

std::uint64_t DataBytes(const NpyArray& a, const std::string& what) {
  std::uint64_t n = static_cast<std::uint64_t>(a.item_bytes);
  for (const std::int64_t d : a.shape)
    Require(!__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n),
            "{}: the shape {} holds more than 2^64 bytes", what, a.shape_string());
  return n;
}

NpyArray ParseNpyOwned(std::string&& bytes, const std::string& what) {
  NpyArray out;
  const std::size_t data_start = ParseNpyHeader(bytes, what, out);
  const std::uint64_t want = DataBytes(out, what);
  const std::uint64_t have = bytes.size() - data_start;
  Require(want == have,
          "{}: the header promises {} {} elements ({} bytes), the file holds {} bytes of data "
          "({})",
          what, out.shape_string(), out.dtype(), want, have,
          have < want ? "truncated" : "trailing bytes");
  bytes.erase(0, data_start);
  out.data = std::move(bytes);
  return out;
}

// ---- .npz (libzip) ----------------------------------------------------------------------------

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// ---- element access ---------------------------------------------------------------------------

template <typename T>
T Element(const NpyArray& a, std::int64_t i) {
  T v;
  std::memcpy(&v, a.data.data() + i * static_cast<std::int64_t>(sizeof(T)), sizeof(T));
  return v;
}

// Any integer element as int64 (uint64 beyond int64's range clamps to its maximum, which every
// check below refuses as a label).
std::int64_t IntegerAt(const NpyArray& a, std::int64_t i) {
  if (a.kind == 'u') {
    switch (a.item_bytes) {
      case 1: return Element<std::uint8_t>(a, i);
      case 2: return Element<std::uint16_t>(a, i);
      case 4: return Element<std::uint32_t>(a, i);
      default: {
        const std::uint64_t v = Element<std::uint64_t>(a, i);
        return v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                   ? std::numeric_limits<std::int64_t>::max()
                   : static_cast<std::int64_t>(v);
      }
    }
  }
  switch (a.item_bytes) {
    case 1: return Element<std::int8_t>(a, i);
    case 2: return Element<std::int16_t>(a, i);
    case 4: return Element<std::int32_t>(a, i);
    default: return Element<std::int64_t>(a, i);
  }
}

double FloatAt(const NpyArray& a, std::int64_t i) {
  return a.item_bytes == 4 ? static_cast<double>(Element<float>(a, i)) : Element<double>(a, i);
}

// ---- images -----------------------------------------------------------------------------------

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

torch::Tensor DecodePng(const std::string& bytes, const fs::path& path) {
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

std::int64_t NpyArray::size() const {
  std::int64_t n = 1;
  for (const std::int64_t d : shape) n *= d;
  return n;
}

std::string NpyArray::dtype() const {
  switch (kind) {
    case 'b': return "bool";
    case 'i': return fmt::format("int{}", 8 * item_bytes);
    case 'u': return fmt::format("uint{}", 8 * item_bytes);
    default: return fmt::format("float{}", 8 * item_bytes);
  }
}

std::string NpyArray::shape_string() const {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

NpyArray ParseNpy(std::string_view bytes, const std::string& what) {
  return ParseNpyOwned(std::string(bytes), what);
}

NpyArray ReadNpy(const fs::path& path) { return ParseNpyOwned(ReadDataFile(path), path.string()); }

std::map<std::string, NpyArray> ReadNpz(const fs::path& path) {
  Require(fs::exists(path), "{}: no such file", path.string());
  Require(!fs::is_directory(path), "{}: is a folder, not an .npz file", path.string());
  int code = 0;
  std::unique_ptr<zip_t, ZipCloser> archive(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!archive) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    Fail("{}: not a readable .npz (zip) archive ({})", path.string(), message);
  }
  std::map<std::string, NpyArray> arrays;
  const zip_int64_t entries = zip_get_num_entries(archive.get(), 0);
  for (zip_int64_t i = 0; i < entries; ++i) {
    zip_stat_t stat;
    zip_stat_init(&stat);
    Require(zip_stat_index(archive.get(), static_cast<zip_uint64_t>(i), 0, &stat) == 0 &&
                (stat.valid & ZIP_STAT_NAME) && (stat.valid & ZIP_STAT_SIZE),
            "{}: cannot read entry {} of the archive ({})", path.string(), i,
            zip_strerror(archive.get()));
    const std::string member = stat.name;
    const std::string what = fmt::format("{} in {}", member, path.string());
    if (member.ends_with("/")) continue;  // a folder entry
    Require(member.ends_with(".npy"), "{}: not a .npy array (an .npz holds only .npy members)",
            what);
    Require(stat.size <= kMaxDataFileBytes, "{}: {} bytes, more than the {} GiB aimc reads",
            what, stat.size, kMaxDataFileBytes >> 30);
    std::unique_ptr<zip_file_t, ZipFileCloser> file(
        zip_fopen_index(archive.get(), static_cast<zip_uint64_t>(i), 0));
    Require(file != nullptr, "{}: cannot open ({})", what, zip_strerror(archive.get()));
    std::string bytes(stat.size, '\0');
    std::uint64_t done = 0;
    while (done < stat.size) {
      const zip_int64_t got = zip_fread(file.get(), bytes.data() + done, stat.size - done);
      Require(got > 0, "{}: corrupt or truncated member ({})", what,
              got < 0 ? zip_file_strerror(file.get()) : "ends early");
      done += static_cast<std::uint64_t>(got);
    }
    // libzip checks the CRC when the member's data end: one more read reports a mismatch.
    char extra = 0;
    const zip_int64_t tail = zip_fread(file.get(), &extra, 1);
    Require(tail == 0, "{}: corrupt member ({})", what,
            tail < 0 ? zip_file_strerror(file.get()) : "longer than its stated size");
    arrays.emplace(member.substr(0, member.size() - 4), ParseNpyOwned(std::move(bytes), what));
  }
  Require(!arrays.empty(), "{}: an archive without arrays", path.string());
  return arrays;
}

std::string ToString(ImageLayout layout) {
  switch (layout) {
    case ImageLayout::kNchw: return "nchw";
    case ImageLayout::kNhwc: return "nhwc";
    default: return "auto";
  }
}

ImageLayout ParseImageLayout(const std::string& name) {
  if (name == "auto") return ImageLayout::kAuto;
  if (name == "nchw") return ImageLayout::kNchw;
  if (name == "nhwc") return ImageLayout::kNhwc;
  Fail("image layout must be auto, nchw or nhwc, got '{}'", name);
}

FloatPixels PixelScaleOf(const std::vector<std::pair<const NpyArray*, std::string>>& images) {
  bool unit = true;
  for (const auto& [array, what] : images) {
    if (array->kind != 'f') continue;
    const std::int64_t n = array->size();
    for (std::int64_t i = 0; i < n; ++i) {
      const double x = FloatAt(*array, i);
      const bool in_range = x >= 0.0 && x <= 255.0;  // false for NaN and infinities too
      Require(in_range,
              "{}: pixel value {} at flat index {} is {}; float pixels must lie in [0, 1] or "
              "[0, 255]",
              what, x, i, std::isnan(x) ? "NaN" : "out of range");
      unit = unit && x <= 1.0;
    }
  }
  return {unit ? 255.0 : 1.0};
}

torch::Tensor ImagesFromNpy(const NpyArray& a, ImageLayout layout, FloatPixels pixels,
                            const std::string& what) {
  Require((a.kind == 'u' && a.item_bytes == 1) || a.kind == 'f',
          "{}: images of dtype {}; aimc reads uint8 (0..255), float32 or float64 ([0, 1] or "
          "[0, 255]) pixels",
          what, a.dtype());
  Require(a.shape.size() == 3 || a.shape.size() == 4,
          "{}: images of shape {}; expected (N, H, W), (N, C, H, W) or (N, H, W, C)", what,
          a.shape_string());
  std::vector<std::int64_t> shape = a.shape;
  bool nhwc = false;
  if (shape.size() == 3) {
    shape.insert(shape.begin() + 1, 1);
  } else {
    const auto is_channels = [](std::int64_t c) { return c == 1 || c == 3; };
    if (layout == ImageLayout::kAuto) {
      const bool first = is_channels(shape[1]), last = is_channels(shape[3]);
      Require(first != last,
              "{}: images of shape {}: {}; say which with the layout: npy:nchw or npy:nhwc "
              "(npz:nchw, npz:nhwc)",
              what, a.shape_string(),
              first ? "axis 1 and axis 3 both could be the channels"
                    : "neither axis 1 nor axis 3 has 1 or 3 entries (channels)");
      nhwc = last;
    } else {
      nhwc = layout == ImageLayout::kNhwc;
    }
    const std::int64_t c = nhwc ? shape[3] : shape[1];
    Require(is_channels(c), "{}: images of shape {} in layout {} have {} channels; aimc's "
            "networks take 1 (grayscale) or 3 (RGB)",
            what, a.shape_string(), nhwc ? "nhwc" : "nchw", c);
  }
  // Stored order (NCHW or NHWC) first, permuted to NCHW below.
  torch::Tensor bytes = torch::empty(shape, torch::kUInt8);
  auto* out = bytes.data_ptr<std::uint8_t>();
  const std::int64_t n = a.size();
  if (a.kind == 'u') {
    std::memcpy(out, a.data.data(), static_cast<std::size_t>(n));
  } else {
    for (std::int64_t i = 0; i < n; ++i)
      out[i] = static_cast<std::uint8_t>(std::lround(pixels.scale * FloatAt(a, i)));
  }
  if (nhwc) return bytes.permute({0, 3, 1, 2}).contiguous();
  return bytes;
}

torch::Tensor LabelsFromNpy(const NpyArray& a, const std::string& what) {
  Require(a.kind == 'i' || a.kind == 'u',
          "{}: labels of dtype {}; labels are integers (class indices 0, 1, ...)", what,
          a.dtype());
  Require(a.shape.size() == 1 || (a.shape.size() == 2 && a.shape[1] == 1),
          "{}: labels of shape {}; expected (N,) or (N, 1)", what, a.shape_string());
  const std::int64_t n = a.shape[0];
  torch::Tensor labels = torch::empty({n}, torch::kInt64);
  auto* out = labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t v = IntegerAt(a, i);
    Require(v >= 0 && v < 1000,
            "{}: label {} at index {}; labels are class indices 0..999 (the networks take at "
            "most 1000 classes)",
            what, v, i);
    out[i] = v;
  }
  return labels;
}

torch::Tensor ReadImage(const fs::path& path) {
  const std::string bytes = ReadDataFile(path);
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
