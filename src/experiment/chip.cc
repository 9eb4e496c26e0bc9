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
#include "aimc/nn/train.h"

namespace aimc::experiment {

std::string ToString(DriftCompensation compensation) {
  switch (compensation) {
    case DriftCompensation::kNone: return "none";
    case DriftCompensation::kArray: return "array";
    case DriftCompensation::kColumn: return "column";
  }
  return "none";
}

DriftCompensation ParseDriftCompensation(const std::string& name) {
  for (const DriftCompensation c :
       {DriftCompensation::kNone, DriftCompensation::kArray, DriftCompensation::kColumn}) {
    if (name == ToString(c)) return c;
  }
  Fail("drift_compensation must be none, array or column, got '{}'", name);
}

void ChipOptions::Validate() const {
  Require(tile_rows >= 1, "tile_rows must be >= 1, got {}", tile_rows);
  Require(tile_cols >= 1, "tile_cols must be >= 1, got {}", tile_cols);
  Require(std::isfinite(read_voltage_v) && read_voltage_v > 0,
          "read_voltage_v must be > 0, got {}", read_voltage_v);
  Require(adc_bits == 0 || (adc_bits >= 2 && adc_bits <= 24),
          "adc_bits must be 0 (no ADC) or in [2, 24], got {}", adc_bits);
  Require(std::isfinite(adc_full_scale_fraction) && adc_full_scale_fraction > 0 &&
              adc_full_scale_fraction <= 1,
          "adc_full_scale_fraction must be in (0, 1], got {}", adc_full_scale_fraction);
  Require(std::isfinite(time_s) && time_s >= 0, "time_s must be >= 0 (since programming), got {}",
          time_s);
  // Cryogenic to well above any chip's rating: outside, a unit slip (Celsius for kelvin).
  Require(std::isfinite(temperature_k) && temperature_k >= 1 && temperature_k <= 1000,
          "temperature_k must be in [1, 1000] K, got {}", temperature_k);
  Require(calibration_images >= 0, "calibration_images must be >= 0 (0: no calibration), got {}",
          calibration_images);
  crossbar.Validate();
}

device::ReadConditions ChipOptions::Conditions() const {
  device::ReadConditions c;
  c.read_voltage_v = read_voltage_v;
  c.time_s = time_s;
  c.temperature_k = temperature_k;
  return c;
}

bool ChipOptions::has_parasitics() const {
  return crossbar.wire_row_ohm > 0 || crossbar.wire_col_ohm > 0 || crossbar.driver_ohm > 0 ||
         crossbar.sense_ohm > 0 || crossbar.access_ohm > 0;
}

nlohmann::json ChipOptions::ToJson() const {
  nlohmann::json j = {{"tile_rows", tile_rows},
                      {"tile_cols", tile_cols},
                      {"read_voltage_v", read_voltage_v},
                      {"crossbar", crossbar.ToJson()},
                      {"layout", circuit::ToString(layout)},
                      {"adc_bits", adc_bits},
                      {"adc_full_scale_fraction", adc_full_scale_fraction}};
  // Only where set: result caches keyed by this JSON stay valid for chips read at time 0.
  const ChipOptions defaults;
  if (time_s != defaults.time_s) j["time_s"] = time_s;
  if (temperature_k != defaults.temperature_k) j["temperature_k"] = temperature_k;
  if (drift_compensation != defaults.drift_compensation)
    j["drift_compensation"] = ToString(drift_compensation);
  if (calibration_images != defaults.calibration_images) j["calibration_images"] = calibration_images;
  return j;
}

Eigen::MatrixXd ToEigen(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous();
  Require(c.dim() == 2, "expected a matrix, got {} dimensions", c.dim());
  Eigen::MatrixXd m(c.size(0), c.size(1));
  const double* p = c.data_ptr<double>();
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = p[i * m.cols() + j];
  return m;
}

ChipSpec ChipSpec::WeightNoise(const nn::LevelNoise& noise) {
  ChipSpec spec;
  spec.noise = noise;
  return spec;
}

ChipSpec ChipSpec::Devices(std::shared_ptr<const device::DeviceCard> card,
                           const ChipOptions& options) {
  ChipSpec spec;
  spec.card = std::move(card);
  spec.options = options;
  return spec;
}

void ChipSpec::Validate() const {
  if (uses_devices()) {
    options.Validate();
    Require(options.calibration_images == 0 || calibration != nullptr,
            "calibration_images = {}: the chip has no calibration set (CaptureCalibration)",
            options.calibration_images);
  } else {
    noise.Validate();
  }
}

nlohmann::json ChipSpec::ToJson() const {
  if (uses_devices()) return {{"mode", "devices"}, {"card", card->ToJson()}, {"chip", options.ToJson()}};
  return {{"mode", "weight_noise"},
          {"sigma_w", {noise.sigma[0], noise.sigma[1], noise.sigma[2]}}};
}

std::string ChipSpec::Describe() const {
  if (!uses_devices()) return "weight noise " + noise.ToString();
  std::string text =
      fmt::format("{} devices (R_ON {:.4g} Ohm), tiles {} x {}, wires {:.4g}/{:.4g} Ohm",
                  card->name(), card->r_on_ohm(), options.tile_rows, options.tile_cols,
                  options.crossbar.wire_row_ohm, options.crossbar.wire_col_ohm);
  const ChipOptions defaults;
  if (options.time_s != defaults.time_s || options.temperature_k != defaults.temperature_k)
    text += fmt::format(", read {:.4g} s after programming at {:.4g} K", options.time_s,
                        options.temperature_k);
  if (options.drift_compensation != defaults.drift_compensation)
    text += fmt::format(", drift compensation per {}", ToString(options.drift_compensation));
  if (options.calibration_images > 0)
    text += fmt::format(", calibrated per column on {} images", options.calibration_images);
  return text;
}

double AdcFullScale(const ChipOptions& options, std::int64_t tile_rows, double input_full_scale,
                    int max_level) {
  // The largest possible output (every input at full scale, every weight at its top level)
  // times the fraction.
  return options.adc_full_scale_fraction * static_cast<double>(tile_rows) * input_full_scale *
         static_cast<double>(max_level);
}

double AdcStep(double full_scale, int bits) {
  // A symmetric mid-tread ADC: 2^bits - 1 levels, 0 and +-full scale among them, so that a
  // saturated output is a level, not a tie between two.
  return full_scale / ((1 << (bits - 1)) - 1);
}

namespace {

// Runs fn(0..n-1) on up to `threads` threads; the first error is rethrown after all have ended.
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

}  // namespace

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
  if (!programmed_) return;
  network_.ClearChips();
  for (auto& layer : network_.AnalogLayers()) layer->ClearMvm();
}

double Chip::Evaluate(const nn::Dataset& data) const { return nn::Evaluate(network_, data); }

std::int64_t Chip::devices() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += 2 * l.rows * l.cols;
  return n;
}

ChipStats Summarize(std::vector<double> accuracies) {
  Require(!accuracies.empty(), "no chips to summarize");
  ChipStats stats;
  stats.accuracies = std::move(accuracies);
  const double n = static_cast<double>(stats.accuracies.size());
  double sum = 0.0;
  stats.min = stats.max = stats.accuracies.front();
  for (double a : stats.accuracies) {
    sum += a;
    stats.min = std::min(stats.min, a);
    stats.max = std::max(stats.max, a);
  }
  stats.mean = sum / n;
  double ss = 0.0;
  for (double a : stats.accuracies) ss += (a - stats.mean) * (a - stats.mean);
  stats.stddev = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  return stats;
}

namespace {

// Side by side: chip k's weights, scales and biases are the k-th block of each layer's.
std::vector<nn::ChipProduct> Stack(const std::vector<const std::vector<nn::ChipProduct>*>& chips) {
  std::vector<nn::ChipProduct> stacked;
  const std::size_t layers = chips.front()->size();
  for (std::size_t l = 0; l < layers; ++l) {
    nn::ChipProduct s;
    s.chips = static_cast<std::int64_t>(chips.size());
    const nn::ChipProduct& first = (*chips.front())[l];
    for (std::size_t p = 0; p < first.parts.size(); ++p) {
      std::vector<torch::Tensor> w;
      for (const auto* c : chips) w.push_back((*c)[l].parts[p].weight);
      nn::ProductPart part{torch::cat(w, 0), first.parts[p].channel0, first.parts[p].post};
      for (std::size_t t = 0; t < first.parts[p].terms.size(); ++t) {
        std::vector<torch::Tensor> tw;
        std::vector<nn::Elementwise> posts;
        for (const auto* c : chips) {
          const nn::ProductTerm& term = (*c)[l].parts[p].terms.at(t);
          tw.push_back(term.weight);
          posts.push_back(term.post);
        }
        const nn::ProductTerm& own = first.parts[p].terms[t];
        // A post draws each chip's own noise: each on its block of outputs.
        part.terms.push_back(
            {torch::cat(tw, 0), own.pre, own.post ? SideBySide(std::move(posts)) : nullptr});
      }
      s.parts.push_back(std::move(part));
    }
    std::vector<torch::Tensor> scale, bias;
    for (const auto* c : chips) {
      if (first.out_scale.defined()) scale.push_back((*c)[l].out_scale);
      if (first.bias.defined()) bias.push_back((*c)[l].bias);
    }
    if (!scale.empty()) s.out_scale = torch::cat(scale);
    if (!bias.empty()) s.bias = torch::cat(bias);
    stacked.push_back(std::move(s));
  }
  return stacked;
}

// Chips side by side multiply the activations held at once; 1000 images per pass in all keeps
// that at one chip's batch, and up to 8 chips amortize what they share (the image input and
// the first layer's input quantization) without growing the working set much.
constexpr std::int64_t kImagesPerPass = 1000;
constexpr int kDefaultChipsPerPass = 8;

}  // namespace

std::vector<double> EvaluateChips(nn::NetworkImpl& network, const nn::Dataset& data,
                                  const ChipSpec& spec, const std::vector<std::uint64_t>& seeds,
                                  int chips_per_pass) {
  Require(chips_per_pass >= 0, "chips_per_pass must be >= 0, got {}", chips_per_pass);
  spec.Validate();
  const std::size_t per_pass = static_cast<std::size_t>(
      chips_per_pass > 0 ? chips_per_pass : kDefaultChipsPerPass);
  std::vector<double> accuracy;
  network.eval();
  for (std::size_t first = 0; first < seeds.size(); first += per_pass) {
    const std::size_t k = std::min(per_pass, seeds.size() - first);
    std::vector<std::unique_ptr<Chip>> chips;
    std::vector<Chip*> raw;
    for (std::size_t c = first; c < first + k; ++c) {
      chips.push_back(std::unique_ptr<Chip>(new Chip(network, spec, seeds[c], Chip::Unprogrammed{})));
      raw.push_back(chips.back().get());
    }
    Chip::Build(raw);
    std::vector<const std::vector<nn::ChipProduct>*> products;
    for (const Chip* c : raw) products.push_back(&c->products_);
    network.ProgramChips(Stack(products));
    std::vector<double> pass;
    try {
      pass = nn::EvaluateChips(network, data,
                               std::max<std::int64_t>(1, kImagesPerPass / static_cast<std::int64_t>(k)));
    } catch (...) {
      network.ClearChips();
      throw;
    }
    network.ClearChips();
    accuracy.insert(accuracy.end(), pass.begin(), pass.end());
  }
  return accuracy;
}

ChipStats TestChips(nn::NetworkImpl& network, const nn::Dataset& data, const ChipSpec& spec,
                    int chips, std::uint64_t seed, bool progress, int chips_per_pass) {
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  Require(chips_per_pass >= 0, "chips_per_pass must be >= 0, got {}", chips_per_pass);
  spec.Validate();
  const int per_pass = chips_per_pass > 0 ? chips_per_pass : kDefaultChipsPerPass;
  std::optional<Progress> bar;
  if (progress) bar.emplace("chips", static_cast<std::size_t>(chips), "chip");
  std::vector<double> accuracies;
  for (int first = 0; first < chips; first += per_pass) {
    std::vector<std::uint64_t> seeds;
    for (int c = first; c < std::min(chips, first + per_pass); ++c)
      seeds.push_back(Rng::Derive(seed, static_cast<std::uint64_t>(c)));
    const std::vector<double> pass = EvaluateChips(network, data, spec, seeds, per_pass);
    accuracies.insert(accuracies.end(), pass.begin(), pass.end());
    if (bar) {
      bar->Update(accuracies.size(), fmt::format("acc {:.2f} %", 100 * accuracies.back()));
    }
  }
  if (bar) bar->Finish();
  return Summarize(std::move(accuracies));
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

void Chip::Calibrate() {
  calibration_.clear();
  if (!spec_.uses_devices() || spec_.options.calibration_images == 0) return;
  const CalibrationSet& set = *spec_.calibration;
  Require(set.inputs.size() == layers_.size(),
          "the calibration set holds {} analog layers, the network {}", set.inputs.size(),
          layers_.size());
  auto analog = network_.AnalogLayers();
  std::vector<Calibration> fitted;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const torch::Tensor& x = set.inputs[l];
    Require(x.dim() == 2 && x.size(1) == layers_[l].rows,
            "the calibration inputs of layer {} have shape {}, expected (M, {})", l,
            c10::str(x.sizes()), layers_[l].rows);
    // Least squares per column of the chip's output (uncalibrated: calibration_ is empty
    // here) against the product the network was trained with, in unit weights: the ternary
    // levels, plus the chip deviation an IR-drop-aware network learned with (else calibration
    // would undo what it learned).
    const Eigen::MatrixXd chip = ToEigen(Mvm(l, x, MvmRoute::kFast));
    Eigen::MatrixXd target = ToEigen(analog[l]->TernaryMatrix());
    if (const torch::Tensor& dev = analog[l]->chip_deviation(); dev.defined())
      target += ToEigen(dev.reshape({target.cols(), target.rows()}).t());
    const Eigen::MatrixXd ideal = ToEigen(x) * target;
    const double n = static_cast<double>(chip.rows());
    Calibration c;
    c.gain = Eigen::VectorXd::Ones(chip.cols());
    c.offset = Eigen::VectorXd::Zero(chip.cols());
    for (Eigen::Index j = 0; j < chip.cols(); ++j) {
      const double mc = chip.col(j).mean(), mi = ideal.col(j).mean();
      const Eigen::ArrayXd dc = chip.col(j).array() - mc;
      const double var = dc.square().sum() / n;
      const double cov = (dc * (ideal.col(j).array() - mi)).sum() / n;
      // A column whose output does not vary over the calibration set (all its inputs zero)
      // gets an offset only.
      if (var > 1e-300 && var > 1e-24 * (mc * mc + mi * mi)) c.gain(j) = cov / var;
      c.offset(j) = mi - c.gain(j) * mc;
    }
    fitted.push_back(std::move(c));
  }
  calibration_ = std::move(fitted);
}

std::shared_ptr<const CalibrationSet> CaptureCalibration(nn::NetworkImpl& network,
                                                         const nn::Dataset& calibration,
                                                         std::int64_t max_mvms_per_layer) {
  Require(calibration.size() > 0, "the calibration set is empty");
  Require(max_mvms_per_layer >= 1, "max_mvms_per_layer must be >= 1, got {}", max_mvms_per_layer);
  auto analog = network.AnalogLayers();
  for (const auto& layer : analog)
    Require(!layer->has_chip_product(),
            "CaptureCalibration: the network has a chip programmed; calibration inputs come from "
            "the digital network");
  auto set = std::make_shared<CalibrationSet>();
  set->images = calibration.size();
  std::vector<std::vector<torch::Tensor>> seen(analog.size());
  for (std::size_t l = 0; l < analog.size(); ++l) {
    nn::AnalogLayerImpl* layer = analog[l].get();
    analog[l]->SetInputObserver([&seen, l, layer](const torch::Tensor& xq) {
      seen[l].push_back(layer->InputColumns(xq).to(torch::kDouble));
    });
  }
  {
    struct Clear {
      std::vector<nn::AnalogLayer>& layers;
      ~Clear() {
        for (auto& l : layers) l->ClearInputObserver();
      }
    } clear{analog};
    torch::NoGradGuard no_grad;
    network.eval();
    for (std::int64_t first = 0; first < calibration.size(); first += 100) {
      const std::int64_t n = std::min<std::int64_t>(100, calibration.size() - first);
      network.forward(nn::ToInput(calibration.images.narrow(0, first, n)));
    }
  }
  for (auto& parts : seen) {
    const torch::Tensor x = torch::cat(parts);
    const std::int64_t n = std::min(max_mvms_per_layer, x.size(0));
    // Evenly spread over images and positions.
    const torch::Tensor rows =
        torch::linspace(0, static_cast<double>(x.size(0) - 1), n).round().to(torch::kLong);
    set->inputs.push_back(x.index_select(0, rows).contiguous());
  }
  return set;
}

Chip::RouteError Chip::MeasureFastRoute(const torch::Tensor& images,
                                        std::int64_t samples_per_layer) {
  Require(spec_.uses_devices(), "MeasureFastRoute: a weight-noise chip has no arrays");
  Require(programmed_, "MeasureFastRoute: the chip is not programmed on its network");
  Require(samples_per_layer >= 1, "MeasureFastRoute: samples_per_layer must be >= 1, got {}",
          samples_per_layer);
  network_.ClearChips();
  auto analog = network_.AnalogLayers();
  std::vector<torch::Tensor> seen(analog.size());
  for (std::size_t l = 0; l < analog.size(); ++l) {
    analog[l]->SetMvm([this, l, &seen](const torch::Tensor& x) {
      if (!seen[l].defined()) seen[l] = x.to(torch::kDouble).clone();
      return Mvm(l, x, MvmRoute::kFast).to(torch::kFloat);
    });
  }
  {
    torch::NoGradGuard no_grad;
    network_.eval();
    network_.forward(images);
  }
  RouteError e;
  last_newton_iterations_.store(0);
  for (std::size_t l = 0; l < analog.size(); ++l) {
    const torch::Tensor& x = seen[l];
    Require(x.defined(), "MeasureFastRoute: layer {} saw no input", l);
    const std::int64_t n = std::min<std::int64_t>(samples_per_layer, x.size(0));
    // Evenly spaced rows: across images and, for a convolution, across positions.
    const torch::Tensor rows = torch::linspace(0, static_cast<double>(x.size(0) - 1), n)
                                   .round()
                                   .to(torch::kLong);
    const torch::Tensor sample = x.index_select(0, rows);
    const torch::Tensor exact = Mvm(l, sample, MvmRoute::kExact);
    const torch::Tensor fast = Mvm(l, sample, MvmRoute::kFast);
    const double scale = exact.abs().max().item<double>();
    const double rel = scale > 0 ? (fast - exact).abs().max().item<double>() / scale : 0.0;
    e.layer_rel.push_back(rel);
    e.max_rel = std::max(e.max_rel, rel);
    e.mvms += n;
  }
  e.max_newton_iterations = last_newton_iterations_.load();
  return e;
}

namespace {

// The first tile of tile t's row block (the tiles that share its rows, hence its inputs).
std::size_t FirstOfRowBlock(const LayerTiles& lt, std::size_t t) {
  for (std::size_t u = 0; u < t; ++u)
    if (lt.tiles[u].row0 == lt.tiles[t].row0) return u;
  return t;
}

// The row admittance of a tile in its inputs' space: V = P x (kRows: +x_i and -x_i on rows 2i
// and 2i + 1), so x^T (P^T Y P) x is the power per (volt per unit)^2.
Eigen::MatrixXd InputAdmittance(const Eigen::MatrixXd& y, circuit::PairLayout layout) {
  if (layout == circuit::PairLayout::kColumns) return y;
  const Eigen::Index n = y.rows() / 2;
  Eigen::MatrixXd out(n, n);
  for (Eigen::Index k = 0; k < n; ++k)
    for (Eigen::Index i = 0; i < n; ++i)
      out(i, k) = y(2 * i, 2 * k) - y(2 * i, 2 * k + 1) - y(2 * i + 1, 2 * k) +
                  y(2 * i + 1, 2 * k + 1);
  return out;
}

}  // namespace

energy::InferenceCost Chip::MeasureCost(const nn::Dataset& data,
                                        const energy::EnergyOptions& options) {
  Require(spec_.uses_devices(), "MeasureCost: a weight-noise chip has no arrays");
  Require(programmed_, "MeasureCost: the chip is not programmed on its network");
  options.Validate();
  const nn::Dataset head = data.Head(options.images);
  Require(head.size() > 0, "MeasureCost: no images to run");
  const device::DeviceCard& card = *spec_.card;
  const ChipOptions& o = spec_.options;
  const circuit::PairLayout layout = o.layout;
  const bool circuit = o.has_parasitics() || crossbar_.access_ohm > 0;
  const bool nonlinear = !card.physics().iv.linear();
  const device::IvShape shapes[2] = {card.Iv(device::State::kOn), card.Iv(device::State::kOff)};
  const double read_time_s = options.ReadTimeS(card.physics());

  // What each weight layer sees, summed over the images.
  struct Seen {
    double mvms = 0.0, input_elements = 0.0;
    // Per tile (the first of its row block): the Gram matrix of its inputs (rows x rows) and,
    // per non-linear state, sum x^2 (s(V(x)) - 1) per row. Summed in Eigen in a fixed order, so
    // that the result does not depend on LibTorch's thread count.
    std::vector<Eigen::MatrixXd> gram;
    std::vector<Eigen::VectorXd> h[2];
    torch::Tensor sample;  // the first batch's MVM inputs, for the split
  };
  // Copies of the holders (the layers themselves are shared): observers are set through them.
  std::vector<nn::AnalogLayer> all = network_.layers();
  std::vector<Seen> seen(all.size());
  std::vector<int> analog_index(all.size(), -1);
  {
    int a = 0;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i]->analog()) analog_index[i] = a++;
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    nn::AnalogLayerImpl* layer = all[i].get();
    const int a = analog_index[i];
    all[i]->SetInputObserver([&, i, a, layer](const torch::Tensor& xq) {
      Seen& s = seen[i];
      s.input_elements += static_cast<double>(xq.numel());
      const torch::Tensor x = layer->InputColumns(xq).to(torch::kDouble);
      s.mvms += static_cast<double>(x.size(0));
      if (a < 0) return;
      const LayerTiles& lt = layers_[a];
      const double vpu = o.read_voltage_v / lt.input_full_scale;
      if (s.gram.empty()) {
        s.gram.resize(lt.tiles.size());
        for (auto& h : s.h) h.resize(lt.tiles.size());
      }
      if (!s.sample.defined()) s.sample = x;
      const Eigen::MatrixXd xe = ToEigen(x);  // M x rows
      for (std::size_t t = 0; t < lt.tiles.size(); ++t) {
        const Tile& tile = lt.tiles[t];
        // Tiles of one row block see the same inputs: one Gram matrix serves them all.
        if (FirstOfRowBlock(lt, t) != t) continue;
        const auto xb = xe.middleCols(tile.row0, tile.rows);
        if (s.gram[t].size() == 0) s.gram[t] = Eigen::MatrixXd::Zero(tile.rows, tile.rows);
        s.gram[t].selfadjointView<Eigen::Lower>().rankUpdate(xb.transpose());
        if (!nonlinear) continue;
        for (int st = 0; st < 2; ++st) {
          if (shapes[st].linear()) continue;
          if (s.h[st][t].size() == 0) s.h[st][t] = Eigen::VectorXd::Zero(tile.rows);
          for (Eigen::Index k = 0; k < xb.cols(); ++k)
            for (Eigen::Index n = 0; n < xb.rows(); ++n) {
              const double v = xb(n, k);
              s.h[st][t](k) += v * v * (shapes[st].Shape(v * vpu) - 1.0);
            }
        }
      }
    });
  }
  struct ClearObservers {
    std::vector<nn::AnalogLayer> layers;
    ~ClearObservers() {
      for (auto& l : layers) l->ClearInputObserver();
    }
  } clear{all};
  std::int64_t correct = 0;
  {
    torch::NoGradGuard no_grad;
    network_.eval();
    const std::int64_t batch = 100;
    for (std::int64_t first = 0; first < head.size(); first += batch) {
      const std::int64_t n = std::min(batch, head.size() - first);
      nn::ReadIndexScope reads(first);
      const torch::Tensor logits = network_.forward(nn::ToInput(head.images.narrow(0, first, n)));
      correct += logits.argmax(1).eq(head.labels.narrow(0, first, n)).sum().item<std::int64_t>();
    }
  }
  const double images = static_cast<double>(head.size());

  std::vector<energy::LayerCount> counts;
  std::vector<double> outputs;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Seen& s = seen[i];
    Require(s.mvms > 0, "MeasureCost: layer {} saw no input", network_.layer_names()[i]);
    energy::LayerCount c;
    c.name = network_.layer_names()[i];
    c.analog = all[i]->analog();
    c.rows = all[i]->rows();
    c.cols = all[i]->cols();
    c.mvms = s.mvms / images;
    c.input_bits = all[i]->input_bits();
    c.input_elements = s.input_elements / images;
    outputs.push_back(c.mvms * static_cast<double>(c.cols));
    const int a = analog_index[i];
    if (a >= 0) {
      const LayerTiles& lt = layers_[a];
      const double vpu = o.read_voltage_v / lt.input_full_scale;
      std::int64_t row_blocks = 0;
      for (std::size_t t = 0; t < lt.tiles.size(); ++t) {
        const Tile& tile = lt.tiles[t];
        const std::size_t first = FirstOfRowBlock(lt, t);
        if (first == t) ++row_blocks;
        const Eigen::MatrixXd gram = s.gram[first].selfadjointView<Eigen::Lower>();
        const circuit::Crossbar xbar =
            TileCrossbar(tile, fmt::format("layer {} tile ({}, {})", c.name, tile.row0, tile.col0));
        Eigen::MatrixXd y;
        if (circuit) {
          y = circuit::EffectivePortMatrices(xbar).row_admittance;
        } else {
          y = xbar.CellConductances().rowwise().sum().asDiagonal();
        }
        const Eigen::MatrixXd yx = InputAdmittance(y, layout);
        double power_sum = (yx.array() * gram.array()).sum();  // sum over reads of x^T Y x
        if (nonlinear) {
          for (int st = 0; st < 2; ++st) {
            if (shapes[st].linear()) continue;
            const bool on = st == 0;
            const Eigen::VectorXd g_state =
                ((tile.on_plus == on).cast<double>() * tile.g_plus.array() +
                 (tile.on_minus == on).cast<double>() * tile.g_minus.array())
                    .matrix()
                    .rowwise()
                    .sum();
            power_sum += s.h[st][first].dot(g_state);
          }
        }
        energy::TileCount tc;
        tc.rows = tile.rows;
        tc.cols = tile.cols;
        tc.lines_rows = xbar.rows();
        tc.lines_cols = xbar.cols();
        tc.sum_v2 = vpu * vpu * gram.trace() / images;
        tc.array_j = read_time_s * vpu * vpu * power_sum / images;
        // The split: full solves of a few MVMs of the first batch, devices against the whole.
        // They are drawn evenly among the MVMs that draw power (a convolution's padding and a
        // ReLU's zeros make many inputs all zero).
        const torch::Tensor live =
            s.sample.narrow(1, tile.row0, tile.rows).abs().sum(1).gt(0).nonzero().squeeze(1);
        if (!circuit || live.numel() == 0) {
          tc.devices_j = tc.array_j;  // no parasitic, or no power to split
        } else if (options.split_mvms > 0) {
          const torch::Tensor x = s.sample.index_select(0, live);
          const std::int64_t n = std::min<std::int64_t>(options.split_mvms, x.size(0));
          const torch::Tensor rows = torch::linspace(0, static_cast<double>(x.size(0) - 1), n)
                                         .round()
                                         .to(torch::kLong);
          const Eigen::MatrixXd xe = ToEigen(x.index_select(0, rows).narrow(1, tile.row0, tile.rows));
          double devices_w = 0.0, total_w = 0.0;
          const auto split = [&](auto& solver, const auto& array) {
            for (Eigen::Index k = 0; k < xe.rows(); ++k) {
              const Eigen::VectorXd v = circuit::PairInputs(xe.row(k).transpose() * vpu, layout);
              const circuit::ArrayPower p = circuit::PowerOf(array, v, solver.Solve(v));
              devices_w += p.devices_w;
              total_w += p.total_w;
            }
          };
          if (!nonlinear) {
            const circuit::DcSolver solver(xbar);
            split(solver, xbar);
          } else {
            const circuit::NonlinearCrossbar array = TileArray(xbar, tile);
            circuit::NonlinearSolver solver(array);
            split(solver, array);
          }
          tc.devices_j = total_w > 0 ? tc.array_j * devices_w / total_w : 0.0;
        }
        c.tiles.push_back(tc);
      }
      c.row_blocks = row_blocks;
    }
    counts.push_back(std::move(c));
  }
  energy::ChipGeometry geometry;
  geometry.lines_per_weight_row = layout == circuit::PairLayout::kRows ? 2 : 1;
  geometry.lines_per_weight_col = layout == circuit::PairLayout::kColumns ? 2 : 1;
  geometry.adc_bits = o.adc_bits;
  geometry.read_voltage_v = o.read_voltage_v;
  geometry.read_time_s = read_time_s;
  energy::InferenceCost cost = energy::Account(counts, network_.CountOtherOps(outputs), geometry,
                                               options, card.cell(), card.write_voltage_v());
  cost.images = images;
  cost.accuracy = static_cast<double>(correct) / images;
  return cost;
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

std::shared_ptr<const device::DeviceCard> NominalDevices(const device::DeviceCard& card) {
  const device::StateStats st = card.Stats();
  device::TwoStateOptions nominal;
  nominal.name = card.name() + " (nominal)";
  nominal.source = "the mean conductances of " + card.name();
  nominal.r_on_ohm = 1.0 / st.on.mean_s;
  nominal.on_off_ratio = st.on_off_ratio();
  nominal.cv_on = nominal.cv_off = 0.0;
  nominal.r_on_min_ohm = std::min(nominal.r_on_min_ohm, nominal.r_on_ohm);
  nominal.r_on_max_ohm = std::max(nominal.r_on_max_ohm, nominal.r_on_ohm);
  nominal.write_voltage_v = card.write_voltage_v();
  return std::make_shared<device::TwoStateCard>(nominal);
}

void IrAwareOptions::Validate() const {
  Require(card != nullptr, "ir_aware.card must be set");
  chip.Validate();
  Require(chip.calibration_images == 0, "ir_aware.chip.calibration_images must be 0");
  Require(rebuild_every_steps >= 1 && rebuild_every_steps <= 1000000,
          "ir_aware.rebuild_every_steps must be in [1, 1000000], got {}", rebuild_every_steps);
}

nlohmann::json IrAwareOptions::ToJson() const {
  return {{"card", card ? card->ToJson() : nlohmann::json()},
          {"chip", chip.ToJson()},
          {"rebuild_every_steps", rebuild_every_steps},
          {"device_variation", device_variation},
          {"seed", seed}};
}

std::function<void(nn::NetworkImpl&, std::int64_t)> IrAwareHook(
    IrAwareOptions options, std::shared_ptr<std::int64_t> builds,
    std::shared_ptr<std::int64_t> layer_builds) {
  options.Validate();
  std::shared_ptr<const device::DeviceCard> devices =
      options.device_variation ? options.card : NominalDevices(*options.card);
  // The levels each layer's deviation was built for (nominal devices only).
  auto built_for = std::make_shared<std::vector<torch::Tensor>>();
  return [options, devices, builds, layer_builds, built_for](nn::NetworkImpl& network,
                                                              std::int64_t step) {
    if (step % options.rebuild_every_steps != 0) return;
    torch::NoGradGuard no_grad;
    auto analog = network.AnalogLayers();
    std::vector<torch::Tensor> levels;
    for (const auto& layer : analog)
      levels.push_back(layer->TernaryMatrix().t().reshape(layer->Weight().sizes()).to(torch::kFloat));
    std::vector<bool> stale(analog.size(), true);
    if (!options.device_variation && built_for->size() == analog.size()) {
      for (std::size_t l = 0; l < analog.size(); ++l)
        stale[l] = !analog[l]->chip_deviation().defined() || !torch::equal((*built_for)[l], levels[l]);
      if (std::none_of(stale.begin(), stale.end(), [](bool b) { return b; })) return;
    }
    const std::uint64_t seed =
        options.device_variation ? Rng::Derive(options.seed, static_cast<std::uint64_t>(step))
                                 : options.seed;
    const std::vector<torch::Tensor> weights =
        Chip::EffectiveWeights(network, ChipSpec::Devices(devices, options.chip), seed, stale);
    built_for->resize(analog.size());
    for (std::size_t l = 0; l < analog.size(); ++l) {
      if (!stale[l]) continue;
      analog[l]->SetChipDeviation(weights[l] - levels[l]);
      (*built_for)[l] = levels[l];
      if (layer_builds) ++*layer_builds;
    }
    if (builds) ++*builds;
  };
}

}  // namespace aimc::experiment
