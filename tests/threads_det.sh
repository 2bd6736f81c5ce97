#!/bin/bash
# threads_det.sh CNNC MODEL X - results must be bit-identical for 1 and 2 threads.
set -eu
cnnc=$1 model=$2 x=$3
# tiny parallel thresholds, so every kernel's parallel loop really runs on 2 threads
export CNNC_EXTRA_CFLAGS="-DRT_PAR_MIN_WORK=64 -DRT_PAR_MIN_ELEMS=64"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cnnc" run "$model" --input "$x" --output "$tmp/t1.npy" --threads 1
"$cnnc" run "$model" --input "$x" --output "$tmp/t2.npy" --threads 2
if cmp "$tmp/t1.npy" "$tmp/t2.npy"; then
  echo "bit-identical with 1 and 2 threads"
else
  echo "results differ between 1 and 2 threads"
  exit 1
fi
