#!/usr/bin/env bash
# End-to-end checks of the aimc command line: version, help, and that bad input gets a clear
# error naming the file and field, with a non-zero exit and no half-written result.
# The LibTorch commands' workflows (energy, trainings, imports, sweeps) are in cli_nn_test.sh.
#   cli_test.sh AIMC torch|core   (core: built without LibTorch)
set -u
aimc="$1"
build="${2:-torch}"
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"

out=$("$aimc" --version)
check "version names the git revision" grep -q "aimc .* (git " <<<"$out"
check "help of a subcommand" bash -c "'$aimc' help map spec | grep -q -- --sigma-w"
"$aimc" --help >"$tmp/help"
check "help lists the circuit commands" grep -q "^ *xbar " "$tmp/help"
check "help lists reproduce" grep -q "^ *reproduce " "$tmp/help"
if [ "$build" = torch ]; then
  # aimc runs device, map and xbar without LibTorch and hands every other command to aimc-torch
  # from its own folder.
  check "aimc does not load LibTorch" bash -c "! ldd '$aimc' | grep -q libtorch"
  check "help lists the LibTorch commands" grep -q "^ *train " "$tmp/help"
  mkdir -p "$tmp/alone"
  cp "$aimc" "$tmp/alone/aimc"
  "$tmp/alone/aimc" train --epochs 1 >"$tmp/stdout" 2>"$tmp/stderr"
  rc=$?
  check "a LibTorch command without aimc-torch exits 2" test "$rc" -eq 2
  check "... naming the program expected" grep -q "cannot start $tmp/alone/aimc-torch: No such file" "$tmp/stderr"
  check "aimc without aimc-torch still solves" \
    bash -c "'$tmp/alone/aimc' -q xbar solve --rows 3 --cols 3 >/dev/null"
else
  check "help has no LibTorch commands" bash -c "! grep -q '^ *train ' '$tmp/help'"
fi

cat >"$tmp/bad.toml" <<'TOML'
kind = "mtj"
name = "bad"
ra_ohm_um2 = 20000.0
electrical_cd_nm = 65.0
sigma_radius_nm = 35.0
tmr = 1.5
write_voltage_v = 0.8
TOML
"$aimc" device stats --card "$tmp/bad.toml" --csv "$tmp/out.csv" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "bad card exits 2" test "$rc" -eq 2
check "bad card error names the file" grep -q "$tmp/bad.toml" "$tmp/stderr"
check "bad card error names the field" grep -q "sigma_radius_nm" "$tmp/stderr"
check "bad card leaves no result" test ! -e "$tmp/out.csv"

"$aimc" device stats --card "$tmp/missing.toml" 2>"$tmp/stderr"
check "missing card is named" grep -q "missing.toml: no such file" "$tmp/stderr"

"$aimc" map spec --tmr 1.5 --sigma-w 0.15 --csv "$tmp/spec.csv" >/dev/null
check "map spec writes its CSV" grep -q "^0.15,1.5,0.159" "$tmp/spec.csv"
"$aimc" map spec --tmr -1 2>"$tmp/stderr"
check "negative TMR is refused by name" grep -q "tmr must be > 0" "$tmp/stderr"

"$aimc" reproduce --only device --out "$tmp/results" >/dev/null 2>&1
check "reproduce writes the device figures" test -s "$tmp/results/fig11_allowed_spread.csv"
check "reproduce writes the report" grep -q "Fig. 11" "$tmp/results/report.md"
"$aimc" reproduce --only nosuchpart --out "$tmp/results" 2>"$tmp/stderr"
check "unknown part is named" grep -q "unknown part 'nosuchpart'" "$tmp/stderr"

# Non-physical values are refused, not computed (a subnormal wire gave NaN and exit 0; device
# stats at 1e-200 V printed -nan).
refused "device stats at 1e-200 V" "read_voltage_v must be 0 (the low-bias limit) or within" \
  "$aimc" device stats --card sot_mram --read-voltage-v 1e-200
refused "subnormal wire" "wire_row_ohm must be 0 (ideal) or within" \
  "$aimc" xbar solve --rows 4 --cols 4 --r-wire-row 1e-320
check "an old xbar flag still works and says which replaced it" \
  grep -q -- "--r-wire-row is now --wire-row-ohm" "$tmp/stdout"
refused "absurd driver" "driver_ohm must be 0 (ideal) or within" \
  "$aimc" xbar solve --rows 4 --cols 4 --driver-ohm 1e13
refused "empty array" "at least 1 x 1" "$aimc" xbar solve --rows 0 --cols 4
refused "nan read voltage" "read-voltage-v must be a finite voltage" "$aimc" xbar solve --rows 4 --cols 4 --v-read nan
refused "nan TMR" "tmr must be > 0" "$aimc" map spec --tmr nan
cat >"$tmp/outside.toml" <<'TOML'
kind = "two_state"
name = "outside"
r_on_ohm = 1e8
r_on_min_ohm = 1e3
r_on_max_ohm = 1e7
on_off_ratio = 10.0
cv_on = 0.05
cv_off = 0.05
write_voltage_v = 1.0
TOML
refused "R_ON outside the card's range" "r_on_ohm must lie in the card's own range" \
  "$aimc" device stats --card "$tmp/outside.toml"
sed 's/^cv_on = 0.05/cv_on = nan/; s/^r_on_ohm = 1e8/r_on_ohm = 1e6/' "$tmp/outside.toml" >"$tmp/nan.toml"
refused "nan in a card" "key 'cv_on' = nan is not a finite number" "$aimc" device stats --card "$tmp/nan.toml"
refused "a folder as a card" "it is a folder" "$aimc" device stats --card "$tmp/"
# A top-level key, before the card's first table.
awk '/^\[/ && !done { print "levels = 4"; done = 1 } 1' \
  "$(dirname "${BASH_SOURCE[0]}")/../../configs/devices/sot_mram.toml" >"$tmp/mtj_levels.toml"
refused "intermediate levels on an MTJ card" "kind 'mtj' holds two states" \
  "$aimc" device stats --card "$tmp/mtj_levels.toml"

# Device physics: the card's parts with their sources, and the spread as read years later.
"$aimc" device stats --card pcm --samples 2000 --time-s 3.15e8 --temperature-k 358.15 >"$tmp/stdout"
check "device stats shows the drift of PCM" grep -q "^drift .*Nandakumar" "$tmp/stdout"
check "... and the spread as read then" grep -q "Read at 0.2 V, 3.15e+08 s after programming, 85 C" "$tmp/stdout"
refused "a negative time" "time_s must be in" "$aimc" device stats --card pcm --time -1
sed 's/^write_voltage_v = 1.0/write_voltage_v = 1.0\n[retention]\ndelta = -3.0/; s/^r_on_ohm = 1e8/r_on_ohm = 1e6/' \
  "$tmp/outside.toml" >"$tmp/delta.toml"
refused "a negative Delta" "key 'retention.delta'" "$aimc" device stats --card "$tmp/delta.toml"

# An output path that is a folder is refused by name before any work.
mkdir -p "$tmp/folder"
refused "--csv as a folder" "$tmp/folder: is a folder" "$aimc" device stats --card rram --csv "$tmp/folder"
refused "netlist --out as a folder" "$tmp/folder: is a folder" \
  "$aimc" xbar netlist --rows 2 --cols 2 --out "$tmp/folder"

# worst_relative A B [SKIP]: the largest |a - b| / |b| over the cells of two CSVs of the same
# shape, after SKIP header lines (default 1).
worst_relative() {
  awk -F, -v skip="${3:-1}" 'FILENAME == ARGV[1] { for (j = 1; j <= NF; j++) a[FNR, j] = $j; next }
    FNR > skip { for (j = 1; j <= NF; j++) { e = (a[FNR, j] - $j) / $j; if (e < 0) e = -e
      if (e > w) w = e } }
    END { printf "%.3g", w }' "$1" "$2"
}
below() { awk -v x="$1" -v limit="$2" 'BEGIN { exit !(x < limit) }'; }

# M_eff, checked against the solve route's currents (I = M_eff^T V) on a user's array with wires,
# drivers and amplifiers, so that M_eff can also be compared with G. Tolerance 1e-9 relative: it
# leaves room for M_eff's 1e-13 and the rounding of 12-term sums, and catches a matrix written
# with fewer digits than it has.
awk 'BEGIN { srand(3); for (i = 0; i < 12; i++) { for (j = 0; j < 9; j++)
  printf "%s%.6e", (j ? "," : ""), 1 / (5e4 + 1e6 * rand()); print "" } }' >"$tmp/g.csv"
awk 'BEGIN { srand(4); for (n = 0; n < 3; n++) { for (i = 0; i < 12; i++)
  printf "%s%.17g", (i ? "," : ""), 0.1 * rand(); print "" } }' >"$tmp/v.csv"
"$aimc" xbar solve --conductances "$tmp/g.csv" --inputs "$tmp/v.csv" --wires layout22nm \
  --driver-ohm 100 --sense-ohm 50 --drive both --route solves --csv "$tmp/i.csv" \
  --meff "$tmp/meff.csv" >/dev/null
check "M_eff is R lines of C values" \
  awk -F, 'NF != 9 { exit 1 } END { exit NR != 12 }' "$tmp/meff.csv"
check "M_eff has its manifest" grep -q '"unit": "S"' "$tmp/meff.json"
check "the manifest names the command" grep -q '"command": "aimc xbar solve --meff"' "$tmp/meff.json"
head -n 1 "$tmp/i.csv" >"$tmp/i_product.csv"
awk -F, 'FILENAME == ARGV[1] { rows = FNR; for (j = 1; j <= NF; j++) m[FNR, j] = $j; next }
  { s = ""; for (j = 1; j <= 9; j++) { i_j = 0; for (i = 1; i <= rows; i++) i_j += m[i, j] * $i
      s = s (j > 1 ? "," : "") sprintf("%.17g", i_j) }
    print s }' "$tmp/meff.csv" "$tmp/v.csv" >>"$tmp/i_product.csv"
error=$(worst_relative "$tmp/i_product.csv" "$tmp/i.csv")
check "M_eff^T V equals the solved currents ($error)" below "$error" 1e-9
# The guard: the wires move M_eff away from G by far more than that tolerance.
moved=$(worst_relative "$tmp/meff.csv" "$tmp/g.csv" 0)
check "M_eff differs from G ($moved)" below 1e-3 "$moved"
# Written as --conductances reads it: an ideal array of these conductances is the same MVM.
"$aimc" xbar solve --conductances "$tmp/meff.csv" --inputs "$tmp/v.csv" --csv "$tmp/i_ideal.csv" \
  >/dev/null
error=$(worst_relative "$tmp/i_ideal.csv" "$tmp/i.csv")
check "M_eff read back as an ideal array gives the currents ($error)" below "$error" 1e-9
refused "--meff as a folder" "$tmp/folder: is a folder" \
  "$aimc" xbar solve --rows 2 --cols 2 --meff "$tmp/folder"
refused "--meff named like its manifest" "its manifest is written beside it" \
  "$aimc" xbar solve --rows 2 --cols 2 --meff "$tmp/m.json"

# A batch: auto takes the M_eff route from 16 inputs on, solves below; both give the same currents.
"$aimc" xbar solve --rows 16 --cols 8 --wires layout22nm --count 1 >"$tmp/stdout"
check "one input takes the solve route" grep -q "^route: solves" "$tmp/stdout"
check "solve prints the read power and its split" grep -q "^read power of input 0: .* W (devices \
.* W, access .* W, row wires .* W, column wires .* W, drivers .* W, sense .* W)$" "$tmp/stdout"
# Without parasitics every device sees its row's voltage: the read power is sum_ij G_ij V^2
# (analytic; 1e-5 relative: the power is printed with 6 significant digits).
"$aimc" xbar solve --conductances "$tmp/g.csv" --inputs ones --read-voltage-v 0.3 >"$tmp/stdout"
power=$(sed -n 's/^read power of input 0: \([^ ]*\) W.*/\1/p' "$tmp/stdout")
expected=$(awk -F, '{ for (j = 1; j <= NF; j++) s += $j * 0.09 } END { printf "%.17g", s }' \
  "$tmp/g.csv")
error=$(awk -v a="${power:-0}" -v b="$expected" 'BEGIN { e = (a - b) / b; printf "%.3g", e < 0 ? -e : e }')
check "the read power without parasitics is sum G V^2 ($error)" below "$error" 1e-5
"$aimc" xbar solve --rows 16 --cols 8 --wires layout22nm --count 20 \
  --csv "$tmp/i_meff.csv" >"$tmp/stdout"
check "a batch takes the M_eff route" grep -q "^route: meff" "$tmp/stdout"
"$aimc" xbar solve --rows 16 --cols 8 --wires layout22nm --count 20 --route solves \
  --csv "$tmp/i_solves.csv" >/dev/null
check "both routes give every current" test "$(wc -l <"$tmp/i_meff.csv")" -eq 21
error=$(worst_relative "$tmp/i_meff.csv" "$tmp/i_solves.csv")
check "both routes give the same currents ($error)" below "$error" 1e-9

# Non-linear devices: Newton per input, with its iterations and residual printed; the netlist of
# B sources run by ngspice gives the same currents (1e-9 relative, the circuit tests' bar).
"$aimc" xbar solve --rows 16 --cols 8 --r-on-ohm 1e4 --wire-row-ohm 5 --wire-col-ohm 5 --read-voltage-v 0.8 \
  --v-half 0.4 --count 3 --csv "$tmp/i_nl.csv" >"$tmp/stdout"
check "--v-half takes the Newton route" grep -q "^route: newton" "$tmp/stdout"
check "... and prints its iterations and residual" \
  grep -q "^newton: iterations mean .*, max .*; worst residual" "$tmp/stdout"
check "... and every current" test "$(wc -l <"$tmp/i_nl.csv")" -eq 4
check "... and the read power of its first input" \
  grep -q "^read power of input 0: .* W (devices .* W, access 0 W, row wires .* W" "$tmp/stdout"
refused "--meff of a non-linear array" "has no effective matrix" \
  "$aimc" xbar solve --rows 2 --cols 2 --sinh-v0 0.3 --meff "$tmp/m_nl.csv"
refused "a negative V0" "must be > 0 V" "$aimc" xbar solve --rows 2 --cols 2 --sinh-v0 -0.3
"$aimc" xbar netlist --rows 8 --cols 8 --r-on-ohm 1e4 --wire-row-ohm 5 --wire-col-ohm 5 --access-ohm 1e3 \
  --read-voltage-v 0.8 --sinh-v0 0.3 --out "$tmp/nl.cir" --run >"$tmp/stdout" 2>&1
error=$(sed -n 's/.*largest relative difference \(.*\)$/\1/p' "$tmp/stdout")
check "the non-linear netlist agrees with ngspice (${error:-no result})" below "${error:-1}" 1e-9

if "$aimc" help train >/dev/null 2>&1; then
  model=models/lenet5_mnist_ternary_s0.000_e15_n0_seed1.pt
  refused "batch size 1" "BatchNorm needs 2 images per batch" \
    "$aimc" train --batch-size 1 --out "$tmp/m.pt"
  refused "train --threads 0" "threads must be in 1..256" "$aimc" train --threads 0 --out "$tmp/m.pt"
  refused "train --out a folder" "$tmp/folder: is a folder" "$aimc" train --out "$tmp/folder"
  refused "test --threads 0" "threads must be in 1..256" "$aimc" test --model "$model" --threads 0
  refused "test --threads -1" "threads must be in 1..256" "$aimc" test --model "$model" --threads -1
  refused "negative test subset" "test-subset must be >= 0" \
    "$aimc" test --model "$model" --test-subset -3
  refused "a negative seed" "--seed must be an integer in .*got '-1'" \
    "$aimc" test --model "$model" --seed -1
  refused "a seed beyond 64 bits" "--seed = 18446744073709551616 does not fit a 64-bit seed" \
    "$aimc" train --seed 18446744073709551616 --out "$tmp/m.pt"
  refused "a seed with a fraction" "--seed must be an integer" \
    "$aimc" energy --model "$model" --card sot_mram --seed 1.5
  # Energies at a read voltage far below the models' scales were printed as NaN with exit 0.
  refused "energy at 1e-200 V" "read_voltage_v must be in .*got 1e-200" \
    "$aimc" energy --model "$model" --card sot_mram --read-voltage-v 1e-200
  refused "energy with R_ON = -1 (old flag)" "r_on_ohm must be >= 0" \
    "$aimc" energy --model "$model" --card sot_mram --r-on -1
  refused "energy with R_ON = nan" "r_on_ohm must be a finite number" \
    "$aimc" energy --model "$model" --card sot_mram --r-on-ohm nan
  refused "a read time without a card" "time_s = 10 needs a card" \
    "$aimc" test --model "$model" --time-s 10
  refused "a negative read time" "time_s must be >= 0" \
    "$aimc" test --model "$model" --card sot_mram --time-s -1 --test-subset 10 --chips 1
  refused "a wire resistance that is no number" "wire_ohm must be a number, got '20ohm'" \
    "$aimc" test --model "$model" --card sot_mram --wire-ohm 20ohm
  refused "a wire preset and a wire resistance" "exclude each other" \
    "$aimc" test --model "$model" --card sot_mram --wire-ohm 2 --wires layout22nm
  refused "an unknown drift compensation" "drift_compensation must be none, array or column" \
    "$aimc" test --model "$model" --card sot_mram --drift-compensation row --test-subset 10
  refused "export --out a folder" "$tmp/folder: is a folder" \
    "$aimc" export --model "$model" --out "$tmp/folder"
  head -c 5000 "$model" >"$tmp/cut.pt"
  refused "a cut model file" "$tmp/cut.pt: not a readable model file" \
    "$aimc" test --model "$tmp/cut.pt"
  refused "a folder as a model" "not a model file" "$aimc" test --model "$tmp/folder"

  refused "energy: a negative ADC figure of merit" "energy.adc.walden_fj_per_step" \
    "$aimc" energy --model "$model" --adc-walden-fj -1
  refused "energy: an unknown wire preset" "layout7nm" \
    "$aimc" energy --model "$model" --wires layout7nm
fi

echo "$(( total - fails )) passed, $fails failed"
test "$fails" -eq 0
