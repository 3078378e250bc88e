// What lies ahead of a walk over a paged K or V: the page prefetches the
// runs issue themselves (the next page's first lines, and a spanning
// call's scales), and the list of page pieces ahead that direct kernels
// prefetch through (PagesAhead).
// for_each_kv_run (kv_runs.hpp) uses both as it hands pages over.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/problem.hpp"
#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels {

enum class KvSide { k, v };

// The first line(s) of the next page's first row, touched one page ahead:
// pages sit at random places, so the hardware prefetchers lose the stream
// at every page end and restart it late, on the demand misses. Starting it
// from here took shuffled pages of 16 keys from 0.45 to 0.55 of contiguous
// K/V (B128 H1 M1 N4096 D128 fp32, one thread, this 2-core VM); prefetching
// the whole next page, or its first 2-4 rows, into L1 did worse (fill
// buffers the current page's reads need).
//
// (Functions of prefetches alone are always inlined: GCC finds such a
// function free of side effects and drops the calls to it. Zen 4's whole
// next page into L2, 0e51f13, compiled to nothing that way.)
[[gnu::always_inline]] inline void prefetch_next_page(const std::byte* row, std::int64_t row_bytes) {
  for (std::int64_t b = 0; b < std::min<std::int64_t>(row_bytes, 512); b += 64) __builtin_prefetch(row + b, 0, 3);
}

// Where the CPU's prefetches fill L2 only (StreamParams::into_l2: Zen 4),
// pieces up to 8 KiB are left to the hardware prefetchers, which follow a
// stream within a memory page: fp32 and bf16 pages of 16 (8 and 4 KiB) ran
// as fast without prefetch_next_page as with it (paged/contiguous
// 0.72-0.97 either way, S5). Above 8 KiB it restarts them (int8 pages of
// 256 keys: 7.3-7.6 ms against 10.3 with no prefetch). (Pieces under a
// memory page were once also fetched whole into L2 a few pages ahead and
// touched for the TLB; spanning calls, whose kernels prefetch through the
// pieces listed, replaced that for every set whose row fills L2 only.)
inline constexpr std::int64_t kMemoryPageBytes = 4096;
inline constexpr std::int64_t kHardwareOnlyBytes = 8192;

// Keys from j to the end of its page, or to the sequence's end (paged).
inline int page_rows_from(const HeadProblem& p, std::int64_t j) {
  return static_cast<int>(std::min<std::int64_t>(p.page_size - j % p.page_size, p.n - j));
}

// The first of key j's scales in its page (quantized K/V).
inline const float* page_scales(const HeadProblem& p, KvSide side, std::int64_t j) {
  return side == KvSide::k ? p.k_scale + p.k_scale_offset(j) : p.v_scale + p.v_scale_offset(j);
}

// The scales of keys [j, j + rows) of one page (quantized K/V), with
// __builtin_prefetch's temporal locality L.
template <int L>
[[gnu::always_inline]] inline void prefetch_page_scales(const HeadProblem& p, KvSide side, std::int64_t j, int rows) {
  const float* scale = page_scales(p, side, j);
  const std::int64_t ld = side == KvSide::k ? p.ld_k_scale : p.ld_v_scale;
  const int rows_a_line = ld == 0 ? rows : static_cast<int>(std::max<std::int64_t>(1, 16 / ld));
  for (int r = 0; r < rows; r += rows_a_line) __builtin_prefetch(scale + r * ld, 0, L);
  __builtin_prefetch(scale + (rows - 1) * ld, 0, L);  // the line the last row's scale is on
}

// The page pieces after a key of a paged K or V, as the direct kernels'
// prefetches want them (RowsAfter): the rest of its page, then whole pages,
// up to kPiecesAhead pieces or kRowsAhead rows (past the farthest any
// kernel prefetches: 64 int8 rows and a 16-key block at D128 on avx512).
// A window slid forward a page at a time as the runs advance, so a run
// costs a table lookup per new page, not one per piece it lists, and no
// division or copy of the list (for_each_kv_run carries its page slot
// along too). Around the kernels a run costs ~20 ns; bf16 decode in pages
// of 16 with K/V in L3 (B1 H8 N4096 D128, Zen 4) spent 12% of its samples
// there, 8.5% after these changes (5% fewer samples in all).
class PagesAhead {
 public:
  // Most keys and pieces of one call whose kernels span pieces
  // (KvRunOptions::span): in pages of 16 keys and more, calls long enough
  // for the one-row kernels' two streams (x86::kTwoStreamKeys); in pages of
  // 1, 64 keys, as all calls were before: 1024 there made the call list and
  // prefetch a thousand pages up front (bf16 S5, one thread, Sapphire
  // Rapids-class VM: 46.8 -> 70.2 ms), while in pages of 16 paged over
  // contiguous rose from 0.80 to 0.96 (bf16) and 0.92 to 1.00 (fp32).
  static constexpr int kSpanKeys = 1024;
  static constexpr int kSpanPieces = 64;
  static constexpr int kRowsAhead = 128;
  // Enough pieces for a spanning call and the rows after it in pages of one key.
  static constexpr int kPiecesAhead = kSpanPieces + kRowsAhead;

  PagesAhead(const HeadProblem& p, KvSide side)
      : p_(p), base_(static_cast<const std::byte*>(side == KvSide::k ? p.k : p.v)),
        row_bytes_((side == KvSide::k ? p.ldk : p.ldv) * static_cast<std::int64_t>(p.kv_elem_bytes())),
        page_bytes_((side == KvSide::k ? p.k_page_stride : p.v_page_stride) *
                    static_cast<std::int64_t>(p.kv_elem_bytes())) {}

  // The pieces from row `skip` of page slot `slot` on (a key below p.n).
  RowsAfter from(std::int64_t slot, int skip) {
    const std::int64_t ps = p_.page_size;
    buf_[at_] = first_;  // the last call's first piece whole again
    if (n_ > 0 && slot > slot0_) {  // drop the pages before `slot`
      const int drop = static_cast<int>(std::min<std::int64_t>(slot - slot0_, n_));
      at_ += drop;
      n_ -= drop;
      slot0_ += drop;
    }
    if (n_ == 0) slot0_ = slot, at_ = 0;
    if (at_ + kPiecesAhead > kBuffer) {  // (every kPiecesAhead pages or so)
      std::copy(buf_ + at_, buf_ + at_ + n_, buf_);
      at_ = 0;
    }
    const std::int64_t call = std::min<std::int64_t>(kSpanKeys, kSpanPieces * ps);  // a spanning call's most keys
    const std::int64_t reach = std::min<std::int64_t>(p_.n, slot * ps + skip + call + kRowsAhead);
    for (std::int64_t s = slot0_ + n_; n_ < kPiecesAhead && s * ps < reach; ++s)
      buf_[at_ + n_++] = {base_ + p_.pages[s] * page_bytes_, static_cast<int>(std::min<std::int64_t>(ps, p_.n - s * ps))};
    first_ = buf_[at_];
    buf_[at_] = {static_cast<const std::byte*>(first_.rows) + skip * row_bytes_, first_.count - skip};
    return {buf_ + at_, n_};
  }

 private:
  static constexpr int kBuffer = 2 * kPiecesAhead;  // the window slides along it
  const HeadProblem& p_;
  const std::byte* base_;
  std::int64_t row_bytes_, page_bytes_;  // one row stride and one page stride, in bytes
  std::int64_t slot0_ = 0;               // page slot of buf_[at_]
  int at_ = 0, n_ = 0;
  RowRun buf_[kBuffer];  // pages slot0_, slot0_ + 1, ... at buf_[at_ ...] (written before read)
  RowRun first_ = {};    // buf_[at_] whole (the call cut its first rows)
};

}  // namespace attnrt::kernels
