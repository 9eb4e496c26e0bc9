#include "aimc/experiment/sweep.h"

#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "aimc/common/error.h"
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

/// Image shape and classes of the data sets aimc knows, to refuse a model that cannot take them.
struct DataShape {
  std::int64_t channels, size, classes;
};

DataShape ShapeOf(const std::string& dataset) {
  if (dataset == "mnist" || dataset == "fashion-mnist") return {1, 28, 10};
  if (dataset == "cifar10") return {3, 32, 10};
  if (dataset == "cifar100") return {3, 32, 100};
  Fail("dataset must be one of mnist, fashion-mnist, cifar10, cifar100; got '{}'", dataset);
}

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

template <typename T>
std::vector<double> OrNan(const std::vector<T>& axis) {
  if (axis.empty()) return {std::nan("")};
  return std::vector<double>(axis.begin(), axis.end());
}

}  // namespace

const std::vector<std::string>& SweepColumns() {
  static const std::vector<std::string> columns = {
      "model",       "card",     "sigma_w_test", "r_on_ohm", "wire_ohm", "tile_rows",
      "tmr",         "chip",     "accuracy",     "error_pct", "sigma_w_devices",
      "test_images", "seconds"};
  return columns;
}

void SweepOptions::Validate() const {
  Require(!name.empty(), "name must not be empty");
  Require(!models.empty(), "models must list at least one model file");
  Require(!sigma_w_test.empty(), "axes.sigma_w_test has no values");
  Require(!wire_ohm.empty(), "axes.wire_ohm has no values");
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  Require(test_images >= 0, "test_images must be >= 0 (0: all), got {}", test_images);
  Require(threads >= 1, "threads must be >= 1, got {}", threads);
  for (double s : sigma_w_test)
    Require(std::isfinite(s) && s >= 0, "axes.sigma_w_test values must be >= 0, got {}", s);
  for (double w : wire_ohm)
    Require(std::isfinite(w) && w >= 0, "axes.wire_ohm values must be >= 0, got {}", w);
  for (double r : r_on_ohm)
    Require(std::isfinite(r) && r > 0, "axes.r_on_ohm values must be > 0, got {}", r);
  for (auto t : tile_rows) Require(t >= 1, "axes.tile_rows values must be >= 1, got {}", t);
  for (double t : tmr) Require(std::isfinite(t) && t > 0, "axes.tmr values must be > 0, got {}", t);
  chip.Validate();
  if (cards.empty()) {
    Require(r_on_ohm.empty(), "axes.r_on_ohm needs cards (the devices that set R_ON)");
    Require(tmr.empty(), "axes.tmr needs cards");
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
  if (!dataset.empty()) ShapeOf(dataset);
  for (std::size_t m = 0; m < models.size(); ++m) {
    Require(fs::exists(models[m]), "models[{}] = '{}': no such file", m, models[m].string());
    nn::LoadedModel model;
    try {
      model = nn::LoadModel(models[m]);
    } catch (const Error& e) {
      Fail("models[{}]: {}", m, e.what());
    }
    const std::string ds = DatasetOf(*this, model.info);
    const DataShape shape = ShapeOf(ds);
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

nlohmann::json SweepOptions::ToJson() const {
  std::vector<std::string> model_paths;
  for (const auto& m : models) model_paths.push_back(m.string());
  return {{"name", name},
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
}

SweepOptions LoadSweep(const fs::path& path) {
  const TomlReader t = TomlReader::FromFile(path);
  SweepOptions o;
  try {
    o.name = t.String("name", path.stem().string());
    // A relative path that is not there from the working directory may name a shipped model
    // (models/...), found like the shipped cards.
    for (const auto& m : t.Strings("models")) {
      const fs::path path(m);
      const auto shipped = path.is_relative() && !fs::exists(path) ? FindShippedFile(path) : std::nullopt;
      o.models.push_back(shipped ? *shipped : path);
    }
    if (t.Has("cards")) o.cards = t.Strings("cards");
    o.dataset = t.String("dataset", "");
    o.data_dir = t.String("data_dir", "");
    o.test_images = t.Int("test_images", 0);
    o.chips = static_cast<int>(t.Int("chips", 1));
    o.seed = static_cast<std::uint64_t>(t.Int("seed", 1));
    o.threads = static_cast<int>(t.Int("threads", 1));
    if (t.Has("axes")) {
      const TomlReader a = t.Table("axes");
      if (a.Has("sigma_w_test")) o.sigma_w_test = a.Doubles("sigma_w_test");
      if (a.Has("r_on_ohm")) o.r_on_ohm = a.Doubles("r_on_ohm");
      if (a.Has("wire_ohm")) o.wire_ohm = a.Doubles("wire_ohm");
      if (a.Has("tmr")) o.tmr = a.Doubles("tmr");
      if (a.Has("tile_rows")) {
        for (double v : a.Doubles("tile_rows")) {
          Require(v == std::floor(v), "{}: values must be whole numbers, got {}",
                  a.Where("tile_rows"), v);
          o.tile_rows.push_back(static_cast<std::int64_t>(v));
        }
      }
      // An axis written as [] is a mistake, not "use the default".
      for (const char* key : {"sigma_w_test", "r_on_ohm", "wire_ohm", "tmr", "tile_rows"}) {
        if (a.Has(key)) Require(!a.Doubles(key).empty(), "{}: the axis has no values", a.Where(key));
      }
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
      chip.adc_bits = static_cast<int>(c.Int("adc_bits", chip.adc_bits));
      chip.adc_full_scale_fraction = c.Double("adc_full_scale_fraction", chip.adc_full_scale_fraction);
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

Table RunSweep(const SweepOptions& options, const fs::path& csv, const std::string& command) {
  options.Validate();
  nn::SetThreads(options.threads);
  const std::vector<std::string>& columns = SweepColumns();
  Table table{columns, {}};
  DropTornLastLine(csv);
  if (fs::exists(csv) && fs::file_size(csv) > 0) {
    table = ReadCsv(csv);
    Require(table.columns == columns,
            "{}: has other columns than a sweep writes; choose another output file", csv.string());
  } else {
    std::string header;
    for (std::size_t i = 0; i < columns.size(); ++i) header += (i ? "," : "") + columns[i];
    AppendLineDurable(csv, header);
  }
  fs::path manifest_path = csv;
  manifest_path.replace_extension(".json");
  WriteManifest(manifest_path, MakeManifest(command, options.ToJson(), options.seed));

  constexpr std::size_t kKeys = 8;  // model .. chip
  std::set<std::vector<double>> done;
  for (const auto& row : table.rows) done.insert(std::vector<double>(row.begin(), row.begin() + kKeys));

  // The points, in an order that loads each model and card once.
  struct Point {
    std::vector<double> key;
    std::size_t model;
    int card;
    double r_on, tmr;
  };
  std::vector<std::unique_ptr<device::DeviceCard>> cards;
  for (const auto& c : options.cards) cards.push_back(device::LoadCardOrPreset(c));
  std::vector<Point> todo;
  std::size_t total = 0;
  const std::vector<double> tiles = options.tile_rows.empty()
                                        ? std::vector<double>{static_cast<double>(options.chip.tile_rows)}
                                        : std::vector<double>(options.tile_rows.begin(), options.tile_rows.end());
  for (std::size_t m = 0; m < options.models.size(); ++m) {
    const int n_cards = options.cards.empty() ? 1 : static_cast<int>(options.cards.size());
    for (int c = 0; c < n_cards; ++c) {
      const bool noise_mode = options.cards.empty();
      for (double s : options.sigma_w_test) {
        for (double r : noise_mode ? std::vector<double>{0.0} : OrNan(options.r_on_ohm)) {
          for (double w : options.wire_ohm) {
            for (double tr : noise_mode ? std::vector<double>{0.0} : tiles) {
              for (double tmr : noise_mode ? std::vector<double>{0.0} : OrNan(options.tmr)) {
                for (int chip = 0; chip < options.chips; ++chip) {
                  double r_key = r;
                  double tmr_key = tmr;
                  if (!noise_mode) {
                    const auto at = CardAt(*cards[c], r, tmr);
                    r_key = at->r_on_ohm();
                    tmr_key = at->Stats().on_off_ratio() - 1.0;
                  }
                  std::vector<double> key = {double(m), noise_mode ? -1.0 : double(c), s, r_key,
                                             w, tr, tmr_key, double(chip)};
                  ++total;
                  if (!done.count(key)) todo.push_back({key, m, noise_mode ? -1 : c, r, tmr});
                }
              }
            }
          }
        }
      }
    }
  }
  if (todo.empty()) {
    spdlog::info("{}: all {} points already in {}", options.name, total, csv.string());
    return table;
  }
  spdlog::info("{}: {} of {} points to run ({} done before)", options.name, todo.size(), total,
               total - todo.size());

  Progress progress(options.name, todo.size(), "pt");
  std::map<std::string, nn::Dataset> data_cache;
  std::size_t loaded_model = static_cast<std::size_t>(-1);
  nn::LoadedModel model;
  for (std::size_t k = 0; k < todo.size(); ++k) {
    const Point& p = todo[k];
    if (p.model != loaded_model) {
      model = nn::LoadModel(options.models[p.model]);
      model.network->eval();
      loaded_model = p.model;
    }
    const std::string ds = DatasetOf(options, model.info);
    if (!data_cache.count(ds)) {
      data_cache[ds] = nn::LoadData(ds, options.data_dir).test.Head(options.test_images);
    }
    const nn::Dataset& test = data_cache[ds];
    const auto start = std::chrono::steady_clock::now();
    const std::uint64_t chip_seed = Rng::Derive(options.seed, static_cast<std::uint64_t>(p.key[7]));
    double accuracy = 0.0;
    double sigma_devices = p.key[2];
    if (p.card < 0) {
      model.network->DrawChip(nn::LevelNoise::Uniform(p.key[2]), chip_seed);
      accuracy = nn::Evaluate(*model.network, test);
      model.network->ClearChip();
    } else {
      const auto card = CardAt(*cards[p.card], p.r_on, p.tmr);
      sigma_devices = mapping::AnalyticSpread(card->Stats()).sigma_max();
      ChipOptions chip = options.chip;
      chip.crossbar.wire_row_ohm = p.key[4];
      chip.crossbar.wire_col_ohm = p.key[4];
      chip.tile_rows = static_cast<std::int64_t>(p.key[5]);
      const AnalogChip analog(*model.network, *card, chip, chip_seed);
      accuracy = nn::Evaluate(*model.network, test);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> row = p.key;
    row.insert(row.end(), {accuracy, 100.0 * (1.0 - accuracy), sigma_devices,
                           static_cast<double>(test.size()), seconds});
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) line += (i ? "," : "") + FormatDouble(row[i]);
    AppendLineDurable(csv, line);
    table.rows.push_back(std::move(row));
    progress.Update(k + 1, fmt::format("error {:.2f} %", 100.0 * (1.0 - accuracy)));
  }
  progress.Finish();
  return table;
}

}  // namespace aimc::experiment
