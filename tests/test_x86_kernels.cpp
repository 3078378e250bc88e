// What is specific to the x86-64 kernel sets: the vector exp2 of each ISA
// on its own (ulp over every 97th float of its range, special values), and
// the direct P·V of no key (kernel_set.hpp asks for kp >= 1). The
// sets' contract is test_kernel_sets.cpp's and test_kernel_paths.cpp's. An
// ISA this CPU cannot run is skipped, never failed; one this build lacks too.
//
// Built a second time into test_avx512_emulated (ATTNRT_AVX512_SIMDE): there
// the avx512 exp2 is this folder's source compiled on a portable emulation of
// the intrinsics (tests/avx512_emulation.hpp), renamed to namespace
// avx512_simde, so it runs on any x86-64 CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/kernel_set.hpp"
#include "kernels/registry.hpp"
#include "runtime/internal/attnrt_internal.hpp"

#ifdef ATTNRT_HAVE_AVX2
#include "kernels/avx2/kernel_set.hpp"
#endif
#if defined(ATTNRT_HAVE_AVX512) || defined(ATTNRT_AVX512_SIMDE)
#include "kernels/avx512/kernel_set.hpp"
#endif

namespace attnrt::test {
namespace {

using kernels::Exp2Precision;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

#ifdef ATTNRT_AVX512_SIMDE
bool cpu_runs(std::uint32_t) { return true; }
#else
bool cpu_runs(std::uint32_t features) { return (features & rt::cpu_features().bits) == features; }
#endif

struct Exp2Case {
  const char* isa;
  std::uint32_t needs;
  void (*fn)(const float*, float*, std::int64_t, Exp2Precision);
};
std::string exp2_name(const ::testing::TestParamInfo<Exp2Case>& info) { return info.param.isa; }
void PrintTo(const Exp2Case& c, std::ostream* os) { *os << c.isa; }  // in gtest and ctest names

class X86Exp2 : public ::testing::TestWithParam<Exp2Case> {
 protected:
  void SetUp() override {
    if (!GetParam().fn) GTEST_SKIP() << GetParam().isa << " is not in this build";
    if (!cpu_runs(GetParam().needs)) GTEST_SKIP() << GetParam().isa << " does not run on this CPU";
  }
};

std::int64_t ulp_distance(float a, float b) {
  // Both non-negative here: ordered like their bit patterns.
  return std::llabs(static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(a)) -
                    static_cast<std::int64_t>(std::bit_cast<std::uint32_t>(b)));
}

TEST_P(X86Exp2, AccurateWithin4UlpOnMinus150To0) {
  // Every 97th float of [-150, 0] (~11.6M), subnormal results included.
  std::vector<float> x;
  const std::uint32_t lo = std::bit_cast<std::uint32_t>(-0.0f),
                      hi = std::bit_cast<std::uint32_t>(-150.0f);
  for (std::uint32_t b = lo; b <= hi; b += 97) x.push_back(std::bit_cast<float>(b));
  x.push_back(-150.0f);
  std::vector<float> y(x.size());
  GetParam().fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), Exp2Precision::accurate);
  std::int64_t worst = 0;
  float at = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t d =
        ulp_distance(y[i], static_cast<float>(std::exp2(static_cast<double>(x[i]))));
    if (d > worst) worst = d, at = x[i];
  }
  EXPECT_LE(worst, 4) << "at x = " << at;
  RecordProperty("max_ulp", static_cast<int>(worst));
}

TEST_P(X86Exp2, FastWithin2e3Relative) {
  std::vector<float> x;
  for (float v = -125.0f; v <= 0.0f; v += 0.001373f) x.push_back(v);
  std::vector<float> y(x.size());
  GetParam().fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), Exp2Precision::fast);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::exp2(static_cast<double>(x[i]));
    worst = std::max(worst, std::fabs(y[i] - want) / want);
  }
  EXPECT_LT(worst, 2e-3);
  EXPECT_GT(worst, 1e-5) << "fast is no cheaper polynomial than accurate";
}

TEST_P(X86Exp2, SpecialValues) {
  for (Exp2Precision prec : {Exp2Precision::accurate, Exp2Precision::fast}) {
    // Odd count: the tail path runs too.
    const std::vector<float> x = {-kInf,   kNaN,   -kNaN, -1e30f,  -151.0f, -150.5f,
                                  -150.0f, 0.0f,   -0.0f, -149.0f, -126.0f, -125.5f,
                                  127.9f,  128.0f, 1e30f, kInf,    -3.0f};
    std::vector<float> y(x.size());
    GetParam().fn(x.data(), y.data(), static_cast<std::int64_t>(x.size()), prec);
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_TRUE(std::isnan(y[1]));
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(y[3], 0.0f);
    EXPECT_EQ(y[4], 0.0f);
    EXPECT_EQ(y[5], 0.0f);
    EXPECT_EQ(y[6], 0.0f);  // 2^-150 is the tie between 0 and 2^-149: even is 0
    EXPECT_EQ(y[7], 1.0f);  // exp2(0) == 1 exactly: the row max weighs exactly 1
    EXPECT_EQ(y[8], 1.0f);
    if (prec == Exp2Precision::accurate) {
      EXPECT_EQ(y[9], std::ldexp(1.0f, -149));
      EXPECT_EQ(y[10], std::ldexp(1.0f, -126));
      EXPECT_LE(ulp_distance(y[11], static_cast<float>(std::exp2(-125.5))), 4);
      EXPECT_LE(ulp_distance(y[12], static_cast<float>(std::exp2(static_cast<double>(127.9f)))),
                4);  // no overflow near 128
      EXPECT_EQ(y[16], 0.125f);
    }
    EXPECT_EQ(y[13], kInf);
    EXPECT_EQ(y[14], kInf);
    EXPECT_EQ(y[15], kInf);
  }
}

// The x86 sets (those SIMDe emulates, in test_avx512_emulated) this CPU runs.
std::vector<const kernels::KernelSet*> x86_sets() {
  std::vector<const kernels::KernelSet*> out;
  for (const kernels::DType t : {kernels::DType::f32, kernels::DType::f16, kernels::DType::bf16}) {
#ifdef ATTNRT_AVX512_SIMDE
    for (const kernels::KernelSet* ks : {set_for(kernels::avx512::kSets, t), set_for(kernels::avx512::kBf16Sets, t)})
#else
    for (const kernels::KernelSet* ks : kernels::kernel_sets(t))
#endif
      if (ks && std::string_view(ks->name).starts_with("avx") && cpu_runs(ks->requires_cpu)) out.push_back(ks);
  }
  return out;
}

// No key: init still means O = 0, in every column of the nv slices, and
// nothing past them; the few-row kernel likewise over all dv columns.
TEST(X86Direct, PvOfNoKeyIsZero) {
  int checked = 0;
  const float p = 0.0f, v = 0.0f;  // read by no kernel: there is no key
  for (const kernels::KernelSet* ks : x86_sets()) {
    for (const kernels::FewRowKernels* f : ks->few_rows)
    for (int dv : {1, 33, 64, 130, 256}) {
      SCOPED_TRACE(std::string(ks->name) + " " + f->name + " dv " + std::to_string(dv));
      const int padded = kernels::round_up(dv, ks->nv), ldo = padded + 5;
      if (f->pv_init) {
        std::vector<float> o(static_cast<std::size_t>(ks->mr) * ldo, kNaN);
        f->pv_init(0, &p, &v, dv, dv, o.data(), ldo, {});
        for (int r = 0; r < ks->mr; ++r)
          for (int c = 0; c < ldo; ++c) {
            if (c < padded) {
              ASSERT_EQ(o[r * ldo + c], 0.0f) << "O[" << r << "][" << c << "]";
            } else {
              ASSERT_TRUE(std::isnan(o[r * ldo + c])) << "wrote O[" << r << "][" << c << "]";
            }
          }
        ++checked;
      }
      for (int rows = 1; rows <= f->pv_rows_max; ++rows) {
        std::vector<float> o(static_cast<std::size_t>(rows) * (dv + 4), kNaN);
        f->pv_rows(rows, 0, &p, &v, dv, dv, o.data(), dv + 4, false, {});
        for (int r = 0; r < rows; ++r)
          for (int c = 0; c < dv + 4; ++c) {
            if (c < dv) {
              ASSERT_EQ(o[r * (dv + 4) + c], 0.0f) << "pv_direct_rows(" << rows << ") O[" << r << "][" << c << "]";
            } else {
              ASSERT_TRUE(std::isnan(o[r * (dv + 4) + c])) << "pv_direct_rows(" << rows << ") wrote O[" << r << "][" << c << "]";
            }
          }
        ++checked;
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no x86 set with the direct path runs here";
}

INSTANTIATE_TEST_SUITE_P(Isas, X86Exp2,
                         ::testing::Values(
#if defined(ATTNRT_AVX512_SIMDE)
                             Exp2Case{"avx512", kernels::kFeatureNone, kernels::avx512::exp2_array}
#else
#ifdef ATTNRT_HAVE_AVX2
                             Exp2Case{"avx2", kernels::kFeatureX86V3, kernels::avx2::exp2_array},
#else
                             Exp2Case{"avx2", kernels::kFeatureX86V3, nullptr},
#endif
#ifdef ATTNRT_HAVE_AVX512
                             Exp2Case{"avx512", kernels::kFeatureAvx512,
                                      kernels::avx512::exp2_array}
#else
                             Exp2Case{"avx512", kernels::kFeatureAvx512, nullptr}
#endif
#endif
                             ),
                         exp2_name);

}  // namespace
}  // namespace attnrt::test
