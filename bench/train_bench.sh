#!/bin/sh
# bench/train_bench.sh - train-step time of cnnc's generated train_step vs PyTorch eager
# (1 thread each): the digits net and LeNet-5 28x28, batch 32.  Options are passed to
# bench/train_bench.py (--cnnc, --work, --steps, --warmup, --nets, --batch); needs
# build/cnnc (or --cnnc) and /usr/bin/python3 with torch.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export OMP_NUM_THREADS=1
exec /usr/bin/python3 "$here/train_bench.py" "$@"
