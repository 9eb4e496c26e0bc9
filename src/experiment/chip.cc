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
#include "aimc/mapping/ternary.h"
#include "aimc/nn/train.h"

namespace aimc::experiment {

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

double AdcFullScale(const ChipOptions& options, std::int64_t tile_rows, double input_full_scale) {
  // The largest possible output (every input at full scale, every weight +1) times the fraction.
  return options.adc_full_scale_fraction * static_cast<double>(tile_rows) * input_full_scale;
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
    if (o.has_parasitics()) {
      const circuit::Crossbar xbar(circuit::InterleavePairs(tile.g_plus, tile.g_minus, o.layout),
                                   o.crossbar);
      effective = circuit::CombinePairs(circuit::EffectiveMatrix(xbar), o.layout);
    } else {
      effective = tile.g_plus - tile.g_minus;
    }
    tile.weight = effective / job.chip->dg_s_;
  });
  for (Chip* chip : chips) chip->MakeProducts();
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
    const nn::TernaryWeights t = nn::Ternarize(layer->Weight(), lo.per_channel, lo.threshold_ratio);
    torch::Tensor w = t.levels.to(torch::kFloat);
    if (!spec_.noise.zero()) {
      at::Generator generator = nn::MakeGenerator(Rng::Derive(seed_, i));
      w = w + nn::DrawLevelNoise(t.levels, spec_.noise, generator);
    }
    nn::ChipProduct product;
    product.parts.push_back({w, 0, nullptr});
    product.out_scale = layer->Scale();
    if (layer->Bias().defined()) product.bias = layer->Bias().detach();
    products_.push_back(std::move(product));
  }
}

void Chip::DrawTiles(const device::DeviceCard& card) {
  const ChipOptions& o = spec_.options;
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
        Rng rng(Rng::Derive(Rng::Derive(seed_, l), tile_index++));
        mapping::ProgrammedPairs pairs = mapping::Program(w, card, rng);
        tile.g_plus = std::move(pairs.g_plus);
        tile.g_minus = std::move(pairs.g_minus);
        lt.tiles.push_back(std::move(tile));
      }
    }
    layers_.push_back(std::move(lt));
  }
}

void Chip::MakeProducts() {
  if (!spec_.uses_devices()) return;  // DrawNoise made them
  const ChipOptions& o = spec_.options;
  auto analog = network_.AnalogLayers();
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const LayerTiles& lt = layers_[l];
    const nn::AnalogLayer& layer = analog[l];
    const auto& lo = layer->options();
    const std::int64_t kk = lo.kind == nn::LayerKind::kConv ? lo.kernel * lo.kernel : 1;
    // The layer's effective matrix, outputs first: (cols, rows), rows in im2col order.
    torch::Tensor wt = torch::empty({lt.cols, lt.rows}, torch::kFloat);
    for (const Tile& tile : lt.tiles)
      wt.narrow(0, tile.col0, tile.cols).narrow(1, tile.row0, tile.rows).copy_(
          TransposedToTorch(tile.weight));
    nn::ChipProduct product;
    const auto part_for = [&](std::int64_t r0, std::int64_t r1) {
      // Whole input channels that hold rows [r0, r1); rows of those channels outside are zero.
      const std::int64_t c0 = r0 / kk, c1 = (r1 + kk - 1) / kk;
      torch::Tensor w = wt.narrow(1, c0 * kk, (c1 - c0) * kk).clone();
      if (r0 > c0 * kk) w.narrow(1, 0, r0 - c0 * kk).zero_();
      if (r1 < c1 * kk) w.narrow(1, r1 - c0 * kk, c1 * kk - r1).zero_();
      nn::ProductPart part;
      part.weight = lo.kind == nn::LayerKind::kConv
                        ? w.view({lt.cols, c1 - c0, lo.kernel, lo.kernel})
                        : w;
      part.channel0 = c0;
      return part;
    };
    if (o.adc_bits == 0) {
      // Partial sums of row-split tiles add exactly: one product for the whole layer.
      product.parts.push_back(part_for(0, lt.rows));
    } else {
      for (std::int64_t r0 = 0; r0 < lt.rows; r0 += o.tile_rows) {
        const std::int64_t rows = std::min(o.tile_rows, lt.rows - r0);
        nn::ProductPart part = part_for(r0, r0 + rows);
        part.post = Adc(AdcFullScale(o, rows, lt.input_full_scale), o.adc_bits);
        product.parts.push_back(std::move(part));
      }
    }
    product.out_scale = layer->Scale();
    if (layer->Bias().defined()) product.bias = layer->Bias().detach();
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
      s.parts.push_back({torch::cat(w, 0), first.parts[p].channel0, first.parts[p].post});
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

torch::Tensor Chip::Mvm(std::size_t layer, const torch::Tensor& x) const {
  Require(spec_.uses_devices(), "Chip::Mvm: a weight-noise chip has no arrays");
  const LayerTiles& lt = layers_.at(layer);
  const torch::Tensor xd = x.to(torch::kDouble);
  torch::Tensor out = torch::zeros({xd.size(0), lt.cols}, torch::kDouble);
  for (const Tile& tile : lt.tiles) {
    // Eigen's column-major buffer read row-major is W^T: transposing the view gives W.
    const torch::Tensor w = torch::from_blob(const_cast<double*>(tile.weight.data()),
                                             {tile.cols, tile.rows}, torch::kDouble).t();
    torch::Tensor y = xd.narrow(1, tile.row0, tile.rows).matmul(w);
    if (spec_.options.adc_bits > 0) {
      const double full_scale = AdcFullScale(spec_.options, tile.rows, lt.input_full_scale);
      const double step = AdcStep(full_scale, spec_.options.adc_bits);
      y = torch::round(y.clamp(-full_scale, full_scale) / step) * step;
    }
    out.narrow(1, tile.col0, tile.cols).add_(y);
  }
  return out;
}

}  // namespace aimc::experiment
