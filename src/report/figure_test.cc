#include "aimc/report/figure.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "aimc/common/manifest.h"
#include "aimc/report/study.h"

namespace aimc::report {
namespace {

Figure SmallFigure() {
  Figure f;
  f.id = "fig_test";
  f.title = "Test figure";
  f.table = Table{{"x", "y", "group"}, {}};
  for (int i = 0; i < 5; ++i) f.table.Add({double(i), double(i * i), double(i % 2)});
  f.plot.xlabel = "x";
  f.plot.ylabel = "y";
  f.plot.series = {{"x", "y", "even", "group", 0.0}, {"x", "y", "odd", "group", 1.0}};
  f.paper = "y grows";
  f.ours = "y = x^2";
  f.options = {{"n", 5}};
  return f;
}

TEST(Figure, WritesCsvManifestAndPlotFromCsv) {
  const auto dir = std::filesystem::temp_directory_path() / "aimc_figure_test";
  std::filesystem::remove_all(dir);
  const Figure f = SmallFigure();
  WriteFigure(dir, f, "test");
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.gp"));
  const auto manifest = ReadJson(dir / "fig_test.json");
  EXPECT_EQ(manifest["figure"]["ours"], "y = x^2");
  EXPECT_EQ(manifest["options"]["n"], 5);
  EXPECT_FALSE(manifest["git_revision"].get<std::string>().empty());
  EXPECT_TRUE(FigureUpToDate(dir, "fig_test", f.options));
  EXPECT_FALSE(FigureUpToDate(dir, "fig_test", nlohmann::json{{"n", 6}}));
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.png"));
    EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.svg"));
  }
  const Table back = ReadCsv(dir / "fig_test.csv");
  EXPECT_EQ(back.rows, f.table.rows);
}

TEST(Study, ResumesAndSkipsUpToDateFigures) {
  const auto dir = std::filesystem::temp_directory_path() / "aimc_study_test";
  std::filesystem::remove_all(dir);
  int calls = 0;
  Study study;
  study.Add({"part", "a test part", [&](StudyContext& ctx) {
               ctx.Produce("fig_a", {{"k", 1}}, [&] {
                 ++calls;
                 return SmallFigure();
               });
             }});
  StudyOptions options;
  options.out_dir = dir;
  EXPECT_EQ(study.Run(options, "test"), 0);
  EXPECT_EQ(study.Run(options, "test"), 0);
  EXPECT_EQ(calls, 1);
  options.force = true;
  EXPECT_EQ(study.Run(options, "test"), 0);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(std::filesystem::exists(dir / "report.md"));
}

TEST(Study, FailingPartDoesNotLoseOthers) {
  const auto dir = std::filesystem::temp_directory_path() / "aimc_study_fail_test";
  std::filesystem::remove_all(dir);
  Study study;
  study.Add({"good", "", [](StudyContext& ctx) { ctx.Produce("fig_good", {}, SmallFigure); }});
  study.Add({"bad", "", [](StudyContext&) { throw std::runtime_error("boom"); }});
  StudyOptions options;
  options.out_dir = dir;
  EXPECT_EQ(study.Run(options, "test"), 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_good.csv"));
}

}  // namespace
}  // namespace aimc::report
