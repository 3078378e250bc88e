// The kernel-contract suite, the direct K/V path and what runs the tiles:
// every FewRowKernels entry (qk, pv_rows, pv_init / acc, widen_rows) of
// every set that has them, every
// pipeline on every set, and whole calls through a runtime on each set,
// against double precision (tests/kernel_contract.hpp).
#include <attnrt/attnrt.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/pipelines/pipeline.hpp"
#include "kernels/pipelines/strip.hpp"
#include "kernels/problem.hpp"
#include "tests/backends.hpp"
#include "tests/harness.hpp"
#include "tests/kernel_contract.hpp"
#include "tests/reference.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::test {
namespace {

// ---- qk_direct ---------------------------------------------------------------

// Q·Kᵀ in double, every row of q against every row of k, with each dot
// product's sum of magnitudes (the bound): once for the many calls that
// check parts of it. q and k must outlive it.
struct QkProducts {
  const Matrix& q;
  const Matrix& k;
  std::vector<double> dot, mag;  // [q.rows][k.rows]
  QkProducts(const Matrix& q_, const Matrix& k_) : q(q_), k(k_) {
    const std::size_t n = static_cast<std::size_t>(q.rows) * k.rows;
    dot.assign(n, 0.0);
    mag.assign(n, 0.0);
    for (int i = 0; i < q.rows; ++i)
      for (int j = 0; j < k.rows; ++j)
        for (int x = 0; x < q.cols; ++x) {
          const double term = q.at(i, x) * k.at(j, x);
          dot[i * k.rows + j] += term;
          mag[i * k.rows + j] += std::fabs(term);
        }
  }
};

// S = alpha * Q·Kᵀ, the first `rows` rows of q (fp32) against the first
// `keys` rows of k read in place: exactly S[0..rows)[0..keys) written, within
// fp32 rounding of the double dot products; nothing else of S[most_rows x
// keys + 5] (pre-filled with kSentinel) written. `how`: how the kernel is
// told to read the rows (RowsAfter's flags, no runs).
void expect_qk_direct(const FewRowKernels& f, const QkProducts& want, int rows, int keys, int most_rows, float alpha,
                      kernels::RowsAfter how = {}) {
  const Matrix &q = want.q, &k = want.k;
  const int d = q.cols;
  const std::int64_t lds = keys + 5;
  std::vector<float> s(static_cast<std::size_t>(most_rows) * lds, kSentinel);
  f.qk(rows, keys, d, q.f32(), q.ld, k.data(), k.ld, alpha, s.data(), lds, how);
  for (int i = 0; i < most_rows; ++i)
    for (int j = 0; j < lds; ++j) {
      const float got = s[i * lds + j];
      if (i >= rows || j >= keys) {
        ASSERT_EQ(got, kSentinel) << "qk_direct wrote S[" << i << "][" << j << "]";
        continue;
      }
      const std::size_t at = static_cast<std::size_t>(i) * k.rows + j;
      ASSERT_NEAR(got, alpha * want.dot[at], std::fabs(alpha) * want.mag[at] * (d + 2) * kU + 1e-30)
          << "S[" << i << "][" << j << "]";
    }
}

// Whether this machine runs a few-row entry's kernels (the emulated sets:
// always).
bool runs(const FewRowKernels& f) { return kEmulatedSets || cpu_runs(f); }

// Whether the kernels run emulated (QEMU, or the SIMDe build of the avx512
// sets), where the long sweeps below take samples of their cases.
bool sampled() { return emulated() || kEmulatedSets; }

// The entries of k.few_rows this machine runs, one per distinct value of
// `kernels` (the functions a test calls): entries share most of theirs (an
// avx512 set's P·V is the same at every feature step), and a function
// checked once is checked.
template <class Kernels>
std::vector<const FewRowKernels*> distinct_entries(const KernelSet& k, Kernels kernels) {
  std::vector<const FewRowKernels*> out;
  std::vector<decltype(kernels(*k.few_rows.front()))> seen;
  for (const FewRowKernels* f : k.few_rows)
    if (runs(*f) && std::ranges::find(seen, kernels(*f)) == seen.end()) {
      seen.push_back(kernels(*f));
      out.push_back(f);
    }
  return out;
}
constexpr auto qk_of = [](const FewRowKernels& f) { return f.qk; };
constexpr auto pv_of = [](const FewRowKernels& f) { return std::tuple(f.pv_init, f.pv_acc, f.pv_rows); };

// Under emulation (qemu: tests/backends.hpp; the SIMDe sets) this checks a
// sample of row and key counts (tile edges and past them): qemu runs SVE
// ~100x slower, and SIMDe under ASan the avx512 kernels ~20x.
TEST_P(KernelSetTest, QkDirectAtEveryRowAndKeyCount) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : distinct_entries(k, qk_of)) {
    const FewRowKernels& f = *few;
    SCOPED_TRACE(f.name);
    const bool sample = sampled();
    std::mt19937 rng(11);
    std::vector<int> key_counts;
    for (int keys = 1; keys <= 67; ++keys)
      if (!sample || keys <= 9 || keys == 16 || keys == 17 || keys == 33 || keys == 67) key_counts.push_back(keys);
    for (const int d : {8, 33, 64, 128, 256}) {
      // Up to a row block of a few strips: the pipelines hand it whole.
      const int most = 2 * k.mr + 4;
      // Off 64-byte boundaries, as in a cache view.
      const Matrix q(most, d, d + 3, DType::f32, rng, -1.0f, 1.0f, 1), kk(67, d, d + 3, k.dtype, rng, -1.0f, 1.0f, 1);
      const Matrix qb = bf16_valued(q);  // (one row's bf16 Q·Kᵀ may run on bf16 dot products)
      const QkProducts fp32_q(q, kk), bf16_q(qb, kk);
      for (int rows = 1; rows <= most; ++rows)
        for (const int keys : key_counts) {
          if (sample && rows > 5 && rows % k.mr > 1 && rows != most) continue;
          SCOPED_TRACE("d " + std::to_string(d) + " rows " + std::to_string(rows) + " keys " + std::to_string(keys));
          // bf16 sets: bf16-valued Q (the pipelines' widened rows: one row
          // on dot products, 3-16 on AMX tiles where the CPU has them), and
          // fp32 Q at a few row counts (the pair tiles, which take it).
          const bool bf16 = k.dtype == DType::bf16;
          if (!bf16 || rows <= 2 || rows == 5 || rows == 13 || rows > 16)
            expect_qk_direct(f, fp32_q, rows, keys, most, keys % 2 ? 1.0f : -0.37f);
          if (bf16 && rows <= 16) expect_qk_direct(f, bf16_q, rows, keys, most, 0.37f);
          if (HasFatalFailure()) return;
        }
    }
  }
}

// No key, and many (601: one row's loops walk two streams, halves of an
// odd count; 1031: one row's Q·Kᵀ walks four, the last shorter); d = 41:
// the few-row kernels' 8-float steps after their 16/32; 80 and 160: the
// bf16 AMX Q·Kᵀ's short last chunk and its B tiles loaded twice. Under emulation
// the row counts at the tile edges of 8 and 12 only. One, four and 13 rows
// (two tiles) also as the kernels read rows a memory page apart
// (RowsAfter::one_stream, down).
TEST_P(KernelSetTest, QkDirectOnEmptyAndLongKeyRuns) {
  const KernelSet& ks = this->ks();
  if (!kernels::has_direct_kv(ks)) GTEST_SKIP() << ks.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : distinct_entries(ks, qk_of)) {
    const FewRowKernels& f = *few;
    SCOPED_TRACE(f.name);
    constexpr int kMostRows = 16;
    std::mt19937 rng(21);
    for (int d : {1, 7, 33, 41, 80, 128, 160, 256})
      for (int keys : {0, 1, 7, 33, 257, 601, 1031}) {
        if (sampled() && keys == 1031 && d != 41) continue;  // (four streams at one d)
        const bool bf16 = ks.dtype == DType::bf16;
        if ((d == 80 || d == 160) && !bf16) continue;
        const Matrix q(kMostRows, d, d + 3, DType::f32, rng), k(keys, d, d + 1, ks.dtype, rng);
        const Matrix qb = bf16 ? bf16_valued(q) : q;
        const QkProducts fp32_q(q, k), bf16_q(qb, k);
        for (int rows = 1; rows <= kMostRows; ++rows) {
          if (emulated() && !(rows <= 4 || rows % 8 <= 1 || rows % 12 <= 1)) continue;
          SCOPED_TRACE("d=" + std::to_string(d) + " keys=" + std::to_string(keys) + " rows=" + std::to_string(rows));
          const bool down = rows == 1 || rows == 4 || rows == 13;
          if (!bf16 || down || rows == 2 || rows == 5) expect_qk_direct(f, fp32_q, rows, keys, kMostRows, rows % 2 ? 0.37f : -1.0f);
          if (down) expect_qk_direct(f, fp32_q, rows, keys, kMostRows, 0.5f, {.one_stream = true, .down = true});
          if (bf16) expect_qk_direct(f, bf16_q, rows, keys, kMostRows, 1.0f);
          if (HasFatalFailure()) return;
        }
      }
  }
}

// Head dims for the direct kernels: every width 1..64 (each residue mod 4
// and mod every vector length), then a sample up to kMaxHeadDim.
std::vector<int> direct_dims() {
  std::vector<int> dims;
  for (int d = 1; d <= 64; ++d) dims.push_back(d);
  for (int d : {67, 100, 128, 129, 200, 256, 263, 384, 509, 512}) dims.push_back(d);
  return dims;
}

// Every d, rows from 1 to past a row tile, keys 0 to a few tiles (every
// residue mod 8): each d meets three row counts in turn (four past 64), so
// every count meets every d residue.
TEST_P(KernelSetTest, QkDirectAtEveryHeadDim) {
  const KernelSet& ks = this->ks();
  if (!kernels::has_direct_kv(ks)) GTEST_SKIP() << ks.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : distinct_entries(ks, qk_of)) {
    const FewRowKernels& f = *few;
    SCOPED_TRACE(f.name);
    std::mt19937 rng(19);
    constexpr int kRows[] = {1, 2, 3, 4, 5, 7, 8, 12, 13, 17, 25};
    int i = 0;
    for (int d : direct_dims())
      for (int n = 0; n < (d > 64 ? 4 : 3); ++n, ++i) {
        const int rows = kRows[i % std::size(kRows)], keys = i % 41;
        SCOPED_TRACE("d " + std::to_string(d) + " rows " + std::to_string(rows) + " keys " + std::to_string(keys));
        const Matrix q(rows, d, d + 3, DType::f32, rng), k(keys, d, d + 5, ks.dtype, rng);
        expect_qk_direct(f, QkProducts(q, k), rows, keys, rows + 1, 0.37f);
        if (rows == 1 && ks.dtype == DType::bf16) {
          const Matrix qb = bf16_valued(q);
          expect_qk_direct(f, QkProducts(qb, k), rows, keys, rows + 1, 0.37f);
        }
        if (HasFatalFailure()) return;
      }
  }
}

// ---- widen_rows ----------------------------------------------------------------

// fp16/bf16 rows with an odd stride (NaN in the gaps) to dense fp32 rows,
// exactly (every fp16 and bf16 value is an fp32 value), and nothing written
// past rows x cols.
void expect_widen_rows(const KernelSet& ks, const FewRowKernels& f, int rows, int cols, std::int64_t ld,
                       std::mt19937& rng, float lo, float hi, int shift) {
  const Matrix m(rows, cols, ld, ks.dtype, rng, lo, hi, shift);
  std::vector<float> out(static_cast<std::size_t>(rows) * cols + 9, kSentinel);
  f.widen_rows(m.data(), m.ld, rows, cols, out.data());
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) ASSERT_EQ(out[r * cols + c], m.at(r, c)) << "[" << r << "][" << c << "]";
  for (std::size_t i = static_cast<std::size_t>(rows) * cols; i < out.size(); ++i)
    ASSERT_EQ(out[i], kSentinel) << "widen_rows wrote past its rows";
}

TEST_P(KernelSetTest, WidenRowsIsExactAndDense) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k) || k.dtype == DType::f32) GTEST_SKIP() << k.name << " widens no rows for this dtype";
  std::mt19937 rng(14);
  for (const FewRowKernels* f : k.few_rows)
    for (const int cols : {1, 7, 8, 15, 16, 17, 33, 128, 130})
      for (const int rows : {1, 3, 16}) {
        SCOPED_TRACE(std::string(f->name) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols));
        expect_widen_rows(k, *f, rows, cols, cols + 3, rng, -1e4f, 1e4f, 1);
      }
}

// fp32 sets widen nothing (kernel_set.hpp: null otherwise); the others at
// every width class of a vector loop.
TEST_P(KernelSetTest, WidenRowsOnlyForHalfInputs) {
  const KernelSet& k = ks();
  if (k.dtype == DType::f32) {
    for (const FewRowKernels* f : k.few_rows) EXPECT_EQ(f->widen_rows, nullptr) << f->name;
    return;
  }
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " widens no rows for this dtype";
  std::mt19937 rng(21);
  for (const FewRowKernels* f : k.few_rows)
    for (int cols : {1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 130, 512})
      for (int rows : {1, 4}) {
        SCOPED_TRACE(std::string(f->name) + " rows " + std::to_string(rows) + " cols " + std::to_string(cols));
        expect_widen_rows(k, *f, rows, cols, cols + 7, rng, -1.0f, 1.0f, 0);
      }
}

// ---- pv_direct -------------------------------------------------------------------

// What expect_pv_direct checks: FewRowKernels::pv_init / acc per nv slice of V
// (against the packed path bit for bit, if `packed`), all dv columns in one
// call (bit for bit the slices, if they ran), and pv_rows on the first
// 1..pv_rows_max rows, told to read V as `how` says (RowsAfter's flags).
struct PvDirectChecks {
  bool slices = true, packed = true, one_call = true, rows = true;
  int shift = 0;  // of V's row 0 past a 64-byte boundary
  kernels::RowsAfter how{};
};

// O = P1·V1, then O += P2·V2, with P fp32 A panels (as exp2_rows writes them)
// and V rows of the set's dtype read in place with an odd stride, against
// double: O's padding columns up to the slice exactly 0, nothing past it
// written (O starts NaN: init must not read it).
void expect_pv_direct(const KernelSet& ks, const FewRowKernels& f, int keys, int dv, std::mt19937& rng, PvDirectChecks what) {
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const Matrix v1(keys, dv, dv + 3, ks.dtype, rng, -1.0f, 1.0f, what.shift);
  const Matrix v2(keys, dv, dv + 1, ks.dtype, rng, -1.0f, 1.0f, what.shift);
  Buffer p1(kernels::a_panels_bytes(ks, ks.mr, keys)), p2(kernels::a_panels_bytes(ks, ks.mr, keys));
  std::vector<double> pv1(static_cast<std::size_t>(ks.mr) * keys), pv2(pv1.size());
  for (int r = 0; r < ks.mr; ++r)
    for (int c = 0; c < keys; ++c) {
      const std::size_t at = kernels::a_panel_index(ks, r, c, keys);
      pv1[r * keys + c] = p1.get<float>()[at] = u(rng);
      pv2[r * keys + c] = p2.get<float>()[at] = u(rng);
    }
  // O[r][c] after init (both false) or after acc, and its tolerance.
  const auto want = [&](int r, int c, bool both) {
    double w = 0, mag = 0;
    for (int p = 0; p < keys; ++p) {
      const double x1 = pv1[r * keys + p] * v1.at(p, c), x2 = both ? pv2[r * keys + p] * v2.at(p, c) : 0.0;
      w += x1 + x2;
      mag += std::fabs(x1) + std::fabs(x2);
    }
    return std::pair{w, mag * (keys + 3) * kU + 1e-30};
  };
  const int padded = round_up(dv, ks.nv), ldo = padded + 5;
  // Checks O (after init and after acc) of all mr rows against double.
  const auto expect_o = [&](const std::vector<float>& init, const std::vector<float>& o, const char* what_call) {
    for (int r = 0; r < ks.mr; ++r) {
      for (int c = 0; c < padded; ++c) {
        if (c >= dv) {
          ASSERT_EQ(init[r * ldo + c], 0.0f) << what_call << ": padding O[" << r << "][" << c << "] after init";
          ASSERT_EQ(o[r * ldo + c], 0.0f) << what_call << ": padding O[" << r << "][" << c << "]";
          continue;
        }
        const auto [w_init, tol_init] = want(r, c, false);
        const auto [w_acc, tol_acc] = want(r, c, true);
        ASSERT_NEAR(init[r * ldo + c], w_init, tol_init) << what_call << " init O[" << r << "][" << c << "]";
        ASSERT_NEAR(o[r * ldo + c], w_acc, tol_acc) << what_call << " acc O[" << r << "][" << c << "]";
      }
      for (int c = padded; c < ldo; ++c)
        ASSERT_TRUE(std::isnan(o[r * ldo + c])) << what_call << " wrote O[" << r << "][" << c << "]";
    }
  };
  const auto bits_equal = [&](const std::vector<float>& a, const std::vector<float>& b, const char* what_call) {
    for (std::size_t i = 0; i < a.size(); ++i)
      ASSERT_EQ(std::bit_cast<std::uint32_t>(a[i]), std::bit_cast<std::uint32_t>(b[i]))
          << what_call << ": " << a[i] << " vs " << b[i] << " at O element " << i;
  };

  std::vector<float> slice_init, slice_o;
  if (f.pv_init && what.slices) {
    slice_o.assign(static_cast<std::size_t>(ks.mr) * ldo, kNaNf);
    for (int c0 = 0; c0 < dv; c0 += ks.nv)
      f.pv_init(keys, p1.get(), v1.col(c0), v1.ld, std::min(ks.nv, dv - c0), slice_o.data() + c0, ldo, {});
    slice_init = slice_o;
    for (int c0 = 0; c0 < dv; c0 += ks.nv)
      f.pv_acc(keys, p2.get(), v2.col(c0), v2.ld, std::min(ks.nv, dv - c0), slice_o.data() + c0, ldo, {});
    expect_o(slice_init, slice_o, "pv_direct by slices");
    if (what.packed) {
      Buffer b1(kernels::v_panels_bytes(ks, keys, dv)), b2(kernels::v_panels_bytes(ks, keys, dv));
      ks.pack_v(v1.data(), v1.ld, keys, dv, b1.get());
      ks.pack_v(v2.data(), v2.ld, keys, dv, b2.get());
      const std::size_t v_panel = kernels::v_panels_bytes(ks, keys, ks.nv);
      std::vector<float> packed(slice_o.size(), kNaNf);
      for (int c0 = 0; c0 < dv; c0 += ks.nv)
        ks.pv_init(keys, p1.get(), b1.get<char>() + (c0 / ks.nv) * v_panel, packed.data() + c0, ldo);
      for (int c0 = 0; c0 < dv; c0 += ks.nv)
        ks.pv_acc(keys, p2.get(), b2.get<char>() + (c0 / ks.nv) * v_panel, packed.data() + c0, ldo);
      bits_equal(slice_o, packed, "direct vs packed");
    }
  }
  if (f.pv_init && what.one_call) {
    std::vector<float> o(static_cast<std::size_t>(ks.mr) * ldo, kNaNf);
    f.pv_init(keys, p1.get(), v1.data(), v1.ld, dv, o.data(), ldo, {});
    const std::vector<float> init = o;
    f.pv_acc(keys, p2.get(), v2.data(), v2.ld, dv, o.data(), ldo, {});
    if (slice_o.empty()) {
      expect_o(init, o, "pv_direct in one call");
    } else {
      bits_equal(init, slice_init, "one-call init vs slices");
      bits_equal(o, slice_o, "one-call accumulate vs slices");
    }
  }
  if (!what.rows) return;
  for (int rows = 1; rows <= f.pv_rows_max; ++rows) {
    const std::int64_t ldr = dv + 4;
    std::vector<float> out(static_cast<std::size_t>(rows) * ldr, kNaNf);
    f.pv_rows(rows, keys, p1.get(), v1.data(), v1.ld, dv, out.data(), ldr, false, what.how);
    const std::vector<float> out_init = out;
    f.pv_rows(rows, keys, p2.get(), v2.data(), v2.ld, dv, out.data(), ldr, true, what.how);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < dv; ++c) {
        const auto [w_init, tol_init] = want(r, c, false);
        const auto [w_acc, tol_acc] = want(r, c, true);
        ASSERT_NEAR(out_init[r * ldr + c], w_init, tol_init) << "pv_direct_rows(" << rows << ") init O[" << r << "][" << c << "]";
        ASSERT_NEAR(out[r * ldr + c], w_acc, tol_acc) << "pv_direct_rows(" << rows << ") accumulate O[" << r << "][" << c << "]";
      }
      for (int c = dv; c < ldr; ++c)
        ASSERT_TRUE(std::isnan(out[r * ldr + c])) << "pv_direct_rows(" << rows << ") wrote O[" << r << "][" << c << "]";
    }
  }
}

TEST_P(KernelSetTest, PvDirectMatchesDoubleAndThePackedPath) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : distinct_entries(k, pv_of)) {
    const FewRowKernels& f = *few;
    SCOPED_TRACE(f.name);
    std::mt19937 rng(12);
    for (const int keys : {1, 2, 7, 16, 33, 67})
      for (const int dv : {1, 7, k.nv, k.nv + 1, 2 * k.nv + 3, 80, 256}) {
        SCOPED_TRACE("keys " + std::to_string(keys) + " dv " + std::to_string(dv));
        expect_pv_direct(k, f, keys, dv, rng, {.shift = 1});
        if (HasFatalFailure()) return;
      }
  }
}

// Few keys and many (600: one row's P·V walks two streams on avx512); dv
// 64, 130: pass widths of the avx512 few-row P·V. pv_rows also as the
// kernels read rows a memory page apart (RowsAfter::one_stream, down).
// (No key at all is x86's own: test_x86_kernels.cpp.)
TEST_P(KernelSetTest, PvDirectOnFewAndLongKeyRuns) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : distinct_entries(k, pv_of)) {
    const FewRowKernels& f = *few;
    SCOPED_TRACE(f.name);
    std::mt19937 rng(22);
    for (int keys : {1, 7, 16, 33, 257, 600})
      for (int dv : {1, 33, 64, 130, 256}) {
        SCOPED_TRACE("keys=" + std::to_string(keys) + " dv=" + std::to_string(dv));
        expect_pv_direct(k, f, keys, dv, rng, {});
        expect_pv_direct(k, f, keys, dv, rng,
                         {.slices = false, .packed = false, .one_call = false, .how = {.one_stream = true, .down = true}});
        if (HasFatalFailure()) return;
      }
  }
}

// All dv columns in one call at every head dim, keys up to the pipelines'
// 16 per call and past.
TEST_P(KernelSetTest, PvDirectAtEveryHeadDim) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : distinct_entries(k, pv_of)) {
    const FewRowKernels& f = *few;
    SCOPED_TRACE(f.name);
    std::mt19937 rng(20);
    int i = 0;
    for (int dv : direct_dims())
      for (int keys : {1, 2, 5, 16}) {
        const int n = keys == 16 ? 16 + i++ % 19 : keys;
        SCOPED_TRACE("dv " + std::to_string(dv) + " keys " + std::to_string(n));
        expect_pv_direct(k, f, n, dv, rng, {.slices = false, .packed = false, .one_call = true, .rows = false});
        if (HasFatalFailure()) return;
      }
  }
}

// Sets declare the direct path whole or not at all, and only where it can
// run: fp32 inputs, k_pack 1.
// `next` (where the rows after a call's continue: a paged cache's next
// pages, as a list of runs) is for prefetches only: with its runs in memory
// no load may touch (PROT_NONE), every direct kernel writes what it writes
// without it, whatever the pages' sizes (1, 7, 16, 256 keys), order
// (reversed: each run below the last) or sharing (a run listed twice).
TEST_P(KernelSetTest, DirectKernelsOnlyPrefetchTheNextRows) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  for (const FewRowKernels* few : k.few_rows) {
    const FewRowKernels& f = *few;
    if (!runs(f)) continue;
    SCOPED_TRACE(f.name);
    constexpr std::size_t kBytes = 1 << 20;
    void* guard = mmap(nullptr, kBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(guard, MAP_FAILED);
    const std::unique_ptr<void, void (*)(void*)> unmap(guard, [](void* m) { munmap(m, kBytes); });
    std::mt19937 rng(13);
    const int d = 128, most = 2 * k.mr;
    for (const int keys : {1, 16, 33, 600, 1031}) {  // (600, 1031: one row's loops walk two, four streams)
      SCOPED_TRACE("keys " + std::to_string(keys));
      HostTensor q = matrix(ATTNRT_F32, most, d), kv = matrix(dtype(), keys, d);
      q.fill_uniform(rng);
      kv.fill_uniform(rng);
      Buffer a(kernels::a_panels_bytes(k, k.mr, keys), 0);
      for (int r = 0; r < k.mr; ++r)
        for (int c = 0; c < keys; ++c)
          static_cast<float*>(a.data())[kernels::a_panel_index(k, r, c, keys)] = std::uniform_real_distribution<float>(0, 1)(rng);
      // Pages of `page` rows (ld(kv) apart) inside the guard, the first at
      // its top and each next one below it (reversed), the second listed
      // twice (shared); and a sequence's end (nothing after).
      const std::int64_t row_bytes = ld(kv) * static_cast<std::int64_t>(kernels::dtype_size(k.dtype));
      std::vector<std::vector<kernels::RowRun>> runs;
      for (const int page : {1, 7, 16, 256}) {
        std::vector<kernels::RowRun>& list = runs.emplace_back();
        for (int i = 0; i < 4; ++i)
          list.push_back({static_cast<const std::byte*>(guard) + kBytes - (i + 1) * page * row_bytes, page});
        list.insert(list.begin() + 2, list[1]);
      }
      std::vector<kernels::RowsAfter> lists{kernels::RowsAfter::none()};
      for (const auto& list : runs) lists.push_back({list.data(), static_cast<int>(list.size())});
      for (const int rows : {1, 4, most}) {
        std::vector<float> s0(static_cast<std::size_t>(most) * keys), s1(s0.size());
        f.qk(rows, keys, d, static_cast<const float*>(src(q)), ld(q), src(kv), ld(kv), 0.5f, s0.data(), keys, {});
        for (const kernels::RowsAfter& next : lists) {
          f.qk(rows, keys, d, static_cast<const float*>(src(q)), ld(q), src(kv), ld(kv), 0.5f, s1.data(), keys, next);
          EXPECT_EQ(s0, s1) << "qk, " << rows << " rows, " << next.n << " runs after";
        }
      }
      const std::int64_t ldo = round_up(d, k.nv);
      std::vector<float> o0(static_cast<std::size_t>(k.mr) * ldo), o1(o0.size());
      for (const kernels::RowsAfter& next : lists) {
        SCOPED_TRACE(std::to_string(next.n) + " runs after");
        if (f.pv_init) {
          f.pv_init(keys, a.data(), src(kv), ld(kv), d, o0.data(), ldo, {});
          f.pv_acc(keys, a.data(), src(kv), ld(kv), d, o0.data(), ldo, {});
          f.pv_init(keys, a.data(), src(kv), ld(kv), d, o1.data(), ldo, next);
          f.pv_acc(keys, a.data(), src(kv), ld(kv), d, o1.data(), ldo, next);
          EXPECT_EQ(o0, o1) << "pv_init / acc";
        }
        for (int rows = 1; rows <= f.pv_rows_max; ++rows) {
          f.pv_rows(rows, keys, a.data(), src(kv), ld(kv), d, o0.data(), ldo, false, {});
          f.pv_rows(rows, keys, a.data(), src(kv), ld(kv), d, o1.data(), ldo, false, next);
          EXPECT_EQ(o0, o1) << "pv_rows, " << rows << " rows";
        }
      }
    }
  }
}

// A call that spans page pieces (FewRowKernels::span_rows) computes exactly
// what the same call on its keys' rows in one run does: its first piece's
// rows in place from a row inside the piece, the rest from the runs listed
// after, pieces of 1, 3 and 16 rows placed in reverse order, the list
// running on past the call's keys; 1, 2, 5 and span_rows rows, Q·Kᵀ (also on
// bf16-valued q, which a bf16 set may take on dot products), P·V written
// and added to, and each code format's pair on codes.
TEST_P(KernelSetTest, SpanningCallsReadTheirKeysAcrossPieces) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  int checked = 0;
  std::vector<std::pair<kernels::QkDirectFn, kernels::PvDirectRowsFn>> seen;  // (each pair once)
  for (const FewRowKernels* few : k.few_rows) {
    const FewRowKernels& f = *few;
    if (f.span_rows < 1 || !runs(f)) continue;
    SCOPED_TRACE(f.name);
    const std::size_t seen_before = seen.size();
    std::mt19937 rng(41);
    for (const int d : {128, 131})
      for (const int piece : {1, 3, 16})
        for (const int keys : {1, 5, 16, 37, 64, 600, 1031}) {  // (600: two streams; 1031: Q·Kᵀ's four)
          if (sampled() && keys >= 600 && (d != 128 || piece == 3)) continue;  // (long calls: two cases)
          SCOPED_TRACE("d " + std::to_string(d) + ", pieces of " + std::to_string(piece) + ", keys " +
                       std::to_string(keys));
          const int off = piece > 1 ? 1 : 0;  // the call starts inside its first piece
          const int pieces = (off + keys + 40) / piece + 1;  // and the list runs on past it
          const int rows = pieces * piece - off;
          const std::int64_t ldr = d + 5;
          // Each element type the entry reads: the set's dtype, then 1-byte codes.
          const auto check = [&](std::size_t esz, const auto& fill, kernels::QkDirectFn qk, kernels::PvDirectRowsFn pv,
                                 const char* what) {
            if (std::find(seen.begin(), seen.begin() + seen_before, std::pair(qk, pv)) != seen.begin() + seen_before)
              return;  // (another entry's, checked)
            if (std::ranges::count(seen, std::pair(qk, pv)) == 0) seen.emplace_back(qk, pv);
            SCOPED_TRACE(what);
            std::vector<std::byte> dense(static_cast<std::size_t>(rows) * ldr * esz);
            fill(dense);
            // Piece i holds rows [i * piece - off, ...) of the call, at pool slot pieces - 1 - i.
            std::vector<std::byte> pool(static_cast<std::size_t>(pieces) * piece * ldr * esz);
            const auto slot = [&](int i) { return pool.data() + static_cast<std::size_t>(pieces - 1 - i) * piece * ldr * esz; };
            for (int g = off; g < pieces * piece; ++g)
              std::memcpy(slot(g / piece) + static_cast<std::size_t>(g % piece) * ldr * esz,
                          dense.data() + static_cast<std::size_t>(g - off) * ldr * esz, ldr * esz);
            std::vector<kernels::RowRun> list;
            for (int i = 1; i < pieces; ++i) list.push_back({slot(i), piece});
            const std::byte* first = slot(0) + static_cast<std::size_t>(off) * ldr * esz;
            // Long calls also as the kernels read rows a memory page apart
            // (one stream, each row from its end: RowsAfter::one_stream,
            // down), against a dense call read the same way.
            for (const bool one_stream : {false, true})
              for (const int rows : {1, 2, 5, f.span_rows}) {
                if (rows > f.span_rows || (one_stream && keys < 600)) continue;
                SCOPED_TRACE(std::to_string(rows) + " rows" + (one_stream ? ", one stream" : ""));
                kernels::RowsAfter span{list.data(), static_cast<int>(list.size()), piece - off};
                kernels::RowsAfter in_run{};
                span.one_stream = in_run.one_stream = span.down = in_run.down = one_stream;
                const Matrix q(rows, d, d, DType::f32, rng);
                for (const Matrix& qm : {q, bf16_valued(q)}) {
                  std::vector<float> s0(static_cast<std::size_t>(rows) * keys, kSentinel), s1(s0.size(), kSentinel);
                  qk(rows, keys, d, qm.f32(), d, dense.data(), ldr, 0.5f, s0.data(), keys, in_run);
                  qk(rows, keys, d, qm.f32(), d, first, ldr, 0.5f, s1.data(), keys, span);
                  EXPECT_EQ(s0, s1) << "qk";
                }
                Buffer a(kernels::a_panels_bytes(k, k.mr, keys), 0);
                for (int r = 0; r < rows; ++r)
                  for (int c = 0; c < keys; ++c)
                    static_cast<float*>(a.data())[kernels::a_panel_index(k, r, c, keys)] =
                        std::uniform_real_distribution<float>(0, 1)(rng);
                for (const bool accumulate : {false, true}) {
                  std::vector<float> o0(static_cast<std::size_t>(rows) * d, 0.25f), o1(o0);
                  pv(rows, keys, a.data(), dense.data(), ldr, d, o0.data(), d, accumulate, in_run);
                  pv(rows, keys, a.data(), first, ldr, d, o1.data(), d, accumulate, span);
                  EXPECT_EQ(o0, o1) << "pv_rows, " << (accumulate ? "added to" : "written");
                }
              }
          };
          const std::size_t esz = kernels::dtype_size(k.dtype);
          check(esz, [&](std::vector<std::byte>& b) {
            const Matrix m(rows, d, ldr, k.dtype, rng);
            std::memcpy(b.data(), m.data(), b.size());
          }, f.qk, f.pv_rows, "rows of the set's dtype");
          for (const attnrt_dtype t : {ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2}) {
            const FewRowKernels::Codes& codes = f.codes[t == ATTNRT_I8 ? 1 : t == ATTNRT_F8_E4M3 ? 2 : 3];
            if (!codes.qk) continue;
            check(1, [&](std::vector<std::byte>& b) {
              for (std::byte& x : b) {
                std::uint8_t c;
                do c = static_cast<std::uint8_t>(rng()); while (!std::isfinite(code_to_double(t, c)));
                x = static_cast<std::byte>(c);
              }
            }, codes.qk, codes.pv_rows, dtype_name(t));
          }
          ++checked;
          if (HasFailure()) return;
        }
  }
  if (checked == 0) GTEST_SKIP() << k.name << " has no few-row entry whose calls span pieces (or none runs here)";
}

// Every one of the 256 codes of each format through each set's own code
// kernels (the vector loads that widen them, full and masked): Q·Kᵀ of rows
// of ones against key c holding code c at one place and zeros elsewhere,
// and P·V of one key holding all 256 codes, P = 1, give exactly the code's
// value (reference.cpp), NaN where the format says NaN.
TEST_P(KernelSetTest, CodeKernelsDecodeEveryCode) {
  const KernelSet& k = ks();
  constexpr std::pair<kernels::KvFormat, attnrt_dtype> kFormats[] = {
      {kernels::KvFormat::i8, ATTNRT_I8}, {kernels::KvFormat::e4m3, ATTNRT_F8_E4M3}, {kernels::KvFormat::e5m2, ATTNRT_F8_E5M2}};
  int checked = 0;
  for (const FewRowKernels* few : k.few_rows)
    for (const auto& [format, dtype] : kFormats) {
      const attnrt_dtype t = dtype;
      const FewRowKernels::Codes& codes = few->codes[static_cast<int>(format)];
      if (!codes.qk || !runs(*few)) continue;
      SCOPED_TRACE(std::string(few->name) + " " + dtype_name(t));
      const auto expect_code = [&](float got, int c, const char* what) {
        const double want = code_to_double(t, static_cast<std::uint8_t>(c));
        if (std::isnan(want))
          EXPECT_TRUE(std::isnan(got)) << what << ", code " << c;
        else
          EXPECT_EQ(got, want) << what << ", code " << c;
      };
      for (const int d : {48, 131}) {  // whole vectors and a tail, on every set's width
        const std::int64_t ldk = d + 3;
        std::vector<std::uint8_t> key_rows(256 * ldk, 0);
        for (int c = 0; c < 256; ++c) key_rows[c * ldk + (c * 7) % d] = static_cast<std::uint8_t>(c);
        const std::vector<float> q(static_cast<std::size_t>(3) * d, 1.0f);
        for (const int rows : {1, 3}) {
          std::vector<float> s(static_cast<std::size_t>(rows) * 256, kSentinel);
          codes.qk(rows, 256, d, q.data(), d, key_rows.data(), ldk, 1.0f, s.data(), 256, {});
          for (int r = 0; r < rows; ++r)
            for (int c = 0; c < 256; ++c) expect_code(s[r * 256 + c], c, "qk");
        }
      }
      std::vector<std::uint8_t> value_row(256);
      for (int c = 0; c < 256; ++c) value_row[c] = static_cast<std::uint8_t>(c);
      Buffer a(kernels::a_panels_bytes(k, k.mr, 1), 0);
      for (int r = 0; r < k.mr; ++r) static_cast<float*>(a.data())[kernels::a_panel_index(k, r, 0, 1)] = 1.0f;
      for (const int rows : {1, std::min(2, few->pv_rows_max)}) {
        std::vector<float> o(static_cast<std::size_t>(rows) * 256, kSentinel);
        codes.pv_rows(rows, 1, a.data(), value_row.data(), 256, 256, o.data(), 256, false, {});
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < 256; ++c) expect_code(o[r * 256 + c], c, "pv_rows");
      }
      ++checked;
      if (HasFailure()) return;
    }
  if (checked == 0) GTEST_SKIP() << k.name << " reads no codes in place";
}

// Each set's code kernels against double on random codes of every value:
// head dims across vector tails and past 256 (where int8 Q·Kᵀ on VNNI
// hands the row on), key counts across its 16-key groups and its two
// streams (from 512 keys, halves of odd counts), one row to 14, O written
// and added to. Int8 Q·Kᵀ on VNNI rounds q to 2^-23 of
// the row's largest |q|, which the bound adds to fp32's. Then rows with
// q all zero or with a NaN, and P negative, infinite or all zero.
TEST_P(KernelSetTest, CodeKernelsMatchDouble) {
  const KernelSet& k = ks();
  int checked = 0;
  // Entries of one stream setting share most code kernels (fp8's across
  // every feature step): each distinct pair is checked once.
  std::vector<std::pair<kernels::QkDirectFn, kernels::PvDirectRowsFn>> seen;
  for (const FewRowKernels* few : k.few_rows) {
    if (!runs(*few)) continue;
    for (const attnrt_dtype t : {ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2}) {
      const FewRowKernels::Codes& codes = few->codes[t == ATTNRT_I8 ? 1 : t == ATTNRT_F8_E4M3 ? 2 : 3];
      if (!codes.qk || std::ranges::count(seen, std::pair(codes.qk, codes.pv_rows))) continue;
      seen.emplace_back(codes.qk, codes.pv_rows);
      SCOPED_TRACE(std::string(few->name) + " " + dtype_name(t));
      std::mt19937 rng(31);
      std::vector<std::uint8_t> finite;  // (CodeKernelsDecodeEveryCode has the others)
      for (int c = 0; c < 256; ++c)
        if (std::isfinite(code_to_double(t, static_cast<std::uint8_t>(c)))) finite.push_back(static_cast<std::uint8_t>(c));
      const auto code = [&] { return finite[rng() % finite.size()]; };
      const std::vector<int> dims = emulated() ? std::vector<int>{1, 33, 128, 257}
                                               : std::vector<int>{1, 7, 33, 64, 65, 128, 200, 256, 257, 512};
      const std::vector<int> key_counts =
          emulated() ? std::vector<int>{0, 5, 17, 129, 513, 1031}
                     : std::vector<int>{0, 1, 4, 5, 15, 16, 17, 128, 129, 300, 513, 1001, 1031};  // (1031: four streams)
      for (const int d : dims)
        for (const int keys : key_counts) {
          if (sampled() && keys == 1031 && d != 33) continue;  // (four streams at one d)
          SCOPED_TRACE("d " + std::to_string(d) + " keys " + std::to_string(keys));
          const std::int64_t ld = d + 5;
          std::vector<std::uint8_t> rows(static_cast<std::size_t>(std::max(keys, 1)) * ld);
          for (auto& c : rows) c = code();
          // The codes' values and each key's sum of magnitudes, decoded once
          // (the reference loops below dominated this test's time).
          std::vector<double> values(static_cast<std::size_t>(std::max(keys, 1)) * d), key_abs(std::max(keys, 1));
          for (int j = 0; j < keys; ++j)
            for (int x = 0; x < d; ++x) {
              values[j * d + x] = code_to_double(t, rows[j * ld + x]);
              key_abs[j] += std::fabs(values[j * d + x]);
            }
          // Q·Kᵀ: up to 14 rows (int8 on AMX takes them in passes of up
          // to five), the second's entries spread over six decades.
          constexpr int kRows = 14;
          std::vector<float> q(static_cast<std::size_t>(kRows) * d);
          for (std::size_t i = 0; i < q.size(); ++i)
            q[i] = std::uniform_real_distribution<float>(-1, 1)(rng) *
                   (i / d == 1 ? std::pow(10.0f, -static_cast<float>(i % 7)) : 1.0f);
          for (const int nrows : {1, 3, 7, kRows}) {
            if (nrows > 3 && (t != ATTNRT_I8 || sampled() || keys > 129 || d > 256)) continue;  // (int8's passes)
            std::vector<float> s(static_cast<std::size_t>(nrows) * std::max(keys, 1), kSentinel);
            codes.qk(nrows, keys, d, q.data(), d, rows.data(), ld, 0.3f, s.data(), std::max(keys, 1), {});
            for (int i = 0; i < nrows; ++i) {
              double qmax = 0;
              for (int x = 0; x < d; ++x) qmax = std::max(qmax, static_cast<double>(std::fabs(q[i * d + x])));
              for (int j = 0; j < keys; ++j) {
                double dot = 0, mag = 0;
                for (int x = 0; x < d; ++x) {
                  const double term = q[i * d + x] * values[j * d + x];
                  dot += term;
                  mag += std::fabs(term);
                }
                ASSERT_NEAR(s[i * std::max(keys, 1) + j], 0.3 * dot,
                            0.3 * (mag * (d + 2) * kU + qmax * key_abs[j] * 0x1p-23) + 1e-30)
                    << "S[" << i << "][" << j << "]";
              }
            }
          }
          if (keys == 0) continue;
          // P·V of one row, some of P zero, onto O and added to it; for
          // int8 also of 3 and 14 rows (the tiles widening codes for FMAs),
          // row 1's P six decades down and, of 14, row 3's all zero.
          for (const int nrows : {1, 3, 14}) {
            if (nrows > 1 && (nrows > few->pv_rows_max || t != ATTNRT_I8 || sampled() || keys > 300 ||
                              (d != 64 && d != 65 && d != 256)))
              continue;
            Buffer a(kernels::a_panels_bytes(k, k.mr, keys), 0);
            std::vector<double> p(static_cast<std::size_t>(nrows) * keys);
            for (int r = 0; r < nrows; ++r)
              for (int j = 0; j < keys; ++j) {
                double& x = p[r * keys + j];
                x = j % 5 == 3 || r == 3 ? 0.0 : std::uniform_real_distribution<float>(0, 1)(rng);
                if (r == 1) x = static_cast<float>(x * 1e-6);
                static_cast<float*>(a.data())[kernels::a_panel_index(k, r, j, keys)] = static_cast<float>(x);
              }
            for (const bool accumulate : {false, true}) {
              const std::int64_t ldo = d + 1;
              std::vector<float> o(static_cast<std::size_t>(nrows) * ldo, kSentinel);
              for (int r = 0; r < nrows; ++r)
                for (int x = 0; x < d; ++x) o[r * ldo + x] = accumulate ? 0.5f : kSentinel;
              codes.pv_rows(nrows, keys, a.data(), rows.data(), ld, d, o.data(), ldo, accumulate, {});
              for (int r = 0; r < nrows; ++r) {
                EXPECT_EQ(o[r * ldo + d], kSentinel) << "wrote past O's row " << r;
                std::vector<double> want(d, accumulate ? 0.5 : 0.0), mag(want);
                for (int j = 0; j < keys; ++j)  // (key by key: values' rows in order)
                  for (int x = 0; x < d; ++x) {
                    const double term = p[r * keys + j] * values[j * d + x];
                    want[x] += term;
                    mag[x] += std::fabs(term);
                  }
                for (int x = 0; x < d; ++x)
                  ASSERT_NEAR(o[r * ldo + x], want[x], mag[x] * (keys + 3) * kU + 1e-30)
                      << nrows << " rows, O[" << r << "][" << x << "]";
              }
            }
          }
        }
      // Rows int8 Q·Kᵀ on VNNI leaves to the widening kernel, and P's edges.
      const int d = 64, keys = 20;
      std::vector<std::uint8_t> rows(static_cast<std::size_t>(keys) * d);
      for (auto& c : rows) c = code();
      std::vector<float> q(d, 0.0f), s(keys);
      codes.qk(1, keys, d, q.data(), d, rows.data(), d, 1.0f, s.data(), keys, {});
      for (const float x : s) EXPECT_EQ(x, 0.0f) << "q all zero";
      q[5] = std::nanf("");
      codes.qk(1, keys, d, q.data(), d, rows.data(), d, 1.0f, s.data(), keys, {});
      for (const float x : s) EXPECT_TRUE(std::isnan(x)) << "q with a NaN";
      // q of any magnitude fp32 holds without overflow (2^-100 is where int8
      // on VNNI hands the row on).
      for (const float scale : {1e30f, 1e-28f, 1e-31f, 1e-36f}) {
        for (int x = 0; x < d; ++x) q[x] = scale * static_cast<float>(x % 7 - 3);
        codes.qk(1, keys, d, q.data(), d, rows.data(), d, 1.0f, s.data(), keys, {});
        for (int j = 0; j < keys; ++j) {
          double dot = 0, mag = 0;
          for (int x = 0; x < d; ++x) {
            dot += static_cast<double>(q[x]) * code_to_double(t, rows[j * d + x]);
            mag += std::fabs(static_cast<double>(q[x]) * code_to_double(t, rows[j * d + x]));
          }
          EXPECT_NEAR(s[j], dot, mag * 1e-5) << "q scaled by " << scale << ", key " << j;
        }
      }
      Buffer a(kernels::a_panels_bytes(k, k.mr, keys), 0);
      float* pa = static_cast<float*>(a.data());
      const auto pv = [&](float p0, float rest) {
        for (int j = 0; j < keys; ++j) pa[kernels::a_panel_index(k, 0, j, keys)] = j == 0 ? p0 : rest;
        std::vector<float> o(d);
        codes.pv_rows(1, keys, a.data(), rows.data(), d, d, o.data(), d, false, {});
        return o;
      };
      for (const float x : pv(0.0f, 0.0f)) EXPECT_EQ(x, 0.0f) << "P all zero";
      const std::vector<float> neg = pv(-1.0f, 0.0f);
      for (int x = 0; x < d; ++x) EXPECT_EQ(neg[x], static_cast<float>(-code_to_double(t, rows[x]))) << "P negative";
      const std::vector<float> inf = pv(INFINITY, 0.0f);
      for (int x = 0; x < d; ++x) {
        const double v = code_to_double(t, rows[x]);
        if (v != 0) {
          EXPECT_EQ(inf[x], v > 0 ? INFINITY : -INFINITY) << "P infinite, O[" << x << "]";
        }
      }
      ++checked;
      if (HasFailure()) return;
    }
  }
  if (checked == 0) GTEST_SKIP() << k.name << " reads no codes in place";
}

TEST_P(KernelSetTest, DirectKvFieldsAreAllOrNothing) {
  const KernelSet& k = ks();
  EXPECT_TRUE(kernels::few_rows_complete(k)) << "an incomplete FewRowKernels (kernel_set.hpp)";
  for (const FewRowKernels* f : k.few_rows) {
    ASSERT_NE(f, nullptr) << "a null few-row entry";
    SCOPED_TRACE(f->name ? f->name : "(no name)");
    EXPECT_NE(f->name, nullptr) << "a few-row entry with no name";
    EXPECT_NE(f->qk, nullptr) << "a direct P·V without the Q·Kᵀ";
    EXPECT_NE(f->pv_rows, nullptr) << "no P·V for a strip's real rows";
    EXPECT_EQ(f->pv_init != nullptr, f->pv_acc != nullptr) << "pv_init without pv_acc";
    EXPECT_GE(f->pv_rows_max, 1) << "a few-row direct P·V for no rows";
    EXPECT_LE(f->pv_rows_max, k.mr) << "a few-row direct P·V for more rows than a strip";
    EXPECT_EQ(f->pv_init == nullptr, f->pv_rows_max == k.mr) << "strips of some row count without a P·V";
    EXPECT_EQ(f->widen_rows == nullptr, k.dtype == DType::f32) << "widen_rows for 16-bit inputs, and only there";
    EXPECT_TRUE(kernels::code_pairs_whole(*f)) << "half of a code format's pair";
  }
  if (k.few_rows_from) {
    EXPECT_FALSE(kernels::has_direct_kv(k)) << "a few-row path of its own and another set's";
    const KernelSet* from = k.few_rows_from();
    ASSERT_NE(from, nullptr) << "few_rows_from names no set";
    EXPECT_TRUE(kernels::has_direct_kv(*from)) << from->name << " has no few-row path to lend";
    EXPECT_EQ(from->dtype, k.dtype) << from->name;
    EXPECT_EQ(from->requires_cpu & ~k.requires_cpu, 0u) << from->name << " needs CPU features " << k.name << " does not";
  }
  if (kernels::has_direct_kv(k)) {
    EXPECT_TRUE(k.k_pack == 1 && k.packed_elem == sizeof(float)) << "direct kernels on a set that is not fp32 with k_pack 1";
    EXPECT_EQ(kernels::kDirectPvKeys % kernels::a_block_of(k), 0)
        << "the pipelines' direct P·V calls would start P inside an A panel block";
    EXPECT_EQ(kernels::kDirectPvTurnKeys % kernels::a_block_of(k), 0)
        << "the strips' direct P·V turns would start P inside an A panel block";
  }
}

// Which row blocks read K and V in place (strip.hpp direct_kv, as online and
// two_pass ask per row block): at the accurate precision any block the plan
// marks; at the fast one too where the fast P·V path is the accurate one,
// else (SVE fp16: pv_fp16_12x2_noepi on fp16 P) the few-row blocks (rows <=
// pv_rows_max: decode) only, which begin_row_block then runs on the
// accurate P·V and Q·Kᵀ paths and exp2 (fp32 P, as the direct P·V reads it).
TEST_P(KernelSetTest, DirectKvTakesFewRowBlocksAtTheFastPrecision) {
  const KernelSet& k = ks();
  if (!kernels::has_direct_kv(k)) GTEST_SKIP() << k.name << " has no direct K/V path for this dtype";
  const bool fast_pv = kernels::pv_path(k, Exp2Precision::fast).pv_acc != k.pv_acc;
  if (std::string_view(k.name).starts_with("sve") && k.dtype == DType::f16) {
    EXPECT_TRUE(fast_pv) << "the SVE fp16 sets' fast P·V (fp16 P) is what this test is about";
  }
  // Q of 2 * mr packed rows (one query row per head), d = 5.
  constexpr int d = 5;
  const int rows_max = 2 * k.mr;
  HostTensor q(dtype(), {1, rows_max, 1, d}, Layout::bhsd, 0);
  for (int h = 0; h < rows_max; ++h)
    for (int c = 0; c < d; ++c) q.set(0, h, 0, c, 0.25 * (h + c));
  kernels::HeadProblem p{};
  p.dtype = k.dtype;
  p.m = 1;
  p.q_heads = rows_max;
  p.n = 40;
  p.d = p.dv = d;
  p.q = q.c().data;
  p.ldq = q.c().stride[2];
  p.hsq = q.c().stride[1];
  p.scale = 1.0f;
  p.band = {};
  kernels::Blocking b{.mb = rows_max, .nb = kernels::key_step(k), .stage_bytes = 64 << 10, .pipe_ahead = 2,
                      .direct_kv = true};
  for (int rows = 1; rows <= rows_max; ++rows) {
    SCOPED_TRACE("rows " + std::to_string(rows));
    p.precision = Exp2Precision::accurate;
    EXPECT_TRUE(kernels::direct_kv(k, p, b, rows));
    p.precision = Exp2Precision::fast;
    EXPECT_EQ(kernels::direct_kv(k, p, b, rows), !fast_pv || rows <= k.few_rows.front()->pv_rows_max);
    if (rows <= k.few_rows.front()->pv_rows_max) {
      EXPECT_TRUE(kernels::direct_kv(k, p, b, rows)) << "a few-row block packed";
    }
    b.direct_kv = false;
    EXPECT_FALSE(kernels::direct_kv(k, p, b, rows)) << "the plan said packed";
    b.direct_kv = true;
  }
  // A decode block at the fast precision: direct, with fp32 P.
  p.precision = Exp2Precision::fast;
  kernels::Carver count;
  kernels::RowBlock rb{};
  kernels::carve_row_block(count, k, d, d, b, &rb);
  kernels::carve_banks(count, k, b, &rb);
  Buffer ws(count.used(), 0);
  kernels::Carver carver(ws.data());
  kernels::carve_row_block(carver, k, d, d, b, &rb);
  kernels::carve_banks(carver, k, b, &rb);
  ASSERT_TRUE(kernels::direct_kv(k, p, b, 1));
  kernels::begin_row_block(k, p, kernels::direct_kernels(k, p, b, 1), 0, 1, &rb);
  EXPECT_TRUE(rb.direct());
  EXPECT_EQ(rb.few, k.few_rows.front());
  EXPECT_EQ(rb.pv.pv_acc, k.pv_acc) << "a direct block on the fast P·V path";
  EXPECT_EQ(rb.pv.elem, sizeof(float));
  EXPECT_EQ(rb.qk.qk, k.qk);
  // exp2 stays fast where the fast precision's P is fp32 anyway.
  EXPECT_EQ(rb.exp2, fast_pv ? Exp2Precision::accurate : Exp2Precision::fast);
  EXPECT_EQ(kernels::p_offset(k, rb, 3), 3 * k.mr * sizeof(float));
  for (int c = 0; c < d; ++c) EXPECT_EQ(rb.q_rows[c], 0.25f * c) << "Q row 0, column " << c;
}


// One head through pipeline `strategy` with the set under test, against the
// double-precision reference: what the runtime does per work item, minus
// the runtime (so it also runs on the emulated sets). Keys j with
// i + diag - left <= j <= i + diag + right (diag = N - M) are visible.
struct HeadCase {
  int m, n, d, dv;
  bool causal;
  int left = -1;  // sliding window: keys at most `left` before the diagonal
  std::int64_t q_ld = 0;  // Q's row stride; 0: d + 1 (rows off 64-byte boundaries)
};

void check_head(const KernelSet& ks, kernels::Strategy strategy, const kernels::Blocking& b,
                const HeadCase& c, Exp2Precision prec, std::mt19937& rng) {
  SCOPED_TRACE(std::string(kernels::strategy_name(strategy)) + " M=" + std::to_string(c.m) +
               " N=" + std::to_string(c.n) + " D=" + std::to_string(c.d) + " Dv=" + std::to_string(c.dv) +
               (c.causal ? " causal" : "") + (c.left >= 0 ? " window " + std::to_string(c.left) : "") +
               (prec == Exp2Precision::fast ? " fast" : " accurate") + (b.direct_kv ? " direct" : ""));
  const Matrix q(c.m, c.d, c.q_ld ? c.q_ld : c.d + 1, ks.dtype, rng, -2.0f, 2.0f);
  const Matrix k(c.n, c.d, c.d, ks.dtype, rng, -2.0f, 2.0f);
  const Matrix v(c.n, c.dv, c.dv + 3, ks.dtype, rng);
  const std::int64_t ldo = c.dv + 2;
  const std::size_t esz = kernels::dtype_size(ks.dtype);
  std::vector<unsigned char> o(static_cast<std::size_t>(c.m) * ldo * esz, 0xff);
  std::vector<float> lse(c.m, kNaNf);

  kernels::HeadProblem p{};
  p.dtype = ks.dtype;
  p.m = c.m, p.q_heads = 1, p.n = c.n, p.d = c.d, p.dv = c.dv;
  p.q = q.data(), p.ldq = q.ld, p.k = k.data(), p.ldk = k.ld, p.v = v.data(), p.ldv = v.ld;
  p.o = o.data(), p.ldo = ldo, p.lse = lse.data(), p.ldlse = 1;
  p.scale = 1.0f / std::sqrt(static_cast<float>(c.d));
  p.diag = c.n - c.m, p.band = {c.left, c.causal ? 0 : -1};
  p.precision = prec;
  const std::size_t ws_bytes = kernels::workspace_bytes(strategy, ks, c.d, c.dv, b);
  Buffer ws(ws_bytes);
  kernels::run_pipeline(strategy, ks, p, {0, c.m, 0, c.n}, b, {ws.get(), ws_bytes});

  const auto dt = static_cast<attnrt_dtype>(ks.dtype);
  const attnrt_tensor tq{const_cast<void*>(q.data()), dt, {1, 1, c.m, c.d}, {0, 0, q.ld}};
  const attnrt_tensor tk{const_cast<void*>(k.data()), dt, {1, 1, c.n, c.d}, {0, 0, k.ld}};
  const attnrt_tensor tv{const_cast<void*>(v.data()), dt, {1, 1, c.n, c.dv}, {0, 0, v.ld}};
  attnrt_params params;
  attnrt_params_init(&params);
  params.causal = c.causal;
  params.window_left = c.left;
  params.precision = static_cast<attnrt_precision>(prec);
  const RefResult ref = reference_forward(tq, tk, tv, params);
  const Tolerance tol = tolerance(dt, static_cast<attnrt_precision>(prec));
  double worst_o = 0, worst_l = 0;
  for (int i = 0; i < c.m; ++i) {
    for (int j = 0; j < c.dv; ++j) {
      const unsigned char* e = o.data() + (static_cast<std::size_t>(i) * ldo + j) * esz;
      float got;
      if (ks.dtype == DType::f32)
        std::memcpy(&got, e, 4);
      else {
        const std::uint16_t h = static_cast<std::uint16_t>(e[0] | e[1] << 8);
        got = ks.dtype == DType::f16 ? kernels::fp16_to_float(h) : kernels::bf16_to_float(h);
      }
      ASSERT_FALSE(std::isnan(got)) << "O[" << i << "][" << j << "]";
      if (std::isinf(ref.lse[i])) {
        ASSERT_EQ(got, 0.0f) << "O[" << i << "][" << j << "] of a row that sees no key";
      }
      worst_o = std::max(worst_o, std::fabs(got - ref.o[static_cast<std::size_t>(i) * c.dv + j]));
    }
    ASSERT_FALSE(std::isnan(lse[i]));
    if (std::isinf(ref.lse[i]))  // a row that sees no key: LSE -inf (and O 0, above)
      ASSERT_EQ(lse[i], -kInff) << "lse[" << i << "]";
    else
      worst_l = std::max(worst_l, std::fabs(lse[i] - ref.lse[i]));
  }
  EXPECT_LE(worst_o, tol.o);
  EXPECT_LE(worst_l, tol.lse);
}

// Every pipeline, packed K and V: blocks of 64 rows and 96 keys, and a stage
// of 16 KiB, so two_pass and three_pass stage several chunks (the rescale
// between chunks runs) and three_pass's staged S and P take several blocks.
TEST_P(KernelSetTest, EveryPipelineMatchesReference) {
  const KernelSet& ks = this->ks();
  const HeadCase cases[] = {{33, 257, 64, 64, false},
                            {70, 70, 80, 80, true},
                            {1, 300, 128, 128, false},
                            {129, 517, 33, 7, true},
                            {7, 1, 16, 16, false},
                            {50, 300, 64, 48, false, 40},  // sliding window, no causal bound
                            {40, 17, 32, 24, true}};  // M > N, causal bottom-right: 23 rows see no key
  std::mt19937 rng(18);
  const kernels::Blocking b{round_up(64, ks.mr), round_up(96, kernels::key_step(ks)), 16 * 1024, 2};
  for (kernels::Strategy s : {kernels::Strategy::online, kernels::Strategy::two_pass, kernels::Strategy::three_pass})
    for (const HeadCase& c : cases)
      for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast})
        check_head(ks, s, b, c, prec, rng);
}

// The direct K/V path through online and two_pass, as the plans use it: few
// rows per block (one strip, or two in step), fp32, the accurate precision. The set under test is copied with its packers and packed
// kernels for K and V replaced by ones that fail, so a pass proves the
// direct kernels did the work.
int g_packed_kv_calls = 0;
void count_pack(const void*, std::int64_t, int, int, void*) { ++g_packed_kv_calls; }
void count_qk(int, const void*, const void*, float, float*, std::int64_t) { ++g_packed_kv_calls; }
void count_pv(int, const void*, const void*, float*, std::int64_t) { ++g_packed_kv_calls; }

TEST_P(KernelSetTest, DirectKvPipelinesMatchReference) {
  if (!kernels::has_direct_kv(ks())) GTEST_SKIP() << ks().name << " has no direct K/V path for this dtype";
  KernelSet ks = this->ks();
  ks.pack_k = ks.pack_v = count_pack;
  ks.qk = count_qk;
  ks.pv_init = ks.pv_acc = count_pv;
  const HeadCase cases[] = {{1, 257, 128, 128, false},     // decode: pv_direct_rows
                            {1, 33, 7, 33, true},          // decode, odd dims
                            {16, 257, 33, 256, true},      // one block of 16 rows, causal bottom-right
                            {7, 300, 256, 1, false},       // D 256, Dv 1
                            {13, 200, 64, 33, true, 40},   // sliding window
                            {40, 17, 32, 24, true},        // M > N causal: 23 rows see no key
                            // Q rows on 64-byte boundaries: read in place
                            // (the cases above gather them)
                            {12, 300, 256, 64, false, -1, 256},
                            {9, 70, 48, 48, true, -1, 64}};
  std::mt19937 rng(23);
  for (int mb : {ks.mr, 2 * ks.mr})
    for (kernels::Strategy s : {kernels::Strategy::online, kernels::Strategy::two_pass}) {
      // nb 64 keys; two_pass chunks of a few blocks (more than one, so the
      // online rescale between chunks runs too): direct mode stages only S,
      // mb floats per key.
      kernels::Blocking b{mb, round_up(64, kernels::key_step(ks)), 8 * 1024, 2};
      b.direct_kv = true;
      for (const HeadCase& c : cases) {
        g_packed_kv_calls = 0;
        check_head(ks, s, b, c, Exp2Precision::accurate, rng);
        EXPECT_EQ(g_packed_kv_calls, 0) << "the direct path packed K or V";
      }
    }
}

// ---- whole calls through a runtime on this set ----------------------------------

// Through a runtime on this set (ATTNRT_ISA = its name; avx512_bf16 covers
// bf16 only, as the runtime's other dtypes choose as usual) with the plan's
// own strategy: tails in rows and keys, GQA and MQA, causal with N > M and
// M > N (rows that see no key), one key; both precisions. Scale 4/√D: scores
// of a few units, a real softmax; but where the fast precision sums Q·Kᵀ in
// fp16 (SVE fp16) 1/√D, the unit scores tolerances.hpp's bound is stated for.
TEST_P(KernelSetTest, ForwardThroughTheRuntime) {
  if (kEmulatedSets) GTEST_SKIP() << "the runtime runs the native sets, not the emulated ones";
  struct Shape {
    int b, hq, hkv, m, n, d, dv;
    bool causal;
  };
  const Shape shapes[] = {
      {1, 2, 2, 33, 257, 64, 64, false},   // tails in rows and keys
      {2, 4, 2, 70, 70, 80, 80, true},     // GQA, causal, D = 80
      {1, 3, 1, 1, 300, 128, 128, false},  // decode-like, MQA
      {1, 1, 1, 129, 517, 33, 7, true},    // odd D, Dv; causal bottom-right with N > M
      {1, 2, 1, 7, 1, 16, 16, false},      // one key
      {1, 2, 2, 40, 17, 32, 24, true},     // M > N, causal bottom-right: rows that see no key
  };
  for (const Shape& s : shapes)
    for (const attnrt_precision prec : {ATTNRT_EXP2_ACCURATE, ATTNRT_EXP2_FAST}) {
      const bool fp16_sums = prec == ATTNRT_EXP2_FAST && ks().qk_fast;
      const float scale = (fp16_sums ? 1.0f : 4.0f) / std::sqrt(static_cast<float>(s.d));
      expect_forward_matches(ks().name, {.dtype = dtype(), .B = s.b, .Hq = s.hq, .Hkv = s.hkv, .M = s.m, .N = s.n,
                                         .D = s.d, .Dv = s.dv, .layout = Layout::bshd, .causal = s.causal,
                                         .scale = scale, .precision = prec});
      if (HasFatalFailure()) return;
    }
}

// The same with windows, key lengths (a batch of none), strided views and
// several key blocks (the rescale), sized for qemu.
TEST_P(KernelSetTest, ForwardThroughTheRuntimeWithMasksAndViews) {
  if (kEmulatedSets) GTEST_SKIP() << "the runtime runs the native sets, not the emulated ones";
  const Spec cases[] = {
      {.B = 1, .Hq = 2, .Hkv = 1, .M = 33, .N = 57, .D = 64, .Dv = 64},                       // GQA, tails everywhere
      {.B = 2, .Hq = 2, .Hkv = 2, .M = 7, .N = 40, .D = 33, .Dv = 17, .causal = true,
       .kv_lens = {0, 37}},                                                                   // causal, odd dims, an empty batch
      {.M = 20, .N = 70, .D = 16, .Dv = 96, .causal = true, .window_left = 9},                // sliding window
      {.M = 1, .N = 257, .D = 7, .Dv = 7},                                                    // decode-like
      {.M = 20, .N = 9, .D = 8, .Dv = 8, .causal = true},                                     // causal, M > N: fully masked rows
      {.B = 1, .Hq = 2, .Hkv = 1, .M = 13, .N = 33, .D = 24, .Dv = 40, .layout = Layout::cache},  // strided rows
      {.M = 12, .N = 300, .D = 256, .Dv = 256},                                               // several key blocks: rescale
  };
  for (Spec spec : cases)
    for (const attnrt_precision prec : {ATTNRT_EXP2_ACCURATE, ATTNRT_EXP2_FAST}) {
      spec.dtype = dtype();
      spec.precision = prec;
      expect_forward_matches(ks().name, spec);
      if (HasFatalFailure()) return;
    }
}

}  // namespace
}  // namespace attnrt::test
