#!/bin/bash
# tests/bench_ab.sh CNNC MODEL - bench/ab.sh works: two identical builds of
# MODEL timed in turns give bit-identical outputs and a sane ratio, also when
# one side runs 1 thread and the other 2 (OpenMP); a build that does not
# compile fails the script.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cnnc=$1 model=$2
fail=0
check() { # label json
  echo "$1: $2"
  /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
ok = r["steps"] >= 10 and r["max_abs_diff"] == 0 and 0.2 < r["b_over_a_step_median"] < 5
sys.exit(0 if ok else 1)' "$2" || { echo "FAIL: $1"; fail=1; }
}
out=$(CNNC_A=$cnnc CNNC_B=$cnnc bash "$root/bench/ab.sh" "$model" "" "" 0.3) || { echo "FAIL: serial run"; exit 1; }
check serial "$out"
out=$(THREADS=2 THREADS_A=1 CNNC_A=$cnnc CNNC_B=$cnnc bash "$root/bench/ab.sh" "$model" "-DRT_PAR_MIN_WORK=1" \
      "-DRT_PAR_MIN_WORK=1" 0.3) || { echo "FAIL: threads run"; exit 1; }
check "1 vs 2 threads" "$out"
if CNNC_A=$cnnc CNNC_B=$cnnc bash "$root/bench/ab.sh" "$model" "" "-include /nonexistent/cnnc.h" 0.1 >/dev/null 2>&1; then
  echo "FAIL: a build that does not compile was not reported"
  fail=1
fi
exit $fail
