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

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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

/* Finish one output from its window sum s: the avg divisor or the Lp root.
 * nin = taps inside the input, npad = taps inside the declared padding. */
RT_INLINE float pool_finish(const RtPool *p, int kind, float s, int nin, int npad) {
  if (kind == 1) {
    const int cnt = p->count_include_pad ? npad : nin;
    return cnt > 0 ? s / (float)cnt : 0.0f;
  }
  /* PyTorch computes LPPool as avg_pool(x^p) * (kh*kw), whose divisor
   * shrinks for ceil_mode windows; keep that scaling bit for bit. */
  if (npad != p->kh * p->kw && npad > 0)
    s = s / (float)npad * (float)(p->kh * p->kw);
  return powf(s, 1.0f / p->norm);
}

/* Window term: x (avg), x^p (Lp). */
RT_INLINE float pool_term(int kind, float pw, float v) {
  return kind == 1 ? v : (pw == 2.0f ? v * v : powf(v, pw));
}

#if defined(__AVX512F__)
/* x[c0 + s*l] for l < 16 (s = 1 or 2) of one row, `fill` outside [0, W);
 * memory outside the row is never touched. */
RT_INLINE __m512 pool_load16(const float *row, int c0, int W, __m512 fill) {
  if (c0 >= 0 && c0 + 16 <= W)
    return _mm512_loadu_ps(row + c0);
  if (c0 >= W || c0 + 16 <= 0)
    return fill;
  if (c0 >= 0)
    return _mm512_mask_loadu_ps(fill, (__mmask16)((1u << (W - c0)) - 1u), row + c0);
  {
    /* lanes [-c0, hi) take row[0], row[1], ...: a masked load moved up by
     * -c0 lanes (a permute; expanding loads are slow on AMD) */
    const int hi = W - c0 < 16 ? W - c0 : 16;
    const __mmask16 mk = (__mmask16)(((1u << hi) - 1u) & ~((1u << -c0) - 1u));
    const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (hi + c0)) - 1u), row);
    const __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(-c0));
    return _mm512_mask_permutexvar_ps(fill, mk, idx, v);
  }
}

/* Max pooling with strides 1 and 2: one task = one output row of one plane,
 * 16 outputs per vector with the running max in a register; taps outside the
 * input read -inf, so borders and ceil_mode windows need no scalar path.  The
 * comparison is the scalar one lane by lane (v > m or v is NaN: take v), in
 * (i, j) order, so NaN sticks as in torch. */
RT_HELPER void pool_max_task(const RtPool *p0, int64_t t, const float *x, float *y) {
  const RtPool pv = *p0, *p = &pv; /* private: stores to y cannot alias it */
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  {
    const int oh = (int)(t % p->OH);
    const float *xp = x + (t / p->OH) * p->H * p->W;
    float *yr = y + t * p->OW;
    const int h0 = oh * p->sh - p->pt;
    int ilo, ihi, ow0;
    pool_taps(h0, p->kh, p->dh, p->H, &ilo, &ihi);
    for (ow0 = 0; ow0 < p->OW; ow0 += 16) {
      const int nl = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
      const int c0 = ow0 * p->sw - p->pl;
      __m512 m = ninf;
      int i, j;
      for (i = ilo; i < ihi; i++) {
        const float *xr = xp + (int64_t)(h0 + i * p->dh) * p->W;
        for (j = 0; j < p->kw; j++) {
          const int c = c0 + j * p->dw;
          const __m512 v = p->sw == 1 ? pool_load16(xr, c, p->W, ninf)
                                      : _mm512_permutex2var_ps(pool_load16(xr, c, p->W, ninf), even,
                                                               pool_load16(xr, c + 16, p->W, ninf));
          const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          m = _mm512_mask_mov_ps(m, take, v);
        }
      }
      _mm512_mask_storeu_ps(yr + ow0, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), m);
    }
  }
}

RT_HELPER void pool_max_vec(const RtPool *p, int n, const float *x, float *y) {
  const int64_t ntask = (int64_t)n * p->C * p->OH;
  int64_t t;
  RT_OMP(parallel for schedule(static) if(ntask * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK))
  for (t = 0; t < ntask; t++)
    pool_max_task(p, t, x, y);
}
#endif

/* kind 0 max, 1 avg, 2 Lp.  One task = one output row of one plane.  Columns
 * whose window lies inside the input horizontally are computed tap by tap
 * across the row (independent lanes, vectorizable, no per-column range);
 * the few border columns one by one.  Either way an output's terms are
 * combined in (i, j) order. */
RT_HELPER void pool_window(const RtPool *p, int n, const float *x, float *y, int kind) {
  const int64_t ntask = (int64_t)n * p->C * p->OH;
  const float pw = p->norm;
  /* interior columns [ow_a, ow_b): w0 = ow*sw - pl >= 0 and the last tap < W */
  const int last = p->W - 1 + p->pl - (p->kw - 1) * p->dw;
  const int ow_a0 = p->pl > 0 ? (p->pl + p->sw - 1) / p->sw : 0;
  const int ow_b0 = last < 0 ? 0 : last / p->sw + 1;
  const int ow_b = ow_b0 < p->OW ? ow_b0 : p->OW;
  const int ow_a = ow_a0 < ow_b ? ow_a0 : ow_b;
  int64_t t;

  RT_OMP(parallel for schedule(static) if(ntask * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK))
  for (t = 0; t < ntask; t++) {
    const int oh = (int)(t % p->OH);
    const float *xp = x + (t / p->OH) * p->H * p->W;
    float *yr = y + t * p->OW;
    const int h0 = oh * p->sh - p->pt, sw = p->sw;
    int ilo, ihi, plo, phi, ow, i, j;
    pool_taps(h0, p->kh, p->dh, p->H, &ilo, &ihi);
    /* taps inside the declared padding along H, for the avg/Lp divisors */
    pool_taps(h0 + p->pt, p->kh, p->dh, p->H + p->pt + p->pb, &plo, &phi);

    /* interior columns: yr[ow_a..ow_b) accumulates tap by tap */
    for (ow = ow_a; ow < ow_b; ow++)
      yr[ow] = kind == 0 ? -INFINITY : 0.0f;
    for (i = ilo; i < ihi; i++) {
      const float *xr = xp + (int64_t)(h0 + i * p->dh) * p->W;
      for (j = 0; j < p->kw; j++) {
        const int off = j * p->dw - p->pl; /* ow*sw + off >= 0 for ow >= ow_a */
        if (kind == 0) {
          for (ow = ow_a; ow < ow_b; ow++) {
            const float v = xr[ow * sw + off], m = yr[ow];
            yr[ow] = v > m || v != v ? v : m; /* NaN sticks, like torch */
          }
        } else {
          for (ow = ow_a; ow < ow_b; ow++)
            yr[ow] += pool_term(kind, pw, xr[ow * sw + off]);
        }
      }
    }
    if (kind != 0)
      for (ow = ow_a; ow < ow_b; ow++)
        yr[ow] = pool_finish(p, kind, yr[ow], (ihi - ilo) * p->kw, (phi - plo) * p->kw);

    /* border columns, one window at a time */
    for (ow = 0; ow < p->OW; ow++) {
      int w0, jlo, jhi, qlo, qhi;
      float acc = kind == 0 ? -INFINITY : 0.0f;
      if (ow == ow_a && ow_b > ow_a) {
        ow = ow_b - 1; /* the interior is done */
        continue;
      }
      w0 = ow * sw - p->pl;
      pool_taps(w0, p->kw, p->dw, p->W, &jlo, &jhi);
      pool_taps(w0 + p->pl, p->kw, p->dw, p->W + p->pl + p->pr, &qlo, &qhi);
      for (i = ilo; i < ihi; i++) {
        /* rb may be negative; rb + j*dw is not (w0 + j*dw >= 0 for j >= jlo) */
        const int64_t rb = (int64_t)(h0 + i * p->dh) * p->W + w0;
        for (j = jlo; j < jhi; j++) {
          const float v = xp[rb + j * p->dw];
          if (kind == 0)
            acc = v > acc || v != v ? v : acc;
          else
            acc += pool_term(kind, pw, v);
        }
      }
      yr[ow] = kind == 0 ? acc : pool_finish(p, kind, acc, (ihi - ilo) * (jhi - jlo), (phi - plo) * (qhi - qlo));
    }
  }
}

RT_FN void rt_maxpool2d(const RtPool *p, int n, const float *x, float *y) {
#if defined(__AVX512F__)
  if (p->sw <= 2) {
    pool_max_vec(p, n, x, y);
    return;
  }
#endif
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

  RT_OMP(parallel for schedule(static) if((int64_t)n * C * H * W >= RT_PAR_MIN_WORK))
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
    RT_OMP(parallel for schedule(static) if(outer * red * inner >= RT_PAR_MIN_WORK))
    for (o = 0; o < outer; o++)
      y[o] = pool_sum(x + o * red, red) / (float)red;
    return;
  }
  /* Strided case: accumulate whole rows so the inner loop is contiguous; the
   * sum of each output still runs over r = 0, 1, ... in order. */
  RT_OMP(parallel for schedule(static) if(outer * red * inner >= RT_PAR_MIN_WORK))
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
