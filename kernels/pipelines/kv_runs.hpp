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
//
// Direct kernels that walk their rows across pieces (FewRowKernels::
// span_rows) get calls of many pieces instead (KvRunOptions::span): a call
// and a stage per piece cost pages of one key more than the keys' reads.
//
// Quantized K/V (HeadProblem::kv_format) are dequantized into the stage a
// chunk of keys at a time (about kQuantStageBytes, a multiple of the
// quantum), and every run is the stage: an L1-sized conversion ahead of
// the unchanged packers and direct kernels, not a pass over the cache and
// not a conversion inside their FMA loops.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/pipelines/pages_ahead.hpp"
#include "kernels/problem.hpp"

namespace attnrt::kernels {

// Keys [c, c + count) of a range (relative to its first key) at rows, ld
// elements apart; the keys after them continue in next's runs (the next
// pages' rows, for the direct kernels' prefetches), or in memory after.
struct KvRun {
  int c, count;
  const std::byte* rows;
  std::int64_t ld;
  RowsAfter next = {};
};

// Target bytes of one chunk of dequantized rows: half of a 32 KiB L1D, so
// the consumer's own operands stay there too.
inline constexpr int kQuantStageBytes = 16384;

// Rows of a dequantized chunk for consumers of `quantum`: the most that fit
// kQuantStageBytes (at least one quantum), a multiple of the quantum.
inline int quant_chunk_rows(int quantum, int d, int dv, DType t) {
  const int fit = kQuantStageBytes / (std::max(d, dv) * static_cast<int>(dtype_size(t)));
  return std::max(quantum, fit / quantum * quantum);
}

// Bytes a stage needs for quanta of up to `quantum` rows of K (d) or V (dv),
// and for a dequantized chunk of any consumer whose quantum is at most it.
inline std::size_t kv_stage_bytes(int quantum, int d, int dv, DType t) {
  const int fit = std::max(1, kQuantStageBytes / (std::max(d, dv) * static_cast<int>(dtype_size(t))));
  return static_cast<std::size_t>(std::max(quantum, fit)) * std::max(d, dv) * dtype_size(t);
}

// How for_each_kv_run hands rows over.
struct KvRunOptions {
  // Quantized rows as their 1-byte codes, in place (for kernels that widen
  // them: FewRowKernels::codes), not dequantized.
  bool codes = false;
  // A paged run's next pages listed in KvRun::next (for direct kernels on
  // CPUs that prefetch across page ends: StreamParams::across_pages); else
  // RowsAfter::none().
  bool pages_ahead = false;
  // For CPUs whose prefetches fill L2 only (StreamParams::into_l2): pages
  // up to kHardwareOnlyBytes left to the hardware, not the next page's
  // first lines prefetched into L1 (prefetch_next_page).
  bool pages_into_l2 = false;
  // Dense rows handed as RowsAfter::hardware(), for CPUs whose hardware
  // prefetchers stream them faster alone (StreamParams::dense_by_hardware),
  // where they are less than a memory page apart.
  bool dense_by_hardware = false;
  // fp32 rows a memory page apart or more handed as RowsAfter::down, for
  // CPUs whose row says so (StreamParams::apart_rows_down).
  bool apart_rows_down = false;
  // The consumer's kernels read on across page pieces (FewRowKernels::
  // span_rows): paged rows come as calls of up to PagesAhead::kSpanKeys
  // keys, each its first piece's rows in place and the rest listed
  // (RowsAfter::in_place), not a call per piece and a staged quantum per
  // straddled page; without pages_ahead the list ends at the call's last
  // key.
  bool span = false;
};

// Calls f(KvRun) over keys first + [0, count) of side's rows, in order.
template <class F>
void for_each_kv_run(const HeadProblem& p, KvSide side, std::int64_t first, int count, int quantum,
                     std::byte* stage, F&& f, KvRunOptions opt = {}) {
  if (count <= 0) return;
  const std::int64_t esz = static_cast<std::int64_t>(p.kv_elem_bytes());
  const bool k = side == KvSide::k;
  const std::byte* base = static_cast<const std::byte*>(k ? p.k : p.v);
  const std::int64_t ld = k ? p.ldk : p.ldv;
  auto row = [&](std::int64_t j) { return base + (k ? p.k_offset(j) : p.v_offset(j)) * esz; };
  if (p.kv_format != KvFormat::plain && !opt.codes) {
    const int width = k ? p.d : p.dv;
    const std::size_t row_bytes = static_cast<std::size_t>(width) * dtype_size(p.dtype);
    const float* scale = k ? p.k_scale : p.v_scale;
    const int chunk = quant_chunk_rows(quantum, p.d, p.dv, p.dtype);
    const std::int64_t ld_scale = k ? p.ld_k_scale : p.ld_v_scale;
    for (int c = 0; c < count; c += chunk) {
      const int n = std::min(chunk, count - c);
      for (int i = 0; i < n;) {  // one call per piece inside a page
        const std::int64_t j = first + c + i;
        const int rows = p.pages ? std::min(n - i, p.page_size - static_cast<int>(j % p.page_size)) : n - i;
        dequant_rows(p.kv_format, reinterpret_cast<const std::uint8_t*>(row(j)), ld, rows, width,
                     scale + (k ? p.k_scale_offset(j) : p.v_scale_offset(j)), ld_scale, stage + i * row_bytes,
                     width, p.dtype);
        i += rows;
      }
      // The next chunk's codes requested now, so they stream in while the
      // consumer works on this one from L1 (else each chunk's conversion
      // waits on memory and the consumer's time adds to it).
      const int next = std::min(chunk, count - c - n);
      for (int i = 0; i < next; ++i) {
        const std::byte* r = row(first + c + n + i);
        for (int b = 0; b < width; b += 64) __builtin_prefetch(r + b, 0, 3);
      }
      f(KvRun{c, n, stage, width});
    }
    return;
  }
  const bool apart = ld * esz >= kMemoryPageBytes;
  const bool down = opt.apart_rows_down && apart && esz == sizeof(float);
  if (!p.pages) {
    // Rows a memory page apart or more (K/V [B, N, H, D] of H·D·size >= 4
    // KiB) stay with the kernels' prefetches: the hardware prefetchers
    // follow a stream only within a memory page. Zen 4 VM, S5 decode with
    // K/V [B, N, H, D] (B4 H32 M1 N4096 D128), one thread, 8 alternating
    // pairs against leaving them to the hardware: bf16 1.80x, fp32 1.36x
    // (two threads 2.26x, 1.33x); 8 KV heads (2 and 4 KiB apart) 1.03, 1.00.
    const bool by_hardware = opt.dense_by_hardware && !apart;
    f(KvRun{0, count, row(first), ld, by_hardware ? RowsAfter::hardware() : RowsAfter{.down = down}});
    return;
  }
  const int ps = p.page_size;
  const std::int64_t row_bytes = (k ? p.d : p.dv) * esz;
  const auto marked_apart = [&](RowsAfter next) {  // with RowsAfter::one_stream and down
    next.one_stream = apart;
    next.down = down;
    return next;
  };
  PagesAhead ahead(p, side);
  const std::int64_t piece_bytes = ps * row_bytes;
  const bool span = opt.span;
  const bool next_page = !opt.pages_into_l2 || piece_bytes > kHardwareOnlyBytes;
  // Key first + c sits at row `off` of page slot `slot`, both carried along
  // as c advances: no division per run.
  const std::int64_t page_bytes = (k ? p.k_page_stride : p.v_page_stride) * esz;
  std::int64_t slot = first / ps;
  int off = static_cast<int>(first % ps);
  const auto page_start = [&](std::int64_t s) { return base + p.pages[s] * page_bytes; };
  // The pieces from `keys` on past key first + c.
  const auto after = [&](int keys) {
    if (!opt.pages_ahead) return RowsAfter::none();
    std::int64_t s = slot;
    int o = off + keys;
    for (; o >= ps; o -= ps) ++s;
    return s * ps + o < p.n ? ahead.from(s, o) : RowsAfter::none();
  };
  if (span) {
    // Calls of up to kSpanKeys keys in kSpanPieces pieces, cut at the
    // quantum (at most 16 keys: every cut leaves 48 keys or more), across
    // pieces: a table lookup per page as PagesAhead's window slides, and
    // nothing per piece.
    RowRun own[PagesAhead::kPiecesAhead];  // without pages_ahead: the list cut at the call's end
    for (int c = 0; c < count;) {
      const std::int64_t fit = std::min<std::int64_t>(PagesAhead::kSpanKeys, std::int64_t{PagesAhead::kSpanPieces} * ps - off);
      const int n = std::min(static_cast<int>(fit) / quantum * quantum, count - c);
      RowsAfter list = ahead.from(slot, off);
      int covering = 1;  // pieces up to the call's last key
      for (int rows = list.runs[0].count; covering < list.n && rows < n; rows += list.runs[covering++].count)
        if (next_page)  // the pages the call enters, touched as a call per piece would
          prefetch_next_page(static_cast<const std::byte*>(list.runs[covering].rows), row_bytes);
      if (!opt.pages_ahead) {  // prefetches stop at the call's last key
        std::copy(list.runs, list.runs + covering, own);
        list = {own, covering};
      }
      // The next call's scales, a line or so a page, which no kernel
      // prefetches: else each page's is a miss the scaling of S or P waits on.
      if (p.kv_format != KvFormat::plain)
        for (std::int64_t j = first + c + n, end = std::min<std::int64_t>(p.n, j + fit); j < end;) {
          const int rows = static_cast<int>(std::min<std::int64_t>(page_rows_from(p, j), end - j));
          prefetch_page_scales<3>(p, side, j, rows);
          j += rows;
        }
      f(KvRun{c, n, static_cast<const std::byte*>(list.runs[0].rows), ld,
              marked_apart(RowsAfter{list.runs + 1, list.n - 1, list.runs[0].count})});
      for (off += n; off >= ps; off -= ps) ++slot;
      c += n;
    }
    return;
  }
  for (int c = 0; c < count;) {  // c is always a multiple of quantum
    const int in_page = ps - off;  // keys from first + c to its page's end
    const int q_end = std::min(count, c + quantum);
    int end = q_end;
    if (c + in_page >= q_end) {
      // In place up to the last quantum boundary inside the page.
      end = std::min(count, c + in_page);
      if (end < count && quantum > 1) end = end / quantum * quantum;
      if (next_page && end == c + in_page && first + end < p.n) prefetch_next_page(page_start(slot + 1), row_bytes);
      f(KvRun{c, end - c, page_start(slot) + off * ld * esz, ld, marked_apart(after(end - c))});
    } else {
      const int width = k ? p.d : p.dv;
      for (int i = c; i < q_end; ++i) std::memcpy(stage + (i - c) * row_bytes, row(first + i), row_bytes);
      // (The stage's rows are `width` apart, the pages' ld: prefetches run
      // on in place only where the strides agree.)
      f(KvRun{c, q_end - c, stage, width, width == ld ? after(q_end - c) : RowsAfter::none()});
    }
    for (off += end - c; off >= ps; off -= ps) ++slot;
    c = end;
  }
}

// x[c] *= key (j + c)'s K (V) scale, c < count: a row of S after the int8
// Q·Kᵀ, of P before the int8 P·V. Keys inside one page (or dense K/V) find
// their scales one stride apart, a loop the compiler vectorizes, so the
// keys go page piece by page piece: a lookup per page, not per key (a
// lookup per key, with its page-table division, took a fifth of int8
// decode's time: S5, Zen 5; decode calls span 64 keys of several pages).
inline void scale_by_keys(float* x, int count, const HeadProblem& p, KvSide side, std::int64_t j) {
  const std::int64_t ld = side == KvSide::k ? p.ld_k_scale : p.ld_v_scale;
  for (int c = 0; c < count;) {
    const std::int64_t key = j + c;
    const int n = p.pages ? static_cast<int>(std::min<std::int64_t>(count - c, p.page_size - key % p.page_size))
                          : count - c;
    const float* scale = page_scales(p, side, key);
    float* xc = x + c;
    if (ld == 1) {
      for (int i = 0; i < n; ++i) xc[i] *= scale[i];
    } else {
      for (int i = 0; i < n; ++i) xc[i] *= scale[i * ld];
    }
    c += n;
  }
}

}  // namespace attnrt::kernels
