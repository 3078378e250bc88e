#include "scheduler/shared_slots.hpp"

#include <algorithm>
#include <thread>

#include "scheduler/cpu_relax.hpp"

namespace attnrt::scheduler {
namespace {

// Slot states (the low bits of Slot::word; readers count in the rest).
constexpr std::uint32_t kFree = 0;     // unused this call
constexpr std::uint32_t kClaimed = 1;  // its filler is writing the key
constexpr std::uint32_t kFilling = 2;  // key set, bytes being written
constexpr std::uint32_t kReady = 3;    // filled; free to refill when no reader holds it
constexpr std::uint32_t kStateMask = 3;
constexpr std::uint32_t kReader = 4;

constexpr std::size_t kSlotAlign = 256;  // A64FX's cache line, a multiple of everyone else's

std::uint64_t hash(const SlotKey& k) {
  std::uint64_t h = 0x9e3779b97f4a7c15ull;
  for (std::int64_t x : {k.a, k.b, k.c, k.d}) h = (h ^ static_cast<std::uint64_t>(x)) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 29);
}

}  // namespace

SharedSlots::SharedSlots(void* memory, std::size_t bytes, int max_slots)
    : memory_(static_cast<std::byte*>(memory)), bytes_(bytes), max_slots_(max_slots),
      slot_(std::make_unique<Slot[]>(max_slots)) {}

bool SharedSlots::begin_call(std::size_t slot_bytes, int min_slots) {
  if (slot_bytes == 0 || owned_.exchange(true, std::memory_order_acquire)) return false;
  // Slots start an odd number of lines apart, so the same offset in each
  // falls into different cache sets; unless that costs the last slot (four
  // 256 KiB blocks in the development VM's 1 MiB).
  const std::size_t lines = (slot_bytes + kSlotAlign - 1) / kSlotAlign;
  stride_ = (lines | 1) * kSlotAlign;
  if (bytes_ / stride_ < static_cast<std::size_t>(min_slots)) stride_ = lines * kSlotAlign;
  slots_ = static_cast<int>(std::min<std::size_t>(max_slots_, bytes_ / stride_));
  if (slots_ < min_slots) {
    slots_ = 0;
    owned_.store(false, std::memory_order_release);
    return false;
  }
  // The previous call's keys mean nothing to this one. The executor's
  // hand-off of the parts orders these stores before any worker's use.
  for (int i = 0; i < slots_; ++i) {
    slot_[i].word.store(kFree, std::memory_order_relaxed);
    slot_[i].tag.store(0, std::memory_order_relaxed);
  }
  return true;
}

void SharedSlots::end_call() {
  slots_ = 0;
  owned_.store(false, std::memory_order_release);
}

SlotLease SharedSlots::acquire(const SlotKey& key) {
  const std::uint64_t tag = hash(key);
  for (int i = 0; i < slots_; ++i) {  // a slot with the key, filled or being filled
    Slot& s = slot_[i];
    if (s.tag.load(std::memory_order_relaxed) != tag) continue;
    std::uint32_t w = s.word.load(std::memory_order_relaxed);
    bool pinned = false;
    while ((w & kStateMask) >= kFilling && !pinned)
      pinned = s.word.compare_exchange_weak(w, w + kReader, std::memory_order_acquire, std::memory_order_relaxed);
    if (!pinned) continue;
    if (!(s.key == key)) {  // refilled since the tag was read
      s.word.fetch_sub(kReader, std::memory_order_release);
      continue;
    }
    // Its filler is packing now and never waits while it does.
    for (int spins = 0; (s.word.load(std::memory_order_acquire) & kStateMask) != kReady; ++spins)
      spins < (1 << 14) ? cpu_relax() : std::this_thread::yield();
    reads_.fetch_add(1, std::memory_order_relaxed);
    return {memory_ + i * stride_, false, i};
  }
  const std::uint32_t start = cursor_.fetch_add(1, std::memory_order_relaxed);
  for (int j = 0; j < slots_; ++j) {  // a free slot, or a filled one nobody reads
    const int i = static_cast<int>((start + j) % static_cast<std::uint32_t>(slots_));
    Slot& s = slot_[i];
    std::uint32_t w = s.word.load(std::memory_order_relaxed);
    if (w != kFree && w != kReady) continue;
    if (!s.word.compare_exchange_strong(w, kClaimed, std::memory_order_acquire, std::memory_order_relaxed)) continue;
    s.key = key;
    s.tag.store(tag, std::memory_order_relaxed);
    s.word.store(kFilling + kReader, std::memory_order_release);  // the filler is its first reader
    return {memory_ + i * stride_, true, i};
  }
  return {};
}

void SharedSlots::publish(const SlotLease& lease) {
  slot_[lease.slot].word.fetch_add(kReady - kFilling, std::memory_order_release);
}

void SharedSlots::release(const SlotLease& lease) {
  if (lease.slot >= 0) slot_[lease.slot].word.fetch_sub(kReader, std::memory_order_release);
}

}  // namespace attnrt::scheduler
