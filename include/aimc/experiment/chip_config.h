#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "aimc/common/fields.h"
#include "aimc/device/card.h"
#include "aimc/experiment/chip_options.h"

namespace aimc::experiment {

/// A chip as a user states it, in one place for every way to run one: `aimc test`, `aimc
/// energy`, `aimc train --ir-aware-*`, a sweep's [chip] table and Python's aimc.ChipConfig all
/// read these fields (ChipConfigFields()), with the same names, units and checks.
///  - the devices: a card (a preset name or a TOML file) at its nominal R_ON or r_on_ohm; or, with
///    no card, weight noise of sigma_w_test on every ternary level (the paper's Figs. 13-14);
///  - the wires: wire_ohm per segment of rows and columns, or a preset (wires) times wire_scale;
///  - the arrays: tiles, DAC read voltage, drivers, sense amplifiers, ADC, read conditions,
///    drift compensation and calibration (ChipOptions, ChipOptionsFields()).
/// Adding a chip option: a member of ChipOptions (or of this struct) and one entry in its field
/// table (src/experiment/chip_options.cc or chip_config.cc); the CLI flags, TOML key, JSON,
/// Python keyword and docs/sweep.md's table follow from it (docs/sweep.md, "Chip options").
struct ChipConfig {
  std::string card;
  double r_on_ohm = 0.0;
  double sigma_w_test = 0.0;
  double wire_ohm = 0.0;
  std::string wires;
  double wire_scale = 1.0;
  ChipOptions chip;

  /// Ranges, and what goes together: a card excludes sigma_w_test, the device, wire and array
  /// options need a card, wires exclude wire_ohm. Pure: reads no file (LoadCard does).
  /// Throws aimc::Error naming the field.
  void Validate() const;
  /// Every field, by name (the read conditions and calibration only where set).
  nlohmann::json ToJson() const;
  /// The fields `j` states, on top of the defaults; an unknown key is an error naming it.
  static ChipConfig FromJson(const nlohmann::json& j);
  bool uses_devices() const { return !card.empty(); }
  /// The card (file or preset) at r_on_ohm; nullptr without a card. Reads the card's file.
  std::shared_ptr<const device::DeviceCard> LoadCard() const;
  /// The array options with the wires applied (wire_ohm, or the preset times wire_scale).
  ChipOptions Options() const;
};

/// The fields of ChipConfig: its own (card, r_on_ohm, sigma_w_test, wire_ohm, wires,
/// wire_scale) and ChipOptions' (ChipOptionsFields()).
const FieldTable<ChipConfig>& ChipConfigFields();

}  // namespace aimc::experiment
