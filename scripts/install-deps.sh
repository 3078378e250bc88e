#!/usr/bin/env bash
# Installs everything attnrt builds, tests and benchmarks with, on Debian 12.
# Usage: bash scripts/install-deps.sh   (as root, or with sudo available)
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git \
  libhwloc-dev hwloc-nox libnuma-dev libtbb-dev \
  googletest libgtest-dev libbenchmark-dev libopenblas-dev \
  g++-aarch64-linux-gnu qemu-user llvm-19 \
  libsimde-dev gnuplot-nox >/dev/null
echo "attnrt: dependencies installed"
