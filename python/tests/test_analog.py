"""aimc.analog: analog layers in a PyTorch training loop, against an independent straight-through
reference, against the CLI's chips (bit for bit), and the fine-tuning that a user runs with them."""
import copy
import csv
import gzip
import io
import os
import subprocess

import numpy as np
import pytest

import aimc

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # every test is skipped below
    torch = None

# Marked skips, not a module-level skip: a file whose every test is skipped still passes.
HAVE_ANALOG = torch is not None and hasattr(aimc, "test_chips")
pytestmark = pytest.mark.skipif(not HAVE_ANALOG,
                                reason="needs PyTorch and aimc built with LibTorch (aimc._aimc_nn)")
if HAVE_ANALOG:
    import aimc.analog as analog

FASHION = "/usr/share/datasets/fashion-mnist"


# ---- an independent straight-through reference (Python, from the formulas) -----------------

def reference_ternary(w, ratio):
    """TWN per output channel: levels sign(w) where |w| > ratio * mean|w|, scale the mean |w| of
    those (the threshold itself where there are none)."""
    dims = tuple(range(1, w.dim()))
    a = w.detach().abs()
    delta = ratio * a.mean(dim=dims, keepdim=True)
    mask = (a > delta).float()
    count = mask.sum(dim=dims, keepdim=True)
    scale = torch.where(count > 0, (a * mask).sum(dim=dims, keepdim=True) / count.clamp_min(1),
                        delta)
    return torch.sign(w.detach()) * mask, scale


def reference_dac(x, alpha, bits, signed):
    """PACT: clip to [0, alpha] ([-alpha, alpha] signed), round to the grid, straight through;
    d/dalpha = 1 where x >= alpha (sign(x) where |x| >= alpha, signed)."""
    if signed:
        y = x - F.relu(x - alpha) + F.relu(-x - alpha)
        levels = 2 ** (bits - 1) - 1
    else:
        y = F.relu(x) - F.relu(x - alpha)
        levels = 2 ** bits - 1
    with torch.no_grad():
        step = alpha / levels
        q = torch.round(y / step) * step
    return y + (q - y).detach()


def reference_forward(layer, x, deviation=None):
    o = layer.options
    levels, scale = reference_ternary(layer.weight, o["threshold_ratio"])
    w = layer.weight + (scale * levels - layer.weight).detach()
    if deviation is not None:
        w = w + scale * deviation
    xq = reference_dac(x, layer.alpha, o["input_bits"], o["signed_input"])
    if o["kind"] == "linear":
        return F.linear(xq, w, layer.bias)
    conv = F.conv1d if o["kind"] == "conv1d" else F.conv2d
    return conv(xq, w, layer.bias, o["stride"], o["padding"], o["dilation"], o["groups"])


def assert_matches_reference(layer, x, reference):
    """The layer's output and its gradients (input, weight, bias, alpha) under a fixed linear
    loss equal those of `reference(x)` to 1e-5; returns the layer's output and gradients."""
    outputs, grads = [], []
    for f in (layer, reference):
        layer.zero_grad()
        xx = x.clone().requires_grad_(True)
        y = f(xx)
        (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        outputs.append(y.detach())
        grads.append([t.grad.clone() for t in (xx, layer.weight, layer.bias, layer.alpha)])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    return outputs[0], grads[0]


@pytest.mark.parametrize("kind,signed", [("conv2d", False), ("conv2d", True), ("conv1d", True),
                                         ("linear", False), ("linear3d", True)])
def test_gradients_equal_the_straight_through_reference(kind, signed):
    torch.manual_seed(0)
    config = analog.AnalogConfig(act_bits=4)
    if kind == "conv2d":
        layer = analog.AnalogConv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                                    groups=2, config=config, alpha=1.5, signed_input=signed)
        x = torch.randn(3, 4, 9, 8)
    elif kind == "conv1d":
        layer = analog.AnalogConv1d(3, 5, 3, padding=1, config=config, alpha=1.2,
                                    signed_input=signed)
        x = torch.randn(2, 3, 11)
    else:
        layer = analog.AnalogLinear(7, 5, config=config, alpha=0.8, signed_input=signed)
        x = torch.randn(4, 6, 7) if kind == "linear3d" else torch.randn(5, 7)
    if not signed:
        x = x.abs()  # what a ReLU gives: some above alpha, most inside
    with torch.no_grad():
        layer.bias.uniform_(-0.5, 0.5)
    deviation = 0.05 * torch.randn_like(layer.weight)
    for dev in (None, deviation):
        layer.train()
        layer.deviation = dev if dev is not None else torch.zeros(0)
        _, grads = assert_matches_reference(layer, x, lambda xx: reference_forward(layer, xx, dev))
        # The straight-through estimator: the weight's gradient is that of a float layer with
        # the effective weights, not zero where the levels are flat.
        assert grads[1].abs().sum() > 0 and grads[3].abs().sum() > 0


def reference_adc_forward(layer, x, tile_rows, bits, fraction):
    """The chip's readout from its rule: row blocks of tile_rows rows (im2col order), each
    partial sum in unit weights clipped to fraction x rows x alpha and rounded to its ADC's step
    (straight through inside the clip), summed, then the scale and the bias."""
    o = layer.options
    levels, scale = reference_ternary(layer.weight, o["threshold_ratio"])
    w = layer.weight + (scale * levels - layer.weight).detach()
    unit = w / scale
    groups = o.get("groups", 1)
    if groups > 1:
        # The dense matrix the chip's tiles hold: each group on its diagonal block.
        dense = torch.zeros(o["out"], o["in"], *o["kernel"])
        og, ig = o["out"] // groups, o["in"] // groups
        for g in range(groups):
            dense[g * og:(g + 1) * og, g * ig:(g + 1) * ig] = unit[g * og:(g + 1) * og]
        unit = dense
    xq = reference_dac(x, layer.alpha, o["input_bits"], o["signed_input"])
    conv = o["kind"] != "linear"
    kk = int(np.prod(o["kernel"])) if conv else 1
    rows = o["in"] * kk
    y = 0
    for r0 in range(0, rows, tile_rows):
        r1 = min(rows, r0 + tile_rows)
        c0, c1 = r0 // kk, -(-r1 // kk)
        mask = torch.zeros((c1 - c0) * kk)
        mask[r0 - c0 * kk:r1 - c0 * kk] = 1
        if conv:
            wb = unit[:, c0:c1] * mask.view(1, c1 - c0, *o["kernel"])
            part = F.conv2d(xq[:, c0:c1], wb, None, o["stride"], o["padding"], o["dilation"])
        else:
            part = F.linear(xq[..., c0:c1], unit[:, c0:c1] * mask)
        fs = fraction * (r1 - r0) * layer.alpha.item()
        step = fs / (2 ** (bits - 1) - 1)
        c = part.clamp(-fs, fs)
        y = y + c + (torch.round(c / step) * step - c).detach()
    shape = (1, -1, 1, 1) if conv else (-1,)
    return y * scale.view(shape) + layer.bias.view(shape)


@pytest.mark.parametrize("kind", ["conv2d", "grouped", "linear3d"])
def test_the_chips_adc_in_the_forward_pass_equals_its_reference(kind):
    torch.manual_seed(2)
    # A full scale of 0.19 x 7 rows x alpha = 19.95 DAC steps of alpha / 15: no partial sum of
    # unit weights and DAC levels lies on the clip, where float rounding would pick its side.
    chip = aimc.ChipConfig(card="sot_mram", adc_bits=4, tile_rows=7, adc_full_scale_fraction=0.19)
    config = analog.AnalogConfig(chip=chip, act_bits=4)
    if kind == "conv2d":
        layer = analog.AnalogConv2d(5, 4, 3, padding=1, config=config, alpha=1.0)
        x = torch.rand(2, 5, 6, 6) * 1.2
    elif kind == "grouped":
        # 2 groups of 3 inputs x 9 kernel rows: the 7-row blocks split the groups (rows 21-27).
        layer = analog.AnalogConv2d(6, 4, 3, padding=1, groups=2, config=config, alpha=1.0)
        x = torch.rand(2, 6, 6, 6) * 1.2
    else:
        layer = analog.AnalogLinear(13, 6, config=config, alpha=1.0, signed_input=True)
        x = torch.randn(3, 4, 13)
    assert layer.options["adc_bits"] == 4 and layer.options["tile_rows"] == 7
    with torch.no_grad():
        layer.bias.uniform_(-0.5, 0.5)
    layer.train()
    y, _ = assert_matches_reference(layer, x, lambda xx: reference_adc_forward(layer, xx, 7, 4, 0.19))
    # The ADC is felt: the layer without it computes something else.
    plain = {"conv2d": lambda: analog.AnalogConv2d(5, 4, 3, padding=1, alpha=1.0),
             "grouped": lambda: analog.AnalogConv2d(6, 4, 3, padding=1, groups=2, alpha=1.0),
             "linear3d": lambda: analog.AnalogLinear(13, 6, alpha=1.0, signed_input=True)}[kind]()
    plain.load_state_dict(layer.state_dict())
    plain.train()
    assert not torch.allclose(plain(x), y, atol=1e-3)


def test_training_noise_is_seeded_counted_and_off_in_eval():
    torch.manual_seed(1)
    x = torch.rand(8, 20)
    make = lambda: analog.AnalogLinear(20, 10, config=analog.AnalogConfig(sigma_train=0.2, seed=7))
    a = make()
    b = make()
    b.load_state_dict(a.state_dict())
    a.train(), b.train()
    ya1, ya2 = a(x), a(x)
    yb1 = b(x)
    assert int(a.draws) == 2 and int(b.draws) == 1
    torch.testing.assert_close(ya1, yb1, rtol=0, atol=0)  # draw 0 of the same seed
    assert not torch.equal(ya1, ya2)  # a fresh draw every training pass
    # A checkpoint continues the draws: b, loaded from a, draws what a draws next.
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    # Another layer index (another seed) draws other noise.
    c = analog.AnalogLinear(20, 10, config=analog.AnalogConfig(sigma_train=0.2, seed=7), index=1)
    c.load_state_dict(a.state_dict())
    c.draws.zero_()
    a.draws.zero_()
    assert not torch.equal(a(x), c(x))
    # Eval: no noise, no draw.
    a.eval()
    with torch.no_grad():
        y1, y2 = a(x), a(x)
    torch.testing.assert_close(y1, y2, rtol=0, atol=0)
    assert int(a.draws) == 1
    quiet = analog.AnalogLinear(20, 10, config=analog.AnalogConfig(sigma_train=0.0))
    quiet.load_state_dict(a.state_dict())
    quiet.train()
    torch.testing.assert_close(quiet(x), y1, rtol=0, atol=0)


def test_bad_configuration_names_the_field():
    for fields, name in [({"act_bits": 17}, "act_bits"), ({"weight_levels": 4}, "weight_levels"),
                         ({"sigma_train": -0.1}, "sigma_train"), ({"colour": 1}, "colour"),
                         ({"ir_aware_every": 10}, "ir_aware_every"),
                         ({"threshold_ratio": float("nan")}, "threshold_ratio")]:
        with pytest.raises(aimc.Error, match=name):
            analog.AnalogConfig(**fields)
    with pytest.raises(aimc.Error, match="tile_rows"):
        analog.AnalogConfig(chip=aimc.ChipConfig(card="sot_mram", tile_rows=0))
    layer = analog.AnalogLinear(4, 3)
    with pytest.raises(RuntimeError, match="Linear of 4 inputs"):
        layer(torch.rand(2, 5))
    with pytest.raises(aimc.Error, match="no nn.Linear"):
        analog.convert(nn.Sequential(nn.ReLU()))


# ---- LeNet-5 on Fashion-MNIST: convert, fine-tune in a user's loop, chips -------------------

def read_idx(name, count):
    with gzip.open(os.path.join(FASHION, name), "rb") as f:
        data = f.read()
    if "images" in name:
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:count]
    return np.frombuffer(data, np.uint8, offset=8)[:count]


@pytest.fixture(scope="module")
def fashion():
    if not os.path.isdir(FASHION):
        pytest.skip("Fashion-MNIST not installed (dataset-fashion-mnist)")
    to_input = lambda a: torch.from_numpy(a.copy()).float().div(255)  # aimc's ToInput
    train = (to_input(read_idx("train-images-idx3-ubyte.gz", 6000)),
             torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz", 6000).astype(np.int64)))
    test = (to_input(read_idx("t10k-images-idx3-ubyte.gz", 2000)),
            torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz", 2000).astype(np.int64)))
    return train, test


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def loader(data, batch, shuffle=False, seed=0):
    ds = torch.utils.data.TensorDataset(*data)
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=g)


def accuracy(model, data):
    model.eval()
    with torch.no_grad():
        return (model(data[0]).argmax(1) == data[1]).float().mean().item()


@pytest.fixture(scope="module")
def float_lenet(fashion):
    torch.manual_seed(0)
    model = lenet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(5):
        model.train()
        for x, y in loader(fashion[0], 64, shuffle=True):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    return model


CHIP = dict(card="sot_mram", wires="layout22nm")


def test_fine_tuning_in_a_users_loop_raises_chip_accuracy(fashion, float_lenet, tmp_path):
    train, test = fashion
    chip = aimc.ChipConfig(**CHIP)
    config = analog.AnalogConfig(chip=chip, sigma_train=0.1, ir_aware_every=20, seed=3)
    model = analog.convert(float_lenet, config, calibration=train[0][:256])
    assert [type(m).__name__ for _, m in analog.analog_layers(model)] == \
        ["AnalogConv2d", "AnalogConv2d", "AnalogLinear", "AnalogLinear", "AnalogLinear"]
    test_loader = loader(test, 100)
    before = analog.test_chips(model, chip, test_loader, chips=2, seed=1)
    # One epoch of plain SGD, the user's own loop; noise and IR-aware rebuilds inside the layers.
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    model.train()
    for x, y in loader(train, 64, shuffle=True, seed=1):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    ir = analog.analog_layers(model)[0][1]._ir
    assert ir.steps == 94 and ir.builds == 5  # steps 0, 20, 40, 60, 80
    after = analog.test_chips(model, chip, test_loader, chips=2, seed=1)
    print(f"float {accuracy(float_lenet, test):.4f}; SOT-MRAM chips with the 22 nm wires: "
          f"converted {before['mean']:.4f} (digital {before['digital_accuracy']:.4f}), after one "
          f"SGD epoch {after['mean']:.4f} (digital {after['digital_accuracy']:.4f}); IR-aware "
          f"rebuilds {ir.builds} ({ir.layer_builds} layers) in {ir.seconds:.2f} s")
    # Measured: float 81.95 %; chips 62.85 % converted, 72.90 % after the epoch (2 chips, 2,000
    # test images: a binomial sd of about 1 point each).
    assert after["mean"] >= before["mean"] + 0.05
    # A deep copy (and torch.save of the whole model) keeps training IR-drop-aware.
    twin = copy.deepcopy(model)
    assert twin[0]._ir is not ir and twin[0]._ir._layers[0] is twin[0]
    assert twin[0]._ir.steps == ir.steps
    # state_dict save and load: the same model, the same chips.
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    again = analog.convert(float_lenet, analog.AnalogConfig(chip=chip), calibration=train[0][:256])
    again.load_state_dict(torch.load(io.BytesIO(buffer.getvalue())))
    torch.testing.assert_close(again.eval()(test[0][:50]), model.eval()(test[0][:50]), rtol=0,
                               atol=0)


def test_python_and_cli_chips_agree_bit_for_bit(fashion, float_lenet, tmp_path):
    train, test = fashion
    config = analog.AnalogConfig(sigma_train=0.05, seed=5)
    model = analog.convert(float_lenet, config, calibration=train[0][:256])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for x, y in loader((train[0][:640], train[1][:640]), 64):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    scripted = torch.jit.script(model)
    # The scripted model computes what the eager one does, in eval and in training.
    with torch.no_grad():
        torch.testing.assert_close(scripted(test[0][:20]), model(test[0][:20]), rtol=0, atol=0)
    path = tmp_path / "converted.pt"
    torch.jit.save(scripted, str(path))
    chip = aimc.ChipConfig(card="sot_mram", wires="layout22nm", tile_rows=128)
    python = analog.test_chips(model, chip, loader((test[0][:300], test[1][:300]), 37), chips=3,
                               seed=11)
    cli = os.environ.get("AIMC_CLI")
    if not cli:
        pytest.skip("AIMC_CLI not set (the CLI to compare with)")
    out = tmp_path / "chips.csv"
    subprocess.run([cli, "test", "--torchscript", str(path), "--data", "fashion-mnist",
                    "--card", "sot_mram", "--wires", "layout22nm", "--tile-rows", "128",
                    "--chips", "3", "--seed", "11", "--test-subset", "300", "--csv", str(out)],
                   check=True, capture_output=True)
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    cli_acc = [float(r["accuracy"]) for r in rows]
    np.testing.assert_array_equal(python["accuracies"], cli_acc)
    # The imported network without chips is the converted model in eval.
    with torch.no_grad():
        correct = (model(test[0][:300]).argmax(1) == test[1][:300]).sum().item()
    assert python["digital_accuracy"] == correct / 300
    assert python["images"] == 300
    assert [layer["name"] for layer in analog.Chips(model, chip, test[0][:10], chips=1).layers] \
        == ["0", "3", "7", "9", "11"]
