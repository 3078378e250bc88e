#include "runtime/src/runtime.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "kernels/pipelines/pipeline.hpp"
#include "kernels/registry.hpp"
#include "runtime/src/config.hpp"
#include "runtime/src/cpu_features.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/plan.hpp"
#include "runtime/src/validate.hpp"
#include "scheduler/partition.hpp"

namespace attnrt::rt {
namespace {

using kernels::DType;

// The best set for dtype t that this CPU runs, or the one named by `isa`
// (an error if the CPU lacks it or it does not exist).
const kernels::KernelSet* select_set(DType t, const char* isa) {
  const CpuFeatures& cpu = cpu_features();
  std::string known;
  for (const kernels::KernelSet* ks : kernels::kernel_sets(t)) {
    if (!ks) continue;
    const bool runs = (ks->requires_cpu & cpu.bits) == ks->requires_cpu;
    if (!isa) {
      if (runs) return ks;
      continue;
    }
    if (!known.empty()) known += ", ";
    known += ks->name;
    if (std::strcmp(ks->name, isa) != 0) continue;
    if (!runs) fail(ATTNRT_UNSUPPORTED, "ATTNRT_ISA (", isa, ") needs CPU features this machine lacks (it has: ", cpu.describe(), ")");
    return ks;
  }
  if (isa) fail(ATTNRT_CONFIG_ERROR, "ATTNRT_ISA (", isa, ") must name a kernel set of this build: ", known);
  fail(ATTNRT_INTERNAL_ERROR, "no kernel set runs on this CPU");
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
  for (int t = 0; t < 3; ++t) sets_[t] = select_set(static_cast<DType>(t), config.isa);
  default_strategy_ = config.strategy;
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
  const auto t0 = verbose_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

  const kernels::KernelSet& ks = *kernel_set(q.dtype);
  const std::int64_t B = q.shape[0], Hq = q.shape[1], Hkv = k.shape[1];
  const int M = static_cast<int>(q.shape[2]), N = static_cast<int>(k.shape[2]);
  const int D = static_cast<int>(q.shape[3]), Dv = static_cast<int>(v.shape[3]);
  const attnrt_strategy requested = params.strategy != ATTNRT_STRATEGY_AUTO ? params.strategy : default_strategy_;
  const Plan plan = choose_plan(ks, D, Dv, M, N, requested);
  const std::size_t ws_bytes = kernels::workspace_bytes(plan.strategy, ks, D, Dv, plan.blocking);
  const std::size_t esz = kernels::dtype_size(ks.dtype);
  const float scale = params.scale != 0.0f ? params.scale : 1.0f / std::sqrt(static_cast<float>(D));
  const std::int64_t group = Hq / Hkv;

  // Everything about head (b, h) except pointers is the same for all h.
  auto head_problem = [&](std::int64_t b, std::int64_t h) {
    kernels::HeadProblem p{};
    p.dtype = ks.dtype;
    p.m = M;
    p.n = params.kv_lens ? static_cast<int>(params.kv_lens[b]) : N;
    p.d = D;
    p.dv = Dv;
    const std::int64_t hk = h / group;
    p.q = static_cast<const char*>(q.data) + (b * q.stride[0] + h * q.stride[1]) * esz;
    p.k = static_cast<const char*>(k.data) + (b * k.stride[0] + hk * k.stride[1]) * esz;
    p.v = static_cast<const char*>(v.data) + (b * v.stride[0] + hk * v.stride[1]) * esz;
    p.o = static_cast<char*>(o.data) + (b * o.stride[0] + h * o.stride[1]) * esz;
    p.ldq = q.stride[2];
    p.ldk = k.stride[2];
    p.ldv = v.stride[2];
    p.ldo = o.stride[2];
    if (params.lse) {
      const attnrt_tensor& l = *params.lse;
      p.lse = static_cast<float*>(l.data) + b * l.stride[0] + h * l.stride[1];
      p.ldlse = l.stride[2];
    }
    if (params.bias) {
      const attnrt_tensor& bi = *params.bias;
      p.bias = static_cast<const float*>(bi.data) + (bi.shape[0] == 1 ? 0 : b) * bi.stride[0] +
               (bi.shape[1] == 1 ? 0 : h) * bi.stride[1];
      p.ldbias = bi.stride[2];
    }
    p.scale = scale;
    p.softcap = params.softcap;
    p.diag = params.align == ATTNRT_ALIGN_BOTTOM_RIGHT ? std::int64_t{p.n} - M : 0;
    p.left = params.window_left;
    p.right = params.causal ? (params.window_right < 0 ? 0 : std::min<std::int64_t>(params.window_right, 0))
                            : params.window_right;
    p.precision = static_cast<kernels::Exp2Precision>(params.precision);
    return p;
  };

  const scheduler::RowPartition part({B, Hq, Hkv, M, N}, executor_->workers(), ks.mr, 2 * plan.blocking.mb);
  executor_->run(part.size(), [&](std::int64_t i, int /*worker*/) {
    const scheduler::WorkItem w = part.item(i);
    const kernels::HeadProblem p = head_problem(w.batch, w.head);
    const kernels::Tile tile{w.row_begin, w.row_end, w.key_begin, w.key_end};
    kernels::run_pipeline(plan.strategy, ks, p, tile, plan.blocking,
                          {scheduler::thread_scratch(ws_bytes), ws_bytes});
  });

  if (verbose_) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double entries = 0;
    for (std::int64_t b = 0; b < B; ++b) entries += visible_entries(head_problem(b, 0)) * Hq;
    const double flops = 2.0 * entries * (D + Dv);
    std::fprintf(stderr,
                 "attnrt: B=%lld Hq=%lld Hkv=%lld M=%d N=%d D=%d Dv=%d dtype=%d isa=%s strategy=%s "
                 "threads=%d time=%.3f ms gflops=%.2f\n",
                 static_cast<long long>(B), static_cast<long long>(Hq), static_cast<long long>(Hkv), M, N, D, Dv,
                 static_cast<int>(q.dtype), ks.name, kernels::strategy_name(plan.strategy),
                 executor_->workers(), secs * 1e3, flops / secs * 1e-9);
  }
}

}  // namespace attnrt::rt
