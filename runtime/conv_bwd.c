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

/* A transposed conv whose kernel equals its stride (no padding, dilation,
 * groups or output padding: U-Net's 2x2/2 up-sampling) puts exactly one tap
 * on each output pixel: output pixel (ih*kh + a, iw*kw + b) of channel k is
 * bias[k] + sum_c W[c][k][a][b] x[c][ih][iw].  That is a 1x1 conv q from C
 * to K*kh*kw channels (row k*kh*kw + a*kw + b), run by the 1x1 GEMM with
 * the bias and activation fused, into a scratch map whose rows the output
 * rows then interleave.  Each output is one dot product over c in
 * increasing order, whatever the thread count. */
RT_FN int rt_conv_transpose2d_tiled(const RtConv *p) {
  return p->groups == 1 && p->kh == p->sh && p->kw == p->sw && p->dh == 1 && p->dw == 1 && p->pt == 0 &&
         p->pl == 0 && p->OH == p->H * p->sh && p->OW == p->W * p->sw;
}

RT_INLINE RtConv cbw_t_1x1(const RtConv *p) {
  RtConv q = *p;
  q.K = p->K * p->kh * p->kw, q.OH = p->H, q.OW = p->W;
  q.kh = q.kw = q.sh = q.sw = q.dh = q.dw = 1;
  q.pt = q.pl = 0;
  q.algo = RT_ALGO_GEMM1X1, q.tile = 0;
  return q;
}

/* Scratch floats before the 1x1 conv's own: W reordered (K*kh*kw x C), the
 * bias per row, the K*kh*kw planes of one sample. */
RT_INLINE size_t cbw_t_floats(const RtConv *p) {
  const size_t rows = (size_t)p->K * p->kh * p->kw;
  return cbw_r16(rows * (size_t)p->C) + cbw_r16(rows) + cbw_r16(rows * (size_t)p->H * p->W);
}

/* dst[2i] = a[i], dst[2i + 1] = b[i] for i < n. */
RT_INLINE void cbw_interleave2(const float *a, const float *b, int n, float *dst) {
  int i = 0;
#if defined(__AVX512F__)
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (; i + 16 <= n; i += 16) {
    const __m512 e = _mm512_loadu_ps(a + i), o = _mm512_loadu_ps(b + i);
    _mm512_storeu_ps(dst + 2 * i, _mm512_permutex2var_ps(e, lo, o));
    _mm512_storeu_ps(dst + 2 * i + 16, _mm512_permutex2var_ps(e, hi, o));
  }
#endif
  for (; i < n; i++) {
    dst[2 * i] = a[i];
    dst[2 * i + 1] = b[i];
  }
}

RT_HELPER void cbw_t_tiled_run(const RtConv *p, int n, const float *x, const float *w, const float *b, float *y,
                               void *scratch) {
  const RtConv q = cbw_t_1x1(p);
  const int taps = p->kh * p->kw, rows = q.K;
  const int64_t HW = (int64_t)p->H * p->W, xs = (int64_t)p->C * HW, ys = (int64_t)p->K * p->OH * p->OW;
  float *wt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  float *bt = wt + cbw_r16((size_t)rows * p->C);
  float *col = bt + cbw_r16((size_t)rows);
  void *qs = col + cbw_r16((size_t)rows * HW);
  int64_t t;
  int ni;
  RT_PAR_FOR((int64_t)rows * p->C >= RT_PAR_MIN_ELEMS, static, t, rows,
    const int k = (int)(t / taps), ab = (int)(t % taps);
    int c;
    for (c = 0; c < p->C; c++)
      wt[t * p->C + c] = w[((int64_t)c * p->K + k) * taps + ab];
    bt[t] = b ? b[k] : 0.0f;
  );
  for (ni = 0; ni < n; ni++) {
    float *yn = y + ni * ys;
    rt_conv2d_gemm(&q, 1, x + ni * xs, wt, bt, NULL, col, qs);
    /* output row (k, ih*kh + a) interleaves rows k*taps + a*kw + (0..kw-1) */
    RT_PAR_FOR(ys >= RT_PAR_MIN_ELEMS, static, t, (int64_t)p->K * p->OH,
      const int k = (int)(t / p->OH), oh = (int)(t % p->OH), ih = oh / p->kh, a = oh % p->kh;
      const float *src = col + ((int64_t)k * taps + a * p->kw) * HW + (int64_t)ih * p->W;
      float *dst = yn + t * p->OW;
      int iw, bb;
      if (p->kw == 2) {
        cbw_interleave2(src, src + HW, p->W, dst);
      } else {
        for (bb = 0; bb < p->kw; bb++)
          for (iw = 0; iw < p->W; iw++)
            dst[iw * p->kw + bb] = src[bb * HW + iw];
      }
    );
  }
}

/* Sub-pixel form of a strided transposed conv (dilation 1, kh >= sh,
 * kw >= sw): output row oh = sh*q + ra - pt only gets the taps
 * i = ra + sh*t (t = 0, 1, ...) from input rows q - t, and likewise along W.
 * So each phase (ra, rb) is an ordinary stride-1 conv of x with the
 * sub-kernel of those taps, flipped (tap j of th reads row q - (th-1) + j),
 * run by the direct row kernel into the scratch and scattered to its output
 * rows and columns; the bias and activation are fused into each phase's
 * conv.  Phases never write the same output element, and run in turn.
 * Used from 32 input columns (two 16-column strips of the row kernel;
 * measured 1.2-2x faster than GEMM + col2im on 3x3/2 and 4x4/2 up-sampling
 * with 16-128 channels there, up to 2x slower on 8-16 columns). */
typedef struct CbwPhase {
  RtConv q;           /* the phase's stride-1 direct conv */
  int skip, nq;       /* its first skip rows are dropped (a negative top padding), nq kept */
  int oh0, ow0;       /* output position of the conv's (0, 0) */
} CbwPhase;

/* Taps, first output index and count of phase r along one axis (kernel k,
 * stride s, padding pad, output length O); 0 taps or outputs: nothing. */
RT_INLINE void cbw_axis(int r, int k, int s, int pad, int O, int *taps, int *q0, int *nq) {
  const int lo = pad - r <= 0 ? 0 : (pad - r + s - 1) / s, hi = O + pad - r <= 0 ? 0 : (O + pad - r + s - 1) / s;
  *taps = r < k ? (k - r + s - 1) / s : 0;
  *q0 = lo;
  *nq = hi > lo ? hi - lo : 0;
}

/* Phase (ra, rb) of p: 1, or 0 when it has no outputs, -1 when its left
 * padding tw - 1 - r0 would be negative (a negative top padding -cr is
 * made 0 by computing cr more rows and dropping them). */
RT_INLINE int cbw_phase(const RtConv *p, int ra, int rb, CbwPhase *f) {
  int th, tw, q0, r0, nq, nr, pt, pl, cr = 0;
  cbw_axis(ra, p->kh, p->sh, p->pt, p->OH, &th, &q0, &nq);
  cbw_axis(rb, p->kw, p->sw, p->pl, p->OW, &tw, &r0, &nr);
  if (nq == 0 || nr == 0)
    return 0;
  pt = th - 1 - q0, pl = tw - 1 - r0;
  if (pt < 0) /* cr more rows on top, computed and dropped */
    cr = -pt, pt = 0;
  if (pl < 0)
    return -1;
  f->q = *p;
  f->q.OH = nq + cr, f->q.OW = nr, f->q.kh = th, f->q.kw = tw;
  f->q.sh = f->q.sw = f->q.dh = f->q.dw = 1, f->q.pt = pt, f->q.pl = pl;
  f->q.algo = RT_ALGO_DIRECT;
  f->q.tile = 0;
  f->skip = cr, f->nq = nq;
  f->oh0 = p->sh * q0 + ra - p->pt, f->ow0 = p->sw * r0 + rb - p->pl;
  return 1;
}

RT_FN int rt_conv_transpose2d_subpixel(const RtConv *p) {
  int ra, rb;
  CbwPhase f;
  if (p->groups != 1 || p->dh != 1 || p->dw != 1 || p->sh * p->sw < 2 || p->kh < p->sh || p->kw < p->sw ||
      p->W < 32)
    return 0;
  for (ra = 0; ra < p->sh; ra++)
    for (rb = 0; rb < p->sw; rb++)
      if (cbw_phase(p, ra, rb, &f) < 0)
        return 0;
  return 1;
}

/* Floats before the phase convs' own scratch: every phase's weights (all
 * taps once), then the largest phase output of one sample. */
RT_INLINE void cbw_sp_sizes(const RtConv *p, size_t *wfl, size_t *yfl, size_t *qbytes) {
  int ra, rb;
  CbwPhase f;
  *wfl = cbw_r16((size_t)p->K * p->C * p->kh * p->kw), *yfl = 0, *qbytes = 0;
  for (ra = 0; ra < p->sh; ra++)
    for (rb = 0; rb < p->sw; rb++)
      if (cbw_phase(p, ra, rb, &f) == 1) {
        const size_t yf = cbw_r16((size_t)p->K * f.q.OH * f.q.OW), qb = rt_conv2d_scratch(&f.q);
        *yfl = yf > *yfl ? yf : *yfl;
        *qbytes = qb > *qbytes ? qb : *qbytes;
      }
}

RT_HELPER void cbw_subpixel_run(const RtConv *p, int n, const float *x, const float *w, const float *b, float *y,
                                void *scratch) {
  const int64_t xs = (int64_t)p->C * p->H * p->W, ys = (int64_t)p->K * p->OH * p->OW;
  size_t wfl, yfl, qb;
  float *wp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63), *wq, *yq;
  void *qs;
  int ra, rb, ni;
  cbw_sp_sizes(p, &wfl, &yfl, &qb);
  yq = wp + wfl;
  qs = yq + yfl;
  for (ra = 0, wq = wp; ra < p->sh; ra++)
    for (rb = 0; rb < p->sw; rb++) {
      CbwPhase f;
      int64_t t;
      if (cbw_phase(p, ra, rb, &f) != 1)
        continue;
      { /* conv weights (K, C, th, tw) from (C, K, kh, kw) (groups 1): tap (j, l)
         * is (ra + sh*(th-1-j), rb + sw*(tw-1-l)) */
        const int th = f.q.kh, tw = f.q.kw;
        RT_PAR_FOR((int64_t)p->K * p->C * th * tw >= RT_PAR_MIN_ELEMS, static, t, p->K,
          int c, j, l;
          for (c = 0; c < p->C; c++)
            for (j = 0; j < th; j++)
              for (l = 0; l < tw; l++)
                wq[(t * p->C + c) * th * tw + j * tw + l] =
                    w[(((int64_t)c * p->K + t) * p->kh + ra + p->sh * (th - 1 - j)) * p->kw + rb +
                      p->sw * (tw - 1 - l)];
        );
      }
      for (ni = 0; ni < n; ni++) {
        const int nq = f.nq, nr = f.q.OW;
        float *yn = y + ni * ys;
        rt_conv2d(&f.q, 1, x + ni * xs, wq, b, NULL, yq, qs);
        RT_PAR_FOR((int64_t)p->K * nq * nr >= RT_PAR_MIN_ELEMS, static, t, (int64_t)p->K * nq,
          const int k = (int)(t / nq), r = (int)(t % nq);
          const float *src = yq + ((int64_t)k * f.q.OH + f.skip + r) * nr;
          float *dst = yn + ((int64_t)k * p->OH + f.oh0 + (int64_t)p->sh * r) * p->OW + f.ow0;
          int c;
          for (c = 0; c < nr; c++)
            dst[(int64_t)c * p->sw] = src[c];
        );
      }
      wq += (int64_t)p->K * p->C * f.q.kh * f.q.kw;
    }
}

RT_FN size_t rt_conv_transpose2d_scratch(const RtConv *p, int n_max) {
  const RtConv q = cbw_transposed(p);
  if (rt_conv_transpose2d_tiled(p)) {
    const RtConv g = cbw_t_1x1(p);
    return cbw_t_floats(p) * sizeof(float) + rt_conv2d_scratch(&g) + 128;
  }
  if (rt_conv_transpose2d_subpixel(p)) {
    size_t wfl, yfl, qb;
    cbw_sp_sizes(p, &wfl, &yfl, &qb);
    return (wfl + yfl) * sizeof(float) + qb + 128;
  }
  return rt_conv2d_bwd_scratch(&q, n_max);
}

RT_FN void rt_conv_transpose2d_ws(const RtConv *p, int n, const float *x, const float *w, const float *b, float *y,
                                  void *scratch) {
  const RtConv q = cbw_transposed(p);
  const int64_t plane = (int64_t)p->OH * p->OW, count = (int64_t)n * p->K * plane;
  int64_t t;
  if (scratch && rt_conv_transpose2d_tiled(p)) {
    cbw_t_tiled_run(p, n, x, w, b, y, scratch);
    return;
  }
  if (scratch && rt_conv_transpose2d_subpixel(p)) {
    cbw_subpixel_run(p, n, x, w, b, y, scratch);
    return;
  }
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
