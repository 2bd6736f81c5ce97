/* yaml.c - the YAML frontend: a model description (SPEC section 1) -> IR.
 *
 * Two stages.
 *
 * 1. libyaml's event parser feeds a small document tree of our own (YNode).
 *    The tree is bounded while it is built: at most YAML_MAX_NODES nodes,
 *    YAML_MAX_DEPTH levels of nesting and YAML_MAX_SCALAR bytes per scalar.
 *    Anchors, aliases, tags, duplicate mapping keys, non-scalar keys and a
 *    second document are refused there, so no later code can meet a shared,
 *    cyclic or exponentially large node (libyaml 0.2.5 checks none of this).
 *
 * 2. The tree is walked into a Graph.  Every op has a key table (op_keys[],
 *    indexed by OpKind) listing the keys it accepts and which Node field each
 *    one sets; any other key is an error with a "did you mean".  Scalars are
 *    typed by our own YAML-1.2-core-like resolver: a quoted scalar is always a
 *    string, so `kernel_size: "3"` is an error rather than a silent coercion.
 *    `blocks:` are expanded by walking their layer list again with a parameter
 *    environment (for `$ch*2` expressions) and a dotted name prefix.
 *
 * Guarantees: every user error goes through diag_error() with the 1-based
 * line:col of the offending YAML node (inside a block: the line in the block
 * definition, then a note per enclosing use site).  The walk goes on after an
 * error: a failed layer is registered as "broken", and layers that read a
 * broken layer are skipped without a message, so one mistake yields one
 * error.  yaml_load() returns NULL iff errors were reported.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../ir/ir.h"

enum {
  YAML_MAX_FILE = 16 << 20,  /* bytes of YAML text */
  YAML_MAX_DEPTH = 64,       /* nested collections */
  YAML_MAX_NODES = 100000,   /* document tree nodes */
  YAML_MAX_SCALAR = 4096,    /* bytes per scalar */
  YAML_MAX_TREE_ERRORS = 20, /* structural errors before we stop reading */
  YAML_MAX_LAYERS = 100000,  /* graph nodes after block expansion */
  YAML_MAX_BLOCK_DEPTH = 16, /* blocks using blocks */
  YAML_MAX_EXPR_DEPTH = 32,  /* parentheses / unary signs in a $expression */
};

/* ------------------------------------------------------- document tree */

typedef enum { YN_SCALAR, YN_SEQ, YN_MAP } YKind;

typedef struct YNode YNode;
struct YNode {
  YKind kind;
  SrcLoc loc;    /* start of the node (its anchor/tag if it had one) */
  const char *s; /* scalar text, NUL-free */
  bool quoted;   /* scalar was quoted or a block scalar: always a string */
  YNode **kid;   /* SEQ: items; MAP: key0, value0, key1, value1, ... */
  int nkid, cap;
};

#define MAP_N(m) ((m)->nkid / 2)
#define MAP_KEY(m, i) ((m)->kid[2 * (i)])
#define MAP_VAL(m, i) ((m)->kid[2 * (i) + 1])

/* ------------------------------------------------------------- context */

/* A name visible to `from:`.  t == NULL marks a broken layer: references to
 * it are silently skipped because its own error was already reported. */
typedef struct Sym {
  const char *name;
  Tensor *t;
  SrcLoc loc;
  bool is_input;
} Sym;

/* Open-addressing string map (deterministic; no pointer hashing). */
typedef struct HMap {
  const char **key;
  void **val;
  size_t cap, n;
} HMap;

/* Names defined at one level: the top-level `layers:` or one block instance. */
typedef struct Scope {
  HMap map;           /* local name -> Sym* */
  const char **names; /* in definition order, for "did you mean" */
  int nnames, cap;
  const char *prefix; /* "" at top level, "layer1.0" inside an instance */
} Scope;

typedef struct Block {
  const char *name;
  SrcLoc loc;
  const char **pname; /* parameters, in definition order */
  int64_t *pdef;
  bool *preq; /* no default: the use must give it */
  int np;
  const char **input; /* block input names (default: one called `in`) */
  SrcLoc *input_loc;
  int ninput;
  YNode *output; /* scalar naming the output layer, or NULL = last layer */
  YNode *layers;
  bool expanding, used;
  bool bad; /* the definition had errors: uses are skipped silently */
} Block;

/* Integer parameters of the block instance being expanded. */
typedef struct Env {
  const char *block;
  const char **name;
  int64_t *val;
  int n;
} Env;

/* One level of block use, innermost first: gives the "used here" notes. */
typedef struct UseFrame {
  const char *block, *as;
  SrcLoc loc;
  struct UseFrame *up;
} UseFrame;

typedef struct Ctx {
  const char *path;
  const char *text;
  size_t len;
  const Options *opt;
  Graph *g;
  /* tree building */
  int tree_nodes, tree_errors;
  bool tree_stop;
  /* mark_loc's cursor: line cur_line starts at byte cur_off, and its
   * character column cur_col is at byte cur_coff. */
  size_t cur_line, cur_off, cur_col, cur_coff;
  SrcLoc first_anchor, first_alias; /* only the first of each is reported */
  int more_refs;                    /* anchors/aliases after the first ones */
  /* walking */
  HMap blocks;
  Block **blist;
  int nblocks, capblocks;
  HMap global; /* full (dotted) layer and input names -> Sym* */
  HMap seen;   /* messages already reported from inside block instances */
  const Env *env;
  UseFrame *use;
  int use_depth;
  int nlayers;
  bool stop; /* layer budget exhausted: expand nothing more */
  int cap_inputs, cap_outputs;
} Ctx;

/* -------------------------------------------------------------- helpers */

static char *vfmt(const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  if (n < 0)
    die("vsnprintf failed");
  char *s = cnnc_alloc((size_t)n + 1);
  vsnprintf(s, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return s;
}

/* Invisible code points that make two names look equal in a message. */
static bool invisible_cp(uint32_t cp) {
  return cp == 0xA0 || cp == 0xAD || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2064) || cp == 0xFEFF;
}

/* A user string made safe to print in a diagnostic: control bytes become
 * '?', invisible characters (a stray BOM, a zero-width space) are spelt
 * <U+FEFF>, and long strings are cut with "...". */
static const char *q(const char *s) {
  enum { MAXQ = 48 };
  size_t n = strlen(s), cap = MAXQ * 8 + 4, o = 0;
  char *r = cnnc_alloc(cap);
  size_t i = 0;
  while (i < n && o < MAXQ) {
    unsigned char ch = (unsigned char)s[i];
    int len = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + (size_t)len > n) {
      r[o++] = '?';
      i++;
      continue;
    }
    uint32_t cp = len == 1 ? ch : ch & (0x7F >> len);
    for (int k = 1; k < len; k++)
      cp = cp << 6 | ((unsigned char)s[i + k] & 0x3F);
    if (cp < 0x20 || cp == 0x7F)
      r[o++] = '?';
    else if (invisible_cp(cp))
      o += (size_t)snprintf(r + o, cap - o, "<U+%04X>", (unsigned)cp);
    else
      memcpy(r + o, s + i, (size_t)len), o += (size_t)len;
    i += (size_t)len;
  }
  if (i < n)
    memcpy(r + o, "...", 4);
  return r;
}

/* " (did you mean 'x'?)" or "".  did_you_mean() allows 2 edits even for
 * 3-letter words ('foo' -> 'op'); a suggestion must also keep at least half
 * of the longer word. */
static const char *dym(const char *s, const char *const *cands, int n) {
  const char *m = n > 0 ? did_you_mean(s, cands, n) : NULL;
  if (!m)
    return "";
  size_t ls = strlen(s), lm = strlen(m);
  if (2 * (size_t)levenshtein(s, m) > (ls > lm ? ls : lm))
    return "";
  return cnnc_fmt(" (did you mean '%s'?)", q(m));
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  return h;
}

static void *hmap_get(const HMap *m, const char *k) {
  if (m->cap == 0)
    return NULL;
  for (size_t i = hash_str(k) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    if (!m->key[i])
      return NULL;
    if (!strcmp(m->key[i], k))
      return m->val[i];
  }
}

static void hmap_put(HMap *m, const char *k, void *v) {
  if (2 * (m->n + 1) > m->cap) {
    /* Keep the load under 1/2; sizes are bounded by YAML_MAX_LAYERS. */
    HMap nm = {0};
    nm.cap = m->cap ? 2 * m->cap : 16;
    nm.key = cnnc_realloc_array(NULL, nm.cap, sizeof *nm.key);
    nm.val = cnnc_realloc_array(NULL, nm.cap, sizeof *nm.val);
    memset(nm.key, 0, nm.cap * sizeof *nm.key);
    for (size_t i = 0; i < m->cap; i++)
      if (m->key[i])
        hmap_put(&nm, m->key[i], m->val[i]);
    *m = nm;
  }
  size_t i = hash_str(k) & (m->cap - 1);
  while (m->key[i] && strcmp(m->key[i], k))
    i = (i + 1) & (m->cap - 1);
  if (!m->key[i])
    m->n++;
  m->key[i] = k;
  m->val[i] = v;
}

/* The use-site notes for an error raised while a block is being expanded. */
static void use_notes(Ctx *c) {
  for (UseFrame *f = c->use; f; f = f->up)
    diag_note(f->loc, "in block '%s' used here (as '%s')", q(f->block), q(f->as));
}

/* Report a user error, optionally with a note at `nloc`.  Inside block
 * instances the same message at the same place is reported once: a block
 * used ten times must not repeat its one mistake ten times. */
static void yerr_v(Ctx *c, SrcLoc loc, const SrcLoc *nloc, const char *note, const char *fmt, va_list ap) {
  char *msg = vfmt(fmt, ap);
  if (c->use) {
    char *key = cnnc_fmt("%d:%d:%s", loc.line, loc.col, msg);
    if (hmap_get(&c->seen, key))
      return;
    hmap_put(&c->seen, key, key);
  }
  diag_error(loc, "%s", msg);
  if (nloc)
    diag_note(*nloc, "%s", note);
  use_notes(c);
}

__attribute__((format(printf, 3, 4))) static void yerr(Ctx *c, SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  yerr_v(c, loc, NULL, NULL, fmt, ap);
  va_end(ap);
}

__attribute__((format(printf, 5, 6))) static void yerr_note(Ctx *c, SrcLoc loc, SrcLoc nloc, const char *note,
                                                            const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  yerr_v(c, loc, &nloc, note, fmt, ap);
  va_end(ap);
}

/* ---------------------------------------------------- building the tree */

/* libyaml marks are 0-based and count characters; diagnostics want 1-based
 * byte columns (the caret is placed by bytes), so walk the line's UTF-8. */
static SrcLoc mark_loc(Ctx *c, yaml_mark_t m) {
  SrcLoc l = loc_at(c->path, (int)(m.line < INT_MAX ? m.line + 1 : INT_MAX), 1);
  /* Marks arrive almost always in file order, so walk forward from a cursor
   * (a one-line flow list of 100k items must not cost 100k line walks). */
  if (m.line < c->cur_line || (m.line == c->cur_line && m.column < c->cur_col))
    c->cur_line = c->cur_off = c->cur_col = c->cur_coff = 0;
  size_t i = c->cur_off, line = c->cur_line;
  while (i < c->len && line < m.line) {
    const char *nl = memchr(c->text + i, '\n', c->len - i);
    if (!nl)
      break;
    i = (size_t)(nl - c->text) + 1;
    line++;
  }
  size_t start = i, col = 0;
  if (line == c->cur_line && i == c->cur_off)
    col = c->cur_col, i = c->cur_coff; /* same line as last time: resume */
  while (i < c->len && col < m.column && c->text[i] != '\n') {
    i++;
    while (i < c->len && ((unsigned char)c->text[i] & 0xC0) == 0x80)
      i++;
    col++;
  }
  c->cur_line = line, c->cur_off = start, c->cur_col = col, c->cur_coff = i;
  size_t bytes = i - start + (m.column - col); /* past the end: keep libyaml's count */
  l.col = bytes < INT_MAX ? (int)bytes + 1 : INT_MAX;
  return l;
}

/* Location of a byte offset (reader errors give offsets, not marks). */
static SrcLoc offset_loc(Ctx *c, size_t off) {
  int line = 1;
  size_t ls = 0;
  for (size_t i = 0; i < off && i < c->len; i++)
    if (c->text[i] == '\n')
      line++, ls = i + 1;
  size_t col = off - ls + 1;
  return loc_at(c->path, line, col < INT_MAX ? (int)col : INT_MAX);
}

static void tree_error(Ctx *c, SrcLoc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void tree_error(Ctx *c, SrcLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *msg = vfmt(fmt, ap);
  va_end(ap);
  diag_error(loc, "%s", msg);
  if (++c->tree_errors >= YAML_MAX_TREE_ERRORS) {
    diag_note(loc, "too many errors in the YAML structure; stopping here");
    c->tree_stop = true;
  }
}

static void report_libyaml_error(Ctx *c, yaml_parser_t *p) {
  const char *problem = p->problem ? p->problem : "unknown YAML error";
  switch (p->error) {
  case YAML_MEMORY_ERROR: diag_error(loc_file(c->path), "out of memory while parsing YAML"); return;
  case YAML_READER_ERROR: {
    /* Bad UTF-8, NUL and other control characters end up here. */
    SrcLoc l = offset_loc(c, p->problem_offset);
    if (p->problem_value != -1)
      diag_error(l, "%s (#x%X at byte offset %zu); a model file must be UTF-8 text", problem,
                 (unsigned)p->problem_value, p->problem_offset);
    else
      diag_error(l, "%s (at byte offset %zu)", problem, p->problem_offset);
    return;
  }
  default: {
    SrcLoc l = mark_loc(c, p->problem_mark);
    if (p->context)
      diag_error(l, "%s %s", problem, p->context);
    else
      diag_error(l, "%s", problem);
    /* "while parsing a flow mapping" -> "the flow mapping started here" */
    SrcLoc cl = mark_loc(c, p->context_mark);
    if (p->context && (cl.line != l.line || cl.col != l.col)) {
      const char *what = p->context;
      if (!strncmp(what, "while parsing ", 14))
        what += 14;
      else if (!strncmp(what, "while scanning ", 15))
        what += 15;
      if (!strncmp(what, "a ", 2))
        what += 2;
      else if (!strncmp(what, "an ", 3))
        what += 3;
      diag_note(cl, "the %s started here", what);
    }
  }
  }
}

/* Anchors, aliases and tags are refused rather than bounded: a model never
 * needs them, and refusing them removes alias bombs, cycles and any chance of
 * a tag constructing an object. */
static void refuse_ref(Ctx *c, SrcLoc *first, SrcLoc at, const char *what, char sigil, const yaml_char_t *name) {
  /* One error per kind: an alias bomb is hundreds of the same mistake. */
  if (first->line) {
    c->more_refs++;
    return;
  }
  *first = at;
  tree_error(c, at, "%s are not allowed (found '%c%s'): cnnc does not expand YAML aliases", what, sigil,
             q((const char *)name));
}

static void check_props(Ctx *c, const yaml_char_t *anchor, const yaml_char_t *tag, yaml_mark_t m) {
  static const char core[] = "tag:yaml.org,2002:";
  if (anchor)
    refuse_ref(c, &c->first_anchor, mark_loc(c, m), "anchors", '&', anchor);
  if (tag && !c->tree_stop) {
    const char *t = (const char *)tag;
    bool is_core = !strncmp(t, core, sizeof core - 1);
    tree_error(c, mark_loc(c, m), "tags are not allowed (found '%s%s'): values are never converted to objects",
               is_core ? "!!" : "", q(is_core ? t + sizeof core - 1 : t));
  }
}

static YNode *tree_node(Ctx *c, YKind k, yaml_mark_t m) {
  if (++c->tree_nodes > YAML_MAX_NODES) {
    tree_error(c, mark_loc(c, m), "the model has more than %d YAML nodes", YAML_MAX_NODES);
    c->tree_stop = true;
    return NULL;
  }
  YNode *n = cnnc_alloc(sizeof *n);
  n->kind = k;
  n->loc = mark_loc(c, m);
  return n;
}

static int cmp_keys(const void *a, const void *b) {
  const YNode *x = *(YNode *const *)a, *y = *(YNode *const *)b;
  int r = strcmp(x->s, y->s);
  if (r)
    return r;
  /* Equal keys: keep file order so the first one is the original. */
  if (x->loc.line != y->loc.line)
    return x->loc.line < y->loc.line ? -1 : 1;
  return (x->loc.col > y->loc.col) - (x->loc.col < y->loc.col);
}

/* libyaml does not detect duplicate keys; a silently ignored second
 * `weights:` would be worse than an error.  Sorting keeps this O(n log n). */
static void check_dup_keys(Ctx *c, YNode *m) {
  int n = MAP_N(m), k = 0;
  if (n < 2)
    return;
  YNode **keys = cnnc_realloc_array(NULL, (size_t)n, sizeof *keys);
  for (int i = 0; i < n; i++)
    if (MAP_KEY(m, i)->kind == YN_SCALAR)
      keys[k++] = MAP_KEY(m, i);
  qsort(keys, (size_t)k, sizeof *keys, cmp_keys);
  for (int i = 1; i < k && !c->tree_stop; i++) {
    int first = i - 1;
    while (i < k && !strcmp(keys[i]->s, keys[first]->s)) {
      tree_error(c, keys[i]->loc, "duplicate key '%s'", q(keys[i]->s));
      diag_note(keys[first]->loc, "'%s' first given here", q(keys[first]->s));
      i++;
    }
  }
}

/* Attach a new node to the collection on top of the stack. */
static void tree_attach(Ctx *c, YNode **stack, int depth, YNode *n, YNode **root) {
  if (depth == 0) {
    *root = n;
    return;
  }
  YNode *p = stack[depth - 1];
  if (p->kind == YN_MAP && p->nkid % 2 == 0 && n->kind != YN_SCALAR)
    tree_error(c, n->loc, "mapping keys must be scalars, not %s", n->kind == YN_SEQ ? "lists" : "mappings");
  VEC_PUSH(p->kid, p->nkid, p->cap, n);
}

/* Parse the whole text into a tree.  NULL if anything was refused. */
static YNode *tree_parse(Ctx *c) {
  yaml_parser_t p;
  yaml_event_t ev;
  if (!yaml_parser_initialize(&p)) {
    diag_error(loc_file(c->path), "out of memory while parsing YAML");
    return NULL;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)c->text, c->len);
  YNode *stack[YAML_MAX_DEPTH + 1], *root = NULL;
  int depth = 0, ndocs = 0;
  bool done = false, failed = false;
  while (!done && !c->tree_stop) {
    if (!yaml_parser_parse(&p, &ev)) {
      report_libyaml_error(c, &p);
      failed = true;
      break;
    }
    switch (ev.type) {
    case YAML_STREAM_START_EVENT:
      if (ev.data.stream_start.encoding != YAML_UTF8_ENCODING && ev.data.stream_start.encoding != YAML_ANY_ENCODING) {
        tree_error(c, loc_file(c->path), "the model file is UTF-16; it must be UTF-8");
        c->tree_stop = true;
      }
      break;
    case YAML_DOCUMENT_START_EVENT:
      if (++ndocs > 1) {
        tree_error(c, mark_loc(c, ev.start_mark), "a model file holds one YAML document; found a second one here");
        c->tree_stop = true;
      }
      break;
    case YAML_ALIAS_EVENT: {
      refuse_ref(c, &c->first_alias, mark_loc(c, ev.start_mark), "aliases", '*', ev.data.alias.anchor);
      /* A placeholder keeps key/value pairing intact for later messages. */
      YNode *n = tree_node(c, YN_SCALAR, ev.start_mark);
      if (n) {
        n->s = "";
        tree_attach(c, stack, depth, n, &root);
      }
      break;
    }
    case YAML_SCALAR_EVENT: {
      YNode *n = tree_node(c, YN_SCALAR, ev.start_mark);
      if (!n)
        break;
      check_props(c, ev.data.scalar.anchor, ev.data.scalar.tag, ev.start_mark);
      size_t len = ev.data.scalar.length;
      if (len > YAML_MAX_SCALAR) {
        tree_error(c, n->loc, "scalar of %zu bytes is longer than the limit of %d", len, YAML_MAX_SCALAR);
        n->s = "";
      } else if (memchr(ev.data.scalar.value, 0, len)) {
        tree_error(c, n->loc, "scalar contains a NUL character");
        n->s = "";
      } else {
        n->s = cnnc_strndup((const char *)ev.data.scalar.value, len);
      }
      n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
      tree_attach(c, stack, depth, n, &root);
      break;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
      bool seq = ev.type == YAML_SEQUENCE_START_EVENT;
      if (depth >= YAML_MAX_DEPTH) {
        /* libyaml 0.2.5 has no nesting limit; this is ours. */
        tree_error(c, mark_loc(c, ev.start_mark), "YAML nesting is deeper than %d levels", YAML_MAX_DEPTH);
        c->tree_stop = true;
        break;
      }
      YNode *n = tree_node(c, seq ? YN_SEQ : YN_MAP, ev.start_mark);
      if (!n)
        break;
      if (seq)
        check_props(c, ev.data.sequence_start.anchor, ev.data.sequence_start.tag, ev.start_mark);
      else
        check_props(c, ev.data.mapping_start.anchor, ev.data.mapping_start.tag, ev.start_mark);
      tree_attach(c, stack, depth, n, &root);
      stack[depth++] = n;
      break;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      if (depth > 0) {
        YNode *n = stack[--depth];
        if (n->kind == YN_MAP)
          check_dup_keys(c, n);
      }
      break;
    case YAML_STREAM_END_EVENT: done = true; break;
    default: break;
    }
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  if (c->more_refs)
    diag_note(c->first_alias.line ? c->first_alias : c->first_anchor,
              "%d more anchors and aliases in this file are not listed", c->more_refs);
  if (failed || c->tree_errors > 0)
    return NULL;
  if (!root || (root->kind == YN_SCALAR && !root->quoted && !*root->s)) {
    diag_error(loc_file(c->path), "the model file is empty; expected a mapping with cnnc, inputs, layers");
    return NULL;
  }
  if (root->kind != YN_MAP) {
    diag_error(root->loc, "a model must be a YAML mapping (cnnc: 1, inputs: ..., layers: ...)");
    return NULL;
  }
  return root;
}

/* ------------------------------------------------------ scalar typing */

/* Resolution of plain scalars follows the YAML 1.2 core schema (plus the
 * YAML 1.1 booleans yes/no/on/off), decided here rather than by libyaml. */
typedef enum { SC_NULL, SC_BOOL, SC_INT, SC_BIGINT, SC_FLOAT, SC_EXPR, SC_STR } SClass;

typedef struct SVal {
  SClass cls;
  int64_t i;
  double f;
  bool b;
} SVal;

static bool is_one_of(const char *s, const char *const *list, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s, list[i]))
      return true;
  return false;
}

static int digit_val(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return 99;
}

/* 1 = integer (in *out), 2 = integer that does not fit int64, 0 = not one. */
static int parse_int_text(const char *s, int64_t *out) {
  const char *p = s;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  int base = 10;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    base = 16, p += 2;
  else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
    base = 8, p += 2;
  else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
    base = 2, p += 2;
  if (!*p)
    return 0;
  uint64_t acc = 0;
  bool big = false;
  for (; *p; p++) {
    int d = digit_val(*p);
    if (d >= base)
      return 0;
    if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
      big = true;
    else
      acc = acc * (uint64_t)base + (uint64_t)d;
  }
  if (big || acc > (uint64_t)INT64_MAX + (neg ? 1 : 0))
    return 2;
  *out = neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc) : (int64_t)acc;
  return 1;
}

static bool parse_float_text(const char *s, double *out) {
  static const char *const inf[] = {".inf", ".Inf", ".INF"}, *const nan[] = {".nan", ".NaN", ".NAN"};
  const char *p = s;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (is_one_of(p, inf, 3)) {
    *out = neg ? -INFINITY : INFINITY;
    return true;
  }
  if (p == s && is_one_of(p, nan, 3)) {
    *out = NAN;
    return true;
  }
  /* [0-9]+(.[0-9]*)? | .[0-9]+ , then an optional exponent */
  int nd = 0;
  while (*p >= '0' && *p <= '9')
    p++, nd++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9')
      p++, nd++;
  }
  if (nd == 0)
    return false;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!(*p >= '0' && *p <= '9'))
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
  }
  if (*p)
    return false;
  *out = strtod(s, NULL);
  return true;
}

static SVal scalar_value(const YNode *v) {
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
  static const char *const trues[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *const falses[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  SVal r = {SC_STR, 0, 0, false};
  const char *s = v->s;
  if (s[0] == '$') {
    r.cls = SC_EXPR;
    return r;
  }
  if (v->quoted)
    return r;
  if (is_one_of(s, nulls, 5))
    r.cls = SC_NULL;
  else if (is_one_of(s, trues, 9))
    r.cls = SC_BOOL, r.b = true;
  else if (is_one_of(s, falses, 9))
    r.cls = SC_BOOL, r.b = false;
  else {
    int k = parse_int_text(s, &r.i);
    if (k == 1)
      r.cls = SC_INT, r.f = (double)r.i;
    else if (k == 2)
      r.cls = SC_BIGINT;
    else if (parse_float_text(s, &r.f))
      r.cls = SC_FLOAT;
  }
  return r;
}

/* "a list", "the string 'three'", ... for type errors. */
static const char *describe(const YNode *v) {
  if (v->kind == YN_SEQ)
    return "a list";
  if (v->kind == YN_MAP)
    return "a mapping";
  const char *s = q(v->s);
  switch (scalar_value(v).cls) {
  case SC_NULL: return "an empty value";
  case SC_BOOL: return cnnc_fmt("the boolean '%s'", s);
  case SC_INT:
  case SC_BIGINT: return cnnc_fmt("the integer %s", s);
  case SC_FLOAT: return cnnc_fmt("the number %s", s);
  case SC_EXPR: return cnnc_fmt("the expression '%s'", s);
  default: return v->quoted ? cnnc_fmt("the string \"%s\"", s) : cnnc_fmt("the string '%s'", s);
  }
}

static YNode *map_get(const YNode *m, const char *key) {
  if (!m || m->kind != YN_MAP)
    return NULL;
  for (int i = 0; i < MAP_N(m); i++)
    if (MAP_KEY(m, i)->kind == YN_SCALAR && !strcmp(MAP_KEY(m, i)->s, key))
      return MAP_VAL(m, i);
  return NULL;
}

static YNode *map_key(const YNode *m, const char *key) {
  for (int i = 0; i < MAP_N(m); i++)
    if (MAP_KEY(m, i)->kind == YN_SCALAR && !strcmp(MAP_KEY(m, i)->s, key))
      return MAP_KEY(m, i);
  return NULL;
}

/* Report every key of mapping m not in `allowed`; false if there was one. */
static bool check_keys(Ctx *c, const YNode *m, const char *const *allowed, int n, const char *where) {
  bool ok = true;
  for (int i = 0; i < MAP_N(m); i++) {
    const YNode *k = MAP_KEY(m, i);
    if (k->kind == YN_SCALAR && is_one_of(k->s, allowed, n))
      continue;
    yerr(c, k->loc, "unknown key '%s' in %s%s", q(k->s), where, dym(k->s, allowed, n));
    ok = false;
  }
  return ok;
}

static bool want_map(Ctx *c, const YNode *v, const char *what) {
  if (v->kind == YN_MAP)
    return true;
  yerr(c, v->loc, "%s must be a mapping, not %s", what, describe(v));
  return false;
}

/* -------------------------------------------------- $expressions */

/* `$ch*4`, `$(a+1)/2`: integer + - * / ( ) over the parameters of the block
 * being expanded.  Every step is overflow-checked; `/` truncates toward zero
 * as in C (and tests/yaml_ref.py). */
typedef struct Ex {
  Ctx *c;
  const YNode *v;
  const char *src, *p;
  int depth;
  bool failed;
} Ex;

__attribute__((format(printf, 2, 3))) static void ex_fail(Ex *e, const char *fmt, ...) {
  if (e->failed)
    return;
  e->failed = true;
  va_list ap;
  va_start(ap, fmt);
  char *msg = vfmt(fmt, ap);
  va_end(ap);
  SrcLoc l = e->v->loc;
  /* Point into the scalar when it sits on one line (plain or quoted). */
  if (!strchr(e->src, '\n'))
    l.col += (int)(e->p - e->src) + (e->v->quoted ? 1 : 0);
  yerr(e->c, l, "in '%s': %s", q(e->src), msg);
}

static void ex_space(Ex *e) {
  while (*e->p == ' ' || *e->p == '\t')
    e->p++;
}

static int64_t ex_sum(Ex *e);

static int64_t ex_atom(Ex *e) {
  ex_space(e);
  if (e->failed)
    return 0;
  if (++e->depth > YAML_MAX_EXPR_DEPTH) {
    ex_fail(e, "expression is nested too deeply");
    return 0;
  }
  int64_t v = 0;
  char ch = *e->p;
  if (ch == '(') {
    e->p++;
    v = ex_sum(e);
    ex_space(e);
    if (*e->p != ')')
      ex_fail(e, "expected ')'");
    else
      e->p++;
  } else if (ch == '-' || ch == '+') {
    e->p++;
    v = ex_atom(e);
    if (ch == '-') {
      if (v == INT64_MIN)
        ex_fail(e, "integer overflow");
      v = -v;
    }
  } else if (ch >= '0' && ch <= '9') {
    while (*e->p >= '0' && *e->p <= '9') {
      if (ckd_mul(&v, v, 10) || ckd_add(&v, v, *e->p - '0')) {
        ex_fail(e, "integer overflow");
        return 0;
      }
      e->p++;
    }
  } else if (ch == '$' || ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
    if (ch == '$')
      e->p++;
    const char *b = e->p;
    while (*e->p == '_' || (*e->p >= 'a' && *e->p <= 'z') || (*e->p >= 'A' && *e->p <= 'Z') ||
           (*e->p >= '0' && *e->p <= '9'))
      e->p++;
    char *id = cnnc_strndup(b, (size_t)(e->p - b));
    const Env *env = e->c->env;
    if (!*id) {
      ex_fail(e, "expected a parameter name after '$'");
    } else if (!env) {
      e->p = b;
      ex_fail(e, "'$%s' refers to a block parameter, but this value is not inside a block", q(id));
    } else {
      int i = 0;
      while (i < env->n && strcmp(env->name[i], id))
        i++;
      if (i < env->n) {
        v = env->val[i];
      } else {
        e->p = b;
        ex_fail(e, "block '%s' has no parameter '%s'%s", q(env->block), q(id), dym(id, env->name, env->n));
      }
    }
  } else if (!ch) {
    ex_fail(e, "expression ends early");
  } else {
    ex_fail(e, "unexpected '%c'", ch);
  }
  e->depth--;
  return v;
}

static int64_t ex_prod(Ex *e) {
  int64_t v = ex_atom(e);
  for (;;) {
    ex_space(e);
    char op = *e->p;
    if (e->failed || (op != '*' && op != '/'))
      return v;
    e->p++;
    const char *at = e->p;
    int64_t r = ex_atom(e);
    if (e->failed)
      return 0;
    if (op == '*') {
      if (ckd_mul(&v, v, r))
        ex_fail(e, "integer overflow");
    } else if (r == 0) {
      e->p = at;
      ex_fail(e, "division by zero");
    } else if (v == INT64_MIN && r == -1) {
      ex_fail(e, "integer overflow");
    } else {
      v /= r;
    }
  }
}

static int64_t ex_sum(Ex *e) {
  int64_t v = ex_prod(e);
  for (;;) {
    ex_space(e);
    char op = *e->p;
    if (e->failed || (op != '+' && op != '-'))
      return v;
    e->p++;
    int64_t r = ex_prod(e);
    if (e->failed)
      return 0;
    if (op == '+' ? ckd_add(&v, v, r) : ckd_sub(&v, v, r))
      ex_fail(e, "integer overflow");
  }
}

static bool eval_expr(Ctx *c, const YNode *v, int64_t *out) {
  Ex e = {c, v, v->s, v->s + 1, 0, false}; /* skip the leading '$' */
  if (*e.p == '$' || *e.p == '(' || *e.p == '-' || *e.p == '+' || (*e.p >= '0' && *e.p <= '9'))
    ; /* `$(a+1)`, `$-x`: the '$' only announces the expression */
  else
    e.p = v->s; /* `$ch*4`: the '$' belongs to the first name */
  int64_t r = ex_sum(&e);
  ex_space(&e);
  if (!e.failed && *e.p)
    ex_fail(&e, "unexpected '%c'", *e.p);
  if (e.failed)
    return false;
  *out = r;
  return true;
}

/* --------------------------------------------------------- typed getters */

/* An integer: a plain integer literal, or a $expression inside a block. */
static bool get_int_any(Ctx *c, const YNode *v, const char *key, int64_t *out) {
  if (v->kind == YN_SCALAR) {
    SVal x = scalar_value(v);
    if (x.cls == SC_INT) {
      *out = x.i;
      return true;
    }
    if (x.cls == SC_EXPR)
      return eval_expr(c, v, out);
    if (x.cls == SC_BIGINT) {
      yerr(c, v->loc, "'%s': integer %s is out of range", key, q(v->s));
      return false;
    }
  }
  yerr(c, v->loc, "'%s' must be an integer, not %s", key, describe(v));
  return false;
}

static bool get_int(Ctx *c, const YNode *v, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  int64_t x;
  if (!get_int_any(c, v, key, &x))
    return false;
  if (x >= lo && x <= hi) {
    *out = x;
    return true;
  }
  const char *from = v->kind == YN_SCALAR && v->s[0] == '$' ? cnnc_fmt(" from '%s'", q(v->s)) : "";
  if (lo == 1 && x < lo)
    yerr(c, v->loc, "'%s' must be a positive integer, got %lld%s", key, (long long)x, from);
  else if (lo == 0 && x < lo)
    yerr(c, v->loc, "'%s' must be a non-negative integer, got %lld%s", key, (long long)x, from);
  else if (x > hi && hi == INT32_MAX)
    yerr(c, v->loc, "'%s' = %lld%s does not fit in 32 bits", key, (long long)x, from);
  else
    yerr(c, v->loc, "'%s' must be between %lld and %lld, got %lld%s", key, (long long)lo, (long long)hi, (long long)x,
         from);
  return false;
}

static bool get_i32(Ctx *c, const YNode *v, const char *key, int64_t lo, int *out) {
  int64_t x;
  if (!get_int(c, v, key, lo, INT32_MAX, &x))
    return false;
  *out = (int)x;
  return true;
}

typedef enum { NUM_ANY, NUM_POS, NUM_NONNEG, NUM_UNIT, NUM_UNIT_OPEN } NumRange;

static bool get_num(Ctx *c, const YNode *v, const char *key, NumRange range, double *out) {
  double x = 0;
  bool ok = false;
  if (v->kind == YN_SCALAR) {
    SVal s = scalar_value(v);
    if (s.cls == SC_INT || s.cls == SC_FLOAT) {
      x = s.f, ok = true;
    } else if (s.cls == SC_EXPR) {
      int64_t i;
      if (!eval_expr(c, v, &i))
        return false;
      x = (double)i, ok = true;
    } else if (s.cls == SC_BIGINT) {
      x = strtod(v->s, NULL), ok = true;
    }
  }
  if (!ok) {
    yerr(c, v->loc, "'%s' must be a number, not %s", key, describe(v));
    return false;
  }
  const char *need = NULL;
  if (!isfinite(x))
    need = "a finite number";
  else if (range == NUM_POS && !(x > 0))
    need = "greater than 0";
  else if (range == NUM_NONNEG && !(x >= 0))
    need = "at least 0";
  else if (range == NUM_UNIT && !(x >= 0 && x <= 1))
    need = "between 0 and 1";
  else if (range == NUM_UNIT_OPEN && !(x >= 0 && x < 1))
    need = "in [0, 1)";
  if (need) {
    yerr(c, v->loc, "'%s' must be %s, got %s", key, need, q(v->s));
    return false;
  }
  *out = x;
  return true;
}

static bool get_bool(Ctx *c, const YNode *v, const char *key, bool *out) {
  if (v->kind == YN_SCALAR) {
    SVal s = scalar_value(v);
    if (s.cls == SC_BOOL) {
      *out = s.b;
      return true;
    }
  }
  yerr(c, v->loc, "'%s' must be true or false, not %s", key, describe(v));
  return false;
}

/* Any non-empty scalar's text (names may look like numbers: `from: 0`). */
static const char *get_str(Ctx *c, const YNode *v, const char *key) {
  if (v->kind == YN_SCALAR && (v->quoted || scalar_value(v).cls != SC_NULL) && *v->s)
    return v->s;
  yerr(c, v->loc, "'%s' must be a string, not %s", key, describe(v));
  return NULL;
}

/* One of a fixed set of words; returns its index or -1. */
static int get_enum(Ctx *c, const YNode *v, const char *key, const char *const *words, int n) {
  const char *s = get_str(c, v, key);
  if (!s)
    return -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(s, words[i]))
      return i;
  char *list = cnnc_fmt("%s", words[0]);
  for (int i = 1; i < n; i++)
    list = cnnc_fmt("%s, %s", list, words[i]);
  yerr(c, v->loc, "unsupported %s '%s'%s; expected %s%s", key, q(s), dym(s, words, n), n > 1 ? "one of: " : "", list);
  return -1;
}

/* Layer, input and block names: they end up in dotted state_dict names and
 * in generated comments, so keep them to a safe alphabet. */
static bool valid_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 256 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
          *p == '-'))
      return false;
  return true;
}

static const char *get_name(Ctx *c, const YNode *v, const char *key) {
  const char *s = get_str(c, v, key);
  if (s && !valid_name(s)) {
    yerr(c, v->loc, "invalid %s '%s': use letters, digits, '_', '-' and single inner dots", key, q(s));
    return NULL;
  }
  return s;
}

/* An int or a list of ints.  `lens` has bit k set when a list of k values is
 * allowed and bit 0 set when a single scalar is; `form` says what is
 * accepted, for the error. */
static bool get_ints(Ctx *c, const YNode *v, const char *key, int64_t lo, int64_t hi, unsigned lens, const char *form,
                     int64_t *out, int *n) {
  if (v->kind == YN_SCALAR && (lens & 1)) {
    *n = 1;
    return get_int(c, v, key, lo, hi, &out[0]);
  }
  if (v->kind != YN_SEQ || v->nkid >= MAX_RANK + 1 || !(lens & (1u << v->nkid))) {
    if (v->kind == YN_SEQ)
      yerr(c, v->loc, "'%s' must be %s, not a list of %d", key, form, v->nkid);
    else
      yerr(c, v->loc, "'%s' must be %s, not %s", key, form, describe(v));
    return false;
  }
  bool ok = true;
  for (int i = 0; i < v->nkid; i++)
    ok &= get_int(c, v->kid[i], key, lo, hi, &out[i]);
  *n = v->nkid;
  return ok;
}

/* ------------------------------------------------------ per-op key tables */

typedef enum {
  K_IN_CH,       /* in_channels / num_features / num_channels: checked against the input */
  K_IN_FEATURES, /* linear in_features: checked against the input's last dim */
  K_OUT_CH,      /* out_channels / out_features -> out_ch */
  K_KERNEL,
  K_STRIDE,
  K_PADDING,
  K_PADDING_MODE,
  K_DILATION,
  K_GROUPS,
  K_BIAS,
  K_OUT_PAD,
  K_CEIL_MODE,
  K_COUNT_PAD,
  K_NORM_SHAPE, /* layernorm normalized_shape: checked against the input */
  K_EPS,
  K_MOMENTUM,
  K_AFFINE,
  K_TRACK_STATS,
  K_NUM_GROUPS,
  K_ALPHA, /* any finite number -> alpha */
  K_BETA,  /* any finite number -> beta */
  K_NORM_TYPE,
  K_NUM_PARAMS,
  K_INPLACE,
  K_APPROXIMATE,
  K_P,
  K_PIECES,
  K_DIM,
  K_END_DIM,
  K_SHAPE,
  K_PERM,
  K_DIMS,
  K_KEEPDIM,
  K_PADS,
  K_PAD_MODE,
  K_PAD_VALUE,
  K_SCALE,
  K_UP_MODE,
  K_OUT_SIZE,
  K_SLICE_START,
  K_SLICE_END,
  K__COUNT
} KeyKind;

typedef struct KeySpec {
  const char *key;
  KeyKind kind;
  bool required;
} KeySpec;

/* PyTorch argument names.  A name listed twice with one kind is a synonym. */
// clang-format off
#define KEY(k, kind) {k, kind, false}
#define REQ(k, kind) {k, kind, true}
#define KEND {NULL, K__COUNT, false}
// clang-format on
static const KeySpec conv_keys[] = {KEY("in_channels", K_IN_CH),
                                    REQ("out_channels", K_OUT_CH),
                                    REQ("kernel_size", K_KERNEL),
                                    KEY("stride", K_STRIDE),
                                    KEY("padding", K_PADDING),
                                    KEY("dilation", K_DILATION),
                                    KEY("groups", K_GROUPS),
                                    KEY("bias", K_BIAS),
                                    KEY("padding_mode", K_PADDING_MODE),
                                    KEND};
static const KeySpec convt_keys[] = {KEY("in_channels", K_IN_CH),
                                     REQ("out_channels", K_OUT_CH),
                                     REQ("kernel_size", K_KERNEL),
                                     KEY("stride", K_STRIDE),
                                     KEY("padding", K_PADDING),
                                     KEY("output_padding", K_OUT_PAD),
                                     KEY("dilation", K_DILATION),
                                     KEY("groups", K_GROUPS),
                                     KEY("bias", K_BIAS),
                                     KEY("padding_mode", K_PADDING_MODE),
                                     KEND};
static const KeySpec linear_keys[] = {KEY("in_features", K_IN_FEATURES), REQ("out_features", K_OUT_CH),
                                      KEY("bias", K_BIAS), KEND};
static const KeySpec maxpool_keys[] = {REQ("kernel_size", K_KERNEL), KEY("stride", K_STRIDE), KEY("padding", K_PADDING),
                                       KEY("ceil_mode", K_CEIL_MODE), KEND};
static const KeySpec avgpool_keys[] = {REQ("kernel_size", K_KERNEL),
                                       KEY("stride", K_STRIDE),
                                       KEY("padding", K_PADDING),
                                       KEY("ceil_mode", K_CEIL_MODE),
                                       KEY("count_include_pad", K_COUNT_PAD),
                                       KEND};
static const KeySpec lppool_keys[] = {KEY("norm_type", K_NORM_TYPE), REQ("kernel_size", K_KERNEL),
                                      KEY("stride", K_STRIDE), KEY("ceil_mode", K_CEIL_MODE), KEND};
static const KeySpec adaptive_keys[] = {REQ("output_size", K_OUT_SIZE), KEND};
static const KeySpec batchnorm_keys[] = {KEY("num_features", K_IN_CH), KEY("eps", K_EPS), KEY("momentum", K_MOMENTUM),
                                         KEY("affine", K_AFFINE), KEND};
static const KeySpec layernorm_keys[] = {KEY("normalized_shape", K_NORM_SHAPE), KEY("eps", K_EPS),
                                         KEY("elementwise_affine", K_AFFINE), KEY("affine", K_AFFINE), KEND};
static const KeySpec instancenorm_keys[] = {KEY("num_features", K_IN_CH),
                                            KEY("eps", K_EPS),
                                            KEY("momentum", K_MOMENTUM),
                                            KEY("affine", K_AFFINE),
                                            KEY("track_running_stats", K_TRACK_STATS),
                                            KEND};
static const KeySpec groupnorm_keys[] = {REQ("num_groups", K_NUM_GROUPS), KEY("num_channels", K_IN_CH),
                                         KEY("eps", K_EPS), KEY("affine", K_AFFINE), KEND};
static const KeySpec inplace_keys[] = {KEY("inplace", K_INPLACE), KEND};
static const KeySpec leaky_keys[] = {KEY("negative_slope", K_ALPHA), KEY("inplace", K_INPLACE), KEND};
static const KeySpec prelu_keys[] = {KEY("num_parameters", K_NUM_PARAMS), KEND};
static const KeySpec elu_keys[] = {KEY("alpha", K_ALPHA), KEY("inplace", K_INPLACE), KEND};
static const KeySpec gelu_keys[] = {KEY("approximate", K_APPROXIMATE), KEND};
static const KeySpec clip_keys[] = {KEY("min", K_ALPHA), KEY("max", K_BETA), KEND};
static const KeySpec hardsigmoid_keys[] = {KEY("alpha", K_ALPHA), KEY("beta", K_BETA), KEY("inplace", K_INPLACE), KEND};
static const KeySpec dropout_keys[] = {KEY("p", K_P), KEY("inplace", K_INPLACE), KEND};
static const KeySpec maxout_keys[] = {REQ("pieces", K_PIECES), KEND};
static const KeySpec dim_keys[] = {KEY("dim", K_DIM), KEND};
static const KeySpec flatten_keys[] = {KEY("start_dim", K_DIM), KEY("end_dim", K_END_DIM), KEND};
static const KeySpec reshape_keys[] = {REQ("shape", K_SHAPE), KEND};
static const KeySpec upsample_keys[] = {REQ("scale_factor", K_SCALE), KEY("mode", K_UP_MODE), KEND};
static const KeySpec pad_keys[] = {REQ("pads", K_PADS), KEY("mode", K_PAD_MODE), KEY("value", K_PAD_VALUE), KEND};
static const KeySpec transpose_keys[] = {REQ("perm", K_PERM), KEND};
static const KeySpec mean_keys[] = {KEY("dims", K_DIMS), KEY("dim", K_DIMS), KEY("keepdim", K_KEEPDIM), KEND};
static const KeySpec slice_keys[] = {KEY("dim", K_DIM), REQ("start", K_SLICE_START), REQ("end", K_SLICE_END), KEND};
static const KeySpec no_keys[] = {KEND};

/* Indexed by OpKind.  An ops.def row without an entry here cannot be written
 * in YAML (using it is an error saying so) until its keys are added. */
static const KeySpec *const op_keys[OP__COUNT] = {
    [OP_CONV1D] = conv_keys,
    [OP_CONV2D] = conv_keys,
    [OP_CONV_TRANSPOSE2D] = convt_keys,
    [OP_LINEAR] = linear_keys,
    [OP_MAXPOOL1D] = maxpool_keys,
    [OP_MAXPOOL2D] = maxpool_keys,
    [OP_AVGPOOL1D] = avgpool_keys,
    [OP_AVGPOOL2D] = avgpool_keys,
    [OP_LPPOOL2D] = lppool_keys,
    [OP_ADAPTIVE_AVGPOOL2D] = adaptive_keys,
    [OP_GLOBAL_AVGPOOL] = no_keys,
    [OP_BATCHNORM1D] = batchnorm_keys,
    [OP_BATCHNORM2D] = batchnorm_keys,
    [OP_LAYERNORM] = layernorm_keys,
    [OP_INSTANCENORM2D] = instancenorm_keys,
    [OP_GROUPNORM] = groupnorm_keys,
    [OP_RELU] = inplace_keys,
    [OP_LEAKY_RELU] = leaky_keys,
    [OP_PRELU] = prelu_keys,
    [OP_ELU] = elu_keys,
    [OP_SELU] = inplace_keys,
    [OP_SIGMOID] = no_keys,
    [OP_TANH] = no_keys,
    [OP_GELU] = gelu_keys,
    [OP_CLIP] = clip_keys,
    [OP_HARDSIGMOID] = hardsigmoid_keys,
    [OP_HARDSWISH] = inplace_keys,
    [OP_DROPOUT] = dropout_keys,
    [OP_MAXOUT] = maxout_keys,
    [OP_SOFTMAX] = dim_keys,
    [OP_LOG_SOFTMAX] = dim_keys,
    [OP_ADD] = no_keys,
    [OP_MUL] = no_keys,
    [OP_CONCAT] = dim_keys,
    [OP_FLATTEN] = flatten_keys,
    [OP_RESHAPE] = reshape_keys,
    [OP_UPSAMPLE] = upsample_keys,
    [OP_PAD] = pad_keys,
    [OP_TRANSPOSE] = transpose_keys,
    [OP_MEAN] = mean_keys,
    [OP_SLICE] = slice_keys,
};

static const char *const layer_common_keys[] = {"name", "op", "from"};
static const char *const use_common_keys[] = {"name", "block", "repeat", "from"};

static int op_spatial(OpKind op) {
  return op == OP_CONV1D || op == OP_MAXPOOL1D || op == OP_AVGPOOL1D ? 1 : 2;
}

/* What apply_keys saw, for checks that involve several keys or the input. */
typedef struct LayerKeys {
  const YNode *at[K__COUNT]; /* value node per kind, NULL = absent */
  const char *key[K__COUNT]; /* the spelling used */
  bool causal;
  int64_t in_ch, in_features;
  int64_t norm_shape[MAX_RANK];
  int nnorm;
} LayerKeys;

/* kernel_size / stride / dilation / output_padding / output_size /
 * scale_factor: 2-D ops take an int or [H, W]; 1-D ops an int, stored in
 * index 1 with the identity value in index 0 (see Node in ir.h). */
static bool get_spatial(Ctx *c, const YNode *v, const char *key, int sp, int64_t lo, int identity, int out[2]) {
  int64_t t[MAX_RANK];
  int n;
  bool ok = sp == 2 ? get_ints(c, v, key, lo, INT32_MAX, 1u | 1u << 2, "an int or a list [H, W] of 2 ints", t, &n)
                    : get_ints(c, v, key, lo, INT32_MAX, 1u | 1u << 1, "an int (this is a 1-D op)", t, &n);
  if (!ok)
    return false;
  if (sp == 1)
    out[0] = identity, out[1] = (int)t[0];
  else if (n == 1)
    out[0] = out[1] = (int)t[0];
  else
    out[0] = (int)t[0], out[1] = (int)t[1];
  return true;
}

static bool get_padding(Ctx *c, Node *n, LayerKeys *lk, const YNode *v, const char *key) {
  static const char *const words[] = {"same", "valid", "causal"};
  int sp = op_spatial(n->op);
  bool conv = n->op == OP_CONV1D || n->op == OP_CONV2D;
  if (v->kind == YN_SCALAR && scalar_value(v).cls == SC_STR) {
    memset(n->pad, 0, sizeof n->pad);
    n->pad_same = false;
    lk->causal = false;
    if (!strcmp(v->s, "valid"))
      return true;
    if (!strcmp(v->s, "same")) {
      if (!conv) {
        yerr(c, v->loc, "padding 'same' is supported by conv1d and conv2d only; give the pads as integers");
        return false;
      }
      n->pad_same = true;
      return true;
    }
    if (!strcmp(v->s, "causal")) {
      if (n->op != OP_CONV1D) {
        yerr(c, v->loc, "padding 'causal' is supported by conv1d only");
        return false;
      }
      lk->causal = true;
      return true;
    }
    yerr(c, v->loc, "unknown padding '%s': expected an integer, a list, 'same' or 'valid'%s%s", q(v->s),
         sp == 1 ? " (or 'causal' for conv1d)" : "", dym(v->s, words, 3));
    return false;
  }
  int64_t t[MAX_RANK];
  int cnt;
  bool ok = sp == 2 ? get_ints(c, v, key, 0, INT32_MAX, 1u | 1u << 2 | 1u << 4,
                               "an int, [pH, pW], [top, left, bottom, right], 'same' or 'valid'", t, &cnt)
                    : get_ints(c, v, key, 0, INT32_MAX, 1u | 1u << 1,
                               "an int, 'same', 'valid' or 'causal' (this is a 1-D op)", t, &cnt);
  if (!ok)
    return false;
  n->pad_same = false;
  lk->causal = false;
  if (sp == 1) {
    n->pad[0] = n->pad[2] = 0;
    n->pad[1] = n->pad[3] = (int)t[0];
  } else if (cnt == 1) {
    n->pad[0] = n->pad[1] = n->pad[2] = n->pad[3] = (int)t[0];
  } else if (cnt == 2) {
    n->pad[0] = n->pad[2] = (int)t[0];
    n->pad[1] = n->pad[3] = (int)t[1];
  } else {
    for (int i = 0; i < 4; i++)
      n->pad[i] = (int)t[i];
  }
  return true;
}

static bool apply_key(Ctx *c, Node *n, LayerKeys *lk, KeyKind kind, const char *key, const YNode *v) {
  static const char *const pad_modes[] = {"constant", "reflect", "edge", "replicate"};
  int sp = op_spatial(n->op);
  int64_t t[MAX_RANK], x;
  int cnt;
  switch (kind) {
  case K_IN_CH: return get_int(c, v, key, 1, INT32_MAX, &lk->in_ch);
  case K_IN_FEATURES: return get_int(c, v, key, 1, INT32_MAX, &lk->in_features);
  case K_OUT_CH: return get_int(c, v, key, 1, INT32_MAX, &n->out_ch);
  case K_KERNEL: return get_spatial(c, v, key, sp, 1, 1, n->kernel);
  case K_STRIDE: return get_spatial(c, v, key, sp, 1, 1, n->stride);
  case K_DILATION: return get_spatial(c, v, key, sp, 1, 1, n->dilation);
  case K_OUT_PAD: return get_spatial(c, v, key, sp, 0, 0, n->out_pad);
  case K_OUT_SIZE: return get_spatial(c, v, key, 2, 1, 1, n->out_size);
  case K_SCALE: return get_spatial(c, v, key, 2, 1, 1, n->scale);
  case K_PADDING: return get_padding(c, n, lk, v, key);
  case K_PADDING_MODE: {
    const char *s = get_str(c, v, key);
    if (s && strcmp(s, "zeros")) {
      yerr(c, v->loc, "padding_mode '%s' is not supported (only 'zeros'); put a 'pad' layer with mode %s before it",
           q(s), !strcmp(s, "replicate") ? "edge" : "reflect or edge");
      return false;
    }
    return s != NULL;
  }
  case K_GROUPS: return get_i32(c, v, key, 1, &n->groups);
  case K_BIAS: return get_bool(c, v, key, &n->has_bias);
  case K_CEIL_MODE: return get_bool(c, v, key, &n->ceil_mode);
  case K_COUNT_PAD: return get_bool(c, v, key, &n->count_include_pad);
  case K_NORM_SHAPE:
    return get_ints(c, v, key, 1, INT32_MAX, 0x3fu, "an int or a list of 1 to 5 ints", lk->norm_shape, &lk->nnorm);
  case K_EPS: return get_num(c, v, key, NUM_POS, &n->eps);
  case K_MOMENTUM: return get_num(c, v, key, NUM_UNIT, &n->momentum);
  case K_AFFINE: return get_bool(c, v, key, &n->affine);
  case K_TRACK_STATS: return get_bool(c, v, key, &n->track_stats);
  case K_NUM_GROUPS: return get_i32(c, v, key, 1, &n->num_groups);
  case K_ALPHA: return get_num(c, v, key, NUM_ANY, &n->alpha);
  case K_BETA: return get_num(c, v, key, NUM_ANY, &n->beta);
  case K_NORM_TYPE: return get_num(c, v, key, NUM_POS, &n->alpha);
  case K_NUM_PARAMS: return get_i32(c, v, key, 1, &n->num_params);
  case K_INPLACE: {
    bool b; /* accepted for PyTorch compatibility; in-place use is the memory planner's choice */
    return get_bool(c, v, key, &b);
  }
  case K_APPROXIMATE: {
    const char *s = get_str(c, v, key);
    if (s && strcmp(s, "none")) {
      yerr(c, v->loc, "approximate '%s' is not supported: gelu is the exact (erf) form, approximate: none", q(s));
      return false;
    }
    return s != NULL;
  }
  case K_P: return get_num(c, v, key, NUM_UNIT, &n->p);
  case K_PIECES: return get_i32(c, v, key, 1, &n->pieces);
  case K_DIM:
    if (!get_int(c, v, key, -MAX_RANK, MAX_RANK - 1, &x))
      return false;
    n->axis = (int)x;
    return true;
  case K_END_DIM:
    if (!get_int_any(c, v, key, &x))
      return false;
    /* Without an input (a scratch node) the rank is unknown: no verdict. */
    if (x != -1 && n->nin > 0 && x != n->in[0]->shape.rank - 1) {
      yerr(c, v->loc, "only end_dim: -1 (flatten to the last axis) is supported, got %lld", (long long)x);
      return false;
    }
    return true;
  case K_SHAPE: {
    if (!get_ints(c, v, key, -1, INT32_MAX, 0x3eu, "a list of 1 to 5 ints (the per-sample shape, -1 allowed once)", t,
                  &cnt))
      return false;
    int minus = 0;
    for (int i = 0; i < cnt; i++) {
      if (t[i] == 0) {
        yerr(c, v->kid[i]->loc, "'shape' entries must be positive or -1, got 0");
        return false;
      }
      if (t[i] == -1 && ++minus > 1) {
        yerr(c, v->kid[i]->loc, "'shape' may contain -1 only once");
        return false;
      }
    }
    n->target = shape_make(cnt, t);
    return true;
  }
  case K_PERM: {
    if (!get_ints(c, v, key, 0, MAX_RANK - 1, 0x7eu, "a list of 1 to 6 axis numbers", t, &cnt))
      return false;
    unsigned seen = 0;
    for (int i = 0; i < cnt; i++) {
      if (t[i] >= cnt || (seen & (1u << t[i]))) {
        yerr(c, v->kid[i]->loc, "'perm' must be a permutation of 0..%d", cnt - 1);
        return false;
      }
      seen |= 1u << t[i];
    }
    n->target = shape_make(cnt, t);
    return true;
  }
  case K_DIMS: {
    if (!get_ints(c, v, key, -MAX_RANK, MAX_RANK - 1, 0x7fu, "an int or a list of axes", t, &cnt))
      return false;
    /* Negative axes count from the end of the input (batch axis included);
     * without an input (a scratch node) there is nothing more to check. */
    int rank = n->nin > 0 ? n->in[0]->shape.rank : 0;
    if (rank == 0)
      return true;
    n->axes_mask = 0;
    for (int i = 0; i < cnt; i++) {
      int64_t a = t[i] < 0 ? t[i] + rank : t[i];
      const YNode *at = v->kind == YN_SEQ ? v->kid[i] : v;
      if (a < 0 || a >= rank) {
        yerr(c, at->loc, "axis %lld is out of range for a tensor of rank %d", (long long)t[i], rank);
        return false;
      }
      if (n->axes_mask & ((int64_t)1 << a)) {
        yerr(c, at->loc, "axis %lld is listed twice", (long long)t[i]);
        return false;
      }
      n->axes_mask |= (int64_t)1 << a;
    }
    return true;
  }
  case K_KEEPDIM: return get_bool(c, v, key, &n->keepdims);
  case K_PADS: {
    if (!get_ints(c, v, key, 0, INT32_MAX, 1u << 4, "a list of 4 ints [top, left, bottom, right]", t, &cnt))
      return false;
    for (int i = 0; i < 4; i++)
      n->pad[i] = (int)t[i];
    return true;
  }
  case K_PAD_MODE: {
    int m = get_enum(c, v, key, pad_modes, 4);
    if (m < 0)
      return false;
    n->pad_mode = m == 3 ? 2 : m; /* replicate is PyTorch's word for edge */
    return true;
  }
  case K_PAD_VALUE: return get_num(c, v, key, NUM_ANY, &n->pad_value);
  case K_SLICE_START: return get_int(c, v, key, INT64_MIN, INT64_MAX, &n->slice_start);
  case K_SLICE_END: return get_int(c, v, key, INT64_MIN, INT64_MAX, &n->slice_end);
  case K_UP_MODE: {
    static const char *const modes[] = {"nearest"};
    return get_enum(c, v, key, modes, 1) == 0;
  }
  case K__COUNT: break;
  }
  unreachable();
}

static const KeySpec *find_key(const KeySpec *ks, const char *key) {
  for (; ks->key; ks++)
    if (!strcmp(ks->key, key))
      return ks;
  return NULL;
}

/* Apply every key of layer e to n (already holding its defaults). */
static bool apply_keys(Ctx *c, Node *n, const YNode *e, LayerKeys *lk, bool keys_ok) {
  const KeySpec *ks = op_keys[n->op];
  const char *opname = op_info[n->op].name;
  bool ok = true;
  for (int i = 0; i < MAP_N(e); i++) {
    const YNode *k = MAP_KEY(e, i), *v = MAP_VAL(e, i);
    const KeySpec *spec = k->kind == YN_SCALAR ? find_key(ks, k->s) : NULL;
    if (!spec)
      continue; /* common keys, or unknown ones (reported by check_keys) */
    if (lk->at[spec->kind]) {
      yerr(c, k->loc, "'%s' and '%s' mean the same; give only one", lk->key[spec->kind], spec->key);
      ok = false;
      continue;
    }
    lk->at[spec->kind] = v;
    lk->key[spec->kind] = spec->key;
    ok &= apply_key(c, n, lk, spec->kind, spec->key, v);
  }
  /* After a misspelt key, "needs 'kernel_size'" would repeat that error. */
  for (const KeySpec *s = ks; keys_ok && s->key; s++)
    if (s->required && !lk->at[s->kind]) {
      yerr(c, e->loc, "%s layer '%s' needs '%s'", opname, q(n->name), s->key);
      ok = false;
    }
  if (keys_ok && n->op == OP_MEAN && !lk->at[K_DIMS]) {
    /* Reducing nothing is never meant; reducing everything would take the batch. */
    yerr(c, e->loc, "mean layer '%s' needs 'dims' (the axes to average, batch axis 0 excluded)", q(n->name));
    ok = false;
  }
  if (!ok)
    return false;
  /* PyTorch pools default the stride to the kernel size; ir_set_defaults
   * cannot know the kernel, so it is done here. */
  if ((op_info[n->op].flags & OPF_POOL) && !lk->at[K_STRIDE]) {
    n->stride[0] = n->kernel[0];
    n->stride[1] = n->kernel[1];
  }
  if (lk->causal) {
    int64_t p;
    if (ckd_mul(&p, n->dilation[1], (int64_t)n->kernel[1] - 1) || p > INT32_MAX) {
      yerr(c, lk->at[K_PADDING]->loc, "causal padding dilation*(kernel_size-1) does not fit in 32 bits");
      return false;
    }
    n->pad[0] = n->pad[2] = n->pad[3] = 0;
    n->pad[1] = (int)p;
  }
  return true;
}

/* in_channels & co. are optional; when given they must agree with the input,
 * so a PyTorch definition copied verbatim is checked rather than ignored. */
static bool check_declared(Ctx *c, Node *n, const LayerKeys *lk) {
  const Shape *s = &n->in[0]->shape;
  const char *src = q(n->in[0]->name), *shp = shape_str(s);
  bool ok = true;
  if (lk->at[K_IN_CH] && s->rank >= 2 && s->d[1] != lk->in_ch) {
    yerr(c, lk->at[K_IN_CH]->loc, "%s is %lld but the input '%s' has %lld channels (shape %s)", lk->key[K_IN_CH],
         (long long)lk->in_ch, src, (long long)s->d[1], shp);
    ok = false;
  }
  if (lk->at[K_IN_FEATURES] && s->rank >= 1 && s->d[s->rank - 1] != lk->in_features) {
    yerr(c, lk->at[K_IN_FEATURES]->loc, "in_features is %lld but the input '%s' has %lld features (shape %s)",
         (long long)lk->in_features, src, (long long)s->d[s->rank - 1], shp);
    ok = false;
  }
  if (lk->at[K_NORM_SHAPE]) {
    bool same = lk->nnorm == s->rank - 1;
    for (int i = 0; same && i < lk->nnorm; i++)
      same = lk->norm_shape[i] == s->d[i + 1];
    if (!same) {
      yerr(c, lk->at[K_NORM_SHAPE]->loc,
           "layernorm normalizes over the whole per-sample shape of '%s' (shape %s); normalized_shape must match it",
           src, shp);
      ok = false;
    }
  }
  return ok;
}

/* ------------------------------------------------------------- scopes */

static Sym *new_sym(const char *name, Tensor *t, SrcLoc loc) {
  Sym *y = cnnc_alloc(sizeof *y);
  y->name = name;
  y->t = t;
  y->loc = loc;
  return y;
}

static Sym *broken(void) {
  return new_sym("", NULL, (SrcLoc){0});
}

static const char *full_name(const Scope *s, const char *local) {
  return *s->prefix ? cnnc_fmt("%s.%s", s->prefix, local) : local;
}

/* Local names first, then dotted names below this scope (`sub.conv1`
 * reaches into a nested block instance; at top level `layer1.0.conv1`). */
static Sym *scope_lookup(Ctx *c, const Scope *s, const char *name) {
  Sym *y = hmap_get(&s->map, name);
  if (!y && strchr(name, '.'))
    y = hmap_get(&c->global, full_name(s, name));
  return y;
}

/* Is `name` free in scope s (and globally, as prefix.name)?  Reports the
 * duplicate with a note at the first definition otherwise. */
static bool name_free(Ctx *c, const Scope *s, const char *name, SrcLoc loc, bool automatic) {
  /* Local clashes name the local spelling (the use notes give the prefix);
   * clashes with names expanded elsewhere need the full dotted name. */
  Sym *y = hmap_get(&s->map, name);
  const char *shown = name;
  if (!y) {
    shown = full_name(s, name);
    y = hmap_get(&c->global, shown);
  }
  if (!y)
    return true;
  yerr_note(c, loc, y->loc, "first defined here", "duplicate layer name '%s'%s", q(shown),
            automatic ? " (the automatic name of this unnamed layer; give it a name)" : "");
  return false;
}

static void scope_put(Ctx *c, Scope *s, const char *name, Sym *y, bool node) {
  hmap_put(&s->map, name, y);
  VEC_PUSH(s->names, s->nnames, s->cap, name);
  if (node)
    hmap_put(&c->global, full_name(s, name), y);
}

/* --------------------------------------------------------------- layers */

static Sym *build_layers(Ctx *c, Scope *s, const YNode *list, Sym *first);

/* If `name` is defined by a later entry of `list`, where? */
static const YNode *later_def(const YNode *list, int idx, const char *name) {
  for (int i = idx + 1; i < list->nkid; i++) {
    const YNode *nv = map_get(list->kid[i], "name");
    if (nv && nv->kind == YN_SCALAR && !strcmp(nv->s, name))
      return nv;
  }
  return NULL;
}

/* Resolve `from:` (or the previous layer) into syms.  *nin = -1 if any
 * input is broken (skip silently).  False on a reported error. */
static bool resolve_from(Ctx *c, const Scope *s, const YNode *list, int idx, Sym *prev, Tensor ***ins, int *nin) {
  const YNode *e = list->kid[idx], *f = map_get(e, "from");
  *ins = NULL;
  *nin = 0;
  int cap = 0;
  if (!f) {
    if (!prev->t) {
      *nin = -1;
      return true;
    }
    VEC_PUSH(*ins, *nin, cap, prev->t);
    return true;
  }
  const YNode *const *items = f->kind == YN_SEQ ? (const YNode *const *)f->kid : &f;
  int n = f->kind == YN_SEQ ? f->nkid : 1;
  if (f->kind == YN_MAP || n == 0) {
    yerr(c, f->loc, "'from' must be a layer name or a list of names, not %s", n == 0 ? "an empty list" : describe(f));
    return false;
  }
  bool ok = true, brk = false;
  for (int i = 0; i < n; i++) {
    const char *name = get_str(c, items[i], "from");
    if (!name) {
      ok = false;
      continue;
    }
    Sym *y = scope_lookup(c, s, name);
    if (!y) {
      const YNode *later = later_def(list, idx, name);
      const char *m = cnnc_fmt("unknown layer or input '%s' in 'from'%s", q(name), dym(name, s->names, s->nnames));
      if (later)
        yerr_note(c, items[i]->loc, later->loc, "defined here, after the layer that reads it", "%s", m);
      else
        yerr(c, items[i]->loc, "%s", m);
      ok = false;
    } else if (!y->t) {
      brk = true;
    } else {
      VEC_PUSH(*ins, *nin, cap, y->t);
    }
  }
  if (ok && brk)
    *nin = -1;
  return ok;
}

/* check_keys() for a layer, which also says when a key belongs to another op
 * (`negative_slope` on relu: it is leaky_relu's). */
static bool check_layer_keys(Ctx *c, const YNode *e, OpKind op, const char *const *allowed, int na) {
  bool ok = true;
  for (int i = 0; i < MAP_N(e); i++) {
    const YNode *k = MAP_KEY(e, i);
    if (k->kind == YN_SCALAR && is_one_of(k->s, allowed, na))
      continue;
    const char *hint = k->kind == YN_SCALAR ? dym(k->s, allowed, na) : "";
    for (int o = 0; !*hint && o < OP__COUNT && k->kind == YN_SCALAR; o++)
      if (op_keys[o] && find_key(op_keys[o], k->s))
        hint = cnnc_fmt(" ('%s' is a key of %s)", k->s, op_info[o].name);
    yerr(c, k->loc, "unknown key '%s' in a %s layer%s", q(k->s), op_info[op].name, hint);
    ok = false;
  }
  return ok;
}

/* One `op:` layer.  The order matters for the one-error-per-mistake rule:
 * op, name, keys and inputs are each checked even when an earlier one
 * failed, and the name is registered (as broken) whenever it is valid, so a
 * later `from: thisname` does not add an "unknown layer" error. */
static Sym *build_layer(Ctx *c, Scope *s, const YNode *list, int idx, Sym *prev) {
  const YNode *e = list->kid[idx], *opv = map_get(e, "op"), *nv = map_get(e, "name");
  bool ok = true;
  OpKind op = OP__COUNT;
  if (!opv) {
    yerr(c, e->loc, "layer has no 'op' (or 'block') key");
    ok = false;
  } else if (get_str(c, opv, "op")) {
    op = ir_op_lookup(opv->s);
    if (op == OP__COUNT) {
      const char *names[OP__COUNT];
      for (int i = 0; i < OP__COUNT; i++)
        names[i] = op_info[i].name;
      Block *b = hmap_get(&c->blocks, opv->s);
      if (b) {
        b->used = true; /* the intent is clear; no "never used" warning */
        yerr(c, opv->loc, "unknown op '%s'; '%s' is a block: write 'block: %s'", q(opv->s), q(opv->s), q(opv->s));
      } else
        yerr(c, opv->loc, "unknown op '%s'%s", q(opv->s), dym(opv->s, names, OP__COUNT));
      ok = false;
    } else if (!op_keys[op]) {
      yerr(c, opv->loc, "op '%s' cannot be written in YAML models yet", op_info[op].name);
      op = OP__COUNT;
      ok = false;
    }
  } else {
    ok = false;
  }

  /* The name: given, or <op><index> (0-based position in this list). */
  const char *name = NULL;
  bool automatic = !nv;
  if (nv)
    name = get_name(c, nv, "layer name");
  else if (op != OP__COUNT)
    name = cnnc_fmt("%s%d", op_info[op].name, idx);
  SrcLoc nloc = nv ? nv->loc : e->loc;
  bool named_ok = name && name_free(c, s, name, nloc, automatic);
  ok &= named_ok;

  bool keys_ok = true;
  if (op != OP__COUNT) {
    const char *allowed[64];
    int na = 0;
    for (int i = 0; i < 3; i++)
      allowed[na++] = layer_common_keys[i];
    for (const KeySpec *k = op_keys[op]; k->key; k++)
      allowed[na++] = k->key;
    keys_ok = check_layer_keys(c, e, op, allowed, na);
    ok &= keys_ok;
  }

  Tensor **ins;
  int nin;
  ok &= resolve_from(c, s, list, idx, prev, &ins, &nin);
  if (ok && nin >= 0 && op != OP__COUNT) {
    int want = op_info[op].nin;
    if (want >= 0 && nin != want) {
      const YNode *f = map_get(e, "from");
      yerr(c, f ? f->loc : e->loc, "%s takes %d input%s, but 'from' names %d", op_info[op].name, want,
           want == 1 ? "" : "s", nin);
      ok = false;
    } else if (want < 0 && nin < 2) {
      yerr(c, e->loc, "%s needs 'from:' with a list of at least 2 inputs", op_info[op].name);
      ok = false;
    }
  }

  /* Keys are checked even when the layer cannot be built (broken input,
   * duplicate name), on a scratch node, so every mistake shows in one run. */
  Node scratch, *n = &scratch;
  bool create = ok && nin >= 0 && op != OP__COUNT && !c->stop;
  if (create) {
    if (++c->nlayers > YAML_MAX_LAYERS) {
      yerr(c, e->loc, "the model expands to more than %d layers", YAML_MAX_LAYERS);
      c->stop = true;
      create = false;
    }
  }
  const char *full = name ? full_name(s, name) : NULL;
  if (create) {
    n = ir_new_node(c->g, op, full, e->loc, ins, nin);
    UseFrame *top = c->use;
    while (top && top->up)
      top = top->up;
    if (top)
      n->use_loc = top->loc;
  } else {
    memset(&scratch, 0, sizeof scratch);
    scratch.op = op;
    scratch.name = full ? full : "?";
    scratch.loc = e->loc;
  }
  if (op != OP__COUNT) {
    LayerKeys lk;
    memset(&lk, 0, sizeof lk);
    ir_set_defaults(n);
    if (op == OP_HARDSIGMOID)
      n->alpha = 1.0 / 6.0, n->beta = 0.5; /* torch.nn.Hardsigmoid: relu6(x + 3) / 6 */
    if (op_info[op].flags & (OPF_CONV | OPF_POOL))
      n->spatial = op_spatial(op);
    ok &= apply_keys(c, n, e, &lk, keys_ok);
    if (ok && create)
      ok = check_declared(c, n, &lk);
  }
  if (create && ok && !shape_infer_node(c->g, n)) {
    use_notes(c); /* shape.c reported at n->loc, inside the block */
    ok = false;
  }
  if (create && !ok)
    n->dead = true; /* the graph is discarded; keep later passes off it anyway */

  Sym *y = new_sym(full ? full : "", create && ok ? n->out : NULL, nloc);
  if (named_ok)
    scope_put(c, s, name, y, true);
  return y;
}

/* ---------------------------------------------------------------- blocks */

/* One `block:` use: check the use site, then walk the block's layer list
 * once per instance in a fresh scope whose prefix is the use name (plus
 * `.<i>` with repeat), binding the block inputs to the use's inputs and the
 * parameters to an Env.  The use name then stands for the last instance's
 * output in the enclosing scope. */
static Sym *expand_use(Ctx *c, Scope *s, const YNode *list, int idx, Sym *prev) {
  const YNode *e = list->kid[idx], *bv = map_get(e, "block"), *nv = map_get(e, "name");
  bool ok = true;
  Block *b = NULL;
  const char *bname = get_str(c, bv, "block");
  if (bname) {
    b = hmap_get(&c->blocks, bname);
    if (!b) {
      const char **names = cnnc_realloc_array(NULL, (size_t)c->nblocks + 1, sizeof *names);
      for (int i = 0; i < c->nblocks; i++)
        names[i] = c->blist[i]->name;
      yerr(c, bv->loc, "unknown block '%s'%s", q(bname),
           c->nblocks ? dym(bname, names, c->nblocks) : " (there is no 'blocks:' section)");
      ok = false;
    } else {
      b->used = true;
    }
  } else {
    ok = false;
  }
  if (b && b->bad) {
    ok = false; /* its definition's errors are reported; check nothing more */
    b = NULL;
  }
  if (map_get(e, "op")) {
    yerr(c, map_key(e, "op")->loc, "a layer has either 'op' or 'block', not both");
    ok = false;
  }

  const char *name = NULL;
  if (nv)
    name = get_name(c, nv, "layer name");
  else if (bname && hmap_get(&c->blocks, bname))
    name = cnnc_fmt("%s%d", bname, idx);
  SrcLoc nloc = nv ? nv->loc : e->loc;
  bool named_ok = name && name_free(c, s, name, nloc, !nv);
  ok &= named_ok;

  int64_t repeat = 1;
  const YNode *rv = map_get(e, "repeat");
  if (rv && !get_int(c, rv, "repeat", 1, YAML_MAX_LAYERS, &repeat))
    ok = false;

  /* Parameters: use-site values (evaluated in the enclosing block's
   * environment) over the block's defaults. */
  int64_t *vals = NULL;
  bool keys_ok = true;
  if (b) {
    const char **allowed = cnnc_realloc_array(NULL, (size_t)b->np + 4, sizeof *allowed);
    for (int i = 0; i < 4; i++)
      allowed[i] = use_common_keys[i];
    for (int i = 0; i < b->np; i++)
      allowed[4 + i] = b->pname[i];
    for (int i = 0; i < MAP_N(e); i++) {
      const YNode *k = MAP_KEY(e, i);
      if (k->kind == YN_SCALAR && is_one_of(k->s, allowed, b->np + 4))
        continue;
      yerr(c, k->loc, "block '%s' has no parameter '%s'%s", q(b->name), q(k->s), dym(k->s, allowed + 4, b->np));
      ok = keys_ok = false;
    }
    vals = cnnc_realloc_array(NULL, (size_t)b->np + 1, sizeof *vals);
    /* keys_ok: after a misspelt parameter, "needs parameter" would repeat it */
    for (int i = 0; i < b->np; i++) {
      const YNode *pv = map_get(e, b->pname[i]);
      vals[i] = b->pdef[i];
      if (pv)
        ok &= get_int_any(c, pv, b->pname[i], &vals[i]);
      else if (b->preq[i]) {
        if (keys_ok)
          yerr(c, e->loc, "block '%s' needs parameter '%s'", q(b->name), b->pname[i]);
        ok = false;
      }
    }
  }

  Tensor **ins;
  int nin;
  ok &= resolve_from(c, s, list, idx, prev, &ins, &nin);
  if (b && ok && nin >= 0 && nin != b->ninput) {
    yerr(c, e->loc, "block '%s' takes %d input%s but gets %d", q(b->name), b->ninput, b->ninput == 1 ? "" : "s", nin);
    ok = false;
  }
  if (b && ok && repeat > 1 && b->ninput != 1) {
    yerr(c, rv->loc, "'repeat' needs a block with one input; '%s' has %d", q(b->name), b->ninput);
    ok = false;
  }
  if (b && b->expanding) {
    yerr(c, bv->loc, "block '%s' uses itself (directly or through other blocks)", q(b->name));
    ok = false;
  }
  if (b && c->use_depth >= YAML_MAX_BLOCK_DEPTH) {
    yerr(c, bv->loc, "blocks are nested more than %d deep", YAML_MAX_BLOCK_DEPTH);
    ok = false;
  }

  Sym *out = broken();
  if (ok && nin >= 0 && !c->stop) {
    b->expanding = true;
    Env env = {b->name, b->pname, vals, b->np};
    const Env *saved_env = c->env;
    const char *full = full_name(s, name);
    for (int64_t r = 0; r < repeat && !c->stop; r++) {
      Scope bs = {0};
      bs.prefix = rv ? cnnc_fmt("%s.%lld", full, (long long)r) : full;
      UseFrame f = {b->name, bs.prefix, e->loc, c->use};
      c->use = &f;
      c->use_depth++;
      c->env = &env;
      Sym *first = NULL;
      for (int i = 0; i < b->ninput; i++) {
        Sym *y = new_sym(b->input[i], ins[i], b->input_loc[i]);
        y->is_input = true;
        scope_put(c, &bs, b->input[i], y, false);
        if (!first)
          first = y;
      }
      Sym *last = build_layers(c, &bs, b->layers, first);
      if (b->output) {
        last = scope_lookup(c, &bs, b->output->s);
        if (!last) {
          yerr(c, b->output->loc, "block output '%s' is not a layer of block '%s'%s", q(b->output->s), q(b->name),
               dym(b->output->s, bs.names, bs.nnames));
          last = broken();
        }
      }
      c->env = saved_env;
      c->use_depth--;
      c->use = f.up;
      out = last;
      if (!last->t)
        break;
      ins[0] = last->t; /* instance r+1 reads instance r */
    }
    b->expanding = false;
  }
  Sym *y = new_sym(name ? full_name(s, name) : "", out->t, nloc);
  if (named_ok)
    scope_put(c, s, name, y, false);
  return y;
}

/* Walk a layer list (top level or a block instance); `first` is what the
 * first layer reads by default.  Returns the last layer's symbol. */
static Sym *build_layers(Ctx *c, Scope *s, const YNode *list, Sym *first) {
  Sym *prev = first;
  for (int i = 0; i < list->nkid && !c->stop; i++) {
    const YNode *e = list->kid[i];
    if (e->kind != YN_MAP) {
      yerr(c, e->loc, "a layer must be a mapping such as {op: relu}, not %s", describe(e));
      prev = broken();
      continue;
    }
    prev = map_get(e, "block") ? expand_use(c, s, list, i, prev) : build_layer(c, s, list, i, prev);
  }
  return prev;
}

static bool valid_param(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* A block definition is only checked for its own structure here (params,
 * inputs, output, layers); its layers are checked when a use expands them,
 * because their values depend on the use's parameters. */
static void parse_block(Ctx *c, const YNode *key, const YNode *def) {
  static const char *const keys[] = {"params", "inputs", "output", "layers"};
  const char *name = get_name(c, key, "block name");
  if (!name)
    return;
  /* Registered even when broken, so that its uses are skipped quietly
   * instead of each reporting "unknown block". */
  Block *b = cnnc_alloc(sizeof *b);
  b->name = name;
  b->loc = key->loc;
  hmap_put(&c->blocks, name, b);
  VEC_PUSH(c->blist, c->nblocks, c->capblocks, b);
  if (!want_map(c, def, cnnc_fmt("block '%s'", q(name)))) {
    b->bad = true;
    return;
  }
  bool keys_ok = check_keys(c, def, keys, 4, cnnc_fmt("block '%s'", q(name))), ok = keys_ok;

  const YNode *pv = map_get(def, "params");
  if (pv && want_map(c, pv, "'params'")) {
    int n = MAP_N(pv);
    b->pname = cnnc_realloc_array(NULL, (size_t)n + 1, sizeof *b->pname);
    b->pdef = cnnc_realloc_array(NULL, (size_t)n + 1, sizeof *b->pdef);
    b->preq = cnnc_realloc_array(NULL, (size_t)n + 1, sizeof *b->preq);
    for (int i = 0; i < n; i++) {
      const YNode *k = MAP_KEY(pv, i), *v = MAP_VAL(pv, i);
      if (k->kind != YN_SCALAR || !valid_param(k->s)) {
        yerr(c, k->loc, "block parameter names must be identifiers (letters, digits, '_')");
        ok = false;
        continue;
      }
      if (is_one_of(k->s, use_common_keys, 4)) {
        yerr(c, k->loc, "'%s' cannot be a block parameter: it is a key of every block use", k->s);
        ok = false;
        continue;
      }
      int64_t d = 0;
      bool req = v->kind == YN_SCALAR && !v->quoted && scalar_value(v).cls == SC_NULL;
      if (!req) {
        if (v->kind == YN_SCALAR && scalar_value(v).cls == SC_EXPR) {
          yerr(c, v->loc, "the default of parameter '%s' must be an integer, not an expression", k->s);
          ok = false;
          continue;
        }
        if (!get_int_any(c, v, k->s, &d)) {
          ok = false;
          continue;
        }
      }
      b->pname[b->np] = k->s;
      b->pdef[b->np] = d;
      b->preq[b->np] = req;
      b->np++;
    }
  } else if (pv) {
    ok = false;
  }

  const YNode *iv = map_get(def, "inputs");
  if (iv) {
    const YNode *const *items = iv->kind == YN_SEQ ? (const YNode *const *)iv->kid : &iv;
    int n = iv->kind == YN_SEQ ? iv->nkid : 1;
    if (iv->kind == YN_MAP || n == 0) {
      yerr(c, iv->loc, "block 'inputs' must be a name or a non-empty list of names");
      ok = false;
      n = 0;
    }
    b->input = cnnc_realloc_array(NULL, (size_t)n + 1, sizeof *b->input);
    b->input_loc = cnnc_realloc_array(NULL, (size_t)n + 1, sizeof *b->input_loc);
    for (int i = 0; i < n; i++) {
      const char *in = get_name(c, items[i], "block input name");
      if (!in) {
        ok = false;
        continue;
      }
      for (int j = 0; j < b->ninput; j++)
        if (!strcmp(b->input[j], in)) {
          yerr_note(c, items[i]->loc, b->input_loc[j], "first given here", "block input '%s' is listed twice", q(in));
          ok = false;
        }
      b->input[b->ninput] = in;
      b->input_loc[b->ninput++] = items[i]->loc;
    }
  } else {
    b->input = cnnc_alloc(sizeof *b->input);
    b->input_loc = cnnc_alloc(sizeof *b->input_loc);
    b->input[0] = "in";
    b->input_loc[0] = key->loc;
    b->ninput = 1;
  }

  const YNode *ov = map_get(def, "output");
  if (ov) {
    if (get_name(c, ov, "block output"))
      b->output = (YNode *)ov;
    else
      ok = false;
  }
  const YNode *lv = map_get(def, "layers");
  if (!lv) {
    if (keys_ok) /* else a misspelt `layers` was just reported */
      yerr(c, def->loc, "block '%s' has no 'layers'", q(name));
    ok = false;
  } else if (lv->kind != YN_SEQ || lv->nkid == 0) {
    yerr(c, lv->loc, "block 'layers' must be a non-empty list, not %s",
         lv->kind == YN_SEQ ? "an empty list" : describe(lv));
    ok = false;
  } else {
    b->layers = (YNode *)lv;
  }
  b->bad = !ok;
}

static void parse_blocks(Ctx *c, const YNode *v) {
  if (!want_map(c, v, "'blocks'"))
    return;
  for (int i = 0; i < MAP_N(v); i++)
    parse_block(c, MAP_KEY(v, i), MAP_VAL(v, i));
}

/* -------------------------------------------------------- top level */

/* `inputs:` shapes are per sample; the compiled batch (--batch) is
 * prepended so that every activation in the IR carries d[0] = batch. */
static void parse_inputs(Ctx *c, Scope *top, const YNode *v) {
  static const char *const keys[] = {"name", "shape"};
  if (v->kind != YN_SEQ || v->nkid == 0) {
    yerr(c, v->loc, "'inputs' must be a non-empty list of {name, shape}, not %s",
         v->kind == YN_SEQ ? "an empty list" : describe(v));
    return;
  }
  for (int i = 0; i < v->nkid; i++) {
    const YNode *e = v->kid[i];
    if (!want_map(c, e, "an input"))
      continue;
    bool ok = check_keys(c, e, keys, 2, "an input");
    const YNode *nv = map_get(e, "name"), *sv = map_get(e, "shape");
    const char *name = NULL;
    bool keys_ok = ok;
    if (!nv) {
      if (keys_ok)
        yerr(c, e->loc, "input needs a 'name'");
      ok = false;
    } else if (!(name = get_name(c, nv, "input name")) || !name_free(c, top, name, nv->loc, false)) {
      ok = false;
      name = NULL;
    }
    int64_t d[MAX_RANK];
    int rank = 0;
    if (!sv) {
      if (keys_ok)
        yerr(c, e->loc, "input needs a 'shape' (per sample, without the batch: [C, H, W])");
      ok = false;
    } else if (!get_ints(c, sv, "shape", 1, INT32_MAX, 0x3eu,
                         "a list of 1 to 5 positive ints (per sample, without the batch)", d + 1, &rank)) {
      ok = false;
    }
    d[0] = c->g->batch;
    int64_t bytes = 4;
    for (int k = 0; ok && k <= rank; k++)
      if (ckd_mul(&bytes, bytes, d[k])) {
        yerr(c, sv->loc, "input '%s' is too large (%d x the shape overflows 64 bits)", q(name), c->g->batch);
        ok = false;
      }
    Tensor *t = NULL;
    if (ok) {
      t = ir_new_tensor(c->g, name, TK_INPUT, shape_make(rank + 1, d));
      t->loc = nv->loc;
      VEC_PUSH(c->g->inputs, c->g->ninputs, c->cap_inputs, t);
    }
    if (name) {
      Sym *y = new_sym(name, t, nv->loc);
      y->is_input = true;
      scope_put(c, top, name, y, true);
    }
  }
}

/* Outputs in the listed order (the generated API's argument order); without
 * `outputs:` the last layer.  Broken layers are skipped silently. */
static void parse_outputs(Ctx *c, Scope *top, const YNode *v, Sym *last) {
  if (!v) {
    if (last->t && !last->t->is_output) {
      last->t->is_output = true;
      VEC_PUSH(c->g->outputs, c->g->noutputs, c->cap_outputs, last->t);
    }
    return;
  }
  const YNode *const *items = v->kind == YN_SEQ ? (const YNode *const *)v->kid : &v;
  int n = v->kind == YN_SEQ ? v->nkid : 1;
  if (v->kind == YN_MAP || n == 0) {
    yerr(c, v->loc, "'outputs' must be a layer name or a non-empty list of names");
    return;
  }
  for (int i = 0; i < n; i++) {
    const char *name = get_str(c, items[i], "outputs");
    if (!name)
      continue;
    Sym *y = scope_lookup(c, top, name);
    if (!y)
      yerr(c, items[i]->loc, "unknown layer '%s' in 'outputs'%s", q(name), dym(name, top->names, top->nnames));
    else if (y->is_input)
      yerr(c, items[i]->loc, "'%s' is a graph input; outputs must be layers", q(name));
    else if (y->t && y->t->is_output)
      yerr(c, items[i]->loc, "'%s' is already an output (listed twice in 'outputs')", q(name));
    else if (y->t) {
      y->t->is_output = true;
      VEC_PUSH(c->g->outputs, c->g->noutputs, c->cap_outputs, y->t);
    }
  }
}

/* --------------------------------------------------------------- train */

static bool freeze_match(const char *pat, const char *name) {
  size_t n = strlen(pat);
  return strncmp(name, pat, n) == 0 && (name[n] == '\0' || name[n] == '.' || pat[n - 1] == '.');
}

/* `freeze:` entries are layer names or dotted prefixes (`layer1` freezes
 * layer1.0.conv1, ...).  TrainSpec.freeze receives the exact names of the
 * frozen layers, in graph order, so pass_grad needs no pattern logic. */
static void parse_freeze(Ctx *c, TrainSpec *t, const YNode *v) {
  const YNode *const *items = v->kind == YN_SEQ ? (const YNode *const *)v->kid : &v;
  int n = v->kind == YN_SEQ ? v->nkid : 1;
  if (v->kind == YN_MAP) {
    yerr(c, v->loc, "'freeze' must be a list of layer names or prefixes");
    return;
  }
  Graph *g = c->g;
  const char **pats = cnnc_realloc_array(NULL, (size_t)n + 1, sizeof *pats);
  int np = 0;
  for (int i = 0; i < n; i++) {
    const char *p = get_str(c, items[i], "freeze");
    if (!p)
      continue;
    bool hit = false;
    for (int j = 0; j < g->nnodes && !hit; j++)
      hit = freeze_match(p, g->nodes[j]->name);
    if (!hit) {
      const char **names = cnnc_realloc_array(NULL, (size_t)g->nnodes + 1, sizeof *names);
      for (int j = 0; j < g->nnodes; j++)
        names[j] = g->nodes[j]->name;
      yerr(c, items[i]->loc, "'freeze' entry '%s' matches no layer%s", q(p), dym(p, names, g->nnodes));
      continue;
    }
    pats[np++] = p;
  }
  int cap = 0;
  for (int j = 0; j < g->nnodes; j++)
    for (int i = 0; i < np; i++)
      if (freeze_match(pats[i], g->nodes[j]->name)) {
        VEC_PUSH(t->freeze, t->nfreeze, cap, g->nodes[j]->name);
        break;
      }
}

/* torch.optim names and defaults; a key of another optimizer type is named
 * as such rather than silently ignored (SGD has no betas). */
static void parse_optimizer(Ctx *c, TrainSpec *t, const YNode *v) {
  static const char *const types[] = {"sgd", "adam", "adamw", "rmsprop"};
  static const char *const sgd[] = {"type", "lr", "momentum", "dampening", "nesterov", "weight_decay"};
  static const char *const adam[] = {"type", "lr", "betas", "eps", "weight_decay", "amsgrad"};
  static const char *const rmsprop[] = {"type", "lr", "alpha", "eps", "momentum", "weight_decay"};
  static const char *const any[] = {"type",         "lr",    "momentum", "dampening", "nesterov",
                                    "weight_decay", "betas", "eps",      "amsgrad",   "alpha"};
  if (!want_map(c, v, "'optimizer'"))
    return;
  const YNode *tv = map_get(v, "type");
  if (!tv) {
    yerr(c, v->loc, "optimizer needs a 'type' (sgd, adam, adamw or rmsprop)");
    return;
  }
  int ty = get_enum(c, tv, "optimizer", types, 4);
  if (ty < 0)
    return;
  t->optimizer = types[ty];
  /* torch.optim defaults */
  t->momentum = t->dampening = t->weight_decay = 0;
  t->beta1 = 0.9, t->beta2 = 0.999, t->eps = 1e-8, t->alpha = 0.99;
  if (ty == 2)
    t->weight_decay = 0.01;
  const char *const *allowed = ty == 0 ? sgd : ty == 3 ? rmsprop : adam;
  bool keys_ok = true;
  for (int i = 0; i < MAP_N(v); i++) {
    const YNode *k = MAP_KEY(v, i);
    if (k->kind == YN_SCALAR && is_one_of(k->s, allowed, 6))
      continue;
    keys_ok = false;
    if (k->kind == YN_SCALAR && is_one_of(k->s, any, 10))
      yerr(c, k->loc, "'%s' is not a parameter of %s", k->s, types[ty]);
    else
      yerr(c, k->loc, "unknown key '%s' in 'optimizer'%s", q(k->s), dym(k->s, allowed, 6));
  }
  const YNode *x;
  if (!(x = map_get(v, "lr"))) {
    if (keys_ok)
      yerr(c, v->loc, "optimizer needs 'lr' (the learning rate)");
  } else
    get_num(c, x, "lr", NUM_NONNEG, &t->lr);
  if ((x = map_get(v, "momentum")) && ty != 1 && ty != 2)
    get_num(c, x, "momentum", NUM_NONNEG, &t->momentum);
  if ((x = map_get(v, "dampening")) && ty == 0)
    get_num(c, x, "dampening", NUM_ANY, &t->dampening);
  if ((x = map_get(v, "weight_decay")))
    get_num(c, x, "weight_decay", NUM_NONNEG, &t->weight_decay);
  if ((x = map_get(v, "eps")) && ty != 0)
    get_num(c, x, "eps", NUM_NONNEG, &t->eps);
  if ((x = map_get(v, "alpha")) && ty == 3)
    get_num(c, x, "alpha", NUM_NONNEG, &t->alpha);
  if ((x = map_get(v, "betas")) && (ty == 1 || ty == 2)) {
    if (x->kind != YN_SEQ || x->nkid != 2)
      yerr(c, x->loc, "'betas' must be a list of 2 numbers [beta1, beta2], not %s",
           x->kind == YN_SEQ ? cnnc_fmt("a list of %d", x->nkid) : describe(x));
    else {
      get_num(c, x->kid[0], "betas", NUM_UNIT_OPEN, &t->beta1);
      get_num(c, x->kid[1], "betas", NUM_UNIT_OPEN, &t->beta2);
    }
  }
  if ((x = map_get(v, "amsgrad")) && (ty == 1 || ty == 2) && get_bool(c, x, "amsgrad", &t->amsgrad) && t->amsgrad) {
    yerr(c, x->loc, "amsgrad: true is not supported");
  }
  if ((x = map_get(v, "nesterov")) && ty == 0 && get_bool(c, x, "nesterov", &t->nesterov) && t->nesterov &&
      (t->momentum <= 0 || t->dampening != 0))
    yerr(c, x->loc, "nesterov momentum requires momentum > 0 and dampening 0 (as in torch.optim.SGD)");
}

static void parse_schedule(Ctx *c, TrainSpec *t, const YNode *v) {
  static const char *const types[] = {"step", "cosine"};
  static const char *const keys[] = {"type", "step_size", "gamma", "T_max", "eta_min"};
  if (!want_map(c, v, "'schedule'"))
    return;
  bool keys_ok = check_keys(c, v, keys, 5, "'schedule'");
  const YNode *tv = map_get(v, "type"), *x;
  if (!tv && !keys_ok)
    return;
  if (!tv) {
    yerr(c, v->loc, "schedule needs a 'type' (step or cosine)");
    return;
  }
  int ty = get_enum(c, tv, "schedule", types, 2);
  if (ty < 0)
    return;
  t->schedule = types[ty];
  t->gamma = 0.1;
  t->eta_min = 0;
  const char *need = ty == 0 ? "step_size" : "T_max";
  const char *const other[2][2] = {{"T_max", "eta_min"}, {"step_size", "gamma"}};
  for (int i = 0; i < 2; i++)
    if ((x = map_get(v, other[ty][i])))
      yerr(c, map_key(v, other[ty][i])->loc, "'%s' does not apply to a %s schedule", other[ty][i], types[ty]);
  if (!(x = map_get(v, need))) {
    if (keys_ok)
      yerr(c, v->loc, "a %s schedule needs '%s'", types[ty], need);
    return;
  }
  int *dst = ty == 0 ? &t->step_size : &t->t_max;
  get_i32(c, x, need, 1, dst);
  if (ty == 0 && (x = map_get(v, "gamma")))
    get_num(c, x, "gamma", NUM_NONNEG, &t->gamma);
  if (ty == 1 && (x = map_get(v, "eta_min")))
    get_num(c, x, "eta_min", NUM_NONNEG, &t->eta_min);
}

static void parse_train(Ctx *c, const YNode *v) {
  static const char *const keys[] = {"loss", "optimizer", "freeze", "schedule", "clip_grad_norm"};
  static const char *const losses[] = {"cross_entropy", "nll", "mse", "l1"};
  if (!want_map(c, v, "'train'"))
    return;
  bool keys_ok = check_keys(c, v, keys, 5, "'train'");
  TrainSpec *t = cnnc_alloc(sizeof *t);
  t->loc = v->loc;
  const YNode *x;
  if (!(x = map_get(v, "loss"))) {
    if (keys_ok)
      yerr(c, v->loc, "'train' needs a 'loss' (cross_entropy, nll, mse or l1)");
  } else {
    int l = get_enum(c, x, "loss", losses, 4);
    if (l >= 0)
      t->loss = losses[l];
  }
  if (!(x = map_get(v, "optimizer"))) {
    if (keys_ok)
      yerr(c, v->loc, "'train' needs an 'optimizer', such as {type: sgd, lr: 0.01}");
  } else
    parse_optimizer(c, t, x);
  if ((x = map_get(v, "freeze")))
    parse_freeze(c, t, x);
  if ((x = map_get(v, "schedule")))
    parse_schedule(c, t, x);
  if ((x = map_get(v, "clip_grad_norm")))
    get_num(c, x, "clip_grad_norm", NUM_POS, &t->clip_grad_norm);
  c->g->train = t;
}

/* ---------------------------------------------------------------- model */

/* The symbol prefix when the file has no `name:`: its stem as an identifier. */
static const char *stem_name(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *dot = strrchr(b, '.');
  return to_c_identifier(cnnc_strndup(b, dot && dot != b ? (size_t)(dot - b) : strlen(b)));
}

/* The top-level mapping.  Order: the graph (name, batch) before inputs,
 * blocks before layers that use them, train after layers (freeze names
 * layers), and weights last, only when everything else was clean. */
static void build_model(Ctx *c, const YNode *root) {
  static const char *const top_keys[] = {"cnnc",   "name",    "inputs", "weights", "init",
                                         "layers", "outputs", "blocks", "train"};
  /* weights.c's schemes; "default" is what torch.nn's reset_parameters does. */
  static const char *const schemes[] = {"default", "kaiming_uniform", "kaiming_normal", "xavier_uniform",
                                        "xavier_normal"};
  check_keys(c, root, top_keys, 9, "the model");
  const YNode *v;
  int64_t ver;
  if (!(v = map_get(root, "cnnc")))
    yerr(c, root->loc, "missing 'cnnc: 1' (the format version)");
  else if (get_int_any(c, v, "cnnc", &ver) && ver != 1)
    yerr(c, v->loc, "unsupported format version %lld (this cnnc reads version 1)", (long long)ver);

  const char *name = NULL;
  if ((v = map_get(root, "name")) && (name = get_str(c, v, "name")) && !is_c_identifier(name)) {
    yerr(c, v->loc, "'name' must be a C identifier (it prefixes every generated symbol), not '%s'", q(name));
    name = NULL;
  }
  if (c->opt->name)
    name = c->opt->name;
  if (!name)
    name = stem_name(c->path);
  Graph *g = c->g = ir_new_graph(name);
  g->file = c->path;
  g->batch = c->opt->batch >= 1 ? c->opt->batch : 1;

  Scope top = {0};
  top.prefix = "";
  if (!(v = map_get(root, "inputs")))
    yerr(c, root->loc, "missing 'inputs' (a list of {name, shape})");
  else
    parse_inputs(c, &top, v);
  if ((v = map_get(root, "blocks")))
    parse_blocks(c, v);

  Sym *last = broken();
  if (!(v = map_get(root, "layers"))) {
    yerr(c, root->loc, "missing 'layers'");
  } else if (v->kind != YN_SEQ || v->nkid == 0) {
    yerr(c, v->loc, "'layers' must be a non-empty list, not %s", v->kind == YN_SEQ ? "an empty list" : describe(v));
  } else {
    Sym *first = top.nnames > 0 ? hmap_get(&top.map, top.names[0]) : broken();
    last = build_layers(c, &top, v, first);
    if (last->is_input)
      last = broken(); /* a block whose output is its input: not a layer */
  }
  parse_outputs(c, &top, map_get(root, "outputs"), last);
  if ((v = map_get(root, "train")))
    parse_train(c, v);

  /* init is parsed even when unused so that its mistakes are reported. */
  uint64_t seed = 1;
  const char *scheme = schemes[0];
  const YNode *iv = map_get(root, "init");
  if (iv && want_map(c, iv, "'init'")) {
    static const char *const keys[] = {"seed", "scheme"};
    check_keys(c, iv, keys, 2, "'init'");
    int64_t s;
    if ((v = map_get(iv, "seed")) && get_int(c, v, "seed", 0, INT64_MAX, &s))
      seed = (uint64_t)s;
    int k;
    if ((v = map_get(iv, "scheme")) && (k = get_enum(c, v, "scheme", schemes, 5)) >= 0)
      scheme = schemes[k];
  }
  const YNode *wv = map_get(root, "weights");
  const char *wpath = wv ? get_str(c, wv, "weights") : NULL;
  if (wv && iv)
    diag_warning(map_key(root, "init")->loc, "'init' is ignored because 'weights' is given");
  for (int i = 0; i < c->nblocks; i++)
    if (!c->blist[i]->used && !c->blist[i]->bad)
      diag_warning(c->blist[i]->loc, "block '%s' is never used", q(c->blist[i]->name));

  /* Weights depend on a complete graph: with errors they would only add
   * "missing tensor" noise. */
  if (diag_count() > 0)
    return;
  g->seed = seed;
  if (c->opt->weights)
    weights_load(g, c->opt->weights, (SrcLoc){0}, c->opt->allow_nonfinite);
  else if (wpath)
    weights_load(g, wpath[0] == '/' ? wpath : path_join(path_dirname(c->path), wpath), map_key(root, "weights")->loc,
                 c->opt->allow_nonfinite);
  else
    weights_init(g, seed, scheme);
}

/* Document-level problems (syntax, anchors, tags, duplicates, limits) stop
 * before the walk: the tree would have holes that produce bogus errors. */
Graph *yaml_load(const char *path, const Options *opt) {
  static const Options no_options;
  size_t len = 0;
  char *text = read_file(path, YAML_MAX_FILE, &len);
  if (!text)
    return NULL;
  diag_add_source(path, text, len);
  Ctx c = {0};
  c.path = path;
  c.text = text;
  c.len = len;
  c.opt = opt ? opt : &no_options;
  YNode *root = tree_parse(&c);
  if (!root)
    return NULL;
  build_model(&c, root);
  return diag_count() > 0 ? NULL : c.g;
}
