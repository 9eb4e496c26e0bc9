#include "aimc/report/figure.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "aimc/common/csv.h"
#include "aimc/common/hash.h"
#include "aimc/common/manifest.h"
#include "aimc/report/figure_store.h"
#include "../common/test_dir.h"

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
  const auto dir = UniqueTempPath("aimc_figure_test");
  std::filesystem::remove_all(dir);
  const Figure f = SmallFigure();
  WriteFigure(dir, f, "test");
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.gp"));
  const auto manifest = ReadJson(dir / "fig_test.json");
  EXPECT_EQ(manifest["figure"]["ours"], "y = x^2");
  EXPECT_EQ(manifest["options"]["n"], 5);
  EXPECT_FALSE(manifest["git_revision"].get<std::string>().empty());
  EXPECT_EQ(CheckFigure(dir, "fig_test", nlohmann::json::object()), FigureState::kCurrent);
  EXPECT_EQ(CheckFigure(dir, "fig_test", nlohmann::json{{"n", 6}}), FigureState::kStale);
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.png"));
    EXPECT_TRUE(std::filesystem::exists(dir / "fig_test.svg"));
  }
  const Table back = ReadCsv(dir / "fig_test.csv");
  EXPECT_EQ(back.rows, f.table.rows);
}

std::filesystem::path FreshDir(const std::string& name) {
  const auto dir = UniqueTempPath(name);
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(Study, ResumesAndSkipsUpToDateFigures) {
  const auto dir = FreshDir("aimc_study_test");
  int calls = 0;
  Study study;
  study.Add({"part", "a test part", [&](StudyContext& ctx) {
               ctx.Produce("fig_a", {{"k", 1}}, [&] {
                 ++calls;
                 return SmallFigure();
               });
             }});
  RunOptions options;
  options.out_dir = dir;
  EXPECT_EQ(study.Run(options, "test", ""), 0);
  EXPECT_EQ(study.Run(options, "test", ""), 0);
  EXPECT_EQ(calls, 1);
  options.force = true;
  EXPECT_EQ(study.Run(options, "test", ""), 0);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(std::filesystem::exists(dir / "report.md"));
}

// A study of three figures with known dependencies: A on a data file, B on a model file, C on
// its own option and on A's results. Changing one input recomputes exactly the figures that
// depend on it (C follows A only when A's numbers change).
TEST(Study, RecomputesExactlyTheFiguresWhoseInputsChanged) {
  const auto dir = FreshDir("aimc_study_inputs_test");
  std::filesystem::create_directories(dir / "in");
  const auto data = dir / "in" / "data.bin";
  const auto model = dir / "in" / "model.pt";
  const auto write = [](const std::filesystem::path& p, const std::string& text) {
    WriteFileAtomic(p, text);
  };
  write(data, "data v1");
  write(model, "model v1");
  int c_option = 1;
  std::string a_value = "1";
  Study study;
  study.Add({"part", "", [&](StudyContext& ctx) {
               ctx.Produce("fig_a", {{"data", HashFile(data)}}, [&] {
                 Figure f = SmallFigure();
                 f.table.rows[0][1] = std::stod(a_value);
                 return f;
               });
               ctx.Produce("fig_b", {{"model", HashFile(model)}}, SmallFigure);
               ctx.Produce("fig_c", {{"n", c_option}, {"uses", ctx.FigureFingerprint("fig_a")}},
                           SmallFigure);
             }});
  RunOptions options;
  options.out_dir = dir / "out";
  std::map<std::string, Outcome> o;
  const auto run = [&] {
    EXPECT_EQ(study.Run(options, "test", "", &o), 0);
    std::string made;
    for (const auto& [id, outcome] : o)
      if (outcome == Outcome::kComputed) made += id + " ";
    return made;
  };
  EXPECT_EQ(run(), "fig_a fig_b fig_c ");
  EXPECT_EQ(run(), "");
  write(model, "model v2");
  EXPECT_EQ(run(), "fig_b ");
  c_option = 2;
  EXPECT_EQ(run(), "fig_c ");
  write(data, "data v2");  // A recomputed with the same numbers: C keeps
  EXPECT_EQ(run(), "fig_a ");
  write(data, "data v3");
  a_value = "7";  // A's results change: C follows
  EXPECT_EQ(run(), "fig_a fig_c ");
  EXPECT_EQ(o["fig_b"], Outcome::kKept);
}

TEST(Study, DeletedPlotIsRedrawnNotRecomputed) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) GTEST_SKIP() << "no gnuplot";
  const auto dir = FreshDir("aimc_study_plot_test");
  int calls = 0;
  Study study;
  study.Add({"part", "", [&](StudyContext& ctx) {
               ctx.Produce("fig_p", {}, [&] {
                 ++calls;
                 return SmallFigure();
               });
             }});
  RunOptions options;
  options.out_dir = dir;
  std::map<std::string, Outcome> o;
  study.Run(options, "test", "", &o);
  std::filesystem::remove(dir / "fig_p.png");
  study.Run(options, "test", "", &o);
  EXPECT_EQ(o["fig_p"], Outcome::kRedrawn);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_p.png"));
  // Without its gnuplot script the plot cannot be redrawn: the figure is made again.
  std::filesystem::remove(dir / "fig_p.gp");
  study.Run(options, "test", "", &o);
  EXPECT_EQ(o["fig_p"], Outcome::kComputed);
  EXPECT_EQ(calls, 2);
}

// A run killed after the CSV and before the manifest leaves no manifest: the figure is made again,
// never taken as current with a CSV its manifest does not describe.
TEST(Study, FigureWithoutManifestIsRecomputed) {
  const auto dir = FreshDir("aimc_study_torn_test");
  WriteFigure(dir, SmallFigure(), "test", {{"k", 1}, {"seed", 1}});
  std::filesystem::remove(dir / "fig_test.json");
  EXPECT_EQ(CheckFigure(dir, "fig_test", {{"k", 1}, {"seed", 1}}), FigureState::kMissing);
}

TEST(Study, FailingPartDoesNotLoseOthers) {
  const auto dir = FreshDir("aimc_study_fail_test");
  Study study;
  study.Add({"good", "", [](StudyContext& ctx) { ctx.Produce("fig_good", {}, SmallFigure); }});
  study.Add({"bad", "", [](StudyContext&) { throw std::runtime_error("boom"); }});
  RunOptions options;
  options.out_dir = dir;
  EXPECT_EQ(study.Run(options, "test", ""), 1);
  EXPECT_TRUE(std::filesystem::exists(dir / "fig_good.csv"));
  EXPECT_NE(ReadFile(dir / "report.md").find("bad: boom"), std::string::npos);
}

TEST(Figure, ErrorBarsAndRegionsReachTheScript) {
  Figure f = SmallFigure();
  f.plot.series[0].y_error = "group";
  f.plot.regions.push_back({1.0, 2.0, 0.0, 3.0, "spec"});
  f.plot.labels.push_back({1.0, 1.0, "SOT-MRAM"});
  const std::string gp = GnuplotScript(f);
  EXPECT_NE(gp.find("yerrorlines"), std::string::npos);
  EXPECT_NE(gp.find("set object 1 rect from 1,0 to 2,3"), std::string::npos) << gp;
  EXPECT_NE(gp.find("\"SOT-MRAM\" at 1,1"), std::string::npos) << gp;
}

}  // namespace
}  // namespace aimc::report
