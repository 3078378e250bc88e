// Splitting a problem into work items: a pure function of the shape and the
// machine, computed arithmetically so the hot path allocates nothing.
#pragma once

#include <cstdint>

#include "scheduler/work.hpp"

namespace attnrt::scheduler {

// (batch, head, row block) items: row blocks are multiples of `row_quantum`,
// small enough that every worker gets several items, large enough to reuse
// packed K/V panels (at most `max_rows`).
class RowPartition {
 public:
  RowPartition(const ProblemShape& s, int workers, int row_quantum, int max_rows);
  std::int64_t size() const { return s_.batch * s_.heads * blocks_per_head_; }
  WorkItem item(std::int64_t i) const;
  int rows_per_item() const { return rows_per_item_; }

 private:
  ProblemShape s_;
  int rows_per_item_;
  std::int64_t blocks_per_head_;
};

}  // namespace attnrt::scheduler
