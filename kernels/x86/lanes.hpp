// Lane helpers of the 256-bit kernels (avx2, and avx512's few-row loops): masks for tails (maskload / maskstore)
// and the sum of a vector's lanes.
#pragma once

#include "kernels/x86/intrinsics.hpp"

namespace attnrt::kernels::x86 {

// Lane mask with lanes [0, n) set, n in [0, 8] (n <= 0: none, n >= 8: all).
static inline __m256i first_lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// The first n (<= 8) lanes of v stored at p; nothing past them is written.
static inline void store_upto8(float* p, __m256 v, int n) {
  if (n >= 8)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, first_lanes(n), v);
}

// The sum of v's eight lanes.
static inline float sum_lanes(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

}  // namespace attnrt::kernels::x86
