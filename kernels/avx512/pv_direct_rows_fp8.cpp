// pv_direct_rows.cpp's P·V instantiated for fp8 V codes, in a unit of its
// own (pv_direct_rows.cpp says why).
#define ATTNRT_AVX512_FP8_UNIT 1
#include "kernels/avx512/pv_direct_rows.cpp"
