# The paged pipelines' page prefetches are in the compiled code (pages_ahead.hpp:
# GCC once dropped every call to a function of prefetches alone, and Zen 4's
# page prefetch compiled to nothing unnoticed). x86-64: the objects that
# include it (through kv_runs.hpp) must hold prefetcht2, which only
# prefetch_page_into_l2 emits there. Run by ctest as build.page_prefetches:
#   cmake -DOBJDUMP=<objdump> "-DOBJECTS=<a|b|...>" -P cmake/check_prefetches.cmake
string(REPLACE "|" ";" OBJECTS "${OBJECTS}")
set(checked 0)
foreach(object IN LISTS OBJECTS)
  if(NOT object MATCHES "pipelines/strip\\.cpp\\.o$")
    continue()
  endif()
  execute_process(COMMAND "${OBJDUMP}" -d "${object}" OUTPUT_VARIABLE code RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${OBJDUMP} -d ${object} failed (${status})")
  endif()
  string(REGEX MATCHALL "prefetcht2" found "${code}")
  list(LENGTH found count)
  if(count EQUAL 0)
    message(FATAL_ERROR "${object}: no prefetcht2, the page prefetches of pages_ahead.hpp were compiled away")
  endif()
  math(EXPR checked "${checked} + 1")
endforeach()
if(checked EQUAL 0)
  message(FATAL_ERROR "no pipelines/strip.cpp.o among OBJECTS")
endif()
message(STATUS "page prefetches present in ${checked} object(s)")
