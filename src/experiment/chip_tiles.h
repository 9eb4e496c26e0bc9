#pragma once
// The chip's own types: its tiles, and the helpers its files share. Not public: the chip's
// sources (chip.cc: the chip's life; chip_build.cc: drawing and ageing tiles; chip_products.cc:
// the products the network runs, non-linear terms and ADC; chip_mvm.cc: the MVM routes;
// calibration.cc, evaluate_chips.cc, route_check.cc, chip_energy.cc, ir_aware.cc) and their tests
// use them.

#include <cstdint>
#include <functional>
#include <vector>

#include <Eigen/Dense>
#include <torch/types.h>

#include "aimc/experiment/chip_options.h"
#include "aimc/nn/analog_layer.h"

namespace aimc::experiment {

/// One tile of one layer: which weights it holds, its devices, and its effective matrix.
struct Tile {
  std::int64_t row0 = 0, rows = 0, col0 = 0, cols = 0;
  /// The devices as they read (siemens, rows x cols): drawn, then aged by the card's physics
  /// (stuck-at faults, retention flips, drift) to the chip's read time; their low-bias G0.
  Eigen::MatrixXd g_plus, g_minus;
  /// Which devices read ON now (selects each device's I-V shape); empty for a card without
  /// physics, whose devices read as written.
  Eigen::Array<bool, Eigen::Dynamic, Eigen::Dynamic> on_plus, on_minus;
  /// Drift compensation c(0) / c(t) per column (the same value in every column for kArray);
  /// empty without compensation.
  Eigen::VectorXd compensation;
  /// Output in unit weights per unit input: y = x W, IR drop and compensation included (rows x
  /// cols, double), at low bias; a non-linear I-V adds product terms (Chip::products()).
  Eigen::MatrixXd weight;
};

struct LayerTiles {
  std::int64_t rows = 0, cols = 0;
  double input_full_scale = 1.0;  // the activation value driven at read_voltage_v
  /// The layer's largest weight level L (1: ternary): a pair's full ON/OFF difference is L level
  /// steps, so tile weights (in level steps) are L (G+ - G-) / dG.
  int max_level = 1;
  /// Continuous weights (max_level 1): each pair programmed to its own weight in [-1, 1].
  bool continuous = false;
  std::vector<Tile> tiles;
};

/// Seed streams derived from a tile's seed (aging) and from the chip's seed (read noise).
inline constexpr std::uint64_t kAgingStream = 0x4147494e47ull;     // "AGING"
inline constexpr std::uint64_t kReadNoiseStream = 0x4e4f495345ull;  // "NOISE"
inline constexpr std::uint64_t kShotStream = 0x53484f54ull;         // "SHOT", under NOISE

/// Converts a torch matrix (row-major) to an Eigen (column-major) double matrix.
Eigen::MatrixXd ToEigen(const torch::Tensor& t);


/// Row-major float tensor of an Eigen matrix, transposed: (cols, rows), the layout of a layer's
/// weight (outputs first).
torch::Tensor TransposedToTorch(const Eigen::MatrixXd& m);

/// One chip's term posts applied to their own block of output channels, side by side.
nn::Elementwise SideBySide(std::vector<nn::Elementwise> posts);

/// Runs fn(0..n-1) on up to `threads` threads; the first error is rethrown after all have ended.
void ParallelFor(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace aimc::experiment
