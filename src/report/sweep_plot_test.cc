#include "aimc/report/sweep_plot.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "aimc/common/error.h"

namespace aimc::report {
namespace {

// A sweep as aimc sweep writes it, reduced to the columns SweepFigure reads: two wire values,
// two R_ON values, two chips per point; the errors are chosen so that means and stds are exact.
Table Sweep() {
  Table t;
  t.columns = {"model", "card", "sigma_w_test", "r_on_ohm", "wire_ohm", "tile_rows", "tmr",
               "time_s", "temperature_k", "chip", "error_pct"};
  for (double wire : {0.0, 3.0})
    for (double ron : {1e6, 1e5})
      for (double chip : {0.0, 1.0})
        t.Add({0, 0, 0, ron, wire, 1024, 1.5, 0, 298.15, chip,
               10.0 + wire + (ron < 5e5 ? 20.0 : 0.0) + (chip == 0 ? -1.0 : 1.0)});
  return t;
}

TEST(SweepFigure, MeansOverChipsOneCurvePerOtherVaryingColumn) {
  const Figure f = SweepFigure(Sweep(), "r_on_ohm", "s_r_on_ohm", {"lenet"}, {"sot"});
  ASSERT_EQ(f.table.rows.size(), 4u);  // 2 curves (wire) x 2 R_ON
  ASSERT_EQ(f.plot.series.size(), 2u);
  EXPECT_EQ(f.plot.series[0].title, "wire_ohm 0");
  EXPECT_EQ(f.plot.series[1].title, "wire_ohm 3");
  EXPECT_TRUE(f.plot.log_x);
  const std::size_t x = f.table.Column("r_on_ohm"), c = f.table.Column("curve"),
                    m = f.table.Column("error_pct"), s = f.table.Column("error_pct_std"),
                    n = f.table.Column("chips");
  for (const auto& row : f.table.rows) {
    const double wire = row[c] == 0 ? 0.0 : 3.0;
    EXPECT_DOUBLE_EQ(row[m], 10.0 + wire + (row[x] < 5e5 ? 20.0 : 0.0));
    EXPECT_DOUBLE_EQ(row[s], std::sqrt(2.0));  // errors mean -1 and mean +1
    EXPECT_EQ(row[n], 2.0);
  }
}

TEST(SweepFigure, NamesModelsAndCardsAndRefusesUnknownAxes) {
  Table t = Sweep();
  for (std::size_t i = 0; i < t.rows.size(); ++i) t.rows[i][1] = static_cast<double>(i % 2 == 0);
  const Figure f = SweepFigure(t, "wire_ohm", "s", {}, {"rram", "sot"});
  ASSERT_FALSE(f.plot.series.empty());
  EXPECT_NE(f.plot.series[0].title.find("sot, r_on_ohm 1e+06"), std::string::npos) << f.plot.series[0].title;
  EXPECT_FALSE(f.plot.log_x);
  try {
    SweepFigure(t, "chip", "s");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("plot axis 'chip' is none of"), std::string::npos);
  }
  Table empty = t;
  empty.rows.clear();
  EXPECT_THROW(SweepFigure(empty, "wire_ohm", "s"), Error);
}

}  // namespace
}  // namespace aimc::report
