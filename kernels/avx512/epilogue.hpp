// Writing an R x 2-vector accumulator tile (R = 14, or a P·V tile of the
// strip's real rows), shared by the fp32 and bf16 micro-kernels: Q·Kᵀ stores alpha * acc into S, P·V init stores acc, P·V
// accumulate adds it to O.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/ops.hpp"

namespace attnrt::kernels::avx512 {

enum class Epilogue { scale_store, store, accumulate };

template <Epilogue E, int R>
static inline void store_tile(const __m512 (&acc)[R][2], float alpha, float* __restrict c,
                              std::int64_t ldc) {
  [[maybe_unused]] const __m512 scale = _mm512_set1_ps(alpha);
#pragma GCC unroll 14
  for (int i = 0; i < R; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < 2; ++j) {
      __m512 v = acc[i][j];
      if constexpr (E == Epilogue::scale_store) v = _mm512_mul_ps(v, scale);
      if constexpr (E == Epilogue::accumulate) v = _mm512_add_ps(v, _mm512_loadu_ps(row + 16 * j));
      _mm512_storeu_ps(row + 16 * j, v);
    }
  }
}

}  // namespace attnrt::kernels::avx512
