// Table I as a figure and table1_verdict.md: every card against the derived specs, as
// specified, as read in use and after its lifetime, and what an inference on it costs.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/rng.h"
#include "aimc/device/card.h"
#include "aimc/mapping/ternary.h"
#include "energy_part.h"
#include "verdict.h"

namespace aimc::paper {

namespace {

std::string Ohm(double r) {
  if (std::isnan(r)) return "none in range";
  // Thresholds at what {:.3g} rounds up: 999.96 kOhm prints as 1 MOhm.
  if (r >= 999.5e3) return fmt::format("{:.3g} MOhm", r / 1e6);
  if (r >= 999.5) return fmt::format("{:.3g} kOhm", r / 1e3);
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

}  // namespace

std::string IntervalsText(const Table1Specs& s) {
  const auto pct = [](double x) { return fmt::format("{:.1f} %", 100 * x); };
  const SpecInterval& own = s.sigma_own_interval;
  const SpecInterval& clean = s.sigma_clean_interval;
  const SpecInterval& r = s.r_on_interval;
  // +-1 point of sigma_w; +-10 % of R_ON (on its log scale).
  const double sigma_target = 0.01, r_target = std::log(1.1);
  std::string text = fmt::format(
      "Intervals ({:.0f} %, percentile bootstrap of {} replicates over the chips and the test "
      "images that measured each curve; the spec above is the last bisection point within the "
      "budget, the crossing is where the measured curve, interpolated between those points, "
      "leaves it): sigma_w reading 1 crosses at {}, reading 2 at {}; R_ON at {}.",
      100 * own.level, own.replicates, own.Text(pct), clean.Text(pct), r.Text(Ohm));
  text += fmt::format(
      " Their spread (standard deviations): sigma_w (reading 1) {:.2g} points from the chips, "
      "{:.2g} from the images ({} chips x {} images); +-1 point needs {}.",
      100 * own.chip_sd, 100 * own.image_sd, own.chips, own.images, own.NeedsText(sigma_target));
  text += fmt::format(
      " R_ON (one chip of ideal devices: the images alone) {:.2g} % ({} images); +-10 % needs "
      "{}.",
      100 * (std::exp(r.image_sd) - 1), r.images, r.NeedsText(r_target));
  if (own.no_spec > 0 || clean.no_spec > 0 || r.no_spec > 0)
    text += fmt::format(" Replicates without a spec in range (counted at the range's good end): "
                        "sigma_w reading 1 {}, reading 2 {}, R_ON {} of {}.",
                        own.no_spec, clean.no_spec, r.no_spec, own.replicates);
  return text;
}

report::Figure RenderTable1(const StudyOptions& options, const Table1Options& v,
                            const Table1Specs& s, const std::vector<Table1Card>& entries,
                            double tmr, const CardCosts& costs) {
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
                     "area_cnn2_mm2", "write_cnn2_nj", "write_cnn2_us",
                     "sigma_w_crossing", "sigma_w_crossing_low", "sigma_w_crossing_high",
                     "sigma_w_clean_crossing", "sigma_w_clean_crossing_low",
                     "sigma_w_clean_crossing_high", "r_on_crossing_ohm", "r_on_crossing_low_ohm",
                     "r_on_crossing_high_ohm"};
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
                 write2_us, s.sigma_own_interval.estimate, s.sigma_own_interval.low,
                 s.sigma_own_interval.high, s.sigma_clean_interval.estimate,
                 s.sigma_clean_interval.low, s.sigma_clean_interval.high,
                 s.r_on_interval.estimate, s.r_on_interval.low, s.r_on_interval.high});
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
  const auto pct = [](double x) { return fmt::format("{:.1f} %", 100 * x); };
  row_s += fmt::format(" <= {:.1f} % (crossing {}) |", 100 * s.sigma_own,
                       s.sigma_own_interval.Text(pct));
  row_r += fmt::format(" >= {} (crossing {}) |", Ohm(s.r_on), s.r_on_interval.Text(Ohm));
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
  md += "\n" + IntervalsText(s) + "\n";
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
  // Where the boundary could lie with other chips and images: the crossings' 95 % intervals,
  // an L-shaped band along the region's corner.
  const SpecInterval& si = s.sigma_own_interval;
  const SpecInterval& ri = s.r_on_interval;
  if (std::isfinite(si.low) && std::isfinite(ri.low) && ri.low > 0) {
    const char* band = "#e6a040";
    f.plot.regions.push_back({std::min(ri.low, 1e10), 1e10, si.low, si.high,
                              "95 % intervals of the boundaries (chips and images)", band, true});
    // The vertical arm below the horizontal one (not over it twice).
    f.plot.regions.push_back({std::min(ri.low, 1e10), std::min(ri.high, 1e10), 0.0, si.low, "",
                              band, true});
  }
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
      "{:.2f} %, {} test images). {} V_WR <= {} V (a system requirement){}; meets all: {}; meets all "
      "as read at {:.2g} V and after {} at {:.0f} C: {} (table: table1_verdict.md)",
      v.error_budget_pct, s.sigma_own, v.sigma_train, s.noise_free_pct, s.clean_pct,
      std::isnan(s.sigma_clean) ? std::string("no sigma_w at all (the noise-free error is already over budget)")
                                : fmt::format("<= {:.3f}", s.sigma_clean),
      s.cnn2_images, v.chips, Ohm(s.r_on), v.wire_scale, 100 * tmr, s.digital_pct, s.cnn1_images,
      IntervalsText(s), v.max_write_voltage_v, verdicts,
      winners.empty() ? std::string("none") : fmt::format("{}", fmt::join(winners, ", ")),
      v.read_voltage_v, Lifetime(v.lifetime_s), v.hot_temperature_c,
      winners_in_use.empty() ? std::string("none")
                             : fmt::format("{}", fmt::join(winners_in_use, ", ")));
  f.options = {{"verdict", v.ToJson()}};
  return f;
}

}  // namespace aimc::paper
