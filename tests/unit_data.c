/* unit_data.c - tests of the data-file layer (npy.c, safetensors.c, weights.c).
 *
 * Round trips for .npy and safetensors, one bad file per BAD-INPUTS.md class
 * E1-E12 plus the .npy header failures, each of which must be refused with at
 * least one diagnostic and without crashing, and weights_init determinism and
 * bounds.  Bad files are built byte by byte in a private temp directory that
 * is removed at the end.  Diagnostics of the refused files go to stderr, which
 * is expected noise; the verdict is the last line and the exit status.
 */
#define _POSIX_C_SOURCE 200809L
#include "../ir/ir.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures, checks;

/* The compiler never frees (its memory is one arena released at exit), so a
 * sanitizer build must not count that as leaks. */
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
static const char *created[256];
static int ncreated;

static const char *tmp_path(const char *name) {
  const char *p = cnnc_fmt("%s/%s", tmpdir, name);
  if (ncreated < 256)
    created[ncreated++] = p;
  return p;
}

static void write_bytes(const char *path, const void *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
    fprintf(stderr, "cannot write test file %s\n", path);
    exit(1);
  }
}

/* ------------------------------------------------------------ builders */

/* A .npy file: preamble of `major`.0, header text as given (its length is
 * written unless hlen_override >= 0), then `data`. */
static const char *make_npy(const char *name, int major, const char *dict, long hlen_override,
                            const void *data, size_t dlen) {
  size_t hl = strlen(dict);
  size_t pre = major == 1 ? 10 : 12;
  unsigned char *b = calloc(1, pre + hl + dlen + 1);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  unsigned long len = hlen_override >= 0 ? (unsigned long)hlen_override : hl;
  for (size_t i = 0; i < pre - 8; i++)
    b[8 + i] = (unsigned char)(len >> (8 * i));
  memcpy(b + pre, dict, hl);
  if (dlen)
    memcpy(b + pre + hl, data, dlen);
  const char *path = tmp_path(name);
  write_bytes(path, b, pre + hl + dlen);
  free(b);
  return path;
}

/* A safetensors file with an explicit 8-byte length field. */
static const char *make_st_raw(const char *name, uint64_t hlen, const char *json, size_t jlen,
                               const void *data, size_t dlen) {
  unsigned char *b = calloc(1, 8 + jlen + dlen + 1);
  for (int i = 0; i < 8; i++)
    b[i] = (unsigned char)(hlen >> (8 * i));
  memcpy(b + 8, json, jlen);
  if (dlen)
    memcpy(b + 8 + jlen, data, dlen);
  const char *path = tmp_path(name);
  write_bytes(path, b, 8 + jlen + dlen);
  free(b);
  return path;
}

static const char *make_st(const char *name, const char *json, const void *data, size_t dlen) {
  return make_st_raw(name, strlen(json), json, strlen(json), data, dlen);
}

static void expect_npy_fail(const char *label, const char *path) {
  diag_reset();
  NpyArray a;
  bool ok = npy_read(path, &a);
  fprintf(stderr, "  [npy %s] -> %d diagnostic(s)\n", label, diag_count());
  CHECK(!ok);
  CHECK(diag_count() > 0);
}

static void expect_st_fail(const char *label, const char *path) {
  diag_reset();
  StFile f;
  bool ok = st_read(path, &f, false);
  fprintf(stderr, "  [st %s] -> %d diagnostic(s)\n", label, diag_count());
  CHECK(!ok);
  CHECK(diag_count() > 0);
}

static int expect_st_ok(const char *label, const char *path, bool allow, StFile *f) {
  diag_reset();
  bool ok = st_read(path, f, allow);
  if (!ok || diag_count())
    fprintf(stderr, "  [st %s] unexpectedly refused\n", label);
  CHECK(ok);
  CHECK(diag_count() == 0);
  return ok;
}

/* ------------------------------------------------------------ npy */

static void test_npy_roundtrip(void) {
  float v[24];
  for (int i = 0; i < 24; i++)
    v[i] = (float)i * 0.37f - 3.1f;
  v[5] = -0.0f;
  v[7] = 1e-42f; /* subnormal survives bit-exactly */
  const Shape shapes[3] = {shape_of(3, 2LL, 3LL, 4LL), shape_of(1, 5LL), shape_of(0)};
  const char *names[3] = {"rt3.npy", "rt1.npy", "rt0.npy"};
  for (int k = 0; k < 3; k++) {
    diag_reset();
    const char *path = tmp_path(names[k]);
    CHECK(npy_write_f32(path, &shapes[k], v));
    NpyArray a;
    CHECK(npy_read(path, &a));
    CHECK(diag_count() == 0);
    CHECK(a.dtype == DT_F32);
    CHECK(shape_eq(&a.shape, &shapes[k]));
    CHECK(a.numel == shape_numel(&shapes[k]));
    for (int64_t i = 0; i < a.numel; i++)
      CHECK(memcmp(&(float){(float)a.data[i]}, &v[i], 4) == 0);
    /* NumPy's layout: the data starts at a multiple of 64. */
    size_t len;
    char *b = read_file(path, 1 << 20, &len);
    CHECK(b && len == 10 + (size_t)((unsigned char)b[8] | (unsigned char)b[9] << 8) + 4 * (size_t)a.numel);
    CHECK(b && (len - 4 * (size_t)a.numel) % 64 == 0);
    CHECK(b && b[len - 4 * a.numel - 1] == '\n');
  }
  /* The exact header NumPy writes for shape (2, 3, 4). */
  size_t len;
  char *b = read_file(tmp_path("rt3.npy"), 1 << 20, &len);
  const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }";
  CHECK(b && !memcmp(b + 10, want, strlen(want)));
}

static void test_npy_dtypes(void) {
  /* <f8, <i4, <i8 in versions 1.0, 2.0 and 3.0, double-quoted keys and odd spacing. */
  double d[3] = {1.5, -2.25, 1e300};
  int32_t i4[4] = {1, -2, 2147483647, -2147483647 - 1};
  int64_t i8[2] = {9007199254740992LL, -5};
  NpyArray a;

  diag_reset();
  CHECK(npy_read(make_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }      \n", -1, d, sizeof d), &a));
  CHECK(a.dtype == DT_F64 && a.numel == 3 && a.data[2] == 1e300 && a.data[1] == -2.25);

  diag_reset();
  CHECK(npy_read(make_npy("i4.npy", 2, "{\"descr\":\"<i4\",\"shape\":(2,2),\"fortran_order\":False}\n", -1, i4, sizeof i4), &a));
  CHECK(a.dtype == DT_I32 && a.shape.rank == 2 && a.data[2] == 2147483647.0 && a.data[3] == -2147483648.0);

  diag_reset();
  CHECK(npy_read(make_npy("i8.npy", 3, "{ 'descr' : '<i8' , 'fortran_order' : False , 'shape' : ( 2 , ) }", -1, i8, sizeof i8), &a));
  CHECK(a.dtype == DT_I64 && a.data[0] == 9007199254740992.0 && a.data[1] == -5.0);

  diag_reset();
  CHECK(npy_read(make_npy("empty.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }\n", -1, NULL, 0), &a));
  CHECK(a.numel == 0 && a.shape.rank == 2);
  CHECK(diag_count() == 0);
}

static void test_npy_bad(void) {
  float v[6] = {0}, v7[7] = {0};
  const char *ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  write_bytes(tmp_path("trunc5.npy"), "\x93NUM", 5);
  expect_npy_fail("truncated preamble", tmp_path("trunc5.npy"));
  write_bytes(tmp_path("empty_file.npy"), "", 0);
  expect_npy_fail("empty file", tmp_path("empty_file.npy"));
  {
    /* a valid file, then its magic corrupted */
    const char *p = make_npy("magic.npy", 1, ok_dict, -1, v, sizeof v);
    size_t len;
    char *b = read_file(p, 1 << 20, &len);
    b[1] = 'X';
    write_bytes(p, b, len);
    expect_npy_fail("bad magic", p);
  }
  expect_npy_fail("version 4.0", make_npy("v4.npy", 4, ok_dict, -1, v, sizeof v));
  expect_npy_fail("truncated data", make_npy("tdata.npy", 1, ok_dict, -1, v, sizeof v - 2));
  expect_npy_fail("trailing data", make_npy("xdata.npy", 1, ok_dict, -1, v7, sizeof v7));
  expect_npy_fail("header past EOF", make_npy("hpast.npy", 1, ok_dict, 5000, NULL, 0));
  expect_npy_fail("huge header (v2 length 0xfffffff0)", make_npy("hhuge.npy", 2, ok_dict, 0xfffffff0L, v, sizeof v));
  expect_npy_fail("fortran order", make_npy("fort.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", -1, v, sizeof v));
  expect_npy_fail("bad dtype <f2", make_npy("f2.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }\n", -1, v, 12));
  expect_npy_fail("big-endian >f4", make_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n", -1, v, sizeof v));
  expect_npy_fail("structured dtype", make_npy("struct.npy", 1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", -1, v, 8));
  expect_npy_fail("shape overflow", make_npy("ovf.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4), }\n", -1, v, sizeof v));
  expect_npy_fail("byte size overflow", make_npy("ovf2.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }\n", -1, v, sizeof v));
  expect_npy_fail("dim beyond int64", make_npy("ovf3.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", -1, v, sizeof v));
  expect_npy_fail("negative dim", make_npy("neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }\n", -1, v, sizeof v));
  expect_npy_fail("rank 7", make_npy("r7.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1), }\n", -1, v, 4));
  expect_npy_fail("(3) is not a tuple", make_npy("notuple.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6), }\n", -1, v, sizeof v));
  expect_npy_fail("missing shape", make_npy("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False, }\n", -1, v, sizeof v));
  expect_npy_fail("duplicate key", make_npy("dupkey.npy", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", -1, v, sizeof v));
  expect_npy_fail("unknown key", make_npy("unkkey.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}\n", -1, v, sizeof v));
  expect_npy_fail("code in header", make_npy("code.npy", 1, "{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': (2, 3), }\n", -1, v, sizeof v));
  expect_npy_fail("garbage after dict", make_npy("garb.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n", -1, v, sizeof v));
  expect_npy_fail("unterminated dict", make_npy("unterm.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3\n", -1, v, sizeof v));
  {
    const char *p = make_npy("nul.npy", 1, ok_dict, -1, v, sizeof v);
    size_t len;
    char *b = read_file(p, 1 << 20, &len);
    b[20] = '\0';
    write_bytes(p, b, len);
    expect_npy_fail("NUL in header", p);
  }
  expect_npy_fail("directory", tmpdir);
  expect_npy_fail("nonexistent", tmp_path("does-not-exist.npy"));
}

/* ------------------------------------------------------------ safetensors */

static void test_st_roundtrip(void) {
  float a[6] = {1, 2, 3, 4, 5, -0.0f}, b[1] = {42}, c[1] = {0};
  const char *names[4] = {"z.weight", "a.bias", "empty", "with \"quote\"\\"};
  Shape shapes[4] = {shape_of(2, 2LL, 3LL), shape_of(0), shape_of(2, 0LL, 5LL), shape_of(1, 1LL)};
  const float *data[4] = {a, b, c, b};
  const char *path = tmp_path("rt.safetensors");
  diag_reset();
  CHECK(st_write(path, 4, names, shapes, data));
  CHECK(diag_count() == 0);

  size_t len;
  unsigned char *buf = (unsigned char *)read_file(path, 1 << 20, &len);
  CHECK(buf != NULL);
  if (!buf)
    return;
  uint64_t hlen = 0;
  for (int i = 0; i < 8; i++)
    hlen |= (uint64_t)buf[i] << (8 * i);
  CHECK(hlen % 8 == 0);
  CHECK(8 + hlen + 4 * 8 == len); /* 6 + 1 + 0 + 1 floats */
  CHECK(buf[8] == '{');
  /* Tensors appear in the given order. */
  const char *h = (const char *)buf + 8;
  const char *pz = strstr(h, "\"z.weight\""), *pa = strstr(h, "\"a.bias\""), *pe = strstr(h, "\"empty\"");
  CHECK(pz && pa && pe && pz < pa && pa < pe);

  StFile f;
  if (!expect_st_ok("roundtrip", path, false, &f))
    return;
  CHECK(f.n == 4);
  for (int k = 0; k < 4; k++) {
    StTensor *t = st_find(&f, names[k]);
    CHECK(t != NULL);
    if (!t)
      continue;
    CHECK(shape_eq(&t->shape, &shapes[k]));
    CHECK(!strcmp(t->dtype_name, "F32"));
    CHECK(t->numel == shape_numel(&shapes[k]));
    for (int64_t i = 0; i < t->numel; i++)
      CHECK(memcmp(&t->data[i], &data[k][i], 4) == 0);
  }
  CHECK(st_find(&f, "nope") == NULL);
  CHECK(!strcmp(f.t[0].name, "z.weight")); /* file order kept in t[] */

  /* Writer refuses duplicate names. */
  const char *dup[2] = {"x", "x"};
  Shape s1[2] = {shape_of(1, 1LL), shape_of(1, 1LL)};
  const float *d1[2] = {b, b};
  diag_reset();
  CHECK(!st_write(tmp_path("dup_w.safetensors"), 2, dup, s1, d1));
  CHECK(diag_count() > 0);
}

static uint16_t f2h_bits(int sign, int exp, int mant) { return (uint16_t)(sign << 15 | exp << 10 | mant); }

static void test_st_dtypes(void) {
  /* F16: 1.0, -2.0, 65504 (max), smallest subnormal; BF16: 1.0, -3.0; F64: 0.1 */
  uint16_t h[4] = {f2h_bits(0, 15, 0), f2h_bits(1, 16, 0), f2h_bits(0, 30, 0x3ff), f2h_bits(0, 0, 1)};
  uint16_t bf[2] = {0x3f80, 0xc040};
  double d[1] = {0.1};
  unsigned char data[8 + 4 + 8];
  memcpy(data, h, 8);
  memcpy(data + 8, bf, 4);
  memcpy(data + 12, d, 8);
  const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[12,20]},"
                      "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[20,28]}}";
  unsigned char data2[28] = {0};
  memcpy(data2, data, 20);
  data2[20] = 7;
  StFile f;
  if (!expect_st_ok("F16/BF16/F64", make_st("dtypes.safetensors", json, data2, 28), false, &f))
    return;
  StTensor *t = st_find(&f, "h");
  CHECK(t && t->data[0] == 1.0f && t->data[1] == -2.0f && t->data[2] == 65504.0f &&
        t->data[3] == ldexpf(1.0f, -24));
  t = st_find(&f, "b");
  CHECK(t && t->data[0] == 1.0f && t->data[1] == -3.0f);
  t = st_find(&f, "d");
  CHECK(t && t->data[0] == 0.1f && t->shape.rank == 0 && t->dtype == DT_F64);
  t = st_find(&f, "bn.num_batches_tracked");
  CHECK(t && t->data == NULL && !strcmp(t->dtype_name, "I64"));
}

/* One or more bad files per BAD-INPUTS.md E class. */
static void test_st_bad(void) {
  float v[4] = {1, 2, 3, 4};
  char big[256];

  /* E1 */
  write_bytes(tmp_path("e1_short.safetensors"), "\x10\0\0\0", 4);
  expect_st_fail("E1 file < 8 bytes", tmp_path("e1_short.safetensors"));
  expect_st_fail("E1 header length > file", make_st_raw("e1_past.safetensors", 4096, "{}", 2, NULL, 0));
  expect_st_fail("E1 header length > 100MB", make_st_raw("e1_huge.safetensors", 100000001, "{}", 2, NULL, 0));
  expect_st_fail("E1 header length 2^64-1", make_st_raw("e1_max.safetensors", UINT64_MAX, "{}", 2, NULL, 0));

  /* E2 */
  expect_st_fail("E2 not UTF-8", make_st("e2_utf8.safetensors", "{\"a\xff\":{}}", NULL, 0));
  expect_st_fail("E2 overlong UTF-8", make_st("e2_overlong.safetensors", "{\"a\xc0\xaf\":{}}", NULL, 0));
  expect_st_fail("E2 not JSON", make_st("e2_json.safetensors", "{\"a\": }", NULL, 0));
  expect_st_fail("E2 not an object", make_st("e2_arr.safetensors", "[1, 2]", NULL, 0));
  expect_st_fail("E2 leading space", make_st("e2_space.safetensors", " {}", NULL, 0));
  expect_st_fail("E2 trailing text", make_st("e2_trail.safetensors", "{} x", NULL, 0));
  expect_st_fail("E2 empty header", make_st_raw("e2_empty.safetensors", 0, "", 0, NULL, 0));
  expect_st_fail("E2 trailing comma", make_st("e2_comma.safetensors", "{\"__metadata__\":{},}", NULL, 0));
  expect_st_fail("E2 lone surrogate", make_st("e2_surr.safetensors", "{\"\\ud800\":{}}", NULL, 0));
  expect_st_fail("E2 raw control char", make_st("e2_ctl.safetensors", "{\"a\tb\":{}}", NULL, 0));
  expect_st_fail("E2 leading zero", make_st("e2_zero.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", v, 4));
  {
    /* Deep nesting must be cut off, not recurse 100000 levels. */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 16);
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"a\":");
    for (size_t i = 0; i < depth; i++)
      deep[n++] = '[';
    for (size_t i = 0; i < depth; i++)
      deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    expect_st_fail("E2 deep nesting", make_st("e2_deep.safetensors", deep, NULL, 0));
    free(deep);
  }

  /* E3 */
  expect_st_fail("E3 duplicate tensor",
                 make_st("e3.safetensors",
                         "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                         v, 16));
  expect_st_fail("E3 duplicate field",
                 make_st("e3b.safetensors",
                         "{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 4));

  /* E4 */
  expect_st_fail("E4 unknown dtype", make_st("e4.safetensors", "{\"w\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 4));
  expect_st_fail("E4 unsupported I32", make_st("e4b.safetensors", "{\"w\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 4));
  expect_st_fail("E4 dtype not a string", make_st("e4c.safetensors", "{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", v, 4));

  /* E5 */
  const char *e5[] = {"[0]", "[0,4,8]", "[-4,0]", "[0.0,4]", "[0,4e0]", "[8,4]", "[\"0\",\"4\"]", "{}",
                      "[0,99999999999999999999]"};
  for (size_t i = 0; i < sizeof(e5) / sizeof(e5[0]); i++) {
    snprintf(big, sizeof big, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":%s}}", e5[i]);
    const char *label = cnnc_fmt("E5 data_offsets %s", e5[i]);
    expect_st_fail(label, make_st(cnnc_fmt("e5_%zu.safetensors", i), big, v, 4));
  }

  /* E6 */
  expect_st_fail("E6 size mismatch", make_st("e6.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}", v, 12));
  expect_st_fail("E6 product overflow",
                 make_st("e6b.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,0]}}", NULL, 0));
  expect_st_fail("E6 bytes overflow",
                 make_st("e6c.safetensors", "{\"w\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}", NULL, 0));
  expect_st_fail("E6 negative dim", make_st("e6d.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", v, 4));
  expect_st_fail("E6 rank 7", make_st("e6e.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", v, 4));

  /* E7 */
  expect_st_fail("E7 overlap",
                 make_st("e7a.safetensors",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                         v, 12));
  expect_st_fail("E7 same range twice",
                 make_st("e7b.safetensors",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                         v, 8));
  expect_st_fail("E7 zero-size inside another",
                 make_st("e7c.safetensors",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                         v, 8));
  expect_st_fail("E7 hole",
                 make_st("e7d.safetensors",
                         "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                         v, 12));
  expect_st_fail("E7 hole at start", make_st("e7e.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", v, 8));
  expect_st_fail("E7 trailing bytes", make_st("e7f.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", v, 8));
  {
    /* Zero-size tensors at a boundary occupy nothing: accepted. */
    StFile f;
    expect_st_ok("E7 zero-size at boundaries",
                 make_st("e7ok.safetensors",
                         "{\"z0\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                         "\"z1\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                         "\"z2\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                         v, 4),
                 false, &f);
  }

  /* E8 */
  expect_st_fail("E8 truncated data",
                 make_st("e8.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", v, 10));
  expect_st_fail("E8 offsets far past EOF",
                 make_st("e8b.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9223372036854775800,9223372036854775804]}}", v, 4));

  /* E10 */
  {
    float nanv[2] = {1.0f, NAN}, infv[1] = {-INFINITY};
    const char *j1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *p1 = make_st("e10a.safetensors", j1, nanv, 8);
    expect_st_fail("E10 NaN", p1);
    StFile f;
    if (expect_st_ok("E10 NaN with allow_nonfinite", p1, true, &f))
      CHECK(isnan(f.t[0].data[1]));
    expect_st_fail("E10 -Inf", make_st("e10b.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", infv, 4));
    uint16_t hinf = 0x7c00;
    expect_st_fail("E10 F16 Inf", make_st("e10c.safetensors", "{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", &hinf, 2));
    double dbig = 1e300;
    expect_st_fail("E10 F64 beyond float32", make_st("e10d.safetensors", "{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", &dbig, 8));
  }

  /* E11 */
  expect_st_fail("E11 metadata value not a string", make_st("e11a.safetensors", "{\"__metadata__\":{\"a\":1}}", NULL, 0));
  expect_st_fail("E11 metadata not an object", make_st("e11b.safetensors", "{\"__metadata__\":[\"a\"]}", NULL, 0));
  expect_st_fail("E11 metadata nested object", make_st("e11c.safetensors", "{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", NULL, 0));
  {
    StFile f;
    expect_st_ok("E11 valid metadata, no tensors", make_st("e11ok.safetensors", "{\"__metadata__\":{\"format\":\"pt\",\"x\":\"\\u00e9\"}}", NULL, 0), false, &f);
    CHECK(f.n == 0);
  }

  /* E12 */
  {
    const char *j = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    size_t jl = strlen(j);
    uint64_t be = 0;
    for (int i = 0; i < 8; i++)
      be |= (uint64_t)((jl >> (8 * (7 - i))) & 0xff) << (8 * i); /* byte-swapped length */
    expect_st_fail("E12 big-endian header length", make_st_raw("e12a.safetensors", be, j, jl, v, 4));
    expect_st_fail("E12 strides key",
                   make_st("e12b.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"strides\":[1,2],\"data_offsets\":[0,16]}}", v, 16));
  }

  /* E9 and all-problems-in-one-run are in test_weights_load. */
  {
    /* Several independent entry errors are all reported. */
    diag_reset();
    StFile f;
    const char *p = make_st("multi.safetensors",
                            "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]},"
                            "\"b\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[4,8]},"
                            "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8]}}",
                            v, 12);
    CHECK(!st_read(p, &f, false));
    fprintf(stderr, "  [st several errors] -> %d diagnostic(s)\n", diag_count());
    CHECK(diag_count() >= 3);
  }
}

/* ------------------------------------------------------------ weights */

/* conv2d c1 (4, 2, 3, 3) + bias, batchnorm2d bn (4), linear fc (5, 36) + bias,
 * prelu p (1), conv_transpose2d ct (4, 3/1, 2, 2) + bias. */
static Graph *build_graph(void) {
  Graph *g = ir_new_graph("net");
  g->file = "net.yaml";
  Tensor *x = ir_new_tensor(g, "x", TK_INPUT, shape_of(4, 1LL, 2LL, 8LL, 8LL));
  SrcLoc loc = loc_at("net.yaml", 3, 5);
  Node *c1 = ir_new_node(g, OP_CONV2D, "c1", loc, &x, 1);
  c1->weight = ir_new_param(g, "c1.weight", TK_PARAM, shape_of(4, 4LL, 2LL, 3LL, 3LL), loc);
  c1->bias = ir_new_param(g, "c1.bias", TK_PARAM, shape_of(1, 4LL), loc);
  Node *bn = ir_new_node(g, OP_BATCHNORM2D, "bn", loc, &c1->out, 1);
  bn->weight = ir_new_param(g, "bn.weight", TK_PARAM, shape_of(1, 4LL), loc);
  bn->bias = ir_new_param(g, "bn.bias", TK_PARAM, shape_of(1, 4LL), loc);
  bn->mean = ir_new_param(g, "bn.running_mean", TK_BUFFER, shape_of(1, 4LL), loc);
  bn->var = ir_new_param(g, "bn.running_var", TK_BUFFER, shape_of(1, 4LL), loc);
  Node *pr = ir_new_node(g, OP_PRELU, "p", loc, &bn->out, 1);
  pr->weight = ir_new_param(g, "p.weight", TK_PARAM, shape_of(1, 1LL), loc);
  Node *ct = ir_new_node(g, OP_CONV_TRANSPOSE2D, "ct", loc, &pr->out, 1);
  ct->weight = ir_new_param(g, "ct.weight", TK_PARAM, shape_of(4, 4LL, 3LL, 2LL, 2LL), loc);
  ct->bias = ir_new_param(g, "ct.bias", TK_PARAM, shape_of(1, 3LL), loc);
  Node *fc = ir_new_node(g, OP_LINEAR, "fc", loc, &ct->out, 1);
  fc->weight = ir_new_param(g, "fc.weight", TK_PARAM, shape_of(2, 5LL, 36LL), loc);
  fc->bias = ir_new_param(g, "fc.bias", TK_PARAM, shape_of(1, 5LL), loc);
  return g;
}

static Tensor *find(Graph *g, const char *name) {
  for (int i = 0; i < g->ntensors; i++)
    if (!strcmp(g->tensors[i]->name, name))
      return g->tensors[i];
  fprintf(stderr, "test graph has no tensor %s\n", name);
  exit(1);
}

static float max_abs(const Tensor *t) {
  float m = 0;
  for (int64_t i = 0; i < shape_numel(&t->shape); i++)
    m = fmaxf(m, fabsf(t->data[i]));
  return m;
}

static void test_weights_init(void) {
  diag_reset();
  Graph *g1 = build_graph(), *g2 = build_graph(), *g3 = build_graph();
  weights_init(g1, 1, NULL);
  weights_init(g2, 1, "default");
  weights_init(g3, 2, NULL);
  CHECK(diag_count() == 0);
  bool differs = false;
  for (int i = 0; i < g1->ntensors; i++) {
    Tensor *a = g1->tensors[i], *b = g2->tensors[i], *c = g3->tensors[i];
    if (a->kind != TK_PARAM && a->kind != TK_BUFFER)
      continue;
    CHECK(a->data && b->data && c->data);
    size_t bytes = (size_t)shape_numel(&a->shape) * sizeof(float);
    CHECK(!memcmp(a->data, b->data, bytes)); /* same seed: identical */
    differs |= memcmp(a->data, c->data, bytes) != 0;
  }
  CHECK(differs); /* another seed: different */

  /* Bounds: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases;
   * fan_in = size(1) * kernel area, so for ct it is Cout/g * kH * kW = 12. */
  const struct {
    const char *name;
    double fan_in;
  } dense[] = {{"c1.weight", 18}, {"c1.bias", 18}, {"ct.weight", 12},
               {"ct.bias", 12},   {"fc.weight", 36}, {"fc.bias", 36}};
  for (size_t k = 0; k < sizeof(dense) / sizeof(dense[0]); k++) {
    Tensor *t = find(g1, dense[k].name);
    float bound = (float)(1.0 / sqrt(dense[k].fan_in));
    CHECK(t && max_abs(t) <= bound);
    if (strstr(dense[k].name, "weight")) /* >= 48 values: spread over the range */
      CHECK(t && max_abs(t) > 0.5f * bound);
  }
  for (int i = 0; i < 4; i++) {
    CHECK(find(g1, "bn.weight")->data[i] == 1.0f);
    CHECK(find(g1, "bn.bias")->data[i] == 0.0f);
    CHECK(find(g1, "bn.running_mean")->data[i] == 0.0f);
    CHECK(find(g1, "bn.running_var")->data[i] == 1.0f);
  }
  CHECK(find(g1, "p.weight")->data[0] == 0.25f);

  /* Explicit schemes: PyTorch formulas, zero biases. */
  Graph *gk = build_graph(), *gx = build_graph(), *gn = build_graph(), *gxn = build_graph();
  weights_init(gk, 7, "kaiming_uniform");
  weights_init(gx, 7, "xavier_uniform");
  weights_init(gn, 7, "kaiming_normal");
  weights_init(gxn, 7, "xavier_normal");
  CHECK(diag_count() == 0);
  CHECK(max_abs(find(gk, "fc.weight")) <= (float)sqrt(6.0 / 36));
  CHECK(max_abs(find(gk, "fc.bias")) == 0.0f);
  CHECK(max_abs(find(gx, "fc.weight")) <= (float)sqrt(6.0 / (36 + 5)));
  CHECK(max_abs(find(gx, "c1.weight")) <= (float)sqrt(6.0 / (18 + 36)));
  CHECK(max_abs(find(gx, "c1.bias")) == 0.0f);
  CHECK(find(gk, "bn.running_var")->data[0] == 1.0f);
  {
    /* Sample std of a larger kaiming_normal weight is close to sqrt(2/fan_in). */
    Graph *g = ir_new_graph("big");
    Tensor *x = ir_new_tensor(g, "x", TK_INPUT, shape_of(2, 1LL, 100LL));
    Node *n = ir_new_node(g, OP_LINEAR, "l", loc_file("big.yaml"), &x, 1);
    n->weight = ir_new_param(g, "l.weight", TK_PARAM, shape_of(2, 200LL, 100LL), loc_file("big.yaml"));
    weights_init(g, 3, "kaiming_normal");
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 20000; i++) {
      s1 += n->weight->data[i];
      s2 += (double)n->weight->data[i] * n->weight->data[i];
    }
    double mean = s1 / 20000, sd = sqrt(s2 / 20000 - mean * mean), want = sqrt(2.0 / 100);
    CHECK(fabs(mean) < 0.05 * want);
    CHECK(fabs(sd - want) < 0.03 * want);
  }
  /* Data already present (e.g. an ONNX initializer) is kept. */
  {
    Graph *g = build_graph();
    float keep[4] = {9, 9, 9, 9};
    find(g, "c1.bias")->data = keep;
    weights_init(g, 1, NULL);
    CHECK(find(g, "c1.bias")->data == keep && keep[0] == 9);
  }
  /* Unknown scheme is a user error. */
  diag_reset();
  weights_init(build_graph(), 1, "kaiming_unifrom");
  CHECK(diag_count() == 1);
}

/* Write the state of `g` to a safetensors file (optionally skipping or
 * renaming one tensor, or changing one shape). */
static const char *save_state(Graph *g, const char *file, const char *skip, const char *rename,
                              const char *reshape, bool add_extra) {
  const char *names[32];
  Shape shapes[32];
  const float *data[32];
  int n = 0;
  static float zeros[256];
  for (int i = 0; i < g->ntensors; i++) {
    Tensor *t = g->tensors[i];
    if (t->kind != TK_PARAM && t->kind != TK_BUFFER)
      continue;
    if (skip && !strcmp(t->name, skip))
      continue;
    names[n] = rename && !strcmp(t->name, rename) ? cnnc_fmt("%sx", t->name) : t->name;
    shapes[n] = t->shape;
    if (reshape && !strcmp(t->name, reshape)) {
      shapes[n].d[0] += 1;
      data[n++] = zeros;
      continue;
    }
    data[n++] = t->data;
  }
  if (add_extra) {
    names[n] = "extra.weight";
    shapes[n] = shape_of(1, 2LL);
    data[n++] = zeros;
  }
  const char *path = tmp_path(file);
  diag_reset();
  CHECK(st_write(path, n, names, shapes, data));
  return path;
}

static void test_weights_load(void) {
  Graph *src = build_graph();
  weights_init(src, 5, "xavier_normal");

  /* Happy path: values arrive bit-exactly; num_batches_tracked is ignored. */
  {
    const char *path = save_state(src, "w_ok.safetensors", NULL, NULL, NULL, false);
    Graph *g = build_graph();
    diag_reset();
    CHECK(weights_load(g, path, loc_at("net.yaml", 2, 10), false));
    CHECK(diag_count() == 0);
    for (int i = 0; i < g->ntensors; i++) {
      Tensor *t = g->tensors[i];
      if (t->kind != TK_PARAM && t->kind != TK_BUFFER)
        continue;
      CHECK(t->data && !memcmp(t->data, src->tensors[i]->data,
                               (size_t)shape_numel(&t->shape) * sizeof(float)));
    }
  }
  {
    /* PyTorch's num_batches_tracked (I64) next to the BN tensors. */
    float one[1] = {1};
    const char *json = "{\"p.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]}}";
    unsigned char data[12] = {0};
    memcpy(data, one, 4);
    Graph *g = ir_new_graph("tiny");
    Tensor *x = ir_new_tensor(g, "x", TK_INPUT, shape_of(2, 1LL, 3LL));
    Node *n = ir_new_node(g, OP_PRELU, "p", loc_file("tiny.yaml"), &x, 1);
    n->weight = ir_new_param(g, "p.weight", TK_PARAM, shape_of(1, 1LL), loc_file("tiny.yaml"));
    diag_reset();
    CHECK(weights_load(g, make_st("nbt.safetensors", json, data, 12), loc_file("tiny.yaml"), false));
    CHECK(diag_count() == 0 && n->weight->data && n->weight->data[0] == 1.0f);
  }
  /* E9: missing, extra, mis-shaped; all reported in one run. */
  {
    const char *path = save_state(src, "w_missing.safetensors", "bn.running_var", NULL, NULL, false);
    diag_reset();
    CHECK(!weights_load(build_graph(), path, loc_file("net.yaml"), false));
    fprintf(stderr, "  [weights missing] -> %d diagnostic(s)\n", diag_count());
    CHECK(diag_count() == 1);
  }
  {
    const char *path = save_state(src, "w_extra.safetensors", NULL, NULL, NULL, true);
    diag_reset();
    CHECK(!weights_load(build_graph(), path, loc_file("net.yaml"), false));
    fprintf(stderr, "  [weights extra] -> %d diagnostic(s)\n", diag_count());
    CHECK(diag_count() == 1);
  }
  {
    const char *path = save_state(src, "w_shape.safetensors", NULL, NULL, "c1.bias", false);
    diag_reset();
    CHECK(!weights_load(build_graph(), path, loc_file("net.yaml"), false));
    fprintf(stderr, "  [weights shape] -> %d diagnostic(s)\n", diag_count());
    CHECK(diag_count() == 1);
  }
  {
    /* renamed: one missing + one extra, both in the same run */
    const char *path = save_state(src, "w_renamed.safetensors", NULL, "fc.bias", NULL, false);
    diag_reset();
    CHECK(!weights_load(build_graph(), path, loc_file("net.yaml"), false));
    fprintf(stderr, "  [weights renamed] -> %d diagnostic(s)\n", diag_count());
    CHECK(diag_count() == 2);
  }
  {
    /* A structurally bad file fails before matching. */
    diag_reset();
    CHECK(!weights_load(build_graph(), tmp_path("e7a.safetensors"), loc_file("net.yaml"), false));
    CHECK(diag_count() > 0);
  }
}

int main(void) {
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/cnnc_unit_data_XXXXXX",
           base && *base && strlen(base) < 32 ? base : "/tmp");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  test_npy_roundtrip();
  test_npy_dtypes();
  test_npy_bad();
  test_st_roundtrip();
  test_st_dtypes();
  test_st_bad();
  test_weights_init();
  test_weights_load();

  for (int i = 0; i < ncreated; i++)
    unlink(created[i]);
  rmdir(tmpdir);
  fprintf(stderr, "unit_data: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
