#include "aimc/nn/torchscript.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/nn/quant.h"
#include "sequential.h"

namespace aimc::nn {
namespace F = torch::nn::functional;

void ImportOptions::Validate() const {
  Require(act_bits >= 0 && act_bits <= 16, "import act_bits must be in 0..16 (0: float), got {}",
          act_bits);
  Require(input_percentile > 0.0 && input_percentile <= 100.0,
          "import input_percentile must be in (0, 100], got {}", input_percentile);
  Require(std::isfinite(input_alpha) && input_alpha >= 0.0,
          "import input_alpha must be >= 0 (0: from the calibration images), got {}", input_alpha);
  Require(!threshold_ratios.empty(), "import threshold_ratios: at least one ratio");
  for (double r : threshold_ratios)
    Require(r >= 0.0 && r < 10.0, "import threshold_ratios must be in [0, 10), got {}", r);
  Require(calibration_images >= 1, "import calibration_images must be >= 1, got {}",
          calibration_images);
  Require(weight_levels >= 3 && weight_levels <= 255 && weight_levels % 2 == 1,
          "import weight_levels must be odd and in [3, 255] (3: ternary), got {}", weight_levels);
}

nlohmann::json ImportOptions::ToJson() const {
  nlohmann::json j = {{"act_bits", act_bits},
                      {"input_percentile", input_percentile},
                      {"input_alpha", input_alpha},
                      {"per_channel", per_channel},
                      {"threshold_ratios", threshold_ratios},
                      {"float_first_last", float_first_last},
                      {"calibration_images", calibration_images},
                      {"refit", refit}};
  // Only where not ternary, so that ternary imports keep the manifests they had.
  if (weight_levels != 3) j["weight_levels"] = weight_levels;
  return j;
}

std::string ImportResult::Describe() const {
  std::string s;
  for (const ImportedLayer& l : layers) {
    if (l.analog && l.weight_levels == 3)
      s += fmt::format("{} ({}): analog, threshold ratio {}, input alpha {:.4g}, relative output "
                       "error {:.4f} on the calibration images\n",
                       l.name, l.kind, l.threshold_ratio, l.input_alpha, l.relative_error);
    else if (l.analog)
      s += fmt::format("{} ({}): analog, {} weight levels, input alpha {:.4g}, relative output "
                       "error {:.4f} on the calibration images\n",
                       l.name, l.kind, l.weight_levels, l.input_alpha, l.relative_error);
    else
      s += fmt::format("{} ({}): digital (float): {}\n", l.name, l.kind, l.reason);
  }
  return s;
}

namespace {

using torch::jit::Module;

// The class name of a torch.nn module ("Conv2d"), or "" for anything else (a user's class).
// TorchScript names them __torch__.torch.nn.modules.<file>[.___torch_mangle_N].<Class>.
std::string TorchNnClass(const Module& m) {
  const auto& name = m.type()->name();
  if (!name) return {};
  const std::string q = name->qualifiedName();
  if (q.rfind("__torch__.torch.nn.modules.", 0) != 0) return {};
  return name->name();
}

std::string DescribeType(const Module& m) {
  const auto& name = m.type()->name();
  return name ? name->qualifiedName() : "an unnamed type";
}

// A leaf of the flattened Sequential, in forward order.
struct Leaf {
  std::string name;  // its path, "0", "features.3"
  std::string type;  // torch.nn class name
  Module module;
};

void Flatten(const Module& m, const std::string& prefix, std::vector<Leaf>& out) {
  for (const auto& child : m.named_children()) {
    const std::string name = prefix.empty() ? child.name : prefix + "." + child.name;
    const std::string type = TorchNnClass(child.value);
    if (type == "Sequential") {
      Flatten(child.value, name, out);
      continue;
    }
    static const std::vector<std::string> kKnown = {
        "Conv2d",  "Linear",  "BatchNorm2d", "BatchNorm1d", "ReLU",     "ReLU6",
        "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten", "Dropout", "Identity"};
    Require(std::find(kKnown.begin(), kKnown.end(), type) != kKnown.end(),
            "submodule '{}' is {}: aimc imports Sequentials of Conv2d, Linear, BatchNorm2d, "
            "BatchNorm1d, ReLU, ReLU6, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Dropout "
            "and Identity",
            name, DescribeType(child.value));
    out.push_back({name, type, child.value});
  }
}

std::vector<std::int64_t> Ints(const c10::IValue& v) {
  if (v.isInt()) return {v.toInt()};
  std::vector<std::int64_t> out;
  for (const auto& e : v.toTupleRef().elements()) out.push_back(e.toInt());
  return out;
}

torch::Tensor OptionalTensor(const Module& m, const std::string& name) {
  if (!m.hasattr(name)) return {};
  const c10::IValue v = m.attr(name);
  return v.isTensor() ? v.toTensor().detach().to(torch::kFloat).clone() : torch::Tensor();
}

// A Conv2d/Linear as read from the module: its step (sizes and geometry; the import sets the
// mapping) and its tensors.
struct WeightLayer {
  SequentialStep step;
  torch::Tensor weight, bias;
  std::string unsupported;  // why a crossbar cannot take it as it is (empty: it can)
};

WeightLayer ReadWeightLayer(const Leaf& leaf) {
  WeightLayer layer;
  layer.weight = OptionalTensor(leaf.module, "weight");
  layer.bias = OptionalTensor(leaf.module, "bias");
  Require(layer.weight.defined(), "submodule '{}' ({}) has no weight tensor", leaf.name,
          leaf.type);
  SequentialStep& w = layer.step;
  w.name = leaf.name;
  w.bias = layer.bias.defined();
  w.out = layer.weight.size(0);
  if (leaf.type == "Linear") {
    Require(layer.weight.dim() == 2, "submodule '{}' (Linear): weight of shape {}", leaf.name,
            c10::str(layer.weight.sizes()));
    w.type = "linear";
    w.in = layer.weight.size(1);
    return layer;
  }
  w.type = "conv2d";
  Require(leaf.module.hasattr("stride") && leaf.module.hasattr("padding"),
          "submodule '{}' (Conv2d) keeps no stride and padding, as in a module made by "
          "torch.jit.trace: save torch.jit.script(model) instead",
          leaf.name);
  Require(layer.weight.dim() == 4, "submodule '{}' (Conv2d): weight of shape {}", leaf.name,
          c10::str(layer.weight.sizes()));
  const Module& m = leaf.module;
  w.stride = Ints(m.attr("stride"));
  w.dilation = Ints(m.attr("dilation"));
  w.groups = m.attr("groups").toInt();
  w.in = layer.weight.size(1) * w.groups;
  w.kernel = {layer.weight.size(2), layer.weight.size(3)};
  const c10::IValue padding = m.attr("padding");
  const std::string mode = m.attr("padding_mode").toStringRef();
  if (padding.isString()) {
    // 'valid': none; 'same': dilation * (k - 1) / 2 on each side, where that is a whole number
    // (else PyTorch pads one more on one side, which no symmetric padding reproduces).
    w.padding = {0, 0};
    if (padding.toStringRef() == "same") {
      for (std::size_t d = 0; d < 2; ++d) {
        const std::int64_t total = w.dilation.at(d) * (layer.weight.size(2 + d) - 1);
        Require(total % 2 == 0,
                "submodule '{}' (Conv2d): padding='same' of an even kernel pads unequally; give "
                "the padding as numbers",
                leaf.name);
        w.padding[d] = total / 2;
      }
    }
  } else {
    w.padding = Ints(padding);
  }
  Require(mode == "zeros" || w.padding == std::vector<std::int64_t>{0, 0},
          "submodule '{}' (Conv2d): padding_mode '{}' is not supported (zeros only)", leaf.name,
          mode);
  std::vector<std::string> why;
  if (layer.weight.size(2) != layer.weight.size(3))
    why.push_back(fmt::format("a {}x{} kernel (square only)", layer.weight.size(2), layer.weight.size(3)));
  if (w.stride.size() != 2 || w.stride[0] != w.stride[1]) why.push_back("unequal strides");
  if (w.padding.size() != 2 || w.padding[0] != w.padding[1]) why.push_back("unequal padding");
  if (w.dilation != std::vector<std::int64_t>{1, 1}) why.push_back("dilation != 1");
  if (w.groups != 1) why.push_back(fmt::format("groups={}", w.groups));
  for (std::size_t i = 0; i < why.size(); ++i)
    layer.unsupported += (i ? ", " : "") + why[i];
  if (!layer.unsupported.empty()) layer.unsupported = "a crossbar layer takes no " + layer.unsupported;
  return layer;
}

torch::Tensor FloatProduct(const WeightLayer& w, const torch::Tensor& x) {
  return FloatStepProduct(w.step, x, w.weight, w.bias);
}

// Eval-mode BatchNorm as the module holds it.
struct NormStats {
  torch::Tensor weight, bias, mean, var;
  double eps = 1e-5;
  torch::Tensor operator()(const torch::Tensor& x) const {
    return F::batch_norm(x, mean, var, F::BatchNormFuncOptions().weight(weight).bias(bias).eps(eps));
  }
};

NormStats ReadNorm(const Leaf& leaf) {
  NormStats n;
  n.weight = OptionalTensor(leaf.module, "weight");
  n.bias = OptionalTensor(leaf.module, "bias");
  n.mean = OptionalTensor(leaf.module, "running_mean");
  n.var = OptionalTensor(leaf.module, "running_var");
  n.eps = leaf.module.attr("eps").toDouble();
  Require(n.mean.defined() && n.var.defined(),
          "submodule '{}' ({}) has no running statistics (track_running_stats=False): aimc "
          "evaluates with fixed statistics",
          leaf.name, leaf.type);
  const std::int64_t c = n.mean.size(0);
  if (!n.weight.defined()) n.weight = torch::ones({c});
  if (!n.bias.defined()) n.bias = torch::zeros({c});
  return n;
}

// What the import decides for one Conv2d/Linear before the network is built.
struct LayerPlan {
  WeightLayer layer;
  ImportedLayer info;
  bool first = false;  // takes the image
  bool crossbar = true;  // an AnalogLayer (ternary, or float for float_first_last) can take it
  // ImportOptions::refit: per output channel, the factor on the float weights that gives the
  // fitted scale (levels unchanged: TWN's threshold scales with the weights) and the bias shift.
  torch::Tensor gain, shift;
};

double Percentile(const torch::Tensor& x, double percentile) {
  const torch::Tensor flat = x.detach().reshape({-1}).to(torch::kFloat);
  const std::int64_t n = flat.numel();
  const auto k = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(n))), 1, n);
  return std::get<0>(flat.kthvalue(k)).item<double>();
}

// Picks the threshold ratio whose ternary product is closest to the float one on `xq`. With
// options.refit, each candidate's scale is first fitted by least squares to the float output
// (per output channel, or one for the layer) and the bias shifted by the mean error left: the
// fitted product is never farther from the float one, on these inputs, than the TWN scale's.
void ChooseRatio(LayerPlan& plan, const torch::Tensor& xq, const ImportOptions& options) {
  WeightLayer layer = plan.layer;
  layer.bias = torch::Tensor();
  const torch::Tensor y = FloatProduct(layer, xq);
  const std::int64_t out = y.size(1);
  std::vector<std::int64_t> dims = {0};  // every dimension but the channel's
  for (std::int64_t d = 2; d < y.dim(); ++d) dims.push_back(d);
  std::vector<std::int64_t> channel_shape(static_cast<std::size_t>(y.dim()), 1);
  channel_shape[1] = out;
  const double norm = y.norm().item<double>();
  double best = std::numeric_limits<double>::infinity();
  plan.info.weight_levels = options.weight_levels;
  const int max_level = MaxLevelOf(options.weight_levels);
  for (double r : options.threshold_ratios) {
    // K > 3 levels: one least-squares grid, whatever the ratio.
    if (max_level > 1 && r != options.threshold_ratios.front()) break;
    const TernaryWeights t = Ternarize(plan.layer.weight, options.per_channel, r, max_level);
    layer.weight = t.levels.to(torch::kFloat);
    const torch::Tensor unit = FloatProduct(layer, xq);  // the levels' product
    const torch::Tensor twn = t.scale.reshape({-1}).expand({out}).to(torch::kFloat);
    torch::Tensor scale = twn;
    torch::Tensor shift = torch::zeros({out});
    if (options.refit) {
      const torch::Tensor num = options.per_channel ? (y * unit).sum(dims) : (y * unit).sum().expand({out});
      const torch::Tensor den = options.per_channel ? (unit * unit).sum(dims) : (unit * unit).sum().expand({out});
      // A channel whose levels give no output, or whose best scale is not positive, keeps TWN's.
      const torch::Tensor fitted = num / den.clamp_min(1e-30);
      scale = torch::where((den > 0) & (fitted > 0), fitted, twn);
      shift = (y - unit * scale.view(channel_shape)).mean(dims);
    }
    const torch::Tensor yq = unit * scale.view(channel_shape) + shift.view(channel_shape);
    const double err = (yq - y).norm().item<double>();
    if (err < best) {
      best = err;
      plan.info.threshold_ratio = r;
      plan.info.relative_error = norm > 0.0 ? err / norm : 0.0;
      plan.gain = scale / twn;
      plan.shift = shift;
    }
  }
}

// An optional int or pair attribute of a pooling module (None: `fallback`).
std::vector<std::int64_t> PairAttr(const Leaf& leaf, const std::string& attr,
                                   const std::vector<std::int64_t>& fallback) {
  Require(leaf.module.hasattr(attr),
          "submodule '{}' ({}) keeps no {}, as in a module made by torch.jit.trace: save "
          "torch.jit.script(model) instead",
          leaf.name, leaf.type, attr);
  const c10::IValue v = leaf.module.attr(attr);
  if (v.isNone()) return fallback;
  std::vector<std::int64_t> out;
  if (v.isInt()) {
    out = {v.toInt(), v.toInt()};
  } else if (v.isTuple() || v.isList()) {
    const std::vector<c10::IValue> e =
        v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    for (const c10::IValue& x : e) {
      Require(x.isInt(), "submodule '{}' ({}): {} holds {}, expected whole numbers", leaf.name,
              leaf.type, attr, x.tagKind());
      out.push_back(x.toInt());
    }
    if (out.size() == 1) out.push_back(out[0]);
  }
  Require(out.size() == 2, "submodule '{}' ({}): {} is not one or two whole numbers", leaf.name,
          leaf.type, attr);
  return out;
}

template <typename T>
T Attr(const Leaf& leaf, const std::string& attr) {
  Require(leaf.module.hasattr(attr),
          "submodule '{}' ({}) keeps no {}, as in a module made by torch.jit.trace: save "
          "torch.jit.script(model) instead",
          leaf.name, leaf.type, attr);
  return leaf.module.attr(attr).to<T>();
}

// The step of a leaf without weights.
SequentialStep FunctionStep(const Leaf& leaf) {
  SequentialStep s;
  s.name = leaf.name;
  s.type = leaf.type;
  std::transform(s.type.begin(), s.type.end(), s.type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (leaf.type == "MaxPool2d" || leaf.type == "AvgPool2d") {
    s.kernel = PairAttr(leaf, "kernel_size", {});
    s.stride = PairAttr(leaf, "stride", s.kernel);
    s.padding = PairAttr(leaf, "padding", {0, 0});
    s.ceil_mode = Attr<bool>(leaf, "ceil_mode");
    if (leaf.type == "MaxPool2d") {
      s.dilation = PairAttr(leaf, "dilation", {1, 1});
      Require(!Attr<bool>(leaf, "return_indices"),
              "submodule '{}' (MaxPool2d): return_indices=True gives a tuple, not a tensor",
              leaf.name);
    } else {
      s.count_include_pad = Attr<bool>(leaf, "count_include_pad");
      Require(leaf.module.attr("divisor_override").isNone(),
              "submodule '{}' (AvgPool2d): divisor_override is not supported", leaf.name);
    }
  } else if (leaf.type == "AdaptiveAvgPool2d") {
    Require(leaf.module.hasattr("output_size"),
            "submodule '{}' (AdaptiveAvgPool2d) keeps no output_size: save "
            "torch.jit.script(model) instead",
            leaf.name);
    const c10::IValue v = leaf.module.attr("output_size");
    if (v.isTuple())
      for (const c10::IValue& x : v.toTupleRef().elements())
        Require(x.isInt(),
                "submodule '{}' (AdaptiveAvgPool2d): an output_size of None (keep the input's "
                "size) is not supported",
                leaf.name);
    s.output_size = PairAttr(leaf, "output_size", {});
  } else if (leaf.type == "Flatten") {
    const std::int64_t start = Attr<std::int64_t>(leaf, "start_dim");
    const std::int64_t end = Attr<std::int64_t>(leaf, "end_dim");
    Require(start == 1 && end == -1,
            "submodule '{}' (Flatten): start_dim={} end_dim={}; aimc flattens all but the batch "
            "dimension (start_dim=1, end_dim=-1)",
            leaf.name, start, end);
  } else if (leaf.type == "Dropout") {
    s.p = Attr<double>(leaf, "p");
  }
  return s;
}

Module Load(const std::filesystem::path& path) {
  Require(std::filesystem::is_regular_file(path), "{}: no such file", path.string());
  try {
    return torch::jit::load(path.string(), torch::kCPU);
  } catch (const c10::Error& e) {
    // The first line of torch's message says what is wrong; the rest is a C++ backtrace.
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    Fail("{}: not a TorchScript model ({})", path.string(), what);
  } catch (const std::exception& e) {
    std::string what = e.what();
    Fail("{}: not a TorchScript model ({})", path.string(), what.substr(0, what.find('\n')));
  }
}

}  // namespace

ImportResult ImportTorchScript(const std::filesystem::path& path, const ImportOptions& options,
                               const Dataset& calibration) {
  options.Validate();
  Require(calibration.size() > 0 && calibration.images.dim() == 4,
          "importing {}: no calibration images", path.string());
  Module module = Load(path);
  module.eval();
  const std::string top = TorchNnClass(module);
  Require(top == "Sequential",
          "{}: the module is {}, whose forward aimc cannot follow; aimc imports an "
          "nn.Sequential (nested ones allowed) of Conv2d, Linear, BatchNorm, ReLU, pooling, "
          "Flatten, Dropout and Identity (docs/byo.md)",
          path.string(), DescribeType(module));
  std::vector<Leaf> leaves;
  try {
    Flatten(module, "", leaves);
  } catch (const Error& e) {
    Fail("{}: {}", path.string(), e.what());
  }

  // Float pass over the calibration images: each weight layer's input, and whether it can be
  // negative (an analog layer's DACs take [0, alpha]: a ReLU's output, or the image).
  torch::NoGradGuard no_grad;
  const Dataset calib = calibration.Head(options.calibration_images);
  torch::Tensor x = ToInput(calib.images);
  bool non_negative = true;
  std::vector<LayerPlan> plans;
  std::int64_t classes = 0;
  try {
    for (const Leaf& leaf : leaves) {
      if (leaf.type == "Conv2d" || leaf.type == "Linear") {
        LayerPlan p;
        p.layer = ReadWeightLayer(leaf);
        p.first = plans.empty();
        p.info.name = leaf.name;
        p.info.kind = leaf.type;
        if (!p.layer.unsupported.empty()) {
          p.info.reason = p.layer.unsupported;
        } else if (!non_negative) {
          p.info.reason = "its input can be negative (no ReLU before it); an analog layer's "
                          "input is a ReLU's output";
        }
        p.crossbar = p.info.reason.empty();
        // The input range: the image's [0, 1], else the percentile (or the fixed alpha).
        double alpha = 1.0;
        if (!p.first) {
          alpha = options.input_alpha > 0.0 ? options.input_alpha
                                            : Percentile(x, options.input_percentile);
          if (!(alpha > 0.0)) alpha = 1.0;  // a dead input: any range
        }
        p.info.input_alpha = alpha;
        x = FloatProduct(p.layer, x);
        plans.push_back(std::move(p));
        non_negative = false;
        continue;
      }
      if (leaf.type == "BatchNorm2d" || leaf.type == "BatchNorm1d") {
        x = ReadNorm(leaf)(x);
        non_negative = false;
        continue;
      }
      Module m = leaf.module;
      m.eval();
      x = m.forward({x}).toTensor();
      if (leaf.type == "ReLU" || leaf.type == "ReLU6") non_negative = true;
    }
  } catch (const Error& e) {
    Fail("{}: {}", path.string(), e.what());
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    Fail("{}: the module does not run on images of {} channels, {}x{} ({})", path.string(),
         calibration.images.size(1), calibration.images.size(2), calibration.images.size(3),
         what.substr(0, what.find('\n')));
  }
  classes = x.dim() == 2 ? x.size(1) : 0;
  Require(!plans.empty(), "{}: no Conv2d or Linear layer to map", path.string());
  Require(x.dim() == 2, "{}: the module's output has shape {}, expected logits (N, classes)",
          path.string(), c10::str(x.sizes()));
  if (calibration.classes > 0)
    Require(classes == calibration.classes,
            "{}: the module gives {} outputs, the data '{}' has {} classes", path.string(),
            classes, calibration.name, calibration.classes);

  // Which layers go on arrays, and their threshold ratios: each mapped layer's ternary product
  // against its float product on its own (quantized) calibration inputs.
  x = ToInput(calib.images);
  std::size_t next = 0;
  for (const Leaf& leaf : leaves) {
    if (leaf.type == "Conv2d" || leaf.type == "Linear") {
      LayerPlan& p = plans[next];
      const bool edge = next == 0 || next + 1 == plans.size();
      if (p.info.reason.empty() && options.float_first_last && edge)
        p.info.reason = "first or last layer, kept float (float_first_last)";
      p.info.analog = p.info.reason.empty();
      if (p.info.analog) {
        const int bits = p.first && options.act_bits > 0 ? 8 : options.act_bits;
        const torch::Tensor xq =
            PactQuantizeEval(x, torch::full({1}, p.info.input_alpha), bits);
        ChooseRatio(p, xq, options);
      }
      x = FloatProduct(p.layer, x);
      ++next;
    } else if (leaf.type == "BatchNorm2d" || leaf.type == "BatchNorm1d") {
      x = ReadNorm(leaf)(x);
    } else {
      Module m = leaf.module;
      x = m.forward({x}).toTensor();
    }
  }

  // The network: one step per leaf, the plans' decisions in the weight layers' steps.
  NetworkOptions no;
  no.arch = "sequential";
  no.in_channels = calibration.images.size(1);
  no.image_size = calibration.images.size(2);
  no.classes = classes;
  no.ternary = true;
  no.act_bits = options.act_bits;
  no.per_channel = options.per_channel;
  no.threshold_ratio = options.threshold_ratios.front();
  no.float_first_last = options.float_first_last;
  no.weight_levels = options.weight_levels;
  next = 0;
  for (const Leaf& leaf : leaves) {
    if (leaf.type != "Conv2d" && leaf.type != "Linear") {
      if (leaf.type == "BatchNorm2d" || leaf.type == "BatchNorm1d") {
        SequentialStep s;
        s.name = leaf.name;
        s.type = leaf.type == "BatchNorm2d" ? "batchnorm2d" : "batchnorm1d";
        const NormStats n = ReadNorm(leaf);
        s.out = n.mean.size(0);
        s.eps = n.eps;
        // momentum None (a cumulative average) matters only for fine-tuning: PyTorch's default.
        const c10::IValue m = leaf.module.attr("momentum");
        s.momentum = m.isNone() ? 0.1 : m.toDouble();
        no.steps.push_back(s);
      } else if (leaf.type != "Identity") {
        try {
          no.steps.push_back(FunctionStep(leaf));
        } catch (const Error& e) {
          Fail("{}: {}", path.string(), e.what());
        }
      }
      continue;
    }
    const LayerPlan& p = plans[next++];
    SequentialStep s = p.layer.step;
    s.bias = s.bias || p.shift.defined();
    s.mapping = p.info.analog ? "ternary" : p.crossbar ? "float" : "digital";
    s.reason = p.info.reason;
    s.threshold_ratio = p.info.analog ? p.info.threshold_ratio : no.threshold_ratio;
    s.weight_levels = p.info.analog ? options.weight_levels : 3;
    s.input_alpha = p.info.input_alpha;
    s.input_bits = p.first && options.act_bits > 0 ? 8 : options.act_bits;
    no.steps.push_back(s);
  }
  try {
    no.Validate();
  } catch (const Error& e) {
    Fail("{}: {}", path.string(), e.what());
  }
  Network net = MakeNetwork(no, 1);

  // The module's weights and statistics into the network's, by name.
  auto params = net->named_parameters(true);
  auto buffers = net->named_buffers(true);
  auto set = [&](const std::string& key, const torch::Tensor& value) {
    torch::Tensor* target = params.find(key);
    if (target == nullptr) target = buffers.find(key);
    Require(target != nullptr && target->sizes() == value.sizes(),
            "{}: cannot place {} of shape {}", path.string(), key, c10::str(value.sizes()));
    target->copy_(value);
  };
  next = 0;
  for (const Leaf& leaf : leaves) {
    SequentialStep named;
    named.name = leaf.name;
    const std::string prefix = StepModuleName(named) + ".";
    if (leaf.type == "Conv2d" || leaf.type == "Linear") {
      const LayerPlan& p = plans[next++];
      torch::Tensor weight = p.layer.weight, bias = p.layer.bias;
      if (p.gain.defined()) {
        std::vector<std::int64_t> shape(static_cast<std::size_t>(weight.dim()), 1);
        shape[0] = weight.size(0);
        weight = weight * p.gain.view(shape);
        bias = (bias.defined() ? bias : torch::zeros({weight.size(0)})) + p.shift;
      }
      set(prefix + "weight", weight);
      if (bias.defined()) set(prefix + "bias", bias);
    } else if (leaf.type == "BatchNorm2d" || leaf.type == "BatchNorm1d") {
      const NormStats n = ReadNorm(leaf);
      set(prefix + "weight", n.weight);
      set(prefix + "bias", n.bias);
      set(prefix + "running_mean", n.mean);
      set(prefix + "running_var", n.var);
    }
  }
  net->eval();
  ImportResult result;
  result.network = net;
  for (const LayerPlan& p : plans) result.layers.push_back(p.info);
  return result;
}

ImportedModel ImportAsModel(const std::filesystem::path& path, const ImportOptions& options,
                            const std::string& dataset, const std::filesystem::path& data_dir,
                            const DataSplit& data, std::int64_t test_images) {
  ImportedModel m;
  m.info.training.dataset = dataset;
  m.info.training.data_dir = data_dir;
  // The model is the TorchScript file's weights, quantized: a copy of it (0 epochs).
  m.info.training.init_from = path;
  m.info.training.epochs = 0;
  m.info.training.Validate();
  m.import = ImportTorchScript(path, options, data.train);
  m.info.training.init_from_hash = HashFile(path);
  m.info.network = m.import.network->options();
  EpochStats stats;
  stats.test_accuracy = Evaluate(*m.import.network, data.test.Head(test_images));
  m.info.history.push_back(stats);
  return m;
}

}  // namespace aimc::nn
