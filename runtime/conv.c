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
 *    scratch (rt_conv2d_scratch); stack use is bounded (a few KiB: the
 *    direct conv's tiles, the implicit GEMM's 8 x 48 tile);
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
        rt_valid_range(0, PL, sw, x0 + r, p->W, &lo, &hi);
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
        rt_valid_range(ow0, ow0 + tw, sw, off, p->W, &lo, &hi);
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

  RT_PAR_FOR(ntask * p->OW * taps * CONV_KB >= RT_PAR_MIN_WORK, static, t, ntask,
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
  );
}

/* The padded width of a depthwise conv's input rows that its output row
 * reads: the AVX2 8-channel and AVX-512 16-channel rows (conv_dwt_group,
 * pwdw8_channels, conv_dwt16_group), and the
 * scratch rt_pw_dw_scratch sizes for them in every build. */
RT_INLINE int conv_dwt_wp(const RtConv *p) { return (p->OW - 1) * p->sw + (p->kw - 1) * p->dw + 1; }

/* Input rows an output row's window spans: the ring of rows both forms keep. */
RT_INLINE int conv_dwt_ring(const RtConv *p) { return (p->kh - 1) * p->dh + 1; }

/* ------------------------------------------------- depthwise (AVX-512) */

#if defined(__AVX512F__)
#include <immintrin.h>


/* The 16 inputs x[c0 + s*l], l < 16, of one row (zero outside [0, W)):
 * contiguous for stride 1, even lanes of 32 for stride 2, a gather else. */
RT_INLINE __m512 conv_load16s(const float *row, int c0, int s, int W) {
  if (s == 1)
    return rt_load16(row, c0, W);
  if (s == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(rt_load16(row, c0, W), even, rt_load16(row, c0 + 16, W));
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

/* Whether conv_dw_emit applies p's activation in registers. */
RT_INLINE int conv_dw_simple(const RtConv *p) {
  return p->act == RT_ACT_NONE || p->act == RT_ACT_IDENTITY || p->act == RT_ACT_RELU || p->act == RT_ACT_CLIP;
}

/* The epilogue of one strip of one output row: y = act(acc + (bias + res))
 * for the nc columns under cm; the simple activations as vectors, the
 * others through rt_act_array on the stored row (unless the caller, whose
 * simple is 1 then, applies them). */
RT_INLINE void conv_dw_emit(const RtConv *p, __m512 acc, __m512 bv, const float *rr, float *yr, __mmask16 cm, int nc,
                            int simple) {
  __m512 s = bv;
  if (rr)
    s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(cm, rr));
  acc = _mm512_add_ps(acc, s);
  if (p->act == RT_ACT_RELU) {
    acc = _mm512_max_ps(acc, _mm512_setzero_ps());
  } else if (p->act == RT_ACT_CLIP) {
    acc = rt_clip16(acc, _mm512_set1_ps(p->alpha), _mm512_set1_ps(p->beta));
  }
  _mm512_mask_storeu_ps(yr, cm, acc);
  if (!simple)
    rt_act_array(p->act, p->alpha, p->beta, yr, yr, nc);
}

/* 3x3 depthwise, dilation 1, stride S = 1 or 2 (nearly every depthwise
 * layer).  Output rows are computed in 16-column strips; a strip streams
 * down the input rows, builds each row's three tap vectors once and feeds
 * them to every output row that reads them (three for stride 1, one or two
 * for stride 2), each output row accumulating in a register until its last
 * tap row.  No padded copy of the input is made: the loads are masked to the
 * row.  Each output's 9 taps form one dependent FMA chain (its summation
 * order), so one strip keeps at most 3 chains in flight, far from the 8 the
 * FMA units need: up to CONV_DW_NS strips ("streams") of a channel run
 * interleaved. */
enum {
  CONV_DW_BAND = 32, /* output rows per 3x3 depthwise task */
  CONV_DW_NS = 3     /* strips processed together */
};

/* Whether conv_dw3_task applies (any padding: the loads are masked). */
RT_INLINE int conv_dw3_ok(const RtConv *p) {
  return p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1 && p->sh == p->sw && (p->sw == 1 || p->sw == 2);
}

/* Lanes l of [0, 16) whose column c + l lies in [0, n). */
RT_INLINE __mmask16 conv_dw_cols(int c, int n) {
  const int a = c < 0 ? -c : 0, e = n - c < 16 ? n - c : 16;
  return (__mmask16)(e <= a ? 0u : ((1u << e) - 1u) & ~((1u << a) - 1u));
}

/* Stride 1: NS (1..3) strips of one channel from output column ow0, output
 * rows [oh0, oh1), taps w and bias bv.  Every strip, border or not, loads its
 * three tap vectors masked to the row (lanes outside it load 0, the padding,
 * and nothing outside the row is read: the pointers below may sit left of
 * the plane, where only masked-off lanes point), so border strips run
 * interleaved with the others instead of alone with their three FMA chains,
 * latency-bound (192 channels of 28x28, both strips border ones: 30.7 ->
 * 28.6 us; stride 2 over 56 output columns: 53 -> 39 us).  The
 * summation order of the other depthwise forms: taps in (i, j) order from
 * zero, then + (bias + res), then the act (relu or clip: in registers; others
 * by the caller).  PC (NS = 2): the streams are strip ow0 of two channels,
 * the second's planes xc2, rc2, yc2, taps w2 and bias bv2 (maps one strip
 * wide: a channel's strip alone keeps three FMA chains in flight). */
RT_INLINE void conv_dw3s1_strips(const RtConv *p, const float *xc, const float *rc, float *yc, const __m512 *w,
                                 __m512 bv, int ow0, int oh0, int oh1, const int NS, const int PC,
                                 const float *xc2, const float *rc2, float *yc2, const __m512 *w2, __m512 bv2) {
  const __m512 z = _mm512_setzero_ps();
  __m512 A0 = z, A1 = z, A2 = z, B0 = z, B1 = z, B2 = z, C0 = z, C1 = z, C2 = z;
  __mmask16 m00 = 0, m01 = 0, m02 = 0, m10 = 0, m11 = 0, m12 = 0, m20 = 0, m21 = 0, m22 = 0, cm0 = 0, cm1 = 0, cm2 = 0;
  const float *x0 = xc, *x1 = xc, *x2 = xc, *r0 = NULL, *r1 = NULL, *r2 = NULL;
  float *y0 = yc, *y1 = yc, *y2 = yc;
  const __m512 *w0 = w, *w1 = PC ? w2 : w, *w2s = w, bv0 = bv, bv1 = PC ? bv2 : bv, bv2s = bv;
  const int W = p->W, H = p->H, OW = p->OW;
  int ih;
#define DW3S1_SETUP(s)                                                                                     \
  if (NS > s) {                                                                                            \
    const int os = PC ? ow0 : ow0 + 16 * s, c0 = os - p->pl;                                               \
    const float *xb = PC && s ? xc2 : xc, *rb = PC && s ? rc2 : rc;                                        \
    float *yb = PC && s ? yc2 : yc;                                                                        \
    m##s##0 = conv_dw_cols(c0, W), m##s##1 = conv_dw_cols(c0 + 1, W), m##s##2 = conv_dw_cols(c0 + 2, W);   \
    cm##s = conv_dw_cols(os, OW);                                                                          \
    x##s = xb + c0, y##s = yb + os, r##s = rb ? rb + os : NULL;                                            \
  }
  DW3S1_SETUP(0)
  DW3S1_SETUP(1)
  DW3S1_SETUP(2)
#undef DW3S1_SETUP
  /* at input row ih: A is output row ih + pt - 2 (tap row 2, done after this
   * row), B row ih + pt - 1 (tap row 1), C row ih + pt (tap row 0) */
  for (ih = oh0 - p->pt; ih <= oh1 + 1 - p->pt; ih++) {
    const int r = ih + p->pt - 2;
    if (ih >= 0 && ih < H) {
      const int64_t off = (int64_t)ih * W;
#define DW3S1_ROW(s)                                                                                       \
  if (NS > s) {                                                                                            \
    const __m512 v0 = _mm512_maskz_loadu_ps(m##s##0, x##s + off);                                          \
    const __m512 v1 = _mm512_maskz_loadu_ps(m##s##1, x##s + off + 1);                                      \
    const __m512 v2 = _mm512_maskz_loadu_ps(m##s##2, x##s + off + 2);                                      \
    const __m512 *ws = s == 0 ? w0 : s == 1 ? w1 : w2s;                                                    \
    A##s = _mm512_fmadd_ps(v2, ws[8], _mm512_fmadd_ps(v1, ws[7], _mm512_fmadd_ps(v0, ws[6], A##s)));       \
    B##s = _mm512_fmadd_ps(v2, ws[5], _mm512_fmadd_ps(v1, ws[4], _mm512_fmadd_ps(v0, ws[3], B##s)));       \
    C##s = _mm512_fmadd_ps(v2, ws[2], _mm512_fmadd_ps(v1, ws[1], _mm512_fmadd_ps(v0, ws[0], z)));          \
  }
      DW3S1_ROW(0)
      DW3S1_ROW(1)
      DW3S1_ROW(2)
#undef DW3S1_ROW
    } else {
      C0 = C1 = C2 = z;
    }
    if (r >= oh0) {
      const int64_t o = (int64_t)r * OW;
#define DW3S1_EMIT(s)                                                                                      \
  if (NS > s)                                                                                              \
    conv_dw_emit(p, A##s, s == 0 ? bv0 : s == 1 ? bv1 : bv2s, r##s ? r##s + o : NULL, y##s + o, cm##s, 16, 1);
      DW3S1_EMIT(0)
      DW3S1_EMIT(1)
      DW3S1_EMIT(2)
#undef DW3S1_EMIT
    }
    A0 = B0, B0 = C0, A1 = B1, B1 = C1, A2 = B2, B2 = C2;
  }
}

/* Stride 2: as conv_dw3s1_strips without PC; per input row each strip loads its 33
 * columns c0 .. c0 + 32 masked to the row (two vectors and one lane) and
 * deinterleaves them: even lanes tap 0, odd lanes tap 1, the evens shifted
 * down one lane tap 2.  Output row r reads input rows 2r - pt + (0, 1, 2);
 * the last is the first of row r + 1 (A: row r, C: row r + 1). */
RT_INLINE void conv_dw3s2_strips(const RtConv *p, const float *xc, const float *rc, float *yc, const __m512 *w,
                                 __m512 bv, int ow0, int oh0, int oh1, const int NS) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512 z = _mm512_setzero_ps();
  __m512 A0 = z, A1 = z, A2 = z, C0 = z, C1 = z, C2 = z;
  __mmask16 lo0 = 0, hi0 = 0, e0 = 0, lo1 = 0, hi1 = 0, e1 = 0, lo2 = 0, hi2 = 0, e2 = 0, cm0 = 0, cm1 = 0, cm2 = 0;
  const float *x0 = xc, *x1 = xc, *x2 = xc, *r0 = NULL, *r1 = NULL, *r2 = NULL;
  float *y0 = yc, *y1 = yc, *y2 = yc;
  const int W = p->W, H = p->H, OW = p->OW;
  int r, ih = 2 * oh0 - p->pt;
#define DW3S2_SETUP(s)                                                                                     \
  if (NS > s) {                                                                                            \
    const int c0 = 2 * (ow0 + 16 * s) - p->pl;                                                             \
    lo##s = conv_dw_cols(c0, W), hi##s = conv_dw_cols(c0 + 16, W);                                         \
    e##s = (__mmask16)(conv_dw_cols(c0 + 32, W) & 1u);                                                     \
    cm##s = conv_dw_cols(ow0 + 16 * s, OW);                                                                \
    x##s = xc + c0, y##s = yc + ow0 + 16 * s, r##s = rc ? rc + ow0 + 16 * s : NULL;                        \
  }
  DW3S2_SETUP(0)
  DW3S2_SETUP(1)
  DW3S2_SETUP(2)
#undef DW3S2_SETUP
  /* tap row I of input row at off into ACC (from IN0); row 2 also starts C */
#define DW3S2_ROW(s, I, ACC, IN0)                                                                          \
  if (NS > s) {                                                                                            \
    const __m512 l0 = _mm512_maskz_loadu_ps(lo##s, x##s + off);                                            \
    const __m512 l1 = _mm512_maskz_loadu_ps(hi##s, x##s + off + 16);                                       \
    const __m512 v0 = _mm512_permutex2var_ps(l0, even, l1), v1 = _mm512_permutex2var_ps(l0, odd, l1);      \
    const __m512 v2 = _mm512_castsi512_ps(_mm512_alignr_epi32(                                             \
        _mm512_castps_si512(_mm512_maskz_loadu_ps(e##s, x##s + off + 32)), _mm512_castps_si512(v0), 1));  \
    ACC##s = _mm512_fmadd_ps(v2, w[3 * I + 2], _mm512_fmadd_ps(v1, w[3 * I + 1], _mm512_fmadd_ps(v0, w[3 * I], IN0)));   \
    if (I == 2)                                                                                            \
      C##s = _mm512_fmadd_ps(v2, w[2], _mm512_fmadd_ps(v1, w[1], _mm512_fmadd_ps(v0, w[0], z)));                \
  }
  if (ih >= 0 && ih < H) {
    const int64_t off = (int64_t)ih * W;
    DW3S2_ROW(0, 0, A, z)
    DW3S2_ROW(1, 0, A, z)
    DW3S2_ROW(2, 0, A, z)
  }
  for (r = oh0; r < oh1; r++) {
    const int64_t o = (int64_t)r * OW;
    ih = 2 * r - p->pt + 1;
    if (ih >= 0 && ih < H) {
      const int64_t off = (int64_t)ih * W;
      DW3S2_ROW(0, 1, A, A0)
      DW3S2_ROW(1, 1, A, A1)
      DW3S2_ROW(2, 1, A, A2)
    }
    C0 = C1 = C2 = z;
    if (ih + 1 >= 0 && ih + 1 < H) {
      const int64_t off = (int64_t)(ih + 1) * W;
      DW3S2_ROW(0, 2, A, A0)
      DW3S2_ROW(1, 2, A, A1)
      DW3S2_ROW(2, 2, A, A2)
    }
#define DW3S2_EMIT(s)                                                                                      \
  if (NS > s)                                                                                              \
    conv_dw_emit(p, A##s, bv, r##s ? r##s + o : NULL, y##s + o, cm##s, 16, 1);
    DW3S2_EMIT(0)
    DW3S2_EMIT(1)
    DW3S2_EMIT(2)
#undef DW3S2_EMIT
    A0 = C0, A1 = C1, A2 = C2;
  }
#undef DW3S2_ROW
}

/* Output rows [oh0, oh1) of one channel of the 3x3 path: xc, rc, yc are its
 * input, residual and output planes, wk its 9 taps; the strips, border ones
 * and others alike, in groups of up to CONV_DW_NS.  The descriptor is a
 * private copy (see conv_dw_task). */
RT_HELPER void conv_dw3_plane(const RtConv *p0, const float *xc, const float *rc, float *yc, const float *wk,
                              float bias, int oh0, int oh1) {
  const RtConv pv = *p0, *p = &pv;
  const int nstrip = (p->OW + 15) / 16;
  const __m512 bv = _mm512_set1_ps(bias);
  __m512 wv[9];
  int i, s;
  for (i = 0; i < 9; i++)
    wv[i] = _mm512_set1_ps(wk[i]);
  /* all strips in groups of up to three, as even as can be */
  for (s = 0; s < nstrip;) {
    const int left = nstrip - s, ng = (left + CONV_DW_NS - 1) / CONV_DW_NS, ns = (left + ng - 1) / ng;
    const int c0 = s * 16, nc = p->OW - c0 < 16 * ns ? p->OW - c0 : 16 * ns;
    /* NOPC: the stride-1 kernel's arguments past NS, one channel */
#define DW3_S1_NOPC , 0, NULL, NULL, NULL, NULL, bv
#define DW3_STRIPS(F, NOPC)                                           \
  do {                                                                \
    if (ns == 3)                                                      \
      F(p, xc, rc, yc, wv, bv, c0, oh0, oh1, 3 NOPC);                 \
    else if (ns == 2)                                                 \
      F(p, xc, rc, yc, wv, bv, c0, oh0, oh1, 2 NOPC);                 \
    else                                                              \
      F(p, xc, rc, yc, wv, bv, c0, oh0, oh1, 1 NOPC);                 \
  } while (0)
    if (p->sw == 1)
      DW3_STRIPS(conv_dw3s1_strips, DW3_S1_NOPC);
    else
      DW3_STRIPS(conv_dw3s2_strips, );
#undef DW3_STRIPS
#undef DW3_S1_NOPC
    if (!conv_dw_simple(p)) /* the act the kernels left out */
      for (i = oh0; i < oh1; i++)
        rt_act_array(p->act, p->alpha, p->beta, yc + (int64_t)i * p->OW + c0, yc + (int64_t)i * p->OW + c0, nc);
    s += ns;
  }
}

/* Whether the 3x3 path runs channels in pairs (conv_dw3_pair): stride 1,
 * one strip per row, one input plane per output channel. */
RT_INLINE int conv_dw3_pairs(const RtConv *p) { return p->sw == 1 && p->OW <= 16 && p->K == p->C; }

/* Output rows [oh0, oh1) of two channels (a, b) of a conv_dw3_pairs map,
 * interleaved: 14x14 layers ~1.2x faster than channel by channel. */
RT_HELPER void conv_dw3_pair(const RtConv *p0, const float *xa, const float *xb, const float *ra, const float *rb,
                             float *ya, float *yb, const float *wka, const float *wkb, float ba, float bb, int oh0,
                             int oh1) {
  const RtConv pv = *p0, *p = &pv;
  __m512 wa[9], wb[9];
  int i;
  for (i = 0; i < 9; i++)
    wa[i] = _mm512_set1_ps(wka[i]), wb[i] = _mm512_set1_ps(wkb[i]);
  conv_dw3s1_strips(p, xa, ra, ya, wa, _mm512_set1_ps(ba), 0, oh0, oh1, 2, 1, xb, rb, yb, wb, _mm512_set1_ps(bb));
  for (i = oh0; i < oh1 && !conv_dw_simple(p); i++) { /* the act the kernel left out */
    rt_act_array(p->act, p->alpha, p->beta, ya + (int64_t)i * p->OW, ya + (int64_t)i * p->OW, p->OW);
    rt_act_array(p->act, p->alpha, p->beta, yb + (int64_t)i * p->OW, yb + (int64_t)i * p->OW, p->OW);
  }
}

/* One task of the 3x3 path: a band of up to CONV_DW_BAND output rows of one
 * channel (of two: conv_dw3_pairs). */
RT_HELPER void conv_dw3_task(const RtConv *p, int64_t t, const float *x, const float *w, const float *b,
                             const float *res, float *y) {
  const int Kg = p->K / p->groups;
  const int nb = (p->OH + CONV_DW_BAND - 1) / CONV_DW_BAND, bi = (int)(t % nb);
  const int oh0 = bi * CONV_DW_BAND, oh1 = p->OH - oh0 < CONV_DW_BAND ? p->OH : oh0 + CONV_DW_BAND;
  const int64_t q = t / nb, plane = (int64_t)p->OH * p->OW, xplane = (int64_t)p->H * p->W;
  const int k = (int)(q % p->K);
  if (conv_dw3_pairs(p)) { /* q: sample * ceil(K/2) + channel pair */
    const int np = (p->K + 1) / 2, k0 = (int)(q % np) * 2;
    const int64_t q0 = q / np * p->K + k0;
    if (k0 + 1 < p->K) {
      conv_dw3_pair(p, x + q0 * xplane, x + (q0 + 1) * xplane, res ? res + q0 * plane : NULL,
                    res ? res + (q0 + 1) * plane : NULL, y + q0 * plane, y + (q0 + 1) * plane, w + (int64_t)k0 * 9,
                    w + (int64_t)k0 * 9 + 9, b ? b[k0] : 0.0f, b ? b[k0 + 1] : 0.0f, oh0, oh1);
      return;
    }
    conv_dw3_plane(p, x + q0 * xplane, res ? res + q0 * plane : NULL, y + q0 * plane, w + (int64_t)k0 * 9,
                   b ? b[k0] : 0.0f, oh0, oh1);
    return;
  }
  conv_dw3_plane(p, x + (q / p->K * p->C + k / Kg) * xplane, res ? res + q * plane : NULL, y + q * plane,
                 w + (int64_t)k * 9, b ? b[k] : 0.0f, oh0, oh1);
}

/* Any other depthwise conv: CONV_DW_R output rows of one output channel of
 * one sample per task, 16 columns per vector, one register accumulator per
 * row (independent FMA chains).  Each output sums its taps in (i, j) order,
 * then + (bias + res): an order fixed by the shape.  A function of its own
 * so that in OpenMP builds too the descriptor is a private local copy:
 * stores to y cannot alias it, so its fields stay in registers (as shared
 * variables of the outlined parallel region they were reloaded after every
 * store). */
RT_HELPER void conv_dw_task(const RtConv *p0, int64_t t, const float *x, const float *w, const float *b,
                            const float *res, float *y) {
  const RtConv pv = *p0, *p = &pv;
  const int Kg = p->K / p->groups, taps = p->kh * p->kw;
  const int nrb = (p->OH + CONV_DW_R - 1) / CONV_DW_R, simple = conv_dw_simple(p);
  /* strips whose every load lies inside the row: c0 >= 0 and the last tap's
   * last loaded column (16 floats, 32 for stride 2) < W */
  const int span = (p->kw - 1) * p->dw + (p->sw == 2 ? 32 : 16);
  const int rb = (int)(t % nrb), k = (int)(t / nrb % p->K);
  const int64_t ni = t / nrb / p->K;
  const int oh0 = rb * CONV_DW_R, nr = p->OH - oh0 < CONV_DW_R ? p->OH - oh0 : CONV_DW_R;
  const float *xc = x + (ni * p->C + k / Kg) * (int64_t)p->H * p->W;
  const float *wk = w + (int64_t)k * taps;
  const int64_t yo = ((ni * p->K + k) * p->OH + oh0) * (int64_t)p->OW;
  const __m512 bv = _mm512_set1_ps(b ? b[k] : 0.0f);
  int ow0;
  for (ow0 = 0; ow0 < p->OW; ow0 += 16) {
    const int nc = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
    const __mmask16 cm = (__mmask16)(nc >= 16 ? 0xFFFF : (1u << nc) - 1u);
    const int c0 = ow0 * p->sw - p->pl;
    const int interior = c0 >= 0 && c0 + span <= p->W;
    __m512 acc[CONV_DW_R];
    int r;
    if (p->kw == 3 && p->sw == 1)
      conv_dw_strip(p, xc, wk, oh0, nr, c0, interior, 3, 1, acc);
    else if (p->kw == 3 && p->sw == 2)
      conv_dw_strip(p, xc, wk, oh0, nr, c0, interior, 3, 2, acc);
    else
      conv_dw_strip(p, xc, wk, oh0, nr, c0, 0, 0, 0, acc);
    for (r = 0; r < nr; r++) {
      const int64_t o = yo + (int64_t)r * p->OW + ow0;
      conv_dw_emit(p, acc[r], bv, res ? res + o : NULL, y + o, cm, nc, simple);
    }
  }
}

/* The channel-interleaved depthwise form on 16 lanes (the AVX2 conv_dwt_*
 * functions' layout with 16 channels per vector): 16 channels at a time, a
 * tap one full-width FMA whatever the stride or the map's width (a 7-wide
 * row in a strip is 7 of 16 lanes; 14x14 needs a permute per left tap in the
 * strip kernels).  Each input row of the 16 planes is transposed once into a
 * ring of the (kh - 1)*dh + 1 rows the current output row reads (zero
 * padding columns; rows outside the image zero rows), each output row is
 * computed into a row of 16-channel vectors, and runs of output rows are
 * transposed back into the planes with the epilogue.  An output sums its
 * taps in (i, j) order from zero (taps on padding add 0), then + (bias +
 * res), then the act.  Stack buffers (~30 KiB in all): the ring is limited to
 * CONV_DWT16_RING vectors (16 KiB), an output run to CONV_DWT16_OW pixels. */
enum { CONV_DWT16_RING = 256, CONV_DWT16_OW = 128 };

RT_INLINE int conv_dwt16_ok(const RtConv *p) {
  return p->C == p->groups && p->K == p->C && p->kh <= 7 && p->kw <= 7 && p->OW <= CONV_DWT16_OW &&
         (int64_t)conv_dwt_ring(p) * conv_dwt_wp(p) <= CONV_DWT16_RING && p->pl < conv_dwt_wp(p);
}

/* Where the 16-channel form is used instead of the strip kernels: output
 * rows up to RT_DWT16_MAXOW wide, where a strip's 16 lanes are half empty.
 * Wider rows pay two transposes per element for full lanes: MobileNetV2's
 * 14x14 stride-1 layers took 1.08x the strip form's time in the model (its
 * 7x7 ones 0.93x, the 14 -> 7 stride-2 one 0.98x), the 28x28 ones 1.02x. */
#ifndef RT_DWT16_MAXOW
#define RT_DWT16_MAXOW 8
#endif
RT_INLINE int conv_dwt16_use(const RtConv *p) { return p->OW <= RT_DWT16_MAXOW && conv_dwt16_ok(p); }

/* Input row ih of the 16 planes xs[l] into ring row d (padded column q is
 * input column q - pl); a row outside [0, H) is zeros. */
RT_INLINE void conv_dwt16_row_in(const RtConv *p, const float *const xs[16], int ih, float *d, int wp) {
  const int lo = p->pl, hi = p->pl + p->W < wp ? p->pl + p->W : wp; /* padded columns read from x */
  int q, l;
  if (ih < 0 || ih >= p->H) {
    for (q = lo; q < hi; q++)
      _mm512_storeu_ps(d + q * 16, _mm512_setzero_ps());
    return;
  }
  for (q = lo; q < hi; q += 16) {
    const int nq = hi - q < 16 ? hi - q : 16;
    const __mmask16 m = (__mmask16)(nq >= 16 ? 0xFFFF : (1u << nq) - 1u);
    const int64_t o = (int64_t)ih * p->W + (q - p->pl);
    __m512 r[16];
#define CONV_DWT16_LD(l) r[l] = _mm512_maskz_loadu_ps(m, xs[l] + o);
    RT_X16(CONV_DWT16_LD)
#undef CONV_DWT16_LD
    rt_tr16(r);
    for (l = 0; l < nq; l++)
      _mm512_storeu_ps(d + (q + l) * 16, r[l]);
  }
}

/* One output row from the kh padded window rows rows[t] (16-channel vectors)
 * into orow (OW vectors): taps in (i, j) order from zero; blocks of 4
 * outputs (the last at OW - 4, overlapping: the same sums again), two blocks
 * per pass over the taps (eight FMA chains); rows under 4 one by one. */
RT_INLINE void conv_dwt16_out_row(const RtConv *p, const float *const rows[7], const __m512 *wv, float *orow) {
  const int OW = p->OW, s16 = p->sw * 16, nb = OW >= 4 ? (OW + 3) / 4 : 0;
  int ow = nb > 0 ? OW : 0, b, t;
  for (b = 0; b < nb; b += 2) {
    const int o0 = 4 * b + 4 > OW ? OW - 4 : 4 * b, o1 = b + 1 < nb ? (4 * b + 8 > OW ? OW - 4 : 4 * b + 4) : o0;
    const int d1 = (o1 - o0) * s16;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (t = 0; t < p->kh; t++) {
      const float *xr = rows[t] + o0 * s16;
      int j;
      for (j = 0; j < p->kw; j++) {
        const __m512 w = wv[t * p->kw + j];
        const float *xq = xr + j * p->dw * 16;
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xq), w, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + s16), w, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + 2 * s16), w, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + 3 * s16), w, a3);
        a4 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + d1), w, a4);
        a5 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + d1 + s16), w, a5);
        a6 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + d1 + 2 * s16), w, a6);
        a7 = _mm512_fmadd_ps(_mm512_loadu_ps(xq + d1 + 3 * s16), w, a7);
      }
    }
    /* the second block first: when it is the first again (an odd count),
     * the first's stores are the ones that stay (the same sums) */
    _mm512_storeu_ps(orow + o1 * 16, a4), _mm512_storeu_ps(orow + o1 * 16 + 16, a5);
    _mm512_storeu_ps(orow + o1 * 16 + 32, a6), _mm512_storeu_ps(orow + o1 * 16 + 48, a7);
    _mm512_storeu_ps(orow + o0 * 16, a0), _mm512_storeu_ps(orow + o0 * 16 + 16, a1);
    _mm512_storeu_ps(orow + o0 * 16 + 32, a2), _mm512_storeu_ps(orow + o0 * 16 + 48, a3);
  }
  for (; ow < OW; ow++) {
    __m512 a0 = _mm512_setzero_ps();
    for (t = 0; t < p->kh; t++) {
      int j;
      for (j = 0; j < p->kw; j++)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(rows[t] + (ow * p->sw + j * p->dw) * 16), wv[t * p->kw + j], a0);
    }
    _mm512_storeu_ps(orow + ow * 16, a0);
  }
}

/* npx consecutive output pixels of nch (<= 16) planes from their 16-channel
 * vectors orow (pixel i at orow + 16i; room for npx rounded up to 16), the
 * first at pixel px0 of each plane: act(sum + (bias + res)) into the planes
 * yc (residual rc; plane floats apart), whole runs of rows at a time. */
RT_INLINE void conv_dwt16_store_run(const RtConv *p, const float *orow, int64_t px0, int npx, int nch,
                                    const float *bl, const float *rc, float *yc, int64_t plane) {
  const int sact = rt_act_vec(p->act) ? p->act : RT_ACT_NONE;
  int i, l;
  for (i = 0; i < npx; i += 16) {
    const int nl = npx - i < 16 ? npx - i : 16;
    const __mmask16 m = (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u);
    __m512 v[16];
    rt_tr16_load(orow + i * 16, v);
    for (l = 0; l < nch; l++) {
      const int64_t o = l * plane + px0 + i;
      rt_epi16(v[l], yc + o, rc ? rc + o : NULL, bl[l], m, sact, p->alpha, p->beta);
    }
  }
  if (sact != p->act)
    for (l = 0; l < nch; l++)
      rt_act_array(p->act, p->alpha, p->beta, yc + l * plane + px0, yc + l * plane + px0, npx);
}

/* The taps of channels [0, nch) as 16-lane vectors wv[t] (lanes past nch
 * repeat the last channel, never stored) and their biases, by transposes of
 * 16 taps at a time (wv: room for the taps rounded up to 16). */
RT_INLINE void conv_dwt16_weights(const RtConv *p, const float *wk, const float *bias, int nch, __m512 *wv,
                                  float *bl) {
  const int taps = p->kh * p->kw;
  int l, t;
  for (l = 0; l < 16; l++)
    bl[l] = bias ? bias[l < nch ? l : nch - 1] : 0.0f;
  for (t = 0; t < taps; t += 16) {
    const int nt = taps - t < 16 ? taps - t : 16;
    const __mmask16 m = (__mmask16)(nt >= 16 ? 0xFFFF : (1u << nt) - 1u);
    for (l = 0; l < 16; l++)
      wv[t + l] = _mm512_maskz_loadu_ps(m, wk + (int64_t)(l < nch ? l : nch - 1) * taps + t);
    rt_tr16(wv + t);
  }
}

/* Output rows [oh0, oh1) of channels [0, nch) (nch <= 16) of one sample:
 * xc the first channel's input plane, planes xps floats apart (rows p->W
 * apart; p->H rows, the first at padded row p->pt); wk the first channel's
 * kh*kw taps; rc/yc the residual and output planes of the first channel
 * (plane floats apart). */
RT_HELPER void conv_dwt16_group(const RtConv *p0, const float *xc, int64_t xps, const float *rc, float *yc,
                                int64_t plane, const float *wk, const float *bias, int nch, int oh0, int oh1) {
  const RtConv pv = *p0, *p = &pv;
  const int rs = conv_dwt_ring(p), wp = conv_dwt_wp(p);
  __m512 ringv[CONV_DWT16_RING], orowv[CONV_DWT16_OW + 16], wv[64]; /* vectors: 64-byte aligned */
  float *const ring = (float *)ringv, *const orow = (float *)orowv, bl[16];
  const float *xs[16];
  const int nrun = CONV_DWT16_OW / p->OW;
  RtRing g;
  int l, oh, srow = oh0; /* orow holds output rows [srow, oh] */
  for (l = 0; l < 16; l++)
    xs[l] = xc + (l < nch ? l : nch - 1) * xps;
  conv_dwt16_weights(p, wk, bias, nch, wv, bl);
  rt_ring_init(&g, ring, rs, wp, 16, p->pl, p->W, oh0 * p->sh - p->pt, 0.0f);
  for (oh = oh0; oh < oh1; oh++) {
    const int base = oh * p->sh - p->pt, last = base + (p->kh - 1) * p->dh;
    const float *rows[7];
    rt_ring_row(&g, oh > oh0, p->sh, base);
    for (; g.next <= last; rt_ring_next(&g))
      conv_dwt16_row_in(p, xs, g.next, rt_ring_in(&g, ring), wp);
    rt_ring_rows(&g, ring, p->kh, p->dh, rows);
    conv_dwt16_out_row(p, rows, wv, orow + (int64_t)(oh - srow) * p->OW * 16);
    if (oh + 1 == oh1 || oh + 1 - srow == nrun) {
      conv_dwt16_store_run(p, orow, (int64_t)srow * p->OW, (oh + 1 - srow) * p->OW, nch, bl, rc, yc, plane);
      srow = oh + 1;
    }
  }
}

/* Depthwise (one input channel per group): the 3x3 band tasks where they
 * apply, conv_dw_task otherwise. */
RT_HELPER void conv_depthwise(const RtConv *p, int n, const float *x, const float *w, const float *b,
                              const float *res, float *y) {
  const int64_t work = (int64_t)n * p->K * p->OH * p->OW * p->kh * p->kw;
  int64_t t;
  (void)work; /* read only by the OpenMP pragmas */
  /* parallel from 64K multiply-adds: a depthwise conv reads the expand conv
   * before it, split by the same channel halves; left serial it read half
   * its input from the other core (MobileNetV2's 7x7 and 14x14 layers ran
   * 2x slower at 2 threads than at 1) */
  if (conv_dwt16_use(p)) { /* tasks: (sample, 16 channels, band of rows) */
    const int ng = (p->K + 15) / 16, nb = (p->OH + CONV_DW_BAND - 1) / CONV_DW_BAND;
    const int64_t xplane = (int64_t)p->H * p->W, plane = (int64_t)p->OH * p->OW;
    RT_PAR_FOR(work >= RT_PAR_MIN_WORK_CH / 16, static, t, (int64_t)n * ng * nb,
      const int bi = (int)(t % nb), g = (int)(t / nb % ng), ni = (int)(t / nb / ng), k = g * 16;
      const int oh0 = bi * CONV_DW_BAND, oh1 = p->OH - oh0 < CONV_DW_BAND ? p->OH : oh0 + CONV_DW_BAND;
      const int64_t yo = ((int64_t)ni * p->K + k) * plane;
      conv_dwt16_group(p, x + ((int64_t)ni * p->C + k) * xplane, xplane, res ? res + yo : NULL, y + yo, plane,
                       w + (int64_t)k * p->kh * p->kw, b ? b + k : NULL, p->K - k < 16 ? p->K - k : 16, oh0, oh1);
    );
    return;
  }
  if (conv_dw3_ok(p)) {
    const int nk = conv_dw3_pairs(p) ? (p->K + 1) / 2 : p->K;
    const int64_t ntask = (int64_t)n * nk * ((p->OH + CONV_DW_BAND - 1) / CONV_DW_BAND);
    RT_PAR_FOR(work >= RT_PAR_MIN_WORK_CH / 16, static, t, ntask, conv_dw3_task(p, t, x, w, b, res, y););
  } else {
    const int64_t ntask = (int64_t)n * p->K * ((p->OH + CONV_DW_R - 1) / CONV_DW_R);
    RT_PAR_FOR(work >= RT_PAR_MIN_WORK_CH / 16, static, t, ntask, conv_dw_task(p, t, x, w, b, res, y););
  }
}
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* ------------------------------------------------- depthwise (AVX2) */

/* Any depthwise conv with stride 1 or 2 along W and a kernel of at most
 * 7x7: 3x3 ones (dilation 1) in 8-column strips of CONV_DW8_R-row blocks
 * (conv_dw8_block3), the others row by row in 16-column strips
 * (conv_dw8_strip).  Each output sums its taps in (i, j) order, then
 * + (bias + res): an order fixed by the shape, the same in every form.
 * Stride 2 takes the even lanes of two loads with one in-lane shuffle and
 * keeps that lane order (outputs 0 1 4 5 2 3 6 7) up to the epilogue, which
 * restores it once per vector. */
enum {
  CONV_DW8_R = 4,     /* output rows per block */
  CONV_DW8_TAPS = 49, /* kh * kw up to 7x7 */
  CONV_DW8_BAND = 32  /* output rows per task */
};

RT_INLINE int conv_dw8_ok(const RtConv *p) {
  return p->C == p->groups && (p->sw == 1 || p->sw == 2) && p->kh <= 7 && p->kw <= 7;
}

/* Load mask of the lanes l < 8 whose column c + l lies in [0, W). */
RT_INLINE __m256i conv_dw8_mask(int c, int W) {
  const __m256i col = _mm256_add_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_and_si256(_mm256_cmpgt_epi32(col, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(W), col));
}

/* Inputs of 8 outputs at columns c + l*S of row xr: plain loads for an
 * interior strip, else masked by mk (two masks for stride 2: zero outside
 * [0, W)); stride 2 in the shuffled lane order. */
RT_INLINE __m256 conv_dw8_in(const float *xr, int c, int interior, const __m256i *mk, const int S) {
  if (S == 1)
    return interior ? _mm256_loadu_ps(xr + c) : _mm256_maskload_ps(xr + c, mk[0]);
  {
    const __m256 a = interior ? _mm256_loadu_ps(xr + c) : _mm256_maskload_ps(xr + c, mk[0]);
    const __m256 b = interior ? _mm256_loadu_ps(xr + c + 8) : _mm256_maskload_ps(xr + c + 8, mk[1]);
    return _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  }
}

/* y[0, nc) = act(acc + (bias + res)) for one 8-column vector (nc > 8: all
 * 8). */
RT_INLINE void conv_dw8_emit(const RtConv *p, __m256 acc, __m256 bv, const float *rr, float *yr, int nc, const int S) {
  if (S == 2)
    acc = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(acc), _MM_SHUFFLE(3, 1, 2, 0)));
  rt_epi8(acc, yr, rr, _mm256_cvtss_f32(bv), nc < 8 ? nc : 8, p->act, p->alpha, p->beta);
  if (!rt_act_vec(p->act))
    rt_act_array(p->act, p->alpha, p->beta, yr, yr, nc < 8 ? nc : 8);
}

/* Masks of a border strip's loads: [tap column][half][load] */
RT_INLINE void conv_dw8_masks(const RtConv *p, int c0, int kw, const int NH, const int S, __m256i mk[7][2][2]) {
  int j, h;
  for (j = 0; j < kw; j++)
    for (h = 0; h < NH; h++) {
      mk[j][h][0] = conv_dw8_mask(c0 + j * p->dw + h * 8 * S, p->W);
      mk[j][h][1] = conv_dw8_mask(c0 + j * p->dw + h * 8 * S + 8, p->W);
    }
}

/* Any kernel up to 7x7: one output row at a time, NH accumulators
 * (latency-bound; kernels other than 3x3 with dilation 1). */
RT_INLINE void conv_dw8_strip(const RtConv *p, const float *xc, const float *rc, float *yc, const __m256 *wv,
                              __m256 bv, int oh, int nr, int ow0, int nc, const int NH, const int S) {
  const int c0 = ow0 * S - p->pl, span = (p->kw - 1) * p->dw + 8 * NH * S;
  const int interior = c0 >= 0 && c0 + span <= p->W;
  __m256i mk[7][2][2];
  int r, i, j;
  conv_dw8_masks(p, c0, p->kw, NH, S, mk); /* (unread by interior strips) */
  for (r = 0; r < nr; r++) {
    const int64_t o = (int64_t)(oh + r) * p->OW + ow0;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    for (i = 0; i < p->kh; i++) {
      const int ih = (oh + r) * p->sh - p->pt + i * p->dh;
      const float *xr;
      if (ih < 0 || ih >= p->H)
        continue;
      xr = xc + (int64_t)ih * p->W;
      for (j = 0; j < p->kw; j++) {
        a0 = _mm256_fmadd_ps(conv_dw8_in(xr, c0 + j * p->dw, interior, mk[j][0], S), wv[i * p->kw + j], a0);
        if (NH > 1)
          a1 = _mm256_fmadd_ps(conv_dw8_in(xr, c0 + j * p->dw + 8 * S, interior, mk[j][1], S), wv[i * p->kw + j],
                               a1);
      }
    }
    conv_dw8_emit(p, a0, bv, rc ? rc + o : NULL, yc + o, nc, S);
    if (NH > 1)
      conv_dw8_emit(p, a1, bv, rc ? rc + o + 8 : NULL, yc + o + 8, nc - 8, S);
  }
}

/* Rows [oh, oh + nr) (nr <= CONV_DW8_R = 4) x columns [ow0, ow0 + nc)
 * (nc <= 8) of one plane of a 3x3 conv with dilation 1, strides S
 * along W and SH along H; interior: every load of the strip lies inside the
 * row; rows_in: every input row of the block lies inside the plane.  Each
 * input row's three tap vectors are loaded once and go to every output row
 * that reads them; the 9 weights and 4 accumulators stay in registers.
 * Written out with constant trip counts (gcc does not unroll a nest this
 * size, and an accumulator array it indexes stays in memory). */
RT_INLINE void conv_dw8_block3(const RtConv *p, const float *xc, const float *rc, float *yc, const __m256 *wv,
                               __m256 bv, int oh, int nr, int ow0, int nc, const int S, const int SH,
                               const int interior, const int rows_in, __m256i mk[7][2][2]) {
  const int c0 = ow0 * S - p->pl, top = oh * SH - p->pt;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
#define DW8_I(t, r) ((t) - (r) * SH < 0 ? 0 : (t) - (r) * SH > 2 ? 2 : (t) - (r) * SH)
#define DW8_FMA(r, t, j)                                                                                   \
  if ((t) - (r) * SH >= 0 && (t) - (r) * SH < 3 && (r) < nr)                                               \
    a##r = _mm256_fmadd_ps(v, wv[DW8_I(t, r) * 3 + (j)], a##r);
#define DW8_J(t, j)                                                                                        \
  {                                                                                                        \
    const __m256 v = conv_dw8_in(xr, c0 + (j), interior, mk[j][0], S);                                     \
    DW8_FMA(0, t, j) DW8_FMA(1, t, j) DW8_FMA(2, t, j) DW8_FMA(3, t, j)                                    \
  }
#define DW8_T(t)                                                                                           \
  if ((t) <= (nr - 1) * SH + 2) {                                                                          \
    const int ih = top + (t);                                                                              \
    if (rows_in || (ih >= 0 && ih < p->H)) {                                                               \
      const float *xr = xc + (int64_t)ih * p->W;                                                           \
      DW8_J(t, 0) DW8_J(t, 1) DW8_J(t, 2)                                                                  \
    }                                                                                                      \
  }
  DW8_T(0) DW8_T(1) DW8_T(2) DW8_T(3) DW8_T(4) DW8_T(5)
  if (SH == 2) {
    DW8_T(6) DW8_T(7) DW8_T(8)
  }
#undef DW8_T
#undef DW8_J
#undef DW8_FMA
#undef DW8_I
#define DW8_EMIT(r)                                                                                        \
  if ((r) < nr) {                                                                                          \
    const int64_t o = (int64_t)(oh + (r)) * p->OW + ow0;                                                   \
    conv_dw8_emit(p, a##r, bv, rc ? rc + o : NULL, yc + o, nc, S);                                         \
  }
  DW8_EMIT(0) DW8_EMIT(1) DW8_EMIT(2) DW8_EMIT(3)
#undef DW8_EMIT
}

/* Rows [oh0, oh1) x one 8-column strip of a 3x3 plane, block by block, each
 * with a constant row count and, inside the plane's rows, no row checks.  A
 * short last block is instead a full one overlapping the block before (its
 * rows computed twice, bit for bit the same) unless the output is the
 * residual (the second pass would read the first one's results); only
 * planes of fewer than 4 rows take a block with a row count. */
RT_INLINE void conv_dw8_col3(const RtConv *p, const float *xc, const float *rc, float *yc, const float *wk,
                             __m256 bv, int oh0, int oh1, int ow0, const int S, const int SH) {
  const int nc = p->OW - ow0 < 8 ? p->OW - ow0 : 8, c0 = ow0 * S - p->pl;
  const int interior = c0 >= 0 && c0 + 2 + 8 * S <= p->W;
  __m256 wv[9];
  __m256i mk[7][2][2];
  int i, oh;
  for (i = 0; i < 9; i++)
    wv[i] = _mm256_set1_ps(wk[i]);
  conv_dw8_masks(p, c0, 3, 1, S, mk); /* (unread by interior strips) */
  for (oh = oh0; oh < oh1; oh += CONV_DW8_R) {
    int o = oh, nr = oh1 - oh < CONV_DW8_R ? oh1 - oh : CONV_DW8_R, top, bot;
    if (nr < CONV_DW8_R && oh1 - oh0 >= CONV_DW8_R && rc != yc) /* a full block overlapping the last */
      o = oh1 - CONV_DW8_R, nr = CONV_DW8_R;
    top = o * SH - p->pt, bot = (o + nr - 1) * SH - p->pt + 2;
    if (nr < CONV_DW8_R)
      conv_dw8_block3(p, xc, rc, yc, wv, bv, o, nr, ow0, nc, S, SH, interior, 0, mk);
    else if (top >= 0 && bot < p->H && interior)
      conv_dw8_block3(p, xc, rc, yc, wv, bv, o, CONV_DW8_R, ow0, nc, S, SH, 1, 1, mk);
    else if (top >= 0 && bot < p->H)
      conv_dw8_block3(p, xc, rc, yc, wv, bv, o, CONV_DW8_R, ow0, nc, S, SH, 0, 1, mk);
    else if (interior)
      conv_dw8_block3(p, xc, rc, yc, wv, bv, o, CONV_DW8_R, ow0, nc, S, SH, 1, 0, mk);
    else
      conv_dw8_block3(p, xc, rc, yc, wv, bv, o, CONV_DW8_R, ow0, nc, S, SH, 0, 0, mk);
  }
}

/* conv_dw8_col3's stride pairs as functions of their own: inlined together
 * into the plane loop, gcc kept the weights on the stack. */
#define CONV_DW8_COL3(S, SH)                                                                                           \
  RT_NOINLINE void conv_dw8_col3_##S##SH(const RtConv *p, const float *xc, const float *rc, float *yc,                 \
                                         const float *wk, __m256 bv, int oh0, int oh1, int ow0) {                      \
    conv_dw8_col3(p, xc, rc, yc, wk, bv, oh0, oh1, ow0, S, SH);                                                        \
  }
CONV_DW8_COL3(1, 1)
CONV_DW8_COL3(1, 2)
CONV_DW8_COL3(2, 1)
CONV_DW8_COL3(2, 2)
#undef CONV_DW8_COL3

/* One strip of nc columns of the general form. */
RT_INLINE void conv_dw8_strips(const RtConv *p, const float *xc, const float *rc, float *yc, const __m256 *wv,
                               __m256 bv, int oh, int nr, int ow0, int nc, const int S) {
  if (nc > 8)
    conv_dw8_strip(p, xc, rc, yc, wv, bv, oh, nr, ow0, nc, 2, S);
  else
    conv_dw8_strip(p, xc, rc, yc, wv, bv, oh, nr, ow0, nc, 1, S);
}

/* Output rows [oh0, oh1) of one channel: xc, rc, yc its input, residual and
 * output planes, wk its taps.  The descriptor is a private copy (see
 * conv_dw_task in the AVX-512 block). */
RT_HELPER void conv_dw8_plane(const RtConv *p0, const float *xc, const float *rc, float *yc, const float *wk,
                              float bias, int oh0, int oh1) {
  const RtConv pv = *p0, *p = &pv;
  const __m256 bv = _mm256_set1_ps(bias);
  __m256 wv[CONV_DW8_TAPS];
  int i, oh, ow0;
  if (p->kh == 3 && p->kw == 3 && p->dh == 1 && p->dw == 1 && (p->sh == 1 || p->sh == 2)) {
    for (ow0 = 0; ow0 < p->OW; ow0 += 8) {
      if (ow0 + 8 > p->OW && p->OW >= 8 && rc != yc) /* a full strip overlapping the last */
        ow0 = p->OW - 8;
      if (p->sw == 1 && p->sh == 1)
        conv_dw8_col3_11(p, xc, rc, yc, wk, bv, oh0, oh1, ow0);
      else if (p->sw == 1)
        conv_dw8_col3_12(p, xc, rc, yc, wk, bv, oh0, oh1, ow0);
      else if (p->sh == 1)
        conv_dw8_col3_21(p, xc, rc, yc, wk, bv, oh0, oh1, ow0);
      else
        conv_dw8_col3_22(p, xc, rc, yc, wk, bv, oh0, oh1, ow0);
    }
    return;
  }
  for (i = 0; i < p->kh * p->kw; i++)
    wv[i] = _mm256_set1_ps(wk[i]);
  for (oh = oh0; oh < oh1; oh += CONV_DW8_R) {
    const int nr = oh1 - oh < CONV_DW8_R ? oh1 - oh : CONV_DW8_R;
    for (ow0 = 0; ow0 < p->OW; ow0 += 16) {
      const int nc = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
      if (p->sw == 1)
        conv_dw8_strips(p, xc, rc, yc, wv, bv, oh, nr, ow0, nc, 1);
      else
        conv_dw8_strips(p, xc, rc, yc, wv, bv, oh, nr, ow0, nc, 2);
    }
  }
}

/* The channel-interleaved form: 8 channels at a time in the 8 lanes, so a
 * tap is one full-width FMA whatever the stride or the width of the map (no
 * lane shuffles for stride 2, no half-empty vectors on 7x7 or 14x14 maps,
 * no masked loads at the borders).  Each input row of the 8 planes is
 * transposed once into a ring of the (kh - 1)*dh + 1 rows the current output
 * row reads (zero-padded columns on both sides; rows outside the image are
 * zero rows), each output row is computed into a row of 8-channel vectors
 * and transposed back into the 8 output planes with the epilogue.  An output
 * sums its taps in (i, j) order (taps on padding add 0), then
 * + (bias + res), then the act: a per-channel order that the grouping of
 * channels does not change.  Stack buffers, so the ring is limited to
 * CONV_DWT_RING vectors and an output row to CONV_DWT_OW columns. */
enum { CONV_DWT_RING = 1024, CONV_DWT_OW = 256 };

RT_INLINE int conv_dwt_ok(const RtConv *p) {
  return p->C == p->groups && p->K == p->C && p->kh <= 7 && p->kw <= 7 && p->OW <= CONV_DWT_OW &&
         (int64_t)conv_dwt_ring(p) * conv_dwt_wp(p) <= CONV_DWT_RING && p->pl < conv_dwt_wp(p);
}

/* 8 x 8 transpose of r[0..8) in place. */
RT_INLINE void conv_tr8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* Input row ih of the 8 planes xs[l] into ring row d (padded column q is
 * input column q - pl); a row outside [0, H) is zeros. */
RT_INLINE void conv_dwt_row_in(const RtConv *p, const float *const xs[8], int ih, float *d, int wp) {
  const int lo = p->pl, hi = p->pl + p->W < wp ? p->pl + p->W : wp; /* padded columns read from x */
  int q, l;
  if (ih < 0 || ih >= p->H) {
    for (q = lo; q < hi; q++)
      _mm256_storeu_ps(d + q * 8, _mm256_setzero_ps());
    return;
  }
  for (q = lo; q + 8 <= hi; q += 8) {
    __m256 r[8];
    for (l = 0; l < 8; l++)
      r[l] = _mm256_loadu_ps(xs[l] + (int64_t)ih * p->W + (q - p->pl));
    conv_tr8(r);
    for (l = 0; l < 8; l++)
      _mm256_storeu_ps(d + (q + l) * 8, r[l]);
  }
  if (q < hi) { /* the last hi - q < 8 columns: masked loads, hi - q stores */
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi - q), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 r[8];
    for (l = 0; l < 8; l++)
      r[l] = _mm256_maskload_ps(xs[l] + (int64_t)ih * p->W + (q - p->pl), m);
    conv_tr8(r);
    for (l = 0; l < hi - q; l++)
      _mm256_storeu_ps(d + (q + l) * 8, r[l]);
  }
}

/* One output row from the kh input rows it reads (rows[t]: padded row t of
 * the window, 8-channel vectors, wp columns) into orow (OW vectors): taps in
 * (i, j) order from zero. */
RT_INLINE void conv_dwt_out_row(const RtConv *p, const float *const rows[7], const __m256 *wv, float *orow) {
  const int OW = p->OW, s8 = p->sw * 8, nb = OW >= 4 ? (OW + 3) / 4 : 0;
  int ow = nb > 0 ? OW : 0, b, t;
  /* blocks of 4 outputs at 4b (the last one at OW - 4, overlapping the one
   * before: the same sums again), two blocks per pass over the taps: eight
   * chains of FMAs, not four (each is a tap's latency per step); rows under
   * 4 one output at a time */
  for (b = 0; b < nb; b += 2) {
    const int o0 = 4 * b + 4 > OW ? OW - 4 : 4 * b, o1 = b + 1 < nb ? (4 * b + 8 > OW ? OW - 4 : 4 * b + 4) : o0;
    const int d1 = (o1 - o0) * s8;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (t = 0; t < p->kh; t++) {
      const float *xr = rows[t] + o0 * s8;
      int j;
      for (j = 0; j < p->kw; j++) {
        const __m256 w = wv[t * p->kw + j];
        const float *xq = xr + j * p->dw * 8;
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(xq), w, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + s8), w, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + 2 * s8), w, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + 3 * s8), w, a3);
        a4 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + d1), w, a4);
        a5 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + d1 + s8), w, a5);
        a6 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + d1 + 2 * s8), w, a6);
        a7 = _mm256_fmadd_ps(_mm256_loadu_ps(xq + d1 + 3 * s8), w, a7);
      }
    }
    /* the second block first: when it is the first again (an odd count),
     * the first's stores are the ones that stay (they are the same sums) */
    _mm256_storeu_ps(orow + o1 * 8, a4), _mm256_storeu_ps(orow + o1 * 8 + 8, a5);
    _mm256_storeu_ps(orow + o1 * 8 + 16, a6), _mm256_storeu_ps(orow + o1 * 8 + 24, a7);
    _mm256_storeu_ps(orow + o0 * 8, a0), _mm256_storeu_ps(orow + o0 * 8 + 8, a1);
    _mm256_storeu_ps(orow + o0 * 8 + 16, a2), _mm256_storeu_ps(orow + o0 * 8 + 24, a3);
  }
  for (; ow < OW; ow++) {
    __m256 a0 = _mm256_setzero_ps();
    for (t = 0; t < p->kh; t++) {
      int j;
      for (j = 0; j < p->kw; j++)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(rows[t] + (ow * p->sw + j * p->dw) * 8), wv[t * p->kw + j], a0);
    }
    _mm256_storeu_ps(orow + ow * 8, a0);
  }
}

/* npx consecutive output pixels of nch (<= 8) planes from their 8-channel
 * vectors orow (pixel i at orow + 8i, room for npx rounded up to 8), the
 * first at pixel px0 of each plane: act(sum + (bias + res)) into the planes
 * yc (residual rc; plane floats apart).  Callers pass whole runs of rows
 * (the plane's rows are consecutive): a 7-wide map stored row by row was a
 * 7-lane store, as three, per row and channel. */
RT_INLINE void conv_dwt_store_run(const RtConv *p, const float *orow, int64_t px0, int npx, int nch,
                                  const float *bl, const float *rc, float *yc, int64_t plane) {
  int i, l;
  for (i = 0; i < npx; i += 8) {
    __m256 v[8];
    for (l = 0; l < 8; l++)
      v[l] = _mm256_loadu_ps(orow + (i + l) * 8);
    conv_tr8(v);
    for (l = 0; l < nch; l++) {
      const int64_t o = l * plane + px0 + i;
      rt_epi8(v[l], yc + o, rc ? rc + o : NULL, bl[l], npx - i < 8 ? npx - i : 8, p->act, p->alpha, p->beta);
    }
  }
  if (!rt_act_vec(p->act))
    for (l = 0; l < nch; l++)
      rt_act_array(p->act, p->alpha, p->beta, yc + l * plane + px0, yc + l * plane + px0, npx);
}

/* Output rows per conv_dwt_store_run: as many whole rows as orow holds. */
RT_INLINE int conv_dwt_run_rows(const RtConv *p) { return CONV_DWT_OW / p->OW; }

/* The taps of channels [0, nch) as 8-lane vectors (lanes past nch repeat
 * the last channel, never stored) and their biases: 8 taps at a time by a
 * transpose, the rest lane by lane. */
RT_INLINE void conv_dwt_weights(const RtConv *p, const float *wk, const float *bias, int nch, __m256 *wv, float *bl) {
  const int taps = p->kh * p->kw;
  const float *r[8];
  int l, t;
  for (l = 0; l < 8; l++) {
    bl[l] = bias ? bias[l < nch ? l : nch - 1] : 0.0f;
    r[l] = wk + (l < nch ? l : nch - 1) * taps;
  }
  for (t = 0; t + 8 <= taps; t += 8) {
    for (l = 0; l < 8; l++)
      wv[t + l] = _mm256_loadu_ps(r[l] + t);
    conv_tr8(wv + t);
  }
  for (; t < taps; t++)
    wv[t] = _mm256_setr_ps(r[0][t], r[1][t], r[2][t], r[3][t], r[4][t], r[5][t], r[6][t], r[7][t]);
}

/* Output rows [oh0, oh1) of channels [0, nch) (nch <= 8) of one sample:
 * xc the first channel's input plane, planes xps floats apart (rows p->W
 * apart; p->H rows, the first at padded row p->pt); wk the first channel's
 * kh*kw taps; rc/yc the residual and output planes of the first channel
 * (plane floats apart). */
RT_HELPER void conv_dwt_group(const RtConv *p0, const float *xc, int64_t xps, const float *rc, float *yc,
                              int64_t plane, const float *wk, const float *bias, int nch, int oh0, int oh1) {
  const RtConv pv = *p0, *p = &pv;
  const int rs = conv_dwt_ring(p), wp = conv_dwt_wp(p);
  float ring[CONV_DWT_RING * 8], orow[(CONV_DWT_OW + 8) * 8], bl[8];
  __m256 wv[49];
  const float *xs[8];
  const int nrun = conv_dwt_run_rows(p);
  RtRing g;
  int l, oh, srow = oh0; /* orow holds output rows [srow, oh] */
  for (l = 0; l < 8; l++)
    xs[l] = xc + (l < nch ? l : nch - 1) * xps;
  conv_dwt_weights(p, wk, bias, nch, wv, bl);
  rt_ring_init(&g, ring, rs, wp, 8, p->pl, p->W, oh0 * p->sh - p->pt, 0.0f);
  for (oh = oh0; oh < oh1; oh++) {
    const int base = oh * p->sh - p->pt, last = base + (p->kh - 1) * p->dh;
    const float *rows[7];
    rt_ring_row(&g, oh > oh0, p->sh, base);
    for (; g.next <= last; rt_ring_next(&g))
      conv_dwt_row_in(p, xs, g.next, rt_ring_in(&g, ring), wp);
    rt_ring_rows(&g, ring, p->kh, p->dh, rows);
    conv_dwt_out_row(p, rows, wv, orow + (int64_t)(oh - srow) * p->OW * 8);
    if (oh + 1 == oh1 || oh + 1 - srow == nrun) {
      conv_dwt_store_run(p, orow, (int64_t)srow * p->OW, (oh + 1 - srow) * p->OW, nch, bl, rc, yc, plane);
      srow = oh + 1;
    }
  }
}

/* One task: a band of up to CONV_DW8_BAND output rows of one channel of one
 * sample. */
RT_HELPER void conv_dw8_task(const RtConv *p, int64_t t, const float *x, const float *w, const float *b,
                             const float *res, float *y) {
  const int Kg = p->K / p->groups, taps = p->kh * p->kw;
  const int nb = (p->OH + CONV_DW8_BAND - 1) / CONV_DW8_BAND, bi = (int)(t % nb);
  const int oh0 = bi * CONV_DW8_BAND, oh1 = p->OH - oh0 < CONV_DW8_BAND ? p->OH : oh0 + CONV_DW8_BAND;
  const int64_t q = t / nb, plane = (int64_t)p->OH * p->OW, xplane = (int64_t)p->H * p->W;
  const int k = (int)(q % p->K);
  conv_dw8_plane(p, x + (q / p->K * p->C + k / Kg) * xplane, res ? res + q * plane : NULL, y + q * plane,
                 w + (int64_t)k * taps, b ? b[k] : 0.0f, oh0, oh1);
}

RT_HELPER void conv_depthwise(const RtConv *p, int n, const float *x, const float *w, const float *b,
                              const float *res, float *y) {
  const int64_t work = (int64_t)n * p->K * p->OH * p->OW * p->kh * p->kw;
  const int64_t ntask = (int64_t)n * p->K * ((p->OH + CONV_DW8_BAND - 1) / CONV_DW8_BAND);
  int64_t t;
  (void)work; /* read only by the OpenMP pragmas */
#ifndef RT_DWT_OFF
  if (conv_dwt_ok(p)) { /* tasks: (sample, 8 channels, band of rows) */
    const int ng = (p->K + 7) / 8, nb = (p->OH + CONV_DW8_BAND - 1) / CONV_DW8_BAND;
    const int64_t xplane = (int64_t)p->H * p->W, plane = (int64_t)p->OH * p->OW;
    RT_PAR_FOR(work >= RT_PAR_MIN_WORK_CH / 16, static, t, (int64_t)n * ng * nb,
      const int bi = (int)(t % nb), g = (int)(t / nb % ng), ni = (int)(t / nb / ng), k = g * 8;
      const int oh0 = bi * CONV_DW8_BAND, oh1 = p->OH - oh0 < CONV_DW8_BAND ? p->OH : oh0 + CONV_DW8_BAND;
      const int64_t yo = ((int64_t)ni * p->K + k) * plane;
      conv_dwt_group(p, x + ((int64_t)ni * p->C + k) * xplane, xplane, res ? res + yo : NULL, y + yo, plane,
                     w + (int64_t)k * p->kh * p->kw, b ? b + k : NULL, p->K - k < 8 ? p->K - k : 8, oh0, oh1);
    );
    return;
  }
#endif
  /* parallel as early as the AVX-512 path (see there) */
  RT_PAR_FOR(work >= RT_PAR_MIN_WORK_CH / 16, static, t, ntask, conv_dw8_task(p, t, x, w, b, res, y););
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
 * output columns whose input column is inside the row (rt_valid_range
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
    rt_valid_range(0, p->OW, p->sw, j * p->dw - p->pl, p->W, &lo[j], &hi[j]);
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
            rt_valid_range(0, p->OW, p->sw, off, p->W, &l, &h);
          if (!tail) {
            float *d = dst + (int64_t)k * pw;
            conv_im2col_run(p, xg + c * plane, i, off, l, h, oh0, ow0, w, d);
            for (u = w; u < pw; u++)
              d[u] = 0.0f;
          } else {
            float col[8]; /* the tail has at most 8 columns */
            conv_im2col_run(p, xg + c * plane, i, off, l, h, oh0, ow0, w, col);
            for (u = 0; u < w && u < 8; u++)
              dst[(int64_t)u * K + k] = col[u];
          }
        }
  }
}

/* Panels per fused pack-and-multiply task. */
enum { CONV_GP = 4 };

/* The phase-split packing (below, after the phase-split helpers) */
RT_INLINE int conv_q_ok(const RtConv *p);
RT_INLINE int64_t conv_q_size(const RtConv *p, int Cg);
RT_HELPER void conv_q_fill(const RtConv *p, const float *xg, int Cg, float *xq, int par);
RT_HELPER void conv_q_pack(const RtConv *p, const float *xq, int Cg, int q0, int q1, float *Bp);

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
  float *xq;
  memset(&gm, 0, sizeof gm);
  gm.M = Kg, gm.N = p->OH * p->OW, gm.K = Cg * p->kh * p->kw;
  gm.A = wg, gm.lda = gm.K, gm.Bp = Bp, gm.ldb = 0;
  gm.C = yg, gm.rsc = gm.N, gm.csc = 1;
  gm.bias = bg, gm.res = rg;
  gm.act = p->act, gm.alpha = p->alpha, gm.beta = p->beta;
  gm.pix = rt_split_pixels(gm.N, (int64_t)gm.M * gm.K, (int64_t)Cg * p->H * p->W + (int64_t)gm.M * gm.N);
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  if (conv_is_1x1(p)) {
    /* B is x itself (Cg rows of npix floats): read in place, the kernels
     * mask the loads past each row; only the few tail columns (the dot
     * kernel's) are gathered k-major into the scratch */
    const int nmain = RT_GEMM_NMAIN(gm.N);
    int c, j;
#ifndef RT_PACK1X1_MINM
#define RT_PACK1X1_MINM 256
#endif
    /* packed: a wide layer, or the compiler's hint (tile 1: an input the
     * fused 1x1 + depthwise pass just wrote, 8 planes at a time) on one
     * thread: MobileNetV2 ran 1.6-2.4% faster with it at 1 thread in
     * bench/ab.sh, 1.030 and 1.041 at 2 (the copy is serial; identical
     * code measured 1.019 there, so that is at the noise).  Either way
     * each output is the same sum. */
#ifdef _OPENMP
    const int hint = p->tile == 1 && omp_get_max_threads() == 1;
#else
    const int hint = p->tile == 1;
#endif
    if (gm.N % 8 != 0 && (gm.M >= RT_PACK1X1_MINM || hint)) {
      rt_gemm_pack_b(Cg, gm.N, xg, gm.N, 1, Bp);
      rt_gemm_packed(&gm);
      return;
    }
    gm.Bp = xg, gm.ldb = gm.N, gm.bexact = 1, gm.pixw = p->OW;
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
  /* with enough panel groups each task packs and multiplies its own pixels
   * (one parallel phase after the copy): that pays from the lower threshold */
  par = (int64_t)gm.M * gm.N * gm.K >= (ngrp >= 4 ? RT_PAR_MIN_WORK_CH : RT_PAR_MIN_WORK);
  (void)par; /* read only by the OpenMP pragmas */
  /* the phase-split copy sits after the packed B (rt_conv2d_scratch) */
  xq = conv_q_ok(p) ? Bp + (int64_t)gm.K * ((gm.N + 15) / 16 * 16) : NULL;
  if (xq)
    conv_q_fill(p, xg, Cg, xq, par);
  if (ngrp >= 4) {
    /* groups of up to CONV_GP panels, as many per thread (the static
     * schedule hands each thread a run of them): 17 panels as 5 groups of
     * 4 gave 2 threads 12 and 5 (ResNet-18's 56 -> 28 conv: 1.40x from the
     * second thread); as 6 groups 9 and 8 */
#ifdef _OPENMP
    const int nt = par && omp_get_max_threads() > 1 ? omp_get_max_threads() : 1;
#else
    const int nt = 1;
#endif
    ngrp = nt * ((np + CONV_GP * nt - 1) / (CONV_GP * nt));
    RT_PAR_FOR(par, static, q, ngrp,
      const int q0 = (int)((int64_t)q * np / ngrp), q1 = (int)((int64_t)(q + 1) * np / ngrp);
      if (q0 < q1) {
        if (xq)
          conv_q_pack(p, xq, Cg, q0, q1, Bp);
        else
          conv_pack_panels(p, xg, Cg, q0, q1, Bp);
        rt_gemm_panels(&gm, q0, q1, 0, Kg);
      }
    );
  } else {
    RT_PAR_FOR(par, static, q, np,
      if (xq)
        conv_q_pack(p, xq, Cg, q, q + 1, Bp);
      else
        conv_pack_panels(p, xg, Cg, q, q + 1, Bp);
    );
    rt_gemm_packed(&gm);
  }
}

/* ------------------------------------ phase-split copy of the input */

/* Strided convs read the input at stride sw along rows: the implicit GEMM
 * below reads instead a zero-padded copy of it whose rows are split into sw
 * column phases (padded column q of padded row r goes to phase q % sw,
 * column q / sw), so the taps of consecutive output columns are consecutive
 * floats and nothing needs a bounds check.  Layout:
 * xph[((c*hp + r)*sw + ph)*wph + col], padded row r = input row r - pt; tap
 * (c, i, j) of output (oh, ow) is at xph + conv_phase_koff(c, i, j) +
 * oh*sh*sw*wph + ow. */

/* Padded rows (every tap of every output row inside [0, hp)) and the length
 * of one phase row for outputs [0, ocols) (ocols >= OW): the tap offsets
 * reach (kw-1)*dw/sw past the last output column. */
RT_INLINE void conv_phase_dims(const RtConv *p, int ocols, int *hp, int *wph) {
  *hp = (p->OH - 1) * p->sh + (p->kh - 1) * p->dh + 1;
  *wph = ocols + (p->kw - 1) * p->dw / p->sw;
}

RT_INLINE int64_t conv_phase_koff(const RtConv *p, int hp, int wph, int c, int i, int j) {
  return (((int64_t)c * hp + i * p->dh) * p->sw + j * p->dw % p->sw) * wph + j * p->dw / p->sw;
}

/* dst[0..n) = src[col*s + q0] where that lies in [0, W), 0 elsewhere: one
 * phase of one zero-padded input row. */
RT_HELPER void conv_phase_row(const float *src, int W, int s, int q0, float *dst, int n) {
  int lo, hi, o;
  rt_valid_range(0, n, s, q0, W, &lo, &hi);
  for (o = 0; o < lo; o++)
    dst[o] = 0.0f;
  if (s == 1) {
    for (o = lo; o < hi; o++)
      dst[o] = src[o + q0];
  } else {
    o = lo;
#if defined(__AVX512F__)
    if (s == 2) {
      /* 16 outputs from the even lanes of 31 contiguous inputs, never
       * reading past the last one needed */
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      for (; o < hi; o += 16) {
        const int nl = hi - o < 16 ? hi - o : 16, ni = 2 * nl - 1;
        const __mmask16 m0 = (__mmask16)(ni >= 16 ? 0xFFFF : (1u << ni) - 1u);
        const __mmask16 m1 = (__mmask16)(ni <= 16 ? 0 : (1u << (ni - 16)) - 1u);
        const float *sp = src + 2 * o + q0;
        const __m512 v =
            _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m0, sp), even, _mm512_maskz_loadu_ps(m1, sp + 16));
        _mm512_mask_storeu_ps(dst + o, (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u), v);
      }
    }
#endif
    for (; o < hi; o++)
      dst[o] = src[o * s + q0];
  }
  for (o = hi; o < n; o++) /* hi >= lo (rt_valid_range) */
    dst[o] = 0.0f;
}

/* The phase-split copy of channels [0, C) of x (see above), rows in
 * parallel when par.  The input row CONV_FILL_PF rows ahead is prefetched:
 * from memory the copy otherwise waited on it row by row (ResNet-18's stem
 * after a 64 MB cache flush: 115 -> 28 us, 26-29 us warm either way). */
enum { CONV_FILL_PF = 4 };

RT_HELPER void conv_phase_fill(const RtConv *p, const float *x, int C, int hp, int wph, float *xph, int par) {
  int cr;
  (void)par; /* read only by the OpenMP pragma */
  RT_PAR_FOR(par, static, cr, C * hp,
    const int c = cr / hp, ih = cr % hp - p->pt, ia = ih + CONV_FILL_PF;
    float *d = xph + (int64_t)cr * p->sw * wph;
    int ph, q;
    if (ia >= 0 && ia < p->H)
      for (q = 0; q < p->W; q += 16)
        RT_PREFETCH(x + ((int64_t)c * p->H + ia) * p->W + q);
    for (ph = 0; ph < p->sw; ph++, d += wph) {
      if (ih < 0 || ih >= p->H) {
        for (q = 0; q < wph; q++)
          d[q] = 0.0f;
      } else {
        conv_phase_row(x + ((int64_t)c * p->H + ih) * p->W, p->W, p->sw, ph - p->pl, d, wph);
      }
    }
  );
}

/* ----------------------- im2col from a row- and column-phase-split copy */

/* Packing the im2col matrix straight from x costs a bounds check and a
 * short copy per output row per tap (7 copies of 7 floats per row of B on a
 * 7x7 map): 15-40% of ResNet's deep 3x3 convs.  Instead x is first copied,
 * zero-padded, into planes split by row phase a = r % sh and column phase
 * b = q % sw of the padded row r and column q:
 *   xq[(((c*sh + a)*sw + b)*hq + r/sh)*wq + q/sw],
 * so tap (c, i, j) of output pixel n = (oh, ow) is at
 *   xq[conv_q_tap(c, i, j) + oh*wq + ow]:
 * the pixels of a row of B are runs of OW consecutive floats, wq - OW
 * apart (2 for 3x3 stride 1, 1 for stride 2).  16 consecutive pixels then
 * span at most 32 floats, and one row of a B panel is 2 loads and a
 * permute per 16 columns, with no test.  Applies when every phase plane
 * is read (dilation 1 and kernel >= stride, or stride 1); 1x1 convs keep
 * their own paths. */
RT_INLINE int conv_q_ok(const RtConv *p) {
  return !conv_is_1x1(p) && (p->sh == 1 || (p->dh == 1 && p->kh >= p->sh)) &&
         (p->sw == 1 || (p->dw == 1 && p->kw >= p->sw));
}

/* Rows and columns of one phase plane */
RT_INLINE void conv_q_dims(const RtConv *p, int *hq, int *wq) {
  *hq = p->OH + (p->kh - 1) * p->dh / p->sh;
  *wq = p->OW + (p->kw - 1) * p->dw / p->sw;
}

/* Floats of the split copy of Cg channels */
RT_INLINE int64_t conv_q_size(const RtConv *p, int Cg) {
  int hq, wq;
  conv_q_dims(p, &hq, &wq);
  return (int64_t)Cg * p->sh * p->sw * hq * wq;
}

/* Offset of tap (i, j) of output (0, 0) within its channel's planes */
RT_INLINE int conv_q_tap(const RtConv *p, int hq, int wq, int i, int j) {
  return (((i * p->dh) % p->sh * p->sw + (j * p->dw) % p->sw) * hq + (i * p->dh) / p->sh) * wq + (j * p->dw) / p->sw;
}

enum { CONV_QCH = 16 /* 16-column pieces of the phase rows of one input row, precomputed */ };

/* The split copy of channels [0, Cg) of xg: one task per (channel, row
 * phase, plane row); rows in parallel when par.  With AVX-512 and sw <= 2,
 * each 16-column piece of a phase row is 2 masked loads and a permute whose
 * masks, computed once, hold the padding (small maps have short rows:
 * conv_phase_row's per-call setup would cost more than the copy). */
RT_HELPER void conv_q_fill(const RtConv *p, const float *xg, int Cg, float *xq, int par) {
  int hq, wq, t, nch = 0;
#if defined(__AVX512F__)
  int s0[CONV_QCH], off[CONV_QCH];
  __mmask16 vm[CONV_QCH], sm[CONV_QCH], m0[CONV_QCH], m1[CONV_QCH];
  __m512i idx;
#endif
  (void)par, (void)nch; /* par: read only by the OpenMP pragma; nch: AVX-512 only */
  conv_q_dims(p, &hq, &wq);
#if defined(__AVX512F__)
  idx = p->sw == 2 ? _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
                   : _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  if (p->sw <= 2 && p->sw * ((wq + 15) / 16) <= CONV_QCH) {
    int b, c0;
    for (b = 0; b < p->sw; b++)
      for (c0 = 0; c0 < wq; c0 += 16, nch++) {
        /* phase b, columns [c0, c0 + nl): input columns s + sw*l, those in
         * [0, W) for l in [lo, hi) */
        const int nl = wq - c0 < 16 ? wq - c0 : 16, s = b + p->sw * c0 - p->pl;
        int lo, hi, tlo, thi;
        uint32_t lm;
        rt_valid_range(0, nl, p->sw, s, p->W, &lo, &hi);
        tlo = p->sw * lo, thi = hi > lo ? p->sw * (hi - 1) + 1 : tlo; /* loaded lanes [tlo, thi) of 32 */
        lm = (uint32_t)(thi >= 32 ? 0xFFFFFFFFu : (1u << thi) - 1u) & ~(uint32_t)((1u << tlo) - 1u);
        s0[nch] = s, off[nch] = b * hq * wq + c0;
        vm[nch] = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
        sm[nch] = (__mmask16)((1u << nl) - 1u);
        m0[nch] = (__mmask16)(lm & 0xFFFF), m1[nch] = (__mmask16)(lm >> 16);
      }
  }
#endif
  RT_OMP(parallel for schedule(static) if(par))
  for (t = 0; t < Cg * p->sh * hq; t++) {
    const int c = t / (p->sh * hq), a = t / hq % p->sh, r = t % hq, ih = r * p->sh + a - p->pt;
    float *d0 = xq + ((int64_t)(c * p->sh + a) * p->sw * hq + r) * wq; /* phase 0's row */
    const float *xr = ih >= 0 && ih < p->H ? xg + ((int64_t)c * p->H + ih) * p->W : NULL; /* NULL: padding */
    int b, q;
    if (t + CONV_FILL_PF < Cg * p->sh * hq) { /* the input row CONV_FILL_PF tasks ahead, as conv_phase_fill */
      const int tf = t + CONV_FILL_PF, rf = tf % hq * p->sh + tf / hq % p->sh - p->pt;
      if (rf >= 0 && rf < p->H)
        for (q = 0; q < p->W; q += 16)
          RT_PREFETCH(xg + ((int64_t)(tf / (p->sh * hq)) * p->H + rf) * p->W + q);
    }
#if defined(__AVX512F__)
    if (nch) {
      int h;
      for (h = 0; h < nch; h++) {
        __m512 v = _mm512_setzero_ps();
        if (xr) {
          const float *s = xr + s0[h]; /* masked: never read outside the row */
          v = _mm512_maskz_permutex2var_ps(vm[h], _mm512_maskz_loadu_ps(m0[h], s), idx,
                                           _mm512_maskz_loadu_ps(m1[h], s + 16));
        }
        _mm512_mask_storeu_ps(d0 + off[h], sm[h], v);
      }
      continue;
    }
#endif
    for (b = 0; b < p->sw; b++) {
      float *d = d0 + (int64_t)b * hq * wq;
      if (!xr) {
        for (q = 0; q < wq; q++)
          d[q] = 0.0f;
      } else {
        conv_phase_row(xr, p->W, p->sw, b - p->pl, d, wq);
      }
    }
  }
}

enum { CONV_QTAPS = 256 /* taps whose offsets are precomputed */ };

/* conv_pack_panels from the split copy xq (conv_q_fill): panels [q0, q1)
 * of the im2col matrix in the GEMM's packed-B layout. */
RT_HELPER void conv_q_pack(const RtConv *p, const float *xq, int Cg, int q0, int q1, float *Bp) {
  const int N = p->OH * p->OW, ntap = p->kh * p->kw, K = Cg * ntap;
  const int nmain = RT_GEMM_NMAIN(N), np = (nmain + RT_GEMM_NR - 1) / RT_GEMM_NR;
  int hq, wq, q, u;
  int64_t cs;
  int toff[CONV_QTAPS];
  conv_q_dims(p, &hq, &wq);
  cs = (int64_t)p->sh * p->sw * hq * wq;
  for (u = 0; u < ntap && u < CONV_QTAPS; u++)
    toff[u] = conv_q_tap(p, hq, wq, u / p->kw, u % p->kw);
  for (q = q0; q < q1; q++) {
    const int tail = q >= np;
    const int n0 = tail ? nmain : q * RT_GEMM_NR;
    const int w = tail ? N - nmain : (nmain - n0 < RT_GEMM_NR ? nmain - n0 : RT_GEMM_NR);
    const int pw = tail ? 0 : RT_GEMM_PANEL_W(N, n0);
    float *dst = Bp + (int64_t)n0 * K;
    int pos[RT_GEMM_NR]; /* where pixel n0 + u is, from tap (0, 0) of channel 0 */
    int c, k;
    if (w <= 0)
      continue;
    for (u = 0; u < w; u++)
      pos[u] = (n0 + u) / p->OW * wq + (n0 + u) % p->OW;
    if (tail) { /* k-major columns */
      for (u = 0; u < w; u++) {
        float *d = dst + (int64_t)u * K;
        for (c = 0, k = 0; c < Cg; c++) {
          const float *xc = xq + c * cs + pos[u];
          int t;
          for (t = 0; t < ntap; t++, k++)
            d[k] = xc[t < CONV_QTAPS ? toff[t] : conv_q_tap(p, hq, wq, t / p->kw, t % p->kw)];
        }
      }
      continue;
    }
#if defined(__AVX512F__)
    {
      /* per 16-column vector v: pixels w/in [16v, 16v + nl) from the floats
       * [s, s + span) of the tap's row: two masked loads, one permute */
      __m512i idx[RT_GEMM_NR / 16];
      int s[RT_GEMM_NR / 16], nv = pw / 16, v, t, direct = 1;
      __mmask16 lm[RT_GEMM_NR / 16], m0[RT_GEMM_NR / 16], m1[RT_GEMM_NR / 16];
      for (v = 0; v < nv; v++) {
        const int u0 = 16 * v, nl = w - u0 < 0 ? 0 : (w - u0 < 16 ? w - u0 : 16);
        const int span = nl ? pos[u0 + nl - 1] - pos[u0] + 1 : 0;
        int l, lane[16];
        if (span > 32)
          direct = 0;
        for (l = 0; l < 16; l++)
          lane[l] = l < nl ? pos[u0 + l] - pos[u0] : 0;
        idx[v] = _mm512_loadu_si512((const void *)lane);
        s[v] = nl ? pos[u0] : 0;
        lm[v] = (__mmask16)((1u << nl) - 1u);
        m0[v] = (__mmask16)(span >= 16 ? 0xFFFF : (1u << span) - 1u);
        m1[v] = (__mmask16)(span <= 16 ? 0 : (1u << (span - 16)) - 1u);
      }
      if (direct && ntap <= CONV_QTAPS) {
        for (c = 0, k = 0; c < Cg; c++) {
          const float *xc = xq + c * cs;
          for (t = 0; t < ntap; t++, k++) {
            const float *src = xc + toff[t];
            float *d = dst + (int64_t)k * pw;
            for (v = 0; v < nv; v++) {
              const float *sv = src + s[v];
              const __m512 lo = _mm512_maskz_loadu_ps(m0[v], sv), hi = _mm512_maskz_loadu_ps(m1[v], sv + 16);
              _mm512_storeu_ps(d + 16 * v, _mm512_maskz_permutex2var_ps(lm[v], lo, idx[v], hi));
            }
          }
        }
        continue;
      }
    }
#elif defined(__AVX2__) && defined(__FMA__)
    if (ntap <= CONV_QTAPS) {
      /* per 8-column vector v: a plain load where its pixels are 8
       * consecutive floats of the tap's row (all but the vectors that
       * cross an output row), a gather of its nl pixels else */
      __m256i idx[RT_GEMM_NR / 8], lm[RT_GEMM_NR / 8];
      int s[RT_GEMM_NR / 8], run[RT_GEMM_NR / 8], nv = pw / 8, v, t;
      for (v = 0; v < nv; v++) {
        const int u0 = 8 * v, nl = w - u0 < 0 ? 0 : (w - u0 < 8 ? w - u0 : 8);
        int l, lane[8];
        for (l = 0; l < 8; l++)
          lane[l] = l < nl ? pos[u0 + l] - pos[u0] : 0;
        idx[v] = _mm256_loadu_si256((const __m256i *)(const void *)lane);
        lm[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(nl), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        s[v] = nl ? pos[u0] : 0;
        run[v] = nl == 8 && lane[7] == 7;
      }
      for (c = 0, k = 0; c < Cg; c++) {
        const float *xc = xq + c * cs;
        for (t = 0; t < ntap; t++, k++) {
          const float *src = xc + toff[t];
          float *d = dst + (int64_t)k * pw;
          for (v = 0; v < nv; v++)
            _mm256_storeu_ps(d + 8 * v, run[v] ? _mm256_loadu_ps(src + s[v])
                                               : _mm256_mask_i32gather_ps(_mm256_setzero_ps(), src + s[v], idx[v],
                                                                          _mm256_castsi256_ps(lm[v]), 4));
        }
      }
      continue;
    }
#endif
    for (c = 0, k = 0; c < Cg; c++) {
      int t;
      for (t = 0; t < ntap; t++, k++) {
        const float *src = xq + c * cs + (t < CONV_QTAPS ? toff[t] : conv_q_tap(p, hq, wq, t / p->kw, t % p->kw));
        float *d = dst + (int64_t)k * pw;
        for (u = 0; u < w; u++)
          d[u] = src[pos[u]];
        for (; u < pw; u++)
          d[u] = 0.0f;
      }
    }
  }
}

/* ------------------------------------- implicit GEMM for shallow convs */

/* Convs whose im2col depth Cg*kh*kw is small (RGB stems: 3x7x7 = 147,
 * 3x3x3 = 27) on wide maps spend as long packing the im2col matrix as
 * multiplying it.  Here nothing is packed but the input: it is copied once,
 * zero-padded and split into sw column phases (padded column q of row r goes
 * to phase q % sw, column q / sw), so the taps of 16 consecutive output
 * columns are 16 consecutive floats even for stride 2.  The register tile is
 * 8 output channels x 16..48 output columns of one output row: per tap 1..3
 * vector loads of the input, 8 broadcast weights (packed 8 channels per tap)
 * and 8..24 FMAs, like the GEMM micro-kernel with A and B swapped; the
 * result is already in y's layout, so the epilogue (bias, residual,
 * activation) is vector stores along the row.  A function of p alone
 * decides, so the scratch size (the larger of both layouts) is the same for
 * every build; AVX-512 and AVX2 builds take this path. */
/* Where it pays: depths up to 256 (above, im2col packing is cheap next to
 * the multiply) and output rows of 16+ columns (the tile runs along one row;
 * a 7-wide row would waste most of each vector). */
enum { CONV_IMPLICIT_KMIN = 9, CONV_IMPLICIT_KMAX = 256, CONV_IMR = 8 /* channels per tile */ };

RT_INLINE int conv_implicit_ok(const RtConv *p) {
  const int kdim = p->C * p->kh * p->kw;
  return p->groups == 1 && kdim >= CONV_IMPLICIT_KMIN && kdim <= CONV_IMPLICIT_KMAX && p->kh * p->kw > 1 &&
         p->K >= 8 && p->OW >= 16 && p->OH * p->OW >= 256 && p->sw <= 4;
}

/* The phase-split copy's dims: the tiles read whole 16-column vectors */
RT_INLINE void conv_implicit_dims(const RtConv *p, int *hp, int *wph) {
  conv_phase_dims(p, (p->OW + 15) / 16 * 16, hp, wph);
}

/* bytes: phase-split input, weights in blocks of 8 channels, tap offsets */
RT_INLINE size_t conv_implicit_scratch(const RtConv *p) {
  const size_t kdim = (size_t)p->C * p->kh * p->kw;
  int hp, wph;
  conv_implicit_dims(p, &hp, &wph);
  return ((size_t)p->C * hp * p->sw * wph + 16) * sizeof(float) +
         (kdim * ((p->K + CONV_IMR - 1) / CONV_IMR * CONV_IMR) + 16) * sizeof(float) + (kdim + 16) * sizeof(int) +
         64;
}

#if defined(__AVX512F__)
/* v + bias (+ r) -> activation -> y for one 16-column vector (m masks the
 * columns: masked lanes are neither loaded nor stored); gemm.c's
 * arithmetic: (bias + r) first, then + the sum. */

#define CONV_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* 8 channels x (16*nv) output columns of one output row: tap k reads the
 * columns at xb + koff[k] and the 8 weights at wb + 8k.  Channels past mr
 * have zero weights and are not stored; columns past nr are masked.  y is
 * the first output of channel 0 (channel stride cs), r the residual in y's
 * layout; act is one rt_act_vec names (others: the caller). */
RT_INLINE void conv_implicit_kernel(int kdim, const float *xb, const int *koff, const float *wb, const int nv, int mr,
                                    int nr, float *y, int64_t cs, const float *bias, const float *r, int act,
                                    float alpha, float beta) {
  int k;
#define CONV_DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;
  CONV_R8(CONV_DECL)
#undef CONV_DECL
  for (k = 0; k < kdim; k++) {
    const float *xk = xb + koff[k];
    const __m512 x0 = _mm512_loadu_ps(xk);
    const __m512 x1 = nv > 1 ? _mm512_loadu_ps(xk + 16) : x0;
    const __m512 x2 = nv > 2 ? _mm512_loadu_ps(xk + 32) : x0;
#define CONV_FMA(i)                                                                                        \
  {                                                                                                        \
    const __m512 s = _mm512_set1_ps(wb[i]);                                                                \
    c##i##0 = _mm512_fmadd_ps(s, x0, c##i##0);                                                             \
    if (nv > 1)                                                                                            \
      c##i##1 = _mm512_fmadd_ps(s, x1, c##i##1);                                                           \
    if (nv > 2)                                                                                            \
      c##i##2 = _mm512_fmadd_ps(s, x2, c##i##2);                                                           \
  }
    CONV_R8(CONV_FMA)
#undef CONV_FMA
    wb += CONV_IMR;
  }
  {
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1u);
    const __mmask16 m2 = nr >= 48 ? 0xFFFF : nr <= 32 ? 0 : (__mmask16)((1u << (nr - 32)) - 1u);
#define CONV_ST(i)                                                                                         \
  if (i < mr) {                                                                                            \
    float *yi = y + i * cs;                                                                                \
    const float *ri = r ? r + i * cs : NULL;                                                               \
    const float bv = bias ? bias[i] : 0.0f;                                                                \
    rt_epi16(c##i##0, yi, ri, bv, m0, act, alpha, beta);                                                 \
    if (nv > 1)                                                                                            \
      rt_epi16(c##i##1, yi + 16, ri ? ri + 16 : NULL, bv, m1, act, alpha, beta);                         \
    if (nv > 2)                                                                                            \
      rt_epi16(c##i##2, yi + 32, ri ? ri + 32 : NULL, bv, m2, act, alpha, beta);                         \
  }
    CONV_R8(CONV_ST)
#undef CONV_ST
  }
}
#undef CONV_R8

/* One task of conv_implicit: output row oh, channel blocks [kb0, kb1);
 * y and res point at the row's channel 0, the channels cs apart. */
RT_HELPER void conv_implicit_row(const RtConv *p, int oh, int kb0, int kb1, const float *xph, const float *wt,
                                 const int *koff, const float *b, const float *res, float *y, int64_t cs, int wph) {
  const int kdim = p->C * p->kh * p->kw, nvec = (p->OW + 15) / 16;
  const int sact = rt_act_vec(p->act) ? p->act : RT_ACT_NONE;
  const float *xr = xph + (int64_t)oh * p->sh * p->sw * wph;
  int kb;
  for (kb = kb0; kb < kb1; kb++) {
    const int k0 = kb * CONV_IMR, mr = p->K - k0 < CONV_IMR ? p->K - k0 : CONV_IMR;
    const float *wb = wt + (int64_t)kb * kdim * CONV_IMR;
    const float *bb = b ? b + k0 : NULL;
    int v0 = 0;
    /* the row's vectors in tiles of 3, and 2 + 2 rather than 3 + 1 */
    while (v0 < nvec) {
      const int left = nvec - v0, nv = left == 4 || left == 2 ? 2 : left >= 3 ? 3 : 1;
      const int ow0 = v0 * 16, nr = p->OW - ow0 < 16 * nv ? p->OW - ow0 : 16 * nv;
      const int64_t o = (int64_t)k0 * cs + ow0;
      float *yo = y + o;
      const float *ro = res ? res + o : NULL;
      if (nv == 3)
        conv_implicit_kernel(kdim, xr + ow0, koff, wb, 3, mr, nr, yo, cs, bb, ro, sact, p->alpha, p->beta);
      else if (nv == 2)
        conv_implicit_kernel(kdim, xr + ow0, koff, wb, 2, mr, nr, yo, cs, bb, ro, sact, p->alpha, p->beta);
      else
        conv_implicit_kernel(kdim, xr + ow0, koff, wb, 1, mr, nr, yo, cs, bb, ro, sact, p->alpha, p->beta);
      if (sact != p->act) {
        int i;
        for (i = 0; i < mr; i++)
          rt_act_array(p->act, p->alpha, p->beta, yo + (int64_t)i * cs, yo + (int64_t)i * cs, nr);
      }
      v0 += nv;
    }
  }
}

#elif defined(__AVX2__) && defined(__FMA__)
/* AVX2: 4 output channels (half of a packed block of 8) x (8*nv) output
 * columns of one output row, 12 accumulators for nv = 3; otherwise as the
 * AVX-512 kernel. */
RT_INLINE void conv_implicit_kernel8(int kdim, const float *xb, const int *koff, const float *wb, const int nv, int mr,
                                     int nr, float *y, int64_t cs, const float *bias, const float *r, int act,
                                     float alpha, float beta) {
  int k;
#define CONV_R4(X) X(0) X(1) X(2) X(3)
#define CONV_DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;
  CONV_R4(CONV_DECL)
#undef CONV_DECL
  for (k = 0; k < kdim; k++) {
    const float *xk = xb + koff[k];
    const __m256 x0 = _mm256_loadu_ps(xk);
    const __m256 x1 = nv > 1 ? _mm256_loadu_ps(xk + 8) : x0;
    const __m256 x2 = nv > 2 ? _mm256_loadu_ps(xk + 16) : x0;
#define CONV_FMA(i)                                                                                        \
  {                                                                                                        \
    const __m256 s = _mm256_broadcast_ss(wb + i);                                                          \
    c##i##0 = _mm256_fmadd_ps(s, x0, c##i##0);                                                             \
    if (nv > 1)                                                                                            \
      c##i##1 = _mm256_fmadd_ps(s, x1, c##i##1);                                                           \
    if (nv > 2)                                                                                            \
      c##i##2 = _mm256_fmadd_ps(s, x2, c##i##2);                                                           \
  }
    CONV_R4(CONV_FMA)
#undef CONV_FMA
    wb += CONV_IMR;
  }
#define CONV_ST(i)                                                                                         \
  if (i < mr) {                                                                                            \
    float *yi = y + i * cs;                                                                                \
    const float *ri = r ? r + i * cs : NULL;                                                               \
    const float bv = bias ? bias[i] : 0.0f;                                                                \
    rt_epi8(c##i##0, yi, ri, bv, nr, act, alpha, beta);                                                    \
    if (nv > 1)                                                                                            \
      rt_epi8(c##i##1, yi + 8, ri ? ri + 8 : NULL, bv, nr - 8, act, alpha, beta);                          \
    if (nv > 2)                                                                                            \
      rt_epi8(c##i##2, yi + 16, ri ? ri + 16 : NULL, bv, nr - 16, act, alpha, beta);                       \
  }
  CONV_R4(CONV_ST)
#undef CONV_ST
#undef CONV_R4
}

/* conv_implicit_kernel8's tile widths as functions of their own (inlined
 * into one loop, gcc spills accumulators). */
#define CONV_IM_KDEF(nv)                                                                                               \
  RT_NOINLINE void conv_implicit_k8_##nv(int kdim, const float *xb, const int *koff, const float *wb, int mr, int nr,  \
                                         float *y, int64_t cs, const float *bias, const float *r, int act,             \
                                         float alpha, float beta) {                                                    \
    conv_implicit_kernel8(kdim, xb, koff, wb, nv, mr, nr, y, cs, bias, r, act, alpha, beta);                           \
  }
CONV_IM_KDEF(1)
CONV_IM_KDEF(2)
CONV_IM_KDEF(3)
#undef CONV_IM_KDEF

/* One task of conv_implicit: as the AVX-512 form. */
RT_HELPER void conv_implicit_row(const RtConv *p, int oh, int kb0, int kb1, const float *xph, const float *wt,
                                 const int *koff, const float *b, const float *res, float *y, int64_t cs, int wph) {
  const int kdim = p->C * p->kh * p->kw, nvec = (p->OW + 7) / 8;
  const int sact = rt_act_vec(p->act) ? p->act : RT_ACT_NONE;
  const float *xr = xph + (int64_t)oh * p->sh * p->sw * wph;
  int kb, h;
  for (kb = kb0; kb < kb1; kb++)
    for (h = 0; h < CONV_IMR && kb * CONV_IMR + h < p->K; h += 4) {
      const int k0 = kb * CONV_IMR + h, mr = p->K - k0 < 4 ? p->K - k0 : 4;
      const float *wb = wt + (int64_t)kb * kdim * CONV_IMR + h;
      const float *bb = b ? b + k0 : NULL;
      int v0 = 0;
      while (v0 < nvec) { /* the row's vectors in tiles of 3, and 2 + 2 rather than 3 + 1 */
        const int left = nvec - v0, nv = left == 4 || left == 2 ? 2 : left >= 3 ? 3 : 1;
        const int ow0 = v0 * 8, nr = p->OW - ow0 < 8 * nv ? p->OW - ow0 : 8 * nv;
        const int64_t o = (int64_t)k0 * cs + ow0;
        float *yo = y + o;
        const float *ro = res ? res + o : NULL;
        if (nv == 3)
          conv_implicit_k8_3(kdim, xr + ow0, koff, wb, mr, nr, yo, cs, bb, ro, sact, p->alpha, p->beta);
        else if (nv == 2)
          conv_implicit_k8_2(kdim, xr + ow0, koff, wb, mr, nr, yo, cs, bb, ro, sact, p->alpha, p->beta);
        else
          conv_implicit_k8_1(kdim, xr + ow0, koff, wb, mr, nr, yo, cs, bb, ro, sact, p->alpha, p->beta);
        if (sact != p->act) {
          int i;
          for (i = 0; i < mr; i++)
            rt_act_array(p->act, p->alpha, p->beta, yo + (int64_t)i * cs, yo + (int64_t)i * cs, nr);
        }
        v0 += nv;
      }
    }
}
#else
/* Portable builds: the same tiles in plain C, 8 channels x 16 columns (the
 * fused conv + max pool runs them; rt_conv2d_gemm keeps im2col there). */
RT_HELPER void conv_implicit_row(const RtConv *p, int oh, int kb0, int kb1, const float *xph, const float *wt,
                                 const int *koff, const float *b, const float *res, float *y, int64_t cs, int wph) {
  const int kdim = p->C * p->kh * p->kw;
  const float *xr = xph + (int64_t)oh * p->sh * p->sw * wph;
  int kb, ow0;
  for (kb = kb0; kb < kb1; kb++) {
    const int k0 = kb * CONV_IMR, mr = p->K - k0 < CONV_IMR ? p->K - k0 : CONV_IMR;
    const float *wb = wt + (int64_t)kb * kdim * CONV_IMR;
    for (ow0 = 0; ow0 < p->OW; ow0 += 16) {
      const int nr = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
      float acc[CONV_IMR][16];
      int k, i, l;
      for (i = 0; i < CONV_IMR; i++)
        for (l = 0; l < 16; l++)
          acc[i][l] = 0.0f;
      for (k = 0; k < kdim; k++) { /* the phase rows hold whole 16-column vectors */
        const float *xk = xr + ow0 + koff[k], *wk = wb + (int64_t)k * CONV_IMR;
        for (i = 0; i < CONV_IMR; i++)
          for (l = 0; l < 16; l++)
            acc[i][l] += wk[i] * xk[l];
      }
      for (i = 0; i < mr; i++) {
        float *yi = y + (int64_t)(k0 + i) * cs + ow0;
        const float *ri = res ? res + (int64_t)(k0 + i) * cs + ow0 : NULL;
        const float bv = b ? b[k0 + i] : 0.0f;
        for (l = 0; l < nr; l++)
          yi[l] = rt_act1(p->act, p->alpha, p->beta, acc[i][l] + (bv + (ri ? ri[l] : 0.0f)));
      }
    }
  }
}
#endif

/* The implicit GEMM's operands, in scratch (conv_implicit_scratch): the
 * phase-split copy of one sample x (rows in parallel when par), the weights
 * in blocks of 8 channels (block kb holds, per tap k, channels 8kb .. 8kb+7,
 * zero past K) and where tap (c, i, j) of output (0, 0) is. */
RT_HELPER void conv_implicit_prep(const RtConv *p, const float *x, const float *w, void *scratch, int par,
                                  float **xphp, float **wtp, int **koffp, int *wphp) {
  const int kdim = p->C * p->kh * p->kw, nkb = (p->K + CONV_IMR - 1) / CONV_IMR;
  int hp, wph, kb, k, i, c, j;
  float *xph, *wt;
  int *koff;
  conv_implicit_dims(p, &hp, &wph);
  xph = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  wt = xph + ((int64_t)p->C * hp * p->sw * wph + 15) / 16 * 16;
  koff = (int *)(wt + ((int64_t)kdim * nkb * CONV_IMR + 15) / 16 * 16);
  conv_phase_fill(p, x, p->C, hp, wph, xph, par);
  for (kb = 0; kb < nkb; kb++)
    for (k = 0; k < kdim; k++)
      for (i = 0; i < CONV_IMR; i++) {
        const int ch = kb * CONV_IMR + i;
        wt[((int64_t)kb * kdim + k) * CONV_IMR + i] = ch < p->K ? w[(int64_t)ch * kdim + k] : 0.0f;
      }
  k = 0;
  for (c = 0; c < p->C; c++)
    for (i = 0; i < p->kh; i++)
      for (j = 0; j < p->kw; j++)
        koff[k++] = (int)conv_phase_koff(p, hp, wph, c, i, j);
  *xphp = xph, *wtp = wt, *koffp = koff, *wphp = wph;
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
/* Tasks run channel group by channel group, each down all output rows: a
 * task writes 32 channel planes, each row after the previous one, which the
 * hardware prefetchers follow; 64 planes at once (all channels of one row)
 * ran 1.5-2x slower on a 64-channel stem with cold caches, as inside a
 * model (SqueezeNet's 3x3/2 stem: 1.38 -> 0.89 ms in the model).  The
 * input is then read once per group, from L2. */
enum { CONV_IMKB = 4 };

/* One sample: y = act(b + res + conv(x)) through the implicit GEMM. */
RT_HELPER void conv_implicit(const RtConv *p, const float *x, const float *w, const float *b, const float *res,
                             float *y, void *scratch) {
  const int kdim = p->C * p->kh * p->kw, nkb = (p->K + CONV_IMR - 1) / CONV_IMR;
  const int nkg = (nkb + CONV_IMKB - 1) / CONV_IMKB;
  const int par = (int64_t)p->OH * p->OW * p->K * kdim >= RT_PAR_MIN_WORK_CH;
  int wph;
  float *xph, *wt;
  int *koff;
  int64_t t;
  (void)par; /* read only by the OpenMP pragmas */
  if (!scratch) /* never (rt_conv2d checks), but gcc's clones with a NULL scratch must see it */
    return;
  conv_implicit_prep(p, x, w, scratch, par, &xph, &wt, &koff, &wph);
  RT_PAR_FOR(par, static, t, (int64_t)p->OH * nkg,
    const int oh = (int)(t % p->OH), kg = (int)(t / p->OH);
    const int kb1 = (kg + 1) * CONV_IMKB < nkb ? (kg + 1) * CONV_IMKB : nkb;
    conv_implicit_row(p, oh, kg * CONV_IMKB, kb1, xph, wt, koff, b, res ? res + (int64_t)oh * p->OW : NULL,
                      y + (int64_t)oh * p->OW, (int64_t)p->OH * p->OW, wph);
  );
}
#endif

/* The band walk of the fused passes: a band needs rows [a, e) in buf (planes
 * k0..k1 of ps floats, rows of W) and rows [*have0, *have1) are there; the
 * rows both hold are moved to the top of each plane and counted (the band
 * computes rows [a + keep, e)); then [a, e) is what buf holds. */
RT_INLINE int conv_band_carry(float *buf, int64_t ps, int k0, int k1, int W, int a, int e, int *have0, int *have1) {
  int keep = 0, k;
  if (*have0 <= a && a < *have1) {
    keep = *have1 - a;
    if (a > *have0)
      for (k = k0; k < k1; k++)
        memmove(buf + k * ps, buf + k * ps + (int64_t)(a - *have0) * W, sizeof(float) * (size_t)keep * W);
  }
  *have0 = a, *have1 = e;
  return keep;
}

/* ------------------------------------------ conv + max pool, fused */

/* A conv pc whose output only a max pool pp reads (the RGB stems of
 * ResNet, GoogLeNet, SqueezeNet: conv + ReLU, then a 3x3/2 max pool) is
 * computed inside the pool, band by band of the pool's output rows: each
 * band's conv rows (the implicit GEMM's row tiles) go to a buffer of about
 * RT_CPOOL_BYTES that stays in L2 and are pooled from there, instead of the
 * whole conv output (3.2 MB for ResNet-18's) going out to memory and back.
 * The rows two bands share (kh - sh) are carried over, not recomputed.  In
 * parallel each thread takes a run of channels (multiples of 8) through
 * every band.  Each element is the conv's and the pool's own result for any
 * thread count or band size: the conv rows are conv_implicit_row's sums, the
 * maxima exact.  RT_CPOOL_BYTES sizes the scratch (rt_conv_maxpool2d_scratch):
 * as with RT_PWDW_BYTES, the compiler must be built with the same value. */
#ifndef RT_CPOOL_BYTES
#define RT_CPOOL_BYTES (512 * 1024)
#endif

/* Pool output rows per band, and the conv rows a band's buffer holds. */
RT_INLINE int cpool_rows(const RtConv *pc, const RtPool *pp) {
  const int64_t fit = RT_CPOOL_BYTES / ((int64_t)pc->K * pc->OW * 4), span = (int64_t)(pp->kh - 1) * pp->dh + 1;
  int64_t r = fit < span ? 1 : (fit - span) / pp->sh + 1;
  return (int)(r < pp->OH ? r : pp->OH);
}
RT_INLINE int cpool_cap(const RtConv *pc, const RtPool *pp) {
  return (cpool_rows(pc, pp) - 1) * pp->sh + (pp->kh - 1) * pp->dh + 1;
}

/* Whether the pool pp can take conv pc in (shapes the implicit GEMM takes;
 * a function of the descriptors alone, the same for every build). */
RT_FN int rt_conv_maxpool2d_applies(const RtConv *pc, const RtPool *pp) {
  return conv_implicit_ok(pc) && pp->C == pc->K && pp->H == pc->OH && pp->W == pc->OW && pp->OH > 0 &&
         pp->OW > 0 && pp->sh >= 1 && pp->dh >= 1 && pp->pt >= 0 && pp->pt < (pp->kh - 1) * pp->dh + 1;
}

RT_FN size_t rt_conv_maxpool2d_scratch(const RtConv *pc, const RtPool *pp) {
  return ((size_t)pc->K * (size_t)cpool_cap(pc, pp) * (size_t)pc->OW + 16) * sizeof(float) +
         conv_implicit_scratch(pc);
}

/* Channels [k0, k1) (k0 a multiple of 8) of one sample, band by band (buf:
 * K planes of cpool_cap rows). */
RT_HELPER void cpool_channels(const RtConv *pc, const RtPool *pp, const float *xph, const float *wt, const int *koff,
                              int wph, const float *b, float *y, float *buf, int k0, int k1) {
  const int R = cpool_rows(pc, pp), OW = pc->OW, span = (pp->kh - 1) * pp->dh + 1;
  const int64_t ps = (int64_t)cpool_cap(pc, pp) * OW, plane = (int64_t)pp->OH * pp->OW;
  const int kb0 = k0 / CONV_IMR, kb1 = (k1 + CONV_IMR - 1) / CONV_IMR;
  int have0 = 0, have1 = 0; /* conv rows [have0, have1) are in the buffer */
  int o0, k, r;
  for (o0 = 0; o0 < pp->OH; o0 += R) {
    const int o1 = pp->OH - o0 < R ? pp->OH : o0 + R;
    const int top = o0 * pp->sh - pp->pt, bot = (o1 - 1) * pp->sh - pp->pt + span;
    const int a = top > 0 ? top : 0, e = bot < pc->OH ? bot : pc->OH;
    const int keep = conv_band_carry(buf, ps, k0, k1, OW, a, e, &have0, &have1);
    RtPool pb = *pp;
    for (r = a + keep; r < e; r++)
      conv_implicit_row(pc, r, kb0, kb1, xph, wt, koff, b, NULL, buf + (int64_t)(r - a) * OW, ps, wph);
    /* the band as an image of its buffer rows: row ih is buffer row ih - a */
    pb.H = e - a, pb.OH = o1 - o0, pb.pt = a - top;
    for (k = k0; k < k1; k++)
      rt_maxpool2d_rows(&pb, buf + k * ps, y + k * plane + (int64_t)o0 * pp->OW, 0, o1 - o0);
  }
}

RT_FN void rt_conv_maxpool2d(const RtConv *pc, const RtPool *pp, int n, const float *x, const float *w,
                             const float *b, float *y, void *scratch) {
  const int kdim = pc->C * pc->kh * pc->kw;
  const int par = (int64_t)pc->OH * pc->OW * pc->K * kdim >= RT_PAR_MIN_WORK_CH;
  float *buf = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  void *cs = buf + ((int64_t)pc->K * cpool_cap(pc, pp) * pc->OW + 15) / 16 * 16;
  int ni;
  (void)par; /* read only by the OpenMP pragmas */
  if (!scratch)
    return;
  for (ni = 0; ni < n; ni++) {
    float *xph, *wt;
    int *koff, wph;
    float *yn = y + (int64_t)ni * pp->C * pp->OH * pp->OW;
    conv_implicit_prep(pc, x + (int64_t)ni * pc->C * pc->H * pc->W, w, cs, par, &xph, &wt, &koff, &wph);
    RT_PAR_RANGE(par, (pc->K + CONV_IMR - 1) / CONV_IMR, lo, hi,
                 cpool_channels(pc, pp, xph, wt, koff, wph, b, yn, buf, (int)lo * CONV_IMR,
                                (int)(hi * CONV_IMR < pc->K ? hi * CONV_IMR : pc->K)););
  }
}

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
    const size_t im = rt_gemm_scratch(Kg, p->OH * p->OW, Cg * p->kh * p->kw) +
                      (conv_q_ok(p) ? (size_t)conv_q_size(p, Cg) * sizeof(float) : 0);
    const size_t ig = conv_implicit_ok(p) ? conv_implicit_scratch(p) : 0;
    return im > ig ? im : ig;
  }
  case RT_ALGO_WINOGRAD: return rt_winograd_scratch(p);
  case RT_ALGO_FFT: return rt_fft_scratch(p);
  default: return 0;
  }
}

RT_FN int rt_conv2d_algo(const RtConv *p, int has_scratch) {
  const int algo = conv_algo(p);
  /* Every algorithm but direct needs the scratch rt_conv2d_scratch sized;
   * without it only the PyTorch-layout weights can be used. */
  if (!has_scratch && (algo == RT_ALGO_GEMM1X1 || algo == RT_ALGO_IM2COL))
    return RT_ALGO_DIRECT;
  return algo;
}

RT_FN void rt_conv2d_gemm(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                          float *y, void *scratch) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int64_t xs = (int64_t)p->C * p->H * p->W, ys = (int64_t)p->K * p->OH * p->OW;
  const int npix = p->OH * p->OW, kdim = Cg * p->kh * p->kw;
  float *Bp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  int ni, g;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  if (conv_implicit_ok(p)) { /* never 1x1 */
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
}

RT_FN void rt_conv2d_depthwise(const RtConv *p, int n, const float *x, const float *w, const float *b,
                               const float *res, float *y) {
#if defined(__AVX512F__)
  if (p->C == p->groups) { /* vectors along the output row */
    conv_depthwise(p, n, x, w, b, res, y);
    return;
  }
#elif defined(__AVX2__) && defined(__FMA__)
  if (conv_dw8_ok(p)) {
    conv_depthwise(p, n, x, w, b, res, y);
    return;
  }
#endif
  conv_direct(p, n, x, w, b, res, y);
}

RT_FN void rt_conv2d_plain(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res,
                           float *y) {
  conv_direct(p, n, x, w, b, res, y);
}

/* ------------------------------------- 1x1 conv + depthwise conv, fused */

/* A 1x1 conv pe (C -> E channels on H x W, its bias and act) whose result
 * only the depthwise conv pd (E channels, H x W -> OH x OW) reads is
 * computed inside it, band by band of pd's output rows: each band's rows of
 * the 1x1 result go to a buffer of about RT_PWDW_BYTES that stays in L2,
 * instead of the whole E x H x W tensor going out to memory and back
 * (MobileNetV2's 112x112 and 56x56 expand convs write 1.2-4.8 MB each).  The
 * rows two bands share (kh - sh) are carried over, not recomputed.  In
 * parallel each thread takes a run of channels (multiples of 8) through
 * every band: its 1x1 rows and its depthwise planes, nothing shared.  Each
 * element is the same sum for any thread count: the GEMM's micro-kernel sums
 * a row's k in one order, and the bands do not depend on the threads. */
/* RT_PWDW_BYTES: 1.5x the 512 KiB L2 of the AVX2 machines this is tuned
 * on.  In same-process A/B runs (bench/ab.sh) MobileNetV2 ran 0.8% faster
 * than with 512 KiB at 1 and 2 threads (three runs; builds computing the
 * same thing differ by up to 1% there) and 4% faster than with 256 KiB;
 * 1 MiB left the arena 7% above its lower bound.  The compiler sizes the
 * buffer (rt_pw_dw_scratch) with its own value: overriding it when
 * compiling generated code alone overruns the arena. */
#ifndef RT_PWDW_BYTES
#define RT_PWDW_BYTES (768 * 1024)
#endif

/* Output rows per band, and the buffer rows a band needs (dilation 1). */
RT_INLINE int pwdw_rows(const RtConv *pd) {
  const int64_t fit = RT_PWDW_BYTES / ((int64_t)pd->C * pd->W * 4);
  int64_t r = (fit - (pd->kh - pd->sh)) / pd->sh;
  if (r < 1)
    r = 1;
  return (int)(r < pd->OH ? r : pd->OH);
}
RT_INLINE int pwdw_cap(const RtConv *pd) { return (pwdw_rows(pd) - 1) * pd->sh + pd->kh; }

/* Whether pd can take a 1x1 conv in (rt_pw_dw_conv2d's shapes). */
RT_FN int rt_pw_dw_applies(const RtConv *pd) {
  return pd->groups == pd->C && pd->K == pd->C && pd->dh == 1 && pd->dw == 1 && pd->kh <= 7 && pd->kw <= 7 &&
         pd->pt < pd->kh && pd->pl < pd->kw;
}

/* The larger of the two forms' buffers, whatever this build uses: the
 * compiler sizes the arena once for every instruction set.  Planar: E planes
 * of pwdw_cap rows; 8-channel (pwdw8_channels): per group of 8 channels,
 * pwdw_cap rows of the padded width in vectors. */
RT_FN size_t rt_pw_dw_scratch(const RtConv *pd) {
  const size_t planar = (size_t)pd->C * (size_t)pwdw_cap(pd) * (size_t)pd->W;
  const size_t blocked = (size_t)((pd->C + 7) / 8) * 8 * (size_t)pwdw_cap(pd) * (size_t)conv_dwt_wp(pd);
  return (planar > blocked ? planar : blocked) * sizeof(float) + 64;
}

/* Output rows [oh0, oh1) of one depthwise plane, any shape: taps in (i, j)
 * order, then + (bias + res), then the act. */
RT_HELPER void pwdw_plane(const RtConv *p, const float *xc, const float *rc, float *yc, const float *wk, float bias,
                          int oh0, int oh1) {
  int oh, ow, i, j;
  for (oh = oh0; oh < oh1; oh++)
    for (ow = 0; ow < p->OW; ow++) {
      float acc = 0.0f;
      for (i = 0; i < p->kh; i++) {
        const int ih = oh * p->sh - p->pt + i;
        if (ih < 0 || ih >= p->H)
          continue;
        for (j = 0; j < p->kw; j++) {
          const int iw = ow * p->sw - p->pl + j;
          if (iw >= 0 && iw < p->W)
            acc += xc[(int64_t)ih * p->W + iw] * wk[i * p->kw + j];
        }
      }
      acc += bias + (rc ? rc[(int64_t)oh * p->OW + ow] : 0.0f);
      yc[(int64_t)oh * p->OW + ow] = rt_act1(p->act, p->alpha, p->beta, acc);
    }
}

enum { PWDW_TAIL = 2048 /* floats of tail columns (8 KiB of stack) */ };

/* Channels [k0, k1) of every sample, band by band (buf: E planes of
 * pwdw_cap(pd) rows). */
RT_HELPER void pwdw_channels(const RtConv *pe, const RtConv *pd0, int n, const float *x, const float *we,
                             const float *be, const float *wd, const float *bd, const float *res, float *y, float *buf,
                             int k0, int k1) {
  const RtConv pdv = *pd0, *pd = &pdv;
  const int W = pd->W, R = pwdw_rows(pd);
  const int64_t ps = (int64_t)pwdw_cap(pd) * W, plane = (int64_t)pd->OH * pd->OW;
  float btail[PWDW_TAIL]; /* the GEMM's tail columns of B, k-major */
  int ni, oh0, k;
  for (ni = 0; ni < n && k0 < k1; ni++) {
    const float *xn = x + (int64_t)ni * pe->C * pd->H * W;
    const float *rn = res ? res + (int64_t)ni * pd->K * plane : NULL;
    float *yn = y + (int64_t)ni * pd->K * plane;
    int have0 = 0, have1 = 0; /* image rows [have0, have1) are in the buffer */
    for (oh0 = 0; oh0 < pd->OH; oh0 += R) {
      const int oh1 = pd->OH - oh0 < R ? pd->OH : oh0 + R;
      const int top = oh0 * pd->sh - pd->pt, bot = (oh1 - 1) * pd->sh - pd->pt + pd->kh;
      const int a = top > 0 ? top : 0, e = bot < pd->H ? bot : pd->H;
      const int keep = conv_band_carry(buf, ps, k0, k1, W, a, e, &have0, &have1);
      RtConv pb = *pd;
      if (e > a + keep) { /* the 1x1 conv's rows [a + keep, e) */
        RtGemm g;
        memset(&g, 0, sizeof g);
        g.M = k1 - k0, g.N = (e - a - keep) * W, g.K = pe->C;
        g.A = we + (int64_t)k0 * pe->C, g.lda = pe->C;
        g.Bp = xn + (int64_t)(a + keep) * W, g.ldb = (int64_t)pd->H * W, g.bexact = 1;
        g.C = buf + k0 * ps + (int64_t)keep * W, g.rsc = ps, g.csc = 1;
        g.bias = be ? be + k0 : NULL, g.act = pe->act, g.alpha = pe->alpha, g.beta = pe->beta;
        if (RT_GEMM_TAIL(g.N) > 0 && (int64_t)RT_GEMM_TAIL(g.N) * g.K <= PWDW_TAIL) {
          /* the last few columns k-major for the dot-product kernel, not
           * a mostly empty 16-wide panel (7x7 maps: 48 + 1 columns; the
           * 160 -> 960 expand 0.86x the time, as the 1x1 conv does it) */
          const int nm = RT_GEMM_NMAIN(g.N);
          int j, c;
          for (j = nm; j < g.N; j++)
            for (c = 0; c < g.K; c++)
              btail[(int64_t)(j - nm) * g.K + c] = g.Bp[(int64_t)c * g.ldb + j];
          g.Bt = btail;
        }
        rt_gemm_panels(&g, 0, rt_gemm_npanels(&g), 0, g.M);
      }
      /* the band as an image of its buffer rows: row ih is buffer row ih - a */
      pb.H = e - a, pb.pt = pd->pt + a;
      for (k = k0; k < k1; k++) {
        const float *rc = rn ? rn + k * plane : NULL;
#if defined(__AVX512F__)
        if (conv_dwt16_use(pd)) { /* 16 channels at a time */
          const int nch = k1 - k < 16 ? k1 - k : 16;
          conv_dwt16_group(&pb, buf + k * ps, ps, rc, yn + k * plane, plane, wd + (int64_t)k * pd->kh * pd->kw,
                           bd ? bd + k : NULL, nch, oh0, oh1);
          k += nch - 1;
          continue;
        }
        if (conv_dw3_ok(pd) && conv_dw3_pairs(pd) && k + 1 < k1) {
          conv_dw3_pair(&pb, buf + k * ps, buf + (k + 1) * ps, rc, rc ? rc + plane : NULL, yn + k * plane,
                        yn + (k + 1) * plane, wd + (int64_t)k * 9, wd + (int64_t)k * 9 + 9, bd ? bd[k] : 0.0f,
                        bd ? bd[k + 1] : 0.0f, oh0, oh1);
          k++;
          continue;
        }
        if (conv_dw3_ok(pd)) {
          conv_dw3_plane(&pb, buf + k * ps, rc, yn + k * plane, wd + (int64_t)k * 9, bd ? bd[k] : 0.0f, oh0, oh1);
          continue;
        }
#elif defined(__AVX2__) && defined(__FMA__)
#ifndef RT_DWT_OFF
        if (conv_dwt_ok(pd)) { /* 8 channels at a time (k0 is a multiple of 8) */
          const int nch = k1 - k < 8 ? k1 - k : 8;
          conv_dwt_group(&pb, buf + k * ps, ps, rc, yn + k * plane, plane, wd + (int64_t)k * pd->kh * pd->kw,
                         bd ? bd + k : NULL, nch, oh0, oh1);
          k += nch - 1;
          continue;
        }
#endif
        if (conv_dw8_ok(pd)) {
          conv_dw8_plane(&pb, buf + k * ps, rc, yn + k * plane, wd + (int64_t)k * pd->kh * pd->kw, bd ? bd[k] : 0.0f,
                         oh0, oh1);
          continue;
        }
#endif
        pwdw_plane(&pb, buf + k * ps, rc, yn + k * plane, wd + (int64_t)k * pd->kh * pd->kw, bd ? bd[k] : 0.0f, oh0,
                   oh1);
      }
    }
  }
}

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__) && !defined(RT_DWT_OFF) && !defined(RT_PWDW8_OFF)
#define RT_PWDW8 1
/* The AVX2 form of pwdw_channels: the 1x1 conv writes its rows straight in
 * the depthwise's 8-channel layout, so the depthwise reads them as they are
 * (conv_dwt_group first transposes 8 planes into that layout: a store, a
 * load and shuffles per element).  Each group of 8 channels keeps the padded
 * window rows of the current band, [top, bot) of the input rows (rows
 * outside the image are zero rows, the padding columns zero): pwdw_cap rows
 * of conv_dwt_wp 8-channel vectors.  A 1x1 tile is 16 channels (two groups)
 * x 6 consecutive pixels: 12 accumulators, each one pixel's 8 channels, fed
 * per input channel k by 2 loads of the weights (repacked k-major per band)
 * and 6 broadcasts of the pixels' inputs: the GEMM micro-kernel's 8 loads
 * per 12 FMAs (8 channels x 12 pixels, 13 loads per 12 FMAs, ran 1.5%
 * slower than the planar form: broadcasts issue 2 per cycle here).  Every
 * element is the same sum as through rt_gemm_panels and conv_dwt_group (k
 * in increasing order from zero, then + bias, then the act): bench/ab.sh
 * shows max_abs_diff 0 between the two forms, and MobileNetV2 at 0.89-0.92
 * of the planar form's time at 1 thread, 0.97 at 2. */
/* NP (<= PWDW8_NP) consecutive pixels of the input (b: the first one's
 * input channel 0, the channels ldb apart) -> NP 8-channel vectors: pixel
 * j's channels 0..7 at o0[j], 8..15 at o1[j].  wk: the 1x1 weights of the
 * 16 channels k-major (16 floats per input channel k), bv0/bv1 their
 * biases.  Pixel j's vectors sum
 * w[.][k] * x[k][j] over k from zero (an FMA per k, as the GEMM's
 * micro-kernel), then + bias, then the act.  NP is a constant in each
 * instance: the broadcasts' offsets are immediates. */
enum { PWDW8_NP = 6, PWDW8_KMAX = 512 };
RT_INLINE void pwdw8_tile(const int NP, int K, const float *wk, const float *b, int64_t ldb, __m256 bv0, __m256 bv1,
                          int act, float alpha, float beta, float *const *o0, float *const *o1) {
  /* named accumulators, not an array: gcc kept an array in memory */
#define PWDW8_R(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define PWDW8_DECL(j) __m256 c##j = _mm256_setzero_ps(), d##j = c##j;
#define PWDW8_FMA(j)                                                                                       \
  if (j < NP) {                                                                                            \
    const __m256 u = _mm256_broadcast_ss(b + j);                                                           \
    c##j = _mm256_fmadd_ps(u, w0, c##j);                                                                   \
    d##j = _mm256_fmadd_ps(u, w1, d##j);                                                                   \
  }
#define PWDW8_STORE(j)                                                                                     \
  if (j < NP) {                                                                                            \
    _mm256_storeu_ps(o0[j], rt_act8(_mm256_add_ps(c##j, bv0), act, alpha, beta));                         \
    _mm256_storeu_ps(o1[j], rt_act8(_mm256_add_ps(d##j, bv1), act, alpha, beta));                         \
    if (!rt_act_vec(act)) /* the scalar acts, element by element as gemm_act_rows */                     \
      rt_act_array(act, alpha, beta, o0[j], o0[j], 8), rt_act_array(act, alpha, beta, o1[j], o1[j], 8);   \
  }
  int k;
  PWDW8_R(PWDW8_DECL)
  for (k = 0; k < K; k++, b += ldb) {
    const __m256 w0 = _mm256_loadu_ps(wk + 16 * k), w1 = _mm256_loadu_ps(wk + 16 * k + 8);
    PWDW8_R(PWDW8_FMA)
  }
  PWDW8_R(PWDW8_STORE)
#undef PWDW8_STORE
#undef PWDW8_FMA
#undef PWDW8_DECL
#undef PWDW8_R
}

#define PWDW8_KDEF(np)                                                                                                 \
  RT_NOINLINE void pwdw8_tile##np(int K, const float *wk, const float *b, int64_t ldb, __m256 bv0, __m256 bv1,         \
                                  int act, float alpha, float beta, float *const *o0, float *const *o1) {              \
    pwdw8_tile(np, K, wk, b, ldb, bv0, bv1, act, alpha, beta, o0, o1);                                                 \
  }
PWDW8_KDEF(1) PWDW8_KDEF(2) PWDW8_KDEF(3) PWDW8_KDEF(4) PWDW8_KDEF(5) PWDW8_KDEF(6)
#undef PWDW8_KDEF

/* Window rows [r0, r1) (input rows, zero rows outside [0, H)) of two groups
 * of 8 channels (wk, bv0, bv1 as pwdw8_tile) into g0 and g1 (row ih at
 * (ih - top) * wp vectors; the padding columns zero).  The image rows are
 * one run of pixels in the input, so the tiles run along it across rows (a
 * 7-wide map is not a 6-pixel tile and a 1-pixel one); a pixel whose column
 * the depthwise never reads (past wp) goes to junk (16 floats), and so does
 * the second group when g1 is NULL (a lone last group). */
RT_INLINE void pwdw8_rows(const RtConv *pe, const RtConv *pd, const float *xn, const float *wk, __m256 bv0,
                          __m256 bv1, int r0, int r1, int top, float *g0, float *g1, int wp, float *junk) {
  const int W = pd->W, lo = pd->pl, hi = pd->pl + W < wp ? pd->pl + W : wp, K = pe->C;
  const int a = r0 > 0 ? r0 : 0, e = r1 < pd->H ? r1 : pd->H;
  const int64_t ldb = (int64_t)pd->H * W, rowv = (int64_t)wp * 8;
  int64_t f, nf = e > a ? (int64_t)(e - a) * W : 0;
  int ih, q, w = 0;
  float *row0 = g0 + (a - top) * rowv, *row1 = g1 ? g1 + (a - top) * rowv : NULL;
  for (ih = r0; ih < r1; ih++) { /* zero rows and padding columns */
    float *d0 = g0 + (ih - top) * rowv, *d1 = g1 ? g1 + (ih - top) * rowv : NULL;
    const int in = ih >= 0 && ih < pd->H;
    for (q = 0; q < wp; q++) {
      if (in && q == lo) /* the image columns [lo, hi): the tiles write them */
        q = hi;
      if (q >= wp)
        break;
      _mm256_storeu_ps(d0 + q * 8, _mm256_setzero_ps());
      if (d1)
        _mm256_storeu_ps(d1 + q * 8, _mm256_setzero_ps());
    }
  }
  for (f = 0; f < nf; f += PWDW8_NP) {
    const int np = nf - f < PWDW8_NP ? (int)(nf - f) : PWDW8_NP;
    const float *b = xn + (int64_t)a * W + f;
    float *o0[PWDW8_NP], *o1[PWDW8_NP];
    int j;
    for (j = 0; j < np; j++) { /* pixel f + j: column w of the row at row0 */
      const int c = lo + w;
      o0[j] = c < hi ? row0 + c * 8 : junk, o1[j] = c < hi && row1 ? row1 + c * 8 : junk + 8;
      if (++w == W)
        w = 0, row0 += rowv, row1 = row1 ? row1 + rowv : NULL;
    }
    switch (np) {
    case 1: pwdw8_tile1(K, wk, b, ldb, bv0, bv1, pe->act, pe->alpha, pe->beta, o0, o1); break;
    case 2: pwdw8_tile2(K, wk, b, ldb, bv0, bv1, pe->act, pe->alpha, pe->beta, o0, o1); break;
    case 3: pwdw8_tile3(K, wk, b, ldb, bv0, bv1, pe->act, pe->alpha, pe->beta, o0, o1); break;
    case 4: pwdw8_tile4(K, wk, b, ldb, bv0, bv1, pe->act, pe->alpha, pe->beta, o0, o1); break;
    case 5: pwdw8_tile5(K, wk, b, ldb, bv0, bv1, pe->act, pe->alpha, pe->beta, o0, o1); break;
    default: pwdw8_tile6(K, wk, b, ldb, bv0, bv1, pe->act, pe->alpha, pe->beta, o0, o1); break;
    }
  }
}

/* The 1x1 weights of channels [k, k + nch) (nch <= 16) k-major for
 * pwdw8_tile: wk[c * 16 + l] = we[k + l][c], lanes l >= nch repeating the
 * last channel; 8 x 8 blocks by transposes (element by element, the copy
 * was a third of pwdw8_channels' time in MobileNetV2: it runs per band and
 * per 16 channels). */
RT_INLINE void pwdw8_pack(const float *we, int C, int k, int nch, float *wk) {
  const float *r[16];
  int c, l, h;
  for (l = 0; l < 16; l++)
    r[l] = we + (int64_t)(k + (l < nch ? l : nch - 1)) * C;
  for (c = 0; c + 8 <= C; c += 8)
    for (h = 0; h < 16; h += 8) {
      __m256 v[8];
      for (l = 0; l < 8; l++)
        v[l] = _mm256_loadu_ps(r[h + l] + c);
      conv_tr8(v);
      for (l = 0; l < 8; l++)
        _mm256_storeu_ps(wk + (c + l) * 16 + h, v[l]);
    }
  for (; c < C; c++)
    for (l = 0; l < 16; l++)
      wk[c * 16 + l] = r[l][c];
}

/* Channels [k0, k1) (k0 a multiple of 8) of every sample, band by band
 * (buf: a pwdw_cap x conv_dwt_wp block of vectors per group of 8). */
RT_HELPER void pwdw8_channels(const RtConv *pe, const RtConv *pd0, int n, const float *x, const float *we,
                              const float *be, const float *wd, const float *bd, const float *res, float *y, float *buf,
                              int k0, int k1) {
  const RtConv pdv = *pd0, *pd = &pdv;
  const int R = pwdw_rows(pd), wp = conv_dwt_wp(pd), cap = pwdw_cap(pd);
  const int64_t gs = (int64_t)cap * wp * 8, rowv = (int64_t)wp * 8, plane = (int64_t)pd->OH * pd->OW;
  const int nrun = conv_dwt_run_rows(pd);
  float orow[(CONV_DWT_OW + 8) * 8], wk[PWDW8_KMAX * 16], junk[16];
  int ni, oh0, k;
  for (ni = 0; ni < n && k0 < k1; ni++) {
    const float *xn = x + (int64_t)ni * pe->C * pd->H * pd->W;
    const float *rn = res ? res + (int64_t)ni * pd->K * plane : NULL;
    float *yn = y + (int64_t)ni * pd->K * plane;
    int ptop = 0, pbot = 0; /* the window rows the buffers hold */
    for (oh0 = 0; oh0 < pd->OH; oh0 += R) {
      const int oh1 = pd->OH - oh0 < R ? pd->OH : oh0 + R;
      const int top = oh0 * pd->sh - pd->pt, bot = (oh1 - 1) * pd->sh - pd->pt + pd->kh;
      const int keep = oh0 > 0 && top < pbot ? pbot - top : 0;
      for (k = k0; k < k1; k += 16) { /* two groups of 8 channels (the second may be empty) */
        const int nch = k1 - k < 16 ? k1 - k : 16, ng = (nch + 7) / 8;
        float *g0 = buf + (int64_t)(k / 8) * gs, *g1 = ng > 1 ? g0 + gs : NULL;
        int gi;
        if (keep > 0 && top > ptop) /* the rows two bands share, to the top */
          for (gi = 0; gi < ng; gi++)
            memmove(g0 + gi * gs, g0 + gi * gs + (top - ptop) * rowv, sizeof(float) * (size_t)(keep * rowv));
        if (top + keep < bot) {
          /* the 16 channels' 1x1 weights k-major (lanes past nch: the last channel) */
          float bl[16];
          __m256 bv0, bv1;
          int l;
          pwdw8_pack(we, pe->C, k, nch, wk);
#ifndef RT_PWDW8_NOPF
          if (k + 16 < k1) { /* the next 16 channels' weights, on their way during these tiles */
            const char *nx = (const char *)(we + (int64_t)(k + 16) * pe->C);
            const int64_t nb = (int64_t)(k1 - k - 16 < 16 ? k1 - k - 16 : 16) * pe->C * 4;
            int64_t o;
            for (o = 0; o < nb; o += 64)
              _mm_prefetch(nx + o, _MM_HINT_T1);
          }
#endif
          for (l = 0; l < 16; l++)
            bl[l] = be ? be[k + (l < nch ? l : nch - 1)] : 0.0f;
          bv0 = _mm256_loadu_ps(bl), bv1 = _mm256_loadu_ps(bl + 8);
          pwdw8_rows(pe, pd, xn, wk, bv0, bv1, top + keep, bot, top, g0, g1, wp, junk);
        }
        for (gi = 0; gi < ng; gi++) {
          const int kg = k + 8 * gi, ncg = k1 - kg < 8 ? k1 - kg : 8;
          const float *g = g0 + gi * gs;
          __m256 wv[49];
          float bl[8];
          int oh, t;
          conv_dwt_weights(pd, wd + (int64_t)kg * pd->kh * pd->kw, bd ? bd + kg : NULL, ncg, wv, bl);
          for (oh = oh0; oh < oh1; oh += nrun) {
            const int ne = oh1 - oh < nrun ? oh1 - oh : nrun;
            int r;
            for (r = 0; r < ne; r++) {
              const float *rows[7];
              for (t = 0; t < pd->kh; t++)
                rows[t] = g + ((oh + r) * pd->sh - pd->pt + t - top) * rowv;
              conv_dwt_out_row(pd, rows, wv, orow + (int64_t)r * pd->OW * 8);
            }
            conv_dwt_store_run(pd, orow, (int64_t)oh * pd->OW, ne * pd->OW, ncg, bl,
                               rn ? rn + (int64_t)kg * plane : NULL, yn + (int64_t)kg * plane, plane);
          }
        }
      }
      ptop = top, pbot = bot;
    }
  }
}
#endif

/* y = act_d(dwconv(act_e(conv1x1(x, we) + be), wd) + bd + res) for n
 * samples; scratch of rt_pw_dw_scratch(pd) bytes. */
RT_FN void rt_pw_dw_conv2d(const RtConv *pe, const RtConv *pd, int n, const float *x, const float *we,
                           const float *be, const float *wd, const float *bd, const float *res, float *y,
                           void *scratch) {
  float *buf = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  const int E = pd->C;
  const int64_t work = (int64_t)n * E * ((int64_t)pe->C * pd->H * pd->W + (int64_t)pd->OH * pd->OW * pd->kh * pd->kw);
  (void)work; /* read only by the OpenMP pragmas */
#ifdef RT_PWDW8
  if (conv_dwt_ok(pd) && pe->C <= PWDW8_KMAX) {
    RT_PAR_RANGE(work >= RT_PAR_MIN_WORK_CH, (E + 7) / 8, lo, hi,
                 pwdw8_channels(pe, pd, n, x, we, be, wd, bd, res, y, buf, (int)lo * 8,
                                (int)(hi * 8 < E ? hi * 8 : E)););
    return;
  }
#endif
  RT_PAR_RANGE(work >= RT_PAR_MIN_WORK_CH, (E + 7) / 8, lo, hi,
               pwdw_channels(pe, pd, n, x, we, be, wd, bd, res, y, buf, (int)lo * 8,
                             (int)(hi * 8 < E ? hi * 8 : E)););
}

RT_FN void rt_conv2d(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res, float *y,
                     void *scratch) {
  switch (rt_conv2d_algo(p, scratch != NULL)) {
  case RT_ALGO_WINOGRAD:
    rt_winograd_conv2d(p, n, x, w, b, res, y, scratch);
    return;
  case RT_ALGO_FFT:
    rt_fft_conv2d(p, n, x, w, b, res, y, scratch);
    return;
  case RT_ALGO_GEMM1X1:
  case RT_ALGO_IM2COL:
    rt_conv2d_gemm(p, n, x, w, b, res, y, scratch);
    return;
  default:
    if (rt_conv2d_rows(p, n, x, w, b, res, y)) /* AVX-512, groups == 1, stride 1 along W */
      return;
    rt_conv2d_depthwise(p, n, x, w, b, res, y);
  }
}

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h> /* conv_t_task's AVX2 branch */
#endif

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
      rt_valid_range(0, p->W, p->sw, off, p->OW, &lo, &hi);
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
#elif defined(__AVX2__) && defined(__FMA__)
        { /* the same with the 16 columns as two 8-lane halves (lo: a*, hi:
           * h*), four chains over c each; the high half only when cnt > 8 */
          const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
          const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), iota);
          const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt - 8), iota);
          const int64_t ws = (int64_t)Kg * taps;
          __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, h0 = a0, h1 = a0, h2 = a0, h3 = a0;
          if (cnt == 16) {
            for (c = 0; c + 4 <= Cg; c += 4) {
              const float *xc = xr + c * plane;
              const __m256 w0 = _mm256_set1_ps(wt[c * ws]), w1 = _mm256_set1_ps(wt[(c + 1) * ws]);
              const __m256 w2 = _mm256_set1_ps(wt[(c + 2) * ws]), w3 = _mm256_set1_ps(wt[(c + 3) * ws]);
              a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc), a0);
              h0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xc + 8), h0);
              a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + plane), a1);
              h1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xc + plane + 8), h1);
              a2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xc + 2 * plane), a2);
              h2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xc + 2 * plane + 8), h2);
              a3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xc + 3 * plane), a3);
              h3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xc + 3 * plane + 8), h3);
            }
            for (; c < Cg; c++) {
              const __m256 w0 = _mm256_set1_ps(wt[c * ws]);
              a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr + c * plane), a0);
              h0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr + c * plane + 8), h0);
            }
          } else { /* masked loads: no read past the row */
            for (c = 0; c + 4 <= Cg; c += 4) {
              const float *xc = xr + c * plane;
              a0 = _mm256_fmadd_ps(_mm256_set1_ps(wt[c * ws]), _mm256_maskload_ps(xc, m0), a0);
              a1 = _mm256_fmadd_ps(_mm256_set1_ps(wt[(c + 1) * ws]), _mm256_maskload_ps(xc + plane, m0), a1);
              a2 = _mm256_fmadd_ps(_mm256_set1_ps(wt[(c + 2) * ws]), _mm256_maskload_ps(xc + 2 * plane, m0), a2);
              a3 = _mm256_fmadd_ps(_mm256_set1_ps(wt[(c + 3) * ws]), _mm256_maskload_ps(xc + 3 * plane, m0), a3);
              if (cnt > 8) {
                h0 = _mm256_fmadd_ps(_mm256_set1_ps(wt[c * ws]), _mm256_maskload_ps(xc + 8, m1), h0);
                h1 = _mm256_fmadd_ps(_mm256_set1_ps(wt[(c + 1) * ws]), _mm256_maskload_ps(xc + plane + 8, m1), h1);
                h2 = _mm256_fmadd_ps(_mm256_set1_ps(wt[(c + 2) * ws]), _mm256_maskload_ps(xc + 2 * plane + 8, m1), h2);
                h3 = _mm256_fmadd_ps(_mm256_set1_ps(wt[(c + 3) * ws]), _mm256_maskload_ps(xc + 3 * plane + 8, m1), h3);
              }
            }
            for (; c < Cg; c++) {
              a0 = _mm256_fmadd_ps(_mm256_set1_ps(wt[c * ws]), _mm256_maskload_ps(xr + c * plane, m0), a0);
              if (cnt > 8)
                h0 = _mm256_fmadd_ps(_mm256_set1_ps(wt[c * ws]), _mm256_maskload_ps(xr + c * plane + 8, m1), h0);
            }
          }
          _mm256_storeu_ps(acc, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
          _mm256_storeu_ps(acc + 8, _mm256_add_ps(_mm256_add_ps(h0, h1), _mm256_add_ps(h2, h3)));
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
  RT_PAR_FOR(ntask * p->OW * (p->C / p->groups) * p->kh * p->kw >= RT_PAR_MIN_WORK, static, t, ntask, conv_t_task(p, t, x, w, b, y););
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
