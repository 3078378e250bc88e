// K or V rows of a key range as runs a single stride walks: the whole range
// when K/V are dense, one run per page piece when they are paged. The
// packers and direct kernels take a pointer and a row stride, so a paged
// cache is read in place, run after run, never gathered into a copy.
//
// A consumer may only be cut at multiples of its `quantum` of keys (a K
// panel holds nr keys; a bf16 V panel pairs keys; a P panel is read in
// blocks of a_block columns). Runs therefore end at quantum boundaries (or
// at the range's end); a quantum that straddles a page boundary, and only
// such a quantum, is copied to a stage of at most `quantum` rows first:
// one tile's worth, not a gather of the cache.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/problem.hpp"

namespace attnrt::kernels {

enum class KvSide { k, v };

// Keys [c, c + count) of a range (relative to its first key) at rows, ld
// elements apart; the keys after them continue at next (the next page's
// first row, for the direct kernels' prefetches), or null: in memory after.
struct KvRun {
  int c, count;
  const std::byte* rows;
  std::int64_t ld;
  const std::byte* next = nullptr;
};

// Bytes a stage needs for quanta of up to `quantum` rows of K (d) or V (dv).
inline std::size_t kv_stage_bytes(int quantum, int d, int dv, DType t) {
  return static_cast<std::size_t>(quantum) * std::max(d, dv) * dtype_size(t);
}

// The first line(s) of the next page's first row, touched one page ahead:
// pages sit at random places, so the hardware prefetchers lose the stream
// at every page end and restart it late, on the demand misses. Starting it
// from here took shuffled pages of 16 keys from 0.45 to 0.55 of contiguous
// K/V (B128 H1 M1 N4096 D128 fp32, one thread, this 2-core VM); prefetching
// the whole next page, or its first 2-4 rows, did worse (fill buffers the
// current page's reads need).
inline void prefetch_next_page(const std::byte* row, std::int64_t row_bytes) {
  for (std::int64_t b = 0; b < std::min<std::int64_t>(row_bytes, 512); b += 64) __builtin_prefetch(row + b, 0, 3);
}

// Calls f(KvRun) over keys first + [0, count) of side's rows, in order.
template <class F>
void for_each_kv_run(const HeadProblem& p, KvSide side, std::int64_t first, int count, int quantum,
                     std::byte* stage, F&& f) {
  if (count <= 0) return;
  const std::int64_t esz = static_cast<std::int64_t>(dtype_size(p.dtype));
  const bool k = side == KvSide::k;
  const std::byte* base = static_cast<const std::byte*>(k ? p.k : p.v);
  const std::int64_t ld = k ? p.ldk : p.ldv;
  auto row = [&](std::int64_t j) { return base + (k ? p.k_offset(j) : p.v_offset(j)) * esz; };
  if (!p.pages) {
    f(KvRun{0, count, row(first), ld, nullptr});
    return;
  }
  const int ps = p.page_size;
  for (int c = 0; c < count;) {  // c is always a multiple of quantum
    const std::int64_t j = first + c;
    const int in_page = ps - static_cast<int>(j % ps);  // keys from j to its page's end
    const int q_end = std::min(count, (c / quantum + 1) * quantum);
    if (c + in_page >= q_end) {
      // In place up to the last quantum boundary inside the page.
      int end = std::min(count, c + in_page);
      if (end < count) end = end / quantum * quantum;
      const std::byte* next = end == c + in_page && first + end < p.n ? row(first + end) : nullptr;
      if (next) prefetch_next_page(next, (k ? p.d : p.dv) * esz);
      f(KvRun{c, end - c, row(j), ld, next});
      c = end;
    } else {
      const int width = k ? p.d : p.dv;
      const std::size_t row_bytes = static_cast<std::size_t>(width) * esz;
      for (int i = c; i < q_end; ++i) std::memcpy(stage + (i - c) * row_bytes, row(first + i), row_bytes);
      f(KvRun{c, q_end - c, stage, width, nullptr});
      c = q_end;
    }
  }
}

}  // namespace attnrt::kernels
