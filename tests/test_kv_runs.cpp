// for_each_kv_run (kernels/pipelines/kv_runs.hpp) on paged K/V: every run
// holds exactly its keys' rows (in place, or staged where a quantum
// straddles two pages), and the run list it hands with each run (`next`,
// where the direct kernels' prefetches go) lists the rows of the keys that
// follow, in order, as far as PagesAhead reaches: pages of 1, 7, 16 and 256
// keys, in order, reversed and shared, K and V, quanta of 1 and 16. The
// kernels only prefetch there, so a wrong list costs speed and no result
// would show it. Dense K/V: one run, left to the hardware where asked.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/pipelines/kv_runs.hpp"
#include "kernels/problem.hpp"

namespace attnrt::test {
namespace {

using kernels::KvRun;
using kernels::KvSide;
using kernels::PagesAhead;

enum class Order { in_order, reverse, shared };

struct PagedPool {
  std::vector<float> k, v;
  std::vector<std::int32_t> table;
  kernels::HeadProblem p{};
};

// n keys of d floats in pages of ps keys: physical pages in the given
// order; `shared` lists page 0 again for the table's second half (two
// sequences' shared prefix, as one sequence sees it: the same rows twice).
PagedPool pool(int n, int ps, int d, Order order) {
  PagedPool t;
  const int slots = (n + ps - 1) / ps;
  t.table.resize(slots);
  std::iota(t.table.begin(), t.table.end(), 0);
  if (order == Order::reverse) std::reverse(t.table.begin(), t.table.end());
  if (order == Order::shared)
    for (int s = slots / 2; s < slots; ++s) t.table[s] = t.table[s - slots / 2];
  t.k.assign(static_cast<std::size_t>(slots) * ps * d, 0.0f);
  t.v = t.k;
  for (std::size_t i = 0; i < t.k.size(); ++i) t.k[i] = static_cast<float>(i), t.v[i] = -static_cast<float>(i);
  kernels::HeadProblem& p = t.p;
  p.dtype = kernels::DType::f32;
  p.m = 1, p.q_heads = 1, p.n = n, p.d = d, p.dv = d;
  p.k = t.k.data(), p.ldk = d;
  p.v = t.v.data(), p.ldv = d;
  p.pages = t.table.data(), p.page_size = ps;
  p.k_page_stride = p.v_page_stride = static_cast<std::int64_t>(ps) * d;
  return t;
}

const std::byte* row(const kernels::HeadProblem& p, KvSide side, std::int64_t j) {
  const bool k = side == KvSide::k;
  return static_cast<const std::byte*>(k ? p.k : p.v) + (k ? p.k_offset(j) : p.v_offset(j)) * sizeof(float);
}

// Rows of n keys of d floats in pages of 1, 7, 16 and 256 keys, in order,
// reversed and shared, K and V, for consumers of quanta 1 and 16:
// f(pool, side, quantum, stage) for each, traced.
constexpr int kKeys = 3 * 256 + 5, kDim = 8;
template <class F>
void for_each_layout(F&& f) {
  for (const int ps : {1, 7, 16, 256})
    for (const Order order : {Order::in_order, Order::reverse, Order::shared})
      for (const KvSide side : {KvSide::k, KvSide::v})
        for (const int quantum : {1, 16}) {
          const PagedPool t = pool(kKeys, ps, kDim, order);
          SCOPED_TRACE("pages of " + std::to_string(ps) + ", order " + std::to_string(static_cast<int>(order)) +
                       (side == KvSide::k ? ", K" : ", V") + ", quantum " + std::to_string(quantum));
          std::vector<std::byte> stage(static_cast<std::size_t>(quantum) * kDim * sizeof(float));
          f(t, side, quantum, stage);
          if (::testing::Test::HasFatalFailure()) return;
        }
}

TEST(KvRuns, RunsHoldTheirRowsAndListTheRowsAfter) {
  const int d = kDim, n = kKeys;
  for (const bool pages_ahead : {true, false})
    for_each_layout([&](const PagedPool& t, KvSide side, int quantum, std::vector<std::byte>& stage) {
      SCOPED_TRACE(pages_ahead ? "pages ahead listed" : "none listed");
      const std::int64_t first = 3;  // a range from inside the first page
      const int count = n - 40;
      int covered = 0;
      kernels::for_each_kv_run(t.p, side, first, count, quantum, stage.data(), [&](const KvRun& r) {
        ASSERT_EQ(r.c, covered) << "runs in order, none skipped";
        covered += r.count;
        for (int i = 0; i < r.count; ++i)
          ASSERT_EQ(0, std::memcmp(r.rows + i * r.ld * sizeof(float), row(t.p, side, first + r.c + i), d * sizeof(float)))
              << "key " << first + r.c + i;
        const std::int64_t after = first + r.c + r.count;
        if (r.next.in_memory()) {
          ADD_FAILURE() << "a paged run's next rows said to follow in memory";
          return;
        }
        if (!pages_ahead) {  // prefetches stop at the page's end
          EXPECT_EQ(r.next.n, 0) << "after key " << after;
          return;
        }
        // Every listed row is the next key's, and the list reaches as
        // far as the window promises (or the keys' end).
        int listed = 0;
        for (int m = 0; m < r.next.n; ++m)
          for (int i = 0; i < r.next.runs[m].count; ++i, ++listed)
            ASSERT_EQ(static_cast<const std::byte*>(r.next.runs[m].rows) + i * r.ld * sizeof(float),
                      row(t.p, side, after + listed))
                << "row " << listed << " after key " << after;
        if (r.rows != stage.data() || r.ld == d) {
          const std::int64_t want = std::min<std::int64_t>(
              n - after, std::min<std::int64_t>(PagesAhead::kRowsAhead, (PagesAhead::kPiecesAhead - 1) * t.p.page_size));
          EXPECT_GE(listed, want) << "after key " << after;
        }
      }, {.pages_ahead = pages_ahead});
      EXPECT_EQ(covered, count);
    });
}

// Where the kernels read across pieces (KvRunOptions::span): calls of at
// most kSpanKeys keys in kSpanPieces pieces, cut at the quantum, each its first piece's rows in
// place and the rest listed, then (with pages ahead) kRowsAhead rows more,
// or to the keys' end, for the prefetches; nothing staged. Walked as the
// kernels walk them (RowWalk).
TEST(KvRuns, SpanningCallsListTheirKeysAndTheRowsAfter) {
  const int d = kDim, n = kKeys;
  for (const bool pages_ahead : {true, false})
  for_each_layout([&](const PagedPool& t, KvSide side, int quantum, std::vector<std::byte>& stage) {
    SCOPED_TRACE(pages_ahead ? "pages ahead listed" : "none listed");
    const std::int64_t first = 3;
    const int count = n - 40;
    int covered = 0;
    kernels::for_each_kv_run(t.p, side, first, count, quantum, stage.data(), [&](const KvRun& r) {
      ASSERT_EQ(r.c, covered) << "calls in order, none skipped";
      ASSERT_LE(r.count, PagesAhead::kSpanKeys);
      const std::int64_t at = (first + r.c) % t.p.page_size;  // the call's row in its first piece
      ASSERT_LE((at + r.count + t.p.page_size - 1) / t.p.page_size, PagesAhead::kSpanPieces);
      const std::int64_t fit = std::min<std::int64_t>(PagesAhead::kSpanKeys, PagesAhead::kSpanPieces * t.p.page_size - at);
      ASSERT_GE(r.count, std::min<std::int64_t>(count - r.c, fit - (quantum - 1))) << "a call shorter than its pieces allow";
      if (r.c + r.count < count) {
        ASSERT_EQ(r.count % quantum, 0) << "a call cut inside a quantum";
      }
      ASSERT_NE(r.rows, stage.data()) << "a spanning call's rows staged";
      ASSERT_GT(r.next.in_place, 0);
      covered += r.count;
      const std::int64_t want =
          std::min<std::int64_t>(n - first - r.c, r.count + (pages_ahead ? PagesAhead::kRowsAhead : 0));
      kernels::RowWalk<float> w(reinterpret_cast<const float*>(r.rows), r.ld,
                                kernels::rows_in_place(r.count, r.next), r.next);
      for (std::int64_t i = 0; i < want; ++i, w.step())
        ASSERT_EQ(0, std::memcmp(w.row(), row(t.p, side, first + r.c + i), d * sizeof(float)))
            << "row " << i << " of the call at key " << first + r.c;
    }, {.pages_ahead = pages_ahead, .span = true});
    EXPECT_EQ(covered, count);
  });
}

// Dense K/V: one run of all the keys in place, its rows after it in
// memory, left to the hardware prefetchers (RowsAfter::by_hardware) only
// where the CPU's row asks (KvRunOptions::dense_by_hardware) and the rows
// are less than a memory page apart; paged runs never, whatever the option
// says (the kernels must prefetch across pages).
TEST(KvRuns, DenseRunsAreLeftToTheHardwareOnlyWhenAsked) {
  for (const bool by_hardware : {false, true}) {
    SCOPED_TRACE(by_hardware ? "dense by hardware" : "dense prefetched");
    PagedPool t = pool(kKeys, 16, kDim, Order::in_order);
    kernels::HeadProblem dense = t.p;
    dense.pages = nullptr;
    int runs = 0;
    kernels::for_each_kv_run(dense, KvSide::v, 5, kKeys - 5, 16, nullptr, [&](const KvRun& r) {
      ++runs;
      EXPECT_EQ(r.c, 0);
      EXPECT_EQ(r.count, kKeys - 5);
      EXPECT_EQ(r.rows, row(dense, KvSide::v, 5));
      EXPECT_TRUE(r.next.in_memory());
      EXPECT_EQ(r.next.by_hardware, by_hardware);
    }, {.dense_by_hardware = by_hardware});
    EXPECT_EQ(runs, 1);
    // Rows a memory page (4 KiB) apart or more, as in K/V [B, N, H, D] of
    // many heads: prefetched by the kernels whatever the option says.
    for (const std::int64_t ld : {std::int64_t{1024}, std::int64_t{1000}, std::int64_t{1023}}) {
      kernels::HeadProblem strided = dense;
      strided.ldv = ld;
      const bool hardware = by_hardware && ld * static_cast<std::int64_t>(sizeof(float)) < 4096;
      kernels::for_each_kv_run(strided, KvSide::v, 0, 8, 16, nullptr, [&](const KvRun& r) {
        EXPECT_EQ(r.next.by_hardware, hardware) << "rows " << ld << " floats apart";
      }, {.dense_by_hardware = by_hardware});
    }
    std::vector<std::byte> stage(16 * kDim * sizeof(float));
    for (const bool span : {false, true})
      kernels::for_each_kv_run(t.p, KvSide::k, 3, kKeys - 3, 16, stage.data(), [&](const KvRun& r) {
        EXPECT_FALSE(r.next.by_hardware) << "paged run at key " << 3 + r.c << (span ? ", spanning" : "");
        EXPECT_FALSE(r.next.in_memory());
      }, {.pages_ahead = true, .dense_by_hardware = by_hardware, .span = span});
  }
}

// Paged rows a memory page (4 KiB) apart or more, as in a pool [pages, P,
// Hkv, D] of many heads, come as one stream for the one-row loops
// (RowsAfter::one_stream), spanning calls or not; nearer rows, and dense
// rows at any distance, keep their streams. Such rows, paged or dense, are
// read from their end (RowsAfter::down) where the option asks (these are
// fp32 rows), others never.
TEST(KvRuns, RowsAMemoryPageApartAreOneStreamAndReadDown) {
  for (const std::int64_t ld : {std::int64_t{kDim}, std::int64_t{1000}, std::int64_t{1023}, std::int64_t{1024}})
    for (const bool down : {false, true}) {
      SCOPED_TRACE("rows " + std::to_string(ld) + " floats apart" + (down ? ", read down where apart" : ""));
      const bool one = ld * static_cast<std::int64_t>(sizeof(float)) >= 4096;
      PagedPool t = pool(kKeys, 16, kDim, Order::reverse);
      std::vector<float> rows(static_cast<std::size_t>(kKeys + 16) * ld, 1.0f);
      t.p.k = rows.data();
      t.p.ldk = ld;
      t.p.k_page_stride = 16 * ld;
      for (const bool span : {false, true}) {
        int runs = 0;
        kernels::for_each_kv_run(t.p, KvSide::k, 3, kKeys - 3, 1, nullptr, [&](const KvRun& r) {
          ++runs;
          EXPECT_EQ(r.next.one_stream, one) << "paged run at key " << 3 + r.c << (span ? ", spanning" : "");
          EXPECT_EQ(r.next.down, one && down) << "paged run at key " << 3 + r.c << (span ? ", spanning" : "");
        }, {.pages_ahead = true, .apart_rows_down = down, .span = span});
        EXPECT_GT(runs, 0);
      }
      kernels::HeadProblem dense = t.p;
      dense.pages = nullptr;
      kernels::for_each_kv_run(dense, KvSide::k, 0, kKeys, 1, nullptr, [&](const KvRun& r) {
        EXPECT_FALSE(r.next.one_stream) << "dense rows";
        EXPECT_EQ(r.next.down, one && down) << "dense rows";
      }, {.dense_by_hardware = true, .apart_rows_down = down});
    }
}

}  // namespace
}  // namespace attnrt::test
