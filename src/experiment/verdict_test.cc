#include "aimc/experiment/verdict.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "aimc/common/error.h"

namespace aimc::experiment {
namespace {

TEST(Verdict, BisectionFindsALinearThreshold) {
  int calls = 0;
  const double x = BisectBoundary(0.0, 1.0, 20, false, [&](double v) {
    ++calls;
    return v <= 0.37;
  });
  EXPECT_LE(x, 0.37);
  EXPECT_NEAR(x, 0.37, 1.0 / (1 << 20));
  EXPECT_EQ(calls, 22);  // both ends, then one per step
}

TEST(Verdict, BisectionFindsALogThresholdFromAbove) {
  // The smallest R_ON that is fine: ok above 5e6, searched from 1e8 (good) down to 1e5 (bad).
  const double r = BisectBoundary(1e8, 1e5, 30, true, [](double v) { return v >= 5e6; });
  EXPECT_GE(r, 5e6);
  EXPECT_NEAR(std::log10(r), std::log10(5e6), 1e-6);
}

TEST(Verdict, BisectionReportsWholeRangeAndNothing) {
  EXPECT_EQ(BisectBoundary(0.0, 1.0, 5, false, [](double) { return true; }), 1.0);
  EXPECT_TRUE(std::isnan(BisectBoundary(0.0, 1.0, 5, false, [](double) { return false; })));
}

std::filesystem::path Write(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

TEST(Verdict, TheShippedFileLoads) {
  const VerdictOptions o =
      LoadVerdict(std::filesystem::path(AIMC_SOURCE_DIR) / "configs/experiments/table1.toml");
  EXPECT_EQ(o.error_budget_pct, 1.5);
  EXPECT_EQ(o.cards.size(), 5u);
}

TEST(Verdict, BadFilesAreRefusedWithFileAndKey) {
  const auto unknown = Write("aimc_verdict_unknown.toml", "error_budget = 1.5\n");
  try {
    LoadVerdict(unknown);
    FAIL() << "unknown key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("aimc_verdict_unknown.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("error_budget"), std::string::npos) << e.what();
  }
  const auto negative = Write("aimc_verdict_negative.toml", "error_budget_pct = -1\n");
  try {
    LoadVerdict(negative);
    FAIL() << "negative budget accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("error_budget_pct"), std::string::npos) << e.what();
  }
  const auto range = Write("aimc_verdict_range.toml", "r_on_min_ohm = 1e8\nr_on_max_ohm = 1e5\n");
  EXPECT_THROW(LoadVerdict(range), Error);
  const auto empty = Write("aimc_verdict_empty.toml", "cards = []\n");
  EXPECT_THROW(LoadVerdict(empty), Error);
}

}  // namespace
}  // namespace aimc::experiment
