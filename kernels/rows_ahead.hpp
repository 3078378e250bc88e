// Where a direct kernel's prefetches of rows past its call go
// (FewRowKernels::qk's `next`): row i of rows [0, n) is at rows + i·ld;
// the rows after them are those of the runs in `next`, in order, or in
// memory after row n - 1 when there are none (dense K and V).
//
// The pipelines list the next pages only where the CPU's row says so
// (StreamParams::across_pages; pages_ahead.hpp), else hand RowsAfter::none(),
// and the prefetches stop at the page's end. On Sapphire Rapids-class x86,
// prefetching the next page's rows ran slower than not: shuffled pages of
// 16 keys at 0.79 of contiguous K/V against 0.90 (B4 H32 M1 N4096 D128
// fp32, one thread, three runs each), while each call read one page;
// with calls spanning pieces the list runs faster there too (tuning.hpp).
//
// Why a list and not just the next page's first row: a kernel prefetches a
// fixed number of bytes ahead (16 fp32 rows, 32 bf16, 64 int8 at D128 on
// Zen 5), which from a page's last rows lands one or several pages on, and
// pages sit at random places. With the first row only, that prefetch either
// stopped at the page end (so a paged cache streamed with none at all in
// pages of 16: shuffled pages of 16 fp32 keys at 0.41-0.53 of contiguous
// K/V on Zen 5, B4 H32 M1 N4096 D128, one thread) or ran on past the next
// page into rows of other heads.
#pragma once

#include <cstdint>

namespace attnrt::kernels {

// `count` rows in place from `rows`, the call's row stride apart (one page
// piece of a paged cache).
struct RowRun {
  const void* rows;
  int count;
};

// The rows after a direct kernel call's own: `n` runs, in order (none: a
// sequence's last keys), or, with runs null, in memory after (dense K/V).
//
// A call that spans page pieces (FewRowKernels::span_rows) has only its
// first `in_place` rows at its row pointer; its others are the first rows
// of the runs, in order, and the runs' rows after those follow its last.
// 0: all of a call's rows are at its pointer.
//
// by_hardware: dense rows that the one-row loops (x86::CallStreams) leave
// to the CPU's hardware prefetchers, prefetching none themselves, where
// the CPU's row says so (StreamParams::dense_by_hardware).
//
// one_stream: paged rows a memory page apart or more (a pool [pages, P,
// Hkv, D] of many heads), which the one-row loops read as one stream, not
// in halves or quarters (x86::CallStreams): each row is a memory page of
// its own, so every stream's prefetches keep as many pages in flight, and
// four of them more than the core serves. Zen 4 VM, attnrt-ab S5 (B4 H32
// M1 N4096 D128) in such pools of 16 keys, 10 pairs: one thread bf16
// 1.33x, int8 codes 1.48x, fp32 1.03; two threads 1.31x, 1.43x. Head-major
// pools read as one stream ran at 0.93-0.97 and dense rows 8 KiB apart
// (bf16) at 0.84: neither takes it (the hardware follows a constant stride).
//
// down: fp32 rows a memory page apart or more that the x86 key-after-key
// Q·Kᵀ loop (x86/few_rows.hpp), the avx512 one-row P·V and the avx512 Q·Kᵀ
// tiles read from their last line to their first, where the CPU's row says
// so (StreamParams::apart_rows_down; kernels/tuning.hpp says why). A
// request: the other loops (avx2's P·V, the avx512 P·V tiles, the generic
// and SVE sets) read such rows up. Those that honour it pick their loop
// with read_as_asked (below), but for the avx512 Q·Kᵀ tiles (qk_direct.cpp).
struct RowsAfter {
  const RowRun* runs = nullptr;
  int n = 0;
  int in_place = 0;
  bool by_hardware = false;
  bool one_stream = false;
  bool down = false;
  bool in_memory() const { return runs == nullptr; }
  static RowsAfter none() {
    static constexpr RowRun kNone{nullptr, 0};
    return {&kNone, 0};
  }
  static RowsAfter hardware() { return {nullptr, 0, 0, true}; }
};

// f.template operator()<Down>() with Down = next.down, for loops over rows
// of T that read down where asked (RowsAfter::down): fp32 rows only, the
// only ones marked so, so no other type instantiates a Down loop.
template <class T, class F>
[[gnu::always_inline]] inline void read_as_asked(RowsAfter next, F&& f) {
  if constexpr (sizeof(T) == sizeof(float))
    if (next.down) return f.template operator()<true>();
  f.template operator()<false>();
}

// Row i of the call's n rows, past them in `next`'s runs; past those, the
// call's first row again (in L1 by then: a prefetch of it costs no traffic,
// and the caller's loop stays branch-free).
template <class T>
inline const T* row_ahead(const T* rows, std::int64_t ld, int n, RowsAfter next, int i) {
  if (i < n || next.in_memory()) return rows + i * ld;
  i -= n;
  for (int r = 0; r < next.n; ++r) {
    if (i < next.runs[r].count) return static_cast<const T*>(next.runs[r].rows) + i * ld;
    i -= next.runs[r].count;
  }
  return rows;
}

// The rows of a call of `keys` rows at its pointer: all of them, or where
// it spans pieces, the first next.in_place.
inline int rows_in_place(int keys, RowsAfter next) { return next.in_place > 0 ? next.in_place : keys; }

// Row after row from row `from` of a call (n rows at `rows`, ld apart, then
// next's runs, as row_ahead counts them); past the runs the call's first
// row again. A step is an add and a count, so a kernel walks pages of one
// key as it walks one long run, and a call may span many.
template <class T>
class RowWalk {
 public:
  RowWalk(const T* rows, std::int64_t ld, int n, RowsAfter next, int from = 0)
      : row_(rows), first_(rows), ld_(ld), left_(next.in_memory() ? kEndless : n), run_(next.runs),
        end_(next.runs + next.n), in_memory_(next.in_memory()) {
    if (left_ <= 0) next_run();
    skip(from);
  }
  const T* row() const { return row_; }
  std::int64_t ld() const { return ld_; }
  // Rows from row() on, ld() apart, before the walk moves to another run: a
  // kernel's inner loop runs over them with plain adds and no count.
  int rows_left() const { return left_; }
  void step() {
    row_ += ld_;
    if (--left_ == 0) next_run();
  }
  void skip(int n) {  // n rows on, across runs
    for (; n >= left_; n -= left_, next_run()) row_ += left_ * ld_;
    row_ += n * ld_;
    left_ -= n;
  }

 private:
  static constexpr int kEndless = 1 << 30;  // a count that rows in memory refill, never run out of
  void next_run() {
    if (in_memory_) {
      left_ = kEndless;
      return;
    }
    while (run_ < end_ && run_->count <= 0) ++run_;
    if (run_ < end_) {
      row_ = static_cast<const T*>(run_->rows);
      left_ = run_->count;
      ++run_;
    } else {
      row_ = first_;
      ld_ = 0;
      left_ = kEndless;
    }
  }
  const T* row_;
  const T* first_;
  std::int64_t ld_;
  int left_;
  const RowRun* run_;
  const RowRun* end_;
  bool in_memory_;
};

// Row i, but past the call's rows (when they do not follow in memory) the
// call's first row again, whatever `next` lists: the avx2 set's P·V tiles,
// whose prefetches never left a page.
template <class T>
inline const T* row_ahead_in_page(const T* rows, std::int64_t ld, int n, RowsAfter next, int i) {
  return i < n || next.in_memory() ? rows + i * ld : rows;
}

}  // namespace attnrt::kernels
