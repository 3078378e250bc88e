# The system's packages (scripts/install-deps.sh installs them on Debian 12).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(PkgConfig)
find_package(Threads REQUIRED)

# hwloc, libnuma and oneTBB serve the NUMA scheduler; a cross build for a
# target without them still builds the kernels and runtime.
# pkg-config answers for the build machine, so a cross build looks for the
# target's library itself.
if(PkgConfig_FOUND AND NOT CMAKE_CROSSCOMPILING)
  pkg_check_modules(HWLOC IMPORTED_TARGET hwloc)
else()
  find_library(HWLOC_LIBRARY hwloc)
  find_path(HWLOC_INCLUDE_DIR hwloc.h)
  if(HWLOC_LIBRARY AND HWLOC_INCLUDE_DIR)
    set(HWLOC_FOUND ON)
    set(HWLOC_LINK_LIBRARIES ${HWLOC_LIBRARY})
    set(HWLOC_INCLUDE_DIRS ${HWLOC_INCLUDE_DIR})
  else()
    set(HWLOC_FOUND OFF)
  endif()
endif()
find_library(NUMA_LIBRARY numa)
find_path(NUMA_INCLUDE_DIR numa.h)
find_package(TBB CONFIG QUIET)

set(ATTNRT_HAVE_HWLOC ${HWLOC_FOUND})
if(NUMA_LIBRARY AND NUMA_INCLUDE_DIR)
  set(ATTNRT_HAVE_NUMA ON)
else()
  set(ATTNRT_HAVE_NUMA OFF)
endif()
set(ATTNRT_HAVE_TBB ${TBB_FOUND})
message(STATUS "attnrt: hwloc=${ATTNRT_HAVE_HWLOC} numa=${ATTNRT_HAVE_NUMA} tbb=${ATTNRT_HAVE_TBB}")

# What the scheduler compiles with and what every library linking it needs.
# Absolute library paths (not pkg-config's imported target) keep the
# installed export usable without pkg-config.
set(ATTNRT_SCHEDULER_DEFINITIONS)
set(ATTNRT_SCHEDULER_INCLUDES)
set(ATTNRT_SCHEDULER_LIBS)
foreach(dep IN ITEMS HWLOC NUMA TBB)
  if(ATTNRT_HAVE_${dep})
    list(APPEND ATTNRT_SCHEDULER_DEFINITIONS ATTNRT_HAVE_${dep}=1)
  else()
    list(APPEND ATTNRT_SCHEDULER_DEFINITIONS ATTNRT_HAVE_${dep}=0)
  endif()
endforeach()
if(ATTNRT_HAVE_HWLOC)
  list(APPEND ATTNRT_SCHEDULER_INCLUDES ${HWLOC_INCLUDE_DIRS})
  list(APPEND ATTNRT_SCHEDULER_LIBS ${HWLOC_LINK_LIBRARIES})
endif()
if(ATTNRT_HAVE_NUMA)
  list(APPEND ATTNRT_SCHEDULER_INCLUDES ${NUMA_INCLUDE_DIR})
  list(APPEND ATTNRT_SCHEDULER_LIBS ${NUMA_LIBRARY})
endif()
if(ATTNRT_HAVE_TBB)
  list(APPEND ATTNRT_SCHEDULER_LIBS TBB::tbb)
endif()
# What a static link needs besides libattnrt.a, for attnrt.pc's
# Libs.private: the scheduler's libraries, OpenMP's (gomp, pthread with
# GCC) and the C++ runtime, which a C program's link does not bring.
set(ATTNRT_PC_PRIVATE_LIBS)
set(pc_deps HWLOC NUMA TBB)
set(pc_libs hwloc numa tbb)
foreach(dep lib IN ZIP_LISTS pc_deps pc_libs)  # ZIP_LISTS takes variable names
  if(ATTNRT_HAVE_${dep})
    string(APPEND ATTNRT_PC_PRIVATE_LIBS " -l${lib}")
  endif()
endforeach()
foreach(lib IN LISTS OpenMP_CXX_LIB_NAMES ITEMS stdc++ m)
  string(APPEND ATTNRT_PC_PRIVATE_LIBS " -l${lib}")
endforeach()
string(STRIP "${ATTNRT_PC_PRIVATE_LIBS}" ATTNRT_PC_PRIVATE_LIBS)

if(ATTNRT_BUILD_TESTS)
  # Debian ships GoogleTest as sources too; building them keeps cross builds
  # and builds sanitizing every target consistent with the code under test.
  if(CMAKE_CROSSCOMPILING OR (ATTNRT_SANITIZE AND ATTNRT_SANITIZE_SCOPE STREQUAL "all") OR NOT EXISTS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/libgtest.a)
    if(EXISTS /usr/src/googletest/CMakeLists.txt)
      set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
      add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/_deps/googletest EXCLUDE_FROM_ALL)
      if(NOT TARGET GTest::gtest_main)  # GoogleTest >= 1.11 defines these itself
        add_library(GTest::gtest_main ALIAS gtest_main)
        add_library(GTest::gtest ALIAS gtest)
      endif()
    else()
      find_package(GTest REQUIRED)
    endif()
  else()
    find_package(GTest REQUIRED)
  endif()
endif()

if(ATTNRT_BUILD_BENCH)
  find_package(benchmark QUIET)
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas openblas-pthread)
endif()
