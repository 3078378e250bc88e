// The C ABI: converts exceptions to status codes and a thread-local message,
// and owns the lazily created process-wide default runtime.
#include <attnrt/attnrt.h>

#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "runtime/src/cache_write.hpp"
#include "runtime/src/config.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/runtime.hpp"

namespace {

thread_local std::string g_last_error;

template <class F>
attnrt_status guarded(F&& f) {
  try {
    f();
    g_last_error.clear();
    return ATTNRT_OK;
  } catch (const attnrt::rt::Failure& e) {
    g_last_error = e.what();
    return e.status;
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return ATTNRT_INTERNAL_ERROR;
  } catch (const std::exception& e) {
    g_last_error = std::string("internal error: ") + e.what();
    return ATTNRT_INTERNAL_ERROR;
  } catch (...) {
    g_last_error = "internal error";
    return ATTNRT_INTERNAL_ERROR;
  }
}

attnrt::rt::Runtime* as_runtime(attnrt_runtime* r) { return static_cast<attnrt::rt::Runtime*>(r); }
const attnrt::rt::Runtime* as_runtime(const attnrt_runtime* r) {
  return static_cast<const attnrt::rt::Runtime*>(r);
}

attnrt_status forward(attnrt_runtime* rt, const attnrt_tensor* q, const attnrt_tensor* k,
                      const attnrt_tensor* v, const attnrt_tensor* o, const attnrt_params* params) {
  return guarded([&] {
    using attnrt::rt::fail;
    if (!rt) fail(ATTNRT_INVALID_ARGUMENT, "runtime must not be NULL");
    for (auto [name, t] : {std::pair{"q", q}, {"k", k}, {"v", v}, {"o", o}})
      if (!t) fail(ATTNRT_INVALID_ARGUMENT, name, " must not be NULL");
    attnrt_params defaults;
    attnrt_params_init(&defaults);
    as_runtime(rt)->forward(*q, *k, *v, *o, params ? *params : defaults);
  });
}

}  // namespace

extern "C" {

void attnrt_params_init(attnrt_params* p) {
  if (!p) return;
  *p = attnrt_params{};
  p->scale = 0.0f;
  p->causal = 0;
  p->align = ATTNRT_ALIGN_BOTTOM_RIGHT;
  p->window_left = -1;
  p->window_right = -1;
  p->kv_lens = nullptr;
  p->bias = nullptr;
  p->softcap = 0.0f;
  p->precision = ATTNRT_EXP2_ACCURATE;
  p->strategy = ATTNRT_STRATEGY_AUTO;
  p->lse = nullptr;
  p->alibi_slopes = nullptr;
  p->sinks = nullptr;
  p->cu_seqlens_q = nullptr;
  p->cu_seqlens_k = nullptr;
  p->num_seqs = 0;
  p->block_table = nullptr;
  p->block_table_stride = 0;
  p->k_scale = nullptr;
  p->v_scale = nullptr;
}

attnrt_status attnrt_config_init(attnrt_config* c) {
  return guarded([&] {
    if (!c) attnrt::rt::fail(ATTNRT_INVALID_ARGUMENT, "config must not be NULL");
    attnrt::rt::config_from_env(*c);
  });
}

attnrt_status attnrt_runtime_create(const attnrt_config* config, attnrt_runtime** out) {
  return guarded([&] {
    using attnrt::rt::fail;
    if (!out) fail(ATTNRT_INVALID_ARGUMENT, "out must not be NULL");
    *out = nullptr;
    attnrt_config c;
    if (config) c = *config;
    else attnrt::rt::config_from_env(c);
    *out = new attnrt::rt::Runtime(c);
  });
}

void attnrt_runtime_destroy(attnrt_runtime* r) { delete as_runtime(r); }

attnrt_status attnrt_runtime_forward(attnrt_runtime* rt, const attnrt_tensor* q, const attnrt_tensor* k,
                                     const attnrt_tensor* v, const attnrt_tensor* o,
                                     const attnrt_params* params) {
  return forward(rt, q, k, v, o, params);
}

attnrt_status attnrt_attention_forward(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
                                       const attnrt_tensor* o, const attnrt_params* params) {
  // Made on first use (thread-safe static initialization); a failure (a bad
  // ATTNRT_* variable) is reported on every call rather than cached silently.
  static std::once_flag once;
  static std::unique_ptr<attnrt::rt::Runtime> runtime;
  static std::string create_error;
  static attnrt_status create_status = ATTNRT_OK;
  std::call_once(once, [] {
    attnrt_runtime* r = nullptr;
    create_status = attnrt_runtime_create(nullptr, &r);
    if (create_status == ATTNRT_OK) runtime.reset(as_runtime(r));
    else create_error = attnrt_last_error();
  });
  if (!runtime) {
    g_last_error = "default runtime: " + create_error;
    return create_status;
  }
  return forward(runtime.get(), q, k, v, o, params);
}

attnrt_status attnrt_cache_write(const attnrt_tensor* src, const attnrt_tensor* cache, const attnrt_tensor* scale,
                                 const int64_t* slots) {
  return guarded([&] { attnrt::rt::cache_write(src, cache, scale, slots); });
}

attnrt_status attnrt_runtime_cache_write(attnrt_runtime* rt, const attnrt_tensor* src, const attnrt_tensor* cache,
                                         const attnrt_tensor* scale, const int64_t* slots) {
  return guarded([&] {
    if (!rt) attnrt::rt::fail(ATTNRT_INVALID_ARGUMENT, "runtime must not be NULL");
    as_runtime(rt)->cache_write(src, cache, scale, slots);
  });
}

const char* attnrt_last_error(void) { return g_last_error.c_str(); }
const char* attnrt_runtime_isa(const attnrt_runtime* r) { return r ? as_runtime(r)->isa() : ""; }
const char* attnrt_runtime_uarch(const attnrt_runtime* r) { return r ? as_runtime(r)->uarch() : ""; }
const char* attnrt_runtime_kernel_set(const attnrt_runtime* r, attnrt_dtype t) {
  const bool known = t == ATTNRT_F32 || t == ATTNRT_F16 || t == ATTNRT_BF16;
  return r && known ? as_runtime(r)->kernel_set(t).name : "";
}
int attnrt_runtime_num_threads(const attnrt_runtime* r) { return r ? as_runtime(r)->num_threads() : 0; }
const char* attnrt_version(void) { return ATTNRT_VERSION_STRING; }

}  // extern "C"
