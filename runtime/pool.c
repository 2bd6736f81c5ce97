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

#if defined(__AVX512F__) || defined(__AVX2__)
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

/* Row-vector max pooling (below, AVX-512): rows of up to POOL_RV_NV vectors. */
enum { POOL_RV_NV = 8 };

RT_INLINE int pool_rv_ok(const RtPool *p) {
  const int k = p->kw, shape = (k == 3 && p->pl <= 1 && (p->pl == 1 || p->sw == 2)) || (k == 2 && p->pl == 0 && p->sw == 2);
  return p->dh == 1 && p->dw == 1 && p->kh == k && p->sh == p->sw && p->pt >= 0 && shape &&
         p->W >= 10 && p->W <= 16 * POOL_RV_NV && (p->sw == 1 ? p->OW <= p->W : p->sw == 2 && p->OW <= 16 * ((p->W + 31) / 32));
}

/* The row-vector instance p takes (1 + its index: rows of up to 16, 32, 64,
 * 128 columns x 3x3/1, 3x3/2, 2x2/2), 0 if none.  Shape logic only, the
 * same in every build: cnnc asks it for each max pool of a model. */
RT_FN int rt_maxpool2d_form(const RtPool *p) {
  const int nv = (p->W + 15) / 16, cap = nv <= 1 ? 0 : nv <= 2 ? 1 : nv <= 4 ? 2 : 3;
  if (!pool_rv_ok(p))
    return 0;
  return 1 + 3 * cap + (p->sw == 1 ? 0 : p->kw == 3 ? 1 : 2);
}

#if defined(__AVX512F__)
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
          const __m512 v = p->sw == 1 ? rt_load16_fill(xr, c, p->W, ninf)
                                      : _mm512_permutex2var_ps(rt_load16_fill(xr, c, p->W, ninf), even,
                                                               rt_load16_fill(xr, c + 16, p->W, ninf));
          const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
          m = _mm512_mask_mov_ps(m, take, v);
        }
      }
      _mm512_mask_storeu_ps(yr + ow0, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), m);
    }
  }
}

/* Separable max pooling (dilation 1, strides 1 and 2, windows up to
 * POOL_SEP_K, rows up to POOL_SEP_W outputs): each input row's horizontal
 * window maxima are computed once into a ring of kh rows and shared by the
 * output rows of the task whose windows contain it; the output is the
 * vertical max of those.  One task = POOL_SEP_RB output rows of one plane
 * (input rows at a block edge are reduced again by the next task: no state
 * crosses tasks).  Taps are
 * masked loads (-inf outside the input), masks computed once per task.
 * NaN: the running max uses vmaxps while the last NaN seen (in j order, then
 * i order) is kept aside and replaces the result when there was one, so a
 * window with a NaN gives its last NaN in (i, j) order, as the tap-by-tap
 * form does; other values are exact maxima either way. */
enum {
  POOL_SEP_W = 224, /* output columns, rounded up to 16 */
  POOL_SEP_K = 5,
  POOL_SEP_RB = 8, /* output rows per task */
  POOL_SEP_ROWS = (POOL_SEP_RB - 1) * 2 + POOL_SEP_K /* input rows per task (stride <= 2): 17 KiB of stack */
};

typedef struct PoolAcc {
  __m512 m, nanv;
  __mmask16 nk;
} PoolAcc;

RT_INLINE void pool_acc(PoolAcc *a, __m512 v) {
  const __mmask16 k = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  a->m = _mm512_max_ps(a->m, v);
  a->nanv = _mm512_mask_mov_ps(a->nanv, k, v);
  a->nk = (__mmask16)(a->nk | k);
}

RT_INLINE __m512 pool_acc_result(const PoolAcc *a) { return _mm512_mask_mov_ps(a->m, a->nk, a->nanv); }

/* Whether any of x[0..count) is NaN. */
RT_INLINE int pool_has_nan(const float *x, int64_t count) {
  __mmask16 k = 0;
  int64_t i;
  for (i = 0; i + 16 <= count; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    k = (__mmask16)(k | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
  }
  if (i < count) {
    const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (count - i)) - 1u), x + i);
    k = (__mmask16)(k | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
  }
  return k != 0;
}

RT_INLINE int pool_sep_ok(const RtPool *p) {
  return p->dh == 1 && p->dw == 1 && (p->sw == 1 || p->sw == 2) && (p->sh == 1 || p->sh == 2) &&
         p->kh <= POOL_SEP_K && p->kw <= POOL_SEP_K && (p->OW + 15) / 16 * 16 <= POOL_SEP_W;
}

/* NaN-free rows [oh0, oh1) of one plane, vertical first: the window rows'
 * elementwise max P (full-width contiguous vectors, -inf in the padding
 * columns), then the horizontal max along P: stride 1 reads P at the kw
 * offsets, stride 2 first splits P into its even and odd columns so every
 * tap is a plain load (P[2*ow + j] is E[ow + j/2] or O[ow + j/2]).  Per
 * output vector that is ~2x fewer loads and 3x fewer permutes than
 * horizontal-first with a row ring; both give exact maxima. */
enum { POOL_VF_P = 2 * POOL_SEP_W + 64 /* padded row, floats */ };

RT_HELPER int pool_max_vfirst(const RtPool *p, const float *xp, float *yp, int oh0, int oh1) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i sh1 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
  const __m512i sh2 = _mm512_setr_epi32(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17);
  const int nv = (p->OW + 15) / 16;
  /* columns of P: stride 1 reads [0, 16*nv - 1 + kw), stride 2 the 32-column
   * chunks 0..nv (one past the last output vector), rounded up to 32 */
  const int np = p->sw == 1 ? (16 * nv + p->kw + 31) / 32 * 32 : 32 * (nv + 1);
  const int pl = p->pl, wv = p->W < np - pl ? p->W : np - pl;
  float P[POOL_VF_P];
  __mmask16 nan = 0;
  int oh, q, v, i, j;
  for (q = 0; q < np; q += 16) /* padding columns stay -inf */
    _mm512_storeu_ps(P + q, ninf);
  for (oh = oh0; oh < oh1; oh++) {
    const int h0 = oh * p->sh - p->pt;
    float *yr = yp + (int64_t)oh * p->OW;
    int ilo, ihi;
    pool_taps(h0, p->kh, 1, p->H, &ilo, &ihi);
    for (q = 0; q < wv; q += 16) {
      /* whole-vector stores (lanes past the input are -inf): with pl = 0
       * they line up with the loads below and forward to them */
      const __mmask16 m = (__mmask16)(wv - q >= 16 ? 0xFFFF : (1u << (wv - q)) - 1u);
      __m512 a = ninf;
      for (i = ilo; i < ihi; i++) {
        const __m512 u = _mm512_mask_loadu_ps(ninf, m, xp + (int64_t)(h0 + i) * p->W + q);
        nan = (__mmask16)(nan | _mm512_cmp_ps_mask(u, u, _CMP_UNORD_Q));
        a = _mm512_max_ps(a, u);
      }
      _mm512_storeu_ps(P + pl + q, a);
    }
    if (p->sw == 1) {
      for (v = 0; v < nv; v++) {
        const int nl = p->OW - v * 16 < 16 ? p->OW - v * 16 : 16;
        __m512 a = _mm512_loadu_ps(P + v * 16);
        for (j = 1; j < p->kw; j++)
          a = _mm512_max_ps(a, _mm512_loadu_ps(P + v * 16 + j));
        _mm512_mask_storeu_ps(yr + v * 16, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), a);
      }
      continue;
    }
    {
      /* E/O of 32 P columns at a time, the next chunk computed ahead so the
       * taps past the first (j/2 = 1, 2) are lane shifts of registers, not
       * loads straddling two recent stores (a store-forwarding stall) */
      __m512 ev = _mm512_permutex2var_ps(_mm512_loadu_ps(P), even, _mm512_loadu_ps(P + 16));
      __m512 od = _mm512_permutex2var_ps(_mm512_loadu_ps(P), odd, _mm512_loadu_ps(P + 16));
      for (v = 0; v < nv; v++) {
        const int nl = p->OW - v * 16 < 16 ? p->OW - v * 16 : 16;
        const float *pn = P + 32 * (v + 1);
        const __m512 en = _mm512_permutex2var_ps(_mm512_loadu_ps(pn), even, _mm512_loadu_ps(pn + 16));
        const __m512 on = _mm512_permutex2var_ps(_mm512_loadu_ps(pn), odd, _mm512_loadu_ps(pn + 16));
        __m512 a = _mm512_max_ps(ev, od);
        if (p->kw > 2)
          a = _mm512_max_ps(a, _mm512_permutex2var_ps(ev, sh1, en));
        if (p->kw > 3)
          a = _mm512_max_ps(a, _mm512_permutex2var_ps(od, sh1, on));
        if (p->kw > 4)
          a = _mm512_max_ps(a, _mm512_permutex2var_ps(ev, sh2, en));
        if (p->kw == 1)
          a = ev;
        _mm512_mask_storeu_ps(yr + v * 16, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), a);
        ev = en, od = on;
      }
    }
  }
  return nan != 0;
}

/* Max pooling 16 planes at a time, channel-interleaved (conv.c's 16-channel
 * depthwise form with max for the FMA): each input row of the 16 planes is
 * transposed once into a ring of the (kh - 1)*dh + 1 rows the current output
 * row reads (padding columns and rows outside the image -inf), an output is
 * the max of its taps' full vectors whatever the stride, and runs of output
 * rows are transposed back into the planes.  For small maps, where the
 * per-plane forms pay their setup (masks, the P row, the NaN pass) for a
 * few rows: GoogLeNet's 14x14 -> 7x7 pool took 35 us for 832 planes, ONNX
 * Runtime's blocked layout 8.  The loads note NaNs; a group that holds one
 * is redone plane by plane by pool_window_row (torch's rule).  Stack: the
 * ring (POOL16_RING vectors, 32 KiB) and a run of POOL16_OW output pixels. */
enum { POOL16_RING = 512, POOL16_OW = 128, POOL16_BAND = 16 /* output rows per task */ };

RT_HELPER void pool_window_row(const RtPool *p, int64_t t, const float *x, float *y, int kind);

#ifndef RT_POOL16_MAXW
#define RT_POOL16_MAXW 32 /* input widths up to this: the 16-plane form */
#endif

RT_INLINE int pool16_wp(const RtPool *p) { /* padded columns the ring keeps */
  const int need = (p->OW - 1) * p->sw + (p->kw - 1) * p->dw + 1;
  return need > p->pl + p->W ? need : p->pl + p->W;
}

RT_INLINE int pool16_ok(const RtPool *p) {
  return p->W <= RT_POOL16_MAXW && p->OW <= POOL16_OW && p->kh <= 16 &&
         (int64_t)((p->kh - 1) * p->dh + 1) * pool16_wp(p) <= POOL16_RING;
}

/* Where it is used: strided pools, and stride-1 ones from 20 columns.  In
 * GoogLeNet's profile (ms, before -> after): 28x28 -> 14x14 0.061 -> 0.053,
 * 14x14 -> 7x7 0.035 -> 0.028, 3x3/1 on 28x28 0.046 -> 0.037 and 0.059 ->
 * 0.050; but 3x3/1 on 14x14 0.022-0.026 -> 0.026-0.031 and on 7x7 0.012 ->
 * 0.016, where the flat form (a plane one run of vectors) costs less than
 * the transposes. */
RT_INLINE int pool16_use(const RtPool *p) { return pool16_ok(p) && (p->sw > 1 || p->W >= 20); }

/* Input row ih of the 16 planes xs[l] into ring row d (padded column q is
 * input column q - pl); a row outside [0, H) is -inf.  Returns the lanes
 * (columns, of any plane) where a NaN was loaded. */
RT_INLINE __mmask16 pool16_row_in(const RtPool *p, const float *const xs[16], int ih, float *d, int wp) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const int lo = p->pl, hi = p->pl + p->W < wp ? p->pl + p->W : wp;
  __mmask16 nan = 0;
  int q, l;
  if (ih < 0 || ih >= p->H) {
    for (q = lo; q < hi; q++)
      _mm512_storeu_ps(d + q * 16, ninf);
    return 0;
  }
  for (q = lo; q < hi; q += 16) {
    const int nq = hi - q < 16 ? hi - q : 16;
    const __mmask16 m = (__mmask16)(nq >= 16 ? 0xFFFF : (1u << nq) - 1u);
    const int64_t o = (int64_t)ih * p->W + (q - p->pl);
    __m512 r[16];
#define POOL16_LD(l) r[l] = _mm512_mask_loadu_ps(ninf, m, xs[l] + o);
    RT_X16(POOL16_LD)
#undef POOL16_LD
#define POOL16_NAN(l) nan = (__mmask16)(nan | _mm512_cmp_ps_mask(r[l], r[l], _CMP_UNORD_Q));
    RT_X16(POOL16_NAN)
#undef POOL16_NAN
    rt_tr16(r);
    for (l = 0; l < nq; l++)
      _mm512_storeu_ps(d + (q + l) * 16, r[l]);
  }
  return nan;
}

/* One output row from the kh window rows rows[t] into orow (OW vectors):
 * blocks of 4 outputs, the rest one by one. */
RT_INLINE void pool16_out_row(const RtPool *p, const float *const *rows, float *orow) {
  const int64_t s16 = (int64_t)p->sw * 16, d16 = (int64_t)p->dw * 16;
  const float *const end = orow + (int64_t)p->OW * 16;
  float *o = orow;
  int64_t xo = 0; /* offset of the window's first column in each row */
  int t, j;
  /* pointer walks, not ow * 16: gcc -O3 warned of the int product */
  for (; end - o >= 64; o += 64, xo += 4 * s16) {
    __m512 a0 = _mm512_set1_ps(-INFINITY), a1 = a0, a2 = a0, a3 = a0;
    for (t = 0; t < p->kh; t++)
      for (j = 0; j < p->kw; j++) {
        const float *xq = rows[t] + xo + j * d16;
        a0 = _mm512_max_ps(a0, _mm512_loadu_ps(xq));
        a1 = _mm512_max_ps(a1, _mm512_loadu_ps(xq + s16));
        a2 = _mm512_max_ps(a2, _mm512_loadu_ps(xq + 2 * s16));
        a3 = _mm512_max_ps(a3, _mm512_loadu_ps(xq + 3 * s16));
      }
    _mm512_storeu_ps(o, a0), _mm512_storeu_ps(o + 16, a1);
    _mm512_storeu_ps(o + 32, a2), _mm512_storeu_ps(o + 48, a3);
  }
  for (; o < end; o += 16, xo += s16) {
    __m512 a0 = _mm512_set1_ps(-INFINITY);
    for (t = 0; t < p->kh; t++)
      for (j = 0; j < p->kw; j++)
        a0 = _mm512_max_ps(a0, _mm512_loadu_ps(rows[t] + xo + j * d16));
    _mm512_storeu_ps(o, a0);
  }
}

/* Output rows [oh0, oh1) of planes [0, nch) (nch <= 16): xc the first input
 * plane, yc the first output plane (planes H*W and OH*OW floats apart).
 * Returns nonzero when the rows read held a NaN (the outputs are then not
 * torch's; the caller redoes them). */
RT_HELPER int pool16_group(const RtPool *p0, const float *xc, float *yc, int nch, int oh0, int oh1) {
  const RtPool pv = *p0, *p = &pv;
  const int rs = (p->kh - 1) * p->dh + 1, wp = pool16_wp(p), nrun = POOL16_OW / p->OW;
  const int64_t xps = (int64_t)p->H * p->W, plane = (int64_t)p->OH * p->OW;
  __m512 ringv[POOL16_RING], orowv[POOL16_OW + 16]; /* vectors: 64-byte aligned */
  float *const ring = (float *)ringv, *const orow = (float *)orowv;
  const float *xs[16];
  __mmask16 nan = 0;
  RtRing g;
  int l, oh, srow = oh0; /* orow holds output rows [srow, oh] */
  for (l = 0; l < 16; l++)
    xs[l] = xc + (l < nch ? l : nch - 1) * xps;
  rt_ring_init(&g, ring, rs, wp, 16, p->pl, p->W, oh0 * p->sh - p->pt, -INFINITY);
  for (oh = oh0; oh < oh1; oh++) {
    const int base = oh * p->sh - p->pt, last = base + (p->kh - 1) * p->dh;
    const float *rows[16];
    rt_ring_row(&g, oh > oh0, p->sh, base);
    for (; g.next <= last; rt_ring_next(&g))
      nan = (__mmask16)(nan | pool16_row_in(p, xs, g.next, rt_ring_in(&g, ring), wp));
    rt_ring_rows(&g, ring, p->kh, p->dh, rows);
    pool16_out_row(p, rows, orow + (int64_t)(oh - srow) * p->OW * 16);
    if (oh + 1 == oh1 || oh + 1 - srow == nrun) { /* the run back into the planes */
      const int64_t px0 = (int64_t)srow * p->OW;
      const int npx = (oh + 1 - srow) * p->OW;
      int i;
      for (i = 0; i < npx; i += 16) {
        const int nl = npx - i < 16 ? npx - i : 16;
        const __mmask16 m = (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u);
        __m512 v[16];
        rt_tr16_load(orow + i * 16, v);
        for (l = 0; l < nch; l++)
          _mm512_mask_storeu_ps(yc + l * plane + px0 + i, m, v[l]);
      }
      srow = oh + 1;
    }
  }
  return nan != 0; /* lanes: columns of any plane (planes past nch repeat the last) */
}

/* Tasks: (sample, 16 planes, band of POOL16_BAND output rows). */
RT_HELPER void pool_max16(const RtPool *p, int n, const float *x, float *y) {
  const int ng = (p->C + 15) / 16, nb = (p->OH + POOL16_BAND - 1) / POOL16_BAND;
  const int64_t xplane = (int64_t)p->H * p->W, plane = (int64_t)p->OH * p->OW;
  const int64_t work = (int64_t)n * p->C * plane * p->kh * p->kw;
  int64_t t;
  (void)work; /* read only by the OpenMP pragmas */
  RT_PAR_FOR(work >= RT_PAR_MIN_WORK_CH / 4, static, t, (int64_t)n * ng * nb,
    const int bi = (int)(t % nb), g = (int)(t / nb % ng), ni = (int)(t / nb / ng), c = g * 16;
    const int oh0 = bi * POOL16_BAND, oh1 = p->OH - oh0 < POOL16_BAND ? p->OH : oh0 + POOL16_BAND;
    const int nch = p->C - c < 16 ? p->C - c : 16;
    const int64_t q0 = (int64_t)ni * p->C + c;
    if (pool16_group(p, x + q0 * xplane, y + q0 * plane, nch, oh0, oh1)) {
      int l, oh;
      for (l = 0; l < nch; l++) /* a NaN: torch's rule, tap by tap */
        for (oh = oh0; oh < oh1; oh++)
          pool_window_row(p, (q0 + l) * p->OH + oh, x, y, 0);
    }
  );
}

/* Output rows [oh0, oh1) (at most POOL_SEP_RB) of one plane.  prescan: look
 * for NaNs in the rows first (a pass that also brings cold rows in; the
 * rows of a fused conv are in L2, where the pass cost a third of the pool:
 * without it, the vertical pass notes NaNs as it loads and the rows are
 * redone NaN-aware if it saw one). */
RT_HELPER void pool_max_sep_rows(const RtPool *p0, int64_t plane, int oh0, int oh1, const float *x, float *y,
                                 int prescan) {
  const RtPool pv = *p0, *p = &pv;
  const float *xp = x + plane * p->H * p->W;
  float *yp = y + plane * p->OH * p->OW;
  /* input rows [r0, r1) feed this block's windows; hm row r - r0 holds row r */
  const int r0 = oh0 * p->sh - p->pt < 0 ? 0 : oh0 * p->sh - p->pt;
  const int r1e = (oh1 - 1) * p->sh - p->pt + p->kh, r1 = r1e < p->H ? r1e : p->H;
  const int nv = (p->OW + 15) / 16;
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  __mmask16 mk[POOL_SEP_W / 16][POOL_SEP_K][2];
  float hm[POOL_SEP_ROWS][POOL_SEP_W];
  int oh, i, j, v, r, exact;
  exact = prescan || p->pl > POOL_SEP_K ? pool_has_nan(xp + (int64_t)r0 * p->W, (int64_t)(r1 - r0) * p->W) : 0;
  if (!exact && p->pl <= POOL_SEP_K) {
    if (!pool_max_vfirst(p, xp, yp, oh0, oh1))
      return;
    exact = 1; /* a NaN in the windows: the rows again, NaN-aware */
  }
  for (v = 0; v < nv; v++)
    for (j = 0; j < p->kw; j++) {
      const int c = v * 16 * p->sw - p->pl + j;
      mk[v][j][0] = rt_lanes16(c, p->W);
      mk[v][j][1] = rt_lanes16(c + 16, p->W);
    }
  for (r = r0; r < r1; r++) { /* horizontal window maxima, taps in j order */
    const float *row = xp + (int64_t)r * p->W;
    if (!exact) { /* NaN-free: a plain running max */
      for (v = 0; v < nv; v++) {
        __m512 m = ninf;
        for (j = 0; j < p->kw; j++) {
          const float *src = row + (v * 16 * p->sw - p->pl + j);
          __m512 u = _mm512_mask_loadu_ps(ninf, mk[v][j][0], src);
          if (p->sw == 2)
            u = _mm512_permutex2var_ps(u, even, _mm512_mask_loadu_ps(ninf, mk[v][j][1], src + 16));
          m = _mm512_max_ps(m, u);
        }
        _mm512_storeu_ps(hm[r - r0] + v * 16, m);
      }
      continue;
    }
    for (v = 0; v < nv; v++) {
      PoolAcc a;
      a.m = a.nanv = ninf, a.nk = 0;
      for (j = 0; j < p->kw; j++) {
        const float *src = row + (v * 16 * p->sw - p->pl + j);
        __m512 u = _mm512_mask_loadu_ps(ninf, mk[v][j][0], src);
        if (p->sw == 2)
          u = _mm512_permutex2var_ps(u, even, _mm512_mask_loadu_ps(ninf, mk[v][j][1], src + 16));
        pool_acc(&a, u);
      }
      _mm512_storeu_ps(hm[r - r0] + v * 16, pool_acc_result(&a));
    }
  }
  for (oh = oh0; oh < oh1; oh++) { /* vertical: rows in i order */
    const int h0 = oh * p->sh - p->pt;
    float *yr = yp + (int64_t)oh * p->OW;
    int ilo, ihi;
    pool_taps(h0, p->kh, 1, p->H, &ilo, &ihi);
    for (v = 0; v < nv; v++) {
      const int nl = p->OW - v * 16 < 16 ? p->OW - v * 16 : 16;
      PoolAcc a;
      a.m = a.nanv = ninf, a.nk = 0;
      for (i = ilo; i < ihi; i++)
        pool_acc(&a, _mm512_loadu_ps(hm[h0 + i - r0] + v * 16));
      _mm512_mask_storeu_ps(yr + v * 16, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), pool_acc_result(&a));
    }
  }
}

/* Stride-1 max pooling that keeps the width (OW == W, dilation 1): output
 * q = oh*W + ow reads input q + (i - pt)*W + (j - pl), so a plane is one flat
 * run of vectors whatever its width; a tap's lanes outside the input (the
 * row above/below, or wrapping to the previous/next row) are masked to
 * -inf.  The masks depend on the shape only: computed once per task of
 * several planes.  Taps in (i, j) order with pool_acc, as the other forms. */
enum {
  POOL_FLAT_MASKS = 1024, /* vectors per plane x taps */
  POOL_FLAT_HM = 2048     /* floats: a plane of horizontal maxima + margins (8 KiB) */
};

/* Vectors of horizontal maxima the vertical taps read: the input rows up to
 * the last output row's last tap, which pass the output's rows when OH < H
 * (padding below smaller than kh - 1 - pt), and at least the output's. */
RT_INLINE int64_t pool_flat_hvec(const RtPool *p) {
  const int64_t last = (int64_t)p->OH - p->pt + p->kh - 1, rows = last < p->H ? last : p->H;
  const int64_t nin = (rows * p->W + 15) / 16, nvec = ((int64_t)p->OH * p->OW + 15) / 16;
  return nin > nvec ? nin : nvec;
}

RT_INLINE int pool_flat_ok(const RtPool *p) {
  const int64_t nvec = ((int64_t)p->OH * p->OW + 15) / 16;
  const int hoff = (p->kh * p->W + 15) / 16 * 16;
  return p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 && p->OW == p->W && p->kh <= POOL_SEP_K &&
         p->kw <= POOL_SEP_K && nvec * p->kh * p->kw <= POOL_FLAT_MASKS &&
         pool_flat_hvec(p) * p->kw <= POOL_FLAT_MASKS && 2 * hoff + pool_flat_hvec(p) * 16 <= POOL_FLAT_HM;
}

RT_INLINE int pool_flat_planes(const RtPool *p) { /* planes per task: ~32K outputs */
  const int per = 32768 / (p->OH * p->OW);
  return per < 1 ? 1 : per;
}

/* One NaN-free plane of pool_max_flat_task's 3-wide centred windows (kw 3,
 * pl 1): the vertical max of kh rows of each vector, then the horizontal taps
 * as lane shifts of it and its neighbours, all in registers.  A function of
 * its own: inlined into the task, whose mask setup keeps many values live,
 * gcc kept this loop's pointers in vector registers (GoogLeNet's 256x28x28
 * branch pool: 65.5 us inlined, 59 us so). */
RT_NOINLINE void pool_flat_c3(const RtPool *p, const float *xp, float *yp, const __mmask16 *rm,
                              const __mmask16 *cm, int nvec, int npix) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const int kh = p->kh;
  const float *x0 = xp - (int64_t)p->pt * p->W;
  __m512 prev = ninf, cur = ninf, next = ninf;
  int v, i;
  for (v = 0; v <= nvec; v++) {
    __m512 m = ninf;
    if (v < nvec) {
      const __mmask16 *r = rm + v * kh;
      const float *xv = x0 + v * 16;
      if (kh == 3) /* 3x3 pools: straight-line */
        m = _mm512_max_ps(_mm512_max_ps(_mm512_mask_loadu_ps(ninf, r[0], xv), _mm512_mask_loadu_ps(ninf, r[1], xv + p->W)),
                          _mm512_mask_loadu_ps(ninf, r[2], xv + 2 * p->W));
      else
        for (i = 0; i < kh; i++)
          m = _mm512_max_ps(m, _mm512_mask_loadu_ps(ninf, r[i], xv + (int64_t)i * p->W));
    }
    next = m;
    if (v > 0) {
      const int u = v - 1, nl = npix - u * 16 < 16 ? npix - u * 16 : 16;
      const __m512i pi = _mm512_castps_si512(prev), ci = _mm512_castps_si512(cur);
      const __m512 l = _mm512_castsi512_ps(_mm512_alignr_epi32(ci, pi, 15));
      const __m512 r = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), ci, 1));
      __m512 o = _mm512_max_ps(_mm512_mask_mov_ps(ninf, cm[u * 3], l), cur);
      o = _mm512_max_ps(o, _mm512_mask_mov_ps(ninf, cm[u * 3 + 2], r));
      _mm512_mask_storeu_ps(yp + u * 16, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), o);
    }
    prev = cur, cur = next;
  }
}

RT_HELPER void pool_max_flat_task(const RtPool *p0, int64_t t, int64_t nplanes, const float *x, float *y) {
  const RtPool pv = *p0, *p = &pv;
  const int npix = p->OH * p->OW, nvec = (npix + 15) / 16, taps = p->kh * p->kw, per = pool_flat_planes(p);
  const int nhv = (int)pool_flat_hvec(p), plane = p->H * p->W;
  const int64_t pl0 = t * per, pl1 = pl0 + per < nplanes ? pl0 + per : nplanes;
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  /* hm: a plane of horizontal maxima with kh rows of margin on both sides,
   * so the vertical taps' (masked-off) lanes stay inside the array */
  float hm[POOL_FLAT_HM];
  const int hoff = (p->kh * p->W + 15) / 16 * 16;
  __mmask16 mk[POOL_FLAT_MASKS], cm[POOL_FLAT_MASKS], rm[POOL_FLAT_MASKS];
  int v, i, j, l, c;
  int64_t q;
  for (v = 0; v < nvec && (v + 1) * taps <= POOL_FLAT_MASKS; v++) { /* lane l valid for tap (i, j) = row i & col j */
    unsigned rows[POOL_SEP_K] = {0}, cols[POOL_SEP_K] = {0};
    int oh = v * 16 / p->OW, ow = v * 16 % p->OW;
    for (l = 0; l < 16 && v * 16 + l < npix; l++) {
      for (i = 0; i < p->kh; i++)
        rows[i] |= (unsigned)(oh - p->pt + i >= 0 && oh - p->pt + i < p->H) << l;
      for (j = 0; j < p->kw; j++)
        cols[j] |= (unsigned)(ow - p->pl + j >= 0 && ow - p->pl + j < p->W) << l;
      if (++ow == p->OW)
        ow = 0, oh++;
    }
    for (i = 0; i < p->kh; i++) {
      rm[v * p->kh + i] = (__mmask16)rows[i];
      for (j = 0; j < p->kw; j++)
        mk[(v * p->kh + i) * p->kw + j] = (__mmask16)(rows[i] & cols[j]);
    }
    for (j = 0; j < p->kw; j++)
      cm[v * p->kw + j] = (__mmask16)cols[j];
  }
  /* the input rows below the last output row (OH < H) read by the vertical
   * taps: their column masks, from the vector holding pixel npix on (all its
   * lanes), lane l of vector v at column (16v + l) mod W (OW == W) */
  for (v = npix / 16, c = npix / 16 * 16 % p->W; v < nhv && (v + 1) * p->kw <= POOL_FLAT_MASKS; v++) {
    unsigned cols[POOL_SEP_K] = {0};
    for (l = 0; l < 16; l++) {
      for (j = 0; j < p->kw; j++)
        cols[j] |= (unsigned)(c - p->pl + j >= 0 && c - p->pl + j < p->W) << l;
      if (++c == p->W)
        c = 0;
    }
    for (j = 0; j < p->kw; j++)
      cm[v * p->kw + j] = (__mmask16)cols[j];
  }
  for (q = pl0; q < pl1; q++) {
    const float *xp = x + q * p->H * p->W;
    float *yp = y + q * npix;
    const int nan_free = !pool_has_nan(xp, plane); /* the whole input plane (OH > H reads less) */
    if (nan_free && p->kw == 3 && p->pl == 1) {
      /* NaN-free 3-wide windows centred on their column (GoogLeNet's 3x3/1
       * branch pools): the vertical max of kh rows of each vector, then the
       * horizontal taps as lane shifts of it and its neighbours, all in
       * registers (max is exact: same result).  The form below stores the
       * row maxima and reloads them one lane off (store-forwarding stalls):
       * 15-25% slower on those pools. */
      pool_flat_c3(p, xp, yp, rm, cm, nvec, npix);
      continue;
    }
    if (nan_free) {
      /* separable and NaN-free: horizontal maxima of every row, then the
       * vertical max of kh of them (max is exact: same result) */
      for (v = 0; v < nhv && (v + 1) * p->kw <= POOL_FLAT_MASKS && hoff + (v + 1) * 16 <= POOL_FLAT_HM; v++) {
        const int left = plane - v * 16; /* input lanes of this vector (none past the plane when OH > H) */
        const __mmask16 in = (__mmask16)(left >= 16 ? 0xFFFF : left <= 0 ? 0 : (1u << left) - 1u);
        __m512 m = ninf;
        for (j = 0; j < p->kw; j++)
          m = _mm512_max_ps(m, _mm512_mask_loadu_ps(ninf, (__mmask16)(cm[v * p->kw + j] & in), xp + v * 16 + j - p->pl));
        _mm512_storeu_ps(hm + hoff + v * 16, m);
      }
      for (v = 0; v < nvec; v++) {
        const int nl = npix - v * 16 < 16 ? npix - v * 16 : 16;
        __m512 m = ninf;
        for (i = 0; i < p->kh; i++)
          m = _mm512_max_ps(m, _mm512_mask_loadu_ps(ninf, rm[v * p->kh + i], hm + hoff + v * 16 + (i - p->pt) * p->W));
        _mm512_mask_storeu_ps(yp + v * 16, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), m);
      }
      continue;
    }
    for (v = 0; v < nvec; v++) {
      const int nl = npix - v * 16 < 16 ? npix - v * 16 : 16;
      const __mmask16 *m = mk + v * taps;
      PoolAcc a;
      a.m = a.nanv = ninf, a.nk = 0;
      for (i = 0; i < p->kh; i++)
        for (j = 0; j < p->kw; j++) {
          const int off = v * 16 + (i - p->pt) * p->W + (j - p->pl);
          pool_acc(&a, _mm512_mask_loadu_ps(ninf, m[i * p->kw + j], xp + off));
        }
      _mm512_mask_storeu_ps(yp + v * 16, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), pool_acc_result(&a));
    }
  }
}

RT_HELPER void pool_max_flat(const RtPool *p, int n, const float *x, float *y) {
  const int64_t nplanes = (int64_t)n * p->C, per = pool_flat_planes(p), ntask = (nplanes + per - 1) / per;
  int64_t t;
  RT_PAR_FOR(nplanes * p->OH * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK_CH, static, t, ntask, pool_max_flat_task(p, t, nplanes, x, y););
}

/* Max pooling of narrow planes (10 <= W <= 128: a row is at most eight vectors) with
 * square 3x3 or 2x2 windows, strides 1 and 2 (the same both ways), dilation
 * 1: each input row is loaded once (lanes past W -inf), its horizontal
 * window maxima computed in registers (stride 1: the neighbours as lane
 * shifts; stride 2: even and odd columns deinterleaved, the third tap the
 * even ones shifted) into a ring of four rows (rows outside the input -inf),
 * and an output row is the vertical max of k ring rows.  GoogLeNet's 3x3/1
 * branch pools on 192 x 28 x 28: 37 us in the 16-plane form (transposes both
 * ways), 44 us in the flat one (masks per tap); this form loads and stores
 * each row once; 56 -> 28 on 192 planes 86 -> 46 us, 2x2/2 on 64 x 64 x 64
 * 29 -> 14 us.  Under 10 columns the flat form (rows packed into vectors)
 * stays faster (7 x 7: 7.4 vs 9.9 us for 512 planes).  Planes whose rows
 * read a NaN are redone by pool_window_row (torch's rule); otherwise max is
 * exact and the order of the taps does not matter.
 *
 * pool_rv_ld: input vector u of a row of W columns, lanes past W -inf. */
RT_INLINE __m512 pool_rv_ld(const float *xr, int W, int u) {
  const int left = W - 16 * u;
  if (left <= 0)
    return _mm512_set1_ps(-INFINITY);
  return _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1u),
                              xr + 16 * u);
}

/* Horizontal maxima of one input row xr (W <= 16 nv columns) into h[0, nh)
 * (nh = nv at stride 1, (nv + 1) / 2 at 2); returns the lanes that loaded a
 * NaN.  The row's vectors roll through registers, each loaded once; nv, sw
 * and kw are constants after inlining (the loops unrolled), pl (0 or 1 at
 * stride 2) is not. */
RT_INLINE __mmask16 pool_rv_row(const float *xr, int W, const int nv, const int sw, const int kw, int pl, __m512 *h) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  __mmask16 nan = 0;
  int u;
  if (sw == 1) {
    __m512 prev = ninf, cur = pool_rv_ld(xr, W, 0);
    for (u = 0; u < nv; u++) {
      const __m512 next = pool_rv_ld(xr, W, u + 1);
      const __m512i c = _mm512_castps_si512(cur);
      __m512 m = _mm512_max_ps(cur, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), c, 1)));
      if (kw == 3) /* pl 1: x[o-1], x[o], x[o+1] */
        m = _mm512_max_ps(_mm512_castsi512_ps(_mm512_alignr_epi32(c, _mm512_castps_si512(prev), 15)), m);
      nan = (__mmask16)(nan | _mm512_cmp_ps_mask(cur, cur, _CMP_UNORD_Q));
      h[u] = m, prev = cur, cur = next;
    }
  } else {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 a = pool_rv_ld(xr, W, 0), b = pool_rv_ld(xr, W, 1), oprev = ninf;
    for (u = 0; u < (nv + 1) / 2; u++) { /* columns 32u + 2l (e) and 32u + 2l + 1 (o) */
      const __m512 a2 = pool_rv_ld(xr, W, 2 * u + 2), b2 = pool_rv_ld(xr, W, 2 * u + 3);
      const __m512 e = _mm512_permutex2var_ps(a, ie, b), o = _mm512_permutex2var_ps(a, io, b);
      const __m512i ei = _mm512_castps_si512(e), oi = _mm512_castps_si512(o);
      __m512 m = _mm512_max_ps(e, o);
      if (kw == 3) /* pl 0: columns 2o, 2o+1, 2o+2 (e one lane on, a2's first); pl 1: 2o-1, 2o, 2o+1 (o one
                    * lane back, the previous o's last) */
        m = _mm512_max_ps(m, _mm512_castsi512_ps(pl ? _mm512_alignr_epi32(oi, _mm512_castps_si512(oprev), 15)
                                                    : _mm512_alignr_epi32(_mm512_castps_si512(a2), ei, 1)));
      nan = (__mmask16)(nan | _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q));
      h[u] = m, oprev = o, a = a2, b = b2;
    }
  }
  return nan;
}

/* Output rows [oh0, oh1) of one plane; nonzero when the rows read a NaN (y
 * is then not torch's).  Input rows outside the image are -inf ring rows. */
RT_INLINE int pool_rv_rows(const RtPool *p, const float *xp, float *yp, int oh0, int oh1, const int nv, const int s,
                           const int k) {
  const __m512 ninf = _mm512_set1_ps(-INFINITY);
  const int nh = s == 1 ? nv : (nv + 1) / 2, no = (p->OW + 15) / 16, H = p->H, W = p->W, OW = p->OW, pl = p->pl;
  const __mmask16 sm = (__mmask16)(OW % 16 ? (1u << OW % 16) - 1u : 0xFFFF); /* the last output vector */
  __m512 ring[4][POOL_RV_NV];
  __mmask16 nan = 0;
  int oh, r = oh0 * s - p->pt, u;
  for (oh = oh0; oh < oh1; oh++) {
    const int r0 = oh * s - p->pt;
    float *yr = yp + (int64_t)oh * OW;
    for (; r < r0 + k; r++) {
      __m512 *h = ring[r & 3];
      if (r >= 0 && r < H)
        nan = (__mmask16)(nan | pool_rv_row(xp + (int64_t)r * W, W, nv, s, k, pl, h));
      else
        for (u = 0; u < nh; u++)
          h[u] = ninf;
    }
    for (u = 0; u < nh; u++) {
      __m512 m = _mm512_max_ps(ring[r0 & 3][u], ring[(r0 + 1) & 3][u]);
      if (k == 3)
        m = _mm512_max_ps(m, ring[(r0 + 2) & 3][u]);
      if (u < no)
        _mm512_mask_storeu_ps(yr + 16 * u, u + 1 < no ? (__mmask16)0xFFFF : sm, m);
    }
  }
  return nan != 0;
}

/* Instances: rows of up to 16, 32, 64 or 128 columns (the vectors past W are
 * -inf, cheap next to more instances: each costs the generated code's
 * compile ~20 ms); 3x3/1 pad 1, 3x3/2 pad 0 or 1, 2x2/2. */
#define POOL_RV_FORMS(X, i, nv) X(i, nv, 1, 3) X(i + 1, nv, 2, 3) X(i + 2, nv, 2, 2)
#define POOL_RV_NVS(X) POOL_RV_FORMS(X, 0, 1) POOL_RV_FORMS(X, 3, 2) POOL_RV_FORMS(X, 6, 4) POOL_RV_FORMS(X, 9, 8)
#define POOL_RV_DEF(i, nv, sw, kw)                                                                         \
  RT_NOINLINE int pool_rv_##nv##_##sw##kw(const RtPool *p, const float *xp, float *yp, int oh0, int oh1) { \
    return pool_rv_rows(p, xp, yp, oh0, oh1, nv, sw, kw);                                               \
  }
POOL_RV_NVS(POOL_RV_DEF)
#undef POOL_RV_DEF

typedef int (*PoolRvFn)(const RtPool *p, const float *xp, float *yp, int oh0, int oh1);

#ifndef RT_POOL_RV_USE
#define RT_POOL_RV_USE 0xFFF /* the instances code may call (bit rt_maxpool2d_form - 1): all */
#endif

/* The instance for p's form; NULL if the code was built without it (cnnc
 * defines RT_POOL_RV_USE to the model's forms: each instance compiled is
 * ~20 ms of the model's compile; the golden tests build with
 * RT_POOL_RV_CHECK, which traps on a form left out). */
RT_HELPER PoolRvFn pool_rv_fn(const RtPool *p) {
  const int form = rt_maxpool2d_form(p);
  /* a constant condition per instance: the ones left out are never compiled */
#define POOL_RV_PICK(i, nv_, sw_, kw_)                                                                     \
  if (((RT_POOL_RV_USE) >> (i) & 1) && form == (i) + 1)                                                  \
    return pool_rv_##nv_##_##sw_##kw_;
  POOL_RV_NVS(POOL_RV_PICK)
#undef POOL_RV_PICK
#ifdef RT_POOL_RV_CHECK /* tests: cnnc's RT_POOL_RV_USE must hold every form the model calls */
  if (form > 0)
    __builtin_trap();
#endif
  return NULL;
}

/* Each thread a contiguous share of the planes, from a quarter of the usual
 * work (as pool_max16): GoogLeNet's 480 x 14 x 14 branch pools (0.85 M
 * window taps) had stayed on one thread. */
RT_HELPER void pool_max_rv(const RtPool *p, PoolRvFn fn, int n, const float *x, float *y) {
  const int64_t nplanes = (int64_t)n * p->C, xplane = (int64_t)p->H * p->W, plane = (int64_t)p->OH * p->OW;
  RT_PAR_RANGE(nplanes * plane * p->kh * p->kw >= RT_PAR_MIN_WORK_CH / 4, nplanes, q0, q1,
    int64_t q;
    for (q = q0; q < q1; q++)
      if (fn(p, x + q * xplane, y + q * plane, 0, p->OH)) {
        int oh;
        for (oh = 0; oh < p->OH; oh++) /* a NaN: torch's rule, tap by tap */
          pool_window_row(p, q * p->OH + oh, x, y, 0);
      }
  );
}

RT_HELPER void pool_max_vec(const RtPool *p, int n, const float *x, float *y) {
  const int64_t ntask = (int64_t)n * p->C * p->OH;
  int64_t t;
  RT_PAR_FOR(ntask * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK_CH, static, t, ntask, pool_max_task(p, t, x, y););
}
#endif

/* kind 0 max, 1 avg, 2 Lp: output row t (row t % OH of plane t / OH).
 * Columns whose window lies inside the input horizontally are computed tap by
 * tap across the row (independent lanes, vectorizable, no per-column range);
 * the few border columns one by one.  Either way an output's terms are
 * combined in (i, j) order.  This is the reference form: the SIMD max paths
 * give the same maxima, and run it for planes that hold a NaN. */
RT_HELPER void pool_window_row(const RtPool *p, int64_t t, const float *x, float *y, int kind) {
  const float pw = p->norm;
  /* interior columns [ow_a, ow_b): w0 = ow*sw - pl >= 0 and the last tap < W */
  const int last = p->W - 1 + p->pl - (p->kw - 1) * p->dw;
  const int ow_a0 = p->pl > 0 ? (p->pl + p->sw - 1) / p->sw : 0;
  const int ow_b0 = last < 0 ? 0 : last / p->sw + 1;
  const int ow_b = ow_b0 < p->OW ? ow_b0 : p->OW;
  const int ow_a = ow_a0 < ow_b ? ow_a0 : ow_b;
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

/* One task = one output row of one plane. */
RT_HELPER void pool_window(const RtPool *p, int n, const float *x, float *y, int kind) {
  const int64_t ntask = (int64_t)n * p->C * p->OH;
  int64_t t;
  RT_PAR_FOR(ntask * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK_CH, static, t, ntask, pool_window_row(p, t, x, y, kind););
}

#if !defined(__AVX512F__) && defined(__AVX2__)
/* AVX2 max pooling (dilation 1, stride 1 or 2 along W, any stride along H),
 * 8 lanes.  One task = POOL_SEP_RB output rows of one plane.  Per output row,
 * vertical first: P[pl + c] = the max of the window's input rows at column c
 * (full-width vectors; -inf in the padding columns and past the input, so
 * borders and ceil_mode windows need no scalar path), then the horizontal
 * max along P: stride 1 reads P at the kw offsets, stride 2 does the same for
 * 16 columns and keeps the even ones.  max is exact, so NaN-free planes get
 * the scalar path's maxima (up to the sign of a zero).  A block whose input
 * rows hold a NaN runs the scalar pool_window_row instead, which defines the
 * NaN semantics (the last NaN of a window in (i, j) order). */
enum {
  POOL_SEP_RB = 8,       /* output rows per task */
  POOL_A2_P = 1024 + 64  /* floats of the padded row P (4.25 KiB of stack) */
};

/* Columns of P the row needs: the input at [pl, pl + W) rounded up to whole
 * vectors, and the horizontal taps' reads. */
RT_INLINE int pool_a2_cols(const RtPool *p) {
  const int nv = (p->OW + 7) / 8;
  const int wr = p->pl + (p->W + 7) / 8 * 8, rd = p->sw * 8 * nv + p->kw;
  return ((wr > rd ? wr : rd) + 7) / 8 * 8;
}

RT_INLINE int pool_sep_ok(const RtPool *p) {
  return p->dh == 1 && p->dw == 1 && (p->sw == 1 || p->sw == 2) && p->kw <= 16 && p->pl <= 16 &&
         p->W <= 1024 && pool_a2_cols(p) <= POOL_A2_P;
}

/* Whether any of x[0..count) is NaN. */
RT_INLINE int pool_has_nan(const float *x, int64_t count) {
  __m256 k0 = _mm256_setzero_ps(), k1 = k0;
  int64_t i;
  for (i = 0; i + 16 <= count; i += 16) {
    const __m256 u = _mm256_loadu_ps(x + i), v = _mm256_loadu_ps(x + i + 8);
    k0 = _mm256_or_ps(k0, _mm256_cmp_ps(u, u, _CMP_UNORD_Q));
    k1 = _mm256_or_ps(k1, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  for (; i < count; i++)
    if (x[i] != x[i])
      return 1;
  return _mm256_movemask_ps(_mm256_or_ps(k0, k1)) != 0;
}

/* P[pl + c] = max of the nr rows from x0 at column c, c < W rounded up to
 * whole vectors (lanes past the input -inf).  NR: nr as a constant (0: not). */
RT_INLINE void pool_vrow(float *P, const float *x0, int nr, int W, __m256i lm, const int NR) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  const int wq = W & ~7, n = NR ? NR : nr;
  int q, i;
  for (q = 0; q < wq; q += 8) {
    __m256 a = _mm256_loadu_ps(x0 + q);
    for (i = 1; i < n; i++)
      a = _mm256_max_ps(a, _mm256_loadu_ps(x0 + (int64_t)i * W + q));
    _mm256_storeu_ps(P + q, a);
  }
  if (wq < W && W >= 8) { /* the last 8 columns, overlapping */
    __m256 a = _mm256_loadu_ps(x0 + W - 8);
    for (i = 1; i < n; i++)
      a = _mm256_max_ps(a, _mm256_loadu_ps(x0 + (int64_t)i * W + W - 8));
    _mm256_storeu_ps(P + W - 8, a);
  } else if (wq < W) { /* lanes past the input load 0 and become -inf */
    __m256 a = _mm256_maskload_ps(x0 + wq, lm);
    for (i = 1; i < n; i++)
      a = _mm256_max_ps(a, _mm256_maskload_ps(x0 + (int64_t)i * W + wq, lm));
    _mm256_storeu_ps(P + wq, _mm256_blendv_ps(ninf, a, _mm256_castsi256_ps(lm)));
  }
}

/* One output row from its vertical maxima P (padded as pool_a2_cols says). */
RT_INLINE void pool_hrow(const RtPool *p, const float *P, float *yr) {
  const int nv = (p->OW + 7) / 8;
  int v, j;
  for (v = 0; v < nv; v++) {
    /* a partial last vector ends at OW instead, overlapping the previous
     * (masked stores are slow on AMD) */
    const int ow0 = v < nv - 1 || p->OW < 8 ? 8 * v : p->OW - 8;
    __m256 a;
    if (p->sw == 1) {
      a = _mm256_loadu_ps(P + ow0);
      for (j = 1; j < p->kw; j++)
        a = _mm256_max_ps(a, _mm256_loadu_ps(P + ow0 + j));
    } else {
      const float *s = P + 2 * ow0;
      __m256 e = _mm256_loadu_ps(s), o = _mm256_loadu_ps(s + 8);
      for (j = 1; j < p->kw; j++) {
        e = _mm256_max_ps(e, _mm256_loadu_ps(s + j));
        o = _mm256_max_ps(o, _mm256_loadu_ps(s + 8 + j));
      }
      /* even columns of e:o: [e0 e2 o0 o2 | e4 e6 o4 o6], then 64-bit lanes 0 2 1 3 */
      a = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(e, o, 0x88)), 0xD8));
    }
    if (p->OW >= 8)
      _mm256_storeu_ps(yr + ow0, a);
    else
      rt_store8_n(yr, a, p->OW);
  }
}

/* Output rows [oh0, oh1) of one plane.  Two P rows in turn: the horizontal
 * pass of row oh - 1 runs after the vertical pass of row oh, so its loads
 * (one or two lanes off the stores) find P's stores committed instead of
 * stalling on store forwarding (measured 1.4-1.8x slower with one P). */
RT_HELPER void pool_max_sep_rows(const RtPool *p0, int64_t plane, int oh0, int oh1, const float *x, float *y,
                                 int prescan) {
  const RtPool pv = *p0, *p = &pv; /* private: stores to y cannot alias it */
  const float *xp = x + plane * p->H * p->W;
  float *yp = y + plane * p->OH * p->OW;
  (void)prescan; /* always: the AVX2 form has no NaN-noting pass */
  /* input rows [r0, r1) feed this block's windows */
  const int r0 = oh0 * p->sh - p->pt < 0 ? 0 : oh0 * p->sh - p->pt;
  const int r1e = (oh1 - 1) * p->sh - p->pt + p->kh, r1 = r1e < p->H ? r1e : p->H;
  const int np = pool_a2_cols(p), pl = p->pl, W = p->W;
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i lm = _mm256_cmpgt_epi32(_mm256_set1_epi32(W - (W & ~7)), iota);       /* input tail lanes */
  float P[2][POOL_A2_P];
  int oh, q;
  if (r1 > r0 && pool_has_nan(xp + (int64_t)r0 * W, (int64_t)(r1 - r0) * W)) {
    for (oh = oh0; oh < oh1; oh++)
      pool_window_row(p, plane * p->OH + oh, x, y, 0);
    return;
  }
  for (q = 0; q < np; q += 8) { /* padding columns stay -inf */
    _mm256_storeu_ps(P[0] + q, ninf);
    _mm256_storeu_ps(P[1] + q, ninf);
  }
  for (oh = oh0; oh <= oh1; oh++) {
    if (oh < oh1) {
      const int h0 = oh * p->sh - p->pt;
      float *pr = P[oh & 1] + pl;
      int ilo, ihi;
      pool_taps(h0, p->kh, 1, p->H, &ilo, &ihi);
      if (ihi > ilo) {
        const float *x0 = xp + (int64_t)(h0 + ilo) * W;
        switch (ihi - ilo) {
        case 1: pool_vrow(pr, x0, 1, W, lm, 1); break;
        case 2: pool_vrow(pr, x0, 2, W, lm, 2); break;
        case 3: pool_vrow(pr, x0, 3, W, lm, 3); break;
        default: pool_vrow(pr, x0, ihi - ilo, W, lm, 0); break;
        }
      } else { /* no input row: the whole row is padding */
        for (q = 0; q < W; q += 8)
          _mm256_storeu_ps(pr + q, ninf);
      }
    }
    if (oh > oh0)
      pool_hrow(p, P[(oh - 1) & 1], yp + (int64_t)(oh - 1) * p->OW);
  }
}

/* 3-wide max pooling centred on its column that keeps the width (stride 1,
 * dilation 1, kw 3, pl 1, OW == W: GoogLeNet's 3x3/1 branch pools).  Output
 * q = oh*W + ow reads input q + (i - pt)*W + j - 1, so a plane is one flat
 * run of 8-lane vectors whatever its width: the vertical max of kh rows of
 * each vector (taps outside the plane -inf), then the left and right taps as
 * lane shifts of it and its neighbours in registers (a stored row reloaded
 * one lane off stalls store forwarding), masked to -inf in the first and
 * last columns.  The column masks depend on the shape only: built once per
 * task of several planes.  Planes with a NaN run pool_window_row. */
enum { POOL_FLAT_V = 128 /* vectors per plane */ };

RT_INLINE int pool_flat_ok(const RtPool *p) {
  return p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 && p->kw == 3 && p->pl == 1 && p->OW == p->W &&
         ((int64_t)p->OH * p->OW + 7) / 8 <= POOL_FLAT_V;
}

RT_INLINE int pool_flat_planes(const RtPool *p) { /* planes per task: ~32K outputs */
  const int per = 32768 / (p->OH * p->OW);
  return per < 1 ? 1 : per;
}

/* The vertical max of vector q0 (8 outputs from flat index q0). */
RT_INLINE __m256 pool_flat_col(const RtPool *p, const float *xp, int q0, int npin) {
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  __m256 m = ninf;
  int i;
  for (i = 0; i < p->kh; i++) {
    const int b = q0 + (i - p->pt) * p->W;
    if (b >= 0 && b + 8 <= npin) {
      m = _mm256_max_ps(m, _mm256_loadu_ps(xp + b));
    } else if (b + 8 > 0 && b < npin) { /* lanes in [0, npin) only: no read outside the plane */
      const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
      const __m256i k = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(npin - b), iota),
                                         _mm256_cmpgt_epi32(iota, _mm256_set1_epi32(-b - 1)));
      m = _mm256_max_ps(m, _mm256_blendv_ps(ninf, _mm256_maskload_ps(xp + b, k), _mm256_castsi256_ps(k)));
    }
  }
  return m;
}

RT_HELPER void pool_max_flat_task(const RtPool *p0, int64_t t, int64_t nplanes, const float *x, float *y) {
  const RtPool pv = *p0, *p = &pv;
  const int npix = p->OH * p->OW, npin = p->H * p->W, nvec = (npix + 7) / 8, per = pool_flat_planes(p);
  const int64_t pl0 = t * per, pl1 = pl0 + per < nplanes ? pl0 + per : nplanes;
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  /* lane masks (-1 / 0): column > 0 (left tap inside), column < W - 1 (right) */
  int32_t lm[POOL_FLAT_V * 8], rm[POOL_FLAT_V * 8];
  const int nl = nvec < POOL_FLAT_V ? nvec * 8 : POOL_FLAT_V * 8; /* (pool_flat_ok: nvec <= POOL_FLAT_V) */
  int64_t q;
  int v, l, col = 0;
  for (l = 0; l < nl; l++) {
    lm[l] = col > 0 ? -1 : 0;
    rm[l] = col < p->W - 1 ? -1 : 0;
    if (++col == p->W)
      col = 0;
  }
  for (q = pl0; q < pl1; q++) {
    const float *xp = x + q * npin;
    float *yp = y + q * npix;
    __m256 prev = ninf, cur, next;
    if (pool_has_nan(xp, npin)) {
      int oh;
      for (oh = 0; oh < p->OH; oh++)
        pool_window_row(p, q * p->OH + oh, x, y, 0);
      continue;
    }
    cur = pool_flat_col(p, xp, 0, npin);
    for (v = 0; v < nvec; v++) {
      __m256 left, right, o;
      next = v + 1 < nvec ? pool_flat_col(p, xp, 8 * (v + 1), npin) : ninf;
      /* left = [prev7 cur0..cur6], right = [cur1..cur7 next0]: per 128-bit
       * half, byte shifts of (cur, prev:cur halves) and (cur:next halves, cur) */
      left = _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(cur),
                                                    _mm256_castps_si256(_mm256_permute2f128_ps(prev, cur, 0x21)), 12));
      right = _mm256_castsi256_ps(_mm256_alignr_epi8(_mm256_castps_si256(_mm256_permute2f128_ps(cur, next, 0x21)),
                                                     _mm256_castps_si256(cur), 4));
      o = _mm256_max_ps(cur, _mm256_blendv_ps(ninf, left, _mm256_loadu_ps((const float *)(lm + 8 * v))));
      o = _mm256_max_ps(o, _mm256_blendv_ps(ninf, right, _mm256_loadu_ps((const float *)(rm + 8 * v))));
      if (v < nvec - 1 || npix % 8 == 0)
        _mm256_storeu_ps(yp + 8 * v, o);
      else
        rt_store8_n(yp + 8 * v, o, npix % 8);
      prev = cur, cur = next;
    }
  }
}

RT_HELPER void pool_max_flat(const RtPool *p, int n, const float *x, float *y) {
  const int64_t nplanes = (int64_t)n * p->C, per = pool_flat_planes(p), ntask = (nplanes + per - 1) / per;
  int64_t t;
  RT_PAR_FOR(nplanes * p->OH * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK_CH, static, t, ntask, pool_max_flat_task(p, t, nplanes, x, y););
}
#endif

#if defined(__AVX512F__) || defined(__AVX2__)
RT_HELPER void pool_max_sep(const RtPool *p, int n, const float *x, float *y) {
  const int nrb = (p->OH + POOL_SEP_RB - 1) / POOL_SEP_RB;
  const int64_t ntask = (int64_t)n * p->C * nrb, work = ntask * POOL_SEP_RB * p->OW * p->kh * p->kw;
  const int par = work >= RT_PAR_MIN_WORK_CH;
  int64_t t;
  (void)par; /* read only by the OpenMP pragmas */
#ifdef _OPENMP
  if (work >= RT_PAR_MIN_WORK_CH / 4 && rt_split_pixels((int64_t)p->OH * p->OW, 0, 1)) {
    /* each thread a band of output rows of every plane (see rt_split_pixels:
     * the convs around it split by rows too), from a quarter of the usual
     * work: left serial, a pool read half its input from the other core
     * (SqueezeNet's 55x55 -> 27x27 pool at 2 threads took 1.06-1.14x its
     * 1-thread time, split by rows 0.6-0.9 depending on the host's load) */
    RT_PAR_RANGE(1, (int64_t)n * p->OH, r0, r1,
      int64_t r = r0;
      while (r < r1) {
        const int64_t ni = r / p->OH;
        const int a = (int)(r % p->OH), e = r1 - r < p->OH - a ? a + (int)(r1 - r) : p->OH;
        int c, o;
        for (c = 0; c < p->C; c++)
          for (o = a; o < e; o += POOL_SEP_RB)
            pool_max_sep_rows(p, ni * p->C + c, o, e - o < POOL_SEP_RB ? e : o + POOL_SEP_RB, x, y, 1);
        r += e - a;
      }
    );
    return;
  }
#endif
  RT_PAR_FOR(par, static, t, ntask,
    const int oh0 = (int)(t % nrb) * POOL_SEP_RB;
    pool_max_sep_rows(p, t / nrb, oh0, p->OH - oh0 < POOL_SEP_RB ? p->OH : oh0 + POOL_SEP_RB, x, y, 1);
  );
}

#endif

RT_FN void rt_maxpool2d_rows(const RtPool *p, const float *xp, float *yp, int oh0, int oh1) {
  int oh;
#if defined(__AVX512F__)
  {
    const PoolRvFn fn = pool_rv_fn(p);
    if (fn && !fn(p, xp, yp, oh0, oh1))
      return; /* NaN-free; else the rows again below, NaN-aware */
  }
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
  if (pool_sep_ok(p)) {
    for (oh = oh0; oh < oh1; oh += POOL_SEP_RB)
      pool_max_sep_rows(p, 0, oh, oh1 - oh < POOL_SEP_RB ? oh1 : oh + POOL_SEP_RB, xp, yp, 0);
    return;
  }
#endif
#if defined(__AVX512F__)
  if (p->sw <= 2) {
    for (oh = oh0; oh < oh1; oh++)
      pool_max_task(p, oh, xp, yp);
    return;
  }
#endif
  for (oh = oh0; oh < oh1; oh++)
    pool_window_row(p, oh, xp, yp, 0);
}

RT_FN void rt_maxpool2d(const RtPool *p, int n, const float *x, float *y) {
#if defined(__AVX512F__)
  const PoolRvFn fn = pool_rv_fn(p);
  if (fn) {
    pool_max_rv(p, fn, n, x, y);
    return;
  }
  if (pool16_use(p)) {
    pool_max16(p, n, x, y);
    return;
  }
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
  if (pool_flat_ok(p)) {
    pool_max_flat(p, n, x, y);
    return;
  }
  if (pool_sep_ok(p)) {
    pool_max_sep(p, n, x, y);
    return;
  }
#endif
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

  RT_PAR_FOR((int64_t)n * C * H * W >= RT_PAR_MIN_WORK, static, t, ntask,
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
  );
}

RT_FN void rt_global_avgpool(int n, int C, int HW, const float *x, float *y) {
  rt_reduce_mean((int64_t)n * C, HW, 1, x, y);
}

RT_FN void rt_reduce_mean(int64_t outer, int64_t red, int64_t inner, const float *x, float *y) {
  int64_t o;
  if (inner == 1) {
    RT_PAR_FOR(outer * red * inner >= RT_PAR_MIN_WORK, static, o, outer, y[o] = pool_sum(x + o * red, red) / (float)red;);
    return;
  }
  /* Strided case: accumulate whole rows so the inner loop is contiguous; the
   * sum of each output still runs over r = 0, 1, ... in order. */
  RT_PAR_FOR(outer * red * inner >= RT_PAR_MIN_WORK, static, o, outer,
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
  );
}
