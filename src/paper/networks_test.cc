// The quick profile of `aimc reproduce` must find a shipped model for every network it uses;
// otherwise it silently trains them (an hour on a laptop). Changing a quick plan without
// remaking models/ (models/make.sh) fails here.
#include "networks.h"

#include <gtest/gtest.h>

#include "aimc/common/error.h"
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

namespace aimc::paper {
namespace {

// How trainings share ranks (GroupTrainings), against the shares worked out by hand.
TEST(GroupTrainings, ATrainingThatDominatesTakesItsShareOfTheRanks) {
  const std::vector<int> any(3, 64);
  // One training: every rank trains it.
  TrainingGroups g = GroupTrainings({5.0}, {0}, {64}, 3);
  EXPECT_EQ(g.ranks, std::vector<int>({3}));
  EXPECT_EQ(g.first, std::vector<int>({0, 3}));
  EXPECT_EQ(g.size, std::vector<int>({3, 0}));
  // Work 10 of 12 on 3 ranks: a share is 4, so 2 ranks for it and the pool of 1 for the rest.
  g = GroupTrainings({1.0, 10.0, 1.0}, {0, 0, 0}, any, 3);
  EXPECT_EQ(g.ranks, std::vector<int>({1, 2, 1}));
  EXPECT_EQ(g.group, std::vector<int>({1, 0, 1}));
  EXPECT_EQ(g.first, std::vector<int>({0, 2}));
  EXPECT_EQ(g.size, std::vector<int>({2, 1}));
  EXPECT_EQ(g.GroupOf(0), 0);
  EXPECT_EQ(g.GroupOf(2), 1);
  EXPECT_THROW(g.GroupOf(3), Error);
  // As many trainings of equal work as ranks or more: one rank each, no group.
  g = GroupTrainings(std::vector<double>(9, 1.0), std::vector<int>(9, 0),
                     std::vector<int>(9, 64), 3);
  EXPECT_FALSE(g.data_parallel());
  EXPECT_EQ(g.ranks, std::vector<int>(9, 1));
}

TEST(GroupTrainings, EqualTrainingsShareAClusterEvenly) {
  // The paper profile's 5 fine-tunings of CNN 2 on 8 nodes of 32 cores.
  const TrainingGroups g = GroupTrainings(std::vector<double>(5, 1.0), std::vector<int>(5, 0),
                                          std::vector<int>(5, 64), 256);
  EXPECT_EQ(g.ranks, std::vector<int>({51, 51, 51, 51, 52}));
  EXPECT_EQ(g.first, std::vector<int>({0, 51, 102, 153, 204, 256}));
  EXPECT_EQ(g.size.back(), 0);
}

TEST(GroupTrainings, BatchesCheckpointsAndFinishedModelsAreRespected) {
  // The batch allows 2 ranks: the others stay idle in the pool (no training left for them).
  TrainingGroups g = GroupTrainings({5.0}, {0}, {2}, 4);
  EXPECT_EQ(g.ranks, std::vector<int>({2}));
  EXPECT_EQ(g.size, std::vector<int>({2, 2}));
  // A checkpoint started on 3 ranks resumes on 3; one started on one rank is in the pool; a
  // finished model takes none; the new training takes the rest.
  g = GroupTrainings({1.0, 1.0, 0.0, 8.0}, {3, 1, 0, 0}, std::vector<int>(4, 64), 8);
  EXPECT_EQ(g.ranks, std::vector<int>({3, 1, 0, 4}));
  EXPECT_EQ(g.first, std::vector<int>({0, 3, 7}));
  EXPECT_EQ(g.size, std::vector<int>({3, 4, 1}));
  // A checkpoint of more ranks than the job has, or leaving none for the others, is refused.
  EXPECT_THROW(GroupTrainings({1.0}, {4}, {64}, 3), Error);
  EXPECT_THROW(GroupTrainings({1.0, 1.0}, {3, 0}, {64, 64}, 3), Error);
  // One rank: everything in its pool.
  g = GroupTrainings({3.0, 1.0}, {0, 0}, {64, 64}, 1);
  EXPECT_EQ(g.ranks, std::vector<int>({1, 1}));
  EXPECT_FALSE(g.data_parallel());
}

}  // namespace
}  // namespace aimc::paper
