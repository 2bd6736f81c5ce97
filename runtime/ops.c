/* ops.c - elementwise, normalisation, softmax and layout kernels (forward).
 *
 * Provides rt_unary, rt_prelu, rt_batchnorm, rt_layernorm, rt_groupnorm,
 * rt_maxout, rt_softmax, rt_binary(_same), rt_copy_slice,
 * rt_upsample_nearest, rt_pad2d and rt_transpose.
 *
 * Guarantees:
 *  - PyTorch semantics: biased variance in the norms, max-subtracted softmax,
 *    log_softmax as x - max - log(sum exp(x - max)), NaN-propagating maxout;
 *    ONNX Pad semantics for rt_pad2d (reflect mirrors without repeating the
 *    edge, edge replicates it; negative pads crop);
 *  - statistics of the norms are accumulated in double in a fixed order, so a
 *    layer over 10^5 values keeps float accuracy;
 *  - each output element is written by one task, in an order fixed by the
 *    shapes, so results do not depend on the thread count;
 *  - elementwise kernels (unary, prelu, batchnorm, binary) and softmax allow
 *    y == x (in-place); layout kernels need distinct buffers.
 */
#include "cnnc_rt.h"

enum {
  OPS_CHUNK = 4096, /* elements per task of flat elementwise loops */
  OPS_LANES = 8,    /* interleaved double partial sums of the norm statistics */
  OPS_SMT = 64      /* softmax: inner positions handled together */
};

/* Mean and biased variance of x[0..count) (two passes, double lanes). */
RT_HELPER void ops_moments(const float *x, int64_t count, double *mean, double *var) {
  double acc[OPS_LANES], m, v;
  const int64_t main_len = count - count % OPS_LANES;
  int64_t i;
  int l;
  for (l = 0; l < OPS_LANES; l++)
    acc[l] = 0.0;
  for (i = 0; i < main_len; i += OPS_LANES)
    for (l = 0; l < OPS_LANES; l++)
      acc[l] += x[i + l];
  for (i = main_len; i < count; i++)
    acc[0] += x[i];
  m = 0.0;
  for (l = 0; l < OPS_LANES; l++)
    m += acc[l];
  m /= (double)count;
  for (l = 0; l < OPS_LANES; l++)
    acc[l] = 0.0;
  for (i = 0; i < main_len; i += OPS_LANES)
    for (l = 0; l < OPS_LANES; l++) {
      const double d = x[i + l] - m;
      acc[l] += d * d;
    }
  for (i = main_len; i < count; i++) {
    const double d = x[i] - m;
    acc[0] += d * d;
  }
  v = 0.0;
  for (l = 0; l < OPS_LANES; l++)
    v += acc[l];
  *mean = m;
  *var = v / (double)count;
}

RT_FN void rt_unary(int act, float a, float b, int64_t count, const float *x, float *y) {
  const int64_t nchunk = (count + OPS_CHUNK - 1) / OPS_CHUNK;
  int64_t t;
  RT_PAR_FOR(count >= RT_PAR_MIN_ELEMS, static, t, nchunk,
    const int64_t i0 = t * OPS_CHUNK;
    const int64_t len = count - i0 < OPS_CHUNK ? count - i0 : OPS_CHUNK;
    rt_act_array(act, a, b, x + i0, y + i0, len);
  );
}

RT_FN void rt_prelu(int n, int C, int HW, const float *x, const float *w, int nw, float *y) {
  const int64_t planes = (int64_t)n * C;
  int64_t t;
  RT_PAR_FOR(planes * HW >= RT_PAR_MIN_ELEMS, static, t, planes,
    const float s = nw == 1 ? w[0] : w[t % C];
    const float *xp = x + t * HW;
    float *yp = y + t * HW;
    int i;
    for (i = 0; i < HW; i++)
      yp[i] = xp[i] >= 0.0f ? xp[i] : s * xp[i];
  );
}

/* Folded per channel in double: y = x * scale + shift. */
RT_FN void rt_batchnorm(int n, int C, int HW, const float *x, const float *w, const float *b, const float *mean,
                        const float *var, float eps, float *y) {
  const int64_t planes = (int64_t)n * C;
  int64_t t;
  RT_PAR_FOR(planes * HW >= RT_PAR_MIN_ELEMS, static, t, planes,
    const int c = (int)(t % C);
    const double sc = (w ? (double)w[c] : 1.0) / sqrt((double)var[c] + (double)eps);
    const float scale = (float)sc;
    const float shift = (float)((b ? (double)b[c] : 0.0) - (double)mean[c] * sc);
    const float *xp = x + t * HW;
    float *yp = y + t * HW;
    int i;
    for (i = 0; i < HW; i++)
      yp[i] = xp[i] * scale + shift;
  );
}

RT_FN void rt_layernorm(int n, int M, const float *x, const float *w, const float *b, float eps, float *y) {
  int s;
  for (s = 0; s < n; s++) {
    const float *xs = x + (int64_t)s * M;
    float *ys = y + (int64_t)s * M;
    double mean, var;
    float m, r;
    int64_t t;
    const int64_t nchunk = ((int64_t)M + OPS_CHUNK - 1) / OPS_CHUNK;
    ops_moments(xs, M, &mean, &var);
    m = (float)mean;
    r = (float)(1.0 / sqrt(var + (double)eps));
    RT_PAR_FOR((int64_t)M >= RT_PAR_MIN_ELEMS, static, t, nchunk,
      const int64_t i0 = t * OPS_CHUNK;
      const int64_t e = M - i0 < OPS_CHUNK ? M : i0 + OPS_CHUNK;
      int64_t i;
      for (i = i0; i < e; i++) {
        float v = (xs[i] - m) * r;
        if (w)
          v *= w[i];
        if (b)
          v += b[i];
        ys[i] = v;
      }
    );
  }
}

RT_FN void rt_groupnorm(int n, int C, int HW, int G, const float *x, const float *w, const float *b, float eps,
                        float *y) {
  const int Cg = C / G;
  const int64_t gsize = (int64_t)Cg * HW, ngroups = (int64_t)n * G;
  int64_t t;
  RT_PAR_FOR(ngroups * gsize >= RT_PAR_MIN_ELEMS, static, t, ngroups,
    const float *xg = x + t * gsize;
    float *yg = y + t * gsize;
    const int g = (int)(t % G);
    double mean, var;
    float m, r;
    int c, i;
    ops_moments(xg, gsize, &mean, &var);
    m = (float)mean;
    r = (float)(1.0 / sqrt(var + (double)eps));
    for (c = 0; c < Cg; c++) {
      const int ch = g * Cg + c;
      const float sc = w ? w[ch] * r : r;
      const float sh = b ? b[ch] : 0.0f;
      const float *xp = xg + (int64_t)c * HW;
      float *yp = yg + (int64_t)c * HW;
      for (i = 0; i < HW; i++)
        yp[i] = (xp[i] - m) * sc + sh;
    }
  );
}

RT_FN void rt_maxout(int n, int C, int HW, int pieces, const float *x, float *y) {
  const int Co = C / pieces;
  const int64_t planes = (int64_t)n * Co;
  int64_t t;
  RT_PAR_FOR(planes * HW * pieces >= RT_PAR_MIN_ELEMS, static, t, planes,
    const int64_t s = t / Co;
    const int c = (int)(t % Co);
    const float *xs = x + s * C * HW;
    float *yp = y + t * HW;
    int k, i;
    for (i = 0; i < HW; i++)
      yp[i] = xs[(int64_t)c * HW + i];
    for (k = 1; k < pieces; k++) {
      const float *xp = xs + ((int64_t)k * Co + c) * HW;
      for (i = 0; i < HW; i++) {
        const float v = xp[i];
        if (v > yp[i] || v != v)
          yp[i] = v;
      }
    }
  );
}

/* Softmax over `dim` for up to OPS_SMT neighbouring inner positions at once,
 * so the loops over them are contiguous.  y may equal x: pass 2 overwrites
 * x[d] only after reading it, and pass 3 reads only y (softmax) or the
 * element it writes (log_softmax). */
RT_HELPER void ops_softmax_block(int dim, int64_t inner, int nb, const float *x, float *y, int log) {
  float mx[OPS_SMT], sum[OPS_SMT];
  int d, i;
  for (i = 0; i < nb; i++) {
    mx[i] = x[i];
    sum[i] = 0.0f;
  }
  for (d = 1; d < dim; d++) {
    const float *xd = x + d * inner;
    for (i = 0; i < nb; i++)
      mx[i] = xd[i] > mx[i] ? xd[i] : mx[i];
  }
  for (d = 0; d < dim; d++) {
    const float *xd = x + d * inner;
    float *yd = y + d * inner;
    for (i = 0; i < nb; i++) {
      const float e = expf(xd[i] - mx[i]);
      sum[i] += e;
      if (!log)
        yd[i] = e;
    }
  }
  if (log) {
    for (i = 0; i < nb; i++)
      sum[i] = mx[i] + logf(sum[i]);
    for (d = 0; d < dim; d++) {
      const float *xd = x + d * inner;
      float *yd = y + d * inner;
      for (i = 0; i < nb; i++)
        yd[i] = xd[i] - sum[i];
    }
  } else {
    for (i = 0; i < nb; i++)
      sum[i] = 1.0f / sum[i];
    for (d = 0; d < dim; d++) {
      float *yd = y + d * inner;
      for (i = 0; i < nb; i++)
        yd[i] *= sum[i];
    }
  }
}

RT_FN void rt_softmax(int64_t outer, int dim, int64_t inner, const float *x, float *y, int log) {
  const int64_t nib = (inner + OPS_SMT - 1) / OPS_SMT;
  int64_t t;
  if (dim <= 0)
    return;
  if (inner == 1) {
    RT_PAR_FOR(outer * dim >= RT_PAR_MIN_ELEMS, static, t, outer,
      const float *xr = x + t * dim;
      float *yr = y + t * dim;
      float m = xr[0], s = 0.0f;
      int d;
      for (d = 1; d < dim; d++)
        m = xr[d] > m ? xr[d] : m;
      for (d = 0; d < dim; d++)
        s += expf(xr[d] - m);
      if (log) {
        const float ls = m + logf(s);
        for (d = 0; d < dim; d++)
          yr[d] = xr[d] - ls;
      } else {
        const float r = 1.0f / s;
        for (d = 0; d < dim; d++)
          yr[d] = expf(xr[d] - m) * r;
      }
    );
    return;
  }
  RT_PAR_FOR(outer * nib * dim >= RT_PAR_MIN_ELEMS, static, t, outer * nib,
    const int64_t o = t / nib, i0 = t % nib * OPS_SMT;
    const int nb = (int)(inner - i0 < OPS_SMT ? inner - i0 : OPS_SMT);
    const int64_t base = o * dim * inner + i0;
    ops_softmax_block(dim, inner, nb, x + base, y + base, log);
  );
}

/* y[i] = a[i*sa] op b[i*sb] for i < len; the unit/zero strides get their own
 * loops so the common cases vectorize. */
RT_HELPER void ops_binary_row(int op, int64_t len, const float *a, int64_t sa, const float *b, int64_t sb, float *y) {
  int64_t i;
#define OPS_BIN_LOOPS_(EXPR)                                                                                           \
  if (sa == 1 && sb == 1)                                                                                              \
    for (i = 0; i < len; i++) {                                                                                        \
      const float u = a[i], v = b[i];                                                                                  \
      y[i] = EXPR;                                                                                                     \
    }                                                                                                                  \
  else if (sa == 1 && sb == 0)                                                                                         \
    for (i = 0; i < len; i++) {                                                                                        \
      const float u = a[i], v = b[0];                                                                                  \
      y[i] = EXPR;                                                                                                     \
    }                                                                                                                  \
  else if (sa == 0 && sb == 1)                                                                                         \
    for (i = 0; i < len; i++) {                                                                                        \
      const float u = a[0], v = b[i];                                                                                  \
      y[i] = EXPR;                                                                                                     \
    }                                                                                                                  \
  else                                                                                                                 \
    for (i = 0; i < len; i++) {                                                                                        \
      const float u = a[i * sa], v = b[i * sb];                                                                        \
      y[i] = EXPR;                                                                                                     \
    }
  switch (op) {
  case RT_BIN_MUL: OPS_BIN_LOOPS_(u * v) break;
  case RT_BIN_SUB: OPS_BIN_LOOPS_(u - v) break;
  case RT_BIN_DIV: OPS_BIN_LOOPS_(u / v) break;
  default: OPS_BIN_LOOPS_(u + v) break;
  }
#undef OPS_BIN_LOOPS_
}

RT_FN void rt_binary(int op, int rank, const int64_t *ydims, const int64_t *astride, const int64_t *bstride,
                     const float *a, const float *b, float *y, int act, float alpha, float beta) {
  int64_t len, sa, sb, rows, t;
  int d, orank;
  if (rank <= 0) {
    ops_binary_row(op, 1, a, 0, b, 0, y);
    rt_act_array(act, alpha, beta, y, y, 1);
    return;
  }
  /* Fold trailing axes into one row while both operands stay linear over
   * them (covers contiguous and fully broadcast runs), so rows are long. */
  len = ydims[rank - 1];
  sa = astride[rank - 1];
  sb = bstride[rank - 1];
  for (d = rank - 2; d >= 0; d--) {
    if (astride[d] != sa * len || bstride[d] != sb * len)
      break;
    len *= ydims[d];
  }
  orank = d + 1;
  rows = 1;
  for (d = 0; d < orank; d++)
    rows *= ydims[d];

  RT_PAR_FOR(rows * len >= RT_PAR_MIN_ELEMS, static, t, rows,
    int64_t rem = t, ao = 0, bo = 0;
    int e;
    for (e = orank - 1; e >= 0; e--) {
      const int64_t idx = rem % ydims[e];
      rem /= ydims[e];
      ao += idx * astride[e];
      bo += idx * bstride[e];
    }
    ops_binary_row(op, len, a + ao, sa, b + bo, sb, y + t * len);
    rt_act_array(act, alpha, beta, y + t * len, y + t * len, len);
  );
}

RT_FN void rt_binary_same(int op, int64_t count, const float *a, const float *b, float *y, int act, float alpha,
                          float beta) {
  const int64_t nchunk = (count + OPS_CHUNK - 1) / OPS_CHUNK;
  int64_t t;
  RT_PAR_FOR(count >= RT_PAR_MIN_ELEMS, static, t, nchunk,
    const int64_t i0 = t * OPS_CHUNK;
    const int64_t len = count - i0 < OPS_CHUNK ? count - i0 : OPS_CHUNK;
    ops_binary_row(op, len, a + i0, 1, b + i0, 1, y + i0);
    rt_act_array(act, alpha, beta, y + i0, y + i0, len);
  );
}

RT_FN void rt_copy_slice(int64_t outer, int64_t inner_x, int64_t inner_y, int64_t off, const float *x, float *y) {
  int64_t o;
  RT_PAR_FOR(outer * inner_y >= RT_PAR_MIN_ELEMS, static, o, outer, memcpy(y + o * inner_y + off, x + o * inner_x, (size_t)inner_x * sizeof(float)););
}

RT_FN void rt_slice_copy(int64_t outer, int64_t inner_x, int64_t inner_y, int64_t off, const float *x, float *y) {
  int64_t o;
  for (o = 0; o < outer; o++)
    memcpy(y + o * inner_y, x + o * inner_x + off, (size_t)inner_y * sizeof(float));
}

RT_FN void rt_upsample_nearest(int n, int C, int H, int W, int fh, int fw, const float *x, float *y) {
  const int64_t rows = (int64_t)n * C * H, OW = (int64_t)W * fw;
  int64_t t;
  RT_PAR_FOR(rows * OW * fh >= RT_PAR_MIN_ELEMS, static, t, rows,
    const float *xr = x + t * W;
    float *yr = y + t * fh * OW; /* input row t of its plane maps to fh output rows */
    int i, k;
    for (i = 0; i < W; i++)
      for (k = 0; k < fw; k++)
        yr[(int64_t)i * fw + k] = xr[i];
    for (k = 1; k < fh; k++)
      memcpy(yr + k * OW, yr, (size_t)OW * sizeof(float));
  );
}

/* Source index of padded position i for an axis of length L (L >= 1).
 * Reflect repeats with period 2(L-1) like numpy/ONNX; L == 1 reflects to 0. */
RT_INLINE int64_t ops_pad_src(int64_t i, int64_t L, int mode) {
  if (mode == 2)
    return i < 0 ? 0 : (i >= L ? L - 1 : i);
  if (L == 1)
    return 0;
  {
    const int64_t per = 2 * (L - 1);
    int64_t r = i % per;
    if (r < 0)
      r += per;
    return r < L ? r : per - r;
  }
}

RT_FN void rt_pad2d(int n, int C, int H, int W, int pt, int pl, int pb, int pr, int mode, float value, const float *x,
                    float *y) {
  const int64_t OH = (int64_t)H + pt + pb, OW = (int64_t)W + pl + pr;
  const int64_t rows = (int64_t)n * C * OH;
  /* output columns [lo, hi) read input columns ow - pl inside [0, W) */
  const int64_t lo = pl > 0 ? pl : 0;
  const int64_t hi = (int64_t)W + pl < OW ? (int64_t)W + pl : OW;
  int64_t t;
  if (OH <= 0 || OW <= 0)
    return;
  RT_PAR_FOR(rows * OW >= RT_PAR_MIN_ELEMS, static, t, rows,
    const int64_t oh = t % OH, plane = t / OH;
    float *yr = y + t * OW;
    int64_t ih = oh - pt, o;
    const float *xr;
    if (mode == 0 && (ih < 0 || ih >= H)) {
      for (o = 0; o < OW; o++)
        yr[o] = value;
      continue;
    }
    if (mode != 0)
      ih = ops_pad_src(ih, H, mode);
    xr = x + (plane * H + ih) * W;
    for (o = 0; o < lo && o < OW; o++)
      yr[o] = mode == 0 ? value : xr[ops_pad_src(o - pl, W, mode)];
    for (o = lo; o < hi; o++)
      yr[o] = xr[o - pl];
    for (o = hi > lo ? hi : lo; o < OW; o++)
      yr[o] = mode == 0 ? value : xr[ops_pad_src(o - pl, W, mode)];
  );
}

/* Rows of y along its last axis; each row's start in x is rebuilt from its
 * index (O(rank^2) per row, no rank limit and no index arrays). */
RT_FN void rt_transpose(int rank, const int64_t *xdims, const int *perm, const float *x, float *y) {
  int64_t len, xs_last, rows, t;
  int d, e;
  if (rank <= 0) {
    y[0] = x[0];
    return;
  }
  len = xdims[perm[rank - 1]];
  xs_last = 1;
  for (e = perm[rank - 1] + 1; e < rank; e++)
    xs_last *= xdims[e];
  rows = 1;
  for (d = 0; d < rank - 1; d++)
    rows *= xdims[perm[d]];

  RT_PAR_FOR(rows * len >= RT_PAR_MIN_ELEMS, static, t, rows,
    int64_t rem = t, xo = 0, i;
    int dd, ee;
    float *yr = y + t * len;
    for (dd = rank - 2; dd >= 0; dd--) {
      const int64_t n_d = xdims[perm[dd]], idx = rem % n_d;
      int64_t st = 1;
      rem /= n_d;
      for (ee = perm[dd] + 1; ee < rank; ee++)
        st *= xdims[ee];
      xo += idx * st;
    }
    if (xs_last == 1) {
      memcpy(yr, x + xo, (size_t)len * sizeof(float));
    } else {
      for (i = 0; i < len; i++)
        yr[i] = x[xo + i * xs_last];
    }
  );
}
