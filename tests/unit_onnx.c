/* unit_onnx.c - tests of the ONNX frontend (protobuf.c, onnx.c).
 *
 * Models are built in memory with a tiny protobuf encoder of our own (below),
 * written to a private temp directory and loaded with onnx_load().  Every bad
 * input of BAD-INPUTS.md sections B, C, D and F that the frontend handles has a
 * case that must be refused with at least one diagnostic and without crashing;
 * the positive cases check the IR that comes out (ops, attributes, shapes,
 * parameter names and values).  Diagnostics of refused files go to stderr,
 * which is expected noise; the verdict is the last line and the exit status.
 */
#define _GNU_SOURCE
#include "../ir/ir.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures, checks;

/* The compiler never frees (its memory is one arena released at exit). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

#define CHECK(cond)                                                                  \
  do {                                                                               \
    checks++;                                                                        \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);       \
      failures++;                                                                    \
    }                                                                                \
  } while (0)

static char tmpdir[64];

/* ------------------------------------------------ protobuf encoder (test) */

typedef struct Buf {
  uint8_t *p;
  size_t n, cap;
} Buf;

static void put(Buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p)
      exit(1);
  }
  if (n)
    memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void varint(Buf *b, uint64_t v) {
  do {
    uint8_t c = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v)
      c |= 0x80;
    put(b, &c, 1);
  } while (v);
}

static void tag(Buf *b, int field, int wire) { varint(b, (uint64_t)field << 3 | (uint64_t)wire); }
static void fv(Buf *b, int field, uint64_t v) { tag(b, field, 0), varint(b, v); }
static void fbytes(Buf *b, int field, const void *d, size_t n) {
  tag(b, field, 2);
  varint(b, n);
  put(b, d, n);
}
static void fstr(Buf *b, int field, const char *s) { fbytes(b, field, s, strlen(s)); }
static void fmsg(Buf *b, int field, Buf *m) {
  fbytes(b, field, m->p, m->n);
  free(m->p);
  *m = (Buf){0};
}
static void ff32(Buf *b, int field, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  tag(b, field, 5);
  uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
  put(b, le, 4);
}
static void fpacked_i64(Buf *b, int field, int n, const int64_t *v) {
  Buf t = {0};
  for (int i = 0; i < n; i++)
    varint(&t, (uint64_t)v[i]);
  fmsg(b, field, &t);
}

/* ----------------------------------------------------- ONNX model builder */

enum { FLOAT = 1, INT64 = 7, STRING = 8, UNDEF = 0 };

/* TensorProto with float raw_data (data may be NULL: zeros). */
static Buf tensor_f32(const char *name, int rank, const int64_t *dims, const float *data) {
  Buf t = {0};
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    fv(&t, 1, (uint64_t)dims[i]);
    n *= dims[i];
  }
  fv(&t, 2, FLOAT);
  fstr(&t, 8, name);
  float *d = calloc((size_t)(n > 0 ? n : 1), 4);
  if (data)
    memcpy(d, data, (size_t)n * 4);
  fbytes(&t, 9, d, (size_t)n * 4);
  free(d);
  return t;
}

static Buf tensor_i64(const char *name, int n, const int64_t *v) {
  Buf t = {0};
  fv(&t, 1, (uint64_t)n);
  fv(&t, 2, INT64);
  fstr(&t, 8, name);
  fpacked_i64(&t, 7, n, v);
  return t;
}

/* Attributes are appended to one Buf (a run of NodeProto field 5). */
static void attr_i(Buf *a, const char *name, int64_t v) {
  Buf m = {0};
  fstr(&m, 1, name);
  fv(&m, 20, 2);
  fv(&m, 3, (uint64_t)v);
  fmsg(a, 5, &m);
}
static void attr_f(Buf *a, const char *name, float v) {
  Buf m = {0};
  fstr(&m, 1, name);
  fv(&m, 20, 1);
  ff32(&m, 2, v);
  fmsg(a, 5, &m);
}
static void attr_s(Buf *a, const char *name, const char *v) {
  Buf m = {0};
  fstr(&m, 1, name);
  fv(&m, 20, 3);
  fstr(&m, 4, v);
  fmsg(a, 5, &m);
}
static void attr_is(Buf *a, const char *name, int n, const int64_t *v) {
  Buf m = {0};
  fstr(&m, 1, name);
  fv(&m, 20, 7);
  fpacked_i64(&m, 8, n, v);
  fmsg(a, 5, &m);
}
static void attr_t(Buf *a, const char *name, Buf *t) {
  Buf m = {0};
  fstr(&m, 1, name);
  fv(&m, 20, 4);
  fmsg(&m, 5, t);
  fmsg(a, 5, &m);
}

/* Graph under construction: the GraphProto body. */
typedef struct G {
  Buf b;
} G;

/* ins/outs: comma-separated names ("x,,B" has an empty optional input). */
static void list(Buf *b, int field, const char *s) {
  if (!*s)
    return;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    fbytes(b, field, s, n);
    if (!e)
      break;
    s = e + 1;
  }
}

static void node(G *g, const char *op, const char *name, const char *ins, const char *outs, Buf *attrs) {
  Buf n = {0};
  list(&n, 1, ins);
  list(&n, 2, outs);
  if (name)
    fstr(&n, 3, name);
  fstr(&n, 4, op);
  if (attrs && attrs->n) {
    put(&n, attrs->p, attrs->n);
    free(attrs->p);
    *attrs = (Buf){0};
  }
  fmsg(&g->b, 1, &n);
}

static void init(G *g, Buf *t) { fmsg(&g->b, 5, t); }
static void init_f32(G *g, const char *name, int rank, const int64_t *dims, const float *data) {
  Buf t = tensor_f32(name, rank, dims, data);
  init(g, &t);
}
static void init_i64(G *g, const char *name, int n, const int64_t *v) {
  Buf t = tensor_i64(name, n, v);
  init(g, &t);
}

/* ValueInfoProto; a negative dim is symbolic ("N"). field 11 input, 12 output. */
static void vinfo(G *g, int field, const char *name, int elem, int rank, const int64_t *dims) {
  Buf shape = {0}, tt = {0}, ty = {0}, v = {0};
  for (int i = 0; i < rank; i++) {
    Buf d = {0};
    if (dims[i] < 0)
      fstr(&d, 2, "N");
    else
      fv(&d, 1, (uint64_t)dims[i]);
    fmsg(&shape, 1, &d);
  }
  fv(&tt, 1, (uint64_t)elem);
  if (rank >= 0)
    fmsg(&tt, 2, &shape);
  fmsg(&ty, 1, &tt);
  fstr(&v, 1, name);
  fmsg(&v, 2, &ty);
  fmsg(&g->b, field, &v);
}
static void input(G *g, const char *name, int rank, const int64_t *dims) { vinfo(g, 11, name, FLOAT, rank, dims); }
static void output(G *g, const char *name) { vinfo(g, 12, name, FLOAT, -1, NULL); }

/* ModelProto bytes: ir_version (if > 0), one opset import (if opset > 0). */
static Buf model(int64_t ir, const char *domain, int64_t opset, G *g) {
  Buf m = {0};
  if (ir > 0)
    fv(&m, 1, (uint64_t)ir);
  if (opset > 0) {
    Buf o = {0};
    fstr(&o, 1, domain);
    fv(&o, 2, (uint64_t)opset);
    fmsg(&m, 8, &o);
  }
  fstr(&m, 2, "unit_onnx");
  if (g)
    fmsg(&m, 7, &g->b);
  return m;
}

static const char *write_file(const char *name, const void *p, size_t n) {
  const char *path = cnnc_fmt("%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  return path;
}

static Options opts(int batch) {
  Options o = {0};
  o.batch = batch;
  o.opt_level = 2;
  return o;
}

/* Load model bytes; returns the graph (NULL on error) and the number of new errors. */
static Graph *load_bytes(const char *name, Buf *m, int batch, int *nerr) {
  const char *path = write_file(name, m->p, m->n);
  free(m->p);
  *m = (Buf){0};
  int before = diag_count();
  Options o = opts(batch);
  Graph *g = onnx_load(path, &o);
  *nerr = diag_count() - before;
  if (g)
    ir_verify(g, "onnx_load");
  return g;
}

/* The model must be refused with at least one diagnostic. */
static void expect_error(const char *label, Buf *m) {
  int nerr;
  fprintf(stderr, "--- %s (expect error)\n", label);
  Graph *g = load_bytes(cnnc_fmt("%s.onnx", label), m, 1, &nerr);
  if (g || nerr == 0)
    fprintf(stderr, "%s: expected an error\n", label);
  CHECK(g == NULL);
  CHECK(nerr > 0);
}

static Graph *expect_ok(const char *label, Buf *m, int batch) {
  int nerr;
  Graph *g = load_bytes(cnnc_fmt("%s.onnx", label), m, batch, &nerr);
  if (!g || nerr)
    fprintf(stderr, "%s: expected success\n", label);
  CHECK(g != NULL);
  CHECK(nerr == 0);
  return g;
}

static Node *find_op(Graph *g, OpKind op, int nth) {
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i]->op == op && nth-- == 0)
      return g->nodes[i];
  return NULL;
}

static int count_op(Graph *g, OpKind op) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++)
    n += g->nodes[i]->op == op;
  return n;
}

static const int64_t D_X[] = {1, 3, 8, 8};

/* A valid conv -> relu model with input x [1,3,8,8] and output y. */
static G conv_relu_graph(void) {
  G g = {0};
  int64_t wd[] = {4, 3, 3, 3};
  init_f32(&g, "conv.weight", 4, wd, NULL);
  input(&g, "x", 4, D_X);
  Buf a = {0};
  attr_is(&a, "pads", 4, (int64_t[]){1, 1, 1, 1});
  node(&g, "Conv", "conv", "x,conv.weight", "c", &a);
  node(&g, "Relu", "relu", "c", "y", NULL);
  output(&g, "y");
  return g;
}

/* ============================================================ protobuf */

static void test_protobuf(void) {
  PbInput in;
  PbReader r, s;
  PbField f;
  /* A varint of 11 bytes and one overflowing 64 bits. */
  uint8_t bad1[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  int before = diag_count();
  CHECK(pb_open(&in, &r, "mem", bad1, sizeof bad1));
  CHECK(!pb_next(&r, &f) && in.failed && diag_count() > before);
  uint8_t bad2[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  CHECK(pb_open(&in, &r, "mem", bad2, sizeof bad2));
  CHECK(!pb_next(&r, &f) && in.failed);
  /* The largest 64-bit varint is fine. */
  uint8_t ok1[] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  CHECK(pb_open(&in, &r, "mem", ok1, sizeof ok1));
  CHECK(pb_next(&r, &f) && f.num == 1 && f.u == UINT64_MAX && !in.failed);
  /* A length prefix past the end; a truncated fixed64; a group; field 0. */
  uint8_t bad3[] = {0x12, 0x80, 0x08, 'a', 'b'};
  CHECK(pb_open(&in, &r, "mem", bad3, sizeof bad3));
  CHECK(!pb_next(&r, &f) && in.failed);
  uint8_t bad4[] = {0x09, 1, 2, 3};
  CHECK(pb_open(&in, &r, "mem", bad4, sizeof bad4));
  CHECK(!pb_next(&r, &f) && in.failed);
  uint8_t bad5[] = {0x0b, 0x0c};
  CHECK(pb_open(&in, &r, "mem", bad5, sizeof bad5));
  CHECK(!pb_next(&r, &f) && in.failed);
  uint8_t bad6[] = {0x00, 0x01};
  CHECK(pb_open(&in, &r, "mem", bad6, sizeof bad6));
  CHECK(!pb_next(&r, &f) && in.failed);
  /* After a failure every call fails. */
  CHECK(!pb_next(&r, &f));

  /* Nesting deeper than PB_MAX_DEPTH is refused by pb_enter. */
  Buf deep = {0};
  fv(&deep, 1, 7);
  for (int i = 0; i < PB_MAX_DEPTH + 8; i++) {
    Buf outer = {0};
    fmsg(&outer, 1, &deep);
    deep = outer;
  }
  CHECK(pb_open(&in, &r, "mem", deep.p, deep.n));
  int depth = 0;
  PbReader cur = r;
  while (pb_next(&cur, &f) && f.wire == PB_LEN && pb_enter(&cur, &f, &s)) {
    cur = s;
    depth++;
  }
  CHECK(in.failed);
  CHECK(depth == PB_MAX_DEPTH);
  free(deep.p);

  /* Packed and unpacked repeated fields; a packed run ending mid-varint. */
  Buf rep = {0};
  fpacked_i64(&rep, 1, 3, (int64_t[]){1, -2, 300});
  fv(&rep, 1, 4);
  CHECK(pb_open(&in, &r, "mem", rep.p, rep.n));
  int64_t *v = NULL;
  size_t n = 0, cap = 0;
  while (pb_next(&r, &f))
    CHECK(pb_get_i64s(&r, &f, &v, &n, &cap));
  CHECK(!in.failed && n == 4 && v[0] == 1 && v[1] == -2 && v[2] == 300 && v[3] == 4);
  free(v);
  free(rep.p);
  uint8_t bad7[] = {0x0a, 0x02, 0x01, 0x80};
  CHECK(pb_open(&in, &r, "mem", bad7, sizeof bad7));
  v = NULL, n = cap = 0;
  CHECK(pb_next(&r, &f) && !pb_get_i64s(&r, &f, &v, &n, &cap) && in.failed);
  free(v);
  /* Packed floats must be a multiple of 4 bytes; strings must not hold NUL. */
  uint8_t bad8[] = {0x0a, 0x03, 0, 0, 0};
  CHECK(pb_open(&in, &r, "mem", bad8, sizeof bad8));
  float *fl = NULL;
  n = cap = 0;
  CHECK(pb_next(&r, &f) && !pb_get_f32s(&r, &f, &fl, &n, &cap) && in.failed);
  uint8_t bad9[] = {0x0a, 0x03, 'a', 0, 'b'};
  const char *str;
  CHECK(pb_open(&in, &r, "mem", bad9, sizeof bad9));
  CHECK(pb_next(&r, &f) && !pb_get_str(&r, &f, &str) && in.failed);
}

/* ============================================================ B: bad files */

static void test_bad_files(void) {
  /* B1: empty file, not protobuf, truncated model. */
  Buf e = {0};
  put(&e, "", 0);
  expect_error("empty", &e);
  Buf txt = {0};
  put(&txt, "hello, I am not an ONNX model\n", 30);
  expect_error("text", &txt);
  G g = conv_relu_graph();
  Buf m = model(8, "", 13, &g);
  for (size_t cut = 1; cut < m.n; cut += m.n / 7 + 1) {
    Buf t = {0};
    put(&t, m.p, cut);
    expect_error(cnnc_fmt("truncated_%zu", cut), &t);
  }
  free(m.p);
  /* B3: a length prefix that overflows the buffer, inside the graph. */
  Buf lo = {0};
  fv(&lo, 1, 8);
  tag(&lo, 7, 2);
  varint(&lo, (uint64_t)1 << 62);
  put(&lo, "xx", 2);
  expect_error("length_overflow", &lo);
  /* Bad varint at the top level. */
  Buf bv = {0};
  put(&bv, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12);
  expect_error("bad_varint", &bv);
  /* F6: a directory and a FIFO as the model. */
  int before = diag_count();
  Options o = opts(1);
  CHECK(onnx_load(tmpdir, &o) == NULL && diag_count() > before);
  const char *fifo = cnnc_fmt("%s/fifo.onnx", tmpdir);
  if (mkfifo(fifo, 0600) == 0) {
    before = diag_count();
    CHECK(onnx_load(fifo, &o) == NULL && diag_count() > before);
  }
  /* B11: a model over 2 GiB is refused before it is read (sparse file). */
  const char *huge = cnnc_fmt("%s/huge.onnx", tmpdir);
  int fd = open(huge, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd >= 0 && ftruncate(fd, (off_t)PB_MAX_INPUT + 16) == 0) {
    close(fd);
    before = diag_count();
    CHECK(onnx_load(huge, &o) == NULL && diag_count() > before);
  } else if (fd >= 0) {
    close(fd);
  }
  unlink(huge);
}

/* B4, B5: versions, opsets and domains. */
static void test_bad_versions(void) {
  G g = conv_relu_graph();
  Buf m = model(0, "", 13, &g);
  expect_error("no_ir_version", &m);
  g = conv_relu_graph();
  m = model(8, "", 0, &g);
  expect_error("no_opset", &m);
  g = conv_relu_graph();
  m = model(8, "", 9, &g);
  expect_error("opset_9", &m);
  g = conv_relu_graph();
  m = model(8, "", 18, &g);
  expect_error("opset_18", &m);
  g = conv_relu_graph();
  m = model(8, "com.example", 1, &g);
  expect_error("only_custom_opset", &m);
  m = model(8, "", 13, NULL);
  expect_error("no_graph", &m);

  /* A node in a custom domain. */
  g = conv_relu_graph();
  {
    Buf n = {0};
    list(&n, 1, "y");
    list(&n, 2, "z");
    fstr(&n, 3, "custom");
    fstr(&n, 4, "FusedThing");
    fstr(&n, 7, "com.microsoft");
    fmsg(&g.b, 1, &n);
    output(&g, "z");
  }
  m = model(8, "", 13, &g);
  expect_error("custom_domain", &m);

  /* All unsupported ops are reported in one run, each with its name. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "NonZero", "nz", "x", "a", NULL);
  node(&g, "Relu", NULL, "a", "b", NULL);
  node(&g, "Unique", NULL, "b", "c", NULL);
  output(&g, "c");
  m = model(8, "", 13, &g);
  int nerr;
  Graph *gr = load_bytes("unsupported.onnx", &m, 1, &nerr);
  CHECK(gr == NULL);
  CHECK(nerr == 2);

  /* B2: control flow, even nested 200 deep, is refused without recursion. */
  Buf sub = {0};
  for (int i = 0; i < 200; i++) {
    G inner = {0};
    Buf a = {0}, at = {0};
    fstr(&at, 1, "then_branch");
    fv(&at, 20, 5);
    if (sub.n)
      fmsg(&at, 6, &sub);
    fmsg(&a, 5, &at);
    node(&inner, "If", NULL, "c", "o", &a);
    sub = inner.b;
  }
  g = (G){0};
  input(&g, "x", 4, D_X);
  init_f32(&g, "c", 0, NULL, (float[]){1});
  {
    Buf n = {0}, at = {0};
    list(&n, 1, "c");
    list(&n, 2, "y");
    fstr(&n, 4, "If");
    fstr(&at, 1, "then_branch");
    fv(&at, 20, 5);
    fmsg(&at, 6, &sub);
    fmsg(&n, 5, &at);
    fmsg(&g.b, 1, &n);
  }
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("control_flow", &m);
}

/* B6-B8, D1, D2: tensors and attributes. */
static void test_bad_tensors(void) {
  int64_t wd[] = {4, 3, 3, 3};
  /* B8: raw_data shorter than the dims say. */
  G g = {0};
  {
    Buf t = {0};
    for (int i = 0; i < 4; i++)
      fv(&t, 1, (uint64_t)wd[i]);
    fv(&t, 2, FLOAT);
    fstr(&t, 8, "conv.weight");
    fbytes(&t, 9, "\0\0\0\0\0\0\0\0", 8);
    init(&g, &t);
  }
  input(&g, "x", 4, D_X);
  node(&g, "Conv", "conv", "x,conv.weight", "y", NULL);
  output(&g, "y");
  Buf m = model(8, "", 13, &g);
  expect_error("raw_data_length", &m);

  /* B7: two value fields; no value field; data_type UNDEFINED and STRING. */
  for (int variant = 0; variant < 5; variant++) {
    g = (G){0};
    Buf t = {0};
    fv(&t, 1, 2);
    if (variant != 2)
      fv(&t, 2, variant == 3 ? STRING : variant == 4 ? 14 : FLOAT);
    fstr(&t, 8, "c");
    if (variant == 0) {
      fbytes(&t, 9, "\0\0\0\0\0\0\0\0", 8);
      ff32(&t, 4, 1.0f);
      ff32(&t, 4, 2.0f);
    } else if (variant != 1) {
      fbytes(&t, 9, "\0\0\0\0\0\0\0\0", 8);
    }
    init(&g, &t);
    input(&g, "x", 2, (int64_t[]){1, 2});
    node(&g, "Add", "add", "x,c", "y", NULL);
    output(&g, "y");
    m = model(8, "", 13, &g);
    expect_error(cnnc_fmt("value_fields_%d", variant), &m);
  }
  /* float_data count differs from numel; typed field of the wrong type. */
  g = (G){0};
  {
    Buf t = {0};
    fv(&t, 1, 3);
    fv(&t, 2, FLOAT);
    fstr(&t, 8, "c");
    ff32(&t, 4, 1.0f);
    init(&g, &t);
    Buf u = {0};
    fv(&u, 1, 1);
    fv(&u, 2, FLOAT);
    fstr(&u, 8, "d");
    fpacked_i64(&u, 7, 1, (int64_t[]){1});
    init(&g, &u);
  }
  input(&g, "x", 2, (int64_t[]){1, 3});
  node(&g, "Add", "add", "x,c", "y", NULL);
  node(&g, "Add", "add2", "y,d", "z", NULL);
  output(&g, "z");
  m = model(8, "", 13, &g);
  expect_error("typed_count", &m);

  /* D1: a negative dim; D2: dims whose product overflows. */
  g = (G){0};
  {
    Buf t = {0};
    fv(&t, 1, (uint64_t)(int64_t)-3);
    fv(&t, 2, FLOAT);
    fstr(&t, 8, "c");
    fbytes(&t, 9, "", 0);
    init(&g, &t);
  }
  input(&g, "x", 2, (int64_t[]){1, 3});
  node(&g, "Add", "add", "x,c", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("negative_dim", &m);
  g = (G){0};
  {
    Buf t = {0};
    fv(&t, 1, (uint64_t)1 << 40);
    fv(&t, 1, (uint64_t)1 << 40);
    fv(&t, 2, FLOAT);
    fstr(&t, 8, "c");
    fbytes(&t, 9, "\0\0\0\0", 4);
    init(&g, &t);
  }
  input(&g, "x", 2, (int64_t[]){1, 3});
  node(&g, "Add", "add", "x,c", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("dims_overflow", &m);

  /* B6: an attribute of the wrong type; two value fields; unknown name;
   * a required input missing; too many inputs. */
  for (int variant = 0; variant < 5; variant++) {
    g = (G){0};
    init_f32(&g, "w", 4, wd, NULL);
    input(&g, "x", 4, D_X);
    Buf a = {0};
    if (variant == 0) {
      attr_f(&a, "group", 1.0f);
    } else if (variant == 1) {
      Buf at = {0};
      fstr(&at, 1, "group");
      fv(&at, 3, 1);
      ff32(&at, 2, 1.0f);
      fmsg(&a, 5, &at);
    } else if (variant == 2) {
      attr_i(&a, "grup", 1);
    }
    const char *ins = variant == 3 ? ",w" : variant == 4 ? "x,w,w,w" : "x,w";
    node(&g, "Conv", "conv", ins, "y", &a);
    output(&g, "y");
    m = model(8, "", 13, &g);
    expect_error(cnnc_fmt("bad_attr_%d", variant), &m);
  }

  /* E10-style: NaN in a weight. */
  g = (G){0};
  float *nanw = calloc(108, sizeof(float));
  nanw[5] = NAN;
  init_f32(&g, "w", 4, wd, nanw);
  free(nanw);
  input(&g, "x", 4, D_X);
  node(&g, "Conv", "conv", "x,w", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("nan_weight", &m);
}

/* C1-C8: graph structure. */
static void test_bad_graphs(void) {
  G g = {0};
  /* C3: two producers of one name. */
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y", NULL);
  node(&g, "Sigmoid", "b", "x", "y", NULL);
  output(&g, "y");
  Buf m = model(8, "", 13, &g);
  expect_error("duplicate_producer", &m);
  /* C7: an initializer that a node also writes. */
  g = (G){0};
  init_f32(&g, "y", 1, (int64_t[]){1}, NULL);
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("initializer_produced", &m);
  /* C3: duplicate initializer, duplicate input, duplicate node name. */
  g = (G){0};
  init_f32(&g, "c", 1, (int64_t[]){1}, NULL);
  init_f32(&g, "c", 1, (int64_t[]){1}, NULL);
  input(&g, "x", 4, D_X);
  node(&g, "Add", "a", "x,c", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("duplicate_initializer", &m);
  g = (G){0};
  input(&g, "x", 4, D_X);
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("duplicate_input", &m);
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y1", NULL);
  node(&g, "Relu", "a", "y1", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("duplicate_node_name", &m);
  /* C2: an input nobody defines. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Add", "a", "x,ghost", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("undefined_input", &m);
  /* C1: a two-node cycle and a node reading its own output. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Add", "a", "x,q", "p", NULL);
  node(&g, "Relu", "b", "p", "q", NULL);
  output(&g, "q");
  m = model(8, "", 13, &g);
  expect_error("cycle", &m);
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Add", "a", "x,y", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("self_loop", &m);
  /* C4/C8: an output nobody produces; no outputs; a node without outputs. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y", NULL);
  output(&g, "nothing");
  m = model(8, "", 13, &g);
  expect_error("output_not_produced", &m);
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y", NULL);
  m = model(8, "", 13, &g);
  expect_error("no_outputs", &m);
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "", NULL);
  node(&g, "Relu", "b", "x", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("node_without_outputs", &m);
  /* An output that is the graph input itself. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  output(&g, "x");
  m = model(8, "", 13, &g);
  expect_error("output_is_input", &m);
}

/* D3-D10: shapes and attribute values. */
static void test_bad_shapes(void) {
  int64_t wd[] = {4, 3, 3, 3};
  /* D8: a symbolic non-batch dim. */
  G g = {0};
  input(&g, "x", 4, (int64_t[]){-1, 3, -1, 8});
  node(&g, "Relu", "a", "x", "y", NULL);
  output(&g, "y");
  Buf m = model(8, "", 13, &g);
  expect_error("symbolic_dim", &m);
  /* Not float32, and no shape. */
  g = (G){0};
  vinfo(&g, 11, "x", INT64, 2, (int64_t[]){1, 3});
  node(&g, "Relu", "a", "x", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("int_input", &m);
  g = (G){0};
  vinfo(&g, 11, "x", FLOAT, -1, NULL);
  node(&g, "Relu", "a", "x", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("no_shape", &m);
  /* D4: zero stride, negative pads, group not dividing the channels. */
  for (int variant = 0; variant < 4; variant++) {
    g = (G){0};
    init_f32(&g, "w", 4, variant == 2 ? (int64_t[]){4, 2, 3, 3} : wd, NULL);
    input(&g, "x", 4, D_X);
    Buf a = {0};
    if (variant == 0)
      attr_is(&a, "strides", 2, (int64_t[]){0, 1});
    else if (variant == 1)
      attr_is(&a, "pads", 4, (int64_t[]){-1, 0, 0, 0});
    else if (variant == 2)
      attr_i(&a, "group", 2);
    else
      attr_is(&a, "kernel_shape", 2, (int64_t[]){5, 5});
    node(&g, "Conv", "conv", "x,w", "y", &a);
    output(&g, "y");
    m = model(8, "", 13, &g);
    expect_error(cnnc_fmt("conv_attrs_%d", variant), &m);
  }
  /* D3: a kernel larger than the input. */
  g = (G){0};
  init_f32(&g, "w", 4, (int64_t[]){4, 3, 9, 9}, NULL);
  input(&g, "x", 4, D_X);
  node(&g, "Conv", "conv", "x,w", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("kernel_too_big", &m);
  /* D5: axis out of range. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  Buf a = {0};
  attr_i(&a, "axis", 7);
  node(&g, "Softmax", "sm", "x", "y", &a);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("axis_range", &m);
  /* D6: Gemm K mismatch; a reshape that mixes samples. */
  g = (G){0};
  init_f32(&g, "B", 2, (int64_t[]){7, 5}, NULL);
  input(&g, "x", 2, (int64_t[]){1, 6});
  node(&g, "Gemm", "fc", "x,B", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("gemm_k", &m);
  g = (G){0};
  init_i64(&g, "s", 2, (int64_t[]){-1, 8});
  input(&g, "x", 4, D_X);
  node(&g, "Reshape", "r", "x,s", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("reshape_batch", &m);
  /* D7: a declared output shape that differs from the inferred one. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "y", NULL);
  vinfo(&g, 12, "y", FLOAT, 4, (int64_t[]){1, 3, 8, 9});
  m = model(8, "", 13, &g);
  expect_error("declared_shape", &m);
  /* D10: a constant Gather index out of range. */
  g = (G){0};
  init_i64(&g, "idx", 1, (int64_t[]){9});
  input(&g, "x", 4, D_X);
  a = (Buf){0};
  attr_i(&a, "axis", 0);
  node(&g, "Shape", "sh", "x", "s", NULL);
  node(&g, "Gather", "ga", "s,idx", "d", &a);
  node(&g, "Reshape", "r", "x,d", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("gather_range", &m);
  /* Division of two computed tensors is refused (named). */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "a", "x", "r", NULL);
  node(&g, "Div", "d", "x,r", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  expect_error("div_runtime", &m);
}

/* F1-F6: external data. */
static const char *ext_model(const char *label, const char *location, const char *offset, const char *length,
                             bool also_raw, const char *extra_key) {
  G g = {0};
  Buf t = {0};
  fv(&t, 1, 2);
  fv(&t, 2, FLOAT);
  fstr(&t, 8, "c");
  if (also_raw)
    fbytes(&t, 9, "\0\0\0\0\0\0\0\0", 8);
  const char *keys[] = {"location", "offset", "length", extra_key};
  const char *vals[] = {location, offset, length, "1"};
  for (int i = 0; i < 4; i++) {
    if (!vals[i] || !keys[i])
      continue;
    Buf e = {0};
    fstr(&e, 1, keys[i]);
    fstr(&e, 2, vals[i]);
    fmsg(&t, 13, &e);
  }
  fv(&t, 14, 1);
  init(&g, &t);
  input(&g, "x", 2, (int64_t[]){1, 2});
  node(&g, "Add", "add", "x,c", "y", NULL);
  output(&g, "y");
  Buf m = model(8, "", 13, &g);
  const char *path = write_file(cnnc_fmt("%s.onnx", label), m.p, m.n);
  free(m.p);
  return path;
}

static Graph *load_path(const char *path, int *nerr) {
  int before = diag_count();
  Options o = opts(1);
  Graph *g = onnx_load(path, &o);
  *nerr = diag_count() - before;
  return g;
}

static void test_external(void) {
  float vals[4] = {1.5f, -2.0f, 3.25f, 4.0f};
  write_file("weights.bin", vals, sizeof vals);
  mkdir(cnnc_fmt("%s/sub", tmpdir), 0700);
  write_file("sub/w.bin", vals, sizeof vals);
  int nerr;
  /* Positive: offset 4, length 8 -> {-2, 3.25}; and a file in a subdirectory. */
  Graph *g = load_path(ext_model("ext_ok", "weights.bin", "4", "8", false, NULL), &nerr);
  CHECK(g && nerr == 0);
  if (g) {
    Node *n = find_op(g, OP_ADD, 0);
    CHECK(n && n->in[1]->kind == TK_CONST && n->in[1]->data[0] == -2.0f && n->in[1]->data[1] == 3.25f);
  }
  g = load_path(ext_model("ext_sub", "sub/./w.bin", NULL, "8", false, NULL), &nerr);
  CHECK(g && nerr == 0);

  struct {
    const char *label, *loc, *off, *len, *extra;
    bool raw;
  } bad[] = {
    {"ext_dotdot", "../weights.bin", NULL, "8", NULL, false},
    {"ext_dotdot2", "sub/../../etc/passwd", NULL, "8", NULL, false},
    {"ext_abs", "/etc/passwd", NULL, "8", NULL, false},
    {"ext_drive", "C:weights.bin", NULL, "8", NULL, false},
    {"ext_backslash", "sub\\w.bin", NULL, "8", NULL, false},
    {"ext_missing", "nope.bin", NULL, "8", NULL, false},
    {"ext_range", "weights.bin", "12", "8", NULL, false},
    {"ext_wrap", "weights.bin", "9223372036854775807", "8", NULL, false},
    {"ext_neg", "weights.bin", "-4", "8", NULL, false},
    {"ext_text", "weights.bin", "4x", "8", NULL, false},
    {"ext_len", "weights.bin", "0", "12", NULL, false},
    {"ext_key", "weights.bin", NULL, "8", "owner", false},
    {"ext_and_raw", "weights.bin", NULL, "8", NULL, true},
    {"ext_dir", "sub", NULL, "8", NULL, false},
    {"ext_empty", "", NULL, "8", NULL, false},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    fprintf(stderr, "--- %s (expect error)\n", bad[i].label);
    g = load_path(ext_model(bad[i].label, bad[i].loc, bad[i].off, bad[i].len, bad[i].raw, bad[i].extra), &nerr);
    CHECK(g == NULL && nerr > 0);
  }
  /* F2: a symlink as the file and as a parent directory; F3: a hard link. */
  const char *outside = cnnc_fmt("%s/outside", tmpdir);
  mkdir(outside, 0700);
  write_file("outside/secret.bin", vals, sizeof vals);
  CHECK(symlink(cnnc_fmt("%s/secret.bin", outside), cnnc_fmt("%s/link.bin", tmpdir)) == 0);
  CHECK(symlink(outside, cnnc_fmt("%s/linkdir", tmpdir)) == 0);
  CHECK(link(cnnc_fmt("%s/secret.bin", outside), cnnc_fmt("%s/hard.bin", tmpdir)) == 0);
  const char *links[] = {"link.bin", "linkdir/secret.bin", "hard.bin"};
  for (int i = 0; i < 3; i++) {
    fprintf(stderr, "--- link %s (expect error)\n", links[i]);
    g = load_path(ext_model(cnnc_fmt("ext_link%d", i), links[i], NULL, "8", false, NULL), &nerr);
    CHECK(g == NULL && nerr > 0);
  }
}

/* ============================================================ positive */

static void test_convert_basic(void) {
  /* conv (SAME_UPPER, stride 2) -> bn -> relu -> maxpool -> flatten -> gemm (transB=0) */
  G g = {0};
  float w[4 * 3 * 3 * 3], bnp[4] = {1, 2, 3, 4}, B[4 * 4 * 2 * 2 / 4 * 5];
  for (int i = 0; i < 108; i++)
    w[i] = (float)i / 100;
  for (int i = 0; i < (int)(sizeof B / sizeof *B); i++)
    B[i] = (float)i;
  init_f32(&g, "c.w", 4, (int64_t[]){4, 3, 3, 3}, w);
  init_f32(&g, "bn.s", 1, (int64_t[]){4}, bnp);
  init_f32(&g, "bn.b", 1, (int64_t[]){4}, bnp);
  init_f32(&g, "bn.m", 1, (int64_t[]){4}, bnp);
  init_f32(&g, "bn.v", 1, (int64_t[]){4}, bnp);
  init_f32(&g, "fc.B", 2, (int64_t[]){16, 5}, B);
  init_f32(&g, "fc.C", 1, (int64_t[]){5}, (float[]){1, 2, 3, 4, 5});
  input(&g, "x", 4, (int64_t[]){-1, 3, 8, 8});
  Buf a = {0};
  attr_s(&a, "auto_pad", "SAME_UPPER");
  attr_is(&a, "strides", 2, (int64_t[]){2, 2});
  attr_is(&a, "kernel_shape", 2, (int64_t[]){3, 3});
  node(&g, "Conv", NULL, "x,c.w", "c", &a);
  a = (Buf){0};
  attr_f(&a, "epsilon", 1e-3f);
  node(&g, "BatchNormalization", "bn", "c,bn.s,bn.b,bn.m,bn.v", "b", &a);
  node(&g, "Relu", NULL, "b", "r", NULL);
  a = (Buf){0};
  attr_is(&a, "kernel_shape", 2, (int64_t[]){2, 2});
  attr_is(&a, "strides", 2, (int64_t[]){2, 2});
  node(&g, "MaxPool", "pool", "r", "p", &a);
  node(&g, "Flatten", "flat", "p", "f", NULL);
  a = (Buf){0};
  attr_f(&a, "beta", 2.0f);
  node(&g, "Gemm", "fc", "f,fc.B,fc.C", "y", &a);
  vinfo(&g, 12, "y", FLOAT, 2, (int64_t[]){-1, 5});
  Buf m = model(8, "", 13, &g);
  Graph *gr = expect_ok("basic", &m, 3);
  if (!gr)
    return;
  CHECK(!strcmp(gr->name, "basic"));
  CHECK(gr->batch == 3 && gr->ninputs == 1 && gr->inputs[0]->shape.d[0] == 3);
  CHECK(gr->nnodes == 6);
  Node *c = find_op(gr, OP_CONV2D, 0);
  CHECK(c && !strcmp(c->name, "Conv_0"));
  /* SAME_UPPER, in 8, stride 2, k 3: out 4, total pad 1 -> (0, 1). */
  CHECK(c && c->pad[0] == 0 && c->pad[1] == 0 && c->pad[2] == 1 && c->pad[3] == 1 && c->stride[0] == 2);
  CHECK(c && c->out->shape.d[0] == 3 && c->out->shape.d[2] == 4 && !c->has_bias && !c->bias);
  CHECK(c && c->weight && !strcmp(c->weight->name, "c.w") && c->weight->data[7] == w[7]);
  Node *bn = find_op(gr, OP_BATCHNORM2D, 0);
  CHECK(bn && bn->mean && bn->var && bn->var->kind == TK_BUFFER && fabs(bn->eps - 1e-3) < 1e-9);
  CHECK(bn && !strcmp(bn->weight->name, "bn.s") && !strcmp(bn->var->name, "bn.v"));
  Node *fc = find_op(gr, OP_LINEAR, 0);
  CHECK(fc && fc->out_ch == 5 && fc->weight->shape.d[0] == 5 && fc->weight->shape.d[1] == 16);
  /* transB=0: W[n][k] = B[k][n]. */
  CHECK(fc && fc->weight->data[1 * 16 + 2] == B[2 * 5 + 1]);
  CHECK(fc && fc->bias && fc->bias->data[4] == 10.0f);
  CHECK(gr->noutputs == 1 && gr->outputs[0]->shape.d[0] == 3 && gr->outputs[0]->shape.d[1] == 5);
}

static void test_convert_patterns(void) {
  /* Conv + Add(const [1,C,1,1]) folds into the bias; MatMul + Add into a linear. */
  G g = {0};
  init_f32(&g, "w", 4, (int64_t[]){2, 3, 1, 1}, NULL);
  init_f32(&g, "cb", 4, (int64_t[]){1, 2, 1, 1}, (float[]){0.5f, -1.5f});
  init_f32(&g, "M", 2, (int64_t[]){128, 3}, NULL);
  init_f32(&g, "mb", 1, (int64_t[]){3}, (float[]){7, 8, 9});
  init_i64(&g, "shape2", 2, (int64_t[]){1, -1});
  input(&g, "x", 4, D_X);
  node(&g, "Conv", "conv", "x,w", "c", NULL);
  node(&g, "Add", "add", "c,cb", "d", NULL);
  node(&g, "Reshape", "r", "d,shape2", "f", NULL);
  node(&g, "MatMul", "mm", "f,M", "h", NULL);
  node(&g, "Add", "add2", "mb,h", "y", NULL);
  output(&g, "y");
  Buf m = model(8, "", 13, &g);
  Graph *gr = expect_ok("fold_bias", &m, 2);
  if (gr) {
    CHECK(count_op(gr, OP_ADD) == 0);
    Node *c = find_op(gr, OP_CONV2D, 0);
    CHECK(c && c->has_bias && c->bias && c->bias->data[0] == 0.5f && c->bias->data[1] == -1.5f);
    Node *r = find_op(gr, OP_RESHAPE, 0);
    CHECK(r && r->out->shape.d[0] == 2 && r->out->shape.d[1] == 128); /* the file's batch 1 -> 2 */
    Node *l = find_op(gr, OP_LINEAR, 0);
    CHECK(l && l->bias && l->bias->data[2] == 9.0f && !strcmp(l->bias->name, "mb"));
  }

  /* x.view(x.size(0), -1) as Shape/Gather/Unsqueeze/Concat/Reshape. */
  g = (G){0};
  init_i64(&g, "zero", 0, NULL);
  {
    Buf t = {0};
    fv(&t, 2, INT64);
    fstr(&t, 8, "i0");
    fpacked_i64(&t, 7, 1, (int64_t[]){0});
    init(&g, &t); /* a scalar index (rank 0) */
  }
  init_i64(&g, "minus1", 1, (int64_t[]){-1});
  input(&g, "x", 4, D_X);
  Buf a = {0};
  attr_i(&a, "axis", 0);
  node(&g, "Shape", "sh", "x", "s", NULL);
  node(&g, "Gather", "ga", "s,i0", "n", &a);
  a = (Buf){0};
  attr_is(&a, "axes", 1, (int64_t[]){0});
  node(&g, "Unsqueeze", "un", "n", "n1", &a); /* opset 11 style: axes attribute */
  a = (Buf){0};
  attr_i(&a, "axis", 0);
  node(&g, "Concat", "cat", "n1,minus1", "shp", &a);
  node(&g, "Reshape", "rs", "x,shp", "y", NULL);
  output(&g, "y");
  m = model(6, "", 11, &g);
  gr = expect_ok("view_pattern", &m, 4);
  if (gr) {
    CHECK(gr->nnodes == 1 && gr->nodes[0]->op == OP_RESHAPE);
    CHECK(gr->outputs[0]->shape.rank == 2 && gr->outputs[0]->shape.d[0] == 4 && gr->outputs[0]->shape.d[1] == 192);
  }

  /* Softmax at opset 11 over axis 1 of a 4-D tensor: coerced to 2-D. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Softmax", "sm", "x", "y", NULL);
  output(&g, "y");
  m = model(6, "", 11, &g);
  gr = expect_ok("softmax11", &m, 1);
  if (gr) {
    CHECK(count_op(gr, OP_FLATTEN) == 1 && count_op(gr, OP_SOFTMAX) == 1 && count_op(gr, OP_RESHAPE) == 1);
    CHECK(gr->outputs[0]->shape.rank == 4);
  }
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Softmax", "sm", "x", "y", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  gr = expect_ok("softmax13", &m, 1);
  CHECK(gr && gr->nnodes == 1 && gr->nodes[0]->axis == 3);

  /* Clip(0, 6) from inputs; Clip(0, none) is a relu; Sub/Div by constants;
   * PRelu [C,1,1]; GlobalMaxPool; ReduceMean over H,W without keepdims. */
  g = (G){0};
  init_f32(&g, "zero", 0, NULL, (float[]){0});
  init_f32(&g, "six", 0, NULL, (float[]){6});
  init_f32(&g, "half", 1, (int64_t[]){1}, (float[]){0.5f});
  init_f32(&g, "slope", 3, (int64_t[]){3, 1, 1}, (float[]){0.1f, 0.2f, 0.3f});
  input(&g, "x", 4, D_X);
  node(&g, "Clip", "clip6", "x,zero,six", "a", NULL);
  node(&g, "Clip", "clip0", "a,zero,", "b", NULL);
  node(&g, "Sub", "sub", "b,half", "c", NULL);
  node(&g, "Div", "div", "c,half", "d", NULL);
  node(&g, "Sub", "rsub", "half,d", "e", NULL);
  node(&g, "PRelu", "prelu", "e,slope", "f", NULL);
  node(&g, "GlobalMaxPool", "gmp", "f", "gm", NULL);
  a = (Buf){0};
  attr_is(&a, "axes", 2, (int64_t[]){2, 3});
  attr_i(&a, "keepdims", 0);
  node(&g, "ReduceMean", "mean", "f", "mn", &a);
  output(&g, "gm");
  output(&g, "mn");
  m = model(8, "", 13, &g);
  gr = expect_ok("activations", &m, 1);
  if (gr) {
    Node *c6 = find_op(gr, OP_CLIP, 0);
    CHECK(c6 && c6->alpha == 0 && c6->beta == 6);
    CHECK(count_op(gr, OP_RELU) == 1);
    Node *sub = find_op(gr, OP_ADD, 0);
    CHECK(sub && sub->in[1]->kind == TK_CONST && sub->in[1]->data[0] == -0.5f);
    Node *div = find_op(gr, OP_MUL, 0);
    CHECK(div && div->in[1]->data[0] == 2.0f);
    Node *pr = find_op(gr, OP_PRELU, 0);
    CHECK(pr && pr->num_params == 3 && pr->weight->shape.rank == 1 && pr->weight->data[2] == 0.3f);
    Node *gm = find_op(gr, OP_MAXPOOL2D, 0);
    CHECK(gm && gm->kernel[0] == 8 && gm->kernel[1] == 8 && gm->out->shape.d[2] == 1);
    CHECK(count_op(gr, OP_GLOBAL_AVGPOOL) == 1);
    CHECK(gr->noutputs == 2 && gr->outputs[1]->shape.rank == 2 && gr->outputs[1]->shape.d[1] == 3);
  }

  /* Split into two channel halves, Resize x2 nearest, Pad reflect, Transpose. */
  g = (G){0};
  init_f32(&g, "scales", 1, (int64_t[]){4}, (float[]){1, 1, 2, 2});
  init_i64(&g, "pads", 8, (int64_t[]){0, 0, 1, 2, 0, 0, 1, 2});
  input(&g, "x", 4, (int64_t[]){1, 4, 5, 5});
  a = (Buf){0};
  attr_i(&a, "axis", 1);
  node(&g, "Split", "split", "x", "s0,s1", &a);
  a = (Buf){0};
  attr_s(&a, "coordinate_transformation_mode", "asymmetric");
  attr_s(&a, "nearest_mode", "floor");
  node(&g, "Resize", "up", "s0,,scales", "u", &a);
  a = (Buf){0};
  attr_s(&a, "mode", "reflect");
  node(&g, "Pad", "pad", "s1,pads", "p", &a);
  a = (Buf){0};
  attr_is(&a, "perm", 4, (int64_t[]){0, 1, 3, 2});
  node(&g, "Transpose", "tr", "p", "t", &a);
  output(&g, "u");
  output(&g, "t");
  m = model(8, "", 13, &g);
  gr = expect_ok("layout", &m, 1);
  if (gr) {
    Node *s0 = find_op(gr, OP_SLICE, 0), *s1 = find_op(gr, OP_SLICE, 1);
    CHECK(s0 && s0->axis == 1 && s0->slice_start == 0 && s0->slice_end == 2);
    CHECK(s1 && s1->slice_start == 2 && s1->slice_end == 4 && s1->out->shape.d[1] == 2);
    Node *up = find_op(gr, OP_UPSAMPLE, 0);
    CHECK(up && up->scale[0] == 2 && up->scale[1] == 2 && up->out->shape.d[3] == 10);
    Node *p = find_op(gr, OP_PAD, 0);
    CHECK(p && p->pad_mode == 1 && p->pad[0] == 1 && p->pad[1] == 2 && p->pad[3] == 2);
    CHECK(p && p->out->shape.d[2] == 7 && p->out->shape.d[3] == 9);
    Node *t = find_op(gr, OP_TRANSPOSE, 0);
    CHECK(t && t->out->shape.d[2] == 9 && t->out->shape.d[3] == 7);
  }

  /* Zero Pad folded into a following AveragePool (count_include_pad) and Conv. */
  g = (G){0};
  init_i64(&g, "pads", 8, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1});
  init_f32(&g, "w", 4, (int64_t[]){2, 3, 3, 3}, NULL);
  input(&g, "x", 4, D_X);
  node(&g, "Pad", "p1", "x,pads", "p", NULL);
  a = (Buf){0};
  attr_is(&a, "kernel_shape", 2, (int64_t[]){3, 3});
  node(&g, "AveragePool", "avg", "p", "y1", &a);
  node(&g, "Pad", "p2", "x,pads", "q", NULL);
  a = (Buf){0};
  attr_is(&a, "pads", 4, (int64_t[]){1, 0, 0, 0});
  node(&g, "Conv", "conv", "q,w", "y2", &a);
  output(&g, "y1");
  output(&g, "y2");
  m = model(8, "", 13, &g);
  gr = expect_ok("pad_fold", &m, 1);
  if (gr) {
    CHECK(count_op(gr, OP_PAD) == 0);
    Node *av = find_op(gr, OP_AVGPOOL2D, 0);
    CHECK(av && av->count_include_pad && av->pad[0] == 1 && av->pad[3] == 1 && av->in[0] == gr->inputs[0]);
    CHECK(av && av->out->shape.d[2] == 8);
    Node *cv = find_op(gr, OP_CONV2D, 0);
    CHECK(cv && cv->pad[0] == 2 && cv->pad[1] == 1 && cv->pad[2] == 1 && cv->out->shape.d[2] == 9);
  }

  /* Nodes out of order are sorted; an unused node is skipped; names from
   * the stem; Dropout/Identity are aliases; a Constant node feeds an Add. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Sigmoid", NULL, "h", "y", NULL);
  node(&g, "Add", NULL, "d,k", "h", NULL);
  a = (Buf){0};
  {
    Buf t = tensor_f32("", 1, (int64_t[]){1}, (float[]){2});
    attr_t(&a, "value", &t);
  }
  node(&g, "Constant", NULL, "", "k", &a);
  node(&g, "Dropout", NULL, "i", "d,mask", NULL);
  node(&g, "Identity", NULL, "x", "i", NULL);
  node(&g, "Tanh", "unused", "x", "z", NULL);
  output(&g, "y");
  m = model(8, "", 13, &g);
  gr = expect_ok("my-net.v2", &m, 1);
  if (gr) {
    CHECK(!strcmp(gr->name, "my_net_v2"));
    CHECK(gr->nnodes == 2 && gr->nodes[0]->op == OP_ADD && gr->nodes[1]->op == OP_SIGMOID);
    CHECK(!strcmp(gr->nodes[1]->name, "Sigmoid_0"));
    CHECK(gr->nodes[0]->in[0] == gr->inputs[0]);
  }

  /* Two outputs naming one tensor (through Identity) get separate tensors. */
  g = (G){0};
  input(&g, "x", 4, D_X);
  node(&g, "Relu", "r", "x", "y", NULL);
  node(&g, "Identity", "i", "y", "z", NULL);
  output(&g, "y");
  output(&g, "z");
  m = model(8, "", 13, &g);
  gr = expect_ok("two_names", &m, 1);
  CHECK(gr && gr->noutputs == 2 && gr->outputs[0] != gr->outputs[1] && count_op(gr, OP_DROPOUT) == 1);

  /* A 1-D conv + maxpool + ConvTranspose with output_shape. */
  g = (G){0};
  init_f32(&g, "w1", 3, (int64_t[]){6, 2, 3}, NULL);
  init_f32(&g, "wt", 4, (int64_t[]){2, 3, 3, 3}, NULL);
  input(&g, "x", 3, (int64_t[]){1, 2, 20});
  input(&g, "z", 4, (int64_t[]){1, 2, 5, 5});
  a = (Buf){0};
  attr_s(&a, "auto_pad", "SAME_LOWER");
  attr_is(&a, "dilations", 1, (int64_t[]){2});
  node(&g, "Conv", "c1", "x,w1", "c", &a);
  a = (Buf){0};
  attr_is(&a, "kernel_shape", 1, (int64_t[]){2});
  attr_is(&a, "strides", 1, (int64_t[]){2});
  node(&g, "MaxPool", "mp", "c", "y1", &a);
  a = (Buf){0};
  attr_is(&a, "strides", 2, (int64_t[]){2, 2});
  attr_is(&a, "output_shape", 2, (int64_t[]){10, 10});
  node(&g, "ConvTranspose", "ct", "z,wt", "y2", &a);
  output(&g, "y1");
  output(&g, "y2");
  m = model(8, "", 13, &g);
  gr = expect_ok("conv1d", &m, 1);
  if (gr) {
    Node *c1 = find_op(gr, OP_CONV1D, 0);
    CHECK(c1 && c1->kernel[1] == 3 && c1->dilation[1] == 2 && c1->pad[1] == 2 && c1->pad[3] == 2);
    CHECK(c1 && c1->out->shape.d[2] == 20);
    Node *mp = find_op(gr, OP_MAXPOOL1D, 0);
    CHECK(mp && mp->out->shape.d[2] == 10);
    Node *ct = find_op(gr, OP_CONV_TRANSPOSE2D, 0);
    /* total pad = 2*4 + 3 - 10 = 1: NOTSET puts the odd pixel first. */
    CHECK(ct && ct->pad[0] == 1 && ct->pad[2] == 0 && ct->out->shape.d[2] == 10 && ct->out_ch == 3);
  }
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/cnnc_unit_onnx_XXXXXX", base && *base && strlen(base) < 32 ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_protobuf();
  test_bad_files();
  test_bad_versions();
  test_bad_tensors();
  test_bad_graphs();
  test_bad_shapes();
  test_external();
  test_convert_basic();
  test_convert_patterns();
  /* Remove the temp directory (files, links, one subdirectory level). */
  int rc = system(cnnc_fmt("rm -rf '%s'", tmpdir));
  (void)rc;
  fprintf(stderr, "unit_onnx: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
