/* info.c - `cnnc info`: what the compiler did, per layer and in total.
 *
 * Per layer: name, op, output shape, parameters, FLOPs (multiply-adds x 2,
 * padding taps excluded), receptive field and stride (jump) with respect to
 * the first input, chosen algorithm and why, what was fused into it.
 * Totals, and the arena against its lower bound and the naive plan.
 * The JSON form carries the same data for tools (SPEC section 2).
 */
#include "ir.h"

#include <string.h>

typedef struct Rf {
  double rf[2], jump[2];
} Rf;

static void json_str(FILE *out, const char *s) {
  fputc('"', out);
  for (; s && *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\')
      fprintf(out, "\\%c", ch);
    else if (ch < 32)
      fprintf(out, "\\u%04x", ch);
    else
      fputc(ch, out);
  }
  fputc('"', out);
}

/* Receptive field of every activation, propagated in schedule order. */
static Rf *receptive_fields(Graph *g) {
  Rf *rf = cnnc_alloc(sizeof(Rf) * (size_t)(g->ntensors + 1));
  double inH = 1, inW = 1;
  if (g->ninputs) {
    const Shape *s = &g->inputs[0]->shape;
    inH = s->rank >= 4 ? (double)s->d[2] : 1;
    inW = s->rank >= 3 ? (double)s->d[s->rank - 1] : 1;
  }
  for (int i = 0; i < g->ntensors; i++)
    rf[i] = (Rf){{1, 1}, {1, 1}};
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    Rf r = rf[n->in[0]->id];
    for (int j = 1; j < n->nin; j++)
      for (int a = 0; a < 2; a++) {
        Rf o = rf[n->in[j]->id];
        if (o.rf[a] > r.rf[a])
          r.rf[a] = o.rf[a];
        if (o.jump[a] > r.jump[a])
          r.jump[a] = o.jump[a];
      }
    unsigned f = op_info[n->op].flags;
    if (f & (OPF_CONV | OPF_POOL)) {
      for (int a = 0; a < 2; a++) {
        r.rf[a] += (double)(n->kernel[a] - 1) * n->dilation[a] * r.jump[a];
        if (n->op == OP_CONV_TRANSPOSE2D)
          r.jump[a] /= n->stride[a];
        else
          r.jump[a] *= n->stride[a];
      }
    } else if (n->op == OP_LINEAR || n->op == OP_GLOBAL_AVGPOOL || n->op == OP_ADAPTIVE_AVGPOOL2D ||
               n->op == OP_LAYERNORM || n->op == OP_INSTANCENORM2D || n->op == OP_GROUPNORM || n->op == OP_MEAN) {
      r.rf[0] = inH;
      r.rf[1] = inW;
    }
    for (int a = 0; a < 2; a++)
      if (r.rf[a] > (a ? inW : inH) && !(f & OPF_CONV))
        r.rf[a] = r.rf[a]; /* keep: the field may exceed the input through padding */
    rf[n->out->id] = r;
  }
  return rf;
}

bool info_print(Graph *g, const Options *opt, bool json, FILE *out) {
  (void)opt;
  Rf *rf = receptive_fields(g);
  int64_t tparams = 0, tflops = 0;
  for (int i = 0; i < g->nnodes; i++) {
    if (!g->nodes[i]->out)
      continue;
    tparams += node_params(g->nodes[i]);
    tflops += node_flops(g->nodes[i]);
  }
  if (json) {
    fprintf(out, "{\"name\": ");
    json_str(out, g->name);
    fprintf(out, ", \"batch\": %d, \"params\": %lld, \"flops\": %lld, \"arena_bytes\": %lld, "
                 "\"arena_lower_bound_bytes\": %lld, \"arena_naive_bytes\": %lld, \"layers\": [",
            g->batch, (long long)tparams, (long long)tflops, (long long)g->arena_size,
            (long long)g->arena_lower_bound, (long long)g->arena_naive);
    for (int i = 0; i < g->nnodes; i++) {
      Node *n = g->nodes[i];
      Rf r = rf[n->out->id];
      fprintf(out, "%s\n  {\"name\": ", i ? "," : "");
      json_str(out, n->name);
      fprintf(out, ", \"op\": \"%s\", \"shape\": [", op_info[n->op].name);
      for (int k = 0; k < n->out->shape.rank; k++)
        fprintf(out, "%s%lld", k ? ", " : "", (long long)n->out->shape.d[k]);
      fprintf(out, "], \"params\": %lld, \"flops\": %lld, \"receptive_field\": [%g, %g], \"jump\": [%g, %g], "
                   "\"algorithm\": ",
              (long long)node_params(n), (long long)node_flops(n), r.rf[0], r.rf[1], r.jump[0], r.jump[1]);
      json_str(out, (op_info[n->op].flags & OPF_CONV) ? algo_name(n->algo) : "-");
      fprintf(out, ", \"why\": ");
      json_str(out, n->algo_why ? n->algo_why : "");
      fprintf(out, ", \"fused\": ");
      json_str(out, n->fused_into_note ? n->fused_into_note : (n->act ? act_name(n->act) : ""));
      fprintf(out, ", \"arena_offset\": %lld}", (long long)(n->out->offset));
    }
    fprintf(out, "\n]");
    if (g->train_graph)
      fprintf(out, ", \"train_arena_bytes\": %lld, \"train_arena_lower_bound_bytes\": %lld",
              (long long)g->train_graph->arena_size, (long long)g->train_graph->arena_lower_bound);
    fprintf(out, "}\n");
    return true;
  }
  fprintf(out, "%s: %d layers, batch %d\n\n", g->name, g->nnodes, g->batch);
  fprintf(out, "%-28s %-18s %-20s %10s %12s %11s %6s  %-9s %s\n", "layer", "op", "output", "params", "FLOPs", "RF",
          "jump", "algo", "why / fused");
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    Rf r = rf[n->out->id];
    char rfs[32], js[16];
    snprintf(rfs, sizeof rfs, "%gx%g", r.rf[0], r.rf[1]);
    snprintf(js, sizeof js, "%g", r.jump[1]);
    const char *why = n->algo_why ? n->algo_why : "";
    const char *fused = n->fused_into_note ? n->fused_into_note : "";
    fprintf(out, "%-28s %-18s %-20s %10lld %12lld %11s %6s  %-9s %s%s%s\n", n->name, op_info[n->op].name,
            shape_str(&n->out->shape), (long long)node_params(n), (long long)node_flops(n), rfs, js,
            (op_info[n->op].flags & OPF_CONV) ? algo_name(n->algo) : "-", why, *why && *fused ? "; " : "", fused);
  }
  fprintf(out, "\ntotal: %lld params (%.2f MB), %.4g GFLOPs per batch of %d\n", (long long)tparams,
          tparams * 4 / 1e6, tflops / 1e9, g->batch);
  fprintf(out, "arena: %lld bytes, lower bound %lld (ratio %.3f), naive one-buffer-per-tensor %lld\n",
          (long long)g->arena_size, (long long)g->arena_lower_bound,
          g->arena_lower_bound ? (double)g->arena_size / (double)g->arena_lower_bound : 1.0,
          (long long)g->arena_naive);
  if (g->train_graph) {
    Graph *gt = g->train_graph;
    fprintf(out, "training: arena %lld bytes (activations, tapes, gradients), lower bound %lld (ratio %.3f)\n",
            (long long)gt->arena_size, (long long)gt->arena_lower_bound,
            gt->arena_lower_bound ? (double)gt->arena_size / (double)gt->arena_lower_bound : 1.0);
  }
  return true;
}
