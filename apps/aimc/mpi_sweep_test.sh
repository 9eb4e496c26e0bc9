#!/usr/bin/env bash
# `aimc sweep` over MPI ranks against one process:
#   1. 1, 2 and 3 ranks write the same rows and values as one process (the `seconds` column, a
#      timing, aside);
#   2. a 3-rank run with one rank killed (SIGKILL) mid-sweep fails, keeps every finished point,
#      and a rerun on 2 ranks computes exactly the missing points; the final CSV equals the
#      one-process one.
# Usage: mpi_sweep_test.sh <aimc> <mpiexec>   (run from the source tree: it reads models/)
set -euo pipefail
aimc="$1"
mpiexec="$2"
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
work="$tmp"

fail() { echo "FAIL: $*" >&2; exit 1; }

# Device points with and without wires (costs differ about 5x) and enough of them that ranks
# finish out of order.
cat > "$work/exp.toml" <<EOF
name = "ranks"
models = ["models/lenet5_mnist_ternary_s0.000_e15_n0_seed1.pt"]
cards = ["sot_mram"]
test_images = 400
chips = 5
seed = 3
[axes]
r_on_ohm = [2e6, 6e6]
wire_ohm = [0.0, 3.0]
[chip]
tile_rows = 256
tile_cols = 128
EOF

"$aimc" -q sweep "$work/exp.toml" --out "$work/one.csv"
rows=$(($(wc -l < "$work/one.csv") - 1))
[ "$rows" -eq 20 ] || fail "one process wrote $rows points, not 20"

for n in 1 2 3; do
  "$mpiexec" -n "$n" --oversubscribe "$aimc" -q sweep "$work/exp.toml" --out "$work/np$n.csv"
  diff <(values "$work/one.csv") <(values "$work/np$n.csv") > "$work/diff" ||
    { cat "$work/diff" >&2; fail "$n ranks wrote other rows or values than one process"; }
  grep -q '"definition"' "$work/np$n.json" || fail "$n ranks wrote no manifest definition"
done
echo "ok: 1, 2 and 3 ranks write the one-process rows"

# A longer sweep for the kill: more chips, so that the kill lands mid-sweep.
sed -e 's/chips = 5/chips = 12/' -e 's/test_images = 400/test_images = 1500/' \
  "$work/exp.toml" > "$work/long.toml"
"$aimc" -q sweep "$work/long.toml" --out "$work/long_one.csv"
total=$(($(wc -l < "$work/long_one.csv") - 1))

"$mpiexec" -n 3 --oversubscribe "$aimc" -q sweep "$work/long.toml" --out "$work/killed.csv" \
  > "$work/killed.log" 2>&1 &
job=$!
# Wait for a few finished points, then kill one rank: the newest child of mpirun (the ranks are
# its children on one machine).
for _ in $(seq 600); do
  [ -f "$work/killed.csv" ] && [ "$(wc -l < "$work/killed.csv")" -ge 5 ] && break
  sleep 0.1
done
victim=$(pgrep -P "$job" | sort -n | tail -1 || true)
[ -n "$victim" ] || fail "no rank to kill"
kill -9 "$victim"
if wait "$job"; then fail "the job with a killed rank reported success"; fi
before=$(($(wc -l < "$work/killed.csv") - 1))
[ "$before" -lt "$total" ] || fail "the sweep had finished before the kill ($before points)"
echo "killed one rank after $before of $total points"

"$mpiexec" -n 2 --oversubscribe "$aimc" sweep "$work/long.toml" --out "$work/killed.csv" \
  > "$work/rerun.log" 2>&1 || { cat "$work/rerun.log" >&2; fail "the rerun failed"; }
grep -q "$((total - before)) of $total points to run ($before done before)" "$work/rerun.log" ||
  { cat "$work/rerun.log" >&2; fail "the rerun did not take up exactly the missing points"; }
after=$(($(wc -l < "$work/killed.csv") - 1))
[ "$after" -eq "$total" ] || fail "$after rows after the rerun, not $total (a point twice or lost)"
diff <(values "$work/long_one.csv") <(values "$work/killed.csv") > "$work/diff" ||
  { cat "$work/diff" >&2; fail "killed and rerun: other values than one process"; }
echo "ok: kill and rerun on another number of ranks lose nothing and repeat nothing"
