/* protobuf.c - a small, bounded reader of the protobuf wire format.
 *
 * No schema and no generated code: the caller walks a message field by field
 * with pb_next() and decides what each field number means (onnx.c).  What this
 * file guarantees, whatever the bytes:
 *  - the whole input is at most PB_MAX_INPUT bytes (protobuf's own 2 GiB limit);
 *  - a varint is at most 10 bytes and must fit in 64 bits;
 *  - a length prefix never reaches past the end of the enclosing message, so
 *    sub-messages cannot overlap their parent's neighbours;
 *  - groups (wire types 3/4, deprecated since proto2) and the unused wire types
 *    6/7 are refused; field number 0 is refused;
 *  - sub-messages nest at most PB_MAX_DEPTH deep (pb_enter counts), so a
 *    recursive caller cannot overflow the stack;
 *  - packed repeated fields are counted before anything is allocated, and the
 *    count is bounded by the payload length, so a lying count cannot make an
 *    allocation larger than the file.
 * The first problem is reported once through diag_error() at file:1:<byte
 * offset + 1> and sets PbInput.failed, after which every call returns false:
 * callers just stop on false and never see a half-decoded value as valid.
 */
#include "ir.h"

#include <string.h>

bool pb_fail(PbReader *r, size_t off, const char *fmt, ...) {
  PbInput *in = r->in;
  if (in->failed)
    return false;
  in->failed = true;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* Binary files: line 1, column = byte offset + 1 (see SrcLoc in ir.h). */
  int col = off < (size_t)INT32_MAX ? (int)off + 1 : INT32_MAX;
  diag_error(loc_at(in->file, 1, col), "invalid ONNX model (protobuf): %s", msg);
  return false;
}

size_t pb_offset(const PbReader *r, const uint8_t *p) { return (size_t)(p - r->in->base); }

bool pb_open(PbInput *in, PbReader *r, const char *file, const uint8_t *buf, size_t len) {
  memset(in, 0, sizeof *in);
  in->file = file;
  in->base = buf;
  in->len = len;
  r->in = in;
  r->p = buf;
  r->end = buf + len;
  r->depth = 0;
  if (len > PB_MAX_INPUT)
    return pb_fail(r, 0, "input is %zu bytes; the limit is %zu (use external data for large weights)", len,
                   (size_t)PB_MAX_INPUT);
  return true;
}

/* Decode one varint at *p (< end).  Ten bytes at most, and the tenth may
 * only carry the top bit of a 64-bit value. */
static bool read_varint(PbReader *r, const uint8_t **pp, const uint8_t *end, uint64_t *v) {
  const uint8_t *p = *pp;
  uint64_t x = 0;
  for (int i = 0; i < 10; i++) {
    if (p >= end)
      return pb_fail(r, pb_offset(r, *pp), "truncated varint");
    uint8_t b = *p++;
    if (i == 9 && b > 1)
      return pb_fail(r, pb_offset(r, *pp), "varint overflows 64 bits");
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      *pp = p;
      return true;
    }
  }
  return pb_fail(r, pb_offset(r, *pp), "varint longer than 10 bytes");
}

static uint64_t load_le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

bool pb_next(PbReader *r, PbField *f) {
  if (r->in->failed || r->p >= r->end)
    return false;
  memset(f, 0, sizeof *f);
  f->off = pb_offset(r, r->p);
  uint64_t key;
  if (!read_varint(r, &r->p, r->end, &key))
    return false;
  uint64_t num = key >> 3;
  f->wire = (int)(key & 7);
  if (num == 0 || num > 0x1fffffff)
    return pb_fail(r, f->off, "bad field number %llu", (unsigned long long)num);
  f->num = (uint32_t)num;
  size_t left;
  switch (f->wire) {
  case PB_VARINT:
    return read_varint(r, &r->p, r->end, &f->u);
  case PB_I64:
  case PB_I32: {
    size_t n = f->wire == PB_I64 ? 8 : 4;
    if ((size_t)(r->end - r->p) < n)
      return pb_fail(r, f->off, "truncated fixed%zu field %u", n * 8, f->num);
    f->u = load_le(r->p, (int)n);
    f->data = r->p;
    f->len = n;
    r->p += n;
    return true;
  }
  case PB_LEN: {
    uint64_t len;
    if (!read_varint(r, &r->p, r->end, &len))
      return false;
    left = (size_t)(r->end - r->p);
    if (len > left)
      return pb_fail(r, f->off, "field %u claims %llu bytes but only %zu remain", f->num,
                     (unsigned long long)len, left);
    f->data = r->p;
    f->len = (size_t)len;
    r->p += len;
    return true;
  }
  case PB_SGROUP:
  case PB_EGROUP:
    return pb_fail(r, f->off, "field %u uses the deprecated group encoding", f->num);
  default:
    return pb_fail(r, f->off, "field %u has invalid wire type %d", f->num, f->wire);
  }
}

bool pb_enter(PbReader *r, const PbField *f, PbReader *sub) {
  if (r->in->failed)
    return false;
  if (f->wire != PB_LEN)
    return pb_fail(r, f->off, "field %u should be a message (wire type 2), got wire type %d", f->num, f->wire);
  if (r->depth + 1 > PB_MAX_DEPTH)
    return pb_fail(r, f->off, "messages nested deeper than %d levels", PB_MAX_DEPTH);
  sub->in = r->in;
  sub->p = f->data;
  sub->end = f->data + f->len;
  sub->depth = r->depth + 1;
  return true;
}

static bool want_wire(PbReader *r, const PbField *f, int wire, const char *what) {
  if (f->wire == wire)
    return true;
  return pb_fail(r, f->off, "field %u should be %s, got wire type %d", f->num, what, f->wire);
}

bool pb_get_u64(PbReader *r, const PbField *f, uint64_t *v) {
  if (!want_wire(r, f, PB_VARINT, "an integer"))
    return false;
  *v = f->u;
  return true;
}

bool pb_get_i64(PbReader *r, const PbField *f, int64_t *v) {
  if (!want_wire(r, f, PB_VARINT, "an integer"))
    return false;
  *v = (int64_t)f->u; /* two's complement, as protobuf encodes negative int64 */
  return true;
}

bool pb_get_i32(PbReader *r, const PbField *f, int32_t *v) {
  int64_t x;
  if (!pb_get_i64(r, f, &x))
    return false;
  /* int32 and enums are sign-extended to 64 bits on the wire. */
  if (x < INT32_MIN || x > INT32_MAX)
    return pb_fail(r, f->off, "field %u: value %lld does not fit in int32", f->num, (long long)x);
  *v = (int32_t)x;
  return true;
}

bool pb_get_f32(PbReader *r, const PbField *f, float *v) {
  if (!want_wire(r, f, PB_I32, "a float (fixed32)"))
    return false;
  uint32_t bits = (uint32_t)f->u;
  memcpy(v, &bits, sizeof *v);
  return true;
}

bool pb_get_bytes(PbReader *r, const PbField *f, const uint8_t **data, size_t *len) {
  if (!want_wire(r, f, PB_LEN, "bytes"))
    return false;
  *data = f->data;
  *len = f->len;
  return true;
}

bool pb_get_str(PbReader *r, const PbField *f, const char **s) {
  const uint8_t *d;
  size_t n;
  if (!pb_get_bytes(r, f, &d, &n))
    return false;
  /* Names are used as C strings everywhere; an embedded NUL would make two
   * different names compare equal (or truncate a path), so refuse it here. */
  if (memchr(d, 0, n))
    return pb_fail(r, f->off, "string field %u contains a NUL byte", f->num);
  *s = cnnc_strndup((const char *)d, n);
  return true;
}

/* Make room for `extra` more elements of size `elem` in a growable array. */
static void *grow(void *a, size_t *n, size_t *cap, size_t extra, size_t elem) {
  size_t need = *n + extra; /* extra <= input length, so no wrap for real inputs */
  if (need < *n)
    die("array length overflow");
  if (need > *cap) {
    size_t c = *cap ? *cap : 8;
    while (c < need)
      c = c > SIZE_MAX / 2 ? need : c * 2;
    a = cnnc_realloc_array(a, c, elem);
    *cap = c;
  }
  return a;
}

bool pb_get_i64s(PbReader *r, const PbField *f, int64_t **a, size_t *n, size_t *cap) {
  if (r->in->failed)
    return false;
  if (f->wire == PB_VARINT) {
    *a = grow(*a, n, cap, 1, sizeof **a);
    (*a)[(*n)++] = (int64_t)f->u;
    return true;
  }
  if (!want_wire(r, f, PB_LEN, "packed integers"))
    return false;
  /* Count first: every varint ends with exactly one byte below 0x80. */
  size_t count = 0;
  for (size_t i = 0; i < f->len; i++)
    count += f->data[i] < 0x80;
  if (f->len && f->data[f->len - 1] >= 0x80)
    return pb_fail(r, f->off, "packed field %u ends inside a varint", f->num);
  *a = grow(*a, n, cap, count, sizeof **a);
  const uint8_t *p = f->data, *end = f->data + f->len;
  while (p < end) {
    uint64_t v;
    if (!read_varint(r, &p, end, &v))
      return false;
    (*a)[(*n)++] = (int64_t)v;
  }
  return true;
}

static bool get_fixed(PbReader *r, const PbField *f, int size, void **a, size_t *n, size_t *cap,
                      size_t elem) {
  if (r->in->failed)
    return false;
  int single = size == 4 ? PB_I32 : PB_I64;
  size_t count;
  const uint8_t *src;
  if (f->wire == single) {
    count = 1;
    src = f->data;
  } else {
    if (!want_wire(r, f, PB_LEN, size == 4 ? "packed fixed32" : "packed fixed64"))
      return false;
    if (f->len % (size_t)size)
      return pb_fail(r, f->off, "packed field %u: %zu bytes is not a multiple of %d", f->num, f->len, size);
    count = f->len / (size_t)size;
    src = f->data;
  }
  *a = grow(*a, n, cap, count, elem);
  for (size_t i = 0; i < count; i++) {
    uint64_t bits = load_le(src + i * (size_t)size, size);
    if (size == 4) {
      uint32_t b32 = (uint32_t)bits;
      memcpy((char *)*a + (*n + i) * elem, &b32, 4);
    } else {
      memcpy((char *)*a + (*n + i) * elem, &bits, 8);
    }
  }
  *n += count;
  return true;
}

bool pb_get_f32s(PbReader *r, const PbField *f, float **a, size_t *n, size_t *cap) {
  return get_fixed(r, f, 4, (void **)a, n, cap, sizeof **a);
}

bool pb_get_f64s(PbReader *r, const PbField *f, double **a, size_t *n, size_t *cap) {
  return get_fixed(r, f, 8, (void **)a, n, cap, sizeof **a);
}
