// attnrt: thin C++ layer over the C ABI. Errors throw attnrt::Error.
#pragma once

#include <attnrt/attnrt.h>

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace attnrt {

class Error : public std::runtime_error {
 public:
  Error(attnrt_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  attnrt_status status() const noexcept { return status_; }

 private:
  attnrt_status status_;
};

inline void check(attnrt_status status) {
  if (status != ATTNRT_OK) throw Error(status, attnrt_last_error());
}

// i8, f8_e4m3 and f8_e5m2 are for K and V only, with Params::k_scale, v_scale.
enum class DType {
  f32 = ATTNRT_F32,
  f16 = ATTNRT_F16,
  bf16 = ATTNRT_BF16,
  i8 = ATTNRT_I8,
  f8_e4m3 = ATTNRT_F8_E4M3,
  f8_e5m2 = ATTNRT_F8_E5M2
};

// A [batch, heads, seq, head_dim] view; strides in elements.
struct Tensor {
  void* data = nullptr;
  DType dtype = DType::f32;
  std::array<std::int64_t, 4> shape{};
  std::array<std::int64_t, 3> stride{};

  // Dense [batch, heads, seq, dim] (BHSD).
  static Tensor bhsd(void* data, DType dtype, std::int64_t b, std::int64_t h, std::int64_t s,
                     std::int64_t d) {
    return {data, dtype, {b, h, s, d}, {h * s * d, s * d, d}};
  }
  // Dense [batch, seq, heads, dim] memory, viewed as [batch, heads, seq, dim] (BSHD).
  static Tensor bshd(void* data, DType dtype, std::int64_t b, std::int64_t h, std::int64_t s,
                     std::int64_t d) {
    return {data, dtype, {b, h, s, d}, {s * h * d, d, h * d}};
  }

  attnrt_tensor c() const {
    return {data, static_cast<attnrt_dtype>(dtype), {shape[0], shape[1], shape[2], shape[3]},
            {stride[0], stride[1], stride[2]}};
  }
};

enum class Align { bottom_right = ATTNRT_ALIGN_BOTTOM_RIGHT, top_left = ATTNRT_ALIGN_TOP_LEFT };
enum class Precision { accurate = ATTNRT_EXP2_ACCURATE, fast = ATTNRT_EXP2_FAST };
enum class Strategy {
  automatic = ATTNRT_STRATEGY_AUTO,
  online = ATTNRT_STRATEGY_ONLINE,
  two_pass = ATTNRT_STRATEGY_TWO_PASS,
  three_pass = ATTNRT_STRATEGY_THREE_PASS
};

struct Params {
  float scale = 0.0f;  // 0 = 1/sqrt(head_dim)
  bool causal = false;
  Align align = Align::bottom_right;
  std::int64_t window_left = -1;
  std::int64_t window_right = -1;
  const std::int64_t* kv_lens = nullptr;
  const Tensor* bias = nullptr;
  float softcap = 0.0f;
  Precision precision = Precision::accurate;
  Strategy strategy = Strategy::automatic;
  const Tensor* lse = nullptr;
  const float* alibi_slopes = nullptr;  // [Hq]: slope * (key position - query position) added to scores
  const float* sinks = nullptr;         // [Hq]: a logit per head in each row's denominator, no value
  // Varlen packed batch (attnrt.h): q, o, lse [1, Hq, total_q, D], k, v [1, Hkv, total_k, D].
  const std::int32_t* cu_seqlens_q = nullptr;  // [num_seqs + 1] query row offsets; null: dense
  const std::int32_t* cu_seqlens_k = nullptr;  // [num_seqs + 1] key row offsets, with cu_seqlens_q
  std::int64_t num_seqs = 0;                   // sequences of a varlen call
  // Paged KV cache (attnrt.h): k, v page pools [num_pages, Hkv, page_size, D]; kv_lens required.
  const std::int32_t* block_table = nullptr;   // [B, block_table_stride] page indices; null: dense K/V
  std::int64_t block_table_stride = 0;         // slots per sequence in block_table
  // Quantized K/V (attnrt.h): fp32 scales shaped like k, v with head_dim 1; size-1 dims broadcast.
  const Tensor* k_scale = nullptr;
  const Tensor* v_scale = nullptr;
};

namespace detail {
struct CParams {
  attnrt_params p;
  attnrt_tensor bias, lse, k_scale, v_scale;
  explicit CParams(const Params& in) {
    attnrt_params_init(&p);
    p.scale = in.scale;
    p.causal = in.causal ? 1 : 0;
    p.align = static_cast<attnrt_causal_align>(in.align);
    p.window_left = in.window_left;
    p.window_right = in.window_right;
    p.kv_lens = in.kv_lens;
    p.softcap = in.softcap;
    p.precision = static_cast<attnrt_precision>(in.precision);
    p.strategy = static_cast<attnrt_strategy>(in.strategy);
    p.alibi_slopes = in.alibi_slopes;
    p.sinks = in.sinks;
    p.cu_seqlens_q = in.cu_seqlens_q;
    p.cu_seqlens_k = in.cu_seqlens_k;
    p.num_seqs = in.num_seqs;
    p.block_table = in.block_table;
    p.block_table_stride = in.block_table_stride;
    if (in.bias) { bias = in.bias->c(); p.bias = &bias; }
    if (in.lse) { lse = in.lse->c(); p.lse = &lse; }
    if (in.k_scale) { k_scale = in.k_scale->c(); p.k_scale = &k_scale; }
    if (in.v_scale) { v_scale = in.v_scale->c(); p.v_scale = &v_scale; }
  }
};
// cache_write's views as the C ABI takes them (scale_ptr null if none).
struct CWrite {
  attnrt_tensor src, cache, scale{};
  const attnrt_tensor* scale_ptr = nullptr;
  CWrite(const Tensor& s, const Tensor& c, const Tensor* sc) : src(s.c()), cache(c.c()) {
    if (sc) scale = sc->c(), scale_ptr = &scale;
  }
  CWrite(const CWrite&) = delete;  // (scale_ptr points into it)
  CWrite& operator=(const CWrite&) = delete;
};
}  // namespace detail

// Settings in code; anything left at its default is taken from the
// environment. A malformed ATTNRT_* variable throws (ATTNRT_CONFIG_ERROR)
// even for a field set here: the environment is read whole first.
struct Config {
  int num_threads = 0;
  std::string executor;  // "", "openmp", "tbb"
  std::string isa;       // "", "generic", "avx2", "avx512", "sve", ...
  Strategy strategy = Strategy::automatic;
  std::string domains, bind, topology;
  bool verbose = false;
  std::string uarch;  // "": this CPU's tuning row; else a row by name, e.g. "zen4"
};

class Runtime {
 public:
  explicit Runtime(const Config& cfg = {}) {
    attnrt_config c;
    check(attnrt_config_init(&c));
    if (cfg.num_threads) c.num_threads = cfg.num_threads;
    if (cfg.executor == "openmp") c.executor = ATTNRT_EXECUTOR_OPENMP;
    else if (cfg.executor == "tbb") c.executor = ATTNRT_EXECUTOR_TBB;
    else if (!cfg.executor.empty())
      throw Error(ATTNRT_CONFIG_ERROR, "config.executor (" + cfg.executor + ") must be openmp or tbb");
    if (!cfg.isa.empty()) c.isa = cfg.isa.c_str();
    if (cfg.strategy != Strategy::automatic) c.strategy = static_cast<attnrt_strategy>(cfg.strategy);
    if (!cfg.domains.empty()) c.domains = cfg.domains.c_str();
    if (!cfg.bind.empty()) c.bind = cfg.bind.c_str();
    if (!cfg.topology.empty()) c.topology = cfg.topology.c_str();
    if (cfg.verbose) c.verbose = 1;
    if (!cfg.uarch.empty()) c.uarch = cfg.uarch.c_str();
    attnrt_runtime* rt = nullptr;
    check(attnrt_runtime_create(&c, &rt));
    rt_.reset(rt);
  }

  void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
               const Params& params = {}) {
    const attnrt_tensor cq = q.c(), ck = k.c(), cv = v.c(), co = o.c();
    const detail::CParams cp(params);
    check(attnrt_runtime_forward(rt_.get(), &cq, &ck, &cv, &co, &cp.p));
  }

  // cache_write on this runtime's workers (attnrt_runtime_cache_write).
  void cache_write(const Tensor& src, const Tensor& cache, const Tensor* scale, const std::int64_t* slots) {
    const detail::CWrite w(src, cache, scale);
    check(attnrt_runtime_cache_write(rt_.get(), &w.src, &w.cache, w.scale_ptr, slots));
  }

  // The kernel set for fp32 inputs; kernel_set(t) names the one for dtype t.
  std::string isa() const { return attnrt_runtime_isa(rt_.get()); }
  // The tuning row the kernels take their prefetch settings from.
  std::string uarch() const { return attnrt_runtime_uarch(rt_.get()); }
  std::string kernel_set(DType t) const {
    return attnrt_runtime_kernel_set(rt_.get(), static_cast<attnrt_dtype>(t));
  }
  int num_threads() const { return attnrt_runtime_num_threads(rt_.get()); }

 private:
  struct Deleter {
    void operator()(attnrt_runtime* r) const { attnrt_runtime_destroy(r); }
  };
  std::unique_ptr<attnrt_runtime, Deleter> rt_;
};

// O = attention(Q, K, V) on the process-wide default runtime.
inline void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o,
                              const Params& params = {}) {
  const attnrt_tensor cq = q.c(), ck = k.c(), cv = v.c(), co = o.c();
  const detail::CParams cp(params);
  check(attnrt_attention_forward(&cq, &ck, &cv, &co, &cp.p));
}

// Stores src's rows ([B, Hkv, M, D], token t = b * M + m) into cache slots
// slots[t] (attnrt_cache_write): quantized, with per-token scales written or
// a per-head scale read, when the cache holds codes.
inline void cache_write(const Tensor& src, const Tensor& cache, const Tensor* scale, const std::int64_t* slots) {
  const detail::CWrite w(src, cache, scale);
  check(attnrt_cache_write(&w.src, &w.cache, w.scale_ptr, slots));
}

}  // namespace attnrt
