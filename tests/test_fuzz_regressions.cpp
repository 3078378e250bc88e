// Cases attnrt-fuzz found failing, replayed by (seed, index) through the
// fuzzer's own generator and checker, and a fixed smoke range of seed 1 so
// ctest exercises the generator on every build.
#include <gtest/gtest.h>

#include <cstdint>

#include "tests/fuzz/fuzz_case.hpp"
#include "tests/fuzz/fuzz_runner.hpp"

namespace attnrt::fuzz {
namespace {

// One runner for the suite: its runtimes are made once.
Runner& runner() {
  static Runner r;
  return r;
}

void expect_passes(std::uint64_t seed, std::uint64_t index) {
  const Case c = make_case(seed, index);
  const Outcome out = runner().run(c);
  EXPECT_TRUE(out.passed) << "seed " << seed << " case " << index << ": " << describe(c) << "\n" << out.message;
}

TEST(FuzzRegressions, SmokeFirst200CasesOfSeed1) {
  for (std::uint64_t i = 0; i < 200; ++i) expect_passes(1, i);
}

}  // namespace
}  // namespace attnrt::fuzz
