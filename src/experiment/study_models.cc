#include "study_models.h"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/resources.h"

namespace aimc::experiment {
namespace fs = std::filesystem;

bool HasUserMnist(const report::StudyContext& ctx) {
  const fs::path dir = ctx.options().data_dir;
  return !dir.empty() && (fs::exists(dir / "train-images-idx3-ubyte") ||
                          fs::exists(dir / "train-images-idx3-ubyte.gz"));
}

bool HasUserCifar100(const report::StudyContext& ctx) {
  const fs::path dir = ctx.options().data_dir;
  return !dir.empty() &&
         (fs::exists(dir / "train.bin") || fs::exists(dir / "cifar-100-binary" / "train.bin"));
}

namespace {

// --data-dir serves MNIST and CIFAR-100; Fashion-MNIST is always the built-in copy.
bool UsesUserData(const report::StudyContext& ctx, const std::string& name) {
  return (name == "mnist" && HasUserMnist(ctx)) || (name == "cifar100" && HasUserCifar100(ctx));
}

}  // namespace

nn::DataSplit StudyData(const report::StudyContext& ctx, const std::string& name) {
  if (UsesUserData(ctx, name)) return nn::LoadData(name, ctx.options().data_dir);
  return nn::LoadData(name);
}

NetSpec BaseSpec(const report::StudyContext& ctx, const std::string& arch,
                 const std::string& dataset, const nn::DataSplit& data) {
  NetSpec spec;
  spec.network = nn::NetworkFor(arch, data.train);
  spec.training.dataset = dataset;
  if (UsesUserData(ctx, dataset)) spec.training.data_dir = ctx.options().data_dir;
  spec.training.seed = ctx.options().seed;
  spec.training.augment = true;
  spec.training.progress = false;
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
  return stem;
}

std::optional<nn::LoadedModel> ShippedModel(const NetSpec& spec) {
  if (!spec.training.data_dir.empty()) return std::nullopt;  // trained on the user's data
  const auto shipped = FindShippedFile(fs::path("models") / (ModelStem(spec) + ".pt"));
  if (!shipped) return std::nullopt;
  nn::LoadedModel loaded = nn::LoadModel(*shipped);
  const nn::ModelInfo& info = loaded.info;
  if (info.network.ToJson() == spec.network.ToJson() &&
      info.training.SameWeightsAs(spec.training) && info.epochs_done == spec.training.epochs) {
    spdlog::info("{}: shipped model, noise-free test accuracy {:.2f} %", shipped->string(),
                 100 * info.history.back().test_accuracy);
    return loaded;
  }
  spdlog::warn("{}: its options differ from the study's; not used", shipped->string());
  return std::nullopt;
}

nn::Network StudyModel(const report::StudyContext& ctx, const NetSpec& spec,
                       const nn::DataSplit& data) {
  const std::string stem = ModelStem(spec);
  const fs::path path = ctx.options().out_dir / "models" / (stem + ".pt");
  if (!fs::exists(path) && ctx.quick()) {
    if (auto shipped = ShippedModel(spec)) return shipped->network;
  }
  spdlog::info("training {} ({} epochs)", stem, spec.training.epochs);
  nn::TrainResult result = nn::Train(spec.network, spec.training, data, path);
  spdlog::info("{}: sigma_train {}, noise-free test accuracy {:.2f} %", path.filename().string(),
               spec.training.sigma_train, 100 * result.info.history.back().test_accuracy);
  return result.network;
}

}  // namespace aimc::experiment
