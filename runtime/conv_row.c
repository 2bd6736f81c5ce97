/* conv_row.c - direct convolution with vectors along the output row (AVX-512).
 *
 * For convs with few output channels or few output pixels (LeNet-style
 * 5x5 convs on 28x28 maps, 1-D convs over short sequences), im2col + GEMM
 * spends more time packing than multiplying, and the transforms of
 * Winograd/FFT dominate.  Here a register tile holds KB (<= 8) output
 * channels x 16*NV (NV <= 2) consecutive output columns of one output row;
 * for every tap (c, i, j) the input row segment is read with masked vector
 * loads (lanes outside the input read as the zero padding, nothing is
 * copied) and multiplied by each channel's broadcast weight.
 *
 * Applies to groups == 1, stride 1 along W (any stride along H, any
 * dilation), kernel widths up to CROW_KWMAX; rt_conv2d_rows returns 0 for
 * anything else (and in builds without AVX-512 or AVX2+FMA), and the caller
 * then runs the portable direct conv.  AVX2 builds use a smaller tile (4
 * channels x 16 columns) and only where rt_conv2d is asked for the direct
 * algorithm: rt_conv2d_rows_applies, which the cost model and the C
 * backend's direct convs follow, stays AVX-512 only.
 *
 * Guarantees: one task per (sample, channel block, output row) owns its
 * outputs; each output is bias + res + the taps summed in (c, i, j) order,
 * so results do not depend on the thread count.  No heap, no globals; the
 * stack holds the masks (2 * CROW_KWMAX bytes).
 */
#include "cnnc_rt.h"

enum { CROW_KWMAX = 32 };

#if defined(__AVX512F__)
#include <immintrin.h>

#define CROW_K8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* The register tile: KB channels starting at k0 x 16*NV columns from ow0 of
 * output row oh of one sample (xn: its input, yn: its output).  KB and NV are
 * constants at every call site, so the unused accumulators vanish. */
RT_INLINE void crow_tile(const RtConv *p, const float *xn, const float *w, const float *b, const float *res,
                         float *yn, int k0, int oh, int ow0, const __mmask16 (*m)[2], const int KB, const int NV,
                         const int RP) {
  const int64_t taps = (int64_t)p->C * p->kh * p->kw, plane = (int64_t)p->H * p->W;
  const float *wk = w + (int64_t)k0 * taps;
  int c, i, j;
#define CROW_DECL(k) __m512 a##k##0 = _mm512_setzero_ps(), a##k##1 = a##k##0;
  CROW_K8(CROW_DECL)
#undef CROW_DECL
  for (c = 0; c < p->C; c++) {
    const float *xc = xn + (int64_t)c * plane;
    const float *wc = wk + (int64_t)c * p->kh * p->kw;
    for (i = 0; i < p->kh; i++) {
      /* RP: the second vector is output row oh + 1 (input row ih + sh) */
      const int ih = oh * p->sh - p->pt + i * p->dh, ih1 = ih + p->sh;
      const int ok0 = ih >= 0 && ih < p->H;
      const int ok1 = RP ? oh + 1 < p->OH && ih1 >= 0 && ih1 < p->H : ok0;
      const __mmask16 z0 = (__mmask16)(ok0 ? 0xFFFF : 0), z1 = (__mmask16)(ok1 ? 0xFFFF : 0);
      const float *xr, *xr1;
      if (!ok0 && !ok1)
        continue;
      xr = xc + (int64_t)(ok0 ? ih : ih1) * p->W;
      xr1 = RP ? xc + (int64_t)(ok1 ? ih1 : ih) * p->W : xr + 16;
      for (j = 0; j < p->kw; j++) {
        const int s = ow0 - p->pl + j * p->dw; /* input column of lane 0 */
        const float *wt = wc + i * p->kw + j;
        const __m512 x0 = _mm512_maskz_loadu_ps((__mmask16)(m[j][0] & z0), xr + s);
        const __m512 x1 = NV > 1 ? _mm512_maskz_loadu_ps((__mmask16)(m[j][RP ? 0 : 1] & z1), xr1 + s) : x0;
#define CROW_FMA(k)                                                                                        \
  if (KB > k) {                                                                                            \
    const __m512 wv = _mm512_set1_ps(wt[k * taps]);                                                        \
    a##k##0 = _mm512_fmadd_ps(x0, wv, a##k##0);                                                            \
    if (NV > 1)                                                                                            \
      a##k##1 = _mm512_fmadd_ps(x1, wv, a##k##1);                                                          \
  }
        CROW_K8(CROW_FMA)
#undef CROW_FMA
      }
    }
  }
  {
    /* epilogue: + bias (+ res), the activation, masked stores */
    const int cols = p->OW - ow0;
    const __mmask16 s0 = (__mmask16)(cols >= 16 ? 0xFFFFu : (1u << cols) - 1u);
    const __mmask16 s1 = (__mmask16)(cols >= 32 ? 0xFFFFu : cols <= 16 ? 0u : (1u << (cols - 16)) - 1u);
    const int vact = p->act == RT_ACT_NONE || p->act == RT_ACT_IDENTITY || p->act == RT_ACT_RELU ||
                     p->act == RT_ACT_CLIP;
    const __m512 lo = _mm512_set1_ps(p->alpha), hi = _mm512_set1_ps(p->beta);
#define CROW_ST(k)                                                                                         \
  if (KB > k) {                                                                                            \
    const int64_t yo = ((int64_t)(k0 + k) * p->OH + oh) * p->OW + ow0;                                     \
    __m512 v[2];                                                                                           \
    int q;                                                                                                 \
    const __m512 bv = _mm512_set1_ps(b ? b[k0 + k] : 0.0f);                                                \
    v[0] = _mm512_add_ps(bv, a##k##0);                                                                     \
    v[1] = _mm512_add_ps(bv, a##k##1);                                                                     \
    if (res) {                                                                                             \
      v[0] = _mm512_add_ps(_mm512_add_ps(bv, _mm512_maskz_loadu_ps(s0, res + yo)), a##k##0);               \
      v[1] = _mm512_add_ps(_mm512_add_ps(bv, _mm512_maskz_loadu_ps(RP ? (oh + 1 < p->OH ? s0 : 0) : s1,     \
                                                                    res + yo + (RP ? p->OW : 16))),          \
                           a##k##1);                                                                       \
    }                                                                                                      \
    for (q = 0; q < NV && vact; q++) {                                                                     \
      if (p->act == RT_ACT_RELU) {                                                                         \
        v[q] = _mm512_max_ps(v[q], _mm512_setzero_ps());                                                   \
      } else if (p->act == RT_ACT_CLIP) {                                                                  \
        v[q] = rt_clip16(v[q], lo, hi);                                                                    \
      }                                                                                                    \
    }                                                                                                      \
    _mm512_mask_storeu_ps(yn + yo, s0, v[0]);                                                              \
    if (NV > 1 && (!RP || oh + 1 < p->OH))                                                                 \
      _mm512_mask_storeu_ps(yn + yo + (RP ? p->OW : 16), RP ? s0 : s1, v[1]);                             \
    if (!vact) {                                                                                           \
      rt_act_array(p->act, p->alpha, p->beta, yn + yo, yn + yo, cols < (RP ? 16 : 16 * NV) ? cols : (RP ? 16 : 16 * NV)); \
      if (RP && oh + 1 < p->OH)                                                                            \
        rt_act_array(p->act, p->alpha, p->beta, yn + yo + p->OW, yn + yo + p->OW, cols < 16 ? cols : 16);  \
    }                                                                                                      \
  }
    CROW_K8(CROW_ST)
#undef CROW_ST
  }
}
#undef CROW_K8

/* KB = kb (1..8) as a constant. */
RT_INLINE void crow_tile_kb(const RtConv *p, const float *xn, const float *w, const float *b, const float *res,
                            float *yn, int k0, int kb, int oh, int ow0, const __mmask16 (*m)[2], const int NV,
                            const int RP) {
  switch (kb) {
  case 1: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 1, NV, RP); break;
  case 2: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 2, NV, RP); break;
  case 3: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 3, NV, RP); break;
  case 4: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 4, NV, RP); break;
  case 5: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 5, NV, RP); break;
  case 6: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 6, NV, RP); break;
  case 7: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 7, NV, RP); break;
  default: crow_tile(p, xn, w, b, res, yn, k0, oh, ow0, m, 8, NV, RP); break;
  }
}

/* Rows at most 16 wide come in pairs: one vector per row, two rows per tile. */
RT_INLINE int crow_rowpairs(const RtConv *p) { return p->OW <= 16 && p->OH >= 2; }
RT_INLINE int crow_nrows(const RtConv *p) { return crow_rowpairs(p) ? (p->OH + 1) / 2 : p->OH; }

/* One task: channels [k0, k0 + kb) of output row oh of one sample. */
RT_HELPER void crow_task(const RtConv *p0, int64_t t, const float *x, const float *w, const float *b,
                         const float *res, float *y) {
  const RtConv pv = *p0, *p = &pv; /* a private copy: the compiler keeps its fields in registers */
  const int nkb = (p->K + 7) / 8, nr = crow_nrows(p), rp = crow_rowpairs(p);
  const int oh = (int)(t % nr) * (rp ? 2 : 1), kbi = (int)(t / nr % nkb);
  const int64_t ni = t / nr / nkb;
  const int k0 = kbi * 8, kb = p->K - k0 < 8 ? p->K - k0 : 8;
  const float *xn = x + ni * p->C * p->H * p->W;
  const int64_t ys = (int64_t)p->K * p->OH * p->OW;
  float *yn = y + ni * ys;
  const float *rn = res ? res + ni * ys : NULL;
  __mmask16 m[CROW_KWMAX][2];
  int ow0, j;
  for (ow0 = 0; ow0 < p->OW; ow0 += 32) {
    const int nv = p->OW - ow0 > 16 ? 2 : 1;
    for (j = 0; j < p->kw; j++) {
      const int s = ow0 - p->pl + j * p->dw;
      m[j][0] = rt_lanes16(s, p->W);
      m[j][1] = rt_lanes16(s + 16, p->W);
    }
    if (rp)
      crow_tile_kb(p, xn, w, b, rn, yn, k0, kb, oh, ow0, (const __mmask16(*)[2])m, 2, 1);
    else if (nv == 2)
      crow_tile_kb(p, xn, w, b, rn, yn, k0, kb, oh, ow0, (const __mmask16(*)[2])m, 2, 0);
    else
      crow_tile_kb(p, xn, w, b, rn, yn, k0, kb, oh, ow0, (const __mmask16(*)[2])m, 1, 0);
  }
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* AVX2: a register tile of KB (<= 4) channels x 16 consecutive columns (two
 * 8-lane vectors) of output row oh; taps outside the input are masked loads
 * that read 0 (the zero padding).  m[j][v]: lanes of vector v inside the row
 * for tap column j; full[j]: both all-in (plain loads). */
RT_INLINE void crow2_tile(const RtConv *p, const float *xn, const float *w, const float *b, const float *res,
                          float *yn, int k0, int oh, int ow0, const __m256i (*m)[2], const int *full, const int KB) {
  const int64_t taps = (int64_t)p->C * p->kh * p->kw, plane = (int64_t)p->H * p->W;
  const float *wk = w + (int64_t)k0 * taps;
  __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  int c, i, j, k;
  for (c = 0; c < p->C; c++) {
    const float *xc = xn + (int64_t)c * plane;
    const float *wc = wk + (int64_t)c * p->kh * p->kw;
    for (i = 0; i < p->kh; i++) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      const float *xr;
      if (ih < 0 || ih >= p->H)
        continue;
      xr = xc + (int64_t)ih * p->W;
      for (j = 0; j < p->kw; j++) {
        const int s = ow0 - p->pl + j * p->dw; /* input column of lane 0 */
        const float *wt = wc + i * p->kw + j;
        const __m256 x0 = full[j] ? _mm256_loadu_ps(xr + s) : _mm256_maskload_ps(xr + s, m[j][0]);
        const __m256 x1 = full[j] ? _mm256_loadu_ps(xr + s + 8) : _mm256_maskload_ps(xr + s + 8, m[j][1]);
        __m256 wv = _mm256_broadcast_ss(wt);
        a00 = _mm256_fmadd_ps(x0, wv, a00), a01 = _mm256_fmadd_ps(x1, wv, a01);
        if (KB > 1)
          wv = _mm256_broadcast_ss(wt + taps), a10 = _mm256_fmadd_ps(x0, wv, a10), a11 = _mm256_fmadd_ps(x1, wv, a11);
        if (KB > 2)
          wv = _mm256_broadcast_ss(wt + 2 * taps), a20 = _mm256_fmadd_ps(x0, wv, a20),
          a21 = _mm256_fmadd_ps(x1, wv, a21);
        if (KB > 3)
          wv = _mm256_broadcast_ss(wt + 3 * taps), a30 = _mm256_fmadd_ps(x0, wv, a30),
          a31 = _mm256_fmadd_ps(x1, wv, a31);
      }
    }
  }
  { /* epilogue: (bias (+ res)) + sum, then the activation, on the row's columns */
    const int cols = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
    float acc[4][16];
    _mm256_storeu_ps(acc[0], a00), _mm256_storeu_ps(acc[0] + 8, a01);
    _mm256_storeu_ps(acc[1], a10), _mm256_storeu_ps(acc[1] + 8, a11);
    _mm256_storeu_ps(acc[2], a20), _mm256_storeu_ps(acc[2] + 8, a21);
    _mm256_storeu_ps(acc[3], a30), _mm256_storeu_ps(acc[3] + 8, a31);
    for (k = 0; k < KB; k++) {
      const int64_t yo = ((int64_t)(k0 + k) * p->OH + oh) * p->OW + ow0;
      const float bv = b ? b[k0 + k] : 0.0f;
      int u;
      for (u = 0; u < cols; u++)
        yn[yo + u] = (res ? bv + res[yo + u] : bv) + acc[k][u];
      rt_act_array(p->act, p->alpha, p->beta, yn + yo, yn + yo, cols);
    }
  }
}

/* One task: channels [k0, k0 + 4) of output row oh of one sample. */
RT_HELPER void crow2_task(const RtConv *p0, int64_t t, const float *x, const float *w, const float *b,
                          const float *res, float *y) {
  const RtConv pv = *p0, *p = &pv;
  const int nkb = (p->K + 3) / 4, oh = (int)(t % p->OH), kbi = (int)(t / p->OH % nkb);
  const int64_t ni = t / p->OH / nkb, ys = (int64_t)p->K * p->OH * p->OW;
  const int k0 = kbi * 4, kb = p->K - k0 < 4 ? p->K - k0 : 4;
  const float *xn = x + ni * p->C * p->H * p->W;
  float *yn = y + ni * ys;
  const float *rn = res ? res + ni * ys : NULL;
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i m[CROW_KWMAX][2];
  int full[CROW_KWMAX];
  int ow0, j, v;
  for (ow0 = 0; ow0 < p->OW; ow0 += 16) {
    for (j = 0; j < p->kw; j++) {
      const int s = ow0 - p->pl + j * p->dw;
      for (v = 0; v < 2; v++)
        m[j][v] = _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(p->W - s - 8 * v), iota),
                                   _mm256_cmpgt_epi32(iota, _mm256_set1_epi32(-(s + 8 * v) - 1)));
      full[j] = s >= 0 && s + 16 <= p->W;
    }
    switch (kb) {
    case 1: crow2_tile(p, xn, w, b, rn, yn, k0, oh, ow0, (const __m256i(*)[2])m, full, 1); break;
    case 2: crow2_tile(p, xn, w, b, rn, yn, k0, oh, ow0, (const __m256i(*)[2])m, full, 2); break;
    case 3: crow2_tile(p, xn, w, b, rn, yn, k0, oh, ow0, (const __m256i(*)[2])m, full, 3); break;
    default: crow2_tile(p, xn, w, b, rn, yn, k0, oh, ow0, (const __m256i(*)[2])m, full, 4); break;
    }
  }
}
#endif

/* Which direct kernel rt_conv2d runs for p with AVX-512 (the C backend
 * calls it directly, so only the kernels a model uses are compiled). */
RT_FN int rt_conv2d_direct_form(const RtConv *p) {
  if (p->groups == 1 && p->sw == 1 && p->kw <= CROW_KWMAX && p->OH > 0 && p->OW > 0)
    return RT_DIRECT_ROWS;
  return p->C == p->groups ? RT_DIRECT_DEPTHWISE : RT_DIRECT_PLAIN;
}

RT_FN int rt_conv2d_rows_applies(const RtConv *p) {
#if defined(__AVX512F__)
  return rt_conv2d_direct_form(p) == RT_DIRECT_ROWS;
#else
  (void)p;
  return 0;
#endif
}

RT_FN int rt_conv2d_rows(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                         float *y) {
#if defined(__AVX512F__)
  const int64_t ntask = (int64_t)n * ((p->K + 7) / 8) * crow_nrows(p);
  const int64_t work = (int64_t)n * p->K * p->OH * p->OW * p->C * p->kh * p->kw;
  int64_t t;
  if (!rt_conv2d_rows_applies(p))
    return 0;
  (void)work; /* read only by the OpenMP pragma */
  RT_PAR_FOR(work >= RT_PAR_MIN_WORK, static, t, ntask, crow_task(p, t, x, w, b, res, y););
  return 1;
#elif defined(__AVX2__) && defined(__FMA__)
  /* AVX2 builds run it where rt_conv2d is called with RT_ALGO_DIRECT (the
   * sub-pixel ConvTranspose's phase convs); the compiler's cost model and
   * the direct convs it emits still see rt_conv2d_rows_applies == 0 */
  const int64_t ntask = (int64_t)n * ((p->K + 3) / 4) * p->OH;
  const int64_t work = (int64_t)n * p->K * p->OH * p->OW * p->C * p->kh * p->kw;
  int64_t t;
  if (rt_conv2d_direct_form(p) != RT_DIRECT_ROWS)
    return 0;
  (void)work; /* read only by the OpenMP pragma */
  RT_PAR_FOR(work >= RT_PAR_MIN_WORK, static, t, ntask, crow2_task(p, t, x, w, b, res, y););
  return 1;
#else
  (void)p, (void)n, (void)x, (void)w, (void)b, (void)res, (void)y;
  return 0;
#endif
}
