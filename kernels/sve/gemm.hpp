// Micro-kernel bodies for both GEMMs: C[MR x W] (op)= A·B over k packed
// steps, A an [k][MR] panel (one broadcast per row), B a [k][pitch] panel
// (W = 3 or 2 vectors of it per step). Two bodies, 8x3 (fp32) and 12x2
// (fp32, or fp16 accumulating in fp16: gemm_fp16.hpp), serve
//   qk_fp32_8x3, qk_fp32_12x2:    S = alpha·A·B   (Store::scaled)
//   pv_fp32_8x3, pv_fp32_12x2:    O = A·B          (Store::assign, init)
//                                 O += A·B         (Store::accumulate, acc)
//   pv_fp16_12x2_noepi:           the same in fp16
//   qk_fp16_12x2_fast:            S = alpha·A·B in fp16, flushed to fp32 C
//                                 every `flush` k steps (qk_fp16.hpp)
// A64FX shape: 24 accumulators, un-indexed FMLA on ld1rw/ld1rh broadcasts
// (indexed FMLA occupies both FP pipes there), the broadcasts software
// pipelined two rows ahead, so rows 0 and 1 of step p+1 load during the FMAs
// of rows MR-2 and MR-1 of step p. 24 + 3 (B) + 4 (A ring) = 31 registers.
#pragma once

#include <cstdint>

#include "kernels/sve/flavor.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// scaled_accumulate (C += alpha·acc) is what a flushed Store::scaled adds
// after its first flush.
enum class Store { scaled, assign, accumulate, scaled_accumulate };

// The store of every flush after the first.
constexpr Store later_store(Store mode) {
  return mode == Store::scaled ? Store::scaled_accumulate : mode == Store::assign ? Store::accumulate : mode;
}

// Where an fp16 accumulator's 2·lanes32 columns sit: in order (zip: the V
// panels of P·V), or in pairs (lane 2i = column i, lane 2i+1 = column
// lanes32 + i: the K panels of qk_fp16), which FCVT and a shift widen with
// no permute.
enum class Widen { zip, pairs };

// Stores an fp32 accumulator into C (its columns are in order: no Widen).
template <Store mode, Widen = Widen::zip>
inline void store_acc(svfloat32_t acc, float* c, float alpha) {
  const svbool_t all = svptrue_b32();
  if constexpr (mode == Store::scaled) svst1(all, c, svmul_x(all, acc, alpha));
  if constexpr (mode == Store::assign) svst1(all, c, acc);
  if constexpr (mode == Store::accumulate) svst1(all, c, svadd_x(all, svld1(all, c), acc));
  if constexpr (mode == Store::scaled_accumulate) svst1(all, c, svmla_x(all, svld1(all, c), acc, alpha));
}

// Widens an fp16 accumulator into two fp32 vectors of C.
template <Store mode, Widen widen = Widen::zip>
inline void store_acc(svfloat16_t acc, float* c, float alpha) {
  const svbool_t all = svptrue_b32();
  // FCVT reads the low half of each 32-bit lane.
  if constexpr (widen == Widen::zip) {
    store_acc<mode>(svcvt_f32_x(all, svzip1(acc, acc)), c, alpha);
    store_acc<mode>(svcvt_f32_x(all, svzip2(acc, acc)), c + lanes32(), alpha);
  } else {
    const svfloat16_t high = svreinterpret_f16(svlsr_x(all, svreinterpret_u32(acc), 16u));
    store_acc<mode>(svcvt_f32_x(all, acc), c, alpha);
    store_acc<mode>(svcvt_f32_x(all, high), c + lanes32(), alpha);
  }
}

// The vector type a micro-kernel computes in, and how it broadcasts.
template <class T>
struct Vec;
template <>
struct Vec<float> {
  using type = svfloat32_t;
  static svbool_t all() { return svptrue_b32(); }
  static int lanes() { return lanes32(); }
  static type zero() { return svdup_f32(0.0f); }
  static type bcast(const float* p) { return svdup_f32(*p); }  // ld1rw
};
template <>
struct Vec<float16_t> {
  using type = svfloat16_t;
  static svbool_t all() { return svptrue_b16(); }
  static int lanes() { return 2 * lanes32(); }
  static type zero() { return svdup_f16(0.0f); }
  static type bcast(const float16_t* p) { return svdup_f16(*p); }  // ld1rh
};

// Keeps the A panel in L1 while a B tile larger than L1 streams through:
// each step also touches the A line half a panel ahead (wrapping), so every
// A line is used twice per pass and LRU evicts B lines first.
template <class T>
struct Retouch {
  const T* at;
  const T* begin;
  const T* end;
  void step(int mr) {
    __builtin_prefetch(at, 0, 3);
    at = at + mr == end ? begin : at + mr;
  }
};

#define ATTNRT_ACC3(r) svfloat32_t c##r##0 = zero, c##r##1 = zero, c##r##2 = zero
#define ATTNRT_FMA3(r, x)               \
  c##r##0 = svmla_x(pg, c##r##0, b0, x); \
  c##r##1 = svmla_x(pg, c##r##1, b1, x); \
  c##r##2 = svmla_x(pg, c##r##2, b2, x)
#define ATTNRT_ST3(r)                                           \
  store_acc<mode>(c##r##0, c + (r) * ldc, alpha);               \
  store_acc<mode>(c##r##1, c + (r) * ldc + vl, alpha);          \
  store_acc<mode>(c##r##2, c + (r) * ldc + 2 * vl, alpha)

// One k step of 8x3; `next` loads rows 0 and 1 of the following step.
#define ATTNRT_STEP_8x3(next)                                              \
  do {                                                                     \
    const svfloat32_t b0 = ldb(pb0, b), b1 = ldb(pb1, b + vl),               \
                      b2 = ldb(pb2, b + 2 * vl);                           \
    x2 = svdup_f32(a[2]);                                                  \
    ATTNRT_FMA3(0, x0);                                                    \
    x3 = svdup_f32(a[3]);                                                  \
    ATTNRT_FMA3(1, x1);                                                    \
    x0 = svdup_f32(a[4]);                                                  \
    ATTNRT_FMA3(2, x2);                                                    \
    x1 = svdup_f32(a[5]);                                                  \
    ATTNRT_FMA3(3, x3);                                                    \
    x2 = svdup_f32(a[6]);                                                  \
    ATTNRT_FMA3(4, x0);                                                    \
    x3 = svdup_f32(a[7]);                                                  \
    ATTNRT_FMA3(5, x1);                                                    \
    if (next) x0 = svdup_f32(a[8]);                                        \
    ATTNRT_FMA3(6, x2);                                                    \
    if (next) x1 = svdup_f32(a[9]);                                        \
    ATTNRT_FMA3(7, x3);                                                    \
    a += 8;                                                                \
    b += ldb_rows;                                                         \
  } while (0)

// B rows of TB, ldb_rows elements apart, vector i of a row read on lanes
// pb<i> by Load::row (zeros elsewhere): a packed panel (all lanes, rows 3
// vectors apart) or V rows read in place (kernels/sve/pv_direct.hpp).
template <Store mode, bool retouch, class Load, class TB>
inline void gemm_fp32_8x3_rows(int k, const float* __restrict a, const TB* __restrict b,
                               std::int64_t ldb_rows, svbool_t pb0, svbool_t pb1, svbool_t pb2,
                               float alpha, float* c, std::int64_t ldc) {
  const svbool_t pg = svptrue_b32();
  const int vl = lanes32();
  const auto ldb = [](svbool_t p, const TB* at) { return Load::row(p, at); };
  const svfloat32_t zero = svdup_f32(0.0f);
  ATTNRT_ACC3(0); ATTNRT_ACC3(1); ATTNRT_ACC3(2); ATTNRT_ACC3(3);
  ATTNRT_ACC3(4); ATTNRT_ACC3(5); ATTNRT_ACC3(6); ATTNRT_ACC3(7);
  Retouch<float> touch{a + (k / 2) * 8, a, a + k * 8};
  svfloat32_t x0 = svdup_f32(a[0]), x1 = svdup_f32(a[1]), x2, x3;
  for (int p = 0; p < k - 1; ++p) {
    ATTNRT_MCA_BEGIN();
    if constexpr (retouch) touch.step(8);
    ATTNRT_STEP_8x3(true);
    ATTNRT_MCA_END();
  }
  ATTNRT_STEP_8x3(false);
  ATTNRT_ST3(0); ATTNRT_ST3(1); ATTNRT_ST3(2); ATTNRT_ST3(3);
  ATTNRT_ST3(4); ATTNRT_ST3(5); ATTNRT_ST3(6); ATTNRT_ST3(7);
}

// Plain loads of a packed panel's vectors.
struct PanelLoad {
  static svfloat32_t row(svbool_t p, const float* at) { return svld1(p, at); }
  static svfloat16_t row(svbool_t p, const float16_t* at) { return svld1(p, at); }
};

template <Store mode, bool retouch>
inline void gemm_fp32_8x3_body(int k, const float* __restrict a, const float* __restrict b,
                               float alpha, float* c, std::int64_t ldc) {
  const svbool_t all = svptrue_b32();
  gemm_fp32_8x3_rows<mode, retouch, PanelLoad>(k, a, b, 3 * lanes32(), all, all, all, alpha, c, ldc);
}
#undef ATTNRT_STEP_8x3
#undef ATTNRT_ST3
#undef ATTNRT_FMA3
#undef ATTNRT_ACC3

#define ATTNRT_ACC2(r) c##r##0 = zero, c##r##1 = zero
#define ATTNRT_FMA2(r, x)               \
  c##r##0 = svmla_x(pg, c##r##0, b0, x); \
  c##r##1 = svmla_x(pg, c##r##1, b1, x)
#define ATTNRT_ST2(r, m)                                     \
  store_acc<m, widen>(c##r##0, c + (r) * ldc, alpha);        \
  store_acc<m, widen>(c##r##1, c + (r) * ldc + cols, alpha)
#define ATTNRT_ST2_ALL(m)                                                   \
  ATTNRT_ST2(0, m); ATTNRT_ST2(1, m); ATTNRT_ST2(2, m); ATTNRT_ST2(3, m);   \
  ATTNRT_ST2(4, m); ATTNRT_ST2(5, m); ATTNRT_ST2(6, m); ATTNRT_ST2(7, m);   \
  ATTNRT_ST2(8, m); ATTNRT_ST2(9, m); ATTNRT_ST2(10, m); ATTNRT_ST2(11, m)

#define ATTNRT_STEP_12x2(next)                                   \
  do {                                                           \
    const V b0 = ldb(pb0, b), b1 = ldb(pb1, b + cols);          \
    x2 = bcast(a + 2);                                        \
    ATTNRT_FMA2(0, x0);                                          \
    x3 = bcast(a + 3);                                        \
    ATTNRT_FMA2(1, x1);                                          \
    x0 = bcast(a + 4);                                        \
    ATTNRT_FMA2(2, x2);                                          \
    x1 = bcast(a + 5);                                        \
    ATTNRT_FMA2(3, x3);                                          \
    x2 = bcast(a + 6);                                        \
    ATTNRT_FMA2(4, x0);                                          \
    x3 = bcast(a + 7);                                        \
    ATTNRT_FMA2(5, x1);                                          \
    x0 = bcast(a + 8);                                        \
    ATTNRT_FMA2(6, x2);                                          \
    x1 = bcast(a + 9);                                        \
    ATTNRT_FMA2(7, x3);                                          \
    x2 = bcast(a + 10);                                       \
    ATTNRT_FMA2(8, x0);                                          \
    x3 = bcast(a + 11);                                       \
    ATTNRT_FMA2(9, x1);                                          \
    if (next) x0 = bcast(a + 12);                             \
    ATTNRT_FMA2(10, x2);                                         \
    if (next) x1 = bcast(a + 13);                             \
    ATTNRT_FMA2(11, x3);                                         \
    a += 12;                                                     \
    b += ldb_rows;                                               \
  } while (0)

// `steps` k steps from zeroed accumulators (a, b advance past them).
#define ATTNRT_RUN_12x2(steps)                                              \
  do {                                                                     \
    ATTNRT_ACC2(0); ATTNRT_ACC2(1); ATTNRT_ACC2(2); ATTNRT_ACC2(3);        \
    ATTNRT_ACC2(4); ATTNRT_ACC2(5); ATTNRT_ACC2(6); ATTNRT_ACC2(7);        \
    ATTNRT_ACC2(8); ATTNRT_ACC2(9); ATTNRT_ACC2(10); ATTNRT_ACC2(11);      \
    const int n = (steps);                                                 \
    V x0 = bcast(a), x1 = bcast(a + 1), x2, x3;                            \
    for (int p = 0; p < n - 1; ++p) {                                      \
      ATTNRT_MCA_BEGIN();                                                  \
      if constexpr (retouch) touch.step(12);                               \
      ATTNRT_STEP_12x2(true);                                              \
      ATTNRT_MCA_END();                                                    \
    }                                                                      \
    ATTNRT_STEP_12x2(false);                                               \
  } while (0)

// 12 rows x 2 vectors of T (fp32, or fp16 accumulating in fp16) of B rows
// ldb_rows elements of TB apart, read as for 8x3 (Load, pb0, pb1). fp16
// accumulators are widened to the fp32 C (columns placed as `widen` says)
// once after the loop, or with flush > 0 after every `flush` k steps, each
// flush but the first adding to C (later_store).
template <class T, Store mode, bool retouch, class Load, class TB, int flush = 0, Widen widen = Widen::zip>
inline void gemm_12x2_rows(int k, const T* __restrict a, const TB* __restrict b,
                           std::int64_t ldb_rows, svbool_t pb0, svbool_t pb1, float alpha,
                           float* c, std::int64_t ldc) {
  using V = typename Vec<T>::type;
  const svbool_t pg = Vec<T>::all();
  const int cols = Vec<T>::lanes();  // C columns per vector
  const auto ldb = [](svbool_t p, const TB* at) { return Load::row(p, at); };
  const V zero = Vec<T>::zero();
  const auto bcast = [](const T* p) { return Vec<T>::bcast(p); };
  V c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  V c60, c61, c70, c71, c80, c81, c90, c91, c100, c101, c110, c111;
  Retouch<T> touch{a + (k / 2) * 12, a, a + k * 12};
  if constexpr (flush == 0) {
    ATTNRT_RUN_12x2(k);
    ATTNRT_ST2_ALL(mode);
  } else {
    for (int p0 = 0; p0 < k; p0 += flush) {
      ATTNRT_RUN_12x2(k - p0 < flush ? k - p0 : flush);
      if (p0 == 0) {
        ATTNRT_ST2_ALL(mode);
      } else {
        ATTNRT_ST2_ALL(later_store(mode));
      }
    }
  }
}

// A packed B panel whose rows are `pitch` vectors apart.
template <class T, Store mode, bool retouch, int pitch, int flush = 0, Widen widen = Widen::zip>
inline void gemm_12x2_body(int k, const T* __restrict a, const T* __restrict b, float alpha,
                           float* c, std::int64_t ldc) {
  const svbool_t all = Vec<T>::all();
  gemm_12x2_rows<T, mode, retouch, PanelLoad, T, flush, widen>(k, a, b, pitch * Vec<T>::lanes(), all, all, alpha,
                                                               c, ldc);
}
#undef ATTNRT_RUN_12x2
#undef ATTNRT_STEP_12x2
#undef ATTNRT_ST2_ALL
#undef ATTNRT_ST2
#undef ATTNRT_FMA2
#undef ATTNRT_ACC2

// Entry points with the KernelSet signatures. The re-touch variant runs when
// the B tile (k steps of `pitch` vectors) would push A out of L1.
inline bool retouch_for(int k, int pitch, int elem_bytes = 4) {
  return kRetouchA && std::int64_t{k} * pitch * lanes32() * elem_bytes > kRetouchAboveBytes;
}

inline void qk_fp32_8x3(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  const auto* pa = static_cast<const float*>(a);
  const auto* pb = static_cast<const float*>(b);
  if (retouch_for(dp, 3))
    gemm_fp32_8x3_body<Store::scaled, true>(dp, pa, pb, alpha, s, lds);
  else
    gemm_fp32_8x3_body<Store::scaled, false>(dp, pa, pb, alpha, s, lds);
}

template <Store mode>
inline void pv_fp32_8x3(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  const auto* pa = static_cast<const float*>(a);
  const auto* pb = static_cast<const float*>(b);
  if (retouch_for(kp, 3))
    gemm_fp32_8x3_body<mode, true>(kp, pa, pb, 1.0f, o, ldo);
  else
    gemm_fp32_8x3_body<mode, false>(kp, pa, pb, 1.0f, o, ldo);
}

// Q·Kᵀ over a K panel of `panel` vectors per row (2 for the 12x2 set, 4 for
// the fp16 sets, whose fast path needs 4-vector-wide K panels), as
// panel / 2 passes of 12x2 that share the A panel.
template <int panel>
inline void qk_fp32_12x2(int dp, const void* a, const void* b, float alpha, float* s, std::int64_t lds) {
  const auto* pa = static_cast<const float*>(a);
  const auto* pb = static_cast<const float*>(b);
  const int vl = lanes32();
  const bool touch = retouch_for(dp, panel);
  for (int pass = 0; pass < panel / 2; ++pass) {
    if (touch)
      gemm_12x2_body<float, Store::scaled, true, panel>(dp, pa, pb + 2 * pass * vl, alpha, s + 2 * pass * vl, lds);
    else
      gemm_12x2_body<float, Store::scaled, false, panel>(dp, pa, pb + 2 * pass * vl, alpha, s + 2 * pass * vl, lds);
  }
}

// P·V over a B panel of `panel` vectors per row (2 for the 12x2 set, 4 for
// the fp16 sets, whose fast path needs 4-vector-wide V panels), as
// panel / 2 passes of 12x2 that share the A panel.
template <Store mode, int panel>
inline void pv_fp32_12x2(int kp, const void* a, const void* b, float* o, std::int64_t ldo) {
  const auto* pa = static_cast<const float*>(a);
  const auto* pb = static_cast<const float*>(b);
  const int vl = lanes32();
  const bool touch = retouch_for(kp, panel);
  for (int pass = 0; pass < panel / 2; ++pass) {
    if (touch)
      gemm_12x2_body<float, mode, true, panel>(kp, pa, pb + 2 * pass * vl, 1.0f, o + 2 * pass * vl, ldo);
    else
      gemm_12x2_body<float, mode, false, panel>(kp, pa, pb + 2 * pass * vl, 1.0f, o + 2 * pass * vl, ldo);
  }
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
