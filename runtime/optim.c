/* optim.c - optimizer update rules and gradient-norm helpers.
 *
 * Provides SGD (momentum, dampening, nesterov, weight decay), Adam / AdamW
 * and RMSprop (uncentred, optional momentum) for one parameter tensor, plus
 * the sum of squares and the scaling that clip_grad_norm_ is built from.
 *
 * Guarantees:
 *  - the update rules of torch.optim 1.13 (the single-tensor, non-foreach
 *    path) term for term, including the order of the float operations where
 *    it matters (Adam's denom = sqrt(v) / sqrt(bias_correction2) + eps, the
 *    step size lr / bias_correction1); scalar hyper-parameter arithmetic runs
 *    in double, as Python's floats do;
 *  - optimizer state starts zeroed: the first SGD momentum step (step == 1)
 *    copies the gradient into the buffer instead of applying dampening, as
 *    torch's `buf is None` branch does;
 *  - elementwise updates are independent per element, so any split over
 *    threads gives the same bits; rt_sumsq sums in double over a fixed
 *    partition of the vector (set by its length only) and adds the parts in
 *    order, so it is thread-count independent too;
 *  - the gradient is never modified (weight decay works on a copy).
 */
#include "cnnc_rt.h"

enum {
  OPTIM_CHUNK = 4096, /* elements per task of the elementwise updates */
  OPTIM_PARTS = 64    /* fixed partition of rt_sumsq */
};

RT_FN void rt_sgd_step(int64_t count, float lr, float momentum, float dampening, float weight_decay, int nesterov,
                       int64_t step, float *p, const float *g, float *buf) {
  const int64_t nchunk = (count + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
  const int first = step <= 1;
  int64_t t;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * OPTIM_CHUNK, i1 = count - i0 < OPTIM_CHUNK ? count : i0 + OPTIM_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++) {
      float d = g[i];
      if (weight_decay != 0.0f)
        d = d + weight_decay * p[i];
      if (momentum != 0.0f) {
        const float bv = first ? d : buf[i] * momentum + (1.0f - dampening) * d;
        buf[i] = bv;
        d = nesterov ? d + momentum * bv : bv;
      }
      p[i] = p[i] + -lr * d;
    }
  }
}

RT_FN void rt_adam_step(int64_t count, float lr, float beta1, float beta2, float eps, float weight_decay, int adamw,
                        int64_t step, float *p, const float *g, float *m, float *v) {
  const double bc1 = 1.0 - pow((double)beta1, (double)step);
  const double bc2 = 1.0 - pow((double)beta2, (double)step);
  const float step_size = (float)((double)lr / bc1);
  const float bc2_sqrt = (float)sqrt(bc2);
  const float decay = (float)(1.0 - (double)lr * (double)weight_decay);
  const int64_t nchunk = (count + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
  int64_t t;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * OPTIM_CHUNK, i1 = count - i0 < OPTIM_CHUNK ? count : i0 + OPTIM_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++) {
      float d = g[i], denom;
      if (adamw)
        p[i] *= decay; /* decoupled: param.mul_(1 - lr * wd) before the moments */
      else if (weight_decay != 0.0f)
        d = d + weight_decay * p[i];
      m[i] = m[i] * beta1 + (1.0f - beta1) * d;
      v[i] = v[i] * beta2 + (1.0f - beta2) * (d * d);
      denom = sqrtf(v[i]) / bc2_sqrt + eps;
      p[i] = p[i] + -step_size * (m[i] / denom);
    }
  }
}

/* centered = False.  buf is used only when momentum > 0 (may be NULL else). */
RT_FN void rt_rmsprop_step(int64_t count, float lr, float alpha, float eps, float weight_decay, float momentum,
                           int64_t step, float *p, const float *g, float *sq, float *buf) {
  const int64_t nchunk = (count + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
  int64_t t;
  (void)step; /* RMSprop has no bias correction; kept for a uniform signature */
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * OPTIM_CHUNK, i1 = count - i0 < OPTIM_CHUNK ? count : i0 + OPTIM_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++) {
      float d = g[i], avg;
      if (weight_decay != 0.0f)
        d = d + weight_decay * p[i];
      sq[i] = sq[i] * alpha + (1.0f - alpha) * (d * d);
      avg = sqrtf(sq[i]) + eps;
      if (momentum > 0.0f) {
        buf[i] = buf[i] * momentum + d / avg;
        p[i] = p[i] + -lr * buf[i];
      } else {
        p[i] = p[i] + -lr * (d / avg);
      }
    }
  }
}

RT_FN double rt_sumsq(int64_t count, const float *g) {
  double part[OPTIM_PARTS], s = 0.0;
  const int64_t per = (count + OPTIM_PARTS - 1) / OPTIM_PARTS;
  int64_t t;
  int k;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < OPTIM_PARTS; t++) {
    const int64_t i0 = t * per, i1 = count - i0 < per ? count : i0 + per;
    double acc = 0.0;
    int64_t i;
    for (i = i0; i < i1; i++)
      acc += (double)g[i] * g[i];
    part[t] = acc;
  }
  for (k = 0; k < OPTIM_PARTS; k++)
    s += part[k];
  return s;
}

RT_FN void rt_scale(int64_t count, float s, float *g) {
  const int64_t nchunk = (count + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
  int64_t t;
  RT_OMP(parallel for schedule(static))
  for (t = 0; t < nchunk; t++) {
    const int64_t i0 = t * OPTIM_CHUNK, i1 = count - i0 < OPTIM_CHUNK ? count : i0 + OPTIM_CHUNK;
    int64_t i;
    for (i = i0; i < i1; i++)
      g[i] *= s;
  }
}
