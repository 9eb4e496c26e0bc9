#include "aimc/nn/model_io.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/manifest.h"
#include "aimc/nn/analog_layer.h"
#include "model_file.h"
#include "model_io_internal.h"

namespace aimc::nn {
namespace fs = std::filesystem;

nlohmann::json ModelInfo::ToJson() const {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : history)
    h.push_back({{"epoch", e.epoch},
                 {"loss", e.loss},
                 {"train_accuracy", e.train_accuracy},
                 {"test_accuracy", e.test_accuracy},
                 {"seconds", e.seconds},
                 {"images_per_second", e.images_per_second}});
  nlohmann::json j = {{"network", network.ToJson()},
                      {"training", training.ToJson()},
                      {"epochs_done", epochs_done},
                      {"history", h}};
  if (!class_names.empty()) j["class_names"] = class_names;
  return j;
}

ModelInfo ModelInfo::FromJson(const nlohmann::json& json) {
  ModelInfo info;
  const std::string what = "model info";
  Require(json.is_object() && json.contains("network") && json.contains("training"),
          "{}: needs the keys 'network' and 'training'", what);
  info.network = NetworkOptions::FromJson(json.at("network"));
  info.training = TrainOptions::FromJson(json.at("training"));
  info.epochs_done = JsonValue(json, "epochs_done", 0, what);
  if (const auto names = json.find("class_names"); names != json.end()) {
    Require(names->is_array() &&
                std::all_of(names->begin(), names->end(),
                            [](const nlohmann::json& n) { return n.is_string(); }),
            "{}: 'class_names' must be a list of strings", what);
    info.class_names = names->get<std::vector<std::string>>();
  }
  Require(info.epochs_done >= 0, "{}: epochs_done must be >= 0, got {}", what, info.epochs_done);
  const auto history = json.find("history");
  if (history == json.end()) return info;
  Require(history->is_array(), "{}: 'history' must be a list", what);
  for (const auto& e : *history) {
    Require(e.is_object(), "{}: every entry of 'history' must be an object", what);
    EpochStats s;
    const std::string entry = what + " history";
    s.epoch = JsonValue(e, "epoch", s.epoch, entry);
    s.loss = JsonValue(e, "loss", s.loss, entry);
    s.train_accuracy = JsonValue(e, "train_accuracy", s.train_accuracy, entry);
    s.test_accuracy = JsonValue(e, "test_accuracy", s.test_accuracy, entry);
    s.seconds = JsonValue(e, "seconds", s.seconds, entry);
    s.images_per_second = JsonValue(e, "images_per_second", s.images_per_second, entry);
    info.history.push_back(s);
  }
  return info;
}

std::string ClassNamesWarning(const ModelInfo& model, const Dataset& data) {
  const std::vector<std::string>& mine = model.class_names;
  const std::vector<std::string>& theirs = data.class_names;
  if (mine.empty() || theirs.empty() || mine == theirs) return {};
  std::vector<std::string> a = mine, b = theirs;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a == b) {
    std::vector<std::string> moved;
    for (std::size_t k = 0; k < mine.size(); ++k)
      if (mine[k] != theirs[k])
        moved.push_back(fmt::format("label {} is '{}' for the model, '{}' in the data", k,
                                    mine[k], theirs[k]));
    return fmt::format(
        "data '{}' holds the model's classes in another order ({}{}): its accuracy counts "
        "right answers as wrong; relabel the data or rename its class folders so that they "
        "sort in the model's order ({})",
        data.name, fmt::join(moved.begin(), moved.begin() + std::min<std::size_t>(3, moved.size()), "; "),
        moved.size() > 3 ? fmt::format("; {} more", moved.size() - 3) : "",
        fmt::join(mine, ", "));
  }
  return fmt::format("data '{}' names its classes {}, the model was trained or imported with {}: "
                     "its labels may mean other classes",
                     data.name, fmt::join(theirs, ", "), fmt::join(mine, ", "));
}

namespace {

void WriteArchive(const fs::path& path, torch::serialize::OutputArchive& archive) {
  RequireOutputFile(path);
  CreateParentFolder(path);
  const fs::path tmp = path.string() + ".tmp";
  try {
    archive.save_to(tmp.string());
  } catch (const c10::Error& e) {
    Fail("cannot write {}: {}", path.string(), e.what_without_backtrace());
  }
  std::error_code error;
  fs::rename(tmp, path, error);  // a kill mid-save leaves the previous checkpoint intact
  Require(!error, "cannot write {}: {}", path.string(), error.message());
}

std::string Shape(const torch::Tensor& t) {
  return fmt::format("[{}]", fmt::join(t.sizes(), ", "));
}

// The chip deviations of an IR-drop-aware network (SaveCheckpoint), if the file has them: each
// must have its layer's weight shape and finite values.
void ReadChipDeviation(const fs::path& path, NetworkImpl& network,
                       torch::serialize::InputArchive& archive) {
  auto analog = network.AnalogLayers();
  for (auto& layer : analog) layer->ClearChipDeviation();
  torch::serialize::InputArchive deviation;
  if (!archive.try_read("chip_deviation", deviation)) return;
  for (std::size_t l = 0; l < analog.size(); ++l) {
    torch::Tensor t;
    if (!deviation.try_read(fmt::format("layer{}", l), t)) continue;
    const torch::Tensor& w = analog[l]->Weight();
    Require(analog[l]->options().ternary && t.sizes() == w.sizes() &&
                t.scalar_type() == w.scalar_type(),
            "{}: chip deviation of analog layer {} has shape {} ({}), the layer needs {} ({}, "
            "ternary)",
            path.string(), l, Shape(t), c10::toString(t.scalar_type()), Shape(w),
            c10::toString(w.scalar_type()));
    Require(torch::isfinite(t).all().item<bool>(),
            "{}: chip deviation of analog layer {} holds NaN or infinite values", path.string(), l);
    analog[l]->SetChipDeviation(t);
  }
}

// The network options in which an init model and the trained network differ:
// "width: init model 2, trained network 1; act_bits: init model 4, trained network 2".
std::string NetworkDifferences(const NetworkOptions& init, const NetworkOptions& trained) {
  const nlohmann::json ji = init.ToJson(), jt = trained.ToJson();
  std::string out;
  for (const auto& [key, value] : ji.items()) {
    const nlohmann::json other = jt.contains(key) ? jt.at(key) : nlohmann::json();
    if (value == other) continue;
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: init model {}, trained network {}", key, value.dump(), other.dump());
  }
  return out;
}

}  // namespace

namespace internal {

void SaveCheckpoint(const fs::path& path, NetworkImpl& network, torch::optim::Optimizer* optimizer,
                    const ModelInfo& info) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model;
  network.save(model);
  archive.write("model", model);
  archive.write("aimc_info", c10::IValue(info.ToJson().dump()));
  // An imported module that runs as it is: its TorchScript archive, byte for byte.
  if (const auto& script = network.options().script) {
    torch::Tensor bytes = torch::empty({static_cast<std::int64_t>(script->size())}, torch::kUInt8);
    std::memcpy(bytes.data_ptr(), script->data(), script->size());
    archive.write("script", bytes);
  }
  // IR-drop-aware training: the chip deviation each layer was last trained with, so that a
  // resumed run continues with it and calibration can aim at the product the network learned.
  const auto analog = network.AnalogLayers();
  if (std::any_of(analog.begin(), analog.end(),
                  [](const AnalogLayer& l) { return l->chip_deviation().defined(); })) {
    torch::serialize::OutputArchive deviation;
    for (std::size_t l = 0; l < analog.size(); ++l)
      if (analog[l]->chip_deviation().defined())
        deviation.write(fmt::format("layer{}", l), analog[l]->chip_deviation());
    archive.write("chip_deviation", deviation);
  }
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive opt;
    optimizer->save(opt);
    archive.write("optimizer", opt);
  }
  WriteArchive(path, archive);
}

ModelInfo ReadInfo(torch::serialize::InputArchive& archive, const fs::path& path) {
  c10::IValue value;
  Require(archive.try_read("aimc_info", value) && value.isString(),
          "{}: not an aimc model file (no model info)", path.string());
  try {
    ModelInfo info = ModelInfo::FromJson(nlohmann::json::parse(value.toStringRef()));
    if (info.network.arch == "torchscript") {
      torch::Tensor bytes;
      Require(archive.try_read("script", bytes) && bytes.scalar_type() == torch::kUInt8 &&
                  bytes.dim() == 1,
              "{}: a network of arch torchscript without its TorchScript module", path.string());
      bytes = bytes.contiguous();
      auto script = std::make_shared<std::string>(static_cast<const char*>(bytes.data_ptr()),
                                                  static_cast<std::size_t>(bytes.numel()));
      Require(HashHex(*script) == info.network.script_hash,
              "{}: its TorchScript module has hash {}, the model info says {}: the file is "
              "corrupt",
              path.string(), HashHex(*script), info.network.script_hash);
      info.network.script = std::move(script);
    }
    return info;
  } catch (const Error& e) {
    Rethrow(e, path.string());
  } catch (const nlohmann::json::exception& e) {
    Fail("{}: model info is not JSON ({})", path.string(), e.what());
  }
}

void OpenArchive(const fs::path& path, torch::serialize::InputArchive& archive) {
  // LibTorch's loader trusts sizes in the file; it only sees archives checked first.
  internal::CheckModelArchive(path);
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    Fail("{}: not a readable model file ({})", path.string(), e.what_without_backtrace());
  } catch (const std::exception& e) {
    Fail("{}: not a readable model file ({})", path.string(), e.what());
  }
}

void LoadWeights(const fs::path& path, NetworkImpl& network,
                 torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive model;
  Require(archive.try_read("model", model), "{}: no model weights", path.string());
  struct Expected {
    std::vector<std::int64_t> sizes;
    torch::ScalarType type;
  };
  std::map<std::string, Expected> expected;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : network.named_parameters()) tensors.emplace_back(p.key(), p.value());
  for (const auto& b : network.named_buffers()) tensors.emplace_back(b.key(), b.value());
  for (const auto& [name, t] : tensors) expected[name] = {t.sizes().vec(), t.scalar_type()};
  try {
    network.load(model);
  } catch (const c10::Error& e) {
    Fail("{}: weights do not fit the network ({})", path.string(), e.what_without_backtrace());
  } catch (const std::exception& e) {
    Fail("{}: weights do not fit the network ({})", path.string(), e.what());
  }
  ReadChipDeviation(path, network, archive);
  tensors.clear();
  for (const auto& p : network.named_parameters()) tensors.emplace_back(p.key(), p.value());
  for (const auto& b : network.named_buffers()) tensors.emplace_back(b.key(), b.value());
  for (const auto& [name, t] : tensors) {
    const auto it = expected.find(name);
    Require(it != expected.end() && t.defined(), "{}: '{}' is not a tensor of the network",
            path.string(), name);
    const Expected& e = it->second;
    Require(t.sizes().vec() == e.sizes && t.scalar_type() == e.type,
            "{}: '{}' has shape {} ({}), but the network {} needs [{}] ({})", path.string(), name,
            Shape(t), c10::toString(t.scalar_type()), network.options().arch,
            fmt::join(e.sizes, ", "), c10::toString(e.type));
    if (!t.is_floating_point()) continue;
    torch::NoGradGuard no_grad;
    Require(torch::isfinite(t).all().item<bool>(), "{}: '{}' holds NaN or infinite values",
            path.string(), name);
    if (name.ends_with("running_var")) {
      Require((t >= 0).all().item<bool>(), "{}: '{}' holds a negative variance", path.string(),
              name);
    }
    if (name.ends_with("alpha")) {
      Require((t > 0).all().item<bool>(), "{}: '{}' (the activation clip) must be > 0",
              path.string(), name);
    }
  }
}

void LoadInit(const fs::path& path, NetworkImpl& net) {
  torch::serialize::InputArchive archive;
  OpenArchive(path, archive);
  const ModelInfo init = ReadInfo(archive, path);
  Require(init.network.ToJson() == net.options().ToJson(),
          "init_from {}: the network options differ ({}); fine-tuning keeps the init model's "
          "network",
          path.string(), NetworkDifferences(init.network, net.options()));
  torch::serialize::InputArchive model;
  Require(archive.try_read("model", model), "init_from {}: no model weights", path.string());
  try {
    net.load(model);
  } catch (const c10::Error& e) {
    Fail("init_from {}: weights do not fit the network ({})", path.string(),
         e.what_without_backtrace());
  }
  spdlog::info("fine-tuning {} ({} epochs of sigma_train {}, noise-free test accuracy {:.2f} %)",
               path.string(), init.epochs_done, init.training.sigma_train,
               init.history.empty() ? 0.0 : 100 * init.history.back().test_accuracy);
}

}  // namespace internal

void SaveModel(const fs::path& path, NetworkImpl& network, const ModelInfo& info) {
  internal::SaveCheckpoint(path, network, nullptr, info);
}

Model LoadModel(const fs::path& path) {
  torch::serialize::InputArchive archive;
  internal::OpenArchive(path, archive);
  Model loaded;
  loaded.info = internal::ReadInfo(archive, path);
  loaded.network = MakeNetwork(loaded.info.network, loaded.info.training.seed);
  internal::LoadWeights(path, *loaded.network, archive);
  loaded.network->eval();
  return loaded;
}

}  // namespace aimc::nn
