// The ring step's calls and the placement rule: pure functions, no MPI run.
#include <attnrt/attnrt_mpi.h>
#include <gtest/gtest.h>

#include <string>

#include "mpi/src/blocks.hpp"

namespace attnrt::mpi {

void PrintTo(const Call& c, std::ostream* os) {
  *os << "{q " << c.q0 << "+" << c.q_len << ", k " << c.k0 << "+" << c.k_len << ", wr " << c.window_right << "}";
}

namespace {

TEST(MpiBlocks, CausalPairsAreFullDiagonalCutOrSkipped) {
  Call c;
  ASSERT_TRUE(block_call(false, 0, {0, 0, 8}, {100, 0, 8}, &c));  // not causal: all
  EXPECT_EQ(c, (Call{0, 8, 0, 8, -1}));
  ASSERT_TRUE(block_call(true, 0, {16, 0, 8}, {8, 0, 8}, &c));  // keys before the queries
  EXPECT_EQ(c, (Call{0, 8, 0, 8, -1}));
  ASSERT_TRUE(block_call(true, 0, {8, 4, 8}, {8, 2, 8}, &c));  // the diagonal
  EXPECT_EQ(c, (Call{4, 8, 2, 8, 0}));
  EXPECT_FALSE(block_call(true, 0, {0, 0, 8}, {8, 0, 8}, &c));  // keys after every query
  // 8 queries from 0 against 4 keys from 3: rows 0-2 see none, row 3 sees key 0.
  ASSERT_TRUE(block_call(true, 0, {0, 0, 8}, {3, 0, 4}, &c));
  EXPECT_EQ(c, (Call{3, 5, 0, 4, 0}));
  // Bottom-right shift 5 (N - M): query 0 sees keys up to 5 of 0..7.
  ASSERT_TRUE(block_call(true, 5, {0, 0, 4}, {0, 0, 8}, &c));
  EXPECT_EQ(c, (Call{0, 4, 0, 8, 5}));
}

// Zig-zag on 2 ranks, chunks of 4: rank 0 holds chunks 0 and 3, rank 1
// chunks 1 and 2. Each off-diagonal step is one fused call.
TEST(MpiBlocks, ZigzagStepsFuseFullPairs) {
  const auto q0 = chunks_of(ATTNRT_MPI_CONTEXT_ZIGZAG, 0, 2, 8), q1 = chunks_of(ATTNRT_MPI_CONTEXT_ZIGZAG, 1, 2, 8);
  ASSERT_EQ(q0.size(), 2u);
  EXPECT_EQ(q0[1].global, 12);
  // Rank 0 with rank 1's keys: its chunk 3 sees chunks 1 and 2 in full.
  EXPECT_EQ(plan_step(true, 0, q0, q1), (std::vector<Call>{{4, 4, 0, 8, -1}}));
  // Rank 1 with rank 0's keys: both its chunks see chunk 0, neither chunk 3.
  EXPECT_EQ(plan_step(true, 0, q1, q0), (std::vector<Call>{{0, 8, 0, 4, -1}}));
  // Its own keys: two diagonals and one full pair.
  EXPECT_EQ(plan_step(true, 0, q0, q0), (std::vector<Call>{{0, 4, 0, 4, 0}, {4, 4, 0, 4, -1}, {4, 4, 4, 4, 0}}));
  // Not causal: everything in one call.
  EXPECT_EQ(plan_step(false, 0, q0, q1), (std::vector<Call>{{0, 8, 0, 8, -1}}));
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
