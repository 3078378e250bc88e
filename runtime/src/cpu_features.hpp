// What this CPU and OS can run, detected once (cpuid and XSAVE state on
// x86-64, HWCAP and the SVE vector length on AArch64).
#pragma once

#include <cstdint>
#include <string>

#include "kernels/tuning.hpp"

namespace attnrt::rt {

struct CpuFeatures {
  std::uint32_t bits = 0;  // kernels::CpuFeature
  int sve_bits = 0;        // SVE vector length, 0 without SVE
  // The microarchitecture (its row of kernels/tuning.hpp), from the cpuid
  // vendor, family and model on x86-64, MIDR_EL1's implementer (family) and
  // part (model) on AArch64; other elsewhere.
  kernels::Uarch uarch = kernels::Uarch::other;
  int family = 0, model = 0;
  std::string describe() const;
};

const CpuFeatures& cpu_features();

// The registers x86 feature detection reads: cpuid leaf 1 ECX, leaf 7
// (subleaf 0 EBX/ECX/EDX, subleaf 1 EAX), leaf 0x80000001 ECX, and XCR0
// (the register state the OS saves).
struct X86Cpuid {
  std::uint32_t leaf1_ecx = 0, leaf7_ebx = 0, leaf7_ecx = 0, leaf7_edx = 0, leaf7_1_eax = 0, ext1_ecx = 0;
  std::uint32_t xcr0 = 0;
  bool tiles_granted = false;  // Linux granted the process AMX tile data (arch_prctl)
};
// The kernels::CpuFeature bits of those registers: a set's bit only where
// the CPU has every instruction its sources are compiled for.
std::uint32_t x86_feature_bits(const X86Cpuid& r);

}  // namespace attnrt::rt
