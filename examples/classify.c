/* classify.c - the demo host program: runs the cnnc-generated LeNet-5.
 *
 *   cnnc examples/lenet5.yaml -o lenet5.c
 *   cc -O2 -std=c99 classify.c lenet5.c -lm -o classify
 *   ./classify examples/digits_samples.npy examples/digits_labels.npy
 *
 * It reads a float32 .npy of images [N,1,28,28] (and optionally int64
 * labels), runs lenet5_infer on each image with a stack-free static arena,
 * and prints the predicted digit with its softmax probability.  Everything
 * the model needs is in lenet5.c: no library, no heap inside the model.
 */
#include "lenet5.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The arena: caller-owned, 64-byte aligned, sized by the generated header. */
static union {
  unsigned char bytes[LENET5_ARENA_SIZE + 1];
  long double align_;
} arena_storage __attribute__((aligned(64)));

/* Minimal .npy reader for this demo: little-endian <f4 or <i8, C order. */
static void *read_npy(const char *path, const char *want_descr, long *count) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char pre[10];
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    fclose(f);
    return NULL;
  }
  unsigned hlen = pre[8] | (unsigned)pre[9] << 8;
  char *hdr = calloc(1, hlen + 1);
  if (!hdr || fread(hdr, 1, hlen, f) != hlen || !strstr(hdr, want_descr)) {
    fclose(f);
    free(hdr);
    return NULL;
  }
  long n = 1;
  char *p = strstr(hdr, "'shape': (");
  for (p = p ? p + 10 : NULL; p && *p && *p != ')'; p++)
    if (*p >= '0' && *p <= '9')
      n *= strtol(p, &p, 10);
  free(hdr);
  size_t elem = strstr(want_descr, "8") ? 8 : 4;
  void *data = malloc((size_t)n * elem);
  if (!data || fread(data, elem, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(data);
    return NULL;
  }
  fclose(f);
  *count = n;
  return data;
}

int main(int argc, char **argv) {
  const char *img_path = argc > 1 ? argv[1] : "examples/digits_samples.npy";
  const char *lab_path = argc > 2 ? argv[2] : NULL;
  long n = 0, nl = 0;
  float *images = read_npy(img_path, "<f4", &n);
  if (!images || n % LENET5_INPUT_SIZE) {
    fprintf(stderr, "classify: cannot read float32 images [N,1,28,28] from %s\n", img_path);
    return 1;
  }
  int64_t *labels = lab_path ? read_npy(lab_path, "<i8", &nl) : NULL;
  long count = n / LENET5_INPUT_SIZE, correct = 0;
  for (long i = 0; i < count; i++) {
    float logits[LENET5_OUTPUT_SIZE];
    if (lenet5_infer(images + i * LENET5_INPUT_SIZE, logits, 1, arena_storage.bytes) != 0) {
      fprintf(stderr, "classify: lenet5_infer failed\n");
      return 1;
    }
    int best = 0;
    for (int k = 1; k < LENET5_OUTPUT_SIZE; k++)
      if (logits[k] > logits[best])
        best = k;
    double sum = 0;
    for (int k = 0; k < LENET5_OUTPUT_SIZE; k++)
      sum += exp(logits[k] - logits[best]);
    printf("image %ld: predicted %d (p = %.3f)", i, best, 1.0 / sum);
    if (labels && i < nl) {
      printf("  label %d%s", (int)labels[i], labels[i] == best ? "" : "  <- wrong");
      correct += labels[i] == best;
    }
    printf("\n");
  }
  if (labels)
    printf("%ld of %ld correct\n", correct, count);
  free(images);
  free(labels);
  return 0;
}
