#!/bin/bash
# threads_det.sh CNNC MODEL X [cnnc options...] - results must be bit-identical
# for 1 and 2 threads.
set -eu
cnnc=$1 model=$2 x=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# tiny parallel thresholds, so every kernel's parallel loop really runs on 2
# threads; then every layer that may split by pixels does (RT_SPLIT_PIX_MIN=1),
# then none does
base="-DRT_PAR_MIN_WORK=64 -DRT_PAR_MIN_ELEMS=64"
export CNNC_EXTRA_CFLAGS="$base"
"$cnnc" run "$model" --input "$x" --output "$tmp/t1.npy" --threads 1 "$@"
for split in "" "-DRT_SPLIT_PIX_MIN=1" "-DRT_SPLIT_PIX_MIN=1000000000"; do
  export CNNC_EXTRA_CFLAGS="$base $split"
  "$cnnc" run "$model" --input "$x" --output "$tmp/t2.npy" --threads 2 "$@"
  if cmp "$tmp/t1.npy" "$tmp/t2.npy"; then
    echo "bit-identical with 1 and 2 threads ($CNNC_EXTRA_CFLAGS)"
  else
    echo "results differ between 1 and 2 threads ($CNNC_EXTRA_CFLAGS)"
    exit 1
  fi
done
