#include "aimc/device/physics.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aimc/device/card.h"
#include "aimc/device/mtj.h"
#include "aimc/device/two_state.h"
#include "../common/test_error.h"
#include "../common/test_dir.h"

namespace aimc::device {
namespace {

std::filesystem::path Temp(const std::string& name, const std::string& text) {
  static const TempDir dir("aimc_physics_test");  // one per test program, removed at its exit
  const auto path = dir.path() / name;
  std::ofstream(path) << text;
  return path;
}

const std::string kMtj =
    "kind = 'mtj'\nname = 'x'\nra_ohm_um2 = 20000.0\nnominal_cd_nm = 80.0\n"
    "electrical_cd_nm = 65.0\nsigma_radius_nm = 3.0\ntmr = 1.5\nwrite_voltage_v = 0.8\n";
const std::string kTwoState =
    "kind = 'two_state'\nname = 'y'\nr_on_ohm = 1e6\non_off_ratio = 10.0\ncv_on = 0.05\n"
    "cv_off = 0.05\nwrite_voltage_v = 2.0\n";

TwoStateCard Plain() {
  TwoStateOptions o;
  o.name = "t";
  o.r_on_ohm = 1e6;
  o.on_off_ratio = 10.0;
  o.cv_on = o.cv_off = 0.0;
  return TwoStateCard(o);
}

// The slope is dI/dV: checked against a central difference of Current (step 1e-5 V, so the
// truncation error ~ h^2 I''' is below 1e-9 relative).
TEST(IvShape, SlopeIsTheDerivativeOfTheCurrent) {
  for (const IvShape& s : {IvShape::Linear(), IvShape::TmrBias(1.5, 0.5), IvShape::Sinh(0.25)}) {
    for (double v : {-0.4, -0.05, 0.0, 0.1, 0.3, 0.8}) {
      const double h = 1e-5;
      const double numeric = (s.Current(2e-6, v + h) - s.Current(2e-6, v - h)) / (2 * h);
      EXPECT_NEAR(s.Slope(2e-6, v), numeric, 1e-9 * std::abs(numeric) + 1e-20)
          << s.Describe() << " at " << v;
    }
    EXPECT_DOUBLE_EQ(s.Shape(0.0), 1.0);
    EXPECT_DOUBLE_EQ(s.Shape(0.3), s.Shape(-0.3));  // even: I is odd in V
  }
}

// TMR(V_h) = TMR0 / 2 by definition: G_P / G_AP(V_h) = 1 + TMR0 / 2.
TEST(IvShape, TheTmrHalvesAtVHalf) {
  const IvShape s = IvShape::TmrBias(1.5, 0.5);
  const double g_p = 1e-6, g_ap0 = g_p / 2.5;
  EXPECT_NEAR(g_p / (g_ap0 * s.Shape(0.5)), 1.75, 1e-14);
  EXPECT_NEAR(IvShape::Sinh(0.2).Shape(0.2), std::sinh(1.0), 1e-15);
}

TEST(Physics, RefusesNonPhysicalValuesNamingTheField) {
  const auto message = [](auto edit) {
    Physics p;
    edit(p);
    return ErrorMessage([&] { p.Validate(); });
  };
  EXPECT_NE(message([](Physics& p) { p.iv.v_half_v = -0.5; }).find("iv.v_half_v"),
            std::string::npos);
  EXPECT_NE(message([](Physics& p) { p.retention.delta = -1; }).find("retention.delta"),
            std::string::npos);
  EXPECT_NE(message([](Physics& p) { p.drift.off_nu_mean = -0.05; }).find("drift.off_nu_mean"),
            std::string::npos);
  EXPECT_NE(message([](Physics& p) { p.stuck.on_fraction = 1.5; }).find("stuck_at.on_fraction"),
            std::string::npos);
  EXPECT_NE(message([](Physics& p) { p.stuck.off_fraction = -0.1; }).find("stuck_at.off_fraction"),
            std::string::npos);
  EXPECT_NE(message([](Physics& p) {
              p.stuck.on_fraction = 0.6;
              p.stuck.off_fraction = 0.6;
            }).find("<= 1"),
            std::string::npos);
  EXPECT_NE(message([](Physics& p) { p.read_noise.sigma_rel = std::nan(""); })
                .find("read_noise.sigma_rel"),
            std::string::npos);
  EXPECT_EQ(message([](Physics&) {}), "");
}

TEST(Physics, CardFilesStateItAndBadValuesNameFileAndKey) {
  const auto card = LoadCard(Temp("full.toml", kMtj +
                                                  "[iv]\nv_half_v = 0.5\nsource = 's'\n"
                                                  "[read_noise]\nsigma_rel = 0.01\n"
                                                  "[retention]\ndelta = 45.0\n"
                                                  "[stuck_at]\non_fraction = 0.001\n"));
  EXPECT_DOUBLE_EQ(card->physics().iv.v_half_v, 0.5);
  EXPECT_DOUBLE_EQ(card->physics().retention.delta, 45.0);
  EXPECT_EQ(card->Iv(State::kOff).kind, IvShape::Kind::kTmrBias);
  EXPECT_NEAR(card->Iv(State::kOff).tmr0, 1.5, 1e-12);
  EXPECT_TRUE(card->Iv(State::kOn).linear());
  // Kept when the card moves along its RA range.
  EXPECT_DOUBLE_EQ(card->WithRon(4e6)->physics().retention.delta, 45.0);
  EXPECT_TRUE(card->ToJson().contains("physics"));
  EXPECT_FALSE(LoadCard(Temp("plain.toml", kMtj))->ToJson().contains("physics"));

  const std::string negative = ErrorMessage(
      [&] { LoadCard(Temp("neg.toml", kMtj + "[iv]\nv_half_v = -0.5\n")); });
  EXPECT_NE(negative.find("neg.toml"), std::string::npos) << negative;
  EXPECT_NE(negative.find("iv.v_half_v"), std::string::npos) << negative;
  const std::string zero_delta =
      ErrorMessage([&] { LoadCard(Temp("d0.toml", kMtj + "[retention]\ndelta = 0.0\n")); });
  EXPECT_NE(zero_delta.find("retention.delta"), std::string::npos) << zero_delta;
  const std::string nu = ErrorMessage(
      [&] { LoadCard(Temp("nu.toml", kTwoState + "[drift]\non_nu_mean = -0.1\n")); });
  EXPECT_NE(nu.find("drift.on_nu_mean"), std::string::npos) << nu;
  const std::string fraction = ErrorMessage(
      [&] { LoadCard(Temp("f.toml", kTwoState + "[stuck_at]\noff_fraction = 2.0\n")); });
  EXPECT_NE(fraction.find("stuck_at.off_fraction"), std::string::npos) << fraction;
  const std::string typo = ErrorMessage(
      [&] { LoadCard(Temp("typo.toml", kTwoState + "[drift]\nnu_mean = 0.1\n")); });
  EXPECT_NE(typo.find("nu_mean"), std::string::npos) << typo;
  const std::string v_half_rram = ErrorMessage(
      [&] { LoadCard(Temp("vh.toml", kTwoState + "[iv]\nv_half_v = 0.5\n")); });
  EXPECT_NE(v_half_rram.find("MTJ"), std::string::npos) << v_half_rram;
}

TEST(CellCost, CardFilesStateItAndBadValuesNameFileAndField) {
  const auto card = LoadCard(Temp("cell.toml", kMtj +
                                                  "[cell]\narea_um2 = 0.076\nwrite_pulse_s = 0.5e-9\n"
                                                  "write_current_a = 0.5e-3\nsource = 'Fig. 9'\n"));
  EXPECT_DOUBLE_EQ(card->cell().area_um2, 0.076);
  EXPECT_DOUBLE_EQ(card->cell().write_pulses, 1.0);
  // 0.8 V x 0.5 mA x 0.5 ns = 0.2 pJ per device.
  EXPECT_NEAR(card->cell().WriteEnergyJ(card->write_voltage_v()), 0.2e-12, 1e-27);
  EXPECT_DOUBLE_EQ(card->WithRon(4e6)->cell().area_um2, 0.076);
  EXPECT_TRUE(card->ToJson().contains("cell"));
  EXPECT_FALSE(LoadCard(Temp("nocell.toml", kMtj))->ToJson().contains("cell"));
  const std::string area = ErrorMessage(
      [&] { LoadCard(Temp("area.toml", kMtj + "[cell]\narea_um2 = 76000.0\n")); });
  EXPECT_NE(area.find("area.toml"), std::string::npos) << area;
  EXPECT_NE(area.find("cell.area_um2"), std::string::npos) << area;
  const std::string pulses = ErrorMessage(
      [&] { LoadCard(Temp("pulses.toml", kTwoState + "[cell]\nwrite_pulses = 0.5\n")); });
  EXPECT_NE(pulses.find("cell.write_pulses"), std::string::npos) << pulses;
  const std::string typo = ErrorMessage(
      [&] { LoadCard(Temp("celltypo.toml", kTwoState + "[cell]\narea = 0.1\n")); });
  EXPECT_NE(typo.find("area"), std::string::npos) << typo;
  // Every preset card states its cell, with a source or the word "assumption".
  for (const std::string& name : PresetCardNames()) {
    const auto preset = LoadCardOrPreset(name);
    EXPECT_GT(preset->cell().area_um2, 0.0) << name;
    EXPECT_GT(preset->cell().WriteEnergyJ(preset->write_voltage_v()), 0.0) << name;
    EXPECT_FALSE(preset->cell().source.empty()) << name;
  }
}

// Delta = mu0 H_k M_s V / (2 k_B T): 100 mT, 1000 kA/m, 4000 nm^3 at 300 K is
// 0.1 * 1e6 * 4e-24 / 2 / (1.380649e-23 * 300) = 48.287...
TEST(Retention, MacrospinBarrierAndNeelArrhenius) {
  EXPECT_NEAR(DeltaFromMacrospin(100, 1000, 4000, 300), 2e-19 / (1.380649e-23 * 300), 1e-9);
  Retention r;
  r.delta = 40;
  r.attempt_time_s = 1e-9;
  const double tau = 1e-9 * std::exp(40.0);
  EXPECT_NEAR(r.FlipProbability(tau, 300), 1 - std::exp(-1.0), 1e-12);
  EXPECT_DOUBLE_EQ(r.FlipProbability(0, 300), 0.0);
  // Hotter: a smaller barrier, Delta T = const.
  EXPECT_NEAR(r.DeltaAt(600), 20.0, 1e-12);
  EXPECT_GT(r.FlipProbability(1e3, 358.15), r.FlipProbability(1e3, 298.15));
  EXPECT_DOUBLE_EQ(r.FlipProbability(1e30, 300), 1.0);
}

// 1/f read noise (Nandakumar et al. 2019): q sqrt(ln((t + t_read) / (2 t_read))).
TEST(ReadNoise, FlickerGrowsWithLogTimeAndShotNoiseWithCurrent) {
  ReadNoise n;
  n.flicker_q = 0.01;
  n.read_time_s = 250e-9;
  EXPECT_NEAR(n.SigmaAt(3600), 0.01 * std::sqrt(std::log((3600 + 250e-9) / 500e-9)), 1e-15);
  EXPECT_DOUBLE_EQ(n.SigmaAt(0), 0.0);
  n.shot_fano = 1.0;
  n.read_time_s = 10e-9;
  EXPECT_NEAR(n.ShotVariance(1e-7), 1.602176634e-19 * 1e-7 / 10e-9, 1e-40);
}

TEST(Age, StuckAtOneFractionMakesEveryDeviceOn) {
  TwoStateCard card = Plain();
  Physics p;
  p.stuck.on_fraction = 1.0;
  card.set_physics(p);
  Rng rng(1);
  for (int i = 0; i < 100; ++i) {
    const auto aged = card.Age(State::kOff, 1e-7, {}, rng);
    EXPECT_EQ(aged.state, State::kOn);
    EXPECT_DOUBLE_EQ(aged.g_s, 1e-6);  // a fresh ON device of a card without spread
  }
}

// An MTJ that flips keeps its pillar: G_P = G_AP (1 + TMR).
TEST(Age, RetentionFlipsAnMtjIntoItsOtherStateAndAgesMonotonically) {
  MtjCard card(SotMramPreset());
  Physics p;
  p.retention.delta = 30;
  card.set_physics(p);
  ReadConditions later;
  later.time_s = 1e9;  // >> tau = 1e-9 e^30 s = 10.7 s: every device has flipped
  Rng rng(2);
  const auto flipped = card.Age(State::kOn, 2e-7, later, rng);
  EXPECT_EQ(flipped.state, State::kOff);
  EXPECT_NEAR(flipped.g_s, 2e-7 / 2.5, 1e-20);
  // The same devices at two times: whoever has flipped at t1 has flipped at t2 > t1.
  ReadConditions t1, t2;
  t1.time_s = 5;
  t2.time_s = 20;
  Rng a(3), b(3);
  int flips1 = 0, flips2 = 0;
  for (int i = 0; i < 2000; ++i) {
    const bool f1 = card.Age(State::kOn, 2e-7, t1, a).state == State::kOff;
    const bool f2 = card.Age(State::kOn, 2e-7, t2, b).state == State::kOff;
    EXPECT_TRUE(!f1 || f2);
    flips1 += f1;
    flips2 += f2;
  }
  // P(5 s) = 1 - exp(-5 / 10.69) = 0.374, P(20 s) = 0.846; 2000 draws: sigma ~ 0.011.
  EXPECT_NEAR(flips1 / 2000.0, 1 - std::exp(-5 / (1e-9 * std::exp(30.0))), 0.04);
  EXPECT_NEAR(flips2 / 2000.0, 1 - std::exp(-20 / (1e-9 * std::exp(30.0))), 0.04);
  // One draw of the chip's stream per device, whatever happened.
  EXPECT_EQ(a.NextU64(), b.NextU64());
}

// Without spread on nu the drift is the power law itself; E_a shifts time by the Arrhenius
// factor.
TEST(Age, DriftFollowsThePowerLaw) {
  TwoStateCard card = Plain();
  Physics p;
  p.drift.off_nu_mean = 0.1;
  p.drift.on_nu_mean = 0.01;
  p.drift.t0_s = 20;
  card.set_physics(p);
  ReadConditions c;
  c.time_s = 2e5;
  Rng rng(4);
  EXPECT_NEAR(card.Age(State::kOff, 1e-7, c, rng).g_s, 1e-7 * std::pow(1e4, -0.1), 1e-21);
  EXPECT_NEAR(card.Age(State::kOn, 1e-6, c, rng).g_s, 1e-6 * std::pow(1e4, -0.01), 1e-20);
  c.time_s = 10;  // before t0: as programmed
  EXPECT_DOUBLE_EQ(card.Age(State::kOff, 1e-7, c, rng).g_s, 1e-7);
  Drift d;
  d.activation_ev = 1.0;
  d.reference_temperature_k = 300;
  EXPECT_NEAR(d.EffectiveTime(1.0, 300), 1.0, 1e-15);
  EXPECT_NEAR(d.EffectiveTime(1.0, 350), std::exp(1.0 / 8.617333262e-5 * (1 / 300.0 - 1 / 350.0)),
              1e-6);
}

// An intermediate level drifts with nu interpolated between the states' at its place between
// OFF and ON; the end levels age exactly as the states do; a retention model is refused there.
TEST(Age, IntermediateLevelsDriftWithInterpolatedNu) {
  TwoStateOptions o;
  o.name = "mlc";
  o.r_on_ohm = 1e6;
  o.r_on_min_ohm = 1e3;
  o.r_on_max_ohm = 1e9;
  o.on_off_ratio = 10;
  o.cv_on = o.cv_off = 0.0;
  o.levels = 4;
  TwoStateCard card(o);
  Physics p;
  p.drift.off_nu_mean = 0.1;
  p.drift.on_nu_mean = 0.01;
  p.drift.t0_s = 20;
  card.set_physics(p);
  ReadConditions c;
  c.time_s = 2e5;
  Rng a(4), b(4);
  // Level 1 of 3: nu = 0.1 + (0.01 - 0.1) / 3 = 0.07.
  EXPECT_NEAR(card.AgeLevel(1, 3, 4e-7, c, a).g_s, 4e-7 * std::pow(1e4, -0.07), 1e-20);
  EXPECT_NEAR(card.AgeLevel(2, 3, 7e-7, c, a).g_s, 7e-7 * std::pow(1e4, -0.04), 1e-20);
  Rng c1(5), c2(5);
  EXPECT_EQ(card.AgeLevel(3, 3, 1e-6, c, c1).g_s, card.Age(State::kOn, 1e-6, c, c2).g_s);
  EXPECT_EQ(card.AgeLevel(0, 3, 1e-7, c, c1).g_s, card.Age(State::kOff, 1e-7, c, c2).g_s);
  // Stuck devices read as a fresh device of the stuck state.
  p.stuck.on_fraction = 1.0;
  card.set_physics(p);
  const double stuck = card.AgeLevel(1, 3, 4e-7, c, b).g_s;
  EXPECT_NEAR(stuck, 1e-6 * std::pow(1e4, -0.01), 1e-18);
  p.stuck = {};
  p.retention.delta = 40;
  card.set_physics(p);
  EXPECT_THROW(card.AgeLevel(1, 3, 4e-7, c, b), Error);
  EXPECT_NO_THROW(card.AgeLevel(3, 3, 1e-6, c, b));
}

// Relaxation keeps the mean: E[exp(s xi - s^2/2)] = 1; its spread is s = r log10(t / t0).
TEST(Age, RelaxationSpreadsLogNormallyAroundTheProgrammedValue) {
  TwoStateCard card = Plain();
  Physics p;
  p.drift.relax_per_decade = 0.02;
  p.drift.t0_s = 1;
  card.set_physics(p);
  ReadConditions c;
  c.time_s = 1e4;  // 4 decades: s = 0.08
  Rng rng(5);
  double sum = 0, sum2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double g = card.Age(State::kOn, 1e-6, c, rng).g_s / 1e-6;
    sum += g;
    sum2 += g * g;
  }
  const double mean = sum / n;
  const double sd = std::sqrt(sum2 / n - mean * mean);
  // Standard error of the mean 0.08 / sqrt(20000) = 5.7e-4: within 4 of them.
  EXPECT_NEAR(mean, 1.0, 2.3e-3);
  EXPECT_NEAR(sd, std::sqrt(std::expm1(0.08 * 0.08)), 0.004);
}

TEST(DeviceCard, UnitWeightAtTheReadVoltageShrinksWithTheTmr) {
  MtjCard card(SotMramPreset());
  const double dg0 = card.UnitWeightSiemens(0.0);
  const StateStats s = card.Stats();
  EXPECT_NEAR(dg0, s.on.mean_s - s.off.mean_s, 1e-22);
  Physics p;
  p.iv.v_half_v = 0.5;
  card.set_physics(p);
  // At V_h the TMR is 0.75: dG = mu_P (1 - 1/1.75).
  EXPECT_NEAR(card.UnitWeightSiemens(0.5), s.on.mean_s * (1 - 1 / 1.75), 1e-20);
}

// The reproducers of values where the models do not hold: each was read and printed as NaN or
// inf (a shot noise dividing by a subnormal read time or current, a sinh or TMR(V) law whose
// argument overflows); each is refused where it is read, naming the key and the file.
TEST(Physics, ScalesWhereTheModelsDoNotHoldAreRefusedWhereTheyAreRead) {
  const auto refused = [](const std::string& file, const std::string& text,
                          const std::string& key) {
    const std::string m = ErrorMessage([&] { LoadCard(Temp(file, text)); });
    EXPECT_NE(m.find(key), std::string::npos) << m;
    EXPECT_NE(m.find(file), std::string::npos) << m;
  };
  refused("rt.toml", kTwoState + "[read_noise]\nshot_fano = 1\nread_time_s = 1e-320\n",
          "read_noise.read_time_s must be within [1e-12, 1] s, got 1e-320");
  refused("off_v0.toml", kTwoState + "[iv]\noff_v0_v = 1e-30\n",
          "iv.off_v0_v must be 0 (linear) or within [0.001, 1000] V, got 1e-30");
  refused("on_v0.toml", kTwoState + "[iv]\non_v0_v = 1e-12\n", "iv.on_v0_v");
  refused("vh.toml", kMtj + "[iv]\nv_half_v = 1e-300\n",
          "iv.v_half_v must be 0 (bias-independent TMR) or within [0.001, 1000] V, got 1e-300");
  refused("vh_big.toml", kMtj + "[iv]\nv_half_v = 1e300\n", "iv.v_half_v");
  // The ends of the ranges are models that hold.
  EXPECT_NO_THROW(LoadCard(Temp("ends.toml", kTwoState +
                                                 "[iv]\non_v0_v = 0.001\noff_v0_v = 1000.0\n"
                                                 "[read_noise]\nshot_fano = 1\n"
                                                 "read_time_s = 1e-12\n")));
}

TEST(ReadConditions, AReadVoltageIsZeroOrFromOneMillivoltToTenVolts) {
  const auto message = [](double v) {
    ReadConditions c;
    c.read_voltage_v = v;
    return ErrorMessage([&] { c.Validate(); });
  };
  for (double v : {1e-200, 1e-300, 5e-4, -0.1, 10.5, std::nan("")}) {
    EXPECT_NE(message(v).find("read_voltage_v must be 0 (the low-bias limit) or within [0.001, "
                              "10] V"),
              std::string::npos)
        << v;
  }
  for (double v : {0.0, 1e-3, 0.2, 10.0}) EXPECT_EQ(message(v), "") << v;
}

// A card is read only where its I-V laws hold: a sinh law at V / V0 <= 50 (sinh overflows near
// 710, and long before that the law no longer describes a device).
TEST(DeviceCard, IsReadOnlyWhereItsIvLawsHold) {
  TwoStateCard card = Plain();
  Physics p;
  p.iv.on_v0_v = 0.01;
  card.set_physics(p);
  EXPECT_NO_THROW(card.UnitWeightSiemens(0.5));  // V / V0 = 50
  const std::string at_10v = ErrorMessage([&] { card.UnitWeightSiemens(10.0); });
  EXPECT_NE(at_10v.find("card 't': iv.on_v0_v: the sinh law with V0 = 0.01 V read at 10 V has "
                        "V / V0 = 1000, beyond 50"),
            std::string::npos)
      << at_10v;
  p.iv = {};
  p.iv.off_v0_v = 0.001;
  card.set_physics(p);
  EXPECT_NE(ErrorMessage([&] { card.UnitWeightSiemens(0.1); }).find("iv.off_v0_v"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([&] { card.UnitWeightSiemens(1e-200); }).find("read_voltage_v"),
            std::string::npos);
  // Every preset card is readable over the whole range of read voltages.
  for (const std::string& name : PresetCardNames()) {
    const auto preset = LoadCardOrPreset(name);
    for (double v : {0.0, kMinReadVoltageV, 0.2, kMaxReadVoltageV}) {
      EXPECT_TRUE(std::isfinite(preset->UnitWeightSiemens(v))) << name << " at " << v;
    }
  }
}

TEST(IvShape, ValidateRefusesScalesWhereTheLawOverflows) {
  EXPECT_NE(ErrorMessage([] { IvShape::Sinh(1e-12).Validate("x"); }).find("x: V0 must be within"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([] { IvShape::TmrBias(1.5, 1e-300).Validate("x"); })
                .find("x: V_h must be within"),
            std::string::npos);
  EXPECT_NE(ErrorMessage([] { IvShape::TmrBias(1e308, 0.5).Validate("x"); }).find("TMR0"),
            std::string::npos);
  EXPECT_EQ(ErrorMessage([] { IvShape::TmrBias(1.5, 0.5).Validate("x"); }), "");
}

}  // namespace
}  // namespace aimc::device
