// The partition: its cost model against brute force and the kernels' mask
// rule, exact coverage of every (batch, head, row) on every test topology,
// split-KV bookkeeping, determinism, domain locality and the balance targets
// on the A64FX topology.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/problem.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::scheduler {
namespace {

std::string data(const char* file) { return std::string(ATTNRT_TEST_DATA) + "/" + file; }

Placement placement(const char* file, int workers = 0) {
  return Placement(Machine::load(data(file)), 0, workers, Bind::core);
}

// A partition with its own storage.
struct Split {
  std::vector<std::byte> state;
  Partition part;
  Split(const ProblemShape& s, const PartitionOptions& o, const Placement& p)
      : state(Partition::state_bytes(p.workers(), o.parts_per_worker)), part(s, o, p, state.data()) {}
};

ProblemShape shape(std::int64_t b, std::int64_t h, std::int64_t hkv, std::int64_t m, std::int64_t n) {
  ProblemShape s{};
  s.batch = b;
  s.heads = h;
  s.kv_heads = hkv;
  s.rows = m;
  s.keys = n;
  return s;
}

ProblemShape causal(ProblemShape s) {
  s.band.right = 0;
  return s;
}

double brute_entries(const ProblemShape& s, std::int64_t b, std::int64_t i0, std::int64_t i1, std::int64_t k0,
                     std::int64_t k1) {
  const std::int64_t n = s.keys_of(b), diag = s.diag_of(b);
  double sum = 0;
  for (std::int64_t i = i0; i < i1; ++i)
    for (std::int64_t j = std::max<std::int64_t>(k0, 0); j < std::min(k1, n); ++j)
      if ((s.band.left < 0 || j >= i + diag - s.band.left) && (s.band.right < 0 || j <= i + diag + s.band.right)) ++sum;
  return sum;
}

TEST(Cost, ClosedFormMatchesBruteForce) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 3000; ++trial) {
    ProblemShape s = shape(1, 1, 1, pick(1, 40), pick(0, 40));
    s.band.left = pick(-1, 12) - (pick(0, 3) == 0 ? 0 : 0);
    s.band.right = pick(-1, 12);
    s.bottom_right = pick(0, 1) == 1;
    const std::int64_t i0 = pick(0, static_cast<int>(s.rows)), i1 = pick(static_cast<int>(i0), static_cast<int>(s.rows));
    const std::int64_t k0 = pick(-3, static_cast<int>(s.keys) + 3), k1 = pick(-3, static_cast<int>(s.keys) + 3);
    ASSERT_EQ(visible_entries(s, 0, i0, i1, k0, k1), brute_entries(s, 0, i0, i1, k0, k1))
        << "m=" << s.rows << " n=" << s.keys << " left=" << s.band.left << " right=" << s.band.right << " br=" << s.bottom_right
        << " rows [" << i0 << "," << i1 << ") keys [" << k0 << "," << k1 << ")";
  }
}

TEST(Cost, AgreesWithTheKernelsMaskRule) {
  // The scheduler restates the band of kernels::HeadProblem; both must agree.
  std::mt19937 rng(11);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 500; ++trial) {
    ProblemShape s = shape(1, 1, 1, pick(1, 50), pick(0, 50));
    s.band.left = pick(-1, 20);
    s.band.right = pick(-1, 20);
    s.bottom_right = pick(0, 1) == 1;
    kernels::HeadProblem p{};
    p.m = static_cast<int>(s.rows);
    p.n = static_cast<int>(s.keys);
    p.diag = s.diag_of(0);
    p.band = s.band;
    for (std::int64_t i = 0; i < s.rows; ++i)
      ASSERT_EQ(visible_entries(s, 0, i, i + 1, 0, s.keys), std::max<std::int64_t>(0, p.key_hi(i) - p.key_lo(i)));
  }
}

TEST(Cost, HugeWindowsAndLengthsStayExact) {
  ProblemShape s = shape(1, 1, 1, 1 << 20, 1 << 20);
  s.band.left = std::int64_t{1} << 62;  // as good as unbounded
  s.band.right = 0;
  const double m = 1 << 20;
  EXPECT_EQ(visible_entries(s, 0, 0, s.rows, 0, s.keys), m * (m + 1) / 2);
}

// Checks that the items of all parts cover every (batch, head, row) exactly
// once: by one complete item over all its keys, or by split-KV pieces of one
// line whose key ranges tile [0, n) in the order for_each_piece gives.
void expect_exact_cover(const ProblemShape& s, const PartitionOptions& o, const Placement& pl) {
  const Split sp(s, o, pl);
  const Partition& part = sp.part;
  ASSERT_GE(part.parts(), 1);
  ASSERT_LE(part.parts(), pl.workers() * std::max(1, o.parts_per_worker));
  ASSERT_EQ(part.parts() % part.parts_per_worker(), 0);
  const std::int64_t rows = s.batch * s.heads * s.rows;
  std::vector<int> complete(rows, 0);
  struct Piece {
    int slot, line, key_begin, key_end;
  };
  std::vector<std::vector<Piece>> pieces(rows);
  std::vector<int> slot_used(part.slots(), 0);
  double summed = 0;
  for (int p = 0; p < part.parts() + 3; ++p) {  // parts past the last have no items
    double part_cost = 0;
    part.for_each_item(p, [&](const WorkItem& w) {
      ASSERT_GE(w.heads, 1);
      ASSERT_LT(w.row_begin, w.row_end);
      ASSERT_LE(w.row_end, s.rows_of(w.batch));
      ASSERT_LE(0, w.key_begin);
      ASSERT_LE(w.key_end, s.keys_of(w.batch));
      for (int h = w.head; h < w.head + w.heads; ++h) {
        part_cost += visible_entries(s, w.batch, w.row_begin, w.row_end, w.key_begin, w.key_end);
        for (int r = w.row_begin; r < w.row_end; ++r) {
          const std::int64_t at = (static_cast<std::int64_t>(w.batch) * s.heads + h) * s.rows + r;
          if (w.piece < 0) {
            ASSERT_EQ(w.key_begin, 0);
            ASSERT_EQ(w.key_end, s.keys_of(w.batch));
            ++complete[at];
          } else {
            pieces[at].push_back({w.piece, w.line, w.key_begin, w.key_end});
          }
        }
      }
      if (w.piece >= 0) {
        ASSERT_LT(w.piece, part.slots());
        ASSERT_TRUE(w.piece == 2 * p || w.piece == 2 * p + 1) << "a part uses only its own slots";
        ASSERT_EQ(slot_used[w.piece]++, 0) << "slot " << w.piece << " used twice";
        ASSERT_LE((w.row_end - w.row_begin) * w.heads, part.rows_per_piece());
      }
    });
    if (::testing::Test::HasFatalFailure()) return;
    EXPECT_NEAR(part_cost, part.cost(p), 1e-9 * (1 + part_cost)) << "part " << p;
    summed += part_cost;
  }
  EXPECT_NEAR(summed, part.total_cost(), 1e-9 * (1 + summed));

  std::map<int, int> line_pieces;
  part.for_each_split_line([&](int line, int n) { line_pieces[line] = n; });
  for (std::int64_t at = 0; at < rows; ++at) {
    const auto& ps = pieces[at];
    if (at % s.rows >= s.rows_of(at / (s.heads * s.rows))) {  // past a varlen sequence's rows
      ASSERT_EQ(complete[at], 0);
      ASSERT_TRUE(ps.empty());
      continue;
    }
    if (ps.empty()) {
      ASSERT_EQ(complete[at], 1) << "row " << at << " covered " << complete[at] << " times";
      continue;
    }
    ASSERT_EQ(complete[at], 0) << "row " << at << " is both complete and split";
    ASSERT_GE(ps.size(), 2u);
    const int line = ps[0].line;
    for (const Piece& p : ps) ASSERT_EQ(p.line, line);
    ASSERT_EQ(line_pieces.count(line), 1u);
    ASSERT_EQ(line_pieces[line], static_cast<int>(ps.size()));
    // for_each_piece lists exactly these slots, in key order, tiling [0, n).
    std::vector<Piece> listed;
    part.for_each_piece(line, [&](int slot, int kb, int ke) { listed.push_back({slot, line, kb, ke}); });
    ASSERT_EQ(listed.size(), ps.size());
    const std::int64_t n = s.keys_of(at / (s.heads * s.rows));
    int key = 0;
    for (const Piece& l : listed) {
      ASSERT_EQ(l.key_begin, key);
      ASSERT_LT(l.key_begin, l.key_end);
      key = l.key_end;
      const auto it = std::find_if(ps.begin(), ps.end(), [&](const Piece& p) { return p.slot == l.slot; });
      ASSERT_NE(it, ps.end());
      ASSERT_EQ(it->key_begin, l.key_begin);
      ASSERT_EQ(it->key_end, l.key_end);
    }
    ASSERT_EQ(key, n);
  }
}

const char* kTopologies[] = {"a64fx.xml", "x86-2socket.xml", "uneven-12-12-12-8.xml", "laptop.xml"};

TEST(Partition, CoversEveryRowExactlyOnceOnEveryTopology) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  std::vector<ProblemShape> shapes = {
      shape(1, 1, 1, 1, 1),        shape(1, 1, 1, 1, 4096),      shape(2, 8, 2, 1, 4096),
      shape(1, 2, 2, 7, 33),       shape(3, 4, 4, 257, 257),     shape(1, 8, 1, 512, 512),
      shape(4, 32, 8, 1, 333),     shape(1, 3, 3, 2048, 2048),   shape(2, 6, 3, 33, 7),
      shape(64, 1, 1, 64, 64),     shape(1, 48, 48, 100, 100),   shape(1, 1, 1, 4096, 16),
      causal(shape(1, 1, 1, 512, 512)), causal(shape(2, 4, 2, 300, 1000)), causal(shape(1, 2, 1, 1000, 300)),
  };
  ProblemShape windowed = shape(2, 4, 4, 200, 200);
  windowed.band.left = 17;
  windowed.band.right = 5;
  shapes.push_back(windowed);
  ProblemShape top_left = causal(shape(1, 2, 2, 300, 100));
  top_left.bottom_right = false;  // rows past the keys still see some; rows see [0, i]
  shapes.push_back(top_left);
  ProblemShape masked = shape(1, 2, 2, 64, 64);
  masked.band.left = 0;
  masked.band.right = 0;
  masked.bottom_right = false;
  shapes.push_back(masked);
  const std::int64_t lens[] = {0, 5, 4096, 1, 100, 2048, 17, 4096};
  ProblemShape ragged = shape(8, 4, 2, 1, 4096);
  ragged.kv_lens = lens;
  shapes.push_back(ragged);
  ProblemShape ragged_causal = causal(shape(8, 2, 2, 50, 4096));
  ragged_causal.kv_lens = lens;
  shapes.push_back(ragged_causal);

  for (const char* topo : kTopologies)
    for (int workers : {0, 1, 5}) {
      const Placement pl = placement(topo, workers);
      for (const ProblemShape& s : shapes)
        for (int line : {1, 16, 64})
          for (bool stack : {false, true}) {
            PartitionOptions o;
            o.parts_per_worker = 1 + (line + stack) % 3;
            o.rows_per_line = line;
            o.key_quantum = 16;
            o.stack_group = stack;
            SCOPED_TRACE(std::string(topo) + " workers " + std::to_string(pl.workers()) + " B" +
                         std::to_string(s.batch) + " H" + std::to_string(s.heads) + "/" + std::to_string(s.kv_heads) +
                         " M" + std::to_string(s.rows) + " N" + std::to_string(s.keys) + " line " +
                         std::to_string(line) + (stack ? " stacked" : ""));
            expect_exact_cover(s, o, pl);
            if (HasFatalFailure()) return;
          }
    }
}

// Options drawn at random; a stacked line is a whole unit, as the runtime makes it.
template <class Pick>
PartitionOptions random_options(Pick& pick, const ProblemShape& s) {
  PartitionOptions o;
  o.rows_per_line = pick(1, 80);
  o.key_quantum = pick(1, 32);
  o.stack_group = pick(0, 1);
  if (o.stack_group && s.cu_rows) o.rows_per_line = static_cast<int>(s.rows);
  o.min_part_cost = pick(1, 200);
  o.parts_per_worker = pick(1, 4);
  return o;
}

TEST(Partition, RandomShapesCoverExactly) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  std::mt19937 rng(3);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Placement pls[] = {placement("a64fx.xml"), placement("uneven-12-12-12-8.xml"), placement("laptop.xml", 3)};
  for (int trial = 0; trial < 300; ++trial) {
    const int hkv = pick(1, 4);
    ProblemShape s = shape(pick(1, 4), hkv * pick(1, 3), hkv, pick(1, 300), pick(0, 700));
    if (pick(0, 1)) s.band.right = pick(0, 3) == 0 ? pick(0, 40) : 0;
    if (pick(0, 2) == 0) s.band.left = pick(0, 100);
    s.bottom_right = pick(0, 3) != 0;
    SCOPED_TRACE("trial " + std::to_string(trial));
    expect_exact_cover(s, random_options(pick, s), pls[trial % 3]);
    if (HasFatalFailure()) return;
  }
}

// Packed sequences of different lengths (varlen), some of no rows or keys.
TEST(Partition, RandomVarlenShapesCoverExactly) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  std::mt19937 rng(5);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Placement pls[] = {placement("a64fx.xml"), placement("uneven-12-12-12-8.xml"), placement("laptop.xml", 3)};
  for (int trial = 0; trial < 300; ++trial) {
    const int seqs = pick(1, 6), hkv = pick(1, 3);
    std::vector<std::int32_t> cu_q{0}, cu_k{0};
    for (int b = 0; b < seqs; ++b) {
      cu_q.push_back(cu_q.back() + (pick(0, 4) == 0 ? 0 : pick(1, 300)));
      cu_k.push_back(cu_k.back() + (pick(0, 4) == 0 ? 0 : pick(1, 700)));
    }
    ProblemShape s = shape(seqs, hkv * pick(1, 3), hkv, 1, 0);
    for (int b = 0; b < seqs; ++b) {
      s.rows = std::max<std::int64_t>(s.rows, cu_q[b + 1] - cu_q[b]);
      s.keys = std::max<std::int64_t>(s.keys, cu_k[b + 1] - cu_k[b]);
    }
    s.cu_rows = cu_q.data();
    s.cu_keys = cu_k.data();
    if (pick(0, 1)) s.band.right = 0;
    if (pick(0, 2) == 0) s.band.left = pick(0, 100);
    s.bottom_right = pick(0, 3) != 0;
    SCOPED_TRACE("trial " + std::to_string(trial));
    expect_exact_cover(s, random_options(pick, s), pls[trial % 3]);
    if (HasFatalFailure()) return;
  }
}

// The varlen prefill, causal: the parts are cut by work, not by
// sequence, so the longest sequence does not set the time.
TEST(Partition, BalancesVarlenSequencesByWork) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const std::int32_t cu[] = {0, 17, 317, 1317, 3365};
  ProblemShape s = causal(shape(4, 8, 8, 2048, 2048));
  s.cu_rows = s.cu_keys = cu;
  for (int workers : {2, 48}) {
    const Placement pl = placement("a64fx.xml", workers);
    PartitionOptions o;
    o.rows_per_line = 64;
    const Split sp(s, o, pl);
    EXPECT_LE(sp.part.balance(), 1.05) << workers << " workers";
  }
}

// A split costs its line's partial rows, which on a prefill line of a
// thousand rows is a few percent of the call: between two parts of one
// worker, where balance does not suffer, the boundary goes to a line start.
TEST(Partition, SplitsNoPrefillLineBetweenOneWorkersParts) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const std::int32_t cu[] = {0, 17, 317, 1317, 3365};
  ProblemShape s = causal(shape(4, 8, 8, 2048, 2048));
  s.cu_rows = s.cu_keys = cu;
  const Placement pl = placement("laptop.xml", 2);  // one domain: two parts a worker
  PartitionOptions o;
  o.rows_per_line = 1024;
  const Split sp(s, o, pl);
  ASSERT_EQ(sp.part.parts(), 4);
  ASSERT_EQ(sp.part.parts_per_worker(), 2);
  for (int c : {1, 3}) EXPECT_EQ(sp.part.cut(c).key, 0) << "cut " << c << " splits a line";
  EXPECT_LE(sp.part.balance(), 1.01);
}

TEST(Partition, IsDeterministic) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("a64fx.xml");
  const ProblemShape s = causal(shape(3, 12, 4, 777, 3001));
  const Split a(s, {}, pl), b(s, {}, pl);
  ASSERT_EQ(a.part.parts(), b.part.parts());
  for (int i = 0; i <= a.part.parts(); ++i) {
    EXPECT_EQ(a.part.cut(i).unit, b.part.cut(i).unit);
    EXPECT_EQ(a.part.cut(i).line, b.part.cut(i).line);
    EXPECT_EQ(a.part.cut(i).key, b.part.cut(i).key);
    EXPECT_EQ(a.part.cut(i).before, b.part.cut(i).before);
  }
}

// The domains whose parts read (batch, kv head) group g.
std::map<std::int64_t, std::vector<int>> domains_of_groups(const ProblemShape& s, const Partition& part,
                                                            const Placement& pl) {
  std::map<std::int64_t, std::vector<int>> out;
  for (int p = 0; p < part.parts(); ++p)
    part.for_each_item(p, [&](const WorkItem& w) {
      const std::int64_t g = w.batch * s.kv_heads + w.head / (s.heads / s.kv_heads);
      auto& ds = out[g];
      const int d = pl.domain_of(p / part.parts_per_worker());
      if (std::find(ds.begin(), ds.end(), d) == ds.end()) ds.push_back(d);
    });
  return out;
}

TEST(Partition, KeepsEachKvHeadInOneDomainWhenGroupsDivideEvenly) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("a64fx.xml");
  for (std::int64_t groups : {4, 8, 48, 64}) {
    const ProblemShape s = shape(1, 4 * groups, groups, 2048, 2048);  // GQA, 4 query heads per KV head
    const Split sp(s, {}, pl);
    for (const auto& [g, ds] : domains_of_groups(s, sp.part, pl))
      EXPECT_EQ(ds.size(), 1u) << groups << " groups: group " << g << " is read by " << ds.size() << " domains";
  }
}

TEST(Partition, SplitsRowsAcrossDomainsWhenGroupsAreFewerThanDomains) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("a64fx.xml");
  const ProblemShape s = shape(1, 1, 1, 4096, 4096);
  const Split sp(s, {}, pl);
  EXPECT_EQ(sp.part.parts(), 48 * sp.part.parts_per_worker());
  EXPECT_EQ(domains_of_groups(s, sp.part, pl)[0].size(), 4u);
}

TEST(Partition, SplitsDecodeKeysAcrossCores) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("a64fx.xml");
  const ProblemShape s = shape(1, 1, 1, 1, 4096);
  const Split sp(s, {}, pl);
  EXPECT_EQ(sp.part.parts(), 48);
  int lines = 0, pieces = 0;
  sp.part.for_each_split_line([&](int, int n) { ++lines, pieces = n; });
  EXPECT_EQ(lines, 1);
  EXPECT_EQ(pieces, 48);
  EXPECT_LE(sp.part.balance(), 1.05);
}

// Alone in its domain a worker runs all its parts itself, so it gets one:
// an odd number of lines would otherwise put a part boundary inside a line
// and pay a split-KV merge for nothing.
TEST(Partition, GivesOnePartToAWorkerAloneInItsDomain) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  PartitionOptions o;
  o.rows_per_line = 12;
  for (int lines : {1, 3, 5}) {
    const Split one(shape(1, lines, lines, 12, 4096), o, placement("laptop.xml", 1));
    EXPECT_EQ(one.part.parts(), 1) << lines << " lines";
    int splits = 0;
    one.part.for_each_split_line([&](int, int) { ++splits; });
    EXPECT_EQ(splits, 0) << lines << " lines";
  }
  // Two workers of one domain still get parts_per_worker each.
  const Split two(shape(1, 3, 3, 12, 4096), o, placement("laptop.xml", 2));
  EXPECT_EQ(two.part.parts_per_worker(), o.parts_per_worker);
}

TEST(Partition, UsesFewerWorkersForLittleWork) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("a64fx.xml");
  PartitionOptions o;
  o.min_part_cost = 1000;
  const Split sp(shape(1, 1, 1, 10, 300), o, pl);  // 3000 entries
  EXPECT_EQ(sp.part.parts(), 3);
  const Split none(shape(1, 1, 1, 10, 0), o, pl);  // no keys: one part writes the zeros
  EXPECT_EQ(none.part.parts(), 1);
  EXPECT_EQ(none.part.balance(), 1.0);
}

TEST(Partition, BalancesCausalByWorkNotRows) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("laptop.xml", 2);
  const Split sp(causal(shape(1, 1, 1, 4096, 4096)), {}, pl);
  // Equal work means the first worker takes more rows than the second.
  int rows0 = 0;
  for (int p = 0; p < sp.part.parts_per_worker(); ++p)
    sp.part.for_each_item(p, [&](const WorkItem& w) { rows0 += w.piece < 0 ? w.row_end - w.row_begin : 0; });
  EXPECT_GT(rows0, 2600);  // sqrt(1/2) of 4096 = 2896
  EXPECT_LE(sp.part.balance(), 1.01);
}

// The targets: balance <= 1.05 on the A64FX topology. Prints the table.
TEST(Partition, MeetsBalanceTargetsOnA64fx) {
  if (!Machine::can_load()) GTEST_SKIP() << "this build has no hwloc to read topology files";
  const Placement pl = placement("a64fx.xml");
  std::printf("%-8s %-22s %8s %8s %8s\n", "B*Hkv", "shape", "parts", "splits", "balance");
  double worst = 0;
  for (std::int64_t g : {1, 2, 3, 4, 48, 64}) {
    std::vector<std::pair<std::string, ProblemShape>> shapes;
    for (std::int64_t mn : {512, 2048, 4096}) {
      shapes.push_back({"M=N=" + std::to_string(mn), shape(1, g, g, mn, mn)});
      shapes.push_back({"M=N=" + std::to_string(mn) + " causal", causal(shape(1, g, g, mn, mn))});
    }
    shapes.push_back({"decode M=1 N=4096", shape(1, g, g, 1, 4096)});
    shapes.push_back({"GQA8 M=N=2048 causal", causal(shape(1, 8 * g, g, 2048, 2048))});
    for (const auto& [name, s] : shapes) {
      const Split sp(s, {}, pl);
      int splits = 0;
      sp.part.for_each_split_line([&](int, int) { ++splits; });
      std::printf("%-8lld %-22s %8d %8d %8.4f\n", static_cast<long long>(g), name.c_str(), sp.part.parts(), splits,
                  sp.part.balance());
      EXPECT_LE(sp.part.balance(), 1.05) << "B*Hkv=" << g << " " << name;
      worst = std::max(worst, sp.part.balance());
    }
  }
  std::printf("worst %.4f\n", worst);
}

}  // namespace
}  // namespace attnrt::scheduler
