/* unit_yaml.c - positive tests of the YAML frontend (compiler/yaml.c).
 *
 * tests/run_diag.sh covers what yaml_load() refuses; this file checks what
 * it builds from good input, in the IR straight out of the frontend (before
 * any pass rewrites it): block expansion and dotted names, per-op attribute
 * mapping (1-D index convention, pool stride defaults, padding forms,
 * $expressions), the TrainSpec with torch.optim defaults and the expanded
 * freeze list, outputs, and that a bad file yields NULL with diagnostics.
 * Models are written to a private temp directory that is removed at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include "../ir/ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures, checks;

/* The compiler never frees; a sanitizer build must not call that a leak. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "detect_leaks=0";
}

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    checks++;                                                                                                          \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                         \
      failures++;                                                                                                      \
    }                                                                                                                  \
  } while (0)

static char tmpdir[64];

static const char *write_model(const char *name, const char *text) {
  const char *path = cnnc_fmt("%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  return path;
}

static Node *node(Graph *g, const char *name) {
  Node *n = ir_find_node(g, name);
  if (!n)
    fprintf(stderr, "no node '%s'\n", name);
  return n;
}

static const char *blocks_model =
    "cnnc: 1\n"
    "name: blocks\n"
    "inputs: [{name: x, shape: [4, 8, 8]}]\n"
    "blocks:\n"
    "  basic:\n"
    "    params: {ch: 4, stride: 1}\n"
    "    layers:\n"
    "      - {name: conv1, op: conv2d, out_channels: $ch, kernel_size: 3, stride: $stride, padding: 1, bias: false}\n"
    "      - {name: bn1, op: batchnorm2d}\n"
    "      - {name: add, op: add, from: [bn1, in]}\n"
    "  pair:\n"
    "    params: {w: 4}\n"
    "    inputs: [u]\n"
    "    output: a\n"
    "    layers:\n"
    "      - {name: a, block: basic, ch: $w}\n"
    "      - {name: b, block: basic, ch: $w*3/3}\n"
    "layers:\n"
    "  - {name: layer1, block: basic, repeat: 2}\n"
    "  - {name: layer2.0, block: basic, ch: 4}\n"
    "  - {name: p, block: pair}\n"
    "  - {op: relu}\n"
    "  - {name: side, op: relu, from: p.b.add}\n"
    "outputs: [relu3, side]\n"
    "train:\n"
    "  loss: mse\n"
    "  optimizer: {type: adamw, lr: 0.001}\n"
    "  freeze: [layer1, p.a]\n";

static void test_blocks(void) {
  const char *path = write_model("blocks.yaml", blocks_model);
  Options opt = {0};
  opt.batch = 2;
  Graph *g = yaml_load(path, &opt);
  CHECK(g != NULL);
  if (!g)
    return;
  CHECK(!strcmp(g->name, "blocks"));
  CHECK(g->batch == 2);
  CHECK(g->ninputs == 1 && g->inputs[0]->shape.rank == 4 && g->inputs[0]->shape.d[0] == 2);

  /* repeat N: <use>.<i>.<layer>, instance i reads instance i-1 */
  Node *c0 = node(g, "layer1.0.conv1"), *c1 = node(g, "layer1.1.conv1"), *a0 = node(g, "layer1.0.add");
  CHECK(c0 && c1 && a0);
  if (c0 && c1 && a0) {
    CHECK(c0->in[0] == g->inputs[0]);
    CHECK(c1->in[0] == a0->out);
    CHECK(!c0->has_bias && c0->weight && !c0->bias);
    CHECK(c0->use_loc.line == 19); /* the `layer1` use */
    CHECK(a0->nin == 2 && a0->in[1] == g->inputs[0]);
  }
  /* no repeat: <use>.<layer>, dotted use names allowed */
  Node *l2 = node(g, "layer2.0.conv1");
  CHECK(l2 && l2->in[0] == node(g, "layer1.1.add")->out);
  /* nested blocks; `$w*3/3` evaluated in the enclosing block */
  Node *pa = node(g, "p.a.conv1"), *pb = node(g, "p.b.conv1");
  CHECK(pa && pb && pa->out_ch == 4 && pb->out_ch == 4);
  CHECK(pa && pa->loc.line == 8 && pa->use_loc.line == 21);
  /* the block's `output: a` is what the next layer reads */
  Node *r = node(g, "relu3");
  CHECK(r && r->in[0] == node(g, "p.a.add")->out);
  /* later layers may reach into an expansion by its dotted name */
  Node *side = node(g, "side");
  CHECK(side && side->in[0] == node(g, "p.b.add")->out);

  CHECK(g->noutputs == 2 && g->outputs[0] == r->out && g->outputs[1] == side->out);
  CHECK(r->out->is_output);

  TrainSpec *t = g->train;
  CHECK(t != NULL);
  if (t) {
    CHECK(!strcmp(t->loss, "mse") && !strcmp(t->optimizer, "adamw"));
    CHECK(t->lr == 0.001 && t->weight_decay == 0.01 && t->beta1 == 0.9 && t->beta2 == 0.999 && t->eps == 1e-8);
    /* prefixes expanded to the exact layer names, in graph order */
    CHECK(t->nfreeze == 9);
    if (t->nfreeze == 9) {
      CHECK(!strcmp(t->freeze[0], "layer1.0.conv1"));
      CHECK(!strcmp(t->freeze[5], "layer1.1.add"));
      CHECK(!strcmp(t->freeze[6], "p.a.conv1"));
      CHECK(!strcmp(t->freeze[8], "p.a.add"));
    }
  }
  /* parameters were initialised (no weights file) */
  CHECK(c0 && c0->weight && c0->weight->data);
}

static const char *attrs_model =
    "cnnc: 1\n"
    "inputs: [{name: x, shape: [4, 16, 16]}, {name: s, shape: [2, 32]}]\n"
    "layers:\n"
    "  - {op: conv2d, out_channels: 8, kernel_size: [3, 5], padding: [1, 2, 3, 4], dilation: 1}\n"
    "  - {op: maxpool2d, kernel_size: [2, 3]}\n"
    "  - {op: avgpool2d, kernel_size: 2, stride: 1, padding: [0, 1], count_include_pad: false}\n"
    "  - {op: conv2d, out_channels: 8, kernel_size: 3, padding: same}\n"
    "  - {name: t1, op: conv1d, out_channels: 3, kernel_size: 3, dilation: 2, padding: causal, from: s}\n"
    "  - {name: t2, op: maxpool1d, kernel_size: 2}\n"
    "  - {name: t3, op: avgpool1d, kernel_size: [3], stride: 2, padding: 1}\n"
    "  - {name: hs, op: hardsigmoid}\n"
    "  - {name: lr, op: leaky_relu, negative_slope: 0.2}\n"
    "  - {name: cl, op: clip, min: -1, max: 1.5e0}\n"
    "  - {name: sm, op: softmax, dim: -1}\n"
    "  - {name: m, op: mean, dims: [-1], keepdim: yes}\n"
    "  - {name: fl, op: flatten, from: x}\n"
    "  - {name: fc, op: linear, in_features: 1024, out_features: 0x10}\n"
    "  - {name: rs, op: reshape, shape: [4, -1]}\n"
    "  - {name: ln, op: layernorm, normalized_shape: [4, 4], affine: false}\n"
    "  - {name: pd, op: pad, pads: [1, 2, 3, 4], mode: replicate, from: x}\n"
    "  - {name: up, op: upsample, scale_factor: [2, 3]}\n"
    "  - {name: gn, op: groupnorm, num_groups: 2, num_channels: 4, eps: 1e-3}\n";

static void test_attrs(void) {
  const char *path = write_model("attrs.yaml", attrs_model);
  Options opt = {0};
  Graph *g = yaml_load(path, &opt);
  CHECK(g != NULL);
  if (!g)
    return;
  CHECK(!strcmp(g->name, "attrs")); /* the file's stem */
  Node *n;
  if ((n = node(g, "conv2d0"))) {
    CHECK(n->kernel[0] == 3 && n->kernel[1] == 5);
    CHECK(n->pad[0] == 1 && n->pad[1] == 2 && n->pad[2] == 3 && n->pad[3] == 4);
  }
  if ((n = node(g, "maxpool2d1")))
    CHECK(n->stride[0] == 2 && n->stride[1] == 3); /* stride defaults to kernel_size */
  if ((n = node(g, "avgpool2d2"))) {
    CHECK(n->stride[0] == 1 && n->stride[1] == 1 && !n->count_include_pad);
    CHECK(n->pad[0] == 0 && n->pad[1] == 1 && n->pad[2] == 0 && n->pad[3] == 1);
  }
  if ((n = node(g, "conv2d3")))
    CHECK(n->pad[0] == 1 && n->pad[1] == 1 && n->pad[2] == 1 && n->pad[3] == 1); /* same, resolved */
  if ((n = node(g, "t1"))) {
    CHECK(n->kernel[0] == 1 && n->kernel[1] == 3 && n->dilation[0] == 1 && n->dilation[1] == 2);
    CHECK(n->pad[0] == 0 && n->pad[1] == 4 && n->pad[2] == 0 && n->pad[3] == 0); /* causal */
    CHECK(n->out->shape.d[2] == 32);
  }
  if ((n = node(g, "t2")))
    CHECK(n->stride[0] == 1 && n->stride[1] == 2 && n->kernel[1] == 2);
  if ((n = node(g, "t3")))
    CHECK(n->kernel[1] == 3 && n->stride[1] == 2 && n->pad[1] == 1 && n->pad[3] == 1 && n->pad[0] == 0);
  if ((n = node(g, "hs")))
    CHECK(fabs(n->alpha - 1.0 / 6.0) < 1e-15 && n->beta == 0.5); /* torch.nn.Hardsigmoid */
  if ((n = node(g, "lr")))
    CHECK(n->alpha == 0.2);
  if ((n = node(g, "cl")))
    CHECK(n->alpha == -1 && n->beta == 1.5);
  if ((n = node(g, "m")))
    CHECK(n->axes_mask == 4 && n->keepdims); /* dim -1 of a rank-3 input */
  if ((n = node(g, "fc")))
    CHECK(n->out_ch == 16);
  if ((n = node(g, "rs")))
    CHECK(n->target.rank == 2 && n->target.d[0] == 4 && n->target.d[1] == -1);
  if ((n = node(g, "ln")))
    CHECK(!n->affine && !n->weight);
  if ((n = node(g, "pd")))
    CHECK(n->pad_mode == 2 && n->pad[3] == 4);
  if ((n = node(g, "up")))
    CHECK(n->scale[0] == 2 && n->scale[1] == 3);
  if ((n = node(g, "gn")))
    CHECK(n->num_groups == 2 && n->eps == 1e-3);
  /* default output: the last layer */
  CHECK(g->noutputs == 1 && g->outputs[0] == node(g, "gn")->out);
}

/* The same mistakes must give NULL and at least one error, never a crash. */
static void test_refused(void) {
  static const char *const bad[] = {
      "cnnc: 1\ninputs: [{name: x, shape: [4]}]\nlayers: [{op: relu, from: y}]\n",
      "cnnc: 1\ninputs: [{name: x, shape: [4]}]\nlayers: &a [*a]\n",
      "cnnc: 1\ninputs: [{name: x, shape: [4]}]\nlayers: [{op: linear, out_features: \"3\"}]\n",
      "cnnc: 1\ninputs: [{name: x, shape: [4]}]\nblocks: {b: {layers: [{block: b}]}}\nlayers: [{block: b}]\n",
      "cnnc: 1\ninputs: [{name: x, shape: [4]}]\n",
      "",
      "- just a list\n",
      "cnnc: 1\ninputs: [{name: x, shape: [4]}]\nlayers: [{op: relu}]\n---\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    diag_reset();
    const char *path = write_model(cnnc_fmt("bad%zu.yaml", i), bad[i]);
    Options opt = {0};
    Graph *g = yaml_load(path, &opt);
    CHECK(g == NULL);
    CHECK(diag_count() > 0);
  }
  diag_reset();
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/cnnc-unit-yaml.XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_blocks();
  test_attrs();
  test_refused();
  /* remove the temp directory and what we wrote into it */
  const char *names[] = {"blocks.yaml", "attrs.yaml"};
  for (size_t i = 0; i < 2; i++)
    unlink(cnnc_fmt("%s/%s", tmpdir, names[i]));
  for (int i = 0; i < 8; i++)
    unlink(cnnc_fmt("%s/bad%d.yaml", tmpdir, i));
  rmdir(tmpdir);
  printf("unit_yaml: %d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
