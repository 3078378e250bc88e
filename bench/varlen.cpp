#include "bench/varlen.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/check.hpp"
#include "bench/plan_text.hpp"
#include "bench/timing.hpp"
#include "bench/workload.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::bench {
int run_varlen(Engine& engine, const Options& opt) {
  std::vector<std::int32_t> cu{0};
  for (std::int64_t len : opt.varlen) cu.push_back(static_cast<std::int32_t>(cu.back() + len));
  Shape packed = opt.shape.value_or(Shape{});
  packed.batch = 1;
  packed.q_len = packed.kv_len = cu.back();
  const Workload w(packed);
  const attnrt_params dense_p = call_params(opt, packed);
  attnrt_params varlen_p = dense_p;
  varlen_p.cu_seqlens_q = varlen_p.cu_seqlens_k = cu.data();
  varlen_p.num_seqs = static_cast<std::int64_t>(opt.varlen.size());

  double work = 0;  // FLOPs of the sequences' visible entries, the same for both
  for (std::int64_t len : opt.varlen) {
    Shape s = packed;
    s.q_len = s.kv_len = len;
    work += flops(s);
  }
  const auto varlen_call = [&] { engine.forward(w.q(), w.k(), w.v(), w.o(), varlen_p); };
  const auto dense_calls = [&] {
    for (std::size_t b = 0; b < opt.varlen.size(); ++b) {
      const std::int64_t r0 = cu[b], n = cu[b + 1] - cu[b];
      engine.forward(rows_of(w.q(), r0, n), rows_of(w.k(), r0, n), rows_of(w.v(), r0, n), rows_of(w.o(), r0, n),
                     dense_p);
    }
  };

  // Each checked once on its own output, then timed alternately.
  const double tol = test::tolerance(static_cast<attnrt_dtype>(packed.dtype), dense_p.precision).o;
  const auto fresh = [&] { w.clear_output(), release_openmp_threads(); };
  const auto [pass, worst] = check_each(fresh, [&](Checks& c) {
    for (std::size_t b = 0; b < opt.varlen.size(); ++b) {
      const std::int64_t r0 = cu[b], n = cu[b + 1] - cu[b];
      c.add(check_sampled_rows(rows_of(w.q(), r0, n).c(), rows_of(w.k(), r0, n).c(), rows_of(w.v(), r0, n).c(),
                               rows_of(w.o(), r0, n).c(), dense_p, tol, 8));
    }
  }, varlen_call, dense_calls);
  const Alternated timed = time_alternately(opt.reps, varlen_call, dense_calls);
  const Timing &tv = timed.a, &td = timed.b;
  std::string lens;
  for (std::int64_t len : opt.varlen) {
    if (!lens.empty()) lens += ',';
    lens += std::to_string(len);
  }
  const rt::Plan plan = engine.planned(w.q(), w.k(), w.v(), w.o(), varlen_p);
  std::printf("attnrt-bench --varlen %s: H%lld/%lld D%lld %s%s, %d threads, %s, median of %d reps\n", lens.c_str(),
              static_cast<long long>(packed.heads), static_cast<long long>(packed.kv_heads),
              static_cast<long long>(packed.head_dim), dtype_name(packed.dtype), packed.causal ? " causal" : "",
              engine.threads(), engine.kernel_set_name(packed.dtype).c_str(), opt.reps);
  std::printf("                          median ms  GFLOP/s   best ms  GFLOP/s\n");
  std::printf("  packed varlen call      %9.3f %8.1f %9.3f %8.1f  (%s)\n", tv.median * 1e3, work / tv.median * 1e-9,
              tv.min * 1e3, work / tv.min * 1e-9, plan_text(plan).c_str());
  std::printf("  %2zu dense calls in a row %9.3f %8.1f %9.3f %8.1f\n", opt.varlen.size(), td.median * 1e3,
              work / td.median * 1e-9, td.min * 1e3, work / td.min * 1e-9);
  print_speed_ratio("varlen / dense", timed, 0.95);
  std::printf("  check, sampled rows of every sequence: max |err| %.3g, tolerance %.3g: %s\n", worst, tol,
              pass ? "pass" : "FAIL");
  return pass ? 0 : 1;
}

}  // namespace attnrt::bench
