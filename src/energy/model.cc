#include "aimc/energy/model.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::energy {

namespace {

void RequireRange(double value, double lo, double hi, const std::string& field,
                  const std::string& unit) {
  Require(std::isfinite(value) && value >= lo && value <= hi, "{} must be in [{:g}, {:g}] {}, got {}",
          field, lo, hi, unit, value);
}

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

std::string AdcOptions::FomName() const { return fom == Fom::kWalden ? "walden" : "schreier"; }

void EnergyOptions::Validate() const {
  // Ranges: a few orders of magnitude around published circuits, so that a unit slip (pJ for fJ,
  // um^2 for mm^2) is refused rather than silently reported.
  RequireRange(dac.energy_1bit_fj, 0.0, 1e6, "energy.dac.energy_1bit_fj", "fJ");
  RequireRange(dac.line_cap_ff_per_cell, 0.0, 1e3, "energy.dac.line_cap_ff_per_cell", "fF");
  RequireRange(dac.area_um2, 0.0, 1e6, "energy.dac.area_um2", "um^2");
  Require(dac.image_bits >= 1 && dac.image_bits <= 16,
          "energy.dac.image_bits must be in [1, 16], got {}", dac.image_bits);
  RequireRange(sense.energy_fj, 0.0, 1e7, "energy.sense.energy_fj", "fJ");
  RequireRange(sense.area_um2, 0.0, 1e6, "energy.sense.area_um2", "um^2");
  RequireRange(adc.walden_fj_per_step, 1e-3, 1e6, "energy.adc.walden_fj_per_step", "fJ");
  RequireRange(adc.schreier_db, 100.0, 200.0, "energy.adc.schreier_db", "dB");
  RequireRange(adc.enob_loss_bits, 0.0, 8.0, "energy.adc.enob_loss_bits", "bits");
  Require(adc.bits >= 1 && adc.bits <= 24, "energy.adc.bits must be in [1, 24], got {}", adc.bits);
  RequireRange(adc.sample_rate_hz, 1e3, 1e11, "energy.adc.sample_rate_hz", "Hz");
  Require(adc.columns_per_adc >= 1 && adc.columns_per_adc <= 4096,
          "energy.adc.columns_per_adc must be in [1, 4096], got {}", adc.columns_per_adc);
  RequireRange(adc.area_um2, 0.0, 1e7, "energy.adc.area_um2", "um^2");
  RequireRange(digital.add_pj, 0.0, 1e4, "energy.digital.add_pj", "pJ");
  RequireRange(digital.mul_pj, 0.0, 1e4, "energy.digital.mul_pj", "pJ");
  RequireRange(digital.fadd_pj, 0.0, 1e4, "energy.digital.fadd_pj", "pJ");
  RequireRange(digital.sram_pj_per_byte, 0.0, 1e5, "energy.digital.sram_pj_per_byte", "pJ");
  RequireRange(digital.node_scale, 1e-3, 1e3, "energy.digital.node_scale", "");
  Require(read_time_s == 0.0 || (std::isfinite(read_time_s) && read_time_s >= 1e-12 &&
                                 read_time_s <= 1.0),
          "energy.read_time_s must be 0 (the card's) or in [1e-12, 1] s, got {}", read_time_s);
  Require(images >= 0, "energy.images must be >= 0 (0: all), got {}", images);
  Require(split_mvms >= 0 && split_mvms <= 1000, "energy.split_mvms must be in [0, 1000], got {}",
          split_mvms);
}

nlohmann::json EnergyOptions::ToJson() const {
  return {{"dac",
           {{"energy_1bit_fj", dac.energy_1bit_fj},
            {"line_cap_ff_per_cell", dac.line_cap_ff_per_cell},
            {"area_um2", dac.area_um2},
            {"image_bits", dac.image_bits},
            {"source", SourceOrAssumed(dac.source)}}},
          {"sense",
           {{"energy_fj", sense.energy_fj},
            {"area_um2", sense.area_um2},
            {"source", SourceOrAssumed(sense.source)}}},
          {"adc",
           {{"fom", adc.FomName()},
            {"walden_fj_per_step", adc.walden_fj_per_step},
            {"schreier_db", adc.schreier_db},
            {"enob_loss_bits", adc.enob_loss_bits},
            {"bits", adc.bits},
            {"sample_rate_hz", adc.sample_rate_hz},
            {"columns_per_adc", adc.columns_per_adc},
            {"area_um2", adc.area_um2},
            {"source", SourceOrAssumed(adc.source)}}},
          {"digital",
           {{"add_pj", digital.add_pj},
            {"mul_pj", digital.mul_pj},
            {"fadd_pj", digital.fadd_pj},
            {"sram_pj_per_byte", digital.sram_pj_per_byte},
            {"node_scale", digital.node_scale},
            {"node", digital.node},
            {"source", SourceOrAssumed(digital.source)}}},
          {"read_time_s", read_time_s},
          {"tiles_parallel", tiles_parallel},
          {"images", images},
          {"split_mvms", split_mvms}};
}

EnergyOptions ReadEnergyOptions(const TomlReader& t, EnergyOptions o) {
  o.read_time_s = t.Double("read_time_s", o.read_time_s);
  o.tiles_parallel = t.Bool("tiles_parallel", o.tiles_parallel);
  o.images = t.Int("images", o.images);
  o.split_mvms = t.Integer<int>("split_mvms", o.split_mvms);
  if (t.Has("dac")) {
    const TomlReader d = t.Table("dac");
    o.dac.energy_1bit_fj = d.Double("energy_1bit_fj", o.dac.energy_1bit_fj);
    o.dac.line_cap_ff_per_cell = d.Double("line_cap_ff_per_cell", o.dac.line_cap_ff_per_cell);
    o.dac.area_um2 = d.Double("area_um2", o.dac.area_um2);
    o.dac.image_bits = d.Integer<int>("image_bits", o.dac.image_bits);
    // A changed value without its own source is an assumption of the user's.
    o.dac.source = d.String("source", "");
  }
  if (t.Has("sense")) {
    const TomlReader d = t.Table("sense");
    o.sense.energy_fj = d.Double("energy_fj", o.sense.energy_fj);
    o.sense.area_um2 = d.Double("area_um2", o.sense.area_um2);
    o.sense.source = d.String("source", "");
  }
  if (t.Has("adc")) {
    const TomlReader d = t.Table("adc");
    const std::string fom = d.String("fom", o.adc.FomName());
    Require(fom == "walden" || fom == "schreier", "{}: must be 'walden' or 'schreier', got '{}'",
            d.Where("fom"), fom);
    o.adc.fom = fom == "walden" ? AdcOptions::Fom::kWalden : AdcOptions::Fom::kSchreier;
    o.adc.walden_fj_per_step = d.Double("walden_fj_per_step", o.adc.walden_fj_per_step);
    o.adc.schreier_db = d.Double("schreier_db", o.adc.schreier_db);
    o.adc.enob_loss_bits = d.Double("enob_loss_bits", o.adc.enob_loss_bits);
    o.adc.bits = d.Integer<int>("bits", o.adc.bits);
    o.adc.sample_rate_hz = d.Double("sample_rate_hz", o.adc.sample_rate_hz);
    o.adc.columns_per_adc = d.Integer<int>("columns_per_adc", o.adc.columns_per_adc);
    o.adc.area_um2 = d.Double("area_um2", o.adc.area_um2);
    o.adc.source = d.String("source", "");
  }
  if (t.Has("digital")) {
    const TomlReader d = t.Table("digital");
    o.digital.add_pj = d.Double("add_pj", o.digital.add_pj);
    o.digital.mul_pj = d.Double("mul_pj", o.digital.mul_pj);
    o.digital.fadd_pj = d.Double("fadd_pj", o.digital.fadd_pj);
    o.digital.sram_pj_per_byte = d.Double("sram_pj_per_byte", o.digital.sram_pj_per_byte);
    o.digital.node_scale = d.Double("node_scale", o.digital.node_scale);
    o.digital.node = d.String("node", o.digital.node);
    o.digital.source = d.String("source", "");
  }
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
