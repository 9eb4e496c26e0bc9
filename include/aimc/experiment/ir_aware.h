#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include <nlohmann/json_fwd.hpp>

#include "aimc/device/card.h"
#include "aimc/experiment/chip_options.h"
#include "aimc/nn/network.h"

namespace aimc::experiment {

/// IR-drop-aware training (docs/train.md): every forward pass of training runs the network
/// through a chip's effective weights, rebuilt every `rebuild_every_steps` steps for the ternary
/// weights of the moment, with the straight-through gradient of the levels.
struct IrAwareOptions {
  std::shared_ptr<const device::DeviceCard> card;
  ChipOptions chip;
  /// Steps between rebuilds of the chip (1: every step, exact; the levels that flip in between
  /// keep the deviation of their last build until the next).
  int rebuild_every_steps = 50;
  /// false (the default): the chip's devices are the card's nominal conductances (no spread), so
  /// the deviation is the IR drop's alone and the network does not learn one chip's devices;
  /// true: devices drawn from the card anew at every rebuild (device variation in training).
  bool device_variation = false;
  std::uint64_t seed = 1;

  /// Throws aimc::Error naming the field.
  void Validate() const;
  /// What TrainOptions::hardware records: the card's parameters and the chip's options.
  nlohmann::json ToJson() const;
};

/// The card's mean conductances without spread or aging (a two-state card): the devices of
/// IR-drop-aware training without device variation.
std::shared_ptr<const device::DeviceCard> NominalDevices(const device::DeviceCard& card);

/// The step hook of IR-drop-aware training (TrainOptions::before_step): at every
/// rebuild_every_steps-th step it builds the chip (Chip::EffectiveWeights) and gives each ternary
/// layer its deviation, effective weight minus levels (nn::AnalogLayerImpl::SetChipDeviation).
/// Without device variation a layer's effective weight depends on its levels only, so only the
/// layers whose levels flipped since their last build are solved again (none: no build), which
/// is exact. `builds` (if given) counts the builds, `layer_builds` the layers solved.
std::function<void(nn::NetworkImpl&, std::int64_t)> IrAwareHook(
    IrAwareOptions options, std::shared_ptr<std::int64_t> builds = nullptr,
    std::shared_ptr<std::int64_t> layer_builds = nullptr);

}  // namespace aimc::experiment
