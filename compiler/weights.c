/* weights.c - fill the parameters and buffers of a graph.
 *
 * weights_load: from a safetensors file, matched by state_dict name.
 *   Guarantees: every TK_PARAM/TK_BUFFER tensor either gets exactly the
 *   file's values (converted to float32 by st_read) or is reported: missing
 *   from the file (at the tensor's location, naming the file, with a "did you
 *   mean" among the file's names), or of another shape (naming both shapes).
 *   Every file entry that matches no tensor is an error of its own, except
 *   `*.num_batches_tracked`, which PyTorch saves for batchnorm and SPEC says
 *   is accepted and ignored.  All mismatches are reported in one run.
 *
 * weights_init: PyTorch's initialisation, with cnnc's own generator.
 *   "default" (or NULL) is what torch.nn layers do in reset_parameters():
 *     conv/linear weight kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), +),
 *     bias U(-1/sqrt(fan_in), +) with fan_in from the weight;
 *   "kaiming_uniform"/"kaiming_normal" (gain sqrt(2), fan_in mode) and
 *   "xavier_uniform"/"xavier_normal" (gain 1) replace the conv/linear weight
 *   rule and zero the biases.  In every scheme norm weights are 1, biases 0,
 *   running_mean 0, running_var 1, and prelu slopes 0.25.
 *   fan_in/fan_out follow torch.nn.init._calculate_fan_in_and_fan_out:
 *   size(1) * prod(size(2:)) and size(0) * prod(size(2:)), so groups and
 *   conv_transpose2d's (Cin, Cout/g, kH, kW) layout come out as in PyTorch.
 *   Values cannot match PyTorch's bit for bit (different generator), but
 *   they are deterministic: each tensor has its own xoshiro256** stream
 *   seeded from (seed, FNV-1a of the tensor name), so a tensor's values
 *   depend only on the seed, its name, shape and the scheme, not on how many
 *   layers come before it.  Tensors that already hold data (e.g. ONNX
 *   initializers) are left untouched.
 */
#include "../ir/ir.h"

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ loading */

static bool is_state(const Tensor *t) { return t->kind == TK_PARAM || t->kind == TK_BUFFER; }

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static const char *kind_word(const Tensor *t) { return t->kind == TK_PARAM ? "parameter" : "buffer"; }

bool weights_load(Graph *g, const char *path, SrcLoc ref, bool allow_nonfinite) {
  int errors0 = diag_count();
  StFile f;
  if (!st_read(path, &f, allow_nonfinite)) {
    if (ref.file)
      diag_note(ref, "while loading the weights file '%s' named here", path);
    return false;
  }

  /* Match by name first; the leftovers on both sides are then each other's
   * best "did you mean" candidates (a renamed layer shows up as a pair). */
  Tensor **missing = cnnc_alloc((size_t)(g->ntensors > 0 ? g->ntensors : 1) * sizeof(Tensor *));
  const char **missing_names = cnnc_alloc((size_t)(g->ntensors > 0 ? g->ntensors : 1) * sizeof(char *));
  int nmissing = 0;
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (!is_state(t))
      continue;
    SrcLoc at = t->loc.file ? t->loc : ref;
    StTensor *e = st_find(&f, t->name);
    if (!e) {
      missing_names[nmissing] = t->name;
      missing[nmissing++] = t;
      continue;
    }
    e->used = true;
    if (!e->data) {
      /* Only num_batches_tracked entries come back undecoded. */
      diag_error(e->loc, "tensor '%s' has dtype %s, but the model needs floating point", e->name,
                 e->dtype_name);
      continue;
    }
    if (!shape_eq(&t->shape, &e->shape)) {
      diag_error(at, "%s '%s' has shape %s in the model but %s in weights file '%s'", kind_word(t),
                 t->name, shape_str(&t->shape), shape_str(&e->shape), path);
      diag_note(e->loc, "'%s' is stored here", e->name);
      continue;
    }
    /* numel came from st_read's overflow-checked validation of the file. */
    size_t n = (size_t)(e->numel > 0 ? e->numel : 1);
    t->data = cnnc_alloc(n * sizeof(float));
    memcpy(t->data, e->data, (size_t)e->numel * sizeof(float));
  }

  const char **unused = cnnc_alloc((size_t)(f.n > 0 ? f.n : 1) * sizeof(char *));
  int nunused = 0;
  for (int i = 0; i < f.n; i++)
    if (!f.t[i].used && !ends_with(f.t[i].name, ".num_batches_tracked"))
      unused[nunused++] = f.t[i].name;

  for (int i = 0; i < nmissing; i++) {
    Tensor *t = missing[i];
    const char *hint = did_you_mean(t->name, unused, nunused);
    diag_error(t->loc.file ? t->loc : ref, "%s '%s' is missing from weights file '%s'%s%s%s",
               kind_word(t), t->name, path, hint ? " (did you mean '" : "", hint ? hint : "",
               hint ? "'?)" : "");
  }
  for (int i = 0; i < f.n; i++) {
    StTensor *e = &f.t[i];
    if (e->used || ends_with(e->name, ".num_batches_tracked"))
      continue;
    const char *hint = did_you_mean(e->name, missing_names, nmissing);
    diag_error(e->loc, "tensor '%s' in the weights file matches no parameter or buffer of the model%s%s%s",
               e->name, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
  }
  return diag_count() == errors0;
}

/* ------------------------------------------------------------ init */

/* xoshiro256** seeded through splitmix64 (the seeding its authors advise). */
typedef struct {
  uint64_t s[4];
} Rng;

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(Rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

static Rng rng_for(uint64_t seed, const char *name) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 0x100000001b3ull;
  uint64_t x = seed ^ h;
  Rng r;
  for (int i = 0; i < 4; i++)
    r.s[i] = splitmix64(&x);
  return r;
}

/* [0, 1) with 53 random bits. */
static double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Standard normal by Box-Muller; u1 in (0, 1] keeps log() finite. */
static double rng_normal(Rng *r) {
  double u1 = (double)((rng_next(r) >> 11) + 1) * 0x1.0p-53;
  double u2 = rng_uniform(r);
  const double two_pi = 6.283185307179586476925; /* M_PI is not ISO C */
  return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

typedef enum { INIT_DEFAULT, INIT_KAIMING_U, INIT_KAIMING_N, INIT_XAVIER_U, INIT_XAVIER_N } Scheme;

static const char *const scheme_names[] = {"default", "kaiming_uniform", "kaiming_normal",
                                           "xavier_uniform", "xavier_normal"};

static int64_t numel_of(const Tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->shape.rank; i++)
    if (t->shape.d[i] < 0 || ckd_mul(&n, n, t->shape.d[i]))
      die("tensor %s has an invalid shape after shape inference", t->name);
  return n;
}

static float *alloc_data(Tensor *t, int64_t n) {
  int64_t bytes;
  if (ckd_mul(&bytes, n > 0 ? n : 1, (int64_t)sizeof(float)) || (uint64_t)bytes > SIZE_MAX)
    die("tensor %s is too large", t->name);
  t->data = cnnc_alloc((size_t)bytes);
  return t->data;
}

static void fill_const(Tensor *t, float v) {
  if (!t || t->data)
    return;
  int64_t n = numel_of(t);
  float *d = alloc_data(t, n);
  for (int64_t i = 0; i < n; i++)
    d[i] = v;
}

/* torch.nn.init._calculate_fan_in_and_fan_out */
static void fans(const Tensor *w, double *fan_in, double *fan_out) {
  if (w->shape.rank < 2) {
    *fan_in = *fan_out = (double)numel_of(w);
    return;
  }
  double rf = 1;
  for (int i = 2; i < w->shape.rank; i++)
    rf *= (double)w->shape.d[i];
  *fan_in = (double)w->shape.d[1] * rf;
  *fan_out = (double)w->shape.d[0] * rf;
}

static void fill_uniform(Tensor *t, uint64_t seed, double bound) {
  if (!t || t->data)
    return;
  int64_t n = numel_of(t);
  float *d = alloc_data(t, n);
  Rng r = rng_for(seed, t->name);
  for (int64_t i = 0; i < n; i++) {
    /* (2u - 1) * bound lies in [-bound, bound); the float rounding can reach
     * +-bound exactly, never beyond it. */
    d[i] = (float)((2.0 * rng_uniform(&r) - 1.0) * bound);
  }
}

static void fill_normal(Tensor *t, uint64_t seed, double std) {
  if (!t || t->data)
    return;
  int64_t n = numel_of(t);
  float *d = alloc_data(t, n);
  Rng r = rng_for(seed, t->name);
  for (int64_t i = 0; i < n; i++)
    d[i] = (float)(rng_normal(&r) * std);
}

/* conv/linear weight and bias under `scheme`. */
static void init_dense(Node *n, uint64_t seed, Scheme scheme) {
  Tensor *w = n->weight;
  if (!w)
    return;
  double fan_in, fan_out;
  fans(w, &fan_in, &fan_out);
  /* PyTorch's bias bound is 0 when fan_in is 0; the same guard keeps the
   * weight formulas finite for empty tensors. */
  double inv = fan_in > 0 ? 1.0 / sqrt(fan_in) : 0.0;
  switch (scheme) {
  case INIT_DEFAULT:
    /* kaiming_uniform_(a=sqrt(5)): gain sqrt(2/(1+5)), bound sqrt(3)*gain/sqrt(fan_in). */
    fill_uniform(w, seed, inv);
    fill_uniform(n->bias, seed, inv);
    return;
  case INIT_KAIMING_U:
    fill_uniform(w, seed, sqrt(3.0) * sqrt(2.0) * inv);
    break;
  case INIT_KAIMING_N:
    fill_normal(w, seed, sqrt(2.0) * inv);
    break;
  case INIT_XAVIER_U:
  case INIT_XAVIER_N: {
    double std = fan_in + fan_out > 0 ? sqrt(2.0 / (fan_in + fan_out)) : 0.0;
    if (scheme == INIT_XAVIER_U)
      fill_uniform(w, seed, sqrt(3.0) * std);
    else
      fill_normal(w, seed, std);
    break;
  }
  }
  fill_const(n->bias, 0.0f);
}

void weights_init(Graph *g, uint64_t seed, const char *scheme_name) {
  Scheme scheme = INIT_DEFAULT;
  if (scheme_name) {
    int k = -1;
    for (int i = 0; i < 5; i++)
      if (!strcmp(scheme_name, scheme_names[i]))
        k = i;
    if (k < 0) {
      const char *hint = did_you_mean(scheme_name, scheme_names, 5);
      diag_error(loc_file(g->file),
                 "unknown init scheme '%s' (expected default, kaiming_uniform, kaiming_normal, "
                 "xavier_uniform or xavier_normal)%s%s%s",
                 scheme_name, hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "");
      return;
    }
    scheme = (Scheme)k;
  }

  for (int i = 0; i < g->nnodes; i++) {
    Node *n = g->nodes[i];
    switch (n->op) {
    case OP_CONV1D:
    case OP_CONV2D:
    case OP_CONV_TRANSPOSE2D:
    case OP_LINEAR:
      init_dense(n, seed, scheme);
      break;
    case OP_BATCHNORM1D:
    case OP_BATCHNORM2D:
    case OP_LAYERNORM:
    case OP_INSTANCENORM2D:
    case OP_GROUPNORM:
      fill_const(n->weight, 1.0f);
      fill_const(n->bias, 0.0f);
      fill_const(n->mean, 0.0f);
      fill_const(n->var, 1.0f);
      break;
    case OP_PRELU:
      fill_const(n->weight, 0.25f);
      break;
    default:
      break;
    }
  }
  /* Anything left (state not owned by a known node) is zeroed so that every
   * PARAM/BUFFER has data after this call. */
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (is_state(t))
      fill_const(t, 0.0f);
  }
}
