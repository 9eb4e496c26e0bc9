#!/usr/bin/env bash
# Sweep throughput on 1 and 2 MPI ranks, one thread each, in one run: the whole command's wall
# time (start-up, model and data loading included) for the same experiment, written to
# bench/results/sweep_ranks.md. Run on a quiet machine; the ratio is the figure of merit.
# Usage: bash bench/sweep_ranks.sh [build_dir]
set -euo pipefail
build_dir="${1:-build/release}"
aimc="$build_dir/apps/aimc/aimc"
out="bench/results"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Running as root (containers) needs OpenMPI's consent; shared memory only on one machine.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1

# Points of very different cost, as in Fig. 16: weight-free and wired 512-row tiles, two R_ON.
cat > "$work/bench.toml" <<EOF
name = "bench_ranks"
models = ["models/lenet5_fashion-mnist_ternary_s0.000_e25_n0_seed1.pt"]
cards = ["sot_mram"]
test_images = 10000
chips = 32
seed = 1
[axes]
r_on_ohm = [2e6, 6e6]
wire_ohm = [0.0, 3.0]
tile_rows = [256, 512]
EOF

run() {  # ranks -> seconds
  local n="$1" start end
  rm -f "$work/r$n.csv" "$work/r$n.json"
  start=$(date +%s.%N)
  if [ "$n" -eq 0 ]; then
    "$aimc" -q sweep "$work/bench.toml" --threads 1 --out "$work/r$n.csv" > /dev/null 2>&1
  else
    mpirun -n "$n" --oversubscribe "$aimc" -q sweep "$work/bench.toml" --threads 1 \
      --out "$work/r$n.csv" > /dev/null 2>&1
  fi
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN{print b - a}'
}

t1=$(run 0)
t2=$(run 2)
points=$(($(wc -l < "$work/r0.csv") - 1))
cmp <(cut -d, -f1-14 "$work/r0.csv") <(cut -d, -f1-14 "$work/r2.csv") ||
  { echo "2 ranks wrote other values than one process" >&2; exit 1; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{print a / b}'; }
ratio=$(div "$t1" "$t2")
point_s=$(awk -F, 'NR>1{s+=$15} END{printf "%.3f", s/(NR-1)}' "$work/r0.csv")
{
  echo "# Sweep throughput over MPI ranks"
  echo
  echo "$(date -u +%Y-%m-%d), $(getconf _NPROCESSORS_ONLN) cores, load before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "$points points (CNN 1 on 10,000 Fashion-MNIST test images, SOT-MRAM at 2 and 6 MOhm, wires"
  echo "0 and 3 Ohm, 256- and 512-row tiles, 32 chips; $point_s s per point on average), one thread"
  echo "per rank; wall time of the whole command."
  echo
  echo "| ranks | wall (s) | points/s | vs 1 |"
  echo "|---|---|---|---|"
  printf "| 1 (no mpirun) | %.1f | %.2f | 1.00x |\n" "$t1" "$(div "$points" "$t1")"
  printf "| 2 | %.1f | %.2f | %.2fx |\n" "$t2" "$(div "$points" "$t2")" "$ratio"
  echo
  echo "Target: 2 ranks >= 1.8x one (docs/cluster.md). Values of both runs are identical."
} > "$out/sweep_ranks.md"
cat "$out/sweep_ranks.md"
