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
  FFT_KB = 16,   /* output channels per product register block (one FftV) */
  FFT_TB = 4     /* tiles per product register block */
};

/* Sixteen floats as one value: a zmm, two ymm, or a plain array.  The FFT
 * butterflies and the spectral product are written once on top of these. */
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 FftV;
#define FV_LOAD(p) _mm512_loadu_ps(p)
#define FV_STORE(p, v) _mm512_storeu_ps(p, v)
#define FV_SET1(x) _mm512_set1_ps(x)
#define FV_ADD(a, b) _mm512_add_ps(a, b)
#define FV_SUB(a, b) _mm512_sub_ps(a, b)
#define FV_MUL(a, b) _mm512_mul_ps(a, b)
#define FV_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)   /* a*b + c */
#define FV_FNMA(a, b, c) _mm512_fnmadd_ps(a, b, c) /* c - a*b */
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef struct {
  __m256 lo, hi;
} FftV;
RT_INLINE FftV fv_mk(__m256 lo, __m256 hi) {
  FftV r;
  r.lo = lo, r.hi = hi;
  return r;
}
#define FV_LOAD(p) fv_mk(_mm256_loadu_ps(p), _mm256_loadu_ps((p) + 8))
#define FV_STORE(p, v) (_mm256_storeu_ps(p, (v).lo), _mm256_storeu_ps((p) + 8, (v).hi))
#define FV_SET1(x) fv_mk(_mm256_set1_ps(x), _mm256_set1_ps(x))
#define FV_ADD(a, b) fv_mk(_mm256_add_ps((a).lo, (b).lo), _mm256_add_ps((a).hi, (b).hi))
#define FV_SUB(a, b) fv_mk(_mm256_sub_ps((a).lo, (b).lo), _mm256_sub_ps((a).hi, (b).hi))
#define FV_MUL(a, b) fv_mk(_mm256_mul_ps((a).lo, (b).lo), _mm256_mul_ps((a).hi, (b).hi))
#define FV_FMA(a, b, c) fv_mk(_mm256_fmadd_ps((a).lo, (b).lo, (c).lo), _mm256_fmadd_ps((a).hi, (b).hi, (c).hi))
#define FV_FNMA(a, b, c) fv_mk(_mm256_fnmadd_ps((a).lo, (b).lo, (c).lo), _mm256_fnmadd_ps((a).hi, (b).hi, (c).hi))
#else
typedef struct {
  float v[16];
} FftV;
/* Lane-by-lane forms; fixed trip counts the compiler may vectorize. */
#define FV_FN_(name, expr)                                                                               \
  RT_INLINE FftV name(FftV a, FftV b, FftV c) {                                                          \
    FftV r;                                                                                              \
    int i;                                                                                               \
    (void)c;                                                                                             \
    for (i = 0; i < 16; i++)                                                                             \
      r.v[i] = expr;                                                                                     \
    return r;                                                                                            \
  }
FV_FN_(fv_add, a.v[i] + b.v[i])
FV_FN_(fv_sub, a.v[i] - b.v[i])
FV_FN_(fv_mul, a.v[i] * b.v[i])
FV_FN_(fv_fma, a.v[i] * b.v[i] + c.v[i])
FV_FN_(fv_fnma, c.v[i] - a.v[i] * b.v[i])
#undef FV_FN_
RT_INLINE FftV fv_load(const float *p) {
  FftV r;
  memcpy(r.v, p, sizeof r.v);
  return r;
}
RT_INLINE FftV fv_set1(float x) {
  FftV r;
  int i;
  for (i = 0; i < 16; i++)
    r.v[i] = x;
  return r;
}
#define FV_LOAD(p) fv_load(p)
#define FV_STORE(p, x) memcpy(p, (x).v, sizeof(x).v)
#define FV_SET1(x) fv_set1(x)
#define FV_ADD(a, b) fv_add(a, b, a)
#define FV_SUB(a, b) fv_sub(a, b, a)
#define FV_MUL(a, b) fv_mul(a, b, a)
#define FV_FMA(a, b, c) fv_fma(a, b, c)
#define FV_FNMA(a, b, c) fv_fnma(a, b, c)
#endif

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
  const int64_t per_tile = (int64_t)f * 2 * ((int64_t)p->C + p->K), T = (int64_t)ty * tx;
  int64_t b = ((int64_t)1 << 21) / (per_tile > 0 ? per_tile : 1), nb; /* X + Y of a block ~ 8 MiB */
  if (b < 8)
    b = 8;
  if (b > T)
    b = T;
  nb = (T + b - 1) / b; /* equal blocks: the spectra are streamed once per block */
  b = (T + nb - 1) / nb;
  *P = pp, *Q = qq, *th = ty, *tw = tx, *tb = (int)b;
  return f;
}

RT_FN int rt_fft_applies(const RtConv *p) {
  int P, Q, th, tw, tb;
  if (p->kh * p->kw <= 1 || p->OH <= 0 || p->OW <= 0 || p->kh > 256)
    return 0;
  rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  return P <= 1024 && Q <= 1024;
}

RT_INLINE int fft_kgp(const RtConv *p) { return (p->K / p->groups + FFT_KB - 1) / FFT_KB * FFT_KB; }

RT_FN size_t rt_fft_weights_size(const RtConv *p) {
  int P, Q, th, tw, tb;
  const int F = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  return (size_t)2 * p->groups * (size_t)F * (size_t)(p->C / p->groups) * (size_t)fft_kgp(p);
}

/* Spectra: for group g, frequency f = f1*(Q/2+1) + f2, channel c, output k:
 * re at ws[((g*2 + 0)*F + f)*Cg*Kgp + c*Kgp + k], im at (g*2 + 1).  Padding
 * columns k >= Kg are zero.  conj(DFT) means e^{+2 pi i (f1 y/P + f2 x/Q)}.
 * Computed in double, separably (along each kernel row for one f2, then
 * down the column for every f1) from exact phase tables.  Runs at compile
 * time; its stack use is bounded by FFT_MAX_EDGE and FFT_MAX_KH. */
enum { FFT_MAX_EDGE = 1024, FFT_MAX_KH = 256 };
RT_FN void rt_fft_weights(const RtConv *p, const float *w, float *ws) {
  const double two_pi = 6.283185307179586476925286766559;
  int P, Q, th, tw, tb;
  const int F = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G, Kgp = fft_kgp(p), Q2 = Q / 2 + 1;
  const double scale = 1.0 / ((double)P * Q);
  double cp[FFT_MAX_EDGE], sp[FFT_MAX_EDGE], cq[FFT_MAX_EDGE], sq[FFT_MAX_EDGE];
  double rr[FFT_MAX_KH], ri[FFT_MAX_KH];
  int g, c, k, f1, f2, i, j;
  if (P > FFT_MAX_EDGE || Q > FFT_MAX_EDGE || p->kh > FFT_MAX_KH)
    return; /* rt_fft_applies refuses these */
  for (i = 0; i < P; i++)
    cp[i] = cos(two_pi * i / P), sp[i] = sin(two_pi * i / P);
  for (i = 0; i < Q; i++)
    cq[i] = cos(two_pi * i / Q), sq[i] = sin(two_pi * i / Q);
  for (g = 0; g < G; g++)
    for (c = 0; c < Cg; c++)
      for (k = 0; k < Kgp; k++) {
        const float *wk = k < Kg ? w + ((int64_t)(g * Kg + k) * Cg + c) * p->kh * p->kw : NULL;
        for (f2 = 0; f2 < Q2; f2++) {
          for (i = 0; i < p->kh; i++) {
            double sr = 0.0, si = 0.0;
            if (wk)
              for (j = 0; j < p->kw; j++) {
                const int ph = (int)((int64_t)f2 * j * p->dw % Q);
                sr += wk[i * p->kw + j] * cq[ph];
                si += wk[i * p->kw + j] * sq[ph];
              }
            rr[i] = sr, ri[i] = si;
          }
          for (f1 = 0; f1 < P; f1++) {
            const int64_t o = ((int64_t)(g * 2) * F + f1 * Q2 + f2) * Cg * Kgp + (int64_t)c * Kgp + k;
            double sr = 0.0, si = 0.0;
            for (i = 0; i < p->kh; i++) {
              const int ph = (int)((int64_t)f1 * i * p->dh % P);
              sr += rr[i] * cp[ph] - ri[i] * sp[ph];
              si += rr[i] * sp[ph] + ri[i] * cp[ph];
            }
            ws[o] = (float)(sr * scale);
            ws[o + (int64_t)F * Cg * Kgp] = (float)(si * scale);
          }
        }
      }
}

/* Scratch layout (floats, each part 64-byte aligned):
 *   twiddles  P/2 + Q/2 complex (cos, -sin)
 *   X         2 * F * C * tb       half spectra of the input patches
 *   Y         2 * F * K * tb       products, per (group, tile, output channel)
 *   work      FFT_SLOTS * 2 * P * (Q+1) * FFT_L
 * A work buffer holds position (r, q) at (r*(Q+1) + q)*FFT_L: the extra
 * position per row keeps the column FFTs (stride one row) off a single
 * L1 set when Q*64 bytes is a multiple of 4 KiB. */
typedef struct FftPlan {
  int P, Q, QS, Q2, F, th, tw, T, tb, G, Cg, Kg, Kgp, keh, kew, vh, vw;
  float *twp, *twq, *X, *Y, *work;
} FftPlan;

RT_INLINE int64_t fft_al16(int64_t n) { return (n + 15) / 16 * 16; }

RT_INLINE int64_t fft_work_floats(int P, int Q) { return (int64_t)2 * P * (Q + 1) * FFT_L; }

RT_HELPER void fft_plan(const RtConv *p, void *scratch, FftPlan *pl) {
  float *s = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  pl->F = rt_fft_geometry(p, &pl->P, &pl->Q, &pl->th, &pl->tw, &pl->tb);
  pl->QS = pl->Q + 1;
  pl->Q2 = pl->Q / 2 + 1;
  pl->T = pl->th * pl->tw;
  pl->G = p->groups, pl->Cg = p->C / p->groups, pl->Kg = p->K / p->groups, pl->Kgp = fft_kgp(p);
  pl->keh = (p->kh - 1) * p->dh + 1, pl->kew = (p->kw - 1) * p->dw + 1;
  pl->vh = pl->P - pl->keh + 1, pl->vw = pl->Q - pl->kew + 1;
  pl->twp = s;
  pl->twq = s + fft_al16(pl->P);
  pl->X = pl->twq + fft_al16(pl->Q);
  pl->Y = pl->X + fft_al16((int64_t)2 * pl->F * p->C * pl->tb);
  pl->work = pl->Y + fft_al16((int64_t)2 * pl->F * p->K * pl->tb);
}

RT_FN size_t rt_fft_scratch(const RtConv *p) {
  int P, Q, th, tw, tb;
  const int F = rt_fft_geometry(p, &P, &Q, &th, &tw, &tb);
  const int64_t n = fft_al16(P) + fft_al16(Q) + fft_al16(2 * (int64_t)F * p->C * tb) +
                    fft_al16(2 * (int64_t)F * p->K * tb) + FFT_SLOTS * fft_work_floats(P, Q);
  return (size_t)n * sizeof(float) + 64;
}

/* tw[2j], tw[2j+1] = cos, -sin(2 pi j / n) for j < n/2 (forward twiddles),
 * computed in double so every entry is correctly rounded. */
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
 * twiddles (no 1/n: it is folded into the weights). */
RT_HELPER void fft_1d(float *re, float *im, int n, int64_t stride, const float *tw, int inv) {
  int i, j, len;
  for (i = 1, j = 0; i < n; i++) { /* bit-reversal permutation */
    int bit = n >> 1;
    for (; j & bit; bit >>= 1)
      j ^= bit;
    j ^= bit;
    if (i < j) {
      float *ar = re + i * stride, *ai = im + i * stride, *br = re + j * stride, *bi = im + j * stride;
      const FftV tr = FV_LOAD(ar), ti = FV_LOAD(ai);
      FV_STORE(ar, FV_LOAD(br));
      FV_STORE(ai, FV_LOAD(bi));
      FV_STORE(br, tr);
      FV_STORE(bi, ti);
    }
  }
  for (len = 2; len <= n; len *= 2) {
    const int half = len / 2, step = n / len;
    for (j = 0; j < half; j++) {
      const FftV wr = FV_SET1(tw[2 * j * step]);
      const FftV wi = FV_SET1(inv ? -tw[2 * j * step + 1] : tw[2 * j * step + 1]);
      for (i = j; i < n; i += len) {
        float *ar = re + i * stride, *ai = im + i * stride;
        float *br = re + (i + half) * stride, *bi = im + (i + half) * stride;
        const FftV xr = FV_LOAD(br), xi = FV_LOAD(bi), yr = FV_LOAD(ar), yi = FV_LOAD(ai);
        const FftV tr = FV_FNMA(xi, wi, FV_MUL(xr, wr)), ti = FV_FMA(xi, wr, FV_MUL(xr, wi));
        FV_STORE(br, FV_SUB(yr, tr));
        FV_STORE(bi, FV_SUB(yi, ti));
        FV_STORE(ar, FV_ADD(yr, tr));
        FV_STORE(ai, FV_ADD(yi, ti));
      }
    }
  }
}

/* 2-D FFT of the P x Q positions of a work buffer. */
RT_HELPER void fft_2d(const FftPlan *pl, float *re, float *im, int inv) {
  const int64_t rs = (int64_t)pl->QS * FFT_L;
  int r, c;
  if (pl->Q > 1)
    for (r = 0; r < pl->P; r++)
      fft_1d(re + r * rs, im + r * rs, pl->Q, FFT_L, pl->twq, inv);
  if (pl->P > 1)
    for (c = 0; c < pl->Q; c++)
      fft_1d(re + (int64_t)c * FFT_L, im + (int64_t)c * FFT_L, pl->P, rs, pl->twp, inv);
}

/* Where signal s of a chunk reads or writes: a channel plane and the
 * tile origin in it. */
typedef struct FftSig {
  int ok;      /* 0: lane padding (past the last signal) */
  int64_t ch;  /* channel within the group */
  int ty, tx;  /* tile */
} FftSig;

/* Forward: signals s = c*nt + t (c < C over all groups, t < nt tiles from
 * t0) in chunks of 2*FFT_L; their half spectra go to X[f][s] (re plane, im
 * plane at + xs).  Chunks span groups, so depthwise convs fill the lanes. */
RT_HELPER void fft_forward_chunk(const RtConv *p, const FftPlan *pl, const float *xg, int t0, int nt, int s0,
                                 float *work) {
  const int P = pl->P, Q = pl->Q, QS = pl->QS, Q2 = pl->Q2, ns = p->C * nt;
  const int nl = ns - s0 < 2 * FFT_L ? ns - s0 : 2 * FFT_L;
  const int64_t xs = (int64_t)pl->F * p->C * pl->tb;
  float *re = work, *im = work + (int64_t)P * QS * FFT_L;
  int l, h, r, q;

  /* Gather: signal l goes to lane l/2 of re (even l) or im (odd l).  Rows
   * and columns outside the input are the zero padding. */
  for (l = 0; l < 2 * FFT_L; l++) {
    float *dst = ((l & 1) ? im : re) + (l >> 1);
    if (l >= nl) {
      for (r = 0; r < P; r++)
        for (q = 0; q < Q; q++)
          dst[((int64_t)r * QS + q) * FFT_L] = 0.0f;
      continue;
    }
    {
      const int s = s0 + l, c = s / nt, t = t0 + s % nt;
      const int ty = t / pl->tw, tx = t % pl->tw;
      const int r0 = ty * pl->vh - p->pt, c0 = tx * pl->vw - p->pl;
      const int qlo = c0 < 0 ? -c0 : 0, qhi = p->W - c0 < Q ? p->W - c0 : Q;
      const float *xc = xg + (int64_t)c * p->H * p->W;
      for (r = 0; r < P; r++) {
        const int ih = r0 + r;
        float *d = dst + (int64_t)r * QS * FFT_L;
        if (ih < 0 || ih >= p->H) {
          for (q = 0; q < Q; q++)
            d[q * FFT_L] = 0.0f;
        } else {
          const float *xr = xc + (int64_t)ih * p->W + c0;
          for (q = 0; q < qlo && q < Q; q++)
            d[q * FFT_L] = 0.0f;
          for (; q < qhi; q++)
            d[q * FFT_L] = xr[q];
          for (; q < Q; q++)
            d[q * FFT_L] = 0.0f;
        }
      }
    }
  }
  fft_2d(pl, re, im, 0);
  /* Split Z = A + iB:  A = (Z(f) + conj Z(-f))/2,  B = (Z(f) - conj Z(-f))/(2i). */
  for (r = 0; r < P; r++) {
    const int rn = (P - r) % P;
    for (q = 0; q < Q2; q++) {
      const int qn = (Q - q) % Q;
      const float *zr = re + ((int64_t)r * QS + q) * FFT_L, *zi = im + ((int64_t)r * QS + q) * FFT_L;
      const float *nr = re + ((int64_t)rn * QS + qn) * FFT_L, *ni = im + ((int64_t)rn * QS + qn) * FFT_L;
      const int64_t f = (int64_t)r * Q2 + q;
      float *xr = pl->X + f * p->C * pl->tb + s0, *xi = xr + xs;
      for (h = 0; h + 1 < nl; h += 2) {
        const int lane = h >> 1;
        xr[h] = 0.5f * (zr[lane] + nr[lane]);
        xi[h] = 0.5f * (zi[lane] - ni[lane]);
        xr[h + 1] = 0.5f * (zi[lane] + ni[lane]);
        xi[h + 1] = 0.5f * (nr[lane] - zr[lane]);
      }
      if (h < nl) {
        xr[h] = 0.5f * (zr[h >> 1] + nr[h >> 1]);
        xi[h] = 0.5f * (zi[h >> 1] - ni[h >> 1]);
      }
    }
  }
}

/* Inverse: signals s = (g*nt + t)*Kg + k from Y[f][s]; valid outputs -> y
 * (one sample: yg, rg at its channel 0; bg the whole bias). */
RT_HELPER void fft_inverse_chunk(const RtConv *p, const FftPlan *pl, int t0, int nt, int s0, const float *bg,
                                 const float *rg, float *yg, float *work) {
  const int P = pl->P, Q = pl->Q, QS = pl->QS, Q2 = pl->Q2, ns = p->K * nt;
  const int nl = ns - s0 < 2 * FFT_L ? ns - s0 : 2 * FFT_L;
  const int64_t ys = (int64_t)pl->F * p->K * pl->tb;
  float *re = work, *im = work + (int64_t)P * QS * FFT_L;
  int l, r, q;

  /* Z = A + iB over the full spectrum; the upper half of a real signal's
   * spectrum is the conjugate mirror of the stored half. */
  for (r = 0; r < P; r++) {
    const int rn = (P - r) % P;
    for (q = 0; q < Q; q++) {
      const int mirror = q >= Q2;
      const int64_t f = mirror ? (int64_t)rn * Q2 + (Q - q) : (int64_t)r * Q2 + q;
      const float *yr = pl->Y + f * p->K * pl->tb + s0, *yi = yr + ys;
      float *zr = re + ((int64_t)r * QS + q) * FFT_L, *zi = im + ((int64_t)r * QS + q) * FFT_L;
      const float sg = mirror ? -1.0f : 1.0f;
      if (nl == 2 * FFT_L) {
        for (l = 0; l < FFT_L; l++) {
          zr[l] = yr[2 * l] - sg * yi[2 * l + 1];
          zi[l] = sg * yi[2 * l] + yr[2 * l + 1];
        }
      } else {
        for (l = 0; l < FFT_L; l++) {
          const int a = 2 * l, b = 2 * l + 1;
          const float ar = a < nl ? yr[a] : 0.0f, ai = a < nl ? sg * yi[a] : 0.0f;
          const float br = b < nl ? yr[b] : 0.0f, bi = b < nl ? sg * yi[b] : 0.0f;
          zr[l] = ar - bi;
          zi[l] = ai + br;
        }
      }
    }
  }
  fft_2d(pl, re, im, 1);
  for (l = 0; l < nl; l++) {
    const int s = s0 + l, g = s / pl->Kg / nt, t = t0 + s / pl->Kg % nt, k = g * pl->Kg + s % pl->Kg;
    const int ty = t / pl->tw, tx = t % pl->tw;
    const float *src = ((l & 1) ? im : re) + (l >> 1);
    const float bv = bg ? bg[k] : 0.0f;
    float *yk = yg + (int64_t)k * p->OH * p->OW;
    const float *rk = rg ? rg + (int64_t)k * p->OH * p->OW : NULL;
    /* stride-1 grid position g = tile origin + r; output oh = g / sh when
     * g % sh == 0.  First r of the tile on the output grid, then step sh. */
    const int g1 = ty * pl->vh, g2 = tx * pl->vw;
    const int r0 = (p->sh - g1 % p->sh) % p->sh, q0 = (p->sw - g2 % p->sw) % p->sw;
    for (r = r0; r < pl->vh; r += p->sh) {
      const int oh = (g1 + r) / p->sh;
      const float *sr = src + (int64_t)r * QS * FFT_L;
      float *yr;
      const float *rr;
      int ow;
      if (oh >= p->OH)
        break;
      yr = yk + (int64_t)oh * p->OW;
      rr = rk ? rk + (int64_t)oh * p->OW : NULL;
      for (q = q0; q < pl->vw; q += p->sw) {
        ow = (g2 + q) / p->sw;
        if (ow >= p->OW)
          break;
        yr[ow] = rt_act1(p->act, p->alpha, p->beta, sr[q * FFT_L] + (rr ? bv + rr[ow] : bv));
      }
    }
  }
}

/* Y_f[g][t][k] = sum_c X_f[g][c][t] W_f[g][c][k] for f in [f0, f1) and
 * group g, nt tiles: a complex GEMM per frequency, vectorized over 16
 * output channels, FFT_TB tiles per register block. */
RT_HELPER void fft_product(const FftPlan *pl, const float *ws0, int g, int nt, int f0, int f1) {
  const int Cg = pl->Cg, Kg = pl->Kg, Kgp = pl->Kgp, tb = pl->tb;
  const int64_t xs = (int64_t)pl->F * pl->G * Cg * tb, ys = (int64_t)pl->F * pl->G * Kg * tb;
  const int64_t ws = (int64_t)pl->F * Cg * Kgp;
  const float *wg = ws0 + 2 * g * ws;
  int f, t0, k0, c, tt, kk;
  for (f = f0; f < f1; f++) {
    const float *xr = pl->X + (int64_t)f * pl->G * Cg * tb + (int64_t)g * Cg * nt, *xi = xr + xs;
    const float *wr = wg + (int64_t)f * Cg * Kgp, *wi = wr + ws;
    float *yr = pl->Y + (int64_t)f * pl->G * Kg * tb + (int64_t)g * nt * Kg, *yi = yr + ys;
    for (t0 = 0; t0 < nt; t0 += FFT_TB) {
      const int tn = nt - t0 < FFT_TB ? nt - t0 : FFT_TB;
      /* tiles past nt repeat tile nt-1 (computed, never stored) */
      const int ta = t0, tb1 = t0 + (tn > 1 ? 1 : 0), tc = t0 + (tn > 2 ? 2 : tn - 1), td = t0 + (tn > 3 ? 3 : tn - 1);
      for (k0 = 0; k0 < Kg; k0 += FFT_KB) {
        const int kn = Kg - k0 < FFT_KB ? Kg - k0 : FFT_KB;
        FftV ar0 = FV_SET1(0.0f), ai0 = ar0, ar1 = ar0, ai1 = ar0, ar2 = ar0, ai2 = ar0, ar3 = ar0, ai3 = ar0;
        float outr[FFT_TB][FFT_KB], outi[FFT_TB][FFT_KB];
        for (c = 0; c < Cg; c++) {
          const FftV vr = FV_LOAD(wr + (int64_t)c * Kgp + k0), vi = FV_LOAD(wi + (int64_t)c * Kgp + k0);
          const float *xrc = xr + (int64_t)c * nt, *xic = xi + (int64_t)c * nt;
#define FFT_CMAC(ar, ai, t)                                                                               \
  {                                                                                                       \
    const FftV a_ = FV_SET1(xrc[t]), b_ = FV_SET1(xic[t]);                                                \
    ar = FV_FNMA(b_, vi, FV_FMA(a_, vr, ar));                                                             \
    ai = FV_FMA(b_, vr, FV_FMA(a_, vi, ai));                                                              \
  }
          FFT_CMAC(ar0, ai0, ta)
          FFT_CMAC(ar1, ai1, tb1)
          FFT_CMAC(ar2, ai2, tc)
          FFT_CMAC(ar3, ai3, td)
#undef FFT_CMAC
        }
        FV_STORE(outr[0], ar0), FV_STORE(outi[0], ai0);
        FV_STORE(outr[1], ar1), FV_STORE(outi[1], ai1);
        FV_STORE(outr[2], ar2), FV_STORE(outi[2], ai2);
        FV_STORE(outr[3], ar3), FV_STORE(outi[3], ai3);
        for (tt = 0; tt < tn; tt++)
          for (kk = 0; kk < kn; kk++) {
            yr[(int64_t)(t0 + tt) * Kg + k0 + kk] = outr[tt][kk];
            yi[(int64_t)(t0 + tt) * Kg + k0 + kk] = outi[tt][kk];
          }
      }
    }
  }
}

RT_FN void rt_fft_conv2d(const RtConv *p, int n, const float *x, const float *ws, const float *b,
                         const float *res, float *y, void *scratch) {
  FftPlan pl;
  int ni, t0;
  fft_plan(p, scratch, &pl);
  fft_twiddles(pl.P, pl.twp);
  fft_twiddles(pl.Q, pl.twq);

  for (ni = 0; ni < n; ni++) {
    const float *xn = x + (int64_t)ni * p->C * p->H * p->W;
    const int64_t yo = (int64_t)ni * p->K * p->OH * p->OW;
    for (t0 = 0; t0 < pl.T; t0 += pl.tb) {
      const int nt = pl.T - t0 < pl.tb ? pl.T - t0 : pl.tb;
      const int nin = (p->C * nt + 2 * FFT_L - 1) / (2 * FFT_L);
      const int nout = (p->K * nt + 2 * FFT_L - 1) / (2 * FFT_L);
      const int nf = (pl.F + 31) / 32;
      /* the spectral product's complex multiply-adds decide for all three */
      const int par = (int64_t)pl.F * nt * (p->C / p->groups) * p->K >= RT_PAR_MIN_WORK;
      int slot, i;
      (void)par; /* read only by the OpenMP pragmas */

      /* Slot s handles chunks s, s + FFT_SLOTS, ...: a work buffer is never
       * shared, whatever the number of threads. */
      RT_OMP(parallel for schedule(static, 1) if(par))
      for (slot = 0; slot < FFT_SLOTS; slot++) {
        float *work = pl.work + slot * fft_work_floats(pl.P, pl.Q);
        int ch;
        for (ch = slot; ch < nin; ch += FFT_SLOTS)
          fft_forward_chunk(p, &pl, xn, t0, nt, ch * 2 * FFT_L, work);
      }
      RT_PAR_FOR(par, static, i, nf * pl.G,
        const int g = i / nf, f0 = i % nf * 32, f1 = f0 + 32 < pl.F ? f0 + 32 : pl.F;
        fft_product(&pl, ws, g, nt, f0, f1);
      );
      RT_OMP(parallel for schedule(static, 1) if(par))
      for (slot = 0; slot < FFT_SLOTS; slot++) {
        float *work = pl.work + slot * fft_work_floats(pl.P, pl.Q);
        int ch;
        for (ch = slot; ch < nout; ch += FFT_SLOTS)
          fft_inverse_chunk(p, &pl, t0, nt, ch * 2 * FFT_L, b, res ? res + yo : NULL, y + yo, work);
      }
    }
  }
}
