/* pass_grad.c - reverse-mode autodiff: the loss node and the backward graph.
 *
 * Input: a verified forward graph with a `train:` section (not BN-folded:
 * pass_fold refuses in training mode), one output (the prediction).
 * Output: the same node list extended by
 *   - the forward nodes switched to training mode (batch-statistics norms
 *     with their saved mean/invstd tapes, active dropout);
 *   - one OP_LOSS node reading (prediction, target) that writes
 *     d(loss)/d(prediction);
 *   - one OP_GRAD node per forward node that needs a backward, in reverse
 *     schedule order.  A GRAD node reads (dy, the forward's inputs, output and
 *     tapes) and accumulates into gout[i] = d/d(in[i]) for the inputs that
 *     need a gradient, and into dw/db for trainable parameters.
 * Gradients are TK_GRAD accumulators, created only where something upstream
 * is trainable: frozen parameters get no gradient, and a frozen prefix of the
 * network gets no backward nodes and keeps no tapes.  The rule for each op
 * lives with the op: grad_rule[] says which ops have a backward kernel; the
 * C backend's grad emit table holds the vector-Jacobian product of each.
 */
#include "cnnc_rt.h"
#include "ir.h"

#include <string.h>

/* Scratch the GEMM-based conv backward needs for this forward conv. */
static int64_t conv_bwd_scratch(const Node *f) {
  const Shape *xs = &f->in[0]->shape, *ys = &f->out->shape;
  RtConv p = {0};
  p.C = (int)xs->d[1];
  p.H = xs->rank == 4 ? (int)xs->d[2] : 1;
  p.W = (int)xs->d[xs->rank - 1];
  p.K = (int)ys->d[1];
  p.OH = ys->rank == 4 ? (int)ys->d[2] : 1;
  p.OW = (int)ys->d[ys->rank - 1];
  p.kh = f->kernel[0], p.kw = f->kernel[1], p.sh = f->stride[0], p.sw = f->stride[1];
  p.dh = f->dilation[0], p.dw = f->dilation[1], p.pt = f->pad[0], p.pl = f->pad[1], p.groups = f->groups;
  return (int64_t)rt_conv2d_bwd_scratch(&p, (int)xs->d[0]);
}

/* Which forward ops have a vector-Jacobian rule (in backends/c.c). */
static bool has_grad_rule(OpKind op) {
  switch (op) {
  case OP_LOSS: case OP_GRAD: case OP_SLICE:
    return false;
  default:
    return op < OP__COUNT;
  }
}

bool train_is_frozen(const Graph *g, const char *layer) {
  if (!g->train)
    return false;
  for (int i = 0; i < g->train->nfreeze; i++) {
    const char *f = g->train->freeze[i];
    size_t n = strlen(f);
    if (!strcmp(layer, f) || (!strncmp(layer, f, n) && layer[n] == '.'))
      return true;
  }
  return false;
}

static Tensor *grad_of(Graph *g, Tensor *t) {
  if (!t->grad) {
    t->grad = ir_new_tensor(g, cnnc_fmt("grad(%s)", t->name), TK_GRAD, t->shape);
    t->grad->loc = t->loc;
  }
  return t->grad;
}

/* A node without an output activation (internal training nodes). */
static Node *new_internal(Graph *g, OpKind op, const char *name, SrcLoc loc, Tensor **in, int nin) {
  Node *n = cnnc_alloc(sizeof *n);
  n->id = g->nnodes;
  n->op = op;
  n->name = name;
  n->loc = loc;
  n->nin = nin;
  n->in = cnnc_alloc(sizeof(Tensor *) * (size_t)(nin + 1));
  memcpy(n->in, in, sizeof(Tensor *) * (size_t)nin);
  VEC_PUSH(g->nodes, g->nnodes, g->cap_nodes, n);
  return n;
}

static void add_tapes(Graph *g, Node *n) {
  int64_t N = n->in[0]->shape.d[0], C = n->in[0]->shape.rank >= 2 ? n->in[0]->shape.d[1] : 1;
  Shape s;
  switch (n->op) {
  case OP_BATCHNORM1D: case OP_BATCHNORM2D: s = shape_of(1, C); break;
  case OP_LAYERNORM: s = shape_of(1, N); break;
  case OP_GROUPNORM: s = shape_of(2, N, (int64_t)n->num_groups); break;
  case OP_INSTANCENORM2D: s = shape_of(2, N, C); break;
  default: return;
  }
  for (int k = 0; k < 2; k++) {
    n->aux[k] = ir_new_tensor(g, cnnc_fmt("%s.%s", n->name, k ? "save_invstd" : "save_mean"), TK_ACT, s);
    n->aux[k]->producer = n;
  }
}

void pass_grad(Graph *g, const Options *opt) {
  (void)opt;
  TrainSpec *tr = g->train;
  if (!tr)
    return;
  if (g->noutputs != 1) {
    diag_error(tr->loc, "training needs exactly one model output (the prediction), the model has %d", g->noutputs);
    return;
  }
  Tensor *pred = g->outputs[0];
  bool classes = !strcmp(tr->loss, "cross_entropy") || !strcmp(tr->loss, "nll");
  if (classes && pred->shape.rank != 2) {
    diag_error(tr->loc, "loss '%s' needs a prediction of shape (N, classes); '%s' is %s (add a flatten/linear)",
               tr->loss, pred->name, shape_str(&pred->shape));
    return;
  }
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->op == OP_MUL && g->nodes[i]->nin > 2) {
      diag_error(g->nodes[i]->loc, "layer '%s': training through mul of more than two inputs is not supported",
                 g->nodes[i]->name);
      return;
    }
  for (int i = 0; i < g->nnodes; i++)
    if (!has_grad_rule(g->nodes[i]->op)) {
      diag_error(g->nodes[i]->loc, "layer '%s': training through %s is not supported", g->nodes[i]->name,
                 op_info[g->nodes[i]->op].name);
      return;
    }

  /* Trainable parameters and which activations need a gradient. */
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    bool frozen = train_is_frozen(g, n->name);
    Tensor *ps[2] = {n->weight, n->bias};
    for (int k = 0; k < 2; k++)
      if (ps[k] && ps[k]->kind == TK_PARAM && !frozen)
        ps[k]->trainable = true;
  }
  int nf = g->nnodes;
  char *needs = cnnc_alloc((size_t)g->ntensors + 64); /* activation needs a gradient */
  for (int i = 0; i < nf; i++) {
    Node *n = g->nodes[i];
    bool need = (n->weight && n->weight->trainable) || (n->bias && n->bias->trainable);
    for (int j = 0; j < n->nin; j++)
      need |= needs[n->in[j]->id];
    needs[n->out->id] = need;
    n->training = true;
    add_tapes(g, n);
  }
  if (!needs[pred->id]) {
    diag_error(tr->loc, "nothing to train: every parameter is frozen");
    return;
  }

  /* The prediction lives in the arena: train_step has no output pointer. */
  pred->is_output = false;

  /* The loss. */
  g->target = ir_new_tensor(g, "target", TK_TARGET, classes ? shape_of(1, pred->shape.d[0]) : pred->shape);
  g->target->dtype = classes ? DT_I32 : DT_F32;
  Tensor *lin[2] = {pred, g->target};
  Node *loss = new_internal(g, OP_LOSS, "loss", tr->loc, lin, 2);
  loss->gout = cnnc_alloc(sizeof(Tensor *));
  loss->ngout = 1;
  loss->gout[0] = grad_of(g, pred);
  g->loss = loss;

  /* Backward, in reverse schedule order.  A node is differentiated when its
   * output received a gradient and something upstream needs one. */
  for (int i = nf - 1; i >= 0; i--) {
    Node *f = g->nodes[i];
    if (!f->out->grad || !needs[f->out->id])
      continue;
    Tensor *rd[16 + 4];
    int nr = 0;
    rd[nr++] = f->out->grad;
    for (int j = 0; j < f->nin && nr < 16; j++)
      rd[nr++] = f->in[j];
    rd[nr++] = f->out;
    for (int k = 0; k < 2; k++)
      if (f->aux[k])
        rd[nr++] = f->aux[k];
    Node *gn = new_internal(g, OP_GRAD, cnnc_fmt("grad(%s)", f->name), f->loc, rd, nr);
    gn->fwd = f;
    gn->ngout = f->nin;
    gn->gout = cnnc_alloc(sizeof(Tensor *) * (size_t)(f->nin + 1));
    for (int j = 0; j < f->nin; j++) {
      Tensor *x = f->in[j];
      if (x->kind == TK_ACT && needs[x->id])
        gn->gout[j] = grad_of(g, x);
    }
    if (f->weight && f->weight->trainable)
      gn->dw = grad_of(g, f->weight);
    if (f->bias && f->bias->trainable)
      gn->db = grad_of(g, f->bias);
    if (f->op == OP_CONV2D || f->op == OP_CONV1D)
      gn->scratch_bytes = conv_bwd_scratch(f);
  }
}
