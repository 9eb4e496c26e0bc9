#include "aimc/experiment/chip.h"

#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/mapping/ternary.h"
#include "aimc/nn/train.h"

namespace aimc::experiment {

void ChipOptions::Validate() const {
  Require(tile_rows >= 1, "tile_rows must be >= 1, got {}", tile_rows);
  Require(tile_cols >= 1, "tile_cols must be >= 1, got {}", tile_cols);
  Require(std::isfinite(read_voltage_v) && read_voltage_v > 0,
          "read_voltage_v must be > 0, got {}", read_voltage_v);
  Require(adc_bits >= 0 && adc_bits <= 24, "adc_bits must be in [0, 24], got {}", adc_bits);
  Require(std::isfinite(adc_full_scale_fraction) && adc_full_scale_fraction > 0 &&
              adc_full_scale_fraction <= 1,
          "adc_full_scale_fraction must be in (0, 1], got {}", adc_full_scale_fraction);
  crossbar.Validate();
}

bool ChipOptions::has_parasitics() const {
  return crossbar.wire_row_ohm > 0 || crossbar.wire_col_ohm > 0 || crossbar.driver_ohm > 0 ||
         crossbar.sense_ohm > 0 || crossbar.access_ohm > 0;
}

nlohmann::json ChipOptions::ToJson() const {
  return {{"tile_rows", tile_rows},
          {"tile_cols", tile_cols},
          {"read_voltage_v", read_voltage_v},
          {"crossbar", crossbar.ToJson()},
          {"layout", circuit::ToString(layout)},
          {"adc_bits", adc_bits},
          {"adc_full_scale_fraction", adc_full_scale_fraction}};
}

torch::Tensor ToTorch(const Eigen::MatrixXd& m) {
  // Eigen is column-major: its buffer is the row-major transpose.
  Eigen::MatrixXd copy = m;
  return torch::from_blob(copy.data(), {m.cols(), m.rows()}, torch::kDouble).t().contiguous().clone();
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
  return fmt::format("{} devices (R_ON {:.4g} Ohm), tiles {} x {}, wires {:.4g}/{:.4g} Ohm",
                     card->name(), card->r_on_ohm(), options.tile_rows, options.tile_cols,
                     options.crossbar.wire_row_ohm, options.crossbar.wire_col_ohm);
}

Chip::Chip(nn::NetworkImpl& network, const ChipSpec& spec, std::uint64_t seed)
    : network_(network), spec_(spec) {
  spec_.Validate();
  nn::KeepLargeBlocks();
  if (spec_.uses_devices()) {
    BuildTiles(*spec_.card, seed);
  } else {
    network_.DrawChip(spec_.noise, seed);
  }
}

void Chip::BuildTiles(const device::DeviceCard& card, std::uint64_t seed) {
  const ChipOptions& o = spec_.options;
  const auto start = std::chrono::steady_clock::now();
  const device::StateStats stats = card.Stats();
  dg_s_ = stats.on.mean_s - stats.off.mean_s;
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
        Rng rng(Rng::Derive(Rng::Derive(seed, l), tile_index++));
        mapping::ProgrammedPairs pairs = mapping::Program(w, card, rng);
        Eigen::MatrixXd effective;
        if (o.has_parasitics()) {
          const circuit::Crossbar xbar(
              circuit::InterleavePairs(pairs.g_plus, pairs.g_minus, o.layout),
              o.crossbar);
          effective = circuit::CombinePairs(circuit::EffectiveMatrix(xbar), o.layout);
        } else {
          effective = pairs.g_plus - pairs.g_minus;
        }
        tile.weight = ToTorch(effective / dg_s_);
        tile.g_plus = std::move(pairs.g_plus);
        tile.g_minus = std::move(pairs.g_minus);
        lt.tiles.push_back(std::move(tile));
      }
    }
    layers_.push_back(std::move(lt));
  }
  for (std::size_t l = 0; l < analog.size(); ++l) {
    analog[l]->SetMvm([this, l](const torch::Tensor& x) { return Mvm(l, x).to(torch::kFloat); });
  }
  build_seconds_ =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Chip::~Chip() {
  if (spec_.uses_devices()) {
    for (auto& layer : network_.AnalogLayers()) layer->ClearMvm();
  } else {
    network_.ClearChip();
  }
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

ChipStats TestChips(nn::NetworkImpl& network, const nn::Dataset& data, const ChipSpec& spec,
                    int chips, std::uint64_t seed, bool progress) {
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  spec.Validate();
  std::optional<Progress> bar;
  if (progress) bar.emplace("chips", static_cast<std::size_t>(chips), "chip");
  std::vector<double> accuracies;
  for (int c = 0; c < chips; ++c) {
    const Chip chip(network, spec, Rng::Derive(seed, static_cast<std::uint64_t>(c)));
    accuracies.push_back(chip.Evaluate(data));
    if (bar) {
      bar->Update(static_cast<std::size_t>(c + 1),
                  fmt::format("acc {:.2f} %", 100 * accuracies.back()));
    }
  }
  if (bar) bar->Finish();
  return Summarize(std::move(accuracies));
}

torch::Tensor Chip::Mvm(std::size_t layer, const torch::Tensor& x) const {
  Require(spec_.uses_devices(), "Chip::Mvm: a weight-noise chip has no arrays");
  const LayerTiles& lt = layers_.at(layer);
  const torch::Tensor xd = x.to(torch::kDouble);
  torch::Tensor out = torch::zeros({xd.size(0), lt.cols}, torch::kDouble);
  for (const Tile& tile : lt.tiles) {
    torch::Tensor y = xd.narrow(1, tile.row0, tile.rows).matmul(tile.weight);
    if (spec_.options.adc_bits > 0) {
      // A symmetric ADC over +-full scale: the largest possible output times the fraction.
      const double full_scale =
          spec_.options.adc_full_scale_fraction * static_cast<double>(tile.rows) * lt.input_full_scale;
      const double step = 2.0 * full_scale / ((1 << spec_.options.adc_bits) - 1);
      y = torch::round(y.clamp(-full_scale, full_scale) / step) * step;
    }
    out.narrow(1, tile.col0, tile.cols).add_(y);
  }
  return out;
}

}  // namespace aimc::experiment
