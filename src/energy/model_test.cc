#include "aimc/energy/model.h"

#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "aimc/common/error.h"

namespace aimc::energy {
namespace {

TEST(EnergyModel, AdcFiguresOfMerit) {
  AdcOptions adc;
  adc.enob_loss_bits = 0.0;
  adc.walden_fj_per_step = 5.0;
  EXPECT_NEAR(adc.ConversionJ(8), 5e-15 * 256, 1e-27);
  adc.fom = AdcOptions::Fom::kSchreier;
  adc.schreier_db = 175.0;
  // SNDR 49.92 dB at 8 bits: E = 10^((49.92 - 175) / 10) / 2.
  EXPECT_NEAR(adc.ConversionJ(8), 0.5 * std::pow(10.0, (6.02 * 8 + 1.76 - 175.0) / 10.0), 1e-28);
  // One more bit costs 4x (Schreier, 6 dB) against 2x (Walden).
  EXPECT_NEAR(adc.ConversionJ(9) / adc.ConversionJ(8), std::pow(10.0, 0.602), 1e-9);
}

TEST(EnergyModel, DacScalesWithLevels) {
  DacOptions dac;
  dac.energy_1bit_fj = 3.0;
  EXPECT_DOUBLE_EQ(dac.ConversionJ(1), 3e-15);
  EXPECT_DOUBLE_EQ(dac.ConversionJ(4), 45e-15);
}

TEST(EnergyModel, ValidateNamesTheField) {
  EnergyOptions o;
  o.adc.walden_fj_per_step = -1.0;
  try {
    o.Validate();
    FAIL() << "accepted a negative figure of merit";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("energy.adc.walden_fj_per_step"), std::string::npos);
  }
  o = {};
  o.adc.columns_per_adc = 0;
  EXPECT_THROW(o.Validate(), Error);
  o = {};
  o.read_time_s = -1e-9;
  EXPECT_THROW(o.Validate(), Error);
  o = {};
  o.digital.node_scale = std::nan("");
  EXPECT_THROW(o.Validate(), Error);
  EXPECT_EQ(SourceOrAssumed(""), "assumed");
}

// One layer of two tiles (a row split), every number by hand.
TEST(EnergyModel, AccountByHand) {
  EnergyOptions o;
  o.dac.energy_1bit_fj = 1.0;
  o.dac.line_cap_ff_per_cell = 0.5;
  o.dac.area_um2 = 3.0;
  o.sense.energy_fj = 10.0;
  o.sense.area_um2 = 7.0;
  o.adc.enob_loss_bits = 0.0;
  o.adc.walden_fj_per_step = 1.0;
  o.adc.bits = 4;
  o.adc.columns_per_adc = 2;
  o.adc.sample_rate_hz = 1e9;
  o.adc.area_um2 = 100.0;
  o.digital.add_pj = 1.0;
  o.digital.mul_pj = 2.0;
  o.digital.fadd_pj = 3.0;
  o.digital.sram_pj_per_byte = 1.0;

  LayerCount l;
  l.name = "fc";
  l.rows = 8;
  l.cols = 3;
  l.mvms = 2.0;
  l.input_bits = 2;
  l.input_elements = 16.0;
  l.row_blocks = 2;
  TileCount t;
  t.rows = 4;
  t.cols = 3;
  t.lines_rows = 4;
  t.lines_cols = 6;
  t.sum_v2 = 0.5;
  t.array_j = 1e-12;
  t.devices_j = 0.75e-12;
  l.tiles = {t, t};
  LayerCount f;  // a digital layer
  f.name = "fc_float";
  f.analog = false;
  f.rows = 3;
  f.cols = 2;
  f.mvms = 1.0;
  f.input_elements = 3.0;
  f.input_bits = 8;
  ChipGeometry chip;
  chip.read_time_s = 10e-9;
  device::CellCost cell;
  cell.area_um2 = 0.1;
  cell.write_pulse_s = 1e-9;
  cell.write_current_a = 1e-4;
  cell.write_pulses = 2.0;
  const InferenceCost c = Account({l, f}, OtherOps{5.0, 5.0}, chip, o, cell, 0.5);

  EXPECT_DOUBLE_EQ(c.energy.array_j, 2e-12);
  EXPECT_DOUBLE_EQ(c.energy.devices_j, 1.5e-12);
  EXPECT_DOUBLE_EQ(c.energy.parasitics_j(), 0.5e-12);
  // Lines: C per cell 0.5 fF x 6 columns x sum V^2 0.5, two tiles.
  EXPECT_NEAR(c.energy.lines_j, 2 * 0.5e-15 * 6 * 0.5, 1e-27);
  // DAC: 2 reads x 4 lines x (2^2 - 1) fJ, two tiles.
  EXPECT_NEAR(c.energy.dac_j, 2 * 2 * 4 * 3e-15, 1e-27);
  EXPECT_NEAR(c.energy.sense_j, 2 * 2 * 6 * 10e-15, 1e-27);
  // ADC: 2 reads x 3 columns x 2^4 fJ, two tiles.
  EXPECT_NEAR(c.energy.adc_j, 2 * 2 * 3 * 16e-15, 1e-27);
  // One extra row block: 6 outputs, one add each.
  EXPECT_NEAR(c.energy.accumulate_j, 6e-12, 1e-24);
  // Digital: analog layer 16 inputs x (2 + 1) pJ + 6 outputs x (2 + 3) pJ; digital layer
  // 3 x 3 + 2 x 5 + 6 MACs x 5; other ops 10 x 1 pJ.
  EXPECT_NEAR(c.energy.digital_j, (48 + 30 + 9 + 10 + 30 + 10) * 1e-12, 1e-22);
  // Buffer: 16 x 2/8 + 6 x 2 bytes; 3 x 1 + 2 x 2 bytes.
  EXPECT_NEAR(c.energy.buffer_j, (4 + 12 + 3 + 4) * 1e-12, 1e-22);
  EXPECT_NEAR(c.energy.Total(),
              c.energy.array_j + c.energy.lines_j + c.energy.dac_j + c.energy.sense_j +
                  c.energy.adc_j + c.energy.accumulate_j + c.energy.digital_j + c.energy.buffer_j,
              1e-24);
  EXPECT_DOUBLE_EQ(c.ops, 2.0 * (2 * 3 * 8 + 3 * 2));
  EXPECT_DOUBLE_EQ(c.analog_ops, 2.0 * 48);
  // Latency: a read of 10 ns plus ceil(3 / 2) = 2 conversions of 1 ns, tiles in parallel.
  EXPECT_NEAR(c.mvm_s, 12e-9, 1e-20);
  EXPECT_NEAR(c.latency_s, 2 * 12e-9, 1e-20);
  EXPECT_NEAR(c.PipelinedPerS(), 1.0 / 24e-9, 1e-3);
  // Area: 2 x 12 cells x 0.1 + 2 x (4 x 3 + 6 x 7 + 2 x 100).
  EXPECT_NEAR(c.area.cells_um2, 2.4, 1e-12);
  EXPECT_NEAR(c.area.Total(), 2.4 + 2 * (12 + 42 + 200), 1e-9);
  // Write: 48 devices x 0.5 V x 0.1 mA x 1 ns x 2 pulses; one device at a time per array.
  EXPECT_EQ(c.write.devices, 48);
  EXPECT_NEAR(c.write.energy_j, 48 * 0.5 * 1e-4 * 1e-9 * 2, 1e-24);
  EXPECT_NEAR(c.write.time_s, 24 * 1e-9 * 2, 1e-20);
  EXPECT_NEAR(c.TopsPerW(), c.ops / c.energy.Total() / 1e12, 1e-9);

  // Tiles one after another double the latency and the write time.
  o.tiles_parallel = false;
  const InferenceCost s = Account({l, f}, OtherOps{5.0, 5.0}, chip, o, cell, 0.5);
  EXPECT_NEAR(s.latency_s, 2 * c.latency_s, 1e-20);
  EXPECT_NEAR(s.write.time_s, 2 * c.write.time_s, 1e-20);
  EXPECT_DOUBLE_EQ(s.energy.Total(), c.energy.Total());

  // A card without a stated cell: area and write cost unknown, not zero.
  const InferenceCost u = Account({l, f}, OtherOps{}, chip, o, device::CellCost{}, 0.5);
  EXPECT_LT(u.area.Total(), 0.0);
  EXPECT_LT(u.write.energy_j, 0.0);
  EXPECT_TRUE(u.ToJson()["area_um2"]["total"].is_null());
  // Float products outside the weight layers (an import's digital convolutions): a multiply
  // and an add per MAC, 2 ops each; 7 MACs x (2 + 3) pJ.
  OtherOps macs{5.0, 5.0};
  macs.float_macs = 7.0;
  const InferenceCost m = Account({l, f}, macs, chip, o, cell, 0.5);
  EXPECT_NEAR(m.energy.digital_j - c.energy.digital_j, 35e-12, 1e-22);
  EXPECT_DOUBLE_EQ(m.ops - c.ops, 14.0);
  // An unsplit tile leaves the devices' share unknown.
  l.tiles[1].devices_j = -1.0;
  EXPECT_LT(Account({l}, OtherOps{}, chip, o, cell, 0.5).energy.devices_j, 0.0);
}

}  // namespace
}  // namespace aimc::energy
