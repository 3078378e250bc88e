#include "bench/layout_read.hpp"

#include <cstddef>

#include "bench/peak.hpp"

namespace attnrt::bench {
namespace {

// How far ahead of the block being read, in the order of reading, the
// prefetches run: as many bytes as the x86 few-row kernels prefetch rows
// ahead at D128 (16 fp32 rows, 32 bf16, 64 int8). A steady stream of them
// matters: on Zen 4, shuffled 4 KiB pieces read at 0.82-0.96 of a
// contiguous read this way, 0.57-0.75 with each piece prefetched whole a
// few pieces ahead, 0.39 with no prefetch (attnrt-bench S5 bf16).
constexpr std::int64_t kAheadBytes = 8192;

const float* at(const void* base, std::int64_t bytes) {
  return reinterpret_cast<const float*>(static_cast<const char*>(base) + bytes);
}

// Reads `count` pieces of `bytes` each, piece(i) the i-th, a 128-byte
// block at a time, prefetching into L2 the block kAheadBytes on.
template <class F>
void read_pieces(std::int64_t count, std::int64_t bytes, F&& piece) {
  constexpr std::int64_t block = kReadBlockFloats * sizeof(float);
  ReadSum sum;
  // The position kAheadBytes on: piece j, offset `off` (bytes is whole blocks).
  std::int64_t j = kAheadBytes / bytes, off = kAheadBytes % bytes / block * block;
  const char* ahead = j < count ? reinterpret_cast<const char*>(piece(j)) : nullptr;
  for (std::int64_t i = 0; i < count; ++i) {
    const float* p = piece(i);
    for (std::int64_t b = 0; b < bytes; b += block) {
      if (ahead)
        for (std::int64_t l = 0; l < block; l += 64) __builtin_prefetch(ahead + off + l, 0, 2);
      if ((off += block) == bytes) {
        off = 0;
        ahead = ++j < count ? reinterpret_cast<const char*>(piece(j)) : nullptr;
      }
      sum.add(p + b / sizeof(float), kReadBlockFloats);
    }
  }
  sum.keep();
}

}  // namespace

std::optional<LayoutReads> time_layout_reads(const Pool& k, const Pool& v, const Tensor& dense_k,
                                             const Tensor& dense_v, const std::vector<std::int32_t>& table,
                                             std::int64_t slots, std::int64_t n, int reps) {
  const std::int64_t heads = k.view.shape[1], ps = k.view.shape[2];
  const std::int64_t batch = static_cast<std::int64_t>(table.size()) / slots;
  const std::int64_t row = k.view.shape[3] * static_cast<std::int64_t>(dtype_bytes(k.view.dtype));
  const std::int64_t esz = static_cast<std::int64_t>(dtype_bytes(k.view.dtype));
  // A head's keys in a page: one piece of ps rows where they follow each
  // other ([pages, Hkv, P, D]), else ps pieces of a row ([pages, P, Hkv, D]).
  const bool whole = k.view.stride[2] * esz == row;
  const std::int64_t block = kReadBlockFloats * sizeof(float), piece = whole ? ps * row : row;
  const std::int64_t per_page = whole ? 1 : ps, page = heads * ps * row;
  // (Whole pages and dense rows alike: n a multiple of the page size.)
  if (piece % block != 0 || n % ps != 0 || dense_k.stride[2] * esz != row || v.view.shape[3] != k.view.shape[3] ||
      v.view.stride[2] != k.view.stride[2])
    return std::nullopt;
  const auto paged = [&] {
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t h = 0; h < heads; ++h)
        for (const Pool* pool : {&k, &v})
          read_pieces(slots * per_page, piece, [&](std::int64_t s) {
            const std::int64_t key = s % per_page;  // within the page, where a piece is a row
            return at(pool->buffer.data(), table[b * slots + s / per_page] * page +
                                               (h * pool->view.stride[1] + key * pool->view.stride[2]) * esz);
          });
  };
  // Each dense head's rows as one piece, prefetched as the pieces are, or
  // left to the hardware prefetchers (`prefetched` false): the ceiling is
  // whichever streams faster on this CPU, as the kernels take either
  // (StreamParams::dense_by_hardware). Prefetched pieces against a
  // hardware-only read flattered the pool on CPUs whose own prefetchers
  // stream slower (Sapphire Rapids-class: pieces at 0.98-1.32 of it).
  const auto contiguous = [&](bool prefetched) {
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t h = 0; h < heads; ++h)
        for (const Tensor* t : {&dense_k, &dense_v}) {
          const float* head = at(t->data, (b * t->stride[0] + h * t->stride[1]) * esz);
          if (prefetched) read_pieces(1, n * row, [&](std::int64_t) { return head; });
          else read_sum(head, static_cast<std::size_t>(n * row) / sizeof(float));
        }
  };
  const auto page_major = [&] {
    for (std::int64_t b = 0; b < batch; ++b)
      for (const Pool* pool : {&k, &v})
        read_pieces(slots, page, [&](std::int64_t s) { return at(pool->buffer.data(), table[b * slots + s] * page); });
  };
  std::vector<double> t[4];
  for (int r = 0; r < reps; ++r) {
    t[0].push_back(seconds_of(paged));
    t[1].push_back(seconds_of([&] { contiguous(false); }));
    t[2].push_back(seconds_of([&] { contiguous(true); }));
    t[3].push_back(seconds_of(page_major));
  }
  const Timing by_hardware = summarize(t[1]), prefetched = summarize(t[2]);
  const bool hardware_faster = by_hardware.median < prefetched.median;
  return LayoutReads{summarize(t[0]), hardware_faster ? by_hardware : prefetched, hardware_faster, summarize(t[3]),
                     2.0 * static_cast<double>(batch * heads * n * row)};
}

}  // namespace attnrt::bench
