/* verify.c - graph invariants, checked after every pass.
 *
 * A violation is a compiler bug, not a user error: it dies naming the pass
 * that broke the graph.  Invariants: every node's inputs are graph inputs,
 * constants/parameters or outputs of an earlier node (the node list is a
 * schedule); each activation has exactly one producer; shapes are set and
 * positive; parameters have data once weights were loaded; views alias a
 * tensor of at least their size.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

void ir_verify(Graph *g, const char *after) {
  char *defined = cnnc_alloc((size_t)g->ntensors + 1);
  for (int i = 0; i < g->ninputs; i++)
    defined[g->inputs[i]->id] = 1;
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (t->id != i)
      die("after %s: tensor '%s' has id %d at index %d", after, t->name, t->id, i);
    if (t->kind == TK_PARAM || t->kind == TK_BUFFER || t->kind == TK_CONST || t->kind == TK_GRAD ||
        t->kind == TK_TARGET)
      defined[i] = 1;
  }
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    if (n->op < 0 || n->op >= OP__COUNT)
      die("after %s: node %d has bad op %d", after, i, n->op);
    for (int j = 0; j < n->nin; j++) {
      Tensor *t = n->in[j];
      if (!t || t->id >= g->ntensors || g->tensors[t->id] != t)
        die("after %s: node '%s' input %d is not a graph tensor", after, n->name, j);
      if (!defined[t->id])
        die("after %s: node '%s' reads '%s' before it is defined", after, n->name, t->name);
    }
    if (n->residual && !defined[n->residual->id])
      die("after %s: node '%s' residual '%s' undefined", after, n->name, n->residual->name);
    if (op_info[n->op].flags & OPF_INTERNAL) {
      /* training nodes write gradient accumulators, never activations */
      if (n->out)
        die("after %s: internal node '%s' has an output activation", after, n->name);
      for (int k = 0; k < n->ngout; k++)
        if (n->gout[k] && n->gout[k]->kind != TK_GRAD)
          die("after %s: node '%s' gradient %d is not an accumulator", after, n->name, k);
      continue;
    }
    for (int k = 0; k < 2; k++)
      if (n->aux[k])
        defined[n->aux[k]->id] = 1;
    if (!n->out || n->out->producer != n)
      die("after %s: node '%s' output does not point back at it", after, n->name);
    if (defined[n->out->id])
      die("after %s: tensor '%s' is defined twice", after, n->out->name);
    defined[n->out->id] = 1;
    const Shape *s = &n->out->shape;
    if (s->rank <= 0 || s->rank > MAX_RANK)
      die("after %s: node '%s' has no output shape", after, n->name);
    for (int k = 0; k < s->rank; k++)
      if (s->d[k] <= 0)
        die("after %s: node '%s' output dim %d is %lld", after, n->name, k, (long long)s->d[k]);
    if (s->d[0] != g->batch)
      die("after %s: node '%s' batch dim %lld != %d", after, n->name, (long long)s->d[0], g->batch);
    Tensor *params[4] = {n->weight, n->bias, n->mean, n->var};
    for (int k = 0; k < 4; k++)
      if (params[k] && (params[k]->kind == TK_ACT || params[k]->kind == TK_INPUT))
        die("after %s: node '%s' parameter '%s' is not a parameter", after, n->name, params[k]->name);
  }
  for (int i = 0; i < g->noutputs; i++)
    if (!defined[g->outputs[i]->id])
      die("after %s: output '%s' is never computed", after, g->outputs[i]->name);
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (t->view_of && (t->view_offset < 0 || t->view_offset + tensor_bytes(t) > tensor_bytes(t->view_of)))
      die("after %s: view '%s' exceeds '%s'", after, t->name, t->view_of->name);
  }
  free(defined);
}
