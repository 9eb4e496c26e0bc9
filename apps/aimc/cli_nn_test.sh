#!/usr/bin/env bash
# End-to-end workflows of the LibTorch commands (aimc-torch): energy per inference, calibrated and
# IR-drop-aware chips, multi-level weights, and a TorchScript network imported, swept, fine-tuned
# and costed. They train and test networks, so they take minutes: the sanitizer stage leaves them
# out (the refusals of the same commands stay in cli_test.sh, which it runs).
#   cli_nn_test.sh AIMC
set -u
aimc="$1"
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

if ! "$aimc" help train >/dev/null 2>&1; then
  echo "aimc was built without LibTorch: nothing to test"; exit 1
fi
model=models/lenet5_mnist_ternary_s0.000_e15_n0_seed1.pt
head -c 5000 "$model" >"$tmp/cut.pt"

# Energy per inference: the breakdown with every part and its source, the JSON and its
# manifest agree, and a higher R_ON draws less in the arrays.
"$aimc" energy --model "$model" --card sot_mram --wires layout22nm --images 8 --split-mvms 2 \
  --json "$tmp/cost.json" >"$tmp/stdout" 2>&1
check "energy: runs" test $? -eq 0
check "energy: prints the arrays' exact energy and its split" \
  grep -q "in the devices .* split from 2 full solve" "$tmp/stdout"
check "energy: prints ADCs, DACs, digital and sources" bash -c \
  "grep -q '^  ADCs' '$tmp/stdout' && grep -q '^  DACs' '$tmp/stdout' && grep -q 'Horowitz' '$tmp/stdout'"
check "energy: area from the card's cell and write cost" bash -c \
  "grep -q '^area: .* mm^2' '$tmp/stdout' && grep -q '^writing the weights: .* devices' '$tmp/stdout'"
check "energy: JSON and manifest" bash -c \
  "grep -q '\"tops_per_w\"' '$tmp/cost.json' && grep -q '\"aimc energy\"' '$tmp/cost.manifest.json'"
"$aimc" energy --model "$model" --card sot_mram --r-on 1.5e7 --wires layout22nm --images 8 \
  --json "$tmp/cost15.json" >"$tmp/stdout" 2>&1
check "energy: an old flag name works and says which replaced it" \
  grep -q -- "--r-on is now --r-on-ohm" "$tmp/stdout"
check "energy: the chip in the manifest has the R_ON of the old flag" \
  grep -Eq '"r_on_ohm": ?(15000000|1\.5e\+?07)' "$tmp/cost15.manifest.json"
array_j() { sed -n 's/^ *"array": \([0-9.eE+-]*\),*$/\1/p' "$1" | head -1; }
low=$(array_j "$tmp/cost.json")
high=$(array_j "$tmp/cost15.json")
check "energy: 15 MOhm draws less than 6 MOhm in the arrays (${high:-?} < ${low:-?})" \
  awk -v a="${high:-1}" -v b="${low:-0}" 'BEGIN { exit !(a < b) }'
"$aimc" test --model "$model" --card sot_mram --wire-ohm 20 --calibration-images 32 \
  --test-subset 50 --chips 1 >"$tmp/stdout" 2>&1
check "test --calibration-images: runs and says so" grep -q "calibrated per column on 32 images" \
  "$tmp/stdout"
# Both mitigations together: an IR-drop-aware model, then calibrated chips of it.
"$aimc" train --net lenet5 --data fashion-mnist --epochs 1 --train-subset 64 --test-subset 32 \
  --ir-aware-card sot_mram --ir-aware-r-on-ohm 1.5e6 --ir-aware-wire-ohm 20 --ir-aware-every 1 \
  --out "$tmp/ir.pt" >"$tmp/stdout" 2>&1
check "train --ir-aware: runs" test $? -eq 0
"$aimc" test --model "$tmp/ir.pt" --card sot_mram --r-on-ohm 1.5e6 --wire-ohm 20 \
  --calibration-images 32 --test-subset 50 --chips 1 >"$tmp/stdout" 2>&1
check "test --calibration-images of an IR-aware model: aims at its trained product" \
  grep -q "trained IR-drop-aware: calibration aims at the product it was trained" "$tmp/stdout"
rm -f "$tmp/ir.pt"
# Multi-level weights: 5 levels trained, then on chips of a card with 3 levels per device.
"$aimc" train --net lenet5 --data fashion-mnist --epochs 1 --train-subset 64 --test-subset 32 \
  --weight-levels 5 --sigma-train 0.1 --out "$tmp/mlc.pt" >"$tmp/stdout" 2>&1
check "train --weight-levels 5: runs" test $? -eq 0
sed -e 's/^name = "PCM, multi-level"/name = "pcm3"/' -e 's/^levels = 8/levels = 3/' \
  "$(dirname "${BASH_SOURCE[0]}")/../../configs/devices/pcm_mlc.toml" >"$tmp/pcm3.toml"
"$aimc" test --model "$tmp/mlc.pt" --card "$tmp/pcm3.toml" --wire-ohm 20 --time-s 1e6 \
  --test-subset 50 --chips 1 >"$tmp/stdout" 2>&1
check "test of a 5-level model on a 3-level card with wires and drift: runs" test $? -eq 0
refused "a 5-level model on a card of two levels" "holds 2 conductance levels per device, 3 needed" \
  "$aimc" test --model "$tmp/mlc.pt" --card pcm --test-subset 10 --chips 1
refused "an even number of weight levels" "weight_levels must be 0 (continuous) or odd" \
  "$aimc" train --weight-levels 4 --epochs 1 --out "$tmp/mlc4.pt"
refused "IR-aware wires without a card" "need --ir-aware-card" \
  "$aimc" train --ir-aware-wire-ohm 5 --out "$tmp/ir.pt"
refused "IR-aware rebuild period 0" "rebuild_every_steps must be in" \
  "$aimc" train --ir-aware-card sot_mram --ir-aware-every 0 --out "$tmp/ir.pt"
refused "calibration without a card" "calibration_images = 8 needs a card" \
  "$aimc" test --model "$model" --calibration-images 8
# Bring your own network: a TorchScript file imported on the fly (docs/byo.md).
refused "a file that is no TorchScript model" "$tmp/cut.pt: not a TorchScript model" \
  "$aimc" test --torchscript "$tmp/cut.pt" --data fashion-mnist --test-subset 10 --chips 1
refused "--torchscript without --data" "--torchscript and --data go together" \
  "$aimc" test --torchscript "$tmp/cut.pt"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/../../src/nn/testdata/make_torchscript.py" \
    "$tmp/ts" >/dev/null 2>&1
  "$aimc" test --torchscript "$tmp/ts/lenet.pt" --data fashion-mnist --import-images 32 \
    --card sot_mram --wire-ohm 20 --test-subset 20 --chips 1 >"$tmp/stdout" 2>&1
  check "test --torchscript: maps every layer and runs on a chip with wires" bash -c \
    "grep -q '^15 (Linear): analog, threshold ratio' '$tmp/stdout' && grep -q 'accuracy mean' '$tmp/stdout'"
  "$aimc" test --torchscript "$tmp/ts/mixed.pt" --data fashion-mnist --import-images 32 \
    --test-subset 20 --chips 1 >"$tmp/stdout" 2>&1
  check "test --torchscript: a grouped conv goes on arrays" \
    grep -q "^2 (Conv2d): analog" "$tmp/stdout"
  "$aimc" import --torchscript "$tmp/ts/lenet.pt" --data fashion-mnist --import-images 32 \
    --weight-levels continuous --test-subset 20 --out "$tmp/lenet_cont.pt" >"$tmp/stdout" 2>&1 &&
    "$aimc" test --model "$tmp/lenet_cont.pt" --card pcm --test-subset 20 --chips 1 \
      >>"$tmp/stdout" 2>&1
  check "continuous weights: import, then PCM chips" grep -q "accuracy mean" "$tmp/stdout"
  refused "continuous weights on an MTJ card" "card 'SOT-MRAM' has no analog states" \
    "$aimc" test --model "$tmp/lenet_cont.pt" --card sot_mram --test-subset 10 --chips 1
  # docs/byo.md's path: import once, then the model file goes wherever a trained one goes.
  "$aimc" import --torchscript "$tmp/ts/mixed.pt" --data fashion-mnist --import-images 32 \
    --test-subset 50 --out "$tmp/mixed_aimc.pt" >"$tmp/stdout" 2>&1
  check "import: saves a model file, names the digital layers, maps the signed Linear, prints the float module's accuracy" bash -c \
    "test -s '$tmp/mixed_aimc.pt' && grep -q '^2 (Conv2d): analog' '$tmp/stdout' && grep -q '4 weight layers (4 analog), digital accuracy .* (the float module: ' '$tmp/stdout' && grep -q '^8 (Linear): analog' '$tmp/stdout'"
  cat >"$tmp/byo.toml" <<TOML
name = "byo"
models = ["$tmp/mixed_aimc.pt"]
cards = ["sot_mram"]
test_images = 50
[axes]
r_on_ohm = [2e6, 6e6]
wire_ohm = [0.0, 20.0]
TOML
  "$aimc" sweep "$tmp/byo.toml" --out "$tmp/byo.csv" --plot r_on_ohm >"$tmp/stdout" 2>&1
  check "sweep of an imported model: 4 points" bash -c "test \$(wc -l <'$tmp/byo.csv') -eq 5"
  check "sweep --plot: the figure's CSV and manifest, 2 curves of 2 points" bash -c \
    "test -s '$tmp/byo_r_on_ohm.json' && test \$(wc -l <'$tmp/byo_r_on_ohm.csv') -eq 5 && grep -q '4 points of 2 curve' '$tmp/stdout'"
  refused "sweep --plot of an unknown axis" "--plot 'chip' is none of" \
    "$aimc" sweep "$tmp/byo.toml" --out "$tmp/byo.csv" --plot chip
  "$aimc" train --init-from "$tmp/mixed_aimc.pt" --data fashion-mnist --epochs 1 \
    --train-subset 256 --test-subset 50 --sigma-train 0.3 --lr 1e-4 --out "$tmp/mixed_ft.pt" \
    >"$tmp/stdout" 2>&1
  check "train --init-from an import: fine-tunes it with its own network" bash -c \
    "grep -q 'mixed_ft.pt: 1 epochs' '$tmp/stdout'"
  "$aimc" energy --model "$tmp/mixed_ft.pt" --card sot_mram --images 10 >"$tmp/stdout" 2>&1
  check "energy of an imported model" grep -qi "per inference" "$tmp/stdout"
  # TorchScript straight into train and sweep: imported first, on one thread.
  ts_train=("$aimc" train --torchscript "$tmp/ts/lenet.pt" --data fashion-mnist --epochs 1
    --train-subset 256 --test-subset 50 --import-images 32 --weight-levels 5 --sigma-train 0.1
    --lr 1e-4 --out "$tmp/ts_ft.pt")
  "${ts_train[@]}" >"$tmp/stdout" 2>&1
  check "train --torchscript: imports (5 levels), then fine-tunes" bash -c \
    "test -s '$tmp/ts_ft_import.pt' && grep -q 'ts_ft.pt: 1 epochs' '$tmp/stdout'"
  "${ts_train[@]}" >"$tmp/stdout" 2>&1
  check "train --torchscript again: the same import, the training resumes as done" \
    grep -q 'ts_ft.pt: 1 epochs' "$tmp/stdout"
  refused "train --torchscript with --net" "--net does not apply to --torchscript" \
    "$aimc" train --torchscript "$tmp/ts/lenet.pt" --net lenet5 --out "$tmp/ts_x.pt"
  cat >"$tmp/byo_ts.toml" <<TOML
name = "byo_ts"
torchscript = ["$tmp/ts/lenet.pt"]
dataset = "fashion-mnist"
cards = ["sot_mram"]
test_images = 50
[import]
import_images = 32
[axes]
wire_ohm = [0.0, 20.0]
TOML
  "$aimc" sweep "$tmp/byo_ts.toml" --out "$tmp/byo_ts.csv" >"$tmp/stdout" 2>&1
  check "sweep of a TorchScript file: imported beside the result, 2 points" bash -c \
    "test -s '$tmp/byo_ts_imports/lenet.pt' && test \$(wc -l <'$tmp/byo_ts.csv') -eq 3"
  "$aimc" sweep "$tmp/byo_ts.toml" --out "$tmp/byo_ts.csv" >"$tmp/stdout" 2>&1
  rc=$?
  check "sweep of a TorchScript file again: the same import, nothing to redo" bash -c \
    "test $rc -eq 0 && test \$(wc -l <'$tmp/byo_ts.csv') -eq 3"
  grep -v '^dataset' "$tmp/byo_ts.toml" >"$tmp/byo_ts_nodata.toml"
  refused "sweep of a TorchScript file without dataset" "an import needs \`dataset\`" \
    "$aimc" sweep "$tmp/byo_ts_nodata.toml" --out "$tmp/byo_ts2.csv"
fi

echo "$(( total - fails )) passed, $fails failed"
test "$fails" -eq 0
