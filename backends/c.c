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
#include "cnnc_rt.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct CGen {
  Emitter *E;
  Graph *g;
  const char *P;       /* lower-case prefix */
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
  if (t->kind == TK_TARGET)
    return "tgt";
  if (t->kind == TK_GRAD) {
    if (t->offset < 0)
      die("gradient '%s' has no arena offset", t->name);
    return cnnc_fmt("((float *)(A + %lld))", (long long)t->offset);
  }
  if (t->kind != TK_ACT) {
    if (t->woff < 0)
      die("tensor '%s' has no weight data", t->name);
    return cnnc_fmt("((float *)(W + %lld))", (long long)t->woff);
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

/* The runtime descriptor of a conv node (act only in inference). */
static RtConv conv_desc(const Node *n) {
  int64_t H, W, OH, OW;
  hw(n->in[0], &H, &W);
  hw(n->out, &OH, &OW);
  RtConv p = {.C = (int)n->in[0]->shape.d[1], .H = (int)H, .W = (int)W, .K = (int)n->out->shape.d[1],
              .OH = (int)OH, .OW = (int)OW, .kh = n->kernel[0], .kw = n->kernel[1], .sh = n->stride[0],
              .sw = n->stride[1], .dh = n->dilation[0], .dw = n->dilation[1], .pt = n->pad[0], .pl = n->pad[1],
              .groups = n->groups, .act = rt_act(n->act), .alpha = n->act_alpha, .beta = n->act_beta,
              .algo = n->algo, .tile = n->algo_tile};
  return p;
}

/* `static const RtConv NAME = {...}` for descriptor p of conv node n (its
 * act parameters in full precision). */
static void emit_desc(CGen *cg, const char *name, const RtConv *p, const Node *n) {
  emitf(cg->E, "static const RtConv %s = {.C = %d, .H = %d, .W = %d, .K = %d, .OH = %d, .OW = %d, "
               ".kh = %d, .kw = %d, .sh = %d, .sw = %d, .dh = %d, .dw = %d, .pt = %d, .pl = %d, .groups = %d, "
               ".act = %d, .alpha = %s, .beta = %s, .algo = %d, .tile = %d};",
        name, p->C, p->H, p->W, p->K, p->OH, p->OW, p->kh, p->kw, p->sh, p->sw, p->dh, p->dw, p->pt, p->pl,
        p->groups, p->act, fl(n->act_alpha), fl(n->act_beta), p->algo, p->tile);
}

/* `static const RtConv p = {...}` for a conv node. */
static void emit_conv_desc(CGen *cg, Node *n) {
  RtConv p = conv_desc(n);
  emit_desc(cg, "p", &p, n);
}

/* The call for a forward conv: straight to the kernel rt_conv2d would
 * dispatch to (the same function of the descriptor), so gcc compiles only
 * the kernels the model uses. */
static void emit_conv_call(CGen *cg, Node *n) {
  Tensor *x = n->in[0], *y = n->out;
  RtConv p = conv_desc(n);
  const char *args = cnnc_fmt("&p, batch, %s, %s, %s, %s, %s", ref(cg, x),
                              ref(cg, n->algo_weight ? n->algo_weight : n->weight), opt_ref(cg, n->bias),
                              opt_ref(cg, n->residual), ref(cg, y));
  const char *scratch = n->scratch_bytes ? cnnc_fmt("A + %lld", (long long)n->scratch_offset) : "NULL";
  switch (rt_conv2d_algo(&p, n->scratch_bytes != 0)) {
  case RT_ALGO_WINOGRAD:
    emitf(cg->E, "rt_winograd_conv2d(%s, %s);", args, scratch);
    return;
  case RT_ALGO_FFT:
    emitf(cg->E, "rt_fft_conv2d(%s, %s);", args, scratch);
    return;
  case RT_ALGO_GEMM1X1:
  case RT_ALGO_IM2COL:
    emitf(cg->E, "rt_conv2d_gemm(%s, %s);", args, scratch);
    return;
  default: {
    static const char *const form[] = {[RT_DIRECT_ROWS] = "(void)rt_conv2d_rows",
                                       [RT_DIRECT_DEPTHWISE] = "rt_conv2d_depthwise",
                                       [RT_DIRECT_PLAIN] = "rt_conv2d_plain"};
    emitf(cg->E, "#if defined(__AVX512F__)");
    emitf(cg->E, "%s(%s);", form[rt_conv2d_direct_form(&p)], args);
    emitf(cg->E, "#else");
    emitf(cg->E, "%s(%s);", p.C == p.groups ? "rt_conv2d_depthwise" : "rt_conv2d_plain", args);
    emitf(cg->E, "#endif");
  }
  }
}

/* A depthwise conv with its 1x1 conv inside (pass_algo.c): descriptors pe
 * (the 1x1 conv) and p (the depthwise conv, its C its own channel count). */
static void emit_pw_dw(CGen *cg, Node *n) {
  const Node *e = n->pre;
  RtConv pe = conv_desc(e), p = conv_desc(n);
  p.C = p.K; /* in[0] is the 1x1 conv's input */
  emit_desc(cg, "pe", &pe, e);
  emit_desc(cg, "p", &p, n);
  emitf(cg->E, "rt_pw_dw_conv2d(&pe, &p, batch, %s, %s, %s, %s, %s, %s, %s, A + %lld);", ref(cg, n->in[0]),
        ref(cg, e->weight), opt_ref(cg, e->bias), ref(cg, n->weight), opt_ref(cg, n->bias), opt_ref(cg, n->residual),
        ref(cg, n->out), (long long)n->scratch_offset);
}

static void emit_conv(CGen *cg, Node *n) {
  Tensor *x = n->in[0], *y = n->out;
  if (n->pre) {
    emit_pw_dw(cg, n);
    return;
  }
  emit_conv_desc(cg, n);
  if (n->op == OP_CONV_TRANSPOSE2D && n->scratch_bytes)
    emitf(cg->E, "rt_conv_transpose2d_ws(&p, batch, %s, %s, %s, %s, A + %lld);", ref(cg, x), ref(cg, n->weight),
          opt_ref(cg, n->bias), ref(cg, y), (long long)n->scratch_offset);
  else if (n->op == OP_CONV_TRANSPOSE2D)
    emitf(cg->E, "rt_conv_transpose2d(&p, batch, %s, %s, %s, %s);", ref(cg, x), ref(cg, n->weight),
          opt_ref(cg, n->bias), ref(cg, y));
  else
    emit_conv_call(cg, n);
}

static void emit_linear(CGen *cg, Node *n) {
  emitf(cg->E, "rt_linear(batch, %lld, %lld, %s, %s, %s, %s, %s, %d, %s, %s);", (long long)n->in[0]->shape.d[1],
        (long long)n->out_ch, ref(cg, n->in[0]), ref(cg, n->weight), opt_ref(cg, n->bias),
        opt_ref(cg, n->residual), ref(cg, n->out), rt_act(n->act), fl(n->act_alpha), fl(n->act_beta));
}

/* The pool descriptor of a pool node; with its conv inside (n->pre, a max
 * pool: pass_algo.c), the pool over that conv's output. */
static RtPool pool_desc(const Node *n) {
  const Tensor *x = n->pre ? n->pre->out : n->in[0], *y = n->out;
  int64_t H, W, OH, OW;
  hw(x, &H, &W);
  hw(y, &OH, &OW);
  RtPool p = {.C = (int)x->shape.d[1], .H = (int)H, .W = (int)W, .OH = (int)OH, .OW = (int)OW,
              .kh = n->kernel[0], .kw = n->kernel[1], .sh = n->stride[0], .sw = n->stride[1],
              .dh = n->dilation[0], .dw = n->dilation[1], .pt = n->pad[0], .pl = n->pad[1], .pb = n->pad[2],
              .pr = n->pad[3], .count_include_pad = n->count_include_pad, .norm = n->alpha};
  return p;
}

static void emit_pool_desc(CGen *cg, const Node *n) {
  const RtPool p = pool_desc(n);
  emitf(cg->E, "static const RtPool p = {.C = %d, .H = %d, .W = %d, .OH = %d, .OW = %d, .kh = %d, .kw = %d, "
               ".sh = %d, .sw = %d, .dh = %d, .dw = %d, .pt = %d, .pl = %d, .pb = %d, .pr = %d, "
               ".count_include_pad = %d, .norm = %s};",
        p.C, p.H, p.W, p.OH, p.OW, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.pt, p.pl, p.pb, p.pr, p.count_include_pad,
        fl(p.norm));
}

/* The max pools' row-vector instances the model calls (RT_POOL_RV_USE: the
 * generated code compiles only those). */
static unsigned pool_forms(const Graph *g) {
  unsigned use = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const Node *n = g->nodes[i];
    if (n->op == OP_MAXPOOL1D || n->op == OP_MAXPOOL2D) {
      const RtPool p = pool_desc(n);
      const int form = rt_maxpool2d_form(&p);
      if (form > 0)
        use |= 1u << (form - 1);
    }
  }
  return use;
}

/* A max pool with its conv inside (pass_algo.c): descriptors pc (the
 * conv, its act) and p (the pool over the conv's output). */
static void emit_conv_pool(CGen *cg, Node *n) {
  const Node *e = n->pre;
  RtConv pc = conv_desc(e);
  emit_desc(cg, "pc", &pc, e);
  emit_pool_desc(cg, n);
  emitf(cg->E, "rt_conv_maxpool2d(&pc, &p, batch, %s, %s, %s, %s, A + %lld);", ref(cg, n->in[0]), ref(cg, e->weight),
        opt_ref(cg, e->bias), ref(cg, n->out), (long long)n->scratch_offset);
}

static void emit_pool(CGen *cg, Node *n) {
  Tensor *x = n->in[0], *y = n->out;
  if (n->pre) {
    emit_conv_pool(cg, n);
    return;
  }
  emit_pool_desc(cg, n);
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
  if (n->training) {
    switch (n->op) {
    case OP_BATCHNORM1D: case OP_BATCHNORM2D:
      emitf(cg->E, "rt_batchnorm_train(batch, %lld, %lld, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s);", (long long)C,
            (long long)HW, ref(cg, x), opt_ref(cg, n->weight), opt_ref(cg, n->bias), ref(cg, n->mean),
            ref(cg, n->var), fl(n->momentum), fl(n->eps), ref(cg, n->out), ref(cg, n->aux[0]), ref(cg, n->aux[1]));
      return;
    case OP_LAYERNORM:
      emitf(cg->E, "rt_layernorm_train(batch, %lld, %s, %s, %s, %s, %s, %s, %s);", (long long)per_sample(x),
            ref(cg, x), opt_ref(cg, n->weight), opt_ref(cg, n->bias), fl(n->eps), ref(cg, n->out),
            ref(cg, n->aux[0]), ref(cg, n->aux[1]));
      return;
    default:
      emitf(cg->E, "rt_groupnorm_train(batch, %lld, %lld, %lld, %s, %s, %s, %s, %s, %s, %s);", (long long)C,
            (long long)HW, (long long)(n->op == OP_GROUPNORM ? n->num_groups : C), ref(cg, x),
            opt_ref(cg, n->weight), opt_ref(cg, n->bias), fl(n->eps), ref(cg, n->out), ref(cg, n->aux[0]),
            ref(cg, n->aux[1]));
      return;
    }
  }
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

/* The RT_ACT_* kind of a pointwise op (forward and backward). */
static int unary_kind(OpKind op) {
  switch (op) {
  case OP_RELU: return 1;
  case OP_LEAKY_RELU: return 2;
  case OP_CLIP: return 3;
  case OP_SIGMOID: return 4;
  case OP_TANH: return 5;
  case OP_HARDSWISH: return 6;
  case OP_ELU: return 7;
  case OP_SELU: return 8;
  case OP_GELU: return 9;
  case OP_HARDSIGMOID: return 10;
  default: unreachable();
  }
}

static void emit_unary(CGen *cg, Node *n) {
  emitf(cg->E, "rt_unary(%d, %s, %s, (int64_t)batch * %lld, %s, %s);", unary_kind(n->op), fl(n->alpha), fl(n->beta),
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
  if (n->op == OP_DROPOUT && n->training) {
    emitf(cg->E, "rt_dropout_train((int64_t)batch * %lld, %s, seed, (uint64_t)step * %dull + %dull, %s, %s);",
          (long long)per_sample(n->out), fl(n->p), cg->g->nnodes, n->id, ref(cg, n->in[0]), ref(cg, n->out));
    return;
  }
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

/* Declare yd/as/bs: y's dims (batch at runtime) and numpy-broadcast element
 * strides of a and b (0 on broadcast axes). */
static void emit_bcast_arrays(CGen *cg, const Tensor *a, const Tensor *b, const Tensor *y) {
  int r = y->shape.rank;
  char yd[512] = "", as[512] = "", bs[512] = "";
  size_t ky = 0, ka = 0, kb = 0;
  const Tensor *ops[2] = {a, b};
  int64_t strides[2][MAX_RANK];
  for (int o = 0; o < 2; o++) {
    const Shape *sa = &ops[o]->shape;
    int64_t st = 1;
    for (int k = r - 1; k >= 0; k--) {
      int ia = k - (r - sa->rank);
      int64_t da = ia >= 0 ? sa->d[ia] : 1;
      strides[o][k] = (da == 1 && y->shape.d[k] != 1) ? 0 : st;
      /* a size-1 batch dim of a constant operand broadcasts even when batch == 1 */
      if (k == 0 && ops[o]->kind != TK_ACT && ops[o]->kind != TK_INPUT && ia >= 0 && da == 1)
        strides[o][k] = 0;
      if (ia < 0)
        strides[o][k] = 0;
      st *= da;
    }
  }
  for (int k = 0; k < r; k++) {
    ky += (size_t)snprintf(yd + ky, sizeof yd - ky, "%s%s", k ? ", " : "",
                           k == 0 ? "batch" : cnnc_fmt("%lld", (long long)y->shape.d[k]));
    ka += (size_t)snprintf(as + ka, sizeof as - ka, "%s%lld", k ? ", " : "", (long long)strides[0][k]);
    kb += (size_t)snprintf(bs + kb, sizeof bs - kb, "%s%lld", k ? ", " : "", (long long)strides[1][k]);
  }
  emitf(cg->E, "const int64_t yd[%d] = {%s}, as[%d] = {%s}, bs[%d] = {%s};", r, yd, r, as, r, bs);
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
      emitf(cg->E, "{");
      emit_bcast_arrays(cg, a, b, y);
      emitf(cg->E, "rt_binary(%d, %d, yd, as, bs, %s, %s, %s, %d, %s, %s);", op, y->shape.rank, acc, ref(cg, b),
            ref(cg, y), act, fl(n->act_alpha), fl(n->act_beta));
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

/* slice along `axis` (step 1): rows of (outer, d[axis]*inner) cut to [start, end). */
static void emit_slice(CGen *cg, Node *n) {
  Tensor *x = n->in[0], *y = n->out;
  int64_t outer = dims_prod(&x->shape, 1, n->axis), inner = dims_prod(&x->shape, n->axis + 1, x->shape.rank);
  emitf(cg->E, "rt_slice_copy((int64_t)batch * %lld, %lld, %lld, %lld, %s, %s);", (long long)outer,
        (long long)(x->shape.d[n->axis] * inner), (long long)((n->slice_end - n->slice_start) * inner),
        (long long)(n->slice_start * inner), ref(cg, x), ref(cg, y));
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

/* Declare xd (x's dims, batch at runtime) and perm for a transpose node. */
static void emit_perm_arrays(CGen *cg, const Node *n) {
  const Tensor *x = n->in[0];
  int r = x->shape.rank;
  char xd[512] = "", pm[256] = "";
  size_t kx = 0, kp = 0;
  for (int k = 0; k < r; k++) {
    kx += (size_t)snprintf(xd + kx, sizeof xd - kx, "%s%s", k ? ", " : "",
                           k == 0 ? "batch" : cnnc_fmt("%lld", (long long)x->shape.d[k]));
    kp += (size_t)snprintf(pm + kp, sizeof pm - kp, "%s%lld", k ? ", " : "", (long long)n->target.d[k]);
  }
  emitf(cg->E, "const int64_t xd[%d] = {%s};", r, xd);
  emitf(cg->E, "static const int perm[%d] = {%s};", r, pm);
}

static void emit_transpose(CGen *cg, Node *n) {
  emitf(cg->E, "{");
  emit_perm_arrays(cg, n);
  emitf(cg->E, "rt_transpose(%d, xd, perm, %s, %s);", n->in[0]->shape.rank, ref(cg, n->in[0]), ref(cg, n->out));
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
    [OP_MEAN] = emit_mean,            [OP_SLICE] = emit_slice,
};

/* ------------------------------------------------------------- backward
 * One vector-Jacobian product per op, side by side with the forward table.
 * `f` is the forward node, `dy` its output gradient; every kernel
 * accumulates into the gradients the GRAD node owns (NULL = not needed). */

static const char *gx(CGen *cg, Node *gn, int i) { return gn->gout[i] ? ref(cg, gn->gout[i]) : "NULL"; }

static void grad_conv(CGen *cg, Node *gn, Node *f, const char *dy) {
  emit_conv_desc(cg, f);
  if (gn->scratch_bytes > 0) { /* im2col + GEMM backward */
    emitf(cg->E, "rt_conv2d_bwd_ws(&p, batch, %s, %s, %s, %s, %s, %s, A + %lld);", ref(cg, f->in[0]),
          ref(cg, f->weight), dy, gx(cg, gn, 0), opt_ref(cg, gn->dw), opt_ref(cg, gn->db),
          (long long)gn->scratch_offset);
    return;
  }
  emitf(cg->E, "%s(&p, batch, %s, %s, %s, %s, %s, %s);",
        f->op == OP_CONV_TRANSPOSE2D ? "rt_conv_transpose2d_bwd" : "rt_conv2d_bwd", ref(cg, f->in[0]),
        ref(cg, f->weight), dy, gx(cg, gn, 0), opt_ref(cg, gn->dw), opt_ref(cg, gn->db));
}

static void grad_linear(CGen *cg, Node *gn, Node *f, const char *dy) {
  emitf(cg->E, "rt_linear_bwd(batch, %lld, %lld, %s, %s, %s, %s, %s, %s);", (long long)f->in[0]->shape.d[1],
        (long long)f->out_ch, ref(cg, f->in[0]), ref(cg, f->weight), dy, gx(cg, gn, 0), opt_ref(cg, gn->dw),
        opt_ref(cg, gn->db));
}

static void grad_pool(CGen *cg, Node *gn, Node *f, const char *dy) {
  emit_pool_desc(cg, f);
  if (f->op == OP_MAXPOOL1D || f->op == OP_MAXPOOL2D)
    emitf(cg->E, "rt_maxpool2d_bwd(&p, batch, %s, %s, %s);", ref(cg, f->in[0]), dy, gx(cg, gn, 0));
  else if (f->op == OP_LPPOOL2D)
    emitf(cg->E, "rt_lppool2d_bwd(&p, batch, %s, %s, %s, %s);", ref(cg, f->in[0]), ref(cg, f->out), dy,
          gx(cg, gn, 0));
  else
    emitf(cg->E, "rt_avgpool2d_bwd(&p, batch, %s, %s);", dy, gx(cg, gn, 0));
}

static void grad_adaptive(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  emitf(cg->E, "rt_adaptive_avgpool2d_bwd(batch, %lld, %lld, %lld, %d, %d, %s, %s);", (long long)x->shape.d[1],
        (long long)x->shape.d[2], (long long)x->shape.d[3], f->out_size[0], f->out_size[1], dy, gx(cg, gn, 0));
}

static void grad_global_avg(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  emitf(cg->E, "rt_global_avgpool_bwd(batch, %lld, %lld, %s, %s);", (long long)x->shape.d[1],
        (long long)dims_prod(&x->shape, 2, x->shape.rank), dy, gx(cg, gn, 0));
}

static void grad_mean(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  int lo = -1, hi = -1;
  for (int k = 0; k < x->shape.rank; k++)
    if (f->axes_mask >> k & 1) {
      if (lo < 0)
        lo = k;
      hi = k;
    }
  emitf(cg->E, "rt_reduce_mean_bwd((int64_t)batch * %lld, %lld, %lld, %s, %s);",
        (long long)dims_prod(&x->shape, 1, lo), (long long)dims_prod(&x->shape, lo, hi + 1),
        (long long)dims_prod(&x->shape, hi + 1, x->shape.rank), dy, gx(cg, gn, 0));
}

static void grad_norm(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  int64_t C = x->shape.d[1], HW = dims_prod(&x->shape, 2, x->shape.rank);
  const char *w = opt_ref(cg, f->weight), *sm = ref(cg, f->aux[0]), *si = ref(cg, f->aux[1]);
  switch (f->op) {
  case OP_BATCHNORM1D: case OP_BATCHNORM2D:
    emitf(cg->E, "rt_batchnorm_bwd(batch, %lld, %lld, %s, %s, %s, %s, %s, %s, %s, %s);", (long long)C,
          (long long)HW, ref(cg, x), w, sm, si, dy, gx(cg, gn, 0), opt_ref(cg, gn->dw), opt_ref(cg, gn->db));
    break;
  case OP_LAYERNORM:
    emitf(cg->E, "rt_layernorm_bwd(batch, %lld, %s, %s, %s, %s, %s, %s, %s, %s);", (long long)per_sample(x),
          ref(cg, x), w, sm, si, dy, gx(cg, gn, 0), opt_ref(cg, gn->dw), opt_ref(cg, gn->db));
    break;
  default:
    emitf(cg->E, "rt_groupnorm_bwd(batch, %lld, %lld, %lld, %s, %s, %s, %s, %s, %s, %s, %s);", (long long)C,
          (long long)HW, (long long)(f->op == OP_GROUPNORM ? f->num_groups : C), ref(cg, x), w, sm, si, dy,
          gx(cg, gn, 0), opt_ref(cg, gn->dw), opt_ref(cg, gn->db));
    break;
  }
}


static void grad_unary(CGen *cg, Node *gn, Node *f, const char *dy) {
  emitf(cg->E, "rt_unary_bwd(%d, %s, %s, (int64_t)batch * %lld, %s, %s, %s, %s);", unary_kind(f->op), fl(f->alpha),
        fl(f->beta), (long long)per_sample(f->out), ref(cg, f->in[0]), ref(cg, f->out), dy, gx(cg, gn, 0));
}

static void grad_prelu(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  int64_t C = x->shape.rank >= 2 ? x->shape.d[1] : 1;
  emitf(cg->E, "rt_prelu_bwd(batch, %lld, %lld, %s, %s, %d, %s, %s, %s);", (long long)C,
        (long long)dims_prod(&x->shape, 2, x->shape.rank), ref(cg, x), ref(cg, f->weight), f->num_params, dy,
        gx(cg, gn, 0), opt_ref(cg, gn->dw));
}

/* flatten, reshape, inference dropout: the gradient passes through. */
static void grad_copy(CGen *cg, Node *gn, Node *f, const char *dy) {
  if (!gn->gout[0])
    return;
  if (f->op == OP_DROPOUT && f->training)
    emitf(cg->E, "rt_dropout_bwd((int64_t)batch * %lld, %s, seed, (uint64_t)step * %dull + %dull, %s, %s);",
          (long long)per_sample(f->out), fl(f->p), cg->g->nnodes, f->id, dy, gx(cg, gn, 0));
  else
    emitf(cg->E, "rt_accumulate((int64_t)batch * %lld, %s, %s);", (long long)per_sample(f->out), dy, gx(cg, gn, 0));
}

static void grad_maxout(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  emitf(cg->E, "rt_maxout_bwd(batch, %lld, %lld, %d, %s, %s, %s);", (long long)x->shape.d[1],
        (long long)dims_prod(&x->shape, 2, x->shape.rank), f->pieces, ref(cg, x), dy, gx(cg, gn, 0));
}

static void grad_softmax(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  emitf(cg->E, "rt_softmax_bwd((int64_t)batch * %lld, %lld, %lld, %s, %s, %s, %d);",
        (long long)dims_prod(&x->shape, 1, f->axis), (long long)x->shape.d[f->axis],
        (long long)dims_prod(&x->shape, f->axis + 1, x->shape.rank), ref(cg, f->out), dy, gx(cg, gn, 0),
        f->op == OP_LOG_SOFTMAX);
}

static void grad_binary(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *y = f->out;
  for (int i = 0; i < f->nin; i++) {
    if (!gn->gout[i])
      continue;
    Tensor *a = f->in[i], *b = f->in[f->nin == 2 ? 1 - i : i];
    if (f->op == OP_ADD && shape_eq(&a->shape, &y->shape)) {
      emitf(cg->E, "rt_accumulate((int64_t)batch * %lld, %s, %s);", (long long)per_sample(y), dy, gx(cg, gn, i));
      continue;
    }
    emitf(cg->E, "{");
    emit_bcast_arrays(cg, a, b, y);
    emitf(cg->E, "rt_binary_bwd(%d, %d, yd, as, bs, %s, %s, %s, %s, NULL);", f->op == OP_ADD ? 0 : 1,
          y->shape.rank, ref(cg, a), ref(cg, b), dy, gx(cg, gn, i));
    emitf(cg->E, "}");
  }
}

static void grad_concat(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *y = f->out;
  int64_t outer = dims_prod(&y->shape, 1, f->axis), inner_y = dims_prod(&y->shape, f->axis, y->shape.rank);
  int64_t off = 0;
  for (int i = 0; i < f->nin; i++) {
    Tensor *x = f->in[i];
    int64_t inner_x = dims_prod(&x->shape, f->axis, x->shape.rank);
    if (gn->gout[i])
      emitf(cg->E, "rt_copy_slice_bwd((int64_t)batch * %lld, %lld, %lld, %lld, %s, %s);", (long long)outer,
            (long long)inner_x, (long long)inner_y, (long long)off, dy, gx(cg, gn, i));
    off += inner_x;
  }
}

static void grad_upsample(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  int64_t H, W;
  hw(x, &H, &W);
  emitf(cg->E, "rt_upsample_nearest_bwd(batch, %lld, %lld, %lld, %d, %d, %s, %s);", (long long)x->shape.d[1],
        (long long)H, (long long)W, x->shape.rank == 4 ? f->scale[0] : 1, f->scale[1], dy, gx(cg, gn, 0));
}

static void grad_pad(CGen *cg, Node *gn, Node *f, const char *dy) {
  Tensor *x = f->in[0];
  int64_t H, W;
  hw(x, &H, &W);
  emitf(cg->E, "rt_pad2d_bwd(batch, %lld, %lld, %lld, %d, %d, %d, %d, %d, %s, %s);", (long long)x->shape.d[1],
        (long long)H, (long long)W, f->pad[0], f->pad[1], f->pad[2], f->pad[3], f->pad_mode, dy, gx(cg, gn, 0));
}

static void grad_transpose(CGen *cg, Node *gn, Node *f, const char *dy) {
  emit_perm_arrays(cg, f);
  emitf(cg->E, "rt_transpose_bwd(%d, xd, perm, %s, %s);", f->in[0]->shape.rank, dy, gx(cg, gn, 0));
}

typedef void (*GradFn)(CGen *, Node *, Node *, const char *);
static const GradFn grad_table[OP__COUNT] = {
    [OP_CONV1D] = grad_conv,           [OP_CONV2D] = grad_conv,
    [OP_CONV_TRANSPOSE2D] = grad_conv, [OP_LINEAR] = grad_linear,
    [OP_MAXPOOL1D] = grad_pool,        [OP_MAXPOOL2D] = grad_pool,
    [OP_AVGPOOL1D] = grad_pool,        [OP_AVGPOOL2D] = grad_pool,
    [OP_LPPOOL2D] = grad_pool,         [OP_ADAPTIVE_AVGPOOL2D] = grad_adaptive,
    [OP_GLOBAL_AVGPOOL] = grad_global_avg,
    [OP_BATCHNORM1D] = grad_norm,      [OP_BATCHNORM2D] = grad_norm,
    [OP_LAYERNORM] = grad_norm,        [OP_INSTANCENORM2D] = grad_norm,
    [OP_GROUPNORM] = grad_norm,        [OP_RELU] = grad_unary,
    [OP_LEAKY_RELU] = grad_unary,      [OP_PRELU] = grad_prelu,
    [OP_ELU] = grad_unary,             [OP_SELU] = grad_unary,
    [OP_SIGMOID] = grad_unary,         [OP_TANH] = grad_unary,
    [OP_GELU] = grad_unary,            [OP_CLIP] = grad_unary,
    [OP_HARDSIGMOID] = grad_unary,     [OP_HARDSWISH] = grad_unary,
    [OP_DROPOUT] = grad_copy,          [OP_MAXOUT] = grad_maxout,
    [OP_SOFTMAX] = grad_softmax,       [OP_LOG_SOFTMAX] = grad_softmax,
    [OP_ADD] = grad_binary,            [OP_MUL] = grad_binary,
    [OP_CONCAT] = grad_concat,         [OP_FLATTEN] = grad_copy,
    [OP_RESHAPE] = grad_copy,          [OP_UPSAMPLE] = grad_upsample,
    [OP_PAD] = grad_pad,               [OP_TRANSPOSE] = grad_transpose,
    [OP_MEAN] = grad_mean,
};

static void emit_loss(CGen *cg, Node *n) {
  Tensor *pred = n->in[0];
  const char *loss = cg->g->train->loss, *dx = ref(cg, n->gout[0]);
  if (!strcmp(loss, "cross_entropy") || !strcmp(loss, "nll"))
    emitf(cg->E, "loss = rt_loss_%s(batch, %lld, %s, (const int32_t *)tgt, %s);", loss,
          (long long)pred->shape.d[1], ref(cg, pred), dx);
  else
    emitf(cg->E, "loss = rt_loss_%s((int64_t)batch * %lld, %s, (const float *)tgt, %s);", loss,
          (long long)per_sample(pred), ref(cg, pred), dx);
}

/* Optimizer state: a 64-byte header (the int64 step counter) and, per
 * trainable parameter, its buffers (momentum / exp_avg / exp_avg_sq ...). */
static int opt_buffers(const TrainSpec *tr) {
  if (!strcmp(tr->optimizer, "sgd"))
    return tr->momentum != 0 ? 1 : 0;
  if (!strcmp(tr->optimizer, "rmsprop"))
    return tr->momentum != 0 ? 2 : 1;
  return 2; /* adam, adamw */
}

static void emit_optimizer(CGen *cg, Graph *gt) {
  TrainSpec *tr = gt->train;
  Emitter *E = cg->E;
  /* clip_grad_norm_: scale the gradients by coef = max / (norm + 1e-6) when
   * coef < 1, step, then scale them back so the arena keeps d(loss)/d(param)
   * (what `cnnc run --train --grads` reports) to within rounding. */
  if (tr->clip_grad_norm > 0) {
    emitf(E, "double sq = 0.0;");
    for (int i = 0; i < gt->ntensors; i++) {
      Tensor *t = gt->tensors[i];
      if (t->kind == TK_PARAM && t->trainable && t->grad && t->grad->offset >= 0)
        emitf(E, "sq += rt_sumsq(%lld, %s);", (long long)shape_numel(&t->shape), ref(cg, t->grad));
    }
    emitf(E, "const double coef = %.17g / (sqrt(sq) + 1e-6);", tr->clip_grad_norm);
    emitf(E, "if (coef < 1.0) {");
    for (int i = 0; i < gt->ntensors; i++) {
      Tensor *t = gt->tensors[i];
      if (t->kind == TK_PARAM && t->trainable && t->grad && t->grad->offset >= 0)
        emitf(E, "rt_scale(%lld, (float)coef, %s);", (long long)shape_numel(&t->shape), ref(cg, t->grad));
    }
    emitf(E, "}");
  }
  /* Learning-rate schedule in steps (train_step calls), lr_scheduler semantics. */
  if (tr->schedule && !strcmp(tr->schedule, "step"))
    emitf(E, "const float lr = (float)(%.17g * pow(%.17g, (double)((step - 1) / %d)));", tr->lr, tr->gamma,
          tr->step_size);
  else if (tr->schedule && !strcmp(tr->schedule, "cosine"))
    emitf(E, "const float lr = (float)(%.17g + (%.17g - %.17g) * (1.0 + cos(3.14159265358979323846 * (double)"
             "((step - 1) %% (2 * %d)) / %d)) / 2.0);",
          tr->eta_min, tr->lr, tr->eta_min, tr->t_max, tr->t_max);
  else
    emitf(E, "const float lr = %s;", fl(tr->lr));
  int nb = opt_buffers(tr);
  int64_t off = 16; /* floats; must match opt_state_size() */
  for (int i = 0; i < gt->ntensors; i++) {
    Tensor *t = gt->tensors[i];
    if (t->kind != TK_PARAM || !t->trainable || !t->grad || t->grad->offset < 0)
      continue;
    int64_t n = shape_numel(&t->shape), stride = (n + 15) / 16 * 16;
    const char *p = ref(cg, t), *gr = ref(cg, t->grad);
    const char *b0 = cnnc_fmt("opt_state + %lld", (long long)off), *b1 = cnnc_fmt("opt_state + %lld", (long long)(off + stride));
    if (!strcmp(tr->optimizer, "sgd"))
      emitf(E, "rt_sgd_step(%lld, lr, %s, %s, %s, %d, step, %s, %s, %s);", (long long)n, fl(tr->momentum),
            fl(tr->dampening), fl(tr->weight_decay), tr->nesterov, p, gr, nb ? b0 : "NULL");
    else if (!strcmp(tr->optimizer, "rmsprop"))
      emitf(E, "rt_rmsprop_step(%lld, lr, %s, %s, %s, %s, step, %s, %s, %s, %s);", (long long)n, fl(tr->alpha),
            fl(tr->eps), fl(tr->weight_decay), fl(tr->momentum), p, gr, b0, nb > 1 ? b1 : "NULL");
    else
      emitf(E, "rt_adam_step(%lld, lr, %s, %s, %s, %s, %d, step, %s, %s, %s, %s);", (long long)n, fl(tr->beta1),
            fl(tr->beta2), fl(tr->eps), fl(tr->weight_decay), !strcmp(tr->optimizer, "adamw"), p, gr, b0, b1);
    off += nb * stride;
  }
  if (tr->clip_grad_norm > 0) {
    emitf(E, "if (coef < 1.0) {");
    for (int i = 0; i < gt->ntensors; i++) {
      Tensor *t = gt->tensors[i];
      if (t->kind == TK_PARAM && t->trainable && t->grad && t->grad->offset >= 0)
        emitf(E, "rt_scale(%lld, (float)(1.0 / coef), %s);", (long long)shape_numel(&t->shape), ref(cg, t->grad));
    }
    emitf(E, "}");
  }
}

static int64_t opt_state_size(Graph *gt) {
  int64_t off = 16;
  int nb = opt_buffers(gt->train);
  for (int i = 0; i < gt->ntensors; i++) {
    Tensor *t = gt->tensors[i];
    if (t->kind == TK_PARAM && t->trainable && t->grad && t->grad->offset >= 0)
      off += nb * ((shape_numel(&t->shape) + 15) / 16 * 16);
  }
  return off;
}

/* float PREFIX_train_step(params, opt_state, x..., target, batch, arena) */
static void emit_train_step(CGen *cg, Graph *gt, const char *U) {
  Emitter *E = cg->E;
  Graph *saved = cg->g;
  cg->g = gt;
  char params[4096] = "";
  size_t kp = 0;
  for (int i = 0; i < gt->ninputs; i++)
    kp += (size_t)snprintf(params + kp, sizeof params - kp, "const float *%s, ",
                           to_c_identifier(gt->inputs[i]->name));
  emitf(E, "float %s_train_step_v(float *params, float *opt_state, const float *const *in_, const void *target,",
        cg->P);
  emitf(E, "    int batch, void *arena) {");
  emitf(E, "unsigned char *A = (unsigned char *)arena;");
  emitf(E, "float *W = params;");
  emitf(E, "const void *tgt = target;");
  emitf(E, "const uint64_t seed = %lluull;", (unsigned long long)gt->seed);
  emitf(E, "int64_t step;");
  emitf(E, "float loss = 0.0f;");
  emitf(E, "if (batch < 1 || batch > %s_BATCH_MAX || !A || ((uintptr_t)A & 63) || !W || !opt_state || !tgt)", U);
  emitf(E, "  return NAN;");
  for (int i = 0; i < gt->ninputs; i++)
    emitf(E, "const float *in%d = in_[%d];", i, i);
  emitf(E, "memcpy(&step, opt_state, sizeof step);");
  emitf(E, "step++;");
  emitf(E, "memcpy(opt_state, &step, sizeof step);");
  emitf(E, "(void)seed;");
  char *cleared = cnnc_alloc((size_t)gt->ntensors + 1);
  for (int i = 0; i < gt->nnodes; i++) {
    Node *n = gt->nodes[i];
    /* Clear every accumulator before its first writer. */
    Tensor *ws[64];
    int nw = 0;
    for (int k = 0; k < n->ngout && nw < 60; k++)
      if (n->gout[k])
        ws[nw++] = n->gout[k];
    if (n->dw)
      ws[nw++] = n->dw;
    if (n->db)
      ws[nw++] = n->db;
    for (int k = 0; k < nw; k++)
      if (!cleared[ws[k]->id]) {
        cleared[ws[k]->id] = 1;
        emitf(E, "memset(%s, 0, %lld);", ref(cg, ws[k]), (long long)tensor_bytes(ws[k]));
      }
    if (n->op == OP_LOSS) {
      emitf(E, "/* loss: %s */", gt->train->loss);
      emit_loss(cg, n);
      continue;
    }
    Node *f = n->op == OP_GRAD ? n->fwd : n;
    emitf(E, "/* %s%s: %s */", n->op == OP_GRAD ? "backward of " : "", f->name, op_info[f->op].name);
    emitf(E, "{");
    if (n->op == OP_GRAD) {
      if (!grad_table[f->op])
        die("no backward emitter for %s", op_info[f->op].name);
      grad_table[f->op](cg, n, f, ref(cg, f->out->grad));
    } else {
      emit_table[n->op](cg, n);
    }
    emitf(E, "}");
  }
  emit_optimizer(cg, gt);
  emitf(E, "return loss;");
  emitf(E, "}");
  emitf(E, "%s", "");
  char names[2048] = "";
  size_t kn = 0;
  for (int i = 0; i < gt->ninputs; i++)
    kn += (size_t)snprintf(names + kn, sizeof names - kn, "%s%s", i ? ", " : "", to_c_identifier(gt->inputs[i]->name));
  emitf(E, "float %s_train_step(float *params, float *opt_state, %sconst void *target, int batch, void *arena) {",
        cg->P, params);
  emitf(E, "const float *const in_[%d] = {%s};", gt->ninputs, names);
  emitf(E, "return %s_train_step_v(params, opt_state, in_, target, batch, arena);", cg->P);
  emitf(E, "}");
  cg->g = saved;
}

/* Assign every tensor with data an offset (in floats) in the weight blob,
 * 64-byte aligned, in tensor-id order (deterministic). */
static void layout_weights(CGen *cg) {
  Graph *g = cg->g;
  char *used = cnnc_alloc((size_t)g->ntensors + 1);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    Tensor *ps[6] = {n->weight, n->bias, n->mean, n->var, n->residual, n->algo_weight};
    for (int k = 0; k < 6; k++)
      if (ps[k])
        used[ps[k]->id] = 1;
    for (int k = 0; k < n->nin; k++)
      used[n->in[k]->id] = 1;
    if (n->pre) {
      used[n->pre->weight->id] = 1;
      if (n->pre->bias)
        used[n->pre->bias->id] = 1;
    }
  }
  /* A conv with transformed weights no longer reads the originals. */
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->algo_weight && !g->train)
      used[g->nodes[i]->weight->id] = 0;
  for (int i = 0; i < g->nnodes; i++) /* ...unless another node shares them */
    if (!g->nodes[i]->algo_weight && g->nodes[i]->weight)
      used[g->nodes[i]->weight->id] = 1;
  int64_t off = 0;
  /* A trainable model's blob is its params buffer: every parameter and
   * buffer, used or not, first; then the constants. */
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < g->ntensors; i++) {
      Tensor *t = g->tensors[i];
      if (pass == 0)
        t->woff = -1;
      bool is_param = t->kind == TK_PARAM || t->kind == TK_BUFFER;
      bool want = g->train ? (pass == 0 ? is_param : !is_param && used[i]) : pass == 1 && used[i];
      if (t->kind == TK_ACT || t->kind == TK_INPUT || t->kind == TK_GRAD || t->kind == TK_TARGET || !t->data ||
          !want)
        continue;
      t->woff = off;
      off += (shape_numel(&t->shape) + 15) / 16 * 16;
    }
  if (g->train) {
    for (int i = 0; i < g->ntensors; i++)
      if (g->tensors[i]->woff >= 0 && (g->tensors[i]->kind == TK_PARAM || g->tensors[i]->kind == TK_BUFFER))
        g->params_size = g->tensors[i]->woff + (shape_numel(&g->tensors[i]->shape) + 15) / 16 * 16;
  }
  cg->wsize = off;
}

/* The training twin was loaded separately: give its parameters the offsets
 * of the same-named tensors of the inference graph. */
static void layout_train_params(Graph *g, Graph *gt) {
  for (int i = 0; i < gt->ntensors; i++) {
    Tensor *t = gt->tensors[i];
    if (t->kind != TK_PARAM && t->kind != TK_BUFFER)
      continue;
    Tensor *s = ir_find_tensor(g, t->name);
    if (!s || s->woff < 0 || !shape_eq(&s->shape, &t->shape))
      die("training parameter '%s' has no inference twin", t->name);
    t->woff = s->woff;
  }
}

static unsigned char *build_blob(CGen *cg) {
  Graph *g = cg->g;
  unsigned char *blob = cnnc_alloc((size_t)cg->wsize * 4 + 1);
  for (int i = 0; i < g->ntensors; i++)
    if (g->tensors[i]->woff >= 0) {
      Tensor *t = g->tensors[i];
      for (int64_t k = 0; k < shape_numel(&t->shape); k++) {
        uint32_t u;
        memcpy(&u, &t->data[k], 4);
        unsigned char *p = blob + (t->woff + k) * 4;
        p[0] = (unsigned char)u;
        p[1] = (unsigned char)(u >> 8);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 24);
      }
    }
  return blob;
}

/* The blob as one string literal: printable bytes as themselves, the rest
 * as octal escapes, as short as the next character allows (an escape takes
 * up to three octal digits, so a short one must not be followed by one), in
 * lines of about CNNC_WEIGHT_LINE characters: gcc lexes a few long string
 * tokens much faster than many short ones, and its time grows with the text
 * (~2.7 characters per byte of weights).  For ResNet-18 (165 MB of text)
 * gcc 12 -O2 peaked at 858 MB with 4000-character lines (under C99's
 * minimum logical line of 4095, a limit the literal itself exceeds anyway
 * for any real model), 691 MB with 16000 and 686 MB with 65000, and
 * took as long (four alternated pairs of cnnc + gcc: 9.6-12.3 s with 4000,
 * 10.9-11.9 s with 16000: the host's noise); the object code is the same.
 * Encoded by table into a buffer: fprintf per byte was most of cnnc's time. */
#ifndef CNNC_WEIGHT_LINE
#define CNNC_WEIGHT_LINE 16000
#endif
static void emit_weight_bytes(CGen *cg, FILE *f) {
  enum { LINE = CNNC_WEIGHT_LINE };
  const int64_t nbytes = cg->wsize * 4;
  unsigned char *blob = build_blob(cg);
  /* code[c][s]: byte c written with s of its leading octal digits dropped
   * (s = 1 for c < 64, 2 for c < 8; only when no octal digit follows), n
   * characters; digit[c]: c is written as itself and is an octal digit.
   * Branch-free per byte: random weight bytes defeat branch prediction. */
  char buf[LINE + 16], code[256][3][4];
  unsigned char len[256][3], drop[256], digit[256];
  size_t k = 0;
  for (int c = 0; c < 256; c++) {
    const int plain = c >= 32 && c < 127 && c != '"' && c != '\\' && c != '?';
    const char full[4] = {'\\', (char)('0' + (c >> 6)), (char)('0' + ((c >> 3) & 7)), (char)('0' + (c & 7))};
    drop[c] = (unsigned char)(plain ? 0 : c < 8 ? 2 : c < 64 ? 1 : 0);
    digit[c] = (unsigned char)(plain && c >= '0' && c <= '7');
    for (int sk = 0; sk < 3; sk++) {
      memset(code[c][sk], 0, 4);
      if (plain) {
        code[c][sk][0] = (char)c, len[c][sk] = 1;
      } else {
        const int d = sk <= drop[c] ? sk : drop[c];
        code[c][sk][0] = '\\';
        memcpy(code[c][sk] + 1, full + 1 + d, (size_t)(3 - d));
        len[c][sk] = (unsigned char)(4 - d);
      }
    }
  }
  buf[k++] = '"';
  for (int64_t i = 0; i < nbytes; i++) {
    const unsigned char c = blob[i];
    /* the next character written: the next byte's first, or a quote */
    const int sk = (i + 1 < nbytes && digit[blob[i + 1]]) ? 0 : drop[c];
    memcpy(buf + k, code[c][sk], 4);
    k += len[c][sk];
    if (k >= LINE && i + 1 < nbytes) {
      memcpy(buf + k, "\"\n\"", 3);
      fwrite(buf, 1, k + 3, f);
      k = 0;
    }
  }
  buf[k++] = '"';
  fwrite(buf, 1, k, f);
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
  Graph *gt = g->train_graph;
  if (gt) {
    fprintf(f, "\n/* Training (generated backward pass).  params: %s_PARAMS_SIZE floats, every\n"
               " * parameter and buffer by state_dict name in the order of the model (see\n"
               " * %s_init_params); opt_state: %s_OPT_STATE_SIZE floats, zeroed before the first\n"
               " * step; arena: %s_TRAIN_ARENA_SIZE bytes, 64-byte aligned.  target: int32 class\n"
               " * indices [batch] for cross_entropy/nll, else float like the prediction. */\n",
            U, cg->P, U, U);
    fprintf(f, "#define %s_PARAMS_SIZE %lld\n#define %s_OPT_STATE_SIZE %lld\n#define %s_TRAIN_ARENA_SIZE %lldu\n", U,
            (long long)g->params_size, U, (long long)opt_state_size(gt), U, (long long)gt->arena_size);
    fprintf(f, "void %s_init_params(float *params);\n", cg->P);
    fprintf(f, "float %s_train_step(float *params, float *opt_state, ", cg->P);
    for (int i = 0; i < gt->ninputs; i++)
      fprintf(f, "const float *%s, ", to_c_identifier(gt->inputs[i]->name));
    fprintf(f, "const void *target, int batch,\n    void *arena);\n");
    fprintf(f, "float %s_train_step_v(float *params, float *opt_state, const float *const *inputs, const void *target,\n"
               "    int batch, void *arena);\n", cg->P);
    fprintf(f, "/* Inference on trained params: %s_infer_v(params, ...). */\n", cg->P);
  }
  fprintf(f, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

/* A name from the model file, made safe for C comments and string literals
 * (ONNX names may hold quotes, backslashes, '*' '/' '?' or control bytes). */
static const char *safe_text(const char *s) {
  char *out = cnnc_strdup(s);
  for (char *p = out; *p; p++) {
    unsigned char c = (unsigned char)*p;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-' || c == ':' || c == '[' || c == ']';
    if (!ok)
      *p = '_';
  }
  return out;
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
  fprintf(f, "#ifndef RT_POOL_RV_USE\n#define RT_POOL_RV_USE 0x%xu /* the max pool forms called */\n#endif\n",
          pool_forms(g));
  emit_raw(E, cnnc_rt_source);
  fprintf(f, "/* ---- model ---- */\n\n");
  fprintf(f, "#if defined(__GNUC__)\n#define CNNC_ALIGN64 __attribute__((aligned(64)))\n#else\n#define CNNC_ALIGN64\n#endif\n");
  /* Profiling hook: define CNNC_LAYER_HOOK(index, name) when compiling the
   * model to observe the end of every layer (bench/harness.c times them). */
  fprintf(f, "#ifndef CNNC_LAYER_HOOK\n#define CNNC_LAYER_HOOK(index, name) ((void)0)\n#endif\n");
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
    const char *safe = safe_text(n->name);
    emitf(E, "/* %s: %s %s -> %s */", safe, op_info[n->op].name, shape_str(&n->in[0]->shape),
          shape_str(&n->out->shape));
    if (!emit_table[n->op])
      die("no C emitter for op %s", op_info[n->op].name);
    emitf(E, "{");
    emit_table[n->op](cg, n);
    emitf(E, "}");
    emitf(E, "CNNC_LAYER_HOOK(%d, \"%s\");", i, safe);
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
  if (g->train_graph) {
    emitf(E, "%s", "");
    emitf(E, "void %s_init_params(float *params) {", cg->P);
    if (cg->blob)
      emitf(E, "(void)params; /* with --weights-out the blob file is the initial params */");
    else
      emitf(E, "memcpy(params, %s_weights.f, sizeof(float) * %s_PARAMS_SIZE);", cg->P, U);
    emitf(E, "}");
    emitf(E, "%s", "");
    emit_train_step(cg, g->train_graph, U);
  }
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
  if (g->train_graph) {
    layout_train_params(g, g->train_graph);
    g->train_graph->opt_state_size = opt_state_size(g->train_graph);
  }
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
