/* winograd.c - Winograd convolution F(2x2,3x3) and F(4x4,3x3).
 *
 * For 3x3 convolutions with stride 1, dilation 1 and one group (any padding,
 * any size, any batch).  With output tile m (2 or 4) and a = m + 2:
 *
 *   y(tile) = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A
 *
 * computed as a*a = 36 (or 16) independent GEMMs, one per position xi of the
 * a x a transformed tile, in one of two orientations chosen from the shape
 * alone (wino_trows), because the GEMM needs one long dimension:
 *
 *  - K-rows (many tiles per sample T, or few channels):
 *    M_xi[K][T] = U_xi[K][C] V_xi[C][T], tiles along the GEMM's vector
 *    dimension; the transforms work on strips of 16 horizontally adjacent
 *    tiles (one tile per lane), and the map is processed in blocks of whole
 *    tile rows (input transform, GEMMs, output transform back to back) so
 *    a block's V and M stay in L2 (see WinoGeo);
 *  - T-rows (few tiles: 28x28 and smaller maps with enough channels, see
 *    wino_trows): M_xi^T[T][K] = V_xi^T[T][C] U_xi^T[C][K], output channels
 *    along the vector dimension; the transforms work on 16 channels of a
 *    chunk of tiles of one tile row, moved between the NCHW maps and
 *    channel vectors by in-register 16 x 16 transposes (wino_tr16).
 *
 *  - U = G g G^T is computed once, at compile time, in double precision
 *    (rt_winograd_weights), in the layout of the orientation; the generated
 *    code embeds U instead of g, and rt_conv2d(RT_ALGO_WINOGRAD) reads it.
 *  - V (input transform) and M (GEMM output) live in the caller's scratch,
 *    rows padded to an odd multiple of 16 floats so the GEMM reads them in
 *    place (RtGemm.ldb) without cache-set conflicts.
 *  - The output transform adds bias and residual and applies the activation.
 *
 * Guarantees:
 *  - every V, M and y element is written by exactly one task of a parallel
 *    loop, in an order fixed by the shapes: results do not depend on the
 *    thread count;
 *  - no heap, no globals; scratch = rt_winograd_scratch(p) bytes, the same for
 *    every instruction set;
 *  - the AVX-512 transforms are vectorized (permutes to de-interleave tile
 *    strips, transposes for channel vectors) and specialized for m = 2 and
 *    4; AVX2+FMA builds do the same on 8 lanes (strips of 8 tiles, 8
 *    channels per transpose); other builds use a per-tile scalar transform
 *    with the same operations per element.
 *
 * Accuracy: F(4,3) uses the points 0, +-1, +-2; the transforms grow values
 * by at most ~10x, so fp32 results stay within ~1e-5 relative of fp64 on
 * realistic layers (tests/unit_fastconv.c checks 1e-4 * max(1, max|y|)).
 */
#include "cnnc_rt.h"

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

/* Output tile size of p: 2 or 4 (RtConv.tile; 0 means 4). */
RT_INLINE int wino_m(const RtConv *p) { return p->tile == 2 ? 2 : 4; }

/* Padded row length of V and M for T tiles: a multiple of 16 that is odd in
 * units of 16, so consecutive rows fall in different L1 sets. */
RT_INLINE int64_t wino_row(int64_t T) {
  int64_t t = (T + 15) / 16 * 16;
  if ((t / 16) % 2 == 0)
    t += 16;
  return t;
}

RT_FN int rt_winograd_applies(const RtConv *p) {
  return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1 && p->dh == 1 && p->dw == 1 && p->groups == 1 &&
         p->OH > 0 && p->OW > 0;
}

/* The transposed orientation (output channels along the GEMM vectors) needs
 * few tiles to lose little in the tile direction and enough channels for its
 * gathered 16-channel transforms and 16-wide vectors to pay.  Measured
 * (bench/run.sh --layers) on ResNet-18/GoogLeNet/CIFAR shapes: it wins on
 * 28x28 and smaller maps with >= 32 channels in and >= 64 out (or the
 * reverse), and on any map of <= 16 tiles; 56x56 (T = 196) and 16-channel
 * 32x32 layers stay with tiles along the vectors. */
enum { WINO_TROWS_T = 128 };

RT_INLINE int64_t wino_tiles(const RtConv *p) {
  const int m = wino_m(p);
  return (int64_t)((p->OH + m - 1) / m) * ((p->OW + m - 1) / m);
}

RT_INLINE int wino_trows(const RtConv *p) {
  const int64_t T = wino_tiles(p);
  return T < WINO_TROWS_T && (T <= 16 || (p->C >= 32 && p->K >= 64) || (p->C >= 64 && p->K >= 32));
}

RT_FN size_t rt_winograd_weights_size(const RtConv *p) {
  const int a = wino_m(p) + 2;
  if (wino_trows(p))
    return (size_t)a * a * (size_t)p->C * (size_t)wino_row(p->K);
  return (size_t)a * a * (size_t)p->K * (size_t)p->C;
}

/* U = G g G^T in double, rounded once to float: U[xi][k][c], or with the
 * transposed orientation U[xi][c][k] with rows of wino_row(K) floats
 * (zero-padded). */
RT_FN void rt_winograd_weights(const RtConv *p, const float *w, float *u) {
  static const double g4[6][3] = {{1.0 / 4, 0, 0},
                                  {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                  {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                  {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                  {0, 0, 1}};
  static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  const int m = wino_m(p), a = m + 2, tr = wino_trows(p);
  const int64_t kp = wino_row(p->K), xs = tr ? (int64_t)p->C * kp : (int64_t)p->K * p->C;
  /* outer/inner so that consecutive (k, c) write consecutive floats */
  const int64_t no = tr ? p->C : p->K, ni = tr ? p->K : p->C;
  int64_t io, ii;
  for (io = 0; io < no; io++) {
    for (ii = 0; ii < ni; ii++) {
      const int64_t k = tr ? ii : io, c = tr ? io : ii;
      const float *g = w + (k * p->C + c) * 9;
      const int64_t o = tr ? c * kp + k : k * p->C + c;
      double t[6][3];
      int i, j, l;
      for (i = 0; i < a; i++)
        for (j = 0; j < 3; j++) {
          double s = 0;
          for (l = 0; l < 3; l++)
            s += (m == 4 ? g4[i][l] : g2[i][l]) * g[l * 3 + j];
          t[i][j] = s;
        }
      for (i = 0; i < a; i++)
        for (j = 0; j < a; j++) {
          double s = 0;
          for (l = 0; l < 3; l++)
            s += t[i][l] * (m == 4 ? g4[j][l] : g2[j][l]);
          u[(int64_t)(i * a + j) * xs + o] = (float)s;
        }
    }
    if (tr) /* zero the row padding of channel io */
      for (ii = (int64_t)p->K; ii < kp; ii++) {
        int xi;
        for (xi = 0; xi < a * a; xi++)
          u[(int64_t)xi * xs + io * kp + ii] = 0.0f;
      }
  }
}

/* Geometry of one call, per sample.
 *
 * K-rows works on blocks of R whole tile rows at a time (wino_kblock): the
 * input transform of the block, its a*a GEMMs and its output transform run
 * back to back, so V and M of a block (a "slot" of about WINO_BLOCK_BYTES)
 * stay in L2 instead of streaming the whole map's V and M through memory.
 * Blocks are independent; up to WINO_SLOTS of them run in parallel, each
 * thread in its own slot.  A map of four tile rows or more that fits one
 * block is cut into two all the same, so two threads can share it; their
 * slots go parallel from WINO_SLOT_PAR multiply-adds, a quarter of the
 * one-pass threshold (each slot runs its block's three loops alone, one
 * fork/join in all).  CIFAR ResNet's 16-channel 32x32 layers (0.59 M
 * multiply-adds in the GEMMs, ~40 us) had stayed serial: the model ran
 * 0.85x its time at 2 threads in bench/ab.sh, U-Net 0.93x, the others
 * unchanged (same bits) and 1.00x at 1 thread.  T-rows keeps whole-map V
 * and M (T < 128 tiles); its three loops split across threads lost 11% on
 * CIFAR ResNet at this threshold. */
enum { WINO_BLOCK_BYTES = 640 * 1024, WINO_SLOTS = 4 };
/* WINO_SPLIT2 (the cut into two) sizes the scratch: a -D for A/B runs must
 * also be in the cnnc that sizes the arena (see bench/ab.sh). */
#ifndef WINO_SPLIT2
#define WINO_SPLIT2 1
#endif
#ifndef WINO_SLOT_PAR
#define WINO_SLOT_PAR (RT_PAR_MIN_WORK_CH / 4)
#endif

typedef struct WinoGeo {
  int m, a, th, tw;  /* tile size, transformed size, tiles down and across */
  int64_t T;         /* tiles per sample */
  int nstrip;        /* AVX-512 strips of 16 tiles per tile row */
  /* K-rows: R tile rows per block, nblk blocks, nslot slots of slot floats;
   * V[xi][C][ld] and M[xi][K][ld] of a block with xi strides vs and ms */
  int R, nblk, nslot;
  int64_t ld, vs, ms, slot;
} WinoGeo;

RT_INLINE void wino_geo(const RtConv *p, WinoGeo *g) {
  const int64_t per = (int64_t)(wino_m(p) + 2) * (wino_m(p) + 2) * ((int64_t)p->C + p->K) * 4;
  int64_t want;
  g->m = wino_m(p);
  g->a = g->m + 2;
  g->th = (p->OH + g->m - 1) / g->m;
  g->tw = (p->OW + g->m - 1) / g->m;
  g->T = (int64_t)g->th * g->tw;
  g->nstrip = (g->tw + 15) / 16;
  /* tiles per block: WINO_BLOCK_BYTES worth, whole tile rows, at least one;
   * then the rows spread evenly over the blocks */
  want = WINO_BLOCK_BYTES / per / g->tw;
  g->R = want < 1 ? 1 : want > g->th ? g->th : (int)want;
  g->nblk = (g->th + g->R - 1) / g->R;
#if WINO_SPLIT2
  if (g->nblk == 1 && g->th >= 4) /* two blocks, so two threads can share a small map */
    g->nblk = 2;
#endif
  g->R = (g->th + g->nblk - 1) / g->nblk;
  g->nslot = g->nblk < WINO_SLOTS ? g->nblk : WINO_SLOTS;
  g->ld = ((int64_t)g->R * g->tw + 15) / 16 * 16;
  /* odd multiples of 16 floats between the a*a planes, so the transforms'
   * a*a streams fall in different L1 sets */
  g->vs = wino_row((int64_t)p->C * g->ld);
  g->ms = wino_row((int64_t)p->K * g->ld);
  g->slot = (int64_t)g->a * g->a * (g->vs + g->ms);
}

/* Scratch, 64-byte aligned.  K-rows: nslot slots, each V then M of one block
 * (see WinoGeo); T-rows: V[xi][T][wino_row(C)] and M[xi][T][wino_row(K)],
 * plane strides wino_row(T * row). */
RT_FN size_t rt_winograd_scratch(const RtConv *p) {
  const int a = wino_m(p) + 2;
  const int64_t T = wino_tiles(p);
  if (wino_trows(p))
    return (size_t)a * a * (size_t)(wino_row(T * wino_row(p->C)) + wino_row(T * wino_row(p->K))) * sizeof(float) +
           64;
  {
    WinoGeo g;
    wino_geo(p, &g);
    return (size_t)g.nslot * (size_t)g.slot * sizeof(float) + 64;
  }
}

/* ------------------------------------------------- scalar 1-D transforms */

/* The 1-D transforms, each the same sequence of operations in the scalar
 * and vector paths.  In: a values, out: a values (input) or m (output). */
#define WINO_IN4(d0, d1, d2, d3, d4, d5, r0, r1, r2, r3, r4, r5)                                        \
  {                                                                                                   \
    const WT t0_ = WSUB(d4, WMULC(d2, 4.0f)), t1_ = WSUB(d3, WMULC(d1, 4.0f));                        \
    const WT t2_ = WSUB(d4, d2), t3_ = WMULC(WSUB(d3, d1), 2.0f);                                     \
    r0 = WADD(WSUB(WMULC(d0, 4.0f), WMULC(d2, 5.0f)), d4);                                            \
    r1 = WADD(t0_, t1_);                                                                              \
    r2 = WSUB(t0_, t1_);                                                                              \
    r3 = WADD(t2_, t3_);                                                                              \
    r4 = WSUB(t2_, t3_);                                                                              \
    r5 = WADD(WSUB(WMULC(d1, 4.0f), WMULC(d3, 5.0f)), d5);                                            \
  }
#define WINO_OUT4(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3)                                               \
  {                                                                                                   \
    const WT s12_ = WADD(m1, m2), d12_ = WSUB(m1, m2), s34_ = WADD(m3, m4), d34_ = WSUB(m3, m4);      \
    y0 = WADD(WADD(m0, s12_), s34_);                                                                  \
    y1 = WADD(d12_, WMULC(d34_, 2.0f));                                                               \
    y2 = WADD(s12_, WMULC(s34_, 4.0f));                                                               \
    y3 = WADD(WADD(d12_, WMULC(d34_, 8.0f)), m5);                                                     \
  }
#define WINO_IN2(d0, d1, d2, d3, r0, r1, r2, r3)                                                        \
  {                                                                                                   \
    r0 = WSUB(d0, d2);                                                                                \
    r1 = WADD(d1, d2);                                                                                \
    r2 = WSUB(d2, d1);                                                                                \
    r3 = WSUB(d1, d3);                                                                                \
  }
#define WINO_OUT2(m0, m1, m2, m3, y0, y1)                                                               \
  {                                                                                                   \
    y0 = WADD(WADD(m0, m1), m2);                                                                      \
    y1 = WSUB(WSUB(m1, m2), m3);                                                                      \
  }

/* Scalar instances (products by constants are exact-order mul then add). */
#define WT float
#define WADD(x, y) ((x) + (y))
#define WSUB(x, y) ((x) - (y))
#define WMULC(x, c) ((x) * (c))

/* Input transform of one tile: d (a x a, row-major) -> v[xi] */
RT_INLINE void wino_in_tile(int m, const float *d, float *v) {
  float z[36];
  int i;
  if (m == 4) {
    for (i = 0; i < 6; i++) /* vertical: z[u][col] */
      WINO_IN4(d[i], d[6 + i], d[12 + i], d[18 + i], d[24 + i], d[30 + i], z[i], z[6 + i], z[12 + i],
               z[18 + i], z[24 + i], z[30 + i])
    for (i = 0; i < 6; i++) {
      const float *r = z + 6 * i;
      WINO_IN4(r[0], r[1], r[2], r[3], r[4], r[5], v[6 * i], v[6 * i + 1], v[6 * i + 2], v[6 * i + 3],
               v[6 * i + 4], v[6 * i + 5])
    }
  } else {
    for (i = 0; i < 4; i++)
      WINO_IN2(d[i], d[4 + i], d[8 + i], d[12 + i], z[i], z[4 + i], z[8 + i], z[12 + i])
    for (i = 0; i < 4; i++) {
      const float *r = z + 4 * i;
      WINO_IN2(r[0], r[1], r[2], r[3], v[4 * i], v[4 * i + 1], v[4 * i + 2], v[4 * i + 3])
    }
  }
}

/* Output transform of one tile: mm[xi] -> y (m x m, row-major) */
RT_INLINE void wino_out_tile(int m, const float *mm, float *y) {
  float z[24];
  int i;
  if (m == 4) {
    for (i = 0; i < 6; i++) /* vertical: z[a][col] */
      WINO_OUT4(mm[i], mm[6 + i], mm[12 + i], mm[18 + i], mm[24 + i], mm[30 + i], z[i], z[6 + i], z[12 + i],
                z[18 + i])
    for (i = 0; i < 4; i++) {
      const float *r = z + 6 * i;
      WINO_OUT4(r[0], r[1], r[2], r[3], r[4], r[5], y[4 * i], y[4 * i + 1], y[4 * i + 2], y[4 * i + 3])
    }
  } else {
    for (i = 0; i < 4; i++)
      WINO_OUT2(mm[i], mm[4 + i], mm[8 + i], mm[12 + i], z[i], z[4 + i])
    for (i = 0; i < 2; i++) {
      const float *r = z + 4 * i;
      WINO_OUT2(r[0], r[1], r[2], r[3], y[2 * i], y[2 * i + 1])
    }
  }
}

#undef WT
#undef WADD
#undef WSUB
#undef WMULC

/* Scalar input transform of the tiles [tx0, tx1) of tile row ty of one
 * channel plane xc into V: v points at the channel's V row at tile column 0
 * of this tile row (plane stride vs). */
RT_HELPER void wino_in_scalar(const RtConv *p, const WinoGeo *g, const float *xc, int ty, int tx0, int tx1,
                              float *v, int64_t vs) {
  const int m = g->m, a = g->a;
  int tx, i, j;
  for (tx = tx0; tx < tx1; tx++) {
    float d[36], r[36];
    for (i = 0; i < a; i++) {
      const int ih = ty * m - p->pt + i;
      for (j = 0; j < a; j++) {
        const int iw = tx * m - p->pl + j;
        d[i * a + j] = ih >= 0 && ih < p->H && iw >= 0 && iw < p->W ? xc[(int64_t)ih * p->W + iw] : 0.0f;
      }
    }
    wino_in_tile(m, d, r);
    for (i = 0; i < a * a; i++)
      v[i * vs + tx] = r[i];
  }
}

/* Scalar output transform of tiles [tx0, tx1) of tile row ty for channel k:
 * mk points at channel k's M row at tile column 0 of this tile row (plane
 * stride ms); yk/rk at channel k of y/res. */
RT_HELPER void wino_out_scalar(const RtConv *p, const WinoGeo *g, const float *mk, int64_t ms, float bv, int ty,
                               int tx0, int tx1, const float *rk, float *yk) {
  const int m = g->m, a = g->a;
  int tx, i, j;
  for (tx = tx0; tx < tx1; tx++) {
    float mm[36], o[16];
    for (i = 0; i < a * a; i++)
      mm[i] = mk[i * ms + tx];
    wino_out_tile(m, mm, o);
    for (i = 0; i < m; i++) {
      const int oh = ty * m + i;
      if (oh >= p->OH)
        break;
      for (j = 0; j < m; j++) {
        const int ow = tx * m + j;
        int64_t yo;
        float s;
        if (ow >= p->OW)
          break;
        yo = (int64_t)oh * p->OW + ow;
        s = rk ? bv + rk[yo] : bv;
        yk[yo] = rt_act1(p->act, p->alpha, p->beta, o[i * m + j] + s);
      }
    }
  }
}

/* T-rows, scalar: input transform of tile t for channels [c0, c1) into
 * V[xi][t][c] (xi stride vxs, tile stride cs). */
RT_HELPER void wino_in_trows_scalar(const RtConv *p, const WinoGeo *g, const float *xn, int t, int c0, int c1,
                                    float *V, int64_t cs, int64_t vxs) {
  const int m = g->m, a = g->a, ty = t / g->tw, tx = t % g->tw;
  int c, i, j;
  for (c = c0; c < c1; c++) {
    const float *xc = xn + (int64_t)c * p->H * p->W;
    float d[36], r[36];
    for (i = 0; i < a; i++) {
      const int ih = ty * m - p->pt + i;
      for (j = 0; j < a; j++) {
        const int iw = tx * m - p->pl + j;
        d[i * a + j] = ih >= 0 && ih < p->H && iw >= 0 && iw < p->W ? xc[(int64_t)ih * p->W + iw] : 0.0f;
      }
    }
    wino_in_tile(m, d, r);
    for (i = 0; i < a * a; i++)
      V[i * vxs + t * cs + c] = r[i];
  }
}

/* T-rows epilogue of one output tile for channel k: o (m x m) + bias + res,
 * activation, stored where it lies inside y. */
RT_INLINE void wino_tile_store(const RtConv *p, int m, int ty, int tx, const float *o, int ostride, float bv,
                               const float *rk, float *yk) {
  int i, j;
  for (i = 0; i < m; i++) {
    const int oh = ty * m + i;
    if (oh >= p->OH)
      break;
    for (j = 0; j < m; j++) {
      const int ow = tx * m + j;
      int64_t yo;
      if (ow >= p->OW)
        break;
      yo = (int64_t)oh * p->OW + ow;
      yk[yo] = rt_act1(p->act, p->alpha, p->beta, o[(i * m + j) * ostride] + (rk ? bv + rk[yo] : bv));
    }
  }
}

/* T-rows, scalar: output transform of tile t for channels [k0, k1) from
 * M[xi][t][k]; yn/rn point at the sample. */
RT_HELPER void wino_out_trows_scalar(const RtConv *p, const WinoGeo *g, const float *M, int64_t ks, int64_t mxs,
                                     int t, int k0, int k1, const float *b, const float *rn, float *yn) {
  const int m = g->m, a = g->a, ty = t / g->tw, tx = t % g->tw;
  const int64_t ps = (int64_t)p->OH * p->OW;
  int k, i;
  for (k = k0; k < k1; k++) {
    float mm[36], o[16];
    for (i = 0; i < a * a; i++)
      mm[i] = M[i * mxs + t * ks + k];
    wino_out_tile(m, mm, o);
    wino_tile_store(p, m, ty, tx, o, 1, b ? b[k] : 0.0f, rn ? rn + k * ps : NULL, yn + k * ps);
  }
}

/* T-rows chunks: tiles [tx0, tx0 + n) of one tile row, n at most
 * WINO_CIN(m) for the input transform (its 16-column transposes cover
 * n*m + 2 <= 32 input columns) and WINO_COUT(m) for the output transform
 * (n*m <= 16 output columns, one transpose). */
#define WINO_CIN(m) ((32 - 2) / (m))
#define WINO_COUT(m) (16 / (m))

#if defined(__AVX512F__)

#define WT __m512
#define WADD(x, y) _mm512_add_ps(x, y)
#define WSUB(x, y) _mm512_sub_ps(x, y)
#define WMULC(x, c) _mm512_mul_ps(x, _mm512_set1_ps(c))

/* In-register transpose of the 16 x 16 block r[row][lane]: afterwards r[j]
 * holds what was lane j of every row (unpack, shuffle, two 128-bit lane
 * shuffles: 64 shuffles). */
RT_INLINE void wino_tr16(__m512 *r) {
  __m512 t[16];
  int i;
  for (i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (i = 0; i < 4; i++) { /* r[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3 */
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (i = 0; i < 4; i++) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
    t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xdd);
    t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
    t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xdd);
  }
  for (i = 0; i < 4; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
  }
}

/* Lanes t of the stride-s sequence z[s*t + j] from the contiguous vectors
 * z0.., via two-source permutes (de-interleave); see wino_in_strip. */
RT_INLINE __m512 wino_even(__m512 a, __m512 b) {
  const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(a, idx, b);
}
RT_INLINE __m512 wino_odd(__m512 a, __m512 b) {
  const __m512i idx = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  return _mm512_permutex2var_ps(a, idx, b);
}
/* lanes 0..14 = p[1..15], lane 15 = q[s] */
RT_INLINE __m512 wino_next(__m512 p, __m512 q, int s) {
  __m512i qi = _mm512_castps_si512(q);
  if (s == 1)
    qi = _mm512_alignr_epi32(qi, qi, 1);
  return _mm512_castsi512_ps(_mm512_alignr_epi32(qi, _mm512_castps_si512(p), 1));
}

/* Input transform of the 16 tiles [tx0, tx0+16) (fewer at the right edge:
 * nt) of tile row ty of channel plane xc into V at vt (the strip's first
 * tile, plane stride vs).  Vertical pass on whole input columns, then the
 * horizontal pass on de-interleaved columns. */
RT_INLINE void wino_in_strip_m(const RtConv *p, const WinoGeo *g, const float *xc, int ty, int tx0, int nt,
                             float *vt, int64_t vs, const int m) {
  const int a = m + 2;
  (void)g;
  const int nv = m == 4 ? 5 : 3; /* input columns needed: 16*m + 2 */
  const int c0 = tx0 * m - p->pl;
  const __mmask16 smask = (__mmask16)(nt >= 16 ? 0xFFFF : (1u << nt) - 1u);
  __m512 z[6][5];
  int u, q, i;

  for (q = 0; q < nv; q++) {
    __m512 d[6];
    for (i = 0; i < a; i++) {
      const int ih = ty * m - p->pt + i;
      d[i] = ih >= 0 && ih < p->H ? rt_load16(xc + (int64_t)ih * p->W, c0 + 16 * q, p->W)
                                  : _mm512_setzero_ps();
    }
    if (m == 4)
      WINO_IN4(d[0], d[1], d[2], d[3], d[4], d[5], z[0][q], z[1][q], z[2][q], z[3][q], z[4][q], z[5][q])
    else
      WINO_IN2(d[0], d[1], d[2], d[3], z[0][q], z[1][q], z[2][q], z[3][q])
  }
  for (u = 0; u < a; u++) {
    __m512 r[6];
    if (m == 4) {
      /* P_j[t] = z[4t + j]: de-interleave twice, then shift by one tile */
      const __m512 e01 = wino_even(z[u][0], z[u][1]), o01 = wino_odd(z[u][0], z[u][1]);
      const __m512 e23 = wino_even(z[u][2], z[u][3]), o23 = wino_odd(z[u][2], z[u][3]);
      const __m512 p0 = wino_even(e01, e23), p2 = wino_odd(e01, e23);
      const __m512 p1 = wino_even(o01, o23), p3 = wino_odd(o01, o23);
      const __m512 p4 = wino_next(p0, z[u][4], 0), p5 = wino_next(p1, z[u][4], 1);
      WINO_IN4(p0, p1, p2, p3, p4, p5, r[0], r[1], r[2], r[3], r[4], r[5])
    } else {
      const __m512 p0 = wino_even(z[u][0], z[u][1]), p1 = wino_odd(z[u][0], z[u][1]);
      const __m512 p2 = wino_next(p0, z[u][2], 0), p3 = wino_next(p1, z[u][2], 1);
      WINO_IN2(p0, p1, p2, p3, r[0], r[1], r[2], r[3])
    }
    if (nt == 16) /* a whole strip: plain stores */
      for (i = 0; i < a; i++)
        _mm512_storeu_ps(vt + (int64_t)(u * a + i) * vs, r[i]);
    else
      for (i = 0; i < a; i++)
        _mm512_mask_storeu_ps(vt + (int64_t)(u * a + i) * vs, smask, r[i]);
  }
}

RT_HELPER void wino_in_strip(const RtConv *p, const WinoGeo *g, const float *xc, int ty, int tx0, int nt,
                             float *vt, int64_t vs) {
  if (g->m == 4)
    wino_in_strip_m(p, g, xc, ty, tx0, nt, vt, vs, 4);
  else
    wino_in_strip_m(p, g, xc, ty, tx0, nt, vt, vs, 2);
}

/* y-row vector epilogue: v + bias (+ res) -> act, stored to the nc <= 16
 * columns at yr. */
RT_INLINE void wino_store16(const RtConv *p, __m512 v, float bv, const float *rr, float *yr, int nc) {
  __mmask16 mk;
  __m512 s;
  if (nc <= 0) /* a vector wholly past the right edge of y */
    return;
  mk = (__mmask16)(nc >= 16 ? 0xFFFF : (1u << nc) - 1u);
  s = _mm512_set1_ps(bv);
  if (rr)
    s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mk, rr));
  v = _mm512_add_ps(v, s);
  if (p->act == RT_ACT_RELU)
    v = _mm512_max_ps(v, _mm512_setzero_ps());
  _mm512_mask_storeu_ps(yr, mk, v);
  if (p->act != RT_ACT_RELU && p->act != RT_ACT_NONE && p->act != RT_ACT_IDENTITY)
    rt_act_array(p->act, p->alpha, p->beta, yr, yr, nc);
}

/* Output transform of the strip of nt tiles at (ty, tx0) for channel k: mt
 * points at the strip's first tile in M (plane stride ms). */
RT_INLINE void wino_out_strip_m(const RtConv *p, const WinoGeo *g, const float *mt, int64_t ms, float bv, int ty,
                              int tx0, int nt, const float *rk, float *yk, const int m) {
  const int a = m + 2;
  (void)g;
  const __mmask16 lmask = (__mmask16)(nt >= 16 ? 0xFFFF : (1u << nt) - 1u);
  __m512 z[4][6];
  int w, i, q;

  for (w = 0; w < a; w++) { /* vertical: z[row][w] */
    __m512 mm[6];
    for (i = 0; i < a; i++)
      mm[i] = nt == 16 ? _mm512_loadu_ps(mt + (int64_t)(i * a + w) * ms)
                       : _mm512_maskz_loadu_ps(lmask, mt + (int64_t)(i * a + w) * ms);
    if (m == 4)
      WINO_OUT4(mm[0], mm[1], mm[2], mm[3], mm[4], mm[5], z[0][w], z[1][w], z[2][w], z[3][w])
    else
      WINO_OUT2(mm[0], mm[1], mm[2], mm[3], z[0][w], z[1][w])
  }
  for (i = 0; i < m; i++) {
    const int oh = ty * m + i, ow0 = tx0 * m;
    float *yr;
    const float *rr;
    __m512 o[4];
    if (oh >= p->OH)
      break;
    yr = yk + (int64_t)oh * p->OW + ow0;
    rr = rk ? rk + (int64_t)oh * p->OW + ow0 : NULL;
    if (m == 4) {
      /* Q_j[t] = y[4t + j]; interleave the four phases back into columns */
      const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      const __m512i lo2 = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
      const __m512i hi2 = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
      __m512 q0, q1, q2, q3, x01l, x01h, x23l, x23h;
      WINO_OUT4(z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], q0, q1, q2, q3)
      x01l = _mm512_permutex2var_ps(q0, lo, q1);
      x01h = _mm512_permutex2var_ps(q0, hi, q1);
      x23l = _mm512_permutex2var_ps(q2, lo, q3);
      x23h = _mm512_permutex2var_ps(q2, hi, q3);
      o[0] = _mm512_permutex2var_ps(x01l, lo2, x23l);
      o[1] = _mm512_permutex2var_ps(x01l, hi2, x23l);
      o[2] = _mm512_permutex2var_ps(x01h, lo2, x23h);
      o[3] = _mm512_permutex2var_ps(x01h, hi2, x23h);
    } else {
      const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      __m512 q0, q1;
      WINO_OUT2(z[i][0], z[i][1], z[i][2], z[i][3], q0, q1)
      o[0] = _mm512_permutex2var_ps(q0, lo, q1);
      o[1] = _mm512_permutex2var_ps(q0, hi, q1);
    }
    for (q = 0; q < m; q++) {
      const int c = ow0 + 16 * q;
      const int nc = p->OW - c < 16 ? p->OW - c : 16;
      wino_store16(p, o[q], bv, rr ? rr + 16 * q : NULL, yr + 16 * q, nc);
    }
  }
}

RT_HELPER void wino_out_strip(const RtConv *p, const WinoGeo *g, const float *mt, int64_t ms, float bv, int ty,
                              int tx0, int nt, const float *rk, float *yk) {
  if (g->m == 4)
    wino_out_strip_m(p, g, mt, ms, bv, ty, tx0, nt, rk, yk, 4);
  else
    wino_out_strip_m(p, g, mt, ms, bv, ty, tx0, nt, rk, yk, 2);
}

/* T-rows: input transform of the nt <= WINO_CIN(m) tiles [tx0, tx0 + nt) of
 * tile row ty for the 16 channels from c0 (fewer at the end).  Each of the
 * a input rows is loaded as 16 channel rows of 16 columns (contiguous) and
 * transposed in registers into a stack patch of channel vectors, pat[row]
 * [column][channel]; the a x a transform then runs on channel vectors (lanes
 * = channels) and stores V[xi][t][c0..] directly. */
RT_INLINE void wino_in_trows_chunk_m(const RtConv *p, const WinoGeo *g, const float *xn, int ty, int tx0, int nt,
                                   int c0, float *V, int64_t cs, int64_t vxs, const int m) {
  const int a = m + 2;
  (void)g;
  const int nc = p->C - c0 < 16 ? p->C - c0 : 16;
  const __mmask16 cm = (__mmask16)(nc >= 16 ? 0xFFFF : (1u << nc) - 1u);
  const int64_t hw = (int64_t)p->H * p->W;
  const int col0 = tx0 * m - p->pl, nblk = (nt * m + 2 + 15) / 16;
  const float *xc = xn + (int64_t)c0 * hw;
  float pat[6][32][16]; /* 12 KiB */
  int i, j, l, q, tt;

  for (i = 0; i < a; i++) {
    const int ih = ty * m - p->pt + i;
    for (q = 0; q < nblk; q++) {
      __m512 r[16];
      if (ih < 0 || ih >= p->H) {
        for (j = 0; j < 16; j++)
          _mm512_store_ps(pat[i][16 * q + j], _mm512_setzero_ps());
        continue;
      }
      for (l = 0; l < 16; l++)
        r[l] = l < nc ? rt_load16(xc + l * hw + (int64_t)ih * p->W, col0 + 16 * q, p->W) : _mm512_setzero_ps();
      wino_tr16(r);
      for (j = 0; j < 16; j++)
        _mm512_store_ps(pat[i][16 * q + j], r[j]);
    }
  }
  for (tt = 0; tt < nt; tt++) {
    float *vt = V + ((int64_t)ty * g->tw + tx0 + tt) * cs + c0;
    __m512 z[6][6];
    for (j = 0; j < a; j++) { /* vertical, column j of the tile */
      __m512 d[6];
      for (i = 0; i < a; i++)
        d[i] = _mm512_load_ps(pat[i][tt * m + j]);
      if (m == 4)
        WINO_IN4(d[0], d[1], d[2], d[3], d[4], d[5], z[0][j], z[1][j], z[2][j], z[3][j], z[4][j], z[5][j])
      else
        WINO_IN2(d[0], d[1], d[2], d[3], z[0][j], z[1][j], z[2][j], z[3][j])
    }
    for (i = 0; i < a; i++) {
      __m512 r[6];
      if (m == 4)
        WINO_IN4(z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], r[0], r[1], r[2], r[3], r[4], r[5])
      else
        WINO_IN2(z[i][0], z[i][1], z[i][2], z[i][3], r[0], r[1], r[2], r[3])
      for (j = 0; j < a; j++)
        _mm512_mask_storeu_ps(vt + (int64_t)(i * a + j) * vxs, cm, r[j]);
    }
  }
}

RT_HELPER void wino_in_trows_chunk(const RtConv *p, const WinoGeo *g, const float *xn, int ty, int tx0, int nt,
                                   int c0, float *V, int64_t cs, int64_t vxs) {
  if (g->m == 4)
    wino_in_trows_chunk_m(p, g, xn, ty, tx0, nt, c0, V, cs, vxs, 4);
  else
    wino_in_trows_chunk_m(p, g, xn, ty, tx0, nt, c0, V, cs, vxs, 2);
}

/* T-rows: output transform of the nt <= WINO_COUT(m) tiles [tx0, tx0 + nt)
 * of tile row ty for the 16 channels from k0: the transform runs on channel
 * vectors into a stack block out[row][column][channel], each output row of
 * 16 columns is transposed back in registers, and the epilogue (bias,
 * residual, activation) works on contiguous rows of y. */
RT_INLINE void wino_out_trows_chunk_m(const RtConv *p, const WinoGeo *g, const float *M, int64_t ks, int64_t mxs,
                                    int ty, int tx0, int nt, int k0, const float *b, const float *rn, float *yn, const int m) {
  const int a = m + 2;
  (void)g;
  const int nk = p->K - k0 < 16 ? p->K - k0 : 16;
  const __mmask16 km = (__mmask16)(nk >= 16 ? 0xFFFF : (1u << nk) - 1u);
  const int64_t ps = (int64_t)p->OH * p->OW;
  const int ow0 = tx0 * m, ncol = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
  float out[4][16][16]; /* 4 KiB */
  int i, j, l, tt;

  for (tt = 0; tt < nt; tt++) {
    const float *mt = M + ((int64_t)ty * g->tw + tx0 + tt) * ks + k0;
    __m512 z[4][6];
    for (j = 0; j < a; j++) {
      __m512 mm[6];
      for (i = 0; i < a; i++)
        mm[i] = _mm512_maskz_loadu_ps(km, mt + (int64_t)(i * a + j) * mxs);
      if (m == 4)
        WINO_OUT4(mm[0], mm[1], mm[2], mm[3], mm[4], mm[5], z[0][j], z[1][j], z[2][j], z[3][j])
      else
        WINO_OUT2(mm[0], mm[1], mm[2], mm[3], z[0][j], z[1][j])
    }
    for (i = 0; i < m; i++) {
      __m512 q[4];
      if (m == 4)
        WINO_OUT4(z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], q[0], q[1], q[2], q[3])
      else
        WINO_OUT2(z[i][0], z[i][1], z[i][2], z[i][3], q[0], q[1])
      for (j = 0; j < m; j++)
        _mm512_store_ps(out[i][tt * m + j], q[j]);
    }
  }
  for (i = 0; i < m; i++) {
    const int oh = ty * m + i;
    const int64_t yo = (int64_t)oh * p->OW + ow0;
    __m512 r[16];
    if (oh >= p->OH)
      break;
    for (j = 0; j < 16; j++) /* columns past the chunk: never stored */
      r[j] = j < nt * m ? _mm512_load_ps(out[i][j]) : _mm512_setzero_ps();
    wino_tr16(r);
    for (l = 0; l < nk; l++)
      wino_store16(p, r[l], b ? b[k0 + l] : 0.0f, rn ? rn + (k0 + l) * ps + yo : NULL, yn + (k0 + l) * ps + yo,
                   ncol);
  }
}

RT_HELPER void wino_out_trows_chunk(const RtConv *p, const WinoGeo *g, const float *M, int64_t ks, int64_t mxs,
                                    int ty, int tx0, int nt, int k0, const float *b, const float *rn, float *yn) {
  if (g->m == 4)
    wino_out_trows_chunk_m(p, g, M, ks, mxs, ty, tx0, nt, k0, b, rn, yn, 4);
  else
    wino_out_trows_chunk_m(p, g, M, ks, mxs, ty, tx0, nt, k0, b, rn, yn, 2);
}

#undef WT
#undef WADD
#undef WSUB
#undef WMULC

#elif defined(__AVX2__) && defined(__FMA__)

/* AVX2: the same transforms on 8-lane vectors.  K-rows works on strips of 8
 * tiles, T-rows on 8 channels at a time (a 16-channel task is two halves).
 * AMD's masked stores (vmaskmovps) are slow: partial vectors are stored
 * through a stack copy, and a K-rows input row of at least 8 tiles ends on
 * a whole strip that overlaps the one before it (the overlapped tiles are
 * computed again by the same operations on the same inputs: same bits). */
#define WT __m256
#define WADD(x, y) _mm256_add_ps(x, y)
#define WSUB(x, y) _mm256_sub_ps(x, y)
#define WMULC(x, c) _mm256_mul_ps(x, _mm256_set1_ps(c))

RT_INLINE __m256i wino_iota8(void) { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }

/* Lanes l < n all ones (0 <= n <= 8). */
RT_INLINE __m256i wino_mask8(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), wino_iota8()); }

/* x[c0 .. c0+8) of a row of length W, zero outside [0, W); memory outside
 * the row is never touched (masked loads; lanes moved up by a permute when
 * c0 < 0). */
RT_INLINE __m256 wino_load8(const float *row, int c0, int W) {
  if (c0 >= 0 && c0 + 8 <= W)
    return _mm256_loadu_ps(row + c0);
  if (c0 >= W || c0 + 8 <= 0)
    return _mm256_setzero_ps();
  if (c0 >= 0)
    return _mm256_maskload_ps(row + c0, wino_mask8(W - c0));
  {
    /* lanes [-c0, min(8, W - c0)) take row[0], row[1], ...; lanes below -c0
     * take v[l + c0 + 8], at or past hi + c0: zeros of the masked load */
    const int hi = W - c0 < 8 ? W - c0 : 8;
    const __m256 v = _mm256_maskload_ps(row, wino_mask8(hi + c0));
    return _mm256_permutevar8x32_ps(v, _mm256_add_epi32(wino_iota8(), _mm256_set1_epi32(c0)));
  }
}

/* The first n < 8 lanes of v to dst. */
RT_INLINE void wino_part8(float *dst, __m256 v, int n) {
  float t[8];
  int j;
  _mm256_storeu_ps(t, v);
  for (j = 0; j < n; j++)
    dst[j] = t[j];
}

/* In-register transpose of the 8 x 8 block r[row][lane] (24 shuffles). */
RT_INLINE void wino_tr8(__m256 *r) {
  __m256 t[8], u[8];
  int i;
  for (i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (i = 0; i < 2; i++) { /* u[4i + j], 128-bit lane L: column 4L + j of rows 4i..4i+3 */
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

/* Even / odd lanes of the 16-float sequence a, b. */
RT_INLINE __m256 wino_even8(__m256 a, __m256 b) {
  const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
RT_INLINE __m256 wino_odd8(__m256 a, __m256 b) {
  const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
/* lanes 0..6 = p[1..7], lane 7 = q[s] */
RT_INLINE __m256 wino_next8(__m256 p, __m256 q, int s) {
  const __m256 rot = _mm256_permutevar8x32_ps(p, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0));
  return _mm256_blend_ps(rot, _mm256_permutevar8x32_ps(q, _mm256_set1_epi32(s)), 0x80);
}

/* Input transform of the 8 tiles [tx0, tx0+8) (fewer at the right edge: nt)
 * of tile row ty of channel plane xc into V at vt (plane stride vs), as
 * wino_in_strip_m of AVX-512: vertical pass on input columns, horizontal
 * pass on de-interleaved columns. */
RT_INLINE void wino_in_strip8_m(const RtConv *p, const float *xc, int ty, int tx0, int nt, float *vt, int64_t vs,
                                const int m) {
  const int a = m + 2;
  const int nv = m == 4 ? 5 : 3; /* input columns needed: 8*m + 2 */
  const int c0 = tx0 * m - p->pl;
  __m256 z[6][5];
  int u, q, i;

  for (q = 0; q < nv; q++) {
    __m256 d[6];
    for (i = 0; i < a; i++) {
      const int ih = ty * m - p->pt + i;
      d[i] = ih >= 0 && ih < p->H ? wino_load8(xc + (int64_t)ih * p->W, c0 + 8 * q, p->W) : _mm256_setzero_ps();
    }
    if (m == 4)
      WINO_IN4(d[0], d[1], d[2], d[3], d[4], d[5], z[0][q], z[1][q], z[2][q], z[3][q], z[4][q], z[5][q])
    else
      WINO_IN2(d[0], d[1], d[2], d[3], z[0][q], z[1][q], z[2][q], z[3][q])
  }
  for (u = 0; u < a; u++) {
    __m256 r[6];
    if (m == 4) {
      /* P_j[t] = z[4t + j]: 128-bit halves to tiles (0,4) (1,5) (2,6) (3,7),
       * then a 4 x 4 transpose inside each half */
      const __m256 t04 = _mm256_permute2f128_ps(z[u][0], z[u][2], 0x20);
      const __m256 t15 = _mm256_permute2f128_ps(z[u][0], z[u][2], 0x31);
      const __m256 t26 = _mm256_permute2f128_ps(z[u][1], z[u][3], 0x20);
      const __m256 t37 = _mm256_permute2f128_ps(z[u][1], z[u][3], 0x31);
      const __m256 l01 = _mm256_unpacklo_ps(t04, t15), h01 = _mm256_unpackhi_ps(t04, t15);
      const __m256 l23 = _mm256_unpacklo_ps(t26, t37), h23 = _mm256_unpackhi_ps(t26, t37);
      const __m256 p0 = _mm256_shuffle_ps(l01, l23, _MM_SHUFFLE(1, 0, 1, 0));
      const __m256 p1 = _mm256_shuffle_ps(l01, l23, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 p2 = _mm256_shuffle_ps(h01, h23, _MM_SHUFFLE(1, 0, 1, 0));
      const __m256 p3 = _mm256_shuffle_ps(h01, h23, _MM_SHUFFLE(3, 2, 3, 2));
      const __m256 p4 = wino_next8(p0, z[u][4], 0), p5 = wino_next8(p1, z[u][4], 1);
      WINO_IN4(p0, p1, p2, p3, p4, p5, r[0], r[1], r[2], r[3], r[4], r[5])
    } else {
      const __m256 p0 = wino_even8(z[u][0], z[u][1]), p1 = wino_odd8(z[u][0], z[u][1]);
      const __m256 p2 = wino_next8(p0, z[u][2], 0), p3 = wino_next8(p1, z[u][2], 1);
      WINO_IN2(p0, p1, p2, p3, r[0], r[1], r[2], r[3])
    }
    for (i = 0; i < a; i++) {
      if (nt >= 8)
        _mm256_storeu_ps(vt + (int64_t)(u * a + i) * vs, r[i]);
      else
        wino_part8(vt + (int64_t)(u * a + i) * vs, r[i], nt);
    }
  }
}

/* Input transform of tile row ty of channel plane xc (all tw tiles) into
 * the V row at vr: strips of 8, the last one moved left to end at tw. */
RT_HELPER void wino_in_row8(const RtConv *p, const WinoGeo *g, const float *xc, int ty, float *vr, int64_t vs) {
  int tx0;
  for (tx0 = 0; tx0 < g->tw; tx0 += 8) {
    int t = tx0, nt = 8;
    if (g->tw - tx0 < 8) {
      if (g->tw >= 8)
        t = g->tw - 8;
      else
        nt = g->tw - tx0;
    }
    if (g->m == 4)
      wino_in_strip8_m(p, xc, ty, t, nt, vr + t, vs, 4);
    else
      wino_in_strip8_m(p, xc, ty, t, nt, vr + t, vs, 2);
  }
}

/* y-row vector epilogue: v + bias (+ res) -> act, stored to the nc <= 8
 * columns at yr. */
RT_INLINE void wino_store8(const RtConv *p, __m256 v, float bv, const float *rr, float *yr, int nc) {
  __m256 s;
  if (nc <= 0) /* a vector wholly past the right edge of y */
    return;
  s = _mm256_set1_ps(bv);
  if (rr)
    s = _mm256_add_ps(s, nc >= 8 ? _mm256_loadu_ps(rr) : _mm256_maskload_ps(rr, wino_mask8(nc)));
  v = _mm256_add_ps(v, s);
  if (p->act == RT_ACT_RELU)
    v = _mm256_max_ps(v, _mm256_setzero_ps());
  if (nc >= 8)
    _mm256_storeu_ps(yr, v);
  else
    wino_part8(yr, v, nc);
  if (p->act != RT_ACT_RELU && p->act != RT_ACT_NONE && p->act != RT_ACT_IDENTITY)
    rt_act_array(p->act, p->alpha, p->beta, yr, yr, nc < 8 ? nc : 8);
}

/* Output transform of the strip of nt <= 8 tiles at (ty, tx0) for channel
 * k: mt points at the strip's first tile in M (plane stride ms). */
RT_INLINE void wino_out_strip8_m(const RtConv *p, const float *mt, int64_t ms, float bv, int ty, int tx0, int nt,
                                 const float *rk, float *yk, const int m) {
  const int a = m + 2;
  const __m256i lmask = wino_mask8(nt);
  __m256 z[4][6];
  int w, i, q;

  for (w = 0; w < a; w++) { /* vertical: z[row][w] */
    __m256 mm[6];
    for (i = 0; i < a; i++)
      mm[i] = nt >= 8 ? _mm256_loadu_ps(mt + (int64_t)(i * a + w) * ms)
                      : _mm256_maskload_ps(mt + (int64_t)(i * a + w) * ms, lmask);
    if (m == 4)
      WINO_OUT4(mm[0], mm[1], mm[2], mm[3], mm[4], mm[5], z[0][w], z[1][w], z[2][w], z[3][w])
    else
      WINO_OUT2(mm[0], mm[1], mm[2], mm[3], z[0][w], z[1][w])
  }
  for (i = 0; i < m; i++) {
    const int oh = ty * m + i, ow0 = tx0 * m;
    float *yr;
    const float *rr;
    __m256 o[4];
    if (oh >= p->OH)
      break;
    yr = yk + (int64_t)oh * p->OW + ow0;
    rr = rk ? rk + (int64_t)oh * p->OW + ow0 : NULL;
    if (m == 4) {
      /* Q_j[t] = y[4t + j]: a 4 x 4 transpose inside each 128-bit half
       * gives tiles (t, t+4), then halves to column order */
      __m256 q0, q1, q2, q3, l01, h01, l23, h23, t04, t15, t26, t37;
      WINO_OUT4(z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], q0, q1, q2, q3)
      l01 = _mm256_unpacklo_ps(q0, q1), h01 = _mm256_unpackhi_ps(q0, q1);
      l23 = _mm256_unpacklo_ps(q2, q3), h23 = _mm256_unpackhi_ps(q2, q3);
      t04 = _mm256_shuffle_ps(l01, l23, _MM_SHUFFLE(1, 0, 1, 0));
      t15 = _mm256_shuffle_ps(l01, l23, _MM_SHUFFLE(3, 2, 3, 2));
      t26 = _mm256_shuffle_ps(h01, h23, _MM_SHUFFLE(1, 0, 1, 0));
      t37 = _mm256_shuffle_ps(h01, h23, _MM_SHUFFLE(3, 2, 3, 2));
      o[0] = _mm256_permute2f128_ps(t04, t15, 0x20);
      o[1] = _mm256_permute2f128_ps(t26, t37, 0x20);
      o[2] = _mm256_permute2f128_ps(t04, t15, 0x31);
      o[3] = _mm256_permute2f128_ps(t26, t37, 0x31);
    } else {
      __m256 q0, q1, lo, hi;
      WINO_OUT2(z[i][0], z[i][1], z[i][2], z[i][3], q0, q1)
      lo = _mm256_unpacklo_ps(q0, q1), hi = _mm256_unpackhi_ps(q0, q1);
      o[0] = _mm256_permute2f128_ps(lo, hi, 0x20);
      o[1] = _mm256_permute2f128_ps(lo, hi, 0x31);
    }
    for (q = 0; q < m; q++) {
      const int c = ow0 + 8 * q;
      const int nc = p->OW - c < 8 ? p->OW - c : 8;
      wino_store8(p, o[q], bv, rr ? rr + 8 * q : NULL, yr + 8 * q, nc);
    }
  }
}

/* Output transform of tile row ty for channel k (mr: its M row at tile
 * column 0), strips of 8 tiles (the last one partial: y may be the
 * residual, so no tile is computed twice). */
RT_HELPER void wino_out_row8(const RtConv *p, const WinoGeo *g, const float *mr, int64_t ms, float bv, int ty,
                             const float *rk, float *yk) {
  int tx0;
  for (tx0 = 0; tx0 < g->tw; tx0 += 8) {
    const int nt = g->tw - tx0 < 8 ? g->tw - tx0 : 8;
    if (g->m == 4)
      wino_out_strip8_m(p, mr + tx0, ms, bv, ty, tx0, nt, rk, yk, 4);
    else
      wino_out_strip8_m(p, mr + tx0, ms, bv, ty, tx0, nt, rk, yk, 2);
  }
}

/* T-rows: input transform of the nt <= WINO_CIN(m) tiles [tx0, tx0 + nt) of
 * tile row ty for the 8 channels from c0 (fewer at the end), as
 * wino_in_trows_chunk_m of AVX-512 with 8 x 8 transposes.  Lanes past C
 * hold zeros and land in V's row padding (never read by the GEMM). */
RT_INLINE void wino_in_trows8_m(const RtConv *p, const WinoGeo *g, const float *xn, int ty, int tx0, int nt,
                                int c0, float *V, int64_t cs, int64_t vxs, const int m) {
  const int a = m + 2;
  const int nc = p->C - c0 < 8 ? p->C - c0 : 8;
  const int64_t hw = (int64_t)p->H * p->W;
  const int col0 = tx0 * m - p->pl, nblk = (nt * m + 2 + 7) / 8;
  const float *xc = xn + (int64_t)c0 * hw;
  __m256 pat[6][32]; /* [row][column], lanes = channels: 6 KiB */
  int i, j, l, q, tt;

  if (nc <= 0)
    return;
  for (i = 0; i < a; i++) {
    const int ih = ty * m - p->pt + i;
    for (q = 0; q < nblk; q++) {
      __m256 r[8];
      if (ih < 0 || ih >= p->H) {
        for (j = 0; j < 8; j++)
          pat[i][8 * q + j] = _mm256_setzero_ps();
        continue;
      }
      for (l = 0; l < 8; l++)
        r[l] = l < nc ? wino_load8(xc + l * hw + (int64_t)ih * p->W, col0 + 8 * q, p->W) : _mm256_setzero_ps();
      wino_tr8(r);
      for (j = 0; j < 8; j++)
        pat[i][8 * q + j] = r[j];
    }
  }
  for (tt = 0; tt < nt; tt++) {
    float *vt = V + ((int64_t)ty * g->tw + tx0 + tt) * cs + c0;
    __m256 z[6][6];
    for (j = 0; j < a; j++) { /* vertical, column j of the tile */
      __m256 d[6];
      for (i = 0; i < a; i++)
        d[i] = pat[i][tt * m + j];
      if (m == 4)
        WINO_IN4(d[0], d[1], d[2], d[3], d[4], d[5], z[0][j], z[1][j], z[2][j], z[3][j], z[4][j], z[5][j])
      else
        WINO_IN2(d[0], d[1], d[2], d[3], z[0][j], z[1][j], z[2][j], z[3][j])
    }
    for (i = 0; i < a; i++) {
      __m256 r[6];
      if (m == 4)
        WINO_IN4(z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], r[0], r[1], r[2], r[3], r[4], r[5])
      else
        WINO_IN2(z[i][0], z[i][1], z[i][2], z[i][3], r[0], r[1], r[2], r[3])
      for (j = 0; j < a; j++)
        _mm256_storeu_ps(vt + (int64_t)(i * a + j) * vxs, r[j]);
    }
  }
}

/* The 16 channels from c0 of a T-rows task, 8 at a time. */
RT_HELPER void wino_in_trows_chunk(const RtConv *p, const WinoGeo *g, const float *xn, int ty, int tx0, int nt,
                                   int c0, float *V, int64_t cs, int64_t vxs) {
  int h;
  for (h = 0; h < 16; h += 8) {
    if (g->m == 4)
      wino_in_trows8_m(p, g, xn, ty, tx0, nt, c0 + h, V, cs, vxs, 4);
    else
      wino_in_trows8_m(p, g, xn, ty, tx0, nt, c0 + h, V, cs, vxs, 2);
  }
}

/* T-rows: output transform of the nt <= WINO_COUT(m) tiles [tx0, tx0 + nt)
 * of tile row ty for the 8 channels from k0: transform on channel vectors
 * into out[row][column], each output row of up to 16 columns transposed
 * back 8 x 8 at a time, epilogue on contiguous rows of y. */
RT_INLINE void wino_out_trows8_m(const RtConv *p, const WinoGeo *g, const float *M, int64_t ks, int64_t mxs, int ty,
                                 int tx0, int nt, int k0, const float *b, const float *rn, float *yn, const int m) {
  const int a = m + 2;
  const int nk = p->K - k0 < 8 ? p->K - k0 : 8;
  const __m256i km = wino_mask8(nk);
  const int64_t ps = (int64_t)p->OH * p->OW;
  const int ow0 = tx0 * m, ncol = p->OW - ow0 < 16 ? p->OW - ow0 : 16;
  __m256 out[4][16]; /* [row][column], lanes = channels: 2 KiB */
  int i, j, l, h, tt;

  if (nk <= 0)
    return;
  for (tt = 0; tt < nt; tt++) {
    const float *mt = M + ((int64_t)ty * g->tw + tx0 + tt) * ks + k0;
    __m256 z[4][6];
    for (j = 0; j < a; j++) {
      __m256 mm[6];
      for (i = 0; i < a; i++)
        mm[i] = nk >= 8 ? _mm256_loadu_ps(mt + (int64_t)(i * a + j) * mxs)
                        : _mm256_maskload_ps(mt + (int64_t)(i * a + j) * mxs, km);
      if (m == 4)
        WINO_OUT4(mm[0], mm[1], mm[2], mm[3], mm[4], mm[5], z[0][j], z[1][j], z[2][j], z[3][j])
      else
        WINO_OUT2(mm[0], mm[1], mm[2], mm[3], z[0][j], z[1][j])
    }
    for (i = 0; i < m; i++) {
      __m256 q[4];
      if (m == 4)
        WINO_OUT4(z[i][0], z[i][1], z[i][2], z[i][3], z[i][4], z[i][5], q[0], q[1], q[2], q[3])
      else
        WINO_OUT2(z[i][0], z[i][1], z[i][2], z[i][3], q[0], q[1])
      for (j = 0; j < m; j++)
        out[i][tt * m + j] = q[j];
    }
  }
  for (i = 0; i < m; i++) {
    const int oh = ty * m + i;
    const int64_t yo = (int64_t)oh * p->OW + ow0;
    if (oh >= p->OH)
      break;
    for (h = 0; h < ncol; h += 8) {
      __m256 r[8];
      for (j = 0; j < 8; j++) /* columns past the chunk: never stored */
        r[j] = h + j < nt * m ? out[i][h + j] : _mm256_setzero_ps();
      wino_tr8(r);
      for (l = 0; l < nk; l++)
        wino_store8(p, r[l], b ? b[k0 + l] : 0.0f, rn ? rn + (k0 + l) * ps + yo + h : NULL,
                    yn + (k0 + l) * ps + yo + h, ncol - h);
    }
  }
}

/* The 16 channels from k0 of a T-rows task, 8 at a time. */
RT_HELPER void wino_out_trows_chunk(const RtConv *p, const WinoGeo *g, const float *M, int64_t ks, int64_t mxs,
                                    int ty, int tx0, int nt, int k0, const float *b, const float *rn, float *yn) {
  int h;
  for (h = 0; h < 16; h += 8) {
    if (g->m == 4)
      wino_out_trows8_m(p, g, M, ks, mxs, ty, tx0, nt, k0 + h, b, rn, yn, 4);
    else
      wino_out_trows8_m(p, g, M, ks, mxs, ty, tx0, nt, k0 + h, b, rn, yn, 2);
  }
}

#undef WT
#undef WADD
#undef WSUB
#undef WMULC

#endif

/* ------------------------------------------------------------ the conv */

/* T-rows layers (small maps) go parallel from half RT_PAR_MIN_WORK_CH of
 * GEMM multiply-adds: their transforms, which that count leaves out, take
 * most of their time (SqueezeNet's 27x27 and 13x13 expand convs, 0.3-0.5 ms
 * each, ran serial below RT_PAR_MIN_WORK: the model is 11% faster at 2
 * threads with them parallel, the others unchanged; CIFAR ResNet's 32-channel
 * 16x16 convs, 0.59 M multiply-adds and 11 us, stayed serial below the whole
 * RT_PAR_MIN_WORK_CH: 0.944x and 0.947x the model's time at 2 threads with
 * them parallel, bench/ab.sh, the other models unchanged). */
#ifndef WINO_TROWS_PAR
#define WINO_TROWS_PAR (RT_PAR_MIN_WORK_CH / 2)
#endif

/* One sample in the T-rows orientation: input transform (tasks: tile row x
 * chunk x 16 channels), the a*a GEMMs (tasks: xi x GEMM block), output
 * transform (tasks: tile row x chunk x 16 channels). */
RT_HELPER void wino_sample_trows(const RtConv *p, const WinoGeo *g, const float *xn, const float *u,
                                 const float *b, const float *rn, float *yn, float *V, float *M) {
  const int64_t cs = wino_row(p->C), ks = wino_row(p->K);
  const int64_t vxs = wino_row(g->T * cs), mxs = wino_row(g->T * ks);
  const int a2 = g->a * g->a, ncb = (p->C + 15) / 16, nkb = (p->K + 15) / 16;
  const int cin = WINO_CIN(g->m), cout = WINO_COUT(g->m);
  const int nchi = (g->tw + cin - 1) / cin, ncho = (g->tw + cout - 1) / cout;
  /* the batched GEMMs' multiply-adds decide for all three loops */
  const int par = (int64_t)g->a * g->a * g->T * p->C * p->K >= WINO_TROWS_PAR;
  int64_t t;
  RtGemm gm;
  int ntask;

  (void)par; /* read only by the OpenMP pragmas */
  RT_OMP(parallel for schedule(static) if(par))
  for (t = 0; t < (int64_t)g->th * nchi * ncb; t++) {
    const int ty = (int)(t / ((int64_t)nchi * ncb)), ch = (int)(t / ncb % nchi), c0 = (int)(t % ncb) * 16;
    const int tx0 = ch * cin, nt = g->tw - tx0 < cin ? g->tw - tx0 : cin;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    wino_in_trows_chunk(p, g, xn, ty, tx0, nt, c0, V, cs, vxs);
#else
    int tx;
    for (tx = tx0; tx < tx0 + nt; tx++)
      wino_in_trows_scalar(p, g, xn, ty * g->tw + tx, c0, c0 + 16 < p->C ? c0 + 16 : p->C, V, cs, vxs);
#endif
  }

  memset(&gm, 0, sizeof gm);
  gm.M = (int)g->T, gm.N = p->K, gm.K = p->C;
  gm.A = V, gm.lda = cs, gm.Bp = u, gm.ldb = ks;
  gm.C = M, gm.rsc = ks, gm.csc = 1;
  gm.bias = NULL, gm.res = NULL;
  gm.act = RT_ACT_NONE, gm.alpha = 0.0f, gm.beta = 0.0f;
  ntask = rt_gemm_ntasks(&gm);
  RT_PAR_FOR(par, dynamic, t, (int64_t)a2 * ntask,
    const int xi = (int)(t / ntask);
    RtGemm gx = gm;
    gx.A = V + xi * vxs;
    gx.Bp = u + xi * (int64_t)p->C * ks;
    gx.C = M + xi * mxs;
    rt_gemm_task(&gx, (int)(t % ntask));
  );

  RT_OMP(parallel for schedule(static) if(par))
  for (t = 0; t < (int64_t)g->th * ncho * nkb; t++) {
    const int ty = (int)(t / ((int64_t)ncho * nkb)), ch = (int)(t / nkb % ncho), k0 = (int)(t % nkb) * 16;
    const int tx0 = ch * cout, nt = g->tw - tx0 < cout ? g->tw - tx0 : cout;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    wino_out_trows_chunk(p, g, M, ks, mxs, ty, tx0, nt, k0, b, rn, yn);
#else
    int tx;
    for (tx = tx0; tx < tx0 + nt; tx++)
      wino_out_trows_scalar(p, g, M, ks, mxs, ty * g->tw + tx, k0, k0 + 16 < p->K ? k0 + 16 : p->K, b, rn, yn);
#endif
  }
}

/* K-rows, one block: tile rows [ty0, ty0 + nr) (nr <= R) of one sample through the
 * input transform (tasks: channel x tile row; in parallel tile row x channel,
 * so each thread has its rows of the map), the a*a GEMMs M_xi = U_xi V_xi
 * (tasks: xi x GEMM block) and the output transform (as the input), with V
 * and M of the block in the slot at V.  ipar runs the three loops in
 * parallel (a lone block of a big layer). */
RT_HELPER void wino_kblock(const RtConv *p, const WinoGeo *g, int ty0, int nr, const float *xn, const float *u,
                           const float *b, const float *rn, float *yn, float *V, int ipar) {
  const int64_t vs = g->vs, ms = g->ms, ld = g->ld;
  const int a2 = g->a * g->a;
  float *M = V + a2 * vs;
  int64_t t;
  RtGemm gm;
  int ntask;

  RT_OMP(parallel for schedule(static) if(ipar))
  for (t = 0; t < (int64_t)p->C * nr; t++) {
    const int c = (int)(ipar ? t % p->C : t / nr), r = (int)(ipar ? t / p->C : t % nr);
    const float *xc = xn + (int64_t)c * p->H * p->W;
    float *vr = V + (int64_t)c * ld + (int64_t)r * g->tw;
#if defined(__AVX512F__)
    int s;
    for (s = 0; s < g->nstrip; s++) {
      const int tx0 = s * 16, nt = g->tw - tx0 < 16 ? g->tw - tx0 : 16;
      wino_in_strip(p, g, xc, ty0 + r, tx0, nt, vr + tx0, vs);
    }
#elif defined(__AVX2__) && defined(__FMA__)
    wino_in_row8(p, g, xc, ty0 + r, vr, vs);
#else
    wino_in_scalar(p, g, xc, ty0 + r, 0, g->tw, vr, vs);
#endif
  }

  memset(&gm, 0, sizeof gm);
  gm.M = p->K, gm.N = nr * g->tw, gm.K = p->C;
  gm.A = u, gm.lda = p->C, gm.Bp = V, gm.ldb = ld;
  gm.C = M, gm.rsc = ld, gm.csc = 1;
  gm.bias = NULL, gm.res = NULL;
  gm.act = RT_ACT_NONE, gm.alpha = 0.0f, gm.beta = 0.0f;
  ntask = rt_gemm_ntasks(&gm);
  RT_PAR_FOR(ipar, dynamic, t, (int64_t)a2 * ntask,
    const int xi = (int)(t / ntask);
    RtGemm gx = gm;
    gx.A = u + (int64_t)xi * p->K * p->C;
    gx.Bp = V + xi * vs;
    gx.C = M + xi * ms;
    rt_gemm_task(&gx, (int)(t % ntask));
  );

  RT_OMP(parallel for schedule(static) if(ipar))
  for (t = 0; t < (int64_t)p->K * nr; t++) { /* as the input */
    const int k = (int)(ipar ? t % p->K : t / nr), r = (int)(ipar ? t / p->K : t % nr);
    const float *mr = M + (int64_t)k * ld + (int64_t)r * g->tw;
    const float bv = b ? b[k] : 0.0f;
    float *yk = yn + (int64_t)k * p->OH * p->OW;
    const float *rk = rn ? rn + (int64_t)k * p->OH * p->OW : NULL;
#if defined(__AVX512F__)
    int s;
    for (s = 0; s < g->nstrip; s++) {
      const int tx0 = s * 16, nt = g->tw - tx0 < 16 ? g->tw - tx0 : 16;
      wino_out_strip(p, g, mr + tx0, ms, bv, ty0 + r, tx0, nt, rk, yk);
    }
#elif defined(__AVX2__) && defined(__FMA__)
    wino_out_row8(p, g, mr, ms, bv, ty0 + r, rk, yk);
#else
    wino_out_scalar(p, g, mr, ms, bv, ty0 + r, 0, g->tw, rk, yk);
#endif
  }
}

/* One sample in the K-rows orientation, block by block.  With enough work
 * for threads and several blocks, slot s runs the s-th of nslot contiguous
 * runs of blocks (one task per slot); otherwise the blocks run in turn in
 * slot 0, each with its own loops parallel when the work asks for it. */
RT_HELPER void wino_sample_krows(const RtConv *p, const WinoGeo *g, const float *xn, const float *u,
                                 const float *b, const float *rn, float *yn, float *S) {
  const int64_t work = (int64_t)g->a * g->a * g->T * p->C * p->K;
  const int par = work >= RT_PAR_MIN_WORK;
  int s;
  /* Whole blocks per thread (one parallel loop, each thread on its own row
   * bands) pay as early as the channel-split loops; serial builds keep one
   * slot below RT_PAR_MIN_WORK (a smaller cache footprint). */
#ifdef _OPENMP
  const int slots = work >= WINO_SLOT_PAR && g->nslot > 1, bands = omp_get_max_threads() > 1;
#else
  const int slots = par && g->nslot > 1, bands = 0;
#endif
  if (slots) {
    /* slot s runs a contiguous band of the tile rows in blocks of up to R,
     * so each thread writes (and the next layer split by rows reads) one
     * band of the map; bands of rows, not of blocks, keep the threads even:
     * ResNet-18's 56x56 maps (14 tile rows, blocks of 2) went to 4 slots as
     * 1, 2, 2, 2 blocks, 3 and 4 per thread of 2; now 3 + 4 rows each */
    RT_PAR_FOR(1, static, s, g->nslot,
      int r0 = (int)((int64_t)g->th * s / g->nslot), r1 = (int)((int64_t)g->th * (s + 1) / g->nslot), r;
      if (!bands) /* one thread: the blocks as cut (fewer of them: 1 thread 1.011x slower in bands) */
        r0 = g->R * (int)((int64_t)g->nblk * s / g->nslot), r1 = g->R * (int)((int64_t)g->nblk * (s + 1) / g->nslot);
      r1 = r1 < g->th ? r1 : g->th;
      for (r = r0; r < r1; r += g->R)
        wino_kblock(p, g, r, r1 - r < g->R ? r1 - r : g->R, xn, u, b, rn, yn, S + s * g->slot, 0);
    );
  } else {
    for (s = 0; s < g->nblk; s++)
      wino_kblock(p, g, s * g->R, g->th - s * g->R < g->R ? g->th - s * g->R : g->R, xn, u, b, rn, yn, S, par);
  }
}

/* y = act(conv3x3(x) + b + res) for n samples; u from rt_winograd_weights
 * (the same p), scratch of rt_winograd_scratch(p) bytes. */
RT_FN void rt_winograd_conv2d(const RtConv *p, int n, const float *x, const float *u, const float *b,
                              const float *res, float *y, void *scratch) {
  WinoGeo g;
  float *S = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
  const int tr = wino_trows(p);
  int ni;
  wino_geo(p, &g);
  for (ni = 0; ni < n; ni++) {
    const float *xn = x + (int64_t)ni * p->C * p->H * p->W;
    float *yn = y + (int64_t)ni * p->K * p->OH * p->OW;
    const float *rn = res ? res + (int64_t)ni * p->K * p->OH * p->OW : NULL;
    if (tr)
      wino_sample_trows(p, &g, xn, u, b, rn, yn, S,
                        S + (int64_t)g.a * g.a * wino_row(g.T * wino_row(p->C)));
    else
      wino_sample_krows(p, &g, xn, u, b, rn, yn, S);
  }
}
