/* unit_fastconv.c - the fast convolution paths against a naive fp64 conv.
 *
 * Covers the blocked GEMM (runtime/gemm.c, with its fused epilogue, packed
 * tail, strided C and unpacked B), and every rt_conv2d algorithm: direct,
 * GEMM1X1, IM2COL, Winograd F(2,3)/F(4,3) and FFT (with weights transformed
 * as the compiler does it), on odd sizes, asymmetric padding, stride, groups,
 * dilation, batch 2, bias/residual (also in place)/activation; choices that
 * cannot apply must fall back correctly.  rt_linear's GEMM path is checked
 * too, and Winograd's accuracy on realistic ResNet layers, and the 1x1 conv
 * computed inside a depthwise conv band by band (rt_pw_dw_conv2d).
 *
 * The runtime sources are included here the way the C backend pastes them
 * into a generated model (RT_FN static), so this test exercises whichever
 * SIMD path its own compile flags select:
 *   cc -O2 tests/unit_fastconv.c -lm                      portable C
 *   cc -O2 -mavx2 -mfma tests/unit_fastconv.c -lm         AVX2
 *   cc -O2 -march=native -fopenmp tests/unit_fastconv.c -lm   AVX-512 + threads
 * Under OpenMP every algorithm is also run with 1 and 2 threads and the
 * results must be bit-identical.
 *
 * Every check prints the max |diff| and its tolerance before judging:
 * tol = t * max(1, max|ref|) with t = 1e-5 (direct/GEMM/FFT), 2e-5 (F(2,3)),
 * 1e-4 (F(4,3), as the issue requires).  Outputs are pre-filled with NaN so a
 * forgotten element fails.  Exit status: 0 when every check passes.
 */
#define _POSIX_C_SOURCE 200809L
#define RT_FN static __attribute__((unused))
/* small bands for rt_pw_dw_conv2d: every test shape crosses several */
#define RT_PWDW_BYTES 8192
#include "../runtime/cnnc_rt.h"
/* every runtime file, as the C backend pastes them (each defines what the
 * header declares static) */
#include "../runtime/backward.c"
#include "../runtime/conv.c"
#include "../runtime/conv_bwd.c"
#include "../runtime/conv_row.c"
#include "../runtime/fft.c"
#include "../runtime/gemm.c"
#include "../runtime/loss.c"
#include "../runtime/ops.c"
#include "../runtime/optim.c"
#include "../runtime/pool.c"
#include "../runtime/winograd.c"

#include <stdio.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int nchecks, nfail;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float frand(void) { /* xorshift64*: uniform in [-1, 1) */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (float)((double)((rng * 0x2545F4914F6CDD1Dull) >> 40) / (double)(1u << 24) * 2.0 - 1.0);
}

static void *xmalloc(size_t n) {
  void *p = NULL;
  /* 64-byte aligned like the arena of generated code */
  if (posix_memalign(&p, 64, n ? (n + 63) / 64 * 64 : 64) != 0) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

static float *rnd(int64_t count, float lo, float hi) {
  float *p = xmalloc((size_t)count * sizeof(float));
  for (int64_t i = 0; i < count; i++)
    p[i] = lo + (frand() + 1.0f) * 0.5f * (hi - lo);
  return p;
}

static void fill_nan(float *p, int64_t count) {
  for (int64_t i = 0; i < count; i++)
    p[i] = NAN;
}

static double act_ref(int act, double a, double b, double v) {
  switch (act) {
  case RT_ACT_RELU: return v > 0 ? v : 0;
  case RT_ACT_LEAKY: return v >= 0 ? v : a * v;
  case RT_ACT_CLIP: { /* torch.clamp: min(max(v, a), b), NaN passing; b when a > b */
    const double t = v < a ? a : v;
    return t > b ? b : t;
  }
  case RT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
  case RT_ACT_TANH: return tanh(v);
  case RT_ACT_HARDSWISH: {
    double t = v / 6.0 + 0.5;
    return v * (t < 0 ? 0 : (t > 1 ? 1 : t));
  }
  case RT_ACT_ELU: return v > 0 ? v : a * (exp(v) - 1.0);
  case RT_ACT_SELU:
    return 1.0507009873554804934193349852946 * (v > 0 ? v : 1.6732632423543772848170429916717 * (exp(v) - 1.0));
  case RT_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
  case RT_ACT_HARDSIGMOID: {
    double t = a * v + b;
    return t < 0 ? 0 : (t > 1 ? 1 : t);
  }
  default: return v;
  }
}

static const char *act_names[] = {"none", "relu", "leaky", "clip", "sigmoid", "tanh",
                                  "hswish", "elu", "selu", "gelu", "hsigmoid", "identity"};
enum { NACT = RT_ACT_IDENTITY + 1 };

static void act_params(int act, float *a, float *b) {
  *a = 0.0f, *b = 0.0f;
  if (act == RT_ACT_LEAKY)
    *a = 0.1f;
  else if (act == RT_ACT_CLIP)
    *a = -0.5f, *b = 0.75f;
  else if (act == RT_ACT_ELU)
    *a = 1.3f;
  else if (act == RT_ACT_HARDSIGMOID)
    *a = 0.2f, *b = 0.5f;
}

/* Print the worst element and the max |diff|, then judge. */
static void check(const char *what, const float *got, const double *ref, int64_t count, double rtol) {
  double maxref = 0.0, maxdiff = 0.0, tol;
  int64_t bad = 0, worst = 0;
  for (int64_t i = 0; i < count; i++)
    if (fabs(ref[i]) > maxref)
      maxref = fabs(ref[i]);
  tol = rtol * (maxref > 1.0 ? maxref : 1.0);
  for (int64_t i = 0; i < count; i++) {
    /* NaN matches only NaN */
    const double d = isnan(got[i]) || isnan(ref[i]) ? (isnan(got[i]) && isnan(ref[i]) ? 0.0 : INFINITY)
                                                    : fabs((double)got[i] - ref[i]);
    if (d > maxdiff)
      maxdiff = d, worst = i;
    if (d > tol) {
      if (bad < 3)
        printf("    %s[%lld]: got %.9g want %.9g\n", what, (long long)i, got[i], ref[i]);
      bad++;
    }
  }
  printf("%s %-78s n=%-7lld max|diff|=%-9.3g (at %lld) tol=%.3g", bad ? "FAIL" : "ok  ", what, (long long)count,
         maxdiff, (long long)worst, tol);
  if (bad)
    printf(" (%lld bad)", (long long)bad);
  printf("\n");
  nchecks++;
  if (bad)
    nfail++;
}

/* ------------------------------------------------------------------ GEMM */

static void gemm_test(int M, int N, int K, int use_bias, int use_res, int act, int mode) {
  /* mode 0: rt_gemm; 1: packed B + transposed C; 2: unpacked B (padded ldb);
   * 3: unpacked B read exactly to N, tail columns k-major (Bt) */
  const int64_t ldb = mode == 3 ? N : (N + 15) / 16 * 16 + 16;
  float *A = rnd((int64_t)M * K, -1, 1), *B = rnd((int64_t)K * ldb, -1, 1);
  float *bias = use_bias ? rnd(M, -1, 1) : NULL, *R = use_res ? rnd((int64_t)M * N, -1, 1) : NULL;
  float *C = xmalloc((size_t)M * N * 4), *scr = xmalloc(rt_gemm_scratch(M, N, K));
  double *ref = xmalloc((size_t)M * N * 8);
  float alpha, beta;
  char name[160];
  act_params(act, &alpha, &beta);
  fill_nan(C, (int64_t)M * N);
  /* C (row-major, or transposed in mode 1) */
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      const int64_t o = mode == 1 ? (int64_t)n * M + m : (int64_t)m * N + n;
      double s = 0.0;
      for (int k = 0; k < K; k++)
        s += (double)A[(int64_t)m * K + k] * B[(int64_t)k * (mode >= 2 ? ldb : N) + n];
      s += (bias ? bias[m] : 0.0) + (R ? R[o] : 0.0);
      ref[o] = act_ref(act, alpha, beta, s);
    }
  if (mode == 0) {
    rt_gemm(M, N, K, A, K, B, N, C, N, bias, R, act, alpha, beta, scr);
  } else {
    RtGemm g;
    memset(&g, 0, sizeof g);
    g.M = M, g.N = N, g.K = K, g.A = A, g.lda = K;
    if (mode == 1) {
      float *bp = (float *)(((uintptr_t)scr + 63) & ~(uintptr_t)63);
      rt_gemm_pack_b(K, N, B, N, 1, bp);
      g.Bp = bp, g.ldb = 0, g.rsc = 1, g.csc = M;
    } else {
      g.Bp = B, g.ldb = ldb, g.rsc = N, g.csc = 1;
      if (mode == 3) {
        const int nmain = RT_GEMM_NMAIN(N);
        float *bt = (float *)(((uintptr_t)scr + 63) & ~(uintptr_t)63);
        for (int j = nmain; j < N; j++)
          for (int k = 0; k < K; k++)
            bt[(int64_t)(j - nmain) * K + k] = B[(int64_t)k * N + j];
        g.bexact = 1, g.Bt = nmain < N ? bt : NULL;
      }
    }
    g.C = C, g.bias = bias, g.res = R, g.act = act, g.alpha = alpha, g.beta = beta;
    rt_gemm_packed(&g);
  }
  snprintf(name, sizeof name, "gemm M=%d N=%d K=%d%s%s %s %s", M, N, K, bias ? " +bias" : "", R ? " +res" : "",
           act_names[act], mode == 0 ? "packed" : mode == 1 ? "transposed C" : mode == 2 ? "unpacked B" : "exact B + tail");
  check(name, C, ref, (int64_t)M * N, 1e-5 * (K > 1000 ? 4 : 1));
  free(A), free(B), free(bias), free(R), free(C), free(scr), free(ref);
}

/* ------------------------------------------------------------------ conv */

static void conv_ref(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                     double *y) {
  const int Cg = p->C / p->groups, Kg = p->K / p->groups;
  for (int ni = 0; ni < n; ni++)
    for (int k = 0; k < p->K; k++)
      for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
          const int g = k / Kg;
          const int64_t yi = (((int64_t)ni * p->K + k) * p->OH + oh) * p->OW + ow;
          double s = b ? b[k] : 0.0;
          for (int c = 0; c < Cg; c++)
            for (int i = 0; i < p->kh; i++)
              for (int j = 0; j < p->kw; j++) {
                const int ih = oh * p->sh - p->pt + i * p->dh, iw = ow * p->sw - p->pl + j * p->dw;
                if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W)
                  continue;
                s += (double)x[(((int64_t)ni * p->C + g * Cg + c) * p->H + ih) * p->W + iw] *
                     w[(((int64_t)k * Cg + c) * p->kh + i) * p->kw + j];
              }
          if (res)
            s += res[yi];
          y[yi] = act_ref(p->act, p->alpha, p->beta, s);
        }
}

typedef struct {
  int n, C, H, W, K, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
} ConvCase;

static const ConvCase cases[] = {
    /* n  C   H   W   K kh kw sh sw dh dw pt pl pb pr g */
    {1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},       /* odd sizes */
    {2, 16, 19, 23, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* batch 2, ragged tiles everywhere */
    {1, 8, 13, 37, 10, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* valid padding, wide */
    {1, 4, 5, 5, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 1},       /* pad 2 > tile overlap */
    {1, 6, 11, 10, 7, 3, 3, 1, 1, 1, 1, 1, 0, 2, 1, 1},     /* asymmetric pads */
    {1, 40, 33, 70, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* several 16-tile strips */
    {2, 12, 9, 9, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},     /* groups 3 */
    {1, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8},     /* depthwise */
    {2, 4, 11, 10, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},     /* stride 2 */
    {1, 4, 9, 9, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},       /* dilation 2 */
    {2, 16, 6, 5, 21, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},     /* 1x1 */
    {1, 64, 14, 14, 70, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},   /* 1x1, M edge */
    {2, 40, 7, 7, 260, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* 1x1, 256+ rows on a 7x7 map: B packed */
    {1, 8, 9, 9, 12, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},      /* 1x1 stride 2 */
    {1, 8, 5, 5, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4},       /* grouped 1x1 */
    {1, 150, 9, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    /* long K */
    {1, 3, 20, 21, 8, 7, 7, 2, 2, 1, 1, 3, 3, 2, 2, 1},     /* stem-like 7x7/2, asym */
    {2, 3, 24, 22, 5, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 1},     /* 7x7 stride 1 */
    {1, 6, 30, 30, 6, 9, 9, 1, 1, 1, 1, 4, 4, 4, 4, 3},     /* 9x9 groups 3 */
    {1, 5, 25, 25, 7, 7, 7, 1, 1, 2, 2, 6, 6, 6, 6, 1},     /* 7x7 dilation 2 */
    {1, 16, 16, 16, 16, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 16},  /* depthwise 7x7 */
    {1, 3, 33, 41, 4, 11, 11, 1, 1, 1, 1, 5, 5, 5, 5, 1},   /* 11x11 */
    {1, 8, 1, 200, 8, 1, 31, 1, 1, 1, 1, 0, 15, 0, 15, 1},  /* 1-D long kernel */
    {2, 4, 1, 100, 6, 1, 9, 1, 2, 1, 3, 0, 12, 0, 11, 2},   /* 1-D strided, dilated, grouped */
    {1, 2, 3, 3, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},       /* kernel larger than input */
    {1, 5, 13, 11, 9, 3, 3, 3, 2, 2, 1, 0, 1, 2, 0, 1},     /* mixed stride/dilation */
    {2, 6, 23, 37, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 6},    /* depthwise x2 multiplier, stride 2 */
    {1, 5, 19, 40, 5, 5, 5, 3, 3, 2, 2, 4, 4, 4, 4, 5},     /* depthwise stride 3, dilation 2 */
    {1, 4, 9, 33, 4, 3, 3, 1, 1, 1, 1, 0, 1, 2, 1, 4},      /* depthwise asymmetric pads */
    {1, 3, 2, 70, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},      /* depthwise, more pad than rows */
    {2, 24, 7, 7, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 24},   /* depthwise on a 7x7 map, batch 2 */
    {1, 9, 8, 8, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 9},      /* depthwise, 8x8 map */
    {1, 5, 1, 37, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5},     /* depthwise, one row */
    {1, 7, 5, 3, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 7},      /* depthwise, rows narrower than the strip */
    {1, 20, 17, 21, 20, 5, 5, 3, 3, 2, 2, 4, 4, 4, 4, 20},  /* depthwise, 7 wide out (16-channel form), s3 d2 */
    {1, 33, 7, 7, 33, 7, 7, 1, 1, 1, 1, 3, 2, 3, 4, 33},   /* depthwise 7x7 on 7x7, 16+16+1 channels, asym pads */
    /* 3x3 depthwise strips (masked loads, groups of up to 3 strips): stride 2
     * over 4 strips, no left padding; padding 2 and 3, wider than a tap */
    {1, 5, 11, 100, 5, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 5},
    {1, 4, 9, 40, 4, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 4},
    {2, 4, 9, 41, 4, 3, 3, 2, 2, 1, 1, 2, 3, 2, 3, 4},
    {1, 3, 6, 117, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},     /* 8 strips: 3 + 3 + 2 */
    {2, 11, 12, 14, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 11},  /* channels in pairs: 5 + a lone one per sample */
    {1, 11, 12, 14, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 11},
    {1, 10, 9, 13, 10, 3, 3, 1, 1, 1, 1, 0, 2, 2, 0, 10},
    {1, 40, 7, 7, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},     /* 1x1 on 7x7: one tail column */
    {2, 24, 11, 9, 20, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* 1x1, N = 99: 3 tail columns */
    {1, 3, 40, 37, 20, 7, 7, 2, 2, 1, 1, 3, 3, 2, 3, 1},    /* shallow stem: implicit GEMM, 20 channels */
    {2, 8, 17, 19, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    /* implicit GEMM (depth 72), 64 channels, batch 2 */
    {1, 8, 30, 30, 16, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},    /* implicit GEMM, dilation 2 */
    {1, 3, 45, 45, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},    /* 3x3x3 stem: implicit GEMM, 2 vectors per row */
    /* implicit GEMM (AVX-512): row tiles of 3, 2+2 and 1 vectors, channel
     * counts not a multiple of 8, pads on all sides, stride 3 */
    {1, 3, 47, 45, 13, 3, 3, 2, 2, 1, 1, 1, 1, 0, 2, 1},    /* 3x3x3/2, K = 13, asymmetric pads */
    {2, 3, 60, 70, 24, 7, 7, 2, 2, 1, 1, 3, 2, 3, 4, 1},    /* 7x7/2, OW = 35: a 3-vector tile, batch 2 */
    {1, 2, 50, 100, 10, 5, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1},   /* 5x5/3, three column phases */
    {1, 4, 20, 64, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* stride 1, OW = 64: tiles 2 + 2, K = 9 */
    {1, 3, 17, 223, 17, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1},   /* OW = 111: tiles 3 + 2 + 2, K = 17 */
    {1, 3, 31, 35, 11, 3, 3, 2, 2, 2, 2, 3, 1, 2, 4, 1},    /* stride 2 with dilation 2 */
    {1, 1, 28, 28, 6, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},     /* LeNet conv1: row-vector direct, K = 6 */
    {2, 6, 14, 14, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1},    /* LeNet conv2: two 8-channel blocks */
    {1, 3, 9, 75, 13, 3, 5, 2, 1, 1, 3, 1, 7, 0, 9, 1},     /* rows: 3 spans, stride 2 in H, dilation 3, K = 8 + 5 */
    {1, 2, 1, 40, 3, 1, 33, 1, 1, 1, 1, 0, 16, 0, 16, 1},   /* 1-D kernel wider than the row tiles (33 taps) */
    {2, 5, 12, 9, 11, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1},     /* rows: pairs of 9-wide rows, stride 2 in H, odd OH */
    {1, 4, 7, 12, 9, 3, 3, 1, 1, 2, 1, 2, 1, 1, 1, 1},      /* rows: pairs, dilation 2 in H, pads past both edges */
    /* Winograd: T-rows with several transpose chunks per tile row (F(4,3):
     * 7 + 7 + 2 tiles in, 4 x 4 out; F(2,3): 15 + 15 + 1 in, 8 + 8 + 8 + 7
     * out), C and K not multiples of 16 */
    {2, 40, 6, 61, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 40, 6, 61, 70, 3, 3, 1, 1, 1, 1, 0, 2, 1, 0, 1},    /* same, asymmetric pads */
    {1, 64, 13, 13, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* T-rows, 13x13 (SqueezeNet-like) */
    {2, 96, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* T-rows, 7x7, K = 16 + 16 + 8 */
    /* Winograd K-rows in several tile-row blocks (4 blocks of 5, 5, 5, 3 tile
     * rows for F(4,3); 6 for F(2,3)), more blocks than slots, ragged strips */
    {2, 20, 70, 70, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {1, 20, 67, 71, 21, 3, 3, 1, 1, 1, 1, 1, 0, 2, 1, 1},   /* same, odd sizes, asymmetric pads */
    {1, 16, 55, 55, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* SqueezeNet expand3x3, 55x55 */
    /* im2col packed from the phase-split copy (conv_q_*), the GEMM's tail
     * columns fused into its last panel: N = 49 (1 tail column), 196 and 100
     * (4), K not a multiple of 16, M = 8j + 5 and 8j + 4 (both sliver
     * kernels), strides 1, 2, 3, wide phase rows (2 pieces), groups */
    {2, 23, 7, 7, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* 7x7 s1, batch 2 */
    {1, 300, 7, 7, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    /* 7x7, K = 2700 */
    {1, 17, 14, 14, 36, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* 14x14: 4 panels + 4 tail columns */
    {2, 19, 14, 13, 20, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   /* stride 2 to 7x7, batch 2 */
    {1, 9, 28, 28, 24, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},    /* stride 2 to 14x14 */
    {1, 30, 57, 57, 18, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   /* stride 2, 30-column phase rows */
    {1, 30, 21, 19, 10, 5, 5, 2, 2, 1, 1, 2, 1, 2, 3, 1},   /* 5x5 stride 2, asymmetric pads */
    {1, 30, 20, 23, 10, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1},   /* stride 3: scalar phase rows */
    {1, 40, 13, 11, 12, 3, 2, 2, 1, 1, 1, 1, 0, 1, 1, 1},   /* 3x2, strides 2 and 1 */
    {1, 24, 10, 10, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},   /* 10x10 groups 2: 96 + 4 tail */
    {1, 10, 6, 6, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* 6x6: a 32-wide panel + 4 tail */
    {2, 40, 9, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},      /* dilation 2, stride 1 */
};

enum { T_DIRECT, T_GEMM1X1, T_IM2COL, T_WINO2, T_WINO4, T_FFT, T_COUNT };
static const char *algo_names[T_COUNT] = {"direct", "gemm1x1", "im2col", "winograd2", "winograd4", "fft"};
static const int algo_rt[T_COUNT] = {RT_ALGO_DIRECT, RT_ALGO_GEMM1X1, RT_ALGO_IM2COL,
                                     RT_ALGO_WINOGRAD, RT_ALGO_WINOGRAD, RT_ALGO_FFT};
static const double algo_tol[T_COUNT] = {1e-5, 1e-5, 1e-5, 2e-5, 1e-4, 1e-5};

/* Run one algorithm as generated code would: Winograd/FFT read the weights
 * transformed at compile time (when the shape lets them run at all), the
 * scratch comes from rt_conv2d_scratch. */
static void conv_run(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                     float *y) {
  float *wp = NULL;
  void *scratch;
  if (p->algo == RT_ALGO_WINOGRAD && rt_winograd_applies(p)) {
    wp = xmalloc(rt_winograd_weights_size(p) * sizeof(float));
    rt_winograd_weights(p, w, wp);
  } else if (p->algo == RT_ALGO_FFT && rt_fft_applies(p)) {
    wp = xmalloc(rt_fft_weights_size(p) * sizeof(float));
    rt_fft_weights(p, w, wp);
  }
  scratch = xmalloc(rt_conv2d_scratch(p));
  rt_conv2d(p, n, x, wp ? wp : w, b, res, y, scratch);
  free(scratch);
  free(wp);
}

static void conv_case(int ci, const ConvCase *cc, const RtConv *base, const char *label) {
  RtConv p;
  if (base) {
    p = *base;
  } else {
    memset(&p, 0, sizeof p);
    p.C = cc->C, p.H = cc->H, p.W = cc->W, p.K = cc->K, p.kh = cc->kh, p.kw = cc->kw;
    p.sh = cc->sh, p.sw = cc->sw, p.dh = cc->dh, p.dw = cc->dw, p.pt = cc->pt, p.pl = cc->pl;
    p.groups = cc->groups;
    p.OH = (cc->H + cc->pt + cc->pb - cc->dh * (cc->kh - 1) - 1) / cc->sh + 1;
    p.OW = (cc->W + cc->pl + cc->pr - cc->dw * (cc->kw - 1) - 1) / cc->sw + 1;
    p.act = ci % NACT;
    act_params(p.act, &p.alpha, &p.beta);
  }
  const int n = base ? 1 : cc->n;
  const int64_t xn = (int64_t)n * p.C * p.H * p.W, yn = (int64_t)n * p.K * p.OH * p.OW;
  const int64_t wn = (int64_t)p.K * (p.C / p.groups) * p.kh * p.kw;
  /* realistic layers: post-ReLU inputs, Kaiming-scaled weights */
  const float ws = base ? (float)sqrt(6.0 / (double)((p.C / p.groups) * p.kh * p.kw)) : 0.5f;
  float *x = rnd(xn, base ? 0.0f : -1.0f, 1), *w = rnd(wn, -ws, ws), *b = rnd(p.K, -0.5f, 0.5f);
  float *res = rnd(yn, -1, 1), *y = xmalloc((size_t)yn * 4), *res2 = xmalloc((size_t)yn * 4);
  double *ref = xmalloc((size_t)yn * 8);
  const float *bp = ci % 3 != 1 ? b : NULL, *rp = ci % 2 ? res : NULL;
  char name[200];

  conv_ref(&p, n, x, w, bp, rp, ref);
  for (int a = 0; a < T_COUNT; a++) {
    RtConv q = p;
    q.algo = algo_rt[a];
    q.tile = a == T_WINO2 ? 2 : a == T_WINO4 ? 4 : 0;
    {
      const int applies = (a == T_WINO2 || a == T_WINO4) ? rt_winograd_applies(&q)
                          : a == T_FFT                  ? rt_fft_applies(&q)
                          : a == T_GEMM1X1              ? conv_is_1x1(&q)
                                                        : 1;
      fill_nan(y, yn);
      conv_run(&q, n, x, w, bp, rp, y);
      snprintf(name, sizeof name, "%s#%d n%d %dx%dx%d->%d k%dx%d s%d,%d d%d,%d g%d%s%s %s %s%s", label, ci, n, p.C,
               p.H, p.W, p.K, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.groups, bp ? " +b" : "", rp ? " +res" : "",
               act_names[p.act], algo_names[a], applies ? "" : " (fallback: direct)");
      check(name, y, ref, yn, applies ? algo_tol[a] : 1e-5);
      if (a == T_GEMM1X1 && applies && p.groups == 1) {
        /* the compiler's hint (tile 1): the input packed into panels first,
         * the same sums as read in place (or as packed by shape) */
        RtConv q1 = q;
        float *y1 = xmalloc((size_t)yn * 4);
        q1.tile = 1;
        fill_nan(y1, yn);
        conv_run(&q1, n, x, w, bp, rp, y1);
        snprintf(name, sizeof name, "%s#%d n%d %dx%dx%d->%d 1x1 input packed (tile 1)", label, ci, n, p.C, p.H, p.W,
                 p.K);
        check(name, y1, ref, yn, algo_tol[a]);
        nchecks++;
        if (memcmp(y1, y, (size_t)yn * 4) != 0) {
          printf("FAIL %s: not the same bits as tile 0\n", name);
          nfail++;
        }
        free(y1);
      }
    }
    /* in-place residual: y is the residual buffer */
    if (rp && (a != T_GEMM1X1 || (p.kh == 1 && p.kw == 1))) {
      memcpy(res2, res, (size_t)yn * 4);
      conv_run(&q, n, x, w, bp, res2, res2);
      snprintf(name, sizeof name, "%s#%d %s in-place residual", label, ci, algo_names[a]);
      check(name, res2, ref, yn, algo_tol[a]);
    }
  }
  free(x), free(w), free(b), free(res), free(y), free(res2), free(ref);
}

/* Winograd K-rows blocking: a map that fits one block is still cut into
 * two when it has four tile rows or more (two threads share it: CIFAR's
 * 16-channel 32x32 layers), one block below that; whole tile rows each. */
static void wino_blocks(void) {
  static const int sh[4][5] = {/* C, H, W, tile, blocks */
                               {16, 32, 32, 4, 2},
                               {16, 32, 32, 2, 2},
                               {20, 8, 64, 4, 1},
                               {64, 56, 56, 4, 7}};
  for (int i = 0; i < 4; i++) {
    RtConv q;
    WinoGeo g;
    memset(&q, 0, sizeof q);
    q.C = q.K = sh[i][0], q.H = q.OH = sh[i][1], q.W = q.OW = sh[i][2], q.tile = sh[i][3];
    q.kh = q.kw = 3, q.sh = q.sw = q.dh = q.dw = 1, q.pt = q.pl = 1, q.groups = 1, q.algo = RT_ALGO_WINOGRAD;
    wino_geo(&q, &g);
    nchecks++;
    if (wino_trows(&q) || g.nblk != sh[i][4] || g.R * g.nblk < g.th || g.R * (g.nblk - 1) >= g.th) {
      printf("FAIL winograd blocks %dx%d C%d F(%d,3): trows %d, %d blocks of %d tile rows (want %d blocks)\n",
             q.H, q.W, q.C, q.tile, wino_trows(&q), g.nblk, g.R, sh[i][4]);
      nfail++;
    }
  }
}

/* Winograd accuracy on realistic ResNet layers (the 1e-4 bar). */
static void wino_realistic(void) {
  static const int shapes[][3] = {{64, 56, 64}, {128, 28, 128}, {256, 14, 256}, {512, 7, 512}};
  for (int s = 0; s < 4; s++) {
    RtConv p;
    memset(&p, 0, sizeof p);
    p.C = shapes[s][0], p.H = p.W = shapes[s][1], p.K = shapes[s][2];
    p.kh = p.kw = 3, p.sh = p.sw = p.dh = p.dw = 1, p.pt = p.pl = 1, p.groups = 1;
    p.OH = p.H, p.OW = p.W, p.act = RT_ACT_NONE;
    conv_case(100 + 2 * s, NULL, &p, "resnet");
  }
}

/* Every activation through the vector epilogues of each kernel family:
 * implicit GEMM, depthwise, unpacked 1x1, Winograd both orientations. */
static const int act_shapes[][9] = {
      /* C  H   W   K  kh sh pad groups */
      {3, 40, 37, 20, 7, 2, 3, 1, 0},   /* implicit GEMM */
      {16, 18, 21, 16, 3, 1, 1, 16, 0}, /* depthwise 3x3 */
      {16, 7, 7, 16, 3, 1, 1, 16, 0},   /* depthwise 3x3 on a 7x7 map */
      {16, 7, 9, 40, 1, 1, 0, 1, 0},    /* 1x1 read in place, tail */
      {64, 9, 9, 64, 3, 1, 1, 1, 0},    /* Winograd T-rows */
      {16, 24, 24, 16, 3, 1, 1, 1, 0},  /* Winograd K-rows */
      {3, 45, 47, 13, 3, 2, 1, 1, 0},   /* implicit GEMM, 3x3x3 stem, K = 13 */
};

/* The conv of act_shapes[si] (no activation yet). */
static RtConv act_shape_conv(int si) {
  RtConv p;
  memset(&p, 0, sizeof p);
  p.C = act_shapes[si][0], p.H = act_shapes[si][1], p.W = act_shapes[si][2], p.K = act_shapes[si][3];
  p.kh = p.kw = act_shapes[si][4], p.sh = p.sw = act_shapes[si][5], p.pt = p.pl = act_shapes[si][6];
  p.dh = p.dw = 1, p.groups = act_shapes[si][7];
  p.OH = (p.H + 2 * p.pt - p.kh) / p.sh + 1, p.OW = (p.W + 2 * p.pl - p.kw) / p.sw + 1;
  return p;
}

/* The activations fused into each kernel path of act_shapes against fp64. */
static void act_sweep(void) {
  static const int acts[] = {RT_ACT_RELU, RT_ACT_LEAKY, RT_ACT_CLIP, RT_ACT_SIGMOID, RT_ACT_GELU};
  for (int si = 0; si < (int)(sizeof act_shapes / sizeof act_shapes[0]); si++)
    for (int ai = 0; ai < 10; ai++) {
      const int act = acts[ai / 2]; /* each with and without residual (ci parity) */
      RtConv p = act_shape_conv(si);
      p.act = act;
      act_params(act, &p.alpha, &p.beta);
      conv_case(300 + si * 100 + 6 * (ai / 2) + ai % 2, NULL, &p, "acts");
    }
}

/* Clip at its edges through every algorithm on act_shapes: the bias puts
 * NaN, +inf and -inf into output channels 0-2, with the bounds (0, 6) and
 * min > max (-0.25 .. -0.5: torch.clamp then gives max everywhere).  A NaN
 * must come out NaN (each vector form, max then min, passes it as rt_act1
 * does), the rest min(max(v, a), b). */
static void clip_edges(void) {
  static const float bounds[][2] = {{0.0f, 6.0f}, {-0.25f, -0.5f}};
  for (int si = 0; si < (int)(sizeof act_shapes / sizeof act_shapes[0]); si++)
    for (int bi = 0; bi < 2; bi++)
      for (int a = 0; a < T_COUNT; a++) {
        RtConv p = act_shape_conv(si);
        p.act = RT_ACT_CLIP, p.alpha = bounds[bi][0], p.beta = bounds[bi][1];
        p.algo = algo_rt[a], p.tile = a == T_WINO2 ? 2 : a == T_WINO4 ? 4 : 0;
        const int64_t xn = (int64_t)p.C * p.H * p.W, yn = (int64_t)p.K * p.OH * p.OW, plane = yn / p.K;
        float *x = rnd(xn, -1, 1), *w = rnd((int64_t)p.K * (p.C / p.groups) * p.kh * p.kw, -0.5f, 0.5f);
        float *b = rnd(p.K, -4, 4), *y = xmalloc((size_t)yn * 4);
        double *ref = xmalloc((size_t)yn * 8);
        int64_t bad = 0, first = -1;
        b[0] = NAN, b[1] = INFINITY, b[2] = -INFINITY;
        conv_ref(&p, 1, x, w, b, NULL, ref);
        fill_nan(y, yn);
        conv_run(&p, 1, x, w, b, NULL, y);
        for (int64_t i = 0; i < yn; i++) {
          const int ok = isnan(ref[i]) ? isnan(y[i]) : !isnan(y[i]) && fabs(y[i] - ref[i]) <= 1e-4 * fmax(1.0, fabs(ref[i]));
          if (!ok && bad++ == 0)
            first = i;
        }
        nchecks++;
        if (bad) {
          printf("FAIL clip edges %dx%dx%d->%d k%d s%d g%d clip(%g, %g) %s: %lld bad, first channel %lld: %g vs %g\n",
                 p.C, p.H, p.W, p.K, p.kh, p.sh, p.groups, p.alpha, p.beta, algo_names[a], (long long)bad,
                 (long long)(first / plane), y[first], ref[first]);
          nfail++;
        }
        free(x), free(w), free(b), free(y), free(ref);
      }
}

/* ---------------------------------------------------------------- linear */

static void linear_test(int n, int in, int out, int act) {
  float *x = rnd((int64_t)n * in, -1, 1), *w = rnd((int64_t)out * in, -0.5f, 0.5f), *b = rnd(out, -1, 1);
  float *r = rnd((int64_t)n * out, -1, 1), *y = xmalloc((size_t)n * out * 4);
  double *ref = xmalloc((size_t)n * out * 8);
  float alpha, beta;
  char name[120];
  act_params(act, &alpha, &beta);
  for (int s = 0; s < n; s++)
    for (int o = 0; o < out; o++) {
      double v = b[o] + r[(int64_t)s * out + o];
      for (int i = 0; i < in; i++)
        v += (double)x[(int64_t)s * in + i] * w[(int64_t)o * in + i];
      ref[(int64_t)s * out + o] = act_ref(act, alpha, beta, v);
    }
  fill_nan(y, (int64_t)n * out);
  rt_linear(n, in, out, x, w, b, r, y, act, alpha, beta);
  snprintf(name, sizeof name, "linear n=%d in=%d out=%d +b +res %s", n, in, out, act_names[act]);
  check(name, y, ref, (int64_t)n * out, 1e-5);
  free(x), free(w), free(b), free(r), free(y), free(ref);
}

/* ------------------------------------------------ tiled transposed conv */

/* A transposed conv whose kernel equals its stride, through
 * rt_conv_transpose2d_ws (the 1x1 GEMM + interleave form), against fp64:
 * output (k, ih*kh + a, iw*kw + b) = bias + sum_c x[c][ih][iw] w[c][k][a][b]. */
static void convt_tiled_test(int n, int C, int H, int W, int K, int kh, int kw, int act, float *yout) {
  RtConv p;
  const int64_t OH = (int64_t)H * kh, OW = (int64_t)W * kw, yn = (int64_t)n * K * OH * OW;
  float *x = rnd((int64_t)n * C * H * W, -1, 1), *w = rnd((int64_t)C * K * kh * kw, -0.5f, 0.5f);
  float *b = rnd(K, -1, 1), *y = yout ? yout : xmalloc((size_t)yn * 4);
  double *ref = xmalloc((size_t)yn * 8);
  size_t sb;
  void *scratch;
  char name[120];
  memset(&p, 0, sizeof p);
  p.C = C, p.H = H, p.W = W, p.K = K, p.OH = (int)OH, p.OW = (int)OW;
  p.kh = p.sh = kh, p.kw = p.sw = kw, p.dh = p.dw = 1, p.groups = 1, p.act = act;
  act_params(act, &p.alpha, &p.beta);
  for (int s = 0; s < n; s++)
    for (int k = 0; k < K; k++)
      for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
          double v = b[k];
          for (int c = 0; c < C; c++)
            v += (double)x[(((int64_t)s * C + c) * H + oh / kh) * W + ow / kw] *
                 w[(((int64_t)c * K + k) * kh + oh % kh) * kw + ow % kw];
          ref[(((int64_t)s * K + k) * OH + oh) * OW + ow] = act_ref(act, p.alpha, p.beta, v);
        }
  sb = rt_conv_transpose2d_scratch(&p, n);
  scratch = xmalloc(sb);
  fill_nan(y, yn);
  rt_conv_transpose2d_ws(&p, n, x, w, b, y, scratch);
  snprintf(name, sizeof name, "conv_transpose2d tiled n=%d %dx%dx%d->%d k%dx%d %s", n, C, H, W, K, kh, kw,
           act_names[act]);
  check(name, y, ref, yn, 1e-5);
  free(x), free(w), free(b), free(ref), free(scratch);
  if (!yout)
    free(y);
}

/* ------------------------------------------- 1x1 conv inside a depthwise */

/* act_d(dw(act_e(1x1(x) + be)) + bd + res) through rt_pw_dw_conv2d against
 * fp64 (the 1x1 result kept in double); y gets the result. */
static void pw_dw_test(int n, int C, int H, int W, int E, int k, int s, int pad, int act_e, int act_d, int use_res,
                       float *yout) {
  RtConv pe, pd;
  memset(&pe, 0, sizeof pe), memset(&pd, 0, sizeof pd);
  pe.C = C, pe.H = pe.OH = H, pe.W = pe.OW = W, pe.K = E, pe.kh = pe.kw = pe.sh = pe.sw = pe.dh = pe.dw = 1;
  pe.groups = 1, pe.act = act_e;
  act_params(act_e, &pe.alpha, &pe.beta);
  pd.C = pd.K = pd.groups = E, pd.H = H, pd.W = W, pd.kh = pd.kw = k, pd.sh = pd.sw = s, pd.dh = pd.dw = 1;
  pd.pt = pd.pl = pad, pd.OH = (H + 2 * pad - k) / s + 1, pd.OW = (W + 2 * pad - k) / s + 1, pd.act = act_d;
  act_params(act_d, &pd.alpha, &pd.beta);
  const int64_t en = (int64_t)n * E * H * W, yn = (int64_t)n * E * pd.OH * pd.OW;
  float *x = rnd((int64_t)n * C * H * W, -1, 1), *we = rnd((int64_t)E * C, -0.5f, 0.5f), *be = rnd(E, -0.5f, 0.5f);
  float *wd = rnd((int64_t)E * k * k, -0.5f, 0.5f), *bd = rnd(E, -0.5f, 0.5f);
  float *res = use_res ? rnd(yn, -1, 1) : NULL, *y = xmalloc((size_t)yn * 4);
  double *e = xmalloc((size_t)en * 8), *ref = xmalloc((size_t)yn * 8);
  void *scratch = xmalloc(rt_pw_dw_scratch(&pd));
  char name[120];
  for (int64_t i = 0; i < en; i++) { /* i = ((ni * E + c) * H + h) * W + w */
    const int64_t hw = i % ((int64_t)H * W), c = i / ((int64_t)H * W) % E, ni = i / ((int64_t)E * H * W);
    double v = be[c];
    for (int ci = 0; ci < C; ci++)
      v += (double)we[c * C + ci] * x[(ni * C + ci) * H * W + hw];
    e[i] = act_ref(act_e, pe.alpha, pe.beta, v);
  }
  for (int64_t i = 0; i < yn; i++) {
    const int ow = (int)(i % pd.OW), oh = (int)(i / pd.OW % pd.OH);
    const int64_t c = i / ((int64_t)pd.OW * pd.OH) % E, ni = i / ((int64_t)pd.OW * pd.OH * E);
    double v = bd[c] + (res ? res[i] : 0.0);
    for (int a = 0; a < k; a++)
      for (int b = 0; b < k; b++) {
        const int ih = oh * s - pad + a, iw = ow * s - pad + b;
        if (ih >= 0 && ih < H && iw >= 0 && iw < W)
          v += (double)wd[c * k * k + a * k + b] * e[((ni * E + c) * H + ih) * W + iw];
      }
    ref[i] = act_ref(act_d, pd.alpha, pd.beta, v);
  }
  fill_nan(y, yn);
  rt_pw_dw_conv2d(&pe, &pd, n, x, we, be, wd, bd, res, y, scratch);
  snprintf(name, sizeof name, "pw+dw n%d %d->%d %dx%d k%d s%d p%d %s/%s%s (%d-row bands)", n, C, E, H, W, k, s, pad,
           act_names[act_e], act_names[act_d], res ? " +res" : "", pwdw_rows(&pd));
  check(name, y, ref, yn, 1e-5);
  if (yout)
    memcpy(yout, y, (size_t)yn * 4);
  free(x), free(we), free(be), free(wd), free(bd), free(res), free(y), free(e), free(ref), free(scratch);
}

/* conv + max pool fused (rt_conv_maxpool2d) against the fp64 conv, act
 * and pool; the stems of the models (several bands: 7 of 8 pool rows for
 * 64 channels x 112 columns), ceil mode, stride-1 pools whose bands share 4
 * rows, a partial block of 8 channels, batch 2.  In the SIMD builds the
 * fused result must also be the unfused runtime's bits (the same conv
 * tiles, exact maxima).  The 2-thread bits: thread_tests. */
static int pool_osize(int L, int k, int s, int d, int p0, int p1, int ceil_mode);
static void conv_pool_test(int n, int C, int H, int W, int K, int k, int s, int pad, int act, int pk, int ps, int pp,
                           int ceil_mode, float *yout, int nans) {
  RtConv pc;
  RtPool pl;
  memset(&pc, 0, sizeof pc), memset(&pl, 0, sizeof pl);
  pc.C = C, pc.H = H, pc.W = W, pc.K = K, pc.kh = pc.kw = k, pc.sh = pc.sw = s, pc.dh = pc.dw = 1;
  pc.pt = pc.pl = pad, pc.groups = 1, pc.act = act, pc.algo = RT_ALGO_IM2COL;
  pc.OH = (H + 2 * pad - k) / s + 1, pc.OW = (W + 2 * pad - k) / s + 1;
  act_params(act, &pc.alpha, &pc.beta);
  pl.C = K, pl.H = pc.OH, pl.W = pc.OW, pl.kh = pl.kw = pk, pl.sh = pl.sw = ps, pl.dh = pl.dw = 1;
  pl.pt = pl.pl = pl.pb = pl.pr = pp;
  pl.OH = pool_osize(pl.H, pk, ps, 1, pp, pp, ceil_mode), pl.OW = pool_osize(pl.W, pk, ps, 1, pp, pp, ceil_mode);
  const int64_t cn = (int64_t)n * K * pc.OH * pc.OW, yn = (int64_t)n * K * pl.OH * pl.OW;
  float *x = rnd((int64_t)n * C * H * W, -1, 1), *w = rnd((int64_t)K * C * k * k, -0.3f, 0.3f);
  float *b = rnd(K, -0.5f, 0.5f), *y = xmalloc((size_t)yn * 4);
  double *cr = xmalloc((size_t)cn * 8), *ref = xmalloc((size_t)yn * 8);
  char name[160];
  for (int i = 0; i < nans; i++) /* NaN inputs: the pool's rows that read one are redone NaN-aware */
    x[(int64_t)(i * 7919 + 13) * 104729 % ((int64_t)n * C * H * W)] = NAN;
  if (!rt_conv_maxpool2d_applies(&pc, &pl)) {
    printf("FAIL conv+maxpool n%d %d->%d %dx%d k%d s%d: the fused form does not apply\n", n, C, K, H, W, k, s);
    nchecks++, nfail++;
    return;
  }
  void *scratch = xmalloc(rt_conv_maxpool2d_scratch(&pc, &pl));
  conv_ref(&pc, n, x, w, b, NULL, cr);
  for (int64_t i = 0; i < yn; i++) {
    const int ow = (int)(i % pl.OW), oh = (int)(i / pl.OW % pl.OH);
    const int64_t q = i / ((int64_t)pl.OW * pl.OH);
    double m = -INFINITY;
    for (int a = 0; a < pk; a++)
      for (int c = 0; c < pk; c++) {
        const int ih = oh * ps - pp + a, iw = ow * ps - pp + c;
        if (ih >= 0 && ih < pl.H && iw >= 0 && iw < pl.W) {
          const double v = cr[(q * pl.H + ih) * pl.W + iw];
          m = v > m || v != v ? v : m; /* NaN sticks, like torch */
        }
      }
    ref[i] = m;
  }
  fill_nan(y, yn);
  rt_conv_maxpool2d(&pc, &pl, n, x, w, b, y, scratch);
  snprintf(name, sizeof name, "conv+maxpool n%d %d->%d %dx%d k%d s%d p%d %s, pool %d/%d p%d%s (%d-row bands)%s", n,
           C, K, H, W, k, s, pad, act_names[act], pk, ps, pp, ceil_mode ? " ceil" : "", cpool_rows(&pc, &pl),
           nans ? ", NaNs" : "");
  check(name, y, ref, yn, 1e-5);
  if (nans) {
    int64_t nref = 0, miss = 0;
    for (int64_t i = 0; i < yn; i++)
      nref += isnan(ref[i]), miss += !isnan(ref[i]) != !isnan(y[i]);
    printf("%s %-78s NaN outputs: %lld expected, %lld wrong\n", nref && !miss ? "ok  " : "FAIL", name,
           (long long)nref, (long long)miss);
    nchecks++;
    if (!nref || miss)
      nfail++;
  }
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  {
    float *yc = xmalloc((size_t)cn * 4), *yu = xmalloc((size_t)yn * 4);
    void *cs = xmalloc(rt_conv2d_scratch(&pc));
    int same;
    rt_conv2d(&pc, n, x, w, b, NULL, yc, cs);
    rt_maxpool2d(&pl, n, yc, yu);
    same = memcmp(y, yu, (size_t)yn * 4) == 0;
    printf("%s %-78s fused vs unfused: %s\n", same ? "ok  " : "FAIL", name, same ? "identical bits" : "DIFFERENT");
    nchecks++;
    if (!same)
      nfail++;
    free(yc), free(yu), free(cs);
  }
#endif
  if (yout)
    memcpy(yout, y, (size_t)yn * 4);
  free(x), free(w), free(b), free(y), free(cr), free(ref), free(scratch);
}

/* ----------------------------------------------------------- determinism */

/* ------------------------------------------------------------- max pool */

/* The max-pool paths (rt_maxpool2d: SIMD rows, flat planes, the scalar
 * window) against a naive reference with torch's NaN rule (v > m or v is
 * NaN: take v, taps in (i, j) order; taps outside the input skipped) over
 * random shapes: sizes 1..40 and some real ones, kernels 1..5, strides 1..3,
 * pads up to k/2 (PyTorch's limit), ceil_mode, dilation, batches where some
 * planes hold NaNs (the SIMD paths hand those to the scalar form) and others
 * not.  Maxima are exact: every output must equal the reference (NaN where
 * it is NaN); with OpenMP, 1 and 2 threads must give the same bits. */
static int pool_osize(int L, int k, int s, int d, int p0, int p1, int ceil_mode) {
  const int span = L + p0 + p1 - d * (k - 1) - 1;
  int o = (ceil_mode ? span + s - 1 : span) / s + 1;
  if (ceil_mode && (o - 1) * s >= L + p0) /* the last window must start inside the input or left padding */
    o--;
  return o;
}

static uint32_t pool_pick(uint32_t n) { /* uniform-ish in [0, n) */
  return (uint32_t)((frand() + 1.0f) * 0.5f * (float)n) % n;
}

static void pool_sweep(void) {
  static const int sizes[] = {1, 2, 3, 5, 7, 8, 9, 13, 14, 16, 17, 23, 28, 31, 33, 40, 55, 56, 64, 112};
  int64_t nout = 0, bad = 0;
  int ncase = 0;
  for (int c = 0; c < 600; c++) {
    RtPool p;
    const int n = 1 + (int)pool_pick(2), C = c % 10 == 7 ? 17 + (int)pool_pick(24) : 1 + (int)pool_pick(4);
    const int big = sizes[pool_pick(sizeof sizes / sizeof sizes[0])];
    memset(&p, 0, sizeof p);
    p.H = c % 3 ? big : 1 + (int)pool_pick(40), p.W = c % 5 ? big : 1 + (int)pool_pick(40);
    p.kh = 1 + (int)pool_pick(5), p.kw = 1 + (int)pool_pick(5);
    if (c % 4 == 0) /* the models' shapes, often */
      p.kh = p.kw = 2 + (int)pool_pick(2);
    p.sh = 1 + (int)pool_pick(3), p.sw = 1 + (int)pool_pick(3);
    if (c % 4 == 1)
      p.sh = p.sw = 1 + (int)pool_pick(2);
    p.dh = c % 7 == 3 ? 2 : 1, p.dw = c % 11 == 5 ? 2 : 1;
    p.pt = (int)pool_pick((uint32_t)(p.kh / 2 + 1)), p.pb = (int)pool_pick((uint32_t)(p.kh / 2 + 1));
    p.pl = (int)pool_pick((uint32_t)(p.kw / 2 + 1)), p.pr = (int)pool_pick((uint32_t)(p.kw / 2 + 1));
    if (c % 4 == 1)
      p.pt = p.pb = p.kh / 2, p.pl = p.pr = p.kw / 2;
    if (c % 4 == 2) { /* square 2x2/3x3, equal strides 1-2, no dilation: the models' pools (the row-vector form) */
      p.kh = p.kw = 2 + (int)pool_pick(2), p.sh = p.sw = 1 + (int)pool_pick(2), p.dh = p.dw = 1;
      p.pt = p.pl = p.pb = p.pr = p.kw == 3 && (p.sw == 1 || pool_pick(2)) ? 1 : 0;
    }
    const int ceil_mode = (int)pool_pick(2);
    p.OH = pool_osize(p.H, p.kh, p.sh, p.dh, p.pt, p.pb, ceil_mode);
    p.OW = pool_osize(p.W, p.kw, p.sw, p.dw, p.pl, p.pr, ceil_mode);
    if (p.OH < 1 || p.OW < 1)
      continue;
    p.C = C;
    const int64_t plane = (int64_t)p.H * p.W, xn = n * C * plane, yn = (int64_t)n * C * p.OH * p.OW;
    float *x = rnd(xn, -1, 1), *y = xmalloc((size_t)yn * sizeof(float)), *ref = xmalloc((size_t)yn * sizeof(float));
    if (c % 3 == 2) /* NaNs in the odd planes */
      for (int64_t q = 1; q < n * C; q += 2)
        for (int64_t i = pool_pick(13); i < plane; i += 5 + (int64_t)pool_pick(40))
          x[q * plane + i] = NAN;
    for (int64_t q = 0; q < n * C; q++)
      for (int oh = 0; oh < p.OH; oh++)
        for (int ow = 0; ow < p.OW; ow++) {
          float m = -INFINITY;
          for (int i = 0; i < p.kh; i++)
            for (int j = 0; j < p.kw; j++) {
              const int ih = oh * p.sh - p.pt + i * p.dh, iw = ow * p.sw - p.pl + j * p.dw;
              if (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) {
                const float v = x[q * plane + (int64_t)ih * p.W + iw];
                m = v > m || v != v ? v : m;
              }
            }
          ref[(q * p.OH + oh) * p.OW + ow] = m;
        }
    for (int th = 1; th <= 2; th++) {
#ifdef _OPENMP
      omp_set_num_threads(th);
#else
      if (th > 1)
        break;
#endif
      for (int64_t i = 0; i < yn; i++) /* a forgotten output shows */
        y[i] = 1e30f;
      rt_maxpool2d(&p, n, x, y);
      for (int64_t i = 0; i < yn; i++)
        if (!(y[i] == ref[i] || (isnan(y[i]) && isnan(ref[i])))) {
          if (bad < 5)
            printf("    maxpool n%d C%d %dx%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d%s %d thread(s) [%lld]: got %.9g want %.9g\n",
                   n, C, p.H, p.W, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.pt, p.pl, p.pb, p.pr,
                   ceil_mode ? " ceil" : "", th, (long long)i, y[i], ref[i]);
          bad++;
        }
      nout += yn;
    }
    ncase++;
    free(x), free(y), free(ref);
  }
  printf("%s maxpool2d sweep: %d shapes (exact, NaN planes, 1 and 2 threads)%*s n=%-7lld bad=%lld\n",
         bad ? "FAIL" : "ok  ", ncase, 16, "", (long long)nout, (long long)bad);
  nchecks++;
  if (bad)
    nfail++;
}

#ifdef _OPENMP
static void same_bits(const char *what, const float *a, const float *b, int64_t count) {
  const int ok = memcmp(a, b, (size_t)count * sizeof(float)) == 0;
  printf("%s %-78s 1 vs 2 threads: %s\n", ok ? "ok  " : "FAIL", what, ok ? "identical bits" : "DIFFERENT");
  nchecks++;
  if (!ok)
    nfail++;
}

/* Shapes big enough to pass RT_PAR_MIN_WORK, so the loops really run on two
 * threads. */
static void thread_tests(void) {
  RtConv p;
  memset(&p, 0, sizeof p);
  p.C = 48, p.H = 23, p.W = 29, p.K = 56, p.kh = 3, p.kw = 3, p.sh = p.sw = p.dh = p.dw = 1;
  p.pt = p.pl = 1, p.groups = 1, p.OH = 23, p.OW = 29, p.act = RT_ACT_RELU;
  const int64_t xn = 2 * 48 * 23 * 29, yn = 2 * 56 * 23 * 29;
  float *x = rnd(xn, -1, 1), *w = rnd(56 * 48 * 49, -0.2f, 0.2f), *b = rnd(56, -1, 1); /* room for 7x7 */
  float *y1 = xmalloc((size_t)yn * 4), *y2 = xmalloc((size_t)yn * 4);
  for (int a = 0; a < T_COUNT; a++) {
    RtConv q = p;
    char name[80];
    q.algo = algo_rt[a];
    q.tile = a == T_WINO2 ? 2 : a == T_WINO4 ? 4 : 0;
    if (a == T_FFT)
      q.kh = q.kw = 7, q.pt = q.pl = 3; /* FFT on its own kind of layer */
    if (a == T_GEMM1X1)
      q.kh = q.kw = 1, q.pt = q.pl = 0;
    omp_set_num_threads(1);
    conv_run(&q, 2, x, w, b, NULL, y1);
    omp_set_num_threads(2);
    conv_run(&q, 2, x, w, b, NULL, y2);
    snprintf(name, sizeof name, "conv2d %s", algo_names[a]);
    same_bits(name, y1, y2, yn);
  }
  {
    /* depthwise (AVX-512 row kernel), a shallow stem (implicit GEMM), and
     * im2col from the phase-split copy: stride 2, and 7x7 with a fused tail */
    static const int extra[6][9] = {{48, 60, 60, 48, 3, 1, 1, 48, 0},
                                    {3, 64, 64, 64, 7, 2, 3, 1, 0},
                                    {64, 30, 30, 56, 3, 2, 1, 1, 0}, /* K <= 56: b's size */
                                    {128, 7, 7, 56, 3, 1, 1, 1, 0},
                                    {47, 14, 14, 47, 3, 1, 1, 47, 0},
                                    {48, 56, 56, 48, 3, 2, 1, 48, 0}};
    static const char *names[6] = {"conv2d depthwise", "conv2d implicit GEMM stem", "conv2d im2col stride 2",
                                   "conv2d im2col 7x7 (fused tail)", "conv2d depthwise 14x14 (channel pairs)",
                                   "conv2d depthwise stride 2"};
    for (int e = 0; e < 6; e++) {
      RtConv q;
      memset(&q, 0, sizeof q);
      q.C = extra[e][0], q.H = extra[e][1], q.W = extra[e][2], q.K = extra[e][3];
      q.kh = q.kw = extra[e][4], q.sh = q.sw = extra[e][5], q.pt = q.pl = extra[e][6];
      q.dh = q.dw = 1, q.groups = extra[e][7], q.act = RT_ACT_RELU;
      q.OH = (q.H + 2 * q.pt - q.kh) / q.sh + 1, q.OW = (q.W + 2 * q.pl - q.kw) / q.sw + 1;
      q.algo = q.groups > 1 ? RT_ALGO_DIRECT : RT_ALGO_IM2COL;
      {
        const int64_t xq = 2LL * q.C * q.H * q.W, yq = 2LL * q.K * q.OH * q.OW;
        float *xx = rnd(xq, -1, 1), *ww = rnd((int64_t)q.K * (q.C / q.groups) * q.kh * q.kw, -0.2f, 0.2f);
        float *z1 = xmalloc((size_t)yq * 4), *z2 = xmalloc((size_t)yq * 4);
        omp_set_num_threads(1);
        conv_run(&q, 2, xx, ww, b, NULL, z1);
        omp_set_num_threads(2);
        conv_run(&q, 2, xx, ww, b, NULL, z2);
        same_bits(names[e], z1, z2, yq);
        free(xx), free(ww), free(z1), free(z2);
      }
    }
  }
  {
    /* Winograd paths: T-rows, K-rows with one block (its loops parallel: a
     * map two tile rows high), a small map cut into two blocks (one per
     * slot) and more blocks than slots (one task per slot) */
    static const int wl[4][4] = {{64, 13, 13, 96}, {20, 8, 64, 24}, {32, 20, 20, 48}, {20, 70, 70, 24}};
    for (int e = 0; e < 4; e++)
      for (int tile = 2; tile <= 4; tile += 2) {
        RtConv q;
        char name[80];
        memset(&q, 0, sizeof q);
        q.C = wl[e][0], q.H = wl[e][1], q.W = wl[e][2], q.K = wl[e][3];
        q.kh = q.kw = 3, q.sh = q.sw = q.dh = q.dw = 1, q.pt = q.pl = 1, q.groups = 1;
        q.OH = q.H, q.OW = q.W, q.act = RT_ACT_RELU, q.algo = RT_ALGO_WINOGRAD, q.tile = tile;
        {
          const int64_t xq = 2LL * q.C * q.H * q.W, yq = 2LL * q.K * q.OH * q.OW;
          float *xx = rnd(xq, -1, 1), *ww = rnd((int64_t)q.K * q.C * 9, -0.2f, 0.2f), *bb = rnd(q.K, -1, 1);
          float *rr = rnd(yq, -1, 1);
          float *z1 = xmalloc((size_t)yq * 4), *z2 = xmalloc((size_t)yq * 4);
          omp_set_num_threads(1);
          conv_run(&q, 2, xx, ww, bb, rr, z1);
          omp_set_num_threads(2);
          conv_run(&q, 2, xx, ww, bb, rr, z2);
          snprintf(name, sizeof name, "conv2d winograd%d %d->%d %dx%d +res", tile, q.C, q.K, q.H, q.W);
          same_bits(name, z1, z2, yq);
          free(xx), free(ww), free(bb), free(rr), free(z1), free(z2);
        }
      }
  }
  {
    /* big enough to pass RT_PAR_MIN_WORK and really run on two threads */
    float *lw = rnd(200 * 1000, -1, 1), *lb = rnd(200, -1, 1);
    omp_set_num_threads(1);
    rt_linear(9, 1000, 200, x, lw, lb, NULL, y1, RT_ACT_NONE, 0, 0);
    omp_set_num_threads(2);
    rt_linear(9, 1000, 200, x, lw, lb, NULL, y2, RT_ACT_NONE, 0, 0);
    same_bits("linear n=9 1000->200", y1, y2, 9 * 200);
    /* one sample: the matrix-vector path (8-row tasks, the last one short) */
    omp_set_num_threads(1);
    rt_linear(1, 1000, 197, x, lw, lb, NULL, y1, RT_ACT_NONE, 0, 0);
    omp_set_num_threads(2);
    rt_linear(1, 1000, 197, x, lw, lb, NULL, y2, RT_ACT_NONE, 0, 0);
    same_bits("linear n=1 1000->197", y1, y2, 197);
    {
      float *t1 = xmalloc((size_t)2 * 16 * 64 * 74 * 4), *t2 = xmalloc((size_t)2 * 16 * 64 * 74 * 4);
      const uint64_t seed = rng;
      omp_set_num_threads(1);
      convt_tiled_test(2, 24, 32, 37, 16, 2, 2, RT_ACT_RELU, t1);
      rng = seed; /* the same inputs */
      omp_set_num_threads(2);
      convt_tiled_test(2, 24, 32, 37, 16, 2, 2, RT_ACT_RELU, t2);
      same_bits("conv_transpose2d tiled 24x32x37->16 k2x2", t1, t2, 2 * 16 * 64 * 74);
      free(t1), free(t2);
    }
    free(lw), free(lb);
  }
  {
    /* the 1x1 conv inside the depthwise conv: channel runs of 8 per thread */
    const int64_t yq = 2LL * 36 * 15 * 12;
    float *t1 = xmalloc((size_t)yq * 4), *t2 = xmalloc((size_t)yq * 4);
    const uint64_t seed = rng;
    omp_set_num_threads(1);
    pw_dw_test(2, 7, 30, 23, 36, 3, 2, 1, RT_ACT_CLIP, RT_ACT_RELU, 1, t1);
    rng = seed;
    omp_set_num_threads(2);
    pw_dw_test(2, 7, 30, 23, 36, 3, 2, 1, RT_ACT_CLIP, RT_ACT_RELU, 1, t2);
    same_bits("pw+dw 7->36 30x23 3x3/2 +res", t1, t2, yq);
    free(t1), free(t2);
  }
  {
    /* conv inside the max pool: channel runs of 8 per thread (20 = 8 + 8 + 4) */
    const int64_t yq = 2LL * 20 * 102 * 56;
    float *t1 = xmalloc((size_t)yq * 4), *t2 = xmalloc((size_t)yq * 4);
    const uint64_t seed = rng;
    omp_set_num_threads(1);
    conv_pool_test(2, 3, 408, 224, 20, 7, 2, 3, RT_ACT_RELU, 3, 2, 1, 0, t1, 0);
    rng = seed;
    omp_set_num_threads(2);
    conv_pool_test(2, 3, 408, 224, 20, 7, 2, 3, RT_ACT_RELU, 3, 2, 1, 0, t2, 0);
    same_bits("conv+maxpool 3->20 408x224 7x7/2, pool 3x3/2", t1, t2, yq);
    free(t1), free(t2);
  }
  free(x), free(w), free(b), free(y1), free(y2);
}
#endif

int main(void) {
#if defined(__AVX512F__)
  printf("SIMD path: AVX-512\n");
#elif defined(__AVX2__) && defined(__FMA__)
  printf("SIMD path: AVX2+FMA\n");
#else
  printf("SIMD path: portable C\n");
#endif
  {
    static const int g[][3] = {{1, 1, 1}, {7, 5, 3}, {8, 48, 17}, {13, 49, 64}, {64, 200, 147},
                               {70, 97, 300}, {5, 33, 1200}, {512, 49, 70}, {3, 130, 9},
                               /* 2, 3, 4 columns after a full 48-wide panel (the fused tail), short rows */
                               {13, 50, 40}, {3, 99, 33}, {21, 196, 20},
                               /* AVX2's tails: 1..7 dot columns, after 16- and 8-wide panels; K % 16 */
                               {7, 17, 5}, {6, 19, 37}, {11, 23, 16}, {5, 27, 100}, {13, 28, 31}, {4, 31, 9}};
    for (int i = 0; i < (int)(sizeof g / sizeof g[0]); i++)
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
      for (int mode = 0; mode < 4; mode++) /* exact-width B reads (mode 3): the SIMD builds */
#else
      for (int mode = 0; mode < 3; mode++)
#endif
        gemm_test(g[i][0], g[i][1], g[i][2], (i + mode) % 2, (i + mode) % 3 != 0, (i * 3 + mode) % NACT, mode);
  }
  for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++)
    conv_case(i, &cases[i], NULL, "conv");
  wino_blocks();
  wino_realistic();
  act_sweep();
  clip_edges();
  for (int act = 0; act < NACT; act += 3)
    linear_test(1 + act, 37 + 40 * act, 11 + 13 * act, act);
  linear_test(16, 512, 1000, RT_ACT_RELU);
  convt_tiled_test(2, 24, 5, 37, 16, 2, 2, RT_ACT_RELU, NULL); /* 2 vector pieces + a 5-column tail */
  convt_tiled_test(1, 32, 32, 32, 16, 2, 2, RT_ACT_NONE, NULL); /* U-Net's up-sampling */
  convt_tiled_test(1, 8, 4, 5, 6, 3, 3, RT_ACT_LEAKY, NULL);
  pw_dw_test(2, 5, 19, 23, 20, 3, 1, 1, RT_ACT_CLIP, RT_ACT_CLIP, 1, NULL);
  pw_dw_test(1, 8, 30, 17, 36, 3, 2, 1, RT_ACT_RELU, RT_ACT_RELU, 0, NULL);
  pw_dw_test(1, 16, 40, 40, 24, 3, 2, 0, RT_ACT_HARDSWISH, RT_ACT_NONE, 0, NULL); /* odd rows left over */
  pw_dw_test(1, 3, 12, 9, 10, 5, 1, 2, RT_ACT_NONE, RT_ACT_LEAKY, 1, NULL);      /* the plain plane loop */
  pw_dw_test(1, 4, 21, 33, 12, 7, 2, 3, RT_ACT_RELU, RT_ACT_SIGMOID, 0, NULL);
  pw_dw_test(1, 6, 3, 70, 17, 3, 1, 1, RT_ACT_RELU, RT_ACT_RELU, 0, NULL);        /* 3 rows, 1 band */
  /* maps whose output rows are <= 8 wide: the 16-channel depthwise form */
  pw_dw_test(2, 5, 7, 7, 40, 3, 1, 1, RT_ACT_CLIP, RT_ACT_CLIP, 1, NULL);
  pw_dw_test(1, 8, 14, 14, 36, 3, 2, 1, RT_ACT_RELU, RT_ACT_NONE, 0, NULL);
  /* 14 wide, stride 1: channels in pairs (conv_dw3_pair), 21 = 10 pairs + 1;
   * the act left to rt_act_array; ReLU6 */
  pw_dw_test(2, 6, 13, 14, 21, 3, 1, 1, RT_ACT_CLIP, RT_ACT_HARDSWISH, 1, NULL);
  pw_dw_test(1, 6, 14, 14, 21, 3, 1, 1, RT_ACT_RELU, RT_ACT_CLIP, 0, NULL);
  pw_dw_test(1, 6, 7, 7, 17, 5, 1, 2, RT_ACT_RELU, RT_ACT_HARDSWISH, 1, NULL);
  pool_sweep();
  conv_pool_test(1, 3, 224, 224, 64, 7, 2, 3, RT_ACT_RELU, 3, 2, 1, 0, NULL, 0);  /* ResNet's stem */
  conv_pool_test(1, 3, 224, 224, 64, 3, 2, 0, RT_ACT_RELU, 3, 2, 0, 1, NULL, 0);  /* SqueezeNet's */
  conv_pool_test(2, 3, 61, 57, 20, 7, 2, 3, RT_ACT_CLIP, 3, 2, 0, 1, NULL, 0);    /* GoogLeNet's, ceil */
  conv_pool_test(1, 4, 40, 37, 24, 3, 1, 1, RT_ACT_NONE, 2, 2, 0, 0, NULL, 0);    /* VGG's 2x2/2 */
  conv_pool_test(1, 5, 150, 70, 96, 3, 1, 1, RT_ACT_LEAKY, 5, 1, 2, 0, NULL, 0);  /* stride 1: 4 shared rows */
  conv_pool_test(1, 2, 90, 48, 11, 5, 3, 2, RT_ACT_RELU, 3, 3, 1, 1, NULL, 0);    /* strides 3 */
  conv_pool_test(1, 3, 224, 224, 64, 3, 2, 0, RT_ACT_NONE, 3, 2, 0, 1, NULL, 40); /* NaN inputs, 111 columns */
  conv_pool_test(1, 3, 224, 224, 64, 7, 2, 3, RT_ACT_NONE, 3, 2, 1, 0, NULL, 40); /* 112 columns, pad 1 */
#ifdef _OPENMP
  thread_tests();
#endif
  printf("%d checks, %d failed\n", nchecks, nfail);
  return nfail ? 1 : 0;
}
