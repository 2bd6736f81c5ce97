/* fft.c - FFT convolution for large kernels (2-D 7x7 and up, long 1-D).
 *
 * Overlap-save on P x Q tiles (powers of two): a tile of the padded input
 * gives (P - keH + 1) x (Q - keW + 1) stride-1 outputs, where keH/keW is the
 * dilated kernel extent.  Per group and block of tiles:
 *
 *   1. forward 2-D FFT of every (input channel, tile) patch -> X_f[c][t]
 *   2. per frequency f:  Y_f[t][k] = sum_c X_f[c][t] * W_f[c][k]
 *   3. inverse 2-D FFT of every (output channel, tile)      -> valid region
 *      + bias + residual -> activation -> y (every sh-th row, sw-th column)
 *
 * W_f = conj(DFT(dilated kernel)) / (P*Q) is computed at compile time in
 * double precision (rt_fft_weights): correlation is X . conj(W), and the
 * 1/(PQ) of the inverse transform is folded in.
 *
 * The FFTs are radix-2, iterative, on 16 complex lanes at once: lane l of a
 * work buffer carries two real signals as (re, im), so 32 real patches are
 * transformed together and split afterwards with the Hermitian symmetry.
 * Every butterfly is a loop over 16 contiguous floats, which compilers turn
 * into vector code for any instruction set; no intrinsics are needed.
 *
 * Guarantees:
 *  - the tile size is a pure function of the RtConv (rt_fft_geometry), so the
 *    compile-time spectra and the runtime always agree; scratch
 *    (rt_fft_scratch) is the same for every instruction set;
 *  - results do not depend on the thread count: each FFT chunk, each
 *    frequency range and each output element belongs to one task, and the
 *    FFT work buffers are indexed by a fixed slot (FFT_SLOTS of them), never
 *    by a thread id;
 *  - no heap, no globals; twiddles are computed per call into the scratch.
 * Stride > 1 is supported by computing the stride-1 grid and keeping every
 * sh-th/sw-th output, so the compiler should pick FFT for stride 1 only.
 */
#include "cnnc_rt.h"

enum {
  FFT_L = 16,    /* complex lanes per work buffer (32 real signals) */
  FFT_SLOTS = 4, /* concurrent work buffers: the parallelism of the FFT stages */
  FFT_KB = 16,   /* output channels per product register block */
  FFT_TB = 4     /* tiles per product register block */
};

RT_INLINE int fft_pow2_ge(int v) {
  int p = 1;
  while (p < v)
    p *= 2;
  return p;
}

/* Tile edge along one axis: long enough that the useful part dominates
 * (~4x the kernel extent), never longer than the whole padded extent. */
RT_INLINE int fft_edge(int ke, int whole, int forced) {
  int e;
  if (forced > 0)
    e = fft_pow2_ge(forced > ke ? forced : ke);
  else {
    e = fft_pow2_ge(4 * ke);
    if (e < 16)
      e = 16;
  }
  if (e > fft_pow2_ge(whole))
    e = fft_pow2_ge(whole);
  if (e < ke)
    e = fft_pow2_ge(ke);
  return e;
}

/* Tile edges P x Q, tiles th x tw, tiles per block tb; returns F = P*(Q/2+1). */
RT_FN int rt_fft_geometry(const RtConv *p, int *P, int *Q, int *th, int *tw, int *tb) {
  const int keh = (p->kh - 1) * p->dh + 1, kew = (p->kw - 1) * p->dw + 1;
  const int oh1 = (p->OH - 1) * p->sh + 1, ow1 = (p->OW - 1) * p->sw + 1; /* stride-1 rows/cols needed */
  const int pp = fft_edge(keh, oh1 + keh - 1, p->tile), qq = fft_edge(kew, ow1 + kew - 1, p->tile);
  const int f = pp * (qq / 2 + 1);
  const int ty = (oh1 + pp - keh) / (pp - keh + 1), tx = (ow1 + qq - kew) / (qq - kew + 1);
  const int64_t per_tile = (int64_t)f * 2 * (p->C / p->groups + p->K / p->groups);
  int64_t b = ((int64_t)1 << 20) / (per_tile > 0 ? per_tile : 1); /* X + Y of a block ~ 4 MiB */
  if (b < 8)
    b = 8;
  if (b > (int64_t)ty * tx)
    b = (int64_t)ty * tx;
  *P = pp, *Q = qq, *th = ty, *tw = tx, *tb = (int)b;
  return f;
}

RT_FN int rt_fft_applies(const RtConv *p) { return p->kh * p->kw > 1 && p->OH > 0 && p->OW > 0; }

RT_INLINE int fft_kgp(const RtConv *p) { return (p->K / p->groups + FFT_KB - 1) / FFT_KB * FFT_KB; }

RT_FN size_t rt_fft_weights_size(const RtConv *p) {
  int P, Q, th, tw, tb;
  const int F = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  return (size_t)2 * p->groups * (size_t)F * (size_t)(p->C / p->groups) * (size_t)fft_kgp(p);
}

/* Spectra: for group g, frequency f = f1*(Q/2+1) + f2, channel c, output k:
 * re at ws[((g*2 + 0)*F + f)*Cg*Kgp + c*Kgp + k], im at (g*2 + 1).  Padding
 * columns k >= Kg are zero. */
RT_FN void rt_fft_weights(const RtConv *p, const float *w, float *ws) {
  const double two_pi = 6.283185307179586476925286766559;
  int P, Q, th, tw, tb;
  const int F = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G, Kgp = fft_kgp(p), Q2 = Q / 2 + 1;
  const double scale = 1.0 / ((double)P * Q);
  int g, c, k, f1, f2, i, j;
  for (g = 0; g < G; g++)
    for (c = 0; c < Cg; c++)
      for (k = 0; k < Kgp; k++)
        for (f1 = 0; f1 < P; f1++)
          for (f2 = 0; f2 < Q2; f2++) {
            const int64_t o = ((int64_t)(g * 2) * F + f1 * Q2 + f2) * Cg * Kgp + (int64_t)c * Kgp + k;
            double sr = 0.0, si = 0.0;
            if (k < Kg) {
              const float *wk = w + ((int64_t)(g * Kg + k) * Cg + c) * p->kh * p->kw;
              for (i = 0; i < p->kh; i++)
                for (j = 0; j < p->kw; j++) {
                  /* conj(e^{-2 pi i (f1 y / P + f2 x / Q)}) at the dilated tap */
                  const double ph = two_pi * ((double)((int64_t)f1 * i * p->dh % P) / P +
                                              (double)((int64_t)f2 * j * p->dw % Q) / Q);
                  sr += wk[i * p->kw + j] * cos(ph);
                  si += wk[i * p->kw + j] * sin(ph);
                }
            }
            ws[o] = (float)(sr * scale);
            ws[o + (int64_t)F * Cg * Kgp] = (float)(si * scale);
          }
}

/* Scratch layout (floats, each part 64-byte aligned):
 *   twiddles  P/2 + Q/2 complex (cos, sin)
 *   X         2 * F * Cg * tb
 *   Y         2 * F * Kg * tb
 *   work      FFT_SLOTS * 2 * P * Q * FFT_L */
typedef struct FftPlan {
  int P, Q, Q2, F, th, tw, T, tb, Cg, Kg, Kgp, keh, kew, vh, vw;
  float *twp, *twq, *X, *Y, *work;
} FftPlan;

RT_INLINE int64_t fft_al16(int64_t n) { return (n + 15) / 16 * 16; }

RT_HELPER void fft_plan(const RtConv *p, void *scratch, FftPlan *pl) {
  float *s = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  pl->F = rt_fft_geometry(p, &pl->P, &pl->Q, &pl->th, &pl->tw, &pl->tb);
  pl->Q2 = pl->Q / 2 + 1;
  pl->T = pl->th * pl->tw;
  pl->Cg = p->C / p->groups, pl->Kg = p->K / p->groups, pl->Kgp = fft_kgp(p);
  pl->keh = (p->kh - 1) * p->dh + 1, pl->kew = (p->kw - 1) * p->dw + 1;
  pl->vh = pl->P - pl->keh + 1, pl->vw = pl->Q - pl->kew + 1;
  pl->twp = s;
  pl->twq = s + fft_al16(pl->P);
  pl->X = pl->twq + fft_al16(pl->Q);
  pl->Y = pl->X + fft_al16((int64_t)2 * pl->F * pl->Cg * pl->tb);
  pl->work = pl->Y + fft_al16((int64_t)2 * pl->F * pl->Kg * pl->tb);
}

RT_FN size_t rt_fft_scratch(const RtConv *p) {
  int P, Q, th, tw, tb;
  const int F = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  const int64_t Cg = p->C / p->groups, Kg = p->K / p->groups;
  const int64_t n = fft_al16(P) + fft_al16(Q) + fft_al16(2 * (int64_t)F * Cg * tb) +
                    fft_al16(2 * (int64_t)F * Kg * tb) + (int64_t)FFT_SLOTS * 2 * P * Q * FFT_L;
  return (size_t)n * sizeof(float) + 64;
}

/* tw[2j], tw[2j+1] = cos, -sin(2 pi j / n) for j < n/2 (forward twiddles). */
RT_HELPER void fft_twiddles(int n, float *tw) {
  const double two_pi = 6.283185307179586476925286766559;
  int j;
  for (j = 0; j < n / 2; j++) {
    tw[2 * j] = (float)cos(two_pi * j / n);
    tw[2 * j + 1] = (float)-sin(two_pi * j / n);
  }
}

/* In-place radix-2 FFT of length n over FFT_L lanes: element e of the
 * sequence is the FFT_L floats at re/im + e*stride.  inv conjugates the
 * twiddles (no 1/n: folded into the weights). */
RT_HELPER void fft_1d(float *RT_RESTRICT re, float *RT_RESTRICT im, int n, int64_t stride, const float *tw,
                      int inv) {
  int i, j, l, len;
  /* bit-reversal permutation */
  for (i = 1, j = 0; i < n; i++) {
    int bit = n >> 1;
    for (; j & bit; bit >>= 1)
      j ^= bit;
    j ^= bit;
    if (i < j) {
      float *ar = re + i * stride, *ai = im + i * stride, *br = re + j * stride, *bi = im + j * stride;
      for (l = 0; l < FFT_L; l++) {
        const float tr = ar[l], ti = ai[l];
        ar[l] = br[l], ai[l] = bi[l];
        br[l] = tr, bi[l] = ti;
      }
    }
  }
  for (len = 2; len <= n; len *= 2) {
    const int half = len / 2, step = n / len;
    for (i = 0; i < n; i += len) {
      for (j = 0; j < half; j++) {
        const float wr = tw[2 * j * step], wi = inv ? -tw[2 * j * step + 1] : tw[2 * j * step + 1];
        float *RT_RESTRICT ar = re + (i + j) * stride, *RT_RESTRICT ai = im + (i + j) * stride;
        float *RT_RESTRICT br = re + (i + j + half) * stride, *RT_RESTRICT bi = im + (i + j + half) * stride;
        for (l = 0; l < FFT_L; l++) {
          const float tr = br[l] * wr - bi[l] * wi, ti = br[l] * wi + bi[l] * wr;
          br[l] = ar[l] - tr;
          bi[l] = ai[l] - ti;
          ar[l] += tr;
          ai[l] += ti;
        }
      }
    }
  }
}

/* 2-D FFT of the P x Q positions (row-major, FFT_L lanes each). */
RT_HELPER void fft_2d(const FftPlan *pl, float *re, float *im, int inv) {
  int r, c;
  if (pl->Q > 1)
    for (r = 0; r < pl->P; r++)
      fft_1d(re + (int64_t)r * pl->Q * FFT_L, im + (int64_t)r * pl->Q * FFT_L, pl->Q, FFT_L, pl->twq, inv);
  if (pl->P > 1)
    for (c = 0; c < pl->Q; c++)
      fft_1d(re + (int64_t)c * FFT_L, im + (int64_t)c * FFT_L, pl->P, (int64_t)pl->Q * FFT_L, pl->twp, inv);
}

/* Forward: signals s = c*nt + t (c < Cg, t < nt tiles starting at tile t0)
 * in chunks of 2*FFT_L; their half spectra go to X[f][s] (re plane, then im
 * plane at + F*Cg*tb). */
RT_HELPER void fft_forward_chunk(const RtConv *p, const FftPlan *pl, const float *xg, int t0, int nt, int s0,
                                 float *work) {
  const int P = pl->P, Q = pl->Q, Q2 = pl->Q2, ns = pl->Cg * nt;
  const int64_t PQ = (int64_t)P * Q, xs = (int64_t)pl->F * pl->Cg * pl->tb;
  float *re = work, *im = work + PQ * FFT_L;
  int l, h, r, q;

  for (l = 0; l < 2 * FFT_L; l++) {
    const int s = s0 + l;
    float *dst = (l & 1) ? im : re;
    const int lane = l >> 1;
    if (s >= ns) {
      for (r = 0; r < PQ; r++)
        dst[r * FFT_L + lane] = 0.0f;
      continue;
    }
    {
      const int c = s / nt, t = t0 + s % nt;
      const int ty = t / pl->tw, tx = t % pl->tw;
      const int r0 = ty * pl->vh - p->pt, c0 = tx * pl->vw - p->pl;
      const float *xc = xg + (int64_t)c * p->H * p->W;
      for (r = 0; r < P; r++) {
        const int ih = r0 + r;
        float *d = dst + (int64_t)r * Q * FFT_L + lane;
        if (ih < 0 || ih >= p->H) {
          for (q = 0; q < Q; q++)
            d[q * FFT_L] = 0.0f;
        } else {
          const float *xr = xc + (int64_t)ih * p->W;
          for (q = 0; q < Q; q++) {
            const int iw = c0 + q;
            d[q * FFT_L] = iw >= 0 && iw < p->W ? xr[iw] : 0.0f;
          }
        }
      }
    }
  }
  fft_2d(pl, re, im, 0);
  /* split Z = A + iB:  A = (Z(f) + conj Z(-f))/2,  B = (Z(f) - conj Z(-f))/(2i) */
  for (r = 0; r < P; r++) {
    const int rn = (P - r) % P;
    for (q = 0; q < Q2; q++) {
      const int qn = (Q - q) % Q;
      const float *zr = re + ((int64_t)r * Q + q) * FFT_L, *zi = im + ((int64_t)r * Q + q) * FFT_L;
      const float *nr = re + ((int64_t)rn * Q + qn) * FFT_L, *ni = im + ((int64_t)rn * Q + qn) * FFT_L;
      const int64_t f = (int64_t)r * Q2 + q;
      float *xr = pl->X + f * pl->Cg * pl->tb + s0, *xi = xr + xs;
      const int nl = ns - s0 < 2 * FFT_L ? ns - s0 : 2 * FFT_L;
      for (h = 0; h < nl; h++) {
        const int lane = h >> 1;
        if (h & 1) {
          xr[h] = 0.5f * (zi[lane] + ni[lane]);
          xi[h] = 0.5f * (nr[lane] - zr[lane]);
        } else {
          xr[h] = 0.5f * (zr[lane] + nr[lane]);
          xi[h] = 0.5f * (zi[lane] - ni[lane]);
        }
      }
    }
  }
}

/* Inverse: signals s = t*Kg + k from Y[f][s]; valid outputs -> y. */
RT_HELPER void fft_inverse_chunk(const RtConv *p, const FftPlan *pl, int t0, int nt, int s0, const float *bg,
                                 const float *rg, float *yg, float *work) {
  const int P = pl->P, Q = pl->Q, Q2 = pl->Q2, ns = pl->Kg * nt;
  const int64_t PQ = (int64_t)P * Q, ys = (int64_t)pl->F * pl->Kg * pl->tb;
  float *re = work, *im = work + PQ * FFT_L;
  int l, r, q;

  /* Z = A + iB over the full spectrum; the upper half of a real signal's
   * spectrum is the conjugate mirror of the stored half. */
  for (r = 0; r < P; r++) {
    const int rn = (P - r) % P;
    for (q = 0; q < Q; q++) {
      const int mirror = q >= Q2;
      const int64_t f = mirror ? (int64_t)rn * Q2 + (Q - q) : (int64_t)r * Q2 + q;
      const float *yr = pl->Y + f * pl->Kg * pl->tb + s0, *yi = yr + ys;
      float *zr = re + ((int64_t)r * Q + q) * FFT_L, *zi = im + ((int64_t)r * Q + q) * FFT_L;
      const float sg = mirror ? -1.0f : 1.0f;
      for (l = 0; l < FFT_L; l++) {
        const int a = 2 * l, b = 2 * l + 1;
        const float ar = s0 + a < ns ? yr[a] : 0.0f, ai = s0 + a < ns ? sg * yi[a] : 0.0f;
        const float br = s0 + b < ns ? yr[b] : 0.0f, bi = s0 + b < ns ? sg * yi[b] : 0.0f;
        zr[l] = ar - bi;
        zi[l] = ai + br;
      }
    }
  }
  fft_2d(pl, re, im, 1);
  for (l = 0; l < 2 * FFT_L && s0 + l < ns; l++) {
    const int s = s0 + l, k = s % pl->Kg, t = t0 + s / pl->Kg;
    const int ty = t / pl->tw, tx = t % pl->tw;
    const float *src = ((l & 1) ? im : re) + (l >> 1);
    const float bv = bg ? bg[k] : 0.0f;
    float *yk = yg + (int64_t)k * p->OH * p->OW;
    const float *rk = rg ? rg + (int64_t)k * p->OH * p->OW : NULL;
    for (r = 0; r < pl->vh; r++) {
      const int g1 = ty * pl->vh + r; /* stride-1 output row */
      int oh;
      if (g1 % p->sh)
        continue;
      oh = g1 / p->sh;
      if (oh >= p->OH)
        break;
      for (q = 0; q < pl->vw; q++) {
        const int g2 = tx * pl->vw + q;
        int ow;
        int64_t o;
        float sum;
        if (g2 % p->sw)
          continue;
        ow = g2 / p->sw;
        if (ow >= p->OW)
          break;
        o = (int64_t)oh * p->OW + ow;
        sum = rk ? bv + rk[o] : bv;
        yk[o] = rt_act1(p->act, p->alpha, p->beta, src[((int64_t)r * Q + q) * FFT_L] + sum);
      }
    }
  }
}

/* Y_f[t][k] = sum_c X_f[c][t] W_f[c][k] for f in [f0, f1), nt tiles. */
RT_HELPER void fft_product(const FftPlan *pl, const float *wg, int nt, int f0, int f1) {
  const int Cg = pl->Cg, Kg = pl->Kg, Kgp = pl->Kgp, tb = pl->tb;
  const int64_t xs = (int64_t)pl->F * Cg * tb, ys = (int64_t)pl->F * Kg * tb, ws = (int64_t)pl->F * Cg * Kgp;
  int f, t0, k0, c, tt, kk;
  for (f = f0; f < f1; f++) {
    const float *xr = pl->X + (int64_t)f * Cg * tb, *xi = xr + xs;
    const float *wr = wg + (int64_t)f * Cg * Kgp, *wi = wr + ws;
    float *yr = pl->Y + (int64_t)f * Kg * tb, *yi = yr + ys;
    for (t0 = 0; t0 < nt; t0 += FFT_TB) {
      const int tn = nt - t0 < FFT_TB ? nt - t0 : FFT_TB;
      for (k0 = 0; k0 < Kg; k0 += FFT_KB) {
        const int kn = Kg - k0 < FFT_KB ? Kg - k0 : FFT_KB;
        float ar[FFT_TB][FFT_KB], ai[FFT_TB][FFT_KB];
        for (tt = 0; tt < FFT_TB; tt++)
          for (kk = 0; kk < FFT_KB; kk++)
            ar[tt][kk] = ai[tt][kk] = 0.0f;
        for (c = 0; c < Cg; c++) {
          const float *wrc = wr + (int64_t)c * Kgp + k0, *wic = wi + (int64_t)c * Kgp + k0;
          for (tt = 0; tt < FFT_TB; tt++) {
            /* tiles past nt read tile nt-1 again (never stored) */
            const int t = t0 + (tt < tn ? tt : tn - 1);
            const float a = xr[(int64_t)c * nt + t], b = xi[(int64_t)c * nt + t];
            for (kk = 0; kk < FFT_KB; kk++) {
              ar[tt][kk] += a * wrc[kk] - b * wic[kk];
              ai[tt][kk] += a * wic[kk] + b * wrc[kk];
            }
          }
        }
        for (tt = 0; tt < tn; tt++)
          for (kk = 0; kk < kn; kk++) {
            yr[(int64_t)(t0 + tt) * Kg + k0 + kk] = ar[tt][kk];
            yi[(int64_t)(t0 + tt) * Kg + k0 + kk] = ai[tt][kk];
          }
      }
    }
  }
}

RT_FN void rt_fft_conv2d(const RtConv *p, int n, const float *x, const float *ws, const float *b,
                         const float *res, float *y, void *scratch) {
  FftPlan pl;
  const int G = p->groups;
  int ni, g, t0;
  fft_plan(p, scratch, &pl);
  fft_twiddles(pl.P, pl.twp);
  fft_twiddles(pl.Q, pl.twq);

  for (ni = 0; ni < n; ni++)
    for (g = 0; g < G; g++) {
      const float *xg = x + ((int64_t)ni * p->C + (int64_t)g * pl.Cg) * p->H * p->W;
      const int64_t yo = ((int64_t)ni * p->K + (int64_t)g * pl.Kg) * p->OH * p->OW;
      const float *wg = ws + (int64_t)2 * g * pl.F * pl.Cg * pl.Kgp;
      for (t0 = 0; t0 < pl.T; t0 += pl.tb) {
        const int nt = pl.T - t0 < pl.tb ? pl.T - t0 : pl.tb;
        const int nin = (pl.Cg * nt + 2 * FFT_L - 1) / (2 * FFT_L);
        const int nout = (pl.Kg * nt + 2 * FFT_L - 1) / (2 * FFT_L);
        const int nf = (pl.F + 63) / 64;
        int slot, i;

        /* Slot s handles chunks s, s + FFT_SLOTS, ...: a buffer is never
         * shared, whatever the number of threads. */
        RT_OMP(parallel for schedule(static, 1))
        for (slot = 0; slot < FFT_SLOTS; slot++) {
          float *work = pl.work + (int64_t)slot * 2 * pl.P * pl.Q * FFT_L;
          int ch;
          for (ch = slot; ch < nin; ch += FFT_SLOTS)
            fft_forward_chunk(p, &pl, xg, t0, nt, ch * 2 * FFT_L, work);
        }
        RT_OMP(parallel for schedule(static))
        for (i = 0; i < nf; i++) {
          const int f0 = i * 64, f1 = f0 + 64 < pl.F ? f0 + 64 : pl.F;
          fft_product(&pl, wg, nt, f0, f1);
        }
        RT_OMP(parallel for schedule(static, 1))
        for (slot = 0; slot < FFT_SLOTS; slot++) {
          float *work = pl.work + (int64_t)slot * 2 * pl.P * pl.Q * FFT_L;
          int ch;
          for (ch = slot; ch < nout; ch += FFT_SLOTS)
            fft_inverse_chunk(p, &pl, t0, nt, ch * 2 * FFT_L, b ? b + g * pl.Kg : NULL, res ? res + yo : NULL,
                              y + yo, work);
        }
      }
    }
}
