/* util.c - memory, strings, files and paths for the compiler.
 *
 * The compiler's memory is one arena in spirit: cnnc_alloc() returns zeroed
 * memory that is never freed singly; the process exit releases it.  Running
 * out of memory is a clean user-facing error (exit 2), not an abort.
 * Output files are written atomically (temp file + rename) so a failed run
 * never leaves a half-written file behind.
 */
#define _GNU_SOURCE
#include "ir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Noreturn void out_of_memory(void) {
  fprintf(stderr, "cnnc: error: out of memory\n");
  exit(2);
}

void *cnnc_alloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p)
    out_of_memory();
  return p;
}

void *cnnc_realloc_array(void *p, size_t n, size_t elem) {
  size_t bytes;
  if (__builtin_mul_overflow(n, elem, &bytes))
    out_of_memory();
  void *q = realloc(p, bytes ? bytes : 1);
  if (!q)
    out_of_memory();
  return q;
}

char *cnnc_strndup(const char *s, size_t n) {
  char *p = cnnc_alloc(n + 1);
  memcpy(p, s, n);
  return p;
}

char *cnnc_strdup(const char *s) { return cnnc_strndup(s, strlen(s)); }

char *cnnc_fmt(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    die("bad format '%s'", fmt);
  char *buf = cnnc_alloc((size_t)n + 1);
  vsnprintf(buf, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return buf;
}

/* Read a whole regular file.  Directories, FIFOs and devices are refused
 * before reading so `cnnc /dev/zero` cannot hang or eat memory. */
char *read_file(const char *path, size_t cap, size_t *len) {
  SrcLoc loc = loc_file(path);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    diag_error(loc, "cannot open: %s", strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    diag_error(loc, "not a regular file");
    close(fd);
    return NULL;
  }
  if ((uint64_t)st.st_size > cap) {
    diag_error(loc, "file is too large (%lld bytes; the limit is %zu)", (long long)st.st_size, cap);
    close(fd);
    return NULL;
  }
  size_t n = (size_t)st.st_size;
  char *buf = malloc(n + 1);
  if (!buf)
    out_of_memory();
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += (size_t)r;
  }
  close(fd);
  if (got != n) {
    diag_error(loc, "short read (%zu of %zu bytes)", got, n);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

bool atomic_open(AtomicFile *af, const char *path) {
  memset(af, 0, sizeof *af);
  struct stat st;
  if (lstat(path, &st) == 0) {
    if (S_ISLNK(st.st_mode)) {
      diag_error(loc_file(path), "refusing to write through a symbolic link");
      return false;
    }
    if (!S_ISREG(st.st_mode)) {
      diag_error(loc_file(path), "output exists and is not a regular file");
      return false;
    }
  }
  af->path = cnnc_strdup(path);
  af->tmp = cnnc_fmt("%s.tmpXXXXXX", path);
  int fd = mkstemp(af->tmp);
  if (fd < 0) {
    diag_error(loc_file(path), "cannot create output: %s", strerror(errno));
    return false;
  }
  fchmod(fd, 0644);
  af->f = fdopen(fd, "wb");
  if (!af->f) {
    close(fd);
    unlink(af->tmp);
    diag_error(loc_file(path), "cannot open output: %s", strerror(errno));
    return false;
  }
  return true;
}

bool atomic_commit(AtomicFile *af) {
  bool ok = !ferror(af->f);
  if (fclose(af->f) != 0)
    ok = false;
  af->f = NULL;
  if (!ok) {
    unlink(af->tmp);
    diag_error(loc_file(af->path), "write failed: %s", strerror(errno));
    return false;
  }
  if (rename(af->tmp, af->path) != 0) {
    unlink(af->tmp);
    diag_error(loc_file(af->path), "cannot rename output into place: %s", strerror(errno));
    return false;
  }
  return true;
}

void atomic_abort(AtomicFile *af) {
  if (af->f)
    fclose(af->f);
  af->f = NULL;
  if (af->tmp)
    unlink(af->tmp);
}

bool is_c_identifier(const char *s) {
  if (!s || !*s || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return false;
  for (const char *p = s; *p; p++)
    if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
      return false;
  return true;
}

char *to_c_identifier(const char *s) {
  size_t n = strlen(s);
  char *out = cnnc_alloc(n + 2), *o = out;
  if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
    *o++ = '_';
  for (const char *p = s; *p; p++) {
    char c = *p;
    bool ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    *o++ = ok ? c : '_';
  }
  return out;
}

const char *path_dirname(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    return ".";
  if (slash == path)
    return "/";
  return cnnc_strndup(path, (size_t)(slash - path));
}

const char *path_join(const char *dir, const char *rel) {
  if (rel[0] == '/' || !dir || !*dir || !strcmp(dir, "."))
    return cnnc_strdup(rel);
  return cnnc_fmt("%s/%s", dir, rel);
}

int levenshtein(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64)
    return 1 << 20;
  int row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    int prev = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= lb; j++) {
      int cur = row[j];
      int sub = prev + (a[i - 1] != b[j - 1]);
      int del = row[j] + 1, ins = row[j - 1] + 1;
      row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
      prev = cur;
    }
  }
  return row[lb];
}

const char *did_you_mean(const char *s, const char *const *cands, int n) {
  const char *best = NULL;
  int bestd = 1 << 20;
  for (int i = 0; i < n; i++) {
    int d = levenshtein(s, cands[i]);
    if (d < bestd) {
      bestd = d;
      best = cands[i];
    }
  }
  int limit = (int)strlen(s) / 3;
  if (limit < 2)
    limit = 2;
  return bestd <= limit ? best : NULL;
}
