/* unit_kernels.c - every runtime kernel against a naive float64 reference.
 *
 * Each check computes the reference in double with the plainest loops that
 * spell out the PyTorch/ONNX definition (written independently of the
 * kernels' tiling), runs the kernel on the same float inputs, prints the first
 * mismatches and max |diff|, then judges with tol = 1e-5 * max(1, max|ref|).
 * Outputs are pre-filled with NaN so an element a kernel forgets to write
 * fails.  Under OpenMP the thread-count independence is checked bit for bit.
 * Exit status: 0 when every check passes, 1 otherwise.
 */
#include "../runtime/cnnc_rt.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int nchecks, nfail;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* xorshift64*: reproducible inputs on every platform */
static float frand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (float)((double)((rng * 0x2545F4914F6CDD1Dull) >> 40) / (double)(1u << 24) * 2.0 - 1.0);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

/* count random floats in [lo, hi) */
static float *rnd(int64_t count, float lo, float hi) {
  float *p = xmalloc((size_t)count * sizeof(float));
  for (int64_t i = 0; i < count; i++)
    p[i] = lo + (frand() + 1.0f) * 0.5f * (hi - lo);
  return p;
}

/* output buffer pre-filled with NaN */
static float *nanbuf(int64_t count) {
  float *p = xmalloc((size_t)count * sizeof(float));
  for (int64_t i = 0; i < count; i++)
    p[i] = NAN;
  return p;
}

static double *dbuf(int64_t count) {
  double *p = xmalloc((size_t)count * sizeof(double));
  for (int64_t i = 0; i < count; i++)
    p[i] = 0.0;
  return p;
}

/* Print, then judge.  NaN in both is a match (PyTorch's NaN cases). */
static void check(const char *what, const float *got, const double *ref, int64_t count) {
  double maxref = 0.0, maxdiff = 0.0, tol;
  int64_t bad = 0;
  for (int64_t i = 0; i < count; i++)
    if (fabs(ref[i]) > maxref)
      maxref = fabs(ref[i]);
  tol = 1e-5 * (maxref > 1.0 ? maxref : 1.0);
  for (int64_t i = 0; i < count; i++) {
    double d;
    if (isnan(ref[i]) && isnan(got[i]))
      continue;
    d = isnan(got[i]) || isnan(ref[i]) ? INFINITY : fabs((double)got[i] - ref[i]);
    if (d > maxdiff)
      maxdiff = d;
    if (d > tol) {
      if (bad < 5)
        printf("    %s[%lld]: got %.9g want %.9g\n", what, (long long)i, got[i], ref[i]);
      bad++;
    }
  }
  printf("%s %-58s n=%-7lld max|diff|=%.3g tol=%.3g", bad ? "FAIL" : "ok  ", what, (long long)count, maxdiff, tol);
  if (bad)
    printf(" (%lld bad)", (long long)bad);
  printf("\n");
  nchecks++;
  if (bad)
    nfail++;
}

static double act_ref(int act, double a, double b, double v) {
  switch (act) {
  case RT_ACT_RELU: return v > 0 ? v : 0;
  case RT_ACT_LEAKY: return v >= 0 ? v : a * v;
  case RT_ACT_CLIP: return v < a ? a : (v > b ? b : v);
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

static const char *act_names[] = {"none",   "relu", "leaky", "clip", "sigmoid",  "tanh",
                                  "hswish", "elu",  "selu",  "gelu", "hsigmoid", "identity"};
enum { NACT = RT_ACT_IDENTITY + 1 };

/* parameters that exercise each activation's interesting region */
static void act_params(int act, float *a, float *b) {
  *a = 0.0f;
  *b = 0.0f;
  switch (act) {
  case RT_ACT_LEAKY: *a = 0.1f; break;
  case RT_ACT_CLIP:
    *a = -0.5f;
    *b = 0.75f;
    break;
  case RT_ACT_ELU: *a = 1.3f; break;
  case RT_ACT_HARDSIGMOID:
    *a = 0.2f;
    *b = 0.5f;
    break;
  default: break;
  }
}

/* --------------------------------------------------------------- conv */

static void conv_ref(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                     double *y) {
  int Cg = p->C / p->groups, Kg = p->K / p->groups;
  for (int ni = 0; ni < n; ni++)
    for (int k = 0; k < p->K; k++)
      for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
          int g = k / Kg;
          double s = b ? b[k] : 0.0;
          for (int c = 0; c < Cg; c++)
            for (int i = 0; i < p->kh; i++)
              for (int j = 0; j < p->kw; j++) {
                int ih = oh * p->sh - p->pt + i * p->dh, iw = ow * p->sw - p->pl + j * p->dw;
                if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W)
                  continue;
                s += (double)x[(((int64_t)ni * p->C + g * Cg + c) * p->H + ih) * p->W + iw] *
                     w[(((int64_t)k * Cg + c) * p->kh + i) * p->kw + j];
              }
          int64_t yi = (((int64_t)ni * p->K + k) * p->OH + oh) * p->OW + ow;
          if (res)
            s += res[yi];
          y[yi] = act_ref(p->act, p->alpha, p->beta, s);
        }
}

typedef struct {
  int n, C, H, W, K, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
} ConvCase;

static const ConvCase conv_cases[] = {
    /* n  C   H   W   K  kh kw sh sw dh dw pt pl pb pr g */
    {1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* odd sizes, same padding */
    {2, 4, 11, 10, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   /* stride 2, batch 2 */
    {1, 4, 9, 9, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},     /* dilation 2 */
    {1, 6, 8, 7, 4, 3, 2, 1, 1, 1, 1, 1, 0, 2, 1, 2},     /* groups 2, asymmetric pads */
    {1, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8},   /* depthwise */
    {1, 8, 12, 12, 16, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 8},  /* depthwise x2, stride 2, asym */
    {2, 16, 6, 5, 21, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},   /* 1x1 */
    {1, 64, 14, 14, 70, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1}, /* 1x1 over several GEMM tiles */
    {1, 8, 5, 5, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 4},     /* grouped 1x1 */
    {1, 150, 9, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  /* depth 1350 > one GEMM panel */
    {1, 3, 5, 80, 7, 3, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},    /* OW 80 > one direct tile */
    {1, 4, 1, 50, 6, 1, 5, 1, 2, 1, 2, 0, 3, 0, 4, 1},    /* 1-D, stride 2, dilation 2 */
    {1, 8, 9, 9, 12, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},    /* 1x1 stride 2 */
    {1, 2, 3, 3, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},     /* kernel larger than input */
    {1, 4, 5, 5, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* 1x1 with padding */
    {1, 5, 13, 11, 9, 3, 3, 3, 2, 2, 1, 0, 1, 2, 0, 1},   /* mixed stride/dilation, pads */
    {2, 12, 7, 7, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},   /* groups 3, Kg=6 (ragged block) */
    {1, 3, 16, 16, 8, 7, 7, 2, 2, 1, 1, 3, 3, 2, 2, 1},   /* stem-like 7x7/2, asym */
    {2, 6, 5, 45, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6},    /* depthwise, interior tiles */
    {1, 4, 4, 50, 6, 3, 3, 1, 1, 1, 1, 0, 1, 1, 2, 1},    /* ragged block, interior tiles */
    {1, 5, 6, 40, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},    /* stride 2 over several tiles */
    {1, 2, 3, 200, 3, 3, 5, 1, 4, 1, 9, 1, 2, 1, 2, 1},   /* stride 4, dilated window */
    {1, 2, 4, 150, 3, 2, 3, 1, 1, 1, 60, 0, 0, 1, 0, 1},  /* window too wide: span path */
    {1, 2, 5, 130, 3, 3, 3, 1, 2, 2, 50, 1, 1, 1, 1, 1},  /* strided, too wide: span path */
    /* depthwise 3x3 streaming kernel: strip groups of 3/2/1, several bands,
     * widths not a multiple of 16, stride 2 with odd sizes and TF-style
     * pads, multiplier 2, wide pads, and the shapes that fall back */
    {1, 3, 37, 112, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},  /* dw s1: 5 interior strips, 2 bands */
    {2, 2, 9, 70, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},    /* dw s1, W 70 */
    {1, 3, 71, 67, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},   /* dw s2, odd, 2 bands */
    {1, 2, 12, 112, 2, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 2},  /* dw s2, pads 0/1 (TF same) */
    {1, 2, 5, 33, 2, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 2},    /* dw s2, strip reads column 32 */
    {1, 2, 5, 34, 2, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 2},    /* dw s2, 17 columns */
    {1, 3, 13, 13, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},   /* dw s2, narrow odd map */
    {1, 5, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5},     /* dw 7x7 map */
    {1, 4, 16, 17, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},   /* dw W 17: one lane in strip 2 */
    {2, 3, 9, 50, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},    /* dw multiplier 2, s1 */
    {1, 3, 11, 40, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3},   /* dw multiplier 2, s2 */
    {1, 2, 6, 40, 2, 3, 3, 1, 1, 1, 1, 2, 2, 0, 0, 2},    /* dw pads 2/0 */
    {1, 2, 6, 20, 2, 3, 3, 1, 1, 1, 1, 0, 0, 4, 5, 2},    /* dw right pad past a strip */
    {1, 2, 9, 40, 2, 3, 3, 2, 2, 1, 1, 2, 2, 2, 2, 2},    /* dw s2, pad 2: fallback */
    {1, 2, 9, 40, 2, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 2},    /* dw dilation 2: fallback */
    {1, 2, 9, 40, 2, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 2},    /* dw 5x5: fallback */
    {1, 2, 1, 30, 2, 3, 3, 1, 1, 1, 1, 3, 1, 3, 1, 2},    /* dw pad rows > H */
};

static void conv_test(int ci, const ConvCase *cc) {
  /* Winograd and FFT take weights transformed at compile time: tests/unit_fastconv.c. */
  static const int algos[] = {RT_ALGO_AUTO, RT_ALGO_DIRECT, RT_ALGO_GEMM1X1, RT_ALGO_IM2COL};
  static const char *algo_names[] = {"auto", "direct", "gemm1x1", "im2col"};
  RtConv p;
  memset(&p, 0, sizeof p);
  p.C = cc->C, p.H = cc->H, p.W = cc->W, p.K = cc->K, p.kh = cc->kh, p.kw = cc->kw;
  p.sh = cc->sh, p.sw = cc->sw, p.dh = cc->dh, p.dw = cc->dw, p.pt = cc->pt, p.pl = cc->pl;
  p.groups = cc->groups;
  p.OH = (cc->H + cc->pt + cc->pb - cc->dh * (cc->kh - 1) - 1) / cc->sh + 1;
  p.OW = (cc->W + cc->pl + cc->pr - cc->dw * (cc->kw - 1) - 1) / cc->sw + 1;
  p.act = ci % NACT;
  act_params(p.act, &p.alpha, &p.beta);

  int n = cc->n;
  int64_t xn = (int64_t)n * p.C * p.H * p.W, yn = (int64_t)n * p.K * p.OH * p.OW;
  int64_t wn = (int64_t)p.K * (p.C / p.groups) * p.kh * p.kw;
  float *x = rnd(xn, -1, 1), *w = rnd(wn, -0.5f, 0.5f), *b = rnd(p.K, -0.5f, 0.5f);
  float *res = rnd(yn, -1, 1), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  const float *bp = ci % 3 ? b : NULL, *rp = ci % 2 ? res : NULL;
  char name[160];

  conv_ref(&p, n, x, w, bp, rp, ref);
  for (int a = 0; a < (int)(sizeof algos / sizeof algos[0]); a++) {
    size_t sb;
    void *scratch;
    p.algo = algos[a];
    sb = rt_conv2d_scratch(&p);
    scratch = sb ? xmalloc(sb) : NULL;
    for (int64_t i = 0; i < yn; i++)
      y[i] = NAN;
    rt_conv2d(&p, n, x, w, bp, rp, y, scratch);
    snprintf(name, sizeof name, "conv2d#%d %dx%dx%d k%dx%d s%d,%d d%d,%d g%d%s%s %s %s", ci, p.C, p.H, p.W, p.kh, p.kw,
             p.sh, p.sw, p.dh, p.dw, p.groups, bp ? " +b" : "", rp ? " +res" : "", act_names[p.act], algo_names[a]);
    check(name, y, ref, yn);
    /* In-place residual (y == res), as an in-place fused add would pass it. */
    if (rp) {
      memcpy(y, res, (size_t)yn * sizeof(float));
      rt_conv2d(&p, n, x, w, bp, y, y, scratch);
      snprintf(name + strlen(name), sizeof name - strlen(name), " res==y");
      check(name, y, ref, yn);
    }
    free(scratch);
  }
  free(x), free(w), free(b), free(res), free(y), free(ref);
}

/* ------------------------------------------------------ conv transpose */

static void convt_ref(const RtConv *p, int n, const float *x, const float *w, const float *b, double *y) {
  int Cg = p->C / p->groups, Kg = p->K / p->groups;
  int64_t yn = (int64_t)n * p->K * p->OH * p->OW;
  for (int64_t i = 0; i < yn; i++)
    y[i] = b ? b[i / ((int64_t)p->OH * p->OW) % p->K] : 0.0;
  for (int ni = 0; ni < n; ni++)
    for (int c = 0; c < p->C; c++)
      for (int ih = 0; ih < p->H; ih++)
        for (int iw = 0; iw < p->W; iw++)
          for (int kl = 0; kl < Kg; kl++)
            for (int i = 0; i < p->kh; i++)
              for (int j = 0; j < p->kw; j++) {
                int oh = ih * p->sh - p->pt + i * p->dh, ow = iw * p->sw - p->pl + j * p->dw;
                int k = c / Cg * Kg + kl;
                if (oh < 0 || oh >= p->OH || ow < 0 || ow >= p->OW)
                  continue;
                y[(((int64_t)ni * p->K + k) * p->OH + oh) * p->OW + ow] +=
                    (double)x[(((int64_t)ni * p->C + c) * p->H + ih) * p->W + iw] *
                    w[(((int64_t)c * Kg + kl) * p->kh + i) * p->kw + j];
              }
  for (int64_t i = 0; i < yn; i++)
    y[i] = act_ref(p->act, p->alpha, p->beta, y[i]);
}

static void convt_test(int ci, int n, int C, int H, int W, int K, int kh, int kw, int sh, int sw, int dh, int dw,
                       int pt, int pl, int pb, int pr, int oph, int opw, int groups, int act) {
  RtConv p;
  memset(&p, 0, sizeof p);
  p.C = C, p.H = H, p.W = W, p.K = K, p.kh = kh, p.kw = kw, p.sh = sh, p.sw = sw, p.dh = dh, p.dw = dw;
  p.pt = pt, p.pl = pl, p.groups = groups, p.act = act;
  act_params(act, &p.alpha, &p.beta);
  p.OH = (H - 1) * sh - pt - pb + dh * (kh - 1) + oph + 1;
  p.OW = (W - 1) * sw - pl - pr + dw * (kw - 1) + opw + 1;
  int64_t xn = (int64_t)n * C * H * W, yn = (int64_t)n * K * p.OH * p.OW;
  float *x = rnd(xn, -1, 1), *w = rnd((int64_t)C * (K / groups) * kh * kw, -0.5f, 0.5f);
  float *b = rnd(K, -0.5f, 0.5f), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  char name[160];
  convt_ref(&p, n, x, w, ci % 2 ? b : NULL, ref);
  rt_conv_transpose2d(&p, n, x, w, ci % 2 ? b : NULL, y);
  snprintf(name, sizeof name, "conv_transpose2d#%d %dx%dx%d->%dx%dx%d k%dx%d s%d,%d d%d,%d g%d %s", ci, C, H, W, K,
           p.OH, p.OW, kh, kw, sh, sw, dh, dw, groups, act_names[act]);
  check(name, y, ref, yn);
  { /* the GEMM + col2im form generated code uses when it has scratch */
    size_t sb = rt_conv_transpose2d_scratch(&p, n);
    void *scratch = malloc(sb ? sb : 1);
    for (int64_t i = 0; i < yn; i++)
      y[i] = NAN;
    rt_conv_transpose2d_ws(&p, n, x, w, ci % 2 ? b : NULL, y, sb ? scratch : NULL);
    snprintf(name + strlen(name), sizeof name - strlen(name), " ws%s", sb ? " (GEMM)" : " (direct)");
    check(name, y, ref, yn);
    free(scratch);
  }
  free(x), free(w), free(b), free(y), free(ref);
}

/* -------------------------------------------------------------- linear */

static void linear_test(int ci, int n, int in, int out) {
  int act = (ci * 5) % NACT;
  float a, bb;
  act_params(act, &a, &bb);
  float *x = rnd((int64_t)n * in, -1, 1), *w = rnd((int64_t)out * in, -0.5f, 0.5f);
  float *b = rnd(out, -1, 1), *res = rnd((int64_t)n * out, -1, 1), *y = nanbuf((int64_t)n * out);
  double *ref = dbuf((int64_t)n * out);
  const float *bp = ci % 2 ? b : NULL, *rp = ci % 3 ? res : NULL;
  char name[160];
  for (int s = 0; s < n; s++)
    for (int o = 0; o < out; o++) {
      double v = bp ? bp[o] : 0.0;
      for (int i = 0; i < in; i++)
        v += (double)x[(int64_t)s * in + i] * w[(int64_t)o * in + i];
      if (rp)
        v += rp[(int64_t)s * out + o];
      ref[(int64_t)s * out + o] = act_ref(act, a, bb, v);
    }
  rt_linear(n, in, out, x, w, bp, rp, y, act, a, bb);
  snprintf(name, sizeof name, "linear#%d n%d %d->%d %s%s %s", ci, n, in, out, bp ? "+b" : "", rp ? "+res" : "",
           act_names[act]);
  check(name, y, ref, (int64_t)n * out);
  free(x), free(w), free(b), free(res), free(y), free(ref);
}

/* ------------------------------------------------------------- pooling */

/* PyTorch's pooling output size (pads as declared; ceil_mode rule: the last
 * window must start inside the input or the left padding). */
static int pool_out(int L, int k, int s, int d, int p0, int p1, int ceil_mode) {
  int num = L + p0 + p1 - d * (k - 1) - 1;
  if (!ceil_mode)
    return num / s + 1;
  int o = (num + s - 1) / s + 1;
  if ((o - 1) * s >= L + p0)
    o--;
  return o;
}

/* kind 0 max, 1 avg (PyTorch cpu_avg_pool formula, d = 1), 2 lppool (PyTorch lp_pool2d) */
static void pool_ref(const RtPool *p, int n, const float *x, double *y, int kind) {
  for (int64_t pl = 0; pl < (int64_t)n * p->C; pl++)
    for (int oh = 0; oh < p->OH; oh++)
      for (int ow = 0; ow < p->OW; ow++) {
        const float *xp = x + pl * p->H * p->W;
        double r;
        if (kind == 0) {
          r = -INFINITY;
          for (int i = 0; i < p->kh; i++)
            for (int j = 0; j < p->kw; j++) {
              int ih = oh * p->sh - p->pt + i * p->dh, iw = ow * p->sw - p->pl + j * p->dw;
              if (ih >= 0 && ih < p->H && iw >= 0 && iw < p->W &&
                  (xp[ih * p->W + iw] > r || isnan(xp[ih * p->W + iw]))) /* NaN sticks, as in torch */
                r = xp[ih * p->W + iw];
            }
        } else {
          int h0 = oh * p->sh - p->pt, w0 = ow * p->sw - p->pl;
          int h1 = h0 + p->kh < p->H + p->pb ? h0 + p->kh : p->H + p->pb;
          int w1 = w0 + p->kw < p->W + p->pr ? w0 + p->kw : p->W + p->pr;
          int pool_size = (h1 - h0) * (w1 - w0);
          h0 = h0 < 0 ? 0 : h0, w0 = w0 < 0 ? 0 : w0;
          h1 = h1 < p->H ? h1 : p->H, w1 = w1 < p->W ? w1 : p->W;
          double s = 0;
          for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
              s += kind == 1 ? xp[ih * p->W + iw] : pow(xp[ih * p->W + iw], p->norm);
          if (kind == 1)
            r = s / (p->count_include_pad ? pool_size : (h1 - h0) * (w1 - w0));
          else
            r = pow(s / pool_size * (p->kh * p->kw), 1.0 / p->norm);
        }
        y[(pl * p->OH + oh) * p->OW + ow] = r;
      }
}

static int pool_nan_every; /* > 0: every pool_nan_every-th input is NaN */

static void pool_test(int kind, int n, int C, int H, int W, int kh, int kw, int sh, int sw, int dh, int dw, int pt,
                      int pl, int pb, int pr, int ceil_mode, int cip, float norm) {
  static const char *kinds[] = {"maxpool2d", "avgpool2d", "lppool2d"};
  RtPool p;
  memset(&p, 0, sizeof p);
  p.C = C, p.H = H, p.W = W, p.kh = kh, p.kw = kw, p.sh = sh, p.sw = sw, p.dh = dh, p.dw = dw;
  p.pt = pt, p.pl = pl, p.pb = pb, p.pr = pr, p.count_include_pad = cip, p.norm = norm;
  p.OH = pool_out(H, kh, sh, dh, pt, pb, ceil_mode);
  p.OW = pool_out(W, kw, sw, dw, pl, pr, ceil_mode);
  int64_t xn = (int64_t)n * C * H * W, yn = (int64_t)n * C * p.OH * p.OW;
  /* lppool with an odd p: positive inputs keep PyTorch's pow() real */
  float *x = kind == 2 && norm != 2.0f && norm != 1.0f ? rnd(xn, 0.05f, 1) : rnd(xn, -1, 1);
  float *y = nanbuf(yn);
  double *ref = dbuf(yn);
  char name[160];
  for (int64_t i = 0; pool_nan_every > 0 && i < xn; i += pool_nan_every)
    x[i] = NAN;
  pool_ref(&p, n, x, ref, kind);
  if (kind == 0)
    rt_maxpool2d(&p, n, x, y);
  else if (kind == 1)
    rt_avgpool2d(&p, n, x, y);
  else
    rt_lppool2d(&p, n, x, y);
  snprintf(name, sizeof name, "%s %dx%d->%dx%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d%s%s", kinds[kind], H, W, p.OH, p.OW,
           kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, ceil_mode ? " ceil" : "",
           kind == 1 ? (cip ? " cip" : " nocip") : "");
  if (kind == 2)
    snprintf(name + strlen(name), sizeof name - strlen(name), " p=%g", norm);
  check(name, y, ref, yn);
  free(x), free(y), free(ref);
}

static void adaptive_test(int n, int C, int H, int W, int OH, int OW) {
  int64_t yn = (int64_t)n * C * OH * OW;
  float *x = rnd((int64_t)n * C * H * W, -1, 1), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  char name[160];
  for (int64_t pl = 0; pl < (int64_t)n * C; pl++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        int hs = (int)floor((double)oh * H / OH), he = (int)ceil((double)(oh + 1) * H / OH);
        int ws = (int)floor((double)ow * W / OW), we = (int)ceil((double)(ow + 1) * W / OW);
        double s = 0;
        for (int i = hs; i < he; i++)
          for (int j = ws; j < we; j++)
            s += x[(pl * H + i) * W + j];
        ref[(pl * OH + oh) * OW + ow] = s / ((he - hs) * (we - ws));
      }
  rt_adaptive_avgpool2d(n, C, H, W, OH, OW, x, y);
  snprintf(name, sizeof name, "adaptive_avgpool2d %dx%d->%dx%d", H, W, OH, OW);
  check(name, y, ref, yn);
  free(x), free(y), free(ref);
}

static void mean_test(int64_t outer, int64_t red, int64_t inner, int global) {
  float *x = rnd(outer * red * inner, -1, 2), *y = nanbuf(outer * inner);
  double *ref = dbuf(outer * inner);
  char name[160];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double s = 0;
      for (int64_t r = 0; r < red; r++)
        s += x[(o * red + r) * inner + i];
      ref[o * inner + i] = s / red;
    }
  if (global)
    rt_global_avgpool(1, (int)outer, (int)red, x, y);
  else
    rt_reduce_mean(outer, red, inner, x, y);
  snprintf(name, sizeof name, "%s (%lld,%lld,%lld)", global ? "global_avgpool" : "reduce_mean", (long long)outer,
           (long long)red, (long long)inner);
  check(name, y, ref, outer * inner);
  free(x), free(y), free(ref);
}

/* -------------------------------------------------------- elementwise */

static void unary_tests(void) {
  const int64_t count = 1037;
  float *x = rnd(count, -6, 6), *y = nanbuf(count);
  double *ref = dbuf(count);
  char name[96];
  x[0] = 0.0f, x[1] = -3.0f, x[2] = 3.0f; /* kinks of relu/hardswish/hardsigmoid */
  for (int act = 0; act < NACT; act++) {
    float a, b;
    act_params(act, &a, &b);
    for (int64_t i = 0; i < count; i++)
      ref[i] = act_ref(act, a, b, x[i]);
    rt_unary(act, a, b, count, x, y);
    snprintf(name, sizeof name, "unary %s", act_names[act]);
    check(name, y, ref, count);
    memcpy(y, x, (size_t)count * sizeof(float));
    rt_unary(act, a, b, count, y, y);
    snprintf(name, sizeof name, "unary %s in-place", act_names[act]);
    check(name, y, ref, count);
  }
  free(x), free(y), free(ref);
}

static void prelu_test(int n, int C, int HW, int nw) {
  int64_t cnt = (int64_t)n * C * HW;
  float *x = rnd(cnt, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *y = nanbuf(cnt);
  double *ref = dbuf(cnt);
  char name[96];
  for (int64_t i = 0; i < cnt; i++) {
    double s = nw == 1 ? w[0] : w[i / HW % C];
    ref[i] = x[i] >= 0 ? x[i] : s * x[i];
  }
  rt_prelu(n, C, HW, x, w, nw, y);
  snprintf(name, sizeof name, "prelu n%d C%d HW%d nw%d", n, C, HW, nw);
  check(name, y, ref, cnt);
  free(x), free(w), free(y), free(ref);
}

static void batchnorm_test(int n, int C, int HW, int affine) {
  int64_t cnt = (int64_t)n * C * HW;
  float *x = rnd(cnt, -2, 2), *w = rnd(C, 0.5f, 1.5f), *b = rnd(C, -1, 1);
  float *mean = rnd(C, -1, 1), *var = rnd(C, 0.1f, 2), *y = nanbuf(cnt);
  double *ref = dbuf(cnt);
  const float eps = 1e-5f;
  char name[96];
  for (int64_t i = 0; i < cnt; i++) {
    int c = (int)(i / HW % C);
    double v = (x[i] - (double)mean[c]) / sqrt((double)var[c] + eps);
    ref[i] = affine ? v * w[c] + b[c] : v;
  }
  rt_batchnorm(n, C, HW, x, affine ? w : NULL, affine ? b : NULL, mean, var, eps, y);
  snprintf(name, sizeof name, "batchnorm n%d C%d HW%d%s", n, C, HW, affine ? " affine" : "");
  check(name, y, ref, cnt);
  memcpy(y, x, (size_t)cnt * sizeof(float));
  rt_batchnorm(n, C, HW, y, affine ? w : NULL, affine ? b : NULL, mean, var, eps, y);
  snprintf(name, sizeof name, "batchnorm n%d C%d HW%d%s in-place", n, C, HW, affine ? " affine" : "");
  check(name, y, ref, cnt);
  free(x), free(w), free(b), free(mean), free(var), free(y), free(ref);
}

static void layernorm_test(int n, int M, int affine, float offset) {
  int64_t cnt = (int64_t)n * M;
  float *x = rnd(cnt, offset - 1, offset + 1), *w = rnd(M, 0.5f, 1.5f), *b = rnd(M, -1, 1);
  float *y = nanbuf(cnt);
  double *ref = dbuf(cnt);
  const float eps = 1e-5f;
  char name[96];
  for (int s = 0; s < n; s++) {
    double m = 0, v = 0;
    for (int i = 0; i < M; i++)
      m += x[(int64_t)s * M + i];
    m /= M;
    for (int i = 0; i < M; i++)
      v += (x[(int64_t)s * M + i] - m) * (x[(int64_t)s * M + i] - m);
    v /= M;
    for (int i = 0; i < M; i++) {
      double t = (x[(int64_t)s * M + i] - m) / sqrt(v + eps);
      ref[(int64_t)s * M + i] = affine ? t * w[i] + b[i] : t;
    }
  }
  rt_layernorm(n, M, x, affine ? w : NULL, affine ? b : NULL, eps, y);
  snprintf(name, sizeof name, "layernorm n%d M%d%s offset %g", n, M, affine ? " affine" : "", offset);
  check(name, y, ref, cnt);
  free(x), free(w), free(b), free(y), free(ref);
}

static void groupnorm_test(int n, int C, int HW, int G, int affine) {
  int64_t cnt = (int64_t)n * C * HW;
  int Cg = C / G;
  float *x = rnd(cnt, -2, 3), *w = rnd(C, 0.5f, 1.5f), *b = rnd(C, -1, 1), *y = nanbuf(cnt);
  double *ref = dbuf(cnt);
  const float eps = 1e-5f;
  char name[96];
  for (int s = 0; s < n; s++)
    for (int g = 0; g < G; g++) {
      const float *xg = x + ((int64_t)s * C + g * Cg) * HW;
      int64_t m_cnt = (int64_t)Cg * HW;
      double m = 0, v = 0;
      for (int64_t i = 0; i < m_cnt; i++)
        m += xg[i];
      m /= m_cnt;
      for (int64_t i = 0; i < m_cnt; i++)
        v += (xg[i] - m) * (xg[i] - m);
      v /= m_cnt;
      for (int64_t i = 0; i < m_cnt; i++) {
        int c = g * Cg + (int)(i / HW);
        double t = (xg[i] - m) / sqrt(v + eps);
        ref[((int64_t)s * C + g * Cg) * HW + i] = affine ? t * w[c] + b[c] : t;
      }
    }
  rt_groupnorm(n, C, HW, G, x, affine ? w : NULL, affine ? b : NULL, eps, y);
  snprintf(name, sizeof name, "groupnorm n%d C%d HW%d G%d%s", n, C, HW, G, affine ? " affine" : "");
  check(name, y, ref, cnt);
  free(x), free(w), free(b), free(y), free(ref);
}

static void maxout_test(int n, int C, int HW, int pieces) {
  int Co = C / pieces;
  int64_t yn = (int64_t)n * Co * HW;
  float *x = rnd((int64_t)n * C * HW, -1, 1), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  char name[96];
  for (int s = 0; s < n; s++)
    for (int c = 0; c < Co; c++)
      for (int i = 0; i < HW; i++) {
        double m = -INFINITY;
        for (int k = 0; k < pieces; k++) {
          double v = x[((int64_t)s * C + k * Co + c) * HW + i];
          m = v > m ? v : m;
        }
        ref[((int64_t)s * Co + c) * HW + i] = m;
      }
  rt_maxout(n, C, HW, pieces, x, y);
  snprintf(name, sizeof name, "maxout n%d C%d HW%d pieces%d", n, C, HW, pieces);
  check(name, y, ref, yn);
  free(x), free(y), free(ref);
}

static void softmax_test(int64_t outer, int dim, int64_t inner, int take_log, float scale) {
  int64_t cnt = outer * dim * inner;
  float *x = rnd(cnt, -scale, scale), *y = nanbuf(cnt);
  double *ref = dbuf(cnt);
  char name[96];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double m = -INFINITY, s = 0;
      for (int d = 0; d < dim; d++)
        m = fmax(m, x[(o * dim + d) * inner + i]);
      for (int d = 0; d < dim; d++)
        s += exp(x[(o * dim + d) * inner + i] - m);
      for (int d = 0; d < dim; d++) {
        double v = x[(o * dim + d) * inner + i];
        ref[(o * dim + d) * inner + i] = take_log ? v - m - log(s) : exp(v - m) / s;
      }
    }
  rt_softmax(outer, dim, inner, x, y, take_log);
  snprintf(name, sizeof name, "%s (%lld,%d,%lld) scale %g", take_log ? "log_softmax" : "softmax", (long long)outer, dim,
           (long long)inner, scale);
  check(name, y, ref, cnt);
  memcpy(y, x, (size_t)cnt * sizeof(float));
  rt_softmax(outer, dim, inner, y, y, take_log);
  snprintf(name + strlen(name), sizeof name - strlen(name), " in-place");
  check(name, y, ref, cnt);
  free(x), free(y), free(ref);
}

static double bin_ref(int op, double u, double v) {
  switch (op) {
  case RT_BIN_MUL: return u * v;
  case RT_BIN_SUB: return u - v;
  case RT_BIN_DIV: return u / v;
  default: return u + v;
  }
}

/* a and b of rank `rank` (dims 1 where broadcast); y gets the broadcast shape. */
static void binary_test(int op, int rank, const int64_t *ad, const int64_t *bd, int act) {
  static const char *ops[] = {"add", "mul", "sub", "div"};
  int64_t yd[8], as[8], bs[8], an = 1, bn = 1, yn = 1;
  float a_, b_;
  char name[160];
  for (int d = 0; d < rank; d++) {
    yd[d] = ad[d] > bd[d] ? ad[d] : bd[d];
    an *= ad[d], bn *= bd[d], yn *= yd[d];
  }
  for (int d = rank - 1, sa = 1, sb = 1; d >= 0; d--) {
    as[d] = ad[d] == 1 ? 0 : sa;
    bs[d] = bd[d] == 1 ? 0 : sb;
    sa *= (int)ad[d], sb *= (int)bd[d];
  }
  act_params(act, &a_, &b_);
  float *a = rnd(an, -2, 2), *b = rnd(bn, 0.5f, 2), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  for (int64_t i = 0; i < yn; i++) {
    int64_t rem = i, ao = 0, bo = 0;
    for (int d = rank - 1; d >= 0; d--) {
      int64_t idx = rem % yd[d];
      rem /= yd[d];
      ao += idx * as[d], bo += idx * bs[d];
    }
    ref[i] = act_ref(act, a_, b_, bin_ref(op, a[ao], b[bo]));
  }
  rt_binary(op, rank, yd, as, bs, a, b, y, act, a_, b_);
  snprintf(name, sizeof name, "binary %s rank%d %s a(", ops[op], rank, act_names[act]);
  for (int d = 0; d < rank; d++)
    snprintf(name + strlen(name), sizeof name - strlen(name), "%s%lld", d ? "," : "", (long long)ad[d]);
  snprintf(name + strlen(name), sizeof name - strlen(name), ") b(");
  for (int d = 0; d < rank; d++)
    snprintf(name + strlen(name), sizeof name - strlen(name), "%s%lld", d ? "," : "", (long long)bd[d]);
  snprintf(name + strlen(name), sizeof name - strlen(name), ")");
  check(name, y, ref, yn);
  free(a), free(b), free(y), free(ref);
}

static void binary_same_test(int op, int64_t count, int act) {
  static const char *ops[] = {"add", "mul", "sub", "div"};
  float a_, b_;
  act_params(act, &a_, &b_);
  float *a = rnd(count, -2, 2), *b = rnd(count, 0.5f, 2), *y = nanbuf(count);
  double *ref = dbuf(count);
  char name[96];
  for (int64_t i = 0; i < count; i++)
    ref[i] = act_ref(act, a_, b_, bin_ref(op, a[i], b[i]));
  rt_binary_same(op, count, a, b, y, act, a_, b_);
  snprintf(name, sizeof name, "binary_same %s n%lld %s", ops[op], (long long)count, act_names[act]);
  check(name, y, ref, count);
  memcpy(y, a, (size_t)count * sizeof(float));
  rt_binary_same(op, count, y, b, y, act, a_, b_);
  snprintf(name + strlen(name), sizeof name - strlen(name), " in-place");
  check(name, y, ref, count);
  free(a), free(b), free(y), free(ref);
}

/* ----------------------------------------------------------------- layout */

static void concat_test(void) {
  /* concat (2,3,4,5) and (2,2,4,5) along channels through two copy_slice calls */
  const int64_t outer = 2, ia = 3 * 20, ib = 2 * 20, iy = ia + ib;
  float *a = rnd(outer * ia, -1, 1), *b = rnd(outer * ib, -1, 1), *y = nanbuf(outer * iy);
  double *ref = dbuf(outer * iy);
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < ia; i++)
      ref[o * iy + i] = a[o * ia + i];
    for (int64_t i = 0; i < ib; i++)
      ref[o * iy + ia + i] = b[o * ib + i];
  }
  rt_copy_slice(outer, ia, iy, 0, a, y);
  rt_copy_slice(outer, ib, iy, ia, b, y);
  check("copy_slice concat (2,3+2,4,5)", y, ref, outer * iy);
  free(a), free(b), free(y), free(ref);
}

static void upsample_test(int n, int C, int H, int W, int fh, int fw) {
  int64_t yn = (int64_t)n * C * H * fh * W * fw;
  float *x = rnd((int64_t)n * C * H * W, -1, 1), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  char name[96];
  for (int64_t pl = 0; pl < (int64_t)n * C; pl++)
    for (int oh = 0; oh < H * fh; oh++)
      for (int ow = 0; ow < W * fw; ow++)
        ref[(pl * H * fh + oh) * W * fw + ow] = x[(pl * H + oh / fh) * W + ow / fw];
  rt_upsample_nearest(n, C, H, W, fh, fw, x, y);
  snprintf(name, sizeof name, "upsample_nearest %dx%d x(%d,%d)", H, W, fh, fw);
  check(name, y, ref, yn);
  free(x), free(y), free(ref);
}

/* ONNX Pad: reflect = numpy 'reflect' (edge not repeated), edge = 'edge' */
static int pad_src(int i, int L, int mode) {
  if (mode == 2)
    return i < 0 ? 0 : (i >= L ? L - 1 : i);
  if (L == 1)
    return 0;
  while (i < 0 || i >= L)
    i = i < 0 ? -i : 2 * (L - 1) - i;
  return i;
}

static void pad_test(int n, int C, int H, int W, int pt, int pl, int pb, int pr, int mode) {
  static const char *modes[] = {"constant", "reflect", "edge"};
  int OH = H + pt + pb, OW = W + pl + pr;
  int64_t yn = (int64_t)n * C * OH * OW;
  float *x = rnd((int64_t)n * C * H * W, -1, 1), *y = nanbuf(yn);
  double *ref = dbuf(yn);
  const float value = 0.25f;
  char name[96];
  for (int64_t pln = 0; pln < (int64_t)n * C; pln++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        int ih = oh - pt, iw = ow - pl;
        double v;
        if (mode == 0)
          v = ih < 0 || ih >= H || iw < 0 || iw >= W ? value : x[(pln * H + ih) * W + iw];
        else
          v = x[(pln * H + pad_src(ih, H, mode)) * W + pad_src(iw, W, mode)];
        ref[(pln * OH + oh) * OW + ow] = v;
      }
  rt_pad2d(n, C, H, W, pt, pl, pb, pr, mode, value, x, y);
  snprintf(name, sizeof name, "pad2d %s %dx%d pads %d,%d,%d,%d", modes[mode], H, W, pt, pl, pb, pr);
  check(name, y, ref, yn);
  free(x), free(y), free(ref);
}

static void transpose_test(int rank, const int64_t *xd, const int *perm) {
  int64_t n = 1, xs[8], yd[8];
  char name[96];
  for (int d = rank - 1; d >= 0; d--) {
    xs[d] = n;
    n *= xd[d];
  }
  for (int d = 0; d < rank; d++)
    yd[d] = xd[perm[d]];
  float *x = rnd(n, -1, 1), *y = nanbuf(n);
  double *ref = dbuf(n);
  for (int64_t i = 0; i < n; i++) {
    int64_t rem = i, xo = 0;
    for (int d = rank - 1; d >= 0; d--) {
      xo += rem % yd[d] * xs[perm[d]];
      rem /= yd[d];
    }
    ref[i] = x[xo];
  }
  rt_transpose(rank, xd, perm, x, y);
  snprintf(name, sizeof name, "transpose rank%d perm", rank);
  for (int d = 0; d < rank; d++)
    snprintf(name + strlen(name), sizeof name - strlen(name), " %d", perm[d]);
  check(name, y, ref, n);
  free(x), free(y), free(ref);
}

/* ----------------------------------------------------------- threading */

#ifdef _OPENMP
static void same_bits(const char *what, const float *a, const float *b, int64_t count) {
  int ok = memcmp(a, b, (size_t)count * sizeof(float)) == 0;
  printf("%s %-58s 1 vs 2 threads bitwise\n", ok ? "ok  " : "FAIL", what);
  nchecks++;
  if (!ok)
    nfail++;
}

static void thread_tests(void) {
  RtConv p;
  memset(&p, 0, sizeof p);
  p.C = 32, p.H = 15, p.W = 17, p.K = 40, p.kh = 3, p.kw = 3, p.sh = 1, p.sw = 1, p.dh = 1, p.dw = 1;
  p.pt = 1, p.pl = 1, p.groups = 1, p.OH = 15, p.OW = 17, p.act = RT_ACT_RELU;
  int64_t xn = 2 * 32 * 15 * 17, yn = 2 * 40 * 15 * 17;
  float *x = rnd(xn, -1, 1), *w = rnd(40 * 32 * 9, -1, 1), *b = rnd(40, -1, 1);
  float *y1 = nanbuf(yn), *y2 = nanbuf(yn);
  int algos[] = {RT_ALGO_DIRECT, RT_ALGO_IM2COL};
  for (int a = 0; a < 2; a++) {
    p.algo = algos[a];
    void *scratch = xmalloc(rt_conv2d_scratch(&p) + 1);
    omp_set_num_threads(1);
    rt_conv2d(&p, 2, x, w, b, NULL, y1, scratch);
    omp_set_num_threads(2);
    rt_conv2d(&p, 2, x, w, b, NULL, y2, scratch);
    same_bits(a ? "conv2d im2col" : "conv2d direct", y1, y2, yn);
    free(scratch);
  }
  {
    float *lw = rnd(70 * 300, -1, 1), *lb = rnd(70, -1, 1);
    omp_set_num_threads(1);
    rt_linear(3, 300, 70, x, lw, lb, NULL, y1, RT_ACT_NONE, 0, 0);
    omp_set_num_threads(2);
    rt_linear(3, 300, 70, x, lw, lb, NULL, y2, RT_ACT_NONE, 0, 0);
    same_bits("linear", y1, y2, 3 * 70);
    free(lw), free(lb);
  }
  omp_set_num_threads(1);
  rt_softmax(4, 30, 100, x, y1, 0);
  omp_set_num_threads(2);
  rt_softmax(4, 30, 100, x, y2, 0);
  same_bits("softmax", y1, y2, 4 * 30 * 100);
  free(x), free(w), free(b), free(y1), free(y2);
}
#endif

int main(void) {
  int ci = 0;

  for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++)
    conv_test((int)i, &conv_cases[i]);

  /* ci, n, C, H, W, K, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, output_padding h/w, groups, act */
  convt_test(ci++, 1, 4, 5, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, RT_ACT_NONE);
  convt_test(ci++, 2, 6, 4, 4, 4, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 2, RT_ACT_RELU);
  convt_test(ci++, 1, 3, 5, 5, 5, 3, 3, 1, 1, 2, 2, 0, 0, 0, 0, 0, 0, 1, RT_ACT_TANH);
  convt_test(ci++, 1, 4, 3, 7, 6, 2, 3, 3, 2, 1, 2, 0, 1, 0, 1, 2, 1, 2, RT_ACT_LEAKY);
  convt_test(ci++, 1, 8, 6, 6, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 8, RT_ACT_GELU);
  convt_test(ci++, 1, 2, 1, 9, 3, 1, 4, 1, 3, 1, 1, 0, 2, 0, 1, 0, 2, 1, RT_ACT_CLIP);
  /* wide enough for the GEMM + col2im form: U-Net up-sampling, batch 3, output_padding, groups 2 */
  convt_test(ci++, 1, 32, 16, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, RT_ACT_RELU);
  convt_test(ci++, 3, 16, 7, 9, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, RT_ACT_NONE);
  convt_test(ci++, 2, 16, 5, 6, 12, 3, 4, 2, 3, 2, 1, 1, 2, 0, 1, 1, 2, 2, RT_ACT_SIGMOID);
  /* kernel == stride (the tiled 1x1-GEMM form): 2x2 over 16-column vector
   * pieces and a tail, with and without bias; 3x3/3; 2x1 */
  convt_test(ci++, 2, 24, 5, 37, 16, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, RT_ACT_RELU);
  convt_test(ci++, 2, 24, 5, 37, 16, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, RT_ACT_NONE);
  convt_test(ci++, 1, 8, 4, 5, 6, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0, 0, 0, 1, RT_ACT_LEAKY);
  convt_test(ci++, 1, 12, 6, 17, 5, 2, 1, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, RT_ACT_TANH);
  /* strided, kernel > stride, >= 32 input columns (the sub-pixel form: one
   * direct conv per output phase): 3x3/2 pad 1 + output padding (U-Net),
   * 4x4/2 pad 1 (DCGAN), 5x5/3 pad 4 (a negative left padding: GEMM + col2im;
   * top only: phases start the input rows later), 3x2/(2,1),
   * output padding past the kernel's reach */
  convt_test(ci++, 2, 16, 9, 32, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, RT_ACT_RELU);
  convt_test(ci++, 1, 8, 5, 40, 6, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, RT_ACT_NONE);
  convt_test(ci++, 1, 6, 7, 33, 5, 5, 5, 3, 3, 1, 1, 4, 4, 4, 4, 2, 1, 1, RT_ACT_LEAKY); /* falls back */
  convt_test(ci++, 2, 6, 7, 33, 5, 5, 5, 3, 3, 1, 1, 4, 1, 4, 1, 2, 1, 1, RT_ACT_RELU);
  convt_test(ci++, 1, 5, 4, 35, 7, 3, 2, 2, 1, 1, 1, 0, 1, 2, 0, 1, 0, 1, RT_ACT_SIGMOID);
  convt_test(ci++, 1, 4, 3, 32, 3, 2, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, 1, 1, RT_ACT_NONE);

  ci = 0;
  linear_test(ci++, 1, 7, 3);
  linear_test(ci++, 3, 37, 10);
  linear_test(ci++, 2, 256, 13);
  linear_test(ci++, 5, 16, 4);
  linear_test(ci++, 1, 1, 1);
  linear_test(ci++, 4, 500, 9);
  linear_test(ci++, 1, 400, 123); /* batch 1: the matrix-vector path, rows not a multiple of 8 */
  linear_test(ci++, 1, 512, 1000);
  for (int act = 0; act < NACT; act++)
    linear_test(act, 2, 19, 6);

  /* kind, n, C, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, ceil, count_include_pad, norm */
  for (int kind = 0; kind < 2; kind++)
    for (int cip = 0; cip < 2; cip++) {
      if (kind == 0 && cip)
        continue;
      pool_test(kind, 2, 3, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, cip, 0);
      pool_test(kind, 1, 2, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, cip, 0);
      pool_test(kind, 1, 2, 6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, cip, 0);
      pool_test(kind, 1, 2, 5, 8, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1, cip, 0);
      pool_test(kind, 1, 2, 10, 9, 3, 2, 3, 2, 1, 1, 1, 1, 1, 1, 1, cip, 0);
      pool_test(kind, 1, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1, 0, cip, 0);
      pool_test(kind, 1, 2, 9, 8, 3, 3, 2, 2, 1, 1, 1, 0, 0, 1, 1, cip, 0);
      pool_test(kind, 1, 3, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, cip, 0);
      pool_test(kind, 1, 2, 1, 21, 1, 4, 1, 3, 1, 1, 0, 2, 0, 2, 1, cip, 0);
      pool_test(kind, 1, 2, 11, 11, 5, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1, cip, 0);
      /* last ceil window covers 1 input row, 1 pad row and 1 row past the padding */
      pool_test(kind, 2, 2, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, cip, 0);
      pool_test(kind, 1, 1, 6, 9, 3, 4, 2, 3, 1, 1, 1, 0, 1, 2, 1, cip, 0);
      pool_test(kind, 1, 2, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, cip, 0);  /* no interior column */
      pool_test(kind, 1, 2, 4, 40, 2, 3, 2, 2, 1, 1, 0, 1, 0, 1, 1, cip, 0); /* long interior run */
    }
  /* max pooling on real sizes: several vectors per row, several row blocks per plane */
  pool_test(0, 1, 3, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0);   /* GoogLeNet branch pool */
  pool_test(0, 2, 2, 112, 112, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0); /* stem pool, ceil */
  pool_test(0, 1, 2, 55, 61, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0);
  pool_test(0, 1, 2, 33, 47, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0);
  pool_test(0, 1, 2, 20, 37, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0);
  pool_test(0, 1, 2, 17, 19, 5, 4, 1, 2, 1, 1, 2, 1, 2, 2, 1, 0, 0);
  pool_test(0, 1, 1, 3, 600, 2, 3, 1, 2, 1, 1, 0, 1, 0, 1, 0, 0, 0);   /* wider than the separable buffers */
  /* the vertical-first path: stride 2 with 5 taps and pad 2 (two-lane shift), one tap, stride 2 down only */
  pool_test(0, 1, 2, 23, 41, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 1, 0, 0);
  pool_test(0, 1, 2, 9, 20, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0);
  pool_test(0, 1, 2, 14, 35, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0);
  pool_test(0, 1, 3, 14, 14, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0);  /* GoogLeNet's last pool, 7x7 out */
  pool_nan_every = 37; /* NaN propagation through every max path */
  pool_test(0, 1, 3, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0);
  pool_test(0, 1, 2, 55, 61, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0);
  pool_test(0, 1, 2, 10, 9, 3, 2, 2, 2, 2, 3, 1, 1, 1, 1, 1, 0, 0);
  pool_test(0, 1, 2, 10, 9, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0);
  pool_nan_every = 0;
  pool_test(0, 1, 2, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0, 0, 0); /* dilated max */
  pool_test(0, 1, 2, 10, 9, 3, 2, 2, 2, 2, 3, 1, 1, 1, 1, 1, 0, 0);
  pool_test(2, 1, 2, 6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 2.0f);
  pool_test(2, 1, 2, 7, 7, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 2.0f); /* ceil: partial windows */
  pool_test(2, 1, 2, 8, 7, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 3.0f);
  pool_test(2, 1, 2, 7, 7, 3, 2, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1.0f);

  adaptive_test(1, 2, 7, 7, 3, 3);
  adaptive_test(2, 3, 10, 9, 4, 5);
  adaptive_test(1, 2, 5, 5, 5, 5);
  adaptive_test(1, 2, 6, 8, 1, 1);
  adaptive_test(1, 2, 3, 3, 5, 4);
  mean_test(6, 49, 1, 1);
  mean_test(5, 3136, 1, 1);
  mean_test(2, 1, 1, 1);
  mean_test(3, 17, 1, 0);
  mean_test(2, 5, 7, 0);
  mean_test(1, 100, 33, 0);

  unary_tests();
  prelu_test(2, 3, 10, 1);
  prelu_test(2, 5, 7, 5);
  batchnorm_test(2, 3, 17, 1);
  batchnorm_test(1, 4, 9, 0);
  layernorm_test(2, 300, 1, 0.0f);
  layernorm_test(3, 17, 0, 0.0f);
  layernorm_test(1, 70001, 1, 5.0f);
  groupnorm_test(2, 6, 10, 3, 1);
  groupnorm_test(2, 6, 10, 1, 0);
  groupnorm_test(1, 5, 33, 5, 1);
  groupnorm_test(1, 4, 9, 4, 0);
  maxout_test(2, 6, 5, 3);
  maxout_test(1, 8, 7, 2);
  for (int lg = 0; lg < 2; lg++) {
    softmax_test(3, 10, 1, lg, 5.0f);
    softmax_test(2, 5, 100, lg, 5.0f);
    softmax_test(2, 7, 3, lg, 30.0f);
    softmax_test(1, 1000, 1, lg, 50.0f);
  }

  {
    const int64_t a1[] = {2, 3, 4, 5}, b1[] = {1, 3, 1, 1};
    const int64_t a2[] = {1, 1, 4, 1}, b2[] = {2, 3, 1, 5};
    const int64_t a3[] = {7}, b3[] = {1};
    const int64_t a4[] = {2, 3, 6}, b4[] = {2, 3, 6};
    const int64_t a5[] = {3, 1, 5}, b5[] = {1, 4, 1};
    const int64_t a6[] = {2, 3, 4, 5}, b6[] = {1, 1, 4, 5};
    for (int op = 0; op < 4; op++) {
      binary_test(op, 4, a1, b1, (op * 3) % NACT);
      binary_test(op, 4, a2, b2, RT_ACT_NONE);
      binary_test(op, 1, a3, b3, RT_ACT_RELU);
      binary_test(op, 1, b3, a3, RT_ACT_NONE);
      binary_test(op, 3, a4, b4, RT_ACT_SIGMOID);
      binary_test(op, 3, a5, b5, RT_ACT_NONE);
      binary_test(op, 4, a6, b6, RT_ACT_CLIP);
      binary_test(op, 0, a3, b3, RT_ACT_NONE);
      binary_same_test(op, 10000, (op * 5) % NACT);
      binary_same_test(op, 13, RT_ACT_RELU);
    }
  }

  concat_test();
  upsample_test(1, 2, 3, 4, 2, 3);
  upsample_test(2, 1, 5, 1, 1, 4);
  for (int mode = 0; mode < 3; mode++) {
    pad_test(1, 2, 5, 6, 1, 2, 3, 0, mode);
    pad_test(2, 1, 4, 4, 2, 2, 2, 2, mode);
    pad_test(1, 2, 6, 5, -1, 1, 0, -2, mode);
    pad_test(1, 1, 3, 3, 4, 5, 4, 5, mode); /* pads past the mirror: numpy repeats */
  }
  pad_test(1, 1, 1, 4, 2, 1, 1, 2, 1);

  {
    const int64_t d4[] = {2, 3, 4, 5}, d3[] = {3, 7, 2}, d2[] = {9, 13};
    const int p4a[] = {0, 2, 3, 1}, p4b[] = {0, 1, 2, 3}, p4c[] = {3, 1, 0, 2};
    const int p3[] = {2, 0, 1}, p2[] = {1, 0};
    transpose_test(4, d4, p4a);
    transpose_test(4, d4, p4b);
    transpose_test(4, d4, p4c);
    transpose_test(3, d3, p3);
    transpose_test(2, d2, p2);
    {
      const float x0 = 3.5f;
      float y0 = NAN;
      double r0 = 3.5;
      rt_transpose(0, d2, p2, &x0, &y0);
      check("transpose rank0", &y0, &r0, 1);
    }
  }

#ifdef _OPENMP
  thread_tests();
#endif

  printf("%d checks, %d failed\n", nchecks, nfail);
  return nfail ? 1 : 0;
}
