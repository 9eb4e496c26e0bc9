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
