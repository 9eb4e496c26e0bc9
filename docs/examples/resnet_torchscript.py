"""A float ResNet-8 (torchvision-style basic blocks, a forward of its own) trained in plain
PyTorch on Fashion-MNIST, saved as TorchScript for `aimc import` (docs/byo.md).

    python3 docs/examples/resnet_torchscript.py --epochs 2 --out resnet_float.pt
    aimc import --torchscript resnet_float.pt --data fashion-mnist --out resnet_aimc.pt
    aimc test --model resnet_aimc.pt --card sot_mram --wire-ohm 20

Three stages of one block each (16, 32, 64 channels; stride 2 and a 1x1 shortcut with
BatchNorm where the shape changes), F.relu, `out += identity`, a global mean and a Linear.
Inputs are pixels / 255 (what aimc feeds).
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F

from lenet_torchscript import train_and_save


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        out += identity
        return F.relu(out)


class ResNet8(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 64, 2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="resnet_float.pt")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    train_and_save(ResNet8(), a.data, a.epochs, a.out)


if __name__ == "__main__":
    main()
