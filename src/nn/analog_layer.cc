#include "aimc/nn/analog_layer.h"

#include "aimc/nn/analog_op.h"

#include <atomic>
#include <cmath>
#include <memory>

#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "analog_kernels.h"

namespace aimc::nn {
namespace F = torch::nn::functional;

void AnalogLayerOptions::Validate() const {
  Require(in >= 1 && out >= 1, "layer in/out must be >= 1, got {}/{}", in, out);
  Require(kernel >= 1 && stride >= 1 && padding >= 0,
          "layer kernel/stride must be >= 1 and padding >= 0, got {}/{}/{}", kernel, stride,
          padding);
  Require(kernel_w >= 0 && stride_w >= 0 && padding_w >= -1 && dilation >= 1 && dilation_w >= 0,
          "layer kernel_w/stride_w must be >= 0 (0: the height's), padding_w >= -1 (-1: the "
          "height's), dilation >= 1 and dilation_w >= 0, got {}/{}/{}/{}/{}",
          kernel_w, stride_w, padding_w, dilation, dilation_w);
  Require(input_bits >= 0 && input_bits <= 16, "layer input_bits must be in 0..16, got {}",
          input_bits);
  Require(input_alpha > 0.0, "layer input_alpha must be > 0, got {}", input_alpha);
  Require(!signed_input || input_bits != 1,
          "layer input_bits must be 0 or >= 2 for a signed input (a sign bit and magnitude)");
  Require(threshold_ratio >= 0.0 && threshold_ratio < 10.0,
          "layer threshold_ratio must be in [0, 10), got {}", threshold_ratio);
  Require(IsWeightLevels(weight_levels), "layer weight_levels must be {}, got {}",
          kWeightLevelsRule, weight_levels);
  Require(groups >= 1 && in % groups == 0 && out % groups == 0 &&
              (groups == 1 || kind == LayerKind::kConv),
          "layer groups {} must be >= 1, divide in {} and out {}, and be 1 for a Linear", groups,
          in, out);
}

TernaryWeights AnalogLayerImpl::Quantized() const {
  return QuantizeWeights(weight_, options_.per_channel, options_.threshold_ratio,
                         options_.weight_levels);
}

torch::Tensor AnalogLayerImpl::Dense(const torch::Tensor& w) const {
  const std::int64_t g = options_.groups;
  if (g == 1) return w;
  std::vector<std::int64_t> shape = w.sizes().vec();
  const std::int64_t per_in = shape[1], per_out = options_.out / g;
  shape[1] = options_.in;
  torch::Tensor dense = torch::zeros(shape, w.options());
  for (std::int64_t k = 0; k < g; ++k)
    dense.narrow(0, k * per_out, per_out).narrow(1, k * per_in, per_in).copy_(
        w.narrow(0, k * per_out, per_out));
  return dense;
}

torch::Tensor AnalogLayerImpl::Grouped(const torch::Tensor& dense) const {
  const std::int64_t g = options_.groups;
  if (g == 1) return dense;
  const std::int64_t per_in = options_.in / g, per_out = options_.out / g;
  std::vector<torch::Tensor> blocks;
  for (std::int64_t k = 0; k < g; ++k)
    blocks.push_back(dense.narrow(0, k * per_out, per_out).narrow(1, k * per_in, per_in));
  return torch::cat(blocks, 0);
}

AnalogLayerImpl::AnalogLayerImpl(const AnalogLayerOptions& options) : options_(options) {
  options_.Validate();
  const std::int64_t fan_in = rows() / options_.groups;
  // Kaiming-uniform like torch's Conv2d/Linear default, drawn from the global generator that
  // MakeNetwork seeds.
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  torch::Tensor w = options_.kind == LayerKind::kConv
                        ? torch::empty({options_.out, options_.in / options_.groups,
                                        options_.Kernel2()[0],
                                        options_.Kernel2()[1]})
                        : torch::empty({options_.out, options_.in});
  w.uniform_(-std::sqrt(3.0) * bound, std::sqrt(3.0) * bound);
  weight_ = register_parameter("weight", w);
  if (options_.bias) bias_ = register_parameter("bias", torch::zeros({options_.out}));
  const torch::Tensor alpha = torch::full({1}, options_.input_alpha);
  alpha_ = options_.learn_alpha ? register_parameter("alpha", alpha)
                                : register_buffer("alpha", alpha);
}

std::int64_t AnalogLayerImpl::rows() const {
  return options_.kind == LayerKind::kConv
             ? options_.in * options_.Kernel2()[0] * options_.Kernel2()[1]
             : options_.in;
}

std::int64_t AnalogLayerImpl::cols() const { return options_.out; }

double AnalogLayerImpl::input_step() const {
  if (options_.input_bits == 0) return 0.0;
  return alpha_.item<double>() / InputLevels(options_.input_bits, options_.signed_input);
}

double AnalogLayerImpl::input_full_scale() const {
  return options_.input_bits > 0 ? alpha_.item<double>() : 1.0;
}

torch::Tensor AnalogLayerImpl::QuantizeInput(const torch::Tensor& x) const {
  return PactQuantize(x, alpha_, options_.input_bits, options_.signed_input);
}

torch::Tensor AnalogLayerImpl::InputColumns(const torch::Tensor& xq) const {
  if (options_.kind == LayerKind::kLinear) return xq.reshape({xq.size(0), -1});
  const torch::Tensor cols = F::unfold(xq, F::UnfoldFuncOptions(options_.Kernel2())
                                               .padding(options_.Padding2())
                                               .stride(options_.Stride2())
                                               .dilation(options_.Dilation2()));
  return cols.transpose(1, 2).reshape({-1, rows()});
}

torch::Tensor AnalogLayerImpl::TernaryMatrix() const {
  Require(options_.ternary, "TernaryMatrix: this layer keeps float weights");
  Require(!continuous(), "TernaryMatrix: this layer has continuous weights (LevelMatrix)");
  return LevelMatrix().to(torch::kInt8);  // integer levels: exact through float
}

torch::Tensor AnalogLayerImpl::LevelMatrix() const {
  Require(options_.ternary, "LevelMatrix: this layer keeps float weights");
  const TernaryWeights t = Quantized();
  return Dense(t.levels.to(torch::kFloat)).reshape({options_.out, -1}).t().contiguous();
}

void AnalogLayerImpl::SetChipDeviation(torch::Tensor deviation) {
  Require(options_.ternary, "SetChipDeviation: this layer keeps float weights");
  Require(deviation.sizes() == weight_.sizes(), "SetChipDeviation: shape {}, the weight's is {}",
          c10::str(deviation.sizes()), c10::str(weight_.sizes()));
  deviation_ = deviation.detach().to(weight_.dtype());
}

torch::Tensor AnalogLayerImpl::Scale() const {
  Require(options_.ternary, "Scale: this layer keeps float weights");
  const TernaryWeights t = Quantized();
  return t.scale.reshape({-1}).expand({options_.out}).contiguous();
}

void AnalogLayerImpl::SetTrainingNoise(double sigma_w, std::uint64_t seed) {
  Require(std::isfinite(sigma_w) && sigma_w >= 0.0, "sigma_w,train must be >= 0, got {}", sigma_w);
  train_sigma_ = sigma_w;
  train_generator_ = MakeGenerator(seed);
}

namespace {

// A per-output-channel vector shaped to broadcast over a layer output (N, C[, H, W]).
torch::Tensor PerChannel(const torch::Tensor& v, std::int64_t dims) {
  return dims == 4 ? v.view({1, -1, 1, 1}) : v.view({1, -1});
}

// Scales a weight (out, in[, k, k]) along its outputs.
torch::Tensor ScaleOutputs(const torch::Tensor& w, const torch::Tensor& scale) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(w.dim()), 1);
  shape[0] = -1;
  return (w * scale.view(shape)).contiguous();
}

thread_local std::optional<std::int64_t> current_read_index;

}  // namespace

ReadIndexScope::ReadIndexScope(std::int64_t first) : previous_(current_read_index) {
  current_read_index = first;
}

ReadIndexScope::~ReadIndexScope() { current_read_index = previous_; }

std::optional<std::int64_t> ReadIndexScope::Current() { return current_read_index; }

Elementwise GaussianOfVariance(std::uint64_t seed) {
  auto next = std::make_shared<std::atomic<std::int64_t>>(0);
  return [seed, next](const torch::Tensor& z) {
    const std::int64_t n = z.size(0);
    const std::optional<std::int64_t> scope = ReadIndexScope::Current();
    const std::int64_t first = scope ? *scope : next->fetch_add(n);
    torch::Tensor xi = torch::empty_like(z, torch::MemoryFormat::Contiguous);
    // A float product whose samples are each contiguous (one chip's block of a side-by-side
    // product too): sqrt(max(z, 0)) * xi in one loop per sample, right after its draws.
    // The result is written over the draws.
    const bool fused = z.scalar_type() == torch::kFloat && n > 0 && z[0].is_contiguous();
    const std::int64_t per = n > 0 ? z.numel() / n : 0;
    const float* zp = fused ? z.data_ptr<float>() : nullptr;
    float* xp = fused ? xi.data_ptr<float>() : nullptr;
    // One generator per sample: its draws depend on its read number only, not on the batch or
    // the threads, so the samples are drawn in parallel. Each is drawn in place: normal_ is
    // what randn runs on a new tensor, so the numbers are those of randn(z[i].sizes(), g).
    at::parallel_for(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) {
        at::Generator g = MakeGenerator(Rng::Derive(seed, static_cast<std::uint64_t>(first + i)));
        xi[i].normal_(0.0, 1.0, g);
        if (fused) kernels::SqrtTimes(zp + i * z.stride(0), xp + i * per, xp + i * per, per);
      }
    });
    return fused ? xi : z.clamp_min(0).sqrt_().mul_(xi);
  };
}

void AnalogLayerImpl::SetChipProduct(ChipProduct product) {
  Require(product.chips >= 1, "chip product: chips must be >= 1, got {}", product.chips);
  Require(!product.parts.empty(), "chip product: no parts");
  const std::int64_t out = product.chips * options_.out;
  const bool conv = options_.kind == LayerKind::kConv;
  const std::vector<std::int64_t> k = options_.Kernel2();
  for (ProductPart& part : product.parts) {
    const torch::Tensor& w = part.weight;
    const bool shape_ok =
        w.defined() && w.dim() == (conv ? 4 : 2) && w.size(0) == out && w.size(1) >= 1 &&
        part.channel0 >= 0 && part.channel0 + w.size(1) <= options_.in &&
        (!conv || (w.size(2) == k[0] && w.size(3) == k[1]));
    Require(shape_ok, "chip product: a part's weight has shape {} at channel {}, which does not fit "
            "the layer ({} chips x {} outputs, {} inputs)", w.defined() ? c10::str(w.sizes()) : "none",
            part.channel0, product.chips, options_.out, options_.in);
    part.weight = w.to(torch::kFloat).contiguous();
    for (ProductTerm& term : part.terms) {
      Require(term.weight.defined() && term.weight.sizes() == part.weight.sizes(),
              "chip product: a term's weight has shape {}, its part's {}",
              term.weight.defined() ? c10::str(term.weight.sizes()) : "none",
              c10::str(part.weight.sizes()));
      term.weight = term.weight.to(torch::kFloat).contiguous();
      // Zero padding pads pre(x) with zeros: right only where pre(0) = 0.
      Require(!term.pre || term.pre(torch::zeros({1})).abs().max().item<double>() == 0.0,
              "chip product: a term's pre must map 0 to 0 (convolutions pad its output with 0)");
    }
  }
  for (const torch::Tensor* v : {&product.out_scale, &product.bias})
    Require(!v->defined() || (v->dim() == 1 && v->size(0) == out),
            "chip product: scale and bias must have {} entries", out);
  if (product.out_scale.defined()) product.out_scale = product.out_scale.to(torch::kFloat);
  if (product.bias.defined()) product.bias = product.bias.to(torch::kFloat).contiguous();
  chip_ = std::move(product);
  AbsorbOutScale();
}

ChipProduct AnalogLayerImpl::DigitalProduct(std::int64_t chips) const {
  torch::NoGradGuard no_grad;
  torch::Tensor w = weight_;
  if (options_.ternary) {
    const TernaryWeights t = Quantized();
    w = t.scale * t.levels.to(weight_.scalar_type());
  }
  // The arrays' dense product (ChipForward's), each group on its diagonal block.
  w = Dense(w);
  std::vector<std::int64_t> repeat(static_cast<std::size_t>(w.dim()), 1);
  repeat[0] = chips;
  ChipProduct product;
  product.chips = chips;
  product.parts.push_back({w.repeat(repeat), 0, nullptr});
  if (bias_.defined()) product.bias = bias_.detach().repeat({chips});
  return product;
}

void AnalogLayerImpl::FoldAffine(const torch::Tensor& s, const torch::Tensor& t) {
  Require(chip_.has_value(), "FoldAffine: the layer has no chip product");
  torch::NoGradGuard no_grad;
  ChipProduct& c = *chip_;
  const torch::Tensor s_all = s.to(torch::kFloat).repeat({c.chips});
  const torch::Tensor t_all = t.to(torch::kFloat).repeat({c.chips});
  c.bias = c.bias.defined() ? c.bias * s_all + t_all : t_all;
  c.out_scale = c.out_scale.defined() ? c.out_scale * s_all : s_all;
  AbsorbOutScale();
}

void AnalogLayerImpl::AbsorbOutScale() {
  torch::NoGradGuard no_grad;
  ChipProduct& c = *chip_;
  if (!c.out_scale.defined() || c.parts.size() != 1 || c.parts[0].post) return;
  ProductPart& part = c.parts[0];
  // A term with a post (a noise draw) is not linear in its weight: the scale stays outside.
  for (const ProductTerm& term : part.terms)
    if (term.post) return;
  part.weight = ScaleOutputs(part.weight, c.out_scale);
  for (ProductTerm& term : part.terms) term.weight = ScaleOutputs(term.weight, c.out_scale);
  c.out_scale = torch::Tensor();
}

torch::Tensor AnalogLayerImpl::ChipForward(const torch::Tensor& xq) const {
  const ChipProduct& c = *chip_;
  const std::int64_t n = xq.size(0);
  const std::int64_t in = options_.in;
  // The same input for every chip (the image), or each chip's own channels side by side.
  const bool shared = xq.size(1) == in;
  Require(shared || xq.size(1) == c.chips * in,
          "a chip layer got {} input channels, expected {} or {} ({} chips)", xq.size(1), in,
          c.chips * in, c.chips);
  const std::int64_t groups = shared ? 1 : c.chips;
  const bool bias_in_product = c.parts.size() == 1 && !c.parts[0].post && !c.out_scale.defined();
  torch::Tensor y;
  for (const ProductPart& part : c.parts) {
    const std::int64_t width = part.weight.size(1);
    torch::Tensor x = xq;
    if (width != in) {
      if (groups == 1) {
        x = xq.narrow(1, part.channel0, width);
      } else {
        std::vector<std::int64_t> split{n, c.chips, in};
        std::vector<std::int64_t> merged{n, c.chips * width};
        for (std::int64_t d = 2; d < xq.dim(); ++d) {
          split.push_back(xq.size(d));
          merged.push_back(xq.size(d));
        }
        x = xq.view(split).narrow(2, part.channel0, width).reshape(merged);
      }
    }
    torch::Tensor p = Product(x, part.weight, bias_in_product ? c.bias : torch::Tensor(), groups);
    for (const ProductTerm& term : part.terms) {
      torch::Tensor q = Product(term.pre ? term.pre(x) : x, term.weight, torch::Tensor(), groups);
      p.add_(term.post ? term.post(q) : q);
    }
    if (part.post) p = part.post(p);
    y = y.defined() ? y.add_(p) : p;
  }
  if (c.out_scale.defined()) y.mul_(PerChannel(c.out_scale, y.dim()));
  if (!bias_in_product && c.bias.defined()) y.add_(PerChannel(c.bias, y.dim()));
  return y;
}

torch::Tensor AnalogLayerImpl::EffectiveWeight() {
  const bool training = is_training();
  return TrainingWeight(weight_, options_, training ? deviation_ : torch::Tensor(),
                        training ? train_sigma_ : 0.0,
                        train_generator_ ? &*train_generator_ : nullptr);
}

torch::Tensor TrainingWeight(const torch::Tensor& weight, const AnalogLayerOptions& options,
                             const torch::Tensor& deviation, double sigma_w,
                             at::Generator* generator) {
  if (!options.ternary) return weight;
  const TernaryWeights t = QuantizeWeights(weight, options.per_channel, options.threshold_ratio,
                                           options.weight_levels);
  torch::Tensor w = TernarySte(weight, t);
  if (deviation.defined()) w = w + t.scale * deviation;
  if (sigma_w > 0.0) {
    Require(generator != nullptr, "training noise without a generator");
    // Fig. 12: noise after quantization, relative to the unit weight (the full-scale weight,
    // L level steps, for multi-level weights: DrawLevelNoise); no gradient flows into the
    // draw, and the scale is held fixed for it.
    torch::Tensor noise;
    {
      torch::NoGradGuard no_grad;
      noise = t.scale * at::randn(weight.sizes(), *generator, weight.options()) *
              (sigma_w * MaxLevelOf(options.weight_levels));
    }
    w = w + noise;
  }
  return w;
}

torch::Tensor AnalogLayerImpl::Product(const torch::Tensor& xq, const torch::Tensor& w,
                                       const torch::Tensor& bias, std::int64_t groups) const {
  return LayerProduct(options_, xq, w, bias, groups);
}

torch::Tensor LayerProduct(const AnalogLayerOptions& options, const torch::Tensor& xq,
                           const torch::Tensor& w, const torch::Tensor& bias,
                           std::int64_t groups) {
  if (options.kind == LayerKind::kConv) {
    return F::conv2d(xq, w, F::Conv2dFuncOptions()
                                .bias(bias)
                                .stride(options.Stride2())
                                .padding(options.Padding2())
                                .dilation(options.Dilation2())
                                .groups(groups));
  }
  if (groups == 1) return F::linear(xq, w, bias);
  // Chips side by side: one batched product per chip, (K, N, in) x (K, in, out).
  const std::int64_t n = xq.size(0);
  const torch::Tensor x = xq.view({n, groups, -1}).transpose(0, 1);
  const torch::Tensor wk = w.view({groups, w.size(0) / groups, -1}).transpose(1, 2);
  torch::Tensor y = torch::bmm(x, wk).transpose(0, 1).reshape({n, -1});
  if (bias.defined()) y.add_(bias);
  return y;
}

torch::Tensor AnalogLayerImpl::forward(const torch::Tensor& x) {
  if (chip_ && !is_training()) {
    const torch::Tensor xq =
        PactQuantizeEval(x, alpha_, options_.input_bits, options_.signed_input);
    if (observer_) observer_(xq);
    return ChipForward(xq);
  }
  const torch::Tensor xq = QuantizeInput(x);
  if (observer_) observer_(xq);
  if (!mvm_) return Product(xq, EffectiveWeight(), bias_, options_.groups);
  Require(options_.ternary, "an MVM function is set on a float layer");
  const torch::Tensor columns = InputColumns(xq);
  torch::Tensor y = mvm_(columns);
  Require(y.dim() == 2 && y.size(0) == columns.size(0) && y.size(1) == cols(),
          "MVM function returned shape {}, expected [{}, {}]", c10::str(y.sizes()),
          columns.size(0), cols());
  y = y * Scale();
  if (bias_.defined()) y = y + bias_;
  if (options_.kind == LayerKind::kLinear) return y;
  const std::int64_t n = x.size(0);
  const auto k = options_.Kernel2(), s = options_.Stride2(), p = options_.Padding2(),
             d = options_.Dilation2();
  const std::int64_t h = (x.size(2) + 2 * p[0] - d[0] * (k[0] - 1) - 1) / s[0] + 1;
  const std::int64_t w = (x.size(3) + 2 * p[1] - d[1] * (k[1] - 1) - 1) / s[1] + 1;
  return y.reshape({n, h, w, cols()}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace aimc::nn
