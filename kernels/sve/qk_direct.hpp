// Q·Kᵀ with K rows read in place (the direct K/V path), K never
// transposed: `qk_fp32_12x8_direct` at 512 bits (rows x keys of a tile).
// LD1RQW loads 4 consecutive d-values of one key (16 bytes of its K row)
// into every 128-bit segment; Q is packed once per call as quads, one
// vector holding R = lanes/4 rows x the same 4 d-values. One FMLA then
// adds 4 d-steps of R (row, key) dot products, every lane useful (the
// dot-along-d alternative reduces 16 lanes per score, 4x the epilogue).
// A tile is G row vectors (G·R <= 12 rows at 512 bits) x 8 keys: 24
// accumulators, 3 LD1W + 8 LD1RQW per 24 FMLA. Its epilogue adds each
// (row, key)'s 4 lanes with two UZP1/UZP2 + FADD levels, 4 keys per
// vector, then de-interleaves rows with UZP so each S row is one
// predicated store: no FADDV (slow on A64FX), no gather, no scatter.
// fp16/bf16 K rows are widened 8 rows at a time into an L1 buffer as they
// stream in: widening each quad as loaded would cost 2 more FP ops per 3
// FMLA (estimated 20 against 12 cycles per step), the buffer costs 1 FCVT
// and 1 store per 16 d-values of a key.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "kernels/kernel_set.hpp"
#include "kernels/rows_ahead.hpp"
#include "kernels/sve/load.hpp"

namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR {

inline constexpr int kQkDirectKeys = 8;  // keys per tile
// Floats of one row tile's packed Q: 128 quads of d (and the zero quad a
// one-vector tile may read past an odd count) x up to 64 lanes.
inline constexpr int kQuadPackFloats = (kMaxHeadDim / 4 + 1) * 64;

// Row vectors per tile: 3 up to 512 bits (12 rows there), 1 beyond, so
// that a tile's packed Q fits kQuadPackFloats.
inline int quad_tile_vectors() { return std::clamp(48 / lanes32(), 1, 3); }

// dst[r][c] = src[r][c] widened to fp32 (src rows ld elements apart, dst
// dense): the KernelSet's widen_rows, and K rows for the quad tiles.
template <class T>
void widen_rows(const void* src, std::int64_t ld, int rows, int cols, float* dst) {
  const T* s = static_cast<const T*>(src);
  const int vl = lanes32();
  const svbool_t all = svptrue_b32();
  for (int r = 0; r < rows; ++r, dst += cols) {
    const T* row = s + r * ld;
    int c = 0;
    for (; c + 2 * vl <= cols; c += 2 * vl) {  // two vectors a step: 1 cycle each (estimated)
      ATTNRT_MCA_BEGIN();
      svst1(all, dst + c, load_f32(all, row + c));
      svst1(all, dst + c + vl, load_f32(all, row + c + vl));
      ATTNRT_MCA_END();
    }
    for (; c < cols; c += vl) {
      const svbool_t pg = svwhilelt_b32(c, cols);
      svst1(pg, dst + c, load_f32(pg, row + c));
    }
  }
}

// Q rows [rows x d] (rows <= G·R) -> qp[j][g]: one vector per quad j of d
// and row vector g, lanes 4i + t = Q[gR + i][4j + t], zero past rows and d
// (and, for G = 1, whose steps take quads in pairs, to an even count).
template <int G>
void pack_q_quads(const float* q, std::int64_t ldq, int rows, int d, float* qp) {
  const int vl = lanes32(), R = vl / 4, nq = (d + 3) / 4;
  if (G == 1 && nq % 2) svst1(svptrue_b32(), qp + nq * vl, svdup_f32(0.0f));
  const svbool_t all = svptrue_b32();
  const svuint32_t row_of_lane = svlsr_x(all, svindex_u32(0, 1), 2u);
  for (int j = 0; j < nq; ++j) {
    ATTNRT_MCA_BEGIN();
    const svbool_t pd = svwhilelt_b32(4 * j, d);
    for (int g = 0; g < G; ++g) {
      svfloat32_t v = svdup_f32(0.0f);
      for (int i = 0; i < R && g * R + i < rows; ++i)
        v = svsel(svcmpeq(all, row_of_lane, static_cast<std::uint32_t>(i)),
                  svld1rq(pd, q + (g * R + i) * ldq + 4 * j), v);
      svst1(all, qp + (j * G + g) * vl, v);
    }
    ATTNRT_MCA_END();
  }
}

// S rows gR.. of one row vector, keys 0..n (n <= 8), from w0 (keys 0-3)
// and w1 (keys 4-7), each lanes 4·... = [key][R rows] (key-major).
inline void store_quad_scores(svfloat32_t w0, svfloat32_t w1, int rows, int n, float* s,
                              std::int64_t lds) {
  const int R = lanes32() / 4;
  const svbool_t pn = svwhilelt_b32(0, n);
  switch (R) {
    case 1:  // one row: w0, w1 hold its keys in order
      svst1(svwhilelt_b32(0, std::min(n, 4)), s, w0);
      svst1(svwhilelt_b32(4, n), s + 4, w1);
      return;
    case 2:
      svst1(pn, s, svuzp1(w0, w1));
      if (rows > 1) svst1(pn, s + lds, svuzp2(w0, w1));
      return;
    case 4: {  // even rows, odd rows, then each split again
      const svfloat32_t e = svuzp1(w0, w1), o = svuzp2(w0, w1);
      svst1(pn, s, svuzp1(e, e));
      if (rows > 1) svst1(pn, s + lds, svuzp1(o, o));
      if (rows > 2) svst1(pn, s + 2 * lds, svuzp2(e, e));
      if (rows > 3) svst1(pn, s + 3 * lds, svuzp2(o, o));
      return;
    }
    default: {  // vectors beyond 512 bits: through a buffer
      float buf[kQkDirectKeys * 16];
      svst1(svptrue_b32(), buf, w0);
      svst1(svptrue_b32(), buf + 4 * R, w1);
      for (int i = 0; i < std::min(rows, R); ++i)
        for (int k = 0; k < n; ++k) s[i * lds + k] = buf[k * R + i];
    }
  }
}

#define ATTNRT_QK_ACC(kk) svfloat32_t a0##kk = zero, a1##kk = zero, a2##kk = zero
// One step: quad x/4 of d for every row vector (G > 1), or quads x/4 and
// x/4 + 1 of the one row vector in two accumulator sets (G = 1: 16 FMLA
// chains rather than 8, against FMLA latency 9).
#define ATTNRT_QK_KEY(kk, pk, pk1)                                        \
  do {                                                                    \
    const svfloat32_t kv = svld1rq(pk, k##kk + x);                        \
    a0##kk = svmla_x(all, a0##kk, q0, kv);                                \
    if constexpr (G == 1) a1##kk = svmla_x(all, a1##kk, q1, svld1rq(pk1, k##kk + x + 4)); \
    if constexpr (G > 1) a1##kk = svmla_x(all, a1##kk, q1, kv);           \
    if constexpr (G > 2) a2##kk = svmla_x(all, a2##kk, q2, kv);           \
  } while (0)
#define ATTNRT_QK_STEP(pk, pk1)                                           \
  do {                                                                    \
    const svfloat32_t q0 = svld1(all, qv);                                \
    const svfloat32_t q1 = svld1(all, qv + vl);                           \
    const svfloat32_t q2 = G > 2 ? svld1(all, qv + 2 * vl) : zero;        \
    ATTNRT_QK_KEY(0, pk, pk1); ATTNRT_QK_KEY(1, pk, pk1);                 \
    ATTNRT_QK_KEY(2, pk, pk1); ATTNRT_QK_KEY(3, pk, pk1);                 \
    ATTNRT_QK_KEY(4, pk, pk1); ATTNRT_QK_KEY(5, pk, pk1);                 \
    ATTNRT_QK_KEY(6, pk, pk1); ATTNRT_QK_KEY(7, pk, pk1);                 \
    qv += (G == 1 ? 2 : G) * vl;                                          \
    x += G == 1 ? 8 : 4;                                                  \
  } while (0)

// S[rows x n] = alpha·Q·Kᵀ for one tile: G row vectors of packed quads qp
// (rows <= G·R) against keys k, k + ldk, .. (n <= 8; the last is read
// again for the missing ones, whose scores are dropped).
template <int G>
void qk_quad_tile(int rows, int d, const float* qp, const float* k, std::int64_t ldk, int n,
                  float alpha, float* s, std::int64_t lds) {
  const svbool_t all = svptrue_b32();
  const int vl = lanes32(), R = vl / 4;
  const svfloat32_t zero = svdup_f32(0.0f);
  const auto key = [&](int kk) { return k + std::min(kk, n - 1) * ldk; };
  const float *k0 = key(0), *k1 = key(1), *k2 = key(2), *k3 = key(3), *k4 = key(4), *k5 = key(5),
              *k6 = key(6), *k7 = key(7);
  ATTNRT_QK_ACC(0); ATTNRT_QK_ACC(1); ATTNRT_QK_ACC(2); ATTNRT_QK_ACC(3);
  ATTNRT_QK_ACC(4); ATTNRT_QK_ACC(5); ATTNRT_QK_ACC(6); ATTNRT_QK_ACC(7);
  const float* qv = qp;
  const int per_step = G == 1 ? 8 : 4;
  int x = 0;
  for (; x + per_step <= d;) {
    ATTNRT_MCA_BEGIN();
    ATTNRT_QK_STEP(all, all);
    ATTNRT_MCA_END();
  }
  if (x < d) {  // lanes 0-3 of a predicate select a quad's d-values
    const svbool_t tail = svwhilelt_b32(x, d), tail1 = svwhilelt_b32(x + 4, d);
    ATTNRT_QK_STEP(tail, tail1);
  }
  if constexpr (G == 1) {
    a00 = svadd_x(all, a00, a10), a01 = svadd_x(all, a01, a11), a02 = svadd_x(all, a02, a12);
    a03 = svadd_x(all, a03, a13), a04 = svadd_x(all, a04, a14), a05 = svadd_x(all, a05, a15);
    a06 = svadd_x(all, a06, a16), a07 = svadd_x(all, a07, a17);
  }
  // (row, key)'s 4 lanes added: fold(x, y) = [x's lane pairs | y's lane pairs].
  const auto fold = [&](svfloat32_t u, svfloat32_t v) { return svadd_x(all, svuzp1(u, v), svuzp2(u, v)); };
  const svfloat32_t scale = svdup_f32(alpha);
#define ATTNRT_QK_STORE(g)                                                                         \
  store_quad_scores(svmul_x(all, fold(fold(a##g##0, a##g##1), fold(a##g##2, a##g##3)), scale),     \
                    svmul_x(all, fold(fold(a##g##4, a##g##5), fold(a##g##6, a##g##7)), scale),     \
                    rows - (g) * R, n, s + (g) * R * lds, lds)
  ATTNRT_QK_STORE(0);
  if constexpr (G > 1) ATTNRT_QK_STORE(1);
  if constexpr (G > 2) ATTNRT_QK_STORE(2);
#undef ATTNRT_QK_STORE
}
#undef ATTNRT_QK_STEP
#undef ATTNRT_QK_KEY
#undef ATTNRT_QK_ACC

// One row tile (rows <= G·R) against all keys, 8 at a time, Q packed once.
// The first row tile reads K from memory and prefetches it ahead_bytes
// ahead (StreamParams::bytes_ahead), a tile's 8 rows at a time (into the next pages past the call's
// last key: `next`'s runs, kernel_set.hpp); the others find it in L1 or L2.
template <int G, class T>
void qk_quad_rows(int rows, int keys, int d, const float* q, std::int64_t ldq, const T* k,
                  std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next,
                  bool prefetch, int ahead_bytes) {
  alignas(64) float qp[kQuadPackFloats];
  pack_q_quads<G>(q, ldq, rows, d, qp);
  const int row_bytes = d * static_cast<int>(sizeof(T));
  const int ahead = std::max(1, ahead_bytes / row_bytes / kQkDirectKeys) * kQkDirectKeys;
  for (int j = 0; j < keys; j += kQkDirectKeys) {
    const int n = std::min(kQkDirectKeys, keys - j);
    if (prefetch)
      for (int i = j + ahead; i < j + ahead + kQkDirectKeys; ++i)
        prefetch_bytes(row_ahead(k, ldk, keys, next, i), row_bytes);
    if constexpr (std::is_same_v<T, float>) {
      qk_quad_tile<G>(rows, d, qp, k + j * ldk, ldk, n, alpha, s + j, lds);
    } else {
      alignas(64) float kw[kQkDirectKeys * kMaxHeadDim];
      widen_rows<T>(k + j * ldk, ldk, n, d, kw);
      qk_quad_tile<G>(rows, d, qp, kw, d, n, alpha, s + j, lds);
    }
  }
}

// FewRowKernels::qk: row tiles of quad_tile_vectors() row vectors, the
// last one with as few as its rows need; K prefetched AheadBytes ahead.
template <class T, int AheadBytes>
void qk_direct(int rows, int keys, int d, const float* q, std::int64_t ldq, const void* k_rows,
               std::int64_t ldk, float alpha, float* s, std::int64_t lds, RowsAfter next) {
  const T* k = static_cast<const T*>(k_rows);
  const int R = lanes32() / 4, most = quad_tile_vectors() * R;
  for (int r0 = 0; r0 < rows; r0 += most) {
    const int h = std::min(most, rows - r0);
    const float* qr = q + r0 * ldq;
    float* sr = s + r0 * lds;
    switch ((h + R - 1) / R) {
      case 1: qk_quad_rows<1>(h, keys, d, qr, ldq, k, ldk, alpha, sr, lds, next, r0 == 0, AheadBytes); break;
      case 2: qk_quad_rows<2>(h, keys, d, qr, ldq, k, ldk, alpha, sr, lds, next, r0 == 0, AheadBytes); break;
      default: qk_quad_rows<3>(h, keys, d, qr, ldq, k, ldk, alpha, sr, lds, next, r0 == 0, AheadBytes); break;
    }
  }
}

}  // namespace attnrt::kernels::sve::ATTNRT_SVE_FLAVOR
