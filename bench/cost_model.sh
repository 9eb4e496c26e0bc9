#!/usr/bin/env bash
# The cost model of docs/cluster.md: predicted wall time of the paper profile on K nodes of C
# cores, from measured per-unit costs.
#
# Input: a CSV `stage,unit,count,seconds` (default bench/results/paper_units.csv), one line per
# kind of work unit: `count` units of `seconds` each (one core), in stage `stage`. Stages run one
# after another (a figure's units need the figure before them: CNN 2's fine-tuning needs its clean
# network); the units of one stage are independent and run on all ranks at once, handed out
# longest first as aimc does (Distribute). A stage's time is the greedy longest-first makespan on
# P = K x C ranks of one thread; the total adds a per-stage start-up (`--startup`, seconds).
#
# Usage: bash bench/cost_model.sh [units.csv] [cores_per_node] [startup_s] > table.md
set -euo pipefail
units="${1:-bench/results/paper_units.csv}"
cores="${2:-32}"
startup="${3:-5}"
[ -f "$units" ] || { echo "cost_model: no such file: $units" >&2; exit 1; }

makespan() {  # ranks -> seconds for the whole study
  awk -F, -v P="$1" -v startup="$startup" '
    NR == 1 { next }                               # header
    {
      s = $1
      if (!(s in seen)) { seen[s] = 1; order[++stages] = s }
      for (i = 0; i < $3; i++) t[s, ++n[s]] = $4 + 0
    }
    END {
      total = 0
      for (k = 1; k <= stages; k++) {
        s = order[k]; m = n[s]
        # longest first: sort the stage units descending (insertion sort; stages are small)
        for (i = 1; i <= m; i++) u[i] = t[s, i]
        for (i = 2; i <= m; i++) { v = u[i]; j = i - 1; while (j > 0 && u[j] < v) { u[j+1] = u[j]; j-- } u[j+1] = v }
        workers = (P < m) ? P : m
        for (w = 1; w <= workers; w++) load[w] = 0
        for (i = 1; i <= m; i++) {
          best = 1
          for (w = 2; w <= workers; w++) if (load[w] < load[best]) best = w
          load[best] += u[i]
        }
        span = 0
        for (w = 1; w <= workers; w++) if (load[w] > span) span = load[w]
        total += span + startup
      }
      printf "%.0f", total
    }' "$units"
}

human() {  # seconds -> "3.2 h"
  awk -v s="$1" 'BEGIN { if (s < 120) printf "%.0f s", s; else if (s < 7200) printf "%.0f min", s/60;
                         else if (s < 172800) printf "%.1f h", s/3600; else printf "%.1f days", s/86400 }'
}

serial=$(awk -F, 'NR > 1 { s += $3 * $4 } END { printf "%.0f", s }' "$units")
echo "| nodes (K) | cores (K x $cores) | predicted wall time | speed-up vs 1 core |"
echo "|---|---|---|---|"
echo "| 1 core | 1 | $(human "$serial") | 1x |"
for k in 1 8 64; do
  p=$((k * cores))
  t=$(makespan "$p")
  echo "| $k | $p | $(human "$t") | $(awk -v a="$serial" -v b="$t" 'BEGIN{printf "%.0fx", a/b}') |"
done
