/* onnx.c - the ONNX frontend: a .onnx file (opset 11..17) into the cnnc IR.
 *
 * Three phases, each finishing before the next starts:
 *  1. decode: the protobuf bytes (protobuf.c, bounded) into plain structs, plus
 *     per-tensor checks (one value field, raw_data length = numel * element
 *     size, non-negative dims) and external data read from the model's own
 *     directory only (no absolute paths, no `..`, no symlinks, no hard links);
 *  2. check the graph: opset imports, SSA (one producer per name, initializers
 *     never produced), every input defined, a topological order (sorted when
 *     the file is not, cycles refused), and which nodes reach an output;
 *  3. convert the live nodes in order.  Each ONNX value is either a runtime
 *     tensor of the IR or a host constant; shape arithmetic (Shape, Gather,
 *     Concat, Slice, Cast, ... on static shapes) is folded here, so the IR only
 *     sees the network itself.  Every unsupported op is reported in one run.
 *
 * Locations: ONNX is binary, so a SrcLoc is the file with line 1 and column =
 * byte offset + 1 of the offending message (the NodeProto for node errors, as
 * ir.h prescribes for binary files); every node message also names the node.
 * Node names are the ONNX names, or `<op_type>_<index>` (0-based index in the
 * file) when empty, made unique.  Parameters keep their initializer names.
 *
 * Batch: the IR batch is opt->batch (default 1) whatever the file's first
 * input dimension says (symbolic or a fixed 1); Reshape targets that spell the
 * file's batch explicitly are re-targeted, and ops that would mix samples
 * (reductions, reshapes or concats across dim 0) are refused.
 */
#define _GNU_SOURCE
#include "ir.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OX_MAX_RANK 8                        /* dims of any decoded or folded tensor */
#define OX_MAX_FOLD ((int64_t)1 << 24)       /* elements of a tensor made by folding */
#define OX_MAX_EXTERNAL ((int64_t)16 << 30)  /* bytes of external data in one model */
#define OX_MIN_OPSET 11
#define OX_MAX_OPSET 17

/* ------------------------------------------------------------ data types */

enum {
  OT_UNDEFINED, OT_FLOAT, OT_UINT8, OT_INT8, OT_UINT16, OT_INT16, OT_INT32, OT_INT64, OT_STRING, OT_BOOL,
  OT_FLOAT16, OT_DOUBLE, OT_UINT32, OT_UINT64, OT_COMPLEX64, OT_COMPLEX128, OT_BFLOAT16, OT__COUNT
};

/* TensorProto value fields, as bits (exactly one may be present). */
enum { VF_RAW = 1, VF_FLOAT = 2, VF_INT32 = 4, VF_STRING = 8, VF_INT64 = 16, VF_DOUBLE = 32, VF_UINT64 = 64 };

static const struct {
  const char *name;
  int size;  /* bytes per element in raw_data; 0 = unsupported */
  int field; /* the typed value field that may carry it */
} dtinfo[OT__COUNT] = {
  [OT_UNDEFINED] = {"UNDEFINED", 0, 0},         [OT_FLOAT] = {"FLOAT", 4, VF_FLOAT},
  [OT_UINT8] = {"UINT8", 1, VF_INT32},          [OT_INT8] = {"INT8", 1, VF_INT32},
  [OT_UINT16] = {"UINT16", 2, VF_INT32},        [OT_INT16] = {"INT16", 2, VF_INT32},
  [OT_INT32] = {"INT32", 4, VF_INT32},          [OT_INT64] = {"INT64", 8, VF_INT64},
  [OT_STRING] = {"STRING", 0, VF_STRING},       [OT_BOOL] = {"BOOL", 1, VF_INT32},
  [OT_FLOAT16] = {"FLOAT16", 2, VF_INT32},      [OT_DOUBLE] = {"DOUBLE", 8, VF_DOUBLE},
  [OT_UINT32] = {"UINT32", 4, VF_UINT64},       [OT_UINT64] = {"UINT64", 8, VF_UINT64},
  [OT_COMPLEX64] = {"COMPLEX64", 0, VF_FLOAT},  [OT_COMPLEX128] = {"COMPLEX128", 0, VF_DOUBLE},
  [OT_BFLOAT16] = {"BFLOAT16", 2, VF_INT32},
};

static const char *dt_name(int dt) { return dt >= 0 && dt < OT__COUNT ? dtinfo[dt].name : "(unknown)"; }
static bool dt_is_float(int dt) {
  return dt == OT_FLOAT || dt == OT_DOUBLE || dt == OT_FLOAT16 || dt == OT_BFLOAT16;
}

/* ------------------------------------------------------- decoded structs */

typedef struct OxTensor {
  const char *name;
  size_t off; /* byte offset of the TensorProto */
  int32_t dtype;
  bool has_dtype;
  int rank;
  int64_t dims[OX_MAX_RANK];
  int64_t numel;
  unsigned fields;    /* VF_* seen */
  const uint8_t *raw; /* raw_data, or the external bytes once loaded */
  size_t raw_len;
  bool raw_owned;     /* raw was malloc'ed (external data) */
  float *f32;         /* float_data */
  size_t nf32, capf32;
  int64_t *i64;       /* int32_data / int64_data / uint64_data */
  size_t ni64, capi64;
  double *f64;        /* double_data */
  size_t nf64, capf64;
  int32_t location;   /* data_location: 0 default, 1 external */
  const char *ext_location, *ext_offset, *ext_length;
  int next;           /* external_data entries */
  bool ok;            /* passed tensor_check() */
} OxTensor;

enum {
  AT_UNDEFINED = 0, AT_FLOAT = 1, AT_INT = 2, AT_STRING = 3, AT_TENSOR = 4, AT_GRAPH = 5, AT_FLOATS = 6,
  AT_INTS = 7, AT_STRINGS = 8, AT_TENSORS = 9, AT_GRAPHS = 10, AT_SPARSE_TENSOR = 11, AT_SPARSE_TENSORS = 12,
  AT_TYPE_PROTO = 13, AT_TYPE_PROTOS = 14
};

typedef struct OxAttr {
  const char *name;
  size_t off;
  int32_t type;   /* AT_*, inferred from the value field when the file leaves it 0 */
  unsigned seen;  /* bit (1 << AT_*) per value field present */
  float f;
  int64_t i;
  const char *s;
  OxTensor *t;
  float *floats;
  size_t nfloats, capfloats;
  int64_t *ints;
  size_t nints, capints;
} OxAttr;

typedef struct OxNode {
  const char *name, *op_type, *domain;
  size_t off;
  int index;
  const char **in, **out;
  int nin, nout, capin, capout;
  OxAttr *attrs;
  int nattrs, capattrs;
} OxNode;

typedef struct OxDim {
  int64_t value;
  const char *param; /* symbolic name, or NULL */
  bool has_value;
} OxDim;

typedef struct OxValueInfo {
  const char *name;
  size_t off;
  bool has_type, is_tensor, has_shape;
  int32_t elem;
  int rank;
  OxDim dims[OX_MAX_RANK];
} OxValueInfo;

typedef struct OxGraph {
  const char *name;
  OxNode *nodes;
  int nnodes, capnodes;
  OxTensor **inits;
  int ninits, capinits;
  OxValueInfo *inputs, *outputs, *vinfo;
  int ninputs, capinputs, noutputs, capoutputs, nvinfo, capvinfo;
} OxGraph;

typedef struct OxOpset {
  const char *domain;
  int64_t version;
  size_t off;
} OxOpset;

typedef struct OxModel {
  int64_t ir_version;
  bool has_ir_version, has_graph;
  OxOpset *opsets;
  int nopsets, capopsets;
  OxGraph graph;
} OxModel;

/* -------------------------------------------------------------- name map */

/* Open-addressing string map (FNV-1a); lookups only, never iterated, so the
 * hash order cannot leak into the output. */
typedef struct Map {
  const char **keys;
  void **vals;
  size_t cap, len;
} Map;

static uint64_t fnv1a(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

static void *map_get(const Map *m, const char *k) {
  if (!m->cap)
    return NULL;
  for (size_t i = fnv1a(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->keys[i])
      return NULL;
    if (!strcmp(m->keys[i], k))
      return m->vals[i];
  }
}

static void map_put(Map *m, const char *k, void *v) {
  if (2 * (m->len + 1) > m->cap) {
    Map n = {0};
    n.cap = m->cap ? 2 * m->cap : 64;
    n.keys = cnnc_alloc(n.cap * sizeof *n.keys);
    n.vals = cnnc_alloc(n.cap * sizeof *n.vals);
    for (size_t i = 0; i < m->cap; i++)
      if (m->keys[i])
        map_put(&n, m->keys[i], m->vals[i]);
    free(m->keys);
    free(m->vals);
    *m = n;
  }
  size_t i = fnv1a(k) & (m->cap - 1);
  while (m->keys[i] && strcmp(m->keys[i], k))
    i = (i + 1) & (m->cap - 1);
  if (!m->keys[i])
    m->len++;
  m->keys[i] = k;
  m->vals[i] = v;
}

/* --------------------------------------------------------------- context */

typedef struct Value Value;

typedef struct Cx {
  const char *path;
  const Options *opt;
  int dirfd;             /* the model's directory, for external data */
  int64_t ext_bytes;     /* external data read so far */
  OxModel model;
  int opset;             /* default-domain opset version */
  Graph *g;
  Map values;            /* ONNX value name -> Value */
  Map names;             /* IR names in use (nodes and tensors) */
  Map uses;              /* ONNX value name -> (intptr_t) number of live consumers */
  int file_batch;        /* the first input's dim 0 in the file (or g->batch) */
  int *tuses;            /* per IR tensor id: ONNX consumers still to convert */
  bool *tgout;           /* per IR tensor id: is (an alias of) a graph output */
  int ntmeta;
} Cx;

static SrcLoc at(Cx *cx, size_t off) {
  return loc_at(cx->path, 1, off < (size_t)INT32_MAX ? (int)off + 1 : INT32_MAX);
}

/* ============================================================ 1. decode */

static bool dec_tensor(Cx *cx, PbReader *r, OxTensor *t);

/* StringStringEntryProto of TensorProto.external_data. */
static bool dec_ext_entry(Cx *cx, PbReader *r, OxTensor *t, size_t off) {
  const char *key = NULL, *val = NULL;
  PbField f;
  while (pb_next(r, &f)) {
    if (f.num == 1 && !pb_get_str(r, &f, &key))
      return false;
    if (f.num == 2 && !pb_get_str(r, &f, &val))
      return false;
  }
  if (r->in->failed)
    return false;
  if (!key || !val) {
    diag_error(at(cx, off), "tensor '%s': external_data entry without key or value", t->name);
    return true;
  }
  const char **slot = !strcmp(key, "location") ? &t->ext_location
                      : !strcmp(key, "offset") ? &t->ext_offset
                      : !strcmp(key, "length") ? &t->ext_length
                                               : NULL;
  if (!strcmp(key, "checksum"))
    return true; /* informative only */
  if (!slot) {
    diag_error(at(cx, off), "tensor '%s': unknown external_data key '%s' (expected location, offset, length)",
               t->name, key);
    return true;
  }
  if (*slot) {
    diag_error(at(cx, off), "tensor '%s': external_data key '%s' given twice", t->name, key);
    return true;
  }
  *slot = val;
  return true;
}

static bool dec_tensor(Cx *cx, PbReader *r, OxTensor *t) {
  PbField f;
  PbReader sub;
  int64_t *dims = NULL;
  size_t ndims = 0, capdims = 0;
  t->name = "";
  while (pb_next(r, &f)) {
    switch (f.num) {
    case 1:
      if (!pb_get_i64s(r, &f, &dims, &ndims, &capdims))
        goto fail;
      break;
    case 2:
      if (!pb_get_i32(r, &f, &t->dtype))
        goto fail;
      t->has_dtype = true;
      break;
    case 3:
      diag_error(at(cx, f.off), "segmented tensors (TensorProto.segment) are not supported");
      break;
    case 4:
      t->fields |= VF_FLOAT;
      if (!pb_get_f32s(r, &f, &t->f32, &t->nf32, &t->capf32))
        goto fail;
      break;
    case 5:
    case 7:
    case 11:
      t->fields |= f.num == 5 ? VF_INT32 : f.num == 7 ? VF_INT64 : VF_UINT64;
      if (!pb_get_i64s(r, &f, &t->i64, &t->ni64, &t->capi64))
        goto fail;
      break;
    case 6:
      t->fields |= VF_STRING;
      break;
    case 8:
      if (!pb_get_str(r, &f, &t->name))
        goto fail;
      break;
    case 9:
      t->fields |= VF_RAW;
      if (!pb_get_bytes(r, &f, &t->raw, &t->raw_len))
        goto fail;
      break;
    case 10:
      t->fields |= VF_DOUBLE;
      if (!pb_get_f64s(r, &f, &t->f64, &t->nf64, &t->capf64))
        goto fail;
      break;
    case 13:
      t->next++;
      if (!pb_enter(r, &f, &sub) || !dec_ext_entry(cx, &sub, t, f.off))
        goto fail;
      break;
    case 14:
      if (!pb_get_i32(r, &f, &t->location))
        goto fail;
      break;
    default:
      break; /* doc_string and unknown fields */
    }
  }
  if (r->in->failed)
    goto fail;
  if (ndims > OX_MAX_RANK) {
    diag_error(at(cx, t->off), "tensor '%s' has %zu dimensions (at most %d supported)", t->name, ndims,
               OX_MAX_RANK);
    ndims = 0;
  }
  t->rank = (int)ndims;
  for (size_t i = 0; i < ndims; i++)
    t->dims[i] = dims[i];
  free(dims);
  return true;
fail:
  free(dims);
  return false;
}

/* A relative path inside the model directory: no absolute paths, drive
 * letters, backslashes or `..` components (CVE-2022-25882, CVE-2024-27318). */
static bool ext_path_ok(Cx *cx, OxTensor *t, const char *loc) {
  const char *why = NULL;
  if (!*loc)
    why = "is empty";
  else if (loc[0] == '/')
    why = "is absolute";
  else if (strchr(loc, '\\'))
    why = "contains a backslash";
  else if (((loc[0] | 32) >= 'a' && (loc[0] | 32) <= 'z') && loc[1] == ':')
    why = "starts with a drive letter";
  else {
    for (const char *p = loc; *p;) {
      const char *e = strchr(p, '/');
      size_t n = e ? (size_t)(e - p) : strlen(p);
      if (n == 2 && p[0] == '.' && p[1] == '.')
        why = "has a '..' component";
      p += n + (e != NULL);
    }
  }
  if (why) {
    diag_error(at(cx, t->off),
               "tensor '%s': external data location '%s' %s (it must be a relative path inside the model's "
               "directory)",
               t->name, loc, why);
    return false;
  }
  return true;
}

/* Strict non-negative decimal (the external_data offset/length strings). */
static bool parse_u63(const char *s, int64_t *v) {
  if (!*s || strlen(s) > 19)
    return false;
  int64_t x = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || ckd_mul(&x, x, 10) || ckd_add(&x, x, *p - '0'))
      return false;
  }
  *v = x;
  return true;
}

/* Open `loc` below the model directory one component at a time with
 * O_NOFOLLOW, so no symlink anywhere on the way can lead outside
 * (CVE-2026-27489, CVE-2026-34447). Returns an fd or -1 (reported). */
static int open_below(Cx *cx, OxTensor *t, const char *loc) {
  if (cx->dirfd < 0) {
    diag_error(at(cx, t->off), "tensor '%s': cannot open the model's directory for external data", t->name);
    return -1;
  }
  int fd = dup(cx->dirfd);
  if (fd < 0) {
    diag_error(at(cx, t->off), "tensor '%s': %s", t->name, strerror(errno));
    return -1;
  }
  const char *p = loc;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char *comp = cnnc_strndup(p, n);
    p += n + (e != NULL);
    if (n == 0 || !strcmp(comp, "."))
      continue;
    bool last = !*p;
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? O_NONBLOCK : O_DIRECTORY);
    int nfd = openat(fd, comp, flags);
    int err = errno;
    if (nfd < 0) {
      struct stat st;
      bool link = fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
      if (link)
        diag_error(at(cx, t->off), "tensor '%s': external data path '%s': '%s' is a symbolic link (refused)",
                   t->name, loc, comp);
      else
        diag_error(at(cx, t->off), "tensor '%s': cannot open external data '%s': %s", t->name, loc,
                   strerror(err));
      close(fd);
      return -1;
    }
    close(fd);
    fd = nfd;
  }
  return fd;
}

/* Read the external bytes of t into memory and point t->raw at them. */
static void load_external(Cx *cx, OxTensor *t, int64_t want) {
  const char *loc = t->ext_location;
  if (!loc) {
    diag_error(at(cx, t->off), "tensor '%s': data_location is EXTERNAL but no 'location' is given", t->name);
    return;
  }
  if (!ext_path_ok(cx, t, loc))
    return;
  int64_t offset = 0, length = -1;
  if (t->ext_offset && !parse_u63(t->ext_offset, &offset)) {
    diag_error(at(cx, t->off), "tensor '%s': external data offset '%s' is not a non-negative integer", t->name,
               t->ext_offset);
    return;
  }
  if (t->ext_length && !parse_u63(t->ext_length, &length)) {
    diag_error(at(cx, t->off), "tensor '%s': external data length '%s' is not a non-negative integer", t->name,
               t->ext_length);
    return;
  }
  int fd = open_below(cx, t, loc);
  if (fd < 0)
    return;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    diag_error(at(cx, t->off), "tensor '%s': external data '%s' is not a regular file", t->name, loc);
    close(fd);
    return;
  }
  if (st.st_nlink > 1) {
    /* A hard link can point at any file on the same filesystem (CVE-2026-34446). */
    diag_error(at(cx, t->off), "tensor '%s': external data '%s' has %ld hard links (refused)", t->name, loc,
               (long)st.st_nlink);
    close(fd);
    return;
  }
  int64_t size = (int64_t)st.st_size, end;
  if (length < 0)
    length = offset <= size ? size - offset : 0;
  if (ckd_add(&end, offset, length) || end > size) {
    diag_error(at(cx, t->off), "tensor '%s': external data range [%lld, +%lld) exceeds '%s' (%lld bytes)",
               t->name, (long long)offset, (long long)length, loc, (long long)size);
    close(fd);
    return;
  }
  if (length != want) {
    diag_error(at(cx, t->off), "tensor '%s': external data length %lld does not match the %lld bytes its dims "
               "and data type need", t->name, (long long)length, (long long)want);
    close(fd);
    return;
  }
  if (ckd_add(&cx->ext_bytes, cx->ext_bytes, length) || cx->ext_bytes > OX_MAX_EXTERNAL) {
    diag_error(at(cx, t->off), "tensor '%s': external data exceeds the %lld-byte limit", t->name,
               (long long)OX_MAX_EXTERNAL);
    close(fd);
    return;
  }
  uint8_t *buf = malloc((size_t)length + 1);
  if (!buf) {
    diag_error(at(cx, t->off), "tensor '%s': out of memory reading %lld bytes", t->name, (long long)length);
    close(fd);
    return;
  }
  int64_t got = 0;
  while (got < length) {
    ssize_t k = pread(fd, buf + got, (size_t)(length - got), (off_t)(offset + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    got += k;
  }
  close(fd);
  if (got != length) {
    diag_error(at(cx, t->off), "tensor '%s': short read from '%s'", t->name, loc);
    free(buf);
    return;
  }
  t->raw = buf;
  t->raw_len = (size_t)length;
  t->raw_owned = true;
}

/* The structural checks onnx.checker does on a tensor, plus the ones it skips
 * (raw_data length vs dims).  Sets t->ok; every problem is reported. */
static void tensor_check(Cx *cx, OxTensor *t) {
  const char *nm = t->name;
  if (!t->has_dtype || t->dtype == OT_UNDEFINED) {
    diag_error(at(cx, t->off), "tensor '%s' has no data_type", nm);
    return;
  }
  if (t->dtype < 0 || t->dtype >= OT__COUNT || !dtinfo[t->dtype].size) {
    diag_error(at(cx, t->off), "tensor '%s' has unsupported data type %s (%d)", nm, dt_name(t->dtype), t->dtype);
    return;
  }
  int64_t numel = 1, bytes;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i] < 0) {
      diag_error(at(cx, t->off), "tensor '%s' has negative dimension %lld", nm, (long long)t->dims[i]);
      return;
    }
    if (ckd_mul(&numel, numel, t->dims[i])) {
      diag_error(at(cx, t->off), "tensor '%s': the product of its dimensions overflows", nm);
      return;
    }
  }
  if (ckd_mul(&bytes, numel, dtinfo[t->dtype].size)) {
    diag_error(at(cx, t->off), "tensor '%s': its size in bytes overflows", nm);
    return;
  }
  t->numel = numel;
  bool external = t->location == 1;
  if (t->location != 0 && t->location != 1) {
    diag_error(at(cx, t->off), "tensor '%s' has invalid data_location %d", nm, t->location);
    return;
  }
  if (!external && t->next) {
    diag_error(at(cx, t->off), "tensor '%s' has external_data entries but data_location is not EXTERNAL", nm);
    return;
  }
  int nfields = __builtin_popcount(t->fields) + external;
  if (nfields > 1) {
    diag_error(at(cx, t->off), "tensor '%s' has %d value fields (exactly one of raw_data, typed data or "
               "external data is allowed)", nm, nfields);
    return;
  }
  if (nfields == 0) {
    if (numel) {
      diag_error(at(cx, t->off), "tensor '%s' has %lld elements but no data", nm, (long long)numel);
      return;
    }
  } else if (external) {
    load_external(cx, t, bytes);
    if (!t->raw)
      return;
  } else if (t->fields == VF_RAW) {
    if ((int64_t)t->raw_len != bytes) {
      diag_error(at(cx, t->off), "tensor '%s': raw_data has %zu bytes, but %lld elements of %s need %lld", nm,
                 t->raw_len, (long long)numel, dt_name(t->dtype), (long long)bytes);
      return;
    }
  } else {
    if (t->fields != (unsigned)dtinfo[t->dtype].field) {
      diag_error(at(cx, t->off), "tensor '%s': its value field does not match its data type %s", nm,
                 dt_name(t->dtype));
      return;
    }
    size_t count = t->fields == VF_FLOAT ? t->nf32 : t->fields == VF_DOUBLE ? t->nf64 : t->ni64;
    if ((int64_t)count != numel) {
      diag_error(at(cx, t->off), "tensor '%s' has %zu values for %lld elements", nm, count, (long long)numel);
      return;
    }
  }
  t->ok = true;
}

static bool dec_attr(Cx *cx, PbReader *r, OxAttr *a) {
  PbField f;
  PbReader sub;
  a->name = "";
  while (pb_next(r, &f)) {
    switch (f.num) {
    case 1:
      if (!pb_get_str(r, &f, &a->name))
        return false;
      break;
    case 20:
      if (!pb_get_i32(r, &f, &a->type))
        return false;
      break;
    case 2:
      a->seen |= 1u << AT_FLOAT;
      if (!pb_get_f32(r, &f, &a->f))
        return false;
      break;
    case 3:
      a->seen |= 1u << AT_INT;
      if (!pb_get_i64(r, &f, &a->i))
        return false;
      break;
    case 4:
      a->seen |= 1u << AT_STRING;
      if (!pb_get_str(r, &f, &a->s))
        return false;
      break;
    case 5:
      a->seen |= 1u << AT_TENSOR;
      a->t = cnnc_alloc(sizeof *a->t);
      a->t->off = f.off;
      if (!pb_enter(r, &f, &sub) || !dec_tensor(cx, &sub, a->t))
        return false;
      break;
    case 6: a->seen |= 1u << AT_GRAPH; break; /* never decoded: no control flow */
    case 7:
      a->seen |= 1u << AT_FLOATS;
      if (!pb_get_f32s(r, &f, &a->floats, &a->nfloats, &a->capfloats))
        return false;
      break;
    case 8:
      a->seen |= 1u << AT_INTS;
      if (!pb_get_i64s(r, &f, &a->ints, &a->nints, &a->capints))
        return false;
      break;
    case 9: a->seen |= 1u << AT_STRINGS; break;
    case 10: a->seen |= 1u << AT_TENSORS; break;
    case 11: a->seen |= 1u << AT_GRAPHS; break;
    case 22: a->seen |= 1u << AT_SPARSE_TENSOR; break;
    case 23: a->seen |= 1u << AT_SPARSE_TENSORS; break;
    case 14: a->seen |= 1u << AT_TYPE_PROTO; break;
    case 15: a->seen |= 1u << AT_TYPE_PROTOS; break;
    default: break;
    }
  }
  return !r->in->failed;
}

static bool dec_node(Cx *cx, PbReader *r, OxNode *n) {
  PbField f;
  PbReader sub;
  const char *s;
  n->name = n->op_type = n->domain = "";
  while (pb_next(r, &f)) {
    switch (f.num) {
    case 1:
    case 2:
      if (!pb_get_str(r, &f, &s))
        return false;
      if (f.num == 1)
        VEC_PUSH(n->in, n->nin, n->capin, s);
      else
        VEC_PUSH(n->out, n->nout, n->capout, s);
      break;
    case 3:
      if (!pb_get_str(r, &f, &n->name))
        return false;
      break;
    case 4:
      if (!pb_get_str(r, &f, &n->op_type))
        return false;
      break;
    case 7:
      if (!pb_get_str(r, &f, &n->domain))
        return false;
      break;
    case 5: {
      OxAttr a = {.off = f.off};
      if (!pb_enter(r, &f, &sub) || !dec_attr(cx, &sub, &a))
        return false;
      VEC_PUSH(n->attrs, n->nattrs, n->capattrs, a);
      break;
    }
    default: break;
    }
  }
  return !r->in->failed;
}

static bool dec_shape(Cx *cx, PbReader *r, OxValueInfo *v) {
  PbField f, g;
  PbReader sub;
  v->has_shape = true;
  int rank = 0;
  while (pb_next(r, &f)) {
    if (f.num != 1)
      continue;
    OxDim d = {0};
    if (!pb_enter(r, &f, &sub))
      return false;
    while (pb_next(&sub, &g)) {
      if (g.num == 1) {
        if (!pb_get_i64(&sub, &g, &d.value))
          return false;
        d.has_value = true;
      } else if (g.num == 2 && !pb_get_str(&sub, &g, &d.param)) {
        return false;
      }
    }
    if (r->in->failed)
      return false;
    if (rank < OX_MAX_RANK)
      v->dims[rank] = d;
    rank++;
  }
  if (rank > OX_MAX_RANK) {
    diag_error(at(cx, v->off), "value '%s' has %d dimensions (at most %d supported)", v->name, rank, OX_MAX_RANK);
    rank = OX_MAX_RANK;
  }
  v->rank = rank;
  return !r->in->failed;
}

static bool dec_value_info(Cx *cx, PbReader *r, OxValueInfo *v) {
  PbField f, g, h;
  PbReader sub, sub2;
  v->name = "";
  while (pb_next(r, &f)) {
    if (f.num == 1 && !pb_get_str(r, &f, &v->name))
      return false;
    if (f.num != 2)
      continue;
    v->has_type = true;
    if (!pb_enter(r, &f, &sub))
      return false;
    while (pb_next(&sub, &g)) {
      if (g.num != 1)
        continue; /* sequence/map/optional/sparse types stay !is_tensor */
      v->is_tensor = true;
      if (!pb_enter(&sub, &g, &sub2))
        return false;
      while (pb_next(&sub2, &h)) {
        if (h.num == 1 && !pb_get_i32(&sub2, &h, &v->elem))
          return false;
        if (h.num == 2) {
          PbReader sub3;
          if (!pb_enter(&sub2, &h, &sub3) || !dec_shape(cx, &sub3, v))
            return false;
        }
      }
    }
  }
  return !r->in->failed;
}

static bool dec_graph(Cx *cx, PbReader *r, OxGraph *gr) {
  PbField f;
  PbReader sub;
  gr->name = "";
  while (pb_next(r, &f)) {
    switch (f.num) {
    case 1: {
      OxNode n = {.off = f.off, .index = gr->nnodes};
      if (!pb_enter(r, &f, &sub) || !dec_node(cx, &sub, &n))
        return false;
      VEC_PUSH(gr->nodes, gr->nnodes, gr->capnodes, n);
      break;
    }
    case 2:
      if (!pb_get_str(r, &f, &gr->name))
        return false;
      break;
    case 5: {
      OxTensor *t = cnnc_alloc(sizeof *t);
      t->off = f.off;
      if (!pb_enter(r, &f, &sub) || !dec_tensor(cx, &sub, t))
        return false;
      VEC_PUSH(gr->inits, gr->ninits, gr->capinits, t);
      break;
    }
    case 15:
      diag_error(at(cx, f.off), "sparse initializers are not supported");
      break;
    case 11:
    case 12:
    case 13: {
      OxValueInfo v = {.off = f.off};
      if (!pb_enter(r, &f, &sub) || !dec_value_info(cx, &sub, &v))
        return false;
      if (f.num == 11)
        VEC_PUSH(gr->inputs, gr->ninputs, gr->capinputs, v);
      else if (f.num == 12)
        VEC_PUSH(gr->outputs, gr->noutputs, gr->capoutputs, v);
      else
        VEC_PUSH(gr->vinfo, gr->nvinfo, gr->capvinfo, v);
      break;
    }
    default: break;
    }
  }
  return !r->in->failed;
}

static bool dec_model(Cx *cx, PbReader *r, OxModel *m) {
  PbField f, g;
  PbReader sub;
  bool any = false;
  while (pb_next(r, &f)) {
    any = true;
    switch (f.num) {
    case 1:
      if (!pb_get_i64(r, &f, &m->ir_version))
        return false;
      m->has_ir_version = true;
      break;
    case 8: {
      OxOpset o = {.domain = "", .off = f.off};
      if (!pb_enter(r, &f, &sub))
        return false;
      while (pb_next(&sub, &g)) {
        if (g.num == 1 && !pb_get_str(&sub, &g, &o.domain))
          return false;
        if (g.num == 2 && !pb_get_i64(&sub, &g, &o.version))
          return false;
      }
      if (r->in->failed)
        return false;
      VEC_PUSH(m->opsets, m->nopsets, m->capopsets, o);
      break;
    }
    case 7:
      if (m->has_graph) {
        diag_error(at(cx, f.off), "model has more than one graph");
        break;
      }
      m->has_graph = true;
      if (!pb_enter(r, &f, &sub) || !dec_graph(cx, &sub, &m->graph))
        return false;
      break;
    default: break;
    }
  }
  if (r->in->failed)
    return false;
  if (!any) {
    diag_error(loc_at(cx->path, 1, 1), "is not a valid ONNX model: the file is empty");
    return false;
  }
  return true;
}

/* ======================================================= 2. graph checks */

/* The opset of the default domain; other domains may be imported but no
 * node may use them (B4, B5). */
static bool check_model(Cx *cx) {
  OxModel *m = &cx->model;
  int nerr0 = diag_count();
  SrcLoc file = loc_at(cx->path, 1, 1);
  if (!m->has_ir_version && !m->has_graph) {
    diag_error(file, "is not a valid ONNX model (no ir_version and no graph)");
    return false;
  }
  if (!m->has_ir_version)
    diag_error(file, "ONNX model has no ir_version");
  else if (m->ir_version < 3 || m->ir_version > 10)
    diag_error(file, "ONNX ir_version %lld is not supported (3..10)", (long long)m->ir_version);
  cx->opset = -1;
  bool found = false;
  for (int i = 0; i < m->nopsets; i++) {
    OxOpset *o = &m->opsets[i];
    for (int j = 0; j < i; j++)
      if (!strcmp(m->opsets[j].domain, o->domain))
        diag_error(at(cx, o->off), "opset for domain '%s' is imported twice", o->domain);
    if (*o->domain && strcmp(o->domain, "ai.onnx"))
      continue;
    found = true;
    if (o->version < OX_MIN_OPSET || o->version > OX_MAX_OPSET)
      diag_error(at(cx, o->off), "ONNX opset %lld is not supported (cnnc reads opsets %d..%d; re-export with "
                 "opset_version=%d)", (long long)o->version, OX_MIN_OPSET, OX_MAX_OPSET, 13);
    else
      cx->opset = (int)o->version;
  }
  if (m->nopsets == 0)
    diag_error(file, "ONNX model has no opset_import (required since ir_version 3)");
  else if (!found)
    diag_error(file, "ONNX model does not import the default operator set (domain '' / 'ai.onnx')");
  if (!m->has_graph)
    diag_error(file, "ONNX model has no graph");
  return diag_count() == nerr0;
}

static const char *node_label(OxNode *n) {
  return *n->name ? n->name : cnnc_fmt("%s_%d", *n->op_type ? n->op_type : "node", n->index);
}

/* Producer bookkeeping for one name. */
typedef struct Def {
  int kind;  /* 0 graph input, 1 initializer, 2 node output */
  int index; /* input/initializer index or node index */
} Def;

/* SSA, defined inputs, topological order and liveness (C1-C4, C7, C8).
 * Fills order[] with the live node indices in a valid schedule. */
static bool check_graph(Cx *cx, int **order_out, int *norder_out) {
  OxGraph *gr = &cx->model.graph;
  int n = gr->nnodes;
  Map defs = {0}, nodenames = {0};
  int nerr0 = diag_count();
  for (int i = 0; i < gr->ninits; i++) {
    OxTensor *t = gr->inits[i];
    if (!*t->name)
      diag_error(at(cx, t->off), "initializer %d has no name", i);
    else if (map_get(&defs, t->name))
      diag_error(at(cx, t->off), "initializer '%s' is defined twice", t->name);
    else {
      Def *d = cnnc_alloc(sizeof *d);
      *d = (Def){1, i};
      map_put(&defs, t->name, d);
    }
  }
  for (int i = 0; i < gr->ninputs; i++) {
    OxValueInfo *v = &gr->inputs[i];
    Def *d = map_get(&defs, v->name);
    if (!*v->name)
      diag_error(at(cx, v->off), "graph input %d has no name", i);
    else if (d && d->kind == 0)
      diag_error(at(cx, v->off), "graph input '%s' is listed twice", v->name);
    else if (!d) {
      d = cnnc_alloc(sizeof *d);
      *d = (Def){0, i};
      map_put(&defs, v->name, d);
    }
    /* an input that is also an initializer is a constant (ir_version < 4 style) */
  }
  for (int i = 0; i < n; i++) {
    OxNode *nd = &gr->nodes[i];
    SrcLoc loc = at(cx, nd->off);
    if (*nd->name) {
      if (map_get(&nodenames, nd->name))
        diag_error(loc, "node name '%s' is used twice", nd->name);
      map_put(&nodenames, nd->name, nd);
    }
    if (nd->nout == 0)
      diag_error(loc, "node '%s' (%s) has no outputs", node_label(nd), nd->op_type);
    for (int k = 0; k < nd->nout; k++) {
      const char *o = nd->out[k];
      if (!*o)
        continue; /* an omitted optional output */
      Def *d = map_get(&defs, o);
      if (d) {
        const char *what = d->kind == 0 ? "a graph input" : d->kind == 1 ? "an initializer" : NULL;
        if (what)
          diag_error(loc, "node '%s' writes '%s', which is %s (each value must have one producer)",
                     node_label(nd), o, what);
        else
          diag_error(loc, "node '%s' writes '%s', which node '%s' already produces (the graph must be in SSA "
                     "form)", node_label(nd), o, node_label(&gr->nodes[d->index]));
        continue;
      }
      d = cnnc_alloc(sizeof *d);
      *d = (Def){2, i};
      map_put(&defs, o, d);
    }
  }
  for (int i = 0; i < n; i++) {
    OxNode *nd = &gr->nodes[i];
    for (int k = 0; k < nd->nin; k++)
      if (*nd->in[k] && !map_get(&defs, nd->in[k]))
        diag_error(at(cx, nd->off), "node '%s': input '%s' is not a graph input, an initializer or the output "
                   "of any node", node_label(nd), nd->in[k]);
  }
  if (gr->noutputs == 0)
    diag_error(loc_at(cx->path, 1, 1), "graph has no outputs");
  for (int i = 0; i < gr->noutputs; i++) {
    OxValueInfo *v = &gr->outputs[i];
    Def *d = map_get(&defs, v->name);
    if (!d)
      diag_error(at(cx, v->off), "graph output '%s' is not produced by any node", v->name);
    else if (d->kind != 2)
      diag_error(at(cx, v->off), "graph output '%s' is %s, not computed by any node", v->name,
                 d->kind == 0 ? "a graph input" : "an initializer");
    for (int j = 0; j < i; j++)
      if (!strcmp(gr->outputs[j].name, v->name))
        diag_error(at(cx, v->off), "graph output '%s' is listed twice", v->name);
  }
  if (diag_count() > nerr0)
    return false;

  /* Kahn's algorithm with a min-heap on the file index: the file's order is
   * kept when it is already topological, and leftover nodes form cycles. */
  int64_t nedges = 0;
  for (int i = 0; i < n; i++)
    nedges += gr->nodes[i].nin;
  int *indeg = cnnc_alloc(sizeof(int) * (size_t)(n + 1));
  int *start = cnnc_alloc(sizeof(int) * (size_t)(n + 2));
  int *adj = cnnc_alloc(sizeof(int) * (size_t)(nedges + 1));
  for (int i = 0; i < n; i++)
    for (int k = 0; k < gr->nodes[i].nin; k++) {
      Def *d = *gr->nodes[i].in[k] ? map_get(&defs, gr->nodes[i].in[k]) : NULL;
      if (d && d->kind == 2) {
        start[d->index + 1]++;
        indeg[i]++;
      }
    }
  for (int i = 0; i < n; i++)
    start[i + 1] += start[i];
  int *fill = cnnc_alloc(sizeof(int) * (size_t)(n + 1));
  for (int i = 0; i < n; i++)
    for (int k = 0; k < gr->nodes[i].nin; k++) {
      Def *d = *gr->nodes[i].in[k] ? map_get(&defs, gr->nodes[i].in[k]) : NULL;
      if (d && d->kind == 2)
        adj[start[d->index] + fill[d->index]++] = i;
    }
  int *heap = cnnc_alloc(sizeof(int) * (size_t)(n + 1)), nheap = 0;
  int *topo = cnnc_alloc(sizeof(int) * (size_t)(n + 1)), ntopo = 0;
#define HEAP_PUSH(x)                                                       \
  do {                                                                     \
    int c_ = nheap++;                                                      \
    heap[c_] = (x);                                                        \
    while (c_ > 0 && heap[(c_ - 1) / 2] > heap[c_]) {                      \
      int t_ = heap[c_];                                                   \
      heap[c_] = heap[(c_ - 1) / 2];                                       \
      heap[(c_ - 1) / 2] = t_;                                             \
      c_ = (c_ - 1) / 2;                                                   \
    }                                                                      \
  } while (0)
  for (int i = 0; i < n; i++)
    if (!indeg[i])
      HEAP_PUSH(i);
  bool sorted = true;
  while (nheap) {
    int x = heap[0];
    heap[0] = heap[--nheap];
    for (int c = 0;;) {
      int l = 2 * c + 1, r = l + 1, m = c;
      if (l < nheap && heap[l] < heap[m])
        m = l;
      if (r < nheap && heap[r] < heap[m])
        m = r;
      if (m == c)
        break;
      int t = heap[c];
      heap[c] = heap[m];
      heap[m] = t;
      c = m;
    }
    if (x != ntopo)
      sorted = false;
    topo[ntopo++] = x;
    for (int e = start[x]; e < start[x + 1]; e++)
      if (--indeg[adj[e]] == 0)
        HEAP_PUSH(adj[e]);
  }
#undef HEAP_PUSH
  if (ntopo < n) {
    int first = -1, count = 0;
    for (int i = 0; i < n; i++)
      if (indeg[i] > 0) {
        if (first < 0)
          first = i;
        count++;
      }
    OxNode *nd = &gr->nodes[first];
    diag_error(at(cx, nd->off), "node '%s' (%s) is part of a cycle (or depends on one); %d node%s cannot be "
               "ordered", node_label(nd), nd->op_type, count, count == 1 ? "" : "s");
    return false;
  }
  if (!sorted)
    diag_warning(loc_at(cx->path, 1, 1), "the nodes are not in topological order (as ONNX requires); sorted");

  /* Liveness: walk back from the graph outputs. */
  bool *live = cnnc_alloc((size_t)n + 1);
  int *stack = cnnc_alloc(sizeof(int) * (size_t)(n + 1)), nstack = 0;
  for (int i = 0; i < gr->noutputs; i++) {
    Def *d = map_get(&defs, gr->outputs[i].name);
    if (d && d->kind == 2 && !live[d->index]) {
      live[d->index] = true;
      stack[nstack++] = d->index;
    }
  }
  while (nstack) {
    OxNode *nd = &gr->nodes[stack[--nstack]];
    for (int k = 0; k < nd->nin; k++) {
      Def *d = *nd->in[k] ? map_get(&defs, nd->in[k]) : NULL;
      if (d && d->kind == 2 && !live[d->index]) {
        live[d->index] = true;
        stack[nstack++] = d->index;
      }
    }
  }
  int *order = cnnc_alloc(sizeof(int) * (size_t)(n + 1)), norder = 0, ndead = 0;
  for (int i = 0; i < n; i++) {
    int x = topo[i];
    if (live[x]) {
      order[norder++] = x;
      continue;
    }
    if (ndead++ < 5)
      diag_warning(at(cx, gr->nodes[x].off), "node '%s' (%s) does not contribute to any graph output; skipped",
                   node_label(&gr->nodes[x]), gr->nodes[x].op_type);
  }
  if (ndead > 5)
    diag_warning(loc_at(cx->path, 1, 1), "%d more unused nodes skipped", ndead - 5);
  for (int i = 0; i < norder; i++) {
    OxNode *nd = &gr->nodes[order[i]];
    for (int k = 0; k < nd->nin; k++)
      if (*nd->in[k])
        map_put(&cx->uses, nd->in[k], (void *)((intptr_t)map_get(&cx->uses, nd->in[k]) + 1));
  }
  free(indeg);
  free(start);
  free(adj);
  free(fill);
  free(heap);
  free(topo);
  free(stack);
  free(live);
  free(defs.keys);
  free(defs.vals);
  free(nodenames.keys);
  free(nodenames.vals);
  *order_out = order;
  *norder_out = norder;
  return true;
}

/* ================================================= 3. values and helpers */

/* An ONNX value during conversion: a runtime tensor of the IR, or a host
 * constant (initializers, Constant nodes, folded shape arithmetic). */
struct Value {
  const char *name;
  bool is_const;
  Tensor *t;        /* runtime */
  int dtype;        /* constant: OT_* */
  int rank;
  int64_t dims[OX_MAX_RANK];
  int64_t numel;
  OxTensor *src;    /* initializer or Constant attribute; converted on demand */
  double *f;        /* float dtypes, once materialized */
  int64_t *i;       /* integer and bool dtypes, once materialized */
  bool param_named; /* the initializer's name is already taken by an IR tensor */
};

/* One node being converted. */
typedef struct Op {
  OxNode *nd;
  const char *name; /* unique IR name of the node */
  SrcLoc loc;
  int nin, nout;
  Value **in;       /* NULL for an omitted optional input */
  Value **out;      /* set by the handler */
} Op;

static bool op_err(Cx *cx, Op *op, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool op_err(Cx *cx, Op *op, const char *fmt, ...) {
  (void)cx;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(op->loc, "node '%s' (%s): %s", node_label(op->nd), op->nd->op_type, msg);
  return false;
}

static const char *dims_str(int rank, const int64_t *d) {
  char buf[256];
  size_t k = 0;
  buf[k++] = '[';
  for (int i = 0; i < rank && k < sizeof buf - 32; i++)
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%lld", i ? ", " : "", (long long)d[i]);
  buf[k++] = ']';
  buf[k] = 0;
  return cnnc_strdup(buf);
}

static float half_to_float(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  float v;
  if (e == 0)
    v = ldexpf((float)m, -24);
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = ldexpf((float)(m | 1024), e - 25);
  return s ? -v : v;
}

static uint64_t le_bytes(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* Element k of a checked tensor, as a double (float dtypes) ... */
static double ox_get_f(const OxTensor *t, int64_t k) {
  if (t->fields & VF_FLOAT)
    return t->f32[k];
  if (t->fields & VF_DOUBLE)
    return t->f64[k];
  uint64_t bits;
  int size = dtinfo[t->dtype].size;
  if (t->raw)
    bits = le_bytes(t->raw + (size_t)k * (size_t)size, size);
  else
    bits = (uint64_t)t->i64[k];
  switch (t->dtype) {
  case OT_FLOAT: {
    uint32_t b = (uint32_t)bits;
    float f;
    memcpy(&f, &b, 4);
    return f;
  }
  case OT_DOUBLE: {
    double d;
    memcpy(&d, &bits, 8);
    return d;
  }
  case OT_FLOAT16: return half_to_float((uint16_t)bits);
  case OT_BFLOAT16: {
    uint32_t b = (uint32_t)(bits & 0xffff) << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
  }
  default: return NAN;
  }
}

/* ... and as an integer (integer and bool dtypes); false if it does not fit. */
static bool ox_get_i(const OxTensor *t, int64_t k, int64_t *v) {
  int size = dtinfo[t->dtype].size;
  if (!t->raw) {
    *v = t->i64[k];
    if (t->dtype == OT_UINT64 && *v < 0)
      return false;
    if (t->dtype == OT_BOOL)
      *v = *v != 0;
    return true;
  }
  uint64_t u = le_bytes(t->raw + (size_t)k * (size_t)size, size);
  switch (t->dtype) {
  case OT_INT8: *v = (int8_t)u; break;
  case OT_INT16: *v = (int16_t)u; break;
  case OT_INT32: *v = (int32_t)u; break;
  case OT_INT64: *v = (int64_t)u; break;
  case OT_BOOL: *v = u != 0; break;
  case OT_UINT64:
    if (u > INT64_MAX)
      return false;
    *v = (int64_t)u;
    break;
  default: *v = (int64_t)u; break; /* UINT8/16/32 */
  }
  return true;
}

static Value *new_value(const char *name) {
  Value *v = cnnc_alloc(sizeof *v);
  v->name = name;
  return v;
}

static Value *value_of_tensor(OxTensor *t) {
  Value *v = new_value(t->name);
  v->is_const = true;
  v->dtype = t->dtype;
  v->rank = t->rank;
  memcpy(v->dims, t->dims, sizeof v->dims);
  v->numel = t->numel;
  v->src = t;
  return v;
}

/* A fresh constant of the given shape (the result of folding). */
static Value *cnew(Cx *cx, Op *op, int dtype, int rank, const int64_t *dims) {
  int64_t numel = 1;
  if (rank > OX_MAX_RANK) {
    op_err(cx, op, "folded constant would have rank %d (at most %d)", rank, OX_MAX_RANK);
    return NULL;
  }
  for (int i = 0; i < rank; i++)
    if (dims[i] < 0 || ckd_mul(&numel, numel, dims[i]) || numel > OX_MAX_FOLD) {
      op_err(cx, op, "folded constant of shape %s is invalid or too large", dims_str(rank, dims));
      return NULL;
    }
  Value *v = new_value("");
  v->is_const = true;
  v->dtype = dtype;
  v->rank = rank;
  for (int i = 0; i < rank; i++)
    v->dims[i] = dims[i];
  v->numel = numel;
  if (dt_is_float(dtype))
    v->f = cnnc_alloc(sizeof(double) * (size_t)(numel ? numel : 1));
  else
    v->i = cnnc_alloc(sizeof(int64_t) * (size_t)(numel ? numel : 1));
  return v;
}

/* The values of a constant as doubles (integers convert exactly up to 2^53). */
static double *cv_f(Value *v) {
  if (v->f)
    return v->f;
  v->f = cnnc_alloc(sizeof(double) * (size_t)(v->numel ? v->numel : 1));
  for (int64_t k = 0; k < v->numel; k++) {
    if (v->i)
      v->f[k] = (double)v->i[k];
    else if (dt_is_float(v->dtype))
      v->f[k] = ox_get_f(v->src, k);
    else {
      int64_t x = 0;
      ox_get_i(v->src, k, &x);
      v->f[k] = (double)x;
    }
  }
  return v->f;
}

/* The values of a constant as integers; float values must be integral. */
static int64_t *cv_i(Cx *cx, Op *op, Value *v, const char *what) {
  if (v->i)
    return v->i;
  int64_t *a = cnnc_alloc(sizeof(int64_t) * (size_t)(v->numel ? v->numel : 1));
  for (int64_t k = 0; k < v->numel; k++) {
    if (dt_is_float(v->dtype)) {
      double d = v->f ? v->f[k] : ox_get_f(v->src, k);
      if (!(d == floor(d) && fabs(d) < 9.2e18)) {
        op_err(cx, op, "%s must be integers, got %g", what, d);
        free(a);
        return NULL;
      }
      a[k] = (int64_t)d;
    } else if (!ox_get_i(v->src, k, &a[k])) {
      op_err(cx, op, "%s: value does not fit in int64", what);
      free(a);
      return NULL;
    }
  }
  v->i = a;
  return a;
}

/* A fresh float32 copy of a constant: parameters are never shared, so a
 * pass rewriting one layer's weights (BN folding) cannot touch another's. */
static float *cv_f32_new(Value *v) {
  float *a = cnnc_alloc(sizeof(float) * (size_t)(v->numel ? v->numel : 1));
  OxTensor *t = v->src;
  static const uint16_t one = 1;
  bool little = *(const uint8_t *)&one == 1;
  if (!v->f && !v->i && t && t->dtype == OT_FLOAT && t->raw && little) {
    memcpy(a, t->raw, (size_t)v->numel * 4);
    return a;
  }
  if (!v->f && !v->i && t && t->dtype == OT_FLOAT && (t->fields & VF_FLOAT)) {
    memcpy(a, t->f32, (size_t)v->numel * 4);
    return a;
  }
  if (!v->f && !v->i && t && dt_is_float(t->dtype)) {
    for (int64_t k = 0; k < v->numel; k++)
      a[k] = (float)ox_get_f(t, k);
    return a;
  }
  double *d = cv_f(v);
  for (int64_t k = 0; k < v->numel; k++)
    a[k] = (float)d[k];
  return a;
}

/* ------------------------------------------------------------ attributes */

static OxAttr *attr(Op *op, const char *name) {
  for (int i = 0; i < op->nd->nattrs; i++)
    if (!strcmp(op->nd->attrs[i].name, name))
      return &op->nd->attrs[i];
  return NULL;
}

static bool attr_type(Cx *cx, Op *op, OxAttr *a, int type, const char *what) {
  if (a->type == type)
    return true;
  return op_err(cx, op, "attribute '%s' should be %s", a->name, what);
}

static bool a_int(Cx *cx, Op *op, const char *name, int64_t def, int64_t *v) {
  OxAttr *a = attr(op, name);
  *v = def;
  if (!a)
    return true;
  if (!attr_type(cx, op, a, AT_INT, "an integer"))
    return false;
  *v = a->i;
  return true;
}

static bool a_float(Cx *cx, Op *op, const char *name, double def, double *v) {
  OxAttr *a = attr(op, name);
  *v = def;
  if (!a)
    return true;
  if (!attr_type(cx, op, a, AT_FLOAT, "a float"))
    return false;
  *v = a->f;
  return true;
}

static bool a_str(Cx *cx, Op *op, const char *name, const char *def, const char **v) {
  OxAttr *a = attr(op, name);
  *v = def;
  if (!a)
    return true;
  if (!attr_type(cx, op, a, AT_STRING, "a string"))
    return false;
  *v = a->s ? a->s : "";
  return true;
}

/* *n = -1 when the attribute is absent. */
static bool a_ints(Cx *cx, Op *op, const char *name, const int64_t **v, int *n) {
  OxAttr *a = attr(op, name);
  *v = NULL;
  *n = -1;
  if (!a)
    return true;
  if (!attr_type(cx, op, a, AT_INTS, "a list of integers"))
    return false;
  if (a->nints > 4096)
    return op_err(cx, op, "attribute '%s' has %zu values", name, a->nints);
  *v = a->ints;
  *n = (int)a->nints;
  return true;
}

/* A 0/1 flag. */
static bool a_bool(Cx *cx, Op *op, const char *name, bool def, bool *v) {
  int64_t x;
  *v = def;
  if (!a_int(cx, op, name, def, &x))
    return false;
  if (x != 0 && x != 1)
    return op_err(cx, op, "attribute '%s' must be 0 or 1, got %lld", name, (long long)x);
  *v = x != 0;
  return true;
}

/* --------------------------------------------------------------- inputs */

/* Input k as a runtime tensor. */
static Tensor *rt(Cx *cx, Op *op, int k) {
  if (k >= op->nin || !op->in[k]) {
    op_err(cx, op, "input %d is required", k);
    return NULL;
  }
  if (op->in[k]->is_const) {
    op_err(cx, op, "input %d ('%s') is a constant; this op is only supported on computed tensors", k,
           op->nd->in[k]);
    return NULL;
  }
  return op->in[k]->t;
}

/* Input k as a constant; NULL (no error) when optional and omitted. */
static Value *cin(Cx *cx, Op *op, int k, bool required, const char *what) {
  if (k >= op->nin || !op->in[k]) {
    if (required)
      op_err(cx, op, "input %d (%s) is required", k, what);
    return NULL;
  }
  if (!op->in[k]->is_const) {
    op_err(cx, op, "input %d (%s, '%s') must be a constant (an initializer or computed from static shapes)", k,
           what, op->nd->in[k]);
    return NULL;
  }
  return op->in[k];
}

static bool has_in(Op *op, int k) { return k < op->nin && op->in[k]; }

/* ------------------------------------------------------------- IR glue */

static const char *uniq(Cx *cx, const char *want) {
  const char *name = want;
  for (int k = 1; map_get(&cx->names, name); k++)
    name = cnnc_fmt("%s_%d", want, k);
  name = cnnc_strdup(name);
  map_put(&cx->names, name, (void *)1);
  return name;
}

static void tmeta_grow(Cx *cx) {
  int n = cx->g->ntensors;
  if (n <= cx->ntmeta)
    return;
  int cap = cx->ntmeta ? cx->ntmeta : 64;
  while (cap < n)
    cap *= 2;
  cx->tuses = cnnc_realloc_array(cx->tuses, (size_t)cap, sizeof *cx->tuses);
  cx->tgout = cnnc_realloc_array(cx->tgout, (size_t)cap, sizeof *cx->tgout);
  memset(cx->tuses + cx->ntmeta, 0, sizeof *cx->tuses * (size_t)(cap - cx->ntmeta));
  memset(cx->tgout + cx->ntmeta, 0, sizeof *cx->tgout * (size_t)(cap - cx->ntmeta));
  cx->ntmeta = cap;
}

/* A new IR node for op; suffix != NULL names a helper node "<name>/<suffix>". */
static Node *mk(Cx *cx, Op *op, OpKind k, Tensor **in, int nin, const char *suffix) {
  const char *name = suffix ? uniq(cx, cnnc_fmt("%s/%s", op->name, suffix)) : op->name;
  Node *n = ir_new_node(cx->g, k, name, op->loc, in, nin);
  tmeta_grow(cx);
  return n;
}

static Node *mk1(Cx *cx, Op *op, OpKind k, Tensor *x, const char *suffix) { return mk(cx, op, k, &x, 1, suffix); }

/* Shape inference (and parameter checks) for a node just built. */
static bool fin(Cx *cx, Node *n) { return shape_infer_node(cx->g, n); }

static bool finite_or_allowed(Cx *cx, Op *op, const char *what, const float *d, int64_t n) {
  if (cx->opt && cx->opt->allow_nonfinite)
    return true;
  for (int64_t k = 0; k < n; k++)
    if (!isfinite(d[k]))
      return op_err(cx, op, "%s contains %s at index %lld (use --allow-nonfinite to accept it)", what,
                    isnan(d[k]) ? "NaN" : "Inf", (long long)k);
  return true;
}

/* A parameter/buffer/constant tensor for op.  It takes the initializer's name
 * the first time that initializer is used this way, else "<node>.<suffix>". */
static Tensor *mk_tensor(Cx *cx, Op *op, Value *v, const char *suffix, TensorKind kind, float *data, Shape s) {
  const char *name;
  if (v && v->src && *v->name && !v->param_named && !map_get(&cx->names, v->name)) {
    v->param_named = true;
    name = uniq(cx, v->name);
  } else {
    name = uniq(cx, cnnc_fmt("%s.%s", op->name, suffix));
  }
  if (s.rank == 0)
    s = shape_of(1, (int64_t)1);
  if (!finite_or_allowed(cx, op, name, data, shape_numel(&s)))
    return NULL;
  Tensor *t = ir_new_param(cx->g, name, kind, s, op->loc);
  t->data = data;
  tmeta_grow(cx);
  return t;
}

static Shape vshape(Cx *cx, Op *op, Value *v, bool *ok) {
  if (v->rank > MAX_RANK) {
    op_err(cx, op, "constant '%s' has rank %d (at most %d)", v->name, v->rank, MAX_RANK);
    *ok = false;
    return (Shape){0};
  }
  return shape_make(v->rank, v->dims);
}

static Tensor *mk_param(Cx *cx, Op *op, Value *v, const char *suffix, TensorKind kind) {
  bool ok = true;
  Shape s = vshape(cx, op, v, &ok);
  if (!ok)
    return NULL;
  return mk_tensor(cx, op, v, suffix, kind, cv_f32_new(v), s);
}

static intptr_t uses_of(Cx *cx, const char *name) { return (intptr_t)map_get(&cx->uses, name); }

/* Bind output k of op to a runtime tensor (a node's output or an alias). */
static void out_rt(Cx *cx, Op *op, int k, Tensor *t) {
  Value *v = new_value(op->nd->out[k]);
  v->t = t;
  op->out[k] = v;
  tmeta_grow(cx);
  cx->tuses[t->id] += (int)uses_of(cx, v->name);
  for (int i = 0; i < cx->model.graph.noutputs; i++)
    if (!strcmp(cx->model.graph.outputs[i].name, v->name))
      cx->tgout[t->id] = true;
}

static bool done(Cx *cx, Op *op, Node *n) {
  if (!fin(cx, n))
    return false;
  out_rt(cx, op, 0, n->out);
  return true;
}

/* A TK_CONST tensor holding `data` (float32) shaped like constant v; it is
 * named after v only when it holds v's own values. */
static Tensor *mk_const(Cx *cx, Op *op, Value *v, float *data, bool own_values) {
  bool ok = true;
  Shape s = vshape(cx, op, v, &ok);
  if (!ok)
    return NULL;
  return mk_tensor(cx, op, own_values ? v : NULL, "const", TK_CONST, data, s);
}

/* ======================================================= constant folding */

/* Reinterpret constant v with new dims (same element count), sharing data. */
static Value *creshape(Cx *cx, Op *op, Value *v, int rank, const int64_t *dims) {
  if (rank > OX_MAX_RANK) {
    op_err(cx, op, "result would have rank %d (at most %d)", rank, OX_MAX_RANK);
    return NULL;
  }
  Value *o = new_value("");
  o->is_const = true;
  o->dtype = v->dtype;
  o->rank = rank;
  for (int i = 0; i < rank; i++)
    o->dims[i] = dims[i];
  o->numel = v->numel;
  if (dt_is_float(v->dtype))
    o->f = cv_f(v);
  else if (!(o->i = cv_i(cx, op, v, "values")))
    return NULL;
  return o;
}

static int64_t numel_of(int rank, const int64_t *d) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= d[i];
  return n;
}

/* Normalize axis a for rank r (ONNX: [-r, r-1]); -1 after an error. */
static int norm_axis(Cx *cx, Op *op, int64_t a, int r) {
  if (a < -r || a >= r) {
    op_err(cx, op, "axis %lld is out of range for rank %d", (long long)a, r);
    return -1;
  }
  return (int)(a < 0 ? a + r : a);
}

/* Axes from the `axes` attribute (opset < 13 for Squeeze/Unsqueeze) or input 1. */
static bool get_axes(Cx *cx, Op *op, int inp, const int64_t **axes, int *n) {
  if (!a_ints(cx, op, "axes", axes, n))
    return false;
  if (*n >= 0 || inp < 0 || !has_in(op, inp))
    return true;
  Value *v = cin(cx, op, inp, true, "axes");
  if (!v || !(*axes = cv_i(cx, op, v, "axes")))
    return false;
  *n = (int)v->numel;
  return true;
}

static bool f_identity(Cx *cx, Op *op) {
  (void)cx;
  op->out[0] = op->in[0];
  return true;
}

static bool f_constant(Cx *cx, Op *op) {
  if (op->nd->nattrs != 1)
    return op_err(cx, op, "needs exactly one value attribute");
  OxAttr *a = &op->nd->attrs[0];
  Value *v = NULL;
  if (!strcmp(a->name, "value")) {
    if (!attr_type(cx, op, a, AT_TENSOR, "a tensor"))
      return false;
    if (!a->t->ok)
      tensor_check(cx, a->t);
    if (!a->t->ok)
      return false;
    v = value_of_tensor(a->t);
  } else if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_floats")) {
    bool one = a->name[11] == 0;
    if (!attr_type(cx, op, a, one ? AT_FLOAT : AT_FLOATS, one ? "a float" : "a list of floats"))
      return false;
    int64_t n = one ? 1 : (int64_t)a->nfloats;
    if (!(v = cnew(cx, op, OT_FLOAT, !one, &n)))
      return false;
    for (int64_t k = 0; k < n; k++)
      v->f[k] = one ? a->f : a->floats[k];
  } else if (!strcmp(a->name, "value_int") || !strcmp(a->name, "value_ints")) {
    bool one = a->name[9] == 0;
    if (!attr_type(cx, op, a, one ? AT_INT : AT_INTS, one ? "an integer" : "a list of integers"))
      return false;
    int64_t n = one ? 1 : (int64_t)a->nints;
    if (!(v = cnew(cx, op, OT_INT64, !one, &n)))
      return false;
    for (int64_t k = 0; k < n; k++)
      v->i[k] = one ? a->i : a->ints[k];
  } else {
    return op_err(cx, op, "attribute '%s' is not supported (only numeric constants)", a->name);
  }
  v->name = op->nd->out[0];
  op->out[0] = v;
  return true;
}

static bool f_shape(Cx *cx, Op *op) {
  Value *x = op->in[0];
  int r = x->is_const ? x->rank : x->t->shape.rank;
  const int64_t *d = x->is_const ? x->dims : x->t->shape.d;
  int64_t s, e;
  if (!a_int(cx, op, "start", 0, &s) || !a_int(cx, op, "end", r, &e))
    return false;
  s = s < 0 ? s + r : s;
  e = e < 0 ? e + r : e;
  s = s < 0 ? 0 : s > r ? r : s;
  e = e < 0 ? 0 : e > r ? r : e;
  int64_t n = e > s ? e - s : 0;
  Value *v = cnew(cx, op, OT_INT64, 1, &n);
  if (!v)
    return false;
  for (int64_t k = 0; k < n; k++)
    v->i[k] = d[s + k];
  op->out[0] = v;
  return true;
}

static bool f_size(Cx *cx, Op *op) {
  Value *x = op->in[0];
  Value *v = cnew(cx, op, OT_INT64, 0, NULL);
  if (!v)
    return false;
  v->i[0] = x->is_const ? x->numel : shape_numel(&x->t->shape);
  op->out[0] = v;
  return true;
}

static bool f_gather(Cx *cx, Op *op) {
  Value *x = op->in[0], *iv = op->in[1];
  int64_t ax;
  if (!a_int(cx, op, "axis", 0, &ax))
    return false;
  int a = norm_axis(cx, op, ax, x->rank);
  int64_t *idx = cv_i(cx, op, iv, "indices");
  if (a < 0 || !idx)
    return false;
  int64_t dims[OX_MAX_RANK * 2];
  int r = 0;
  for (int k = 0; k < a; k++)
    dims[r++] = x->dims[k];
  for (int k = 0; k < iv->rank; k++)
    dims[r++] = iv->dims[k];
  for (int k = a + 1; k < x->rank; k++)
    dims[r++] = x->dims[k];
  Value *v = cnew(cx, op, x->dtype, r, dims);
  if (!v)
    return false;
  int64_t outer = numel_of(a, x->dims), n = x->dims[a], inner = numel_of(x->rank - a - 1, x->dims + a + 1);
  double *fx = dt_is_float(x->dtype) ? cv_f(x) : NULL;
  int64_t *ix = fx ? NULL : cv_i(cx, op, x, "data");
  if (!fx && !ix)
    return false;
  for (int64_t j = 0; j < iv->numel; j++) {
    int64_t q = idx[j] < 0 ? idx[j] + n : idx[j];
    if (q < 0 || q >= n)
      return op_err(cx, op, "index %lld is out of range for a dimension of size %lld", (long long)idx[j],
                    (long long)n);
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t src = (o * n + q) * inner + i, dst = (o * iv->numel + j) * inner + i;
        if (fx)
          v->f[dst] = fx[src];
        else
          v->i[dst] = ix[src];
      }
  }
  op->out[0] = v;
  return true;
}

static bool f_unsqueeze(Cx *cx, Op *op) {
  Value *x = op->in[0];
  const int64_t *axes;
  int n;
  if (!get_axes(cx, op, 1, &axes, &n))
    return false;
  if (n < 0)
    return op_err(cx, op, "needs axes");
  int r = x->rank + n;
  if (r > OX_MAX_RANK)
    return op_err(cx, op, "result would have rank %d", r);
  bool ins[OX_MAX_RANK] = {0};
  for (int k = 0; k < n; k++) {
    int a = norm_axis(cx, op, axes[k], r);
    if (a < 0)
      return false;
    if (ins[a])
      return op_err(cx, op, "axis %lld is repeated", (long long)axes[k]);
    ins[a] = true;
  }
  int64_t dims[OX_MAX_RANK];
  for (int k = 0, j = 0; k < r; k++)
    dims[k] = ins[k] ? 1 : x->dims[j++];
  return (op->out[0] = creshape(cx, op, x, r, dims)) != NULL;
}

/* Which axes a Squeeze removes (all size-1 axes when none are given). */
static bool squeeze_axes(Cx *cx, Op *op, int r, const int64_t *d, bool *rm, int first) {
  const int64_t *axes;
  int n;
  if (!get_axes(cx, op, 1, &axes, &n))
    return false;
  for (int k = 0; k < r; k++)
    rm[k] = n < 0 && k >= first && d[k] == 1;
  for (int k = 0; k < n; k++) {
    int a = norm_axis(cx, op, axes[k], r);
    if (a < 0)
      return false;
    if (d[a] != 1)
      return op_err(cx, op, "cannot squeeze axis %d of size %lld", a, (long long)d[a]);
    rm[a] = true;
  }
  return true;
}

static bool f_squeeze(Cx *cx, Op *op) {
  Value *x = op->in[0];
  bool rm[OX_MAX_RANK];
  if (!squeeze_axes(cx, op, x->rank, x->dims, rm, 0))
    return false;
  int64_t dims[OX_MAX_RANK];
  int r = 0;
  for (int k = 0; k < x->rank; k++)
    if (!rm[k])
      dims[r++] = x->dims[k];
  return (op->out[0] = creshape(cx, op, x, r, dims)) != NULL;
}

static bool f_concat(Cx *cx, Op *op) {
  int64_t ax;
  OxAttr *aa = attr(op, "axis");
  if (!aa)
    return op_err(cx, op, "attribute 'axis' is required");
  if (!a_int(cx, op, "axis", 0, &ax))
    return false;
  Value *x = op->in[0];
  int a = norm_axis(cx, op, ax, x->rank);
  if (a < 0)
    return false;
  int64_t dims[OX_MAX_RANK];
  memcpy(dims, x->dims, sizeof dims);
  dims[a] = 0;
  bool isf = false;
  for (int k = 0; k < op->nin; k++) {
    Value *y = op->in[k];
    if (!y)
      return op_err(cx, op, "input %d is missing", k);
    isf |= dt_is_float(y->dtype);
    if (y->rank != x->rank)
      return op_err(cx, op, "inputs have different ranks");
    for (int j = 0; j < x->rank; j++)
      if (j != a && y->dims[j] != x->dims[j])
        return op_err(cx, op, "cannot concat %s and %s on axis %d", dims_str(x->rank, x->dims),
                      dims_str(y->rank, y->dims), a);
    dims[a] += y->dims[a];
  }
  Value *v = cnew(cx, op, isf ? OT_FLOAT : x->dtype, x->rank, dims);
  if (!v)
    return false;
  int64_t outer = numel_of(a, dims), inner = numel_of(x->rank - a - 1, dims + a + 1), off = 0;
  for (int k = 0; k < op->nin; k++) {
    Value *y = op->in[k];
    double *fy = isf ? cv_f(y) : NULL;
    int64_t *iy = isf ? NULL : cv_i(cx, op, y, "values");
    if (!isf && !iy)
      return false;
    int64_t rows = y->dims[a] * inner;
    for (int64_t o = 0; o < outer; o++)
      for (int64_t i = 0; i < rows; i++) {
        int64_t dst = o * dims[a] * inner + off + i;
        if (isf)
          v->f[dst] = fy[o * rows + i];
        else
          v->i[dst] = iy[o * rows + i];
      }
    off += rows;
  }
  op->out[0] = v;
  return true;
}

/* ONNX Slice bounds for one axis of size dim. */
static void slice_bounds(int64_t dim, int64_t *start, int64_t *end, int64_t step, int64_t *count) {
  int64_t s = *start, e = *end;
  if (s < 0)
    s = s < -dim ? (step > 0 ? 0 : -1) : s + dim;
  if (e < 0)
    e = e < -dim ? -1 : e + dim;
  if (step > 0) {
    s = s < 0 ? 0 : s > dim ? dim : s;
    e = e < 0 ? 0 : e > dim ? dim : e;
    *count = e > s ? (e - s + step - 1) / step : 0;
  } else {
    s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
    e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    *count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
  }
  *start = s;
  *end = e;
}

typedef struct SliceSpec {
  int64_t start[OX_MAX_RANK], step[OX_MAX_RANK], count[OX_MAX_RANK];
} SliceSpec;

static bool slice_spec(Cx *cx, Op *op, int r, const int64_t *dims, SliceSpec *sp) {
  Value *vs = cin(cx, op, 1, true, "starts"), *ve = cin(cx, op, 2, true, "ends");
  Value *va = has_in(op, 3) ? cin(cx, op, 3, true, "axes") : NULL;
  Value *vt = has_in(op, 4) ? cin(cx, op, 4, true, "steps") : NULL;
  if (!vs || !ve || (has_in(op, 3) && !va) || (has_in(op, 4) && !vt))
    return false;
  int64_t *s = cv_i(cx, op, vs, "starts"), *e = cv_i(cx, op, ve, "ends");
  int64_t *a = va ? cv_i(cx, op, va, "axes") : NULL, *t = vt ? cv_i(cx, op, vt, "steps") : NULL;
  if (!s || !e || (va && !a) || (vt && !t))
    return false;
  int64_t n = vs->numel;
  if (ve->numel != n || (va && va->numel != n) || (vt && vt->numel != n) || n > r)
    return op_err(cx, op, "starts, ends, axes and steps must have the same length (at most the rank)");
  for (int k = 0; k < r; k++) {
    sp->start[k] = 0;
    sp->step[k] = 1;
    sp->count[k] = dims[k];
  }
  bool seen[OX_MAX_RANK] = {0};
  for (int64_t k = 0; k < n; k++) {
    int ax = norm_axis(cx, op, a ? a[k] : k, r);
    if (ax < 0)
      return false;
    if (seen[ax])
      return op_err(cx, op, "axis %d is sliced twice", ax);
    seen[ax] = true;
    int64_t st = t ? t[k] : 1, b = s[k], en = e[k];
    if (st == 0)
      return op_err(cx, op, "slice step must not be 0");
    slice_bounds(dims[ax], &b, &en, st, &sp->count[ax]);
    sp->start[ax] = b;
    sp->step[ax] = st;
  }
  return true;
}

static bool f_slice(Cx *cx, Op *op) {
  Value *x = op->in[0];
  SliceSpec sp;
  if (!slice_spec(cx, op, x->rank, x->dims, &sp))
    return false;
  Value *v = cnew(cx, op, x->dtype, x->rank, sp.count);
  if (!v)
    return false;
  double *fx = dt_is_float(x->dtype) ? cv_f(x) : NULL;
  int64_t *ix = fx ? NULL : cv_i(cx, op, x, "data");
  if (!fx && !ix)
    return false;
  for (int64_t k = 0; k < v->numel; k++) {
    int64_t rem = k, src = 0, stride = 1;
    for (int j = x->rank - 1; j >= 0; j--) {
      int64_t c = rem % sp.count[j];
      rem /= sp.count[j];
      src += (sp.start[j] + c * sp.step[j]) * stride;
      stride *= x->dims[j];
    }
    if (fx)
      v->f[k] = fx[src];
    else
      v->i[k] = ix[src];
  }
  op->out[0] = v;
  return true;
}

static bool f_cast(Cx *cx, Op *op) {
  Value *x = op->in[0];
  int64_t to;
  if (!attr(op, "to"))
    return op_err(cx, op, "attribute 'to' is required");
  if (!a_int(cx, op, "to", 0, &to))
    return false;
  if (to <= 0 || to >= OT__COUNT || !dtinfo[to].size)
    return op_err(cx, op, "cast to %s is not supported", dt_name((int)to));
  Value *v = cnew(cx, op, (int)to, x->rank, x->dims);
  if (!v)
    return false;
  double *fx = cv_f(x);
  int64_t *ix = dt_is_float(x->dtype) ? NULL : cv_i(cx, op, x, "values");
  if (!dt_is_float(x->dtype) && !ix)
    return false;
  for (int64_t k = 0; k < x->numel; k++) {
    double d = fx[k];
    if (dt_is_float((int)to)) {
      v->f[k] = to == OT_DOUBLE ? d : (double)(float)d;
    } else if (to == OT_BOOL) {
      v->i[k] = d != 0;
    } else if (ix) {
      v->i[k] = ix[k];
    } else {
      if (!(fabs(d) < 9.2e18))
        return op_err(cx, op, "cannot cast %g to %s", d, dt_name((int)to));
      v->i[k] = (int64_t)trunc(d);
    }
  }
  op->out[0] = v;
  return true;
}

/* Target dims of a Reshape on dims d (0 copies, -1 infers; allowzero). */
static bool reshape_dims(Cx *cx, Op *op, int r, const int64_t *d, int64_t numel, int *nr, int64_t *out) {
  Value *sv = cin(cx, op, 1, true, "shape");
  int64_t *tg = sv ? cv_i(cx, op, sv, "shape") : NULL;
  bool allowzero;
  if (!tg || !a_bool(cx, op, "allowzero", false, &allowzero))
    return false;
  if (sv->numel > OX_MAX_RANK)
    return op_err(cx, op, "target shape has %lld dimensions", (long long)sv->numel);
  int minus = -1;
  int64_t known = 1;
  for (int k = 0; k < sv->numel; k++) {
    int64_t v = tg[k];
    if (v == 0 && !allowzero) {
      if (k >= r)
        return op_err(cx, op, "target dim %d is 0 (copy) but the input has rank %d", k, r);
      v = d[k];
    } else if (v == -1) {
      if (minus >= 0)
        return op_err(cx, op, "target shape has more than one -1");
      minus = k;
      v = 1;
    } else if (v < 0) {
      return op_err(cx, op, "target dim %lld is invalid", (long long)v);
    }
    out[k] = v;
    if (ckd_mul(&known, known, v))
      return op_err(cx, op, "target shape overflows");
  }
  if (minus >= 0) {
    if (known == 0 || numel % known)
      return op_err(cx, op, "cannot reshape %s into %s", dims_str(r, d), dims_str((int)sv->numel, tg));
    out[minus] = numel / known;
  } else if (known != numel) {
    return op_err(cx, op, "cannot reshape %s (%lld elements) into %s", dims_str(r, d), (long long)numel,
                  dims_str((int)sv->numel, tg));
  }
  *nr = (int)sv->numel;
  return true;
}

static bool f_reshape(Cx *cx, Op *op) {
  Value *x = op->in[0];
  int64_t dims[OX_MAX_RANK];
  int r;
  if (!reshape_dims(cx, op, x->rank, x->dims, x->numel, &r, dims))
    return false;
  return (op->out[0] = creshape(cx, op, x, r, dims)) != NULL;
}

static bool f_flatten(Cx *cx, Op *op) {
  Value *x = op->in[0];
  int64_t ax;
  if (!a_int(cx, op, "axis", 1, &ax))
    return false;
  if (ax < -x->rank || ax > x->rank)
    return op_err(cx, op, "axis %lld is out of range", (long long)ax);
  int a = (int)(ax < 0 ? ax + x->rank : ax);
  int64_t dims[2] = {numel_of(a, x->dims), numel_of(x->rank - a, x->dims + a)};
  return (op->out[0] = creshape(cx, op, x, 2, dims)) != NULL;
}

/* perm attribute (default: reversed) validated as a permutation of rank r. */
static bool get_perm(Cx *cx, Op *op, int r, int64_t *perm) {
  const int64_t *p;
  int n;
  if (!a_ints(cx, op, "perm", &p, &n))
    return false;
  if (n >= 0 && n != r)
    return op_err(cx, op, "perm has %d entries for a rank-%d input", n, r);
  unsigned seen = 0;
  for (int k = 0; k < r; k++) {
    perm[k] = n < 0 ? r - 1 - k : p[k];
    if (perm[k] < 0 || perm[k] >= r || (seen >> perm[k] & 1))
      return op_err(cx, op, "perm is not a permutation of 0..%d", r - 1);
    seen |= 1u << perm[k];
  }
  return true;
}

static bool f_transpose(Cx *cx, Op *op) {
  Value *x = op->in[0];
  int64_t perm[OX_MAX_RANK], dims[OX_MAX_RANK];
  if (!get_perm(cx, op, x->rank, perm))
    return false;
  for (int k = 0; k < x->rank; k++)
    dims[k] = x->dims[perm[k]];
  Value *v = cnew(cx, op, x->dtype, x->rank, dims);
  if (!v)
    return false;
  double *fx = dt_is_float(x->dtype) ? cv_f(x) : NULL;
  int64_t *ix = fx ? NULL : cv_i(cx, op, x, "data");
  if (!fx && !ix)
    return false;
  int64_t xstride[OX_MAX_RANK], s = 1;
  for (int k = x->rank - 1; k >= 0; k--) {
    xstride[k] = s;
    s *= x->dims[k];
  }
  for (int64_t k = 0; k < v->numel; k++) {
    int64_t rem = k, src = 0;
    for (int j = x->rank - 1; j >= 0; j--) {
      src += (rem % dims[j]) * xstride[perm[j]];
      rem /= dims[j];
    }
    if (fx)
      v->f[k] = fx[src];
    else
      v->i[k] = ix[src];
  }
  op->out[0] = v;
  return true;
}

/* numpy broadcasting of two shapes. */
static bool bcast(Cx *cx, Op *op, int ra, const int64_t *a, int rb, const int64_t *b, int *rr, int64_t *r) {
  int n = ra > rb ? ra : rb;
  for (int k = 0; k < n; k++) {
    int64_t x = k - (n - ra) >= 0 ? a[k - (n - ra)] : 1, y = k - (n - rb) >= 0 ? b[k - (n - rb)] : 1;
    if (x != y && x != 1 && y != 1)
      return op_err(cx, op, "shapes %s and %s do not broadcast", dims_str(ra, a), dims_str(rb, b));
    r[k] = x == 1 ? y : x;
  }
  *rr = n;
  return true;
}

/* Flat index into a broadcast operand of dims a for output element k. */
static int64_t bidx(int64_t k, int nr, const int64_t *r, int na, const int64_t *a) {
  int64_t idx = 0, stride = 1;
  for (int i = nr - 1, j = na - 1; i >= 0; i--, j--) {
    int64_t c = k % r[i];
    k /= r[i];
    if (j >= 0) {
      if (a[j] != 1)
        idx += c * stride;
      stride *= a[j];
    }
  }
  return idx;
}

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MIN, BIN_MAX, BIN_EQ, BIN_LT, BIN_GT };

static int bin_kind(const char *t) {
  static const char *const names[] = {"Add", "Sub", "Mul", "Div", "Pow", "Min", "Max", "Equal", "Less", "Greater"};
  for (int k = 0; k < (int)(sizeof names / sizeof *names); k++)
    if (!strcmp(t, names[k]))
      return k;
  return -1;
}

static bool f_binary(Cx *cx, Op *op) {
  int kind = bin_kind(op->nd->op_type);
  Value *a = op->in[0], *b = op->in[1];
  int64_t dims[OX_MAX_RANK];
  int r;
  if (!bcast(cx, op, a->rank, a->dims, b->rank, b->dims, &r, dims))
    return false;
  bool isf = dt_is_float(a->dtype) || dt_is_float(b->dtype);
  int dt = kind >= BIN_EQ ? OT_BOOL : isf ? (dt_is_float(a->dtype) ? a->dtype : b->dtype) : a->dtype;
  Value *v = cnew(cx, op, dt, r, dims);
  if (!v)
    return false;
  if (isf || kind >= BIN_EQ) {
    double *fa = cv_f(a), *fb = cv_f(b);
    for (int64_t k = 0; k < v->numel; k++) {
      double x = fa[bidx(k, r, dims, a->rank, a->dims)], y = fb[bidx(k, r, dims, b->rank, b->dims)], z = 0;
      switch (kind) {
      case BIN_ADD: z = x + y; break;
      case BIN_SUB: z = x - y; break;
      case BIN_MUL: z = x * y; break;
      case BIN_DIV: z = x / y; break;
      case BIN_POW: z = pow(x, y); break;
      case BIN_MIN: z = x < y ? x : y; break;
      case BIN_MAX: z = x > y ? x : y; break;
      case BIN_EQ: z = x == y; break;
      case BIN_LT: z = x < y; break;
      case BIN_GT: z = x > y; break;
      }
      if (kind >= BIN_EQ)
        v->i[k] = z != 0;
      else
        v->f[k] = dt == OT_FLOAT ? (double)(float)z : z;
    }
  } else {
    int64_t *ia = cv_i(cx, op, a, "values"), *ib = cv_i(cx, op, b, "values");
    if (!ia || !ib)
      return false;
    for (int64_t k = 0; k < v->numel; k++) {
      int64_t x = ia[bidx(k, r, dims, a->rank, a->dims)], y = ib[bidx(k, r, dims, b->rank, b->dims)], z = 0;
      bool ovf = false;
      switch (kind) {
      case BIN_ADD: ovf = ckd_add(&z, x, y); break;
      case BIN_SUB: ovf = ckd_sub(&z, x, y); break;
      case BIN_MUL: ovf = ckd_mul(&z, x, y); break;
      case BIN_DIV:
        if (y == 0 || (x == INT64_MIN && y == -1))
          return op_err(cx, op, "integer division by zero (or overflow) in a constant");
        z = x / y; /* truncation, as ONNX Runtime does */
        break;
      case BIN_POW: {
        double p = pow((double)x, (double)y);
        ovf = !(fabs(p) < 9.2e18);
        z = (int64_t)p;
        break;
      }
      case BIN_MIN: z = x < y ? x : y; break;
      case BIN_MAX: z = x > y ? x : y; break;
      }
      if (ovf)
        return op_err(cx, op, "integer overflow in a constant");
      v->i[k] = z;
    }
  }
  op->out[0] = v;
  return true;
}

static bool f_unary(Cx *cx, Op *op) {
  const char *t = op->nd->op_type;
  Value *x = op->in[0];
  bool isf = dt_is_float(x->dtype);
  Value *v = cnew(cx, op, !strcmp(t, "Not") ? OT_BOOL : x->dtype, x->rank, x->dims);
  if (!v)
    return false;
  if (!isf || !strcmp(t, "Not")) {
    int64_t *ix = cv_i(cx, op, x, "values");
    if (!ix)
      return false;
    for (int64_t k = 0; k < x->numel; k++) {
      int64_t y = ix[k];
      if (!strcmp(t, "Not"))
        y = !y;
      else if (!strcmp(t, "Neg") || (!strcmp(t, "Abs") && y < 0)) {
        if (y == INT64_MIN)
          return op_err(cx, op, "integer overflow in a constant");
        y = -y;
      } else if (!strcmp(t, "Relu"))
        y = y > 0 ? y : 0;
      else if (!strcmp(t, "Sqrt"))
        return op_err(cx, op, "Sqrt of an integer tensor");
      v->i[k] = y;
    }
  } else {
    double *fx = cv_f(x);
    for (int64_t k = 0; k < x->numel; k++) {
      double y = fx[k];
      y = !strcmp(t, "Neg") ? -y : !strcmp(t, "Sqrt") ? sqrt(y) : !strcmp(t, "Floor") ? floor(y)
          : !strcmp(t, "Ceil") ? ceil(y) : !strcmp(t, "Abs") ? fabs(y) : !strcmp(t, "Relu") ? (y > 0 ? y : 0)
          : !strcmp(t, "Exp") ? exp(y) : !strcmp(t, "Reciprocal") ? 1 / y : y;
      v->f[k] = x->dtype == OT_FLOAT ? (double)(float)y : y;
    }
  }
  op->out[0] = v;
  return true;
}

static bool f_where(Cx *cx, Op *op) {
  Value *c = op->in[0], *a = op->in[1], *b = op->in[2];
  int64_t d1[OX_MAX_RANK], dims[OX_MAX_RANK];
  int r1, r;
  if (!bcast(cx, op, c->rank, c->dims, a->rank, a->dims, &r1, d1) || !bcast(cx, op, r1, d1, b->rank, b->dims, &r, dims))
    return false;
  bool isf = dt_is_float(a->dtype) || dt_is_float(b->dtype);
  Value *v = cnew(cx, op, isf ? (dt_is_float(a->dtype) ? a->dtype : b->dtype) : a->dtype, r, dims);
  int64_t *ic = cv_i(cx, op, c, "condition");
  if (!v || !ic)
    return false;
  double *fa = isf ? cv_f(a) : NULL, *fb = isf ? cv_f(b) : NULL;
  int64_t *ia = isf ? NULL : cv_i(cx, op, a, "values"), *ib = isf ? NULL : cv_i(cx, op, b, "values");
  if (!isf && (!ia || !ib))
    return false;
  for (int64_t k = 0; k < v->numel; k++) {
    bool w = ic[bidx(k, r, dims, c->rank, c->dims)] != 0;
    int64_t ka = bidx(k, r, dims, a->rank, a->dims), kb = bidx(k, r, dims, b->rank, b->dims);
    if (isf)
      v->f[k] = w ? fa[ka] : fb[kb];
    else
      v->i[k] = w ? ia[ka] : ib[kb];
  }
  op->out[0] = v;
  return true;
}

static bool f_expand(Cx *cx, Op *op) {
  Value *x = op->in[0], *sv = op->in[1];
  int64_t *sh = cv_i(cx, op, sv, "shape");
  if (!sh)
    return false;
  if (sv->numel > OX_MAX_RANK)
    return op_err(cx, op, "shape has too many dimensions");
  int64_t dims[OX_MAX_RANK];
  int r;
  if (!bcast(cx, op, x->rank, x->dims, (int)sv->numel, sh, &r, dims))
    return false;
  Value *v = cnew(cx, op, x->dtype, r, dims);
  if (!v)
    return false;
  double *fx = dt_is_float(x->dtype) ? cv_f(x) : NULL;
  int64_t *ix = fx ? NULL : cv_i(cx, op, x, "values");
  if (!fx && !ix)
    return false;
  for (int64_t k = 0; k < v->numel; k++) {
    int64_t s = bidx(k, r, dims, x->rank, x->dims);
    if (fx)
      v->f[k] = fx[s];
    else
      v->i[k] = ix[s];
  }
  op->out[0] = v;
  return true;
}

static bool f_constant_of_shape(Cx *cx, Op *op) {
  Value *sv = op->in[0];
  int64_t *sh = cv_i(cx, op, sv, "shape");
  if (!sh)
    return false;
  if (sv->numel > OX_MAX_RANK)
    return op_err(cx, op, "shape has too many dimensions");
  int dt = OT_FLOAT;
  double fill = 0;
  int64_t ifill = 0;
  OxAttr *a = attr(op, "value");
  if (a) {
    if (!attr_type(cx, op, a, AT_TENSOR, "a tensor"))
      return false;
    if (!a->t->ok)
      tensor_check(cx, a->t);
    if (!a->t->ok)
      return false;
    if (a->t->numel != 1)
      return op_err(cx, op, "attribute 'value' must have one element");
    dt = a->t->dtype;
    if (dt_is_float(dt))
      fill = ox_get_f(a->t, 0);
    else if (!ox_get_i(a->t, 0, &ifill))
      return op_err(cx, op, "attribute 'value' does not fit in int64");
  }
  Value *v = cnew(cx, op, dt, (int)sv->numel, sh);
  if (!v)
    return false;
  for (int64_t k = 0; k < v->numel; k++) {
    if (v->f)
      v->f[k] = fill;
    else
      v->i[k] = ifill;
  }
  op->out[0] = v;
  return true;
}

static bool f_range(Cx *cx, Op *op) {
  Value *s = op->in[0], *l = op->in[1], *d = op->in[2];
  if (s->numel != 1 || l->numel != 1 || d->numel != 1)
    return op_err(cx, op, "start, limit and delta must be scalars");
  double fs = cv_f(s)[0], fl = cv_f(l)[0], fd = cv_f(d)[0];
  if (fd == 0 || !isfinite(fs) || !isfinite(fl) || !isfinite(fd))
    return op_err(cx, op, "invalid range (%g, %g, %g)", fs, fl, fd);
  double cnt = ceil((fl - fs) / fd);
  int64_t n = cnt > 0 ? (cnt > (double)OX_MAX_FOLD ? OX_MAX_FOLD + 1 : (int64_t)cnt) : 0;
  Value *v = cnew(cx, op, s->dtype, 1, &n);
  if (!v)
    return false;
  for (int64_t k = 0; k < n; k++) {
    if (v->f)
      v->f[k] = fs + (double)k * fd;
    else
      v->i[k] = (int64_t)(fs + (double)k * fd);
  }
  op->out[0] = v;
  return true;
}

/* ===================================================== runtime handlers */

#define OX_MAX_WIN (1 << 20) /* kernel, stride, dilation and pad values */

/* A list attribute of exactly `want` values in [lo, hi]; `def` when absent. */
static bool ints_n(Cx *cx, Op *op, const char *name, int want, int64_t lo, int64_t hi, int64_t def, int64_t *out) {
  const int64_t *v;
  int n;
  if (!a_ints(cx, op, name, &v, &n))
    return false;
  for (int k = 0; k < want; k++)
    out[k] = def;
  if (n < 0)
    return true;
  if (n != want)
    return op_err(cx, op, "attribute '%s' has %d values, expected %d", name, n, want);
  for (int k = 0; k < want; k++) {
    if (v[k] < lo || v[k] > hi)
      return op_err(cx, op, "attribute '%s' value %lld is out of range [%lld, %lld]", name, (long long)v[k],
                    (long long)lo, (long long)hi);
    out[k] = v[k];
  }
  return true;
}

/* Sliding-window attributes shared by Conv, ConvTranspose and the pools. */
typedef struct Win {
  int sp; /* spatial dims: 1 or 2 */
  int64_t k[2], s[2], d[2], pb[2], pe[2];
  const char *auto_pad;
} Win;

static bool win_attrs(Cx *cx, Op *op, const Shape *xs, Win *w, const int64_t *kernel, bool dil_ok, bool same) {
  int sp = w->sp = xs->rank - 2;
  int64_t ks[2], pads[4];
  OxAttr *ka = attr(op, "kernel_shape");
  if (!kernel && !ka)
    return op_err(cx, op, "attribute 'kernel_shape' is required");
  if (!ints_n(cx, op, "kernel_shape", sp, 1, OX_MAX_WIN, 1, ks) ||
      !ints_n(cx, op, "strides", sp, 1, OX_MAX_WIN, 1, w->s) ||
      !ints_n(cx, op, "dilations", sp, 1, OX_MAX_WIN, 1, w->d) ||
      !ints_n(cx, op, "pads", 2 * sp, 0, OX_MAX_WIN, 0, pads) ||
      !a_str(cx, op, "auto_pad", "NOTSET", &w->auto_pad))
    return false;
  for (int k = 0; k < sp; k++) {
    if (kernel && (kernel[k] < 1 || kernel[k] > OX_MAX_WIN))
      return op_err(cx, op, "kernel size %lld is out of range", (long long)kernel[k]);
    if (kernel && ka && ks[k] != kernel[k])
      return op_err(cx, op, "kernel_shape %s does not match the weight's %s", dims_str(sp, ks), dims_str(sp, kernel));
    w->k[k] = kernel ? kernel[k] : ks[k];
    if (!dil_ok && w->d[k] != 1)
      return op_err(cx, op, "dilations are not supported here");
    w->pb[k] = pads[k];
    w->pe[k] = pads[sp + k];
  }
  const char *ap = w->auto_pad;
  bool upper = !strcmp(ap, "SAME_UPPER"), lower = !strcmp(ap, "SAME_LOWER");
  if (!strcmp(ap, "NOTSET") || !*ap)
    return true;
  if (attr(op, "pads"))
    return op_err(cx, op, "'pads' and auto_pad=%s are both given", ap);
  if (!strcmp(ap, "VALID"))
    return true;
  if (!upper && !lower)
    return op_err(cx, op, "auto_pad '%s' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER", ap);
  if (!same)
    return true; /* the caller resolves SAME itself (ConvTranspose) */
  for (int k = 0; k < sp; k++) {
    int64_t in = xs->d[2 + k], out = (in + w->s[k] - 1) / w->s[k];
    int64_t total = (out - 1) * w->s[k] + (w->k[k] - 1) * w->d[k] + 1 - in;
    if (total < 0)
      total = 0;
    /* SAME_UPPER puts the odd pixel at the end, SAME_LOWER at the start. */
    w->pb[k] = upper ? total / 2 : total - total / 2;
    w->pe[k] = total - w->pb[k];
  }
  return true;
}

/* Store window attributes in the IR's 2-D layout (1-D uses index 1). */
static void set_win(Node *n, const Win *w) {
  int o = w->sp == 1 ? 1 : 0;
  for (int k = 0; k < w->sp; k++) {
    n->kernel[o + k] = (int)w->k[k];
    n->stride[o + k] = (int)w->s[k];
    n->dilation[o + k] = (int)w->d[k];
    n->pad[o + k] = (int)w->pb[k];
    n->pad[o + k + 2] = (int)w->pe[k];
  }
}

static bool need_rank(Cx *cx, Op *op, Tensor *x, int lo, int hi, const char *what) {
  if (x->shape.rank >= lo && x->shape.rank <= hi)
    return true;
  return op_err(cx, op, "input of shape %s is not supported (%s)", shape_str(&x->shape), what);
}

/* If x is the result of a zero Pad that nothing else reads, return the Pad's
 * input and its pads (t, l, b, r) so a conv or an average pool (counting
 * the padding) can pad on the fly: same values, one pass and buffer fewer. */
static Tensor *zero_pad_source(Cx *cx, Tensor *x, int pad[4]) {
  Node *p = x->producer;
  if (!p || p->op != OP_PAD || p->pad_mode != 0 || p->pad_value != 0 || cx->tuses[x->id] != 1 ||
      cx->tgout[x->id])
    return NULL;
  memcpy(pad, p->pad, sizeof p->pad);
  return p->in[0];
}

/* Conv: 1-D or 2-D, weight/bias from initializers (names kept), auto_pad
 * resolved here so the IR only ever sees explicit [t, l, b, r] pads. */
static bool h_conv(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *w = cin(cx, op, 1, true, "weight");
  Value *b = has_in(op, 2) ? cin(cx, op, 2, true, "bias") : NULL;
  if (!x || !w || (has_in(op, 2) && !b))
    return false;
  if (!need_rank(cx, op, x, 3, 4, "only 1-D and 2-D convolutions"))
    return false;
  int r = x->shape.rank;
  if (w->rank != r)
    return op_err(cx, op, "weight has shape %s; a rank-%d weight is expected", dims_str(w->rank, w->dims), r);
  int64_t group;
  Win win;
  if (!a_int(cx, op, "group", 1, &group) || !win_attrs(cx, op, &x->shape, &win, w->dims + 2, true, true))
    return false;
  if (group < 1 || group > INT32_MAX)
    return op_err(cx, op, "group %lld is invalid", (long long)group);
  int extra[4];
  Tensor *src = zero_pad_source(cx, x, extra);
  Node *n = mk1(cx, op, r == 3 ? OP_CONV1D : OP_CONV2D, src ? src : x, NULL);
  n->out_ch = w->dims[0];
  n->groups = (int)group;
  set_win(n, &win);
  for (int k = 0; src && k < 4; k++)
    n->pad[k] += extra[k]; /* the Pad node is left unused and dropped at the end */
  if (!(n->weight = mk_param(cx, op, w, "weight", TK_PARAM)))
    return false;
  n->has_bias = b != NULL;
  if (b) {
    if (b->numel != w->dims[0])
      return op_err(cx, op, "bias has %lld values for %lld output channels", (long long)b->numel,
                    (long long)w->dims[0]);
    if (!(n->bias = mk_param(cx, op, b, "bias", TK_PARAM)))
      return false;
  }
  return done(cx, op, n);
}

/* ConvTranspose: output_shape / SAME are turned into pads with ONNX's rule;
 * the IR's asymmetric pads plus output_padding express every case. */
static bool h_conv_transpose(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *w = cin(cx, op, 1, true, "weight");
  Value *b = has_in(op, 2) ? cin(cx, op, 2, true, "bias") : NULL;
  if (!x || !w || (has_in(op, 2) && !b))
    return false;
  if (!need_rank(cx, op, x, 4, 4, "only 2-D transposed convolutions"))
    return false;
  if (w->rank != 4)
    return op_err(cx, op, "weight has shape %s; a rank-4 weight is expected", dims_str(w->rank, w->dims));
  int64_t group, opad[2], oshape[4];
  Win win;
  if (!a_int(cx, op, "group", 1, &group) || !win_attrs(cx, op, &x->shape, &win, w->dims + 2, true, false) ||
      !ints_n(cx, op, "output_padding", 2, 0, OX_MAX_WIN, 0, opad))
    return false;
  if (group < 1 || group > INT32_MAX || w->dims[1] > INT32_MAX / group)
    return op_err(cx, op, "group %lld is invalid", (long long)group);
  const int64_t *os;
  int nos;
  if (!a_ints(cx, op, "output_shape", &os, &nos))
    return false;
  bool same = !strcmp(win.auto_pad, "SAME_UPPER") || !strcmp(win.auto_pad, "SAME_LOWER");
  if (nos >= 0 && nos != 2 && nos != 4)
    return op_err(cx, op, "output_shape must have 2 (or 4) values");
  if (nos >= 0 || same) {
    /* ONNX derives the pads from the requested output size. */
    for (int k = 0; k < 2; k++) {
      int64_t in = x->shape.d[2 + k];
      oshape[k] = nos >= 0 ? os[nos == 4 ? 2 + k : k] : in * win.s[k];
      int64_t total = win.s[k] * (in - 1) + opad[k] + (win.k[k] - 1) * win.d[k] + 1 - oshape[k];
      if (total < 0 || total > 2 * OX_MAX_WIN)
        return op_err(cx, op, "output size %lld cannot be produced by this transposed convolution",
                      (long long)oshape[k]);
      bool upper = !strcmp(win.auto_pad, "SAME_UPPER");
      win.pb[k] = upper ? total / 2 : total - total / 2;
      win.pe[k] = total - win.pb[k];
    }
  }
  Node *n = mk1(cx, op, OP_CONV_TRANSPOSE2D, x, NULL);
  n->out_ch = w->dims[1] * group;
  n->groups = (int)group;
  set_win(n, &win);
  n->out_pad[0] = (int)opad[0];
  n->out_pad[1] = (int)opad[1];
  if (!(n->weight = mk_param(cx, op, w, "weight", TK_PARAM)))
    return false;
  n->has_bias = b != NULL;
  if (b) {
    if (b->numel != n->out_ch)
      return op_err(cx, op, "bias has %lld values for %lld output channels", (long long)b->numel,
                    (long long)n->out_ch);
    if (!(n->bias = mk_param(cx, op, b, "bias", TK_PARAM)))
      return false;
  }
  return done(cx, op, n);
}

/* W (K, N) row-major -> (N, K), optionally scaled. */
static float *transpose2(const float *w, int64_t K, int64_t N, double scale) {
  float *t = cnnc_alloc(sizeof(float) * (size_t)(K * N > 0 ? K * N : 1));
  for (int64_t k = 0; k < K; k++)
    for (int64_t n = 0; n < N; n++)
      t[n * K + k] = scale == 1 ? w[k * N + n] : (float)(w[k * N + n] * scale);
  return t;
}

/* Gemm as a linear layer: alpha is folded into the weight and beta into the
 * bias at import; transB=0 weights are transposed to PyTorch's (out, in). */
static bool h_gemm(Cx *cx, Op *op) {
  Tensor *a = rt(cx, op, 0);
  Value *B = cin(cx, op, 1, true, "B"), *C = has_in(op, 2) ? cin(cx, op, 2, true, "C") : NULL;
  double alpha, beta;
  bool ta, tb;
  if (!a || !B || (has_in(op, 2) && !C) || !a_float(cx, op, "alpha", 1, &alpha) ||
      !a_float(cx, op, "beta", 1, &beta) || !a_bool(cx, op, "transA", false, &ta) ||
      !a_bool(cx, op, "transB", false, &tb))
    return false;
  if (ta)
    return op_err(cx, op, "transA=1 is not supported (the batch must stay the first dimension)");
  if (!need_rank(cx, op, a, 2, 2, "Gemm needs a 2-D input; Flatten first"))
    return false;
  if (B->rank != 2)
    return op_err(cx, op, "B has shape %s; a matrix is expected", dims_str(B->rank, B->dims));
  int64_t K = tb ? B->dims[1] : B->dims[0], N = tb ? B->dims[0] : B->dims[1];
  if (K != a->shape.d[1])
    return op_err(cx, op, "A %s and B %s (transB=%d) do not multiply", shape_str(&a->shape),
                  dims_str(2, B->dims), tb);
  float *w = cv_f32_new(B);
  if (!tb)
    w = transpose2(w, K, N, alpha);
  else if (alpha != 1)
    for (int64_t k = 0; k < K * N; k++)
      w[k] = (float)(w[k] * alpha);
  Node *n = mk1(cx, op, OP_LINEAR, a, NULL);
  n->out_ch = N;
  if (!(n->weight = mk_tensor(cx, op, B, "weight", TK_PARAM, w, shape_of(2, N, K))))
    return false;
  n->has_bias = C && beta != 0;
  if (n->has_bias) {
    bool per = C->numel == N && (C->rank == 1 || (C->rank == 2 && C->dims[0] == 1));
    if (C->numel != 1 && !per)
      return op_err(cx, op, "C of shape %s is not supported (only a bias of %lld values or a scalar)",
                    dims_str(C->rank, C->dims), (long long)N);
    double *cv = cv_f(C);
    float *bias = cnnc_alloc(sizeof(float) * (size_t)N);
    for (int64_t k = 0; k < N; k++)
      bias[k] = (float)(beta * cv[per ? k : 0]);
    if (!(n->bias = mk_tensor(cx, op, C, "bias", TK_PARAM, bias, shape_of(1, N))))
      return false;
  }
  return done(cx, op, n);
}

/* MatMul by a constant matrix is a bias-less linear layer; a following Add of
 * a constant vector is then folded into its bias (try_fold_bias). */
static bool h_matmul(Cx *cx, Op *op) {
  Tensor *a = rt(cx, op, 0);
  Value *B = cin(cx, op, 1, true, "B");
  if (!a || !B)
    return false;
  if (!need_rank(cx, op, a, 2, 2, "MatMul is supported as a 2-D input times a constant matrix"))
    return false;
  if (B->rank != 2 || B->dims[0] != a->shape.d[1])
    return op_err(cx, op, "A %s and B %s do not multiply", shape_str(&a->shape), dims_str(B->rank, B->dims));
  int64_t K = B->dims[0], N = B->dims[1];
  Node *n = mk1(cx, op, OP_LINEAR, a, NULL);
  n->out_ch = N;
  n->has_bias = false;
  if (!(n->weight = mk_tensor(cx, op, B, "weight", TK_PARAM, transpose2(cv_f32_new(B), K, N, 1), shape_of(2, N, K))))
    return false;
  return done(cx, op, n);
}

/* Inference BatchNormalization: the statistics become BN buffers so that
 * pass_fold can fold them into the preceding convolution. */
static bool h_batchnorm(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *p[4];
  static const char *const what[4] = {"scale", "B", "mean", "var"};
  for (int k = 0; k < 4; k++)
    if (!(p[k] = cin(cx, op, k + 1, true, what[k])))
      return false;
  double eps, mom;
  bool training;
  if (!x || !a_float(cx, op, "epsilon", 1e-5, &eps) || !a_float(cx, op, "momentum", 0.9, &mom) ||
      !a_bool(cx, op, "training_mode", false, &training))
    return false;
  if (training)
    return op_err(cx, op, "training_mode=1 is not supported (export the model in eval mode)");
  if (!need_rank(cx, op, x, 2, 4, "batch normalization over (N,C), (N,C,L) or (N,C,H,W)"))
    return false;
  Node *n = mk1(cx, op, x->shape.rank == 4 ? OP_BATCHNORM2D : OP_BATCHNORM1D, x, NULL);
  n->eps = eps;
  n->momentum = 1 - mom; /* PyTorch's momentum is ONNX's 1 - momentum */
  n->affine = true;
  static const char *const sfx[4] = {"weight", "bias", "running_mean", "running_var"};
  Tensor *t[4];
  for (int k = 0; k < 4; k++) {
    if (p[k]->numel != x->shape.d[1])
      return op_err(cx, op, "%s has %lld values for %lld channels", what[k], (long long)p[k]->numel,
                    (long long)x->shape.d[1]);
    if (!(t[k] = mk_param(cx, op, p[k], sfx[k], k < 2 ? TK_PARAM : TK_BUFFER)))
      return false;
  }
  n->weight = t[0];
  n->bias = t[1];
  n->mean = t[2];
  n->var = t[3];
  return done(cx, op, n);
}

static bool h_instancenorm(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *s = cin(cx, op, 1, true, "scale"), *b = cin(cx, op, 2, true, "B");
  double eps;
  if (!x || !s || !b || !a_float(cx, op, "epsilon", 1e-5, &eps))
    return false;
  if (!need_rank(cx, op, x, 4, 4, "instance normalization over (N,C,H,W)"))
    return false;
  Node *n = mk1(cx, op, OP_INSTANCENORM2D, x, NULL);
  n->eps = eps;
  n->affine = true;
  if (!(n->weight = mk_param(cx, op, s, "weight", TK_PARAM)) || !(n->bias = mk_param(cx, op, b, "bias", TK_PARAM)))
    return false;
  return done(cx, op, n);
}

static bool h_layernorm(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *s = cin(cx, op, 1, true, "scale"), *b = has_in(op, 2) ? cin(cx, op, 2, true, "B") : NULL;
  int64_t ax, stash;
  double eps;
  if (!x || !s || (has_in(op, 2) && !b) || !a_int(cx, op, "axis", -1, &ax) || !a_float(cx, op, "epsilon", 1e-5, &eps) ||
      !a_int(cx, op, "stash_type", 1, &stash))
    return false;
  int a = norm_axis(cx, op, ax, x->shape.rank);
  if (a < 0)
    return false;
  if (a != 1)
    return op_err(cx, op, "normalizing over axes %d.. of %s is not supported (only over every non-batch axis)", a,
                  shape_str(&x->shape));
  Node *n = mk1(cx, op, OP_LAYERNORM, x, NULL);
  n->eps = eps;
  n->affine = true;
  Shape ps = shape_make(x->shape.rank - 1, x->shape.d + 1);
  if (!(n->weight = mk_param(cx, op, s, "weight", TK_PARAM)))
    return false;
  if (b)
    n->bias = mk_param(cx, op, b, "bias", TK_PARAM);
  else
    n->bias = mk_tensor(cx, op, NULL, "bias", TK_PARAM, cnnc_alloc(sizeof(float) * (size_t)shape_numel(&ps)), ps);
  if (!n->bias)
    return false;
  return done(cx, op, n);
}

/* Pointwise activations with their ONNX defaults (which differ from
 * PyTorch's for HardSigmoid: alpha 0.2, beta 0.5). */
static bool h_unary(Cx *cx, Op *op) {
  static const struct { const char *name; OpKind op; } map[] = {
    {"Relu", OP_RELU}, {"Sigmoid", OP_SIGMOID}, {"Tanh", OP_TANH}, {"HardSwish", OP_HARDSWISH},
    {"LeakyRelu", OP_LEAKY_RELU}, {"Elu", OP_ELU}, {"Selu", OP_SELU}, {"HardSigmoid", OP_HARDSIGMOID},
  };
  const char *t = op->nd->op_type;
  OpKind k = OP__COUNT;
  for (size_t i = 0; i < sizeof map / sizeof *map; i++)
    if (!strcmp(map[i].name, t))
      k = map[i].op;
  Tensor *x = rt(cx, op, 0);
  if (!x || k == OP__COUNT)
    return x ? op_err(cx, op, "internal: no IR op") : false;
  double alpha = 0, beta = 0;
  switch (k) {
  case OP_LEAKY_RELU:
    if (!a_float(cx, op, "alpha", 0.01, &alpha))
      return false;
    break;
  case OP_ELU:
    if (!a_float(cx, op, "alpha", 1.0, &alpha))
      return false;
    break;
  case OP_HARDSIGMOID:
    if (!a_float(cx, op, "alpha", 0.2, &alpha) || !a_float(cx, op, "beta", 0.5, &beta))
      return false;
    break;
  case OP_SELU: {
    /* The runtime uses PyTorch's constants; ONNX lets a model change them. */
    double ga;
    if (!a_float(cx, op, "alpha", 1.67326319217681884765625, &alpha) ||
        !a_float(cx, op, "gamma", 1.05070102214813232421875, &ga))
      return false;
    if (fabs(alpha - 1.6732632423543772) > 1e-6 || fabs(ga - 1.0507009873554805) > 1e-6)
      return op_err(cx, op, "only the standard SELU constants are supported (alpha=%g gamma=%g)", alpha, ga);
    alpha = 0;
    break;
  }
  default: break;
  }
  Node *n = mk1(cx, op, k, x, NULL);
  n->alpha = alpha;
  n->beta = beta;
  return done(cx, op, n);
}

/* Softmax/LogSoftmax; opset < 13 semantics are handled below. */
static bool h_softmax(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  int64_t ax;
  if (!x || !a_int(cx, op, "axis", cx->opset < 13 ? 1 : -1, &ax))
    return false;
  int r = x->shape.rank, a = norm_axis(cx, op, ax, r);
  if (a < 0)
    return false;
  if (a == 0)
    return op_err(cx, op, "softmax over the batch dimension is not supported");
  OpKind k = !strcmp(op->nd->op_type, "Softmax") ? OP_SOFTMAX : OP_LOG_SOFTMAX;
  /* Before opset 13 the input is coerced to 2-D at `axis`: the softmax runs
   * over all trailing axes together.  That is one axis when the rest are 1. */
  bool trailing_ones = true;
  for (int j = a + 1; j < r; j++)
    trailing_ones &= x->shape.d[j] == 1;
  if (cx->opset >= 13 || trailing_ones) {
    Node *n = mk1(cx, op, k, x, NULL);
    n->axis = a;
    return done(cx, op, n);
  }
  if (a != 1)
    return op_err(cx, op, "opset-%d softmax over axes %d.. of %s is not supported", cx->opset, a, shape_str(&x->shape));
  Node *f = mk1(cx, op, OP_FLATTEN, x, "flatten");
  f->axis = 1;
  if (!fin(cx, f))
    return false;
  Node *s = mk1(cx, op, k, f->out, "softmax");
  s->axis = 1;
  if (!fin(cx, s))
    return false;
  Node *n = mk1(cx, op, OP_RESHAPE, s->out, NULL);
  n->target = shape_make(r - 1, x->shape.d + 1);
  return done(cx, op, n);
}

/* Clip: bounds are constant inputs since opset 11 (attributes before). */
static bool h_clip(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  if (!x)
    return false;
  double lo = -INFINITY, hi = INFINITY;
  if (!a_float(cx, op, "min", lo, &lo) || !a_float(cx, op, "max", hi, &hi))
    return false;
  for (int k = 1; k <= 2; k++) {
    if (!has_in(op, k))
      continue;
    Value *v = cin(cx, op, k, true, k == 1 ? "min" : "max");
    if (!v)
      return false;
    if (v->numel != 1)
      return op_err(cx, op, "%s must be a scalar", k == 1 ? "min" : "max");
    *(k == 1 ? &lo : &hi) = cv_f(v)[0];
  }
  if (isnan(lo) || isnan(hi))
    return op_err(cx, op, "clip bounds must not be NaN");
  if (lo == -INFINITY && hi == INFINITY) {
    out_rt(cx, op, 0, x);
    return true;
  }
  Node *n = mk1(cx, op, lo == 0 && hi == INFINITY ? OP_RELU : OP_CLIP, x, NULL);
  n->alpha = lo;
  n->beta = hi;
  return done(cx, op, n);
}

/* PRelu with one slope or one per channel (stored flat, as PyTorch does). */
static bool h_prelu(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *s = cin(cx, op, 1, true, "slope");
  if (!x || !s)
    return false;
  int r = x->shape.rank;
  int64_t C = r >= 2 ? x->shape.d[1] : 1;
  if (s->numel != 1) {
    /* ONNX broadcasts the slope from the right; per-channel means it lines up with axis 1. */
    bool ok = s->numel == C && s->rank <= r;
    for (int j = 0; ok && j < s->rank; j++) {
      int ax = r - s->rank + j;
      ok = s->dims[j] == 1 || (ax == 1 && s->dims[j] == C);
    }
    if (!ok)
      return op_err(cx, op, "slope of shape %s is neither a scalar nor per-channel for input %s",
                    dims_str(s->rank, s->dims), shape_str(&x->shape));
  }
  Node *n = mk1(cx, op, OP_PRELU, x, NULL);
  n->num_params = (int)s->numel;
  if (!(n->weight = mk_tensor(cx, op, s, "weight", TK_PARAM, cv_f32_new(s), shape_of(1, s->numel))))
    return false;
  return done(cx, op, n);
}

/* y = x * -1: exact, so Sub can use the IR's add. */
static Tensor *negate(Cx *cx, Op *op, Tensor *x) {
  float *m1 = cnnc_alloc(sizeof(float));
  m1[0] = -1;
  Tensor *c = mk_tensor(cx, op, NULL, "minus_one", TK_CONST, m1, shape_of(1, (int64_t)1));
  if (!c)
    return NULL;
  Tensor *in[2] = {x, c};
  Node *n = mk(cx, op, OP_MUL, in, 2, "neg");
  return fin(cx, n) ? n->out : NULL;
}

/* Fold `x + sign*c` into the bias of the conv/linear that produced x, when
 * x has no other consumer and c is per-channel (or a scalar). */
static bool try_fold_bias(Cx *cx, Op *op, Tensor *x, Value *c, double sign) {
  Node *p = x->producer;
  if (!p || (p->op != OP_CONV1D && p->op != OP_CONV2D && p->op != OP_CONV_TRANSPOSE2D && p->op != OP_LINEAR))
    return false;
  if (cx->tuses[x->id] != 1 || cx->tgout[x->id] || !dt_is_float(c->dtype))
    return false;
  int r = x->shape.rank;
  int64_t C = x->shape.d[1];
  if (c->rank > r)
    return false;
  for (int j = 0; j < c->rank; j++) {
    int ax = r - c->rank + j;
    if (c->dims[j] != 1 && (ax != 1 || c->dims[j] != C))
      return false;
  }
  double *cv = cv_f(c);
  float *b = cnnc_alloc(sizeof(float) * (size_t)C);
  for (int64_t k = 0; k < C; k++)
    b[k] = (float)((p->bias ? (double)p->bias->data[k] : 0.0) + sign * cv[c->numel == 1 ? 0 : k]);
  if (p->bias) {
    memcpy(p->bias->data, b, sizeof(float) * (size_t)C);
    free(b);
  } else {
    Op owner = *op;
    owner.name = p->name;
    if (!(p->bias = mk_tensor(cx, &owner, sign > 0 ? c : NULL, "bias", TK_PARAM, b, shape_of(1, C))))
      return false;
    p->has_bias = true;
  }
  out_rt(cx, op, 0, x);
  return true;
}

/* Add/Sub/Mul/Div with a computed operand.  The IR has add and mul only, so
 * Sub becomes an add of the negation (exact) and Div by a constant a mul by
 * its reciprocal (within an ulp).  Constants must not vary over the batch. */
static bool h_arith(Cx *cx, Op *op) {
  int kind = bin_kind(op->nd->op_type);
  Value *a = op->in[0], *b = op->in[1];
  if (kind > BIN_DIV)
    return op_err(cx, op, "is only supported on constants");
  if (!a->is_const && !b->is_const) {
    Tensor *x = a->t, *y = b->t;
    if (x->shape.rank != y->shape.rank)
      return op_err(cx, op, "operands %s and %s have different ranks (broadcasting into the batch dimension is "
                    "not supported)", shape_str(&x->shape), shape_str(&y->shape));
    if (kind == BIN_DIV)
      return op_err(cx, op, "dividing two computed tensors is not supported");
    if (kind == BIN_SUB && !(y = negate(cx, op, y)))
      return false;
    Tensor *in[2] = {x, y};
    return done(cx, op, mk(cx, op, kind == BIN_MUL ? OP_MUL : OP_ADD, in, 2, NULL));
  }
  bool cfirst = a->is_const;
  Value *c = cfirst ? a : b;
  Tensor *x = cfirst ? b->t : a->t;
  if (!dt_is_float(c->dtype))
    return op_err(cx, op, "constant operand '%s' is not a float tensor", c->name);
  if (c->rank > x->shape.rank || (c->rank == x->shape.rank && c->dims[0] != 1))
    return op_err(cx, op, "constant operand of shape %s does not broadcast over the batch of %s",
                  dims_str(c->rank, c->dims), shape_str(&x->shape));
  if (kind == BIN_DIV && cfirst)
    return op_err(cx, op, "dividing a constant by a computed tensor is not supported");
  if ((kind == BIN_ADD || (kind == BIN_SUB && !cfirst)) && try_fold_bias(cx, op, x, c, kind == BIN_ADD ? 1 : -1))
    return true;
  double *cv = cv_f(c);
  float *d = cnnc_alloc(sizeof(float) * (size_t)(c->numel ? c->numel : 1));
  bool identity = c->numel == 1, transformed = false;
  for (int64_t k = 0; k < c->numel; k++) {
    double v = cv[k];
    if (kind == BIN_SUB && !cfirst) {
      v = -v;
      transformed = true;
    } else if (kind == BIN_DIV) {
      if (v == 0)
        return op_err(cx, op, "division by a constant zero");
      v = 1 / v; /* x * (1/c): within an ulp of x / c */
      transformed = true;
    }
    d[k] = (float)v;
    identity &= (kind == BIN_MUL || kind == BIN_DIV) ? v == 1 : v == 0;
  }
  if (kind == BIN_SUB && cfirst && !(x = negate(cx, op, x)))
    return false;
  if (identity && !(kind == BIN_SUB && cfirst)) {
    out_rt(cx, op, 0, x);
    return true;
  }
  Tensor *ct = mk_const(cx, op, c, d, !transformed);
  if (!ct)
    return false;
  Tensor *in[2] = {x, ct};
  return done(cx, op, mk(cx, op, kind == BIN_MUL || kind == BIN_DIV ? OP_MUL : OP_ADD, in, 2, NULL));
}

/* Sum: a variadic add. */
static bool h_sum(Cx *cx, Op *op) {
  Tensor **in = cnnc_alloc(sizeof(Tensor *) * (size_t)op->nin);
  for (int k = 0; k < op->nin; k++) {
    if (!(in[k] = rt(cx, op, k)))
      return false;
    if (in[k]->shape.rank != in[0]->shape.rank)
      return op_err(cx, op, "operands have different ranks");
  }
  if (op->nin == 1) {
    out_rt(cx, op, 0, in[0]);
    return true;
  }
  return done(cx, op, mk(cx, op, OP_ADD, in, op->nin, NULL));
}

static bool h_neg(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Tensor *y = x ? negate(cx, op, x) : NULL;
  if (!y)
    return false;
  out_rt(cx, op, 0, y);
  return true;
}

/* Concat of computed tensors (constant-only concats were folded). */
static bool h_concat(Cx *cx, Op *op) {
  int64_t ax;
  if (!attr(op, "axis"))
    return op_err(cx, op, "attribute 'axis' is required");
  if (!a_int(cx, op, "axis", 1, &ax))
    return false;
  Tensor **in = cnnc_alloc(sizeof(Tensor *) * (size_t)op->nin);
  for (int k = 0; k < op->nin; k++)
    if (!(in[k] = rt(cx, op, k)))
      return false;
  int a = norm_axis(cx, op, ax, in[0]->shape.rank);
  if (a < 0)
    return false;
  if (op->nin == 1) {
    out_rt(cx, op, 0, in[0]);
    return true;
  }
  Node *n = mk(cx, op, OP_CONCAT, in, op->nin, NULL);
  n->axis = a;
  return done(cx, op, n);
}

/* An IR reshape of x to dims (batch first), or an alias when nothing changes. */
static bool reshape_to(Cx *cx, Op *op, Tensor *x, int r, const int64_t *dims) {
  if (r < 1 || dims[0] != cx->g->batch)
    return op_err(cx, op, "the result %s would change the batch dimension (batch %d); only per-sample reshapes "
                  "are supported", dims_str(r, dims), cx->g->batch);
  if (r > MAX_RANK)
    return op_err(cx, op, "the result %s has more than %d dimensions", dims_str(r, dims), MAX_RANK);
  Shape s = shape_make(r, dims);
  if (shape_eq(&s, &x->shape)) {
    out_rt(cx, op, 0, x);
    return true;
  }
  Node *n = mk1(cx, op, OP_RESHAPE, x, NULL);
  n->target = shape_make(r - 1, dims + 1);
  return done(cx, op, n);
}

/* Flatten keeps the batch first: axis 1 is the IR's flatten; a larger axis
 * is a reshape when the merged leading axes are all 1. */
static bool h_flatten(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  int64_t ax;
  if (!x || !a_int(cx, op, "axis", 1, &ax))
    return false;
  int r = x->shape.rank;
  if (ax < -r || ax > r)
    return op_err(cx, op, "axis %lld is out of range for rank %d", (long long)ax, r);
  int a = (int)(ax < 0 ? ax + r : ax);
  if (a == 0)
    return op_err(cx, op, "Flatten with axis 0 merges the batch dimension");
  int64_t lead = numel_of(a - 1, x->shape.d + 1), rest = numel_of(r - a, x->shape.d + a);
  if (lead != 1)
    return op_err(cx, op, "Flatten(axis=%d) of %s merges the batch dimension with others", a, shape_str(&x->shape));
  if (a == 1 && r > 2) {
    Node *n = mk1(cx, op, OP_FLATTEN, x, NULL);
    n->axis = 1;
    return done(cx, op, n);
  }
  int64_t dims[2] = {x->shape.d[0], rest};
  return reshape_to(cx, op, x, 2, dims);
}

/* Reshape with a constant target (often folded from Shape arithmetic). */
static bool h_reshape(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *sv = cin(cx, op, 1, true, "shape");
  if (!x || !sv)
    return false;
  int64_t *tg = cv_i(cx, op, sv, "shape");
  if (!tg)
    return false;
  /* A target that spells the exported batch (usually 1) means "the batch". */
  if (sv->numel >= 1 && tg[0] == cx->file_batch && cx->file_batch != cx->g->batch) {
    Value *fixed = cnew(cx, op, OT_INT64, 1, &sv->numel);
    if (!fixed)
      return false;
    memcpy(fixed->i, tg, sizeof(int64_t) * (size_t)sv->numel);
    fixed->i[0] = cx->g->batch;
    op->in[1] = fixed;
  }
  int64_t dims[OX_MAX_RANK];
  int r;
  if (!reshape_dims(cx, op, x->shape.rank, x->shape.d, shape_numel(&x->shape), &r, dims))
    return false;
  return reshape_to(cx, op, x, r, dims);
}

/* Transpose that keeps the batch first; the identity is an alias. */
static bool h_transpose(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  int64_t perm[OX_MAX_RANK];
  if (!x || !get_perm(cx, op, x->shape.rank, perm))
    return false;
  if (perm[0] != 0)
    return op_err(cx, op, "a permutation that moves the batch dimension is not supported");
  bool ident = true;
  for (int k = 0; k < x->shape.rank; k++)
    ident &= perm[k] == k;
  if (ident) {
    out_rt(cx, op, 0, x);
    return true;
  }
  Node *n = mk1(cx, op, OP_TRANSPOSE, x, NULL);
  n->target = shape_make(x->shape.rank, perm);
  return done(cx, op, n);
}

/* Unsqueeze/Squeeze of computed tensors are per-sample reshapes. */
static bool h_unsqueeze(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  const int64_t *axes;
  int n;
  if (!x || !get_axes(cx, op, 1, &axes, &n))
    return false;
  if (n < 0)
    return op_err(cx, op, "needs axes");
  int r = x->shape.rank + n;
  if (r > MAX_RANK)
    return op_err(cx, op, "result would have rank %d (at most %d)", r, MAX_RANK);
  bool ins[MAX_RANK] = {0};
  for (int k = 0; k < n; k++) {
    int a = norm_axis(cx, op, axes[k], r);
    if (a < 0)
      return false;
    if (a == 0)
      return op_err(cx, op, "inserting an axis before the batch dimension is not supported");
    if (ins[a])
      return op_err(cx, op, "axis %lld is repeated", (long long)axes[k]);
    ins[a] = true;
  }
  int64_t dims[MAX_RANK];
  for (int k = 0, j = 0; k < r; k++)
    dims[k] = ins[k] ? 1 : x->shape.d[j++];
  return reshape_to(cx, op, x, r, dims);
}

static bool h_squeeze(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  bool rm[OX_MAX_RANK];
  if (!x || !squeeze_axes(cx, op, x->shape.rank, x->shape.d, rm, 1))
    return false;
  if (rm[0])
    return op_err(cx, op, "squeezing the batch dimension is not supported");
  int64_t dims[MAX_RANK];
  int r = 0;
  for (int k = 0; k < x->shape.rank; k++)
    if (!rm[k])
      dims[r++] = x->shape.d[k];
  return reshape_to(cx, op, x, r, dims);
}

/* Pad (pads from an input since opset 11) on the spatial axes only. */
static bool h_pad(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *pv = cin(cx, op, 1, true, "pads");
  Value *cv = has_in(op, 2) ? cin(cx, op, 2, true, "constant_value") : NULL;
  const char *mode;
  if (!x || !pv || (has_in(op, 2) && !cv) || !a_str(cx, op, "mode", "constant", &mode))
    return false;
  int64_t *pads = cv_i(cx, op, pv, "pads");
  if (!pads)
    return false;
  int r = x->shape.rank;
  if (pv->numel != 2 * r)
    return op_err(cx, op, "pads has %lld values for a rank-%d input", (long long)pv->numel, r);
  int m = !strcmp(mode, "constant") ? 0 : !strcmp(mode, "reflect") ? 1 : !strcmp(mode, "edge") ? 2 : -1;
  if (m < 0)
    return op_err(cx, op, "mode '%s' is not supported (constant, reflect, edge)", mode);
  double value = 0;
  if (cv) {
    if (cv->numel > 1)
      return op_err(cx, op, "constant_value must be a scalar");
    value = cv->numel ? cv_f(cv)[0] : 0;
  }
  bool any = false;
  for (int k = 0; k < 2 * r; k++) {
    if (pads[k] < 0)
      return op_err(cx, op, "negative pads (cropping) are not supported");
    if (pads[k] > OX_MAX_WIN)
      return op_err(cx, op, "pad %lld is too large", (long long)pads[k]);
    if (pads[k] && (k % r) < 2)
      return op_err(cx, op, "padding the batch or channel dimension is not supported");
    any |= pads[k] != 0;
  }
  if (!any) {
    out_rt(cx, op, 0, x);
    return true;
  }
  if (!need_rank(cx, op, x, 3, 4, "spatial padding of (N,C,L) or (N,C,H,W)"))
    return false;
  Node *n = mk1(cx, op, OP_PAD, x, NULL);
  n->pad_mode = m;
  n->pad_value = value;
  if (r == 4) {
    n->pad[0] = (int)pads[2];
    n->pad[1] = (int)pads[3];
    n->pad[2] = (int)pads[6];
    n->pad[3] = (int)pads[7];
  } else {
    n->pad[1] = (int)pads[2];
    n->pad[3] = (int)pads[5];
  }
  return done(cx, op, n);
}

/* MaxPool/AveragePool; the Indices output of MaxPool is refused if used. */
static bool h_maxpool(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Win w;
  bool ceil_mode;
  int64_t so;
  if (!x || !need_rank(cx, op, x, 3, 4, "only 1-D and 2-D pooling") ||
      !win_attrs(cx, op, &x->shape, &w, NULL, true, true) || !a_bool(cx, op, "ceil_mode", false, &ceil_mode) ||
      !a_int(cx, op, "storage_order", 0, &so))
    return false;
  Node *n = mk1(cx, op, w.sp == 1 ? OP_MAXPOOL1D : OP_MAXPOOL2D, x, NULL);
  set_win(n, &w);
  n->ceil_mode = ceil_mode;
  return done(cx, op, n);
}

static bool h_avgpool(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Win w;
  bool ceil_mode, cip;
  if (!x || !need_rank(cx, op, x, 3, 4, "only 1-D and 2-D pooling") ||
      !win_attrs(cx, op, &x->shape, &w, NULL, false, true) || !a_bool(cx, op, "ceil_mode", false, &ceil_mode) ||
      !a_bool(cx, op, "count_include_pad", false, &cip))
    return false;
  /* Pad(0) + AveragePool is how PyTorch exports count_include_pad=True. */
  int extra[4];
  Tensor *src = zero_pad_source(cx, x, extra);
  bool fold = src && !ceil_mode;
  for (int k = 0; fold && k < w.sp; k++) {
    int o = w.sp == 1 ? 1 : 0;
    fold = w.pb[k] == 0 && w.pe[k] == 0 && extra[o + k] <= w.k[k] / 2 && extra[o + k + 2] <= w.k[k] / 2;
  }
  Node *n = mk1(cx, op, w.sp == 1 ? OP_AVGPOOL1D : OP_AVGPOOL2D, fold ? src : x, NULL);
  set_win(n, &w);
  n->ceil_mode = ceil_mode;
  n->count_include_pad = cip;
  if (fold) {
    memcpy(n->pad, extra, sizeof n->pad);
    n->count_include_pad = true;
  }
  return done(cx, op, n);
}

static bool h_global_avgpool(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  if (!x || !need_rank(cx, op, x, 3, MAX_RANK, "global pooling needs (N,C,...)"))
    return false;
  return done(cx, op, mk1(cx, op, OP_GLOBAL_AVGPOOL, x, NULL));
}

/* GlobalMaxPool is a max pool whose window is the whole input. */
static bool h_global_maxpool(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  if (!x || !need_rank(cx, op, x, 3, 4, "global max pooling of (N,C,L) or (N,C,H,W)"))
    return false;
  int r = x->shape.rank;
  for (int k = 2; k < r; k++)
    if (x->shape.d[k] > INT32_MAX)
      return op_err(cx, op, "input too large");
  Node *n = mk1(cx, op, r == 3 ? OP_MAXPOOL1D : OP_MAXPOOL2D, x, NULL);
  if (r == 4)
    n->kernel[0] = (int)x->shape.d[2];
  n->kernel[1] = (int)x->shape.d[r - 1];
  return done(cx, op, n);
}

static bool h_reducemean(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  const int64_t *axes;
  int n;
  bool keep;
  if (!x || !a_ints(cx, op, "axes", &axes, &n) || !a_bool(cx, op, "keepdims", true, &keep))
    return false;
  int r = x->shape.rank;
  int64_t mask = 0;
  if (n < 0)
    mask = ((int64_t)1 << r) - 1;
  for (int k = 0; k < n; k++) {
    int a = norm_axis(cx, op, axes[k], r);
    if (a < 0)
      return false;
    mask |= (int64_t)1 << a;
  }
  if (mask & 1)
    return op_err(cx, op, "a mean over the batch dimension is not supported");
  int64_t spatial = (((int64_t)1 << r) - 1) & ~(int64_t)3;
  if (r >= 3 && mask == spatial) {
    /* The SE-block / classifier-head pattern: a global average pool. */
    Node *g = mk1(cx, op, OP_GLOBAL_AVGPOOL, x, keep ? NULL : "pool");
    if (keep)
      return done(cx, op, g);
    if (!fin(cx, g))
      return false;
    Node *f = mk1(cx, op, OP_FLATTEN, g->out, NULL);
    f->axis = 1;
    return done(cx, op, f);
  }
  Node *m = mk1(cx, op, OP_MEAN, x, NULL);
  m->axes_mask = mask;
  m->keepdims = keep;
  return done(cx, op, m);
}

/* Dropout and Identity are aliases at inference: no IR node at all. */
static bool h_dropout(Cx *cx, Op *op) {
  if (has_in(op, 2)) {
    Value *tm = cin(cx, op, 2, true, "training_mode");
    int64_t *t = tm ? cv_i(cx, op, tm, "training_mode") : NULL;
    if (!t)
      return false;
    if (tm->numel && t[0])
      return op_err(cx, op, "training_mode=true is not supported (export the model in eval mode)");
  }
  if (has_in(op, 1) && !cin(cx, op, 1, true, "ratio"))
    return false;
  if (op->in[0]->is_const)
    op->out[0] = op->in[0];
  else
    out_rt(cx, op, 0, op->in[0]->t);
  return true;
}

static bool h_identity(Cx *cx, Op *op) {
  out_rt(cx, op, 0, op->in[0]->t);
  return true;
}

/* Cast of a computed tensor: only to float32, which it already is. */
static bool h_cast(Cx *cx, Op *op) {
  int64_t to;
  if (!a_int(cx, op, "to", 0, &to))
    return false;
  if (to != OT_FLOAT)
    return op_err(cx, op, "casting a computed tensor to %s is not supported", dt_name((int)to));
  out_rt(cx, op, 0, op->in[0]->t);
  return true;
}

/* A chain of IR slices of x, one per axis whose range is not the whole axis. */
static bool h_slice(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  SliceSpec sp;
  if (!x || !slice_spec(cx, op, x->shape.rank, x->shape.d, &sp))
    return false;
  int r = x->shape.rank, last = -1;
  for (int k = 0; k < r; k++) {
    if (sp.count[k] == x->shape.d[k] && (sp.step[k] == 1 || sp.count[k] <= 1) && sp.start[k] == 0)
      continue;
    if (k == 0)
      return op_err(cx, op, "slicing the batch dimension is not supported");
    if (sp.step[k] != 1 && sp.count[k] > 1)
      return op_err(cx, op, "slices with step %lld are not supported", (long long)sp.step[k]);
    if (sp.count[k] == 0)
      return op_err(cx, op, "the slice along axis %d is empty", k);
    last = k;
  }
  Tensor *cur = x;
  for (int k = 0; k <= last; k++) {
    if (sp.count[k] == x->shape.d[k] && (sp.step[k] == 1 || sp.count[k] <= 1) && sp.start[k] == 0)
      continue;
    Node *n = mk1(cx, op, OP_SLICE, cur, k == last ? NULL : cnnc_fmt("axis%d", k));
    n->axis = k;
    n->slice_start = sp.start[k];
    n->slice_end = sp.start[k] + sp.count[k];
    if (!fin(cx, n))
      return false;
    cur = n->out;
  }
  out_rt(cx, op, 0, cur);
  return true;
}

/* Split into IR slices (ShuffleNet's channel split). */
static bool h_split(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  int64_t ax;
  if (!x || !a_int(cx, op, "axis", 0, &ax))
    return false;
  int a = norm_axis(cx, op, ax, x->shape.rank);
  if (a < 0)
    return false;
  if (a == 0)
    return op_err(cx, op, "splitting the batch dimension is not supported");
  const int64_t *sizes;
  int n;
  if (!a_ints(cx, op, "split", &sizes, &n))
    return false;
  if (n < 0 && has_in(op, 1)) {
    Value *sv = cin(cx, op, 1, true, "split");
    if (!sv || !(sizes = cv_i(cx, op, sv, "split")))
      return false;
    n = (int)sv->numel;
  }
  int64_t dim = x->shape.d[a], *sz = cnnc_alloc(sizeof(int64_t) * (size_t)op->nout), total = 0;
  if (n >= 0 && n != op->nout)
    return op_err(cx, op, "split has %d sizes for %d outputs", n, op->nout);
  for (int k = 0; k < op->nout; k++) {
    if (n < 0 && dim % op->nout)
      return op_err(cx, op, "dimension %lld does not split evenly into %d outputs", (long long)dim, op->nout);
    sz[k] = n < 0 ? dim / op->nout : sizes[k];
    if (sz[k] <= 0 || ckd_add(&total, total, sz[k]))
      return op_err(cx, op, "split sizes must be positive");
  }
  if (total != dim)
    return op_err(cx, op, "split sizes add up to %lld, but the dimension is %lld", (long long)total, (long long)dim);
  int64_t start = 0;
  for (int k = 0; k < op->nout; k++) {
    if (*op->nd->out[k]) {
      Node *s = mk1(cx, op, OP_SLICE, x, cnnc_fmt("%d", k));
      s->axis = a;
      s->slice_start = start;
      s->slice_end = start + sz[k];
      if (!fin(cx, s))
        return false;
      out_rt(cx, op, k, s->out);
    }
    start += sz[k];
  }
  return true;
}

/* Gather on a computed tensor: one index or a contiguous range, as a slice
 * (x[:, 3] or x[:, 2:5] in PyTorch). */
static bool h_gather(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  Value *iv = cin(cx, op, 1, true, "indices");
  int64_t ax;
  if (!x || !iv || !a_int(cx, op, "axis", 0, &ax))
    return false;
  int r = x->shape.rank, a = norm_axis(cx, op, ax, r);
  int64_t *idx = cv_i(cx, op, iv, "indices");
  if (a < 0 || !idx)
    return false;
  if (a == 0)
    return op_err(cx, op, "gathering along the batch dimension is not supported");
  int64_t dim = x->shape.d[a];
  if (iv->rank > 1 || iv->numel == 0)
    return op_err(cx, op, "only a scalar index or a range of indices is supported");
  int64_t q0 = idx[0] < 0 ? idx[0] + dim : idx[0];
  for (int64_t k = 0; k < iv->numel; k++) {
    int64_t q = idx[k] < 0 ? idx[k] + dim : idx[k];
    if (q < 0 || q >= dim)
      return op_err(cx, op, "index %lld is out of range for a dimension of size %lld", (long long)idx[k], (long long)dim);
    if (q != q0 + k)
      return op_err(cx, op, "only consecutive ascending indices are supported");
  }
  Node *s = mk1(cx, op, OP_SLICE, x, iv->rank == 0 ? "slice" : NULL);
  s->axis = a;
  s->slice_start = q0;
  s->slice_end = q0 + iv->numel;
  if (!fin(cx, s))
    return false;
  if (iv->rank == 1) {
    out_rt(cx, op, 0, s->out);
    return true;
  }
  int64_t dims[MAX_RANK];
  int nr = 0;
  for (int k = 0; k < r; k++)
    if (k != a)
      dims[nr++] = x->shape.d[k];
  return reshape_to(cx, op, s->out, nr, dims);
}

/* Nearest-neighbour Resize/Upsample by integer factors on the spatial axes. */
static bool h_resize(Cx *cx, Op *op) {
  Tensor *x = rt(cx, op, 0);
  bool upsample = !strcmp(op->nd->op_type, "Upsample");
  const char *mode, *ctm = "asymmetric", *nm = "floor";
  if (!x || !a_str(cx, op, "mode", "nearest", &mode))
    return false;
  if (!upsample && (!a_str(cx, op, "coordinate_transformation_mode", "half_pixel", &ctm) ||
                    !a_str(cx, op, "nearest_mode", "round_prefer_floor", &nm)))
    return false;
  if (strcmp(mode, "nearest"))
    return op_err(cx, op, "mode '%s' is not supported (only nearest with integer scales)", mode);
  /* Which (coordinate mode, rounding) pairs make out[i] = in[i / s] for integer s. */
  bool half = !strcmp(ctm, "half_pixel") || !strcmp(ctm, "pytorch_half_pixel");
  bool ok = (!strcmp(ctm, "asymmetric") && !strcmp(nm, "floor")) ||
            (!strcmp(ctm, "tf_half_pixel_for_nn") && !strcmp(nm, "floor")) ||
            (half && (!strcmp(nm, "round_prefer_floor") || !strcmp(nm, "round_prefer_ceil")));
  if (!ok)
    return op_err(cx, op, "coordinate_transformation_mode '%s' with nearest_mode '%s' is not supported", ctm, nm);
  int r = x->shape.rank;
  Value *sc = NULL, *sz = NULL;
  int si = upsample ? 1 : 2;
  if (has_in(op, si) && !(sc = cin(cx, op, si, true, "scales")))
    return false;
  if (sc && sc->numel == 0)
    sc = NULL;
  if (!upsample && !sc && has_in(op, 3) && !(sz = cin(cx, op, 3, true, "sizes")))
    return false;
  if (!sc && !sz)
    return op_err(cx, op, "needs constant scales or sizes");
  Value *v = sc ? sc : sz;
  if (v->numel != r)
    return op_err(cx, op, "%s has %lld values for a rank-%d input", sc ? "scales" : "sizes", (long long)v->numel, r);
  int64_t f[MAX_RANK];
  int64_t *isz = sz ? cv_i(cx, op, sz, "sizes") : NULL;
  double *fsc = sc ? cv_f(sc) : NULL;
  if (sz && !isz)
    return false;
  for (int k = 0; k < r; k++) {
    int64_t in = x->shape.d[k];
    if (fsc) {
      double s = fsc[k], rs = floor(s + 0.5);
      if (!(rs >= 1 && rs <= 4096 && fabs(s - rs) < 1e-6 * rs))
        return op_err(cx, op, "scale %g on axis %d is not a positive integer", s, k);
      f[k] = (int64_t)rs;
    } else {
      if (isz[k] <= 0 || isz[k] % in || isz[k] / in > 4096)
        return op_err(cx, op, "size %lld on axis %d is not an integer multiple of %lld", (long long)isz[k], k,
                      (long long)in);
      f[k] = isz[k] / in;
    }
    if (k < 2 && f[k] != 1)
      return op_err(cx, op, "resizing the batch or channel dimension is not supported");
  }
  bool ident = true;
  for (int k = 2; k < r; k++)
    ident &= f[k] == 1;
  if (ident) {
    out_rt(cx, op, 0, x);
    return true;
  }
  if (!need_rank(cx, op, x, 3, 4, "upsampling of (N,C,L) or (N,C,H,W)"))
    return false;
  Node *n = mk1(cx, op, OP_UPSAMPLE, x, NULL);
  n->scale[0] = r == 4 ? (int)f[2] : 1;
  n->scale[1] = (int)f[r - 1];
  return done(cx, op, n);
}

/* ============================================================ op table */

typedef bool (*OpFn)(Cx *cx, Op *op);

/* One row per ONNX op: how to convert it at run time, how to fold it when
 * every input is a constant, its input arity and the attributes it knows
 * (any other attribute is an error rather than silently ignored). */
typedef struct OpRule {
  const char *op_type;
  OpFn run;         /* some input is computed (NULL: constants only) */
  OpFn fold;        /* every input is constant (NULL: never folded) */
  int min_in, max_in;
  const char *attrs; /* space-separated */
  bool always_fold; /* fold whatever the inputs (Shape, Size: static shapes) */
} OpRule;

#define WIN_ATTRS "auto_pad dilations kernel_shape pads strides"
static const OpRule rules[] = {
  {"Abs", NULL, f_unary, 1, 1, "", false},
  {"Add", h_arith, f_binary, 2, 2, "", false},
  {"AveragePool", h_avgpool, NULL, 1, 1, "auto_pad ceil_mode count_include_pad kernel_shape pads strides", false},
  {"BatchNormalization", h_batchnorm, NULL, 5, 5, "epsilon momentum training_mode", false},
  {"Cast", h_cast, f_cast, 1, 1, "to saturate", false},
  {"Ceil", NULL, f_unary, 1, 1, "", false},
  {"Clip", h_clip, NULL, 1, 3, "min max", false},
  {"Concat", h_concat, f_concat, 1, -1, "axis", false},
  {"Constant", NULL, f_constant, 0, 0,
   "value value_float value_floats value_int value_ints value_string value_strings sparse_value", false},
  {"ConstantOfShape", NULL, f_constant_of_shape, 1, 1, "value", false},
  {"Conv", h_conv, NULL, 2, 3, WIN_ATTRS " group", false},
  {"ConvTranspose", h_conv_transpose, NULL, 2, 3, WIN_ATTRS " group output_padding output_shape", false},
  {"Div", h_arith, f_binary, 2, 2, "", false},
  {"Dropout", h_dropout, h_dropout, 1, 3, "ratio seed", false},
  {"Elu", h_unary, NULL, 1, 1, "alpha", false},
  {"Equal", NULL, f_binary, 2, 2, "", false},
  {"Exp", NULL, f_unary, 1, 1, "", false},
  {"Expand", NULL, f_expand, 2, 2, "", false},
  {"Flatten", h_flatten, f_flatten, 1, 1, "axis", false},
  {"Floor", NULL, f_unary, 1, 1, "", false},
  {"Gather", h_gather, f_gather, 2, 2, "axis", false},
  {"Gemm", h_gemm, NULL, 2, 3, "alpha beta transA transB", false},
  {"GlobalAveragePool", h_global_avgpool, NULL, 1, 1, "", false},
  {"GlobalMaxPool", h_global_maxpool, NULL, 1, 1, "", false},
  {"Greater", NULL, f_binary, 2, 2, "", false},
  {"HardSigmoid", h_unary, NULL, 1, 1, "alpha beta", false},
  {"HardSwish", h_unary, NULL, 1, 1, "", false},
  {"Identity", h_identity, f_identity, 1, 1, "", false},
  {"InstanceNormalization", h_instancenorm, NULL, 3, 3, "epsilon", false},
  {"LayerNormalization", h_layernorm, NULL, 2, 3, "axis epsilon stash_type", false},
  {"LeakyRelu", h_unary, NULL, 1, 1, "alpha", false},
  {"Less", NULL, f_binary, 2, 2, "", false},
  {"LogSoftmax", h_softmax, NULL, 1, 1, "axis", false},
  {"MatMul", h_matmul, NULL, 2, 2, "", false},
  {"Max", NULL, f_binary, 2, 2, "", false},
  {"MaxPool", h_maxpool, NULL, 1, 1, WIN_ATTRS " ceil_mode storage_order", false},
  {"Min", NULL, f_binary, 2, 2, "", false},
  {"Mul", h_arith, f_binary, 2, 2, "", false},
  {"Neg", h_neg, f_unary, 1, 1, "", false},
  {"Not", NULL, f_unary, 1, 1, "", false},
  {"PRelu", h_prelu, NULL, 2, 2, "", false},
  {"Pad", h_pad, NULL, 2, 3, "mode", false},
  {"Pow", NULL, f_binary, 2, 2, "", false},
  {"Range", NULL, f_range, 3, 3, "", false},
  {"Reciprocal", NULL, f_unary, 1, 1, "", false},
  {"ReduceMean", h_reducemean, NULL, 1, 1, "axes keepdims", false},
  {"Relu", h_unary, f_unary, 1, 1, "", false},
  {"Reshape", h_reshape, f_reshape, 2, 2, "allowzero", false},
  {"Resize", h_resize, NULL, 1, 4,
   "coordinate_transformation_mode cubic_coeff_a exclude_outside extrapolation_value mode nearest_mode", false},
  {"Selu", h_unary, NULL, 1, 1, "alpha gamma", false},
  {"Shape", NULL, f_shape, 1, 1, "start end", true},
  {"Sigmoid", h_unary, NULL, 1, 1, "", false},
  {"Size", NULL, f_size, 1, 1, "", true},
  {"Slice", h_slice, f_slice, 3, 5, "", false},
  {"Softmax", h_softmax, NULL, 1, 1, "axis", false},
  {"Split", h_split, NULL, 1, 2, "axis split", false},
  {"Sqrt", NULL, f_unary, 1, 1, "", false},
  {"Squeeze", h_squeeze, f_squeeze, 1, 2, "axes", false},
  {"Sub", h_arith, f_binary, 2, 2, "", false},
  {"Sum", h_sum, NULL, 1, -1, "", false},
  {"Tanh", h_unary, NULL, 1, 1, "", false},
  {"Transpose", h_transpose, f_transpose, 1, 1, "perm", false},
  {"Unsqueeze", h_unsqueeze, f_unsqueeze, 1, 2, "axes", false},
  {"Upsample", h_resize, NULL, 1, 2, "mode", false},
  {"Where", NULL, f_where, 3, 3, "", false},
};

static const OpRule *find_rule(const char *op_type) {
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
    if (!strcmp(rules[i].op_type, op_type))
      return &rules[i];
  return NULL;
}

static bool word_in(const char *word, const char *list) {
  size_t n = strlen(word);
  for (const char *p = list; *p;) {
    const char *e = strchr(p, ' ');
    size_t m = e ? (size_t)(e - p) : strlen(p);
    if (m == n && !strncmp(p, word, n))
      return true;
    p += m + (e != NULL);
  }
  return false;
}

/* Attribute sanity shared by every op (B6): one value field matching the
 * declared type, no duplicates, no subgraphs, only names the op knows. */
static bool check_attrs(Cx *cx, Op *op, const OpRule *rule) {
  bool ok = true;
  OxNode *nd = op->nd;
  for (int i = 0; i < nd->nattrs; i++) {
    OxAttr *a = &nd->attrs[i];
    for (int j = 0; j < i; j++)
      if (!strcmp(nd->attrs[j].name, a->name)) {
        ok = op_err(cx, op, "attribute '%s' is given twice", a->name);
        break;
      }
    if (a->seen & ((1u << AT_GRAPH) | (1u << AT_GRAPHS))) {
      ok = op_err(cx, op, "attribute '%s' is a subgraph; control flow (If/Loop/Scan) is not supported", a->name);
      continue;
    }
    int nseen = __builtin_popcount(a->seen);
    if (nseen > 1) {
      ok = op_err(cx, op, "attribute '%s' has %d value fields", a->name, nseen);
      continue;
    }
    if (a->type == AT_UNDEFINED) {
      if (nseen == 0) {
        ok = op_err(cx, op, "attribute '%s' has no value", a->name);
        continue;
      }
      a->type = __builtin_ctz(a->seen); /* older writers leave the type out */
    } else if (a->type < 0 || a->type > AT_TYPE_PROTOS || (a->seen && !(a->seen & (1u << a->type)))) {
      ok = op_err(cx, op, "attribute '%s': its type %d does not match its value", a->name, a->type);
      continue;
    }
    if (!word_in(a->name, rule->attrs))
      ok = op_err(cx, op, "attribute '%s' is not supported", a->name);
  }
  return ok;
}

/* ============================================================ conversion */

static bool is_graph_output(Cx *cx, const char *name) {
  for (int i = 0; i < cx->model.graph.noutputs; i++)
    if (!strcmp(cx->model.graph.outputs[i].name, name))
      return true;
  return false;
}

static void convert_node(Cx *cx, OxNode *nd) {
  Op op = {.nd = nd, .loc = at(cx, nd->off), .nin = nd->nin, .nout = nd->nout};
  op.in = cnnc_alloc(sizeof(Value *) * (size_t)(nd->nin + 1));
  op.out = cnnc_alloc(sizeof(Value *) * (size_t)(nd->nout + 1));
  bool poisoned = false;
  for (int k = 0; k < nd->nin; k++)
    if (*nd->in[k] && !(op.in[k] = map_get(&cx->values, nd->in[k])))
      poisoned = true; /* its producer failed and was reported */
  if (*nd->domain && strcmp(nd->domain, "ai.onnx")) {
    diag_error(op.loc, "node '%s': op '%s' from domain '%s' is not supported (only the default ONNX domain)",
               node_label(nd), nd->op_type, nd->domain);
    return;
  }
  const OpRule *rule = find_rule(nd->op_type);
  if (!rule) {
    bool sub = false;
    for (int i = 0; i < nd->nattrs; i++)
      sub |= (nd->attrs[i].seen & ((1u << AT_GRAPH) | (1u << AT_GRAPHS))) != 0;
    diag_error(op.loc, "node '%s': unsupported op '%s'%s", node_label(nd), nd->op_type,
               sub ? " (subgraphs and control flow are not supported)" : "");
    return;
  }
  if (poisoned)
    return;
  op.name = uniq(cx, node_label(nd));
  if (nd->nin < rule->min_in || (rule->max_in >= 0 && nd->nin > rule->max_in)) {
    if (rule->max_in < 0)
      op_err(cx, &op, "takes at least %d inputs, got %d", rule->min_in, nd->nin);
    else
      op_err(cx, &op, "takes %d..%d inputs, got %d", rule->min_in, rule->max_in, nd->nin);
    return;
  }
  for (int k = 0; k < rule->min_in; k++)
    if (!op.in[k]) {
      op_err(&*cx, &op, "input %d is required", k);
      return;
    }
  if (!check_attrs(cx, &op, rule))
    return;
  bool all_const = true;
  for (int k = 0; k < nd->nin; k++)
    if (op.in[k] && !op.in[k]->is_const)
      all_const = false;
  bool ok;
  if (rule->fold && (all_const || rule->always_fold))
    ok = rule->fold(cx, &op);
  else if (rule->run)
    ok = rule->run(cx, &op);
  else
    ok = op_err(cx, &op, "is only supported when its result is known at compile time (constant inputs)");
  if (!ok)
    return;
  for (int k = 0; k < nd->nout; k++) {
    const char *o = nd->out[k];
    if (!*o)
      continue;
    if (op.out[k]) {
      if (op.out[k]->is_const && !*op.out[k]->name)
        op.out[k]->name = o;
      map_put(&cx->values, o, op.out[k]);
    } else if (uses_of(cx, o) > 0 || is_graph_output(cx, o)) {
      op_err(cx, &op, "output %d ('%s') is not supported", k, o);
    }
  }
  for (int k = 0; k < nd->nin; k++)
    if (op.in[k] && !op.in[k]->is_const)
      cx->tuses[op.in[k]->t->id]--;
}

/* Graph inputs become TK_INPUT tensors with the compiled batch. */
static void convert_inputs(Cx *cx) {
  OxGraph *gr = &cx->model.graph;
  Graph *g = cx->g;
  bool first = true;
  int nerr0 = diag_count();
  g->inputs = cnnc_alloc(sizeof(Tensor *) * (size_t)(gr->ninputs + 1));
  for (int i = 0; i < gr->ninputs; i++) {
    OxValueInfo *v = &gr->inputs[i];
    if (map_get(&cx->values, v->name))
      continue; /* an initializer listed as an input: a constant */
    SrcLoc loc = at(cx, v->off);
    if (!v->has_type || !v->is_tensor) {
      diag_error(loc, "graph input '%s' is not a tensor with a type", v->name);
      continue;
    }
    if (v->elem != OT_FLOAT) {
      diag_error(loc, "graph input '%s' has element type %s; only FLOAT (float32) inputs are supported", v->name,
                 dt_name(v->elem));
      continue;
    }
    if (!v->has_shape || v->rank < 2 || v->rank > MAX_RANK) {
      diag_error(loc, "graph input '%s' needs a static shape of rank 2..%d with the batch first (got %s)", v->name,
                 MAX_RANK, v->has_shape ? cnnc_fmt("rank %d", v->rank) : "no shape");
      continue;
    }
    Shape s = {.rank = v->rank};
    bool ok = true;
    for (int k = 1; k < v->rank; k++) {
      OxDim *d = &v->dims[k];
      if (!d->has_value) {
        diag_error(loc, "graph input '%s': dimension %d is symbolic ('%s'); only the batch dimension may be "
                   "(export with static shapes)", v->name, k, d->param ? d->param : "?");
        ok = false;
      } else if (d->value <= 0 || d->value > INT32_MAX) {
        diag_error(loc, "graph input '%s': dimension %d is %lld", v->name, k, (long long)d->value);
        ok = false;
      }
      s.d[k] = d->value;
    }
    if (v->dims[0].has_value && (v->dims[0].value <= 0 || v->dims[0].value > INT32_MAX)) {
      diag_error(loc, "graph input '%s': batch dimension is %lld", v->name, (long long)v->dims[0].value);
      ok = false;
    }
    if (!ok)
      continue;
    if (first && v->dims[0].has_value)
      cx->file_batch = (int)v->dims[0].value;
    first = false;
    s.d[0] = g->batch;
    Tensor *t = ir_new_tensor(g, uniq(cx, v->name), TK_INPUT, s);
    t->loc = loc;
    g->inputs[g->ninputs++] = t;
    tmeta_grow(cx);
    Value *val = new_value(v->name);
    val->t = t;
    map_put(&cx->values, v->name, val);
    cx->tuses[t->id] += (int)uses_of(cx, v->name);
  }
  if (g->ninputs == 0 && diag_count() == nerr0)
    diag_error(loc_at(cx->path, 1, 1), "graph has no (non-constant) inputs");
}

/* Declared shapes (outputs, value_info) must agree with inferred ones (D7);
 * dimension 0 is the batch, which the compiled batch replaces. */
static void check_declared(Cx *cx, OxValueInfo *v, const char *what) {
  Value *val = map_get(&cx->values, v->name);
  if (!val || val->is_const || !v->has_type || !v->is_tensor)
    return;
  if (v->elem != OT_FLOAT && v->elem != OT_UNDEFINED) {
    diag_error(at(cx, v->off), "%s '%s' is declared as %s, but cnnc computes float32", what, v->name,
               dt_name(v->elem));
    return;
  }
  if (!v->has_shape)
    return;
  const Shape *s = &val->t->shape;
  bool bad = v->rank != s->rank;
  for (int k = 1; !bad && k < v->rank; k++)
    bad = v->dims[k].has_value && v->dims[k].value != s->d[k];
  if (bad) {
    int64_t d[OX_MAX_RANK];
    for (int k = 0; k < v->rank; k++)
      d[k] = v->dims[k].has_value ? v->dims[k].value : -1;
    diag_error(at(cx, v->off), "%s '%s' is declared with shape %s, but its inferred shape is %s", what, v->name,
               dims_str(v->rank, d), shape_str(s));
  }
}

static void convert_outputs(Cx *cx) {
  OxGraph *gr = &cx->model.graph;
  Graph *g = cx->g;
  g->outputs = cnnc_alloc(sizeof(Tensor *) * (size_t)(gr->noutputs + 1));
  for (int i = 0; i < gr->noutputs; i++) {
    OxValueInfo *v = &gr->outputs[i];
    Value *val = map_get(&cx->values, v->name);
    if (!val)
      continue; /* its producer failed (reported) */
    if (val->is_const) {
      diag_error(at(cx, v->off), "graph output '%s' is a constant; there is nothing to compute", v->name);
      continue;
    }
    check_declared(cx, v, "graph output");
    Tensor *t = val->t;
    if (t->kind == TK_INPUT || t->is_output) {
      /* An output that is an input, or a second name for another output
       * (through Identity/Dropout): give it its own copy. */
      Node *n = ir_new_node(g, OP_DROPOUT, uniq(cx, cnnc_fmt("%s/copy", v->name)), at(cx, v->off), &t, 1);
      n->p = 0;
      if (!shape_infer_node(g, n))
        continue;
      t = n->out;
    }
    t->is_output = true;
    g->outputs[g->noutputs++] = t;
  }
  for (int i = 0; i < gr->nvinfo; i++)
    check_declared(cx, &gr->vinfo[i], "value");
}

/* Drop IR nodes whose results no output needs (e.g. a tensor consumed only
 * by a folded Shape). */
static void remove_unused(Graph *g) {
  bool *need = cnnc_alloc((size_t)g->ntensors + 1);
  for (int i = 0; i < g->noutputs; i++)
    need[g->outputs[i]->id] = true;
  for (int i = g->nnodes - 1; i >= 0; i--) {
    Node *n = g->nodes[i];
    if (!need[n->out->id]) {
      n->dead = true;
      continue;
    }
    for (int k = 0; k < n->nin; k++)
      need[n->in[k]->id] = true;
  }
  free(need);
  ir_remove_dead(g);
}

static const char *file_stem(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  return n ? cnnc_strndup(base, n) : "model";
}

Graph *onnx_load(const char *path, const Options *opt) {
  int nerr0 = diag_count();
  size_t len = 0;
  char *buf = read_file(path, PB_MAX_INPUT, &len);
  if (!buf)
    return NULL;
  Cx cx = {.path = path, .opt = opt, .file_batch = -1};
  cx.dirfd = open(path_dirname(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  Graph *g = NULL;
  int *order = NULL, norder = 0;
  PbInput in;
  PbReader r;
  if (!pb_open(&in, &r, path, (const uint8_t *)buf, len) || !dec_model(&cx, &r, &cx.model) ||
      diag_count() > nerr0 || !check_model(&cx))
    goto out;
  OxGraph *gr = &cx.model.graph;
  for (int i = 0; i < gr->ninits; i++)
    tensor_check(&cx, gr->inits[i]);
  if (diag_count() > nerr0 || !check_graph(&cx, &order, &norder))
    goto out;

  g = ir_new_graph(opt && opt->name ? opt->name : to_c_identifier(file_stem(path)));
  g->file = path;
  g->batch = opt && opt->batch > 0 ? opt->batch : 1;
  cx.g = g;
  for (int i = 0; i < gr->ninits; i++)
    map_put(&cx.values, gr->inits[i]->name, value_of_tensor(gr->inits[i]));
  convert_inputs(&cx);
  if (cx.file_batch < 0)
    cx.file_batch = g->batch;
  if (diag_count() > nerr0)
    goto out;
  for (int i = 0; i < norder; i++)
    convert_node(&cx, &gr->nodes[order[i]]);
  if (diag_count() > nerr0)
    goto out;
  convert_outputs(&cx);
  if (diag_count() > nerr0)
    goto out;
  remove_unused(g);
out:
  if (cx.dirfd >= 0)
    close(cx.dirfd);
  /* Parameters were copied out; the file bytes and external buffers can go. */
  for (int i = 0; i < cx.model.graph.ninits; i++) {
    OxTensor *t = cx.model.graph.inits[i];
    if (t->raw_owned)
      free((void *)t->raw);
  }
  free(buf);
  free(order);
  return diag_count() > nerr0 ? NULL : g;
}
