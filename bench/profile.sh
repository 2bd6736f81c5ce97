#!/bin/bash
# bench/profile.sh - per-layer time of one model compiled by cnnc.
#
#   bench/profile.sh MODEL [cnnc options...]
#
# MODEL is a name under $CNNC_BENCH_MODELS (default /tmp/cnnc-peers/models,
# made by bench/run.sh) or a path to a .onnx/.yaml file.  The model is compiled
# with the CNNC_LAYER_HOOK profiling hook (bench/profile_hook.h) and timed by
# bench/harness.c built with -DCNNC_PROFILE, 1 thread (CNNC_PROFILE_THREADS=N:
# OpenMP with N threads; CNNC_EXTRA_CFLAGS: more compiler flags, e.g.
# -DRT_PAR_MIN_WORK=...); prints the JSON timing line, then each layer's
# median milliseconds and share of the total.  With CNNC_PROFILE_VS1=1 (and
# CNNC_PROFILE_THREADS=N) runs alternate between 1 and N threads in the one
# process and each layer shows both medians and their ratio (on a noisy host
# medians and fast runs can disagree about threads: see README, Speed).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
models=${CNNC_BENCH_MODELS:-/tmp/cnnc-peers/models}
cnnc=${CNNC:-$root/build/cnnc}
cc=${CC:-cc}
m=$1
shift
if [ -f "$m" ]; then src=$m; input=""; else src=$models/$m/model.onnx; input=$models/$m/input.bin; fi
work=$(mktemp -d /tmp/cnnc-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$cnnc" "$src" --name m -o "$work/m.c" "$@"
threads=${CNNC_PROFILE_THREADS:-1}
omp=""
[ "$threads" -gt 1 ] && omp=-fopenmp
"$cc" -O3 -march=native -std=c99 $omp ${CNNC_EXTRA_CFLAGS:-} -include "$here/profile_hook.h" -c "$work/m.c" -o "$work/m.o"
"$cc" -O3 -march=native -std=c99 $omp -DCNNC_PROFILE -I "$work" "$here/harness.c" "$work/m.o" -o "$work/h" -lm
export OMP_NUM_THREADS=$threads
if [ -z "$input" ]; then
  input=$work/zero.bin
  n=$(sed -n 's/^#define M_INPUT_SIZE \([0-9][0-9]*\).*/\1/p' "$work/m.h")
  [ -n "$n" ] || n=$(sed -n 's/^#define M_INPUT0_SIZE \([0-9][0-9]*\).*/\1/p' "$work/m.h")
  head -c "$((n * 4))" /dev/zero > "$input"
fi
"$work/h" "$input" --min-time "${CNNC_PROFILE_TIME:-2}"
