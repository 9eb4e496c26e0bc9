"""TorchScript models for torchscript_test.cc: python3 make_torchscript.py OUT_DIR.

lenet.pt        aimc's LeNet-5 (src/nn/network.cc, 28x28 input) as an nn.Sequential with random
                weights and BatchNorm statistics (seeded); the test copies them into aimc's own
                LeNet-5 and expects the same outputs, digital and on chips.
lenet_traced.pt the same, torch.jit.trace'd (the layers keep no stride, padding, eps...: read
                from their traced operations); imports as lenet.pt does.
custom.pt       a module with its own forward: refused.
sigmoid.pt      a Sequential with an nn.Sigmoid: refused, naming it.
same.pt         padding='same' (mapped, padding 1); reflect.pt padding_mode='reflect': refused.
mixed.pt        a Sequential with a grouped Conv2d (on arrays, its groups on diagonal blocks) and
                a Linear whose input can be negative (digital without signed inputs, named).
pools.pt        every other step aimc imports: ReLU6, AvgPool2d (ceil_mode, padding not
                counted), MaxPool2d (ceil_mode), AdaptiveAvgPool2d, Identity, Dropout; the
                test rebuilds it from its model file and runs it on chips side by side.
resnet.pt       a small ResNet with forwards of its own: residual blocks (a 1x1 downsample
                with BatchNorm on the shortcut), F.relu, in-place `+=`, F.max_pool2d and a
                global mean; resnet_b.pt the same kind with nn.ReLU, `out + identity`,
                nn.AdaptiveAvgPool2d, F.dropout and x.view(x.size(0), -1). Imported as graphs.
resnet_traced.pt resnet.pt's network, torch.jit.trace'd: imports as resnet.pt does.
branchy.pt      a forward with an if on its input: refused as steps; runs as the module.

Modules that run as they are (execution "module"/"auto"), one per structural kind, each with
logits that differ between images:
cat.pt          two branches concatenated (torch.cat) after a shared stem.
se.pt           squeeze-excitation: a sigmoid gate multiplied onto the channels, SiLU and
                Hardswish activations.
depthwise.pt    a depthwise (groups = channels) and a pointwise convolution.
attention.pt    a tiny vision transformer: patch embedding, LayerNorm, self-attention with its
                own q/k/v Linear layers, softmax, a GELU MLP, token mean.
attr_if.pt      an if on a module attribute (MobileNet's use_res_connect) and a normalization
                of the input inside the model.
shared.pt       one Conv2d called twice (one layer on one array).
geometry.pt     a 1x5 kernel, a dilated 3x3, a 3x1 kernel with stride (2, 1), and a Conv1d over
                the rows (any kernel shape, stride, padding and dilation goes on arrays).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def lenet5():
    # conv 6@5x5 (pad 2), BN, maxpool 2, ReLU, conv 16@5x5, BN, maxpool 2, ReLU, FC 400-120-84-10
    # with BN and ReLU after FC1 and FC2: aimc's LeNet5Impl, whose ReLUs are its layers' input
    # quantizers.
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(400, 120), nn.BatchNorm1d(120), nn.ReLU(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.ReLU(),
        nn.Linear(84, 10))


def randomize_norms(model, gen):
    # Non-trivial eval-mode BatchNorm, so that folding it is tested.
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.weight.data = 0.5 + torch.rand(c, generator=gen)
            m.bias.data = 0.1 * torch.randn(c, generator=gen)
            m.running_mean.data = 0.1 * torch.randn(c, generator=gen)
            m.running_var.data = 0.5 + torch.rand(c, generator=gen)


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) * 2


class Block(nn.Module):
    # A ResNet basic block: F.relu, in-place add, a downsample where the shape changes.
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.down is None else self.down(x)
        out += identity
        return F.relu(out)


class BlockB(nn.Module):
    # The same with modules and an out-of-place add.
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                  nn.ReLU())
        self.layer1 = Block(8, 8, 1)
        self.layer2 = Block(8, 16, 2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)
        x = self.layer2(self.layer1(x))
        return self.fc(x.mean((2, 3)))


class ResNetB(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.blocks = nn.Sequential(BlockB(8, 8, 1), BlockB(8, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.pool(self.blocks(x))
        x = F.dropout(x.view(x.size(0), -1), 0.1, self.training)
        return self.fc(x)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        if bool(x.mean() > 0.5):
            x = x * 0.5
        return self.fc(x.flatten(1))


class CatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.a = nn.Conv2d(4, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 1)
        self.head = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], 1)
        return self.head(torch.flatten(F.max_pool2d(x, 2), 1))


class SqueezeExcite(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.fc1 = nn.Linear(8, 4)
        self.fc2 = nn.Linear(4, 8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.act = nn.Hardswish()
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.conv(x))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean([2, 3])))))
        x = x * s[:, :, None, None]
        x = F.silu(self.act(self.conv2(x)))
        return self.head(x.mean([2, 3]))


class AttentionNet(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.embed = nn.Conv2d(1, dim, 4, stride=4)
        self.pos = nn.Parameter(0.1 * torch.randn(1, 49, dim))
        self.norm1 = nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, 10)
        self.scale = dim ** -0.5

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        h = self.norm1(x)
        a = torch.softmax(self.q(h) @ self.k(h).transpose(1, 2) * self.scale, dim=-1)
        x = x + self.proj(a @ self.v(h))
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))
        return self.head(x.mean(1))


class AttrIf(nn.Module):
    def __init__(self):
        super().__init__()
        self.use_res = True
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        x = (x - 0.5) / 0.25  # normalization inside the model
        x = F.relu(self.conv1(x))
        if self.use_res:
            x = x + F.relu(self.conv2(x))
        return self.head(F.max_pool2d(x, 2).flatten(1))


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 4, 3, padding=1)
        self.c = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = F.relu(self.c(x))
        x = F.max_pool2d(F.relu(self.c(x)), 2)
        return self.head(x.flatten(1))


class Geometry(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 4, (1, 5), padding=(0, 2))
        self.b = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.c = nn.Conv2d(4, 4, (3, 1), stride=(2, 1), padding=(1, 0))
        self.d = nn.Conv1d(4 * 14, 8, 3, stride=2, padding=1)
        self.head = nn.Linear(8 * 14, 10)

    def forward(self, x):
        x = F.relu(self.c(F.relu(self.b(F.relu(self.a(x))))))  # (N, 4, 14, 28)
        x = F.relu(self.d(x.flatten(1, 2)))  # rows as channels of a sequence: (N, 8, 14)
        return self.head(x.flatten(1))


def spread_logits(net, last, gen):
    # Logits that differ between images: the last Linear centered and scaled on images of
    # random brightness (the default init gives one class for all).
    net.eval()
    images = torch.rand(64, 1, 28, 28, generator=gen) * torch.rand(64, 1, 1, 1, generator=gen)
    with torch.no_grad():
        for _ in range(2):
            logits = net(images)
            last.weight.data /= logits.std(0).mean()
            last.bias.data -= net(images).mean(0)
    return net


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(5)
    gen = torch.Generator().manual_seed(6)
    net = lenet5()
    randomize_norms(net, gen)
    net.eval()
    torch.jit.save(torch.jit.script(net), os.path.join(out, "lenet.pt"))
    torch.jit.save(torch.jit.trace(net, torch.zeros(2, 1, 28, 28)),
                   os.path.join(out, "lenet_traced.pt"))
    torch.jit.save(torch.jit.script(Custom().eval()), os.path.join(out, "custom.pt"))
    torch.jit.save(torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.Sigmoid())),
                   os.path.join(out, "sigmoid.pt"))
    for name, conv in (("same", nn.Conv2d(1, 4, 3, padding="same")),
                       ("reflect", nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"))):
        net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(4 * 28 * 28, 10))
        torch.jit.save(torch.jit.script(net.eval()), os.path.join(out, name + ".pt"))
    mixed = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
        nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
    randomize_norms(mixed, gen)
    # Logits that differ between images (the default init gives one class for all): the last
    # layer centered and scaled on images of random brightness.
    mixed.eval()
    with torch.no_grad():
        images = torch.rand(64, 1, 28, 28, generator=gen) * torch.rand(64, 1, 1, 1, generator=gen)
        features = mixed[:-1](images)
        logits = mixed[-1](features)
        mixed[-1].weight.data /= logits.std(0).mean()
        mixed[-1].bias.data -= mixed[-1](features).mean(0)
    torch.jit.save(torch.jit.script(mixed.eval()), os.path.join(out, "mixed.pt"))
    pools = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU6(),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, ceil_mode=True), nn.AdaptiveAvgPool2d((3, 3)), nn.Identity(),
        nn.Flatten(), nn.Dropout(0.2), nn.Linear(72, 10))
    randomize_norms(pools, gen)
    torch.jit.save(torch.jit.script(pools.eval()), os.path.join(out, "pools.pt"))
    for name, net in (("resnet", ResNet()), ("resnet_b", ResNetB())):
        randomize_norms(net, gen)
        torch.jit.save(torch.jit.script(net.eval()), os.path.join(out, name + ".pt"))
        if name == "resnet":
            torch.jit.save(torch.jit.trace(net, torch.zeros(2, 1, 28, 28)),
                           os.path.join(out, "resnet_traced.pt"))
    torch.jit.save(torch.jit.script(Branchy().eval()), os.path.join(out, "branchy.pt"))
    for name, net in (("cat", CatNet()), ("se", SqueezeExcite()), ("attention", AttentionNet()),
                      ("attr_if", AttrIf()), ("shared", Shared()), ("geometry", Geometry())):
        net = spread_logits(net, net.head, gen)
        torch.jit.save(torch.jit.script(net), os.path.join(out, name + ".pt"))
    depthwise = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    randomize_norms(depthwise, gen)
    depthwise = spread_logits(depthwise, depthwise[-1], gen)
    torch.jit.save(torch.jit.script(depthwise), os.path.join(out, "depthwise.pt"))


if __name__ == "__main__":
    main()
