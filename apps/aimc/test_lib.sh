# Sourced by the command-line tests: a scratch folder removed at exit, named checks counted, and
# a CSV's values without its timing columns.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
total=0
check() {  # check NAME CONDITION...
  local name="$1"; shift
  total=$((total + 1))
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}
# values CSV: the CSV without its timing columns (named seconds).
values() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) keep[i] = ($i != "seconds") }
           { line = ""; sep = ""
             for (i = 1; i <= NF; i++) if (keep[i]) { line = line sep $i; sep = "," }
             print line }' "$1"
}
# refused NAME PATTERN COMMAND...: exits 2 (a user error, not an internal one) with PATTERN on
# stderr.
refused() {
  local name="$1" pattern="$2"; shift 2
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  local rc=$?
  check "$name exits 2" test "$rc" -eq 2
  check "$name says why" grep -q -- "$pattern" "$tmp/stderr"
}
