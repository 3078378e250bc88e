# libattnrt.so's dynamic symbols: every one it defines is a C API function
# (attnrt_*), one the toolchain adds (_init, _fini, __bss_start, ...), or a
# standard library template's (namespace std, which libstdc++ declares
# visible by default: its static locals must be one per process).
# Run by ctest as build.exports:
#   cmake -DNM=<nm> -DLIBRARY=<libattnrt.so> -P cmake/check_exports.cmake
execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}" OUTPUT_VARIABLE table RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${NM} -D --defined-only ${LIBRARY} failed (${status})")
endif()
string(REPLACE "\n" ";" lines "${table}")
set(api 0)
set(stray "")
foreach(line IN LISTS lines)
  if(NOT line MATCHES "^[0-9a-fA-F]* +[A-Za-z] +([^ ]+)$")
    continue()
  endif()
  set(name "${CMAKE_MATCH_1}")
  if(name MATCHES "^attnrt_[a-z0-9_]+$")
    math(EXPR api "${api} + 1")
  elseif(NOT name MATCHES "^(_init|_fini|_edata|_end|__bss_start)$" AND NOT name MATCHES "^_Z(GV)?Z?N?K?St")
    list(APPEND stray "${name}")
  endif()
endforeach()
list(LENGTH stray strays)
if(strays GREATER 0)
  list(SUBLIST stray 0 10 shown)
  message(FATAL_ERROR "${LIBRARY} exports ${strays} symbols beyond the C API, e.g. ${shown}")
endif()
if(api EQUAL 0)
  message(FATAL_ERROR "${LIBRARY} exports no attnrt_* function")
endif()
message(STATUS "${LIBRARY}: ${api} C API functions exported, nothing else of its own")
