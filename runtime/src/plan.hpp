// The plan table: strategy, block sizes and head grouping per (kernel set,
// dtype, D, M, N). Rules from ATTNRT_TUNING_FILE (tuning.hpp) come before
// the built-in ones; the first rule that matches wins, and the requested
// strategy (the call's, then the config's) overrides the rule's.
#pragma once

#include <attnrt/attnrt.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/pipelines/pipeline.hpp"

namespace attnrt::rt {

struct Plan {
  kernels::Strategy strategy;
  kernels::Blocking blocking;
  // One work item per (batch, KV head): the query heads sharing the KV head
  // are packed into its rows, so K and V are read once for all of them.
  bool group_heads;
  // The kernel set the plan was made for, when it is not the runtime's set
  // for the dtype (Runtime::choose: a few-row shape whose set has no direct
  // K/V path; the bench's GEMM-only ceiling set); null = that set.
  const kernels::KernelSet* kernel_set = nullptr;
  // Whether a head's keys may be split over workers, the pieces merged by
  // their log-sum-exp. The bench's GEMM-only ceiling has none to merge by.
  bool split_keys = true;
};

// What the table is keyed on, for one call.
struct PlanShape {
  kernels::DType dtype;
  int d, dv;
  std::int64_t m, n;   // query rows per head, keys
  std::int64_t group;  // query heads per KV head
  // How much parallel work there is: query heads over the batch (B x Hq) and
  // the workers that will share them. Row blocks are kept small enough that
  // every worker has a few.
  std::int64_t heads = 1;
  int workers = 1;
  // A core's share of its domain's L2 (Placement::l2_share_bytes); 0 =
  // unknown. three_pass stages S in half of it.
  std::size_t l2_share_bytes = 0;
};

// An inclusive range of sizes; hi < 0 is unbounded.
struct SizeRange {
  std::int64_t lo, hi;
  bool contains(std::int64_t x) const { return x >= lo && (hi < 0 || x <= hi); }
};

// One line of the table. Zero block sizes take the defaults the planner
// derives from the kernel set (see plan.cpp).
struct PlanRule {
  std::string isa;          // kernel set name; empty = any
  int dtype;                // kernels::DType; -1 = any
  int d;                    // head dim of Q and K; 0 = any
  SizeRange m, n;
  kernels::Strategy strategy;
  int mb, nb;
  std::size_t stage_bytes;
  int pipe_ahead;
  // Blocking::direct_kv: 1 on, 0 off, -1 the planner's default (where the
  // kernel set has the direct kernels; see plan.cpp).
  int direct = -1;
};

using PlanTable = std::vector<PlanRule>;

// Key blocks (ring slots) of a two_pass plan for one query row read in
// place, where the set's one-row P·V reads two streams: each block's K and
// then its V stream as long as this, so the hardware prefetchers restart
// at a switch between them less often. Zen 4 VM, attnrt-ab S5 (B4 H32 M1
// N4096 D128), one thread, 10-12 pairs, against blocks of 1024 keys: bf16
// 1.030, fp32 1.030, int8 K/V 1.046; B1 H32 N16384 1.019, B1 H8 N32768
// 1.040 (bf16); two threads 0.997-1.012; 8192 keys alike.
inline constexpr int kOneRowBlockKeys = 4096;

// The plan for a call: the first rule of `tuning`, then of the built-in
// table, that matches; `requested` (unless AUTO) replaces its strategy.
// Throws Failure (ATTNRT_UNSUPPORTED) if that strategy is not built.
Plan choose_plan(const kernels::KernelSet& ks, const PlanShape& s, attnrt_strategy requested,
                 const PlanTable& tuning);

// Shrinks a plan until one worker's workspace for heads of dims d/dv is at
// most `budget` bytes: row blocks halve first, then a staged chunk, then the
// key block, each down to its smallest useful size. The arena is sized when
// the runtime is made, for the plans of the head dims and lengths
// largest_workspace() lists; between those a plan can need a little more
// (rows rounded up to mr, Dv padded to nv), and this keeps such a call
// running on a slightly smaller plan instead of failing. False if even the
// smallest plan does not fit (then the arena is wrong).
bool fit_workspace(const kernels::KernelSet& ks, int d, int dv, std::size_t budget, Plan& plan);

// The multiply-adds a call of shape `s` issues on `ks`'s tiles, padding
// included: a head's (or a stacked group's) rows rounded up to mr, keys to
// nr for Q·Kᵀ, Dv to nv for P·V. Between sets of one ISA with other tiles
// (A64FX fp32: 8x3 and 12x2) a call takes the one that pads least.
double padded_work(const kernels::KernelSet& ks, const PlanShape& s);

// Query rows of one block of a call of shape `s`: a head's rows, or a GQA
// group's rows stacked where the planner groups heads (Plan::group_heads).
std::int64_t block_rows(const PlanShape& s);

// Checks a plan given in full (plan_override.hpp); throws Failure
// (ATTNRT_INVALID_ARGUMENT) naming the field that breaks a rule.
void check_plan(const kernels::KernelSet& ks, const Plan& plan);

}  // namespace attnrt::rt
