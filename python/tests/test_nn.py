"""Networks on chips from Python (aimc.test_chips, aimc.import_torchscript) against aimc's CLI and
against what a chip without noise must give: the digital network's accuracy."""
import csv
import os
import subprocess
import sys

import numpy as np
import pytest

import aimc

pytestmark = pytest.mark.skipif(not hasattr(aimc, "test_chips"),
                                reason="aimc built without LibTorch (no aimc._aimc_nn)")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION = "/usr/share/datasets/fashion-mnist"


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """lenet.pt of the C++ tests' model script: LeNet-5 as an nn.Sequential, seeded weights."""
    pytest.importorskip("torch")
    if not os.path.isdir(FASHION):
        pytest.skip("Fashion-MNIST not installed (dataset-fashion-mnist)")
    out = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, os.path.join(ROOT, "src/nn/testdata/make_torchscript.py"),
                    str(out)], check=True)
    return out / "lenet.pt"


def test_noise_free_chips_equal_the_digital_network(lenet):
    r = aimc.test_chips(torchscript=lenet, data="fashion-mnist", chips=2, test_images=200,
                        import_images=32)
    assert r["accuracies"].shape == (2,)
    assert r["test_images"] == 200
    # sigma_w_test 0: every chip is the ternary network itself.
    np.testing.assert_array_equal(r["accuracies"], [r["digital_accuracy"]] * 2)
    assert [layer["name"] for layer in r["layers"]] == ["0", "4", "9", "12", "15"]
    assert all(layer["analog"] for layer in r["layers"])


def test_an_imported_model_file_gives_what_the_cli_gives(lenet, tmp_path):
    model = tmp_path / "lenet_aimc.pt"
    imported = aimc.import_torchscript(lenet, "fashion-mnist", model, import_images=32)
    assert os.path.isfile(model) and 0.0 <= imported["digital_accuracy"] <= 1.0
    options = dict(card="sot_mram", wire_ohm=20.0, tile_rows=128, chips=2, seed=3,
                   test_images=300)
    r = aimc.test_chips(model=model, **options)
    # The same import on the fly is the same network: the same chips, bit for bit.
    on_the_fly = aimc.test_chips(torchscript=lenet, data="fashion-mnist", import_images=32,
                                 **options)
    np.testing.assert_array_equal(r["accuracies"], on_the_fly["accuracies"])
    # The chip as one object is the same chip as the keywords.
    chip = aimc.ChipConfig(card="sot_mram", wire_ohm=20.0, tile_rows=128)
    as_object = aimc.test_chips(model=model, chip=chip, chips=2, seed=3, test_images=300)
    np.testing.assert_array_equal(r["accuracies"], as_object["accuracies"])
    # aimc test on the model file: the same per-chip accuracies.
    cli = os.environ.get("AIMC_CLI")
    if not cli:
        pytest.skip("AIMC_CLI not set")
    table = tmp_path / "chips.csv"
    subprocess.run([cli, "test", "--model", str(model), "--card", "sot_mram", "--wire-ohm", "20",
                    "--tile-rows", "128", "--chips", "2", "--seed", "3", "--test-subset", "300",
                    "--csv", str(table)], check=True, capture_output=True)
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    np.testing.assert_array_equal(r["accuracies"], [float(row["accuracy"]) for row in rows])
    assert r["min"] <= r["mean"] <= r["max"]


def test_errors_name_the_file_and_the_option(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(aimc.Error, match="missing.pt"):
        aimc.test_chips(model=missing)
    with pytest.raises(aimc.Error, match="model or torchscript"):
        aimc.test_chips()
    with pytest.raises(aimc.Error, match="chips must be >= 1"):
        aimc.test_chips(model=missing, chips=0)
    # Seeds as the CLI reads them: -1 and 2**64 were wrapped or saturated, never refused.
    for seed in (-1, 2**64, 1.5, True):
        with pytest.raises(aimc.Error, match="seed"):
            aimc.test_chips(model=missing, seed=seed)


def test_chip_config_has_the_fields_names_and_checks_of_the_cli():
    c = aimc.ChipConfig(card="sot_mram", wire_ohm=20.0, tile_rows=128)
    assert (c.card, c.wire_ohm, c.tile_rows) == ("sot_mram", 20.0, 128)
    assert (c.read_voltage_v, c.temperature_k, c.drift_compensation) == (0.2, 298.15, "none")
    fields = aimc.ChipConfig.fields()
    names = [f["name"] for f in fields]
    for name in ("card", "r_on_ohm", "wires", "adc_bits", "time_s", "calibration_images"):
        assert name in names
    assert all(f["flag"] == "--" + f["name"].replace("_", "-") for f in fields)
    # JSON round trip; repr shows what differs from the defaults.
    assert aimc.ChipConfig.from_json(c.to_json()) == c
    assert repr(c) == "aimc.ChipConfig(card='sot_mram', wire_ohm=20.0, tile_rows=128)"
    c.validate()
    # Each refusal names the field.
    with pytest.raises(aimc.Error, match="tile_rows must be an integer"):
        c.tile_rows = 2.5
    with pytest.raises(aimc.Error, match="wire_ohm must be a number"):
        c.wire_ohm = True
    with pytest.raises(aimc.Error, match="drift_compensation must be none, array or column"):
        c.drift_compensation = "row"
    with pytest.raises(aimc.Error, match="does not fit a 64-bit integer"):
        c.calibration_images = 2**70
    with pytest.raises(aimc.Error, match="no option named 'wire_ohms'"):
        aimc.ChipConfig(wire_ohms=3.0)
    with pytest.raises(aimc.Error, match="wire_ohm = 20 needs a card"):
        aimc.ChipConfig(wire_ohm=20.0).validate()
    c.r_on_ohm = float("nan")
    with pytest.raises(aimc.Error, match="r_on_ohm must be a finite number"):
        c.validate()
    with pytest.raises(aimc.Error, match="wire_ohm must be 0 .ideal. or within"):
        aimc.test_chips(model="unused.pt", chip=aimc.ChipConfig(card="sot_mram", wire_ohm=-1.0))
