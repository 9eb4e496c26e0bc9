"""A float LeNet-5 trained in plain PyTorch on Fashion-MNIST, saved as TorchScript for
`aimc test --torchscript` (docs/byo.md).

    python3 docs/examples/lenet_torchscript.py --epochs 3 --out lenet_float.pt
    aimc test --torchscript lenet_float.pt --data fashion-mnist --chips 1
    aimc test --torchscript lenet_float.pt --data fashion-mnist --card sot_mram --wire-ohm 20

Inputs are pixels / 255 (what aimc feeds), the layers those of aimc's LeNet-5 (models.md).
"""
import argparse
import gzip

import numpy as np
import torch
import torch.nn as nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(),
        nn.Linear(84, 10))


def load(data):
    """Fashion-MNIST's IDX files in `data` as float images / 255 (N, 1, 28, 28) and labels."""
    def images(name):
        return torch.from_numpy(read_idx(f"{data}/{name}").copy()).float().unsqueeze(1) / 255

    def labels(name):
        return torch.from_numpy(read_idx(f"{data}/{name}").astype(np.int64))

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def train_and_save(model, data, epochs, out):
    """Adam at 2e-3, batches of 128, test accuracy after every epoch; saves
    torch.jit.script(model) to `out`."""
    x, y, xt, yt = load(data)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xt[i:i + 1000]).argmax(1) for i in range(0, len(xt), 1000)])
        print(f"epoch {epoch + 1}: test accuracy {100 * (pred == yt).float().mean().item():.2f} %")
    torch.jit.save(torch.jit.script(model.eval()), out)
    print(f"{out}: saved")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="lenet_float.pt")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    train_and_save(lenet5(), a.data, a.epochs, a.out)


if __name__ == "__main__":
    main()
