#include "kernels/pipelines/wide_loops.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#endif

namespace attnrt::kernels {
namespace {

// The pipelines are built for the baseline ISA, where the ramp over every
// score took a tenth of a D=128 call and banking a GQA group's sums every
// 1024 keys 3% of its decode (x86); built for the widest ISA the CPU has
// (chosen once, by hand rather than by ifunc, which ThreadSanitizer's
// start-up cannot run), they cost a few percent and under 1%. On AArch64
// that is SVE (the A64FX's NEON converts and adds two doubles at a time).
[[gnu::always_inline]] inline void ramp(float* row, int cols, int base, float step) {
  for (int c = 0; c < cols; ++c) row[c] += step * static_cast<float>(base + c);
}
[[gnu::always_inline]] inline void to_bank(double* bank, double w, const float* o, int n) {
  for (int c = 0; c < n; ++c) bank[c] = bank[c] * w + o[c];
}
[[gnu::always_inline]] inline void from_bank(const double* bank, double w, float* o, int n) {
  for (int c = 0; c < n; ++c) o[c] = static_cast<float>(bank[c] * w + o[c]);
}

struct Loops {
  void (*ramp)(float*, int, int, float);
  void (*to_bank)(double*, double, const float*, int);
  void (*from_bank)(const double*, double, float*, int);
};

// One ISA's copies of the loops.
#define ATTNRT_WIDE_LOOPS(suffix, attr)                                                                  \
  attr void ramp_##suffix(float* row, int cols, int base, float step) { ramp(row, cols, base, step); }   \
  attr void to_bank_##suffix(double* bank, double w, const float* o, int n) { to_bank(bank, w, o, n); }  \
  attr void from_bank_##suffix(const double* bank, double w, float* o, int n) { from_bank(bank, w, o, n); } \
  constexpr Loops kLoops_##suffix{ramp_##suffix, to_bank_##suffix, from_bank_##suffix};

ATTNRT_WIDE_LOOPS(baseline, )
#if defined(__x86_64__) && defined(__GNUC__)
ATTNRT_WIDE_LOOPS(avx512, [[gnu::target("avx512f")]])
ATTNRT_WIDE_LOOPS(avx2, [[gnu::target("avx2,fma")]])
#elif defined(__aarch64__) && defined(__linux__) && defined(__GNUC__)
ATTNRT_WIDE_LOOPS(sve, [[gnu::target("+sve")]])
#endif
#undef ATTNRT_WIDE_LOOPS

const Loops& widest() {
  static const Loops& chosen = [&]() -> const Loops& {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) return kLoops_avx512;
    if (__builtin_cpu_supports("avx2")) return kLoops_avx2;
#elif defined(__aarch64__) && defined(__linux__) && defined(__GNUC__)
    if (getauxval(AT_HWCAP) & HWCAP_SVE) return kLoops_sve;
#endif
    return kLoops_baseline;
  }();
  return chosen;
}

}  // namespace

void add_ramp(float* row, int cols, std::int64_t first, float step) {
  widest().ramp(row, cols, static_cast<int>(first), step);  // |first| <= keys + rows: an int
}
void add_to_bank(double* bank, double w, const float* o, int n) { widest().to_bank(bank, w, o, n); }
void add_from_bank(const double* bank, double w, float* o, int n) { widest().from_bank(bank, w, o, n); }

}  // namespace attnrt::kernels
