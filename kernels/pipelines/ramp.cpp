#include "kernels/pipelines/ramp.hpp"

namespace attnrt::kernels {

// The pipelines are built for the baseline ISA, where this pass over every
// score took a tenth of a D=128 call; cloned per x86 ISA (the loader picks
// the widest this CPU runs), it costs a few percent.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void add_ramp(float* row, int cols, std::int64_t first, float step) {
  const int base = static_cast<int>(first);  // |first| <= keys + rows: an int
  for (int c = 0; c < cols; ++c) row[c] += step * static_cast<float>(base + c);
}

}  // namespace attnrt::kernels
