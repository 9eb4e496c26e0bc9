#include "aimc/experiment/chip_config.h"

#include <nlohmann/json.hpp>

#include "aimc/circuit/wires.h"
#include "aimc/common/error.h"

namespace aimc::experiment {

const FieldTable<ChipConfig>& ChipConfigFields() {
  static const FieldTable<ChipConfig> table = [] {
    using C = ChipConfig;
    FieldTable<C> t;
    t.String("card",
             "device card (preset name or TOML file): every weight a pair of devices drawn from "
             "it, every tile solved as its DC circuit; empty: weight-noise chips",
             [](C& c) -> std::string& { return c.card; });
    t.Double("r_on_ohm", "ohm", "nominal R_ON of the card's devices (0: the card's own)",
             [](C& c) -> double& { return c.r_on_ohm; }, range::AtLeast(0, " (0: the card's)"))
        .Alias("r-on");
    t.Double("sigma_w_test", "",
             "without a card: weight noise std of every ternary level, relative to the unit "
             "weight (sigma_w,test)",
             [](C& c) -> double& { return c.sigma_w_test; }, range::AtLeast(0))
        .Alias("sigma-test");
    t.Double("wire_ohm", "ohm", "wire resistance per segment, rows and columns",
             [](C& c) -> double& { return c.wire_ohm; }, [](const nlohmann::json& v) {
               const double x = v.get<double>();
               return x == 0 || (x >= circuit::kMinParasiticOhm && x <= circuit::kMaxParasiticOhm)
                          ? std::string()
                          : fmt::format("must be 0 (ideal) or within [{:g}, {:g}] ohm",
                                        circuit::kMinParasiticOhm, circuit::kMaxParasiticOhm);
             });
    t.String("wires", "wire segments from a preset (layout22nm) instead of wire_ohm",
             [](C& c) -> std::string& { return c.wires; }, [](const nlohmann::json& v) {
               const std::string name = v.get<std::string>();
               if (name.empty()) return std::string();
               try {
                 circuit::WirePresetByName(name);
                 return std::string();
               } catch (const Error&) {
                 return std::string("must be a wire preset (layout22nm) or empty");
               }
             });
    t.Double("wire_scale", "", "multiplies the preset's wire segments",
             [](C& c) -> double& { return c.wire_scale; }, range::Above(0));
    t.Nest(ChipOptionsFields(), std::function<ChipOptions&(C&)>([](C& c) -> ChipOptions& {
             return c.chip;
           }));
    return t;
  }();
  return table;
}

void ChipConfig::Validate() const {
  const FieldTable<ChipConfig>& fields = ChipConfigFields();
  fields.Validate(*this);
  if (uses_devices()) {
    Require(sigma_w_test == 0.0,
            "sigma_w_test = {} and card = '{}' exclude each other: with a card the weight "
            "spread comes from the devices",
            sigma_w_test, card);
  } else {
    // Weight-noise chips have no devices: every device, wire and array option is a mistake.
    const ChipConfig defaults;
    for (const Field<ChipConfig>& f : fields.fields()) {
      if (f.name == "card" || f.name == "sigma_w_test") continue;
      Require(f.get(*this) == f.get(defaults),
              "{} = {} needs a card (card, --card): it acts on devices, not on weight noise",
              f.name, FieldTable<ChipConfig>::Show(f.get(*this)));
    }
  }
  Require(wires.empty() || wire_ohm == 0.0,
          "wires = '{}' and wire_ohm = {} exclude each other (a preset or a resistance)", wires,
          wire_ohm);
  Require(!wires.empty() || wire_scale == 1.0, "wire_scale = {} needs wires (a preset to scale)",
          wire_scale);
  // The fields (ChipOptions' among them) are checked above; the wires only once applied.
  Options().crossbar.Validate();
}

nlohmann::json ChipConfig::ToJson() const { return ChipConfigFields().ToJson(*this); }

ChipConfig ChipConfig::FromJson(const nlohmann::json& j) {
  ChipConfig c;
  ChipConfigFields().FromJson(j, c);
  return c;
}

std::shared_ptr<const device::DeviceCard> ChipConfig::LoadCard() const {
  if (card.empty()) return nullptr;
  std::shared_ptr<const device::DeviceCard> loaded = device::LoadCardOrPreset(card);
  if (r_on_ohm > 0) loaded = loaded->WithRon(r_on_ohm);
  return loaded;
}

ChipOptions ChipConfig::Options() const {
  ChipOptions o = chip;
  if (!wires.empty()) {
    o.crossbar.UseWires(circuit::WirePresetByName(wires), wire_scale);
  } else {
    o.crossbar.wire_row_ohm = o.crossbar.wire_col_ohm = wire_ohm;
  }
  return o;
}

}  // namespace aimc::experiment
