#include "aimc/experiment/ir_aware.h"

#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "aimc/common/error.h"
#include "aimc/device/two_state.h"
#include "aimc/experiment/chip.h"
#include "chip_tiles.h"

namespace aimc::experiment {

std::shared_ptr<const device::DeviceCard> NominalDevices(const device::DeviceCard& card) {
  const device::StateStats st = card.Stats();
  device::TwoStateOptions nominal;
  nominal.name = card.name() + " (nominal)";
  nominal.source = "the mean conductances of " + card.name();
  nominal.r_on_ohm = 1.0 / st.on.mean_s;
  nominal.on_off_ratio = st.on_off_ratio();
  nominal.cv_on = nominal.cv_off = 0.0;
  nominal.r_on_min_ohm = std::min(nominal.r_on_min_ohm, nominal.r_on_ohm);
  nominal.r_on_max_ohm = std::max(nominal.r_on_max_ohm, nominal.r_on_ohm);
  nominal.write_voltage_v = card.write_voltage_v();
  return std::make_shared<device::TwoStateCard>(nominal);
}

void IrAwareOptions::Validate() const {
  Require(card != nullptr, "ir_aware.card must be set");
  chip.Validate();
  Require(chip.calibration_images == 0, "ir_aware.chip.calibration_images must be 0");
  Require(rebuild_every_steps >= 1 && rebuild_every_steps <= 1000000,
          "ir_aware.rebuild_every_steps must be in [1, 1000000], got {}", rebuild_every_steps);
}

nlohmann::json IrAwareOptions::ToJson() const {
  return {{"card", card ? card->ToJson() : nlohmann::json()},
          {"chip", chip.ToJson()},
          {"rebuild_every_steps", rebuild_every_steps},
          {"device_variation", device_variation},
          {"seed", seed}};
}

std::function<void(nn::NetworkImpl&, std::int64_t)> IrAwareHook(
    IrAwareOptions options, std::shared_ptr<std::int64_t> builds,
    std::shared_ptr<std::int64_t> layer_builds) {
  options.Validate();
  std::shared_ptr<const device::DeviceCard> devices =
      options.device_variation ? options.card : NominalDevices(*options.card);
  // The levels each layer's deviation was built for (nominal devices only).
  auto built_for = std::make_shared<std::vector<torch::Tensor>>();
  return [options, devices, builds, layer_builds, built_for](nn::NetworkImpl& network,
                                                              std::int64_t step) {
    if (step % options.rebuild_every_steps != 0) return;
    torch::NoGradGuard no_grad;
    auto analog = network.AnalogLayers();
    std::vector<torch::Tensor> levels;
    for (const auto& layer : analog)
      levels.push_back(layer->Quantized().levels.to(torch::kFloat));
    std::vector<bool> stale(analog.size(), true);
    if (!options.device_variation && built_for->size() == analog.size()) {
      for (std::size_t l = 0; l < analog.size(); ++l)
        stale[l] = !analog[l]->chip_deviation().defined() || !torch::equal((*built_for)[l], levels[l]);
      if (std::none_of(stale.begin(), stale.end(), [](bool b) { return b; })) return;
    }
    const std::uint64_t seed =
        options.device_variation ? Rng::Derive(options.seed, static_cast<std::uint64_t>(step))
                                 : options.seed;
    const std::vector<torch::Tensor> weights =
        Chip::EffectiveWeights(network, ChipSpec::Devices(devices, options.chip), seed, stale);
    built_for->resize(analog.size());
    for (std::size_t l = 0; l < analog.size(); ++l) {
      if (!stale[l]) continue;
      analog[l]->SetChipDeviation(weights[l] - levels[l]);
      (*built_for)[l] = levels[l];
      if (layer_builds) ++*layer_builds;
    }
    if (builds) ++*builds;
  };
}

}  // namespace aimc::experiment
