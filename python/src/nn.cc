// aimc._aimc_nn: networks on simulated chips for Python (aimc::nn, LibTorch). A model is an aimc
// model file (aimc train, aimc import) or a TorchScript file imported on the fly; the chips are
// experiment::Chip's, as in aimc test. aimc::Error (and a LibTorch error) becomes aimc.Error.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <c10/util/Exception.h>
#include <torch/csrc/utils/pybind.h>  // torch.Tensor <-> at::Tensor (libtorch_python)
#include <nlohmann/json.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "aimc/common/csv.h"
#include "aimc/common/rng.h"
#include "aimc/experiment/evaluate_chips.h"
#include "aimc/experiment/ir_aware.h"
#include "aimc/nn/analog_op.h"
#include "aimc/common/error.h"
#include "aimc/device/card.h"
#include "aimc/common/fields.h"
#include "aimc/experiment/chip.h"
#include "aimc/experiment/chip_config.h"
#include "aimc/experiment/chip_run.h"
#include "aimc/nn/data.h"
#include "aimc/nn/torchscript.h"
#include "aimc/nn/evaluate.h"
#include "aimc/nn/model_io.h"
#include "aimc/nn/runtime.h"
#include "bindings.h"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace aimc::python {
namespace {

// Runs `f` without the GIL; an aimc or LibTorch error is raised as aimc.Error (the first line of
// LibTorch's message: the rest is a C++ backtrace).
// kReleaseGil false: for `f` that uses Python objects.
template <bool kReleaseGil = true, typename F>
auto Run(F&& f) {
  std::string message;
  try {
    if constexpr (kReleaseGil) {
      py::gil_scoped_release release;
      return f();
    } else {
      return f();
    }
  } catch (const Error& e) {
    message = e.what();
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
    message = message.substr(0, message.find('\n'));
  } catch (const std::filesystem::filesystem_error& e) {
    message = e.what();
  } catch (const std::bad_alloc&) {
    message = "out of memory: the run asked for more memory than this machine can give";
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
  experiment::ChipRun run;
  double digital_accuracy = 0.0;
  std::optional<nn::ImportResult> imported;
};

using Fields = FieldTable<experiment::ChipConfig>;

// A Python value as the field's JSON value; bools are not numbers here (True is no R_ON).
nlohmann::json ToFieldValue(const Field<experiment::ChipConfig>& f, const py::handle& value) {
  const bool is_bool = py::isinstance<py::bool_>(value);
  switch (f.kind) {
    case FieldKind::kDouble:
      if (!is_bool && (py::isinstance<py::float_>(value) || py::isinstance<py::int_>(value)))
        return value.cast<double>();
      break;
    case FieldKind::kInt:
      if (!is_bool && py::isinstance<py::int_>(value)) {
        // Beyond 64 bits Python's int does not convert: say so, naming the field.
        try {
          if (value.cast<py::int_>() < py::int_(0)) return value.cast<std::int64_t>();
          return value.cast<std::uint64_t>();
        } catch (const py::cast_error&) {
          Fail("{} = {} does not fit a 64-bit integer", f.name, py::str(value).cast<std::string>());
        }
      }
      break;
    case FieldKind::kBool:
      if (is_bool) return value.cast<bool>();
      break;
    case FieldKind::kString:
    case FieldKind::kEnum:
      if (py::isinstance<py::str>(value)) return value.cast<std::string>();
      // A card given as a path.
      if (f.name == "card" && py::isinstance(value, py::module_::import("os").attr("PathLike")))
        return py::str(value).cast<std::string>();
      break;
    case FieldKind::kDoubles:
      if (py::isinstance<py::sequence>(value) && !py::isinstance<py::str>(value)) {
        std::vector<double> values;
        for (const py::handle item : value) {
          if (py::isinstance<py::bool_>(item) ||
              !(py::isinstance<py::float_>(item) || py::isinstance<py::int_>(item)))
            Fail("{} must be a list of numbers, got {}", f.name,
                 py::repr(value).cast<std::string>());
          values.push_back(item.cast<double>());
        }
        return values;
      }
      break;
    case FieldKind::kObject:
    case FieldKind::kJson: break;
  }
  Fail("{} must be {}, got {}", f.name,
       f.kind == FieldKind::kDouble  ? "a number"
       : f.kind == FieldKind::kInt   ? "an integer"
       : f.kind == FieldKind::kBool  ? "True or False"
       : f.kind == FieldKind::kDoubles ? "a list of numbers"
                                     : "a string",
       py::repr(value).cast<std::string>());
}

py::object FromFieldValue(const nlohmann::json& v) {
  if (v.is_string()) return py::str(v.get<std::string>());
  if (v.is_boolean()) return py::bool_(v.get<bool>());
  if (v.is_number_float()) return py::float_(v.get<double>());
  if (v.is_number_unsigned()) return py::int_(v.get<std::uint64_t>());
  return py::int_(v.get<std::int64_t>());
}

void SetField(experiment::ChipConfig& c, const std::string& name, const py::handle& value) {
  Run<false>([&] {
    const Fields& fields = experiment::ChipConfigFields();
    const auto& f = fields.at(name);
    fields.SetValue(c, f, ToFieldValue(f, value));
    return 0;
  });
}


// ---- Python's aimc.analog: IR-drop-aware training and chips of a converted module ------------

// The analog layers of a converted module as a network of those layers alone, for the chip's
// effective weights (IR-drop-aware training): the CLI's IrAwareHook on the same layers.
class LayerSetImpl : public nn::NetworkImpl {
 public:
  explicit LayerSetImpl(const std::vector<nn::AnalogLayerOptions>& layers)
      : nn::NetworkImpl(nn::NetworkOptions{}) {
    for (std::size_t i = 0; i < layers.size(); ++i) AddLayer(fmt::format("layer{}", i), layers[i]);
  }
  torch::Tensor forward(const torch::Tensor&) override {
    Fail("the analog layers of IR-drop-aware training do not run as a network");
  }
  energy::OtherOps CountOtherOps(const std::vector<double>&) const override { return {}; }
};

// IR-drop-aware training from Python: every `rebuild_every_steps` training steps the chip's
// effective weights for the layers' current levels, as deviations from the levels (in unit
// weights, the weights' shapes), or None between rebuilds and where no level flipped.
class IrAwareChip {
 public:
  IrAwareChip(const std::vector<std::string>& specs, const experiment::ChipConfig& config,
              int rebuild_every_steps, bool device_variation, std::uint64_t seed) {
    Require(!specs.empty(), "IR-drop-aware training: no analog layer on arrays");
    std::vector<nn::AnalogLayerOptions> layers;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const nn::LayerSpec spec = nn::ParseLayerSpec(specs[i], fmt::format("analog layer {}", i));
      Require(spec.options.ternary, "IR-drop-aware training: analog layer {} keeps float weights",
              i);
      layers.push_back(spec.options);
      conv1d_.push_back(spec.conv1d);
    }
    config.Validate();
    Require(config.uses_devices(),
            "IR-drop-aware training needs a chip with a card (ChipConfig.card): the IR drop is "
            "that of its devices and wires");
    experiment::IrAwareOptions o;
    o.card = config.LoadCard();
    o.chip = config.Options();
    o.rebuild_every_steps = rebuild_every_steps;
    rebuild_every_ = rebuild_every_steps;
    o.device_variation = device_variation;
    o.seed = seed;
    network_ = std::make_shared<LayerSetImpl>(layers);
    builds_ = std::make_shared<std::int64_t>(0);
    layer_builds_ = std::make_shared<std::int64_t>(0);
    hook_ = experiment::IrAwareHook(o, builds_, layer_builds_);
  }

  std::optional<std::vector<torch::Tensor>> Deviations(const std::vector<torch::Tensor>& weights,
                                                       std::int64_t step) {
    const auto layers = network_->AnalogLayers();
    Require(weights.size() == layers.size(), "IR-drop-aware training: {} weights for {} layers",
            weights.size(), layers.size());
    if (step % rebuild_every() != 0) return std::nullopt;
    {
      torch::NoGradGuard no_grad;
      for (std::size_t i = 0; i < layers.size(); ++i) {
        torch::Tensor w = weights[i].detach().to(torch::kFloat).cpu();
        if (conv1d_[i]) w = w.unsqueeze(2);
        Require(w.sizes() == layers[i]->Weight().sizes(),
                "IR-drop-aware training: layer {}'s weight has shape {}, its spec {}", i,
                c10::str(weights[i].sizes()), c10::str(layers[i]->Weight().sizes()));
        layers[i]->Weight().copy_(w);
      }
    }
    const std::int64_t before = *builds_;
    hook_(*network_, step);
    if (*builds_ == before) return std::nullopt;
    std::vector<torch::Tensor> out;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const torch::Tensor& d = layers[i]->chip_deviation();
      out.push_back(conv1d_[i] ? d.squeeze(2).clone() : d.clone());
    }
    return out;
  }
  std::int64_t builds() const { return *builds_; }
  std::int64_t layer_builds() const { return *layer_builds_; }
  int rebuild_every() const { return rebuild_every_; }

 private:
  std::shared_ptr<LayerSetImpl> network_;
  std::vector<bool> conv1d_;
  std::shared_ptr<std::int64_t> builds_, layer_builds_;
  std::function<void(nn::NetworkImpl&, std::int64_t)> hook_;
  int rebuild_every_ = 1;
};

// Chips of a converted (scripted) module: the module imported as `aimc test --torchscript`
// imports it, chips programmed side by side as EvaluateChips programs them.
class ScriptChips {
 public:
  ScriptChips(std::string script, const torch::Tensor& inputs,
              const experiment::ChipConfig& config, std::int64_t classes)
      : config_(config) {
    config_.Validate();
    Require(config_.chip.calibration_images == 0,
            "calibration_images: chips from Python are not calibrated (aimc test calibrates on "
            "its data set's training images)");
    nn::ImportOptions o;
    o.execution = "module";
    imported_ = nn::ImportScriptBytes(std::move(script), "the converted module", o,
                                      inputs.detach().to(torch::kFloat).cpu().contiguous(),
                                      classes);
    spec_ = experiment::ChipSpec::FromConfig(config_);
  }
  void Program(std::uint64_t seed, std::int64_t first, std::int64_t count) {
    programmed_.reset();
    std::vector<std::uint64_t> seeds;
    for (std::int64_t c = first; c < first + count; ++c)
      seeds.push_back(Rng::Derive(seed, static_cast<std::uint64_t>(c)));
    programmed_ = std::make_unique<experiment::ProgrammedChips>(*imported_.network, spec_, seeds);
  }
  torch::Tensor Logits(const torch::Tensor& x, std::int64_t first) const {
    Require(programmed_ != nullptr, "no chips programmed");
    return programmed_->Logits(x.detach().cpu(), first);
  }
  torch::Tensor Digital(const torch::Tensor& x) const {
    Require(programmed_ == nullptr, "chips are programmed: release them first");
    torch::NoGradGuard no_grad;
    imported_.network->eval();
    return imported_.network->forward(x.detach().to(torch::kFloat).cpu().contiguous());
  }
  void Release() { programmed_.reset(); }
  const nn::ImportResult& imported() const { return imported_; }
  std::string Describe() const { return spec_.Describe(); }

 private:
  experiment::ChipConfig config_;
  nn::ImportResult imported_;
  experiment::ChipSpec spec_;
  std::unique_ptr<experiment::ProgrammedChips> programmed_;
};

void BindAnalog(py::module_& m) {
  py::class_<IrAwareChip>(m, "_IrAwareChip")
      .def(py::init([](const std::vector<std::string>& specs, const experiment::ChipConfig& chip,
                       int rebuild_every_steps, bool device_variation, const py::object& seed) {
             const std::uint64_t s = Run<false>([&] { return python::SeedOf(seed); });
             return Run([&] {
               return std::make_unique<IrAwareChip>(specs, chip, rebuild_every_steps,
                                                    device_variation, s);
             });
           }),
           py::arg("specs"), py::arg("chip"), py::arg("rebuild_every_steps"),
           py::arg("device_variation"), py::arg("seed"))
      .def("deviations",
           [](IrAwareChip& c, const std::vector<torch::Tensor>& weights, std::int64_t step) {
             return Run([&] { return c.Deviations(weights, step); });
           })
      .def_property_readonly("builds", &IrAwareChip::builds)
      .def_property_readonly("layer_builds", &IrAwareChip::layer_builds);

  py::class_<ScriptChips>(m, "_ScriptChips")
      .def(py::init([](const py::bytes& script, const torch::Tensor& inputs,
                       const experiment::ChipConfig& chip, std::int64_t classes) {
             std::string bytes = script;
             return Run([&] {
               return std::make_unique<ScriptChips>(std::move(bytes), inputs, chip, classes);
             });
           }),
           py::arg("script"), py::arg("inputs"), py::arg("chip"), py::arg("classes") = 0)
      .def("program",
           [](ScriptChips& c, const py::object& seed, std::int64_t first, std::int64_t count) {
             const std::uint64_t s = Run<false>([&] { return python::SeedOf(seed); });
             Run([&] {
               c.Program(s, first, count);
               return 0;
             });
           })
      .def("logits", [](const ScriptChips& c, const torch::Tensor& x,
                        std::int64_t first) { return Run([&] { return c.Logits(x, first); }); })
      .def("digital",
           [](const ScriptChips& c, const torch::Tensor& x) { return Run([&] { return c.Digital(x); }); })
      .def("release", &ScriptChips::Release)
      .def("describe", &ScriptChips::Describe)
      .def("layers", [](const ScriptChips& c) { return LayersOf(c.imported()); })
      .def_static("batch_size", &experiment::ProgrammedChips::BatchSize);

  m.def("derive_seed",
        [](const py::object& seed, std::uint64_t stream) {
          const std::uint64_t s = Run<false>([&] { return python::SeedOf(seed); });
          return Rng::Derive(s, stream);
        },
        py::arg("seed"), py::arg("stream"),
        "Rng::Derive(seed, stream): the seed of stream `stream` of `seed`, as aimc derives a "
        "chip's (stream c) or a layer's (stream i) from the run's seed.");
}

}  // namespace

void BindNn(py::module_& m) {
  BindAnalog(m);
  py::class_<experiment::ChipConfig> config(m, "ChipConfig", R"(A chip as `aimc test` takes it: the
same fields, names, units and checks as its flags and a sweep's [chip] table (card, r_on_ohm,
sigma_w_test, wire_ohm, wires, wire_scale, tile_rows, tile_cols, read_voltage_v, ..., time_s,
temperature_k, drift_compensation, calibration_images; see fields()). Keyword arguments set
fields: aimc.ChipConfig(card="sot_mram", wires="layout22nm", time_s=3600).)");
  config.def(py::init([](const py::kwargs& kwargs) {
    experiment::ChipConfig c;
    for (const auto& [key, value] : kwargs) SetField(c, key.cast<std::string>(), value);
    return c;
  }));
  for (const Field<experiment::ChipConfig>& f : experiment::ChipConfigFields().fields()) {
    const std::string name = f.name;
    std::string doc = f.help;
    if (!f.unit.empty()) doc += " (" + f.unit + ")";
    config.def_property(
        name.c_str(),
        [name](const experiment::ChipConfig& c) {
          return FromFieldValue(experiment::ChipConfigFields().at(name).get(c));
        },
        [name](experiment::ChipConfig& c, const py::object& value) { SetField(c, name, value); },
        doc.c_str());
  }
  config
      .def("validate", [](const experiment::ChipConfig& c) { Run([&] { c.Validate(); return 0; }); },
           "Raises aimc.Error naming the first field out of range or out of place (an array "
           "option without a card, a card with sigma_w_test).")
      .def("to_json", [](const experiment::ChipConfig& c) { return c.ToJson().dump(); },
           "Every field as JSON.")
      .def_static(
          "from_json",
          [](const std::string& text) {
            return Run([&] {
              nlohmann::json j;
              try {
                j = nlohmann::json::parse(text);
              } catch (const nlohmann::json::exception& e) {
                Fail("ChipConfig.from_json: not JSON ({})", e.what());
              }
              return experiment::ChipConfig::FromJson(j);
            });
          },
          "A configuration from to_json's text (the fields it states, on top of the defaults).")
      .def_static(
          "fields",
          [] {
            py::list out;
            const experiment::ChipConfig defaults;
            for (const auto& f : experiment::ChipConfigFields().fields()) {
              py::dict d;
              d["name"] = f.name;
              d["unit"] = f.unit;
              d["help"] = f.help;
              d["default"] = FromFieldValue(f.get(defaults));
              d["flag"] = f.flag();
              if (!f.choices.empty()) d["choices"] = f.choices;
              out.append(d);
            }
            return out;
          },
          "The fields: name, unit, help, default, the flag of aimc test, choices.")
      .def("__eq__", [](const experiment::ChipConfig& a, const experiment::ChipConfig& b) {
        return a.ToJson() == b.ToJson();
      })
      .def("__repr__", [](const experiment::ChipConfig& c) {
        // Only what differs from the defaults, as the keywords that make it.
        const experiment::ChipConfig defaults;
        std::string args;
        for (const auto& f : experiment::ChipConfigFields().fields()) {
          const nlohmann::json v = f.get(c);
          if (v == f.get(defaults)) continue;
          if (!args.empty()) args += ", ";
          args += f.name + "=" + py::repr(FromFieldValue(v)).cast<std::string>();
        }
        return "aimc.ChipConfig(" + args + ")";
      });

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
      R"(Imports a float PyTorch network (torch.jit.save of torch.jit.script or torch.jit.trace of an
nn.Sequential or of a module with its own forward)
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
         const py::object& seed, std::int64_t test_images, std::int64_t import_images, int act_bits,
         std::optional<double> threshold_ratio, bool float_first_last, bool refit,
         int weight_levels, int threads, const std::optional<experiment::ChipConfig>& chip) {
        // None (not an empty path: pybind11 gives fs::path() back as '.') for what is not given.
        const fs::path model = model_arg.value_or(fs::path());
        const fs::path torchscript = torchscript_arg.value_or(fs::path());
        const fs::path data_dir = data_dir_arg.value_or(fs::path());
        // Python objects: read with the GIL held, before the run releases it.
        const std::uint64_t seed_value = Run<false>([&] { return python::SeedOf(seed); });
        ChipRun run = Run([&] {
          Require(model.empty() != torchscript.empty(), "give model or torchscript (one of them)");
          Require(torchscript.empty() || !data.empty(), "a torchscript model needs data");
          Require(chips >= 1, "chips must be >= 1, got {}", chips);
          Require(test_images >= 0, "test_images must be >= 0 (0: all), got {}", test_images);
          experiment::ChipConfig config = chip.value_or(experiment::ChipConfig{});
          // The keywords of earlier versions, where given, on top of `chip`.
          const experiment::ChipConfig defaults;
          if (!card.empty()) config.card = card;
          if (r_on_ohm != defaults.r_on_ohm) config.r_on_ohm = r_on_ohm;
          if (wire_ohm != defaults.wire_ohm) config.wire_ohm = wire_ohm;
          if (tile_rows != defaults.chip.tile_rows) config.chip.tile_rows = tile_rows;
          if (sigma_w_test != defaults.sigma_w_test) config.sigma_w_test = sigma_w_test;
          if (calibration_images != defaults.chip.calibration_images)
            config.chip.calibration_images = calibration_images;
          config.Validate();
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
          experiment::ChipRunOptions run;
          run.chips = chips;
          run.seed = seed_value;
          run.test_images = test_images;
          r.run = experiment::RunChips(*loaded.network, split, config, run);
          // After RunChips, which checks that the network fits the data first.
          r.digital_accuracy = nn::Evaluate(*loaded.network, split.test.Head(test_images));
          return r;
        });
        py::dict d;
        const experiment::ChipStats& stats = run.run.stats;
        d["accuracies"] = py::array_t<double>(static_cast<py::ssize_t>(stats.accuracies.size()),
                                              stats.accuracies.data());
        d["mean"] = stats.mean;
        d["std"] = stats.stddev;
        d["min"] = stats.min;
        d["max"] = stats.max;
        d["digital_accuracy"] = run.digital_accuracy;
        d["test_images"] = run.run.test_images;
        d["chip"] = run.run.chip;
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
      py::arg("weight_levels") = 3, py::arg("threads") = 1, py::arg("chip") = py::none(),
      R"(A network on `chips` Monte-Carlo chips, as `aimc test` runs it (the same library call,
experiment::RunChips: the same seed gives the same chips, bit for bit). The network is an aimc
model file (`model`: aimc train or aimc import) or a TorchScript file imported now
(`torchscript`, with `data`; import_images, act_bits, threshold_ratio, float_first_last, refit,
weight_levels as for aimc import). The chip: `chip`, an aimc.ChipConfig (every option of
`aimc test`'s chip, by the same names); or, as before, the keywords card, r_on_ohm, wire_ohm,
tile_rows, sigma_w_test and calibration_images, which also override `chip`'s fields where given.
With those keywords: devices drawn from `card` (a preset name or a file; r_on_ohm 0 keeps the
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
