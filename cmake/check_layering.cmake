# The layers' includes point down only: runtime -> scheduler -> kernels, and
# none of them names tests/, bench/ or examples/ (test builds inject what
# they need through their own flags). The tools (tests/, bench/, examples/)
# reach runtime and scheduler internals through runtime/internal/
# attnrt_internal.hpp only, never runtime/src/ or scheduler/ directly
# (kernels/ headers they may include). Run by ctest as layering.includes:
#   cmake -DSOURCE_DIR=<repo> -P cmake/check_layering.cmake
set(forbidden_kernels "runtime/|scheduler/|tests/|bench/|examples/")
set(forbidden_scheduler "runtime/|tests/|bench/|examples/")
set(forbidden_runtime "tests/|bench/|examples/")
set(forbidden_tools "runtime/src/|scheduler/")
set(broken "")
foreach(layer IN ITEMS kernels scheduler runtime tests bench examples)
  set(forbidden "${forbidden_${layer}}")
  if(layer MATCHES "^(tests|bench|examples)$")
    set(forbidden "${forbidden_tools}")
  endif()
  file(GLOB_RECURSE sources "${SOURCE_DIR}/${layer}/*.cpp" "${SOURCE_DIR}/${layer}/*.hpp" "${SOURCE_DIR}/${layer}/*.h"
       "${SOURCE_DIR}/${layer}/*.c" "${SOURCE_DIR}/${layer}/*.in")
  foreach(source IN LISTS sources)
    file(STRINGS "${source}" includes REGEX "^[ \t]*#[ \t]*include[ \t]+\"(${forbidden})")
    foreach(line IN LISTS includes)
      file(RELATIVE_PATH rel "${SOURCE_DIR}" "${source}")
      string(STRIP "${line}" line)
      string(APPEND broken "\n  ${rel}: ${line}")
    endforeach()
  endforeach()
endforeach()
if(broken)
  message(FATAL_ERROR "an include points up or out of the library:${broken}")
endif()
message(STATUS "layering: every include points down")
