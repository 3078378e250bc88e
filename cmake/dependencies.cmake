# The system's packages (scripts/install-deps.sh installs them on Debian 12).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(PkgConfig)
find_package(Threads REQUIRED)

# hwloc, libnuma and oneTBB serve the NUMA scheduler; a cross build for a
# target without them still builds the kernels and runtime.
if(PkgConfig_FOUND)
  pkg_check_modules(HWLOC IMPORTED_TARGET hwloc)
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

if(ATTNRT_BUILD_TESTS)
  # Debian ships GoogleTest as sources too; building them keeps cross builds
  # and sanitizer builds consistent with the code under test.
  if(CMAKE_CROSSCOMPILING OR ATTNRT_SANITIZE OR NOT EXISTS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/libgtest.a)
    if(EXISTS /usr/src/googletest/CMakeLists.txt)
      set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
      add_subdirectory(/usr/src/googletest ${CMAKE_BINARY_DIR}/_deps/googletest EXCLUDE_FROM_ALL)
      # GoogleTest 1.11+ defines these aliases itself.
      if(NOT TARGET GTest::gtest_main)
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
