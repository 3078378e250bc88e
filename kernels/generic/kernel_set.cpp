// The portable kernel set: plain C++ loops over fixed-size tiles that the
// compiler keeps in registers and vectorizes for whatever ISA this file is
// compiled for. Computes in fp32 for every input dtype (fp16/bf16 are
// widened while packing). Always built for the architecture's baseline and
// always last in the registry; on x86-64 the same source is also compiled for
// x86-64-v3 (kernel_set_x86_v3.cpp), as PyTorch compiles one kernel source
// per CPU capability.
#ifndef ATTNRT_GENERIC_VARIANT
#define ATTNRT_GENERIC_VARIANT baseline
#define ATTNRT_GENERIC_NAME "generic"
#define ATTNRT_GENERIC_REQUIRES kFeatureNone
#endif
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/convert.hpp"
#include "kernels/generic/exp2.hpp"
#include "kernels/generic/kernel_set.hpp"

namespace attnrt::kernels::generic::ATTNRT_GENERIC_VARIANT {
namespace {

// Tiles sized for the vector registers the compiler may use in this file:
// MR x NR fp32 accumulators must fit with room for one B row and a broadcast.
#if defined(__AVX512F__)
constexpr int MR = 8, NR = 32;
#elif defined(__AVX__) || defined(__ARM_NEON) || defined(__ARM_FEATURE_SVE)
constexpr int MR = 6, NR = 16;
#else
constexpr int MR = 4, NR = 8;
#endif
constexpr int NV = NR;

template <class T>
void pack_a(const void* src, std::int64_t ld, int rows, int k, void* dst) {
  // rows x k row-major -> panels [k][MR]
  const T* s = static_cast<const T*>(src);
  float* d = static_cast<float*>(dst);
  for (int r0 = 0; r0 < rows; r0 += MR, d += static_cast<std::int64_t>(MR) * k) {
    const int h = std::min(MR, rows - r0);
    for (int r = 0; r < MR; ++r) {
      const T* row = s + (r0 + r) * ld;
      for (int p = 0; p < k; ++p) d[p * MR + r] = r < h ? load_as_float(row + p) : 0.0f;
    }
  }
}

template <class T, int W>
void pack_b_rows_as_cols(const void* src, std::int64_t ld, int cols, int k, void* dst) {
  // K: cols (keys) x k row-major -> panels [k][W], column = key
  const T* s = static_cast<const T*>(src);
  float* d = static_cast<float*>(dst);
  for (int c0 = 0; c0 < cols; c0 += W, d += static_cast<std::int64_t>(W) * k) {
    const int w = std::min(W, cols - c0);
    for (int c = 0; c < W; ++c) {
      const T* row = s + (c0 + c) * ld;
      for (int p = 0; p < k; ++p) d[p * W + c] = c < w ? load_as_float(row + p) : 0.0f;
    }
  }
}

template <class T, int W>
void pack_b_rows(const void* src, std::int64_t ld, int k, int cols, void* dst) {
  // V: k (keys) x cols row-major -> panels [k][W], column = value dim
  const T* s = static_cast<const T*>(src);
  float* d = static_cast<float*>(dst);
  for (int c0 = 0; c0 < cols; c0 += W, d += static_cast<std::int64_t>(W) * k) {
    const int w = std::min(W, cols - c0);
    for (int p = 0; p < k; ++p) {
      const T* row = s + p * ld + c0;
      for (int c = 0; c < W; ++c) d[p * W + c] = c < w ? load_as_float(row + c) : 0.0f;
    }
  }
}

enum class Store { scaled, assign, accumulate };

template <int W, Store mode>
void gemm_tile(int k, const void* a_, const void* b_, float alpha, float* c, std::int64_t ldc) {
  const float* __restrict a = static_cast<const float*>(a_);
  const float* __restrict b = static_cast<const float*>(b_);
  float acc[MR][W] = {};
  for (int p = 0; p < k; ++p) {
    // Unrolled rows, vectorized columns: left alone, the vectorizer may pick
    // the row dimension and shuffle (measured 2.3x slower with GCC 12).
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const float ai = a[p * MR + i];
#pragma omp simd
      for (int j = 0; j < W; ++j) acc[i][j] += ai * b[p * W + j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < W; ++j) {
      float* out = c + i * ldc + j;
      if constexpr (mode == Store::scaled) *out = alpha * acc[i][j];
      if constexpr (mode == Store::assign) *out = acc[i][j];
      if constexpr (mode == Store::accumulate) *out += acc[i][j];
    }
}

void qk(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  gemm_tile<NR, Store::scaled>(dp, a, b, alpha, s, lds);
}
void pv_init(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_tile<NV, Store::assign>(kp, a, b, 1.0f, o, ldo);
}
void pv_acc(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  gemm_tile<NV, Store::accumulate>(kp, a, b, 1.0f, o, ldo);
}

void row_max(const float* s, std::int64_t lds, int rows, int cols, float* mx) {
  for (int r = 0; r < rows; ++r) {
    float m = mx[r];
    const float* row = s + r * lds;
#pragma omp simd reduction(max : m)
    for (int c = 0; c < cols; ++c) m = row[c] > m ? row[c] : m;
    mx[r] = m;
  }
}

// Exponentials are computed along rows (contiguous, vectorized) into a small
// block, then written transposed into the [kp][MR] panel the P·V tile reads.
template <bool Accurate>
void exp2_rows_impl(const float* s, std::int64_t lds, int rows, int cols, const float* m,
                    float* sum, float* p) {
  constexpr int kBlock = 64;
  float e[MR][kBlock];
  float acc[MR] = {};
  for (int c0 = 0; c0 < cols; c0 += kBlock) {
    const int w = std::min(kBlock, cols - c0);
    for (int r = 0; r < rows; ++r) {
      const float* row = s + r * lds + c0;
      const float mr = m[r];
      float a = 0.0f;
#pragma omp simd reduction(+ : a)
      for (int c = 0; c < w; ++c) {
        e[r][c] = exp2_poly<Accurate>(row[c] - mr);
        a += e[r][c];
      }
      acc[r] += a;
    }
    for (int c = 0; c < w; ++c)
      for (int r = 0; r < rows; ++r) p[(c0 + c) * MR + r] = e[r][c];
  }
  for (int r = 0; r < rows; ++r) sum[r] += acc[r];
}

void exp2_rows(const float* s, std::int64_t lds, int rows, int cols, const float* m, float* sum,
               void* p_panel, Exp2Precision precision) {
  float* p = static_cast<float*>(p_panel);
  if (precision == Exp2Precision::accurate)
    exp2_rows_impl<true>(s, lds, rows, cols, m, sum, p);
  else
    exp2_rows_impl<false>(s, lds, rows, cols, m, sum, p);
}

void rescale(float* o, std::int64_t ldo, int cols, const float* alpha) {
  for (int r = 0; r < MR; ++r)
    for (int c = 0; c < cols; ++c) o[r * ldo + c] *= alpha[r];
}

// x * 0 is 0 for a finite x and NaN for NaN or inf (see KernelSet::normalize).
bool normalize(const float* o, std::int64_t ldo, int rows, int cols, const float* inv_sum,
               void* out, std::int64_t ld_out, DType out_type) {
  float row[kMaxHeadDim];  // cols <= kMaxHeadDim, checked by the runtime
  const std::size_t esz = dtype_size(out_type);
  float bad = 0.0f;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      row[c] = o[r * ldo + c] * inv_sum[r];
      bad += row[c] * 0.0f;
    }
    store_row(row, cols, static_cast<char*>(out) + r * ld_out * esz, out_type);
  }
  return bad != bad;
}

template <class T>
constexpr KernelSet make_set(DType t) {
  return KernelSet{
      .name = ATTNRT_GENERIC_NAME,
      .dtype = t,
      .requires_cpu = ATTNRT_GENERIC_REQUIRES,
      .mr = MR,
      .nr = NR,
      .nv = NV,
      .k_pack = 1,
      .packed_elem = sizeof(float),
      .pack_q = pack_a<T>,
      .pack_k = pack_b_rows_as_cols<T, NR>,
      .pack_v = pack_b_rows<T, NV>,
      .qk = qk,
      .pv_init = pv_init,
      .pv_acc = pv_acc,
      .row_max = row_max,
      .exp2_rows = exp2_rows,
      .rescale = rescale,
      .normalize = normalize,
  };
}

constexpr KernelSet kF32 = make_set<float>(DType::f32);
constexpr KernelSet kF16 = make_set<Fp16>(DType::f16);
constexpr KernelSet kBf16 = make_set<Bf16>(DType::bf16);

}  // namespace

constinit const SetsByDtype kSets{&kF32, &kF16, &kBf16};

}  // namespace attnrt::kernels::generic::ATTNRT_GENERIC_VARIANT
