// Fig. 13b: CNN 1 (LeNet-5) trained with weight noise sigma_w,train, tested under sigma_w,test.
#include <fmt/format.h>

#include "noise_grid.h"
#include "parts.h"

namespace aimc::paper {
namespace {

report::Figure Fig13b(Cnn1Grid& cnn1, const NoiseGridPlan& plan, std::uint64_t seed) {
  const nn::Dataset test = cnn1.data.split.test.Head(plan.test_subset);
  report::Figure f;
  f.title = "Fig. 13b: CNN 1 (LeNet-5) test error on MNIST vs sigma_w,test, per sigma_w,train";
  f.table = NoiseGrid(cnn1.nets, test, plan, seed, 13);
  f.plot = GridPlot(plan);
  f.paper =
      "Training with weight variation clearly decreases the test error for the whole range of "
      "weight variation (CNN 1, LeNet-5-like, 99.2 % on MNIST)";
  const double clean0 = GridError(f.table, 0.0, 0.0);
  std::string diag;
  for (double s : plan.sigma_train)
    if (s > 0.0)
      diag += fmt::format("; at sigma_w {:.2f}: {:.2f} % trained with it vs {:.2f} % clean-trained",
                          s, GridError(f.table, s, s), GridError(f.table, 0.0, s));
  f.ours = fmt::format(
      "{} {} test images, {} training images, {} epochs, {} chips per point: clean-trained error "
      "{:.2f} % at sigma_w 0{}. {}. {}",
      test.size(), cnn1.data.split.test.name, cnn1.data.split.train.Head(plan.train_subset).size(),
      plan.epochs, plan.chips, clean0, diag, HigherTrainingNoiseFinding(f.table, plan),
      Resolution(test.size(), plan.chips, clean0));
  f.options = {{"plan", plan.ToJson()}, {"data", cnn1.data.name}};
  return f;
}

}  // namespace

void AddTrainingPart(report::Study& study, const StudyOptions& options) {
  study.Add({"training",
             "Fig. 13b: CNN 1 (LeNet-5, ternary, 4-bit activations) trained with sigma_w,train, "
             "tested under sigma_w,test on Monte-Carlo chips",
             [options](report::StudyContext& ctx) {
               const NoiseGridPlan plan = Fig13bPlan(options);
               Cnn1Grid cnn1 = Cnn1ForGrid(options, plan);
               ctx.Produce("fig13b_cnn1_error_vs_sigma",
                           {{"plan", plan.ToJson()}, {"data", cnn1.data.Key()},
                            {"models", cnn1.nets.Key()}},
                           [&] { return Fig13b(cnn1, plan, options.run.seed); });
             }});
}

}  // namespace aimc::paper
