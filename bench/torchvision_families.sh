#!/usr/bin/env bash
# torchvision's classification families on aimc chips: each model (num_classes 10, Fashion-MNIST
# resized to 3 x SIZE x SIZE) imported with `aimc import` and tested on SOT-MRAM chips with the
# 22 nm layout's wires. Writes OUT/families.md, the table of docs/byo.md.
#
#   bash bench/torchvision_families.sh AIMC OUT [train_steps] [families] [test_images]
#
# AIMC: the aimc binary; OUT: a scratch folder. train_steps: Adam steps (batch 64) in PyTorch
# before the export (0: torchvision's random initialization, a coverage run). Times are wall
# seconds on this machine.
set -euo pipefail
aimc=$(readlink -f "$1")
out=$2
steps=${3:-0}
families=${4:-}
test_images=${5:-200}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
args=("$out" --train-steps "$steps" --test-images 1000)
[ -n "$families" ] && args+=(--families "$families")
/usr/bin/python3 "$here/torchvision_families.py" "${args[@]}" > "$out/export.log" 2>&1
table="$out/families.md"
{
  echo "| family | input | weight layers on arrays / all | form | float | imported (digital) | one SOT-MRAM chip, 22 nm wires | import s | chip s |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$table"
/usr/bin/python3 -c 'import json,sys; [print(l["family"], l["file"], l["data_dir"], l["size"]) for l in json.load(open(sys.argv[1]))]' \
  "$out/families.json" | while read -r family file data size; do
  model="$out/${family}_aimc.pt"
  start=$(date +%s.%N)
  if ! "$aimc" import --torchscript "$file" --data npy --data-dir "$data" --import-images 64 \
      --test-subset "$test_images" --threads 2 --out "$model" > "$out/$family.import.log" 2>&1; then
    echo "| $family | $size | refused: $(tail -1 "$out/$family.import.log" | cut -c1-120) | | | | | | |" >> "$table"
    continue
  fi
  mid=$(date +%s.%N)
  summary=$(grep ' imported, ' "$out/$family.import.log" | tail -1)
  layers=$(sed -E 's/.* ([0-9]+) weight layers \(([0-9]+) analog\).*/\2 \/ \1/' <<< "$summary")
  digital=$(sed -E 's/.*digital accuracy ([0-9.]+) %.*/\1 %/' <<< "$summary")
  float=$(sed -E 's/.*the float module: ([0-9.]+) %.*/\1 %/' <<< "$summary")
  form=$(grep -q 'the module runs as it is' "$out/$family.import.log" && echo module || echo steps)
  if "$aimc" test --model "$model" --data-dir "$data" --card sot_mram --wires layout22nm \
      --chips 1 --test-subset "$test_images" --threads 2 > "$out/$family.test.log" 2>&1; then
    chip=$(grep -Eo '[0-9.]+ %' "$out/$family.test.log" | head -1)
  else
    chip="failed: $(tail -1 "$out/$family.test.log" | cut -c1-100)"
  fi
  end=$(date +%s.%N)
  printf '| %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f |\n' "$family" "3x${size}x${size}" \
    "$layers" "$form" "$float" "$digital" "$chip" "$(echo "$mid - $start" | bc)" \
    "$(echo "$end - $mid" | bc)" >> "$table"
  tail -1 "$table"
done
