#!/usr/bin/python3
"""train_check.py - end-to-end training tests of `cnnc run --train` (numpy only, no torch).

Golden mode (default):
  train_check.py --cnnc build/cnnc tests/train_model_golden/NAME [...]
For each golden directory (written by tests/gen_train_model_golden.py) it runs
  cnnc run model.yaml --train --input x.npy --target t.npy --steps 1 --grads G --output L1
  cnnc run model.yaml --train --input x.npy --target t.npy --steps 3 --params-out P --output L3
and compares, per tensor, with the project tolerance max|d| <= 1e-4 * max(1, max|ref|)
(and, so that small gradients are not waved through, max|d| <= 1e-3 * max|ref| + 1e-7):
  - the 3 losses (L3) against loss.npy, and the step-1 loss of both runs against each other;
  - the step-1 gradients (G) against grads.safetensors: the same set of names (every
    trainable parameter, no frozen one, no buffer);
  - the parameters and buffers after 3 steps (P) against params3.safetensors, same names;
  - every parameter that has no gradient (frozen) is bit-identical to its initial value.
The table (tensor, max|d|, max|ref|, relative error, ok) is printed before the verdict;
the exit status is 1 on any mismatch, 2 when cnnc fails to run.

Finite-difference mode:
  train_check.py --cnnc build/cnnc --fd [--coords K] [--eps E] tests/train_model_golden/NAME [...]
Checks cnnc's own step-1 gradient against central differences of cnnc's own loss
(`run --train --steps 1 --output`, which is the loss at the given weights, before any
update), perturbing the weights file (--weights):
  - per parameter tensor, one random +-1 direction d scaled by eps * max(1, max|p|) / sqrt(numel):
    (L(p+d) - L(p-d)) / 2 against g . d  (checks every coordinate at once);
  - per tensor, K random single coordinates (default 1) with h = eps * max(1, |p_i|).
Float32 losses and kinks (ReLU, max pooling, clip) crossed by the perturbation make
this a loose test: an error counts as ok when it is within 5% of the reference
derivative or within a floor set by the float32 rounding of the loss.

Dropout mode:
  train_check.py --cnnc build/cnnc --dropout
Builds a model x -> linear (identity weights) -> dropout(p) -> mse against 0 with
x = 1, so the loss is (1/(1-p))^2 times the kept fraction and d(loss)/d(bias_j)
is proportional to the number of samples that kept unit j.  Checks the kept
fraction against 1-p (4 sigma), that the masks change from step to step and
from sample to sample, that dropped positions get exactly no gradient (the
scaled gradients are whole numbers) and that the gradients agree with the loss.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

TOL = 1e-4          # the project tolerance: max|d| <= TOL * max(1, max|ref|)
SCALE_TOL, ABS_FLOOR = 1e-3, 1e-7   # and, scale-aware: max|d| <= SCALE_TOL * max|ref| + ABS_FLOOR
FD_REL, FD_FLOOR_ULPS = 0.05, 64.0

# ------------------------------------------------------------------ file I/O

_ST_DT = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "BF16": "bf16"}


def read_safetensors(path):
    """{name: float64 array} (the order of the header is kept)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    base, out = 8 + n, {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        buf = raw[base + a: base + b]
        if v["dtype"] == "BF16":
            arr = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(buf, _ST_DT[v["dtype"]])
        out[k] = arr.astype(np.float64).reshape(v["shape"])
    return out


def write_safetensors_f32(path, tensors):
    header, blobs, off = {}, [], 0
    for k, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(np.shape(a)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def run_cnnc(cnnc, args):
    r = subprocess.run([cnnc] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        raise RuntimeError(f"cnnc {' '.join(args)} exited with {r.returncode}")
    return r


def train_run(cnnc, d, tmp, tag, steps, weights=None, grads=False, params=False):
    model = os.path.join(d, "model.yaml")
    args = ["run", model, "--train", "--input", os.path.join(d, "x.npy"), "--target", os.path.join(d, "t.npy"),
            "--steps", str(steps), "--output", os.path.join(tmp, tag + "_loss.npy")]
    if weights:
        args += ["--weights", weights]
    if grads:
        args += ["--grads", os.path.join(tmp, tag + "_grads.safetensors")]
    if params:
        args += ["--params-out", os.path.join(tmp, tag + "_params.safetensors")]
    run_cnnc(cnnc, args)
    out = {"loss": np.load(os.path.join(tmp, tag + "_loss.npy")).astype(np.float64)}
    if grads:
        out["grads"] = read_safetensors(os.path.join(tmp, tag + "_grads.safetensors"))
    if params:
        out["params"] = read_safetensors(os.path.join(tmp, tag + "_params.safetensors"))
    return out


def is_buffer(name):
    return name.endswith(".running_mean") or name.endswith(".running_var")


# ------------------------------------------------------------------ golden mode

def check_golden(cnnc, d, keep):
    name = os.path.basename(os.path.normpath(d))
    tmp = tempfile.mkdtemp(prefix=f"train_check_{name}_")
    rows, problems = [], []
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            f1 = ex.submit(train_run, cnnc, d, tmp, "s1", 1, grads=True)
            f3 = ex.submit(train_run, cnnc, d, tmp, "s3", 3, params=True)
            r1, r3 = f1.result(), f3.result()
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    ref_loss = np.load(os.path.join(d, "loss.npy")).astype(np.float64)
    ref_g = read_safetensors(os.path.join(d, "grads.safetensors"))
    ref_p = read_safetensors(os.path.join(d, "params3.safetensors"))
    w0 = read_safetensors(os.path.join(d, "weights.safetensors"))

    def row(label, got, ref):
        got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
        if got.shape != ref.shape:
            rows.append((label, float("inf"), float(np.abs(ref).max()) if ref.size else 0.0, float("inf"), False))
            problems.append(f"{label}: shape {list(got.shape)} vs reference {list(ref.shape)}")
            return
        diff = np.abs(got - ref)
        worst = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))) if diff.size else 0.0
        mref = float(np.abs(ref).max()) if ref.size else 0.0
        rel = worst / max(1.0, mref)
        rows.append((label, worst, mref, rel, rel <= TOL and worst <= SCALE_TOL * mref + ABS_FLOOR))

    if r3["loss"].shape != ref_loss.shape:
        problems.append(f"loss.npy of --steps 3 has shape {list(r3['loss'].shape)}, expected {list(ref_loss.shape)}")
    else:
        for s in range(len(ref_loss)):
            row(f"loss[step {s + 1}]", r3["loss"][s], ref_loss[s])
    if r1["loss"].shape != (1,) or r3["loss"].size < 1 or r1["loss"][0] != r3["loss"][0]:
        problems.append(f"step-1 loss differs between --steps 1 ({r1['loss']}) and --steps 3 ({r3['loss'][:1]})")
    for k in ref_g:
        if k in r1["grads"]:
            row(f"grad {k}", r1["grads"][k], ref_g[k])
    for k in ref_p:
        if k in r3["params"]:
            row(f"param {k}", r3["params"][k], ref_p[k])
    for what, got, ref in (("grads", r1["grads"], ref_g), ("params-out", r3["params"], ref_p)):
        extra, missing = sorted(set(got) - set(ref)), sorted(set(ref) - set(got))
        if extra:
            problems.append(f"{what}: tensors not in the reference: {' '.join(extra)}")
        if missing:
            problems.append(f"{what}: reference tensors missing: {' '.join(missing)}")
    frozen = [k for k in w0 if k not in ref_g and not is_buffer(k)]
    for k in frozen:
        if k in r3["params"] and not np.array_equal(r3["params"][k], w0[k]):
            problems.append(f"frozen parameter {k} changed (max|d| {np.abs(r3['params'][k] - w0[k]).max():.3g})")

    print(f"== {name}: {len(ref_g)} trainable tensors, {len(frozen)} frozen, "
          f"{sum(is_buffer(k) for k in ref_p)} buffers")
    print(f"  {'tensor':44s} {'max|d|':>10s} {'max|ref|':>10s} {'rel':>10s} {'d/max|ref|':>10s}  ok")
    for label, worst, mref, rel, ok in rows:
        print(f"  {label:44s} {worst:10.3g} {mref:10.3g} {rel:10.3g} {worst / max(mref, 1e-300):10.3g}  "
              f"{'ok' if ok else 'MISMATCH'}")
    for label, worst, mref, rel, ok in rows:
        if not ok:
            problems.append(f"{label}: max|d| {worst:.3g} > {TOL:g} * max(1, {mref:.3g}) or > "
                            f"{SCALE_TOL:g} * {mref:.3g} + {ABS_FLOOR:g}")
    gr = max([r[3] for r in rows if r[0].startswith("grad")] or [0.0])
    pr = max([r[3] for r in rows if r[0].startswith("param")] or [0.0])
    lr = max([r[3] for r in rows if r[0].startswith("loss")] or [0.0])
    print(f"  summary {name}: max rel error loss {lr:.2g}, grads {gr:.2g}, params after 3 steps {pr:.2g}")
    for p in problems:
        print(f"  FAIL {name}: {p}")
    return not problems


# ------------------------------------------------------------------ finite differences

def check_fd(cnnc, d, coords, eps, jobs, keep, seed):
    name = os.path.basename(os.path.normpath(d))
    tmp = tempfile.mkdtemp(prefix=f"train_fd_{name}_")
    rng = np.random.default_rng(seed)
    try:
        base = train_run(cnnc, d, tmp, "base", 1, grads=True)
        G, L0 = base["grads"], float(base["loss"][0])
        w0 = read_safetensors(os.path.join(d, "weights.safetensors"))
        w0 = {k: v.astype(np.float32).astype(np.float64) for k, v in w0.items()}
        probes = []   # (label, {tensor: (dplus, dminus)} , analytic function)
        for k in G:
            p = w0[k]
            # +-1 in every coordinate, scaled so that the step has the length of a single-coordinate one
            scale = eps * max(1.0, float(np.abs(p).max())) / np.sqrt(p.size)
            r = rng.choice([-1.0, 1.0], size=p.shape)
            probes.append((f"{k} dir", k, r * scale, None))
            for _ in range(coords):
                i = tuple(int(rng.integers(0, n)) for n in p.shape)
                e = np.zeros(p.shape)
                e[i] = eps * max(1.0, abs(float(p[i])))
                probes.append((f"{k}{list(i)}", k, e, i))
        jobs_list = []
        for j, (label, k, delta, idx) in enumerate(probes):
            for sgn in (1, -1):
                w = dict(w0)
                w[k] = (w0[k] + sgn * delta).astype(np.float32).astype(np.float64)
                path = os.path.join(tmp, f"w{j}_{'p' if sgn > 0 else 'm'}.safetensors")
                write_safetensors_f32(path, w)
                jobs_list.append((j, sgn, path, w[k] - w0[k]))

        def one(job):
            j, sgn, path, actual = job
            r = train_run(cnnc, d, tmp, f"fd{j}{'p' if sgn > 0 else 'm'}", 1, weights=path)
            return j, sgn, float(r["loss"][0]), actual

        res = {}
        with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
            for j, sgn, loss, actual in ex.map(one, jobs_list):
                res[(j, sgn)] = (loss, actual)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)

    ok_all, worst_rel = True, 0.0
    floor_loss = FD_FLOOR_ULPS * np.spacing(np.float32(max(1.0, abs(L0))))   # float32 loss noise
    print(f"== {name} (finite differences, eps {eps:g}, loss {L0:.6g})")
    print(f"  {'probe':40s} {'fd':>12s} {'analytic':>12s} {'|err|':>10s} {'rel':>9s}  ok")
    for j, (label, k, delta, idx) in enumerate(probes):
        (lp, dp), (lm, dm) = res[(j, 1)], res[(j, -1)]
        g = G[k]
        if idx is None:
            # L(p+dp) - L(p+dm) ~ g . (dp - dm): compare the difference quotient along the direction
            fd = (lp - lm) / 2.0
            an = float(np.sum(g * (dp - dm))) / 2.0
            floor = floor_loss
        else:
            h = (dp[idx] - dm[idx]) / 2.0
            fd = (lp - lm) / (2.0 * h)
            an = float(g[idx])
            floor = floor_loss / h
        err = abs(fd - an)
        rel = err / max(abs(an), 1e-30)
        ok = err <= FD_REL * abs(an) + floor
        worst_rel = max(worst_rel, min(rel, err / max(floor, 1e-30)))
        ok_all &= ok
        print(f"  {label:40s} {fd:12.5g} {an:12.5g} {err:10.3g} {rel:9.2g}  {'ok' if ok else 'MISMATCH'}")
    print(f"  summary {name}: {len(probes)} probes, {2 * len(probes)} cnnc runs, "
          f"{'all ok' if ok_all else 'MISMATCHES'}")
    return ok_all


# ------------------------------------------------------------------ dropout statistics

def check_dropout(cnnc, keep, p=0.5, batch=64, width=16):
    tmp = tempfile.mkdtemp(prefix="train_dropout_")
    problems = []
    try:
        with open(os.path.join(tmp, "model.yaml"), "w") as f:
            f.write(f"""cnnc: 1
name: dropstat
inputs:
  - {{name: x, shape: [{width}]}}
weights: weights.safetensors
layers:
  - {{name: fc, op: linear, out_features: {width}}}
  - {{name: dr, op: dropout, p: {p}}}
train:
  loss: mse
  optimizer: {{type: sgd, lr: 0.0}}
""")
        write_safetensors_f32(os.path.join(tmp, "weights.safetensors"),
                              {"fc.weight": np.eye(width), "fc.bias": np.zeros(width)})
        np.save(os.path.join(tmp, "x.npy"), np.ones((batch, width), "<f4"))
        np.save(os.path.join(tmp, "t.npy"), np.zeros((batch, width), "<f4"))
        r = train_run(cnnc, tmp, tmp, "d", 3, grads=True)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    s = 1.0 / (1.0 - p)
    numel = batch * width
    kept = r["loss"] / (s * s)                       # kept fraction per step
    sigma = np.sqrt(p * (1 - p) / numel)
    gb, gw = r["grads"]["fc.bias"], r["grads"]["fc.weight"]
    counts = gb * numel / (2 * s * s)                 # samples that kept unit j (last step)
    print(f"== dropout p={p}, batch {batch} x {width} units")
    print(f"  kept fraction per step: {' '.join(f'{v:.4f}' for v in kept)} (expected {1 - p:.4f} +- {4 * sigma:.4f})")
    print(f"  per-unit kept counts (last step): {' '.join(f'{v:.3f}' for v in counts)}")
    if np.any(np.abs(kept - (1 - p)) > 4 * sigma):
        problems.append("kept fraction outside 4 sigma of 1-p")
    if len(set(np.round(kept * numel).astype(int))) < 2:
        problems.append("the same number of kept units at every step: masks do not change between steps")
    if np.any(np.abs(counts - np.round(counts)) > 1e-3) or np.any(counts < -1e-3) or np.any(counts > batch + 1e-3):
        problems.append("scaled bias gradients are not whole numbers in [0, batch]: dropped positions leak gradient")
    if np.all((np.round(counts) == 0) | (np.round(counts) == batch)):
        problems.append("every unit kept by all samples or by none: one mask shared by the whole batch")
    if abs(counts.sum() - kept[-1] * numel) > 1e-2 * max(1.0, kept[-1] * numel):
        problems.append(f"gradients ({counts.sum():.3f} kept) disagree with the loss ({kept[-1] * numel:.3f} kept)")
    if np.abs(gw - gb[:, None]).max() > 1e-6 * max(1.0, np.abs(gb).max()):
        problems.append("weight gradient rows differ from the bias gradient (x = 1)")
    for q in problems:
        print(f"  FAIL dropout: {q}")
    if not problems:
        print("  dropout ok")
    return not problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--fd", action="store_true", help="finite-difference mode")
    ap.add_argument("--dropout", action="store_true", help="dropout statistics mode")
    ap.add_argument("--coords", type=int, default=1, help="FD: single coordinates per tensor")
    ap.add_argument("--eps", type=float, default=1e-2, help="FD: relative step")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="FD: concurrent cnnc runs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary files")
    ap.add_argument("dirs", nargs="*")
    a = ap.parse_args()
    ok = True
    try:
        if a.dropout:
            ok &= check_dropout(a.cnnc, a.keep)
        for d in a.dirs:
            if a.fd:
                ok &= check_fd(a.cnnc, d, a.coords, a.eps, a.jobs, a.keep, a.seed)
            else:
                ok &= check_golden(a.cnnc, d, a.keep)
    except RuntimeError as e:
        print(f"error: {e}")
        return 2
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
