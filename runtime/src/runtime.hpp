// A Runtime owns what calls share: the chosen kernel sets, the executor,
// the tuning rules and the configuration. Safe to call from many threads at
// once.
#pragma once

#include <attnrt/attnrt.h>

#include <array>
#include <memory>
#include <string>

#include "kernels/kernel_set.hpp"
#include "runtime/src/plan.hpp"
#include "scheduler/executor.hpp"

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
  // The plan forward() would run (the call is validated first).
  Plan plan_for(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                const attnrt_tensor& o, const attnrt_params& params) const;

  const kernels::KernelSet& kernel_set(attnrt_dtype t) const { return *sets_[t]; }
  const char* isa() const { return sets_[0]->name; }
  int num_threads() const { return executor_->workers(); }

 private:
  Plan choose(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
              const attnrt_params& params) const;
  void run(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
           const attnrt_tensor& o, const attnrt_params& params, const Plan& plan);

  std::array<const kernels::KernelSet*, 3> sets_{};  // by attnrt_dtype
  attnrt_strategy default_strategy_;
  PlanTable tuning_;
  bool verbose_;
  std::unique_ptr<scheduler::Executor> executor_;
};

}  // namespace attnrt::rt
