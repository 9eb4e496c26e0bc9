#include "sequential.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/manifest.h"

namespace aimc::nn {
namespace F = torch::nn::functional;

namespace {

const std::vector<std::string> kStepTypes = {
    "conv2d",    "linear",    "batchnorm2d",       "batchnorm1d", "relu",    "relu6",
    "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "flatten",     "dropout", "identity",
    "add"};

using Pair = std::vector<std::int64_t>;

Pair PairValue(const nlohmann::json& json, const std::string& key, const Pair& fallback,
               const std::string& what) {
  const auto it = json.find(key);
  if (it == json.end()) return fallback;
  Require(it->is_array() && it->size() == 2 && (*it)[0].is_number_integer() &&
              (*it)[1].is_number_integer(),
          "{}: '{}' must be two integers, got {}", what, key, it->dump());
  return {(*it)[0].get<std::int64_t>(), (*it)[1].get<std::int64_t>()};
}

// The keys each step type writes (beside type and name).
std::vector<std::string> KeysOf(const std::string& type) {
  if (type == "conv2d")
    return {"in", "out", "kernel", "stride", "padding", "dilation", "groups", "bias", "mapping",
            "reason", "threshold_ratio", "weight_levels", "input_alpha", "input_bits",
            "signed_input"};
  if (type == "linear")
    return {"in", "out", "bias", "mapping", "reason", "threshold_ratio", "weight_levels",
            "input_alpha", "input_bits", "signed_input"};
  if (type == "batchnorm2d" || type == "batchnorm1d") return {"out", "eps", "momentum"};
  if (type == "maxpool2d") return {"kernel", "stride", "padding", "dilation", "ceil_mode"};
  if (type == "avgpool2d") return {"kernel", "stride", "padding", "ceil_mode", "count_include_pad"};
  if (type == "adaptiveavgpool2d") return {"output_size"};
  if (type == "dropout") return {"p"};
  return {};
}


// What flows between steps: an image stack (C, H, W) or features.
struct Shape {
  bool flat = false;
  std::int64_t c = 0, h = 0, w = 0;
  std::int64_t features() const { return flat ? c : c * h * w; }
  std::string str() const { return flat ? fmt::format("({})", c) : fmt::format("({}, {}, {})", c, h, w); }
};

// Output size of a window sliding over n (PyTorch's formula, ceil_mode included: the last window
// must start inside the input or its left padding).
std::int64_t Slide(std::int64_t n, std::int64_t k, std::int64_t s, std::int64_t p, std::int64_t d,
                   bool ceil_mode) {
  const std::int64_t span = n + 2 * p - d * (k - 1) - 1;
  if (span < 0) return 0;
  std::int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= n + p) --out;
  return out;
}

bool Positive(const Pair& p) { return p.size() == 2 && p[0] >= 1 && p[1] >= 1; }
bool NonNegative(const Pair& p) { return p.size() == 2 && p[0] >= 0 && p[1] >= 0; }

bool operator==(const Shape& a, const Shape& b) {
  return a.flat == b.flat && a.c == b.c && (a.flat || (a.h == b.h && a.w == b.w));
}

// The steps whose outputs step i takes (-1: the image), checked: earlier steps only, two for
// an add, one otherwise.
std::vector<std::int64_t> InputsOf(const std::vector<SequentialStep>& steps, std::size_t i,
                                   const std::string& what) {
  const SequentialStep& s = steps[i];
  std::vector<std::int64_t> in = s.inputs;
  if (in.empty()) in = {static_cast<std::int64_t>(i) - 1};
  Require(in.size() == (s.type == "add" ? 2u : 1u),
          "{}: takes {} inputs where a step of type {} takes {}", what, in.size(), s.type,
          s.type == "add" ? 2 : 1);
  for (const std::int64_t j : in)
    Require(j >= -1 && j < static_cast<std::int64_t>(i),
            "{}: input {} is not an earlier step (-1: the image, 0..{})", what, j,
            static_cast<std::int64_t>(i) - 1);
  return in;
}

// The output shapes of every step (checked); `image` is the input's.
std::vector<Shape> Shapes(const std::vector<SequentialStep>& steps, const Shape& image,
                          const std::function<std::string(std::size_t)>& what);

// Checks one step against its input shape and returns its output shape.
Shape Check(const SequentialStep& s, const Shape& in, const std::string& what) {
  Require(std::find(kStepTypes.begin(), kStepTypes.end(), s.type) != kStepTypes.end(),
          "{}: type '{}' is none of conv2d, linear, batchnorm2d, batchnorm1d, relu, relu6, "
          "maxpool2d, avgpool2d, adaptiveavgpool2d, flatten, dropout, identity, add",
          what, s.type);
  Shape out = in;
  if (s.is_weight_layer()) {
    Require(s.mapping == "ternary" || s.mapping == "float" || s.mapping == "digital",
            "{}: mapping must be ternary, float or digital, got '{}'", what, s.mapping);
    Require(s.in >= 1 && s.out >= 1, "{}: in and out must be >= 1, got {} and {}", what, s.in,
            s.out);
    Require(s.threshold_ratio >= 0.0 && s.threshold_ratio < 10.0,
            "{}: threshold_ratio must be in [0, 10), got {}", what, s.threshold_ratio);
    Require(IsWeightLevels(s.weight_levels), "{}: weight_levels must be {}, got {}", what,
            kWeightLevelsRule, s.weight_levels);
    Require(std::isfinite(s.input_alpha) && s.input_alpha > 0.0,
            "{}: input_alpha must be > 0, got {}", what, s.input_alpha);
    Require(s.input_bits >= 0 && s.input_bits <= 16, "{}: input_bits must be in 0..16, got {}",
            what, s.input_bits);
    Require(!s.signed_input || s.input_bits != 1,
            "{}: a signed input needs input_bits 0 or >= 2 (a sign bit and magnitude)", what);
  }
  if (s.type == "conv2d") {
    Require(!in.flat, "{}: a conv2d after flattening (input {})", what, in.str());
    Require(Positive(s.kernel) && Positive(s.stride) && NonNegative(s.padding) &&
                Positive(s.dilation) && s.groups >= 1,
            "{}: kernel, stride, dilation and groups must be >= 1 and padding >= 0", what);
    Require(in.c == s.in, "{}: takes {} channels, gets {} (input {})", what, s.in, in.c, in.str());
    Require(s.in % s.groups == 0 && s.out % s.groups == 0,
            "{}: groups {} must divide in {} and out {}", what, s.groups, s.in, s.out);
    out.c = s.out;
    out.h = Slide(in.h, s.kernel[0], s.stride[0], s.padding[0], s.dilation[0], false);
    out.w = Slide(in.w, s.kernel[1], s.stride[1], s.padding[1], s.dilation[1], false);
  } else if (s.type == "linear") {
    Require(in.flat, "{}: a linear layer takes flattened features (add a Flatten before it)",
            what);
    Require(in.features() == s.in, "{}: takes {} features, gets {} (input {})", what, s.in,
            in.features(), in.str());
    out = {true, s.out, 1, 1};
  } else if (s.type == "batchnorm2d" || s.type == "batchnorm1d") {
    Require(s.type == "batchnorm2d" ? !in.flat : in.flat, "{}: {} of an input {}", what, s.type,
            in.str());
    Require(s.out == in.c, "{}: normalizes {} features, gets {}", what, s.out, in.c);
    Require(std::isfinite(s.eps) && s.eps > 0.0, "{}: eps must be > 0, got {}", what, s.eps);
    Require(std::isfinite(s.momentum) && s.momentum >= 0.0 && s.momentum <= 1.0,
            "{}: momentum must be in [0, 1], got {}", what, s.momentum);
  } else if (s.type == "maxpool2d" || s.type == "avgpool2d") {
    Require(!in.flat, "{}: pooling after flattening", what);
    Require(Positive(s.kernel) && Positive(s.stride) && NonNegative(s.padding) &&
                Positive(s.dilation),
            "{}: kernel, stride and dilation must be >= 1 and padding >= 0", what);
    Require(2 * s.padding[0] <= s.kernel[0] && 2 * s.padding[1] <= s.kernel[1],
            "{}: padding must be at most half the kernel", what);
    const Pair dil = s.type == "maxpool2d" ? s.dilation : Pair{1, 1};
    out.h = Slide(in.h, s.kernel[0], s.stride[0], s.padding[0], dil[0], s.ceil_mode);
    out.w = Slide(in.w, s.kernel[1], s.stride[1], s.padding[1], dil[1], s.ceil_mode);
  } else if (s.type == "adaptiveavgpool2d") {
    Require(!in.flat, "{}: pooling after flattening", what);
    Require(Positive(s.output_size), "{}: output_size must be >= 1", what);
    out.h = s.output_size[0];
    out.w = s.output_size[1];
  } else if (s.type == "flatten") {
    out = {true, in.features(), 1, 1};
  } else if (s.type == "dropout") {
    Require(s.p >= 0.0 && s.p < 1.0, "{}: p must be in [0, 1), got {}", what, s.p);
  }
  Require(out.features() >= 1, "{}: its output {} is empty (input {})", what, out.str(),
          in.str());
  return out;
}

std::vector<Shape> Shapes(const std::vector<SequentialStep>& steps, const Shape& image,
                          const std::function<std::string(std::size_t)>& what) {
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::vector<std::int64_t> in = InputsOf(steps, i, what(i));
    const auto at = [&](std::int64_t j) { return j < 0 ? image : shapes[static_cast<std::size_t>(j)]; };
    if (steps[i].type == "add")
      Require(at(in[0]) == at(in[1]), "{}: adds {} to {}; the shapes must be equal", what(i),
              at(in[0]).str(), at(in[1]).str());
    shapes.push_back(Check(steps[i], at(in[0]), what(i)));
  }
  return shapes;
}

// An imported network: each step as the step table says, every crossbar layer an AnalogLayer,
// every BatchNorm that alone takes one's output folded into it on chips.
class SequentialImpl : public NetworkImpl {
 public:
  explicit SequentialImpl(const NetworkOptions& o) : NetworkImpl(o) {
    const Shape image{false, o.in_channels, o.image_size, o.image_size};
    const std::vector<Shape> shapes =
        Shapes(o.steps, image, [&o](std::size_t i) { return o.steps[i].name; });
    // How many steps take each step's output, and the last that does (its output is freed then).
    std::vector<int> consumers(o.steps.size(), 0);
    last_use_.assign(o.steps.size(), -1);
    for (std::size_t i = 0; i < o.steps.size(); ++i) {
      inputs_.push_back(InputsOf(o.steps, i, o.steps[i].name));
      for (const std::int64_t j : inputs_.back()) {
        if (j < 0) continue;
        ++consumers[static_cast<std::size_t>(j)];
        last_use_[static_cast<std::size_t>(j)] = static_cast<std::int64_t>(i);
      }
    }
    std::vector<AnalogLayer> layer_of(o.steps.size(), AnalogLayer(nullptr));
    std::set<std::string> names;
    for (std::size_t i = 0; i < o.steps.size(); ++i) {
      const SequentialStep& s = o.steps[i];
      const std::string name = StepModuleName(s);
      const std::int64_t from = inputs_[i][0];
      const Shape in = from < 0 ? image : shapes[static_cast<std::size_t>(from)];
      const Shape& shape = shapes[i];
      if (s.is_weight_layer() || s.type == "batchnorm2d" || s.type == "batchnorm1d")
        Require(names.insert(name).second, "network step '{}': a second module named '{}'",
                s.name, name);
      // A BatchNorm that alone takes a crossbar layer's output folds into it on chips.
      AnalogLayer before(nullptr);
      if (from >= 0 && consumers[static_cast<std::size_t>(from)] == 1)
        before = layer_of[static_cast<std::size_t>(from)];
      if (s.is_crossbar()) {
        AnalogLayer layer = AddLayer(name, CrossbarLayerOptions(s, o));
        steps_.push_back([layer](const torch::Tensor& x) mutable { return layer(x); });
        layer_of[i] = layer;
      } else if (s.is_weight_layer()) {
        AddDigital(s, name, shape);
      } else if (s.type == "batchnorm2d") {
        AddNormStep<torch::nn::BatchNorm2d>(s, name, before);
      } else if (s.type == "batchnorm1d") {
        AddNormStep<torch::nn::BatchNorm1d>(s, name, before);
      } else {
        AddFunction(s, in, shape);
      }
    }
    const Shape& last = shapes.back();
    Require(last.flat && last.c == o.classes,
            "network steps end in {}, expected logits of {} classes", last.str(), o.classes);
  }

  torch::Tensor forward(const torch::Tensor& images) override {
    std::vector<torch::Tensor> outs(steps_.size());
    const auto at = [&](std::int64_t j) -> const torch::Tensor& {
      return j < 0 ? images : outs[static_cast<std::size_t>(j)];
    };
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      const std::vector<std::int64_t>& in = inputs_[i];
      outs[i] = in.size() == 2 ? at(in[0]) + at(in[1]) : steps_[i](at(in[0]));
      // Free what no later step reads (the last step's output is the result).
      for (const std::int64_t j : in)
        if (j >= 0 && last_use_[static_cast<std::size_t>(j)] == static_cast<std::int64_t>(i) &&
            static_cast<std::size_t>(j) + 1 != steps_.size())
          outs[static_cast<std::size_t>(j)] = torch::Tensor();
    }
    return outs.back();
  }

  energy::OtherOps CountOtherOps(const std::vector<double>&) const override { return ops_; }

 private:
  // A float product with the module's own stride, padding, dilation and groups; with chips side
  // by side, the same weights for every chip.
  void AddDigital(const SequentialStep& s, const std::string& name, const Shape& out) {
    // Its multiply-accumulates per image, for the energy model.
    ops_.float_macs += s.type == "conv2d"
                           ? static_cast<double>(out.features() * (s.in / s.groups) *
                                                 s.kernel[0] * s.kernel[1])
                           : static_cast<double>(s.in * s.out);
    auto holder = register_module(name, std::make_shared<torch::nn::Module>());
    torch::Tensor weight =
        s.type == "conv2d"
            ? torch::empty({s.out, s.in / s.groups, s.kernel[0], s.kernel[1]})
            : torch::empty({s.out, s.in});
    torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));  // torch.nn's default
    weight = holder->register_parameter("weight", weight);
    torch::Tensor bias;
    if (s.bias) bias = holder->register_parameter("bias", torch::zeros({s.out}));
    const SequentialStep step = s;
    steps_.push_back([this, weight, bias, step](const torch::Tensor& x) {
      return FloatStepProduct(step, x, weight, bias, chips());
    });
  }

  // A BatchNorm: folded into the crossbar layer right before it on chips; otherwise applied
  // with its statistics repeated for chips side by side.
  template <typename Holder>
  void AddNormStep(const SequentialStep& s, const std::string& name, const AnalogLayer& before) {
    Holder norm(torch::nn::BatchNormOptions(s.out).eps(s.eps).momentum(s.momentum));
    if (before) {
      norm = AddNorm(name, before, norm);
      steps_.push_back([this, norm](const torch::Tensor& x) mutable { return Normalize(norm, x); });
      return;
    }
    norm = register_module(name, norm);
    steps_.push_back([this, norm](const torch::Tensor& x) mutable {
      const std::int64_t k = chips();
      if (is_training() || k == 1) return norm(x);
      auto rep = [k](const torch::Tensor& t) { return t.defined() ? t.repeat({k}) : t; };
      return F::batch_norm(x, rep(norm->running_mean), rep(norm->running_var),
                           F::BatchNormFuncOptions()
                               .weight(rep(norm->weight))
                               .bias(rep(norm->bias))
                               .eps(norm->options.eps()));
    });
  }

  // The steps without weights, and the digital work they do per image (per chip).
  void AddFunction(const SequentialStep& s, const Shape& in, const Shape& out) {
    const double outputs = static_cast<double>(out.features());
    if (s.type == "maxpool2d") {
      ops_.compares += static_cast<double>(s.kernel[0] * s.kernel[1] - 1) * outputs;
    } else if (s.type == "avgpool2d") {
      ops_.adds += static_cast<double>(s.kernel[0] * s.kernel[1] - 1) * outputs;
    } else if (s.type == "adaptiveavgpool2d") {
      ops_.adds += std::max(0.0, static_cast<double>(in.features()) - outputs);
    } else if (s.type == "add") {
      ops_.adds += outputs;
      steps_.push_back(nullptr);  // forward() adds its two inputs
      return;
    }
    steps_.push_back([this, s](const torch::Tensor& x) {
      return ApplyFunctionStep(s, x, is_training());
    });
  }

  // Per step: its function of one input (add: none), the steps it reads, and the last step that
  // reads its output (-1: none).
  std::vector<std::function<torch::Tensor(const torch::Tensor&)>> steps_;
  std::vector<std::vector<std::int64_t>> inputs_;
  std::vector<std::int64_t> last_use_;
  energy::OtherOps ops_;
};

}  // namespace

nlohmann::json SequentialStep::ToJson() const {
  nlohmann::json j = {{"type", type}, {"name", name}};
  // Only in a graph: a chain keeps the bytes (and model hashes) it had.
  if (!inputs.empty()) j["inputs"] = inputs;
  for (const std::string& key : KeysOf(type)) {
    if (key == "in") j[key] = in;
    else if (key == "out") j[key] = out;
    else if (key == "kernel") j[key] = kernel;
    else if (key == "stride") j[key] = stride;
    else if (key == "padding") j[key] = padding;
    else if (key == "dilation") j[key] = dilation;
    else if (key == "output_size") j[key] = output_size;
    else if (key == "groups") j[key] = groups;
    else if (key == "bias") j[key] = bias;
    else if (key == "mapping") j[key] = mapping;
    else if (key == "reason") j[key] = reason;
    else if (key == "threshold_ratio") j[key] = threshold_ratio;
    // Ternary steps keep the bytes, hence the model hashes, of imports made before K levels.
    else if (key == "weight_levels" && weight_levels != 3) j[key] = weight_levels;
    else if (key == "input_alpha") j[key] = input_alpha;
    else if (key == "input_bits") j[key] = input_bits;
    // Unsigned steps keep the bytes (and model hashes) of imports made before signed DACs.
    else if (key == "signed_input" && signed_input) j[key] = signed_input;
    else if (key == "eps") j[key] = eps;
    else if (key == "momentum") j[key] = momentum;
    else if (key == "ceil_mode") j[key] = ceil_mode;
    else if (key == "count_include_pad") j[key] = count_include_pad;
    else if (key == "p") j[key] = p;
  }
  return j;
}

SequentialStep SequentialStep::FromJson(const nlohmann::json& json, const std::string& what) {
  Require(json.is_object(), "{}: expected an object, got {}", what, json.dump());
  SequentialStep s;
  s.type = JsonValue(json, "type", s.type, what);
  Require(std::find(kStepTypes.begin(), kStepTypes.end(), s.type) != kStepTypes.end(),
          "{}: type '{}' is unknown", what, s.type);
  s.name = JsonValue(json, "name", s.name, what);
  if (const auto it = json.find("inputs"); it != json.end()) {
    Require(it->is_array() && !it->empty() &&
                std::all_of(it->begin(), it->end(),
                            [](const nlohmann::json& v) { return v.is_number_integer(); }),
            "{}: 'inputs' must be a list of step indices, got {}", what, it->dump());
    for (const auto& v : *it) s.inputs.push_back(v.get<std::int64_t>());
  }
  std::vector<std::string> known = KeysOf(s.type);
  known.push_back("type");
  known.push_back("name");
  known.push_back("inputs");
  for (const auto& item : json.items())
    Require(std::find(known.begin(), known.end(), item.key()) != known.end(),
            "{}: unknown key '{}' for a {} step", what, item.key(), s.type);
  s.in = JsonValue(json, "in", s.in, what);
  s.out = JsonValue(json, "out", s.out, what);
  s.kernel = PairValue(json, "kernel", s.kernel, what);
  s.stride = PairValue(json, "stride", s.stride, what);
  s.padding = PairValue(json, "padding", s.padding, what);
  s.dilation = PairValue(json, "dilation", s.dilation, what);
  s.output_size = PairValue(json, "output_size", s.output_size, what);
  s.groups = JsonValue(json, "groups", s.groups, what);
  s.bias = JsonValue(json, "bias", s.bias, what);
  s.mapping = JsonValue(json, "mapping", s.mapping, what);
  s.reason = JsonValue(json, "reason", s.reason, what);
  s.threshold_ratio = JsonValue(json, "threshold_ratio", s.threshold_ratio, what);
  s.weight_levels = JsonValue(json, "weight_levels", s.weight_levels, what);
  s.input_alpha = JsonValue(json, "input_alpha", s.input_alpha, what);
  s.input_bits = JsonValue(json, "input_bits", s.input_bits, what);
  s.signed_input = JsonValue(json, "signed_input", s.signed_input, what);
  s.eps = JsonValue(json, "eps", s.eps, what);
  s.momentum = JsonValue(json, "momentum", s.momentum, what);
  s.ceil_mode = JsonValue(json, "ceil_mode", s.ceil_mode, what);
  s.count_include_pad = JsonValue(json, "count_include_pad", s.count_include_pad, what);
  s.p = JsonValue(json, "p", s.p, what);
  return s;
}

torch::Tensor FloatStepProduct(const SequentialStep& step, const torch::Tensor& input,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               std::int64_t chips) {
  torch::Tensor x = input;
  if (chips > 1 && x.size(1) == step.in) {  // the image: the same input for every chip
    std::vector<std::int64_t> repeat(static_cast<std::size_t>(x.dim()), 1);
    repeat[1] = chips;
    x = x.repeat(repeat);
  }
  std::vector<std::int64_t> repeat(static_cast<std::size_t>(weight.dim()), 1);
  repeat[0] = chips;
  const torch::Tensor w = chips > 1 ? weight.repeat(repeat) : weight;
  const torch::Tensor b = bias.defined() && chips > 1 ? bias.repeat({chips}) : bias;
  if (step.type == "conv2d")
    return F::conv2d(x, w, F::Conv2dFuncOptions()
                               .bias(b)
                               .stride(step.stride)
                               .padding(step.padding)
                               .dilation(step.dilation)
                               .groups(step.groups * chips));
  if (chips == 1) return F::linear(x, w, b);
  const std::int64_t n = x.size(0);
  const torch::Tensor xk = x.view({n, chips, -1}).transpose(0, 1);
  const torch::Tensor wk = w.view({chips, step.out, -1}).transpose(1, 2);
  torch::Tensor y = torch::bmm(xk, wk).transpose(0, 1).reshape({n, -1});
  return b.defined() ? y.add_(b) : y;
}

namespace {

// A conv2d step's kernel, stride, padding and dilation (height, width) into a layer's options
// (the width's only where they differ from the height's).
void SetGeometry(AnalogLayerOptions& lo, const SequentialStep& s) {
  if (s.type != "conv2d") return;
  lo.kernel = s.kernel.at(0);
  lo.stride = s.stride.at(0);
  lo.padding = s.padding.at(0);
  lo.dilation = s.dilation.at(0);
  if (s.kernel.at(1) != lo.kernel) lo.kernel_w = s.kernel[1];
  if (s.stride.at(1) != lo.stride) lo.stride_w = s.stride[1];
  if (s.padding.at(1) != lo.padding) lo.padding_w = s.padding[1];
  if (s.dilation.at(1) != lo.dilation) lo.dilation_w = s.dilation[1];
}

}  // namespace

AnalogLayerOptions CrossbarLayerOptions(const SequentialStep& s, const NetworkOptions& o) {
  AnalogLayerOptions lo;
  lo.kind = s.type == "conv2d" ? LayerKind::kConv : LayerKind::kLinear;
  lo.in = s.in;
  lo.out = s.out;
  SetGeometry(lo, s);
  if (lo.kind == LayerKind::kConv) lo.groups = s.groups;
  lo.bias = s.bias;
  lo.ternary = s.mapping == "ternary";
  lo.per_channel = o.per_channel;
  lo.threshold_ratio = s.threshold_ratio;
  lo.weight_levels = s.weight_levels;
  lo.input_bits = s.input_bits;
  lo.learn_alpha = false;  // the import's calibrated range
  lo.input_alpha = s.input_alpha;
  lo.signed_input = s.signed_input;
  return lo;
}

std::string StepModuleName(const SequentialStep& step) {
  std::string name = step.name;
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

void ValidateSequential(const NetworkOptions& o) {
  Require(!o.steps.empty(), "a sequential network needs steps");
  bool any_weight = false;
  for (std::size_t i = 0; i < o.steps.size(); ++i) {
    Require(!o.steps[i].name.empty(), "network step {}: no name", i);
    any_weight = any_weight || o.steps[i].is_weight_layer();
  }
  const std::vector<Shape> shapes =
      Shapes(o.steps, {false, o.in_channels, o.image_size, o.image_size}, [&o](std::size_t i) {
        return fmt::format("network step {} '{}'", i, o.steps[i].name);
      });
  Require(any_weight, "a sequential network needs a conv2d or linear step");
  const Shape& shape = shapes.back();
  Require(shape.flat && shape.c == o.classes,
          "network steps end in {}, expected logits of {} classes", shape.str(), o.classes);
}

torch::Tensor ApplyFunctionStep(const SequentialStep& s, const torch::Tensor& x, bool training) {
  if (s.type == "relu") return torch::relu(x);
  if (s.type == "relu6") return torch::clamp(x, 0.0, 6.0);
  if (s.type == "maxpool2d")
    return F::max_pool2d(x, F::MaxPool2dFuncOptions(s.kernel)
                                .stride(s.stride)
                                .padding(s.padding)
                                .dilation(s.dilation)
                                .ceil_mode(s.ceil_mode));
  if (s.type == "avgpool2d")
    return F::avg_pool2d(x, F::AvgPool2dFuncOptions(s.kernel)
                                .stride(s.stride)
                                .padding(s.padding)
                                .ceil_mode(s.ceil_mode)
                                .count_include_pad(s.count_include_pad));
  if (s.type == "adaptiveavgpool2d")
    return F::adaptive_avg_pool2d(x, F::AdaptiveAvgPool2dFuncOptions(s.output_size));
  if (s.type == "flatten") return x.flatten(1);
  if (s.type == "dropout") return F::dropout(x, F::DropoutFuncOptions().p(s.p).training(training));
  Require(s.type == "identity", "step '{}': a {} step is not a function of one input", s.name,
          s.type);
  return x;
}

Network MakeSequential(const NetworkOptions& options) {
  return std::make_shared<SequentialImpl>(options);
}

}  // namespace aimc::nn
