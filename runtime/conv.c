/* conv.c - convolution and fully connected kernels (forward).
 *
 * Provides rt_conv2d (direct, 1x1-as-GEMM, im2col + GEMM, and the dispatch to
 * Winograd and FFT), rt_conv2d_scratch, rt_conv_transpose2d and rt_linear,
 * with the fused epilogue y = act(sum + bias + res).  The GEMM forms use the
 * blocked GEMM of gemm.c: im2col writes straight into its packed-B layout.
 *
 * Guarantees:
 *  - every output element is produced by exactly one loop iteration of the
 *    (optionally OpenMP-parallel) task loop, and its terms are summed in an
 *    order fixed by the shapes alone, so results do not depend on the thread
 *    count, nor on the batch size;
 *  - no heap, no globals: im2col/GEMM, Winograd and FFT use the caller's
 *    scratch (rt_conv2d_scratch); stack use is bounded (the 3x3 depthwise
 *    row buffer, 18 KiB, is the largest);
 *  - the direct conv is plain C99 that gcc and clang vectorize at -O2 and
 *    -O3 (fixed-length loops over contiguous output columns, padding checks
 *    hoisted out; no FMA contraction assumed).  AVX-512 builds add
 *    intrinsic kernels: depthwise convs (vectors along output rows), the
 *    implicit GEMM for shallow convs (RGB stems), 1x1 convs reading x in
 *    place, and stride-2 im2col packing; other builds take the portable path.
 *
 * For RT_ALGO_WINOGRAD and RT_ALGO_FFT the weights are the compile-time
 * transformed ones (rt_winograd_weights / rt_fft_weights of the same RtConv).
 * Choices that cannot apply (GEMM1X1 on a non-1x1 conv, GEMM without scratch,
 * Winograd/FFT on shapes they refuse) fall back to the direct convolution.
 */
#include "cnnc_rt.h"

enum {
  CONV_KB = 4,    /* output channels per direct-conv block (register reuse of x) */
  CONV_VL = 16,   /* output columns per direct-conv register tile */
  CONV_XB = 128,  /* direct-conv padded window (floats): sw * phase length at most */
  CONV_SPAN = 64, /* output columns per direct-conv span (strided convs, wide kernels) */
  CONV_TROW = 2048 /* transposed conv: longest output row accumulated phase by phase */
};

/* Output columns [*lo, *hi) within [o0, o1) whose input column o*s + off lies
 * in [0, W).  Hoisting this out of the inner loop is what lets it vectorize. */
RT_INLINE void conv_valid_range(int o0, int o1, int s, int off, int W, int *lo, int *hi) {
  /* s == 1 (the common case) needs no division */
  int l = off >= 0 ? 0 : (s == 1 ? -off : (-off + s - 1) / s);
  int h = W - 1 - off < 0 ? 0 : (s == 1 ? W - off : (W - 1 - off) / s + 1);
  if (l < o0)
    l = o0;
  if (h > o1)
    h = o1;
  if (h < l)
    h = l;
  *lo = l;
  *hi = h;
}

/* ------------------------------------------------------------ direct conv */

/* Per-phase length of conv_direct_tile_pad's window: output column l < VL of
 * tap j reads phase slot l + j*dw/sw, so VL + (kw-1)*dw/sw slots suffice. */
RT_INLINE int conv_pad_phase_len(const RtConv *p) {
  return CONV_VL + (p->kw - 1) * p->dw / p->sw;
}

/* Register tile for interior columns of a stride-1 conv: CONV_KB output
 * channels x CONV_VL output columns, summed over the taps (c, i, j) in order.
 * The caller guarantees every column of every tap is inside the input, so the
 * only test left is the row test, outside the vector loop.  xg points at the
 * group's first input channel, wk at output channel k0's weights.
 * The shape matters: named accumulator rows and one fixed-length contiguous
 * loop are what gcc and clang keep in vector registers at -O2 and -O3 alike;
 * a strided or two-armed variant of the loop gets scalarized by gcc -O3, so
 * borders and strided convs take conv_direct_tile_pad. */
RT_HELPER void conv_direct_tile4(const RtConv *p, const float *xg, const float *wk, int Cg, int oh, int ow0,
                                 float out[CONV_KB][CONV_SPAN]) {
  float c0[CONV_VL], c1[CONV_VL], c2[CONV_VL], c3[CONV_VL];
  const int64_t taps = (int64_t)Cg * p->kh * p->kw;
  const int xb = ow0 - p->pl;
  int c, i, j, l;
  for (l = 0; l < CONV_VL; l++)
    c0[l] = c1[l] = c2[l] = c3[l] = 0.0f;
  for (c = 0; c < Cg; c++) {
    const float *xc = xg + (int64_t)c * p->H * p->W;
    const float *wc = wk + (int64_t)c * p->kh * p->kw;
    for (i = 0; i < p->kh; i++) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      if (ih < 0 || ih >= p->H)
        continue;
      for (j = 0; j < p->kw; j++) {
        const float *RT_RESTRICT xs = xc + (int64_t)ih * p->W + xb + j * p->dw;
        const float *wt = wc + i * p->kw + j;
        const float w0 = wt[0], w1 = wt[taps], w2 = wt[2 * taps], w3 = wt[3 * taps];
        for (l = 0; l < CONV_VL; l++) {
          const float v = xs[l];
          c0[l] += w0 * v;
          c1[l] += w1 * v;
          c2[l] += w2 * v;
          c3[l] += w3 * v;
        }
      }
    }
  }
  for (l = 0; l < CONV_VL; l++) {
    out[0][l] = c0[l];
    out[1][l] = c1[l];
    out[2][l] = c2[l];
    out[3][l] = c3[l];
  }
}

/* The one-channel version of conv_direct_tile4 (depthwise convs and the
 * ragged last block); same summation order. */
RT_HELPER void conv_direct_tile1(const RtConv *p, const float *xg, const float *wk, int Cg, int oh, int ow0,
                                 float *out) {
  float c0[CONV_VL];
  const int xb = ow0 - p->pl;
  int c, i, j, l;
  for (l = 0; l < CONV_VL; l++)
    c0[l] = 0.0f;
  for (c = 0; c < Cg; c++) {
    const float *xc = xg + (int64_t)c * p->H * p->W;
    const float *wc = wk + (int64_t)c * p->kh * p->kw;
    for (i = 0; i < p->kh; i++) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      if (ih < 0 || ih >= p->H)
        continue;
      for (j = 0; j < p->kw; j++) {
        const float *RT_RESTRICT xs = xc + (int64_t)ih * p->W + xb + j * p->dw;
        const float w0 = wc[i * p->kw + j];
        for (l = 0; l < CONV_VL; l++)
          c0[l] += w0 * xs[l];
      }
    }
  }
  for (l = 0; l < CONV_VL; l++)
    out[l] = c0[l];
}

/* Tile for borders, partial tiles and strided convs.  For each kernel row
 * the input columns the tile reads are first copied into a zero-padded window
 * split by phase: xw[r*PL + m] = x[x0 + m*sw + r].  Tap j then reads the
 * contiguous xw[(j*dw % sw)*PL + j*dw/sw + l] for output column l, so the FMA
 * loop keeps the fixed-length contiguous shape of conv_direct_tile4.  Rows
 * >= nk get zero weights, keeping one code shape for every block. */
RT_HELPER void conv_direct_tile_pad(const RtConv *p, const float *xg, const float *wk, int Cg, int nk, int oh, int ow0,
                                    float out[CONV_KB][CONV_SPAN]) {
  float c0[CONV_VL], c1[CONV_VL], c2[CONV_VL], c3[CONV_VL], xw[CONV_XB];
  const int64_t taps = (int64_t)Cg * p->kh * p->kw;
  const int sw = p->sw, x0 = ow0 * sw - p->pl, PL = conv_pad_phase_len(p);
  int c, i, j, l, r;
  for (l = 0; l < CONV_VL; l++)
    c0[l] = c1[l] = c2[l] = c3[l] = 0.0f;
  for (l = 0; l < CONV_XB; l++)
    xw[l] = 0.0f; /* window slots outside the input are never written again */
  for (c = 0; c < Cg; c++) {
    const float *xc = xg + (int64_t)c * p->H * p->W;
    const float *wc = wk + (int64_t)c * p->kh * p->kw;
    for (i = 0; i < p->kh; i++) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      const float *xr;
      if (ih < 0 || ih >= p->H)
        continue;
      xr = xc + (int64_t)ih * p->W;
      for (r = 0; r < sw; r++) {
        int lo, hi, m;
        conv_valid_range(0, PL, sw, x0 + r, p->W, &lo, &hi);
        for (m = lo; m < hi; m++)
          xw[r * PL + m] = xr[x0 + r + m * sw];
      }
      for (j = 0; j < p->kw; j++) {
        const int off = j * p->dw;
        const float *RT_RESTRICT xs = xw + (off % sw) * PL + off / sw;
        const float *wt = wc + i * p->kw + j;
        const float w0 = wt[0], w1 = nk > 1 ? wt[taps] : 0.0f;
        const float w2 = nk > 2 ? wt[2 * taps] : 0.0f, w3 = nk > 3 ? wt[3 * taps] : 0.0f;
        for (l = 0; l < CONV_VL; l++) {
          const float v = xs[l];
          c0[l] += w0 * v;
          c1[l] += w1 * v;
          c2[l] += w2 * v;
          c3[l] += w3 * v;
        }
      }
    }
  }
  for (l = 0; l < CONV_VL; l++) {
    out[0][l] = c0[l];
    out[1][l] = c1[l];
    out[2][l] = c2[l];
    out[3][l] = c3[l];
  }
}

/* Any columns [ow0, ow0 + tw) (strided convs, wide kernels): per tap, the valid
 * column range is computed once and the loop over it carries no test; the
 * accumulators live in `out`.  Same (c, i, j) order as the tiles. */
RT_HELPER void conv_direct_span(const RtConv *p, const float *xg, const float *wk, int Cg, int nk, int oh, int ow0,
                                int tw, float out[CONV_KB][CONV_SPAN]) {
  const int64_t taps = (int64_t)Cg * p->kh * p->kw;
  const int sw = p->sw;
  int kk, c, i, j, u;
  for (kk = 0; kk < nk; kk++)
    for (u = 0; u < tw; u++)
      out[kk][u] = 0.0f;
  for (c = 0; c < Cg; c++) {
    const float *xc = xg + (int64_t)c * p->H * p->W;
    const float *wc = wk + (int64_t)c * p->kh * p->kw;
    for (i = 0; i < p->kh; i++) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      const float *xr;
      if (ih < 0 || ih >= p->H)
        continue;
      xr = xc + (int64_t)ih * p->W;
      for (j = 0; j < p->kw; j++) {
        /* u indexes the tile; its input column is (ow0 + u)*sw + off */
        const int off = j * p->dw - p->pl, xb = ow0 * sw + off;
        int lo, hi;
        conv_valid_range(ow0, ow0 + tw, sw, off, p->W, &lo, &hi);
        for (kk = 0; kk < nk; kk++) {
          const float wv = wc[kk * taps + i * p->kw + j];
          float *RT_RESTRICT a = out[kk];
          for (u = lo - ow0; u < hi - ow0; u++)
            a[u] += wv * xr[xb + u * sw];
        }
      }
    }
  }
}

/* One task = CONV_KB output channels of one output row of one sample, walked
 * in CONV_VL-column register tiles: plain ones inside stride-1 rows, padded-
 * window ones at borders and for strides; kernels too wide for the window
 * fall back to spans.  Every path sums an output as bias + res + (taps in
 * (c, i, j) order), so the path taken never changes a result. */
RT_HELPER void conv_direct(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                           float *y) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int nkb = (Kg + CONV_KB - 1) / CONV_KB;
  const int64_t ntask = (int64_t)n * G * nkb * p->OH;
  const int64_t taps = (int64_t)Cg * p->kh * p->kw;
  /* stride 1: tiles may start in [ow_lo, ow_hi), where column ow0 - pl of
   * tap 0 is >= 0 and column ow0 + VL - 1 - pl + (kw-1)*dw of the last tap < W */
  const int ow_lo = p->pl > 0 ? p->pl : 0;
  const int ow_hi = p->W + p->pl - (p->kw - 1) * p->dw - (CONV_VL - 1);
  const int tiled = p->sw * conv_pad_phase_len(p) <= CONV_XB;
  int64_t t;

  RT_OMP(parallel for schedule(static) if(ntask * p->OW * taps * CONV_KB >= RT_PAR_MIN_WORK))
  for (t = 0; t < ntask; t++) {
    const int oh = (int)(t % p->OH);
    const int kb = (int)(t / p->OH % nkb);
    const int g = (int)(t / p->OH / nkb % G);
    const int64_t ni = t / p->OH / nkb / G;
    const int k0 = g * Kg + kb * CONV_KB;
    const int nk = Kg - kb * CONV_KB < CONV_KB ? Kg - kb * CONV_KB : CONV_KB;
    const float *xg = x + (ni * p->C + (int64_t)g * Cg) * p->H * p->W;
    const float *wk = w + (int64_t)k0 * taps;
    float acc[CONV_KB][CONV_SPAN];
    int ow0, tw, kk, u;

    for (ow0 = 0; ow0 < p->OW; ow0 += tw) {
      if (tiled) {
        tw = p->OW - ow0 < CONV_VL ? p->OW - ow0 : CONV_VL;
        if (p->sw == 1 && tw == CONV_VL && ow0 >= ow_lo && ow0 < ow_hi) {
          if (nk == CONV_KB)
            conv_direct_tile4(p, xg, wk, Cg, oh, ow0, acc);
          else
            for (kk = 0; kk < nk; kk++)
              conv_direct_tile1(p, xg, wk + kk * taps, Cg, oh, ow0, acc[kk]);
        } else {
          conv_direct_tile_pad(p, xg, wk, Cg, nk, oh, ow0, acc);
        }
      } else {
        tw = p->OW - ow0 < CONV_SPAN ? p->OW - ow0 : CONV_SPAN;
        conv_direct_span(p, xg, wk, Cg, nk, oh, ow0, tw, acc);
      }
      for (kk = 0; kk < nk; kk++) {
        const int64_t yo = ((ni * p->K + k0 + kk) * p->OH + oh) * p->OW + ow0;
        const float bv = b ? b[k0 + kk] : 0.0f;
        float *yr = y + yo;
        if (res) {
          const float *rr = res + yo;
          for (u = 0; u < tw; u++)
            yr[u] = bv + rr[u] + acc[kk][u];
        } else {
          for (u = 0; u < tw; u++)
            yr[u] = bv + acc[kk][u];
        }
        rt_act_array(p->act, p->alpha, p->beta, yr, yr, tw);
      }
    }
  }
}

/* ------------------------------------------------- depthwise (AVX-512) */

#if defined(__AVX512F__)
#include <immintrin.h>

/* x[c0 .. c0+16) of a row of length W, zero outside [0, W); memory outside
 * the row is never touched (masked and expanding loads). */
RT_INLINE __m512 conv_load16(const float *row, int c0, int W) {
  if (c0 >= 0 && c0 + 16 <= W)
    return _mm512_loadu_ps(row + c0);
  if (c0 >= W || c0 + 16 <= 0)
    return _mm512_setzero_ps();
  if (c0 >= 0)
    return _mm512_maskz_loadu_ps((__mmask16)((1u << (W - c0)) - 1u), row + c0);
  {
    /* lanes [-c0, min(16, W - c0)) take row[0], row[1], ...: load from the
     * row start and move lanes up by -c0 (a permute; the expanding load that
     * does this in one instruction is microcoded and slow on AMD) */
    const int hi = W - c0 < 16 ? W - c0 : 16;
    const __mmask16 mk = (__mmask16)(((1u << hi) - 1u) & ~((1u << -c0) - 1u));
    const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (hi + c0)) - 1u), row);
    const __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(-c0));
    return _mm512_maskz_permutexvar_ps(mk, idx, v);
  }
}

/* The 16 inputs x[c0 + s*l], l < 16, of one row (zero outside [0, W)):
 * contiguous for stride 1, even lanes of 32 for stride 2, a gather else. */
RT_INLINE __m512 conv_load16s(const float *row, int c0, int s, int W) {
  if (s == 1)
    return conv_load16(row, c0, W);
  if (s == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(conv_load16(row, c0, W), even, conv_load16(row, c0 + 16, W));
  }
  {
    const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(c0),
                                         _mm512_mullo_epi32(_mm512_set1_epi32(s),
                                                            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                                              12, 13, 14, 15)));
    const __mmask16 ok = _mm512_cmp_epi32_mask(idx, _mm512_setzero_si512(), _MM_CMPINT_NLT) &
                         _mm512_cmp_epi32_mask(idx, _mm512_set1_epi32(W), _MM_CMPINT_LT);
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, idx, row, 4);
  }
}

enum { CONV_DW_R = 4 /* output rows per depthwise task */ };

/* Input vector of tap column c for a strip: plain loads when the caller
 * proved the whole strip inside the row (interior), else the checked form.
 * SW is the stride when known at compile time (1 or 2), 0 otherwise. */
RT_INLINE __m512 conv_dw_in(const float *xr, int c, int sw, int W, int interior, const int SW) {
  if (interior && SW == 1)
    return _mm512_loadu_ps(xr + c);
  if (interior && SW == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(xr + c), even, _mm512_loadu_ps(xr + c + 16));
  }
  return conv_load16s(xr, c, sw, W);
}

/* The CONV_DW_R x 16 outputs of one strip: rows [oh0, oh0 + nr), columns
 * from ow0 (input column c0 = ow0*sw - pl).  KW/SW are compile-time when
 * nonzero (3x3 stride 1 and 2 are nearly all depthwise layers), so the tap
 * loop unrolls and the loads carry no checks inside the image. */
RT_INLINE void conv_dw_strip(const RtConv *p, const float *xc, const float *wk, int oh0, int nr, int c0,
                             int interior, const int KW, const int SW, __m512 *acc) {
  const int kw = KW ? KW : p->kw, sw = SW ? SW : p->sw;
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#define CONV_DW_ROW(R, A)                                                                                  \
  if (R < nr) {                                                                                            \
    const int ihb = (oh0 + R) * p->sh - p->pt;                                                             \
    int i, j;                                                                                              \
    for (i = 0; i < p->kh; i++) {                                                                          \
      const int ih = ihb + i * p->dh;                                                                      \
      const float *xr;                                                                                     \
      if (ih < 0 || ih >= p->H)                                                                            \
        continue;                                                                                          \
      xr = xc + (int64_t)ih * p->W;                                                                        \
      for (j = 0; j < kw; j++)                                                                             \
        A = _mm512_fmadd_ps(conv_dw_in(xr, c0 + j * p->dw, sw, p->W, interior, SW),                        \
                            _mm512_set1_ps(wk[i * kw + j]), A);                                            \
    }                                                                                                      \
  }
  CONV_DW_ROW(0, a0)
  CONV_DW_ROW(1, a1)
  CONV_DW_ROW(2, a2)
  CONV_DW_ROW(3, a3)
#undef CONV_DW_ROW
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* 3x3 depthwise, dilation 1, stride S (1 or 2), on a zero-padded copy of
 * the input rows: CONV_DW_R output rows, 16 columns per strip, every load a
 * plain unaligned load and every tap a compile-time constant, so the strip
 * is 9 broadcast weights, (R-1)*S + 3 input rows of loads and 36 FMAs with
 * no branches.  buf holds (R-1)*S + 3 rows of bw floats; buffer column 0 is
 * input column -pl. */
enum { CONV_DW_BW = 512 /* padded row length of the 3x3 fast path */ };

RT_INLINE void conv_dw3_strip(const float *buf, int bw, const __m512 *wv, int ow0, const int S, __m512 *acc) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int row;
  for (row = 0; row < (CONV_DW_R - 1) * S + 3; row++) {
    const float *br = buf + row * bw + ow0 * S;
    __m512 v0, v1, v2;
    if (S == 1) {
      v0 = _mm512_loadu_ps(br), v1 = _mm512_loadu_ps(br + 1), v2 = _mm512_loadu_ps(br + 2);
    } else {
      const __m512 l0 = _mm512_loadu_ps(br), l1 = _mm512_loadu_ps(br + 16), l2 = _mm512_loadu_ps(br + 32);
      v0 = _mm512_permutex2var_ps(l0, even, l1);
      v1 = _mm512_permutex2var_ps(l0, odd, l1);
      /* columns 2l + 2: v0 moved down one lane, lane 15 from l2 */
      v2 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(l2), _mm512_castps_si512(v0), 1));
    }
    /* output row r reads buffer rows r*S .. r*S + 2 (tap row i = row - r*S) */
#define CONV_DW3_ACC(R, A)                                                                                 \
  if (row - R * S >= 0 && row - R * S < 3) {                                                               \
    const int i = row - R * S;                                                                             \
    A = _mm512_fmadd_ps(v0, wv[3 * i], A);                                                                 \
    A = _mm512_fmadd_ps(v1, wv[3 * i + 1], A);                                                             \
    A = _mm512_fmadd_ps(v2, wv[3 * i + 2], A);                                                             \
  }
    CONV_DW3_ACC(0, a0)
    CONV_DW3_ACC(1, a1)
    CONV_DW3_ACC(2, a2)
    CONV_DW3_ACC(3, a3)
#undef CONV_DW3_ACC
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

/* Copy input rows ih0 .. ih0 + rows - 1 of channel xc into buf with pl zero
 * columns in front and zeros after the row (and zero rows outside). */
RT_INLINE void conv_dw_fill(const RtConv *p, const float *xc, int ih0, int rows, float *buf, int bw) {
  int r, c;
  for (r = 0; r < rows; r++) {
    const int ih = ih0 + r;
    float *d = buf + r * bw;
    if (ih < 0 || ih >= p->H) {
      for (c = 0; c < bw; c++)
        d[c] = 0.0f;
      continue;
    }
    for (c = 0; c < p->pl; c++)
      d[c] = 0.0f;
    memcpy(d + p->pl, xc + (int64_t)ih * p->W, sizeof(float) * (size_t)p->W);
    for (c = p->pl + p->W; c < bw; c++)
      d[c] = 0.0f;
  }
}

/* One depthwise task: CONV_DW_R output rows of one output channel of one
 * sample, 16 columns per vector, one register accumulator per row
 * (independent FMA chains).  Each output sums its taps in (i, j) order, then
 * + (bias + res): an order fixed by the shape.  A function of its own so
 * that in OpenMP builds too the descriptor is a private local copy: stores
 * to y cannot alias it, so its fields stay in registers (as shared variables
 * of the outlined parallel region they were reloaded after every store). */
RT_HELPER void conv_dw_task(const RtConv *p0, int64_t t, const float *x, const float *w, const float *b,
                            const float *res, float *y) {
  const RtConv pv = *p0, *p = &pv;
  const int Kg = p->K / p->groups, taps = p->kh * p->kw;
  const int nrb = (p->OH + CONV_DW_R - 1) / CONV_DW_R;
  const int simple = p->act == RT_ACT_NONE || p->act == RT_ACT_IDENTITY || p->act == RT_ACT_RELU ||
                     p->act == RT_ACT_CLIP;
  /* strips whose every load lies inside the row: c0 >= 0 and the last tap's
   * last loaded column (16 floats, 32 for stride 2) < W */
  const int span = (p->kw - 1) * p->dw + (p->sw == 2 ? 32 : 16);
  const int nstrip = (p->OW + 15) / 16;
  /* the 3x3 fast path: buffer columns read = strips*16*sw + 2 (+16 for the
   * third load of stride 2); the input row must fit after pl zeros */
  const int bw = (nstrip * 16 * p->sw + 2 + (p->sw == 2 ? 16 : 0) + 15) / 16 * 16;
  const int fast3 = p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1 && p->sh == p->sw &&
                    (p->sw == 1 || p->sw == 2) && bw <= CONV_DW_BW && p->pl + p->W <= bw;
  {
    const int rb = (int)(t % nrb), k = (int)(t / nrb % p->K);
    const int64_t ni = t / nrb / p->K;
    const int oh0 = rb * CONV_DW_R, nr = p->OH - oh0 < CONV_DW_R ? p->OH - oh0 : CONV_DW_R;
    const float *xc = x + (ni * p->C + k / Kg) * (int64_t)p->H * p->W;
    const float *wk = w + (int64_t)k * taps;
    const int64_t yo = ((ni * p->K + k) * p->OH + oh0) * (int64_t)p->OW;
    const __m512 bv = _mm512_set1_ps(b ? b[k] : 0.0f);
    float buf[((CONV_DW_R - 1) * 2 + 3) * CONV_DW_BW];
    __m512 wv[9];
    int ow0;
    if (fast3) {
      int i;
      conv_dw_fill(p, xc, oh0 * p->sh - p->pt, (CONV_DW_R - 1) * p->sh + 3, buf, bw);
      for (i = 0; i < 9; i++)
        wv[i] = _mm512_set1_ps(wk[i]);
    }
    for (ow0 = 0; ow0 < p->OW; ow0 += 16) {
      const int nc = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
      const __mmask16 cm = (__mmask16)(nc >= 16 ? 0xFFFF : (1u << nc) - 1u);
      const int c0 = ow0 * p->sw - p->pl;
      const int interior = c0 >= 0 && c0 + span <= p->W;
      __m512 acc[CONV_DW_R];
      int r;
      if (fast3 && p->sw == 1)
        conv_dw3_strip(buf, bw, wv, ow0, 1, acc);
      else if (fast3)
        conv_dw3_strip(buf, bw, wv, ow0, 2, acc);
      else if (p->kw == 3 && p->sw == 1)
        conv_dw_strip(p, xc, wk, oh0, nr, c0, interior, 3, 1, acc);
      else if (p->kw == 3 && p->sw == 2)
        conv_dw_strip(p, xc, wk, oh0, nr, c0, interior, 3, 2, acc);
      else
        conv_dw_strip(p, xc, wk, oh0, nr, c0, 0, 0, 0, acc);
      for (r = 0; r < nr; r++) {
        float *yr = y + yo + (int64_t)r * p->OW + ow0;
        __m512 v = acc[r], s = bv;
        if (res)
          s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(cm, res + (yr - y)));
        v = _mm512_add_ps(v, s);
        if (p->act == RT_ACT_RELU) {
          v = _mm512_max_ps(v, _mm512_setzero_ps());
        } else if (p->act == RT_ACT_CLIP) {
          const __mmask16 lo = _mm512_cmp_ps_mask(v, _mm512_set1_ps(p->alpha), _CMP_LT_OQ);
          const __mmask16 hi = _mm512_cmp_ps_mask(v, _mm512_set1_ps(p->beta), _CMP_GT_OQ);
          v = _mm512_mask_mov_ps(v, hi, _mm512_set1_ps(p->beta));
          v = _mm512_mask_mov_ps(v, lo, _mm512_set1_ps(p->alpha));
        }
        _mm512_mask_storeu_ps(yr, cm, v);
        if (!simple)
          rt_act_array(p->act, p->alpha, p->beta, yr, yr, nc);
      }
    }
  }
}

/* Depthwise (one input channel per group), one conv_dw_task per task. */
RT_HELPER void conv_depthwise(const RtConv *p, int n, const float *x, const float *w, const float *b,
                              const float *res, float *y) {
  const int64_t ntask = (int64_t)n * p->K * ((p->OH + CONV_DW_R - 1) / CONV_DW_R);
  int64_t t;
  RT_OMP(parallel for schedule(static) if(ntask * CONV_DW_R * p->OW * p->kh * p->kw >= RT_PAR_MIN_WORK))
  for (t = 0; t < ntask; t++)
    conv_dw_task(p, t, x, w, b, res, y);
}
#endif

/* ------------------------------------------------- im2col + blocked GEMM */

RT_INLINE int conv_is_1x1(const RtConv *p) {
  return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 && p->OH == p->H &&
         p->OW == p->W;
}

/* dst[0..count) = im2col row k = (c, i, j) at output pixels starting at
 * (oh, ow) in row-major order over OH x OW: x[c][oh*sh - pt + i*dh]
 * [ow*sw + off] with off = j*dw - pl, 0 in the padding.  [lo, hi) are the
 * output columns whose input column is inside the row (conv_valid_range
 * over the whole row, computed once per j by the caller: no divisions
 * here).  Walks whole output-row segments so the copy is a plain
 * contiguous (or stride-2, vectorized) read. */
RT_HELPER void conv_im2col_run(const RtConv *p, const float *xc, int i, int off, int lo, int hi, int oh, int ow,
                               int count, float *dst) {
  while (count > 0) {
    const int seg = p->OW - ow < count ? p->OW - ow : count, end = ow + seg;
    const int ih = oh * p->sh - p->pt + i * p->dh;
    const int a = lo > ow ? lo : ow, b = hi < end ? hi : end; /* copied columns [a, b) */
    int o;
    if (ih < 0 || ih >= p->H || a >= b) {
      for (o = 0; o < seg; o++)
        dst[o] = 0.0f;
    } else {
      const float *xr = xc + (int64_t)ih * p->W;
      for (o = ow; o < a; o++)
        dst[o - ow] = 0.0f;
      if (p->sw == 1) {
        const float *src = xr + off;
        for (o = a; o < b; o++)
          dst[o - ow] = src[o];
      } else {
#if defined(__AVX512F__)
        if (p->sw == 2) {
          /* 16 outputs from the even lanes of 31 contiguous inputs (never
           * one past the last needed): stride-2 stems and downsamplings
           * pack at vector speed instead of one float per load */
          const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
          for (o = a; o < b; o += 16) {
            const int nl = b - o < 16 ? b - o : 16, ni = 2 * nl - 1;
            const __mmask16 m0 = (__mmask16)(ni >= 16 ? 0xFFFF : (1u << ni) - 1u);
            const __mmask16 m1 = (__mmask16)(ni <= 16 ? 0 : (1u << (ni - 16)) - 1u);
            const float *src = xr + 2 * o + off;
            const __m512 v =
                _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, src), even, _mm512_maskz_loadu_ps(m1, src + 16));
            _mm512_mask_storeu_ps(dst + (o - ow), (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), v);
          }
        } else
#endif
          for (o = a; o < b; o++)
            dst[o - ow] = xr[o * p->sw + off];
      }
      for (o = b; o < end; o++)
        dst[o - ow] = 0.0f;
    }
    dst += seg;
    count -= seg;
    oh++;
    ow = 0;
  }
}

enum { CONV_KWMAX = 64 /* kernel widths whose column ranges are precomputed */ };

/* Pack panels [q0, q1) of the im2col matrix (kdim x npix) of the Cg
 * channels xg into the GEMM's packed-B layout (cnnc_rt.h): main panels row by
 * row, the tail columns k-major.  Rows k = (c, i, j) are walked as nested
 * loops and each tap column's valid output range is computed once, so the
 * per-row cost is the copy itself. */
RT_HELPER void conv_pack_panels(const RtConv *p, const float *xg, int Cg, int q0, int q1, float *Bp) {
  const int N = p->OH * p->OW, K = Cg * p->kh * p->kw;
  const int nmain = RT_GEMM_NMAIN(N), np = (nmain + RT_GEMM_NR - 1) / RT_GEMM_NR;
  const int64_t plane = (int64_t)p->H * p->W;
  int lo[CONV_KWMAX], hi[CONV_KWMAX];
  int q, c, i, j;
  for (j = 0; j < p->kw && j < CONV_KWMAX; j++)
    conv_valid_range(0, p->OW, p->sw, j * p->dw - p->pl, p->W, &lo[j], &hi[j]);
  for (q = q0; q < q1; q++) {
    /* main panel: pixels [n0, n0 + w) into rows of pw floats; tail: pixels
     * [nmain, N), each column's K values contiguous */
    const int tail = q >= np;
    const int n0 = tail ? nmain : q * RT_GEMM_NR;
    const int w = tail ? N - nmain : (nmain - n0 < RT_GEMM_NR ? nmain - n0 : RT_GEMM_NR);
    const int pw = tail ? 0 : RT_GEMM_PANEL_W(N, n0);
    const int oh0 = n0 / p->OW, ow0 = n0 % p->OW;
    float *dst = Bp + (int64_t)n0 * K;
    int k = 0;
    if (w <= 0)
      continue;
    for (c = 0; c < Cg; c++)
      for (i = 0; i < p->kh; i++)
        for (j = 0; j < p->kw; j++, k++) {
          const int off = j * p->dw - p->pl;
          int l = 0, h = 0, u;
          if (j < CONV_KWMAX)
            l = lo[j], h = hi[j];
          else
            conv_valid_range(0, p->OW, p->sw, off, p->W, &l, &h);
          if (!tail) {
            float *d = dst + (int64_t)k * pw;
            conv_im2col_run(p, xg + c * plane, i, off, l, h, oh0, ow0, w, d);
            for (u = w; u < pw; u++)
              d[u] = 0.0f;
          } else {
            float col[8]; /* the tail has at most 8 columns */
            conv_im2col_run(p, xg + c * plane, i, off, l, h, oh0, ow0, w, col);
            for (u = 0; u < w; u++)
              dst[(int64_t)u * K + k] = col[u];
          }
        }
  }
}

/* Panels per fused pack-and-multiply task. */
enum { CONV_GP = 4 };

/* One sample and group: y (Kg x npix) = act(b + res + W (Kg x kdim) im2col(x)).
 * With enough column panels, each task packs a few panels and multiplies
 * all Kg rows over them while they are hot in L2 (the packed matrix never
 * round-trips through memory); with few panels (small images: 7x7, 14x14)
 * all panels are packed first and the multiply is split over rows too, so
 * both cores get work.  Either way every element is computed identically. */
RT_HELPER void conv_gemm_group(const RtConv *p, const float *xg, int Cg, const float *wg, int Kg, const float *bg,
                               const float *rg, float *yg, float *Bp) {
  RtGemm gm;
  int np, ngrp, q, par;
  memset(&gm, 0, sizeof gm);
  gm.M = Kg, gm.N = p->OH * p->OW, gm.K = Cg * p->kh * p->kw;
  gm.A = wg, gm.lda = gm.K, gm.Bp = Bp, gm.ldb = 0;
  gm.C = yg, gm.rsc = gm.N, gm.csc = 1;
  gm.bias = bg, gm.res = rg;
  gm.act = p->act, gm.alpha = p->alpha, gm.beta = p->beta;
#if defined(__AVX512F__)
  if (conv_is_1x1(p)) {
    /* B is x itself (Cg rows of npix floats): read in place, the kernels
     * mask the loads past each row; only the few tail columns (the dot
     * kernel's) are gathered k-major into the scratch */
    const int nmain = RT_GEMM_NMAIN(gm.N);
    int c, j;
    gm.Bp = xg, gm.ldb = gm.N, gm.bexact = 1;
    if (nmain < gm.N) {
      for (j = nmain; j < gm.N; j++)
        for (c = 0; c < Cg; c++)
          Bp[(int64_t)(j - nmain) * Cg + c] = xg[(int64_t)c * gm.N + j];
      gm.Bt = Bp;
    }
    rt_gemm_packed(&gm);
    return;
  }
#endif
  np = rt_gemm_npanels(&gm);
  ngrp = (np + CONV_GP - 1) / CONV_GP;
  par = (int64_t)gm.M * gm.N * gm.K >= RT_PAR_MIN_WORK;
  (void)par; /* read only by the OpenMP pragmas */
  if (ngrp >= 4) {
    RT_OMP(parallel for schedule(dynamic) if(par))
    for (q = 0; q < ngrp; q++) {
      const int q1 = (q + 1) * CONV_GP < np ? (q + 1) * CONV_GP : np;
      conv_pack_panels(p, xg, Cg, q * CONV_GP, q1, Bp);
      rt_gemm_panels(&gm, q * CONV_GP, q1, 0, Kg);
    }
  } else {
    RT_OMP(parallel for schedule(static) if(par))
    for (q = 0; q < np; q++)
      conv_pack_panels(p, xg, Cg, q, q + 1, Bp);
    rt_gemm_packed(&gm);
  }
}

/* ------------------------------------- implicit GEMM for shallow convs */

/* Convs whose im2col depth Cg*kh*kw is small (RGB stems: 3x7x7 = 147,
 * 3x3x3 = 27) spend as long packing the im2col matrix as multiplying it.
 * Here the output is computed transposed, C^T[pixel][channel] = patches x
 * W^T, with the patches read in place from a zero-padded copy of the input
 * (element k of pixel p at xpad + base(p) + koff[k]), so nothing is packed
 * but W^T (tiny) and the padding.  A function of p alone decides, so the
 * scratch size (the larger of both layouts) is the same for every build;
 * only AVX-512 builds take this path. */
/* Depths where it pays: below 64 the transposed store of each 8 x 48 tile
 * costs more than the 8 x 48 x depth multiply it follows (MobileNet's
 * 3x3x3 stem ran 2.4x slower this way than through im2col); above 256 the
 * im2col packing is cheap next to the multiply anyway. */
enum { CONV_IMPLICIT_KMIN = 64, CONV_IMPLICIT_KMAX = 256 };

RT_INLINE int conv_implicit_ok(const RtConv *p) {
  const int kdim = p->C * p->kh * p->kw;
  return p->groups == 1 && kdim >= CONV_IMPLICIT_KMIN && kdim <= CONV_IMPLICIT_KMAX && p->kh * p->kw > 1 &&
         p->K >= 16 && p->OH * p->OW >= 256;
}

/* Padded extents: every tap of every output lies inside [0, HP) x [0, WP). */
RT_INLINE void conv_implicit_dims(const RtConv *p, int *hp, int *wp) {
  *hp = (p->OH - 1) * p->sh + (p->kh - 1) * p->dh + 1;
  *wp = (p->OW - 1) * p->sw + (p->kw - 1) * p->dw + 1;
}

/* floats: padded input, W^T in 48-column panels (K rounded to 16), koff */
RT_INLINE size_t conv_implicit_scratch(const RtConv *p) {
  int hp, wp;
  conv_implicit_dims(p, &hp, &wp);
  return ((size_t)p->C * hp * wp + 16) * sizeof(float) +
         ((size_t)p->C * p->kh * p->kw * ((p->K + 15) / 16 * 16) + 16) * sizeof(float) +
         ((size_t)p->C * p->kh * p->kw + 16) * sizeof(int) + 64;
}

#if defined(__AVX512F__)
#define CONV_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* 8 pixels x (16*nv) channels: rows are pixel base pointers, the k-th
 * element of a row at koff[k]; b is a W^T panel (row length 16*nv).  The raw
 * sums go to tile[8][48]. */
RT_INLINE void conv_implicit_kernel(int kdim, const float *const *arow, const int *koff, const float *b,
                                    const int nv, float *tile) {
  int k;
#define CONV_DECL(i)                                                                                       \
  __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;                              \
  const float *a##i = arow[i];
  CONV_R8(CONV_DECL)
#undef CONV_DECL
  for (k = 0; k < kdim; k++) {
    const int o = koff[k];
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = nv > 1 ? _mm512_loadu_ps(b + 16) : b0;
    const __m512 b2 = nv > 2 ? _mm512_loadu_ps(b + 32) : b0;
#define CONV_FMA(i)                                                                                        \
  {                                                                                                        \
    const __m512 s = _mm512_set1_ps(a##i[o]);                                                              \
    c##i##0 = _mm512_fmadd_ps(s, b0, c##i##0);                                                             \
    if (nv > 1)                                                                                            \
      c##i##1 = _mm512_fmadd_ps(s, b1, c##i##1);                                                           \
    if (nv > 2)                                                                                            \
      c##i##2 = _mm512_fmadd_ps(s, b2, c##i##2);                                                           \
  }
    CONV_R8(CONV_FMA)
#undef CONV_FMA
    b += 16 * nv;
  }
#define CONV_ST(i)                                                                                         \
  _mm512_storeu_ps(tile + i * 48, c##i##0);                                                                \
  if (nv > 1)                                                                                              \
    _mm512_storeu_ps(tile + i * 48 + 16, c##i##1);                                                         \
  if (nv > 2)                                                                                              \
    _mm512_storeu_ps(tile + i * 48 + 32, c##i##2);
  CONV_R8(CONV_ST)
#undef CONV_ST
}
#undef CONV_R8

/* One sample: y = act(b + res + conv(x)) through the implicit GEMM. */
RT_HELPER void conv_implicit(const RtConv *p, const float *x, const float *w, const float *b, const float *res,
                             float *y, void *scratch) {
  const int kdim = p->C * p->kh * p->kw, npix = p->OH * p->OW, kp = (p->K + 15) / 16 * 16;
  const int npan = (p->K + 47) / 48, nsl = (npix + 7) / 8;
  int hp, wp;
  float *xpad, *wt;
  int *koff;
  int64_t t;
  conv_implicit_dims(p, &hp, &wp);
  xpad = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  wt = xpad + ((int64_t)p->C * hp * wp + 15) / 16 * 16;
  koff = (int *)(wt + ((int64_t)kdim * kp + 15) / 16 * 16);
  { /* the zero-padded input: row r of channel c is input row r - pt */
    int c, r, q;
    for (c = 0; c < p->C; c++)
      for (r = 0; r < hp; r++) {
        const int ih = r - p->pt;
        float *d = xpad + ((int64_t)c * hp + r) * wp;
        if (ih < 0 || ih >= p->H) {
          for (q = 0; q < wp; q++)
            d[q] = 0.0f;
        } else {
          const float *src = x + ((int64_t)c * p->H + ih) * p->W;
          for (q = 0; q < wp; q++) {
            const int iw = q - p->pl;
            d[q] = iw >= 0 && iw < p->W ? src[iw] : 0.0f;
          }
        }
      }
  }
  { /* W^T in panels of 48 output channels (the last 16- or 32-wide), and the
     * offset of every tap (c, i, j) in the padded input */
    int k, n, c, i, j;
    for (n = 0; n < kp; n += 48) {
      const int pw = kp - n < 48 ? kp - n : 48;
      for (k = 0; k < kdim; k++)
        for (j = 0; j < pw; j++)
          wt[(int64_t)n * kdim + (int64_t)k * pw + j] = n + j < p->K ? w[(int64_t)(n + j) * kdim + k] : 0.0f;
    }
    k = 0;
    for (c = 0; c < p->C; c++)
      for (i = 0; i < p->kh; i++)
        for (j = 0; j < p->kw; j++)
          koff[k++] = (c * hp + i * p->dh) * wp + j * p->dw;
  }
  RT_OMP(parallel for schedule(static) if((int64_t)npix * p->K * kdim >= RT_PAR_MIN_WORK))
  for (t = 0; t < (int64_t)nsl * npan; t++) {
    const int sl = (int)(t / npan), pan = (int)(t % npan);
    const int p0 = sl * 8, mr = npix - p0 < 8 ? npix - p0 : 8;
    const int n0 = pan * 48, pw = kp - n0 < 48 ? kp - n0 : 48, nr = p->K - n0 < 48 ? p->K - n0 : 48;
    const float *arow[8];
    float tile[8 * 48];
    int r, jj;
    for (r = 0; r < 8; r++) {
      const int px = p0 + (r < mr ? r : mr - 1), oh = px / p->OW, ow = px % p->OW;
      arow[r] = xpad + (int64_t)oh * p->sh * wp + (int64_t)ow * p->sw;
    }
    if (pw == 48)
      conv_implicit_kernel(kdim, arow, koff, wt + (int64_t)n0 * kdim, 3, tile);
    else if (pw == 32)
      conv_implicit_kernel(kdim, arow, koff, wt + (int64_t)n0 * kdim, 2, tile);
    else
      conv_implicit_kernel(kdim, arow, koff, wt + (int64_t)n0 * kdim, 1, tile);
    /* epilogue on the tile rows (48 channels of one pixel): + bias, and
     * without a residual the simple activations, all as vectors; then the
     * transposed store y[channel][pixel] (plain copies unless a residual
     * or another activation needs the scalar form) */
    {
      const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1u);
      const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1u);
      const __mmask16 m2 = (__mmask16)(nr >= 48 ? 0xFFFF : nr <= 32 ? 0 : (1u << (nr - 32)) - 1u);
      const __m512 b0 = b ? _mm512_maskz_loadu_ps(m0, b + n0) : _mm512_setzero_ps();
      const __m512 b1 = b ? _mm512_maskz_loadu_ps(m1, b + n0 + 16) : _mm512_setzero_ps();
      const __m512 b2 = b ? _mm512_maskz_loadu_ps(m2, b + n0 + 32) : _mm512_setzero_ps();
      const int vact = !res && (p->act == RT_ACT_NONE || p->act == RT_ACT_IDENTITY || p->act == RT_ACT_RELU ||
                                p->act == RT_ACT_CLIP);
      const __m512 lo = _mm512_set1_ps(p->alpha), hi = _mm512_set1_ps(p->beta);
      for (r = 0; r < mr; r++) {
        float *tr = tile + r * 48;
        __m512 v[3];
        int q;
        v[0] = _mm512_add_ps(_mm512_loadu_ps(tr), b0);
        v[1] = _mm512_add_ps(_mm512_loadu_ps(tr + 16), b1);
        v[2] = _mm512_add_ps(_mm512_loadu_ps(tr + 32), b2);
        for (q = 0; q < 3 && vact; q++) {
          if (p->act == RT_ACT_RELU) {
            v[q] = _mm512_max_ps(v[q], _mm512_setzero_ps());
          } else if (p->act == RT_ACT_CLIP) { /* as rt_act1: v < a ? a : (v > b ? b : v) */
            v[q] = _mm512_mask_mov_ps(v[q], _mm512_cmp_ps_mask(v[q], hi, _CMP_GT_OQ), hi);
            v[q] = _mm512_mask_mov_ps(v[q], _mm512_cmp_ps_mask(v[q], lo, _CMP_LT_OQ), lo);
          }
        }
        _mm512_storeu_ps(tr, v[0]), _mm512_storeu_ps(tr + 16, v[1]), _mm512_storeu_ps(tr + 32, v[2]);
      }
      for (jj = 0; jj < nr; jj++) {
        float *yc = y + (int64_t)(n0 + jj) * npix + p0;
        const float *rc = res ? res + (int64_t)(n0 + jj) * npix + p0 : NULL;
        if (vact)
          for (r = 0; r < mr; r++)
            yc[r] = tile[r * 48 + jj];
        else
          for (r = 0; r < mr; r++)
            yc[r] = rt_act1(p->act, p->alpha, p->beta, tile[r * 48 + jj] + (rc ? rc[r] : 0.0f));
      }
    }
  }
}
#endif

/* The algorithm rt_conv2d runs for p (resolving AUTO and impossible
 * choices); a function of p alone, so rt_conv2d_scratch agrees with it. */
RT_INLINE int conv_algo(const RtConv *p) {
  const int Kg = p->K / p->groups;
  switch (p->algo) {
  case RT_ALGO_GEMM1X1:
    return conv_is_1x1(p) ? RT_ALGO_GEMM1X1 : RT_ALGO_DIRECT;
  case RT_ALGO_IM2COL:
    return RT_ALGO_IM2COL;
  case RT_ALGO_WINOGRAD:
    return rt_winograd_applies(p) ? RT_ALGO_WINOGRAD : RT_ALGO_DIRECT;
  case RT_ALGO_FFT:
    return rt_fft_applies(p) ? RT_ALGO_FFT : RT_ALGO_DIRECT;
  case RT_ALGO_AUTO:
    /* without a compile-time choice: GEMM where it has rows and columns to
     * fill its register tile, the direct conv otherwise (depthwise, tiny) */
    if (Kg < 16 || p->OH * p->OW < 16)
      return RT_ALGO_DIRECT;
    return conv_is_1x1(p) ? RT_ALGO_GEMM1X1 : RT_ALGO_IM2COL;
  default:
    return RT_ALGO_DIRECT;
  }
}

RT_FN size_t rt_conv2d_scratch(const RtConv *p) {
  const int Cg = p->C / p->groups, Kg = p->K / p->groups;
  switch (conv_algo(p)) {
  case RT_ALGO_GEMM1X1:
  case RT_ALGO_IM2COL: {
    const size_t im = rt_gemm_scratch(Kg, p->OH * p->OW, Cg * p->kh * p->kw);
    const size_t ig = conv_implicit_ok(p) ? conv_implicit_scratch(p) : 0;
    return im > ig ? im : ig;
  }
  case RT_ALGO_WINOGRAD: return rt_winograd_scratch(p);
  case RT_ALGO_FFT: return rt_fft_scratch(p);
  default: return 0;
  }
}

RT_FN void rt_conv2d(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res, float *y,
                     void *scratch) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int64_t xs = (int64_t)p->C * p->H * p->W, ys = (int64_t)p->K * p->OH * p->OW;
  const int npix = p->OH * p->OW, kdim = Cg * p->kh * p->kw;
  int algo = conv_algo(p), ni, g;

  /* Every algorithm but direct needs the scratch rt_conv2d_scratch sized;
   * without it only the PyTorch-layout weights can be used. */
  if (!scratch && (algo == RT_ALGO_GEMM1X1 || algo == RT_ALGO_IM2COL))
    algo = RT_ALGO_DIRECT;
  switch (algo) {
  case RT_ALGO_WINOGRAD:
    rt_winograd_conv2d(p, n, x, w, b, res, y, scratch);
    return;
  case RT_ALGO_FFT:
    rt_fft_conv2d(p, n, x, w, b, res, y, scratch);
    return;
  case RT_ALGO_GEMM1X1:
  case RT_ALGO_IM2COL: {
    float *Bp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
#if defined(__AVX512F__)
    if (algo == RT_ALGO_IM2COL && conv_implicit_ok(p)) {
      for (ni = 0; ni < n; ni++)
        conv_implicit(p, x + ni * xs, w, b, res ? res + ni * ys : NULL, y + ni * ys, scratch);
      return;
    }
#endif
    for (ni = 0; ni < n; ni++)
      for (g = 0; g < G; g++) {
        const int64_t yo = ni * ys + (int64_t)g * Kg * npix;
        conv_gemm_group(p, x + ni * xs + (int64_t)g * Cg * p->H * p->W, Cg, w + (int64_t)g * Kg * kdim, Kg,
                        b ? b + g * Kg : NULL, res ? res + yo : NULL, y + yo, Bp);
      }
    return;
  }
  default:
#if defined(__AVX512F__)
    if (Cg == 1) { /* depthwise: vectors along the output row */
      conv_depthwise(p, n, x, w, b, res, y);
      return;
    }
#endif
    conv_direct(p, n, x, w, b, res, y);
  }
}

/* One task of rt_conv_transpose2d, in gather form: output row oh of
 * channel k of one sample.  Input row ih reaches output row oh through tap i
 * when oh = ih*sh - pt + i*dh; along W the taps scatter with stride sw
 * within the row this task owns, so no two tasks write the same element.
 * Its own function so the descriptor is a private copy in OpenMP builds too
 * (see conv_dw_task). */
RT_HELPER void conv_t_task(const RtConv *p0, int64_t t, const float *x, const float *w, const float *b, float *y) {
  const RtConv pv = *p0, *p = &pv;
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G, taps = p->kh * p->kw;
  const int oh = (int)(t % p->OH), k = (int)(t / p->OH % p->K);
  const int64_t ni = t / p->OH / p->K, plane = (int64_t)p->H * p->W;
  const int g = k / Kg, kl = k % Kg;
  float *yr = y + t * p->OW;
  const float bv = b ? b[k] : 0.0f;
  const float *xg = x + (ni * p->C + (int64_t)g * Cg) * plane;
  const float *wk = w + ((int64_t)g * Cg * Kg + kl) * taps; /* + c*Kg*taps + i*kw + j */
  /* strided: accumulate in a phase-major copy of the row (phase r holds
   * columns r, r + sw, ...), interleaved back at the end */
  float phrow[CONV_TROW];
  const int pq = (p->OW + p->sw - 1) / p->sw;
  const int phased = p->sw > 1 && p->sw * pq <= CONV_TROW;
  int i, j, o;

  if (phased)
    for (o = 0; o < p->sw * pq; o++)
      phrow[o] = bv;
  for (o = 0; o < p->OW; o++)
    yr[o] = bv;
  /* Each output sums bias, then its taps in (i, j) order, each tap summed
   * over the input channels into a 16-column register block first: the
   * channel loop is innermost, so the partial sums never round-trip through
   * memory (with the channel loop outside, every tap of every channel was a
   * read-modify-write of the row, a store-forwarding chain) and the strides'
   * divisions run once per tap, not per channel. */
  for (i = 0; i < p->kh; i++) {
    const int num = oh + p->pt - i * p->dh;
    int ih;
    if (num < 0 || num % p->sh != 0 || num / p->sh >= p->H)
      continue;
    ih = num / p->sh;
    for (j = 0; j < p->kw; j++) {
      const int off = j * p->dw - p->pl;
      const float *wt = wk + i * p->kw + j;
      int lo, hi, iw0, d;
      /* input columns iw with 0 <= iw*sw + off < OW, within [0, W) */
      conv_valid_range(0, p->W, p->sw, off, p->OW, &lo, &hi);
      if (phased) { /* iw*sw + off = (iw + q0)*sw + ph */
        const int ph = ((off % p->sw) + p->sw) % p->sw;
        d = ph * pq + (off - ph) / p->sw;
      } else {
        d = off;
      }
      for (iw0 = lo; iw0 < hi; iw0 += 16) {
        const int cnt = hi - iw0 < 16 ? hi - iw0 : 16;
        const float *xr = xg + (int64_t)ih * p->W + iw0;
        float acc[16];
        int c, u;
#if defined(__AVX512F__)
        { /* explicit (compilers vectorized this over c, with strided
           * weights); four chains over c = 0,4,8.. / 1,5,9.. / ... hide the
           * FMA latency, then (a0 + a1) + (a2 + a3) */
          const __mmask16 m = (__mmask16)(cnt >= 16 ? 0xFFFF : (1u << cnt) - 1u);
          const int64_t ws = (int64_t)Kg * taps;
          __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
          for (c = 0; c + 4 <= Cg; c += 4) {
            const float *xc = xr + c * plane;
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(wt[c * ws]), _mm512_maskz_loadu_ps(m, xc), a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(wt[(c + 1) * ws]), _mm512_maskz_loadu_ps(m, xc + plane), a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(wt[(c + 2) * ws]), _mm512_maskz_loadu_ps(m, xc + 2 * plane), a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(wt[(c + 3) * ws]), _mm512_maskz_loadu_ps(m, xc + 3 * plane), a3);
          }
          for (; c < Cg; c++)
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(wt[c * ws]), _mm512_maskz_loadu_ps(m, xr + c * plane), a0);
          _mm512_storeu_ps(acc, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        }
#else
        for (u = 0; u < 16; u++)
          acc[u] = 0.0f;
        for (c = 0; c < Cg; c++) {
          const float wv = wt[(int64_t)c * Kg * taps];
          const float *xc = xr + c * plane;
          for (u = 0; u < cnt; u++)
            acc[u] += wv * xc[u];
        }
#endif
        if (p->sw == 1) {
          for (u = 0; u < cnt; u++)
            yr[iw0 + u + d] += acc[u];
        } else if (phased) {
          float *pr = phrow + d + iw0;
          for (u = 0; u < cnt; u++)
            pr[u] += acc[u];
        } else {
          for (u = 0; u < cnt; u++)
            yr[(iw0 + u) * p->sw + d] += acc[u];
        }
      }
    }
  }
  if (phased)
    for (o = 0; o < p->OW; o++)
      yr[o] = phrow[o % p->sw * pq + o / p->sw];
  rt_act_array(p->act, p->alpha, p->beta, yr, yr, p->OW);
}

RT_FN void rt_conv_transpose2d(const RtConv *p, int n, const float *x, const float *w, const float *b, float *y) {
  const int64_t ntask = (int64_t)n * p->K * p->OH;
  int64_t t;
  RT_OMP(parallel for schedule(static) if(ntask * p->OW * (p->C / p->groups) * p->kh * p->kw >= RT_PAR_MIN_WORK))
  for (t = 0; t < ntask; t++)
    conv_t_task(p, t, x, w, b, y);
}

/* -------------------------------------------------------------- linear */

/* y[s][o] = act(b[o] + res[s][o] + sum_i x[s][i] w[o][i]): the GEMM's
 * dot-product form with A = w (rows o) and B's columns = the input rows, so
 * nothing is packed and each weight row is read once per 4 samples.  Every
 * output is one 16-lane dot product reduced in a fixed order. */
RT_FN void rt_linear(int n, int in, int out, const float *x, const float *w, const float *b, const float *res, float *y,
                     int act, float alpha, float beta) {
  rt_gemm_dot(out, n, in, w, in, x, in, y, 1, out, b, res, act, alpha, beta);
}
