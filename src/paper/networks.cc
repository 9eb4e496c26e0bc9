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

int TrainingGroups::GroupOf(int rank) const {
  for (std::size_t g = 0; g < first.size(); ++g)
    if (rank >= first[g] && rank < first[g] + size[g]) return static_cast<int>(g);
  Fail("rank {} is in no group of {} ranks", rank, first.empty() ? 0 : first.back() + size.back());
}

TrainingGroups GroupTrainings(const std::vector<double>& cost, const std::vector<int>& fixed,
                              const std::vector<int>& most, int ranks) {
  const std::size_t n = cost.size();
  Require(fixed.size() == n && most.size() == n, "{} trainings with {} fixed and {} most ranks",
          n, fixed.size(), most.size());
  Require(ranks >= 1, "trainings on {} ranks", ranks);
  TrainingGroups g;
  g.ranks.assign(n, 0);
  int left = ranks;
  double work = 0.0;
  std::size_t pending = 0;  // trainings not yet given their ranks
  for (std::size_t i = 0; i < n; ++i) {
    if (cost[i] <= 0.0) continue;
    if (fixed[i] >= 2) {
      g.ranks[i] = fixed[i];
      left -= fixed[i];
    } else {
      work += cost[i];
      ++pending;
    }
  }
  Require(left >= (pending > 0 ? 1 : 0),
          "the trainings that resume on the ranks they started on need {} ranks{}, the job has {}",
          ranks - left, pending > 0 ? " and one more for the others" : "", ranks);
  // New trainings, longest first (ties in order), take their share while it is 2 ranks or more;
  // one that resumes on one rank is in the pool.
  std::vector<std::size_t> order;
  std::size_t in_pool = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (cost[i] <= 0.0 || fixed[i] >= 2) continue;
    if (fixed[i] == 1) {
      g.ranks[i] = 1;
      ++in_pool;
    } else {
      order.push_back(i);
    }
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  std::size_t next = 0;
  for (; next < order.size() && left >= 2; ++next) {
    const std::size_t i = order[next];
    const bool last = next + 1 == order.size() && in_pool == 0;
    const double share = work / left;
    int take = last ? left
                    : std::min(static_cast<int>(std::floor(cost[i] / share + 1e-9)), left - 1);
    take = std::min(take, std::max(most[i], 1));
    if (take < 2) break;
    g.ranks[i] = take;
    left -= take;
    work -= cost[i];
  }
  for (; next < order.size(); ++next) g.ranks[order[next]] = 1;
  // Groups in training order: the data-parallel ones from rank 0, then the pool.
  g.group.assign(n, -1);
  int at = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (g.ranks[i] >= 2) {
      g.group[i] = static_cast<int>(g.first.size());
      g.first.push_back(at);
      g.size.push_back(g.ranks[i]);
      at += g.ranks[i];
    }
  const int pool = static_cast<int>(g.first.size());
  g.first.push_back(at);
  g.size.push_back(ranks - at);
  for (std::size_t i = 0; i < n; ++i)
    if (g.ranks[i] <= 1) g.group[i] = pool;
  return g;
}

namespace {

// A training's state at the start of a step: its finished model (a file), the ranks its
// checkpoint was started on (it resumes on them only), or nothing yet.
struct TrainingState {
  std::string done;
  int ranks = 0;
};

TrainingState StateOf(const StudyOptions& options, const NetSpec& spec) {
  TrainingState state;
  const fs::path path = options.run.out_dir / "models" / (ModelStem(spec) + ".pt");
  if (fs::exists(path)) {
    nn::Model saved;
    try {
      saved = nn::LoadModel(path);
    } catch (const Error&) {
      return state;  // the training says what is wrong with it
    }
    nn::TrainOptions with_its_ranks = spec.training;
    with_its_ranks.ranks = saved.info.training.ranks;
    // Another training's file: the training refuses it, naming it.
    if (saved.info.network.ToJson() != spec.network.ToJson() ||
        !saved.info.training.SameWeightsAs(with_its_ranks))
      return state;
    if (saved.info.epochs_done >= spec.training.epochs) {
      state.done = path.string();
      spdlog::info("{}: trained earlier on {}, kept (noise-free test accuracy {:.2f} %)",
                   path.string(), saved.info.training.ranks == 1
                                      ? std::string("one rank")
                                      : fmt::format("{} ranks", saved.info.training.ranks),
                   saved.info.history.empty() ? 0.0 : 100 * saved.info.history.back().test_accuracy);
    } else {
      state.ranks = saved.info.training.ranks;
    }
  } else if (options.quick()) {
    if (auto shipped = ShippedModel(spec)) state.done = shipped->path.string();
  }
  return state;
}

}  // namespace

int MinImagesPerRank(const nn::NetworkOptions& network) {
  // In training, BatchNorm normalizes over a rank's shard alone (the running statistics are
  // averaged over the ranks). LeNet-5's BatchNorm1d after its fully connected layers sees one
  // value per image: on Fashion-MNIST (batch 32, 2 epochs, sigma_w,train 0.3; one process
  // 86.7 %) 16 images per rank gave 87.4 %, 8 gave 86.1 %, 2 gave 54.7 %. ResNet-26's
  // BatchNorm2d sees every position of its feature maps (49 or more per image at 28 x 28).
  return network.arch == "lenet5" ? 16 : 4;
}

namespace {

// The most ranks a training may take: its batch and its data over MinImagesPerRank, and the
// user's cap. A training through a chip (IR-drop-aware) stays on one rank: its effective weights'
// rebuilds would run alike on every rank of a group, not divided.
int MostRanks(const StudyOptions& options, const NetSpec& spec, std::int64_t images) {
  if (!spec.training.hardware.is_null()) return 1;
  const std::int64_t batch = std::min(spec.training.batch_size, images);
  int most = static_cast<int>(
      std::clamp<std::int64_t>(batch / MinImagesPerRank(spec.network), 1, 4096));
  if (options.train_ranks > 0) most = std::min(most, options.train_ranks);
  return most;
}

std::string RanksOf(int first, int size) {
  return size == 1 ? fmt::format("rank {}", first)
                   : fmt::format("ranks {}-{}", first, first + size - 1);
}

}  // namespace

std::vector<StudyNetwork> StudyModels(const StudyOptions& options,
                                      const std::vector<NetSpec>& specs, const StudyData& data) {
  // The cost of a training, for handing out the longest first: epochs x images (the networks
  // of one grid are of one kind).
  cluster::DistributeOptions work;
  std::vector<std::int64_t> images;
  for (const NetSpec& spec : specs) {
    images.push_back(data.split.train.Head(spec.training.train_subset).size());
    work.cost.push_back(std::max(spec.training.epochs, 1) * static_cast<double>(images.back()));
  }
  // Trainings on several ranks write into <out>/models at once: the folder is made first.
  cluster::OnWriter([&] { fs::create_directories(options.run.out_dir / "models"); });
  // Which trainings there are to do, and on which ranks: rank 0 looks, every rank hears. A
  // finished model is taken whatever number of ranks trained it.
  const bool share = cluster::Size() > 1 && options.train_ranks != 1;
  std::vector<std::string> files(specs.size());
  std::string plan;
  cluster::OnWriter([&] {
    std::vector<double> cost = work.cost;
    std::vector<int> fixed(specs.size(), 0), most(specs.size(), 1);
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const TrainingState state = StateOf(options, specs[i]);
      files[i] = state.done;
      if (!state.done.empty()) cost[i] = 0.0;
      fixed[i] = state.ranks;
      most[i] = MostRanks(options, specs[i], images[i]);
      // One process (or --train-ranks 1): the training says why it cannot resume.
      if (share)
        Require(state.ranks <= cluster::Size(),
                "{}: its training was started on {} data-parallel ranks and resumes on {} only, "
                "but this job has {}: run it with mpirun -np {} at least, or remove the file",
                (options.run.out_dir / "models" / (ModelStem(specs[i]) + ".pt")).string(),
                state.ranks, state.ranks, cluster::Size(), state.ranks);
    }
    const TrainingGroups g =
        share ? GroupTrainings(cost, fixed, most, cluster::Size()) : TrainingGroups{};
    plan = nlohmann::json{{"files", files}, {"ranks", g.ranks}, {"group", g.group},
                          {"first", g.first}, {"size", g.size}}
               .dump();
  });
  cluster::Broadcast(plan);
  const nlohmann::json told = nlohmann::json::parse(plan);
  files = told.at("files").get<std::vector<std::string>>();
  // Rank 0's shares, as they are, on every rank.
  TrainingGroups groups;
  groups.ranks = told.at("ranks").get<std::vector<int>>();
  groups.group = told.at("group").get<std::vector<int>>();
  groups.first = told.at("first").get<std::vector<int>>();
  groups.size = told.at("size").get<std::vector<int>>();
  if (!groups.data_parallel()) {
    const std::vector<std::string> trained = cluster::Distribute(
        specs.size(),
        [&](std::size_t i) {
          return files[i].empty() ? StudyModelFile(options, specs[i], data).string() : files[i];
        },
        work);
    files = trained;
  } else {
    const int pool = static_cast<int>(groups.first.size()) - 1;
    for (std::size_t i = 0; i < specs.size(); ++i)
      if (groups.ranks[i] >= 2)
        spdlog::info("training {} data-parallel on {} ({} ranks), beside the other trainings",
                     ModelStem(specs[i]), RanksOf(groups.first[groups.group[i]], groups.ranks[i]),
                     groups.ranks[i]);
    const int mine = groups.GroupOf(cluster::Rank());
    std::string failure;
    {
      cluster::Split split(mine);
      try {
        std::vector<std::size_t> units;  // the group's trainings
        for (std::size_t i = 0; i < specs.size(); ++i)
          if (groups.group[i] == mine && groups.ranks[i] > 0) units.push_back(i);
        if (mine < pool) {
          NetSpec spec = specs[units.at(0)];
          spec.training.ranks = groups.ranks[units[0]];
          files[units[0]] = StudyModelFile(options, spec, data).string();
        } else if (!units.empty()) {
          cluster::DistributeOptions side;
          for (std::size_t i : units) side.cost.push_back(work.cost[i]);
          const std::vector<std::string> trained = cluster::Distribute(
              units.size(),
              [&](std::size_t u) { return StudyModelFile(options, specs[units[u]], data).string(); },
              side);
          for (std::size_t u = 0; u < units.size(); ++u) files[units[u]] = trained[u];
        }
      } catch (const std::exception& e) {
        failure = e.what();
        if (failure.empty()) failure = "unknown error";
      }
    }
    // A group's error is every rank's (the other groups have finished their trainings).
    cluster::OnEveryRank([&] {
      if (!failure.empty()) throw Error(failure);
    });
    // Each group's first rank tells every rank the files its group made.
    for (std::size_t g = 0; g < groups.first.size(); ++g) {
      if (groups.size[g] == 0) continue;
      nlohmann::json made = nlohmann::json::object();
      for (std::size_t i = 0; i < specs.size(); ++i)
        if (groups.group[i] == static_cast<int>(g) && groups.ranks[i] > 0)
          made[std::to_string(i)] = files[i];
      std::string bytes = made.dump();
      cluster::Broadcast(bytes, groups.first[g]);
      const nlohmann::json made_there = nlohmann::json::parse(bytes);
      for (auto it = made_there.begin(); it != made_there.end(); ++it)
        files[std::stoul(it.key())] = it.value().get<std::string>();
    }
  }
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
