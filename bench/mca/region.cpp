// One kernel of kernels/sve (A64FX build), compiled alone with its inner
// loop between llvm-mca markers. estimate.py passes the call as
// -DATTNRT_MCA_CALL=...; the kernel is inlined into mca_entry, so the
// assembly holds exactly one marked region. With ATTNRT_MCA_WHOLE (and no
// ATTNRT_MCA_MARKERS) the markers go around the whole call instead: its
// prologue, one copy of each loop body and its epilogue, which --model needs
// to charge each call's fixed cost.
#include "kernels/sve/gemm_fp16.hpp"
#include "kernels/sve/gemm.hpp"
#include "kernels/sve/pack.hpp"
#include "kernels/sve/pv_direct.hpp"
#include "kernels/sve/qk_direct.hpp"
#include "kernels/sve/qk_fp16.hpp"
#include "kernels/sve/softmax.hpp"
#include "kernels/tuning.hpp"

#if !ATTNRT_SVE_A64FX
#error "region.cpp estimates the A64FX build: compile with -msve-vector-bits=512"
#endif

using namespace attnrt::kernels;
using namespace attnrt::kernels::sve::a64fx;

#if defined(ATTNRT_MCA_WHOLE)
#define ATTNRT_MCA_ENTRY __attribute__((flatten))  // the call inlined, so its code sits between the markers
#else
#define ATTNRT_MCA_ENTRY
#endif

extern "C" ATTNRT_MCA_ENTRY void mca_entry(int k, const void* a, const void* b, float* c, std::int64_t ld,
                          const float* m, float* sum) {
  (void)k, (void)a, (void)b, (void)c, (void)ld, (void)m, (void)sum;
#if defined(ATTNRT_MCA_WHOLE)
  __asm__ volatile("# LLVM-MCA-BEGIN" ::: "memory");
  ATTNRT_MCA_CALL;
  __asm__ volatile("# LLVM-MCA-END" ::: "memory");
#else
  ATTNRT_MCA_CALL;
#endif
}
