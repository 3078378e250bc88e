#include "runtime/src/runtime.hpp"

#include <array>
#include <chrono>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "kernels/pipelines/pipeline.hpp"
#include "kernels/registry.hpp"
#include "runtime/src/config.hpp"
#include "runtime/src/cpu_features.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/head_problem.hpp"
#include "runtime/src/plan.hpp"
#include "runtime/src/tuning.hpp"
#include "runtime/src/validate.hpp"
#include "scheduler/partition.hpp"

namespace attnrt::rt {
namespace {

using kernels::DType;

// The best set for dtype t this CPU runs, or, when `isa` names a set, that
// set. A named set must exist for at least one dtype (avx512_bf16 exists for
// bf16 only); dtypes it does not cover choose as usual. Naming a set the CPU
// cannot run is an error, never a silent fallback.
const kernels::KernelSet* best_set(DType t) {
  const CpuFeatures& cpu = cpu_features();
  for (const kernels::KernelSet* ks : kernels::kernel_sets(t))
    if (ks && (ks->requires_cpu & cpu.bits) == ks->requires_cpu) return ks;
  fail(ATTNRT_INTERNAL_ERROR, "no kernel set runs on this CPU");
}

const kernels::KernelSet* named_set(DType t, const char* isa) {
  for (const kernels::KernelSet* ks : kernels::kernel_sets(t))
    if (ks && std::strcmp(ks->name, isa) == 0) return ks;
  return nullptr;
}

std::array<const kernels::KernelSet*, 3> select_sets(const char* isa) {
  std::array<const kernels::KernelSet*, 3> sets{};
  bool found = false;
  std::string known;
  for (int t = 0; t < 3; ++t) {
    const DType dt = static_cast<DType>(t);
    const kernels::KernelSet* ks = isa ? named_set(dt, isa) : nullptr;
    if (ks) {
      found = true;
      const CpuFeatures& cpu = cpu_features();
      if ((ks->requires_cpu & cpu.bits) != ks->requires_cpu)
        fail(ATTNRT_UNSUPPORTED, "ATTNRT_ISA (", isa, ") needs CPU features this machine lacks (it has: ",
             cpu.describe(), ")");
    }
    sets[t] = ks ? ks : best_set(dt);
    for (const kernels::KernelSet* k : kernels::kernel_sets(dt))
      if (k && known.find(k->name) == std::string::npos) {
        if (!known.empty()) known += ", ";
        known += k->name;
      }
  }
  if (isa && !found) fail(ATTNRT_CONFIG_ERROR, "ATTNRT_ISA (", isa, ") must name a kernel set of this build: ", known);
  return sets;
}

int default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

// Score entries each query row sees, summed: the FLOP count's M·N.
double visible_entries(const kernels::HeadProblem& p) {
  double sum = 0;
  for (std::int64_t i = 0; i < p.m; ++i) sum += std::max<std::int64_t>(0, p.key_hi(i) - p.key_lo(i));
  return sum;
}

}  // namespace

Runtime::Runtime(const attnrt_config& config) {
  check_config(config);
  sets_ = select_sets(config.isa);
  default_strategy_ = config.strategy;
  tuning_ = load_tuning_from_env();
  verbose_ = config.verbose != 0;
  if (config.executor == ATTNRT_EXECUTOR_TBB)
    fail(ATTNRT_UNSUPPORTED, "ATTNRT_EXECUTOR (tbb): the oneTBB executor is not in this build yet; use openmp");
  executor_ = scheduler::make_openmp_executor(config.num_threads > 0 ? config.num_threads : default_threads());
  if (verbose_)
    std::fprintf(stderr, "attnrt: cpu %s, isa %s, executor %s, %d threads\n",
                 cpu_features().describe().c_str(), isa(), executor_->name(), num_threads());
}

void Runtime::forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                      const attnrt_tensor& o, const attnrt_params& params) {
  validate(&q, &k, &v, &o, params);
  run(q, k, v, o, params, choose(q, k, v, params));
}

void Runtime::forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                      const attnrt_tensor& o, const attnrt_params& params, const Plan& plan) {
  validate(&q, &k, &v, &o, params);
  check_plan(kernel_set(q.dtype), plan);
  run(q, k, v, o, params, plan);
}

Plan Runtime::plan_for(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                       const attnrt_tensor& o, const attnrt_params& params) const {
  validate(&q, &k, &v, &o, params);
  return choose(q, k, v, params);
}

Plan Runtime::choose(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                     const attnrt_params& params) const {
  const PlanShape shape{static_cast<DType>(q.dtype), static_cast<int>(q.shape[3]),
                        static_cast<int>(v.shape[3]), q.shape[2], k.shape[2],
                        q.shape[1] / k.shape[1]};
  const attnrt_strategy requested = params.strategy != ATTNRT_STRATEGY_AUTO ? params.strategy : default_strategy_;
  return choose_plan(kernel_set(q.dtype), shape, requested, tuning_);
}

void Runtime::run(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                  const attnrt_tensor& o, const attnrt_params& params, const Plan& plan) {
  const auto t0 = verbose_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

  const kernels::KernelSet& ks = kernel_set(q.dtype);
  const std::int64_t B = q.shape[0], Hq = q.shape[1], Hkv = k.shape[1];
  const int M = static_cast<int>(q.shape[2]), N = static_cast<int>(k.shape[2]);
  const int D = static_cast<int>(q.shape[3]), Dv = static_cast<int>(v.shape[3]);
  const std::size_t ws_bytes = kernels::workspace_bytes(plan.strategy, ks, D, Dv, plan.blocking);

  // Grouped: one item per (batch, KV head), its rows all query heads of the
  // group; else one problem per (batch, query head), split by row blocks.
  const int q_heads = plan.group_heads ? static_cast<int>(Hq / Hkv) : 1;
  const std::int64_t problems = Hq / q_heads;
  const int rows = M * q_heads;
  const int row_quantum = plan.group_heads ? kernels::round_up(rows, ks.mr) : ks.mr;
  const scheduler::RowPartition part({B, problems, Hkv, rows, N}, executor_->workers(), row_quantum,
                                     4 * plan.blocking.mb);
  executor_->run(part.size(), [&](std::int64_t i, int /*worker*/) {
    const scheduler::WorkItem w = part.item(i);
    kernels::HeadProblem p = head_problem(q, k, v, o, params, w.batch, std::int64_t{w.head} * q_heads, q_heads);
    if (plan.gemm_only) make_gemm_only(p);
    const kernels::Tile tile{w.row_begin, w.row_end, w.key_begin, w.key_end};
    kernels::run_pipeline(plan.strategy, ks, p, tile, plan.blocking,
                          {scheduler::thread_scratch(ws_bytes), ws_bytes});
  });

  if (verbose_) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double entries = 0;
    for (std::int64_t b = 0; b < B; ++b) entries += visible_entries(head_problem(q, k, v, o, params, b, 0, 1)) * Hq;
    const double flops = 2.0 * entries * (D + Dv);
    std::fprintf(stderr,
                 "attnrt: B=%lld Hq=%lld Hkv=%lld M=%d N=%d D=%d Dv=%d dtype=%d isa=%s strategy=%s%s "
                 "mb=%d nb=%d stage=%zu pipe_ahead=%d%s threads=%d time=%.3f ms gflops=%.2f\n",
                 static_cast<long long>(B), static_cast<long long>(Hq), static_cast<long long>(Hkv), M, N, D, Dv,
                 static_cast<int>(q.dtype), ks.name, kernels::strategy_name(plan.strategy),
                 plan.gemm_only ? "(gemm_only)" : "", plan.blocking.mb, plan.blocking.nb,
                 plan.blocking.stage_bytes, plan.blocking.pipe_ahead, plan.group_heads ? " grouped" : "",
                 executor_->workers(), secs * 1e3, flops / secs * 1e-9);
  }
}

}  // namespace attnrt::rt
