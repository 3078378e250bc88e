// Sixteen keys' dot products finished at once: each key's accumulator is a
// zmm of partial sums, and the score of key r is the sum of its 16 lanes.
// Summed key by key, each score is a chain of dependent shuffles and adds
// ending in a scalar store; transposed in a tree as below, 16 scores take
// 15 adds and 30 shuffles and leave as one vector (the one-row Q·Kᵀ kernels
// of int8_vnni.cpp and qk_row_bf16.cpp).
#pragma once

#include "kernels/avx512/intrinsics.hpp"

#include "kernels/avx512/convert.hpp"
#include "kernels/x86/few_rows.hpp"

namespace attnrt::kernels::avx512 {

inline __m512i add_lanes(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }
inline __m512 add_lanes(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
inline __m512i as_words(__m512i v) { return v; }
inline __m512i as_words(__m512 v) { return _mm512_castps_si512(v); }
// v's bits as the type of `like`.
inline __m512i from_words(__m512i v, __m512i /*like*/) { return v; }
inline __m512 from_words(__m512i v, __m512 /*like*/) { return _mm512_castsi512_ps(v); }

// Four accumulators' lanes summed per 128-bit chunk: chunk c of the result
// holds v[0..3]'s sums over their chunk c, in order. V: __m512 (fp32
// lanes) or __m512i (int32).
template <class V>
inline V sum_chunks4(const V (&v)[4]) {
  const auto unpack = [](V a, V b, bool hi) {
    const __m512i x = as_words(a), y = as_words(b);
    return from_words(hi ? _mm512_unpackhi_epi32(x, y) : _mm512_unpacklo_epi32(x, y), a);
  };
  const auto unpack64 = [](V a, V b, bool hi) {
    const __m512i x = as_words(a), y = as_words(b);
    return from_words(hi ? _mm512_unpackhi_epi64(x, y) : _mm512_unpacklo_epi64(x, y), a);
  };
  const V t01 = add_lanes(unpack(v[0], v[1], false), unpack(v[0], v[1], true));
  const V t23 = add_lanes(unpack(v[2], v[3], false), unpack(v[2], v[3], true));
  return add_lanes(unpack64(t01, t23, false), unpack64(t01, t23, true));
}

// Lane 4g + r: the sum over all chunks of g[g]'s lane r of each chunk (of
// four sum_chunks4 results: the sixteen keys' totals, in order).
template <class V>
inline V sum_groups4(const V (&g)[4]) {
  const auto pairs = [](V a, V b) {
    const __m512i x = as_words(a), y = as_words(b);
    return add_lanes(from_words(_mm512_shuffle_i32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)), a),
                     from_words(_mm512_shuffle_i32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)), a));
  };
  return pairs(pairs(g[0], g[1]), pairs(g[2], g[3]));
}

// A group's 16 scores (lane i: its lane i's key, x86::KeyGroup16) to s at
// their keys: with two or four streams, each stream's lanes gathered to
// a run of their own, stored at its keys.
template <x86::Prefetch P, class T>
inline void store_key_group(const x86::KeyGroup16<P, T>& g, __m512 v, float* s) {
  if (g.streams == 1) return _mm512_mask_storeu_ps(s + g.s[0].j0, first16(g.s[0].n), v);
  const int per = 16 / g.streams;
  const __m512i order = g.streams == 2 ? _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)
                                       : _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m512 split = _mm512_permutexvar_ps(order, v);
  for (int t = 0; t < g.streams; ++t)  // (a stream of no keys: an empty mask, nothing stored)
    _mm512_mask_storeu_ps(s + g.s[t].j0 - per * t, static_cast<__mmask16>(first16(g.s[t].n) << (per * t)), split);
}

}  // namespace attnrt::kernels::avx512
