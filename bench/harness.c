/* harness.c - time one cnnc-generated model (compiled with --name m).
 *
 * usage: harness INPUT.bin [OUTPUT.bin] [--min-runs N] [--min-time S]
 *
 * Reads the raw float32 input (M_INPUT_SIZE floats, batch 1), runs m_infer on
 * a 64-byte-aligned arena of M_ARENA_SIZE bytes: 3 warm-up runs, then timed
 * single runs until at least N runs (default 20) and S seconds (default 1)
 * have passed (or 20000 runs / 20 s).  Prints one JSON object: median, min
 * and mean wall milliseconds, the median process CPU milliseconds per run
 * (all threads; on a busy machine it excludes time the core ran others), the
 * run count and the OpenMP thread count; writes
 * the output of the last run to OUTPUT.bin when given.  Exit status 0 on
 * success, 1 on a bad input file or an m_infer failure.
 *
 * Built by bench/bench.py as:  cc -O3 -march=native [-fopenmp] -I DIR harness.c DIR/m.c -lm
 *
 * Built with -DCNNC_PROFILE (and m.c compiled with -include
 * bench/profile_hook.h, see bench/profile.sh) it also records the end time
 * of every layer of every timed run and prints, after the JSON line, one line
 * per layer: index, name, median milliseconds, share of the total.
 */
#define _POSIX_C_SOURCE 200809L
#include "m.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process: on a shared machine the wall time of a run
 * includes time other processes held the core; the CPU time does not. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#ifdef CNNC_PROFILE
#define PROF_LAYERS 4096
#define PROF_RUNS 2000
static double prof_last, *prof_t; /* prof_t[layer * PROF_RUNS + run] */
static const char *prof_name[PROF_LAYERS];
static int prof_nlayers;
static long prof_run = -1; /* -1: not timing */
static int prof_alt, prof_threads = 1;

void bench_layer_hook(int index, const char *name);
void bench_layer_hook(int index, const char *name) {
  double t = now_s();
  if (prof_run >= 0 && prof_run < PROF_RUNS && index < PROF_LAYERS) {
    prof_t[(size_t)index * PROF_RUNS + (size_t)prof_run] = (t - prof_last) * 1e3;
    prof_name[index] = name;
    if (index + 1 > prof_nlayers)
      prof_nlayers = index + 1;
  }
  prof_last = now_s();
}

/* Median over runs first, first + step, ... of layer l (and its 10th
 * percentile in *p10, when given: on a noisy host the fast runs tell more). */
static double prof_median(int l, long runs, long first, long step, double *v, double *p10) {
  long k = 0;
  for (long r = first; r < runs; r += step)
    v[k++] = prof_t[(size_t)l * PROF_RUNS + (size_t)r];
  qsort(v, (size_t)k, sizeof(double), cmp_double);
  if (p10)
    *p10 = k ? v[k / 10] : 0.0;
  return k ? v[k / 2] : 0.0;
}

/* Each layer's median and share; with `alt` (runs alternating between 1 and
 * the OpenMP thread count, CNNC_PROFILE_VS1) both medians and their ratio. */
static void prof_report(long runs, int alt) {
  double *v = malloc(sizeof(double) * (size_t)(runs < PROF_RUNS ? runs : PROF_RUNS)), total = 0, total1 = 0;
  double *med = malloc(sizeof(double) * (size_t)prof_nlayers), *fast = malloc(sizeof(double) * (size_t)prof_nlayers);
  double total10 = 0;
  if (runs > PROF_RUNS)
    runs = PROF_RUNS;
  if (alt)
    printf("     %-40s %12s %12s %7s\n", "layer", "1 thread", "N threads", "N/1");
  for (int l = 0; l < prof_nlayers; l++) {
    double m, m1;
    if (!prof_name[l])
      continue;
    if (alt) {
      m1 = prof_median(l, runs, 0, 2, v, NULL);
      m = prof_median(l, runs, 1, 2, v, NULL);
      total1 += m1;
      total += m;
      printf("%4d %-40s %9.4f ms %9.4f ms %7.2f\n", l, prof_name[l], m1, m, m1 > 0 ? m / m1 : 0.0);
    } else
      total += med[l] = prof_median(l, runs, 0, 1, v, &fast[l]);
      total10 += fast[l];
  }
  for (int l = 0; l < prof_nlayers && !alt; l++)
    if (prof_name[l])
      printf("%4d %-40s %9.4f ms %5.1f%% %9.4f ms p10\n", l, prof_name[l], med[l], 100.0 * med[l] / total, fast[l]);
  if (alt)
    printf("     %-40s %9.4f ms %9.4f ms %7.2f\n", "sum of layer medians", total1, total, total / total1);
  else
    printf("     %-40s %9.4f ms        %9.4f ms p10\n", "sum of layer medians", total, total10);
  free(v);
  free(fast);
  free(med);
}
#endif

int main(int argc, char **argv) {
  const char *in_path = NULL, *out_path = NULL;
  long min_runs = 20, max_runs = 20000, n = 0, i;
  double min_time = 1.0, max_time = 20.0, t_start, sum = 0.0;
  size_t arena_bytes = ((size_t)M_ARENA_SIZE + 63) / 64 * 64;
  float *x, *y;
  void *arena;
  double *ts, *cs;
  FILE *f;

  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--min-runs") && i + 1 < argc)
      min_runs = atol(argv[++i]);
    else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
      min_time = atof(argv[++i]);
    else if (!in_path)
      in_path = argv[i];
    else
      out_path = argv[i];
  }
  if (!in_path) {
    fprintf(stderr, "usage: harness INPUT.bin [OUTPUT.bin] [--min-runs N] [--min-time S]\n");
    return 1;
  }
  x = malloc(sizeof(float) * M_INPUT_SIZE);
  y = malloc(sizeof(float) * M_OUTPUT_SIZE);
  if (posix_memalign(&arena, 64, arena_bytes ? arena_bytes : 64) != 0)
    arena = NULL;
  ts = malloc(sizeof(double) * (size_t)max_runs);
  cs = malloc(sizeof(double) * (size_t)max_runs);
  if (!x || !y || !arena || !ts || !cs) {
    fprintf(stderr, "harness: out of memory\n");
    return 1;
  }
  f = fopen(in_path, "rb");
  if (!f || fread(x, sizeof(float), M_INPUT_SIZE, f) != M_INPUT_SIZE) {
    fprintf(stderr, "harness: cannot read %d floats from %s\n", M_INPUT_SIZE, in_path);
    return 1;
  }
  fclose(f);
  /* Touch the arena once so page faults are not timed. */
  memset(arena, 0, arena_bytes);

  for (i = 0; i < 3; i++)
    if (m_infer(x, y, 1, arena) != 0) {
      fprintf(stderr, "harness: m_infer failed\n");
      return 1;
    }
#ifdef CNNC_PROFILE
  prof_t = calloc((size_t)PROF_LAYERS * PROF_RUNS, sizeof(double));
  if (!prof_t)
    return 1;
  if (max_runs > PROF_RUNS)
    max_runs = PROF_RUNS;
#ifdef _OPENMP
  prof_threads = omp_get_max_threads();
  prof_alt = getenv("CNNC_PROFILE_VS1") && prof_threads > 1;
#endif
#endif
  t_start = now_s();
  for (;;) {
    double t0 = now_s(), c0 = cpu_s(), t1;
#ifdef CNNC_PROFILE
    prof_run = n;
#ifdef _OPENMP
    if (prof_alt)
      omp_set_num_threads(n % 2 ? prof_threads : 1);
#endif
    t0 = now_s();
    prof_last = t0;
#endif
    m_infer(x, y, 1, arena);
    t1 = now_s();
    cs[n] = (cpu_s() - c0) * 1e3;
    ts[n++] = (t1 - t0) * 1e3;
    sum += (t1 - t0) * 1e3;
    if ((n >= min_runs && t1 - t_start >= min_time) || n >= max_runs || (n >= 3 && t1 - t_start >= max_time))
      break;
  }
  qsort(ts, (size_t)n, sizeof(double), cmp_double);
  qsort(cs, (size_t)n, sizeof(double), cmp_double);
  {
    const double median = n % 2 ? ts[n / 2] : 0.5 * (ts[n / 2 - 1] + ts[n / 2]);
    const double cpu_median = n % 2 ? cs[n / 2] : 0.5 * (cs[n / 2 - 1] + cs[n / 2]);
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("{\"median_ms\": %.6f, \"min_ms\": %.6f, \"mean_ms\": %.6f, \"cpu_median_ms\": %.6f, \"n\": %ld, "
           "\"threads\": %d, \"arena_bytes\": %lu}\n",
           median, ts[0], sum / (double)n, cpu_median, n, threads, (unsigned long)M_ARENA_SIZE);
  }
#ifdef CNNC_PROFILE
  prof_report(n, prof_alt);
#endif
  if (out_path) {
    f = fopen(out_path, "wb");
    if (!f || fwrite(y, sizeof(float), M_OUTPUT_SIZE, f) != M_OUTPUT_SIZE || fclose(f) != 0) {
      fprintf(stderr, "harness: cannot write %s\n", out_path);
      return 1;
    }
  }
  free(ts);
  free(cs);
  free(arena);
  free(x);
  free(y);
  return 0;
}
