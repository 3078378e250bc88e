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

}  // namespace attnrt::rt
