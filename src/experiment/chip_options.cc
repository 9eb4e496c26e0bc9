#include "aimc/experiment/chip_options.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "aimc/common/error.h"
#include "aimc/device/physics.h"
#include "aimc/nn/analog_op.h"

namespace aimc::experiment {

const EnumNames<DriftCompensation>& DriftCompensationNames() {
  static const EnumNames<DriftCompensation> names(
      "drift_compensation", {{DriftCompensation::kNone, "none"},
                             {DriftCompensation::kArray, "array"},
                             {DriftCompensation::kColumn, "column"}});
  return names;
}

std::string ToString(DriftCompensation compensation) {
  return DriftCompensationNames().Name(compensation);
}

DriftCompensation ParseDriftCompensation(const std::string& name) {
  return DriftCompensationNames().Parse(name);
}

void ChipOptions::Validate() const {
  ChipOptionsFields().Validate(*this);
  crossbar.Validate();
}

device::ReadConditions ChipOptions::Conditions() const {
  device::ReadConditions c;
  c.read_voltage_v = read_voltage_v;
  c.time_s = time_s;
  c.temperature_k = temperature_k;
  return c;
}

bool ChipOptions::has_parasitics() const {
  return crossbar.wire_row_ohm > 0 || crossbar.wire_col_ohm > 0 || crossbar.driver_ohm > 0 ||
         crossbar.sense_ohm > 0 || crossbar.access_ohm > 0;
}

nlohmann::json ChipOptions::ToJson() const {
  // The fields (the read conditions and calibration only where set, so that result caches keyed
  // by this JSON stay valid for chips read at time 0), with the array's parasitics and sides
  // under "crossbar" as CrossbarOptions writes them, wires included.
  nlohmann::json j = ChipOptionsFields().ToJson(*this);
  for (const char* key : {"driver_ohm", "sense_ohm", "access_ohm", "drive", "sense"}) j.erase(key);
  j["crossbar"] = crossbar.ToJson();
  return j;
}

double AdcFullScale(const ChipOptions& options, std::int64_t tile_rows, double input_full_scale,
                    int max_level) {
  return nn::AdcFullScaleOf(options.adc_full_scale_fraction, tile_rows, input_full_scale,
                            max_level);
}

double AdcStep(double full_scale, int bits) { return nn::AdcStepOf(full_scale, bits); }

const FieldTable<ChipOptions>& ChipOptionsFields() {
  static const FieldTable<ChipOptions> table = [] {
    using O = ChipOptions;
    FieldTable<O> t;
    t.Integer<std::int64_t>("tile_rows", "", "rows (activation lines) per tile",
                            [](O& o) -> std::int64_t& { return o.tile_rows; }, range::AtLeast(1));
    t.Integer<std::int64_t>("tile_cols", "",
                            "weight columns per tile (each a differential pair)",
                            [](O& o) -> std::int64_t& { return o.tile_cols; }, range::AtLeast(1));
    // The range where the device models hold (device::kMinReadVoltageV..kMaxReadVoltageV):
    // far below it the energies and shot noise were NaN.
    t.Double("read_voltage_v", "V", "read voltage of a full-scale input (the DAC's top)",
             [](O& o) -> double& { return o.read_voltage_v; },
             range::Within(device::kMinReadVoltageV, device::kMaxReadVoltageV,
                           fmt::format("in [{}, {}] V", device::kMinReadVoltageV,
                                       device::kMaxReadVoltageV)))
        .Alias("read-voltage")
        .Alias("v-read");
    t.Double("driver_ohm", "ohm", "output resistance of each row driver",
             [](O& o) -> double& { return o.crossbar.driver_ohm; });
    t.Double("sense_ohm", "ohm", "input resistance of each sense amplifier",
             [](O& o) -> double& { return o.crossbar.sense_ohm; });
    t.Double("access_ohm", "ohm", "access transistor in series with each device",
             [](O& o) -> double& { return o.crossbar.access_ohm; });
    t.Enum<circuit::DriveSide>("drive", "where the rows are driven", circuit::DriveSideNames(),
                               [](O& o) -> circuit::DriveSide& { return o.crossbar.drive; });
    t.Enum<circuit::SenseSide>("sense", "where the columns are sensed", circuit::SenseSideNames(),
                               [](O& o) -> circuit::SenseSide& { return o.crossbar.sense; });
    t.Enum<circuit::PairLayout>("layout", "where a weight's two devices sit",
                                circuit::PairLayoutNames(),
                                [](O& o) -> circuit::PairLayout& { return o.layout; });
    t.Integer<int>("adc_bits", "", "bits of each tile's ADC (0: ideal readout)",
                   [](O& o) -> int& { return o.adc_bits; }, [](const nlohmann::json& v) {
                     const int b = v.get<int>();
                     return b == 0 || (b >= 2 && b <= 24) ? std::string()
                                                          : "must be 0 (no ADC) or in [2, 24]";
                   });
    t.Double("adc_full_scale_fraction", "",
             "ADC full scale as a fraction of a tile's largest possible output",
             [](O& o) -> double& { return o.adc_full_scale_fraction; },
             [](const nlohmann::json& v) {
               const double x = v.get<double>();
               return x > 0 && x <= 1 ? std::string() : "must be in (0, 1]";
             });
    t.Double("time_s", "s", "read this long after programming (the card's retention, drift, "
             "read noise at that time)",
             [](O& o) -> double& { return o.time_s; }, range::AtLeast(0, " (since programming)"))
        .OmitWhenDefault()
        .Alias("time");
    // Cryogenic to well above any chip's rating: outside, a unit slip (Celsius for kelvin).
    t.Double("temperature_k", "K", "temperature of the read",
             [](O& o) -> double& { return o.temperature_k; },
             range::Within(1, 1000, "in [1, 1000] K"))
        .OmitWhenDefault();
    t.Enum<DriftCompensation>(
         "drift_compensation",
         "a reference read at time 0 and at read time rescales each array or column",
         DriftCompensationNames(),
         [](O& o) -> DriftCompensation& { return o.drift_compensation; })
        .OmitWhenDefault();
    t.Integer<std::int64_t>(
        "calibration_images", "",
        "calibrate every chip after programming: a digital gain and offset per output column "
        "fitted on the first N training images (never test images), then frozen; 0: none",
        [](O& o) -> std::int64_t& { return o.calibration_images; },
        range::AtLeast(0, " (0: no calibration)"))
        .OmitWhenDefault();
    return t;
  }();
  return table;
}

}  // namespace aimc::experiment
