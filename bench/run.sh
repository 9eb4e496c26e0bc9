#!/usr/bin/env bash
# Runs every benchmark program and writes its results as CSV under bench/results/.
set -euo pipefail
build_dir="${1:-build/release}"
out="bench/results"
mkdir -p "$out"
for b in "$build_dir"/bench/aimc_bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name"
  "$b" --benchmark_format=console --benchmark_out="$out/$name.csv" --benchmark_out_format=csv
done
# aimc and ngspice side by side on the same netlists (ngspice at 128x128 takes minutes).
if [ -x bench/ngspice_vs_aimc.sh ] || [ -f bench/ngspice_vs_aimc.sh ]; then
  bash bench/ngspice_vs_aimc.sh "$build_dir"
fi
# The analog-inference speed table, from the CSVs above and timings of the CLI.
bash bench/targets.sh "$build_dir"
