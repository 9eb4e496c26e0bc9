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

namespace {

// Ages a tile's programmed devices to the read conditions (DeviceCard::Age, one draw of
// `aging_rng` per device in a fixed order) and sets which read ON; with drift compensation, the
// factor c(0) / c(t) from the same devices aged to time 0 (the same draws: stuck-at faults are
// there from the start).
// `written`: the levels (max_level L) or, with `continuous`, the weights in [-1, 1].
void AgeTile(Tile& tile, const Eigen::MatrixXd& written, int max_level, bool continuous,
             const device::DeviceCard& card, const ChipOptions& o, Rng aging_rng) {
  const device::ReadConditions now = o.Conditions();
  device::ReadConditions fresh = now;
  fresh.time_s = 0.0;
  Rng fresh_rng = aging_rng;
  const bool compensate = o.drift_compensation != DriftCompensation::kNone;
  tile.on_plus.resize(tile.rows, tile.cols);
  tile.on_minus.resize(tile.rows, tile.cols);
  Eigen::VectorXd c0 = Eigen::VectorXd::Zero(tile.cols), ct = Eigen::VectorXd::Zero(tile.cols);
  for (std::int64_t j = 0; j < tile.cols; ++j) {
    for (std::int64_t i = 0; i < tile.rows; ++i) {
      const double target = written(i, j);
      const int w = continuous ? 0 : static_cast<int>(target);
      const mapping::PairStates states = mapping::StatesOf(max_level == 1 ? w : 0);
      for (const bool plus : {true, false}) {
        double& g = plus ? tile.g_plus(i, j) : tile.g_minus(i, j);
        const device::State state = plus ? states.plus : states.minus;
        // Multi-level: the device's level of max_level (Program's mapping).
        const int level = std::max(plus ? w : -w, 0);
        const auto age = [&](const device::ReadConditions& at, Rng& rng) {
          if (continuous)
            return card.AgeFraction(std::max(plus ? target : -target, 0.0), g, at, rng);
          return max_level == 1 ? card.Age(state, g, at, rng)
                                : card.AgeLevel(level, max_level, g, at, rng);
        };
        if (compensate) c0(j) += age(fresh, fresh_rng).g_s;
        const device::DeviceCard::Aged aged = age(now, aging_rng);
        g = aged.g_s;
        (plus ? tile.on_plus : tile.on_minus)(i, j) = aged.state == device::State::kOn;
        ct(j) += g;
      }
    }
  }
  if (o.drift_compensation == DriftCompensation::kColumn) {
    tile.compensation = c0.cwiseQuotient(ct);
  } else if (o.drift_compensation == DriftCompensation::kArray) {
    tile.compensation = Eigen::VectorXd::Constant(tile.cols, c0.sum() / ct.sum());
  }
}

}  // namespace

void Chip::DrawTiles(const device::DeviceCard& card) {
  const ChipOptions& o = spec_.options;
  const bool aging = card.physics().any();
  dg_s_ = card.UnitWeightSiemens(o.read_voltage_v);
  Require(std::isfinite(dg_s_) && dg_s_ > 0,
          "{}: the unit weight at read_voltage_v = {} V is {} S; ON must conduct more than OFF",
          card.name(), o.read_voltage_v, dg_s_);
  crossbar_ = o.crossbar;
  crossbar_.access_ohm += card.physics().iv.access_ohm;
  auto analog = network_.AnalogLayers();
  Require(!analog.empty(), "the network has no ternary layer to place on a chip");
  for (std::size_t l = 0; l < analog.size(); ++l) {
    nn::AnalogLayer& layer = analog[l];
    LayerTiles lt;
    lt.continuous = layer->continuous();
    if (lt.continuous)
      card.RequireAnalogStates(fmt::format("analog layer {} (continuous weights)", l));
    const torch::Tensor levels = lt.continuous
                                     ? layer->LevelMatrix().to(torch::kDouble).contiguous()
                                     : layer->TernaryMatrix().to(torch::kInt32).contiguous();
    lt.rows = levels.size(0);
    lt.cols = levels.size(1);
    const int bits = layer->input_bits();
    lt.input_full_scale = bits > 0 ? layer->input_full_scale() : 1.0;
    lt.max_level = layer->max_level();
    if (lt.max_level > 1 || lt.continuous) {
      const std::string what =
          lt.continuous ? fmt::format("analog layer {} (continuous weights)", l)
                        : fmt::format("analog layer {} ({} weight levels)", l, 2 * lt.max_level + 1);
      Require(lt.continuous || card.levels() > lt.max_level,
              "{}: card '{}' holds {} conductance levels per device, {} needed (set `levels` in "
              "the card, docs/devices.md)",
              what, card.name(), card.levels(), lt.max_level + 1);
      Require(card.physics().iv.linear(),
              "{}: card '{}' has a non-linear I-V, which is stated for its two states only; "
              "intermediate conductances need a linear one",
              what, card.name());
      Require(!card.physics().retention.any(),
              "{}: card '{}' has a retention model of a binary state; intermediate levels have "
              "none",
              what, card.name());
    }
    const int* p = lt.continuous ? nullptr : levels.data_ptr<int>();
    const double* pc = lt.continuous ? levels.data_ptr<double>() : nullptr;
    // A grouped conv's groups lie on diagonal blocks (group rows x group cols); a tile that
    // holds none of them would hold only zeros and is not placed.
    const auto& lo = layer->options();
    const std::int64_t group_rows = lt.rows / lo.groups, group_cols = lt.cols / lo.groups;
    const auto holds_a_group = [&](std::int64_t r0, std::int64_t r1, std::int64_t c0,
                                   std::int64_t c1) {
      return lo.groups == 1 ||
             std::max(r0 / group_rows, c0 / group_cols) <=
                 std::min((r1 - 1) / group_rows, (c1 - 1) / group_cols);
    };
    std::uint64_t tile_index = 0;
    for (std::int64_t r0 = 0; r0 < lt.rows; r0 += o.tile_rows) {
      for (std::int64_t c0 = 0; c0 < lt.cols; c0 += o.tile_cols) {
        const std::uint64_t this_tile = tile_index++;
        if (!holds_a_group(r0, std::min(r0 + o.tile_rows, lt.rows), c0,
                           std::min(c0 + o.tile_cols, lt.cols)))
          continue;
        Tile tile;
        tile.row0 = r0;
        tile.col0 = c0;
        tile.rows = std::min(o.tile_rows, lt.rows - r0);
        tile.cols = std::min(o.tile_cols, lt.cols - c0);
        Eigen::MatrixXd w(tile.rows, tile.cols);
        for (std::int64_t i = 0; i < tile.rows; ++i)
          for (std::int64_t j = 0; j < tile.cols; ++j) {
            const std::int64_t at = (r0 + i) * lt.cols + c0 + j;
            w(i, j) = lt.continuous ? pc[at] : static_cast<double>(p[at]);
          }
        const std::uint64_t tile_seed = Rng::Derive(Rng::Derive(seed_, l), this_tile);
        Rng rng(tile_seed);
        mapping::ProgrammedPairs pairs =
            lt.continuous ? mapping::ProgramContinuous(w, card, rng)
                          : mapping::Program(w.cast<int>(), card, rng, lt.max_level);
        tile.g_plus = std::move(pairs.g_plus);
        tile.g_minus = std::move(pairs.g_minus);
        // A stream of its own: the programmed draws, hence a chip at time 0, stay as they were.
        if (aging)
          AgeTile(tile, w, lt.max_level, lt.continuous, card, o,
                  Rng(Rng::Derive(tile_seed, kAgingStream)));
        lt.tiles.push_back(std::move(tile));
      }
    }
    layers_.push_back(std::move(lt));
  }
}

circuit::Crossbar Chip::TileCrossbar(const Tile& tile, std::string name) const {
  return circuit::Crossbar(
      circuit::InterleavePairs(tile.g_plus, tile.g_minus, spec_.options.layout), crossbar_,
      std::move(name));
}

circuit::NonlinearCrossbar Chip::TileArray(const circuit::Crossbar& xbar, const Tile& tile) const {
  const device::DeviceCard& card = *spec_.card;
  const Eigen::MatrixXd off = circuit::InterleavePairs(
      (!tile.on_plus).cast<double>().matrix(), (!tile.on_minus).cast<double>().matrix(),
      spec_.options.layout);
  return circuit::NonlinearCrossbar(
      xbar, {card.Iv(device::State::kOn), card.Iv(device::State::kOff)}, off.cast<std::uint8_t>());
}

}  // namespace aimc::experiment
