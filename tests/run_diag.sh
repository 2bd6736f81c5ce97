#!/bin/bash
# run_diag.sh - diagnostics tests for bad model files.
#
# Usage: tests/run_diag.sh DIAGDIR CNNC
#
# Every DIAGDIR/*.yaml, plus every file that the DIAGDIR/gen_*.sh scripts
# write into a scratch directory (inputs too big, too deep or too binary to
# keep in git), is one bad model.  For each, `CNNC FILE -o OUT.c` must
#   - exit with status 2,
#   - print every `# EXPECT: <text>` line of the file (or of FILE.expect, for
#     generated files that cannot hold text headers) somewhere on stderr, with
#     `%s` in <text> standing for FILE's path exactly as passed to CNNC,
#   - leave no output file behind.
# Prints one line per failure and a summary; exits 1 if anything failed.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 DIAGDIR CNNC" >&2
  exit 2
fi
dir=$1
cnnc=$2
if [ ! -d "$dir" ] || [ ! -x "$cnnc" ]; then
  echo "$0: '$dir' is not a directory or '$cnnc' is not executable" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cnnc-diag.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 2' INT TERM
mkdir "$tmp/gen" "$tmp/out"

# A hang (say, an alias bomb being expanded) must fail, not stall ctest.
run_limited() {
  if command -v timeout >/dev/null 2>&1; then
    timeout 60 "$@"
  else
    "$@"
  fi
}

for g in "$dir"/gen_*.sh; do
  [ -e "$g" ] || continue
  if ! bash "$g" "$tmp/gen"; then
    echo "FAIL: generator $g"
    exit 1
  fi
done

pass=0
fail=0
for f in "$dir"/*.yaml "$tmp"/gen/*.yaml; do
  [ -e "$f" ] || continue
  name=${f##*/}
  # -a: generated files may hold NUL or invalid UTF-8 bytes.
  expects=$(grep -a '^# EXPECT: ' "$f" | sed 's/^# EXPECT: //'; [ -e "$f.expect" ] && sed -n 's/^# EXPECT: //p' "$f.expect")
  if [ -z "$expects" ]; then
    echo "FAIL: $name: no '# EXPECT:' lines"
    fail=$((fail + 1))
    continue
  fi
  rm -f -- "$tmp"/out/*
  run_limited "$cnnc" "$f" -o "$tmp/out/model.c" >"$tmp/stdout" 2>"$tmp/stderr"
  rc=$?
  ok=1
  why=""
  if [ "$rc" -ne 2 ]; then
    ok=0
    why="exit status $rc, expected 2"
  fi
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    want=${line//%s/$f}
    if ! grep -qaF -- "$want" "$tmp/stderr"; then
      ok=0
      why="${why:+$why; }missing: $want"
    fi
  done <<<"$expects"
  if [ -n "$(ls -A "$tmp/out")" ]; then
    ok=0
    why="${why:+$why; }left output files: $(ls -A "$tmp/out" | tr '\n' ' ')"
  fi
  if [ "$ok" -eq 1 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $name: $why"
    echo "---- stderr of $name:"
    head -c 4000 "$tmp/stderr"
    echo "----"
  fi
done

echo "diag tests: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
