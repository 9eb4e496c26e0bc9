// Beyond the paper: devices as they are read (bias-dependent TMR, read noise) and as they age
// (retention, drift), from the cards' physics (docs/devices.md). Figs. 17-19 of aimc's report.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/circuit/wires.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"
#include "aimc/device/mtj.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/mapping/ternary.h"
#include "aimc/nn/network.h"
#include "noise_grid.h"
#include "parts.h"
#include "physics_part.h"
#include "units.h"

namespace aimc::paper {

nlohmann::json PhysicsPlan::ToJson() const {
  return {{"read_voltage_v", read_voltage_v}, {"spread_pairs", spread_pairs},
          {"time_s", time_s},                 {"temperature_c", temperature_c},
          {"sot_delta", sot_delta},           {"chips", chips},
          {"cnn1_test_subset", cnn1_test_subset}, {"cnn2_test_subset", cnn2_test_subset},
          {"error_rise_pct", error_rise_pct}, {"cards", cards}};
}

PhysicsPlan PhysicsPlanFor(const StudyOptions& options) {
  PhysicsPlan p;
  p.cards = device::PresetCardNames();
  if (options.quick()) {
    p.read_voltage_v = {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0};
    p.spread_pairs = 20000;
    p.time_s = {1.0, 3600.0, 86400.0, 2.592e6, 3.15576e7, 3.15576e8};
    p.sot_delta = {45.0, 50.0, 55.0};
    p.chips = 2;
    p.cnn1_test_subset = 2000;
    p.cnn2_test_subset = 500;
  } else {
    p.read_voltage_v = {0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0};
    p.spread_pairs = 200000;
    p.time_s = {1.0, 60.0, 3600.0, 86400.0, 6.048e5, 2.592e6, 3.15576e7, 1.5779e8, 3.15576e8};
    p.sot_delta = {40.0, 45.0, 50.0, 55.0};
    p.chips = 5;
  }
  p.cnn1_test_subset = Limits::Images(p.cnn1_test_subset, options.limits.test_images);
  p.cnn2_test_subset = Limits::Images(p.cnn2_test_subset, options.limits.test_images);
  return p;
}

namespace {

constexpr double kYear = 3.15576e7;

std::string Duration(double s) {
  if (s >= kYear) return fmt::format("{:.3g} y", s / kYear);
  if (s >= 86400) return fmt::format("{:.3g} d", s / 86400);
  if (s >= 3600) return fmt::format("{:.3g} h", s / 3600);
  return fmt::format("{:.3g} s", s);
}

/// The SOT-MRAM card as shipped, with its physics.
std::unique_ptr<device::DeviceCard> SotWithPhysics() { return device::LoadCardOrPreset("sot_mram"); }

/// A copy of `card` with other physics (a WithRon at its own R_ON keeps everything else).
std::unique_ptr<device::DeviceCard> WithPhysics(const device::DeviceCard& card,
                                                const device::Physics& physics) {
  auto copy = card.WithRon(card.r_on_ohm());
  copy->set_physics(physics);
  return copy;
}

// Fig. 17: what the read voltage does to the weight spread of an MTJ pair: the TMR falls with
// bias (the unit weight shrinks), the shot noise of the read falls relative to the signal.
report::Figure Fig17(const PhysicsPlan& plan, std::uint64_t seed) {
  const auto card = SotWithPhysics();
  device::Physics no_noise = card->physics();
  no_noise.read_noise = {};
  device::Physics no_bias = card->physics();
  no_bias.iv = {};
  const auto bias_only = WithPhysics(*card, no_noise);
  const auto noise_only = WithPhysics(*card, no_bias);
  report::Figure f;
  f.title = fmt::format("Fig. 17: {} weight spread vs read voltage (bias-dependent TMR, shot noise)",
                        card->name());
  f.table.columns = {"read_voltage_v", "tmr",           "unit_weight_ratio", "sigma_w_read",
                     "sigma_w_bias_only", "sigma_w_noise_only", "sigma_w_static"};
  const double dg0 = card->UnitWeightSiemens(0.0);
  const double tmr0 = card->Stats().on_off_ratio() - 1.0;
  const device::IvShape ap = card->Iv(device::State::kOff);
  double static_sigma = 0.0;
  {
    double rms[3];
    mapping::ReadSpread(*WithPhysics(*card, {}), {}, plan.spread_pairs, seed, rms);
    static_sigma = *std::max_element(rms, rms + 3);
  }
  double best_v = 0.0, best_sigma = HUGE_VAL;
  for (double v : plan.read_voltage_v) {
    device::ReadConditions c;
    c.read_voltage_v = v;
    double all[3], bias[3], noise[3];
    mapping::ReadSpread(*card, c, plan.spread_pairs, seed, all);
    mapping::ReadSpread(*bias_only, c, plan.spread_pairs, seed, bias);
    mapping::ReadSpread(*noise_only, c, plan.spread_pairs, seed, noise);
    const double tmr = (1.0 + tmr0) / ap.Shape(v) - 1.0;
    const double s_all = *std::max_element(all, all + 3);
    if (s_all < best_sigma) {
      best_sigma = s_all;
      best_v = v;
    }
    f.table.Add({v, tmr, card->UnitWeightSiemens(v) / dg0, s_all,
                 *std::max_element(bias, bias + 3), *std::max_element(noise, noise + 3),
                 static_sigma});
  }
  f.plot.xlabel = "read voltage across a device at full-scale input (V)";
  f.plot.ylabel = "sigma_w (largest rms weight error of a level)";
  f.plot.log_x = true;
  f.plot.key = "inside top left";
  f.plot.series = {{"read_voltage_v", "sigma_w_read", "as read (bias-dependent TMR + shot noise)"},
                   {"read_voltage_v", "sigma_w_bias_only", "bias-dependent TMR only"},
                   {"read_voltage_v", "sigma_w_noise_only", "shot noise only"},
                   {"read_voltage_v", "sigma_w_static", "static resistor (the paper)", "", 0.0,
                    "lines"}};
  const device::Physics& p = card->physics();
  f.paper = "(not in the paper: it models the MTJ as a static resistor read at one voltage)";
  f.ours = fmt::format(
      "{} card: TMR {:.0f} % at low bias falling as TMR0 / (1 + (V / {:.2g} V)^2); shot noise F "
      "{:.2g} over a {:.3g} s read. sigma_w is {:.2f} % for the static resistor; as read it is "
      "lowest, {:.2f} %, at {:.2g} V: below, the shot noise of a small current dominates "
      "({:.2f} % at {:.2g} V), above, the TMR has fallen ({:.0f} % at {:.2g} V, sigma_w {:.2f} %). "
      "{} pairs per level and voltage (Monte Carlo, mapping::ReadSpread)",
      card->name(), 100 * tmr0, p.iv.v_half_v, p.read_noise.shot_fano, p.read_noise.read_time_s,
      100 * static_sigma, 100 * best_sigma, best_v, 100 * f.table.rows.front()[3],
      plan.read_voltage_v.front(), 100 * f.table.rows.back()[1], plan.read_voltage_v.back(),
      100 * f.table.rows.back()[3], plan.spread_pairs);
  f.options = {{"plan", plan.ToJson()}, {"card", card->ToJson()}};
  return f;
}

// One point of Fig. 18: the error (%) of `network` on chips of `card` read at `v` volts, with the
// 22 nm layout's wires.
double ReadVoltageError(nn::NetworkImpl& network, const nn::Dataset& test,
                        std::shared_ptr<const device::DeviceCard> card, double v, int chips,
                        std::uint64_t seed) {
  experiment::ChipOptions o;
  o.read_voltage_v = v;
  o.crossbar.UseWires(circuit::Layout22nm());
  const auto spec = experiment::ChipSpec::Devices(std::move(card), o);
  return 100 * (1 - experiment::TestChips(network, test, spec, chips, seed).mean);
}

struct Fig18Series {
  std::string label;
  std::shared_ptr<const device::DeviceCard> card;
  int network;  // 0: CNN 1, 1: CNN 2
};

report::Figure Fig18(Cnn1Grid& cnn1, double cnn1_sigma, Cnn2Grid& cnn2, double cnn2_sigma,
                     const PhysicsPlan& plan, std::uint64_t seed) {
  const auto card = SotWithPhysics();
  device::Physics static_physics;
  std::vector<Fig18Series> series = {
      {"CNN 1, as read", std::shared_ptr<const device::DeviceCard>(card->WithRon(card->r_on_ohm())), 0},
      {"CNN 1, static resistor", WithPhysics(*card, static_physics), 0},
      {"CNN 2, as read", std::shared_ptr<const device::DeviceCard>(card->WithRon(card->r_on_ohm())), 1}};
  const nn::Dataset test1 = cnn1.data.split.test.Head(plan.cnn1_test_subset);
  const nn::Dataset test2 = cnn2.data.split.test.Head(plan.cnn2_test_subset);
  struct Point {
    std::size_t series;
    double v;
  };
  std::vector<Point> points;
  for (std::size_t s = 0; s < series.size(); ++s)
    for (double v : plan.read_voltage_v) points.push_back({s, v});
  const std::uint64_t chip_seed = Rng::Derive(seed, 1801);
  UnitsOptions work;
  work.progress = "fig18";
  work.shown = points.size();  // the checks of the fast route after them are no points
  work.status = [&](std::size_t i, const std::vector<double>& r) {
    return fmt::format("{} at {:.2g} V: {:.2f} % ({:.1f} s)", series[points[i].series].label,
                       points[i].v, r.at(0), r.at(1));
  };
  for (std::size_t i = 0; i < points.size(); ++i)
    work.cost.push_back(series[points[i].series].network == 1 ? 3.0 : 1.0);
  // Two more units: the fast route's error against Newton on sampled MVMs of CNN 1's layers, at
  // the default read voltage and at the highest (the most non-linear).
  const std::vector<double> check_v = {0.2, plan.read_voltage_v.back()};
  for (std::size_t k = 0; k < check_v.size(); ++k) work.cost.push_back(2.0);
  const std::int64_t check_samples = 8;
  std::vector<std::vector<double>> results = RunUnits(
      points.size() + check_v.size(),
      [&](std::size_t i) -> std::vector<double> {
        const auto start = std::chrono::steady_clock::now();
        if (i >= points.size()) {
          experiment::ChipOptions o;
          o.read_voltage_v = check_v[i - points.size()];
          o.crossbar.UseWires(circuit::Layout22nm());
          experiment::Chip chip(*cnn1.nets.At(cnn1_sigma).network,
                                experiment::ChipSpec::Devices(series[0].card, o), chip_seed);
          const auto e = chip.MeasureFastRoute(nn::ToInput(test1.Head(4).images), check_samples);
          return {e.max_rel, static_cast<double>(e.max_newton_iterations),
                  static_cast<double>(e.mvms), SecondsSince(start)};
        }
        const Fig18Series& s = series[points[i].series];
        nn::NetworkImpl& net = s.network == 0 ? *cnn1.nets.At(cnn1_sigma).network
                                              : *cnn2.nets.At(cnn2_sigma).network;
        const double e = ReadVoltageError(net, s.network == 0 ? test1 : test2, s.card,
                                          points[i].v, plan.chips, chip_seed);
        return {e, SecondsSince(start)};
      },
      work);
  std::string check;
  for (std::size_t k = 0; k < check_v.size(); ++k) {
    const std::vector<double>& r = results[points.size() + k];
    check += fmt::format("{}{:.2g} V: {:.2g} of the layer's largest output ({:.0f} MVMs, Newton "
                         "converged in at most {:.0f} steps)",
                         k == 0 ? "" : "; at ", check_v[k], r[0], r[2], r[1]);
  }
  results.resize(points.size());
  report::Figure f;
  f.title = fmt::format("Fig. 18: CNN 1 and CNN 2 error vs read voltage on {} chips (22 nm "
                        "layout wires)",
                        card->name());
  f.table.columns = {"series", "read_voltage_v", "error_pct", "seconds"};
  std::string summary;
  for (std::size_t s = 0; s < series.size(); ++s) {
    double best = HUGE_VAL, best_v = 0.0, at_low = 0.0, at_high = 0.0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      if (points[i].series != s) continue;
      const std::vector<double>& r = results[i];
      f.table.Add({static_cast<double>(s), points[i].v, r[0], r[1]});
      if (r[0] < best) {
        best = r[0];
        best_v = points[i].v;
      }
      if (points[i].v == plan.read_voltage_v.front()) at_low = r[0];
      if (points[i].v == plan.read_voltage_v.back()) at_high = r[0];
    }
    summary += fmt::format("; {}: {:.2f} % at {:.2g} V, best {:.2f} % at {:.2g} V, {:.2f} % at "
                           "{:.2g} V",
                           series[s].label, at_low, plan.read_voltage_v.front(), best, best_v,
                           at_high, plan.read_voltage_v.back());
    f.plot.series.push_back({"read_voltage_v", "error_pct", series[s].label, "series",
                             static_cast<double>(s)});
  }
  f.plot.xlabel = "read voltage across a device at full-scale input (V)";
  f.plot.ylabel = "test error (%)";
  f.plot.log_x = true;
  f.plot.key = "inside top left";
  f.paper = "(not in the paper: it reads a static resistor)";
  f.ours = fmt::format(
      "{} card at R_ON {:.3g} Ohm with its physics (TMR halving at {:.2g} V, shot noise), every "
      "MVM through the array's circuit with the 22 nm layout's wires; the non-linear I-V by the "
      "fast method of docs/xbar.md, whose largest error against the exact Newton solve on "
      "sampled MVMs of CNN 1's layers is, at {}. CNN 1 trained at sigma_w,train {:.2f} ({} "
      "images), CNN 2 at {:.2f} ({} images), {} chips per point{}",
      card->name(), card->r_on_ohm(), card->physics().iv.v_half_v, check, cnn1_sigma,
      test1.size(), cnn2_sigma, test2.size(), plan.chips, summary);
  f.options = {{"plan", plan.ToJson()}};
  return f;
}

// Fig. 19: the cards' devices after time t at 25 and 85 C, with and without drift compensation.
struct AgedCard {
  std::string label;
  std::shared_ptr<const device::DeviceCard> card;
};

std::vector<AgedCard> AgedCards(const PhysicsPlan& plan) {
  std::vector<AgedCard> cards;
  for (const std::string& name : plan.cards) {
    auto card = device::LoadCardOrPreset(name);
    cards.push_back({card->name(), std::move(card)});
  }
  // The SOT-MRAM card with smaller barriers: when retention starts to matter (the paper reworks
  // its free layer to keep coercivity at high RA, Figs. 5-6, but gives no Delta).
  const auto sot = SotWithPhysics();
  for (double delta : plan.sot_delta) {
    device::Physics p = sot->physics();
    p.retention.delta = delta;
    cards.push_back({fmt::format("{} Delta {:.0f}", sot->name(), delta), WithPhysics(*sot, p)});
  }
  return cards;
}

report::Figure Fig19(Cnn1Grid& cnn1, double cnn1_sigma, const PhysicsPlan& plan,
                     std::uint64_t seed) {
  const std::vector<AgedCard> cards = AgedCards(plan);
  const nn::Dataset test = cnn1.data.split.test.Head(plan.cnn1_test_subset);
  nn::NetworkImpl& network = *cnn1.nets.At(cnn1_sigma).network;
  struct Point {
    std::size_t card;
    double temperature_c;
    bool compensate;
    double time_s;  // 0: right after programming
  };
  std::vector<Point> points;
  for (std::size_t c = 0; c < cards.size(); ++c) {
    points.push_back({c, 25.0, false, 0.0});
    for (double temperature : plan.temperature_c)
      for (bool compensate : {false, true})
        for (double t : plan.time_s) points.push_back({c, temperature, compensate, t});
  }
  const std::uint64_t chip_seed = Rng::Derive(seed, 1901);
  UnitsOptions show;
  show.progress = "fig19";
  show.status = [&](std::size_t i, const std::vector<double>& r) {
    const Point& p = points[i];
    return fmt::format("{}, {} at {:.0f} C{}: {:.2f} %", cards[p.card].label, Duration(p.time_s),
                       p.temperature_c, p.compensate ? ", compensated" : "", r.at(0));
  };
  const std::vector<std::vector<double>> results = RunUnits(
      points.size(),
      [&](std::size_t i) -> std::vector<double> {
        const auto start = std::chrono::steady_clock::now();
        const Point& p = points[i];
        experiment::ChipOptions o;
        o.time_s = p.time_s;
        o.temperature_k = p.temperature_c + 273.15;
        o.drift_compensation = p.compensate ? experiment::DriftCompensation::kArray
                                            : experiment::DriftCompensation::kNone;
        // No wires: the devices' aging alone (the cards' R_ON differ by four decades, and
        // Fig. 16 has the wires).
        const auto spec = experiment::ChipSpec::Devices(cards[p.card].card, o);
        const double e = 100 * (1 - experiment::TestChips(network, test, spec, plan.chips,
                                                          chip_seed)
                                        .mean);
        return {e, SecondsSince(start)};
      },
      show);
  report::Figure f;
  f.title = "Fig. 19: CNN 1 error vs time after programming, every card, 25 and 85 C";
  f.table.columns = {"curve", "card_index", "temperature_c", "drift_compensation", "time_s",
                     "error_pct", "seconds"};
  // One curve per (card, temperature, compensation); the t = 0 point is every curve's start.
  std::vector<double> at_zero(cards.size());
  for (std::size_t i = 0; i < points.size(); ++i)
    if (points[i].time_s == 0.0) at_zero[points[i].card] = results[i].at(0);
  const std::size_t per_card = plan.temperature_c.size() * 2;
  std::string summary;
  double first_ok_delta = std::nan("");
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    if (p.time_s == 0.0) continue;
    const std::size_t t_index =
        static_cast<std::size_t>(std::find(plan.temperature_c.begin(), plan.temperature_c.end(),
                                           p.temperature_c) -
                                 plan.temperature_c.begin());
    const double curve = static_cast<double>(p.card * per_card + t_index * 2 + (p.compensate ? 1 : 0));
    const std::vector<double>& r = results[i];
    f.table.Add({curve, static_cast<double>(p.card), p.temperature_c, p.compensate ? 1.0 : 0.0,
                 p.time_s, r[0], r[1]});
  }
  // Per card: the error at t = 0 and at the last time, hot, with and without compensation.
  const double last = plan.time_s.back();
  const double hot = plan.temperature_c.back();
  for (std::size_t c = 0; c < cards.size(); ++c) {
    double plain = 0.0, compensated = 0.0;
    for (std::size_t i = 0; i < points.size(); ++i) {
      const Point& p = points[i];
      if (p.card != c || p.time_s != last || p.temperature_c != hot) continue;
      (p.compensate ? compensated : plain) = results[i].at(0);
    }
    summary += fmt::format("; {}: {:.2f} % at t = 0, after {} at {:.0f} C {:.2f} % ({:.2f} % "
                           "drift-compensated)",
                           cards[c].label, at_zero[c], Duration(last), hot, plain, compensated);
    if (c >= plan.cards.size() && std::isnan(first_ok_delta) &&
        plain - at_zero[c] <= plan.error_rise_pct)
      first_ok_delta = plan.sot_delta[c - plan.cards.size()];
    for (std::size_t t = 0; t < plan.temperature_c.size(); ++t)
      for (int comp = 0; comp < 2; ++comp) {
        // Plot only the uncompensated curves of devices without drift (the same curve twice).
        if (comp == 1 && !cards[c].card->physics().drift.any()) continue;
        f.plot.series.push_back(
            {"time_s", "error_pct",
             fmt::format("{} {:.0f} C{}", cards[c].label, plan.temperature_c[t],
                         comp ? " comp." : ""),
             "curve", static_cast<double>(c * per_card + t * 2 + static_cast<std::size_t>(comp))});
      }
  }
  f.plot.xlabel = "time after programming (s)";
  f.plot.ylabel = "test error (%)";
  f.plot.log_x = true;
  f.plot.key = "outside right";
  f.paper = "(not in the paper: its Figs. 5-6 show that the reworked free layer keeps its "
            "coercivity at high RA, the retention a static model cannot show)";
  f.ours = fmt::format(
      "CNN 1 trained at sigma_w,train {:.2f} on chips of each card without wires ({} images, {} "
      "chips per point, the same chips at every time: each device ages by its own draws), "
      "retention flips (Neel-Arrhenius), drift and relaxation from the cards (docs/devices.md); "
      "compensation: one gain per array from an all-ones read at t = 0 and at t{}. The SOT-MRAM "
      "card with a smaller barrier shows when retention starts to matter: within {} points of "
      "its t = 0 error after {} at {:.0f} C from Delta {} on (of {}). {}",
      cnn1_sigma, test.size(), plan.chips, summary, plan.error_rise_pct, Duration(last), hot,
      std::isnan(first_ok_delta) ? std::string("none of the sweep's")
                                 : fmt::format("{:.0f}", first_ok_delta),
      fmt::join(plan.sot_delta, ", "),
      Resolution(test.size(), plan.chips, at_zero.empty() ? 0.0 : at_zero.back()));
  nlohmann::json labels = nlohmann::json::array();
  for (const AgedCard& c : cards) labels.push_back(c.label);
  f.options = {{"plan", plan.ToJson()}, {"cards", labels}};
  return f;
}

/// The noise-trained network of a grid the physics figures use: the largest sigma_w,train.
double TrainedSigma(const NoiseGridPlan& plan) {
  return *std::max_element(plan.sigma_train.begin(), plan.sigma_train.end());
}

}  // namespace

void AddPhysicsPart(report::Study& study, const StudyOptions& options) {
  study.Add({"physics",
             "Figs. 17-19 (beyond the paper): bias-dependent TMR and read noise vs read voltage, "
             "retention and drift vs time, from the device cards' physics",
             [options](report::StudyContext& ctx) {
               const PhysicsPlan plan = PhysicsPlanFor(options);
               nlohmann::json cards = nlohmann::json::array();
               for (const AgedCard& c : AgedCards(plan)) cards.push_back(c.card->ToJson());
               ctx.Produce("fig17_sigma_w_vs_read_voltage",
                           {{"plan", plan.ToJson()}, {"card", SotWithPhysics()->ToJson()}},
                           [&] { return Fig17(plan, Rng::Derive(options.run.seed, 1701)); });
               const NoiseGridPlan p13 = Fig13bPlan(options);
               const NoiseGridPlan p14 = Fig14bPlan(options);
               Cnn1Grid cnn1 = Cnn1ForGrid(options, p13);
               Cnn2Grid cnn2 = Cnn2ForGrid(options, p14);
               const double s1 = TrainedSigma(p13), s2 = TrainedSigma(p14);
               ctx.Produce("fig18_error_vs_read_voltage",
                           {{"plan", plan.ToJson()},
                            {"card", SotWithPhysics()->ToJson()},
                            {"cnn1", {{"data", cnn1.data.Key()}, {"model", cnn1.nets.At(s1).file_hash}}},
                            {"cnn2", {{"data", cnn2.data.Key()}, {"model", cnn2.nets.At(s2).file_hash}}}},
                           [&] { return Fig18(cnn1, s1, cnn2, s2, plan, options.run.seed); });
               ctx.Produce("fig19_error_vs_time",
                           {{"plan", plan.ToJson()},
                            {"cards", cards},
                            {"cnn1", {{"data", cnn1.data.Key()}, {"model", cnn1.nets.At(s1).file_hash}}}},
                           [&] { return Fig19(cnn1, s1, plan, options.run.seed); });
             }});
}

}  // namespace aimc::paper
