#include "bench/tune.hpp"

#include <algorithm>

#include "bench/tune_candidates.hpp"
#include "bench/workload.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::bench {
namespace {

// Runs each plan once on a cleared O and checks it, then times the ones
// that pass: rep by rep, every plan once per rep, so a neighbour's burst on
// a shared machine is spread over all of them.
void run_round(Engine& engine, const Workload& w, const attnrt_params& params, double tolerance, int reps,
               const std::vector<rt::Plan>& plans, std::vector<Candidate>& out) {
  const std::size_t first = out.size();
  for (const rt::Plan& plan : plans) {
    Candidate c{.plan = plan, .time = std::nullopt, .check = {}, .error = {}};
    w.clear_output();
    try {
      engine.forward(w.q(), w.k(), w.v(), w.o(), params, plan);
      c.check = check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), w.o().c(), params, tolerance);
    } catch (const Error& e) {
      c.error = e.what();
    }
    out.push_back(c);
  }
  std::vector<std::vector<double>> t(out.size() - first);
  release_openmp_threads();  // (the checks and the cleared outputs ran in parallel)
  for (int r = 0; r < reps; ++r)
    for (std::size_t i = first; i < out.size(); ++i)
      if (out[i].pass())
        t[i - first].push_back(seconds_of([&] { engine.forward(w.q(), w.k(), w.v(), w.o(), params, out[i].plan); }));
  for (std::size_t i = first; i < out.size(); ++i)
    if (out[i].pass()) out[i].time = summarize(t[i - first]);
}

std::optional<kernels::Strategy> only_strategy(Strategy s) {
  if (s == Strategy::automatic) return std::nullopt;
  return static_cast<kernels::Strategy>(s);
}

}  // namespace

bool TunedShape::all_pass() const {
  return best && std::all_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.pass(); });
}

rt::PlanShape plan_shape(const Shape& s) {
  return {static_cast<kernels::DType>(s.dtype), static_cast<int>(s.head_dim), static_cast<int>(s.head_dim_v),
          s.q_len, s.kv_len, s.heads / s.kv_heads};
}

TunedShape tune_shape(Engine& engine, const Options& opt, const Shape& shape) {
  const Workload w(shape);
  const attnrt_params params = call_params(opt, shape);
  const double tol = test::tolerance(static_cast<attnrt_dtype>(shape.dtype), params.precision).o;
  const kernels::KernelSet& ks = engine.kernel_set(shape.dtype);
  const rt::PlanShape key = plan_shape(shape);

  TunedShape t{.shape = shape,
               .isa = engine.kernel_set_name(shape.dtype),
               .current = engine.planned(w.q(), w.k(), w.v(), w.o(), params),
               .candidates = {},
               .best = std::nullopt,
               .best_unwritable = std::nullopt};
  std::vector<rt::Plan> plans = first_round(ks, key, only_strategy(opt.strategy));
  if (std::none_of(plans.begin(), plans.end(), [&](const rt::Plan& p) { return same_plan(p, t.current); }))
    plans.push_back(t.current);  // e.g. from ATTNRT_TUNING_FILE
  run_round(engine, w, params, tol, opt.reps, plans, t.candidates);

  std::vector<Timed> timed;
  for (const Candidate& c : t.candidates)
    if (c.pass()) timed.push_back({c.plan, c.time->median});
  run_round(engine, w, params, tol, opt.reps, second_round(ks, key, timed), t.candidates);

  std::sort(t.candidates.begin(), t.candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.pass() != b.pass()) return a.pass();
    return a.pass() && a.time->median < b.time->median;
  });
  for (std::size_t i = 0; i < t.candidates.size() && t.candidates[i].pass(); ++i) {
    if (t.candidates[i].plan.group_heads == t.current.group_heads) {
      t.best = i;
      break;
    }
    if (!t.best_unwritable) t.best_unwritable = i;
  }
  return t;
}

}  // namespace attnrt::bench
