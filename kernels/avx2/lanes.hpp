// Lane masks for the avx2 kernels' tails (maskload / maskstore).
#pragma once

#include <immintrin.h>

namespace attnrt::kernels::avx2 {

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

}  // namespace attnrt::kernels::avx2
