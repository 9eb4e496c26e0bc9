"""docs/python.md's training loop: torchvision's resnet18 trained in float on Fashion-MNIST, then
converted to aimc.analog layers and fine-tuned in a plain PyTorch loop with weight noise and
IR-drop-aware steps (SOT-MRAM, the 22 nm layout's wires), then tested on Monte-Carlo chips.

    PYTHONPATH=build/release/python python3 docs/examples/analog_loop.py \
        [--train 6000] [--test 1000] [--float-epochs 2] [--epochs 1] [--chips 2]

Exits 77 (skipped) where PyTorch, torchvision or the data set is missing.
"""
import argparse
import gzip
import os
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    import torchvision
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)

import aimc

if not hasattr(aimc, "test_chips"):
    print("skipped: aimc built without LibTorch")
    sys.exit(77)
import aimc.analog as analog  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"


def read(name, count):
    with gzip.open(os.path.join(FASHION, name), "rb") as f:
        data = f.read()
    if "images" in name:
        x = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:count]
        return torch.from_numpy(x.copy()).float().div(255)
    return torch.from_numpy(np.frombuffer(data, np.uint8, offset=8)[:count].astype(np.int64))


def loaders(train_n, test_n):
    if not os.path.isdir(FASHION):
        print("skipped: Fashion-MNIST not installed (dataset-fashion-mnist)")
        sys.exit(77)
    train = torch.utils.data.TensorDataset(read("train-images-idx3-ubyte.gz", train_n),
                                           read("train-labels-idx1-ubyte.gz", train_n))
    test = torch.utils.data.TensorDataset(read("t10k-images-idx3-ubyte.gz", test_n),
                                          read("t10k-labels-idx1-ubyte.gz", test_n))
    g = torch.Generator().manual_seed(1)
    return (torch.utils.data.DataLoader(train, batch_size=64, shuffle=True, generator=g),
            torch.utils.data.DataLoader(test, batch_size=100))


def train_epochs(model, train_loader, opt, epochs):
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()


def digital_accuracy(model, test_loader):
    model.eval()
    with torch.no_grad():
        right = sum((model(x).argmax(1) == y).sum().item() for x, y in test_loader)
    return right / len(test_loader.dataset)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=6000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--float-epochs", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--chips", type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(0)
    train_loader, test_loader = loaders(a.train, a.test)

    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(1, 64, 3, 1, 1, bias=False)     # Fashion-MNIST: 1 channel
    model.maxpool = torch.nn.Identity()
    train_epochs(model, train_loader, torch.optim.Adam(model.parameters(), 1e-3), a.float_epochs)
    print(f"float resnet18: {digital_accuracy(model, test_loader):.4f}")

    # --- the loop of docs/python.md ---
    chip = aimc.ChipConfig(card="sot_mram", wires="layout22nm")
    config = analog.AnalogConfig(chip=chip, act_bits=4, sigma_train=0.1, ir_aware_every=50)
    model = analog.convert(model, config, calibration=next(iter(train_loader))[0])
    before = analog.test_chips(model, chip, test_loader, chips=a.chips, seed=1)
    start = time.perf_counter()
    train_epochs(model, train_loader, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                 a.epochs)
    seconds = time.perf_counter() - start
    after = analog.test_chips(model, chip, test_loader, chips=a.chips, seed=1)
    ir = analog.analog_layers(model)[0][1]._ir
    print(f"converted: digital {before['digital_accuracy']:.4f}, chips {before['mean']:.4f}; "
          f"after {a.epochs} epoch(s) of SGD ({seconds:.0f} s, {ir.builds} IR-aware rebuilds in "
          f"{ir.seconds:.0f} s): digital {digital_accuracy(model, test_loader):.4f}, chips "
          f"{after['mean']:.4f} (std {after['std']:.4f})")
    scripted = torch.jit.script(model)                      # aimc test --torchscript takes it
    with torch.no_grad():
        x = next(iter(test_loader))[0]
        assert torch.equal(scripted(x), model.eval()(x))


if __name__ == "__main__":
    main()
