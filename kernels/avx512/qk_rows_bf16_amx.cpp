// Q·Kᵀ of up to 16 query rows over bf16 K rows on AMX tiles (tdpbf16ps),
// for the avx512 set's few-row entry on CPUs with AMX-BF16 (which takes it
// from three rows: kernel_set.cpp says why): Sᵀ = K·Qᵀ.
// 16 keys' K rows are loaded in place as an A tile (16 rows of 32 bf16 at
// their own stride), Qᵀ waits in B tiles as bf16 pairs (a column per query
// row, built once a call), so K is neither copied nor packed, as the int8
// decode row on AMX reads it (qk_row_i8_amx.cpp); C, 16 keys x the rows,
// becomes S's rows by one in-register transpose per 16 keys. The pair tiles
// (qk_direct.cpp) spend two FMAs per product pair on the same work.
//
// Exact as the pair tiles are for Q rows of bf16 values (the pipelines
// widen bf16 Q rows): each product of two bf16 values is exact in fp32,
// summed in fp32 in another order. Subnormal inputs are read as zero, as
// under the runtime's floating-point environment (fp_env.hpp) anyway.
// Calls it does not take return false having written nothing: more than
// 16 rows, D odd or above 256, past 128 not a multiple of 32, an element of
// q not a bf16 value.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>

#include "kernels/avx512/amx_key_rows.hpp"
#include "kernels/avx512/amx_tiles.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/transpose.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kMostD = 256;
constexpr int kChunk = 32;     // elements of D an A tile row holds (64 bytes)
constexpr int kKeys = kTileKeys;  // keys a tile: A's and C's rows
constexpr int kMostRows = 16;  // query rows: C's columns
// Tiles: A (0 and 1, alternating over D's whole chunks; 7 for the last
// chunk of a D of at most four chunks, whose rows may be shorter), B (2-5,
// a chunk each; past four chunks loaded again for the second four), C (6).
constexpr int kResidentChunks = 4;

TileConfig tile_config(int chunks, int tail, int rows) {
  TileConfig c;
  for (int t : {0, 1, 7}) {
    c.rows[t] = kKeys;
    c.colsb[t] = static_cast<std::uint16_t>(2 * (t == 7 ? tail : kChunk));
  }
  for (int h = 0; h < std::min(chunks, kResidentChunks); ++h) {
    c.rows[2 + h] = static_cast<std::uint8_t>((h == chunks - 1 ? tail : kChunk) / 2);  // pairs of D
    c.colsb[2 + h] = static_cast<std::uint16_t>(4 * rows);
  }
  c.rows[6] = kKeys;
  c.colsb[6] = static_cast<std::uint16_t>(4 * rows);
  return c;
}

// Qᵀ in B tiles: b[h][p][r] holds q[r][32h + 2p] (low half) and
// q[r][32h + 2p + 1] as bf16, zeros past d; false if an element of q is
// not a bf16 value.
using PairTiles = std::uint32_t[kMostD / kChunk][kChunk / 2][kMostRows];
bool pair_tiles(int rows, int d, const float* q, std::int64_t ldq, PairTiles& b) {
  const __m512i low_half = _mm512_set1_epi32(0xffff);
  __mmask16 inexact = 0;
  for (int x = 0; x < d; x += kChunk) {
    __m512 v[kMostRows];
    for (int r = 0; r < kMostRows; ++r) {
      if (r >= rows) {
        v[r] = _mm512_setzero_ps();
        continue;
      }
      const __m512 lo = _mm512_maskz_loadu_ps(first16(d - x), q + r * ldq + x);
      const __m512 hi = _mm512_maskz_loadu_ps(first16(d - x - 16), q + r * ldq + x + 16);
      inexact |= _mm512_test_epi32_mask(_mm512_castps_si512(lo), low_half);
      inexact |= _mm512_test_epi32_mask(_mm512_castps_si512(hi), low_half);
      v[r] = std::bit_cast<__m512>(_mm512_cvtne2ps_pbh(hi, lo));
    }
    transpose16x16(v);  // v[p] lane r: row r's pair p
    for (int p = 0; p < kChunk / 2; ++p) _mm512_store_ps(b[x / kChunk][p], v[p]);
  }
  return inexact == 0;
}

// The walk's next n <= 16 keys' scores into C (n < 16: rows staged).
template <x86::Prefetch P, int Chunks>
[[gnu::always_inline]] inline void tile_keys(RowWalk<Bf16>& walk, x86::RowPrefetch<P, Bf16>* ahead, int n, int d,
                                             Bf16 (*stage)[kMostD], const PairTiles& b, float (*c)[kMostRows]) {
  const TileRows t = next_tile_rows<P, Chunks>(walk, ahead, n, d, reinterpret_cast<char*>(stage[0]), sizeof stage[0]);
  if constexpr (Chunks <= kResidentChunks) {
    ATTNRT_AMX_CHUNK_PRODUCTS(_tile_dpbf16ps, Chunks, t);
  } else {  // (whole chunks only: D a multiple of 32; B tiles 2-5 loaded twice)
    _tile_zero(6);
    ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 0, 2, 0);
    ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 1, 3, 1);
    ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 0, 4, 2);
    ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 1, 5, 3);
    _tile_loadd(2, b[4], 64);
    ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 0, 2, 4);
    if constexpr (Chunks > 5) {
      _tile_loadd(3, b[5], 64);
      ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 1, 3, 5);
    }
    if constexpr (Chunks > 6) {
      _tile_loadd(4, b[6], 64);
      ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 0, 4, 6);
    }
    if constexpr (Chunks > 7) {
      _tile_loadd(5, b[7], 64);
      ATTNRT_AMX_CHUNK(_tile_dpbf16ps, t, 1, 5, 7);
    }
    // B tiles 2-5 back to the first four chunks for the next keys.
    _tile_loadd(2, b[0], 64);
    if constexpr (Chunks > 5) _tile_loadd(3, b[1], 64);
    if constexpr (Chunks > 6) _tile_loadd(4, b[2], 64);
    if constexpr (Chunks > 7) _tile_loadd(5, b[3], 64);
  }
  _tile_stored(6, c, sizeof c[0]);
}

// S[r][0..n) = alpha * C's column r, r < rows.
inline void store_scores(const float (*c)[kMostRows], int rows, __m512 alpha, float* s, std::int64_t lds, int n) {
  __m512 v[kKeys];
  for (int k = 0; k < kKeys; ++k) v[k] = _mm512_load_ps(c[k]);
  transpose16x16(v);  // v[r] lane k: key k's score of row r
  for (int r = 0; r < rows; ++r) _mm512_mask_storeu_ps(s + r * lds, first16(n), _mm512_mul_ps(v[r], alpha));
}

template <int Chunks, x86::Prefetch P>
void qk_rows(int rows, int keys, int d, const PairTiles& b, const Bf16* k, std::int64_t ldk, float alpha, float* s,
             std::int64_t lds, int rows_ahead, RowsAfter next) {
  const TileConfig config = tile_config(Chunks, d - (Chunks - 1) * kChunk, rows);
  _tile_loadconfig(&config);
  _tile_loadd(2, b[0], 64);  // (B tile 2 + h: chunk h's pairs)
  if constexpr (Chunks > 1) _tile_loadd(3, b[1], 64);
  if constexpr (Chunks > 2) _tile_loadd(4, b[2], 64);
  if constexpr (Chunks > 3) _tile_loadd(5, b[3], 64);
  const __m512 scale = _mm512_set1_ps(alpha);
  alignas(64) Bf16 stage[kKeys][kMostD];
  alignas(64) float c[kKeys][kMostRows];
  x86::CallStreams<P, Bf16> walks(keys, k, ldk, next, rows_ahead, kKeys, 1);
  for (int j0 = 0; j0 < keys; j0 += kKeys) {
    const int n = std::min(keys - j0, kKeys);
    tile_keys<P, Chunks>(walks.walk[0], walks.prefetch(0), n, d, stage, b, c);
    store_scores(c, rows, scale, s + j0, lds, n);
  }
  _tile_release();
}

}  // namespace

template <x86::Prefetch P>
bool qk_bf16_rows_amx(int rows, int keys, int d, const float* q, std::int64_t ldq, const Bf16* k, std::int64_t ldk,
                      float alpha, float* s, std::int64_t lds, int rows_ahead, RowsAfter next) {
  if (rows < 1 || rows > kMostRows || d % 2 != 0 || d > kMostD || (d > kResidentChunks * kChunk && d % kChunk != 0))
    return false;
  if (keys <= 0) return true;
  alignas(64) PairTiles b;
  if (!pair_tiles(rows, d, q, ldq, b)) return false;
  switch ((d + kChunk - 1) / kChunk) {
    case 1: qk_rows<1, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    case 2: qk_rows<2, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    case 3: qk_rows<3, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    case 4: qk_rows<4, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    case 5: qk_rows<5, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    case 6: qk_rows<6, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    case 7: qk_rows<7, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
    default: qk_rows<8, P>(rows, keys, d, b, k, ldk, alpha, s, lds, rows_ahead, next); break;
  }
  return true;
}

#define ATTNRT_QK_BF16_ROWS_AMX(P)                                                                            \
  template bool qk_bf16_rows_amx<x86::Prefetch::P>(int, int, int, const float*, std::int64_t, const Bf16*,      \
                                                   std::int64_t, float, float*, std::int64_t, int, RowsAfter);
ATTNRT_QK_BF16_ROWS_AMX(l1)
ATTNRT_QK_BF16_ROWS_AMX(l2)
ATTNRT_QK_BF16_ROWS_AMX(l1_and_l2)

}  // namespace attnrt::kernels::avx512
