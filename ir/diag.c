/* diag.c - user diagnostics and internal-error reporting.
 *
 * User errors print at once as `file:line:col: error: message`, followed by the
 * source line and a caret when the file's text was registered with
 * diag_add_source().  They are counted, not fatal: the driver stops at the end
 * of a phase, so one run lists every problem.  Internal bugs go to die(),
 * which names the compiler source location and exits with status 3.
 */
#include "ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct Source {
  const char *file, *text;
  size_t len;
} Source;

static Source *sources;
static int nsources, capsources;
static int nerrors;

void diag_add_source(const char *file, const char *text, size_t len) {
  Source s = {file, text, len};
  VEC_PUSH(sources, nsources, capsources, s);
}

SrcLoc loc_file(const char *file) { return (SrcLoc){file, 1, 1}; }
SrcLoc loc_at(const char *file, int line, int col) { return (SrcLoc){file, line, col}; }

/* Print the source line of loc with a caret under the column. */
static void show_line(SrcLoc loc) {
  if (!loc.file || loc.line <= 0)
    return;
  for (int i = nsources - 1; i >= 0; i--) {
    if (strcmp(sources[i].file, loc.file) != 0)
      continue;
    const char *p = sources[i].text, *end = p + sources[i].len;
    for (int line = 1; line < loc.line && p < end; p++)
      if (*p == '\n')
        line++;
    if (p >= end)
      return;
    const char *e = p;
    while (e < end && *e != '\n' && *e != '\r')
      e++;
    if (e - p > 200)
      return; /* a minified line helps nobody */
    /* Control bytes from a hostile file must not reach the terminal. */
    fputs("  ", stderr);
    for (const char *q = p; q < e; q++)
      fputc(((unsigned char)*q < 32 && *q != '\t') || *q == 127 ? '?' : *q, stderr);
    fputs("\n  ", stderr);
    for (int c = 1; c < loc.col && p + c - 1 < e; c++)
      fputc(p[c - 1] == '\t' ? '\t' : ' ', stderr);
    fputs("^\n", stderr);
    return;
  }
}

void diag_verror(SrcLoc loc, const char *kind, const char *fmt, va_list ap) {
  if (loc.file && loc.line > 0)
    fprintf(stderr, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col > 0 ? loc.col : 1, kind);
  else if (loc.file)
    fprintf(stderr, "%s: %s: ", loc.file, kind);
  else
    fprintf(stderr, "cnnc: %s: ", kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  show_line(loc);
}

void diag_error(SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(loc, "error", fmt, ap);
  va_end(ap);
  nerrors++;
}

void diag_warning(SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(loc, "warning", fmt, ap);
  va_end(ap);
}

void diag_note(SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(loc, "note", fmt, ap);
  va_end(ap);
}

int diag_count(void) { return nerrors; }
void diag_reset(void) { nerrors = 0; }

_Noreturn void die_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "cnnc: internal error at %s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(3);
}
