// Cases attnrt-fuzz found failing, replayed by (seed, index) through the
// fuzzer's own generator and checker, and a fixed smoke range of seed 1 so
// ctest exercises the generator on every build.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "tests/fuzz/fuzz_case.hpp"
#include "tests/fuzz/fuzz_runner.hpp"
#include "tests/fuzz/guarded_view.hpp"
#include "tests/tensors.hpp"

namespace attnrt::fuzz {
namespace {

// One runner for the suite: its runtimes are made once.
Runner& runner() {
  static Runner r;
  return r;
}

// Finds of the dense generation replay with it (fuzz_case.hpp, Generation).
void expect_passes(std::uint64_t seed, std::uint64_t index, int generation = kDenseGeneration) {
  const Case c = make_case(seed, index, generation);
  const Outcome out = runner().run(c);
  EXPECT_TRUE(out.passed) << "seed " << seed << " case " << index << ": " << describe(c) << "\n" << out.message;
}

TEST(FuzzRegressions, SmokeFirst200CasesOfSeed1) {
  for (std::uint64_t i = 0; i < 200; ++i) expect_passes(1, i, kLatestGeneration);
}

// Cases from two threads at once over the runner's shared runtimes, as a
// server's threads call (attnrt-fuzz --callers): each still right.
TEST(FuzzRegressions, TwoCallersShareRuntimes) {
  std::thread other([] {
    for (std::uint64_t i = 1; i < 120; i += 2) expect_passes(2, i, kLatestGeneration);
  });
  for (std::uint64_t i = 0; i < 120; i += 2) expect_passes(2, i, kLatestGeneration);
  other.join();
}

// The first case of seed 5 of each serving breakage and of each kind of
// serving input (and of their combination), whatever the smoke range drew.
TEST(FuzzRegressions, EachServingKindOnce) {
  std::set<std::string> seen;
  const std::size_t kinds = static_cast<std::size_t>(Breakage::count) - static_cast<std::size_t>(kLastDenseBreakage) - 1 + 10;
  for (std::uint64_t i = 0; i < 100000 && seen.size() < kinds; ++i) {
    const Case c = make_case(5, i);
    std::string kind = breakage_name(c.breakage);
    if (c.breakage <= kLastDenseBreakage) {
      if (c.written) kind = std::string("written/") + writer_name(c.writer);  // a cache stored by each writer
      else if (c.varlen && c.paged && c.quantized()) kind = "varlen+paged+quantized";
      else if (c.varlen && !c.paged && !c.quantized()) kind = "varlen";
      else if (c.paged && !c.varlen && !c.quantized()) kind = "paged";
      else if (c.quantized() && !c.varlen && !c.paged) kind = test::dtype_name(c.kv_dtype);
      else continue;
    }
    if (seen.insert(kind).second) expect_passes(5, i, kLatestGeneration);
  }
  EXPECT_EQ(seen.size(), kinds);
}

// The first valid case of seed 5 under each of the caller's rounding and
// flush modes: the bits the same call gives from the default environment.
TEST(FuzzRegressions, EachCallerModeOnce) {
  std::set<std::pair<int, bool>> seen;
  for (std::uint64_t i = 0; i < 100000 && seen.size() < 8; ++i) {
    const Case c = make_case(5, i);
    if (c.breakage == Breakage::none && seen.insert({c.caller_fp.rounding, c.caller_fp.flush}).second)
      expect_passes(5, i, kLatestGeneration);
  }
  EXPECT_EQ(seen.size(), 8u);
}

// Serving inputs (issue 20) came as a generation of their own: a pair the
// dense generation found still names its case, as its generator printed it
// (these lines are attnrt-fuzz --replay output of the commit before).
TEST(FuzzRegressions, DenseGenerationPairsNameTheirOldCases) {
  const std::pair<std::pair<std::uint64_t, std::uint64_t>, const char*> old[] = {
      {{42, 921},
       "bf16 B3 H12/3 M5 N36 D4 Dv4 q[240,4,48] k[432,4,12] v[432,144,4] o[240,20,4] causal top_left "
       "window=-1,9223372036854775806 softcap=1.2322 alibi=-0.26949,0.248796,-0.28744,-0.190854,0.374203,0.124627,"
       "0.908871,0.205283,0.209044,0.046335,0.694234,0.00197181 lse[60,5,1] accurate two_pass set=avx512_bf16 "
       "threads=1 tbb api=cpp hidden_nonfinite"},
      {{77, 2213},
       "f32 B3 H3/1 M1 N1735 D63 Dv63 q[198,63,191] k[67,353944,204] v[109305,109305,63] o[68,211,68] top_left "
       "window=-1,1557 alibi=-0.155364,0.62724,0.311569 scale=-0.195158 accurate online set=generic threads=1 openmp "
       "api=cpp"},
      {{99, 5468},
       "f32 B1 H2/2 M1350 N3 D64 Dv64 q[66,68,141] k[384,0,64] v[384,64,128] o[172800,86400,64] causal top_left "
       "window=-1,2 alibi=0.845141,0.733886 sinks=6.34086,6.37582 scale=0.0108543 lse[2700,1350,1] accurate "
       "three_pass set=avx2 threads=1 tbb api=cpp"},
  };
  // The kernel set is drawn among those this CPU runs: compared without it.
  auto without_set = [](std::string s) {
    const std::size_t at = s.find(" set=");
    return s.erase(at, s.find(' ', at + 1) - at);
  };
  for (const auto& [pair, text] : old) {
    const Case c = make_case(pair.first, pair.second, kDenseGeneration);
    EXPECT_EQ(without_set(describe(c)), without_set(text)) << pair.first << ":" << pair.second;
    EXPECT_FALSE(c.serving());
  }
  // The latest generation draws the same fields first: where its serving
  // inputs stay off, the caller's modes at their default and its runtime
  // on this machine and its own CPU's row, it is the same case.
  for (std::uint64_t i = 0; i < 300; ++i) {
    const Case dense = make_case(3, i, kDenseGeneration), latest = make_case(3, i);
    if (!latest.serving() && latest.breakage == dense.breakage && latest.caller_fp.is_default() &&
        latest.topology.empty() && !latest.long_keys && latest.uarch.empty()) {
      EXPECT_EQ(describe(latest), describe(dense)) << i;
    }
  }
  // So do the mixed generation's pairs where the written one writes no
  // cache, and the written generation's where the latest leaves the
  // caller's modes at their default, its runtime on this machine and row (and
  // writes no cache: it names its writer).
  int same = 0, same_latest = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const Case mixed = make_case(3, i, kMixedGeneration), written = make_case(3, i, kWrittenGeneration),
               latest = make_case(3, i);
    if (!written.written) {
      EXPECT_EQ(describe(written), describe(mixed)) << i;
      ++same;
    }
    if (!latest.written && latest.caller_fp.is_default() && latest.topology.empty() && !latest.long_keys &&
        latest.uarch.empty()) {
      EXPECT_EQ(describe(latest), describe(written)) << i;
      ++same_latest;
    }
  }
  EXPECT_GT(same, 250);
  EXPECT_GT(same_latest, 60);
  // The long generation draws its rows from a stream of its own: every
  // other case is the placed generation's, bit for bit.
  int long_cases = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    const Case placed = make_case(3, i, kPlacedGeneration), latest = make_case(3, i, kLongGeneration);
    if (latest.long_keys) {
      ++long_cases;
      EXPECT_GT(latest.N, 1024) << i;  // (fit_budget cuts its keys last)
    } else {
      EXPECT_EQ(describe(latest), describe(placed)) << i;
    }
  }
  EXPECT_GT(long_cases, 2);
  EXPECT_LT(long_cases, 30);
  // The tuned generation draws its rows from a stream of its own too: a
  // case differs from the long generation's by its row alone.
  int tuned = 0;
  for (std::uint64_t i = 0; i < 300; ++i) {
    Case latest = make_case(3, i, kTunedGeneration);
    const Case long_rows = make_case(3, i, kLongGeneration);
    if (!latest.uarch.empty()) {
      ++tuned;
      EXPECT_TRUE(latest.api == Api::c || latest.api == Api::cpp) << i;
      latest.uarch.clear();
    }
    EXPECT_EQ(describe(latest), describe(long_rows)) << i;
  }
  EXPECT_LT(tuned, 150);  // (none where no set this CPU runs changes with the row)
}

// Runtimes on other CPUs' rows of the tuning table: the first such cases
// of a seed, whatever else they draw.
TEST(FuzzRegressions, OtherTuningRowsPass) {
  int run = 0;
  for (std::uint64_t i = 0; i < 2000 && run < 40; ++i)
    if (!make_case(6, i).uarch.empty()) {
      expect_passes(6, i, kLatestGeneration);
      ++run;
    }
  if (run == 0) GTEST_SKIP() << "no kernel set this CPU runs takes other few-row kernels on another row";
}

// Rows of thousands of keys, through the banks of their sums: the first
// long cases of a seed, whatever else they draw.
TEST(FuzzRegressions, LongRowsPass) {
  int run = 0;
  for (std::uint64_t i = 0; run < 6; ++i)
    if (make_case(4, i).long_keys) {
      expect_passes(4, i, kLatestGeneration);
      ++run;
    }
}

// A paged call's kv_lens copied into o passed validation (the library then
// read key counts from memory it was writing): found by the mixed
// generation against the validator before o and lse were checked against
// every array the call reads.
TEST(FuzzRegressions, KvLensInsideO_11_326) {
  const Case c = make_case(11, 326, kMixedGeneration);
  ASSERT_EQ(c.breakage, Breakage::array_inside_output) << describe(c);
  ASSERT_TRUE(c.paged) << describe(c);
  expect_passes(11, 326, kMixedGeneration);
}

// The generator once asked for a null runtime on a default-runtime case
// and then for a kernel set named "" (a fuzzer bug, found by the fuzzer).
TEST(FuzzRegressions, NullRuntimeCaseNamesAKernelSet_7_494) {
  const Case c = make_case(7, 494);
  ASSERT_EQ(c.breakage, Breakage::null_runtime) << describe(c);
  EXPECT_FALSE(c.kernel_set.empty());
  expect_passes(7, 494);
}

// bf16 on the avx512_bf16 set, few keys per row. The row sum is taken over
// P rounded to bf16 (softmax_rows_bf16.cpp), so LSE is m + log(sum of
// rounded P): off by up to log(1 + 2^-8) = 3.9e-3 when the roundings agree
// in sign. Row [2, 2, 4] of 42:921 sees 5 keys, each P rounded up
// 2.8e-3..3.3e-3: LSE 1.729450, exact 1.727345, over the 2e-3 the bf16
// LSE tolerance was; tolerances.hpp now states that bound (4e-3).
TEST(FuzzRegressions, Bf16PairsLseWithinTheRoundedPBound_42_921) { expect_passes(42, 921); }
TEST(FuzzRegressions, Bf16PairsLseWithinTheRoundedPBound_20261125_10483) { expect_passes(20261125, 10483); }

// ALiBi over long rows (added to the fuzzer with it). 77:423: LSE near 175,
// 2.003e-5 off, within fp32's rounding of such a score but over the
// absolute 2e-5 (tolerances.hpp's lse_tolerance now scales with |LSE|).
// 77:2213: a non-causal row whose ALiBi term peaks near 1000 at its last
// key: fp32 scores there lost 6e-5, O 2.9e-5 off; scores are now taken
// relative to the row's peak (scores.hpp, alibi_peak_key).
TEST(FuzzRegressions, AlibiLseScalesWithItsMagnitude_77_423) { expect_passes(77, 423); }
TEST(FuzzRegressions, AlibiScoresRelativeToTheirPeak_77_2213) { expect_passes(77, 2213); }
// 99:5468: a sink far above the keys' ALiBi-shifted scores: LSE went
// through (sink - shift) + shift and lost 9e-5; row_total (strip.cpp) now
// meets the two log-sums through their difference only.
TEST(FuzzRegressions, SinkMeetsShiftedKeysWithoutRoundTrip_99_5468) { expect_passes(99, 5468); }
// 99:27603: split-KV pieces of an ALiBi row whose LSE is near -600 merged
// through fp32 LSEs that carried 6e-5 of rounding: O 5e-5 off. Pieces now
// keep LSE without the row's ALiBi peak value, which the merge adds back in
// double (HeadProblem::lse_unshifted).
TEST(FuzzRegressions, AlibiPiecesMergeWithoutTheirPeakValue_99_27603) { expect_passes(99, 27603); }
// 20261201:76074 (mixed generation): the same round trip in split-KV pieces.
// A sink 170-250 above its rows' ALiBi-shifted keys (M788, N2, two threads:
// the rows' keys split) joined the piece that starts at key 0, whose LSE
// leaves the ALiBi peak out: the piece stored sink - shift (~250) in fp32
// and the merge added the shift back, LSE 2.7e-5 off. The merge now joins
// the sink itself, in double (split_kv.hpp, merge_partials).
TEST(FuzzRegressions, SinkJoinsSplitPiecesInTheMerge_20261201_76074) {
  expect_passes(20261201, 76074, kMixedGeneration);
}

// 20261201:20357: an inf in V at a key ALiBi put 733 below its row's max,
// a weight double holds only as a subnormal. The row's pipeline result was
// NaN (0 · inf) and its exact recomputation, on a worker that flushes
// subnormals, dropped the key: O came out finite where the reference has
// -inf. exact_rows.hpp (add_weighted_row) now keeps such a key's inf.
TEST(FuzzRegressions, InfInVAtASubnormalWeightStaysInf_20261201_20357) { expect_passes(20261201, 20357); }
// 20261208:281219 (caller-modes generation, four callers; it fails alone
// too): bf16 M4 N1442, ALiBi slopes near 1, an inf in V 900-odd below its
// row's max, so the reference drops it, but within 745 of the largest score
// of its split-KV piece (the default runtime's two workers split the keys),
// which kept it; the merge weighed the piece and O came out -inf. Rows with
// NaN or inf in a piece are now computed again over all their keys
// (split_kv.hpp, merge_partials). Needs two workers to split.
TEST(FuzzRegressions, InfInVBelowTheRowNotThePiece_20261208_281219) {
  expect_passes(20261208, 281219, kCallerEnvGeneration);
}
// 202612022:73 (placed generation, CI's ASan fuzz stage, its first run):
// a varlen call of two sequences (259 rows with no keys, 276 with one) on
// 8 workers of an A64FX placement, so most parts were empty and ended one
// past the last unit; the K/V sharing's check of whether parts split a
// group asked for that unit's rows and read cu_seqlens_q one past its end
// (a heap overflow under ASan, garbage rows in release). Partition::
// splits_group now reads rows only at cuts inside a line.
TEST(FuzzRegressions, EmptyTrailingPartsReadNoRowsPastTheSequences_202612022_73) {
  expect_passes(202612022, 73, kPlacedGeneration);
}

// Serving generation. 1:839: fp16 q, e4m3 K/V (scale per head), one key
// per row under ALiBi, so LSE (~114.6) is that key's score: 3.1e-4 off the
// reference on fp32 code * scale, over fp16's 1e-4 + |LSE| 2^-20. The
// generic_v3 set stages dequantized rows at q's dtype, which attnrt.h
// allows ("at q's dtype's precision or better"), and the reference on
// rows rounded to fp16 matches it; each row is now held to the nearer of
// the two references (fuzz_runner.cpp, nearer_rows). A fuzzer bug.
TEST(FuzzRegressions, QuantizedKvRowsMayBeUsedAtQsPrecision_1_839) {
  const Case c = make_case(1, 839, kServingGeneration);
  ASSERT_TRUE(c.dtype == ATTNRT_F16 && c.kv_dtype == ATTNRT_F8_E4M3) << describe(c);
  expect_passes(1, 839, kServingGeneration);
}

// The fuzzer's promise about its buffers: the byte after a view's span is
// the first of a page nobody may touch, so a kernel that reads one element
// too far faults on the spot.
TEST(FuzzRegressions, GuardedViewEndsAgainstAnInaccessiblePage) {
  GuardedView t(ATTNRT_F16, {2, 3, 5, 7}, {135, 45, 9}, 0xff);  // rows padded from 7 to 9
  constexpr std::int64_t last = 1 * 135 + 2 * 45 + 4 * 9 + 6;      // element [1, 2, 4, 6]
  const auto* end = static_cast<const volatile unsigned char*>(t.view().data) + (last + 1) * 2;
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(end) % sysconf(_SC_PAGESIZE), 0u);
  EXPECT_EQ(end[-1], 0xff);
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the runtimes of other tests may have started threads
  EXPECT_DEATH((void)end[0], "");
}

// What judges "o was written outside its view": a write to a row's padding
// is seen, a write inside the view is not.
TEST(FuzzRegressions, GuardedViewSeesWritesToItsPaddingOnly) {
  GuardedView t(ATTNRT_F32, {1, 2, 3, 7}, {54, 9, 18}, 0xff);  // heads interleaved, rows padded to 9
  t.snapshot();
  t.set(0, 1, 2, 6, 0.5);
  EXPECT_TRUE(t.padding_intact());
  EXPECT_FALSE(t.unchanged());
  static_cast<float*>(t.view().data)[7] = 0.5f;  // after row [0, 0, 0]
  EXPECT_FALSE(t.padding_intact());
}

}  // namespace
}  // namespace attnrt::fuzz
