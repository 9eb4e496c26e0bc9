#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/device/card.h"
#include "aimc/energy/model.h"
#include "aimc/experiment/chip.h"
#include "aimc/nn/data.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/runtime.h"
#include "commands.h"
#include "field_flags.h"

namespace aimc::cli {
namespace fs = std::filesystem;

namespace {

// "12.3 pJ" with an SI prefix chosen for the value.
std::string Si(double value, const std::string& unit) {
  if (value < 0) return "not stated";
  if (value == 0) return "0 " + unit;
  static const char* prefixes[] = {"a", "f", "p", "n", "u", "m", "", "k", "M", "G", "T"};
  int k = static_cast<int>(std::floor(std::log10(value) / 3.0)) + 6;
  k = std::max(0, std::min(10, k));
  return fmt::format("{:.4g} {}{}", value / std::pow(10.0, 3 * (k - 6)), prefixes[k], unit);
}

std::string Share(double part, double total) {
  return part < 0 || total <= 0 ? "" : fmt::format("{:5.1f} %", 100 * part / total);
}

}  // namespace

void RegisterEnergy(CLI::App& app) {
  struct Args {
    fs::path model;
    experiment::ChipConfig chip = [] {
      experiment::ChipConfig c;
      c.card = "sot_mram";
      return c;
    }();
    energy::EnergyOptions energy;
    std::string adc_fom = "walden";
    bool serial_tiles = false;
    fs::path data_dir;
    std::uint64_t seed = 1;
    int threads = 1;
    fs::path json;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "energy",
      "Energy, area and latency of one inference on a chip (docs/energy.md): the arrays' read "
      "energy exact from their circuits over the first --images test images, the periphery "
      "(DACs, sense amplifiers, ADCs, digital, buffer) from cited models, and the cost of "
      "writing the weights. Prints the breakdown; --json writes it with a manifest.");
  cmd->add_option("--model", a->model, "Model file from aimc train")->required();
  // The chip: one flag per field of experiment::ChipConfig but weight noise and calibration
  // (the energy is the devices' and is counted before any calibration).
  AddFieldFlags(cmd, experiment::ChipConfigFields(), a->chip,
                {.prefix = "", .help_prefix = "", .only = {},
                 .exclude = {"sigma_w_test", "calibration_images"}});
  cmd->add_option("--images", a->energy.images, "Test images the energy is averaged over (0: all)")
      ->capture_default_str();
  cmd->add_option("--split-mvms", a->energy.split_mvms,
                  "MVMs per layer solved in full to split the array energy into devices and "
                  "parasitics (0: no split)")
      ->capture_default_str();
  cmd->add_option("--read-time", a->energy.read_time_s,
                  "How long a read lasts (s; 0: the card's read time, else 10 ns)")
      ->capture_default_str();
  cmd->add_option("--adc-fom", a->adc_fom, "ADC energy model: walden or schreier")
      ->check(CLI::IsMember({"walden", "schreier"}))
      ->capture_default_str();
  cmd->add_option("--adc-walden-fj", a->energy.adc.walden_fj_per_step,
                  "Walden figure of merit (fJ per conversion step)")
      ->capture_default_str();
  cmd->add_option("--adc-schreier-db", a->energy.adc.schreier_db, "Schreier figure of merit (dB)")
      ->capture_default_str();
  cmd->add_option("--adc-model-bits", a->energy.adc.bits,
                  "ADC resolution counted when the chip has no ADC (--adc-bits 0)")
      ->capture_default_str();
  cmd->add_option("--columns-per-adc", a->energy.adc.columns_per_adc,
                  "Weight columns multiplexed onto one ADC")
      ->capture_default_str();
  cmd->add_option("--adc-rate", a->energy.adc.sample_rate_hz, "ADC conversions per second")
      ->capture_default_str();
  cmd->add_option("--digital-scale", a->energy.digital.node_scale,
                  "Multiply every digital energy (node scaling from the 45 nm values)")
      ->capture_default_str();
  cmd->add_flag("--serial-tiles", a->serial_tiles,
                "Read a layer's tiles one after another (default: in parallel)");
  cmd->add_option("--data-dir", a->data_dir, "Data folder (default: the one the model was trained on)");
  AddSeedFlag(cmd, a->seed, "Seed of the chip");
  cmd->add_option("--threads", a->threads, "LibTorch/OpenBLAS threads")->capture_default_str();
  cmd->add_option("--json", a->json, "Write the cost (and <file>.manifest.json) here");
  cmd->callback([a] {
    if (!a->json.empty()) RequireOutputFile(a->json);
    a->energy.adc.fom = a->adc_fom == "walden" ? energy::AdcOptions::Fom::kWalden
                                                : energy::AdcOptions::Fom::kSchreier;
    a->energy.tiles_parallel = !a->serial_tiles;
    a->energy.Validate();
    nn::SetThreads(a->threads);
    Require(a->chip.uses_devices(), "--card must name a device card (energy is the devices')");
    const experiment::ChipSpec spec = experiment::ChipSpec::FromConfig(a->chip);
    spec.Validate();
    const std::shared_ptr<const device::DeviceCard>& card = spec.card;
    nn::Model model = nn::LoadModel(a->model);
    const fs::path dir = a->data_dir.empty() ? model.info.training.data_dir : a->data_dir;
    const nn::Dataset test = nn::LoadData(model.info.training.dataset, dir).test;
    if (const std::string w = nn::ClassNamesWarning(model.info, test); !w.empty())
      spdlog::warn("{}: {}", a->model.string(), w);
    experiment::Chip c(*model.network, spec, a->seed);
    // One pass over the images gives both the cost and the accuracy.
    const energy::InferenceCost cost = c.MeasureCost(test, a->energy);
    const double accuracy = cost.accuracy;
    const energy::EnergyBreakdown& e = cost.energy;
    const double total = e.Total();

    fmt::print("{} on {}, {} images; {}\n", a->model.string(), model.info.training.dataset,
               static_cast<std::int64_t>(cost.images), spec.Describe());
    fmt::print("accuracy on these images: {:.2f} %\n\n", 100 * accuracy);
    fmt::print("energy per inference: {}   ({:.4g} TOPS/W, {:.4g} Mop per inference)\n",
               Si(total, "J"), cost.TopsPerW(), cost.ops / 1e6);
    const auto row = [&](const std::string& what, double v, const std::string& note) {
      fmt::print("  {:<24} {:>12} {:>8}   {}\n", what, Si(v, "J"), Share(v, total), note);
    };
    row("arrays (exact circuit)", e.array_j, "what the row drivers deliver, per MVM t_read V^T Y V");
    if (e.devices_j >= 0) {
      row("  in the devices", e.devices_j, fmt::format("split from {} full solve(s) per layer",
                                                         a->energy.split_mvms));
      row("  in wires, drivers, access", e.parasitics_j(), "");
    }
    row("row-line charging", e.lines_j, "[1]");
    row("DACs", e.dac_j, "[1]");
    row("sense amplifiers", e.sense_j, "[2]");
    row("ADCs", e.adc_j, fmt::format("[3] {} FoM, {} bits", a->energy.adc.FomName(),
                                     spec.options.adc_bits > 0 ? spec.options.adc_bits : a->energy.adc.bits));
    row("partial-sum accumulation", e.accumulate_j, "[4]");
    row("digital (BN, quant., pool)", e.digital_j,
        fmt::format("[4] {} x {:g}", a->energy.digital.node, a->energy.digital.node_scale));
    row("activation buffer", e.buffer_j, "[4]");
    fmt::print("\nper layer:\n");
    for (const energy::LayerCost& l : cost.layers)
      fmt::print("  {:<14} {:>8} {:>12} {:>8}  {:>12}\n", l.name, l.analog ? "analog" : "digital",
                 Si(l.energy_j, "J"), Share(l.energy_j, total), Si(l.latency_s, "s"));
    fmt::print("\nlatency per inference: {} (layers one after another, tiles {}); one MVM {}; "
               "{:.4g} inferences/s pipelined; {:.4g} TOPS\n",
               Si(cost.latency_s, "s"), a->energy.tiles_parallel ? "in parallel" : "serial",
               Si(cost.mvm_s, "s"), cost.PipelinedPerS(), cost.Tops());
    const auto mm2 = [](double um2) {
      return um2 < 0 ? std::string("not stated") : fmt::format("{:.4g} mm^2", um2 * 1e-6);
    };
    fmt::print("area: {} in {} arrays (cells {}, DACs {}, sense {}, ADCs {}) [5]\n",
               mm2(cost.area.Total()), cost.area.tiles, mm2(cost.area.cells_um2),
               mm2(cost.area.dac_um2), mm2(cost.area.sense_um2), mm2(cost.area.adc_um2));
    fmt::print("writing the weights: {} devices, {}, {} at V_WR {} V [5]\n", cost.write.devices,
               Si(cost.write.energy_j, "J"), Si(cost.write.time_s, "s"), card->write_voltage_v());
    fmt::print("\nsources:\n  [1] {}\n  [2] {}\n  [3] {}\n  [4] {}\n  [5] {}: {}\n",
               energy::SourceOrAssumed(a->energy.dac.source),
               energy::SourceOrAssumed(a->energy.sense.source),
               energy::SourceOrAssumed(a->energy.adc.source),
               energy::SourceOrAssumed(a->energy.digital.source), card->name(),
               energy::SourceOrAssumed(card->cell().source));
    if (!a->json.empty()) {
      nlohmann::json options = {{"model", a->model.string()},
                                {"chip", spec.ToJson()},
                                {"chip_config", a->chip.ToJson()},
                                {"energy", a->energy.ToJson()},
                                {"seed", a->seed}};
      WriteManifest(a->json, cost.ToJson());
      fs::path manifest = a->json;
      manifest.replace_extension(".manifest.json");
      WriteManifest(manifest, MakeManifest("aimc energy", options, a->seed));
      fmt::print("wrote {} and {}\n", a->json.string(), manifest.string());
    }
  });
}

}  // namespace aimc::cli
