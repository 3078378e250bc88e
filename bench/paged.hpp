// attnrt-bench --page-size P: the shape's call with K and V in a paged cache
// (pools [pages, Hkv, P, D], pages shuffled, a block table per sequence,
// as vLLM keeps them) beside the same call on contiguous K/V, timed
// alternately in one run so the ratio survives a busy machine (issue 20's
// target: paged decode within 5% of contiguous).
#pragma once

#include "bench/engine.hpp"
#include "bench/options.hpp"

namespace attnrt::bench {

// Prints both timings, GFLOP/s, K/V read GB/s and their ratio, and a check
// of sampled rows of each output against the reference. Returns the exit
// status.
int run_paged(Engine& engine, const Options& opt);

}  // namespace attnrt::bench
