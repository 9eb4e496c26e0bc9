#include "aimc/nn/network.h"


#include <torch/torch.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/common/rng.h"
#include "aimc/nn/weight_levels.h"
#include "script_network.h"
#include "sequential.h"

namespace aimc::nn {
namespace F = torch::nn::functional;

const FieldTable<NetworkOptions>& NetworkOptionsFields() {
  static const FieldTable<NetworkOptions> table = [] {
    using O = NetworkOptions;
    FieldTable<O> t;
    t.String("arch",
             "lenet5 (CNN 1), resnet26 (CNN 2), sequential or torchscript (imported networks)",
             [](O& o) -> std::string& { return o.arch; }, [](const nlohmann::json& v) {
               const std::string a = v.get<std::string>();
               return a == "lenet5" || a == "resnet26" || a == "sequential" ||
                              a == "torchscript"
                          ? std::string()
                          : std::string("must be lenet5, resnet26, sequential or torchscript "
                                        "(imported networks)");
             });
    t.Integer<std::int64_t>("in_channels", "", "channels of the input images",
                            [](O& o) -> std::int64_t& { return o.in_channels; },
                            range::Between(1, 64));
    t.Integer<std::int64_t>("image_size", "", "side of the square input images",
                            [](O& o) -> std::int64_t& { return o.image_size; },
                            range::Between(1, 1024));
    t.Integer<std::int64_t>("classes", "", "classes (logits)",
                            [](O& o) -> std::int64_t& { return o.classes; },
                            range::Between(2, 1000));
    t.Integer<std::int64_t>("width", "", "resnet26: channels 16/32/64 times width",
                            [](O& o) -> std::int64_t& { return o.width; }, range::Between(1, 16));
    t.Bool("ternary", "ternary weights (false: a float network)",
           [](O& o) -> bool& { return o.ternary; });
    t.Integer<int>("act_bits", "", "bits of every analog layer's input (0: float)",
                   [](O& o) -> int& { return o.act_bits; }, range::Between(0, 16, " (0: float)"));
    t.Bool("per_channel", "ternary scale per output channel",
           [](O& o) -> bool& { return o.per_channel; });
    t.Double("threshold_ratio", "", "TWN threshold ratio",
             [](O& o) -> double& { return o.threshold_ratio; },
             range::All({range::AtLeast(0), range::Below(10)}));
    t.Bool("float_first_last", "keep the first and last layer float and digital",
           [](O& o) -> bool& { return o.float_first_last; });
    // Ternary (3) is the default: the paper's networks keep their bytes and model hashes.
    t.Integer<int>("weight_levels", "", "weight levels on arrays (3: ternary; odd)",
                   [](O& o) -> int& { return o.weight_levels; }, WeightLevelsRule())
        .OmitWhenDefault();
    // Only a sequential network has steps: the built-in networks keep the bytes (and the model
    // hashes) they always had.
    t.Custom(
         "steps", "", "arch sequential: its steps in forward order", FieldKind::kJson,
         [](const O& o) {
           nlohmann::json steps = nlohmann::json::array();
           for (const SequentialStep& step : o.steps) steps.push_back(step.ToJson());
           return steps;
         },
         [](O& o, const nlohmann::json& v) {
           Require(v.is_array(), "'steps' must be a list");
           o.steps.clear();
           for (std::size_t i = 0; i < v.size(); ++i)
             o.steps.push_back(
                 SequentialStep::FromJson(v.at(i), fmt::format("network options step {}", i)));
         })
        .OmitWhen([](const O& o) { return o.arch != "sequential" && o.arch != "torchscript"; });
    t.String("script_hash", "arch torchscript: the content hash of its TorchScript module",
             [](O& o) -> std::string& { return o.script_hash; })
        .OmitWhen([](const O& o) { return o.arch != "torchscript"; });
    return t;
  }();
  return table;
}

void NetworkOptions::Validate() const {
  NetworkOptionsFields().Validate(*this);
  const bool imported = arch == "sequential" || arch == "torchscript";
  Require(imported || steps.empty(), "steps are for arch 'sequential' and 'torchscript' only");
  Require(arch == "torchscript" || (script_hash.empty() && !script),
          "script_hash is for arch 'torchscript' only");
  if (!imported) {
    Require(in_channels == 1 || in_channels == 3, "in_channels must be 1 or 3, got {}",
            in_channels);
    Require(image_size == 28 || image_size == 32, "image_size must be 28 or 32, got {}",
            image_size);
  }
  if (arch == "sequential") ValidateSequential(*this);
  if (arch == "torchscript") ValidateScriptSteps(*this);
}

nlohmann::json NetworkOptions::ToJson() const { return NetworkOptionsFields().ToJson(*this); }

NetworkOptions NetworkOptions::FromJson(const nlohmann::json& json) {
  NetworkOptions o;
  NetworkOptionsFields().FromJson(json, o, "network options: ");
  o.Validate();
  return o;
}

std::vector<AnalogLayer> NetworkImpl::AnalogLayers() const {
  std::vector<AnalogLayer> analog;
  for (const auto& layer : layers_)
    if (layer->analog()) analog.push_back(layer);
  return analog;
}

void NetworkImpl::SetTrainingNoise(double sigma_w, std::uint64_t seed) {
  for (std::size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->SetTrainingNoise(sigma_w, Rng::Derive(seed, i));
}

void NetworkImpl::RegisterFold(const AnalogLayer& layer, std::shared_ptr<torch::nn::Module> norm,
                               double eps) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].ptr() == layer.ptr()) {
      folds_.push_back({i, std::move(norm), eps});
      return;
    }
  }
  Fail("internal error: a BatchNorm registered after an unknown layer");
}

void NetworkImpl::ProgramChips(std::vector<ChipProduct> products) {
  Require(!is_training(), "chips are programmed for inference: call eval() first");
  std::size_t next = 0;
  const std::int64_t chips = products.empty() ? 1 : products.front().chips;
  ClearChips();
  try {
    for (auto& layer : layers_) {
      if (!layer->analog()) {
        layer->SetChipProduct(layer->DigitalProduct(chips));
        continue;
      }
      Require(next < products.size(), "ProgramChips: {} products for more ternary layers",
              products.size());
      Require(products[next].chips == chips,
              "ProgramChips: every layer must hold the same number of chips ({} vs {})",
              products[next].chips, chips);
      layer->SetChipProduct(std::move(products[next++]));
    }
    Require(next == products.size(), "ProgramChips: {} products for {} ternary layers",
            products.size(), next);
    // Eval-mode BatchNorm is y * s + t per channel, s = gamma / sqrt(var + eps),
    // t = beta - mean * s: a per-output scale and offset of the layer before it.
    torch::NoGradGuard no_grad;
    for (const Fold& f : folds_) {
      const auto params = f.norm->named_parameters(false);
      const auto buffers = f.norm->named_buffers(false);
      const torch::Tensor s = params["weight"] / (buffers["running_var"] + f.eps).sqrt();
      const torch::Tensor t = params["bias"] - buffers["running_mean"] * s;
      layers_[f.layer]->FoldAffine(s, t);
    }
  } catch (...) {
    ClearChips();
    throw;
  }
  folded_ = true;
  chips_ = chips;
}

void NetworkImpl::ClaimChips(const void* owner, const std::string& what) {
  Require(chip_owner_ == nullptr || chip_owner_ == owner,
          "the network is already programmed with {}: a second chip would silently reprogram "
          "it; destroy the first before programming {} (or run several chips side by side with "
          "EvaluateChips)",
          chip_owner_what_, what);
  chip_owner_ = owner;
  chip_owner_what_ = what;
}

void NetworkImpl::ReleaseChips(const void* owner) {
  if (chip_owner_ != owner) return;
  chip_owner_ = nullptr;
  chip_owner_what_.clear();
}

void NetworkImpl::ClearChips() {
  for (auto& layer : layers_) layer->ClearChipProduct();
  folded_ = false;
  chips_ = 1;
}

AnalogLayer NetworkImpl::AddLayer(const std::string& name, AnalogLayerOptions layer) {
  AnalogLayer module = register_module(name, AnalogLayer(layer));
  layers_.push_back(module);
  layer_names_.push_back(name);
  return module;
}

AnalogLayerOptions NetworkImpl::LayerOptions(LayerKind kind, std::int64_t in, std::int64_t out,
                                             bool first, bool last) const {
  AnalogLayerOptions o;
  o.kind = kind;
  o.in = in;
  o.out = out;
  o.ternary = options_.ternary && !(options_.float_first_last && (first || last));
  o.per_channel = options_.per_channel;
  o.threshold_ratio = options_.threshold_ratio;
  o.weight_levels = options_.weight_levels;
  o.input_bits = options_.act_bits;
  if (first) {
    // The image is the first layer's input: pixels are already 8-bit levels in [0, 1].
    o.input_bits = options_.act_bits == 0 ? 0 : 8;
    o.learn_alpha = false;
    o.input_alpha = 1.0;
  }
  return o;
}

namespace {

AnalogLayerOptions Conv(AnalogLayerOptions o, std::int64_t kernel, std::int64_t stride,
                        std::int64_t padding) {
  o.kernel = kernel;
  o.stride = stride;
  o.padding = padding;
  return o;
}

// CNN 1 (Fig. 13a), LeNet-5: conv 6@5x5, maxpool 2, conv 16@5x5, maxpool 2, FC 400-120-84-10.
// BatchNorm after every layer but the last (digital, Fig. 15a). Each layer's input quantizer is
// the ReLU: max pooling commutes with it, so conv-BN-pool-ReLU equals conv-BN-ReLU-pool.
class LeNet5Impl : public NetworkImpl {
 public:
  explicit LeNet5Impl(const NetworkOptions& o) : NetworkImpl(o) {
    const std::int64_t pad = o.image_size == 28 ? 2 : 0;  // both sizes give 16x5x5 = 400 at FC1
    conv1_ = AddLayer("conv1", Conv(LayerOptions(LayerKind::kConv, o.in_channels, 6, true, false), 5, 1, pad));
    bn1_ = AddNorm("bn1", conv1_, torch::nn::BatchNorm2d(6));
    conv2_ = AddLayer("conv2", Conv(LayerOptions(LayerKind::kConv, 6, 16, false, false), 5, 1, 0));
    bn2_ = AddNorm("bn2", conv2_, torch::nn::BatchNorm2d(16));
    fc1_ = AddLayer("fc1", LayerOptions(LayerKind::kLinear, 400, 120, false, false));
    bn3_ = AddNorm("bn3", fc1_, torch::nn::BatchNorm1d(120));
    fc2_ = AddLayer("fc2", LayerOptions(LayerKind::kLinear, 120, 84, false, false));
    bn4_ = AddNorm("bn4", fc2_, torch::nn::BatchNorm1d(84));
    fc3_ = AddLayer("fc3", LayerOptions(LayerKind::kLinear, 84, o.classes, false, true));
  }

  torch::Tensor forward(const torch::Tensor& images) override {
    torch::Tensor x = F::max_pool2d(Normalize(bn1_, conv1_(images)), F::MaxPool2dFuncOptions(2));
    x = F::max_pool2d(Normalize(bn2_, conv2_(x)), F::MaxPool2dFuncOptions(2));
    x = Normalize(bn3_, fc1_(x.flatten(1)));
    x = Normalize(bn4_, fc2_(x));
    return fc3_(x);
  }

  // Max pooling 2 x 2 after conv1 and conv2: three comparisons per output of four inputs.
  energy::OtherOps CountOtherOps(const std::vector<double>& layer_outputs) const override {
    energy::OtherOps ops;
    ops.compares = 0.75 * (layer_outputs.at(0) + layer_outputs.at(1));
    return ops;
  }

 private:
  AnalogLayer conv1_{nullptr}, conv2_{nullptr}, fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::BatchNorm1d bn3_{nullptr}, bn4_{nullptr};
};

// CNN 2 (Fig. 14a), ResNet-26 for 32x32 (He et al. 2016, CIFAR variant): a 3x3 stem, three
// stages of four basic blocks (16, 32, 64 channels times width; stride 2 into stages 2 and 3,
// with 1x1 projection shortcuts), global average pooling, FC: 1 + 3*4*2 + 1 = 26 layers.
// Any input size works (global pooling); 28x28 gives 7x7 maps in the last stage.
class ResNet26Impl : public NetworkImpl {
 public:
  explicit ResNet26Impl(const NetworkOptions& o) : NetworkImpl(o) {
    const std::int64_t w = o.width;
    stem_ = AddLayer("stem", Conv(LayerOptions(LayerKind::kConv, o.in_channels, 16 * w, true, false), 3, 1, 1));
    stem_bn_ = AddNorm("stem_bn", stem_, torch::nn::BatchNorm2d(16 * w));
    std::int64_t in = 16 * w;
    for (int stage = 0; stage < 3; ++stage) {
      const std::int64_t out = (16 << stage) * w;
      for (int b = 0; b < 4; ++b) {
        const std::int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        const std::string name = fmt::format("s{}b{}", stage + 1, b + 1);
        Block block;
        block.conv1 = AddLayer(name + "_conv1", Conv(LayerOptions(LayerKind::kConv, in, out, false, false), 3, stride, 1));
        block.bn1 = AddNorm(name + "_bn1", block.conv1, torch::nn::BatchNorm2d(out));
        block.conv2 = AddLayer(name + "_conv2", Conv(LayerOptions(LayerKind::kConv, out, out, false, false), 3, 1, 1));
        block.bn2 = AddNorm(name + "_bn2", block.conv2, torch::nn::BatchNorm2d(out));
        if (stride != 1 || in != out) {
          block.shortcut = AddLayer(name + "_short", Conv(LayerOptions(LayerKind::kConv, in, out, false, false), 1, stride, 0));
          block.shortcut_bn = AddNorm(name + "_short_bn", block.shortcut, torch::nn::BatchNorm2d(out));
        }
        blocks_.push_back(block);
        in = out;
      }
    }
    fc_ = AddLayer("fc", LayerOptions(LayerKind::kLinear, in, o.classes, false, true));
  }

  torch::Tensor forward(const torch::Tensor& images) override {
    torch::Tensor x = torch::relu(Normalize(stem_bn_, stem_(images)));
    for (auto& b : blocks_) {
      torch::Tensor y = Normalize(b.bn2, b.conv2(Normalize(b.bn1, b.conv1(x))));
      const torch::Tensor shortcut = b.shortcut ? Normalize(b.shortcut_bn, b.shortcut(x)) : x;
      x = torch::relu(y + shortcut);
    }
    return fc_(x.mean({2, 3}));
  }

  // Each block adds its shortcut to conv2's output (one add per element); the global average
  // adds up the last block's output.
  energy::OtherOps CountOtherOps(const std::vector<double>& layer_outputs) const override {
    energy::OtherOps ops;
    double last = 0.0;
    for (std::size_t i = 0; i < layer_names().size(); ++i) {
      const std::string& name = layer_names()[i];
      if (name.size() > 6 && name.compare(name.size() - 6, 6, "_conv2") == 0) {
        ops.adds += layer_outputs.at(i);
        last = layer_outputs.at(i);
      }
    }
    ops.adds += last;
    return ops;
  }

 private:
  struct Block {
    AnalogLayer conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, shortcut_bn{nullptr};
  };
  AnalogLayer stem_{nullptr}, fc_{nullptr};
  torch::nn::BatchNorm2d stem_bn_{nullptr};
  std::vector<Block> blocks_;
};

}  // namespace

Network MakeNetwork(const NetworkOptions& options, std::uint64_t seed) {
  options.Validate();
  torch::manual_seed(seed);
  if (options.arch == "lenet5") return std::make_shared<LeNet5Impl>(options);
  if (options.arch == "sequential") return MakeSequential(options);
  if (options.arch == "torchscript") return MakeScriptNetwork(options);
  return std::make_shared<ResNet26Impl>(options);
}

torch::Tensor ToInput(const torch::Tensor& images) {
  return images.to(torch::kFloat).div_(255.0);
}

}  // namespace aimc::nn
