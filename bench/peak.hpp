// This machine's limits, measured in the same run as the figures compared
// with them (the clock moves with load and the box may be shared). Rates
// are per second of thread CPU time: time a busy machine gives our cores to
// another process does not count, so a neighbour cannot make a peak look
// lower and a % of it higher.
#pragma once

#include <attnrt/attnrt.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace attnrt::bench {

struct ComputePeak {
  double gflops;     // all `threads` together
  std::string kind;  // "fp32_fma" or "bf16_dot"
  std::string isa;   // the instructions the loop ran: "avx512", "avx2", "neon", "scalar", ...
};

// FP32 FMA throughput: each of `threads` OpenMP threads runs a loop of
// independent FMA chains (enough to hide the latency) with the widest
// vectors this CPU has, all at once. Best of a few trials.
ComputePeak measure_fp32_fma_peak(int threads);

// The same with the bf16 dot product (vdpbf16ps); nullopt where the CPU
// lacks it (x86 without AVX512_BF16, other architectures).
std::optional<ComputePeak> measure_bf16_dot_peak(int threads);

// Read bandwidth of one core in GB/s: a streaming sum over a buffer far
// larger than the last-level cache, best of a few passes.
double measure_read_gbps(std::size_t buffer_bytes = std::size_t{512} << 20);

// All of the above for one run. Clock and memory traffic still move with
// load, so a run measures at its start and its end and keeps the best.
struct Peaks {
  ComputePeak fp32;
  std::optional<ComputePeak> bf16;  // measured only when asked for
  double read_gbps;                 // one core
};
Peaks measure_peaks(int threads, bool bf16);
void keep_best(Peaks& best, const Peaks& again);

// The peak a shape's % is taken against: the arithmetic its dtype uses.
struct PeakUsed {
  const ComputePeak& peak;
  const char* note;  // "" unless the dtype's own peak could not be measured
};
PeakUsed peak_for(const Peaks& peaks, DType t);

}  // namespace attnrt::bench
