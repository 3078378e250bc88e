// <immintrin.h> for the avx512 folder; every file here includes this first.
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() and friends as the
// merge source, which trips -W(maybe-)uninitialized wherever they are
// inlined (GCC PR 105593, fixed in GCC 13). Those warnings are located in
// the intrinsics header, so silencing them while it is parsed silences only
// them.
#pragma once

#if defined(ATTNRT_AVX512_SIMDE)
// Test builds only: the same code on a portable emulation of the
// intrinsics, which the test target's flags include before every file.
#elif defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
