#!/usr/bin/env bash
# Checks that README.md's "modules in the order data flows" is true of the include graph: every
# header and source of a module includes only aimc modules at or to the left of it. Run by CTest.
set -euo pipefail
root="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
line=$(grep -m1 '^Modules in the order data flows:' "$root/README.md" || true)
[ -n "$line" ] || { echo "README.md has no 'Modules in the order data flows:' line"; exit 1; }
# `common` -> `device` -> ... as written in the README, common first.
mapfile -t order < <(grep -o '`[a-z]*`' <<<"$line" | tr -d '`')
[ "${order[0]}" = common ] || order=(common "${order[@]}")
fails=0
for ((i = 0; i < ${#order[@]}; i++)); do
  mod="${order[$i]}"
  [ -d "$root/src/$mod" ] || { echo "README names module '$mod' but src/$mod does not exist"; fails=1; continue; }
  allowed=" ${order[*]:0:$((i + 1))} "
  while IFS= read -r hit; do
    file="${hit%%:*}"
    used=$(sed -E 's|.*#include "aimc/([a-z]+)/.*|\1|' <<<"$hit")
    if [[ "$allowed" != *" $used "* ]]; then
      echo "$file includes aimc/$used, which is not left of '$mod' in README.md's module order"
      fails=1
    fi
  done < <(grep -H '#include "aimc/' "$root/src/$mod"/*.{h,cc} "$root/include/aimc/$mod"/*.h 2>/dev/null || true)
done
for dir in "$root"/src/*/; do
  mod=$(basename "$dir")
  [[ " ${order[*]} " == *" $mod "* ]] || { echo "src/$mod is not in README.md's module order"; fails=1; }
done
[ "$fails" -eq 0 ] && echo "include graph follows: ${order[*]}"
exit "$fails"
