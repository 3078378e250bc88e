// This machine's limits, measured in the same run as the figures compared
// with them (the clock moves with load and the box may be shared). Rates
// are per second of thread CPU time: time a busy machine gives our cores to
// another process does not count, so a neighbour cannot make a peak look
// lower and a % of it higher.
#pragma once

#include <attnrt/attnrt.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bench/workload.hpp"
#include "kernels/kernel_set.hpp"

namespace attnrt::bench {

// The arithmetic a kernel set's GEMMs run: FP32 FMAs, the bf16 dot product
// (vdpbf16ps) for sets that pack bf16 pairs for it (k_pack 2), or bf16 AMX
// tiles (tdpbf16ps: the amx_bf16 set). A % of peak is taken against the
// peak of the arithmetic that ran, which for bf16 inputs depends on the set
// the runtime chose.
enum class Arithmetic { fp32_fma, bf16_dot, bf16_tiles };
Arithmetic arithmetic_of(const kernels::KernelSet& ks);
// The same for the set named `set_name` (as the runtime reports it) for dtype t.
Arithmetic arithmetic_of(DType t, const std::string& set_name);

struct ComputePeak {
  double gflops;     // all `threads` together
  std::string kind;  // "fp32_fma", "bf16_dot" or "bf16_tiles"
  std::string isa;   // the instructions the loop ran: "avx512", "avx2", "neon", "scalar", ...
};

// Trials of a one-off measurement (measure_peaks, PeakProbe::best_of at a
// run's start and end); the best counts.
inline constexpr int kPeakTrials = 5;

// A run's peaks. Clock and memory traffic still move with load, so a run
// measures at its start and its end and keeps the best.
struct Peaks {
  ComputePeak fp32;                 // FP32 FMA
  std::optional<ComputePeak> bf16;  // the bf16 arithmetic asked for (dot or tiles), if the CPU has it
  double read_gbps;                 // the run's threads reading at once (one core each)
};
// bf16: the arithmetic of the run's bf16 set (fp32_fma: none but fp32's).
Peaks measure_peaks(int threads, Arithmetic bf16);
void keep_best(Peaks& best, const Peaks& again);

// A throughput loop (peak.cpp has one per ISA): `iters` iterations of
// `flops_per_iter` FLOPs over independent chains, returning a value that
// depends on every chain.
struct ThroughputLoop {
  float (*run)(std::int64_t iters);
  double flops_per_iter;
  const char* kind;  // as ComputePeak::kind
  const char* isa;   // as ComputePeak::isa
};

// CPU seconds of the calling thread (what the peaks' rates are per).
double thread_cpu_seconds();

// The FP32 FMA loop on the widest vectors this CPU has, and the loop of a
// bf16 arithmetic (vdpbf16ps, AMX tiles) where the CPU has it.
ThroughputLoop best_fp32_loop();
std::optional<ThroughputLoop> bf16_loop(Arithmetic a);

// One throughput loop, calibrated once: a trial runs it on each of
// `threads` OpenMP threads at once for 30-60 ms of thread CPU time. The
// loops are chains of FMAs (or bf16 dot products), independent enough to
// hide the latency, on the widest vectors this CPU has.
class ComputeProbe {
 public:
  ComputeProbe(const ThroughputLoop& loop, int threads);
  double sample_gflops() const;          // one trial, all threads together
  double flops_per_sample() const;       // FLOPs one trial does
  ComputePeak best_of(int trials) const;

 private:
  ThroughputLoop loop_;
  int threads_;
  std::int64_t iters_;
};

// The read probes' loop: 16-byte vectors summed into independent
// accumulators, so the loads, not the adds, limit it; inline, so that a
// caller reading many small pieces pays no call per piece.
inline constexpr std::size_t kReadBlockFloats = 32;  // one iteration's floats
struct ReadSum {
  using V = float __attribute__((vector_size(16)));
  static constexpr int kAcc = 8;
  V acc[kAcc] = {};
  // floats: a multiple of kReadBlockFloats.
  void add(const float* data, std::size_t floats) {
    const V* v = reinterpret_cast<const V*>(data);
    for (std::size_t i = 0; i < floats / 4; i += kAcc) {
#pragma GCC unroll 8
      for (int a = 0; a < kAcc; ++a) acc[a] += v[i + a];
    }
  }
  void keep() const;  // the sum stored where no compiler can drop the loads
};
void read_sum(const float* data, std::size_t floats);
// The same sum as the decode kernels stream K and V: the two halves side
// by side, each line prefetched into L1 a little ahead and into L2 far
// ahead (kernels/x86/prefetch_to.hpp). floats: a multiple of
// 2 kReadBlockFloats.
void read_sum_prefetched(const float* data, std::size_t floats);
// The same with each line prefetched into L1 512 bytes ahead and into L2
// 2 KiB ahead: the one-row fp32 P·V's distances on Zen 4 (one fp32 row at
// D128, four rows; kernels/avx512/pv_row.hpp). On a Zen 4 VM (256 MiB
// reads, 9 each, two runs) 29.2-30.8 GB/s, against 25.9-29.3 read_sum and
// 23.1-25.3 read_sum_prefetched, and that decode read K/V faster than the
// probe did without it (1.06-1.08 of it).
void read_sum_near(const float* data, std::size_t floats);

// Read bandwidth of one core: a buffer far larger than the last-level
// cache, allocated, written and read once up front; a sample streams (sums)
// the next `sample_bytes` of it (samples take turns over the buffer, so
// none finds the last one's tail in the cache) by read_sum,
// read_sum_prefetched or read_sum_near, whichever read fastest in a few
// trials up front.
// With `threads` > 1, that many threads read their shares of the sample at
// once and a core's figure is their bytes over their CPU seconds: what
// each core reads while the others read too, as a decode on that many
// threads does (one thread's pages, so on one NUMA node, as the bench's
// tensors are). The
// plain read alone undersold some cores: decode kernels read K and V
// faster than it did (Sapphire Rapids-class, one core: 9.4-9.7 GB/s
// against 13.1-13.5 streamed as read_sum_prefetched does).
class ReadProbe {
 public:
  ReadProbe(std::size_t buffer_bytes, std::size_t sample_bytes, int threads = 1);
  double sample_gbps();  // GB a core reads per CPU second
  double best_of(int samples);

 private:
  Buffer buf_;
  int threads_;
  std::size_t part_;    // floats each thread reads a sample (whole pairs of 8-vector blocks)
  std::size_t window_;  // floats a sample reads: threads_ parts
  std::size_t next_ = 0;
  using Way = void (*)(const float*, std::size_t);
  Way read_ = read_sum_prefetched;
};

// The peaks sampled as often as wanted, set up once per run: attnrt-bench
// samples them after every repetition of a shape, so each rep's % is taken
// against the clock and memory of that moment, not of the run's start or end
// (on a VM the clock moves by a third over seconds).
class PeakProbe {
 public:
  // Calibrates the fp32 FMA loop, the loop of the bf16 arithmetic `bf16`
  // when the CPU has it, and sets up a 512 MiB read buffer read 256 MiB per sample, by
  // `threads` threads at once: a call on that many workers is held to what
  // that many cores read together (each core's bytes per CPU second, times
  // the threads), not to one core's bandwidth.
  PeakProbe(int threads, Arithmetic bf16);
  // One trial (~30-60 ms) of the loop of arithmetic a (as peak_for()).
  double sample_compute_gflops(Arithmetic a) const;
  double compute_flops_per_sample(Arithmetic a) const;
  double sample_read_gbps();  // the threads at once, ~15-30 ms
  Peaks best_of(int trials);  // the run-level figures, as measure_peaks

 private:
  ComputeProbe fp32_;
  std::optional<ComputeProbe> bf16_;
  ReadProbe read_;
  int threads_;
};

// The peak a shape's % is taken against: that of the arithmetic its kernel set ran.
struct PeakUsed {
  const ComputePeak& peak;
  const char* note;  // "" unless that arithmetic's peak could not be measured
};
PeakUsed peak_for(const Peaks& peaks, Arithmetic a);

}  // namespace attnrt::bench
