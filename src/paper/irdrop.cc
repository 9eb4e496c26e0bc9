#include "irdrop.h"

#include <chrono>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/circuit/wires.h"
#include "aimc/common/cluster.h"
#include "aimc/common/progress.h"
#include "aimc/experiment/chip.h"
#include "aimc/nn/train.h"
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

double DigitalErrorPct(Cnn1IrDrop& cnn1) {
  return 100 * (1 - nn::Evaluate(*cnn1.net.network, cnn1.test));
}

double IrDropError(nn::NetworkImpl& network, const nn::Dataset& test, double r_on_ohm, double tmr,
                   double wire_scale, double* seconds) {
  const auto start = std::chrono::steady_clock::now();
  experiment::ChipOptions options;
  options.crossbar.UseWires(circuit::Layout22nm(), wire_scale);
  const auto spec = experiment::ChipSpec::Devices(IdealCard(r_on_ohm, tmr), options);
  // No spread: every seed gives the same chip.
  const double error = 100 * (1 - experiment::Chip(network, spec, /*seed=*/1).Evaluate(test));
  if (seconds)
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return error;
}

namespace {

report::Figure Fig16(Cnn1IrDrop& cnn1, const IrDropPlan& plan) {
  const circuit::WirePreset layout = circuit::Layout22nm();
  report::Figure f;
  f.title = fmt::format("Fig. 16: CNN 1 error vs R_ON, exact IR drop ({}, {} images)",
                        cnn1.data.name, cnn1.test.size());
  f.table.columns = {"wire_scale", "wire_row_ohm", "wire_col_ohm",         "r_on_ohm",
                     "error_pct",  "error_increase_pct", "seconds"};
  // The work units: every (wire, R_ON) point in table order, each wire's from high to low R_ON,
  // then the error without wires. Each returns its error (%) and seconds. The points cost alike
  // (one chip: its tiles' circuits, then the test images) and more than the plain test pass of
  // the last unit, so the item order is the longest-first order.
  struct Point {
    double wire_scale, r_on_ohm;
  };
  std::vector<Point> points;
  for (double scale : plan.wire_scale)
    for (auto it = plan.r_on_ohm.rbegin(); it != plan.r_on_ohm.rend(); ++it)
      points.push_back({scale, *it});
  Progress bar("fig16", points.size(), "point");
  std::size_t done = 0;
  cluster::DistributeOptions work;
  work.on_done = [&](std::size_t i, const std::string& bytes) {
    if (i == points.size()) return;
    const std::vector<double> r = UnpackDoubles(bytes, 2);
    bar.Update(++done, fmt::format("R_ON {:.3g} Ohm, wire x{}: {:.2f} % ({:.1f} s)",
                                   points[i].r_on_ohm, points[i].wire_scale, r[0], r[1]));
  };
  const std::vector<std::string> results = cluster::Distribute(
      points.size() + 1,
      [&](std::size_t i) {
        const auto start = std::chrono::steady_clock::now();
        if (i == points.size()) return PackDoubles({DigitalErrorPct(cnn1), SecondsSince(start)});
        double seconds = 0.0;
        const double error = IrDropError(*cnn1.net.network, cnn1.test, points[i].r_on_ohm,
                                         plan.tmr, points[i].wire_scale, &seconds);
        return PackDoubles({error, seconds});
      },
      work);
  const double digital_error_pct = UnpackDoubles(results.back(), 2)[0];
  std::string thresholds;
  std::size_t at = 0;
  for (double scale : plan.wire_scale) {
    double lowest_ok = std::nan("");
    bool rising = false;  // once the error has risen, lower R_ON is not "ok" again
    // From high to low R_ON: the threshold is where the error first rises.
    for (auto it = plan.r_on_ohm.rbegin(); it != plan.r_on_ohm.rend(); ++it) {
      const std::vector<double> r = UnpackDoubles(results[at++], 2);
      const double error = r[0], seconds = r[1];
      const double increase = error - digital_error_pct;
      f.table.Add({scale, scale * layout.row_segment_ohm(), scale * layout.col_segment_ohm(), *it,
                   error, increase, seconds});
      if (increase > plan.error_rise_pct) rising = true;
      if (!rising) lowest_ok = *it;
    }
    thresholds += fmt::format(
        "; wires x{} ({:.2f}/{:.2f} Ohm per row/column segment): {}", scale,
        scale * layout.row_segment_ohm(), scale * layout.col_segment_ohm(),
        std::isnan(lowest_ok) ? std::string("above the budget at every R_ON of the sweep")
        : lowest_ok == plan.r_on_ohm.front()
            ? fmt::format("within it down to the sweep's lowest R_ON, {:.3g} Ohm", lowest_ok)
            : fmt::format("within it down to R_ON {:.3g} Ohm, above it below", lowest_ok));
  }
  bar.Finish();
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
      "spread: every chip is the same)",
      100 * plan.tmr, digital_error_pct, plan.error_rise_pct, thresholds,
      Resolution(cnn1.test.size(), 1, digital_error_pct));
  f.options = {{"plan", plan.ToJson()}, {"data", cnn1.data.name}};
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
               ctx.Produce("fig16_cnn1_error_vs_ron",
                           {{"plan", plan.ToJson()}, {"data", cnn1.data.Key()},
                            {"model", cnn1.net.file_hash}},
                           [&] { return Fig16(cnn1, plan); });
             }});
}

}  // namespace aimc::paper
