#!/usr/bin/env bash
# The paper profile as work units, for the cost model (bench/cost_model.sh): how many units of
# each kind `aimc reproduce --profile paper` runs, stage by stage, and what each costs on one core
# of this machine, from the per-unit seconds measured by bench/study_units.sh
# (bench/results/study_units.md). Writes bench/results/paper_units.csv and
# bench/results/cost_model.md.
#
# Counts are the paper profile's plans (src/paper/noise_grid.cc Fig13bPlan/Fig14bPlan,
# src/paper/irdrop.cc Fig16Plan, configs/experiments/table1.toml) with the data sets at full
# size: MNIST 60,000 / 10,000 images (the user's, --data-dir), CIFAR-100 50,000 / 10,000.
# CNN 2 was measured on 28x28 Fashion-MNIST (CIFAR-100 is not on this machine); its costs are
# scaled by (32x32)/(28x28), the ratio of convolution positions.
# Usage: bash bench/paper_units.sh [cores_per_node]
set -euo pipefail
cores="${1:-32}"
measured="bench/results/study_units.md"
out="bench/results"
[ -f "$measured" ] || { echo "paper_units: run bench/study_units.sh first ($measured)" >&2; exit 1; }

unit() {  # the mean seconds of the unit whose label starts with $1
  local v
  v=$(grep -F "| $1" "$measured" | head -1 | awk -F'|' '{gsub(/ /, "", $3); print $3}')
  [ -n "$v" ] || { echo "paper_units: no unit '$1' in $measured" >&2; exit 1; }
  echo "$v"
}
cnn1_train=$(unit "training epoch of CNN 1 (LeNet-5), per image")
cnn2_train=$(unit "training epoch of CNN 2 (ResNet-26, width 4), per image")
cnn1_chip=$(unit "test point of Fig. 13b, per chip and image")
cnn2_chip=$(unit "test point of Fig. 14b, per chip and image")
ir_chip=$(unit "R_ON step (one chip of CNN 1 with exact IR drop), whole step")
device_s=$(grep -E "^\| fig(04|08|10|11|15)" "$measured" | awk -F'|' '{s += $3} END {print s}')

awk -v c1t="$cnn1_train" -v c2t="$cnn2_train" -v c1c="$cnn1_chip" -v c2c="$cnn2_chip" \
    -v ir="$ir_chip" -v dev="$device_s" 'BEGIN {
  cifar = (32 * 32) / (28 * 28)
  c2t *= cifar; c2c *= cifar
  # Trainings also give their global batch, their steps (epochs x batches) and their network,
  # for data-parallel training on groups of ranks (bench/cost_model.py).
  print "stage,unit,count,seconds,batch,steps,kind"
  # Device and circuit figures: every rank computes them (seconds).
  printf "device_circuit,figures,1,%.6g,,,\n", dev
  # Fig. 13b: 9 LeNet-5 trainings, 30 epochs of 60,000 images, each epoch tested on 10,000.
  printf "fig13b_train,cnn1 training,9,%.6g,128,%d,cnn1\n", 30 * (60000 * c1t + 10000 * c1c), 30 * 469
  # 9 networks x 9 sigma_w,test: 1 chip at 0, 20 chips elsewhere, 10,000 images each.
  printf "fig13b_test,point 1 chip,9,%.6g,,,\n", 10000 * c1c
  printf "fig13b_test,point 20 chips,72,%.6g,,,\n", 20 * 10000 * c1c
  # Fig. 14b: the clean ResNet-26 (width 4), 60 epochs of 50,000; then 5 fine-tuned, 15 epochs.
  printf "fig14b_clean,cnn2 training,1,%.6g,128,%d,cnn2\n", 60 * (50000 * c2t + 10000 * c2c), 60 * 391
  printf "fig14b_finetune,cnn2 fine-tuning,5,%.6g,128,%d,cnn2\n", 15 * (50000 * c2t + 10000 * c2c), 15 * 391
  # 6 networks x 7 sigma_w,test: 1 chip at 0, 10 chips elsewhere.
  printf "fig14b_test,point 1 chip,6,%.6g,,,\n", 10000 * c2c
  printf "fig14b_test,point 10 chips,36,%.6g,,,\n", 10 * 10000 * c2c
  # Fig. 16: LeNet-5 40 epochs, then 10 R_ON x 3 wire scales (+1 without wires), one chip each.
  printf "fig16_train,cnn1 training,1,%.6g,128,%d,cnn1\n", 40 * (60000 * c1t + 10000 * c1c), 40 * 469
  printf "fig16_points,IR-drop chip,31,%.6g,,,\n", ir
  # Table I: 5 bisection rounds; a round: 2 chips per sigma_w reading (2 readings) of CNN 2,
  # and one IR-drop chip of CNN 1 per R_ON reading (2).
  for (r = 1; r <= 5; r++) {
    printf "table1_round%d,cnn2 chip,4,%.6g,,,\n", r, 10000 * c2c
    printf "table1_round%d,IR-drop chip,2,%.6g,,,\n", r, ir
  }
}' > "$out/paper_units.csv"

{
  echo "# Predicted wall time of \`aimc reproduce --profile paper\`"
  echo
  echo "From bench/results/paper_units.csv (bench/paper_units.sh: the paper profile's units, each"
  echo "costed from bench/results/study_units.md, one core of a 2-core AMD EPYC VM), nodes of"
  echo "$cores cores, one rank of one thread per core, 5 s of start-up per stage. Stages (figures,"
  echo "and CNN 2's fine-tuning after its clean network) run one after another. A stage's"
  echo "trainings share the ranks as the study does: one whose work is more than a rank's share"
  echo "trains data-parallel on a group of ranks (a batch of 128 gives a rank 16 images at least for"
  echo "LeNet-5, 4 for ResNet-26: at most 8 and 32 ranks),"
  echo "the others side by side; its time on k ranks scales by the measured cost per image at its"
  echo "shard (bench/results/shard_size.csv) and the 2-rank efficiency apart from the gradient sums,"
  echo "plus a ring all-reduce of its gradients every step over an assumed 10 GB/s, 5 us network"
  echo "(bench/cost_model.py). Other units are handed out longest first, one rank each."
  echo
  python3 bench/cost_model.py "$out/paper_units.csv" "$cores" 5 --detail
  echo
  echo "Longest single units on one core (what data-parallel training divides):"
  echo
  echo "| stage | unit | seconds |"
  echo "|---|---|---|"
  awk -F, 'NR > 1 && $4 > 3600 { printf "| %s | %s | %.0f (%.1f h) |\n", $1, $2, $4, $4 / 3600 }' \
    "$out/paper_units.csv"
} > "$out/cost_model.md"
cat "$out/cost_model.md"
