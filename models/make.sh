#!/usr/bin/env bash
# Remakes the checkpoints that the quick profile of `aimc reproduce` ships with: every network it
# uses, trained by aimc itself with exactly the study's options (seed 1), then exported without
# optimizer state. File names are the study's model stems (see src/experiment/study_models.cc),
# fine-tuned ones with a suffix naming their init model (below); a test
# (StudyModels.EveryQuickProfileNetworkIsShipped) checks that they match the quick plans.
#
#   bash models/make.sh [build/release]      about 45 minutes on 2 cores
set -euo pipefail
build_dir="${1:-build/release}"
aimc="$build_dir/apps/aimc/aimc"
work="$build_dir/models-work"
mkdir -p "$work" models
export OMP_WAIT_POLICY=PASSIVE

fnv1a64() {  # fnv1a64 FILE: aimc::HashFile's 16 hex digits (FNV-1a 64), in two 32-bit halves
  local hi=$((0xcbf29ce4)) lo=$((0x84222325)) byte t
  for byte in $(od -An -v -tu1 "$1"); do
    lo=$((lo ^ byte))
    t=$((lo * 0x1b3))  # times the prime 2^40 + 0x1b3, modulo 2^64
    hi=$(((hi * 0x1b3 + (t >> 32) + (lo << 8)) & 0xffffffff))
    lo=$((t & 0xffffffff))
  done
  printf '%08x%08x\n' "$hi" "$lo"
}

train() {  # train STEM ARGS...: train into the work folder (resumable), export into models/
  local stem="$1"
  shift
  "$aimc" train "$@" --seed 1 --out "$work/$stem.pt"
  "$aimc" export --model "$work/$stem.pt" --out "models/$stem.pt"
}

# Fig. 13b: CNN 1 (LeNet-5) on the built-in MNIST digits, sigma_w,train 0 ... 0.3, 15 epochs.
for s in 0.000 0.100 0.200 0.300; do
  train "lenet5_mnist_ternary_s${s}_e15_n0_seed1" --net lenet5 --data mnist --epochs 15 \
    --sigma-train "$s" --augment
done
# Fig. 16 and Table I's R_ON spec: CNN 1 on Fashion-MNIST (10,000 test images), 25 epochs, no
# shifts.
train lenet5_fashion-mnist_ternary_s0.000_e25_n0_seed1 --net lenet5 --data fashion-mnist \
  --epochs 25
# Fig. 14b and Table I's sigma_w spec: CNN 2 (ResNet-26, width 1) on 8,000 Fashion-MNIST
# training images, tested on the first 1,000 test images after every epoch. The clean network
# trains for 6 epochs; the noisy ones are fine-tuned from it (hardware-aware fine-tuning, see
# docs/train.md): 4 epochs of batches of 32 at learning rate 0.001 with sigma_w,train noise.
# Trained from scratch in 6 epochs instead, their noise-free error on the figure's 500 test
# images was 4.4 and 10.8 points above the clean network's; fine-tuned, it is 1.4 points below
# and 0.6 above (docs/train.md).
# A fine-tuned model's stem is the study's stem plus "_ft" and the first 8 hex digits of the
# content hash of its init model's file (aimc::HashFile): retraining the clean network renames
# the fine-tuned ones.
cnn2=(--net resnet26 --data fashion-mnist --train-subset 8000 --test-subset 1000 --augment)
clean=resnet26_fashion-mnist_ternary_s0.000_e6_n8000_seed1
train "$clean" "${cnn2[@]}" --epochs 6 --sigma-train 0.000
ft="ft$(fnv1a64 "models/$clean.pt" | cut -c1-8)"
for s in 0.150 0.300; do
  train "resnet26_fashion-mnist_ternary_s${s}_e4_n8000_seed1_$ft" "${cnn2[@]}" --epochs 4 \
    --batch-size 32 --lr 0.001 --sigma-train "$s" --init-from "models/$clean.pt"
done
ls -l models/*.pt
