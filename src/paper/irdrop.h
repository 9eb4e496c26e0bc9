#pragma once
// Fig. 16: CNN 1 on the whole test set, every MVM solved as the DC circuit of its array, against
// R_ON and wire resistance (private to the paper module).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "aimc/energy/model.h"
#include "aimc/experiment/chip.h"
#include "aimc/nn/data.h"
#include "aimc/nn/network.h"
#include "networks.h"

namespace aimc::paper {

struct IrDropPlan {
  std::vector<double> r_on_ohm;
  /// Wire resistance per segment as multiples of the 22 nm layout estimate (1.94 Ohm per row
  /// segment, 3.88 Ohm per column segment): the layout's and two reference points.
  std::vector<double> wire_scale = {0.1, 1.0, 10.0};
  /// TMR of the devices: the SOT-MRAM card's.
  double tmr = 0.0;
  int epochs = 25;
  std::int64_t test_subset = 0;  // 0: the whole test set (the paper: 10,000 images)
  /// Training images of CNN 1 and test images of its per-epoch check (0: all; set by limits
  /// only, and in the JSON only when set).
  std::int64_t train_subset = 0;
  std::int64_t epoch_test_subset = 0;
  /// "Error rises": an increase over the wire-free chip by more than this (percentage points).
  double error_rise_pct = 1.5;
  nlohmann::json ToJson() const;
};

/// The plan per profile, with the TMR of the SOT-MRAM card `tmr`.
IrDropPlan Fig16Plan(bool quick, double tmr);
/// The plan of a run: its profile's, under its limits.
IrDropPlan Fig16Plan(const StudyOptions& options, double tmr);

/// CNN 1 as Fig. 16 tests it: ternary LeNet-5 on the full MNIST when --data-dir has it, else on
/// Fashion-MNIST (10,000 test images either way; the built-in digits have only 1,996).
struct Cnn1IrDrop {
  StudyData data;
  nn::Dataset test;
  StudyNetwork net;
};
Cnn1IrDrop Cnn1ForIrDrop(const StudyOptions& options, const IrDropPlan& plan);
/// Test error (%) of the same network without analog arrays: the reference of the IR-drop error.
/// Test error (%) of the network as it is (its chip if one is programmed, else digital);
/// `wrong`, when given, receives the misclassified test images (1) in test order.
double NetworkErrorPct(nn::NetworkImpl& network, const nn::Dataset& test,
                       std::vector<std::uint8_t>* wrong = nullptr);
/// NetworkErrorPct of CNN 1's network on its test images.
double DigitalErrorPct(Cnn1IrDrop& cnn1, std::vector<std::uint8_t>* wrong = nullptr);

/// Test error (%) of the network on one chip of ideal devices (no spread; R_ON, TMR) with wires
/// `wire_scale` x the 22 nm layout's; `seconds` (if given) receives the time taken, `cost` (with
/// `energy_options`) the cost of an inference on the same chip. One work unit of Fig. 16 and of
/// a step of Table I's R_ON bisection.
/// Test error (%) of `network` on one chip of `card` drawn from `seed`, with wires `wire_scale` x
/// the 22 nm layout's, calibrated with `calibration` when given; `cost` (with `energy_options`)
/// the cost of an inference on the same chip; `wrong` the misclassified test images (1) in test
/// order. The chip of Figs. 16, 22, 23 and 24.
double ChipErrorPct(nn::NetworkImpl& network, const nn::Dataset& test,
                    std::shared_ptr<const device::DeviceCard> card, double wire_scale,
                    std::uint64_t seed,
                    std::shared_ptr<const experiment::CalibrationSet> calibration = nullptr,
                    const energy::EnergyOptions* energy_options = nullptr,
                    energy::InferenceCost* cost = nullptr,
                    std::vector<std::uint8_t>* wrong = nullptr);

double IrDropError(nn::NetworkImpl& network, const nn::Dataset& test, double r_on_ohm,
                   double tmr, double wire_scale, double* seconds = nullptr,
                   const energy::EnergyOptions* energy_options = nullptr,
                   energy::InferenceCost* cost = nullptr,
                   std::shared_ptr<const experiment::CalibrationSet> calibration = nullptr,
                   std::vector<std::uint8_t>* wrong = nullptr);

/// The last point, in the order given (R_ON from high to low, sigma_w from low to high), whose
/// error increase stays within `budget` before the first that does not (once the error has
/// risen, points further on are not "ok" again); NaN if the first is over the budget.
double LowestOk(const std::vector<double>& points, const std::vector<double>& increase,
                double budget);

/// A spec from a curve: walking the points in order (R_ON from high to low, sigma_w from low to
/// high), where the error increase first exceeds `budget`, interpolated between that point and
/// the one before (linear in the increase; in log of the point when `log_scale`). NaN if the
/// first point is over the budget already; the last point when none is (the spec lies beyond).
double SpecAt(const std::vector<double>& points, const std::vector<double>& increase,
              double budget, bool log_scale);

}  // namespace aimc::paper
