#include "aimc/nn/train.h"

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <numbers>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/common/hash.h"
#include "aimc/common/manifest.h"
#include "aimc/common/progress.h"
#include "aimc/common/rng.h"
#include "aimc/nn/analog_layer.h"
#include "augment.h"
#include "model_file.h"

namespace aimc::nn {
namespace fs = std::filesystem;

namespace internal {

// Vectorized per shift: 25 index_copy calls per batch instead of one crop per image.
torch::Tensor Augment(const torch::Tensor& x, at::Generator& generator, std::int64_t batch,
                      std::int64_t offset) {
  const std::int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const torch::Tensor padded = torch::constant_pad_nd(x, {2, 2, 2, 2}, 0.0);
  const torch::Tensor shift =
      at::randint(25, {batch}, generator, torch::kLong).narrow(0, offset, n);
  torch::Tensor out = torch::empty_like(x);
  for (std::int64_t k = 0; k < 25; ++k) {
    const torch::Tensor idx = (shift == k).nonzero().reshape({-1});
    if (idx.numel() == 0) continue;
    out.index_copy_(0, idx, padded.index_select(0, idx).narrow(2, k / 5, h).narrow(3, k % 5, w));
  }
  if (x.size(1) == 3) {
    const torch::Tensor flip = at::randint(2, {batch, 1, 1, 1}, generator, torch::kLong)
                                   .narrow(0, offset, n)
                                   .to(torch::kBool);
    out = torch::where(flip, out.flip(3), out);
  }
  return out;
}

}  // namespace internal

namespace {

// Streams of Rng::Derive(seed, stream) per epoch, kept apart so that no two draws share a seed.
constexpr std::uint64_t kShuffleStream = 1'000'000;
constexpr std::uint64_t kNoiseStream = 2'000'000;
constexpr std::uint64_t kAugmentStream = 3'000'000;

// The options that do not change the weights: threads and the progress bar leave the
// arithmetic of a single-threaded run as it is (more threads may reorder sums), and the paths of
// the data folder and of the init model are not their content (init_from_hash is).
nlohmann::json WeightDefining(const TrainOptions& options) {
  nlohmann::json json = options.ToJson();
  for (const char* key : {"progress", "threads", "data_dir", "init_from"}) json.erase(key);
  return json;
}

}  // namespace

bool TrainOptions::SameWeightsAs(const TrainOptions& other) const {
  return WeightDefining(*this) == WeightDefining(other);
}

void TrainOptions::Validate() const {
  Require(IsDatasetName(dataset),
          "data must be mnist, fashion-mnist, cifar10, cifar100, or a user format npy, npz or "
          "folder (npy and npz optionally with a layout, npy:nhwc), got '{}'",
          dataset);
  Require(!IsUserDataset(dataset) || !data_dir.empty(),
          "data '{}' is a user's data set: give its path as the data folder (--data-dir)", dataset);
  if (init_from.empty())
    Require(epochs >= 1 && epochs <= 10000, "epochs must be in 1..10000, got {}", epochs);
  else
    Require(epochs >= 0 && epochs <= 10000,
            "epochs must be in 0..10000 when fine-tuning (0: a copy of init_from), got {}", epochs);
  // BatchNorm normalizes over the batch in training, which takes at least 2 images.
  Require(batch_size >= 2 && batch_size <= 65536,
          "batch_size must be in 2..65536 (BatchNorm needs 2 images per batch), got {}",
          batch_size);
  Require(ranks >= 1 && ranks <= 4096, "ranks must be in 1..4096, got {}", ranks);
  Require(batch_size >= 2 * std::int64_t{ranks},
          "batch_size {} over {} ranks leaves {} image(s) to a rank, but BatchNorm needs 2 images "
          "per rank: use a batch size of at least {} (or fewer ranks)",
          batch_size, ranks, batch_size / ranks, 2 * ranks);
  Require(learning_rate > 0.0 && learning_rate < 10.0, "learning_rate must be in (0, 10), got {}",
          learning_rate);
  Require(weight_decay >= 0.0 && weight_decay < 1.0, "weight_decay must be in [0, 1), got {}",
          weight_decay);
  Require(std::isfinite(sigma_train) && sigma_train >= 0.0 && sigma_train <= 10.0,
          "sigma_train must be in [0, 10], got {}", sigma_train);
  Require(train_subset >= 0 && test_subset >= 0, "subsets must be >= 0 (0: all), got {}/{}",
          train_subset, test_subset);
  Require(threads >= 1 && threads <= 256, "threads must be in 1..256, got {}", threads);
  Require(init_from_hash.empty() ||
              (init_from_hash.size() == 16 &&
               init_from_hash.find_first_not_of("0123456789abcdef") == std::string::npos),
          "init_from_hash must be 16 lowercase hex digits (aimc::HashFile) or empty, got '{}'",
          init_from_hash);
  Require(hardware.is_null() || hardware.is_object(),
          "hardware must be an object (the chip of IR-drop-aware training) or absent");
  Require(hardware.is_null() == !before_step,
          "hardware-aware training needs both its options (hardware) and its step hook "
          "(before_step)");
  Require(init_from_hash.empty() || !init_from.empty(),
          "init_from_hash is set ('{}') but init_from is empty: name the init model's file",
          init_from_hash);
}

nlohmann::json TrainOptions::ToJson() const {
  nlohmann::json json = {{"dataset", dataset},         {"data_dir", data_dir.string()},
                         {"epochs", epochs},           {"batch_size", batch_size},
                         {"learning_rate", learning_rate}, {"weight_decay", weight_decay},
                         {"sigma_train", sigma_train}, {"seed", seed},
                         {"train_subset", train_subset}, {"test_subset", test_subset},
                         {"augment", augment},         {"threads", threads},
                         {"progress", progress}};
  // Only for a fine-tuning run: a model from a random init is saved with the bytes it had before
  // fine-tuning existed, so a re-save keeps the content hash by which fine-tuned models name it.
  if (!init_from.empty() || !init_from_hash.empty()) {
    json["init_from"] = init_from.string();
    json["init_from_hash"] = init_from_hash;
  }
  // Likewise only for a data-parallel run (weight-defining: the sums depend on the ranks).
  if (ranks != 1) json["ranks"] = ranks;
  if (!hardware.is_null()) json["hardware"] = hardware;
  return json;
}

TrainOptions TrainOptions::FromJson(const nlohmann::json& json) {
  TrainOptions o;
  Require(json.is_object(), "training options: expected an object, got {}", json.dump());
  TrainOptions keys;
  keys.init_from = "-";
  keys.ranks = 2;
  keys.hardware = nlohmann::json::object();
  keys.before_step = [](NetworkImpl&, std::int64_t) {};
  RequireKnownKeys(json, keys.ToJson(), "training options");
  const std::string what = "training options";
  o.dataset = JsonValue(json, "dataset", o.dataset, what);
  o.data_dir = JsonValue(json, "data_dir", std::string(), what);
  o.epochs = JsonValue(json, "epochs", o.epochs, what);
  o.batch_size = JsonValue(json, "batch_size", o.batch_size, what);
  o.learning_rate = JsonValue(json, "learning_rate", o.learning_rate, what);
  o.weight_decay = JsonValue(json, "weight_decay", o.weight_decay, what);
  o.sigma_train = JsonValue(json, "sigma_train", o.sigma_train, what);
  o.seed = JsonValue(json, "seed", o.seed, what);
  o.train_subset = JsonValue(json, "train_subset", o.train_subset, what);
  o.test_subset = JsonValue(json, "test_subset", o.test_subset, what);
  o.augment = JsonValue(json, "augment", o.augment, what);
  o.threads = JsonValue(json, "threads", o.threads, what);
  o.progress = JsonValue(json, "progress", o.progress, what);
  // Absent for one process, and in models written before data-parallel training existed.
  o.ranks = JsonValue(json, "ranks", o.ranks, what);
  // Absent for a random init, and in models written before fine-tuning existed.
  o.init_from = JsonValue(json, "init_from", std::string(), what);
  o.init_from_hash = JsonValue(json, "init_from_hash", o.init_from_hash, what);
  // Absent for plain training. A model read back has no hook: it is not trained further here.
  if (json.contains("hardware")) {
    o.hardware = json.at("hardware");
    o.before_step = [](NetworkImpl&, std::int64_t) {
      Fail("a model's hardware-aware training options carry no hook to train with");
    };
  }
  o.Validate();
  return o;
}

nlohmann::json ModelInfo::ToJson() const {
  nlohmann::json h = nlohmann::json::array();
  for (const auto& e : history)
    h.push_back({{"epoch", e.epoch},
                 {"loss", e.loss},
                 {"train_accuracy", e.train_accuracy},
                 {"test_accuracy", e.test_accuracy},
                 {"seconds", e.seconds},
                 {"images_per_second", e.images_per_second}});
  return {{"network", network.ToJson()},
          {"training", training.ToJson()},
          {"epochs_done", epochs_done},
          {"history", h}};
}

ModelInfo ModelInfo::FromJson(const nlohmann::json& json) {
  ModelInfo info;
  const std::string what = "model info";
  Require(json.is_object() && json.contains("network") && json.contains("training"),
          "{}: needs the keys 'network' and 'training'", what);
  info.network = NetworkOptions::FromJson(json.at("network"));
  info.training = TrainOptions::FromJson(json.at("training"));
  info.epochs_done = JsonValue(json, "epochs_done", 0, what);
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

NetworkOptions NetworkFor(const std::string& arch, const Dataset& train) {
  NetworkOptions o;
  o.arch = arch;
  o.in_channels = train.images.size(1);
  o.image_size = train.images.size(2);
  Require(train.images.size(2) == train.images.size(3), "{}: images are not square",
          train.name);
  Require(o.image_size == 28 || o.image_size == 32,
          "{}: images are {}x{}; the networks (lenet5, resnet26) take 28x28 or 32x32 images "
          "(resize the data)",
          train.name, o.image_size, o.image_size);
  o.classes = train.classes;
  return o;
}

void KeepLargeBlocks() {
  static const bool once = [] {
    mallopt(M_MMAP_THRESHOLD, 512 << 20);
    mallopt(M_TRIM_THRESHOLD, 1024 << 20);
    return true;
  }();
  (void)once;
}

void SetThreads(int threads) {
  Require(threads >= 1 && threads <= 256, "threads must be in 1..256, got {}", threads);
  torch::set_num_threads(threads);
  // OpenBLAS keeps its own pool; left alone it spins up one thread per core next to OpenMP's.
  using SetFn = void (*)(int);
  if (auto* set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set(threads);
}

std::string BlasInfo() {
  using ConfigFn = char* (*)();
  if (auto* config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    return config();  // "OpenBLAS 0.3.21 ..."
  return "reference or unknown BLAS (install libopenblas-dev: Debian's LibTorch is ~2.4x slower "
         "without it)";
}

void RequireFits(const NetworkOptions& network, const Dataset& data) {
  if (data.size() == 0) return;
  Require(data.images.dim() == 4 && data.images.size(1) == network.in_channels &&
              data.images.size(2) == network.image_size &&
              data.images.size(3) == network.image_size &&
              (data.classes == 0 || data.classes == network.classes),
          "data '{}' ({} channels, {}x{}, {} classes) does not fit the network {} ({} channels, "
          "{}x{}, {} classes)",
          data.name, data.images.size(1), data.images.size(2), data.images.size(3), data.classes,
          network.arch, network.in_channels, network.image_size, network.image_size,
          network.classes);
}

namespace {

// OpenBLAS's thread count for a scope, restored after it. OpenBLAS queues concurrent callers
// while it runs threads of its own; called single-threaded it runs them side by side.
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int threads) {
    using GetFn = int (*)();
    auto* get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (get == nullptr || Set() == nullptr) return;
    previous_ = get();
    Set()(threads);
  }
  ~ScopedBlasThreads() {
    if (previous_ > 0) Set()(previous_);
  }
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  using SetFn = void (*)(int);
  static SetFn Set() { return reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")); }
  int previous_ = 0;
};

// Correct predictions of each of the network's chips (1 when none is programmed) over `data`.
// Batches are spread over the library's threads, each batch computed by one thread alone (nested
// LibTorch operations run serially): small networks use the cores far better so than with
// threads inside every operation, and each batch's arithmetic, hence the result, does not depend
// on the thread count. Forward passes in eval mode without gradients only read the network.
torch::Tensor CountCorrect(NetworkImpl& network, const Dataset& data, std::int64_t batch_size) {
  Require(batch_size >= 1, "batch_size must be >= 1, got {}", batch_size);
  RequireFits(network.options(), data);
  KeepLargeBlocks();
  network.eval();
  const std::int64_t chips = network.chips();
  const std::int64_t batches = (data.size() + batch_size - 1) / batch_size;
  std::vector<torch::Tensor> correct(static_cast<std::size_t>(batches));
  const ScopedBlasThreads blas(1);
  at::parallel_for(0, batches, 1, [&](std::int64_t first, std::int64_t last) {
    torch::NoGradGuard no_grad;
    for (std::int64_t b = first; b < last; ++b) {
      const std::int64_t start = b * batch_size;
      const std::int64_t n = std::min(batch_size, data.size() - start);
      const ReadIndexScope reads(start);  // read noise per image, whatever the batch
      const torch::Tensor logits = network.forward(ToInput(data.images.narrow(0, start, n)));
      const torch::Tensor predicted = logits.view({n, chips, -1}).argmax(2);
      correct[static_cast<std::size_t>(b)] =
          predicted.eq(data.labels.narrow(0, start, n).unsqueeze(1)).sum(0);
    }
  });
  torch::Tensor total = torch::zeros({chips}, torch::kLong);
  for (const auto& c : correct) total += c;
  return total;
}

}  // namespace

double Evaluate(NetworkImpl& network, const Dataset& data, std::int64_t batch_size) {
  Require(network.chips() == 1, "Evaluate: {} chips are programmed side by side; use EvaluateChips",
          network.chips());
  const torch::Tensor correct = CountCorrect(network, data, batch_size);
  return data.size() == 0 ? 0.0
                          : static_cast<double>(correct[0].item<std::int64_t>()) /
                                static_cast<double>(data.size());
}

std::vector<double> EvaluateChips(NetworkImpl& network, const Dataset& data,
                                  std::int64_t batch_size) {
  const torch::Tensor correct = CountCorrect(network, data, batch_size);
  std::vector<double> accuracy(static_cast<std::size_t>(correct.size(0)), 0.0);
  for (std::size_t k = 0; k < accuracy.size(); ++k) {
    if (data.size() > 0)
      accuracy[k] = static_cast<double>(correct[static_cast<std::int64_t>(k)].item<std::int64_t>()) /
                    static_cast<double>(data.size());
  }
  return accuracy;
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

void SaveCheckpoint(const fs::path& path, NetworkImpl& network, torch::optim::Optimizer* optimizer,
                    const ModelInfo& info) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model;
  network.save(model);
  archive.write("model", model);
  archive.write("aimc_info", c10::IValue(info.ToJson().dump()));
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
    return ModelInfo::FromJson(nlohmann::json::parse(value.toStringRef()));
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

// Reads the archive's weights into `network` and checks what Module::load does not: it replaces
// each tensor by the file's (shape and type included), so every parameter and buffer must keep
// the shape and type the network gives it, and hold finite values (a positive PACT clip, a
// non-negative BatchNorm variance).
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

// Fine-tuning: the init model's parameters (weights, biases, learned PACT alphas) and buffers
// (BatchNorm statistics, fixed alphas) into `net`, whose options must equal the init's.
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

}  // namespace

void SaveModel(const fs::path& path, NetworkImpl& network, const ModelInfo& info) {
  SaveCheckpoint(path, network, nullptr, info);
}

Model LoadModel(const fs::path& path) {
  torch::serialize::InputArchive archive;
  OpenArchive(path, archive);
  Model loaded;
  loaded.info = ReadInfo(archive, path);
  loaded.network = MakeNetwork(loaded.info.network, loaded.info.training.seed);
  LoadWeights(path, *loaded.network, archive);
  loaded.network->eval();
  return loaded;
}

namespace {

// Data-parallel training (TrainOptions::ranks > 1): what the ranks share, and how.

// Items [begin, begin + size) of n split over `ranks` in contiguous parts whose sizes differ by
// at most one: rank r's part.
struct Part {
  std::int64_t begin = 0;
  std::int64_t size = 0;
};
Part PartOf(std::int64_t n, int rank, int ranks) {
  const std::int64_t begin = n * rank / ranks, end = n * (rank + 1) / ranks;
  return {begin, end - begin};
}

std::string RanksText(int ranks) {
  return ranks == 1 ? "one process" : fmt::format("{} data-parallel ranks", ranks);
}

// Sums every parameter's gradient over the ranks in place: all of them packed into `flat` (kept
// between steps), one AllReduceSum, unpacked. Which gradients exist is the same on every rank
// (the same network and code path), so the packing is too.
void SumGradients(const std::vector<torch::Tensor>& parameters, torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  std::int64_t total = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    Require(p.grad().scalar_type() == torch::kFloat,
            "data-parallel training sums float gradients, got {}",
            c10::toString(p.grad().scalar_type()));
    total += p.grad().numel();
  }
  if (!flat.defined() || flat.numel() < total) flat = torch::empty({total}, torch::kFloat);
  std::int64_t at = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    const std::int64_t k = p.grad().numel();
    flat.narrow(0, at, k).copy_(p.grad().reshape({-1}));
    at += k;
  }
  cluster::AllReduceSum(flat.data_ptr<float>(), static_cast<std::size_t>(total));
  at = 0;
  for (const auto& p : parameters) {
    if (!p.grad().defined()) continue;
    torch::Tensor g = p.grad();
    g.copy_(flat.narrow(0, at, g.numel()).view(g.sizes()));
    at += g.numel();
  }
}

// Averages the BatchNorm running statistics over the ranks (each rank's come from its shards).
// They are exponential averages of the batch statistics, linear in them, so averaging once per
// epoch gives what averaging every step would, at no cost per step. Sums in double: values that
// are the same on every rank stay exactly what they are.
void AverageRunningStats(NetworkImpl& net, int ranks) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> stats;
  for (const auto& b : net.named_buffers()) {
    if (b.key().ends_with("running_mean") || b.key().ends_with("running_var"))
      stats.push_back(b.value());
  }
  std::int64_t total = 0;
  for (const auto& t : stats) total += t.numel();
  torch::Tensor sums = torch::empty({total}, torch::kDouble);
  std::int64_t at = 0;
  for (const auto& t : stats) {
    sums.narrow(0, at, t.numel()).copy_(t.reshape({-1}));
    at += t.numel();
  }
  cluster::AllReduceSum(sums.data_ptr<double>(), static_cast<std::size_t>(total));
  sums.div_(static_cast<double>(ranks));
  at = 0;
  for (auto& t : stats) {
    t.copy_(sums.narrow(0, at, t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

// Throws CollectiveError on every rank unless `mine` is rank 0's on every rank; `what` says
// what differs, given the number of ranks whose value is not rank 0's.
void RequireSameOnEveryRank(const std::string& mine,
                            const std::function<std::string(std::int64_t)>& what) {
  std::string first = mine;
  cluster::Broadcast(first);
  std::int64_t differ = first == mine ? 0 : 1;
  cluster::AllReduceSum(&differ, 1);
  if (differ > 0) throw cluster::CollectiveError(what(differ));
}

// What every rank must hold alike after an epoch: the parameters, the buffers (BatchNorm
// statistics after averaging) and the next draw of every layer's training noise (a probe of the
// noise streams: same seed and same number of draws; they are seeded afresh at the next epoch's
// start, so the probe changes nothing). 16 hex digits.
std::string StateFingerprint(NetworkImpl& net) {
  torch::NoGradGuard no_grad;
  std::uint64_t h = Fnv1a64("");
  const auto add = [&h](const torch::Tensor& t) {
    const torch::Tensor c = t.contiguous();
    h = Fnv1a64(std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes()), h);
  };
  for (const auto& p : net.parameters()) add(p);
  for (const auto& b : net.buffers()) add(b);
  if (net.is_training())
    for (AnalogLayer layer : net.layers()) add(layer->EffectiveWeight());
  return fmt::format("{:016x}", h);
}

// The content a rank sees of a file that every rank reads: its hash, or why there is none.
std::string Seen(const fs::path& path) {
  if (!fs::exists(path)) return "none";
  try {
    return HashFile(path);
  } catch (const Error&) {
    return "unreadable";
  }
}

// The noise-free test accuracy. Data-parallel: each rank evaluates a contiguous run of the
// evaluation batches of one process (the same batches, so the same arithmetic), and the correct
// counts are summed.
double TestAccuracy(NetworkImpl& net, const Dataset& test, int rank, int ranks) {
  constexpr std::int64_t kBatch = 1000;  // Evaluate's
  if (ranks == 1) return Evaluate(net, test, kBatch);
  const Part batches = PartOf((test.size() + kBatch - 1) / kBatch, rank, ranks);
  const std::int64_t begin = std::min(batches.begin * kBatch, test.size());
  const std::int64_t end = std::min((batches.begin + batches.size) * kBatch, test.size());
  Dataset part = test;
  part.images = test.images.narrow(0, begin, end - begin);
  part.labels = test.labels.narrow(0, begin, end - begin);
  std::int64_t correct = CountCorrect(net, part, kBatch)[0].item<std::int64_t>();
  cluster::AllReduceSum(&correct, 1);
  return test.size() == 0 ? 0.0
                          : static_cast<double>(correct) / static_cast<double>(test.size());
}

// Train's run after its checks of the options; `set_up` turns true when the first epoch starts.
Model TrainRun(const NetworkOptions& network_options, const TrainOptions& options,
               const DataSplit& data, const fs::path& checkpoint,
               const std::function<void(const EpochStats&)>& on_epoch, bool& set_up) {
  const int ranks = options.ranks;
  const int rank = ranks > 1 ? cluster::Rank() : 0;
  const Dataset train = data.train.Head(options.train_subset);
  const Dataset test = data.test.Head(options.test_subset);
  if (ranks == 1)
    Require(train.size() >= 2, "training needs at least 2 images (BatchNorm), got {}",
            train.size());
  else
    Require(train.size() >= 2 * ranks,
            "training on {} ranks needs at least {} images (BatchNorm: 2 per rank), got {}", ranks,
            2 * ranks, train.size());
  RequireFits(network_options, train);
  RequireFits(network_options, test);
  if (!checkpoint.empty()) RequireOutputFile(checkpoint);

  Model result;
  result.info.network = network_options;
  result.info.training = options;
  result.network = MakeNetwork(network_options, options.seed);
  NetworkImpl& net = *result.network;
  if (!options.init_from.empty()) {
    Require(checkpoint.empty() || !fs::exists(checkpoint) ||
                !fs::equivalent(checkpoint, options.init_from),
            "init_from {} is also the checkpoint: fine-tune into another file",
            options.init_from.string());
    std::string hash;
    try {
      hash = HashFile(options.init_from);
    } catch (const Error& e) {
      Rethrow(e, "the init model, init_from");
    }
    Require(options.init_from_hash.empty() || options.init_from_hash == hash,
            "init_from {} has content hash {}, but init_from_hash is {}: another model file",
            options.init_from.string(), hash, options.init_from_hash);
    result.info.training.init_from_hash = hash;  // saved, and compared on resume
    LoadInit(options.init_from, net);
  }
  torch::optim::Adam optimizer(net.parameters(), torch::optim::AdamOptions(options.learning_rate)
                                                     .weight_decay(options.weight_decay));

  if (!checkpoint.empty() && fs::exists(checkpoint)) {
    torch::serialize::InputArchive archive;
    OpenArchive(checkpoint, archive);
    const ModelInfo saved = ReadInfo(archive, checkpoint);
    TrainOptions with_saved_ranks = result.info.training;
    with_saved_ranks.ranks = saved.training.ranks;
    if (saved.training.ranks != options.ranks &&
        saved.network.ToJson() == network_options.ToJson() &&
        saved.training.SameWeightsAs(with_saved_ranks))
      Fail("{}: the checkpoint was trained on {}, this run is on {}: the float sums of a "
           "data-parallel step depend on the number of ranks, so it resumes on {} only ({}), or "
           "train into another file",
           checkpoint.string(), RanksText(saved.training.ranks), RanksText(options.ranks),
           RanksText(saved.training.ranks),
           saved.training.ranks == 1 ? "without mpirun"
                                     : fmt::format("mpirun -np {}", saved.training.ranks));
    Require(saved.network.ToJson() == network_options.ToJson() &&
                saved.training.SameWeightsAs(result.info.training),
            "{}: a checkpoint with other options is there ({}); remove it or choose another "
            "--out",
            checkpoint.string(), saved.ToJson().dump());
    torch::serialize::InputArchive opt;
    Require(archive.try_read("optimizer", opt),
            "{}: not a training checkpoint (no optimizer state)", checkpoint.string());
    LoadWeights(checkpoint, net, archive);
    try {
      optimizer.load(opt);
    } catch (const c10::Error& e) {
      Fail("{}: the optimizer state does not fit the network ({})", checkpoint.string(),
           e.what_without_backtrace());
    }
    result.info.epochs_done = saved.epochs_done;
    result.info.history = saved.history;
    if (saved.epochs_done > 0)
      spdlog::info("resuming {} after epoch {}/{}", checkpoint.string(), saved.epochs_done,
                   options.epochs);
  }

  const std::int64_t n = train.size();
  // A last batch too small to give every rank 2 images (BatchNorm) joins the one before: with
  // one process, a last batch of one image.
  const std::int64_t smallest_batch = 2 * std::int64_t{ranks};
  const std::vector<torch::Tensor> parameters = net.parameters();
  torch::Tensor gradients;  // data-parallel: every gradient in one buffer
  set_up = true;
  for (int epoch = result.info.epochs_done + 1; epoch <= options.epochs; ++epoch) {
    const auto e = static_cast<std::uint64_t>(epoch);
    // Cosine decay, a function of the epoch alone so that a resumed run matches.
    const double lr = options.learning_rate * 0.5 *
                      (1.0 + std::cos(std::numbers::pi * (epoch - 1) / options.epochs));
    for (auto& group : optimizer.param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    net.train();
    // The same seeds on every rank of a data-parallel run: the same shuffle, noise and shifts.
    net.SetTrainingNoise(options.sigma_train, Rng::Derive(options.seed, kNoiseStream + e));
    at::Generator shuffle = MakeGenerator(Rng::Derive(options.seed, kShuffleStream + e));
    at::Generator augment = MakeGenerator(Rng::Derive(options.seed, kAugmentStream + e));
    const torch::Tensor order = at::randperm(n, shuffle, torch::kLong);

    std::optional<Progress> bar;
    if (options.progress)
      bar.emplace(fmt::format("epoch {}/{}", epoch, options.epochs), static_cast<std::size_t>(n),
                  "img");
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0.0;
    double sum_seconds = 0.0;  // data-parallel: in the gradient sums, waits included
    std::int64_t correct = 0, seen = 0;
    // Steps are numbered over epochs: every epoch has the same number of batches.
    std::int64_t steps_per_epoch = 0;
    for (std::int64_t f = 0, bb = 0; f < n; f += bb, ++steps_per_epoch) {
      bb = std::min(options.batch_size, n - f);
      if (n - f - bb > 0 && n - f - bb < smallest_batch) bb = n - f;
    }
    const std::int64_t steps_before = steps_per_epoch * (epoch - 1);
    std::int64_t step_in_epoch = 0;
    for (std::int64_t first = 0, b = 0; first < n; first += b) {
      b = std::min(options.batch_size, n - first);
      if (n - first - b > 0 && n - first - b < smallest_batch) b = n - first;
      // This rank's shard of the batch (all of it with one process).
      const Part shard = PartOf(b, rank, ranks);
      const torch::Tensor idx = order.narrow(0, first + shard.begin, shard.size);
      torch::Tensor x = ToInput(train.images.index_select(0, idx));
      if (options.augment) x = internal::Augment(x, augment, b, shard.begin);
      const torch::Tensor y = train.labels.index_select(0, idx);
      if (options.before_step) {
        options.before_step(net, steps_before + step_in_epoch);
        net.train();
      }
      ++step_in_epoch;
      optimizer.zero_grad();
      const torch::Tensor logits = net.forward(x);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      if (ranks == 1) {
        loss.backward();
      } else {
        // The batch's mean loss is the sum over ranks of shard mean x shard / batch.
        (loss * (static_cast<double>(shard.size) / static_cast<double>(b))).backward();
        const auto sum_start = std::chrono::steady_clock::now();
        SumGradients(parameters, gradients);
        sum_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - sum_start).count();
      }
      optimizer.step();
      loss_sum += loss.item<double>() * static_cast<double>(shard.size);
      correct += logits.argmax(1).eq(y).sum().item<std::int64_t>();
      seen += shard.size;
      if (bar)  // data-parallel: rank 0's shards
        bar->Update(static_cast<std::size_t>(first + b),
                    fmt::format("loss {:.4f} acc {:.2f} %", loss_sum / static_cast<double>(seen),
                                100.0 * static_cast<double>(correct) / static_cast<double>(seen)));
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (bar) bar->Finish();
    if (ranks > 1) {
      spdlog::info("epoch {}: {:.2f} s of the {:.2f} s went to the gradient sums over {} ranks "
                   "(waits for the slowest rank included)",
                   epoch, sum_seconds, seconds, ranks);
      // The sums over ranks, and rank 0's time.
      double sums[2] = {loss_sum, cluster::IsWriter() ? seconds : 0.0};
      cluster::AllReduceSum(sums, 2);
      loss_sum = sums[0];
      seconds = sums[1];
      cluster::AllReduceSum(&correct, 1);
      AverageRunningStats(net, ranks);
      RequireSameOnEveryRank(StateFingerprint(net), [&](std::int64_t differ) {
        return fmt::format(
            "after epoch {}, {} of {} ranks hold other parameters, BatchNorm statistics or weight "
            "noise than rank 0: the ranks' sums or draws differ (is the MPI library's sum the "
            "same on every rank?)",
            epoch, differ, ranks);
      });
    }
    EpochStats stats;
    stats.epoch = epoch;
    stats.loss = loss_sum / static_cast<double>(n);
    stats.train_accuracy = static_cast<double>(correct) / static_cast<double>(n);
    stats.seconds = seconds;
    stats.images_per_second = static_cast<double>(n) / seconds;
    stats.test_accuracy = test.size() > 0 ? TestAccuracy(net, test, rank, ranks) : 0.0;
    result.info.history.push_back(stats);
    result.info.epochs_done = epoch;
    if (!checkpoint.empty()) {
      const auto save = [&] { SaveCheckpoint(checkpoint, net, &optimizer, result.info); };
      if (ranks > 1)
        cluster::OnWriter(save);  // rank 0 writes; its error is every rank's
      else
        save();
    }
    if (on_epoch) on_epoch(stats);
  }
  // Fine-tuning for 0 epochs still leaves its model file.
  if (!checkpoint.empty()) {
    const auto save = [&] {
      if (!fs::exists(checkpoint)) SaveCheckpoint(checkpoint, net, &optimizer, result.info);
    };
    if (ranks > 1)
      cluster::OnWriter(save);
    else
      save();
  }
  net.eval();
  return result;
}

}  // namespace

Model Train(const NetworkOptions& network_options, const TrainOptions& options,
            const DataSplit& data, const fs::path& checkpoint,
            const std::function<void(const EpochStats&)>& on_epoch) {
  KeepLargeBlocks();
  network_options.Validate();
  options.Validate();
  SetThreads(options.threads);
  const int ranks = options.ranks;
  if (ranks == 1) {
    bool set_up = false;
    return TrainRun(network_options, options, data, checkpoint, on_epoch, set_up);
  }
  // Data-parallel. Every rank checks the same options: an error here is every rank's.
  if (cluster::Size() != ranks)
    throw cluster::CollectiveError(
        fmt::format("data-parallel training on {} ranks needs an MPI job of {} ranks (mpirun -np "
                    "{}), but this one has {}",
                    ranks, ranks, ranks, cluster::Size()));
  // Every rank reads the init model and the checkpoint: the same content everywhere.
  std::string seen;
  if (!options.init_from.empty()) seen += "init_from " + Seen(options.init_from);
  if (!checkpoint.empty()) seen += "; checkpoint " + Seen(checkpoint);
  RequireSameOnEveryRank(seen, [&](std::int64_t differ) {
    return fmt::format(
        "{} of {} ranks see another init model or checkpoint ({}, {}) than rank 0: in "
        "data-parallel training every rank reads them, so they must lie in a folder that every "
        "rank sees",
        differ, ranks, options.init_from.empty() ? "none" : options.init_from.string(),
        checkpoint.empty() ? "none" : checkpoint.string());
  });
  // The set-up reads nothing but the options, the data and those files, the same on every rank:
  // its errors are every rank's, said once.
  bool set_up = false;
  try {
    return TrainRun(network_options, options, data, checkpoint, on_epoch, set_up);
  } catch (const cluster::CollectiveError&) {
    throw;
  } catch (const Error& e) {
    if (set_up) throw;
    throw cluster::CollectiveError(e.what());
  }
}

}  // namespace aimc::nn
