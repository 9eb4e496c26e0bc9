#include "aimc/experiment/chip_config.h"

#include <array>
#include <fstream>
#include <iterator>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "aimc/circuit/wires.h"
#include "aimc/common/error.h"
#include "aimc/common/toml_reader.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/chip_run.h"
#include "aimc/nn/evaluate.h"
#include "../common/test_error.h"

namespace aimc::experiment {
namespace {

using ::testing::HasSubstr;

// Result caches (the study's figures, sweeps) are keyed on ChipOptions' JSON: the field table
// must write the bytes the hand-written writer did. Reference: that writer's output for the
// defaults (tiles 1024 x 512, 0.2 V, ideal arrays, no ADC), as it was before the table.
TEST(ChipOptions, JsonIsTheCacheKeyOfEarlierVersions) {
  EXPECT_EQ(ChipOptions{}.ToJson().dump(),
            R"({"adc_bits":0,"adc_full_scale_fraction":0.25,"crossbar":{"access_ohm":0.0,)"
            R"("drive":"left","driver_ohm":0.0,"sense":"bottom","sense_ohm":0.0,)"
            R"("wire_col_ohm":0.0,"wire_row_ohm":0.0},"layout":"columns","read_voltage_v":0.2,)"
            R"("tile_cols":512,"tile_rows":1024})");
  ChipOptions o;
  o.time_s = 3600;
  o.calibration_images = 8;
  o.crossbar.driver_ohm = 100;
  const nlohmann::json j = o.ToJson();
  EXPECT_EQ(j["time_s"], 3600.0);
  EXPECT_EQ(j["calibration_images"], 8);
  EXPECT_EQ(j["crossbar"]["driver_ohm"], 100.0);
  EXPECT_FALSE(j.contains("driver_ohm"));
  EXPECT_FALSE(j.contains("temperature_k"));
}

TEST(ChipConfig, JsonRoundTripsEveryField) {
  ChipConfig c;
  c.card = "sot_mram";
  c.r_on_ohm = 1.5e6;
  c.wires = "layout22nm";
  c.wire_scale = 2.0;
  c.chip.tile_rows = 128;
  c.chip.read_voltage_v = 0.1;
  c.chip.adc_bits = 6;
  c.chip.crossbar.sense = circuit::SenseSide::kBoth;
  c.chip.time_s = 86400;
  c.chip.temperature_k = 358.15;
  c.chip.drift_compensation = DriftCompensation::kColumn;
  c.chip.calibration_images = 64;
  const nlohmann::json j = c.ToJson();
  EXPECT_EQ(j["sense"], "both");
  EXPECT_EQ(j["drift_compensation"], "column");
  EXPECT_EQ(ChipConfig::FromJson(j).ToJson(), j);
  // A JSON number that is an integer is a fine double; a key nobody declared is not.
  EXPECT_EQ(ChipConfig::FromJson({{"wire_ohm", 3}}).wire_ohm, 3.0);
  EXPECT_THAT(ErrorMessage([] { ChipConfig::FromJson({{"wire_ohms", 3.0}}); }),
              HasSubstr("unknown option 'wire_ohms'"));
  EXPECT_THAT(ErrorMessage([] { ChipConfig::FromJson({{"tile_rows", 2.5}}); }),
              HasSubstr("tile_rows must be an integer"));
  EXPECT_THAT(ErrorMessage([] { ChipConfig::FromJson({{"adc_bits", 4294967297LL}}); }),
              HasSubstr("does not fit a 32-bit int"));
}

TEST(ChipConfig, ValidateNamesTheFieldAndWhatGoesTogether) {
  const auto message = [](auto edit) {
    ChipConfig c;
    c.card = "sot_mram";
    edit(c);
    return ErrorMessage([&] { c.Validate(); });
  };
  EXPECT_EQ(message([](ChipConfig&) {}), "");
  EXPECT_THAT(message([](ChipConfig& c) { c.chip.read_voltage_v = -1; }),
              HasSubstr("read_voltage_v must be in [0.001, 10] V, got -1"));
  // A read voltage far below any sense amplifier's offset gave NaN energies and noise.
  EXPECT_THAT(message([](ChipConfig& c) { c.chip.read_voltage_v = 1e-200; }),
              HasSubstr("read_voltage_v must be in [0.001, 10] V, got 1e-200"));
  EXPECT_THAT(message([](ChipConfig& c) { c.r_on_ohm = std::nan(""); }),
              HasSubstr("r_on_ohm must be a finite number"));
  EXPECT_EQ(message([](ChipConfig& c) { c.chip.temperature_k = 25; }), "");  // cryogenic is fine
  EXPECT_THAT(message([](ChipConfig& c) { c.chip.temperature_k = 0.5; }),
              HasSubstr("temperature_k must be in [1, 1000] K"));
  EXPECT_THAT(message([](ChipConfig& c) { c.chip.adc_bits = 1; }),
              HasSubstr("adc_bits must be 0 (no ADC) or in [2, 24], got 1"));
  EXPECT_THAT(message([](ChipConfig& c) { c.wire_ohm = 1e-20; }),
              HasSubstr("wire_ohm must be 0 (ideal) or within"));
  EXPECT_THAT(message([](ChipConfig& c) { c.wires = "layout7nm"; }),
              HasSubstr("wires must be a wire preset (layout22nm) or empty, got 'layout7nm'"));
  EXPECT_THAT(message([](ChipConfig& c) {
                c.wires = "layout22nm";
                c.wire_ohm = 3;
              }),
              HasSubstr("exclude each other"));
  EXPECT_THAT(message([](ChipConfig& c) { c.wire_scale = 2; }), HasSubstr("wire_scale = 2 needs wires"));
  EXPECT_THAT(message([](ChipConfig& c) { c.sigma_w_test = 0.1; }),
              HasSubstr("sigma_w_test = 0.1 and card = 'sot_mram' exclude each other"));
  // Without a card every device, wire and array option is a mistake, named.
  for (const auto& [edit, field] :
       std::vector<std::pair<std::function<void(ChipConfig&)>, std::string>>{
           {[](ChipConfig& c) { c.wire_ohm = 20; }, "wire_ohm = 20 needs a card"},
           {[](ChipConfig& c) { c.r_on_ohm = 1e6; }, "r_on_ohm = 1000000 needs a card"},
           {[](ChipConfig& c) { c.chip.tile_rows = 64; }, "tile_rows = 64 needs a card"},
           {[](ChipConfig& c) { c.chip.time_s = 10; }, "time_s = 10 needs a card"},
           {[](ChipConfig& c) { c.chip.calibration_images = 8; }, "calibration_images = 8 needs a card"}}) {
    ChipConfig c;
    c.sigma_w_test = 0.1;
    edit(c);
    EXPECT_THAT(ErrorMessage([&] { c.Validate(); }), HasSubstr(field));
  }
}

// The wires of a preset are the preset's segments times the scale (circuit::WirePreset's own
// numbers); wire_ohm is both segments.
TEST(ChipConfig, OptionsApplyTheWires) {
  ChipConfig c;
  c.card = "sot_mram";
  c.wires = "layout22nm";
  c.wire_scale = 0.5;
  const circuit::WirePreset preset = circuit::Layout22nm();
  EXPECT_DOUBLE_EQ(c.Options().crossbar.wire_row_ohm, 0.5 * preset.row_segment_ohm());
  EXPECT_DOUBLE_EQ(c.Options().crossbar.wire_col_ohm, 0.5 * preset.col_segment_ohm());
  c.wires.clear();
  c.wire_scale = 1;
  c.wire_ohm = 7;
  EXPECT_EQ(c.Options().crossbar.wire_row_ohm, 7.0);
  EXPECT_EQ(c.Options().crossbar.wire_col_ohm, 7.0);
  c.r_on_ohm = 2e6;
  EXPECT_DOUBLE_EQ(c.LoadCard()->r_on_ohm(), 2e6);
  EXPECT_EQ(ChipConfig{}.LoadCard(), nullptr);
}

// Command-line text: the whole text must be a number of the field's kind.
TEST(ChipConfig, TextIsReadAsTheFieldsKind) {
  const FieldTable<ChipConfig>& t = ChipConfigFields();
  ChipConfig c;
  t.SetFromText(c, t.at("wire_ohm"), "1e3");
  EXPECT_EQ(c.wire_ohm, 1000.0);
  t.SetFromText(c, t.at("tile_rows"), "256");
  EXPECT_EQ(c.chip.tile_rows, 256);
  t.SetFromText(c, t.at("drift_compensation"), "array");
  EXPECT_EQ(c.chip.drift_compensation, DriftCompensation::kArray);
  // Refused, naming the field: {field, text, what the message says}.
  for (const auto& row : std::vector<std::array<std::string, 3>>{
           {"wire_ohm", "20ohm", "wire_ohm must be a number, got '20ohm'"},
           {"r_on_ohm", "nan", "r_on_ohm must be a finite number"},
           {"adc_bits", "99999999999", "does not fit a 32-bit int"},
           {"tile_rows", "99999999999999999999", "does not fit a 64-bit integer"},
           {"tile_rows", "1.5", "tile_rows must be an integer"},
           {"drift_compensation", "row", "drift_compensation must be none, array or column, got 'row'"}})
    EXPECT_THAT(ErrorMessage([&] { t.SetFromText(c, t.at(row[0]), row[1]); }), HasSubstr(row[2]));
  // Every field has a flag, a help text and a line in the documentation's table.
  const std::string doc = t.Markdown();
  for (const auto& f : t.fields()) {
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_THAT(doc, HasSubstr("`" + f.flag() + "`"));
  }
}

// A sweep's [chip] table is read through the same fields: errors name the file and the key.
TEST(ChipConfig, TomlTablesAreReadByTheFields) {
  const TomlReader t = TomlReader::FromString(
      "tile_rows = 64\nread_voltage_v = 0.1\nlayout = \"rows\"\nadc_bits = 5\n", "exp.toml");
  ChipOptions o;
  ChipOptionsFields().ReadToml(t, o);
  t.RejectUnknown();
  EXPECT_EQ(o.tile_rows, 64);
  EXPECT_EQ(o.read_voltage_v, 0.1);
  EXPECT_EQ(o.layout, circuit::PairLayout::kRows);
  EXPECT_EQ(o.adc_bits, 5);
  const TomlReader bad = TomlReader::FromString("drive = \"right\"\n", "exp.toml");
  EXPECT_THAT(ErrorMessage([&] { ChipOptionsFields().ReadToml(bad, o); }),
              HasSubstr("exp.toml"));
  EXPECT_THAT(ErrorMessage([&] { ChipOptionsFields().ReadToml(bad, o); }),
              HasSubstr("drive must be left or both, got 'right'"));
}

// docs/sweep.md's "Chip options" table is the field table's own Markdown, row for row, so that
// the documentation cannot miss an option.
TEST(ChipConfig, DocsListEveryField) {
  std::ifstream in(std::string(AIMC_SOURCE_DIR) + "/docs/sweep.md");
  ASSERT_TRUE(in.good());
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rows(ChipConfigFields().Markdown());
  for (std::string row; std::getline(rows, row);)
    EXPECT_THAT(doc, HasSubstr(row)) << "docs/sweep.md lacks this row of the chip options";
}

nn::Network LeNet(std::uint64_t seed) {
  nn::NetworkOptions o;
  o.arch = "lenet5";
  auto net = nn::MakeNetwork(o, seed);
  net->eval();
  return net;
}

// A second chip on a programmed network is refused (it would have reprogrammed the first, and
// destroying either would have cleared the other's); once the first is gone the network is free.
TEST(Chip, ProgrammingIsExclusive) {
  auto net = LeNet(4);
  torch::manual_seed(1);
  const torch::Tensor images = torch::rand({8, 1, 28, 28});
  const ChipSpec noisy = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(0.3));
  torch::Tensor first;
  {
    const Chip chip(*net, noisy, 7);
    first = net->forward(images);
    EXPECT_THAT(ErrorMessage([&] { Chip second(*net, noisy, 8); }),
                HasSubstr("already programmed with a chip (seed 7)"));
    nn::Dataset data;
    data.images = torch::zeros({4, 1, 28, 28}, torch::kUInt8);
    data.labels = torch::zeros({4}, torch::kLong);
    data.classes = 10;
    EXPECT_THAT(ErrorMessage([&] { EvaluateChips(*net, data, noisy, {1, 2}); }),
                HasSubstr("already programmed"));
    // The refused attempts left the first chip as it was.
    EXPECT_TRUE(torch::equal(net->forward(images), first));
  }
  const Chip again(*net, noisy, 7);
  EXPECT_TRUE(torch::equal(net->forward(images), first));
}

// RunChips is TestChips with the configuration resolved. Reference: the spec built by hand from
// the card and the options (not through ChipConfig): the same chips, seed for seed.
TEST(RunChips, EqualsTestChipsOfTheResolvedSpec) {
  auto net = LeNet(5);
  torch::manual_seed(2);
  nn::DataSplit data;
  data.test.images = torch::randint(0, 256, {60, 1, 28, 28}, torch::kUInt8);
  data.test.labels = net->forward(nn::ToInput(data.test.images)).argmax(1);
  data.test.classes = 10;
  data.train = data.test;
  ChipConfig config;
  config.card = "sot_mram";
  config.r_on_ohm = 1.5e6;
  config.wire_ohm = 20;
  config.chip.tile_rows = 128;
  ChipRunOptions options;
  options.chips = 2;
  options.seed = 3;
  options.test_images = 50;
  const ChipRun run = RunChips(*net, data, config, options);
  ChipOptions by_hand;
  by_hand.tile_rows = 128;
  by_hand.crossbar.wire_row_ohm = by_hand.crossbar.wire_col_ohm = 20;
  const ChipSpec spec = ChipSpec::Devices(
      std::shared_ptr<const device::DeviceCard>(device::LoadCardOrPreset("sot_mram")->WithRon(1.5e6)),
      by_hand);
  const ChipStats reference = TestChips(*net, data.test.Head(50), spec, 2, 3);
  EXPECT_EQ(run.stats.accuracies, reference.accuracies);
  EXPECT_EQ(run.test_images, 50);
  EXPECT_THAT(run.chip, HasSubstr("SOT-MRAM"));
  options.chips = 0;
  EXPECT_THAT(ErrorMessage([&] { RunChips(*net, data, config, options); }),
              HasSubstr("chips must be >= 1"));
}

}  // namespace
}  // namespace aimc::experiment
