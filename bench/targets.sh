#!/usr/bin/env bash
# Writes bench/results/native_speed.md: the analog-inference speed figures, each a ratio measured
# in one run (the benchmark CSVs of bench/run.sh, plus whole-process timings of the CLI here),
# beside the figures measured before effective weights and the targets.
#
# The CrossSim figures are external references measured on this 2-core machine with CrossSim
# 3.2 and Debian's python3-numpy at its default tolerance (see the table's notes); aimc's side is
# measured now.
set -euo pipefail
build_dir="${1:-build/release}"
results="bench/results"
aimc="$build_dir/apps/aimc/aimc"
out="$results/native_speed.md"

# counter FILE BENCHMARK_PREFIX COLUMN: one value of a Google Benchmark CSV.
counter() {
  local file="$1" bench="$2" column="$3"
  [ -f "$file" ] || { echo "n/a"; return; }
  awk -F, -v bench="$bench" -v column="$column" '
    # Google Benchmark writes its context lines first; the header starts with "name,".
    !header && /^name,/ { header = 1; for (i = 1; i <= NF; ++i) { gsub(/"/, "", $i); index_of[$i] = i } next }
    !header { next }
    { name = $1; gsub(/"/, "", name) }
    index(name, bench) == 1 && (column in index_of) { print $(index_of[column]); found = 1; exit }
    END { if (!found) print "n/a" }' "$file"
}

# fmt FORMAT VALUE...: printf that leaves "n/a" as it is.
fmt() {
  local format="$1"
  shift
  for v in "$@"; do [ "$v" = "n/a" ] && { echo "n/a"; return; }; done
  # shellcheck disable=SC2059
  LC_ALL=C printf "$format" "$@"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b == 0) print "n/a"; else printf "%.3g", a / b }'; }

# Median wall time (s) of N runs of a command.
median_seconds() {
  local n="$1"
  shift
  local times=()
  for _ in $(seq "$n"); do
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", b - a }')")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

native="$results/aimc_bench_native.csv"
circuit="$results/aimc_bench_circuit.csv"

# CLI figures, measured here: a circuit command with and without loading LibTorch (aimc-torch
# is the program that holds every command, as aimc was before the split), and a batch of inputs.
xbar_small="n/a" xbar_torch="n/a" one_vector="n/a" hundred="n/a"
if [ -x "$aimc" ]; then
  xbar_small=$(median_seconds 5 "$aimc" xbar solve --rows 64 --cols 64 --wires layout22nm)
  if [ -x "$build_dir/apps/aimc/aimc-torch" ]; then
    xbar_torch=$(median_seconds 5 "$build_dir/apps/aimc/aimc-torch" xbar solve --rows 64 --cols 64 \
      --wires layout22nm)
  fi
  one_vector=$(median_seconds 3 "$aimc" xbar solve --rows 256 --cols 256 --wires layout22nm --count 1)
  hundred=$(median_seconds 3 "$aimc" xbar solve --rows 256 --cols 256 --wires layout22nm --count 100)
fi
# The same as a user runs it: whole `aimc test` commands (start-up, model and data included).
test_one="n/a" test_twenty="n/a"
model="models/lenet5_fashion-mnist_ternary_s0.000_e25_n0_seed1.pt"
if [ -x "$aimc" ] && [ -f "$model" ]; then
  test_one=$(median_seconds 3 "$aimc" -q test --model "$model" --card sot_mram --wire-ohm 3 --chips 1 --threads 2)
  test_twenty=$(median_seconds 1 "$aimc" -q test --model "$model" --card sot_mram --wire-ohm 3 --chips 20 --threads 2)
fi
per_vector_ratio=$(awk -v a="$hundred" -v b="$one_vector" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%.3g", a / 100 / b }')

c1_plain=$(counter "$native" BM_Cnn1ChipVsPlain plain_s)
c1_chip=$(counter "$native" BM_Cnn1ChipVsPlain chip_s)
c1_first=$(counter "$native" BM_Cnn1ChipVsPlain chip_first_s)
c1_hooks=$(counter "$native" BM_Cnn1ChipVsPlain hooks_s)
c2_plain=$(counter "$native" BM_Cnn2ChipVsPlain plain_s)
c2_chip=$(counter "$native" BM_Cnn2ChipVsPlain chip_s)
c2_first=$(counter "$native" BM_Cnn2ChipVsPlain chip_first_s)
one_chip=$(counter "$native" BM_Cnn1TwentyChips one_chip_s)
twenty=$(counter "$native" BM_Cnn1TwentyChips twenty_chips_s)
# Times of the circuit benchmarks are in ms (M_eff) and us (MVM); memory in MiB.
ms_to_s() { awk -v v="$1" -v d="$2" 'BEGIN { if (v == "n/a") print "n/a"; else printf "%.6g", v / d }'; }
meff_first=$(ms_to_s "$(counter "$circuit" BM_EffectiveMatrixFirst/1024 real_time)" 1e3)
meff_reused=$(ms_to_s "$(counter "$circuit" BM_EffectiveMatrixReused/1024 real_time)" 1e3)
meff_rss=$(ms_to_s "$(counter "$circuit" BM_EffectiveMatrixReused/1024 peak_MiB)" 1024)
mvm128=$(ms_to_s "$(counter "$circuit" BM_MvmThroughMeff/128 mvm_us)" 1e6)
mvm512=$(ms_to_s "$(counter "$circuit" BM_MvmThroughMeff/512 mvm_us)" 1e6)

# CrossSim 3.2 (its iterative parasitic solver, default tolerance), measured on this machine.
crosssim_128=4.9e-3      # s per vector, 128 x 128, 6-15 MOhm devices, 10 Ohm wires (error 2e-4)
crosssim_512=1.34        # s per vector, 512 x 512, 100-250 kOhm, after a 187 s relaxation search
crosssim_cnn1=150        # s, CNN 1 whole test set on the same arrays, batched

{
  echo "# Analog inference speed (written by bench/targets.sh)"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo "\"Before\" is the figure measured before effective weights (per-MVM hooks, one chip after another,"
  echo "LibTorch loaded by every command); each \"now\" ratio is measured in one run."
  echo
  echo "| what | before | now | target |"
  echo "|---|---|---|---|"
  echo "| CNN 1, 10k images, one chip, exact IR drop, vs plain float LibTorch LeNet-5 (1 thread, batches of 500) | 8.5x (5.2 s vs 0.61 s) | $(ratio "$c1_chip" "$c1_plain")x ($(fmt %.2f "$c1_chip") s vs $(fmt %.2f "$c1_plain") s; first chip of its shapes $(ratio "$c1_first" "$c1_plain")x; per-MVM hooks in the same run $(ratio "$c1_hooks" "$c1_plain")x) | ≤ 1.5x |"
  echo "| CNN 2 (width 1), 10k images, one chip, exact IR drop, vs plain float LibTorch ResNet-26 (2 threads) | not measured | $(ratio "$c2_chip" "$c2_plain")x ($(fmt %.1f "$c2_chip") s vs $(fmt %.1f "$c2_plain") s; first chip $(ratio "$c2_first" "$c2_plain")x) | ≤ 1.5x |"
  echo "| 20 Monte-Carlo chips of CNN 1 on 10k images, exact IR drop, vs one chip (2 threads) | 12.6x | $(ratio "$twenty" "$one_chip")x ($(fmt %.1f "$twenty") s vs $(fmt %.2f "$one_chip") s) | ≤ 8x |"
  echo "| the same as whole commands: \`aimc test --card sot_mram --wire-ohm 3 --chips 20\` vs \`--chips 1\` (2 threads) | | $(ratio "$test_twenty" "$test_one")x ($(fmt %.1f "$test_twenty") s vs $(fmt %.1f "$test_one") s) | ≤ 8x |"
  echo "| one 1024 x 1024 array's M_eff after the first of that shape | 12.4 s, 1.5 GiB | $(fmt %.2f "$meff_reused") s, $(fmt %.2f "$meff_rss") GiB (first: $(fmt %.2f "$meff_first") s) | ≤ 3 s, ≤ 1.5 GiB |"
  echo "| one MVM through M_eff vs CrossSim 3.2's iterative solver (128², 6-15 MOhm, 10 Ohm: ${crosssim_128} s; 512², 100-250 kOhm: ${crosssim_512} s) | ~1,000x to ~37,000x | $(ratio "$crosssim_128" "$mvm128")x (128²), $(ratio "$crosssim_512" "$mvm512")x (512²), exact | keep, exact |"
  echo "| CNN 1 whole test set with exact IR drop vs CrossSim's solver on the same arrays (${crosssim_cnn1} s batched) | ~30x | $(ratio "$crosssim_cnn1" "$c1_chip")x | ≥ 300x |"
  echo "| \`aimc xbar solve\` 256 x 256 with wires, 100 vectors, time per vector vs one vector (whole process) | about 1x | $per_vector_ratio ($(fmt %.2f "$hundred") s for 100, $(fmt %.2f "$one_vector") s for 1) | ≤ 0.2x |"
  echo "| \`aimc xbar solve\` 64 x 64, whole process, vs the same command loading LibTorch | 0.9-1.4 s | $(ratio "$xbar_small" "$xbar_torch")x ($(fmt %.3f "$xbar_small") s vs $(fmt %.2f "$xbar_torch") s) | ≤ 0.1x |"
} >"$out"
cat "$out"
