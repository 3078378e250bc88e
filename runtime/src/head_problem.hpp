// Turning a validated call into the HeadProblems the pipelines run: one per
// (batch, query head), or per (batch, KV head) with the query heads that
// share it packed into the rows. In a varlen call (params.cu_seqlens_q) a
// "batch" is a packed sequence: its rows and keys are offsets into batch 0.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>

#include "kernels/problem.hpp"

namespace attnrt::rt {

// The key band every row of a call sees keys through (kernels/band.hpp):
// causal folded into the right side (at most 0), the one place it is, and a
// side too wide to hide any key (>= M + N) made unbounded (-1), so that no
// arithmetic on the band overflows whatever the caller passed.
kernels::Band mask_band(const attnrt_params& params, std::int64_t m, std::int64_t n);

// The most keys a batch of the call may have (the n mask_band takes):
// k.seq, or with paged K/V the slots of a block table row times page_size.
std::int64_t key_capacity(const attnrt_tensor& k, const attnrt_params& params);

// What the plan and the partition see of a call: its batches (sequences of a
// varlen call) and the most query rows and keys any of them has. Dense calls
// give the tensors' shape; varlen and paged ones walk cu_seqlens and kv_lens
// once (no allocation).
struct CallExtent {
  std::int64_t batches, rows, keys;
};
CallExtent call_extent(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_params& params);

// How K and V of dtype t are stored (ATTNRT_I8 and the fp8 dtypes: codes).
kernels::KvFormat kv_format(attnrt_dtype t);

// The problem of batch (or varlen sequence) b, query heads [h0, h0 + q_heads) (which must share
// one KV head), with the call's masks, bias, softcap, LSE and precision.
kernels::HeadProblem head_problem(const attnrt_tensor& q, const attnrt_tensor& k,
                                  const attnrt_tensor& v, const attnrt_tensor& o,
                                  const attnrt_params& params, std::int64_t b, std::int64_t h0,
                                  int q_heads);

}  // namespace attnrt::rt
