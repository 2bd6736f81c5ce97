/* print.c - the canonical text dump of the IR (`--emit=ir`, `-d<letter>`).
 *
 * One line per node, in schedule order, with only the attributes that matter
 * for its op, so golden dumps stay short and diffs point at real changes.
 * Output is deterministic: no addresses, fixed iteration order, %.17g doubles.
 */
#include "ir.h"

static const char *const act_names[] = {"none", "relu", "leaky_relu", "clip", "sigmoid", "tanh", "hardswish"};
const char *act_name(ActKind a) { return a >= 0 && a <= ACT_HARDSWISH ? act_names[a] : "?"; }

static const char *const algo_names[] = {"auto", "direct", "gemm1x1", "im2col", "winograd", "fft"};
const char *algo_name(int a) { return a >= 0 && a <= ALGO_FFT ? algo_names[a] : "?"; }

static const char *kind_name(TensorKind k) {
  switch (k) {
  case TK_ACT: return "act";
  case TK_INPUT: return "input";
  case TK_PARAM: return "param";
  case TK_BUFFER: return "buffer";
  case TK_CONST: return "const";
  case TK_GRAD: return "grad";
  case TK_TARGET: return "target";
  }
  return "?";
}

static void print_attrs(const Node *n, FILE *out) {
  unsigned f = op_info[n->op].flags;
  if (f & (OPF_CONV | OPF_POOL)) {
    fprintf(out, " kernel=[%d,%d] stride=[%d,%d] pad=[%d,%d,%d,%d] dilation=[%d,%d]", n->kernel[0], n->kernel[1],
            n->stride[0], n->stride[1], n->pad[0], n->pad[1], n->pad[2], n->pad[3], n->dilation[0],
            n->dilation[1]);
  }
  if (f & OPF_CONV) {
    fprintf(out, " out=%lld groups=%d", (long long)n->out_ch, n->groups);
    if (n->op == OP_CONV_TRANSPOSE2D)
      fprintf(out, " output_padding=[%d,%d]", n->out_pad[0], n->out_pad[1]);
  }
  if (f & OPF_POOL) {
    if (n->ceil_mode)
      fprintf(out, " ceil_mode");
    if ((n->op == OP_AVGPOOL1D || n->op == OP_AVGPOOL2D) && !n->count_include_pad)
      fprintf(out, " exclude_pad");
  }
  switch (n->op) {
  case OP_LINEAR: fprintf(out, " out=%lld", (long long)n->out_ch); break;
  case OP_LPPOOL2D: case OP_LEAKY_RELU: case OP_ELU: fprintf(out, " alpha=%.17g", n->alpha); break;
  case OP_CLIP: case OP_HARDSIGMOID: fprintf(out, " alpha=%.17g beta=%.17g", n->alpha, n->beta); break;
  case OP_BATCHNORM1D: case OP_BATCHNORM2D: case OP_LAYERNORM: case OP_INSTANCENORM2D:
    fprintf(out, " eps=%.17g", n->eps);
    break;
  case OP_GROUPNORM: fprintf(out, " groups=%d eps=%.17g", n->num_groups, n->eps); break;
  case OP_MAXOUT: fprintf(out, " pieces=%d", n->pieces); break;
  case OP_SOFTMAX: case OP_LOG_SOFTMAX: case OP_CONCAT: case OP_FLATTEN: fprintf(out, " dim=%d", n->axis); break;
  case OP_ADAPTIVE_AVGPOOL2D: fprintf(out, " output_size=[%d,%d]", n->out_size[0], n->out_size[1]); break;
  case OP_UPSAMPLE: fprintf(out, " scale=[%d,%d]", n->scale[0], n->scale[1]); break;
  case OP_DROPOUT: fprintf(out, " p=%.17g", n->p); break;
  case OP_PAD:
    fprintf(out, " pads=[%d,%d,%d,%d] mode=%d value=%.17g", n->pad[0], n->pad[1], n->pad[2], n->pad[3],
            n->pad_mode, n->pad_value);
    break;
  case OP_RESHAPE: case OP_TRANSPOSE: fprintf(out, " %s=%s", n->op == OP_RESHAPE ? "shape" : "perm",
                                              shape_str(&n->target)); break;
  case OP_SLICE: fprintf(out, " dim=%d start=%lld end=%lld", n->axis, (long long)n->slice_start,
                         (long long)n->slice_end); break;
  case OP_MEAN: fprintf(out, " axes=0x%llx keepdims=%d", (unsigned long long)n->axes_mask, n->keepdims); break;
  default: break;
  }
  Tensor *params[4] = {n->weight, n->bias, n->mean, n->var};
  const char *pn[4] = {"weight", "bias", "mean", "var"};
  for (int k = 0; k < 4; k++)
    if (params[k])
      fprintf(out, " %s=%s", pn[k], params[k]->name);
  if (n->residual)
    fprintf(out, " residual=%%%s", n->residual->name);
  if (n->act != ACT_NONE)
    fprintf(out, " act=%s", act_name(n->act));
  if (n->algo != ALGO_AUTO)
    fprintf(out, " algo=%s", algo_name(n->algo));
  if (n->algo != ALGO_AUTO && n->algo_tile)
    fprintf(out, " tile=%d", n->algo_tile);
}

void ir_print(Graph *g, FILE *out) {
  fprintf(out, "graph %s batch=%d\n", g->name, g->batch);
  for (int i = 0; i < g->ninputs; i++)
    fprintf(out, "input %%%s %s\n", g->inputs[i]->name, shape_str(&g->inputs[i]->shape));
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (t->kind == TK_PARAM || t->kind == TK_BUFFER || t->kind == TK_CONST || t->kind == TK_GRAD ||
        t->kind == TK_TARGET)
      fprintf(out, "%s %s %s%s\n", kind_name(t->kind), t->name, shape_str(&t->shape),
              t->offset >= 0 ? cnnc_fmt(" @%lld", (long long)t->offset) : "");
  }
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (!n->out) {
      /* training: gradient accumulators written by loss/grad nodes */
      fprintf(out, "%s(", op_info[n->op].name);
      for (int j = 0; j < n->nin; j++)
        fprintf(out, "%s%%%s", j ? ", " : "", n->in[j]->name);
      fprintf(out, ")");
      if (n->fwd)
        fprintf(out, " of=%s", n->fwd->name);
      for (int k = 0; k < n->ngout; k++)
        if (n->gout[k])
          fprintf(out, " +=%%%s", n->gout[k]->name);
      if (n->dw)
        fprintf(out, " +=%%%s", n->dw->name);
      if (n->db)
        fprintf(out, " +=%%%s", n->db->name);
      fputc('\n', out);
      continue;
    }
    fprintf(out, "%%%s = %s(", n->out->name, op_info[n->op].name);
    for (int j = 0; j < n->nin; j++)
      fprintf(out, "%s%%%s", j ? ", " : "", n->in[j]->name);
    fprintf(out, ")");
    print_attrs(n, out);
    fprintf(out, " -> %s", shape_str(&n->out->shape));
    if (n->out->view_of)
      fprintf(out, " view_of=%%%s+%lld", n->out->view_of->name, (long long)n->out->view_offset);
    if (n->out->offset >= 0)
      fprintf(out, " @%lld", (long long)n->out->offset);
    fputc('\n', out);
  }
  for (int i = 0; i < g->noutputs; i++)
    fprintf(out, "output %%%s\n", g->outputs[i]->name);
  if (g->arena_size)
    fprintf(out, "arena %lld lower_bound %lld\n", (long long)g->arena_size, (long long)g->arena_lower_bound);
}

/* Graphviz: one box per node labelled op/name/shape, edges from producers;
 * inputs and outputs as ellipses. */
void ir_print_dot(Graph *g, FILE *out) {
  fprintf(out, "digraph \"%s\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n", g->name);
  for (int i = 0; i < g->ninputs; i++)
    fprintf(out, "  \"t%d\" [shape=ellipse, label=\"%s\\n%s\"];\n", g->inputs[i]->id, g->inputs[i]->name,
            shape_str(&g->inputs[i]->shape));
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (!n->out)
      continue;
    fprintf(out, "  \"t%d\" [label=\"%s\\n%s%s%s\\n%s\"];\n", n->out->id, n->name, op_info[n->op].name,
            n->act ? "+" : "", n->act ? act_name(n->act) : "", shape_str(&n->out->shape));
    for (int j = 0; j < n->nin; j++)
      if (n->in[j]->kind == TK_ACT || n->in[j]->kind == TK_INPUT)
        fprintf(out, "  \"t%d\" -> \"t%d\";\n", n->in[j]->id, n->out->id);
    if (n->residual)
      fprintf(out, "  \"t%d\" -> \"t%d\" [style=dashed, label=\"+\"];\n", n->residual->id, n->out->id);
  }
  for (int i = 0; i < g->noutputs; i++)
    fprintf(out, "  \"out%d\" [shape=ellipse, label=\"output\"];\n  \"t%d\" -> \"out%d\";\n", i,
            g->outputs[i]->id, i);
  fprintf(out, "}\n");
}
