// attnrt-bench --alibi / --sinks with a shape: the call with those softmax
// terms beside the same call without them, timed alternately in one run
// so the ratio survives a busy machine (issue 20's target: within 3%).
#pragma once

#include "bench/engine.hpp"
#include "bench/options.hpp"

namespace attnrt::bench {

// Prints both timings, their GFLOP/s and ratio, and a check of sampled rows
// of each output against the reference with its own parameters. Returns
// the exit status.
int run_softmax_terms(Engine& engine, const Options& opt);

}  // namespace attnrt::bench
