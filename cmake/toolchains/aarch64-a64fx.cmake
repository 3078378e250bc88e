# Cross build for AArch64 (A64FX and other SVE CPUs) on an x86-64 Debian host
# with g++-aarch64-linux-gnu; tests run under qemu-aarch64.
#   cmake -S . -B build-a64fx -G Ninja \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-a64fx.cmake
# ATTNRT_QEMU_CPU (environment, read when a test runs) picks the emulated CPU:
# "a64fx" (512-bit SVE, the default), "max,sve128=on", "max,sve256=on".
# A native build on an A64FX needs no toolchain file (see docs/a64fx.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR "${CMAKE_CURRENT_LIST_DIR}/qemu-aarch64.sh")
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# Only the target's pkg-config files: the host's hwloc must not leak in (the
# aarch64 build has no hwloc, numa or TBB; they are optional).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
