#include "aimc/nn/quant.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/nn/analog_layer.h"
#include "aimc/nn/network.h"

namespace aimc::nn {
namespace {

TEST(Ternarize, MatchesTwnDefinitionPerLayer) {
  // mean|w| = 1.52 / 4 = 0.38, delta = 0.266: levels (0, -1, +1, 0), scale = (0.5 + 0.9) / 2.
  const torch::Tensor w = torch::tensor({{0.1f, -0.5f, 0.9f, 0.02f}});
  const TernaryWeights t = Ternarize(w, /*per_channel=*/false);
  EXPECT_TRUE(torch::equal(t.levels, torch::tensor({{0, -1, 1, 0}}, torch::kInt8)));
  EXPECT_NEAR(t.scale.item<double>(), 0.7, 1e-6);  // float32 rounding of the inputs
}

TEST(Ternarize, PerChannelScalesAndAllZeroRow) {
  // Row 0: |w| all 2 -> delta 1.4, all above, scale 2. Row 1: (1, 0, 0, 0): mean 0.25, delta
  // 0.175, one above, scale 1. Row 2: zeros: levels 0, scale = delta = 0 is allowed.
  const torch::Tensor w = torch::tensor({{2.f, -2.f, 2.f, -2.f}, {1.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}});
  const TernaryWeights t = Ternarize(w, true);
  EXPECT_TRUE(torch::equal(t.levels, torch::tensor({{1, -1, 1, -1}, {1, 0, 0, 0}, {0, 0, 0, 0}}, torch::kInt8)));
  EXPECT_NEAR(t.scale[0].item<double>(), 2.0, 1e-7);
  EXPECT_NEAR(t.scale[1].item<double>(), 1.0, 1e-7);
  EXPECT_EQ(t.scale[2].item<double>(), 0.0);
  EXPECT_EQ(t.scale.sizes(), (std::vector<std::int64_t>{3, 1}));
}

TEST(Ternarize, SteGradientIsIdentity) {
  torch::manual_seed(3);
  const torch::Tensor w = torch::randn({5, 7}).requires_grad_(true);
  const torch::Tensor g = torch::randn({5, 7});
  const TernaryWeights t = Ternarize(w, true);
  const torch::Tensor q = TernarySte(w, t);
  EXPECT_TRUE(torch::allclose(q, t.scale * t.levels.to(torch::kFloat)));
  (q * g).sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), g));  // exactly g: d(w + const)/dw = 1
}

// Weights already on a grid of step 1 within [-3, 3]: the least-squares grid of 7 levels is
// that grid, step 1, exactly.
TEST(Ternarize, SevenLevelsOfWeightsOnTheirGridAreExact) {
  const torch::Tensor w = torch::tensor({{1.f, 2.f, 3.f, -3.f, 0.f, -1.f}});
  const TernaryWeights t = Ternarize(w, /*per_channel=*/false, 0.7, /*max_level=*/3);
  EXPECT_TRUE(torch::equal(t.levels, torch::tensor({{1, 2, 3, -3, 0, -1}}, torch::kInt8)));
  EXPECT_NEAR(t.scale.item<double>(), 1.0, 1e-7);
}

// The two conditions that define the least-squares uniform grid, checked per channel on random
// weights: every weight sits on its nearest grid point within [-L, L], and the step is the
// least-squares one for those levels. Its error is no larger than the grid that spans max|w|
// (where the iteration starts) and shrinks as levels are added.
TEST(Ternarize, MultiLevelGridIsTheLeastSquaresUniformGrid) {
  torch::manual_seed(7);
  const torch::Tensor w = torch::randn({6, 3, 5, 5});
  double previous = std::numeric_limits<double>::infinity();
  for (const int top : {1, 2, 4, 7}) {
    const TernaryWeights t = Ternarize(w, /*per_channel=*/true, 0.7, top);
    const torch::Tensor l = t.levels.to(torch::kFloat);
    EXPECT_LE(l.abs().max().item<double>(), top);
    EXPECT_EQ(l.abs().max().item<double>(), top);  // Gaussian weights reach the top level
    const double err = (w - t.scale * l).square().sum().item<double>();
    EXPECT_LT(err, previous) << top;
    previous = err;
    if (top == 1) continue;  // TWN: its own definition, tested above
    const torch::Tensor rows = w.reshape({6, -1});
    const torch::Tensor lr = l.reshape({6, -1});
    const torch::Tensor s = t.scale.reshape({6, 1});
    EXPECT_TRUE(torch::equal(lr, torch::round(rows / s).clamp(-top, top))) << top;
    const torch::Tensor ls = (rows * lr).sum(1, true) / lr.square().sum(1, true);
    EXPECT_TRUE(torch::allclose(s, ls, 1e-5, 0)) << top;
    const torch::Tensor peak = rows.abs().amax(1, true) / top;
    const double spanning = (rows - peak * torch::round(rows / peak)).square().sum().item<double>();
    EXPECT_LE(err, spanning * (1 + 1e-6)) << top;
  }
  // An all-zero channel stays at level 0 with a positive step.
  const TernaryWeights z = Ternarize(torch::zeros({2, 4}), true, 0.7, 3);
  EXPECT_EQ(z.levels.abs().sum().item<int>(), 0);
  EXPECT_TRUE((z.scale > 0).all().item<bool>());
  EXPECT_THROW(Ternarize(w, true, 0.7, 0), Error);
}

TEST(Pact, QuantizesToGridWithPactGradients) {
  // alpha 3, 2 bits: grid 0, 1, 2, 3.
  const torch::Tensor x = torch::tensor({-1.0f, 0.4f, 0.6f, 2.2f, 5.0f}).requires_grad_(true);
  const torch::Tensor alpha = torch::tensor({3.0f}).requires_grad_(true);
  const torch::Tensor y = PactQuantize(x, alpha, 2);
  EXPECT_TRUE(torch::allclose(y, torch::tensor({0.0f, 0.0f, 1.0f, 2.0f, 3.0f}), 0, 1e-6));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0f, 1.0f, 1.0f, 1.0f, 0.0f})));
  EXPECT_EQ(alpha.grad().item<float>(), 1.0f);  // one input above alpha
}

// A signed DAC of 3 bits: a sign bit and 2 of magnitude, grid alpha / 3 on both sides of 0.
// Gradients: 1 inside (-alpha, alpha); d/dalpha = +1 above alpha, -1 below -alpha (the clip
// moves with alpha on both sides). The inference form gives the same levels.
TEST(Pact, SignedInputsQuantizeSymmetricallyWithPactGradients) {
  const torch::Tensor x =
      torch::tensor({-5.0f, -2.2f, -0.4f, 0.4f, 0.6f, 2.2f, 4.0f, 5.0f}).requires_grad_(true);
  const torch::Tensor alpha = torch::tensor({3.0f}).requires_grad_(true);
  const torch::Tensor y = PactQuantize(x, alpha, 3, /*is_signed=*/true);
  const torch::Tensor expected = torch::tensor({-3.0f, -2.0f, 0.0f, 0.0f, 1.0f, 2.0f, 3.0f, 3.0f});
  EXPECT_TRUE(torch::allclose(y, expected, 0, 1e-6)) << y;
  EXPECT_TRUE(torch::allclose(PactQuantizeEval(x.detach(), alpha.detach(), 3, true), expected, 0,
                              1e-6));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), torch::tensor({0.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 0.0f, 0.0f})));
  EXPECT_EQ(alpha.grad().item<float>(), 1.0f);  // two above alpha, one below -alpha
  EXPECT_EQ(InputLevels(3, true), 3.0);
  EXPECT_EQ(InputLevels(3, false), 7.0);
  // 0 bits: the input as it is (no ReLU).
  EXPECT_TRUE(torch::equal(PactQuantize(x.detach(), alpha, 0, true), x.detach()));
}

TEST(LevelNoise, SampleStdMatchesSigmaPerLevel) {
  // n = 200,000 draws per level: the sample std's relative standard error is 1/sqrt(2n) =
  // 0.16 %; the bound 1 % is six of those.
  const std::int64_t n = 200000;
  const torch::Tensor levels = torch::cat({torch::full({n}, -1), torch::zeros({n}), torch::ones({n})}).to(torch::kInt8);
  at::Generator generator = MakeGenerator(11);
  const LevelNoise noise{{0.1, 0.2, 0.3}};
  const torch::Tensor draw = DrawLevelNoise(levels, noise, generator);
  for (int level = 0; level < 3; ++level) {
    const torch::Tensor part = draw.narrow(0, level * n, n);
    EXPECT_NEAR(part.std().item<double>() / noise.sigma[level], 1.0, 0.01) << level;
    EXPECT_NEAR(part.mean().item<double>(), 0.0, 6 * noise.sigma[level] / std::sqrt(n)) << level;
  }
  at::Generator again = MakeGenerator(11);
  EXPECT_TRUE(torch::equal(DrawLevelNoise(levels, noise, again), draw));
}

AnalogLayerOptions ConvOptions() {
  AnalogLayerOptions o;
  o.kind = LayerKind::kConv;
  o.in = 3;
  o.out = 8;
  o.kernel = 3;
  o.stride = 2;
  o.padding = 1;
  return o;
}

// Multi-level weights: the noise is relative to the full-scale weight (L level steps), so in
// level steps its std is L sigma of the level's sign (index 0 for negative, 1 zero, 2 positive).
TEST(LevelNoise, MultiLevelNoiseIsRelativeToTheFullScaleWeight) {
  const std::int64_t n = 200000;
  const torch::Tensor levels =
      torch::cat({torch::full({n}, -2), torch::zeros({n}), torch::full({n}, 3)}).to(torch::kInt8);
  at::Generator generator = MakeGenerator(12);
  const LevelNoise noise{{0.1, 0.2, 0.3}};
  const torch::Tensor draw = DrawLevelNoise(levels, noise, generator, /*max_level=*/3);
  for (int part = 0; part < 3; ++part)  // relative standard error 0.16 %, bound 1 %
    EXPECT_NEAR(draw.narrow(0, part * n, n).std().item<double>() / (3 * noise.sigma[part]), 1.0,
                0.01)
        << part;
}

TEST(AnalogLayer, MultiLevelLayerUsesItsLevelsInEveryProduct) {
  torch::manual_seed(2);
  AnalogLayerOptions o = ConvOptions();
  o.weight_levels = 9;
  AnalogLayer layer(o);
  layer->eval();
  EXPECT_EQ(layer->max_level(), 4);
  const torch::Tensor m = layer->TernaryMatrix().to(torch::kFloat);
  EXPECT_EQ(m.abs().max().item<double>(), 4.0);
  const TernaryWeights t = Ternarize(layer->Weight(), true, o.threshold_ratio, 4);
  EXPECT_TRUE(torch::equal(m, t.levels.reshape({8, -1}).t().to(torch::kFloat)));
  const torch::Tensor w = t.scale * t.levels.to(torch::kFloat);
  EXPECT_TRUE(torch::allclose(layer->EffectiveWeight(), w));
  EXPECT_TRUE(torch::allclose(layer->Scale(), t.scale.reshape({-1})));
  // Training noise relative to the full-scale weight: 4 level steps per unit of sigma.
  layer->train();
  layer->SetTrainingNoise(0.1, 3);
  const torch::Tensor noise = (layer->EffectiveWeight().detach() - w) / t.scale;
  EXPECT_NEAR(noise.std().item<double>(), 0.4, 0.4 * 0.15);  // 216 draws: 4.8 % standard error
  for (const int bad : {4, 1, 257}) {
    AnalogLayerOptions b = ConvOptions();
    b.weight_levels = bad;
    try {
      b.Validate();
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("weight_levels"), std::string::npos) << e.what();
    }
  }
}

// Continuous weights: each weight as it is, w / max|w| of its channel in [-1, 1] (the largest
// at full scale), in every product; TernaryMatrix refuses (no integer levels), LevelMatrix holds
// them; training noise is relative to the full-scale weight.
TEST(AnalogLayer, ContinuousWeightsAreTheWeightsScaledToFullScale) {
  torch::manual_seed(3);
  AnalogLayerOptions o = ConvOptions();
  o.weight_levels = kContinuousWeights;
  AnalogLayer layer(o);
  layer->eval();
  EXPECT_TRUE(layer->continuous());
  EXPECT_EQ(layer->max_level(), 1);
  const torch::Tensor w = layer->Weight().detach();
  const torch::Tensor peak = w.reshape({8, -1}).abs().amax(1);
  EXPECT_TRUE(torch::allclose(layer->Scale(), peak));
  const torch::Tensor m = layer->LevelMatrix();
  EXPECT_TRUE(torch::allclose(m, (w.reshape({8, -1}) / peak.view({8, 1})).t(), 0, 1e-7));
  EXPECT_TRUE(torch::allclose(m.abs().amax(0), torch::ones({8})));
  EXPECT_TRUE(torch::allclose(layer->EffectiveWeight(), w, 0, 1e-7));
  EXPECT_THROW(layer->TernaryMatrix(), Error);
  layer->train();
  layer->SetTrainingNoise(0.1, 3);
  const torch::Tensor noise =
      (layer->EffectiveWeight().detach() - w) / peak.view({8, 1, 1, 1});
  // 216 draws: the standard error of a sigma is 1 / sqrt(2 * 216) = 4.8 %, the bound 3 of them.
  EXPECT_NEAR(noise.std().item<double>(), 0.1, 0.1 * 0.15);
}

// A grouped conv on arrays: its groups lie on the diagonal blocks of one in * kh * kw x out
// matrix (zeros elsewhere), which the layer's own grouped product, the dense product of a
// digital chip and the per-MVM route all compute alike.
TEST(AnalogLayer, GroupedConvHoldsItsGroupsOnDiagonalBlocks) {
  torch::manual_seed(5);
  AnalogLayerOptions o = ConvOptions();  // 3 -> 8, 3x3
  o.in = 6;
  o.groups = 2;
  AnalogLayer layer(o);
  layer->eval();
  EXPECT_EQ(layer->Weight().sizes(), (std::vector<std::int64_t>{8, 3, 3, 3}));
  const torch::Tensor t = layer->TernaryMatrix();
  ASSERT_EQ(t.sizes(), (std::vector<std::int64_t>{54, 8}));
  EXPECT_EQ(t.narrow(0, 0, 27).narrow(1, 4, 4).abs().sum().item<int>(), 0);
  EXPECT_EQ(t.narrow(0, 27, 27).narrow(1, 0, 4).abs().sum().item<int>(), 0);
  const TernaryWeights q = layer->Quantized();
  EXPECT_TRUE(torch::equal(layer->Grouped(layer->Dense(q.levels)), q.levels));
  const torch::Tensor x = torch::rand({2, 6, 7, 7}) * 5;
  const torch::Tensor reference = layer->forward(x);
  const torch::Tensor direct = torch::nn::functional::conv2d(
      layer->QuantizeInput(x), q.scale * q.levels.to(torch::kFloat),
      torch::nn::functional::Conv2dFuncOptions().bias(layer->Bias()).stride(2).padding(1).groups(2));
  EXPECT_TRUE(torch::allclose(reference, direct, 1e-5, 1e-5));
  layer->SetChipProduct(layer->DigitalProduct(2));
  const torch::Tensor two = layer->forward(torch::cat({x, x}, 1));
  EXPECT_TRUE(torch::allclose(two.narrow(1, 0, 8), reference, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(two.narrow(1, 8, 8), reference, 1e-5, 1e-5));
  layer->ClearChipProduct();
  layer->SetMvm([&](const torch::Tensor& columns) { return columns.matmul(t.to(torch::kFloat)); });
  EXPECT_TRUE(torch::allclose(layer->forward(x), reference, 1e-5, 1e-5));
  AnalogLayerOptions bad = o;
  bad.groups = 4;  // does not divide 6
  EXPECT_THROW(bad.Validate(), Error);
}

// The paper's networks keep their JSON (and model hashes) with 3 levels; K levels round-trip.
TEST(Network, WeightLevelsAreSavedOnlyWhenNotTernary) {
  NetworkOptions o;
  EXPECT_FALSE(o.ToJson().contains("weight_levels"));
  o.weight_levels = 5;
  const NetworkOptions back = NetworkOptions::FromJson(o.ToJson());
  EXPECT_EQ(back.weight_levels, 5);
  auto net = MakeNetwork(back, 1);
  for (const auto& layer : net->AnalogLayers()) EXPECT_EQ(layer->max_level(), 2);
  nlohmann::json bad = o.ToJson();
  bad["weight_levels"] = 6;
  try {
    NetworkOptions::FromJson(bad);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_levels must be 0 (continuous) or odd"), std::string::npos);
  }
}

TEST(AnalogLayer, TrainingNoiseIsRelativeToTheUnitWeight) {
  torch::manual_seed(1);
  AnalogLayerOptions o;
  o.in = 400;
  o.out = 120;
  AnalogLayer layer(o);
  layer->train();
  layer->SetTrainingNoise(0.3, 5);
  const TernaryWeights t = Ternarize(layer->Weight(), true);
  const torch::Tensor noise = (layer->EffectiveWeight().detach() - t.scale * t.levels.to(torch::kFloat)) / t.scale;
  // 48,000 draws: relative standard error of the std 0.32 %, bound 2 % (six of those).
  EXPECT_NEAR(noise.std().item<double>(), 0.3, 0.3 * 0.02);
  // A fresh draw every forward pass in training.
  EXPECT_FALSE(torch::equal(layer->EffectiveWeight(), layer->EffectiveWeight()));
  layer->eval();
  EXPECT_TRUE(torch::allclose(layer->EffectiveWeight(), t.scale * t.levels.to(torch::kFloat)));
}

// Reference: the layer's own forward pass. A chip product made of the layer's digital weights
// computes the same thing (the quantizer and the product as LibTorch does them, in another order
// of a few float operations); an affine fold equals the affine map applied afterwards; chips side
// by side give each chip's own output, from a shared input or from their own channels.
TEST(AnalogLayer, ChipProductReproducesTheLayerAndFoldsAffineMaps) {
  torch::manual_seed(2);
  AnalogLayer layer(ConvOptions());
  layer->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 9, 9}) * 5;
  const torch::Tensor own = layer->forward(x);
  layer->SetChipProduct(layer->DigitalProduct());
  EXPECT_TRUE(torch::allclose(layer->forward(x), own, 1e-5, 1e-5));

  const torch::Tensor s = torch::rand({8}) + 0.5, t = torch::rand({8});
  layer->FoldAffine(s, t);
  EXPECT_TRUE(torch::allclose(layer->forward(x), own * s.view({1, -1, 1, 1}) + t.view({1, -1, 1, 1}),
                              1e-5, 1e-5));

  // Two chips: the first the layer itself, the second with doubled weights and no bias.
  ChipProduct two = layer->DigitalProduct(2);
  two.parts[0].weight.narrow(0, 8, 8).mul_(2);
  two.bias.narrow(0, 8, 8).zero_();
  layer->SetChipProduct(two);
  EXPECT_EQ(layer->chips(), 2);
  const torch::Tensor plain = own - layer->Bias().view({1, -1, 1, 1});
  const torch::Tensor shared = layer->forward(x);  // 3 input channels: one input for both
  ASSERT_EQ(shared.size(1), 16);
  EXPECT_TRUE(torch::allclose(shared.narrow(1, 0, 8), own, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(shared.narrow(1, 8, 8), 2 * plain, 1e-5, 1e-5));
  // 6 input channels: chip k reads channels [3k, 3k + 3).
  const torch::Tensor y = layer->forward(torch::cat({x, x * 0.5}, 1));
  EXPECT_TRUE(torch::allclose(y.narrow(1, 0, 8), own, 1e-5, 1e-5));
  const torch::Tensor half = layer->forward(x * 0.5).narrow(1, 8, 8);  // shared, chip 2
  EXPECT_TRUE(torch::allclose(y.narrow(1, 8, 8), half, 1e-5, 1e-5));

  // A product in two parts over input channels [0, 1) and [1, 3) with an elementwise post.
  ChipProduct split;
  const torch::Tensor w = layer->DigitalProduct().parts[0].weight;
  split.parts.push_back({w.narrow(1, 0, 1), 0, [](const torch::Tensor& v) { return v * 3; }});
  split.parts.push_back({w.narrow(1, 1, 2), 1, nullptr});
  layer->SetChipProduct(split);
  torch::Tensor x0 = x.clone(), x12 = x.clone();
  x0.narrow(1, 1, 2).zero_();
  x12.narrow(1, 0, 1).zero_();
  layer->ClearChipProduct();
  const torch::Tensor expected = 3 * (layer->forward(x0) - layer->Bias().view({1, -1, 1, 1})) +
                                 layer->forward(x12) - layer->Bias().view({1, -1, 1, 1});
  layer->SetChipProduct(split);
  EXPECT_TRUE(torch::allclose(layer->forward(x), expected, 1e-4, 1e-4));
  layer->ClearChipProduct();
  EXPECT_TRUE(torch::equal(layer->forward(x), own));
  // A product that does not fit the layer is refused.
  ChipProduct wrong = layer->DigitalProduct();
  wrong.parts[0].weight = torch::zeros({8, 4, 3, 3});
  EXPECT_THROW(layer->SetChipProduct(wrong), Error);
}

// Reference: the sum written out by hand with LibTorch's conv2d (stride 2, zero padding 1) on the
// quantized input: x * W + 3 (x^2 * W2) + bias for a part with a term (pre x^2, post 3 v). The
// fold of an affine map equals the map applied afterwards whether the term is linear in its
// weight (absorbed) or not (the scale kept outside); chips side by side each get their own
// terms. Float rounding of a few operations in another order: 1e-4.
TEST(AnalogLayer, ProductTermsAddBeforeThePostAndFoldWithThePart) {
  namespace F = torch::nn::functional;
  torch::manual_seed(3);
  AnalogLayer layer(ConvOptions());
  layer->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 9, 9}) * 5;
  const torch::Tensor xq = layer->QuantizeInput(x);
  const auto conv = [](const torch::Tensor& in, const torch::Tensor& w) {
    return F::conv2d(in, w, F::Conv2dFuncOptions().stride(2).padding(1));
  };
  const torch::Tensor w = layer->DigitalProduct().parts[0].weight;
  const torch::Tensor w2 = torch::randn({8, 3, 3, 3});
  const torch::Tensor bias = layer->Bias().view({1, -1, 1, 1});
  const auto square = [](const torch::Tensor& v) { return v * v; };
  const auto triple = [](const torch::Tensor& v) { return v * 3; };
  const torch::Tensor expected = conv(xq, w) + 3 * conv(xq * xq, w2) + bias;
  const torch::Tensor s = torch::rand({8}) + 0.5, t = torch::rand({8});
  const auto affine = [&](const torch::Tensor& y) {
    return y * s.view({1, -1, 1, 1}) + t.view({1, -1, 1, 1});
  };
  for (const bool linear : {true, false}) {
    ChipProduct product = layer->DigitalProduct();
    // Linear in its weight: the factor 3 inside the weight, else as the term's post.
    product.parts[0].terms.push_back(
        {linear ? w2 * 3 : w2, square, linear ? Elementwise() : Elementwise(triple)});
    layer->SetChipProduct(product);
    EXPECT_TRUE(torch::allclose(layer->forward(x), expected, 1e-4, 1e-4)) << linear;
    layer->FoldAffine(s, t);
    EXPECT_TRUE(torch::allclose(layer->forward(x), affine(expected), 1e-4, 1e-4)) << linear;
  }
  // Two chips side by side, shared input: the second with its term weight doubled.
  ChipProduct two = layer->DigitalProduct(2);
  two.parts[0].terms.push_back({torch::cat({w2, 2 * w2}), square, triple});
  layer->SetChipProduct(two);
  const torch::Tensor y = layer->forward(x);
  EXPECT_TRUE(torch::allclose(y.narrow(1, 0, 8), expected, 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(y.narrow(1, 8, 8), conv(xq, w) + 6 * conv(xq * xq, w2) + bias, 1e-4,
                              1e-4));
  // Refused: a term weight of another shape than its part's, a pre that moves 0.
  ChipProduct wrong = layer->DigitalProduct();
  wrong.parts[0].terms.push_back({torch::zeros({8, 3, 1, 1}), square, nullptr});
  EXPECT_THROW(layer->SetChipProduct(wrong), Error);
  wrong.parts[0].terms[0] = {w2, [](const torch::Tensor& v) { return v + 1; }, nullptr};
  EXPECT_THROW(layer->SetChipProduct(wrong), Error);
  layer->ClearChipProduct();
}

// Reference: the definition of GaussianOfVariance, sqrt(z) xi with xi standard normal. Over
// 200,000 draws of z = 4 the sample mean is 0 and the std 2 within 5 standard errors (mean:
// 5 * 2 / sqrt(n) = 0.022; std: 5 * 2 / sqrt(2 n) = 0.016). A sample's draw depends only on its
// read number: the same reads in other batches are the same numbers, later reads are new ones.
TEST(AnalogLayer, GaussianOfVarianceDrawsPerRead) {
  const Elementwise noise = GaussianOfVariance(5);
  const torch::Tensor z = torch::full({2000, 100}, 4.0);
  torch::Tensor all;
  {
    const ReadIndexScope reads(0);
    all = noise(z);
  }
  EXPECT_NEAR(all.mean().item<double>(), 0.0, 0.022);
  EXPECT_NEAR(all.std().item<double>(), 2.0, 0.016);
  {
    const ReadIndexScope reads(700);
    EXPECT_TRUE(torch::equal(noise(z.narrow(0, 0, 300)), all.narrow(0, 700, 300)));
  }
  EXPECT_FALSE(ReadIndexScope::Current().has_value());
  // Outside a scope: reads 0, 1, ... then 2, 3, ...
  const torch::Tensor first = noise(z.narrow(0, 0, 2));
  const torch::Tensor second = noise(z.narrow(0, 0, 2));
  EXPECT_TRUE(torch::equal(first, all.narrow(0, 0, 2)));
  EXPECT_TRUE(torch::equal(second, all.narrow(0, 2, 2)));
  EXPECT_TRUE(torch::equal(noise(-z.narrow(0, 0, 1)), torch::zeros({1, 100})));
}

// Reference: the network's eval forward pass with its BatchNorms. Programmed with its own digital
// products, the network folds every BatchNorm into the layer before it and computes the same
// logits, for one chip and for three side by side; cleared, it is the network it was.
TEST(Network, ProgrammedDigitalChipsFoldBatchNormAndReproduceTheNetwork) {
  for (const std::string arch : {"lenet5", "resnet26"}) {
    NetworkOptions o;
    o.arch = arch;
    const Network net = MakeNetwork(o, 3);
    // BatchNorm statistics away from the identity, so that the fold matters.
    torch::NoGradGuard no_grad;
    for (auto& b : net->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.5, 0.5);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    }
    net->eval();
    const torch::Tensor images = torch::rand({4, 1, 28, 28});
    const torch::Tensor reference = net->forward(images);
    for (const std::int64_t chips : {1, 3}) {
      std::vector<ChipProduct> products;
      for (const auto& layer : net->AnalogLayers()) products.push_back(layer->DigitalProduct(chips));
      net->ProgramChips(products);
      EXPECT_EQ(net->chips(), chips);
      const torch::Tensor logits = net->forward(images).view({4, chips, -1});
      for (std::int64_t k = 0; k < chips; ++k) {
        EXPECT_TRUE(torch::allclose(logits.select(1, k), reference, 1e-4, 1e-4)) << arch << " chip " << k;
      }
      net->ClearChips();
      EXPECT_TRUE(torch::equal(net->forward(images), reference));
    }
  }
}

TEST(AnalogLayer, MvmHookInIm2colLayoutReproducesTheConvolution) {
  torch::manual_seed(4);
  AnalogLayer layer(ConvOptions());
  layer->eval();
  const torch::Tensor x = torch::rand({2, 3, 9, 9}) * 5;
  const torch::Tensor reference = layer->forward(x);
  const torch::Tensor t = layer->TernaryMatrix();
  EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{27, 8}));
  EXPECT_TRUE(((t == -1) | (t == 0) | (t == 1)).all().item<bool>());
  int calls = 0;
  layer->SetMvm([&](const torch::Tensor& columns) {
    ++calls;
    EXPECT_EQ(columns.size(1), 27);
    // Inputs reach the hook as levels times the step of the 4-bit quantizer.
    const torch::Tensor levels = columns / layer->input_step();
    EXPECT_TRUE(torch::allclose(levels, levels.round(), 0, 1e-4));
    return columns.matmul(t.to(torch::kFloat));
  });
  const torch::Tensor hooked = layer->forward(x);
  EXPECT_EQ(calls, 1);
  // Reference: LibTorch's conv2d on scale * levels; float sums of 27 terms in another order.
  EXPECT_TRUE(torch::allclose(hooked, reference, 1e-5, 1e-5));
}

TEST(Network, SameSeedSameWeights) {
  NetworkOptions o;
  const Network a = MakeNetwork(o, 9), b = MakeNetwork(o, 9), c = MakeNetwork(o, 10);
  const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool all_equal_c = true;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i]));
    all_equal_c = all_equal_c && torch::equal(pa[i], pc[i]);
  }
  EXPECT_FALSE(all_equal_c);
}

TEST(Network, LeNet5LayersAndFc1Array) {
  const Network net = MakeNetwork(NetworkOptions{}, 1);
  EXPECT_EQ(net->layer_names(), (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2", "fc3"}));
  const AnalogLayer fc1 = net->layers()[2];
  EXPECT_EQ(fc1->TernaryMatrix().sizes(), (std::vector<std::int64_t>{400, 120}));  // Fig. 15b
  EXPECT_EQ(net->forward(torch::rand({3, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{3, 10}));
  NetworkOptions big;
  big.image_size = 32;
  big.float_first_last = true;
  const Network n32 = MakeNetwork(big, 1);
  EXPECT_EQ(n32->forward(torch::rand({2, 1, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 10}));
  EXPECT_EQ(n32->AnalogLayers().size(), 3u);
}

// CNN 2 as the paper runs it: ResNet-26 on 32 x 32 RGB images, 100 classes.
NetworkOptions Cnn2OnCifar100() {
  NetworkOptions o;
  o.arch = "resnet26";
  o.in_channels = 3;
  o.image_size = 32;
  o.classes = 100;
  return o;
}

TEST(Network, ResNet26On32And28) {
  NetworkOptions o = Cnn2OnCifar100();
  const Network net = MakeNetwork(o, 1);
  // 26 layers on the main path plus the two 1x1 projection shortcuts.
  EXPECT_EQ(net->layers().size(), 28u);
  net->eval();
  EXPECT_EQ(net->forward(torch::rand({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 100}));
  o.in_channels = 1;
  o.image_size = 28;
  o.width = 2;
  const Network narrow = MakeNetwork(o, 1);
  narrow->eval();
  EXPECT_EQ(narrow->forward(torch::rand({2, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{2, 100}));
  EXPECT_EQ(narrow->layers().back()->TernaryMatrix().sizes(), (std::vector<std::int64_t>{128, 100}));
}

// BatchNorm statistics and affine parameters away from the identity, so that a BatchNorm skipped
// or applied in the wrong place changes the logits.
void RandomizeNorms(NetworkImpl& net) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  for (auto& b : net.named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.3, 0.3);
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
  }
  for (auto& p : net.named_parameters())
    if (p.key().find("bn") != std::string::npos) p.value().uniform_(0.5, 1.5);
}

// A registered submodule of `net` by name, as its type.
template <typename M>
std::shared_ptr<M> Child(NetworkImpl& net, const std::string& name) {
  for (const auto& c : net.named_children())
    if (c.key() == name) return std::dynamic_pointer_cast<M>(c.value());
  ADD_FAILURE() << "no submodule " << name;
  return nullptr;
}

// Reference: LeNet-5 as CNN 1 of the paper states it (Fig. 13a: conv 6@5x5, BN, maxpool 2, conv
// 16@5x5, BN, maxpool 2, FC 400-120-84-10 with BN after each hidden FC; each layer's ReLU is its
// input quantizer), composed here from the network's own modules. The network's forward must give
// the same logits (1e-6: the same float operations in the same order).
TEST(Network, LeNet5ComputesTheLayersOfCnn1InTheirOrder) {
  const Network net = MakeNetwork(NetworkOptions{}, 1);
  RandomizeNorms(*net);
  net->eval();
  torch::manual_seed(2);
  const torch::Tensor images = torch::rand({4, 1, 28, 28});
  namespace F = torch::nn::functional;
  const auto layer = [&](const char* name) { return Child<AnalogLayerImpl>(*net, name); };
  const auto bn2d = [&](const char* name) { return Child<torch::nn::BatchNorm2dImpl>(*net, name); };
  const auto bn1d = [&](const char* name) { return Child<torch::nn::BatchNorm1dImpl>(*net, name); };
  torch::NoGradGuard no_grad;
  torch::Tensor x = F::max_pool2d(bn2d("bn1")->forward(layer("conv1")->forward(images)),
                                  F::MaxPool2dFuncOptions(2));
  x = F::max_pool2d(bn2d("bn2")->forward(layer("conv2")->forward(x)), F::MaxPool2dFuncOptions(2));
  ASSERT_EQ(x.sizes(), (std::vector<std::int64_t>{4, 16, 5, 5}));  // 400 inputs of FC1
  x = bn1d("bn3")->forward(layer("fc1")->forward(x.flatten(1)));
  x = bn1d("bn4")->forward(layer("fc2")->forward(x));
  const torch::Tensor reference = layer("fc3")->forward(x);
  const torch::Tensor logits = net->forward(images);
  EXPECT_TRUE(torch::allclose(logits, reference, 1e-6, 1e-6));
  // The logits depend on the image, and an image's logits not on the rest of the batch.
  EXPECT_FALSE(torch::allclose(logits[0], logits[1]));
  EXPECT_TRUE(torch::allclose(net->forward(images.narrow(0, 2, 1)), logits.narrow(0, 2, 1), 1e-5,
                              1e-5));
}

// The weights per layer of CNN 2 (ResNet-26, CIFAR variant of He et al. 2016: 3x3 stem of 16,
// stages of 16/32/64 channels x 4 basic blocks, 1x1 projections into stages 2 and 3, FC): rows x
// cols of each layer's ternary matrix, counted by hand from that definition, 373,424 weights in
// all at width 1 with 3 input channels and 100 classes.
TEST(Network, ResNet26HasTheLayersOfCnn2) {
  NetworkOptions o = Cnn2OnCifar100();
  const Network net = MakeNetwork(o, 1);
  std::int64_t weights = 0;
  for (const auto& l : net->layers()) weights += l->TernaryMatrix().numel();
  EXPECT_EQ(weights, 432 + 8 * 2304 + (4608 + 7 * 9216) + 512 + (18432 + 7 * 36864) + 2048 + 6400);
  EXPECT_EQ(net->layers().front()->TernaryMatrix().sizes(), (std::vector<std::int64_t>{27, 16}));
  EXPECT_EQ(Child<AnalogLayerImpl>(*net, "s2b1_short")->TernaryMatrix().sizes(),
            (std::vector<std::int64_t>{16, 32}));
  EXPECT_EQ(Child<AnalogLayerImpl>(*net, "s3b1_conv1")->TernaryMatrix().sizes(),
            (std::vector<std::int64_t>{288, 64}));
}

// Reference: the residual blocks composed from the network's own modules as He et al. define a
// basic block, relu(BN(conv2(BN(conv1 x))) + shortcut(x)), the shortcut a 1x1 projection with BN
// where the shape changes, then global average pooling and FC. At 28 x 28 and width 2 as well.
TEST(Network, ResNet26ComputesResidualBlocks) {
  NetworkOptions o = Cnn2OnCifar100();
  o.in_channels = 1;
  o.image_size = 28;
  o.width = 2;
  const Network net = MakeNetwork(o, 3);
  RandomizeNorms(*net);
  net->eval();
  torch::manual_seed(4);
  const torch::Tensor images = torch::rand({2, 1, 28, 28});
  const auto layer = [&](const std::string& name) { return Child<AnalogLayerImpl>(*net, name); };
  const auto bn = [&](const std::string& name) {
    return Child<torch::nn::BatchNorm2dImpl>(*net, name);
  };
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::relu(bn("stem_bn")->forward(layer("stem")->forward(images)));
  for (int stage = 1; stage <= 3; ++stage) {
    for (int b = 1; b <= 4; ++b) {
      const std::string n = fmt::format("s{}b{}", stage, b);
      const torch::Tensor y = bn(n + "_bn2")->forward(
          layer(n + "_conv2")->forward(bn(n + "_bn1")->forward(layer(n + "_conv1")->forward(x))));
      const bool projection = stage > 1 && b == 1;
      const torch::Tensor shortcut =
          projection ? bn(n + "_short_bn")->forward(layer(n + "_short")->forward(x)) : x;
      x = torch::relu(y + shortcut);
    }
  }
  ASSERT_EQ(x.sizes(), (std::vector<std::int64_t>{2, 128, 7, 7}));
  const torch::Tensor reference = layer("fc")->forward(x.mean({2, 3}));
  EXPECT_TRUE(torch::allclose(net->forward(images), reference, 1e-5, 1e-5));
}

}  // namespace
}  // namespace aimc::nn
