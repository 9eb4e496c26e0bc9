#include <memory>

#include <fmt/format.h>

#include "aimc/common/csv.h"
#include "aimc/device/card.h"
#include "aimc/mapping/ternary.h"
#include "commands.h"
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
  stats->add_option("--seed", args->seed, "Seed of the Monte-Carlo draws")->capture_default_str();
  stats->add_option("--csv", args->csv, "Also write the table as CSV to this file");
  stats->callback([args] {
    if (!args->csv.empty()) RequireOutputFile(args->csv);
    const auto card = device::LoadCardOrPreset(args->card);
    const device::StateStats s = card->Stats();
    const mapping::WeightSpread analytic = mapping::AnalyticSpread(s);
    const mapping::WeightSpread mc = mapping::MonteCarloSpread(*card, args->samples, args->seed);
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
    if (!args->csv.empty()) {
      Table t{{"r_on_ohm", "r_off_ohm", "cv_on", "cv_off", "sigma_m1", "sigma_0", "sigma_p1",
               "sigma_m1_mc", "sigma_0_mc", "sigma_p1_mc", "write_voltage_v"},
              {}};
      t.Add({card->r_on_ohm(), 1 / s.off.mean_s, s.on.cv(), s.off.cv(), analytic.sigma[0],
             analytic.sigma[1], analytic.sigma[2], mc.sigma[0], mc.sigma[1], mc.sigma[2],
             card->write_voltage_v()});
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
