#include "aimc/experiment/calibration.h"

#include <algorithm>

#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/experiment/chip.h"
#include "chip_tiles.h"

namespace aimc::experiment {

void Chip::Calibrate() {
  calibration_.clear();
  if (!spec_.uses_devices() || spec_.options.calibration_images == 0) return;
  const CalibrationSet& set = *spec_.calibration;
  Require(set.inputs.size() == layers_.size(),
          "the calibration set holds {} analog layers, the network {}", set.inputs.size(),
          layers_.size());
  auto analog = network_.AnalogLayers();
  std::vector<Calibration> fitted;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const torch::Tensor& x = set.inputs[l];
    Require(x.dim() == 2 && x.size(1) == layers_[l].rows,
            "the calibration inputs of layer {} have shape {}, expected (M, {})", l,
            c10::str(x.sizes()), layers_[l].rows);
    // Least squares per column of the chip's output (uncalibrated: calibration_ is empty
    // here) against the product the network was trained with, in unit weights: the ternary
    // levels, plus the chip deviation an IR-drop-aware network learned with (else calibration
    // would undo what it learned).
    const Eigen::MatrixXd chip = ToEigen(Mvm(l, x, MvmRoute::kFast));
    Eigen::MatrixXd target = ToEigen(analog[l]->LevelMatrix());
    if (const torch::Tensor& dev = analog[l]->chip_deviation(); dev.defined())
      target += ToEigen(analog[l]->Dense(dev).reshape({target.cols(), target.rows()}).t());
    const Eigen::MatrixXd ideal = ToEigen(x) * target;
    const double n = static_cast<double>(chip.rows());
    Calibration c;
    c.gain = Eigen::VectorXd::Ones(chip.cols());
    c.offset = Eigen::VectorXd::Zero(chip.cols());
    for (Eigen::Index j = 0; j < chip.cols(); ++j) {
      const double mc = chip.col(j).mean(), mi = ideal.col(j).mean();
      const Eigen::ArrayXd dc = chip.col(j).array() - mc;
      const double var = dc.square().sum() / n;
      const double cov = (dc * (ideal.col(j).array() - mi)).sum() / n;
      // A column whose output does not vary over the calibration set (all its inputs zero)
      // gets an offset only.
      if (var > 1e-300 && var > 1e-24 * (mc * mc + mi * mi)) c.gain(j) = cov / var;
      c.offset(j) = mi - c.gain(j) * mc;
    }
    fitted.push_back(std::move(c));
  }
  calibration_ = std::move(fitted);
}

std::shared_ptr<const CalibrationSet> CaptureCalibration(nn::NetworkImpl& network,
                                                         const nn::Dataset& calibration,
                                                         std::int64_t max_mvms_per_layer) {
  Require(calibration.size() > 0, "the calibration set is empty");
  Require(max_mvms_per_layer >= 1, "max_mvms_per_layer must be >= 1, got {}", max_mvms_per_layer);
  auto analog = network.AnalogLayers();
  for (const auto& layer : analog)
    Require(!layer->has_chip_product(),
            "CaptureCalibration: the network has a chip programmed; calibration inputs come from "
            "the digital network");
  auto set = std::make_shared<CalibrationSet>();
  set->images = calibration.size();
  std::vector<std::vector<torch::Tensor>> seen(analog.size());
  for (std::size_t l = 0; l < analog.size(); ++l) {
    nn::AnalogLayerImpl* layer = analog[l].get();
    analog[l]->SetInputObserver([&seen, l, layer](const torch::Tensor& xq) {
      seen[l].push_back(layer->InputColumns(xq).to(torch::kDouble));
    });
  }
  {
    struct Clear {
      std::vector<nn::AnalogLayer>& layers;
      ~Clear() {
        for (auto& l : layers) l->ClearInputObserver();
      }
    } clear{analog};
    torch::NoGradGuard no_grad;
    network.eval();
    for (std::int64_t first = 0; first < calibration.size(); first += 100) {
      const std::int64_t n = std::min<std::int64_t>(100, calibration.size() - first);
      network.forward(nn::ToInput(calibration.images.narrow(0, first, n)));
    }
  }
  for (auto& parts : seen) {
    const torch::Tensor x = torch::cat(parts);
    const std::int64_t n = std::min(max_mvms_per_layer, x.size(0));
    // Evenly spread over images and positions.
    const torch::Tensor rows =
        torch::linspace(0, static_cast<double>(x.size(0) - 1), n).round().to(torch::kLong);
    set->inputs.push_back(x.index_select(0, rows).contiguous());
  }
  return set;
}

}  // namespace aimc::experiment
