/* backward.c - backward kernels and training-mode forwards.
 *
 * Provides the vector-Jacobian products of every forward kernel in conv.c,
 * pool.c and ops.c (argument order follows the forward), the training forms
 * of the norms (batch statistics, saved mean and 1/sqrt(var + eps)), inverted
 * dropout driven by a counter-based hash, and rt_accumulate.
 *
 * Guarantees:
 *  - every gradient is ACCUMULATED (+=) into its buffer, never assigned, and
 *    any gradient pointer may be NULL (that gradient is skipped);
 *  - PyTorch (1.13, CPU) semantics, including the points where the forward is
 *    not differentiable: relu passes nothing at x == 0, leaky relu / prelu use
 *    the slope at x == 0, clip passes the gradient for min <= x <= max
 *    (torch.clamp), hardswish follows torch's vectorized CPU kernel (-0.5 at
 *    -3, 1 at 3), hardsigmoid is 0 on its bounds, max pooling and maxout
 *    route the gradient to the first maximum in scan order (the last NaN if
 *    any, as the forward picks it), lppool gives 0 where the window's output
 *    is 0 (torch's sign(out) * relu(|out|));
 *  - rt_unary_bwd needs x, except for relu, sigmoid, tanh, none/identity and
 *    (with a > 0) leaky/elu/selu, which also work from the output y alone
 *    (x == NULL), so an in-place forward can still be differentiated;
 *  - conv/linear backward ignore p->act, p->algo and the residual: dy is the
 *    gradient of the pre-activation sum (the generated code runs
 *    rt_unary_bwd on a fused activation first and routes a residual itself);
 *  - deterministic and thread-count independent: a parallel loop only runs
 *    over tasks that own disjoint gradient elements (dW of a conv is split
 *    over (output channel, input channel) pairs, never over the batch), and
 *    each element's terms are added in an order fixed by the shapes; where
 *    outputs overlap in the input (pooling windows, reflect padding) one task
 *    owns a whole plane and scatters into it serially;
 *  - long reductions (conv dW and db, norm statistics) are summed in interleaved
 *    float lanes per row and in double across rows, so float rounding stays
 *    small for batch * H * W up to millions of terms;
 *  - no heap, no globals, no VLAs; nothing needs scratch memory.
 */
#include "cnnc_rt.h"

enum {
  BWD_CHUNK = 4096, /* elements per task of flat elementwise loops */
  BWD_LANES = 8,    /* interleaved partial sums of a dot product */
  BWD_SMT = 64      /* softmax: inner positions handled together */
};

/* ------------------------------------------------------------ helpers */

/* sum_i a[i] * b[i*sb] in BWD_LANES interleaved partial sums reduced in a
 * fixed order: vectorizable without -ffast-math, order depends on len only. */
RT_HELPER float bwd_dot(const float *RT_RESTRICT a, const float *RT_RESTRICT b, int64_t sb, int64_t len) {
  float acc[BWD_LANES];
  const int64_t main_len = len - len % BWD_LANES;
  int64_t i;
  int l, h;
  float s;
  for (l = 0; l < BWD_LANES; l++)
    acc[l] = 0.0f;
  if (sb == 1) {
    for (i = 0; i < main_len; i += BWD_LANES)
      for (l = 0; l < BWD_LANES; l++)
        acc[l] += a[i + l] * b[i + l];
  } else {
    for (i = 0; i < main_len; i += BWD_LANES)
      for (l = 0; l < BWD_LANES; l++)
        acc[l] += a[i + l] * b[(i + l) * sb];
  }
  for (h = BWD_LANES / 2; h > 0; h /= 2)
    for (l = 0; l < h; l++)
      acc[l] += acc[l + h];
  s = acc[0];
  for (i = main_len; i < len; i++)
    s += a[i] * b[i * sb];
  return s;
}

/* sum of x[0..len) the same way. */
RT_HELPER float bwd_sum(const float *x, int64_t len) {
  float acc[BWD_LANES];
  const int64_t main_len = len - len % BWD_LANES;
  int64_t i;
  int l, h;
  float s;
  for (l = 0; l < BWD_LANES; l++)
    acc[l] = 0.0f;
  for (i = 0; i < main_len; i += BWD_LANES)
    for (l = 0; l < BWD_LANES; l++)
      acc[l] += x[i + l];
  for (h = BWD_LANES / 2; h > 0; h /= 2)
    for (l = 0; l < h; l++)
      acc[l] += acc[l + h];
  s = acc[0];
  for (i = main_len; i < len; i++)
    s += x[i];
  return s;
}

/* Sum over a long vector: float lanes per block of BWD_CHUNK, double across
 * blocks, so the error does not grow with the length. */
RT_HELPER double bwd_sum_long(const float *x, int64_t len) {
  double s = 0.0;
  int64_t i;
  for (i = 0; i < len; i += BWD_CHUNK)
    s += bwd_sum(x + i, len - i < BWD_CHUNK ? len - i : BWD_CHUNK);
  return s;
}

/* sum (x - m)^2 over len values, in double lanes. */
RT_HELPER double bwd_centred_sq(const float *x, int64_t len, double m) {
  double acc[BWD_LANES], s = 0.0;
  const int64_t main_len = len - len % BWD_LANES;
  int64_t i;
  int l;
  for (l = 0; l < BWD_LANES; l++)
    acc[l] = 0.0;
  for (i = 0; i < main_len; i += BWD_LANES)
    for (l = 0; l < BWD_LANES; l++) {
      const double d = x[i + l] - m;
      acc[l] += d * d;
    }
  for (i = main_len; i < len; i++) {
    const double d = x[i] - m;
    acc[0] += d * d;
  }
  for (l = 0; l < BWD_LANES; l++)
    s += acc[l];
  return s;
}

/* Mean and biased variance of x[0..len) in double (two passes); the same lane
 * order as ops.c's forward norms, so the training forwards match them bit for
 * bit. */
RT_HELPER void bwd_moments(const float *x, int64_t len, double *mean, double *var) {
  double acc[BWD_LANES], m = 0.0;
  const int64_t main_len = len - len % BWD_LANES;
  int64_t i;
  int l;
  for (l = 0; l < BWD_LANES; l++)
    acc[l] = 0.0;
  for (i = 0; i < main_len; i += BWD_LANES)
    for (l = 0; l < BWD_LANES; l++)
      acc[l] += x[i + l];
  for (i = main_len; i < len; i++)
    acc[0] += x[i];
  for (l = 0; l < BWD_LANES; l++)
    m += acc[l];
  m /= (double)len;
  *mean = m;
  *var = bwd_centred_sq(x, len, m) / (double)len;
}

/* sum dy and sum dy * (x - m) over len values, in double lanes.  These are
 * the two reductions of every norm's backward. */
RT_HELPER void bwd_norm_sums(const float *dy, const float *x, double m, int64_t len, double *sdy, double *sdyx) {
  double a[BWD_LANES], b[BWD_LANES], s1 = 0.0, s2 = 0.0;
  const int64_t main_len = len - len % BWD_LANES;
  int64_t i;
  int l;
  for (l = 0; l < BWD_LANES; l++)
    a[l] = b[l] = 0.0;
  for (i = 0; i < main_len; i += BWD_LANES)
    for (l = 0; l < BWD_LANES; l++) {
      a[l] += dy[i + l];
      b[l] += dy[i + l] * (x[i + l] - m);
    }
  for (i = main_len; i < len; i++) {
    a[0] += dy[i];
    b[0] += dy[i] * (x[i] - m);
  }
  for (l = 0; l < BWD_LANES; l++) {
    s1 += a[l];
    s2 += b[l];
  }
  *sdy = s1;
  *sdyx = s2;
}

/* ------------------------------------------------------------ conv.c */

/* db[k] += sum over the batch and the plane of dy; one task per channel. */
RT_HELPER void bwd_bias(int n, int K, int64_t plane, const float *dy, float *db) {
  int64_t k;
  RT_OMP(parallel for schedule(static))
  for (k = 0; k < K; k++) {
    double s = 0.0;
    int ni;
    for (ni = 0; ni < n; ni++)
      s += bwd_sum_long(dy + ((int64_t)ni * K + k) * plane, plane);
    db[k] += (float)s;
  }
}

/* Forward: y[k][oh][ow] = sum_{c,i,j} w[k][c][i][j] x[g*Cg+c][oh*sh-pt+i*dh][ow*sw-pl+j*dw].
 *  dW: one task per (k, c): for each tap, a dot product of the dy plane with
 *      the shifted (strided) x plane, rows summed in double.
 *  dX: one task per input row (sample, channel, ih), gathering from every
 *      (k, i, j) whose output row oh = (ih + pt - i*dh) / sh is whole; each
 *      task writes only its own row, one contiguous multiply-add per tap.
 *      (Register tiles over 16 columns, as in the forward, measured slower
 *      here: with 3x3 kernels the per-tap bookkeeping outweighs the saved
 *      loads and stores of the dx row, which stays in L1.) */
RT_FN void rt_conv2d_bwd(const RtConv *p, int n, const float *x, const float *w, const float *dy, float *dx, float *dw,
                         float *db) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int64_t HW = (int64_t)p->H * p->W, OHW = (int64_t)p->OH * p->OW;
  const int64_t ksz = (int64_t)p->kh * p->kw;
  int64_t t;

  if (db)
    bwd_bias(n, p->K, OHW, dy, db);

  if (dw) {
    const int64_t ntask = (int64_t)p->K * Cg;
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < ntask; t++) {
      const int k = (int)(t / Cg), c = (int)(t % Cg);
      const int ci = k / Kg * Cg + c;
      float *dwk = dw + t * ksz;
      int i, j, ni, oh;
      for (i = 0; i < p->kh; i++) {
        for (j = 0; j < p->kw; j++) {
          const int off = j * p->dw - p->pl; /* iw = ow*sw + off */
          double s = 0.0;
          int lo, hi;
          rt_valid_range(0, p->OW, p->sw, off, p->W, &lo, &hi);
          if (hi > lo) {
            for (ni = 0; ni < n; ni++) {
              const float *dyp = dy + ((int64_t)ni * p->K + k) * OHW;
              const float *xp = x + ((int64_t)ni * p->C + ci) * HW;
              for (oh = 0; oh < p->OH; oh++) {
                const int ih = oh * p->sh - p->pt + i * p->dh;
                if (ih < 0 || ih >= p->H)
                  continue;
                s += bwd_dot(dyp + (int64_t)oh * p->OW + lo, xp + (int64_t)ih * p->W + (int64_t)lo * p->sw + off, p->sw,
                             hi - lo);
              }
            }
          }
          dwk[i * p->kw + j] += (float)s;
        }
      }
    }
  }

  if (dx) {
    const int64_t ntask = (int64_t)n * p->C * p->H;
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < ntask; t++) {
      const int ih = (int)(t % p->H), ci = (int)(t / p->H % p->C);
      const int64_t ni = t / p->H / p->C;
      const int g = ci / Cg, c = ci % Cg;
      float *dxr = dx + t * p->W;
      int kl, i, j, ow;
      for (kl = 0; kl < Kg; kl++) {
        const int k = g * Kg + kl;
        const float *dyp = dy + (ni * p->K + k) * OHW;
        const float *wk = w + ((int64_t)k * Cg + c) * ksz;
        for (i = 0; i < p->kh; i++) {
          const int num = ih + p->pt - i * p->dh;
          const float *dyr;
          if (num < 0 || num % p->sh != 0 || num / p->sh >= p->OH)
            continue;
          dyr = dyp + (int64_t)(num / p->sh) * p->OW;
          for (j = 0; j < p->kw; j++) {
            const float wv = wk[i * p->kw + j];
            const int off = j * p->dw - p->pl;
            int lo, hi;
            rt_valid_range(0, p->OW, p->sw, off, p->W, &lo, &hi);
            if (p->sw == 1) {
              for (ow = lo; ow < hi; ow++)
                dxr[ow + off] += wv * dyr[ow];
            } else {
              for (ow = lo; ow < hi; ow++)
                dxr[ow * p->sw + off] += wv * dyr[ow];
            }
          }
        }
      }
    }
  }
}

/* Forward: y[k][ih*sh-pt+i*dh][iw*sw-pl+j*dw] += x[ci][ih][iw] w[ci][kl][i][j]
 * (weight (C, K/groups, kh, kw)).  Its backward is a plain strided conv:
 *  dX[ci][ih][iw] = sum_{kl,i,j} w[ci][kl][i][j] dy[k][ih*sh-pt+i*dh][iw*sw-pl+j*dw],
 *  dW[ci][kl][i][j] = sum_{n,ih,iw} x[ci][ih][iw] dy[k][...]; one task per
 *  input row for dX and per (ci, kl) for dW. */
RT_FN void rt_conv_transpose2d_bwd(const RtConv *p, int n, const float *x, const float *w, const float *dy, float *dx,
                                   float *dw, float *db) {
  const int G = p->groups, Cg = p->C / G, Kg = p->K / G;
  const int64_t HW = (int64_t)p->H * p->W, OHW = (int64_t)p->OH * p->OW;
  const int64_t ksz = (int64_t)p->kh * p->kw;
  int64_t t;

  if (db)
    bwd_bias(n, p->K, OHW, dy, db);

  if (dw) {
    const int64_t ntask = (int64_t)p->C * Kg;
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < ntask; t++) {
      const int ci = (int)(t / Kg), kl = (int)(t % Kg);
      const int k = ci / Cg * Kg + kl;
      float *dwc = dw + t * ksz;
      int i, j, ni, ih;
      for (i = 0; i < p->kh; i++) {
        for (j = 0; j < p->kw; j++) {
          const int off = j * p->dw - p->pl; /* ow = iw*sw + off */
          double s = 0.0;
          int lo, hi;
          rt_valid_range(0, p->W, p->sw, off, p->OW, &lo, &hi);
          if (hi > lo) {
            for (ni = 0; ni < n; ni++) {
              const float *xp = x + ((int64_t)ni * p->C + ci) * HW;
              const float *dyp = dy + ((int64_t)ni * p->K + k) * OHW;
              for (ih = 0; ih < p->H; ih++) {
                const int oh = ih * p->sh - p->pt + i * p->dh;
                if (oh < 0 || oh >= p->OH)
                  continue;
                s += bwd_dot(xp + (int64_t)ih * p->W + lo, dyp + (int64_t)oh * p->OW + (int64_t)lo * p->sw + off, p->sw,
                             hi - lo);
              }
            }
          }
          dwc[i * p->kw + j] += (float)s;
        }
      }
    }
  }

  if (dx) {
    const int64_t ntask = (int64_t)n * p->C * p->H;
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < ntask; t++) {
      const int ih = (int)(t % p->H), ci = (int)(t / p->H % p->C);
      const int64_t ni = t / p->H / p->C;
      const int g = ci / Cg;
      float *dxr = dx + t * p->W;
      int kl, i, j, iw;
      for (kl = 0; kl < Kg; kl++) {
        const float *dyp = dy + (ni * p->K + g * Kg + kl) * OHW;
        const float *wc = w + ((int64_t)ci * Kg + kl) * ksz;
        for (i = 0; i < p->kh; i++) {
          const int oh = ih * p->sh - p->pt + i * p->dh;
          const float *dyr;
          if (oh < 0 || oh >= p->OH)
            continue;
          dyr = dyp + (int64_t)oh * p->OW;
          for (j = 0; j < p->kw; j++) {
            const float wv = wc[i * p->kw + j];
            const int off = j * p->dw - p->pl;
            int lo, hi;
            rt_valid_range(0, p->W, p->sw, off, p->OW, &lo, &hi);
            if (p->sw == 1) {
              for (iw = lo; iw < hi; iw++)
                dxr[iw] += wv * dyr[iw + off];
            } else {
              for (iw = lo; iw < hi; iw++)
                dxr[iw] += wv * dyr[iw * p->sw + off];
            }
          }
        }
      }
    }
  }
}

/* dx[s][i] += sum_o dy[s][o] w[o][i]  (tasks: sample x column chunk);
 * dw[o][i] += sum_s dy[s][o] x[s][i]  (tasks: output row);
 * db[o]    += sum_s dy[s][o].
 * The inner loops run over contiguous i, adding into the gradient row in a
 * fixed order (o, resp. s, ascending). */
RT_FN void rt_linear_bwd(int n, int in, int out, const float *x, const float *w, const float *dy, float *dx, float *dw,
                         float *db) {
  int64_t t;
  if (db) {
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < out; t++) {
      double s = 0.0;
      int si;
      for (si = 0; si < n; si++)
        s += dy[(int64_t)si * out + t];
      db[t] += (float)s;
    }
  }
  if (dw) {
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < out; t++) {
      float *dwr = dw + t * in;
      int si, i;
      for (si = 0; si < n; si++) {
        const float d = dy[(int64_t)si * out + t];
        const float *xr = x + (int64_t)si * in;
        for (i = 0; i < in; i++)
          dwr[i] += d * xr[i];
      }
    }
  }
  if (dx) {
    const int64_t nch = ((int64_t)in + BWD_CHUNK - 1) / BWD_CHUNK;
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < (int64_t)n * nch; t++) {
      const int64_t si = t / nch, i0 = t % nch * BWD_CHUNK;
      const int64_t i1 = in - i0 < BWD_CHUNK ? in : i0 + BWD_CHUNK;
      float *dxr = dx + si * in;
      int64_t i;
      int o;
      for (o = 0; o < out; o++) {
        const float d = dy[si * out + o];
        const float *wr = w + (int64_t)o * in;
        for (i = i0; i < i1; i++)
          dxr[i] += d * wr[i];
      }
    }
  }
}

/* ------------------------------------------------------------ pool.c */

/* Taps [*lo, *hi) of a window starting at s0 (dilation d, k taps) inside
 * [0, L); pool.c's rule, repeated here because each runtime file is also
 * compiled on its own. */
RT_INLINE void bwd_taps(int s0, int k, int d, int L, int *lo, int *hi) {
  int l = s0 >= 0 ? 0 : (-s0 + d - 1) / d;
  int h = L - 1 - s0 < 0 ? 0 : (L - 1 - s0) / d + 1;
  if (h > k)
    h = k;
  if (h < l)
    h = l;
  *lo = l;
  *hi = h;
}

/* kind 0 max, 1 avg, 2 Lp.  Windows may overlap, so one task owns a whole
 * (sample, channel) plane of dx and visits the outputs in row-major order. */
RT_HELPER void bwd_pool(const RtPool *p, int n, const float *x, const float *y, const float *dy, float *dx, int kind) {
  const int64_t planes = (int64_t)n * p->C, HW = (int64_t)p->H * p->W, OHW = (int64_t)p->OH * p->OW;
  const float pw = p->norm;
  int64_t t;

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < planes; t++) {
    const float *xp = x ? x + t * HW : NULL;
    const float *yp = y ? y + t * OHW : NULL;
    const float *dyp = dy + t * OHW;
    float *dxp = dx + t * HW;
    int oh, ow, i, j;
    for (oh = 0; oh < p->OH; oh++) {
      const int h0 = oh * p->sh - p->pt;
      int ilo, ihi, plo, phi;
      bwd_taps(h0, p->kh, p->dh, p->H, &ilo, &ihi);
      bwd_taps(h0 + p->pt, p->kh, p->dh, p->H + p->pt + p->pb, &plo, &phi);
      for (ow = 0; ow < p->OW; ow++) {
        const int w0 = ow * p->sw - p->pl;
        const float g = dyp[(int64_t)oh * p->OW + ow];
        int jlo, jhi, qlo, qhi, cnt;
        bwd_taps(w0, p->kw, p->dw, p->W, &jlo, &jhi);
        if (ihi <= ilo || jhi <= jlo)
          continue;
        if (kind == 0) {
          /* PyTorch CPU: index starts at the first tap; a later tap wins if
           * strictly greater or NaN. */
          int64_t best = (int64_t)(h0 + ilo * p->dh) * p->W + w0 + jlo * p->dw;
          float m = -INFINITY;
          for (i = ilo; i < ihi; i++) {
            const int64_t rb = (int64_t)(h0 + i * p->dh) * p->W + w0;
            for (j = jlo; j < jhi; j++) {
              const float v = xp[rb + j * p->dw];
              if (v > m || v != v) {
                m = v;
                best = rb + j * p->dw;
              }
            }
          }
          dxp[best] += g;
        } else if (kind == 1) {
          float q;
          bwd_taps(w0 + p->pl, p->kw, p->dw, p->W + p->pl + p->pr, &qlo, &qhi);
          cnt = p->count_include_pad ? (phi - plo) * (qhi - qlo) : (ihi - ilo) * (jhi - jlo);
          if (cnt <= 0)
            continue;
          q = g / (float)cnt;
          for (i = ilo; i < ihi; i++) {
            const int64_t rb = (int64_t)(h0 + i * p->dh) * p->W + w0;
            for (j = jlo; j < jhi; j++)
              dxp[rb + j * p->dw] += q;
          }
        } else {
          /* y = (scale * sum x^p)^(1/p), scale = kh*kw/cnt on shrunk ceil_mode
           * windows (as the forward); dy/dx = scale * x^(p-1) * y^(1-p).
           * torch's sign(out)*relu(|out|) gives exactly 0 where out == 0. */
          const float yv = yp[(int64_t)oh * p->OW + ow];
          float f;
          if (yv == 0.0f)
            continue;
          bwd_taps(w0 + p->pl, p->kw, p->dw, p->W + p->pl + p->pr, &qlo, &qhi);
          cnt = (phi - plo) * (qhi - qlo);
          f = pw == 2.0f ? g / yv : (pw == 1.0f ? g : g * powf(yv, 1.0f - pw));
          if (cnt != p->kh * p->kw && cnt > 0)
            f = f / (float)cnt * (float)(p->kh * p->kw);
          for (i = ilo; i < ihi; i++) {
            const int64_t rb = (int64_t)(h0 + i * p->dh) * p->W + w0;
            for (j = jlo; j < jhi; j++) {
              const float v = xp[rb + j * p->dw];
              dxp[rb + j * p->dw] += pw == 2.0f ? f * v : (pw == 1.0f ? f : f * powf(v, pw - 1.0f));
            }
          }
        }
      }
    }
  }
}

RT_FN void rt_maxpool2d_bwd(const RtPool *p, int n, const float *x, const float *dy, float *dx) {
  if (dx)
    bwd_pool(p, n, x, NULL, dy, dx, 0);
}

RT_FN void rt_avgpool2d_bwd(const RtPool *p, int n, const float *dy, float *dx) {
  if (dx)
    bwd_pool(p, n, NULL, NULL, dy, dx, 1);
}

RT_FN void rt_lppool2d_bwd(const RtPool *p, int n, const float *x, const float *y, const float *dy, float *dx) {
  if (dx)
    bwd_pool(p, n, x, y, dy, dx, 2);
}

/* Bins may overlap when H % OH != 0, so one task per plane. */
RT_FN void rt_adaptive_avgpool2d_bwd(int n, int C, int H, int W, int OH, int OW, const float *dy, float *dx) {
  const int64_t planes = (int64_t)n * C;
  int64_t t;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < planes; t++) {
    const float *dyp = dy + t * OH * OW;
    float *dxp = dx + t * H * W;
    int oh, ow, i, j;
    for (oh = 0; oh < OH; oh++) {
      const int hs = (int)((int64_t)oh * H / OH);
      const int he = (int)(((int64_t)(oh + 1) * H + OH - 1) / OH);
      for (ow = 0; ow < OW; ow++) {
        const int ws = (int)((int64_t)ow * W / OW);
        const int we = (int)(((int64_t)(ow + 1) * W + OW - 1) / OW);
        const float q = dyp[(int64_t)oh * OW + ow] / (float)((he - hs) * (we - ws));
        for (i = hs; i < he; i++)
          for (j = ws; j < we; j++)
            dxp[(int64_t)i * W + j] += q;
      }
    }
  }
}

RT_FN void rt_global_avgpool_bwd(int n, int C, int HW, const float *dy, float *dx) {
  rt_reduce_mean_bwd((int64_t)n * C, HW, 1, dy, dx);
}

RT_FN void rt_reduce_mean_bwd(int64_t outer, int64_t red, int64_t inner, const float *dy, float *dx) {
  int64_t o;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (o = 0; o < outer; o++) {
    const float *dyo = dy + o * inner;
    float *dxo = dx + o * red * inner;
    int64_t r, i;
    for (r = 0; r < red; r++)
      for (i = 0; i < inner; i++)
        dxo[r * inner + i] += dyo[i] / (float)red;
  }
}

/* ------------------------------------------------------------ norms */

/* Normalise each channel over its n*HW values with the batch statistics.
 * PyTorch: biased variance for y, running_var updated with the unbiased one
 * (n*HW / (n*HW - 1); with a single value, where torch refuses to train, the
 * biased 0 is used), running = (1 - momentum) * running + momentum * batch. */
RT_FN void rt_batchnorm_train(int n, int C, int HW, const float *x, const float *w, const float *b, float *running_mean,
                              float *running_var, float momentum, float eps, float *y, float *save_mean,
                              float *save_invstd) {
  const int64_t cnt = (int64_t)n * HW;
  int64_t c;
  RT_OMP(parallel for schedule(static))
  for (c = 0; c < C; c++) {
    double s = 0.0, ss = 0.0, mean, var, istd;
    float m, sc, sh;
    int ni, i;
    /* mean first, then the centred squares: both passes in a fixed order */
    for (ni = 0; ni < n; ni++)
      s += bwd_sum_long(x + ((int64_t)ni * C + c) * HW, HW);
    mean = s / (double)cnt;
    for (ni = 0; ni < n; ni++)
      ss += bwd_centred_sq(x + ((int64_t)ni * C + c) * HW, HW, mean);
    var = ss / (double)cnt;
    istd = 1.0 / sqrt(var + (double)eps);
    if (save_mean)
      save_mean[c] = (float)mean;
    if (save_invstd)
      save_invstd[c] = (float)istd;
    if (running_mean)
      running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
    if (running_var) {
      const double unb = cnt > 1 ? var * (double)cnt / (double)(cnt - 1) : var;
      running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unb);
    }
    m = (float)mean;
    sc = (float)((w ? (double)w[c] : 1.0) * istd);
    sh = b ? b[c] : 0.0f;
    for (ni = 0; ni < n; ni++) {
      const float *xp = x + ((int64_t)ni * C + c) * HW;
      float *yp = y + ((int64_t)ni * C + c) * HW;
      for (i = 0; i < HW; i++)
        yp[i] = (xp[i] - m) * sc + sh;
    }
  }
}

/* xhat = (x - mean) * invstd over N = n*HW values of a channel:
 *   db += sum dy,  dw += sum dy * xhat,
 *   dx += w * invstd / N * (N dy - sum dy - xhat * sum dy*xhat).
 * One task per channel (sums in double). */
RT_FN void rt_batchnorm_bwd(int n, int C, int HW, const float *x, const float *w, const float *save_mean,
                            const float *save_invstd, const float *dy, float *dx, float *dw, float *db) {
  const int64_t cnt = (int64_t)n * HW;
  int64_t c;
  RT_OMP(parallel for schedule(static))
  for (c = 0; c < C; c++) {
    const double m = save_mean[c], r = save_invstd[c];
    double sdy = 0.0, sdyx = 0.0;
    int ni, i;
    for (ni = 0; ni < n; ni++) {
      const int64_t o = ((int64_t)ni * C + c) * HW;
      double a, bb;
      bwd_norm_sums(dy + o, x + o, m, HW, &a, &bb);
      sdy += a;
      sdyx += bb;
    }
    if (db)
      db[c] += (float)sdy;
    if (dw)
      dw[c] += (float)(sdyx * r);
    if (dx) {
      const double k = (w ? (double)w[c] : 1.0) * r;
      const float f1 = (float)k;
      const float f2 = (float)(k * sdy / (double)cnt);
      const float f3 = (float)(k * r * r * sdyx / (double)cnt); /* xhat*sum(dy xhat)/N per (x - m) */
      const float mf = (float)m;
      for (ni = 0; ni < n; ni++) {
        const int64_t o = ((int64_t)ni * C + c) * HW;
        for (i = 0; i < HW; i++)
          dx[o + i] += f1 * dy[o + i] - f2 - f3 * (x[o + i] - mf);
      }
    }
  }
}

/* Same arithmetic as rt_layernorm (float mean and invstd), plus the saves. */
RT_FN void rt_layernorm_train(int n, int M, const float *x, const float *w, const float *b, float eps, float *y,
                              float *save_mean, float *save_invstd) {
  int64_t s;
  RT_OMP(parallel for schedule(static))
  for (s = 0; s < n; s++) {
    const float *xs = x + s * M;
    float *ys = y + s * M;
    double mean, var;
    float m, r;
    int i;
    bwd_moments(xs, M, &mean, &var);
    m = (float)mean;
    r = (float)(1.0 / sqrt(var + (double)eps));
    if (save_mean)
      save_mean[s] = m;
    if (save_invstd)
      save_invstd[s] = r;
    for (i = 0; i < M; i++) {
      float v = (xs[i] - m) * r;
      if (w)
        v *= w[i];
      if (b)
        v += b[i];
      ys[i] = v;
    }
  }
}

/* Per sample, with g = dy * w (elementwise affine):
 *   dx += invstd / M * (M g - sum g - xhat * sum g*xhat);
 * dw[i] += sum_s dy xhat, db[i] += sum_s dy over samples (tasks: i chunks). */
RT_FN void rt_layernorm_bwd(int n, int M, const float *x, const float *w, const float *save_mean,
                            const float *save_invstd, const float *dy, float *dx, float *dw, float *db) {
  int64_t t;
  if (dx) {
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < n; t++) {
      const float *xs = x + t * M, *dys = dy + t * M;
      float *dxs = dx + t * M;
      const double m = save_mean[t], r = save_invstd[t];
      double sg = 0.0, sgx = 0.0;
      float f1, f2, f3, mf = (float)m;
      int i;
      if (w) {
        for (i = 0; i < M; i++) {
          const double g = (double)dys[i] * w[i];
          sg += g;
          sgx += g * (xs[i] - m);
        }
      } else {
        bwd_norm_sums(dys, xs, m, M, &sg, &sgx);
      }
      f1 = (float)r;
      f2 = (float)(r * sg / M);
      f3 = (float)(r * r * r * sgx / M);
      for (i = 0; i < M; i++) {
        const float g = w ? dys[i] * w[i] : dys[i];
        dxs[i] += f1 * g - f2 - f3 * (xs[i] - mf);
      }
    }
  }
  if (dw || db) {
    const int64_t nch = ((int64_t)M + BWD_CHUNK - 1) / BWD_CHUNK;
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < nch; t++) {
      const int64_t i0 = t * BWD_CHUNK, i1 = M - i0 < BWD_CHUNK ? M : i0 + BWD_CHUNK;
      int64_t i;
      int s;
      for (s = 0; s < n; s++) {
        const float *xs = x + (int64_t)s * M, *dys = dy + (int64_t)s * M;
        const float m = save_mean[s], r = save_invstd[s];
        if (dw)
          for (i = i0; i < i1; i++)
            dw[i] += dys[i] * ((xs[i] - m) * r);
        if (db)
          for (i = i0; i < i1; i++)
            db[i] += dys[i];
      }
    }
  }
}

/* Same arithmetic as rt_groupnorm; stats per (sample, group) at t = s*G + g. */
RT_FN void rt_groupnorm_train(int n, int C, int HW, int G, const float *x, const float *w, const float *b, float eps,
                              float *y, float *save_mean, float *save_invstd) {
  const int Cg = C / G;
  const int64_t gsize = (int64_t)Cg * HW, ngroups = (int64_t)n * G;
  int64_t t;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < ngroups; t++) {
    const float *xg = x + t * gsize;
    float *yg = y + t * gsize;
    const int g = (int)(t % G);
    double mean, var;
    float m, r;
    int c, i;
    bwd_moments(xg, gsize, &mean, &var);
    m = (float)mean;
    r = (float)(1.0 / sqrt(var + (double)eps));
    if (save_mean)
      save_mean[t] = m;
    if (save_invstd)
      save_invstd[t] = r;
    for (c = 0; c < Cg; c++) {
      const int ch = g * Cg + c;
      const float sc = w ? w[ch] * r : r;
      const float sh = b ? b[ch] : 0.0f;
      const float *xp = xg + (int64_t)c * HW;
      float *yp = yg + (int64_t)c * HW;
      for (i = 0; i < HW; i++)
        yp[i] = (xp[i] - m) * sc + sh;
    }
  }
}

/* dx: one task per (sample, group) over its Cg*HW values with g = dy * w[c];
 * dw/db: one task per channel, summing over samples. */
RT_FN void rt_groupnorm_bwd(int n, int C, int HW, int G, const float *x, const float *w, const float *save_mean,
                            const float *save_invstd, const float *dy, float *dx, float *dw, float *db) {
  const int Cg = C / G;
  const int64_t gsize = (int64_t)Cg * HW;
  int64_t t;
  if (dx) {
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < (int64_t)n * G; t++) {
      const int g = (int)(t % G);
      const double m = save_mean[t], r = save_invstd[t];
      const float mf = (float)m;
      double sg = 0.0, sgx = 0.0;
      float f1, f2, f3;
      int c, i;
      for (c = 0; c < Cg; c++) {
        const int64_t o = t * gsize + (int64_t)c * HW;
        const double wc = w ? (double)w[g * Cg + c] : 1.0;
        double a, bb;
        bwd_norm_sums(dy + o, x + o, m, HW, &a, &bb);
        sg += wc * a;
        sgx += wc * bb;
      }
      f2 = (float)(r * sg / (double)gsize);
      f3 = (float)(r * r * r * sgx / (double)gsize);
      for (c = 0; c < Cg; c++) {
        const int64_t o = t * gsize + (int64_t)c * HW;
        f1 = (float)(r * (w ? (double)w[g * Cg + c] : 1.0));
        for (i = 0; i < HW; i++)
          dx[o + i] += f1 * dy[o + i] - f2 - f3 * (x[o + i] - mf);
      }
    }
  }
  if (dw || db) {
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < C; t++) {
      const int g = (int)(t / Cg);
      double sdy = 0.0, sdyx = 0.0;
      int s;
      for (s = 0; s < n; s++) {
        const int64_t o = ((int64_t)s * C + t) * HW;
        const double m = save_mean[(int64_t)s * G + g], r = save_invstd[(int64_t)s * G + g];
        double a, bb;
        bwd_norm_sums(dy + o, x + o, m, HW, &a, &bb);
        sdy += a;
        sdyx += bb * r;
      }
      if (dw)
        dw[t] += (float)sdyx;
      if (db)
        db[t] += (float)sdy;
    }
  }
}

/* ------------------------------------------------------------ pointwise */

/* dx[i] += dy[i] * act'(x[i]) for count values.  x may be NULL for the kinds
 * whose derivative is a function of the output y: relu, sigmoid, tanh,
 * none/identity, and leaky/elu/selu with a positive a; y may be NULL when x
 * is given (sigmoid and tanh then recompute it).  Where both are given,
 * sigmoid and tanh use y (as torch does), everything else x. */
RT_HELPER void bwd_act_array(int act, float a, float b, const float *x, const float *y, const float *dy, float *dx,
                             int64_t count) {
  int64_t i;
  switch (act) {
  case RT_ACT_RELU:
    if (x)
      for (i = 0; i < count; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
    else
      for (i = 0; i < count; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
    break;
  case RT_ACT_LEAKY: {
    const float *v = x ? x : y; /* with a > 0, y > 0 iff x > 0 */
    for (i = 0; i < count; i++)
      dx[i] += v[i] > 0.0f ? dy[i] : dy[i] * a;
    break;
  }
  case RT_ACT_CLIP: /* torch.clamp: the gradient passes on the bounds */
    for (i = 0; i < count; i++)
      dx[i] += x[i] >= a && x[i] <= b ? dy[i] : 0.0f;
    break;
  case RT_ACT_SIGMOID:
    for (i = 0; i < count; i++) {
      const float s = y ? y[i] : 1.0f / (1.0f + expf(-x[i]));
      dx[i] += dy[i] * ((1.0f - s) * s);
    }
    break;
  case RT_ACT_TANH:
    for (i = 0; i < count; i++) {
      const float th = y ? y[i] : tanhf(x[i]);
      dx[i] += dy[i] * (1.0f - th * th);
    }
    break;
  case RT_ACT_HARDSWISH:
    /* torch's vectorized CPU kernel (what every real tensor takes; its scalar
     * tail disagrees at x == 3): x < -3 -> 0, x >= 3 -> 1, else x/3 + 1/2 */
    for (i = 0; i < count; i++) {
      const float v = x[i];
      dx[i] += v < -3.0f ? 0.0f : (v >= 3.0f ? dy[i] : dy[i] * (v / 3.0f + 0.5f));
    }
    break;
  case RT_ACT_ELU: /* torch: x <= 0 -> a*exp(x), from the result y + a */
    if (x)
      for (i = 0; i < count; i++)
        dx[i] += x[i] > 0.0f ? dy[i] : dy[i] * (a * expf(x[i]));
    else
      for (i = 0; i < count; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : dy[i] * (y[i] + a);
    break;
  case RT_ACT_SELU: {
    const float al = 1.6732632423543772848170429916717f, sc = 1.0507009873554804934193349852946f;
    if (x)
      for (i = 0; i < count; i++)
        dx[i] += x[i] > 0.0f ? dy[i] * sc : dy[i] * (sc * al * expf(x[i]));
    else
      for (i = 0; i < count; i++)
        dx[i] += y[i] > 0.0f ? dy[i] * sc : dy[i] * (y[i] + sc * al);
    break;
  }
  case RT_ACT_GELU: /* Phi(x) + x phi(x) */
    for (i = 0; i < count; i++) {
      const float v = x[i];
      const float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752440f));
      const float pdf = expf(-0.5f * v * v) * 0.39894228040143267794f;
      dx[i] += dy[i] * (cdf + v * pdf);
    }
    break;
  case RT_ACT_HARDSIGMOID: /* torch: a where 0 < a*x + b < 1 (open bounds) */
    for (i = 0; i < count; i++) {
      const float u = a * x[i] + b;
      dx[i] += u > 0.0f && u < 1.0f ? dy[i] * a : 0.0f;
    }
    break;
  default:
    for (i = 0; i < count; i++)
      dx[i] += dy[i];
    break;
  }
}

RT_FN void rt_unary_bwd(int act, float a, float b, int64_t count, const float *x, const float *y, const float *dy,
                        float *dx) {
  const int64_t nchunk = (count + BWD_CHUNK - 1) / BWD_CHUNK;
  int64_t t;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * BWD_CHUNK;
    const int64_t len = count - i0 < BWD_CHUNK ? count - i0 : BWD_CHUNK;
    bwd_act_array(act, a, b, x ? x + i0 : NULL, y ? y + i0 : NULL, dy + i0, dx + i0, len);
  }
}

/* torch: dx = x > 0 ? dy : w*dy; dw += x > 0 ? 0 : x*dy (so x == 0 takes
 * the slope but adds nothing to dw).  dw: one slope sums its channels in
 * channel order; per-channel slopes are independent tasks. */
RT_FN void rt_prelu_bwd(int n, int C, int HW, const float *x, const float *w, int nw, const float *dy, float *dx,
                        float *dw) {
  int64_t t;
  if (dx) {
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < (int64_t)n * C; t++) {
      const float s = nw == 1 ? w[0] : w[t % C];
      const float *xp = x + t * HW, *dyp = dy + t * HW;
      float *dxp = dx + t * HW;
      int i;
      for (i = 0; i < HW; i++)
        dxp[i] += xp[i] > 0.0f ? dyp[i] : s * dyp[i];
    }
  }
  if (dw) {
    double total = 0.0;
    int c, s, i;
    if (nw == 1) {
      for (c = 0; c < C; c++)
        for (s = 0; s < n; s++) {
          const int64_t o = ((int64_t)s * C + c) * HW;
          float acc = 0.0f;
          for (i = 0; i < HW; i++)
            acc += x[o + i] > 0.0f ? 0.0f : x[o + i] * dy[o + i];
          total += acc;
        }
      dw[0] += (float)total;
    } else {
      RT_OMP(parallel for schedule(static))
      for (t = 0; t < C; t++) {
        double sc = 0.0;
        int ss, ii;
        for (ss = 0; ss < n; ss++) {
          const int64_t o = ((int64_t)ss * C + t) * HW;
          float acc = 0.0f;
          for (ii = 0; ii < HW; ii++)
            acc += x[o + ii] > 0.0f ? 0.0f : x[o + ii] * dy[o + ii];
          sc += acc;
        }
        dw[t] += (float)sc;
      }
    }
  }
}

/* The forward's winner: piece 0, replaced by a later piece that is strictly
 * greater or NaN.  Each output position owns its `pieces` inputs. */
RT_FN void rt_maxout_bwd(int n, int C, int HW, int pieces, const float *x, const float *dy, float *dx) {
  const int Co = C / pieces;
  int64_t t;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < (int64_t)n * Co; t++) {
    const int64_t s = t / Co;
    const int c = (int)(t % Co);
    const float *xs = x + s * C * HW;
    float *dxs = dx + s * C * HW;
    const float *dyp = dy + t * HW;
    int i, k;
    for (i = 0; i < HW; i++) {
      int64_t best = (int64_t)c * HW + i;
      float m = xs[best];
      for (k = 1; k < pieces; k++) {
        const int64_t idx = ((int64_t)k * Co + c) * HW + i;
        const float v = xs[idx];
        if (v > m || v != v) {
          m = v;
          best = idx;
        }
      }
      dxs[best] += dyp[i];
    }
  }
}

/* softmax:     dx += y * (dy - sum_d dy*y);
 * log_softmax: dx += dy - exp(y) * sum_d dy.
 * Sums in double over `dim`, BWD_SMT inner positions per task. */
RT_FN void rt_softmax_bwd(int64_t outer, int dim, int64_t inner, const float *y, const float *dy, float *dx, int log) {
  const int64_t nib = (inner + BWD_SMT - 1) / BWD_SMT;
  int64_t t;
  if (!dx || dim <= 0)
    return;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < outer * nib; t++) {
    const int64_t o = t / nib, i0 = t % nib * BWD_SMT;
    const int nb = (int)(inner - i0 < BWD_SMT ? inner - i0 : BWD_SMT);
    const int64_t base = o * dim * inner + i0;
    const float *yb = y + base, *dyb = dy + base;
    float *dxb = dx + base;
    double acc[BWD_SMT];
    float sum[BWD_SMT];
    int d, i;
    for (i = 0; i < nb; i++)
      acc[i] = 0.0;
    for (d = 0; d < dim; d++) {
      const int64_t r = d * inner;
      if (log)
        for (i = 0; i < nb; i++)
          acc[i] += dyb[r + i];
      else
        for (i = 0; i < nb; i++)
          acc[i] += (double)dyb[r + i] * yb[r + i];
    }
    for (i = 0; i < nb; i++)
      sum[i] = (float)acc[i];
    for (d = 0; d < dim; d++) {
      const int64_t r = d * inner;
      if (log)
        for (i = 0; i < nb; i++)
          dxb[r + i] += dyb[r + i] - expf(yb[r + i]) * sum[i];
      else
        for (i = 0; i < nb; i++)
          dxb[r + i] += yb[r + i] * (dyb[r + i] - sum[i]);
    }
  }
}

/* ------------------------------------------------------------ binary */

/* d(y)/d(operand) * dy for y = a op b; `which` 0 is a, 1 is b.  u is a, v is b.
 * torch: div grad_a = dy / b, grad_b = -dy * ((a / b) / b). */
RT_INLINE float bwd_bin_term(int op, int which, float g, float u, float v) {
  switch (op) {
  case RT_BIN_MUL: return which ? g * u : g * v;
  case RT_BIN_SUB: return which ? -g : g;
  case RT_BIN_DIV: return which ? -g * ((u / v) / v) : g / v;
  default: return g;
  }
}

/* Offsets (in y, a and b) of the linear index `idx` over the axes d < last
 * whose `red` flag (stride of the target operand == 0 and length > 1) equals
 * want, enumerated in y's row-major order. */
RT_HELPER void bwd_bin_decode(int64_t idx, int last, const int64_t *ydims, const int64_t *ts, const int64_t *as,
                              const int64_t *bs, int want, int64_t *yo, int64_t *ao, int64_t *bo) {
  int64_t yst = ydims[last];
  int d;
  for (d = last - 1; d >= 0; d--) {
    const int red = ts[d] == 0 && ydims[d] > 1;
    if (red == want) {
      const int64_t k = idx % ydims[d];
      idx /= ydims[d];
      *yo += k * yst;
      *ao += k * as[d];
      *bo += k * bs[d];
    }
    yst *= ydims[d];
  }
}

/* Gradient of one operand (strides ts = astride or bstride).  Tasks are the
 * target's own (kept) indices over the axes before the last, so each task
 * owns distinct gradient elements; the broadcast (reduced) axes run inside
 * the task in row-major order.  If the last axis is kept, a task adds whole
 * rows; if it is reduced, a task sums into one element. */
RT_HELPER void bwd_binary_operand(int op, int which, int rank, const int64_t *ydims, const int64_t *astride,
                                  const int64_t *bstride, const float *a, const float *b, const float *dy, float *dt) {
  const int64_t *ts = which ? bstride : astride;
  const int last = rank - 1;
  const int64_t len = ydims[last], tsl = ts[last], asl = astride[last], bsl = bstride[last];
  const int last_red = tsl == 0 && len > 1;
  int64_t ntask = 1, nred = 1, t;
  int d;
  for (d = 0; d < last; d++) {
    if (ts[d] == 0 && ydims[d] > 1)
      nred *= ydims[d];
    else
      ntask *= ydims[d];
  }
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < ntask; t++) {
    int64_t ky = 0, ka = 0, kb = 0, r, i;
    double s = 0.0;
    bwd_bin_decode(t, last, ydims, ts, astride, bstride, 0, &ky, &ka, &kb);
    for (r = 0; r < nred; r++) {
      int64_t yo = ky, ao = ka, bo = kb;
      const float *dyr;
      bwd_bin_decode(r, last, ydims, ts, astride, bstride, 1, &yo, &ao, &bo);
      dyr = dy + yo;
      if (last_red) {
        for (i = 0; i < len; i++)
          s += bwd_bin_term(op, which, dyr[i], a[ao + i * asl], b[bo + i * bsl]);
      } else {
        float *dtr = dt + (which ? bo : ao);
        if (op == RT_BIN_ADD || (op == RT_BIN_SUB && !which)) {
          for (i = 0; i < len; i++)
            dtr[i * tsl] += dyr[i];
        } else {
          for (i = 0; i < len; i++)
            dtr[i * tsl] += bwd_bin_term(op, which, dyr[i], a[ao + i * asl], b[bo + i * bsl]);
        }
      }
    }
    if (last_red)
      dt[which ? kb : ka] += (float)s;
  }
}

RT_FN void rt_binary_bwd(int op, int rank, const int64_t *ydims, const int64_t *astride, const int64_t *bstride,
                         const float *a, const float *b, const float *dy, float *da, float *db) {
  if (rank <= 0) {
    if (da)
      da[0] += bwd_bin_term(op, 0, dy[0], a[0], b[0]);
    if (db)
      db[0] += bwd_bin_term(op, 1, dy[0], a[0], b[0]);
    return;
  }
  if (da)
    bwd_binary_operand(op, 0, rank, ydims, astride, bstride, a, b, dy, da);
  if (db)
    bwd_binary_operand(op, 1, rank, ydims, astride, bstride, a, b, dy, db);
}

/* ------------------------------------------------------------ layout */

RT_FN void rt_copy_slice_bwd(int64_t outer, int64_t inner_x, int64_t inner_y, int64_t off, const float *dy, float *dx) {
  int64_t o;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (o = 0; o < outer; o++) {
    const float *s = dy + o * inner_y + off;
    float *d = dx + o * inner_x;
    int64_t i;
    for (i = 0; i < inner_x; i++)
      d[i] += s[i];
  }
}

/* dx[h][w] += the fh x fw block of dy it was copied to; one task per input row. */
RT_FN void rt_upsample_nearest_bwd(int n, int C, int H, int W, int fh, int fw, const float *dy, float *dx) {
  const int64_t rows = (int64_t)n * C * H, OW = (int64_t)W * fw;
  int64_t t;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < rows; t++) {
    const float *dyr = dy + t * fh * OW;
    float *dxr = dx + t * W;
    int i, k, l;
    for (i = 0; i < W; i++) {
      float s = 0.0f;
      for (k = 0; k < fh; k++)
        for (l = 0; l < fw; l++)
          s += dyr[k * OW + (int64_t)i * fw + l];
      dxr[i] += s;
    }
  }
}

/* Source index of padded position i on an axis of length L (ops.c's rule:
 * reflect with period 2(L-1) without repeating the edge, edge clamps). */
RT_INLINE int64_t bwd_pad_src(int64_t i, int64_t L, int mode) {
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

/* Constant: a crop of dy (one task per dx row).  Reflect/edge: several output
 * positions share a source, so one task per plane scatters in row-major
 * order. */
RT_FN void rt_pad2d_bwd(int n, int C, int H, int W, int pt, int pl, int pb, int pr, int mode, const float *dy,
                        float *dx) {
  const int64_t OH = (int64_t)H + pt + pb, OW = (int64_t)W + pl + pr;
  int64_t t;
  if (!dx || OH <= 0 || OW <= 0)
    return;
  if (mode == 0) {
    int lo, hi;
    /* input columns iw with 0 <= iw + pl < OW */
    rt_valid_range(0, W, 1, pl, (int)OW, &lo, &hi);
    RT_OMP(parallel for schedule(static))
    for (t = 0; t < (int64_t)n * C * H; t++) {
      const int64_t ih = t % H, oh = ih + pt, plane = t / H;
      const float *dyr = dy + (plane * OH + oh) * OW;
      float *dxr = dx + t * W;
      int iw;
      if (oh < 0 || oh >= OH)
        continue;
      for (iw = lo; iw < hi; iw++)
        dxr[iw] += dyr[iw + pl];
    }
    return;
  }
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < (int64_t)n * C; t++) {
    const float *dyp = dy + t * OH * OW;
    float *dxp = dx + t * H * W;
    int64_t oh, ow;
    for (oh = 0; oh < OH; oh++) {
      float *dxr = dxp + bwd_pad_src(oh - pt, H, mode) * W;
      const float *dyr = dyp + oh * OW;
      for (ow = 0; ow < OW; ow++)
        dxr[bwd_pad_src(ow - pl, W, mode)] += dyr[ow];
    }
  }
}

/* The forward's row walk (y dim i = x dim perm[i]) with the copy reversed:
 * the map is one-to-one, so tasks (rows of dy) own disjoint dx elements. */
RT_FN void rt_transpose_bwd(int rank, const int64_t *xdims, const int *perm, const float *dy, float *dx) {
  int64_t len, xs_last, rows, t;
  int d, e;
  if (!dx)
    return;
  if (rank <= 0) {
    dx[0] += dy[0];
    return;
  }
  len = xdims[perm[rank - 1]];
  xs_last = 1;
  for (e = perm[rank - 1] + 1; e < rank; e++)
    xs_last *= xdims[e];
  rows = 1;
  for (d = 0; d < rank - 1; d++)
    rows *= xdims[perm[d]];

  RT_OMP(parallel for schedule(static))
  for (t = 0; t < rows; t++) {
    int64_t rem = t, xo = 0, i;
    int dd, ee;
    const float *dyr = dy + t * len;
    for (dd = rank - 2; dd >= 0; dd--) {
      const int64_t n_d = xdims[perm[dd]], idx = rem % n_d;
      int64_t st = 1;
      rem /= n_d;
      for (ee = perm[dd] + 1; ee < rank; ee++)
        st *= xdims[ee];
      xo += idx * st;
    }
    for (i = 0; i < len; i++)
      dx[xo + i * xs_last] += dyr[i];
  }
}

/* ------------------------------------------------------------ dropout */

/* splitmix64's finalizer: a bijective 64-bit mix with full avalanche. */
RT_INLINE uint64_t bwd_mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Element i keeps iff u(seed, step, i) >= p, u uniform on the 2^24 floats
 * k/2^24 in [0, 1).  A counter-based generator (splitmix64 stream keyed by
 * seed and step, indexed by i) needs no state and gives the same mask for
 * any thread count or chunking. */
RT_INLINE int bwd_keep(uint64_t key, int64_t i, float p) {
  const uint64_t h = bwd_mix64(key + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull);
  return (float)(h >> 40) * (1.0f / 16777216.0f) >= p;
}

RT_INLINE uint64_t bwd_dropout_key(uint64_t seed, uint64_t step) {
  return bwd_mix64(seed ^ bwd_mix64(step ^ 0xD1B54A32D192ED03ull));
}

/* y = kept ? x / (1 - p) : 0, the scale rounded once to float as torch's
 * noise.div_(1 - p); p >= 1 drops everything. */
RT_FN void rt_dropout_train(int64_t count, float p, uint64_t seed, uint64_t step, const float *x, float *y) {
  const uint64_t key = bwd_dropout_key(seed, step);
  const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int64_t nchunk = (count + BWD_CHUNK - 1) / BWD_CHUNK;
  int64_t t;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * BWD_CHUNK, i1 = count - i0 < BWD_CHUNK ? count : i0 + BWD_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++)
      y[i] = bwd_keep(key, i, p) ? x[i] * scale : 0.0f;
  }
}

RT_FN void rt_dropout_bwd(int64_t count, float p, uint64_t seed, uint64_t step, const float *dy, float *dx) {
  const uint64_t key = bwd_dropout_key(seed, step);
  const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  const int64_t nchunk = (count + BWD_CHUNK - 1) / BWD_CHUNK;
  int64_t t;
  if (!dx)
    return;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * BWD_CHUNK, i1 = count - i0 < BWD_CHUNK ? count : i0 + BWD_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++)
      if (bwd_keep(key, i, p))
        dx[i] += dy[i] * scale;
  }
}

RT_FN void rt_accumulate(int64_t count, const float *src, float *dst) {
  const int64_t nchunk = (count + BWD_CHUNK - 1) / BWD_CHUNK;
  int64_t t;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * BWD_CHUNK, i1 = count - i0 < BWD_CHUNK ? count : i0 + BWD_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++)
      dst[i] += src[i];
  }
}
