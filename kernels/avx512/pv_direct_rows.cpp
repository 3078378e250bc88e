// P·V of a strip's real rows (1 to 14) with V read in place: the avx512
// set's FewRowKernels::pv_rows. One row takes pv_row.hpp's loop, every
// other count the 14x2 micro-kernel cut to the real rows (gemm_fp32.hpp,
// Rows), 16 keys across all columns per pass, V rows read in address order
// with the next pass's rows prefetched; fp16/bf16 rows widened as each
// vector is loaded.
//
// Measured on Zen 5 (full-width 512-bit FMAs), attnrt-ab, 10-12 pairs,
// against what served these rows before: a 12-row strip (S4, B1 H2 M12
// N32768 D256) 1.061x over the full 14-row tile (probe, V from DRAM: 30
// against 33 ns per key); GQA decode B4 H32 M1 N4096 D128 with 4 and 2
// rows per KV head (H32/8, H32/16) 1.473x and 1.370x over passes holding
// two rows by 128 columns of O in registers (Zen 4's choice there: 0.74 and
// 0.87 of a plain read of V); one row (decode, S5) 1.027x over the 256-bit
// loop of kernels/x86/few_rows.hpp that Zen 4 preferred (since replaced by
// pv_row.hpp, which keeps the row's O in registers).
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>

#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/pv_row.hpp"
#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// The last w < kNv columns of O (+)= P·V over `keys` keys: the kernel
// writes whole vectors, and nothing of O past dv may be written, so the
// tile goes through a buffer (dv % kNv != 0 only: rare head dims).
template <int R, bool PfIntoL2, class T>
void tail_columns(int keys, const float* a, const T* v, std::int64_t ldv, int w, float* o,
                  std::int64_t ldo, bool add, const T* pf) {
  alignas(64) float tile[R * kNv] = {};
  if (add)
    for (int r = 0; r < R; ++r) std::copy(o + r * ldo, o + r * ldo + w, tile + r * kNv);
  if (add)
    gemm_fp32_14x2<Epilogue::accumulate, true, true, R, T, PfIntoL2>(keys, a, v, ldv, w, 1.0f, tile, kNv, pf);
  else
    gemm_fp32_14x2<Epilogue::store, true, true, R, T, PfIntoL2>(keys, a, v, ldv, w, 1.0f, tile, kNv, pf);
  for (int r = 0; r < R; ++r) std::copy(tile + r * kNv, tile + r * kNv + w, o + r * ldo);
}

// A block's `keys` rows of V from `row` on, columns [c, c + w), copied to
// buf (kNv apart): a block that straddles the end of a piece of a spanning
// call (pages of fewer keys than a block, or a call starting inside one).
// (Two masked 64-byte moves a row: a library copy call a row cost paged
// GQA decode in pages of 1 key a fifth of its time.)
template <class T>
void gather_block(RowWalk<T> row, int keys, int c, int w, T* buf) {
  const int bytes = w * static_cast<int>(sizeof(T));  // <= 128
  const __mmask64 lo = first64(bytes), hi = first64(bytes - 64);
  for (int i = 0; i < keys; ++i, row.step()) {
    const char* from = reinterpret_cast<const char*>(row.row() + c);
    char* to = reinterpret_cast<char*>(buf + i * kNv);
    _mm512_mask_storeu_epi8(to, lo, _mm512_maskz_loadu_epi8(lo, from));
    _mm512_mask_storeu_epi8(to + 64, hi, _mm512_maskz_loadu_epi8(hi, from + 64));
  }
}

// The `keys` rows from `ahead` on prefetched, dv columns each: a block
// ahead that straddles pieces (pages of fewer keys than a block), which the
// tiles' own prefetches (its rows one stride apart) cannot reach. With
// the copy above: Zen 4 VM, attnrt-bench B4 H32/8 M1 N4096 D128 fp32, one
// thread, paged ms, alternating builds: pages of 1 key 22-24 -> 19-21, of
// 4 keys 18-19 -> 13-15, of 8 16 -> 15, of 16 alike; bf16 pages of 4 1.06-1.12x.
template <bool IntoL2, class T>
void prefetch_rows(RowWalk<T> ahead, int keys, int dv) {
  for (int i = 0; i < keys; ++i, ahead.step()) x86::prefetch_lines<IntoL2>(ahead.row(), dv);
}

// Rows a tile prefetches ahead: kPrefetchRowsOf<T>, but twice as many
// 2- and 4-byte rows where the CPU's row leaves dense ones to the hardware
// (RowsAfter::by_hardware: Zen 4). Zen 4 VM, attnrt-ab S5 with 8 KV heads
// (four rows a call), 12-16 pairs: bf16 1.035 (two threads 1.020), fp16
// 1.022, fp32 1.016 (1.037); int8 rows 0.981, four times as far 1.009
// (fp32) and 1.020 (bf16), none at all 0.73 and 0.84.
template <class T>
int tile_rows_ahead(RowsAfter next) {
  return sizeof(T) > 1 && next.by_hardware ? 2 * kPrefetchRowsOf<T> : kPrefetchRowsOf<T>;
}

// R rows: the micro-kernel's R x 32 tiles, kABlock keys (one block of
// the A panel) across all dv columns per pass, so V rows are read row after
// row and the rows tile_rows_ahead on prefetched: past the call's rows
// where they follow in memory, or in next's runs. A spanning call's blocks
// read their rows in place where one piece holds them all (pages of a
// multiple of kABlock keys, calls starting at a page), else from a copy;
// a block's prefetches go to its rows ahead where one run holds them too.
template <int R, bool IntoL2, class T>
void tile_rows(int kp, const float* pa, const T* v, std::int64_t ldv, int dv, float* o,
               std::int64_t ldo, bool accumulate, RowsAfter next) {
  if (kp == 0 && !accumulate)  // no keys: O = 0
    for (int r = 0; r < R; ++r) std::fill(o + r * ldo, o + r * ldo + dv, 0.0f);
  const int own = rows_in_place(kp, next);
  RowWalk<T> row(v, ldv, own, next), ahead(v, ldv, own, next, tile_rows_ahead<T>(next));
  for (int k0 = 0; k0 < kp; k0 += kABlock) {
    const int keys = std::min(kABlock, kp - k0);
    const float* a = pa + k0 * kMr;
    const bool add = accumulate || k0 > 0;
    const bool whole = row.rows_left() >= keys;
    const T* rows = row.row();
    const std::int64_t ld = row.ld();
    // The block ahead whole in one piece: the tiles prefetch it as they go;
    // else row by row here (their prefetches then touch their own lines).
    const bool pf_whole = ahead.rows_left() >= keys;
    if (!pf_whole) prefetch_rows<IntoL2>(ahead, keys, dv);
    const T* pf = pf_whole ? ahead.row() : rows;
    // Columns [c, c + w) from b (ldb apart), prefetching at pf (ldb apart).
    const auto tile = [&](int c, int w, const T* b, std::int64_t ldb, const T* pf_c) {
      if (w < kNv) return tail_columns<R, IntoL2>(keys, a, b, ldb, w, o + c, ldo, add, pf_c);
      if (add)
        gemm_fp32_14x2<Epilogue::accumulate, false, true, R, T, IntoL2>(keys, a, b, ldb, kNv, 1.0f, o + c, ldo, pf_c);
      else
        gemm_fp32_14x2<Epilogue::store, false, true, R, T, IntoL2>(keys, a, b, ldb, kNv, 1.0f, o + c, ldo, pf_c);
    };
    alignas(64) T buf[kABlock * kNv];
    for (int c = 0; c < dv; c += kNv) {
      const int w = std::min(kNv, dv - c);
      if (whole) {
        tile(c, w, rows + c, ld, pf + c);
      } else {  // (the copy's prefetches: its own lines)
        gather_block(row, keys, c, w, buf);
        tile(c, w, buf, kNv, buf);
      }
    }
    row.skip(keys);
    ahead.skip(keys);
  }
}

}  // namespace

template <x86::Prefetch P, class T>
void pv_fp32_14x2_direct_rows(int rows, int kp, const void* a, const void* v, std::int64_t ldv, int dv,
                              float* o, std::int64_t ldo, bool accumulate, RowsAfter next) {
  const float* pa = static_cast<const float*>(a);
  const T* vt = static_cast<const T*>(v);
  if (rows == 1) return pv_one_row<P>(kp, pa, vt, ldv, dv, o, accumulate, next);
  with_rows(rows, [&]<int R>() {  // (the tiles prefetch into L1 or L2 only: two builds, not three)
    if constexpr (R > 1) tile_rows<R, P == x86::Prefetch::l2>(kp, pa, vt, ldv, dv, o, ldo, accumulate, next);
  });
}
#define ATTNRT_PV_DIRECT_ROWS_TO(P, T)                                                                          \
  template void pv_fp32_14x2_direct_rows<x86::Prefetch::P, T>(int, int, const void*, const void*, std::int64_t, \
                                                              int, float*, std::int64_t, bool, RowsAfter);
#define ATTNRT_PV_DIRECT_ROWS(T)     \
  ATTNRT_PV_DIRECT_ROWS_TO(l1, T)    \
  ATTNRT_PV_DIRECT_ROWS_TO(l2, T)    \
  ATTNRT_PV_DIRECT_ROWS_TO(l1_and_l2, T)
// fp8's instantiations are compiled in a unit of their own (pv_direct_rows_fp8.cpp):
// GCC's inlining and register allocation in one unit depend on all it
// instantiates, and beside them the fp16 tiles came out slower (S5 with 8
// KV heads, fp16, 1 thread: 0.93x, attnrt-ab, Zen 5).
#if !ATTNRT_AVX512_FP8_UNIT
ATTNRT_PV_DIRECT_ROWS(float)
ATTNRT_PV_DIRECT_ROWS(Fp16)
ATTNRT_PV_DIRECT_ROWS(Bf16)
ATTNRT_PV_DIRECT_ROWS(I8)
#else
ATTNRT_PV_DIRECT_ROWS(E4m3)
ATTNRT_PV_DIRECT_ROWS(E5m2)
#endif
#undef ATTNRT_PV_DIRECT_ROWS

}  // namespace attnrt::kernels::avx512
