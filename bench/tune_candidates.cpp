#include "bench/tune_candidates.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "bench/plan_text.hpp"
#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::bench {
namespace {

using kernels::Strategy;
constexpr Strategy kStrategies[] = {Strategy::online, Strategy::two_pass, Strategy::three_pass};

// A field of a plan that round 1 varies; set() rounds and caps the value
// to what the kernel set and the shape allow.
struct Field {
  std::size_t (*get)(const rt::Plan&);
  void (*set)(rt::Plan&, std::size_t, const kernels::KernelSet&, const rt::PlanShape&);
};

int rounded(std::size_t v, int granule, std::int64_t most) {
  const int cap = kernels::round_up(static_cast<int>(std::max<std::int64_t>(most, 1)), granule);
  return std::clamp(kernels::round_up(static_cast<int>(std::min<std::size_t>(v, 1 << 24)), granule), granule, cap);
}

// Rows a work item's blocks cover: a grouped item packs the group's heads.
std::int64_t item_rows(const rt::Plan& p, const rt::PlanShape& s) { return p.group_heads ? s.group * s.m : s.m; }

constexpr Field kMb{[](const rt::Plan& p) -> std::size_t { return p.blocking.mb; },
                    [](rt::Plan& p, std::size_t v, const kernels::KernelSet& ks, const rt::PlanShape& s) {
                      p.blocking.mb = rounded(v, ks.mr, item_rows(p, s));
                    }};
constexpr Field kNb{[](const rt::Plan& p) -> std::size_t { return p.blocking.nb; },
                    [](rt::Plan& p, std::size_t v, const kernels::KernelSet& ks, const rt::PlanShape& s) {
                      p.blocking.nb = rounded(v, kernels::key_step(ks), s.n);
                    }};
constexpr Field kStage{[](const rt::Plan& p) { return p.blocking.stage_bytes; },
                       [](rt::Plan& p, std::size_t v, const kernels::KernelSet&, const rt::PlanShape&) {
                         p.blocking.stage_bytes = std::max<std::size_t>(v, 4096);
                       }};
constexpr Field kAhead{[](const rt::Plan& p) -> std::size_t { return p.blocking.pipe_ahead; },
                       [](rt::Plan& p, std::size_t v, const kernels::KernelSet&, const rt::PlanShape&) {
                         p.blocking.pipe_ahead = static_cast<int>(std::clamp<std::size_t>(v, 1, 64));
                       }};

std::span<const Field> fields(Strategy st) {
  static constexpr Field kOnline[] = {kMb, kNb}, kTwoPass[] = {kMb, kNb, kAhead}, kThreePass[] = {kMb, kNb, kStage};
  switch (st) {
    case Strategy::online: return kOnline;
    case Strategy::two_pass: return kTwoPass;
    case Strategy::three_pass: return kThreePass;
  }
  return {};
}

// The planner's default for `st` from the built-in table: a tuning file in
// the environment does not move the grid.
rt::Plan default_plan(const kernels::KernelSet& ks, const rt::PlanShape& s, Strategy st) {
  return rt::choose_plan(ks, s, static_cast<attnrt_strategy>(st), {});
}

void add(std::vector<rt::Plan>& plans, const rt::Plan& p) {
  if (std::none_of(plans.begin(), plans.end(), [&](const rt::Plan& q) { return same_plan(p, q); }))
    plans.push_back(p);
}

// Whether `p` is `base` but for field f.
bool differs_only_in(const rt::Plan& p, const rt::Plan& base, const Field& f, const kernels::KernelSet& ks,
                     const rt::PlanShape& s) {
  rt::Plan back = p;
  f.set(back, f.get(base), ks, s);
  return same_plan(back, base);
}

}  // namespace

bool same_plan(const rt::Plan& a, const rt::Plan& b) {
  const kernels::Blocking &x = a.blocking, &y = b.blocking;
  return a.strategy == b.strategy && x.mb == y.mb && x.nb == y.nb &&
         (!uses_stage_bytes(a.strategy) || x.stage_bytes == y.stage_bytes) &&
         (!uses_pipe_ahead(a.strategy) || x.pipe_ahead == y.pipe_ahead) && x.direct_kv == y.direct_kv &&
         a.group_heads == b.group_heads;
}

std::vector<rt::Plan> first_round(const kernels::KernelSet& ks, const rt::PlanShape& s,
                                  std::optional<Strategy> only) {
  std::vector<rt::Plan> plans;
  for (Strategy st : kStrategies) {
    if (only && *only != st) continue;
    const rt::Plan base = default_plan(ks, s, st);
    add(plans, base);
    for (const Field& f : fields(st))
      for (double factor : {0.5, 2.0}) {
        rt::Plan p = base;
        f.set(p, static_cast<std::size_t>(static_cast<double>(f.get(base)) * factor), ks, s);
        add(plans, p);
      }
    if (kernels::has_direct_kv(ks) && s.dtype == kernels::DType::f32 && st != Strategy::three_pass) {
      rt::Plan p = base;  // K and V read in place, or packed: the other of the planner's choice
      p.blocking.direct_kv = !base.blocking.direct_kv;
      add(plans, p);
    }
    if (base.group_heads) {
      rt::Plan p = base;
      p.group_heads = false;
      kMb.set(p, kMb.get(p), ks, s);  // capped at the rows of one head
      add(plans, p);
    }
  }
  return plans;
}

std::vector<rt::Plan> second_round(const kernels::KernelSet& ks, const rt::PlanShape& s,
                                   const std::vector<Timed>& first) {
  std::vector<rt::Plan> plans;
  for (Strategy st : kStrategies) {
    const rt::Plan base = default_plan(ks, s, st);
    rt::Plan combined = base;
    int changed = 0;
    for (const Field& f : fields(st)) {
      double best = std::numeric_limits<double>::infinity();
      std::size_t value = f.get(base);
      for (const Timed& t : first)
        if (t.seconds < best && differs_only_in(t.plan, base, f, ks, s)) {
          best = t.seconds;
          value = f.get(t.plan);
        }
      if (value != f.get(base)) {
        f.set(combined, value, ks, s);
        ++changed;
      }
    }
    const bool timed = std::any_of(first.begin(), first.end(), [&](const Timed& t) { return same_plan(t.plan, combined); });
    if (changed >= 2 && !timed) add(plans, combined);
  }
  return plans;
}

}  // namespace attnrt::bench
