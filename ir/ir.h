/* ir.h - the one internal header of the cnnc compiler.
 *
 * Forward typedefs first, then the types, then one prototype section per .c
 * file.  The runtime (runtime/) never includes this header; backends/backend.h
 * is the only other compiler header.
 *
 * Conventions
 *  - All compiler memory comes from cnnc_alloc(): zeroed, never freed singly.
 *  - User errors go through diag_error() (file:line:col: error: ...); the
 *    driver stops at the end of a phase when diag_count() > 0, so one run
 *    reports every problem.  Internal bugs call die()/unreachable().
 *  - Every size/offset computed from input data goes through ckd_add/ckd_mul.
 */
#ifndef CNNC_IR_H
#define CNNC_IR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CNNC_VERSION "0.1.0"

typedef struct SrcLoc SrcLoc;
typedef struct Shape Shape;
typedef struct Tensor Tensor;
typedef struct Node Node;
typedef struct Graph Graph;
typedef struct TrainSpec TrainSpec;
typedef struct Options Options;

/* ------------------------------------------------------------------ types */

struct SrcLoc {
  const char *file; /* NULL = unknown */
  int line, col;    /* 1-based; 0 = unknown (binary files use line 1, col = byte offset + 1) */
};

typedef enum {
#define OP(id, spelling, nin, flags) OP_##id,
#include "ops.def"
#undef OP
  OP__COUNT
} OpKind;

enum {
  OPF_PARAMS = 1 << 0,   /* has weight/bias/... parameters */
  OPF_CONV = 1 << 1,     /* conv1d/conv2d/conv_transpose2d: kernel/stride/pad/dilation/groups */
  OPF_POOL = 1 << 2,     /* windowed pooling: kernel/stride/pad/ceil_mode */
  OPF_NORM = 1 << 3,     /* normalisation: eps, affine */
  OPF_ELEMWISE = 1 << 4, /* one input, same shape, pointwise */
  OPF_VIEW = 1 << 5,     /* output aliases the input bytes (zero-copy) */
  OPF_INTERNAL = 1 << 6, /* compiler-made (training): not accepted from a model file */
};

typedef struct OpInfo {
  const char *name;
  int nin; /* -1 = variadic */
  unsigned flags;
} OpInfo;
extern const OpInfo op_info[OP__COUNT];

typedef enum { DT_F32, DT_I32, DT_I64, DT_F64 } DType;

#define MAX_RANK 6
struct Shape {
  int rank;
  int64_t d[MAX_RANK];
};

typedef enum {
  TK_ACT,    /* activation computed by a node (lives in the arena) */
  TK_INPUT,  /* graph input (caller's pointer) */
  TK_PARAM,  /* trainable parameter (embedded weight data) */
  TK_BUFFER, /* non-trainable state: BN running_mean/var */
  TK_CONST,  /* constant produced by folding or an ONNX initializer used as data */
  TK_GRAD,   /* gradient accumulator (training): zeroed before its first writer, arena */
  TK_TARGET, /* training target (caller's pointer): int32 classes or float values */
} TensorKind;

struct Tensor {
  int id;           /* index in Graph.tensors; also the fresh-name counter: t<id> */
  const char *name; /* user-visible name: layer name for activations, state_dict name for params */
  TensorKind kind;
  DType dtype;
  Shape shape;      /* activations and inputs include the batch dim d[0] = Graph.batch */
  float *data;      /* PARAM/BUFFER/CONST: host values, numel(shape) floats */
  Node *producer;   /* NULL for inputs, params and constants */
  int nuses;        /* filled by ir_compute_uses() */
  bool is_output;
  SrcLoc loc;
  /* memory planning (pass_mem.c) */
  int64_t offset;      /* arena byte offset; -1 = not in the arena */
  Tensor *view_of;     /* zero-copy alias: this tensor is bytes [view_offset, +size) of view_of */
  int64_t view_offset;
  /* training (pass_grad.c) */
  Tensor *grad;     /* the gradient accumulator of this parameter/activation, if needed */
  int64_t woff;     /* float offset in the weight blob / params buffer (backends); -1 none */
  bool trainable;   /* TK_PARAM not frozen */
};

/* Fused activations carried by conv/linear/add nodes (pass_fuse.c). */
typedef enum { ACT_NONE, ACT_RELU, ACT_LEAKY, ACT_CLIP, ACT_SIGMOID, ACT_TANH, ACT_HARDSWISH } ActKind;

/* One fat node.  Spatial attributes are stored as 2-D (index 0 = H, 1 = W);
 * 1-D ops keep their values in index 1 and identity (k=1,s=1,p=0,d=1) in index 0,
 * so a (N,C,L) tensor is treated as (N,C,1,L) by kernels. */
struct Node {
  int id;
  OpKind op;
  const char *name; /* unique layer name (YAML name or <op><index>) */
  SrcLoc loc;       /* where the layer was written; rewriting passes copy it */
  SrcLoc use_loc;   /* YAML: the top-level block use this node was expanded from (line 0 = none) */
  Tensor **in;      /* activation inputs */
  int nin;
  Tensor *out;      /* every op has exactly one output */

  /* parameters (state_dict names on the tensors) */
  Tensor *weight; /* conv: (Cout, Cin/g, kH, kW) | (Cout, Cin/g, kL); convT: (Cin, Cout/g, kH, kW);
                     linear: (Out, In); norms: (C) or layernorm's normalized shape; prelu: (1) or (C) */
  Tensor *bias;   /* (Cout) / (Out) / (C) */
  Tensor *mean;   /* batchnorm running_mean (C) */
  Tensor *var;    /* batchnorm running_var (C) */

  /* conv / pool attributes */
  int64_t out_ch;    /* out_channels / out_features */
  int kernel[2];     /* kH, kW */
  int stride[2];     /* sH, sW */
  int dilation[2];   /* dH, dW */
  int pad[4];        /* top, left, bottom, right (1-D: left in [1], right in [3]) */
  int out_pad[2];    /* conv_transpose2d output_padding */
  int groups;
  bool has_bias;
  bool pad_same;     /* padding: same was requested (resolved into pad[] by shape inference) */
  bool ceil_mode;
  bool count_include_pad;
  int spatial;       /* number of spatial dims the op works on (1 or 2) */

  /* other attributes */
  double eps, momentum;
  double alpha;      /* leaky_relu negative_slope, elu alpha, clip min, hardsigmoid alpha, lppool norm_type */
  double beta;       /* clip max, hardsigmoid beta */
  double p;          /* dropout probability */
  bool affine;       /* norms: weight/bias present */
  bool track_stats;  /* instancenorm: unused at inference, kept for completeness */
  int num_groups;    /* groupnorm */
  int pieces;        /* maxout */
  int axis;          /* softmax/log_softmax dim, concat dim, flatten start_dim */
  int num_params;    /* prelu num_parameters */
  int out_size[2];   /* adaptive_avgpool2d output_size */
  int scale[2];      /* upsample integer scale factors (H, W) */
  Shape target;      /* reshape target (per sample, -1 allowed) / transpose perm (rank = count) */
  int64_t axes_mask; /* mean: bit i = reduce axis i */
  bool keepdims;     /* mean */
  int pad_mode;      /* pad: 0 constant, 1 reflect, 2 edge (spatial pads in pad[]) */
  double pad_value;  /* pad constant */
  int64_t slice_start, slice_end; /* slice: elements [start, end) of dim `axis` (step 1) */

  /* fusion (pass_fuse.c) */
  ActKind act;       /* activation applied in the kernel epilogue */
  double act_alpha, act_beta;
  Tensor *residual;  /* tensor added before the activation (fused add) */
  const char *fused_into_note; /* for `cnnc info`: what was fused here */
  Node *pre;         /* depthwise conv: the 1x1 conv computed inside it (pass_algo.c); in[0] is
                        then that conv's input, and pre is no longer in the schedule */

  /* algorithm choice (pass_algo.c) */
  int algo;          /* ALGO_* */
  const char *algo_why;
  int64_t scratch_bytes; /* scratch the chosen algorithm needs */
  int64_t scratch_offset;
  int algo_tile;        /* Winograd output tile (2/4) or FFT tile edge; 0 = kernel default */
  Tensor *algo_weight;  /* weights transformed at compile time for the algorithm (Winograd/FFT) */

  bool dead;

  /* training (pass_grad.c) */
  bool training;     /* forward node in training mode: batch statistics, active dropout */
  Tensor *aux[2];    /* tapes the forward saves for its backward (norm mean and 1/std) */
  Node *fwd;         /* OP_GRAD: the forward node it differentiates */
  Tensor **gout;     /* OP_GRAD: accumulators of d/d(fwd->in[i]) (NULL where not needed);
                        OP_LOSS: gout[0] = d(loss)/d(prediction) */
  int ngout;
  Tensor *dw, *db;   /* OP_GRAD: parameter gradient accumulators */
};

enum { ALGO_AUTO, ALGO_DIRECT, ALGO_GEMM1X1, ALGO_IM2COL, ALGO_WINOGRAD, ALGO_FFT };

struct Graph {
  const char *name;  /* C identifier used as the symbol prefix */
  const char *file;  /* the model file */
  int batch;         /* compiled maximum batch (BATCH_MAX) */
  Tensor **tensors;
  int ntensors, cap_tensors;
  Node **nodes;      /* in schedule (topological) order */
  int nnodes, cap_nodes;
  Tensor **inputs;
  int ninputs;
  Tensor **outputs;
  int noutputs;
  TrainSpec *train;  /* NULL: inference only */
  uint64_t seed;     /* init/dropout seed (YAML init.seed) */
  Tensor *target;    /* training: the loss target */
  Node *loss;        /* training: the OP_LOSS node */
  Graph *train_graph; /* inference graph of a trainable model: its training twin */
  int64_t params_size, opt_state_size; /* floats (set by the C backend for training models) */
  int64_t arena_size, arena_lower_bound, arena_naive;
  bool folded_bn;
};

/* `train:` section of the YAML (issue: training). */
struct TrainSpec {
  SrcLoc loc;
  const char *loss;      /* cross_entropy | nll | mse | l1 */
  const char *optimizer; /* sgd | adam | adamw | rmsprop */
  double lr, momentum, dampening, weight_decay, beta1, beta2, eps, alpha;
  bool nesterov, amsgrad;
  const char **freeze;
  int nfreeze;
  const char *schedule;  /* NULL | step | cosine */
  int step_size, t_max;
  double gamma, eta_min;
  double clip_grad_norm; /* 0 = off */
};

/* Driver options shared by the passes. */
struct Options {
  int opt_level;       /* -O0..-O3 (default 2) */
  int batch;           /* --batch */
  const char *name;    /* --name */
  const char *weights; /* --weights */
  bool no_fold;
  bool allow_nonfinite;
  int threads;
  const char **algo_layer; /* --algo LAYER=ALGO */
  int *algo_choice;
  int *algo_tile;           /* Winograd output tile of the choice (0: any) */
  int nalgo;
  const char *dump_after; /* -d letters */
  bool tune;           /* --tune: time conv algorithms on this machine */
  int lowrank;         /* --lowrank R: approximate separable decomposition (0 = exact only) */
};

/* --------------------------------------------------------------- util.c */

void *cnnc_alloc(size_t n);                /* zeroed; exits with "out of memory" (status 2) on failure */
void *cnnc_realloc_array(void *p, size_t n, size_t elem); /* overflow-checked */
char *cnnc_strdup(const char *s);
char *cnnc_strndup(const char *s, size_t n);
char *cnnc_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Append val to (*arr, *len) growing *cap; overflow-checked. */
#define VEC_PUSH(arr, len, cap, val)                                                  \
  do {                                                                                \
    if ((len) >= (cap)) {                                                             \
      (cap) = (cap) ? 2 * (cap) : 8;                                                  \
      (arr) = cnnc_realloc_array((arr), (size_t)(cap), sizeof(*(arr)));               \
    }                                                                                 \
    (arr)[(len)++] = (val);                                                           \
  } while (0)

/* Checked arithmetic: return true on overflow (C23 ckd_* convention). */
static inline bool ckd_add(int64_t *r, int64_t a, int64_t b) { return __builtin_add_overflow(a, b, r); }
static inline bool ckd_mul(int64_t *r, int64_t a, int64_t b) { return __builtin_mul_overflow(a, b, r); }
static inline bool ckd_sub(int64_t *r, int64_t a, int64_t b) { return __builtin_sub_overflow(a, b, r); }

/* Read a whole regular file (refuses directories, FIFOs, devices; cap in bytes).
 * Returns NULL and reports a diagnostic on failure. *len gets the size. */
char *read_file(const char *path, size_t cap, size_t *len);

/* Atomic output: write to a temp file beside `path`, then rename on commit.
 * Refuses to write through a symlink. */
typedef struct AtomicFile {
  FILE *f;
  char *path, *tmp;
} AtomicFile;
bool atomic_open(AtomicFile *af, const char *path);
bool atomic_commit(AtomicFile *af); /* fclose + rename; reports errors */
void atomic_abort(AtomicFile *af);  /* fclose + unlink the temp */

bool is_c_identifier(const char *s);
char *to_c_identifier(const char *s); /* replace bad chars with '_', prefix '_' if needed */
const char *path_dirname(const char *path);
const char *path_join(const char *dir, const char *rel);
int levenshtein(const char *a, const char *b);
/* The candidate closest to `s` (distance <= 2 or a third of the length), or NULL. */
const char *did_you_mean(const char *s, const char *const *cands, int n);

/* --------------------------------------------------------------- diag.c */

/* Register the text of a file so errors in it can show the source line. */
void diag_add_source(const char *file, const char *text, size_t len);
void diag_error(SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_note(SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warning(SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_verror(SrcLoc loc, const char *kind, const char *fmt, va_list ap);
int diag_count(void);   /* errors so far */
void diag_reset(void);  /* tests */
SrcLoc loc_file(const char *file); /* file:1:1 */
SrcLoc loc_at(const char *file, int line, int col);
_Noreturn void die_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define die(...) die_at(__FILE__, __LINE__, __VA_ARGS__)
#define unreachable() die("unreachable")

/* ----------------------------------------------------------------- ir.c */

Graph *ir_new_graph(const char *name);
Tensor *ir_new_tensor(Graph *g, const char *name, TensorKind kind, Shape shape);
Tensor *ir_new_param(Graph *g, const char *name, TensorKind kind, Shape shape, SrcLoc loc);
/* New node of `op` with inputs copied; creates its output activation tensor (shape unset). */
Node *ir_new_node(Graph *g, OpKind op, const char *name, SrcLoc loc, Tensor **in, int nin);
void ir_set_defaults(Node *n); /* PyTorch defaults for every attribute of n->op */
Node *ir_find_node(Graph *g, const char *name);
Tensor *ir_find_tensor(Graph *g, const char *name);
OpKind ir_op_lookup(const char *spelling); /* OP__COUNT if unknown */
void ir_compute_uses(Graph *g);
void ir_remove_dead(Graph *g); /* drop nodes marked dead and renumber */
void ir_replace_uses(Graph *g, Tensor *from, Tensor *to);
int64_t shape_numel(const Shape *s);   /* product of dims (caller validated against overflow) */
int64_t tensor_bytes(const Tensor *t);
Shape shape_make(int rank, const int64_t *d);
Shape shape_of(int rank, ...); /* shape_of(3, 1LL, 28LL, 28LL) (int64 varargs) */
bool shape_eq(const Shape *a, const Shape *b);
char *shape_str(const Shape *s); /* "[1, 6, 28, 28]" */
/* Number of parameters (numel of weight/bias; excludes running stats). */
int64_t node_params(const Node *n);

/* -------------------------------------------------------------- shape.c */

/* Infer n->out->shape from the inputs and attributes, resolve padding, and
 * create (or check) the parameter tensors named "<layer>.weight" etc.
 * Reports user errors at n->loc; returns false on error. */
bool shape_infer_node(Graph *g, Node *n);
/* FLOPs of one node for the whole compiled batch (multiply-adds x 2, padding taps excluded). */
int64_t node_flops(const Node *n);

/* ------------------------------------------------------------- verify.c */

/* Check graph invariants; internal errors die() naming the pass. */
void ir_verify(Graph *g, const char *after_pass);

/* -------------------------------------------------------------- print.c */

void ir_print(Graph *g, FILE *out);
void ir_print_dot(Graph *g, FILE *out); /* Graphviz drawing of the (optimized) graph */
const char *act_name(ActKind a);
const char *algo_name(int algo);

/* ------------------------------------------------------------- yaml.c */

/* Parse a YAML model.  Returns NULL (with diagnostics) on any error. */
Graph *yaml_load(const char *path, const Options *opt);

/* --------------------------------------------------------- protobuf.c */

/* A bounded protobuf wire-format reader (no schema, no generated code).
 * Lengths are checked against the enclosing message, varints are <= 10 bytes,
 * groups are refused, nesting is capped at PB_MAX_DEPTH, and the first error
 * is reported (file:1:<byte offset + 1>) and makes every later call fail. */
#define PB_MAX_DEPTH 32
#define PB_MAX_INPUT ((size_t)INT32_MAX) /* 2 GiB - 1, protobuf's own limit */
enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_SGROUP = 3, PB_EGROUP = 4, PB_I32 = 5 };
typedef struct PbInput {
  const char *file;    /* for diagnostics */
  const uint8_t *base; /* the whole buffer: offsets in messages are relative to it */
  size_t len;
  bool failed;         /* an error was reported */
} PbInput;
typedef struct PbReader {
  PbInput *in;
  const uint8_t *p, *end; /* the unread part of the current message */
  int depth;
} PbReader;
typedef struct PbField {
  uint32_t num;        /* field number */
  int wire;            /* PB_VARINT, PB_I64, PB_LEN or PB_I32 */
  uint64_t u;          /* VARINT / I64 / I32 value */
  const uint8_t *data; /* LEN payload (and the raw bytes of I32/I64) */
  size_t len;
  size_t off;          /* byte offset of the field's tag in the input */
} PbField;
bool pb_open(PbInput *in, PbReader *r, const char *file, const uint8_t *buf, size_t len);
bool pb_next(PbReader *r, PbField *f); /* false at the end of the message or on error (in->failed) */
bool pb_enter(PbReader *r, const PbField *f, PbReader *sub); /* a LEN field as a sub-message */
bool pb_fail(PbReader *r, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t pb_offset(const PbReader *r, const uint8_t *p);
bool pb_get_u64(PbReader *r, const PbField *f, uint64_t *v);
bool pb_get_i64(PbReader *r, const PbField *f, int64_t *v);
bool pb_get_i32(PbReader *r, const PbField *f, int32_t *v); /* int32/enum, range-checked */
bool pb_get_f32(PbReader *r, const PbField *f, float *v);
bool pb_get_bytes(PbReader *r, const PbField *f, const uint8_t **data, size_t *len);
bool pb_get_str(PbReader *r, const PbField *f, const char **s); /* copied; embedded NUL refused */
/* Repeated scalars, packed or not: append the field's value(s) to (*a, *n, *cap). */
bool pb_get_i64s(PbReader *r, const PbField *f, int64_t **a, size_t *n, size_t *cap);
bool pb_get_f32s(PbReader *r, const PbField *f, float **a, size_t *n, size_t *cap);
bool pb_get_f64s(PbReader *r, const PbField *f, double **a, size_t *n, size_t *cap);

/* ------------------------------------------------------------- onnx.c */

Graph *onnx_load(const char *path, const Options *opt);

/* -------------------------------------------------------------- npy.c */

/* A tensor read from a .npy file.  Values are kept as double so that a
 * float64 golden file compares at full precision; ints are exact up to 2^53. */
typedef struct NpyArray {
  DType dtype; /* of the file: DT_F32, DT_F64, DT_I32, DT_I64 */
  Shape shape;
  int64_t numel;
  double *data;
} NpyArray;
bool npy_read(const char *path, NpyArray *out);                     /* diagnostics on error */
bool npy_write_f32(const char *path, const Shape *shape, const float *data); /* atomic */

/* ------------------------------------------------------- safetensors.c */

typedef struct StTensor {
  const char *name;
  DType dtype;     /* of the file (F16/BF16 are converted; recorded as DT_F32) */
  const char *dtype_name; /* "F32", "F16", ... as in the file */
  Shape shape;
  int64_t numel;
  float *data;     /* converted to float32; NULL for an integer *.num_batches_tracked (ignored) */
  SrcLoc loc;      /* position of the entry in the JSON header */
  bool used;
} StTensor;
typedef struct StFile {
  const char *path;
  StTensor *t;
  int n;
  int *by_name; /* indices into t sorted by name (st_read fills it; NULL: st_find scans) */
} StFile;
bool st_read(const char *path, StFile *out, bool allow_nonfinite); /* all errors reported */
StTensor *st_find(StFile *f, const char *name);
/* Write tensors (F32) atomically, names in the given order. */
bool st_write(const char *path, int n, const char *const *names, const Shape *shapes,
              const float *const *data);

/* ------------------------------------------------------------ weights.c */

/* Fill every TK_PARAM/TK_BUFFER tensor: from the safetensors file if given
 * (missing/extra/mis-shaped tensors are each an error), else by PyTorch's
 * default initialisation seeded with `seed`. */
bool weights_load(Graph *g, const char *path, SrcLoc ref, bool allow_nonfinite);
void weights_init(Graph *g, uint64_t seed, const char *scheme);

/* -------------------------------------------------------------- info.c */

/* `cnnc info`: per-layer table (or JSON) of shapes, params, FLOPs, receptive
 * field, algorithm and fusion; totals; arena vs lower bound. */
bool info_print(Graph *g, const Options *opt, bool json, FILE *out);

/* -------------------------------------------------------------- passes */

void pass_fold(Graph *g, const Options *opt);   /* constant + BN folding (fp64) */
void pass_dce(Graph *g);                        /* remove nodes whose results are unused */
void pass_sep(Graph *g, const Options *opt);    /* separable k x k -> 1 x k then k x 1 */
Tensor *view_root(Tensor *t, int64_t *off);     /* pass_fuse.c: storage root of a view */
void pass_fuse(Graph *g, const Options *opt);   /* activation/residual fusion, views, dead nodes */
void pass_algo(Graph *g, const Options *opt);   /* per-conv algorithm choice */
void pass_mem(Graph *g, const Options *opt);    /* liveness + arena offsets */
void pass_grad(Graph *g, const Options *opt);   /* training: loss + backward graph (reverse mode) */
bool train_is_frozen(const Graph *g, const char *layer);

#endif
