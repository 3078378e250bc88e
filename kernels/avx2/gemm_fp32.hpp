// The fp32 GEMM micro-kernel of the avx2 sets: C[6 x 16] from an A panel
// of k columns in blocks of 8 ([6][8] row-major each, the last [6][k % 8];
// kernel_set.hpp, a_block) and B rows [k][16] (row stride ldb), 12 ymm
// accumulators. One body serves Q·Kᵀ (scaled store into S), P·V init
// (store) and P·V accumulate, chosen by the template parameter, so the three
// cannot drift apart; and both B sources: packed panels (ldb = kNr, a
// constant once inlined, so the packed kernels compile as before) and the
// user's V rows read in place (the direct path: ldb = V's row stride, and
// MaskedB for the last Dv % 16 columns, whose B lanes past b_cols load as 0
// so that C's padding columns come out 0).
//
// Per k step: two B loads, six A broadcasts straight from memory
// (vbroadcastss m32), twelve FMAs. With FMA latency 4 and two FMA pipes,
// twelve independent chains keep both pipes busy; six broadcasts plus two
// loads per six cycles leave load-port room on Zen and Intel cores alike.
// The A blocks cost the kernel nothing (broadcast offsets are constants
// within a block) and spare exp2_rows and pack_q a 6x8 transpose each.
// Panels are laid out so B rows are 64-byte aligned (the pipeline's
// workspace is); unaligned-load instructions are used anyway so that a
// caller's unaligned panel (or V row) is slow rather than a crash.
#pragma once

#include "kernels/x86/intrinsics.hpp"

#include <cstdint>

#include "kernels/x86/convert.hpp"
#include "kernels/x86/lanes.hpp"
#include "kernels/avx2/ops.hpp"
#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels::avx2 {
using namespace x86;  // the 256-bit helpers shared with the avx512 folder

enum class Epilogue { scale_store, store, accumulate };

// How far ahead (in k steps) B rows read in place are prefetched: V rows
// are a row stride apart, a stride the hardware prefetchers pick up late.
// The pipelines hand the direct P·V 16 keys per call to strips taking
// turns, across all column slices (strips_pv; 32 to a strip alone), so
// this is the next call's rows: 16 KiB ahead at
// Dv = 256. Every strip of a group prefetches them, the second strip's
// mostly hitting L1 (they cost about 8% of the P·V with V in cache);
// measured on the Zen VM (M12 N32768 D256): the first strip alone
// prefetching, at 1 to 3 groups ahead, lost a sixth of the speed, and V
// prefetched into L2 during Q·Kᵀ instead of here lost a tenth.
inline constexpr int kPrefetchRows = 16;

// Always inlined: the direct P·V runs it once per column slice in a loop,
// whose set-up (pointers, masks) is then done once per call.
// B elements of TB: fp16/bf16 V rows (read in place) widened as each vector
// is loaded.
template <Epilogue E, bool MaskedB = false, bool InPlaceB = false, class TB = float>
[[gnu::always_inline]] static inline void gemm_fp32_6x2(int k, const float* __restrict a,
                                                        const TB* __restrict b, std::int64_t ldb,
                                                        int b_cols, float alpha,
                                                        float* __restrict c, std::int64_t ldc,
                                                        RowsAfter next = {}) {
  __m256i mask0 = _mm256_setzero_si256(), mask1 = mask0;
  if constexpr (MaskedB) {
    mask0 = first_lanes(b_cols);
    mask1 = first_lanes(b_cols - 8);
  }
  __m256 acc[kMr][2];
  for (int i = 0; i < kMr; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();
  // Column j of a block of width w: row i at a[i * w + j]; the B row at bp
  // (walked by pointer: eight row offsets of a variable stride would take
  // more general registers than the loop has).
  // The row kPrefetchRows ahead, walked along with bp; past a page's end
  // (next given) the call's rows again (rows_ahead.hpp, row_ahead_in_page).
  const TB* pf = InPlaceB ? row_ahead_in_page(b, ldb, k, next, kPrefetchRows) : nullptr;
  const TB* const pf_end = b + static_cast<std::int64_t>(k) * ldb;
  const auto step = [&](const float* blk, int w, int j, const TB* bp) {
    __m256 b0, b1;
    if constexpr (InPlaceB) {
      _mm_prefetch(reinterpret_cast<const char*>(pf), _MM_HINT_T0);
      pf += ldb;
      if (pf == pf_end && !next.in_memory()) pf = b;
    }
    if constexpr (MaskedB) {
      b0 = load_tail(bp, b_cols, mask0);
      b1 = load_tail(bp + 8, b_cols - 8, mask1);
    } else {
      b0 = load8(bp);
      b1 = load8(bp + 8);
    }
#pragma GCC unroll 6
    for (int i = 0; i < kMr; ++i) {
      const __m256 ai = _mm256_broadcast_ss(blk + i * w + j);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
  };
  int p = 0;
  const TB* bp = b;
  for (; p + kABlock <= k; p += kABlock) {
#pragma GCC unroll 8
    for (int j = 0; j < kABlock; ++j, bp += ldb) step(a + p * kMr, kABlock, j, bp);
  }
  for (int j = 0, w = k - p; j < w; ++j, bp += ldb) step(a + p * kMr, w, j, bp);
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
