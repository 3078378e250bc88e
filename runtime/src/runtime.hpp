// A Runtime owns what calls share: the chosen kernel sets, the tuning
// rules, the machine's placement of workers, the executor and the
// per-domain arena. Safe to call from many threads at once.
#pragma once

#include <attnrt/attnrt.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "kernels/kernel_set.hpp"
#include "kernels/tuning.hpp"
#include "runtime/src/kv_share.hpp"
#include "runtime/src/plan.hpp"
#include "scheduler/arena.hpp"
#include "scheduler/executor.hpp"
#include "scheduler/partition.hpp"
#include "scheduler/placement.hpp"

struct attnrt_runtime {
  virtual ~attnrt_runtime() = default;
};

namespace attnrt::rt {

class Runtime final : public attnrt_runtime {
 public:
  explicit Runtime(const attnrt_config& config);

  // The call, with the plan the table (and the requested strategy) chooses.
  void forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
               const attnrt_tensor& o, const attnrt_params& params);
  // The call with an explicit plan (plan_override.hpp).
  void forward(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
               const attnrt_tensor& o, const attnrt_params& params, const Plan& plan);
  // attnrt_cache_write on this runtime's workers (cache_write.hpp).
  void cache_write(const attnrt_tensor* src, const attnrt_tensor* cache, const attnrt_tensor* scale,
                   const std::int64_t* slots);
  // The plan forward() would run (the call is validated first).
  Plan plan_for(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                const attnrt_tensor& o, const attnrt_params& params) const;

  const kernels::KernelSet& kernel_set(attnrt_dtype t) const { return *sets_[t]; }
  // The set a plan runs on: its own, else the dtype's.
  const kernels::KernelSet& kernel_set(attnrt_dtype t, const Plan& plan) const {
    return plan.kernel_set ? *plan.kernel_set : *sets_[t];
  }
  const char* isa() const { return sets_[0]->name; }
  const char* uarch() const { return tuning_row_->name; }
  int num_threads() const { return executor_->workers(); }
  const scheduler::Placement& placement() const { return *placement_; }
  const scheduler::Executor& executor() const { return *executor_; }
  const scheduler::Arena& arena() const { return *arena_; }
  // Where K/V blocks are packed once per domain (kv_share.hpp). Tests and
  // comparisons set it before any call runs; results are the same either way.
  void set_kv_share(KvShareMode mode) { kv_share_mode_ = mode; }
  // K or V blocks a worker read from another's packing, over all calls.
  std::uint64_t kv_blocks_shared() const {
    std::uint64_t n = 0;
    for (const auto& s : kv_slots_) n += s ? s->reads() : 0;
    return n;
  }

  // How forward() splits a call with these tensors (only dtype and shape are
  // read; data may be null): attnrt-plan prints it.
  struct Split {
    Plan plan;
    scheduler::ProblemShape shape;
    scheduler::PartitionOptions options;
  };
  Split split(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
              const attnrt_params& params) const;

 private:
  Plan choose(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
              const attnrt_params& params) const;
  Split split_with(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_params& params,
                   const Plan& plan) const;
  // explicit_plan: given by the caller (plan_override.hpp), so it may need
  // more workspace than the arena was sized for.
  void run(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
           const attnrt_tensor& o, const attnrt_params& params, const Plan& plan, bool explicit_plan);
  // The most workspace a worker needs for any plan the table can make;
  // refuses (ATTNRT_CONFIG_ERROR) a tuning rule asking for too much.
  std::size_t largest_workspace() const;
  static std::size_t workspace_of(const kernels::KernelSet& ks, const PlanShape& shape, attnrt_strategy s,
                                  const PlanTable& table);
  [[noreturn]] void refuse_rule_of(const kernels::KernelSet& ks, const PlanShape& shape, attnrt_strategy s) const;

  std::array<const kernels::KernelSet*, 3> sets_{};  // by attnrt_dtype
  // By attnrt_dtype: where sets_[t] has no direct K/V path, the first later
  // set of the registry this CPU runs that has one (null if none, or if
  // ATTNRT_ISA named the set), for plans whose rows make direct worth it.
  std::array<const kernels::KernelSet*, 3> direct_sets_{};
  // By attnrt_dtype: a set of the same ISA with other tiles (select_tile_sets).
  std::array<const kernels::KernelSet*, 3> tile_sets_{};
  // This CPU's row of kernels/tuning.hpp: the few-row kernels plans take.
  const kernels::UarchTuning* tuning_row_;
  std::string set_note_;  // why a set was passed over for a later one (ATTNRT_VERBOSE)
  attnrt_strategy default_strategy_;
  PlanTable tuning_;
  bool verbose_;
  std::unique_ptr<scheduler::Placement> placement_;
  std::unique_ptr<scheduler::Executor> executor_;  // runs on placement_
  std::unique_ptr<scheduler::Arena> arena_;        // one workspace per worker of placement_
  // Per machine domain, over the arena's shared slice (null: none).
  std::vector<std::unique_ptr<scheduler::SharedSlots>> kv_slots_;
  KvShareMode kv_share_mode_ = KvShareMode::automatic;
};

}  // namespace attnrt::rt
