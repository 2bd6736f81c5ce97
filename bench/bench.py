#!/usr/bin/python3
"""bench.py - cnnc against ONNX Runtime and PyTorch on the peer model zoo.

Model mode (default):
  1. the models of $CNNC_PEERS_BENCH/make_models.py (default /work/shared/bench)
     are exported to $CNNC_BENCH_MODELS (default /tmp/cnnc-peers/models) when
     missing; the script is run by path, never copied;
  2. each model.onnx is compiled with `cnnc MODEL --name m -o WORK/NAME/m.c`,
     and bench/harness.c is built against it with `cc -O3 -march=native`
     (plus -fopenmp for runs with more than one thread);
  3. ONNX Runtime (ort_bench.js, after setup.sh when onnxruntime-node is
     missing) and PyTorch (torch_bench.py) are timed in the same run,
     interleaved with cnnc model by model for --rounds rounds (best median of
     each kept), so a busy machine slows all of them alike;
  4. one table: model, threads, cnnc/ORT/torch median ms, ORT/cnnc ratio
     (> 1: cnnc is faster), effective GFLOP/s (meta.json macs * 2 / time), %
     of peak (per thread: measured by bench/peak.c, or CNNC_PEAK_GFLOPS), and the max |error|
     of cnnc's output against output_f64.bin (and ORT's, for scale).

Layer mode (--layers): every conv layer shape of the models (deduplicated) is
timed with each algorithm alone via bench/layers.c linked with runtime/*.c,
printing GFLOP/s and % of peak per algorithm and the best one.

Compile mode (--compile): each model is compiled by cnnc and then by
`cc -O2 -march=native -c`, once with the weights embedded in the C file (the
default form) and once with --weights-out (a blob file), timing each step
with /usr/bin/time (wall seconds, peak resident memory) -- the issue's
"compiles in <= 10 s and <= 1 GiB" measure.

Everything printed is also written as JSON to WORK/results.json (or
layers.json).  WORK defaults to /tmp/cnnc-bench.  Use /usr/bin/python3: it
has numpy/onnx/torch as Debian packages.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS_BENCH = os.environ.get("CNNC_PEERS_BENCH", "/work/shared/bench")
PEERS = os.environ.get("PEERS", "/tmp/cnnc-peers")
MODELS = os.environ.get("CNNC_BENCH_MODELS", os.path.join(PEERS, "models"))
WORK = os.environ.get("CNNC_BENCH_WORK", "/tmp/cnnc-bench")
def default_peak():
    """This core's FP32 peak, GFLOP/s: bench/peak.c (12 FMA chains of the
    widest vectors, -march=native, best of 50 runs) measured once per run
    (override: CNNC_PEAK_GFLOPS).  The issue quotes ~220 for the AVX-512
    hosts; measured there it was ~288, so % of peak uses the measurement."""
    exe = os.path.join(WORK, "peak")
    os.makedirs(WORK, exist_ok=True)
    run([CC, "-O2", "-march=native", "-std=c99", os.path.join(ROOT, "bench", "peak.c"), "-o", exe])
    return run([exe]).strip()


PEAK = None  # set in main: measured unless CNNC_PEAK_GFLOPS
CC = os.environ.get("CC", "cc")
ORDER = ["lenet5", "cifar_resnet", "resnet18", "mobilenet_v2", "squeezenet1_1", "googlenet", "unet_small", "tdnn"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, env=None, check=True, capture=True, timeout=None):
    """Run cmd; return stdout text.  On failure raise with stderr attached."""
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {r.returncode}: {r.stderr.strip()[-800:]}")
    return r.stdout if capture else ""


def json_lines(text):
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return out


# ------------------------------------------------------------------ setup


def ensure_models(names):
    """Export the requested models (all when names is empty) if missing."""
    want = names or ORDER
    missing = [n for n in want if not os.path.exists(os.path.join(MODELS, n, "meta.json"))]
    if missing:
        log(f"exporting {', '.join(missing)} to {MODELS} ...")
        run(["/usr/bin/python3", os.path.join(PEERS_BENCH, "make_models.py"), "--out", MODELS] + missing,
            capture=False)
    have = [n for n in want if os.path.exists(os.path.join(MODELS, n, "meta.json"))]
    return have


def ensure_ort():
    ort = os.path.join(PEERS, "ort", "node_modules", "onnxruntime-node", "package.json")
    if not os.path.exists(ort):
        log("installing onnxruntime-node (setup.sh) ...")
        run(["bash", os.path.join(PEERS_BENCH, "setup.sh")], capture=False)
    return os.path.exists(ort)


def find_cnnc(arg):
    for c in [arg, os.environ.get("CNNC"), os.path.join(ROOT, "build", "cnnc")]:
        if c and os.path.exists(c) and os.access(c, os.X_OK):
            return c
    sys.exit("bench: no cnnc binary; build it (cmake --build build) or pass --cnnc PATH")


# ------------------------------------------------------------ model mode


def build_model(cnnc, name, threads_list):
    """Compile NAME with cnnc and the harness; returns {threads: exe} and info."""
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "m.c")
    t0 = time.time()
    run([cnnc, os.path.join(MODELS, name, "model.onnx"), "--name", "m", "-o", src])
    info = {"cnnc_compile_s": round(time.time() - t0, 2), "c_bytes": os.path.getsize(src)}
    exes = {}
    for omp in sorted({t > 1 for t in threads_list}):
        tag = "omp" if omp else "serial"
        obj = os.path.join(d, f"m_{tag}.o")
        exe = os.path.join(d, f"harness_{tag}")
        flags = ["-O3", "-march=native", "-std=c99"] + (["-fopenmp"] if omp else []) + \
            os.environ.get("CNNC_EXTRA_CFLAGS", "").split()
        t0 = time.time()
        run([CC] + flags + ["-c", src, "-o", obj])
        run([CC] + flags + ["-I", d, os.path.join(ROOT, "bench", "harness.c"), obj, "-o", exe, "-lm"])
        info[f"cc_{tag}_s"] = round(time.time() - t0, 2)
        for t in threads_list:
            if (t > 1) == omp:
                exes[t] = exe
    return exes, info


def errors_vs_ref(name, out_path):
    d = os.path.join(MODELS, name)
    y = np.fromfile(out_path, dtype="<f4").astype(np.float64)
    r64 = np.fromfile(os.path.join(d, "output_f64.bin"), dtype="<f8")
    r32 = np.fromfile(os.path.join(d, "output.bin"), dtype="<f4").astype(np.float64)
    if y.shape != r64.shape:
        return float("nan"), float("nan")
    return float(np.max(np.abs(y - r64))), float(np.max(np.abs(y - r32)))


def ort_error_vs_f64(name):
    """ORT's own max |error| vs f64 is not printed by ort_bench.js (it compares
    with torch fp32); approximate it with torch-fp32-vs-f64 from meta.json."""
    meta = json.load(open(os.path.join(MODELS, name, "meta.json")))
    return meta.get("torch_fp32_vs_f64_max_abs", float("nan"))


def model_mode(a):
    names = ensure_models(a.names)
    threads = [int(t) for t in a.threads.split(",")]
    cnnc = find_cnnc(a.cnnc)
    results = {n: {"model": n} for n in names}
    exes = {}
    for n in names:
        meta = json.load(open(os.path.join(MODELS, n, "meta.json")))
        results[n]["flops"] = 2 * meta["macs"]
        try:
            exes[n], info = build_model(cnnc, n, threads)
            results[n].update(info)
        except Exception as e:  # report and go on with the other models
            results[n]["error"] = str(e)
            log(f"{n}: {e}")
    ort_ok = not a.no_peers and ensure_ort()
    # The machine may be shared: measure cnnc and the peers interleaved, model
    # by model, for several rounds, and keep each one's best median.
    for rnd in range(a.rounds):
        for n in names:
            for t in threads:
                if n not in exes:
                    break
                out = os.path.join(WORK, n, f"out_t{t}.bin")
                env = dict(os.environ, OMP_NUM_THREADS=str(t))
                try:
                    r = json_lines(run([exes[n][t], os.path.join(MODELS, n, "input.bin"), out, "--min-time",
                                        str(a.min_time)], env=env))[0]
                    e64, e32 = errors_vs_ref(n, out)
                    r.update(err_f64=e64, err_torch=e32, round=rnd)
                    keep(results[n], f"cnnc_t{t}", r)
                    log(f"round {rnd} {n:14s} t={t} cnnc {r['median_ms']:.3f} ms  err {e64:.3g}")
                except Exception as e:
                    results[n][f"cnnc_t{t}_error"] = str(e)
                    log(f"{n}: {e}")
            if ort_ok:
                try:
                    out = run(["node", os.path.join(PEERS_BENCH, "ort_bench.js"), "--threads", a.threads,
                               "--min-time", str(a.min_time), os.path.join(MODELS, n)], timeout=3600)
                    for r in json_lines(out):
                        keep(results[n], f"ort_t{r['threads']}", r)
                except Exception as e:
                    log(f"ort: {e}")
            if not a.no_peers and not a.no_torch:
                try:
                    out = run(["/usr/bin/python3", os.path.join(PEERS_BENCH, "torch_bench.py"), "--threads",
                               a.threads, "--models", MODELS, "--min-time", str(a.min_time), n], timeout=3600)
                    for r in json_lines(out):
                        keep(results[n], f"torch_t{r['threads']}", r)
                except Exception as e:
                    log(f"torch: {e}")
    print_model_table(names, threads, results)
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=1)


def keep(res, key, r):
    """Keep the record with the lowest median for key."""
    if "median_ms" in r and (key not in res or r["median_ms"] < res[key]["median_ms"]):
        res[key] = r


def fmt(v, spec):
    return "-" if v is None or (isinstance(v, float) and v != v) else format(v, spec)


def print_model_table(names, threads, results):
    hdr = (f"{'model':14s} {'thr':>3s} {'cnnc ms':>9s} {'ORT ms':>9s} {'ORT/cnnc':>8s} {'torch ms':>9s} "
           f"{'GFLOP/s':>8s} {'%peak':>6s} {'err vs f64':>10s} {'torch32 err':>11s}")
    print(hdr)
    print("-" * len(hdr))
    for n in names:
        r = results[n]
        for t in threads:
            c = r.get(f"cnnc_t{t}", {})
            o = r.get(f"ort_t{t}", {})
            p = r.get(f"torch_t{t}", {})
            cm, om, pm = c.get("median_ms"), o.get("median_ms"), p.get("median_ms")
            gf = r["flops"] / (cm * 1e-3) / 1e9 if cm else None
            pk = 100.0 * gf / (PEAK * t) if gf else None
            ratio = om / cm if cm and om else None
            print(f"{n:14s} {t:3d} {fmt(cm, '9.3f')} {fmt(om, '9.3f')} {fmt(ratio, '8.2f')} {fmt(pm, '9.3f')} "
                  f"{fmt(gf, '8.1f')} {fmt(pk, '6.1f')} {fmt(c.get('err_f64'), '10.2e')} "
                  f"{fmt(ort_error_vs_f64(n), '11.2e')}")
            if "error" in r:
                print(f"    cnnc: {r['error'][:300]}")
    print(f"(GFLOP/s = meta.json macs*2 / cnnc median; %peak of {PEAK:g} GFLOP/s per thread; "
          f"torch32 err = PyTorch fp32 vs f64, the noise floor)")


# ------------------------------------------------------------ layer mode


def conv_layers(name):
    """(layer name, N C H W K kh kw sh sw dh dw pt pl OH OW groups) of each Conv."""
    import onnx
    from onnx import numpy_helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(os.path.join(MODELS, name, "model.onnx")))
    shapes = {}
    for vi in list(m.graph.input) + list(m.graph.value_info) + list(m.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    inits = {t.name: numpy_helper.to_array(t).shape for t in m.graph.initializer}
    out = []
    for i, node in enumerate(m.graph.node):
        if node.op_type != "Conv":
            continue
        xs, ws = shapes.get(node.input[0]), inits.get(node.input[1])
        if not xs or ws is None:
            continue
        at = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if len(xs) == 3:  # Conv1d: (N, C, L) as (N, C, 1, L)
            xs = [xs[0], xs[1], 1, xs[2]]
            ks = [1, ws[2]]
            st = [1] + list(at.get("strides", [1]))
            dl = [1] + list(at.get("dilations", [1]))
            pd = at.get("pads", [0, 0])
            pads = [0, pd[0], 0, pd[1]]
        else:
            ks = [ws[2], ws[3]]
            st = list(at.get("strides", [1, 1]))
            dl = list(at.get("dilations", [1, 1]))
            pd = list(at.get("pads", [0, 0, 0, 0]))
            pads = [pd[0], pd[1], pd[2], pd[3]]  # top, left, bottom, right
        g = at.get("group", 1)
        oh = (xs[2] + pads[0] + pads[2] - dl[0] * (ks[0] - 1) - 1) // st[0] + 1
        ow = (xs[3] + pads[1] + pads[3] - dl[1] * (ks[1] - 1) - 1) // st[1] + 1
        lname = f"{name}:{node.name or 'conv%d' % i}"
        out.append((lname, [xs[0], xs[1], xs[2], xs[3], ws[0], ks[0], ks[1], st[0], st[1], dl[0], dl[1], pads[0],
                            pads[1], oh, ow, g]))
    return out


def layer_mode(a):
    names = ensure_models(a.names)
    threads = [int(t) for t in a.threads.split(",")]
    os.makedirs(WORK, exist_ok=True)
    seen, layers = {}, []
    for n in names:
        for lname, v in conv_layers(n):
            key = tuple(v)
            if key in seen:
                seen[key][1].append(lname)
                continue
            seen[key] = (lname, [lname])
            layers.append((lname, v))
    path = os.path.join(WORK, "layers.txt")
    with open(path, "w") as f:
        f.write("# NAME N C H W K kh kw sh sw dh dw pt pl OH OW groups\n")
        for lname, v in layers:
            f.write(lname.replace(" ", "_") + " " + " ".join(str(x) for x in v) + "\n")
    rt = sorted(os.path.join(ROOT, "runtime", f) for f in os.listdir(os.path.join(ROOT, "runtime"))
                if f.endswith(".c"))
    rows = []
    for t in threads:
        exe = os.path.join(WORK, f"layers_{'omp' if t > 1 else 'serial'}")
        flags = ["-O3", "-march=native", "-std=c99"] + (["-fopenmp"] if t > 1 else []) + \
            os.environ.get("CNNC_EXTRA_CFLAGS", "").split()
        run([CC] + flags + ["-I", os.path.join(ROOT, "runtime"), os.path.join(ROOT, "bench", "layers.c")] + rt +
            ["-o", exe, "-lm"])
        env = dict(os.environ, OMP_NUM_THREADS=str(t))
        log(f"timing {len(layers)} conv shapes x algorithms, {t} thread(s) ...")
        out = run([exe, path, "--min-time", str(a.min_time), "--threads-tag", str(t)], env=env, timeout=7200)
        rows += json_lines(out)
    print_layer_table(layers, seen, threads, rows)
    with open(os.path.join(WORK, "layers.json"), "w") as f:
        json.dump(rows, f, indent=1)


def print_layer_table(layers, seen, threads, rows):
    algos = ["direct", "gemm1x1", "im2col", "winograd2", "winograd4", "fft", "gemm-kernel"]
    by = {}
    for r in rows:
        by[(r["layer"], r["threads"], r["algo"])] = r
    hdr = f"{'layer (first of identical shapes)':44s} {'shape':30s} {'x':>2s} {'thr':>3s} " + " ".join(
        f"{a:>14s}" for a in algos) + f"  {'best':>9s}"
    print(hdr)
    print("-" * len(hdr))
    tot = {}
    for lname, v in layers:
        key = lname.replace(" ", "_")
        for t in threads:
            cells, best = [], None
            shape = None
            for al in algos:
                r = by.get((key, str(t), al))
                if not r:
                    cells.append(f"{'-':>14s}")
                    continue
                shape = r["shape"]
                pk = 100.0 * r["gflops"] / (PEAK * t)
                cells.append(f"{r['gflops']:7.1f} {pk:5.0f}%")
                if al == "gemm-kernel":  # the GEMM alone (B pre-packed): not a way to run the conv
                    continue
                if best is None or r["ms"] < best["ms"]:
                    best = r
            count = len(seen[tuple(v)][1])
            if best:
                tot[t] = tot.get(t, 0.0) + best["ms"] * count
            print(f"{lname[:44]:44s} {(shape or '')[:30]:30s} {count:2d} {t:3d} " + " ".join(cells) +
                  f"  {best['algo'] if best else '-':>9s}")
    print(f"(cells: effective GFLOP/s = dense 2*MACs / time, and % of {PEAK:g} GFLOP/s per thread; "
          f"Winograd/FFT can exceed 100%; gemm-kernel = im2col's GEMM alone on a pre-packed B)")
    for t, ms in sorted(tot.items()):
        print(f"sum over all conv layers with the best algorithm, {t} thread(s): {ms:.3f} ms")


def timed(cmd):
    """Run cmd under /usr/bin/time; return (wall seconds, peak MiB)."""
    r = subprocess.run(["/usr/bin/time", "-f", "@@TIME %e %M"] + cmd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}... exited {r.returncode}: {r.stderr.strip()[-800:]}")
    line = [x for x in r.stderr.splitlines() if x.startswith("@@TIME ")][-1].split()
    return float(line[1]), int(line[2]) / 1024.0


def compile_mode(a):
    names = ensure_models(a.names)
    cnnc = find_cnnc(a.cnnc)
    rows = []
    print("| model | form | C file MB | cnnc s | cc -O2 s | total s | peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        d = os.path.join(WORK, n, "compile")
        os.makedirs(d, exist_ok=True)
        for form in ("embedded", "blob"):
            src = os.path.join(d, f"m_{form}.c")
            extra = ["--weights-out", os.path.join(d, "m.bin")] if form == "blob" else []
            t1, m1 = timed([cnnc, os.path.join(MODELS, n, "model.onnx"), "--name", "m", "-o", src] + extra)
            t2, m2 = timed([CC, "-O2", "-march=native", "-std=c99", "-c", src, "-o", src[:-2] + ".o"])
            row = {"model": n, "form": form, "c_mb": os.path.getsize(src) / 1e6, "cnnc_s": t1, "cc_s": t2,
                   "total_s": t1 + t2, "peak_mib": max(m1, m2)}
            rows.append(row)
            print(f"| {n} | {form} | {row['c_mb']:.1f} | {t1:.2f} | {t2:.2f} | {t1 + t2:.2f} | {row['peak_mib']:.0f} |",
                  flush=True)
    with open(os.path.join(WORK, "compile.json"), "w") as f:
        json.dump(rows, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"models (default: {' '.join(ORDER)})")
    ap.add_argument("--layers", action="store_true", help="per-layer algorithm timing instead of whole models")
    ap.add_argument("--compile", action="store_true", help="compile time and memory (cnnc + cc -O2) per model")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per measurement")
    ap.add_argument("--cnnc", default=None, help="cnnc binary (default $CNNC or build/cnnc)")
    ap.add_argument("--no-peers", action="store_true", help="skip ONNX Runtime and PyTorch")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch (slow to start)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved measurement rounds; the best median of each peer is kept (default 3)")
    a = ap.parse_args()
    for n in a.names:
        if n not in ORDER:
            sys.exit(f"bench: unknown model {n}; have {' '.join(ORDER)}")
    global PEAK
    if a.compile:
        compile_mode(a)
        return
    PEAK = float(os.environ.get("CNNC_PEAK_GFLOPS") or default_peak())
    log(f"peak: {PEAK:g} GFLOP/s per thread ({'CNNC_PEAK_GFLOPS' if os.environ.get('CNNC_PEAK_GFLOPS') else 'measured by bench/peak.c'})")
    if a.layers:
        a.min_time = min(a.min_time, 0.3) if a.min_time == 1.0 else a.min_time
        layer_mode(a)
    else:
        model_mode(a)


if __name__ == "__main__":
    main()
