/* unit_conv_bwd.c - rt_conv2d_bwd_ws (im2col + GEMM) against rt_conv2d_bwd.
 *
 * The direct rt_conv2d_bwd is the reference (unit_train_kernels checks it
 * against finite differences).  For every shape: random x, w, dy; gradient
 * buffers pre-filled with a random "earlier" gradient (both kernels must
 * accumulate); each of dx, dw, db compared with tolerance
 * 1e-5 * max(1, max|ref|); then the same call with some gradients NULL must
 * give bit-identical results for the others, and under OpenMP 1 thread and
 * 2+ threads must agree bit for bit.  Max errors are printed before the
 * verdict.  `unit_conv_bwd --bench` also times old vs new (GFLOP/s).
 * Exit status: 0 when every check passes, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include "../runtime/cnnc_rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (float)((double)((rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static void fill(float *a, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    a[i] = frand();
}

typedef struct {
  const char *name;
  int n, C, H, W, K, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups;
} Shape;

static RtConv mk(const Shape *s) {
  RtConv p;
  memset(&p, 0, sizeof p);
  p.C = s->C, p.H = s->H, p.W = s->W, p.K = s->K;
  p.kh = s->kh, p.kw = s->kw, p.sh = s->sh, p.sw = s->sw, p.dh = s->dh, p.dw = s->dw;
  p.pt = s->pt, p.pl = s->pl, p.groups = s->groups;
  p.OH = (s->H + s->pt + s->pb - s->dh * (s->kh - 1) - 1) / s->sh + 1;
  p.OW = (s->W + s->pl + s->pr - s->dw * (s->kw - 1) - 1) / s->sw + 1;
  return p;
}

static double maxabs(const float *a, size_t n) {
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    if (fabs(a[i]) > m)
      m = fabs(a[i]);
  return m;
}
static double maxdiff(const float *a, const float *b, size_t n) {
  double m = 0;
  size_t i;
  for (i = 0; i < n; i++)
    if (fabs((double)a[i] - b[i]) > m)
      m = fabs((double)a[i] - b[i]);
  return m;
}

static int nfail, nchecks;

static void check(const char *what, const char *name, int ok) {
  nchecks++;
  if (!ok) {
    nfail++;
    printf("  FAIL %s: %s\n", name, what);
  }
}

static void run_shape(const Shape *s) {
  const RtConv p = mk(s);
  const size_t nx = (size_t)s->n * p.C * p.H * p.W, ny = (size_t)s->n * p.K * p.OH * p.OW;
  const size_t nw = (size_t)p.K * (p.C / p.groups) * p.kh * p.kw, nb = (size_t)p.K;
  const size_t ss = rt_conv2d_bwd_scratch(&p, s->n);
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4);
  float *dx0 = malloc(nx * 4), *dw0 = malloc(nw * 4), *db0 = malloc(nb * 4);
  float *dx1 = malloc(nx * 4), *dw1 = malloc(nw * 4), *db1 = malloc(nb * 4);
  float *dx2 = malloc(nx * 4), *dw2 = malloc(nw * 4), *db2 = malloc(nb * 4);
  void *scr = malloc(ss ? ss : 1);
  double ex, ew, eb, tx, tw, tb;
  fill(x, nx), fill(w, nw), fill(dy, ny);
  fill(dx0, nx), fill(dw0, nw), fill(db0, nb);
  memcpy(dx1, dx0, nx * 4), memcpy(dw1, dw0, nw * 4), memcpy(db1, db0, nb * 4);
  memcpy(dx2, dx0, nx * 4), memcpy(dw2, dw0, nw * 4), memcpy(db2, db0, nb * 4);

  rt_conv2d_bwd(&p, s->n, x, w, dy, dx0, dw0, db0);
  rt_conv2d_bwd_ws(&p, s->n, x, w, dy, dx1, dw1, db1, scr);
  ex = maxdiff(dx0, dx1, nx), ew = maxdiff(dw0, dw1, nw), eb = maxdiff(db0, db1, nb);
  tx = 1e-5 * fmax(1.0, maxabs(dx0, nx)), tw = 1e-5 * fmax(1.0, maxabs(dw0, nw)), tb = 1e-5 * fmax(1.0, maxabs(db0, nb));
  printf("%-28s n=%d C=%-3d K=%-3d %dx%d s%dx%d d%dx%d p%d,%d,%d,%d g=%-3d scratch=%-9zu  dx %.2e/%.1e  dw %.2e/%.1e  db %.2e/%.1e\n",
         s->name, s->n, p.C, p.K, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, s->pt, s->pl, s->pb, s->pr, p.groups, ss, ex, tx,
         ew, tw, eb, tb);
  check("dx error", s->name, ex <= tx);
  check("dw error", s->name, ew <= tw);
  check("db error", s->name, eb <= tb);

  /* NULL gradients: each alone must equal the all-at-once result bit for bit */
  memcpy(dx2, dx0, nx * 4); /* dx0 now holds ref result; rebuild start values */
  {
    float *sx = malloc(nx * 4), *sw = malloc(nw * 4), *sb = malloc(nb * 4);
    uint64_t keep = rng;
    /* regenerate the same starting buffers */
    rng = keep;
    fill(sx, nx), fill(sw, nw), fill(sb, nb);
    memcpy(dx0, sx, nx * 4), memcpy(dw0, sw, nw * 4), memcpy(db0, sb, nb * 4);
    memcpy(dx2, sx, nx * 4), memcpy(dw2, sw, nw * 4), memcpy(db2, sb, nb * 4);
    rt_conv2d_bwd_ws(&p, s->n, x, w, dy, dx0, dw0, db0, scr);
    rt_conv2d_bwd_ws(&p, s->n, x, w, dy, dx2, NULL, NULL, scr);
    rt_conv2d_bwd_ws(&p, s->n, x, w, dy, NULL, dw2, NULL, scr);
    rt_conv2d_bwd_ws(&p, s->n, x, w, dy, NULL, NULL, db2, scr);
    rt_conv2d_bwd_ws(&p, s->n, x, w, dy, NULL, NULL, NULL, scr);
    check("NULL-gradient dx bits", s->name, !memcmp(dx0, dx2, nx * 4));
    check("NULL-gradient dw bits", s->name, !memcmp(dw0, dw2, nw * 4));
    check("NULL-gradient db bits", s->name, !memcmp(db0, db2, nb * 4));
#ifdef _OPENMP
    {
      const int nt = omp_get_max_threads();
      omp_set_num_threads(1);
      memcpy(dx2, sx, nx * 4), memcpy(dw2, sw, nw * 4), memcpy(db2, sb, nb * 4);
      rt_conv2d_bwd_ws(&p, s->n, x, w, dy, dx2, dw2, db2, scr);
      omp_set_num_threads(nt > 1 ? nt : 2);
      memcpy(dx1, sx, nx * 4), memcpy(dw1, sw, nw * 4), memcpy(db1, sb, nb * 4);
      rt_conv2d_bwd_ws(&p, s->n, x, w, dy, dx1, dw1, db1, scr);
      omp_set_num_threads(nt);
      check("1 vs N threads dx bits", s->name, !memcmp(dx1, dx2, nx * 4));
      check("1 vs N threads dw bits", s->name, !memcmp(dw1, dw2, nw * 4));
      check("1 vs N threads db bits", s->name, !memcmp(db1, db2, nb * 4));
    }
#endif
    free(sx), free(sw), free(sb);
  }
  free(x), free(w), free(dy), free(dx0), free(dw0), free(db0), free(dx1), free(dw1), free(db1);
  free(dx2), free(dw2), free(db2), free(scr);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* GFLOP/s of dx + dw (2 * 2 * n*K*Cg*kh*kw*OH*OW), best of reps */
static void bench(const Shape *s) {
  const RtConv p = mk(s);
  const size_t nx = (size_t)s->n * p.C * p.H * p.W, ny = (size_t)s->n * p.K * p.OH * p.OW;
  const size_t nw = (size_t)p.K * (p.C / p.groups) * p.kh * p.kw;
  const size_t ss = rt_conv2d_bwd_scratch(&p, s->n);
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4);
  float *dx = calloc(nx, 4), *dw = calloc(nw, 4), *db = calloc((size_t)p.K, 4);
  void *scr = malloc(ss ? ss : 1);
  const double fl = 4.0 * s->n * p.K * (p.C / p.groups) * p.kh * p.kw * (double)p.OH * p.OW;
  double best0 = 1e30, best1 = 1e30, t;
  int r, reps = fl > 1e9 ? 3 : fl > 1e7 ? 10 : 200;
  fill(x, nx), fill(w, nw), fill(dy, ny);
  for (r = 0; r < reps; r++) {
    t = now();
    rt_conv2d_bwd(&p, s->n, x, w, dy, dx, dw, db);
    t = now() - t;
    if (t < best0)
      best0 = t;
    t = now();
    rt_conv2d_bwd_ws(&p, s->n, x, w, dy, dx, dw, db, scr);
    t = now() - t;
    if (t < best1)
      best1 = t;
  }
  printf("%-28s n=%d  direct %8.3f ms %6.1f GFLOP/s   gemm %8.3f ms %6.1f GFLOP/s   x%.2f\n", s->name, s->n,
         best0 * 1e3, fl / best0 * 1e-9, best1 * 1e3, fl / best1 * 1e-9, best0 / best1);
  free(x), free(w), free(dy), free(dx), free(dw), free(db), free(scr);
}

int main(int argc, char **argv) {
  static const Shape shapes[] = {
      /* name                       n  C   H   W   K  kh kw sh sw dh dw pt pl pb pr g */
      {"3x3 pad1", 1, 8, 10, 12, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"3x3 pad1 batch3", 3, 8, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"3x3 stride2", 3, 6, 11, 13, 10, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
      {"3x3 stride2x1 asym pad", 2, 5, 12, 9, 7, 3, 3, 2, 1, 1, 1, 1, 0, 0, 2, 1},
      {"5x5 dilation2", 1, 4, 15, 14, 8, 5, 5, 1, 1, 2, 2, 2, 2, 2, 2, 1},
      {"3x2 dil(2,3) stride(1,2)", 3, 6, 13, 17, 9, 3, 2, 1, 2, 2, 3, 3, 1, 0, 2, 1},
      {"7x7 s2 pad3 (stem)", 1, 3, 32, 32, 16, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1},
      {"1x1 s1 unpadded", 3, 32, 7, 9, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},
      {"1x1 s2", 2, 16, 9, 9, 32, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},
      {"1x1 pad1", 1, 8, 5, 5, 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"groups 2", 3, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
      {"groups 4 stride2", 2, 16, 12, 12, 32, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 4},
      {"grouped 1x1 g=2", 3, 16, 6, 6, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2},
      {"depthwise 3x3", 3, 16, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 16},
      {"depthwise x2 mult s2", 1, 8, 11, 11, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 8},
      {"1-D k3 pad1", 3, 12, 1, 50, 20, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1},
      {"1-D k5 s2 dil2", 2, 8, 1, 64, 16, 1, 5, 1, 2, 1, 2, 0, 4, 0, 3, 1},
      {"LeNet conv1", 3, 1, 28, 28, 6, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
      {"LeNet conv2", 3, 6, 14, 14, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1},
      {"big-ish 3x3 K>64", 1, 40, 20, 20, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"1x1 s1 big plane (no im2col)", 3, 8, 33, 33, 12, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},
      {"3x3 n=4 chunks 3+1", 4, 5, 20, 20, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"pad larger than kernel", 1, 4, 5, 5, 6, 2, 2, 1, 1, 1, 1, 3, 3, 3, 3, 1},
      {"bottom/right crop", 2, 6, 10, 10, 8, 3, 3, 2, 2, 1, 1, 1, 1, -1, -1, 1},
  };
  static const Shape bshapes[] = {
      {"64->64 3x3 56x56", 1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"128->128 3x3 28x28", 1, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"64->64 3x3 56x56 n=8", 8, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"128->128 3x3 28x28 n=8", 8, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
      {"256->256 1x1 14x14 n=8", 8, 256, 14, 14, 256, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},
      {"LeNet conv1 1->6 5x5 n=64", 64, 1, 28, 28, 6, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
      {"LeNet conv2 6->16 5x5 n=64", 64, 6, 14, 14, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1},
  };
  size_t i;
  printf("shape                        errors: max|ws - ref| / tolerance\n");
  for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    run_shape(&shapes[i]);
  printf("%d checks, %d failed\n", nchecks, nfail);
  if (argc > 1 && !strcmp(argv[1], "--bench"))
    for (i = 0; i < sizeof bshapes / sizeof bshapes[0]; i++)
      bench(&bshapes[i]);
  printf(nfail ? "FAIL\n" : "PASS\n");
  return nfail ? 1 : 0;
}
