#!/bin/bash
# bench/ab.sh - same-process A/B of two builds of one model.
#
#   bench/ab.sh MODEL "CFLAGS_A" "CFLAGS_B" [SECONDS]
#
# MODEL is a name under $CNNC_BENCH_MODELS (default /tmp/cnnc-peers/models,
# made by bench/run.sh; its input.bin is the input) or a path to a .onnx/.yaml
# file (input: zeros).  Build A is the model compiled by $CNNC_A (default
# build/cnnc) and cc with CFLAGS_A, build B by $CNNC_B with CFLAGS_B (e.g.
# -DRT_PACK1X1_MINM=1000000000, or two cnnc binaries with empty flags).  A
# knob that sizes scratch memory (RT_PWDW_BYTES, the Winograd block) must also
# be in the cnnc that sizes the arena: build that cnnc with the same -D (cmake
# -DCMAKE_C_FLAGS=...) and pass it as CNNC_B, or the kernels overrun it.  Both are
# linked into bench/ab.c and timed in turns for SECONDS (default 10).  THREADS=N
# (default 1) builds with -fopenmp and runs N threads (THREADS_A/THREADS_B:
# each side's own count, e.g. THREADS=2 THREADS_A=1).  Prints one JSON line;
# b_over_a_step_median < 1 means B is faster.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
models=${CNNC_BENCH_MODELS:-/tmp/cnnc-peers/models}
cc=${CC:-cc}
[ $# -ge 3 ] || { echo "usage: bench/ab.sh MODEL CFLAGS_A CFLAGS_B [SECONDS]" >&2; exit 2; }
m=$1 fa=$2 fb=$3 secs=${4:-10}
threads=${THREADS:-1}
omp=""
[ "$threads" -gt 1 ] && omp=-fopenmp
if [ -f "$m" ]; then src=$m input=-; else src=$models/$m/model.onnx input=$models/$m/input.bin; fi
work=$(mktemp -d /tmp/cnnc-ab.XXXXXX)
trap 'rm -rf "$work"' EXIT
"${CNNC_A:-$root/build/cnnc}" "$src" --name ma -o "$work/ma.c"
"${CNNC_B:-$root/build/cnnc}" "$src" --name mb -o "$work/mb.c"
set -f # the flags are word lists that may hold '*': -DRT_PAR_MIN_WORK=(64*1024)
# shellcheck disable=SC2086
"$cc" -O3 -march=native -std=c99 $omp $fa -c "$work/ma.c" -o "$work/ma.o" &
pa=$!
# shellcheck disable=SC2086
"$cc" -O3 -march=native -std=c99 $omp $fb -c "$work/mb.c" -o "$work/mb.o"
wait "$pa"
set +f
"$cc" -O2 -std=c99 $omp -I "$work" "$here/ab.c" "$work/ma.o" "$work/mb.o" -o "$work/ab" -lm
OMP_NUM_THREADS=$threads "$work/ab" "$input" "$secs"
