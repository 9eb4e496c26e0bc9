#include "aimc/paper/table1.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "aimc/common/error.h"

namespace aimc::paper {
namespace {

std::filesystem::path Write(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

TEST(Table1Options, TheShippedFileLoads) {
  const Table1Options o =
      LoadTable1Options(std::filesystem::path(AIMC_SOURCE_DIR) / "configs/experiments/table1.toml");
  EXPECT_EQ(o.error_budget_pct, 1.5);
  EXPECT_EQ(o.cards.size(), 5u);
}

TEST(Table1Options, BadFilesAreRefusedWithFileAndKey) {
  const auto unknown = Write("aimc_verdict_unknown.toml", "error_budget = 1.5\n");
  try {
    LoadTable1Options(unknown);
    FAIL() << "unknown key accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("aimc_verdict_unknown.toml"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("error_budget"), std::string::npos) << e.what();
  }
  const auto negative = Write("aimc_verdict_negative.toml", "error_budget_pct = -1\n");
  try {
    LoadTable1Options(negative);
    FAIL() << "negative budget accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("error_budget_pct"), std::string::npos) << e.what();
  }
  const auto range = Write("aimc_verdict_range.toml", "r_on_min_ohm = 1e8\nr_on_max_ohm = 1e5\n");
  EXPECT_THROW(LoadTable1Options(range), Error);
  const auto empty = Write("aimc_verdict_empty.toml", "cards = []\n");
  EXPECT_THROW(LoadTable1Options(empty), Error);
}

}  // namespace
}  // namespace aimc::paper
