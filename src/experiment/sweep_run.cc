// RunSweep: plan the points, load what they need, run each point on a chip, write its row.
#include "aimc/experiment/sweep.h"

#include <chrono>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/chip_spec.h"
#include "aimc/mapping/ternary.h"
#include "aimc/nn/runtime.h"
#include "sweep_inputs.h"
#include "sweep_result.h"

namespace aimc::experiment {

namespace fs = std::filesystem;

namespace {

// A point to run: its row with the key filled in, and the R_ON and TMR asked of its card (NaN:
// the card's own), from which the card of the point is made again where it runs.
struct PlannedPoint {
  SweepRow row;
  double r_on_request, tmr_request;
};

// A 48-bit fingerprint: exact in a double, so it survives the CSV.
std::uint64_t Id48(const std::string& hex16) { return std::stoull(hex16.substr(0, 12), nullptr, 16); }

// Every point, in the order of the axes (the order of the finished CSV); each rank builds the
// same list. The device-mode axes have one value (unused) in noise mode.
std::vector<PlannedPoint> PlanPoints(const SweepOptions& options, const SweepInputs& inputs) {
  const std::vector<std::int64_t> tiles =
      options.tile_rows.empty() ? std::vector<std::int64_t>{options.chip.tile_rows}
                                : options.tile_rows;
  const bool noise_mode = options.cards.empty();
  const std::vector<double> r_on_axis = noise_mode ? std::vector<double>{0.0} : OrNan(options.r_on_ohm);
  const std::vector<std::int64_t> tile_axis = noise_mode ? std::vector<std::int64_t>{0} : tiles;
  const std::vector<double> tmr_axis = noise_mode ? std::vector<double>{0.0} : OrNan(options.tmr);
  const int n_cards = noise_mode ? 1 : static_cast<int>(options.cards.size());
  std::vector<PlannedPoint> points;
  for (std::size_t m = 0; m < options.models.size(); ++m)
    for (int c = 0; c < n_cards; ++c)
      for (double s : options.sigma_w_test)
        for (double r : r_on_axis)
          for (double w : options.wire_ohm)
            for (std::int64_t tr : tile_axis)
              for (double tmr : tmr_axis)
                for (double time : options.time_s)
                  for (double kelvin : options.temperature_k)
                    for (int chip = 0; chip < options.chips; ++chip) {
                      PlannedPoint t;
                      SweepPoint& p = t.row.point;
                      p.model = m;
                      p.card = noise_mode ? -1 : c;
                      p.sigma_w_test = s;
                      p.wire_ohm = w;
                      p.tile_rows = tr;
                      p.time_s = time;
                      p.temperature_k = kelvin;
                      p.chip = chip;
                      t.row.model_id = Id48(inputs.model_hashes[m]);
                      t.r_on_request = r;
                      t.tmr_request = tmr;
                      if (!noise_mode) {
                        const auto at = CardAt(*inputs.cards[static_cast<std::size_t>(c)], r, tmr);
                        p.r_on_ohm = at->r_on_ohm();
                        p.tmr = at->Stats().on_off_ratio() - 1.0;
                        t.row.card_id = Id48(HashHex(at->ToJson().dump()));
                      }
                      points.push_back(t);
                    }
  return points;
}

// The relative cost of a point, for handing out the longest first over ranks: a device point
// solves one effective matrix per tile (about rows^2 per array with wires; without wires the
// conductances alone), a weight-noise point draws noise only. Measured on CNN 1: a 1024-row tile
// with wires is about 100x a weight-noise point.
double PointCost(const SweepPoint& p, const SweepOptions& options) {
  if (!p.uses_devices()) return 1.0;
  if (p.wire_ohm == 0.0) return 2.0;
  const double rows = static_cast<double>(p.tile_rows > 0 ? p.tile_rows : options.chip.tile_rows);
  return 2.0 + 100.0 * (rows / 1024.0) * (rows / 1024.0);
}

// The chip of a point: weight noise, or devices from its card at the point's R_ON and TMR with
// its wires, tiles and read conditions. Sets the weight spread the row reports.
ChipSpec SpecOf(const PlannedPoint& t, const SweepOptions& options, const SweepInputs& inputs,
                SweepRow& row) {
  const SweepPoint& p = row.point;
  row.sigma_w_devices = p.sigma_w_test;
  if (!p.uses_devices()) return ChipSpec::WeightNoise(nn::LevelNoise::Uniform(p.sigma_w_test));
  std::shared_ptr<const device::DeviceCard> card =
      CardAt(*inputs.cards[static_cast<std::size_t>(p.card)], t.r_on_request, t.tmr_request);
  row.sigma_w_devices = mapping::AnalyticSpread(card->Stats()).sigma_max();
  ChipOptions chip = options.chip;
  chip.crossbar.wire_row_ohm = chip.crossbar.wire_col_ohm = p.wire_ohm;
  chip.tile_rows = p.tile_rows;
  chip.time_s = p.time_s;
  chip.temperature_k = p.temperature_k;
  ChipSpec spec = ChipSpec::Devices(std::move(card), chip);
  spec.calibration = inputs.calibrations[p.model];
  return spec;
}

// One point: its finished row.
SweepRow RunPoint(const PlannedPoint& t, const SweepOptions& options, SweepInputs& inputs) {
  SweepRow row = t.row;
  const SweepPoint& p = row.point;
  nn::Model& model = inputs.models[p.model];
  const nn::Dataset& test = inputs.test_data.at(DataKeyOf(options, model.info));
  const auto start = std::chrono::steady_clock::now();
  const ChipSpec spec = SpecOf(t, options, inputs, row);
  {
    Chip chip(*model.network, spec, Rng::Derive(options.seed, static_cast<std::uint64_t>(p.chip)));
    row.accuracy = chip.Evaluate(test);
    // The energy of an inference on this chip (device mode), on the first images.
    if (p.uses_devices() && options.measure_energy) {
      const energy::InferenceCost cost = chip.MeasureCost(test, options.energy);
      row.energy_pj = cost.energy.Total() * 1e12;
      row.array_pj = cost.energy.array_j * 1e12;
      row.tops_per_w = cost.TopsPerW();
    }
  }
  row.error_pct = 100.0 * (1.0 - row.accuracy);
  row.test_images = test.size();
  row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return row;
}

// Runs the points `todo` over the ranks, the longest first; rank 0 writes each finished one to
// `csv` and `table` before its rank gets the next.
void RunPoints(const std::vector<PlannedPoint>& points, const std::vector<std::size_t>& todo,
               const SweepOptions& options, SweepInputs& inputs, const fs::path& csv,
               Table& table) {
  if (todo.empty()) return;
  std::optional<Progress> progress;
  if (cluster::IsWriter()) progress.emplace(options.name, todo.size(), "pt");
  std::size_t finished = 0;
  cluster::DistributeOptions how;
  for (std::size_t k : todo) how.cost.push_back(PointCost(points[k].row.point, options));
  // The one writer: every finished point is on disk before its rank gets the next one.
  how.on_done = [&](std::size_t, const std::string& line) {
    const std::vector<double>& values = AppendResult(csv, line, table);
    progress->Update(++finished, fmt::format("error {:.2f} %", values[table.Column("error_pct")]));
  };
  const auto run = [&](std::size_t k) {
    return ResultLine(ToCsvRow(RunPoint(points[todo[k]], options, inputs)));
  };
  cluster::Distribute(todo.size(), run, how);
  if (progress) progress->Finish();
}

}  // namespace

Table RunSweep(const SweepOptions& requested, const fs::path& csv, const std::string& command,
               OnChange on_change) {
  requested.Validate();
  // The checks that read files, once, before any point; what they load runs the points.
  SweepInputs inputs = LoadSweepInputs(requested);
  const SweepOptions options = WithImports(requested, csv, inputs);
  nn::SetThreads(options.threads);
  Require(!fs::is_directory(csv), "{}: is a folder; the result must be a CSV file", csv.string());
  LoadTestData(options, inputs);
  const nlohmann::json definition =
      Definition(options, inputs.cards, inputs.model_hashes, inputs.data_fingerprints);
  Table table = OpenResult(csv, options, definition, command, on_change);

  const std::vector<PlannedPoint> points = PlanPoints(options, inputs);
  std::vector<std::vector<double>> keys;
  for (const PlannedPoint& p : points) keys.push_back(KeyOf(ToCsvRow(p.row)));
  const std::vector<std::size_t> todo = PointsLeft(keys, table);
  const std::size_t total = points.size();
  if (todo.empty()) {
    spdlog::info("{}: all {} points already in {}", options.name, total, csv.string());
  } else {
    spdlog::info("{}: {} of {} points to run ({} done before){}", options.name, todo.size(), total,
                 total - todo.size(),
                 cluster::Size() > 1 ? fmt::format(", on {} ranks", cluster::Size()) : "");
  }
  RunPoints(points, todo, options, inputs, csv, table);
  SortResult(keys, csv, table);
  ShareResult(table);
  return table;
}

}  // namespace aimc::experiment
