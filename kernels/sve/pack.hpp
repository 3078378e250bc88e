// Packing Q, K and V into the panels of kernels/kernel_set.hpp, widening the
// user's dtype to fp32 (or keeping fp16 for the fp16 fast path), zero-filling
// all padding. k_pack is 1 in every SVE set.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/convert.hpp"
#include "kernels/sve/columns.hpp"
#include "kernels/sve/load.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

// Q rows [rows x k] -> panels [k][MR] (MR = 8 or 12), through the same
// column writer exp2_rows uses for P: fp32, or fp16 (from fp16: exact) for
// the fp16 Q·Kᵀ of the fast precision.
template <class T, int MR, ColType Out = ColType::f32>
void pack_a(const void* src, std::int64_t ld, int rows, int k, void* dst) {
  using E = std::conditional_t<Out == ColType::f32, float, float16_t>;
  const T* s = static_cast<const T*>(src);
  E* d = static_cast<E*>(dst);
  const int vl = lanes32();
  const auto no_sums = [](int, svfloat32_t, svfloat32_t) {};
  for (int r0 = 0; r0 < rows; r0 += MR, d += static_cast<std::int64_t>(MR) * k) {
    const int h = std::min(MR, rows - r0);
    for (int c = 0; c < k; c += vl) {
      const svbool_t pg = svwhilelt_b32(c, k);
      auto row = [&](int r) {
        return r < h ? load_f32(pg, s + (r0 + r) * ld + c) : svdup_f32(0.0f);
      };
      const int n = std::min(vl, k - c);
      if constexpr (MR == 8)
        write_columns8<Out>(d + c * MR, n, svcreate4(row(0), row(1), row(2), row(3)),
                            svcreate4(row(4), row(5), row(6), row(7)), no_sums);
      else
        write_columns12<Out>(d + c * MR, n, svcreate4(row(0), row(1), row(2), row(3)),
                             svcreate4(row(4), row(5), row(6), row(7)),
                             svcreate4(row(8), row(9), row(10), row(11)), no_sums);
    }
  }
}

// K rows [keys x k] -> panels [k][W], column = key, W = `vecs` vectors.
// Each packed row gathers one element from W keys.
template <class T, int vecs>
void pack_b_keys(const void* src, std::int64_t ld, int keys, int k, void* dst) {
  const T* s = static_cast<const T*>(src);
  float* d = static_cast<float*>(dst);
  const int vl = lanes32(), w = vecs * vl;
  const bool idx32 = static_cast<std::int64_t>(w) * ld < (std::int64_t{1} << 31);
  const svint32_t idx = svindex_s32(0, static_cast<std::int32_t>(idx32 ? ld : 0));
  for (int j0 = 0; j0 < keys; j0 += w, d += static_cast<std::int64_t>(w) * k) {
    const int h = std::min(w, keys - j0);
    if (!idx32) {  // strides too wide for 32-bit gather offsets: scalar
      for (int p = 0; p < k; ++p)
        for (int j = 0; j < w; ++j) d[p * w + j] = j < h ? load_as_float(s + (j0 + j) * ld + p) : 0.0f;
      continue;
    }
    for (int v = 0; v < vecs; ++v) {
      const svbool_t pg = svwhilelt_b32(v * vl, h);
      const T* base = s + (j0 + v * vl) * ld;
      for (int p = 0; p < k; ++p) {
        ATTNRT_MCA_BEGIN();
        svst1(svptrue_b32(), d + p * w + v * vl, gather_f32(pg, base + p, idx));
        ATTNRT_MCA_END();
      }
    }
  }
}

// fp16 K rows [keys x k] -> fp16 panels [k][W], W = 2·vecs·lanes32 keys in
// `vecs` fp16 vectors, each holding keys in pairs (gemm.hpp, Widen::pairs):
// lane 2i = key i, lane 2i+1 = key lanes32 + i of the vector's keys. The
// gather puts key i in the low half of 32-bit lane i; one shift and OR
// join two such gathers into a vector of pairs.
template <int vecs>
void pack_b_key_pairs(const void* src, std::int64_t ld, int keys, int k, void* dst) {
  const auto* s = static_cast<const std::uint16_t*>(src);
  auto* d = static_cast<std::uint16_t*>(dst);
  const int vl = lanes32(), w = 2 * vecs * vl;
  const bool idx32 = static_cast<std::int64_t>(w) * ld < (std::int64_t{1} << 31);
  const svint32_t idx = svindex_s32(0, static_cast<std::int32_t>(idx32 ? ld : 0));
  const svbool_t all = svptrue_b32();
  for (int j0 = 0; j0 < keys; j0 += w, d += static_cast<std::int64_t>(w) * k) {
    const int h = std::min(w, keys - j0);
    if (!idx32) {  // strides too wide for 32-bit gather offsets: scalar
      for (int p = 0; p < k; ++p)
        for (int j = 0; j < w; ++j) {
          const int v = j / (2 * vl), i = j % (2 * vl) / 2, key = 2 * v * vl + (j % 2) * vl + i;
          d[p * w + j] = key < h ? s[(j0 + key) * ld + p] : 0;
        }
      continue;
    }
    for (int v = 0; v < vecs; ++v) {
      const int lo = 2 * v * vl, hi = lo + vl;  // first keys of the low and high halves
      const svbool_t pg_lo = svwhilelt_b32(lo, h), pg_hi = svwhilelt_b32(hi, h);
      const std::uint16_t* base_lo = s + (j0 + lo) * ld;
      const std::uint16_t* base_hi = s + (j0 + hi) * ld;
      for (int p = 0; p < k; ++p) {
        ATTNRT_MCA_BEGIN();
        const svuint32_t a = svld1uh_gather_s32index_u32(pg_lo, base_lo + p, idx);
        const svuint32_t b = svld1uh_gather_s32index_u32(pg_hi, base_hi + p, idx);
        svst1(all, reinterpret_cast<std::uint32_t*>(d + p * w) + v * vl, svorr_x(all, a, svlsl_x(all, b, 16u)));
        ATTNRT_MCA_END();
      }
    }
  }
}

// V rows [keys x dv] -> panels [keys][W], column = value dim, W = `vecs`
// fp32 vectors, stored as fp32 (Out = float) or fp16 (Out = Fp16, from fp16:
// a copy, one fp16 vector per two fp32 vectors of columns).
template <class T, class Out, int vecs>
void pack_b_values(const void* src, std::int64_t ld, int keys, int dv, void* dst) {
  const T* s = static_cast<const T*>(src);
  const int vl = lanes32(), w = vecs * vl;
  for (int c0 = 0; c0 < dv; c0 += w) {
    Out* d = static_cast<Out*>(dst) + static_cast<std::int64_t>(c0) * keys;
    if constexpr (sizeof(Out) == 4) {
      for (int p = 0; p < keys; ++p) {
        ATTNRT_MCA_BEGIN();
        const T* row = s + p * ld + c0;
        float* out = reinterpret_cast<float*>(d) + p * w;
        for (int v = 0; v < vecs; ++v)
          svst1(svptrue_b32(), out + v * vl, load_f32(svwhilelt_b32(c0 + v * vl, dv), row + v * vl));
        ATTNRT_MCA_END();
      }
    } else {
      static_assert(sizeof(T) == 2 && vecs % 2 == 0, "fp16 V panels: from fp16, whole fp16 vectors");
      const int hl = 2 * vl;  // fp16 lanes
      for (int p = 0; p < keys; ++p) {
        ATTNRT_MCA_BEGIN();
        const auto* row = reinterpret_cast<const std::uint16_t*>(s + p * ld + c0);
        auto* out = reinterpret_cast<std::uint16_t*>(d + p * w);
        for (int v = 0; v < vecs / 2; ++v)
          svst1(svptrue_b16(), out + v * hl, svld1(svwhilelt_b16(c0 + v * hl, dv), row + v * hl));
        ATTNRT_MCA_END();
      }
    }
  }
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
