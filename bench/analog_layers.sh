#!/usr/bin/env bash
# Networks trained in PyTorch on the arrays: a float LeNet-5 with continuous weights on PCM chips
# (each weight its own conductance; beside it the same network ternary and 15-level), and a small
# vision transformer whose attention and MLP Linear layers go on SOT-MRAM arrays with signed
# inputs, without and with the 22 nm layout's wires. Writes OUT/analog_layers.md (docs/byo.md).
#
#   bash bench/analog_layers.sh AIMC OUT [epochs] [chips] [test_images]
#
# AIMC: the aimc binary; OUT: a scratch folder; epochs: PyTorch training epochs (Adam on the
# 60,000 Fashion-MNIST training images); chips: Monte-Carlo chips per row; test_images: the first
# N test images (0: all 10,000).
set -euo pipefail
aimc=$(readlink -f "$1")
out=$2
epochs=${3:-2}
chips=${4:-5}
test_images=${5:-0}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
[ -s "$out/models.json" ] ||
  /usr/bin/python3 "$here/pytorch_models.py" "$out" --epochs "$epochs" > "$out/train.log" 2>&1
# The float module's accuracy that `aimc import` prints, on the same test images.
float_of() { sed -nE 's/.*\(the float module: ([0-9.]+) %\).*/\1 %/p' "$1" | tail -1; }
mean_of() { sed -nE 's/.*accuracy mean ([0-9.]+) %, std ([0-9.]+) %.*/\1 % (std \2 %)/p' "$1" | tail -1; }
imported_of() { sed -nE 's/.*digital accuracy ([0-9.]+) %.*/\1 %/p' "$1" | tail -1; }
table="$out/analog_layers.md"
{
  echo "| network | weights | card | wires | float module | imported (digital) | chips: accuracy mean (std) |"
  echo "|---|---|---|---|---|---|---|"
} > "$table"
row() {  # name file levels card wires(flag words) wires(text) extra-import-flags...
  local name=$1 file=$2 levels=$3 card=$4 wires=$5 wires_text=$6
  shift 6
  local model="$out/${name}_${levels}.pt"
  if [ ! -s "$model" ]; then
    "$aimc" import --torchscript "$out/$file" --data fashion-mnist --weight-levels "$levels" \
      --test-subset "$test_images" --threads 2 "$@" --out "$model" > "$model.import.log" 2>&1
  fi
  local log="$out/${name}_${levels}_${card}_${wires_text// /_}.test.log"
  # shellcheck disable=SC2086
  "$aimc" test --model "$model" --card "$card" $wires --chips "$chips" \
    --test-subset "$test_images" --threads 2 > "$log" 2>&1
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$levels" "$card" "$wires_text" \
    "$(float_of "$model.import.log")" "$(imported_of "$model.import.log")" "$(mean_of "$log")" >> "$table"
  tail -1 "$table"
}
row lenet5 lenet5_float.pt continuous pcm "" "none" --act-bits 8
row lenet5 lenet5_float.pt 15 pcm_mlc "" "none" --act-bits 8
row lenet5 lenet5_float.pt 3 pcm "" "none" --act-bits 8
row lenet5 lenet5_float.pt continuous pcm "--wires layout22nm" "22 nm layout" --act-bits 8
row vit_tiny vit_tiny.pt 3 sot_mram "" "none"
row vit_tiny vit_tiny.pt 3 sot_mram "--wires layout22nm" "22 nm layout"
row vit_tiny vit_tiny.pt continuous pcm "" "none"
row vit_tiny vit_tiny.pt continuous pcm "--wires layout22nm" "22 nm layout"
