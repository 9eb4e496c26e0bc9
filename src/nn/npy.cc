#include "aimc/nn/npy.h"

#include <zip.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
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

NpyArray ReadNpy(const fs::path& path) {
  // The magic first, before a large file of another kind is read whole.
  const auto check_head = [&path](std::string_view head) {
    Require(head.substr(0, 6) == std::string_view("\x93NUMPY", 6),
            "{}: not a NumPy .npy file (it does not start with \\x93NUMPY)", path.string());
  };
  return ParseNpyOwned(ReadDataFile(path, check_head), path.string());
}

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

const EnumNames<ImageLayout>& ImageLayoutNames() {
  static const EnumNames<ImageLayout> names("image layout", {{ImageLayout::kAuto, "auto"},
                                                             {ImageLayout::kNchw, "nchw"},
                                                             {ImageLayout::kNhwc, "nhwc"}});
  return names;
}

std::string ToString(ImageLayout layout) { return ImageLayoutNames().Name(layout); }

ImageLayout ParseImageLayout(const std::string& name) { return ImageLayoutNames().Parse(name); }

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

}  // namespace aimc::nn
