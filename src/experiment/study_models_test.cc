// The quick profile of `aimc reproduce` must find a shipped model for every network it uses;
// otherwise it silently trains them (an hour on a laptop). Changing a quick plan without
// remaking models/ (models/make.sh) fails here.
#include "study_models.h"

#include <gtest/gtest.h>

#include "ir_drop_figures.h"
#include "network_figures.h"

namespace aimc::experiment {
namespace {

TEST(StudyModels, EveryQuickProfileNetworkIsShipped) {
  report::StudyOptions options;
  options.profile = report::Profile::kQuick;
  options.out_dir = std::filesystem::temp_directory_path() / "aimc_study_models_test";
  const report::StudyContext ctx(options, "test");

  const NoiseGridPlan p13 = Fig13bPlan(true);
  const nn::DataSplit digits = StudyData(ctx, "mnist");
  NetSpec cnn1 = BaseSpec(ctx, "lenet5", "mnist", digits);
  cnn1.training.epochs = p13.epochs;
  for (double s : p13.sigma_train) {
    cnn1.training.sigma_train = s;
    EXPECT_TRUE(ShippedModel(cnn1).has_value()) << ModelStem(cnn1);
  }

  const NoiseGridPlan p14 = Fig14bPlan(true);
  Cnn2Setup cnn2 = Cnn2(ctx, p14);
  for (double s : p14.sigma_train) {
    cnn2.base.training.sigma_train = s;
    EXPECT_TRUE(ShippedModel(cnn2.base).has_value()) << ModelStem(cnn2.base);
  }

  const IrDropPlan p16 = Fig16Plan(true);
  const nn::DataSplit fashion = StudyData(ctx, "fashion-mnist");
  NetSpec ir = BaseSpec(ctx, "lenet5", "fashion-mnist", fashion);
  ir.training.epochs = p16.epochs;
  ir.training.augment = false;
  EXPECT_TRUE(ShippedModel(ir).has_value()) << ModelStem(ir);
}

TEST(StudyModels, AModelWithOtherOptionsIsNotTaken) {
  report::StudyOptions options;
  const report::StudyContext ctx(options, "test");
  const nn::DataSplit digits = StudyData(ctx, "mnist");
  NetSpec spec = BaseSpec(ctx, "lenet5", "mnist", digits);
  spec.training.epochs = Fig13bPlan(true).epochs;
  ASSERT_TRUE(ShippedModel(spec).has_value());
  spec.training.learning_rate /= 2;  // same file name, other weights
  EXPECT_FALSE(ShippedModel(spec).has_value());
}

}  // namespace
}  // namespace aimc::experiment
