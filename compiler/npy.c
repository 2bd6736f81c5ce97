/* npy.c - NumPy .npy reader (tensors in) and float32 writer (tensors out).
 *
 * Reads format versions 1.0, 2.0 and 3.0: the magic "\x93NUMPY", a version
 * pair, a little-endian header length (u16 for 1.0, u32 for 2.0/3.0), then a
 * Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
 * and the raw C-order data.
 *
 * Guarantees of npy_read:
 *  - the header dict is parsed by a strict grammar, never evaluated: exactly
 *    the three keys, each once; string values quoted, booleans True/False,
 *    the shape a tuple of non-negative decimal integers (a 1-tuple needs its
 *    comma, as in Python);
 *  - dtypes <f4 <f8 <i4 <i8 only; big-endian, Fortran order and structured
 *    dtypes are refused by name;
 *  - every size derived from the file (dims, element count, byte count,
 *    header end) is overflow-checked; the header is capped at 10000 bytes
 *    (NumPy's own max_header_size) and the file at 1 GiB;
 *  - the data length must equal numel * itemsize exactly (no truncation, no
 *    trailing bytes); the 64-byte alignment padding NumPy writes is not
 *    required on input (older writers aligned to 16);
 *  - every error is reported as path:1:<byte offset + 1>, the convention for
 *    binary files, and npy_read returns false with *out zeroed.
 * Values are decoded byte by byte as little-endian, so the host byte order
 * does not matter, and stored as double (float64 goldens keep full precision).
 *
 * npy_write_f32 writes a version 1.0 file with NumPy's header layout (the
 * dict, space padding and a final '\n' so the data starts on a 64-byte
 * boundary), through atomic_open/atomic_commit so no half-written file is
 * ever left behind.
 */
#include "../ir/ir.h"

#include <inttypes.h>
#include <string.h>

#define NPY_MAX_FILE ((size_t)1 << 30)
#define NPY_MAX_HEADER 10000

typedef struct {
  const char *path;
  const unsigned char *buf; /* whole file */
  size_t pos, end;          /* cursor and end of the header dict */
  bool failed;              /* a syntax error stops the parse */
} NpyParser;

static void npy_err(const char *path, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report at byte offset `off` of the file (col = off + 1).  The message is
 * formatted here and passed through diag_error so that it is counted. */
static void npy_err(const char *path, size_t off, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  int col = off < (size_t)INT32_MAX ? (int)off + 1 : INT32_MAX;
  diag_error(loc_at(path, 1, col), "%s", msg);
}

static uint32_t rd_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const unsigned char *p) {
  return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

static bool is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void skip_ws(NpyParser *p) {
  while (p->pos < p->end && is_ws(p->buf[p->pos]))
    p->pos++;
}

/* Report a syntax error once; the parse unwinds on p->failed. */
static void syntax(NpyParser *p, const char *what) {
  if (p->failed)
    return;
  p->failed = true;
  if (p->pos >= p->end)
    npy_err(p->path, p->pos, "malformed .npy header: expected %s before the end of the header", what);
  else if (p->buf[p->pos] >= 0x20 && p->buf[p->pos] < 0x7f)
    npy_err(p->path, p->pos, "malformed .npy header: expected %s, found '%c'", what, p->buf[p->pos]);
  else
    npy_err(p->path, p->pos, "malformed .npy header: expected %s, found byte 0x%02x", what,
            p->buf[p->pos]);
}

static bool accept(NpyParser *p, char c) {
  skip_ws(p);
  if (p->pos < p->end && p->buf[p->pos] == c) {
    p->pos++;
    return true;
  }
  return false;
}

/* A Python string literal in ' or " quotes, without escapes (NumPy never
 * writes any).  Returns the contents, NULL after a syntax error. */
static char *parse_str(NpyParser *p) {
  skip_ws(p);
  if (p->pos >= p->end || (p->buf[p->pos] != '\'' && p->buf[p->pos] != '"')) {
    syntax(p, "a quoted string");
    return NULL;
  }
  unsigned char q = p->buf[p->pos++];
  size_t start = p->pos;
  while (p->pos < p->end && p->buf[p->pos] != q) {
    unsigned char c = p->buf[p->pos];
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      syntax(p, "a plain printable string (no escapes)");
      return NULL;
    }
    p->pos++;
  }
  if (p->pos >= p->end) {
    syntax(p, "a closing quote");
    return NULL;
  }
  char *s = cnnc_strndup((const char *)p->buf + start, p->pos - start);
  p->pos++;
  return s;
}

/* A bare identifier (True/False); returns its length at *start. */
static size_t parse_ident(NpyParser *p, size_t *start) {
  skip_ws(p);
  *start = p->pos;
  while (p->pos < p->end && ((p->buf[p->pos] >= 'A' && p->buf[p->pos] <= 'Z') ||
                             (p->buf[p->pos] >= 'a' && p->buf[p->pos] <= 'z')))
    p->pos++;
  return p->pos - *start;
}

/* The shape tuple: () | (d,) | (d, d, ...) with optional trailing comma. */
static void parse_shape(NpyParser *p, Shape *s, size_t *shape_off) {
  skip_ws(p);
  *shape_off = p->pos;
  if (!accept(p, '(')) {
    syntax(p, "a shape tuple '('");
    return;
  }
  s->rank = 0;
  bool comma_after_last = false;
  while (!accept(p, ')')) {
    if (p->failed)
      return;
    if (s->rank > 0 && !comma_after_last) {
      syntax(p, "',' or ')' in the shape tuple");
      return;
    }
    skip_ws(p);
    size_t off = p->pos;
    if (p->pos < p->end && p->buf[p->pos] == '-') {
      npy_err(p->path, off, "negative dimension in the .npy shape");
      p->failed = true;
      return;
    }
    if (p->pos >= p->end || p->buf[p->pos] < '0' || p->buf[p->pos] > '9') {
      syntax(p, "a dimension (non-negative integer)");
      return;
    }
    int64_t v = 0;
    bool overflow = false;
    while (p->pos < p->end && p->buf[p->pos] >= '0' && p->buf[p->pos] <= '9') {
      overflow |= ckd_mul(&v, v, 10) || ckd_add(&v, v, p->buf[p->pos] - '0');
      p->pos++;
    }
    if (overflow) {
      npy_err(p->path, off, "dimension %.*s in the .npy shape is too large", (int)(p->pos - off),
              (const char *)p->buf + off);
      p->failed = true;
      return;
    }
    if (s->rank == MAX_RANK) {
      npy_err(p->path, off, ".npy array has more than %d dimensions", MAX_RANK);
      p->failed = true;
      return;
    }
    s->d[s->rank++] = v;
    comma_after_last = accept(p, ',');
  }
  /* (3) is the integer 3 in Python, not a tuple. */
  if (s->rank == 1 && !comma_after_last) {
    npy_err(p->path, *shape_off, "malformed .npy header: a 1-dimensional shape is written (n,)");
    p->failed = true;
  }
}

typedef struct {
  const char *name;
  DType dt;
  int size;
} NpyDtype;

static const NpyDtype npy_dtypes[] = {
    {"<f4", DT_F32, 4},
    {"<f8", DT_F64, 8},
    {"<i4", DT_I32, 4},
    {"<i8", DT_I64, 8},
};

static const NpyDtype *lookup_dtype(const NpyParser *p, const char *descr, size_t off) {
  for (size_t i = 0; i < sizeof(npy_dtypes) / sizeof(npy_dtypes[0]); i++)
    if (!strcmp(npy_dtypes[i].name, descr))
      return &npy_dtypes[i];
  /* '=' is native order, which for the writer was unknown to us: refuse too. */
  if (descr[0] == '>' || descr[0] == '=')
    npy_err(p->path, off,
            "unsupported .npy dtype '%s': only little-endian data is accepted (save as '<%s')",
            descr, descr + 1);
  else
    npy_err(p->path, off, "unsupported .npy dtype '%s' (supported: <f4, <f8, <i4, <i8)", descr);
  return NULL;
}

/* Parse the header dict at buf[start, end); fills dtype and shape.
 * Returns false after reporting every problem it could identify. */
static bool parse_header(const char *path, const unsigned char *buf, size_t start, size_t end,
                         const NpyDtype **dtype, Shape *shape) {
  NpyParser p = {path, buf, start, end, false};
  bool seen[3] = {false, false, false};
  bool ok = true;
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};

  if (!accept(&p, '{')) {
    syntax(&p, "'{' opening the header dict");
    return false;
  }
  while (!p.failed && !accept(&p, '}')) {
    skip_ws(&p);
    size_t key_off = p.pos;
    char *key = parse_str(&p);
    if (!key)
      break;
    int k = -1;
    for (int i = 0; i < 3; i++)
      if (!strcmp(key, keys[i]))
        k = i;
    if (k < 0) {
      npy_err(path, key_off, "unknown key '%s' in the .npy header (expected descr, fortran_order, shape)",
              key);
      return false;
    }
    if (seen[k]) {
      npy_err(path, key_off, "duplicate key '%s' in the .npy header", key);
      return false;
    }
    seen[k] = true;
    if (!accept(&p, ':')) {
      syntax(&p, "':'");
      break;
    }
    skip_ws(&p);
    size_t val_off = p.pos;
    if (k == 0) {
      if (p.pos < p.end && (p.buf[p.pos] == '[' || p.buf[p.pos] == '{')) {
        npy_err(path, val_off, "structured .npy dtypes are not supported");
        return false;
      }
      char *descr = parse_str(&p);
      if (!descr)
        break;
      *dtype = lookup_dtype(&p, descr, val_off);
      ok &= *dtype != NULL;
    } else if (k == 1) {
      size_t id;
      size_t n = parse_ident(&p, &id);
      if (n == 4 && !memcmp(buf + id, "True", 4)) {
        npy_err(path, val_off,
                "Fortran-order .npy arrays are not supported (save np.ascontiguousarray(a))");
        ok = false;
      } else if (!(n == 5 && !memcmp(buf + id, "False", 5))) {
        p.pos = id;
        syntax(&p, "True or False");
        break;
      }
    } else {
      size_t shape_off;
      parse_shape(&p, shape, &shape_off);
      if (p.failed)
        break;
    }
    /* Entries are separated by ',', and a trailing ',' is allowed. */
    if (!accept(&p, ',')) {
      skip_ws(&p);
      if (p.pos >= p.end || p.buf[p.pos] != '}')
        syntax(&p, "',' or '}'");
    }
  }
  if (p.failed)
    return false;
  skip_ws(&p);
  if (p.pos != p.end) {
    syntax(&p, "only padding after the header dict");
    return false;
  }
  for (int i = 0; i < 3; i++)
    if (!seen[i]) {
      npy_err(path, start, "the .npy header has no '%s' key", keys[i]);
      ok = false;
    }
  return ok;
}

bool npy_read(const char *path, NpyArray *out) {
  memset(out, 0, sizeof(*out));
  size_t len;
  const unsigned char *buf = (const unsigned char *)read_file(path, NPY_MAX_FILE, &len);
  if (!buf)
    return false;

  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (len < 10) {
    npy_err(path, len, "truncated .npy file: %zu bytes is shorter than the 10-byte preamble", len);
    return false;
  }
  if (memcmp(buf, magic, 6)) {
    npy_err(path, 0, "not a .npy file (missing the \\x93NUMPY magic)");
    return false;
  }
  int major = buf[6], minor = buf[7];
  if (major < 1 || major > 3 || minor != 0) {
    npy_err(path, 6, "unsupported .npy format version %d.%d (supported: 1.0, 2.0, 3.0)", major,
            minor);
    return false;
  }

  /* Version 1.0 has a u16 header length at 8, 2.0/3.0 a u32. */
  size_t hstart = major == 1 ? 10 : 12;
  if (len < hstart) {
    npy_err(path, len, "truncated .npy file: the header length field is incomplete");
    return false;
  }
  uint32_t hlen = major == 1 ? (uint32_t)(buf[8] | buf[9] << 8) : rd_u32(buf + 8);
  if (hlen > NPY_MAX_HEADER) {
    npy_err(path, 8, ".npy header length %" PRIu32 " exceeds the limit of %d bytes", hlen,
            NPY_MAX_HEADER);
    return false;
  }
  size_t hend = hstart + hlen; /* cannot wrap: both are small */
  if (hend > len) {
    npy_err(path, 8,
            "truncated .npy file: header of %" PRIu32 " bytes runs past the end of the file (%zu bytes)",
            hlen, len);
    return false;
  }

  const NpyDtype *dt = NULL;
  Shape shape = {0};
  if (!parse_header(path, buf, hstart, hend, &dt, &shape))
    return false;

  int64_t numel = 1, nbytes;
  for (int i = 0; i < shape.rank; i++)
    if (ckd_mul(&numel, numel, shape.d[i])) {
      npy_err(path, hstart, "the element count of .npy shape %s overflows", shape_str(&shape));
      return false;
    }
  if (ckd_mul(&nbytes, numel, dt->size)) {
    npy_err(path, hstart, "the byte size of .npy shape %s overflows", shape_str(&shape));
    return false;
  }
  size_t have = len - hend;
  if ((uint64_t)nbytes != (uint64_t)have) {
    npy_err(path, hend,
            ".npy data is %zu bytes but shape %s of %s needs %" PRId64 " (%s)", have,
            shape_str(&shape), dt->name, nbytes,
            (uint64_t)have < (uint64_t)nbytes ? "truncated file" : "trailing bytes");
    return false;
  }

  /* numel * 8 cannot overflow: numel * itemsize <= 1 GiB was just checked. */
  double *data = cnnc_alloc((size_t)(numel > 0 ? numel : 1) * sizeof(double));
  const unsigned char *src = buf + hend;
  for (int64_t i = 0; i < numel; i++) {
    const unsigned char *e = src + i * dt->size;
    switch (dt->dt) {
    case DT_F32: {
      uint32_t u = rd_u32(e);
      float f;
      memcpy(&f, &u, 4);
      data[i] = f;
      break;
    }
    case DT_F64: {
      uint64_t u = rd_u64(e);
      memcpy(&data[i], &u, 8);
      break;
    }
    case DT_I32:
      data[i] = (double)(int32_t)rd_u32(e);
      break;
    case DT_I64:
      data[i] = (double)(int64_t)rd_u64(e);
      break;
    }
  }
  out->dtype = dt->dt;
  out->shape = shape;
  out->numel = numel;
  out->data = data;
  return true;
}

bool npy_write_f32(const char *path, const Shape *shape, const float *data) {
  int64_t numel = 1;
  bool bad = shape->rank < 0 || shape->rank > MAX_RANK;
  for (int i = 0; !bad && i < shape->rank; i++)
    bad = shape->d[i] < 0 || ckd_mul(&numel, numel, shape->d[i]);
  int64_t nbytes;
  if (bad || ckd_mul(&nbytes, numel, 4)) {
    diag_error(loc_file(path), "cannot write .npy: invalid shape %s", shape_str(shape));
    return false;
  }

  /* NumPy's layout: repr of the dict, a trailing ", }", then spaces and '\n'
   * so that preamble + header is a multiple of 64. */
  char dims[MAX_RANK * 24 + 8];
  size_t n = 0;
  for (int i = 0; i < shape->rank; i++)
    n += (size_t)snprintf(dims + n, sizeof(dims) - n, "%s%" PRId64, i ? ", " : "", shape->d[i]);
  if (shape->rank == 1)
    n += (size_t)snprintf(dims + n, sizeof(dims) - n, ",");
  dims[n] = '\0';
  char *dict = cnnc_fmt("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
  size_t dlen = strlen(dict);
  size_t total = 10 + dlen + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = dlen + pad + 1; /* < 64 + 6 * 24 + 60: fits u16 */

  AtomicFile af;
  if (!atomic_open(&af, path))
    return false;
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                           (unsigned char)(hlen >> 8)};
  fwrite(pre, 1, sizeof(pre), af.f);
  fwrite(dict, 1, dlen, af.f);
  for (size_t i = 0; i < pad; i++)
    fputc(' ', af.f);
  fputc('\n', af.f);

  /* Explicit little-endian bytes, in chunks, independent of the host order. */
  unsigned char chunk[4096];
  size_t fill = 0;
  for (int64_t i = 0; i < numel; i++) {
    uint32_t u;
    memcpy(&u, &data[i], 4);
    chunk[fill++] = (unsigned char)u;
    chunk[fill++] = (unsigned char)(u >> 8);
    chunk[fill++] = (unsigned char)(u >> 16);
    chunk[fill++] = (unsigned char)(u >> 24);
    if (fill == sizeof(chunk)) {
      fwrite(chunk, 1, fill, af.f);
      fill = 0;
    }
  }
  fwrite(chunk, 1, fill, af.f);
  if (ferror(af.f)) {
    diag_error(loc_file(path), "cannot write .npy file: write error");
    atomic_abort(&af);
    return false;
  }
  return atomic_commit(&af);
}
