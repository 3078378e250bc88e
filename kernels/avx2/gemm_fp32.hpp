// The fp32 GEMM micro-kernel of the avx2 sets: C[6 x 16] from an A panel
// of k columns in blocks of 8 ([6][8] row-major each, the last [6][k % 8];
// kernel_set.hpp, a_block) and a B panel [k][16], 12 ymm accumulators. One
// body serves Q·Kᵀ (scaled store into S), P·V init (store) and P·V
// accumulate, chosen by the template parameter, so the three cannot drift
// apart.
//
// Per k step: two B loads, six A broadcasts straight from memory
// (vbroadcastss m32), twelve FMAs. With FMA latency 4 and two FMA pipes,
// twelve independent chains keep both pipes busy; six broadcasts plus two
// loads per six cycles leave load-port room on Zen and Intel cores alike.
// The A blocks cost the kernel nothing (broadcast offsets are constants
// within a block) and spare exp2_rows and pack_q a 6x8 transpose each.
// Panels are laid out so B rows are 64-byte aligned (the pipeline's
// workspace is); unaligned-load instructions are used anyway so that a
// caller's unaligned panel is slow rather than a crash.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/avx2/ops.hpp"

namespace attnrt::kernels::avx2 {

enum class Epilogue { scale_store, store, accumulate };

template <Epilogue E>
static inline void gemm_fp32_6x2(int k, const float* __restrict a, const float* __restrict b,
                                 float alpha, float* __restrict c, std::int64_t ldc) {
  __m256 acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  // Column j of a block of width w: row i at a[i * w + j].
  const auto step = [&](const float* blk, int w, int j, const float* brow) {
    const __m256 b0 = _mm256_loadu_ps(brow);
    const __m256 b1 = _mm256_loadu_ps(brow + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 ai = _mm256_broadcast_ss(blk + i * w + j);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  };
  int p = 0;
  for (; p + kABlock <= k; p += kABlock) {
#pragma GCC unroll 8
    for (int j = 0; j < kABlock; ++j) step(a + p * kMr, kABlock, j, b + (p + j) * kNr);
  }
  for (int j = 0, w = k - p; j < w; ++j) step(a + p * kMr, w, j, b + (p + j) * kNr);
  const __m256 scale = _mm256_set1_ps(alpha);
#pragma GCC unroll 6
  for (int i = 0; i < kMr; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < 2; ++j) {
      __m256 v = acc[i][j];
      if constexpr (E == Epilogue::scale_store) v = _mm256_mul_ps(v, scale);
      if constexpr (E == Epilogue::accumulate) v = _mm256_add_ps(v, _mm256_loadu_ps(row + 8 * j));
      _mm256_storeu_ps(row + 8 * j, v);
    }
  }
}

}  // namespace attnrt::kernels::avx2
