/* unit_optim.c - optimizers, losses and torch-semantics kernels vs PyTorch goldens.
 *
 * Reads tests/train_golden/ (written by tests/gen_train_golden.py with torch
 * in float64 on float32-rounded inputs; the file list and layouts are in that
 * script's header) and checks:
 *  - rt_sgd_step / rt_adam_step (Adam, AdamW) / rt_rmsprop_step: the
 *    parameter after each of 3 steps with given gradients, buffers starting
 *    zeroed as in torch.optim;
 *  - the four losses: value and input gradient;
 *  - rt_sumsq + rt_scale composed as torch.nn.utils.clip_grad_norm_;
 *  - rt_unary_bwd at every kink, pooling backward on inputs full of ties
 *    (ceil_mode, padding, both count_include_pad), lppool backward, and
 *    training-mode batch norm (output, running statistics, gradients).
 * Each comparison prints its first mismatches and max |diff| before judging
 * with tol = 1e-5 * max|golden| over the tensor.
 * Usage: unit_optim [GOLDEN_DIR]; by default the train_golden directory
 * beside this source file (from __FILE__), so ctest can run it from the
 * build tree.  Exit status: 0 when every check passes, 1 otherwise.
 */
#include "../ir/ir.h"
#include "../runtime/cnnc_rt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* npy_read allocates from the compiler's arena, which is released at exit. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "detect_leaks=0";
}

static char gdir[4096];
static int nchecks, nfail;

/* A golden file; a missing or malformed one fails the whole test. */
static NpyArray load(const char *name, int64_t want) {
  char path[4200];
  NpyArray a;
  snprintf(path, sizeof path, "%s/%s.npy", gdir, name);
  if (!npy_read(path, &a)) {
    fprintf(stderr, "cannot read %s (run tests/gen_train_golden.py)\n", path);
    exit(1);
  }
  if (want >= 0 && a.numel != want) {
    fprintf(stderr, "%s: %lld values, expected %lld\n", path, (long long)a.numel, (long long)want);
    exit(1);
  }
  return a;
}

static float *to_f32(const NpyArray *a) {
  float *p = malloc((size_t)(a->numel > 0 ? a->numel : 1) * sizeof(float));
  if (!p)
    exit(2);
  for (int64_t i = 0; i < a->numel; i++)
    p[i] = (float)a->data[i];
  return p;
}

/* Print, then judge: |got - ref| <= 1e-5 * max|ref| elementwise. */
static void check(const char *what, const float *got, const double *ref, int64_t n) {
  double maxref = 0, maxdiff = 0, tol;
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++)
    maxref = fabs(ref[i]) > maxref ? fabs(ref[i]) : maxref;
  tol = 1e-5 * maxref;
  for (int64_t i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]);
    if (d > maxdiff || d != d)
      maxdiff = d != d ? INFINITY : d;
    if (!(d <= tol)) {
      if (bad < 5)
        printf("    %s[%lld]: got %.9g want %.9g\n", what, (long long)i, got[i], ref[i]);
      bad++;
    }
  }
  printf("%s %-40s n=%-4lld max|diff|=%-10.3g max|ref|=%-10.3g rel=%.3g\n", bad ? "FAIL" : "ok  ", what, (long long)n,
         maxdiff, maxref, maxref > 0 ? maxdiff / maxref : maxdiff);
  nchecks++;
  if (bad)
    nfail++;
}

/* ------------------------------------------------------------ optimizers */

static void test_optim(void) {
  static const char *cases[] = {"sgd_plain", "sgd_momentum", "sgd_nesterov",    "adam", "adam_l2", "adam_betas",
                                "adamw",     "rmsprop",      "rmsprop_momentum"};
  NpyArray init = load("optim_init", -1);
  const int P = init.shape.rank == 2 ? (int)init.shape.d[1] : 0;
  if (P <= 0 || init.shape.d[0] != 4) {
    fprintf(stderr, "optim_init: expected shape (4, P)\n");
    exit(1);
  }
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char name[96], label[128];
    NpyArray hp, ref;
    float *p = calloc((size_t)P, sizeof(float)), *g = calloc((size_t)P, sizeof(float));
    float *s1 = calloc((size_t)P, sizeof(float)), *s2 = calloc((size_t)P, sizeof(float));
    snprintf(name, sizeof name, "optim_%s_hp", cases[c]);
    hp = load(name, 8);
    snprintf(name, sizeof name, "optim_%s", cases[c]);
    ref = load(name, 3 * (int64_t)P);
    for (int i = 0; i < P; i++)
      p[i] = (float)init.data[i];
    for (int step = 1; step <= 3; step++) {
      const double *h = hp.data;
      const float lr = (float)h[1];
      for (int i = 0; i < P; i++)
        g[i] = (float)init.data[step * P + i];
      switch ((int)h[0]) {
      case 0: rt_sgd_step(P, lr, (float)h[2], (float)h[3], (float)h[4], h[5] != 0, step, p, g, s1); break;
      case 1:
      case 2:
        rt_adam_step(P, lr, (float)h[2], (float)h[3], (float)h[4], (float)h[5], (int)h[0] == 2, step, p, g, s1, s2);
        break;
      default: rt_rmsprop_step(P, lr, (float)h[2], (float)h[3], (float)h[4], (float)h[5], step, p, g, s1, s2); break;
      }
      snprintf(label, sizeof label, "%s step %d", cases[c], step);
      check(label, p, ref.data + (int64_t)(step - 1) * P, P);
    }
    free(p), free(g), free(s1), free(s2);
  }
}

/* ------------------------------------------------------------ losses */

static void test_losses(void) {
  static const char *kinds[] = {"ce", "nll", "mse", "l1"};
  for (int k = 0; k < 4; k++) {
    char name[64], label[64];
    NpyArray x, t, v, g;
    float *xf, *dx, loss;
    snprintf(name, sizeof name, "loss_%s_x", kinds[k]);
    x = load(name, -1);
    snprintf(name, sizeof name, "loss_%s_t", kinds[k]);
    t = load(name, -1);
    snprintf(name, sizeof name, "loss_%s_value", kinds[k]);
    v = load(name, 1);
    snprintf(name, sizeof name, "loss_%s_grad", kinds[k]);
    g = load(name, x.numel);
    xf = to_f32(&x);
    dx = to_f32(&x); /* garbage: the loss must assign, not add */
    if (k <= 1) {
      const int n = (int)x.shape.d[0], C = (int)x.shape.d[1];
      int32_t *ti = malloc((size_t)n * sizeof(int32_t));
      for (int i = 0; i < n; i++)
        ti[i] = (int32_t)t.data[i];
      loss = k == 0 ? rt_loss_cross_entropy(n, C, xf, ti, dx) : rt_loss_nll(n, C, xf, ti, dx);
      free(ti);
    } else {
      float *tf = to_f32(&t);
      loss = k == 2 ? rt_loss_mse(x.numel, xf, tf, dx) : rt_loss_l1(x.numel, xf, tf, dx);
      free(tf);
    }
    snprintf(label, sizeof label, "loss %s value", kinds[k]);
    check(label, &loss, v.data, 1);
    snprintf(label, sizeof label, "loss %s grad", kinds[k]);
    check(label, dx, g.data, g.numel);
    free(xf), free(dx);
  }
}

/* clip_grad_norm_ over two tensors: total = sqrt(sum of sumsq), scale by
 * max_norm / (total + 1e-6) when that is below 1 (torch's formula). */
static void test_clip(void) {
  NpyArray g = load("clip_g", 10), out = load("clip_out", 10), hp = load("clip_hp", 2);
  float *gf = to_f32(&g), total;
  double coef;
  total = (float)sqrt(rt_sumsq(6, gf) + rt_sumsq(4, gf + 6));
  check("clip_grad_norm total norm", &total, hp.data + 1, 1);
  coef = hp.data[0] / ((double)total + 1e-6);
  if (coef < 1.0) {
    rt_scale(6, (float)coef, gf);
    rt_scale(4, (float)coef, gf + 6);
  }
  check("clip_grad_norm clipped gradients", gf, out.data, 10);
  free(gf);
}

/* ------------------------------------------------------------ kernels */

static int y_only(int act) {
  return act == RT_ACT_RELU || act == RT_ACT_LEAKY || act == RT_ACT_SIGMOID || act == RT_ACT_TANH ||
         act == RT_ACT_ELU || act == RT_ACT_SELU;
}

static void test_act(void) {
  NpyArray x = load("act_x", -1), dy = load("act_dy", x.numel), prm = load("act_params", -1);
  const int64_t A = x.numel;
  const int K = (int)prm.shape.d[0];
  NpyArray gr = load("act_grads", (int64_t)K * A);
  float *xf = to_f32(&x), *dyf = to_f32(&dy), *y = calloc((size_t)A, sizeof(float));
  float *dx = calloc((size_t)A, sizeof(float));
  for (int k = 0; k < K; k++) {
    const int act = (int)prm.data[k * 3];
    const float a = (float)prm.data[k * 3 + 1], b = (float)prm.data[k * 3 + 2];
    char label[64];
    rt_unary(act, a, b, A, xf, y);
    memset(dx, 0, (size_t)A * sizeof(float));
    rt_unary_bwd(act, a, b, A, xf, y, dyf, dx);
    snprintf(label, sizeof label, "unary_bwd act=%d a=%g b=%g", act, a, b);
    check(label, dx, gr.data + (int64_t)k * A, A);
    if (y_only(act)) {
      memset(dx, 0, (size_t)A * sizeof(float));
      rt_unary_bwd(act, a, b, A, NULL, y, dyf, dx);
      snprintf(label, sizeof label, "unary_bwd act=%d from y only", act);
      check(label, dx, gr.data + (int64_t)k * A, A);
    }
  }
  free(xf), free(dyf), free(y), free(dx);
}

static int pool_out(int L, int k, int s, int pad, int ceil_mode) {
  const int span = L + 2 * pad - (k - 1) - 1;
  int o = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (o - 1) * s >= L + pad)
    o--;
  return o;
}

static void test_pool(void) {
  static const char *cases[] = {"max_s2p1_ceil", "max_k2s1", "avg_inc_ceil", "avg_exc_ceil",
                                "avg_k2_ceil",   "lp2_ceil", "lp3_k3s2"};
  NpyArray xt = load("pool_x", -1);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    char name[64], label[64];
    NpyArray hp, x, dy, dx;
    RtPool p;
    float *xf, *dyf, *dxf, *y;
    int n;
    snprintf(name, sizeof name, "pool_%s_hp", cases[c]);
    hp = load(name, 9);
    x = xt;
    if (hp.data[0] == 2) {
      snprintf(name, sizeof name, "pool_%s_x", cases[c]);
      x = load(name, -1);
    }
    memset(&p, 0, sizeof p);
    n = (int)x.shape.d[0];
    p.C = (int)x.shape.d[1], p.H = (int)x.shape.d[2], p.W = (int)x.shape.d[3];
    p.kh = (int)hp.data[1], p.kw = (int)hp.data[2], p.sh = (int)hp.data[3], p.sw = (int)hp.data[4];
    p.dh = p.dw = 1;
    p.pt = p.pl = p.pb = p.pr = (int)hp.data[5];
    p.count_include_pad = (int)hp.data[7];
    p.norm = (float)hp.data[8];
    p.OH = pool_out(p.H, p.kh, p.sh, p.pt, (int)hp.data[6]);
    p.OW = pool_out(p.W, p.kw, p.sw, p.pl, (int)hp.data[6]);
    snprintf(name, sizeof name, "pool_%s_dy", cases[c]);
    dy = load(name, (int64_t)n * p.C * p.OH * p.OW); /* also checks OH/OW */
    snprintf(name, sizeof name, "pool_%s_dx", cases[c]);
    dx = load(name, x.numel);
    xf = to_f32(&x);
    dyf = to_f32(&dy);
    dxf = calloc((size_t)x.numel, sizeof(float));
    y = calloc((size_t)dy.numel, sizeof(float));
    if (hp.data[0] == 0) {
      rt_maxpool2d_bwd(&p, n, xf, dyf, dxf);
    } else if (hp.data[0] == 1) {
      rt_avgpool2d_bwd(&p, n, dyf, dxf);
    } else {
      rt_lppool2d(&p, n, xf, y);
      rt_lppool2d_bwd(&p, n, xf, y, dyf, dxf);
    }
    snprintf(label, sizeof label, "pool %s dx", cases[c]);
    check(label, dxf, dx.data, dx.numel);
    free(xf), free(dyf), free(dxf), free(y);
  }
}

static void test_bn(void) {
  NpyArray x = load("bn_x", -1), prm = load("bn_params", -1), hp = load("bn_hp", 2);
  const int n = (int)x.shape.d[0], C = (int)x.shape.d[1], HW = (int)x.shape.d[2];
  NpyArray dy = load("bn_dy", x.numel), y = load("bn_y", x.numel), dx = load("bn_dx", x.numel);
  NpyArray out = load("bn_out", 4 * (int64_t)C);
  float *xf = to_f32(&x), *dyf = to_f32(&dy), *pf = to_f32(&prm);
  float *yf = calloc((size_t)x.numel, sizeof(float)), *dxf = calloc((size_t)x.numel, sizeof(float));
  float *sm = calloc((size_t)C, sizeof(float)), *si = calloc((size_t)C, sizeof(float));
  float *dw = calloc((size_t)C, sizeof(float)), *db = calloc((size_t)C, sizeof(float));
  float *w = pf, *b = pf + C, *rm = pf + 2 * C, *rv = pf + 3 * C;
  if (prm.numel != 4 * (int64_t)C) {
    fprintf(stderr, "bn_params: expected 4 x C values\n");
    exit(1);
  }
  rt_batchnorm_train(n, C, HW, xf, w, b, rm, rv, (float)hp.data[0], (float)hp.data[1], yf, sm, si);
  check("batchnorm_train y", yf, y.data, y.numel);
  check("batchnorm_train running_mean", rm, out.data, C);
  check("batchnorm_train running_var (unbiased)", rv, out.data + C, C);
  rt_batchnorm_bwd(n, C, HW, xf, w, sm, si, dyf, dxf, dw, db);
  check("batchnorm_bwd dx", dxf, dx.data, dx.numel);
  check("batchnorm_bwd dw", dw, out.data + 2 * C, C);
  check("batchnorm_bwd db", db, out.data + 3 * C, C);
  free(xf), free(dyf), free(pf), free(yf), free(dxf), free(sm), free(si), free(dw), free(db);
}

int main(int argc, char **argv) {
  if (argc > 1) {
    snprintf(gdir, sizeof gdir, "%s", argv[1]);
  } else {
    const char *slash = strrchr(__FILE__, '/');
    const int len = slash ? (int)(slash - __FILE__) : 0;
    snprintf(gdir, sizeof gdir, "%.*s%strain_golden", len, __FILE__, slash ? "/" : "");
  }
  printf("goldens: %s\n", gdir);
  test_optim();
  test_losses();
  test_clip();
  test_act();
  test_pool();
  test_bn();
  printf("\n%d checks, %d failed\n", nchecks, nfail);
  return nfail ? 1 : 0;
}
