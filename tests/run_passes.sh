#!/bin/bash
# run_passes.sh - IR golden tests for the passes (QBE/chibicc style).
#
# usage: run_passes.sh CNNC DIR [--update]
# Each DIR/*.yaml is a model with comment lines
#   # RUN: <cnnc options> -d<L>      the options, and the pass letter whose dump is checked
#   # EXPECT:                          followed by the expected dump, each line prefixed "# | "
# The script runs `cnnc FILE <options> --emit=ir -o /dev/null`, cuts the
# "## after <pass>" section for the letter out of stderr, and diffs it with
# the expectation.  --update rewrites the expectations (review the diff!).
set -u
cnnc=$1 dir=$2 update=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0 n=0
for f in "$dir"/*.yaml; do
  n=$((n + 1))
  run=$(sed -n 's/^# RUN: //p' "$f" | head -1)
  letter=$(printf '%s\n' "$run" | grep -o -- '-d[A-Z]' | head -1 | cut -c3)
  # shellcheck disable=SC2086
  (cd "$(dirname "$f")" && "$cnnc" "$(basename "$f")" $run --emit=ir -o "$tmp/out.ir") 2> "$tmp/err" > /dev/null
  rc=$?
  awk -v L="$letter" '
    /^## after / { on = 0 }
    /^## after / && ((L=="F" && /folding/) || (L=="S" && /separable/) || (L=="U" && /fusion/ && !/training/) ||
                    (L=="A" && /algorithm/) || (L=="M" && /memory planning$/) || (L=="G" && /autodiff/) ||
                    (L=="T" && /memory planning \(training\)/) || (L=="L" && /load/)) { on = 1; next }
    on { print }' "$tmp/err" > "$tmp/got"
  sed -n '/^# EXPECT:/,$p' "$f" | sed -n 's/^# | \{0,1\}//p' > "$tmp/want"
  if [ -n "$update" ]; then
    sed '/^# EXPECT:/,$d' "$f" > "$tmp/new"
    { echo "# EXPECT:"; sed 's/^/# | /' "$tmp/got"; } >> "$tmp/new"
    cp "$tmp/new" "$f"
    echo "updated $f"
    continue
  fi
  if [ $rc -ne 0 ] || [ ! -s "$tmp/got" ] || ! diff -u "$tmp/want" "$tmp/got" > "$tmp/diff"; then
    echo "FAIL $f (exit $rc)"
    cat "$tmp/diff" 2> /dev/null | head -40
    head -5 "$tmp/err"
    fail=$((fail + 1))
  else
    echo "ok   $f"
  fi
done
echo "$((n - fail)) of $n pass tests passed"
[ $fail -eq 0 ]
