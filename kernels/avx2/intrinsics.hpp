// <immintrin.h> for the avx2 folder's headers, which the avx512 folder's
// files include too (few_rows.hpp): in the avx512 test builds on emulated
// intrinsics (kernels/avx512/intrinsics.hpp) they take the emulation.
#pragma once

#if defined(ATTNRT_AVX512_SIMDE)
#include "tests/avx512_emulation.hpp"
#else
#include <immintrin.h>
#endif
