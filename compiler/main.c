/* main.c - the cnnc driver: command line, the flat pass pipeline, run/check.
 *
 *   cnnc MODEL -o model.c [--emit=c|h|ir|dot|obj|asm]   compile
 *   cnnc info MODEL [--json]                             what the compiler did
 *   cnnc run MODEL --input x.npy ... --output y.npy      compile, execute once
 *   cnnc check MODEL --input x.npy --expect y.npy        golden regression
 *
 * Exit status: 0 ok, 1 check mismatch, 2 usage or input error.  User errors
 * are reported as file:line:col diagnostics; each phase runs to the end so a
 * single run lists every problem, then the driver stops before the next.
 */
#define _GNU_SOURCE
#include "backend.h"
#include "ir.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct Cmd {
  const char *verb; /* compile | info | run | check */
  const char *model;
  const char *out;
  const char *emit;
  const char *backend;
  const char *inputs[16];
  int ninputs;
  const char *outputs[16];
  int noutputs;
  const char *expect[16];
  int nexpect;
  const char *weights_out;
  const char *target, *grads_out, *params_out;
  int steps;
  double rtol, atol;
  bool json, keep, batch_given, train;
  Options opt;
} Cmd;

static void usage(FILE *f) {
  fprintf(f,
          "usage: cnnc MODEL -o OUT.c [options]         compile a YAML or ONNX model to C\n"
          "       cnnc MODEL --emit=c|h|ir|dot|obj|asm -o OUT\n"
          "       cnnc info MODEL [--json]               per-layer shapes, FLOPs, algorithms, arena\n"
          "       cnnc run MODEL --input x.npy [--input ...] --output y.npy [--output ...]\n"
          "       cnnc check MODEL --input x.npy --expect y.npy [--rtol R] [--atol A]\n"
          "options:\n"
          "  -o FILE            output file (C: FILE and FILE's .h beside it)\n"
          "  -O0..-O3           optimisation level (default -O2)\n"
          "  --batch N          compiled maximum batch (default 1; run/check use the input's)\n"
          "  --name PREFIX      symbol prefix (default: the model name)\n"
          "  --weights FILE     weights (safetensors) instead of the model's own\n"
          "  --no-fold          disable constant and batch-norm folding\n"
          "  --algo LAYER=ALGO  force direct|gemm1x1|im2col|winograd|fft for a conv layer\n"
          "                     (winograd2 / winograd4: Winograd F(2,3) / F(4,3))\n"
          "  --tune             time the conv algorithms on this machine instead of estimating\n"
          "  --lowrank R        allow approximate separable decomposition of rank <= R\n"
          "  --threads N        threads for run/check (OpenMP builds)\n"
          "  --backend=c        how run/check build the code\n"
          "  --allow-nonfinite  accept NaN/Inf in weights\n"
          "  -d LETTERS         dump the IR after passes: L load, F fold, S separable, U fuse, A algorithms, M memory,\n"
          "                     G autodiff, T training memory plan\n"
          "training (cnnc run MODEL --train ...):\n"
          "  --target t.npy     class indices (int32/int64) or float targets\n"
          "  --steps N          train steps on the one batch (default 1)\n"
          "  --output loss.npy  the N losses;  --grads g.safetensors  d(loss)/d(param) of the last step\n"
          "  --params-out p.safetensors  parameters and buffers after the steps\n"
          "  --version, --help\n");
}

static bool parse_int(const char *s, long lo, long hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi)
    return false;
  *out = (int)v;
  return true;
}

/* An --algo value: an algorithm name, or winograd2 / winograd4 for the
 * Winograd output tile F(2,3) / F(4,3) (*tile 0: the pass chooses). */
static int algo_lookup(const char *s, int *tile) {
  *tile = 0;
  if (!strcmp(s, "winograd2") || !strcmp(s, "winograd4")) {
    *tile = s[8] - '0';
    return ALGO_WINOGRAD;
  }
  for (int a = ALGO_DIRECT; a <= ALGO_FFT; a++)
    if (!strcmp(algo_name(a), s))
      return a;
  return -1;
}

/* Parse argv; returns false after reporting a usage error. */
static bool parse_args(int argc, char **argv, Cmd *c) {
  memset(c, 0, sizeof *c);
  c->verb = "compile";
  c->rtol = 1e-4;
  c->atol = 0;
  c->opt.opt_level = 2;
  c->opt.batch = 1;
  c->opt.threads = 1;
  c->backend = "c";
  int i = 1;
  if (argc > 1 && (!strcmp(argv[1], "info") || !strcmp(argv[1], "run") || !strcmp(argv[1], "check"))) {
    c->verb = argv[1];
    i = 2;
  }
  bool ok = true;
  c->opt.algo_layer = cnnc_alloc(sizeof(char *) * (size_t)argc);
  c->opt.algo_choice = cnnc_alloc(sizeof(int) * (size_t)argc);
  c->opt.algo_tile = cnnc_alloc(sizeof(int) * (size_t)argc);
  for (; i < argc; i++) {
    const char *a = argv[i];
#define VALUE()                                                                                                 \
  ({                                                                                                            \
    const char *eq_ = strchr(a, '=');                                                                           \
    const char *v_ = eq_ && a[1] == '-' ? eq_ + 1 : (i + 1 < argc ? argv[++i] : NULL);                         \
    if (!v_) {                                                                                                  \
      fprintf(stderr, "cnnc: error: option '%s' needs a value\n", a);                                          \
      return false;                                                                                             \
    }                                                                                                           \
    v_;                                                                                                         \
  })
#define IS(name) (!strcmp(a, name) || (!strncmp(a, name "=", sizeof(name)) && a[1] == '-'))
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--version")) {
      printf("cnnc %s\n", CNNC_VERSION);
      exit(0);
    } else if (!strcmp(a, "-o")) {
      c->out = VALUE();
    } else if (IS("--output")) {
      const char *v = VALUE();
      if (!strcmp(c->verb, "compile"))
        c->out = v;
      else if (c->noutputs < 16)
        c->outputs[c->noutputs++] = v;
    } else if (IS("--input")) {
      const char *v = VALUE();
      if (c->ninputs < 16)
        c->inputs[c->ninputs++] = v;
    } else if (IS("--expect")) {
      const char *v = VALUE();
      if (c->nexpect < 16)
        c->expect[c->nexpect++] = v;
    } else if (IS("--emit")) {
      c->emit = VALUE();
    } else if (IS("--backend")) {
      c->backend = VALUE();
    } else if (IS("--name")) {
      c->opt.name = VALUE();
      if (!is_c_identifier(c->opt.name)) {
        fprintf(stderr, "cnnc: error: --name '%s' is not a C identifier\n", c->opt.name);
        ok = false;
      }
    } else if (IS("--weights")) {
      c->opt.weights = VALUE();
    } else if (IS("--weights-out")) {
      c->weights_out = VALUE();
    } else if (IS("--batch")) {
      const char *v = VALUE();
      if (!parse_int(v, 1, 65536, &c->opt.batch)) {
        fprintf(stderr, "cnnc: error: --batch needs an integer in 1..65536, got '%s'\n", v);
        ok = false;
      }
      c->batch_given = true;
    } else if (IS("--threads")) {
      const char *v = VALUE();
      if (!parse_int(v, 1, 1024, &c->opt.threads)) {
        fprintf(stderr, "cnnc: error: --threads needs an integer in 1..1024, got '%s'\n", v);
        ok = false;
      }
    } else if (IS("--rtol") || IS("--atol")) {
      bool r = a[2] == 'r';
      const char *v = VALUE();
      char *end;
      double d = strtod(v, &end);
      if (*end || end == v || !(d >= 0) || isinf(d)) {
        fprintf(stderr, "cnnc: error: %s needs a non-negative number, got '%s'\n", r ? "--rtol" : "--atol", v);
        ok = false;
      }
      *(r ? &c->rtol : &c->atol) = d;
    } else if (IS("--algo")) {
      const char *v = VALUE();
      const char *eq = strrchr(v, '=');
      int tile = 0, al = eq ? algo_lookup(eq + 1, &tile) : -1;
      if (!eq || al < 0) {
        fprintf(stderr, "cnnc: error: --algo needs LAYER=direct|gemm1x1|im2col|winograd|winograd2|winograd4|fft, "
                        "got '%s'\n", v);
        ok = false;
      } else {
        c->opt.algo_layer[c->opt.nalgo] = cnnc_strndup(v, (size_t)(eq - v));
        c->opt.algo_tile[c->opt.nalgo] = tile;
        c->opt.algo_choice[c->opt.nalgo++] = al;
      }
    } else if (IS("--target")) {
      c->target = VALUE();
    } else if (IS("--grads")) {
      c->grads_out = VALUE();
    } else if (IS("--params-out")) {
      c->params_out = VALUE();
    } else if (IS("--steps")) {
      const char *v = VALUE();
      if (!parse_int(v, 1, 100000000, &c->steps)) {
        fprintf(stderr, "cnnc: error: --steps needs a positive integer, got '%s'\n", v);
        ok = false;
      }
    } else if (IS("--lowrank")) {
      const char *v = VALUE();
      if (!parse_int(v, 1, 64, &c->opt.lowrank)) {
        fprintf(stderr, "cnnc: error: --lowrank needs a rank in 1..64, got '%s'\n", v);
        ok = false;
      }
    } else if (!strcmp(a, "--tune")) {
      c->opt.tune = true;
    } else if (!strcmp(a, "--train")) {
      c->train = true;
    } else if (!strcmp(a, "--json")) {
      c->json = true;
    } else if (!strcmp(a, "--keep")) {
      c->keep = true;
    } else if (!strcmp(a, "--no-fold")) {
      c->opt.no_fold = true;
    } else if (!strcmp(a, "--allow-nonfinite")) {
      c->opt.allow_nonfinite = true;
    } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) {
      c->opt.opt_level = a[2] - '0';
    } else if (a[0] == '-' && a[1] == 'd') {
      c->opt.dump_after = a[2] ? a + 2 : VALUE();
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "cnnc: error: unknown option '%s' (see cnnc --help)\n", a);
      ok = false;
    } else if (!c->model) {
      c->model = a;
    } else {
      fprintf(stderr, "cnnc: error: unexpected argument '%s' (one model per run)\n", a);
      ok = false;
    }
#undef VALUE
#undef IS
  }
  if (!c->model) {
    fprintf(stderr, "cnnc: error: no model file given\n");
    usage(stderr);
    return false;
  }
  return ok;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static void dump(Graph *g, const Options *opt, char letter, const char *pass) {
  if (opt->dump_after && strchr(opt->dump_after, letter)) {
    fprintf(stderr, "## after %s\n", pass);
    ir_print(g, stderr);
  }
}

/* The pipeline: a flat list, with the verifier after every pass. */
static Graph *compile_model(const char *path, Options *opt) {
  Graph *g = ends_with(path, ".onnx") ? onnx_load(path, opt) : yaml_load(path, opt);
  if (!g || diag_count())
    return NULL;
  ir_verify(g, "load");
  dump(g, opt, 'L', "load");
  if (opt->opt_level >= 1) {
    pass_fold(g, opt);
    ir_verify(g, "folding");
    dump(g, opt, 'F', "folding");
  }
  if (opt->opt_level >= 2 && !g->train) {
    pass_sep(g, opt);
    ir_verify(g, "separable decomposition");
    dump(g, opt, 'S', "separable decomposition");
  }
  pass_fuse(g, opt);
  ir_verify(g, "fusion");
  dump(g, opt, 'U', "fusion");
  if (opt->opt_level >= 1) {
    pass_algo(g, opt);
    if (diag_count())
      return NULL;
    ir_verify(g, "algorithm choice");
    dump(g, opt, 'A', "algorithm choice");
  }
  pass_mem(g, opt);
  ir_verify(g, "memory planning");
  dump(g, opt, 'M', "memory planning");
  if (g->train) {
    /* The training twin: the same model loaded again, differentiated, then
     * planned on its own (forward tapes and gradients share its arena). */
    Graph *gt = ends_with(path, ".onnx") ? NULL : yaml_load(path, opt);
    if (!gt || diag_count())
      return NULL;
    pass_fold(gt, opt); /* refuses BN folding in training; removes dead layers */
    pass_grad(gt, opt);
    if (diag_count())
      return NULL;
    ir_verify(gt, "autodiff");
    dump(gt, opt, 'G', "autodiff");
    pass_fuse(gt, opt);
    ir_verify(gt, "fusion (training)");
    pass_mem(gt, opt);
    ir_verify(gt, "memory planning (training)");
    dump(gt, opt, 'T', "memory planning (training)");
    g->train_graph = gt;
  }
  return g;
}

/* Run a program (argv[0] looked up in PATH) and wait; true on exit status 0. */
static bool run_prog(char *const *argv) {
  pid_t pid;
  if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
    fprintf(stderr, "cnnc: error: cannot run '%s': %s\n", argv[0], strerror(errno));
    return false;
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR)
      return false;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static const char *c_compiler(void) {
  const char *cc = getenv("CC");
  return cc && *cc ? cc : "cc";
}

static char *replace_ext(const char *path, const char *ext) {
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  size_t n = (dot && (!slash || dot > slash)) ? (size_t)(dot - path) : strlen(path);
  return cnnc_fmt("%.*s%s", (int)n, path, ext);
}

static int cmd_compile(Cmd *c) {
  const char *emit = c->emit ? c->emit : "c";
  Graph *g = compile_model(c->model, &c->opt);
  if (!g)
    return 2;
  if (!strcmp(emit, "ir") || !strcmp(emit, "dot")) {
    AtomicFile af;
    FILE *f = stdout;
    if (c->out && strcmp(c->out, "-")) {
      if (!atomic_open(&af, c->out))
        return 2;
      f = af.f;
    }
    if (!strcmp(emit, "ir"))
      ir_print(g, f);
    else
      ir_print_dot(g, f);
    if (f != stdout && !atomic_commit(&af))
      return 2;
    return 0;
  }
  const Backend *be = backend_lookup("c");
  if (!strcmp(emit, "c") || !strcmp(emit, "h")) {
    const char *out = c->out ? c->out : cnnc_fmt("%s.c", g->name);
    const char *cpath = !strcmp(emit, "c") ? out : NULL;
    const char *hpath = !strcmp(emit, "h") ? out : replace_ext(out, ".h");
    return be->emit(g, &c->opt, cpath, hpath, c->weights_out) ? 0 : 2;
  }
  if (!strcmp(emit, "obj") || !strcmp(emit, "asm")) {
    bool obj = !strcmp(emit, "obj");
    const char *out = c->out ? c->out : cnnc_fmt("%s.%s", g->name, obj ? "o" : "s");
    char dir[] = "/tmp/cnnc-XXXXXX";
    if (!mkdtemp(dir)) {
      fprintf(stderr, "cnnc: error: cannot create a temporary directory\n");
      return 2;
    }
    const char *cp = cnnc_fmt("%s/%s.c", dir, g->name), *hp = cnnc_fmt("%s/%s.h", dir, g->name);
    const char *tmp_out = cnnc_fmt("%s/out", dir);
    bool ok = be->emit(g, &c->opt, cp, hp, NULL);
    if (ok) {
      char *argv[] = {(char *)c_compiler(), "-std=c99", "-O2", obj ? "-c" : "-S", "-o", (char *)tmp_out, (char *)cp,
                      NULL};
      ok = run_prog(argv);
      if (!ok)
        fprintf(stderr, "cnnc: error: the C compiler failed on the generated code\n");
    }
    if (ok && rename(tmp_out, out) != 0) {
      fprintf(stderr, "cnnc: error: cannot write '%s': %s\n", out, strerror(errno));
      ok = false;
    }
    unlink(cp);
    unlink(hp);
    unlink(tmp_out);
    rmdir(dir);
    return ok ? 0 : 2;
  }
  fprintf(stderr, "cnnc: error: --emit=%s is not supported (c, h, ir, dot, obj, asm)\n", emit);
  return 2;
}

typedef int (*InferV)(const void *, const float *const *, float *const *, int, void *);

/* Compile the graph to a shared object in a temp dir and load its entry point. */
static InferV build_and_load(Cmd *c, Graph *g, char *dir, void **handle, void **weights) {
  const Backend *be = backend_lookup(c->backend);
  if (!be) {
    fprintf(stderr, "cnnc: error: unknown backend '%s'\n", c->backend);
    return NULL;
  }
  const char *cp = cnnc_fmt("%s/%s.c", dir, g->name), *hp = cnnc_fmt("%s/%s.h", dir, g->name);
  const char *so = cnnc_fmt("%s/%s.so", dir, g->name), *wp = cnnc_fmt("%s/%s.weights", dir, g->name);
  /* Weights go to a blob file: the C compiler then never parses them, so
   * large models build in seconds. */
  if (!be->emit(g, &c->opt, cp, hp, wp))
    return NULL;
  size_t wlen = 0;
  char *wdata = read_file(wp, (size_t)1 << 34, &wlen);
  if (!wdata)
    return NULL;
  *weights = aligned_alloc(64, (wlen + 63) / 64 * 64 + 64);
  if (!*weights) {
    fprintf(stderr, "cnnc: error: out of memory for the weights\n");
    return NULL;
  }
  memcpy(*weights, wdata, wlen);
  free(wdata);
  /* OpenMP only when asked: the results are the same for any thread count. */
  const char *omp = c->opt.threads > 1 ? "-fopenmp" : "-O2";
  if (c->opt.threads > 1)
    setenv("OMP_NUM_THREADS", cnnc_fmt("%d", c->opt.threads), 1);
  /* CNNC_EXTRA_CFLAGS: up to 4 more words (tests use it to lower the
   * runtime's parallel thresholds, RT_PAR_MIN_WORK / RT_PAR_MIN_ELEMS) */
  char *extra[4] = {NULL, NULL, NULL, NULL};
  const char *ev = getenv("CNNC_EXTRA_CFLAGS");
  char *ecopy = ev ? cnnc_strdup(ev) : NULL;
  for (int i = 0; ecopy && i < 4; i++)
    extra[i] = strtok(i ? NULL : ecopy, " ");
  char *argv[] = {(char *)c_compiler(), "-std=c99", "-O2", "-march=native", (char *)omp, "-fPIC", "-shared", "-o",
                  (char *)so, (char *)cp, "-lm", extra[0], extra[1], extra[2], extra[3], NULL};
  if (!run_prog(argv)) {
    fprintf(stderr, "cnnc: error: the C compiler failed on the generated code (kept in %s)\n", dir);
    c->keep = true;
    return NULL;
  }
  *handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!*handle) {
    fprintf(stderr, "cnnc: error: cannot load the compiled model: %s\n", dlerror());
    return NULL;
  }
  InferV fn = (InferV)dlsym(*handle, cnnc_fmt("%s_infer_v", g->name));
  if (!fn)
    fprintf(stderr, "cnnc: error: the compiled model lacks %s_infer_v\n", g->name);
  return fn;
}

static void cleanup_dir(const char *dir, bool keep) {
  if (keep) {
    fprintf(stderr, "cnnc: note: generated files kept in %s\n", dir);
    return;
  }
  char *argv[] = {"rm", "-rf", (char *)dir, NULL};
  run_prog(argv);
}

/* Shared by run and check: read inputs, compile for their batch, execute. */
static int execute(Cmd *c, float ***outs_ret, Graph **g_ret, int *batch_ret) {
  if (c->ninputs == 0) {
    fprintf(stderr, "cnnc: error: %s needs --input FILE.npy (one per model input)\n", c->verb);
    return 2;
  }
  NpyArray in[16];
  for (int i = 0; i < c->ninputs; i++)
    if (!npy_read(c->inputs[i], &in[i]))
      return 2;
  if (in[0].shape.rank < 1) {
    diag_error(loc_file(c->inputs[0]), "input must have a batch dimension");
    return 2;
  }
  int batch = (int)in[0].shape.d[0];
  if (in[0].shape.d[0] < 1 || in[0].shape.d[0] > 65536) {
    diag_error(loc_file(c->inputs[0]), "batch %lld is out of range", (long long)in[0].shape.d[0]);
    return 2;
  }
  if (!c->batch_given)
    c->opt.batch = batch;
  Graph *g = compile_model(c->model, &c->opt);
  if (!g)
    return 2;
  if (c->ninputs != g->ninputs) {
    fprintf(stderr, "cnnc: error: the model has %d input%s, got %d --input\n", g->ninputs,
            g->ninputs == 1 ? "" : "s", c->ninputs);
    return 2;
  }
  float **ins = cnnc_alloc(sizeof(float *) * (size_t)g->ninputs);
  for (int i = 0; i < g->ninputs; i++) {
    Tensor *t = g->inputs[i];
    Shape want = t->shape;
    want.d[0] = batch;
    if (!shape_eq(&want, &in[i].shape) || in[i].dtype == DT_I32 || in[i].dtype == DT_I64) {
      diag_error(loc_file(c->inputs[i]), "input '%s' must be float of shape %s, the file has %s", t->name,
                 shape_str(&want), shape_str(&in[i].shape));
      return 2;
    }
    ins[i] = cnnc_alloc(sizeof(float) * (size_t)in[i].numel);
    for (int64_t k = 0; k < in[i].numel; k++)
      ins[i][k] = (float)in[i].data[k];
  }
  char dir[] = "/tmp/cnnc-XXXXXX";
  if (!mkdtemp(dir)) {
    fprintf(stderr, "cnnc: error: cannot create a temporary directory\n");
    return 2;
  }
  void *handle = NULL, *weights = NULL;
  InferV fn = build_and_load(c, g, dir, &handle, &weights);
  if (!fn) {
    cleanup_dir(dir, c->keep);
    return 2;
  }
  float **outs = cnnc_alloc(sizeof(float *) * (size_t)g->noutputs);
  for (int i = 0; i < g->noutputs; i++) {
    int64_t per = shape_numel(&g->outputs[i]->shape) / g->batch;
    outs[i] = cnnc_alloc(sizeof(float) * (size_t)(per * batch));
  }
  void *arena = aligned_alloc(64, (size_t)((g->arena_size + 63) / 64 * 64 + 64));
  if (!arena) {
    fprintf(stderr, "cnnc: error: out of memory for the arena (%lld bytes)\n", (long long)g->arena_size);
    return 2;
  }
  int rc = fn(weights, (const float *const *)ins, outs, batch, arena);
  free(arena);
  cleanup_dir(dir, c->keep);
  if (rc != 0) {
    fprintf(stderr, "cnnc: error: the model returned %d\n", rc);
    return 2;
  }
  *outs_ret = outs;
  *g_ret = g;
  *batch_ret = batch;
  return 0;
}

static int cmd_run(Cmd *c) {
  float **outs;
  Graph *g;
  int batch;
  int rc = execute(c, &outs, &g, &batch);
  if (rc)
    return rc;
  if (c->noutputs > g->noutputs) {
    fprintf(stderr, "cnnc: error: the model has %d output%s, got %d --output\n", g->noutputs,
            g->noutputs == 1 ? "" : "s", c->noutputs);
    return 2;
  }
  for (int i = 0; i < c->noutputs; i++) {
    Shape s = g->outputs[i]->shape;
    s.d[0] = batch;
    if (!npy_write_f32(c->outputs[i], &s, outs[i]))
      return 2;
  }
  if (c->noutputs == 0)
    for (int i = 0; i < g->noutputs; i++) {
      Shape s = g->outputs[i]->shape;
      s.d[0] = batch;
      int64_t n = shape_numel(&s);
      printf("%s %s:", g->outputs[i]->name, shape_str(&s));
      for (int64_t k = 0; k < n && k < 64; k++)
        printf(" %.6g", outs[i][k]);
      printf("%s\n", n > 64 ? " ..." : "");
    }
  return 0;
}

typedef float (*TrainV)(float *, float *, const float *const *, const void *, int, void *);

/* Write the tensors of `kind` (params+buffers, or gradients) by state_dict name. */
static bool write_tensors(const char *path, Graph *gt, const float *params, const unsigned char *arena, bool grads) {
  const char **names = cnnc_alloc(sizeof(char *) * (size_t)gt->ntensors);
  Shape *shapes = cnnc_alloc(sizeof(Shape) * (size_t)gt->ntensors);
  const float **data = cnnc_alloc(sizeof(float *) * (size_t)gt->ntensors);
  int n = 0;
  for (int i = 0; i < gt->ntensors; i++) {
    Tensor *t = gt->tensors[i];
    if (grads) {
      if (t->kind != TK_PARAM || !t->trainable || !t->grad || t->grad->offset < 0)
        continue;
      data[n] = (const float *)(arena + t->grad->offset);
    } else {
      if ((t->kind != TK_PARAM && t->kind != TK_BUFFER) || t->woff < 0)
        continue;
      data[n] = params + t->woff;
    }
    names[n] = t->name;
    shapes[n++] = t->shape;
  }
  return st_write(path, n, names, shapes, data);
}

static int cmd_train(Cmd *c) {
  if (c->ninputs == 0 || !c->target) {
    fprintf(stderr, "cnnc: error: run --train needs --input FILE.npy and --target FILE.npy\n");
    return 2;
  }
  NpyArray in[16], tg;
  for (int i = 0; i < c->ninputs; i++)
    if (!npy_read(c->inputs[i], &in[i]))
      return 2;
  if (!npy_read(c->target, &tg))
    return 2;
  if (in[0].shape.rank < 1 || in[0].shape.d[0] < 1 || in[0].shape.d[0] > 65536) {
    diag_error(loc_file(c->inputs[0]), "input needs a batch dimension in 1..65536");
    return 2;
  }
  int batch = (int)in[0].shape.d[0], steps = c->steps ? c->steps : 1;
  c->opt.batch = batch;
  Graph *g = compile_model(c->model, &c->opt);
  if (!g)
    return 2;
  Graph *gt = g->train_graph;
  if (!gt) {
    diag_error(loc_file(c->model), "the model has no `train:` section");
    return 2;
  }
  if (c->ninputs != gt->ninputs) {
    fprintf(stderr, "cnnc: error: the model has %d inputs, got %d --input\n", gt->ninputs, c->ninputs);
    return 2;
  }
  float **ins = cnnc_alloc(sizeof(float *) * (size_t)gt->ninputs);
  for (int i = 0; i < gt->ninputs; i++) {
    Shape want = gt->inputs[i]->shape;
    want.d[0] = batch;
    if (!shape_eq(&want, &in[i].shape)) {
      diag_error(loc_file(c->inputs[i]), "input must have shape %s, the file has %s", shape_str(&want),
                 shape_str(&in[i].shape));
      return 2;
    }
    ins[i] = cnnc_alloc(sizeof(float) * (size_t)in[i].numel);
    for (int64_t k = 0; k < in[i].numel; k++)
      ins[i][k] = (float)in[i].data[k];
  }
  /* The target: int32 classes or floats shaped like the prediction. */
  Tensor *tt = gt->target;
  Shape want = tt->shape;
  want.d[0] = batch;
  if (!shape_eq(&want, &tg.shape) || ((tt->dtype == DT_I32) != (tg.dtype == DT_I32 || tg.dtype == DT_I64))) {
    diag_error(loc_file(c->target), "target must be %s of shape %s, the file has %s %s",
               tt->dtype == DT_I32 ? "integer class indices" : "float values", shape_str(&want),
               tg.dtype == DT_I32 || tg.dtype == DT_I64 ? "integers" : "floats", shape_str(&tg.shape));
    return 2;
  }
  void *target = cnnc_alloc(sizeof(float) * (size_t)tg.numel);
  for (int64_t k = 0; k < tg.numel; k++) {
    if (tt->dtype == DT_I32) {
      double v = tg.data[k];
      if (!(v >= 0 && v < (double)gt->outputs[0]->shape.d[1])) {
        diag_error(loc_file(c->target), "class index %g at [%lld] is out of range", v, (long long)k);
        return 2;
      }
      ((int32_t *)target)[k] = (int32_t)v;
    } else {
      ((float *)target)[k] = (float)tg.data[k];
    }
  }
  char dir[] = "/tmp/cnnc-XXXXXX";
  if (!mkdtemp(dir)) {
    fprintf(stderr, "cnnc: error: cannot create a temporary directory\n");
    return 2;
  }
  void *handle = NULL, *weights = NULL;
  InferV fn = build_and_load(c, g, dir, &handle, &weights);
  TrainV step = fn ? (TrainV)dlsym(handle, cnnc_fmt("%s_train_step_v", g->name)) : NULL;
  cleanup_dir(dir, c->keep);
  if (!step)
    return 2;
  /* With a weights blob the blob is the initial params buffer. */
  float *params = weights;
  float *opt_state = aligned_alloc(64, (size_t)(gt->opt_state_size + 16) * sizeof(float) / 64 * 64 + 64);
  unsigned char *arena = aligned_alloc(64, (size_t)((gt->arena_size + 63) / 64 * 64 + 64));
  if (!opt_state || !arena) {
    fprintf(stderr, "cnnc: error: out of memory\n");
    return 2;
  }
  memset(opt_state, 0, (size_t)(gt->opt_state_size + 16) * sizeof(float) / 64 * 64 + 64);
  float *losses = cnnc_alloc(sizeof(float) * (size_t)steps);
  for (int s = 0; s < steps; s++) {
    losses[s] = step(params, opt_state, (const float *const *)ins, target, batch, arena);
    if (!c->outputs[0] && (s < 10 || s == steps - 1))
      printf("step %d: loss %.9g\n", s + 1, losses[s]);
  }
  if (c->noutputs > 0) {
    Shape ls = shape_of(1, (int64_t)steps);
    if (!npy_write_f32(c->outputs[0], &ls, losses))
      return 2;
  }
  if (c->grads_out && !write_tensors(c->grads_out, gt, params, arena, true))
    return 2;
  if (c->params_out && !write_tensors(c->params_out, gt, params, arena, false))
    return 2;
  return 0;
}

static int cmd_check(Cmd *c) {
  if (c->nexpect == 0) {
    fprintf(stderr, "cnnc: error: check needs --expect FILE.npy (one per model output)\n");
    return 2;
  }
  NpyArray ex[16];
  for (int i = 0; i < c->nexpect; i++)
    if (!npy_read(c->expect[i], &ex[i]))
      return 2;
  float **outs;
  Graph *g;
  int batch;
  int rc = execute(c, &outs, &g, &batch);
  if (rc)
    return rc;
  if (c->nexpect != g->noutputs) {
    fprintf(stderr, "cnnc: error: the model has %d output%s, got %d --expect\n", g->noutputs,
            g->noutputs == 1 ? "" : "s", c->nexpect);
    return 2;
  }
  bool pass = true;
  for (int i = 0; i < g->noutputs; i++) {
    Shape s = g->outputs[i]->shape;
    s.d[0] = batch;
    if (!shape_eq(&s, &ex[i].shape)) {
      diag_error(loc_file(c->expect[i]), "expected shape %s but the model's output '%s' is %s",
                 shape_str(&ex[i].shape), g->outputs[i]->name, shape_str(&s));
      return 2;
    }
    double maxref = 0, worst = -1;
    int64_t wi = 0;
    for (int64_t k = 0; k < ex[i].numel; k++) {
      double r = fabs(ex[i].data[k]);
      if (r > maxref)
        maxref = r;
    }
    for (int64_t k = 0; k < ex[i].numel; k++) {
      double d = fabs((double)outs[i][k] - ex[i].data[k]);
      if (isnan(d))
        d = INFINITY;
      if (d > worst) {
        worst = d;
        wi = k;
      }
    }
    double tol = c->atol + c->rtol * (maxref > 1 ? maxref : 1);
    bool ok = worst <= tol;
    printf("%s: output '%s' %s: max|diff| %.3g at [%lld] (got %.9g, expected %.9g), max|y| %.4g, tolerance %.3g\n",
           ok ? "ok" : "MISMATCH", g->outputs[i]->name, shape_str(&s), worst, (long long)wi, outs[i][wi],
           ex[i].data[wi], maxref, tol);
    pass &= ok;
  }
  return pass ? 0 : 1;
}

int main(int argc, char **argv) {
  Cmd c;
  if (!parse_args(argc, argv, &c))
    return 2;
  int rc;
  if (!strcmp(c.verb, "info")) {
    Graph *g = compile_model(c.model, &c.opt);
    rc = g ? (info_print(g, &c.opt, c.json, stdout) ? 0 : 2) : 2;
  } else if (!strcmp(c.verb, "run")) {
    rc = c.train ? cmd_train(&c) : cmd_run(&c);
  } else if (!strcmp(c.verb, "check")) {
    rc = cmd_check(&c);
  } else {
    rc = cmd_compile(&c);
  }
  if (diag_count() && rc == 0)
    rc = 2;
  return rc;
}
