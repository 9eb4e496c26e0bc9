#include "aimc/experiment/analog_chip.h"

#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "aimc/common/error.h"
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

AnalogChip::AnalogChip(nn::NetworkImpl& network, const device::DeviceCard& card,
                       const ChipOptions& options, std::uint64_t seed)
    : network_(network), options_(options) {
  options_.Validate();
  nn::KeepLargeBlocks();
  const auto start = std::chrono::steady_clock::now();
  const device::StateStats stats = card.Stats();
  dg_s_ = stats.on.mean_s - stats.off.mean_s;
  auto analog = network.AnalogLayers();
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
    for (std::int64_t r0 = 0; r0 < lt.rows; r0 += options_.tile_rows) {
      for (std::int64_t c0 = 0; c0 < lt.cols; c0 += options_.tile_cols) {
        Tile tile;
        tile.row0 = r0;
        tile.col0 = c0;
        tile.rows = std::min(options_.tile_rows, lt.rows - r0);
        tile.cols = std::min(options_.tile_cols, lt.cols - c0);
        Eigen::MatrixXi w(tile.rows, tile.cols);
        for (std::int64_t i = 0; i < tile.rows; ++i)
          for (std::int64_t j = 0; j < tile.cols; ++j) w(i, j) = p[(r0 + i) * lt.cols + c0 + j];
        Rng rng(Rng::Derive(Rng::Derive(seed, l), tile_index++));
        mapping::ProgrammedPairs pairs = mapping::Program(w, card, rng);
        Eigen::MatrixXd effective;
        if (options_.has_parasitics()) {
          const circuit::Crossbar xbar(
              circuit::InterleavePairs(pairs.g_plus, pairs.g_minus, options_.layout),
              options_.crossbar);
          effective = circuit::CombinePairs(circuit::EffectiveMatrix(xbar), options_.layout);
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

AnalogChip::~AnalogChip() {
  for (auto& layer : network_.AnalogLayers()) layer->ClearMvm();
}

std::int64_t AnalogChip::devices() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += 2 * l.rows * l.cols;
  return n;
}

torch::Tensor AnalogChip::Mvm(std::size_t layer, const torch::Tensor& x) const {
  const LayerTiles& lt = layers_.at(layer);
  const torch::Tensor xd = x.to(torch::kDouble);
  torch::Tensor out = torch::zeros({xd.size(0), lt.cols}, torch::kDouble);
  for (const Tile& tile : lt.tiles) {
    torch::Tensor y = xd.narrow(1, tile.row0, tile.rows).matmul(tile.weight);
    if (options_.adc_bits > 0) {
      // A symmetric ADC over +-full scale: the largest possible output times the fraction.
      const double full_scale =
          options_.adc_full_scale_fraction * static_cast<double>(tile.rows) * lt.input_full_scale;
      const double step = 2.0 * full_scale / ((1 << options_.adc_bits) - 1);
      y = torch::round(y.clamp(-full_scale, full_scale) / step) * step;
    }
    out.narrow(1, tile.col0, tile.cols).add_(y);
  }
  return out;
}

}  // namespace aimc::experiment
