// What the scheduler hands out: slices of (batch, query head, query rows,
// keys). The scheduler knows the shape and which keys each query row may see
// (its cost), never what is computed.
#pragma once

#include <cstdint>

namespace attnrt::scheduler {

struct ProblemShape {
  std::int64_t batch, heads, kv_heads;  // heads are query heads; kv_heads divides heads
  std::int64_t rows, keys;              // M and N
  const std::int64_t* kv_lens = nullptr;  // keys of each batch, each <= keys; null: all `keys`
  // Query row i of a batch with n keys sees keys [i + diag - left, i + diag + right]
  // within [0, n), where diag = n - rows (bottom_right) or 0; left or right < 0
  // leaves that side unbounded. Causal is right = 0.
  std::int64_t left = -1, right = -1;
  bool bottom_right = true;

  std::int64_t keys_of(std::int64_t b) const { return kv_lens ? kv_lens[b] : keys; }
  std::int64_t diag_of(std::int64_t b) const { return bottom_right ? keys_of(b) - rows : 0; }
};

struct WorkItem {
  int batch;
  int head, heads;         // query heads [head, head + heads): one, or a whole GQA group when stacked
  int row_begin, row_end;  // query rows
  int key_begin, key_end;  // keys: the whole batch's [0, n) unless this is a split-KV piece
  int piece;               // -1: complete rows, written to O; else the slot of a split-KV partial
  int line;                // for a piece: the id of its split line (see Partition)
};

}  // namespace attnrt::scheduler
