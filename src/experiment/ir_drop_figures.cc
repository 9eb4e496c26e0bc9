#include "ir_drop_figures.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/circuit/wires.h"
#include "aimc/common/progress.h"
#include "aimc/device/two_state.h"
#include "aimc/experiment/analog_chip.h"
#include "aimc/nn/train.h"
#include "study_models.h"

namespace aimc::experiment {

nlohmann::json IrDropPlan::ToJson() const {
  return {{"r_on_ohm", r_on_ohm}, {"wire_scale", wire_scale}, {"tmr", tmr},
          {"epochs", epochs},     {"test_subset", test_subset},
          {"error_rise_pct", error_rise_pct}};
}

IrDropPlan Fig16Plan(bool quick) {
  IrDropPlan p;
  // 100 kOhm to 100 MOhm, as the paper's Fig. 16.
  p.r_on_ohm = quick ? std::vector<double>{1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8}
                     : std::vector<double>{1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8};
  p.epochs = quick ? 25 : 40;
  return p;
}

Cnn1IrDrop Cnn1ForIrDrop(const report::StudyContext& ctx, const IrDropPlan& plan) {
  Cnn1IrDrop c;
  c.dataset = HasUserMnist(ctx) ? "mnist" : "fashion-mnist";
  const nn::DataSplit data = StudyData(ctx, c.dataset);
  NetSpec spec = BaseSpec(ctx, "lenet5", c.dataset, data);
  spec.training.epochs = plan.epochs;
  // Without shifts LeNet-5 fits Fashion-MNIST better (measured: 90.4 % vs 88.9 %).
  spec.training.augment = false;
  c.network = StudyModel(ctx, spec, data);
  c.test = data.test.Head(plan.test_subset);
  c.digital_error_pct = 100 * (1 - nn::Evaluate(*c.network, c.test));
  return c;
}

double IrDropError(nn::NetworkImpl& network, const nn::Dataset& test, double r_on_ohm, double tmr,
                   double wire_scale, double* seconds) {
  const auto start = std::chrono::steady_clock::now();
  device::TwoStateOptions ideal;
  ideal.name = "ideal";
  ideal.source = "no device spread, so that the error is the IR drop's alone";
  ideal.r_on_ohm = r_on_ohm;
  ideal.on_off_ratio = 1.0 + tmr;
  ideal.cv_on = ideal.cv_off = 0.0;
  ideal.r_on_min_ohm = 1.0;
  ideal.r_on_max_ohm = 1e12;
  const device::TwoStateCard card(ideal);
  ChipOptions chip;
  chip.crossbar.UseWires(circuit::Layout22nm(), wire_scale);
  double error = 0.0;
  {
    const AnalogChip on_chip(network, card, chip, /*seed=*/1);  // no spread: any seed
    error = 100 * (1 - nn::Evaluate(network, test));
  }
  if (seconds)
    *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return error;
}

report::Figure Fig16(const report::StudyContext& ctx, const IrDropPlan& plan) {
  Cnn1IrDrop cnn1 = Cnn1ForIrDrop(ctx, plan);
  const circuit::WirePreset layout = circuit::Layout22nm();
  report::Figure f;
  f.title = fmt::format("Fig. 16: CNN 1 error vs R_ON, exact IR drop ({}, {} images)",
                        cnn1.dataset, cnn1.test.size());
  f.table.columns = {"wire_scale", "wire_row_ohm", "wire_col_ohm",         "r_on_ohm",
                     "error_pct",  "error_increase_pct", "seconds"};
  Progress bar("fig16", plan.wire_scale.size() * plan.r_on_ohm.size(), "point");
  std::size_t done = 0;
  std::string thresholds;
  for (double scale : plan.wire_scale) {
    double lowest_ok = std::nan("");
    bool rising = false;  // once the error has risen, lower R_ON is not "ok" again
    // From high to low R_ON: the threshold is where the error first rises.
    for (auto it = plan.r_on_ohm.rbegin(); it != plan.r_on_ohm.rend(); ++it) {
      double seconds = 0.0;
      const double error = IrDropError(*cnn1.network, cnn1.test, *it, plan.tmr, scale, &seconds);
      const double increase = error - cnn1.digital_error_pct;
      f.table.Add({scale, scale * layout.row_segment_ohm(), scale * layout.col_segment_ohm(), *it,
                   error, increase, seconds});
      if (increase > plan.error_rise_pct) rising = true;
      if (!rising) lowest_ok = *it;
      bar.Update(++done, fmt::format("R_ON {:.3g} Ohm, wire x{}: {:.2f} %", *it, scale, error));
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
      "error without wires {:.2f} %; budget: {} points over it{}",
      cnn1.digital_error_pct, plan.error_rise_pct, thresholds);
  f.options = {{"plan", plan.ToJson()}, {"data", cnn1.dataset}};
  return f;
}

}  // namespace aimc::experiment
