/* emit.c - the one line emitter shared by the backends.
 *
 * Indentation is derived from braces so emit code never counts spaces:
 * a leading '}' dedents before printing, a trailing '{' indents after.
 */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

void emitf(Emitter *E, const char *fmt, ...) {
  char *line;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    die("bad emit format");
  line = cnnc_alloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(line, (size_t)n + 1, fmt, ap);
  va_end(ap);
  if (line[0] == '}')
    E->depth--;
  if (E->depth < 0)
    die("emitter depth below zero at '%s'", line);
  if (n > 0)
    for (int i = 0; i < E->depth; i++)
      fputs("  ", E->f);
  fputs(line, E->f);
  fputc('\n', E->f);
  if (n > 0 && line[n - 1] == '{')
    E->depth++;
  free(line);
}

void emit_raw(Emitter *E, const char *text) { fputs(text, E->f); }

static const Backend backends[] = {
    {"c", c_emit},
};

const Backend *backend_lookup(const char *name) {
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
    if (!strcmp(backends[i].name, name))
      return &backends[i];
  return NULL;
}
