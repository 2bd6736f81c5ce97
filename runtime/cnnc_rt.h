/* cnnc_rt.h - the kernel API that generated code carries with it.
 *
 * The C backend pastes this header and the runtime .c files (without their
 * #include lines) into every generated model.c, after defining RT_FN as
 * `static` (+ unused attribute), so the output needs only libc and libm.
 * Built as a library (tests, cnnc run), RT_FN is empty.
 *
 * Guarantees every kernel keeps:
 *  - no heap, no globals, no VLAs; scratch memory comes from the caller (arena);
 *  - tensors are dense NCHW float32 (1-D tensors are (N,C,1,L));
 *  - results do not depend on the thread count (each output element is
 *    computed by one thread in a fixed summation order);
 *  - `n` is the runtime batch; descriptor fields are per sample.
 * OpenMP is optional: RT_OMP(...) expands to a pragma only under _OPENMP.
 */
#ifndef CNNC_RT_H
#define CNNC_RT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef RT_FN
#define RT_FN
#endif

#ifdef _OPENMP
#include <omp.h>
#define RT_PRAGMA_(x) _Pragma(#x)
#define RT_OMP(x) RT_PRAGMA_(omp x)
#else
#define RT_OMP(x)
#endif
/* A parallel loop whose whole work is below these runs on one thread (an
 * `if` clause): RT_PAR_MIN_WORK multiply-adds (~80 us of one core) for
 * loops with several parallel phases (Winograd's transforms and GEMMs on one
 * block, im2col's pack-then-multiply on small maps: each phase boundary
 * moves the intermediate between cores, ~10 us per 64 KiB on the 2-vCPU
 * machines this is built on, plus ~3 us per fork/join), RT_PAR_MIN_ELEMS
 * elements for memory-bound ones, RT_PAR_MIN_WORK_CH (below) for one-pass
 * loops.  Results are identical either way. */
#ifndef RT_PAR_MIN_WORK /* tests lower both to force the parallel paths */
#define RT_PAR_MIN_WORK ((int64_t)1 << 24)
#endif
/* Loops that are the whole layer in one pass, each thread on one contiguous
 * part of the output (GEMM row blocks, depthwise and pooling channels,
 * im2col pixel groups, Winograd row blocks), pay from ~1M multiply-adds
 * (~10 us).  A layer left serial after a parallel one pays instead: half its
 * input sits in the other core's cache (measured 1.4-1.7x slower). */
#ifndef RT_PAR_MIN_WORK_CH
#define RT_PAR_MIN_WORK_CH (RT_PAR_MIN_WORK >> 4)
#endif
/* for (v = 0; v < n; v++) body, on several threads when `par`: the serial
 * branch stays a plain inline loop, so the compiler still specializes it for
 * the layer's constant descriptor (an OpenMP region's outlined body would
 * not be, even with a false `if` clause: small layers ran ~2x slower). */
#ifdef _OPENMP
#define RT_PAR_FOR(par, sched, v, n, ...)                                                                  \
  do {                                                                                                     \
    if (par) {                                                                                             \
      RT_PRAGMA_(omp parallel for schedule(sched))                                                         \
      for (v = 0; v < (n); v++) {                                                                          \
        __VA_ARGS__                                                                                        \
      }                                                                                                    \
    } else {                                                                                               \
      for (v = 0; v < (n); v++) {                                                                          \
        __VA_ARGS__                                                                                        \
      }                                                                                                    \
    }                                                                                                      \
  } while (0)
#else
#define RT_PAR_FOR(par, sched, v, n, ...)                                                                  \
  do {                                                                                                     \
    for (v = 0; v < (n); v++) {                                                                            \
      __VA_ARGS__                                                                                          \
    }                                                                                                      \
  } while (0)
#endif
#ifndef RT_PAR_MIN_ELEMS
#define RT_PAR_MIN_ELEMS ((int64_t)1 << 20)
#endif
/* { body } on each thread with [lo, hi) its contiguous share of [0, n): the
 * iterations a schedule(static) loop over [0, n) would give it, so the two
 * forms agree on who owns what; the whole range when not `par` or without
 * OpenMP. */
#ifdef _OPENMP
#define RT_PAR_RANGE(par, n, lo, hi, ...)                                                                  \
  do {                                                                                                     \
    if (par) {                                                                                             \
      RT_PRAGMA_(omp parallel) {                                                                           \
        const int64_t rt_nt_ = omp_get_num_threads(), rt_i_ = omp_get_thread_num();                       \
        const int64_t rt_q_ = (int64_t)(n) / rt_nt_, rt_r_ = (int64_t)(n) % rt_nt_;                       \
        const int64_t lo = rt_i_ * rt_q_ + (rt_i_ < rt_r_ ? rt_i_ : rt_r_);                                \
        const int64_t hi = lo + rt_q_ + (rt_i_ < rt_r_);                                                   \
        __VA_ARGS__                                                                                        \
      }                                                                                                    \
    } else {                                                                                               \
      const int64_t lo = 0, hi = (n);                                                                      \
      __VA_ARGS__                                                                                          \
    }                                                                                                      \
  } while (0)
#else
#define RT_PAR_RANGE(par, n, lo, hi, ...)                                                                  \
  do {                                                                                                     \
    const int64_t lo = 0, hi = (n);                                                                        \
    __VA_ARGS__                                                                                            \
  } while (0)
#endif
/* How a parallel GEMM-based conv divides its work (RtGemm.pix): each thread
 * a band of output rows (pixels) of every channel, or a range of output
 * channels.  Pixels from RT_SPLIT_PIX_MIN output pixels per image when the
 * weights are no bigger than the activations read and written and the
 * output channels fit one GEMM row block (rt_gemm_packed; each thread
 * then reads all the weights but writes whole rows, which the next layer,
 * if split by rows too, reads on the same core; on the 2-core machines this
 * is tuned on, reading what the other core wrote costs about as much as
 * DRAM); channels otherwise (late, weight-heavy layers: each thread reads
 * only its share of the weights).  Depthwise convs stay split by channels:
 * split by rows, each thread's share of a 14x14 map ran no faster than the
 * whole (per-plane setup dominates). */
#ifndef RT_SPLIT_PIX_MIN
#define RT_SPLIT_PIX_MIN 128
#endif

#if defined(__GNUC__)
#define RT_RESTRICT __restrict__
#define RT_INLINE static inline __attribute__((always_inline, unused))
#define RT_HELPER static __attribute__((unused))
/* a micro-kernel instance kept a function of its own (inlined into its
 * caller's loop, gcc spills its accumulators: see each use) */
#define RT_NOINLINE static __attribute__((noinline, unused))
#else
#define RT_RESTRICT
#define RT_INLINE static inline
#define RT_HELPER static
#define RT_NOINLINE static
#endif
/* RT_PREFETCH(p): bring the cache line at p in for reading, where the compiler
 * has a way to say so (a hint: no effect on results). */
#if defined(__GNUC__)
#define RT_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define RT_PREFETCH(p) ((void)(p))
#endif
/* RT_HELPER marks a file-local helper of a runtime .c file that is too big to
 * force inline; `unused` keeps -Wunused-function quiet when the generated model
 * does not call the kernels that use it.  Helper names carry their file's
 * prefix (conv_, pool_, ops_) because all runtime files share one translation
 * unit in generated code. */

RT_INLINE int rt_split_pixels(int64_t npix, int64_t nweight, int64_t nact) {
  return npix >= RT_SPLIT_PIX_MIN && nweight <= nact;
}

/* The ring of window rows of the channel-interleaved forms (conv.c's
 * depthwise convs on 8 and 16 lanes, pool.c's 16-plane max pool): rs =
 * (kh - 1)*dh + 1 rows of wp vectors of vl floats; input row ih of the
 * current windows lives in ring row (ih - first) mod rs, kept without
 * divisions. */
typedef struct RtRing {
  int rs, stride;      /* ring rows, floats per ring row (wp * vl) */
  int next, nslot;     /* the next input row to bring in, and its ring row */
  int bslot;           /* the ring row of the current output row's first input row */
} RtRing;

/* A ring whose first window row is `first`; the padding columns ([0, pl) and
 * [pl + W, wp)) of every ring row set to v once. */
RT_INLINE void rt_ring_init(RtRing *g, float *ring, int rs, int wp, int vl, int pl, int W, int first, float v) {
  int r, q, l;
  for (r = 0; r < rs; r++)
    for (q = 0; q < wp; q++)
      if (q < pl || q >= pl + W)
        for (l = 0; l < vl; l++)
          ring[((int64_t)r * wp + q) * vl + l] = v;
  g->rs = rs, g->stride = wp * vl, g->next = first, g->nslot = 0, g->bslot = 0;
}

/* Before an output row whose windows start at input row base (advance: not
 * the first row, which moves the windows down by sh): rows a stride skipped
 * above the ring are never brought in.  Then the caller brings in rows
 * g->next .. last into rt_ring_in, calling rt_ring_next after each. */
RT_INLINE void rt_ring_row(RtRing *g, int advance, int sh, int base) {
  if (advance)
    for (g->bslot += sh; g->bslot >= g->rs;)
      g->bslot -= g->rs;
  if (g->next < base)
    g->next = base, g->nslot = g->bslot;
}
RT_INLINE float *rt_ring_in(const RtRing *g, float *ring) { return ring + (int64_t)g->nslot * g->stride; }
RT_INLINE void rt_ring_next(RtRing *g) {
  g->next++;
  if (++g->nslot == g->rs)
    g->nslot = 0;
}

/* rows[t]: the ring row of window row t (t < kh, dh apart). */
RT_INLINE void rt_ring_rows(const RtRing *g, const float *ring, int kh, int dh, const float **rows) {
  int t, r;
  for (t = 0, r = g->bslot; t < kh; t++) {
    rows[t] = ring + (int64_t)r * g->stride;
    for (r += dh; r >= g->rs;)
      r -= g->rs;
  }
}

/* Output columns [*lo, *hi) within [o0, o1) whose input column o*s + off lies
 * in [0, W).  Hoisting this out of the inner loop is what lets it vectorize. */
RT_INLINE void rt_valid_range(int o0, int o1, int s, int off, int W, int *lo, int *hi) {
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

/* Pointwise functions; also the fused epilogue of conv/linear/binary kernels. */
enum {
  RT_ACT_NONE = 0,
  RT_ACT_RELU,        /* max(x, 0) */
  RT_ACT_LEAKY,       /* x >= 0 ? x : a*x */
  RT_ACT_CLIP,        /* min(max(x, a), b) */
  RT_ACT_SIGMOID,
  RT_ACT_TANH,
  RT_ACT_HARDSWISH,   /* x * clip(x/6 + 1/2, 0, 1) */
  RT_ACT_ELU,         /* x > 0 ? x : a*(exp(x)-1) */
  RT_ACT_SELU,        /* PyTorch constants */
  RT_ACT_GELU,        /* erf form */
  RT_ACT_HARDSIGMOID, /* clip(a*x + b, 0, 1) (ONNX alpha=a, beta=b) */
  RT_ACT_IDENTITY,
};

RT_INLINE float rt_act1(int act, float a, float b, float v) {
  switch (act) {
  case RT_ACT_RELU: return v > 0.0f ? v : 0.0f;
  case RT_ACT_LEAKY: return v >= 0.0f ? v : a * v;
  case RT_ACT_CLIP: { /* min(max(v, a), b) with NaN passing through, as the vector forms */
    const float t = v < a ? a : v;
    return t > b ? b : t;
  }
  case RT_ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
  case RT_ACT_TANH: return tanhf(v);
  case RT_ACT_HARDSWISH: {
    float t = v / 6.0f + 0.5f;
    t = t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
    return v * t;
  }
  case RT_ACT_ELU: return v > 0.0f ? v : a * expm1f(v);
  case RT_ACT_SELU: {
    const float al = 1.6732632423543772848170429916717f, sc = 1.0507009873554804934193349852946f;
    return sc * (v > 0.0f ? v : al * expm1f(v));
  }
  case RT_ACT_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
  case RT_ACT_HARDSIGMOID: {
    float t = a * v + b;
    return t < 0.0f ? 0.0f : (t > 1.0f ? 1.0f : t);
  }
  default: return v;
  }
}

/* y[i] = act(x[i]) for i < count; y may equal x.  The switch sits outside the
 * loops so each loop sees a constant `act` and vectorizes where it can. */
RT_HELPER void rt_act_array(int act, float a, float b, const float *x, float *y, int64_t count) {
  int64_t i;
  switch (act) {
#define RT_ACT_LOOP_(k) \
  case k: for (i = 0; i < count; i++) y[i] = rt_act1(k, a, b, x[i]); break;
  RT_ACT_LOOP_(RT_ACT_RELU)
  RT_ACT_LOOP_(RT_ACT_LEAKY)
  RT_ACT_LOOP_(RT_ACT_CLIP)
  RT_ACT_LOOP_(RT_ACT_SIGMOID)
  RT_ACT_LOOP_(RT_ACT_TANH)
  RT_ACT_LOOP_(RT_ACT_HARDSWISH)
  RT_ACT_LOOP_(RT_ACT_ELU)
  RT_ACT_LOOP_(RT_ACT_SELU)
  RT_ACT_LOOP_(RT_ACT_GELU)
  RT_ACT_LOOP_(RT_ACT_HARDSIGMOID)
#undef RT_ACT_LOOP_
  default:
    if (y != x)
      for (i = 0; i < count; i++) y[i] = x[i];
    break;
  }
}

/* Activations the vector epilogues apply in registers; the others are
 * applied by a scalar pass over the stored values (rt_act1). */
RT_INLINE int rt_act_vec(int act) {
  return act == RT_ACT_NONE || act == RT_ACT_IDENTITY || act == RT_ACT_RELU || act == RT_ACT_LEAKY ||
         act == RT_ACT_CLIP;
}

#if defined(__AVX512F__)
#include <immintrin.h>
/* Lanes l of a 16-wide access at column c + l that lie in [0, W). */
RT_INLINE __mmask16 rt_lanes16(int c, int W) {
  const int lo = c >= 0 ? 0 : -c, hi = W - c >= 16 ? 16 : W - c;
  if (hi <= lo)
    return 0;
  return (__mmask16)((hi >= 16 ? 0xFFFFu : (1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* x[c0 .. c0+16) of a row of length W, `fill` outside [0, W); memory outside
 * the row is never touched (masked loads; lanes moved up by a permute when
 * c0 < 0: the expanding load that does this is microcoded and slow on AMD). */
RT_INLINE __m512 rt_load16_fill(const float *row, int c0, int W, __m512 fill) {
  if (c0 >= 0 && c0 + 16 <= W)
    return _mm512_loadu_ps(row + c0);
  if (c0 >= W || c0 + 16 <= 0)
    return fill;
  if (c0 >= 0)
    return _mm512_mask_loadu_ps(fill, (__mmask16)((1u << (W - c0)) - 1u), row + c0);
  {
    /* lanes [-c0, min(16, W - c0)) take row[0], row[1], ... */
    const int hi = W - c0 < 16 ? W - c0 : 16;
    const __mmask16 mk = (__mmask16)(((1u << hi) - 1u) & ~((1u << -c0) - 1u));
    const __m512 v = _mm512_maskz_loadu_ps((__mmask16)((1u << (hi + c0)) - 1u), row);
    const __m512i idx = _mm512_sub_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(-c0));
    return _mm512_mask_permutexvar_ps(fill, mk, idx, v);
  }
}

/* The same, zero outside the row. */
RT_INLINE __m512 rt_load16(const float *row, int c0, int W) {
  return rt_load16_fill(row, c0, W, _mm512_setzero_ps());
}

/* 16 x 16 transpose of r[0..16) in place: r[i] lane j becomes r[j] lane i.
 * Written out (no loops): gcc -O2 keeps the arrays in registers only so. */
#define RT_X16(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
RT_INLINE void rt_tr16(__m512 r[16]) {
  /* rows i, i+1 interleaved per 128-bit lane */
#define RT_TR16_A(i)                                                                                     \
  const __m512 t##i##a = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);                                      \
  const __m512 t##i##b = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  RT_TR16_A(0) RT_TR16_A(1) RT_TR16_A(2) RT_TR16_A(3)
  RT_TR16_A(4) RT_TR16_A(5) RT_TR16_A(6) RT_TR16_A(7)
#undef RT_TR16_A
  /* u<g>c: column 4q + c of rows 4g..4g+3 in 128-bit lane q */
#define RT_TR16_B(g, e, o)                                                                               \
  const __m512 u##g##0 = _mm512_shuffle_ps(t##e##a, t##o##a, 0x44);                                        \
  const __m512 u##g##1 = _mm512_shuffle_ps(t##e##a, t##o##a, 0xEE);                                        \
  const __m512 u##g##2 = _mm512_shuffle_ps(t##e##b, t##o##b, 0x44);                                        \
  const __m512 u##g##3 = _mm512_shuffle_ps(t##e##b, t##o##b, 0xEE);
  RT_TR16_B(0, 0, 1) RT_TR16_B(1, 2, 3) RT_TR16_B(2, 4, 5) RT_TR16_B(3, 6, 7)
#undef RT_TR16_B
  /* v<h>c: columns c, 8+c (vlo) and 4+c, 12+c (vhi) of rows 8h..8h+7 */
#define RT_TR16_C(h, g0, g1, c)                                                                          \
  const __m512 vlo##h##c = _mm512_shuffle_f32x4(u##g0##c, u##g1##c, 0x88);                                 \
  const __m512 vhi##h##c = _mm512_shuffle_f32x4(u##g0##c, u##g1##c, 0xDD);
  RT_TR16_C(0, 0, 1, 0) RT_TR16_C(0, 0, 1, 1) RT_TR16_C(0, 0, 1, 2) RT_TR16_C(0, 0, 1, 3)
  RT_TR16_C(1, 2, 3, 0) RT_TR16_C(1, 2, 3, 1) RT_TR16_C(1, 2, 3, 2) RT_TR16_C(1, 2, 3, 3)
#undef RT_TR16_C
#define RT_TR16_D(c)                                                                                     \
  r[c] = _mm512_shuffle_f32x4(vlo0##c, vlo1##c, 0x88), r[8 + c] = _mm512_shuffle_f32x4(vlo0##c, vlo1##c, 0xDD); \
  r[4 + c] = _mm512_shuffle_f32x4(vhi0##c, vhi1##c, 0x88), r[12 + c] = _mm512_shuffle_f32x4(vhi0##c, vhi1##c, 0xDD);
  RT_TR16_D(0) RT_TR16_D(1) RT_TR16_D(2) RT_TR16_D(3)
#undef RT_TR16_D
}

/* v[l] lane i = src[16 i + l]: 16 consecutive 16-lane vectors (pixels of
 * 16 channels) turned into 16 vectors of 16 pixels, one per channel. */
RT_INLINE void rt_tr16_load(const float *src, __m512 v[16]) {
#define RT_TR16_LD(l) v[l] = _mm512_loadu_ps(src + (l) * 16);
  RT_X16(RT_TR16_LD)
#undef RT_TR16_LD
  rt_tr16(v);
}

/* rt_act1's clip on 16 lanes: max then min, each returning its second
 * operand (v) when either is NaN, so NaN passes through (two instructions;
 * compares and blends took four). */
RT_INLINE __m512 rt_clip16(__m512 v, __m512 lo, __m512 hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, v)); }

/* The fused epilogue of the AVX-512 conv/GEMM kernels on one 16-lane
 * vector: v + (bias + r) -> relu/leaky/clip (others left to rt_act_array)
 * -> c, m masking the lanes (masked lanes neither loaded nor stored). */
RT_INLINE void rt_epi16(__m512 v, float *c, const float *r, float bv, __mmask16 m, int act, float alpha,
                          float beta) {
  __m512 s = _mm512_set1_ps(bv);
  if (r)
    s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, r));
  v = _mm512_add_ps(v, s);
  if (act == RT_ACT_RELU) {
    v = _mm512_max_ps(v, _mm512_setzero_ps());
  } else if (act == RT_ACT_LEAKY) {
    const __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
    v = _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(alpha));
  } else if (act == RT_ACT_CLIP) {
    v = rt_clip16(v, _mm512_set1_ps(alpha), _mm512_set1_ps(beta));
  }
  _mm512_mask_storeu_ps(c, m, v);
}
#endif

#if defined(__AVX2__)
#include <immintrin.h>
/* d[0, n) = v[0, n) (0 < n <= 8) without a masked store (slow on AMD
 * cores): 4 + 2 + 1 floats. */
RT_INLINE void rt_store8_n(float *d, __m256 v, int n) {
  __m128 h = _mm256_castps256_ps128(v);
  if (n >= 8) {
    _mm256_storeu_ps(d, v);
    return;
  }
  if (n >= 4) {
    _mm_storeu_ps(d, h);
    h = _mm256_extractf128_ps(v, 1), d += 4, n -= 4;
  }
  if (n >= 2) {
    _mm_storel_pi((__m64 *)d, h);
    h = _mm_movehl_ps(h, h), d += 2, n -= 2;
  }
  if (n)
    _mm_store_ss(d, h);
}
#endif

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
/* The activations rt_act_vec names on 8 lanes (others: returned unchanged,
 * for the caller's scalar pass), with rt_act1's NaN behaviour. */
RT_INLINE __m256 rt_act8(__m256 v, int act, float alpha, float beta) {
  if (act == RT_ACT_RELU)
    return _mm256_max_ps(v, _mm256_setzero_ps());
  if (act == RT_ACT_LEAKY)
    return _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(alpha)), v,
                            _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GE_OQ));
  if (act == RT_ACT_CLIP) /* as rt_clip16: NaN (the second operand) passes */
    return _mm256_min_ps(_mm256_set1_ps(beta), _mm256_max_ps(_mm256_set1_ps(alpha), v));
  return v;
}

/* rt_epi16 on 8 lanes, the first n (1..8) loaded and stored. */
RT_INLINE void rt_epi8(__m256 v, float *c, const float *r, float bv, int n, int act, float alpha, float beta) {
  __m256 s = _mm256_set1_ps(bv);
  if (r)
    s = _mm256_add_ps(s, n >= 8 ? _mm256_loadu_ps(r)
                                : _mm256_maskload_ps(r, _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
                                                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))));
  rt_store8_n(c, rt_act8(_mm256_add_ps(v, s), act, alpha, beta), n);
}
#endif

/* ---------------------------------------------------------------- conv.c */

/* 2-D convolution (also 1-D with H = kh = 1).  Weight (K, C/groups, kh, kw).
 * y = act(conv(x, w) + b + res); b and res may be NULL; res has y's shape. */
typedef struct RtConv {
  int C, H, W;     /* input channels and size */
  int K, OH, OW;   /* output channels and size */
  int kh, kw, sh, sw, dh, dw;
  int pt, pl;      /* top/left padding (bottom/right are implied by OH/OW) */
  int groups;
  int act;
  float alpha, beta;
  int algo;        /* RT_ALGO_*; RT_ALGO_AUTO lets the kernel decide */
  int tile;        /* WINOGRAD: output tile 2 or 4 (0 = 4); FFT: tile edge, a power of 2 (0 = auto);
                    * GEMM1X1: 1 = pack the input into panels first (0 = by shape) */
} RtConv;
enum { RT_ALGO_AUTO, RT_ALGO_DIRECT, RT_ALGO_GEMM1X1, RT_ALGO_IM2COL, RT_ALGO_WINOGRAD, RT_ALGO_FFT };

/* Scratch bytes rt_conv2d needs for p->algo (0 for direct). */
RT_FN size_t rt_conv2d_scratch(const RtConv *p);
RT_FN void rt_conv2d(const RtConv *p, int n, const float *x, const float *w, const float *b,
                     const float *res, float *y, void *scratch);
/* rt_conv2d's parts, which the C backend calls directly so that a model
 * carries only the kernels it uses: rt_conv2d_algo is the RT_ALGO_* it runs
 * (with or without scratch), a function of p alone; RT_ALGO_DIRECT runs
 * rt_conv2d_rows, rt_conv2d_depthwise or rt_conv2d_plain by
 * rt_conv2d_direct_form (with AVX-512; without, rt_conv2d_depthwise for C ==
 * groups, rt_conv2d_plain otherwise). */
enum { RT_DIRECT_ROWS = 1, RT_DIRECT_DEPTHWISE, RT_DIRECT_PLAIN };
RT_FN int rt_conv2d_algo(const RtConv *p, int has_scratch);
RT_FN int rt_conv2d_direct_form(const RtConv *p);
RT_FN void rt_conv2d_gemm(const RtConv *p, int n, const float *x, const float *w, const float *b,
                          const float *res, float *y, void *scratch);
RT_FN void rt_conv2d_depthwise(const RtConv *p, int n, const float *x, const float *w, const float *b,
                               const float *res, float *y);
RT_FN void rt_conv2d_plain(const RtConv *p, int n, const float *x, const float *w, const float *b,
                           const float *res, float *y);

/* A 1x1 conv pe (C -> E channels, stride 1, no padding) computed inside the
 * depthwise conv pd that alone reads its result, in bands of pd's output
 * rows through a scratch of rt_pw_dw_scratch(pd) bytes (conv.c). */
RT_FN int rt_pw_dw_applies(const RtConv *pd);
RT_FN size_t rt_pw_dw_scratch(const RtConv *pd);
RT_FN void rt_pw_dw_conv2d(const RtConv *pe, const RtConv *pd, int n, const float *x, const float *we,
                           const float *be, const float *wd, const float *bd, const float *res, float *y,
                           void *scratch);

/* Direct conv with vectors along output rows (conv_row.c): groups == 1,
 * stride 1 along W.  Returns 0 without doing anything when it does not
 * apply (or in builds without AVX-512). */
RT_FN int rt_conv2d_rows_applies(const RtConv *p);
RT_FN int rt_conv2d_rows(const RtConv *p, int n, const float *x, const float *w, const float *b,
                         const float *res, float *y);

/* Transposed convolution.  Weight (C, K/groups, kh, kw) (PyTorch layout);
 * pt/pl are the `padding` of the transposed conv; OH/OW include output_padding. */
RT_FN void rt_conv_transpose2d(const RtConv *p, int n, const float *x, const float *w, const float *b,
                               float *y);

/* The same through col2im of a GEMM (conv_bwd.c), with scratch of
 * rt_conv_transpose2d_scratch(p, n_max) bytes for batches up to n_max
 * (scratch NULL: rt_conv_transpose2d).  Summation order differs from
 * rt_conv_transpose2d but is fixed by the shapes. */
RT_FN size_t rt_conv_transpose2d_scratch(const RtConv *p, int n_max);
RT_FN void rt_conv_transpose2d_ws(const RtConv *p, int n, const float *x, const float *w, const float *b,
                                  float *y, void *scratch);
/* 1 when the kernel equals the stride (no padding, dilation, groups or
 * output padding): rt_conv_transpose2d_ws then runs a 1x1 GEMM to K*kh*kw
 * channels and interleaves its rows into the output. */
RT_FN int rt_conv_transpose2d_tiled(const RtConv *p);
/* 1 when the sub-pixel form applies otherwise (stride > 1, dilation 1,
 * groups 1, kernel >= stride, >= 32 input columns): one stride-1 direct
 * conv per output phase, scattered into the output. */
RT_FN int rt_conv_transpose2d_subpixel(const RtConv *p);

/* y[n][out] = act(sum_i x[n][i] w[out][i] + b[out] + res) */
RT_FN void rt_linear(int n, int in, int out, const float *x, const float *w, const float *b,
                     const float *res, float *y, int act, float alpha, float beta);

/* ---------------------------------------------------------------- pool.c */

typedef struct RtPool {
  int C, H, W, OH, OW;
  int kh, kw, sh, sw, dh, dw;
  int pt, pl, pb, pr;     /* declared padding; ceil_mode windows past H+pb / W+pr
                           * are implied by OH/OW and never counted as padding */
  int count_include_pad;  /* avg: PyTorch semantics incl. ceil_mode windows */
  float norm;             /* lppool: p */
} RtPool;
RT_FN void rt_maxpool2d(const RtPool *p, int n, const float *x, float *y);
RT_FN void rt_avgpool2d(const RtPool *p, int n, const float *x, float *y);
RT_FN void rt_lppool2d(const RtPool *p, int n, const float *x, float *y);
/* Output rows [oh0, oh1) of one plane of max pooling: xp the plane (H x W),
 * yp its output (OH x OW), rows serially (pool.c). */
RT_FN void rt_maxpool2d_rows(const RtPool *p, const float *xp, float *yp, int oh0, int oh1);
/* Which of max pooling's row-vector instances p takes (1-based; 0: none).
 * Generated code compiles only the instances in RT_POOL_RV_USE (bit form - 1;
 * default all), which cnnc sets from its model's pools. */
RT_FN int rt_maxpool2d_form(const RtPool *p);
/* y = maxpool pp (conv pc (x) + b, act), the conv's output never stored whole:
 * computed band by band of the pool's rows (conv.c).  Applies to the shapes
 * rt_conv_maxpool2d_applies accepts, with a scratch of
 * rt_conv_maxpool2d_scratch bytes; no residual. */
RT_FN int rt_conv_maxpool2d_applies(const RtConv *pc, const RtPool *pp);
RT_FN size_t rt_conv_maxpool2d_scratch(const RtConv *pc, const RtPool *pp);
RT_FN void rt_conv_maxpool2d(const RtConv *pc, const RtPool *pp, int n, const float *x, const float *w,
                             const float *b, float *y, void *scratch);
/* PyTorch bin edges: start = floor(i*H/OH), end = ceil((i+1)*H/OH). */
RT_FN void rt_adaptive_avgpool2d(int n, int C, int H, int W, int OH, int OW, const float *x, float *y);
RT_FN void rt_global_avgpool(int n, int C, int HW, const float *x, float *y);
/* Mean over the middle `red` axis of (outer, red, inner). */
RT_FN void rt_reduce_mean(int64_t outer, int64_t red, int64_t inner, const float *x, float *y);

/* ----------------------------------------------------------------- ops.c */

/* y = act(x) elementwise over count values (y may equal x). */
RT_FN void rt_unary(int act, float a, float b, int64_t count, const float *x, float *y);
/* prelu: slope w[c] per channel (nw == C) or one slope (nw == 1). */
RT_FN void rt_prelu(int n, int C, int HW, const float *x, const float *w, int nw, float *y);
/* Inference batch norm: y = (x - mean) / sqrt(var + eps) * w + b; w/b may be NULL. */
RT_FN void rt_batchnorm(int n, int C, int HW, const float *x, const float *w, const float *b,
                        const float *mean, const float *var, float eps, float *y);
/* Normalise each sample over M values; w/b (M values) may be NULL. */
RT_FN void rt_layernorm(int n, int M, const float *x, const float *w, const float *b, float eps, float *y);
/* Normalise each (sample, group) over (C/G)*HW values; per-channel affine w/b may be NULL.
 * instancenorm is G == C. */
RT_FN void rt_groupnorm(int n, int C, int HW, int G, const float *x, const float *w, const float *b,
                        float eps, float *y);
/* out[c] = max_k x[k*Cout + c], Cout = C / pieces. */
RT_FN void rt_maxout(int n, int C, int HW, int pieces, const float *x, float *y);
/* Softmax over the middle axis of (outer, dim, inner); log != 0 gives log_softmax. */
RT_FN void rt_softmax(int64_t outer, int dim, int64_t inner, const float *x, float *y, int log);

/* Binary op with numpy broadcasting: op 0 add, 1 mul, 2 sub, 3 div.  Shapes are
 * given as y's dims and per-operand element strides (0 on broadcast axes). */
enum { RT_BIN_ADD, RT_BIN_MUL, RT_BIN_SUB, RT_BIN_DIV };
RT_FN void rt_binary(int op, int rank, const int64_t *ydims, const int64_t *astride,
                     const int64_t *bstride, const float *a, const float *b, float *y, int act,
                     float alpha, float beta);
/* Same-shape fast path. */
RT_FN void rt_binary_same(int op, int64_t count, const float *a, const float *b, float *y, int act,
                          float alpha, float beta);
/* Copy x (outer, inner_x) into columns [off, off+inner_x) of y (outer, inner_y): concat. */
RT_FN void rt_copy_slice(int64_t outer, int64_t inner_x, int64_t inner_y, int64_t off, const float *x,
                         float *y);
/* Slice: y (outer, inner_y) = columns [off, off+inner_y) of x (outer, inner_x). */
RT_FN void rt_slice_copy(int64_t outer, int64_t inner_x, int64_t inner_y, int64_t off, const float *x, float *y);
/* Nearest upsampling by integer factors. */
RT_FN void rt_upsample_nearest(int n, int C, int H, int W, int fh, int fw, const float *x, float *y);
/* Spatial padding of (n, C, H, W): mode 0 constant, 1 reflect, 2 edge. */
RT_FN void rt_pad2d(int n, int C, int H, int W, int pt, int pl, int pb, int pr, int mode, float value,
                    const float *x, float *y);
/* General permutation of a rank-r tensor: y dim i = x dim perm[i]. */
RT_FN void rt_transpose(int rank, const int64_t *xdims, const int *perm, const float *x, float *y);

/* ---------------------------------------------------------------- gemm.c */

/* Packed-B layout shared by the GEMM and im2col: B (K x N) is split into a
 * main part of RT_GEMM_NMAIN(N) columns and, with AVX-512 or AVX2, a tail of
 * up to 8 columns (N % 16 when that is <= 8; with AVX2 also N % 8 when N % 16
 * is 9..12, after an 8-wide panel) that a dot-product kernel handles far
 * better than a mostly empty vector (AVX2, N = 49: one column in an 8-wide
 * panel cost 2/3 of a 16-wide one; -DRT_GEMM_TAIL(N)=0 turns it off for
 * A/B runs).  The main part is cut into
 * column panels of RT_GEMM_NR columns (the last RT_GEMM_PANEL_W wide, a
 * multiple of RT_GEMM_VL, zero-padded); the panel at column n0 starts at
 * Bp + n0*K and holds row k at + k*width.  Tail column n is stored k-major
 * at Bp + n*K.  Element (k, n) is at RT_GEMM_BP_INDEX(K, N, k, n).  The total
 * never exceeds rt_gemm_scratch's bound K * round_up(N, 16) floats. */
#if defined(__AVX512F__)
#define RT_GEMM_NR 48
#define RT_GEMM_VL 16
#define RT_GEMM_TAIL(N) ((N) % 16 <= 8 ? (N) % 16 : 0)
#elif defined(__AVX2__) && defined(__FMA__)
#define RT_GEMM_NR 16
#define RT_GEMM_VL 8
#ifndef RT_GEMM_TAIL
#define RT_GEMM_TAIL(N) ((N) % 16 <= 8 ? (N) % 16 : (N) % 16 <= 12 ? (N) % 8 : 0)
#endif
#else
#define RT_GEMM_NR 16
#define RT_GEMM_VL 16
#define RT_GEMM_TAIL(N) 0
#endif
#define RT_GEMM_NMAIN(N) ((N) - RT_GEMM_TAIL(N))
#define RT_GEMM_NPAD(N) ((RT_GEMM_NMAIN(N) + RT_GEMM_VL - 1) / RT_GEMM_VL * RT_GEMM_VL)
#define RT_GEMM_PANEL_W(N, n0) \
  (RT_GEMM_NPAD(N) - (n0) < RT_GEMM_NR ? RT_GEMM_NPAD(N) - (n0) : RT_GEMM_NR)
#define RT_GEMM_BP_INDEX(K, N, k, n)                                                                      \
  ((n) >= RT_GEMM_NMAIN(N)                                                                                \
       ? (int64_t)(n) * (K) + (k)                                                                         \
       : (int64_t)((n) - (n) % RT_GEMM_NR) * (K) + (int64_t)(k) * RT_GEMM_PANEL_W(N, (n) - (n) % RT_GEMM_NR) + \
             (n) % RT_GEMM_NR)

/* C = act(bias[m] + res + A * B): A row-major (M x K, row stride lda) read in
 * place; B packed (ldb == 0) or row-major with row stride ldb (rows readable
 * up to round_up(N, 16) columns, or, with bexact, exactly to N);
 * an unpacked B may hand its RT_GEMM_TAIL(N) last columns to the dot-product
 * kernel by giving them k-major in Bt (column RT_GEMM_NMAIN(N) + j at
 * Bt + j*K; Bt NULL: no tail split); C at C[m*rsc + n*csc]; res (C's layout,
 * may be C) and bias (M) may be NULL.  Zero-initialize unused fields. */
typedef struct RtGemm {
  int M, N, K;
  const float *A;
  int64_t lda;
  const float *Bp;
  int64_t ldb;
  const float *Bt;
  int bexact;
  float *C;
  int64_t rsc, csc;
  const float *bias, *res;
  int act;
  float alpha, beta;
  int pix;  /* parallel: each thread a run of column panels, all rows (rt_split_pixels) */
  int pixw; /* with pix and B in place: split at multiples of pixw columns (image rows) */
} RtGemm;

/* Bytes of scratch rt_gemm needs (packed B, + 64 for alignment); the same
 * bound for every instruction set. */
RT_FN size_t rt_gemm_scratch(int M, int N, int K);
/* C (row stride ldc) = act(bias + res + A (M x K, lda) * B (K x N, ldb)). */
RT_FN void rt_gemm(int M, int N, int K, const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                   int64_t ldc, const float *bias, const float *res, int act, float alpha, float beta,
                   void *scratch);
/* Pack B[k*rsb + n*csb] into the panel layout (Bp 64-byte aligned is fastest). */
RT_FN void rt_gemm_pack_b(int K, int N, const float *B, int64_t rsb, int64_t csb, float *Bp);
/* The multiply on a packed B, split into independent tasks (each owns a block
 * of C) so callers can run several GEMMs in one parallel loop. */
RT_FN int rt_gemm_ntasks(const RtGemm *g);
RT_FN void rt_gemm_task(const RtGemm *g, int t);
RT_FN void rt_gemm_packed(const RtGemm *g); /* every task, OpenMP-parallel */
/* Column panels of g (the packed tail counts as one) and the block of C of
 * rows [m0, m1) x panels [p0, p1): lets a caller pack B panel by panel and
 * multiply while it is in cache.  Row blocks must start at multiples of 8. */
RT_FN int rt_gemm_npanels(const RtGemm *g);
RT_FN void rt_gemm_panels(const RtGemm *g, int p0, int p1, int m0, int m1);
/* The dot-product form for B given by columns (column j at Bt + j*ldbt, k
 * contiguous; e.g. the rows of a linear layer's input): nothing to pack. */
RT_FN void rt_gemm_dot(int M, int N, int K, const float *A, int64_t lda, const float *Bt, int64_t ldbt, float *C,
                       int64_t rsc, int64_t csc, const float *bias, const float *res, int act, float alpha,
                       float beta);


/* ============================================================ training
 * Backward kernels ACCUMULATE (+=) into every gradient they produce (dx, dw,
 * db), so fan-out sums naturally; the generated code zeroes a gradient buffer
 * before its first writer.  Any gradient pointer may be NULL (not needed:
 * frozen parameter or a graph input).  Argument order follows the forward.
 * Everything stays deterministic and thread-count independent.
 * Implemented in runtime/backward.c, runtime/conv_bwd.c, runtime/loss.c and
 * runtime/optim.c. */

RT_FN void rt_conv2d_bwd(const RtConv *p, int n, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *db);
/* rt_conv2d_bwd's semantics on im2col + the blocked GEMM (runtime/conv_bwd.c):
 * scratch of rt_conv2d_bwd_scratch(p, n_max) bytes serves any n <= n_max
 * (64-byte aligned is best); depthwise/tiny groups fall back to the direct
 * kernel (scratch 0). */
RT_FN size_t rt_conv2d_bwd_scratch(const RtConv *p, int n_max);
RT_FN void rt_conv2d_bwd_ws(const RtConv *p, int n, const float *x, const float *w, const float *dy, float *dx,
                            float *dw, float *db, void *scratch);
RT_FN void rt_conv_transpose2d_bwd(const RtConv *p, int n, const float *x, const float *w, const float *dy,
                                   float *dx, float *dw, float *db);
RT_FN void rt_linear_bwd(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx,
                         float *dw, float *db);
/* Pools: max recomputes the argmax from x (first maximum wins, as PyTorch). */
RT_FN void rt_maxpool2d_bwd(const RtPool *p, int n, const float *x, const float *dy, float *dx);
RT_FN void rt_avgpool2d_bwd(const RtPool *p, int n, const float *dy, float *dx);
RT_FN void rt_lppool2d_bwd(const RtPool *p, int n, const float *x, const float *y, const float *dy, float *dx);
RT_FN void rt_adaptive_avgpool2d_bwd(int n, int C, int H, int W, int OH, int OW, const float *dy, float *dx);
RT_FN void rt_global_avgpool_bwd(int n, int C, int HW, const float *dy, float *dx);
RT_FN void rt_reduce_mean_bwd(int64_t outer, int64_t red, int64_t inner, const float *dy, float *dx);
/* Training-mode batch norm over (n, C, HW): batch statistics (biased variance
 * for normalisation), running stats updated in place with `momentum` and the
 * unbiased variance (PyTorch); saves mean and 1/sqrt(var+eps) per channel. */
RT_FN void rt_batchnorm_train(int n, int C, int HW, const float *x, const float *w, const float *b,
                              float *running_mean, float *running_var, float momentum, float eps, float *y,
                              float *save_mean, float *save_invstd);
RT_FN void rt_batchnorm_bwd(int n, int C, int HW, const float *x, const float *w, const float *save_mean,
                            const float *save_invstd, const float *dy, float *dx, float *dw, float *db);
/* Layer norm / group norm with saved statistics (per sample / per (sample, group)). */
RT_FN void rt_layernorm_train(int n, int M, const float *x, const float *w, const float *b, float eps, float *y,
                              float *save_mean, float *save_invstd);
RT_FN void rt_layernorm_bwd(int n, int M, const float *x, const float *w, const float *save_mean,
                            const float *save_invstd, const float *dy, float *dx, float *dw, float *db);
RT_FN void rt_groupnorm_train(int n, int C, int HW, int G, const float *x, const float *w, const float *b,
                              float eps, float *y, float *save_mean, float *save_invstd);
RT_FN void rt_groupnorm_bwd(int n, int C, int HW, int G, const float *x, const float *w, const float *save_mean,
                            const float *save_invstd, const float *dy, float *dx, float *dw, float *db);
/* dx += dy * act'(x) for every RT_ACT_* kind (x = the forward input, y = the forward output). */
RT_FN void rt_unary_bwd(int act, float a, float b, int64_t count, const float *x, const float *y, const float *dy,
                        float *dx);
RT_FN void rt_prelu_bwd(int n, int C, int HW, const float *x, const float *w, int nw, const float *dy, float *dx,
                        float *dw);
RT_FN void rt_maxout_bwd(int n, int C, int HW, int pieces, const float *x, const float *dy, float *dx);
RT_FN void rt_softmax_bwd(int64_t outer, int dim, int64_t inner, const float *y, const float *dy, float *dx,
                          int log);
/* Broadcast binary backward: da += reduce(dy) (add) or reduce(dy * b) (mul), same for db. */
RT_FN void rt_binary_bwd(int op, int rank, const int64_t *ydims, const int64_t *astride, const int64_t *bstride,
                         const float *a, const float *b, const float *dy, float *da, float *db);
/* Concat backward: dx += columns [off, off+inner_x) of dy. */
RT_FN void rt_copy_slice_bwd(int64_t outer, int64_t inner_x, int64_t inner_y, int64_t off, const float *dy,
                             float *dx);
RT_FN void rt_upsample_nearest_bwd(int n, int C, int H, int W, int fh, int fw, const float *dy, float *dx);
RT_FN void rt_pad2d_bwd(int n, int C, int H, int W, int pt, int pl, int pb, int pr, int mode, const float *dy,
                        float *dx);
RT_FN void rt_transpose_bwd(int rank, const int64_t *xdims, const int *perm, const float *dy, float *dx);
/* Inverted dropout with a counter-based generator: element i is kept iff
 * hash(seed, step, i) >= p (uniform in [0,1)); kept values are scaled by
 * 1/(1-p).  The backward recomputes the same mask from (seed, step, i). */
RT_FN void rt_dropout_train(int64_t count, float p, uint64_t seed, uint64_t step, const float *x, float *y);
RT_FN void rt_dropout_bwd(int64_t count, float p, uint64_t seed, uint64_t step, const float *dy, float *dx);
/* dst += src (count values). */
RT_FN void rt_accumulate(int64_t count, const float *src, float *dst);

/* ---------------------------------------------------------------- loss.c
 * Mean reduction over the batch (torch.nn defaults); each returns the loss and
 * writes (=, not +=) d(loss)/d(input) into dx when dx != NULL.
 * Class targets are int32 indices in [0, C); an out-of-range target yields NaN. */
RT_FN float rt_loss_cross_entropy(int n, int C, const float *logits, const int32_t *target, float *dx);
RT_FN float rt_loss_nll(int n, int C, const float *logp, const int32_t *target, float *dx);
RT_FN float rt_loss_mse(int64_t count, const float *y, const float *target, float *dx);
RT_FN float rt_loss_l1(int64_t count, const float *y, const float *target, float *dx);

/* --------------------------------------------------------------- optim.c
 * torch.optim update rules exactly, for one parameter tensor of `count`
 * values; `step` is the 1-based step number (after incrementing).  Buffers
 * (momentum, exp_avg, ...) start zeroed; the first SGD momentum step copies
 * the gradient into the buffer as torch does. */
RT_FN void rt_sgd_step(int64_t count, float lr, float momentum, float dampening, float weight_decay, int nesterov,
                       int64_t step, float *p, const float *g, float *buf);
/* adamw != 0: decoupled weight decay (AdamW), else L2 added to the gradient (Adam). */
RT_FN void rt_adam_step(int64_t count, float lr, float beta1, float beta2, float eps, float weight_decay, int adamw,
                        int64_t step, float *p, const float *g, float *m, float *v);
RT_FN void rt_rmsprop_step(int64_t count, float lr, float alpha, float eps, float weight_decay, float momentum,
                           int64_t step, float *p, const float *g, float *sq, float *buf);
/* Sum of squares (double accumulation, fixed order) and in-place scaling, for clip_grad_norm_. */
RT_FN double rt_sumsq(int64_t count, const float *g);
RT_FN void rt_scale(int64_t count, float s, float *g);

/* ------------------------------------------------------------ winograd.c */

/* Winograd F(2x2,3x3) / F(4x4,3x3) (p->tile) for 3x3, stride 1, dilation 1,
 * groups 1.  The weights are transformed at compile time:
 * rt_winograd_weights writes rt_winograd_weights_size(p) floats,
 * U[xi][K][C], xi < (tile+2)^2, from the PyTorch (K, C, 3, 3) weights. */
RT_FN int rt_winograd_applies(const RtConv *p);
RT_FN size_t rt_winograd_weights_size(const RtConv *p);
RT_FN void rt_winograd_weights(const RtConv *p, const float *w, float *u);
RT_FN size_t rt_winograd_scratch(const RtConv *p); /* bytes, any instruction set */
RT_FN void rt_winograd_conv2d(const RtConv *p, int n, const float *x, const float *u, const float *b,
                              const float *res, float *y, void *scratch);

/* ----------------------------------------------------------------- fft.c */

/* FFT (overlap-save) convolution for large kernels: any padding, dilation and
 * groups (stride is supported by subsampling the stride-1 result).  The
 * weight spectra are computed at compile time: rt_fft_weights writes
 * rt_fft_weights_size(p) floats from the PyTorch (K, C/g, kh, kw) weights.
 * rt_fft_geometry gives the tile (P x Q), tiles (th x tw), tiles per block
 * and returns the spectrum length P*(Q/2+1); it depends on p alone. */
RT_FN int rt_fft_applies(const RtConv *p);
RT_FN int rt_fft_geometry(const RtConv *p, int *P, int *Q, int *th, int *tw, int *tb);
RT_FN size_t rt_fft_weights_size(const RtConv *p);
RT_FN void rt_fft_weights(const RtConv *p, const float *w, float *ws);
RT_FN size_t rt_fft_scratch(const RtConv *p); /* bytes, any instruction set */
RT_FN void rt_fft_conv2d(const RtConv *p, int n, const float *x, const float *ws, const float *b,
                         const float *res, float *y, void *scratch);

#endif
