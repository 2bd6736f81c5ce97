/* unit_train_kernels.c - every backward kernel against float64 finite differences.
 *
 * For each kernel the test holds a plain float64 reference of the FORWARD,
 * written from the PyTorch definition and independently of the runtime's
 * loops.  One generic harness (grad_check) then:
 *  1. runs the float forward kernel against the reference (so the reference
 *     is known to be the function the kernel computes);
 *  2. draws a random cotangent dy and differentiates L = sum(dy * f(x)) by
 *     central differences of the float64 reference, for every input element
 *     (or a random subset of MAXFD elements of a large tensor);
 *  3. runs the float backward kernel into gradient buffers pre-filled with a
 *     random "earlier" gradient and compares the increment with the finite
 *     differences: max|diff| <= 1e-4 * max|ref| per tensor (+1e-6);
 *  4. calls the backward again and checks the increment doubled (+=
 *     semantics), calls it with every other gradient pointer NULL and checks
 *     the result is bit-identical, and under OpenMP checks 1 thread and many
 *     threads give identical bits.
 * Points where the forward is not differentiable (ties, kinks, bounds) and
 * the non-gradient contracts (running statistics, dropout masks, loss "="
 * semantics) get exact checks of their own.  Every result line is printed
 * before the verdict; a table of max errors per kernel closes the run.
 * Exit status: 0 when every check passes, 1 otherwise.
 */
#include "../runtime/cnnc_rt.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { MAXIN = 3, MAXFD = 240, MAXROWS = 2000 };

static int nchecks, nfail;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

/* xorshift64*: the same inputs on every platform */
static double urand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (double)((rng * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0;
}

static void *xmalloc(size_t n) {
  void *p = calloc(n ? n : 1, 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

static float *rnd(int64_t count, float lo, float hi) {
  float *p = xmalloc((size_t)count * sizeof(float));
  for (int64_t i = 0; i < count; i++)
    p[i] = lo + (float)urand() * (hi - lo);
  return p;
}

static float *fzeros(int64_t count) {
  return xmalloc((size_t)count * sizeof(float));
}
static double *dzeros(int64_t count) {
  return xmalloc((size_t)count * sizeof(double));
}

static float *nanbuf(int64_t count) {
  float *p = fzeros(count);
  for (int64_t i = 0; i < count; i++)
    p[i] = NAN;
  return p;
}

/* ------------------------------------------------------------ reporting */

typedef struct {
  char kernel[64], tensor[24];
  long long n;
  double maxdiff, maxref, tol;
  int ok;
} Row;
static Row rows[MAXROWS];
static int nrows;

static void record(const char *kernel, const char *tensor, int64_t n, double maxdiff, double maxref, double tol) {
  const int ok = maxdiff <= tol; /* NaN fails */
  printf("%s %-44s %-8s n=%-6lld max|diff|=%-10.3g max|ref|=%-10.3g rel=%-10.3g tol=%.3g\n", ok ? "ok  " : "FAIL",
         kernel, tensor, (long long)n, maxdiff, maxref, maxref > 0 ? maxdiff / maxref : maxdiff, tol);
  nchecks++;
  if (!ok)
    nfail++;
  if (nrows < MAXROWS) {
    Row *r = &rows[nrows++];
    snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
    snprintf(r->tensor, sizeof r->tensor, "%s", tensor);
    r->n = (long long)n;
    r->maxdiff = maxdiff;
    r->maxref = maxref;
    r->tol = tol;
    r->ok = ok;
  }
}

/* An exact (or near-exact) expectation on individual values. */
static void expect(const char *what, int cond) {
  printf("%s %s\n", cond ? "ok  " : "FAIL", what);
  nchecks++;
  if (!cond)
    nfail++;
}

/* ------------------------------------------------------------ the harness */

typedef struct GradCase {
  char name[64];
  const void *ctx;
  int nin;
  const char *inname[MAXIN];
  int64_t insz[MAXIN];
  float lo[MAXIN], hi[MAXIN];
  int nodiff[MAXIN]; /* an input the kernel gives no gradient for */
  int64_t ysz;
  void (*ref)(const void *ctx, double *const *in, double *y);
  void (*fwd)(const void *ctx, float *const *in, float *y);
  void (*bwd)(const void *ctx, float *const *in, const float *dy, float *const *din);
} GradCase;

/* Gradient buffers: a copy of `src` for each input that takes a gradient,
 * NULL otherwise (or for every input but `only` when only >= 0). */
static void grad_bufs(const GradCase *gc, float *const *src, int only, float **out) {
  for (int k = 0; k < MAXIN; k++) {
    out[k] = NULL;
    if (k >= gc->nin || gc->nodiff[k] || (only >= 0 && k != only))
      continue;
    out[k] = fzeros(gc->insz[k]);
    if (src)
      memcpy(out[k], src[k], (size_t)gc->insz[k] * sizeof(float));
  }
}

static void free_bufs(float **b) {
  for (int k = 0; k < MAXIN; k++)
    free(b[k]);
}

static int same_bits(const float *a, const float *b, int64_t n) {
  return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* equal up to float rounding of a final multiply-add */
static int near_equal(const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!(fabsf(a[i] - b[i]) <= 1e-6f * (fabsf(b[i]) + 1.0f)))
      return 0;
  return 1;
}

static void grad_check(const GradCase *gc) {
  float *xf[MAXIN] = {0}, *prior[MAXIN] = {0}, *din[MAXIN], *din2[MAXIN], *zfull[MAXIN];
  double *xd[MAXIN] = {0};
  double *yd = dzeros(gc->ysz), *yp = dzeros(gc->ysz), *ym = dzeros(gc->ysz);
  float *yf = nanbuf(gc->ysz), *dy;
  char label[160];
  int k;

  /* 1. forward kernel vs the float64 reference */
  for (k = 0; k < gc->nin; k++) {
    xf[k] = rnd(gc->insz[k], gc->lo[k], gc->hi[k]);
    xd[k] = dzeros(gc->insz[k]);
    for (int64_t i = 0; i < gc->insz[k]; i++)
      xd[k][i] = xf[k][i];
  }
  gc->ref(gc->ctx, xd, yd);
  gc->fwd(gc->ctx, xf, yf);
  {
    double md = 0, mr = 0;
    for (int64_t i = 0; i < gc->ysz; i++) {
      const double d = fabs((double)yf[i] - yd[i]);
      md = d > md || d != d ? d : md;
      mr = fabs(yd[i]) > mr ? fabs(yd[i]) : mr;
    }
    snprintf(label, sizeof label, "%s", gc->name);
    record(label, "fwd", gc->ysz, md, mr, 1e-5 * (mr > 1 ? mr : 1));
  }

  /* 2./3. finite differences of the reference vs the backward increment */
  dy = rnd(gc->ysz, -1.0f, 1.0f);
  for (k = 0; k < gc->nin; k++)
    prior[k] = rnd(gc->insz[k], -0.5f, 0.5f);
  grad_bufs(gc, prior, -1, din);
  gc->bwd(gc->ctx, xf, dy, din);
  for (k = 0; k < gc->nin; k++) {
    const int64_t n = gc->insz[k];
    const int64_t m = n <= MAXFD ? n : MAXFD;
    double md = 0, mr = 0;
    if (gc->nodiff[k])
      continue;
    for (int64_t s = 0; s < m; s++) {
      const int64_t i = n <= MAXFD ? s : (int64_t)(urand() * (double)n);
      const double save = xd[k][i], h = 1e-6 * (fabs(save) > 1 ? fabs(save) : 1.0);
      double fd = 0, got, d;
      xd[k][i] = save + h;
      gc->ref(gc->ctx, xd, yp);
      xd[k][i] = save - h;
      gc->ref(gc->ctx, xd, ym);
      xd[k][i] = save;
      for (int64_t j = 0; j < gc->ysz; j++)
        fd += (double)dy[j] * (yp[j] - ym[j]);
      fd /= 2 * h;
      got = (double)din[k][i] - prior[k][i];
      d = fabs(got - fd);
      md = d > md || d != d ? d : md;
      mr = fabs(fd) > mr ? fabs(fd) : mr;
    }
    snprintf(label, sizeof label, "%s", gc->name);
    record(label, gc->inname[k], m, md, mr, 1e-4 * mr + 1e-6);
  }

  /* 4a. accumulation: a second call adds the same gradient again */
  grad_bufs(gc, din, -1, din2);
  gc->bwd(gc->ctx, xf, dy, din2);
  {
    double md = 0, mg = 0;
    for (k = 0; k < gc->nin; k++) {
      if (!din2[k])
        continue;
      for (int64_t i = 0; i < gc->insz[k]; i++) {
        const double g = (double)din[k][i] - prior[k][i];
        const double d = fabs(((double)din2[k][i] - prior[k][i]) - 2 * g);
        md = d > md || d != d ? d : md;
        mg = fabs(2 * g) > mg ? fabs(2 * g) : mg;
      }
    }
    record(gc->name, "accum", 0, md, mg, 1e-5 * mg + 1e-6);
  }

  /* 4b. NULL gradients elsewhere change nothing; 4c. thread count */
  grad_bufs(gc, NULL, -1, zfull);
  gc->bwd(gc->ctx, xf, dy, zfull);
  {
    int same = 1;
    for (k = 0; k < gc->nin; k++) {
      float *one[MAXIN];
      if (!zfull[k])
        continue;
      grad_bufs(gc, NULL, k, one);
      gc->bwd(gc->ctx, xf, dy, one);
      same &= same_bits(one[k], zfull[k], gc->insz[k]);
      free_bufs(one);
    }
    snprintf(label, sizeof label, "%s: NULL grads elsewhere, same bits", gc->name);
    expect(label, same);
  }
#ifdef _OPENMP
  {
    float *z1[MAXIN];
    int same = 1, nt = omp_get_max_threads();
    grad_bufs(gc, NULL, -1, z1);
    omp_set_num_threads(1);
    gc->bwd(gc->ctx, xf, dy, z1);
    omp_set_num_threads(nt < 3 ? 3 : nt);
    for (k = 0; k < gc->nin; k++)
      if (z1[k])
        same &= same_bits(z1[k], zfull[k], gc->insz[k]);
    omp_set_num_threads(nt);
    snprintf(label, sizeof label, "%s: 1 thread == %d threads", gc->name, nt < 3 ? 3 : nt);
    expect(label, same);
    free_bufs(z1);
  }
#endif
  free_bufs(din);
  free_bufs(din2);
  free_bufs(zfull);
  for (k = 0; k < gc->nin; k++) {
    free(xf[k]);
    free(xd[k]);
    free(prior[k]);
  }
  free(yd);
  free(yp);
  free(ym);
  free(yf);
  free(dy);
}

/* ------------------------------------------------------------ conv */

typedef struct {
  RtConv p;
  int n;
} ConvCtx;

static void conv_ref(const void *vc, double *const *in, double *y) {
  const ConvCtx *c = vc;
  const RtConv *p = &c->p;
  const int Cg = p->C / p->groups, Kg = p->K / p->groups;
  for (int ni = 0; ni < c->n; ni++)
    for (int k = 0; k < p->K; k++)
      for (int oh = 0; oh < p->OH; oh++)
        for (int ow = 0; ow < p->OW; ow++) {
          double s = in[2][k];
          for (int ci = 0; ci < Cg; ci++)
            for (int i = 0; i < p->kh; i++)
              for (int j = 0; j < p->kw; j++) {
                const int ih = oh * p->sh - p->pt + i * p->dh, iw = ow * p->sw - p->pl + j * p->dw;
                if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W)
                  continue;
                s += in[0][(((int64_t)ni * p->C + k / Kg * Cg + ci) * p->H + ih) * p->W + iw] *
                     in[1][(((int64_t)k * Cg + ci) * p->kh + i) * p->kw + j];
              }
          y[(((int64_t)ni * p->K + k) * p->OH + oh) * p->OW + ow] = s;
        }
}
static void conv_fwd(const void *vc, float *const *in, float *y) {
  const ConvCtx *c = vc;
  rt_conv2d(&c->p, c->n, in[0], in[1], in[2], NULL, y, NULL);
}
static void conv_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const ConvCtx *c = vc;
  rt_conv2d_bwd(&c->p, c->n, in[0], in[1], dy, d[0], d[1], d[2]);
}

/* Transposed: y[k][ih*sh-pt+i*dh][iw*sw-pl+j*dw] += x[ci][ih][iw] w[ci][kl][i][j]. */
static void convt_ref(const void *vc, double *const *in, double *y) {
  const ConvCtx *c = vc;
  const RtConv *p = &c->p;
  const int Cg = p->C / p->groups, Kg = p->K / p->groups;
  for (int ni = 0; ni < c->n; ni++)
    for (int k = 0; k < p->K; k++)
      for (int o = 0; o < p->OH * p->OW; o++)
        y[((int64_t)ni * p->K + k) * p->OH * p->OW + o] = in[2][k];
  for (int ni = 0; ni < c->n; ni++)
    for (int ci = 0; ci < p->C; ci++)
      for (int ih = 0; ih < p->H; ih++)
        for (int iw = 0; iw < p->W; iw++)
          for (int kl = 0; kl < Kg; kl++)
            for (int i = 0; i < p->kh; i++)
              for (int j = 0; j < p->kw; j++) {
                const int oh = ih * p->sh - p->pt + i * p->dh, ow = iw * p->sw - p->pl + j * p->dw;
                const int k = ci / Cg * Kg + kl;
                if (oh < 0 || oh >= p->OH || ow < 0 || ow >= p->OW)
                  continue;
                y[(((int64_t)ni * p->K + k) * p->OH + oh) * p->OW + ow] +=
                    in[0][(((int64_t)ni * p->C + ci) * p->H + ih) * p->W + iw] *
                    in[1][(((int64_t)ci * Kg + kl) * p->kh + i) * p->kw + j];
              }
}
static void convt_fwd(const void *vc, float *const *in, float *y) {
  const ConvCtx *c = vc;
  rt_conv_transpose2d(&c->p, c->n, in[0], in[1], in[2], y);
}
static void convt_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const ConvCtx *c = vc;
  rt_conv_transpose2d_bwd(&c->p, c->n, in[0], in[1], dy, d[0], d[1], d[2]);
}

typedef struct {
  int n, C, H, W, K, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups, oph, opw;
  const char *what;
} ConvCase;

static const ConvCase conv_cases[] = {
    /* n  C  H  W  K kh kw sh sw dh dw pt pl pb pr g */
    {2, 3, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "3x3 same pad, batch 2"},
    {1, 4, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, "stride 2"},
    {1, 3, 9, 9, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 0, 0, "dilation 2"},
    {2, 6, 6, 7, 4, 3, 2, 1, 1, 1, 1, 1, 0, 2, 1, 2, 0, 0, "groups 2, asymmetric pads"},
    {1, 4, 7, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 0, 0, "depthwise"},
    {2, 3, 8, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 3, 0, 0, "depthwise x2, stride 2"},
    {2, 5, 4, 5, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, "1x1"},
    {1, 3, 1, 20, 4, 1, 5, 1, 2, 1, 2, 0, 3, 0, 4, 1, 0, 0, "1-D, stride 2, dilation 2"},
    {1, 2, 11, 10, 3, 3, 3, 3, 2, 2, 1, 0, 1, 2, 0, 1, 0, 0, "mixed stride/dilation"},
    {1, 2, 3, 3, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 0, 0, "kernel larger than input"},
    {1, 2, 8, 8, 3, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, "even kernel"},
    /* wide rows: the register-tiled dX path (interior tiles, overlapping last tile) */
    {1, 5, 3, 40, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "wide rows 3x3 (tiled dX)"},
    {1, 12, 2, 37, 4, 3, 5, 1, 1, 1, 2, 1, 3, 0, 5, 2, 0, 0, "wide, groups 2 (Cg=6: ragged block), dil 2"},
    {2, 3, 2, 33, 3, 1, 3, 1, 1, 1, 1, 0, 0, 0, 0, 3, 0, 0, "wide depthwise, no padding"},
    {1, 4, 1, 50, 3, 1, 7, 1, 1, 1, 1, 0, 6, 0, 0, 1, 0, 0, "wide 1-D causal k=7"},
    {1, 2, 2, 18, 2, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, "exactly one interior tile"},
};

/* Transposed cases: pt/pl are the padding, oph/opw the output padding. */
static const ConvCase convt_cases[] = {
    {2, 3, 4, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, "3x3 stride 1 pad 1"},
    {1, 4, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, "stride 2, output_padding 1"},
    {1, 4, 3, 5, 6, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 2, 0, 0, "4x4/2 groups 2"},
    {1, 3, 4, 4, 3, 3, 3, 1, 2, 2, 1, 0, 2, 0, 2, 3, 0, 1, "depthwise, dilation 2 on H"},
    {2, 2, 1, 9, 3, 1, 3, 1, 3, 1, 1, 0, 0, 0, 0, 1, 0, 2, "1-D stride 3"},
};

static void conv_setup(const ConvCase *cc, ConvCtx *c, int transposed) {
  RtConv *p = &c->p;
  memset(c, 0, sizeof *c);
  c->n = cc->n;
  p->C = cc->C, p->H = cc->H, p->W = cc->W, p->K = cc->K, p->kh = cc->kh, p->kw = cc->kw;
  p->sh = cc->sh, p->sw = cc->sw, p->dh = cc->dh, p->dw = cc->dw, p->pt = cc->pt, p->pl = cc->pl;
  p->groups = cc->groups;
  p->algo = RT_ALGO_DIRECT;
  if (!transposed) {
    p->OH = (cc->H + cc->pt + cc->pb - cc->dh * (cc->kh - 1) - 1) / cc->sh + 1;
    p->OW = (cc->W + cc->pl + cc->pr - cc->dw * (cc->kw - 1) - 1) / cc->sw + 1;
  } else {
    p->OH = (cc->H - 1) * cc->sh - cc->pt - cc->pb + cc->dh * (cc->kh - 1) + cc->oph + 1;
    p->OW = (cc->W - 1) * cc->sw - cc->pl - cc->pr + cc->dw * (cc->kw - 1) + cc->opw + 1;
  }
}

static void test_conv(void) {
  for (size_t ci = 0; ci < sizeof conv_cases / sizeof *conv_cases; ci++) {
    const ConvCase *cc = &conv_cases[ci];
    ConvCtx c;
    GradCase g;
    conv_setup(cc, &c, 0);
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "conv2d %s", cc->what);
    g.ctx = &c;
    g.nin = 3;
    g.inname[0] = "dx", g.inname[1] = "dw", g.inname[2] = "db";
    g.insz[0] = (int64_t)cc->n * cc->C * cc->H * cc->W;
    g.insz[1] = (int64_t)cc->K * (cc->C / cc->groups) * cc->kh * cc->kw;
    g.insz[2] = cc->K;
    for (int k = 0; k < 3; k++)
      g.lo[k] = -1, g.hi[k] = 1;
    g.ysz = (int64_t)cc->n * cc->K * c.p.OH * c.p.OW;
    g.ref = conv_ref, g.fwd = conv_fwd, g.bwd = conv_bwd;
    grad_check(&g);
  }
  for (size_t ci = 0; ci < sizeof convt_cases / sizeof *convt_cases; ci++) {
    const ConvCase *cc = &convt_cases[ci];
    ConvCtx c;
    GradCase g;
    conv_setup(cc, &c, 1);
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "conv_t2d %s", cc->what);
    g.ctx = &c;
    g.nin = 3;
    g.inname[0] = "dx", g.inname[1] = "dw", g.inname[2] = "db";
    g.insz[0] = (int64_t)cc->n * cc->C * cc->H * cc->W;
    g.insz[1] = (int64_t)cc->C * (cc->K / cc->groups) * cc->kh * cc->kw;
    g.insz[2] = cc->K;
    for (int k = 0; k < 3; k++)
      g.lo[k] = -1, g.hi[k] = 1;
    g.ysz = (int64_t)cc->n * cc->K * c.p.OH * c.p.OW;
    g.ref = convt_ref, g.fwd = convt_fwd, g.bwd = convt_bwd;
    grad_check(&g);
  }
}

/* ------------------------------------------------------------ linear */

typedef struct {
  int n, in, out;
} LinCtx;

static void lin_ref(const void *vc, double *const *in, double *y) {
  const LinCtx *c = vc;
  for (int s = 0; s < c->n; s++)
    for (int o = 0; o < c->out; o++) {
      double v = in[2][o];
      for (int i = 0; i < c->in; i++)
        v += in[0][s * c->in + i] * in[1][o * c->in + i];
      y[s * c->out + o] = v;
    }
}
static void lin_fwd(const void *vc, float *const *in, float *y) {
  const LinCtx *c = vc;
  rt_linear(c->n, c->in, c->out, in[0], in[1], in[2], NULL, y, RT_ACT_NONE, 0, 0);
}
static void lin_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const LinCtx *c = vc;
  rt_linear_bwd(c->n, c->in, c->out, in[0], in[1], dy, d[0], d[1], d[2]);
}

static void test_linear(void) {
  static const LinCtx cases[] = {{1, 7, 5}, {3, 20, 9}, {4, 33, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const LinCtx *c = &cases[i];
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "linear n=%d %d->%d", c->n, c->in, c->out);
    g.ctx = c;
    g.nin = 3;
    g.inname[0] = "dx", g.inname[1] = "dw", g.inname[2] = "db";
    g.insz[0] = (int64_t)c->n * c->in, g.insz[1] = (int64_t)c->out * c->in, g.insz[2] = c->out;
    for (int k = 0; k < 3; k++)
      g.lo[k] = -1, g.hi[k] = 1;
    g.ysz = (int64_t)c->n * c->out;
    g.ref = lin_ref, g.fwd = lin_fwd, g.bwd = lin_bwd;
    grad_check(&g);
  }
}

/* ------------------------------------------------------------ pooling */

typedef struct {
  RtPool p;
  int n, kind; /* 0 max, 1 avg, 2 lp */
} PoolCtx;

/* PyTorch's output size, ceil_mode's last window starting inside input+left pad. */
static int pool_out(int L, int k, int s, int d, int plo, int phi, int ceil_mode) {
  const int span = L + plo + phi - d * (k - 1) - 1;
  int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= L + plo)
    o--;
  return o;
}

static void pool_ref(const void *vc, double *const *in, double *y) {
  const PoolCtx *c = vc;
  const RtPool *p = &c->p;
  for (int pl = 0; pl < c->n * p->C; pl++)
    for (int oh = 0; oh < p->OH; oh++)
      for (int ow = 0; ow < p->OW; ow++) {
        double m = -INFINITY, s = 0;
        int nin = 0, npad = 0;
        for (int i = 0; i < p->kh; i++)
          for (int j = 0; j < p->kw; j++) {
            const int ih = oh * p->sh - p->pt + i * p->dh, iw = ow * p->sw - p->pl + j * p->dw;
            if (ih >= -p->pt && ih < p->H + p->pb && iw >= -p->pl && iw < p->W + p->pr)
              npad++;
            if (ih < 0 || ih >= p->H || iw < 0 || iw >= p->W)
              continue;
            const double v = in[0][((int64_t)pl * p->H + ih) * p->W + iw];
            m = v > m ? v : m;
            s += c->kind == 2 ? pow(v, p->norm) : v;
            nin++;
          }
        double r;
        if (c->kind == 0) {
          r = m;
        } else if (c->kind == 1) {
          const int cnt = p->count_include_pad ? npad : nin;
          r = cnt > 0 ? s / cnt : 0;
        } else {
          if (npad != p->kh * p->kw && npad > 0)
            s = s / npad * (p->kh * p->kw);
          r = pow(s, 1.0 / p->norm);
        }
        y[((int64_t)pl * p->OH + oh) * p->OW + ow] = r;
      }
}
static void pool_fwd(const void *vc, float *const *in, float *y) {
  const PoolCtx *c = vc;
  if (c->kind == 0)
    rt_maxpool2d(&c->p, c->n, in[0], y);
  else if (c->kind == 1)
    rt_avgpool2d(&c->p, c->n, in[0], y);
  else
    rt_lppool2d(&c->p, c->n, in[0], y);
}
static void pool_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const PoolCtx *c = vc;
  if (c->kind == 0) {
    rt_maxpool2d_bwd(&c->p, c->n, in[0], dy, d[0]);
  } else if (c->kind == 1) {
    rt_avgpool2d_bwd(&c->p, c->n, dy, d[0]);
  } else {
    float *y = fzeros((int64_t)c->n * c->p.C * c->p.OH * c->p.OW);
    rt_lppool2d(&c->p, c->n, in[0], y);
    rt_lppool2d_bwd(&c->p, c->n, in[0], y, dy, d[0]);
    free(y);
  }
}

typedef struct {
  int kind, n, C, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, ceil, cip;
  float norm, lo;
  const char *what;
} PoolCase;

static const PoolCase pool_cases[] = {
    /* kind n C H W kh kw sh sw dh dw pt pl pb pr ceil cip norm lo */
    {0, 2, 3, 8, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 1, 0, -1, "max 2x2/2"},
    {0, 1, 2, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 1, 0, -1, "max 3x3/2 pad 1 (overlap)"},
    {0, 1, 2, 7, 7, 3, 2, 2, 2, 1, 1, 1, 0, 1, 0, 1, 1, 0, -1, "max ceil_mode"},
    {0, 1, 2, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 0, 1, 0, -1, "max dilation 2"},
    {0, 1, 3, 1, 12, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, 0, 1, 0, -1, "max 1-D"},
    {1, 2, 3, 6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 1, 0, -1, "avg 2x2/2"},
    {1, 1, 2, 6, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 1, 0, -1, "avg pad 1 count_include_pad"},
    {1, 1, 2, 6, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, -1, "avg pad 1 exclude pad"},
    {1, 1, 2, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, -1, "avg ceil_mode include pad"},
    {1, 1, 2, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, -1, "avg ceil_mode exclude pad"},
    {1, 1, 2, 7, 7, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 0, -1, "avg ceil_mode no pad"},
    {1, 1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, -1, "avg 3x3/1 overlap"},
    {2, 1, 2, 6, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 1, 2, -1, "lp p=2"},
    {2, 1, 2, 6, 7, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 0, 1, 3, 0.1f, "lp p=3 (x > 0)"},
    {2, 1, 2, 7, 7, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 2, -1, "lp p=2 ceil_mode"},
    {2, 1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1.5f, 0.1f, "lp p=1.5 overlap (x > 0)"},
    {2, 1, 2, 5, 5, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0.1f, "lp p=1 (x > 0)"},
};

static void test_pool(void) {
  for (size_t ci = 0; ci < sizeof pool_cases / sizeof *pool_cases; ci++) {
    const PoolCase *pc = &pool_cases[ci];
    PoolCtx c;
    GradCase g;
    memset(&c, 0, sizeof c);
    c.n = pc->n, c.kind = pc->kind;
    c.p.C = pc->C, c.p.H = pc->H, c.p.W = pc->W, c.p.kh = pc->kh, c.p.kw = pc->kw;
    c.p.sh = pc->sh, c.p.sw = pc->sw, c.p.dh = pc->dh, c.p.dw = pc->dw;
    c.p.pt = pc->pt, c.p.pl = pc->pl, c.p.pb = pc->pb, c.p.pr = pc->pr;
    c.p.count_include_pad = pc->cip, c.p.norm = pc->norm;
    c.p.OH = pool_out(pc->H, pc->kh, pc->sh, pc->dh, pc->pt, pc->pb, pc->ceil);
    c.p.OW = pool_out(pc->W, pc->kw, pc->sw, pc->dw, pc->pl, pc->pr, pc->ceil);
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "pool %s", pc->what);
    g.ctx = &c;
    g.nin = 1;
    g.inname[0] = "dx";
    g.insz[0] = (int64_t)pc->n * pc->C * pc->H * pc->W;
    g.lo[0] = pc->lo, g.hi[0] = 1;
    g.ysz = (int64_t)pc->n * pc->C * c.p.OH * c.p.OW;
    g.ref = pool_ref, g.fwd = pool_fwd, g.bwd = pool_bwd;
    grad_check(&g);
  }
}

typedef struct {
  int n, C, H, W, OH, OW;
} AdaCtx;

static void ada_ref(const void *vc, double *const *in, double *y) {
  const AdaCtx *c = vc;
  for (int pl = 0; pl < c->n * c->C; pl++)
    for (int oh = 0; oh < c->OH; oh++)
      for (int ow = 0; ow < c->OW; ow++) {
        /* PyTorch: start = floor(i*L/O), end = ceil((i+1)*L/O) */
        const int hs = (int)floor((double)oh * c->H / c->OH), he = (int)ceil((double)(oh + 1) * c->H / c->OH);
        const int ws = (int)floor((double)ow * c->W / c->OW), we = (int)ceil((double)(ow + 1) * c->W / c->OW);
        double s = 0;
        for (int i = hs; i < he; i++)
          for (int j = ws; j < we; j++)
            s += in[0][((int64_t)pl * c->H + i) * c->W + j];
        y[((int64_t)pl * c->OH + oh) * c->OW + ow] = s / ((he - hs) * (we - ws));
      }
}
static void ada_fwd(const void *vc, float *const *in, float *y) {
  const AdaCtx *c = vc;
  rt_adaptive_avgpool2d(c->n, c->C, c->H, c->W, c->OH, c->OW, in[0], y);
}
static void ada_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const AdaCtx *c = vc;
  (void)in;
  rt_adaptive_avgpool2d_bwd(c->n, c->C, c->H, c->W, c->OH, c->OW, dy, d[0]);
}

typedef struct {
  int64_t outer, red, inner;
  int global; /* 1: call rt_global_avgpool(_bwd) with n = outer, C = 1, HW = red */
} MeanCtx;

static void mean_ref(const void *vc, double *const *in, double *y) {
  const MeanCtx *c = vc;
  for (int64_t o = 0; o < c->outer; o++)
    for (int64_t i = 0; i < c->inner; i++) {
      double s = 0;
      for (int64_t r = 0; r < c->red; r++)
        s += in[0][(o * c->red + r) * c->inner + i];
      y[o * c->inner + i] = s / (double)c->red;
    }
}
static void mean_fwd(const void *vc, float *const *in, float *y) {
  const MeanCtx *c = vc;
  if (c->global)
    rt_global_avgpool((int)c->outer, 1, (int)c->red, in[0], y);
  else
    rt_reduce_mean(c->outer, c->red, c->inner, in[0], y);
}
static void mean_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const MeanCtx *c = vc;
  (void)in;
  if (c->global)
    rt_global_avgpool_bwd((int)c->outer, 1, (int)c->red, dy, d[0]);
  else
    rt_reduce_mean_bwd(c->outer, c->red, c->inner, dy, d[0]);
}

static void test_adaptive_mean(void) {
  static const AdaCtx ada[] = {{2, 2, 7, 5, 3, 4}, {1, 3, 6, 6, 3, 3}, {1, 2, 5, 9, 5, 2}, {1, 1, 4, 4, 6, 5}};
  static const MeanCtx mean[] = {{6, 25, 1, 1}, {4, 5, 1, 0}, {3, 4, 6, 0}, {1, 7, 13, 0}};
  for (size_t i = 0; i < sizeof ada / sizeof *ada; i++) {
    const AdaCtx *c = &ada[i];
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "adaptive_avgpool %dx%d->%dx%d", c->H, c->W, c->OH, c->OW);
    g.ctx = c;
    g.nin = 1;
    g.inname[0] = "dx";
    g.insz[0] = (int64_t)c->n * c->C * c->H * c->W;
    g.lo[0] = -1, g.hi[0] = 1;
    g.ysz = (int64_t)c->n * c->C * c->OH * c->OW;
    g.ref = ada_ref, g.fwd = ada_fwd, g.bwd = ada_bwd;
    grad_check(&g);
  }
  for (size_t i = 0; i < sizeof mean / sizeof *mean; i++) {
    const MeanCtx *c = &mean[i];
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s (%lld,%lld,%lld)", c->global ? "global_avgpool" : "reduce_mean",
             (long long)c->outer, (long long)c->red, (long long)c->inner);
    g.ctx = c;
    g.nin = 1;
    g.inname[0] = "dx";
    g.insz[0] = c->outer * c->red * c->inner;
    g.lo[0] = -1, g.hi[0] = 1;
    g.ysz = c->outer * c->inner;
    g.ref = mean_ref, g.fwd = mean_fwd, g.bwd = mean_bwd;
    grad_check(&g);
  }
}

/* ------------------------------------------------------------ norms */

typedef struct {
  int kind; /* 0 batch, 1 layer, 2 group */
  int n, C, HW, G, affine;
  float eps;
} NormCtx;

/* Normalise `cnt` values at x[base + idx(t)] ... written per kind below. */
static void norm_ref(const void *vc, double *const *in, double *y) {
  const NormCtx *c = vc;
  const double *x = in[0], *w = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
  if (c->kind == 0) {
    const int64_t cnt = (int64_t)c->n * c->HW;
    for (int ch = 0; ch < c->C; ch++) {
      double m = 0, v = 0;
      for (int s = 0; s < c->n; s++)
        for (int i = 0; i < c->HW; i++)
          m += x[((int64_t)s * c->C + ch) * c->HW + i];
      m /= cnt;
      for (int s = 0; s < c->n; s++)
        for (int i = 0; i < c->HW; i++) {
          const double d = x[((int64_t)s * c->C + ch) * c->HW + i] - m;
          v += d * d;
        }
      v /= cnt;
      for (int s = 0; s < c->n; s++)
        for (int i = 0; i < c->HW; i++) {
          const int64_t o = ((int64_t)s * c->C + ch) * c->HW + i;
          y[o] = (x[o] - m) / sqrt(v + c->eps) * (w ? w[ch] : 1) + (b ? b[ch] : 0);
        }
    }
  } else {
    /* layer norm is group norm with one group whose affine is per element */
    const int G = c->kind == 1 ? 1 : c->G;
    const int64_t gsize = (int64_t)c->C * c->HW / G;
    for (int s = 0; s < c->n; s++)
      for (int g = 0; g < G; g++) {
        const int64_t base = ((int64_t)s * G + g) * gsize;
        double m = 0, v = 0;
        for (int64_t i = 0; i < gsize; i++)
          m += x[base + i];
        m /= gsize;
        for (int64_t i = 0; i < gsize; i++)
          v += (x[base + i] - m) * (x[base + i] - m);
        v /= gsize;
        for (int64_t i = 0; i < gsize; i++) {
          const int64_t e = g * gsize + i; /* element within the sample */
          const int64_t a = c->kind == 1 ? e : e / c->HW;
          y[base + i] = (x[base + i] - m) / sqrt(v + c->eps) * (w ? w[a] : 1) + (b ? b[a] : 0);
        }
      }
  }
}

static void norm_fwd(const void *vc, float *const *in, float *y) {
  const NormCtx *c = vc;
  const float *w = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
  if (c->kind == 0) {
    float *rm = fzeros(c->C), *rv = fzeros(c->C), *sm = fzeros(c->C), *si = fzeros(c->C);
    rt_batchnorm_train(c->n, c->C, c->HW, in[0], w, b, rm, rv, 0.1f, c->eps, y, sm, si);
    free(rm), free(rv), free(sm), free(si);
  } else if (c->kind == 1) {
    float *sm = fzeros(c->n), *si = fzeros(c->n);
    rt_layernorm_train(c->n, c->C * c->HW, in[0], w, b, c->eps, y, sm, si);
    free(sm), free(si);
  } else {
    float *sm = fzeros((int64_t)c->n * c->G), *si = fzeros((int64_t)c->n * c->G);
    rt_groupnorm_train(c->n, c->C, c->HW, c->G, in[0], w, b, c->eps, y, sm, si);
    free(sm), free(si);
  }
}

static void norm_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const NormCtx *c = vc;
  const float *w = c->affine ? in[1] : NULL, *b = c->affine ? in[2] : NULL;
  const int64_t count = (int64_t)c->n * c->C * c->HW;
  float *y = fzeros(count);
  float *dw = c->affine ? d[1] : NULL, *db = c->affine ? d[2] : NULL;
  if (c->kind == 0) {
    float *sm = fzeros(c->C), *si = fzeros(c->C);
    rt_batchnorm_train(c->n, c->C, c->HW, in[0], w, b, NULL, NULL, 0.1f, c->eps, y, sm, si);
    rt_batchnorm_bwd(c->n, c->C, c->HW, in[0], w, sm, si, dy, d[0], dw, db);
    free(sm), free(si);
  } else if (c->kind == 1) {
    float *sm = fzeros(c->n), *si = fzeros(c->n);
    rt_layernorm_train(c->n, c->C * c->HW, in[0], w, b, c->eps, y, sm, si);
    rt_layernorm_bwd(c->n, c->C * c->HW, in[0], w, sm, si, dy, d[0], dw, db);
    free(sm), free(si);
  } else {
    float *sm = fzeros((int64_t)c->n * c->G), *si = fzeros((int64_t)c->n * c->G);
    rt_groupnorm_train(c->n, c->C, c->HW, c->G, in[0], w, b, c->eps, y, sm, si);
    rt_groupnorm_bwd(c->n, c->C, c->HW, c->G, in[0], w, sm, si, dy, d[0], dw, db);
    free(sm), free(si);
  }
  free(y);
}

/* Running statistics of rt_batchnorm_train against PyTorch's rule. */
static void test_bn_running(void) {
  const int n = 3, C = 4, HW = 10;
  const float mom = 0.3f;
  float *x = rnd(n * C * HW, -2, 3), *y = fzeros(n * C * HW), *sm = fzeros(C), *si = fzeros(C);
  float rm[4] = {0.5f, -1, 0, 2}, rv[4] = {1, 2, 0.5f, 3};
  double md = 0;
  {
    double want_m[4], want_v[4], want_sm[4], want_si[4];
    for (int c = 0; c < C; c++) {
      double m = 0, v = 0;
      for (int s = 0; s < n; s++)
        for (int i = 0; i < HW; i++)
          m += x[(s * C + c) * HW + i];
      m /= n * HW;
      for (int s = 0; s < n; s++)
        for (int i = 0; i < HW; i++)
          v += (x[(s * C + c) * HW + i] - m) * (x[(s * C + c) * HW + i] - m);
      want_m[c] = (1 - (double)mom) * rm[c] + mom * m;
      want_v[c] = (1 - (double)mom) * rv[c] + mom * v / (n * HW - 1); /* unbiased */
      want_sm[c] = m;
      want_si[c] = 1 / sqrt(v / (n * HW) + 1e-5);
    }
    rt_batchnorm_train(n, C, HW, x, NULL, NULL, rm, rv, mom, 1e-5f, y, sm, si);
    for (int c = 0; c < C; c++) {
      md = fmax(md, fabs(rm[c] - want_m[c]) / fmax(1, fabs(want_m[c])));
      md = fmax(md, fabs(rv[c] - want_v[c]) / fmax(1, fabs(want_v[c])));
      md = fmax(md, fabs(sm[c] - want_sm[c]) / fmax(1, fabs(want_sm[c])));
      md = fmax(md, fabs(si[c] - want_si[c]) / fmax(1, fabs(want_si[c])));
    }
  }
  record("batchnorm_train running/saved stats", "stats", 4 * C, md, 1, 1e-6);
  /* the training forwards reproduce the inference kernels (the same float
   * statistics; only fma contraction may differ between two functions) */
  {
    float *y2 = fzeros(n * C * HW), *w = rnd(C * HW, 0.5f, 1.5f), *b = rnd(C * HW, -1, 1);
    float *msave = fzeros(n), *isave = fzeros(n), *gm = fzeros(n * 2), *gi = fzeros(n * 2);
    rt_layernorm_train(n, C * HW, x, w, b, 1e-5f, y, msave, isave);
    rt_layernorm(n, C * HW, x, w, b, 1e-5f, y2);
    expect("layernorm_train == rt_layernorm (1e-6)", near_equal(y, y2, n * C * HW));
    rt_groupnorm_train(n, C, HW, 2, x, w, b, 1e-5f, y, gm, gi);
    rt_groupnorm(n, C, HW, 2, x, w, b, 1e-5f, y2);
    expect("groupnorm_train == rt_groupnorm (1e-6)", near_equal(y, y2, n * C * HW));
    free(y2), free(w), free(b), free(msave), free(isave), free(gm), free(gi);
  }
  free(x), free(y), free(sm), free(si);
}

static void test_norms(void) {
  static const NormCtx cases[] = {
      {0, 3, 4, 6, 0, 1, 1e-5f},  {0, 5, 3, 1, 0, 1, 1e-5f}, {0, 4, 2, 5, 0, 0, 1e-3f}, {1, 3, 2, 6, 0, 1, 1e-5f},
      {1, 2, 1, 17, 0, 0, 1e-5f}, {2, 2, 6, 5, 3, 1, 1e-5f}, {2, 3, 4, 4, 4, 1, 1e-5f}, {2, 2, 4, 6, 1, 0, 1e-5f},
  };
  static const char *kinds[] = {"batchnorm_train", "layernorm", "groupnorm"};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const NormCtx *c = &cases[i];
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s n=%d C=%d HW=%d G=%d%s", kinds[c->kind], c->n, c->C, c->HW, c->G,
             c->affine ? "" : " no affine");
    g.ctx = c;
    g.nin = c->affine ? 3 : 1;
    g.inname[0] = "dx", g.inname[1] = "dw", g.inname[2] = "db";
    g.insz[0] = (int64_t)c->n * c->C * c->HW;
    g.insz[1] = g.insz[2] = c->kind == 1 ? (int64_t)c->C * c->HW : c->C;
    g.lo[0] = -2, g.hi[0] = 3;
    g.lo[1] = 0.5f, g.hi[1] = 1.5f;
    g.lo[2] = -1, g.hi[2] = 1;
    g.ysz = g.insz[0];
    g.ref = norm_ref, g.fwd = norm_fwd, g.bwd = norm_bwd;
    grad_check(&g);
  }
  test_bn_running();
}

/* ------------------------------------------------------------ pointwise */

static double act_ref(int act, double a, double b, double v) {
  switch (act) {
  case RT_ACT_RELU: return v > 0 ? v : 0;
  case RT_ACT_LEAKY: return v >= 0 ? v : a * v;
  case RT_ACT_CLIP: return v < a ? a : (v > b ? b : v);
  case RT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
  case RT_ACT_TANH: return tanh(v);
  case RT_ACT_HARDSWISH: {
    const double t = v / 6.0 + 0.5;
    return v * (t < 0 ? 0 : (t > 1 ? 1 : t));
  }
  case RT_ACT_ELU: return v > 0 ? v : a * (exp(v) - 1.0);
  case RT_ACT_SELU:
    return 1.0507009873554804934193349852946 * (v > 0 ? v : 1.6732632423543772848170429916717 * (exp(v) - 1.0));
  case RT_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
  case RT_ACT_HARDSIGMOID: {
    const double t = a * v + b;
    return t < 0 ? 0 : (t > 1 ? 1 : t);
  }
  default: return v;
  }
}

static const char *act_names[] = {"none",      "relu", "leaky", "clip", "sigmoid",     "tanh",
                                  "hardswish", "elu",  "selu",  "gelu", "hardsigmoid", "identity"};

typedef struct {
  int act;
  float a, b;
  int64_t count;
  int pass; /* 0: x and y, 1: x only, 2: y only */
} ActCtx;

static void act_refn(const void *vc, double *const *in, double *y) {
  const ActCtx *c = vc;
  for (int64_t i = 0; i < c->count; i++)
    y[i] = act_ref(c->act, c->a, c->b, in[0][i]);
}
static void act_fwd(const void *vc, float *const *in, float *y) {
  const ActCtx *c = vc;
  rt_unary(c->act, c->a, c->b, c->count, in[0], y);
}
static void act_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const ActCtx *c = vc;
  float *y = fzeros(c->count);
  rt_unary(c->act, c->a, c->b, c->count, in[0], y);
  rt_unary_bwd(c->act, c->a, c->b, c->count, c->pass == 2 ? NULL : in[0], c->pass == 1 ? NULL : y, dy, d[0]);
  free(y);
}

/* y-only backward is exact for these kinds (with a > 0 where a matters) */
static int act_y_only(int act) {
  return act == RT_ACT_RELU || act == RT_ACT_LEAKY || act == RT_ACT_SIGMOID || act == RT_ACT_TANH ||
         act == RT_ACT_ELU || act == RT_ACT_SELU || act == RT_ACT_NONE || act == RT_ACT_IDENTITY;
}

static void act_params(int act, float *a, float *b) {
  *a = *b = 0;
  if (act == RT_ACT_LEAKY)
    *a = 0.1f;
  else if (act == RT_ACT_CLIP)
    *a = -0.5f, *b = 0.75f;
  else if (act == RT_ACT_ELU)
    *a = 1.3f;
  else if (act == RT_ACT_HARDSIGMOID)
    *a = 0.2f, *b = 0.5f;
}

/* Exact values where the forward has a kink: torch's one-sided choices. */
static void test_act_kinks(void) {
  struct {
    int act;
    float a, b, x, want; /* dx for dy = 2 */
    const char *what;
  } k[] = {
      {RT_ACT_RELU, 0, 0, 0.0f, 0.0f, "relu'(0) = 0"},
      {RT_ACT_LEAKY, 0.1f, 0, 0.0f, 0.2f, "leaky'(0) = slope"},
      {RT_ACT_CLIP, -0.5f, 0.75f, -0.5f, 2.0f, "clip'(min) passes (torch.clamp)"},
      {RT_ACT_CLIP, -0.5f, 0.75f, 0.75f, 2.0f, "clip'(max) passes"},
      {RT_ACT_CLIP, -0.5f, 0.75f, 0.76f, 0.0f, "clip' above max = 0"},
      {RT_ACT_HARDSWISH, 0, 0, -3.0f, -1.0f, "hardswish'(-3) = -1/2"},
      {RT_ACT_HARDSWISH, 0, 0, 3.0f, 2.0f, "hardswish'(3) = 1 (torch's vectorized kernel)"},
      {RT_ACT_HARDSWISH, 0, 0, -3.5f, 0.0f, "hardswish'(-3.5) = 0"},
      {RT_ACT_HARDSIGMOID, 1.0f / 6.0f, 0.5f, 3.0f, 0.0f, "hardsigmoid'(3) = 0 (open bound)"},
      {RT_ACT_HARDSIGMOID, 1.0f / 6.0f, 0.5f, -3.0f, 0.0f, "hardsigmoid'(-3) = 0"},
      {RT_ACT_HARDSIGMOID, 1.0f / 6.0f, 0.5f, 0.0f, 2.0f / 6.0f, "hardsigmoid'(0) = 1/6"},
      {RT_ACT_ELU, 1.3f, 0, 0.0f, 2.6f, "elu'(0) = alpha"},
  };
  for (size_t i = 0; i < sizeof k / sizeof *k; i++) {
    float x = k[i].x, dy = 2.0f, dx = 0.0f;
    char label[96];
    rt_unary_bwd(k[i].act, k[i].a, k[i].b, 1, &x, NULL, &dy, &dx);
    snprintf(label, sizeof label, "%s (got %g want %g)", k[i].what, dx, k[i].want);
    expect(label, fabsf(dx - k[i].want) <= 1e-6f);
  }
  {
    float x = 0.0f, w = 0.25f, dy = 2.0f, dx = 0.0f, dw = 0.0f;
    rt_prelu_bwd(1, 1, 1, &x, &w, 1, &dy, &dx, &dw);
    expect("prelu at x == 0: dx = w*dy, dw += 0", dx == 0.5f && dw == 0.0f);
  }
}

static void test_pointwise(void) {
  for (int act = 0; act <= RT_ACT_IDENTITY; act++)
    for (int pass = 0; pass < 3; pass++) {
      ActCtx c;
      GradCase g;
      if (pass == 2 && !act_y_only(act))
        continue;
      c.act = act, c.count = 300 + act, c.pass = pass;
      act_params(act, &c.a, &c.b);
      memset(&g, 0, sizeof g);
      snprintf(g.name, sizeof g.name, "unary %s (%s)", act_names[act],
               pass == 0 ? "x, y" : (pass == 1 ? "x only" : "y only"));
      g.ctx = &c;
      g.nin = 1;
      g.inname[0] = "dx";
      g.insz[0] = c.count;
      g.lo[0] = -4.5f, g.hi[0] = 4.5f;
      g.ysz = c.count;
      g.ref = act_refn, g.fwd = act_fwd, g.bwd = act_bwd;
      grad_check(&g);
    }
  test_act_kinks();
}

typedef struct {
  int n, C, HW, nw;
} PreluCtx;

static void prelu_ref(const void *vc, double *const *in, double *y) {
  const PreluCtx *c = vc;
  for (int64_t t = 0; t < (int64_t)c->n * c->C; t++)
    for (int i = 0; i < c->HW; i++) {
      const double v = in[0][t * c->HW + i], s = in[1][c->nw == 1 ? 0 : t % c->C];
      y[t * c->HW + i] = v >= 0 ? v : s * v;
    }
}
static void prelu_fwd(const void *vc, float *const *in, float *y) {
  const PreluCtx *c = vc;
  rt_prelu(c->n, c->C, c->HW, in[0], in[1], c->nw, y);
}
static void prelu_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const PreluCtx *c = vc;
  rt_prelu_bwd(c->n, c->C, c->HW, in[0], in[1], c->nw, dy, d[0], d[1]);
}

typedef struct {
  int n, C, HW, pieces;
} MaxoutCtx;

static void maxout_ref(const void *vc, double *const *in, double *y) {
  const MaxoutCtx *c = vc;
  const int Co = c->C / c->pieces;
  for (int s = 0; s < c->n; s++)
    for (int o = 0; o < Co; o++)
      for (int i = 0; i < c->HW; i++) {
        double m = -INFINITY;
        for (int k = 0; k < c->pieces; k++) {
          const double v = in[0][((int64_t)s * c->C + k * Co + o) * c->HW + i];
          m = v > m ? v : m;
        }
        y[((int64_t)s * Co + o) * c->HW + i] = m;
      }
}
static void maxout_fwd(const void *vc, float *const *in, float *y) {
  const MaxoutCtx *c = vc;
  rt_maxout(c->n, c->C, c->HW, c->pieces, in[0], y);
}
static void maxout_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const MaxoutCtx *c = vc;
  rt_maxout_bwd(c->n, c->C, c->HW, c->pieces, in[0], dy, d[0]);
}

typedef struct {
  int64_t outer;
  int dim;
  int64_t inner;
  int log;
} SmCtx;

static void sm_ref(const void *vc, double *const *in, double *y) {
  const SmCtx *c = vc;
  for (int64_t o = 0; o < c->outer; o++)
    for (int64_t i = 0; i < c->inner; i++) {
      const double *x = in[0] + o * c->dim * c->inner + i;
      double m = -INFINITY, s = 0;
      for (int d = 0; d < c->dim; d++)
        m = x[d * c->inner] > m ? x[d * c->inner] : m;
      for (int d = 0; d < c->dim; d++)
        s += exp(x[d * c->inner] - m);
      for (int d = 0; d < c->dim; d++) {
        const double v = x[d * c->inner] - m;
        y[o * c->dim * c->inner + i + d * c->inner] = c->log ? v - log(s) : exp(v) / s;
      }
    }
}
static void sm_fwd(const void *vc, float *const *in, float *y) {
  const SmCtx *c = vc;
  rt_softmax(c->outer, c->dim, c->inner, in[0], y, c->log);
}
static void sm_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const SmCtx *c = vc;
  float *y = fzeros(c->outer * c->dim * c->inner);
  rt_softmax(c->outer, c->dim, c->inner, in[0], y, c->log);
  rt_softmax_bwd(c->outer, c->dim, c->inner, y, dy, d[0], c->log);
  free(y);
}

static void test_misc_pointwise(void) {
  static const PreluCtx pr[] = {{2, 3, 7, 3}, {2, 3, 7, 1}, {1, 5, 1, 5}};
  static const MaxoutCtx mo[] = {{2, 6, 5, 2}, {1, 9, 4, 3}, {2, 4, 3, 4}};
  static const SmCtx sm[] = {{3, 7, 1, 0}, {3, 7, 1, 1}, {2, 5, 9, 0}, {2, 5, 9, 1}, {1, 3, 70, 1}, {1, 4, 70, 0}};
  for (size_t i = 0; i < sizeof pr / sizeof *pr; i++) {
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "prelu n=%d C=%d HW=%d nw=%d", pr[i].n, pr[i].C, pr[i].HW, pr[i].nw);
    g.ctx = &pr[i];
    g.nin = 2;
    g.inname[0] = "dx", g.inname[1] = "dw";
    g.insz[0] = (int64_t)pr[i].n * pr[i].C * pr[i].HW, g.insz[1] = pr[i].nw;
    g.lo[0] = -1, g.hi[0] = 1, g.lo[1] = -0.5f, g.hi[1] = 0.5f;
    g.ysz = g.insz[0];
    g.ref = prelu_ref, g.fwd = prelu_fwd, g.bwd = prelu_bwd;
    grad_check(&g);
  }
  for (size_t i = 0; i < sizeof mo / sizeof *mo; i++) {
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "maxout n=%d C=%d HW=%d pieces=%d", mo[i].n, mo[i].C, mo[i].HW, mo[i].pieces);
    g.ctx = &mo[i];
    g.nin = 1;
    g.inname[0] = "dx";
    g.insz[0] = (int64_t)mo[i].n * mo[i].C * mo[i].HW;
    g.lo[0] = -1, g.hi[0] = 1;
    g.ysz = g.insz[0] / mo[i].pieces;
    g.ref = maxout_ref, g.fwd = maxout_fwd, g.bwd = maxout_bwd;
    grad_check(&g);
  }
  for (size_t i = 0; i < sizeof sm / sizeof *sm; i++) {
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s (%lld,%d,%lld)", sm[i].log ? "log_softmax" : "softmax", (long long)sm[i].outer,
             sm[i].dim, (long long)sm[i].inner);
    g.ctx = &sm[i];
    g.nin = 1;
    g.inname[0] = "dx";
    g.insz[0] = sm[i].outer * sm[i].dim * sm[i].inner;
    g.lo[0] = -3, g.hi[0] = 3;
    g.ysz = g.insz[0];
    g.ref = sm_ref, g.fwd = sm_fwd, g.bwd = sm_bwd;
    grad_check(&g);
  }
}

/* ------------------------------------------------------------ binary */

enum { BMAXR = 5 };
typedef struct {
  int op, rank;
  int64_t ydims[BMAXR], as[BMAXR], bs[BMAXR];
} BinCtx;

static void bin_ref(const void *vc, double *const *in, double *y) {
  const BinCtx *c = vc;
  int64_t total = 1;
  for (int d = 0; d < c->rank; d++)
    total *= c->ydims[d];
  for (int64_t t = 0; t < total; t++) {
    int64_t rem = t, ao = 0, bo = 0;
    for (int d = c->rank - 1; d >= 0; d--) {
      const int64_t k = rem % c->ydims[d];
      rem /= c->ydims[d];
      ao += k * c->as[d];
      bo += k * c->bs[d];
    }
    const double u = in[0][ao], v = in[1][bo];
    y[t] = c->op == RT_BIN_MUL ? u * v : c->op == RT_BIN_SUB ? u - v : c->op == RT_BIN_DIV ? u / v : u + v;
  }
}
static void bin_fwd(const void *vc, float *const *in, float *y) {
  const BinCtx *c = vc;
  rt_binary(c->op, c->rank, c->ydims, c->as, c->bs, in[0], in[1], y, RT_ACT_NONE, 0, 0);
}
static void bin_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const BinCtx *c = vc;
  rt_binary_bwd(c->op, c->rank, c->ydims, c->as, c->bs, in[0], in[1], dy, d[0], d[1]);
}

/* numpy broadcasting: contiguous strides of the operand's own shape, 0 where
 * it has 1 and y does not. */
static int64_t bin_strides(int rank, const int64_t *ydims, const int *odims, int64_t *st) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    st[d] = odims[d] == 1 && ydims[d] > 1 ? 0 : s;
    s *= odims[d];
  }
  return s;
}

static void test_binary(void) {
  static const struct {
    int rank, y[BMAXR], a[BMAXR], b[BMAXR];
  } shapes[] = {
      {4, {2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}}, /* same shape */
      {4, {2, 3, 4, 5}, {2, 3, 4, 5}, {1, 3, 1, 1}}, /* per-channel (bias) */
      {4, {2, 3, 4, 5}, {1, 3, 4, 1}, {2, 1, 1, 5}}, /* both broadcast, b over the last axis kept */
      {3, {3, 4, 6}, {3, 4, 6}, {1, 1, 1}},          /* scalar */
      {2, {5, 7}, {5, 1}, {1, 7}},                   /* outer product */
      {1, {9}, {9}, {1}},
      {5, {2, 1, 3, 2, 4}, {2, 1, 1, 2, 4}, {1, 1, 3, 1, 1}},
  };
  static const char *opn[] = {"add", "mul", "sub", "div"};
  for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
    for (int op = 0; op < 4; op++) {
      BinCtx c;
      GradCase g;
      int64_t ya = 1;
      memset(&c, 0, sizeof c);
      c.op = op, c.rank = shapes[si].rank;
      for (int d = 0; d < c.rank; d++)
        c.ydims[d] = shapes[si].y[d], ya *= c.ydims[d];
      memset(&g, 0, sizeof g);
      g.insz[0] = bin_strides(c.rank, c.ydims, shapes[si].a, c.as);
      g.insz[1] = bin_strides(c.rank, c.ydims, shapes[si].b, c.bs);
      snprintf(g.name, sizeof g.name, "binary %s shape#%d", opn[op], (int)si);
      g.ctx = &c;
      g.nin = 2;
      g.inname[0] = "da", g.inname[1] = "db";
      g.lo[0] = -1, g.hi[0] = 1;
      g.lo[1] = op == RT_BIN_DIV ? 0.5f : -1, g.hi[1] = op == RT_BIN_DIV ? 2.0f : 1;
      g.ysz = ya;
      g.ref = bin_ref, g.fwd = bin_fwd, g.bwd = bin_bwd;
      grad_check(&g);
    }
}

/* ------------------------------------------------------------ layout */

typedef struct {
  int kind; /* 0 copy_slice, 1 upsample, 2 pad, 3 transpose */
  int64_t outer, inner_x, inner_y, off;
  int n, C, H, W, fh, fw, pt, pl, pb, pr, mode;
  int rank;
  int64_t xdims[4];
  int perm[4];
} LayCtx;

static int64_t pad_src(int64_t i, int64_t L, int mode) {
  if (mode == 2)
    return i < 0 ? 0 : (i >= L ? L - 1 : i);
  /* reflect: bounce off both edges until inside */
  while (i < 0 || i >= L) {
    if (L == 1)
      return 0;
    i = i < 0 ? -i : 2 * (L - 1) - i;
  }
  return i;
}

static void lay_ref(const void *vc, double *const *in, double *y) {
  const LayCtx *c = vc;
  const double *x = in[0];
  if (c->kind == 0) {
    for (int64_t o = 0; o < c->outer; o++)
      for (int64_t i = 0; i < c->inner_y; i++)
        y[o * c->inner_y + i] = i >= c->off && i < c->off + c->inner_x ? x[o * c->inner_x + i - c->off] : 0;
  } else if (c->kind == 1) {
    const int OH = c->H * c->fh, OW = c->W * c->fw;
    for (int pl = 0; pl < c->n * c->C; pl++)
      for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++)
          y[((int64_t)pl * OH + i) * OW + j] = x[((int64_t)pl * c->H + i / c->fh) * c->W + j / c->fw];
  } else if (c->kind == 2) {
    const int OH = c->H + c->pt + c->pb, OW = c->W + c->pl + c->pr;
    for (int pl = 0; pl < c->n * c->C; pl++)
      for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++) {
          int64_t ih = i - c->pt, iw = j - c->pl;
          double v;
          if (c->mode == 0) {
            v = ih < 0 || ih >= c->H || iw < 0 || iw >= c->W ? 0.5 : x[((int64_t)pl * c->H + ih) * c->W + iw];
          } else {
            ih = pad_src(ih, c->H, c->mode);
            iw = pad_src(iw, c->W, c->mode);
            v = x[((int64_t)pl * c->H + ih) * c->W + iw];
          }
          y[((int64_t)pl * OH + i) * OW + j] = v;
        }
  } else {
    int64_t total = 1, xst[4];
    for (int d = 0; d < c->rank; d++)
      total *= c->xdims[d];
    xst[c->rank - 1] = 1;
    for (int d = c->rank - 2; d >= 0; d--)
      xst[d] = xst[d + 1] * c->xdims[d + 1];
    for (int64_t t = 0; t < total; t++) {
      int64_t rem = t, xo = 0;
      for (int d = c->rank - 1; d >= 0; d--) {
        const int64_t k = rem % c->xdims[c->perm[d]];
        rem /= c->xdims[c->perm[d]];
        xo += k * xst[c->perm[d]];
      }
      y[t] = x[xo];
    }
  }
}
static void lay_fwd(const void *vc, float *const *in, float *y) {
  const LayCtx *c = vc;
  if (c->kind == 0) {
    memset(y, 0, (size_t)(c->outer * c->inner_y) * sizeof(float));
    rt_copy_slice(c->outer, c->inner_x, c->inner_y, c->off, in[0], y);
  } else if (c->kind == 1) {
    rt_upsample_nearest(c->n, c->C, c->H, c->W, c->fh, c->fw, in[0], y);
  } else if (c->kind == 2) {
    rt_pad2d(c->n, c->C, c->H, c->W, c->pt, c->pl, c->pb, c->pr, c->mode, 0.5f, in[0], y);
  } else {
    rt_transpose(c->rank, c->xdims, c->perm, in[0], y);
  }
}
static void lay_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const LayCtx *c = vc;
  (void)in;
  if (c->kind == 0)
    rt_copy_slice_bwd(c->outer, c->inner_x, c->inner_y, c->off, dy, d[0]);
  else if (c->kind == 1)
    rt_upsample_nearest_bwd(c->n, c->C, c->H, c->W, c->fh, c->fw, dy, d[0]);
  else if (c->kind == 2)
    rt_pad2d_bwd(c->n, c->C, c->H, c->W, c->pt, c->pl, c->pb, c->pr, c->mode, dy, d[0]);
  else
    rt_transpose_bwd(c->rank, c->xdims, c->perm, dy, d[0]);
}

static void test_layout(void) {
  LayCtx cases[16];
  const char *names[16];
  int nc = 0;
  memset(cases, 0, sizeof cases);
  /* concat pieces */
  cases[nc].kind = 0, cases[nc].outer = 3, cases[nc].inner_x = 10, cases[nc].inner_y = 24, cases[nc].off = 7;
  names[nc++] = "copy_slice (concat piece)";
  cases[nc].kind = 0, cases[nc].outer = 2, cases[nc].inner_x = 5, cases[nc].inner_y = 5, cases[nc].off = 0;
  names[nc++] = "copy_slice (whole)";
  /* upsample */
  cases[nc].kind = 1, cases[nc].n = 2, cases[nc].C = 2, cases[nc].H = 3, cases[nc].W = 4, cases[nc].fh = 2,
  cases[nc].fw = 3;
  names[nc++] = "upsample_nearest 2x3";
  cases[nc].kind = 1, cases[nc].n = 1, cases[nc].C = 3, cases[nc].H = 1, cases[nc].W = 5, cases[nc].fh = 1,
  cases[nc].fw = 2;
  names[nc++] = "upsample_nearest 1-D x2";
  /* pads: constant (incl. a negative crop), reflect (incl. wrap), edge */
  {
    static const int pads[][6] = {
        {0, 1, 2, 0, 3, 0}, {0, -1, 1, 2, -2, 0}, {1, 2, 1, 1, 2, 0},
        {1, 3, 4, 2, 5, 1}, {2, 2, 0, 3, 1, 0},   {2, -1, 2, 1, 0, 0},
    };
    static const char *pn[] = {"pad constant", "pad constant negative (crop)",
                               "pad reflect",  "pad reflect beyond one period",
                               "pad edge",     "pad edge with crop"};
    for (int i = 0; i < 6; i++) {
      LayCtx *c = &cases[nc];
      c->kind = 2, c->n = 2, c->C = 2, c->H = 4, c->W = 3;
      c->mode = pads[i][0], c->pt = pads[i][1], c->pl = pads[i][2], c->pb = pads[i][3], c->pr = pads[i][4];
      names[nc++] = pn[i];
    }
  }
  /* transposes */
  {
    static const int64_t xd[][4] = {{2, 3, 4, 5}, {3, 4, 5, 1}, {6, 7, 1, 1}};
    static const int pm[][4] = {{0, 2, 3, 1}, {3, 1, 0, 2}, {1, 0, 0, 0}};
    static const int rk[] = {4, 4, 2};
    static const char *tn[] = {"transpose NCHW->NHWC", "transpose (3,1,0,2)", "transpose 2-D"};
    for (int i = 0; i < 3; i++) {
      LayCtx *c = &cases[nc];
      c->kind = 3, c->rank = rk[i];
      for (int d = 0; d < 4; d++)
        c->xdims[d] = xd[i][d], c->perm[d] = pm[i][d];
      names[nc++] = tn[i];
    }
  }
  for (int i = 0; i < nc; i++) {
    const LayCtx *c = &cases[i];
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s", names[i]);
    g.ctx = c;
    g.nin = 1;
    g.inname[0] = "dx";
    g.lo[0] = -1, g.hi[0] = 1;
    if (c->kind == 0) {
      g.insz[0] = c->outer * c->inner_x, g.ysz = c->outer * c->inner_y;
    } else if (c->kind == 1) {
      g.insz[0] = (int64_t)c->n * c->C * c->H * c->W, g.ysz = g.insz[0] * c->fh * c->fw;
    } else if (c->kind == 2) {
      g.insz[0] = (int64_t)c->n * c->C * c->H * c->W;
      g.ysz = (int64_t)c->n * c->C * (c->H + c->pt + c->pb) * (c->W + c->pl + c->pr);
    } else {
      g.insz[0] = 1;
      for (int d = 0; d < c->rank; d++)
        g.insz[0] *= c->xdims[d];
      g.ysz = g.insz[0];
    }
    g.ref = lay_ref, g.fwd = lay_fwd, g.bwd = lay_bwd;
    grad_check(&g);
  }
}

/* ------------------------------------------------------------ losses */

typedef struct {
  int kind; /* 0 cross entropy, 1 nll, 2 mse, 3 l1 */
  int n, C;
  const int32_t *target;
  const float *t; /* regression target */
} LossCtx;

static void loss_ref(const void *vc, double *const *in, double *y) {
  const LossCtx *c = vc;
  const double *x = in[0];
  double s = 0;
  if (c->kind <= 1) {
    for (int i = 0; i < c->n; i++) {
      const double *z = x + (int64_t)i * c->C;
      if (c->kind == 0) {
        double m = -INFINITY, e = 0;
        for (int k = 0; k < c->C; k++)
          m = z[k] > m ? z[k] : m;
        for (int k = 0; k < c->C; k++)
          e += exp(z[k] - m);
        s += m + log(e) - z[c->target[i]];
      } else {
        s -= z[c->target[i]];
      }
    }
    y[0] = s / c->n;
  } else {
    const int64_t cnt = (int64_t)c->n * c->C;
    for (int64_t i = 0; i < cnt; i++)
      s += c->kind == 2 ? (x[i] - c->t[i]) * (x[i] - c->t[i]) : fabs(x[i] - c->t[i]);
    y[0] = s / cnt;
  }
}
static float loss_call(const LossCtx *c, const float *x, float *dx) {
  switch (c->kind) {
  case 0: return rt_loss_cross_entropy(c->n, c->C, x, c->target, dx);
  case 1: return rt_loss_nll(c->n, c->C, x, c->target, dx);
  case 2: return rt_loss_mse((int64_t)c->n * c->C, x, c->t, dx);
  default: return rt_loss_l1((int64_t)c->n * c->C, x, c->t, dx);
  }
}
static void loss_fwd(const void *vc, float *const *in, float *y) {
  y[0] = loss_call(vc, in[0], NULL);
}
/* the loss assigns its gradient; the harness wants +=, so add it in here */
static void loss_bwd(const void *vc, float *const *in, const float *dy, float *const *d) {
  const LossCtx *c = vc;
  const int64_t cnt = (int64_t)c->n * c->C;
  float *g = fzeros(cnt);
  loss_call(c, in[0], g);
  for (int64_t i = 0; i < cnt; i++)
    d[0][i] += dy[0] * g[i];
  free(g);
}

static void test_losses(void) {
  static const int32_t tgt[] = {3, 0, 4, 1, 1, 2};
  float *t = rnd(6 * 5, -1, 1);
  static const char *kn[] = {"cross_entropy", "nll", "mse", "l1"};
  for (int kind = 0; kind < 4; kind++) {
    LossCtx c = {kind, 6, 5, tgt, t};
    GradCase g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "loss %s n=6 C=5", kn[kind]);
    g.ctx = &c;
    g.nin = 1;
    g.inname[0] = "dx";
    g.insz[0] = 30;
    g.lo[0] = -3, g.hi[0] = 3;
    g.ysz = 1;
    g.ref = loss_ref, g.fwd = loss_fwd, g.bwd = loss_bwd;
    grad_check(&g);
  }
  /* "=" semantics, l1 at equality, huge logits, bad targets */
  {
    float y[4] = {1, 2, 3, 4}, tt[4] = {1, 0, 5, 4}, dx[4] = {9, 9, 9, 9};
    const float l = rt_loss_l1(4, y, tt, dx);
    expect("l1: value and sign gradient, 0 at equality, assigned not added",
           l == 1.0f && dx[0] == 0 && dx[1] == 0.25f && dx[2] == -0.25f && dx[3] == 0);
  }
  {
    float z[6] = {1000, -1000, 0, 0, 88, 89}, dx[6];
    int32_t tg[2] = {0, 2};
    const float l = rt_loss_cross_entropy(2, 3, z, tg, dx);
    /* row 0: lse = 1000 exactly; row 1: lse = 89 + log(1 + e^-1 + e^-89) */
    const double want = (0.0 + (89 + log(1 + exp(-1.0) + exp(-89.0)) - 89)) / 2;
    char label[128];
    snprintf(label, sizeof label, "cross_entropy stable on large logits (got %.9g want %.9g)", l, want);
    expect(label, fabs(l - want) < 1e-6 && isfinite(dx[0]) && fabsf(dx[0]) < 1e-7f && dx[4] > 0 && dx[5] < 0);
  }
  {
    float z[4] = {0, 1, 2, 3}, dx[4] = {0};
    int32_t tg[2] = {0, 2};
    const float l = rt_loss_nll(2, 2, z, tg, dx);
    expect("nll: out-of-range target gives NaN loss and NaN row", isnan(l) && isnan(dx[2]) && dx[0] == -0.5f);
  }
  free(t);
}

/* ------------------------------------------------------------ exact cases */

/* Max pooling ties, NaN and -inf windows: PyTorch CPU's choice. */
static void test_pool_ties(void) {
  RtPool p;
  float x[16], dy[9], dx[16];
  memset(&p, 0, sizeof p);
  p.C = 1, p.H = p.W = 4, p.kh = p.kw = 2, p.sh = p.sw = 1, p.dh = p.dw = 1, p.OH = p.OW = 3;
  for (int i = 0; i < 16; i++)
    x[i] = 1.0f, dx[i] = 0.0f;
  for (int i = 0; i < 9; i++)
    dy[i] = (float)(1 << i);
  rt_maxpool2d_bwd(&p, 1, x, dy, dx);
  {
    int ok = 1;
    /* all equal: each window's first tap (its top-left) takes the gradient */
    for (int oh = 0; oh < 3; oh++)
      for (int ow = 0; ow < 3; ow++)
        ok &= dx[oh * 4 + ow] == dy[oh * 3 + ow];
    for (int i = 0; i < 4; i++)
      ok &= dx[3 * 4 + i] == 0 && dx[i * 4 + 3] == 0;
    expect("maxpool ties: first maximum in scan order", ok);
  }
  /* window 0 (taps 0,1,4,5) with NaN at 1 and 4: the last NaN (4) wins */
  for (int i = 0; i < 16; i++)
    x[i] = (float)i, dx[i] = 0.0f;
  x[1] = NAN, x[4] = NAN;
  p.sh = p.sw = 2, p.OH = p.OW = 2;
  rt_maxpool2d_bwd(&p, 1, x, dy, dx);
  expect("maxpool NaN window: gradient to the last NaN", dx[4] == dy[0] && dx[1] == 0 && dx[0] == 0);
  /* all -inf: the first tap of the window */
  for (int i = 0; i < 16; i++)
    x[i] = -INFINITY, dx[i] = 0.0f;
  rt_maxpool2d_bwd(&p, 1, x, dy, dx);
  expect("maxpool all -inf: first tap", dx[0] == dy[0] && dx[2] == dy[1] && dx[8] == dy[2] && dx[10] == dy[3]);
  /* maxout ties: piece 0 */
  {
    float mx[4] = {2, 5, 2, 5}, mdy[2] = {1, 3}, mdx[4] = {0};
    rt_maxout_bwd(1, 4, 1, 2, mx, mdy, mdx);
    expect("maxout ties: first piece", mdx[0] == 1 && mdx[1] == 3 && mdx[2] == 0 && mdx[3] == 0);
  }
  /* lppool window of zeros: gradient 0, not NaN */
  {
    float z[16] = {0}, y[4], dz[16] = {0}, g[4] = {1, 1, 1, 1};
    int ok = 1;
    p.norm = 2.0f;
    rt_lppool2d(&p, 1, z, y);
    rt_lppool2d_bwd(&p, 1, z, y, g, dz);
    for (int i = 0; i < 16; i++)
      ok &= dz[i] == 0.0f;
    expect("lppool at y == 0: zero gradient", ok);
  }
}

/* Dropout: determinism, keep rate, scale, and backward = the same mask. */
static void test_dropout(void) {
  const int64_t n = 100000;
  const float p = 0.3f, scale = 1.0f / (1.0f - p);
  float *x = rnd(n, 0.5f, 1.5f), *y = fzeros(n), *y2 = fzeros(n), *dy = rnd(n, -1, 1), *dx = fzeros(n);
  int64_t kept = 0, diff = 0, badval = 0, badgrad = 0;
  rt_dropout_train(n, p, 42, 7, x, y);
  rt_dropout_train(n, p, 42, 7, x, y2);
  expect("dropout: same (seed, step) gives the same mask", same_bits(y, y2, n));
  for (int64_t i = 0; i < n; i++) {
    kept += y[i] != 0;
    badval += y[i] != 0 && y[i] != x[i] * scale;
  }
  {
    const double rate = (double)kept / n, sd = sqrt(p * (1 - p) / n);
    char label[128];
    snprintf(label, sizeof label, "dropout: keep rate %.4f vs %.4f (4 sigma %.4f), kept = x/(1-p) exactly", rate, 1 - p,
             4 * sd);
    expect(label, fabs(rate - (1 - p)) < 4 * sd && badval == 0);
  }
  rt_dropout_train(n, p, 42, 8, x, y2);
  for (int64_t i = 0; i < n; i++)
    diff += (y[i] != 0) != (y2[i] != 0);
  {
    const double want = 2 * p * (1 - p), got = (double)diff / n;
    char label[128];
    snprintf(label, sizeof label, "dropout: next step redraws the mask (%.4f differ, want ~%.4f)", got, want);
    expect(label, fabs(got - want) < 0.01);
  }
  rt_dropout_train(n, p, 43, 7, x, y2);
  diff = 0;
  for (int64_t i = 0; i < n; i++)
    diff += (y[i] != 0) != (y2[i] != 0);
  expect("dropout: another seed redraws the mask", fabs((double)diff / n - 2 * p * (1 - p)) < 0.01);
  /* backward: dx += dy * scale on kept elements (two calls: doubled) */
  for (int64_t i = 0; i < n; i++)
    dx[i] = 0.25f;
  rt_dropout_bwd(n, p, 42, 7, dy, dx);
  for (int64_t i = 0; i < n; i++) {
    /* ~1 ulp: the kernel may contract the += into an fma (-march=native) */
    const double want = 0.25 + (y[i] != 0 ? (double)dy[i] * scale : 0.0);
    badgrad += fabs(dx[i] - want) > 2e-7 * (fabs(want) + 1);
  }
  expect("dropout_bwd: same mask, dx += dy/(1-p)", badgrad == 0);
  /* a prefix of the tensor gets the same mask (the mask is a function of the index) */
  rt_dropout_train(n / 3, p, 42, 7, x, y2);
  expect("dropout: mask depends on the index only", same_bits(y, y2, n / 3));
  rt_dropout_train(n, 0.0f, 1, 1, x, y2);
  expect("dropout p=0 is the identity", same_bits(x, y2, n));
  rt_dropout_train(n, 1.0f, 1, 1, x, y2);
  {
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
      ok &= y2[i] == 0.0f;
    expect("dropout p=1 zeroes everything", ok);
  }
  free(x), free(y), free(y2), free(dy), free(dx);
}

static void test_accumulate(void) {
  float a[5] = {1, 2, 3, 4, 5}, b[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  rt_accumulate(5, a, b);
  rt_accumulate(5, a, b);
  expect("rt_accumulate adds (twice = 2x)", b[0] == 2.5f && b[4] == 10.5f);
}

/* ------------------------------------------------------------ main */

int main(void) {
  test_conv();
  test_linear();
  test_pool();
  test_adaptive_mean();
  test_norms();
  test_pointwise();
  test_misc_pointwise();
  test_binary();
  test_layout();
  test_losses();
  test_pool_ties();
  test_dropout();
  test_accumulate();

  /* max error table: the worst gradient check per kernel family */
  printf("\n%-44s %-8s %-12s %-12s %s\n", "kernel (worst case)", "tensor", "max|diff|", "max|ref|", "rel");
  {
    static const char *fam[] = {
        "conv2d",         "conv_t2d",    "linear",          "pool max",  "pool avg",   "pool lp",  "adaptive_avgpool",
        "global_avgpool", "reduce_mean", "batchnorm_train", "layernorm", "groupnorm",  "unary",    "prelu",
        "maxout",         "softmax",     "log_softmax",     "binary",    "copy_slice", "upsample", "pad",
        "transpose",      "loss"};
    for (size_t f = 0; f < sizeof fam / sizeof *fam; f++) {
      const Row *worst = NULL;
      double wr = -1;
      for (int i = 0; i < nrows; i++) {
        const Row *r = &rows[i];
        double rel;
        if (strncmp(r->kernel, fam[f], strlen(fam[f])) != 0 || !strcmp(r->tensor, "fwd") ||
            !strcmp(r->tensor, "accum") || !strcmp(r->tensor, "stats"))
          continue;
        rel = r->maxref > 0 ? r->maxdiff / r->maxref : r->maxdiff;
        if (rel > wr || rel != rel)
          wr = rel, worst = r;
      }
      if (worst)
        printf("%-44.44s %-8s %-12.3g %-12.3g %.3g\n", worst->kernel, worst->tensor, worst->maxdiff, worst->maxref, wr);
    }
  }
  printf("\n%d checks, %d failed\n", nchecks, nfail);
  return nfail ? 1 : 0;
}
