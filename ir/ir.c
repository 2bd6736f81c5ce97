/* ir.c - graph construction and queries.
 *
 * Tensors and nodes are numbered in creation order; their ids double as the
 * deterministic fresh names (t<id>) used by the backends, so output is
 * byte-identical from run to run.  Graph.nodes is always a valid schedule
 * (topological order): frontends append in dependency order and passes keep it.
 */
#include "ir.h"

#include <math.h>
#include <string.h>

const OpInfo op_info[OP__COUNT] = {
#define OP(id, spelling, nin, flags) [OP_##id] = {spelling, nin, flags},
#include "ops.def"
#undef OP
};

Graph *ir_new_graph(const char *name) {
  Graph *g = cnnc_alloc(sizeof *g);
  g->name = name ? cnnc_strdup(name) : "model";
  g->batch = 1;
  g->seed = 1;
  return g;
}

Tensor *ir_new_tensor(Graph *g, const char *name, TensorKind kind, Shape shape) {
  Tensor *t = cnnc_alloc(sizeof *t);
  t->id = g->ntensors;
  t->name = name ? cnnc_strdup(name) : cnnc_fmt("t%d", g->ntensors);
  t->kind = kind;
  t->dtype = DT_F32;
  t->shape = shape;
  t->offset = -1;
  t->woff = -1;
  VEC_PUSH(g->tensors, g->ntensors, g->cap_tensors, t);
  return t;
}

Tensor *ir_new_param(Graph *g, const char *name, TensorKind kind, Shape shape, SrcLoc loc) {
  Tensor *t = ir_new_tensor(g, name, kind, shape);
  t->loc = loc;
  return t;
}

Node *ir_new_node(Graph *g, OpKind op, const char *name, SrcLoc loc, Tensor **in, int nin) {
  Node *n = cnnc_alloc(sizeof *n);
  n->id = g->nnodes;
  n->op = op;
  n->name = cnnc_strdup(name);
  n->loc = loc;
  n->nin = nin;
  n->in = cnnc_alloc(sizeof(Tensor *) * (size_t)(nin > 0 ? nin : 1));
  for (int i = 0; i < nin; i++)
    n->in[i] = in[i];
  n->out = ir_new_tensor(g, n->name, TK_ACT, (Shape){0});
  n->out->producer = n;
  n->out->loc = loc;
  ir_set_defaults(n);
  VEC_PUSH(g->nodes, g->nnodes, g->cap_nodes, n);
  return n;
}

/* PyTorch's defaults for every attribute; frontends then apply what the
 * user wrote.  Pools get stride = kernel_size from the frontend, which knows
 * whether the user gave a stride. */
void ir_set_defaults(Node *n) {
  for (int i = 0; i < 2; i++) {
    n->kernel[i] = 1;
    n->stride[i] = 1;
    n->dilation[i] = 1;
    n->out_pad[i] = 0;
    n->out_size[i] = 1;
    n->scale[i] = 1;
  }
  memset(n->pad, 0, sizeof n->pad);
  n->groups = 1;
  n->has_bias = true;
  n->ceil_mode = false;
  n->count_include_pad = true;
  n->eps = 1e-5;
  n->momentum = 0.1;
  n->affine = true;
  n->spatial = 2;
  n->axis = 1;
  n->num_params = 1;
  n->num_groups = 1;
  n->pieces = 2;
  n->p = 0.5;
  n->alpha = 0.0;
  n->beta = 0.0;
  n->act = ACT_NONE;
  n->algo = ALGO_AUTO;
  switch (n->op) {
  case OP_CONV1D: case OP_MAXPOOL1D: case OP_AVGPOOL1D:
    n->spatial = 1;
    break;
  case OP_LEAKY_RELU: n->alpha = 0.01; break;
  case OP_ELU: n->alpha = 1.0; break;
  case OP_LPPOOL2D: n->alpha = 2.0; break;
  case OP_CLIP: n->alpha = -INFINITY; n->beta = INFINITY; break;
  case OP_HARDSIGMOID: n->alpha = 0.2; n->beta = 0.5; break; /* ONNX defaults */
  case OP_INSTANCENORM2D: n->affine = false; break;
  case OP_GELU: break;
  default: break;
  }
}

OpKind ir_op_lookup(const char *spelling) {
  for (int i = 0; i < OP__COUNT; i++)
    if (!(op_info[i].flags & OPF_INTERNAL) && !strcmp(op_info[i].name, spelling))
      return (OpKind)i;
  return OP__COUNT;
}

Node *ir_find_node(Graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i]->name, name))
      return g->nodes[i];
  return NULL;
}

Tensor *ir_find_tensor(Graph *g, const char *name) {
  for (int i = 0; i < g->ntensors; i++)
    if (!strcmp(g->tensors[i]->name, name))
      return g->tensors[i];
  return NULL;
}

void ir_compute_uses(Graph *g) {
  for (int i = 0; i < g->ntensors; i++)
    g->tensors[i]->nuses = 0;
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->dead)
      continue;
    for (int j = 0; j < n->nin; j++)
      n->in[j]->nuses++;
    if (n->residual)
      n->residual->nuses++;
  }
  for (int i = 0; i < g->noutputs; i++)
    g->outputs[i]->nuses++;
}

void ir_remove_dead(Graph *g) {
  int k = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i]->dead)
      g->nodes[k++] = g->nodes[i];
  g->nnodes = k;
  for (int i = 0; i < g->nnodes; i++)
    g->nodes[i]->id = i;
}

void ir_replace_uses(Graph *g, Tensor *from, Tensor *to) {
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == from)
        n->in[j] = to;
    if (n->residual == from)
      n->residual = to;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == from) {
      g->outputs[i] = to;
      to->is_output = true;
    }
}

int64_t shape_numel(const Shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    n *= s->d[i];
  return n;
}

int64_t tensor_bytes(const Tensor *t) {
  int64_t elem = (t->dtype == DT_I64 || t->dtype == DT_F64) ? 8 : 4;
  return shape_numel(&t->shape) * elem;
}

Shape shape_make(int rank, const int64_t *d) {
  Shape s = {0};
  if (rank > MAX_RANK)
    die("rank %d > MAX_RANK", rank);
  s.rank = rank;
  for (int i = 0; i < rank; i++)
    s.d[i] = d[i];
  return s;
}

Shape shape_of(int rank, ...) {
  Shape s = {0};
  if (rank > MAX_RANK)
    die("rank %d > MAX_RANK", rank);
  va_list ap;
  va_start(ap, rank);
  s.rank = rank;
  for (int i = 0; i < rank; i++)
    s.d[i] = va_arg(ap, int64_t);
  va_end(ap);
  return s;
}

bool shape_eq(const Shape *a, const Shape *b) {
  if (a->rank != b->rank)
    return false;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i])
      return false;
  return true;
}

char *shape_str(const Shape *s) {
  char buf[256];
  size_t k = 0;
  buf[k++] = '[';
  for (int i = 0; i < s->rank && k < sizeof buf - 32; i++)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%lld", i ? ", " : "", (long long)s->d[i]);
  buf[k++] = ']';
  buf[k] = '\0';
  return cnnc_strdup(buf);
}

int64_t node_params(const Node *n) {
  int64_t p = 0;
  if (n->weight)
    p += shape_numel(&n->weight->shape);
  if (n->bias)
    p += shape_numel(&n->bias->shape);
  return p + (n->pre ? node_params(n->pre) : 0);
}
