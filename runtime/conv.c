/* conv.c - convolution and fully connected kernels (forward).
 *
 * Provides rt_conv2d (direct, 1x1-as-GEMM, im2col + GEMM), rt_conv2d_scratch,
 * rt_conv_transpose2d and rt_linear, with the fused epilogue
 * y = act(sum + bias + res).
 *
 * Guarantees:
 *  - every output element is produced by exactly one loop iteration of the
 *    (optionally OpenMP-parallel) task loop, and its terms are summed in an
 *    order fixed by the shapes alone, so results do not depend on the thread
 *    count, nor on the batch size;
 *  - no heap, no globals: the GEMM packs into fixed-size stack buffers
 *    (CONV_STACK_BYTES, about 72 KiB, per thread), im2col uses the caller's
 *    scratch, the direct conv needs under 2 KiB of stack;
 *  - plain C99 that gcc and clang vectorize at -O2 and -O3: the hot loops are
 *    fixed-length loops over contiguous output columns (or GEMM columns) with
 *    the padding checks hoisted out.  No FMA contraction is assumed: under
 *    -std=c99/c11 gcc keeps a*b+c as two roundings.
 *
 * Algorithms whose kernels live elsewhere (Winograd, FFT) and choices that
 * cannot apply (GEMM1X1 on a non-1x1 conv, IM2COL without scratch) fall back
 * to the direct convolution, so any RtConv is computed correctly.
 */
#include "cnnc_rt.h"

enum {
  CONV_KB = 4,    /* output channels per direct-conv block (register reuse of x) */
  CONV_VL = 16,   /* output columns per direct-conv register tile */
  CONV_XB = 128,  /* direct-conv padded window (floats): sw * phase length at most */
  CONV_SPAN = 64, /* output columns per direct-conv span (strided convs, wide kernels) */
  CONV_MR = 6,    /* GEMM micro-tile rows (output channels); conv_gemm_micro spells out 6 */
  CONV_NR = 16,   /* GEMM micro-tile columns (output pixels); one AVX-512 vector */
  CONV_MC = 48,   /* GEMM rows per tile: a multiple of CONV_MR */
  CONV_KC = 128,  /* GEMM depth per packed panel */
  CONV_NC = 96,   /* GEMM columns per tile: a multiple of CONV_NR */
  CONV_LANES = 16 /* independent partial sums of a dot product */
};
/* Packing buffers are stack arrays, so their size is part of the contract. */
#define CONV_STACK_BYTES ((CONV_MC * CONV_KC + CONV_KC * CONV_NC) * sizeof(float))

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

  RT_OMP(parallel for schedule(static))
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

/* ------------------------------------------------------------------- GEMM */

/* out[MR][NR] = sum_q a[q][0..MR) (x) b[q][0..NR) over packed panels.  One
 * named accumulator row per output row and a fixed-length inner loop is the
 * shape gcc and clang (-O2 and -O3) turn into one vector FMA per row and
 * keep in registers; a 2-D accumulator array was mis-vectorized by gcc -O3. */
RT_HELPER void conv_gemm_micro(int kc, const float *RT_RESTRICT a, const float *RT_RESTRICT b, float *RT_RESTRICT out) {
  float c0[CONV_NR], c1[CONV_NR], c2[CONV_NR], c3[CONV_NR], c4[CONV_NR], c5[CONV_NR];
  int q, j;
  for (j = 0; j < CONV_NR; j++)
    c0[j] = c1[j] = c2[j] = c3[j] = c4[j] = c5[j] = 0.0f;
  for (q = 0; q < kc; q++) {
    const float *bp = b + q * CONV_NR, *ap = a + q * CONV_MR;
    const float a0 = ap[0], a1 = ap[1], a2 = ap[2], a3 = ap[3], a4 = ap[4], a5 = ap[5];
    for (j = 0; j < CONV_NR; j++) {
      const float bv = bp[j];
      c0[j] += a0 * bv;
      c1[j] += a1 * bv;
      c2[j] += a2 * bv;
      c3[j] += a3 * bv;
      c4[j] += a4 * bv;
      c5[j] += a5 * bv;
    }
  }
  for (j = 0; j < CONV_NR; j++) {
    out[j] = c0[j];
    out[CONV_NR + j] = c1[j];
    out[2 * CONV_NR + j] = c2[j];
    out[3 * CONV_NR + j] = c3[j];
    out[4 * CONV_NR + j] = c4[j];
    out[5 * CONV_NR + j] = c5[j];
  }
}

/* C[M][N] = act(bias[m] + R[m][n] + sum_k A[m][k] B[k][n]) with row-major A
 * (lda), B (ldb), C and R (ldc).  bias and R may be NULL.  Tasks are
 * CONV_MC x CONV_NC tiles of C; each walks K in CONV_KC panels in order, so an
 * element's sum is bias + R, then panel 0, panel 1, ... whatever the threading. */
RT_HELPER void conv_gemm(int M, int N, int K, const float *A, int64_t lda, const float *B, int64_t ldb,
                         const float *bias, const float *R, float *C, int64_t ldc, int act, float alpha, float beta) {
  const int tm = (M + CONV_MC - 1) / CONV_MC, tn = (N + CONV_NC - 1) / CONV_NC;
  int64_t t;

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < (int64_t)tm * tn; t++) {
    const int m0 = (int)(t / tn) * CONV_MC, n0 = (int)(t % tn) * CONV_NC;
    const int mc = M - m0 < CONV_MC ? M - m0 : CONV_MC;
    const int nc = N - n0 < CONV_NC ? N - n0 : CONV_NC;
    float ap[CONV_MC * CONV_KC], bp[CONV_KC * CONV_NC], out[CONV_MR * CONV_NR];
    int k0, i, j;

    /* Start from bias + residual: reading R before C is written keeps an
     * in-place residual (R == C) correct. */
    for (i = 0; i < mc; i++) {
      const float bv = bias ? bias[m0 + i] : 0.0f;
      float *cr = C + (m0 + i) * ldc + n0;
      if (R) {
        const float *rr = R + (m0 + i) * ldc + n0;
        for (j = 0; j < nc; j++)
          cr[j] = bv + rr[j];
      } else {
        for (j = 0; j < nc; j++)
          cr[j] = bv;
      }
    }
    for (k0 = 0; k0 < K; k0 += CONV_KC) {
      const int kc = K - k0 < CONV_KC ? K - k0 : CONV_KC;
      int ir, jr, q;
      /* Pack A into MR-row slivers (k-major) and B into NR-column slivers,
       * zero-filling the ragged edges so the micro-kernel never branches. */
      for (ir = 0; ir < mc; ir += CONV_MR) {
        float *dst = ap + ir * kc;
        for (q = 0; q < kc; q++)
          for (i = 0; i < CONV_MR; i++)
            dst[q * CONV_MR + i] = ir + i < mc ? A[(m0 + ir + i) * lda + k0 + q] : 0.0f;
      }
      for (jr = 0; jr < nc; jr += CONV_NR) {
        float *dst = bp + jr * kc;
        const int w = nc - jr < CONV_NR ? nc - jr : CONV_NR;
        for (q = 0; q < kc; q++) {
          const float *src = B + (k0 + q) * ldb + n0 + jr;
          for (j = 0; j < w; j++)
            dst[q * CONV_NR + j] = src[j];
          for (; j < CONV_NR; j++)
            dst[q * CONV_NR + j] = 0.0f;
        }
      }
      for (jr = 0; jr < nc; jr += CONV_NR) {
        const int w = nc - jr < CONV_NR ? nc - jr : CONV_NR;
        for (ir = 0; ir < mc; ir += CONV_MR) {
          const int h = mc - ir < CONV_MR ? mc - ir : CONV_MR;
          conv_gemm_micro(kc, ap + ir * kc, bp + jr * kc, out);
          for (i = 0; i < h; i++) {
            float *cr = C + (m0 + ir + i) * ldc + n0 + jr;
            for (j = 0; j < w; j++)
              cr[j] += out[i * CONV_NR + j];
          }
        }
      }
    }
    for (i = 0; i < mc; i++) {
      float *cr = C + (m0 + i) * ldc + n0;
      rt_act_array(act, alpha, beta, cr, cr, nc);
    }
  }
}

/* ------------------------------------------------------- conv entry points */

RT_INLINE int conv_is_1x1(const RtConv *p) {
  return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 && p->OH == p->H &&
         p->OW == p->W;
}

/* col[(c*kh + i)*kw + j][oh*OW + ow] = x[c][oh*sh - pt + i*dh][ow*sw - pl + j*dw] (0 in padding)
 * for the Cg channels of one group of one sample. */
RT_HELPER void conv_im2col(const RtConv *p, const float *x, int Cg, float *col) {
  const int64_t rows = (int64_t)Cg * p->kh * p->kw, npix = (int64_t)p->OH * p->OW;
  int64_t r;

  RT_OMP(parallel for schedule(static))
  for (r = 0; r < rows; r++) {
    const int j = (int)(r % p->kw), i = (int)(r / p->kw % p->kh), c = (int)(r / p->kw / p->kh);
    const int off = j * p->dw - p->pl;
    const float *xc = x + (int64_t)c * p->H * p->W;
    float *dst = col + r * npix;
    int lo, hi, oh, o;
    conv_valid_range(0, p->OW, p->sw, off, p->W, &lo, &hi);
    for (oh = 0; oh < p->OH; oh++) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      float *d = dst + (int64_t)oh * p->OW;
      if (ih < 0 || ih >= p->H) {
        for (o = 0; o < p->OW; o++)
          d[o] = 0.0f;
        continue;
      }
      {
        const float *xr = xc + (int64_t)ih * p->W;
        for (o = 0; o < lo; o++)
          d[o] = 0.0f;
        for (o = lo; o < hi; o++)
          d[o] = xr[o * p->sw + off];
        for (o = hi; o < p->OW; o++)
          d[o] = 0.0f;
      }
    }
  }
}

RT_FN size_t rt_conv2d_scratch(const RtConv *p) {
  if (p->algo != RT_ALGO_IM2COL)
    return 0;
  return (size_t)(p->C / p->groups) * (size_t)p->kh * (size_t)p->kw * (size_t)p->OH * (size_t)p->OW * sizeof(float);
}

RT_FN void rt_conv2d(const RtConv *p, int n, const float *x, const float *w, const float *b, const float *res, float *y,
                     void *scratch) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int64_t xs = (int64_t)p->C * p->H * p->W, ys = (int64_t)p->K * p->OH * p->OW;
  const int npix = p->OH * p->OW, kdim = Cg * p->kh * p->kw;
  int algo = p->algo, ni, g;

  if (algo == RT_ALGO_AUTO || algo == RT_ALGO_GEMM1X1)
    algo = conv_is_1x1(p) ? RT_ALGO_GEMM1X1 : RT_ALGO_DIRECT;
  else if (algo != RT_ALGO_IM2COL || !scratch)
    algo = RT_ALGO_DIRECT;

  if (algo == RT_ALGO_DIRECT) {
    conv_direct(p, n, x, w, b, res, y);
    return;
  }
  /* Both GEMM forms: per sample and group, C = W_g (Kg x kdim) * B (kdim x npix). */
  for (ni = 0; ni < n; ni++) {
    for (g = 0; g < G; g++) {
      const float *xg = x + ni * xs + (int64_t)g * Cg * p->H * p->W;
      const int64_t yo = ni * ys + (int64_t)g * Kg * npix;
      const float *B = xg;
      if (algo == RT_ALGO_IM2COL) {
        conv_im2col(p, xg, Cg, (float *)scratch);
        B = (const float *)scratch;
      }
      conv_gemm(Kg, npix, kdim, w + (int64_t)g * Kg * kdim, kdim, B, npix, b ? b + g * Kg : NULL, res ? res + yo : NULL,
                y + yo, npix, p->act, p->alpha, p->beta);
    }
  }
}

/* Gather form: one task = one output row of one output channel of one
 * sample.  Input row ih reaches output row oh through tap i when
 * oh = ih*sh - pt + i*dh; along W the taps scatter with stride sw within the
 * row this task owns, so no two tasks write the same element. */
RT_FN void rt_conv_transpose2d(const RtConv *p, int n, const float *x, const float *w, const float *b, float *y) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int64_t ntask = (int64_t)n * p->K * p->OH;
  int64_t t;

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < ntask; t++) {
    const int oh = (int)(t % p->OH), k = (int)(t / p->OH % p->K);
    const int64_t ni = t / p->OH / p->K;
    const int g = k / Kg, kl = k % Kg;
    float *yr = y + t * p->OW;
    const float bv = b ? b[k] : 0.0f;
    int c, i, j, o;

    for (o = 0; o < p->OW; o++)
      yr[o] = bv;
    for (c = 0; c < Cg; c++) {
      const int ci = g * Cg + c;
      const float *xc = x + (ni * p->C + ci) * p->H * p->W;
      const float *wc = w + ((int64_t)ci * Kg + kl) * p->kh * p->kw;
      for (i = 0; i < p->kh; i++) {
        const int num = oh + p->pt - i * p->dh;
        const float *xr;
        if (num < 0 || num % p->sh != 0 || num / p->sh >= p->H)
          continue;
        xr = xc + (int64_t)(num / p->sh) * p->W;
        for (j = 0; j < p->kw; j++) {
          const float wv = wc[i * p->kw + j];
          const int off = j * p->dw - p->pl;
          int lo, hi, iw;
          /* input columns iw with 0 <= iw*sw + off < OW, within [0, W) */
          conv_valid_range(0, p->W, p->sw, off, p->OW, &lo, &hi);
          if (p->sw == 1) {
            for (iw = lo; iw < hi; iw++)
              yr[iw + off] += wv * xr[iw];
          } else {
            for (iw = lo; iw < hi; iw++)
              yr[iw * p->sw + off] += wv * xr[iw];
          }
        }
      }
    }
    rt_act_array(p->act, p->alpha, p->beta, yr, yr, p->OW);
  }
}

/* -------------------------------------------------------------- linear */

/* Sums of CONV_LANES interleaved partial dot products of `nr` weight rows
 * with one input row, reduced pairwise in a fixed order, then the tail.  One
 * routine for every row count keeps each output's summation order a function
 * of `in` alone. */
RT_HELPER void conv_dot_rows(int in, const float *RT_RESTRICT x, const float *RT_RESTRICT w, int nr,
                             float *RT_RESTRICT out) {
  float acc[CONV_KB][CONV_LANES];
  const int main_len = in - in % CONV_LANES;
  int r, i, l, h;
  for (r = 0; r < CONV_KB; r++)
    for (l = 0; l < CONV_LANES; l++)
      acc[r][l] = 0.0f;
  if (nr == CONV_KB) {
    const float *w0 = w, *w1 = w + in, *w2 = w + 2 * (int64_t)in, *w3 = w + 3 * (int64_t)in;
    for (i = 0; i < main_len; i += CONV_LANES)
      for (l = 0; l < CONV_LANES; l++) {
        const float v = x[i + l];
        acc[0][l] += v * w0[i + l];
        acc[1][l] += v * w1[i + l];
        acc[2][l] += v * w2[i + l];
        acc[3][l] += v * w3[i + l];
      }
  } else {
    for (r = 0; r < nr; r++) {
      const float *wr = w + r * (int64_t)in;
      for (i = 0; i < main_len; i += CONV_LANES)
        for (l = 0; l < CONV_LANES; l++)
          acc[r][l] += x[i + l] * wr[i + l];
    }
  }
  for (r = 0; r < nr; r++) {
    const float *wr = w + r * (int64_t)in;
    float s;
    for (h = CONV_LANES / 2; h > 0; h /= 2)
      for (l = 0; l < h; l++)
        acc[r][l] += acc[r][l + h];
    s = acc[r][0];
    for (i = main_len; i < in; i++)
      s += x[i] * wr[i];
    out[r] = s;
  }
}

/* Tasks are (block of CONV_KB outputs, sample) with the sample fastest, so a
 * thread's consecutive tasks reuse the same weight rows from cache. */
RT_FN void rt_linear(int n, int in, int out, const float *x, const float *w, const float *b, const float *res, float *y,
                     int act, float alpha, float beta) {
  const int nob = (out + CONV_KB - 1) / CONV_KB;
  int64_t t;

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < (int64_t)nob * n; t++) {
    const int64_t s = t % n;
    const int o0 = (int)(t / n) * CONV_KB;
    const int no = out - o0 < CONV_KB ? out - o0 : CONV_KB;
    float *yr = y + s * out + o0;
    float d[CONV_KB];
    int r;
    conv_dot_rows(in, x + s * in, w + (int64_t)o0 * in, no, d);
    for (r = 0; r < no; r++) {
      float v = d[r];
      if (b)
        v += b[o0 + r];
      if (res)
        v += res[s * out + o0 + r];
      yr[r] = v;
    }
    rt_act_array(act, alpha, beta, yr, yr, no);
  }
}
