#!/bin/bash
# onnx_models.sh - end-to-end checks of the ONNX frontend against PyTorch.
#
# Exports models with tests/make_onnx_models.py (small nets covering the
# supported ops, then torchvision resnet18, mobilenet_v2, squeezenet1_1 and
# googlenet; or the whole classification zoo with --zoo) and runs
#   cnnc check MODEL.onnx --input input.npy --expect expect.npy
# on each, plus the batch-3 pair for the small nets (the files say batch 1).
# The reference is the PyTorch model evaluated in float64.
#
# Usage: tests/onnx_models.sh CNNC [--zoo] [--info] [--keep DIR] [NAME ...]
#   --zoo      the torchvision zoo instead of the default set
#   --info     import only (`cnnc info`), no C compilation: fast
#   --keep DIR export into DIR and keep it (default: a temp dir, removed)
# Exit status: 0 all passed, 1 a model failed, 77 skipped (no torch/onnx:
# ctest's SKIP_RETURN_CODE), 2 usage.
set -u
CNNC=${1:-}
[ -n "$CNNC" ] && [ -x "$CNNC" ] || { echo "usage: $0 CNNC [--zoo] [--info] [--keep DIR] [NAME ...]" >&2; exit 2; }
shift
ZOO= INFO= KEEP= NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --zoo) ZOO=--zoo ;;
    --info) INFO=1 ;;
    --keep) KEEP=${2:?--keep needs a directory}; shift ;;
    *) NAMES+=("$1") ;;
  esac
  shift
done
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, torchvision, onnx, numpy' 2>/dev/null; then
  echo "onnx_models: skipped ($PY cannot import torch, torchvision, onnx and numpy)"
  exit 77
fi
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -n "$KEEP" ]; then
  OUT=$KEEP
  mkdir -p "$OUT"
else
  OUT=$(mktemp -d "${TMPDIR:-/tmp}/cnnc_onnx_models.XXXXXX")
  trap 'rm -rf "$OUT"' EXIT
fi
if ! "$PY" "$HERE/make_onnx_models.py" "$OUT" $ZOO "${NAMES[@]}" 2>"$OUT/export.log"; then
  echo "onnx_models: export failed:" >&2
  tail -20 "$OUT/export.log" >&2
  exit 1
fi

fail=0
printf '%-22s %-6s %s\n' model result detail
for d in "$OUT"/*/; do
  name=$(basename "$d")
  [ -f "$d/model.onnx" ] || continue
  if [ -n "$INFO" ]; then
    if "$CNNC" info "$d/model.onnx" >"$d/info.txt" 2>&1; then
      printf '%-22s %-6s %s\n' "$name" ok "$(grep -c . "$d/info.txt") lines of info"
    else
      printf '%-22s %-6s %s\n' "$name" FAIL "$(head -3 "$d/info.txt" | tr '\n' ' ')"
      fail=1
    fi
    continue
  fi
  for b in "" _b3; do
    [ -f "$d/input$b.npy" ] || continue
    if "$CNNC" check "$d/model.onnx" --input "$d/input$b.npy" --expect "$d/expect$b.npy" >"$d/check$b.txt" 2>&1; then
      res=ok
    else
      res=FAIL
      fail=1
    fi
    printf '%-22s %-6s %s\n' "$name${b:+ (batch 3)}" "$res" "$(head -3 "$d/check$b.txt" | tr '\n' ' ' | cut -c1-200)"
  done
done
exit $fail
