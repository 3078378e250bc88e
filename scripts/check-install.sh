#!/usr/bin/env bash
# Checks the installed package the way users consume it, from a prefix other
# than the configured one (a relocated install):
#   - the CMake package: tests/install's consumer, shared and static, and
#     attnrt::mpi's (consumer_mpi.c) where attnrt was built with MPI;
#   - pkg-config: tests/install/consumer.c built with `pkg-config --libs
#     attnrt` (run on the shared library) and with `--static` against a
#     prefix that holds only the static library (run without LD_LIBRARY_PATH).
# Usage: scripts/check-install.sh <release build dir> <work dir>
# Exits non-zero, saying which step failed, on any failure.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 2 ] || { echo "usage: $0 <release build dir> <work dir>" >&2; exit 2; }
build=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
prefix=$work/prefix static_prefix=$work/static-prefix

fail() { echo "check-install: FAILED: $*" >&2; exit 1; }
# step <what> <command...>: runs the command, or fails naming the step.
step() {
  local what=$1; shift
  echo "check-install: $what"
  "$@" || fail "$what (exit $?): $*"
}

configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
[ "$configured" != "$prefix" ] || fail "$build is configured for $prefix; the check needs another prefix"
rm -rf "$prefix" "$static_prefix" "$work/consumer" "$work/pc"
mkdir -p "$work/pc"

step "install $build to $prefix (configured: $configured)" cmake --install "$build" --prefix "$prefix"

step "configure tests/install against $prefix" \
  cmake -S "$src/tests/install" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
step "build the CMake consumer" cmake --build "$work/consumer"
step "run the CMake consumer (shared)" "$work/consumer/consumer"
step "run the CMake consumer (static)" env LD_LIBRARY_PATH= "$work/consumer/consumer_static"
# attnrt::mpi: built when the installed tree had MPI; run as a singleton.
if find "$prefix" -name attnrtMpiTargets.cmake | grep -q .; then
  [ -x "$work/consumer/consumer_mpi" ] || fail "attnrt::mpi is installed but the consumer did not find it"
  step "run the CMake consumer of attnrt::mpi" env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    OMPI_MCA_btl=self "$work/consumer/consumer_mpi"
fi

pc=$(find "$prefix" -name attnrt.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || fail "no attnrt.pc under $prefix"
export PKG_CONFIG_PATH=${pc%/attnrt.pc}
# The variables must follow the files, not the prefix configured at build time.
got=$(realpath -m "$(pkg-config --variable=prefix attnrt)")
[ "$got" = "$prefix" ] || fail "$pc says prefix=$got, not where it was installed ($prefix)"
libdir=$(pkg-config --variable=libdir attnrt)

cc=${CC:-cc}
# shellcheck disable=SC2046  # pkg-config's flags are meant to be split
step "compile and link consumer.c with pkg-config --libs" \
  "$cc" "$src/tests/install/consumer.c" -o "$work/pc/consumer" $(pkg-config --cflags --libs attnrt) -lm
step "run consumer.c on the shared library" env LD_LIBRARY_PATH="$libdir" "$work/pc/consumer"

# A copy without the shared library, so -lattnrt can only mean the archive
# and the .pc is read from yet another place.
cp -a "$prefix" "$static_prefix"
rm -f "$static_prefix"/"${libdir#"$prefix"/}"/libattnrt.so*
export PKG_CONFIG_PATH=$static_prefix/${PKG_CONFIG_PATH#"$prefix"/}
# shellcheck disable=SC2046
step "compile and link consumer.c with pkg-config --static --libs" \
  "$cc" "$src/tests/install/consumer.c" -o "$work/pc/consumer_static" $(pkg-config --static --cflags --libs attnrt) -lm
step "run the static consumer.c without LD_LIBRARY_PATH" env LD_LIBRARY_PATH= "$work/pc/consumer_static"
if ldd "$work/pc/consumer_static" | grep -q libattnrt; then
  fail "consumer_static links libattnrt dynamically"
fi
echo "check-install: OK"
