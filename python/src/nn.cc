// aimc._aimc_nn: networks on simulated chips for Python (aimc::nn, LibTorch). A model is an aimc
// model file (aimc train, aimc import) or a TorchScript file imported on the fly; the chips are
// experiment::Chip's, as in aimc test. aimc::Error (and a LibTorch error) becomes aimc.Error.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "aimc/common/csv.h"
#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/experiment/chip.h"
#include "aimc/nn/data.h"
#include "aimc/nn/torchscript.h"
#include "aimc/nn/train.h"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace aimc::python {
namespace {

// Runs `f` without the GIL; an aimc or LibTorch error is raised as aimc.Error (the first line of
// LibTorch's message: the rest is a C++ backtrace).
template <typename F>
auto Run(F&& f) {
  std::string message;
  try {
    py::gil_scoped_release release;
    return f();
  } catch (const Error& e) {
    message = e.what();
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
    message = message.substr(0, message.find('\n'));
  }
  const py::object error = py::module_::import("aimc._aimc").attr("Error");
  PyErr_SetString(error.ptr(), message.c_str());
  throw py::error_already_set();
}

nn::ImportOptions ImportOptionsOf(std::int64_t import_images, int act_bits,
                                  std::optional<double> threshold_ratio, bool float_first_last,
                                  bool refit, int weight_levels) {
  nn::ImportOptions o;
  o.refit = refit;
  o.weight_levels = weight_levels;
  o.calibration_images = import_images;
  o.act_bits = act_bits;
  if (threshold_ratio) o.threshold_ratios = {*threshold_ratio};
  o.float_first_last = float_first_last;
  o.Validate();
  return o;
}

py::list LayersOf(const nn::ImportResult& r) {
  py::list layers;
  for (const nn::ImportedLayer& l : r.layers) {
    py::dict d;
    d["name"] = l.name;
    d["kind"] = l.kind;
    d["analog"] = l.analog;
    d["reason"] = l.reason;
    d["threshold_ratio"] = l.threshold_ratio;
    d["weight_levels"] = l.weight_levels;
    d["input_alpha"] = l.input_alpha;
    d["relative_error"] = l.relative_error;
    layers.append(d);
  }
  return layers;
}

// What test_chips does without the GIL.
struct ChipRun {
  experiment::ChipStats stats;
  double digital_accuracy = 0.0;
  std::int64_t test_images = 0;
  std::string spec;
  std::optional<nn::ImportResult> imported;
};

}  // namespace

void BindNn(py::module_& m) {
  m.def(
      "import_torchscript",
      [](const fs::path& torchscript, const std::string& data, const fs::path& out,
         const std::optional<fs::path>& data_dir_arg, std::int64_t import_images, int act_bits,
         std::optional<double> threshold_ratio, bool float_first_last, bool refit,
         int weight_levels) {
        const fs::path data_dir = data_dir_arg.value_or(fs::path());
        auto r = Run([&] {
          const nn::ImportOptions o = ImportOptionsOf(import_images, act_bits, threshold_ratio,
                                                      float_first_last, refit, weight_levels);
          RequireOutputFile(out);
          const nn::DataSplit split = nn::LoadData(data, data_dir);
          nn::ImportedModel m = nn::ImportAsModel(torchscript, o, data, data_dir, split);
          nn::SaveModel(out, *m.import.network, m.info);
          return m;
        });
        py::dict d;
        d["model"] = out;
        d["digital_accuracy"] = r.info.history.front().test_accuracy;
        d["layers"] = LayersOf(r.import);
        return d;
      },
      py::arg("torchscript"), py::arg("data"), py::arg("out"), py::arg("data_dir") = py::none(),
      py::arg("import_images") = nn::ImportOptions{}.calibration_images,
      py::arg("act_bits") = nn::ImportOptions{}.act_bits, py::arg("threshold_ratio") = py::none(),
      py::arg("float_first_last") = false, py::arg("refit") = true, py::arg("weight_levels") = 3,
      R"(Imports a float PyTorch network (torch.jit.save of torch.jit.script of an nn.Sequential)
as an aimc model file at `out`, as `aimc import` does: ternary (weight_levels 3) or K-level
post-training quantization of its Conv2d/Linear layers on the first `import_images` training
images of `data`. Returns a dict:
model, digital_accuracy (0..1, all test images), layers (what became of each weight layer).)");

  m.def(
      "test_chips",
      [](const std::optional<fs::path>& model_arg, const std::optional<fs::path>& torchscript_arg,
         const std::string& data, const std::optional<fs::path>& data_dir_arg,
         const std::string& card, double r_on_ohm, double wire_ohm,
         std::int64_t tile_rows, double sigma_w_test, std::int64_t calibration_images, int chips,
         std::uint64_t seed, std::int64_t test_images, std::int64_t import_images, int act_bits,
         std::optional<double> threshold_ratio, bool float_first_last, bool refit,
         int weight_levels, int threads) {
        // None (not an empty path: pybind11 gives fs::path() back as '.') for what is not given.
        const fs::path model = model_arg.value_or(fs::path());
        const fs::path torchscript = torchscript_arg.value_or(fs::path());
        const fs::path data_dir = data_dir_arg.value_or(fs::path());
        ChipRun run = Run([&] {
          Require(model.empty() != torchscript.empty(), "give model or torchscript (one of them)");
          Require(torchscript.empty() || !data.empty(), "a torchscript model needs data");
          Require(chips >= 1, "chips must be >= 1, got {}", chips);
          Require(test_images >= 0, "test_images must be >= 0 (0: all), got {}", test_images);
          Require(calibration_images >= 0, "calibration_images must be >= 0, got {}",
                  calibration_images);
          nn::SetThreads(threads);
          ChipRun r;
          nn::Model loaded;
          std::string dataset = data;
          fs::path dir = data_dir;
          if (!model.empty()) {
            loaded = nn::LoadModel(model);
            if (dataset.empty()) dataset = loaded.info.training.dataset;
            if (dir.empty()) dir = loaded.info.training.data_dir;
          }
          const nn::DataSplit split = nn::LoadData(dataset, dir);
          if (!torchscript.empty()) {
            r.imported = nn::ImportTorchScript(
                torchscript,
                ImportOptionsOf(import_images, act_bits, threshold_ratio, float_first_last,
                                refit, weight_levels),
                split.train);
            loaded.network = r.imported->network;
          }
          nn::RequireFits(loaded.network->options(), split.test);
          experiment::ChipSpec spec =
              experiment::ChipSpec::WeightNoise(nn::LevelNoise::Uniform(sigma_w_test));
          if (!card.empty()) {
            Require(sigma_w_test == 0.0, "sigma_w_test and card exclude each other");
            std::shared_ptr<const device::DeviceCard> c = device::LoadCardOrPreset(card);
            if (r_on_ohm > 0) c = c->WithRon(r_on_ohm);
            experiment::ChipOptions o;
            o.crossbar.wire_row_ohm = o.crossbar.wire_col_ohm = wire_ohm;
            o.tile_rows = tile_rows;
            o.calibration_images = calibration_images;
            spec = experiment::ChipSpec::Devices(c, o);
          } else {
            Require(r_on_ohm == 0.0 && wire_ohm == 0.0 && calibration_images == 0,
                    "r_on_ohm, wire_ohm and calibration_images need a card");
          }
          if (calibration_images > 0)
            spec.calibration = experiment::CaptureCalibration(
                *loaded.network, split.train.Head(calibration_images));
          spec.Validate();
          const nn::Dataset test = split.test.Head(test_images);
          r.test_images = test.size();
          r.digital_accuracy = nn::Evaluate(*loaded.network, test);
          r.stats = experiment::TestChips(*loaded.network, test, spec, chips, seed);
          r.spec = spec.Describe();
          return r;
        });
        py::dict d;
        d["accuracies"] = py::array_t<double>(static_cast<py::ssize_t>(run.stats.accuracies.size()),
                                              run.stats.accuracies.data());
        d["mean"] = run.stats.mean;
        d["std"] = run.stats.stddev;
        d["min"] = run.stats.min;
        d["max"] = run.stats.max;
        d["digital_accuracy"] = run.digital_accuracy;
        d["test_images"] = run.test_images;
        d["chip"] = run.spec;
        if (run.imported) d["layers"] = LayersOf(*run.imported);
        return d;
      },
      py::kw_only(), py::arg("model") = py::none(), py::arg("torchscript") = py::none(),
      py::arg("data") = "", py::arg("data_dir") = py::none(), py::arg("card") = "",
      py::arg("r_on_ohm") = 0.0, py::arg("wire_ohm") = 0.0,
      py::arg("tile_rows") = experiment::ChipOptions{}.tile_rows, py::arg("sigma_w_test") = 0.0,
      py::arg("calibration_images") = 0, py::arg("chips") = 10, py::arg("seed") = 1,
      py::arg("test_images") = 0,
      py::arg("import_images") = nn::ImportOptions{}.calibration_images,
      py::arg("act_bits") = nn::ImportOptions{}.act_bits, py::arg("threshold_ratio") = py::none(),
      py::arg("float_first_last") = false, py::arg("refit") = true,
      py::arg("weight_levels") = 3, py::arg("threads") = 1,
      R"(A network on `chips` Monte-Carlo chips, as `aimc test` runs it. The network is an aimc
model file (`model`: aimc train or aimc import) or a TorchScript file imported now
(`torchscript`, with `data`; import_images, act_bits, threshold_ratio, float_first_last, refit,
weight_levels as for aimc import). The chip: devices drawn from `card` (a preset name or a file; r_on_ohm 0 keeps the
card's) with every tile's exact DC circuit (wire_ohm per segment, tile_rows), optionally
calibrated on the first `calibration_images` training images; or, without a card, weight noise
sigma_w_test. Returns a dict: accuracies (NumPy, one per chip, on the first `test_images` test
images, 0: all), mean, std, min, max, digital_accuracy (no chip), test_images, chip (the chip
described) and, for a TorchScript file, layers.)");
}

}  // namespace aimc::python

PYBIND11_MODULE(_aimc_nn, m) {
  m.doc() = "aimc::nn (networks on simulated chips, LibTorch) for Python";
  aimc::python::BindNn(m);
}
