/* gemm.c - blocked single-precision matrix multiply with a fused epilogue.
 *
 * C[M,N] = act(bias[m] + R[m,n] + sum_k A[m,k] B[k,n])
 *
 * A is read in place (row-major, any row stride): in convolutions it is the
 * weight tensor, so it is never copied.  B is packed once per call into
 * column panels (rt_gemm_pack_b, or written directly in that layout by
 * im2col), or read in place with a row stride (Winograd's buffers, the input
 * of a 1x1 conv).  C may have any row and column strides (a transposed C),
 * and R has C's layout and may be C itself (an in-place residual).
 *
 * Guarantees:
 *  - each element of C is owned by one task and computed as
 *    act(sum_k(A B) + (bias + R)) with the k terms added in increasing k
 *    (the dot-product kernel: 16 interleaved partial sums reduced in a fixed
 *    order): an order fixed by the shapes alone, so results do not depend on
 *    the number of threads, nor on which task runs where;
 *  - no heap, no globals; the only scratch is the caller's packed-B buffer,
 *    whose size rt_gemm_scratch gives as an upper bound that is the same for
 *    every instruction set (the compiler sizes the arena once, the generated
 *    code may be built with or without -march=native);
 *  - the micro-kernel is chosen at compile time: AVX-512 (8 x 48 register
 *    tile, 24 zmm accumulators), AVX2+FMA (6 x 16) or portable C (4 x 16)
 *    that compilers auto-vectorize.
 *
 * Why this shape: with two 512-bit FMA pipes of latency ~4, at least eight
 * independent accumulators are needed; 8 x 48 gives 24 and needs per k only
 * 3 vector loads of B plus 8 broadcasts of A, within the two loads per cycle
 * the core sustains next to two FMAs.  A panel of B is swept by all the
 * 8-row slivers of a task while it is hot in L1/L2, and the task's rows of A
 * stay in the 1 MiB L2 across its panels.  Measured on this machine: 94-100%
 * of the 220 GFLOP/s peak on ResNet-18's GEMM shapes (B already packed).
 *
 * Narrow remainders: with AVX-512, up to 8 columns left after the last
 * multiple of 16 (7x7 maps: N = 49; 14x14: N = 196) go to a dot-product
 * kernel over k-contiguous columns instead of a mostly empty 16-wide vector
 * (ResNet-18's 512 x 49 x 4608 layer: 66% -> 85% of peak).  The same kernel
 * is rt_gemm_dot, which rt_linear uses with nothing to pack.  Up to 4 tail
 * columns after a full 48-wide last panel (N = 49, 100, 196) ride inside
 * that panel's k loop (gemm_micro_tail): their 16-lane dot products advance
 * every 16 k while those floats of A are in L1, with gemm_dot4's lanes and
 * reduction (the same bits), instead of a second pass over A, which for a
 * 4608-deep A no longer in L2 cost 15% of the panel's time.  With AVX2 the
 * tail columns (RT_GEMM_TAIL) go to gemm_tail6 right after each row
 * sliver's last panel: 6 rows x 2 columns per pass over k.
 */
#include "cnnc_rt.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define GEMM_MR 8
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define GEMM_MR 6
#else
#define GEMM_MR 4
#endif
#define GEMM_NR RT_GEMM_NR
#define GEMM_VL RT_GEMM_VL

enum {
  GEMM_MC = 64, /* rows of C per task (a multiple of 8 and 4; AVX2's 6-row tail is masked) */
  GEMM_NCP = 4  /* column panels per task: 192 columns, a B block of K x 192 in L2 */
};

/* Scalar epilogue of an mr x nr tile t (row stride ldt) into C: the same
 * arithmetic as the vector epilogues, (bias + r) then + sum, then act. */
RT_HELPER void gemm_epi_scalar(const float *t, int ldt, int mr, int nr, float *c, int64_t rsc, int64_t csc,
                               const float *bias, const float *res, int act, float alpha, float beta) {
  int i, j;
  for (i = 0; i < mr; i++) {
    const float bv = bias ? bias[i] : 0.0f;
    for (j = 0; j < nr; j++) {
      const int64_t o = i * rsc + j * csc;
      const float s = res ? bv + res[o] : bv;
      c[o] = rt_act1(act, alpha, beta, t[i * ldt + j] + s);
    }
  }
}

/* After a vector epilogue that left a complex activation out: apply it. */
RT_HELPER void gemm_act_rows(int mr, int nr, float *c, int64_t rsc, int act, float alpha, float beta) {
  int i;
  for (i = 0; i < mr; i++)
    rt_act_array(act, alpha, beta, c + i * rsc, c + i * rsc, nr);
}

#if defined(__AVX512F__)

/* v + bias (+ r) -> activation -> C for one 16-column vector of one row; m
 * masks the columns (masked lanes are neither loaded nor stored). */

#define GEMM_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* The (rows) x (16*nv) micro-kernel: kc steps over rows of B at stride bs
 * and `rows` rows of A at stride lda.  Rows past mr repeat the last valid row
 * (computed, never stored); columns past nr are masked at the store.  rows
 * and nv are compile-time constants after inlining, so the dead accumulators
 * and their FMAs disappear. */
RT_INLINE void gemm_kernel_avx512(int kc, const float *a, int64_t lda, const float *b, int64_t bs, __mmask16 bm,
                                  const int rows, const int nv, int mr, int nr, float *c, int64_t rsc,
                                  const float *bias, const float *res, int act, float alpha, float beta,
                                  const int nt, int ntr, const float *bt, int64_t ldbt, float *tile) {
  int k;
  __m512 tacc[GEMM_MR * 4]; /* tail dot products: row i, column j at 4i + j */
#define GEMM_DECL(i)                                                                                       \
  __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps(), c##i##2 = _mm512_setzero_ps();      \
  const float *a##i = a + (i < mr ? i : mr - 1) * lda;
  GEMM_R8(GEMM_DECL)
#undef GEMM_DECL
  /* bm masks the last vector's load (an unpacked B read exactly to N) */
#define GEMM_STEP(kk) /* one k of the panel: the FMAs read A at column kk */                              \
  {                                                                                                        \
    const __m512 b0 = nv == 1 ? _mm512_maskz_loadu_ps(bm, b) : _mm512_loadu_ps(b);                          \
    const __m512 b1 = nv == 2 ? _mm512_maskz_loadu_ps(bm, b + 16) : nv > 2 ? _mm512_loadu_ps(b + 16) : b0;  \
    const __m512 b2 = nv > 2 ? _mm512_maskz_loadu_ps(bm, b + 32) : b0;                                     \
    GEMM_R8(GEMM_FMA)                                                                                      \
    b += bs;                                                                                               \
  }
#define GEMM_FMA(i)                                                                                        \
  if (i < rows) {                                                                                          \
    const __m512 s = _mm512_set1_ps(a##i[kk]);                                                             \
    c##i##0 = _mm512_fmadd_ps(s, b0, c##i##0);                                                             \
    if (nv > 1)                                                                                            \
      c##i##1 = _mm512_fmadd_ps(s, b1, c##i##1);                                                           \
    if (nv > 2)                                                                                            \
      c##i##2 = _mm512_fmadd_ps(s, b2, c##i##2);                                                           \
  }
  if (nt == 0) {
    int kk;
    for (kk = 0; kk < kc; kk++)
      GEMM_STEP(kk)
  } else {
    /* nt (<= 4) tail columns of B stored k-contiguous (column j at
     * bt + j*ldbt) ride along: after every 16 k, while those 16 floats of
     * each row of A are in L1, gemm_dot4's 16-lane dot products advance by
     * them (the same lanes, the same order, so the same sums as gemm_dot4)
     * instead of a second pass that would stream A from memory again. */
    /* nt is the instantiated column count (1 or 4), ntr <= nt the real one:
     * columns past ntr repeat the last real one (computed, never stored) */
    const float *bt1 = bt + (ntr > 1 ? 1 : ntr - 1) * ldbt, *bt2 = bt + (ntr > 2 ? 2 : ntr - 1) * ldbt;
    const float *bt3 = bt + (ntr > 3 ? 3 : ntr - 1) * ldbt;
    int j;
    for (j = 0; j < rows * 4; j++)
      tacc[j] = _mm512_setzero_ps();
    for (k = 0; k < kc; k += 16) {
      const int ke = kc - k < 16 ? kc - k : 16;
      const __mmask16 m = (__mmask16)(ke >= 16 ? 0xFFFF : (1u << ke) - 1u);
      int kk;
      __m512 v0, v1, v2, v3;
      for (kk = k; kk < k + ke; kk++)
        GEMM_STEP(kk)
      v0 = _mm512_maskz_loadu_ps(m, bt + k);
      v1 = nt > 1 ? _mm512_maskz_loadu_ps(m, bt1 + k) : v0;
      v2 = nt > 2 ? _mm512_maskz_loadu_ps(m, bt2 + k) : v0;
      v3 = nt > 3 ? _mm512_maskz_loadu_ps(m, bt3 + k) : v0;
#define GEMM_TFMA(i)                                                                                       \
  if (i < rows) {                                                                                          \
    const __m512 u = _mm512_maskz_loadu_ps(m, a##i + k);                                                   \
    tacc[4 * i] = _mm512_fmadd_ps(u, v0, tacc[4 * i]);                                                     \
    if (nt > 1)                                                                                            \
      tacc[4 * i + 1] = _mm512_fmadd_ps(u, v1, tacc[4 * i + 1]);                                           \
    if (nt > 2)                                                                                            \
      tacc[4 * i + 2] = _mm512_fmadd_ps(u, v2, tacc[4 * i + 2]);                                           \
    if (nt > 3)                                                                                            \
      tacc[4 * i + 3] = _mm512_fmadd_ps(u, v3, tacc[4 * i + 3]);                                           \
  }
      GEMM_R8(GEMM_TFMA)
#undef GEMM_TFMA
    }
    for (j = 0; j < rows * 4; j++)
      if (j % 4 < nt)
        tile[j] = _mm512_reduce_add_ps(tacc[j]);
  }
#undef GEMM_FMA
#undef GEMM_STEP
  {
    const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1u);
    const __mmask16 m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1u);
    const __mmask16 m2 = nr >= 48 ? 0xFFFF : nr <= 32 ? 0 : (__mmask16)((1u << (nr - 32)) - 1u);
#define GEMM_STORE(i)                                                                                      \
  if (i < rows && i < mr) {                                                                                \
    float *ci = c + i * rsc;                                                                               \
    const float *ri = res ? res + i * rsc : NULL;                                                          \
    const float bv = bias ? bias[i] : 0.0f;                                                                \
    rt_epi16(c##i##0, ci, ri, bv, m0, act, alpha, beta);                                                 \
    if (nv > 1)                                                                                            \
      rt_epi16(c##i##1, ci + 16, ri ? ri + 16 : NULL, bv, m1, act, alpha, beta);                         \
    if (nv > 2)                                                                                            \
      rt_epi16(c##i##2, ci + 32, ri ? ri + 32 : NULL, bv, m2, act, alpha, beta);                         \
  }
    GEMM_R8(GEMM_STORE)
#undef GEMM_STORE
  }
}
#undef GEMM_R8

#define GEMM_C4(X) X(0) X(1) X(2) X(3)

/* Dot-product form: t (<= 4) columns of B stored k-contiguous (column j at
 * bt + j*ldbt) times mr (<= 4) rows of A, as 16-lane dot products over k,
 * reduced at the end.  For the GEMM's 1..8 tail columns this does 16x..2x
 * fewer FMAs than a 16-wide panel holding them; rt_linear uses it directly
 * (weight rows times input rows, nothing to pack). */
RT_HELPER void gemm_dot4(int K, const float *a, int64_t lda, const float *bt, int64_t ldbt, int mr, int t,
                         float *c, int64_t rsc, int64_t csc, const float *bias, const float *res, int act, float alpha,
                         float beta) {
  const float *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * lda, *a2 = a + (mr > 2 ? 2 : mr - 1) * lda;
  const float *a3 = a + (mr > 3 ? 3 : mr - 1) * lda;
  const float *b0 = bt, *b1 = bt + (t > 1 ? 1 : 0) * ldbt, *b2 = bt + (t > 2 ? 2 : t - 1) * ldbt;
  const float *b3 = bt + (t > 3 ? 3 : t - 1) * ldbt;
  float tile[4 * 4];
  int k;
#define GEMM_DACC(i) __m512 s##i##0 = _mm512_setzero_ps(), s##i##1 = s##i##0, s##i##2 = s##i##0, s##i##3 = s##i##0;
  GEMM_C4(GEMM_DACC)
#undef GEMM_DACC
  for (k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1u);
    const __m512 v0 = _mm512_maskz_loadu_ps(m, b0 + k), v1 = _mm512_maskz_loadu_ps(m, b1 + k);
    const __m512 v2 = _mm512_maskz_loadu_ps(m, b2 + k), v3 = _mm512_maskz_loadu_ps(m, b3 + k);
#define GEMM_DFMA(i)                                                                                       \
  {                                                                                                        \
    const __m512 u = _mm512_maskz_loadu_ps(m, a##i + k);                                                   \
    s##i##0 = _mm512_fmadd_ps(u, v0, s##i##0);                                                             \
    s##i##1 = _mm512_fmadd_ps(u, v1, s##i##1);                                                             \
    s##i##2 = _mm512_fmadd_ps(u, v2, s##i##2);                                                             \
    s##i##3 = _mm512_fmadd_ps(u, v3, s##i##3);                                                             \
  }
    GEMM_C4(GEMM_DFMA)
#undef GEMM_DFMA
  }
#define GEMM_DRED(i)                                                                                       \
  tile[i * 4 + 0] = _mm512_reduce_add_ps(s##i##0), tile[i * 4 + 1] = _mm512_reduce_add_ps(s##i##1);        \
  tile[i * 4 + 2] = _mm512_reduce_add_ps(s##i##2), tile[i * 4 + 3] = _mm512_reduce_add_ps(s##i##3);
  GEMM_C4(GEMM_DRED)
#undef GEMM_DRED
  gemm_epi_scalar(tile, 4, mr, t, c, rsc, csc, bias, res, act, alpha, beta);
}
#undef GEMM_C4

/* The one-column case of gemm_dot4 (a matrix-vector product: rt_linear at
 * batch 1): mr <= 8 rows against one column, one accumulator per row, so
 * eight independent FMA chains and no duplicate columns.  The lanes and the
 * final reduction are gemm_dot4's, so an output is the same either way. */
RT_HELPER void gemm_dot_col8(int K, const float *a, int64_t lda, const float *b, int mr, float *c, int64_t rsc,
                             const float *bias, const float *res, int act, float alpha, float beta) {
  float tile[8];
  int k;
#define GEMM_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define GEMM_VACC(i)                                                                                       \
  __m512 s##i = _mm512_setzero_ps();                                                                       \
  const float *a##i = a + (int64_t)(i < mr ? i : mr - 1) * lda;
  GEMM_R8(GEMM_VACC)
#undef GEMM_VACC
  for (k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(m, b + k);
#define GEMM_VFMA(i) s##i = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a##i + k), v, s##i);
    GEMM_R8(GEMM_VFMA)
#undef GEMM_VFMA
  }
#define GEMM_VRED(i) tile[i] = _mm512_reduce_add_ps(s##i);
  GEMM_R8(GEMM_VRED)
#undef GEMM_VRED
#undef GEMM_R8
  gemm_epi_scalar(tile, 1, mr, 1, c, rsc, 1, bias, res, act, alpha, beta);
}

/* gemm_dot4 for one or two columns: mr <= 8 rows x t <= 2 columns, 16
 * accumulators.  gemm_dot4 on two columns computes four (the last
 * repeated): TDNN's 86-column layers (a tail of 4 + 2) spent 10% of their
 * time in the tail.  The lanes and the reduction are gemm_dot4's: the same
 * bits. */
RT_HELPER void gemm_dot82(int K, const float *a, int64_t lda, const float *bt, int64_t ldbt, int mr, int t, float *c,
                          int64_t rsc, int64_t csc, const float *bias, const float *res, int act, float alpha,
                          float beta) {
  const float *b0 = bt, *b1 = bt + (t > 1 ? ldbt : 0);
  float tile[8 * 2];
  int k;
#define GEMM_R8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define GEMM_VACC(i)                                                                                       \
  __m512 s##i##0 = _mm512_setzero_ps(), s##i##1 = s##i##0;                                                 \
  const float *a##i = a + (int64_t)(i < mr ? i : mr - 1) * lda;
  GEMM_R8(GEMM_VACC)
#undef GEMM_VACC
  for (k = 0; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? 0xFFFF : (__mmask16)((1u << (K - k)) - 1u);
    const __m512 v0 = _mm512_maskz_loadu_ps(m, b0 + k), v1 = _mm512_maskz_loadu_ps(m, b1 + k);
#define GEMM_VFMA(i)                                                                                       \
  {                                                                                                        \
    const __m512 u = _mm512_maskz_loadu_ps(m, a##i + k);                                                   \
    s##i##0 = _mm512_fmadd_ps(u, v0, s##i##0);                                                             \
    s##i##1 = _mm512_fmadd_ps(u, v1, s##i##1);                                                             \
  }
    GEMM_R8(GEMM_VFMA)
#undef GEMM_VFMA
  }
#define GEMM_VRED(i) tile[2 * i] = _mm512_reduce_add_ps(s##i##0), tile[2 * i + 1] = _mm512_reduce_add_ps(s##i##1);
  GEMM_R8(GEMM_VRED)
#undef GEMM_VRED
#undef GEMM_R8
  gemm_epi_scalar(tile, 2, mr, t, c, rsc, csc, bias, res, act, alpha, beta);
}

/* One micro-tile: rows [0, mr) x columns [0, nr) of C at c (column stride
 * 1); pw is the panel width (16, 32 or 48). */
RT_HELPER void gemm_micro(int kc, const float *a, int64_t lda, const float *b, int64_t bs, int pw, int nload, int mr,
                          int nr, float *c, int64_t rsc, const float *bias, const float *res, int act, float alpha,
                          float beta) {
  const int sact = rt_act_vec(act) ? act : RT_ACT_NONE;
  const int last = nload - (pw - 16); /* valid columns of the last vector */
  const __mmask16 bm = (__mmask16)(last >= 16 ? 0xFFFF : (1u << (last > 0 ? last : 0)) - 1u);
#define GEMM_K(rows, nv) \
  gemm_kernel_avx512(kc, a, lda, b, bs, bm, rows, nv, mr, nr, c, rsc, bias, res, sact, alpha, beta, 0, 0, NULL, 0, \
                     NULL)
  /* 8 rows always (a short row tail repeats its last row): each
   * instantiation is a large function, and the 4-row variants cost gcc -O2
   * ~1 s per model for tiles that only output-channel counts off a multiple
   * of 8 have */
  if (pw == 48)
    GEMM_K(8, 3);
  else if (pw == 32)
    GEMM_K(8, 2);
  else
    GEMM_K(8, 1);
#undef GEMM_K
  if (sact != act)
    gemm_act_rows(mr, nr, c, rsc, act, alpha, beta);
}

/* gemm_micro on a full 48-wide panel (column stride 1) with the nt (1..4)
 * tail columns of B (k-contiguous, column j at bt + j*K) fused in: the
 * results are gemm_micro's for the panel and gemm_dot4's for the tail,
 * whose C starts at ct (with its residual rt). */
RT_HELPER void gemm_micro_tail(int kc, const float *a, int64_t lda, const float *b, int mr, int nr, float *c,
                               int64_t rsc, const float *bias, const float *res, int act, float alpha, float beta,
                               int nt, const float *bt, float *ct, const float *rt) {
  const int sact = rt_act_vec(act) ? act : RT_ACT_NONE;
  float tile[GEMM_MR * 4];
  /* two instantiations only (1 tail column: N = 49; 2..4 as 4: N = 196),
   * both 8 rows: each is a large function, and gcc -O2 spent ~3 s of
   * resnet18's compile on the eight (rows x nt) variants this replaced */
#define GEMM_K(t)                                                                                          \
  gemm_kernel_avx512(kc, a, lda, b, 48, 0xFFFF, 8, 3, mr, nr, c, rsc, bias, res, sact, alpha, beta, t, nt, bt, kc, \
                     tile)
  if (nt == 1)
    GEMM_K(1);
  else
    GEMM_K(4);
#undef GEMM_K
  if (sact != act)
    gemm_act_rows(mr, nr, c, rsc, act, alpha, beta);
  gemm_epi_scalar(tile, 4, mr, nt, ct, rsc, 1, bias, rt, act, alpha, beta);
}

#elif defined(__AVX2__) && defined(__FMA__)

#define GEMM_R6(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* 6 x (8*nv) micro-kernel: rows past mr repeat the last valid row of A
 * (computed, never stored), columns past nr are masked at the store. */
RT_INLINE void gemm_kernel_avx2(int kc, const float *a, int64_t lda, const float *b, int64_t bs, const int nv,
                                const int mb, int nload, int mr, int nr, float *c, int64_t rsc, const float *bias,
                                const float *res, int act, float alpha, float beta) {
  const __m256i lb0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nload), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i lb1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nload - 8), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  int k;
#define GEMM_DECL(i)                                                                                       \
  __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();                                     \
  const float *a##i = a + (i < mr ? i : mr - 1) * lda;
  GEMM_R6(GEMM_DECL)
#undef GEMM_DECL
  for (k = 0; k < kc; k++) {
    /* mb: B read in place up to nload columns only (masked loads) */
    const __m256 b0 = mb ? _mm256_maskload_ps(b, lb0) : _mm256_loadu_ps(b);
    const __m256 b1 = nv > 1 ? (mb ? _mm256_maskload_ps(b + 8, lb1) : _mm256_loadu_ps(b + 8)) : b0;
#define GEMM_FMA(i)                                                                                        \
  {                                                                                                        \
    const __m256 s = _mm256_broadcast_ss(a##i + k);                                                        \
    c##i##0 = _mm256_fmadd_ps(s, b0, c##i##0);                                                             \
    if (nv > 1)                                                                                            \
      c##i##1 = _mm256_fmadd_ps(s, b1, c##i##1);                                                           \
  }
    GEMM_R6(GEMM_FMA)
#undef GEMM_FMA
    b += bs;
  }
  {
    /* vector epilogue: rows past mr are not stored, columns past nr are
     * masked (a full vector is a plain store) */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8), lane);
    const int full = mr == 6 && nr == 8 * nv; /* the common tile: no row or column test */
    const int f0 = full || nr >= 8, f1 = full || nr >= 16, n0 = nr < 8 ? nr : 8, n1 = nr - 8;
    /* a partial vector is stored by rt_store8_n: masked stores are slow on
     * AMD cores (Winograd's 12-column panels) */
#define GEMM_EPI(v, cp, rp, bv, full, m, n)                                                                \
  {                                                                                                        \
    __m256 t = _mm256_set1_ps(bv);                                                                         \
    if (rp)                                                                                                \
      t = _mm256_add_ps(t, full ? _mm256_loadu_ps(rp) : _mm256_maskload_ps(rp, m));                        \
    t = rt_act8(_mm256_add_ps(v, t), act, alpha, beta);                                                  \
    if (full)                                                                                              \
      _mm256_storeu_ps(cp, t);                                                                             \
    else                                                                                                   \
      rt_store8_n(cp, t, n);                                                                               \
  }
#define GEMM_STORE(i)                                                                                      \
  if (full || i < mr) {                                                                                    \
    float *ci = c + i * rsc;                                                                               \
    const float *ri = res ? res + i * rsc : NULL;                                                          \
    const float bv = bias ? bias[i] : 0.0f;                                                                \
    GEMM_EPI(c##i##0, ci, ri, bv, f0, m0, n0)                                                              \
    if (nv > 1 && (full || nr > 8))                                                                        \
      GEMM_EPI(c##i##1, ci + 8, ri ? ri + 8 : NULL, bv, f1, m1, n1)                                        \
  }
    if (full) {
      GEMM_R6(GEMM_STORE)
    } else {
      GEMM_R6(GEMM_STORE)
    }
#undef GEMM_STORE
#undef GEMM_EPI
    if (!rt_act_vec(act))
      gemm_act_rows(mr, nr, c, rsc, act, alpha, beta);
  }
}

/* The kernel's four forms as functions of their own: inlined into the
 * panel loop, gcc kept epilogue values live across the k loop and spilled
 * two of the 12 accumulators to the stack (MobileNetV2's 1x1 convs ran at
 * a third of the kernel's speed). */
#define GEMM_KDEF(name, nv, mb)                                                                                        \
  RT_NOINLINE void name(int kc, const float *a, int64_t lda, const float *b, int64_t bs, int nload, int mr, int nr,    \
                        float *c, int64_t rsc, const float *bias, const float *res, int act, float alpha,              \
                        float beta) {                                                                                  \
    gemm_kernel_avx2(kc, a, lda, b, bs, nv, mb, nload, mr, nr, c, rsc, bias, res, act, alpha, beta);                   \
  }
GEMM_KDEF(gemm_avx2_16, 2, 0)
GEMM_KDEF(gemm_avx2_16m, 2, 1)
GEMM_KDEF(gemm_avx2_8, 1, 0)
GEMM_KDEF(gemm_avx2_8m, 1, 1)
#undef GEMM_KDEF

RT_HELPER void gemm_micro(int kc, const float *a, int64_t lda, const float *b, int64_t bs, int pw, int nload, int mr,
                          int nr, float *c, int64_t rsc, const float *bias, const float *res, int act, float alpha,
                          float beta) {
  /* an in-place B readable only to nload columns: masked loads */
  if (pw == 16 && nload < 16)
    gemm_avx2_16m(kc, a, lda, b, bs, nload, mr, nr, c, rsc, bias, res, act, alpha, beta);
  else if (pw == 16)
    gemm_avx2_16(kc, a, lda, b, bs, nload, mr, nr, c, rsc, bias, res, act, alpha, beta);
  else if (nload < 8)
    gemm_avx2_8m(kc, a, lda, b, bs, nload, mr, nr, c, rsc, bias, res, act, alpha, beta);
  else
    gemm_avx2_8(kc, a, lda, b, bs, nload, mr, nr, c, rsc, bias, res, act, alpha, beta);
}

#else

/* Portable 4 x 16: fixed trip counts so compilers unroll and vectorize the j
 * loop; the accumulators are a local array that never aliases A, B or C. */
RT_HELPER void gemm_micro(int kc, const float *a, int64_t lda, const float *b, int64_t bs, int pw, int nload, int mr,
                          int nr, float *c, int64_t rsc, const float *bias, const float *res, int act, float alpha,
                          float beta) {
  float acc[GEMM_MR][GEMM_NR];
  const float *ar[GEMM_MR];
  int i, j, k;
  (void)pw;
  for (i = 0; i < GEMM_MR; i++) {
    ar[i] = a + (i < mr ? i : mr - 1) * lda;
    for (j = 0; j < GEMM_NR; j++)
      acc[i][j] = 0.0f;
  }
  if (nload >= GEMM_NR) {
    for (k = 0; k < kc; k++) {
      const float *bk = b + k * bs;
      for (i = 0; i < GEMM_MR; i++) {
        const float s = ar[i][k];
        for (j = 0; j < GEMM_NR; j++)
          acc[i][j] += s * bk[j];
      }
    }
  } else { /* an in-place B readable only to nload columns (the same sums) */
    for (k = 0; k < kc; k++) {
      const float *bk = b + k * bs;
      for (i = 0; i < GEMM_MR; i++) {
        const float s = ar[i][k];
        for (j = 0; j < nload; j++)
          acc[i][j] += s * bk[j];
      }
    }
  }
  gemm_epi_scalar(&acc[0][0], GEMM_NR, mr, nr, c, rsc, 1, bias, res, act, alpha, beta);
}

#endif

#if !defined(__AVX512F__)
/* Portable dot-product form (see the AVX-512 gemm_dot4): 16 interleaved
 * partial sums per output, reduced pairwise in a fixed order. */
RT_HELPER void gemm_dot4(int K, const float *a, int64_t lda, const float *bt, int64_t ldbt, int mr, int t,
                         float *c, int64_t rsc, int64_t csc, const float *bias, const float *res, int act, float alpha,
                         float beta) {
  float tile[4 * 4];
  int i, j;
  for (i = 0; i < mr; i++)
    for (j = 0; j < t; j++) {
      const float *ar = a + i * lda, *br = bt + j * ldbt;
      float acc[16];
      int k, l, h;
      for (l = 0; l < 16; l++)
        acc[l] = 0.0f;
      for (k = 0; k + 16 <= K; k += 16)
        for (l = 0; l < 16; l++)
          acc[l] += ar[k + l] * br[k + l];
      for (l = 0; k + l < K; l++)
        acc[l] += ar[k + l] * br[k + l];
      for (h = 8; h > 0; h /= 2)
        for (l = 0; l < h; l++)
          acc[l] += acc[l + h];
      tile[i * 4 + j] = acc[0];
    }
  gemm_epi_scalar(tile, 4, mr, t, c, rsc, csc, bias, res, act, alpha, beta);
}
#endif

/* --------------------------------------------------------------- packing */

RT_FN size_t rt_gemm_scratch(int M, int N, int K) {
  (void)M;
  /* RT_GEMM_VL <= 16 everywhere, so this bound holds for every build. */
  return (size_t)K * (size_t)((N + 15) / 16 * 16) * sizeof(float) + 64;
}

RT_FN void rt_gemm_pack_b(int K, int N, const float *B, int64_t rsb, int64_t csb, float *Bp) {
  const int nmain = RT_GEMM_NMAIN(N), np = (nmain + GEMM_NR - 1) / GEMM_NR;
  int p;

  RT_OMP(parallel for schedule(static) if((int64_t)K * N >= RT_PAR_MIN_WORK))
  for (p = 0; p <= np; p++) {
    int k, j;
    if (p == np) { /* tail columns, k-major */
      for (j = nmain; j < N; j++)
        for (k = 0; k < K; k++)
          Bp[(int64_t)j * K + k] = B[k * rsb + j * csb];
    } else {
      const int n0 = p * GEMM_NR, w = nmain - n0 < GEMM_NR ? nmain - n0 : GEMM_NR;
      const int pw = RT_GEMM_PANEL_W(N, n0);
      float *dst = Bp + (int64_t)n0 * K;
      for (k = 0; k < K; k++) {
        const float *src = B + k * rsb + n0 * csb;
        float *d = dst + (int64_t)k * pw;
        if (csb == 1) {
          for (j = 0; j < w; j++)
            d[j] = src[j];
        } else {
          for (j = 0; j < w; j++)
            d[j] = src[j * csb];
        }
        for (; j < pw; j++)
          d[j] = 0.0f;
      }
    }
  }
}

/* ------------------------------------------------------------------ tasks */

/* Column split of g: main columns (panels), tail columns (packed B only). */
RT_INLINE void gemm_split(const RtGemm *g, int *nmain, int *np, int *npt) {
  *nmain = g->ldb && !g->Bt ? g->N : RT_GEMM_NMAIN(g->N);
  *np = (*nmain + GEMM_NR - 1) / GEMM_NR;
  *npt = *np + (*nmain < g->N); /* the tail counts as one more panel */
}

RT_FN int rt_gemm_npanels(const RtGemm *g) {
  int nmain, np, npt;
  gemm_split(g, &nmain, &np, &npt);
  return npt;
}

/* Rows [m0, m1) x panels [p0, p1) of C.  Each panel of B is swept by all
 * the 8-row slivers while it is hot in L1/L2, and the rows of A stay in L2
 * across the panels.  K is not split: measured on this core, whole-K sums
 * ran as fast as 128..512 blocks (the B panel streams from L2 at 3 lines per
 * 12 cycles, well within its bandwidth), and they keep the epilogue a single
 * pass.  Row slivers start at m0 + 8j, so any split of the rows into blocks
 * that are multiples of 8 computes every element identically. */
/* Tail columns [j0, j1) (nmain <= j0, j1 <= N) of rows [i0, i1): dot
 * products, 4 x 4 at a time (each column's sum is the same in any group). */
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
/* The AVX2 panels' tail: mr (<= 6) rows of A against t (<= 8) k-major
 * columns, two columns per pass over k: 12 accumulators of 8 lanes (k % 8),
 * 8 loads per 12 FMAs, each output reduced in one fixed order (so the same
 * bits in any row or column grouping).  gemm_dot4's 2 x 2 blocks re-read
 * A and B from L2 for every block: on long rows (TDNN's 1-D convs, K =
 * 2304..3840) that made the tail slower than an 8-wide panel. */
RT_HELPER void gemm_tail6(int K, const float *a, int64_t lda, const float *bt, int64_t ldbt, int mr, int t, float *c,
                          int64_t rsc, int64_t csc, const float *bias, const float *res, int act, float alpha,
                          float beta) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i mt = _mm256_cmpgt_epi32(_mm256_set1_epi32(K % 8), lane);
  float tile[6 * 8];
  int j;
  for (j = 0; j < t; j += 2) {
    const float *b0 = bt + (int64_t)j * ldbt, *b1 = bt + (int64_t)(j + 1 < t ? j + 1 : j) * ldbt;
    int k, i;
#define GEMM_TDECL(i)                                                                                      \
  const float *a##i = a + (int64_t)(i < mr ? i : mr - 1) * lda;                                            \
  __m256 s##i##0 = _mm256_setzero_ps(), s##i##1 = s##i##0;
    GEMM_R6(GEMM_TDECL)
#undef GEMM_TDECL
#define GEMM_TFMA(i)                                                                                       \
  {                                                                                                        \
    const __m256 u = LD(a##i);                                                                             \
    s##i##0 = _mm256_fmadd_ps(u, v0, s##i##0);                                                             \
    s##i##1 = _mm256_fmadd_ps(u, v1, s##i##1);                                                             \
  }
#define LD(p) _mm256_loadu_ps((p) + k)
    for (k = 0; k + 8 <= K; k += 8) {
      const __m256 v0 = LD(b0), v1 = LD(b1);
      GEMM_R6(GEMM_TFMA)
    }
#undef LD
    if (k < K) { /* masked loads read zeros past K */
#define LD(p) _mm256_maskload_ps((p) + k, mt)
      const __m256 v0 = LD(b0), v1 = LD(b1);
      GEMM_R6(GEMM_TFMA)
#undef LD
    }
#undef GEMM_TFMA
    {
      __m256 r[12];
#define GEMM_TRED(i) r[2 * i] = s##i##0, r[2 * i + 1] = s##i##1;
      GEMM_R6(GEMM_TRED)
#undef GEMM_TRED
      for (i = 0; i < 12; i++) { /* 8 lanes -> 1, the same tree for every output */
        const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(r[i]), _mm256_extractf128_ps(r[i], 1));
        const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        if (j + i % 2 < t)
          tile[(i / 2) * 8 + j + i % 2] = _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
      }
    }
  }
  gemm_epi_scalar(tile, 8, mr, t, c, rsc, csc, bias, res, act, alpha, beta);
}
#undef GEMM_R6
#endif

RT_HELPER void gemm_tail_rows(const RtGemm *g, int nmain, int j0, int j1, int i0, int i1) {
  const int K = g->K;
  const float *tb = g->ldb ? g->Bt : g->Bp + (int64_t)nmain * K; /* column nmain */
  int i, j;
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
  for (i = i0; i < i1; i += 6)
    for (j = j0; j < j1; j += 8) {
      const int64_t o = i * g->rsc + j * g->csc;
      gemm_tail6(K, g->A + i * g->lda, g->lda, tb + (int64_t)(j - nmain) * K, K, i1 - i < 6 ? i1 - i : 6,
                 j1 - j < 8 ? j1 - j : 8, g->C + o, g->rsc, g->csc, g->bias ? g->bias + i : NULL,
                 g->res ? g->res + o : NULL, g->act, g->alpha, g->beta);
    }
#else
  /* columns in fours (a last 3 too); a last 1 or 2 with AVX-512 in 8-row
   * steps by gemm_dot82 */
#if defined(__AVX512F__)
  const int j2 = j1 - j0 > 0 && (j1 - j0) % 4 > 0 && (j1 - j0) % 4 <= 2 ? j1 - (j1 - j0) % 4 : j1;
#else
  const int j2 = j1;
#endif
  for (i = i0; i < i1; i += 4) {
    const int mr = i1 - i < 4 ? i1 - i : 4;
    for (j = j0; j < j2; j += 4) {
      const int64_t o = i * g->rsc + j * g->csc;
      gemm_dot4(K, g->A + i * g->lda, g->lda, tb + (int64_t)(j - nmain) * K, K, mr, j2 - j < 4 ? j2 - j : 4,
                g->C + o, g->rsc, g->csc, g->bias ? g->bias + i : NULL, g->res ? g->res + o : NULL, g->act,
                g->alpha, g->beta);
    }
  }
#if defined(__AVX512F__)
  for (i = i0; i < i1 && j2 < j1; i += 8) {
    const int64_t o = i * g->rsc + j2 * g->csc;
    gemm_dot82(K, g->A + i * g->lda, g->lda, tb + (int64_t)(j2 - nmain) * K, K, i1 - i < 8 ? i1 - i : 8, j1 - j2,
               g->C + o, g->rsc, g->csc, g->bias ? g->bias + i : NULL, g->res ? g->res + o : NULL, g->act,
               g->alpha, g->beta);
  }
#endif
#endif
}

RT_FN void rt_gemm_panels(const RtGemm *g, int p0, int p1, int m0, int m1) {
  int nmain, np, npt, p, i;
  const int K = g->K;
  gemm_split(g, &nmain, &np, &npt);
  {
    const int npad = g->ldb ? (g->N + GEMM_VL - 1) / GEMM_VL * GEMM_VL : RT_GEMM_NPAD(g->N);
    int fused;
    if (p1 > npt)
      p1 = npt;
    /* With the last main panel and the tail in this block, each row sliver
     * does its tail right after its panel, while its rows of A are hot: with
     * a long K (ResNet's 7x7 stage: 8 rows x 4608) a separate tail pass
     * would stream A from memory a second time. */
    fused = np > 0 && npt > np && p0 <= np - 1 && np < p1;
    for (p = p0; p < p1; p++) {
      if (p == np) {
        if (!fused)
          gemm_tail_rows(g, nmain, nmain, g->N, m0, m1);
        continue;
      }
      {
        const int n0 = p * GEMM_NR, nr = nmain - n0 < GEMM_NR ? nmain - n0 : GEMM_NR;
        const int pw = npad - n0 < GEMM_NR ? npad - n0 : GEMM_NR;
        /* packed: the panel's rows are pw apart; unpacked: ldb apart */
        const float *bp = g->ldb ? g->Bp + n0 : g->Bp + (int64_t)n0 * K;
        const int64_t bs = g->ldb ? g->ldb : pw;
        const int nload = g->ldb && g->bexact ? nr : pw; /* columns the loads may touch */
        for (i = m0; i < m1; i += GEMM_MR) {
          const int mr = m1 - i < GEMM_MR ? m1 - i : GEMM_MR;
          const float *a = g->A + i * g->lda;
          const float *bias = g->bias ? g->bias + i : NULL;
          const int64_t o = i * g->rsc + n0 * g->csc;
          if (K <= 0) { /* no terms: C = act(bias + R) */
            float zero[GEMM_MR * GEMM_NR] = {0.0f};
            gemm_epi_scalar(zero, GEMM_NR, mr, nr, g->C + o, g->rsc, g->csc, bias, g->res ? g->res + o : NULL,
                            g->act, g->alpha, g->beta);
          }
#if defined(__AVX512F__)
          else if (fused && p == np - 1 && g->csc == 1 && g->N - nmain == 1) {
            /* one tail column (7x7 maps: 48 + 1): the panel, then the column
             * by gemm_dot_col8 while the sliver's rows of A are in L1 (the
             * same sums as gemm_dot4); 0.93-0.97x the time of riding it along
             * in gemm_micro_tail's k loop, whose 8 extra accumulators spill
             * (960x49x160: 66.4 -> 64.7 us, 1280x49x320: 166 -> 159) */
            const float *tb = g->ldb ? g->Bt : g->Bp + (int64_t)nmain * K;
            const int64_t ot = i * g->rsc + nmain;
            gemm_micro(K, a, g->lda, bp, bs, pw, nload, mr, nr, g->C + o, g->rsc, bias, g->res ? g->res + o : NULL,
                       g->act, g->alpha, g->beta);
            gemm_dot_col8(K, a, g->lda, tb, mr, g->C + ot, g->rsc, bias, g->res ? g->res + ot : NULL, g->act,
                          g->alpha, g->beta);
            continue;
          } else if (fused && p == np - 1 && g->csc == 1 && pw == 48 && nr == 48 && g->N - nmain <= 4 &&
                     g->ldb == 0) {
            /* the tail columns inside the last panel's k loop */
            const int64_t ot = i * g->rsc + nmain;
            gemm_micro_tail(K, a, g->lda, bp, mr, nr, g->C + o, g->rsc, bias, g->res ? g->res + o : NULL, g->act,
                            g->alpha, g->beta, g->N - nmain, g->Bp + (int64_t)nmain * K, g->C + ot,
                            g->res ? g->res + ot : NULL);
            continue;
          }
#endif
          else if (g->csc == 1) {
            gemm_micro(K, a, g->lda, bp, bs, pw, nload, mr, nr, g->C + o, g->rsc, bias, g->res ? g->res + o : NULL,
                       g->act, g->alpha, g->beta);
          } else {
            /* Strided C (a transposed output): compute the raw tile, then
             * merge it with the scalar epilogue. */
            float tile[GEMM_MR * GEMM_NR];
            gemm_micro(K, a, g->lda, bp, bs, pw, nload, mr, nr, tile, GEMM_NR, NULL, NULL, RT_ACT_NONE, 0.0f, 0.0f);
            gemm_epi_scalar(tile, GEMM_NR, mr, nr, g->C + o, g->rsc, g->csc, bias, g->res ? g->res + o : NULL,
                            g->act, g->alpha, g->beta);
          }
          if (fused && p == np - 1)
            gemm_tail_rows(g, nmain, nmain, g->N, i, i + mr);
        }
      }
    }
  }
}

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
/* Columns [n0, n1) x rows [m0, m1) of a GEMM whose B is read in place with
 * exact loads (ldb, bexact; C's columns contiguous), in GEMM_NR-wide pieces from
 * n0, whatever its alignment; the tail columns from nmain on go to the dot
 * kernel as in rt_gemm_panels, so every element is the same sum. */
RT_HELPER void gemm_cols(const RtGemm *g, int n0, int n1, int m0, int m1) {
  int nmain, np, npt, j, i;
  gemm_split(g, &nmain, &np, &npt);
  for (j = n0; j < (n1 < nmain ? n1 : nmain); j += GEMM_NR) {
    const int e = n1 < nmain ? n1 : nmain, nr = e - j < GEMM_NR ? e - j : GEMM_NR;
    const int pw = (nr + GEMM_VL - 1) / GEMM_VL * GEMM_VL;
    for (i = m0; i < m1; i += GEMM_MR) {
      const int mr = m1 - i < GEMM_MR ? m1 - i : GEMM_MR;
      const int64_t o = i * g->rsc + j;
      gemm_micro(g->K, g->A + i * g->lda, g->lda, g->Bp + j, g->ldb, pw, nr, mr, nr, g->C + o, g->rsc,
                 g->bias ? g->bias + i : NULL, g->res ? g->res + o : NULL, g->act, g->alpha, g->beta);
    }
  }
  if (n1 > nmain)
    gemm_tail_rows(g, nmain, n0 > nmain ? n0 : nmain, n1, m0, m1);
}
#endif

/* Rows of C per task: the fewest blocks of at most GEMM_MC rows (each block
 * sweeps B once), of equal size up to a multiple of 8, so that a static
 * split of the m-major tasks gives the threads equal work and contiguous
 * output channels.  The blocking does not change any result: each element
 * of C is one micro-kernel sum. */
RT_INLINE int gemm_mc(int M) {
  const int nb = (M + GEMM_MC - 1) / GEMM_MC, mc = nb > 1 ? (M + nb - 1) / nb : M;
  return mc > 8 ? (mc + 7) / 8 * 8 : 8;
}

/* The rows per task with tn column groups: gemm_mc, or, with fewer than
 * four tasks (a narrow map: 7x7 has one column group), blocks small enough
 * for four, so two threads share them evenly (MobileNetV2's 160-row 7x7
 * projections: 3 blocks ran at 0.75 of their 1-thread time). */
RT_INLINE int gemm_mc_tasks(int M, int tn) {
  const int mc = gemm_mc(M), nb = (M + mc - 1) / mc;
  if (nb * tn < 4 && !(nb == 2 && tn == 1) && M >= 32) { /* two row blocks already halve evenly */
    const int want = (4 + tn - 1) / tn, m = (M + want - 1) / want;
    return (m + 7) / 8 * 8;
  }
  return mc;
}

/* Column groups of the tasks: GEMM_NCP main panels each, the tail columns
 * (at most 8) with the last group.  A group of its own for them made
 * unequal tasks (GoogLeNet's 160 x 196 1x1s: 3 row blocks x (4 panels, 4
 * columns), 2 threads 2.2 : 1). */
RT_INLINE int gemm_tn(const RtGemm *g, int *np, int *npt) {
  int nmain;
  gemm_split(g, &nmain, np, npt);
  return *np > 0 ? (*np + GEMM_NCP - 1) / GEMM_NCP : 1;
}

/* Panels [p0, p1) of rows [m0, m1), p1 past the main panels taking the
 * tail: inside the last panel's pass (gemm_micro_tail) only when np is not
 * a multiple of GEMM_NCP, as when the tail counted as a panel of the groups
 * (MobileNetV2's 14x14 1x1s, 4 panels and 4 columns, ran 2% slower with it
 * inside). */
RT_INLINE void gemm_group(const RtGemm *g, int p0, int p1, int np, int npt, int m0, int m1) {
  if (p1 == npt && npt > np && np % GEMM_NCP == 0 && p0 < np) {
    rt_gemm_panels(g, p0, np, m0, m1);
    rt_gemm_panels(g, np, npt, m0, m1);
  } else {
    rt_gemm_panels(g, p0, p1, m0, m1);
  }
}

RT_FN int rt_gemm_ntasks(const RtGemm *g) {
  int np, npt;
  const int tn = gemm_tn(g, &np, &npt), mc = gemm_mc_tasks(g->M, tn);
  return ((g->M + mc - 1) / mc) * tn;
}

/* Task t: rows [m0, m0 + gemm_mc_tasks(M, tn)) x panels [p0, p0 + GEMM_NCP)
 * (the last group to the end, the tail included). */
RT_FN void rt_gemm_task(const RtGemm *g, int t) {
  int np, npt;
  const int tn = gemm_tn(g, &np, &npt), mc = gemm_mc_tasks(g->M, tn);
  const int m0 = (t / tn) * mc, p0 = (t % tn) * GEMM_NCP, p1 = t % tn == tn - 1 ? npt : p0 + GEMM_NCP;
  gemm_group(g, p0, p1, np, npt, m0, g->M - m0 < mc ? g->M : m0 + mc);
}

/* C = act(bias + res + A B) with B given by columns (column j at
 * Bt + j*ldbt, k contiguous): the dot-product form, 4 x 4 blocks of C, one
 * task per block. */
RT_FN void rt_gemm_dot(int M, int N, int K, const float *A, int64_t lda, const float *Bt, int64_t ldbt, float *C,
                       int64_t rsc, int64_t csc, const float *bias, const float *res, int act, float alpha,
                       float beta) {
  const int mb = (M + 3) / 4, nb = (N + 3) / 4;
  int64_t t;
#if defined(__AVX512F__)
  if (N == 1) { /* matrix-vector: 8 rows per task, no duplicated columns;
                  * memory-bound (each weight read once), so parallel from
                  * half a MiB of weights (~50 us from L3 or DRAM) */
    RT_PAR_FOR((int64_t)M * K >= RT_PAR_MIN_ELEMS / 8, static, t, (M + 7) / 8,
      const int i = (int)t * 8;
      gemm_dot_col8(K, A + i * lda, lda, Bt, M - i < 8 ? M - i : 8, C + i * rsc, rsc, bias ? bias + i : NULL,
                    res ? res + i * rsc : NULL, act, alpha, beta);
    );
    return;
  }
#endif
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
  if (N == 1) { /* matrix-vector, as above: 8 rows per task, gemm_dot4's one-column form */
    RT_PAR_FOR((int64_t)M * K >= RT_PAR_MIN_ELEMS / 8, static, t, (M + 7) / 8,
      const int i = (int)t * 8, m8 = M - i < 8 ? M - i : 8;
      gemm_dot4(K, A + i * lda, lda, Bt, ldbt, m8 < 4 ? m8 : 4, 1, C + i * rsc, rsc, csc, bias ? bias + i : NULL,
                res ? res + i * rsc : NULL, act, alpha, beta);
      if (m8 > 4)
        gemm_dot4(K, A + (i + 4) * lda, lda, Bt, ldbt, m8 - 4, 1, C + (i + 4) * rsc, rsc, csc,
                  bias ? bias + i + 4 : NULL, res ? res + (i + 4) * rsc : NULL, act, alpha, beta);
    );
    return;
  }
#endif
  RT_PAR_FOR((int64_t)M * N * K >= RT_PAR_MIN_WORK, static, t, (int64_t)mb * nb,
    /* the N block fastest: consecutive tasks reuse the same rows of A */
    const int i = (int)(t / nb) * 4, j = (int)(t % nb) * 4;
    const int64_t o = i * rsc + j * csc;
    gemm_dot4(K, A + i * lda, lda, Bt + j * ldbt, ldbt, M - i < 4 ? M - i : 4, N - j < 4 ? N - j : 4, C + o, rsc,
              csc, bias ? bias + i : NULL, res ? res + o : NULL, act, alpha, beta);
  );
}

RT_FN void rt_gemm_packed(const RtGemm *g) {
  const int nt = rt_gemm_ntasks(g), par = (int64_t)g->M * g->N * g->K >= RT_PAR_MIN_WORK_CH;
  int t;
  (void)par; /* read only by the OpenMP pragmas */
  /* by pixels only with one block of rows: with several, the tasks split
   * the output channels, which measured better for wide layers (MobileNetV2's
   * 14x14 expand 1x1s 0.58-0.61 of their 1-thread time at 2 threads split by
   * channels, 0.67-0.75 by pixels; its 64-channel projections 1.08-1.11 as
   * one block of rows, 0.85 by pixels) */
  const int pix = g->pix && gemm_mc(g->M) >= g->M;
#ifdef _OPENMP
  const int one = !par || omp_get_max_threads() == 1;
#else
  const int one = 1;
#endif
  (void)pix;
  if (one) {
    /* one thread: blocks of gemm_mc rows, each sweeping B once (the tasks'
     * smaller blocks, cut so two threads share a narrow map, swept it up to
     * twice as often: MobileNetV2's 64 x 196 projections) */
    const int mc = gemm_mc(g->M);
    int np, npt, m0, q;
    const int tn = gemm_tn(g, &np, &npt);
    for (m0 = 0; m0 < g->M; m0 += mc)
      for (q = 0; q < tn; q++)
        gemm_group(g, q * GEMM_NCP, q == tn - 1 ? npt : q * GEMM_NCP + GEMM_NCP, np, npt, m0,
                   g->M - m0 < mc ? g->M : m0 + mc);
    return;
  }
#if defined(_OPENMP) && (defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
  if (par && pix && g->pixw > 0 && g->ldb && g->bexact && g->csc == 1 && g->K > 0) {
    /* each thread whole rows of pixels (units of pixw columns: the layer
     * after it, split by rows too, reads what this thread wrote) */
    const int mc = gemm_mc(g->M), span = GEMM_NR * GEMM_NCP;
    RT_PAR_RANGE(1, (g->N + g->pixw - 1) / g->pixw, u0, u1,
      const int n0 = (int)u0 * g->pixw, n1 = (int)u1 * g->pixw < g->N ? (int)u1 * g->pixw : g->N;
      int m0, q;
      for (m0 = 0; m0 < g->M; m0 += mc)
        for (q = n0; q < n1; q += span)
          gemm_cols(g, q, n1 - q < span ? n1 : q + span, m0, g->M - m0 < mc ? g->M : m0 + mc);
    );
    return;
  }
#endif
#ifdef _OPENMP
  if (par && pix) {
    /* each thread its share of the main column panels (the last share the
     * tail too), all rows, in the same blocks as the tasks (row blocks
     * outer, GEMM_NCP panels inner) */
    const int mc = gemm_mc(g->M);
    int np, npt;
    (void)gemm_tn(g, &np, &npt);
    RT_PAR_RANGE(1, np > 0 ? np : npt, p0, p1,
      const int pe = np > 0 && (int)p1 == np ? npt : (int)p1;
      int m0, q;
      for (m0 = 0; m0 < g->M; m0 += mc)
        for (q = (int)p0; q < (int)p1; q += GEMM_NCP)
          gemm_group(g, q, q + GEMM_NCP >= (int)p1 ? pe : q + GEMM_NCP, np, npt, m0, g->M - m0 < mc ? g->M : m0 + mc);
    );
    return;
  }
#endif
  RT_PAR_FOR(par, static, t, nt, rt_gemm_task(g, t););
}

RT_FN void rt_gemm(int M, int N, int K, const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                   int64_t ldc, const float *bias, const float *res, int act, float alpha, float beta,
                   void *scratch) {
  RtGemm g;
  float *bp = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  if (M <= 0 || N <= 0)
    return;
  rt_gemm_pack_b(K, N, B, ldb, 1, bp);
  g.M = M, g.N = N, g.K = K;
  g.A = A, g.lda = lda, g.Bp = bp, g.ldb = 0, g.Bt = NULL, g.bexact = 0;
  g.C = C, g.rsc = ldc, g.csc = 1;
  g.bias = bias, g.res = res;
  g.act = act, g.alpha = alpha, g.beta = beta;
  rt_gemm_packed(&g);
}
