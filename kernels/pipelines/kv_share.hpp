// Packed K or V panels that other cores may have packed: the pipelines' view
// of per-domain K/V sharing. For prefill every row block of a head packs the
// same key blocks (first_block's grid), so the cores of a CMG that work on
// one head at once can pack each block once into the domain's L2 and all
// read it. Kernels know nothing of threads: the runtime implements this over
// shared slots (scheduler/shared_slots.hpp) and hands it over in the
// Workspace; without one (null) every block is packed privately.
//
// A block is named by its side, first key and key count within the head (or
// KV head) the handle was made for. Packing is deterministic, so the bytes,
// and the results, are the same whoever packs.
#pragma once

#include <cstdint>

#include "kernels/pipelines/kv_runs.hpp"

namespace attnrt::kernels {

struct KvLease {
  std::byte* panels = nullptr;  // null: not shared; pack into your own panels
  bool pack = false;            // the holder packs them, then publish()es
  int slot = -1;
};

class KvShare {
 public:
  // Panels of `side` for keys [key0, key0 + keys): packed (waits for a
  // packer already at work), to pack, or none.
  virtual KvLease acquire(KvSide side, std::int64_t key0, int keys) = 0;
  virtual void publish(const KvLease& lease) = 0;  // after packing
  virtual void release(const KvLease& lease) = 0;  // done reading (any lease)

 protected:
  ~KvShare() = default;
};

}  // namespace attnrt::kernels
