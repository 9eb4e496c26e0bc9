#!/usr/bin/env bash
# ngspice's DC operating point and aimc's exact solve on the same netlists, side by side.
# Usage: bench/ngspice_vs_aimc.sh [build_dir] [sizes...]; writes bench/results/ngspice_vs_aimc.csv.
# Arrays: R = C, random ON/OFF devices (R_ON 6 MOhm, TMR 150 %), 22 nm layout wire estimate.
set -euo pipefail
build_dir="${1:-build/release}"
shift || true
sizes=("${@:-64 128}")
[ "$#" -eq 0 ] && sizes=(64 128)
aimc="$build_dir/apps/aimc/aimc"
out="bench/results/ngspice_vs_aimc.csv"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p bench/results
echo "size,ngspice_s,aimc_factorize_s,aimc_solve_s,speedup_per_solve,speedup_with_factorization,max_rel_diff" > "$tmp/out.csv"
for n in "${sizes[@]}"; do
  line=$("$aimc" -q xbar netlist --rows "$n" --cols "$n" --wires layout22nm \
           --out "$tmp/x$n.cir" --run | grep '^ngspice')
  # "ngspice A s; aimc factorize B s, solve C s; largest relative difference D"
  read -r spice factor solve diff < <(echo "$line" |
    sed -E 's/ngspice ([^ ]+) s; aimc factorize ([^ ]+) s, solve ([^ ]+) s; largest relative difference ([^ ]+)/\1 \2 \3 \4/')
  speed=$(awk -v a="$spice" -v b="$solve" 'BEGIN { printf "%.6g", a / b }')
  speed_all=$(awk -v a="$spice" -v b="$factor" -v c="$solve" 'BEGIN { printf "%.6g", a / (b + c) }')
  echo "$n,$spice,$factor,$solve,$speed,$speed_all,$diff" | tee -a "$tmp/out.csv"
done
mv "$tmp/out.csv" "$out"
echo "wrote $out"
