// One kernel of kernels/sve (A64FX build), compiled alone with its inner
// loop between llvm-mca markers. estimate.py passes the call as
// -DATTNRT_MCA_CALL=...; the kernel is inlined into mca_entry, so the
// assembly holds exactly one marked region.
#include "kernels/sve/gemm_fp16.hpp"
#include "kernels/sve/gemm.hpp"
#include "kernels/sve/pack.hpp"
#include "kernels/sve/softmax.hpp"

#if !ATTNRT_SVE_A64FX
#error "region.cpp estimates the A64FX build: compile with -msve-vector-bits=512"
#endif

using namespace attnrt::kernels;
using namespace attnrt::kernels::sve::a64fx;

extern "C" void mca_entry(int k, const void* a, const void* b, float* c, std::int64_t ld,
                          const float* m, float* sum) {
  (void)k, (void)a, (void)b, (void)c, (void)ld, (void)m, (void)sum;
  ATTNRT_MCA_CALL;
}
