// Plan rules from a tuning file (ATTNRT_TUNING_FILE), written by
// `attnrt-bench --tune` or by hand; they come before the built-in table.
//
// Format: one rule per line; '#' starts a comment; blank lines are skipped.
//
//   # isa     dtype  D    M       N          strategy    mb  nb   stage  pipe_ahead  [kv]
//   avx512    f32    128  1-16    1024-*  -> two_pass    16  128  512K   2
//   avx2      f32    *    1-16    1024-*  -> two_pass    6   128  512K   2           direct
//   *         bf16   *    *       *       -> online      64  256  0      0
//
//   isa         a kernel set name (as ATTNRT_ISA takes it) or * for any
//   dtype       f32, f16, bf16 or *
//   D           head dim of Q and K, or * for any
//   M, N        query rows per head, keys: a number, LO-HI, LO-* or *
//               (lengths up to 2^31 - 1, as calls take them)
//   ->          separates what is matched from what is chosen
//   strategy    online, two_pass or three_pass
//   mb, nb      rows and keys per block (rounded up to the kernel set's tiles)
//   stage       bytes of a row block's staged chunk; optional K or M suffix
//   pipe_ahead  two_pass ring slots
//   kv          optional: direct (K and V read in place, where the kernel set
//               has the direct kernels and the inputs are fp32), packed, or
//               * (absent: the planner's default; Blocking::direct_kv)
// A zero size takes the planner's default. The first matching rule wins.
// A rule whose plans need more than 256 MiB of workspace per worker is
// refused when the runtime is made (runtime.cpp, kMaxWorkspaceBytes).
// Any malformed line is an error naming the variable, the file and the line.
#pragma once

#include <string>

#include "runtime/src/plan.hpp"

namespace attnrt::rt {

// Parses the tuning file at `path`; `what` names its source in errors
// (e.g. "ATTNRT_TUNING_FILE"). Throws Failure (ATTNRT_CONFIG_ERROR).
PlanTable load_tuning_file(const char* what, const std::string& path);

// The rules of the file ATTNRT_TUNING_FILE names; none if it is unset.
PlanTable load_tuning_from_env();

// One rule as a line of the format above (no newline), for writers of
// tuning files such as `attnrt-bench --tune`; load_tuning_file reads it back.
std::string tuning_line(const PlanRule& rule);

}  // namespace attnrt::rt
