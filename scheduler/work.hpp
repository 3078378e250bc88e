// Work items: what the scheduler hands out. A (batch, head) pair and a slice
// of its query rows and keys; the scheduler does not know what is computed.
#pragma once

#include <cstdint>

namespace attnrt::scheduler {

struct ProblemShape {
  std::int64_t batch, heads, kv_heads;  // heads are query heads; kv_heads divides heads
  std::int64_t rows, keys;              // M and N
};

struct WorkItem {
  int batch, head;
  int row_begin, row_end;
  int key_begin, key_end;
};

}  // namespace attnrt::scheduler
