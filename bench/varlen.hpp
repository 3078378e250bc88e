// attnrt-bench --varlen LENS: one packed call (cu_seqlens, self-attention,
// each sequence's queries against its own keys) beside the same sequences
// run as dense calls one after another, on the same memory, timed
// alternately in one run so the ratio survives a busy machine (issue 20's
// target: the packed call within 5% of the dense ones).
#pragma once

#include "bench/engine.hpp"
#include "bench/options.hpp"

namespace attnrt::bench {

// Prints the two timings, their GFLOP/s and ratio, and a check of sampled
// rows of every sequence against the reference. Returns the exit status.
int run_varlen(Engine& engine, const Options& opt);

}  // namespace attnrt::bench
