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
// fp32 rows prefetched into L2 only (Prefetch::l2: Zen 4, where only paged
// rows are prefetched) go half as far, 8 rows (4 KiB at D128): shuffled
// pages of 16 keys, attnrt-bench S5, one thread, alternating builds
// (below, in the commit); bf16 rows at half the distance 0.99-1.01, kept.
template <x86::Prefetch P, class T>
inline constexpr int kRowAhead = sizeof(T) == sizeof(float) && P == x86::Prefetch::l2
                                     ? kPrefetchRows / 2
                                     : kPrefetchRows * static_cast<int>(sizeof(float) / sizeof(T));

// Whether a call reads its V rows as one stream, not two halves: 1-byte
// codes left to the hardware prefetchers (RowsAfter::by_hardware). Zen 4
// VM, attnrt-ab S5 (B4 H32 M1 N4096 D128), 16 pairs, one stream over two
// with dense K/V by hardware: int8 1.058-1.093, bf16 1.000, fp32 0.883.
template <class T>
inline bool pv_one_stream(RowsAfter next) {
  return sizeof(T) == 1 && next.by_hardware;
}

// Whether a call's fp32 V rows, left to the hardware prefetchers, still get
// the next row prefetched into L1 and the row kNextRowsAhead on into L2
// (x86::RowPrefetch's l1_and_l2), not just the current row into L2.
// Zen 4 VM, attnrt-ab S5 fp32, 10-12 pairs: one thread 1.09-1.12, two 1.07
// (next row only: 1.06; 2 or 8 on into L2: 1.09); fp16 and bf16 rows
// 0.98-1.01 and int8 0.97-1.00 (prefetcht1 8 to 64 rows on), left alone;
// one-row Q·Kᵀ with the same: 0.98-1.00. (fp32 rows only: pv_one_row
// builds the variant for no others.)
inline constexpr int kNextRowsAhead = 4;
inline constexpr bool pv_next_row_into_l1(RowsAfter next) { return next.by_hardware; }

// Columns [c0, c0 + 16 NV) of O, the last vector cut to `w` columns in all;
// V rows prefetched `rows_ahead` keys on as P says (x86/prefetch_to.hpp).
// A call of x86::kTwoStreamKeys keys or more reads its two halves row by
// row in turns, each into accumulators of its own (as one-row Q·Kᵀ does,
// x86::for_each_key16), unless pv_one_stream; each row from its end where
// Down (fp32 rows marked RowsAfter::down). One core of a Sapphire Rapids-class VM: a loop of
// this work per int8 row streamed 10.4-10.7 GB/s as one stream, 12.4-12.9
// as two; attnrt-ab S5 (B4 H32 M1 N4096 D128), 20 pairs, one-row calls of
// 1024 keys (plan.cpp) against 128 and one stream: int8 K/V 1.047-1.099
// (of which 1.030 the Q·Kᵀ's turns of one row, few_rows.hpp), bf16 1.080,
// fp32 1.012; two threads 1.008-1.021, 1.053, 1.019. Calls of 512 to 2048
// keys alike.
template <int NV, x86::Prefetch P, class T, bool Down = false>
static inline void pv_row_columns(int kp, const float* pa, const T* v, std::int64_t ldv, int c0, int w,
                                  float* o, bool accumulate, RowsAfter next, int rows_ahead) {
  const __mmask16 last = first16(w - 16 * (NV - 1));
  const auto lanes = [&](int i) { return i == NV - 1 ? last : __mmask16(0xffff); };
  __m512 acc[NV], acc_b[NV];
#pragma GCC unroll 8
  for (int i = 0; i < NV; ++i) {
    acc[i] = accumulate ? _mm512_maskz_loadu_ps(lanes(i), o + c0 + 16 * i) : _mm512_setzero_ps();
    acc_b[i] = _mm512_setzero_ps();
  }
  constexpr bool kFar = x86::RowPrefetch<P, T>::kFar;
  // One key's row r into acc, the lines pf and far on prefetched; from the
  // row's last vector down where Down (RowsAfter::down; the sums are the
  // same, each vector its own accumulator).
  const auto key = [&](__m512(&sum)[NV], float pj, const T* r, const T* pf, const T* far) {
    const __m512 p = _mm512_set1_ps(pj * kUnit<T>);  // (V read in load16_units' units)
    const auto vector = [&](int i) {
      if ((16 * i * sizeof(T)) % 64 == 0) {
        x86::prefetch_line<P == x86::Prefetch::l2>(pf + 16 * i);
        if constexpr (kFar) x86::prefetch_line<true>(far + 16 * i);
      }
      sum[i] = _mm512_fmadd_ps(p, load16_units(r + 16 * i, lanes(i)), sum[i]);
    };
    if constexpr (Down) {
#pragma GCC unroll 8
      for (int i = NV - 1; i >= 0; --i) vector(i);
    } else {
#pragma GCC unroll 8
      for (int i = 0; i < NV; ++i) vector(i);
    }
  };
  // V rows one after another, across the pieces a spanning call lists, and
  // the rows `rows_ahead` on; the halves [0, half) and [half, kp), half a
  // multiple of kABlock (so a block's P of the second half is at the same
  // place in its block).
  x86::CallStreams<P, T> rows(kp, v, ldv, next, rows_ahead, kABlock, pv_one_stream<T>(next) ? 1 : 2);
  const int half = rows.part;
  RowWalk<T>& row = rows.walk[0];
  RowWalk<T>& row_b = rows.walk[1];
  x86::RowPrefetch<P, T>& ahead = rows.ahead[0];
  x86::RowPrefetch<P, T>& ahead_b = rows.ahead[1];
  for (int k0 = 0; k0 < half; k0 += kABlock) {
    const float* a = pa + k0 * kMr;  // the block's row 0 ([kABlock], the last [kp % kABlock])
    const float* ab = a + static_cast<std::int64_t>(half) * kMr;
    const int keys = half - k0 < kABlock ? half - k0 : kABlock;
    const int keys_b = std::clamp(kp - half - k0, 0, kABlock);
    for (int j = 0; j < keys;) {  // the keys up to the next end of a run, in one loop
      const bool two = j < keys_b;
      int n = std::min({keys - j, row.rows_left(), ahead.rows_left()});
      if (two) n = std::min({n, keys_b - j, row_b.rows_left(), ahead_b.rows_left()});
      const T* r = row.row() + c0;
      const T* pf = ahead.near().row() + c0;
      const T* far = ahead.far().row() + c0;
      const std::int64_t ldr = row.ld(), ldp = ahead.near().ld(), ldf = ahead.far().ld();
      if (two) {
        const T* rb = row_b.row() + c0;
        const T* pfb = ahead_b.near().row() + c0;
        const T* farb = ahead_b.far().row() + c0;
        const std::int64_t ldrb = row_b.ld(), ldpb = ahead_b.near().ld(), ldfb = ahead_b.far().ld();
        for (const int end = j + n; j < end; ++j, r += ldr, pf += ldp, far += ldf, rb += ldrb, pfb += ldpb, farb += ldfb) {
          key(acc, a[j], r, pf, far);
          key(acc_b, ab[j], rb, pfb, farb);
        }
        row_b.skip(n);
        ahead_b.skip(n);
      } else {
        for (const int end = j + n; j < end; ++j, r += ldr, pf += ldp, far += ldf) key(acc, a[j], r, pf, far);
      }
      row.skip(n);
      ahead.skip(n);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < NV; ++i)
    _mm512_mask_storeu_ps(o + c0 + 16 * i, lanes(i), half < kp ? _mm512_add_ps(acc[i], acc_b[i]) : acc[i]);
}

// One row's P·V (P the row 0 of an A panel of kMr rows in kABlock blocks).
template <x86::Prefetch P, class T>
static inline void pv_one_row(int kp, const float* pa, const T* v, std::int64_t ldv, int dv, float* o,
                              bool accumulate, RowsAfter next) {
  constexpr int kCols = 128;
  for (int c0 = 0; c0 < dv; c0 += kCols) {
    const int w = dv - c0 < kCols ? dv - c0 : kCols;
    const auto run = [&]<int NV>() {
      if constexpr (sizeof(T) == sizeof(float))
        if (pv_next_row_into_l1(next))  // (dense rows, listed as in memory: prefetched)
          return pv_row_columns<NV, x86::Prefetch::l1_and_l2>(kp, pa, v, ldv, c0, w, o, accumulate, RowsAfter{},
                                                              kNextRowsAhead);
      read_as_asked<T>(next, [&]<bool Down>() {
        pv_row_columns<NV, P, T, Down>(kp, pa, v, ldv, c0, w, o, accumulate, next, kRowAhead<P, T>);
      });
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
