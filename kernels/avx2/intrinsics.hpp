// <immintrin.h> for the avx2 folder's headers, which the avx512 folder's
// files include too (few_rows.hpp): in the avx512 test builds on emulated
// intrinsics (kernels/avx512/intrinsics.hpp) they take the emulation.
#pragma once

#if !defined(ATTNRT_AVX512_SIMDE)  // (the emulation comes from the test build's flags)
#include <immintrin.h>
#endif
