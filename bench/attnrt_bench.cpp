// attnrt-bench: times attnrt::Runtime (public API only) on a shape or a
// shape set, checks sampled rows against the double-precision reference,
// and puts every figure beside this machine's peaks and a BLAS baseline,
// all measured in the same run. Run with --help for the options.
#include <attnrt/attnrt.hpp>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "bench/baseline.hpp"
#include "bench/check.hpp"
#include "bench/options.hpp"
#include "bench/peak.hpp"
#include "bench/report.hpp"
#include "bench/shapes.hpp"
#include "bench/timing.hpp"
#include "bench/workload.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::bench {
namespace {

constexpr int kExitCheckFailed = 1, kExitUsage = 2;

// attnrt's answer to the options: a rejected shape, ISA or strategy is the
// user's request, not a broken run.
int exit_code_for(const Error& e) {
  switch (e.status()) {
    case ATTNRT_INVALID_ARGUMENT:
    case ATTNRT_UNSUPPORTED:
    case ATTNRT_CONFIG_ERROR: return kExitUsage;
    default: return kExitCheckFailed;
  }
}

ShapeResult run_shape(Runtime& rt, const RunInfo& run, const Options& opt, const Shape& shape) {
  Workload w(shape);
  Params params;
  params.causal = shape.causal;
  params.precision = opt.precision;
  params.strategy = opt.strategy;
  const auto attnrt_call = [&] { rt.forward(w.q(), w.k(), w.v(), w.o(), params); };
  const std::unique_ptr<Baseline> base = make_baseline(w, run.threads);

  // One warm-up each, then the reps alternate, so a neighbour's burst on a
  // shared machine hits both sides alike.
  attnrt_call();
  if (base) base->run();
  std::vector<double> t_attnrt, t_base;
  for (int r = 0; r < opt.reps; ++r) {
    t_attnrt.push_back(seconds_of(attnrt_call));
    if (base) t_base.push_back(seconds_of([&] { base->run(); }));
  }

  attnrt_params ref = mask_params(shape);  // what the reference needs to know of the call
  ref.precision = static_cast<attnrt_precision>(opt.precision);
  const test::Tolerance tol = test::tolerance(static_cast<attnrt_dtype>(shape.dtype), ref.precision);
  ShapeResult r{shape, summarize(t_attnrt), {}, std::nullopt, std::nullopt};
  r.check = check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), w.o().c(), ref, tol.o);
  if (base) {
    // fp32 arithmetic on the (exactly widened) inputs: held to the fp32 bound.
    r.baseline = summarize(t_base);
    r.baseline_check = check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), base->output(), ref,
                                          test::tolerance(ATTNRT_F32, ATTNRT_EXP2_ACCURATE).o);
  }
  return r;
}

int run(const Options& opt) {
  Config cfg;
  cfg.num_threads = opt.threads;
  cfg.isa = opt.isa;
  std::optional<Runtime> rt;
  try {
    rt.emplace(cfg);
  } catch (const Error& e) {
    std::fprintf(stderr, "attnrt-bench: --isa/--threads or ATTNRT_* rejected: %s\n", e.what());
    return kExitUsage;
  }

  const std::vector<Shape> shapes = opt.shape ? std::vector<Shape>{*opt.shape}
                                              : std::vector<Shape>(shape_set(opt.set).begin(), shape_set(opt.set).end());
  bool any_bf16 = false;
  for (const Shape& s : shapes) any_bf16 |= s.dtype == DType::bf16;

  RunInfo info{.isa = rt->isa(),
               .threads = rt->num_threads(),
               .strategy = strategy_name(opt.strategy),
               .precision = precision_name(opt.precision),
               .reps = opt.reps,
               .peaks = measure_peaks(rt->num_threads(), any_bf16),
               .baseline = baseline_description()};

  std::vector<ShapeResult> results;
  for (const Shape& s : shapes) {
    if (!opt.json) std::fprintf(stderr, "running %s\n", s.label().c_str());
    try {
      results.push_back(run_shape(*rt, info, opt, s));
    } catch (const Error& e) {
      std::fprintf(stderr, "attnrt-bench: %s: attnrt rejected the call: %s\n", s.label().c_str(), e.what());
      return exit_code_for(e);
    }
  }
  keep_best(info.peaks, measure_peaks(info.threads, any_bf16));

  if (!opt.json) print_header(info);
  bool all_pass = true;
  for (const ShapeResult& r : results) {
    if (opt.json)
      print_json(info, r);
    else
      print_row(info, r);
    all_pass &= r.pass();
  }
  return all_pass ? 0 : kExitCheckFailed;
}

}  // namespace
}  // namespace attnrt::bench

int main(int argc, char** argv) {
  using namespace attnrt::bench;
  Options opt;
  try {
    opt = parse_options(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "attnrt-bench: %s\n", e.what());
    return kExitUsage;
  }
  if (opt.help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnrt-bench: %s\n", e.what());
    return kExitCheckFailed;
  }
}
