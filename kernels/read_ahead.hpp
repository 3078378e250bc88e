// Software prefetch for rows read one after another from memory a few at a
// time (widen_rows: the direct path's fp16/bf16 K and V for a set whose
// direct kernels take fp32 rows, i.e. avx2): the hardware prefetchers see
// only a short burst per call and start late, so each row read also asks
// for the row kReadAheadBytes further on. Measured on Zen 5 (bf16 GQA
// decode, B4 H32/8 M1 N4096 D128, one thread) when the avx512 set still
// widened its K and V this way: 3.65 ms without, 3.02 ms at 4 KiB ahead,
// 2.82-2.87 ms at 16 and 32 KiB; the avx2 set 1.042x (attnrt-ab).
#pragma once

#include <algorithm>
#include <cstdint>

namespace attnrt::kernels {

inline constexpr std::int64_t kReadAheadBytes = 16384;

// Rows ahead (ld_bytes apart) that cover kReadAheadBytes: at least one.
inline std::int64_t read_ahead_rows(std::int64_t ld_bytes) {
  return std::max<std::int64_t>(1, kReadAheadBytes / std::max<std::int64_t>(1, ld_bytes));
}

// Prefetches the lines of the row_bytes bytes at `row`. A prefetch never
// faults, so a row past the end of the tensor costs nothing but the hint.
inline void prefetch_row(const void* row, std::int64_t row_bytes) {
  const char* p = static_cast<const char*>(row);
  for (std::int64_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(p + b);
}

}  // namespace attnrt::kernels
