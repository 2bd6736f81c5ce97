#!/bin/bash
# digits_demo.sh BUILD_DIR - the training demo reaches >= 95% test accuracy.
set -eu
out=$(sh "$(dirname "$0")/../examples/train_digits/run.sh" "$1" 2>&1)
printf '%s\n' "$out" | tail -4
acc=$(printf '%s\n' "$out" | sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' | tail -1)
[ -n "$acc" ] || { echo "no test accuracy in the output"; exit 1; }
awk -v a="$acc" 'BEGIN { exit !(a >= 95.0) }' || { echo "test accuracy $acc% < 95%"; exit 1; }
echo "test accuracy $acc% >= 95%"
