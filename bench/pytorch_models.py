"""Two float networks trained briefly in PyTorch on Fashion-MNIST, as TorchScript files.

    /usr/bin/python3 bench/pytorch_models.py OUT_DIR [--epochs 2] [--seed 0]

Writes OUT_DIR/lenet5_float.pt (LeNet-5: conv 6@5x5, conv 16@5x5, FC 400-120-84-10, ReLU and
max-pooling, no BatchNorm) and OUT_DIR/vit_tiny.pt (a small vision transformer: 7x7 patches, 16
tokens of 64, two pre-norm blocks of 4-head self-attention with their own q/k/v Linear layers and
a GELU MLP of 128, token mean, Linear head), both trained with Adam on the 60,000 training images
(pixels / 255, aimc's input), and OUT_DIR/models.json with their float test accuracy on the
10,000 test images. Used by bench/analog_layers.sh (docs/byo.md). Needs python3-torch; reads
Debian's dataset-fashion-mnist.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_families import read_idx  # noqa: E402  (Debian's Fashion-MNIST IDX files)


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        n, t, d = x.shape
        h = self.heads
        q = self.q(x).view(n, t, h, d // h).transpose(1, 2)
        k = self.k(x).view(n, t, h, d // h).transpose(1, 2)
        v = self.v(x).view(n, t, h, d // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // h), dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(n, t, d))


class Block(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class VitTiny(nn.Module):
    def __init__(self, dim=64, heads=4, hidden=128, depth=2, patch=7):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, (28 // patch) ** 2, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, hidden) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x).mean(1))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        right = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
                    for i in range(0, len(x), 1000))
    return right / len(x)


def train(model, x, y, epochs, lr, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(x) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - 127, 128):
            idx = order[i:i + 128]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)
    to = lambda im: torch.from_numpy(im.astype(np.float32) / 255.0).unsqueeze(1)
    x = to(read_idx("train-images-idx3-ubyte.gz"))
    y = torch.from_numpy(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
    xt = to(read_idx("t10k-images-idx3-ubyte.gz"))
    yt = torch.from_numpy(read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
    report = {}
    for name, model, lr in (("lenet5_float", lenet5(), 2e-3), ("vit_tiny", VitTiny(), 2e-3)):
        start = time.time()
        train(model, x, y, a.epochs, lr, a.seed)
        acc = accuracy(model, xt, yt)
        torch.jit.save(torch.jit.script(model), os.path.join(a.out, name + ".pt"))
        report[name] = {"float_accuracy": acc, "epochs": a.epochs,
                        "parameters": sum(p.numel() for p in model.parameters()),
                        "train_seconds": round(time.time() - start, 1)}
        print(name, report[name], flush=True)
    with open(os.path.join(a.out, "models.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
