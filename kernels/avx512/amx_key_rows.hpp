// The K rows of a one-stream few-row call as AMX A tiles take them, 16
// keys a tile (qk_row_i8_amx.cpp, qk_rows_bf16_amx.cpp): in place where 16
// follow at one stride, else staged.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/rows_ahead.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {

inline constexpr int kTileKeys = 16;  // keys an A tile holds: its rows

// An A tile's rows: the first one's bytes and the stride in bytes.
struct TileRows {
  const char* rows;
  std::int64_t stride;
};

// The walk's next n <= 16 keys' rows of d elements: in place when 16
// follow at one stride, else copied to `stage` (rows `stage_ld` bytes
// apart, those past n zero); the rows ahead prefetched as the one-row
// loops prefetch them, Lines 64-byte lines a row.
template <x86::Prefetch P, int Lines, class T>
[[gnu::always_inline]] inline TileRows next_tile_rows(RowWalk<T>& walk, x86::RowPrefetch<P, T>* ahead, int n, int d,
                                                      char* stage, std::int64_t stage_ld) {
  if (n == kTileKeys && walk.rows_left() >= kTileKeys) {
    const TileRows t{reinterpret_cast<const char*>(walk.row()), walk.ld() * static_cast<std::int64_t>(sizeof(T))};
    walk.skip(kTileKeys);
    if (ahead && ahead->rows_left() >= kTileKeys) {
      // The rows ahead by plain adds: stepped key by key
      // (RowPrefetch::next_key) they cost more than the tiles' arithmetic.
      const auto lines = [&](const RowWalk<T>& w, auto into_l2) {
        const char* r = reinterpret_cast<const char*>(w.row());
        const std::int64_t ld = w.ld() * static_cast<std::int64_t>(sizeof(T));
        for (int key = 0; key < kTileKeys; ++key, r += ld)
#pragma GCC unroll 8
          for (int h = 0; h < Lines; ++h) x86::prefetch_line<decltype(into_l2)::value>(r + h * 64);
      };
      lines(ahead->near(), std::bool_constant<P == x86::Prefetch::l2>{});
      if constexpr (x86::RowPrefetch<P, T>::kFar) lines(ahead->far(), std::true_type{});
      ahead->skip(kTileKeys);
    } else if (ahead) {
      for (int k = 0; k < kTileKeys; ++k) ahead->next_key(d);
    }
    return t;
  }
  const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(d);
  for (int k = 0; k < n; ++k) std::memcpy(stage + k * stage_ld, x86::next_key_row(walk, ahead, d), bytes);
  for (int k = n; k < kTileKeys; ++k) std::memset(stage + k * stage_ld, 0, bytes);
  return {stage, stage_ld};
}

}  // namespace attnrt::kernels::avx512

// Chunk h of D (64 bytes of each of TileRows t's rows) loaded into A tile
// a, times B tile b, into C (tile 6) by DOT (the kernel's tdp*). GCC's AMX
// intrinsics paste tile numbers into their instructions' text, so these
// are macros and the tile numbers literals.
#define ATTNRT_AMX_CHUNK(DOT, t, a, b, h)              \
  do {                                                \
    _tile_loadd(a, (t).rows + (h) * 64, (t).stride);  \
    DOT(6, a, b);                                     \
  } while (0)
// C (tile 6) = the sum over D's Chunks <= 4 chunks h of chunk h times B
// tile 2 + h: A tiles 0 and 1 in turns, 7 for the last chunk (whose rows
// may be shorter).
#define ATTNRT_AMX_CHUNK_PRODUCTS(DOT, Chunks, t)                    \
  do {                                                              \
    static_assert((Chunks) >= 1 && (Chunks) <= 4);                  \
    _tile_zero(6);                                                  \
    if constexpr ((Chunks) > 1) ATTNRT_AMX_CHUNK(DOT, t, 0, 2, 0);  \
    if constexpr ((Chunks) > 2) ATTNRT_AMX_CHUNK(DOT, t, 1, 3, 1);  \
    if constexpr ((Chunks) > 3) ATTNRT_AMX_CHUNK(DOT, t, 0, 4, 2);  \
    if constexpr ((Chunks) == 1) ATTNRT_AMX_CHUNK(DOT, t, 7, 2, 0); \
    if constexpr ((Chunks) == 2) ATTNRT_AMX_CHUNK(DOT, t, 7, 3, 1); \
    if constexpr ((Chunks) == 3) ATTNRT_AMX_CHUNK(DOT, t, 7, 4, 2); \
    if constexpr ((Chunks) == 4) ATTNRT_AMX_CHUNK(DOT, t, 7, 5, 3); \
  } while (0)
