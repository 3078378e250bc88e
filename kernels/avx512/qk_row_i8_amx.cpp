// Q·Kᵀ of a decode row, or of up to 16 rows, over int8 K codes on AMX
// (tdpbssd), for the avx512 set's FewRowKernels entry that needs
// AMX-INT8. q is cut into the three signed 8-bit digits int8_vnni.cpp
// uses (23-bit fixed point relative to the row's largest |q|), laid out
// as the three columns of a B tile per 64 columns of D; 16 keys' K rows
// are loaded in place as an A tile (16 rows, their own stride), so one
// tdpbssd forms 16 keys x 3 digits x 64 products
// and no code is moved by a shuffle. Integer sums are exact; the digits are
// combined as int8_vnni.cpp combines them, so the scores carry the same one
// rounding beyond fp32's own (2^-23 of the largest |q| per element).
//
// Sapphire Rapids-class VM, one thread, against the VNNI kernel: a C++ loop
// of B1 H1 N4096 D128 int8 decode calls (K/V in L2) 11.7-12.3 -> 7.7-9.1
// ns a key at best; attnrt-ab S5 (B4 H32 M1 N4096 D128) int8, K/V from
// DRAM, 6 pairs a process, seven processes: medians 0.984, 0.995, 1.004,
// 1.021, 1.026, 1.056, 1.125; two threads 1.036, 1.040. So it pays in
// cache; from DRAM the call waits on its reads (docs/decode_measurements.md).
//
// Several rows (a GQA group's query heads stacked, a short prefill chunk)
// share the tiles: up to five rows' digits side by side in B's 16
// columns, so a pass costs what one row's does, and more rows take more
// passes over the call's keys (from L2 after the first). attnrt-ab against
// the pair tiles widening the codes for FMAs (qk_direct.cpp), int8 K/V,
// B4 H32 N4096 D128, 6 pairs, two processes: GQA decode with groups of 4
// 1.33, 1.22 (two threads 1.36, 1.30), of 8 1.41, 1.40 (two threads 1.40);
// M2 1.25, 1.21; M3 1.11, 1.13; groups of 4 in pages of 16 1.25.
// AMX needs the process granted its tile state: runtime/src/cpu_features.cpp
// asks once, where the features are first read (kFeatureAmxInt8). Each
// thread's first tile instruction then traps once into Linux, which gives
// the thread its larger XSAVE area: a worker's first call, not every one.
//
// Rows it does not take go to the VNNI kernel (one row) or the pair tiles:
// D not a multiple of 4 or above 256 (the tiles' shape), and what that one
// hands on.
#include "kernels/avx512/intrinsics.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/avx512/amx_key_rows.hpp"
#include "kernels/avx512/amx_tiles.hpp"
#include "kernels/avx512/convert.hpp"
#include "kernels/avx512/ops.hpp"
#include "kernels/avx512/q_digits.hpp"
#include "kernels/avx512/transpose.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {
namespace {

constexpr int kMostD = 256;
constexpr int kChunk = 64;  // columns of D an A tile holds (64 bytes a row)
constexpr int kKeys = kTileKeys;  // keys a tile: its rows
// Tiles: A (two, alternating over D's whole chunks, and one for the last
// chunk, whose rows may be shorter), B (one per chunk), C.
constexpr int kTileA0 = 0, kTileA1 = 1, kTileB0 = 2, kTileC = 6, kTileALast = 7;

// Query rows a pass over the keys takes: three digit columns each, of
// the 16 int32 columns a B tile row holds.
constexpr int kPassRows = 5;
constexpr int kMostRows = 16;

// A tile's 64 bytes a row per chunk of D (the last chunk's `tail`, so no
// row is read past d), B's K/4 rows of `colsb` bytes (three digits' 4
// bytes per query row, zero columns to a multiple of four), C's 16 rows of
// as many int32.
TileConfig tile_config(int chunks, int tail, int colsb) {
  TileConfig c;
  for (int t : {kTileA0, kTileA1, kTileALast}) {
    c.rows[t] = kKeys;
    c.colsb[t] = static_cast<std::uint16_t>(t == kTileALast ? tail : kChunk);
  }
  for (int h = 0; h < chunks; ++h) {
    c.rows[kTileB0 + h] = static_cast<std::uint8_t>((h == chunks - 1 ? tail : kChunk) / 4);
    c.colsb[kTileB0 + h] = static_cast<std::uint16_t>(colsb);
  }
  c.rows[kTileC] = kKeys;
  c.colsb[kTileC] = static_cast<std::uint16_t>(colsb);
  return c;
}
// B and C tiles' bytes a row for `rows` query rows.
int digit_cols_bytes(int rows) { return 4 * ((3 * rows + 3) / 4 * 4); }

// Rows' digits in B tiles: b[h][x][4(3r + t) + c] is digit t of
// q_r[64h + 4x + c] (tdpbssd's four products per int32 lane of C), zeros
// past d and past the rows' columns; q_r = q + r ldq, r < rows <= 5.
using DigitTiles = std::int8_t[kMostD / kChunk][kChunk / 4][64];
void digit_tiles(int rows, const float* q, std::int64_t ldq, int d, const float* qmax, DigitTiles& b) {
  std::memset(b, 0, sizeof b);
  for (int r = 0; r < rows; ++r) {
    alignas(64) std::int8_t digits[3][kMostD] = {};
    const __m512 to_units = _mm512_set1_ps(kQUnits / qmax[r]);
    for (int x = 0; x < d; x += 16) {
      __m512i ds[3];
      q_digits(_mm512_maskz_loadu_ps(first16(d - x), q + r * ldq + x), to_units, ds);
      for (int t = 0; t < 3; ++t)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(digits[t] + x), _mm512_cvtepi32_epi8(ds[t]));
    }
    for (int x = 0; x < d; x += 4)
      for (int t = 0; t < 3; ++t)
        std::memcpy(&b[x / kChunk][(x % kChunk) / 4][4 * (3 * r + t)], digits[t] + x, 4);
  }
}

// The walk's next n <= 16 keys' digit sums into C (n < 16: rows staged).
template <x86::Prefetch P, int Chunks>
[[gnu::always_inline]] inline void tile_keys(RowWalk<I8>& walk, x86::RowPrefetch<P, I8>* ahead, int n, int d,
                                             std::int8_t (*stage)[kMostD], std::int32_t (*c)[16], int c_ld) {
  const TileRows rows = next_tile_rows<P, Chunks>(walk, ahead, n, d, reinterpret_cast<char*>(stage[0]), sizeof stage[0]);
  ATTNRT_AMX_CHUNK_PRODUCTS(_tile_dpbssd, Chunks, rows);
  _tile_stored(6, c, c_ld);
}

// 16 keys' scores from C's rows (key k: its three digits' sums in
// c[k][0..2]), as int8_vnni.cpp forms them: 65536 Σd2 k + (256 Σd1 k +
// Σd0 k), the second exact in int32; n of them stored at s.
inline void store_scores(const std::int32_t (*c)[4], __m512 unit, float* s, int n) {
  const __m512i z[4] = {_mm512_load_si512(c[0]), _mm512_load_si512(c[4]), _mm512_load_si512(c[8]),
                        _mm512_load_si512(c[12])};
  const auto digit = [&](int t) {  // lane k: c[k][t]
    const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0),
                                         _mm512_set1_epi32(t));
    const __m512i lo = _mm512_permutex2var_epi32(z[0], idx, z[1]), hi = _mm512_permutex2var_epi32(z[2], idx, z[3]);
    return _mm512_shuffle_i32x4(lo, hi, _MM_SHUFFLE(1, 0, 1, 0));
  };
  const __m512i low = _mm512_add_epi32(_mm512_slli_epi32(digit(1), 8), digit(0));
  const __m512 units = _mm512_fmadd_ps(_mm512_cvtepi32_ps(digit(2)), _mm512_set1_ps(65536.0f), _mm512_cvtepi32_ps(low));
  _mm512_mask_storeu_ps(s, first16(n), _mm512_mul_ps(units, unit));
}

// Rows r < rows (<= 5) of S scored from C's rows (key k: row r's digit t
// sums in c[k][3r + t]), as store_scores forms one: n keys, row r's
// scaled by unit[r].
inline void store_rows(const std::int32_t (*c)[16], int rows, const float* unit, float* s, std::int64_t lds, int n) {
  __m512 v[kKeys];
  for (int k = 0; k < kKeys; ++k) v[k] = _mm512_load_ps(reinterpret_cast<const float*>(c[k]));
  transpose16x16(v);  // v[3r + t] lane k: row r's digit t sum of key k
  const auto digit = [&](int col) { return _mm512_castps_si512(v[col]); };
  for (int r = 0; r < rows; ++r) {
    const __m512i low = _mm512_add_epi32(_mm512_slli_epi32(digit(3 * r + 1), 8), digit(3 * r));
    const __m512 units =
        _mm512_fmadd_ps(_mm512_cvtepi32_ps(digit(3 * r + 2)), _mm512_set1_ps(65536.0f), _mm512_cvtepi32_ps(low));
    _mm512_mask_storeu_ps(s + r * lds, first16(n), _mm512_mul_ps(units, _mm512_set1_ps(unit[r])));
  }
}

// One pass over the call's keys for rows r < rows <= 5, their digits in b:
// S[r][0..keys) = unit[r] * the rows' digit sums.
template <int Chunks, x86::Prefetch P>
void qk_pass(int rows, int keys, int d, const DigitTiles& b, const float* unit, const I8* k, std::int64_t ldk,
             float* s, std::int64_t lds, int rows_ahead, RowsAfter next) {
  const TileConfig config = tile_config(Chunks, d - (Chunks - 1) * kChunk, digit_cols_bytes(rows));
  _tile_loadconfig(&config);
  _tile_loadd(2, b[0], sizeof b[0][0]);  // (kTileB0 + h: chunk h's digits)
  if constexpr (Chunks > 1) _tile_loadd(3, b[1], sizeof b[0][0]);
  if constexpr (Chunks > 2) _tile_loadd(4, b[2], sizeof b[0][0]);
  if constexpr (Chunks > 3) _tile_loadd(5, b[3], sizeof b[0][0]);
  alignas(64) std::int8_t stage[kKeys][kMostD];
  alignas(64) std::int32_t c[kKeys][16];
  // One row's C, 16 bytes a row, is read as four vectors (store_scores).
  const int c_ld = rows == 1 ? 16 : sizeof c[0];
  const __m512 unit0 = _mm512_set1_ps(unit[0]);
  // One stream: the call's quarters in turns of 16 keys, as the VNNI
  // kernel reads them, ran S5 int8 (attnrt-ab, 6 pairs, three processes)
  // at 0.96-1.00 of the VNNI kernel, one stream at 0.98-1.12.
  x86::CallStreams<P, I8> walks(keys, k, ldk, next, rows_ahead, kKeys, 1);
  for (int j0 = 0; j0 < keys; j0 += kKeys) {
    const int n = std::min(keys - j0, kKeys);
    tile_keys<P, Chunks>(walks.walk[0], walks.prefetch(0), n, d, stage, c, c_ld);
    if (rows == 1)
      store_scores(reinterpret_cast<const std::int32_t(*)[4]>(c), unit0, s + j0, n);
    else
      store_rows(c, rows, unit, s + j0, lds, n);
  }
  _tile_release();
}

// S = alpha * Q·Kᵀ for rows <= 16 whose largest |q| are qmax, in passes
// of at most five rows (the same keys read again: from L2 where a call's
// keys fit).
template <x86::Prefetch P>
void qk_rows(int rows, int keys, int d, const float* q, std::int64_t ldq, const float* qmax, const I8* k,
             std::int64_t ldk, float alpha, float* s, std::int64_t lds, int rows_ahead, RowsAfter next) {
  const int passes = (rows + kPassRows - 1) / kPassRows;
  for (int r0 = 0, p = 0; p < passes; ++p) {
    const int n = (rows - r0) / (passes - p);  // (rows split evenly)
    alignas(64) DigitTiles b;
    digit_tiles(n, q + r0 * ldq, ldq, d, qmax + r0, b);
    float unit[kPassRows];
    for (int r = 0; r < n; ++r) unit[r] = alpha * (qmax[r0 + r] / kQUnits);
    float* sr = s + r0 * lds;
    switch ((d + kChunk - 1) / kChunk) {
      case 1: qk_pass<1, P>(n, keys, d, b, unit, k, ldk, sr, lds, rows_ahead, next); break;
      case 2: qk_pass<2, P>(n, keys, d, b, unit, k, ldk, sr, lds, rows_ahead, next); break;
      case 3: qk_pass<3, P>(n, keys, d, b, unit, k, ldk, sr, lds, rows_ahead, next); break;
      default: qk_pass<4, P>(n, keys, d, b, unit, k, ldk, sr, lds, rows_ahead, next); break;
    }
    r0 += n;
  }
}

}  // namespace

template <x86::Prefetch P>
bool qk_i8_row_amx(int keys, int d, const float* q, const I8* k, std::int64_t ldk, float alpha, float* s,
                   int rows_ahead, RowsAfter next) {
  float qmax;
  if (d % 4 != 0 || d > kMostD || keys <= 0 || !q_digits_take(q, d, &qmax))
    return qk_i8_row_vnni<P>(keys, d, q, k, ldk, alpha, s, rows_ahead, next);
  qk_rows<P>(1, keys, d, q, d, &qmax, k, ldk, alpha, s, keys, rows_ahead, next);
  return true;
}

template <x86::Prefetch P>
bool qk_i8_rows_amx(int rows, int keys, int d, const float* q, std::int64_t ldq, const I8* k, std::int64_t ldk,
                    float alpha, float* s, std::int64_t lds, int rows_ahead, RowsAfter next) {
  float qmax[kMostRows];
  if (rows < 1 || rows > kMostRows || d % 4 != 0 || d > kMostD) return false;
  for (int r = 0; r < rows; ++r)
    if (!q_digits_take(q + r * ldq, d, &qmax[r])) return false;
  if (keys > 0) qk_rows<P>(rows, keys, d, q, ldq, qmax, k, ldk, alpha, s, lds, rows_ahead, next);
  return true;
}

#define ATTNRT_QK_I8_ROW_AMX(P)                                                                                \
  template bool qk_i8_row_amx<x86::Prefetch::P>(int, int, const float*, const I8*, std::int64_t, float, float*, \
                                                int, RowsAfter);
#define ATTNRT_QK_I8_ROWS_AMX(P)                                                                             \
  template bool qk_i8_rows_amx<x86::Prefetch::P>(int, int, int, const float*, std::int64_t, const I8*,        \
                                                 std::int64_t, float, float*, std::int64_t, int, RowsAfter);
ATTNRT_QK_I8_ROWS_AMX(l1)
ATTNRT_QK_I8_ROWS_AMX(l2)
ATTNRT_QK_I8_ROWS_AMX(l1_and_l2)
ATTNRT_QK_I8_ROW_AMX(l1)
ATTNRT_QK_I8_ROW_AMX(l2)
ATTNRT_QK_I8_ROW_AMX(l1_and_l2)

}  // namespace attnrt::kernels::avx512
