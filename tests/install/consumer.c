/* A C user of the installed package, built with pkg-config's flags alone
 * (scripts/check-install.sh): one tiny call through the C API. */
#include <attnrt/attnrt.h>

#include <math.h>
#include <stdio.h>

static attnrt_tensor bhsd(float* data, int64_t seq, int64_t dim) {
  attnrt_tensor t = {data, ATTNRT_F32, {1, 1, seq, dim}, {seq * dim, seq * dim, dim}};
  return t;
}

int main(void) {
  enum { M = 3, N = 4, D = 8 };
  float q[M * D], k[N * D], v[N * D], o[M * D];
  for (int i = 0; i < M * D; ++i) q[i] = 0.1f, o[i] = -1.0f;
  for (int i = 0; i < N * D; ++i) k[i] = 0.2f, v[i] = (float)(i / D); /* V row j is all j */
  const attnrt_tensor tq = bhsd(q, M, D), tk = bhsd(k, N, D), tv = bhsd(v, N, D), to = bhsd(o, M, D);
  if (attnrt_attention_forward(&tq, &tk, &tv, &to, NULL) != ATTNRT_OK) {
    fprintf(stderr, "consumer.c: %s\n", attnrt_last_error());
    return 1;
  }
  /* Identical keys weigh every V row alike: each output is the mean of 0..N-1. */
  if (fabsf(o[D + 2] - 1.5f) > 1e-6f) {
    fprintf(stderr, "consumer.c: o[1][2] is %g, expected 1.5\n", o[D + 2]);
    return 1;
  }
  printf("consumer.c: ok (attnrt %s)\n", attnrt_version());
  return 0;
}
