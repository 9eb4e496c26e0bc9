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

// Row-major float tensor of an Eigen matrix, transposed: (cols, rows), the layout of a layer's
// weight (outputs first).
torch::Tensor TransposedToTorch(const Eigen::MatrixXd& m) {
  // Eigen is column-major: its buffer read row-major is the transpose.
  return torch::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, torch::kDouble)
      .to(torch::kFloat);
}

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
    // The arrays' dense weights: a grouped layer's zeros off its diagonal blocks are pairs too.
    const torch::Tensor levels = layer->Dense(layer->Quantized().levels);
    torch::Tensor w = levels.to(torch::kFloat);
    if (!spec_.noise.zero()) {
      at::Generator generator = nn::MakeGenerator(Rng::Derive(seed_, i));
      w = w + nn::DrawLevelNoise(levels, spec_.noise, generator, layer->max_level());
    }
    nn::ChipProduct product;
    product.parts.push_back({w, 0, nullptr});
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
  for (const auto& l : layers_)
    for (const Tile& t : l.tiles) n += 2 * t.rows * t.cols;
  return n;
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
    torch::Tensor m = torch::zeros({lt.cols, lt.rows}, torch::kFloat);
    for (const Tile& tile : lt.tiles)
      m.narrow(0, tile.col0, tile.cols).narrow(1, tile.row0, tile.rows).copy_(
          TransposedToTorch(tile.weight));
    // The weight's shape; a grouped layer's diagonal blocks (IR drop couples the groups through
    // the whole array, which the blocks leave out).
    std::vector<std::int64_t> dense = analog[l]->Weight().sizes().vec();
    dense[1] = analog[l]->options().in;
    weights.push_back(analog[l]->Grouped(m.view(dense)).clone());
  }
  return weights;
}

}  // namespace aimc::experiment
