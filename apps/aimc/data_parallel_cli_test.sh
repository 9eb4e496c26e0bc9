#!/usr/bin/env bash
# `mpirun -np 2 aimc train`: one network trained by both ranks, said once, written by rank 0;
# a batch too small for the ranks and a resume on another number of ranks are refused clearly.
#   data_parallel_cli_test.sh AIMC MPIEXEC   (run by CTest with the MPI test environment)
set -u
aimc="$1"
mpiexec="$2"
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
mkdir -p "$tmp/out"
small=(train --data mnist --train-subset 600 --test-subset 300 --sigma-train 0.2 --augment --seed 4)

"$mpiexec" -n 2 "$aimc" "${small[@]}" --batch-size 64 --epochs 1 --out "$tmp/out/m.pt" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "2 ranks train" test "$rc" -eq 0
check "... and say so" grep -q "data-parallel on 2 ranks: every batch of 64 in shards of 32-32" \
  "$tmp/stdout"
check "... the result once (rank 0)" test "$(grep -c "m.pt: 1 epochs, test accuracy" "$tmp/stdout")" -eq 1
check "... one model file, nothing half-written" \
  bash -c "test -s '$tmp/out/m.pt' && test \"\$(ls '$tmp/out')\" = m.pt"

# Stopped after an epoch (its checkpoint written), then the same command again: it resumes.
"$mpiexec" -n 2 "$aimc" "${small[@]}" --batch-size 64 --epochs 6 --out "$tmp/out/r.pt" \
  >"$tmp/stdout" 2>"$tmp/stderr" &
job=$!
for _ in $(seq 600); do [ -e "$tmp/out/r.pt" ] && break; sleep 0.05; done
kill "$job" 2>/dev/null
wait "$job"
check "a stopped run left its checkpoint" test -s "$tmp/out/r.pt"
"$mpiexec" -n 2 "$aimc" "${small[@]}" --batch-size 64 --epochs 6 --out "$tmp/out/r.pt" \
  >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "2 ranks resume" test "$rc" -eq 0
check "... after the epochs done" grep -q "resuming .*r.pt after epoch [1-6]/6" "$tmp/stdout"
check "... to the last" grep -q "r.pt: 6 epochs" "$tmp/stdout"

"$aimc" "${small[@]}" --batch-size 64 --epochs 1 --out "$tmp/out/m.pt" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "one process does not resume a 2-rank checkpoint" test "$rc" -eq 2
check "... and says how" grep -q "trained on 2 data-parallel ranks, this run is on one process.*mpirun -np 2" \
  "$tmp/stderr"

"$mpiexec" -n 2 "$aimc" "${small[@]}" --epochs 1 --batch-size 3 --out "$tmp/out/b.pt" \
  >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
check "a batch of 3 on 2 ranks exits 2" test "$rc" -eq 2
check "... said once" test "$(grep -c "BatchNorm needs 2 images per rank" "$tmp/stderr")" -eq 1
check "... and no model" test ! -e "$tmp/out/b.pt"

[ "$fails" -eq 0 ] || { echo "$fails checks failed"; cat "$tmp/stderr"; exit 1; }
