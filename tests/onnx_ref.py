#!/usr/bin/python3
"""onnx_ref.py - turn make_models.py output directories into `cnnc check` inputs.

make_models.py (shared/bench/make_models.py --out ROOT) writes, per model,
ROOT/NAME/{model.onnx, input.bin, output.bin, output_f64.bin, meta.json}: raw
little-endian buffers whose shapes are only in meta.json.  This writes beside them
  input.npy   float32, meta["input"]["shape"]   (batch first, C order)
  expect.npy  float64, meta["output"]["shape"]  (the PyTorch float64 reference)
so a test can run
  cnnc check ROOT/NAME/model.onnx --input ROOT/NAME/input.npy --expect ROOT/NAME/expect.npy

Usage:
  onnx_ref.py DIR [DIR ...]                         convert existing directories
  onnx_ref.py --make MAKE_MODELS.py --out ROOT [NAME ...]
                                                    run make_models.py first (all models
                                                    when no NAME), then convert ROOT/NAME
Exit status 0 on success, 2 on a bad directory.  Needs only numpy (onnx is used,
when present, to cross-check the graph's declared input/output shapes).
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np


def convert(d):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    ishape = [int(v) for v in meta["input"]["shape"]]
    oshape = [int(v) for v in meta["output"]["shape"]]
    x = np.fromfile(os.path.join(d, meta["input"].get("file", "input.bin")), dtype="<f4")
    y = np.fromfile(os.path.join(d, meta["output"].get("f64_file", "output_f64.bin")), dtype="<f8")
    if x.size != int(np.prod(ishape)) or y.size != int(np.prod(oshape)):
        raise ValueError(f"{d}: buffer sizes {x.size}/{y.size} do not match shapes {ishape}/{oshape}")
    try:
        import onnx

        m = onnx.load(os.path.join(d, meta.get("model", "model.onnx")), load_external_data=False)

        def dims(vi):
            return [dd.dim_value for dd in vi.type.tensor_type.shape.dim]
        if dims(m.graph.input[0]) != ishape or dims(m.graph.output[0]) != oshape:
            raise ValueError(f"{d}: model.onnx shapes {dims(m.graph.input[0])} -> {dims(m.graph.output[0])} "
                             f"differ from meta.json {ishape} -> {oshape}")
    except ImportError:
        pass
    np.save(os.path.join(d, "input.npy"), x.reshape(ishape))
    np.save(os.path.join(d, "expect.npy"), y.reshape(oshape))
    print(f"{d}: input {ishape} expect {oshape} max|y|={np.abs(y).max():.4g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make", help="path of make_models.py to run first")
    ap.add_argument("--out", help="output root for --make")
    ap.add_argument("args", nargs="*", help="directories, or model names with --make")
    a = ap.parse_args()
    if a.make:
        if not a.out:
            ap.error("--make needs --out")
        subprocess.run([sys.executable, a.make, "--out", a.out] + a.args, check=True)
        names = a.args or sorted(n for n in os.listdir(a.out)
                                 if os.path.isfile(os.path.join(a.out, n, "meta.json")))
        dirs = [os.path.join(a.out, n) for n in names]
    else:
        dirs = a.args
    if not dirs:
        ap.error("no directories")
    try:
        for d in dirs:
            convert(d)
    except (OSError, ValueError, KeyError) as e:
        print(f"onnx_ref.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
