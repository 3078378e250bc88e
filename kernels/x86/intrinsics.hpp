// <immintrin.h> for the x86 folder's 256-bit helpers, which the avx2 and the
// avx512 folders both include (few_rows.hpp): in the avx512 test builds on
// emulated intrinsics (kernels/avx512/intrinsics.hpp) they take the emulation.
#pragma once

#if !defined(ATTNRT_AVX512_SIMDE)  // (the emulation comes from the test build's flags)
#include <immintrin.h>
#endif
