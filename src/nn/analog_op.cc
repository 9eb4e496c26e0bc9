#include "aimc/nn/analog_op.h"

#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "analog_kernels.h"

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

LayerSpec Parse(std::string_view text, const std::string& what) {
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
                                 "threshold_ratio", "input_bits", "signed_input", "adc_bits",
                                 "tile_rows", "adc_full_scale_fraction"};
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
  LayerSpec spec{o, kind == "conv1d", {}};
  // The chip's ADC, where the spec asks for one.
  LayerAdc& adc = spec.adc;
  if (j.contains("adc_bits")) {
    adc.bits = static_cast<int>(IntKey(j, "adc_bits", what));
    Require(adc.bits == 0 || (adc.bits >= 2 && adc.bits <= 24),
            "{}: spec 'adc_bits' must be 0 (no ADC) or in [2, 24], got {}", what, adc.bits);
  }
  if (adc.bits > 0) {
    adc.tile_rows = IntKey(j, "tile_rows", what);
    Require(adc.tile_rows >= 1, "{}: spec 'tile_rows' must be >= 1, got {}", what,
            adc.tile_rows);
    adc.full_scale_fraction = TypedKey<double>(j, "adc_full_scale_fraction", what, "a number");
    Require(adc.full_scale_fraction > 0.0 && adc.full_scale_fraction <= 1.0,
            "{}: spec 'adc_full_scale_fraction' must be in (0, 1], got {}", what,
            adc.full_scale_fraction);
    Require(o.ternary, "{}: an ADC in the forward pass takes a layer on arrays (ternary, K "
            "levels or continuous), not a float layer", what);
  }
  return spec;
}


// ---- The operator's fast path: each piece one pass where it can be -------------------------

// Standard normal draws in chunks of kNoiseChunk elements, chunk c from Rng::Derive(seed, c):
// drawn in parallel, the same numbers whatever the threads.
constexpr std::int64_t kNoiseChunk = 1 << 16;

torch::Tensor ChunkedNormal(at::IntArrayRef sizes, std::uint64_t seed) {
  torch::Tensor z = torch::empty(sizes, torch::kFloat);
  torch::Tensor flat = z.view({-1});
  const std::int64_t n = flat.numel();
  const std::int64_t chunks = (n + kNoiseChunk - 1) / kNoiseChunk;
  at::parallel_for(0, chunks, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) {
      at::Generator g = MakeGenerator(Rng::Derive(seed, static_cast<std::uint64_t>(c)));
      flat.narrow(0, c * kNoiseChunk, std::min(kNoiseChunk, n - c * kNoiseChunk)).normal_(0.0, 1.0, g);
    }
  });
  return z;
}

// Where the fused loops (analog_kernels.h) take a tensor: float, contiguous, on the CPU.
bool Fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat && t.is_contiguous();
}

// Elements per task of the fused loops: large enough that a task's start is noise.
constexpr std::int64_t kGrain = 1 << 15;

// The value of a ternary or K-level training weight and its per-channel scale:
// scale * (levels + deviation + noise), no gradient. The noise is sigma_w * max_level *
// N(0, 1) per weight (Fig. 12: after quantization, relative to the unit weight, as
// DrawLevelNoise), scaled with the levels.
struct WeightValue {
  torch::Tensor value;
  torch::Tensor scale;
};

WeightValue TrainingWeightValue(const torch::Tensor& weight, const torch::Tensor& deviation,
                                const AnalogLayerOptions& o, double sigma_w,
                                std::uint64_t noise_seed) {
  torch::NoGradGuard no_grad;
  const double noise = sigma_w * MaxLevelOf(o.weight_levels);
  const bool has_deviation = deviation.defined();
  if (!IsContinuous(o.weight_levels) && MaxLevelOf(o.weight_levels) == 1 && Fusable(weight) &&
      (!has_deviation || (Fusable(deviation) && deviation.sizes() == weight.sizes()))) {
    // Ternary: Ternarize's threshold (the same levels as the chip's quantizer, bit for bit), then
    // one loop for TWN's scale (Ternarize's rule, summed in double: equal to float rounding) and
    // one for the value, drawing the noise straight into the result.
    const std::int64_t rows = o.per_channel ? weight.size(0) : 1;
    const std::int64_t cols = weight.numel() / std::max<std::int64_t>(rows, 1);
    const torch::Tensor delta =
        TwnThreshold(weight.abs().reshape({rows, -1}), o.threshold_ratio).contiguous();
    torch::Tensor scale = torch::empty({rows}, weight.options());
    torch::Tensor value = sigma_w > 0.0 ? ChunkedNormal(weight.sizes(), noise_seed)
                                        : torch::empty_like(weight);
    const float* w = weight.data_ptr<float>();
    const float* dev = has_deviation ? deviation.data_ptr<float>() : nullptr;
    const float* d = delta.data_ptr<float>();
    float* s = scale.data_ptr<float>();
    float* out = value.data_ptr<float>();
    const bool noisy = sigma_w > 0.0;
    at::parallel_for(0, rows, std::max<std::int64_t>(1, kGrain / std::max<std::int64_t>(cols, 1)),
                     [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t r = begin; r < end; ++r) {
        const std::int64_t at = r * cols;
        double sum = 0.0;
        std::int64_t count = 0;
        kernels::AboveThreshold(w + at, cols, d[r], &sum, &count);
        // A channel with no weight above delta is all zero; its scale only has to be positive.
        s[r] = count > 0 ? static_cast<float>(sum) / static_cast<float>(count) : d[r];
        kernels::TernaryWeightRow(w + at, dev ? dev + at : nullptr, noisy ? out + at : nullptr,
                                  out + at, cols, d[r], s[r], static_cast<float>(noise));
      }
    });
    std::vector<std::int64_t> shape(static_cast<std::size_t>(weight.dim()), 1);
    shape[0] = rows;
    return {value, scale.view(shape)};
  }
  const TernaryWeights t =
      QuantizeWeights(weight, o.per_channel, o.threshold_ratio, o.weight_levels);
  torch::Tensor u = t.levels.to(weight.scalar_type());
  if (has_deviation) u.add_(deviation);
  if (sigma_w > 0.0)
    u.add_(ChunkedNormal(weight.sizes(), noise_seed).to(u.device(), u.scalar_type()), noise);
  return {u.mul_(t.scale), t.scale};
}

// The weight a forward pass uses (TrainingWeightValue), with the straight-through gradient (the
// identity) to the float weight: TernarySte's w + (q - w).detach() and the sums after it would
// take a pass each.
struct StraightThroughWeight : torch::autograd::Function<StraightThroughWeight> {
  // The value by pointer: it is no autograd input.
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor&,
                               const torch::Tensor* value) {
    return *value;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext*,
                                               torch::autograd::tensor_list grad) {
    return {grad[0], torch::Tensor()};
  }
};

// PactQuantize's value and gradients in one pass forward and one backward where the tensors are
// float and contiguous (the fused loops), instead of its relu differences: d/dx = 1 where the
// clip passes x (0 < x <= alpha; signed |x| <= alpha), d/dalpha = 1 where x > alpha (signed:
// sign(x) where |x| > alpha).
struct Pact : torch::autograd::Function<Pact> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& alpha, std::int64_t bits, bool is_signed) {
    ctx->save_for_backward({x, alpha});
    ctx->saved_data["signed"] = is_signed;
    // One fused pass where x is float and contiguous (PactQuantizeEval's).
    return PactQuantizeEval(x, alpha, static_cast<int>(bits), is_signed);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& alpha = saved[1];
    const bool is_signed = ctx->saved_data["signed"].toBool();
    const double a = alpha.item<double>();
    const torch::Tensor g = grad[0].contiguous();
    torch::Tensor gx, ga;
    if (Fusable(x) && Fusable(g) && g.sizes() == x.sizes()) {
      gx = torch::empty_like(x);
      const float* gp = g.data_ptr<float>();
      const float* xp = x.data_ptr<float>();
      float* out = gx.data_ptr<float>();
      const double sum = at::parallel_reduce(
          0, x.numel(), kGrain, 0.0,
          [&](std::int64_t begin, std::int64_t end, double) {
            return kernels::DacBackward(gp + begin, xp + begin, out + begin, end - begin,
                                        static_cast<float>(a), is_signed);
          },
          std::plus<double>());
      ga = torch::full(alpha.sizes(), sum, alpha.options());
    } else if (is_signed) {
      gx = g * (x.abs() <= a);
      ga = (g * ((x > a).to(g.scalar_type()) - (x < -a).to(g.scalar_type()))).sum();
    } else {
      gx = g * ((x > 0) & (x <= a));
      ga = (g * (x > a)).sum();
    }
    return {gx, ga.reshape(alpha.sizes()), torch::Tensor(), torch::Tensor()};
  }
};

// Parsed specs by their text: a forward pass parses its layer's spec once per process.
const LayerSpec& CachedSpec(std::string_view spec) {
  static std::mutex mutex;
  static std::map<std::string, LayerSpec, std::less<>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const auto it = cache.find(spec);
  if (it != cache.end()) return it->second;
  return cache.emplace(std::string(spec), Parse(spec, "aimc::analog_layer")).first->second;
}

at::Tensor AnalogLayerOp(const at::Tensor& x, const at::Tensor& weight,
                         const c10::optional<at::Tensor>& bias, const at::Tensor& alpha,
                         const c10::optional<at::Tensor>& deviation, c10::string_view spec,
                         double sigma_w, std::int64_t seed, std::int64_t draw) {
  // aimc's errors as LibTorch's (Python: RuntimeError with aimc's message, no C++ backtrace).
  try {
    return AnalogLayerFunction(x, weight, bias.value_or(at::Tensor()), alpha,
                               deviation.value_or(at::Tensor()),
                               CachedSpec(std::string_view(spec.data(), spec.size())), sigma_w,
                               static_cast<std::uint64_t>(seed), draw);
  } catch (const Error& e) {
    TORCH_CHECK(false, e.what());
  }
}

}  // namespace

LayerSpec ParseLayerSpec(std::string_view spec, const std::string& what) {
  return Parse(spec, what);
}

double AdcFullScaleOf(double fraction, std::int64_t rows, double input_full_scale,
                      int max_level) {
  // The largest possible output (every input at full scale, every weight at its top level)
  // times the fraction.
  return fraction * static_cast<double>(rows) * input_full_scale * static_cast<double>(max_level);
}

double AdcStepOf(double full_scale, int bits) {
  // 2^bits - 1 levels, 0 and +-full scale among them, so that a saturated output is a level,
  // not a tie between two.
  return full_scale / ((1 << (bits - 1)) - 1);
}

torch::Tensor AnalogLayerFunction(const torch::Tensor& x, const torch::Tensor& weight,
                                  const torch::Tensor& bias, const torch::Tensor& alpha,
                                  const torch::Tensor& deviation, const LayerSpec& spec,
                                  double sigma_w, std::uint64_t seed, std::int64_t draw) {
  const AnalogLayerOptions& options = spec.options;
  const bool conv1d = spec.conv1d;
  const LayerAdc& adc = spec.adc;
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
  const torch::Tensor a = alpha.reshape({1});
  torch::Tensor w;
  std::optional<WeightValue> t;
  if (!options.ternary) {
    w = tall(weight);
  } else {
    t = TrainingWeightValue(tall(weight), tall(deviation), options, sigma_w,
                            Rng::Derive(seed, static_cast<std::uint64_t>(draw)));
    w = StraightThroughWeight::apply(tall(weight), &t->value);
  }
  const torch::Tensor xq =
      options.input_bits > 0
          ? Pact::apply(tall(x), a, static_cast<std::int64_t>(options.input_bits),
                        options.signed_input)
          : PactQuantize(tall(x), a, 0, options.signed_input);
  if (adc.bits == 0 || !t) {
    const torch::Tensor y = LayerProduct(options, xq, w, bias, options.groups);
    return conv1d ? y.squeeze(2) : y;
  }
  // The chip's readout: blocks of tile_rows rows of the layer's dense matrix (a grouped layer's
  // groups on its diagonal blocks, as the chip's tiles hold them), each partial sum in unit
  // weights through its ADC.
  const std::int64_t kk = conv ? k[0] * k[1] : 1;
  const std::int64_t rows = options.in * kk;
  const torch::Tensor scale = t->scale.reshape({-1}).expand({options.out}).to(w.scalar_type());
  const torch::Tensor per_out = conv ? scale.view({-1, 1, 1, 1}) : scale.view({-1, 1});
  // Unit weights, differentiable in w (the scale holds no gradient); a zero channel stays 0.
  const torch::Tensor unit = w / per_out.clamp_min(1e-30);
  const double input_full_scale = options.input_bits > 0 ? a.item<double>() : 1.0;
  // Grouped: the dense row of each weight, (group * in_per_group + channel) * kk + kernel
  // position, so that a block keeps the weights whose rows it holds.
  torch::Tensor dense_row;
  if (options.groups > 1) {
    const std::int64_t group_rows = options.in / options.groups * kk;
    const torch::Tensor group =
        torch::arange(options.out, torch::kLong).floor_divide(options.out / options.groups);
    dense_row = group.view({-1, 1}) * group_rows +
                torch::arange(group_rows, torch::kLong).view({1, -1});
  }
  torch::Tensor y;
  for (std::int64_t r0 = 0; r0 < rows; r0 += adc.tile_rows) {
    const std::int64_t r1 = std::min(rows, r0 + adc.tile_rows);
    torch::Tensor part;
    if (options.groups > 1) {
      // Every group's weights in the block's rows; a group outside it reads 0.
      const torch::Tensor mask = ((dense_row >= r0) & (dense_row < r1)).to(unit.scalar_type());
      part = LayerProduct(options, xq, unit * mask.view(unit.sizes()), torch::Tensor(),
                          options.groups);
    } else {
      const std::int64_t c0 = r0 / kk, c1 = (r1 + kk - 1) / kk;
      torch::Tensor wb = unit.narrow(1, c0, c1 - c0);
      if (r0 > c0 * kk || r1 < c1 * kk) {
        torch::Tensor mask = torch::zeros({(c1 - c0) * kk}, wb.options());
        mask.narrow(0, r0 - c0 * kk, r1 - r0).fill_(1.0);
        wb = wb * (conv ? mask.view({1, c1 - c0, k[0], k[1]}) : mask.view({1, -1}));
      }
      const torch::Tensor xb = conv ? xq.narrow(1, c0, c1 - c0) : xq.narrow(-1, c0, c1 - c0);
      part = LayerProduct(options, xb, wb, torch::Tensor(), 1);
    }
    const double fs = AdcFullScaleOf(adc.full_scale_fraction, r1 - r0, input_full_scale,
                                     MaxLevelOf(options.weight_levels));
    const double step = AdcStepOf(fs, adc.bits);
    const torch::Tensor clipped = part.clamp(-fs, fs);
    torch::Tensor read;
    {
      torch::NoGradGuard no_grad;
      read = clipped.div(step).round_().mul_(step);
    }
    const torch::Tensor block = clipped + (read - clipped).detach();
    y = y.defined() ? y + block : block;
  }
  const std::vector<std::int64_t> channel_shape =
      conv ? std::vector<std::int64_t>{1, -1, 1, 1} : std::vector<std::int64_t>{-1};
  y = y * scale.view(channel_shape);
  if (bias.defined()) y = y + (conv ? bias.view({1, -1, 1, 1}) : bias);
  return conv1d ? y.squeeze(2) : y;
}

}  // namespace aimc::nn

TORCH_LIBRARY(aimc, m) {
  m.def(
      "analog_layer(Tensor x, Tensor weight, Tensor? bias, Tensor alpha, Tensor? deviation, "
      "str spec, float sigma_w, int seed, int draw) -> Tensor",
      &aimc::nn::AnalogLayerOp);
}
