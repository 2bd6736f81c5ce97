/* pool.c - pooling and mean-reduction kernels (forward).
 *
 * Provides max/avg/Lp pooling with padding, dilation and ceil_mode windows,
 * adaptive and global average pooling, and the mean over one axis.
 *
 * Guarantees (PyTorch semantics, which ONNX Runtime shares):
 *  - a window is the taps oh*sh - pt + i*dh (i < kh), likewise along W; taps
 *    outside the input are skipped (max: never chosen; avg/Lp: add 0);
 *  - max propagates NaN like torch.max_pool2d; a window with no input tap
 *    (impossible with PyTorch's constraints) gives -inf;
 *  - the avg divisor counts, with count_include_pad, the taps inside the
 *    declared padding [-pt, H + pb) x [-pl, W + pr) and otherwise only the taps
 *    inside the input; ceil_mode taps beyond the declared padding are never
 *    counted (PyTorch's `min(hstart + kH, H + padH)`).  An empty divisor gives 0;
 *  - sums run in a fixed order per output, and each output is written by one
 *    task, so results do not depend on the thread count.
 */
#include "cnnc_rt.h"

enum { POOL_LANES = 16 /* interleaved partial sums of a long reduction */ };

/* Taps [*lo, *hi) of a window starting at s0 with dilation d whose position
 * s0 + i*d lies in [0, L). */
RT_INLINE void pool_taps(int s0, int k, int d, int L, int *lo, int *hi) {
  /* d == 1 (the common case) needs no division */
  int l = s0 >= 0 ? 0 : (d == 1 ? -s0 : (-s0 + d - 1) / d);
  int h = L - 1 - s0 < 0 ? 0 : (d == 1 ? L - s0 : (L - 1 - s0) / d + 1);
  if (h > k)
    h = k;
  if (h < l)
    h = l;
  *lo = l;
  *hi = h;
}

/* Sum of x[0..count) in POOL_LANES interleaved partial sums, reduced pairwise:
 * vectorizable without reassociating, and the order depends on count only. */
RT_HELPER float pool_sum(const float *x, int64_t count) {
  float acc[POOL_LANES];
  const int64_t main_len = count - count % POOL_LANES;
  int64_t i;
  int l, h;
  float s;
  for (l = 0; l < POOL_LANES; l++)
    acc[l] = 0.0f;
  for (i = 0; i < main_len; i += POOL_LANES)
    for (l = 0; l < POOL_LANES; l++)
      acc[l] += x[i + l];
  for (h = POOL_LANES / 2; h > 0; h /= 2)
    for (l = 0; l < h; l++)
      acc[l] += acc[l + h];
  s = acc[0];
  for (i = main_len; i < count; i++)
    s += x[i];
  return s;
}

/* kind 0 max, 1 avg, 2 Lp.  One task = one output row of one plane. */
RT_HELPER void pool_window(const RtPool *p, int n, const float *x, float *y, int kind) {
  const int64_t ntask = (int64_t)n * p->C * p->OH;
  const float pw = p->norm;
  int64_t t;

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < ntask; t++) {
    const int oh = (int)(t % p->OH);
    const float *xp = x + (t / p->OH) * p->H * p->W;
    float *yr = y + t * p->OW;
    const int h0 = oh * p->sh - p->pt;
    int ilo, ihi, ow;
    /* taps inside the declared padding along H, for count_include_pad */
    int plo, phi;
    pool_taps(h0, p->kh, p->dh, p->H, &ilo, &ihi);
    pool_taps(h0 + p->pt, p->kh, p->dh, p->H + p->pt + p->pb, &plo, &phi);

    for (ow = 0; ow < p->OW; ow++) {
      const int w0 = ow * p->sw - p->pl;
      int jlo, jhi, i, j;
      pool_taps(w0, p->kw, p->dw, p->W, &jlo, &jhi);
      if (kind == 0) {
        float m = -INFINITY;
        for (i = ilo; i < ihi; i++) {
          const int64_t rb = (int64_t)(h0 + i * p->dh) * p->W + w0;
          for (j = jlo; j < jhi; j++) {
            const float v = xp[rb + j * p->dw];
            if (v > m || v != v)
              m = v;
          }
        }
        yr[ow] = m;
      } else {
        float s = 0.0f;
        int cnt, qlo, qhi;
        for (i = ilo; i < ihi; i++) {
          /* rb may be negative; rb + j*dw is not (w0 + j*dw >= 0 for j >= jlo) */
          const int64_t rb = (int64_t)(h0 + i * p->dh) * p->W + w0;
          if (kind == 1) {
            for (j = jlo; j < jhi; j++)
              s += xp[rb + j * p->dw];
          } else if (pw == 2.0f) {
            for (j = jlo; j < jhi; j++)
              s += xp[rb + j * p->dw] * xp[rb + j * p->dw];
          } else {
            for (j = jlo; j < jhi; j++)
              s += powf(xp[rb + j * p->dw], pw);
          }
        }
        pool_taps(w0 + p->pl, p->kw, p->dw, p->W + p->pl + p->pr, &qlo, &qhi);
        if (kind == 1) {
          cnt = p->count_include_pad ? (phi - plo) * (qhi - qlo) : (ihi - ilo) * (jhi - jlo);
          yr[ow] = cnt > 0 ? s / (float)cnt : 0.0f;
        } else {
          /* PyTorch computes LPPool as avg_pool(x^p) * (kh*kw), whose divisor
           * shrinks for ceil_mode windows; keep that scaling bit for bit. */
          cnt = (phi - plo) * (qhi - qlo);
          if (cnt != p->kh * p->kw && cnt > 0)
            s = s / (float)cnt * (float)(p->kh * p->kw);
          yr[ow] = powf(s, 1.0f / pw);
        }
      }
    }
  }
}

RT_FN void rt_maxpool2d(const RtPool *p, int n, const float *x, float *y) {
  pool_window(p, n, x, y, 0);
}

RT_FN void rt_avgpool2d(const RtPool *p, int n, const float *x, float *y) {
  pool_window(p, n, x, y, 1);
}

/* PyTorch: (sum x^p)^(1/p), with x^p and not ONNX's |x|^p, so a negative sum
 * under an odd p gives NaN (p = 1 gives the plain sum).  Even p agree with ONNX. */
RT_FN void rt_lppool2d(const RtPool *p, int n, const float *x, float *y) {
  pool_window(p, n, x, y, 2);
}

RT_FN void rt_adaptive_avgpool2d(int n, int C, int H, int W, int OH, int OW, const float *x, float *y) {
  const int64_t ntask = (int64_t)n * C * OH;
  int64_t t;

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < ntask; t++) {
    const int oh = (int)(t % OH);
    const float *xp = x + (t / OH) * H * W;
    const int hs = (int)((int64_t)oh * H / OH);
    const int he = (int)(((int64_t)(oh + 1) * H + OH - 1) / OH);
    int ow;
    for (ow = 0; ow < OW; ow++) {
      const int ws = (int)((int64_t)ow * W / OW);
      const int we = (int)(((int64_t)(ow + 1) * W + OW - 1) / OW);
      float s = 0.0f;
      int i, j;
      for (i = hs; i < he; i++)
        for (j = ws; j < we; j++)
          s += xp[(int64_t)i * W + j];
      y[t * OW + ow] = s / (float)((he - hs) * (we - ws));
    }
  }
}

RT_FN void rt_global_avgpool(int n, int C, int HW, const float *x, float *y) {
  rt_reduce_mean((int64_t)n * C, HW, 1, x, y);
}

RT_FN void rt_reduce_mean(int64_t outer, int64_t red, int64_t inner, const float *x, float *y) {
  int64_t o;
  if (inner == 1) {
    RT_OMP(parallel for schedule(static))
    for (o = 0; o < outer; o++)
      y[o] = pool_sum(x + o * red, red) / (float)red;
    return;
  }
  /* Strided case: accumulate whole rows so the inner loop is contiguous; the
   * sum of each output still runs over r = 0, 1, ... in order. */
  RT_OMP(parallel for schedule(static))
  for (o = 0; o < outer; o++) {
    const float *xo = x + o * red * inner;
    float *yo = y + o * inner;
    int64_t r, i;
    for (i = 0; i < inner; i++)
      yo[i] = red > 0 ? xo[i] : 0.0f;
    for (r = 1; r < red; r++)
      for (i = 0; i < inner; i++)
        yo[i] += xo[r * inner + i];
    for (i = 0; i < inner; i++)
      yo[i] /= (float)red;
  }
}
