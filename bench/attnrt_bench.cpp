// attnrt-bench: times attnrt (a runtime made and called through the public
// C ABI) on a shape or a shape set, checks sampled rows against the
// double-precision reference, and puts every figure beside this machine's
// peaks, a BLAS baseline and attnrt's own GEMM-only ceiling, all measured in
// the same run. It shows the plan each call ran (kernel set, strategy, block
// sizes, head grouping) through the runtime's internal plan override
// (runtime/src/plan_override.hpp), which also runs the ceiling and, with
// --tune, the candidate plans whose best it writes as tuning-file rules.
// Run with --help for the options.
#include <attnrt/attnrt.hpp>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/baseline.hpp"
#include "bench/ceiling.hpp"
#include "bench/check.hpp"
#include "bench/cycles.hpp"
#include "bench/engine.hpp"
#include "bench/options.hpp"
#include "bench/peak.hpp"
#include "bench/report.hpp"
#include "bench/shapes.hpp"
#include "bench/timing.hpp"
#include "bench/tune.hpp"
#include "bench/tune_report.hpp"
#include "bench/tune_rules.hpp"
#include "bench/paged.hpp"
#include "bench/quant_kv.hpp"
#include "bench/softmax_terms.hpp"
#include "bench/varlen.hpp"
#include "bench/workload.hpp"
#include "runtime/internal/attnrt_internal.hpp"
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

ShapeResult run_shape(Engine& engine, PeakProbe& probe, const RunInfo& run, const Options& opt,
                      const NamedShape& named) {
  const Shape& shape = named.shape;
  Workload w(shape);
  const attnrt_params params = call_params(opt, shape);
  const auto attnrt_call = [&] { engine.forward(w.q(), w.k(), w.v(), w.o(), params); };
  const rt::Plan plan = engine.planned(w.q(), w.k(), w.v(), w.o(), params);
  // The set the plan runs on (a few-row bf16 plan may take an fp32 one).
  const kernels::KernelSet& ks = plan.kernel_set ? *plan.kernel_set : engine.kernel_set(shape.dtype);
  const Arithmetic arithmetic = arithmetic_of(ks);
  Ceiling ceiling(engine, w, params, plan);
  // The baseline's softmax knows no ALiBi or sinks: none for such calls.
  const std::unique_ptr<Baseline> base = opt.alibi || opt.sinks ? nullptr : make_baseline(w, run.threads);

  // The reps alternate, so a neighbour's burst on a shared machine hits all
  // three alike. Each timed call follows an untimed one of its own, so every
  // contender finds its data as warm as back-to-back calls leave it (the
  // bandwidth sample streams 256 MiB and would otherwise leave the next call
  // cold). The peaks are sampled right after attnrt's call: the clock drifts
  // over seconds, so each rep is compared with the peak of its own moment.
  const auto warm_then_time = [](auto&& call) {
    call();
    return seconds_of(call);
  };
  release_openmp_threads();  // (the workload filled its tensors in parallel)
  attnrt_call();             // creates the runtime's worker threads before they are counted
  std::vector<double> t_attnrt, t_ceiling, t_base, peak_gflops, read_gbps, pct_cycles;
  const ProcessCycles cycles;
  for (int r = 0; r < opt.reps; ++r) {
    release_openmp_threads();
    attnrt_call();
    const std::uint64_t c0 = cycles.read();
    t_attnrt.push_back(seconds_of(attnrt_call));
    const std::uint64_t c1 = cycles.read();
    peak_gflops.push_back(probe.sample_compute_gflops(arithmetic));
    const std::uint64_t c2 = cycles.read();
    read_gbps.push_back(probe.sample_read_gbps());
    release_openmp_threads();  // (the peak loop's team)
    t_ceiling.push_back(warm_then_time([&] { ceiling.run(); }));
    if (base) t_base.push_back(warm_then_time([&] { base->run(); }));
    if (cycles.available() && c1 > c0 && c2 > c1)
      pct_cycles.push_back(100.0 * (flops(shape) / static_cast<double>(c1 - c0)) /
                           (probe.compute_flops_per_sample(arithmetic) / static_cast<double>(c2 - c1)));
  }

  const test::Tolerance tol = test::tolerance(static_cast<attnrt_dtype>(shape.dtype), params.precision);
  ShapeResult r{.shape = shape,
                .name = named.name,
                .target = named.target,
                .isa = ks.name,
                .plan = plan,
                .attnrt = summarize(t_attnrt),
                .check = check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), w.o().c(), params, tol.o),
                .attnrt_reps = t_attnrt,
                .ceiling_reps = t_ceiling,
                .baseline_reps = t_base,
                .peak_gflops_reps = peak_gflops,
                .read_gbps_reps = read_gbps,
                .pct_peak_cycles_reps = pct_cycles,
                .ceiling = summarize(t_ceiling),
                .ceiling_ran = ceiling.finite_output(),
                .baseline = std::nullopt,
                .baseline_check = std::nullopt};
  if (base) {
    // fp32 arithmetic on the (exactly widened) inputs: held to the fp32 bound.
    r.baseline = summarize(t_base);
    r.baseline_check = check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), base->output(), params,
                                          test::tolerance(ATTNRT_F32, ATTNRT_EXP2_ACCURATE).o);
  }
  return r;
}

std::string kernel_sets(const Engine& engine) {
  std::string s;
  for (DType t : {DType::f32, DType::f16, DType::bf16}) {
    s += s.empty() ? "" : ", ";
    s += dtype_name(t);
    s += ' ';
    s += engine.kernel_set_name(t);
  }
  return s;
}

// --tune: every shape's candidate plans, the tables, then the rules (after
// the tables on stdout, or in --tune-out) and their round trip.
int run_tune(Engine& engine, const Options& opt, const std::vector<Shape>& shapes, Arithmetic bf16) {
  Peaks peaks = measure_peaks(engine.threads(), bf16);
  std::vector<TunedShape> tuned;
  for (const Shape& s : shapes) {
    std::fprintf(stderr, "tuning %s\n", s.label().c_str());
    try {
      tuned.push_back(tune_shape(engine, opt, s));
    } catch (const Error& e) {
      std::fprintf(stderr, "attnrt-bench: %s: attnrt rejected the call: %s\n", s.label().c_str(), e.what());
      return exit_code_for(e);
    }
  }
  keep_best(peaks, measure_peaks(engine.threads(), bf16));

  print_tune_header(stdout, engine.threads(), opt, peaks);
  bool ok = true;
  for (const TunedShape& t : tuned) {
    print_tune_table(stdout, t, peaks);
    ok &= t.all_pass();
  }
  const Rules rules = tuned_rules(engine, tuned, opt.tune_range);
  std::printf("#\n# %d rule(s) for %zu shape(s)%s", rules.written, tuned.size(),
              opt.tune_range ? ", M and N within a factor of two" : ", exact M and N");
  if (rules.shadowed) std::printf(", %d shadowed by an earlier rule (no causal, Dv or heads field)", rules.shadowed);
  std::printf("\n");
  if (opt.tune_out.empty()) {
    std::fputs(rules.text.c_str(), stdout);
    return ok ? 0 : kExitCheckFailed;
  }

  std::FILE* f = std::fopen(opt.tune_out.c_str(), "w");
  const bool written = f && std::fputs(rules.text.c_str(), f) >= 0;
  if (!f || std::fclose(f) != 0 || !written) {
    std::fprintf(stderr, "attnrt-bench: --tune-out %s: cannot write the file\n", opt.tune_out.c_str());
    return kExitCheckFailed;
  }
  const int picked = picked_from_file(engine, tuned, opt.tune_out);
  std::printf("# wrote %s; read back as ATTNRT_TUNING_FILE, it makes the planner pick the tuned plan for %d of %d "
              "shape(s)\n",
              opt.tune_out.c_str(), picked, rules.written);
  return ok && picked == rules.written ? 0 : kExitCheckFailed;
}

// The shape, the file's shapes or the set's, each with its target if it has one.
std::vector<NamedShape> shapes_to_run(const Options& opt) {
  if (opt.shape) return {with_target(*opt.shape)};
  if (!opt.shapes_file.empty()) return read_shape_file(opt.shapes_file);
  if (opt.set == "targets") return target_shapes();
  std::vector<NamedShape> named;
  for (const Shape& s : shape_set(opt.set)) named.push_back(with_target(s));
  return named;
}

int run(const Options& opt, const std::vector<NamedShape>& named) {
  std::optional<Engine> engine;
  try {
    engine.emplace(opt.threads, opt.isa);
  } catch (const Error& e) {
    std::fprintf(stderr, "attnrt-bench: --isa/--threads or ATTNRT_* rejected: %s\n", e.what());
    return kExitUsage;
  }

  std::vector<Shape> shapes;
  for (const NamedShape& n : named) shapes.push_back(n.shape);
  Arithmetic bf16 = Arithmetic::fp32_fma;  // that of the bf16 set, if some shape runs one of bf16 arithmetic
  for (const Shape& s : shapes)
    if (const Arithmetic a = arithmetic_of(engine->kernel_set(s.dtype)); a != Arithmetic::fp32_fma) bf16 = a;
  if (opt.tune) return run_tune(*engine, opt, shapes, bf16);
  if (opt.kv_dtype != DType::f32) return run_quant_kv(*engine, opt);  // (it takes --varlen and --page-size too)
  if (!opt.varlen.empty()) return run_varlen(*engine, opt);
  if (opt.page_size) return run_paged(*engine, opt);
  if (opt.shape && (opt.alibi || opt.sinks)) return run_softmax_terms(*engine, opt);

  // Calibrated once; measures the run-level peaks and is sampled after every rep.
  PeakProbe probe(engine->threads(), bf16);
  RunInfo info{.kernel_sets = kernel_sets(*engine),
               .uarch = engine->uarch(),
               .threads = engine->threads(),
               .strategy = strategy_name(opt.strategy),
               .precision = precision_name(opt.precision),
               .reps = opt.reps,
               .peaks = probe.best_of(kPeakTrials),
               .baseline = baseline_description()};

  std::vector<ShapeResult> results;
  for (std::size_t i = 0; i < named.size(); ++i) {
    const std::string label = named[i].shape.label();
    std::fprintf(stderr, "[%zu/%zu] running %s\n", i + 1, named.size(), label.c_str());
    try {
      results.push_back(run_shape(*engine, probe, info, opt, named[i]));
    } catch (const Error& e) {
      std::fprintf(stderr, "attnrt-bench: %s: attnrt rejected the call: %s\n", label.c_str(), e.what());
      return exit_code_for(e);
    }
  }
  keep_best(info.peaks, probe.best_of(kPeakTrials));

  if (!opt.json) print_header(info);
  bool all_pass = true;
  for (const ShapeResult& r : results) {
    if (opt.json)
      print_json(info, r);
    else
      print_row(info, r);
    all_pass &= r.pass();
  }
  if (!opt.json) print_verdicts(results);
  return all_pass ? 0 : kExitCheckFailed;
}

}  // namespace
}  // namespace attnrt::bench

int main(int argc, char** argv) {
  using namespace attnrt::bench;
  Options opt;
  std::vector<NamedShape> named;
  try {
    opt = parse_options(argc, argv);
    named = shapes_to_run(opt);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "attnrt-bench: %s\n", e.what());
    return kExitUsage;
  }
  if (opt.help) {
    std::fputs(usage(), stdout);
    return 0;
  }
  use_huge_pages(opt.huge_pages);
  give_openblas_its_kernels(argv);
  try {
    return run(opt, named);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "attnrt-bench: %s\n", e.what());
    return kExitCheckFailed;
  }
}
