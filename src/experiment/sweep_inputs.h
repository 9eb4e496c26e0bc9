#pragma once
// What a sweep reads besides its experiment file: cards, models, TorchScript imports and test
// data, checked and loaded once per run. Shared by the sweep's own files only.

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "aimc/device/card.h"
#include "aimc/experiment/sweep_options.h"
#include "aimc/nn/data.h"
#include "aimc/nn/model_io.h"

namespace aimc::experiment {

struct CalibrationSet;

/// The card of one point: at the point's R_ON and TMR (NaN: the card's own).
std::unique_ptr<device::DeviceCard> CardAt(const device::DeviceCard& card, double r_on_ohm,
                                           double tmr);

/// An axis of card values; empty: one NaN, the card's own value.
template <typename T>
std::vector<double> OrNan(const std::vector<T>& axis) {
  if (axis.empty()) return {std::nan("")};
  return std::vector<double>(axis.begin(), axis.end());
}

/// The data set a model is tested on, where its files are, and its key in the sweep's caches and
/// definition (see sweep_inputs.cc).
std::string DatasetOf(const SweepOptions& o, const nn::ModelInfo& info);
std::filesystem::path DataDirOf(const SweepOptions& o, const nn::ModelInfo& info);
std::string DataKeyOf(const SweepOptions& o, const nn::ModelInfo& info);

/// What the points of a sweep read, each loaded once.
struct SweepInputs {
  std::vector<std::unique_ptr<device::DeviceCard>> cards;  // per SweepOptions::cards
  std::vector<nn::Model> models;                           // per SweepOptions::models
  std::map<std::string, nn::DatasetShape> shapes;          // by DataKeyOf: read once
  // LoadTestData: what the definition names and the points run on.
  std::vector<std::string> model_hashes;                 // of each model file
  std::map<std::string, nn::Dataset> test_data;          // by DataKeyOf: the first test_images
  std::map<std::string, std::string> data_fingerprints;  // by DataKeyOf: the whole data set
  std::vector<std::shared_ptr<const CalibrationSet>> calibrations;  // per model; null: none
};

/// CheckSweepInputs, keeping the cards and models it loaded.
SweepInputs LoadSweepInputs(const SweepOptions& options);

/// SweepOptions::torchscript: each file imported (by the writer, on one thread) and saved beside
/// the result, then one more model of the sweep on every rank. Returns the options with the
/// imports among the models; they are checked and added to `inputs` as the others were.
SweepOptions WithImports(const SweepOptions& options, const std::filesystem::path& csv,
                         SweepInputs& inputs);

/// The model files' hashes, each data set's test images and fingerprint, and (device mode) each
/// model's calibration inputs, captured on training images, never test ones.
void LoadTestData(const SweepOptions& options, SweepInputs& inputs);

}  // namespace aimc::experiment
