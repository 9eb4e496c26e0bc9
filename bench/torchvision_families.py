"""torchvision's classification families as TorchScript files, and Fashion-MNIST as they take it.

    python3 bench/torchvision_families.py OUT_DIR [--size 32] [--train-steps 0] [--families a,b]

Writes OUT_DIR/data/{train,test}_{images,labels}.npy (Fashion-MNIST's images resized to
SIZE x SIZE, grey repeated on 3 channels, uint8 NCHW: aimc's `--data npy`), and per family
OUT_DIR/<family>.pt (torch.jit.script of the model with num_classes=10, eval mode) and a line of
OUT_DIR/families.json: its weight layers, parameters, and, after --train-steps steps of Adam on
the training images, its float accuracy on the test images. Used by bench/torchvision_families.sh
(docs/byo.md's table). Needs python3-torch and python3-torchvision (Debian's); nothing is
downloaded: the models are torchvision's definitions, with their own random initialization.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.models as tvm

FASHION = "/usr/share/datasets/fashion-mnist"

# family -> constructor; image sizes below a model's minimum are raised to it.
FAMILIES = {
    "alexnet": (tvm.alexnet, 64),
    "vgg11_bn": (tvm.vgg11_bn, 32),
    "resnet18": (tvm.resnet18, 32),
    "resnet50": (tvm.resnet50, 32),
    "resnext50_32x4d": (tvm.resnext50_32x4d, 32),
    "wide_resnet50_2": (tvm.wide_resnet50_2, 32),
    "regnet_x_400mf": (tvm.regnet_x_400mf, 32),
    "regnet_y_400mf": (tvm.regnet_y_400mf, 32),
    "mobilenet_v2": (tvm.mobilenet_v2, 32),
    "mobilenet_v3_small": (tvm.mobilenet_v3_small, 32),
    "mobilenet_v3_large": (tvm.mobilenet_v3_large, 32),
    "mnasnet0_5": (tvm.mnasnet0_5, 32),
    "shufflenet_v2_x0_5": (tvm.shufflenet_v2_x0_5, 32),
    "squeezenet1_1": (tvm.squeezenet1_1, 32),
    "googlenet": (lambda **k: tvm.googlenet(aux_logits=False, init_weights=True, **k), 32),
    "inception_v3": (lambda **k: tvm.inception_v3(aux_logits=False, init_weights=True, **k), 75),
    "densenet121": (tvm.densenet121, 32),
    "efficientnet_b0": (tvm.efficientnet_b0, 32),
    "convnext_tiny": (tvm.convnext_tiny, 32),
    "vit_b_16": (lambda **k: tvm.vit_b_16(image_size=32, **k), 32),
    "swin_t": (tvm.swin_t, 32),
}


def read_idx(name):
    with gzip.open(os.path.join(FASHION, name), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write_data(out, size, n_train, n_test):
    os.makedirs(out, exist_ok=True)
    for split, images, labels, n in (("train", "train-images-idx3-ubyte.gz",
                                      "train-labels-idx1-ubyte.gz", n_train),
                                     ("test", "t10k-images-idx3-ubyte.gz",
                                      "t10k-labels-idx1-ubyte.gz", n_test)):
        x = torch.from_numpy(read_idx(images)[:n].copy()).float().unsqueeze(1)
        if size != 28:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8).repeat(1, 3, 1, 1)
        np.save(os.path.join(out, split + "_images.npy"), x.numpy())
        np.save(os.path.join(out, split + "_labels.npy"), read_idx(labels)[:n].astype(np.int64))


def load(out, split):
    x = torch.from_numpy(np.load(os.path.join(out, split + "_images.npy"))).float() / 255
    y = torch.from_numpy(np.load(os.path.join(out, split + "_labels.npy")))
    return x, y


def accuracy(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 100):
            out = model(x[i:i + 100])
            if isinstance(out, tuple):
                out = out[0]
            correct += (out.argmax(1) == y[i:i + 100]).sum().item()
    return correct / len(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--train-images", type=int, default=5000)
    p.add_argument("--test-images", type=int, default=1000)
    p.add_argument("--train-steps", type=int, default=0)
    p.add_argument("--families", default=",".join(FAMILIES))
    a = p.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(os.cpu_count() or 1)
    sizes = {}
    for name in a.families.split(","):
        sizes.setdefault(max(a.size, FAMILIES[name][1]), []).append(name)
    lines = []
    for size, names in sorted(sizes.items()):
        data = os.path.join(a.out, f"data{size}")
        write_data(data, size, a.train_images, a.test_images)
        xtr, ytr = load(data, "train")
        xte, yte = load(data, "test")
        for name in names:
            model = FAMILIES[name][0](num_classes=10)
            start = time.time()
            if a.train_steps > 0:
                opt = torch.optim.Adam(model.parameters(), lr=1e-3)
                model.train()
                gen = torch.Generator().manual_seed(2)
                for _ in range(a.train_steps):
                    idx = torch.randint(0, len(xtr), (64,), generator=gen)
                    out = model(xtr[idx])
                    if isinstance(out, tuple):
                        out = out[0]
                    loss = F.cross_entropy(out, ytr[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            model.eval()
            scripted = torch.jit.script(model)
            path = os.path.join(a.out, name + ".pt")
            torch.jit.save(scripted, path)
            layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
            line = {"family": name, "file": path, "data_dir": data, "size": size,
                    "weight_layers": len(layers),
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "train_steps": a.train_steps, "train_s": round(time.time() - start, 1),
                    "float_accuracy": accuracy(scripted, xte, yte)}
            print(json.dumps(line), flush=True)
            lines.append(line)
    with open(os.path.join(a.out, "families.json"), "w") as f:
        json.dump(lines, f, indent=1)


if __name__ == "__main__":
    main()
