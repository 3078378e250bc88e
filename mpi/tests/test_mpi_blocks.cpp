// The ring step's calls and the placement rule: pure functions, no MPI run.
#include <attnrt/attnrt_mpi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "mpi/src/blocks.hpp"

namespace attnrt::mpi {

void PrintTo(const Call& c, std::ostream* os) {
  *os << "{q " << c.q0 << "+" << c.q_len << ", k " << c.k0 << "+" << c.k_len << ", wl " << c.window_left << ", wr "
      << c.window_right << ", offset " << c.offset << (c.bottom_right ? ", bottom-right" : "") << "}";
}

namespace {

constexpr Visible kAll{};
constexpr Visible kCausal{-Visible::kUnbounded, 0};

TEST(MpiBlocks, CausalPairsAreFullDiagonalCutOrSkipped) {
  Call c;
  ASSERT_TRUE(block_call(kAll, 0, {0, 0, 8}, {100, 0, 8}, &c));  // not causal: all
  EXPECT_EQ(c, (Call{0, 8, 0, 8, -1, -1, 100}));
  ASSERT_TRUE(block_call(kCausal, 0, {16, 0, 8}, {8, 0, 8}, &c));  // keys before the queries
  EXPECT_EQ(c, (Call{0, 8, 0, 8, -1, -1, -8}));
  ASSERT_TRUE(block_call(kCausal, 0, {8, 4, 8}, {8, 2, 8}, &c));  // the diagonal
  EXPECT_EQ(c, (Call{4, 8, 2, 8, -1, 0, 0}));
  EXPECT_FALSE(block_call(kCausal, 0, {0, 0, 8}, {8, 0, 8}, &c));  // keys after every query
  // 8 queries from 0 against 4 keys from 3: rows 0-2 see none, row 3 sees key 0.
  ASSERT_TRUE(block_call(kCausal, 0, {0, 0, 8}, {3, 0, 4}, &c));
  EXPECT_EQ(c, (Call{3, 5, 0, 4, -1, 0, 0}));
  // Bottom-right shift 5 (N - M): query 0 sees keys up to 5 of 0..7.
  ASSERT_TRUE(block_call(kCausal, 5, {0, 0, 4}, {0, 0, 8}, &c));
  EXPECT_EQ(c, (Call{0, 4, 0, 8, -1, 5, -5}));
  // 2 queries from 0, shift 1: keys up to 2 seen, keys 3-7 trimmed.
  ASSERT_TRUE(block_call(kCausal, 1, {0, 0, 2}, {0, 0, 8}, &c));
  EXPECT_EQ(c, (Call{0, 2, 0, 3, -1, 1, -1}));
}

// A sliding window (2 keys back, causal): query x sees keys x-2..x.
TEST(MpiBlocks, WindowsCutRowsAndKeysOnBothSides) {
  const Visible band{-2, 0};
  Call c;
  // Queries 8..15 against keys 0..7: only queries 8 and 9 see keys 6, 7.
  ASSERT_TRUE(block_call(band, 0, {8, 0, 8}, {0, 0, 8}, &c));
  // Call row i (query 8 + i) sees call key j (key 6 + j) iff i <= j <= i + 2;
  // global distances y - x are 2 less than the call's j - i.
  EXPECT_EQ(c, (Call{0, 2, 6, 2, 0, 2, -2}));
  // Queries 0..7 against keys 16..23: nothing.
  EXPECT_FALSE(block_call(band, 0, {0, 0, 8}, {16, 0, 8}, &c));
  // The same chunk: a band along the diagonal, every row and key.
  ASSERT_TRUE(block_call(band, 0, {0, 0, 8}, {0, 0, 8}, &c));
  EXPECT_EQ(c, (Call{0, 8, 0, 8, 2, 0, 0}));
  // Queries 0..7 against keys 4..11, window 2 back and 1 ahead (not
  // causal): queries 3..7 see keys 4..8 (call rows 3-7, keys 0-4), call
  // row i keys i-3..i.
  ASSERT_TRUE(block_call({-2, 1}, 0, {0, 0, 8}, {4, 0, 8}, &c));
  EXPECT_EQ(c, (Call{3, 5, 0, 5, 3, 0, 1}));
}

// Zig-zag on 2 ranks, chunks of 4: rank 0 holds chunks 0 and 3, rank 1
// chunks 1 and 2. Each off-diagonal step is one fused call.
TEST(MpiBlocks, ZigzagStepsFuseFullPairs) {
  const auto q0 = chunks_of(ATTNRT_MPI_CONTEXT_ZIGZAG, 0, 2, 8), q1 = chunks_of(ATTNRT_MPI_CONTEXT_ZIGZAG, 1, 2, 8);
  ASSERT_EQ(q0.size(), 2u);
  EXPECT_EQ(q0[1].global, 12);
  // Rank 0 with rank 1's keys: its chunk 3 sees chunks 1 and 2 in full.
  EXPECT_EQ(plan_step(kCausal, 0, q0, q1), (std::vector<Call>{{4, 4, 0, 8, -1, -1, 0}}));
  // Rank 1 with rank 0's keys: both its chunks see chunk 0, neither chunk 3.
  EXPECT_EQ(plan_step(kCausal, 0, q1, q0), (std::vector<Call>{{0, 8, 0, 4, -1, -1, 0}}));
  // Its own keys: two diagonals and one full pair.
  EXPECT_EQ(plan_step(kCausal, 0, q0, q0),
            (std::vector<Call>{{0, 4, 0, 4, -1, 0, 0}, {4, 4, 0, 4, -1, -1, -12}, {4, 4, 4, 4, -1, 0, 0}}));
  // Not causal: everything in one call.
  EXPECT_EQ(plan_step(kAll, 0, q0, q1), (std::vector<Call>{{0, 8, 0, 8, -1, -1, 0}}));
  // Unfused (ALiBi): a call per pair, each with its own offset.
  EXPECT_EQ(plan_step(kAll, 0, q0, q1, false),
            (std::vector<Call>{{0, 4, 0, 4, -1, -1, 4}, {0, 4, 4, 4, -1, -1, 8}, {4, 4, 0, 4, -1, -1, -8}, {4, 4, 4, 4, -1, -1, -4}}));
}

// A few rows against many keys: the calls say their band bottom-right, so
// ALiBi's local bias (and the core's LSE) stays near 0 rather than near
// slope x keys.
TEST(MpiBlocks, FewRowsAgainstManyKeysAreBottomRight) {
  const std::vector<Chunk> rows{{0, 0, 2}};
  // Not causal, 2 rows of 1024 keys (shift 1022): the whole block.
  EXPECT_EQ(plan_step(kAll, 1022, rows, {{0, 0, 1024}}, false), (std::vector<Call>{{0, 2, 0, 1024, -1, -1, 0, true}}));
  // Causal, 8 keys (shift 6): the diagonal at the last key, as in the core.
  EXPECT_EQ(plan_step(kCausal, 6, rows, {{0, 0, 8}}, false), (std::vector<Call>{{0, 2, 0, 8, -1, 0, 0, true}}));
  // Keys trimmed to those seen (shift 3: keys 0-4).
  EXPECT_EQ(plan_step(kCausal, 3, rows, {{0, 0, 8}}, false), (std::vector<Call>{{0, 2, 0, 5, -1, 0, 0, true}}));
  // A window one key ahead: keys 0-2 seen, the diagonal at key 1.
  EXPECT_EQ(plan_step({-Visible::kUnbounded, 1}, 0, rows, {{0, 0, 8}}, false),
            (std::vector<Call>{{0, 2, 0, 3, -1, 0, 1, true}}));
  // More rows than keys: top-left.
  EXPECT_EQ(plan_step(kAll, 0, {{0, 0, 8}}, {{0, 0, 4}}, false), (std::vector<Call>{{0, 8, 0, 4, -1, -1, 0}}));
}

// Which (global query, global key) pairs a step's calls see, each with the
// global distance its call's offset gives (the core's: j - i - diag, plus
// offset); a pair seen twice counts twice.
std::multiset<std::tuple<std::int64_t, std::int64_t, std::int64_t>> pairs_seen(const std::vector<Call>& calls,
                                                                             const Chunk& q, const Chunk& k) {
  std::multiset<std::tuple<std::int64_t, std::int64_t, std::int64_t>> seen;
  for (const Call& c : calls) {
    const std::int64_t diag = c.bottom_right ? c.k_len - c.q_len : 0;
    for (std::int64_t i = 0; i < c.q_len; ++i)
      for (std::int64_t j = 0; j < c.k_len; ++j) {
        const bool left = c.window_left < 0 || j >= i + diag - c.window_left;
        const bool right = c.window_right < 0 || j <= i + diag + c.window_right;
        if (left && right)
          seen.insert({q.global + c.q0 + i - q.local, k.global + c.k0 + j - k.local, j - i - diag + c.offset});
      }
  }
  return seen;
}

// Paged K/V: every call starts on a page and sees what the step's calls
// saw, each pair once, at the same global distance (ALiBi's bias), over
// random bands, alignments, rows and page sizes (1 key to more than the
// chunk).
TEST(MpiBlocks, PagedCallsStartOnPagesAndSeeTheSameKeys) {
  std::mt19937 rng(11);
  const auto pick = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  int widened = 0;
  for (int n = 0; n < 4000; ++n) {
    Visible band;
    if (pick(0, 2)) band.lo = -pick(0, 40);
    if (pick(0, 2)) band.hi = pick(0, 20);
    if (pick(0, 1)) band.hi = std::min<std::int64_t>(band.hi, 0);  // causal
    const Chunk q{0, 0, pick(1, 24)}, k{pick(0, 3) * 16, 0, pick(1, 64)};
    const std::int64_t shift = pick(0, 1) ? pick(0, 80) - 20 : 0, page = pick(1, 20);
    const std::vector<Call> calls = plan_step(band, shift, {q}, {k}, pick(0, 1) == 1);
    std::vector<Call> paged;
    ASSERT_NO_THROW(paged = page_aligned(calls, page));
    for (const Call& c : paged) ASSERT_EQ(c.k0 % page, 0) << ::testing::PrintToString(c);
    ASSERT_EQ(pairs_seen(paged, q, k), pairs_seen(calls, q, k))
        << "page " << page << " shift " << shift << " band " << band.lo << ".." << band.hi << " rows " << q.len << " keys "
        << k.len << ": " << ::testing::PrintToString(calls) << " -> " << ::testing::PrintToString(paged);
    widened += paged != calls;
  }
  EXPECT_GT(widened, 100);  // (182 of these draws start mid-page)
}

TEST(MpiPlacement, LocalRanksSplitTheDomains) {
  char buf[16];
  const char* a64fx4[] = {"0", "1", "2", "3"};
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(attnrt_mpi_local_domains(4, r, 4, buf, sizeof buf), 1);
    EXPECT_STREQ(buf, a64fx4[r]);
  }
  EXPECT_EQ(attnrt_mpi_local_domains(4, 1, 2, buf, sizeof buf), 1);
  EXPECT_STREQ(buf, "2-3");
  EXPECT_EQ(attnrt_mpi_local_domains(4, 2, 3, buf, sizeof buf), 1);
  EXPECT_STREQ(buf, "2-3");
  EXPECT_EQ(attnrt_mpi_local_domains(4, 5, 8, buf, sizeof buf), 2);  // 8 ranks: two per CMG
  EXPECT_STREQ(buf, "2");
  EXPECT_EQ(attnrt_mpi_local_domains(1, 1, 2, buf, sizeof buf), 2);  // this box: one domain
  EXPECT_STREQ(buf, "0");
  EXPECT_EQ(attnrt_mpi_local_domains(4, 4, 4, buf, sizeof buf), 0);  // bad rank
  EXPECT_EQ(attnrt_mpi_local_domains(0, 0, 1, buf, sizeof buf), 0);
  EXPECT_EQ(attnrt_mpi_local_domains(4, 1, 2, buf, 3), 0);  // "2-3" needs 4 bytes
}

}  // namespace
}  // namespace attnrt::mpi
