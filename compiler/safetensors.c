/* safetensors.c - safetensors reader and float32 writer.
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the data buffer; offsets are relative to the buffer (file offset 8+N).
 *
 * st_read guarantees (BAD-INPUTS.md section E):
 *  E1  file >= 8 bytes, N <= 100,000,000 (the reference MAX_HEADER_SIZE) and
 *      8+N <= file size;
 *  E2  header is valid UTF-8, starts with '{', is one strict RFC 8259 JSON
 *      object (own parser: nesting <= 64, <= 4M values, no trailing text
 *      except whitespace padding);
 *  E3  duplicate keys are refused in every object, not only at the top;
 *  E4  dtype F32/F16/BF16/F64 (converted to float32); other safetensors
 *      dtypes are refused by name, except in `*.num_batches_tracked` entries
 *      (PyTorch's int64 BN counter), which are validated but not decoded
 *      (data = NULL) because SPEC says they are accepted and ignored;
 *  E5  data_offsets is exactly 2 non-negative JSON integers (no fraction,
 *      exponent or sign) with begin <= end;
 *  E6  end - begin == prod(shape) * itemsize, products overflow-checked;
 *  E7  sorted by offset, the ranges tile the buffer exactly: no overlap (a
 *      zero-size tensor inside another's bytes is an overlap; one at a
 *      boundary occupies nothing and is fine, as the reference writer puts
 *      consecutive empty tensors at the same offset), no holes, no trailing
 *      bytes;
 *  E8  no range runs past the end of the file;
 *  E10 NaN/Inf (and F64 values beyond float32 range) refused unless
 *      allow_nonfinite;
 *  E11 __metadata__ is an object of string values;
 *  E12 all multi-byte values are decoded explicitly as little-endian; the
 *      only layout is row-major, so any key other than dtype/shape/
 *      data_offsets (e.g. "strides") is an error.
 * Rank is limited to MAX_RANK.  Every problem that can be identified
 * independently is reported in one run; a JSON syntax error stops the parse.
 *
 * Locations: the file is binary, so a diagnostic is path:1:<col> with col =
 * byte offset in the FILE + 1 (the header text starts at offset 8, so a
 * character at header index i has col i + 9).  Newlines inside the header do
 * not start a new line number: one convention for every binary input.
 *
 * st_write writes F32 tensors in the given order, atomically, with the
 * compact JSON the reference writer produces padded with spaces to a multiple
 * of 8 bytes so that the data buffer is 8-byte aligned.
 */
#include "../ir/ir.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h> /* qsort */
#include <string.h>

#define ST_MAX_HEADER 100000000ull
#define ST_MAX_FILE ((size_t)1 << 34)
#define ST_MAX_DEPTH 64
#define ST_MAX_VALUES (1 << 22)

/* ------------------------------------------------------------ JSON */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } JKind;

typedef struct JVal JVal;
typedef struct JMember {
  const char *key; /* decoded, NUL-terminated (may hold NUL via \u0000: see klen) */
  size_t klen;
  size_t koff; /* file offset of the key's opening quote */
  JVal *val;
  const struct JMember *first; /* set on a later duplicate: the first occurrence */
  bool dup;    /* a later duplicate of an earlier key (already reported) */
} JMember;

struct JVal {
  JKind kind;
  size_t off;    /* file offset of the first character */
  const char *s; /* J_STR: decoded text; J_NUM: raw text */
  size_t len;
  bool b;
  JVal **items;  /* J_ARR */
  int nitems, cap_items;
  JMember *mem;  /* J_OBJ, in file order */
  int nmem, cap_mem;
};

typedef struct {
  const char *path;
  const unsigned char *s; /* the whole file */
  size_t pos, end;        /* file offsets; the header is [8, end) */
  int depth;
  int64_t nvalues;
  bool failed;            /* a syntax error: stop */
  int nerrors;            /* any error, including duplicate keys */
} JParser;

static int col_of(size_t off) { return off < (size_t)INT32_MAX ? (int)off + 1 : INT32_MAX; }

static void st_err(const char *path, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Format here and go through diag_error so the error is counted; tensor
 * names can be long, hence the measured allocation. */
static void st_err(const char *path, size_t off, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *msg = cnnc_alloc(n > 0 ? (size_t)n + 1 : 1);
  va_start(ap, fmt);
  vsnprintf(msg, n > 0 ? (size_t)n + 1 : 1, fmt, ap);
  va_end(ap);
  diag_error(loc_at(path, 1, col_of(off)), "%s", msg);
}

static void j_fail(JParser *p, size_t off, const char *what) {
  if (p->failed)
    return;
  p->failed = true;
  p->nerrors++;
  if (off >= p->end)
    st_err(p->path, off, "invalid JSON in safetensors header: %s at the end of the header", what);
  else if (p->s[off] >= 0x20 && p->s[off] < 0x7f)
    st_err(p->path, off, "invalid JSON in safetensors header: %s, found '%c'", what, p->s[off]);
  else
    st_err(p->path, off, "invalid JSON in safetensors header: %s, found byte 0x%02x", what,
           p->s[off]);
}

/* Offset of the first byte that is not valid UTF-8 in s[start, end), or end.
 * Refuses overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_bad(const unsigned char *s, size_t start, size_t end) {
  size_t i = start;
  while (i < end) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    int n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
      n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0)
        lo = 0xa0; /* overlong */
      if (c == 0xed)
        hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0)
        lo = 0x90; /* overlong */
      if (c == 0xf4)
        hi = 0x8f; /* > U+10FFFF */
    } else
      return i;
    if (end - i <= (size_t)n)
      return i;
    for (int k = 1; k <= n; k++) {
      unsigned d = s[i + k];
      if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xbf))
        return i;
    }
    i += (size_t)n + 1;
  }
  return end;
}

static bool j_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void j_skip(JParser *p) {
  while (p->pos < p->end && j_ws(p->s[p->pos]))
    p->pos++;
}

static JVal *j_new(JParser *p, JKind kind, size_t off) {
  if (++p->nvalues > ST_MAX_VALUES) {
    if (!p->failed)
      st_err(p->path, off, "safetensors header has more than %d JSON values", ST_MAX_VALUES);
    p->failed = true;
    p->nerrors++;
    return NULL;
  }
  JVal *v = cnnc_alloc(sizeof(*v));
  v->kind = kind;
  v->off = off;
  return v;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Four hex digits after "\u" at p->pos; -1 after an error. */
static long j_hex4(JParser *p) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int h = p->pos < p->end ? hexval(p->s[p->pos]) : -1;
    if (h < 0) {
      j_fail(p, p->pos, "expected 4 hex digits after \\u");
      return -1;
    }
    v = v * 16 + h;
    p->pos++;
  }
  return v;
}

static size_t put_utf8(char *o, unsigned long cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xc0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
  }
  o[0] = (char)(0xf0 | cp >> 18);
  o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
  o[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* A string at p->pos (the opening quote).  The raw bytes were validated as
 * UTF-8 up front, so only escapes and control characters are checked here.
 * Decoded text is never longer than the raw text (\uXXXX -> <= 3 bytes,
 * a surrogate pair's 12 bytes -> 4). */
static bool j_string(JParser *p, const char **out, size_t *outlen) {
  size_t start = ++p->pos;
  size_t raw = 0;
  while (start + raw < p->end && p->s[start + raw] != '"') {
    if (p->s[start + raw] == '\\')
      raw++;
    raw++;
  }
  char *o = cnnc_alloc(raw + 1);
  size_t n = 0;
  for (;;) {
    if (p->pos >= p->end) {
      j_fail(p, p->pos, "unterminated string");
      return false;
    }
    unsigned char c = p->s[p->pos];
    if (c == '"') {
      p->pos++;
      break;
    }
    if (c < 0x20) {
      j_fail(p, p->pos, "control character in a string (must be escaped)");
      return false;
    }
    if (c != '\\') {
      o[n++] = (char)c;
      p->pos++;
      continue;
    }
    size_t esc = p->pos++;
    if (p->pos >= p->end) {
      j_fail(p, p->pos, "unterminated escape");
      return false;
    }
    c = p->s[p->pos++];
    switch (c) {
    case '"': o[n++] = '"'; break;
    case '\\': o[n++] = '\\'; break;
    case '/': o[n++] = '/'; break;
    case 'b': o[n++] = '\b'; break;
    case 'f': o[n++] = '\f'; break;
    case 'n': o[n++] = '\n'; break;
    case 'r': o[n++] = '\r'; break;
    case 't': o[n++] = '\t'; break;
    case 'u': {
      long cp = j_hex4(p);
      if (cp < 0)
        return false;
      if (cp >= 0xdc00 && cp <= 0xdfff) {
        j_fail(p, esc, "unpaired low surrogate escape");
        return false;
      }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (p->end - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
          j_fail(p, esc, "high surrogate escape without a following low surrogate");
          return false;
        }
        p->pos += 2;
        long lo = j_hex4(p);
        if (lo < 0)
          return false;
        if (lo < 0xdc00 || lo > 0xdfff) {
          j_fail(p, esc, "high surrogate escape without a following low surrogate");
          return false;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      n += put_utf8(o + n, (unsigned long)cp);
      break;
    }
    default:
      j_fail(p, esc, "invalid escape sequence");
      return false;
    }
  }
  o[n] = '\0';
  *out = o;
  *outlen = n;
  return true;
}

/* RFC 8259 number grammar; the text is kept raw (see j_uint). */
static bool j_number(JParser *p) {
  size_t i = p->pos;
  if (i < p->end && p->s[i] == '-')
    i++;
  if (i < p->end && p->s[i] == '0')
    i++;
  else if (i < p->end && p->s[i] >= '1' && p->s[i] <= '9')
    while (i < p->end && p->s[i] >= '0' && p->s[i] <= '9')
      i++;
  else {
    j_fail(p, i, "malformed number");
    return false;
  }
  if (i < p->end && p->s[i] == '.') {
    i++;
    if (i >= p->end || p->s[i] < '0' || p->s[i] > '9') {
      j_fail(p, i, "malformed number: digits expected after '.'");
      return false;
    }
    while (i < p->end && p->s[i] >= '0' && p->s[i] <= '9')
      i++;
  }
  if (i < p->end && (p->s[i] == 'e' || p->s[i] == 'E')) {
    i++;
    if (i < p->end && (p->s[i] == '+' || p->s[i] == '-'))
      i++;
    if (i >= p->end || p->s[i] < '0' || p->s[i] > '9') {
      j_fail(p, i, "malformed number: digits expected in the exponent");
      return false;
    }
    while (i < p->end && p->s[i] >= '0' && p->s[i] <= '9')
      i++;
  }
  p->pos = i;
  return true;
}

static JVal *j_value(JParser *p);

static int cmp_member(const void *a, const void *b) {
  const JMember *x = *(const JMember *const *)a, *y = *(const JMember *const *)b;
  size_t n = x->klen < y->klen ? x->klen : y->klen;
  int c = memcmp(x->key, y->key, n);
  if (c)
    return c;
  if (x->klen != y->klen)
    return x->klen < y->klen ? -1 : 1;
  /* Members live in one array: address order is file order, so the first
   * occurrence sorts first and the later ones are flagged. */
  return x < y ? -1 : x > y;
}

/* Flag and report every key that repeats an earlier key of the object. */
static void j_check_dups(JParser *p, JVal *obj) {
  if (obj->nmem < 2)
    return;
  JMember **idx = cnnc_realloc_array(NULL, (size_t)obj->nmem, sizeof(*idx));
  for (int i = 0; i < obj->nmem; i++)
    idx[i] = &obj->mem[i];
  qsort(idx, (size_t)obj->nmem, sizeof(*idx), cmp_member);
  /* Within a run of equal keys the first occurrence sorts first. */
  for (int i = 1; i < obj->nmem; i++)
    if (idx[i]->klen == idx[i - 1]->klen && !memcmp(idx[i]->key, idx[i - 1]->key, idx[i]->klen)) {
      idx[i]->dup = true;
      idx[i]->first = idx[i - 1]->dup ? idx[i - 1]->first : idx[i - 1];
    }
  /* Report in file order so diagnostics read top to bottom. */
  for (int i = 0; i < obj->nmem; i++) {
    const JMember *m = &obj->mem[i];
    if (!m->dup)
      continue;
    st_err(p->path, m->koff, "duplicate key \"%s\" in safetensors header", m->key);
    diag_note(loc_at(p->path, 1, col_of(m->first->koff)), "first occurrence of \"%s\"",
              m->first->key);
    p->nerrors++;
  }
}

static JVal *j_object(JParser *p) {
  JVal *v = j_new(p, J_OBJ, p->pos);
  if (!v)
    return NULL;
  p->pos++;
  j_skip(p);
  if (p->pos < p->end && p->s[p->pos] == '}') {
    p->pos++;
    return v;
  }
  for (;;) {
    j_skip(p);
    if (p->pos >= p->end || p->s[p->pos] != '"') {
      j_fail(p, p->pos, "expected a string key");
      return NULL;
    }
    JMember m = {0};
    m.koff = p->pos;
    if (!j_string(p, &m.key, &m.klen))
      return NULL;
    j_skip(p);
    if (p->pos >= p->end || p->s[p->pos] != ':') {
      j_fail(p, p->pos, "expected ':' after a key");
      return NULL;
    }
    p->pos++;
    m.val = j_value(p);
    if (!m.val)
      return NULL;
    VEC_PUSH(v->mem, v->nmem, v->cap_mem, m);
    j_skip(p);
    if (p->pos < p->end && p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->pos < p->end && p->s[p->pos] == '}') {
      p->pos++;
      break;
    }
    j_fail(p, p->pos, "expected ',' or '}' in an object");
    return NULL;
  }
  j_check_dups(p, v);
  return v;
}

static JVal *j_array(JParser *p) {
  JVal *v = j_new(p, J_ARR, p->pos);
  if (!v)
    return NULL;
  p->pos++;
  j_skip(p);
  if (p->pos < p->end && p->s[p->pos] == ']') {
    p->pos++;
    return v;
  }
  for (;;) {
    JVal *e = j_value(p);
    if (!e)
      return NULL;
    VEC_PUSH(v->items, v->nitems, v->cap_items, e);
    j_skip(p);
    if (p->pos < p->end && p->s[p->pos] == ',') {
      p->pos++;
      continue;
    }
    if (p->pos < p->end && p->s[p->pos] == ']') {
      p->pos++;
      return v;
    }
    j_fail(p, p->pos, "expected ',' or ']' in an array");
    return NULL;
  }
}

static bool j_literal(JParser *p, const char *word) {
  size_t n = strlen(word);
  if (p->end - p->pos < n || memcmp(p->s + p->pos, word, n)) {
    j_fail(p, p->pos, "unexpected literal (true, false or null expected)");
    return false;
  }
  p->pos += n;
  return true;
}

static JVal *j_value(JParser *p) {
  j_skip(p);
  if (p->pos >= p->end) {
    j_fail(p, p->pos, "expected a value");
    return NULL;
  }
  unsigned char c = p->s[p->pos];
  size_t off = p->pos;
  JVal *v = NULL;
  if (c == '{' || c == '[') {
    /* Bounded recursion: a header of 10^8 '[' must not blow the C stack. */
    if (++p->depth > ST_MAX_DEPTH) {
      if (!p->failed)
        st_err(p->path, off, "safetensors header nests deeper than %d levels", ST_MAX_DEPTH);
      p->failed = true;
      p->nerrors++;
      return NULL;
    }
    v = c == '{' ? j_object(p) : j_array(p);
    p->depth--;
    return v;
  }
  if (c == '"') {
    v = j_new(p, J_STR, off);
    if (v && !j_string(p, &v->s, &v->len))
      return NULL;
    return v;
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    v = j_new(p, J_NUM, off);
    if (!v || !j_number(p))
      return NULL;
    v->s = (const char *)p->s + off;
    v->len = p->pos - off;
    return v;
  }
  if (c == 't' || c == 'f') {
    v = j_new(p, J_BOOL, off);
    if (!v || !j_literal(p, c == 't' ? "true" : "false"))
      return NULL;
    v->b = c == 't';
    return v;
  }
  if (c == 'n') {
    v = j_new(p, J_NULL, off);
    if (!v || !j_literal(p, "null"))
      return NULL;
    return v;
  }
  j_fail(p, off, "expected a value");
  return NULL;
}

static const char *j_kind_name(JKind k) {
  static const char *const names[] = {"null", "a boolean", "a number", "a string", "an array",
                                      "an object"};
  return names[k];
}

/* A JSON integer in [0, INT64_MAX].  Returns false with *why set. */
static bool j_uint(const JVal *v, int64_t *out, const char **why) {
  if (v->kind != J_NUM) {
    *why = j_kind_name(v->kind);
    return false;
  }
  if (v->s[0] == '-') {
    *why = "negative";
    return false;
  }
  int64_t r = 0;
  for (size_t i = 0; i < v->len; i++) {
    char c = v->s[i];
    if (c < '0' || c > '9') {
      *why = "not an integer";
      return false;
    }
    if (ckd_mul(&r, r, 10) || ckd_add(&r, r, c - '0')) {
      *why = "too large";
      return false;
    }
  }
  *out = r;
  return true;
}

/* ------------------------------------------------------------ reader */

enum { CV_NONE, CV_F32, CV_F16, CV_BF16, CV_F64 };

typedef struct {
  const char *name;
  int size; /* bytes per element; 0 = sub-byte (cannot be validated) */
  int conv; /* CV_NONE: not decoded by cnnc */
  DType dt;
} StDtype;

/* Every dtype of the safetensors specification, so that an unsupported one
 * is named as such rather than reported as garbage. */
static const StDtype st_dtypes[] = {
    {"F32", 4, CV_F32, DT_F32},     {"F16", 2, CV_F16, DT_F32},   {"BF16", 2, CV_BF16, DT_F32},
    {"F64", 8, CV_F64, DT_F64},     {"I64", 8, CV_NONE, DT_I64},  {"I32", 4, CV_NONE, DT_I32},
    {"BOOL", 1, CV_NONE, DT_F32},   {"U8", 1, CV_NONE, DT_F32},   {"I8", 1, CV_NONE, DT_F32},
    {"I16", 2, CV_NONE, DT_F32},    {"U16", 2, CV_NONE, DT_F32},  {"U32", 4, CV_NONE, DT_F32},
    {"U64", 8, CV_NONE, DT_F32},    {"C64", 8, CV_NONE, DT_F32},  {"F8_E5M2", 1, CV_NONE, DT_F32},
    {"F8_E4M3", 1, CV_NONE, DT_F32}, {"F8_E8M0", 1, CV_NONE, DT_F32}, {"F6_E2M3", 0, CV_NONE, DT_F32},
    {"F6_E3M2", 0, CV_NONE, DT_F32}, {"F4", 0, CV_NONE, DT_F32},
};

static const StDtype *st_dtype(const char *s) {
  for (size_t i = 0; i < sizeof(st_dtypes) / sizeof(st_dtypes[0]); i++)
    if (!strcmp(st_dtypes[i].name, s))
      return &st_dtypes[i];
  return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* Validation state of one tensor entry. */
typedef struct {
  StTensor *t;
  const StDtype *dt;
  int64_t begin, end;
  bool offs_ok;  /* begin/end usable for the range checks */
  bool ok;       /* the entry is fully valid */
  size_t off;    /* file offset of the key */
} Entry;

static float f16_to_f32(uint16_t h) {
  int exp = (h >> 10) & 0x1f;
  int mant = h & 0x3ff;
  float f;
  if (exp == 0)
    f = ldexpf((float)mant, -24); /* zero or subnormal */
  else if (exp == 31)
    f = mant ? NAN : INFINITY;
  else
    f = ldexpf((float)(mant | 0x400), exp - 25);
  return (h & 0x8000) ? -f : f;
}

static uint32_t rd_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(const unsigned char *p) {
  return (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
}

/* Check one tensor entry (name -> {dtype, shape, data_offsets}). */
static void check_entry(const char *path, const JMember *m, Entry *e) {
  StTensor *t = e->t;
  const char *name = m->key;
  e->off = m->koff;
  t->name = name;
  t->loc = loc_at(path, 1, col_of(m->koff));
  bool ok = true;
  if (strlen(name) != m->klen) {
    st_err(path, m->koff, "tensor name \"%s...\" contains a NUL character", name);
    ok = false;
  }
  const JVal *v = m->val;
  if (v->kind != J_OBJ) {
    st_err(path, v->off, "tensor \"%s\": expected an object {dtype, shape, data_offsets}, found %s",
           name, j_kind_name(v->kind));
    e->ok = false;
    return;
  }
  const JVal *dtype = NULL, *shape = NULL, *offs = NULL;
  for (int i = 0; i < v->nmem; i++) {
    const JMember *f = &v->mem[i];
    if (f->dup) {
      ok = false;
      continue;
    }
    if (!strcmp(f->key, "dtype"))
      dtype = f->val;
    else if (!strcmp(f->key, "shape"))
      shape = f->val;
    else if (!strcmp(f->key, "data_offsets"))
      offs = f->val;
    else {
      /* Includes "strides", "byteorder" & co: the format is LE row-major only. */
      st_err(path, f->koff,
             "tensor \"%s\": unknown key \"%s\" (expected dtype, shape, data_offsets; "
             "safetensors data is little-endian row-major only)",
             name, f->key);
      ok = false;
    }
  }
  const char *missing[3];
  int nmissing = 0;
  if (!dtype)
    missing[nmissing++] = "dtype";
  if (!shape)
    missing[nmissing++] = "shape";
  if (!offs)
    missing[nmissing++] = "data_offsets";
  for (int i = 0; i < nmissing; i++) {
    st_err(path, m->koff, "tensor \"%s\" has no \"%s\"", name, missing[i]);
    ok = false;
  }

  /* dtype (E4) */
  if (dtype && dtype->kind != J_STR) {
    st_err(path, dtype->off, "tensor \"%s\": dtype must be a string, found %s", name,
           j_kind_name(dtype->kind));
    ok = false;
  } else if (dtype) {
    e->dt = st_dtype(dtype->s);
    if (!e->dt) {
      st_err(path, dtype->off, "tensor \"%s\": unknown dtype \"%s\"", name, dtype->s);
      ok = false;
    } else {
      t->dtype = e->dt->dt;
      t->dtype_name = e->dt->name;
      if (e->dt->conv == CV_NONE && !ends_with(name, ".num_batches_tracked")) {
        st_err(path, dtype->off,
               "tensor \"%s\": unsupported dtype %s (supported: F32, F16, BF16, F64)", name,
               e->dt->name);
        ok = false;
      }
    }
  }

  /* shape */
  bool shape_ok = false;
  if (shape && shape->kind != J_ARR) {
    st_err(path, shape->off, "tensor \"%s\": shape must be an array, found %s", name,
           j_kind_name(shape->kind));
  } else if (shape && shape->nitems > MAX_RANK) {
    st_err(path, shape->off, "tensor \"%s\": rank %d exceeds the maximum of %d", name,
           shape->nitems, MAX_RANK);
  } else if (shape) {
    shape_ok = true;
    t->shape.rank = shape->nitems;
    for (int i = 0; i < shape->nitems; i++) {
      const char *why;
      if (!j_uint(shape->items[i], &t->shape.d[i], &why)) {
        st_err(path, shape->items[i]->off,
               "tensor \"%s\": shape[%d] must be a non-negative integer (%s)", name, i, why);
        shape_ok = false;
      }
    }
  }
  ok &= shape_ok;

  /* data_offsets (E5) */
  if (offs && (offs->kind != J_ARR || offs->nitems != 2)) {
    if (offs->kind != J_ARR)
      st_err(path, offs->off, "tensor \"%s\": data_offsets must be an array [begin, end], found %s",
             name, j_kind_name(offs->kind));
    else
      st_err(path, offs->off,
             "tensor \"%s\": data_offsets must have exactly 2 elements [begin, end], found %d",
             name, offs->nitems);
    ok = false;
  } else if (offs) {
    bool offs_ok = true;
    int64_t be[2];
    for (int i = 0; i < 2; i++) {
      const char *why;
      if (!j_uint(offs->items[i], &be[i], &why)) {
        st_err(path, offs->items[i]->off,
               "tensor \"%s\": data_offsets[%d] must be a non-negative integer (%s)", name, i, why);
        offs_ok = false;
      }
    }
    if (offs_ok && be[1] < be[0]) {
      st_err(path, offs->off, "tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64 "] end before they begin",
             name, be[0], be[1]);
      offs_ok = false;
    }
    if (offs_ok) {
      e->begin = be[0];
      e->end = be[1];
      e->offs_ok = true;
    }
    ok &= offs_ok;
  }

  /* size (E6): computed only from validated pieces, every product checked */
  if (e->dt && shape_ok && e->offs_ok && e->dt->size > 0) {
    int64_t numel = 1, nbytes;
    bool overflow = false;
    for (int i = 0; i < t->shape.rank; i++)
      overflow |= ckd_mul(&numel, numel, t->shape.d[i]);
    if (overflow || ckd_mul(&nbytes, numel, e->dt->size)) {
      st_err(path, shape->off, "tensor \"%s\": the size of shape %s overflows", name,
             shape_str(&t->shape));
      ok = false;
    } else if (nbytes != e->end - e->begin) {
      st_err(path, offs->off,
             "tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64 "] span %" PRId64
             " bytes but shape %s of %s needs %" PRId64,
             name, e->begin, e->end, e->end - e->begin, shape_str(&t->shape), e->dt->name, nbytes);
      ok = false;
    } else
      t->numel = numel;
  }
  e->ok = ok;
}

static void check_metadata(const char *path, const JVal *v) {
  if (v->kind != J_OBJ) {
    st_err(path, v->off, "__metadata__ must be an object of strings, found %s",
           j_kind_name(v->kind));
    return;
  }
  for (int i = 0; i < v->nmem; i++)
    if (v->mem[i].val->kind != J_STR)
      st_err(path, v->mem[i].val->off, "__metadata__ value for \"%s\" must be a string, found %s",
             v->mem[i].key, j_kind_name(v->mem[i].val->kind));
}

static int cmp_range(const void *a, const void *b) {
  const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
  if (x->begin != y->begin)
    return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end)
    return x->end < y->end ? -1 : 1;
  return x < y ? -1 : x > y; /* entries are one array: file order */
}

/* E7/E8: the valid ranges must tile [0, data_len) exactly.  Holes and
 * trailing bytes are only judged when `all` entries are known (no duplicate
 * key was dropped) and every one had usable offsets, so a malformed entry
 * does not cause a cascade of bogus hole errors. */
static void check_ranges(const char *path, Entry *es, int n, size_t data_start,
                         int64_t data_len, bool all) {
  Entry **idx = cnnc_realloc_array(NULL, (size_t)(n > 0 ? n : 1), sizeof(*idx));
  int m = 0;
  for (int i = 0; i < n; i++) {
    Entry *e = &es[i];
    if (e->offs_ok && e->end > data_len) {
      /* E8; such a range says nothing useful about holes, so it leaves the tiling walk. */
      st_err(path, e->off,
             "tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64 "] run past the end of the file "
             "(the data buffer has %" PRId64 " bytes; truncated file?)",
             e->t->name, e->begin, e->end, data_len);
      all = false;
    } else if (e->offs_ok)
      idx[m++] = e;
    else
      all = false;
  }
  qsort(idx, (size_t)m, sizeof(*idx), cmp_range);
  int64_t cursor = 0;
  const Entry *last = NULL; /* the entry whose end is `cursor` */
  for (int i = 0; i < m; i++) {
    Entry *e = idx[i];
    if (e->begin < cursor)
      st_err(path, e->off,
             "tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64 "] overlap \"%s\" [%" PRId64
             ", %" PRId64 "]",
             e->t->name, e->begin, e->end, last->t->name, last->begin, last->end);
    else if (e->begin > cursor && all)
      st_err(path, e->off,
             "tensor \"%s\": data_offsets [%" PRId64 ", %" PRId64 "] leave a hole of %" PRId64
             " unused bytes after offset %" PRId64,
             e->t->name, e->begin, e->end, e->begin - cursor, cursor);
    if (e->end >= cursor) {
      cursor = e->end;
      last = e;
    }
  }
  if (all && cursor < data_len)
    st_err(path, data_start + (size_t)cursor,
           "%" PRId64 " trailing bytes after the last tensor's data", data_len - cursor);
}

/* Decode one validated tensor into float32; reports non-finite values. */
static bool decode(const char *path, Entry *e, const unsigned char *data, size_t data_start,
                   bool allow_nonfinite) {
  StTensor *t = e->t;
  if (e->dt->conv == CV_NONE)
    return true; /* num_batches_tracked: validated, ignored */
  /* numel * 4 <= numel * itemsize (>= 2) <= file size: no overflow. */
  float *out = cnnc_alloc((size_t)(t->numel > 0 ? t->numel : 1) * sizeof(float));
  const unsigned char *src = data + e->begin;
  int64_t bad = 0, first = -1;
  bool range = false; /* first bad value was a finite F64 beyond float range */
  for (int64_t i = 0; i < t->numel; i++) {
    float f = 0;
    double d = 0;
    switch (e->dt->conv) {
    case CV_F32: {
      uint32_t u = rd_u32(src + 4 * i);
      memcpy(&f, &u, 4);
      d = f;
      break;
    }
    case CV_F16:
      f = f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
      d = f;
      break;
    case CV_BF16: {
      uint32_t u = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
      memcpy(&f, &u, 4);
      d = f;
      break;
    }
    case CV_F64: {
      uint64_t u = rd_u64(src + 8 * i);
      memcpy(&d, &u, 8);
      f = (float)d;
      break;
    }
    }
    if (!isfinite(f)) {
      if (!bad++) {
        first = i;
        range = isfinite(d);
      }
    }
    out[i] = f;
  }
  t->data = out;
  if (bad && !allow_nonfinite) {
    size_t at = data_start + (size_t)e->begin + (size_t)first * (size_t)e->dt->size;
    if (range)
      st_err(path, e->off,
             "tensor \"%s\": %" PRId64 " value(s) not representable as float32, the first at "
             "index %" PRId64 " (file byte %zu) is beyond float32 range; pass --allow-nonfinite to accept",
             t->name, bad, first, at);
    else
      st_err(path, e->off,
             "tensor \"%s\": %" PRId64 " non-finite value(s) (NaN/Inf), the first at index %" PRId64
             " (file byte %zu); pass --allow-nonfinite to accept",
             t->name, bad, first, at);
    return false;
  }
  return true;
}

/* qsort has no context argument in C11: sort pointers instead. */
static int cmp_tensor_name(const void *a, const void *b) {
  const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
  return strcmp(x->name, y->name);
}

static void build_index(StFile *f) {
  StTensor **ptr = cnnc_realloc_array(NULL, (size_t)(f->n > 0 ? f->n : 1), sizeof(*ptr));
  for (int i = 0; i < f->n; i++)
    ptr[i] = &f->t[i];
  qsort(ptr, (size_t)f->n, sizeof(*ptr), cmp_tensor_name);
  f->by_name = cnnc_alloc((size_t)(f->n > 0 ? f->n : 1) * sizeof(int));
  for (int i = 0; i < f->n; i++)
    f->by_name[i] = (int)(ptr[i] - f->t);
}

bool st_read(const char *path, StFile *out, bool allow_nonfinite) {
  memset(out, 0, sizeof(*out));
  out->path = path;
  int errors0 = diag_count();
  size_t len;
  const unsigned char *buf = (const unsigned char *)read_file(path, ST_MAX_FILE, &len);
  if (!buf)
    return false;

  /* E1 */
  if (len < 8) {
    st_err(path, 0, "not a safetensors file: %zu bytes is shorter than the 8-byte header length",
           len);
    return false;
  }
  uint64_t hlen = rd_u64(buf);
  if (hlen > ST_MAX_HEADER) {
    st_err(path, 0,
           "safetensors header length %" PRIu64 " exceeds the limit of %llu bytes%s", hlen,
           ST_MAX_HEADER,
           rd_u64(buf) >> 56 ? " (written big-endian? safetensors is little-endian)" : "");
    return false;
  }
  if (hlen > len - 8) {
    st_err(path, 0,
           "safetensors header length %" PRIu64 " runs past the end of the file (%zu bytes)", hlen,
           len);
    return false;
  }
  size_t hend = 8 + (size_t)hlen;

  /* E2 */
  size_t bad = utf8_bad(buf, 8, hend);
  if (bad != hend) {
    st_err(path, bad, "safetensors header is not valid UTF-8 (byte 0x%02x)", buf[bad]);
    return false;
  }
  if (hlen == 0 || buf[8] != '{') {
    st_err(path, 8, "safetensors header does not start with '{'");
    return false;
  }
  JParser p = {path, buf, 8, hend, 0, 0, false, 0};
  JVal *root = j_value(&p);
  if (root && !p.failed) {
    j_skip(&p);
    if (p.pos != hend)
      j_fail(&p, p.pos, "unexpected text after the header object");
  }
  if (!root || p.failed)
    return false;

  /* Entries: everything but __metadata__ and duplicates (already reported). */
  int n = 0;
  for (int i = 0; i < root->nmem; i++)
    if (!root->mem[i].dup && strcmp(root->mem[i].key, "__metadata__"))
      n++;
  out->t = cnnc_alloc((size_t)(n > 0 ? n : 1) * sizeof(StTensor));
  Entry *es = cnnc_alloc((size_t)(n > 0 ? n : 1) * sizeof(Entry));
  int k = 0;
  for (int i = 0; i < root->nmem; i++) {
    const JMember *m = &root->mem[i];
    if (m->dup)
      continue;
    if (!strcmp(m->key, "__metadata__")) {
      check_metadata(path, m->val);
      continue;
    }
    es[k].t = &out->t[k];
    check_entry(path, m, &es[k]);
    k++;
  }
  out->n = n;
  check_ranges(path, es, n, hend, (int64_t)(len - hend), p.nerrors == 0);
  if (diag_count() != errors0 || p.nerrors)
    return false;
  for (int i = 0; i < n; i++)
    if (!es[i].ok)
      die("safetensors entry %d invalid without a diagnostic", i);

  for (int i = 0; i < n; i++)
    decode(path, &es[i], buf + hend, hend, allow_nonfinite);
  build_index(out);
  return diag_count() == errors0;
}

StTensor *st_find(StFile *f, const char *name) {
  if (!f->by_name) {
    for (int i = 0; i < f->n; i++)
      if (!strcmp(f->t[i].name, name))
        return &f->t[i];
    return NULL;
  }
  int lo = 0, hi = f->n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(f->t[f->by_name[mid]].name, name);
    if (!c)
      return &f->t[f->by_name[mid]];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* ------------------------------------------------------------ writer */

typedef struct {
  char *s;
  int len, cap;
} StrBuf;

static void sb_putc(StrBuf *b, char c) { VEC_PUSH(b->s, b->len, b->cap, c); }

static void sb_puts(StrBuf *b, const char *s) {
  while (*s)
    sb_putc(b, *s++);
}

static void sb_json_str(StrBuf *b, const char *s) {
  sb_putc(b, '"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      sb_putc(b, '\\');
      sb_putc(b, (char)c);
    } else if (c < 0x20) {
      char esc[8];
      snprintf(esc, sizeof(esc), "\\u%04x", c);
      sb_puts(b, esc);
    } else
      sb_putc(b, (char)c);
  }
  sb_putc(b, '"');
}

bool st_write(const char *path, int n, const char *const *names, const Shape *shapes,
              const float *const *data) {
  int errors0 = diag_count();
  int64_t *nbytes = cnnc_alloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
  for (int i = 0; i < n; i++) {
    const char *name = names[i];
    size_t nl = strlen(name);
    if (utf8_bad((const unsigned char *)name, 0, nl) != nl || !strcmp(name, "__metadata__"))
      diag_error(loc_file(path), "cannot write tensor name \"%s\" to safetensors", name);
    for (int k = 0; k < i; k++)
      if (!strcmp(names[k], name))
        diag_error(loc_file(path), "tensor \"%s\" written twice to safetensors", name);
    int64_t numel = 1;
    bool bad = shapes[i].rank < 0 || shapes[i].rank > MAX_RANK;
    for (int d = 0; !bad && d < shapes[i].rank; d++)
      bad = shapes[i].d[d] < 0 || ckd_mul(&numel, numel, shapes[i].d[d]);
    if (bad || ckd_mul(&nbytes[i], numel, 4))
      diag_error(loc_file(path), "tensor \"%s\": invalid shape %s", name, shape_str(&shapes[i]));
  }
  if (diag_count() != errors0)
    return false;

  StrBuf h = {0};
  sb_putc(&h, '{');
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    int64_t end;
    if (ckd_add(&end, off, nbytes[i])) {
      diag_error(loc_file(path), "safetensors data size overflows");
      return false;
    }
    if (i)
      sb_putc(&h, ',');
    sb_json_str(&h, names[i]);
    sb_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int d = 0; d < shapes[i].rank; d++)
      sb_puts(&h, cnnc_fmt("%s%" PRId64, d ? "," : "", shapes[i].d[d]));
    sb_puts(&h, cnnc_fmt("],\"data_offsets\":[%" PRId64 ",%" PRId64 "]}", off, end));
    off = end;
    if ((uint64_t)h.len > ST_MAX_HEADER)
      break; /* reported below; keeps the int length far from overflow */
  }
  sb_putc(&h, '}');
  /* Pad with spaces (valid JSON whitespace) so the data is 8-byte aligned,
   * as the reference writer does. */
  while (h.len % 8)
    sb_putc(&h, ' ');
  if ((uint64_t)h.len > ST_MAX_HEADER) {
    diag_error(loc_file(path), "safetensors header would exceed %llu bytes", ST_MAX_HEADER);
    return false;
  }

  AtomicFile af;
  if (!atomic_open(&af, path))
    return false;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++)
    len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
  fwrite(len8, 1, 8, af.f);
  fwrite(h.s, 1, (size_t)h.len, af.f);
  unsigned char chunk[4096];
  size_t fill = 0;
  for (int i = 0; i < n; i++) {
    int64_t numel = nbytes[i] / 4;
    for (int64_t j = 0; j < numel; j++) {
      uint32_t u;
      memcpy(&u, &data[i][j], 4);
      for (int b = 0; b < 4; b++)
        chunk[fill++] = (unsigned char)(u >> (8 * b));
      if (fill == sizeof(chunk)) {
        fwrite(chunk, 1, fill, af.f);
        fill = 0;
      }
    }
  }
  fwrite(chunk, 1, fill, af.f);
  if (ferror(af.f)) {
    diag_error(loc_file(path), "cannot write safetensors file: write error");
    atomic_abort(&af);
    return false;
  }
  return atomic_commit(&af);
}
