// The amx_bf16 set's tile products (amx_bf16.hpp): per 32 of k two A tiles
// (rows 0-15, 16-31), two B tiles (keys or columns 0-15, 16-31) and four
// tdpbf16ps into the four C tiles of the 32x32 result, which accumulate in
// fp32. Each tdpbf16ps is 16x16x32 multiply-adds: a 32x32x128 product is
// 16 of them, ~2 TFLOP/s on one Sapphire Rapids-class core with its
// operands in L1, about 12x the core's fp32 FMA peak.
#include "kernels/avx512/intrinsics.hpp"

#include <cstdint>
#include <cstring>

#include "kernels/avx512/amx_bf16.hpp"
#include "kernels/avx512/amx_tiles.hpp"

namespace attnrt::kernels::avx512 {
namespace {

// Tiles 0-1: A, 2-3: B, 4-7: C (4 + 2 * row half + column half).
constexpr TileConfig all_16_rows_of_64_bytes() {
  TileConfig c;
  for (int t = 0; t < 8; ++t) {
    c.rows[t] = 16;
    c.colsb[t] = 64;
  }
  return c;
}
// constinit: set at compile time. A dynamic initializer here is compiled
// with this file's AVX-512 flags and ran at load on every CPU (SIGILL on Zen 3).
constinit const TileConfig kConfig = all_16_rows_of_64_bytes();

// C (fp32, row stride ldc) = A·B, or += A·B when Accumulate.
template <bool Accumulate>
void tile_product(int k, const void* a, const void* b, float* c, std::int64_t ldc) {
  const auto* blocks = static_cast<const std::uint16_t*>(a);
  const auto* pairs = static_cast<const std::uint32_t*>(b);
  const auto stride = static_cast<long>(ldc * sizeof(float));
  float* const c1 = c + 16 * ldc;
  if constexpr (Accumulate) {
    _tile_loadd(4, c, stride);
    _tile_loadd(5, c + 16, stride);
    _tile_loadd(6, c1, stride);
    _tile_loadd(7, c1 + 16, stride);
  } else {
    _tile_zero(4);
    _tile_zero(5);
    _tile_zero(6);
    _tile_zero(7);
  }
  for (int p = 0; p < k; p += kAmxTile) {
    const std::uint16_t* block = blocks + p * kAmxTile;  // rows r at r * 32
    const std::uint32_t* pair_rows = pairs + p / 2 * kAmxTile;
    _tile_loadd(0, block, 64);
    _tile_loadd(1, block + 16 * kAmxTile, 64);
    _tile_loadd(2, pair_rows, 128);
    _tile_loadd(3, pair_rows + 16, 128);
    _tile_dpbf16ps(4, 0, 2);
    _tile_dpbf16ps(5, 0, 3);
    _tile_dpbf16ps(6, 1, 2);
    _tile_dpbf16ps(7, 1, 3);
  }
  _tile_stored(4, c, stride);
  _tile_stored(5, c + 16, stride);
  _tile_stored(6, c1, stride);
  _tile_stored(7, c1 + 16, stride);
}

}  // namespace

// A scope inside another (a test around a pipeline) finds the tiles
// configured as it wants them and leaves them so.
std::uint64_t amx_bf16_tiles_enter() {
  TileConfig now;
  _tile_storeconfig(&now);
  if (std::memcmp(&now, &kConfig, sizeof now) == 0) return 1;
  _tile_loadconfig(&kConfig);
  return 0;
}
void amx_bf16_tiles_leave(std::uint64_t was_configured) {
  if (!was_configured) _tile_release();
}

void qk_amx_bf16(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  alignas(64) float c[kAmxTile][kAmxTile];
  tile_product<false>(dp, a, b, &c[0][0], kAmxTile);
  const __m512 scale = _mm512_set1_ps(alpha);
  for (int r = 0; r < kAmxTile; ++r) {
    _mm512_storeu_ps(s + r * lds, _mm512_mul_ps(_mm512_load_ps(c[r]), scale));
    _mm512_storeu_ps(s + r * lds + 16, _mm512_mul_ps(_mm512_load_ps(c[r] + 16), scale));
  }
}

void pv_amx_bf16_init(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  tile_product<false>(kp, a, b, o, ldo);
}
void pv_amx_bf16_acc(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  tile_product<true>(kp, a, b, o, ldo);
}

// Four C tiles, each its own chain of tdpbf16ps on A and B tiles loaded
// once: only the instruction's issue rate limits the loop.
float tile_dot_chains(std::int64_t iters) {
  const std::uint64_t was_configured = amx_bf16_tiles_enter();
  alignas(64) std::uint16_t small[16][kAmxTile];
  for (auto& row : small)
    for (std::uint16_t& x : row) x = 0x3a80;  // 2^-10: the sums stay far from overflow
  _tile_loadd(0, small, 64);
  _tile_loadd(1, small, 64);
  _tile_loadd(2, small, 64);
  _tile_loadd(3, small, 64);
  _tile_zero(4);
  _tile_zero(5);
  _tile_zero(6);
  _tile_zero(7);
  for (std::int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(4, 0, 2);
    _tile_dpbf16ps(5, 0, 3);
    _tile_dpbf16ps(6, 1, 2);
    _tile_dpbf16ps(7, 1, 3);
  }
  alignas(64) float c[4][16][16];
  _tile_stored(4, c[0], 64);
  _tile_stored(5, c[1], 64);
  _tile_stored(6, c[2], 64);
  _tile_stored(7, c[3], 64);
  amx_bf16_tiles_leave(was_configured);
  return c[0][0][0] + c[1][3][5] + c[2][7][9] + c[3][15][15];
}

}  // namespace attnrt::kernels::avx512
