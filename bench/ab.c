/* ab.c - same-process A/B of two builds of one model (bench/ab.sh).
 *
 * usage: ab INPUT.bin [SECONDS]     (INPUT.bin "-": all zeros)
 *
 * Links two cnnc outputs compiled with --name ma and --name mb (same model,
 * different cnnc or compiler flags) and times them in turns: each step runs A
 * then B, every other step B then A, so both see the same moments of a noisy
 * host.  Prints each build's median and 10th percentile in ms, the median of
 * the per-step ratios B/A (the figure to trust: a host that slows down for a
 * second slows both sides of a step) and the largest output difference.
 * In OpenMP builds THREADS_A / THREADS_B (environment) set each side's
 * thread count, e.g. 1 and 2 for the speedup of the second thread. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ma.h"
#include "mb.h"

#ifdef _OPENMP
#include <omp.h>
#define SET_THREADS(t) omp_set_num_threads(t)
#define MAX_THREADS() omp_get_max_threads()
#else
#define SET_THREADS(t) ((void)(t))
#define MAX_THREADS() 1
#endif

enum { MAX_STEPS = 100000 };

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* q-quantile of v[0..n) (sorts v) */
static double quantile(double *v, long n, double q) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return v[(long)(q * (double)(n - 1) + 0.5)];
}

int main(int argc, char **argv) {
  const double seconds = argc > 2 ? atof(argv[2]) : 10.0;
  const int tha0 = getenv("THREADS_A") ? atoi(getenv("THREADS_A")) : 0;
  const int thb0 = getenv("THREADS_B") ? atoi(getenv("THREADS_B")) : 0;
  const int tha = tha0 > 0 ? tha0 : MAX_THREADS(), thb = thb0 > 0 ? thb0 : MAX_THREADS();
  float *x = malloc(sizeof(float) * MA_INPUT_SIZE);
  float *ya = malloc(sizeof(float) * MA_OUTPUT_SIZE), *yb = malloc(sizeof(float) * MB_OUTPUT_SIZE);
  double *ta = malloc(sizeof(double) * MAX_STEPS), *tb = malloc(sizeof(double) * MAX_STEPS);
  double *r = malloc(sizeof(double) * MAX_STEPS);
  void *aa = NULL, *ab = NULL;
  double t_end, diff = 0.0;
  long n = 0, i;
  FILE *f;

  if (argc < 2) {
    fprintf(stderr, "usage: ab INPUT.bin [SECONDS]\n");
    return 1;
  }
  if (MA_INPUT_SIZE != MB_INPUT_SIZE || MA_OUTPUT_SIZE != MB_OUTPUT_SIZE) {
    fprintf(stderr, "ab: the two builds have different input or output sizes\n");
    return 1;
  }
  if (posix_memalign(&aa, 64, MA_ARENA_SIZE + 64) || posix_memalign(&ab, 64, MB_ARENA_SIZE + 64) || !x || !ya ||
      !yb || !ta || !tb || !r) {
    fprintf(stderr, "ab: out of memory\n");
    return 1;
  }
  memset(aa, 0, MA_ARENA_SIZE + 64); /* page faults are not timed */
  memset(ab, 0, MB_ARENA_SIZE + 64);
  if (!strcmp(argv[1], "-")) {
    memset(x, 0, sizeof(float) * MA_INPUT_SIZE);
  } else {
    f = fopen(argv[1], "rb");
    if (!f || fread(x, sizeof(float), MA_INPUT_SIZE, f) != MA_INPUT_SIZE) {
      fprintf(stderr, "ab: cannot read %d floats from %s\n", MA_INPUT_SIZE, argv[1]);
      return 1;
    }
    fclose(f);
  }
  for (i = 0; i < 3; i++)
    if ((SET_THREADS(tha), ma_infer(x, ya, 1, aa)) || (SET_THREADS(thb), mb_infer(x, yb, 1, ab))) {
      fprintf(stderr, "ab: inference failed\n");
      return 1;
    }
  t_end = now_ms() + seconds * 1e3;
  while (n < MAX_STEPS && (n < 10 || now_ms() < t_end)) {
    double t0, t1, t2;
    if (n % 2 == 0) {
      SET_THREADS(tha), t0 = now_ms(), ma_infer(x, ya, 1, aa), t1 = now_ms();
      SET_THREADS(thb), mb_infer(x, yb, 1, ab), t2 = now_ms();
      ta[n] = t1 - t0, tb[n] = t2 - t1;
    } else {
      SET_THREADS(thb), t0 = now_ms(), mb_infer(x, yb, 1, ab), t1 = now_ms();
      SET_THREADS(tha), ma_infer(x, ya, 1, aa), t2 = now_ms();
      tb[n] = t1 - t0, ta[n] = t2 - t1;
    }
    r[n] = tb[n] / ta[n];
    n++;
  }
  for (i = 0; i < MA_OUTPUT_SIZE; i++)
    diff = fmax(diff, fabs((double)ya[i] - (double)yb[i]));
  printf("{\"steps\": %ld, \"a_median_ms\": %.4f, \"a_p10_ms\": %.4f, \"b_median_ms\": %.4f, \"b_p10_ms\": %.4f, ", n,
         quantile(ta, n, 0.5), quantile(ta, n, 0.1), quantile(tb, n, 0.5), quantile(tb, n, 0.1));
  printf("\"b_over_a_step_median\": %.4f, \"max_abs_diff\": %.3g}\n", quantile(r, n, 0.5), diff);
  return 0;
}
