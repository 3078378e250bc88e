#include "bench/engine.hpp"

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::bench {
namespace {

// The plan override throws the runtime's own error type; the bench speaks attnrt::Error.
template <class F>
decltype(auto) as_public_error(F&& f) {
  try {
    return f();
  } catch (const rt::Failure& e) {
    throw Error(e.status, e.what());
  }
}

}  // namespace

Engine::Engine(int threads, const std::string& isa) {
  attnrt_config c;
  check(attnrt_config_init(&c));
  if (threads > 0) c.num_threads = threads;
  if (!isa.empty()) c.isa = isa.c_str();
  attnrt_runtime* r = nullptr;
  check(attnrt_runtime_create(&c, &r));
  rt_.reset(r);
}

int Engine::threads() const { return attnrt_runtime_num_threads(rt_.get()); }

std::string Engine::kernel_set_name(DType t) const {
  return attnrt_runtime_kernel_set(rt_.get(), static_cast<attnrt_dtype>(t));
}

const kernels::KernelSet& Engine::kernel_set(DType t) const {
  return as_public_error([&]() -> const kernels::KernelSet& {
    return rt::kernel_set_of(rt_.get(), static_cast<attnrt_dtype>(t));
  });
}

void Engine::forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const attnrt_params& p) {
  const attnrt_tensor cq = q.c(), ck = k.c(), cv = v.c(), co = o.c();
  check(attnrt_runtime_forward(rt_.get(), &cq, &ck, &cv, &co, &p));
}

rt::Plan Engine::planned(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                         const attnrt_params& p) const {
  return as_public_error([&] { return rt::planned(rt_.get(), q.c(), k.c(), v.c(), o.c(), p); });
}

void Engine::forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const attnrt_params& p,
                     const rt::Plan& plan) {
  as_public_error([&] { rt::forward_with_plan(rt_.get(), q.c(), k.c(), v.c(), o.c(), p, plan); });
}

}  // namespace attnrt::bench
