#include "scheduler/partition.hpp"

#include <algorithm>

namespace attnrt::scheduler {

RowPartition::RowPartition(const ProblemShape& s, int workers, int row_quantum, int max_rows)
    : s_(s) {
  // Aim for at least 4 items per worker so dynamic scheduling can even out
  // uneven (e.g. causal) items, but never below one quantum.
  const std::int64_t heads = std::max<std::int64_t>(1, s.batch * s.heads);
  const std::int64_t want_blocks = (4 * static_cast<std::int64_t>(workers) + heads - 1) / heads;
  std::int64_t rows = (s.rows + want_blocks - 1) / want_blocks;
  rows = (rows + row_quantum - 1) / row_quantum * row_quantum;
  rows = std::clamp<std::int64_t>(rows, row_quantum, std::max(row_quantum, max_rows));
  rows_per_item_ = static_cast<int>(rows);
  blocks_per_head_ = (s.rows + rows - 1) / rows;
}

WorkItem RowPartition::item(std::int64_t i) const {
  const std::int64_t block = i % blocks_per_head_;
  const std::int64_t bh = i / blocks_per_head_;
  WorkItem w;
  w.batch = static_cast<int>(bh / s_.heads);
  w.head = static_cast<int>(bh % s_.heads);
  w.row_begin = static_cast<int>(block * rows_per_item_);
  w.row_end = static_cast<int>(std::min<std::int64_t>(s_.rows, w.row_begin + rows_per_item_));
  w.key_begin = 0;
  w.key_end = static_cast<int>(s_.keys);
  return w;
}

}  // namespace attnrt::scheduler
