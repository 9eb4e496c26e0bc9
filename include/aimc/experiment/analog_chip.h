#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/device/card.h"
#include "aimc/nn/network.h"

namespace aimc::experiment {

/// How a network is placed on analog arrays (the paper's Fig. 15a): each ternary layer's matrix
/// (rows = im2col inputs, cols = outputs) is cut into tiles of at most tile_rows x tile_cols
/// weights; each weight is a differential pair of devices drawn from a card; each tile's MVM is
/// the DC circuit of its array (wires, drivers, sense amplifiers), partial sums of row-split tiles
/// are added digitally. Pooling, ReLU, BatchNorm, scales and biases stay digital and exact.
struct ChipOptions {
  /// Weights per tile: rows (activation lines) and weight columns (each a differential pair, so
  /// 2 x tile_cols summation lines with the column layout).
  std::int64_t tile_rows = 1024;
  std::int64_t tile_cols = 512;
  /// DAC: an input at full scale (the activation clip alpha) drives read_voltage_v.
  double read_voltage_v = 0.2;
  /// Wires, drivers, sense amplifiers, access transistor of every tile.
  circuit::CrossbarOptions crossbar;
  circuit::PairLayout layout = circuit::PairLayout::kColumns;
  /// ADC on each tile's outputs: bits (0: none) and full scale as a fraction of the largest
  /// possible tile output (all inputs at full scale, all weights +1).
  int adc_bits = 0;
  double adc_full_scale_fraction = 0.25;

  void Validate() const;
  nlohmann::json ToJson() const;
  /// True when any wire, driver, sense or access resistance is non-zero (the circuit matters).
  bool has_parasitics() const;
};

/// One tile of one layer: which weights it holds, its devices, and its effective matrix.
struct Tile {
  std::int64_t row0 = 0, rows = 0, col0 = 0, cols = 0;
  Eigen::MatrixXd g_plus, g_minus;  // the drawn devices (siemens), rows x cols
  /// Output in unit weights per unit input: y = x W, IR drop included (rows x cols, double).
  torch::Tensor weight;
};

struct LayerTiles {
  std::int64_t rows = 0, cols = 0;
  double input_full_scale = 1.0;  // the activation value driven at read_voltage_v
  std::vector<Tile> tiles;
};

/// One simulated chip for a network: every device of every ternary layer drawn from `card`
/// with `seed` (layer l, tile t from Rng::Derive(seed, ...)), each tile's effective matrix built
/// once, and an MVM hook installed on each ternary layer so that network.forward runs on the
/// chip. The hooks are removed when the chip is destroyed.
class AnalogChip {
 public:
  AnalogChip(nn::NetworkImpl& network, const device::DeviceCard& card, const ChipOptions& options,
             std::uint64_t seed);
  ~AnalogChip();
  AnalogChip(const AnalogChip&) = delete;
  AnalogChip& operator=(const AnalogChip&) = delete;

  /// The analog MVM of ternary layer `layer` (index into network.AnalogLayers()): x (M, rows)
  /// activations -> (M, cols) in unit weights, double precision.
  torch::Tensor Mvm(std::size_t layer, const torch::Tensor& x) const;

  const std::vector<LayerTiles>& layers() const { return layers_; }
  double dg_s() const { return dg_s_; }
  double build_seconds() const { return build_seconds_; }
  /// Devices on the chip (two per weight).
  std::int64_t devices() const;

 private:
  nn::NetworkImpl& network_;
  ChipOptions options_;
  std::vector<LayerTiles> layers_;
  double dg_s_ = 0.0;
  double build_seconds_ = 0.0;
};

/// Converts between Eigen (column-major) and torch (row-major) double matrices.
torch::Tensor ToTorch(const Eigen::MatrixXd& m);
Eigen::MatrixXd ToEigen(const torch::Tensor& t);

}  // namespace aimc::experiment
