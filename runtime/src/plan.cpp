#include "runtime/src/plan.hpp"

#include <algorithm>
#include <iterator>

#include "runtime/src/error.hpp"

namespace attnrt::rt {
namespace {

using kernels::round_up;
using kernels::Strategy;

// Heads are grouped for skinny and decode shapes: up to this many query rows
// per head, and no more than this many packed rows in a work item's block.
constexpr std::int64_t kGroupMaxRows = 16;
constexpr int kGroupMaxBlock = 256;

// Built-in rules, first match wins; zero sizes take the defaults below.
// They encode the design's intent until `attnrt-bench --tune` has measured
// each target (the lead adds measured rules here or in a tuning file):
// decode and skinny shapes (few rows per head, many keys) take two_pass,
// whose per-strip S row block makes the softmax exact without rescales;
// everything else takes online.
//
// Measured rules: the avx512 set (any input dtype: it computes in fp32) runs
// online fastest with K and V blocks of ~512 KiB rather than the default's
// 256 KiB: fewer per-block row max, rescale and kernel-call overheads, and
// longer P·V runs, while L2 (1.25-2 MiB per core) still holds the blocks.
// attnrt-bench --tune, one thread, Sapphire Rapids-class Xeon, five reps per
// plan: nb = 512 first at D = 128 in every run (B1 H8 M=N=2048 fp32 three
// times, +1.5-4% over nb = 256; bf16 inputs, M=N=1024, M=256 N=4096 and
// S1 M=N=512 +1-3%; causal +2-3%), nb = 1024 at D = 64 (S3 and H8 M=N=2048,
// four runs, +1-4%), nb = 256 at D = 256 (+2%) and nb = 640 at D = 96 (+4%).
// The sve512 sets take nb = 512 at D = 128 by estimate, not measurement (no
// A64FX here): bench/mca/model.py puts S2 at 87.3/85.0% of the fp32 peak
// against 85.9/82.3% with 256 (per-call costs over twice the keys, and half
// the passes of a row block's Q and O, which twelve cores' blocks cannot
// keep in one CMG's 8 MiB L2 either way).
// three_pass's stage: without a known L2 share, and its bounds with one.
constexpr std::size_t kDefaultStage = 512 * 1024, kMinStage = 128 * 1024, kMaxStage = 2 * 1024 * 1024;

static_assert(static_cast<int>(Strategy::online) == ATTNRT_STRATEGY_ONLINE &&
              static_cast<int>(Strategy::two_pass) == ATTNRT_STRATEGY_TWO_PASS &&
              static_cast<int>(Strategy::three_pass) == ATTNRT_STRATEGY_THREE_PASS);

const PlanRule kBuiltin[] = {
    {"", -1, 0, {1, kGroupMaxRows}, {1024, -1}, Strategy::two_pass, 0, 0, 0, 0},
    {"avx512", -1, 64, {kGroupMaxRows + 1, -1}, {0, -1}, Strategy::online, 0, 1024, 0, 0},
    {"avx512", -1, 96, {kGroupMaxRows + 1, -1}, {0, -1}, Strategy::online, 0, 640, 0, 0},
    {"avx512", -1, 128, {kGroupMaxRows + 1, -1}, {0, -1}, Strategy::online, 0, 512, 0, 0},
    {"avx512", -1, 256, {kGroupMaxRows + 1, -1}, {0, -1}, Strategy::online, 0, 256, 0, 0},
    {"sve512", -1, 128, {kGroupMaxRows + 1, -1}, {0, -1}, Strategy::online, 0, 512, 0, 0},
    {"sve512_12x2", -1, 128, {kGroupMaxRows + 1, -1}, {0, -1}, Strategy::online, 0, 512, 0, 0},
    {"", -1, 0, {1, -1}, {0, -1}, Strategy::online, 0, 0, 0, 0},
};

// The direct K/V path (Blocking::direct_kv) pays for few rows per block:
// packing K and V then costs as much as the math and doubles the traffic.
// Up to this many packed rows per block, where the set has the kernels (for
// fp16/bf16 inputs the kernels widen the rows they read: cheaper still). Measured with avx2 on the Zen VM (user cycles per call, one
// thread, two_pass, B1 H2 N16384 D128, busy machine): direct/packed 0.84 at
// M=16, 1.03 at M=32, 1.19 at M=64.
constexpr std::int64_t kDirectMaxRows = 16;

bool direct_possible(const kernels::KernelSet& ks, const Plan& plan) {
  return kernels::has_direct_kv(ks) && plan.strategy != Strategy::three_pass;
}
bool direct_by_default(const PlanShape& s) { return block_rows(s) <= kDirectMaxRows; }

// Whether a call's query heads of one KV head are stacked as one block's rows.
bool stacks_heads(const PlanShape& s) { return s.group > 1 && s.m <= kGroupMaxRows; }

bool matches(const PlanRule& r, const kernels::KernelSet& ks, const PlanShape& s) {
  return (r.isa.empty() || r.isa == ks.name) && (r.dtype < 0 || r.dtype == static_cast<int>(s.dtype)) &&
         (r.d == 0 || r.d == s.d) && r.m.contains(s.m) && r.n.contains(s.n);
}

// Rows of an ungrouped row block. Every row block packs the K and V it sees
// again, so the block is as tall as its packed Q and fp32 accumulators allow
// in ~1 MiB (a share of L2/L3 they stream from, once per key block): 1024
// rows at D = Dv = 128. On this measure B1 H8 M=N=2048 D128 fp32 went from
// 64% (mb = 132) to 79-84% of the FMA peak with mb = 528-1056 (avx2, one
// thread, attnrt-bench). Then, with more than one worker, it is halved
// while the call has fewer than four row blocks per worker, down to 128
// rows, so the partition has lines to share out instead of cutting keys.
std::int64_t row_block_cap(const kernels::KernelSet& ks, const PlanShape& s) {
  constexpr std::size_t kBudget = 1 << 20;
  // As the workspace holds them: Q packed to k_pack, accumulators to nv columns.
  const std::size_t per_row = static_cast<std::size_t>(round_up(s.d, ks.k_pack)) * ks.packed_elem +
                              static_cast<std::size_t>(round_up(s.dv, ks.nv)) * sizeof(float);
  std::int64_t cap = std::max<std::int64_t>(static_cast<std::int64_t>(kBudget / per_row), ks.mr);
  const std::int64_t floor_rows = std::min<std::int64_t>(cap, 128);
  const auto blocks = [&](std::int64_t rows) { return s.heads * ((s.m + rows - 1) / rows); };
  while (s.workers > 1 && cap > floor_rows && blocks(cap) < 4 * std::int64_t{s.workers})
    cap = std::max(cap / 2, floor_rows);
  return cap;
}

// Defaults from the kernel set's tiles and the dims.
kernels::Blocking default_blocking(const kernels::KernelSet& ks, Strategy st, const PlanShape& s,
                                   bool grouped) {
  const int step = kernels::key_step(ks);
  kernels::Blocking b{};
  // Rows: enough strips to amortize packing K/V blocks, but no more than a
  // problem has (a grouped item's rows in one block, so its K and V are
  // packed once).
  const std::int64_t rows = grouped ? s.group * s.m : s.m;
  // three_pass stages S and P for all rows of its block in L2, so its blocks
  // stay short.
  const std::int64_t cap = grouped ? kGroupMaxBlock : st == Strategy::three_pass ? 128 : row_block_cap(ks, s);
  // As few blocks as the cap allows, all of about the same height: no short
  // last block that packs K and V again for a handful of rows.
  const std::int64_t n_blocks = (rows + cap - 1) / cap;
  b.mb = round_up(static_cast<int>((rows + n_blocks - 1) / n_blocks), ks.mr);
  if (st == Strategy::two_pass) {
    // A ring slot: enough keys that each P·V call does real work, small
    // enough that pipe_ahead P panels sit in L1 next to the V slices.
    b.nb = round_up(128, step);
  } else {
    // A K and a V block together within ~256 KiB, a share of a core's L2.
    const std::size_t per_key = (static_cast<std::size_t>(s.d) + s.dv) * ks.packed_elem;
    b.nb = static_cast<int>((256 * 1024) / per_key) / step * step;
    b.nb = std::clamp(b.nb, step, 512 / step * step);
  }
  // A staged chunk in half of the core's share of L2: the other half holds
  // the K and V blocks its P·V reads (about 256 KiB, above).
  b.stage_bytes = s.l2_share_bytes > 0 ? std::clamp<std::size_t>(s.l2_share_bytes / 2, kMinStage, kMaxStage)
                                       : kDefaultStage;
  b.pipe_ahead = 2;
  return b;
}

}  // namespace

Plan choose_plan(const kernels::KernelSet& ks, const PlanShape& s, attnrt_strategy requested,
                 const PlanTable& tuning) {
  auto match = [&](const PlanRule& r) { return matches(r, ks, s); };
  auto tuned = std::find_if(tuning.begin(), tuning.end(), match);
  // The built-in table ends with a rule that matches everything.
  const PlanRule& chosen = tuned != tuning.end() ? *tuned : *std::find_if(std::begin(kBuiltin), std::end(kBuiltin), match);

  Plan plan{};
  plan.strategy = requested != ATTNRT_STRATEGY_AUTO ? static_cast<Strategy>(requested) : chosen.strategy;
  plan.group_heads = stacks_heads(s);
  const kernels::Blocking def = default_blocking(ks, plan.strategy, s, plan.group_heads);
  const int step = kernels::key_step(ks);
  kernels::Blocking& b = plan.blocking;
  // A rule's block sizes were chosen for its strategy: a requested strategy
  // takes them from the first matching rule of that strategy (tuning file,
  // then built-in), else its defaults.
  const auto own = [&](const PlanRule& r) { return match(r) && r.strategy == plan.strategy; };
  const PlanRule* sizes = &chosen;
  if (chosen.strategy != plan.strategy) {
    static const PlanRule kDefaults{};
    const auto tuned_own = std::find_if(tuning.begin(), tuning.end(), own);
    const auto builtin_own = std::find_if(std::begin(kBuiltin), std::end(kBuiltin), own);
    sizes = tuned_own != tuning.end()            ? &*tuned_own
            : builtin_own != std::end(kBuiltin) ? builtin_own
                                                : &kDefaults;
  }
  b.mb = sizes->mb > 0 ? round_up(sizes->mb, ks.mr) : def.mb;
  b.nb = sizes->nb > 0 ? round_up(sizes->nb, step) : def.nb;
  b.stage_bytes = sizes->stage_bytes > 0 ? sizes->stage_bytes : def.stage_bytes;
  b.pipe_ahead = sizes->pipe_ahead > 0 ? sizes->pipe_ahead : def.pipe_ahead;
  b.direct_kv = direct_possible(ks, plan) &&
                (sizes->direct >= 0 ? sizes->direct == 1 : direct_by_default(s));
  // One query row read in place: ring slots of kOneRowBlockKeys, at least
  // enough that the set's one-row P·V reads each call as two streams
  // (pv_row.hpp measures why).
  const int two_stream_keys = kernels::has_direct_kv(ks) ? ks.few_rows.front()->pv_two_stream_keys : 0;
  if (plan.strategy == Strategy::two_pass && b.direct_kv && two_stream_keys > 0 && sizes->nb <= 0 &&
      block_rows(s) == 1)
    b.nb = round_up(std::max(kOneRowBlockKeys, 2 * two_stream_keys), step);
  return plan;
}

std::int64_t block_rows(const PlanShape& s) { return stacks_heads(s) ? s.group * s.m : s.m; }

double padded_work(const kernels::KernelSet& ks, const PlanShape& s) {
  const auto up = [](std::int64_t x, int to) { return static_cast<double>((x + to - 1) / to * to); };
  const std::int64_t rows = block_rows(s);  // stacked as planned
  const double per_row = up(s.n, ks.nr) * s.d + up(s.n, ks.k_pack) * up(s.dv, ks.nv);
  return up(rows, ks.mr) * per_row;
}

bool fit_workspace(const kernels::KernelSet& ks, int d, int dv, std::size_t budget, Plan& plan) {
  kernels::Blocking& b = plan.blocking;
  const int step = kernels::key_step(ks);
  const auto fits = [&] { return kernels::workspace_bytes(plan.strategy, ks, d, dv, b) <= budget; };
  while (!fits()) {
    if (b.mb > ks.mr)
      b.mb = round_up(b.mb / 2, ks.mr);
    else if (plan.strategy != Strategy::online && b.stage_bytes > 64 * 1024)
      b.stage_bytes /= 2;
    else if (b.nb > step)
      b.nb = round_up(b.nb / 2, step);
    else
      return false;
  }
  return true;
}

void check_plan(const kernels::KernelSet& ks, const Plan& plan) {
  constexpr attnrt_status kBad = ATTNRT_INVALID_ARGUMENT;
  const kernels::Blocking& b = plan.blocking;
  const int step = kernels::key_step(ks);
  if (plan.strategy < Strategy::online || plan.strategy > Strategy::three_pass)
    fail(kBad, "plan.strategy (", static_cast<int>(plan.strategy), ") must be online, two_pass or three_pass");
  if (b.mb <= 0 || b.mb % ks.mr != 0)
    fail(kBad, "plan.blocking.mb (", b.mb, ") must be a positive multiple of the ", ks.name,
         " set's mr (", ks.mr, ")");
  if (b.nb <= 0 || b.nb % step != 0)
    fail(kBad, "plan.blocking.nb (", b.nb, ") must be a positive multiple of ", step, " (nr and k_pack of the ",
         ks.name, " set)");
  if (b.pipe_ahead < 1 || b.pipe_ahead > 64)
    fail(kBad, "plan.blocking.pipe_ahead (", b.pipe_ahead, ") must be in [1, 64]");
}

}  // namespace attnrt::rt
