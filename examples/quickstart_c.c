/* attnrt from C: grouped-query attention (8 query heads share 2 KV heads) on
 * a runtime of its own, with every status checked. */
#include <attnrt/attnrt.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Every call returns a status; attnrt_last_error() says what went wrong. */
#define CHECK(call)                                                           \
  do {                                                                        \
    attnrt_status status_ = (call);                                           \
    if (status_ != ATTNRT_OK) {                                               \
      fprintf(stderr, "%s failed (%d): %s\n", #call, (int)status_, attnrt_last_error()); \
      goto done;                                                              \
    }                                                                         \
  } while (0)

static attnrt_tensor bhsd(float* data, int64_t b, int64_t h, int64_t s, int64_t d) {
  attnrt_tensor t = {data, ATTNRT_F32, {b, h, s, d}, {h * s * d, s * d, d}};
  return t;
}

int main(void) {
  enum { B = 2, HQ = 8, HKV = 2, M = 64, N = 256, D = 128 };
  int rc = 1;
  attnrt_runtime* rt = NULL;
  float* q = malloc(sizeof(float) * B * HQ * M * D);
  float* k = malloc(sizeof(float) * B * HKV * N * D);
  float* v = malloc(sizeof(float) * B * HKV * N * D);
  float* o = malloc(sizeof(float) * B * HQ * M * D);
  if (!q || !k || !v || !o) goto done;
  for (int i = 0; i < B * HQ * M * D; ++i) q[i] = sinf(0.01f * (float)i);
  for (int i = 0; i < B * HKV * N * D; ++i) {
    k[i] = cosf(0.02f * (float)i);
    v[i] = sinf(0.03f * (float)i + 1.0f);
  }

  attnrt_config config;
  CHECK(attnrt_config_init(&config)); /* ATTNRT_* environment variables, checked */
  config.num_threads = 2;
  CHECK(attnrt_runtime_create(&config, &rt));
  printf("attnrt %s: isa %s, %d threads\n", attnrt_version(), attnrt_runtime_isa(rt),
         attnrt_runtime_num_threads(rt));

  attnrt_tensor tq = bhsd(q, B, HQ, M, D), tk = bhsd(k, B, HKV, N, D);
  attnrt_tensor tv = bhsd(v, B, HKV, N, D), to = bhsd(o, B, HQ, M, D);
  attnrt_params params;
  attnrt_params_init(&params);
  params.causal = 1; /* bottom-right: the last query sees every key */

  /* A mistake is reported, not fatal: 3 KV heads cannot serve 8 query heads. */
  attnrt_tensor bad_k = bhsd(k, B, 3, N / 2, D);
  if (attnrt_runtime_forward(rt, &tq, &bad_k, &tv, &to, &params) == ATTNRT_INVALID_ARGUMENT)
    printf("rejected as expected: %s\n", attnrt_last_error());

  CHECK(attnrt_runtime_forward(rt, &tq, &tk, &tv, &to, &params));
  printf("o[0][0][0][0] = %f\n", o[0]);
  rc = isfinite(o[0]) ? 0 : 1;

done:
  attnrt_runtime_destroy(rt);
  free(q);
  free(k);
  free(v);
  free(o);
  return rc;
}
