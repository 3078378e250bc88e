#include "bench/tune_rules.hpp"

#include <algorithm>

#include "bench/plan_text.hpp"
#include "bench/tune_candidates.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {
namespace {

rt::SizeRange around(std::int64_t x, bool range) {
  if (!range) return {x, x};
  return {std::max<std::int64_t>(1, x / 2), 2 * x};
}

rt::PlanRule rule_for(const TunedShape& t, bool range) {
  const rt::Plan& p = t.candidates[*t.best].plan;
  rt::PlanRule r{};
  r.isa = t.isa;
  r.dtype = static_cast<int>(t.shape.dtype);
  r.d = static_cast<int>(t.shape.head_dim);
  r.m = around(t.shape.q_len, range);
  r.n = around(t.shape.kv_len, range);
  r.strategy = p.strategy;
  r.mb = p.blocking.mb;
  r.nb = p.blocking.nb;
  r.stage_bytes = uses_stage_bytes(p.strategy) ? p.blocking.stage_bytes : 0;
  r.pipe_ahead = uses_pipe_ahead(p.strategy) ? p.blocking.pipe_ahead : 0;
  r.direct = p.blocking.direct_kv ? 1 : 0;
  return r;
}

// Whether the planner, with `table` before its built-in rules, chooses t's
// best plan for t's shape.
bool picks_best(const Engine& engine, const TunedShape& t, const rt::PlanTable& table) {
  const rt::Plan chosen =
      rt::choose_plan(engine.kernel_set(t.shape.dtype), plan_shape(t.shape), ATTNRT_STRATEGY_AUTO, table);
  return same_plan(chosen, t.candidates[*t.best].plan);
}

}  // namespace

Rules tuned_rules(const Engine& engine, const std::vector<TunedShape>& tuned, bool range) {
  Rules out;
  out.text = "# isa dtype D M N -> strategy mb nb stage pipe_ahead   (ATTNRT_TUNING_FILE format)\n";
  rt::PlanTable table;
  for (const TunedShape& t : tuned) {
    if (!t.best) continue;
    table.push_back(rule_for(t, range));
    const std::string line = rt::tuning_line(table.back());
    if (picks_best(engine, t, table)) {
      out.text += line + "\n";
      ++out.written;
    } else {
      out.text += "# shadowed by an earlier rule, for " + t.shape.label() + ": " + line + "\n";
      table.pop_back();
      ++out.shadowed;
    }
  }
  return out;
}

int picked_from_file(const Engine& engine, const std::vector<TunedShape>& tuned, const std::string& path) {
  rt::PlanTable table;
  try {
    table = rt::load_tuning_file("--tune-out", path);
  } catch (const rt::Failure& e) {
    throw Error(e.status, e.what());
  }
  return static_cast<int>(std::count_if(tuned.begin(), tuned.end(),
                                        [&](const TunedShape& t) { return t.best && picks_best(engine, t, table); }));
}

}  // namespace attnrt::bench
