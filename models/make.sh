#!/usr/bin/env bash
# Remakes the checkpoints that the quick profile of `aimc reproduce` ships with: every network it
# uses, trained by aimc itself with exactly the study's options (seed 1), then exported without
# optimizer state. File names are the study's model stems (see src/experiment/study_models.cc);
# a test (StudyModels.EveryQuickProfileNetworkIsShipped) checks that they match the quick plans.
#
#   bash models/make.sh [build/release]      about 45 minutes on 2 cores
set -euo pipefail
build_dir="${1:-build/release}"
aimc="$build_dir/apps/aimc/aimc"
work="$build_dir/models-work"
mkdir -p "$work" models
export OMP_WAIT_POLICY=PASSIVE

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
# training images, 6 epochs, tested on the first 1,000 test images.
for s in 0.000 0.150 0.300; do
  train "resnet26_fashion-mnist_ternary_s${s}_e6_n8000_seed1" --net resnet26 \
    --data fashion-mnist --epochs 6 --train-subset 8000 --test-subset 1000 --sigma-train "$s" --augment
done
ls -l models/*.pt
