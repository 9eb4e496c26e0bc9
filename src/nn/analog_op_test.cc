#include "aimc/nn/analog_op.h"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "aimc/nn/quant.h"
#include "analog_kernels.h"

namespace aimc::nn {
namespace {

// Inputs around the DAC's range: below 0, inside, above alpha, and exactly on 0 and alpha.
torch::Tensor DacInputs(std::int64_t n, float alpha) {
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({n}) * alpha;
  x[0] = 0.0f;
  x[1] = alpha;
  x[2] = -alpha;
  return x;
}

// n = 70,001: several of the loops' 4,096-element blocks and a tail shorter than a vector.
// PactQuantizeEval's ATen passes (it takes the loop itself for float, contiguous tensors).
TEST(AnalogKernels, DacForwardEqualsAtensPassesBitForBit) {
  for (const bool is_signed : {false, true}) {
    for (const int bits : {1, 4, 8}) {
      if (is_signed && bits == 1) continue;
      const float alpha = 1.3f;
      const torch::Tensor x = DacInputs(70001, alpha);
      const torch::Tensor a = torch::full({1}, alpha);
      const torch::Tensor step_t = a / InputLevels(bits, is_signed);
      const torch::Tensor expected =
          x.clamp(is_signed ? -alpha : 0.0f, alpha).div_(step_t).round_().mul_(step_t);
      // PactQuantizeEval on a strided tensor takes those passes; on a contiguous one, the loop.
      const torch::Tensor strided = torch::stack({x, x}, 1).select(1, 0);
      ASSERT_FALSE(strided.is_contiguous());
      EXPECT_TRUE(torch::equal(PactQuantizeEval(strided, a, bits, is_signed), expected));
      EXPECT_TRUE(torch::equal(PactQuantizeEval(x, a, bits, is_signed), expected));
      const float step = step_t.item<float>();
      torch::Tensor out = torch::empty_like(x);
      kernels::DacForward(x.data_ptr<float>(), out.data_ptr<float>(), x.numel(),
                          is_signed ? -alpha : 0.0f, alpha, step);
      EXPECT_TRUE(torch::equal(out, expected)) << "signed " << is_signed << ", bits " << bits;
    }
  }
}

TEST(AnalogKernels, DacBackwardEqualsPactsGradients) {
  for (const bool is_signed : {false, true}) {
    const float alpha = 0.9f;
    const torch::Tensor x = DacInputs(70001, alpha);
    const torch::Tensor g = torch::randn({x.numel()});
    // PACT's gradients from their definition (clip(x, lo, alpha) as relu differences).
    const torch::Tensor xr = x.clone().requires_grad_(true);
    const torch::Tensor ar = torch::full({1}, alpha).requires_grad_(true);
    const torch::Tensor clip = is_signed ? xr - torch::relu(xr - ar) + torch::relu(-xr - ar)
                                         : torch::relu(xr) - torch::relu(xr - ar);
    (clip * g).sum().backward();
    torch::Tensor gx = torch::empty_like(x);
    const double ga = kernels::DacBackward(g.data_ptr<float>(), x.data_ptr<float>(),
                                           gx.data_ptr<float>(), x.numel(), alpha, is_signed);
    EXPECT_TRUE(torch::equal(gx, xr.grad())) << "signed " << is_signed;
    // ATen sums in float, the loop in float blocks of a double sum: equal to float rounding.
    EXPECT_NEAR(ga, ar.grad().item<double>(), 1e-6 * g.abs().sum().item<double>());
  }
}

TEST(AnalogKernels, TernaryRowEqualsTernarizesLevelsAndScale) {
  torch::manual_seed(9);
  const std::int64_t rows = 5, cols = 9001;
  torch::Tensor w = torch::randn({rows, cols});
  w[4].zero_();  // a row with no weight above its threshold
  const torch::Tensor deviation = 0.05 * torch::randn({rows, cols});
  const torch::Tensor z = torch::randn({rows, cols});
  const TernaryWeights t = Ternarize(w, /*per_channel=*/true, 0.7);
  const torch::Tensor delta = TwnThreshold(w.abs(), 0.7).contiguous();
  const float noise = 0.1f;
  torch::Tensor out = z.clone();  // the draws read in place, as the operator does
  for (std::int64_t r = 0; r < rows; ++r) {
    double sum = 0.0;
    std::int64_t count = 0;
    const float d = delta[r].item<float>();
    kernels::AboveThreshold(w[r].data_ptr<float>(), cols, d, &sum, &count);
    const float scale = count > 0 ? static_cast<float>(sum) / static_cast<float>(count) : d;
    EXPECT_NEAR(scale, t.scale[r].item<float>(), 1e-6 * (1.0 + t.scale[r].item<float>()));
    kernels::TernaryWeightRow(w[r].data_ptr<float>(), deviation[r].data_ptr<float>(),
                              out[r].data_ptr<float>(), out[r].data_ptr<float>(), cols, d, scale,
                              noise);
    // The levels exactly: (out / scale) - deviation - noise * z is the level up to rounding.
    if (count > 0) {
      const torch::Tensor level = (out[r] / scale - deviation[r] - noise * z[r]).round();
      EXPECT_TRUE(torch::equal(level.to(torch::kInt8), t.levels[r])) << "row " << r;
    }
  }
  const torch::Tensor expected = t.scale * (t.levels.to(torch::kFloat) + deviation + noise * z);
  EXPECT_TRUE(torch::allclose(out, expected, 1e-5, 1e-6));
}

TEST(AnalogKernels, SqrtTimesEqualsAtensPasses) {
  torch::manual_seed(6);
  torch::Tensor z = torch::randn({5003});  // half of the variances negative (clipped to 0)
  z[0] = 0.0f;
  const torch::Tensor xi = torch::randn({5003});
  torch::Tensor out = torch::empty_like(z);
  kernels::SqrtTimes(z.data_ptr<float>(), xi.data_ptr<float>(), out.data_ptr<float>(),
                     z.numel());
  const torch::Tensor expected = z.clamp_min(0).sqrt_().mul_(xi);
  EXPECT_TRUE(torch::equal(out, expected));
  // Written over the draws, as GaussianOfVariance does.
  torch::Tensor over = xi.clone();
  kernels::SqrtTimes(z.data_ptr<float>(), over.data_ptr<float>(), over.data_ptr<float>(),
                     z.numel());
  EXPECT_TRUE(torch::equal(over, expected));
}

// Equal up to the float rounding of sums over the tensor: relative to its largest element.
bool CloseAtScale(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() <= 1e-5 * (1.0 + b.abs().max().item<double>());
}

// The operator's fused passes (float, contiguous tensors) against its ATen passes (the same
// tensors with other strides): the same output and gradients, noise included.
TEST(AnalogOp, FusedPassesEqualTheAtenPasses) {
  for (const bool is_signed : {false, true}) {
    const std::string spec = std::string(
        R"({"kind":"conv2d","in":6,"out":7,"kernel":[3,3],"stride":[1,1],"padding":[1,1],)"
        R"("dilation":[1,1],"groups":1,"bias":true,"ternary":true,"weight_levels":3,)"
        R"("threshold_ratio":0.7,"input_bits":4,"signed_input":)") +
        (is_signed ? "true}" : "false}");
    const LayerSpec parsed = ParseLayerSpec(spec, "test layer");
    torch::manual_seed(13);
    const torch::Tensor x = torch::randn({4, 6, 9, 9});
    const torch::Tensor w = torch::randn({7, 6, 3, 3});
    const torch::Tensor b = torch::randn({7});
    const torch::Tensor dev = 0.05 * torch::randn({7, 6, 3, 3});
    // The same values, laid out with the last two dimensions swapped: not contiguous.
    const auto strided = [](const torch::Tensor& t) {
      return t.transpose(-1, -2).contiguous().transpose(-1, -2);
    };
    ASSERT_FALSE(strided(x).is_contiguous());
    struct Run {
      torch::Tensor y, gx, gw, ga;
    };
    const auto run = [&](const torch::Tensor& xi, const torch::Tensor& wi,
                         const torch::Tensor& di) {
      const torch::Tensor xs = xi.detach().requires_grad_(true);
      const torch::Tensor ws = wi.detach().requires_grad_(true);
      const torch::Tensor alpha = torch::full({1}, 1.1f).requires_grad_(true);
      const torch::Tensor y =
          AnalogLayerFunction(xs, ws, b, alpha, di, parsed, 0.1, /*seed=*/21, /*draw=*/3);
      (y * y).sum().backward();
      return Run{y.detach(), xs.grad(), ws.grad(), alpha.grad()};
    };
    const Run fused = run(x, w, dev);
    const Run aten = run(strided(x), strided(w), strided(dev));
    EXPECT_TRUE(CloseAtScale(fused.y, aten.y)) << "signed " << is_signed;
    EXPECT_TRUE(CloseAtScale(fused.gx, aten.gx)) << "signed " << is_signed;
    EXPECT_TRUE(CloseAtScale(fused.gw, aten.gw)) << "signed " << is_signed;
    EXPECT_NEAR(fused.ga.item<double>(), aten.ga.item<double>(),
                1e-5 * (1.0 + std::abs(aten.ga.item<double>())));
  }
}

}  // namespace
}  // namespace aimc::nn
