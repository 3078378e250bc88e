// Arguments checked on every rank together before any K/V moves: each rank
// checks its own, then all ranks gather every rank's verdict and shape and
// reach the same answer, so one bad rank gives the same error everywhere.
#pragma once

#include <attnrt/attnrt_mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mpi/src/error.hpp"

namespace attnrt::mpi {

// A rank's shard shapes and parameters, as the collective check compares them.
struct Shape {
  std::int64_t batch, q_heads, kv_heads, m, n, d, dv;
  std::int32_t dtype;           // of q and o (and k, v but for a quantized cache)
  std::int32_t k_dtype, v_dtype;
};

// Throws Failure on the first local rule broken (names the argument).
Shape check_local(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
                  const attnrt_tensor* o, const attnrt_mpi_params* p, int ranks);

// Collective over comm: every rank's local verdict (error is "" when its
// check passed) and shape; throws the same Failure on every rank if any rank
// failed or the shapes or parameters differ.
void check_together(MPI_Comm comm, const std::string& error, const Shape& shape, const attnrt_mpi_params* p);

// The block-table slots a rank reads of a paged cache, held[b] keys of
// sequence b (those of its keys before kv_lens[b]): each must be a page of
// both pools. "" or the error.
std::string check_pages(const attnrt_params& a, const attnrt_tensor& k, const attnrt_tensor& v,
                        const std::vector<std::int64_t>& held);

// What agree_on_status throws: the same failure on every rank already.
struct Agreed : Failure {
  using Failure::Failure;
};

// Collective: a failure on any rank (error not "") becomes the same Agreed
// on every rank (the lowest failing rank's message).
void agree_on_status(MPI_Comm comm, const std::string& error, attnrt_status status);

}  // namespace attnrt::mpi
