#include "sweep_inputs.h"

#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/cluster.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/experiment/calibration.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/torchscript.h"

namespace aimc::experiment {

namespace fs = std::filesystem;

std::unique_ptr<device::DeviceCard> CardAt(const device::DeviceCard& card, double r_on_ohm,
                                           double tmr) {
  std::unique_ptr<device::DeviceCard> out = card.WithRon(std::isnan(r_on_ohm) ? card.r_on_ohm() : r_on_ohm);
  if (!std::isnan(tmr)) out = out->WithOnOffRatio(1.0 + tmr);
  return out;
}

std::string DatasetOf(const SweepOptions& o, const nn::ModelInfo& info) {
  return o.dataset.empty() ? info.training.dataset : o.dataset;
}

// Where a model's test data are: the experiment's data_dir, else, for a user's data set (npy,
// npz, folder: nothing to find without a path), the folder the model was trained on.
fs::path DataDirOf(const SweepOptions& o, const nn::ModelInfo& info) {
  if (!o.data_dir.empty() || !nn::IsUserDataset(DatasetOf(o, info))) return o.data_dir;
  return info.training.data_dir;
}

// The key of a data set in the sweep's caches and its definition: the name, and for a user's
// data set read from a model's own folder also that folder.
std::string DataKeyOf(const SweepOptions& o, const nn::ModelInfo& info) {
  const fs::path dir = DataDirOf(o, info);
  return dir == o.data_dir ? DatasetOf(o, info)
                           : fmt::format("{} at {}", DatasetOf(o, info), dir.string());
}

namespace {

// Card c, loaded and able to produce every R_ON and TMR of the axes.
std::unique_ptr<device::DeviceCard> LoadCheckedCard(const SweepOptions& o, std::size_t c) {
  try {
    std::unique_ptr<device::DeviceCard> card = device::LoadCardOrPreset(o.cards[c]);
    for (double r : OrNan(o.r_on_ohm))
      for (double t : OrNan(o.tmr)) CardAt(*card, r, t);
    return card;
  } catch (const Error& e) {
    Fail("cards[{}] = '{}': {}", c, o.cards[c], e.what());
  }
}

// Model m, loaded: a ternary network that takes the images and classes of its data set.
nn::Model LoadCheckedModel(const SweepOptions& o, std::size_t m,
                           std::map<std::string, nn::DatasetShape>& shapes) {
  const std::vector<fs::path>& models = o.models;
  Require(fs::exists(models[m]), "models[{}] = '{}': no such file", m, models[m].string());
  nn::Model model;
  try {
    model = nn::LoadModel(models[m]);
  } catch (const Error& e) {
    Fail("models[{}]: {}", m, e.what());
  }
  const std::string ds = DatasetOf(o, model.info);
  const std::string key = DataKeyOf(o, model.info);
  if (!shapes.count(key)) shapes[key] = nn::ShapeOf(ds, DataDirOf(o, model.info));
  const nn::DatasetShape shape = shapes[key];
  const nn::NetworkOptions& net = model.info.network;
  Require(net.in_channels == shape.channels && net.image_size == shape.size &&
              net.classes == shape.classes,
          "models[{}] = '{}' takes {}x{}x{} images and {} classes, but dataset '{}' has {}x{}x{} "
          "and {} classes",
          m, models[m].string(), net.in_channels, net.image_size, net.image_size, net.classes,
          ds, shape.channels, shape.size, shape.size, shape.classes);
  Require(net.ternary, "models[{}] = '{}' is a float network: nothing to place on arrays", m,
          models[m].string());
  return model;
}

}  // namespace

SweepInputs LoadSweepInputs(const SweepOptions& o) {
  SweepInputs in;
  try {
    for (std::size_t m = 0; m < o.torchscript.size(); ++m)
      Require(fs::is_regular_file(o.torchscript[m]), "torchscript[{}] = '{}': no such file", m,
              o.torchscript[m].string());
    for (std::size_t c = 0; c < o.cards.size(); ++c) in.cards.push_back(LoadCheckedCard(o, c));
    for (std::size_t m = 0; m < o.models.size(); ++m)
      in.models.push_back(LoadCheckedModel(o, m, in.shapes));
  } catch (const Error& e) {
    if (!o.source_file.empty()) RethrowNamingFile(e, o.source_file.string());
    throw;
  }
  return in;
}

void CheckSweepInputs(const SweepOptions& options) { LoadSweepInputs(options); }

SweepOptions WithImports(const SweepOptions& requested, const fs::path& csv, SweepInputs& inputs) {
  if (requested.torchscript.empty()) return requested;
  SweepOptions o = requested;
  const fs::path dir = (csv.parent_path().empty() ? fs::path(".") : csv.parent_path()) /
                       (csv.stem().string() + "_imports");
  std::vector<fs::path> outs;
  for (const auto& f : o.torchscript) outs.push_back(dir / (f.stem().string() + ".pt"));
  cluster::OnWriter([&] {
    fs::create_directories(dir);
    const nn::DataSplit split = nn::LoadData(o.dataset, o.data_dir);
    nn::SetThreads(1);
    for (std::size_t m = 0; m < outs.size(); ++m) {
      try {
        const nn::ImportedModel im =
            nn::ImportAsModel(o.torchscript[m], o.import, o.dataset, o.data_dir, split,
                              o.test_images);
        nn::SaveModel(outs[m], *im.import.network, im.info);
        spdlog::info("{}: imported as {}, digital accuracy {:.2f} %", o.torchscript[m].string(),
                     outs[m].string(), 100 * im.info.history.front().test_accuracy);
      } catch (const Error& e) {
        Fail("torchscript[{}]: {}", m, e.what());
      }
    }
    nn::SetThreads(o.threads);
  });
  o.models.insert(o.models.end(), outs.begin(), outs.end());
  for (std::size_t m = inputs.models.size(); m < o.models.size(); ++m)
    inputs.models.push_back(LoadCheckedModel(o, m, inputs.shapes));
  return o;
}

void LoadTestData(const SweepOptions& options, SweepInputs& inputs) {
  for (const auto& m : options.models) inputs.model_hashes.push_back(HashFile(m));
  for (std::size_t m = 0; m < inputs.models.size(); ++m) {
    nn::Model& model = inputs.models[m];
    model.network->eval();
    const std::string ds = DatasetOf(options, model.info);
    const std::string key = DataKeyOf(options, model.info);
    const fs::path dir = DataDirOf(options, model.info);
    std::optional<nn::DataSplit> split;
    if (!inputs.test_data.count(key)) {
      split = nn::LoadData(ds, dir);
      inputs.data_fingerprints[key] = nn::Fingerprint(*split);
      inputs.test_data[key] = split->test.Head(options.test_images);
    }
    if (const std::string w = nn::ClassNamesWarning(model.info, inputs.test_data[key]); !w.empty())
      spdlog::warn("models[{}] = '{}': {}", m, options.models[m].string(), w);
    inputs.calibrations.push_back(nullptr);
    if (!options.cards.empty() && options.chip.calibration_images > 0) {
      if (!split) split = nn::LoadData(ds, dir);
      inputs.calibrations.back() = CaptureCalibration(
          *model.network, split->train.Head(options.chip.calibration_images));
    }
  }
}

}  // namespace aimc::experiment
