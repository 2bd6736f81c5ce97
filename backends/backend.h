/* backend.h - the emitter API and the backends behind one interface.
 *
 * Backends sit behind a struct of function pointers (QBE's Target) and a name
 * table, so `--backend=c|llvm` and `--emit=` select one without if-chains.
 */
#ifndef CNNC_BACKEND_H
#define CNNC_BACKEND_H

#include "ir.h"

/* ------------------------------------------------------------ emit.c */

/* printf-style line emitter.  Each emitf() call writes one line, indented by
 * E->depth; a line ending in '{' indents the following lines, a line starting
 * with '}' dedents itself and what follows. */
typedef struct Emitter {
  FILE *f;
  int depth;
} Emitter;
void emitf(Emitter *E, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void emit_raw(Emitter *E, const char *text); /* verbatim, no indentation */

/* --------------------------------------------------------------- c.c */

/* Write PREFIX.c and PREFIX.h (atomically).  weights_out != NULL writes the
 * weights to a blob file instead of embedding them in the C file. */
bool c_emit(Graph *g, const Options *opt, const char *c_path, const char *h_path, const char *weights_out);
/* The embedded runtime sources (generated at build time by tools/embed.c). */
extern const char cnnc_rt_source[];

typedef struct Backend {
  const char *name;
  bool (*emit)(Graph *g, const Options *opt, const char *c_path, const char *h_path, const char *weights_out);
} Backend;
const Backend *backend_lookup(const char *name);

#endif
