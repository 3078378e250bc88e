#include "bench/peak.hpp"

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <thread>

#include <omp.h>

#if defined(__linux__)
#include <sched.h>
#endif

#include "bench/peak_sve.hpp"
#include "bench/workload.hpp"
#include "kernels/registry.hpp"
#include "runtime/internal/attnrt_internal.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#ifdef ATTNRT_HAVE_AVX512
#include "kernels/avx512/throughput.hpp"
#endif
#ifdef ATTNRT_HAVE_AMX_BF16
#include "kernels/avx512/amx_bf16.hpp"
#endif
#elif defined(__aarch64__)
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#endif
#endif

namespace attnrt::bench {
namespace {

// Every chain is acc = acc * a + b with a just below 1: it converges to a
// normal number, never to overflow or denormals.
constexpr float kA = 0.999999f, kB = 1e-6f;

template <int N>
float sum_lanes(const float (&lanes)[N]) {
  float s = 0;
  for (float x : lanes) s += x;
  return s;
}

#if defined(__x86_64__)
// 12 chains of ymm out of 16 registers (Zen and Intel need at least 8).
constexpr int kChains256 = 12;
__attribute__((target("avx2,fma"))) float fma_avx2(std::int64_t iters) {
  __m256 acc[kChains256];
  const __m256 a = _mm256_set1_ps(kA), b = _mm256_set1_ps(kB);
  for (int c = 0; c < kChains256; ++c) acc[c] = _mm256_set1_ps(static_cast<float>(c));
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int c = 0; c < kChains256; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  }
  for (int c = 1; c < kChains256; ++c) acc[0] = _mm256_add_ps(acc[0], acc[c]);
  float lanes[8];
  _mm256_storeu_ps(lanes, acc[0]);
  return sum_lanes(lanes);
}
#endif

#if defined(__aarch64__)
// 24 chains of 128-bit FMLA (A64FX: 2 pipes x latency 9 needs 18).
constexpr int kChainsNeon = 24;
float fma_neon(std::int64_t iters) {
  float32x4_t acc[kChainsNeon];
  const float32x4_t a = vdupq_n_f32(kA), b = vdupq_n_f32(kB);
  for (int c = 0; c < kChainsNeon; ++c) acc[c] = vdupq_n_f32(static_cast<float>(c));
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int c = 0; c < kChainsNeon; ++c) acc[c] = vfmaq_f32(b, acc[c], a);
  }
  for (int c = 1; c < kChainsNeon; ++c) acc[0] = vaddq_f32(acc[0], acc[c]);
  return vaddvq_f32(acc[0]);
}
#endif

// Any other CPU: scalar chains; the compiler may or may not fuse them.
constexpr int kChainsScalar = 8;
float mul_add_scalar(std::int64_t iters) {
  float acc[kChainsScalar];
  for (int c = 0; c < kChainsScalar; ++c) acc[c] = static_cast<float>(c);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 8
    for (int c = 0; c < kChainsScalar; ++c) acc[c] = acc[c] * kA + kB;
  }
  return sum_lanes(acc);
}

}  // namespace

ThroughputLoop best_fp32_loop() {
#if defined(__x86_64__)
  __builtin_cpu_init();
#ifdef ATTNRT_HAVE_AVX512
  if (__builtin_cpu_supports("avx512f"))
    return {kernels::avx512::fma_chains, kernels::avx512::kFmaChainsFlops, "fp32_fma", "avx512"};
#endif
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return {fma_avx2, 2.0 * 8 * kChains256, "fp32_fma", "avx2"};
#elif defined(__aarch64__)
#if defined(__linux__) && defined(ATTNRT_BENCH_HAVE_SVE_PEAK)
  if (getauxval(AT_HWCAP) & HWCAP_SVE)
    return {fma_sve, 2.0 * sve_fp32_lanes() * kChainsSve, "fp32_fma", "sve"};
#endif
  return {fma_neon, 2.0 * 4 * kChainsNeon, "fp32_fma", "neon"};
#endif
  return {mul_add_scalar, 2.0 * kChainsScalar, "fp32_fma", "scalar"};
}

// CPU time of the calling thread. Unlike wall time it stops while a busy
// machine runs someone else on the core, so a peak measured with it is the
// core's, not the share a neighbour left us (wall time would understate the
// peak and so overstate every % of it).
double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

namespace {

volatile float g_sink;  // results land here so no loop is optimized away

// Logical CPUs this process may run on: more threads than that share them,
// which thread CPU time alone would not show.
int usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

struct TeamTime {
  double slowest;  // CPU seconds of the slowest thread
  int team;        // threads that ran
};

// Every thread of the team runs loop.run(iters) at once.
TeamTime time_team(const ThroughputLoop& loop, int threads, std::int64_t iters) {
  double slowest = 0;
  int team = 0;
#pragma omp parallel num_threads(threads) reduction(max : slowest) reduction(+ : team)
  {
    const double t0 = thread_cpu_seconds();
    const float r = loop.run(iters);
    slowest = thread_cpu_seconds() - t0;
    team = 1;
    if (r == 42.0f) g_sink = r;  // practically never true, but the compiler cannot know
  }
  return {slowest, team};
}

}  // namespace

std::optional<ThroughputLoop> bf16_loop(Arithmetic a) {
#if defined(__x86_64__) && defined(ATTNRT_HAVE_AVX512)
  const std::uint32_t cpu = rt::cpu_features().bits;  // (asks Linux for AMX tile state, once)
  if (a == Arithmetic::bf16_dot && kernels::has_features(cpu, kernels::kFeatureAvx512 | kernels::kFeatureAvx512Bf16))
    return ThroughputLoop{kernels::avx512::bf16_dot_chains, kernels::avx512::kBf16DotChainsFlops, "bf16_dot",
                          "avx512_bf16"};
#ifdef ATTNRT_HAVE_AMX_BF16
  if (a == Arithmetic::bf16_tiles && kernels::has_features(cpu, kernels::kFeatureAmxBf16))
    return ThroughputLoop{kernels::avx512::tile_dot_chains, kernels::avx512::kTileDotChainsFlops, "bf16_tiles",
                          "amx_bf16"};
#endif
#endif
  (void)a;
  return std::nullopt;
}

void ReadSum::keep() const {
  V t = acc[0];
  for (int a = 1; a < kAcc; ++a) t += acc[a];
  if (t[0] == 42.0f) g_sink = t[1];
}

void read_sum(const float* data, std::size_t floats) {
  ReadSum r;
  r.add(data, floats);
  r.keep();
}

namespace {
// Two halves side by side, each line prefetched into L1 L1Bytes ahead and
// into L2 L2Bytes ahead.
template <std::size_t L1Bytes, std::size_t L2Bytes>
void read_halves(const float* data, std::size_t floats) {
  constexpr std::size_t kL1Ahead = L1Bytes / sizeof(float), kL2Ahead = L2Bytes / sizeof(float), kLine = 64 / sizeof(float);
  ReadSum r[2];
  const std::size_t half = floats / 2;
  for (std::size_t i = 0; i < half; i += kReadBlockFloats)
    for (int s = 0; s < 2; ++s) {
      const float* p = data + s * half + i;
      for (std::size_t l = 0; l < kReadBlockFloats; l += kLine) {  // (prefetches never fault, past the end too)
        __builtin_prefetch(p + kL1Ahead + l, 0, 3);
        __builtin_prefetch(p + kL2Ahead + l, 0, 2);
      }
      r[s].add(p, kReadBlockFloats);
    }
  r[0].keep();
  r[1].keep();
}
}  // namespace

void read_sum_prefetched(const float* data, std::size_t floats) { read_halves<1024, 8192>(data, floats); }
void read_sum_near(const float* data, std::size_t floats) { read_halves<512, 2048>(data, floats); }

ComputeProbe::ComputeProbe(const ThroughputLoop& loop, int threads) : loop_(loop), threads_(threads), iters_(1 << 14) {
  while (time_team(loop_, threads_, iters_).slowest < 0.03) iters_ *= 2;
}

double ComputeProbe::sample_gflops() const {
  const TeamTime t = time_team(loop_, threads_, iters_);
  const int running = std::min(t.team, usable_cpus());
  return loop_.flops_per_iter * static_cast<double>(iters_) * running / t.slowest * 1e-9;
}

double ComputeProbe::flops_per_sample() const {
  return loop_.flops_per_iter * static_cast<double>(iters_) * threads_;
}

ComputePeak ComputeProbe::best_of(int trials) const {
  double best = 0;
  for (int trial = 0; trial < trials; ++trial) best = std::max(best, sample_gflops());
  return {best, loop_.kind, loop_.isa};
}

ReadProbe::ReadProbe(std::size_t buffer_bytes, std::size_t sample_bytes, int threads)
    : buf_(buffer_bytes / (sizeof(float) * kReadBlockFloats) * kReadBlockFloats * sizeof(float)),
      threads_(std::max(1, threads)),
      part_(std::min(sample_bytes, buf_.bytes()) / threads_ / (sizeof(float) * 2 * kReadBlockFloats) * 2 *
            kReadBlockFloats),
      window_(part_ * threads_) {
  // Write every page (a never-written page would read from the shared zero
  // page), then read it all once to settle the page tables and TLB.
  float* f = static_cast<float*>(buf_.data());
  std::fill(f, f + buf_.bytes() / sizeof(float), 1.0f);
  read_sum(f, buf_.bytes() / sizeof(float));
  constexpr int kTrials = 3;  // each way, in turns; the fastest way's best counts
  constexpr Way kWays[] = {read_sum, read_sum_prefetched, read_sum_near};
  double best[std::size(kWays)] = {};
  for (int t = 0; t < kTrials; ++t)
    for (std::size_t w = 0; w < std::size(kWays); ++w) {
      read_ = kWays[w];
      best[w] = std::max(best[w], sample_gbps());
    }
  read_ = kWays[std::max_element(best, best + std::size(kWays)) - best];
}

double ReadProbe::sample_gbps() {
  const std::size_t floats = buf_.bytes() / sizeof(float);
  if (next_ + window_ > floats) next_ = 0;
  const float* sample = static_cast<const float*>(buf_.data()) + next_;
  double cpu = 0;
  if (threads_ == 1) {
    const double t0 = thread_cpu_seconds();
    read_(sample, part_);
    cpu = thread_cpu_seconds() - t0;
  } else {
    const auto read = read_;
    const std::size_t part = part_;
#pragma omp parallel num_threads(threads_) reduction(+ : cpu)
    {
      const double t0 = thread_cpu_seconds();
      read(sample + static_cast<std::size_t>(omp_get_thread_num()) * part, part);
      cpu = thread_cpu_seconds() - t0;
    }
  }
  next_ += window_;
  return static_cast<double>(window_ * sizeof(float)) / cpu * 1e-9;
}

double ReadProbe::best_of(int samples) {
  double best = 0;
  for (int s = 0; s < samples; ++s) best = std::max(best, sample_gbps());
  return best;
}

PeakProbe::PeakProbe(int threads, Arithmetic bf16)
    : fp32_(best_fp32_loop(), threads), read_(std::size_t{512} << 20, std::size_t{256} << 20, threads),
      threads_(std::max(1, threads)) {
  if (const auto loop = bf16_loop(bf16)) bf16_.emplace(*loop, threads);
}

double PeakProbe::sample_compute_gflops(Arithmetic a) const {
  return a != Arithmetic::fp32_fma && bf16_ ? bf16_->sample_gflops() : fp32_.sample_gflops();
}

double PeakProbe::compute_flops_per_sample(Arithmetic a) const {
  return a != Arithmetic::fp32_fma && bf16_ ? bf16_->flops_per_sample() : fp32_.flops_per_sample();
}

double PeakProbe::sample_read_gbps() { return threads_ * read_.sample_gbps(); }

Peaks PeakProbe::best_of(int trials) {
  return {fp32_.best_of(trials), bf16_ ? std::optional(bf16_->best_of(trials)) : std::nullopt,
          threads_ * read_.best_of(trials)};
}

Peaks measure_peaks(int threads, Arithmetic bf16) { return PeakProbe(threads, bf16).best_of(kPeakTrials); }

void keep_best(Peaks& best, const Peaks& again) {
  best.fp32.gflops = std::max(best.fp32.gflops, again.fp32.gflops);
  if (best.bf16 && again.bf16) best.bf16->gflops = std::max(best.bf16->gflops, again.bf16->gflops);
  best.read_gbps = std::max(best.read_gbps, again.read_gbps);
}

Arithmetic arithmetic_of(const kernels::KernelSet& ks) {
  if (ks.requires_cpu & kernels::kFeatureAmxBf16) return Arithmetic::bf16_tiles;
  return ks.k_pack == 2 ? Arithmetic::bf16_dot : Arithmetic::fp32_fma;
}

Arithmetic arithmetic_of(DType t, const std::string& set_name) {
  for (const kernels::KernelSet* ks : kernels::kernel_sets(static_cast<kernels::DType>(t)))
    if (ks && set_name == ks->name) return arithmetic_of(*ks);
  return Arithmetic::fp32_fma;
}

PeakUsed peak_for(const Peaks& peaks, Arithmetic a) {
  if (a == Arithmetic::fp32_fma) return {peaks.fp32, ""};
  if (peaks.bf16) return {*peaks.bf16, ""};
  return {peaks.fp32, "this CPU has no such bf16 arithmetic (avx512_bf16, amx_bf16): % of the fp32 FMA peak"};
}

}  // namespace attnrt::bench
