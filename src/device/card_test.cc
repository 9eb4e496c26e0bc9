#include "aimc/device/card.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/common/rng.h"
#include "aimc/device/two_state.h"
#include "../common/test_error.h"
#include "../common/test_dir.h"

namespace aimc::device {
namespace {

const char* kPresets[] = {"sot_mram", "stt_mram", "flash", "rram", "pcm"};

std::filesystem::path Temp(const std::string& name, const std::string& text) {
  static const TempDir dir("aimc_card_test");  // one per test program, removed at its exit
  const auto path = dir.path() / name;
  std::ofstream(path) << text;
  return path;
}

std::string LoadError(const std::filesystem::path& path) {
  return ErrorMessage([&] { LoadCard(path); });
}

std::string kGoodTwoStateText() {
  return "kind = 'two_state'\nname = 't'\nr_on_ohm = 1e6\nr_on_min_ohm = 1e3\nr_on_max_ohm = 1e7\n"
         "on_off_ratio = 10.0\ncv_on = 0.05\ncv_off = 0.05\nwrite_voltage_v = 1.0\n";
}

const std::string kGoodMtj =
    "kind = 'mtj'\nname = 'x'\nra_ohm_um2 = 20000.0\nnominal_cd_nm = 80.0\n"
    "electrical_cd_nm = 65.0\nsigma_radius_nm = 3.0\ntmr = 1.5\nwrite_voltage_v = 0.8\n";

TEST(DeviceCard, EveryPresetLoadsAndValidates) {
  for (const char* stem : kPresets) {
    const auto card = LoadCard(PresetCardPath(stem));
    const StateStats s = card->Stats();
    EXPECT_GT(s.on.mean_s, s.off.mean_s) << stem;
    EXPECT_GT(card->write_voltage_v(), 0) << stem;
    const auto [lo, hi] = card->r_on_range_ohm();
    EXPECT_LE(lo, card->r_on_ohm() * (1 + 1e-9)) << stem;
    EXPECT_GE(hi, card->r_on_ohm() * (1 - 1e-9)) << stem;
    EXPECT_FALSE(card->source().empty()) << stem << ": every card cites its source";
  }
}

// Table I: SOT-MRAM R_ON = 6 MOhm, write < 1 V; STT-MRAM R_ON < 10 kOhm; PCM R_ON < 10 MOhm;
// Flash V_WR > 7 V; RRAM V_FORM > 3 V.
TEST(DeviceCard, PresetsAgreeWithTableOne) {
  EXPECT_NEAR(LoadCard(PresetCardPath("sot_mram"))->r_on_ohm(), 6e6, 6.0);
  EXPECT_LT(LoadCard(PresetCardPath("sot_mram"))->write_voltage_v(), 1.0);
  EXPECT_LT(LoadCard(PresetCardPath("stt_mram"))->r_on_range_ohm().second, 10e3 * 1.0001);
  EXPECT_LE(LoadCard(PresetCardPath("pcm"))->r_on_range_ohm().second, 10e6);
  EXPECT_GE(LoadCard(PresetCardPath("flash"))->write_voltage_v(), 7.0);
  EXPECT_GE(LoadCard(PresetCardPath("rram"))->write_voltage_v(), 3.0);
}

TEST(DeviceCard, LoadCardOrPresetTakesANameOrAPath) {
  EXPECT_EQ(LoadCardOrPreset("rram")->name(), "RRAM");
  EXPECT_EQ(LoadCardOrPreset(PresetCardPath("pcm").string())->name(), "PCM");
  EXPECT_THROW(LoadCardOrPreset("no_such_card"), Error);
  // A name the file system refuses (longer than a file name may be) is an aimc::Error about the
  // card, shown by its start, not std::filesystem's text.
  const std::string long_name = ErrorMessage([] { LoadCardOrPreset(std::string(5000, 'a')); });
  EXPECT_NE(long_name.find("card 'aaaa"), std::string::npos) << long_name;
  EXPECT_NE(long_name.find("... (5000 characters)' cannot be read: File name too long"),
            std::string::npos)
      << long_name;
  EXPECT_EQ(long_name.find("filesystem error"), std::string::npos) << long_name;
}

TEST(DeviceCard, GoodCardLoads) { EXPECT_EQ(LoadError(Temp("good.toml", kGoodMtj)), ""); }

struct BadCase {
  std::string name;
  std::string from;
  std::string to;
  std::string expect;  // in the message, besides the file name
};

TEST(DeviceCard, BadCardsNameFileFieldAndValue) {
  const BadCase cases[] = {
      {"negative_cd", "electrical_cd_nm = 65.0", "electrical_cd_nm = -5.0", "electrical_cd_nm"},
      {"zero_ncd", "nominal_cd_nm = 80.0", "nominal_cd_nm = 0.0", "nominal_cd_nm"},
      {"sigma_too_big", "sigma_radius_nm = 3.0", "sigma_radius_nm = 40.0", "sigma_radius_nm"},
      {"tmr_zero", "tmr = 1.5", "tmr = 0.0", "tmr must be > 0, got 0"},
      {"tmr_negative", "tmr = 1.5", "tmr = -1.0", "tmr must be > 0, got -1"},
      {"unknown_key", "tmr = 1.5", "tmr = 1.5\ntmr_pct = 150", "unknown key 'tmr_pct'"},
      {"malformed", "tmr = 1.5", "tmr = = 1.5", "malformed TOML"},
      {"wrong_type", "tmr = 1.5", "tmr = 'high'", "expected a number"},
      {"bad_kind", "kind = 'mtj'", "kind = 'memristor'", "kind"},
  };
  for (const auto& c : cases) {
    std::string text = kGoodMtj;
    text.replace(text.find(c.from), c.from.size(), c.to);
    const auto path = Temp(c.name + ".toml", text);
    const std::string message = LoadError(path);
    EXPECT_NE(message.find(path.string()), std::string::npos) << c.name << ": " << message;
    EXPECT_NE(message.find(c.expect), std::string::npos) << c.name << ": " << message;
  }
}

TEST(DeviceCard, MissingFileIsNamed) {
  const std::string message = LoadError("/nonexistent/card.toml");
  EXPECT_NE(message.find("/nonexistent/card.toml"), std::string::npos) << message;
  EXPECT_NE(message.find("no such file"), std::string::npos) << message;
}

TEST(MeasuredCard, ComputesSampleMomentsAndBootstraps) {
  Temp("wafer.csv", "r_on_ohm,r_off_ohm\n1e6,2.5e6\n2e6,5e6\nnan,4e6\n");
  const auto card = LoadCard(Temp(
      "measured.toml",
      "kind = 'measured'\nname = 'wafer'\ncsv = 'wafer.csv'\nwrite_voltage_v = 0.5\n"));
  // Sample moments of G = 1/R: ON {1e-6, 0.5e-6}: mean 0.75e-6, sd 0.5e-6/sqrt(2).
  EXPECT_NEAR(card->Stats().on.mean_s, 0.75e-6, 1e-18);
  EXPECT_NEAR(card->Stats().on.stddev_s, 0.5e-6 / std::sqrt(2.0), 1e-18);
  EXPECT_NEAR(card->Stats().off.mean_s, (0.4e-6 + 0.2e-6 + 0.25e-6) / 3, 1e-18);
  Rng rng(1);
  for (int i = 0; i < 50; ++i) {
    const double g = card->Sample(State::kOn, rng);
    EXPECT_TRUE(g == 1e-6 || g == 0.5e-6) << g;
  }
  EXPECT_THROW(card->WithRon(1e7), Error);  // no range given: only the measured level
}

TEST(MeasuredCard, TextInANumberColumnIsNamed) {
  Temp("bad_wafer.csv", "r_on_ohm,r_off_ohm\n1e6,2.5e6\n2e6,five\n");
  const auto path = Temp("bad_measured.toml",
                         "kind = 'measured'\nname = 'w'\ncsv = 'bad_wafer.csv'\n"
                         "write_voltage_v = 0.5\n");
  const std::string message = LoadError(path);
  EXPECT_NE(message.find("bad_wafer.csv:3"), std::string::npos) << message;
  EXPECT_NE(message.find("r_off_ohm"), std::string::npos) << message;
  EXPECT_NE(message.find("five"), std::string::npos) << message;
}

TEST(MeasuredCard, SwappedStatesAreRefused) {
  Temp("swapped.csv", "r_on_ohm,r_off_ohm\n5e6,1e6\n5e6,1e6\n");
  const std::string message = LoadError(Temp(
      "swapped.toml", "kind = 'measured'\nname = 'w'\ncsv = 'swapped.csv'\nwrite_voltage_v = 1\n"));
  EXPECT_NE(message.find("low-resistance"), std::string::npos) << message;
}

// Lognormal: E[G] and sigma/mu are exactly the card's; a normal spread's moments are those of the
// truncated normal, equal to the untruncated ones while the cut is far (cv 0.05: 20 sigma).
TEST(TwoStateCard, MomentsAreTheCardsValues) {
  TwoStateOptions o;
  o.name = "t";
  o.r_on_ohm = 1e6;
  o.on_off_ratio = 10;
  o.cv_on = 0.3;
  o.cv_off = 0.05;
  o.spread = Spread::kLognormal;
  o.r_on_min_ohm = 1e5;
  o.r_on_max_ohm = 1e7;
  const TwoStateCard card(o);
  EXPECT_NEAR(card.Stats().on.mean_s, 1e-6, 1e-18);
  EXPECT_NEAR(card.Stats().on.cv(), 0.3, 1e-12);
  o.spread = Spread::kNormal;
  const TwoStateCard normal(o);
  EXPECT_NEAR(normal.Stats().off.mean_s, 1e-7, 1e-19);
  EXPECT_NEAR(normal.Stats().off.cv(), 0.05, 1e-9);
  EXPECT_NEAR(card.WithRon(2e6)->r_on_ohm(), 2e6, 1e-6);
  EXPECT_THROW(card.WithRon(1e8), Error);
  o.cv_on = 0.5;  // a normal spread this wide would put devices at G <= 0
  EXPECT_THROW(TwoStateCard{o}, Error);
}

// Level k of L = levels - 1 lies k/L of the way from OFF to ON in mean and in standard
// deviation (TwoStateOptions::levels); draws have those moments. 100,000 draws: the mean's
// standard error is sigma/316 and the std's 0.22 %; bounds are five of those.
TEST(TwoStateCard, IntermediateLevelsInterpolateMeanAndSpread) {
  TwoStateOptions o;
  o.name = "mlc";
  o.r_on_ohm = o.r_on_min_ohm = o.r_on_max_ohm = 1e5;
  o.on_off_ratio = 20;
  o.cv_on = 0.02;
  o.cv_off = 0.2;
  o.levels = 5;
  const TwoStateCard card(o);
  const double g_on = 1e-5, g_off = 5e-7;
  for (const Spread spread : {Spread::kNormal, Spread::kLognormal}) {
    o.spread = spread;
    const TwoStateCard c(o);
    EXPECT_EQ(c.LevelStats(0, 4).mean_s, c.Stats().off.mean_s);
    EXPECT_EQ(c.LevelStats(4, 4).mean_s, c.Stats().on.mean_s);
    for (const int k : {1, 2, 3}) {
      const double f = k / 4.0;
      const double mean = g_off + f * (g_on - g_off);
      const double sigma = 0.2 * g_off + f * (0.02 * g_on - 0.2 * g_off);
      const ConductanceStats st = c.LevelStats(k, 4);
      EXPECT_NEAR(st.mean_s, mean, 1e-9 * mean) << k;
      EXPECT_NEAR(st.stddev_s, sigma, 1e-6 * sigma) << k;
      Rng rng(static_cast<std::uint64_t>(k));
      const int n = 100000;
      double sum = 0, sum2 = 0;
      for (int i = 0; i < n; ++i) {
        const double g = c.SampleLevel(k, 4, rng);
        sum += g;
        sum2 += g * g;
      }
      const double m = sum / n, sd = std::sqrt(sum2 / n - m * m);
      EXPECT_NEAR(m, mean, 5 * sigma / std::sqrt(n)) << k;
      EXPECT_NEAR(sd / sigma, 1.0, 0.011) << k;
    }
  }
  // A grid of two levels per sign (L = 2) on five device levels: level 1 of 2 is level 2 of 4.
  EXPECT_NEAR(card.LevelStats(1, 2).mean_s, card.LevelStats(2, 4).mean_s, 1e-20);
  // More levels than the card holds, or a card of two states: refused, naming the card.
  const std::string too_many = ErrorMessage([&] {
    Rng rng(1);
    card.SampleLevel(1, 5, rng);
  });
  EXPECT_NE(too_many.find("card 'mlc' holds 5 conductance levels"), std::string::npos) << too_many;
  o.levels = 2;
  const TwoStateCard binary(o);
  Rng rng(1);
  EXPECT_EQ(binary.levels(), 2);
  EXPECT_THROW(binary.SampleLevel(1, 2, rng), Error);
  EXPECT_NO_THROW(binary.SampleLevel(2, 2, rng));
  o.levels = 1;
  EXPECT_THROW(TwoStateCard{o}, Error);
}

TEST(DeviceCard, LevelsAreForTwoStateCardsAndChecked) {
  EXPECT_EQ(LoadError(Temp("mlc.toml", kGoodTwoStateText() + "levels = 8\n")), "");
  EXPECT_EQ(LoadCard(Temp("mlc.toml", kGoodTwoStateText() + "levels = 8\n"))->levels(), 8);
  EXPECT_EQ(LoadCard(Temp("mlc.toml", kGoodTwoStateText() + "levels = 8\n"))->ToJson()["levels"], 8);
  EXPECT_FALSE(LoadCard(Temp("two.toml", kGoodTwoStateText()))->ToJson().contains("levels"));
  const std::string one = LoadError(Temp("mlc1.toml", kGoodTwoStateText() + "levels = 1\n"));
  EXPECT_NE(one.find("levels"), std::string::npos) << one;
  EXPECT_NE(one.find("mlc1.toml"), std::string::npos) << one;
  const std::string huge =
      LoadError(Temp("mlc2.toml", kGoodTwoStateText() + "levels = 99999999999\n"));
  EXPECT_NE(huge.find("levels"), std::string::npos) << huge;
  const std::string mtj = LoadError(Temp("mtj_levels.toml", kGoodMtj + "levels = 4\n"));
  EXPECT_NE(mtj.find("holds two states"), std::string::npos) << mtj;
}

const std::string kGoodTwoState = kGoodTwoStateText();

std::string Edited(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

// Issue 9: a nominal R_ON outside the card's own range was accepted (and WithRon then refused
// the card's own level).
TEST(DeviceCard, NominalRonOutsideItsOwnRangeIsRefused) {
  EXPECT_EQ(LoadError(Temp("ts_good.toml", kGoodTwoState)), "");
  const auto two_state =
      Temp("ts_outside.toml", Edited(kGoodTwoState, "r_on_ohm = 1e6", "r_on_ohm = 1e8"));
  std::string message = LoadError(two_state);
  EXPECT_NE(message.find(two_state.string()), std::string::npos) << message;
  EXPECT_NE(message.find("r_on_ohm must lie in the card's own range [r_on_min_ohm, r_on_max_ohm]"),
            std::string::npos)
      << message;
  // An MTJ's range is its RA range at its pillar: RA 60 kOhm um^2 beyond ra_max_ohm_um2 50k.
  const auto mtj = Temp("mtj_outside.toml",
                        Edited(kGoodMtj, "ra_ohm_um2 = 20000.0",
                               "ra_ohm_um2 = 60000.0\nra_min_ohm_um2 = 5000.0\n"
                               "ra_max_ohm_um2 = 50000.0"));
  message = LoadError(mtj);
  EXPECT_NE(message.find(mtj.string()), std::string::npos) << message;
  EXPECT_NE(message.find("lies outside its own R_ON range"), std::string::npos) << message;
  EXPECT_NE(message.find("ra_min_ohm_um2 and ra_max_ohm_um2"), std::string::npos) << message;
  // Measured: the wafer's mean R_ON (1.33 MOhm) outside the stated 2-5 MOhm.
  Temp("range_wafer.csv", "r_on_ohm,r_off_ohm\n1e6,2.5e6\n2e6,5e6\n");
  const auto measured = Temp("measured_outside.toml",
                             "kind = 'measured'\nname = 'w'\ncsv = 'range_wafer.csv'\n"
                             "write_voltage_v = 0.5\nr_on_min_ohm = 2e6\nr_on_max_ohm = 5e6\n");
  message = LoadError(measured);
  EXPECT_NE(message.find(measured.string()), std::string::npos) << message;
  EXPECT_NE(message.find("lies outside the card's own range"), std::string::npos) << message;
}

// Issue 9: resistances at 1e306 ohm gave an exact sigma of 0 beside a Monte-Carlo sigma of
// 0.185 (the squares of 1/R underflowed); a subnormal R_ON gave inf conductances.
TEST(DeviceCard, NonPhysicalResistancesAreRefused) {
  Temp("huge_wafer.csv", "r_on_ohm,r_off_ohm\n1e306,2.5e306\n2e306,5e306\n");
  const auto huge = Temp("huge.toml", "kind = 'measured'\nname = 'w'\ncsv = 'huge_wafer.csv'\n"
                                      "write_voltage_v = 0.5\n");
  std::string message = LoadError(huge);
  EXPECT_NE(message.find("huge_wafer.csv:2: column 'r_on_ohm': resistance must be within [1, "
                         "1e+15] ohm, got 1e+306"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(huge.string()), std::string::npos) << message;
  for (const char* r_on : {"1e-320", "1e306", "0.5"}) {
    const auto path = Temp("ts_r_on.toml", Edited(kGoodTwoState, "r_on_ohm = 1e6",
                                                  std::string("r_on_ohm = ") + r_on));
    message = LoadError(path);
    EXPECT_NE(message.find("r_on_ohm must be within [1, 1e+15] ohm"), std::string::npos)
        << r_on << ": " << message;
  }
  // R_OFF = R_ON x on/off ratio too.
  message = LoadError(Temp("ts_r_off.toml", Edited(kGoodTwoState, "on_off_ratio = 10.0",
                                                   "on_off_ratio = 1e10")));
  EXPECT_NE(message.find("R_OFF"), std::string::npos) << message;
  // An MTJ whose RA puts R_ON at 1e20 ohm.
  message = LoadError(Temp("mtj_huge.toml",
                           Edited(kGoodMtj, "ra_ohm_um2 = 20000.0",
                                  "ra_ohm_um2 = 1e17\nra_min_ohm_um2 = 1e16\n"
                                  "ra_max_ohm_um2 = 1e18")));
  EXPECT_NE(message.find("must lie within [1, 1e+15] ohm"), std::string::npos) << message;
}

}  // namespace
}  // namespace aimc::device
