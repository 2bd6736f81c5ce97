/* conv_bwd.c - GEMM-based convolution backward (training).
 *
 * rt_conv2d_bwd_ws has rt_conv2d_bwd's semantics (PyTorch conv2d: stride,
 * top/left padding with bottom/right implied by OH/OW, dilation, groups;
 * every gradient ACCUMULATED, any pointer NULL) but lowers the two big
 * products to the blocked GEMM of gemm.c, per sample and group
 * (Cg = C/G, Kg = K/G, KK = Cg*kh*kw, P = OH*OW):
 *  - dW[g]^T (KK x Kg) += col(X) (KK x P) * dY[g]^T (P x Kg): A = the im2col
 *    matrix read in place (or x itself for a 1x1, stride 1, unpadded conv),
 *    B = dY[g] packed transposed, C = dW[g] written with strides (row stride
 *    1, column stride KK) and accumulated through the GEMM's residual;
 *  - dCol (KK x P) = W[g]^T (KK x Kg) * dY[g] (Kg x P), then col2im adds dCol
 *    into dx (a 1x1 unit-stride unpadded conv accumulates into dx directly);
 *  - db: rt_conv2d_bwd's own per-channel sum (double across rows).
 * Depthwise and other convs with tiny per-group products go to the direct
 * rt_conv2d_bwd, which is faster there.
 *
 * Guarantees:
 *  - deterministic and thread-count independent: the batch and the groups
 *    are walked serially in a fixed order; inside, each GEMM element is owned
 *    by one task with the k terms in increasing order (gemm.c), im2col and
 *    col2im run one task per input channel/row owning its outputs, and the
 *    taps of col2im are added in fixed (i, j, oh, ow) order;
 *  - no heap, no globals, no VLAs: all memory is the caller's scratch, of
 *    rt_conv2d_bwd_scratch(p, n_max) bytes (any alignment; 64 is best), a
 *    bound on everything used including the GEMM's packed B.
 */
#include "cnnc_rt.h"

RT_INLINE int cbw_is_1x1(const RtConv *p) {
  return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->pt == 0 && p->pl == 0 && p->OH == p->H &&
         p->OW == p->W;
}

/* The direct kernel wins when the per-group products are tiny (depthwise,
 * few channels per group): GEMM tiles would be mostly padding. */
RT_INLINE int cbw_use_direct(const RtConv *p) {
  const int Cg = p->C / p->groups, Kg = p->K / p->groups;
  const int64_t KK = (int64_t)Cg * p->kh * p->kw;
  return Kg < 4 || KK < 4;
}

/* Floats rounded up to a multiple of 16 (64 bytes). */
RT_INLINE size_t cbw_r16(size_t f) { return (f + 15) / 16 * 16; }

/* Samples per GEMM: enough to give the GEMMs about CBW_COLS columns of
 * im2col (small images would otherwise make many tiny GEMMs). */
enum { CBW_COLS = 1024 };
RT_INLINE int cbw_batch(int64_t P, int n) {
  const int64_t b = (CBW_COLS + P - 1) / P;
  return n < 1 ? 1 : b < n ? (int)b : n;
}

RT_FN size_t rt_conv2d_bwd_scratch(const RtConv *p, int n_max) {
  const int Cg = p->C / p->groups, Kg = p->K / p->groups;
  const size_t KK = (size_t)Cg * p->kh * p->kw, P = (size_t)p->OH * p->OW;
  const size_t NP = P * (size_t)cbw_batch((int64_t)P, n_max);
  size_t f = 0, pk1, pk2;
  if (cbw_use_direct(p) || P == 0)
    return 0;
  f += cbw_r16(KK * (size_t)p->K); /* W^T of every group */
  f += cbw_r16(KK * NP);           /* col(X), then dCol (not for a 1x1 sample alone) */
  /* packed B: dY^T (NP x Kg) for dW, dY (Kg x NP) for dX; rt_gemm_scratch's bound */
  pk1 = NP * ((size_t)(Kg + 15) / 16 * 16);
  pk2 = (size_t)Kg * ((NP + 15) / 16 * 16);
  f += cbw_r16(pk1 > pk2 ? pk1 : pk2);
  return f * sizeof(float) + 64;
}

/* Pack B (Kt x N) in gemm.c's panel layout (RT_GEMM_BP_INDEX) from
 * B(k, n) = base[(k / kd)*ks1 + (k % kd)*ks0 + (n / nd)*ns1 + (n % nd)*ns0]
 * (the sample-major concatenations of dY): one task per panel. */
RT_HELPER void cbw_pack(int Kt, int N, const float *base, int kd, int64_t ks1, int64_t ks0, int nd, int64_t ns1,
                        int64_t ns0, float *Bp) {
  const int nmain = RT_GEMM_NMAIN(N), np = (nmain + RT_GEMM_NR - 1) / RT_GEMM_NR;
  int pi;
  RT_OMP(parallel for schedule(static) if((int64_t)Kt * N >= RT_PAR_MIN_ELEMS))
  for (pi = 0; pi <= np; pi++) {
    const int n0 = pi == np ? nmain : pi * RT_GEMM_NR;
    const int w = pi == np ? N - nmain : (nmain - n0 < RT_GEMM_NR ? nmain - n0 : RT_GEMM_NR);
    const int pw = pi == np ? 0 : RT_GEMM_PANEL_W(N, n0);
    int k, j;
    if (w <= 0)
      continue;
    for (k = 0; k < Kt; k++) {
      const float *row = base + (int64_t)(k / kd) * ks1 + (int64_t)(k % kd) * ks0;
      int q = n0 / nd, r = n0 % nd;
      if (pi == np) { /* tail columns, k-major */
        for (j = 0; j < w; j++) {
          Bp[(int64_t)(n0 + j) * Kt + k] = row[q * ns1 + r * ns0];
          if (++r == nd)
            r = 0, q++;
        }
      } else {
        float *d = Bp + (int64_t)n0 * Kt + (int64_t)k * pw;
        for (j = 0; j < w; j++) {
          d[j] = row[q * ns1 + r * ns0];
          if (++r == nd)
            r = 0, q++;
        }
        for (; j < pw; j++)
          d[j] = 0.0f;
      }
    }
  }
}

/* col (KK x P) of one group's input channels xg (Cg planes). */
RT_HELPER void cbw_im2col(const RtConv *p, const float *xg, int Cg, float *col, int64_t ld) {
  const int ksz = p->kh * p->kw, OW = p->OW;
  const int64_t HW = (int64_t)p->H * p->W;
  int64_t r;
  RT_OMP(parallel for schedule(static) if((int64_t)Cg * ksz * p->OH * OW >= RT_PAR_MIN_ELEMS))
  for (r = 0; r < (int64_t)Cg * ksz; r++) {
    const int c = (int)(r / ksz), i = (int)(r % ksz) / p->kw, j = (int)(r % ksz) % p->kw;
    const float *xc = xg + c * HW;
    const int off = j * p->dw - p->pl;
    float *dst = col + r * ld;
    int lo, hi, oh, ow;
    rt_valid_range(0, OW, p->sw, off, p->W, &lo, &hi);
    for (oh = 0; oh < p->OH; oh++, dst += OW) {
      const int ih = oh * p->sh - p->pt + i * p->dh;
      if (ih < 0 || ih >= p->H) {
        for (ow = 0; ow < OW; ow++)
          dst[ow] = 0.0f;
        continue;
      }
      {
        const float *xr = xc + (int64_t)ih * p->W + off;
        for (ow = 0; ow < lo; ow++)
          dst[ow] = 0.0f;
        if (p->sw == 1) {
          for (ow = lo; ow < hi; ow++)
            dst[ow] = xr[ow];
        } else {
          for (ow = lo; ow < hi; ow++)
            dst[ow] = xr[(int64_t)ow * p->sw];
        }
        for (ow = hi; ow < OW; ow++)
          dst[ow] = 0.0f;
      }
    }
  }
}

/* dxg (Cg planes) += col2im(dcol): one task per input channel, taps in
 * fixed order. */
RT_HELPER void cbw_col2im(const RtConv *p, const float *dcol, int64_t ld, int Cg, float *dxg) {
  const int ksz = p->kh * p->kw, OW = p->OW;
  const int64_t HW = (int64_t)p->H * p->W;
  int c;
  RT_OMP(parallel for schedule(static) if((int64_t)Cg * ksz * p->OH * OW >= RT_PAR_MIN_ELEMS))
  for (c = 0; c < Cg; c++) {
    float *dxc = dxg + c * HW;
    int i, j, oh, ow;
    for (i = 0; i < p->kh; i++)
      for (j = 0; j < p->kw; j++) {
        const float *src = dcol + ((int64_t)c * ksz + i * p->kw + j) * ld;
        const int off = j * p->dw - p->pl;
        int lo, hi;
        rt_valid_range(0, OW, p->sw, off, p->W, &lo, &hi);
        for (oh = 0; oh < p->OH; oh++, src += OW) {
          const int ih = oh * p->sh - p->pt + i * p->dh;
          float *dr;
          if (ih < 0 || ih >= p->H)
            continue;
          dr = dxc + (int64_t)ih * p->W + off;
          if (p->sw == 1) {
            for (ow = lo; ow < hi; ow++)
              dr[ow] += src[ow];
          } else {
            for (ow = lo; ow < hi; ow++)
              dr[(int64_t)ow * p->sw] += src[ow];
          }
        }
      }
  }
}

RT_HELPER void cbw_gemm(int M, int N, int K, const float *A, int64_t lda, const float *Bp, float *C, int64_t rsc,
                        int64_t csc, const float *res) {
  RtGemm g;
  g.M = M, g.N = N, g.K = K;
  g.A = A, g.lda = lda, g.Bp = Bp, g.ldb = 0, g.Bt = NULL, g.bexact = 0;
  g.C = C, g.rsc = rsc, g.csc = csc;
  g.bias = NULL, g.res = res;
  g.act = RT_ACT_NONE, g.alpha = 0.0f, g.beta = 0.0f;
  rt_gemm_packed(&g);
}

RT_FN void rt_conv2d_bwd_ws(const RtConv *p, int n, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db, void *scratch) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int KK = Cg * p->kh * p->kw;
  const int64_t HW = (int64_t)p->H * p->W, P = (int64_t)p->OH * p->OW;
  const int one = cbw_is_1x1(p), nb = cbw_batch(P, n);
  float *wt, *col, *bp;
  int n0, g, s;

  if (n <= 0)
    return;
  if (cbw_use_direct(p) || P <= 0) {
    rt_conv2d_bwd(p, n, x, w, dy, dx, dw, db);
    return;
  }
  if (db)
    rt_conv2d_bwd(p, n, x, w, dy, NULL, NULL, db);
  if (!dx && !dw)
    return;

  wt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  col = wt + cbw_r16((size_t)KK * p->K);
  bp = col + cbw_r16((size_t)KK * P * nb);

  if (dx) { /* W[g]^T: (KK x Kg) per group, row-major */
    int64_t t;
    RT_OMP(parallel for schedule(static) if((int64_t)KK * p->K >= RT_PAR_MIN_ELEMS))
    for (t = 0; t < (int64_t)G * KK; t++) {
      const int gg = (int)(t / KK), r = (int)(t % KK);
      const float *src = w + (int64_t)gg * Kg * KK + r;
      float *d = wt + (int64_t)gg * Kg * KK + (int64_t)r * Kg;
      int k;
      for (k = 0; k < Kg; k++)
        d[k] = src[(int64_t)k * KK];
    }
  }

  for (n0 = 0; n0 < n; n0 += nb) {
    const int cnt = n - n0 < nb ? n - n0 : nb, NP = cnt * (int)P;
    for (g = 0; g < G; g++) {
      const float *dyg = dy + ((int64_t)n0 * p->K + (int64_t)g * Kg) * P;
      if (dw) {
        float *dwg = dw + (int64_t)g * Kg * KK;
        const float *a = col;
        if (one && cnt == 1) {
          a = x + ((int64_t)n0 * p->C + (int64_t)g * Cg) * HW;
        } else {
          for (s = 0; s < cnt; s++)
            cbw_im2col(p, x + ((int64_t)(n0 + s) * p->C + (int64_t)g * Cg) * HW, Cg, col + (int64_t)s * P, NP);
        }
        /* dY^T: row k = (sample, pixel), column = channel */
        cbw_pack(NP, Kg, dyg, (int)P, (int64_t)p->K * P, 1, Kg, 0, P, bp);
        cbw_gemm(KK, Kg, NP, a, NP, bp, dwg, 1, KK, dwg);
      }
      if (dx) {
        const float *wtg = wt + (int64_t)g * Kg * KK;
        /* dY: row = channel, column = (sample, pixel) */
        cbw_pack(Kg, NP, dyg, Kg, 0, P, (int)P, (int64_t)p->K * P, 1, bp);
        if (one && cnt == 1) {
          float *dxg = dx + ((int64_t)n0 * p->C + (int64_t)g * Cg) * HW;
          cbw_gemm(KK, NP, Kg, wtg, Kg, bp, dxg, P, 1, dxg);
        } else {
          cbw_gemm(KK, NP, Kg, wtg, Kg, bp, col, NP, 1, NULL);
          for (s = 0; s < cnt; s++)
            cbw_col2im(p, col + (int64_t)s * P, NP, Cg, dx + ((int64_t)(n0 + s) * p->C + (int64_t)g * Cg) * HW);
        }
      }
    }
  }
}

/* ------------------------------------------- transposed conv via GEMM */

/* A transposed conv is the data gradient of the conv it transposes: the conv
 * q from y's shape (K channels, OH x OW) to x's (C channels, H x W) with the
 * same kernel, stride, dilation, padding and groups, whose weight layout
 * (C, K/groups, kh, kw) is the transposed conv's own.  Rows of the output
 * beyond q's reach (output_padding) get the bias only. */
RT_INLINE RtConv cbw_transposed(const RtConv *p) {
  RtConv q = *p;
  q.C = p->K, q.H = p->OH, q.W = p->OW;
  q.K = p->C, q.OH = p->H, q.OW = p->W;
  q.act = RT_ACT_NONE;
  return q;
}

RT_FN size_t rt_conv_transpose2d_scratch(const RtConv *p, int n_max) {
  const RtConv q = cbw_transposed(p);
  return rt_conv2d_bwd_scratch(&q, n_max);
}

RT_FN void rt_conv_transpose2d_ws(const RtConv *p, int n, const float *x, const float *w, const float *b, float *y,
                                  void *scratch) {
  const RtConv q = cbw_transposed(p);
  const int64_t plane = (int64_t)p->OH * p->OW, count = (int64_t)n * p->K * plane;
  int64_t t;
  if (!scratch || cbw_use_direct(&q)) {
    rt_conv_transpose2d(p, n, x, w, b, y);
    return;
  }
  RT_OMP(parallel for schedule(static) if(count >= RT_PAR_MIN_WORK))
  for (t = 0; t < (int64_t)n * p->K; t++) {
    const float bv = b ? b[t % p->K] : 0.0f;
    float *yc = y + t * plane;
    int64_t i;
    for (i = 0; i < plane; i++)
      yc[i] = bv;
  }
  rt_conv2d_bwd_ws(&q, n, NULL, w, x, y, NULL, NULL, scratch);
  rt_act_array(p->act, p->alpha, p->beta, y, y, count);
}
