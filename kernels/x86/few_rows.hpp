// Q·Kᵀ and P·V for a few query rows (decode: one query row, or the query
// heads of a GQA group stacked) with K and V rows read in place, on 256-bit
// vectors. Both x86 sets build their few-row direct kernels from these
// loops: the avx2 files include this header, and so do the avx512 ones
// (which is why it lives in kernels/x86/, with the 256-bit helpers it uses).
//
// A few rows are bound by memory, not by FMAs: K and V are read key after
// key, each row whole from its start (one stream, in address order when the
// rows are contiguous), which the hardware prefetchers follow where they
// follow several rows read side by side late. On Zen 3 (K from DRAM, D128,
// against a plain read of the same bytes in the same run): one row in 8-key
// groups read side by side streamed K at 62-73% of the read loop, key after
// key at 85-100%; four rows in the 3x4 and 1x4 register tiles 6.8-8.1 GB/s,
// key after key 10.1-11.0 (in L1/L2 the tiles are faster, 59 vs 51
// GFLOP/s, so more rows keep them). How a core streams best otherwise was
// measured per core, and the loops take it as a parameter (FewRowsStream),
// chosen per microarchitecture in kernels/tuning.hpp's table:
// - rows_ahead: K or V rows prefetched ahead, the row that many keys on as
//   each key starts, counted in fp32 rows: 16-bit rows go twice as many
//   ahead, the same bytes (ahead_of). Zen 3 (the avx2 set): 8, about 12%
//   fewer cycles per decode call (B4 H32 M1 N4096 D128) than none; counting
//   16-bit rows in bytes then gave its bf16 decode 1.130x and bf16 GQA
//   decode (H32/8) 1.111x on Zen 5 (attnrt-ab, ATTNRT_ISA=avx2). Zen 4:
//   prefetched into L1, 8 ahead streamed one row's K at 0.88 of a plain
//   read, none at 0.94-0.97, and four rows' K at 0.76 against 0.89 (K from
//   DRAM, probe, medians of 15 alternating runs); 16 ahead into L2 only
//   (into_l2) beat none by 1.22x on S5 (tuning.hpp). Zen 5 (the avx512 set, which takes this
//   loop for one row's Q·Kᵀ): 16, i.e. 8 KiB at D128: fp32 decode neutral
//   (1.008 and 1/1.019 in the two orders), bf16 1.076x (1.077, 1/0.930),
//   fp16 1.062x; 8 ahead: bf16 1.057x.
// - keys_per_pass: P·V updates O (in L1) once per pass of this many keys,
//   each pass reading its keys' V rows side by side, one 8-column slice of
//   each after another. Zen 3: 4, O's loads and stores being the cost. Zen 4:
//   1, V rows strictly one after another: passes of 4 keys streamed V at
//   0.60-0.64 of a plain read, passes of 1 at 0.96. (The avx512 set's P·V
//   now takes its own tiles, pv_direct_rows.cpp.)
// 256-bit vectors on the avx512 set too: on Zen 4 a plain read of DRAM
// streams at 0.83-0.90 of the 128-bit loop's speed with 512-bit loads and
// 0.92-0.99 with 256-bit ones, and the few-row loops follow (one row's Q·Kᵀ
// key after key: 0.74 with zmm, 0.97 with ymm).
//
// Helpers here have internal linkage (static), as in every header of the
// x86 folders: each includer compiles its own copy with its own flags.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "kernels/x86/convert.hpp"
#include "kernels/x86/lanes.hpp"
#include "kernels/x86/prefetch_to.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/rows_ahead.hpp"

namespace attnrt::kernels::x86 {

// Most rows the few-row loops serve; more take a set's register tiles.
inline constexpr int kFewRowsMax = 4;

// How a set's few-row loops stream K and V (above).
// (kernel_set.hpp's StreamParams: rows_ahead, K/V rows prefetched ahead, 0 =
// none; keys_per_pass, P·V's keys per pass over O, 1 or 4.)
using FewRowsStream = StreamParams;
// (What was measured, and which CPU takes which: kernels/tuning.hpp.)

// Rows of T that S prefetches ahead: as many bytes as S.rows_ahead fp32 rows.
template <FewRowsStream S, class T>
inline constexpr int ahead_of = S.rows_ahead * static_cast<int>(sizeof(float) / sizeof(T));

// One prefetch of the 64-byte line at p, into L1 or (IntoL2) only L2.
template <bool IntoL2>
[[gnu::always_inline]] static inline void prefetch_line(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), IntoL2 ? _MM_HINT_T1 : _MM_HINT_T0);
}

// One prefetch per 64-byte line of the n elements at p.
template <bool IntoL2, class T>
[[gnu::always_inline]] static inline void prefetch_lines(const T* p, int n) {
  for (int x = 0; x < n; x += 64 / static_cast<int>(sizeof(T))) prefetch_line<IntoL2>(p + x);
}

// The prefetches of a loop walking rows key by key (RowWalk): the row
// `ahead` keys on; with Prefetch::l1_and_l2 that one into L2 and the row
// ahead/8 keys on into L1 (the read probe's distances, prefetch_to.hpp).
// Sapphire Rapids-class VM, attnrt-ab S5 int8 K/V, one thread, 16 pairs,
// against L1 `ahead` and L2 2·ahead on: 1.047; L1 ahead/4 or L2 ahead·3/4
// or ·3/2 on, within 1% of this.
template <Prefetch P, class T>
class RowPrefetch {
 public:
  static constexpr bool kFar = P == Prefetch::l1_and_l2;
  RowPrefetch(const T* rows, std::int64_t ld, int own, RowsAfter next, int ahead)
      : near_(rows, ld, own, next, kFar ? std::max(1, ahead / 8) : ahead),
        far_(rows, ld, own, next, kFar ? ahead : 0) {}
  // The rows ahead of the walk's next key, `width` elements each; then a key on.
  [[gnu::always_inline]] void next_key(int width) {
    prefetch_lines<P == Prefetch::l2>(near_.row(), width);
    near_.step();
    if constexpr (kFar) {
      prefetch_lines<true>(far_.row(), width);
      far_.step();
    }
  }
  // For loops that step plain pointers between the walks' run ends (pv_row.hpp).
  const RowWalk<T>& near() const { return near_; }
  const RowWalk<T>& far() const { return far_; }
  int rows_left() const { return kFar && far_.rows_left() < near_.rows_left() ? far_.rows_left() : near_.rows_left(); }
  void skip(int n) {
    near_.skip(n);
    if constexpr (kFar) far_.skip(n);
  }

 private:
  RowWalk<T> near_, far_;
};

// The next key's row from `key`, its prefetches (`ahead`, when given)
// issued and the walks stepped: the row-walking loops of one row's Q·Kᵀ.
template <Prefetch P, class T>
[[gnu::always_inline]] inline const T* next_key_row(RowWalk<T>& key, RowPrefetch<P, T>* ahead, int d) {
  const T* row = key.row();
  key.step();
  if (ahead) ahead->next_key(d);
  return row;
}

// Keys from which a one-row call walks its rows as two streams
// (CallStreams). One core of a Sapphire Rapids-class VM, a loop of the
// int8 kernel's work per 128-byte row over 256 MiB: 11.1 GB/s as one
// stream, 13.5-13.7 as two halves 256 KiB apart, 11.6-11.9 as two 8 KiB
// apart (so short calls, such as paged decode's 64 keys, keep one). The
// halves go row by row in turns: in turns of 16 rows the same loop read
// 12.6-12.9 GB/s, of 2 rows 13.1-13.7, of 1 row 14.1-14.3 (9 runs each).
inline constexpr int kTwoStreamKeys = 512;
// Keys from which a loop that takes four streams (one row's Q·Kᵀ:
// for_each_key16, and on avx512 qk_key_after_key and qk_row_codes.hpp)
// walks its call as four quarters. One core of a Zen 4 VM, a loop of the
// int8 Q·Kᵀ's work per 128-byte row over 256 MiB: 22.5 GB/s as one
// stream, 23.3 as two, 24.9 as four, 25.0 as eight (plain reads 21, 24,
// 26.5, 26). attnrt-ab against two streams, one thread, 12-16 pairs, S5
// (B4 H32 M1 N4096 D128): int8 K/V 1.075 (two threads 1.032), bf16
// 1.002-1.007 (B8 H32 N1024 and N2048, B1 H8 N32768: 0.97-1.01); bf16 on
// shuffled pages of 16 (attnrt-bench, four alternating runs) 1-2% faster;
// fp8 K/V codes 0.997-1.007.
inline constexpr int kFourStreamKeys = 2 * kTwoStreamKeys;

// A one-row call's K or V rows as its loops walk them: from kTwoStreamKeys
// keys, up to `most` streams (1, 2 or 4; four from kFourStreamKeys), keys
// [i·part, (i + 1)·part) the i-th, part rounded up to a multiple of
// `round` (the last stream's shorter), each with its walk and prefetches
// `rows_ahead` rows on (none at 0, nor for rows next.by_hardware leaves to
// the hardware prefetchers); below, or for rows next.one_stream, one stream
// (part = keys).
template <Prefetch P, class T>
struct CallStreams {
  static constexpr int kMost = 4;
  CallStreams(int call_keys, const T* rows, std::int64_t ld, RowsAfter next, int call_ahead, int round, int most)
      : keys(call_keys),
        streams(next.one_stream                            ? 1
                : most >= 4 && keys >= kFourStreamKeys ? 4
                : most >= 2 && keys >= kTwoStreamKeys  ? 2
                                                       : 1),
        part(streams == 1 ? keys : ((keys + streams - 1) / streams + round - 1) / round * round),
        rows_ahead(next.by_hardware ? 0 : call_ahead),
        own(rows_in_place(keys, next)),  // (a spanning call's rows: RowWalk)
        walk{{rows, ld, own, next}, {rows, ld, own, next, first(1)}, {rows, ld, own, next, first(2)},
             {rows, ld, own, next, first(3)}},
        ahead{{rows, ld, own, next, rows_ahead}, {rows, ld, own, next, rows_ahead},
              {rows, ld, own, next, rows_ahead}, {rows, ld, own, next, rows_ahead}} {
    for (int i = 1; i < streams; ++i) ahead[i].skip(first(i));
  }
  bool paired() const { return streams > 1; }
  // Stream i's first key (0 for a stream the call does not take).
  int first(int i) const { return i < streams ? i * part : 0; }
  // Stream i's keys [first(i), end(i)).
  int end(int i) const { return std::min(keys, (i + 1) * part); }
  // Stream i's prefetches, or null when there are none.
  RowPrefetch<P, T>* prefetch(int i) { return rows_ahead > 0 ? &ahead[i] : nullptr; }
  // key(row, j) for each key j of the call, rows of `width` elements; with
  // more streams than one, theirs in turns (j, part + j, ...).
  template <class Key>
  [[gnu::always_inline]] void for_each_key(int width, Key&& key) {
    if (!paired()) {
      for (int j = 0; j < keys; ++j) key(next_key_row(walk[0], prefetch(0), width), j);
      return;
    }
    for (int j = 0; j < part; ++j)
      for (int i = 0; i < streams; ++i)
        if (first(i) + j < keys) key(next_key_row(walk[i], prefetch(i), width), first(i) + j);
  }

  int keys, streams, part, rows_ahead, own;
  RowWalk<T> walk[kMost];
  RowPrefetch<P, T> ahead[kMost];
};

// The keys of one 16-lane group of a one-row Q·Kᵀ call: up to 16 of one
// stream, or 16 / streams of each of two or four, lane `streams`·i + s
// from stream s, so the streams are read row by row in turns.
template <Prefetch P, class T>
struct KeyGroup16 {
  struct Stream {
    RowWalk<T>* walk;
    RowPrefetch<P, T>* ahead;  // null: no prefetches
    int j0, n;                 // its keys [j0, j0 + n) of the call
  };
  Stream s[CallStreams<P, T>::kMost];
  int streams;  // 1, 2 or 4; s[0] has the most keys
  // Lanes from the first up to the last real one (the rest skipped in fours).
  int span() const { return streams * s[0].n; }
  // Lane `lane`'s K row, its stream's walks stepped, or `last` again for a
  // lane past its stream's keys (computed, never stored).
  [[gnu::always_inline]] const T* row(int lane, int d, const T* last) {
    Stream& st = s[lane & (streams - 1)];
    // lane / streams as a shift (streams a power of two): as a division it
    // compiled to an idiv per key.
    return lane >> std::countr_zero(static_cast<unsigned>(streams)) < st.n ? next_key_row(*st.walk, st.ahead, d)
                                                                            : last;
  }
};

// group(KeyGroup16&) for the 16-key groups of a one-row Q·Kᵀ call of
// `keys` rows (RowWalk's conventions), with their prefetches `rows_ahead`
// rows on (none at 0). From kTwoStreamKeys keys the call's halves, from
// kFourStreamKeys its quarters, share each group.
template <Prefetch P, class T, class Group>
[[gnu::always_inline]] inline void for_each_key16(int keys, const T* k, std::int64_t ldk, RowsAfter next,
                                                  int rows_ahead, Group&& group) {
  CallStreams<P, T> rows(keys, k, ldk, next, rows_ahead, 8, 4);
  const int per = 16 / rows.streams;  // keys of each stream in a group
  using G = KeyGroup16<P, T>;
  for (int j0 = 0; j0 < rows.part; j0 += per) {
    G g{{}, rows.streams};
    for (int i = 0; i < rows.streams; ++i) {
      const int at = rows.first(i) + j0;
      g.s[i] = {&rows.walk[i], rows.prefetch(i), at, std::clamp(rows.end(i) - at, 0, per)};
    }
    group(g);
  }
}

// S[i][j] = alpha * Q[i]·K[j] for R rows, one key at a time: C chains of
// FMAs per row (four for one row, two for more) over d in 8-float steps.
// K rows of T (fp32, or fp16/bf16 widened as loaded). With MostStreams 4
// (the avx512 set's one row), a call of kTwoStreamKeys keys or more takes
// its halves, of kFourStreamKeys its quarters, key by key in turns, as
// for_each_key16 does. Zen 4 VM, attnrt-ab S5 one thread against two
// streams, 12 pairs: fp32 1.037, fp16 1.057; B1 H8 N32768 and B8 H32
// N1024 fp32 1.042 and 1.027; two threads 1.002 and 1.009.
template <int R, FewRowsStream S, class T, int MostStreams = 1>
static inline void qk_key_after_key(int keys, int d, const float* q, std::int64_t ldq,
                                    const T* k, std::int64_t ldk, float alpha, float* s,
                                    std::int64_t lds, RowsAfter next) {
  constexpr int C = R == 1 ? 4 : 2;
  constexpr int kAhead = S.rows_ahead > 0 ? ahead_of<S, T> : 0;
  const int body = d / (8 * C) * (8 * C);  // columns of whole C-vector steps
  // Down: from the row's last step to its first (RowsAfter::down; fp32 rows
  // only, the only ones marked so), decided per call, not per key.
  const auto dot = [&]<bool Down>(const T* kr, int j) {
    __m256 acc[R][C];
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int c = 0; c < C; ++c) acc[i][c] = _mm256_setzero_ps();
    const auto step = [&](int x, int c) {
      const __m256 kv = load8(kr + x + 8 * c);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) acc[i][c] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i * ldq + x + 8 * c), kv, acc[i][c]);
    };
    if constexpr (Down) {
      for (int x = body - 8 * C; x >= 0; x -= 8 * C)
#pragma GCC unroll 4
        for (int c = C - 1; c >= 0; --c) step(x, c);
    } else {
      for (int x = 0; x < body; x += 8 * C)
#pragma GCC unroll 4
        for (int c = 0; c < C; ++c) step(x, c);
    }
    int x = body;
    for (; x + 8 <= d; x += 8) {
      const __m256 kv = load8(kr + x);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i) acc[i][0] = _mm256_fmadd_ps(_mm256_loadu_ps(q + i * ldq + x), kv, acc[i][0]);
    }
    if (x < d) {
      const __m256i mask = first_lanes(d - x);
      const __m256 kv = load_tail(kr + x, d - x, mask);
#pragma GCC unroll 4
      for (int i = 0; i < R; ++i)
        acc[i][C - 1] = _mm256_fmadd_ps(_mm256_maskload_ps(q + i * ldq + x, mask), kv, acc[i][C - 1]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      __m256 t = acc[i][0];
#pragma GCC unroll 4
      for (int c = 1; c < C; ++c) t = _mm256_add_ps(t, acc[i][c]);
      s[i * lds + j] = alpha * sum_lanes(t);
    }
  };
  // K rows one after another, across the pieces a spanning call lists
  // (prefetches never fault, past the last key too).
  CallStreams<kPrefetch<S>, T> rows(keys, k, ldk, next, kAhead, 1, MostStreams);
  read_as_asked<T>(next, [&]<bool Down>() {
    rows.for_each_key(d, [&](const T* kr, int j) { dot.template operator()<Down>(kr, j); });
  });
}

// S = alpha * Q·Kᵀ for 1 <= rows <= kFewRowsMax: a set's FewRowKernels::qk
// for that many rows.
template <FewRowsStream S, class T>
static inline void qk_few_rows(int rows, int keys, int d, const float* q, std::int64_t ldq,
                               const T* k, std::int64_t ldk, float alpha, float* s,
                               std::int64_t lds, RowsAfter next) {
  switch (rows) {
    case 1: return qk_key_after_key<1, S, T>(keys, d, q, ldq, k, ldk, alpha, s, lds, next);
    case 2: return qk_key_after_key<2, S, T>(keys, d, q, ldq, k, ldk, alpha, s, lds, next);
    case 3: return qk_key_after_key<3, S, T>(keys, d, q, ldq, k, ldk, alpha, s, lds, next);
    default: return qk_key_after_key<kFewRowsMax, S, T>(keys, d, q, ldq, k, ldk, alpha, s, lds, next);
  }
}

// O[r][0..dv) (+)= Σ_j p[r][j]·V[j][0..dv) for the G keys of one pass (V
// rows v[j]) and rows r < R (O rows ldo apart): per 8 columns, G V loads,
// then per row one O load and store and G FMAs; the R x dv / 8 column
// vectors are independent chains.
template <int R, int G, class T>
static inline void pv_add_keys(const __m256 (&p)[R][G], const T* const (&v)[G], int dv, float* o, std::int64_t ldo,
                               bool first) {
  const auto columns = [&](int c, __m256i mask, bool full) {
    __m256 vj[G];
#pragma GCC unroll 4
    for (int j = 0; j < G; ++j) vj[j] = full ? load8(v[j] + c) : load_tail(v[j] + c, dv - c, mask);
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      float* out = o + r * ldo + c;
      __m256 x = first ? _mm256_setzero_ps() : full ? _mm256_loadu_ps(out) : _mm256_maskload_ps(out, mask);
#pragma GCC unroll 4
      for (int j = 0; j < G; ++j) x = _mm256_fmadd_ps(p[r][j], vj[j], x);
      if (full)
        _mm256_storeu_ps(out, x);
      else
        _mm256_maskstore_ps(out, mask, x);
    }
  };
  int c = 0;
  for (; c + 8 <= dv; c += 8) columns(c, _mm256_setzero_si256(), true);
  if (c < dv) columns(c, first_lanes(dv - c), false);
}

// Row r's entry for key k in an fp32 A panel of kp keys, Mr rows in blocks
// of ABlock keys (kernel_set.hpp, a_panel_index).
template <int Mr, int ABlock>
static inline std::size_t a_panel_entry(int r, int k, int kp) {
  return a_panel_index(Mr, ABlock, r, k, kp);
}

// O[r][0..dv) (+)= P·V for R rows, V rows (of T) read whole and in place
// (walked across the pieces a spanning call lists), in passes of
// S.keys_per_pass keys; P from an A panel of Mr rows.
template <int R, FewRowsStream S, int Mr, int ABlock, class T>
static inline void pv_key_after_key(int kp, const float* pa, const T* v, std::int64_t ldv,
                                    int dv, float* o, std::int64_t ldo, bool accumulate,
                                    RowsAfter next) {
  constexpr int G = S.keys_per_pass;
  constexpr auto entry = a_panel_entry<Mr, ABlock>;  // (no template commas in macro arguments: SIMDe)
  const int own = rows_in_place(kp, next);
  RowWalk<T> row(v, ldv, own, next);
  RowPrefetch<kPrefetch<S>, T> ahead(v, ldv, own, next, S.rows_ahead > 0 ? ahead_of<S, T> : 0);
  bool first = !accumulate;
  int k = 0;
  for (; k + G <= kp; k += G, first = false) {
    const T* rows[G];
    for (int j = 0; j < G; ++j, row.step()) {
      rows[j] = row.row();
      if constexpr (S.rows_ahead > 0) ahead.next_key(dv);  // (prefetches never fault, past the last key too)
    }
    __m256 p[R][G];
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < G; ++j) p[r][j] = _mm256_set1_ps(pa[entry(r, k + j, kp)]);
    pv_add_keys<R, G, T>(p, rows, dv, o, ldo, first);
  }
  for (; k < kp; ++k, first = false, row.step()) {
    __m256 p[R][1];
    for (int r = 0; r < R; ++r) p[r][0] = _mm256_set1_ps(pa[entry(r, k, kp)]);
    const T* const rows[1] = {row.row()};
    pv_add_keys<R, 1, T>(p, rows, dv, o, ldo, first);
  }
  if (first)  // no keys: init still means O = 0
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < dv; ++c) o[r * ldo + c] = 0.0f;
}

// O (+)= P·V for 1 <= rows <= kFewRowsMax: a set's FewRowKernels::pv_rows
// (P in its fp32 A panels of Mr rows in blocks of ABlock keys; V rows of T).
template <FewRowsStream S, int Mr, int ABlock, class T>
static inline void pv_few_rows(int rows, int kp, const void* a, const void* v_rows, std::int64_t ldv,
                               int dv, float* o, std::int64_t ldo, bool accumulate,
                               RowsAfter next) {
  const float* pa = static_cast<const float*>(a);
  const T* v = static_cast<const T*>(v_rows);
  switch (rows) {
    case 1: return pv_key_after_key<1, S, Mr, ABlock, T>(kp, pa, v, ldv, dv, o, ldo, accumulate, next);
    case 2: return pv_key_after_key<2, S, Mr, ABlock, T>(kp, pa, v, ldv, dv, o, ldo, accumulate, next);
    case 3: return pv_key_after_key<3, S, Mr, ABlock, T>(kp, pa, v, ldv, dv, o, ldo, accumulate, next);
    default: return pv_key_after_key<kFewRowsMax, S, Mr, ABlock, T>(kp, pa, v, ldv, dv, o, ldo, accumulate, next);
  }
}

}  // namespace attnrt::kernels::x86
