#include "aimc/experiment/sweep_options.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "aimc/circuit/crossbar.h"
#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/nn/data.h"

namespace aimc::experiment {

namespace {

// The axes' values, each against its range; an axis of read conditions against the chip's own
// checks, which name the field.
void ValidateAxes(const SweepOptions& o) {
  for (double s : o.sigma_w_test)
    Require(std::isfinite(s) && s >= 0, "axes.sigma_w_test values must be >= 0, got {}", s);
  for (double w : o.wire_ohm)
    Require(w == 0.0 || (w >= circuit::kMinParasiticOhm && w <= circuit::kMaxParasiticOhm),
            "axes.wire_ohm values must be 0 or in [{}, {}] ohm, got {}", circuit::kMinParasiticOhm,
            circuit::kMaxParasiticOhm, w);
  for (double r : o.r_on_ohm)
    Require(r >= device::kMinDeviceOhm && r <= device::kMaxDeviceOhm,
            "axes.r_on_ohm values must be in [{}, {}] ohm, got {}", device::kMinDeviceOhm,
            device::kMaxDeviceOhm, r);
  for (auto t : o.tile_rows) Require(t >= 1, "axes.tile_rows values must be >= 1, got {}", t);
  for (double t : o.tmr) Require(std::isfinite(t) && t > 0, "axes.tmr values must be > 0, got {}", t);
  Require(!o.time_s.empty(), "axes.time_s has no values");
  Require(!o.temperature_k.empty(), "axes.temperature_k has no values");
  o.chip.Validate();
  // The axis values replace the chip's read conditions: each must make a valid chip.
  const auto check_axis = [&o](const std::vector<double>& values, double ChipOptions::*member) {
    for (double v : values) {
      ChipOptions at = o.chip;
      at.*member = v;
      try {
        at.Validate();
      } catch (const Error& e) {
        Fail("axes.{}", e.what());
      }
    }
  };
  check_axis(o.time_s, &ChipOptions::time_s);
  check_axis(o.temperature_k, &ChipOptions::temperature_k);
}

// Weight-noise mode takes none of the device axes and options; device mode takes no
// sigma_w,test (the devices give the spread).
void ValidateMode(const SweepOptions& o) {
  if (o.cards.empty()) {
    Require(o.r_on_ohm.empty(), "axes.r_on_ohm needs cards (the devices that set R_ON)");
    Require(o.tmr.empty(), "axes.tmr needs cards");
    const SweepOptions defaults;
    Require(o.time_s == defaults.time_s && o.temperature_k == defaults.temperature_k &&
                o.chip.drift_compensation == defaults.chip.drift_compensation &&
                o.chip.calibration_images == defaults.chip.calibration_images,
            "axes.time_s, axes.temperature_k, chip.drift_compensation and "
            "chip.calibration_images need cards: they act on devices, not on weight noise");
    for (double w : o.wire_ohm) {
      Require(w == 0.0,
              "axes.wire_ohm = {} needs cards: wire resistance acts on devices, not on weight noise",
              w);
    }
  } else {
    Require(o.sigma_w_test.size() == 1 && o.sigma_w_test[0] == 0.0,
            "axes.sigma_w_test applies without cards; with cards the weight spread comes from the "
            "devices");
  }
}

}  // namespace

energy::EnergyOptions SweepEnergyDefaults() {
  energy::EnergyOptions o;
  o.split_mvms = 0;
  return o;
}

namespace {

template <typename V>
nlohmann::json Texts(const std::vector<V>& values) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& v : values) {
    if constexpr (std::is_same_v<V, std::filesystem::path>)
      j.push_back(v.string());
    else
      j.push_back(v);
  }
  return j;
}

template <typename V>
std::vector<V> FromTexts(const nlohmann::json& j, const std::string& name) {
  Require(j.is_array() && std::all_of(j.begin(), j.end(),
                                      [](const nlohmann::json& x) { return x.is_string(); }),
          "{} must be a list of strings, got {}", name, j.dump());
  std::vector<V> values;
  for (const auto& x : j) values.emplace_back(x.get<std::string>());
  return values;
}

}  // namespace

const FieldTable<SweepOptions>& SweepOptionsFields() {
  static const FieldTable<SweepOptions> table = [] {
    using O = SweepOptions;
    using nlohmann::json;
    FieldTable<O> t;
    t.String("name", "the experiment's name", [](O& o) -> std::string& { return o.name; },
             [](const json& v) {
               return v.get<std::string>().empty() ? std::string("must not be empty")
                                                   : std::string();
             });
    t.Custom(
        "models", "", "model files tested", FieldKind::kJson,
        [](const O& o) { return Texts(o.models); },
        [](O& o, const json& v) { o.models = FromTexts<std::filesystem::path>(v, "models"); });
    t.Custom(
        "cards", "", "card files or preset names (none: weight-noise mode)", FieldKind::kJson,
        [](const O& o) { return Texts(o.cards); },
        [](O& o, const json& v) { o.cards = FromTexts<std::string>(v, "cards"); });
    t.String("dataset", "the data set the models are tested on (empty: each model's own)",
             [](O& o) -> std::string& { return o.dataset; });
    t.Path("data_dir", "folder of the data set's files",
           [](O& o) -> std::filesystem::path& { return o.data_dir; });
    t.Integer<std::int64_t>("test_images", "", "first N test images (0: all)",
                            [](O& o) -> std::int64_t& { return o.test_images; },
                            range::AtLeast(0, " (0: all)"));
    // The axes: every combination is a point (ValidateAxes checks their values). The read time
    // and temperature only where set, so that experiments from before these axes keep their
    // definitions and results.
    t.Custom(
        "axes", "", "the axes of the grid", FieldKind::kJson,
        [](const O& o) {
          json axes = {{"sigma_w_test", o.sigma_w_test},
                       {"r_on_ohm", o.r_on_ohm},
                       {"wire_ohm", o.wire_ohm},
                       {"tile_rows", o.tile_rows},
                       {"tmr", o.tmr}};
          const O defaults;
          if (o.time_s != defaults.time_s) axes["time_s"] = o.time_s;
          if (o.temperature_k != defaults.temperature_k) axes["temperature_k"] = o.temperature_k;
          return axes;
        },
        [](O&, const json&) { Fail("axes are read from an experiment file's [axes] table"); });
    t.Integer<int>("chips", "", "Monte-Carlo chips per point", [](O& o) -> int& { return o.chips; },
                   range::AtLeast(1));
    t.Custom(
        "chip", "", "the chips' options (ChipOptions)", FieldKind::kObject,
        [](const O& o) { return o.chip.ToJson(); },
        [](O&, const json&) { Fail("chip is read from an experiment file's [chip] table"); });
    t.Integer<std::uint64_t>("seed", "", "seed of the chips' draws",
                             [](O& o) -> std::uint64_t& { return o.seed; });
    t.Bool("measure_energy", "device mode: measure each point's energy per inference",
           [](O& o) -> bool& { return o.measure_energy; })
        .OmitWhenDefault();
    // Only with TorchScript files: other experiments keep their definitions (and results).
    const auto no_imports = [](const O& o) { return o.torchscript.empty(); };
    t.Custom(
         "torchscript", "", "TorchScript files imported when the sweep runs", FieldKind::kJson,
         [](const O& o) { return Texts(o.torchscript); },
         [](O& o, const json& v) {
           o.torchscript = FromTexts<std::filesystem::path>(v, "torchscript");
         })
        .OmitWhen(no_imports);
    t.Custom(
         "import", "", "how the TorchScript files are imported (ImportOptions)", FieldKind::kObject,
         [](const O& o) { return o.import.ToJson(); },
         [](O& o, const json& v) { nn::ImportOptionsFields().FromJson(v, o.import, "import: "); })
        .OmitWhen(no_imports);
    t.Custom(
         "energy", "", "the energy model's options (EnergyOptions)", FieldKind::kObject,
         [](const O& o) { return o.energy.ToJson(); },
         [](O& o, const json& v) { energy::EnergyOptionsFields().FromJson(v, o.energy, "energy: "); })
        .OmitWhen([](const O& o) { return o.energy.ToJson() == O{}.energy.ToJson(); });
    t.Integer<int>("threads", "", "threads of a point", [](O& o) -> int& { return o.threads; },
                   range::Between(1, 256))
        .OmitWhen([](const O&) { return true; });
    t.Bool("progress", "progress bar on stderr", [](O& o) -> bool& { return o.progress; })
        .OmitWhen([](const O&) { return true; });
    return t;
  }();
  return table;
}

void SweepOptions::Validate() const {
  Require(!models.empty() || !torchscript.empty(),
          "models or torchscript must list at least one model file");
  for (std::size_t m = 0; m < torchscript.size(); ++m)
    for (std::size_t n = 0; n < m; ++n)
      Require(torchscript[n].stem() != torchscript[m].stem(),
              "torchscript[{}] and [{}] have one stem '{}': their imports would share a file",
              n, m, torchscript[m].stem().string());
  Require(torchscript.empty() || !dataset.empty(),
          "torchscript: an import needs `dataset` (its training images calibrate it)");
  if (!torchscript.empty()) import.Validate();
  Require(!sigma_w_test.empty(), "axes.sigma_w_test has no values");
  Require(!wire_ohm.empty(), "axes.wire_ohm has no values");
  SweepOptionsFields().Validate(*this);
  energy.Validate();
  ValidateAxes(*this);
  ValidateMode(*this);
  // A name only: ShapeOf reads no file for a name that is not a user's data set.
  if (!dataset.empty() && !nn::IsUserDataset(dataset)) nn::ShapeOf(dataset);
}

nlohmann::json SweepOptions::ToJson() const { return SweepOptionsFields().ToJson(*this); }

}  // namespace aimc::experiment
