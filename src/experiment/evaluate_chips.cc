#include "aimc/experiment/evaluate_chips.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/experiment/chip.h"
#include "aimc/nn/evaluate.h"
#include "chip_tiles.h"

namespace aimc::experiment {

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

ProgrammedChips::ProgrammedChips(nn::NetworkImpl& network, const ChipSpec& spec,
                                 const std::vector<std::uint64_t>& seeds)
    : network_(network), chips_(static_cast<std::int64_t>(seeds.size())) {
  Require(!seeds.empty(), "no chips to program");
  spec.Validate();
  network.eval();
  network.ClaimChips(this, fmt::format("{} chips side by side", seeds.size()));
  try {
    std::vector<std::unique_ptr<Chip>> chips;
    std::vector<Chip*> raw;
    for (const std::uint64_t seed : seeds) {
      chips.push_back(std::unique_ptr<Chip>(new Chip(network, spec, seed, Chip::Unprogrammed{})));
      raw.push_back(chips.back().get());
    }
    Chip::Build(raw);
    std::vector<const std::vector<nn::ChipProduct>*> products;
    for (const Chip* c : raw) products.push_back(&c->products_);
    network.ProgramChips(Stack(products));
  } catch (...) {
    network.ClearChips();
    network.ReleaseChips(this);
    throw;
  }
}

ProgrammedChips::~ProgrammedChips() {
  network_.ClearChips();
  network_.ReleaseChips(this);
}

torch::Tensor ProgrammedChips::Logits(const torch::Tensor& input, std::int64_t first) const {
  Require(input.dim() >= 2 && input.size(0) >= 1, "chip inputs of shape {}: no samples",
          c10::str(input.sizes()));
  torch::NoGradGuard no_grad;
  const nn::ReadIndexScope reads(first);
  const torch::Tensor logits = network_.forward(input.to(torch::kFloat).contiguous());
  return logits.view({input.size(0), chips_, -1});
}

std::int64_t ProgrammedChips::BatchSize(std::int64_t chips) {
  return std::max<std::int64_t>(1, kImagesPerPass / std::max<std::int64_t>(chips, 1));
}

std::vector<double> EvaluateChips(nn::NetworkImpl& network, const nn::Dataset& data,
                                  const ChipSpec& spec, const std::vector<std::uint64_t>& seeds,
                                  int chips_per_pass,
                                  std::vector<std::vector<std::uint8_t>>* wrong) {
  Require(chips_per_pass >= 0, "chips_per_pass must be >= 0, got {}", chips_per_pass);
  spec.Validate();
  const std::size_t per_pass = static_cast<std::size_t>(
      chips_per_pass > 0 ? chips_per_pass : kDefaultChipsPerPass);
  std::vector<double> accuracy;
  if (wrong != nullptr) wrong->clear();
  for (std::size_t first = 0; first < seeds.size(); first += per_pass) {
    const std::size_t k = std::min(per_pass, seeds.size() - first);
    const std::vector<std::uint64_t> pass_seeds(seeds.begin() + static_cast<std::ptrdiff_t>(first),
                                                seeds.begin() +
                                                    static_cast<std::ptrdiff_t>(first + k));
    // Programmed for this pass, cleared and released however it ends.
    const ProgrammedChips programmed(network, spec, pass_seeds);
    std::vector<double> pass;
    const std::int64_t batch = ProgrammedChips::BatchSize(static_cast<std::int64_t>(k));
    if (wrong == nullptr) {
      pass = nn::EvaluateSideBySide(network, data, batch);
    } else {
      // The same counts as EvaluateSideBySide's, kept per image.
      for (std::vector<std::uint8_t>& row : nn::WrongImages(network, data, batch)) {
        const double errors = static_cast<double>(std::count(row.begin(), row.end(), 1));
        pass.push_back(data.size() == 0 ? 0.0
                                        : (static_cast<double>(data.size()) - errors) /
                                              static_cast<double>(data.size()));
        wrong->push_back(std::move(row));
      }
    }
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

}  // namespace aimc::experiment
