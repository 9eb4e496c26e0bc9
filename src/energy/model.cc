#include "aimc/energy/model.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::energy {

namespace {

constexpr double kFemto = 1e-15;
constexpr double kPico = 1e-12;

}  // namespace

std::string SourceOrAssumed(const std::string& source) {
  return source.empty() ? std::string("assumed") : source;
}

double DacOptions::ConversionJ(int bits) const {
  return energy_1bit_fj * kFemto * (std::ldexp(1.0, bits) - 1.0);
}

double AdcOptions::ConversionJ(int resolution_bits) const {
  const double enob = std::max(resolution_bits - enob_loss_bits, 0.0);
  if (fom == Fom::kWalden) return walden_fj_per_step * kFemto * std::exp2(enob);
  const double sndr_db = 6.02 * enob + 1.76;
  return 0.5 * std::pow(10.0, (sndr_db - schreier_db) / 10.0);
}

std::string AdcOptions::FomName() const { return AdcFomNames().Name(fom); }

const EnumNames<AdcOptions::Fom>& AdcFomNames() {
  static const EnumNames<AdcOptions::Fom> names(
      "fom", {{AdcOptions::Fom::kWalden, "walden"}, {AdcOptions::Fom::kSchreier, "schreier"}});
  return names;
}

namespace {

// Ranges: a few orders of magnitude around published circuits, so that a unit slip (pJ for fJ,
// um^2 for mm^2) is refused rather than silently reported.
std::function<std::string(const nlohmann::json&)> In(double lo, double hi, const char* unit) {
  return range::Within(lo, hi, fmt::format("in [{:g}, {:g}] {}", lo, hi, unit));
}

// A source as written: where none is given, the value is an assumption.
template <typename O>
void AddSource(FieldTable<O>& t) {
  t.Custom(
      "source", "", "where the values come from (empty: assumed)", FieldKind::kString,
      [](const O& o) { return nlohmann::json(SourceOrAssumed(o.source)); },
      [](O& o, const nlohmann::json& v) { o.source = v.get<std::string>(); });
}

const FieldTable<DacOptions>& DacFields() {
  static const FieldTable<DacOptions> table = [] {
    using O = DacOptions;
    FieldTable<O> t;
    t.Double("energy_1bit_fj", "fJ", "energy of a 1-bit conversion",
             [](O& o) -> double& { return o.energy_1bit_fj; }, In(0, 1e6, "fJ"));
    t.Double("line_cap_ff_per_cell", "fF", "row line capacitance per cell pitch",
             [](O& o) -> double& { return o.line_cap_ff_per_cell; }, In(0, 1e3, "fF"));
    t.Double("area_um2", "um^2", "area of one driver with its DAC",
             [](O& o) -> double& { return o.area_um2; }, In(0, 1e6, "um^2"));
    t.Integer<int>("image_bits", "", "bits of the image pixels (the first layer's input)",
                   [](O& o) -> int& { return o.image_bits; },
                   range::Within(1, 16, "in [1, 16]"));
    AddSource(t);
    return t;
  }();
  return table;
}

const FieldTable<SenseOptions>& SenseFields() {
  static const FieldTable<SenseOptions> table = [] {
    using O = SenseOptions;
    FieldTable<O> t;
    t.Double("energy_fj", "fJ", "energy per read and summation line",
             [](O& o) -> double& { return o.energy_fj; }, In(0, 1e7, "fJ"));
    t.Double("area_um2", "um^2", "area of one sense amplifier",
             [](O& o) -> double& { return o.area_um2; }, In(0, 1e6, "um^2"));
    AddSource(t);
    return t;
  }();
  return table;
}

const FieldTable<AdcOptions>& AdcFields() {
  static const FieldTable<AdcOptions> table = [] {
    using O = AdcOptions;
    FieldTable<O> t;
    t.Enum<O::Fom>("fom", "figure of merit", AdcFomNames(),
                   [](O& o) -> O::Fom& { return o.fom; });
    t.Double("walden_fj_per_step", "fJ", "Walden figure of merit",
             [](O& o) -> double& { return o.walden_fj_per_step; }, In(1e-3, 1e6, "fJ"));
    t.Double("schreier_db", "dB", "Schreier figure of merit",
             [](O& o) -> double& { return o.schreier_db; }, In(100, 200, "dB"));
    t.Double("enob_loss_bits", "bits", "effective bits lost to noise and distortion",
             [](O& o) -> double& { return o.enob_loss_bits; }, In(0, 8, "bits"));
    t.Integer<int>("bits", "", "resolution where the chip states none",
                   [](O& o) -> int& { return o.bits; }, range::Within(1, 24, "in [1, 24]"));
    t.Double("sample_rate_hz", "Hz", "conversions per second",
             [](O& o) -> double& { return o.sample_rate_hz; }, In(1e3, 1e11, "Hz"));
    t.Integer<int>("columns_per_adc", "", "summation lines sharing one ADC",
                   [](O& o) -> int& { return o.columns_per_adc; },
                   range::Within(1, 4096, "in [1, 4096]"));
    t.Double("area_um2", "um^2", "area of one ADC", [](O& o) -> double& { return o.area_um2; },
             In(0, 1e7, "um^2"));
    AddSource(t);
    return t;
  }();
  return table;
}

const FieldTable<DigitalOptions>& DigitalFields() {
  static const FieldTable<DigitalOptions> table = [] {
    using O = DigitalOptions;
    FieldTable<O> t;
    t.Double("add_pj", "pJ", "32-bit integer add", [](O& o) -> double& { return o.add_pj; },
             In(0, 1e4, "pJ"));
    t.Double("mul_pj", "pJ", "16-bit float multiply", [](O& o) -> double& { return o.mul_pj; },
             In(0, 1e4, "pJ"));
    t.Double("fadd_pj", "pJ", "16-bit float add", [](O& o) -> double& { return o.fadd_pj; },
             In(0, 1e4, "pJ"));
    t.Double("sram_pj_per_byte", "pJ", "activation buffer access per byte",
             [](O& o) -> double& { return o.sram_pj_per_byte; }, In(0, 1e5, "pJ"));
    t.Double("node_scale", "", "scale of the digital energies to another node",
             [](O& o) -> double& { return o.node_scale; }, In(1e-3, 1e3, ""));
    t.String("node", "technology node of the digital energies",
             [](O& o) -> std::string& { return o.node; });
    AddSource(t);
    return t;
  }();
  return table;
}

}  // namespace

const FieldTable<EnergyOptions>& EnergyOptionsFields() {
  static const FieldTable<EnergyOptions> table = [] {
    using O = EnergyOptions;
    FieldTable<O> t;
    t.Sub<DacOptions>("dac", "drivers and DACs", DacFields(),
                      [](O& o) -> DacOptions& { return o.dac; });
    t.Sub<SenseOptions>("sense", "sense amplifiers", SenseFields(),
                        [](O& o) -> SenseOptions& { return o.sense; });
    t.Sub<AdcOptions>("adc", "ADCs", AdcFields(), [](O& o) -> AdcOptions& { return o.adc; });
    t.Sub<DigitalOptions>("digital", "digital operations", DigitalFields(),
                          [](O& o) -> DigitalOptions& { return o.digital; });
    t.Double("read_time_s", "s", "how long the devices conduct per read (0: the card's)",
             [](O& o) -> double& { return o.read_time_s; }, [](const nlohmann::json& v) {
               const double x = v.get<double>();
               return x == 0.0 || (x >= 1e-12 && x <= 1.0)
                          ? std::string()
                          : std::string("must be 0 (the card's) or in [1e-12, 1] s");
             });
    t.Bool("tiles_parallel", "tiles of a layer read at once (false: one after another)",
           [](O& o) -> bool& { return o.tiles_parallel; });
    t.Integer<std::int64_t>("images", "", "test images the energy is averaged over (0: all)",
                            [](O& o) -> std::int64_t& { return o.images; },
                            range::AtLeast(0, " (0: all)"));
    t.Integer<int>("split_mvms", "",
                   "MVMs per layer solved in full to split the array energy (0: no split)",
                   [](O& o) -> int& { return o.split_mvms; },
                   range::Within(0, 1000, "in [0, 1000]"));
    return t;
  }();
  return table;
}

void EnergyOptions::Validate() const { EnergyOptionsFields().Validate(*this, "energy."); }

nlohmann::json EnergyOptions::ToJson() const { return EnergyOptionsFields().ToJson(*this); }

EnergyOptions ReadEnergyOptions(const TomlReader& t, EnergyOptions o) {
  // A sub-table that changes values without its own source is an assumption of the user's.
  if (t.Has("dac")) o.dac.source.clear();
  if (t.Has("sense")) o.sense.source.clear();
  if (t.Has("adc")) o.adc.source.clear();
  if (t.Has("digital")) o.digital.source.clear();
  EnergyOptionsFields().ReadToml(t, o);
  try {
    o.Validate();
  } catch (const Error& e) {
    Fail("{}: {}", t.source(), e.what());
  }
  return o;
}

double EnergyOptions::ReadTimeS(const device::Physics& physics) const {
  if (read_time_s > 0) return read_time_s;
  if (physics.read_noise.any()) return physics.read_noise.read_time_s;
  return 10e-9;
}

double EnergyBreakdown::Total() const {
  return array_j + lines_j + dac_j + sense_j + adc_j + accumulate_j + digital_j + buffer_j;
}

double AreaBreakdown::Total() const {
  if (cells_um2 < 0) return -1.0;
  return cells_um2 + dac_um2 + sense_um2 + adc_um2;
}

double InferenceCost::TopsPerW() const {
  const double e = energy.Total();
  return e > 0 ? ops / e / 1e12 : 0.0;
}

double InferenceCost::Tops() const { return latency_s > 0 ? ops / latency_s / 1e12 : 0.0; }

double InferenceCost::PipelinedPerS() const {
  double slowest = 0.0;
  for (const LayerCost& l : layers) slowest = std::max(slowest, l.latency_s);
  return slowest > 0 ? 1.0 / slowest : 0.0;
}

nlohmann::json InferenceCost::ToJson() const {
  nlohmann::json layers_json = nlohmann::json::array();
  for (const LayerCost& l : layers) {
    layers_json.push_back({{"name", l.name},
                           {"analog", l.analog},
                           {"energy_j", l.energy_j},
                           {"latency_s", l.latency_s},
                           {"ops", l.ops}});
  }
  const auto maybe = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"energy_j",
           {{"total", energy.Total()},
            {"array", energy.array_j},
            {"array_devices", maybe(energy.devices_j)},
            {"array_parasitics", maybe(energy.parasitics_j())},
            {"row_lines", energy.lines_j},
            {"dac", energy.dac_j},
            {"sense", energy.sense_j},
            {"adc", energy.adc_j},
            {"accumulate", energy.accumulate_j},
            {"digital", energy.digital_j},
            {"buffer", energy.buffer_j}}},
          {"area_um2",
           {{"total", maybe(area.Total())},
            {"cells", maybe(area.cells_um2)},
            {"dac", area.dac_um2},
            {"sense", area.sense_um2},
            {"adc", area.adc_um2},
            {"tiles", area.tiles}}},
          {"write",
           {{"devices", write.devices},
            {"energy_j", maybe(write.energy_j)},
            {"time_s", maybe(write.time_s)}}},
          {"ops", ops},
          {"analog_ops", analog_ops},
          {"latency_s", latency_s},
          {"mvm_s", mvm_s},
          {"tops_per_w", TopsPerW()},
          {"tops", Tops()},
          {"pipelined_inferences_per_s", PipelinedPerS()},
          {"images", images},
          {"accuracy", maybe(accuracy)},
          {"layers", layers_json}};
}

InferenceCost Account(const std::vector<LayerCount>& layers, const OtherOps& other,
                      const ChipGeometry& chip, const EnergyOptions& options,
                      const device::CellCost& cell, double write_voltage_v) {
  options.Validate();
  const DigitalOptions& d = options.digital;
  const double add_j = d.add_pj * kPico * d.node_scale;
  const double mul_j = d.mul_pj * kPico * d.node_scale;
  const double fadd_j = d.fadd_pj * kPico * d.node_scale;
  const double byte_j = d.sram_pj_per_byte * kPico * d.node_scale;
  const int adc_bits = chip.adc_bits > 0 ? chip.adc_bits : options.adc.bits;
  const double adc_j = options.adc.ConversionJ(adc_bits);
  const double sense_j = options.sense.energy_fj * kFemto;
  const double cap_f = options.dac.line_cap_ff_per_cell * kFemto;
  const bool write_known = cell.write_pulse_s > 0 && cell.write_current_a > 0;

  InferenceCost cost;
  bool split = true;
  bool any_analog = false;
  double devices_j = 0.0;
  double write_time_max = 0.0, write_time_sum = 0.0;
  cost.area.cells_um2 = cell.area_um2 > 0 ? 0.0 : -1.0;
  for (const LayerCount& layer : layers) {
    LayerCost lc;
    lc.name = layer.name;
    lc.analog = layer.analog;
    const double outputs = layer.mvms * static_cast<double>(layer.cols);
    const double macs = outputs * static_cast<double>(layer.rows);
    lc.ops = 2.0 * macs;
    const int in_bits = layer.input_bits > 0 ? layer.input_bits : options.dac.image_bits;
    // Every layer: its inputs quantized (a multiply and a comparison each) and read from the
    // buffer; its outputs scaled, shifted (bias, BatchNorm) and written back at 16 bits.
    double digital = layer.input_elements * (mul_j + add_j) + outputs * (mul_j + fadd_j);
    double buffer = layer.input_elements * in_bits / 8.0 * byte_j + outputs * 2.0 * byte_j;
    double analog = 0.0;
    if (layer.analog) {
      any_analog = true;
      cost.analog_ops += 2.0 * macs;
      double slowest = 0.0, serial = 0.0;
      for (const TileCount& t : layer.tiles) {
        cost.energy.array_j += t.array_j;
        if (t.devices_j < 0) split = false;
        devices_j += t.devices_j;
        const double lines_per_row = t.rows > 0 ? static_cast<double>(t.lines_rows) / t.rows : 1.0;
        const double lines = cap_f * static_cast<double>(t.lines_cols) * t.sum_v2 * lines_per_row;
        const double dac = layer.mvms * static_cast<double>(t.lines_rows) *
                           options.dac.ConversionJ(in_bits);
        const double sense = layer.mvms * static_cast<double>(t.lines_cols) * sense_j;
        const double adc = layer.mvms * static_cast<double>(t.cols) * adc_j;
        cost.energy.lines_j += lines;
        cost.energy.dac_j += dac;
        cost.energy.sense_j += sense;
        cost.energy.adc_j += adc;
        analog += t.array_j + lines + dac + sense + adc;
        const double conversions =
            std::ceil(static_cast<double>(t.cols) / options.adc.columns_per_adc);
        const double mvm_s = chip.read_time_s + conversions / options.adc.sample_rate_hz;
        cost.mvm_s = std::max(cost.mvm_s, mvm_s);
        slowest = std::max(slowest, mvm_s);
        serial += mvm_s;
        // Area of the array as simulated, with its drivers, sense amplifiers and ADCs.
        ++cost.area.tiles;
        if (cell.area_um2 > 0)
          cost.area.cells_um2 += static_cast<double>(t.rows * t.cols) * cell.area_um2;
        cost.area.dac_um2 += static_cast<double>(t.lines_rows) * options.dac.area_um2;
        cost.area.sense_um2 += static_cast<double>(t.lines_cols) * options.sense.area_um2;
        cost.area.adc_um2 += conversions * options.adc.area_um2;
        const double devices = 2.0 * static_cast<double>(t.rows * t.cols);
        cost.write.devices += static_cast<std::int64_t>(devices);
        const double t_write = devices * cell.write_pulse_s * cell.write_pulses;
        write_time_max = std::max(write_time_max, t_write);
        write_time_sum += t_write;
      }
      lc.latency_s = layer.mvms * (options.tiles_parallel ? slowest : serial);
      const double accumulate =
          static_cast<double>(layer.row_blocks - 1) * outputs * add_j;
      cost.energy.accumulate_j += accumulate;
      digital += accumulate;
    } else {
      // A layer kept digital: a multiply and an add per MAC.
      digital += macs * (mul_j + fadd_j);
    }
    cost.energy.digital_j += digital - (layer.analog ? static_cast<double>(layer.row_blocks - 1) *
                                                           outputs * add_j
                                                     : 0.0);
    cost.energy.buffer_j += buffer;
    lc.energy_j = analog + digital + buffer;
    cost.ops += lc.ops;
    cost.latency_s += lc.latency_s;
    cost.layers.push_back(lc);
  }
  const double other_j =
      (other.adds + other.compares) * add_j + other.float_macs * (mul_j + fadd_j);
  cost.ops += 2.0 * other.float_macs;
  cost.energy.digital_j += other_j;
  cost.energy.devices_j = split && any_analog ? devices_j : -1.0;
  if (write_known) {
    cost.write.energy_j =
        static_cast<double>(cost.write.devices) * cell.WriteEnergyJ(write_voltage_v);
    cost.write.time_s = options.tiles_parallel ? write_time_max : write_time_sum;
  }
  return cost;
}

}  // namespace aimc::energy
