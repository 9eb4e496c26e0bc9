#!/usr/bin/env python3
"""The cost model of docs/cluster.md: predicted wall time of the paper profile on K nodes of C
cores (one rank of one thread per core), from measured per-unit costs.

Input: a CSV `stage,unit,count,seconds[,batch,steps,kind]` (bench/results/paper_units.csv), one
line per kind of work unit: `count` units of `seconds` each on one core, in stage `stage`. Stages
run one after another (CNN 2's fine-tunings need its clean network); the units of a stage run on
all ranks at once.

- Units without a batch (test points, IR-drop chips, figures) are handed out longest first, one
  rank each, as cluster::Distribute does: the stage's time is the greedy longest-first makespan.
- Trainings (with their global `batch`, `steps` per training and network `kind`) share the ranks
  as aimc's study does (src/paper/networks.cc GroupTrainings): a training whose work is more than
  a rank's share trains data-parallel on a group of floor(work / share) ranks (at most its batch
  over MinImagesPerRank: 16 images per rank for LeNet-5, 4 for ResNet-26; at most R - 1 while
  others remain, the last takes what is left); the rest run side by side on the ranks left over. A training on k ranks takes
      seconds x (cost per image at a shard of batch / k) / (cost per image at the full batch) / k
              / efficiency
      + steps x (ring all-reduce of its gradients over k ranks),
  the cost per image at each shard size measured by bench/shard_size.sh
  (bench/results/shard_size.csv, interpolated in log-log), `efficiency` the measured 2-rank
  efficiency of bench/results/data_parallel.md apart from its gradient sums, and the all-reduce
  2 (k - 1) / k x bytes / bandwidth + 2 (k - 1) x latency (assumed network: --bandwidth-gbs,
  --latency-us; a node's ranks share one link, so a ring over n nodes moves each node's share
  over that link).

Usage: python3 bench/cost_model.py [units.csv] [cores_per_node] [startup_s] > table.md
"""
import argparse
import bisect
import csv
import math
import sys


# The fewest images of a batch a rank of a data-parallel study training gets (aimc's
# MinImagesPerRank, src/paper/networks.cc: BatchNorm normalizes over a rank's shard alone).
MIN_IMAGES_PER_RANK = {"cnn1": 16, "cnn2": 4}


def lpt(times, workers):
    """Greedy longest-first makespan of `times` on `workers`."""
    if not times:
        return 0.0
    load = [0.0] * max(1, min(workers, len(times)))
    for t in sorted(times, reverse=True):
        i = load.index(min(load))
        load[i] += t
    return max(load)


def group_trainings(cost, most, ranks):
    """aimc's GroupTrainings (no checkpoints): the ranks of each training, 1 = the pool."""
    k = [1] * len(cost)
    left, work = ranks, sum(cost)
    order = sorted(range(len(cost)), key=lambda i: -cost[i])
    for pos, i in enumerate(order):
        if left < 2:
            break
        last = pos + 1 == len(order)
        share = work / left
        take = left if last else min(int(math.floor(cost[i] / share + 1e-9)), left - 1)
        take = min(take, max(most[i], 1))
        if take < 2:
            break
        k[i] = take
        left -= take
        work -= cost[i]
    return k, left


class Shards:
    """Cost per image against the shard a rank gets, per network kind."""

    def __init__(self, path):
        self.table, self.bytes = {}, {}
        with open(path) as f:
            for row in csv.DictReader(f):
                self.table.setdefault(row["kind"], []).append(
                    (float(row["shard_images"]), float(row["seconds_per_image"])))
                self.bytes[row["kind"]] = float(row["gradient_bytes"])
        for kind in self.table:
            self.table[kind].sort()

    def per_image(self, kind, shard):
        pts = self.table[kind]
        xs = [math.log(x) for x, _ in pts]
        x = math.log(min(max(shard, pts[0][0]), pts[-1][0]))
        j = min(max(bisect.bisect_left(xs, x), 1), len(pts) - 1)
        (x0, y0), (x1, y1) = (xs[j - 1], math.log(pts[j - 1][1])), (xs[j], math.log(pts[j][1]))
        return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0 or 1.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("units", nargs="?", default="bench/results/paper_units.csv")
    ap.add_argument("cores", nargs="?", type=int, default=32)
    ap.add_argument("startup", nargs="?", type=float, default=5.0)
    ap.add_argument("--shards", default="bench/results/shard_size.csv")
    ap.add_argument("--efficiency", type=float, default=0.90)
    ap.add_argument("--bandwidth-gbs", type=float, default=10.0)
    ap.add_argument("--latency-us", type=float, default=5.0)
    ap.add_argument("--nodes", default="1,8,64")
    ap.add_argument("--detail", action="store_true", help="each stage's time on each cluster")
    a = ap.parse_args()
    shards = Shards(a.shards)

    stages = []
    with open(a.units) as f:
        for row in csv.DictReader(f):
            if not stages or stages[-1][0] != row["stage"]:
                stages.append((row["stage"], []))
            for _ in range(int(row["count"])):
                stages[-1][1].append(row)

    def allreduce(kind, k, nodes_spanned):
        if k < 2:
            return 0.0
        # The bytes cross each node's link once per ring pass; within a node, shared memory.
        bw = a.bandwidth_gbs * 1e9 if nodes_spanned > 1 else 4 * a.bandwidth_gbs * 1e9
        return 2 * (k - 1) / k * shards.bytes[kind] / bw + 2 * (k - 1) * a.latency_us * 1e-6

    def training_time(u, k):
        t = float(u["seconds"])
        if k < 2:
            return t
        batch, kind = int(u["batch"]), u["kind"]
        rel = shards.per_image(kind, batch / k) / shards.per_image(kind, batch)
        nodes = math.ceil(k / a.cores)
        return t * rel / k / a.efficiency + int(u["steps"]) * allreduce(kind, k, nodes)

    def stage_time(units, ranks):
        trainings = [u for u in units if u.get("batch")]
        others = [float(u["seconds"]) for u in units if not u.get("batch")]
        if not trainings:
            return lpt(others, ranks), ""
        cost = [float(u["seconds"]) for u in trainings]
        most = [int(u["batch"]) // MIN_IMAGES_PER_RANK[u["kind"]] for u in trainings]
        k, left = group_trainings(cost, most, ranks)
        groups = [training_time(u, ki) for u, ki in zip(trainings, k) if ki >= 2]
        pool = [float(u["seconds"]) for u, ki in zip(trainings, k) if ki < 2] + others
        span = max(groups + [lpt(pool, left) if pool else 0.0])
        dp = sorted({ki for ki in k if ki >= 2})
        note = f"{len(groups)} data-parallel on {'/'.join(map(str, dp))} ranks" if groups else ""
        return span, note

    def total(ranks):
        t, notes = 0.0, []
        for name, units in stages:
            s, note = stage_time(units, ranks)
            t += s + a.startup
            notes.append((name, s, note))
        return t, notes

    def human(s):
        if s < 120:
            return f"{s:.0f} s"
        if s < 7200:
            return f"{s / 60:.0f} min"
        if s < 172800:
            return f"{s / 3600:.1f} h"
        return f"{s / 86400:.1f} days"

    serial = sum(float(u["seconds"]) for _, units in stages for u in units)
    print(f"| nodes (K) | cores (K x {a.cores}) | predicted wall time | speed-up vs 1 core |")
    print("|---|---|---|---|")
    print(f"| 1 core | 1 | {human(serial)} | 1x |")
    details = []
    for k in (int(x) for x in a.nodes.split(",")):
        p = k * a.cores
        t, notes = total(p)
        details.append((k, p, notes))
        print(f"| {k} | {p} | {human(t)} | {serial / t:.0f}x |")
    if a.detail:
        print()
        print("| stage | " + " | ".join(f"{k} node{'s' if k > 1 else ''} ({p} ranks)"
                                       for k, p, _ in details) + " |")
        print("|---|" + "---|" * len(details))
        for i, (name, _) in enumerate(stages):
            cells = []
            for _, _, notes in details:
                _, s, note = notes[i]
                cells.append(human(s) + (f" ({note})" if note else ""))
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
