/* pass_algo.c - per-layer convolution algorithm choice.
 *
 * Input: a fused inference graph (weights known).
 * Output: every conv1d/conv2d has n->algo (direct, 1x1 GEMM, im2col + GEMM,
 * Winograd F(2,3)/F(4,3), FFT) with its reason in n->algo_why, the scratch
 * bytes it needs, and, for Winograd/FFT, weights transformed at compile time
 * (n->algo_weight).
 *
 * Choice: an analytic cost model (multiply-adds at an efficiency per
 * algorithm, plus the bytes the algorithm moves) ranks the candidates that
 * apply to the layer's shape; `--tune` instead times them here, on this
 * machine, with the runtime kernels the generated code carries.  Winograd
 * and FFT must pass an accuracy gate first: on the layer's real weights and
 * a seeded random input (spatially cropped, which does not change the
 * transform error), their result is compared with a float64 direct
 * convolution and refused above 2e-5 * max(1, max|y|) — a fifth of the
 * end-to-end tolerance, leaving room for error growth across layers.
 * `--algo LAYER=ALGO` overrides the choice (an error if it cannot apply).
 */
#include "cnnc_rt.h"
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One Zen 5 core, AVX-512 FMA.  The model does not know the target's
 * vector width.  On AVX2+FMA (Zen 3, ~100 GFLOP/s) the GEMM (im2col, 1x1)
 * and Winograd kernels have 8-lane paths and slow down alike (the direct
 * row kernels fall back to scalar C: overrated there), and the choices for
 * the 3x3 convs of ResNet-18 and the CIFAR ResNet matched the measured best
 * (bench/run.sh --layers) but for near ties: 220 -> 100 would move
 * ResNet-18's 7x7x512 layers (within noise of im2col inside the model) and
 * 3-channel 32x32 stems (F(4,3) ~1.25x im2col alone) to Winograd. */
#define PEAK_GFLOPS 220.0
#define DRAM_GBS 40.0     /* weights streamed under a GEMM (the hardware prefetcher overlaps them) */
#define DRAM_GBS_BATCHED 14.0 /* weights of Winograd's/FFT's many small GEMMs (little overlap) */
#define CACHE_GBS 60.0    /* from L2/L3 */
#define GATE 2e-5

static RtConv desc(const Node *n, int H, int W) {
  const Tensor *x = n->in[0], *y = n->out;
  RtConv p = {0};
  p.C = (int)x->shape.d[1];
  p.H = H;
  p.W = W;
  p.K = (int)y->shape.d[1];
  p.kh = n->kernel[0], p.kw = n->kernel[1];
  p.sh = n->stride[0], p.sw = n->stride[1];
  p.dh = n->dilation[0], p.dw = n->dilation[1];
  p.pt = n->pad[0], p.pl = n->pad[1];
  p.groups = n->groups;
  p.OH = (H + n->pad[0] + n->pad[2] - n->dilation[0] * (n->kernel[0] - 1) - 1) / n->stride[0] + 1;
  p.OW = (W + n->pad[1] + n->pad[3] - n->dilation[1] * (n->kernel[1] - 1) - 1) / n->stride[1] + 1;
  return p;
}

static void in_hw(const Node *n, int *H, int *W) {
  const Shape *s = &n->in[0]->shape;
  *H = s->rank == 4 ? (int)s->d[2] : 1;
  *W = (int)s->d[s->rank - 1];
}

static bool applies(int algo, const RtConv *p) {
  switch (algo) {
  case ALGO_DIRECT: return true;
  case ALGO_GEMM1X1:
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 &&
           p->OH == p->H && p->OW == p->W && p->groups == 1;
  case ALGO_IM2COL: return p->groups == 1 && !(p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1);
  case ALGO_WINOGRAD: return rt_winograd_applies(p);
  case ALGO_FFT: /* large kernels, and enough channels to amortize the transforms */
    return rt_fft_applies(p) && p->kh * p->kw >= 25 && p->C / p->groups >= 8 && p->K / p->groups >= 8;
  }
  return false;
}

/* Estimated milliseconds for one sample: multiply-adds at an efficiency
 * per algorithm and shape, the bytes it moves, and a fixed cost per call.
 * Weights are streamed from memory on every inference (a network's weights
 * do not stay in cache between layers), at DRAM_GBS (one GEMM streams them
 * while it computes) or DRAM_GBS_BATCHED (Winograd's 16 or 36 GEMMs and
 * FFT's per-frequency products barely overlap them); activations, columns
 * and transform tiles mostly stay in L2/L3, at CACHE_GBS.  Calibrated on
 * this kind of machine with `bench/run.sh --layers` and `bench/profile.sh`
 * (per-layer times inside whole models). */
static double estimate(int algo, const RtConv *p, int tile) {
  const double Cg = (double)(p->C / p->groups), npix = (double)p->OH * p->OW;
  double macs = (double)p->K * npix * Cg * p->kh * p->kw;
  double io = 4.0 * ((double)p->C * p->H * p->W + (double)p->K * npix);
  double wbytes = 4.0 * p->K * Cg * p->kh * p->kw;
  double flops = 2 * macs, eff, fixed_us, cbytes = io;
  switch (algo) {
  case ALGO_DIRECT:
    if (rt_conv2d_rows_applies(p)) {
      /* conv_row.c: 8 channels x 16*NV columns per register tile; per tap NV
       * loads + KB broadcasts against KB*NV FMAs (2 of each per cycle) */
      /* (rows at most 16 wide are tiled two rows at a time: NV = 2 as well) */
      const double nv = p->OW > 16 || p->OH >= 2 ? 2 : 1, kb = p->K < 8 ? p->K : 8;
      const double lanes = p->OW / (16.0 * ceil(p->OW / 16.0));
      const double fma = kb * nv / 2, ld = (nv + kb) / 2;
      /* a 1-tap j loop (1x1, 1-wide kernels) pays its loop overhead per FMA group */
      eff = 0.55 * lanes * fma / (fma > ld ? fma : ld) * (p->kw == 1 ? 0.5 : 1.0);
      fixed_us = 0.3;
    } else {
      eff = p->groups == 1 ? (Cg >= 16 ? 0.14 : 0.08) : 0.03;
      fixed_us = 0.3;
    }
    break;
  case ALGO_GEMM1X1:
  case ALGO_IM2COL: {
    /* the 8x48 micro-kernel: rows are output channels, columns pixels; a
     * panel narrower than 48 columns does fewer FMAs per broadcast of A
     * (the last one of 8x8 = 48 + 16 pixels: im2col measured 2x its
     * estimate inside cifar_resnet, where Winograd F(2,3) was 7% faster) */
    const double Kg = (double)(p->K / p->groups), w = fmod(npix, 48.0);
    eff = 0.8 * (Kg >= 32 ? 1 : 0.4 + 0.6 * Kg / 32) * ((npix - w) + w * (0.4 + 0.6 * w / 48)) / npix;
    if (algo == ALGO_IM2COL && !(p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1))
      cbytes += 2.0 * 4 * (double)p->C * p->kh * p->kw * npix; /* write + read the columns */
    fixed_us = 2.0;
    break;
  }
  case ALGO_WINOGRAD: {
    int a = tile + 2;
    double tiles = ceil(p->OH / (double)tile) * ceil(p->OW / (double)tile);
    flops = 2.0 * tiles * a * a * p->K * p->C                /* batched GEMMs */
            + tiles * (p->C + p->K) * (double)a * a * 4.0;    /* transforms */
    eff = p->K >= 32 ? 0.75 : 0.35;
    cbytes += 4.0 * tiles * a * a * (p->C + p->K) * 2;
    wbytes *= a * a / 9.0;
    fixed_us = 2.0;
    break;
  }
  case ALGO_FFT: {
    int P = 0, Q = 0, th = 0, tw = 0, tb = 0;
    double spec = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
    double tiles = (double)th * tw, lg = log2((double)P * Q);
    flops = tiles * (8.0 * spec * (double)p->K * Cg                   /* complex MACs */
                     + 2.5 * P * Q * lg * (p->C + p->K));             /* forward + inverse FFTs */
    eff = 0.2;
    cbytes += 8.0 * tiles * spec * (p->C + p->K);
    wbytes = 8.0 * spec * p->K * Cg;
    fixed_us = 5.0;
    break;
  }
  default:
    return INFINITY;
  }
  return flops / (eff * PEAK_GFLOPS * 1e6) +
         wbytes / ((algo == ALGO_WINOGRAD || algo == ALGO_FFT ? DRAM_GBS_BATCHED : DRAM_GBS) * 1e6) +
         cbytes / (CACHE_GBS * 1e6) +
         fixed_us * 1e-3;
}

/* Weights transformed at compile time for Winograd/FFT (malloc'd). */
static float *transform(const Node *n, const RtConv *p, int algo, size_t *cnt) {
  *cnt = algo == ALGO_WINOGRAD ? rt_winograd_weights_size(p) : rt_fft_weights_size(p);
  float *u = malloc(sizeof(float) * (*cnt ? *cnt : 1));
  if (!u)
    die("out of memory for transformed weights");
  if (algo == ALGO_WINOGRAD)
    rt_winograd_weights(p, n->weight->data, u);
  else
    rt_fft_weights(p, n->weight->data, u);
  return u;
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void *xmalloc(size_t n) {
  void *m = malloc(n ? n : 1);
  if (!m)
    die("out of memory in the algorithm choice");
  return m;
}

/* The accuracy gate's test case: the layer cropped to at most 14x14, a
 * fixed pseudo-random input and the float64 direct result for its first 64
 * output channels (a representative sample of the error that keeps the
 * reference cheap on wide layers).  Built once per layer, shared by every
 * candidate. */
typedef struct GateCase {
  RtConv p;      /* cropped descriptor; OH/OW <= 0: no case */
  float *x;      /* C x Hc x Wc */
  double *ref;   /* min(K, 64) x OH x OW */
  double maxref; /* max|ref| */
} GateCase;

static GateCase gate_case(const Node *n) {
  int H, W;
  in_hw(n, &H, &W);
  const int Hc = H < 14 ? H : 14, Wc = W < 14 ? W : 14;
  GateCase gc = {.p = desc(n, Hc, Wc)};
  const RtConv *p = &gc.p;
  if (p->OH <= 0 || p->OW <= 0)
    return gc;
  const size_t nx = (size_t)p->C * Hc * Wc, npix = (size_t)p->OH * p->OW;
  const int nk = p->K < 64 ? p->K : 64, Cg = p->C / p->groups, Kg = p->K / p->groups;
  gc.x = xmalloc(nx * sizeof(float));
  gc.ref = xmalloc((size_t)nk * npix * sizeof(double));
  uint64_t s = 12345;
  for (size_t i = 0; i < nx; i++) /* Box-Muller-free: sum of uniforms is close enough to normal */
    gc.x[i] = (float)(((rng_next(&s) >> 11) * 0x1.0p-53 + (rng_next(&s) >> 11) * 0x1.0p-53 +
                       (rng_next(&s) >> 11) * 0x1.0p-53 - 1.5) * 2.0);
  const float *w = n->weight->data;
  for (int k = 0; k < nk; k++) {
    double *r = gc.ref + (size_t)k * npix;
    const double bv = n->bias ? n->bias->data[k] : 0;
    for (size_t o = 0; o < npix; o++)
      r[o] = bv;
    const int gi = k / Kg;
    for (int c = 0; c < Cg; c++)
      for (int i = 0; i < p->kh; i++)
        for (int j = 0; j < p->kw; j++) {
          const double wv = w[(((size_t)k * Cg + c) * p->kh + i) * p->kw + j];
          const float *xc = gc.x + (size_t)(gi * Cg + c) * Hc * Wc;
          const int off = j * p->dw - p->pl, sw = p->sw;
          int lo, hi; /* output columns whose input column lies inside */
          rt_valid_range(0, p->OW, sw, off, Wc, &lo, &hi);
          for (int oh = 0; oh < p->OH; oh++) {
            const int ih = oh * p->sh - p->pt + i * p->dh;
            if (ih < 0 || ih >= Hc)
              continue;
            double *ro = r + (size_t)oh * p->OW;
            const float *xr = xc + (size_t)ih * Wc + off;
            if (sw == 1)
              for (int ow = lo; ow < hi; ow++)
                ro[ow] += wv * xr[ow];
            else
              for (int ow = lo; ow < hi; ow++)
                ro[ow] += wv * xr[ow * sw];
          }
        }
  }
  for (size_t i = 0; i < (size_t)nk * npix; i++)
    if (fabs(gc.ref[i]) > gc.maxref)
      gc.maxref = fabs(gc.ref[i]);
  return gc;
}

/* Run `algo` on the gate case; return max|y - y64| / max(1, max|y64|).
 * Only the checked output channels are computed when the algorithm applies
 * to that narrower conv (the weights are k-major, so they are a prefix). */
static double gate_error(const Node *n, const GateCase *gc, int algo, int tile) {
  RtConv p = gc->p;
  if (!gc->x)
    return INFINITY;
  p.algo = algo == ALGO_WINOGRAD ? RT_ALGO_WINOGRAD : RT_ALGO_FFT;
  p.tile = tile;
  RtConv narrow = p;
  narrow.K = p.K < 64 ? p.K : 64;
  if (p.groups == 1 && applies(algo, &narrow))
    p = narrow;
  else if (!applies(algo, &p))
    return INFINITY;
  const size_t npix = (size_t)p.OH * p.OW;
  float *y = xmalloc((size_t)p.K * npix * sizeof(float));
  size_t cnt;
  float *u = transform(n, &p, algo, &cnt);
  size_t scratch = rt_conv2d_scratch(&p);
  void *sc = aligned_alloc(64, (scratch + 127) / 64 * 64);
  rt_conv2d(&p, 1, gc->x, u, n->bias ? n->bias->data : NULL, NULL, y, sc);
  free(sc);
  free(u);
  double maxerr = 0;
  for (size_t i = 0; i < (size_t)(p.K < 64 ? p.K : 64) * npix; i++) {
    double e = fabs(gc->ref[i] - y[i]);
    if (!(e <= maxerr))
      maxerr = isnan(e) ? INFINITY : e;
  }
  free(y);
  return maxerr / (gc->maxref > 1 ? gc->maxref : 1);
}

/* Median wall time in ms of the candidate on the layer's real size. */
static double time_algo(Node *n, int algo, int tile) {
  int H, W;
  in_hw(n, &H, &W);
  RtConv p = desc(n, H, W);
  static const int rt[] = {0, RT_ALGO_DIRECT, RT_ALGO_GEMM1X1, RT_ALGO_IM2COL, RT_ALGO_WINOGRAD, RT_ALGO_FFT};
  p.algo = rt[algo];
  p.tile = tile;
  size_t nx = (size_t)p.C * H * W, ny = (size_t)p.K * p.OH * p.OW;
  float *x = calloc(nx, sizeof(float)), *y = calloc(ny, sizeof(float));
  const float *w = n->weight->data;
  float *u = NULL;
  size_t cnt;
  if (algo == ALGO_WINOGRAD || algo == ALGO_FFT)
    w = u = transform(n, &p, algo, &cnt);
  size_t scratch = rt_conv2d_scratch(&p);
  void *sc = aligned_alloc(64, (scratch + 127) / 64 * 64);
  double t[7];
  for (int r = 0; r < 7; r++) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    rt_conv2d(&p, 1, x, w, NULL, NULL, y, sc);
    clock_gettime(CLOCK_MONOTONIC, &b);
    t[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
  }
  for (int i = 0; i < 7; i++) /* median */
    for (int j = i + 1; j < 7; j++)
      if (t[j] < t[i]) {
        double tmp = t[i];
        t[i] = t[j];
        t[j] = tmp;
      }
  free(x);
  free(y);
  free(sc);
  free(u);
  return t[3];
}

static int forced_algo(const Options *opt, const char *name, int *tile) {
  for (int i = 0; i < opt->nalgo; i++)
    if (!strcmp(opt->algo_layer[i], name)) {
      *tile = opt->algo_tile ? opt->algo_tile[i] : 0;
      return opt->algo_choice[i];
    }
  return ALGO_AUTO;
}

static void choose(Graph *g, Node *n, const Options *opt) {
  int H, W;
  in_hw(n, &H, &W);
  RtConv p = desc(n, H, W);
  int forced_tile = 0, forced = forced_algo(opt, n->name, &forced_tile);
  int cands[6] = {ALGO_DIRECT, ALGO_GEMM1X1, ALGO_IM2COL, ALGO_WINOGRAD, ALGO_FFT};
  int best = ALGO_DIRECT, best_tile = 0;
  double best_cost = INFINITY;
  char notes[512] = "", refused[256] = "";
  size_t kn = 0, kr = 0;
  GateCase gc = {0};
  bool have_gc = false;
  for (int ci = 0; ci < 5; ci++) {
    int a = cands[ci];
    if (forced != ALGO_AUTO && a != forced)
      continue;
    /* A trainable model's inference reads the caller's params buffer:
     * nothing derived from the weights at compile time may be used. */
    if (g->train && (a == ALGO_WINOGRAD || a == ALGO_FFT)) {
      if (forced != ALGO_AUTO)
        diag_error(n->loc, "--algo %s=%s: a trainable model cannot use weights transformed at compile time",
                   n->name, algo_name(a));
      continue;
    }
    if (!applies(a, &p)) {
      if (forced != ALGO_AUTO)
        diag_error(n->loc, "--algo %s=%s does not apply to this %dx%d conv (stride %d, groups %d)", n->name,
                   algo_name(a), p.kh, p.kw, p.sh, p.groups);
      continue;
    }
    int tiles[2] = {a == ALGO_WINOGRAD ? 4 : 0, a == ALGO_WINOGRAD ? 2 : -1};
    for (int ti = 0; ti < 2; ti++) {
      int tile = tiles[ti];
      if (tile < 0 || (forced_tile && tile != forced_tile))
        continue;
      if (a == ALGO_WINOGRAD || a == ALGO_FFT) {
        if (!have_gc) {
          gc = gate_case(n);
          have_gc = true;
        }
        double err = gate_error(n, &gc, a, tile);
        if (!(err <= GATE)) {
          if (kr < sizeof refused - 48)
            kr += (size_t)snprintf(refused + kr, sizeof refused - kr, "%s%s%s error %.1e", kr ? ", " : "",
                                   algo_name(a), a == ALGO_WINOGRAD ? (tile == 4 ? " F(4,3)" : " F(2,3)") : "", err);
          continue;
        }
      }
      double cost = opt->tune ? time_algo(n, a, tile) : estimate(a, &p, tile ? tile : 4);
      if (kn < sizeof notes - 48)
        kn += (size_t)snprintf(notes + kn, sizeof notes - kn, "%s%s%s %.3g", kn ? ", " : "", algo_name(a),
                               a == ALGO_WINOGRAD ? (tile == 4 ? " F(4,3)" : " F(2,3)") : "", cost);
      if (cost < best_cost) {
        best_cost = cost;
        best = a;
        best_tile = tile;
      }
    }
  }
  free(gc.x);
  free(gc.ref);
  if (forced != ALGO_AUTO && best_cost == INFINITY)
    return;
  n->algo = best;
  n->algo_tile = best_tile;
  n->algo_why = cnnc_fmt("%s%s ms: %s%s%s", forced != ALGO_AUTO ? "forced; " : "",
                         opt->tune ? "measured" : "estimated", notes, kr ? "; refused by the accuracy gate: " : "",
                         refused);
  p.algo = best;
  p.tile = best_tile;
  n->scratch_bytes = (int64_t)rt_conv2d_scratch(&p);
  if (best == ALGO_WINOGRAD || best == ALGO_FFT) {
    size_t cnt;
    float *u = transform(n, &p, best, &cnt);
    Tensor *t = ir_new_param(g, cnnc_fmt("%s.weight.%s", n->name, algo_name(best)), TK_CONST,
                             shape_of(1, (int64_t)cnt), n->loc);
    t->data = cnnc_alloc(sizeof(float) * (cnt ? cnt : 1));
    memcpy(t->data, u, sizeof(float) * cnt);
    free(u);
    n->algo_weight = t;
  }
}

/* Transposed convs run as a GEMM + col2im (the conv backward's data
 * gradient) when the per-group products are big enough for it. */
static void choose_transposed(Graph *g, Node *n) {
  const Shape *xs = &n->in[0]->shape, *ys = &n->out->shape;
  RtConv p = {0};
  p.C = (int)xs->d[1], p.H = (int)xs->d[2], p.W = (int)xs->d[3];
  p.K = (int)ys->d[1], p.OH = (int)ys->d[2], p.OW = (int)ys->d[3];
  p.kh = n->kernel[0], p.kw = n->kernel[1], p.sh = n->stride[0], p.sw = n->stride[1];
  p.dh = n->dilation[0], p.dw = n->dilation[1], p.pt = n->pad[0], p.pl = n->pad[1], p.groups = n->groups;
  size_t scratch = rt_conv_transpose2d_scratch(&p, g->batch > 0 ? g->batch : 1);
  if (scratch == 0)
    return;
  n->algo = ALGO_IM2COL;
  if (rt_conv_transpose2d_tiled(&p))
    n->algo_why = cnnc_strdup("1x1 GEMM + interleave (kernel = stride)");
  else if (rt_conv_transpose2d_subpixel(&p))
    n->algo_why = cnnc_strdup("sub-pixel: a direct conv per output phase");
  else
    n->algo_why = cnnc_strdup("GEMM + col2im");
  n->scratch_bytes = (int64_t)scratch;
}

/* A 1x1 conv whose result only a depthwise conv reads (MobileNet's expand
 * then depthwise) is computed inside that conv, band by band of its output
 * rows (rt_pw_dw_conv2d): the expanded tensor, the largest of the block,
 * never goes out to memory.  Inference graphs of fixed weights only. */
static void fuse_pointwise_depthwise(Graph *g) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *d = g->nodes[i];
    Tensor *t = d->in[0];
    Node *e = t->producer;
    if (d->op != OP_CONV2D || d->training || d->pre || d->algo != ALGO_DIRECT || !e || e->dead ||
        e->op != OP_CONV2D || e->training || e->residual || e->pre || !e->weight || !e->weight->data ||
        t->nuses != 1 || t->is_output || t->view_of || t->kind != TK_ACT || t->shape.rank != 4)
      continue;
    int H, W;
    in_hw(d, &H, &W);
    RtConv pd = desc(d, H, W), pe = desc(e, H, W);
    if (!(pe.kh == 1 && pe.kw == 1 && pe.sh == 1 && pe.sw == 1 && pe.pt == 0 && pe.pl == 0 && pe.groups == 1 &&
          pe.OH == H && pe.OW == W && e->in[0]->shape.rank == 4) ||
        !rt_pw_dw_applies(&pd))
      continue;
    d->pre = e;
    d->in[0] = e->in[0];
    e->dead = true;
    d->scratch_bytes = (int64_t)rt_pw_dw_scratch(&pd);
    d->algo_why = cnnc_fmt("%s; computes 1x1 conv '%s' in bands of its output rows", d->algo_why, e->name);
  }
  ir_remove_dead(g);
  /* A 1x1 GEMM reading such a conv's output on a map whose pixel count is
   * not a multiple of 8 (the ones rt_conv2d_gemm would pack by shape from
   * 256 output channels) packs it into panels first (tile 1; on one
   * thread, see rt_conv2d_gemm): MobileNetV2 ran 1.6-2.4% faster in
   * same-process A/B runs (bench/ab.sh) with its 14x14 and 7x7 projections
   * packed, where SqueezeNet's and GoogLeNet's 1x1s, packed by a shape
   * rule alike (from 32 output channels), ran 3-4% slower. */
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    const Node *src = n->in[0] ? n->in[0]->producer : NULL;
    if (n->op == OP_CONV2D && n->algo == ALGO_GEMM1X1 && !n->training && !n->pre && src && src->pre &&
        n->algo_tile == 0 && n->out->shape.rank == 4 && n->out->shape.d[2] * n->out->shape.d[3] % 8 != 0) {
      n->algo_tile = 1;
      n->algo_why = cnnc_fmt("%s; input packed into panels (written by '%s')", n->algo_why, src->name);
    }
  }
}

/* A conv whose result only a 2-D max pool reads (the RGB stems: conv +
 * ReLU, then a 3x3/2 pool) is computed inside that pool, band by band of
 * the pool's output rows (rt_conv_maxpool2d): the conv's output, the
 * largest tensor of those models, never goes out to memory (arenas: ResNet-18
 * 11.2 -> 4.8 MB, GoogLeNet 11.2 -> 5.6, SqueezeNet 5.1 -> 4.7).  Convs the
 * cost model gave to im2col whose shapes the implicit GEMM takes; inference
 * graphs of fixed weights only.  Same-process A/B runs (bench/ab.sh) against
 * the unfused code: GoogLeNet 0.990, ResNet-18 0.999; SqueezeNet's 3x3 stem
 * 1.003-1.028 at first, 0.994, 0.995 and 1.003 at 1 thread and 0.974 at 2
 * once the phase-split copy prefetched its input (both sides). */
static void fuse_conv_maxpool(Graph *g) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *d = g->nodes[i];
    Tensor *t = d->in[0];
    Node *e = t ? t->producer : NULL;
    if (d->op != OP_MAXPOOL2D || d->training || d->pre || !e || e->dead || e->op != OP_CONV2D || e->training ||
        e->residual || e->pre || e->algo != ALGO_IM2COL || !e->weight || !e->weight->data || t->nuses != 1 ||
        t->is_output || t->view_of || t->kind != TK_ACT || t->shape.rank != 4 || d->out->shape.rank != 4)
      continue;
    int H, W;
    in_hw(e, &H, &W);
    RtConv pc = desc(e, H, W);
    RtPool pp = {.C = (int)t->shape.d[1], .H = (int)t->shape.d[2], .W = (int)t->shape.d[3],
                 .OH = (int)d->out->shape.d[2], .OW = (int)d->out->shape.d[3], .kh = d->kernel[0],
                 .kw = d->kernel[1], .sh = d->stride[0], .sw = d->stride[1], .dh = d->dilation[0],
                 .dw = d->dilation[1], .pt = d->pad[0], .pl = d->pad[1], .pb = d->pad[2], .pr = d->pad[3]};
    if (!rt_conv_maxpool2d_applies(&pc, &pp))
      continue;
    d->pre = e;
    d->in[0] = e->in[0];
    e->dead = true;
    d->scratch_bytes = (int64_t)rt_conv_maxpool2d_scratch(&pc, &pp);
    d->algo_why = cnnc_fmt("computes conv '%s' (%s) in bands of its output rows", e->name, e->algo_why);
  }
  ir_remove_dead(g);
}

void pass_algo(Graph *g, const Options *opt) {
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->op == OP_CONV_TRANSPOSE2D && !n->training && n->in[0]->shape.rank == 4) {
      choose_transposed(g, n);
      continue;
    }
    if ((n->op != OP_CONV2D && n->op != OP_CONV1D) || n->training || !n->weight || !n->weight->data)
      continue;
    choose(g, n, opt);
  }
  if (opt->opt_level >= 2 && !g->train) {
    fuse_pointwise_depthwise(g);
    fuse_conv_maxpool(g);
  }
}
