// The kernels of kernels/avx512 (the fp32 sets) for llvm-mca:
// avx512_estimate.py compiles a file that includes this one and adds an
// ATTNRT_MCA_ENTRY(name, call) per kernel, so the sources below are compiled
// once for all of them. Each mca_entry_<name> is flattened: its kernel is
// inlined into it and the script reads only that function's loops. No
// markers in the kernels: an asm statement inside the GEMM loop made GCC 12
// keep its 28 accumulators in memory. The sources whose kernels live in an
// unnamed namespace are included whole.
#include "kernels/tuning.hpp"
#include "kernels/x86/few_rows.hpp"
#include "kernels/avx512/gemm_fp32.hpp"
#include "kernels/avx512/pv_direct_rows.cpp"
#include "kernels/avx512/qk_direct.cpp"
#include "kernels/avx512/softmax_rows.cpp"

using namespace attnrt::kernels;
using namespace attnrt::kernels::avx512;

#define ATTNRT_MCA_ENTRY(name, ...)                                                                         \
  extern "C" __attribute__((flatten)) void mca_entry_##name(int k, const float* a, const float* b, float* c, \
                                                            std::int64_t ld, const float* m, float* sum) {    \
    (void)k, (void)a, (void)b, (void)c, (void)ld, (void)m, (void)sum;                                         \
    __VA_ARGS__;                                                                                              \
  }
