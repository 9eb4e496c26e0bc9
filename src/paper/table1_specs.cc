// Table I's specs from aimc's own networks: sigma_w from CNN 2 under weight noise (both
// readings), R_ON from CNN 1 with exact IR drop, each by the spec rule of table1_spec_rule.h.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "aimc/common/rng.h"
#include "aimc/experiment/chip_spec.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/nn/evaluate.h"
#include "irdrop.h"
#include "spec_interval.h"
#include "table1_spec_rule.h"
#include "units.h"
#include "verdict.h"

namespace aimc::paper {

// The specs' simulations as work units over the ranks. Round 0: the noise-free errors (CNN 2
// trained with sigma_train and clean, CNN 1 without wires). Then the three bisections (sigma_w
// by readings 1 and 2, R_ON) advance together, one step each per round: a round's units are the
// chips of each new sigma_w,test (one unit per chip) and the R_ON point (one chip without spread).
// Every bisection judges the same points and gives the same boundary as one run after the other.
Table1Specs DeriveSpecs(const Table1Options& v, Cnn2Grid& cnn2, const NoiseGridPlan& p14,
                        Cnn1IrDrop& cnn1, double tmr, std::uint64_t seed) {
  Table1Specs s;
  const nn::Dataset test2 = cnn2.data.split.test.Head(p14.test_subset);
  s.cnn2_images = test2.size();
  s.cnn1_images = cnn1.test.size();
  nn::NetworkImpl& noisy = *cnn2.nets.At(v.sigma_train).network;
  nn::NetworkImpl& clean = *cnn2.nets.At(0.0).network;
  // Each point keeps its wrong images (chips x images) for the specs' intervals.
  WrongImages noise_free_wrong, clean_wrong, digital_wrong;
  {
    const std::vector<std::vector<double>> r =
        RunUnits(3, [&](std::size_t i) -> std::vector<double> {
          std::vector<std::uint8_t> wrong;
          std::vector<double> out = {i == 2 ? DigitalErrorPct(cnn1, &wrong)
                                            : NetworkErrorPct(i == 0 ? noisy : clean, test2,
                                                              &wrong)};
          AppendWrong(out, wrong);
          return out;
        });
    s.noise_free_pct = r[0].at(0);
    s.clean_pct = r[1].at(0);
    s.digital_pct = r[2].at(0);
    noise_free_wrong = {WrongFrom(r[0], 1)};
    clean_wrong = {WrongFrom(r[1], 1)};
    digital_wrong = {WrongFrom(r[2], 1)};
  }
  const std::uint64_t chip_seed = Rng::Derive(seed, 1401);
  // Both readings bisect the same monotone curve, error(sigma_w,test), on the same chips; only the
  // reference differs. Each point is measured once.
  std::map<double, double> measured = {{0.0, s.noise_free_pct}};
  std::map<double, WrongImages> measured_wrong = {{0.0, noise_free_wrong}};
  std::map<double, WrongImages> r_on_wrong;  // R_ON -> its chip's wrong images
  SpecSearch own = SpecSearch::SigmaW(v, s.noise_free_pct);
  SpecSearch by_clean = SpecSearch::SigmaW(v, s.clean_pct);
  SpecSearch r_on = SpecSearch::ROn(v, s.digital_pct);
  double chip_seconds = 0.0, r_on_seconds = 0.0;  // of one unit, as last measured
  while (!own.done() || !by_clean.done() || !r_on.done()) {
    // This round's units: (sigma_w,test, chip) pairs, then the R_ON point.
    std::vector<double> sigmas;
    for (const SpecSearch* b : {&own, &by_clean})
      if (!b->done() && !measured.count(b->point()) &&
          std::find(sigmas.begin(), sigmas.end(), b->point()) == sigmas.end())
        sigmas.push_back(b->point());
    struct Unit {
      double x;
      int chip;  // -1: the R_ON point
    };
    // A chip of CNN 2 and the R_ON point (one chip of CNN 1 with exact IR drop) cost more or
    // less than one another with the networks and test images (bench/results/study_units.md):
    // the cost hints are the seconds each kind took in the rounds before (the same on every rank:
    // they come back with the results).
    std::vector<Unit> units;
    UnitsOptions work;
    for (double sigma : sigmas)
      for (int c = 0; c < v.chips; ++c) {
        units.push_back({sigma, c});
        work.cost.push_back(chip_seconds);
      }
    const int r_on_units = r_on.done() ? 0 : 1;
    if (!r_on.done()) {
      units.push_back({r_on.point(), -1});
      work.cost.push_back(r_on_seconds);
    }
    if (chip_seconds == 0.0 || r_on_seconds == 0.0) work.cost.clear();  // not measured yet
    const auto round_start = std::chrono::steady_clock::now();
    const auto unit = [&](std::size_t i) -> std::vector<double> {
      const Unit& u = units[i];
      const auto start = std::chrono::steady_clock::now();
      std::vector<double> out;
      std::vector<std::uint8_t> wrong;
      if (u.chip < 0) {
        const double e = IrDropError(*cnn1.net.network, cnn1.test, u.x, tmr, v.wire_scale,
                                     nullptr, nullptr, nullptr, nullptr, &wrong);
        out = {e, SecondsSince(start)};
      } else {
        const auto spec = experiment::ChipSpec::WeightNoise(nn::LevelNoise::Uniform(u.x));
        WrongImages rows;
        const std::vector<double> accuracy = experiment::EvaluateChips(
            noisy, test2, spec, {Rng::Derive(chip_seed, static_cast<std::uint64_t>(u.chip))}, 0,
            &rows);
        wrong = rows.at(0);
        out = {accuracy.at(0), SecondsSince(start)};
      }
      AppendWrong(out, wrong);
      return out;
    };
    // No units when every point asked for is measured already (the noise-free end, a point of
    // the other reading).
    const std::vector<std::vector<double>> results =
        units.empty() ? std::vector<std::vector<double>>{} : RunUnits(units.size(), unit, work);
    const double round_seconds = SecondsSince(round_start);
    // The chips of a sigma_w,test in chip order: the Monte-Carlo mean as TestChips takes it.
    double unit_seconds = 0.0;
    for (std::size_t k = 0; k < sigmas.size(); ++k) {
      std::vector<double> accuracies;
      double seconds = 0.0;
      WrongImages& rows = measured_wrong[sigmas[k]];
      for (int c = 0; c < v.chips; ++c) {
        const std::size_t i = k * static_cast<std::size_t>(v.chips) + static_cast<std::size_t>(c);
        const std::vector<double>& r = results[i];
        accuracies.push_back(r[0]);
        seconds += r[1];
        rows.push_back(WrongFrom(r, 2));
      }
      unit_seconds += seconds;
      chip_seconds = seconds / v.chips;
      measured[sigmas[k]] = 100 * (1 - experiment::Summarize(accuracies).mean);
      spdlog::info("table1: sigma_w,test {:.4f}: CNN 2 error {:.2f} % (noise-free {:.2f} %, "
                   "clean-trained {:.2f} %; {} chips x {} images in {:.3g} s)",
                   sigmas[k], measured[sigmas[k]], s.noise_free_pct, s.clean_pct, v.chips,
                   test2.size(), seconds);
    }
    if (!own.done()) own.Feed(measured.at(own.point()));
    if (!by_clean.done()) by_clean.Feed(measured.at(by_clean.point()));
    if (!r_on.done()) {
      const std::vector<double>& r = results.back();
      unit_seconds += r[1];
      r_on_seconds = r[1];
      r_on_wrong[r_on.point()] = {WrongFrom(r, 2)};
      spdlog::info("table1: R_ON {:.4g} Ohm: CNN 1 error {:.2f} % (no wires {:.2f} %; 1 chip x {} "
                   "images in {:.3g} s)",
                   r_on.point(), r[0], s.digital_pct, cnn1.test.size(), r[1]);
      r_on.Feed(r[0]);
    }
    if (!units.empty())
      spdlog::info("table1: bisection round: {} units ({} of them R_ON points) in {:.1f} s, "
                   "{:.1f} s of work",
                   units.size(), r_on_units, round_seconds, unit_seconds);
  }
  s.sigma_own = own.spec();
  s.sigma_clean = by_clean.spec();
  s.r_on = r_on.spec();

  // The intervals: where each curve, as measured at the bisections' points, crosses the budget
  // (interpolated), bootstrapped over the chips and the test images (spec_interval.h).
  IntervalOptions io;
  io.seed = Rng::Derive(seed, 1403);
  std::vector<double> sigma_points;
  std::vector<WrongImages> sigma_wrong;
  for (const auto& [sigma, rows] : measured_wrong) {  // from 0 up: the good end first
    sigma_points.push_back(sigma);
    sigma_wrong.push_back(rows);
  }
  const auto sigma_rule = [&](const std::vector<double>& increase) {
    return SpecAt(sigma_points, increase, v.error_budget_pct, false);
  };
  s.sigma_own_interval = BootstrapSpec(sigma_wrong, noise_free_wrong, sigma_rule, 0.0,
                                       sigma_points.back(), false, io);
  s.sigma_clean_interval = BootstrapSpec(sigma_wrong, clean_wrong, sigma_rule, 0.0,
                                         sigma_points.back(), false, io);
  std::vector<double> r_points;
  std::vector<WrongImages> r_wrong;
  for (auto it = r_on_wrong.rbegin(); it != r_on_wrong.rend(); ++it) {  // from high R_ON down
    r_points.push_back(it->first);
    r_wrong.push_back(it->second);
  }
  if (!r_points.empty()) {
    const auto r_rule = [&](const std::vector<double>& increase) {
      return SpecAt(r_points, increase, v.error_budget_pct, true);
    };
    // No R_ON in range within the budget: at least the range's top.
    s.r_on_interval =
        BootstrapSpec(r_wrong, digital_wrong, r_rule, v.r_on_max_ohm, r_points.back(), true, io);
  }
  return s;
}

}  // namespace aimc::paper
