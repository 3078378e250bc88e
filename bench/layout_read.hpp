// attnrt-bench --page-size's read ceiling: one core reading the bytes of K
// and V a decode call reads, in the order it reads them, with no attention
// around it. A shuffled page pool scatters each head's keys over pieces of
// page_size rows; what that layout costs a plain read on this machine is
// what bounds the paged call's ratio to the contiguous one from above.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "bench/paged.hpp"
#include "bench/timing.hpp"

namespace attnrt::bench {

struct LayoutReads {
  Timing paged;       // head by head, each head's pieces in table order, K then V
  Timing contiguous;  // the dense K and V, head by head, K then V: the faster way (below)
  bool by_hardware;   // contiguous read faster without prefetches than with the pieces' ones
  Timing page_major;  // per sequence, each page whole (all heads' pieces), K then V
  double bytes;       // read by each pass
};

// Times the passes in turns, `reps` each, prefetching into L2 ahead of the
// reads as the kernels do (the contiguous one also without: the faster
// counts). A head's piece of a page is its rows
// where they follow each other, else each row. None where a piece is not
// whole 128-byte blocks (the read loop's unit) or the sequences end inside
// a page.
std::optional<LayoutReads> time_layout_reads(const Pool& k, const Pool& v, const Tensor& dense_k,
                                             const Tensor& dense_v, const std::vector<std::int32_t>& table,
                                             std::int64_t slots, std::int64_t n, int reps);

}  // namespace attnrt::bench
