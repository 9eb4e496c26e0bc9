#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include "aimc/circuit/crossbar.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/device/card.h"
#include "aimc/energy/model.h"
#include "aimc/experiment/chip_options.h"
#include "aimc/experiment/chip_spec.h"
#include "aimc/nn/data.h"
#include "aimc/nn/network.h"
#include "aimc/nn/quant.h"

namespace aimc::experiment {

struct CalibrationSet;
struct LayerTiles;
struct Tile;

/// One simulated chip programmed with a network: created, it makes network.forward run on the
/// chip; destroyed, the network is digital again. Chip c of a Monte-Carlo run uses seed
/// Rng::Derive(seed, c); in device mode layer l, tile t draw from
/// Rng::Derive(Rng::Derive(chip seed, l), t); in weight-noise mode weight layer i (float layers
/// counted) draws from Rng::Derive(chip seed, i).
///
/// How it runs: a chip changes only the weights. Each ternary layer's exact product is x * W_eff
/// with W_eff the tiles' effective matrices side by side (IR drop included), so the chip is the
/// network with effective weights: built once per chip, with BatchNorm folded in, and run by
/// the network's own LibTorch layers. Only an ADC (a rounding of each tile's output) splits a
/// layer into one product per row block of tiles. UseMvmHooks() switches to the reference route,
/// a per-MVM product per tile in double precision.
///
/// A card's physics (device::Physics) enters as follows. After programming, every device is aged
/// by DeviceCard::Age to the read conditions, from a stream of its own per tile
/// (Rng::Derive(tile seed, kAgingStream)), so a chip at time 0 is the chip without aging and the
/// same chip read later ages further. The unit weight is DeviceCard::UnitWeightSiemens at
/// read_voltage_v. A device's current is G0 V s(V) with V = x / input_full_scale *
/// read_voltage_v, so y_j = sum_i x_i (G+_ij s+(V_i) - G-_ij s-(V_i)) / dG; the product is the
/// low-bias matrix plus one term per non-linear state s, pre x (s(V(x)) - 1) and weight
/// D_s = (G+ reading in s) - (G- reading in s) over dG. That is exact without wires; with wires
/// the terms see no IR drop (an error of second order: IR drop times non-linearity). Read noise,
/// G (1 + sigma xi) per device and read, is in distribution an output noise of std
/// sigma sqrt(sum_i x_i^2 (G+_ij^2 + G-_ij^2)) / dG: a term with pre x^2, that weight, and a
/// Gaussian draw per read (nn::GaussianOfVariance, from Rng::Derive(chip seed,
/// kReadNoiseStream) per layer and part: a sample's noise depends on its read number, not on
/// the batch or chips_per_pass). Shot noise (ReadNoise::shot_fano), of variance linear in each
/// device's current, is a second such term with pre |x|. The IR drop's effect on the noise is
/// neglected.
class Chip {
 public:
  Chip(nn::NetworkImpl& network, const ChipSpec& spec, std::uint64_t seed);
  ~Chip();
  Chip(const Chip&) = delete;
  Chip& operator=(const Chip&) = delete;

  /// Accuracy (0..1) of the network on the chip over `data`.
  double Evaluate(const nn::Dataset& data) const;
  /// Device mode: run every ternary layer through per-MVM hooks (Mvm() on im2col columns) instead
  /// of effective weights: the slow reference route, for tests and benchmarks.
  void UseMvmHooks();
  /// The product of each ternary layer on this chip (one chip; before BatchNorm is folded).
  const std::vector<nn::ChipProduct>& products() const { return products_; }

  /// Device mode: the analog MVM of ternary layer `layer` (index into network.AnalogLayers()):
  /// x (M, rows) activations -> (M, cols) in unit weights, double precision. A non-linear I-V
  /// without wires sums the exact device currents G0 V s(V); with wires it needs the Newton
  /// solver (throws aimc::Error). Without read noise: the noise-free reference.
  ///
  /// Non-linear devices (a card with an I-V, docs/devices.md): kExact solves each tile's circuit
  /// per input by Newton (circuit::NonlinearSolver; without parasitics, the devices' currents
  /// at their rows' voltages); kFast is the route of the chip's products, the linear effective
  /// matrix at the low-bias conductances plus each non-linear state's correction
  /// x (s(V(x)) - 1) G0 / dG at the ideal voltages (exact without parasitics; docs/xbar.md).
  /// Linear tiles give the same product either way. Read noise is left out of both.
  enum class MvmRoute { kExact, kFast };
  torch::Tensor Mvm(std::size_t layer, const torch::Tensor& x,
                    MvmRoute route = MvmRoute::kExact) const;
  /// The fast route against the exact one on `samples_per_layer` MVMs of every ternary layer,
  /// drawn evenly from the inputs the layers see when the network runs `images` on this chip
  /// (through the fast route). Per layer: max |fast - exact| / max |exact| over the samples.
  /// Leaves the chip on its MVM hooks (as UseMvmHooks does).
  struct RouteError {
    std::vector<double> layer_rel;
    double max_rel = 0.0;
    std::int64_t mvms = 0;
    int max_newton_iterations = 0;
  };
  RouteError MeasureFastRoute(const torch::Tensor& images, std::int64_t samples_per_layer);
  /// Device mode: the energy, area, latency and write cost of one inference (docs/energy.md),
  /// counted while the network runs the first options.images images of `data` on this chip.
  /// The array read energy is exact per MVM: t_read V^T Y V with Y each tile's row admittance
  /// (circuit::EffectivePortMatrices; diagonal without parasitics), accumulated through each row
  /// block's Gram matrix of inputs; a non-linear I-V adds sum_i V_i^2 (s(V_i) - 1) G_s,i per
  /// state, the power of the chip's fast route (exact without parasitics). options.split_mvms
  /// MVMs per layer are solved in full to split it into devices and parasitics. The periphery
  /// comes from energy::Account. Leaves the chip programmed.
  energy::InferenceCost MeasureCost(const nn::Dataset& data, const energy::EnergyOptions& options);
  /// Device mode: the tiles of every ternary layer (empty in weight-noise mode). LayerTiles is
  /// the chip's own type (src/experiment/chip_tiles.h), for the chip's files and its tests.
  const std::vector<LayerTiles>& layers() const { return layers_; }
  /// The calibration of each analog layer (empty without): y = gain_j y_chip + offset_j per
  /// output column j, in unit weights, fitted by least squares of the chip's MVM (Mvm, kFast,
  /// without read noise) against the ideal ternary product on the calibration inputs.
  struct Calibration {
    Eigen::VectorXd gain, offset;
  };
  const std::vector<Calibration>& calibration() const { return calibration_; }
  double dg_s() const { return dg_s_; }
  double build_seconds() const { return build_seconds_; }
  /// Devices on the chip (two per weight; 0 in weight-noise mode).
  std::int64_t devices() const;

  /// Device mode: the effective weight of every ternary layer (AnalogLayers() order) of the chip
  /// of `spec` drawn from `seed` for the network's current ternary weights: unit weights in the
  /// layer's weight shape (out, in[, k, k]), IR drop and the card's aging included, without
  /// programming the network (IR-drop-aware training). With `layers` (one flag per ternary
  /// layer) only the marked layers' circuits are solved; the others' tensors are undefined.
  static std::vector<torch::Tensor> EffectiveWeights(nn::NetworkImpl& network,
                                                     const ChipSpec& spec, std::uint64_t seed,
                                                     const std::vector<bool>& layers = {});

 private:
  // Chips side by side (ProgrammedChips) build unprogrammed chips and program their products.
  friend class ProgrammedChips;
  struct Unprogrammed {};
  Chip(nn::NetworkImpl& network, const ChipSpec& spec, std::uint64_t seed, Unprogrammed);
  /// Builds the chips' tiles, all tiles of all chips in parallel over the library's threads.
  static void Build(const std::vector<Chip*>& chips);
  void DrawTiles(const device::DeviceCard& card);
  void DrawNoise();
  void MakeProducts();
  void Calibrate();
  /// A tile's array: its pairs interleaved by the layout, with the chip's parasitics (the
  /// options' plus the card's access transistor).
  circuit::Crossbar TileCrossbar(const Tile& tile, std::string name = {}) const;
  /// The same array with each device's I-V shape, by the state it reads in.
  circuit::NonlinearCrossbar TileArray(const circuit::Crossbar& xbar, const Tile& tile) const;

  nn::NetworkImpl& network_;
  ChipSpec spec_;
  std::uint64_t seed_;
  bool programmed_ = false;
  /// EffectiveWeights: tiles of the marked layers only (all when empty), no products.
  std::vector<bool> only_layers_;
  bool weights_only_ = false;
  std::vector<LayerTiles> layers_;
  std::vector<nn::ChipProduct> products_;
  double dg_s_ = 0.0;
  // The most Newton steps of an exact Mvm since MeasureFastRoute reset it (hooks may run on
  // several threads).
  mutable std::atomic<int> last_newton_iterations_{0};
  circuit::CrossbarOptions crossbar_;  // the options' arrays plus the card's access transistor
  std::vector<Calibration> calibration_;
  double build_seconds_ = 0.0;
};

}  // namespace aimc::experiment
