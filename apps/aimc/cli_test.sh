#!/usr/bin/env bash
# End-to-end checks of the aimc command line: version, help, and that bad input gets a clear
# error naming the file and field, with a non-zero exit and no half-written result.
set -u
aimc="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
total=0
check() {  # check NAME CONDITION...
  local name="$1"; shift
  total=$((total + 1))
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

out=$("$aimc" --version)
check "version names the git revision" grep -q "aimc .* (git " <<<"$out"
check "help of a subcommand" bash -c "'$aimc' help map spec | grep -q -- --sigma-w"

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

# refused NAME PATTERN COMMAND...: exits 2 (a user error, not an internal one) with PATTERN on
# stderr.
refused() {
  local name="$1" pattern="$2"; shift 2
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  check "$name exits 2" test "$rc" -eq 2
  check "$name says why" grep -q -- "$pattern" "$tmp/stderr"
}

# Non-physical values are refused, not computed (a subnormal wire gave NaN and exit 0).
refused "subnormal wire" "wire_row_ohm must be 0 (ideal) or within" \
  "$aimc" xbar solve --rows 4 --cols 4 --r-wire-row 1e-320
refused "absurd driver" "driver_ohm must be 0 (ideal) or within" \
  "$aimc" xbar solve --rows 4 --cols 4 --r-driver 1e13
refused "empty array" "at least 1 x 1" "$aimc" xbar solve --rows 0 --cols 4
refused "nan read voltage" "v-read must be a finite voltage" "$aimc" xbar solve --rows 4 --cols 4 --v-read nan
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

# An output path that is a folder is refused by name before any work.
mkdir -p "$tmp/folder"
refused "--csv as a folder" "$tmp/folder: is a folder" "$aimc" device stats --card rram --csv "$tmp/folder"
refused "netlist --out as a folder" "$tmp/folder: is a folder" \
  "$aimc" xbar netlist --rows 2 --cols 2 --out "$tmp/folder"

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
  refused "export --out a folder" "$tmp/folder: is a folder" \
    "$aimc" export --model "$model" --out "$tmp/folder"
  head -c 5000 "$model" >"$tmp/cut.pt"
  refused "a cut model file" "$tmp/cut.pt: not a readable model file" \
    "$aimc" test --model "$tmp/cut.pt"
  refused "a folder as a model" "not a model file" "$aimc" test --model "$tmp/folder"
fi

echo "$(( total - fails )) passed, $fails failed"
test "$fails" -eq 0
