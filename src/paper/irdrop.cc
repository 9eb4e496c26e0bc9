#include "irdrop.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/circuit/wires.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/calibration.h"
#include "aimc/nn/evaluate.h"
#include "energy_part.h"
#include "parts.h"
#include "units.h"

namespace aimc::paper {

nlohmann::json IrDropPlan::ToJson() const {
  nlohmann::json json = {{"r_on_ohm", r_on_ohm}, {"wire_scale", wire_scale}, {"tmr", tmr},
                         {"epochs", epochs},     {"test_subset", test_subset},
                         {"error_rise_pct", error_rise_pct}};
  // Set by limits only: a plan without them keeps the key it always had.
  if (train_subset != 0) json["train_subset"] = train_subset;
  if (epoch_test_subset != 0) json["epoch_test_subset"] = epoch_test_subset;
  return json;
}

IrDropPlan Fig16Plan(bool quick, double tmr) {
  IrDropPlan p;
  // 100 kOhm to 100 MOhm, as the paper's Fig. 16.
  p.r_on_ohm = quick ? std::vector<double>{1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8}
                     : std::vector<double>{1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8};
  p.epochs = quick ? 25 : 40;
  p.tmr = tmr;
  return p;
}

IrDropPlan Fig16Plan(const StudyOptions& options, double tmr) {
  IrDropPlan p = Fig16Plan(options.quick(), tmr);
  const Limits& limits = options.limits;
  p.epochs = limits.Epochs(p.epochs);
  p.test_subset = Limits::Images(p.test_subset, limits.test_images);
  p.train_subset = Limits::Images(p.train_subset, limits.train_images);
  p.epoch_test_subset = Limits::Images(p.epoch_test_subset, limits.test_images);
  return p;
}

Cnn1IrDrop Cnn1ForIrDrop(const StudyOptions& options, const IrDropPlan& plan) {
  Cnn1IrDrop c;
  c.data = LoadStudyData(options, HasUserMnist(options) ? "mnist" : "fashion-mnist");
  NetSpec spec = BaseSpec(options, "lenet5", c.data);
  spec.training.epochs = plan.epochs;
  spec.training.train_subset = plan.train_subset;
  spec.training.test_subset = plan.epoch_test_subset;
  // Without shifts LeNet-5 fits Fashion-MNIST better (measured: 90.4 % vs 88.9 %).
  spec.training.augment = false;
  c.net = StudyModels(options, {spec}, c.data).front();
  c.test = c.data.split.test.Head(plan.test_subset);
  return c;
}

double NetworkErrorPct(nn::NetworkImpl& network, const nn::Dataset& test,
                       std::vector<std::uint8_t>* wrong) {
  std::vector<std::uint8_t> w = nn::WrongImages(network, test).at(0);
  const auto errors = std::count(w.begin(), w.end(), 1);
  if (wrong != nullptr) *wrong = std::move(w);
  // 100 * (1 - accuracy), the accuracy as nn::Evaluate gives it (0 without images).
  return test.size() == 0 ? 100.0
                          : 100 * (1 - static_cast<double>(test.size() - errors) /
                                           static_cast<double>(test.size()));
}

double DigitalErrorPct(Cnn1IrDrop& cnn1, std::vector<std::uint8_t>* wrong) {
  return NetworkErrorPct(*cnn1.net.network, cnn1.test, wrong);
}

double IrDropError(nn::NetworkImpl& network, const nn::Dataset& test, double r_on_ohm, double tmr,
                   double wire_scale, double* seconds, const energy::EnergyOptions* energy_options,
                   energy::InferenceCost* cost,
                   std::shared_ptr<const experiment::CalibrationSet> calibration,
                   std::vector<std::uint8_t>* wrong) {
  const auto start = std::chrono::steady_clock::now();
  // No spread: every seed gives the same chip.
  const double error = ChipErrorPct(network, test, IdealCard(r_on_ohm, tmr), wire_scale,
                                    /*seed=*/1, std::move(calibration), energy_options, cost,
                                    wrong);
  if (seconds)
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return error;
}

double ChipErrorPct(nn::NetworkImpl& network, const nn::Dataset& test,
                    std::shared_ptr<const device::DeviceCard> card, double wire_scale,
                    std::uint64_t seed,
                    std::shared_ptr<const experiment::CalibrationSet> calibration,
                    const energy::EnergyOptions* energy_options, energy::InferenceCost* cost,
                    std::vector<std::uint8_t>* wrong) {
  experiment::ChipOptions options;
  options.crossbar.UseWires(circuit::Layout22nm(), wire_scale);
  if (calibration) options.calibration_images = calibration->images;
  auto spec = experiment::ChipSpec::Devices(std::move(card), options);
  spec.calibration = std::move(calibration);
  experiment::Chip chip(network, spec, seed);
  const double error = NetworkErrorPct(network, test, wrong);
  if (energy_options && cost) *cost = chip.MeasureCost(test, *energy_options);
  return error;
}

double LowestOk(const std::vector<double>& points, const std::vector<double>& increase,
                double budget) {
  double last = std::nan("");
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (increase[i] > budget) break;
    last = points[i];
  }
  return last;
}

double SpecAt(const std::vector<double>& points, const std::vector<double>& increase,
              double budget, bool log_scale) {
  const double last_ok = LowestOk(points, increase, budget);
  if (std::isnan(last_ok)) return last_ok;
  const auto i = static_cast<std::size_t>(
      std::find(points.begin(), points.end(), last_ok) - points.begin());
  if (i + 1 >= points.size()) return last_ok;
  const double t = (budget - increase[i]) / (increase[i + 1] - increase[i]);
  const auto scale = [&](double x) { return log_scale ? std::log(x) : x; };
  const double x = scale(points[i]) + t * (scale(points[i + 1]) - scale(points[i]));
  return log_scale ? std::exp(x) : x;
}

namespace {

// Fig. 16's work units, shared by Fig. 20: every (wire, R_ON) point in table order, each wire's
// from high to low R_ON, then the error without wires. A point returns its error (%), seconds
// and the cost of an inference (CostFields). The points cost alike (one chip: its tiles'
// circuits, the test images, the energy images) and more than the plain test pass of the last
// unit, so the item order is the longest-first order.
struct Fig16Points {
  struct Point {
    double wire_scale, r_on_ohm;
  };
  std::vector<Point> points;
  std::vector<std::vector<double>> results;  // per point: error, seconds, CostFields...
  double digital_error_pct = 0.0;
};

Fig16Points RunFig16(Cnn1IrDrop& cnn1, const IrDropPlan& plan,
                     const energy::EnergyOptions& energy_options) {
  Fig16Points out;
  for (double scale : plan.wire_scale)
    for (auto it = plan.r_on_ohm.rbegin(); it != plan.r_on_ohm.rend(); ++it)
      out.points.push_back({scale, *it});
  const std::vector<Fig16Points::Point>& points = out.points;
  UnitsOptions show;
  show.progress = "fig16";
  show.shown = points.size();  // the last unit, the error without wires, is no point
  show.status = [&](std::size_t i, const std::vector<double>& r) {
    return fmt::format("R_ON {:.3g} Ohm, wire x{}: {:.2f} %, {:.3g} pJ ({:.1f} s)",
                       points[i].r_on_ohm, points[i].wire_scale, r.at(0), r.at(2), r.at(1));
  };
  const std::vector<std::vector<double>> results = RunUnits(
      points.size() + 1,
      [&](std::size_t i) -> std::vector<double> {
        const auto start = std::chrono::steady_clock::now();
        if (i == points.size()) return {DigitalErrorPct(cnn1), SecondsSince(start)};
        double seconds = 0.0;
        energy::InferenceCost cost;
        const double error =
            IrDropError(*cnn1.net.network, cnn1.test, points[i].r_on_ohm, plan.tmr,
                        points[i].wire_scale, &seconds, &energy_options, &cost);
        std::vector<double> r = {error, seconds};
        for (double v : CostFields(cost)) r.push_back(v);
        return r;
      },
      show);
  out.digital_error_pct = results.back().at(0);
  for (std::size_t i = 0; i < points.size(); ++i) out.results.push_back(results[i]);
  return out;
}

double Field(const std::vector<double>& result, const std::string& column) {
  const std::vector<std::string>& c = CostColumns();
  return result.at(2 + static_cast<std::size_t>(std::find(c.begin(), c.end(), column) - c.begin()));
}

report::Figure Fig16(Cnn1IrDrop& cnn1, const IrDropPlan& plan, const Fig16Points& run) {
  const circuit::WirePreset layout = circuit::Layout22nm();
  report::Figure f;
  f.title = fmt::format("Fig. 16: CNN 1 error vs R_ON, exact IR drop ({}, {} images)",
                        cnn1.data.name, cnn1.test.size());
  f.table.columns = {"wire_scale", "wire_row_ohm", "wire_col_ohm",         "r_on_ohm",
                     "error_pct",  "error_increase_pct", "seconds", "energy_pj", "array_pj",
                     "tops_per_w"};
  const double digital_error_pct = run.digital_error_pct;
  std::string thresholds;
  std::size_t at = 0;
  for (double scale : plan.wire_scale) {
    // From high to low R_ON: the threshold is where the error first rises.
    std::vector<double> r_on, increases;
    for (auto it = plan.r_on_ohm.rbegin(); it != plan.r_on_ohm.rend(); ++it) {
      const std::vector<double>& r = run.results[at++];
      const double error = r[0], seconds = r[1];
      const double increase = error - digital_error_pct;
      f.table.Add({scale, scale * layout.row_segment_ohm(), scale * layout.col_segment_ohm(), *it,
                   error, increase, seconds, Field(r, "energy_pj"), Field(r, "array_pj"),
                   Field(r, "tops_per_w")});
      r_on.push_back(*it);
      increases.push_back(increase);
    }
    const double lowest_ok = LowestOk(r_on, increases, plan.error_rise_pct);
    thresholds += fmt::format(
        "; wires x{} ({:.2f}/{:.2f} Ohm per row/column segment): {}", scale,
        scale * layout.row_segment_ohm(), scale * layout.col_segment_ohm(),
        std::isnan(lowest_ok) ? std::string("above the budget at every R_ON of the sweep")
        : lowest_ok == plan.r_on_ohm.front()
            ? fmt::format("within it down to the sweep's lowest R_ON, {:.3g} Ohm", lowest_ok)
            : fmt::format("within it down to R_ON {:.3g} Ohm, above it below", lowest_ok));
  }
  f.plot.xlabel = "R_ON (Ohm)";
  f.plot.ylabel = "test error (%)";
  f.plot.log_x = true;
  for (double scale : plan.wire_scale)
    f.plot.series.push_back({"r_on_ohm", "error_pct",
                             scale == 1.0 ? std::string("22 nm layout wires")
                                          : fmt::format("{} x layout wires", scale),
                             "wire_scale", scale, "linespoints"});
  f.paper = "Below an R_ON of 5 MOhm the test error increases due to IR drop (CNN 1, 10,000 test "
            "images, the layout's line resistance and two other reference points)";
  f.ours = fmt::format(
      "ideal devices (no spread, TMR {:.0f} % of the SOT-MRAM card), so the error is the IR "
      "drop's alone; error without wires {:.2f} %; budget: {} points over it{}. {} (devices without "
      "spread: every chip is the same). Each point also carries the energy of an inference "
      "(energy_pj, of it array_pj in the arrays; Fig. 20)",
      100 * plan.tmr, digital_error_pct, plan.error_rise_pct, thresholds,
      Resolution(cnn1.test.size(), 1, digital_error_pct));
  f.options = {{"plan", plan.ToJson()}, {"data", cnn1.data.name}};
  return f;
}

// Fig. 20: the R_ON trade-off. A lower R_ON draws more current (array energy ~ 1/R_ON) and
// loses accuracy to IR drop; a higher one costs neither, until the periphery dominates.
report::Figure Fig20(Cnn1IrDrop& cnn1, const IrDropPlan& plan, const Fig16Points& run,
                     const energy::EnergyOptions& energy_options) {
  report::Figure f;
  f.title = fmt::format("Fig. 20: CNN 1 error vs the arrays' read energy over R_ON ({})",
                        cnn1.data.name);
  f.table.columns = {"wire_scale", "r_on_ohm", "error_pct", "error_increase_pct"};
  for (const std::string& c : CostColumns()) f.table.columns.push_back(c);
  f.table.columns.push_back("array_share");
  struct Best {
    double r_on = std::nan(""), energy = HUGE_VAL;
  };
  std::map<double, Best> best;  // per wire scale: the least energy within the error budget
  std::string at_layout;
  for (std::size_t i = 0; i < run.points.size(); ++i) {
    const auto& p = run.points[i];
    const std::vector<double>& r = run.results[i];
    std::vector<double> row = {p.wire_scale, p.r_on_ohm, r[0], r[0] - run.digital_error_pct};
    row.insert(row.end(), r.begin() + 2, r.end());
    const double energy = Field(r, "energy_pj"), array = Field(r, "array_pj");
    row.push_back(array / energy);
    f.table.Add(row);
    if (r[0] - run.digital_error_pct <= plan.error_rise_pct && energy < best[p.wire_scale].energy)
      best[p.wire_scale] = {p.r_on_ohm, energy};
    if (p.wire_scale == 1.0)
      f.plot.labels.push_back({array, r[0], fmt::format("{:.3g} MOhm", p.r_on_ohm / 1e6)});
  }
  // The two R_ON the study names: the paper's SOT-MRAM (6 MOhm) and 1 MOhm, at the layout's
  // wires, nearest points of the sweep.
  for (double target : {1e6, 6e6}) {
    std::size_t nearest = run.points.size();
    for (std::size_t i = 0; i < run.points.size(); ++i) {
      if (run.points[i].wire_scale != 1.0) continue;
      if (nearest == run.points.size() ||
          std::abs(std::log(run.points[i].r_on_ohm / target)) <
              std::abs(std::log(run.points[nearest].r_on_ohm / target)))
        nearest = i;
    }
    if (nearest == run.points.size()) continue;
    const std::vector<double>& r = run.results[nearest];
    at_layout += fmt::format(
        "; at R_ON {:.3g} MOhm: {:.3g} pJ per inference (arrays {:.3g} pJ = {:.2g} %, ADCs {:.3g} "
        "pJ, DACs and lines {:.3g} pJ, digital {:.3g} pJ), {:.3g} TOPS/W, error {:.2f} %",
        run.points[nearest].r_on_ohm / 1e6, Field(r, "energy_pj"), Field(r, "array_pj"),
        100 * Field(r, "array_pj") / Field(r, "energy_pj"), Field(r, "adc_pj"),
        Field(r, "dac_pj") + Field(r, "lines_pj"),
        Field(r, "digital_pj") + Field(r, "accumulate_pj") + Field(r, "buffer_pj"),
        Field(r, "tops_per_w"), r[0]);
  }
  // Where the arrays would cost as much as everything else: the array energy goes as 1/R_ON
  // (exactly without wires), so from the highest R_ON of the layout's wires.
  std::string crossover;
  for (std::size_t i = 0; i < run.points.size(); ++i) {
    if (run.points[i].wire_scale != 1.0) continue;
    const std::vector<double>& r = run.results[i];
    const double array = Field(r, "array_pj"), rest = Field(r, "energy_pj") - array;
    crossover = fmt::format(
        ". The arrays would cost as much as the rest of the chip ({:.3g} pJ) at R_ON ~ {:.3g} "
        "Ohm (1/R_ON from {:.3g} pJ at {:.3g} MOhm): the periphery sets the energy per inference",
        rest, run.points[i].r_on_ohm * array / rest, array, run.points[i].r_on_ohm / 1e6);
    break;  // the first point of a wire scale is its highest R_ON
  }
  std::string least;
  for (const auto& [scale, b] : best)
    least += fmt::format("; wires x{}: {}", scale,
                         std::isnan(b.r_on) ? std::string("no R_ON within the budget")
                                            : fmt::format("{:.3g} pJ at R_ON {:.3g} MOhm",
                                                          b.energy, b.r_on / 1e6));
  // The arrays' part on the axis: it is what R_ON moves (the total is in the table).
  f.plot.xlabel = "read energy of the arrays per inference (pJ)";
  f.plot.ylabel = "test error (%)";
  f.plot.log_x = true;
  for (double scale : plan.wire_scale)
    f.plot.series.push_back({"array_pj", "error_pct",
                             scale == 1.0 ? std::string("22 nm layout wires")
                                          : fmt::format("{} x layout wires", scale),
                             "wire_scale", scale, "linespoints"});
  f.plot.key = "inside top right box opaque";
  f.paper = "(not in the paper) A highly resistive array draws little current: R_ON > 5 MOhm is "
            "argued for accuracy (IR drop) and for a low-power array";
  f.ours = fmt::format(
      "the points of Fig. 16 (ideal devices, TMR {:.0f} %), each with the energy of an inference "
      "averaged over the first {} test images: the arrays' read energy exact from each tile's "
      "circuit (t_read {:.3g} ns), the periphery from docs/energy.md (ADC {} FoM, {} bits, {} "
      "columns per ADC; digital at {}){}{}. Least energy within the error budget ({} points){}",
      100 * plan.tmr, energy_options.images, 1e9 * energy_options.ReadTimeS({}),
      energy_options.adc.FomName(), energy_options.adc.bits, energy_options.adc.columns_per_adc,
      energy_options.digital.node, at_layout, crossover, plan.error_rise_pct, least);
  f.options = {{"plan", plan.ToJson()}, {"data", cnn1.data.name},
               {"energy", energy_options.ToJson()}};
  return f;
}

// Fig. 22: Fig. 16 again with calibration after programming (beyond the paper): how far a
// digital gain and offset per column, fitted on training images, moves the R_ON spec.
report::Figure Fig22(Cnn1IrDrop& cnn1, const IrDropPlan& plan, const Fig16Points& plain,
                     const experiment::CalibrationSet& calibration,
                     const std::vector<double>& calibrated_error) {
  report::Figure f;
  f.title = fmt::format("Fig. 22: CNN 1 error vs R_ON with calibration after programming ({})",
                        cnn1.data.name);
  f.table.columns = {"wire_scale", "r_on_ohm", "calibrated", "error_pct", "error_increase_pct"};
  std::string moves;
  std::size_t at = 0;
  for (double scale : plan.wire_scale) {
    std::vector<double> r_on, none, with;
    for (std::size_t k = 0; k < plan.r_on_ohm.size(); ++k, ++at) {
      r_on.push_back(plain.points[at].r_on_ohm);
      none.push_back(plain.results[at][0] - plain.digital_error_pct);
      with.push_back(calibrated_error[at] - plain.digital_error_pct);
    }
    // Each curve's rows together, so that gnuplot draws it as one line.
    for (std::size_t k = 0; k < r_on.size(); ++k)
      f.table.Add({scale, r_on[k], 0.0, none[k] + plain.digital_error_pct, none[k]});
    for (std::size_t k = 0; k < r_on.size(); ++k)
      f.table.Add({scale, r_on[k], 1.0, with[k] + plain.digital_error_pct, with[k]});
    const double a = LowestOk(r_on, none, plan.error_rise_pct);
    const double b = LowestOk(r_on, with, plan.error_rise_pct);
    const auto ohm = [](double r) {
      return std::isnan(r) ? std::string("none in the sweep") : fmt::format("{:.3g} Ohm", r);
    };
    // At the sweep's lowest R_ON the spec may lie lower still: the ratio is then a bound.
    const bool bound = b == r_on.back();
    moves += fmt::format("; wires x{}: R_ON spec {} without, {}{} with calibration{}", scale,
                         ohm(a), bound ? "the sweep's lowest, " : "", ohm(b),
                         std::isnan(a) || std::isnan(b)
                             ? std::string()
                             : fmt::format(" (a ratio of {}{:.3g})", bound ? "at least " : "",
                                           a / b));
  }
  f.plot.xlabel = "R_ON (Ohm)";
  f.plot.ylabel = "test error (%)";
  f.plot.log_x = true;
  // One curve per (wire scale, mitigation): a key column that joins both.
  f.table.columns.push_back("curve");
  for (auto& row : f.table.rows) row.push_back(row[0] * 10.0 + row[2]);
  for (double scale : plan.wire_scale) {
    const std::string wires =
        scale == 1.0 ? std::string("layout wires") : fmt::format("{} x layout wires", scale);
    f.plot.series.push_back({"r_on_ohm", "error_pct", wires + ", no mitigation", "curve",
                             scale * 10.0, "linespoints dt 2"});
    f.plot.series.push_back({"r_on_ohm", "error_pct", wires + ", calibrated", "curve",
                             scale * 10.0 + 1.0, "linespoints"});
  }
  f.plot.key = "inside top right box opaque";
  f.paper = "(not in the paper) The paper's specs assume one mitigation, noise-aware training";
  f.ours = fmt::format(
      "the chips of Fig. 16 (ideal devices, TMR {:.0f} %) calibrated after programming: a digital "
      "gain and offset per output column of every layer, fitted by least squares on the inputs "
      "of the first {} training images (never test images) and frozen; budget {} points over "
      "the error without wires {:.2f} %{}",
      100 * plan.tmr, calibration.images, plan.error_rise_pct, plain.digital_error_pct, moves);
  f.options = {{"plan", plan.ToJson()}, {"data", cnn1.data.name},
               {"calibration_images", calibration.images}};
  return f;
}

}  // namespace

void AddIrDropPart(report::Study& study, const StudyOptions& options) {
  study.Add({"irdrop",
             "Fig. 16: CNN 1 on the whole test set with exact IR drop in every MVM, vs R_ON and "
             "wire resistance",
             [options](report::StudyContext& ctx) {
               const IrDropPlan plan = Fig16Plan(options, SotMramCard().tmr);
               Cnn1IrDrop cnn1 = Cnn1ForIrDrop(options, plan);
               const energy::EnergyOptions energy_options = StudyEnergyOptions(100);
               const nlohmann::json inputs = {{"plan", plan.ToJson()},
                                              {"data", cnn1.data.Key()},
                                              {"model", cnn1.net.file_hash},
                                              {"energy", energy_options.ToJson()}};
               // One run of the points serves both figures (made once, when either is due).
               std::optional<Fig16Points> run;
               const auto points = [&]() -> const Fig16Points& {
                 if (!run) run = RunFig16(cnn1, plan, energy_options);
                 return *run;
               };
               ctx.Produce("fig16_cnn1_error_vs_ron", inputs,
                           [&] { return Fig16(cnn1, plan, points()); });
               ctx.Produce("fig20_error_vs_energy", inputs,
                           [&] { return Fig20(cnn1, plan, points(), energy_options); });
               // Calibration on the first 256 training images (fewer under limits).
               const std::int64_t calibration_images =
                   Limits::Images(256, options.limits.train_images);
               nlohmann::json calibrated_inputs = inputs;
               calibrated_inputs["calibration_images"] = calibration_images;
               ctx.Produce("fig22_calibration_error_vs_ron", calibrated_inputs, [&] {
                 const Fig16Points& plain = points();
                 const auto calibration = experiment::CaptureCalibration(
                     *cnn1.net.network, cnn1.data.split.train.Head(calibration_images));
                 UnitsOptions show;
                 show.progress = "fig22";
                 show.status = [&](std::size_t i, const std::vector<double>& r) {
                   return fmt::format("R_ON {:.3g} Ohm, wire x{}: {:.2f} %",
                                      plain.points[i].r_on_ohm, plain.points[i].wire_scale,
                                      r.at(0));
                 };
                 const std::vector<std::vector<double>> results = RunUnits(
                     plain.points.size(),
                     [&](std::size_t i) {
                       return std::vector<double>{IrDropError(
                           *cnn1.net.network, cnn1.test, plain.points[i].r_on_ohm, plan.tmr,
                           plain.points[i].wire_scale, nullptr, nullptr, nullptr, calibration)};
                     },
                     show);
                 std::vector<double> errors;
                 for (const std::vector<double>& r : results) errors.push_back(r.at(0));
                 return Fig22(cnn1, plan, plain, *calibration, errors);
               });
             }});
}

}  // namespace aimc::paper
