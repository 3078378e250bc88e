#include "kernels/pipelines/ramp.hpp"

namespace attnrt::kernels {

// The pipelines are built for the baseline ISA, where this pass over every
// score took a tenth of a D=128 call; cloned per x86 ISA (the loader picks
// the widest this CPU runs), it costs a few percent.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void add_ramp(float* row, int cols, float first, float step) {
  for (int c = 0; c < cols; ++c) row[c] += first + step * static_cast<float>(c);
}

}  // namespace attnrt::kernels
