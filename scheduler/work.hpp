// What the scheduler hands out: slices of (batch, query head, query rows,
// keys). The scheduler knows the shape and which keys each query row may see
// (its cost), never what is computed.
#pragma once

#include <cstdint>

#include "kernels/band.hpp"

namespace attnrt::scheduler {

struct ProblemShape {
  std::int64_t batch, heads, kv_heads;  // heads are query heads; kv_heads divides heads
  std::int64_t rows, keys;              // M and N (with cu_rows: the most of any batch)
  const std::int64_t* kv_lens = nullptr;  // keys of each batch, each <= keys; null: all `keys`
  // Packed sequences of different lengths (varlen): batch b is a sequence
  // with rows [cu_rows[b], cu_rows[b + 1]) and keys [cu_keys[b], cu_keys[b + 1]);
  // both null for a dense batch.
  const std::int32_t* cu_rows = nullptr;
  const std::int32_t* cu_keys = nullptr;
  // Query row i of batch b sees keys band.key_lo/key_hi(i, diag_of(b), keys_of(b)).
  kernels::Band band;
  bool bottom_right = true;

  std::int64_t rows_of(std::int64_t b) const { return cu_rows ? cu_rows[b + 1] - cu_rows[b] : rows; }
  std::int64_t keys_of(std::int64_t b) const {
    return cu_keys ? cu_keys[b + 1] - cu_keys[b] : kv_lens ? kv_lens[b] : keys;
  }
  std::int64_t diag_of(std::int64_t b) const { return kernels::band_diag(bottom_right, rows_of(b), keys_of(b)); }
};

struct WorkItem {
  int batch;               // or the sequence of a varlen call
  int head, heads;         // query heads [head, head + heads): one, or a whole GQA group when stacked
  int row_begin, row_end;  // query rows (of the sequence, in a varlen call)
  int key_begin, key_end;  // keys: the whole batch's [0, n) unless this is a split-KV piece
  int piece;               // -1: complete rows, written to O; else the slot of a split-KV partial
  int line;                // for a piece: the id of its split line (see Partition)
};

}  // namespace attnrt::scheduler
