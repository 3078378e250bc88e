#!/usr/bin/env bash
# Installs everything attnrt builds, tests and benchmarks with, on Debian 12.
# Usage: bash scripts/install-deps.sh [--tests]   (as root, or with sudo available)
#   --tests   also what only the tests need: PyTorch (about 5.4 GB)
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ccache \
  libhwloc-dev hwloc-nox libnuma-dev libtbb-dev \
  googletest libgtest-dev libbenchmark-dev libopenblas-dev \
  g++-aarch64-linux-gnu qemu-user llvm-19 \
  libsimde-dev gnuplot-nox python3-venv python3-dev \
  libopenmpi-dev openmpi-bin >/dev/null
# PyTorch for the Python package's torch tests (scripts/ci-python.sh's venv
# sees python3's own packages). PyPI's only x86 Linux wheel carries CUDA:
# about 5.4 GB and 2.5 min here, once (skipped when torch >= 2.4 is there).
# Without --tests, or with ATTNRT_NO_TORCH=1, the torch tests skip, saying why.
if [ "${1:-}" = --tests ] && [ "${ATTNRT_NO_TORCH:-0}" != 1 ] &&
   ! python3 -c 'import sys, torch; sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 4))' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore torch
fi
echo "attnrt: dependencies installed"
