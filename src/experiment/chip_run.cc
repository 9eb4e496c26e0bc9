#include "aimc/experiment/chip_run.h"

#include <algorithm>

#include "aimc/common/error.h"
#include "aimc/experiment/calibration.h"
#include "aimc/nn/evaluate.h"

namespace aimc::experiment {

void ChipRunOptions::Validate() const {
  Require(chips >= 1, "chips must be >= 1, got {}", chips);
  Require(chips_per_pass >= 0, "chips_per_pass must be >= 0 (0: automatic), got {}",
          chips_per_pass);
  Require(test_images >= 0, "test_images must be >= 0 (0: all), got {}", test_images);
}

ChipRun RunChips(nn::NetworkImpl& network, const nn::DataSplit& data, const ChipConfig& config,
                 const ChipRunOptions& options) {
  options.Validate();
  ChipSpec spec = ChipSpec::FromConfig(config);
  nn::RequireFits(network.options(), data.test);
  ChipRun run;
  if (spec.uses_devices() && spec.options.calibration_images > 0) {
    spec.calibration =
        CaptureCalibration(network, data.train.Head(spec.options.calibration_images));
    const auto analog = network.AnalogLayers();
    run.calibrates_ir_aware_network =
        std::any_of(analog.begin(), analog.end(),
                    [](const auto& l) { return l->chip_deviation().defined(); });
  }
  spec.Validate();
  const nn::Dataset test = data.test.Head(options.test_images);
  run.test_images = test.size();
  run.stats = TestChips(network, test, spec, options.chips, options.seed, options.progress,
                        options.chips_per_pass);
  run.chip = spec.Describe();
  return run;
}

}  // namespace aimc::experiment
