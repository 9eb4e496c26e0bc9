#include "aimc/nn/torchscript.h"

#include "aimc/nn/analog_op.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/quant.h"
#include "aimc/nn/weight_levels.h"
#include "script_network.h"
#include "sequential.h"

namespace aimc::nn {
namespace F = torch::nn::functional;

const FieldTable<ImportOptions>& ImportOptionsFields() {
  static const FieldTable<ImportOptions> table = [] {
    using O = ImportOptions;
    FieldTable<O> t;
    t.Integer<int>("act_bits", "", "bits of every analog layer's input (0: float)",
                   [](O& o) -> int& { return o.act_bits; }, range::Between(0, 16, " (0: float)"));
    t.Double("input_percentile", "%",
             "percentile of a layer's calibration inputs that sets its input range",
             [](O& o) -> double& { return o.input_percentile; },
             range::Within(0, 100, "in (0, 100]"));
    t.Double("input_alpha", "", "a fixed input range of every layer but the first (0: calibrated)",
             [](O& o) -> double& { return o.input_alpha; },
             range::AtLeast(0, " (0: from the calibration images)"));
    t.Bool("per_channel", "ternary scale per output channel",
           [](O& o) -> bool& { return o.per_channel; });
    t.Doubles("threshold_ratios", "", "TWN threshold ratios tried per layer",
              [](O& o) -> std::vector<double>& { return o.threshold_ratios; },
              range::All({range::AtLeast(0), range::Below(10)}));
    t.Bool("float_first_last", "keep the first and last weight layer float and digital",
           [](O& o) -> bool& { return o.float_first_last; });
    // Written when off only: the manifests of imports without negative inputs keep their bytes.
    t.Bool("signed_inputs", "layers whose input can be negative on arrays with a signed DAC",
           [](O& o) -> bool& { return o.signed_inputs; })
        .OmitWhenDefault();
    t.Integer<std::int64_t>("calibration_images", "", "training images that calibrate the import",
                            [](O& o) -> std::int64_t& { return o.calibration_images; },
                            range::AtLeast(1));
    t.Bool("refit", "scales fitted to the float output and bias correction (false: TWN's)",
           [](O& o) -> bool& { return o.refit; });
    t.Integer<int>("weight_levels", "", "weight levels on arrays (3: ternary; odd)",
                   [](O& o) -> int& { return o.weight_levels; }, WeightLevelsRule())
        .OmitWhenDefault();
    // "auto" is the default: imports made before the module form keep their manifests.
    t.String("execution",
             "auto (aimc's steps where it knows every operation, else the module as it is), "
             "steps or module",
             [](O& o) -> std::string& { return o.execution; },
             [](const nlohmann::json& v) {
               const std::string e = v.get<std::string>();
               return e == "auto" || e == "steps" || e == "module"
                          ? std::string()
                          : std::string("must be auto, steps or module");
             })
        .OmitWhenDefault();
    return t;
  }();
  return table;
}

void ImportOptions::Validate() const {
  // input_percentile 0 would clip every input to nothing.
  Require(input_percentile > 0.0, "import input_percentile must be in (0, 100], got {}",
          input_percentile);
  ImportOptionsFields().Validate(*this, "import ");
}

nlohmann::json ImportOptions::ToJson() const { return ImportOptionsFields().ToJson(*this); }

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

// Why a module cannot be translated into aimc's steps: it then runs as it is (execution auto).
struct NotTranslatable {
  std::string message;
};

// A leaf of the flattened Sequential, in forward order.
struct Leaf {
  std::string name;  // its path, "0", "features.3"
  std::string type;  // torch.nn class name
  Module module;
};

std::vector<std::int64_t> Ints(const c10::IValue& v) {
  if (v.isInt()) return {v.toInt()};
  if (v.isIntList()) return v.toIntVector();
  std::vector<std::int64_t> out;
  for (const auto& e : v.toTupleRef().elements()) out.push_back(e.toInt());
  return out;
}

torch::Tensor OptionalTensor(const Module& m, const std::string& name) {
  if (!m.hasattr(name)) return {};
  const c10::IValue v = m.attr(name);
  return v.isTensor() ? v.toTensor().detach().to(torch::kFloat).clone() : torch::Tensor();
}

// Where a module made by torch.jit.trace keeps what its scripted form holds as attributes: an
// argument of the one operation its forward runs (the tracer baked the attributes in as
// constants). Per torch.nn type and attribute: the operations (any of) and the argument.
struct TracedArg {
  const char* type;
  const char* attr;
  std::vector<c10::Symbol> ops;
  std::size_t input;
};
const std::vector<TracedArg>& TracedArgs() {
  using namespace c10;
  static const std::vector<TracedArg> args = {
      {"Conv2d", "stride", {aten::_convolution, aten::conv2d}, 3},
      {"Conv2d", "padding", {aten::_convolution, aten::conv2d}, 4},
      {"Conv2d", "dilation", {aten::_convolution, aten::conv2d}, 5},
      {"Conv2d", "groups", {aten::_convolution}, 8},
      {"Conv2d", "groups", {aten::conv2d}, 6},
      {"MaxPool2d", "kernel_size", {aten::max_pool2d}, 1},
      {"MaxPool2d", "stride", {aten::max_pool2d}, 2},
      {"MaxPool2d", "padding", {aten::max_pool2d}, 3},
      {"MaxPool2d", "dilation", {aten::max_pool2d}, 4},
      {"MaxPool2d", "ceil_mode", {aten::max_pool2d}, 5},
      {"AvgPool2d", "kernel_size", {aten::avg_pool2d}, 1},
      {"AvgPool2d", "stride", {aten::avg_pool2d}, 2},
      {"AvgPool2d", "padding", {aten::avg_pool2d}, 3},
      {"AvgPool2d", "ceil_mode", {aten::avg_pool2d}, 4},
      {"AvgPool2d", "count_include_pad", {aten::avg_pool2d}, 5},
      {"AvgPool2d", "divisor_override", {aten::avg_pool2d}, 6},
      {"AdaptiveAvgPool2d", "output_size", {aten::adaptive_avg_pool2d}, 1},
      {"Flatten", "start_dim", {aten::flatten}, 1},
      {"Flatten", "end_dim", {aten::flatten}, 2},
      {"Dropout", "p", {aten::dropout, aten::feature_dropout}, 1},
      {"BatchNorm2d", "momentum", {aten::batch_norm}, 6},
      {"BatchNorm2d", "eps", {aten::batch_norm}, 7},
      {"BatchNorm1d", "momentum", {aten::batch_norm}, 6},
      {"BatchNorm1d", "eps", {aten::batch_norm}, 7},
  };
  return args;
}

// A constant of a traced graph: a prim::Constant, or a list built of them.
std::optional<c10::IValue> ConstantOf(const torch::jit::Value* v) {
  if (auto c = torch::jit::toIValue(v)) return c;
  const torch::jit::Node* n = v->node();
  if (n->kind() != c10::prim::ListConstruct) return std::nullopt;
  c10::List<std::int64_t> list;
  for (const torch::jit::Value* e : n->inputs()) {
    const auto c = torch::jit::toIValue(e);
    if (!c || !c->isInt()) return std::nullopt;
    list.push_back(c->toInt());
  }
  return c10::IValue(list);
}

// A module's attribute, or, where a traced module lost it, the constant its forward's operation
// was traced with (TracedArgs); none when neither is there.
std::optional<c10::IValue> AttrOrTraced(const Module& m, const std::string& type,
                                        const std::string& attr) {
  if (m.hasattr(attr)) return m.attr(attr);
  const auto forward = m.find_method("forward");
  if (!forward) return std::nullopt;
  for (const TracedArg& a : TracedArgs()) {
    if (type != a.type || attr != a.attr) continue;
    for (const torch::jit::Node* n : forward->graph()->nodes())
      if (std::find(a.ops.begin(), a.ops.end(), n->kind()) != a.ops.end() &&
          n->inputs().size() > a.input)
        return ConstantOf(n->input(a.input));
  }
  return std::nullopt;
}

// Whether a traced module's forward pads by itself (a padding_mode other than zeros).
bool TracedPadding(const Module& m) {
  const auto forward = m.find_method("forward");
  if (!forward) return false;
  for (const torch::jit::Node* n : forward->graph()->nodes()) {
    const std::string op = n->kind().toQualString();
    if (op.find("pad") != std::string::npos) return true;
  }
  return false;
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
  Require(layer.weight.dim() == 4, "submodule '{}' (Conv2d): weight of shape {}", leaf.name,
          c10::str(layer.weight.sizes()));
  const Module& m = leaf.module;
  // A scripted Conv2d keeps these as attributes; a traced one in its forward's convolution.
  const auto attr = [&](const char* name) {
    const auto v = AttrOrTraced(m, "Conv2d", name);
    Require(v.has_value(),
            "submodule '{}' (Conv2d) keeps no {}, neither as an attribute nor in a traced "
            "convolution: save torch.jit.script(model) instead",
            leaf.name, name);
    return *v;
  };
  w.stride = Ints(attr("stride"));
  w.dilation = Ints(attr("dilation"));
  w.groups = attr("groups").toInt();
  w.in = layer.weight.size(1) * w.groups;
  w.kernel = {layer.weight.size(2), layer.weight.size(3)};
  const c10::IValue padding = attr("padding");
  const std::string mode = m.hasattr("padding_mode") ? m.attr("padding_mode").toStringRef()
                           : TracedPadding(m)        ? "other than zeros (traced)"
                                                     : "zeros";
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
  // Any kernel shape, stride, padding, dilation and groups goes on arrays (rows in * kh * kw,
  // the groups on diagonal blocks).
  std::vector<std::string> why;
  if (w.stride.size() != 2 || w.padding.size() != 2 || w.dilation.size() != 2)
    why.push_back("a stride, padding or dilation that is not a pair");
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
  const auto eps = AttrOrTraced(leaf.module, leaf.type, "eps");
  Require(eps.has_value(), "submodule '{}' ({}) keeps no eps", leaf.name, leaf.type);
  n.eps = eps->toDouble();
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
  bool signed_input = false;  // its input can be negative: a signed DAC
  bool crossbar = true;  // an AnalogLayer (ternary, or float for float_first_last) can take it
  // ImportOptions::refit: per output channel, the factor on the float weights that gives the
  // fitted scale (levels unchanged: TWN's threshold scales with the weights) and the bias shift.
  torch::Tensor gain, shift;
  // A layer of Python's aimc.analog (aimc::analog_layer): mapped by its converter, taken as it is.
  std::optional<AnalogLayerOptions> mapped;
};

// A layer whose input can be negative: on a signed DAC where signed inputs are on and have a
// sign bit beside magnitude, else digital, saying why.
void PlanNegativeInput(LayerPlan& p, const ImportOptions& options) {
  if (options.signed_inputs && options.act_bits != 1)
    p.signed_input = true;
  else
    p.info.reason =
        "its input can be negative (no ReLU before it), and signed inputs are off or have 1 bit";
}

// The imported network's options, before its steps: what the import options and the
// calibration images say.
NetworkOptions ImportedOptions(const std::string& arch, const torch::Tensor& images,
                               std::int64_t classes, const ImportOptions& options) {
  NetworkOptions no;
  no.arch = arch;
  no.in_channels = images.size(1);
  no.image_size = images.size(2);
  no.classes = classes;
  no.ternary = true;
  no.act_bits = options.act_bits;
  no.per_channel = options.per_channel;
  no.threshold_ratio = options.threshold_ratios.front();
  no.float_first_last = options.float_first_last;
  no.weight_levels = options.weight_levels;
  return no;
}

// A weight layer's step with the plan's decisions (mapping, ratio, input range and bits).
SequentialStep PlannedStep(const LayerPlan& p, const ImportOptions& options) {
  SequentialStep s = p.layer.step;
  if (p.mapped) {
    // The converter's mapping (the step ReadAnalogCall made), with this import's verdict.
    if (!p.crossbar) s.mapping = "digital";
    s.reason = p.info.reason;
    return s;
  }
  s.bias = s.bias || p.shift.defined();
  s.mapping = p.info.analog ? "ternary" : p.crossbar ? "float" : "digital";
  s.reason = p.info.reason;
  s.threshold_ratio = p.info.analog ? p.info.threshold_ratio : options.threshold_ratios.front();
  s.weight_levels = p.info.analog ? options.weight_levels : 3;
  s.input_alpha = p.info.input_alpha > 0.0 ? p.info.input_alpha : 1.0;  // 0: never calibrated
  s.input_bits = p.first && options.act_bits > 0 ? 8 : options.act_bits;
  s.signed_input = p.crossbar && p.signed_input;
  return s;
}

// The weight and bias a layer's step gets: the module's, with the refit's gain and shift.
std::pair<torch::Tensor, torch::Tensor> PlannedWeights(const LayerPlan& p) {
  torch::Tensor weight = p.layer.weight, bias = p.layer.bias;
  if (p.gain.defined()) {
    std::vector<std::int64_t> shape(static_cast<std::size_t>(weight.dim()), 1);
    shape[0] = weight.size(0);
    weight = weight * p.gain.view(shape);
    bias = (bias.defined() ? bias : torch::zeros({weight.size(0)})) + p.shift;
  }
  return {weight, bias};
}

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
  const bool one_candidate = max_level > 1 || IsContinuous(options.weight_levels);
  for (double r : options.threshold_ratios) {
    // K > 3 levels: one least-squares grid, whatever the ratio; continuous weights: as they are.
    if (one_candidate && r != options.threshold_ratios.front()) break;
    const TernaryWeights t =
        QuantizeWeights(plan.layer.weight, options.per_channel, r, options.weight_levels);
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
      // An all-zero channel (a zero-initialized classifier) has TWN scale 0 and keeps it.
      plan.gain = torch::where(twn > 0, scale / twn.clamp_min(1e-30), torch::ones_like(twn));
      plan.shift = shift;
    }
  }
}

// An optional int or pair attribute of a pooling module (None: `fallback`).
std::vector<std::int64_t> PairAttr(const Leaf& leaf, const std::string& attr,
                                   const std::vector<std::int64_t>& fallback) {
  const auto found = AttrOrTraced(leaf.module, leaf.type, attr);
  Require(found.has_value(),
          "submodule '{}' ({}) keeps no {}, neither as an attribute nor in a traced operation: "
          "save torch.jit.script(model) instead",
          leaf.name, leaf.type, attr);
  const c10::IValue v = *found;
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
  const auto found = AttrOrTraced(leaf.module, leaf.type, attr);
  Require(found.has_value(),
          "submodule '{}' ({}) keeps no {}, neither as an attribute nor in a traced operation: "
          "save torch.jit.script(model) instead",
          leaf.name, leaf.type, attr);
  return found->to<T>();
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
      // A traced one has it only through its operation: max_pool2d found above, not the one
      // with indices.
      Require(!leaf.module.hasattr("return_indices") || !Attr<bool>(leaf, "return_indices"),
              "submodule '{}' (MaxPool2d): return_indices=True gives a tuple, not a tensor",
              leaf.name);
    } else {
      s.count_include_pad = Attr<bool>(leaf, "count_include_pad");
      Require(Attr<c10::IValue>(leaf, "divisor_override").isNone(),
              "submodule '{}' (AvgPool2d): divisor_override is not supported", leaf.name);
    }
  } else if (leaf.type == "AdaptiveAvgPool2d") {
    const c10::IValue v = Attr<c10::IValue>(leaf, "output_size");
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

// ---- The module's graph --------------------------------------------------------------------

// A node of the imported module in the order its forward runs: a submodule of a torch.nn type
// aimc knows (`leaf`), or a functional step (relu, add, flatten, pooling...: `step`), and the
// nodes whose outputs it takes (-1: the image).
struct GraphNode {
  Leaf leaf;            // leaf.type empty: a functional node
  SequentialStep step;  // functional nodes
  std::vector<std::int64_t> inputs;
  bool functional() const { return leaf.type.empty(); }
};

const std::vector<std::string> kLeafTypes = {
    "Conv2d",    "Linear",    "BatchNorm2d",       "BatchNorm1d", "ReLU",    "ReLU6",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Flatten",     "Dropout", "Identity"};

// Follows a module's forward through its TorchScript graphs (a user's modules, Sequentials,
// calls of other methods) down to the torch.nn leaves and the functional operations between
// them. What the graph does must not depend on the input (no if or loop left after scripting):
// aimc builds a fixed graph of steps from it.
class GraphWalker {
 public:
  std::vector<GraphNode> nodes;

  // Runs `method` of module `m` (at `path`) on the nodes `args`; returns its result's node.
  std::int64_t Walk(const Module& m, const std::string& path, const std::string& method,
                    const std::vector<std::int64_t>& args) {
    const std::string type = TorchNnClass(m);
    const std::string where = path.empty() ? "the module" : fmt::format("submodule '{}'", path);
    if (method == "forward" && type == "Sequential") {
      Require(args.size() == 1, "{} (Sequential) takes one input, gets {}", where, args.size());
      std::int64_t x = args[0];
      for (const auto& child : m.named_children())
        x = Walk(child.value, Join(path, child.name), "forward", {x});
      return x;
    }
    if (method == "forward" &&
        std::find(kLeafTypes.begin(), kLeafTypes.end(), type) != kLeafTypes.end()) {
      Require(args.size() == 1, "{} ({}) takes one input, gets {}", where, type, args.size());
      nodes.push_back({Leaf{path, type, m}, {}, {args[0]}});
      return Last();
    }
    Require(type.empty(),
            "{} is {}: aimc imports Conv2d, Linear, BatchNorm2d, BatchNorm1d, ReLU, ReLU6, "
            "MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Dropout and Identity, and "
            "modules whose forward combines them (docs/byo.md)",
            where, DescribeType(m));
    const auto found = m.find_method(method);
    Require(found.has_value(), "{} ({}) has no method '{}'", where, DescribeType(m), method);
    return WalkGraph(*found->graph(), m, path, args,
                     fmt::format("{} ({}), {}()", where, DescribeType(m), method));
  }

 private:
  // What a value of the graph is to the walker.
  struct Ref {
    enum class Kind { kNode, kModule, kConstant, kFunction, kSize, kList } kind = Kind::kConstant;
    std::int64_t node = -1;        // kNode; kSize: the node whose size it is
    std::int64_t dim = 0;          // kSize
    Module module;                 // kModule
    std::string path;              // kModule
    c10::IValue value;             // kConstant
    std::string function;          // kFunction
    std::vector<Ref> items;        // kList
  };

  static std::string Join(const std::string& path, const std::string& name) {
    return path.empty() ? name : path + "." + name;
  }
  std::int64_t Last() const { return static_cast<std::int64_t>(nodes.size()) - 1; }

  std::int64_t AddStep(SequentialStep step, std::vector<std::int64_t> inputs) {
    nodes.push_back({Leaf{}, std::move(step), std::move(inputs)});
    return Last();
  }

  std::int64_t WalkGraph(const torch::jit::Graph& graph, const Module& self,
                         const std::string& path, const std::vector<std::int64_t>& args,
                         const std::string& where) {
    std::unordered_map<const torch::jit::Value*, Ref> env;
    const auto inputs = graph.inputs();
    Require(inputs.size() == args.size() + 1, "{} takes {} inputs, gets {}", where,
            inputs.size() - 1, args.size());
    Ref me;
    me.kind = Ref::Kind::kModule;
    me.module = self;
    me.path = path;
    env[inputs[0]] = me;
    for (std::size_t i = 0; i < args.size(); ++i) env[inputs[i + 1]] = NodeRef(args[i]);
    // First, what no graph of steps can be: the input decides what runs.
    for (const torch::jit::Node* n : graph.nodes())
      Require(n->kind() != c10::prim::If && n->kind() != c10::prim::Loop,
              "{}: an if or a loop that depends on the input; aimc imports a forward that runs "
              "the same operations for every input",
              where);
    int count = 0;
    for (const torch::jit::Node* n : graph.nodes()) {
      const std::string op = n->kind().toQualString();
      const std::string name = fmt::format("{}:{}{}", path.empty() ? "forward" : path,
                                           n->kind().toUnqualString(), count++);
      const auto in = [&](std::size_t i) -> const Ref& {
        const auto it = env.find(n->input(i));
        Require(it != env.end(), "{}: {} reads a value aimc did not follow", where, op);
        return it->second;
      };
      const auto node = [&](std::size_t i) {
        const Ref& r = in(i);
        // A list of tensors (torch.cat, torch.stack) is an operation the steps lack, not a
        // parameter misused.
        Require(r.kind == Ref::Kind::kNode || n->input(i)->node()->kind() != c10::prim::ListConstruct,
                "{}: {} of a list of activations, which aimc's steps do not have", where, op);
        Require(r.kind == Ref::Kind::kNode, "{}: {} takes a tensor that is not an activation "
                "(a parameter or a constant used outside a Conv2d/Linear/BatchNorm)", where, op);
        return r.node;
      };
      const auto constant = [&](std::size_t i) -> const c10::IValue& {
        const Ref& r = in(i);
        Require(r.kind == Ref::Kind::kConstant, "{}: argument {} of {} is computed, not a "
                "constant", where, i, op);
        return r.value;
      };
      const auto ints = [&](std::size_t i) {
        const Ref& r = in(i);
        std::vector<std::int64_t> out;
        if (r.kind == Ref::Kind::kList) {
          for (const Ref& e : r.items) {
            Require(e.kind == Ref::Kind::kConstant && e.value.isInt(),
                    "{}: argument {} of {} is not a list of whole numbers", where, i, op);
            out.push_back(e.value.toInt());
          }
        } else {
          const c10::IValue& v = constant(i);
          if (v.isNone()) return out;  // a default (stride None: the kernel)
          if (v.isInt()) {
            out = {v.toInt()};
          } else {
            Require(v.isIntList(), "{}: argument {} of {} is not whole numbers", where, i, op);
            out = v.toIntVector();
          }
        }
        if (out.size() == 1) out.push_back(out[0]);
        return out;
      };
      // An in-place operation on a tensor that is read again later: the later read would see
      // the new value, which a graph of steps does not model.
      const auto not_read_after = [&](std::size_t i) {
        for (const torch::jit::Use& u : n->input(i)->uses())
          Require(!u.user->isAfter(n), "{}: {} changes a tensor in place that is read again "
                  "after it", where, op);
      };
      const auto step = [&](const std::string& type) {
        SequentialStep s;
        s.type = type;
        s.name = name;
        return s;
      };
      const auto set = [&](Ref r) { env[n->output()] = std::move(r); };
      const auto kind = n->kind();
      if (kind == c10::prim::Constant) {
        Ref r;
        if (n->output()->type()->kind() == c10::TypeKind::FunctionType) {
          r.kind = Ref::Kind::kFunction;
          r.function = n->output()->type()->expectRef<c10::FunctionType>().function()->name();
        } else {
          const auto v = torch::jit::toIValue(n->output());
          Require(v.has_value(), "{}: a constant aimc cannot read", where);
          r.value = *v;
        }
        set(r);
      } else if (kind == c10::prim::GetAttr) {
        const Ref& base = in(0);
        Require(base.kind == Ref::Kind::kModule, "{}: reads an attribute of a non-module", where);
        const std::string attr = n->s(c10::attr::name);
        const c10::IValue v = base.module.attr(attr);
        Ref r;
        if (v.isModule()) {
          r.kind = Ref::Kind::kModule;
          r.module = v.toModule();
          r.path = Join(base.path, attr);
        } else if (attr == "training") {
          r.value = false;  // imported for inference
        } else {
          r.value = v;
        }
        set(r);
      } else if (kind == c10::prim::CallMethod) {
        const Ref& target = in(0);
        Require(target.kind == Ref::Kind::kModule, "{}: calls a method of a non-module", where);
        std::vector<std::int64_t> call_args;
        for (std::size_t i = 1; i < n->inputs().size(); ++i) call_args.push_back(node(i));
        set(NodeRef(Walk(target.module, target.path, n->s(c10::attr::name), call_args)));
      } else if (kind == c10::prim::ListConstruct) {
        Ref r;
        r.kind = Ref::Kind::kList;
        for (std::size_t i = 0; i < n->inputs().size(); ++i) r.items.push_back(in(i));
        set(r);
      } else if (kind == c10::aten::size) {
        Ref r;
        r.kind = Ref::Kind::kSize;
        r.node = node(0);
        r.dim = constant(1).toInt();
        set(r);
      } else {
        // An operator (aten::relu(x), arguments from 0) or a torch.nn.functional call scripted
        // as a function (prim::CallFunction(relu, x), arguments from 1): one table of both.
        std::size_t b = 0;
        std::string f = n->kind().toUnqualString();
        if (kind == c10::prim::CallFunction) {
          const Ref& fn = in(0);
          Require(fn.kind == Ref::Kind::kFunction, "{}: calls a function aimc cannot name", where);
          f = fn.function;
          b = 1;
        } else {
          Require(n->kind().is_aten(),
                  "{}: uses {}, which aimc does not import (docs/byo.md lists what it does)",
                  where, op);
        }
        // In-place variants (relu_, add_) are the operation on a tensor not read again.
        if (f.size() > 1 && f.back() == '_' && f.front() != '_') {
          not_read_after(b);
          f.pop_back();
        }
        if (f == "_max_pool2d") f = "max_pool2d";
        SequentialStep st = step(f);
        std::vector<std::int64_t> inputs = {node(b)};
        if (f == "relu") {
        } else if (f == "relu6" || f == "hardtanh") {
          Require(f == "relu6" ||
                      (constant(b + 1).toDouble() == 0.0 && constant(b + 2).toDouble() == 6.0),
                  "{}: hardtanh other than ReLU6 (0, 6)", where);
          st.type = "relu6";
        } else if (f == "add" && b == 0) {
          const c10::IValue& alpha = constant(2);
          Require(alpha.isInt() ? alpha.toInt() == 1 : alpha.toDouble() == 1.0,
                  "{}: {} with alpha != 1", where, op);
          inputs.push_back(node(1));
        } else if (f == "flatten" && b == 0) {
          Require(constant(1).toInt() == 1 && constant(2).toInt() == -1,
                  "{}: flatten from dimension {} to {}; aimc flattens all but the batch (1, -1)",
                  where, constant(1).toInt(), constant(2).toInt());
        } else if ((f == "view" || f == "reshape") && b == 0) {
          // x.view(x.size(0), -1): a flatten.
          const Ref& shape = in(1);
          const bool flatten =
              shape.kind == Ref::Kind::kList && shape.items.size() == 2 &&
              shape.items[0].kind == Ref::Kind::kSize && shape.items[0].node == inputs[0] &&
              shape.items[0].dim == 0 && shape.items[1].kind == Ref::Kind::kConstant &&
              shape.items[1].value.isInt() && shape.items[1].value.toInt() == -1;
          Require(flatten, "{}: {} other than x.{}(x.size(0), -1), a flatten", where, op, f);
          st.type = "flatten";
        } else if (f == "mean" && b == 0) {
          // x.mean((2, 3)): global average pooling, then flatten.
          Require(ints(1) == std::vector<std::int64_t>{2, 3} && !constant(2).toBool(),
                  "{}: a mean other than over dimensions (2, 3) without keepdim", where);
          SequentialStep pool = step("adaptiveavgpool2d");
          pool.output_size = {1, 1};
          inputs = {AddStep(pool, inputs)};
          st.type = "flatten";
        } else if (f == "adaptive_avg_pool2d") {
          st.type = "adaptiveavgpool2d";
          st.output_size = ints(b + 1);
        } else if (f == "max_pool2d" || f == "avg_pool2d") {
          // (x, kernel, stride ([] or None: the kernel), padding, then dilation and ceil_mode
          // (max) or ceil_mode, count_include_pad and divisor_override (avg)).
          const bool max = f == "max_pool2d";
          st.type = max ? "maxpool2d" : "avgpool2d";
          st.kernel = ints(b + 1);
          st.stride = ints(b + 2);
          if (st.stride.empty()) st.stride = st.kernel;
          st.padding = ints(b + 3);
          if (max) {
            st.dilation = ints(b + 4);
            st.ceil_mode = constant(b + 5).toBool();
            // The functional form's return_indices (the operator has none).
            Require(n->inputs().size() <= b + 6 || !constant(b + 6).toBool(),
                    "{}: max_pool2d with return_indices", where);
          } else {
            st.ceil_mode = constant(b + 4).toBool();
            st.count_include_pad = constant(b + 5).toBool();
            Require(constant(b + 6).isNone(), "{}: avg_pool2d with divisor_override", where);
          }
        } else if (f == "dropout") {
          st.p = constant(b + 1).toDouble();
        } else {
          Fail("{}: {}, which aimc does not import (docs/byo.md lists what it does)", where,
               b == 1 ? "calls torch.nn.functional." + f : "uses " + op);
        }
        set(NodeRef(AddStep(st, inputs)));
      }
    }
    const auto outputs = graph.outputs();
    Require(outputs.size() == 1, "{} returns {} values, expected one tensor", where,
            outputs.size());
    const auto it = env.find(outputs[0]);
    Require(it != env.end() && it->second.kind == Ref::Kind::kNode,
            "{} returns something other than an activation", where);
    return it->second.node;
  }

  static Ref NodeRef(std::int64_t node) {
    Ref r;
    r.kind = Ref::Kind::kNode;
    r.node = node;
    return r;
  }
};

// LibTorch's reason for refusing an archive, as a sentence about the file: its first line (the
// rest is a backtrace), and, where LibTorch's own consistency check failed on the archive's code
// ("INTERNAL ASSERT FAILED ... please report a bug"), what that means for the user.
std::string LoadFailure(const std::string& what) {
  const std::string first = what.substr(0, what.find('\n'));
  if (first.find("INTERNAL ASSERT FAILED") != std::string::npos ||
      first.find("please report a bug") != std::string::npos)
    return "the archive's TorchScript code is damaged: LibTorch cannot parse it; save the module "
           "again with torch.jit.save";
  return first;
}

// The module's numbers, before anything is computed from them: a NaN or inf weight, or a
// BatchNorm variance below 0, imported and tested at chance without a word.
void RequireSoundTensors(const Module& module, const std::filesystem::path& path) {
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    if (!p.value.is_floating_point()) continue;
    Require(torch::isfinite(p.value).all().item<bool>(),
            "{}: parameter '{}' holds NaN or infinite values ({} of {})", path.string(), p.name,
            (~torch::isfinite(p.value)).sum().item<std::int64_t>(), p.value.numel());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    if (!b.value.is_floating_point()) continue;
    Require(torch::isfinite(b.value).all().item<bool>(),
            "{}: buffer '{}' holds NaN or infinite values", path.string(), b.name);
    const std::string suffix = "running_var";
    if (b.name.size() >= suffix.size() &&
        b.name.compare(b.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      Require((b.value >= 0).all().item<bool>(),
              "{}: buffer '{}' (a BatchNorm's running variance) has a negative value, {}",
              path.string(), b.name, b.value.min().item<double>());
  }
}

Module Load(const std::filesystem::path& path) {
  Require(std::filesystem::is_regular_file(path), "{}: no such file", path.string());
  Module module;
  try {
    module = torch::jit::load(path.string(), torch::kCPU);
  } catch (const c10::Error& e) {
    Fail("{}: not a TorchScript model ({})", path.string(),
         LoadFailure(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    Fail("{}: not a TorchScript model ({})", path.string(), LoadFailure(e.what()));
  }
  RequireSoundTensors(module, path);
  return module;
}

}  // namespace

// The module translated into aimc's steps (arch "sequential"); NotTranslatable where it holds
// an operation or layer that the steps do not have.
ImportResult Translate(const std::filesystem::path& path, Module module,
                       const ImportOptions& options, const Dataset& calibration) {
  module.eval();
  // The graph of the module's forward: a Sequential's chain, or a forward of its own.
  GraphWalker walker;
  std::int64_t output = -1;
  try {
    output = walker.Walk(module, "", "forward", {-1});
  } catch (const Error& e) {
    throw NotTranslatable{fmt::format("{}: {}", path.string(), e.what())};
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw NotTranslatable{fmt::format("{}: {}", path.string(), what.substr(0, what.find('\n')))};
  }
  const std::vector<GraphNode>& nodes = walker.nodes;
  if (output < 0 || output + 1 != static_cast<std::int64_t>(nodes.size()))
    throw NotTranslatable{fmt::format(
        "{}: the module's forward returns the image or an activation that is not its last step",
        path.string())};
  const auto is_weight = [](const GraphNode& n) {
    return n.leaf.type == "Conv2d" || n.leaf.type == "Linear";
  };
  const auto is_norm = [](const GraphNode& n) {
    return n.leaf.type == "BatchNorm2d" || n.leaf.type == "BatchNorm1d";
  };
  // Every weight node's plan, in forward order.
  std::vector<std::int64_t> plan_of(nodes.size(), -1);

  // A float pass over the calibration images: every node's output from its inputs', with the
  // weight layers' products as `product` gives them.
  torch::NoGradGuard no_grad;
  const Dataset calib = calibration.Head(options.calibration_images);
  const auto float_pass = [&](const std::function<torch::Tensor(std::size_t, const torch::Tensor&)>& product) {
    const torch::Tensor image = ToInput(calib.images);
    std::vector<torch::Tensor> outs(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const GraphNode& n = nodes[i];
      const auto at = [&](std::int64_t j) { return j < 0 ? image : outs[static_cast<std::size_t>(j)]; };
      const torch::Tensor x = at(n.inputs[0]);
      if (n.functional()) {
        outs[i] = n.step.type == "add" ? x + at(n.inputs[1]) : ApplyFunctionStep(n.step, x, false);
      } else if (is_weight(n)) {
        outs[i] = product(i, x);
      } else if (is_norm(n)) {
        outs[i] = ReadNorm(n.leaf)(x);
      } else {
        Module m = n.leaf.module;
        outs[i] = m.forward({x}).toTensor();
      }
    }
    return outs.back();
  };
  const auto running = [&](const std::function<torch::Tensor()>& pass) {
    try {
      return pass();
    } catch (const Error& e) {
      Fail("{}: {}", path.string(), e.what());
    } catch (const c10::Error& e) {
      std::string what = e.what_without_backtrace();
      Fail("{}: the module does not run on images of {} channels, {}x{} ({})", path.string(),
           calibration.images.size(1), calibration.images.size(2), calibration.images.size(3),
           what.substr(0, what.find('\n')));
    }
  };

  // Whether a node's output can be negative (an analog layer's DACs take [0, alpha]: the image,
  // or a ReLU's output through pooling, flattening, dropout and sums of such).
  std::vector<bool> non_negative(nodes.size(), false);
  std::vector<LayerPlan> plans;
  try {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const GraphNode& n = nodes[i];
      const auto nn_of = [&](std::int64_t j) {
        return j < 0 || non_negative[static_cast<std::size_t>(j)];
      };
      const std::string type = n.functional() ? n.step.type : n.leaf.type;
      if (type == "relu" || type == "relu6" || type == "ReLU" || type == "ReLU6") {
        non_negative[i] = true;
      } else if (type == "add") {
        non_negative[i] = nn_of(n.inputs[0]) && nn_of(n.inputs[1]);
      } else if (!is_weight(n) && !is_norm(n)) {
        non_negative[i] = nn_of(n.inputs[0]);  // pooling, flatten, dropout, identity
      }
      if (!is_weight(n)) continue;
      LayerPlan p;
      p.layer = ReadWeightLayer(n.leaf);
      p.first = n.inputs[0] < 0;
      p.info.name = n.leaf.name;
      p.info.kind = n.leaf.type;
      if (!p.layer.unsupported.empty()) {
        p.info.reason = p.layer.unsupported;
      } else if (!nn_of(n.inputs[0])) {
        PlanNegativeInput(p, options);
      }
      p.crossbar = p.info.reason.empty();
      plan_of[i] = static_cast<std::int64_t>(plans.size());
      plans.push_back(std::move(p));
    }
  } catch (const Error& e) {
    throw NotTranslatable{fmt::format("{}: {}", path.string(), e.what())};
  }
  Require(!plans.empty(), "{}: no Conv2d or Linear layer to map", path.string());

  // The input ranges: the image's [0, 1], else the percentile of each layer's inputs (or the
  // fixed alpha).
  const torch::Tensor logits = running([&] {
    return float_pass([&](std::size_t i, const torch::Tensor& x) {
      LayerPlan& p = plans[static_cast<std::size_t>(plan_of[i])];
      double alpha = 1.0;
      if (!p.first) {
        alpha = options.input_alpha > 0.0
                    ? options.input_alpha
                    : Percentile(p.signed_input ? x.abs() : x, options.input_percentile);
        if (!(alpha > 0.0)) alpha = 1.0;  // a dead input: any range
      }
      p.info.input_alpha = alpha;
      return FloatProduct(p.layer, x);
    });
  });
  Require(logits.dim() == 2, "{}: the module's output has shape {}, expected logits (N, classes)",
          path.string(), c10::str(logits.sizes()));
  const std::int64_t classes = logits.size(1);
  if (calibration.classes > 0)
    Require(classes == calibration.classes,
            "{}: the module gives {} outputs, the data '{}' has {} classes", path.string(),
            classes, calibration.name, calibration.classes);

  // Which layers go on arrays, and their quantization: each mapped layer's ternary product
  // against its float product on its own (quantized) calibration inputs.
  running([&] {
    return float_pass([&](std::size_t i, const torch::Tensor& x) {
      const std::size_t k = static_cast<std::size_t>(plan_of[i]);
      LayerPlan& p = plans[k];
      const bool edge = k == 0 || k + 1 == plans.size();
      if (p.info.reason.empty() && options.float_first_last && edge)
        p.info.reason = "first or last layer, kept float (float_first_last)";
      p.info.analog = p.info.reason.empty();
      if (p.info.analog) {
        const int bits = p.first && options.act_bits > 0 ? 8 : options.act_bits;
        ChooseRatio(p,
                    PactQuantizeEval(x, torch::full({1}, p.info.input_alpha), bits,
                                     p.signed_input),
                    options);
      }
      return FloatProduct(p.layer, x);
    });
  });

  // The network: one step per node (an Identity is its input), the plans' decisions in the
  // weight layers' steps.
  NetworkOptions no = ImportedOptions("sequential", calibration.images, classes, options);
  std::vector<std::int64_t> step_of(nodes.size(), -1);
  const auto step_at = [&](std::int64_t node) {
    return node < 0 ? std::int64_t{-1} : step_of[static_cast<std::size_t>(node)];
  };
  bool chain = true;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const GraphNode& n = nodes[i];
    SequentialStep s;
    if (n.functional()) {
      s = n.step;
    } else if (n.leaf.type == "Identity") {
      step_of[i] = step_at(n.inputs[0]);
      continue;
    } else if (is_norm(n)) {
      s.name = n.leaf.name;
      s.type = n.leaf.type == "BatchNorm2d" ? "batchnorm2d" : "batchnorm1d";
      const NormStats stats = ReadNorm(n.leaf);
      s.out = stats.mean.size(0);
      s.eps = stats.eps;
      // momentum None (a cumulative average) matters only for fine-tuning: PyTorch's default.
      const c10::IValue m =
          AttrOrTraced(n.leaf.module, n.leaf.type, "momentum").value_or(c10::IValue());
      s.momentum = m.isNone() ? 0.1 : m.toDouble();
    } else if (is_weight(n)) {
      s = PlannedStep(plans[static_cast<std::size_t>(plan_of[i])], options);
    } else {
      try {
        s = FunctionStep(n.leaf);
      } catch (const Error& e) {
        throw NotTranslatable{fmt::format("{}: {}", path.string(), e.what())};
      }
    }
    for (const std::int64_t j : n.inputs) s.inputs.push_back(step_at(j));
    const std::int64_t index = static_cast<std::int64_t>(no.steps.size());
    chain = chain && s.inputs.size() == 1 && s.inputs[0] == index - 1;
    step_of[i] = index;
    no.steps.push_back(std::move(s));
  }
  // A chain is written as one (its steps' JSON, hence model hashes, as before graphs).
  if (chain)
    for (SequentialStep& s : no.steps) s.inputs.clear();
  Require(!no.steps.empty() && step_of.back() + 1 == static_cast<std::int64_t>(no.steps.size()),
          "{}: the module's output is not its last step", path.string());
  try {
    no.Validate();
  } catch (const Error& e) {
    throw NotTranslatable{fmt::format("{}: {}", path.string(), e.what())};
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
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const GraphNode& n = nodes[i];
    if (n.functional()) continue;
    SequentialStep named;
    named.name = n.leaf.name;
    const std::string prefix = StepModuleName(named) + ".";
    if (is_weight(n)) {
      const auto [weight, bias] = PlannedWeights(plans[static_cast<std::size_t>(plan_of[i])]);
      set(prefix + "weight", weight);
      if (bias.defined()) set(prefix + "bias", bias);
    } else if (is_norm(n)) {
      const NormStats stats = ReadNorm(n.leaf);
      set(prefix + "weight", stats.weight);
      set(prefix + "bias", stats.bias);
      set(prefix + "running_mean", stats.mean);
      set(prefix + "running_var", stats.var);
    }
  }
  net->eval();
  // Finite weights can still overflow float on the way (a weight of 1e38, a variance of 1e-45):
  // such a network would test at chance without a word.
  Require(torch::isfinite(net->forward(ToInput(calib.images))).all().item<bool>(),
          "{}: the imported network's logits on the calibration images are not finite (NaN or "
          "inf): a weight, bias or BatchNorm statistic of the module is too large or too small "
          "for float arithmetic",
          path.string());
  ImportResult result;
  result.network = net;
  for (const LayerPlan& p : plans) result.layers.push_back(p.info);
  return result;
}

// A layer of the module as it runs: every call of one weight (a layer called twice is one
// layer on one array).
struct ModuleLayer {
  LayerPlan plan;
  std::vector<std::size_t> calls;
  bool chosen = false;  // its ratio picked (on its first call's inputs)
};

// The module as it is (arch "torchscript"): its forward runs in LibTorch, each weight layer
// that a crossbar can take on an AnalogLayer, everything else as the module computes it.
ImportResult ImportScriptBytes(std::string bytes, const std::string& what,
                               const ImportOptions& options, const torch::Tensor& image,
                               std::int64_t data_classes, const std::string& data_name) {
  internal::ScriptGraph g = internal::ReadScript(bytes, what);
  g.module.eval();
  Require(image.dim() == 4 && image.size(0) >= 1 && image.size(2) == image.size(3),
          "{}: calibration inputs of shape {}; aimc's networks take square images (N, C, H, H)",
          what, c10::str(image.sizes()));

  // The layers, in the order the forward first calls them.
  std::vector<ModuleLayer> layers;
  std::map<std::string, int> computed;  // products on weights the forward computes, by kind
  std::map<std::string, std::size_t> layer_of;
  for (std::size_t i = 0; i < g.calls.size(); ++i) {
    const internal::WeightCall& c = g.calls[i];
    if (c.name.empty()) {
      ++computed[c.kind];
      continue;
    }
    const auto [it, added] = layer_of.emplace(c.name, layers.size());
    if (added) {
      ModuleLayer l;
      l.plan.layer.step = c.step;
      // A Conv1d's weight as the conv of height 1 that the analog layer holds.
      l.plan.layer.weight =
          c.step.type == "conv2d" && c.weight.dim() == 3 ? c.weight.unsqueeze(2) : c.weight;
      l.plan.layer.bias = c.bias;
      l.plan.info.name = c.name;
      l.plan.info.kind = c.kind;
      l.plan.first = true;
      layers.push_back(std::move(l));
    }
    ModuleLayer& l = layers[it->second];
    l.calls.push_back(i);
    LayerPlan& p = l.plan;
    if (added) p.mapped = c.mapped;
    p.first = p.first && c.takes_image;
    if (p.info.reason.empty() && !c.unsupported.empty()) p.info.reason = c.unsupported;
    if (p.info.reason.empty() && c.mapped.has_value() != p.mapped.has_value())
      p.info.reason = "called both as an aimc analog layer and as a plain product";
    if (p.info.reason.empty() &&
        (c.step.type != p.layer.step.type || c.step.kernel != p.layer.step.kernel ||
         c.step.stride != p.layer.step.stride || c.step.padding != p.layer.step.padding ||
         c.step.dilation != p.layer.step.dilation))
      p.info.reason = "called twice with different geometries";
    if (p.info.reason.empty() && !c.non_negative && !p.mapped) PlanNegativeInput(p, options);
  }
  Require(!layers.empty(), "{}: no Conv2d or Linear layer to map", what);
  // A module converted by Python's aimc.analog says itself which layers go on arrays: the
  // others stay as the module computes them.
  const bool converted = std::any_of(layers.begin(), layers.end(),
                                     [](const ModuleLayer& l) { return l.plan.mapped.has_value(); });
  std::vector<std::size_t> mapped;
  for (std::size_t k = 0; k < layers.size(); ++k) {
    LayerPlan& p = layers[k].plan;
    if (converted && !p.mapped && p.info.reason.empty())
      p.info.reason = "not an analog layer of the converted module (aimc.analog): kept digital, "
                      "as the module computes it";
    p.crossbar = p.info.reason.empty();
    if (p.crossbar) mapped.push_back(k);
  }
  if (options.float_first_last && !converted && !mapped.empty())
    for (const std::size_t k : {mapped.front(), mapped.back()})
      layers[k].plan.info.reason = "first or last layer, kept float (float_first_last)";
  for (ModuleLayer& l : layers) {
    LayerPlan& p = l.plan;
    p.info.analog = p.info.reason.empty();
    if (p.mapped && p.crossbar) {
      p.info.input_alpha = p.mapped->input_alpha;
      p.info.threshold_ratio = p.mapped->threshold_ratio;
      p.info.weight_levels = p.mapped->weight_levels;
      p.signed_input = p.mapped->signed_input;
      if (!p.mapped->ternary) {
        p.info.analog = false;
        p.info.reason = "kept float by its converter (a float analog layer)";
      }
    }
  }

  // Every crossbar layer's calls go through a slot: the calibration passes see its inputs.
  internal::Slots slots;
  std::vector<std::int64_t> call_slots(g.calls.size(), -1);
  int pass = 0;
  for (const std::size_t k : mapped) {
    ModuleLayer* l = &layers[k];
    const std::int64_t slot = slots.Add([l, &pass, &options](const torch::Tensor& x) {
      LayerPlan& p = l->plan;
      const bool linear = p.layer.step.type == "linear";
      // A Linear over tokens: each token is one input vector; a Conv1d: a conv of height 1.
      const bool one_d = !linear && x.dim() == 3;
      const torch::Tensor x2 = linear ? x.reshape({-1, x.size(-1)}) : one_d ? x.unsqueeze(2) : x;
      if (p.mapped) {
        // As its converter mapped it (eval: no noise, no deviation); its error against the
        // float product of its weights on the calibration inputs.
        torch::Tensor y =
            AnalogLayerFunction(x2, p.layer.weight, p.layer.bias,
                                torch::full({1}, p.mapped->input_alpha), torch::Tensor(),
                                LayerSpec{*p.mapped, false, {}}, 0.0, 0, 0);
        if (pass == 1 && !l->chosen) {
          const torch::Tensor f = FloatProduct(p.layer, x2);
          const double norm = f.norm().item<double>();
          p.info.relative_error = norm > 0.0 ? (y - f).norm().item<double>() / norm : 0.0;
          l->chosen = true;
        }
        if (linear) {
          std::vector<std::int64_t> shape = x.sizes().vec();
          shape.back() = y.size(-1);
          return y.reshape(shape);
        }
        return one_d ? y.squeeze(2) : y;
      }
      if (pass == 0 && !p.first) {
        double alpha = options.input_alpha > 0.0
                           ? options.input_alpha
                           : Percentile(p.signed_input ? x2.abs() : x2, options.input_percentile);
        if (!(alpha > 0.0)) alpha = 1.0;  // a dead input: any range
        p.info.input_alpha = std::max(p.info.input_alpha, alpha);  // the widest of its calls
      } else if (pass == 0) {
        p.info.input_alpha = 1.0;
      } else if (pass == 1 && p.info.analog && !l->chosen) {
        const int bits = p.first && options.act_bits > 0 ? 8 : options.act_bits;
        ChooseRatio(p,
                    PactQuantizeEval(x2, torch::full({1}, p.info.input_alpha), bits,
                                     p.signed_input),
                    options);
        l->chosen = true;
      }
      return one_d ? FloatProduct(p.layer, x2).squeeze(2) : FloatProduct(p.layer, x);
    });
    for (const std::size_t i : l->calls) call_slots[i] = slot;
  }
  internal::ReplaceCalls(g, call_slots);
  const internal::ScriptRunner run(g.module, g.graph, what);
  torch::NoGradGuard no_grad;
  torch::Tensor logits;
  for (pass = 0; pass < 2; ++pass) {
    try {
      logits = run(image);
    } catch (const Error& e) {
      Fail("{}: the module does not run on images of {} channels, {}x{} ({})", what,
           image.size(1), image.size(2), image.size(3),
           e.what());
    }
  }
  Require(logits.dim() == 2, "{}: the module's output has shape {}, expected logits (N, classes)",
          what, c10::str(logits.sizes()));
  const std::int64_t classes = logits.size(1);
  if (data_classes > 0)
    Require(classes == data_classes,
            "{}: the module gives {} outputs, the data '{}' has {} classes", what,
            classes, data_name, data_classes);

  NetworkOptions no = ImportedOptions("torchscript", image, classes, options);
  no.script_hash = HashHex(bytes);
  no.script = std::make_shared<const std::string>(std::move(bytes));
  for (const ModuleLayer& l : layers) no.steps.push_back(PlannedStep(l.plan, options));
  try {
    no.Validate();
  } catch (const Error& e) {
    Fail("{}: {}", what, e.what());
  }
  Network net = MakeNetwork(no, 1);
  auto params = net->named_parameters(true);
  const auto set = [&](const std::string& key, const torch::Tensor& value) {
    torch::Tensor* target = params.find(key);
    Require(target != nullptr && target->sizes() == value.sizes(),
            "{}: cannot place {} of shape {}", what, key, c10::str(value.sizes()));
    target->copy_(value);
  };
  for (const std::size_t k : mapped) {
    const LayerPlan& p = layers[k].plan;
    const std::string prefix = StepModuleName(p.layer.step) + ".";
    const auto [weight, bias] = PlannedWeights(p);
    set(prefix + "weight", weight);
    if (bias.defined()) set(prefix + "bias", bias);
  }
  net->eval();
  Require(torch::isfinite(net->forward(image)).all().item<bool>(),
          "{}: the imported network's logits on the calibration images are not finite (NaN or "
          "inf): a weight or statistic of the module is too large or too small for float "
          "arithmetic",
          what);
  ImportResult result;
  result.network = net;
  for (const ModuleLayer& l : layers) result.layers.push_back(l.plan.info);
  // One line for them all (a packed attention projection has several such calls, some in
  // branches that never run).
  for (const auto& [kind, n] : computed) {
    ImportedLayer info;
    info.name = fmt::format("({} {} calls in the forward's code)", n, kind);
    info.kind = kind;
    info.reason = "their weights are computed in the forward (slices of a packed attention "
                  "projection, say), not a tensor of the module that an array could hold";
    result.layers.push_back(info);
  }
  return result;
}

ImportResult ImportModule(const std::filesystem::path& path, const ImportOptions& options,
                          const Dataset& calibration) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    Require(in.good() || in.eof(), "{}: cannot read the file", path.string());
  }
  Require(calibration.images.size(2) == calibration.images.size(3),
          "{}: the images are {}x{}; aimc's networks take square images", path.string(),
          calibration.images.size(2), calibration.images.size(3));
  const Dataset calib = calibration.Head(options.calibration_images);
  return ImportScriptBytes(std::move(bytes), path.string(), options, ToInput(calib.images),
                           calibration.classes, calibration.name);
}

namespace {

// The float module's accuracy as LibTorch computes it (its file as it is, batches of 100).
double FloatModuleAccuracy(const std::filesystem::path& path, const Dataset& test) {
  if (test.size() == 0) return 0.0;
  Module module = Load(path);
  module.eval();
  torch::NoGradGuard no_grad;
  std::int64_t correct = 0;
  for (std::int64_t i = 0; i < test.size(); i += 100) {
    const std::int64_t n = std::min<std::int64_t>(100, test.size() - i);
    c10::IValue out;
    try {
      out = module.forward({ToInput(test.images.narrow(0, i, n))});
    } catch (const c10::Error& e) {
      std::string what = e.what_without_backtrace();
      Fail("{}: the float module does not run on the test images ({})", path.string(),
           what.substr(0, what.find('\n')));
    }
    if (out.isTuple()) out = out.toTupleRef().elements().at(0);
    Require(out.isTensor() && out.toTensor().dim() == 2,
            "{}: the float module returns no logits (N, classes)", path.string());
    correct += out.toTensor().argmax(1).eq(test.labels.narrow(0, i, n)).sum().item<std::int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(test.size());
}

}  // namespace

ImportResult ImportTorchScript(const std::filesystem::path& path, const ImportOptions& options,
                               const Dataset& calibration) {
  options.Validate();
  Require(calibration.size() > 0 && calibration.images.dim() == 4,
          "importing {}: no calibration images", path.string());
  Module module = Load(path);
  if (options.execution != "module") {
    try {
      return Translate(path, module, options, calibration);
    } catch (const NotTranslatable& e) {
      Require(options.execution != "steps", "{}", e.message);
      spdlog::info("{}; the module runs as it is, its weight layers on arrays", e.message);
    }
  }
  return ImportModule(path, options, calibration);
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
  m.info.class_names = data.train.class_names;
  EpochStats stats;
  const Dataset test = data.test.Head(test_images);
  stats.test_accuracy = Evaluate(*m.import.network, test);
  m.info.history.push_back(stats);
  m.float_accuracy = FloatModuleAccuracy(path, test);
  const double lost = 100.0 * (m.float_accuracy - stats.test_accuracy);
  if (lost > 2.0) {
    std::vector<const ImportedLayer*> worst;
    for (const ImportedLayer& l : m.import.layers)
      if (l.analog) worst.push_back(&l);
    std::sort(worst.begin(), worst.end(), [](const ImportedLayer* a, const ImportedLayer* b) {
      return a->relative_error > b->relative_error;
    });
    worst.resize(std::min<std::size_t>(worst.size(), 3));
    std::string names;
    for (const ImportedLayer* l : worst)
      names += fmt::format("{}{} ({:.3f})", names.empty() ? "" : ", ", l->name, l->relative_error);
    m.warning = fmt::format(
        "{}: the import loses {:.1f} points ({:.2f} % against the float module's {:.2f} % on the "
        "same {} test images); largest relative output errors: {}. Remedies: more weight "
        "levels (--weight-levels on a multi-level card), --float-first-last, more activation "
        "bits, or fine-tuning (aimc train --init-from)",
        path.string(), lost, 100.0 * stats.test_accuracy, 100.0 * m.float_accuracy, test.size(),
        names.empty() ? "none on arrays" : names);
    spdlog::warn("{}", m.warning);
  }
  return m;
}

}  // namespace aimc::nn
