#include "aimc/experiment/chip.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/circuit/dc_solver.h"
#include "aimc/circuit/power.h"
#include "aimc/device/two_state.h"
#include "aimc/mapping/ternary.h"
#include "aimc/experiment/calibration.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/runtime.h"
#include "chip_tiles.h"

namespace aimc::experiment {

Eigen::MatrixXd ToEigen(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  Require(c.dim() == 2, "expected a matrix, got {} dimensions", c.dim());
  Eigen::MatrixXd m(c.size(0), c.size(1));
  const double* p = c.data_ptr<double>();
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = p[i * m.cols() + j];
  return m;
}

void ParallelFor(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  const std::size_t workers = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, threads)));
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> pool;
  for (std::size_t w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) {
        try {
          fn(i);
        } catch (...) {
          const std::lock_guard<std::mutex> lock(error_mutex);
          if (!error) error = std::current_exception();
          next = n;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

namespace {

// Row-major float tensor of an Eigen matrix, transposed: (cols, rows), the layout of a layer's
// weight (outputs first).
torch::Tensor TransposedToTorch(const Eigen::MatrixXd& m) {
  // Eigen is column-major: its buffer read row-major is the transpose.
  return torch::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, torch::kDouble)
      .to(torch::kFloat);
}

std::function<torch::Tensor(const torch::Tensor&)> Adc(double full_scale, int bits) {
  const double step = AdcStep(full_scale, bits);
  return [full_scale, step](const torch::Tensor& y) {
    return y.clamp_(-full_scale, full_scale).div_(step).round_().mul_(step);
  };
}

}  // namespace

Chip::Chip(nn::NetworkImpl& network, const ChipSpec& spec, std::uint64_t seed)
    : Chip(network, spec, seed, Unprogrammed{}) {
  // Claimed before the build, so that a second chip is refused before any work; the destructor
  // (which runs if the body throws, the delegated constructor having completed) releases it.
  network_.ClaimChips(this, fmt::format("a chip (seed {})", seed));
  Build({this});
  network_.eval();
  network_.ProgramChips(products_);
  programmed_ = true;
}

Chip::Chip(nn::NetworkImpl& network, const ChipSpec& spec, std::uint64_t seed, Unprogrammed)
    : network_(network), spec_(spec), seed_(seed) {
  spec_.Validate();
  nn::KeepLargeBlocks();
}

void Chip::Build(const std::vector<Chip*>& chips) {
  const auto start = std::chrono::steady_clock::now();
  struct Job {
    Chip* chip;
    std::size_t layer, tile;
  };
  std::vector<Job> jobs;
  for (Chip* chip : chips) {
    if (!chip->spec_.uses_devices()) {
      chip->DrawNoise();
      continue;
    }
    chip->DrawTiles(*chip->spec_.card);
    for (std::size_t l = 0; l < chip->layers_.size(); ++l)
      if (chip->only_layers_.empty() || chip->only_layers_[l])
        for (std::size_t t = 0; t < chip->layers_[l].tiles.size(); ++t) jobs.push_back({chip, l, t});
  }
  // Largest arrays first, so that the last to finish is a small one.
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) {
    const Tile& x = a.chip->layers_[a.layer].tiles[a.tile];
    const Tile& y = b.chip->layers_[b.layer].tiles[b.tile];
    return x.rows * x.cols > y.rows * y.cols;
  });
  // Each effective matrix is built on its calling thread: independent arrays, one per core.
  ParallelFor(jobs.size(), torch::get_num_threads(), [&jobs](std::size_t i) {
    const Job& job = jobs[i];
    const ChipOptions& o = job.chip->spec_.options;
    Tile& tile = job.chip->layers_[job.layer].tiles[job.tile];
    Eigen::MatrixXd effective;
    if (o.has_parasitics() || job.chip->crossbar_.access_ohm > 0) {
      effective = circuit::CombinePairs(circuit::EffectiveMatrix(job.chip->TileCrossbar(tile)),
                                        o.layout);
    } else {
      effective = tile.g_plus - tile.g_minus;
    }
    // In level steps: one step is dG / L.
    tile.weight = effective / (job.chip->dg_s_ / job.chip->layers_[job.layer].max_level);
    if (tile.compensation.size() > 0) tile.weight *= tile.compensation.asDiagonal();
  });
  for (Chip* chip : chips) {
    if (chip->weights_only_) continue;
    chip->Calibrate();
    chip->MakeProducts();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (Chip* chip : chips) chip->build_seconds_ = seconds / static_cast<double>(chips.size());
}

void Chip::DrawNoise() {
  torch::NoGradGuard no_grad;
  const auto& all = network_.layers();
  for (std::size_t i = 0; i < all.size(); ++i) {
    const nn::AnalogLayer& layer = all[i];
    if (!layer->analog()) continue;
    const auto& lo = layer->options();
    const nn::TernaryWeights t =
        nn::Ternarize(layer->Weight(), lo.per_channel, lo.threshold_ratio, layer->max_level());
    torch::Tensor w = t.levels.to(torch::kFloat);
    if (!spec_.noise.zero()) {
      at::Generator generator = nn::MakeGenerator(Rng::Derive(seed_, i));
      w = w + nn::DrawLevelNoise(t.levels, spec_.noise, generator, layer->max_level());
    }
    nn::ChipProduct product;
    product.parts.push_back({w, 0, nullptr});
    product.out_scale = layer->Scale();
    if (layer->Bias().defined()) product.bias = layer->Bias().detach();
    products_.push_back(std::move(product));
  }
}

namespace {

// Ages a tile's programmed devices to the read conditions (DeviceCard::Age, one draw of
// `aging_rng` per device in a fixed order) and sets which read ON; with drift compensation, the
// factor c(0) / c(t) from the same devices aged to time 0 (the same draws: stuck-at faults are
// there from the start).
void AgeTile(Tile& tile, const Eigen::MatrixXi& written, int max_level,
             const device::DeviceCard& card, const ChipOptions& o, Rng aging_rng) {
  const device::ReadConditions now = o.Conditions();
  device::ReadConditions fresh = now;
  fresh.time_s = 0.0;
  Rng fresh_rng = aging_rng;
  const bool compensate = o.drift_compensation != DriftCompensation::kNone;
  tile.on_plus.resize(tile.rows, tile.cols);
  tile.on_minus.resize(tile.rows, tile.cols);
  Eigen::VectorXd c0 = Eigen::VectorXd::Zero(tile.cols), ct = Eigen::VectorXd::Zero(tile.cols);
  for (std::int64_t j = 0; j < tile.cols; ++j) {
    for (std::int64_t i = 0; i < tile.rows; ++i) {
      const int w = written(i, j);
      const mapping::PairStates states = mapping::StatesOf(max_level == 1 ? w : 0);
      for (const bool plus : {true, false}) {
        double& g = plus ? tile.g_plus(i, j) : tile.g_minus(i, j);
        const device::State state = plus ? states.plus : states.minus;
        // Multi-level: the device's level of max_level (Program's mapping).
        const int level = std::max(plus ? w : -w, 0);
        const auto age = [&](const device::ReadConditions& at, Rng& rng) {
          return max_level == 1 ? card.Age(state, g, at, rng)
                                : card.AgeLevel(level, max_level, g, at, rng);
        };
        if (compensate) c0(j) += age(fresh, fresh_rng).g_s;
        const device::DeviceCard::Aged aged = age(now, aging_rng);
        g = aged.g_s;
        (plus ? tile.on_plus : tile.on_minus)(i, j) = aged.state == device::State::kOn;
        ct(j) += g;
      }
    }
  }
  if (o.drift_compensation == DriftCompensation::kColumn) {
    tile.compensation = c0.cwiseQuotient(ct);
  } else if (o.drift_compensation == DriftCompensation::kArray) {
    tile.compensation = Eigen::VectorXd::Constant(tile.cols, c0.sum() / ct.sum());
  }
}

}  // namespace

void Chip::DrawTiles(const device::DeviceCard& card) {
  const ChipOptions& o = spec_.options;
  const bool aging = card.physics().any();
  dg_s_ = card.UnitWeightSiemens(o.read_voltage_v);
  Require(std::isfinite(dg_s_) && dg_s_ > 0,
          "{}: the unit weight at read_voltage_v = {} V is {} S; ON must conduct more than OFF",
          card.name(), o.read_voltage_v, dg_s_);
  crossbar_ = o.crossbar;
  crossbar_.access_ohm += card.physics().iv.access_ohm;
  auto analog = network_.AnalogLayers();
  Require(!analog.empty(), "the network has no ternary layer to place on a chip");
  for (std::size_t l = 0; l < analog.size(); ++l) {
    nn::AnalogLayer& layer = analog[l];
    const torch::Tensor levels = layer->TernaryMatrix().to(torch::kInt32).contiguous();
    LayerTiles lt;
    lt.rows = levels.size(0);
    lt.cols = levels.size(1);
    const int bits = layer->input_bits();
    lt.input_full_scale = bits > 0 ? layer->input_step() * ((1 << bits) - 1) : 1.0;
    lt.max_level = layer->max_level();
    if (lt.max_level > 1) {
      const std::string what = fmt::format("analog layer {} ({} weight levels)", l,
                                           2 * lt.max_level + 1);
      Require(card.levels() > lt.max_level,
              "{}: card '{}' holds {} conductance levels per device, {} needed (set `levels` in "
              "the card, docs/devices.md)",
              what, card.name(), card.levels(), lt.max_level + 1);
      Require(card.physics().iv.linear(),
              "{}: card '{}' has a non-linear I-V, which is stated for its two states only; "
              "multi-level weights need a linear one",
              what, card.name());
      Require(!card.physics().retention.any(),
              "{}: card '{}' has a retention model of a binary state; intermediate levels have "
              "none",
              what, card.name());
    }
    const int* p = levels.data_ptr<int>();
    std::uint64_t tile_index = 0;
    for (std::int64_t r0 = 0; r0 < lt.rows; r0 += o.tile_rows) {
      for (std::int64_t c0 = 0; c0 < lt.cols; c0 += o.tile_cols) {
        Tile tile;
        tile.row0 = r0;
        tile.col0 = c0;
        tile.rows = std::min(o.tile_rows, lt.rows - r0);
        tile.cols = std::min(o.tile_cols, lt.cols - c0);
        Eigen::MatrixXi w(tile.rows, tile.cols);
        for (std::int64_t i = 0; i < tile.rows; ++i)
          for (std::int64_t j = 0; j < tile.cols; ++j) w(i, j) = p[(r0 + i) * lt.cols + c0 + j];
        const std::uint64_t tile_seed = Rng::Derive(Rng::Derive(seed_, l), tile_index++);
        Rng rng(tile_seed);
        mapping::ProgrammedPairs pairs = mapping::Program(w, card, rng, lt.max_level);
        tile.g_plus = std::move(pairs.g_plus);
        tile.g_minus = std::move(pairs.g_minus);
        // A stream of its own: the programmed draws, hence a chip at time 0, stay as they were.
        if (aging)
          AgeTile(tile, w, lt.max_level, card, o, Rng(Rng::Derive(tile_seed, kAgingStream)));
        lt.tiles.push_back(std::move(tile));
      }
    }
    layers_.push_back(std::move(lt));
  }
}

namespace {

// s(V) - 1 of an I-V shape, elementwise in double (s - 1 is small at low bias: float would lose
// it to cancellation).
torch::Tensor ShapeMinusOne(const device::IvShape& shape, const torch::Tensor& v) {
  switch (shape.kind) {
    case device::IvShape::Kind::kLinear:
      return torch::zeros_like(v);
    case device::IvShape::Kind::kTmrBias: {
      // s = (1 + TMR0) / (1 + TMR(V)), TMR(V) = TMR0 / (1 + (V / V_h)^2).
      const torch::Tensor tmr = shape.tmr0 / (1 + (v / shape.v_half_v).square());
      return (shape.tmr0 - tmr) / (1 + tmr);
    }
    case device::IvShape::Kind::kSinh: {
      // s = sinh(u) / u, u = V / V0; 1 at u = 0.
      const torch::Tensor u = v / shape.v0_v;
      return torch::where(u == 0, torch::zeros_like(u), torch::sinh(u) / u - 1);
    }
  }
  Fail("unknown I-V shape");
}

// The pre of a non-linear state's term: phi(x) = x (s(V(x)) - 1), V = x * volts_per_unit.
nn::Elementwise NonLinearPre(const device::IvShape& shape, double volts_per_unit) {
  return [shape, volts_per_unit](const torch::Tensor& x) {
    const torch::Tensor xd = x.to(torch::kDouble);
    return (xd * ShapeMinusOne(shape, xd * volts_per_unit)).to(x.scalar_type());
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
    const std::int64_t kk = lo.kind == nn::LayerKind::kConv ? lo.kernel * lo.kernel : 1;
    // One level step in siemens (dG for ternary weights): every matrix below is in level steps.
    const double unit_s = dg_s_ / lt.max_level;
    // The layer's matrices, outputs first: (cols, rows), rows in im2col order; `of` gives a
    // tile's matrix (rows x cols, unit weights) for each.
    const auto assemble = [&](const std::function<Eigen::MatrixXd(const Tile&)>& of) {
      torch::Tensor m = torch::empty({lt.cols, lt.rows}, torch::kFloat);
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
        return lo.kind == nn::LayerKind::kConv ? w.view({lt.cols, c1 - c0, lo.kernel, lo.kernel})
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

void Chip::UseMvmHooks() {
  Require(spec_.uses_devices(), "UseMvmHooks: a weight-noise chip has no arrays");
  Require(programmed_, "UseMvmHooks: the chip is not programmed on its network");
  network_.ClearChips();
  auto analog = network_.AnalogLayers();
  for (std::size_t l = 0; l < analog.size(); ++l) {
    analog[l]->SetMvm([this, l](const torch::Tensor& x) { return Mvm(l, x).to(torch::kFloat); });
  }
}

Chip::~Chip() {
  if (network_.chip_owner() != this) return;
  if (programmed_) {
    network_.ClearChips();
    for (auto& layer : network_.AnalogLayers()) layer->ClearMvm();
  }
  network_.ReleaseChips(this);
}

double Chip::Evaluate(const nn::Dataset& data) const { return nn::Evaluate(network_, data); }

std::int64_t Chip::devices() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += 2 * l.rows * l.cols;
  return n;
}

torch::Tensor Chip::Mvm(std::size_t layer, const torch::Tensor& x, MvmRoute route) const {
  Require(spec_.uses_devices(), "Chip::Mvm: a weight-noise chip has no arrays");
  const LayerTiles& lt = layers_.at(layer);
  const torch::Tensor xd = x.to(torch::kDouble);
  torch::Tensor out = torch::zeros({xd.size(0), lt.cols}, torch::kDouble);
  const device::DeviceCard& card = *spec_.card;
  const bool nonlinear = !card.physics().iv.linear();
  const bool circuit = spec_.options.has_parasitics() || crossbar_.access_ohm > 0;
  const double volts_per_unit = spec_.options.read_voltage_v / lt.input_full_scale;
  const double unit_s = dg_s_ / lt.max_level;  // one level step (DrawTiles)
  const device::IvShape shapes[2] = {card.Iv(device::State::kOn), card.Iv(device::State::kOff)};
  // Eigen's column-major buffer read row-major is M^T: transposing the view gives M.
  const auto view = [](const Eigen::MatrixXd& m) {
    return torch::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, torch::kDouble)
        .t();
  };
  for (const Tile& tile : lt.tiles) {
    const torch::Tensor xt = xd.narrow(1, tile.row0, tile.rows);
    torch::Tensor y;
    if (!nonlinear) {
      y = xt.matmul(view(tile.weight));
    } else if (route == MvmRoute::kExact && circuit) {
      // The tile's circuit, solved per input by Newton: devices at their low-bias G0, each
      // following its state's I-V.
      const circuit::PairLayout layout = spec_.options.layout;
      const circuit::Crossbar xbar =
          TileCrossbar(tile, fmt::format("layer {} tile ({}, {})", layer, tile.row0, tile.col0));
      circuit::NonlinearSolver solver(TileArray(xbar, tile));
      const Eigen::MatrixXd xe = ToEigen(xt);  // M x rows
      Eigen::MatrixXd v(xbar.rows(), xe.rows());
      for (Eigen::Index n = 0; n < xe.rows(); ++n)
        v.col(n) = circuit::PairInputs(xe.row(n).transpose() * volts_per_unit, layout);
      const circuit::NonlinearBatch batch = solver.BatchColumnCurrents(v);
      for (const circuit::NonlinearSummary& s : batch.summaries) {
        int seen = last_newton_iterations_.load();
        while (s.iterations > seen && !last_newton_iterations_.compare_exchange_weak(seen, s.iterations)) {
        }
      }
      // Currents per unit input and unit weight: I / (V per unit x dG).
      Eigen::MatrixXd ye(xe.rows(), tile.cols);
      const Eigen::MatrixXd& i = batch.column_current_a;
      for (std::int64_t j = 0; j < tile.cols; ++j) {
        const Eigen::VectorXd col = layout == circuit::PairLayout::kColumns
                                        ? Eigen::VectorXd(i.row(2 * j) - i.row(2 * j + 1))
                                        : Eigen::VectorXd(i.row(j));
        ye.col(j) = col / (volts_per_unit * unit_s);
      }
      if (tile.compensation.size() > 0) ye *= tile.compensation.asDiagonal();
      y = view(ye).clone();
    } else {
      // Exact without parasitics: every device's current G0 V s(V), in unit weights. The fast
      // route adds the same non-linear part to the linear effective matrix (IR drop at G0).
      const Eigen::MatrixXd xe = ToEigen(xt);
      Eigen::MatrixXd ye = Eigen::MatrixXd::Zero(xe.rows(), tile.cols);
      const bool fast = route == MvmRoute::kFast && circuit;
      for (const device::State state : {device::State::kOn, device::State::kOff}) {
        const device::IvShape& shape = shapes[state == device::State::kOn ? 0 : 1];
        const bool on = state == device::State::kOn;
        Eigen::MatrixXd xs = xe;
        for (Eigen::Index n = 0; n < xs.rows(); ++n)
          for (Eigen::Index k = 0; k < xs.cols(); ++k)
            xs(n, k) *= shape.Shape(xe(n, k) * volts_per_unit) - (fast ? 1.0 : 0.0);
        const Eigen::MatrixXd g =
            ((tile.on_plus == on).cast<double>() * tile.g_plus.array() -
             (tile.on_minus == on).cast<double>() * tile.g_minus.array()).matrix();
        ye += xs * g;
      }
      ye /= unit_s;
      if (tile.compensation.size() > 0) ye *= tile.compensation.asDiagonal();
      // tile.weight carries the compensation already.
      if (fast) ye += xe * tile.weight;
      y = view(ye).clone();
    }
    if (spec_.options.adc_bits > 0) {
      const double full_scale =
          AdcFullScale(spec_.options, tile.rows, lt.input_full_scale, lt.max_level);
      const double step = AdcStep(full_scale, spec_.options.adc_bits);
      y = torch::round(y.clamp(-full_scale, full_scale) / step) * step;
    }
    out.narrow(1, tile.col0, tile.cols).add_(y);
  }
  if (!calibration_.empty()) {
    const Calibration& c = calibration_[layer];
    const auto row = [](const Eigen::VectorXd& v) {
      return torch::from_blob(const_cast<double*>(v.data()), {1, v.size()}, torch::kDouble).clone();
    };
    out = out * row(c.gain) + row(c.offset);
  }
  return out;
}

circuit::Crossbar Chip::TileCrossbar(const Tile& tile, std::string name) const {
  return circuit::Crossbar(
      circuit::InterleavePairs(tile.g_plus, tile.g_minus, spec_.options.layout), crossbar_,
      std::move(name));
}

circuit::NonlinearCrossbar Chip::TileArray(const circuit::Crossbar& xbar, const Tile& tile) const {
  const device::DeviceCard& card = *spec_.card;
  const Eigen::MatrixXd off = circuit::InterleavePairs(
      (!tile.on_plus).cast<double>().matrix(), (!tile.on_minus).cast<double>().matrix(),
      spec_.options.layout);
  return circuit::NonlinearCrossbar(
      xbar, {card.Iv(device::State::kOn), card.Iv(device::State::kOff)}, off.cast<std::uint8_t>());
}

std::vector<torch::Tensor> Chip::EffectiveWeights(nn::NetworkImpl& network, const ChipSpec& spec,
                                                  std::uint64_t seed,
                                                  const std::vector<bool>& layers) {
  Require(spec.uses_devices(), "EffectiveWeights: a weight-noise chip has no arrays");
  torch::NoGradGuard no_grad;
  auto analog = network.AnalogLayers();
  Require(layers.empty() || layers.size() == analog.size(),
          "EffectiveWeights: {} layer flags for {} ternary layers", layers.size(), analog.size());
  Chip chip(network, spec, seed, Unprogrammed{});
  chip.only_layers_ = layers;
  chip.weights_only_ = true;
  Build({&chip});
  std::vector<torch::Tensor> weights;
  for (std::size_t l = 0; l < chip.layers_.size(); ++l) {
    if (!layers.empty() && !layers[l]) {
      weights.emplace_back();
      continue;
    }
    const LayerTiles& lt = chip.layers_[l];
    torch::Tensor m = torch::empty({lt.cols, lt.rows}, torch::kFloat);
    for (const Tile& tile : lt.tiles)
      m.narrow(0, tile.col0, tile.cols).narrow(1, tile.row0, tile.rows).copy_(
          TransposedToTorch(tile.weight));
    weights.push_back(m.view(analog[l]->Weight().sizes()).clone());
  }
  return weights;
}

}  // namespace aimc::experiment
