// Table I: the inference specifications derived from aimc's own networks (sigma_w from CNN 2
// under weight noise, R_ON from CNN 1 with exact IR drop), and every technology judged by them.
#include "aimc/paper/table1.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/resources.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"
#include "aimc/experiment/bisect.h"
#include "aimc/experiment/chip.h"
#include "aimc/mapping/ternary.h"
#include "aimc/common/progress.h"
#include "energy_part.h"
#include "irdrop.h"
#include "noise_grid.h"
#include "parts.h"
#include "units.h"

namespace aimc::paper {

std::unique_ptr<device::DeviceCard> SotDiameterReading() {
  // "A Gaussian on the MTJ radius with sigma = 3 nm" read as 3 nm on the diameter: the same
  // pillar at the same R_ON with half the radius spread (see fig08d_sigma_r_reading).
  device::MtjOptions d = SotMramCard();
  const double r_on = device::MtjCard(d).r_on_ohm();
  d.sigma_radius_nm /= 2;
  d.name += ", 3 nm on diameter";
  auto reading = device::MtjCard(d).WithRon(r_on);
  // The same device physics and cell as the card (the rows for devices in use and for cost).
  const auto shipped = device::LoadCardOrPreset("sot_mram");
  reading->set_physics(shipped->physics());
  reading->set_cell(shipped->cell());
  return reading;
}

namespace {

std::string Ohm(double r) {
  if (std::isnan(r)) return "none in range";
  if (r >= 1e6) return fmt::format("{:.3g} MOhm", r / 1e6);
  if (r >= 1e3) return fmt::format("{:.3g} kOhm", r / 1e3);
  return fmt::format("{:.3g} Ohm", r);
}

const char* Mark(bool pass) { return pass ? "PASS" : "FAIL"; }

// "10 years", "1 day", "3600 s".
std::string Lifetime(double seconds) {
  constexpr double kYear = 3.15576e7;
  if (seconds >= kYear) return fmt::format("{:.3g} year{}", seconds / kYear, seconds == kYear ? "" : "s");
  if (seconds >= 86400) return fmt::format("{:.3g} days", seconds / 86400);
  return fmt::format("{:.3g} s", seconds);
}

/// A technology as Table I judges it: a card, and how it is labelled.
struct Entry {
  std::string label;
  std::shared_ptr<device::DeviceCard> card;
  bool reading = false;  // the diameter reading of the SOT-MRAM card, shown beside the verdict
};

std::vector<Entry> Entries(const Table1Options& v) {
  std::vector<Entry> entries;
  for (const auto& c : v.cards) {
    auto card = device::LoadCardOrPreset(c);
    entries.push_back({card->name(), std::move(card), false});
  }
  auto reading = SotDiameterReading();
  const std::string label = reading->name();
  entries.push_back({label, std::move(reading), true});
  return entries;
}

struct Specs {
  double sigma_own = 0.0;    // reading 1: over the sigma_train network's own noise-free error
  double sigma_clean = 0.0;  // reading 2: over the clean-trained network's noise-free error
  double noise_free_pct = 0.0, clean_pct = 0.0;
  double r_on = 0.0;
  double digital_pct = 0.0;
  std::int64_t cnn2_images = 0, cnn1_images = 0;
};

// The specs' simulations as work units over the ranks. Round 0: the noise-free errors (CNN 2
// trained with sigma_train and clean, CNN 1 without wires). Then the three bisections (sigma_w
// by readings 1 and 2, R_ON) advance together, one step each per round: a round's units are the
// chips of each new sigma_w,test (one unit per chip) and the R_ON point (one chip without spread).
// Every bisection judges the same points and gives the same boundary as one run after the other.
Specs DeriveSpecs(const Table1Options& v, Cnn2Grid& cnn2, const NoiseGridPlan& p14,
                  Cnn1IrDrop& cnn1, double tmr, std::uint64_t seed) {
  Specs s;
  const nn::Dataset test2 = cnn2.data.split.test.Head(p14.test_subset);
  s.cnn2_images = test2.size();
  s.cnn1_images = cnn1.test.size();
  nn::NetworkImpl& noisy = *cnn2.nets.At(v.sigma_train).network;
  nn::NetworkImpl& clean = *cnn2.nets.At(0.0).network;
  {
    const std::vector<std::string> r = cluster::Distribute(3, [&](std::size_t i) {
      if (i == 0) return PackDoubles({100 * (1 - nn::Evaluate(noisy, test2))});
      if (i == 1) return PackDoubles({100 * (1 - nn::Evaluate(clean, test2))});
      return PackDoubles({DigitalErrorPct(cnn1)});
    });
    s.noise_free_pct = UnpackDoubles(r[0], 1)[0];
    s.clean_pct = UnpackDoubles(r[1], 1)[0];
    s.digital_pct = UnpackDoubles(r[2], 1)[0];
  }
  const std::uint64_t chip_seed = Rng::Derive(seed, 1401);
  // Both readings bisect the same monotone curve, error(sigma_w,test), on the same chips; only the
  // reference differs. Each point is measured once.
  std::map<double, double> measured = {{0.0, s.noise_free_pct}};
  experiment::Bisection own(0.0, v.sigma_w_max, v.bisection_steps, false);
  experiment::Bisection by_clean(0.0, v.sigma_w_max, v.bisection_steps, false);
  experiment::Bisection r_on(v.r_on_max_ohm, v.r_on_min_ohm, v.bisection_steps, true);
  double chip_seconds = 0.0, r_on_seconds = 0.0;  // of one unit, as last measured
  while (!own.done() || !by_clean.done() || !r_on.done()) {
    // This round's units: (sigma_w,test, chip) pairs, then the R_ON point.
    std::vector<double> sigmas;
    for (const experiment::Bisection* b : {&own, &by_clean})
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
    cluster::DistributeOptions work;
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
    const auto unit = [&](std::size_t i) {
      const Unit& u = units[i];
      const auto start = std::chrono::steady_clock::now();
      if (u.chip < 0) {
        const double e = IrDropError(*cnn1.net.network, cnn1.test, u.x, tmr, v.wire_scale);
        return PackDoubles({e, SecondsSince(start)});
      }
      const auto spec = experiment::ChipSpec::WeightNoise(nn::LevelNoise::Uniform(u.x));
      const std::vector<double> accuracy = experiment::EvaluateChips(
          noisy, test2, spec, {Rng::Derive(chip_seed, static_cast<std::uint64_t>(u.chip))});
      return PackDoubles({accuracy.at(0), SecondsSince(start)});
    };
    // No units when every point asked for is measured already (the noise-free end, a point of
    // the other reading).
    const std::vector<std::string> results =
        units.empty() ? std::vector<std::string>{} : cluster::Distribute(units.size(), unit, work);
    const double round_seconds = SecondsSince(round_start);
    // The chips of a sigma_w,test in chip order: the Monte-Carlo mean as TestChips takes it.
    double unit_seconds = 0.0;
    for (std::size_t k = 0; k < sigmas.size(); ++k) {
      std::vector<double> accuracies;
      double seconds = 0.0;
      for (int c = 0; c < v.chips; ++c) {
        const std::size_t i = k * static_cast<std::size_t>(v.chips) + static_cast<std::size_t>(c);
        const std::vector<double> r = UnpackDoubles(results[i], 2);
        accuracies.push_back(r[0]);
        seconds += r[1];
      }
      unit_seconds += seconds;
      chip_seconds = seconds / v.chips;
      measured[sigmas[k]] = 100 * (1 - experiment::Summarize(accuracies).mean);
      spdlog::info("table1: sigma_w,test {:.4f}: CNN 2 error {:.2f} % (noise-free {:.2f} %, "
                   "clean-trained {:.2f} %; {} chips x {} images in {:.3g} s)",
                   sigmas[k], measured[sigmas[k]], s.noise_free_pct, s.clean_pct, v.chips,
                   test2.size(), seconds);
    }
    if (!own.done())
      own.Feed(measured.at(own.point()) - s.noise_free_pct <= v.error_budget_pct);
    if (!by_clean.done())
      by_clean.Feed(measured.at(by_clean.point()) - s.clean_pct <= v.error_budget_pct);
    if (!r_on.done()) {
      const std::vector<double> r = UnpackDoubles(results.back(), 2);
      unit_seconds += r[1];
      r_on_seconds = r[1];
      spdlog::info("table1: R_ON {:.4g} Ohm: CNN 1 error {:.2f} % (no wires {:.2f} %; 1 chip x {} "
                   "images in {:.3g} s)",
                   r_on.point(), r[0], s.digital_pct, cnn1.test.size(), r[1]);
      r_on.Feed(r[0] - s.digital_pct <= v.error_budget_pct);
    }
    if (!units.empty())
      spdlog::info("table1: bisection round: {} units ({} of them R_ON points) in {:.1f} s, "
                   "{:.1f} s of work",
                   units.size(), r_on_units, round_seconds, unit_seconds);
  }
  s.sigma_own = own.result();
  s.sigma_clean = by_clean.result();
  s.r_on = r_on.result();
  return s;
}

// The cost of an inference on each card's chip (at its own R_ON, the Table's wires): CNN 1 and
// CNN 2, CostFields each. Work units over the ranks, one per card and network.
struct CardCosts {
  std::vector<std::vector<double>> cnn1, cnn2;
  energy::EnergyOptions cnn1_options, cnn2_options;
};

CardCosts RunCardCosts(const StudyOptions& options, const Table1Options& v,
                       const std::vector<Entry>& entries, Cnn1IrDrop& cnn1, Cnn2Grid& cnn2) {
  CardCosts c;
  c.cnn1_options = StudyEnergyOptions(100);
  // ResNet-26 reads ~30x more per image than LeNet-5: fewer images give the same precision.
  c.cnn2_options = StudyEnergyOptions(20);
  nn::NetworkImpl& net2 = *cnn2.nets.At(v.sigma_train).network;
  const nn::Dataset test2 = cnn2.data.split.test.Head(
      Limits::Images(c.cnn2_options.images, options.limits.test_images));
  const std::size_t n = entries.size();
  const std::size_t fields = CostColumns().size();
  Progress bar("energy per card", 2 * n, "chip");
  std::size_t done = 0;
  cluster::DistributeOptions work;
  // CNN 2's chips first: they take the longest.
  work.on_done = [&](std::size_t i, const std::string& bytes) {
    const std::vector<double> r = UnpackDoubles(bytes, fields);
    bar.Update(++done, fmt::format("{} CNN {}: {:.3g} pJ, {:.3g} TOPS/W", entries[i % n].label,
                                   i < n ? 2 : 1, r[0], r[10]));
  };
  const std::vector<std::string> results = cluster::Distribute(
      2 * n,
      [&](std::size_t i) {
        const Entry& e = entries[i % n];
        const std::uint64_t seed = Rng::Derive(options.run.seed, 1403 + i % n);
        const energy::InferenceCost cost =
            i < n ? CostOnChip(net2, test2, e.card, v.wire_scale, c.cnn2_options, seed)
                  : CostOnChip(*cnn1.net.network, cnn1.test, e.card, v.wire_scale, c.cnn1_options,
                               seed);
        return PackDoubles(CostFields(cost));
      },
      work);
  bar.Finish();
  for (std::size_t i = 0; i < n; ++i) {
    c.cnn2.push_back(UnpackDoubles(results[i], fields));
    c.cnn1.push_back(UnpackDoubles(results[n + i], fields));
  }
  return c;
}

double CostField(const std::vector<double>& fields, const std::string& column) {
  const std::vector<std::string>& c = CostColumns();
  return fields.at(static_cast<std::size_t>(std::find(c.begin(), c.end(), column) - c.begin()));
}

// Fig. 21: TOPS/W and energy per inference of every card, CNN 1 and CNN 2.
report::Figure Fig21(const Table1Options& v, const std::vector<Entry>& entries,
                     const CardCosts& costs) {
  report::Figure f;
  f.title = "Fig. 21: TOPS/W of every technology (CNN 1 and CNN 2)";
  f.table.columns = {"card_index", "network"};
  for (const std::string& c : CostColumns()) f.table.columns.push_back(c);
  f.table.columns.push_back("array_share");
  std::string summary;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    for (int net : {1, 2}) {
      const std::vector<double>& r = net == 1 ? costs.cnn1[i] : costs.cnn2[i];
      std::vector<double> row = {static_cast<double>(i), static_cast<double>(net)};
      row.insert(row.end(), r.begin(), r.end());
      row.push_back(CostField(r, "array_pj") / CostField(r, "energy_pj"));
      f.table.Add(row);
    }
    const std::vector<double>& a = costs.cnn1[i];
    const std::vector<double>& b = costs.cnn2[i];
    f.plot.labels.push_back({static_cast<double>(i), CostField(a, "tops_per_w"), entries[i].label});
    summary += fmt::format(
        "; {} (R_ON {:.3g} Ohm): CNN 1 {} per inference ({:.2g} % in the arrays), {:.3g} TOPS/W; "
        "CNN 2 {} ({:.2g} %), {:.3g} TOPS/W",
        entries[i].label, entries[i].card->r_on_ohm(), Joules(CostField(a, "energy_pj") * 1e-12),
        100 * CostField(a, "array_pj") / CostField(a, "energy_pj"), CostField(a, "tops_per_w"),
        Joules(CostField(b, "energy_pj") * 1e-12),
        100 * CostField(b, "array_pj") / CostField(b, "energy_pj"), CostField(b, "tops_per_w"));
  }
  f.plot.xlabel = "technology (card index, Table I order)";
  f.plot.ylabel = "TOPS/W";
  f.plot.log_y = true;
  f.plot.x_min = -0.5;
  f.plot.x_max = static_cast<double>(entries.size()) - 0.5;
  f.plot.series.push_back({"card_index", "tops_per_w", "CNN 1", "network", 1.0, "points pt 7 ps 1.5"});
  f.plot.series.push_back({"card_index", "tops_per_w", "CNN 2", "network", 2.0, "points pt 5 ps 1.5"});
  f.plot.key = "inside bottom right box opaque";
  f.paper = "(not in the paper) R_ON > 5 MOhm keeps the array current low; SOT-MRAM writes at "
            "< 1 V in 0.5 ns";
  f.ours = fmt::format(
      "each card at its own R_ON on {} x the 22 nm layout wires, one chip; energy per inference "
      "over the first {} (CNN 1) / {} (CNN 2) test images, arrays exact from their circuits, "
      "periphery from docs/energy.md{}",
      v.wire_scale, costs.cnn1_options.images, costs.cnn2_options.images, summary);
  f.options = {{"verdict", v.ToJson()},
               {"energy_cnn1", costs.cnn1_options.ToJson()},
               {"energy_cnn2", costs.cnn2_options.ToJson()}};
  return f;
}

report::Figure Table1(const StudyOptions& options, const Table1Options& v, const Specs& s,
                      const std::vector<Entry>& entries, double tmr, const CardCosts& costs) {
  // No R_ON in range passes: the spec is above the range (every card fails it).
  const double r_required = std::isnan(s.r_on) ? HUGE_VAL : s.r_on;
  const double sigma_required = std::isnan(s.sigma_own) ? 0.0 : s.sigma_own;

  report::Figure f;
  f.title = "Table I: each technology against the specifications derived by aimc";
  f.table.columns = {"card_index",    "sigma_w",       "sigma_w_0",      "sigma_w_pm1",
                     "sigma_w_spec",  "sigma_w_pass",  "r_on_ohm",       "r_on_max_ohm",
                     "r_on_spec_ohm", "r_on_pass",     "r_on_reachable", "v_wr_v",
                     "v_wr_spec_v",   "v_wr_pass",     "meets_all",      "cv_card",
                     "cv_allowed",    "reading",       "sigma_w_spec_clean_reading",
                     "sigma_w_read",  "sigma_w_read_pass", "sigma_w_aged", "sigma_w_aged_pass",
                     "delta_card",    "delta_required", "meets_all_in_use",
                     "energy_cnn1_pj", "energy_cnn2_pj", "tops_per_w_cnn1", "tops_per_w_cnn2",
                     "area_cnn2_mm2", "write_cnn2_nj", "write_cnn2_us"};
  std::string md = "| | ";
  for (const auto& e : entries) md += e.label + " | ";
  md += "inference spec |\n|---|";
  for (std::size_t i = 0; i <= entries.size(); ++i) md += "---|";
  std::string row_s = "\n| sigma_w |", row_r = "\n| R_ON |", row_v = "\n| V_WR |",
              row_all = "\n| meets all |", row_cv = "\n| sigma/mu of G: card / allowed |";
  const double hot_k = v.hot_temperature_c + 273.15;
  std::string row_read = fmt::format("\n| sigma_w as read ({:.2g} V, read noise) |", v.read_voltage_v);
  std::string row_aged = fmt::format("\n| sigma_w after {} at {:.0f} C (drift-compensated) |",
                                     Lifetime(v.lifetime_s), v.hot_temperature_c);
  std::string row_delta = "\n| retention Delta at 300 K: card / required |";
  std::string row_use = "\n| meets all, as read and aged |";
  std::string row_energy = fmt::format("\n| energy per inference, CNN 1 / CNN 2 ({} x 22 nm wires) |",
                                       v.wire_scale);
  std::string row_tops = "\n| TOPS/W, CNN 1 / CNN 2 |";
  std::string row_area = "\n| area of CNN 2's arrays and periphery |";
  std::string row_write = "\n| writing CNN 2's weights: energy / time |";
  std::vector<std::string> winners_in_use;
  std::vector<std::string> winners;
  std::string verdicts;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const device::DeviceCard& card = *entries[i].card;
    const mapping::WeightSpread w = mapping::AnalyticSpread(card.Stats());
    const double sigma = w.sigma_max();
    const double r_on = card.r_on_ohm();
    const double r_max = card.r_on_range_ohm().second;
    const double v_wr = card.write_voltage_v();
    const bool s_ok = sigma <= sigma_required;
    const bool r_ok = r_on >= r_required;
    const bool r_reach = r_max >= r_required;
    const bool v_ok = v_wr <= v.max_write_voltage_v;
    const bool all = s_ok && r_ok && v_ok;
    // What the technology must reach: the largest sigma/mu (same in both states) that keeps
    // sigma_+-1 at the spec at the card's own on/off ratio (Fig. 11), beside the card's.
    const device::StateStats st = card.Stats();
    const double cv_card = std::max(st.on.cv(), st.off.cv());
    const double cv_allowed =
        std::isnan(s.sigma_own)
            ? 0.0
            : mapping::AllowedSpreadFor(s.sigma_own, st.on_off_ratio() - 1.0).pm1_equal_cv;
    if (all && !entries[i].reading) winners.push_back(entries[i].label);
    // As read in use: the largest rms weight error of a level (around -1, 0, +1), read once at
    // the read voltage (I-V, read noise), right after programming and after the lifetime hot.
    const std::uint64_t spread_seed = Rng::Derive(options.run.seed, 1402);
    device::ReadConditions now;
    now.read_voltage_v = v.read_voltage_v;
    device::ReadConditions aged = now;
    aged.time_s = v.lifetime_s;
    aged.temperature_k = hot_k;
    double rms_now[3], rms_aged[3];
    mapping::ReadSpread(card, now, v.spread_pairs, spread_seed, rms_now);
    mapping::ReadSpread(card, aged, v.spread_pairs, spread_seed, rms_aged, true);
    const double sigma_read = *std::max_element(rms_now, rms_now + 3);
    const double sigma_aged = *std::max_element(rms_aged, rms_aged + 3);
    const bool read_ok = sigma_read <= sigma_required;
    const bool aged_ok = sigma_aged <= sigma_required;
    // Retention spec from the same sigma_w spec: a flip of either device of a pair moves its
    // weight by 1 (+-1 -> 0, 0 -> +-1), so flips with probability p add 2p to the mean square
    // error; p may grow to (spec^2 - sigma_read^2) / 2 over the lifetime at the hot temperature,
    // Delta(T) = ln(t / tau_0) - ln(-ln(1 - p)), referred to 300 K as Delta(T) T / 300 K.
    const device::Retention& ret = card.physics().retention;
    // A card whose spread alone exceeds the spec gets the barrier that flips alone would need.
    double delta_required = std::nan("");
    const bool flips_alone = sigma_read >= sigma_required;
    const double p_max =
        (sigma_required * sigma_required - (flips_alone ? 0.0 : sigma_read * sigma_read)) / 2.0;
    if (p_max > 0 && p_max < 1) {
      const double tau0 = ret.any() ? ret.attempt_time_s : 1e-9;
      delta_required = (std::log(v.lifetime_s / tau0) - std::log(-std::log1p(-p_max))) * hot_k /
                       300.0;
    }
    const double delta_card = ret.any() ? ret.delta * ret.reference_temperature_k / 300.0
                                        : std::nan("");
    const bool in_use = all && read_ok && aged_ok;
    if (in_use && !entries[i].reading) winners_in_use.push_back(entries[i].label);
    row_read += fmt::format(" {:.1f} % {} |", 100 * sigma_read, Mark(read_ok));
    row_aged += fmt::format(" {:.1f} % {} |", 100 * sigma_aged, Mark(aged_ok));
    row_delta += ret.any() ? fmt::format(" {:.1f} / {} |", delta_card,
                                         std::isnan(delta_required)
                                             ? std::string("none possible")
                                             : fmt::format("{:.1f}{}", delta_required,
                                                           flips_alone ? " (flips alone)" : ""))
                           : std::string(" no retention model |");
    row_use += fmt::format(" {} |", in_use ? "yes" : "no");
    const std::vector<double>& c1 = costs.cnn1[i];
    const std::vector<double>& c2 = costs.cnn2[i];
    const double area2 = CostField(c2, "area_mm2"), write2 = CostField(c2, "write_nj"),
                 write2_us = CostField(c2, "write_us");
    row_energy += fmt::format(" {} / {} |", Joules(CostField(c1, "energy_pj") * 1e-12),
                              Joules(CostField(c2, "energy_pj") * 1e-12));
    row_tops += fmt::format(" {:.3g} / {:.3g} |", CostField(c1, "tops_per_w"),
                            CostField(c2, "tops_per_w"));
    row_area += std::isnan(area2) ? std::string(" no cell area |")
                                  : fmt::format(" {:.3g} mm^2 |", area2);
    row_write += std::isnan(write2) ? std::string(" no write cost |")
                                    : fmt::format(" {} / {:.3g} ms |", Joules(write2 * 1e-9),
                                                  write2_us / 1e3);
    f.table.Add({static_cast<double>(i), sigma, w.sigma_0(), w.sigma_plus1(), s.sigma_own,
                 s_ok ? 1.0 : 0.0, r_on, r_max, s.r_on, r_ok ? 1.0 : 0.0, r_reach ? 1.0 : 0.0,
                 v_wr, v.max_write_voltage_v, v_ok ? 1.0 : 0.0, all ? 1.0 : 0.0, cv_card,
                 cv_allowed, entries[i].reading ? 1.0 : 0.0, s.sigma_clean, sigma_read,
                 read_ok ? 1.0 : 0.0, sigma_aged, aged_ok ? 1.0 : 0.0, delta_card, delta_required,
                 in_use ? 1.0 : 0.0, CostField(c1, "energy_pj"), CostField(c2, "energy_pj"),
                 CostField(c1, "tops_per_w"), CostField(c2, "tops_per_w"), area2, write2,
                 write2_us});
    row_cv += fmt::format(" {:.1f} % / {:.1f} % |", 100 * cv_card, 100 * cv_allowed);
    verdicts += fmt::format("; {}: sigma_w {:.1f} % {}, R_ON {} {}, V_WR {:.2g} V {}",
                            entries[i].label, 100 * sigma, Mark(s_ok), Ohm(r_on), Mark(r_ok), v_wr,
                            Mark(v_ok));
    row_s += fmt::format(" {:.1f} % {} |", 100 * sigma, Mark(s_ok));
    row_r += fmt::format(" {} {}{} |", Ohm(r_on), Mark(r_ok), !r_ok && r_reach ? " (reachable)" : "");
    row_v += fmt::format(" {:.2g} V {} |", v_wr, Mark(v_ok));
    row_all += fmt::format(" {} |", all ? "yes" : "no");
    // The chart: each technology a labelled point in (R_ON, sigma_w).
    f.plot.labels.push_back({r_on, sigma,
                             fmt::format("{} ({:.2g} V) {}", entries[i].label, v_wr,
                                         all ? "PASS" : "FAIL")});
  }
  row_s += fmt::format(" <= {:.1f} % |", 100 * s.sigma_own);
  row_r += fmt::format(" >= {} |", Ohm(s.r_on));
  row_v += fmt::format(" <= {:.2g} V |", v.max_write_voltage_v);
  row_all += " |";
  row_cv += " |";
  row_read += fmt::format(" <= {:.1f} % |", 100 * s.sigma_own);
  row_aged += fmt::format(" <= {:.1f} % |", 100 * s.sigma_own);
  row_delta += " from the sigma_w spec |";
  row_use += " |";
  row_energy += " |";
  row_tops += " |";
  row_area += " |";
  row_write += " |";
  md += row_s + row_r + row_v + row_all + row_cv + row_read + row_aged + row_delta + row_use +
        row_energy + row_tops + row_area + row_write + "\n";
  md += fmt::format(
      "\nThe last four rows are the cost of an inference on one chip of each card at its own "
      "R_ON (docs/energy.md, Fig. 21): the arrays' read energy exact from their circuits over "
      "the first {} (CNN 1) / {} (CNN 2) test images, the periphery (DACs, sense amplifiers, "
      "{}-bit ADCs by the {} figure of merit, digital at {}) from cited or stated models; area "
      "from each card's cell (SOT-MRAM: 0.076 um^2, Fig. 9) and the periphery; writing from "
      "each card's V_WR, write current and pulses, one device at a time per array.\n",
      costs.cnn1_options.images, costs.cnn2_options.images, costs.cnn2_options.adc.bits,
      costs.cnn2_options.adc.FomName(), costs.cnn2_options.digital.node);
  md += fmt::format(
      "\nThe last four rows judge the devices as they are read in use (docs/devices.md), against "
      "the same sigma_w spec: the largest rms weight error of a level, read once at {:.2g} V with "
      "each card's I-V and read noise; then after {} at {:.0f} C (retention flips, drift and "
      "relaxation, one global drift compensation). The required Delta keeps the flips' share of "
      "the weight error within what the spec leaves (all of it, \"flips alone\", where the "
      "spread already exceeds it). Meets all as read and aged: {}.\n",
      v.read_voltage_v, Lifetime(v.lifetime_s), v.hot_temperature_c,
      winners_in_use.empty() ? std::string("none") : fmt::format("{}", fmt::join(winners_in_use, ", ")));
  md += fmt::format(
      "\nThe last column but one is the SOT-MRAM card read with sigma = 3 nm on the pillar "
      "diameter instead of the radius (the paper is ambiguous; see fig08d_sigma_r_reading); the "
      "verdict uses the card as written. sigma_w spec: reading 1 (over the sigma_w,train network's "
      "own noise-free error) <= {:.1f} %; reading 2 (over the clean-trained network's) <= {}.\n",
      100 * s.sigma_own,
      std::isnan(s.sigma_clean) ? std::string("none: the noise-free error already exceeds the budget")
                                : fmt::format("{:.1f} %", 100 * s.sigma_clean));
  cluster::OnWriter([&] { WriteFileAtomic(options.run.out_dir / "table1_verdict.md", md); });

  // The spec region: R_ON >= spec, sigma_w <= spec.
  f.plot.xlabel = "R_ON (Ohm)";
  f.plot.ylabel = "sigma_w (largest of sigma_-1, sigma_0, sigma_+1)";
  f.plot.log_x = true;
  f.plot.x_min = 1e3;
  f.plot.x_max = 1e10;
  f.plot.y_min = 0.0;
  f.plot.y_max = 0.7;
  f.plot.key = "inside top right box opaque";
  f.plot.regions.push_back({std::min(r_required, 1e10), 1e10, 0.0, sigma_required,
                            fmt::format("spec: R_ON >= {}, sigma_w <= {:.1f} %", Ohm(s.r_on),
                                        100 * s.sigma_own)});
  report::Series pass{"r_on_ohm", "sigma_w", "meets all specs", "meets_all", 1.0,
                      "points pt 7 ps 2 lc rgb '#1a9850'"};
  report::Series fail{"r_on_ohm", "sigma_w", "fails a spec", "meets_all", 0.0,
                      "points pt 6 ps 2 lc rgb '#d73027'"};
  report::Series low_v{"r_on_ohm", "sigma_w", fmt::format("V_WR <= {:.2g} V", v.max_write_voltage_v),
                       "v_wr_pass", 1.0, "points pt 1 ps 3 lc rgb 'black'"};
  f.plot.series = {pass, fail, low_v};

  f.paper = "Optimized SOT-MRAM (nCD 80 nm, RA 20 kOhm um^2) meets R_ON > 5 MOhm and sigma_w < "
            "15 % at V_WR < 1 V; Flash, RRAM, PCM, STT-MRAM each miss at least one spec";
  f.ours = fmt::format(
      "budget {} points. sigma_w spec <= {:.3f} by reading 1 (CNN 2 trained at sigma_w,train "
      "{:.2f}, over its own noise-free error {:.2f} %); reading 2 (over the clean-trained "
      "network's {:.2f} %) would give {}; {} test images x {} chips per bisection point. R_ON "
      "spec >= {} (CNN 1, {} x layout wires, ideal devices at TMR {:.0f} %, error without wires "
      "{:.2f} %, {} test images). V_WR <= {} V (a system requirement){}; meets all: {}; meets all "
      "as read at {:.2g} V and after {} at {:.0f} C: {} (table: table1_verdict.md)",
      v.error_budget_pct, s.sigma_own, v.sigma_train, s.noise_free_pct, s.clean_pct,
      std::isnan(s.sigma_clean) ? std::string("no sigma_w at all (the noise-free error is already over budget)")
                                : fmt::format("<= {:.3f}", s.sigma_clean),
      s.cnn2_images, v.chips, Ohm(s.r_on), v.wire_scale, 100 * tmr, s.digital_pct, s.cnn1_images,
      v.max_write_voltage_v, verdicts,
      winners.empty() ? std::string("none") : fmt::format("{}", fmt::join(winners, ", ")),
      v.read_voltage_v, Lifetime(v.lifetime_s), v.hot_temperature_c,
      winners_in_use.empty() ? std::string("none")
                             : fmt::format("{}", fmt::join(winners_in_use, ", ")));
  f.options = {{"verdict", v.ToJson()}};
  return f;
}

}  // namespace

void AddVerdictPart(report::Study& study, const StudyOptions& options) {
  study.Add({"verdict",
             "Table I: specifications derived from Figs. 14b and 16, and which cards meet them "
             "(configs/experiments/table1.toml)",
             [options](report::StudyContext& ctx) {
               const auto file = FindShippedFile("configs/experiments/table1.toml");
               Table1Options v;
               double tmr = 0.0;
               std::vector<Entry> entries;
               // Every rank reads the configuration and the cards; one that cannot fails the
               // step on every rank.
               cluster::OnEveryRank([&] {
                 Require(file.has_value(),
                         "configs/experiments/table1.toml not found (set AIMC_HOME to the aimc "
                         "folder)");
                 v = LoadTable1Options(*file);
                 tmr = std::isnan(v.tmr) ? SotMramCard().tmr : v.tmr;
                 entries = Entries(v);
               });
               nlohmann::json cards = nlohmann::json::array();
               for (const auto& e : entries) cards.push_back(e.card->ToJson());

               NoiseGridPlan p14 = Fig14bPlan(options);
               Require(std::count(p14.sigma_train.begin(), p14.sigma_train.end(), v.sigma_train) > 0,
                       "{}: sigma_train = {} is not one of the networks of Fig. 14b ({})",
                       file->string(), v.sigma_train, fmt::join(p14.sigma_train, ", "));
               Cnn2Grid cnn2 = Cnn2ForGrid(options, p14);
               const IrDropPlan p16 = Fig16Plan(options, tmr);
               Cnn1IrDrop cnn1 = Cnn1ForIrDrop(options, p16);
               // One run of the cards' costs serves Fig. 21 and Table I.
               std::optional<CardCosts> costs;
               const auto card_costs = [&]() -> const CardCosts& {
                 if (!costs) costs = RunCardCosts(options, v, entries, cnn1, cnn2);
                 return *costs;
               };
               const nlohmann::json energy_key = {
                   {"cnn1", StudyEnergyOptions(100).ToJson()},
                   {"cnn2", StudyEnergyOptions(20).ToJson()}};
               const nlohmann::json nets = {
                   {"cnn2", {{"data", cnn2.data.Key()}, {"models", cnn2.nets.Key()}}},
                   {"cnn1", {{"data", cnn1.data.Key()}, {"model", cnn1.net.file_hash},
                             {"test", cnn1.test.size()}}}};
               ctx.Produce("fig21_energy_per_card",
                           {{"verdict", v.ToJson()}, {"cards", cards}, {"networks", nets},
                            {"energy", energy_key}},
                           [&] { return Fig21(v, entries, card_costs()); });
               ctx.Produce("table1_verdict",
                           {{"energy", energy_key},
                            {"verdict", v.ToJson()},
                            {"tmr", tmr},
                            {"cards", cards},
                            {"cnn2", {{"plan", p14.ToJson()}, {"data", cnn2.data.Key()},
                                      {"models", cnn2.nets.Key()}}},
                            {"cnn1", {{"plan", p16.ToJson()}, {"data", cnn1.data.Key()},
                                      {"model", cnn1.net.file_hash}}}},
                           [&] {
                             const Specs s = DeriveSpecs(v, cnn2, p14, cnn1, tmr, options.run.seed);
                             return Table1(options, v, s, entries, tmr, card_costs());
                           });
             }});
}

}  // namespace aimc::paper
