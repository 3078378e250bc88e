#!/bin/sh
# Runs an AArch64 program under qemu-aarch64 with the CPU named by
# ATTNRT_QEMU_CPU (default a64fx: 512-bit SVE) and a time limit
# (ATTNRT_QEMU_TIMEOUT seconds, default 600): qemu hangs are silent.
# ATTNRT_QEMU_PRELOAD: a library preloaded into qemu itself, not the program
# (-U keeps it from the program; scripts/ci-sve.sh sets qemu-hide-avx2.c's
# on Intel hosts).
exec timeout --kill-after=10 "${ATTNRT_QEMU_TIMEOUT:-600}" \
  env ${ATTNRT_QEMU_PRELOAD:+LD_PRELOAD="$ATTNRT_QEMU_PRELOAD"} \
  qemu-aarch64 -U LD_PRELOAD -cpu "${ATTNRT_QEMU_CPU:-a64fx}" -L /usr/aarch64-linux-gnu "$@"
