/* layers.c - time every convolution algorithm alone on given layer shapes.
 *
 * usage: layers LAYERS.txt [--min-time S] [--threads-tag T]
 *
 * LAYERS.txt has one conv per line (blank lines and '#' comments skipped):
 *   NAME N C H W K kh kw sh sw dh dw pt pl OH OW groups
 * For each layer and each algorithm that applies (direct, gemm1x1, im2col,
 * winograd F(2,3) and F(4,3), fft), the weights are prepared the way the
 * compiler would (Winograd/FFT transforms), the scratch is sized with the
 * runtime's own functions, and rt_conv2d / the algorithm's entry point is
 * timed: one warm-up, then runs until S seconds (default 0.3) and at least 5
 * runs; the best time is reported (the layer shapes are small enough that the
 * minimum is the most stable statistic on a shared machine).  Each result is
 * one JSON line: layer, algo, ms, effective gflops (2 * N*K*OH*OW*(C/g)*kh*kw
 * over the time: the dense count make_models.py's `macs` uses, so Winograd
 * and FFT can exceed the machine's peak), and max_abs_diff against the
 * direct algorithm's output (a cheap cross-check; the fp64 checks live in
 * tests/unit_fastconv.c).
 *
 * Built by bench/bench.py as:  cc -O3 -march=native [-fopenmp] -I runtime bench/layers.c runtime/ *.c -lm
 */
#define _POSIX_C_SOURCE 200809L
#include "cnnc_rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xalloc(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64) != 0) {
    fprintf(stderr, "layers: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* xorshift: the same inputs every run */
static uint64_t rng = 0x243F6A8885A308D3ull;
static float frand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A_GEMM: the GEMM of im2col alone (B packed once, outside the timing): the
 * "kernel alone" efficiency; its output is not the conv's and is not checked. */
enum { A_DIRECT, A_GEMM1X1, A_IM2COL, A_WINO2, A_WINO4, A_FFT, A_GEMM, A_COUNT };
static const char *algo_names[A_COUNT] = {"direct", "gemm1x1", "im2col", "winograd2", "winograd4", "fft",
                                          "gemm-kernel"};

typedef struct Run {
  RtConv p;
  int n;
  const float *x, *w, *b;
  float *y;
  float *wp;      /* prepared weights (Winograd / FFT) */
  void *scratch;
  int algo;
  RtGemm g; /* A_GEMM */
} Run;

static void run_once(const Run *r) {
  switch (r->algo) {
  case A_WINO2:
  case A_WINO4: rt_winograd_conv2d(&r->p, r->n, r->x, r->wp, r->b, NULL, r->y, r->scratch); break;
  case A_FFT: rt_fft_conv2d(&r->p, r->n, r->x, r->wp, r->b, NULL, r->y, r->scratch); break;
  case A_GEMM: rt_gemm_packed(&r->g); break;
  default: rt_conv2d(&r->p, r->n, r->x, r->w, r->b, NULL, r->y, r->scratch); break;
  }
}

int main(int argc, char **argv) {
  const char *path = NULL, *tag = "1";
  double min_time = 0.3;
  char line[512];
  FILE *f;
  int i;

  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
      min_time = atof(argv[++i]);
    else if (!strcmp(argv[i], "--threads-tag") && i + 1 < argc)
      tag = argv[++i];
    else
      path = argv[i];
  }
  if (!path || !(f = fopen(path, "r"))) {
    fprintf(stderr, "usage: layers LAYERS.txt [--min-time S]\n");
    return 1;
  }
  while (fgets(line, sizeof line, f)) {
    char name[256];
    int n, v[16], a;
    RtConv p;
    int64_t xs, ys, wsz;
    float *x, *w, *b, *yref, *y;
    double flops;
    if (line[0] == '#' || line[0] == '\n')
      continue;
    if (sscanf(line, "%255s %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d", name, &n, &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14]) != 17) {
      fprintf(stderr, "layers: bad line: %s", line);
      return 1;
    }
    memset(&p, 0, sizeof p);
    p.C = v[0], p.H = v[1], p.W = v[2], p.K = v[3], p.kh = v[4], p.kw = v[5], p.sh = v[6], p.sw = v[7];
    p.dh = v[8], p.dw = v[9], p.pt = v[10], p.pl = v[11], p.OH = v[12], p.OW = v[13], p.groups = v[14];
    p.act = RT_ACT_RELU;
    xs = (int64_t)n * p.C * p.H * p.W;
    ys = (int64_t)n * p.K * p.OH * p.OW;
    wsz = (int64_t)p.K * (p.C / p.groups) * p.kh * p.kw;
    flops = 2.0 * (double)ys * (double)(p.C / p.groups) * p.kh * p.kw;
    x = xalloc((size_t)xs * 4), w = xalloc((size_t)wsz * 4), b = xalloc((size_t)p.K * 4);
    y = xalloc((size_t)ys * 4), yref = xalloc((size_t)ys * 4);
    for (i = 0; i < xs; i++)
      x[i] = frand();
    for (i = 0; i < wsz; i++)
      w[i] = frand() * 0.1f;
    for (i = 0; i < p.K; i++)
      b[i] = frand() * 0.1f;

    for (a = 0; a < A_COUNT; a++) {
      Run r;
      size_t sbytes = 0, wfloats = 0;
      double best = 1e30, t_start, maxdiff = 0.0;
      int runs = 0;
      memset(&r, 0, sizeof r);
      r.p = p, r.n = n, r.x = x, r.w = w, r.b = b, r.y = a == A_DIRECT ? yref : y, r.algo = a;
      if (a == A_DIRECT) {
        r.p.algo = RT_ALGO_DIRECT;
      } else if (a == A_GEMM1X1) {
        if (p.kh != 1 || p.kw != 1 || p.sh != 1 || p.sw != 1 || p.pt || p.pl || p.OH != p.H || p.OW != p.W)
          continue;
        r.p.algo = RT_ALGO_GEMM1X1;
      } else if (a == A_IM2COL) {
        r.p.algo = RT_ALGO_IM2COL;
      } else if (a == A_WINO2 || a == A_WINO4) {
        r.p.algo = RT_ALGO_WINOGRAD;
        r.p.tile = a == A_WINO2 ? 2 : 4;
        if (!rt_winograd_applies(&r.p))
          continue;
        wfloats = rt_winograd_weights_size(&r.p);
        r.wp = xalloc(wfloats * 4);
        rt_winograd_weights(&r.p, w, r.wp);
        sbytes = rt_winograd_scratch(&r.p);
      } else if (a == A_GEMM) {
        const int M = p.K, N = p.OH * p.OW, Kd = p.C * p.kh * p.kw;
        float *bp;
        if (p.groups != 1 || n != 1)
          continue;
        sbytes = rt_gemm_scratch(M, N, Kd);
        bp = xalloc(sbytes);
        r.wp = bp; /* freed below */
        { /* any B will do for timing: the packed layout of a Kd x N matrix */
          float *bm = xalloc((size_t)Kd * N * 4);
          int64_t q;
          for (q = 0; q < (int64_t)Kd * N; q++)
            bm[q] = frand();
          rt_gemm_pack_b(Kd, N, bm, N, 1, (float *)(((uintptr_t)bp + 63) & ~(uintptr_t)63));
          free(bm);
        }
        r.g.M = M, r.g.N = N, r.g.K = Kd, r.g.A = w, r.g.lda = Kd;
        r.g.Bp = (float *)(((uintptr_t)bp + 63) & ~(uintptr_t)63);
        r.g.C = y, r.g.rsc = N, r.g.csc = 1, r.g.bias = b, r.g.act = RT_ACT_RELU;
        sbytes = 64;
      } else {
        r.p.algo = RT_ALGO_FFT;
        /* FFT pays off for big kernels only; skip the hopeless cases */
        if (!rt_fft_applies(&r.p) || p.kh * p.kw < 25 || p.sh * p.sw > 1)
          continue;
        wfloats = rt_fft_weights_size(&r.p);
        r.wp = xalloc(wfloats * 4);
        rt_fft_weights(&r.p, w, r.wp);
        sbytes = rt_fft_scratch(&r.p);
      }
      if (a <= A_IM2COL)
        sbytes = rt_conv2d_scratch(&r.p);
      r.scratch = xalloc(sbytes);
      run_once(&r); /* warm-up (and the output checked below) */
      t_start = now_s();
      do {
        double t0 = now_s(), t1;
        run_once(&r);
        t1 = now_s() - t0;
        if (t1 < best)
          best = t1;
        runs++;
      } while (runs < 5 || now_s() - t_start < min_time);
      if (a != A_DIRECT && a != A_GEMM)
        for (i = 0; i < ys; i++) {
          double d = (double)y[i] - (double)yref[i];
          d = d < 0 ? -d : d;
          if (!(d <= maxdiff))
            maxdiff = d;
        }
      printf("{\"layer\": \"%s\", \"threads\": \"%s\", \"shape\": \"n%d c%d %dx%d k%d %dx%d s%d d%d g%d\", "
             "\"algo\": \"%s\", \"ms\": %.5f, \"gflops\": %.2f, \"runs\": %d, \"max_abs_diff_vs_direct\": %.3g, "
             "\"scratch_bytes\": %zu, \"weight_floats\": %zu}\n",
             name, tag, n, p.C, p.H, p.W, p.K, p.kh, p.kw, p.sh, p.dh, p.groups, algo_names[a], best * 1e3,
             flops / best * 1e-9, runs, maxdiff, sbytes, wfloats ? wfloats : (size_t)wsz);
      fflush(stdout);
      free(r.wp);
      free(r.scratch);
    }
    free(x), free(w), free(b), free(y), free(yref);
  }
  fclose(f);
  return 0;
}
