#include "aimc/experiment/chip.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/nonlinear.h"
#include "aimc/device/two_state.h"
#include "aimc/mapping/ternary.h"
#include "aimc/experiment/calibration.h"
#include "chip_tiles.h"

namespace aimc::experiment {

torch::Tensor Chip::Mvm(std::size_t layer, const torch::Tensor& x, MvmRoute route) const {
  Require(spec_.uses_devices(), "Chip::Mvm: a weight-noise chip has no arrays");
  const LayerTiles& lt = layers_.at(layer);
  const torch::Tensor xd = x.to(torch::kDouble);
  torch::Tensor out = torch::zeros({xd.size(0), lt.cols}, torch::kDouble);
  const device::DeviceCard& card = *spec_.card;
  const bool nonlinear = !card.physics().iv.linear();
  const bool circuit = spec_.options.has_parasitics() || crossbar_.access_ohm > 0;
  const double volts_per_unit = spec_.options.read_voltage_v / lt.input_full_scale;
  const double unit_s = dg_s_ / lt.max_level;  // one level step (DrawTiles)
  const device::IvShape shapes[2] = {card.Iv(device::State::kOn), card.Iv(device::State::kOff)};
  // Eigen's column-major buffer read row-major is M^T: transposing the view gives M.
  const auto view = [](const Eigen::MatrixXd& m) {
    return torch::from_blob(const_cast<double*>(m.data()), {m.cols(), m.rows()}, torch::kDouble)
        .t();
  };
  for (const Tile& tile : lt.tiles) {
    const torch::Tensor xt = xd.narrow(1, tile.row0, tile.rows);
    torch::Tensor y;
    if (!nonlinear) {
      y = xt.matmul(view(tile.weight));
    } else if (route == MvmRoute::kExact && circuit) {
      // The tile's circuit, solved per input by Newton: devices at their low-bias G0, each
      // following its state's I-V.
      const circuit::PairLayout layout = spec_.options.layout;
      const circuit::Crossbar xbar =
          TileCrossbar(tile, fmt::format("layer {} tile ({}, {})", layer, tile.row0, tile.col0));
      circuit::NonlinearSolver solver(TileArray(xbar, tile));
      const Eigen::MatrixXd xe = ToEigen(xt);  // M x rows
      Eigen::MatrixXd v(xbar.rows(), xe.rows());
      for (Eigen::Index n = 0; n < xe.rows(); ++n)
        v.col(n) = circuit::PairInputs(xe.row(n).transpose() * volts_per_unit, layout);
      const circuit::NonlinearBatch batch = solver.BatchColumnCurrents(v);
      for (const circuit::NonlinearSummary& s : batch.summaries) {
        int seen = last_newton_iterations_.load();
        while (s.iterations > seen && !last_newton_iterations_.compare_exchange_weak(seen, s.iterations)) {
        }
      }
      // Currents per unit input and unit weight: I / (V per unit x dG).
      Eigen::MatrixXd ye(xe.rows(), tile.cols);
      const Eigen::MatrixXd& i = batch.column_current_a;
      for (std::int64_t j = 0; j < tile.cols; ++j) {
        const Eigen::VectorXd col = layout == circuit::PairLayout::kColumns
                                        ? Eigen::VectorXd(i.row(2 * j) - i.row(2 * j + 1))
                                        : Eigen::VectorXd(i.row(j));
        ye.col(j) = col / (volts_per_unit * unit_s);
      }
      if (tile.compensation.size() > 0) ye *= tile.compensation.asDiagonal();
      y = view(ye).clone();
    } else {
      // Exact without parasitics: every device's current G0 V s(V), in unit weights. The fast
      // route adds the same non-linear part to the linear effective matrix (IR drop at G0).
      const Eigen::MatrixXd xe = ToEigen(xt);
      Eigen::MatrixXd ye = Eigen::MatrixXd::Zero(xe.rows(), tile.cols);
      const bool fast = route == MvmRoute::kFast && circuit;
      for (const device::State state : {device::State::kOn, device::State::kOff}) {
        const device::IvShape& shape = shapes[state == device::State::kOn ? 0 : 1];
        const bool on = state == device::State::kOn;
        Eigen::MatrixXd xs = xe;
        for (Eigen::Index n = 0; n < xs.rows(); ++n)
          for (Eigen::Index k = 0; k < xs.cols(); ++k)
            xs(n, k) *= shape.Shape(xe(n, k) * volts_per_unit) - (fast ? 1.0 : 0.0);
        const Eigen::MatrixXd g =
            ((tile.on_plus == on).cast<double>() * tile.g_plus.array() -
             (tile.on_minus == on).cast<double>() * tile.g_minus.array()).matrix();
        ye += xs * g;
      }
      ye /= unit_s;
      if (tile.compensation.size() > 0) ye *= tile.compensation.asDiagonal();
      // tile.weight carries the compensation already.
      if (fast) ye += xe * tile.weight;
      y = view(ye).clone();
    }
    if (spec_.options.adc_bits > 0) {
      const double full_scale =
          AdcFullScale(spec_.options, tile.rows, lt.input_full_scale, lt.max_level);
      const double step = AdcStep(full_scale, spec_.options.adc_bits);
      y = torch::round(y.clamp(-full_scale, full_scale) / step) * step;
    }
    out.narrow(1, tile.col0, tile.cols).add_(y);
  }
  if (!calibration_.empty()) {
    const Calibration& c = calibration_[layer];
    const auto row = [](const Eigen::VectorXd& v) {
      return torch::from_blob(const_cast<double*>(v.data()), {1, v.size()}, torch::kDouble).clone();
    };
    out = out * row(c.gain) + row(c.offset);
  }
  return out;
}

}  // namespace aimc::experiment
