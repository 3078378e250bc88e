// Buffers that one worker of a domain fills and the domain's other workers
// read, in a region of the domain's memory (the arena's shared slice): the
// scheduler's half of sharing packed K/V panels per CMG. It knows nothing of
// what the buffers hold; a buffer is named by an opaque SlotKey.
//
// One call at a time owns a domain's slots (begin_call); a concurrent call
// that finds them taken shares nothing and its workers fill private buffers
// as before, so results never depend on who owns what. Within a call:
//   acquire(key): a slot holding key, already filled or being filled (the
//     caller then waits for it, spinning), or a free slot the caller must fill
//     and publish, or none (every slot is in use: the caller fills a private
//     buffer). Whoever fills, the bytes are the same.
//   release: a reader count per slot, so a slot is refilled only after all
//     its readers are done with it.
// A filler never waits while it holds a slot, so no wait can deadlock. No
// lock, allocation or system call on the way: atomics and a bounded spin
// (yield only after long spins, i.e. an oversubscribed machine).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace attnrt::scheduler {

struct SlotKey {
  std::int64_t a, b, c, d;
  bool operator==(const SlotKey&) const = default;
};

struct SlotLease {
  std::byte* data = nullptr;  // null: no slot, the caller uses a private buffer
  bool fill = false;          // the caller fills data, then publish()es it
  int slot = -1;
};

class SharedSlots {
 public:
  // Slots are carved from `bytes` at `memory` (which outlives this), at most
  // max_slots of them.
  SharedSlots(void* memory, std::size_t bytes, int max_slots = 64);

  // Takes the slots for one call, cut into buffers of slot_bytes; false (and
  // nothing taken) when another call has them or fewer than min_slots fit.
  bool begin_call(std::size_t slot_bytes, int min_slots);
  // Gives them back; every lease of the call must have been released.
  void end_call();
  int slots() const { return slots_; }
  std::size_t bytes() const { return bytes_; }
  // Leases served with a slot someone else filled, over all calls (tests).
  std::uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }

  SlotLease acquire(const SlotKey& key);
  void publish(const SlotLease& lease);
  void release(const SlotLease& lease);

 private:
  struct alignas(256) Slot {  // a cache line of its own (256 B on A64FX)
    std::atomic<std::uint32_t> word{0};  // state (low 2 bits) | readers << 2
    std::atomic<std::uint64_t> tag{0};   // hash of key, read before pinning
    SlotKey key{};                       // written only while claimed
  };
  std::byte* memory_;
  std::size_t bytes_;
  int max_slots_;
  std::unique_ptr<Slot[]> slot_;
  std::size_t stride_ = 0;
  int slots_ = 0;
  std::atomic<bool> owned_{false};
  std::atomic<std::uint32_t> cursor_{0};  // where the next claim starts looking
  std::atomic<std::uint64_t> reads_{0};
};

}  // namespace attnrt::scheduler
