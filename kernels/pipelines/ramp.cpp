#include "kernels/pipelines/ramp.hpp"

namespace attnrt::kernels {
namespace {

// The pipelines are built for the baseline ISA, where this pass over every
// score took a tenth of a D=128 call; built for the widest x86 ISA the CPU
// has (chosen once, by hand rather than by ifunc, which ThreadSanitizer's
// start-up cannot run), it costs a few percent.
[[gnu::always_inline]] inline void ramp(float* row, int cols, int base, float step) {
  for (int c = 0; c < cols; ++c) row[c] += step * static_cast<float>(base + c);
}

using Ramp = void (*)(float*, int, int, float);

void ramp_baseline(float* row, int cols, int base, float step) { ramp(row, cols, base, step); }

#if defined(__x86_64__) && defined(__GNUC__)
[[gnu::target("avx512f")]] void ramp_avx512(float* row, int cols, int base, float step) {
  ramp(row, cols, base, step);
}
[[gnu::target("avx2")]] void ramp_avx2(float* row, int cols, int base, float step) { ramp(row, cols, base, step); }
#endif

Ramp widest() {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512f")) return ramp_avx512;
  if (__builtin_cpu_supports("avx2")) return ramp_avx2;
#endif
  return ramp_baseline;
}

}  // namespace

void add_ramp(float* row, int cols, std::int64_t first, float step) {
  static const Ramp chosen = widest();
  chosen(row, cols, static_cast<int>(first), step);  // |first| <= keys + rows: an int
}

}  // namespace attnrt::kernels
