#include "networks.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/cluster.h"
#include "aimc/common/hash.h"
#include "aimc/common/resources.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/train.h"

namespace aimc::paper {
namespace fs = std::filesystem;

bool HasUserMnist(const StudyOptions& options) {
  const fs::path& dir = options.data_dir;
  return !dir.empty() && (fs::exists(dir / "train-images-idx3-ubyte") ||
                          fs::exists(dir / "train-images-idx3-ubyte.gz"));
}

bool HasUserCifar100(const StudyOptions& options) {
  const fs::path& dir = options.data_dir;
  return !dir.empty() &&
         (fs::exists(dir / "train.bin") || fs::exists(dir / "cifar-100-binary" / "train.bin"));
}

StudyData LoadStudyData(const StudyOptions& options, const std::string& name) {
  StudyData d;
  d.name = name;
  // --data-dir serves MNIST and CIFAR-100; Fashion-MNIST is always the built-in copy.
  d.users = (name == "mnist" && HasUserMnist(options)) ||
            (name == "cifar100" && HasUserCifar100(options));
  // Every rank reads the data; one that cannot fails the step on every rank.
  cluster::OnEveryRank([&] {
    d.split = d.users ? nn::LoadData(name, options.data_dir) : nn::LoadData(name);
    d.fingerprint = nn::Fingerprint(d.split);
  });
  return d;
}

NetSpec BaseSpec(const StudyOptions& options, const std::string& arch, const StudyData& data) {
  NetSpec spec;
  spec.network = nn::NetworkFor(arch, data.split.train);
  spec.training.dataset = data.name;
  if (data.users) spec.training.data_dir = options.data_dir;
  spec.training.seed = options.run.seed;
  spec.training.augment = true;
  spec.training.progress = false;
  if (options.threads > 0) spec.training.threads = options.threads;
  return spec;
}

std::string ModelStem(const NetSpec& spec) {
  const auto& t = spec.training;
  std::string stem = fmt::format("{}_{}_{}_s{:.3f}_e{}_n{}_seed{}", spec.network.arch, t.dataset,
                                 spec.network.ternary ? "ternary" : "float", t.sigma_train,
                                 t.epochs, t.train_subset, t.seed);
  if (spec.network.width != 1) stem += fmt::format("_w{}", spec.network.width);
  // A user's data set is another training set than the built-in one of the same name.
  if (!t.data_dir.empty()) stem += "_userdata";
  // Trained through a chip (IR-drop-aware): named by the chip it was trained through.
  if (!t.hardware.is_null()) stem += "_hw" + HashHex(t.hardware.dump()).substr(0, 8);
  // Fine-tuned: named by the content of the model it started from.
  if (!t.init_from_hash.empty()) stem += "_ft" + t.init_from_hash.substr(0, 8);
  return stem;
}

std::optional<StudyNetwork> ShippedModel(const NetSpec& spec) {
  if (!spec.training.data_dir.empty()) return std::nullopt;  // trained on the user's data
  const auto shipped = FindShippedFile(fs::path("models") / (ModelStem(spec) + ".pt"));
  if (!shipped) return std::nullopt;
  nn::Model loaded = nn::LoadModel(*shipped);
  const nn::ModelInfo& info = loaded.info;
  if (info.network.ToJson() == spec.network.ToJson() &&
      info.training.SameWeightsAs(spec.training) && info.epochs_done == spec.training.epochs) {
    spdlog::info("{}: shipped model, noise-free test accuracy {:.2f} %", shipped->string(),
                 100 * info.history.back().test_accuracy);
    return StudyNetwork{loaded.network, loaded.info, *shipped, HashFile(*shipped)};
  }
  spdlog::warn("{}: its options differ from the study's; not used", shipped->string());
  return std::nullopt;
}

fs::path StudyModelFile(const StudyOptions& options, const NetSpec& spec, const StudyData& data) {
  const std::string stem = ModelStem(spec);
  const fs::path path = options.run.out_dir / "models" / (stem + ".pt");
  const bool started = fs::exists(path);
  if (!started && options.quick()) {
    if (auto shipped = ShippedModel(spec)) return shipped->path;
  }
  // A checkpoint there is resumed (nn::Train says after which epoch), or kept when finished.
  if (!started) spdlog::info("training {} ({} epochs)", stem, spec.training.epochs);
  const std::int64_t images = data.split.train.Head(spec.training.train_subset).size();
  const nn::Model result =
      nn::Train(spec.network, spec.training, data.split, path, [&](const nn::EpochStats& e) {
        spdlog::info("{}: epoch {}/{}: loss {:.4f}, test {:.2f} %, {} images in {:.3g} s, {:.3g} "
                     "s per image",
                     stem, e.epoch, spec.training.epochs, e.loss, 100 * e.test_accuracy, images,
                     e.seconds, e.seconds / static_cast<double>(images));
      });
  spdlog::info("{}: sigma_train {}, noise-free test accuracy {:.2f} %", path.filename().string(),
               spec.training.sigma_train, 100 * result.info.history.back().test_accuracy);
  return path;
}

StudyNetwork LoadStudyNetwork(const fs::path& path) {
  nn::Model loaded = nn::LoadModel(path);
  return StudyNetwork{loaded.network, loaded.info, path, HashFile(path)};
}

std::vector<StudyNetwork> StudyModels(const StudyOptions& options,
                                      const std::vector<NetSpec>& specs, const StudyData& data) {
  // The cost of a training, for handing out the longest first: epochs x images (the networks
  // of one grid are of one kind).
  cluster::DistributeOptions work;
  for (const NetSpec& spec : specs) {
    const double images =
        static_cast<double>(data.split.train.Head(spec.training.train_subset).size());
    work.cost.push_back(std::max(spec.training.epochs, 1) * images);
  }
  // Trainings on several ranks write into <out>/models at once: the folder is made first.
  cluster::OnWriter([&] { fs::create_directories(options.run.out_dir / "models"); });
  const std::vector<std::string> files = cluster::Distribute(
      specs.size(),
      [&](std::size_t i) { return StudyModelFile(options, specs[i], data).string(); }, work);
  // Every rank reads every model (the folder is shared); one that cannot fails the step on
  // every rank.
  std::vector<StudyNetwork> networks;
  cluster::OnEveryRank([&] {
    for (const std::string& file : files) networks.push_back(LoadStudyNetwork(file));
  });
  return networks;
}

std::string Resolution(std::int64_t images, int chips, double error_pct) {
  const double n = static_cast<double>(images);
  const double se = std::sqrt(std::max(error_pct, 0.0) * std::max(100.0 - error_pct, 0.0) / n);
  return fmt::format(
      "resolution: {} test images x {} chip{} (one image = {:.2g} points; binomial s.e. of a "
      "{:.1f} % error on one chip = {:.2g} points)",
      images, chips, chips == 1 ? "" : "s", 100.0 / n, error_pct, se);
}

}  // namespace aimc::paper
