// The study sees its inputs: editing a device card recomputes exactly the figures made from it.
#include "aimc/paper/study.h"

#include <cstdlib>
#include <filesystem>
#include <regex>

#include <gtest/gtest.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "../common/test_dir.h"

namespace aimc::paper {
namespace {

namespace fs = std::filesystem;

// A copy of the shipped configs under a temporary AIMC_HOME, whose cards the test edits.
struct Home {
  fs::path dir = UniqueTempPath("aimc_paper_study_home");
  Home() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy(fs::path(AIMC_SOURCE_DIR) / "configs", dir / "configs", fs::copy_options::recursive);
    setenv("AIMC_HOME", dir.c_str(), 1);
  }
  ~Home() {
    unsetenv("AIMC_HOME");
    std::error_code ignored;  // leftovers must not fail the test
    fs::remove_all(dir, ignored);
  }
  void Edit(const std::string& key, const std::string& value) {
    const fs::path card = dir / "configs/devices/sot_mram.toml";
    const std::string text = ReadFile(card);
    const std::regex line("\\n" + key + " = [^\\n]*");
    WriteFileAtomic(card, std::regex_replace(text, line, "\n" + key + " = " + value));
  }
};

std::string Computed(const std::map<std::string, report::Outcome>& outcomes) {
  std::string made;
  for (const auto& [id, o] : outcomes)
    if (o == report::Outcome::kComputed) made += id + " ";
  return made;
}

TEST(PaperStudy, EditingTheSotMramCardRecomputesExactlyTheFiguresMadeFromIt) {
  Home home;
  StudyOptions options;
  options.run.out_dir = home.dir / "results";
  options.run.only = {"device", "circuit"};
  std::map<std::string, report::Outcome> o;
  ASSERT_EQ(RunStudy(options, "test", &o), 0);
  EXPECT_EQ(Computed(o),
            "fig04_ra_vs_tmgo fig08b_cv_vs_ecd fig08c_cv_vs_sigma_r fig08d_sigma_r_reading "
            "fig10b_weight_spread fig11_allowed_spread fig15b_ir_drop_map fig15c_error_vs_wire ");
  ASSERT_EQ(RunStudy(options, "test", &o), 0);
  EXPECT_EQ(Computed(o), "");

  // sigma_r 3 -> 6 nm: every figure of the card but Fig. 11, which depends on the TMR alone.
  home.Edit("sigma_radius_nm", "6.0");
  ASSERT_EQ(RunStudy(options, "test", &o), 0);
  EXPECT_EQ(Computed(o),
            "fig04_ra_vs_tmgo fig08b_cv_vs_ecd fig08c_cv_vs_sigma_r fig08d_sigma_r_reading "
            "fig10b_weight_spread fig15b_ir_drop_map fig15c_error_vs_wire ");
  EXPECT_EQ(o.at("fig11_allowed_spread"), report::Outcome::kKept);
  // The figures were made from the new card.
  const auto inputs = ReadJson(options.run.out_dir / "fig08c_cv_vs_sigma_r.json")["inputs"];
  EXPECT_EQ(inputs["card"]["sigma_radius_nm"], 6.0) << inputs.dump();
}

TEST(PaperStudy, ProfileAndOptionsAreChecked) {
  EXPECT_EQ(ParseProfile("paper"), Profile::kPaper);
  EXPECT_THROW(ParseProfile("fast"), Error);
  StudyOptions options;
  options.data_dir = "/nonexistent/aimc-data";
  EXPECT_THROW(options.Validate(), Error);
}

TEST(PaperStudy, LimitsCutPlansAndSayWhat) {
  Limits none;
  EXPECT_FALSE(none.any());
  EXPECT_EQ(none.ToJson(), nlohmann::json::object());
  EXPECT_EQ(none.Epochs(30), 30);
  EXPECT_EQ(Limits::Images(0, 0), 0);
  EXPECT_EQ(Limits::Images(8000, 0), 8000);
  Limits l;
  l.epochs = 1;
  l.test_images = 100;
  EXPECT_TRUE(l.any());
  EXPECT_EQ(l.Epochs(30), 1);
  EXPECT_EQ(Limits::Images(0, 100), 100);     // all images: cut to the limit
  EXPECT_EQ(Limits::Images(500, 100), 100);
  EXPECT_EQ(Limits::Images(50, 100), 50);     // fewer than the limit: as planned
  EXPECT_EQ(l.ToJson(), (nlohmann::json{{"epochs", 1}, {"test_images", 100}}));
  EXPECT_EQ(l.Describe(), "at most 1 epoch, 100 test images");
  l.train_images = -1;
  EXPECT_THROW(l.Validate(), Error);
  StudyOptions options;
  options.limits = l;
  EXPECT_THROW(options.Validate(), Error);
}

TEST(PaperStudy, PartsFollowThePaper) {
  StudyOptions options;
  std::string names;
  const report::Study study = MakeStudy(options);
  for (const auto& part : study.parts()) names += part.name + " ";
#ifdef AIMC_WITH_TORCH
  EXPECT_EQ(names, "device circuit training resnet irdrop verdict physics mitigation ");
#else
  EXPECT_EQ(names, "device circuit ");
#endif
}

}  // namespace
}  // namespace aimc::paper
