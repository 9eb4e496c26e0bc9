// The TOML reader of an experiment file (docs/sweep.md).
#include "aimc/experiment/sweep_options.h"

#include <optional>
#include <string>
#include <vector>

#include "aimc/common/error.h"
#include "aimc/common/resources.h"
#include "aimc/common/toml_reader.h"
#include "aimc/energy/model.h"
#include "aimc/nn/torchscript.h"

namespace aimc::experiment {

namespace fs = std::filesystem;

SweepOptions LoadSweep(const fs::path& path) {
  const TomlReader t = TomlReader::FromFile(path);
  SweepOptions o;
  o.source_file = path;
  try {
    o.name = path.stem().string();  // unless the file names it
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
      // The keys are the fields' names but two, which are named as `aimc import`'s flags:
      // import_images (calibration_images) and one threshold_ratio (of threshold_ratios).
      nn::ImportOptionsFields().ReadToml(i, im,
                                         {"act_bits", "weight_levels", "float_first_last", "refit"});
      im.calibration_images = i.Int("import_images", im.calibration_images);
      if (i.Has("threshold_ratio")) im.threshold_ratios = {i.Double("threshold_ratio")};
    }
    if (t.Has("cards")) o.cards = t.Strings("cards");
    SweepOptionsFields().ReadToml(t, o, {"name", "dataset", "data_dir", "test_images", "chips", "seed",
                                         "threads"});
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
      // The fields of ChipOptions (ChipOptionsFields), but the read time and temperature, which
      // are axes of the sweep.
      std::vector<std::string> keys;
      for (const auto& f : ChipOptionsFields().fields())
        if (f.name != "time_s" && f.name != "temperature_k") keys.push_back(f.name);
      ChipOptionsFields().ReadToml(t.Table("chip"), o.chip, keys);
    }
    t.RejectUnknown();
    o.Validate();
  } catch (const Error& e) {
    RethrowNamingFile(e, path.string());
  }
  return o;
}

}  // namespace aimc::experiment
