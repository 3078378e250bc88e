#include "runtime/src/plan_override.hpp"

#include <type_traits>

#include "runtime/src/error.hpp"
#include "runtime/src/runtime.hpp"

namespace attnrt::rt {
namespace {

template <class R>
auto& as_runtime(R* r) {
  if (!r) fail(ATTNRT_INVALID_ARGUMENT, "runtime must not be NULL");
  if constexpr (std::is_const_v<R>)
    return *static_cast<const Runtime*>(r);
  else
    return *static_cast<Runtime*>(r);
}

}  // namespace

const kernels::KernelSet& kernel_set_of(const attnrt_runtime* runtime, attnrt_dtype t) {
  return as_runtime(runtime).kernel_set(t);
}

std::size_t workspace_per_worker(const attnrt_runtime* runtime) {
  return as_runtime(runtime).arena().workspace_bytes();
}

Plan planned(const attnrt_runtime* runtime, const attnrt_tensor& q, const attnrt_tensor& k,
             const attnrt_tensor& v, const attnrt_tensor& o, const attnrt_params& params) {
  return as_runtime(runtime).plan_for(q, k, v, o, params);
}

void forward_with_plan(attnrt_runtime* runtime, const attnrt_tensor& q, const attnrt_tensor& k,
                       const attnrt_tensor& v, const attnrt_tensor& o, const attnrt_params& params,
                       const Plan& plan) {
  as_runtime(runtime).forward(q, k, v, o, params, plan);
}

}  // namespace attnrt::rt
