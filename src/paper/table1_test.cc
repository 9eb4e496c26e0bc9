#include "aimc/paper/table1.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "../common/test_dir.h"

namespace aimc::paper {
namespace {

std::filesystem::path Write(const std::string& name, const std::string& text) {
  static const TempDir dir("aimc_table1_test");  // one per test program, removed at its exit
  const auto path = dir.path() / name;
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

// The rows for devices in use: their conditions are validated and named like every other key.
TEST(Table1Options, ReadConditionsOfTheInUseRowsAreChecked) {
  const Table1Options o =
      LoadTable1Options(std::filesystem::path(AIMC_SOURCE_DIR) / "configs/experiments/table1.toml");
  EXPECT_DOUBLE_EQ(o.read_voltage_v, 0.2);
  EXPECT_DOUBLE_EQ(o.hot_temperature_c, 85.0);
  EXPECT_NEAR(o.lifetime_s / 3.15576e7, 10.0, 1e-12);
  for (const auto& [text, key] : {std::pair{"read_voltage_v = -0.2\n", "read_voltage_v"},
                                  std::pair{"lifetime_s = 0\n", "lifetime_s"},
                                  std::pair{"hot_temperature_c = 2000\n", "hot_temperature_c"},
                                  std::pair{"spread_pairs = 3\n", "spread_pairs"}}) {
    const auto file = Write("aimc_verdict_conditions.toml", text);
    try {
      LoadTable1Options(file);
      FAIL() << text << " accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace aimc::paper
