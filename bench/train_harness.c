/* train_harness.c - time the generated PREFIX_train_step of one model.
 *
 * Build against a generated model (bench/train_bench.py does this):
 *   cnnc net.yaml --name m --batch B -o m.c
 *   cc -O3 -march=native -DMODEL_HEADER='"m.h"' -DFN_PREFIX=m -DMACRO_PREFIX=M \
 *      train_harness.c m.c -lm -o harness
 * Run: harness BATCH WARMUP STEPS
 * Fills the input with seeded uniform [0, 1) values and the target with seeded
 * class indices (int32) or uniform floats (regression losses, selected by
 * -DTARGET_FLOAT), calls PREFIX_init_params, then WARMUP untimed train steps and
 * STEPS timed ones on the same batch (each a full forward + backward + optimizer
 * update).  Prints one JSON line: {"batch", "steps", "median_ms", "min_ms",
 * "mean_ms", "cpu_median_ms" (thread CPU time: robust on a busy machine),
 * "first_loss", "last_loss"}.  Single-threaded unless the model was
 * compiled with -fopenmp.
 */
#include MODEL_HEADER

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(x) CAT(FN_PREFIX, x)
#define MAC(x) CAT(MACRO_PREFIX, x)

#ifndef NUM_CLASSES
#define NUM_CLASSES MAC(_OUTPUT0_SIZE)
#endif

static double now_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}


static void *alloc64(size_t n) {
  void *p = aligned_alloc(64, (n + 63) / 64 * 64);
  if (!p) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  memset(p, 0, (n + 63) / 64 * 64);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s BATCH WARMUP STEPS\n", argv[0]);
    return 2;
  }
  int batch = atoi(argv[1]), warmup = atoi(argv[2]), steps = atoi(argv[3]);
  if (batch < 1 || batch > MAC(_BATCH_MAX) || warmup < 0 || steps < 1) {
    fprintf(stderr, "bad arguments (batch 1..%d)\n", MAC(_BATCH_MAX));
    return 2;
  }
  float *params = alloc64(sizeof(float) * MAC(_PARAMS_SIZE));
  float *opt = alloc64(sizeof(float) * MAC(_OPT_STATE_SIZE));
  void *arena = alloc64(MAC(_TRAIN_ARENA_SIZE));
  size_t nx = (size_t)batch * MAC(_INPUT0_SIZE);
  float *x = alloc64(sizeof(float) * nx);
  uint64_t s = 12345;
  for (size_t i = 0; i < nx; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)(s >> 40) / (float)(1 << 24);
  }
#ifdef TARGET_FLOAT
  size_t nt = (size_t)batch * MAC(_OUTPUT0_SIZE);
  float *target = alloc64(sizeof(float) * nt);
  for (size_t i = 0; i < nt; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    target[i] = (float)(s >> 40) / (float)(1 << 24);
  }
#else
  int32_t *target = alloc64(sizeof(int32_t) * (size_t)batch);
  for (int i = 0; i < batch; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    target[i] = (int32_t)((s >> 33) % NUM_CLASSES);
  }
#endif
  FN(_init_params)(params);
  float first = 0, last = 0;
  for (int i = 0; i < warmup; i++) {
    float l = FN(_train_step)(params, opt, x, target, batch, arena);
    if (i == 0)
      first = l;
  }
  double *t = malloc(sizeof(double) * (size_t)steps), *c = malloc(sizeof(double) * (size_t)steps), sum = 0;
  if (!t || !c)
    return 2;
  for (int i = 0; i < steps; i++) {
    double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    last = FN(_train_step)(params, opt, x, target, batch, arena);
    c[i] = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    t[i] = now_ms(CLOCK_MONOTONIC) - t0;
    sum += t[i];
    if (warmup == 0 && i == 0)
      first = last;
  }
  double med = median(t, steps), cmed = median(c, steps);
  printf("{\"batch\": %d, \"steps\": %d, \"median_ms\": %.6f, \"min_ms\": %.6f, \"mean_ms\": %.6f, "
         "\"cpu_median_ms\": %.6f, \"first_loss\": %.6g, \"last_loss\": %.6g}\n",
         batch, steps, med, t[0], sum / steps, cmed, first, last);
  free(t);
  free(c);
  free(params);
  free(opt);
  free(arena);
  free(x);
  free(target);
  return 0;
}
