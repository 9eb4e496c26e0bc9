#!/usr/bin/env bash
# `aimc reproduce` over MPI ranks, end to end:
#  1. with 2 ranks, each network trained by one rank (--train-ranks 1), it writes the same figures
#     (every CSV value; `seconds` columns are timings) as one process: the quick profile under small limits, so that the networks are trained here
#     (Fig. 13b: trainings and Monte-Carlo chips; Fig. 16: IR-drop points; Table I: bisection
#     steps);
#  2. a rerun with 2 ranks of the finished study keeps every figure and model;
#  3. the part beyond the paper (device physics: Figs. 17-19) runs with 2 ranks, small;
#  4. the paper profile's parts of the paper run end to end with 3 ranks under tiny limits, all but
#     the verdict (its Fig. 21 builds a chip with wires per card at the paper's CNN 2 width, 75 s
#     on 2 cores whatever the limits; the quick profile's verdict in 1. runs the same code): the
#     trainings that dominate their step train data-parallel, and the figures that no such
#     network enters equal one process's; one process then takes the 3 ranks' networks as they
#     are.
#   study_mpi_test.sh AIMC MPIEXEC
set -u
aimc="$1"
mpiexec="$2"
source "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
ranks2() { "$mpiexec" -n 2 --oversubscribe "$@"; }
same_figures() {  # same_figures DIR_A DIR_B: the same CSVs, value for value
  local a="$1" b="$2" csv n=0
  for csv in "$a"/*.csv; do
    n=$((n + 1))
    if ! diff <(values "$csv") <(values "$b/$(basename "$csv")") >"$tmp/diff"; then
      echo "  $(basename "$csv") differs:"; head -5 "$tmp/diff"; return 1
    fi
  done
  [ "$n" -gt 0 ] && [ "$(ls "$b"/*.csv | wc -l)" -eq "$n" ]
}
fingerprints() {  # fingerprints DIR: checksums of every figure, manifest and model
  (cd "$1" && md5sum ./*.csv ./*.json models/*.pt)
}

# (--train-ranks 1: each network trained by one rank, so that the networks are one process's.)
quick=(reproduce --profile quick --limit-epochs 1 --limit-train-images 128
       --limit-test-images 40 --only device training irdrop verdict mitigation --train-ranks 1)
"$aimc" "${quick[@]}" --out "$tmp/one" >"$tmp/one.log" 2>&1
check "one process: the study runs" test $? -eq 0
ranks2 "$aimc" "${quick[@]}" --out "$tmp/two" >"$tmp/two.log" 2>&1
check "2 ranks: the study runs" test $? -eq 0
check "2 ranks: the same figures as one process" same_figures "$tmp/one" "$tmp/two"
for id in fig13b_cnn1_error_vs_sigma fig16_cnn1_error_vs_ron table1_verdict \
          fig23_mitigation_error_vs_ron fig24_mitigation_error_vs_sigma table1_mitigation; do
  check "2 ranks: $id is there" test -s "$tmp/two/$id.csv"
done
check "2 ranks: the mitigation table names every mitigation" bash -c \
  "grep -q '| none |' '$tmp/two/table1_mitigation.md' && grep -q '| all |' '$tmp/two/table1_mitigation.md'"
check "2 ranks: every derived spec has its interval" bash -c \
  "grep -q 'Intervals (95 %, percentile bootstrap' '$tmp/two/table1_verdict.md' && \
   grep -q 'over its own error at sigma_w 0' '$tmp/two/table1_mitigation.md' && \
   head -1 '$tmp/two/table1_verdict.csv' | grep -q sigma_w_crossing_low"
check "2 ranks: report.md states the limits" grep -q "Limited run: at most 1 epoch" "$tmp/two/report.md"
check "2 ranks: the limits are inputs of every figure" \
  bash -c "! grep -L '\"limits\"' '$tmp/two'/*.json | grep -q ."
check "2 ranks: the networks were trained" test -s "$tmp/two/models/lenet5_mnist_ternary_s0.300_e1_n128_seed1.pt"
check "2 ranks: rank 1 stays quiet" bash -c "! grep -qE '\[rank 1\].*info' '$tmp/two.log'"

fingerprints "$tmp/two" >"$tmp/before"
ranks2 "$aimc" "${quick[@]}" --out "$tmp/two" >"$tmp/rerun.log" 2>&1
check "rerun with 2 ranks: runs" test $? -eq 0
check "rerun with 2 ranks: every figure kept" bash -c \
  "[ \$(grep -c 'up to date, kept' '$tmp/rerun.log') -eq \$(ls '$tmp/two'/*.csv | wc -l) ]"
check "rerun with 2 ranks: nothing computed or trained" \
  bash -c "! grep -E 'computing|training ' '$tmp/rerun.log'"
fingerprints "$tmp/two" >"$tmp/after"
check "rerun with 2 ranks: files unchanged" diff "$tmp/before" "$tmp/after"

# The part beyond the paper (device physics) over 2 ranks, small: it trains CNN 2's grid here.
physics=(reproduce --profile quick --limit-epochs 1 --limit-train-images 128
         --limit-test-images 40 --only physics)
ranks2 "$aimc" "${physics[@]}" --out "$tmp/two" >"$tmp/physics.log" 2>&1
check "2 ranks: the physics part runs" test $? -eq 0
for id in fig17_sigma_w_vs_read_voltage fig18_error_vs_read_voltage fig19_error_vs_time; do
  check "2 ranks: $id is there" test -s "$tmp/two/$id.csv"
done
check "fig18 states the fast route's error against Newton" \
  grep -q "error against the exact Newton solve" "$tmp/two/fig18_error_vs_read_voltage.json"

# A limited run is not the unlimited one: without the limits every figure is stale.
"$aimc" reproduce --profile quick --only device --out "$tmp/two" >"$tmp/unlimited.log" 2>&1
check "without limits the limited figures are recomputed" grep -q "computing (changed: limits)" "$tmp/unlimited.log"

# Every part of the paper but the verdict (see 4. above; the physics part as above), on 3 ranks
# with data-parallel trainings, against one process.
ranks3() { "$mpiexec" -n 3 --oversubscribe "$@"; }
tiny=(reproduce --profile paper --limit-epochs 1 --limit-train-images 32 --limit-test-images 8)
paper=("${tiny[@]}" --only device circuit training resnet irdrop)
ranks3 "$aimc" "${paper[@]}" --out "$tmp/paper" >"$tmp/paper.log" 2>&1
rc=$?
check "paper profile, tiny limits, 3 ranks: runs end to end" test "$rc" -eq 0
for id in fig13b_cnn1_error_vs_sigma fig14b_cnn2_error_vs_sigma fig16_cnn1_error_vs_ron; do
  check "paper profile: $id is there" test -s "$tmp/paper/$id.csv"
done
check "paper profile: CNN 2 at the paper's width" grep -q "(width 4)" "$tmp/paper/report.md"
# The trainings that dominate their step trained data-parallel: CNN 2's clean network on all 3
# ranks (its 5 fine-tunings, and Fig. 13b's 9 networks, one rank each side by side), Fig. 16's
# LeNet-5 on 2 (its 32 images give 2 ranks 16 each, the least it takes; rank 2 waits); their
# model files say so.
clean2=$(ls "$tmp"/paper/models/resnet26_*_s0.000_*.pt | head -1)
ir1=$(ls "$tmp"/paper/models/lenet5_fashion-mnist_*.pt | head -1)
check "3 ranks: CNN 2's clean network trained data-parallel on 3 ranks" \
  bash -c "grep -q 'training resnet26_.*_s0.000_.* data-parallel on ranks 0-2 (3 ranks)' '$tmp/paper.log' && [ \"\$(unzip -p '$clean2' '*/data.pkl' | grep -ao '\"ranks\":3' | head -1)\" = '\"ranks\":3' ]"
check "3 ranks: Fig. 16's network trained data-parallel on 2 ranks" \
  bash -c "grep -q 'training lenet5_fashion-mnist_.* data-parallel on ranks 0-1 (2 ranks)' '$tmp/paper.log' && [ \"\$(unzip -p '$ir1' '*/data.pkl' | grep -ao '\"ranks\":2' | head -1)\" = '\"ranks\":2' ]"
check "3 ranks: Fig. 13b's networks trained side by side, one rank each" \
  bash -c "! unzip -p '$(ls "$tmp"/paper/models/lenet5_mnist_*.pt | head -1)' '*/data.pkl' | grep -aq '\"ranks\"'"
# One process, the parts that no data-parallel network enters: the device and circuit figures,
# and Fig. 13b, whose networks each trained on one rank, are the same. (Fig. 14b and Figs. 16, 20,
# 22 come from networks whose float sums were split over 3 ranks, with BatchNorm statistics of
# the ranks' shards: other networks, so other values; they are not run here.)
"$aimc" "${tiny[@]}" --only device circuit training --out "$tmp/paper1" >"$tmp/paper1.log" 2>&1
check "paper profile, one process: runs" test $? -eq 0
for csv in "$tmp"/paper1/*.csv; do
  id=$(basename "$csv" .csv)
  check "3 ranks vs one process: $id the same" diff <(values "$csv") <(values "$tmp/paper/$id.csv")
done
check "3 ranks vs one process: Fig. 13b compared" test -s "$tmp/paper1/fig13b_cnn1_error_vs_sigma.csv"
# A finished network is the study's whatever number of ranks trained it: one process, rerun on
# the 3 ranks' results, trains nothing and keeps every figure.
"$aimc" "${paper[@]}" --out "$tmp/paper" >"$tmp/paper_rerun.log" 2>&1
check "one process after 3 ranks: runs" test $? -eq 0
check "one process after 3 ranks: nothing trained or computed" \
  bash -c "! grep -E 'computing|training ' '$tmp/paper_rerun.log'"
[ "$rc" -eq 0 ] || tail -30 "$tmp/paper.log"
[ "$fails" -eq 0 ] || { echo "--- one process"; tail -20 "$tmp/one.log"; echo "--- 2 ranks"; tail -20 "$tmp/two.log"; }

echo "$((total - fails)) of $total checks passed"
[ "$fails" -eq 0 ]
