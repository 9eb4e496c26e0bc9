// The quick profile of `aimc reproduce` must find a shipped model for every network it uses;
// otherwise it silently trains them (an hour on a laptop). Changing a quick plan without
// remaking models/ (models/make.sh) fails here.
#include "networks.h"

#include <gtest/gtest.h>

#include "irdrop.h"
#include "noise_grid.h"
#include "parts.h"
#include "../common/test_dir.h"

namespace aimc::paper {
namespace {

StudyOptions Quick() {
  StudyOptions options;
  options.profile = Profile::kQuick;
  options.run.out_dir = UniqueTempPath("aimc_study_models_test");
  return options;
}

TEST(StudyModels, EveryQuickProfileNetworkIsShipped) {
  const StudyOptions options = Quick();
  const NoiseGridPlan p13 = Fig13bPlan(true);
  const StudyData digits = LoadStudyData(options, "mnist");
  for (double s : p13.sigma_train) {
    const NetSpec cnn1 = Cnn1Spec(options, p13, digits, s);
    EXPECT_TRUE(ShippedModel(cnn1).has_value()) << ModelStem(cnn1);
  }

  const NoiseGridPlan p14 = Fig14bPlan(true);
  const StudyData cnn2_data = LoadStudyData(options, Cnn2Dataset(options));
  const auto clean = ShippedModel(Cnn2Spec(options, p14, cnn2_data, 0.0));
  ASSERT_TRUE(clean.has_value()) << ModelStem(Cnn2Spec(options, p14, cnn2_data, 0.0));
  for (double s : p14.sigma_train) {
    const NetSpec cnn2 = Cnn2Spec(options, p14, cnn2_data, s, &*clean);
    EXPECT_TRUE(ShippedModel(cnn2).has_value()) << ModelStem(cnn2);
  }

  const IrDropPlan p16 = Fig16Plan(true, SotMramCard().tmr);
  const StudyData fashion = LoadStudyData(options, "fashion-mnist");
  NetSpec ir = BaseSpec(options, "lenet5", fashion);
  ir.training.epochs = p16.epochs;
  ir.training.augment = false;
  EXPECT_TRUE(ShippedModel(ir).has_value()) << ModelStem(ir);
}

TEST(StudyModels, AModelWithOtherOptionsIsNotTaken) {
  const StudyOptions options = Quick();
  const StudyData digits = LoadStudyData(options, "mnist");
  NetSpec spec = BaseSpec(options, "lenet5", digits);
  spec.training.epochs = Fig13bPlan(true).epochs;
  ASSERT_TRUE(ShippedModel(spec).has_value());
  spec.training.learning_rate /= 2;  // same file name, other weights
  EXPECT_FALSE(ShippedModel(spec).has_value());
}

// Limits cut every plan of every profile, and a limited network is another file than the
// profile's (never the shipped one).
TEST(StudyModels, LimitsCutEveryPlanAndNameOtherNetworks) {
  StudyOptions options = Quick();
  options.profile = Profile::kPaper;
  options.limits.epochs = 2;
  options.limits.train_images = 64;
  options.limits.test_images = 16;
  for (const NoiseGridPlan& p : {Fig13bPlan(options), Fig14bPlan(options)}) {
    EXPECT_EQ(p.epochs, 2);
    EXPECT_EQ(p.train_subset, 64);
    EXPECT_EQ(p.test_subset, 16);
    EXPECT_EQ(p.epoch_test_subset, 16);
    EXPECT_LE(p.finetune_epochs, 2);
  }
  const NoiseGridPlan paper14 = Fig14bPlan(false);
  EXPECT_EQ(Fig14bPlan(options).sigma_train, paper14.sigma_train);  // the sweeps stay
  EXPECT_EQ(Fig14bPlan(options).chips, paper14.chips);
  EXPECT_EQ(Fig14bPlan(options).width, 4);
  const IrDropPlan p16 = Fig16Plan(options, 1.5);
  EXPECT_EQ(p16.epochs, 2);
  EXPECT_EQ(p16.train_subset, 64);
  EXPECT_EQ(p16.test_subset, 16);
  EXPECT_EQ(p16.r_on_ohm, Fig16Plan(false, 1.5).r_on_ohm);
  // Without limits the plans (and their keys) are the profile's.
  options.limits = {};
  EXPECT_EQ(Fig13bPlan(options).ToJson(), Fig13bPlan(false).ToJson());
  EXPECT_EQ(Fig16Plan(options, 1.5).ToJson(), Fig16Plan(false, 1.5).ToJson());
  EXPECT_FALSE(Fig16Plan(options, 1.5).ToJson().contains("train_subset"));

  options = Quick();
  options.limits.epochs = 1;
  const StudyData digits = LoadStudyData(options, "mnist");
  const NetSpec limited = Cnn1Spec(options, Fig13bPlan(options), digits, 0.0);
  EXPECT_NE(ModelStem(limited), ModelStem(Cnn1Spec(options, Fig13bPlan(true), digits, 0.0)));
  EXPECT_FALSE(ShippedModel(limited).has_value());
}

// The fingerprint of a data set changes with its contents, not with where it was read from.
TEST(StudyModels, DataFingerprintFollowsContents) {
  const StudyOptions options = Quick();
  const StudyData a = LoadStudyData(options, "mnist");
  const StudyData b = LoadStudyData(options, "mnist");
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  nn::DataSplit changed = a.split;
  changed.test.labels = changed.test.labels.clone();
  changed.test.labels[0] = (changed.test.labels[0].item<std::int64_t>() + 1) % 10;
  EXPECT_NE(nn::Fingerprint(changed), a.fingerprint);
}

}  // namespace
}  // namespace aimc::paper
