#include "runtime/src/runtime.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/fp_env.hpp"
#include "kernels/pipelines/exact_rows.hpp"
#include "kernels/pipelines/pipeline.hpp"
#include "kernels/pipelines/scores.hpp"
#include "kernels/registry.hpp"
#include "runtime/src/cache_write.hpp"
#include "runtime/src/config.hpp"
#include "runtime/src/cpu_features.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/head_problem.hpp"
#include "runtime/src/plan.hpp"
#include "runtime/src/split_kv.hpp"
#include "runtime/src/tuning.hpp"
#include "runtime/src/validate.hpp"
#include "scheduler/partition.hpp"
#include "scheduler/thread_scratch.hpp"

namespace attnrt::rt {
namespace {

using kernels::DType;

// More workers than this per allowed core are refused (README: ATTNRT_NUM_THREADS).
constexpr int kMaxWorkersPerCore = 8;
// A worker's workspace: the built-in plans need under 20 MiB (Zen 4, D up
// to 512); more comes only from a tuning file's sizes, and is refused.
constexpr std::size_t kMaxWorkspaceBytes = std::size_t{256} << 20;

bool runs_here(const kernels::KernelSet* ks) {
  return ks && kernels::has_features(cpu_features().bits, ks->requires_cpu);
}

// The best set for dtype t this CPU runs: the first in the registry's order,
// unless it measures itself outpaced by a later one (KernelSet::outpaced),
// whose reason then goes to *note. Or, when `isa` names a set, that set
// (select_sets). A named set must exist for at least one dtype (avx512_bf16
// exists for bf16 only); dtypes it does not cover choose as usual. Naming a
// set the CPU cannot run is an error, never a silent fallback.
const kernels::KernelSet* best_set(DType t, std::string* note) {
  const auto sets = kernels::kernel_sets(t);
  for (auto it = sets.begin(); it != sets.end(); ++it) {
    if (!runs_here(*it)) continue;
    const bool later_runs = std::any_of(it + 1, sets.end(), runs_here);
    if (const char* why = later_runs && (*it)->outpaced ? (*it)->outpaced() : nullptr) {
      *note += std::string(note->empty() ? "" : "; ") + why;
      continue;
    }
    return *it;
  }
  fail(ATTNRT_INTERNAL_ERROR, "no kernel set runs on this CPU");
}

const kernels::KernelSet* named_set(DType t, const char* isa) {
  for (const kernels::KernelSet* ks : kernels::kernel_sets(t))
    if (ks && std::strcmp(ks->name, isa) == 0) return ks;
  return nullptr;
}

std::array<const kernels::KernelSet*, 3> select_sets(const char* isa, std::string* note) {
  std::array<const kernels::KernelSet*, 3> sets{};
  const char* isa_name = setting_name(isa, "ATTNRT_ISA", "config.isa");
  bool found = false;
  std::vector<std::string> known;  // sets of any dtype, each once
  for (int t = 0; t < 3; ++t) {
    const DType dt = static_cast<DType>(t);
    const kernels::KernelSet* ks = isa ? named_set(dt, isa) : nullptr;
    if (ks) {
      found = true;
      if (!runs_here(ks))
        fail(ATTNRT_UNSUPPORTED, isa_name, " (", isa, ") needs CPU features this machine lacks (it has: ",
             cpu_features().describe(), ")");
    }
    sets[t] = ks ? ks : best_set(dt, note);
    for (const kernels::KernelSet* k : kernels::kernel_sets(dt))
      if (k && std::find(known.begin(), known.end(), k->name) == known.end()) known.push_back(k->name);
  }
  if (isa && !found) {
    std::string list;
    for (const std::string& name : known) list += (list.empty() ? "" : ", ") + name;
    fail(ATTNRT_CONFIG_ERROR, isa_name, " (", isa, ") must name a kernel set of this build: ", list);
  }
  return sets;
}

// For each dtype whose set has no few-row path of its own, the set it
// names for its few-row blocks (KernelSet::few_rows_from), if this CPU runs
// it: e.g. bf16 decode on avx512_bf16 takes the avx512 set, which reads bf16
// rows in place (widening them to fp32 as it loads them), rather than
// packing K and V into bf16 pairs for a handful of query rows. None when
// ATTNRT_ISA named the set.
std::array<const kernels::KernelSet*, 3> select_direct_sets(const std::array<const kernels::KernelSet*, 3>& sets,
                                                            const char* isa) {
  std::array<const kernels::KernelSet*, 3> direct{};
  for (int t = 0; t < 3; ++t) {
    const kernels::KernelSet& own = *sets[t];
    if (kernels::has_direct_kv(own) || !own.few_rows_from || (isa && std::strcmp(isa, own.name) == 0)) continue;
    const kernels::KernelSet* from = own.few_rows_from();
    if (from && runs_here(from) && kernels::has_direct_kv(*from)) direct[t] = from;
  }
  return direct;
}

// For each dtype, the first later set of the registry named after the
// chosen one (<name>_<tiles>, the same CPU features) with other tiles: A64FX
// fp32, sve512's 8x3 and sve512_12x2. A call takes it where it pads less
// (padded_work). None when ATTNRT_ISA named the set.
std::array<const kernels::KernelSet*, 3> select_tile_sets(const std::array<const kernels::KernelSet*, 3>& sets,
                                                          const char* isa) {
  std::array<const kernels::KernelSet*, 3> tiles{};
  for (int t = 0; t < 3; ++t) {
    const kernels::KernelSet& own = *sets[t];
    if (isa && std::strcmp(isa, own.name) == 0) continue;
    const auto all = kernels::kernel_sets(static_cast<DType>(t));
    for (auto it = std::find(all.begin(), all.end(), sets[t]); it != all.end() && !tiles[t]; ++it)
      if (*it && std::string_view((*it)->name).starts_with(std::string(own.name) + "_") &&
          (*it)->requires_cpu == own.requires_cpu && runs_here(*it) &&
          ((*it)->mr != own.mr || (*it)->nr != own.nr || (*it)->nv != own.nv))
        tiles[t] = *it;
  }
  return tiles;
}

// The same head (or stacked group of heads) from row r0 on, writing `rows`
// rows of O and LSE per head to a split-KV piece's own buffers (row stride
// dv, heads one after another) instead of the user's.
kernels::HeadProblem rows_into_piece(kernels::HeadProblem p, int r0, int rows, void* o, float* lse) {
  p.q = static_cast<const char*>(p.q) + r0 * p.ldq * kernels::dtype_size(p.dtype);
  if (p.bias) p.bias += r0 * p.ldbias;
  p.diag += r0;
  p.m = rows;
  p.o = o;
  p.ldo = p.dv;
  p.hso = std::int64_t{rows} * p.dv;
  p.lse = lse;
  p.ldlse = 1;
  p.hslse = rows;
  p.lse_unshifted = true;  // merge_line adds the ALiBi peak back
  p.sinks = nullptr;       // and joins the sink
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
  tuning_row_ = config.uarch ? kernels::uarch_tuning_named(config.uarch)  // check_config: a row's name
                             : &kernels::uarch_tuning(cpu_features().uarch);
  sets_ = select_sets(config.isa, &set_note_);
  direct_sets_ = select_direct_sets(sets_, config.isa);
  tile_sets_ = select_tile_sets(sets_, config.isa);
  default_strategy_ = config.strategy;
  tuning_ = load_tuning_from_env();
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
  // Each worker's workspace is made and touched below, so oversubscribing
  // costs memory and time for no speed: 4096 workers on 2 cores took 20 GiB.
  const int cores = placement_->allowed_cores(), most = kMaxWorkersPerCore * cores;
  if (placement_->workers() > most)
    fail(ATTNRT_CONFIG_ERROR, setting_name(config.num_threads, "ATTNRT_NUM_THREADS", "config.num_threads"), " (",
         config.num_threads, ") must be at most ", most, " (", kMaxWorkersPerCore,
         " workers per allowed core; allowed cores: ", cores, ")");
  executor_ = scheduler::make_executor(kind, *placement_);
  arena_ = std::make_unique<scheduler::Arena>(*placement_, largest_workspace());
  for (std::size_t d = 0; d < placement_->machine().domains().size(); ++d) {
    const scheduler::Slice s = arena_->shared(static_cast<int>(d));
    kv_slots_.push_back(s.bytes ? std::make_unique<scheduler::SharedSlots>(s.data, s.bytes) : nullptr);
  }
  if (verbose_)
    std::fprintf(stderr, "attnrt: cpu %s, isa %s, executor %s\nattnrt: %s\nattnrt: %s\nattnrt: %s\n",
                 cpu_features().describe().c_str(), isa(), executor_->name(),
                 placement_->machine().describe().c_str(), placement_->describe().c_str(),
                 arena_->describe().c_str());
  if (verbose_ && !set_note_.empty()) std::fprintf(stderr, "attnrt: %s\n", set_note_.c_str());
  if (verbose_) {
    // The CPU's row of the tuning table and what the chosen sets take from it.
    std::string few;
    for (const kernels::KernelSet* ks : sets_) {
      const kernels::KernelSet* from = ks->few_rows_from ? ks->few_rows_from() : nullptr;
      const kernels::FewRowKernels* f =
          kernels::few_rows_for(*tuning_row_, from ? *from : *ks, cpu_features().bits);
      const std::string item = std::string(ks->name) + (from ? std::string(" via ") + from->name : "") + " " +
                               (f ? f->name : "none");
      if (few.find(item) != std::string::npos) continue;
      few += (few.empty() ? "" : "; ") + item;
      if (f && f->stream != kernels::StreamParams{})
        few += " (" + std::to_string(f->stream.rows_ahead) + " rows ahead, " +
               std::to_string(f->stream.keys_per_pass) + " keys per pass" +
               (f->stream.across_pages ? ", across pages" : "") + (f->stream.into_l2 ? ", into L2" : "") +
               (f->stream.dense_by_hardware ? ", dense K/V by hardware)" : ")");
    }
    std::fprintf(stderr, "attnrt: uarch %s (%s; family %d model %d), few-row kernels: %s\n", tuning_row_->name,
                 config.uarch ? setting_name(config.uarch, "ATTNRT_UARCH", "config.uarch") : "this CPU's",
                 cpu_features().family, cpu_features().model, few.c_str());
  }
}

std::size_t Runtime::largest_workspace() const {
  // Every plan the table (built-in and tuning file) can make, over head dims
  // and extreme lengths: forward() refuses a table plan that needs more.
  // Head dims: powers of two up to the largest, and those rules name.
  std::vector<int> dims = {32, 64, 128, 256, kernels::kMaxHeadDim};
  // Lengths: extremes and the bounds of every tuning rule, whose block sizes
  // may hold only at the exact lengths it names.
  std::vector<std::int64_t> lens = {1, 16, 4096, std::int64_t{1} << 30};
  for (const PlanRule& r : tuning_) {
    if (r.d > 0) dims.push_back(r.d);
    for (std::int64_t x : {r.m.lo, r.m.hi, r.n.lo, r.n.hi})
      if (x > 0) lens.push_back(x);
  }
  constexpr std::int64_t kGroups[] = {1, 8, 64};
  constexpr attnrt_strategy kStrategies[] = {ATTNRT_STRATEGY_AUTO, ATTNRT_STRATEGY_ONLINE,
                                             ATTNRT_STRATEGY_TWO_PASS, ATTNRT_STRATEGY_THREE_PASS};
  std::size_t most = 0;
  std::vector<const kernels::KernelSet*> sets(sets_.begin(), sets_.end());
  for (const auto* extra : {&direct_sets_, &tile_sets_})
    for (const kernels::KernelSet* ks : *extra)
      if (ks) sets.push_back(ks);
  for (const kernels::KernelSet* ks : sets)
    for (attnrt_strategy s : kStrategies) {
      for (int d : dims)
        for (int dv : dims)
          for (std::int64_t m : lens)
            for (std::int64_t n : lens)
              for (std::int64_t g : kGroups) {
                const PlanShape shape{ks->dtype, d, dv, m, n, g, 1, 1, placement_->l2_share_bytes()};
                const std::size_t bytes = workspace_of(*ks, shape, s, tuning_);
                if (bytes > kMaxWorkspaceBytes) refuse_rule_of(*ks, shape, s);
                most = std::max(most, bytes);
              }
    }
  return most;
}

std::size_t Runtime::workspace_of(const kernels::KernelSet& ks, const PlanShape& shape, attnrt_strategy s,
                                  const PlanTable& table) {
  const Plan p = choose_plan(ks, shape, s, table);
  return kernels::workspace_bytes(p.strategy, ks, shape.d, shape.dv, p.blocking);
}

void Runtime::refuse_rule_of(const kernels::KernelSet& ks, const PlanShape& shape, attnrt_strategy s) const {
  // Only a tuning rule's sizes can ask this much: name the first that does.
  const char* file = std::getenv("ATTNRT_TUNING_FILE");  // where tuning_ came from
  for (const PlanRule& r : tuning_)
    if (const std::size_t bytes = workspace_of(ks, shape, s, PlanTable{r}); bytes > kMaxWorkspaceBytes)
      fail(ATTNRT_CONFIG_ERROR, "ATTNRT_TUNING_FILE (", file ? file : "", "): the rule '",
           tuning_line(r), "' makes plans that need ", bytes >> 20, " MiB of workspace per worker (", ks.name,
           ", D=", shape.d, " Dv=", shape.dv, "), more than the ", kMaxWorkspaceBytes >> 20, " MiB a worker may have");
  fail(ATTNRT_INTERNAL_ERROR, "a built-in plan needs more than ", kMaxWorkspaceBytes >> 20,
       " MiB of workspace per worker (", ks.name, ", D=", shape.d, " Dv=", shape.dv, ")");
}

void Runtime::cache_write(const attnrt_tensor* src, const attnrt_tensor* cache, const attnrt_tensor* scale,
                          const std::int64_t* slots) {
  rt::cache_write(src, cache, scale, slots, executor_.get());
}

// The plan and the partition are arithmetic too (the cost model's cuts):
// made in the caller's rounding mode, they moved split-KV boundaries, and
// so the result's bits, on some shapes. The calling thread holds the
// kernels' mode for the whole call.
void Runtime::forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                      const attnrt_tensor& o, const attnrt_params& params) {
  const kernels::DefaultFpEnvScope fp_env;
  validate(&q, &k, &v, &o, params);
  run(q, k, v, o, params, choose(q, k, v, params), false);
}

void Runtime::forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                      const attnrt_tensor& o, const attnrt_params& params, const Plan& plan) {
  const kernels::DefaultFpEnvScope fp_env;
  validate(&q, &k, &v, &o, params);
  check_plan(kernel_set(q.dtype, plan), plan);
  run(q, k, v, o, params, plan, true);
}

Plan Runtime::plan_for(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                       const attnrt_tensor& o, const attnrt_params& params) const {
  const kernels::DefaultFpEnvScope fp_env;  // the plan forward() would make
  validate(&q, &k, &v, &o, params);
  return choose(q, k, v, params);
}

Plan Runtime::choose(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                     const attnrt_params& params) const {
  // The one place a call's plan is made. A varlen call is planned for its
  // longest sequence, where most of its work is.
  const CallExtent e = call_extent(q, k, params);
  const PlanShape shape{static_cast<DType>(q.dtype), static_cast<int>(q.shape[3]),
                        static_cast<int>(v.shape[3]), e.rows, e.keys,
                        q.shape[1] / k.shape[1], e.batches * q.shape[1], placement_->workers(),
                        placement_->l2_share_bytes()};
  const attnrt_strategy requested = params.strategy != ATTNRT_STRATEGY_AUTO ? params.strategy : default_strategy_;
  const kernels::KernelSet* ks = &kernel_set(q.dtype);
  if (const kernels::KernelSet* tiles = tile_sets_[q.dtype]; tiles && padded_work(*tiles, shape) < padded_work(*ks, shape))
    ks = tiles;
  Plan plan = choose_plan(*ks, shape, requested, tuning_);
  if (ks != &kernel_set(q.dtype)) plan.kernel_set = ks;
  const int hand_over_max = kernel_set(q.dtype).few_rows_from_max_rows;
  if (const kernels::KernelSet* direct = direct_sets_[q.dtype];
      direct && !plan.blocking.direct_kv && (hand_over_max == 0 || block_rows(shape) <= hand_over_max)) {
    // A few-row shape whose set would pack K and V: the set that reads them
    // directly, if its plan does.
    if (Plan alt = choose_plan(*direct, shape, requested, tuning_); alt.blocking.direct_kv) {
      plan = alt;
      plan.kernel_set = ks = direct;
    }
  }
  // A direct plan names the few-row kernels built for this CPU's row of the
  // tuning table and its features.
  plan.blocking.few_rows =
      plan.blocking.direct_kv ? kernels::few_rows_for(*tuning_row_, *ks, cpu_features().bits) : nullptr;
  if (!fit_workspace(*ks, shape.d, shape.dv, arena_->workspace_bytes(), plan))
    fail(ATTNRT_INTERNAL_ERROR, "no plan for D=", shape.d, " Dv=", shape.dv, " fits the ", arena_->workspace_bytes(),
         " bytes of workspace per worker the arena was sized for");
  return plan;
}

Runtime::Split Runtime::split(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                              const attnrt_params& params) const {
  return split_with(q, k, params, choose(q, k, v, params));
}

Runtime::Split Runtime::split_with(const attnrt_tensor& q, const attnrt_tensor& k,
                                   const attnrt_params& params, const Plan& plan) const {
  const kernels::KernelSet& ks = kernel_set(q.dtype, plan);
  Split s{plan, {}, {}};
  const CallExtent e = call_extent(q, k, params);
  s.shape.batch = e.batches;
  s.shape.heads = q.shape[1];
  s.shape.kv_heads = k.shape[1];
  s.shape.rows = e.rows;
  s.shape.keys = e.keys;
  s.shape.kv_lens = params.kv_lens;
  s.shape.cu_rows = params.cu_seqlens_q;
  s.shape.cu_keys = params.cu_seqlens_k;
  s.shape.band = mask_band(params, q.shape[2], key_capacity(k, params));
  s.shape.bottom_right = params.align == ATTNRT_ALIGN_BOTTOM_RIGHT;
  // Grouped plans stack a (batch, KV head) group's query heads into one unit
  // whose line is all of their rows; otherwise a line is a row block.
  s.options.stack_group = plan.group_heads;
  s.options.rows_per_line = plan.group_heads ? static_cast<int>(e.rows) : plan.blocking.mb;
  s.options.key_quantum = kernels::key_step(ks);  // key splits on whole Q.K^T tiles and k_pack pairs
  s.options.split_keys = plan.split_keys;
  return s;
}

void Runtime::run(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                  const attnrt_tensor& o, const attnrt_params& params, const Plan& plan,
                  bool explicit_plan) {
  const auto t0 = verbose_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};

  const kernels::KernelSet& ks = kernel_set(q.dtype, plan);
  const std::int64_t Hq = q.shape[1], Hkv = k.shape[1];
  const int M = static_cast<int>(q.shape[2]);
  const int D = static_cast<int>(q.shape[3]), Dv = static_cast<int>(v.shape[3]);
  const Split sp = split_with(q, k, params, plan);
  const int rows = static_cast<int>(sp.shape.rows);  // M, or a varlen call's longest sequence
  const std::size_t ws_bytes = kernels::workspace_bytes(plan.strategy, ks, D, Dv, plan.blocking);
  // Table plans always fit the arena (it was sized for them); an explicit
  // plan (plan_override.hpp: benchmarks, tuning) may not, and then runs on
  // per-thread scratch, allocated once per thread and size.
  const bool fits = ws_bytes <= arena_->workspace_bytes();
  if (!fits && !explicit_plan)
    fail(ATTNRT_INTERNAL_ERROR, "the plan needs ", ws_bytes, " bytes of workspace per worker but the arena, sized "
         "when the runtime was made for the largest plan, has ", arena_->workspace_bytes());
  const std::size_t esz = kernels::dtype_size(ks.dtype);
  const int group = sp.options.stack_group ? static_cast<int>(Hq / Hkv) : 1;

  const int piece_rows = sp.options.stack_group ? rows * group : std::min(plan.blocking.mb, rows);
  const CallScratch scratch(placement_->workers(), sp.options.parts_per_worker, piece_rows, Dv, ks.dtype);
  const scheduler::Partition part(sp.shape, sp.options, *placement_, scratch.partition_state());
  part.for_each_split_line([&](int line, int n) { scratch.pending(line).store(n, std::memory_order_relaxed); });
  const CallKvShare kv_share(kv_slots_, part, *placement_,
                             kernels::shared_panels_bytes(plan.strategy, ks, D, Dv, plan.blocking), kv_share_mode_);

  // Merges a split line once its last piece is in, whichever worker that is:
  // head by head for a stacked group (a piece holds the group's rows head
  // after head).
  auto merge_line = [&](const scheduler::WorkItem& w) {
    const int rows = w.row_end - w.row_begin;
    for (int g = 0; g < w.heads; ++g) {
      const kernels::HeadProblem p = head_problem(q, k, v, o, params, w.batch, w.head + g, 1);
      const float sink = p.sinks ? p.sinks[0] : -std::numeric_limits<float>::infinity();
      merge_partials(
          rows, Dv, ks.dtype,
          [&](scheduler::FunctionRef<void(const PartialRows&)> emit) {
            part.for_each_piece(w.line, [&](int slot, int, int) {
              emit({static_cast<const char*>(scratch.piece_o(slot)) + std::size_t(g) * rows * Dv * esz, Dv,
                    scratch.piece_lse(slot) + g * rows});
            });
          },
          [&](int r) { return kernels::alibi_peak_shift(p, w.row_begin + r); },
          sink, static_cast<char*>(p.o) + w.row_begin * p.ldo * esz, p.ldo,
          p.lse ? p.lse + w.row_begin * p.ldlse : nullptr, p.ldlse,
          // Every key of the row (exact_row keeps to its band): the pieces' together.
          [&](int r) { kernels::exact_row(p, {w.row_begin, w.row_end, 0, p.n}, w.row_begin + r); });
    }
  };

  executor_->run(part.parts(), part.parts_per_worker(), [&](int part_index, int worker) {
    const kernels::DefaultFpEnvScope fp_env;  // the caller's FP mode never reaches a result
    const scheduler::Slice arena_ws = arena_->workspace(worker);
    kernels::Workspace ws = fits ? kernels::Workspace{arena_ws.data, arena_ws.bytes}
                                 : kernels::Workspace{scheduler::thread_scratch(ws_bytes, scheduler::ScratchUse::workspace), ws_bytes};
    scheduler::SharedSlots* domain_slots = kv_share.slots(placement_->domain_of(worker));
    part.for_each_item(part_index, [&](const scheduler::WorkItem& w) {
      ItemKvShare item_share(domain_slots, w.batch, w.head / (Hq / Hkv));
      ws.kv_share = item_share.handle();
      kernels::HeadProblem p = head_problem(q, k, v, o, params, w.batch, w.head, w.heads);
      // A stacked item is whole rows of every head of its group: packed rows.
      kernels::Tile tile{w.row_begin * w.heads, w.row_end * w.heads, w.key_begin, w.key_end};
      if (w.piece >= 0) {
        p = rows_into_piece(p, w.row_begin, w.row_end - w.row_begin, scratch.piece_o(w.piece),
                            scratch.piece_lse(w.piece));
        tile.row_begin = 0;
        tile.row_end = (w.row_end - w.row_begin) * w.heads;
      }
      kernels::run_pipeline(plan.strategy, ks, p, tile, plan.blocking, ws);
      if (w.piece >= 0 && scratch.pending(w.line).fetch_sub(1, std::memory_order_acq_rel) == 1) merge_line(w);
    });
  });

  if (verbose_) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double flops = 2.0 * part.total_cost() * (D + Dv);
    std::fprintf(stderr,
                 "attnrt: %s=%lld Hq=%lld Hkv=%lld M=%d N=%lld%s D=%d Dv=%d dtype=%d isa=%s strategy=%s "
                 "mb=%d nb=%d stage=%zu pipe_ahead=%d%s%s threads=%d parts=%d balance=%.3f kv_shared=%d "
                 "time=%.3f ms gflops=%.2f\n",
                 params.cu_seqlens_q ? "varlen seqs" : "B", static_cast<long long>(sp.shape.batch),
                 static_cast<long long>(Hq), static_cast<long long>(Hkv), M,
                 static_cast<long long>(sp.shape.keys), params.block_table ? " paged" : "", D, Dv,
                 static_cast<int>(q.dtype), ks.name, kernels::strategy_name(plan.strategy), plan.blocking.mb,
                 plan.blocking.nb,
                 plan.blocking.stage_bytes, plan.blocking.pipe_ahead, plan.blocking.direct_kv ? " direct" : "",
                 plan.group_heads ? " grouped" : "",
                 executor_->workers(), part.parts(), part.balance(), kv_share.domains_sharing(), secs * 1e3,
                 flops / secs * 1e-9);
  }
}

}  // namespace attnrt::rt
