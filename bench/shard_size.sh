#!/usr/bin/env bash
# What a rank of a data-parallel training costs per image at the shard it gets: a batch of 128
# over k ranks gives each 128 / k images per step (2 at 64 ranks, the most BatchNorm allows).
# Trains one epoch on one thread with the batch size set to each shard size, for CNN 1 (LeNet-5)
# and CNN 2 (ResNet-26 at the paper's width 4), on Fashion-MNIST, and takes the training pass's
# seconds per image from the model file's history; records the bytes of the gradients that a
# step sums over the ranks (4 per parameter). The cost model (bench/cost_model.py) scales a
# training on k ranks by the cost per image at its shard against that at the full batch.
# Writes bench/results/shard_size.csv.
#   bash bench/shard_size.sh [BUILD_DIR] [CNN2_IMAGES]   (about 7 minutes on one core)
set -euo pipefail
build_dir="${1:-build/release}"
cnn2_images="${2:-640}"
aimc="$build_dir/apps/aimc/aimc"
out=bench/results/shard_size.csv
[ -x "$aimc" ] || { echo "no $aimc: build first (cmake --build --preset release)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE

# pass NET IMAGES BATCH [ARGS...]: the training pass's seconds per image.
pass() {
  local net="$1" images="$2" batch="$3"
  shift 3
  rm -f "$tmp/m.pt"
  "$aimc" train --net "$net" --data fashion-mnist --epochs 1 --sigma-train 0.3 \
    --batch-size "$batch" --train-subset "$images" --test-subset 2 --threads 1 "$@" \
    --out "$tmp/m.pt" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
  local seconds
  seconds=$(unzip -p "$tmp/m.pt" '*/data.pkl' | grep -ao '"seconds":[0-9.e+-]*' | head -1 | cut -d: -f2)
  [ -n "$seconds" ] || { echo "no epoch time in the model file" >&2; exit 1; }
  awk -v s="$seconds" -v n="$images" 'BEGIN { printf "%.6g", s / n }'
}

# The parameters' count of a trained model (every float tensor the network trains).
parameters() {
  /usr/bin/python3 - "$1" <<'PY'
import sys, torch
m = torch.jit.load(sys.argv[1])
print(sum(p.numel() for n, p in m.named_parameters() if p.dtype == torch.float32))
PY
}

echo "kind,shard_images,seconds_per_image,gradient_bytes" >"$tmp/out.csv"
for kind in cnn1 cnn2; do
  if [ "$kind" = cnn1 ]; then net=(lenet5); images=4096; else net=(resnet26 --width 4); images="$cnn2_images"; fi
  for b in 128 64 32 16 8 4 2; do
    s=$(pass "${net[0]}" "$images" "$b" "${net[@]:1}")
    n=$(parameters "$tmp/m.pt")
    [ -n "$n" ] || { echo "no parameter count" >&2; exit 1; }
    bytes=$((4 * n))
    echo "$kind,$b,$s,$bytes" | tee -a "$tmp/out.csv"
  done
done
mv "$tmp/out.csv" "$out"
echo "wrote $out"
