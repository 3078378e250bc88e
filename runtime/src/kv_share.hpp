// K and V packed once per domain (issue 19 part 3): for prefill, the workers
// of a domain that run parts of one (batch, KV head) group at once read the
// same key blocks, so the first to need a block packs it into the domain's
// shared slots (scheduler/shared_slots.hpp, in the arena, sized from the
// domain's L2) and the others read it there instead of packing it again.
// The pipelines see it as kernels::KvShare; direct (few-row) blocks read K
// and V in place and never ask.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/pipelines/kv_share.hpp"
#include "scheduler/partition.hpp"
#include "scheduler/shared_slots.hpp"

namespace attnrt::rt {

enum class KvShareMode {
  automatic,  // where a domain's cores share an L2 and its parts split a (batch, KV head) group
  off,        // never: every row block packs its own (for tests and comparisons)
  always,     // in every domain of several workers (tests: sharing where nothing is shared)
};

// The domains that share for one call, holding their slots until it ends.
// A domain shares nothing when it has one worker, when (automatic) its cores
// have private L2s (x86: a panel another core packed is read from its L2
// across the chip, about what packing it again costs; on the 2-core Zen 5 VM
// GQA 8:1 M=N=2048 D128 measured 0.99-1.00x, quartiles +-4%) or its parts
// never run two at once on one group, when its slots cannot hold two K and
// two V blocks, or when a concurrent call holds them.
class CallKvShare {
 public:
  CallKvShare(const std::vector<std::unique_ptr<scheduler::SharedSlots>>& slots, const scheduler::Partition& part,
              const scheduler::Placement& placement, std::size_t panel_bytes, KvShareMode mode);
  ~CallKvShare();
  CallKvShare(const CallKvShare&) = delete;
  CallKvShare& operator=(const CallKvShare&) = delete;

  // Domains sharing this call (ATTNRT_VERBOSE).
  int domains_sharing() const { return __builtin_popcountll(taken_); }
  scheduler::SharedSlots* slots(int domain) const {
    return domain < kDomains && (taken_ >> domain & 1) ? slots_[domain].get() : nullptr;
  }

 private:
  static constexpr int kDomains = 64;  // the first 64 domains of a machine share (ATTNRT_DOMAINS' limit too)
  const std::vector<std::unique_ptr<scheduler::SharedSlots>>& slots_;
  std::uint64_t taken_ = 0;  // bit d: domain d's slots are this call's (no allocation per call)
};

// One work item's view: the key blocks of its (batch, KV head).
class ItemKvShare final : public kernels::KvShare {
 public:
  ItemKvShare(scheduler::SharedSlots* slots, std::int64_t batch, std::int64_t kv_head)
      : slots_(slots), batch_(batch), kv_head_(kv_head) {}
  // What the pipeline is handed: this, or null when the domain does not share.
  kernels::KvShare* handle() { return slots_ ? this : nullptr; }

  kernels::KvLease acquire(kernels::KvSide side, std::int64_t key0, int keys) override;
  void publish(const kernels::KvLease& lease) override;
  void release(const kernels::KvLease& lease) override;

 private:
  scheduler::SharedSlots* slots_;
  std::int64_t batch_, kv_head_;
};

}  // namespace attnrt::rt
