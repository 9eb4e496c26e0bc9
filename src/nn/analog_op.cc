#include "aimc/nn/analog_op.h"

#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/library.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"

namespace aimc::nn {
namespace {

using nlohmann::json;

std::int64_t IntKey(const json& j, const char* key, const std::string& what) {
  const auto it = j.find(key);
  Require(it != j.end(), "{}: its spec has no '{}'", what, key);
  Require(it->is_number_integer(), "{}: spec '{}' must be an integer, got {}", what, key,
          it->dump());
  return it->get<std::int64_t>();
}

// A list of `dims` integers (conv2d: 2, conv1d: 1).
std::vector<std::int64_t> IntsKey(const json& j, const char* key, std::size_t dims,
                                  const std::string& what) {
  const auto it = j.find(key);
  Require(it != j.end(), "{}: its spec has no '{}'", what, key);
  Require(it->is_array() && it->size() == dims,
          "{}: spec '{}' must be a list of {} integers, got {}", what, key, dims, it->dump());
  std::vector<std::int64_t> out;
  for (const json& v : *it) {
    Require(v.is_number_integer(), "{}: spec '{}' must hold integers, got {}", what, key,
            it->dump());
    out.push_back(v.get<std::int64_t>());
  }
  return out;
}

template <typename T>
T TypedKey(const json& j, const char* key, const std::string& what, const char* type) {
  const auto it = j.find(key);
  Require(it != j.end(), "{}: its spec has no '{}'", what, key);
  const bool ok = std::is_same_v<T, bool> ? it->is_boolean() : it->is_number();
  Require(ok, "{}: spec '{}' must be {}, got {}", what, key, type, it->dump());
  return it->get<T>();
}

AnalogLayerOptions Parse(std::string_view text, const std::string& what) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    Fail("{}: its spec is not JSON ({})", what, e.what());
  }
  Require(j.is_object(), "{}: its spec must be a JSON object", what);
  const auto kind_it = j.find("kind");
  Require(kind_it != j.end() && kind_it->is_string(), "{}: its spec has no 'kind'", what);
  const std::string kind = kind_it->get<std::string>();
  Require(kind == "linear" || kind == "conv1d" || kind == "conv2d",
          "{}: spec 'kind' must be linear, conv1d or conv2d, got '{}'", what, kind);
  std::set<std::string> known = {"kind", "in", "out", "bias", "ternary", "weight_levels",
                                 "threshold_ratio", "input_bits", "signed_input"};
  if (kind != "linear") known.insert({"kernel", "stride", "padding", "dilation", "groups"});
  for (const auto& [key, value] : j.items())
    Require(known.count(key) > 0, "{}: unknown spec key '{}' for a {}", what, key, kind);
  AnalogLayerOptions o;
  o.kind = kind == "linear" ? LayerKind::kLinear : LayerKind::kConv;
  o.in = IntKey(j, "in", what);
  o.out = IntKey(j, "out", what);
  if (kind != "linear") {
    const std::size_t dims = kind == "conv1d" ? 1 : 2;
    const auto kernel = IntsKey(j, "kernel", dims, what);
    const auto stride = IntsKey(j, "stride", dims, what);
    const auto padding = IntsKey(j, "padding", dims, what);
    const auto dilation = IntsKey(j, "dilation", dims, what);
    // A Conv1d is a conv of height 1 (kernel 1, stride 1, no padding in height).
    o.kernel = dims == 1 ? 1 : kernel[0];
    o.stride = dims == 1 ? 1 : stride[0];
    o.padding = dims == 1 ? 0 : padding[0];
    o.dilation = dims == 1 ? 1 : dilation[0];
    o.kernel_w = kernel.back();
    o.stride_w = stride.back();
    o.padding_w = padding.back();
    o.dilation_w = dilation.back();
    for (const auto* v : {&kernel, &stride, &dilation})
      for (const std::int64_t x : *v)
        Require(x >= 1, "{}: spec kernel, stride and dilation must be >= 1, got {}", what,
                j.dump());
    for (const std::int64_t x : padding)
      Require(x >= 0, "{}: spec 'padding' must be >= 0, got {}", what, j.at("padding").dump());
    o.groups = IntKey(j, "groups", what);
  }
  o.bias = TypedKey<bool>(j, "bias", what, "true or false");
  o.ternary = TypedKey<bool>(j, "ternary", what, "true or false");
  o.weight_levels = static_cast<int>(IntKey(j, "weight_levels", what));
  o.threshold_ratio = TypedKey<double>(j, "threshold_ratio", what, "a number");
  o.input_bits = static_cast<int>(IntKey(j, "input_bits", what));
  o.signed_input = TypedKey<bool>(j, "signed_input", what, "true or false");
  o.per_channel = true;
  o.learn_alpha = true;
  try {
    o.Validate();
  } catch (const Error& e) {
    Fail("{}: {}", what, e.what());
  }
  return o;
}

// Parsed specs by their text: a forward pass parses its layer's spec once per process.
const AnalogLayerOptions& CachedSpec(std::string_view spec) {
  static std::mutex mutex;
  static std::map<std::string, AnalogLayerOptions, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto it = cache.find(spec);
  if (it != cache.end()) return it->second;
  AnalogLayerOptions o = Parse(spec, "aimc::analog_layer");
  return cache.emplace(std::string(spec), o).first->second;
}

at::Tensor AnalogLayerOp(const at::Tensor& x, const at::Tensor& weight,
                         const c10::optional<at::Tensor>& bias, const at::Tensor& alpha,
                         const c10::optional<at::Tensor>& deviation, c10::string_view spec,
                         double sigma_w, std::int64_t seed, std::int64_t draw) {
  // aimc's errors as LibTorch's (Python: RuntimeError with aimc's message, no C++ backtrace).
  try {
    const std::string_view text(spec.data(), spec.size());
    const AnalogLayerOptions& o = CachedSpec(text);
    return AnalogLayerFunction(x, weight, bias.value_or(at::Tensor()), alpha,
                               deviation.value_or(at::Tensor()), o, SpecIsConv1d(text), sigma_w,
                               static_cast<std::uint64_t>(seed), draw);
  } catch (const Error& e) {
    TORCH_CHECK(false, e.what());
  }
}

}  // namespace

AnalogLayerOptions LayerSpecOptions(std::string_view spec, const std::string& what) {
  return Parse(spec, what);
}

bool SpecIsConv1d(std::string_view spec) {
  return spec.find("\"conv1d\"") != std::string_view::npos;
}

std::string LayerSpecJson(const AnalogLayerOptions& o, bool conv1d) {
  json j;
  j["kind"] = o.kind == LayerKind::kLinear ? "linear" : conv1d ? "conv1d" : "conv2d";
  j["in"] = o.in;
  j["out"] = o.out;
  if (o.kind == LayerKind::kConv) {
    const auto pick = [conv1d](const std::vector<std::int64_t>& v) {
      return conv1d ? std::vector<std::int64_t>{v[1]} : v;
    };
    j["kernel"] = pick(o.Kernel2());
    j["stride"] = pick(o.Stride2());
    j["padding"] = pick(o.Padding2());
    j["dilation"] = pick(o.Dilation2());
    j["groups"] = o.groups;
  }
  j["bias"] = o.bias;
  j["ternary"] = o.ternary;
  j["weight_levels"] = o.weight_levels;
  j["threshold_ratio"] = o.threshold_ratio;
  j["input_bits"] = o.input_bits;
  j["signed_input"] = o.signed_input;
  return j.dump();
}

torch::Tensor AnalogLayerFunction(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, const torch::Tensor& alpha,
                                  const torch::Tensor& deviation,
                                  const AnalogLayerOptions& options, bool conv1d, double sigma_w,
                                  std::uint64_t seed, std::int64_t draw) {
  const bool conv = options.kind == LayerKind::kConv;
  const std::vector<std::int64_t> k = options.Kernel2();
  const std::int64_t weight_dims = conv ? (conv1d ? 3 : 4) : 2;
  Require(weight.dim() == weight_dims && weight.size(0) == options.out &&
              weight.size(1) == options.in / options.groups &&
              (!conv || weight.size(-1) == k[1]) && (!conv || conv1d || weight.size(2) == k[0]),
          "aimc::analog_layer: a weight of shape {} does not fit its spec ({} -> {})",
          c10::str(weight.sizes()), options.in, options.out);
  Require(!bias.defined() || (bias.dim() == 1 && bias.size(0) == options.out),
          "aimc::analog_layer: a bias of shape {} for {} outputs", c10::str(bias.sizes()),
          options.out);
  Require(bias.defined() == options.bias, "aimc::analog_layer: its spec says bias {}, given {}",
          options.bias, bias.defined() ? "a bias" : "none");
  Require(alpha.numel() == 1, "aimc::analog_layer: alpha must have one element, got {}",
          alpha.numel());
  Require(!deviation.defined() || deviation.sizes() == weight.sizes(),
          "aimc::analog_layer: a deviation of shape {}, the weight's is {}",
          deviation.defined() ? c10::str(deviation.sizes()) : "", c10::str(weight.sizes()));
  Require(std::isfinite(sigma_w) && sigma_w >= 0.0,
          "aimc::analog_layer: sigma_w must be finite and >= 0, got {}", sigma_w);
  if (conv)
    Require(x.dim() == (conv1d ? 3 : 4) && x.size(1) == options.in,
            "aimc::analog_layer: a {} of {} input channels got an input of shape {}",
            conv1d ? "Conv1d" : "Conv2d", options.in, c10::str(x.sizes()));
  else
    Require(x.dim() >= 1 && x.size(-1) == options.in,
            "aimc::analog_layer: a Linear of {} inputs got an input of shape {}", options.in,
            c10::str(x.sizes()));
  // A Conv1d as the conv of height 1 that an analog layer is.
  const auto tall = [conv1d](const torch::Tensor& t) {
    return conv1d && t.defined() ? t.unsqueeze(2) : t;
  };
  std::optional<at::Generator> generator;
  if (sigma_w > 0.0) generator = MakeGenerator(Rng::Derive(seed, static_cast<std::uint64_t>(draw)));
  const torch::Tensor w = TrainingWeight(tall(weight), options, tall(deviation), sigma_w,
                                         generator ? &*generator : nullptr);
  const torch::Tensor xq = PactQuantize(tall(x), alpha.reshape({1}), options.input_bits,
                                        options.signed_input);
  const torch::Tensor y = LayerProduct(options, xq, w, bias, options.groups);
  return conv1d ? y.squeeze(2) : y;
}

}  // namespace aimc::nn

TORCH_LIBRARY(aimc, m) {
  m.def(
      "analog_layer(Tensor x, Tensor weight, Tensor? bias, Tensor alpha, Tensor? deviation, "
      "str spec, float sigma_w, int seed, int draw) -> Tensor",
      &aimc::nn::AnalogLayerOp);
}
