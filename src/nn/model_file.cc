#include "model_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/api/compilation_unit.h>
#include <torch/csrc/jit/serialization/unpickler.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/error.h"

namespace aimc::nn::internal {
namespace fs = std::filesystem;

namespace {

// Our archives nest a few levels (archive, model, layer, tensor); far deeper is not a model file
// and would only exhaust the stack of the walk below.
constexpr int kMaxDepth = 64;

struct Record {
  std::string name;
  std::size_t bytes = 0;
};

struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string Shape(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

// Finds every tensor under an unpickled value, named by the attribute path that leads to it.
// Objects are empty shells (see CheckModelArchive); their state is kept aside in `states`.
class TensorWalk {
 public:
  explicit TensorWalk(std::string file) : file_(std::move(file)) {}

  void AddState(const c10::ivalue::Object* object, c10::IValue state) {
    states_[object] = std::move(state);
  }

  void Walk(const c10::IValue& v, const std::string& name, int depth) {
    Require(depth <= kMaxDepth, "{}: the archive nests deeper than {} levels at '{}'", file_,
            kMaxDepth, name);
    if (v.isTensor()) {
      tensors_.push_back({name, v.toTensor()});
    } else if (v.isTuple()) {
      const auto& elements = v.toTupleRef().elements();
      for (std::size_t i = 0; i < elements.size(); ++i)
        Walk(elements[i], fmt::format("{}[{}]", name, i), depth + 1);
    } else if (v.isList()) {
      const auto list = v.toListRef();
      for (std::size_t i = 0; i < list.size(); ++i)
        Walk(list[i], fmt::format("{}[{}]", name, i), depth + 1);
    } else if (v.isGenericDict()) {
      for (const auto& item : v.toGenericDict()) {
        const std::string key = item.key().isString() ? item.key().toStringRef() : "?";
        Walk(item.value(), Join(name, key), depth + 1);
      }
    } else if (v.isObject()) {
      const auto it = states_.find(&v.toObjectRef());
      if (it != states_.end()) Walk(it->second, name, depth + 1);
    }
  }

  const std::vector<NamedTensor>& tensors() const { return tensors_; }

 private:
  std::string file_;
  std::unordered_map<const c10::ivalue::Object*, c10::IValue> states_;
  std::vector<NamedTensor> tensors_;
};

std::uint64_t LittleEndian(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Walks the opcodes of a pickle (protocols 2 to 4) without running them: every length and memo
// index must fit in the record. LibTorch's unpickler allocates what a length field says (a
// corrupt BINUNICODE length asks for 2 GB) and grows its memo table to any LONG_BINPUT index
// (2^32 entries), so neither reaches it unchecked.
void CheckPickle(const unsigned char* data, std::size_t size, const std::string& where) {
  std::size_t at = 0;
  const auto need = [&](std::uint64_t bytes, char op) {
    Require(bytes <= size - at, "{}: pickle opcode 0x{:02x} at byte {} needs {} bytes, {} left",
            where, static_cast<unsigned char>(op), at - 1, bytes, size - at);
  };
  const auto line = [&](char op) {
    const void* end = std::memchr(data + at, '\n', size - at);
    Require(end != nullptr, "{}: pickle opcode 0x{:02x} at byte {} has no line end", where,
            static_cast<unsigned char>(op), at - 1);
    at = static_cast<std::size_t>(static_cast<const unsigned char*>(end) - data) + 1;
  };
  while (at < size) {
    const char op = static_cast<char>(data[at++]);
    switch (op) {
      case '.':  // STOP
        return;
      case '(': case '0': case '1': case '2': case 'N': case 'Q': case 'R': case 'a': case 'b':
      case 'd': case '}': case 'e': case 'l': case ']': case 'o': case 's': case 't': case ')':
      case 'u': case '\x81': case '\x85': case '\x86': case '\x87': case '\x88': case '\x89':
      case '\x8f': case '\x90': case '\x91': case '\x92': case '\x93': case '\x94':
        break;
      case '\x80': case 'K': case 'h': case 'q': case '\x82':  // PROTO BININT1 BINGET BINPUT EXT1
        need(1, op);
        at += 1;
        break;
      case 'M': case '\x83':  // BININT2, EXT2
        need(2, op);
        at += 2;
        break;
      case 'J': case 'j': case '\x84':  // BININT, LONG_BINGET, EXT4
        need(4, op);
        at += 4;
        break;
      case 'r': {  // LONG_BINPUT: memo ids count up from 0, one per put of >= 2 bytes
        need(4, op);
        const std::uint64_t id = LittleEndian(data + at, 4);
        Require(id < size, "{}: pickle memo index {} at byte {} exceeds the pickle's size", where,
                id, at - 1);
        at += 4;
        break;
      }
      case 'G': case '\x95':  // BINFLOAT, FRAME
        need(8, op);
        at += 8;
        break;
      case 'U': case 'C': case '\x8c': case '\x8a': {  // short strings, bytes, LONG1
        need(1, op);
        const std::uint64_t n = data[at++];
        need(n, op);
        at += n;
        break;
      }
      case 'T': case 'X': case 'B': case '\x8b': {  // BINSTRING, BINUNICODE, BINBYTES, LONG4
        need(4, op);
        const std::uint64_t n = LittleEndian(data + at, 4);
        at += 4;
        need(n, op);
        at += n;
        break;
      }
      case '\x8d': case '\x8e': {  // BINUNICODE8, BINBYTES8
        need(8, op);
        const std::uint64_t n = LittleEndian(data + at, 8);
        at += 8;
        need(n, op);
        at += n;
        break;
      }
      case 'F': case 'I': case 'L': case 'S': case 'V': case 'P': case 'g': case 'p':
        line(op);
        break;
      case 'c': case 'i':  // GLOBAL, INST: module and name lines
        line(op);
        line(op);
        break;
      default:
        Fail("{}: byte {} (0x{:02x}) is not a pickle opcode", where, at - 1,
             static_cast<unsigned char>(op));
    }
  }
  Fail("{}: the pickle ends without its STOP opcode", where);
}

void CheckTensor(const NamedTensor& found,
                 const std::unordered_map<const void*, Record>& records, const std::string& file) {
  const at::Tensor& t = found.tensor;
  const std::string& name = found.name;
  Require(t.layout() == at::kStrided && !t.is_quantized(),
          "{}: tensor '{}' is sparse or quantized, which no aimc model holds", file, name);
  const at::Storage storage = t.storage();
  const std::size_t declared = storage.nbytes();
  const auto it = records.find(storage.data());
  const Record record = it != records.end() ? it->second : Record{"(none)", 0};
  Require(declared <= record.bytes,
          "{}: tensor '{}' declares {} bytes of data, but its record '{}' holds {}: the file is "
          "truncated or corrupt",
          file, name, declared, record.name, record.bytes);
  if (t.numel() > 0) {
    // The last element's position, in overflow-checked arithmetic: the view must lie inside the
    // storage, or reading it reads past the record.
    Require(t.storage_offset() >= 0, "{}: tensor '{}' has a negative storage offset", file, name);
    auto last = static_cast<std::uint64_t>(t.storage_offset());
    bool overflow = false;
    for (std::int64_t d = 0; d < t.dim(); ++d) {
      Require(t.stride(d) >= 0, "{}: tensor '{}' has a negative stride", file, name);
      std::uint64_t span = 0;
      overflow |= __builtin_mul_overflow(static_cast<std::uint64_t>(t.size(d) - 1),
                                         static_cast<std::uint64_t>(t.stride(d)), &span);
      overflow |= __builtin_add_overflow(last, span, &last);
    }
    std::uint64_t end = 0;
    overflow |= __builtin_add_overflow(last, 1, &end);
    overflow |= __builtin_mul_overflow(end, static_cast<std::uint64_t>(t.element_size()), &end);
    Require(!overflow && end <= declared,
            "{}: tensor '{}' of shape {} reaches past its {} bytes of data: the file is corrupt",
            file, name, Shape(t), declared);
  }
  if (t.is_floating_point()) {
    Require(torch::isfinite(t).all().item<bool>(),
            "{}: tensor '{}' of shape {} holds NaN or infinite values", file, name, Shape(t));
  }
}

}  // namespace

void CheckModelArchive(const fs::path& path) {
  const std::string file = path.string();
  Require(fs::exists(path), "{}: no such model file", file);
  Require(fs::is_regular_file(path), "{}: not a model file (a folder or a device)", file);
  try {
    caffe2::serialize::PyTorchStreamReader reader(file);
    Require(reader.hasRecord("data.pkl"), "{}: not a model file (the archive has no data.pkl)",
            file);
    // Every pickle LibTorch's loader reads (data, constants, debug info of the code).
    for (const std::string& name : reader.getAllRecords()) {
      if (!name.ends_with(".pkl") && !name.ends_with(".debug_pkl")) continue;
      const auto [bytes, size] = reader.getRecord(name);
      CheckPickle(static_cast<const unsigned char*>(bytes.get()), size,
                  fmt::format("{}: record '{}'", file, name));
    }
    const auto [pickle, pickle_bytes] = reader.getRecord("data.pkl");
    std::size_t position = 0;
    const auto read = [&pickle = pickle, pickle_bytes = pickle_bytes, &position](char* out,
                                                                                  std::size_t n) {
      n = std::min(n, pickle_bytes - position);
      std::memcpy(out, static_cast<const char*>(pickle.get()) + position, n);
      position += n;
      return n;
    };
    // The records as the zip holds them, keyed by the buffer the storage will point to: after
    // unpickling, each tensor's storage says which record (and how many bytes) backs it.
    std::unordered_map<const void*, Record> records;
    const auto read_record = [&](const std::string& key) {
      const std::string name = "data/" + key;
      Require(reader.hasRecord(name), "{}: tensor data '{}' is missing from the archive", file,
              name);
      auto [data, bytes] = reader.getRecord(name);
      records[data.get()] = {name, bytes};
      return std::move(data);
    };
    // Classes are resolved to empty types, and objects to empty shells whose state (a dict of
    // attributes) is kept for the walk: no code in the archive is compiled or run.
    const auto cu = std::make_shared<torch::jit::CompilationUnit>();
    const auto resolve = [&cu](const c10::QualifiedName& name) {
      c10::ClassTypePtr type = cu->get_class(name);
      if (!type) {
        type = c10::ClassType::create(name, cu);
        cu->register_type(type);
      }
      return c10::StrongTypePtr(cu, type);
    };
    TensorWalk walk(file);
    const auto load_object = [&walk](const at::StrongTypePtr& type, c10::IValue state) {
      auto object = c10::ivalue::Object::create(type, 0);
      walk.AddState(object.get(), std::move(state));
      return object;
    };
    torch::jit::Unpickler unpickler(read, resolve, load_object, read_record, at::Device(at::kCPU));
    unpickler.set_version(reader.version());
    const c10::IValue root = unpickler.parse_ivalue();
    walk.Walk(root, "", 0);
    for (const NamedTensor& t : walk.tensors()) CheckTensor(t, records, file);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    Fail("{}: not a readable model file ({})", file, e.what_without_backtrace());
  } catch (const std::exception& e) {
    Fail("{}: not a readable model file ({})", file, e.what());
  }
}

}  // namespace aimc::nn::internal
