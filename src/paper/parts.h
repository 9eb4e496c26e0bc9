#pragma once
// The parts of the paper's study, one file each (private to the paper module).

#include <memory>
#include <string>
#include <vector>

#include "aimc/device/card.h"
#include "aimc/device/mtj.h"
#include "aimc/paper/study.h"
#include "aimc/report/figure_store.h"

namespace aimc::paper {

/// The SOT-MRAM card as shipped (configs/devices/sot_mram.toml, or $AIMC_HOME's): every figure
/// that uses SOT-MRAM numbers takes them from here, never retyped.
device::MtjOptions SotMramCard();

/// Devices without spread at `r_on_ohm` and TMR `tmr`: the error of a chip made of them is the
/// circuit's alone (Figs. 15b, 15c, 16).
std::unique_ptr<device::DeviceCard> IdealCard(double r_on_ohm, double tmr);

/// The SOT-MRAM card read with sigma = 3 nm on the pillar's diameter instead of its radius (the
/// paper is ambiguous): the same pillar, R_ON, physics and cell; Table I's last column.
std::unique_ptr<device::DeviceCard> SotDiameterReading();

/// A column of Table I: a card and how it is labelled.
struct Table1Card {
  std::string label;
  std::shared_ptr<device::DeviceCard> card;
  bool reading = false;  // the diameter reading of the SOT-MRAM card, shown beside the verdict
};

/// Table I's columns, the one list of them (the verdict and Table I under mitigation): the cards
/// `names` (files or presets) in order, then SotDiameterReading().
std::vector<Table1Card> Table1Cards(const std::vector<std::string>& names);

/// Figs. 4, 8b, 8c, 10b, 11 and the sigma_r reading: device statistics, weight spread.
void AddDevicePart(report::Study& study, const StudyOptions& options);
/// Figs. 15b, 15c: IR drop in the FC layer of CNN 1.
void AddCircuitPart(report::Study& study, const StudyOptions& options);
#ifdef AIMC_WITH_TORCH
/// Fig. 13b: CNN 1 under weight noise.
void AddTrainingPart(report::Study& study, const StudyOptions& options);
/// Fig. 14b: CNN 2 under weight noise.
void AddResnetPart(report::Study& study, const StudyOptions& options);
/// Fig. 16: CNN 1 with exact IR drop.
void AddIrDropPart(report::Study& study, const StudyOptions& options);
/// Table I: the specifications and which technology meets them.
void AddVerdictPart(report::Study& study, const StudyOptions& options);
/// Figs. 23, 24 and Table I under mitigation: calibration and IR-drop-aware training.
void AddMitigationPart(report::Study& study, const StudyOptions& options);
/// Figs. 17-19: devices as read (bias-dependent TMR, read noise) and as they age.
void AddPhysicsPart(report::Study& study, const StudyOptions& options);
#endif

}  // namespace aimc::paper
