// qk_direct.cpp's Q·Kᵀ instantiated for fp8 K codes, in a unit of its own
// (qk_direct.cpp says why).
#define ATTNRT_AVX512_FP8_UNIT 1
#include "kernels/avx512/qk_direct.cpp"
