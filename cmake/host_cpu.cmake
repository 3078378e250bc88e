# ATTNRT_HOST_RUNS_AVX512: whether the machine configuring the build runs
# every avx512 kernel set (AVX-512 F, BW, DQ and VL with BF16 and VNNI, the
# features runtime/src/cpu_features.cpp asks of them). Where it does, the
# tests run those sets natively; where not, they never run here, and the
# tests check their copy on SIMDe's emulation instead (tests/CMakeLists.txt).
if(NOT DEFINED ATTNRT_HOST_RUNS_AVX512)
  set(runs OFF)
  if(ATTNRT_ARCH_X86 AND NOT CMAKE_CROSSCOMPILING)
    try_run(run_result compiled SOURCE_FROM_CONTENT host_avx512.cpp [[
      int main() {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni") ? 0 : 1;
      }]])
    if(compiled AND run_result EQUAL 0)
      set(runs ON)
    endif()
  endif()
  set(ATTNRT_HOST_RUNS_AVX512 ${runs} CACHE INTERNAL "the build machine runs the avx512 kernel sets")
endif()
