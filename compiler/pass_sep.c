/* pass_sep.c - spatially separable convolution decomposition.
 *
 * Input: a folded inference graph with weights known.
 * Output: a k_h x k_w conv2d (groups 1, or depthwise) whose kernels factor
 * with small rank R is replaced by
 *     stage 1: a 1 x k_w conv, groups = C, C*R channels out (x[c] * b[c,r,:])
 *     stage 2: a k_h x 1 conv over those C*R channels (groups 1, or C for a
 *              depthwise conv), with the original bias and epilogue,
 * exactly (padding, stride and dilation split per axis; zero padding of the
 * rows commutes with the row-wise stage 1, which has no bias).
 * The factorisation is computed in float64, per input channel c, from the SVD
 * of M_c[(k,i), j] = W[k, c, i, j] (Jacobi eigen-decomposition of M_c^T M_c):
 *     W[k,c,i,j] = sum_r a[k,c,r,i] * b[c,r,j].
 * R is the largest numerical rank over c (singular values above 1e-7 of the
 * largest).  The rewrite happens only when it cuts the multiply-adds by a
 * fifth or more.  `--lowrank R` caps the rank: the decomposition becomes an
 * approximation, and the relative error of the weights is reported.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

/* Symmetric eigen-decomposition by cyclic Jacobi: A (n x n) is destroyed,
 * eigenvalues in ev, eigenvectors in the columns of V. */
static void jacobi(int n, double *A, double *ev, double *V) {
  for (int i = 0; i < n * n; i++)
    V[i] = (i / n == i % n);
  for (int sweep = 0; sweep < 60; sweep++) {
    double off = 0;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++)
        off += A[p * n + q] * A[p * n + q];
    if (off < 1e-30)
      break;
    for (int p = 0; p < n; p++)
      for (int q = p + 1; q < n; q++) {
        double apq = A[p * n + q];
        if (fabs(apq) < 1e-300)
          continue;
        double theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; k++) {
          double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; k++) {
          double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; k++) {
          double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  for (int i = 0; i < n; i++)
    ev[i] = A[i * n + i];
}

static bool worth_it(Node *n, int R);

typedef struct Factor {
  int R;        /* rank used */
  double *a;    /* [K][C][R][kh] (depthwise: K == C, only c == k used) */
  double *b;    /* [C][R][kw] */
  double err;   /* relative Frobenius error of the reconstruction */
} Factor;

/* Factor the weights of conv n with rank at most max_rank (0 = exact rank);
 * false when a rank-R form would not save multiply-adds. */
static bool factor(Node *n, int max_rank, Factor *F) {
  const Shape *ws = &n->weight->shape;
  int K = (int)ws->d[0], Cg = (int)ws->d[1], kh = (int)ws->d[2], kw = (int)ws->d[3];
  bool dw = n->groups > 1;
  int C = dw ? K : Cg, rows = dw ? kh : K * kh;
  const float *W = n->weight->data;
  double *M = cnnc_alloc(sizeof(double) * (size_t)rows * kw), *G = cnnc_alloc(sizeof(double) * (size_t)kw * kw);
  double *ev = cnnc_alloc(sizeof(double) * (size_t)kw), *V = cnnc_alloc(sizeof(double) * (size_t)kw * kw);
  int *order = cnnc_alloc(sizeof(int) * (size_t)kw);
  /* First pass: the rank needed. */
  int R = 0;
  double **bs = cnnc_alloc(sizeof(double *) * (size_t)C);
  for (int c = 0; c < C; c++) {
    for (int r = 0; r < rows; r++) {
      int k = dw ? c : r / kh, i = r % kh;
      for (int j = 0; j < kw; j++)
        M[r * kw + j] = W[(((int64_t)k * Cg + (dw ? 0 : c)) * kh + i) * kw + j];
    }
    for (int p = 0; p < kw; p++)
      for (int q = 0; q < kw; q++) {
        double s = 0;
        for (int r = 0; r < rows; r++)
          s += M[r * kw + p] * M[r * kw + q];
        G[p * kw + q] = s;
      }
    jacobi(kw, G, ev, V);
    for (int j = 0; j < kw; j++)
      order[j] = j;
    for (int i = 0; i < kw; i++) /* sort eigenvalues descending */
      for (int j = i + 1; j < kw; j++)
        if (ev[order[j]] > ev[order[i]]) {
          int t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
    double top = ev[order[0]] > 0 ? ev[order[0]] : 0;
    int rc = 0;
    for (int j = 0; j < kw; j++)
      if (ev[order[j]] > 1e-14 * top && top > 0) /* sigma > 1e-7 sigma_max */
        rc++;
    if (rc > R)
      R = rc;
    bs[c] = cnnc_alloc(sizeof(double) * (size_t)kw * kw);
    for (int r = 0; r < kw; r++)
      for (int j = 0; j < kw; j++)
        bs[c][r * kw + j] = V[j * kw + order[r]];
  }
  if (R == 0)
    R = 1;
  if (max_rank > 0 && R > max_rank)
    R = max_rank;
  F->R = R;
  if (!worth_it(n, R)) /* decided before the big rank-R factors are built */
    return false;
  F->b = cnnc_alloc(sizeof(double) * (size_t)C * R * kw);
  F->a = cnnc_alloc(sizeof(double) * (size_t)K * C * R * kh);
  double num = 0, den = 0;
  for (int c = 0; c < C; c++) {
    for (int r = 0; r < R; r++)
      memcpy(F->b + ((int64_t)c * R + r) * kw, bs[c] + (int64_t)r * kw, sizeof(double) * (size_t)kw);
    for (int k = 0; k < K; k++) {
      if (dw && k != c)
        continue;
      for (int i = 0; i < kh; i++) {
        const float *row = W + (((int64_t)k * Cg + (dw ? 0 : c)) * kh + i) * kw;
        for (int r = 0; r < R; r++) {
          double s = 0;
          for (int j = 0; j < kw; j++)
            s += row[j] * F->b[((int64_t)c * R + r) * kw + j];
          F->a[(((int64_t)k * C + c) * R + r) * kh + i] = s;
        }
        for (int j = 0; j < kw; j++) {
          double rec = 0;
          for (int r = 0; r < R; r++)
            rec += F->a[(((int64_t)k * C + c) * R + r) * kh + i] * F->b[((int64_t)c * R + r) * kw + j];
          num += (rec - row[j]) * (rec - row[j]);
          den += (double)row[j] * row[j];
        }
      }
    }
  }
  F->err = den > 0 ? sqrt(num / den) : 0;
  return true;
}

/* Multiply-adds per output pixel, before and after. */
static bool worth_it(Node *n, int R) {
  const Shape *ws = &n->weight->shape;
  double K = (double)ws->d[0], kh = (double)ws->d[2], kw = (double)ws->d[3];
  bool dw = n->groups > 1;
  double C = dw ? K : (double)ws->d[1];
  double before = dw ? C * kh * kw : K * C * kh * kw;
  double after = C * R * kw + (dw ? C * R * kh : K * C * R * kh);
  return after <= 0.8 * before;
}

static void decompose(Graph *g, Node *n, const Factor *F, int pos) {
  const Shape *ws = &n->weight->shape;
  int K = (int)ws->d[0], kh = (int)ws->d[2], kw = (int)ws->d[3], R = F->R;
  bool dw = n->groups > 1;
  int C = dw ? K : (int)ws->d[1];
  Tensor *x = n->in[0];
  /* stage 1: 1 x kw, groups C, C*R outputs */
  Node *s1 = cnnc_alloc(sizeof *s1);
  *s1 = *n;
  s1->name = cnnc_fmt("%s.sep_w", n->name);
  s1->in = cnnc_alloc(sizeof(Tensor *));
  s1->in[0] = x;
  s1->nin = 1;
  s1->out = ir_new_tensor(g, s1->name, TK_ACT, (Shape){0});
  s1->out->producer = s1;
  s1->out->loc = n->loc;
  s1->out_ch = (int64_t)C * R;
  s1->groups = C;
  s1->kernel[0] = 1, s1->stride[0] = 1, s1->dilation[0] = 1, s1->pad[0] = s1->pad[2] = 0;
  s1->has_bias = false;
  s1->bias = NULL;
  s1->act = ACT_NONE;
  s1->residual = NULL;
  s1->fused_into_note = NULL;
  s1->weight = ir_new_param(g, cnnc_fmt("%s.weight.sep_w", n->name), TK_CONST,
                            shape_of(4, (int64_t)C * R, (int64_t)1, (int64_t)1, (int64_t)kw), n->loc);
  s1->weight->data = cnnc_alloc(sizeof(float) * (size_t)C * R * kw);
  for (int64_t i = 0; i < (int64_t)C * R * kw; i++)
    s1->weight->data[i] = (float)F->b[i];
  if (!shape_infer_node(g, s1))
    die("separable stage 1 of '%s' has no shape", n->name);
  /* stage 2: kh x 1 over C*R channels */
  n->in[0] = s1->out;
  n->kernel[1] = 1, n->stride[1] = 1, n->dilation[1] = 1, n->pad[1] = n->pad[3] = 0;
  Shape w2 = dw ? shape_of(4, (int64_t)K, (int64_t)R, (int64_t)kh, (int64_t)1)
                : shape_of(4, (int64_t)K, (int64_t)C * R, (int64_t)kh, (int64_t)1);
  Tensor *wt = ir_new_param(g, cnnc_fmt("%s.weight.sep_h", n->name), TK_CONST, w2, n->loc);
  wt->data = cnnc_alloc(sizeof(float) * (size_t)shape_numel(&w2));
  for (int k = 0; k < K; k++)
    for (int c = 0; c < C; c++) {
      if (dw && c != k)
        continue;
      for (int r = 0; r < R; r++)
        for (int i = 0; i < kh; i++) {
          int64_t ci = dw ? r : (int64_t)c * R + r;
          wt->data[((int64_t)k * w2.d[1] + ci) * kh + i] = (float)F->a[(((int64_t)k * C + c) * R + r) * kh + i];
        }
    }
  n->weight = wt;
  n->fused_into_note =
      cnnc_fmt("%s%sseparable: %dx1 after 1x%d, rank %d (weight error %.2g)", n->fused_into_note ? n->fused_into_note : "",
               n->fused_into_note ? "; " : "", kh, kw, R, F->err);
  /* s1 goes right before n in the schedule. */
  VEC_PUSH(g->nodes, g->nnodes, g->cap_nodes, s1);
  memmove(g->nodes + pos + 1, g->nodes + pos, sizeof(Node *) * (size_t)(g->nnodes - 1 - pos));
  g->nodes[pos] = s1;
  for (int i = 0; i < g->nnodes; i++)
    g->nodes[i]->id = i;
}

void pass_sep(Graph *g, const Options *opt) {
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->op != OP_CONV2D || !n->weight || !n->weight->data || n->kernel[0] < 2 || n->kernel[1] < 2)
      continue;
    int64_t C = n->in[0]->shape.d[1];
    bool dw = n->groups == C && n->out_ch == C;
    if (n->groups != 1 && !dw)
      continue;
    Factor F;
    if (!factor(n, opt->lowrank, &F))
      continue;
    if (F.err > 1e-6 && !opt->lowrank)
      continue; /* not separable: kept as is */
    if (!worth_it(n, F.R))
      continue;
    decompose(g, n, &F, i);
    i++; /* skip the node we just moved */
  }
}
