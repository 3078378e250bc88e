#include "runtime/src/cpu_features.hpp"

#include "kernels/kernel_set.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#include <sys/prctl.h>
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#ifndef PR_SVE_GET_VL
#define PR_SVE_GET_VL 51
#endif
#ifndef HWCAP_CPUID
#define HWCAP_CPUID (1 << 11)
#endif
#endif

namespace attnrt::rt {
namespace {

using namespace attnrt::kernels;

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const CpuVendor vendor = b == 0x68747541u ? CpuVendor::amd      // "AuthenticAMD"
                           : b == 0x756e6547u ? CpuVendor::intel  // "GenuineIntel"
                                              : CpuVendor::other;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  // Display family and model: the extended fields count where the base
  // family is 0xf (and, for the model, 6).
  const int base_family = (a >> 8) & 0xf;
  f.family = base_family + (base_family == 0xf ? static_cast<int>((a >> 20) & 0xff) : 0);
  f.model = static_cast<int>((a >> 4) & 0xf) |
            (base_family == 0xf || base_family == 6 ? static_cast<int>((a >> 16) & 0xf) << 4 : 0);
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;  // (all 0 where cpuid has no leaf 7)
  __get_cpuid_count(7, 0, &a7, &b7, &c7, &d7);
  f.uarch = x86_uarch(vendor, f.family, f.model, /*amx=*/d7 & (1u << 24));  // AMX-TILE
  X86Cpuid r;
  r.leaf1_ecx = c;
  r.leaf7_ebx = b7, r.leaf7_ecx = c7, r.leaf7_edx = d7;
  unsigned a1 = 0, b1, c1, d1;
  __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1);
  r.leaf7_1_eax = a1;
  unsigned ae, be, ce = 0, de;
  if (__get_cpuid(0x80000001u, &ae, &be, &ce, &de)) r.ext1_ecx = ce;
  if ((c & (1u << 27)) && (c & (1u << 28))) {  // OSXSAVE and AVX: XGETBV runs
    unsigned xcr0_hi;
    __asm__("xgetbv" : "=a"(r.xcr0), "=d"(xcr0_hi) : "c"(0));
  }
#if defined(__linux__)
  // Linux hands out AMX tile data (XSAVE component 18) only on request
  // (ARCH_REQ_XCOMP_PERM): once per process, here, where the features are
  // first read, never in a call.
  constexpr int kReqXcompPerm = 0x1023, kXtiledata = 18;
  if ((d7 >> 24 & 1u) && (r.xcr0 >> kXtiledata & 1u))
    r.tiles_granted = syscall(SYS_arch_prctl, kReqXcompPerm, kXtiledata) == 0;
#endif
  f.bits = x86_feature_bits(r);
#elif defined(__aarch64__) && defined(__linux__)
  if (getauxval(AT_HWCAP) & HWCAP_CPUID) {  // the kernel emulates MIDR_EL1 for user space
    std::uint64_t midr;
    __asm__("mrs %0, midr_el1" : "=r"(midr));
    f.family = static_cast<int>((midr >> 24) & 0xff);  // implementer
    f.model = static_cast<int>((midr >> 4) & 0xfff);   // part number
    f.uarch = arm_uarch(f.family, f.model);
  }
  if (getauxval(AT_HWCAP) & HWCAP_SVE) {
    f.bits |= kFeatureSve;
    const int vl = prctl(PR_SVE_GET_VL);
    if (vl > 0) f.sve_bits = (vl & 0xffff) * 8;
    if (f.sve_bits == 512) f.bits |= kFeatureSve512;
  }
#endif
  return f;
}

}  // namespace

std::uint32_t x86_feature_bits(const X86Cpuid& r) {
  const auto bit = [](std::uint32_t reg, int i) { return (reg >> i & 1u) != 0; };
  if (!bit(r.leaf1_ecx, 27) || !bit(r.leaf1_ecx, 28)) return 0;  // OSXSAVE, AVX
  const bool ymm_os = (r.xcr0 & 0x6u) == 0x6u;
  const bool zmm_os = ymm_os && (r.xcr0 & 0xe0u) == 0xe0u;
  // x86-64-v3, as the avx2 and generic_v3 sets are compiled (-mf16c,
  // -march=x86-64-v3): AVX2, FMA, F16C, MOVBE, BMI1, BMI2, LZCNT.
  const bool v3 = bit(r.leaf7_ebx, 5) && bit(r.leaf1_ecx, 12) && bit(r.leaf1_ecx, 29) && bit(r.leaf1_ecx, 22) &&
                  bit(r.leaf7_ebx, 3) && bit(r.leaf7_ebx, 8) && bit(r.ext1_ecx, 5);
  const bool avx512 = bit(r.leaf7_ebx, 16) && bit(r.leaf7_ebx, 17) && bit(r.leaf7_ebx, 30) && bit(r.leaf7_ebx, 31);
  std::uint32_t bits = 0;
  if (ymm_os && v3) bits |= kFeatureX86V3;
  // The AVX-512 sets are compiled with FMA and F16C too: v3 CPUs all.
  if (zmm_os && avx512 && v3) {
    bits |= kFeatureAvx512;
    if (bit(r.leaf7_1_eax, 5)) bits |= kFeatureAvx512Bf16;
    if (bit(r.leaf7_edx, 23)) bits |= kFeatureAvx512Fp16;
    if (bit(r.leaf7_ecx, 11)) bits |= kFeatureAvx512Vnni;
    // AMX-TILE and AMX-INT8, the tile state enabled (XCR0 bits 17, 18) and
    // granted; the one AMX kernel also runs AVX512_VNNI code (its fallback).
    const bool tiles_os = (r.xcr0 >> 17 & 3u) == 3u && r.tiles_granted;
    if (bit(r.leaf7_edx, 24) && bit(r.leaf7_edx, 25) && tiles_os && (bits & kFeatureAvx512Vnni))
      bits |= kFeatureAmxInt8;
    // AMX-TILE and AMX-BF16; the amx_bf16 set's other pieces are AVX512_BF16 code.
    if (bit(r.leaf7_edx, 24) && bit(r.leaf7_edx, 22) && tiles_os && (bits & kFeatureAvx512Bf16))
      bits |= kFeatureAmxBf16;
  }
  return bits;
}

std::string CpuFeatures::describe() const {
  std::string s;
  auto add = [&](std::uint32_t bit, const char* name) {
    if (!(bits & bit)) return;
    if (!s.empty()) s += ',';
    s += name;
  };
  add(kFeatureX86V3, "x86-64-v3");
  add(kFeatureAvx512, "avx512");
  add(kFeatureAvx512Bf16, "avx512_bf16");
  add(kFeatureAvx512Fp16, "avx512_fp16");
  add(kFeatureAvx512Vnni, "avx512_vnni");
  add(kFeatureAmxInt8, "amx_int8");
  add(kFeatureAmxBf16, "amx_bf16");
  add(kFeatureSve, "sve");
  if (sve_bits) {
    s += '(';
    s += std::to_string(sve_bits);
    s += "-bit)";
  }
  return s.empty() ? "baseline" : s;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

}  // namespace attnrt::rt
