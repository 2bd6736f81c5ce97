#!/usr/bin/python3
"""arena_check.py CNNC MODEL... - the memory plan is within 5% of its lower bound.

Runs `cnnc info --json` on each model and prints a table (model, arena bytes,
lower bound, ratio, naive one-buffer-per-tensor bytes) before judging: every
ratio must be <= 1.05 (the goal of the memory-planning issue).
"""
import json
import subprocess
import sys


def main():
    cnnc, models = sys.argv[1], sys.argv[2:]
    bad = 0
    print(f"{'model':40s} {'arena':>12s} {'lower bound':>12s} {'ratio':>6s} {'naive':>12s}")
    for m in models:
        r = subprocess.run([cnnc, "info", m, "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{m}: cnnc info failed\n{r.stderr}")
            bad += 1
            continue
        j = json.loads(r.stdout)
        a, lb, nv = j["arena_bytes"], j["arena_lower_bound_bytes"], j["arena_naive_bytes"]
        ratio = a / lb if lb else 1.0
        ok = ratio <= 1.05 and a >= lb
        bad += not ok
        print(f"{m[-40:]:40s} {a:12d} {lb:12d} {ratio:6.3f} {nv:12d} {'ok' if ok else 'FAIL'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
