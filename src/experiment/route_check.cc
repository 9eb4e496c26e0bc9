#include "aimc/experiment/chip.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "aimc/common/error.h"
#include "chip_tiles.h"

namespace aimc::experiment {

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

}  // namespace aimc::experiment
