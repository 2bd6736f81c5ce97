/* c.c - the standalone C backend: PREFIX.c + PREFIX.h.
 *
 * Guarantees of the generated code (SPEC section 4):
 *  - C99, needs only libc/libm: the runtime kernels are pasted in (as static
 *    functions) from the string embedded at build time;
 *  - no heap, no mutable globals, no VLAs: every activation and scratch buffer
 *    is an offset into the caller's 64-byte-aligned arena, weights are one
 *    `const` blob embedded as bytes (bit-exact, never decimal text) or read
 *    from a blob file the caller loads (--weights-out);
 *  - reentrant: all state is in the arguments; results are independent of
 *    the thread count because the kernels are.
 * One emit function per op, dispatched through a table indexed by OpKind.
 */
#include "backend.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct CGen {
  Emitter *E;
  Graph *g;
  const char *P;       /* lower-case prefix */
  int64_t *woff;       /* per tensor id: float offset in the weight blob, -1 if none */
  int64_t wsize;       /* floats in the weight blob */
  bool blob;           /* weights in a separate blob file the caller passes in */
} CGen;

static char *upper(const char *s) {
  char *u = cnnc_strdup(s);
  for (char *p = u; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  return u;
}

/* C expression for a tensor's storage (float *). */
static const char *ref(CGen *cg, Tensor *t) {
  if (t->kind == TK_INPUT) {
    for (int i = 0; i < cg->g->ninputs; i++)
      if (cg->g->inputs[i] == t)
        return cnnc_fmt("((float *)in%d)", i);
    die("input '%s' not in graph inputs", t->name);
  }
  if (t->kind != TK_ACT) {
    if (cg->woff[t->id] < 0)
      die("tensor '%s' has no weight data", t->name);
    return cnnc_fmt("((float *)(W + %lld))", (long long)cg->woff[t->id]);
  }
  if (t->is_output)
    for (int i = 0; i < cg->g->noutputs; i++)
      if (cg->g->outputs[i] == t)
        return cnnc_fmt("out%d", i);
  if (t->view_of)
    return cnnc_fmt("(%s + %lld)", ref(cg, t->view_of), (long long)(t->view_offset / 4));
  if (t->offset < 0)
    die("tensor '%s' has no arena offset", t->name);
  return cnnc_fmt("((float *)(A + %lld))", (long long)t->offset);
}

static const char *opt_ref(CGen *cg, Tensor *t) { return t ? ref(cg, t) : "NULL"; }

/* Per-sample element count of an activation (batch dim excluded). */
static int64_t per_sample(const Tensor *t) { return shape_numel(&t->shape) / t->shape.d[0]; }

/* Product of dims [a, b). */
static int64_t dims_prod(const Shape *s, int a, int b) {
  int64_t p = 1;
  for (int i = a; i < b; i++)
    p *= s->d[i];
  return p;
}

static const char *fl(double v) {
  if (isinf(v))
    return v > 0 ? "HUGE_VALF" : "-HUGE_VALF";
  return cnnc_fmt("%.9ef", v); /* 9 significant digits round-trip a float */
}

static int rt_act(ActKind a) {
  switch (a) {
  case ACT_NONE: return 0;
  case ACT_RELU: return 1;
  case ACT_LEAKY: return 2;
  case ACT_CLIP: return 3;
  case ACT_SIGMOID: return 4;
  case ACT_TANH: return 5;
  case ACT_HARDSWISH: return 6;
  }
  return 0;
}

/* Spatial dims of a (N,C,H,W) or (N,C,L) tensor as H, W (H = 1 for 1-D). */
static void hw(const Tensor *t, int64_t *H, int64_t *W) {
  if (t->shape.rank == 4) {
    *H = t->shape.d[2];
    *W = t->shape.d[3];
  } else if (t->shape.rank == 3) {
    *H = 1;
    *W = t->shape.d[2];
  } else {
    *H = *W = 1;
  }
}

static void emit_conv(CGen *cg, Node *n) {
  Tensor *x = n->in[0], *y = n->out;
  int64_t H, W, OH, OW;
  hw(x, &H, &W);
  hw(y, &OH, &OW);
  emitf(cg->E, "static const RtConv p = {.C = %lld, .H = %lld, .W = %lld, .K = %lld, .OH = %lld, .OW = %lld, "
               ".kh = %d, .kw = %d, .sh = %d, .sw = %d, .dh = %d, .dw = %d, .pt = %d, .pl = %d, .groups = %d, "
               ".act = %d, .alpha = %s, .beta = %s, .algo = %d};",
        (long long)x->shape.d[1], (long long)H, (long long)W, (long long)y->shape.d[1], (long long)OH,
        (long long)OW, n->kernel[0], n->kernel[1], n->stride[0], n->stride[1], n->dilation[0], n->dilation[1],
        n->pad[0], n->pad[1], n->groups, rt_act(n->act), fl(n->act_alpha), fl(n->act_beta), n->algo);
  if (n->op == OP_CONV_TRANSPOSE2D)
    emitf(cg->E, "rt_conv_transpose2d(&p, batch, %s, %s, %s, %s);", ref(cg, x), ref(cg, n->weight),
          opt_ref(cg, n->bias), ref(cg, y));
  else
    emitf(cg->E, "rt_conv2d(&p, batch, %s, %s, %s, %s, %s, %s);", ref(cg, x), ref(cg, n->weight),
          opt_ref(cg, n->bias), opt_ref(cg, n->residual), ref(cg, y),
          n->scratch_bytes ? cnnc_fmt("A + %lld", (long long)n->scratch_offset) : "NULL");
}

static void emit_linear(CGen *cg, Node *n) {
  emitf(cg->E, "rt_linear(batch, %lld, %lld, %s, %s, %s, %s, %s, %d, %s, %s);", (long long)n->in[0]->shape.d[1],
        (long long)n->out_ch, ref(cg, n->in[0]), ref(cg, n->weight), opt_ref(cg, n->bias),
        opt_ref(cg, n->residual), ref(cg, n->out), rt_act(n->act), fl(n->act_alpha), fl(n->act_beta));
}

static void emit_pool(CGen *cg, Node *n) {
  Tensor *x = n->in[0], *y = n->out;
  int64_t H, W, OH, OW;
  hw(x, &H, &W);
  hw(y, &OH, &OW);
  emitf(cg->E, "static const RtPool p = {.C = %lld, .H = %lld, .W = %lld, .OH = %lld, .OW = %lld, .kh = %d, "
               ".kw = %d, .sh = %d, .sw = %d, .dh = %d, .dw = %d, .pt = %d, .pl = %d, .pb = %d, .pr = %d, "
               ".count_include_pad = %d, .norm = %s};",
        (long long)x->shape.d[1], (long long)H, (long long)W, (long long)OH, (long long)OW, n->kernel[0],
        n->kernel[1], n->stride[0], n->stride[1], n->dilation[0], n->dilation[1], n->pad[0], n->pad[1], n->pad[2],
        n->pad[3], n->count_include_pad, fl(n->alpha));
  const char *fn = (n->op == OP_MAXPOOL1D || n->op == OP_MAXPOOL2D)   ? "rt_maxpool2d"
                   : (n->op == OP_AVGPOOL1D || n->op == OP_AVGPOOL2D) ? "rt_avgpool2d"
                                                                      : "rt_lppool2d";
  emitf(cg->E, "%s(&p, batch, %s, %s);", fn, ref(cg, x), ref(cg, y));
}

static void emit_adaptive(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  emitf(cg->E, "rt_adaptive_avgpool2d(batch, %lld, %lld, %lld, %d, %d, %s, %s);", (long long)x->shape.d[1],
        (long long)x->shape.d[2], (long long)x->shape.d[3], n->out_size[0], n->out_size[1], ref(cg, x),
        ref(cg, n->out));
}

static void emit_global_avg(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  emitf(cg->E, "rt_global_avgpool(batch, %lld, %lld, %s, %s);", (long long)x->shape.d[1],
        (long long)dims_prod(&x->shape, 2, x->shape.rank), ref(cg, x), ref(cg, n->out));
}

static void emit_norm(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  int64_t C = x->shape.d[1], HW = dims_prod(&x->shape, 2, x->shape.rank);
  switch (n->op) {
  case OP_BATCHNORM1D: case OP_BATCHNORM2D:
    emitf(cg->E, "rt_batchnorm(batch, %lld, %lld, %s, %s, %s, %s, %s, %s, %s);", (long long)C, (long long)HW,
          ref(cg, x), opt_ref(cg, n->weight), opt_ref(cg, n->bias), ref(cg, n->mean), ref(cg, n->var), fl(n->eps),
          ref(cg, n->out));
    break;
  case OP_LAYERNORM:
    emitf(cg->E, "rt_layernorm(batch, %lld, %s, %s, %s, %s, %s);", (long long)per_sample(x), ref(cg, x),
          opt_ref(cg, n->weight), opt_ref(cg, n->bias), fl(n->eps), ref(cg, n->out));
    break;
  case OP_INSTANCENORM2D: case OP_GROUPNORM:
    emitf(cg->E, "rt_groupnorm(batch, %lld, %lld, %lld, %s, %s, %s, %s, %s);", (long long)C, (long long)HW,
          (long long)(n->op == OP_GROUPNORM ? n->num_groups : C), ref(cg, x), opt_ref(cg, n->weight),
          opt_ref(cg, n->bias), fl(n->eps), ref(cg, n->out));
    break;
  default: unreachable();
  }
}

static void emit_unary(CGen *cg, Node *n) {
  int kind;
  double a = n->alpha, b = n->beta;
  switch (n->op) {
  case OP_RELU: kind = 1; break;
  case OP_LEAKY_RELU: kind = 2; break;
  case OP_CLIP: kind = 3; break;
  case OP_SIGMOID: kind = 4; break;
  case OP_TANH: kind = 5; break;
  case OP_HARDSWISH: kind = 6; break;
  case OP_ELU: kind = 7; break;
  case OP_SELU: kind = 8; break;
  case OP_GELU: kind = 9; break;
  case OP_HARDSIGMOID: kind = 10; break;
  default: unreachable();
  }
  emitf(cg->E, "rt_unary(%d, %s, %s, (int64_t)batch * %lld, %s, %s);", kind, fl(a), fl(b),
        (long long)per_sample(n->out), ref(cg, n->in[0]), ref(cg, n->out));
}

static void emit_prelu(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  int64_t C = x->shape.rank >= 2 ? x->shape.d[1] : 1;
  emitf(cg->E, "rt_prelu(batch, %lld, %lld, %s, %s, %d, %s);", (long long)C,
        (long long)dims_prod(&x->shape, 2, x->shape.rank), ref(cg, x), ref(cg, n->weight), n->num_params,
        ref(cg, n->out));
}

/* Views and identities: nothing to do when the planner aliased the bytes,
 * else one copy (e.g. when the result is a graph output). */
static void emit_copy(CGen *cg, Node *n) {
  if (n->out->view_of == n->in[0] && n->out->view_offset == 0)
    return;
  emitf(cg->E, "memmove(%s, %s, sizeof(float) * (size_t)batch * %lld);", ref(cg, n->out), ref(cg, n->in[0]),
        (long long)per_sample(n->out));
}

static void emit_maxout(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  emitf(cg->E, "rt_maxout(batch, %lld, %lld, %d, %s, %s);", (long long)x->shape.d[1],
        (long long)dims_prod(&x->shape, 2, x->shape.rank), n->pieces, ref(cg, x), ref(cg, n->out));
}

static void emit_softmax(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  emitf(cg->E, "rt_softmax((int64_t)batch * %lld, %lld, %lld, %s, %s, %d);",
        (long long)dims_prod(&x->shape, 1, n->axis), (long long)x->shape.d[n->axis],
        (long long)dims_prod(&x->shape, n->axis + 1, x->shape.rank), ref(cg, x), ref(cg, n->out),
        n->op == OP_LOG_SOFTMAX);
}

static void emit_binary(CGen *cg, Node *n) {
  int op = n->op == OP_ADD ? 0 : 1;
  Tensor *y = n->out;
  const char *acc = ref(cg, n->in[0]);
  for (int i = 1; i < n->nin; i++) {
    Tensor *a = i == 1 ? n->in[0] : y, *b = n->in[i];
    bool last = i == n->nin - 1;
    int act = last ? rt_act(n->act) : 0;
    if (shape_eq(&a->shape, &y->shape) && shape_eq(&b->shape, &y->shape)) {
      emitf(cg->E, "rt_binary_same(%d, (int64_t)batch * %lld, %s, %s, %s, %d, %s, %s);", op,
            (long long)per_sample(y), acc, ref(cg, b), ref(cg, y), act, fl(n->act_alpha), fl(n->act_beta));
    } else {
      /* numpy broadcasting: strides 0 on broadcast axes; the batch axis is runtime. */
      int r = y->shape.rank;
      char yd[512] = "", as[512] = "", bs[512] = "";
      size_t ky = 0, ka = 0, kb = 0;
      const Shape *sa = &a->shape, *sb = &b->shape;
      int64_t sta = 1, stb = 1, strides_a[MAX_RANK], strides_b[MAX_RANK];
      for (int k = r - 1; k >= 0; k--) {
        int ia = k - (r - sa->rank), ib = k - (r - sb->rank);
        int64_t da = ia >= 0 ? sa->d[ia] : 1, db = ib >= 0 ? sb->d[ib] : 1;
        strides_a[k] = (da == 1 && y->shape.d[k] != 1) ? 0 : sta;
        strides_b[k] = (db == 1 && y->shape.d[k] != 1) ? 0 : stb;
        /* a size-1 batch dim of a constant operand broadcasts even when batch == 1 */
        if (k == 0 && a->kind != TK_ACT && a->kind != TK_INPUT && ia >= 0 && da == 1)
          strides_a[k] = 0;
        if (k == 0 && b->kind != TK_ACT && b->kind != TK_INPUT && ib >= 0 && db == 1)
          strides_b[k] = 0;
        if (ia < 0)
          strides_a[k] = 0;
        if (ib < 0)
          strides_b[k] = 0;
        sta *= da;
        stb *= db;
      }
      for (int k = 0; k < r; k++) {
        ky += (size_t)snprintf(yd + ky, sizeof yd - ky, "%s%s", k ? ", " : "",
                               k == 0 ? "batch" : cnnc_fmt("%lld", (long long)y->shape.d[k]));
        ka += (size_t)snprintf(as + ka, sizeof as - ka, "%s%lld", k ? ", " : "", (long long)strides_a[k]);
        kb += (size_t)snprintf(bs + kb, sizeof bs - kb, "%s%lld", k ? ", " : "", (long long)strides_b[k]);
      }
      emitf(cg->E, "{");
      emitf(cg->E, "const int64_t yd[%d] = {%s}, as[%d] = {%s}, bs[%d] = {%s};", r, yd, r, as, r, bs);
      emitf(cg->E, "rt_binary(%d, %d, yd, as, bs, %s, %s, %s, %d, %s, %s);", op, r, acc, ref(cg, b), ref(cg, y),
            act, fl(n->act_alpha), fl(n->act_beta));
      emitf(cg->E, "}");
    }
    acc = ref(cg, y);
  }
}

static void emit_concat(CGen *cg, Node *n) {
  Tensor *y = n->out;
  int64_t outer = dims_prod(&y->shape, 1, n->axis), inner_y = dims_prod(&y->shape, n->axis, y->shape.rank);
  int64_t off = 0;
  for (int i = 0; i < n->nin; i++) {
    Tensor *x = n->in[i];
    int64_t inner_x = dims_prod(&x->shape, n->axis, x->shape.rank);
    if (!(x->view_of == y))
      emitf(cg->E, "rt_copy_slice((int64_t)batch * %lld, %lld, %lld, %lld, %s, %s);", (long long)outer,
            (long long)inner_x, (long long)inner_y, (long long)off, ref(cg, x), ref(cg, y));
    off += inner_x;
  }
}

static void emit_upsample(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  int64_t H, W;
  hw(x, &H, &W);
  emitf(cg->E, "rt_upsample_nearest(batch, %lld, %lld, %lld, %d, %d, %s, %s);", (long long)x->shape.d[1],
        (long long)H, (long long)W, x->shape.rank == 4 ? n->scale[0] : 1, n->scale[1], ref(cg, x), ref(cg, n->out));
}

static void emit_pad(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  int64_t H, W;
  hw(x, &H, &W);
  emitf(cg->E, "rt_pad2d(batch, %lld, %lld, %lld, %d, %d, %d, %d, %d, %s, %s, %s);", (long long)x->shape.d[1],
        (long long)H, (long long)W, n->pad[0], n->pad[1], n->pad[2], n->pad[3], n->pad_mode, fl(n->pad_value),
        ref(cg, x), ref(cg, n->out));
}

static void emit_transpose(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  int r = x->shape.rank;
  char xd[512] = "", pm[256] = "";
  size_t kx = 0, kp = 0;
  for (int k = 0; k < r; k++) {
    kx += (size_t)snprintf(xd + kx, sizeof xd - kx, "%s%s", k ? ", " : "",
                           k == 0 ? "batch" : cnnc_fmt("%lld", (long long)x->shape.d[k]));
    kp += (size_t)snprintf(pm + kp, sizeof pm - kp, "%s%lld", k ? ", " : "", (long long)n->target.d[k]);
  }
  emitf(cg->E, "{");
  emitf(cg->E, "const int64_t xd[%d] = {%s};", r, xd);
  emitf(cg->E, "static const int perm[%d] = {%s};", r, pm);
  emitf(cg->E, "rt_transpose(%d, xd, perm, %s, %s);", r, ref(cg, x), ref(cg, n->out));
  emitf(cg->E, "}");
}

static void emit_mean(CGen *cg, Node *n) {
  Tensor *x = n->in[0];
  /* The reduced axes must be contiguous: (outer, red, inner). */
  int lo = -1, hi = -1;
  for (int k = 0; k < x->shape.rank; k++)
    if (n->axes_mask >> k & 1) {
      if (lo < 0)
        lo = k;
      hi = k;
    }
  for (int k = lo; k <= hi; k++)
    if (!(n->axes_mask >> k & 1))
      die("mean over non-contiguous axes reached the backend");
  emitf(cg->E, "rt_reduce_mean((int64_t)batch * %lld, %lld, %lld, %s, %s);", (long long)dims_prod(&x->shape, 1, lo),
        (long long)dims_prod(&x->shape, lo, hi + 1), (long long)dims_prod(&x->shape, hi + 1, x->shape.rank),
        ref(cg, x), ref(cg, n->out));
}

typedef void (*EmitFn)(CGen *, Node *);
static const EmitFn emit_table[OP__COUNT] = {
    [OP_CONV1D] = emit_conv,          [OP_CONV2D] = emit_conv,
    [OP_CONV_TRANSPOSE2D] = emit_conv, [OP_LINEAR] = emit_linear,
    [OP_MAXPOOL1D] = emit_pool,       [OP_MAXPOOL2D] = emit_pool,
    [OP_AVGPOOL1D] = emit_pool,       [OP_AVGPOOL2D] = emit_pool,
    [OP_LPPOOL2D] = emit_pool,        [OP_ADAPTIVE_AVGPOOL2D] = emit_adaptive,
    [OP_GLOBAL_AVGPOOL] = emit_global_avg,
    [OP_BATCHNORM1D] = emit_norm,     [OP_BATCHNORM2D] = emit_norm,
    [OP_LAYERNORM] = emit_norm,       [OP_INSTANCENORM2D] = emit_norm,
    [OP_GROUPNORM] = emit_norm,       [OP_RELU] = emit_unary,
    [OP_LEAKY_RELU] = emit_unary,     [OP_PRELU] = emit_prelu,
    [OP_ELU] = emit_unary,            [OP_SELU] = emit_unary,
    [OP_SIGMOID] = emit_unary,        [OP_TANH] = emit_unary,
    [OP_GELU] = emit_unary,           [OP_CLIP] = emit_unary,
    [OP_HARDSIGMOID] = emit_unary,    [OP_HARDSWISH] = emit_unary,
    [OP_DROPOUT] = emit_copy,         [OP_MAXOUT] = emit_maxout,
    [OP_SOFTMAX] = emit_softmax,      [OP_LOG_SOFTMAX] = emit_softmax,
    [OP_ADD] = emit_binary,           [OP_MUL] = emit_binary,
    [OP_CONCAT] = emit_concat,        [OP_FLATTEN] = emit_copy,
    [OP_RESHAPE] = emit_copy,         [OP_UPSAMPLE] = emit_upsample,
    [OP_PAD] = emit_pad,              [OP_TRANSPOSE] = emit_transpose,
    [OP_MEAN] = emit_mean,
};

/* Assign every tensor with data an offset (in floats) in the weight blob,
 * 64-byte aligned, in tensor-id order (deterministic). */
static void layout_weights(CGen *cg) {
  Graph *g = cg->g;
  cg->woff = cnnc_alloc(sizeof(int64_t) * (size_t)(g->ntensors + 1));
  char *used = cnnc_alloc((size_t)g->ntensors + 1);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    Tensor *ps[5] = {n->weight, n->bias, n->mean, n->var, n->residual};
    for (int k = 0; k < 5; k++)
      if (ps[k])
        used[ps[k]->id] = 1;
    for (int k = 0; k < n->nin; k++)
      used[n->in[k]->id] = 1;
  }
  int64_t off = 0;
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    cg->woff[i] = -1;
    if (t->kind == TK_ACT || t->kind == TK_INPUT || !t->data || !used[i])
      continue;
    cg->woff[i] = off;
    off += (shape_numel(&t->shape) + 15) / 16 * 16;
  }
  cg->wsize = off;
}

/* Weights as a string literal of bytes: compact for the compiler (no
 * per-element parse), bit-exact, and independent of the host float format.
 * Octal escapes are always 3 digits so a following digit is never absorbed. */
static unsigned char *build_blob(CGen *cg) {
  Graph *g = cg->g;
  unsigned char *blob = cnnc_alloc((size_t)cg->wsize * 4 + 1);
  for (int i = 0; i < g->ntensors; i++)
    if (cg->woff[i] >= 0) {
      Tensor *t = g->tensors[i];
      for (int64_t k = 0; k < shape_numel(&t->shape); k++) {
        uint32_t u;
        memcpy(&u, &t->data[k], 4);
        unsigned char *p = blob + (cg->woff[i] + k) * 4;
        p[0] = (unsigned char)u;
        p[1] = (unsigned char)(u >> 8);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 24);
      }
    }
  return blob;
}

static void emit_weight_bytes(CGen *cg, FILE *f) {
  int64_t nbytes = cg->wsize * 4;
  unsigned char *blob = build_blob(cg);
  int col = 0;
  fputs("\"", f);
  for (int64_t i = 0; i < nbytes; i++) {
    unsigned char c = blob[i];
    if (c >= 32 && c < 127 && c != '"' && c != '\\' && c != '?') {
      fputc(c, f);
      col++;
    } else {
      fprintf(f, "\\%03o", c);
      col += 4;
    }
    if (col >= 120 && i + 1 < nbytes) {
      fputs("\"\n\"", f);
      col = 0;
    }
  }
  fputs("\"", f);
  free(blob);
}

static void emit_header(CGen *cg, FILE *f) {
  Graph *g = cg->g;
  const char *U = upper(cg->P);
  fprintf(f, "/* %s.h - generated by cnnc %s from %s; do not edit. */\n", cg->P, CNNC_VERSION, g->file ? g->file : "?");
  fprintf(f, "#ifndef %s_H\n#define %s_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n", U, U);
  fprintf(f, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  fprintf(f, "/* Bytes of scratch memory %s_infer needs; the caller owns it. */\n", cg->P);
  fprintf(f, "#define %s_ARENA_SIZE %lldu\n", U, (long long)g->arena_size);
  fprintf(f, "#define %s_ARENA_ALIGN 64\n", U);
  fprintf(f, "#define %s_BATCH_MAX %d\n", U, g->batch);
  fprintf(f, "#define %s_NUM_INPUTS %d\n#define %s_NUM_OUTPUTS %d\n", U, g->ninputs, U, g->noutputs);
  fprintf(f, "#define %s_WEIGHTS_SIZE %lldu /* bytes of the weight blob */\n", U, (long long)cg->wsize * 4);
  for (int io = 0; io < 2; io++) {
    int cnt = io ? g->noutputs : g->ninputs;
    for (int i = 0; i < cnt; i++) {
      Tensor *t = io ? g->outputs[i] : g->inputs[i];
      const char *k = io ? "OUTPUT" : "INPUT";
      fprintf(f, "/* %s %d: '%s', per-sample shape", io ? "output" : "input", i, t->name);
      for (int d = 1; d < t->shape.rank; d++)
        fprintf(f, " %lld", (long long)t->shape.d[d]);
      fprintf(f, " */\n#define %s_%s%d_SIZE %lld\n#define %s_%s%d_RANK %d\n#define %s_%s%d_SHAPE {", U, k, i,
              (long long)per_sample(t), U, k, i, t->shape.rank - 1, U, k, i);
      for (int d = 1; d < t->shape.rank; d++)
        fprintf(f, "%s%lld", d > 1 ? ", " : "", (long long)t->shape.d[d]);
      fprintf(f, "}\n");
      if (i == 0)
        fprintf(f, "#define %s_%s_SIZE %s_%s0_SIZE\n", U, k, U, k);
    }
  }
  fprintf(f, "\n/* Run inference on `batch` samples (1..%s_BATCH_MAX).  Inputs and outputs are\n"
             " * dense float32 NCHW with the batch first; `arena` is %s_ARENA_SIZE bytes,\n"
             " * %s_ARENA_ALIGN-byte aligned.  Returns 0, or -1 on a bad batch/arena. */\n",
          U, U, U);
  if (cg->blob)
    fprintf(f, "/* `weights` points at the %s_WEIGHTS_SIZE bytes of the blob file written\n"
               " * with the code (--weights-out), 64-byte aligned. */\n", U);
  fprintf(f, "int %s_infer(%s", cg->P, cg->blob ? "const void *weights, " : "");
  for (int i = 0; i < g->ninputs; i++)
    fprintf(f, "const float *%s, ", to_c_identifier(g->inputs[i]->name));
  for (int i = 0; i < g->noutputs; i++)
    fprintf(f, "float *y%d, ", i);
  fprintf(f, "int batch, void *arena);\n");
  fprintf(f, "/* The same with inputs/outputs as arrays (used by `cnnc run`); weights == NULL\n"
             " * selects the embedded weights (when they are embedded). */\n");
  fprintf(f, "int %s_infer_v(const void *weights, const float *const *inputs, float *const *outputs, int batch,\n"
             "    void *arena);\n", cg->P);
  fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void emit_source(CGen *cg, FILE *f, const char *h_name) {
  Graph *g = cg->g;
  Emitter E0 = {f, 0}, *E = &E0;
  cg->E = E;
  const char *U = upper(cg->P);
  fprintf(f, "/* %s.c - generated by cnnc %s from %s; do not edit.\n * Standalone C99: needs only libc and libm. */\n",
          cg->P, CNNC_VERSION, g->file ? g->file : "?");
  fprintf(f, "#include \"%s\"\n\n", h_name);
  fprintf(f, "/* ---- cnnc runtime kernels (static; unused ones cost nothing) ---- */\n");
  fprintf(f, "#if defined(__GNUC__)\n#define RT_FN static __attribute__((unused))\n#else\n#define RT_FN static\n#endif\n");
  emit_raw(E, cnnc_rt_source);
  fprintf(f, "/* ---- model ---- */\n\n");
  fprintf(f, "#if defined(__GNUC__)\n#define CNNC_ALIGN64 __attribute__((aligned(64)))\n#else\n#define CNNC_ALIGN64\n#endif\n");
  /* The blob is a union so the bytes are read as floats without aliasing
   * problems; the char array is exactly filled (no NUL stored). */
  if (!cg->blob) {
    fprintf(f, "static const union { unsigned char b[%lld]; float f[%lld]; } CNNC_ALIGN64 %s_weights = {",
            (long long)(cg->wsize ? cg->wsize * 4 : 4), (long long)(cg->wsize ? cg->wsize : 1), cg->P);
    if (cg->wsize) {
      fputs("\n", f);
      emit_weight_bytes(cg, f);
    } else {
      fputs("{0}", f);
    }
    fputs("};\n\n", f);
  }

  emitf(E, "static int %s_run(const float *W, const float *const *in_, float *const *out_, int batch, void *arena) {",
        cg->P);
  emitf(E, "unsigned char *A = (unsigned char *)arena;");
  emitf(E, "if (batch < 1 || batch > %s_BATCH_MAX%s || ((uintptr_t)A & 63)%s)", U, g->arena_size ? " || !A" : "",
        cg->wsize ? " || !W" : "");
  emitf(E, "  return -1;");
  for (int i = 0; i < g->ninputs; i++)
    emitf(E, "const float *in%d = in_[%d];", i, i);
  for (int i = 0; i < g->noutputs; i++)
    emitf(E, "float *out%d = out_[%d];", i, i);
  emitf(E, "(void)A;");
  emitf(E, "(void)W;");
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    emitf(E, "/* %s: %s %s -> %s */", n->name, op_info[n->op].name, shape_str(&n->in[0]->shape),
          shape_str(&n->out->shape));
    if (!emit_table[n->op])
      die("no C emitter for op %s", op_info[n->op].name);
    emitf(E, "{");
    emit_table[n->op](cg, n);
    emitf(E, "}");
  }
  /* An output that is directly an input (identity graph) needs a copy. */
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i]->kind == TK_INPUT)
      emitf(E, "memmove(out%d, %s, sizeof(float) * (size_t)batch * %lld);", i, ref(cg, g->outputs[i]),
            (long long)per_sample(g->outputs[i]));
  emitf(E, "return 0;");
  emitf(E, "}");
  emitf(E, "%s", "");
  emitf(E, "int %s_infer_v(const void *weights, const float *const *inputs, float *const *outputs, int batch,",
        cg->P);
  emitf(E, "    void *arena) {");
  if (cg->blob)
    emitf(E, "return %s_run((const float *)weights, inputs, outputs, batch, arena);", cg->P);
  else
    emitf(E, "return %s_run(weights ? (const float *)weights : %s_weights.f, inputs, outputs, batch, arena);", cg->P,
          cg->P);
  emitf(E, "}");
  emitf(E, "%s", "");
  char params[4096] = "", ins[2048] = "", outs[2048] = "";
  size_t kp = 0, ki = 0, ko = 0;
  for (int i = 0; i < g->ninputs; i++) {
    const char *nm = to_c_identifier(g->inputs[i]->name);
    kp += (size_t)snprintf(params + kp, sizeof params - kp, "const float *%s, ", nm);
    ki += (size_t)snprintf(ins + ki, sizeof ins - ki, "%s%s", i ? ", " : "", nm);
  }
  for (int i = 0; i < g->noutputs; i++) {
    kp += (size_t)snprintf(params + kp, sizeof params - kp, "float *y%d, ", i);
    ko += (size_t)snprintf(outs + ko, sizeof outs - ko, "%sy%d", i ? ", " : "", i);
  }
  emitf(E, "int %s_infer(%s%sint batch, void *arena) {", cg->P, cg->blob ? "const void *weights, " : "", params);
  emitf(E, "const float *const in_[%d] = {%s};", g->ninputs, ins);
  emitf(E, "float *const out_[%d] = {%s};", g->noutputs, outs);
  emitf(E, "return %s_run(%s, in_, out_, batch, arena);", cg->P,
        cg->blob ? "(const float *)weights" : cnnc_fmt("%s_weights.f", cg->P));
  emitf(E, "}");
  if (E->depth != 0)
    die("emitter depth %d at end of file", E->depth);
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

bool c_emit(Graph *g, const Options *opt, const char *c_path, const char *h_path, const char *weights_out) {
  (void)opt;
  CGen cg = {.g = g, .P = g->name, .blob = weights_out != NULL};
  ir_compute_uses(g);
  layout_weights(&cg);
  if (weights_out) {
    AtomicFile wf;
    if (!atomic_open(&wf, weights_out))
      return false;
    unsigned char *blob = build_blob(&cg);
    fwrite(blob, 1, (size_t)cg.wsize * 4, wf.f);
    free(blob);
    if (!atomic_commit(&wf))
      return false;
  }
  AtomicFile hf, cf;
  if (h_path) {
    if (!atomic_open(&hf, h_path))
      return false;
    emit_header(&cg, hf.f);
    if (!atomic_commit(&hf))
      return false;
  }
  if (c_path) {
    if (!atomic_open(&cf, c_path))
      return false;
    emit_source(&cg, cf.f, h_path ? base_name(h_path) : cnnc_fmt("%s.h", g->name));
    if (!atomic_commit(&cf))
      return false;
  }
  return true;
}
