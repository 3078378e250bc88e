// The runtime's public queries: the kernel set per dtype
// (attnrt_runtime_kernel_set, attnrt::Runtime::kernel_set), checked against
// the set the runtime really runs (runtime/src/plan_override.hpp) and the
// registry, and attnrt_runtime_isa as the fp32 set.
#include <gtest/gtest.h>

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "kernels/registry.hpp"
#include "runtime/internal/attnrt_internal.hpp"
#include "tests/harness.hpp"

namespace attnrt::test {
namespace {

constexpr attnrt_dtype kDtypes[] = {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16};

struct RuntimeDeleter {
  void operator()(attnrt_runtime* r) const { attnrt_runtime_destroy(r); }
};
using RuntimePtr = std::unique_ptr<attnrt_runtime, RuntimeDeleter>;

// A runtime from the environment, with `isa` forced unless it is null.
RuntimePtr make_runtime(const char* isa) {
  attnrt_config c;
  EXPECT_EQ(attnrt_config_init(&c), ATTNRT_OK) << attnrt_last_error();
  c.num_threads = 1;
  if (isa) c.isa = isa;
  attnrt_runtime* r = nullptr;
  EXPECT_EQ(attnrt_runtime_create(&c, &r), ATTNRT_OK) << attnrt_last_error();
  return RuntimePtr(r);
}

bool registered(const std::string& name, attnrt_dtype t) {
  for (const kernels::KernelSet* ks : kernels::kernel_sets(static_cast<kernels::DType>(t)))
    if (ks && name == ks->name && ks->dtype == static_cast<kernels::DType>(t)) return true;
  return false;
}

TEST(RuntimeQueries, KernelSetPerDtypeIsTheSetThatRuns) {
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  for (attnrt_dtype t : kDtypes) {
    SCOPED_TRACE("dtype " + std::to_string(t));
    const std::string name = attnrt_runtime_kernel_set(rt.get(), t);
    EXPECT_FALSE(name.empty());
    EXPECT_EQ(name, rt::kernel_set_of(rt.get(), t).name);
    EXPECT_TRUE(registered(name, t)) << name << " is not a registered set of this dtype";
  }
}

bool runs_here(const kernels::KernelSet* ks) {
  return ks && (ks->requires_cpu & rt::cpu_features().bits) == ks->requires_cpu;
}

// The registry lists a dtype's sets best first; the runtime takes the first
// this CPU runs unless that set measures itself outpaced by a later one (the
// avx512_bf16 set where vdpbf16ps issues slowly), the last that runs never.
TEST(RuntimeQueries, DefaultSetIsTheFirstThatRunsUnlessOutpaced) {
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  for (attnrt_dtype t : kDtypes) {
    SCOPED_TRACE("dtype " + std::to_string(t));
    std::vector<const kernels::KernelSet*> running;
    for (const kernels::KernelSet* ks : kernels::kernel_sets(static_cast<kernels::DType>(t)))
      if (runs_here(ks)) running.push_back(ks);
    ASSERT_FALSE(running.empty());
    const kernels::KernelSet* expected = running.back();
    for (std::size_t i = 0; i + 1 < running.size(); ++i)
      if (!running[i]->outpaced || !running[i]->outpaced()) {
        expected = running[i];
        break;
      }
    EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), t), expected->name);
  }
}

// ATTNRT_ISA naming a set that covers one dtype (avx512_bf16) takes it for
// that dtype, outpaced or not, and leaves the others their default.
TEST(RuntimeQueries, NamedSetOverridesTheMeasuredChoice) {
  const kernels::KernelSet* dot = nullptr;
  for (const kernels::KernelSet* ks : kernels::kernel_sets(kernels::DType::bf16))
    if (ks && ks->outpaced) dot = ks;
  if (!dot) GTEST_SKIP() << "no set of this build measures itself against another";
  if (!runs_here(dot)) GTEST_SKIP() << dot->name << " does not run on this CPU";
  RuntimePtr named = make_runtime(dot->name), plain = make_runtime(nullptr);
  ASSERT_TRUE(named && plain);
  EXPECT_STREQ(attnrt_runtime_kernel_set(named.get(), ATTNRT_BF16), dot->name);
  for (attnrt_dtype t : {ATTNRT_F32, ATTNRT_F16})
    EXPECT_STREQ(attnrt_runtime_kernel_set(named.get(), t), attnrt_runtime_kernel_set(plain.get(), t)) << t;
}

// The per-microarchitecture table (kernels/tuning.hpp): known CPUs map to
// their rows, unknown ones to the default row; each set's few-row entry
// for a row is the one built for that row's stream settings, and those are
// what the sets took before the table (the avx2 set Zen 3's, the avx512 set
// Zen 5's) on every row but those measured otherwise (avx512 on Zen 4).
TEST(RuntimeQueries, TuningTableMapsCpusToTheirRows) {
  using kernels::CpuVendor;
  using kernels::Uarch;
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::amd, 0x19, 0x01), Uarch::zen3);  // Milan
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::amd, 0x19, 0x21), Uarch::zen3);  // Vermeer
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::amd, 0x19, 0x11), Uarch::zen4);  // Genoa
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::amd, 0x19, 0x61), Uarch::zen4);  // Raphael
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::amd, 0x1a, 0x02), Uarch::zen5);  // Turin
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::intel, 6, 0x8f), Uarch::sapphire_rapids);
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::intel, 6, 0x6a), Uarch::ice_lake_sp);
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::amd, 0x17, 0x31), Uarch::other);    // Zen 2
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::intel, 6, 0x55), Uarch::other);     // Skylake-SP
  // A model a hypervisor shows (Rocket Lake's) on a core with AMX: an SPR-class Xeon.
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::intel, 6, 0xa7, /*amx=*/true), Uarch::sapphire_rapids);
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::intel, 6, 0xa7), Uarch::other);
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::intel, 6, 0x6a, /*amx=*/true), Uarch::ice_lake_sp);
  EXPECT_EQ(kernels::x86_uarch(CpuVendor::other, 0x19, 0x11), Uarch::other);
  EXPECT_EQ(kernels::arm_uarch(0x46, 0x001), Uarch::a64fx);  // Fujitsu A64FX (MIDR 0x461f0010)
  EXPECT_EQ(kernels::arm_uarch(0x41, 0xd40), Uarch::other);  // Arm Neoverse V1
  EXPECT_EQ(kernels::arm_uarch(0x46, 0x002), Uarch::other);
  EXPECT_EQ(&kernels::uarch_tuning(Uarch::other), &kernels::kUarchTable.front());
  EXPECT_STREQ(kernels::uarch_tuning(Uarch::zen4).name, "zen4");
  EXPECT_EQ(kernels::uarch_tuning(static_cast<Uarch>(99)).uarch, Uarch::other) << "an unknown row: the default";
  for (const kernels::UarchTuning& row : kernels::kUarchTable) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(&kernels::uarch_tuning(row.uarch), &row);
    EXPECT_EQ(row.avx2, kernels::kStreamZen3);
    EXPECT_EQ(row.avx512, row.uarch == Uarch::zen4              ? kernels::kStreamZen4
                          : row.uarch == Uarch::zen5            ? kernels::kStreamZen5
                          : row.uarch == Uarch::sapphire_rapids ? kernels::kStreamSapphireRapids
                                                                : kernels::kStreamAvx512InPage);
    EXPECT_EQ(row.sve, kernels::kStreamSveA64fx);
    for (kernels::DType t : {kernels::DType::f32, kernels::DType::f16, kernels::DType::bf16})
      for (const kernels::KernelSet* ks : kernels::kernel_sets(t)) {
        if (!ks) continue;
        const kernels::FewRowKernels* f = kernels::few_rows_for(row, *ks, rt::cpu_features().bits);
        EXPECT_EQ(f != nullptr, kernels::has_direct_kv(*ks)) << ks->name;
        if (f) {
          EXPECT_EQ(f->stream, kernels::stream_for(row, *ks)) << ks->name << ": no entry for its stream";
          EXPECT_TRUE(kernels::has_features(rt::cpu_features().bits, f->requires_cpu))
              << f->name << ": needs what this CPU lacks";
        }
        // A CPU with none of the entries' own features gets one that needs none.
        const kernels::FewRowKernels* plain = kernels::few_rows_for(row, *ks, ks->requires_cpu);
        if (plain) {
          EXPECT_EQ(plain->requires_cpu, 0u) << plain->name;
          EXPECT_EQ(plain->stream, kernels::stream_for(row, *ks)) << plain->name;
        }
      }
  }
  // This CPU's row is the one its plans take.
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  Problem decode({.dtype = ATTNRT_F32, .B = 1, .Hq = 2, .M = 1, .N = 300, .D = 64, .Dv = 64});
  HostTensor o = decode.make_o();
  const rt::Plan plan = rt::planned(rt.get(), decode.q().c(), decode.k().c(), decode.v().c(), o.c(),
                                    decode.params(nullptr, kernels::Strategy::two_pass));
  const kernels::KernelSet& ks = plan.kernel_set ? *plan.kernel_set : rt::kernel_set_of(rt.get(), ATTNRT_F32);
  if (!plan.blocking.direct_kv) GTEST_SKIP() << ks.name << " has no few-row path";
  const rt::CpuFeatures& cpu = rt::cpu_features();
  EXPECT_EQ(plan.blocking.few_rows, kernels::few_rows_for(kernels::uarch_tuning(cpu.uarch), ks, cpu.bits));
}

// A few-row call whose dtype's set has no direct K/V path (avx512_bf16
// packs K and V into bf16 pairs) runs on the set it names for few rows
// (KernelSet::few_rows_from), a later set of the registry this CPU runs,
// and matches the reference; a prefill call keeps the dtype's set, and so
// does a named set.
TEST(RuntimeQueries, FewRowCallsTakeASetWithTheDirectPath) {
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  const kernels::KernelSet* dot = nullptr;  // a bf16 set without the direct path, if this CPU runs one
  for (const kernels::KernelSet* ks : kernels::kernel_sets(kernels::DType::bf16))
    if (runs_here(ks) && !kernels::has_direct_kv(*ks) && !dot) dot = ks;
  RuntimePtr named = dot ? make_runtime(dot->name) : nullptr;
  for (attnrt_dtype t : kDtypes) {
    SCOPED_TRACE("dtype " + std::to_string(t));
    const kernels::KernelSet& own = rt::kernel_set_of(rt.get(), t);
    const kernels::KernelSet* expected = nullptr;  // null: the dtype's own set
    if (!kernels::has_direct_kv(own) && own.few_rows_from) {
      expected = own.few_rows_from();
      const auto sets = kernels::kernel_sets(static_cast<kernels::DType>(t));
      EXPECT_NE(std::find(std::find(sets.begin(), sets.end(), &own), sets.end(), expected), sets.end())
          << expected->name << " is not a later set of the registry";
      EXPECT_TRUE(runs_here(expected));
    }
    Problem decode({.dtype = t, .B = 2, .Hq = 8, .Hkv = 2, .M = 1, .N = 300, .D = 64, .Dv = 64, .causal = true});
    HostTensor o = decode.make_o();
    std::optional<HostTensor> lse = decode.make_lse();
    const attnrt_tensor lse_c = lse->c();
    const rt::Plan plan = rt::planned(rt.get(), decode.q().c(), decode.k().c(), decode.v().c(), o.c(),
                                      decode.params(&lse_c, kernels::Strategy::two_pass));
    EXPECT_EQ(plan.kernel_set, expected) << (expected ? expected->name : "the dtype's own set");
    EXPECT_EQ(plan.blocking.direct_kv, kernels::has_direct_kv(own) || expected != nullptr);
    ASSERT_EQ(run_c(rt.get(), decode, o, &*lse, kernels::Strategy::two_pass), ATTNRT_OK) << attnrt_last_error();
    EXPECT_TRUE(matches_reference(o, &*lse, decode.reference(), tolerance(t, ATTNRT_EXP2_ACCURATE)));

    // A set that keeps blocks past few_rows_from_max_rows (amx_bf16: its
    // tiles beat the reads in place there) hands over that many rows, no more.
    if (const int max_rows = own.few_rows_from_max_rows; expected && max_rows > 0)
      for (int rows : {max_rows, max_rows + 1}) {
        SCOPED_TRACE(std::to_string(rows) + " rows a block");
        Problem few({.dtype = t, .Hq = 2, .Hkv = 2, .M = rows, .N = 300, .D = 64, .Dv = 64});
        HostTensor fo = few.make_o();
        const bool handed = rows <= max_rows;
        const rt::Plan p = rt::planned(rt.get(), few.q().c(), few.k().c(), few.v().c(), fo.c(),
                                       few.params(nullptr, kernels::Strategy::two_pass));
        EXPECT_EQ(p.kernel_set, handed ? expected : nullptr);
        EXPECT_EQ(p.blocking.direct_kv, handed);
        ASSERT_EQ(run_c(rt.get(), few, fo, nullptr, kernels::Strategy::two_pass), ATTNRT_OK) << attnrt_last_error();
        EXPECT_TRUE(matches_reference(fo, nullptr, few.reference(), tolerance(t, ATTNRT_EXP2_ACCURATE)));
      }

    Problem prefill({.dtype = t, .M = 64, .N = 64});
    HostTensor po = prefill.make_o();
    EXPECT_EQ(rt::planned(rt.get(), prefill.q().c(), prefill.k().c(), prefill.v().c(), po.c(),
                          prefill.params(nullptr, kernels::Strategy::two_pass)).kernel_set, nullptr);
    if (named && t == ATTNRT_BF16) {
      EXPECT_EQ(rt::planned(named.get(), decode.q().c(), decode.k().c(), decode.v().c(), o.c(),
                            decode.params(&lse_c, kernels::Strategy::two_pass)).kernel_set, nullptr);
    }
  }
}

TEST(RuntimeQueries, IsaIsTheFp32Set) {
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  EXPECT_STREQ(attnrt_runtime_isa(rt.get()), attnrt_runtime_kernel_set(rt.get(), ATTNRT_F32));
}

// Run under qemu's x86 CPUs by tests/CMakeLists.txt (x86_cpu.*), which sets
// ATTNRT_TEST_EXPECT_ISA to the set that CPU should get: the default runtime
// takes it, and prefill and GQA decode calls of each dtype on it match the
// reference (no code of a set the CPU lacks runs on the way).
TEST(RuntimeQueries, EmulatedCpuTakesItsSetAndComputes) {
  const char* want = std::getenv("ATTNRT_TEST_EXPECT_ISA");
  if (!want) GTEST_SKIP() << "natively: the x86_cpu tests run this under qemu";
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  EXPECT_STREQ(attnrt_runtime_isa(rt.get()), want);
  for (attnrt_dtype t : kDtypes) {
    expect_forward_matches("", Spec{.dtype = t, .Hq = 4, .Hkv = 2, .M = 37, .N = 130, .D = 64, .Dv = 64,
                                    .causal = true});
    expect_forward_matches("", Spec{.dtype = t, .B = 2, .Hq = 8, .Hkv = 2, .M = 1, .N = 300, .D = 128, .Dv = 128});
  }
}

TEST(RuntimeQueries, KernelSetFollowsTheRequestedIsa) {
  // The portable set is in every build and runs on every CPU.
  RuntimePtr rt = make_runtime("generic");
  ASSERT_TRUE(rt);
  for (attnrt_dtype t : kDtypes) EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), t), "generic") << t;
}

TEST(RuntimeQueries, KernelSetOfNothingIsEmpty) {
  EXPECT_STREQ(attnrt_runtime_kernel_set(nullptr, ATTNRT_F32), "");
  RuntimePtr rt = make_runtime(nullptr);
  ASSERT_TRUE(rt);
  EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), static_cast<attnrt_dtype>(3)), "");
  EXPECT_STREQ(attnrt_runtime_kernel_set(rt.get(), static_cast<attnrt_dtype>(-1)), "");
}

TEST(RuntimeQueries, CppWrapperMatchesTheCAbi) {
  Config cfg;
  cfg.num_threads = 1;
  Runtime cpp(cfg);
  RuntimePtr c = make_runtime(nullptr);
  ASSERT_TRUE(c);
  for (DType t : {DType::f32, DType::f16, DType::bf16})
    EXPECT_EQ(cpp.kernel_set(t), attnrt_runtime_kernel_set(c.get(), static_cast<attnrt_dtype>(t)));
  EXPECT_EQ(cpp.isa(), cpp.kernel_set(DType::f32));
}

// A set's feature bit only where the CPU has every instruction the set is
// compiled for: the avx2 and generic_v3 sets are x86-64-v3 code (F16C,
// MOVBE, BMI1/2, LZCNT besides AVX2 and FMA), a CPU or hypervisor may
// report AVX2 without one of them, and the set would then fault.
TEST(CpuFeatures, X86SetsNeedEveryInstructionTheyAreCompiledFor) {
  rt::X86Cpuid zen4;  // a Zen 4's registers, as far as these bits go
  zen4.leaf1_ecx = 1u << 12 | 1u << 22 | 1u << 27 | 1u << 28 | 1u << 29;
  zen4.leaf7_ebx = 1u << 3 | 1u << 5 | 1u << 8 | 1u << 16 | 1u << 17 | 1u << 30 | 1u << 31;
  zen4.leaf7_ecx = 1u << 11;
  zen4.leaf7_1_eax = 1u << 5;
  zen4.ext1_ecx = 1u << 5;
  zen4.xcr0 = 0xe7;
  const std::uint32_t all = kernels::kFeatureX86V3 | kernels::kFeatureAvx512 | kernels::kFeatureAvx512Bf16 |
                            kernels::kFeatureAvx512Vnni;
  EXPECT_EQ(rt::x86_feature_bits(zen4), all);
  struct Missing {
    const char* name;
    std::uint32_t rt::X86Cpuid::*reg;
    int bit;
  };
  for (const Missing m : {Missing{"FMA", &rt::X86Cpuid::leaf1_ecx, 12}, {"MOVBE", &rt::X86Cpuid::leaf1_ecx, 22},
                          {"F16C", &rt::X86Cpuid::leaf1_ecx, 29}, {"BMI1", &rt::X86Cpuid::leaf7_ebx, 3},
                          {"AVX2", &rt::X86Cpuid::leaf7_ebx, 5}, {"BMI2", &rt::X86Cpuid::leaf7_ebx, 8},
                          {"LZCNT", &rt::X86Cpuid::ext1_ecx, 5}}) {
    rt::X86Cpuid r = zen4;
    r.*m.reg &= ~(1u << m.bit);
    EXPECT_EQ(rt::x86_feature_bits(r), 0u) << "without " << m.name;
  }
  rt::X86Cpuid no_zmm = zen4;  // an OS that saves no AVX-512 state
  no_zmm.xcr0 = 0x7;
  EXPECT_EQ(rt::x86_feature_bits(no_zmm), kernels::kFeatureX86V3);
  rt::X86Cpuid no_xsave = zen4;
  no_xsave.leaf1_ecx &= ~(1u << 27);
  EXPECT_EQ(rt::x86_feature_bits(no_xsave), 0u);
}

// AMX-INT8 only with both tile bits, the tile state enabled in XCR0 and
// granted to the process, and VNNI beside it (the AMX kernel's fallback).
TEST(CpuFeatures, AmxNeedsTheTilesEnabledAndGranted) {
  rt::X86Cpuid spr;  // a Sapphire Rapids' registers, as far as these bits go
  spr.leaf1_ecx = 1u << 12 | 1u << 22 | 1u << 27 | 1u << 28 | 1u << 29;
  spr.leaf7_ebx = 1u << 3 | 1u << 5 | 1u << 8 | 1u << 16 | 1u << 17 | 1u << 30 | 1u << 31;
  spr.leaf7_ecx = 1u << 11;
  spr.leaf7_edx = 1u << 22 | 1u << 23 | 1u << 24 | 1u << 25;
  spr.leaf7_1_eax = 1u << 5;
  spr.ext1_ecx = 1u << 5;
  spr.xcr0 = 0x600e7;
  spr.tiles_granted = true;
  EXPECT_TRUE(rt::x86_feature_bits(spr) & kernels::kFeatureAmxInt8);
  const auto without = [&](auto change) {
    rt::X86Cpuid r = spr;
    change(r);
    return rt::x86_feature_bits(r) & kernels::kFeatureAmxInt8;
  };
  EXPECT_FALSE(without([](rt::X86Cpuid& r) { r.tiles_granted = false; })) << "not granted";
  EXPECT_FALSE(without([](rt::X86Cpuid& r) { r.xcr0 = 0x200e7; })) << "no XTILEDATA state";
  EXPECT_FALSE(without([](rt::X86Cpuid& r) { r.xcr0 = 0x400e7; })) << "no XTILECFG state";
  EXPECT_FALSE(without([](rt::X86Cpuid& r) { r.leaf7_edx &= ~(1u << 24); })) << "no AMX-TILE";
  EXPECT_FALSE(without([](rt::X86Cpuid& r) { r.leaf7_edx &= ~(1u << 25); })) << "no AMX-INT8";
  EXPECT_FALSE(without([](rt::X86Cpuid& r) { r.leaf7_ecx &= ~(1u << 11); })) << "no AVX512_VNNI";
}

}  // namespace
}  // namespace attnrt::test
