/* unit_ir.c - IR construction, shape inference, verifier and passes.
 *
 * Builds small graphs directly through the IR API (no frontend) and checks
 * inferred shapes against PyTorch's formulas, the parameter tensors created,
 * the user errors for bad attributes, FLOP counts, and that folding, fusion
 * and memory planning keep the invariants the backends rely on.
 */
#include "ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                                \
    }                                                                            \
  } while (0)

static void check_shape(const Tensor *t, int rank, const int64_t *d, int line) {
  bool ok = t->shape.rank == rank;
  for (int i = 0; ok && i < rank; i++)
    ok = t->shape.d[i] == d[i];
  if (!ok) {
    Shape want = shape_make(rank, d);
    fprintf(stderr, "%s:%d: shape of '%s' is %s, expected %s\n", __FILE__, line, t->name, shape_str(&t->shape),
            shape_str(&want));
    failures++;
  }
}
#define SHAPE(t, ...)                                                            \
  do {                                                                           \
    const int64_t d_[] = {__VA_ARGS__};                                          \
    check_shape((t), (int)(sizeof d_ / sizeof d_[0]), d_, __LINE__);             \
  } while (0)

static Graph *graph_with_input(int64_t c, int64_t h, int64_t w) {
  Graph *g = ir_new_graph("t");
  g->batch = 2;
  Tensor *x = ir_new_tensor(g, "x", TK_INPUT, w ? shape_of(4, (int64_t)2, c, h, w) : shape_of(3, (int64_t)2, c, h));
  static int cap_in;
  cap_in = 0;
  VEC_PUSH(g->inputs, g->ninputs, cap_in, x);
  return g;
}

static Node *add(Graph *g, OpKind op, const char *name, Tensor *in) {
  return ir_new_node(g, op, name, loc_at("unit.yaml", 1, 1), &in, 1);
}

static void test_conv_shapes(void) {
  Graph *g = graph_with_input(3, 13, 11);
  Node *c = add(g, OP_CONV2D, "c", g->inputs[0]);
  c->out_ch = 8;
  c->kernel[0] = 3, c->kernel[1] = 5;
  c->stride[0] = 2, c->stride[1] = 1;
  c->pad[0] = c->pad[2] = 1;
  c->pad[1] = 2, c->pad[3] = 0; /* asymmetric */
  c->dilation[1] = 2;
  CHECK(shape_infer_node(g, c));
  /* H: (13 + 2 - 2 - 1)/2 + 1 = 7; W: (11 + 2 - 8 - 1)/1 + 1 = 5 */
  SHAPE(c->out, 2, 8, 7, 5);
  SHAPE(c->weight, 8, 3, 3, 5);
  SHAPE(c->bias, 8);
  CHECK(!strcmp(c->weight->name, "c.weight"));

  /* padding same with an even kernel: extra pad at the end (PyTorch) */
  Node *s = add(g, OP_CONV2D, "s", c->out);
  s->out_ch = 4, s->kernel[0] = s->kernel[1] = 4, s->pad_same = true, s->groups = 4, s->has_bias = false;
  CHECK(shape_infer_node(g, s));
  SHAPE(s->out, 2, 4, 7, 5);
  CHECK(s->pad[0] == 1 && s->pad[2] == 2);
  SHAPE(s->weight, 4, 2, 4, 4);
  CHECK(s->bias == NULL);

  /* transposed conv with output_padding, groups */
  Node *t = add(g, OP_CONV_TRANSPOSE2D, "t", s->out);
  t->out_ch = 6, t->kernel[0] = t->kernel[1] = 3, t->stride[0] = t->stride[1] = 2, t->groups = 2;
  t->pad[0] = t->pad[1] = t->pad[2] = t->pad[3] = 1, t->out_pad[0] = t->out_pad[1] = 1;
  CHECK(shape_infer_node(g, t));
  /* (7-1)*2 - 2 + 2 + 1 + 1 = 14; (5-1)*2 - 2 + 2 + 1 + 1 = 10 */
  SHAPE(t->out, 2, 6, 14, 10);
  SHAPE(t->weight, 4, 3, 3, 3);
  ir_verify(g, "unit");
}

static void test_conv1d_and_pools(void) {
  Graph *g = graph_with_input(4, 20, 0);
  Node *c = add(g, OP_CONV1D, "c", g->inputs[0]);
  c->out_ch = 5, c->kernel[1] = 3, c->dilation[1] = 2, c->pad[1] = 4; /* causal */
  CHECK(shape_infer_node(g, c));
  SHAPE(c->out, 2, 5, 20);
  SHAPE(c->weight, 5, 4, 3);
  Node *p = add(g, OP_MAXPOOL1D, "p", c->out);
  p->kernel[1] = 3, p->stride[1] = 2, p->ceil_mode = true;
  CHECK(shape_infer_node(g, p));
  /* ceil((20-3)/2)+1 = 10, last window starts at 18 < 20: kept */
  SHAPE(p->out, 2, 5, 10);

  Graph *g2 = graph_with_input(2, 5, 5);
  Node *q = add(g2, OP_AVGPOOL2D, "q", g2->inputs[0]);
  q->kernel[0] = q->kernel[1] = 2, q->stride[0] = q->stride[1] = 2, q->ceil_mode = true;
  q->pad[0] = q->pad[1] = q->pad[2] = q->pad[3] = 1;
  CHECK(shape_infer_node(g2, q));
  /* ceil((5+2-2)/2)+1 = 4; the 4th window starts at 6 >= 5+1: dropped -> 3 */
  SHAPE(q->out, 2, 2, 3, 3);
  CHECK(node_flops(q) == 2 * 2 * 3 * 3 * 4);
}

static void test_errors(void) {
  Graph *g = graph_with_input(6, 8, 8);
  int before = diag_count();
  Node *c = add(g, OP_CONV2D, "bad_groups", g->inputs[0]);
  c->out_ch = 8, c->groups = 4; /* 6 % 4 != 0 */
  CHECK(!shape_infer_node(g, c));
  Node *k = add(g, OP_CONV2D, "too_big", g->inputs[0]);
  k->out_ch = 8, k->kernel[0] = k->kernel[1] = 9;
  CHECK(!shape_infer_node(g, k));
  Node *l = add(g, OP_LINEAR, "needs_flatten", g->inputs[0]);
  l->out_ch = 3;
  CHECK(!shape_infer_node(g, l));
  Node *z = add(g, OP_CONV2D, "zero_stride", g->inputs[0]);
  z->out_ch = 2, z->stride[0] = 0;
  CHECK(!shape_infer_node(g, z));
  Node *r = add(g, OP_RESHAPE, "bad_reshape", g->inputs[0]);
  r->target = shape_of(2, (int64_t)7, (int64_t)-1);
  CHECK(!shape_infer_node(g, r));
  Node *o = add(g, OP_CONV2D, "overflow", g->inputs[0]);
  o->out_ch = (int64_t)1 << 40;
  CHECK(!shape_infer_node(g, o));
  CHECK(diag_count() == before + 6);
  diag_reset();
}

static void test_misc_shapes(void) {
  Graph *g = graph_with_input(6, 7, 5);
  Node *a = add(g, OP_ADAPTIVE_AVGPOOL2D, "a", g->inputs[0]);
  a->out_size[0] = 3, a->out_size[1] = 2;
  CHECK(shape_infer_node(g, a));
  SHAPE(a->out, 2, 6, 3, 2);
  Node *m = add(g, OP_MAXOUT, "m", a->out);
  m->pieces = 3;
  CHECK(shape_infer_node(g, m));
  SHAPE(m->out, 2, 2, 3, 2);
  Node *f = add(g, OP_FLATTEN, "f", m->out);
  CHECK(shape_infer_node(g, f));
  SHAPE(f->out, 2, 12);
  Node *r = add(g, OP_RESHAPE, "r", f->out);
  r->target = shape_of(2, (int64_t)3, (int64_t)-1);
  CHECK(shape_infer_node(g, r));
  SHAPE(r->out, 2, 3, 4);
  Node *ln = add(g, OP_LAYERNORM, "ln", g->inputs[0]);
  CHECK(shape_infer_node(g, ln));
  SHAPE(ln->weight, 6, 7, 5);
  Node *bn = add(g, OP_BATCHNORM2D, "bn", g->inputs[0]);
  CHECK(shape_infer_node(g, bn));
  CHECK(bn->mean && bn->var && bn->mean->kind == TK_BUFFER && !strcmp(bn->var->name, "bn.running_var"));
  Tensor *ins[2] = {g->inputs[0], bn->out};
  Node *cat = ir_new_node(g, OP_CONCAT, "cat", loc_at("unit.yaml", 1, 1), ins, 2);
  CHECK(shape_infer_node(g, cat));
  SHAPE(cat->out, 2, 12, 7, 5);
  Node *u = add(g, OP_UPSAMPLE, "u", cat->out);
  u->scale[0] = u->scale[1] = 2;
  CHECK(shape_infer_node(g, u));
  SHAPE(u->out, 2, 12, 14, 10);
  ir_verify(g, "unit");
}

/* Weights for a conv+bn+relu+add graph, run through fold + fuse + mem. */
static void test_passes(void) {
  Graph *g = graph_with_input(4, 6, 6);
  Node *c = add(g, OP_CONV2D, "c", g->inputs[0]);
  c->out_ch = 4, c->kernel[0] = c->kernel[1] = 3, c->pad[0] = c->pad[1] = c->pad[2] = c->pad[3] = 1;
  CHECK(shape_infer_node(g, c));
  Node *bn = add(g, OP_BATCHNORM2D, "bn", c->out);
  CHECK(shape_infer_node(g, bn));
  Tensor *ins[2] = {bn->out, g->inputs[0]};
  Node *sum = ir_new_node(g, OP_ADD, "sum", loc_at("unit.yaml", 1, 1), ins, 2);
  CHECK(shape_infer_node(g, sum));
  Node *r = add(g, OP_RELU, "r", sum->out);
  CHECK(shape_infer_node(g, r));
  Node *fl = add(g, OP_FLATTEN, "fl", r->out);
  CHECK(shape_infer_node(g, fl));
  Node *lin = add(g, OP_LINEAR, "lin", fl->out);
  lin->out_ch = 3;
  CHECK(shape_infer_node(g, lin));
  lin->out->is_output = true;
  {
    int cap_out = 0;
    VEC_PUSH(g->outputs, g->noutputs, cap_out, lin->out);
  }
  weights_init(g, 7, NULL);
  for (int64_t k = 0; k < 4; k++) {
    bn->var->data[k] = 0.5f + (float)k;
    bn->mean->data[k] = 0.1f * (float)k;
  }
  Options opt = {.opt_level = 2, .batch = 2};
  float w0 = c->weight->data[0];
  pass_fold(g, &opt);
  ir_verify(g, "fold");
  CHECK(ir_find_node(g, "bn") == NULL);
  CHECK(c->weight->kind == TK_CONST);
  /* s = 1/sqrt(0.5 + 1e-5) for channel 0 */
  CHECK(fabs(c->weight->data[0] - w0 / sqrt(0.5 + 1e-5)) < 1e-6);
  pass_fuse(g, &opt);
  ir_verify(g, "fuse");
  CHECK(c->residual == g->inputs[0]);
  CHECK(c->act == ACT_RELU);
  CHECK(g->nnodes == 3); /* conv, flatten, linear */
  CHECK(g->nodes[1]->out->view_of == c->out);
  pass_mem(g, &opt);
  ir_verify(g, "mem");
  CHECK(g->arena_size >= g->arena_lower_bound);
  CHECK(g->arena_lower_bound == 2 * 4 * 6 * 6 * 4);
}

/* Memory planner on a chain: only two buffers live at once. */
static void test_mem_chain(void) {
  Graph *g = graph_with_input(8, 16, 16);
  Tensor *x = g->inputs[0];
  for (int i = 0; i < 6; i++) {
    Node *n = add(g, OP_SIGMOID, cnnc_fmt("s%d", i), x);
    CHECK(shape_infer_node(g, n));
    x = n->out;
  }
  x->is_output = true;
  {
    int cap_out = 0;
    VEC_PUSH(g->outputs, g->noutputs, cap_out, x);
  }
  Options opt = {.opt_level = 0, .batch = 2};
  pass_mem(g, &opt);
  int64_t one = 2 * 8 * 16 * 16 * 4;
  CHECK(g->arena_lower_bound == 2 * one);
  CHECK(g->arena_size == 2 * one);
  /* neighbours never share bytes */
  for (int i = 0; i + 1 < g->nnodes - 1; i++)
    CHECK(g->nodes[i]->out->offset != g->nodes[i + 1]->out->offset);
}

int main(void) {
  test_conv_shapes();
  test_conv1d_and_pools();
  test_errors();
  test_misc_shapes();
  test_passes();
  test_mem_chain();
  if (failures) {
    fprintf(stderr, "unit_ir: %d failure(s)\n", failures);
    return 1;
  }
  printf("unit_ir: all checks passed\n");
  return 0;
}
