/* shape.c - per-op shape inference, parameter creation and FLOP counts.
 *
 * shape_infer_node() is the one place that knows each op's shape rule.  It
 * validates attributes against the input shapes (zero/negative sizes, groups
 * not dividing channels, windows larger than the padded input, overflowing
 * sizes), resolves `padding: same`, and creates the parameter tensors with
 * PyTorch's state_dict names and layouts ("<layer>.weight", ...).  When a
 * frontend already attached parameters (ONNX), their shapes are checked instead.
 * All problems are user errors at the node's location; nothing here asserts.
 */
#include "ir.h"

#include <string.h>

/* Kernels index with int; keep every tensor below 2^31 elements. */
#define MAX_ELEMS ((int64_t)INT32_MAX)

static bool check_shape(Node *n, const Shape *s) {
  int64_t numel = 1;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] <= 0) {
      diag_error(n->loc, "layer '%s': output dimension %d is %lld (must be positive); output shape %s", n->name,
                 i, (long long)s->d[i], shape_str(s));
      return false;
    }
    if (ckd_mul(&numel, numel, s->d[i]) || numel > MAX_ELEMS) {
      diag_error(n->loc, "layer '%s': output shape %s is too large", n->name, shape_str(s));
      return false;
    }
  }
  return true;
}

/* Attach (or check) a parameter tensor named "<layer>.<suffix>". */
static Tensor *param(Graph *g, Node *n, Tensor *have, const char *suffix, TensorKind kind, Shape s) {
  if (have) {
    if (!shape_eq(&have->shape, &s)) {
      /* ONNX often stores biases/slopes with extra unit dims; accept same numel. */
      if (shape_numel(&have->shape) == shape_numel(&s) && have->data) {
        have->shape = s;
        return have;
      }
      diag_error(n->loc, "layer '%s': parameter '%s' has shape %s, expected %s", n->name, have->name,
                 shape_str(&have->shape), shape_str(&s));
    }
    return have;
  }
  return ir_new_param(g, cnnc_fmt("%s.%s", n->name, suffix), kind, s, n->loc);
}

static bool need_rank(Node *n, const Tensor *x, int lo, int hi) {
  if (x->shape.rank < lo || x->shape.rank > hi) {
    const char *want = lo == hi ? cnnc_fmt("rank %d", lo) : cnnc_fmt("rank %d..%d", lo, hi);
    const char *hint = "";
    if (n->op == OP_LINEAR)
      hint = " (insert a flatten layer before it)";
    else if (lo == 4 && x->shape.rank == 3)
      hint = " (this op needs (N,C,H,W); use the 1-D variant for (N,C,L))";
    else if (lo == 3 && x->shape.rank == 4)
      hint = " (this op needs (N,C,L); use the 2-D variant for (N,C,H,W))";
    diag_error(n->loc, "layer '%s' (%s) expects an input of %s, got %s%s", n->name, op_info[n->op].name, want,
               shape_str(&x->shape), hint);
    return false;
  }
  return true;
}

static bool positive_attrs(Node *n) {
  for (int i = 0; i < 2; i++) {
    if (n->kernel[i] <= 0 || n->stride[i] <= 0 || n->dilation[i] <= 0) {
      diag_error(n->loc, "layer '%s': kernel_size, stride and dilation must be positive", n->name);
      return false;
    }
  }
  for (int i = 0; i < 4; i++)
    if (n->pad[i] < 0) {
      diag_error(n->loc, "layer '%s': padding must not be negative", n->name);
      return false;
    }
  return true;
}

/* Output size of a sliding window along one axis; <= 0 means it does not fit. */
static int64_t window_out(int64_t in, int pb, int pe, int k, int s, int d, bool ceil_mode) {
  int64_t span = in + pb + pe - (int64_t)d * (k - 1) - 1;
  if (span < 0)
    return 0;
  int64_t o = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
  /* PyTorch: the last window must start inside the input or the left padding. */
  if (ceil_mode && (o - 1) * s >= in + pb)
    o--;
  return o;
}

static void resolve_same(Node *n) {
  if (!n->pad_same)
    return;
  for (int i = 0; i < 2; i++) {
    int total = n->dilation[i] * (n->kernel[i] - 1);
    n->pad[i] = total / 2;
    n->pad[i + 2] = total - total / 2;
  }
}

static bool infer_conv(Graph *g, Node *n, Shape *o) {
  Tensor *x = n->in[0];
  int sp = n->op == OP_CONV1D ? 1 : 2;
  if (!need_rank(n, x, sp + 2, sp + 2) || !positive_attrs(n))
    return false;
  if (n->pad_same && (n->stride[0] != 1 || n->stride[1] != 1)) {
    diag_error(n->loc, "layer '%s': padding 'same' needs stride 1 (as in PyTorch)", n->name);
    return false;
  }
  resolve_same(n);
  int64_t N = x->shape.d[0], C = x->shape.d[1];
  int64_t H = sp == 2 ? x->shape.d[2] : 1, W = x->shape.d[sp + 1];
  if (n->groups <= 0 || n->out_ch <= 0) {
    diag_error(n->loc, "layer '%s': out_channels and groups must be positive", n->name);
    return false;
  }
  if (C % n->groups || n->out_ch % n->groups) {
    diag_error(n->loc, "layer '%s': groups=%d must divide in_channels=%lld and out_channels=%lld", n->name,
               n->groups, (long long)C, (long long)n->out_ch);
    return false;
  }
  int64_t OH, OW;
  if (n->op == OP_CONV_TRANSPOSE2D) {
    for (int i = 0; i < 2; i++)
      if (n->out_pad[i] < 0 || (n->out_pad[i] >= n->stride[i] && n->out_pad[i] >= n->dilation[i])) {
        diag_error(n->loc, "layer '%s': output_padding must be smaller than stride or dilation", n->name);
        return false;
      }
    OH = (H - 1) * n->stride[0] - n->pad[0] - n->pad[2] + (int64_t)n->dilation[0] * (n->kernel[0] - 1) +
         n->out_pad[0] + 1;
    OW = (W - 1) * n->stride[1] - n->pad[1] - n->pad[3] + (int64_t)n->dilation[1] * (n->kernel[1] - 1) +
         n->out_pad[1] + 1;
  } else {
    OH = window_out(H, n->pad[0], n->pad[2], n->kernel[0], n->stride[0], n->dilation[0], false);
    OW = window_out(W, n->pad[1], n->pad[3], n->kernel[1], n->stride[1], n->dilation[1], false);
  }
  if (OH <= 0 || OW <= 0) {
    diag_error(n->loc, "layer '%s': kernel %dx%d (dilation %dx%d) does not fit the padded input %s", n->name,
               n->kernel[0], n->kernel[1], n->dilation[0], n->dilation[1], shape_str(&x->shape));
    return false;
  }
  Shape w;
  if (n->op == OP_CONV_TRANSPOSE2D)
    w = shape_of(4, C, n->out_ch / n->groups, (int64_t)n->kernel[0], (int64_t)n->kernel[1]);
  else if (sp == 2)
    w = shape_of(4, n->out_ch, C / n->groups, (int64_t)n->kernel[0], (int64_t)n->kernel[1]);
  else
    w = shape_of(3, n->out_ch, C / n->groups, (int64_t)n->kernel[1]);
  n->weight = param(g, n, n->weight, "weight", TK_PARAM, w);
  if (n->has_bias)
    n->bias = param(g, n, n->bias, "bias", TK_PARAM, shape_of(1, n->out_ch));
  *o = sp == 2 ? shape_of(4, N, n->out_ch, OH, OW) : shape_of(3, N, n->out_ch, OW);
  return true;
}

static bool infer_pool(Node *n, Shape *o) {
  Tensor *x = n->in[0];
  int sp = (n->op == OP_MAXPOOL1D || n->op == OP_AVGPOOL1D) ? 1 : 2;
  if (!need_rank(n, x, sp + 2, sp + 2) || !positive_attrs(n))
    return false;
  resolve_same(n);
  for (int i = 0; i < 2; i++)
    if (n->pad[i] > n->kernel[i] / 2 || n->pad[i + 2] > n->kernel[i] / 2) {
      diag_error(n->loc, "layer '%s': padding must be at most half the kernel size (as in PyTorch)", n->name);
      return false;
    }
  if (n->op == OP_LPPOOL2D && !(n->alpha > 0)) {
    diag_error(n->loc, "layer '%s': norm_type must be positive", n->name);
    return false;
  }
  int64_t H = sp == 2 ? x->shape.d[2] : 1, W = x->shape.d[sp + 1];
  int64_t OH = window_out(H, n->pad[0], n->pad[2], n->kernel[0], n->stride[0], n->dilation[0], n->ceil_mode);
  int64_t OW = window_out(W, n->pad[1], n->pad[3], n->kernel[1], n->stride[1], n->dilation[1], n->ceil_mode);
  if (OH <= 0 || OW <= 0) {
    diag_error(n->loc, "layer '%s': pooling window does not fit the input %s", n->name, shape_str(&x->shape));
    return false;
  }
  *o = x->shape;
  if (sp == 2) {
    o->d[2] = OH;
    o->d[3] = OW;
  } else {
    o->d[2] = OW;
  }
  return true;
}

static bool infer_norm(Graph *g, Node *n, Shape *o) {
  Tensor *x = n->in[0];
  int64_t C = x->shape.rank >= 2 ? x->shape.d[1] : 0;
  if (!(n->eps > 0)) {
    diag_error(n->loc, "layer '%s': eps must be positive", n->name);
    return false;
  }
  switch (n->op) {
  case OP_BATCHNORM1D:
    if (!need_rank(n, x, 2, 3))
      return false;
    break;
  case OP_BATCHNORM2D:
  case OP_INSTANCENORM2D:
    if (!need_rank(n, x, 4, 4))
      return false;
    break;
  case OP_GROUPNORM:
    if (!need_rank(n, x, 2, MAX_RANK))
      return false;
    if (n->num_groups <= 0 || C % n->num_groups) {
      diag_error(n->loc, "layer '%s': num_groups=%d must divide the %lld channels", n->name, n->num_groups,
                 (long long)C);
      return false;
    }
    break;
  case OP_LAYERNORM:
    if (!need_rank(n, x, 2, MAX_RANK))
      return false;
    break;
  default: unreachable();
  }
  Shape ps = shape_of(1, C);
  if (n->op == OP_LAYERNORM)
    ps = shape_make(x->shape.rank - 1, x->shape.d + 1);
  if (n->affine) {
    n->weight = param(g, n, n->weight, "weight", TK_PARAM, ps);
    n->bias = param(g, n, n->bias, "bias", TK_PARAM, ps);
  }
  if (n->op == OP_BATCHNORM1D || n->op == OP_BATCHNORM2D || (n->op == OP_INSTANCENORM2D && n->track_stats)) {
    n->mean = param(g, n, n->mean, "running_mean", TK_BUFFER, ps);
    n->var = param(g, n, n->var, "running_var", TK_BUFFER, ps);
  }
  *o = x->shape;
  return true;
}

/* numpy broadcasting of every input; the batch axis must agree. */
static bool infer_broadcast(Node *n, Shape *o) {
  int rank = 0;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->shape.rank > rank)
      rank = n->in[i]->shape.rank;
  Shape s = {.rank = rank};
  for (int k = 0; k < rank; k++)
    s.d[k] = 1;
  for (int i = 0; i < n->nin; i++) {
    const Shape *a = &n->in[i]->shape;
    for (int k = 0; k < a->rank; k++) {
      int64_t *dst = &s.d[rank - a->rank + k];
      if (a->d[k] == *dst || a->d[k] == 1)
        continue;
      if (*dst == 1) {
        *dst = a->d[k];
        continue;
      }
      diag_error(n->loc, "layer '%s': input shapes %s and %s do not match (nor broadcast)", n->name,
                 shape_str(&n->in[0]->shape), shape_str(a));
      return false;
    }
  }
  *o = s;
  return true;
}

static int norm_axis(Node *n, int axis, int rank) {
  int a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    diag_error(n->loc, "layer '%s': dim %d is out of range for a rank-%d tensor", n->name, axis, rank);
    return -1;
  }
  return a;
}

bool shape_infer_node(Graph *g, Node *n) {
  const OpInfo *oi = &op_info[n->op];
  if (oi->nin > 0 && n->nin != oi->nin) {
    diag_error(n->loc, "layer '%s' (%s) takes %d input%s, got %d", n->name, oi->name, oi->nin,
               oi->nin == 1 ? "" : "s", n->nin);
    return false;
  }
  if (oi->nin < 0 && n->nin < 2) {
    diag_error(n->loc, "layer '%s' (%s) needs at least two inputs (`from: [a, b]`)", n->name, oi->name);
    return false;
  }
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->shape.rank == 0) {
      diag_error(n->loc, "layer '%s': input %d has no known shape", n->name, i);
      return false;
    }
  Tensor *x = n->in[0];
  Shape o = x->shape;
  bool ok = true;
  switch (n->op) {
  case OP_CONV1D: case OP_CONV2D: case OP_CONV_TRANSPOSE2D:
    ok = infer_conv(g, n, &o);
    break;
  case OP_LINEAR:
    if (!need_rank(n, x, 2, 2))
      return false;
    if (n->out_ch <= 0) {
      diag_error(n->loc, "layer '%s': out_features must be positive", n->name);
      return false;
    }
    n->weight = param(g, n, n->weight, "weight", TK_PARAM, shape_of(2, n->out_ch, x->shape.d[1]));
    if (n->has_bias)
      n->bias = param(g, n, n->bias, "bias", TK_PARAM, shape_of(1, n->out_ch));
    o = shape_of(2, x->shape.d[0], n->out_ch);
    break;
  case OP_MAXPOOL1D: case OP_MAXPOOL2D: case OP_AVGPOOL1D: case OP_AVGPOOL2D: case OP_LPPOOL2D:
    ok = infer_pool(n, &o);
    break;
  case OP_ADAPTIVE_AVGPOOL2D:
    if (!need_rank(n, x, 4, 4))
      return false;
    if (n->out_size[0] <= 0 || n->out_size[1] <= 0) {
      diag_error(n->loc, "layer '%s': output_size must be positive", n->name);
      return false;
    }
    o.d[2] = n->out_size[0];
    o.d[3] = n->out_size[1];
    break;
  case OP_GLOBAL_AVGPOOL:
    if (!need_rank(n, x, 3, MAX_RANK))
      return false;
    for (int i = 2; i < o.rank; i++)
      o.d[i] = 1;
    break;
  case OP_BATCHNORM1D: case OP_BATCHNORM2D: case OP_LAYERNORM: case OP_INSTANCENORM2D: case OP_GROUPNORM:
    ok = infer_norm(g, n, &o);
    break;
  case OP_PRELU: {
    int64_t C = x->shape.rank >= 2 ? x->shape.d[1] : 1;
    if (n->num_params != 1 && n->num_params != C) {
      diag_error(n->loc, "layer '%s': num_parameters=%d must be 1 or the channel count %lld", n->name,
                 n->num_params, (long long)C);
      return false;
    }
    n->weight = param(g, n, n->weight, "weight", TK_PARAM, shape_of(1, (int64_t)n->num_params));
    break;
  }
  case OP_RELU: case OP_LEAKY_RELU: case OP_ELU: case OP_SELU: case OP_SIGMOID: case OP_TANH: case OP_GELU:
  case OP_HARDSIGMOID: case OP_HARDSWISH:
    break;
  case OP_CLIP:
    if (n->alpha > n->beta) {
      diag_error(n->loc, "layer '%s': clip min %g is above max %g", n->name, n->alpha, n->beta);
      return false;
    }
    break;
  case OP_DROPOUT:
    if (!(n->p >= 0 && n->p < 1)) {
      diag_error(n->loc, "layer '%s': dropout p must be in [0, 1)", n->name);
      return false;
    }
    break;
  case OP_MAXOUT:
    if (!need_rank(n, x, 2, MAX_RANK))
      return false;
    if (n->pieces <= 0 || x->shape.d[1] % n->pieces) {
      diag_error(n->loc, "layer '%s': pieces=%d must divide the %lld channels", n->name, n->pieces,
                 (long long)x->shape.d[1]);
      return false;
    }
    o.d[1] = x->shape.d[1] / n->pieces;
    break;
  case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
    int a = norm_axis(n, n->axis, x->shape.rank);
    if (a < 0)
      return false;
    if (a == 0) {
      diag_error(n->loc, "layer '%s': softmax over the batch dimension is not supported", n->name);
      return false;
    }
    n->axis = a;
    break;
  }
  case OP_ADD: case OP_MUL:
    ok = infer_broadcast(n, &o);
    break;
  case OP_CONCAT: {
    int a = norm_axis(n, n->axis, x->shape.rank);
    if (a < 0)
      return false;
    if (a == 0) {
      diag_error(n->loc, "layer '%s': concat along the batch dimension is not supported", n->name);
      return false;
    }
    n->axis = a;
    o.d[a] = 0;
    for (int i = 0; i < n->nin; i++) {
      const Shape *s = &n->in[i]->shape;
      bool match = s->rank == x->shape.rank;
      for (int k = 0; match && k < s->rank; k++)
        if (k != a && s->d[k] != x->shape.d[k])
          match = false;
      if (!match) {
        diag_error(n->loc, "layer '%s': cannot concat %s and %s along dim %d", n->name, shape_str(&x->shape),
                   shape_str(s), a);
        return false;
      }
      o.d[a] += s->d[a];
    }
    break;
  }
  case OP_FLATTEN: {
    int a = norm_axis(n, n->axis, x->shape.rank);
    if (a < 0)
      return false;
    if (a == 0) {
      diag_error(n->loc, "layer '%s': flatten must keep the batch dimension (start_dim >= 1)", n->name);
      return false;
    }
    n->axis = a;
    int64_t prod = 1;
    for (int k = a; k < x->shape.rank; k++)
      prod *= x->shape.d[k];
    o.rank = a + 1;
    o.d[a] = prod;
    break;
  }
  case OP_RESHAPE: {
    int64_t per = shape_numel(&x->shape) / x->shape.d[0], known = 1;
    int minus = -1;
    if (n->target.rank + 1 > MAX_RANK) {
      diag_error(n->loc, "layer '%s': reshape target has too many dimensions", n->name);
      return false;
    }
    for (int k = 0; k < n->target.rank; k++) {
      int64_t v = n->target.d[k];
      if (v == -1 && minus < 0)
        minus = k;
      else if (v <= 0) {
        diag_error(n->loc, "layer '%s': reshape dimension %lld is invalid", n->name, (long long)v);
        return false;
      } else if (ckd_mul(&known, known, v)) {
        known = INT64_MAX;
      }
    }
    o.rank = n->target.rank + 1;
    o.d[0] = x->shape.d[0];
    for (int k = 0; k < n->target.rank; k++)
      o.d[k + 1] = n->target.d[k];
    if (minus >= 0) {
      if (known == 0 || per % known) {
        diag_error(n->loc, "layer '%s': cannot reshape %s into %s", n->name, shape_str(&x->shape),
                   shape_str(&n->target));
        return false;
      }
      o.d[minus + 1] = per / known;
    } else if (known != per) {
      diag_error(n->loc, "layer '%s': cannot reshape %s (%lld values per sample) into %s", n->name,
                 shape_str(&x->shape), (long long)per, shape_str(&n->target));
      return false;
    }
    break;
  }
  case OP_UPSAMPLE:
    if (!need_rank(n, x, 3, 4))
      return false;
    if (n->scale[0] <= 0 || n->scale[1] <= 0) {
      diag_error(n->loc, "layer '%s': scale_factor must be a positive integer", n->name);
      return false;
    }
    if (x->shape.rank == 4)
      o.d[2] *= n->scale[0];
    o.d[x->shape.rank - 1] *= n->scale[1];
    break;
  case OP_PAD:
    if (!need_rank(n, x, 3, 4))
      return false;
    for (int i = 0; i < 4; i++)
      if (n->pad[i] < 0) {
        diag_error(n->loc, "layer '%s': negative pads are not supported", n->name);
        return false;
      }
    if (x->shape.rank == 4)
      o.d[2] += n->pad[0] + n->pad[2];
    o.d[x->shape.rank - 1] += n->pad[1] + n->pad[3];
    if (n->pad_mode == 1 && (n->pad[0] >= o.d[2] || n->pad[1] >= x->shape.d[x->shape.rank - 1])) {
      diag_error(n->loc, "layer '%s': reflect padding must be smaller than the input", n->name);
      return false;
    }
    break;
  case OP_TRANSPOSE: {
    if (n->target.rank != x->shape.rank) {
      diag_error(n->loc, "layer '%s': perm has %d entries for a rank-%d input", n->name, n->target.rank,
                 x->shape.rank);
      return false;
    }
    unsigned seen = 0;
    for (int k = 0; k < n->target.rank; k++) {
      int64_t p = n->target.d[k];
      if (p < 0 || p >= x->shape.rank || (seen >> p & 1)) {
        diag_error(n->loc, "layer '%s': perm is not a permutation", n->name);
        return false;
      }
      seen |= 1u << p;
      o.d[k] = x->shape.d[p];
    }
    if (n->target.d[0] != 0) {
      diag_error(n->loc, "layer '%s': transpose must keep the batch dimension first", n->name);
      return false;
    }
    break;
  }
  case OP_MEAN: {
    if (n->axes_mask & 1) {
      diag_error(n->loc, "layer '%s': mean over the batch dimension is not supported", n->name);
      return false;
    }
    if (n->axes_mask >> x->shape.rank) {
      diag_error(n->loc, "layer '%s': mean dims out of range", n->name);
      return false;
    }
    int r = 0;
    for (int k = 0; k < x->shape.rank; k++) {
      if (n->axes_mask >> k & 1) {
        if (n->keepdims)
          o.d[r++] = 1;
      } else {
        o.d[r++] = x->shape.d[k];
      }
    }
    o.rank = r;
    break;
  }
  case OP_SLICE: {
    int a = norm_axis(n, n->axis, x->shape.rank);
    if (a < 0)
      return false;
    if (a == 0) {
      diag_error(n->loc, "layer '%s': slicing the batch dimension is not supported", n->name);
      return false;
    }
    if (n->slice_start < 0 || n->slice_end > x->shape.d[a] || n->slice_start >= n->slice_end) {
      diag_error(n->loc, "layer '%s': slice [%lld, %lld) is empty or outside dim %d of size %lld", n->name,
                 (long long)n->slice_start, (long long)n->slice_end, a, (long long)x->shape.d[a]);
      return false;
    }
    n->axis = a;
    o.d[a] = n->slice_end - n->slice_start;
    break;
  }
  default:
    die("no shape rule for op %s", oi->name);
  }
  if (!ok || !check_shape(n, &o))
    return false;
  n->out->shape = o;
  return true;
}

/* Number of (output position, tap) pairs along one axis whose input index is
 * inside [0, in): the non-padding taps of a sliding window. */
static int64_t valid_taps(int64_t in, int64_t out, int k, int s, int d, int pb) {
  int64_t total = 0;
  for (int64_t o = 0; o < out; o++)
    for (int t = 0; t < k; t++) {
      int64_t i = o * s - pb + (int64_t)t * d;
      total += i >= 0 && i < in;
    }
  return total;
}

/* Taps of a transposed conv that land inside the output (cropped ones excluded). */
static int64_t valid_taps_t(int64_t in, int64_t out, int k, int s, int d, int pb) {
  int64_t total = 0;
  for (int64_t i = 0; i < in; i++)
    for (int t = 0; t < k; t++) {
      int64_t o = i * s - pb + (int64_t)t * d;
      total += o >= 0 && o < out;
    }
  return total;
}

int64_t node_flops(const Node *n) {
  const Shape *xs = &n->in[0]->shape, *ys = &n->out->shape;
  int64_t numel = shape_numel(ys);
  switch (n->op) {
  case OP_CONV1D: case OP_CONV2D: {
    int sp = n->op == OP_CONV1D ? 1 : 2;
    int64_t H = sp == 2 ? xs->d[2] : 1, W = xs->d[sp + 1];
    int64_t OH = sp == 2 ? ys->d[2] : 1, OW = ys->d[sp + 1];
    int64_t vh = valid_taps(H, OH, n->kernel[0], n->stride[0], n->dilation[0], n->pad[0]);
    int64_t vw = valid_taps(W, OW, n->kernel[1], n->stride[1], n->dilation[1], n->pad[1]);
    int64_t cin = n->pre ? n->pre->out->shape.d[1] : xs->d[1]; /* a fused 1x1 conv counts too */
    return 2 * ys->d[0] * ys->d[1] * (cin / n->groups) * vh * vw + (n->pre ? node_flops(n->pre) : 0);
  }
  case OP_CONV_TRANSPOSE2D: {
    int64_t vh = valid_taps_t(xs->d[2], ys->d[2], n->kernel[0], n->stride[0], n->dilation[0], n->pad[0]);
    int64_t vw = valid_taps_t(xs->d[3], ys->d[3], n->kernel[1], n->stride[1], n->dilation[1], n->pad[1]);
    return 2 * xs->d[0] * xs->d[1] * (ys->d[1] / n->groups) * vh * vw;
  }
  case OP_LINEAR:
    return 2 * xs->d[0] * xs->d[1] * ys->d[1];
  case OP_MAXPOOL1D: case OP_MAXPOOL2D: case OP_AVGPOOL1D: case OP_AVGPOOL2D: case OP_LPPOOL2D:
    return numel * n->kernel[0] * n->kernel[1] + (n->pre ? node_flops(n->pre) : 0); /* a fused conv counts too */
  case OP_ADAPTIVE_AVGPOOL2D: case OP_GLOBAL_AVGPOOL: case OP_MEAN: case OP_MAXOUT:
    return shape_numel(xs);
  case OP_BATCHNORM1D: case OP_BATCHNORM2D:
    return 2 * numel;
  case OP_LAYERNORM: case OP_INSTANCENORM2D: case OP_GROUPNORM: case OP_SOFTMAX: case OP_LOG_SOFTMAX:
    return 5 * numel;
  case OP_ADD: case OP_MUL:
    return numel * (n->nin - 1);
  case OP_FLATTEN: case OP_RESHAPE: case OP_DROPOUT: case OP_CONCAT: case OP_UPSAMPLE: case OP_PAD:
  case OP_TRANSPOSE:
    return 0;
  default:
    return numel;
  }
}
