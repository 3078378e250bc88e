// The OpenBLAS baseline. One BLAS thread per OpenMP worker: OpenBLAS's own
// thread pool would fight the OpenMP team for the same cores.
#include <cblas.h>
#include <omp.h>

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench/baseline.hpp"
#include "tests/reference.hpp"

namespace attnrt::bench {
namespace {

// Softmax of one row of S in place over the visible keys [lo, hi); zero elsewhere.
void softmax_row(float* s, std::int64_t n, std::int64_t lo, std::int64_t hi) {
  for (std::int64_t j = 0; j < lo; ++j) s[j] = 0.0f;
  for (std::int64_t j = hi; j < n; ++j) s[j] = 0.0f;
  if (hi <= lo) return;  // nothing visible: a zero output row
  float mx = s[lo];
  for (std::int64_t j = lo + 1; j < hi; ++j) mx = s[j] > mx ? s[j] : mx;
  double sum = 0;
  for (std::int64_t j = lo; j < hi; ++j) {
    s[j] = std::exp(s[j] - mx);
    sum += s[j];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (std::int64_t j = lo; j < hi; ++j) s[j] *= inv;
}

class OpenBlasBaseline final : public Baseline {
 public:
  OpenBlasBaseline(const Workload& w, int threads) : s_(w.shape()), threads_(threads) {
    openblas_set_num_threads(1);
    const auto input = [](const Tensor& t, Buffer& copy) {
      if (t.dtype == DType::f32) return static_cast<const float*>(t.data);
      copy = to_fp32(t);
      return static_cast<const float*>(copy.data());
    };
    q_ = input(w.q(), q32_);
    k_ = input(w.k(), k32_);
    v_ = input(w.v(), v32_);
    o_ = Buffer(static_cast<std::size_t>(s_.batch * s_.heads * s_.q_len * s_.head_dim_v) * sizeof(float));
    scores_ = Buffer(static_cast<std::size_t>(threads) * s_.q_len * s_.kv_len * sizeof(float));
    const attnrt_params mask = mask_params(s_);
    lo_.resize(s_.q_len);
    hi_.resize(s_.q_len);
    for (std::int64_t i = 0; i < s_.q_len; ++i) test::visible_keys(mask, s_.q_len, s_.kv_len, i, &lo_[i], &hi_[i]);
  }

  void run() override {
    const std::int64_t M = s_.q_len, N = s_.kv_len, D = s_.head_dim, Dv = s_.head_dim_v;
    const std::int64_t heads = s_.batch * s_.heads, group = s_.heads / s_.kv_heads;
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads_)
    for (std::int64_t bh = 0; bh < heads; ++bh) {
      float* s = static_cast<float*>(scores_.data()) + omp_get_thread_num() * M * N;
      const std::int64_t kv = bh / s_.heads * s_.kv_heads + bh % s_.heads / group;
      const float* q = q_ + bh * M * D;
      const float* k = k_ + kv * N * D;
      const float* v = v_ + kv * N * Dv;
      float* o = static_cast<float*>(o_.data()) + bh * M * Dv;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, D, scale, q, D, k, D, 0.0f, s, N);
      for (std::int64_t i = 0; i < M; ++i) softmax_row(s + i * N, N, lo_[i], hi_[i]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, Dv, N, 1.0f, s, N, v, Dv, 0.0f, o, Dv);
    }
  }

  attnrt_tensor output() const override {
    return Tensor::bhsd(o_.data(), DType::f32, s_.batch, s_.heads, s_.q_len, s_.head_dim_v).c();
  }

 private:
  Shape s_;
  int threads_;
  Buffer q32_, k32_, v32_, o_, scores_;
  const float *q_, *k_, *v_;
  std::vector<std::int64_t> lo_, hi_;
};

}  // namespace

std::unique_ptr<Baseline> make_baseline(const Workload& w, int threads) {
  return std::make_unique<OpenBlasBaseline>(w, threads);
}

std::string baseline_description() {
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  return std::string("OpenBLAS sgemm + C++ softmax, 1 BLAS thread per OpenMP worker (") +
         openblas_get_config() + ", core " + openblas_get_corename() +
         (forced ? std::string(", OPENBLAS_CORETYPE=") + forced : std::string()) + ")";
}

void give_openblas_its_kernels(char** argv) {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE") || std::strcmp(openblas_get_corename(), "Prescott") != 0) return;
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const char* core = avx512 && __builtin_cpu_supports("avx512bf16") ? "Cooperlake"
                     : avx512                                      ? "SkylakeX"
                     : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? "Haswell"
                                                                                       : nullptr;
  if (!core) return;  // Prescott is what this CPU runs
  std::fprintf(stderr, "attnrt-bench: OpenBLAS fell back to its Prescott core on this CPU; running again with "
                       "OPENBLAS_CORETYPE=%s\n", core);
  setenv("OPENBLAS_CORETYPE", core, 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "attnrt-bench: could not run again (%s); the baseline keeps the Prescott core\n",
               std::strerror(errno));
#else
  static_cast<void>(argv);
#endif
}

}  // namespace attnrt::bench
