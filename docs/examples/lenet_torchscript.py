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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="lenet_float.pt")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    x = torch.from_numpy(read_idx(f"{a.data}/train-images-idx3-ubyte.gz").copy()).float()
    x = x.unsqueeze(1) / 255
    y = torch.from_numpy(read_idx(f"{a.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    xt = torch.from_numpy(read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz").copy()).float()
    xt = xt.unsqueeze(1) / 255
    yt = torch.from_numpy(read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = lenet5()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()
        print(f"epoch {epoch + 1}: test accuracy {100 * acc:.2f} %")
    torch.jit.save(torch.jit.script(model.eval()), a.out)
    print(f"{a.out}: saved")


if __name__ == "__main__":
    main()
