#include <memory>

#include <fmt/format.h>

#include "aimc/common/csv.h"
#include "aimc/device/card.h"
#include "aimc/mapping/ternary.h"
#include "commands.h"
#include "field_flags.h"
#include "text_table.h"

namespace aimc::cli {

namespace {


std::string Pct(double x) { return fmt::format("{:.2f} %", 100 * x); }

}  // namespace

void RegisterDevice(CLI::App& app) {
  CLI::App* device = app.add_subcommand("device", "Device cards: statistics of the conductance states");
  device->require_subcommand(1);

  struct StatsArgs {
    std::string card = "sot_mram";
    std::int64_t samples = 200000;
    std::uint64_t seed = 1;
    std::string csv;
    double read_voltage_v = 0.2;
    double time_s = 0.0;
    double temperature_k = 298.15;
  };
  auto args = std::make_shared<StatsArgs>();
  CLI::App* stats = device->add_subcommand(
      "stats",
      "Conductance moments of both states (exact and Monte Carlo) and the weight spread "
      "sigma_-1, sigma_0, sigma_+1 of a ternary differential pair");
  stats->add_option("--card", args->card, "Card file (TOML) or a preset name: sot_mram, stt_mram, "
                                          "flash, rram, pcm")
      ->capture_default_str();
  stats->add_option("--samples", args->samples, "Monte-Carlo devices (pairs) per state (level)")
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{1} << 40))
      ->capture_default_str();
  AddSeedFlag(stats, args->seed, "Seed of the Monte-Carlo draws");
  stats->add_option("--csv", args->csv, "Also write the table as CSV to this file");
  // The names and units of aimc test's chip (experiment::ChipConfig); the old spellings stay.
  stats->add_option("--read-voltage-v", args->read_voltage_v,
                    "Voltage across a device read at full scale (V), for the card's I-V and shot "
                    "noise")
      ->capture_default_str();
  stats->add_option("--time-s", args->time_s,
                    "Time since programming (s), for retention, drift and 1/f read noise")
      ->capture_default_str();
  stats->add_option("--temperature-k", args->temperature_k, "Temperature of the read (K)")
      ->capture_default_str();
  const auto number = NumberFlag;
  AddRenamedFlag(stats, "--read-voltage", "--read-voltage-v", [args, number](const std::string& t) {
    args->read_voltage_v = number("--read-voltage", t);
  });
  AddRenamedFlag(stats, "--time", "--time-s",
                 [args, number](const std::string& t) { args->time_s = number("--time", t); });
  AddRenamedFlag(
      stats, "--temperature", "--temperature-k",
      [args, number](const std::string& t) {
        args->temperature_k = number("--temperature", t) + 273.15;
      },
      " in kelvin (the old flag, in degrees C, is converted)");
  stats->callback([args] {
    if (!args->csv.empty()) RequireOutputFile(args->csv);
    // Checked before anything is printed.
    device::ReadConditions conditions;
    conditions.read_voltage_v = args->read_voltage_v;
    conditions.time_s = args->time_s;
    conditions.temperature_k = args->temperature_k;
    conditions.Validate();
    const auto card = device::LoadCardOrPreset(args->card);
    const device::StateStats s = card->Stats();
    const mapping::WeightSpread analytic = mapping::AnalyticSpread(s);
    const mapping::WeightSpread mc = mapping::MonteCarloSpread(*card, args->samples, args->seed);
    // Read before anything is printed: a card that cannot be read at these conditions is refused
    // without a partial table.
    double rms[3] = {0, 0, 0};
    const mapping::WeightSpread read =
        mapping::ReadSpread(*card, conditions, args->samples, args->seed, rms);
    fmt::print("{} — {}\n\n", card->name(), card->source());
    PrintTextTable({{"quantity", "exact", "Monte Carlo"},
                    {"R_ON = 1/E[G_on] (ohm)", fmt::format("{:.5g}", card->r_on_ohm()), ""},
                    {"R_OFF = 1/E[G_off] (ohm)", fmt::format("{:.5g}", 1 / s.off.mean_s), ""},
                    {"on/off ratio", fmt::format("{:.4g}", s.on_off_ratio()), ""},
                    {"sigma/mu of G_on", Pct(s.on.cv()), ""},
                    {"sigma/mu of G_off", Pct(s.off.cv()), ""},
                    {"sigma_-1 (unit weight)", fmt::format("{:.5f}", analytic.sigma[0]),
                     fmt::format("{:.5f}", mc.sigma[0])},
                    {"sigma_0", fmt::format("{:.5f}", analytic.sigma[1]), fmt::format("{:.5f}", mc.sigma[1])},
                    {"sigma_+1", fmt::format("{:.5f}", analytic.sigma[2]), fmt::format("{:.5f}", mc.sigma[2])},
                    {"mean of -1, 0, +1", "-1, 0, 1",
                     fmt::format("{:.4f}, {:.4f}, {:.4f}", mc.mean[0], mc.mean[1], mc.mean[2])},
                    {"write voltage (V)", fmt::format("{:.3g}", card->write_voltage_v()), ""},
                    {"R_ON range (ohm)",
                     fmt::format("{:.4g} - {:.4g}", card->r_on_range_ohm().first,
                                 card->r_on_range_ohm().second),
                     ""}});
    if (card->levels() > 2) {
      // Multi-level: the weight levels of the largest K the card holds (mapping::MultiLevelSpread).
      const int top = card->levels() - 1;
      fmt::print("\nWeights of {} levels ({} conductance levels per device), in units of the "
                 "full-scale weight:\n",
                 2 * top + 1, card->levels());
      std::vector<std::vector<std::string>> rows = {{"level", "G+ (S)", "mean", "sigma_w"}};
      const std::vector<mapping::LevelSpread> spread = mapping::MultiLevelSpread(*card, top);
      for (int m = 0; m <= top; ++m)
        rows.push_back({m == 0 ? "0" : fmt::format("+-{}", m),
                        fmt::format("{:.4g}", card->LevelStats(m, top).mean_s),
                        fmt::format("{:.4f}", spread[static_cast<std::size_t>(m)].mean),
                        fmt::format("{:.5f}", spread[static_cast<std::size_t>(m)].sigma)});
      PrintTextTable(rows);
    }
    const device::Physics& p = card->physics();
    if (p.any()) {
      fmt::print("\nPhysics beyond the static resistor:\n");
      std::vector<std::vector<std::string>> rows = {{"part", "parameters", "source"}};
      rows.push_back({"I-V", fmt::format("ON {}; OFF {}{}", card->Iv(device::State::kOn).Describe(),
                                         card->Iv(device::State::kOff).Describe(),
                                         p.iv.access_ohm > 0
                                             ? fmt::format("; access {:.4g} ohm", p.iv.access_ohm)
                                             : ""),
                      p.iv.source});
      if (p.read_noise.any())
        rows.push_back({"read noise",
                        fmt::format("sigma {:.3g} + 1/f q {:.3g} (t_read {:.3g} s), shot F {:.3g}",
                                    p.read_noise.sigma_rel, p.read_noise.flicker_q,
                                    p.read_noise.read_time_s, p.read_noise.shot_fano),
                        p.read_noise.source});
      if (p.retention.any())
        rows.push_back({"retention",
                        fmt::format("Delta {:.4g} at {:.4g} K ({:.4g} at {:.4g} K), tau_0 {:.3g} s; "
                                    "P(flip) {:.3g}",
                                    p.retention.delta, p.retention.reference_temperature_k,
                                    p.retention.DeltaAt(conditions.temperature_k),
                                    conditions.temperature_k, p.retention.attempt_time_s,
                                    p.retention.FlipProbability(conditions.time_s,
                                                                conditions.temperature_k)),
                        p.retention.source});
      if (p.drift.any())
        rows.push_back({"drift",
                        fmt::format("nu ON {:.3g} +- {:.3g}, OFF {:.3g} +- {:.3g}, relaxation "
                                    "{:.3g}/decade, t0 {:.3g} s, E_a {:.3g} eV",
                                    p.drift.on_nu_mean, p.drift.on_nu_sigma, p.drift.off_nu_mean,
                                    p.drift.off_nu_sigma, p.drift.relax_per_decade, p.drift.t0_s,
                                    p.drift.activation_ev),
                        p.drift.source});
      if (p.stuck.any())
        rows.push_back({"stuck-at", fmt::format("ON {:.3g}, OFF {:.3g}", p.stuck.on_fraction,
                                                p.stuck.off_fraction),
                        p.stuck.source});
      PrintTextTable(rows);
    }
    fmt::print("\nRead at {:.3g} V, {:.4g} s after programming, {:.4g} C ({} pairs per level):\n",
               conditions.read_voltage_v, conditions.time_s, args->temperature_k - 273.15, args->samples);
    PrintTextTable(
        {{"level", "mean", "sigma (around its mean)", "rms error (around the level)"},
         {"-1", fmt::format("{:.4f}", read.mean[0]), fmt::format("{:.5f}", read.sigma[0]),
          fmt::format("{:.5f}", rms[0])},
         {"0", fmt::format("{:.4f}", read.mean[1]), fmt::format("{:.5f}", read.sigma[1]),
          fmt::format("{:.5f}", rms[1])},
         {"+1", fmt::format("{:.4f}", read.mean[2]), fmt::format("{:.5f}", read.sigma[2]),
          fmt::format("{:.5f}", rms[2])},
         {"unit weight dG(V) (S)", fmt::format("{:.5g}", read.dg_s), "", ""}});
    if (!args->csv.empty()) {
      Table t{{"r_on_ohm", "r_off_ohm", "cv_on", "cv_off", "sigma_m1", "sigma_0", "sigma_p1",
               "sigma_m1_mc", "sigma_0_mc", "sigma_p1_mc", "write_voltage_v", "read_voltage_v",
               "time_s", "temperature_k", "sigma_m1_read", "sigma_0_read", "sigma_p1_read",
               "rms_m1_read", "rms_0_read", "rms_p1_read"},
              {}};
      t.Add({card->r_on_ohm(), 1 / s.off.mean_s, s.on.cv(), s.off.cv(), analytic.sigma[0],
             analytic.sigma[1], analytic.sigma[2], mc.sigma[0], mc.sigma[1], mc.sigma[2],
             card->write_voltage_v(), conditions.read_voltage_v, conditions.time_s,
             conditions.temperature_k, read.sigma[0], read.sigma[1], read.sigma[2], rms[0],
             rms[1], rms[2]});
      WriteCsv(args->csv, t);
    }
  });

  CLI::App* list = device->add_subcommand("list", "The preset cards of configs/devices/");
  list->callback([] {
    std::vector<std::vector<std::string>> rows = {
        {"card", "name", "R_ON (ohm)", "on/off", "sigma/mu on", "sigma_w max", "V_WR (V)"}};
    for (const std::string& stem : device::PresetCardNames()) {
      const auto card = device::LoadCard(device::PresetCardPath(stem));
      const auto s = card->Stats();
      rows.push_back({stem, card->name(), fmt::format("{:.4g}", card->r_on_ohm()),
                      fmt::format("{:.3g}", s.on_off_ratio()), Pct(s.on.cv()),
                      Pct(mapping::AnalyticSpread(s).sigma_max()),
                      fmt::format("{:.3g}", card->write_voltage_v())});
    }
    PrintTextTable(rows);
  });
}

}  // namespace aimc::cli
