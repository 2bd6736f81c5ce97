/* bench/peak.c - this core's FP32 FMA peak, GFLOP/s, for bench.py's % of
 * peak: 12 independent FMA chains of the widest vectors the compiler
 * targets (-march=native), best of 50 runs of ~10 ms (a busy host only
 * lowers it).  Prints the number alone. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <time.h>
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

#if defined(__AVX512F__)
typedef __m512 V;
enum { LANES = 16 };
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LANE0(v) _mm512_cvtss_f32(v)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 V;
enum { LANES = 8 };
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LANE0(v) _mm256_cvtss_f32(v)
#else
typedef float V;
enum { LANES = 1 };
#define SET1(x) (x)
#define FMA(a, b, c) ((a) * (b) + (c))
#define LANE0(v) (v)
#endif

int main(void) {
  const V m = SET1(0.9999f), c = SET1(0.0001f);
  V a0 = SET1(0.0f), a1 = SET1(0.1f), a2 = SET1(0.2f), a3 = SET1(0.3f), a4 = SET1(0.4f), a5 = SET1(0.5f);
  V a6 = SET1(0.6f), a7 = SET1(0.7f), a8 = SET1(0.8f), a9 = SET1(0.9f), a10 = SET1(1.0f), a11 = SET1(1.1f);
  const long n = 700000;
  double best = 0.0;
  int r;
  for (r = 0; r < 50; r++) {
    const double t0 = now();
    long k;
    double g;
    for (k = 0; k < n; k++) {
      a0 = FMA(a0, m, c), a1 = FMA(a1, m, c), a2 = FMA(a2, m, c), a3 = FMA(a3, m, c);
      a4 = FMA(a4, m, c), a5 = FMA(a5, m, c), a6 = FMA(a6, m, c), a7 = FMA(a7, m, c);
      a8 = FMA(a8, m, c), a9 = FMA(a9, m, c), a10 = FMA(a10, m, c), a11 = FMA(a11, m, c);
    }
    g = (double)n * 12 * 2 * LANES / (now() - t0) / 1e9;
    if (g > best)
      best = g;
  }
  /* the sums keep the chains live */
  fprintf(stderr, "checksum %g\n", (double)(LANE0(a0) + LANE0(a1) + LANE0(a2) + LANE0(a3) + LANE0(a4) + LANE0(a5) +
                                            LANE0(a6) + LANE0(a7) + LANE0(a8) + LANE0(a9) + LANE0(a10) + LANE0(a11)));
  printf("%.1f\n", best);
  return 0;
}
