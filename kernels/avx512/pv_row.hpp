// P·V of one row (decode) with V read in place: O[0..dv) (+)= Σ_j p_j·V[j],
// up to 128 columns of O held in zmm across all the call's keys, so each
// key's multiply-adds go to as many independent accumulators. The 14x2
// tile cut to one row chained 16 keys on each of its two accumulators per
// 32 columns, in four passes over a 16-key block at D128: bound by the FMA
// latency. Zen 4, attnrt-bench, one thread, alternating with that build
// (B4 H32 M1 N4096 D128): fp32 on shuffled pages of 16 keys 1.31x
// (paged/contiguous 0.67 -> 0.79, three runs), bf16 on pages within 2-4%;
// contiguous, --kv-dtype int8's turns (three runs) fp32 1.15x, bf16 1.09x,
// int8 1.04x, but the plain call's (four runs) no change: 31.5 against 32
// ms, medians, within this VM's spread.
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {

// V rows prefetched as many bytes ahead as fp32's kPrefetchRows (a multiple
// of kABlock keys). bf16 on shuffled pages of 16 keys: at kPrefetchRowsOf's
// 16 rows (4 KiB at D128) 18.7-19.8 ms, at these 32 rows 18.8-19.2, the 14x2
// tile 17.6-18.5 (Zen 4, B4 H32 M1 N4096 D128, alternating runs).
template <class T>
inline constexpr int kRowAhead = kPrefetchRows * static_cast<int>(sizeof(float) / sizeof(T));

// Columns [c0, c0 + 16 NV) of O, the last vector cut to `w` columns in all;
// V rows prefetched kRowAhead<T> keys on as P says (x86/prefetch_to.hpp).
template <int NV, x86::Prefetch P, class T>
static inline void pv_row_columns(int kp, const float* pa, const T* v, std::int64_t ldv, int c0, int w,
                                  float* o, bool accumulate, RowsAfter next) {
  const __mmask16 last = first16(w - 16 * (NV - 1));
  const auto lanes = [&](int i) { return i == NV - 1 ? last : __mmask16(0xffff); };
  __m512 acc[NV];
#pragma GCC unroll 8
  for (int i = 0; i < NV; ++i)
    acc[i] = accumulate ? _mm512_maskz_loadu_ps(lanes(i), o + c0 + 16 * i) : _mm512_setzero_ps();
  // V rows one after another, across the pieces a spanning call lists, and
  // the rows kRowAhead<T> on.
  const int own = rows_in_place(kp, next);
  RowWalk<T> row(v, ldv, own, next);
  x86::RowPrefetch<P, T> ahead(v, ldv, own, next, kRowAhead<T>);
  constexpr bool kFar = x86::RowPrefetch<P, T>::kFar;
  for (int k0 = 0; k0 < kp; k0 += kABlock) {
    const float* a = pa + k0 * kMr;  // the block's row 0 ([kABlock], the last [kp % kABlock])
    const int keys = kp - k0 < kABlock ? kp - k0 : kABlock;
    for (int j = 0; j < keys;) {  // the keys up to the next end of a run, in one loop
      const int n = std::min({keys - j, row.rows_left(), ahead.rows_left()});
      const T* r = row.row() + c0;
      const T* pf = ahead.near().row() + c0;
      const T* far = ahead.far().row() + c0;
      const std::int64_t ldr = row.ld(), ldp = ahead.near().ld(), ldf = ahead.far().ld();
      for (const int end = j + n; j < end; ++j, r += ldr, pf += ldp, far += ldf) {
        const __m512 p = _mm512_set1_ps(a[j] * kUnit<T>);  // (V read in load16_units' units)
#pragma GCC unroll 8
        for (int i = 0; i < NV; ++i) {
          if ((16 * i * sizeof(T)) % 64 == 0) {
            x86::prefetch_line<P == x86::Prefetch::l2>(pf + 16 * i);
            if constexpr (kFar) x86::prefetch_line<true>(far + 16 * i);
          }
          acc[i] = _mm512_fmadd_ps(p, load16_units(r + 16 * i, lanes(i)), acc[i]);
        }
      }
      row.skip(n);
      ahead.skip(n);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < NV; ++i) _mm512_mask_storeu_ps(o + c0 + 16 * i, lanes(i), acc[i]);
}

// One row's P·V (P the row 0 of an A panel of kMr rows in kABlock blocks).
template <x86::Prefetch P, class T>
static inline void pv_one_row(int kp, const float* pa, const T* v, std::int64_t ldv, int dv, float* o,
                              bool accumulate, RowsAfter next) {
  constexpr int kCols = 128;
  for (int c0 = 0; c0 < dv; c0 += kCols) {
    const int w = dv - c0 < kCols ? dv - c0 : kCols;
    const auto run = [&]<int NV>() {
      pv_row_columns<NV, P>(kp, pa, v, ldv, c0, w, o, accumulate, next);
    };
    switch ((w + 15) / 16) {  // vectors of O
      case 1: run.template operator()<1>(); break;
      case 2: run.template operator()<2>(); break;
      case 3: run.template operator()<3>(); break;
      case 4: run.template operator()<4>(); break;
      case 5: run.template operator()<5>(); break;
      case 6: run.template operator()<6>(); break;
      case 7: run.template operator()<7>(); break;
      default: run.template operator()<8>(); break;
    }
  }
}

}  // namespace attnrt::kernels::avx512
