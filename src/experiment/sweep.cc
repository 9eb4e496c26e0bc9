#include "aimc/experiment/sweep.h"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <set>
#include <limits>
#include <type_traits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/resources.h"
#include "aimc/common/manifest.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/common/toml_reader.h"
#include "aimc/device/card.h"
#include "aimc/mapping/ternary.h"
#include "aimc/nn/data.h"
#include "aimc/nn/train.h"

namespace aimc::experiment {

namespace fs = std::filesystem;

namespace {

/// The card of one point: at the point's R_ON and TMR (NaN: the card's own).
std::unique_ptr<device::DeviceCard> CardAt(const device::DeviceCard& card, double r_on_ohm,
                                           double tmr) {
  std::unique_ptr<device::DeviceCard> out = card.WithRon(std::isnan(r_on_ohm) ? card.r_on_ohm() : r_on_ohm);
  if (!std::isnan(tmr)) out = out->WithOnOffRatio(1.0 + tmr);
  return out;
}

std::string DatasetOf(const SweepOptions& o, const nn::ModelInfo& info) {
  return o.dataset.empty() ? info.training.dataset : o.dataset;
}

// Where a model's test data are: the experiment's data_dir, else, for a user's data set (npy,
// npz, folder: nothing to find without a path), the folder the model was trained on.
fs::path DataDirOf(const SweepOptions& o, const nn::ModelInfo& info) {
  if (!o.data_dir.empty() || !nn::IsUserDataset(DatasetOf(o, info))) return o.data_dir;
  return info.training.data_dir;
}

// The key of a data set in the sweep's caches and its definition: the name, and for a user's
// data set read from a model's own folder also that folder.
std::string DataKeyOf(const SweepOptions& o, const nn::ModelInfo& info) {
  const fs::path dir = DataDirOf(o, info);
  return dir == o.data_dir ? DatasetOf(o, info)
                           : fmt::format("{} at {}", DatasetOf(o, info), dir.string());
}

template <typename T>
std::vector<double> OrNan(const std::vector<T>& axis) {
  if (axis.empty()) return {std::nan("")};
  return std::vector<double>(axis.begin(), axis.end());
}

}  // namespace

namespace {

// The CSV columns of a row: name, how to read the field as a number, how to set it back. The key
// of a point is the first kKeyColumns of them.
struct Column {
  const char* name;
  double (*get)(const SweepRow&);
  void (*set)(SweepRow&, double);
};

template <typename T>
T Whole(double v, const char* name) {
  Require(std::isfinite(v) && v == std::floor(v) &&
              v >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
              v <= static_cast<double>(std::numeric_limits<T>::max()),
          "{}: {} is not a valid whole number", name, v);
  return static_cast<T>(v);
}

template <typename T>
void SetNumber(T& field, double v, const char* name) {
  if constexpr (std::is_floating_point_v<T>) {
    field = v;
  } else {
    field = Whole<T>(v, name);
  }
}

// A column for a field of the point (`Member` of SweepPoint) or of the row (of SweepRow).
template <auto Member>
Column PointColumn(const char* name) {
  return {name, [](const SweepRow& r) { return static_cast<double>(r.point.*Member); },
          [](SweepRow& r, double v) { SetNumber(r.point.*Member, v, "of a sweep point"); }};
}
template <auto Member>
Column RowColumn(const char* name) {
  return {name, [](const SweepRow& r) { return static_cast<double>(r.*Member); },
          [](SweepRow& r, double v) { SetNumber(r.*Member, v, "of a sweep row"); }};
}

const std::vector<Column>& Columns() {
  static const std::vector<Column> columns = {
      PointColumn<&SweepPoint::model>("model"),
      PointColumn<&SweepPoint::card>("card"),
      PointColumn<&SweepPoint::sigma_w_test>("sigma_w_test"),
      PointColumn<&SweepPoint::r_on_ohm>("r_on_ohm"),
      PointColumn<&SweepPoint::wire_ohm>("wire_ohm"),
      PointColumn<&SweepPoint::tile_rows>("tile_rows"),
      PointColumn<&SweepPoint::tmr>("tmr"),
      PointColumn<&SweepPoint::time_s>("time_s"),
      PointColumn<&SweepPoint::temperature_k>("temperature_k"),
      PointColumn<&SweepPoint::chip>("chip"),
      RowColumn<&SweepRow::model_id>("model_id"),
      RowColumn<&SweepRow::card_id>("card_id"),
      RowColumn<&SweepRow::accuracy>("accuracy"),
      RowColumn<&SweepRow::error_pct>("error_pct"),
      RowColumn<&SweepRow::sigma_w_devices>("sigma_w_devices"),
      RowColumn<&SweepRow::test_images>("test_images"),
      RowColumn<&SweepRow::seconds>("seconds"),
      RowColumn<&SweepRow::energy_pj>("energy_pj"),
      RowColumn<&SweepRow::array_pj>("array_pj"),
      RowColumn<&SweepRow::tops_per_w>("tops_per_w")};
  return columns;
}

// model .. chip, model_id, card_id.
constexpr std::size_t kKeyColumns = 12;

// Columns added after the first results were written, each with the value a row written
// without it gets: the read conditions (a chip read right after programming at room
// temperature) and the energy (not measured: NaN). A table that lacks the newer ones (or both
// groups) is brought up to date. True if it was.
bool AddNewerColumns(Table& table) {
  const std::vector<std::string>& now = SweepColumns();
  const SweepPoint defaults;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::map<std::string, double> read = {{"time_s", defaults.time_s},
                                              {"temperature_k", defaults.temperature_k}};
  const std::map<std::string, double> energy = {
      {"energy_pj", nan}, {"array_pj", nan}, {"tops_per_w", nan}};
  std::map<std::string, double> both = read;
  both.insert(energy.begin(), energy.end());
  const std::map<std::string, double>* const variants[] = {&energy, &both};
  for (const auto* added : variants) {
    std::vector<std::string> before;
    for (const std::string& c : now)
      if (!added->count(c)) before.push_back(c);
    if (table.columns != before) continue;
    for (auto& row : table.rows) {
      std::vector<double> full;
      std::size_t k = 0;
      for (const std::string& c : now) full.push_back(added->count(c) ? added->at(c) : row[k++]);
      row = std::move(full);
    }
    table.columns = now;
    return true;
  }
  return false;
}

// A 48-bit fingerprint: exact in a double, so it survives the CSV.
std::uint64_t Id48(const std::string& hex16) { return std::stoull(hex16.substr(0, 12), nullptr, 16); }

}  // namespace

const std::vector<std::string>& SweepColumns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const Column& c : Columns()) n.push_back(c.name);
    return n;
  }();
  return names;
}

std::size_t SweepKeyColumns() { return kKeyColumns; }

std::vector<double> ToCsvRow(const SweepRow& row) {
  std::vector<double> values;
  for (const Column& c : Columns()) values.push_back(c.get(row));
  return values;
}

SweepRow FromCsvRow(const std::vector<double>& values) {
  Require(values.size() == Columns().size(), "a sweep row has {} columns, got {}",
          Columns().size(), values.size());
  SweepRow row;
  for (std::size_t i = 0; i < values.size(); ++i) Columns()[i].set(row, values[i]);
  return row;
}

void SweepOptions::Validate() const {
  Require(!name.empty(), "name must not be empty");
  Require(!models.empty() || !torchscript.empty(),
          "models or torchscript must list at least one model file");
  for (std::size_t m = 0; m < torchscript.size(); ++m) {
    Require(fs::is_regular_file(torchscript[m]), "torchscript[{}] = '{}': no such file", m,
            torchscript[m].string());
    for (std::size_t n = 0; n < m; ++n)
      Require(torchscript[n].stem() != torchscript[m].stem(),
              "torchscript[{}] and [{}] have one stem '{}': their imports would share a file",
              n, m, torchscript[m].stem().string());
  }
  Require(torchscript.empty() || !dataset.empty(),
          "torchscript: an import needs `dataset` (its training images calibrate it)");
  if (!torchscript.empty()) import.Validate();
  Require(!sigma_w_test.empty(), "axes.sigma_w_test has no values");
  Require(!wire_ohm.empty(), "axes.wire_ohm has no values");
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  energy.Validate();
  Require(test_images >= 0, "test_images must be >= 0 (0: all), got {}", test_images);
  Require(threads >= 1 && threads <= 256, "threads must be in 1..256, got {}", threads);
  for (double s : sigma_w_test)
    Require(std::isfinite(s) && s >= 0, "axes.sigma_w_test values must be >= 0, got {}", s);
  for (double w : wire_ohm)
    Require(w == 0.0 || (w >= circuit::kMinParasiticOhm && w <= circuit::kMaxParasiticOhm),
            "axes.wire_ohm values must be 0 or in [{}, {}] ohm, got {}", circuit::kMinParasiticOhm,
            circuit::kMaxParasiticOhm, w);
  for (double r : r_on_ohm)
    Require(r >= device::kMinDeviceOhm && r <= device::kMaxDeviceOhm,
            "axes.r_on_ohm values must be in [{}, {}] ohm, got {}", device::kMinDeviceOhm,
            device::kMaxDeviceOhm, r);
  for (auto t : tile_rows) Require(t >= 1, "axes.tile_rows values must be >= 1, got {}", t);
  for (double t : tmr) Require(std::isfinite(t) && t > 0, "axes.tmr values must be > 0, got {}", t);
  Require(!time_s.empty(), "axes.time_s has no values");
  Require(!temperature_k.empty(), "axes.temperature_k has no values");
  chip.Validate();
  // The chip's own checks name the field; the axis values replace its read conditions.
  for (double t : time_s) {
    ChipOptions at = chip;
    at.time_s = t;
    try {
      at.Validate();
    } catch (const Error& e) {
      Fail("axes.{}", e.what());
    }
  }
  for (double t : temperature_k) {
    ChipOptions at = chip;
    at.temperature_k = t;
    try {
      at.Validate();
    } catch (const Error& e) {
      Fail("axes.{}", e.what());
    }
  }
  if (cards.empty()) {
    Require(r_on_ohm.empty(), "axes.r_on_ohm needs cards (the devices that set R_ON)");
    Require(tmr.empty(), "axes.tmr needs cards");
    const SweepOptions defaults;
    Require(time_s == defaults.time_s && temperature_k == defaults.temperature_k &&
                chip.drift_compensation == defaults.chip.drift_compensation &&
                chip.calibration_images == defaults.chip.calibration_images,
            "axes.time_s, axes.temperature_k, chip.drift_compensation and "
            "chip.calibration_images need cards: they act on devices, not on weight noise");
    for (double w : wire_ohm) {
      Require(w == 0.0,
              "axes.wire_ohm = {} needs cards: wire resistance acts on devices, not on weight noise",
              w);
    }
  } else {
    Require(sigma_w_test.size() == 1 && sigma_w_test[0] == 0.0,
            "axes.sigma_w_test applies without cards; with cards the weight spread comes from the "
            "devices");
    for (std::size_t c = 0; c < cards.size(); ++c) {
      std::unique_ptr<device::DeviceCard> card;
      try {
        card = device::LoadCardOrPreset(cards[c]);
        for (double r : OrNan(r_on_ohm))
          for (double t : OrNan(tmr)) CardAt(*card, r, t);
      } catch (const Error& e) {
        Fail("cards[{}] = '{}': {}", c, cards[c], e.what());
      }
    }
  }
  if (!dataset.empty() && !nn::IsUserDataset(dataset)) nn::ShapeOf(dataset);
  std::map<std::string, nn::DatasetShape> shapes;  // a user's data set is read once
  for (std::size_t m = 0; m < models.size(); ++m) {
    Require(fs::exists(models[m]), "models[{}] = '{}': no such file", m, models[m].string());
    nn::Model model;
    try {
      model = nn::LoadModel(models[m]);
    } catch (const Error& e) {
      Fail("models[{}]: {}", m, e.what());
    }
    const std::string ds = DatasetOf(*this, model.info);
    const std::string key = DataKeyOf(*this, model.info);
    if (!shapes.count(key)) shapes[key] = nn::ShapeOf(ds, DataDirOf(*this, model.info));
    const nn::DatasetShape shape = shapes[key];
    const nn::NetworkOptions& net = model.info.network;
    Require(net.in_channels == shape.channels && net.image_size == shape.size &&
                net.classes == shape.classes,
            "models[{}] = '{}' takes {}x{}x{} images and {} classes, but dataset '{}' has {}x{}x{} "
            "and {} classes",
            m, models[m].string(), net.in_channels, net.image_size, net.image_size, net.classes,
            ds, shape.channels, shape.size, shape.size, shape.classes);
    Require(net.ternary, "models[{}] = '{}' is a float network: nothing to place on arrays", m,
            models[m].string());
  }
}

energy::EnergyOptions SweepEnergyDefaults() {
  energy::EnergyOptions o;
  o.split_mvms = 0;
  return o;
}

nlohmann::json SweepOptions::ToJson() const {
  std::vector<std::string> model_paths;
  for (const auto& m : models) model_paths.push_back(m.string());
  nlohmann::json j = {{"name", name},
                      {"models", model_paths},
                      {"cards", cards},
                      {"dataset", dataset},
                      {"data_dir", data_dir.string()},
                      {"test_images", test_images},
                      {"axes",
                       {{"sigma_w_test", sigma_w_test},
                        {"r_on_ohm", r_on_ohm},
                        {"wire_ohm", wire_ohm},
                        {"tile_rows", tile_rows},
                        {"tmr", tmr}}},
                      {"chips", chips},
                      {"chip", chip.ToJson()},
                      {"seed", seed}};
  // Only where set, so that the definition of an experiment from before these axes is unchanged
  // and its results continue.
  const SweepOptions defaults;
  if (time_s != defaults.time_s) j["axes"]["time_s"] = time_s;
  if (temperature_k != defaults.temperature_k) j["axes"]["temperature_k"] = temperature_k;
  if (!measure_energy) j["measure_energy"] = false;
  // Only with TorchScript files: other experiments keep their definitions (and results).
  if (!torchscript.empty()) {
    std::vector<std::string> files;
    for (const auto& f : torchscript) files.push_back(f.string());
    j["torchscript"] = files;
    j["import"] = import.ToJson();
  }
  if (energy.ToJson() != defaults.energy.ToJson()) j["energy"] = energy.ToJson();
  return j;
}

SweepOptions LoadSweep(const fs::path& path) {
  const TomlReader t = TomlReader::FromFile(path);
  SweepOptions o;
  try {
    o.name = t.String("name", path.stem().string());
    // A relative path that is not there from the working directory may name a shipped model
    // (models/...), found like the shipped cards.
    // Only a sweep of TorchScript files may leave `models` out.
    const std::vector<std::string> model_list =
        t.Has("models") || !t.Has("torchscript") ? t.Strings("models") : std::vector<std::string>{};
    for (const auto& m : model_list) {
      const fs::path path(m);
      const auto shipped = path.is_relative() && !fs::exists(path) ? FindShippedFile(path) : std::nullopt;
      o.models.push_back(shipped ? *shipped : path);
    }
    if (t.Has("torchscript"))
      for (const auto& f : t.Strings("torchscript")) o.torchscript.push_back(f);
    if (t.Has("import")) {
      const TomlReader i = t.Table("import");
      nn::ImportOptions& im = o.import;
      im.calibration_images = i.Int("import_images", im.calibration_images);
      im.act_bits = i.Integer<int>("act_bits", im.act_bits);
      if (i.Has("threshold_ratio")) im.threshold_ratios = {i.Double("threshold_ratio")};
      im.weight_levels = i.Integer<int>("weight_levels", im.weight_levels);
      im.float_first_last = i.Bool("float_first_last", im.float_first_last);
      im.refit = i.Bool("refit", im.refit);
    }
    if (t.Has("cards")) o.cards = t.Strings("cards");
    o.dataset = t.String("dataset", "");
    o.data_dir = t.String("data_dir", "");
    o.test_images = t.Int("test_images", 0);
    o.chips = t.Integer<int>("chips", 1);
    o.seed = t.Integer<std::uint64_t>("seed", 1);
    o.threads = t.Integer<int>("threads", 1);
    if (t.Has("axes")) {
      const TomlReader a = t.Table("axes");
      if (a.Has("sigma_w_test")) o.sigma_w_test = a.Doubles("sigma_w_test");
      if (a.Has("r_on_ohm")) o.r_on_ohm = a.Doubles("r_on_ohm");
      if (a.Has("wire_ohm")) o.wire_ohm = a.Doubles("wire_ohm");
      if (a.Has("tmr")) o.tmr = a.Doubles("tmr");
      if (a.Has("tile_rows")) o.tile_rows = a.Integers<std::int64_t>("tile_rows");
      if (a.Has("time_s")) o.time_s = a.Doubles("time_s");
      if (a.Has("temperature_k")) o.temperature_k = a.Doubles("temperature_k");
      // An axis written as [] is a mistake, not "use the default".
      for (const char* key :
           {"sigma_w_test", "r_on_ohm", "wire_ohm", "tmr", "tile_rows", "time_s", "temperature_k"}) {
        if (a.Has(key)) Require(!a.Doubles(key).empty(), "{}: the axis has no values", a.Where(key));
      }
    }
    if (t.Has("energy")) {
      const TomlReader e = t.Table("energy");
      o.measure_energy = e.Bool("measure", o.measure_energy);
      o.energy = energy::ReadEnergyOptions(e, o.energy);
    }
    if (t.Has("chip")) {
      const TomlReader c = t.Table("chip");
      ChipOptions& chip = o.chip;
      chip.tile_rows = c.Int("tile_rows", chip.tile_rows);
      chip.tile_cols = c.Int("tile_cols", chip.tile_cols);
      chip.read_voltage_v = c.Double("read_voltage_v", chip.read_voltage_v);
      chip.crossbar.driver_ohm = c.Double("driver_ohm", chip.crossbar.driver_ohm);
      chip.crossbar.sense_ohm = c.Double("sense_ohm", chip.crossbar.sense_ohm);
      chip.crossbar.access_ohm = c.Double("access_ohm", chip.crossbar.access_ohm);
      if (c.Has("drive")) chip.crossbar.drive = circuit::ParseDriveSide(c.String("drive"));
      if (c.Has("sense")) chip.crossbar.sense = circuit::ParseSenseSide(c.String("sense"));
      if (c.Has("layout")) chip.layout = circuit::ParsePairLayout(c.String("layout"));
      chip.adc_bits = c.Integer<int>("adc_bits", chip.adc_bits);
      chip.adc_full_scale_fraction = c.Double("adc_full_scale_fraction", chip.adc_full_scale_fraction);
      if (c.Has("drift_compensation")) {
        try {
          chip.drift_compensation = ParseDriftCompensation(c.String("drift_compensation"));
        } catch (const Error& e) {
          Fail("{}: {}", c.Where("drift_compensation"), e.what());
        }
      }
      chip.calibration_images = c.Int("calibration_images", chip.calibration_images);
    }
    t.RejectUnknown();
    o.Validate();
  } catch (const Error& e) {
    RethrowNamingFile(e, path.string());
  }
  return o;
}

double MeanWhere(const Table& table, const std::string& value,
                 const std::vector<std::pair<std::string, double>>& where) {
  const std::size_t v = table.Column(value);
  std::vector<std::pair<std::size_t, double>> keys;
  for (const auto& [k, x] : where) keys.emplace_back(table.Column(k), x);
  double sum = 0.0;
  int n = 0;
  for (const auto& row : table.rows) {
    bool match = true;
    for (const auto& [c, x] : keys) match = match && row[c] == x;
    if (match) {
      sum += row[v];
      ++n;
    }
  }
  Require(n > 0, "no rows of the table match the requested point");
  return sum / n;
}

namespace {

// The definition of an experiment: what its rows depend on (not the threads or the progress bar).
nlohmann::json Definition(const SweepOptions& options,
                          const std::vector<std::unique_ptr<device::DeviceCard>>& cards,
                          const std::vector<std::string>& model_hashes,
                          const std::map<std::string, std::string>& data_fingerprints) {
  nlohmann::json d = options.ToJson();
  d.erase("models");  // paths: the contents below define the models
  d.erase("torchscript");  // imported into models: their hashes define them
  d["model_files"] = model_hashes;
  nlohmann::json card_json = nlohmann::json::array();
  for (const auto& c : cards) card_json.push_back(c->ToJson());
  d["card_parameters"] = card_json;
  d["test_data"] = data_fingerprints;
  return d;
}

// The relative cost of a point, for handing out the longest first over ranks: a device point
// solves one effective matrix per tile (about rows^2 per array with wires; without wires the
// conductances alone), a weight-noise point draws noise only. Measured on CNN 1: a 1024-row tile
// with wires is about 100x a weight-noise point.
double PointCost(const SweepPoint& p, const SweepOptions& options) {
  if (!p.uses_devices()) return 1.0;
  if (p.wire_ohm == 0.0) return 2.0;
  const double rows = static_cast<double>(p.tile_rows > 0 ? p.tile_rows : options.chip.tile_rows);
  return 2.0 + 100.0 * (rows / 1024.0) * (rows / 1024.0);
}

// One line of the result CSV as numbers; `where` names it in errors.
std::vector<double> ParseRow(const std::string& line, const std::string& where) {
  std::vector<double> values;
  std::istringstream in(line);
  for (std::string cell; std::getline(in, cell, ',');) values.push_back(ParseNumber(cell, where));
  return values;
}

std::string Join(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

}  // namespace

namespace {

// SweepOptions::torchscript: each file imported (by the writer, on one thread) and saved beside
// the result, then one more model of the sweep on every rank.
SweepOptions WithImports(const SweepOptions& requested, const fs::path& csv) {
  requested.Validate();
  if (requested.torchscript.empty()) return requested;
  SweepOptions o = requested;
  const fs::path dir = (csv.parent_path().empty() ? fs::path(".") : csv.parent_path()) /
                       (csv.stem().string() + "_imports");
  std::vector<fs::path> outs;
  for (const auto& f : o.torchscript) outs.push_back(dir / (f.stem().string() + ".pt"));
  cluster::OnWriter([&] {
    fs::create_directories(dir);
    const nn::DataSplit split = nn::LoadData(o.dataset, o.data_dir);
    nn::SetThreads(1);
    for (std::size_t m = 0; m < outs.size(); ++m) {
      try {
        const nn::ImportedModel im =
            nn::ImportAsModel(o.torchscript[m], o.import, o.dataset, o.data_dir, split,
                              o.test_images);
        nn::SaveModel(outs[m], *im.import.network, im.info);
        spdlog::info("{}: imported as {}, digital accuracy {:.2f} %", o.torchscript[m].string(),
                     outs[m].string(), 100 * im.info.history.front().test_accuracy);
      } catch (const Error& e) {
        Fail("torchscript[{}]: {}", m, e.what());
      }
    }
    nn::SetThreads(o.threads);
  });
  o.models.insert(o.models.end(), outs.begin(), outs.end());
  o.Validate();
  return o;
}

}  // namespace

Table RunSweep(const SweepOptions& requested, const fs::path& csv, const std::string& command,
               OnChange on_change) {
  const SweepOptions options = WithImports(requested, csv);
  nn::SetThreads(options.threads);
  Require(!fs::is_directory(csv), "{}: is a folder; the result must be a CSV file", csv.string());
  fs::path manifest_path = csv;
  manifest_path.replace_extension(".json");

  // What defines the rows: options, model and card contents, test data.
  std::vector<std::unique_ptr<device::DeviceCard>> cards;
  for (const auto& c : options.cards) cards.push_back(device::LoadCardOrPreset(c));
  std::vector<std::string> model_hashes;
  for (const auto& m : options.models) model_hashes.push_back(HashFile(m));
  // Loaded once: their options pick the test data now, their networks run the points below.
  std::vector<nn::Model> loaded;
  std::map<std::string, nn::Dataset> data_cache;
  std::map<std::string, std::string> fingerprints;
  // Calibration (card mode): each model's inputs on the first training images, never test ones.
  std::vector<std::shared_ptr<const CalibrationSet>> calibrations;
  for (const auto& m : options.models) {
    loaded.push_back(nn::LoadModel(m));
    loaded.back().network->eval();
    const std::string ds = DatasetOf(options, loaded.back().info);
    const std::string key = DataKeyOf(options, loaded.back().info);
    const fs::path dir = DataDirOf(options, loaded.back().info);
    std::optional<nn::DataSplit> split;
    if (!data_cache.count(key)) {
      split = nn::LoadData(ds, dir);
      fingerprints[key] = nn::Fingerprint(*split);
      data_cache[key] = split->test.Head(options.test_images);
    }
    calibrations.push_back(nullptr);
    if (!options.cards.empty() && options.chip.calibration_images > 0) {
      if (!split) split = nn::LoadData(ds, dir);
      calibrations.back() = CaptureCalibration(
          *loaded.back().network, split->train.Head(options.chip.calibration_images));
    }
  }
  const nlohmann::json definition = Definition(options, cards, model_hashes, fingerprints);

  const std::vector<std::string>& columns = SweepColumns();
  Table table{columns, {}};
  // Rank 0 alone reads and writes the result files; an error there (another experiment's
  // result) is every rank's.
  cluster::OnWriter([&] {
    DropTornLastLine(csv);
    const bool has_rows = fs::exists(csv) && fs::file_size(csv) > 0;
    if (has_rows && on_change == OnChange::kRefuse) {
      table = ReadCsv(csv);
      const bool upgraded = AddNewerColumns(table);
      Require(table.columns == columns,
              "{}: has other columns than a sweep writes; choose another output file",
              csv.string());
      Require(fs::exists(manifest_path),
              "{}: has no manifest {} beside it, so what its rows measured is unknown; choose "
              "another output file or start a new result (--restart)",
              csv.string(), manifest_path.string());
      const nlohmann::json old = ReadJson(manifest_path).value("definition", nlohmann::json());
      const std::vector<std::string> changed = JsonDifferences(old, definition);
      Require(changed.empty(),
              "{} was made by another experiment (changed: {}); its rows would not match the "
              "options. Choose another output file, or start a new result (--restart)",
              csv.string(), Join(changed));
      // New rows are appended with every column: the file gets them too (atomically).
      if (upgraded) WriteCsv(csv, table);
    } else {
      if (has_rows)
        spdlog::warn("{}: starting a new result (the old rows are discarded)", csv.string());
      fs::create_directories(csv.has_parent_path() ? csv.parent_path() : fs::path("."));
      // The manifest first: rows are only ever appended under the definition that made them.
      nlohmann::json manifest = MakeManifest(command, options.ToJson(), options.seed);
      manifest["definition"] = definition;
      WriteManifest(manifest_path, manifest);
      WriteFileAtomic(csv, fmt::format("{}\n", fmt::join(columns, ",")));
    }
  });

  // Every point, in the order of the axes (the order of the finished CSV); each rank builds the
  // same list.
  struct Todo {
    SweepRow row;
    double r_on_request, tmr_request;  // NaN: the card's own
  };
  std::vector<Todo> points;
  const std::vector<std::int64_t> tiles =
      options.tile_rows.empty() ? std::vector<std::int64_t>{options.chip.tile_rows}
                                : options.tile_rows;
  const bool noise_mode = options.cards.empty();
  // Every combination of the axes; the device-mode axes have one value (unused) in noise mode.
  const std::vector<double> r_on_axis = noise_mode ? std::vector<double>{0.0} : OrNan(options.r_on_ohm);
  const std::vector<std::int64_t> tile_axis = noise_mode ? std::vector<std::int64_t>{0} : tiles;
  const std::vector<double> tmr_axis = noise_mode ? std::vector<double>{0.0} : OrNan(options.tmr);
  const int n_cards = noise_mode ? 1 : static_cast<int>(options.cards.size());
  for (std::size_t m = 0; m < options.models.size(); ++m)
    for (int c = 0; c < n_cards; ++c)
      for (double s : options.sigma_w_test)
        for (double r : r_on_axis)
          for (double w : options.wire_ohm)
            for (std::int64_t tr : tile_axis)
              for (double tmr : tmr_axis)
                for (double time : options.time_s)
                  for (double kelvin : options.temperature_k)
                    for (int chip = 0; chip < options.chips; ++chip) {
                      Todo t;
                      SweepPoint& p = t.row.point;
                      p.model = m;
                      p.card = noise_mode ? -1 : c;
                      p.sigma_w_test = s;
                      p.wire_ohm = w;
                      p.tile_rows = tr;
                      p.time_s = time;
                      p.temperature_k = kelvin;
                      p.chip = chip;
                      t.row.model_id = Id48(model_hashes[m]);
                      t.r_on_request = r;
                      t.tmr_request = tmr;
                      if (!noise_mode) {
                        const auto at = CardAt(*cards[c], r, tmr);
                        p.r_on_ohm = at->r_on_ohm();
                        p.tmr = at->Stats().on_off_ratio() - 1.0;
                        t.row.card_id = Id48(HashHex(at->ToJson().dump()));
                      }
                      points.push_back(t);
                    }
  auto key_of = [](const std::vector<double>& values) {
    return std::vector<double>(values.begin(), values.begin() + kKeyColumns);
  };
  std::map<std::vector<double>, std::size_t> position;
  for (std::size_t i = 0; i < points.size(); ++i)
    position.emplace(key_of(ToCsvRow(points[i].row)), i);

  // What is left to do: rank 0 knows the finished rows and tells the others.
  std::vector<std::size_t> todo;
  {
    std::string list;
    if (cluster::IsWriter()) {
      std::set<std::vector<double>> done;
      for (const auto& row : table.rows) done.insert(key_of(row));
      for (std::size_t i = 0; i < points.size(); ++i)
        if (!done.count(key_of(ToCsvRow(points[i].row)))) list += fmt::format("{} ", i);
    }
    cluster::Broadcast(list);
    std::istringstream in(list);
    for (std::size_t i; in >> i;) todo.push_back(i);
  }
  const std::size_t total = points.size();
  if (todo.empty()) {
    spdlog::info("{}: all {} points already in {}", options.name, total, csv.string());
  } else {
    spdlog::info("{}: {} of {} points to run ({} done before){}", options.name, todo.size(), total,
                 total - todo.size(),
                 cluster::Size() > 1 ? fmt::format(", on {} ranks", cluster::Size()) : "");
  }

  // One point: its CSV line.
  auto run_point = [&](std::size_t k) {
    const Todo& t = points[todo[k]];
    SweepRow row = t.row;
    const SweepPoint& p = row.point;
    nn::Model& model = loaded[p.model];
    const nn::Dataset& test = data_cache.at(DataKeyOf(options, model.info));
    const auto start = std::chrono::steady_clock::now();
    ChipSpec spec;
    row.sigma_w_devices = p.sigma_w_test;
    if (p.uses_devices()) {
      std::shared_ptr<const device::DeviceCard> card =
          CardAt(*cards[static_cast<std::size_t>(p.card)], t.r_on_request, t.tmr_request);
      row.sigma_w_devices = mapping::AnalyticSpread(card->Stats()).sigma_max();
      ChipOptions chip = options.chip;
      chip.crossbar.wire_row_ohm = chip.crossbar.wire_col_ohm = p.wire_ohm;
      chip.tile_rows = p.tile_rows;
      chip.time_s = p.time_s;
      chip.temperature_k = p.temperature_k;
      spec = ChipSpec::Devices(std::move(card), chip);
      spec.calibration = calibrations[p.model];
    } else {
      spec = ChipSpec::WeightNoise(nn::LevelNoise::Uniform(p.sigma_w_test));
    }
    {
      Chip chip(*model.network, spec, Rng::Derive(options.seed, static_cast<std::uint64_t>(p.chip)));
      row.accuracy = chip.Evaluate(test);
      // The energy of an inference on this chip (device mode), on the first images.
      if (p.uses_devices() && options.measure_energy) {
        const energy::InferenceCost cost = chip.MeasureCost(test, options.energy);
        row.energy_pj = cost.energy.Total() * 1e12;
        row.array_pj = cost.energy.array_j * 1e12;
        row.tops_per_w = cost.TopsPerW();
      }
    }
    row.error_pct = 100.0 * (1.0 - row.accuracy);
    row.test_images = test.size();
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string line;
    const std::vector<double> values = ToCsvRow(row);
    for (std::size_t i = 0; i < values.size(); ++i) line += (i ? "," : "") + FormatDouble(values[i]);
    return line;
  };

  if (!todo.empty()) {
    std::optional<Progress> progress;
    if (cluster::IsWriter()) progress.emplace(options.name, todo.size(), "pt");
    std::size_t finished = 0;
    cluster::DistributeOptions how;
    for (std::size_t k : todo) how.cost.push_back(PointCost(points[k].row.point, options));
    // The one writer: every finished point is on disk before its rank gets the next one.
    how.on_done = [&](std::size_t, const std::string& line) {
      AppendLineDurable(csv, line);
      const std::vector<double> values = ParseRow(line, csv.string());
      table.rows.push_back(values);
      progress->Update(++finished,
                       fmt::format("error {:.2f} %", values[table.Column("error_pct")]));
    };
    cluster::Distribute(todo.size(), run_point, how);
    if (progress) progress->Finish();
  }

  // The finished result in the order of the axes, whatever order ranks finished points in, so that
  // it reads the same from any number of ranks (rewritten whole and atomically).
  cluster::OnWriter([&] {
    std::vector<std::pair<std::size_t, std::size_t>> order;  // (position, row)
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      const auto it = position.find(key_of(table.rows[r]));
      order.emplace_back(it == position.end() ? points.size() : it->second, r);
    }
    if (std::is_sorted(order.begin(), order.end())) return;
    std::stable_sort(order.begin(), order.end());
    Table sorted{columns, {}};
    for (const auto& [pos, r] : order) sorted.rows.push_back(table.rows[r]);
    table = std::move(sorted);
    WriteCsv(csv, table);
  });

  // Every rank returns the whole result.
  std::string text;
  if (cluster::IsWriter()) {
    for (const auto& row : table.rows) {
      for (std::size_t i = 0; i < row.size(); ++i) text += (i ? "," : "") + FormatDouble(row[i]);
      text += '\n';
    }
  }
  cluster::Broadcast(text);
  if (!cluster::IsWriter()) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) table.rows.push_back(ParseRow(line, "a sweep row"));
  }
  return table;
}

}  // namespace aimc::experiment
