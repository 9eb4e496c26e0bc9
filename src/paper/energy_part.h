#pragma once
// The energy of an inference in the study (private to the paper module): Fig. 16's points carry
// it, Fig. 20 plots the error against it over R_ON, Fig. 21 and Table I give it per card.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aimc/device/card.h"
#include "aimc/energy/model.h"
#include "aimc/nn/data.h"
#include "aimc/nn/network.h"

namespace aimc::paper {

/// The study's energy options: the model's defaults (docs/energy.md) averaged over the first
/// `images` test images, with `split_mvms` full solves per layer for the devices' share.
energy::EnergyOptions StudyEnergyOptions(std::int64_t images, int split_mvms = 0);

/// The columns of a cost in a figure's table, and the values in their order (pJ, TOPS/W, TOPS,
/// us, mm^2, nJ; NaN where the card states no cell or the energy is not split).
const std::vector<std::string>& CostColumns();
std::vector<double> CostFields(const energy::InferenceCost& cost);

/// One chip of `card` with wires `wire_scale` x the 22 nm layout's (seed `seed`): its cost per
/// inference and, when `error_pct` is given, its test error (%) over `test`.
energy::InferenceCost CostOnChip(nn::NetworkImpl& network, const nn::Dataset& test,
                                 std::shared_ptr<const device::DeviceCard> card, double wire_scale,
                                 const energy::EnergyOptions& options, std::uint64_t seed,
                                 double* error_pct = nullptr);

/// "12.3 pJ", "4.5 nJ": an energy in joules with an SI prefix.
std::string Joules(double j);

}  // namespace aimc::paper
