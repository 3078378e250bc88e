// attnrt as attnrt-bench drives it: a runtime made and called through the
// public C ABI, plus the internal plan override (runtime/src/plan_override.hpp)
// to show the plan a call runs and to run others (tune candidates, the
// GEMM-only ceiling). Every error is an attnrt::Error, whichever side threw.
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <memory>
#include <string>

#include "kernels/kernel_set.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {

class Engine {
 public:
  // threads 0 and isa "" leave the choice to the environment (ATTNRT_*) and the CPU.
  Engine(int threads, const std::string& isa);

  int threads() const;
  // The kernel set for dtype t: its name as the public ABI reports it, and its tiles.
  std::string kernel_set_name(DType t) const;
  // The tuning row the kernels take their prefetch settings from (ATTNRT_UARCH or the CPU's).
  std::string uarch() const { return attnrt_runtime_uarch(rt_.get()); }
  const kernels::KernelSet& kernel_set(DType t) const;

  // The call as a user makes it: the plan table (and p.strategy) choose.
  void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const attnrt_params& p);
  // The plan that call runs.
  rt::Plan planned(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                   const attnrt_params& p) const;
  // The call with `plan` instead (checked, not adjusted; p.strategy is ignored).
  void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const attnrt_params& p,
               const rt::Plan& plan);

 private:
  struct Destroy {
    void operator()(attnrt_runtime* r) const { attnrt_runtime_destroy(r); }
  };
  std::unique_ptr<attnrt_runtime, Destroy> rt_;
};

}  // namespace attnrt::bench
