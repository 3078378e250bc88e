#include "kernels/registry.hpp"

#include <array>

#include "kernels/generic/kernel_set.hpp"
#if defined(ATTNRT_HAVE_SVE)
#include "kernels/sve/kernel_set.hpp"
#endif
#ifdef ATTNRT_HAVE_AVX2
#include "kernels/avx2/kernel_set.hpp"
#endif
#ifdef ATTNRT_HAVE_AVX512
#include "kernels/avx512/kernel_set.hpp"
#endif

namespace attnrt::kernels {
namespace {

template <DType T>
std::span<const KernelSet* const> list() {
  static const std::array sets = {
      // set_for(<isa>::kSets, T),   one line per ISA, best first
#ifdef ATTNRT_HAVE_AVX512
#ifdef ATTNRT_HAVE_AMX_BF16
      set_for(avx512::kAmxBf16Sets, T),  // null unless T is bf16
#endif
      set_for(avx512::kBf16Sets, T),  // null unless T is bf16
      set_for(avx512::kSets, T),
#endif
#ifdef ATTNRT_HAVE_AVX2
      set_for(avx2::kSets, T),
#endif
#if defined(ATTNRT_HAVE_SVE)
      set_for(sve::kA64fxSets, T), set_for(sve::kA64fx12x2Sets, T), sve::vla_kernel_set(T),
#endif
#if defined(ATTNRT_HAVE_GENERIC_X86_V3)
      set_for(generic::x86_v3::kSets, T),
#endif
      set_for(generic::baseline::kSets, T),
  };
  return sets;
}

}  // namespace

std::span<const KernelSet* const> kernel_sets(DType t) {
  switch (t) {
    case DType::f32: return list<DType::f32>();
    case DType::f16: return list<DType::f16>();
    case DType::bf16: return list<DType::bf16>();
  }
  return {};
}

}  // namespace attnrt::kernels
