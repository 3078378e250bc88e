#include "runtime/src/runtime.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "kernels/pipelines/pipeline.hpp"
#include "kernels/registry.hpp"
#include "runtime/src/config.hpp"
#include "runtime/src/cpu_features.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/plan.hpp"
#include "runtime/src/split_kv.hpp"
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

// The last key a query may see, relative to its diagonal; causal caps it at 0.
std::int64_t window_right(const attnrt_params& p) {
  if (!p.causal) return p.window_right;
  return p.window_right < 0 ? 0 : std::min<std::int64_t>(p.window_right, 0);
}

// The same head from row r0 on, writing `rows` rows of O and LSE to a
// split-KV piece's own buffers (row stride dv) instead of the user's.
kernels::HeadProblem rows_into_piece(kernels::HeadProblem p, int r0, int rows, void* o, float* lse) {
  p.q = static_cast<const char*>(p.q) + r0 * p.ldq * kernels::dtype_size(p.dtype);
  if (p.bias) p.bias += r0 * p.ldbias;
  p.diag += r0;
  p.m = rows;
  p.o = o;
  p.ldo = p.dv;
  p.lse = lse;
  p.ldlse = 1;
  return p;
}

scheduler::Bind bind_of(const char* bind) {
  if (bind && !std::strcmp(bind, "none")) return scheduler::Bind::none;
  if (bind && !std::strcmp(bind, "domain")) return scheduler::Bind::domain;
  return scheduler::Bind::core;
}

}  // namespace

Runtime::Runtime(const attnrt_config& config) {
  check_config(config);
  for (int t = 0; t < 3; ++t) sets_[t] = select_set(static_cast<DType>(t), config.isa);
  default_strategy_ = config.strategy;
  verbose_ = config.verbose != 0;

  using scheduler::ExecutorKind;
  ExecutorKind kind = scheduler::has_executor(ExecutorKind::tbb) ? ExecutorKind::tbb : ExecutorKind::openmp;
  if (config.executor == ATTNRT_EXECUTOR_OPENMP) kind = ExecutorKind::openmp;
  if (config.executor == ATTNRT_EXECUTOR_TBB) {
    if (!scheduler::has_executor(ExecutorKind::tbb))
      fail(ATTNRT_UNSUPPORTED, setting_name("tbb", "ATTNRT_EXECUTOR", "config.executor"),
           " (tbb): this build has no oneTBB; use openmp");
    kind = ExecutorKind::tbb;
  }

  std::optional<scheduler::Machine> machine;
  try {
    machine.emplace(scheduler::Machine::from(config.topology ? config.topology : ""));
  } catch (const scheduler::TopologyError& e) {
    if (config.topology)
      fail(ATTNRT_CONFIG_ERROR, setting_name(config.topology, "ATTNRT_TOPOLOGY", "config.topology"), " (",
           config.topology, "): ", e.what());
    fail(ATTNRT_INTERNAL_ERROR, "reading this machine's topology: ", e.what());
  }
  const char* domains_name = setting_name(config.domains, "ATTNRT_DOMAINS", "config.domains");
  const std::uint64_t domains = config.domains ? parse_domains(domains_name, config.domains) : 0;
  try {
    placement_ = std::make_unique<scheduler::Placement>(std::move(*machine), domains, config.num_threads,
                                                        bind_of(config.bind));
  } catch (const scheduler::PlacementError& e) {
    fail(ATTNRT_CONFIG_ERROR, domains_name, " (", config.domains ? config.domains : "", "): ", e.what());
  }
  executor_ = scheduler::make_executor(kind, *placement_);
  arena_ = std::make_unique<scheduler::Arena>(*placement_, largest_workspace());
  if (verbose_)
    std::fprintf(stderr, "attnrt: cpu %s, isa %s, executor %s\nattnrt: %s\nattnrt: %s\nattnrt: %s\n",
                 cpu_features().describe().c_str(), isa(), executor_->name(),
                 placement_->machine().describe().c_str(), placement_->describe().c_str(),
                 arena_->describe().c_str());
}

Plan Runtime::plan_for(const kernels::KernelSet& ks, int d, int dv, std::int64_t m, std::int64_t n,
                       attnrt_strategy requested) const {
  // The one place plans are made, for calls and for sizing the arena alike.
  // placement_->l2_share_bytes() is the L2 a core can count on (8 MiB / 12 on
  // an A64FX CMG): the budget for three_pass's staging slice.
  return choose_plan(ks, d, dv, m, n, requested);
}

std::size_t Runtime::largest_workspace() const {
  // Every plan this runtime can make, over head dims and extreme lengths:
  // forward() refuses a plan that needs more (see docs/scheduler.md).
  constexpr int kDims[] = {32, 64, 128, 256, kernels::kMaxHeadDim};
  constexpr std::int64_t kLens[] = {1, 4096, std::int64_t{1} << 30};
  constexpr attnrt_strategy kStrategies[] = {ATTNRT_STRATEGY_AUTO, ATTNRT_STRATEGY_ONLINE,
                                             ATTNRT_STRATEGY_TWO_PASS, ATTNRT_STRATEGY_THREE_PASS};
  std::size_t most = 0;
  for (const kernels::KernelSet* ks : sets_)
    for (attnrt_strategy s : kStrategies) {
      if (s != ATTNRT_STRATEGY_AUTO && !kernels::has_pipeline(static_cast<kernels::Strategy>(s))) continue;
      for (int d : kDims)
        for (int dv : kDims)
          for (std::int64_t m : kLens)
            for (std::int64_t n : kLens) {
              const Plan p = plan_for(*ks, d, dv, m, n, s);
              most = std::max(most, kernels::workspace_bytes(p.strategy, *ks, d, dv, p.blocking));
            }
    }
  return most;
}

Runtime::Split Runtime::split(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                              const attnrt_params& params) const {
  const kernels::KernelSet& ks = *kernel_set(q.dtype);
  const attnrt_strategy requested = params.strategy != ATTNRT_STRATEGY_AUTO ? params.strategy : default_strategy_;
  Split s{plan_for(ks, static_cast<int>(q.shape[3]), static_cast<int>(v.shape[3]), q.shape[2], k.shape[2],
                   requested),
          {}, {}};
  s.shape.batch = q.shape[0];
  s.shape.heads = q.shape[1];
  s.shape.kv_heads = k.shape[1];
  s.shape.rows = q.shape[2];
  s.shape.keys = k.shape[2];
  s.shape.kv_lens = params.kv_lens;
  s.shape.left = params.window_left;
  s.shape.right = window_right(params);
  s.shape.bottom_right = params.align == ATTNRT_ALIGN_BOTTOM_RIGHT;
  s.options.rows_per_line = s.plan.blocking.mb;  // a line is a pipeline row block
  s.options.key_quantum = ks.nr;                  // key splits on whole Q.K^T tiles where cheap
  return s;
}

void Runtime::forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                      const attnrt_tensor& o, const attnrt_params& params) {
  validate(&q, &k, &v, &o, params);
  const auto t0 = verbose_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

  const kernels::KernelSet& ks = *kernel_set(q.dtype);
  const std::int64_t B = q.shape[0], Hq = q.shape[1], Hkv = k.shape[1];
  const int M = static_cast<int>(q.shape[2]), N = static_cast<int>(k.shape[2]);
  const int D = static_cast<int>(q.shape[3]), Dv = static_cast<int>(v.shape[3]);
  const Split split_plan = split(q, k, v, params);
  const Plan& plan = split_plan.plan;
  const std::size_t ws_bytes = kernels::workspace_bytes(plan.strategy, ks, D, Dv, plan.blocking);
  if (ws_bytes > arena_->workspace_bytes())
    fail(ATTNRT_INTERNAL_ERROR, "the plan needs ", ws_bytes, " bytes of workspace per worker but the arena, sized "
         "when the runtime was made for the largest plan, has ", arena_->workspace_bytes());
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
    p.right = window_right(params);
    p.precision = static_cast<kernels::Exp2Precision>(params.precision);
    return p;
  };

  const int piece_rows = std::min(plan.blocking.mb, M) * (split_plan.options.stack_group ? static_cast<int>(group) : 1);
  const CallScratch scratch(placement_->workers(), split_plan.options.parts_per_worker, piece_rows, Dv, ks.dtype);
  const scheduler::Partition part(split_plan.shape, split_plan.options, *placement_, scratch.partition_state());
  part.for_each_split_line([&](int line, int n) { scratch.pending(line).store(n, std::memory_order_relaxed); });

  // Merges a split line once its last piece is in, whichever worker that is.
  auto merge_line = [&](const scheduler::WorkItem& w) {
    const kernels::HeadProblem p = head_problem(w.batch, w.head);
    merge_partials(
        w.row_end - w.row_begin, Dv, ks.dtype,
        [&](scheduler::FunctionRef<void(const PartialRows&)> emit) {
          part.for_each_piece(w.line, [&](int slot, int, int) {
            emit({scratch.piece_o(slot), Dv, scratch.piece_lse(slot)});
          });
        },
        static_cast<char*>(p.o) + w.row_begin * p.ldo * esz, p.ldo, p.lse ? p.lse + w.row_begin * p.ldlse : nullptr,
        p.ldlse);
  };

  executor_->run(part.parts(), part.parts_per_worker(), [&](int part_index, int worker) {
    const scheduler::Slice ws = arena_->workspace(worker);
    part.for_each_item(part_index, [&](const scheduler::WorkItem& w) {
      kernels::HeadProblem p = head_problem(w.batch, w.head);
      kernels::Tile tile{w.row_begin, w.row_end, w.key_begin, w.key_end};
      if (w.piece >= 0) {
        p = rows_into_piece(p, w.row_begin, w.row_end - w.row_begin, scratch.piece_o(w.piece),
                            scratch.piece_lse(w.piece));
        tile.row_begin = 0;
        tile.row_end = w.row_end - w.row_begin;
      }
      kernels::run_pipeline(plan.strategy, ks, p, tile, plan.blocking, {ws.data, ws.bytes});
      if (w.piece >= 0 && scratch.pending(w.line).fetch_sub(1, std::memory_order_acq_rel) == 1) merge_line(w);
    });
  });

  if (verbose_) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = 2.0 * part.total_cost() * (D + Dv);
    std::fprintf(stderr,
                 "attnrt: B=%lld Hq=%lld Hkv=%lld M=%d N=%d D=%d Dv=%d dtype=%d isa=%s strategy=%s "
                 "threads=%d parts=%d balance=%.3f time=%.3f ms gflops=%.2f\n",
                 static_cast<long long>(B), static_cast<long long>(Hq), static_cast<long long>(Hkv), M, N, D, Dv,
                 static_cast<int>(q.dtype), ks.name, kernels::strategy_name(plan.strategy),
                 executor_->workers(), part.parts(), part.balance(), secs * 1e3, flops / secs * 1e-9);
  }
}

}  // namespace attnrt::rt
