#!/usr/bin/env bash
# The paper profile on a user's copies of the paper's data sets, in their published layouts:
#  - MNIST as distributed (IDX, gzip): train-images-idx3-ubyte.gz with 60,000 images of 28 x 28
#    (magic 0x00000803, then count, rows, columns as big-endian 32-bit), train-labels-idx1-ubyte.gz
#    (magic 0x00000801, count), and the 10,000-image t10k files;
#  - CIFAR-100's binary version as its archive unpacks: cifar-100-binary/train.bin (50,000
#    records) and test.bin (10,000), each record a coarse label byte, a fine label byte, then
#    3,072 pixel bytes (1,024 red, 1,024 green, 1,024 blue, rows of 32).
# Pixels and labels are random (the files' layout is under test, not the accuracy). The study
# reads them whole, trains CNN 1 on MNIST and CNN 2 (width 4) on CIFAR-100's 100 fine classes
# under tiny limits, and names both as the user's data; a damaged file is refused by name.
#   paper_data_test.sh AIMC
set -u
aimc="$1"
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

data="$tmp/data"
/usr/bin/python3 - "$data" <<'PY'
import gzip, os, sys
import numpy as np

root = sys.argv[1]
rng = np.random.default_rng(1)
os.makedirs(os.path.join(root, "cifar-100-binary"))

def idx(path, magic, dims, payload):
    with gzip.open(path, "wb") as f:
        f.write(np.array([magic, *dims], dtype=">u4").tobytes())
        f.write(payload.tobytes())

for stem, n in (("train", 60000), ("t10k", 10000)):
    idx(os.path.join(root, f"{stem}-images-idx3-ubyte.gz"), 0x803, (n, 28, 28),
        rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    idx(os.path.join(root, f"{stem}-labels-idx1-ubyte.gz"), 0x801, (n,),
        rng.integers(0, 10, n, dtype=np.uint8))

for name, n in (("train.bin", 50000), ("test.bin", 10000)):
    fine = rng.integers(0, 100, n, dtype=np.uint8)
    records = np.empty((n, 2 + 3072), dtype=np.uint8)
    records[:, 0] = fine // 5  # a coarse class per 5 fine ones (the layout, not CIFAR's map)
    records[:, 1] = fine
    records[:, 2:] = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    records.tofile(os.path.join(root, "cifar-100-binary", name))
PY
check "NumPy wrote the data files" test -s "$data/cifar-100-binary/train.bin"

paper=(reproduce --profile paper --data-dir "$data" --limit-epochs 1 --limit-train-images 32
       --limit-test-images 8 --only training resnet)
"$aimc" "${paper[@]}" --out "$tmp/out" >"$tmp/log" 2>&1
rc=$?
check "paper profile on the user's MNIST and CIFAR-100: runs" test "$rc" -eq 0
check "CNN 1 trained on the user's MNIST" \
  bash -c "ls '$tmp/out/models' | grep -q '^lenet5_mnist_ternary_.*_userdata\.pt$'"
check "CNN 2 (width 4) trained on the user's CIFAR-100" \
  bash -c "ls '$tmp/out/models' | grep -q '^resnet26_cifar100_ternary_.*_w4_userdata\.pt$'"
check "Fig. 14b names CIFAR-100 at the paper's width" grep -q "cifar100 (width 4)" "$tmp/out/report.md"
check "Fig. 13b and 14b are written" bash -c \
  "test -s '$tmp/out/fig13b_cnn1_error_vs_sigma.csv' && test -s '$tmp/out/fig14b_cnn2_error_vs_sigma.csv'"
check "Fig. 14b's manifest names the data CIFAR-100" /usr/bin/python3 -c \
  "import json, sys; sys.exit(json.load(open(sys.argv[1]))['inputs']['data']['name'] != 'cifar100')" \
  "$tmp/out/fig14b_cnn2_error_vs_sigma.json"
[ "$rc" -eq 0 ] || tail -20 "$tmp/log"

# A CIFAR-100 file cut short by one byte, and MNIST's files mixed up: the part
# that reads it fails (exit 2), its log line and report.md name the file and the cause.
failed_naming() {  # failed_naming NAME PATTERN OUT_DIR COMMAND...
  local name="$1" pattern="$2" out="$3"; shift 3
  "$@" >"$tmp/stdout" 2>&1
  local rc=$?
  check "$name exits 2" test "$rc" -eq 2
  check "$name: the log names the file and the cause" grep -Eq -- "$pattern" "$tmp/stdout"
  check "$name: report.md too" grep -Eq -- "$pattern" "$out/report.md"
}
head -c $((50000 * 3074 - 1)) "$data/cifar-100-binary/train.bin" >"$tmp/cut.bin"
mv "$tmp/cut.bin" "$data/cifar-100-binary/train.bin"
failed_naming "a truncated CIFAR-100 file" \
  "train.bin: 153699999 bytes is not a whole number of 3074-byte CIFAR-100 records" "$tmp/cut" \
  "$aimc" "${paper[@]}" --only resnet --out "$tmp/cut"
cp "$data/t10k-images-idx3-ubyte.gz" "$data/t10k-labels-idx1-ubyte.gz"
failed_naming "MNIST's test images where its labels belong" \
  "t10k-labels-idx1-ubyte.gz: holds images, expected labels" \
  "$tmp/swapped" "$aimc" "${paper[@]}" --only training --out "$tmp/swapped"

echo "$((total - fails)) of $total checks passed"
[ "$fails" -eq 0 ]
