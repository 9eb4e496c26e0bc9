// The JSON of the options structs is what result caches, sweeps' results and model files are
// keyed on: since the structs are described by field tables, the JSON must stay the bytes the
// hand-written writers gave. Reference: testdata/options_json.json, written by those writers
// (before the tables) for the cases below; AIMC_WRITE_OPTIONS_JSON=1 rewrites it from the
// current code (only for a deliberate change of format).
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "aimc/device/card.h"
#include "aimc/energy/model.h"
#include "aimc/experiment/sweep_options.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/network.h"
#include "aimc/nn/torchscript.h"
#include "aimc/nn/train_options.h"

namespace aimc::experiment {
namespace {

const char* kGolden = AIMC_SOURCE_DIR "/src/experiment/testdata/options_json.json";

// Each case: a name and its JSON text, as ToJson().dump() writes it.
std::map<std::string, std::string> Cases() {
  std::map<std::string, std::string> c;
  for (const char* f : {"cards_lenet_fashion", "ir_drop_fashion", "noise_lenet_digits"})
    c[std::string("sweep/") + f] =
        LoadSweep(std::string(AIMC_SOURCE_DIR "/configs/experiments/") + f + ".toml")
            .ToJson()
            .dump();

  SweepOptions s;
  s.models = {"a.pt", "b/c.pt"};
  c["sweep/defaults"] = s.ToJson().dump();
  s.cards = {"sot_mram", "cards/x.toml"};
  s.r_on_ohm = {1e5, 2.5e5};
  s.tile_rows = {64, 128};
  s.tmr = {1.5};
  s.time_s = {0.0, 1e3};
  s.temperature_k = {300.0};
  s.chips = 3;
  s.seed = 18446744073709551615ULL;
  s.test_images = 17;
  s.dataset = "fashion-mnist";
  s.data_dir = "data/x";
  s.measure_energy = false;
  s.torchscript = {"n.pt"};
  s.import.weight_levels = 5;
  s.import.threshold_ratios = {0.5};
  s.import.refit = false;
  s.energy.images = 7;
  s.energy.adc.fom = energy::AdcOptions::Fom::kSchreier;
  s.energy.dac.source = "";
  s.energy.digital.node = "22 nm";
  s.chip.read_voltage_v = 0.1;
  s.threads = 2;
  s.progress = false;
  c["sweep/everything"] = s.ToJson().dump();

  nn::TrainOptions t;
  c["train/defaults"] = t.ToJson().dump();
  t.data_dir = "d/e";
  t.dataset = "npy:nhwc";
  t.seed = 18446744073709551615ULL;
  t.epochs = 0;
  t.learning_rate = 1e-5;
  t.sigma_train = 0.25;
  t.augment = true;
  t.train_subset = 100;
  t.init_from = "m.pt";
  c["train/init_from"] = t.ToJson().dump();
  t.init_from_hash = "0123456789abcdef";
  t.ranks = 2;
  t.hardware = {{"wire_ohm", 3.0}, {"every", 10}};
  c["train/everything"] = t.ToJson().dump();

  nn::NetworkOptions n;
  c["network/defaults"] = n.ToJson().dump();
  n.arch = "resnet26";
  n.in_channels = 3;
  n.image_size = 32;
  n.classes = 100;
  n.width = 4;
  n.weight_levels = 5;
  n.float_first_last = true;
  c["network/resnet26"] = n.ToJson().dump();
  n.arch = "sequential";
  c["network/sequential"] = n.ToJson().dump();

  nn::ImportOptions i;
  c["import/defaults"] = i.ToJson().dump();
  i.weight_levels = 7;
  i.threshold_ratios = {0.7};
  i.input_alpha = 2.5;
  i.calibration_images = 3;
  c["import/everything"] = i.ToJson().dump();

  for (const char* stem : {"sot_mram", "stt_mram", "flash", "rram", "pcm", "pcm_mlc"})
    c[std::string("card/") + stem] =
        device::LoadCard(device::PresetCardPath(stem))->ToJson().dump();
  c["card/sot_mram_at_4e6"] =
      device::LoadCard(device::PresetCardPath("sot_mram"))->WithRon(4e6)->ToJson().dump();

  energy::EnergyOptions e;
  c["energy/defaults"] = e.ToJson().dump();
  e.dac.source = "";
  e.adc.fom = energy::AdcOptions::Fom::kSchreier;
  e.adc.bits = 6;
  e.digital.node_scale = 0.3;
  e.read_time_s = 1e-8;
  e.tiles_parallel = false;
  e.split_mvms = 0;
  c["energy/everything"] = e.ToJson().dump();
  return c;
}

TEST(OptionsJson, IsTheBytesOfTheHandWrittenWriters) {
  const std::map<std::string, std::string> cases = Cases();
  if (std::getenv("AIMC_WRITE_OPTIONS_JSON") != nullptr) {
    std::ofstream(kGolden) << nlohmann::json(cases).dump(1) << "\n";
    GTEST_SKIP() << "wrote " << kGolden;
  }
  std::ifstream in(kGolden);
  ASSERT_TRUE(in) << kGolden;
  const auto golden = nlohmann::json::parse(in).get<std::map<std::string, std::string>>();
  ASSERT_EQ(golden.size(), cases.size());
  for (const auto& [name, text] : golden) {
    ASSERT_TRUE(cases.count(name)) << name;
    EXPECT_EQ(cases.at(name), text) << name;
  }
}

// What ToJson writes, FromJson reads back to the same options (where the struct has FromJson).
TEST(OptionsJson, ReadsBackWhatItWrites) {
  nn::TrainOptions t;
  t.init_from = "m.pt";
  t.init_from_hash = "0123456789abcdef";
  t.ranks = 4;
  t.epochs = 0;
  EXPECT_EQ(nn::TrainOptions::FromJson(t.ToJson()).ToJson(), t.ToJson());
  nn::NetworkOptions n;
  n.weight_levels = 9;
  EXPECT_EQ(nn::NetworkOptions::FromJson(n.ToJson()).ToJson(), n.ToJson());
  energy::EnergyOptions e;
  e.adc.fom = energy::AdcOptions::Fom::kSchreier;
  e.images = 3;
  energy::EnergyOptions back;
  energy::EnergyOptionsFields().FromJson(e.ToJson(), back);
  EXPECT_EQ(back.ToJson(), e.ToJson());
}

// Every shipped model's info (network and training options, history), read and written again,
// is the text the model file holds: content hashes of models stay what they were.
TEST(OptionsJson, ShippedModelsKeepTheirInfoBytes) {
  int models = 0;
  for (const auto& entry : std::filesystem::directory_iterator(AIMC_SOURCE_DIR "/models")) {
    if (entry.path().extension() != ".pt") continue;
    torch::serialize::InputArchive archive;
    archive.load_from(entry.path().string());
    c10::IValue value;
    ASSERT_TRUE(archive.try_read("aimc_info", value) && value.isString()) << entry.path();
    const std::string text = value.toStringRef();
    EXPECT_EQ(nn::ModelInfo::FromJson(nlohmann::json::parse(text)).ToJson().dump(), text)
        << entry.path();
    ++models;
  }
  EXPECT_GE(models, 8);
}

}  // namespace
}  // namespace aimc::experiment
