#include "bench/ceiling.hpp"

#include <cmath>

#include "bench/gemm_only_set.hpp"

namespace attnrt::bench {

Ceiling::Ceiling(Engine& engine, const Workload& w, const attnrt_params& p, const rt::Plan& plan)
    : engine_(engine), w_(w), params_(p), plan_(plan) {
  plan_.kernel_set = &gemm_only_set(plan.kernel_set ? *plan.kernel_set : engine.kernel_set(w.q().dtype));
  plan_.split_keys = false;  // no log-sum-exp to merge key pieces by
  params_.softcap = 0.0f;
  params_.bias = nullptr;
  params_.alibi_slopes = nullptr;
  params_.sinks = nullptr;
  const Tensor& o = w.o();
  ob_ = Buffer(elements(o) * dtype_bytes(o.dtype));
  o_ = Tensor::bhsd(ob_.data(), o.dtype, o.shape[0], o.shape[1], o.shape[2], o.shape[3]);
  fill_nan(o_);
}

void Ceiling::run() { engine_.forward(w_.q(), w_.k(), w_.v(), o_, params_, plan_); }

bool Ceiling::finite_output() const {
  const Buffer o = to_fp32(o_);
  const float* d = static_cast<const float*>(o.data());
  const std::size_t n = elements(o_);
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(d[i])) return false;
  return true;
}

}  // namespace attnrt::bench
