#include "aimc/common/csv.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "test_error.h"
#include "../common/test_dir.h"

namespace aimc {
namespace {

std::filesystem::path TempPath(const std::string& name) {
  static const TempDir dir("aimc_csv_test");  // one per test program, removed at its exit
  return dir.path() / name;
}

TEST(Csv, RoundTripsDoublesBitExactly) {
  Table table{{"x", "y"}, {}};
  table.Add({0.1, 1.0 / 3.0});
  table.Add({6.02214076e23, -5e-324});
  const auto path = TempPath("round.csv");
  WriteCsv(path, table);
  const Table back = ReadCsv(path);
  ASSERT_EQ(back.columns, table.columns);
  ASSERT_EQ(back.rows.size(), 2u);
  for (std::size_t r = 0; r < 2; ++r)
    for (std::size_t c = 0; c < 2; ++c) EXPECT_EQ(back.rows[r][c], table.rows[r][c]);
}

TEST(Csv, TextInNumberColumnNamesFileLineAndColumn) {
  const auto path = TempPath("bad.csv");
  std::ofstream(path) << "r_ohm,g_s\n1,2\n3,abc\n";
  try {
    ReadCsv(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("bad.csv:3"), std::string::npos) << message;
    EXPECT_NE(message.find("g_s"), std::string::npos) << message;
    EXPECT_NE(message.find("abc"), std::string::npos) << message;
  }
}

TEST(Csv, RaggedRowsAreRejected) {
  const auto path = TempPath("ragged.csv");
  std::ofstream(path) << "1,2,3\n4,5\n";
  EXPECT_THROW(ReadNumberRows(path), Error);
}

TEST(Csv, MissingFileIsNamed) {
  try {
    ReadFile("/nonexistent/aimc.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/aimc.csv"), std::string::npos);
  }
}

TEST(Csv, TornLastLineIsDropped) {
  const auto path = TempPath("torn.csv");
  std::filesystem::remove(path);
  AppendLineDurable(path, "a,b");
  AppendLineDurable(path, "1,2");
  std::ofstream(path, std::ios::app) << "3,";  // a writer killed mid-line
  DropTornLastLine(path);
  EXPECT_EQ(ReadFile(path), "a,b\n1,2\n");
}

TEST(Csv, FormatDoubleIsShortestRoundTrip) {
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(std::stod(FormatDouble(1e6)), 1e6);
  EXPECT_EQ(std::stod(FormatDouble(M_PI)), M_PI);
}


// `--out results/` where results/ exists used to end in a filesystem exception from rename.
TEST(Csv, AFolderIsNotAnOutputFile) {
  const auto dir = TempPath("out_folder");
  std::filesystem::create_directories(dir);
  Table table{{"x"}, {}};
  table.Add({1.0});
  const std::string message = ErrorMessage([&] { WriteCsv(dir, table); });
  EXPECT_NE(message.find(dir.string() + ": is a folder"), std::string::npos) << message;
  EXPECT_TRUE(std::filesystem::is_directory(dir));
  EXPECT_FALSE(std::filesystem::exists(dir.string() + ".tmp"));
  EXPECT_NE(ErrorMessage([] { RequireOutputFile(""); }).find("no output file"), std::string::npos);
  // Under a file there is no folder to create.
  const auto file = TempPath("plain_file");
  std::ofstream(file) << "x";
  const std::string nested = ErrorMessage([&] { WriteCsv(file / "t.csv", table); });
  EXPECT_NE(nested.find("cannot create the folder " + file.string()), std::string::npos) << nested;
}

TEST(Csv, AFolderIsNotAnInputFile) {
  const auto dir = TempPath("in_folder");
  std::filesystem::create_directories(dir);
  const std::string message = ErrorMessage([&] { ReadFile(dir); });
  EXPECT_NE(message.find(dir.string() + ": it is a folder"), std::string::npos) << message;
}

}  // namespace
}  // namespace aimc
