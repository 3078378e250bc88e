/* A user of the installed attnrt::mpi (scripts/check-install.sh, when attnrt
 * was built with MPI): one context-parallel call on a communicator of one
 * rank, run as an MPI singleton. */
#include <attnrt/attnrt_mpi.h>

#include <math.h>
#include <stdio.h>

int main(int argc, char** argv) {
  enum { M = 3, N = 4, D = 8 };
  float q[M * D], k[N * D], v[N * D], o[M * D];
  for (int i = 0; i < M * D; ++i) q[i] = 0.1f, o[i] = -1.0f;
  for (int i = 0; i < N * D; ++i) k[i] = 0.2f, v[i] = (float)(i / D); /* V row j is all j */
  const attnrt_tensor tq = {q, ATTNRT_F32, {1, 1, M, D}, {M * D, M * D, D}};
  const attnrt_tensor tk = {k, ATTNRT_F32, {1, 1, N, D}, {N * D, N * D, D}};
  const attnrt_tensor tv = {v, ATTNRT_F32, {1, 1, N, D}, {N * D, N * D, D}};
  const attnrt_tensor to = {o, ATTNRT_F32, {1, 1, M, D}, {M * D, M * D, D}};
  attnrt_mpi_params p;
  MPI_Init(&argc, &argv);
  attnrt_mpi_params_init(&p);
  const attnrt_status s = attnrt_mpi_forward(MPI_COMM_SELF, &tq, &tk, &tv, &to, &p);
  MPI_Finalize();
  if (s != ATTNRT_OK) {
    fprintf(stderr, "consumer_mpi.c: %s\n", attnrt_mpi_last_error());
    return 1;
  }
  /* Identical keys weigh every V row alike: each output is the mean of 0..N-1. */
  if (fabsf(o[D + 2] - 1.5f) > 1e-6f) {
    fprintf(stderr, "consumer_mpi.c: o[1][2] is %g, expected 1.5\n", o[D + 2]);
    return 1;
  }
  printf("consumer_mpi.c: ok\n");
  return 0;
}
