#include "script_network.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/runtime/custom_operator.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/nn/analog_op.h"
#include "sequential.h"

namespace aimc::nn {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// ---- aimc::weight_layer: the analog layers inside a module's graph ---------------------------

// Slot id -> what the call computes. A graph holds its slots as constants; the network (or the
// import) that rewrote it owns them and removes them when it goes.
std::mutex& SlotMutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<std::int64_t, internal::SlotFunction>& SlotTable() {
  static std::unordered_map<std::int64_t, internal::SlotFunction> table;
  return table;
}

at::Tensor WeightLayerOp(const at::Tensor& x, std::int64_t slot) {
  internal::SlotFunction f;
  {
    std::lock_guard<std::mutex> lock(SlotMutex());
    const auto it = SlotTable().find(slot);
    Require(it != SlotTable().end(),
            "aimc::weight_layer: slot {} belongs to no network (a graph outlived its network)",
            slot);
    f = it->second;
  }
  return f(x);
}

// A JIT operator, boxed (no dispatcher kernel): the interpreter calls it with its stack, and
// autograd follows the eager operations of the analog layer it runs.
const torch::jit::RegisterOperators kWeightLayerOperator({torch::jit::Operator(
    "aimc::weight_layer(Tensor x, int slot) -> Tensor",
    [](torch::jit::Stack& stack) {
      const std::int64_t slot = stack.back().toInt();
      const at::Tensor x = stack.at(stack.size() - 2).toTensor();
      torch::jit::drop(stack, 2);
      torch::jit::push(stack, WeightLayerOp(x, slot));
    },
    c10::AliasAnalysisKind::FROM_SCHEMA)});

// ---- The module's graph ----------------------------------------------------------------------

// The path of a module attribute read by a chain of prim::GetAttr from `self` ("features.0.weight").
std::optional<std::string> AttrPath(const Value* v, const Value* self) {
  std::vector<std::string> parts;
  while (v != self) {
    const Node* n = v->node();
    if (n->kind() != c10::prim::GetAttr) return std::nullopt;
    parts.push_back(n->s(c10::attr::name));
    v = n->input(0);
  }
  std::reverse(parts.begin(), parts.end());
  std::string path;
  for (const std::string& p : parts) path += (path.empty() ? "" : ".") + p;
  return path;
}

c10::IValue AttrAt(const torch::jit::Module& root, const std::string& path) {
  torch::jit::Module m = root;
  std::size_t begin = 0;
  for (std::size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', begin)) {
    m = m.attr(path.substr(begin, dot - begin)).toModule();
    begin = dot + 1;
  }
  return m.attr(path.substr(begin));
}

// A constant int list (prim::Constant, or a ListConstruct of constants), or a constant int
// repeated `dims` times.
std::optional<std::vector<std::int64_t>> ConstInts(const Value* v, std::size_t dims) {
  if (const auto iv = torch::jit::toIValue(v)) {
    if (iv->isIntList()) return iv->toIntVector();
    if (iv->isInt()) return std::vector<std::int64_t>(dims, iv->toInt());
    return std::nullopt;
  }
  if (v->node()->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<std::int64_t> out;
  for (const Value* e : v->node()->inputs()) {
    const auto iv = torch::jit::toIValue(e);
    if (!iv || !iv->isInt()) return std::nullopt;
    out.push_back(iv->toInt());
  }
  return out;
}

// Operations whose output is never negative, whatever the input.
bool MakesNonNegative(const std::string& op) {
  static const std::set<std::string> ops = {
      "aten::relu", "aten::relu_", "aten::relu6", "aten::sigmoid", "aten::sigmoid_",
      "aten::softmax", "aten::exp", "aten::abs", "aten::hardsigmoid", "aten::softplus"};
  return ops.count(op) > 0;
}

// Operations whose output is never negative where their tensor inputs are not: pooling,
// reshaping, selection, concatenation, sums and products of non-negative values.
bool KeepsNonNegative(const std::string& op) {
  static const std::set<std::string> ops = {
      "aten::max_pool1d", "aten::max_pool2d", "aten::max_pool3d", "aten::avg_pool1d",
      "aten::avg_pool2d", "aten::avg_pool3d", "aten::adaptive_avg_pool1d",
      "aten::adaptive_avg_pool2d", "aten::adaptive_avg_pool3d", "aten::adaptive_max_pool2d",
      "aten::flatten", "aten::view", "aten::reshape", "aten::permute", "aten::transpose",
      "aten::contiguous", "aten::dropout", "aten::dropout_", "aten::feature_dropout",
      "aten::squeeze", "aten::unsqueeze", "aten::mean", "aten::sum", "aten::cat",
      "aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::div", "aten::slice",
      "aten::select", "aten::narrow", "aten::clone", "aten::detach", "aten::to",
      "aten::upsample_nearest2d", "aten::upsample_bilinear2d", "aten::max",
      "aten::clamp", "aten::clamp_", "aten::hardtanh", "aten::hardtanh_", "prim::ListConstruct",
      "prim::TupleIndex", "prim::TupleConstruct", "prim::TupleUnpack", "prim::ListUnpack",
      "aten::__getitem__", "aten::chunk", "aten::split", "aten::pad", "aten::constant_pad_nd",
      "aten::reflection_pad1d", "aten::reflection_pad2d", "aten::replication_pad1d",
      "aten::replication_pad2d"};
  return ops.count(op) > 0;
}

// Inputs whose values decide the sign of an output: tensors, lists of tensors, tuples.
bool CarriesValues(const c10::TypePtr& t) {
  if (t->kind() == c10::TypeKind::TensorType || t->kind() == c10::TypeKind::TupleType) return true;
  // Kinds and contained types, not Type::cast (whose DynamicType case a UBSan build cannot link).
  return t->kind() == c10::TypeKind::ListType && t->containedTypes().size() == 1 &&
         t->containedTypes()[0]->kind() == c10::TypeKind::TensorType;
}

// Whether each value of the graph can be negative: the image (the second input) cannot; an
// operation's output cannot where MakesNonNegative, or where KeepsNonNegative and none of its
// tensor inputs can (nor, for a sum, product or quotient, a scalar operand); anything else can.
// Blocks (if, loop) are followed, their outputs are not.
void MarkNonNegative(const torch::jit::Block* block, std::set<const Value*>& non_negative) {
  static const std::set<std::string> scaled = {"aten::add", "aten::add_", "aten::mul",
                                               "aten::mul_", "aten::div", "aten::pad",
                                               "aten::constant_pad_nd"};
  static const std::set<std::string> clamps = {"aten::clamp", "aten::clamp_", "aten::hardtanh",
                                               "aten::hardtanh_"};
  for (const Node* n : block->nodes()) {
    for (const torch::jit::Block* b : n->blocks()) MarkNonNegative(b, non_negative);
    const std::string op = n->kind().toQualString();
    bool result = MakesNonNegative(op);
    if (!result && KeepsNonNegative(op)) {
      result = true;
      for (const Value* in : n->inputs()) {
        if (CarriesValues(in->type())) {
          result = result && non_negative.count(in) > 0;
        } else if (scaled.count(op) && in->type()->kind() != c10::TypeKind::ListType &&
                   in->type()->kind() != c10::TypeKind::StringType) {
          // A scalar operand (a scale, an alpha, a padding value) must be a constant >= 0.
          const auto iv = torch::jit::toIValue(in);
          result = result && iv &&
                   (iv->isNone() ||
                    ((iv->isInt() || iv->isDouble()) && iv->toScalar().toDouble() >= 0.0));
        }
      }
      // A clamp keeps the sign only with a lower bound >= 0 (its second input).
      if (clamps.count(op) && n->inputs().size() > 1) {
        const auto lo = torch::jit::toIValue(n->input(1));
        result = lo && !lo->isNone() && lo->toScalar().toDouble() >= 0.0;
      }
    }
    if (result)
      for (const Value* out : n->outputs()) non_negative.insert(out);
    // An if's output cannot be negative where no branch's can.
    if (n->kind() == c10::prim::If)
      for (std::size_t i = 0; i < n->outputs().size(); ++i)
        if (std::all_of(n->blocks().begin(), n->blocks().end(), [&](const torch::jit::Block* b) {
              return non_negative.count(b->outputs()[i]) > 0;
            }))
          non_negative.insert(n->outputs()[i]);
  }
}

std::string KindOf(const Node* n) {
  const std::string op = n->kind().toQualString();
  if (op == "aten::linear") return "Linear";
  if (op == "aten::conv1d") return "Conv1d";
  if (op == "aten::conv2d") return "Conv2d";
  if (op == "aten::conv3d") return "Conv3d";
  if (op == "aten::_convolution") return "Conv";  // its weight's rank says which
  if (op == "aimc::analog_layer") return "Analog";  // its spec says which
  return "";
}

void CollectCalls(torch::jit::Block* block, std::vector<Node*>& out) {
  for (Node* n : block->nodes()) {
    for (torch::jit::Block* b : n->blocks()) CollectCalls(b, out);
    if (!KindOf(n).empty()) out.push_back(n);
  }
}

// A string argument: a constant, or a string attribute of the module.
std::optional<std::string> StringArg(const internal::ScriptGraph& g, const Value* v,
                                     const Value* self) {
  if (const auto iv = torch::jit::toIValue(v); iv && iv->isString()) return iv->toStringRef();
  if (const auto path = AttrPath(v, self)) {
    const c10::IValue a = AttrAt(g.module, *path);
    if (a.isString()) return a.toStringRef();
  }
  return std::nullopt;
}

// A call of aimc::analog_layer(x, weight, bias, alpha, deviation, spec, sigma_w, seed, draw):
// the layer its converter mapped, read from its spec and its tensors.
internal::WeightCall ReadAnalogCall(const internal::ScriptGraph& g, Node* n, const Value* self) {
  internal::WeightCall c;
  c.node = n;
  c.kind = "Analog";
  const auto weight_path = AttrPath(n->input(1), self);
  const auto alpha_path = AttrPath(n->input(3), self);
  const auto spec = StringArg(g, n->input(5), self);
  if (!weight_path || !alpha_path || !spec) {
    c.unsupported = "an aimc analog layer whose weight, alpha or spec is computed in the forward";
    return c;
  }
  c.weight_path = *weight_path;
  c.alpha_path = *alpha_path;
  const std::string suffix = ".weight";
  c.name = c.weight_path.size() > suffix.size() && c.weight_path.ends_with(suffix)
               ? c.weight_path.substr(0, c.weight_path.size() - suffix.size())
               : c.weight_path;
  const LayerSpec parsed = ParseLayerSpec(*spec, fmt::format("aimc analog layer '{}'", c.name));
  AnalogLayerOptions o = parsed.options;
  const bool conv1d = parsed.conv1d;
  c.kind = o.kind == LayerKind::kLinear ? "Linear" : conv1d ? "Conv1d" : "Conv2d";
  const c10::IValue w = AttrAt(g.module, c.weight_path);
  const c10::IValue alpha = AttrAt(g.module, c.alpha_path);
  Require(w.isTensor() && alpha.isTensor() && alpha.toTensor().numel() == 1,
          "aimc analog layer '{}': its weight and alpha (one element) must be tensors", c.name);
  c.weight = w.toTensor();
  if (const auto none = torch::jit::toIValue(n->input(2)); !(none && none->isNone())) {
    const auto bias_path = AttrPath(n->input(2), self);
    Require(bias_path.has_value() && AttrAt(g.module, *bias_path).isTensor(),
            "aimc analog layer '{}': its bias must be a tensor of the module", c.name);
    c.bias_path = *bias_path;
    c.bias = AttrAt(g.module, *bias_path).toTensor();
  }
  o.input_alpha = alpha.toTensor().item<double>();
  Require(o.input_alpha > 0.0 && std::isfinite(o.input_alpha),
          "aimc analog layer '{}': its alpha is {}, the DAC range must be > 0", c.name,
          o.input_alpha);
  SequentialStep& s = c.step;
  s.type = o.kind == LayerKind::kLinear ? "linear" : "conv2d";
  s.name = c.name;
  s.in = o.in;
  s.out = o.out;
  s.bias = c.bias.defined();
  if (o.kind == LayerKind::kConv) {
    s.kernel = o.Kernel2();
    s.stride = o.Stride2();
    s.padding = o.Padding2();
    s.dilation = o.Dilation2();
    s.groups = o.groups;
  }
  s.mapping = o.ternary ? "ternary" : "float";
  s.threshold_ratio = o.threshold_ratio;
  s.weight_levels = o.weight_levels;
  s.input_alpha = o.input_alpha;
  s.input_bits = o.input_bits;
  s.signed_input = o.signed_input;
  if (c.weight.scalar_type() != torch::kFloat)
    c.unsupported = "a crossbar layer takes no weights that are not float32";
  c.mapped = o;
  return c;
}

// The call's layer: weight, bias and geometry, and why a crossbar layer cannot take it.
internal::WeightCall ReadCall(const internal::ScriptGraph& g, Node* n, const Value* self) {
  internal::WeightCall c;
  c.node = n;
  c.kind = KindOf(n);
  const std::string op = n->kind().toQualString();
  if (c.kind == "Analog") return ReadAnalogCall(g, n, self);
  std::vector<std::string> why;
  const auto weight_path = AttrPath(n->input(1), self);
  if (!weight_path) {
    c.unsupported = "its weight is computed in the forward, not a tensor of the module";
    return c;
  }
  c.weight_path = *weight_path;
  const c10::IValue w = AttrAt(g.module, c.weight_path);
  if (!w.isTensor()) {
    c.unsupported = "its weight is not a tensor";
    return c;
  }
  c.weight = w.toTensor();
  if (c.kind == "Conv") c.kind = fmt::format("Conv{}d", std::max<std::int64_t>(c.weight.dim() - 2, 1));
  const std::string suffix = ".weight";
  c.name = c.weight_path.size() > suffix.size() && c.weight_path.ends_with(suffix)
               ? c.weight_path.substr(0, c.weight_path.size() - suffix.size())
               : c.weight_path;
  const Value* bias = n->input(2);
  if (const auto none = torch::jit::toIValue(bias); none && none->isNone()) {
  } else if (const auto bias_path = AttrPath(bias, self)) {
    const c10::IValue b = AttrAt(g.module, *bias_path);
    if (b.isTensor()) {
      c.bias_path = *bias_path;
      c.bias = b.toTensor();
    }
  } else {
    why.push_back("a bias computed in the forward");
  }
  SequentialStep& s = c.step;
  s.name = c.name;
  s.out = c.weight.size(0);
  s.bias = c.bias.defined();
  if (c.weight.scalar_type() != torch::kFloat) why.push_back("weights that are not float32");
  if (c.kind == "Linear") {
    s.type = "linear";
    if (c.weight.dim() != 2) {
      c.unsupported = fmt::format("a weight of shape {}", c10::str(c.weight.sizes()));
      return c;
    }
    s.in = c.weight.size(1);
  } else {
    s.type = "conv2d";
    const std::size_t dims = static_cast<std::size_t>(std::max<std::int64_t>(c.weight.dim() - 2, 1));
    // conv: stride, padding, dilation, groups; _convolution: + transposed, output_padding.
    const bool traced = op == "aten::_convolution";
    const auto stride = ConstInts(n->input(3), dims);
    const auto dilation = ConstInts(n->input(5), dims);
    const auto groups = torch::jit::toIValue(n->input(traced ? 8 : 6));
    std::optional<std::vector<std::int64_t>> padding;
    if (const auto p = torch::jit::toIValue(n->input(4)); p && p->isString()) {
      // 'valid': none; 'same': dilation * (k - 1) / 2 a side where that is whole.
      padding = std::vector<std::int64_t>(dims, 0);
      if (p->toStringRef() == "same" && dilation) {
        for (std::size_t d = 0; d < dims && d < dilation->size(); ++d) {
          const std::int64_t total = (*dilation)[d] * (c.weight.size(2 + static_cast<std::int64_t>(d)) - 1);
          if (total % 2 != 0) why.push_back("padding='same' of an even kernel (unequal sides)");
          (*padding)[d] = total / 2;
        }
      }
    } else {
      padding = ConstInts(n->input(4), dims);
    }
    if (traced) {
      const auto transposed = torch::jit::toIValue(n->input(6));
      if (!transposed || !transposed->isBool() || transposed->toBool())
        why.push_back("a transposed convolution");
    }
    if (!stride || !padding || !dilation || !groups || !groups->isInt()) {
      c.unsupported = "a stride, padding, dilation or groups computed in the forward";
      return c;
    }
    s.groups = groups->toInt();
    s.in = c.weight.size(1) * s.groups;
    if (c.kind == "Conv1d" && stride->size() == 1 && padding->size() == 1 &&
        dilation->size() == 1) {
      // A Conv1d is a conv of height 1 (the analog layer's input (N, C, 1, L)).
      s.kernel = {1, c.weight.size(2)};
      s.stride = {1, (*stride)[0]};
      s.padding = {0, (*padding)[0]};
      s.dilation = {1, (*dilation)[0]};
    } else if (c.kind == "Conv2d" && stride->size() == 2 && padding->size() == 2 &&
               dilation->size() == 2) {
      s.kernel = {c.weight.size(2), c.weight.size(3)};
      s.stride = *stride;
      s.padding = *padding;
      s.dilation = *dilation;
    } else {
      why.push_back(fmt::format("a {} (Conv1d and Conv2d only)", c.kind));
    }
  }
  for (std::size_t i = 0; i < why.size(); ++i) c.unsupported += (i ? ", " : "") + why[i];
  if (!c.unsupported.empty()) c.unsupported = "a crossbar layer takes no " + c.unsupported;
  return c;
}

// How many times the forward reads each tensor attribute, by path.
void CountReads(const torch::jit::Block* block, const Value* self,
                std::map<std::string, std::vector<const Node*>>& readers) {
  for (const Node* n : block->nodes()) {
    for (const torch::jit::Block* b : n->blocks()) CountReads(b, self, readers);
    if (n->kind() != c10::prim::GetAttr) continue;
    const auto path = AttrPath(n->output(), self);
    if (!path) continue;
    for (const torch::jit::Use& u : n->output()->uses()) readers[*path].push_back(u.user);
  }
}

std::string FirstLine(const std::string& what) { return what.substr(0, what.find('\n')); }

}  // namespace

namespace internal {

Slots::~Slots() {
  std::lock_guard<std::mutex> lock(SlotMutex());
  for (const std::int64_t id : ids_) SlotTable().erase(id);
}

std::int64_t Slots::Add(SlotFunction function) {
  static std::int64_t next = 0;
  std::lock_guard<std::mutex> lock(SlotMutex());
  const std::int64_t id = next++;
  SlotTable().emplace(id, std::move(function));
  ids_.push_back(id);
  return id;
}

ScriptGraph ReadScript(const std::string& bytes, const std::string& what) {
  ScriptGraph g;
  try {
    std::istringstream in(bytes);
    g.module = torch::jit::load(in, torch::kCPU);
    g.graph = torch::jit::toGraphFunction(g.module.get_method("forward").function()).graph()->copy();
    torch::jit::Inline(*g.graph);
    // Branches on the module's constants (a Conv2d's padding_mode) fold away.
    torch::jit::ConstantPropagation(g.graph);
  } catch (const c10::Error& e) {
    Fail("{}: not a TorchScript module with a forward ({})", what,
         FirstLine(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    Fail("{}: not a TorchScript module with a forward ({})", what, FirstLine(e.what()));
  }
  Require(g.graph->inputs().size() == 2,
          "{}: the module's forward takes {} arguments; aimc gives it the images only", what,
          g.graph->inputs().size() - 1);
  const Value* self = g.graph->inputs()[0];
  std::set<const Value*> non_negative = {g.graph->inputs()[1]};
  MarkNonNegative(g.graph->block(), non_negative);
  std::vector<Node*> nodes;
  CollectCalls(g.graph->block(), nodes);
  std::map<std::string, std::vector<const Node*>> readers;
  CountReads(g.graph->block(), self, readers);
  for (Node* n : nodes) {
    WeightCall c = ReadCall(g, n, self);
    c.takes_image = n->input(0) == g.graph->inputs()[1];
    c.non_negative = non_negative.count(n->input(0)) > 0;
    g.calls.push_back(std::move(c));
  }
  // A weight that the forward also reads elsewhere (tied weights) stays where it is.
  std::set<const Node*> call_nodes(nodes.begin(), nodes.end());
  for (WeightCall& c : g.calls) {
    if (c.weight_path.empty()) continue;
    for (const std::string& path : {c.weight_path, c.bias_path}) {
      if (path.empty()) continue;
      for (const Node* user : readers[path])
        if (!call_nodes.count(user) && c.unsupported.empty())
          c.unsupported = fmt::format("its tensor '{}' is also read by {} (tied weights)", path,
                                      user->kind().toQualString());
    }
  }
  return g;
}

void ReplaceCalls(ScriptGraph& script, const std::vector<std::int64_t>& slots) {
  torch::jit::Graph& graph = *script.graph;
  const c10::Symbol op = c10::Symbol::fromQualString("aimc::weight_layer");
  for (std::size_t i = 0; i < script.calls.size(); ++i) {
    if (slots.at(i) < 0) continue;
    Node* n = script.calls[i].node;
    torch::jit::WithInsertPoint guard(n);
    Value* slot = graph.insertConstant(slots[i]);
    Value* out = graph.insert(op, {n->input(0), slot});
    out->setType(n->output()->type());
    n->output()->replaceAllUsesWith(out);
    n->destroy();
    script.calls[i].node = nullptr;
  }
  torch::jit::EliminateDeadCode(script.graph);
}

ScriptRunner::ScriptRunner(torch::jit::Module module, std::shared_ptr<torch::jit::Graph> graph,
                           std::string what)
    : module_(std::move(module)),
      function_(std::make_shared<torch::jit::GraphFunction>(
          "forward", std::move(graph), nullptr, torch::jit::ExecutorExecutionMode::SIMPLE)),
      what_(std::move(what)) {}

torch::Tensor ScriptRunner::operator()(const torch::Tensor& input) const {
  torch::jit::Stack stack{c10::IValue(module_._ivalue()), input};
  try {
    function_->run(stack);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    Fail("{}: its forward failed on images of shape {} ({})", what_, c10::str(input.sizes()),
         FirstLine(e.what_without_backtrace()));
  }
  c10::IValue out = stack.back();
  if (out.isTuple() && !out.toTupleRef().elements().empty())
    out = out.toTupleRef().elements()[0];
  Require(out.isTensor(), "{}: its forward returns a {}, expected logits (a tensor)", what_,
          out.tagKind());
  return out.toTensor();
}

}  // namespace internal

namespace {

bool Linear(const SequentialStep& s) { return s.type == "linear"; }

// An imported module that runs as LibTorch runs it, its mapped weight layers on AnalogLayers.
// Chips side by side run as a batch K times larger (chip-major), so that every operation of
// the module, whatever it is, sees one chip's samples as a batch; each analog layer takes its
// chips' slices side by side in channels, as the chip products expect.
class ScriptNetworkImpl : public NetworkImpl {
 public:
  explicit ScriptNetworkImpl(const NetworkOptions& o) : NetworkImpl(o) {
    Require(o.script != nullptr, "network of arch torchscript: its TorchScript module is missing");
    Require(HashHex(*o.script) == o.script_hash,
            "network of arch torchscript: its TorchScript module has hash {}, the options say {}",
            HashHex(*o.script), o.script_hash);
    internal::ScriptGraph g = internal::ReadScript(*o.script, "the network's TorchScript module");
    std::vector<std::int64_t> slots(g.calls.size(), -1);
    std::set<std::string> owned;  // the module's tensors that analog layers hold now
    for (const SequentialStep& s : o.steps) {
      if (!s.is_crossbar()) continue;
      AnalogLayer layer = AddLayer(StepModuleName(s), CrossbarLayerOptions(s, o));
      const bool conv = !Linear(s);
      const std::int64_t slot = slots_.Add(
          [this, layer, conv](const torch::Tensor& x) mutable { return RunLayer(layer, conv, x); });
      bool found = false;
      for (std::size_t i = 0; i < g.calls.size(); ++i) {
        const internal::WeightCall& c = g.calls[i];
        if (c.name != s.name) continue;
        Require(c.unsupported.empty(), "network step '{}': the module's layer {}", s.name,
                c.unsupported);
        Require(c.step.type == s.type && c.step.in == s.in && c.step.out == s.out &&
                    (Linear(s) || (c.step.kernel == s.kernel && c.step.stride == s.stride &&
                                   c.step.padding == s.padding)),
                "network step '{}': the module's layer of that name has another shape", s.name);
        slots[i] = slot;
        owned.insert(c.weight_path);
        if (!c.bias_path.empty()) owned.insert(c.bias_path);
        if (!c.alpha_path.empty()) owned.insert(c.alpha_path);
        found = true;
      }
      Require(found, "network step '{}': the TorchScript module has no weight layer of that name",
              s.name);
    }
    internal::ReplaceCalls(g, slots);
    // The module's other tensors become the network's own (shared, not copied): trained by
    // fine-tuning, saved and loaded with the analog layers' weights.
    Mirror(g.module, *register_module("module", std::make_shared<torch::nn::Module>()), "",
           owned);
    runner_ = std::make_unique<internal::ScriptRunner>(g.module, g.graph,
                                                        "the network's TorchScript module");
    runner_->module().train(is_training());
    ops_ = ProbeOps(g);
  }

  void train(bool on) override {
    NetworkImpl::train(on);
    runner_->module().train(on);
  }

  torch::Tensor forward(const torch::Tensor& images) override {
    const std::int64_t k = is_training() ? 1 : chips();
    const std::int64_t n = images.size(0);
    const torch::Tensor x = k > 1 ? images.repeat({k, 1, 1, 1}) : images;
    torch::Tensor y = (*runner_)(x);
    Require(y.dim() == 2 && y.size(0) == k * n,
            "the network's TorchScript module returns shape {} for {} images, expected logits "
            "(N, classes)",
            c10::str(y.sizes()), k * n);
    if (k > 1) y = y.view({k, n, -1}).transpose(0, 1).reshape({n, -1});
    return y;
  }

  energy::OtherOps CountOtherOps(const std::vector<double>&) const override { return ops_; }

 private:
  // An analog layer on the chip-major batch: (K * n, ...) -> its chips side by side.
  torch::Tensor RunLayer(AnalogLayer& layer, bool conv, const torch::Tensor& x) {
    const std::int64_t k = is_training() ? 1 : chips();
    if (conv && x.dim() == 3)  // a Conv1d: a conv of height 1
      return RunLayer(layer, conv, x.unsqueeze(2)).squeeze(2);
    if (conv) {
      Require(x.dim() == 4, "analog layer of the module: a convolution's input of shape {} "
              "(N, C, L or N, C, H, W expected)", c10::str(x.sizes()));
      if (k == 1) return layer(x);
      const std::int64_t n = x.size(0) / k;
      const torch::Tensor xs = x.view({k, n, x.size(1), x.size(2), x.size(3)})
                                   .transpose(0, 1)
                                   .reshape({n, k * x.size(1), x.size(2), x.size(3)});
      const torch::Tensor y = layer(xs);
      return y.view({n, k, -1, y.size(2), y.size(3)})
          .transpose(0, 1)
          .reshape({k * n, -1, y.size(2), y.size(3)});
    }
    // Linear: any leading dimensions (tokens of a sequence).
    const std::int64_t f = x.size(-1);
    std::vector<std::int64_t> shape(x.sizes().begin(), x.sizes().end());
    const torch::Tensor x2 = x.reshape({-1, f});
    torch::Tensor y;
    if (k == 1) {
      y = layer(x2);
    } else {
      const std::int64_t m = x2.size(0) / k;
      y = layer(x2.view({k, m, f}).transpose(0, 1).reshape({m, k * f}));
      y = y.view({m, k, -1}).transpose(0, 1).reshape({k * m, -1});
    }
    shape.back() = y.size(-1);
    return y.reshape(shape);
  }

  void Mirror(torch::jit::Module m, torch::nn::Module& holder, const std::string& prefix,
              const std::set<std::string>& owned) {
    for (const auto& p : m.named_parameters(/*recurse=*/false))
      if (!owned.count(prefix + p.name)) holder.register_parameter(p.name, p.value, true);
    for (const auto& b : m.named_buffers(/*recurse=*/false))
      if (!owned.count(prefix + b.name)) holder.register_buffer(b.name, b.value);
    for (const auto& c : m.named_children()) {
      auto child = holder.register_module(c.name, std::make_shared<torch::nn::Module>());
      Mirror(c.value, *child, prefix + c.name + ".", owned);
    }
  }

  // The digital work per image outside the analog layers, from the sizes of every top-level
  // operation's tensors on two zero images (outputs of operations inside an if or a loop are
  // not counted). A float product (a convolution or Linear that stays digital, a matmul)
  // counts its multiply-accumulates; a BatchNorm, an element-wise product or an activation
  // function one per element (LayerNorm two); pooling and sums their additions or comparisons.
  energy::OtherOps ProbeOps(const internal::ScriptGraph& script) {
    std::shared_ptr<torch::jit::Graph> graph = script.graph->copy();
    struct Probe {
      std::string op;
      std::size_t first;  // index of its first input among the graph's outputs
      std::size_t inputs;
    };
    std::vector<Probe> probes;
    std::vector<Value*> outputs;  // returned as one tuple (a method has one output)
    const std::vector<Node*> nodes(graph->nodes().begin(), graph->nodes().end());
    for (Node* n : nodes) {
      const std::string op = n->kind().toQualString();
      if (!op.starts_with("aten::") || n->outputs().size() != 1 ||
          n->output()->type()->kind() != c10::TypeKind::TensorType)
        continue;
      Probe p{op, outputs.size(), 0};
      for (Value* in : n->inputs())
        if (in->type()->kind() == c10::TypeKind::TensorType) {
          outputs.push_back(in);
          ++p.inputs;
        }
      outputs.push_back(n->output());
      probes.push_back(p);
    }
    Value* tuple = graph->insertNode(graph->createTuple(outputs))->output();
    graph->eraseOutput(0);
    graph->registerOutput(tuple);
    const NetworkOptions& o = options();
    const bool was_training = is_training();
    train(false);
    torch::jit::Stack stack;
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor zeros = torch::zeros({2, o.in_channels, o.image_size, o.image_size});
      try {
        torch::jit::Stack s{c10::IValue(runner_->module()._ivalue()), zeros};
        auto function = torch::jit::GraphFunction("probe", graph, nullptr,
                                                  torch::jit::ExecutorExecutionMode::SIMPLE);
        function.run(s);
        stack = std::move(s);
      } catch (const c10::Error& e) {
        train(was_training);
        Fail("the network's TorchScript module does not run on images of {} channels, {}x{} "
             "({})",
             o.in_channels, o.image_size, o.image_size, FirstLine(e.what_without_backtrace()));
      } catch (...) {
        train(was_training);
        throw;
      }
    }
    train(was_training);
    const std::vector<c10::IValue> values = stack.back().toTupleRef().elements().vec();
    energy::OtherOps ops;
    const auto numel = [&](std::size_t i) {
      return i < values.size() && values[i].isTensor()
                 ? static_cast<double>(values[i].toTensor().numel()) / 2.0
                 : 0.0;
    };
    const auto starts = [](const std::string& op, std::initializer_list<const char*> names) {
      return std::any_of(names.begin(), names.end(),
                         [&](const char* n) { return op.starts_with(n); });
    };
    for (const Probe& p : probes) {
      const std::size_t out = p.first + p.inputs;
      const double y = numel(out), x = p.inputs > 0 ? numel(p.first) : 0.0;
      const std::string& op = p.op;
      if (starts(op, {"aten::conv", "aten::_convolution"}) && p.inputs >= 2 &&
          values[p.first + 1].isTensor()) {
        const torch::Tensor& w = values[p.first + 1].toTensor();
        const double per = static_cast<double>(w.numel() / std::max<std::int64_t>(w.size(0), 1));
        ops.float_macs += (op.find("transpose") != std::string::npos ? x : y) * per;
      } else if (starts(op, {"aten::linear", "aten::matmul", "aten::mm", "aten::bmm",
                             "aten::addmm", "aten::baddbmm"}) &&
                 p.inputs >= 1 && values[p.first].isTensor()) {
        const torch::Tensor& a = values[p.first].toTensor();
        ops.float_macs += y * static_cast<double>(a.dim() > 0 ? a.size(-1) : 1);
      } else if (starts(op, {"aten::max_pool", "aten::adaptive_max_pool", "aten::amax"})) {
        ops.compares += std::max(0.0, x - y);
      } else if (starts(op, {"aten::avg_pool", "aten::adaptive_avg_pool", "aten::mean",
                             "aten::sum"})) {
        ops.adds += std::max(0.0, x - y);
      } else if (starts(op, {"aten::add", "aten::sub", "aten::rsub"}) && p.inputs >= 2) {
        ops.adds += y;
      } else if (starts(op, {"aten::mul", "aten::div", "aten::batch_norm",
                             "aten::instance_norm", "aten::softmax", "aten::log_softmax",
                             "aten::gelu", "aten::silu", "aten::sigmoid", "aten::tanh",
                             "aten::hardswish", "aten::hardsigmoid", "aten::exp", "aten::erf"})) {
        ops.float_macs += y;
      } else if (starts(op, {"aten::layer_norm", "aten::group_norm"})) {
        ops.float_macs += 2.0 * y;
      }
    }
    return ops;
  }

  internal::Slots slots_;
  std::unique_ptr<internal::ScriptRunner> runner_;
  energy::OtherOps ops_;
};

}  // namespace

void ValidateScriptSteps(const NetworkOptions& o) {
  Require(!o.script_hash.empty(), "a torchscript network needs its script_hash");
  std::set<std::string> names;
  bool any = false;
  for (std::size_t i = 0; i < o.steps.size(); ++i) {
    const SequentialStep& s = o.steps[i];
    const std::string what = fmt::format("network step {} '{}'", i, s.name);
    Require(!s.name.empty(), "network step {}: no name", i);
    Require(s.is_weight_layer(), "{}: a torchscript network's steps are its conv2d and linear "
            "layers, not {}", what, s.type);
    Require(names.insert(s.name).second, "{}: a second step of that name", what);
    Require(s.mapping == "ternary" || s.mapping == "float" || s.mapping == "digital",
            "{}: mapping must be ternary, float or digital, got '{}'", what, s.mapping);
    Require(s.in >= 1 && s.out >= 1, "{}: in and out must be >= 1", what);
    const auto all = [](const std::vector<std::int64_t>& v, std::int64_t least) {
      return v.size() == 2 && v[0] >= least && v[1] >= least;
    };
    if (s.is_crossbar() && s.type == "conv2d")
      Require(all(s.kernel, 1) && all(s.stride, 1) && all(s.padding, 0) && all(s.dilation, 1) &&
                  s.groups >= 1 && s.in % s.groups == 0 && s.out % s.groups == 0,
              "{}: an analog conv2d needs kernel, stride and dilation pairs >= 1, padding >= 0 "
              "and groups that divide in and out",
              what);
    if (s.is_crossbar())
      Require(s.input_alpha > 0.0 && std::isfinite(s.input_alpha) && s.input_bits >= 0 &&
                  s.input_bits <= 16,
              "{}: input_alpha must be > 0 and input_bits in 0..16", what);
    Require(!s.signed_input || s.input_bits != 1,
            "{}: a signed input needs input_bits 0 or >= 2 (a sign bit and magnitude)", what);
    any = any || s.is_crossbar();
  }
  Require(any, "a torchscript network needs a weight layer on arrays");
}

Network MakeScriptNetwork(const NetworkOptions& options) {
  return std::make_shared<ScriptNetworkImpl>(options);
}

}  // namespace aimc::nn
