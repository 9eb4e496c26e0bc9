#include "aimc/experiment/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "aimc/common/error.h"
#include "aimc/common/manifest.h"
#include "aimc/nn/model_io.h"
#include "../common/test_error.h"
#include "../common/test_dir.h"

namespace aimc::experiment {
namespace {

namespace fs = std::filesystem;

fs::path Dir() {
  static const TempDir dir("aimc_sweep_test");  // one per test program, removed at its exit
  return dir.path();
}

/// An untrained LeNet-5 saved as a model for Fashion-MNIST: enough to exercise the sweep
/// machinery (accuracy values are not the subject here).
fs::path SavedModel() {
  // One file per test process: CTest runs the tests of this file in parallel.
  const fs::path path = Dir() / ("lenet_" + std::to_string(::getpid()) + ".pt");
  if (fs::exists(path)) return path;
  nn::ModelInfo info;
  info.network.arch = "lenet5";
  info.network.in_channels = 1;
  info.network.image_size = 28;
  info.network.classes = 10;
  info.training.dataset = "fashion-mnist";
  auto net = nn::MakeNetwork(info.network, 1);
  nn::SaveModel(path, *net, info);
  return path;
}

SweepOptions CardSweep() {
  SweepOptions o;
  o.name = "test";
  o.models = {SavedModel()};
  o.cards = {"sot_mram"};
  o.r_on_ohm = {2e6, 6e6};
  o.wire_ohm = {0.0, 5.0};
  o.chips = 2;
  o.test_images = 64;
  o.progress = false;
  return o;
}

TEST(Sweep, ResumesAfterAKillWithoutLosingOrRepeatingPoints) {
  const fs::path clean = Dir() / "clean.csv";
  const fs::path killed = Dir() / "killed.csv";
  fs::remove(clean);
  fs::remove(killed);
  const SweepOptions o = CardSweep();
  const Table full = RunSweep(o, clean, "test");
  ASSERT_EQ(full.rows.size(), 8u);  // 2 R_ON x 2 wires x 2 chips

  // A run killed after three points, in the middle of writing the fourth line (its manifest was
  // written before the first row).
  fs::copy_file(Dir() / "clean.json", Dir() / "killed.json", fs::copy_options::overwrite_existing);
  {
    std::ifstream in(clean);
    std::ofstream out(killed);
    std::string line;
    for (int i = 0; i < 4 && std::getline(in, line); ++i) out << line << '\n';
    std::getline(in, line);
    out << line.substr(0, line.size() / 2);
  }
  const Table resumed = RunSweep(o, killed, "test");
  ASSERT_EQ(resumed.rows.size(), 8u);
  const Table on_disk = ReadCsv(killed);
  ASSERT_EQ(on_disk.rows.size(), 8u);
  // Every point once, with the values of the uninterrupted run (the chips are seeded).
  std::set<std::vector<double>> a, b;
  const std::size_t n = SweepKeyColumns() + 2;  // the key, accuracy and error
  for (const auto& r : full.rows) a.insert(std::vector<double>(r.begin(), r.begin() + n));
  for (const auto& r : on_disk.rows) b.insert(std::vector<double>(r.begin(), r.begin() + n));
  EXPECT_EQ(a, b);
  // A third run has nothing to do.
  EXPECT_EQ(RunSweep(o, killed, "test").rows.size(), 8u);
  EXPECT_EQ(ReadCsv(killed).rows.size(), 8u);
  // Rows without the manifest that says what they measured are not extended.
  fs::remove(Dir() / "killed.json");
  EXPECT_THROW(RunSweep(o, killed, "test"), Error);
}

TEST(Sweep, NoiseModeIsSeededAndZeroNoiseIsDeterministic) {
  SweepOptions o;
  o.name = "noise";
  o.models = {SavedModel()};
  o.sigma_w_test = {0.0, 0.3};
  o.chips = 2;
  o.test_images = 64;
  o.progress = false;
  const fs::path csv = Dir() / "noise.csv";
  fs::remove(csv);
  const Table t = RunSweep(o, csv, "test");
  ASSERT_EQ(t.rows.size(), 4u);
  // sigma 0: both chips are the noise-free network.
  EXPECT_EQ(MeanWhere(t, "accuracy", {{"sigma_w_test", 0.0}, {"chip", 0}}),
            MeanWhere(t, "accuracy", {{"sigma_w_test", 0.0}, {"chip", 1}}));
}

// A result file and its manifest never disagree: a rerun of another experiment into the same file
// is refused, naming what changed, and --restart starts a new result.
TEST(Sweep, RerunWithOtherOptionsIsRefusedNamingWhatChanged) {
  const fs::path csv = Dir() / "changed.csv";
  fs::remove(csv);
  SweepOptions o = CardSweep();
  o.r_on_ohm = {6e6};
  o.wire_ohm = {0.0};
  o.chips = 1;
  ASSERT_EQ(RunSweep(o, csv, "test").rows.size(), 1u);
  const auto refused = [&](SweepOptions changed, const std::string& what) {
    try {
      RunSweep(changed, csv, "test");
      ADD_FAILURE() << "a rerun with another " << what << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
    EXPECT_EQ(ReadCsv(csv).rows.size(), 1u);  // nothing appended
  };
  SweepOptions seed = o;
  seed.seed = 2;
  refused(seed, "seed");
  SweepOptions images = o;
  images.test_images = 32;
  refused(images, "test_images");
  SweepOptions card = o;
  card.cards = {"stt_mram"};  // another card at the same position
  card.r_on_ohm = {};
  refused(card, "card_parameters[0]");
  // The same experiment resumes (nothing to do); another one can start anew.
  EXPECT_EQ(RunSweep(o, csv, "test").rows.size(), 1u);
  const Table fresh = RunSweep(seed, csv, "test", OnChange::kRestart);
  ASSERT_EQ(fresh.rows.size(), 1u);
  EXPECT_EQ(ReadCsv(csv).rows.size(), 1u);
  fs::path manifest = csv;
  manifest.replace_extension(".json");
  EXPECT_EQ(ReadJson(manifest)["definition"]["seed"], 2);
}

// The CSV's columns are derived from SweepRow's fields, and a row reads back as it was written.
TEST(Sweep, RowsRoundTripThroughTheirColumns) {
  SweepRow row;
  row.point.model = 2;
  row.point.card = 1;
  row.point.r_on_ohm = 6e6;
  row.point.wire_ohm = 1.94;
  row.point.tile_rows = 256;
  row.point.tmr = 1.5;
  row.point.chip = 3;
  row.model_id = 0xabcdef123456ull;
  row.card_id = 0xffffffffffffull;
  row.accuracy = 0.875;
  row.error_pct = 12.5;
  row.test_images = 10000;
  row.energy_pj = 123.5;
  row.array_pj = 12.25;
  row.tops_per_w = 40.0;
  const std::vector<double> values = ToCsvRow(row);
  ASSERT_EQ(values.size(), SweepColumns().size());
  EXPECT_EQ(SweepColumns()[5], "tile_rows");
  const SweepRow back = FromCsvRow(values);
  EXPECT_EQ(ToCsvRow(back), values);
  EXPECT_EQ(back.model_id, row.model_id);
  std::vector<double> bad = values;
  bad[5] = 2.5;  // tile_rows must be whole
  EXPECT_THROW(FromCsvRow(bad), Error);
}

// What `aimc sweep` meets before any point runs: the file read and validated, the files it
// names checked. The error's message ("" when none), which names the experiment file.
std::string LoadError(const std::string& name, const std::string& text) {
  const fs::path path = Dir() / name;
  std::ofstream(path) << text;
  try {
    CheckSweepInputs(LoadSweep(path));
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    return message;
  }
  return "";
}

TEST(Sweep, BadExperimentFilesAreRefusedBeforeAnyWork) {
  const std::string model = SavedModel().string();
  const std::string good = "name = 'x'\nmodels = ['" + model + "']\ncards = ['sot_mram']\n" +
                           "test_images = 10\n[axes]\nr_on_ohm = [6e6]\nwire_ohm = [0.0]\n";
  EXPECT_EQ(LoadError("good.toml", good), "");
  EXPECT_NE(LoadError("unknown.toml", good + "colour = 'red'\n").find("unknown key 'axes.colour'"),
            std::string::npos);
  EXPECT_NE(LoadError("missing.toml", "models = ['/nonexistent/m.pt']\n").find("no such file"),
            std::string::npos);
  EXPECT_NE(LoadError("dataset.toml", "models = ['" + model + "']\ndataset = 'cifar100'\n")
                .find("takes 1x28x28 images and 10 classes, but dataset 'cifar100'"),
            std::string::npos);
  EXPECT_NE(LoadError("ron.toml", "models = ['" + model + "']\ncards = ['sot_mram']\n" +
                                      "[axes]\nr_on_ohm = [1e3]\n")
                .find("cannot produce R_ON"),
            std::string::npos);
  EXPECT_NE(LoadError("empty.toml", "models = ['" + model + "']\n[axes]\nsigma_w_test = []\n")
                .find("axes.sigma_w_test': the axis has no values"),
            std::string::npos);
  EXPECT_NE(LoadError("wire.toml", "models = ['" + model + "']\n[axes]\nwire_ohm = [2.0]\n")
                .find("needs cards"),
            std::string::npos);
  // Read conditions: axes with cards, the compensation by name.
  EXPECT_EQ(LoadError("time.toml", good + "time_s = [0.0, 3600.0]\ntemperature_k = [300.0, 350.0]\n"
                                          "[chip]\ndrift_compensation = 'column'\n"),
            "");
  EXPECT_NE(LoadError("time_neg.toml", good + "time_s = [-1.0]\n").find("axes.time_s"),
            std::string::npos);
  EXPECT_NE(LoadError("kelvin.toml", good + "temperature_k = [25.0, -5.0]\n").find("axes.temperature_k"),
            std::string::npos);
  EXPECT_NE(LoadError("comp.toml", good + "[chip]\ndrift_compensation = 'row'\n")
                .find("drift_compensation"),
            std::string::npos);
  EXPECT_NE(LoadError("time_noise.toml", "models = ['" + model + "']\n[axes]\ntime_s = [10.0]\n")
                .find("need cards"),
            std::string::npos);
}

// A result written before the read-condition and energy columns existed continues: its rows
// were chips read at 0 s and 298.15 K whose energy was not measured (NaN), the file gets the
// columns, and no point is run again.
TEST(Sweep, ResultWithoutReadConditionOrEnergyColumnsContinues) {
  const fs::path csv = Dir() / "before_read_conditions.csv";
  fs::remove(csv);
  SweepOptions o = CardSweep();
  o.r_on_ohm = {6e6};
  o.wire_ohm = {0.0};
  const Table full = RunSweep(o, csv, "test");
  ASSERT_EQ(full.rows.size(), 2u);
  const std::set<std::string> newer = {"time_s", "temperature_k", "energy_pj", "array_pj",
                                       "tops_per_w"};
  for (const bool with_read : {false, true}) {
    Table old{{}, full.rows};
    std::vector<std::size_t> dropped;
    for (std::size_t i = 0; i < full.columns.size(); ++i) {
      const bool is_read = full.columns[i] == "time_s" || full.columns[i] == "temperature_k";
      if (newer.count(full.columns[i]) && !(with_read && is_read)) {
        dropped.push_back(i);
      } else {
        old.columns.push_back(full.columns[i]);
      }
    }
    ASSERT_EQ(dropped.size(), with_read ? 3u : 5u);
    for (auto& row : old.rows)
      for (auto it = dropped.rbegin(); it != dropped.rend(); ++it)
        row.erase(row.begin() + static_cast<std::ptrdiff_t>(*it));
    WriteCsv(csv, old);
    const Table resumed = RunSweep(o, csv, "test");
    EXPECT_EQ(ReadCsv(csv).columns, full.columns);
    ASSERT_EQ(resumed.rows.size(), full.rows.size());
    for (std::size_t r = 0; r < full.rows.size(); ++r)
      for (std::size_t c = 0; c < full.columns.size(); ++c) {
        if (full.columns[c] == "energy_pj" || full.columns[c] == "array_pj" ||
            full.columns[c] == "tops_per_w") {
          EXPECT_TRUE(std::isnan(resumed.rows[r][c])) << full.columns[c];
        } else {
          EXPECT_EQ(resumed.rows[r][c], full.rows[r][c]) << full.columns[c];
        }
      }
  }
}

// Every device-mode point measures the energy of an inference on its chip: positive, the arrays
// a part of it, and less of it at the higher R_ON; weight-noise points have none (NaN).
TEST(Sweep, DevicePointsCarryEnergyPerInference) {
  const fs::path csv = Dir() / "energy.csv";
  fs::remove(csv);
  SweepOptions o = CardSweep();
  o.chips = 1;
  o.wire_ohm = {5.0};
  o.energy.images = 8;
  const Table t = RunSweep(o, csv, "test");
  ASSERT_EQ(t.rows.size(), 2u);
  const std::size_t e = t.Column("energy_pj"), a = t.Column("array_pj"),
                    w = t.Column("tops_per_w"), r = t.Column("r_on_ohm");
  for (const auto& row : t.rows) {
    EXPECT_GT(row[e], row[a]);
    EXPECT_GT(row[a], 0.0);
    EXPECT_GT(row[w], 0.0);
  }
  ASSERT_LT(t.rows[0][r], t.rows[1][r]);
  // 2 MOhm against 6 MOhm: about 3x the array energy (IR drop changes the activations a little).
  EXPECT_NEAR(t.rows[0][a] / t.rows[1][a], 3.0, 0.3);
  // The energy options are part of the definition only where they differ from the defaults.
  EXPECT_FALSE(CardSweep().ToJson().contains("energy"));
  EXPECT_TRUE(o.ToJson().contains("energy"));

  const fs::path noise_csv = Dir() / "noise_energy.csv";
  fs::remove(noise_csv);
  SweepOptions n;
  n.models = {SavedModel()};
  n.sigma_w_test = {0.1};
  n.test_images = 16;
  n.progress = false;
  const Table nt = RunSweep(n, noise_csv, "test");
  ASSERT_EQ(nt.rows.size(), 1u);
  EXPECT_TRUE(std::isnan(nt.rows[0][nt.Column("energy_pj")]));
}

// Calibration is a chip option of card-mode sweeps: it runs, it is part of the definition, and
// a negative count or a weight-noise sweep with it is refused naming the key.
TEST(Sweep, CalibratedChips) {
  const fs::path csv = Dir() / "calibrated.csv";
  fs::remove(csv);
  SweepOptions o = CardSweep();
  o.chips = 1;
  o.r_on_ohm = {6e6};
  o.wire_ohm = {30.0};
  o.chip.calibration_images = 16;
  o.measure_energy = false;
  const Table t = RunSweep(o, csv, "test");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(o.ToJson()["chip"]["calibration_images"], 16);
  const std::string model = SavedModel().string();
  const std::string good = "name = 'x'\nmodels = ['" + model + "']\ncards = ['sot_mram']\n" +
                           "test_images = 10\n[axes]\nr_on_ohm = [6e6]\nwire_ohm = [0.0]\n";
  EXPECT_NE(LoadError("calib_neg.toml", good + "[chip]\ncalibration_images = -4\n")
                .find("calibration_images"),
            std::string::npos);
  EXPECT_NE(LoadError("calib_noise.toml",
                      "models = ['" + model + "']\n[chip]\ncalibration_images = 8\n")
                .find("need cards"),
            std::string::npos);
}

TEST(Sweep, EnergyTableOfAnExperimentFile) {
  const std::string model = SavedModel().string();
  const std::string good = "name = 'x'\nmodels = ['" + model + "']\ncards = ['sot_mram']\n" +
                           "test_images = 10\n[axes]\nr_on_ohm = [6e6]\nwire_ohm = [0.0]\n";
  const fs::path path = Dir() / "energy_table.toml";
  std::ofstream(path) << good + "[energy]\nimages = 5\n[energy.adc]\nfom = 'schreier'\n"
                                "schreier_db = 170.0\ncolumns_per_adc = 4\n";
  const SweepOptions o = LoadSweep(path);
  EXPECT_EQ(o.energy.images, 5);
  EXPECT_EQ(o.energy.adc.fom, energy::AdcOptions::Fom::kSchreier);
  EXPECT_EQ(o.energy.adc.columns_per_adc, 4);
  // A value changed without its own source is the user's assumption.
  EXPECT_EQ(energy::SourceOrAssumed(o.energy.adc.source), "assumed");
  EXPECT_NE(LoadError("energy_bad.toml", good + "[energy.adc]\nwalden_fj_per_step = -2.0\n")
                .find("energy.adc.walden_fj_per_step"),
            std::string::npos);
  EXPECT_NE(LoadError("energy_fom.toml", good + "[energy.adc]\nfom = 'murmann'\n").find("fom"),
            std::string::npos);
  EXPECT_NE(LoadError("energy_key.toml", good + "[energy]\nimagez = 5\n").find("imagez"),
            std::string::npos);
}

// Validate reads no file: options naming a card file and a model that do not exist pass it. The
// input check refuses them, naming the file, and RunSweep runs it before it writes anything.
TEST(Sweep, ValidateReadsNoFileAndTheInputCheckNamesTheMissingOne) {
  SweepOptions card = CardSweep();
  const std::string card_file = (Dir() / "no_such_card.toml").string();
  card.cards = {card_file};
  EXPECT_NO_THROW(card.Validate());
  const std::string card_error = ErrorMessage([&] { CheckSweepInputs(card); });
  EXPECT_NE(card_error.find("cards[0] = '" + card_file + "'"), std::string::npos) << card_error;

  SweepOptions model = CardSweep();
  const fs::path model_file = Dir() / "no_such_model.pt";
  model.models = {model_file};
  EXPECT_NO_THROW(model.Validate());
  const std::string model_error = ErrorMessage([&] { CheckSweepInputs(model); });
  EXPECT_NE(model_error.find("models[0] = '" + model_file.string() + "': no such file"),
            std::string::npos)
      << model_error;

  const fs::path csv = Dir() / "missing_card.csv";
  fs::remove(csv);
  EXPECT_EQ(ErrorMessage([&] { RunSweep(card, csv, "test"); }), card_error);
  EXPECT_FALSE(fs::exists(csv));
}

// The migration leaves a table of today's columns, or of columns no sweep wrote, as it is.
TEST(Sweep, UpgradeLeavesCurrentAndForeignTablesAlone) {
  Table now{SweepColumns(), {std::vector<double>(SweepColumns().size(), 1.0)}};
  EXPECT_FALSE(UpgradeSweepTable(now));
  EXPECT_EQ(now.columns, SweepColumns());
  Table foreign{{"a", "b"}, {{1.0, 2.0}}};
  EXPECT_FALSE(UpgradeSweepTable(foreign));
  EXPECT_EQ(foreign.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(foreign.rows[0], (std::vector<double>{1.0, 2.0}));
}

// A point's read conditions are key columns; a default experiment's definition does not mention
// them, so results written before they existed continue.
TEST(Sweep, ReadConditionsAreKeyColumnsAndAbsentFromADefaultDefinition) {
  const std::vector<std::string>& c = SweepColumns();
  const auto at = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(c.begin(), c.end(), name) - c.begin());
  };
  EXPECT_LT(at("time_s"), SweepKeyColumns());
  EXPECT_LT(at("temperature_k"), SweepKeyColumns());
  EXPECT_LT(at("card_id"), SweepKeyColumns());
  SweepOptions o;
  EXPECT_EQ(o.ToJson()["axes"].dump().find("time_s"), std::string::npos);
  o.time_s = {0.0, 10.0};
  EXPECT_EQ(o.ToJson()["axes"]["time_s"].size(), 2u);
}

}  // namespace
}  // namespace aimc::experiment

namespace aimc::experiment {
namespace {

// The shipped example experiments stay valid: models there, cards able to make every R_ON.
TEST(Sweep, ShippedExperimentFilesLoad) {
  int files = 0;
  for (const auto& entry :
       fs::directory_iterator(fs::path(AIMC_SOURCE_DIR) / "configs" / "experiments")) {
    if (entry.path().extension() != ".toml" || entry.path().stem() == "table1") continue;
    ++files;
    EXPECT_NO_THROW(CheckSweepInputs(LoadSweep(entry.path()))) << entry.path();
  }
  EXPECT_GE(files, 3);
}

}  // namespace
}  // namespace aimc::experiment
