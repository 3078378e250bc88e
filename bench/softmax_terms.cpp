#include "bench/softmax_terms.hpp"

#include <cstdio>
#include <string>

#include "bench/check.hpp"
#include "bench/plan_text.hpp"
#include "bench/timing.hpp"
#include "bench/workload.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::bench {

int run_softmax_terms(Engine& engine, const Options& opt) {
  const Shape shape = opt.shape.value_or(Shape{});
  const Workload w(shape);
  const attnrt_params terms_p = call_params(opt, shape);
  Options plain = opt;
  plain.alibi = plain.sinks = false;
  const attnrt_params plain_p = call_params(plain, shape);
  const auto terms_call = [&] { engine.forward(w.q(), w.k(), w.v(), w.o(), terms_p); };
  const auto plain_call = [&] { engine.forward(w.q(), w.k(), w.v(), w.o(), plain_p); };

  // Each checked once on its own output against its own parameters, then
  // timed alternately.
  const double tol = test::tolerance(static_cast<attnrt_dtype>(shape.dtype), terms_p.precision).o;
  const auto fresh = [&] { w.clear_output(), release_openmp_threads(); };
  Checks checks;
  for (const attnrt_params* p : {&terms_p, &plain_p}) {
    fresh();
    engine.forward(w.q(), w.k(), w.v(), w.o(), *p);
    checks.add(check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), w.o().c(), *p, tol, 16));
  }
  const Alternated timed = time_alternately(opt.reps, terms_call, plain_call);
  const Timing &tt = timed.a, &tp = timed.b;

  const std::string terms = std::string(opt.alibi ? "ALiBi" : "") + (opt.alibi && opt.sinks ? ", " : "") +
                            (opt.sinks ? "sinks" : "");
  const double work = flops(shape);
  const rt::Plan plan = engine.planned(w.q(), w.k(), w.v(), w.o(), terms_p);
  std::printf("attnrt-bench%s%s: %s, %d threads, %s, median of %d reps\n", opt.alibi ? " --alibi" : "",
              opt.sinks ? " --sinks" : "", shape.label().c_str(), engine.threads(),
              engine.kernel_set_name(shape.dtype).c_str(), opt.reps);
  std::printf("                     median ms  GFLOP/s   best ms  GFLOP/s\n");
  std::printf("  with %-12s %9.3f %8.1f %9.3f %8.1f  (%s)\n", terms.c_str(), tt.median * 1e3,
              work / tt.median * 1e-9, tt.min * 1e3, work / tt.min * 1e-9, plan_text(plan).c_str());
  std::printf("  without          %9.3f %8.1f %9.3f %8.1f\n", tp.median * 1e3, work / tp.median * 1e-9,
              tp.min * 1e3, work / tp.min * 1e-9);
  print_speed_ratio("with / without", timed, 0.97);
  std::printf("  check, sampled rows of each: max |err| %.3g, tolerance %.3g: %s\n", checks.worst, tol,
              checks.pass ? "pass" : "FAIL");
  return checks.pass ? 0 : 1;
}

}  // namespace attnrt::bench
