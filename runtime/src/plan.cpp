#include "runtime/src/plan.hpp"

#include <algorithm>

#include "runtime/src/error.hpp"

namespace attnrt::rt {
namespace {

using kernels::round_up;

kernels::Blocking blocking_for(const kernels::KernelSet& ks, int d, int dv) {
  // Rows: enough strips to amortize packing K/V blocks. Keys: a K and a V
  // block together stay within ~256 KiB, a share of a core's L2.
  const int mb = round_up(128, ks.mr);
  const int step = std::max(ks.nr, ks.k_pack);
  const std::size_t per_key = (static_cast<std::size_t>(d) + dv) * ks.packed_elem;
  int nb = static_cast<int>((256 * 1024) / per_key) / step * step;
  nb = std::clamp(nb, step, 512 / step * step);
  return {mb, nb};
}

}  // namespace

Plan choose_plan(const kernels::KernelSet& ks, int d, int dv, std::int64_t /*m*/,
                 std::int64_t /*n*/, attnrt_strategy requested) {
  kernels::Strategy s = kernels::Strategy::online;
  if (requested != ATTNRT_STRATEGY_AUTO) s = static_cast<kernels::Strategy>(requested);
  if (!kernels::has_pipeline(s))
    fail(ATTNRT_UNSUPPORTED, "strategy ", kernels::strategy_name(s),
         " is not available in this build (available: online)");
  return {s, blocking_for(ks, d, dv)};
}

}  // namespace attnrt::rt
