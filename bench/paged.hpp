// attnrt-bench --page-size P: the shape's call with K and V in a paged cache
// (pools [pages, Hkv, P, D], or with --page-layout tokens [pages, P,
// Hkv, D] as FlashAttention keeps them; pages shuffled, a block table per
// sequence) beside the same call on contiguous K/V, timed
// alternately in one run so the ratio survives a busy machine (issue 20's
// target: paged decode within 5% of contiguous).
#pragma once

#include <cstdint>
#include <vector>

#include "bench/engine.hpp"
#include "bench/options.hpp"
#include "bench/workload.hpp"

namespace attnrt::bench {

// A page pool [pages, heads, page_size, dim] (with token_major, memory
// [pages, page_size, heads, dim] viewed so) holding a dense [B, heads, N,
// dim] tensor's rows where `table` says: key j of batch b at row j % ps of
// page table[b * slots + j / ps]; every row no key uses is NaN (0xff bytes).
// With cu (varlen offsets [S + 1]), dense is packed [1, heads, cu[S], dim]
// and sequence b's key j is its row cu[b] + j.
struct Pool {
  Buffer buffer;
  Tensor view;
};
Pool pool_of(const Tensor& dense, std::int64_t pages, std::int64_t ps, const std::vector<std::int32_t>& table,
             std::int64_t slots, const std::vector<std::int32_t>* cu = nullptr, bool token_major = false);

// A shuffled block table: `slots` pages per sequence of `batch`.
std::vector<std::int32_t> shuffled_table(std::int64_t batch, std::int64_t slots);

// Prints both timings, GFLOP/s, K/V read GB/s and their ratio, and a check
// of sampled rows of each output against the reference. Returns the exit
// status.
int run_paged(Engine& engine, const Options& opt);

}  // namespace attnrt::bench
