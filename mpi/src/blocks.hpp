// Which attnrt calls one ring step makes: a rank's query chunks against the
// key chunks at hand, each pair fully visible, cut by the global causal
// diagonal, or fully masked (skipped). Pure functions, tested without MPI.
#pragma once

#include <attnrt/attnrt_mpi.h>

#include <cstdint>
#include <vector>

namespace attnrt::mpi {

// A run of consecutive global positions that a rank holds.
struct Chunk {
  std::int64_t global;  // first position in the global sequence
  std::int64_t local;   // first row in the rank's tensor (or ring buffer)
  std::int64_t len;
};

// The chunks rank r of p holds of a sequence of which it has `len` rows.
std::vector<Chunk> chunks_of(attnrt_mpi_layout layout, int r, int p, std::int64_t len);

// One attnrt call: query rows [q0, q0 + q_len) of the rank's tensor against
// keys [k0, k0 + k_len) of the block at hand. window_right -1: every key
// visible; else top-left aligned, query row q0 + i sees keys k0 + j with
// j <= i + window_right (rows before q0 of the pair see no key at all).
struct Call {
  std::int64_t q0, q_len, k0, k_len, window_right;
  bool operator==(const Call&) const = default;
};

// What query chunk q sees of key chunk k when query position x sees key
// position y iff y <= x + shift (causal; shift = N - M bottom-right, 0
// top-left), or everything (not causal). Returns false when nothing.
bool block_call(bool causal, std::int64_t shift, const Chunk& q, const Chunk& k, Call* call);

// The calls of one step, fully visible pairs fused into as few calls as the
// chunk layout allows (all of Q against all of K, a query chunk against all
// keys, all of Q against a key chunk), in a fixed order.
std::vector<Call> plan_step(bool causal, std::int64_t shift, const std::vector<Chunk>& q,
                            const std::vector<Chunk>& k);

}  // namespace attnrt::mpi
