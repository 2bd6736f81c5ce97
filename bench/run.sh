#!/bin/bash
# bench/run.sh - benchmark cnnc against ONNX Runtime and PyTorch.
#
#   bench/run.sh [MODEL...] [--threads 1,2] [--min-time S] [--no-peers]
#   bench/run.sh --layers [MODEL...]     # every conv shape x every algorithm
#   bench/run.sh --compile [MODEL...]    # cnnc + cc -O2 time and memory
#
# Environment: CNNC_PEERS_BENCH (peer scripts, default /work/shared/bench),
# CNNC_BENCH_MODELS (exported models, default /tmp/cnnc-peers/models),
# CNNC_BENCH_WORK (build/output dir, default /tmp/cnnc-bench), CNNC (cnnc
# binary, default build/cnnc), CNNC_PEAK_GFLOPS (per thread; default: measured by bench/peak.c), CC, CNNC_EXTRA_CFLAGS (more
# flags for the generated code, e.g. -DRT_PAR_MIN_WORK=...).
# The models are exported and ONNX Runtime installed on first use; see
# bench/bench.py for what is measured and how.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CNNC_PEERS_BENCH=${CNNC_PEERS_BENCH:-/work/shared/bench}
exec /usr/bin/python3 "$here/bench.py" "$@"
