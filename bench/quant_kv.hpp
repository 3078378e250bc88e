// attnrt-bench --kv-dtype int8|fp8_e4m3|fp8_e5m2: the shape's call with K
// and V quantized (int8: a scale per token and head; fp8: per head), Q and
// O in the shape's dtype, beside the same call with fp32 and with bf16
// Q/K/V, all timed in turns in one run, with one core's read bandwidth
// sampled after each turn: the ratios of issue 20 (int8 decode >= 1.8x
// bf16, >= 3.5x fp32, K/V read at >= 85% of the read bandwidth). With
// --page-size every call reads a paged cache (pages shuffled).
#pragma once

#include "bench/engine.hpp"
#include "bench/options.hpp"

namespace attnrt::bench {

// Prints the timings, K/V GB/s, the ratios and a check of sampled rows of
// the quantized call against the reference on the dequantized K/V. Returns
// the exit status.
int run_quant_kv(Engine& engine, const Options& opt);

}  // namespace attnrt::bench
