// The bf16 dot product's throughput loop (throughput.hpp), compiled with
// AVX512_BF16.
#include "kernels/avx512/intrinsics.hpp"

#include "kernels/avx512/throughput.hpp"

namespace attnrt::kernels::avx512 {

float bf16_dot_chains(std::int64_t iters) {
  __m512 acc[kThroughputChains];
  // Small inputs (2^-10) keep the sums far from overflow.
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3a80);
  for (int c = 0; c < kThroughputChains; ++c) acc[c] = _mm512_set1_ps(static_cast<float>(c));
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int c = 0; c < kThroughputChains; ++c) acc[c] = _mm512_dpbf16_ps(acc[c], a, a);
  }
  return sum_of_chains(acc);
}

}  // namespace attnrt::kernels::avx512
