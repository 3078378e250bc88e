// The vector-length-agnostic sets: this file is compiled with
// -march=armv8.2-a+sve and no fixed vector length.
#include <sys/auxv.h>

#include "kernels/sve/kernel_set.hpp"
#include "kernels/sve/sets.hpp"

#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif

namespace attnrt::kernels::sve {
namespace {

using namespace vla;

struct VlaSets {
  KernelSet f32, f16, bf16;
};

// Built on first use, after HWCAP said SVE is there: the tile widths are
// multiples of the vector length, which only an SVE instruction can read.
const VlaSets& vla_sets() {
  static const VlaSets sets = [] {
    const int lanes = lanes32();
    return VlaSets{fp32_set<float, 8>("sve", DType::f32, kFeatureSve, lanes),
                   fp16_12x2_set("sve", kFeatureSve, lanes),
                   fp32_set<Bf16, 8>("sve", DType::bf16, kFeatureSve, lanes)};
  }();
  return sets;
}

}  // namespace

const KernelSet* vla_kernel_set(DType t) {
  if (!(getauxval(AT_HWCAP) & HWCAP_SVE)) return nullptr;
  switch (t) {
    case DType::f32: return &vla_sets().f32;
    case DType::f16: return &vla_sets().f16;
    case DType::bf16: return &vla_sets().bf16;
  }
  return nullptr;
}

}  // namespace attnrt::kernels::sve
