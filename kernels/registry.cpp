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
      // <isa>::kernel_set(T),   one line per ISA, best first
#ifdef ATTNRT_HAVE_AVX512
#ifdef ATTNRT_HAVE_AMX_BF16
      avx512::amx_bf16_kernel_set(T),  // null unless T is bf16
#endif
      avx512::bf16_kernel_set(T),  // null unless T is bf16
      avx512::kernel_set(T),
#endif
#ifdef ATTNRT_HAVE_AVX2
      avx2::kernel_set(T),
#endif
#if defined(ATTNRT_HAVE_SVE)
      sve::a64fx_kernel_set(T), sve::a64fx_12x2_kernel_set(T), sve::vla_kernel_set(T),
#endif
#if defined(ATTNRT_HAVE_GENERIC_X86_V3)
      generic::x86_v3::kernel_set(T),
#endif
      generic::baseline::kernel_set(T),
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
