#!/usr/bin/env bash
# Measures the work units of `aimc reproduce`, from which the cost of the study on N MPI ranks is
# modelled (docs/reproduce.md, docs/cluster.md): runs the paper profile under small limits once on one process
# and once on 2 ranks (timed), checks that both wrote the same figures, and writes
# bench/results/study_units.md with the wall times and, from the one-process run, the seconds of
# each kind of unit:
#   - a training epoch per image: CNN 1 (LeNet-5) and CNN 2 (ResNet-26 at the paper's width 4);
#   - a test point of Figs. 13b and 14b (per chip and image);
#   - a point of Fig. 16 (one chip of CNN 1 with exact IR drop);
#   - a step of Table I's bisections: sigma_w (the chips of CNN 2), R_ON (one IR-drop chip),
#     from a run of the quick profile's Table I alone (its shipped networks bisect for real).
#
#   bash bench/study_units.sh [BUILD_DIR] [EPOCHS] [TRAIN_IMAGES] [TEST_IMAGES]
#   (defaults: build/release 1 256 40; MPIEXEC names the launcher, default mpirun; about 10
#   minutes on 2 cores with the defaults)
set -euo pipefail
build_dir="${1:-build/release}"
epochs="${2:-1}"
train_images="${3:-256}"
test_images="${4:-40}"
aimc="$build_dir/apps/aimc/aimc"
mpiexec="${MPIEXEC:-mpirun}"
out="bench/results/study_units.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# One thread per process: the units' costs are one core's, and 2 ranks take the 2 cores.
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
study=(reproduce --profile paper --limit-epochs "$epochs" --limit-train-images "$train_images"
       --limit-test-images "$test_images")

timed() {  # timed NAME COMMAND...: runs it, log in $work/NAME.log, wall seconds printed
  local name="$1" start end
  shift
  start=$(date +%s.%N)
  # (colour codes stripped: under mpirun a rank's stderr may be a terminal)
  if ! "$@" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >"$work/$name.log"; then
    echo "$name failed:" >&2
    tail -30 "$work/$name.log" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }'
}

echo "== paper profile, 1 process (${study[*]:3})"
one=$(timed one "$aimc" "${study[@]}" --out "$work/one")
echo "   $one s"
echo "== paper profile, 2 ranks"
two=$(timed two "$mpiexec" -n 2 "$aimc" "${study[@]}" --out "$work/two")
echo "   $two s"

echo "== quick profile, Table I only (its bisections on the shipped networks)"
verdict=$(timed verdict "$aimc" reproduce --profile quick --only verdict --out "$work/verdict")
echo "   $verdict s"

# The same figures, value for value (the `seconds` column of Fig. 16 is a timing).
values() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i != "seconds") }
           { line = ""; sep = ""
             for (i = 1; i <= NF; i++) if (keep[i]) { line = line sep $i; sep = "," }
             print line }' "$1"
}
same=yes
for csv in "$work"/one/*.csv; do
  diff -q <(values "$csv") <(values "$work/two/$(basename "$csv")") >/dev/null || same=no
done
figures=$(ls "$work"/one/*.csv | wc -l)

# Numbers in the log lines (the time stamp's first); last_row reads them from the end:
#   <stem>: epoch E/N: loss L, test T %, I images in S s, X s per image
#   <net>: sigma_train A, sigma_test B: error E % +- D (C chips x I images in S s)
#   table1: sigma_w,test A: CNN 2 error E % (noise-free F %, clean-trained G %; C chips x I images in S s)
#   table1: R_ON R Ohm: CNN 1 error E % (no wires F %; 1 chip x I images in S s)
last_row() {  # last_row LOG LABEL REGEX EXPR: EXPR over m[1] (last number), m[2] (last but one), ...
  local log="$1" label="$2" regex="$3" expr="$4"
  grep -E "$regex" "$work/$log.log" | awk -v label="$label" '
    { line = $0; k = 0
      while (match(line, /[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?/)) {
        n[++k] = substr(line, RSTART, RLENGTH) + 0; line = substr(line, RSTART + RLENGTH) }
      for (i = 1; i <= k; i++) m[i] = n[k + 1 - i]
      v = '"$expr"'; sum += v; if (cnt == 0 || v < lo) lo = v; if (v > hi) hi = v; cnt++ }
    END { if (cnt) printf "| %s | %.3g | %.3g - %.3g | %d |\n", label, sum / cnt, lo, hi, cnt
          else printf "| %s | not measured | | 0 |\n", label }'
}
units=$(
  last_row one "training epoch of CNN 1 (LeNet-5), per image" \
    'info lenet5_[^ ]*: epoch [0-9]+/[0-9]+:' 'm[1]'
  last_row one "training epoch of CNN 2 (ResNet-26, width 4), per image" \
    'info resnet26_[^ ]*: epoch [0-9]+/[0-9]+:' 'm[1]'
  last_row one "test point of Fig. 13b (CNN 1, weight noise), whole point" \
    'info lenet5: sigma_train' 'm[1]'
  last_row one "test point of Fig. 13b, per chip and image" 'info lenet5: sigma_train' \
    'm[1] / (m[2] * m[3])'
  last_row one "test point of Fig. 14b (CNN 2 width 4, weight noise), whole point" \
    'info resnet26 width 4: sigma_train' 'm[1]'
  last_row one "test point of Fig. 14b, per chip and image" \
    'info resnet26 width 4: sigma_train' 'm[1] / (m[2] * m[3])'
)
# Table I's bisections, on the quick profile's shipped networks (undertrained networks of a
# limited run are within the budget at the far end: their bisections stop after one round).
steps=$(
  last_row verdict "sigma_w step (2 chips of CNN 2 width 1, weight noise), whole step" \
    'info table1: sigma_w,test' 'm[1]'
  last_row verdict "sigma_w step, per chip and image" 'info table1: sigma_w,test' \
    'm[1] / (m[2] * m[3])'
  last_row verdict "R_ON step (one chip of CNN 1 with exact IR drop), whole step" \
    'info table1: R_ON' 'm[1]'
  last_row verdict "a round (the steps of the three bisections together), its units' seconds" \
    'info table1: bisection round' 'm[1]'
)
# Fig. 16's points: its CSV's seconds column (one IR-drop chip of CNN 1 each).
irdrop=$(awk -F, -v label="Fig. 16 point (one chip of CNN 1 with exact IR drop), whole point" '
  NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") c = i; next }
  { v = $c; sum += v; if (cnt == 0 || v < lo) lo = v; if (v > hi) hi = v; cnt++ }
  END { printf "| %s | %.3g | %.3g - %.3g | %d |\n", label, sum / cnt, lo, hi, cnt }' \
  "$work/one/fig16_cnn1_error_vs_ron.csv")
# Seconds per figure (from the logs: "<id>: done in S s").
per_figure() {
  grep -E "info [a-z0-9_]+: done in" "$1" | sed -E 's/.*info ([a-z0-9_]+): done in ([0-9.]+) s.*/\1 \2/'
}
figure_rows=$(join <(per_figure "$work/one.log" | sort) <(per_figure "$work/two.log" | sort) |
  awk '{ printf "| %s | %.1f | %.1f |\n", $1, $2, $3 }')

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo "unknown")
{
  echo "# The study's work units (written by bench/study_units.sh)"
  echo
  echo "Measured $(date +%Y-%m-%d) on $(nproc --all) cores ($cpu), $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"
  echo "one thread per process (OMP_NUM_THREADS=1)."
  echo
  echo "\`aimc ${study[*]}\`, all parts (every sweep, grid, chip count and bisection step of the"
  echo "paper profile; CNN 2 is ResNet-26 at width 4 on Fashion-MNIST, CIFAR-100 being absent):"
  echo
  echo "| run | wall time | figures |"
  echo "|---|---|---|"
  echo "| 1 process | $one s | $figures |"
  echo "| \`mpirun -n 2\` | $two s | the same values as 1 process: $same |"
  echo
  echo "Seconds of each kind of unit (one core; the one-process run, $test_images test images,"
  echo "$train_images training images). A training epoch's time is its training pass (its per-epoch"
  echo "test costs as a test point of one chip); a test point is all its chips (1 at sigma_w,test = 0,"
  echo "else the plan's: 20 for Fig. 13b, 10 for Fig. 14b); a point of Fig. 16 is one chip of CNN 1"
  echo "with exact IR drop (its tiles' circuits solved once per process and pattern, then the test"
  echo "images). At few images a chip's fixed cost (drawing and folding its weights) dominates, so"
  echo "the per-image figures are upper bounds:"
  echo
  echo "| unit | mean (s) | range (s) | units measured |"
  echo "|---|---|---|---|"
  echo "$units"
  echo "$irdrop"
  echo
  echo "Table I's bisection steps, from \`aimc reproduce --profile quick --only verdict\` (the shipped"
  echo "networks: CNN 2 is ResNet-26 at width 1 on 500 test images, CNN 1 LeNet-5 on 10,000; $verdict s"
  echo "in all). A sigma_w step is the plan's chips of CNN 2 (a chip costs as in Fig. 14b at its"
  echo "width and images), an R_ON step one chip of CNN 1 with exact IR drop (as a point of Fig. 16):"
  echo
  echo "| unit | mean (s) | range (s) | units measured |"
  echo "|---|---|---|---|"
  echo "$steps"
  echo
  echo "Seconds per figure (make, as logged by rank 0):"
  echo
  echo "| figure | 1 process | 2 ranks |"
  echo "|---|---|---|"
  echo "$figure_rows"
} >"$out"
cat "$out"
