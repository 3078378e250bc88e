// Q·Kᵀ with Q and K rows read in place (the direct K/V path): dot products
// along D instead of the packed kernel's outer products, so K needs no
// transpose. A tile of R <= 12 rows x 2 keys keeps 2R zmm accumulators over
// D in 16-float steps (12 x 2: 24 accumulators + 2 K vectors + 1 Q vector;
// 14 loads per 24 FMAs), then folds each to 8 lanes and reduces them per 4
// rows with one transposing sum (sum_lanes_8) into 8 scores.
//
// K streams from memory while the FMAs run, and how it is read decides the
// speed. Zen 5 (full-width 512-bit FMAs; probe, M12 D256, K from DRAM in
// 240-key calls as two_pass hands them, per key): ymm 2-key tiles cap at
// half the FMA peak (52 ns/key); zmm ones run at 27-30 ns/key, 70-78% of
// the FMA peak with K at 31-37 GB/s against the read loop's 40, but only
// when each Q vector takes one load slot: GCC folded the Q load into both
// FMAs of the pair (26 loads per step) or spilled the twelve row offsets,
// and both took the load slots the K stream's line fills need (64-68
// ns/key). Hence in_register on every load and next_row below; and a Q row
// off a 64-byte boundary (two load slots per vector) is gathered onto one
// by the pipelines (begin_row_block). Without the prefetches below K
// streams at ~10 GB/s: the hardware prefetchers do not follow two rows
// read side by side. They run 8 pairs (16 KiB) ahead: in the probe 16 KiB
// beat 4 KiB by 3-10%, and T0/T1/T2/NTA hints ran alike; in the library
// (attnrt-ab, 12-16 pairs, against 2 pairs) S4 1.02-1.03x, B1 H8 M16
// N4096 D128 1.04-1.06x. In all, S4 (B1 H2 M12 N32768 D256) ran 1.23x
// (attnrt-ab, 10 pairs) over the ymm tile with 2 pairs ahead, which Zen 4
// (double-pumped zmm FMAs) had preferred: 0.68-0.71 of its peak against
// 0.64-0.68 for zmm.
//
// fp32 K rows a memory page apart (RowsAfter::down: K/V by token, 8 KV
// heads or fewer at D128) are read from each row's last vector down, as
// the one-row loops read them (kernels/tuning.hpp says why). Zen 4 VM,
// attnrt-ab S5 with 8 KV heads (B4 H32/8 M1 N4096 D128), K/V by token,
// 8-10 pairs against reading up: one thread pools of 16 keys 1.26x, dense
// 1.38x, 16 KV heads 1.38x; two threads 1.25x, 1.12x. Left reading up:
// bf16 rows 2 KiB apart (0.98-1.00 down) and fp32 rows 2 KiB apart (paged:
// tiles 1.13-1.17, but two threads 1.02 and D256 rows 0.94). P·V's tiles
// taking their column slices from the last down: 0.97-0.99, left.
//
// fp16/bf16 K rows are widened as each vector is loaded: no copy of them is
// made, and they stream from memory among the FMAs as fp32 ones do,
// prefetched as many bytes ahead.
//
// Loop order: key pairs outermost; a pair's K rows come from memory (or
// the prefetch) once, for the first row tile, and from L1 for the others
// (Q, a row block of a few strips, stays in L1 throughout). The last pair
// of an odd key count reads its key twice and stores one score. One row
// (decode) is bound by memory and reads K key after key instead
// (kernels/x86/few_rows.hpp, which the set's FewRowKernels::qk takes for
// one row with the stream settings of the CPU's row in kernels/tuning.hpp); two to four (a GQA group's query heads
// stacked) ran faster on the pair tiles (Zen 5, attnrt-ab, 12 pairs, B4
// H32 M1 N4096 D128: 1.097x with 4 rows per KV head, 1.023x with 2; one
// row 0.973x).
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>

#include "kernels/avx512/broadcast_fma.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kKeys = 2;            // keys per tile
constexpr int kMostTileRows = 12;   // 2 x 12 accumulators of the 32 zmm
// The pair whose rows are prefetched (above): 8 for fp32, as many bytes
// ahead for 16-bit rows.
template <class T>
constexpr int kPrefetchPairs = 8 * static_cast<int>(sizeof(float) / sizeof(T));

// Lane i of the result: the sum of the 8 lanes of v[i].
inline __m256 sum_lanes_8(const __m256 (&v)[8]) {
  // t[i]: lanes of v[2i] and v[2i + 1] added in pairs, interleaved.
  __m256 t[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i)
    t[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  // u[g]: per 128-bit half, 4 partial sums of v[4g .. 4g + 4) in order.
  __m256 u[2];
#pragma GCC unroll 2
  for (int g = 0; g < 2; ++g)
    u[g] = _mm256_add_ps(_mm256_shuffle_ps(t[2 * g], t[2 * g + 1], 0x44), _mm256_shuffle_ps(t[2 * g], t[2 * g + 1], 0xee));
  return _mm256_add_ps(_mm256_permute2f128_ps(u[0], u[1], 0x20), _mm256_permute2f128_ps(u[0], u[1], 0x31));
}

// Lanes [0, n) of v (n = 1 or 2) stored at p.
inline void store_scores(float* p, __m128 v, int n) {
  if (n == kKeys)
    _mm_storel_pi(reinterpret_cast<__m64*>(p), v);
  else
    _mm_store_ss(p, v);
}

// Where a tile's prefetches go: the lines of two K rows of T, first row
// then second, as many bytes per 16-element step of d as the step reads
// (two lines of fp32, one of fp16/bf16; half the steps each row); null pf0
// = none (the tile then runs a loop without them).
template <class T, bool IntoL2>
struct PairPrefetch {
  const T* pf0;
  const T* pf1;
  int half;  // elements of d whose steps prefetch pf0
  void at(int x) const {
    const T* from = x < half ? pf0 + 2 * x : pf1 + 2 * (x - half);
#pragma GCC unroll 2
    for (unsigned b = 0; b < 32 * sizeof(T); b += 64)
      _mm_prefetch(reinterpret_cast<const char*>(from) + b, IntoL2 ? _MM_HINT_T1 : _MM_HINT_T0);
  }
};

// p + ld, computed where it is used: twelve rows' invariant offsets would
// each hold a general register, more than the tile leaves free (GCC 12
// spilled them and reloaded them in every step).
inline const float* next_row(const float* p, std::int64_t ld) {
  p += ld;
#if defined(__GNUC__) && !defined(ATTNRT_AVX512_SIMDE)
  __asm__("" : "+r"(p));
#endif
  return p;
}

// The 8-lane sum of v's two 256-bit halves.
inline __m256 fold_halves(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

// S[R x n] = alpha * Q[R x d]·[k0 k1][.. x d]ᵀ (n = 2, or 1: k1 is k0 again
// and one score per row is stored), meanwhile prefetching pf's lines.
template <int R, class T, bool IntoL2, bool Down>
inline void qk_pair_tile(int d, const float* q, std::int64_t ldq, const T* k0, const T* k1,
                         int n, float alpha, float* s, std::int64_t lds, PairPrefetch<T, IntoL2> pf) {
  // (Every loop over the tile fully unrolled, so GCC keeps it in registers.)
  __m512 acc[R][kKeys];
#pragma GCC unroll 12
  for (int i = 0; i < R; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  // The lanes of `lanes` (lanes past d read nothing and add 0). Inlined
  // always: called, it keeps acc in memory (GCC called it for some types and
  // tile heights, and not for others as unrelated code changed).
  const auto step = [&](int x, __mmask16 lanes) __attribute__((always_inline)) {
    const auto load = [&](const auto* p) { return in_register(load16_lanes(p, lanes)); };
    const __m512 kv0 = load(k0 + x);
    const __m512 kv1 = load(k1 + x);
    const float* qi = q + x;
#pragma GCC unroll 12
    for (int i = 0; i < R; ++i, qi = next_row(qi, ldq)) {
      const __m512 qv = load(qi);
      acc[i][0] = _mm512_fmadd_ps(qv, kv0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(qv, kv1, acc[i][1]);
    }
  };
  // Whole 16-float steps last to first where Down (RowsAfter::down), else
  // first to last (each direction its own loops: folding them into one
  // index map changed GCC's register allocation of the upward tile and ran
  // GQA decode 0.95-0.98); then the masked tail.
  const int body = d / 16 * 16;
  if constexpr (Down) {
    if (pf.pf0)
      for (int x = body - 16; x >= 0; x -= 16) {
        pf.at(x);
        step(x, 0xffff);
      }
    else
      for (int x = body - 16; x >= 0; x -= 16) step(x, 0xffff);
  } else {
    if (pf.pf0)  // (two loops: each one branch-free block)
      for (int x = 0; x < body; x += 16) {
        pf.at(x);
        step(x, 0xffff);
      }
    else
      for (int x = 0; x < body; x += 16) step(x, 0xffff);
  }
  if (body < d) step(body, first16(d - body));
  // Per 4 rows: lanes [r0 k0, r0 k1, r1 k0, r1 k1 | r2 .., r3 ..] (a short
  // last group repeats its last row and stores only the real ones).
  const __m256 scale = _mm256_set1_ps(alpha);
#pragma GCC unroll 3
  for (int i0 = 0; i0 < R; i0 += 4) {
    __m256 v[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) v[j] = fold_halves(acc[i0 + j / 2 < R ? i0 + j / 2 : R - 1][j % 2]);
    const __m256 sums = _mm256_mul_ps(sum_lanes_8(v), scale);
    const __m128 halves[2] = {_mm256_castps256_ps128(sums), _mm256_extractf128_ps(sums, 1)};
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r)
      if (i0 + r < R) {
        const __m128 h = halves[r / 2];
        store_scores(s + (i0 + r) * lds, r % 2 ? _mm_movehl_ps(h, h) : h, n);
      }
  }
}

// One pair of keys against a row tile of 2 <= R <= 12 rows.
template <class T, bool IntoL2, bool Down>
inline void qk_pair_tile(int rows, int d, const float* q, std::int64_t ldq, const T* k0,
                         const T* k1, int n, float alpha, float* s, std::int64_t lds,
                         PairPrefetch<T, IntoL2> pf) {
  switch (rows) {
    case 2: return qk_pair_tile<2, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 3: return qk_pair_tile<3, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 4: return qk_pair_tile<4, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 5: return qk_pair_tile<5, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 6: return qk_pair_tile<6, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 7: return qk_pair_tile<7, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 8: return qk_pair_tile<8, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 9: return qk_pair_tile<9, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 10: return qk_pair_tile<10, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    case 11: return qk_pair_tile<11, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
    default: return qk_pair_tile<kMostTileRows, T, IntoL2, Down>(d, q, ldq, k0, k1, n, alpha, s, lds, pf);
  }
}

// rows >= 2: row tiles of equal size (within one) of at most 12 rows.
template <bool IntoL2, bool Down, class T>
void qk_pairs(int rows, int keys, int d, const float* q, std::int64_t ldq, const T* k,
              std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next) {
  const int tiles = (rows + kMostTileRows - 1) / kMostTileRows;
  const int half = (d + 31) / 32 * 16;
  // Keys one after another, across the pieces a spanning call lists; the
  // pair kPrefetchPairs on within the call, or on into the next pages' rows
  // where the CPU's row says so (rows_ahead.hpp).
  const int own = rows_in_place(keys, next);
  RowWalk<T> key(k, ldk, own, next), ahead(k, ldk, own, next, kPrefetchPairs<T> * kKeys);
  for (int j = 0; j < keys; j += kKeys) {
    const int n = keys - j < kKeys ? keys - j : kKeys;
    const T* k0 = key.row();
    key.skip(n - 1);
    const T* k1 = key.row();
    key.step();
    const T* p0 = ahead.row();
    ahead.step();
    const T* p1 = ahead.row();
    ahead.step();
    // (Past the call's keys with no runs listed: no prefetches.)
    const bool in_call = j + kPrefetchPairs<T> * kKeys + 1 < keys;
    PairPrefetch<T, IntoL2> pf{in_call || next.n > 0 ? p0 : nullptr, p1, half};
    for (int t = 0, i = 0; t < tiles; ++t) {
      const int r = rows / tiles + (t < rows % tiles);
      qk_pair_tile<T, IntoL2, Down>(r, d, q + i * ldq, ldq, k0, k1, n, alpha, s + i * lds + j, lds, pf);
      pf.pf0 = nullptr;  // the other tiles read the pair from L1
      i += r;
    }
  }
}

}  // namespace

template <bool IntoL2, class T>
void qk_fp32_12x2_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k_rows,
                         std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next) {
  // (Not read_as_asked: through it GCC compiled the fp32 tile's loop 0.9%
  // slower by llvm-mca's count, bench/mca/avx512_estimates.txt.)
  if constexpr (sizeof(T) == sizeof(float))
    if (next.down) return qk_pairs<IntoL2, true>(rows, keys, d, q, ldq, static_cast<const T*>(k_rows), ldk, alpha, s, lds, next);
  qk_pairs<IntoL2, false>(rows, keys, d, q, ldq, static_cast<const T*>(k_rows), ldk, alpha, s, lds, next);
}
#define ATTNRT_QK_DIRECT(T)                                                                                    \
  template void qk_fp32_12x2_direct<false, T>(int, int, int, const float*, std::int64_t, const void*,          \
                                              std::int64_t, float, float*, std::int64_t, RowsAfter);           \
  template void qk_fp32_12x2_direct<true, T>(int, int, int, const float*, std::int64_t, const void*,           \
                                             std::int64_t, float, float*, std::int64_t, RowsAfter);
// fp8's instantiations are compiled in a unit of their own (qk_direct_fp8.cpp):
// GCC's inlining and register allocation in one unit depend on all it
// instantiates, and beside them the fp16 tiles came out slower (S5 with 8
// KV heads, fp16, 1 thread: 0.93x, attnrt-ab, Zen 5).
#if !ATTNRT_AVX512_FP8_UNIT
ATTNRT_QK_DIRECT(float)
ATTNRT_QK_DIRECT(Fp16)
ATTNRT_QK_DIRECT(Bf16)
ATTNRT_QK_DIRECT(I8)
#else
ATTNRT_QK_DIRECT(E4m3)
ATTNRT_QK_DIRECT(E5m2)
#endif
#undef ATTNRT_QK_DIRECT

}  // namespace attnrt::kernels::avx512
