/* train.c - train a small conv net on the 8x8 digits with cnnc's generated train_step.
 *
 * Build (run.sh does this):
 *   cnnc digits.yaml --batch 64 -o digits.c
 *   cc -O3 -march=native train.c digits.c -lm -o train_digits
 * Run:
 *   ./train_digits [--data DIR] [--out DIR] [--epochs N] [--batch B] [--patience P] [--seed S]
 *
 * Data: DIR/digits_train.bin and DIR/digits_test.bin (written by make_data.py from
 * sklearn's digits: "CNNCDIG1", uint32 count, then per image 64 pixel bytes 0..16
 * and a label byte).  A seeded 10 % of the training file is held out for
 * validation: early stopping watches the validation loss (patience in epochs) and
 * the parameters of the epoch with the lowest validation loss are kept; the test
 * set is evaluated every epoch for the log but never used to choose anything.
 *
 * Training: mini-batches of a seeded shuffle, each image shifted by a random
 * -1..1 pixels in x and y (zero fill), pixels scaled to [0, 1]; one
 * digits_train_step per batch (forward, backward and optimizer update as
 * described by the `train:` section of digits.yaml).  Evaluation runs
 * digits_infer_v on the trained parameters.
 *
 * Output: per epoch a line (train loss, train/validation/test accuracy, seconds),
 * OUT/loss_curve.csv and OUT/loss_curve.svg (a hand-written SVG plot of the training
 * loss and the accuracies per epoch).  Exit status 0.
 */
#include "digits.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NPIX 64
#define NCLASS 10
#define MAX_EPOCHS 200

typedef struct {
  int n;
  unsigned char *pix; /* n * 64 */
  unsigned char *lab; /* n */
} Set;

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int rng_int(int n) { return (int)(rng_next() % (uint64_t)n); }

static void shuffle(int *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = rng_int(i + 1), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return p;
}

static void *xalloc64(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  memset(p, 0, (n + 63) / 64 * 64);
  return p;
}

static Set load_set(const char *path) {
  Set s = {0, NULL, NULL};
  FILE *f = fopen(path, "rb");
  unsigned char hdr[12];
  if (!f || fread(hdr, 1, 12, f) != 12 || memcmp(hdr, "CNNCDIG1", 8)) {
    fprintf(stderr, "%s: cannot read a digits file (run make_data.py)\n", path);
    exit(2);
  }
  s.n = (int)(hdr[8] | hdr[9] << 8 | hdr[10] << 16 | (uint32_t)hdr[11] << 24);
  if (s.n <= 0 || s.n > 1000000) {
    fprintf(stderr, "%s: bad image count %d\n", path, s.n);
    exit(2);
  }
  s.pix = xmalloc((size_t)s.n * NPIX);
  s.lab = xmalloc((size_t)s.n);
  for (int i = 0; i < s.n; i++) {
    if (fread(s.pix + (size_t)i * NPIX, 1, NPIX, f) != NPIX || fread(s.lab + i, 1, 1, f) != 1 || s.lab[i] >= NCLASS) {
      fprintf(stderr, "%s: truncated or bad record %d\n", path, i);
      exit(2);
    }
    for (int k = 0; k < NPIX; k++)
      if (s.pix[(size_t)i * NPIX + k] > 16) {
        fprintf(stderr, "%s: pixel out of range in record %d\n", path, i);
        exit(2);
      }
  }
  fclose(f);
  return s;
}

/* One image into x (64 floats), shifted by (dy, dx) with zero fill. */
static void put_image(const unsigned char *pix, int dy, int dx, float *x) {
  for (int r = 0; r < 8; r++)
    for (int c = 0; c < 8; c++) {
      int sr = r - dy, sc = c - dx;
      x[r * 8 + c] = (sr >= 0 && sr < 8 && sc >= 0 && sc < 8) ? (float)pix[sr * 8 + sc] / 16.0f : 0.0f;
    }
}

/* Accuracy and mean cross-entropy of the params on images idx[0..n) of s
 * (inference on the trained parameters, no augmentation). */
static double evaluate(const float *params, const Set *s, const int *idx, int n, void *arena, float *x, float *y,
                       double *mean_loss) {
  int correct = 0;
  double loss = 0;
  for (int b0 = 0; b0 < n; b0 += DIGITS_BATCH_MAX) {
    int nb = n - b0 < DIGITS_BATCH_MAX ? n - b0 : DIGITS_BATCH_MAX;
    for (int i = 0; i < nb; i++)
      put_image(s->pix + (size_t)idx[b0 + i] * NPIX, 0, 0, x + (size_t)i * NPIX);
    const float *in[1] = {x};
    float *out[1] = {y};
    if (digits_infer_v(params, in, out, nb, arena) != 0) {
      fprintf(stderr, "digits_infer_v failed\n");
      exit(2);
    }
    for (int i = 0; i < nb; i++) {
      const float *z = y + i * NCLASS;
      int best = 0;
      double m = z[0], se = 0;
      for (int k = 1; k < NCLASS; k++) {
        if (z[k] > z[best])
          best = k;
        if (z[k] > m)
          m = z[k];
      }
      for (int k = 0; k < NCLASS; k++)
        se += exp((double)z[k] - m);
      loss += m + log(se) - z[s->lab[idx[b0 + i]]];
      correct += best == s->lab[idx[b0 + i]];
    }
  }
  if (mean_loss)
    *mean_loss = n ? loss / n : 0.0;
  return n ? (double)correct / n : 0.0;
}

typedef struct {
  double loss, train_acc, val_loss, val_acc, test_acc, seconds;
} EpochLog;

/* Map a value to SVG coordinates. */
static double sx(double v, double lo, double hi, double x0, double w) { return x0 + (v - lo) / (hi - lo) * w; }
static double sy(double v, double lo, double hi, double y0, double h) { return y0 + h - (v - lo) / (hi - lo) * h; }

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving at most 6 intervals. */
static double nice_step(double range) {
  double p = pow(10.0, floor(log10(range / 6.0))), m[3] = {1, 2, 5};
  for (int k = 0; k < 3; k++)
    if (range / (m[k] * p) <= 6.0)
      return m[k] * p;
  return 10 * p;
}

static void write_svg(const char *path, const EpochLog *L, int n, int best) {
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "cannot write %s\n", path);
    return;
  }
  const double W = 780, H = 450, x0 = 70, y0 = 40, w = 620, h = 320;
  double lmax = 0;
  for (int i = 0; i < n; i++) {
    if (L[i].loss > lmax)
      lmax = L[i].loss;
    if (L[i].val_loss > lmax)
      lmax = L[i].val_loss;
  }
  const double lstep = nice_step(lmax > 0 ? lmax : 1);
  lmax = ceil((lmax > 0 ? lmax : 1) / lstep) * lstep;
  const double amin = 0.5, amax = 1.0; /* accuracy axis */
  const double e0 = 1, e1 = n > 1 ? n : 2;
  fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" viewBox=\"0 0 %g %g\" "
             "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
  fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
  fprintf(f, "<text x=\"%g\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">digits: cnnc train_step, "
             "loss and accuracy per epoch</text>\n", x0 + w / 2);
  /* grid: accuracy every 10 %, loss ticks on the left */
  for (int k = 0; k <= 5; k++) {
    double yy = y0 + h * k / 5.0;
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#e4e4e4\"/>\n", x0, yy, x0 + w, yy);
    fprintf(f, "<text x=\"%g\" y=\"%g\" fill=\"#2c6fbb\">%.0f%%</text>\n", x0 + w + 6, yy + 4,
            100 * (amax - (amax - amin) * k / 5.0));
  }
  for (double v = 0; v <= lmax + 1e-9; v += lstep) {
    double yy = y0 + h - v / lmax * h;
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#c0392b\"/>\n", x0 - 4, yy, x0, yy);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"end\" fill=\"#c0392b\">%g</text>\n", x0 - 6, yy + 4, v);
  }
  int step = n > 20 ? (n + 9) / 10 : 1;
  for (int e = 1; e <= n; e += step) {
    double xx = sx(e, e0, e1, x0, w);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#999\"/>\n", xx, y0 + h, xx, y0 + h + 4);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">%d</text>\n", xx, y0 + h + 18, e);
  }
  fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"black\"/>\n", x0, y0, w, h);
  fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">epoch</text>\n", x0 + w / 2, y0 + h + 36);
  fprintf(f, "<text transform=\"translate(22 %g) rotate(-90)\" text-anchor=\"middle\" fill=\"#c0392b\">"
             "cross-entropy loss</text>\n", y0 + h / 2);
  fprintf(f, "<text transform=\"translate(%g %g) rotate(90)\" text-anchor=\"middle\" fill=\"#2c6fbb\">"
             "accuracy</text>\n", W - 26, y0 + h / 2);
  /* curves: two losses on the left axis, three accuracies on the right one */
  const char *colors[5] = {"#c0392b", "#e67e22", "#7f8c8d", "#27ae60", "#2c6fbb"};
  const char *names[5] = {"train loss", "validation loss", "train acc.", "validation acc.", "test acc."};
  for (int c = 0; c < 5; c++) {
    const char *dash = c == 1 || c == 2 ? " stroke-dasharray=\"5 3\"" : "";
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colors[c], dash);
    for (int i = 0; i < n; i++) {
      double v = c == 0 ? L[i].loss
                 : c == 1 ? L[i].val_loss
                 : c == 2 ? L[i].train_acc
                 : c == 3 ? L[i].val_acc
                          : L[i].test_acc;
      double yy = c < 2 ? sy(v, 0, lmax, y0, h) : sy(v < amin ? amin : v, amin, amax, y0, h);
      fprintf(f, "%.1f,%.1f ", sx(i + 1, e0, e1, x0, w), yy);
    }
    fprintf(f, "\"/>\n");
    double lx = x0 - 40 + 138 * c;
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"%s/>"
               "<text x=\"%g\" y=\"%g\">%s</text>\n", lx, H - 22, lx + 24, H - 22, colors[c], dash, lx + 28, H - 18,
            names[c]);
  }
  if (best >= 0 && best < n) {
    double xx = sx(best + 1, e0, e1, x0, w);
    fprintf(f, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"#555\" stroke-dasharray=\"2 4\"/>\n", xx, y0,
            xx, y0 + h);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\" fill=\"#555\">kept: epoch %d, test %.2f%%</text>\n",
            xx, y0 - 4, best + 1, 100 * L[best].test_acc);
  }
  fprintf(f, "</svg>\n");
  fclose(f);
}

static int parse_int(const char *flag, const char *v, int lo, int hi) {
  char *end;
  long x = v ? strtol(v, &end, 10) : 0;
  if (!v || *end || x < lo || x > hi) {
    fprintf(stderr, "%s needs an integer in %d..%d\n", flag, lo, hi);
    exit(2);
  }
  return (int)x;
}

int main(int argc, char **argv) {
  const char *data = ".", *out = ".";
  int epochs = 30, batch = 32, patience = 6, seed = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--data") && v)
      data = argv[++i];
    else if (!strcmp(a, "--out") && v)
      out = argv[++i];
    else if (!strcmp(a, "--epochs"))
      epochs = parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, MAX_EPOCHS);
    else if (!strcmp(a, "--batch"))
      batch = parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, DIGITS_BATCH_MAX);
    else if (!strcmp(a, "--patience"))
      patience = parse_int(a, i + 1 < argc ? argv[++i] : NULL, 1, MAX_EPOCHS);
    else if (!strcmp(a, "--seed"))
      seed = parse_int(a, i + 1 < argc ? argv[++i] : NULL, 0, 1 << 30);
    else {
      fprintf(stderr, "usage: %s [--data DIR] [--out DIR] [--epochs N] [--batch B] [--patience P] [--seed S]\n",
              argv[0]);
      return 2;
    }
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/digits_train.bin", data);
  Set tr = load_set(path);
  snprintf(path, sizeof path, "%s/digits_test.bin", data);
  Set te = load_set(path);
  rng_state = 0x5eed0000ull + (uint64_t)seed;

  /* hold out 10 % of the training file for validation (early stopping) */
  int *all = xmalloc(sizeof(int) * (size_t)tr.n);
  for (int i = 0; i < tr.n; i++)
    all[i] = i;
  shuffle(all, tr.n);
  int nval = tr.n / 10, ntrain = tr.n - nval;
  int *train_idx = all + nval, *val_idx = all;
  int *test_idx = xmalloc(sizeof(int) * (size_t)te.n);
  for (int i = 0; i < te.n; i++)
    test_idx[i] = i;

  float *params = xalloc64(sizeof(float) * DIGITS_PARAMS_SIZE);
  float *best_params = xalloc64(sizeof(float) * DIGITS_PARAMS_SIZE);
  float *opt_state = xalloc64(sizeof(float) * DIGITS_OPT_STATE_SIZE); /* zeroed */
  void *train_arena = xalloc64(DIGITS_TRAIN_ARENA_SIZE);
  void *arena = xalloc64(DIGITS_ARENA_SIZE);
  float *x = xalloc64(sizeof(float) * NPIX * DIGITS_BATCH_MAX);
  float *y = xalloc64(sizeof(float) * NCLASS * DIGITS_BATCH_MAX);
  int32_t *t = xmalloc(sizeof(int32_t) * DIGITS_BATCH_MAX);
  digits_init_params(params);
  memcpy(best_params, params, sizeof(float) * DIGITS_PARAMS_SIZE);

  printf("digits: %d train, %d validation, %d test images; %d parameters; batch %d; patience %d\n", ntrain, nval,
         te.n, DIGITS_PARAMS_SIZE, batch, patience);
  printf("%5s %10s %9s %9s %9s %9s %8s\n", "epoch", "loss", "train", "val loss", "val", "test", "seconds");
  EpochLog log[MAX_EPOCHS];
  int nlog = 0, best = -1, since = 0;
  double best_val = INFINITY, t0 = now();
  for (int ep = 0; ep < epochs; ep++) {
    shuffle(train_idx, ntrain);
    double sum = 0;
    int nb_total = 0;
    for (int b0 = 0; b0 < ntrain; b0 += batch) {
      int nb = ntrain - b0 < batch ? ntrain - b0 : batch;
      for (int i = 0; i < nb; i++) {
        int k = train_idx[b0 + i];
        put_image(tr.pix + (size_t)k * NPIX, rng_int(3) - 1, rng_int(3) - 1, x + (size_t)i * NPIX);
        t[i] = tr.lab[k];
      }
      float loss = digits_train_step(params, opt_state, x, t, nb, train_arena);
      if (loss != loss) {
        fprintf(stderr, "train_step returned NaN\n");
        return 1;
      }
      sum += (double)loss * nb;
      nb_total += nb;
    }
    EpochLog *L = &log[nlog++];
    L->loss = sum / nb_total;
    L->train_acc = evaluate(params, &tr, train_idx, ntrain, arena, x, y, NULL);
    L->val_acc = evaluate(params, &tr, val_idx, nval, arena, x, y, &L->val_loss);
    L->test_acc = evaluate(params, &te, test_idx, te.n, arena, x, y, NULL);
    L->seconds = now() - t0;
    int improved = L->val_loss < best_val;
    printf("%5d %10.5f %8.2f%% %9.5f %8.2f%% %8.2f%% %8.2f%s\n", ep + 1, L->loss, 100 * L->train_acc, L->val_loss,
           100 * L->val_acc, 100 * L->test_acc, L->seconds, improved ? "  *" : "");
    fflush(stdout);
    if (improved) {
      best_val = L->val_loss;
      best = nlog - 1;
      since = 0;
      memcpy(best_params, params, sizeof(float) * DIGITS_PARAMS_SIZE);
    } else if (++since >= patience) {
      printf("early stop: no validation improvement for %d epochs\n", patience);
      break;
    }
  }
  double acc = evaluate(best_params, &te, test_idx, te.n, arena, x, y, NULL);
  printf("kept epoch %d (validation loss %.5f, accuracy %.2f%%): test accuracy %.2f%% (%d/%d), %.2f s training\n",
         best + 1, best_val, 100 * log[best].val_acc, 100 * acc, (int)(acc * te.n + 0.5), te.n,
         log[nlog - 1].seconds);

  snprintf(path, sizeof path, "%s/loss_curve.csv", out);
  FILE *f = fopen(path, "w");
  if (f) {
    fprintf(f, "epoch,train_loss,train_acc,val_loss,val_acc,test_acc,seconds\n");
    for (int i = 0; i < nlog; i++)
      fprintf(f, "%d,%.6f,%.4f,%.6f,%.4f,%.4f,%.3f\n", i + 1, log[i].loss, log[i].train_acc, log[i].val_loss,
              log[i].val_acc, log[i].test_acc, log[i].seconds);
    fclose(f);
    printf("wrote %s\n", path);
  }
  snprintf(path, sizeof path, "%s/loss_curve.svg", out);
  write_svg(path, log, nlog, best);
  printf("wrote %s\n", path);
  free(all);
  free(test_idx);
  free(params);
  free(best_params);
  free(opt_state);
  free(train_arena);
  free(arena);
  free(x);
  free(y);
  free(t);
  free(tr.pix);
  free(tr.lab);
  free(te.pix);
  free(te.lab);
  return 0;
}
