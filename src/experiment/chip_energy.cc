#include "aimc/experiment/chip.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/circuit/effective_matrix.h"
#include "aimc/circuit/power.h"
#include "chip_tiles.h"

namespace aimc::experiment {

namespace {

// The first tile of tile t's row block (the tiles that share its rows, hence its inputs).
std::size_t FirstOfRowBlock(const LayerTiles& lt, std::size_t t) {
  for (std::size_t u = 0; u < t; ++u)
    if (lt.tiles[u].row0 == lt.tiles[t].row0) return u;
  return t;
}

// The row admittance of a tile in its inputs' space: V = P x (kRows: +x_i and -x_i on rows 2i
// and 2i + 1), so x^T (P^T Y P) x is the power per (volt per unit)^2.
Eigen::MatrixXd InputAdmittance(const Eigen::MatrixXd& y, circuit::PairLayout layout) {
  if (layout == circuit::PairLayout::kColumns) return y;
  const Eigen::Index n = y.rows() / 2;
  Eigen::MatrixXd out(n, n);
  for (Eigen::Index k = 0; k < n; ++k)
    for (Eigen::Index i = 0; i < n; ++i)
      out(i, k) = y(2 * i, 2 * k) - y(2 * i, 2 * k + 1) - y(2 * i + 1, 2 * k) +
                  y(2 * i + 1, 2 * k + 1);
  return out;
}

}  // namespace

energy::InferenceCost Chip::MeasureCost(const nn::Dataset& data,
                                        const energy::EnergyOptions& options) {
  Require(spec_.uses_devices(), "MeasureCost: a weight-noise chip has no arrays");
  Require(programmed_, "MeasureCost: the chip is not programmed on its network");
  options.Validate();
  const nn::Dataset head = data.Head(options.images);
  Require(head.size() > 0, "MeasureCost: no images to run");
  const device::DeviceCard& card = *spec_.card;
  const ChipOptions& o = spec_.options;
  const circuit::PairLayout layout = o.layout;
  const bool circuit = o.has_parasitics() || crossbar_.access_ohm > 0;
  const bool nonlinear = !card.physics().iv.linear();
  const device::IvShape shapes[2] = {card.Iv(device::State::kOn), card.Iv(device::State::kOff)};
  const double read_time_s = options.ReadTimeS(card.physics());

  // What each weight layer sees, summed over the images.
  struct Seen {
    double mvms = 0.0, input_elements = 0.0;
    // Per tile (the first of its row block): the Gram matrix of its inputs (rows x rows) and,
    // per non-linear state, sum x^2 (s(V(x)) - 1) per row. Summed in Eigen in a fixed order, so
    // that the result does not depend on LibTorch's thread count.
    std::vector<Eigen::MatrixXd> gram;
    std::vector<Eigen::VectorXd> h[2];
    torch::Tensor sample;  // the first batch's MVM inputs, for the split
  };
  // Copies of the holders (the layers themselves are shared): observers are set through them.
  std::vector<nn::AnalogLayer> all = network_.layers();
  std::vector<Seen> seen(all.size());
  std::vector<int> analog_index(all.size(), -1);
  {
    int a = 0;
    for (std::size_t i = 0; i < all.size(); ++i)
      if (all[i]->analog()) analog_index[i] = a++;
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    nn::AnalogLayerImpl* layer = all[i].get();
    const int a = analog_index[i];
    all[i]->SetInputObserver([&, i, a, layer](const torch::Tensor& xq) {
      Seen& s = seen[i];
      s.input_elements += static_cast<double>(xq.numel());
      const torch::Tensor x = layer->InputColumns(xq).to(torch::kDouble);
      s.mvms += static_cast<double>(x.size(0));
      if (a < 0) return;
      const LayerTiles& lt = layers_[a];
      const double vpu = o.read_voltage_v / lt.input_full_scale;
      if (s.gram.empty()) {
        s.gram.resize(lt.tiles.size());
        for (auto& h : s.h) h.resize(lt.tiles.size());
      }
      if (!s.sample.defined()) s.sample = x;
      const Eigen::MatrixXd xe = ToEigen(x);  // M x rows
      for (std::size_t t = 0; t < lt.tiles.size(); ++t) {
        const Tile& tile = lt.tiles[t];
        // Tiles of one row block see the same inputs: one Gram matrix serves them all.
        if (FirstOfRowBlock(lt, t) != t) continue;
        const auto xb = xe.middleCols(tile.row0, tile.rows);
        if (s.gram[t].size() == 0) s.gram[t] = Eigen::MatrixXd::Zero(tile.rows, tile.rows);
        s.gram[t].selfadjointView<Eigen::Lower>().rankUpdate(xb.transpose());
        if (!nonlinear) continue;
        for (int st = 0; st < 2; ++st) {
          if (shapes[st].linear()) continue;
          if (s.h[st][t].size() == 0) s.h[st][t] = Eigen::VectorXd::Zero(tile.rows);
          for (Eigen::Index k = 0; k < xb.cols(); ++k)
            for (Eigen::Index n = 0; n < xb.rows(); ++n) {
              const double v = xb(n, k);
              s.h[st][t](k) += v * v * (shapes[st].Shape(v * vpu) - 1.0);
            }
        }
      }
    });
  }
  struct ClearObservers {
    std::vector<nn::AnalogLayer> layers;
    ~ClearObservers() {
      for (auto& l : layers) l->ClearInputObserver();
    }
  } clear{all};
  std::int64_t correct = 0;
  {
    torch::NoGradGuard no_grad;
    network_.eval();
    const std::int64_t batch = 100;
    for (std::int64_t first = 0; first < head.size(); first += batch) {
      const std::int64_t n = std::min(batch, head.size() - first);
      nn::ReadIndexScope reads(first);
      const torch::Tensor logits = network_.forward(nn::ToInput(head.images.narrow(0, first, n)));
      correct += logits.argmax(1).eq(head.labels.narrow(0, first, n)).sum().item<std::int64_t>();
    }
  }
  const double images = static_cast<double>(head.size());

  std::vector<energy::LayerCount> counts;
  std::vector<double> outputs;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Seen& s = seen[i];
    Require(s.mvms > 0, "MeasureCost: layer {} saw no input", network_.layer_names()[i]);
    energy::LayerCount c;
    c.name = network_.layer_names()[i];
    c.analog = all[i]->analog();
    c.rows = all[i]->rows();
    c.cols = all[i]->cols();
    c.mvms = s.mvms / images;
    c.input_bits = all[i]->input_bits();
    c.input_elements = s.input_elements / images;
    outputs.push_back(c.mvms * static_cast<double>(c.cols));
    const int a = analog_index[i];
    if (a >= 0) {
      const LayerTiles& lt = layers_[a];
      const double vpu = o.read_voltage_v / lt.input_full_scale;
      std::int64_t row_blocks = 0;
      for (std::size_t t = 0; t < lt.tiles.size(); ++t) {
        const Tile& tile = lt.tiles[t];
        const std::size_t first = FirstOfRowBlock(lt, t);
        if (first == t) ++row_blocks;
        const Eigen::MatrixXd gram = s.gram[first].selfadjointView<Eigen::Lower>();
        const circuit::Crossbar xbar =
            TileCrossbar(tile, fmt::format("layer {} tile ({}, {})", c.name, tile.row0, tile.col0));
        Eigen::MatrixXd y;
        if (circuit) {
          y = circuit::EffectivePortMatrices(xbar).row_admittance;
        } else {
          y = xbar.CellConductances().rowwise().sum().asDiagonal();
        }
        const Eigen::MatrixXd yx = InputAdmittance(y, layout);
        double power_sum = (yx.array() * gram.array()).sum();  // sum over reads of x^T Y x
        if (nonlinear) {
          for (int st = 0; st < 2; ++st) {
            if (shapes[st].linear()) continue;
            const bool on = st == 0;
            const Eigen::VectorXd g_state =
                ((tile.on_plus == on).cast<double>() * tile.g_plus.array() +
                 (tile.on_minus == on).cast<double>() * tile.g_minus.array())
                    .matrix()
                    .rowwise()
                    .sum();
            power_sum += s.h[st][first].dot(g_state);
          }
        }
        energy::TileCount tc;
        tc.rows = tile.rows;
        tc.cols = tile.cols;
        tc.lines_rows = xbar.rows();
        tc.lines_cols = xbar.cols();
        tc.sum_v2 = vpu * vpu * gram.trace() / images;
        tc.array_j = read_time_s * vpu * vpu * power_sum / images;
        // The split: full solves of a few MVMs of the first batch, devices against the whole.
        // They are drawn evenly among the MVMs that draw power (a convolution's padding and a
        // ReLU's zeros make many inputs all zero).
        const torch::Tensor live =
            s.sample.narrow(1, tile.row0, tile.rows).abs().sum(1).gt(0).nonzero().squeeze(1);
        if (!circuit || live.numel() == 0) {
          tc.devices_j = tc.array_j;  // no parasitic, or no power to split
        } else if (options.split_mvms > 0) {
          const torch::Tensor x = s.sample.index_select(0, live);
          const std::int64_t n = std::min<std::int64_t>(options.split_mvms, x.size(0));
          const torch::Tensor rows = torch::linspace(0, static_cast<double>(x.size(0) - 1), n)
                                         .round()
                                         .to(torch::kLong);
          const Eigen::MatrixXd xe = ToEigen(x.index_select(0, rows).narrow(1, tile.row0, tile.rows));
          double devices_w = 0.0, total_w = 0.0;
          const auto split = [&](auto& solver, const auto& array) {
            for (Eigen::Index k = 0; k < xe.rows(); ++k) {
              const Eigen::VectorXd v = circuit::PairInputs(xe.row(k).transpose() * vpu, layout);
              const circuit::ArrayPower p = circuit::PowerOf(array, v, solver.Solve(v));
              devices_w += p.devices_w;
              total_w += p.total_w;
            }
          };
          if (!nonlinear) {
            const circuit::DcSolver solver(xbar);
            split(solver, xbar);
          } else {
            const circuit::NonlinearCrossbar array = TileArray(xbar, tile);
            circuit::NonlinearSolver solver(array);
            split(solver, array);
          }
          tc.devices_j = total_w > 0 ? tc.array_j * devices_w / total_w : 0.0;
        }
        c.tiles.push_back(tc);
      }
      c.row_blocks = row_blocks;
    }
    counts.push_back(std::move(c));
  }
  energy::ChipGeometry geometry;
  geometry.lines_per_weight_row = layout == circuit::PairLayout::kRows ? 2 : 1;
  geometry.lines_per_weight_col = layout == circuit::PairLayout::kColumns ? 2 : 1;
  geometry.adc_bits = o.adc_bits;
  geometry.read_voltage_v = o.read_voltage_v;
  geometry.read_time_s = read_time_s;
  energy::InferenceCost cost = energy::Account(counts, network_.CountOtherOps(outputs), geometry,
                                               options, card.cell(), card.write_voltage_v());
  cost.images = images;
  cost.accuracy = static_cast<double>(correct) / images;
  return cost;
}

}  // namespace aimc::experiment
