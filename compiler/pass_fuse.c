/* pass_fuse.c - epilogue fusion, zero-copy views, in-place elementwise ops.
 *
 * Input: a verified graph after folding.
 * Output, in this order:
 *  1. residual fusion: add(a, b) where a comes from a conv2d/conv1d/linear
 *     used only by the add becomes that layer's `residual = b`;
 *  2. activation fusion: relu/leaky_relu/clip/sigmoid/tanh/hardswish of a
 *     conv/linear/add result used only by the activation becomes the
 *     producer's epilogue (`act`);
 *  3. views: flatten/reshape/dropout results alias their input's bytes;
 *     with batch 1, concat inputs computed only for the concat are written by
 *     their producers straight into their slice of the concat result;
 *  4. in place: an elementwise op or batchnorm whose input dies there writes
 *     over its input.
 * Every rewrite keeps the node list a valid schedule; fused nodes are
 * removed and the survivor records what it absorbed for `cnnc info`.
 */
#include "ir.h"

#include <string.h>

static bool single_use(const Tensor *t) { return t->nuses == 1 && !t->is_output && t->kind == TK_ACT; }

static void note(Node *n, const char *what) {
  n->fused_into_note =
      n->fused_into_note ? cnnc_fmt("%s; %s", n->fused_into_note, what) : cnnc_strdup(what);
}

static bool is_dense(OpKind op) { return op == OP_CONV2D || op == OP_CONV1D || op == OP_LINEAR; }

/* Position of a node in the schedule (ids are kept equal to positions). */
static bool defined_before(Graph *g, Tensor *t, Node *n) {
  (void)g;
  return !t->producer || t->producer->id < n->id;
}

static void fuse_residual(Graph *g) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *add = g->nodes[i];
    if (add->dead || add->op != OP_ADD || add->nin != 2 || add->act != ACT_NONE)
      continue;
    for (int k = 0; k < 2; k++) {
      Tensor *a = add->in[k], *b = add->in[1 - k];
      Node *c = a->producer;
      if (!c || c->dead || !is_dense(c->op) || c->residual || c->act != ACT_NONE || !single_use(a))
        continue;
      if (!shape_eq(&a->shape, &b->shape) || !shape_eq(&a->shape, &add->out->shape) || !defined_before(g, b, c))
        continue;
      c->residual = b;
      note(c, cnnc_fmt("add '%s' fused", add->name));
      ir_replace_uses(g, add->out, c->out);
      add->dead = true;
      ir_compute_uses(g);
      break;
    }
  }
  ir_remove_dead(g);
}

static ActKind act_of(const Node *n) {
  switch (n->op) {
  case OP_RELU: return ACT_RELU;
  case OP_LEAKY_RELU: return ACT_LEAKY;
  case OP_CLIP: return ACT_CLIP;
  case OP_SIGMOID: return ACT_SIGMOID;
  case OP_TANH: return ACT_TANH;
  case OP_HARDSWISH: return ACT_HARDSWISH;
  default: return ACT_NONE;
  }
}

static void fuse_activations(Graph *g) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *a = g->nodes[i];
    ActKind k = act_of(a);
    if (a->dead || k == ACT_NONE)
      continue;
    Node *p = a->in[0]->producer;
    if (!p || p->dead || p->act != ACT_NONE || !single_use(a->in[0]))
      continue;
    if (!is_dense(p->op) && p->op != OP_CONV_TRANSPOSE2D && p->op != OP_ADD)
      continue;
    if (p->op == OP_CONV_TRANSPOSE2D)
      continue; /* its kernel scatters; no epilogue */
    p->act = k;
    p->act_alpha = a->alpha;
    p->act_beta = a->beta;
    note(p, cnnc_fmt("%s '%s' fused", op_info[a->op].name, a->name));
    ir_replace_uses(g, a->out, p->out);
    a->dead = true;
    ir_compute_uses(g);
  }
  ir_remove_dead(g);
}

/* The tensor whose bytes t finally lives in, and t's byte offset in it. */
Tensor *view_root(Tensor *t, int64_t *off) {
  int64_t o = 0;
  while (t->view_of) {
    o += t->view_offset;
    t = t->view_of;
  }
  if (off)
    *off = o;
  return t;
}

static void make_views(Graph *g) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if ((n->op == OP_FLATTEN || n->op == OP_RESHAPE || (n->op == OP_DROPOUT && !n->training)) &&
        !n->out->is_output) {
      n->out->view_of = n->in[0];
      n->out->view_offset = 0;
      note(n, "zero-copy view");
    }
  }
  /* Concat elision needs each input slice to be contiguous: batch 1. */
  if (g->batch != 1)
    return;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->op != OP_CONCAT)
      continue;
    int64_t off = 0, elided = 0;
    for (int j = 0; j < n->nin; j++) {
      Tensor *x = n->in[j];
      int64_t bytes = tensor_bytes(x);
      bool dup = false;
      for (int k = 0; k < n->nin; k++)
        dup |= k != j && n->in[k] == x;
      if (x->producer && single_use(x) && !x->view_of && !dup && x->producer->op != OP_FLATTEN &&
          x->producer->op != OP_RESHAPE && x->producer->op != OP_DROPOUT) {
        x->view_of = n->out;
        x->view_offset = off;
        elided++;
      }
      off += bytes;
    }
    if (elided)
      note(n, cnnc_fmt("%lld of %d inputs written in place", (long long)elided, n->nin));
  }
}

static void make_inplace(Graph *g) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    bool elementwise = (op_info[n->op].flags & OPF_ELEMWISE) && n->op != OP_DROPOUT;
    if (!(elementwise || n->op == OP_BATCHNORM1D || n->op == OP_BATCHNORM2D) || n->training)
      continue; /* training: the backward reads the forward input */
    Tensor *x = n->in[0], *y = n->out;
    if (y->is_output || y->view_of || !single_use(x) || !x->producer)
      continue;
    /* The root must be an arena tensor (not the caller's input/output). */
    Tensor *root = view_root(x, NULL);
    if (root->kind != TK_ACT || root->is_output)
      continue;
    y->view_of = x;
    y->view_offset = 0;
    note(n, "in place");
  }
}

void pass_fuse(Graph *g, const Options *opt) {
  /* A training graph keeps every forward result its backward reads. */
  if (opt->opt_level >= 1 && !g->loss) {
    fuse_residual(g);
    fuse_activations(g);
  }
  make_views(g);
  if (opt->opt_level >= 1)
    make_inplace(g);
}
