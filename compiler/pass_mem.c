/* pass_mem.c - liveness analysis and arena planning.
 *
 * Input: a scheduled graph (Graph.nodes in execution order).
 * Output: every arena-resident activation and every node's scratch buffer has
 * a byte offset (64-byte aligned); Graph.arena_size is the arena's size and
 * Graph.arena_lower_bound the largest sum of simultaneously live buffers
 * (no plan can be smaller).  Graph outputs live in the caller's buffers and
 * graph inputs in the caller's memory; flatten/reshape/dropout results are
 * views (set by pass_fuse) live in the bytes of their root tensor, whose
 * lifetime covers every view's uses.
 *
 * Several placement strategies are tried and the smallest plan is kept:
 * greedy by size (largest first), by lifetime length, in definition order,
 * by size x lifetime, and by last use (latest first); each places a buffer
 * at the lowest offset that does not collide with an already placed buffer
 * whose lifetime overlaps.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct Buf {
  int64_t size;   /* bytes, rounded to 64 */
  int first, last; /* schedule steps, inclusive */
  int64_t offset;
  Tensor *t;      /* NULL for node scratch */
  Node *scratch_of;
} Buf;

static int64_t align64(int64_t v) { return (v + 63) / 64 * 64; }

static int by_size(const void *a, const void *b) {
  const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
  if (x->size != y->size)
    return x->size > y->size ? -1 : 1;
  if (x->first != y->first)
    return x->first - y->first;
  return x->last - y->last;
}

static int by_length(const void *a, const void *b) {
  const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
  int lx = x->last - x->first, ly = y->last - y->first;
  if (lx != ly)
    return ly - lx;
  return by_size(a, b);
}

static int by_first(const void *a, const void *b) {
  const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
  if (x->first != y->first)
    return x->first - y->first;
  return by_size(a, b);
}

static int by_area(const void *a, const void *b) {
  const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
  const int64_t ax = x->size * (x->last - x->first + 1), ay = y->size * (y->last - y->first + 1);
  if (ax != ay)
    return ax > ay ? -1 : 1;
  return by_size(a, b);
}

static int by_last(const void *a, const void *b) {
  const Buf *x = *(Buf *const *)a, *y = *(Buf *const *)b;
  if (x->last != y->last)
    return y->last - x->last;
  return by_size(a, b);
}

/* Place bufs in the given order; returns the arena size. */
static int64_t place(Buf **order, int n) {
  Buf **placed = cnnc_alloc(sizeof(Buf *) * (size_t)(n + 1));
  int np = 0;
  int64_t top = 0;
  for (int i = 0; i < n; i++) {
    Buf *b = order[i];
    /* Candidates: 0 and the end of every overlapping placed buffer; placed is
     * kept sorted by offset so the first gap that fits is found in one scan. */
    int64_t off = 0;
    for (int j = 0; j < np; j++) {
      Buf *p = placed[j];
      if (p->last < b->first || p->first > b->last)
        continue;
      if (p->offset >= off + b->size)
        break; /* the gap before p fits */
      if (p->offset + p->size > off)
        off = p->offset + p->size;
    }
    b->offset = off;
    if (off + b->size > top)
      top = off + b->size;
    /* insert sorted by offset */
    int k = np++;
    while (k > 0 && placed[k - 1]->offset > off) {
      placed[k] = placed[k - 1];
      k--;
    }
    placed[k] = b;
  }
  free(placed);
  return top;
}

void pass_mem(Graph *g, const Options *opt) {
  (void)opt;
  ir_compute_uses(g);
  int *first = cnnc_alloc(sizeof(int) * (size_t)g->ntensors), *last = cnnc_alloc(sizeof(int) * (size_t)g->ntensors);
  for (int i = 0; i < g->ntensors; i++)
    first[i] = last[i] = -1;
  /* Every tensor a node writes or reads extends its root's lifetime to that
   * step: outputs, tapes, gradient accumulators, inputs and residuals. */
#define TOUCH(t_, step_)                                                     \
  do {                                                                       \
    if (t_) {                                                                \
      Tensor *r_ = view_root((t_), NULL);                                    \
      if (first[r_->id] < 0 || first[r_->id] > (step_))                      \
        first[r_->id] = (step_);                                             \
      if (last[r_->id] < (step_))                                            \
        last[r_->id] = (step_);                                              \
    }                                                                        \
  } while (0)
  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    TOUCH(n->out, i);
    TOUCH(n->aux[0], i);
    TOUCH(n->aux[1], i);
    TOUCH(n->residual, i);
    TOUCH(n->dw, i);
    TOUCH(n->db, i);
    for (int j = 0; j < n->nin; j++)
      TOUCH(n->in[j], i);
    for (int j = 0; j < n->ngout; j++)
      TOUCH(n->gout[j], i);
  }
  /* Parameter gradients are read by the optimizer after the last node. */
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (t->kind == TK_PARAM && t->grad && first[t->grad->id] >= 0)
      last[t->grad->id] = g->nnodes;
  }
#undef TOUCH
  Buf *bufs = cnnc_alloc(sizeof(Buf) * (size_t)(g->ntensors + g->nnodes + 1));
  int nb = 0;
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    t->offset = -1;
    if ((t->kind != TK_ACT && t->kind != TK_GRAD) || t->is_output || t->view_of || first[i] < 0)
      continue;
    bufs[nb++] = (Buf){align64(tensor_bytes(t)), first[i], last[i], 0, t, NULL};
  }
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->scratch_bytes > 0)
      bufs[nb++] = (Buf){align64(g->nodes[i]->scratch_bytes), i, i, 0, NULL, g->nodes[i]};
  /* Lower bound: the largest sum of live buffer sizes at one step. */
  int64_t lb = 0, naive = 0;
  for (int s = 0; s <= g->nnodes; s++) {
    int64_t live = 0;
    for (int k = 0; k < nb; k++)
      if (bufs[k].first <= s && s <= bufs[k].last)
        live += bufs[k].size;
    if (live > lb)
      lb = live;
  }
  for (int k = 0; k < nb; k++)
    naive += bufs[k].size;
  Buf **order = cnnc_alloc(sizeof(Buf *) * (size_t)(nb + 1));
  int (*const cmps[])(const void *, const void *) = {by_size, by_length, by_first, by_area, by_last};
  int64_t best = -1;
  int64_t *best_off = cnnc_alloc(sizeof(int64_t) * (size_t)(nb + 1));
  for (size_t c = 0; c < sizeof cmps / sizeof cmps[0]; c++) {
    for (int k = 0; k < nb; k++)
      order[k] = &bufs[k];
    qsort(order, (size_t)nb, sizeof *order, cmps[c]);
    int64_t size = place(order, nb);
    if (best < 0 || size < best) {
      best = size;
      for (int k = 0; k < nb; k++)
        best_off[k] = bufs[k].offset;
    }
  }
  for (int k = 0; k < nb; k++) {
    bufs[k].offset = best_off[k];
    if (bufs[k].t)
      bufs[k].t->offset = best_off[k];
    else
      bufs[k].scratch_of->scratch_offset = best_off[k];
  }
  g->arena_size = best < 0 ? 0 : best;
  g->arena_lower_bound = lb;
  g->arena_naive = naive;
  free(first);
  free(last);
}
