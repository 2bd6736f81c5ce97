/* pass_fold.c - batch-norm folding and dead-node elimination.
 *
 * Input: a verified inference graph with weights loaded.
 * Output: every batchnorm (eval) whose input is produced by a conv/linear
 * used by nothing else is folded into that layer's weights and bias,
 * computed in float64 with the batchnorm's own eps:
 *     s[k] = gamma[k] / sqrt(var[k] + eps)
 *     W'[k,...] = W[k,...] * s[k]          b'[k] = (b[k] - mean[k]) * s[k] + beta[k]
 * The folded parameters are new constant tensors; the originals are left
 * untouched (they may be shared, and `--weights-out`/training still name them).
 * A batchnorm that cannot fold into its producer (one after a ReLU: TDNNs,
 * pre-activation ResNets) folds forward into the one conv/linear that reads
 * it, when that layer pads nothing (a padded tap would read BN(0) unfolded,
 * 0 folded), scaling the layer's input channels instead:
 *     W'[k,c,...] = W[k,c,...] * s[c]     b'[k] = b[k] + sum_{c,...} W[k,c,...] * t[c]
 * with t[c] = beta[c] - mean[c] * s[c].
 * Each batchnorm that is not folded records why (shown by `cnnc info`).
 * Nodes whose results nobody uses are removed.
 * Never folds in training mode: there BN uses batch statistics.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Output channel of flat weight index i for a conv/linear/convT weight. */
static int64_t out_channel_of(const Node *c, int64_t i) {
  const Shape *w = &c->weight->shape;
  int64_t per_row = shape_numel(w) / w->d[0];
  if (c->op != OP_CONV_TRANSPOSE2D)
    return i / per_row;
  /* convT weight (Cin, Cout/g, kh, kw): output channel = group*Cout/g + j */
  int64_t cin = w->d[0], coutg = w->d[1], area = per_row / coutg;
  int64_t ci = i / per_row, j = (i % per_row) / area;
  int64_t group = ci / (cin / c->groups);
  return group * coutg + j;
}

static const char *fold_refusal(Graph *g, Node *bn, Node *c) {
  if (g->train)
    return "not folded: training mode uses batch statistics";
  if (!c)
    return "not folded: input is not computed by a layer";
  if (c->op != OP_CONV1D && c->op != OP_CONV2D && c->op != OP_CONV_TRANSPOSE2D && c->op != OP_LINEAR)
    return cnnc_fmt("not folded: input comes from %s '%s', not conv/linear", op_info[c->op].name, c->name);
  if (c->act != ACT_NONE || c->residual)
    return "not folded: the conv already has a fused epilogue";
  if (c->out->nuses != 1 || c->out->is_output)
    return cnnc_fmt("not folded: '%s' has other users", c->name);
  if (!c->weight->data || !bn->mean->data || !bn->var->data)
    return "not folded: parameters unknown at compile time";
  (void)bn;
  return NULL;
}

static void fold_bn(Graph *g, Node *bn, Node *c) {
  int64_t K = c->out->shape.d[1];
  double *s = cnnc_alloc(sizeof(double) * (size_t)K);
  for (int64_t k = 0; k < K; k++) {
    double gamma = bn->weight ? bn->weight->data[k] : 1.0;
    s[k] = gamma / sqrt((double)bn->var->data[k] + bn->eps);
  }
  Tensor *w = ir_new_param(g, cnnc_fmt("%s.weight+%s", c->name, bn->name), TK_CONST, c->weight->shape, c->loc);
  int64_t nw = shape_numel(&w->shape);
  w->data = cnnc_alloc(sizeof(float) * (size_t)nw);
  for (int64_t i = 0; i < nw; i++)
    w->data[i] = (float)((double)c->weight->data[i] * s[out_channel_of(c, i)]);
  Tensor *b = ir_new_param(g, cnnc_fmt("%s.bias+%s", c->name, bn->name), TK_CONST, shape_of(1, K), c->loc);
  b->data = cnnc_alloc(sizeof(float) * (size_t)K);
  for (int64_t k = 0; k < K; k++) {
    double bias = c->bias ? c->bias->data[k] : 0.0, beta = bn->bias ? bn->bias->data[k] : 0.0;
    b->data[k] = (float)((bias - bn->mean->data[k]) * s[k] + beta);
  }
  c->weight = w;
  c->bias = b;
  c->has_bias = true;
  c->fused_into_note = cnnc_fmt("%s%sbn '%s' folded", c->fused_into_note ? c->fused_into_note : "",
                                c->fused_into_note ? "; " : "", bn->name);
  ir_replace_uses(g, bn->out, c->out);
  bn->dead = true;
}

/* The layer bn can fold forward into (see the top), or NULL. */
static Node *fold_forward_target(Graph *g, Node *bn) {
  Node *c = NULL;
  if (g->train || bn->out->nuses != 1 || bn->out->is_output || !bn->mean->data || !bn->var->data)
    return NULL;
  for (int i = 0; i < g->nnodes && !c; i++)
    for (int j = 0; j < g->nodes[i]->nin; j++)
      if (!g->nodes[i]->dead && g->nodes[i]->in[j] == bn->out)
        c = g->nodes[i];
  if (!c || c->in[0] != bn->out || c->nin != 1 || c->residual == bn->out || !c->weight || !c->weight->data)
    return NULL;
  if (c->op == OP_CONV1D || c->op == OP_CONV2D) {
    for (int i = 0; i < 4; i++)
      if (c->pad[i] != 0)
        return NULL;
    return c;
  }
  /* linear: features are the batchnorm's channels only on [N, C] */
  return c->op == OP_LINEAR && bn->out->shape.rank == 2 ? c : NULL;
}

static void fold_bn_forward(Graph *g, Node *bn, Node *c) {
  const int64_t C = bn->out->shape.d[1], K = c->weight->shape.d[0], nw = shape_numel(&c->weight->shape);
  const int64_t per_k = nw / K, groups = c->op == OP_LINEAR ? 1 : c->groups;
  const int64_t cg = C / groups, area = per_k / cg, kg = K / groups;
  double *s = cnnc_alloc(sizeof(double) * (size_t)C), *t = cnnc_alloc(sizeof(double) * (size_t)C);
  for (int64_t ch = 0; ch < C; ch++) {
    const double gamma = bn->weight ? bn->weight->data[ch] : 1.0, beta = bn->bias ? bn->bias->data[ch] : 0.0;
    s[ch] = gamma / sqrt((double)bn->var->data[ch] + bn->eps);
    t[ch] = beta - (double)bn->mean->data[ch] * s[ch];
  }
  Tensor *w = ir_new_param(g, cnnc_fmt("%s.weight+%s", c->name, bn->name), TK_CONST, c->weight->shape, c->loc);
  Tensor *b = ir_new_param(g, cnnc_fmt("%s.bias+%s", c->name, bn->name), TK_CONST, shape_of(1, K), c->loc);
  w->data = cnnc_alloc(sizeof(float) * (size_t)nw);
  b->data = cnnc_alloc(sizeof(float) * (size_t)K);
  for (int64_t k = 0; k < K; k++) {
    double acc = c->bias ? c->bias->data[k] : 0.0;
    for (int64_t i = 0; i < per_k; i++) {
      const int64_t ch = k / kg * cg + i / area; /* input channel of tap i */
      const double v = c->weight->data[k * per_k + i];
      w->data[k * per_k + i] = (float)(v * s[ch]);
      acc += v * t[ch];
    }
    b->data[k] = (float)acc;
  }
  free(s);
  free(t);
  c->weight = w;
  c->bias = b;
  c->has_bias = true;
  c->fused_into_note = cnnc_fmt("%s%sbn '%s' before it folded", c->fused_into_note ? c->fused_into_note : "",
                                c->fused_into_note ? "; " : "", bn->name);
  ir_replace_uses(g, bn->out, bn->in[0]);
  bn->dead = true;
}

/* Remove nodes whose output is unused, iterating backwards so chains die. */
void pass_dce(Graph *g) {
  ir_compute_uses(g);
  for (int i = g->nnodes - 1; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (n->dead || !n->out || n->out->is_output || n->out->nuses > 0)
      continue;
    n->dead = true;
    for (int j = 0; j < n->nin; j++)
      n->in[j]->nuses--;
    if (n->residual)
      n->residual->nuses--;
  }
  ir_remove_dead(g);
}

void pass_fold(Graph *g, const Options *opt) {
  ir_compute_uses(g);
  for (int i = 0; i < g->nnodes; i++) {
    Node *bn = g->nodes[i];
    if (bn->dead || (bn->op != OP_BATCHNORM1D && bn->op != OP_BATCHNORM2D))
      continue;
    Node *c = bn->in[0]->producer;
    const char *why = opt->no_fold ? "not folded: --no-fold" : fold_refusal(g, bn, c);
    Node *d = why && !opt->no_fold ? fold_forward_target(g, bn) : NULL;
    if (d) {
      fold_bn_forward(g, bn, d);
      ir_compute_uses(g);
      continue;
    }
    if (why) {
      bn->fused_into_note = why;
      continue;
    }
    fold_bn(g, bn, c);
    ir_compute_uses(g);
  }
  ir_remove_dead(g);
  g->folded_bn = true;
  pass_dce(g);
}
