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
#include "aimc/nn/data.h"
#include "aimc/nn/network.h"
#include "aimc/nn/quant.h"

namespace aimc::experiment {

/// How a chip corrects the drift of its conductances (as in practice: a reference read of the
/// all-ones input right after programming and again at read time): every output of a tile is
/// multiplied by c(0) / c(t), c the summed conductance of both devices of its pairs, per column
/// (kColumn) or over the whole array (kArray). Written as "none", "array", "column".
enum class DriftCompensation { kNone, kArray, kColumn };
std::string ToString(DriftCompensation compensation);
/// Throws aimc::Error naming drift_compensation and the allowed names.
DriftCompensation ParseDriftCompensation(const std::string& name);

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
  /// ADC on each tile's outputs: bits (0: none, else 2..24) and full scale as a fraction of the
  /// largest possible tile output (all inputs at full scale, all weights +1). Symmetric and
  /// mid-tread: 2^bits - 1 levels from -full scale to +full scale, 0 among them (AdcStep).
  int adc_bits = 0;
  double adc_full_scale_fraction = 0.25;
  /// When the devices are read (the card's physics: retention, drift, read noise): time since
  /// programming and temperature; and how drift is compensated.
  double time_s = 0.0;
  double temperature_k = 298.15;
  DriftCompensation drift_compensation = DriftCompensation::kNone;
  /// Calibration after programming, as real chips do (docs/sweep.md, "Calibration"): a digital
  /// gain and offset per output column of every analog layer, fitted once per chip on this many
  /// calibration images (never test images: the caller takes them from the training set) and
  /// then frozen; 0: none. The images themselves come with the ChipSpec (CalibrationSet).
  std::int64_t calibration_images = 0;

  void Validate() const;
  /// The read conditions appear only where they differ from their defaults, so that the JSON of
  /// a chip read right after programming is what it was before they existed.
  nlohmann::json ToJson() const;
  device::ReadConditions Conditions() const;
  /// True when any wire, driver, sense or access resistance is non-zero (the circuit matters).
  bool has_parasitics() const;
};

/// What a chip's calibration is fitted on: the quantized inputs every analog layer sees when the
/// digital network runs the calibration images (im2col columns, double, (M, rows) per layer,
/// at most max_mvms_per_layer of them, evenly spread). Shared by every chip of a network.
struct CalibrationSet {
  std::int64_t images = 0;
  std::vector<torch::Tensor> inputs;  // per analog layer, AnalogLayers() order
};
/// Runs `network` (digital, eval mode, no chip programmed) on `calibration` and keeps each analog
/// layer's inputs. Throws aimc::Error for an empty set or a network with a chip programmed.
std::shared_ptr<const CalibrationSet> CaptureCalibration(nn::NetworkImpl& network,
                                                         const nn::Dataset& calibration,
                                                         std::int64_t max_mvms_per_layer = 4096);

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
  std::vector<Tile> tiles;
};

/// The ADC's full scale for a tile of `tile_rows` rows whose inputs reach input_full_scale and
/// whose weights reach level `max_level`.
double AdcFullScale(const ChipOptions& options, std::int64_t tile_rows, double input_full_scale,
                    int max_level = 1);
/// The step of the ADC of ChipOptions: full_scale / (2^(bits - 1) - 1).
double AdcStep(double full_scale, int bits);

/// What a chip is. One type for both ways aimc simulates a chip, so that a sweep, `aimc test` and
/// the figures call one interface:
///  - weight noise (the paper's Figs. 13-14): every ternary weight gets Gaussian noise of its
///    level's sigma (relative to the unit weight), drawn once per chip;
///  - devices: every weight a differential pair drawn from `card`, every tile's MVM the DC circuit
///    of its array (`options`: tiles, wires, drivers, sense amplifiers, ADC; Fig. 16), its devices
///    read under the card's physics at options.time_s and temperature_k.
struct ChipSpec {
  nn::LevelNoise noise;
  std::shared_ptr<const device::DeviceCard> card;  // set: device mode
  ChipOptions options;
  /// Device mode with options.calibration_images > 0: what the calibration is fitted on.
  std::shared_ptr<const CalibrationSet> calibration;

  static ChipSpec WeightNoise(const nn::LevelNoise& noise);
  static ChipSpec Devices(std::shared_ptr<const device::DeviceCard> card,
                          const ChipOptions& options = {});
  bool uses_devices() const { return card != nullptr; }
  void Validate() const;
  /// Everything that defines the chip (the card's parameters in device mode).
  nlohmann::json ToJson() const;
  /// One line for logs: "weight noise sigma -1/0/+1 = ..." or "SOT-MRAM devices, R_ON ...".
  std::string Describe() const;
};

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
  /// Device mode: the tiles of every ternary layer (empty in weight-noise mode).
  const std::vector<LayerTiles>& layers() const { return layers_; }
  /// The calibration of each analog layer (empty without): y = gain_j y_chip + offset_j per
  /// output column j, in unit weights, fitted by least squares of the chip's MVM (Mvm, kFast,
  /// without read noise) against the ideal ternary product on the calibration inputs.
  struct Calibration {
    Eigen::VectorXd gain, offset;
  };
  const std::vector<Calibration>& calibration() const { return calibration_; }
  double dg_s() const { return dg_s_; }
  /// Seed streams derived from a tile's seed (aging) and from the chip's seed (read noise).
  static constexpr std::uint64_t kAgingStream = 0x4147494e47ull;     // "AGING"
  static constexpr std::uint64_t kReadNoiseStream = 0x4e4f495345ull;  // "NOISE"
  static constexpr std::uint64_t kShotStream = 0x53484f54ull;            // "SHOT", under NOISE
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
  friend std::vector<double> EvaluateChips(nn::NetworkImpl& network, const nn::Dataset& data,
                                           const ChipSpec& spec,
                                           const std::vector<std::uint64_t>& seeds,
                                           int chips_per_pass);
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

/// The accuracy on `data` of the chips with the given seeds, `chips_per_pass` of them side by
/// side in each pass over the data (their tiles built in parallel); 0 picks it from the network's
/// size. The result does not depend on chips_per_pass or on the thread count.
std::vector<double> EvaluateChips(nn::NetworkImpl& network, const nn::Dataset& data,
                                  const ChipSpec& spec, const std::vector<std::uint64_t>& seeds,
                                  int chips_per_pass = 0);

/// Accuracy over Monte-Carlo chips: mean, sample std (n - 1), min, max.
struct ChipStats {
  std::vector<double> accuracies;
  double mean = 0.0, stddev = 0.0, min = 0.0, max = 0.0;
};
ChipStats Summarize(std::vector<double> accuracies);

/// `chips` chips of `spec` (chip c from Rng::Derive(seed, c)), each over the whole of `data`.
/// Chips are evaluated chips_per_pass at a time (EvaluateChips; 0: automatic).
ChipStats TestChips(nn::NetworkImpl& network, const nn::Dataset& data, const ChipSpec& spec,
                    int chips, std::uint64_t seed, bool progress = false, int chips_per_pass = 0);

/// Converts a torch matrix (row-major) to an Eigen (column-major) double matrix.
Eigen::MatrixXd ToEigen(const torch::Tensor& t);

/// IR-drop-aware training (docs/train.md): every forward pass of training runs the network
/// through a chip's effective weights, rebuilt every `rebuild_every_steps` steps for the ternary
/// weights of the moment, with the straight-through gradient of the levels.
struct IrAwareOptions {
  std::shared_ptr<const device::DeviceCard> card;
  ChipOptions chip;
  /// Steps between rebuilds of the chip (1: every step, exact; the levels that flip in between
  /// keep the deviation of their last build until the next).
  int rebuild_every_steps = 50;
  /// false (the default): the chip's devices are the card's nominal conductances (no spread), so
  /// the deviation is the IR drop's alone and the network does not learn one chip's devices;
  /// true: devices drawn from the card anew at every rebuild (device variation in training).
  bool device_variation = false;
  std::uint64_t seed = 1;

  /// Throws aimc::Error naming the field.
  void Validate() const;
  /// What TrainOptions::hardware records: the card's parameters and the chip's options.
  nlohmann::json ToJson() const;
};

/// The card's mean conductances without spread or aging (a two-state card): the devices of
/// IR-drop-aware training without device variation.
std::shared_ptr<const device::DeviceCard> NominalDevices(const device::DeviceCard& card);

/// The step hook of IR-drop-aware training (TrainOptions::before_step): at every
/// rebuild_every_steps-th step it builds the chip (Chip::EffectiveWeights) and gives each ternary
/// layer its deviation, effective weight minus levels (nn::AnalogLayerImpl::SetChipDeviation).
/// Without device variation a layer's effective weight depends on its levels only, so only the
/// layers whose levels flipped since their last build are solved again (none: no build), which
/// is exact. `builds` (if given) counts the builds, `layer_builds` the layers solved.
std::function<void(nn::NetworkImpl&, std::int64_t)> IrAwareHook(
    IrAwareOptions options, std::shared_ptr<std::int64_t> builds = nullptr,
    std::shared_ptr<std::int64_t> layer_builds = nullptr);

}  // namespace aimc::experiment
