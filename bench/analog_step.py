"""A training step of torchvision's resnet18 with aimc.analog layers against the plain PyTorch step,
in one run on one machine (docs/python.md, bench/results/analog_step.md).

    PYTHONPATH=build/release/python python3 bench/analog_step.py [--size 64] [--batch 64]
        [--steps 10] [--every 50] [--threads N]

Measures, interleaved (plain, analog, plain, analog, ...) so that the machine's drift falls on
both: the plain float step (forward, cross-entropy, backward, SGD), the analog step (the same with
every Conv2d/Linear converted: 4-bit DACs, ternary weights, sigma_train noise, and a chip deviation
in every layer as IR-drop-aware training holds between rebuilds), and the rebuild itself (the
chip's effective weights with their exact IR drop for every layer, SOT-MRAM with the 22 nm
layout's wires), which IR-drop-aware training pays once per `--every` steps. Prints one CSV line
per measurement and a summary.
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

import aimc
import aimc.analog as analog


def step_time(model, x, y, opt):
    start = time.perf_counter()
    opt.zero_grad()
    F.cross_entropy(model(x), y).backward()
    opt.step()
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--every", type=int, default=50, help="steps between IR-aware rebuilds")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    plain = torchvision.models.resnet18(num_classes=10)
    x = torch.rand(a.batch, 3, a.size, a.size)
    y = torch.randint(0, 10, (a.batch,))
    chip = aimc.ChipConfig(card="sot_mram", wires="layout22nm")
    config = analog.AnalogConfig(chip=chip, sigma_train=0.1, ir_aware_every=a.every)
    model = analog.convert(plain, config, calibration=x)
    layers = analog.analog_layers(model)
    ir = layers[0][1]._ir
    plain_opt = torch.optim.SGD(plain.parameters(), lr=1e-3, momentum=0.9)
    analog_opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    plain.train()
    model.train()
    # Warm-up: the first analog pass builds the chip (step 0 of IR-drop-aware training).
    step_time(plain, x, y, plain_opt)
    first = step_time(model, x, y, analog_opt)
    rebuild = ir.seconds
    print(f"# {len(layers)} analog layers; first analog step {first:.3f} s, of which the chip's "
          f"build (all {ir.layer_builds} layers) {rebuild:.3f} s", file=sys.stderr)
    print("kind,step,seconds")
    times = {"plain": [], "analog": []}
    for i in range(a.steps):
        for kind, m, opt in (("plain", plain, plain_opt), ("analog", model, analog_opt)):
            t = step_time(m, x, y, opt)
            times[kind].append(t)
            print(f"{kind},{i},{t:.4f}")
    assert ir.builds == 1, "a rebuild fell inside the measured steps: raise --every"
    # A rebuild after the weights moved: the layers whose levels flipped are solved again.
    start = time.perf_counter()
    ir.steps = 0
    model.train()
    before = ir.seconds
    step_time(model, x, y, analog_opt)
    again = ir.seconds - before
    total = time.perf_counter() - start
    print(f"rebuild,0,{again:.4f}")
    p_med = statistics.median(times["plain"])
    a_med = statistics.median(times["analog"])
    print(f"# torch threads {torch.get_num_threads()}, resnet18 at {a.size} x {a.size}, batch "
          f"{a.batch}: plain step {p_med:.3f} s, analog step {a_med:.3f} s ({a_med / p_med:.2f}x; "
          f"medians of {a.steps}); rebuild {again:.3f} s ({ir.layer_builds} layer builds in all), "
          f"{again / a.every:.3f} s per step at one rebuild every {a.every} steps "
          f"(step with rebuild {total:.3f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
