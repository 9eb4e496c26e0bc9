#include "aimc/experiment/chip.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/device/two_state.h"
#include "aimc/mapping/ternary.h"
#include "aimc/experiment/calibration.h"
#include "chip_kernels.h"
#include "chip_tiles.h"

namespace aimc::experiment {

namespace {

std::function<torch::Tensor(const torch::Tensor&)> Adc(double full_scale, int bits) {
  const double step = AdcStep(full_scale, bits);
  return [full_scale, step](const torch::Tensor& y) {
    return y.clamp_(-full_scale, full_scale).div_(step).round_().mul_(step);
  };
}

// s(V) - 1 of an I-V shape, in double (s - 1 is small at low bias: float would lose it to
// cancellation).
double ShapeMinusOne(const device::IvShape& shape, double v) {
  switch (shape.kind) {
    case device::IvShape::Kind::kLinear:
      return 0.0;
    case device::IvShape::Kind::kTmrBias:
      return kernels::TmrBiasShapeMinusOne(v, shape.v_half_v, shape.tmr0);
    case device::IvShape::Kind::kSinh: {
      // s = sinh(u) / u, u = V / V0; 1 at u = 0. Below |u| = 0.1 its series (to u^8, the next
      // term under 1e-15 of the sum): sinh(u) / u - 1 loses digits to cancellation there.
      const double u = v / shape.v0_v;
      const double u2 = u * u;
      if (std::abs(u) < 0.1) {
        return u2 * (1.0 / 6 + u2 * (1.0 / 120 + u2 * (1.0 / 5040 + u2 / 362880)));
      }
      return std::sinh(u) / u - 1;
    }
  }
  Fail("unknown I-V shape");
}

// The pre of a non-linear state's term: phi(x) = x (s(V(x)) - 1), V = x * volts_per_unit. One
// pass over the activations in double per element (a chain of tensor operations in double made
// ten passes and as many allocations, a tenth of a SOT-MRAM chip's evaluation).
nn::Elementwise NonLinearPre(const device::IvShape& shape, double volts_per_unit) {
  return [shape, volts_per_unit](const torch::Tensor& x) {
    const torch::Tensor in = x.contiguous();
    torch::Tensor out = torch::empty_like(in);
    if (shape.kind == device::IvShape::Kind::kTmrBias && in.scalar_type() == torch::kFloat) {
      // The MTJs' case as a loop without a switch per element, vectorized.
      const float* src = in.data_ptr<float>();
      float* dst = out.data_ptr<float>();
      at::parallel_for(0, in.numel(), 1 << 14, [&](std::int64_t begin, std::int64_t end) {
        kernels::TmrBiasPre(src + begin, dst + begin, end - begin, volts_per_unit,
                            shape.v_half_v, shape.tmr0);
      });
      return out;
    }
    AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "NonLinearPre", [&] {
      const scalar_t* src = in.data_ptr<scalar_t>();
      scalar_t* dst = out.data_ptr<scalar_t>();
      at::parallel_for(0, in.numel(), 1 << 14, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          const double xd = static_cast<double>(src[i]);
          dst[i] = static_cast<scalar_t>(xd * ShapeMinusOne(shape, xd * volts_per_unit));
        }
      });
    });
    return out;
  };
}

}  // namespace

// One chip's term posts applied to their own block of output channels, side by side.
nn::Elementwise SideBySide(std::vector<nn::Elementwise> posts) {
  return [posts = std::move(posts)](const torch::Tensor& y) {
    const std::int64_t k = static_cast<std::int64_t>(posts.size());
    const std::int64_t out = y.size(1) / k;
    std::vector<torch::Tensor> blocks;
    for (std::int64_t c = 0; c < k; ++c)
      blocks.push_back(posts[static_cast<std::size_t>(c)](y.narrow(1, c * out, out)));
    return torch::cat(blocks, 1);
  };
}

void Chip::MakeProducts() {
  if (!spec_.uses_devices()) return;  // DrawNoise made them
  const ChipOptions& o = spec_.options;
  const device::DeviceCard& card = *spec_.card;
  const double sigma = card.physics().read_noise.SigmaAt(o.time_s);
  Require(std::isfinite(sigma) && sigma >= 0, "{}: read_noise gives sigma {} at time_s = {} s",
          card.name(), sigma, o.time_s);
  // The states whose I-V is not linear: one product term each.
  std::vector<std::pair<device::State, device::IvShape>> nonlinear;
  for (const device::State state : {device::State::kOn, device::State::kOff}) {
    const device::IvShape shape = card.Iv(state);
    if (!shape.linear()) nonlinear.emplace_back(state, shape);
  }
  const std::uint64_t noise_seed = Rng::Derive(seed_, kReadNoiseStream);
  auto analog = network_.AnalogLayers();
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const LayerTiles& lt = layers_[l];
    const nn::AnalogLayer& layer = analog[l];
    const auto& lo = layer->options();
    const std::vector<std::int64_t> kernel = lo.Kernel2();
    const std::int64_t kk = lo.kind == nn::LayerKind::kConv ? kernel[0] * kernel[1] : 1;
    // One level step in siemens (dG for ternary weights): every matrix below is in level steps.
    const double unit_s = dg_s_ / lt.max_level;
    // The layer's matrices, outputs first: (cols, rows), rows in im2col order; `of` gives a
    // tile's matrix (rows x cols, unit weights) for each.
    const auto assemble = [&](const std::function<Eigen::MatrixXd(const Tile&)>& of) {
      // Zeros where a grouped layer places no tile.
      torch::Tensor m = torch::zeros({lt.cols, lt.rows}, torch::kFloat);
      for (const Tile& tile : lt.tiles)
        m.narrow(0, tile.col0, tile.cols).narrow(1, tile.row0, tile.rows).copy_(
            TransposedToTorch(of(tile)));
      return m;
    };
    const auto compensated = [](const Tile& tile, Eigen::MatrixXd m, int power) {
      if (tile.compensation.size() > 0)
        m *= tile.compensation.array().pow(static_cast<double>(power)).matrix().asDiagonal();
      return m;
    };
    const torch::Tensor wt = assemble([](const Tile& tile) { return tile.weight; });
    // D_s = (G+ reading in s) - (G- reading in s), over dG.
    std::vector<torch::Tensor> d;
    for (const auto& [state, shape] : nonlinear) {
      const bool on = state == device::State::kOn;
      d.push_back(assemble([&, on](const Tile& tile) {
        const Eigen::MatrixXd dm =
            ((tile.on_plus == on).cast<double>() * tile.g_plus.array() -
             (tile.on_minus == on).cast<double>() * tile.g_minus.array()).matrix() / unit_s;
        return compensated(tile, dm, 1);
      }));
    }
    // Read noise variance per unit x^2: sigma^2 (G+^2 + G-^2) / dG^2.
    torch::Tensor variance;
    if (sigma > 0) {
      variance = assemble([&](const Tile& tile) {
        const Eigen::MatrixXd v = (sigma * sigma / (unit_s * unit_s)) *
                                  (tile.g_plus.array().square() + tile.g_minus.array().square()).matrix();
        return compensated(tile, v, 2);
      });
    }
    // Shot noise (tunnel junctions): a device carrying I = G x V_unit has a current variance
    // linear in |I| (ReadNoise::ShotVariance), so the output variance in unit weights is
    // sum_i |x_i| (Var(G+ V_unit) + Var(G- V_unit)) / (V_unit dG)^2: a term with pre |x|. The
    // current is taken at low bias (the I-V shape's effect on the noise is left out).
    const double volts_per_unit = o.read_voltage_v / lt.input_full_scale;
    const device::ReadNoise& rn = card.physics().read_noise;
    torch::Tensor shot;
    if (rn.shot_fano > 0) {
      const double per_unit = 1.0 / (volts_per_unit * unit_s * volts_per_unit * unit_s);
      shot = assemble([&](const Tile& tile) {
        const Eigen::MatrixXd v =
            (tile.g_plus + tile.g_minus).unaryExpr([&](double g) {
              return rn.ShotVariance(g * volts_per_unit) * per_unit;
            });
        return compensated(tile, v, 2);
      });
    }
    nn::ChipProduct product;
    std::uint64_t part_index = 0;
    const auto part_for = [&](std::int64_t r0, std::int64_t r1) {
      // Whole input channels that hold rows [r0, r1); rows of those channels outside are zero.
      const std::int64_t c0 = r0 / kk, c1 = (r1 + kk - 1) / kk;
      const auto slice = [&](const torch::Tensor& m) {
        torch::Tensor w = m.narrow(1, c0 * kk, (c1 - c0) * kk).clone();
        if (r0 > c0 * kk) w.narrow(1, 0, r0 - c0 * kk).zero_();
        if (r1 < c1 * kk) w.narrow(1, r1 - c0 * kk, c1 * kk - r1).zero_();
        return lo.kind == nn::LayerKind::kConv ? w.view({lt.cols, c1 - c0, kernel[0], kernel[1]})
                                               : w;
      };
      nn::ProductPart part;
      part.weight = slice(wt);
      part.channel0 = c0;
      for (std::size_t s = 0; s < nonlinear.size(); ++s)
        part.terms.push_back({slice(d[s]), NonLinearPre(nonlinear[s].second, volts_per_unit), nullptr});
      if (variance.defined()) {
        part.terms.push_back({slice(variance), [](const torch::Tensor& x) { return x * x; },
                              nn::GaussianOfVariance(Rng::Derive(Rng::Derive(noise_seed, l),
                                                                 part_index))});
      }
      // Independent of the relative noise: a Gaussian of its own (their sum has the summed
      // variance).
      if (shot.defined()) {
        part.terms.push_back({slice(shot), [](const torch::Tensor& x) { return x.abs(); },
                              nn::GaussianOfVariance(Rng::Derive(
                                  Rng::Derive(Rng::Derive(noise_seed, kShotStream), l), part_index))});
      }
      ++part_index;
      return part;
    };
    if (o.adc_bits == 0) {
      // Partial sums of row-split tiles add exactly: one product for the whole layer.
      product.parts.push_back(part_for(0, lt.rows));
    } else {
      for (std::int64_t r0 = 0; r0 < lt.rows; r0 += o.tile_rows) {
        const std::int64_t rows = std::min(o.tile_rows, lt.rows - r0);
        nn::ProductPart part = part_for(r0, r0 + rows);
        part.post = Adc(AdcFullScale(o, rows, lt.input_full_scale, lt.max_level), o.adc_bits);
        product.parts.push_back(std::move(part));
      }
    }
    product.out_scale = layer->Scale();
    if (layer->Bias().defined()) product.bias = layer->Bias().detach();
    if (!calibration_.empty()) {
      // scale (gain y + offset) + bias: the gain joins the scale, the offset the bias.
      const torch::Tensor gain = TransposedToTorch(calibration_[l].gain).view({-1});
      const torch::Tensor offset = TransposedToTorch(calibration_[l].offset).view({-1});
      const torch::Tensor shift = product.out_scale * offset;
      product.bias = product.bias.defined() ? product.bias + shift : shift;
      product.out_scale = product.out_scale * gain;
    }
    products_.push_back(std::move(product));
  }
}

}  // namespace aimc::experiment
