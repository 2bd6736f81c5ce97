#!/bin/bash
# gen_deep.sh OUTDIR - writes deep_nesting.yaml: a `layers:` value nested
# 5000 flow sequences deep (BAD-INPUTS A5).  libyaml 0.2.5 has no nesting
# limit of its own; cnnc must stop at its depth cap (64) with a location
# instead of recursing or exhausting memory.  Generated because 10 KB of
# brackets would make a poor file to review.
set -eu
out=${1:-.}
f=$out/deep_nesting.yaml
{
  echo "# A5: 5000 nested flow sequences; the depth cap stops at the 64th level."
  echo "# EXPECT: %s:5:72: error: YAML nesting is deeper than 64 levels"
  echo "cnnc: 1"
  echo "inputs: [{name: x, shape: [4]}]"
  printf 'layers: '
  head -c 5000 /dev/zero | tr '\0' '['
  head -c 5000 /dev/zero | tr '\0' ']'
  echo
} >"$f"
