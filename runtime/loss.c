/* loss.c - training losses with their input gradients.
 *
 * Provides cross entropy (log-softmax fused), negative log likelihood, mean
 * squared error and L1, each with torch.nn's default mean reduction.
 *
 * Guarantees:
 *  - each returns the loss and, when dx != NULL, ASSIGNS (=, not +=)
 *    d(loss)/d(input) to dx: the loss is the root of the backward pass, so
 *    its gradient initialises the chain;
 *  - cross entropy is numerically stable: log-sum-exp with the row maximum
 *    subtracted, evaluated in double, so large logits neither overflow nor
 *    lose the small probabilities; its gradient is (softmax - onehot) / n;
 *  - torch's gradient conventions at kinks: l1 gives sign(y - t) with 0 at
 *    y == t (torch's sgn);
 *  - class targets outside [0, C) (torch would raise, or ignore -100) make the
 *    loss NaN and the sample's gradient row NaN, so a bad label is never
 *    silently trained on; an empty batch gives NaN (torch's mean of nothing);
 *  - sums run in double in index order, serially: the losses are O(n*C), far
 *    below the network's cost, and the value is then independent of threads.
 */
#include "cnnc_rt.h"

/* Fill a gradient row with NaN (bad target). */
RT_INLINE void loss_nan_row(float *d, int C) {
  int c;
  for (c = 0; c < C; c++)
    d[c] = NAN;
}

RT_FN float rt_loss_cross_entropy(int n, int C, const float *logits, const int32_t *target, float *dx) {
  double total = 0.0;
  int s, c;
  if (n <= 0 || C <= 0)
    return NAN;
  for (s = 0; s < n; s++) {
    const float *z = logits + (int64_t)s * C;
    const int32_t t = target[s];
    double m = z[0], se = 0.0, lse;
    for (c = 1; c < C; c++)
      if (z[c] > m)
        m = z[c];
    for (c = 0; c < C; c++)
      se += exp((double)z[c] - m);
    lse = m + log(se);
    if (t < 0 || t >= C) {
      total = NAN;
      if (dx)
        loss_nan_row(dx + (int64_t)s * C, C);
      continue;
    }
    total += lse - (double)z[t];
    if (dx) {
      float *d = dx + (int64_t)s * C;
      for (c = 0; c < C; c++)
        d[c] = (float)((exp((double)z[c] - lse) - (c == t ? 1.0 : 0.0)) / n);
    }
  }
  return (float)(total / n);
}

RT_FN float rt_loss_nll(int n, int C, const float *logp, const int32_t *target, float *dx) {
  double total = 0.0;
  int s, c;
  if (n <= 0 || C <= 0)
    return NAN;
  for (s = 0; s < n; s++) {
    const int32_t t = target[s];
    float *d = dx ? dx + (int64_t)s * C : NULL;
    if (t < 0 || t >= C) {
      total = NAN;
      if (d)
        loss_nan_row(d, C);
      continue;
    }
    total -= logp[(int64_t)s * C + t];
    if (d) {
      for (c = 0; c < C; c++)
        d[c] = 0.0f;
      d[t] = (float)(-1.0 / n);
    }
  }
  return (float)(total / n);
}

RT_FN float rt_loss_mse(int64_t count, const float *y, const float *target, float *dx) {
  double total = 0.0;
  int64_t i;
  if (count <= 0)
    return NAN;
  for (i = 0; i < count; i++) {
    const double d = (double)y[i] - target[i];
    total += d * d;
    if (dx)
      dx[i] = (float)(2.0 * d / (double)count);
  }
  return (float)(total / (double)count);
}

RT_FN float rt_loss_l1(int64_t count, const float *y, const float *target, float *dx) {
  double total = 0.0;
  int64_t i;
  if (count <= 0)
    return NAN;
  for (i = 0; i < count; i++) {
    const double d = (double)y[i] - target[i];
    total += fabs(d);
    if (dx)
      dx[i] =
          d > 0.0 ? (float)(1.0 / (double)count) : (d < 0.0 ? (float)(-1.0 / (double)count) : (d == d ? 0.0f : NAN));
  }
  return (float)(total / (double)count);
}
