"""aimc inside PyTorch: analog layers and chips in your own training loop (docs/python.md).

    import aimc, aimc.analog as analog
    config = analog.AnalogConfig(chip=aimc.ChipConfig(card="sot_mram", wires="layout22nm"),
                                 sigma_train=0.1, ir_aware_every=50)
    model = analog.convert(float_model, config, calibration=images)  # Conv/Linear -> analog
    ...your loop: any torch.optim optimizer, loss.backward(), optimizer.step()...
    result = analog.test_chips(model, config, test_loader, chips=10, seed=1)

An analog layer's forward is aimc's C++ (the operator aimc::analog_layer, the code `aimc train`
runs): the input through the DAC (clipped to [0, alpha] or, signed, [-alpha, alpha], act_bits
levels, alpha learned as in PACT), the weights ternary, K-level or continuous (straight-through to
the float weights), the training noise sigma_train of Fig. 12 and, with ir_aware_every, the chip's
IR-drop deviation rebuilt every K training steps (as `aimc train --ir-aware-*`). torch.jit.script
of a converted model works, and `aimc test --torchscript` takes the saved file as its converter
mapped it. test_chips programs Monte-Carlo chips of the model as `aimc test` does: the same seed
gives the same chips, bit for bit.
"""

import copy
import io
import json
import math
import warnings
from typing import List, Optional

import numpy as np
import torch
from torch import Tensor, nn

from . import _aimc
from ._aimc import Error

try:  # the LibTorch part of aimc registers the operator aimc::analog_layer
    from . import _aimc_nn
except ImportError as e:  # pragma: no cover - a core-only build
    raise ImportError(
        "aimc.analog needs aimc's LibTorch part (aimc._aimc_nn), which this installation lacks: "
        "build aimc with LibTorch (`make build`, or `pip install .` where `import torch` works) "
        f"({e})") from e

__all__ = ["AnalogConfig", "AnalogLinear", "AnalogConv1d", "AnalogConv2d", "convert",
           "analog_layers", "IrAware", "Chips", "test_chips"]

# What aimc calls a weight-level count that keeps every weight as it is (continuous weights).
CONTINUOUS = 0


def _check(ok, message):
    if not ok:
        raise Error(message)


class AnalogConfig:
    """How a network goes on arrays and trains for them: the chip and the CLI's training options,
    by the CLI's names.

    chip            aimc.ChipConfig: the card, R_ON, wires, tiles, DAC/ADC, read conditions (the
                    fields of `aimc test`; see aimc.ChipConfig.fields()). Needed for
                    IR-drop-aware training and for chips; None: no chip yet. With adc_bits > 0
                    the layers' forward passes read their partial sums through the chip's ADCs
                    (blocks of tile_rows rows of the layer's matrix; a grouped convolution's
                    groups on its diagonal blocks, as on the chip's tiles).
    act_bits        bits of every analog layer's DAC (--act-bits; 0: float inputs), default 4.
    weight_levels   3 ternary (the paper's), an odd K > 3 levels, or 0 continuous weights on a
                    card with analog states (--weight-levels).
    threshold_ratio TWN threshold of ternary weights (--threshold-ratio), default 0.7.
    sigma_train     sigma_w,train: weight noise relative to the unit weight in every training
                    forward pass (--sigma-train, Fig. 12), default 0.
    ir_aware_every  training steps between rebuilds of the chip's effective weights with their
                    exact IR drop (--ir-aware-every); 0: no IR-drop-aware training.
    ir_aware_variation  devices drawn anew from the card at every rebuild (--ir-aware-variation);
                    False: the card's nominal devices, the IR drop alone.
    signed_inputs   a layer whose calibration inputs go negative gets a signed DAC (+-V); False
                    keeps such layers digital.
    input_percentile  alpha of each DAC: this percentile of its calibration inputs (99.9).
    float_first_last  keep the first and last weight layers digital (--float-first-last).
    seed            the layers' noise draws (layer i from aimc.derive_seed(seed, i)) and the
                    IR-drop-aware chip.
    """

    _FIELDS = {
        "chip": None, "act_bits": 4, "weight_levels": 3, "threshold_ratio": 0.7,
        "sigma_train": 0.0, "ir_aware_every": 0, "ir_aware_variation": False,
        "signed_inputs": True, "input_percentile": 99.9, "float_first_last": False, "seed": 1,
    }

    def __init__(self, **fields):
        for name, default in self._FIELDS.items():
            object.__setattr__(self, name, copy.copy(default))
        for name, value in fields.items():
            setattr(self, name, value)
        self.validate()

    def __setattr__(self, name, value):
        _check(name in self._FIELDS,
               f"AnalogConfig has no field '{name}' (fields: {', '.join(self._FIELDS)})")
        object.__setattr__(self, name, value)

    def validate(self):
        """Raises aimc.Error naming the first field out of range (the CLI's ranges)."""
        def integer(name, low, high):
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
                   f"{name} must be an integer in [{low}, {high}], got {v!r}")

        def number(name, ok, rule):
            v = getattr(self, name)
            _check(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                   and ok(v), f"{name} must be {rule}, got {v!r}")

        def flag(name):
            _check(isinstance(getattr(self, name), bool),
                   f"{name} must be True or False, got {getattr(self, name)!r}")

        _check(self.chip is None or isinstance(self.chip, _aimc_nn.ChipConfig),
               f"chip must be an aimc.ChipConfig or None, got {type(self.chip).__name__}")
        if self.chip is not None:
            self.chip.validate()
        integer("act_bits", 0, 16)
        lv = self.weight_levels
        _check(isinstance(lv, int) and not isinstance(lv, bool)
               and (lv == CONTINUOUS or (3 <= lv <= 255 and lv % 2 == 1)),
               f"weight_levels must be 0 (continuous) or odd and in [3, 255] (3: ternary), got {lv!r}")
        number("threshold_ratio", lambda v: 0.0 <= v < 10.0, "in [0, 10)")
        number("sigma_train", lambda v: v >= 0.0, "a number >= 0")
        integer("ir_aware_every", 0, 1000000)
        flag("ir_aware_variation")
        flag("signed_inputs")
        flag("float_first_last")
        number("input_percentile", lambda v: 0.0 < v <= 100.0, "in (0, 100]")
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool)
               and 0 <= self.seed < 2 ** 64, f"seed must be an integer in [0, 2^64), got {self.seed!r}")
        _check(self.ir_aware_every == 0 or (self.chip is not None and self.chip.card),
               "ir_aware_every needs a chip with a card (chip=aimc.ChipConfig(card=...)): the IR "
               "drop is that of its devices and wires")
        _check(self.ir_aware_every == 0 or self.weight_levels == 3,
               "ir_aware_every: IR-drop-aware training takes ternary weights (weight_levels 3)")

    def to_dict(self):
        d = {name: getattr(self, name) for name in self._FIELDS}
        d["chip"] = None if self.chip is None else json.loads(self.chip.to_json())
        return d

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k, v in self._FIELDS.items()
                         if getattr(self, k) != v)
        return f"aimc.analog.AnalogConfig({args})"


def _signed_int64(seed):
    """A 64-bit seed as TorchScript's int (two's complement); the operator reads it back."""
    return seed - 2 ** 64 if seed >= 2 ** 63 else seed


def _pair(v, dims):
    return [int(x) for x in (v if isinstance(v, (tuple, list)) else (v,) * dims)]


class _AnalogLayer(nn.Module):
    """One weight layer on arrays: its float weights (trained), bias, DAC range alpha (learned),
    and the spec that the operator and `aimc test --torchscript` read."""

    __constants__ = ["spec", "sigma_train", "noise_seed"]

    def __init__(self, spec: dict, weight: Tensor, bias: Optional[Tensor], alpha: float,
                 sigma_train: float, noise_seed: int):
        super().__init__()
        _check(math.isfinite(alpha) and alpha > 0.0, f"alpha must be > 0, got {alpha}")
        self.spec = json.dumps(spec, sort_keys=True)
        self.weight = nn.Parameter(weight.detach().clone().float())
        if bias is not None:
            self.bias = nn.Parameter(bias.detach().clone().float())
        else:
            self.register_parameter("bias", None)
        self.alpha = nn.Parameter(torch.tensor([float(alpha)]))
        # Training noise draws so far: draw n of layer i comes from derive(seed_i, n), and a
        # checkpoint (state_dict) continues the sequence.
        self.register_buffer("draws", torch.zeros((), dtype=torch.long))
        # The chip's deviation from the levels (IR-drop-aware training); rebuilt, not saved.
        self.register_buffer("deviation", torch.zeros(0), persistent=False)
        self.sigma_train = float(sigma_train)
        self.noise_seed = _signed_int64(int(noise_seed))
        self._ir: Optional["IrAware"] = None

    __jit_ignored_attributes__ = ["_ir"]
    __jit_unused_properties__ = ["options"]

    @property
    def options(self):
        """The layer's spec as a dict (kind, in, out, geometry, mapping)."""
        return json.loads(self.spec)

    @torch.jit.unused
    def _before_training_forward(self) -> None:
        if self._ir is not None:
            self._ir._before_forward(self)

    def forward(self, x: Tensor) -> Tensor:
        sigma = 0.0
        draw = 0
        deviation: Optional[Tensor] = None
        if self.training:
            if not torch.jit.is_scripting():
                self._before_training_forward()
            sigma = self.sigma_train
            if sigma > 0.0:
                draw = int(self.draws)
                self.draws.add_(1)
            if self.deviation.numel() > 0:
                deviation = self.deviation
        return torch.ops.aimc.analog_layer(x, self.weight, self.bias, self.alpha, deviation,
                                           self.spec, sigma, self.noise_seed, draw)

    def _init_from(self, module, config, alpha, signed_input, index):
        """This layer made from a float `module` (its weights copied) as `config` maps it; layer
        `index` draws its noise from aimc.derive_seed(config.seed, index)."""
        config = config or AnalogConfig()
        _AnalogLayer.__init__(self, _spec_of(module, config, signed_input), module.weight,
                              module.bias, alpha, config.sigma_train,
                              _aimc_nn.derive_seed(config.seed, index))

    @classmethod
    def from_module(cls, module, config=None, alpha=1.0, signed_input=False, index=0):
        """The analog layer of a float nn.Linear / nn.Conv1d / nn.Conv2d (weights copied)."""
        layer = cls.__new__(cls)
        layer._init_from(module, config, alpha, signed_input, index)
        return layer

    def extra_repr(self):
        o = self.options
        levels = {3: "ternary", CONTINUOUS: "continuous"}.get(o["weight_levels"],
                                                           f"{o['weight_levels']} levels")
        dac = f"{'signed ' if o['signed_input'] else ''}{o['input_bits']}-bit DAC"
        return (f"{o['in']}, {o['out']}, {levels if o['ternary'] else 'float'}, {dac}, "
                f"alpha={self.alpha.item():.4g}, sigma_train={self.sigma_train}")


def _spec_of(module, config: AnalogConfig, signed: bool):
    if isinstance(module, nn.Linear):
        spec = {"kind": "linear", "in": module.in_features, "out": module.out_features}
    else:
        dims = 1 if isinstance(module, nn.Conv1d) else 2
        padding = module.padding
        if isinstance(padding, str):
            k, d = _pair(module.kernel_size, dims), _pair(module.dilation, dims)
            if padding == "same":
                _check(all(di * (ki - 1) % 2 == 0 for ki, di in zip(k, d)),
                       "padding='same' of an even kernel pads unequally")
                padding = [di * (ki - 1) // 2 for ki, di in zip(k, d)]
            else:
                padding = [0] * dims
        spec = {"kind": "conv1d" if dims == 1 else "conv2d", "in": module.in_channels,
                "out": module.out_channels, "kernel": _pair(module.kernel_size, dims),
                "stride": _pair(module.stride, dims), "padding": _pair(padding, dims),
                "dilation": _pair(module.dilation, dims), "groups": int(module.groups)}
    spec.update({"bias": module.bias is not None, "ternary": True,
                 "weight_levels": config.weight_levels,
                 "threshold_ratio": float(config.threshold_ratio),
                 "input_bits": config.act_bits, "signed_input": bool(signed)})
    chip = config.chip
    if chip is not None and chip.adc_bits > 0:
        # The chip's ADC in the forward pass: its tiles' row blocks, each read by its own ADC.
        spec.update({"adc_bits": chip.adc_bits, "tile_rows": chip.tile_rows,
                     "adc_full_scale_fraction": float(chip.adc_full_scale_fraction)})
    return spec


class AnalogLinear(_AnalogLayer):
    """nn.Linear on arrays (inputs (..., in_features): tokens of a sequence too)."""

    def __init__(self, in_features, out_features, bias=True, config=None, alpha=1.0,
                 signed_input=False, index=0):
        self._init_from(nn.Linear(in_features, out_features, bias), config, alpha, signed_input,
                        index)


class AnalogConv1d(_AnalogLayer):
    """nn.Conv1d on arrays (a convolution of height 1; any kernel, stride, padding, dilation,
    groups)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, config=None, alpha=1.0, signed_input=False, index=0):
        self._init_from(nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding,
                                  dilation, groups, bias), config, alpha, signed_input, index)


class AnalogConv2d(_AnalogLayer):
    """nn.Conv2d on arrays (any kernel shape, stride, padding, dilation; groups on diagonal
    blocks of one array)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, config=None, alpha=1.0, signed_input=False, index=0):
        self._init_from(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                                  dilation, groups, bias), config, alpha, signed_input, index)


_CLASSES = [(nn.Conv2d, AnalogConv2d), (nn.Conv1d, AnalogConv1d), (nn.Linear, AnalogLinear)]


def _why_not(module):
    """Why a Conv/Linear stays digital ('' when it can go on arrays)."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        if module.padding_mode != "zeros":
            return f"padding_mode '{module.padding_mode}' (zeros only)"
    if module.weight.dtype != torch.float32:
        return f"weights of {module.weight.dtype} (float32 only)"
    return ""


def _calibration_inputs(calibration, images):
    """The first `images` inputs of a tensor, a DataLoader or any iterable of batches."""
    if isinstance(calibration, Tensor):
        return calibration[:images]
    batches, n = [], 0
    for batch in calibration:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        _check(isinstance(x, Tensor), "calibration batches must be tensors or (inputs, labels)")
        batches.append(x)
        n += x.shape[0]
        if n >= images:
            break
    _check(batches, "calibration: no inputs")
    return torch.cat(batches)[:images]


def analog_layers(model: nn.Module):
    """(name, layer) of every analog layer of `model`, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _AnalogLayer)]


def convert(model: nn.Module, config: Optional[AnalogConfig] = None, calibration=None,
            calibration_images: int = 256, skip=()):
    """A copy of `model` with every nn.Linear, nn.Conv1d and nn.Conv2d that arrays can take
    replaced by an analog layer (AnalogLinear, AnalogConv1d, AnalogConv2d), the rest untouched.

    calibration: inputs of the model (a tensor, or a DataLoader of (inputs, labels)), of which
    the first `calibration_images` set each layer's DAC: alpha is the config's input_percentile
    of the layer's inputs (of |inputs| where they go negative: a signed DAC, or the layer stays
    digital with signed_inputs False). Without calibration every DAC starts at alpha 1, unsigned
    (then train: alpha is learned). `skip`: names of layers to keep digital. The layers that stay
    digital, and why, are given as a warning.
    """
    config = config or AnalogConfig()
    config.validate()
    model = copy.deepcopy(model)
    candidates = [(name, m) for name, m in model.named_modules()
                  if any(type(m) is cls for cls, _ in _CLASSES)]
    _check(candidates, "convert: the model has no nn.Linear, nn.Conv1d or nn.Conv2d")
    kept = {}
    for name, m in candidates:
        why = "skipped (skip=...)" if name in skip else _why_not(m)
        if why:
            kept[name] = why
    mappable = [(n, m) for n, m in candidates if n not in kept]
    if config.float_first_last and mappable:
        for n, _ in (mappable[0], mappable[-1]):
            kept[n] = "first or last layer, kept float (float_first_last)"
        mappable = [(n, m) for n, m in mappable if n not in kept]
    stats = {}
    if calibration is not None:
        x = _calibration_inputs(calibration, calibration_images)
        seen = {}

        def hook(name):
            def record(_module, inputs):
                seen.setdefault(name, []).append(inputs[0].detach().reshape(-1).float())
            return record

        handles = [m.register_forward_pre_hook(hook(n)) for n, m in mappable]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
            model.train(was_training)
        for n, values in seen.items():
            v = torch.cat(values)
            signed = bool((v < 0).any())
            # NumPy's percentile (torch.quantile refuses more than 2^24 values).
            q = float(np.percentile((v.abs() if signed else v).numpy(), config.input_percentile))
            stats[n] = (q if q > 0 else 1.0, signed)
    modules = dict(model.named_modules())
    for index, (name, m) in enumerate(candidates):
        if name in kept:
            continue
        alpha, signed = stats.get(name, (1.0, False))
        if signed and (not config.signed_inputs or config.act_bits == 1):
            kept[name] = "its inputs go negative, and signed inputs are off or have 1 bit"
            continue
        cls = next(a for f, a in _CLASSES if type(m) is f)
        layer = cls.from_module(m, config, alpha=alpha, signed_input=signed, index=index)
        parent, _, attr = name.rpartition(".")
        setattr(modules[parent] if parent else model, attr, layer)
    if not analog_layers(model):
        raise Error("convert: no layer went on arrays: " +
                    "; ".join(f"{n}: {w}" for n, w in kept.items()))
    if kept:
        warnings.warn("aimc.analog.convert kept digital: " +
                      "; ".join(f"{n} ({w})" for n, w in kept.items()), stacklevel=2)
    if config.ir_aware_every > 0:
        IrAware(model, config)
    return model


class IrAware:
    """IR-drop-aware training (as `aimc train --ir-aware-*`): before every ir_aware_every-th
    training forward pass of `model`, the chip of config.chip (its card's nominal devices, or
    drawn anew with ir_aware_variation) is solved with its exact IR drop for the layers' current
    levels, and each layer's deviation (effective weight minus levels) enters its forward passes
    until the next rebuild. Only the layers whose levels flipped since their last build are
    solved again. convert() attaches one when config.ir_aware_every > 0; `builds` and
    `layer_builds` count the work, `seconds` its time."""

    def __init__(self, model: nn.Module, config: AnalogConfig):
        config.validate()
        _check(config.ir_aware_every > 0, "IrAware: config.ir_aware_every must be > 0")
        layers = [m for _, m in analog_layers(model) if m.options["ternary"]]
        _check(layers, "IrAware: the model has no ternary analog layer")
        self._layers = layers
        self._args = ([m.spec for m in layers], config.chip.to_json(), config.ir_aware_every,
                      config.ir_aware_variation, config.seed)
        self._chip = self._make_chip()
        self.steps = 0
        self.seconds = 0.0
        for m in layers:
            m._ir = self
        self._leader = layers[0]

    def _make_chip(self):
        specs, chip, every, variation, seed = self._args
        return _aimc_nn._IrAwareChip(specs, _aimc_nn.ChipConfig.from_json(chip), every,
                                     variation, seed)

    # copy.deepcopy and pickling (torch.save of a whole model): the chip is made again from its
    # options; the layers keep their deviations until the next rebuild.
    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_chip"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._chip = self._make_chip()

    @property
    def builds(self):
        return self._chip.builds

    @property
    def layer_builds(self):
        return self._chip.layer_builds

    def _before_forward(self, layer):
        if layer is not self._leader:
            return
        import time
        start = time.perf_counter()
        deviations = self._chip.deviations([m.weight.detach() for m in self._layers], self.steps)
        if deviations is not None:
            for m, d in zip(self._layers, deviations):
                m.deviation = d.to(m.weight.device)
        self.seconds += time.perf_counter() - start
        self.steps += 1

    def detach(self):
        """Stops IR-drop-aware training: the layers forget their deviations."""
        for m in self._layers:
            m._ir = None
            m.deviation = torch.zeros(0)


def _script(model: nn.Module, example: Tensor) -> bytes:
    """The model as TorchScript bytes: scripted, or traced on `example` where scripting fails."""
    was_training = model.training
    model.eval()
    try:
        try:
            module = torch.jit.script(model)
        except Exception as scripting:  # noqa: BLE001 - any failure: try tracing
            try:
                with torch.no_grad():
                    module = torch.jit.trace(model, example)
            except Exception as tracing:  # noqa: BLE001
                raise Error(f"the model neither scripts ({str(scripting).splitlines()[0]}) nor "
                            f"traces ({str(tracing).splitlines()[0]})") from tracing
        buffer = io.BytesIO()
        torch.jit.save(module, buffer)
        return buffer.getvalue()
    finally:
        model.train(was_training)


def _batches(data):
    for batch in data:
        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
            yield batch[0], batch[1]
        else:
            raise Error("test data must give (inputs, labels) batches")


class Chips:
    """Monte-Carlo chips of a converted model, as `aimc test` makes them: the model is scripted
    and imported as `aimc test --torchscript` imports it, and chip c is drawn from
    aimc.derive_seed(seed, c), so the same seed gives the same chips, bit for bit. `example`:
    inputs the model takes (the import runs it once). Chips are evaluated up to
    `chips_per_pass` side by side."""

    def __init__(self, model: nn.Module, chip, example: Tensor, chips: int = 10, seed: int = 1,
                 chips_per_pass: int = 8):
        chip = chip.chip if isinstance(chip, AnalogConfig) else chip
        _check(isinstance(chip, _aimc_nn.ChipConfig),
               "chip must be an aimc.ChipConfig (or an AnalogConfig with one)")
        _check(isinstance(chips, int) and chips >= 1, f"chips must be >= 1, got {chips!r}")
        _check(isinstance(chips_per_pass, int) and chips_per_pass >= 1,
               f"chips_per_pass must be >= 1, got {chips_per_pass!r}")
        self.chips, self.seed, self.chips_per_pass = chips, seed, chips_per_pass
        self._c = _aimc_nn._ScriptChips(_script(model, example), example, chip)

    @property
    def layers(self):
        """What became of each weight layer (name, kind, analog, reason, ...)."""
        return self._c.layers()

    def describe(self):
        return self._c.describe()

    def evaluate(self, data):
        """Accuracy of every chip on `data` (a DataLoader of (inputs, labels), in a fixed order:
        sample n is read number n, its read noise that of `aimc test`'s image n). Returns a dict:
        accuracies (NumPy, one per chip), mean, std, min, max, digital_accuracy (the imported
        network without chips), images."""
        accuracies = []
        digital = self._count(data, None)
        images = digital[1]
        for first in range(0, self.chips, self.chips_per_pass):
            k = min(self.chips_per_pass, self.chips - first)
            self._c.program(self.seed, first, k)
            try:
                correct, n = self._count(data, k)
            finally:
                self._c.release()
            accuracies.extend((correct / max(n, 1)).tolist())
        a = np.array(accuracies)
        return {"accuracies": a, "mean": float(a.mean()),
                "std": float(a.std(ddof=1)) if a.size > 1 else 0.0, "min": float(a.min()),
                "max": float(a.max()), "digital_accuracy": float(digital[0][0] / max(images, 1)),
                "images": images}

    def _count(self, data, chips):
        # The batches of `aimc test` (the images per pass of EvaluateChips), whatever the
        # loader's: the same products, in the same order, bit for bit.
        size = _aimc_nn._ScriptChips.batch_size(chips or 1)
        correct = np.zeros(chips or 1, dtype=np.int64)
        seen = 0
        pending_x, pending_y = [], []

        def run(x, y):
            nonlocal seen
            if chips is None:
                predicted = self._c.digital(x).argmax(1).unsqueeze(1)
            else:
                predicted = self._c.logits(x, seen).argmax(2)
            correct[:] += (predicted == y.unsqueeze(1)).sum(0).numpy()
            seen += x.shape[0]

        buffered = 0
        for x, y in _batches(data):
            pending_x.append(x.detach().float().cpu())
            pending_y.append(torch.as_tensor(y).cpu())
            buffered += x.shape[0]
            while buffered >= size:
                xs, ys = torch.cat(pending_x), torch.cat(pending_y)
                run(xs[:size], ys[:size])
                pending_x, pending_y = [xs[size:]], [ys[size:]]
                buffered -= size
        if buffered:
            run(torch.cat(pending_x), torch.cat(pending_y))
        return correct, seen

    def logits(self, x: Tensor, first: int = 0, chip: int = 0):
        """Logits (N, K, classes) of chips [chip, chip + chips_per_pass) for inputs `x` whose
        first sample is read number `first`. Each call builds those chips anew (every tile's
        circuit): for many batches, evaluate() builds each chip once."""
        k = min(self.chips_per_pass, self.chips - chip)
        self._c.program(self.seed, chip, k)
        try:
            return self._c.logits(x, first)
        finally:
            self._c.release()


def test_chips(model: nn.Module, chip, data, chips: int = 10, seed: int = 1):
    """`chips` Monte-Carlo chips of a converted model on `data` (a DataLoader of (inputs,
    labels) in a fixed order), as `aimc test` runs them: Chips(model, chip, first batch, chips,
    seed).evaluate(data)."""
    example = next(iter(_batches(data)))[0]
    return Chips(model, chip, example, chips, seed).evaluate(data)


test_chips.__test__ = False  # not a pytest test
