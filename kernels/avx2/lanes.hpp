// Lane masks for the avx2 kernels' tails (maskload / maskstore).
#pragma once

#include <immintrin.h>

namespace attnrt::kernels::avx2 {

// Lane mask with lanes [0, n) set, n in [0, 8] (n <= 0: none, n >= 8: all).
static inline __m256i first_lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace attnrt::kernels::avx2
