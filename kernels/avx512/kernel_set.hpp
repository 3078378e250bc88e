// The avx512 kernel sets. This header has no intrinsics; any file may
// include it.
//   avx512       (AVX-512 F/BW/DQ/VL): fp32 compute for fp32, fp16 and bf16
//                inputs, 14x2-vector micro-kernels.
//   avx512_bf16  (+ AVX512_BF16): bf16 inputs packed as pairs, both GEMMs with
//                vdpbf16ps accumulating in fp32, P rounded to bf16.
//   amx_bf16     (+ AMX-TILE, AMX-BF16): as avx512_bf16, both GEMMs on AMX
//                tiles, 32x32.
#pragma once

#include <cstdint>

#include "kernels/kernel_set.hpp"

namespace attnrt::kernels::avx512 {

// The fp32-compute sets for fp32, fp16 and bf16 inputs.
extern const SetsByDtype kSets;

// The avx512_bf16 set, for bf16 inputs only.
extern const SetsByDtype kBf16Sets;

// The amx_bf16 set, for bf16 inputs only (built where the compiler has
// AMX-BF16: ATTNRT_HAVE_AMX_BF16).
extern const SetsByDtype kAmxBf16Sets;

// y[i] = exp2(x[i]) with the sets' vector exp2, for tests and benchmarks.
// Needs kFeatureAvx512.
void exp2_array(const float* x, float* y, std::int64_t n, Exp2Precision precision);

}  // namespace attnrt::kernels::avx512
