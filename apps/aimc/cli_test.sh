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

echo "$(( total - fails )) passed, $fails failed"
test "$fails" -eq 0
