# What the machine configuring the build runs (x86, not cross-compiling):
# ATTNRT_HOST_RUNS_AVX512: every avx512 kernel set (AVX-512 F, BW, DQ and
#   VL with BF16 and VNNI, the features runtime/src/cpu_features.cpp asks
#   of them). Where it does, the tests run those sets natively; where not,
#   they never run here, and the tests check their copy on SIMDe's
#   emulation instead (tests/CMakeLists.txt).
# ATTNRT_HOST_RUNS_AVX2: AVX2, FMA and F16C, which that copy is built with
#   where it can (SIMDe then builds each 512-bit operation of two native
#   256-bit ones).

# attnrt_host_runs(<var> <feature>...): ON if this CPU has every feature
# (__builtin_cpu_supports names), cached.
function(attnrt_host_runs var)
  if(DEFINED ${var})
    return()
  endif()
  set(runs OFF)
  if(ATTNRT_ARCH_X86 AND NOT CMAKE_CROSSCOMPILING)
    list(TRANSFORM ARGN REPLACE "(.+)" "__builtin_cpu_supports(\"\\1\")")
    list(JOIN ARGN " && " all)
    try_run(run_result compiled SOURCE_FROM_CONTENT ${var}.cpp
      "int main() { __builtin_cpu_init(); return ${all} ? 0 : 1; }\n")
    if(compiled AND run_result EQUAL 0)
      set(runs ON)
    endif()
  endif()
  set(${var} ${runs} CACHE INTERNAL "the build machine has: ${ARGN}")
endfunction()

attnrt_host_runs(ATTNRT_HOST_RUNS_AVX512 avx512f avx512bw avx512dq avx512vl avx512bf16 avx512vnni)
attnrt_host_runs(ATTNRT_HOST_RUNS_AVX2 avx2 fma f16c)
