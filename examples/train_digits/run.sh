#!/bin/sh
# run.sh - build and run the digits training demo.
#   examples/train_digits/run.sh [BUILD_DIR] [-- train_digits options]
# Uses BUILD_DIR/cnnc (default: build/ at the repository root) to generate digits.c
# from digits.yaml, compiles it with train.c, and trains on the committed data
# (digits_train.bin, digits_test.bin).  Outputs go to BUILD_DIR/train_digits/:
# the program, the generated C, loss_curve.csv and loss_curve.svg.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
cnnc=$build/cnnc
if [ ! -x "$cnnc" ]; then
  echo "run.sh: $cnnc not found; build first: cmake -S $root -B $build && cmake --build $build -j2" >&2
  exit 2
fi
out=$build/train_digits
mkdir -p "$out"
# The inference function used for evaluation reads the trained params buffer
# (a trainable model never embeds weights transformed at compile time).
"$cnnc" "$here/digits.yaml" --batch 64 -o "$out/digits.c"
${CC:-cc} -std=c99 -O3 -march=native -D_POSIX_C_SOURCE=200112L -D_ISOC11_SOURCE -I"$out" \
  "$here/train.c" "$out/digits.c" -lm -o "$out/train_digits"
cd "$out"
exec ./train_digits --data "$here" --out "$out" "$@"
