#include "runtime/src/kv_share.hpp"

#include <algorithm>

namespace attnrt::rt {
namespace {

// Two blocks of K and two of V: one pair read while the next is packed.
constexpr int kMinSlots = 4;

scheduler::SlotLease slot_lease(const kernels::KvLease& l) { return {l.panels, l.pack, l.slot}; }

}  // namespace

CallKvShare::CallKvShare(const std::vector<std::unique_ptr<scheduler::SharedSlots>>& slots,
                         const scheduler::Partition& part, const scheduler::Placement& placement,
                         std::size_t panel_bytes, KvShareMode mode)
    : slots_(slots) {
  if (mode == KvShareMode::off) return;
  const int per_worker = part.parts_per_worker();
  for (int d = 0; d < std::min<int>(kDomains, static_cast<int>(slots.size())); ++d) {
    if (!slots[d]) continue;  // a domain of one worker
    const int first = placement.first_worker(d) * per_worker;
    const int end = std::min(part.parts(), (placement.first_worker(d) + placement.workers_in(d)) * per_worker);
    const bool shared_l2 = placement.machine().domains()[d].cores_per_l2 > 1;  // an A64FX CMG
    if (end - first < 2 || (mode == KvShareMode::automatic && !(shared_l2 && part.splits_group(first, end))))
      continue;
    if (slots[d]->begin_call(panel_bytes, kMinSlots)) taken_ |= std::uint64_t{1} << d;
  }
}

CallKvShare::~CallKvShare() {
  for (int d = 0; d < kDomains; ++d)
    if (taken_ >> d & 1) slots_[d]->end_call();
}

kernels::KvLease ItemKvShare::acquire(kernels::KvSide side, std::int64_t key0, int keys) {
  const scheduler::SlotLease l =
      slots_->acquire({batch_, kv_head_, side == kernels::KvSide::k ? 0 : 1, key0 << 32 | keys});
  return {l.data, l.fill, l.slot};
}

void ItemKvShare::publish(const kernels::KvLease& lease) { slots_->publish(slot_lease(lease)); }

void ItemKvShare::release(const kernels::KvLease& lease) { slots_->release(slot_lease(lease)); }

}  // namespace attnrt::rt
