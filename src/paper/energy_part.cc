#include "energy_part.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "aimc/circuit/wires.h"
#include "aimc/experiment/chip.h"

namespace aimc::paper {

energy::EnergyOptions StudyEnergyOptions(std::int64_t images, int split_mvms) {
  energy::EnergyOptions o;
  o.images = images;
  o.split_mvms = split_mvms;
  return o;
}

const std::vector<std::string>& CostColumns() {
  static const std::vector<std::string> columns = {
      "energy_pj",   "array_pj",   "devices_pj", "lines_pj",  "dac_pj",   "sense_pj",
      "adc_pj",      "accumulate_pj", "digital_pj", "buffer_pj", "tops_per_w", "tops",
      "latency_us",  "area_mm2",   "cells_mm2",  "write_nj",  "write_us", "mops"};
  return columns;
}

std::vector<double> CostFields(const energy::InferenceCost& c) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const auto known = [nan](double v, double scale) { return v < 0 ? nan : v * scale; };
  const energy::EnergyBreakdown& e = c.energy;
  return {e.Total() * 1e12,         e.array_j * 1e12,       known(e.devices_j, 1e12),
          e.lines_j * 1e12,         e.dac_j * 1e12,         e.sense_j * 1e12,
          e.adc_j * 1e12,           e.accumulate_j * 1e12,  e.digital_j * 1e12,
          e.buffer_j * 1e12,        c.TopsPerW(),           c.Tops(),
          c.latency_s * 1e6,        known(c.area.Total(), 1e-6), known(c.area.cells_um2, 1e-6),
          known(c.write.energy_j, 1e9), known(c.write.time_s, 1e6), c.ops / 1e6};
}

energy::InferenceCost CostOnChip(nn::NetworkImpl& network, const nn::Dataset& test,
                                 std::shared_ptr<const device::DeviceCard> card, double wire_scale,
                                 const energy::EnergyOptions& options, std::uint64_t seed,
                                 double* error_pct) {
  experiment::ChipOptions o;
  o.crossbar.UseWires(circuit::Layout22nm(), wire_scale);
  experiment::Chip chip(network, experiment::ChipSpec::Devices(std::move(card), o), seed);
  if (error_pct) *error_pct = 100 * (1 - chip.Evaluate(test));
  return chip.MeasureCost(test, options);
}

std::string Joules(double j) {
  if (!(j > 0)) return "n/a";
  if (j >= 1.0) return fmt::format("{:.3g} J", j);
  if (j >= 1e-3) return fmt::format("{:.3g} mJ", j * 1e3);
  if (j >= 1e-6) return fmt::format("{:.3g} uJ", j * 1e6);
  if (j >= 1e-9) return fmt::format("{:.3g} nJ", j * 1e9);
  if (j >= 1e-12) return fmt::format("{:.3g} pJ", j * 1e12);
  return fmt::format("{:.3g} fJ", j * 1e15);
}

}  // namespace aimc::paper
