// The single-core algorithms, written once over a KernelSet. Each runs one
// work item (a Tile of one HeadProblem) with the scratch it is handed.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "kernels/kernel_set.hpp"
#include "kernels/problem.hpp"

namespace attnrt::kernels {

// The values are the C API's ATTNRT_STRATEGY_* (runtime/src/plan.cpp checks).
enum class Strategy : int { online = 1, two_pass = 2, three_pass = 3 };

// Every strategy's one name, as config, tuning files and the bench spell it.
const char* strategy_name(Strategy s);
std::optional<Strategy> strategy_named(std::string_view name);

// Block sizes a plan picks for a pipeline.
struct Blocking {
  // Query rows processed together: Q is packed once per row block and every
  // packed K/V block is reused by all its mr-row strips. A multiple of mr.
  int mb;
  // Keys per block, a multiple of key_step(ks). online: the K/V block whose
  // S and P tiles stay in L1. two_pass: keys of one ring slot (the P panel
  // exp2 writes and P·V reads). three_pass: the K/V packing block inside a
  // staged chunk.
  int nb;
  // The L2 budget of one row block's staged chunk of keys; keys per chunk
  // are the most whose staged data fit (at least nb), and the softmax is
  // exact within a chunk, with one online rescale between chunks.
  // two_pass: the packed K and V of the chunk and one strip's S row block;
  // with direct_kv, the S rows of all the block's strips (K and V are read
  // in place), so chunks run longer.
  // three_pass: S (fp32) and P (packed) of the whole row block.
  // online: unused.
  std::size_t stage_bytes;
  // two_pass: ring slots; exp2 runs pipe_ahead - 1 slots ahead of P·V.
  // Others: unused. >= 1.
  int pipe_ahead;
  // online and two_pass: read K and V in place with the set's direct
  // kernels (FewRowKernels::qk) instead of packing each block, where the
  // set has them (fp16/bf16 inputs: with widen_rows) and either P takes the
  // accurate path or the block has at most pv_rows_max rows (else
  // the flag is ignored: strip.hpp direct_kv). For few query rows per
  // block, where packing costs as much as the math. three_pass: unused (it
  // always packs).
  bool direct_kv = false;
  // The few-row kernels a direct block takes: one of the set's entries
  // (KernelSet::few_rows), the one built for this CPU's stream settings
  // (kernels/tuning.hpp: the runtime's plan names it); null = the first.
  const FewRowKernels* few_rows = nullptr;
};

// The granule of key counts and key offsets: nr (a qk tile never straddles
// two blocks) and k_pack (a P or V slice never splits a packed pair).
int key_step(const KernelSet& ks);

// The most keys a paged K/V stage holds (kv_runs.hpp): one K panel (nr),
// one P block (a_block) or one k_pack group of V rows.
int kv_quantum(const KernelSet& ks);

// Keys per staged chunk for `s` (0 for online), from b.stage_bytes.
int chunk_keys(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b);

// Bytes of scratch one core needs to run `s` on heads of dims d/dv.
std::size_t workspace_bytes(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b);

// Bytes of the largest packed K or V panels `s` asks Workspace::kv_share
// for (online, three_pass: a block of nb keys; two_pass: a chunk).
std::size_t shared_panels_bytes(Strategy s, const KernelSet& ks, int d, int dv, const Blocking& b);

// Runs `s` on one tile. ws.bytes >= workspace_bytes(s, ks, p.d, p.dv, b);
// b.mb and b.nb are multiples of ks.mr and key_step(ks).
void run_pipeline(Strategy s, const KernelSet& ks, const HeadProblem& p, const Tile& t,
                  const Blocking& b, Workspace ws);

}  // namespace attnrt::kernels
