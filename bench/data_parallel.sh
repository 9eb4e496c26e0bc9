#!/usr/bin/env bash
# Data-parallel training speed: one epoch of LeNet-5 (ternary weights, 4-bit activations,
# sigma_w,train 0.3, batch 128) on Fashion-MNIST's 60,000 training images, in one process and
# on 2 MPI ranks (mpirun -np 2; --threads 1 per rank), alternately, REPEATS times each. The
# issue's target: 2 ranks >= 1.6x one. Writes bench/results/data_parallel.md.
#   bash bench/data_parallel.sh [BUILD_DIR] [REPEATS]
# Other work on the cores slows the 2-rank run more than the one-process run (its ranks wait for
# each other every step): the load average is recorded with the results; run it on a quiet box.
set -euo pipefail
build_dir="${1:-build/release}"
repeats="${2:-3}"
aimc="$build_dir/apps/aimc/aimc"
out=bench/results/data_parallel.md
[ -x "$aimc" ] || { echo "no $aimc: build first (cmake --build --preset release)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "no mpirun: install OpenMPI (scripts/install-deps.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
# Ranks of one machine talk through shared memory.
export OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader}"
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi

images=60000
args=(train --net lenet5 --data fashion-mnist --epochs 1 --sigma-train 0.3 --batch-size 128
      --threads 1 --test-subset 2000)

# epoch RANKS: prints "training-pass-seconds whole-command-seconds test-accuracy sum-seconds",
# the last the time in the gradient sums (2 ranks; waits for the slower rank included).
epoch() {
  local ranks="$1" log="$tmp/log" start end
  rm -f "$tmp/m.pt"
  start=$(date +%s.%N)
  if [ "$ranks" -eq 1 ]; then
    "$aimc" "${args[@]}" --out "$tmp/m.pt" >"$log" 2>&1
  else
    mpirun -np "$ranks" "$aimc" "${args[@]}" --out "$tmp/m.pt" >"$log" 2>&1
  fi
  end=$(date +%s.%N)
  # The model file's history holds the training pass's seconds; the summary line the accuracy.
  local seconds accuracy sums
  sums=$(grep -o '[0-9.]* s of the [0-9.]* s went to the gradient sums' "$log" | cut -d' ' -f1 || true)
  seconds=$(unzip -p "$tmp/m.pt" '*/data.pkl' | grep -ao '"seconds":[0-9.e+-]*' | head -1 | cut -d: -f2)
  accuracy=$(grep -o 'test accuracy [0-9.]*' "$log" | cut -d' ' -f3)
  [ -n "$seconds" ] || { cat "$log" >&2; echo "no epoch time in $tmp/m.pt" >&2; exit 1; }
  echo "$seconds $(echo "$end - $start" | bc -l) $accuracy ${sums:-0}"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$tmp/one"
: >"$tmp/two"
for ((r = 1; r <= repeats; r++)); do
  epoch 1 | tee -a "$tmp/one" | sed "s/^/1 rank,  run $r: /"
  epoch 2 | tee -a "$tmp/two" | sed "s/^/2 ranks, run $r: /"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# best FILE COLUMN / median FILE COLUMN
best() { sort -g -k"$2" "$1" | head -1 | awk -v c="$2" '{print $c}'; }
median() { sort -g -k"$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print v[int((NR + 1) / 2)]}'; }
one_best=$(best "$tmp/one" 1); two_best=$(best "$tmp/two" 1)
one_med=$(median "$tmp/one" 1); two_med=$(median "$tmp/two" 1)
one_wall=$(median "$tmp/one" 2); two_wall=$(median "$tmp/two" 2)
ratio_best=$(echo "$one_best / $two_best" | bc -l)
ratio_med=$(echo "$one_med / $two_med" | bc -l)
ratio_wall=$(echo "$one_wall / $two_wall" | bc -l)
verdict=$(echo "$ratio_best >= 1.6" | bc -l)
list() { awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $1}' "$1"; }
accs() { awk '{printf "%s%s", (NR > 1 ? ", " : ""), $3}' "$1"; }
sums() { awk '{printf "%s%.2f", (NR > 1 ? ", " : ""), $4}' "$1"; }

mkdir -p "$(dirname "$out")"
{
  echo "# Data-parallel training: one LeNet-5 epoch, 1 rank vs 2 ranks"
  echo
  echo "\`bash bench/data_parallel.sh\` on $(date -u +%Y-%m-%d), aimc $("$aimc" --version | cut -d' ' -f2-),"
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(getconf _NPROCESSORS_ONLN) cores;"
  echo "load average before: $load_before, after: $load_after."
  echo
  echo "LeNet-5 (ternary weights, 4-bit activations, sigma_w,train 0.3) on the 60,000 Fashion-MNIST"
  echo "training images, batch 128 (2 ranks: 64 images per rank and step), one thread per rank"
  echo "(\`--threads 1\`), \`mpirun -np 2\` over shared memory. Time of the epoch's training pass"
  echo "(the \`seconds\` of the model's history), $repeats runs each, alternately; the whole command"
  echo "adds start-up, data loading and the test on 2,000 images."
  echo
  echo "| ranks | training pass, s: runs | best | median | images/s (best) | whole command, s (median) | test accuracy, % |"
  echo "|---|---|---|---|---|---|---|"
  printf "| 1 | %s | %.2f | %.2f | %.0f | %.2f | %s |\n" "$(list "$tmp/one")" "$one_best" "$one_med" \
    "$(echo "$images / $one_best" | bc -l)" "$one_wall" "$(accs "$tmp/one")"
  printf "| 2 | %s | %.2f | %.2f | %.0f | %.2f | %s |\n" "$(list "$tmp/two")" "$two_best" "$two_med" \
    "$(echo "$images / $two_best" | bc -l)" "$two_wall" "$(accs "$tmp/two")"
  echo
  echo "Of the 2-rank training passes, rank 0 spent $(sums "$tmp/two") s in the gradient sums (one"
  echo "MPI_Allreduce of all gradients per step, waits for the other rank included)."
  echo
  printf "Speed-up of 2 ranks: **%.2fx** (best), %.2fx (median), %.2fx (whole command, median);\n" \
    "$ratio_best" "$ratio_med" "$ratio_wall"
  if [ "$verdict" -eq 1 ]; then echo "target >= 1.6x: met."; else echo "target >= 1.6x: missed."; fi
} >"$out"
cat "$out"
