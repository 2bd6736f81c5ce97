#!/usr/bin/python3
"""train_bench.py - time one training step: cnnc's generated train_step against PyTorch eager.

Nets (same layers, same initialisation scheme, same optimizer, same batch):
  digits   examples/train_digits/digits.yaml (8x8 input, 2 conv + 2 linear, dropout 0.2),
           Adam lr 0.002, cross entropy
  lenet5   LeNet-5 on 28x28 (the layers of examples/lenet5.yaml), SGD lr 0.01 momentum 0.9,
           cross entropy
For each (net, batch):
  cnnc   `cnnc NET.yaml --batch B --name m -o WORK/NET/m.c`, bench/train_harness.c built
         with `cc -O3 -march=native` (no OpenMP: one thread), WARMUP untimed steps, then
         the median of STEPS timed steps (each forward + backward + optimizer update);
  torch  torch.set_num_threads(1), model.train(), the same loop (zero_grad(set_to_none),
         forward, loss, backward, step), median of STEPS after WARMUP.
Prints a table: net, batch, cnnc ms/step, torch ms/step, ratio torch/cnnc (> 1: cnnc is
faster), the same for the thread CPU time (robust when the machine is shared), and writes
it as JSON to WORK/train_bench.json.
Usage: train_bench.py [--cnnc build/cnnc] [--work DIR] [--steps 50] [--warmup 10]
                      [--nets digits,lenet5] [--batch 32]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CC = os.environ.get("CC", "cc")

LENET5_YAML = """cnnc: 1
name: lenet5
inputs:
  - {name: x, shape: [1, 28, 28]}
init: {seed: 1}
layers:
  - {name: c1, op: conv2d, out_channels: 6, kernel_size: 5, padding: 2}
  - {op: relu}
  - {op: maxpool2d, kernel_size: 2}
  - {name: c2, op: conv2d, out_channels: 16, kernel_size: 5}
  - {op: relu}
  - {op: maxpool2d, kernel_size: 2}
  - {op: flatten}
  - {name: f1, op: linear, out_features: 120}
  - {op: relu}
  - {name: f2, op: linear, out_features: 84}
  - {op: relu}
  - {name: f3, op: linear, out_features: 10}
outputs: [f3]
train:
  loss: cross_entropy
  optimizer: {type: sgd, lr: 0.01, momentum: 0.9}
"""


def torch_net(name):
    import torch
    import torch.nn as nn
    if name == "digits":
        net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))
        return net, [1, 8, 8], lambda p: torch.optim.Adam(p, lr=0.002)
    if name == "lenet5":
        net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        return net, [1, 28, 28], lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)
    raise ValueError(name)


def yaml_text(name):
    if name == "digits":
        with open(os.path.join(ROOT, "examples", "train_digits", "digits.yaml")) as f:
            return f.read()
    return LENET5_YAML


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stderr[-2000:]}")
    return r.stdout


def bench_cnnc(cnnc, work, name, batch, warmup, steps):
    d = os.path.join(work, f"{name}_b{batch}")
    os.makedirs(d, exist_ok=True)
    text = re.sub(r"^name: \w+", "name: m", yaml_text(name), count=1, flags=re.M)
    y = os.path.join(d, "net.yaml")
    with open(y, "w") as f:
        f.write(text)
    run([cnnc, y, "--batch", str(batch), "--name", "m", "-o", os.path.join(d, "m.c")])
    exe = os.path.join(d, "harness")
    run([CC, "-std=c99", "-O3", "-march=native", "-D_POSIX_C_SOURCE=200112L", "-D_ISOC11_SOURCE",
         "-DMODEL_HEADER=\"m.h\"", "-DFN_PREFIX=m", "-DMACRO_PREFIX=M", "-I", d,
         os.path.join(ROOT, "bench", "train_harness.c"), os.path.join(d, "m.c"), "-lm", "-o", exe])
    return json.loads(run([exe, str(batch), str(warmup), str(steps)]).strip().splitlines()[-1])


def bench_torch(name, batch, warmup, steps):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(1)
    net, shape, make_opt = torch_net(name)
    net.train()
    opt = make_opt(net.parameters())
    g = torch.Generator().manual_seed(12345)
    x = torch.rand(batch, *shape, generator=g)
    t = torch.randint(0, 10, (batch,), generator=g)
    times, cpu, losses = [], [], []
    for i in range(warmup + steps):
        t0, c0 = time.perf_counter(), time.thread_time()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), t)
        loss.backward()
        opt.step()
        lv = loss.item()
        dc, dt = (time.thread_time() - c0) * 1e3, (time.perf_counter() - t0) * 1e3
        losses.append(lv)
        if i >= warmup:
            times.append(dt)
            cpu.append(dc)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "cpu_median_ms": statistics.median(cpu),
            "first_loss": losses[0], "last_loss": losses[-1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cnnc", default=os.path.join(ROOT, "build", "cnnc"))
    ap.add_argument("--work", default=os.environ.get("CNNC_BENCH_WORK", "/tmp/cnnc-train-bench"))
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--nets", default="digits,lenet5")
    ap.add_argument("--batch", default="32", help="comma-separated batch sizes")
    a = ap.parse_args()
    if a.steps < 20:
        sys.exit("--steps must be at least 20")
    os.makedirs(a.work, exist_ok=True)
    rows = []
    for name in a.nets.split(","):
        for b in [int(v) for v in a.batch.split(",")]:
            c = bench_cnnc(a.cnnc, a.work, name, b, a.warmup, a.steps)
            t = bench_torch(name, b, a.warmup, a.steps)
            rows.append({"net": name, "batch": b, "cnnc_ms": c["median_ms"], "torch_ms": t["median_ms"],
                         "cnnc_min_ms": c["min_ms"], "torch_min_ms": t["min_ms"],
                         "ratio_torch_over_cnnc": t["median_ms"] / c["median_ms"],
                         "cnnc_cpu_ms": c["cpu_median_ms"], "torch_cpu_ms": t["cpu_median_ms"],
                         "cnnc_loss": [c["first_loss"], c["last_loss"]], "torch_loss": [t["first_loss"], t["last_loss"]]})
            print(f"# {name} batch {b}: cnnc loss {c['first_loss']:.4f} -> {c['last_loss']:.4f}, "
                  f"torch loss {t['first_loss']:.4f} -> {t['last_loss']:.4f} ({a.warmup + a.steps} steps on one batch)",
                  file=sys.stderr, flush=True)
    print(f"train step, 1 thread, median of {a.steps} steps after {a.warmup} warm-up")
    print(f"{'net':8s} {'batch':>5s} {'cnnc ms/step':>13s} {'torch ms/step':>14s} {'torch/cnnc':>11s}   "
          f"{'cnnc cpu ms':>11s} {'torch cpu ms':>12s} {'cpu ratio':>9s}")
    for r in rows:
        print(f"{r['net']:8s} {r['batch']:5d} {r['cnnc_ms']:13.3f} {r['torch_ms']:14.3f} "
              f"{r['ratio_torch_over_cnnc']:11.2f}   {r['cnnc_cpu_ms']:11.3f} {r['torch_cpu_ms']:12.3f} "
              f"{r['torch_cpu_ms'] / r['cnnc_cpu_ms']:9.2f}")
    print("(ms/step: wall-clock median; cpu: median thread CPU time, less sensitive to other load; "
          "ratio > 1: cnnc is faster)")
    with open(os.path.join(a.work, "train_bench.json"), "w") as f:
        json.dump({"steps": a.steps, "warmup": a.warmup, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
