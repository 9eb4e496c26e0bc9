// The study over MPI ranks. Run with one process (plain) and under mpirun with 2 ranks (see
// CMakeLists.txt): every expectation holds for any number of ranks.
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/report/figure.h"
#include "aimc/report/figure_store.h"

namespace aimc::report {
namespace {

namespace fs = std::filesystem;

// One folder for all ranks of a run (emptied by rank 0), another for each rank count, so that
// the one-process and the MPI run of this test may run at the same time.
fs::path SharedDir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / (name + "_" + std::to_string(cluster::Size()) + "ranks");
  cluster::OnWriter([&] { fs::remove_all(dir); });
  return dir;
}

// A figure whose rows are work items spread over the ranks: y = x^2 for x = 0..9.
Figure Squares() {
  const std::vector<std::string> y = cluster::Distribute(
      10, [](std::size_t i) { return std::to_string(i * i); });
  Figure f;
  f.title = "Squares";
  f.table = Table{{"x", "y"}, {}};
  for (std::size_t i = 0; i < y.size(); ++i) f.table.Add({double(i), std::stod(y[i])});
  f.plot.xlabel = "x";
  f.plot.ylabel = "y";
  f.plot.series = {{"x", "y", "squares"}};
  f.paper = "y grows";
  f.ours = "y = x^2";
  return f;
}

Study MakeStudy(int* makes) {
  Study study;
  study.Add({"squares", "", [makes](StudyContext& ctx) {
               ctx.Produce("fig_squares", {{"n", 10}}, [&] {
                 ++*makes;
                 return Squares();
               });
               // The figure's fingerprint is rank 0's reading, the same on every rank.
               std::string fingerprint = ctx.FigureFingerprint("fig_squares");
               std::string writers = fingerprint;
               cluster::Broadcast(writers);
               EXPECT_EQ(fingerprint, writers);
             }});
  // Fails alike on every rank: the code every rank runs refuses its input.
  study.Add({"everywhere", "", [](StudyContext&) { Fail("no such card 'xyz'"); }});
  // Fails in a work item of one rank: every rank gets a cluster::CollectiveError.
  study.Add({"item", "", [](StudyContext&) {
               cluster::Distribute(4, [](std::size_t i) -> std::string {
                 if (i == 2) throw Error("item 2 does not converge");
                 return "";
               });
             }});
  // Fails on the last rank only, after its collective steps.
  study.Add({"one_rank", "", [](StudyContext&) {
               if (cluster::Rank() == cluster::Size() - 1) Fail("disk full here");
             }});
  study.Add({"after", "", [makes](StudyContext& ctx) {
               ctx.Produce("fig_after", {}, [&] {
                 ++*makes;
                 Figure f = Squares();
                 f.title = "After the failures";
                 return f;
               });
             }});
  return study;
}

TEST(StudyCluster, PartsFailTogetherAndTheOthersStillRun) {
  RunOptions options;
  options.out_dir = SharedDir("aimc_study_cluster_test");
  int makes = 0;
  const Study study = MakeStudy(&makes);
  std::map<std::string, Outcome> outcomes;
  // The same count of failures on every rank.
  EXPECT_EQ(study.Run(options, "test", "preamble", &outcomes), 3);
  EXPECT_EQ(makes, 2);  // every rank makes each figure (its work items are shared)
  EXPECT_EQ(outcomes.at("fig_squares"), Outcome::kComputed);
  EXPECT_EQ(outcomes.at("fig_after"), Outcome::kComputed);
  cluster::Barrier();
  const Table squares = ReadCsv(options.out_dir / "fig_squares.csv");
  ASSERT_EQ(squares.rows.size(), 10u);
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(squares.rows[i][1], double(i * i));
  const std::string report = ReadFile(options.out_dir / "report.md");
  EXPECT_NE(report.find("everywhere: no such card 'xyz'"), std::string::npos) << report;
  EXPECT_NE(report.find("item 2 does not converge"), std::string::npos) << report;
  // The message of the rank that failed, on every rank.
  const std::string one_rank =
      cluster::Size() > 1
          ? fmt::format("one_rank: rank {} of {}: disk full here", cluster::Size() - 1,
                        cluster::Size())
          : "one_rank: disk full here";
  EXPECT_NE(report.find(one_rank), std::string::npos) << report;
  EXPECT_NE(report.find("After the failures"), std::string::npos) << report;

  // A second run keeps both figures on every rank and makes nothing.
  EXPECT_EQ(study.Run(options, "test", "preamble", &outcomes), 3);
  EXPECT_EQ(makes, 2);
  EXPECT_EQ(outcomes.at("fig_squares"), Outcome::kKept);
  EXPECT_EQ(outcomes.at("fig_after"), Outcome::kKept);

  // A deleted plot is redrawn by rank 0; every rank hears it was.
  if (std::system("command -v gnuplot >/dev/null 2>&1") == 0) {
    cluster::OnWriter([&] { fs::remove(options.out_dir / "fig_squares.png"); });
    options.only = {"squares"};
    EXPECT_EQ(study.Run(options, "test", "preamble", &outcomes), 0);
    EXPECT_EQ(outcomes.at("fig_squares"), Outcome::kRedrawn);
    EXPECT_EQ(makes, 2);
  }
}

TEST(StudyCluster, CommonInputsAreEveryFiguresInputs) {
  RunOptions options;
  options.out_dir = SharedDir("aimc_study_cluster_inputs_test");
  options.only = {"squares"};
  options.common_inputs = {{"limits", {{"epochs", 1}}}};
  int makes = 0;
  const Study study = MakeStudy(&makes);
  std::map<std::string, Outcome> outcomes;
  EXPECT_EQ(study.Run(options, "test", "", &outcomes), 0);
  EXPECT_EQ(outcomes.at("fig_squares"), Outcome::kComputed);
  cluster::Barrier();
  EXPECT_EQ(ReadJson(options.out_dir / "fig_squares.json")["inputs"]["limits"]["epochs"], 1);
  EXPECT_EQ(study.Run(options, "test", "", &outcomes), 0);
  EXPECT_EQ(outcomes.at("fig_squares"), Outcome::kKept);
  // Without the limits the figure made under them is not current.
  options.common_inputs = nlohmann::json::object();
  EXPECT_EQ(study.Run(options, "test", "", &outcomes), 0);
  EXPECT_EQ(outcomes.at("fig_squares"), Outcome::kComputed);
  EXPECT_EQ(makes, 2);  // fig_squares twice (fig_after is not run)
}

TEST(StudyCluster, BadOptionsAreEveryRanksError) {
  RunOptions options;
  options.out_dir = SharedDir("aimc_study_cluster_options_test");
  options.only = {"nosuchpart"};
  int makes = 0;
  try {
    MakeStudy(&makes).Run(options, "test", "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown part 'nosuchpart'"), std::string::npos);
    // With several ranks the error is collective: main() says it once and ends every rank.
    EXPECT_EQ(dynamic_cast<const cluster::CollectiveError*>(&e) != nullptr, cluster::Size() > 1);
  }
}

}  // namespace
}  // namespace aimc::report
