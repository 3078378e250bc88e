// Which attnrt calls one ring step makes: a rank's query chunks against the
// key chunks at hand, each pair fully visible, cut by the global band of
// visible keys (causal diagonal, sliding window), or fully masked (skipped).
// Pure functions, tested without MPI.
#pragma once

#include <attnrt/attnrt_mpi.h>

#include <cstdint>
#include <limits>
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

// How many of chunk c's positions lie before `len` (a sequence's length).
inline std::int64_t before(const Chunk& c, std::int64_t len) {
  return len <= c.global ? 0 : len - c.global < c.len ? len - c.global : c.len;
}

// The global position of local row `local` of the chunks (in one of them).
std::int64_t global_of(const std::vector<Chunk>& chunks, std::int64_t local);

// The keys a query sees in the global problem: query x sees key y iff
// lo <= y - (x + shift) <= hi, shift = N - M bottom-right, 0 top-left (the
// core's diagonal); kUnbounded where a side has no bound.
struct Visible {
  static constexpr std::int64_t kUnbounded = std::numeric_limits<std::int64_t>::max();
  std::int64_t lo = -kUnbounded, hi = kUnbounded;
  bool bounded_lo() const { return lo != -kUnbounded; }
  bool bounded_hi() const { return hi != kUnbounded; }
};

// The band of the core's causal, window_left and window_right (causal caps
// the right side at the diagonal).
Visible visible_of(const attnrt_params& p);

// One attnrt call: query rows [q0, q0 + q_len) of the rank's tensor against
// keys [k0, k0 + k_len) of the block at hand, query row q0 + i seeing keys
// k0 + j with i + diag - window_left <= j <= i + diag + window_right (-1:
// unbounded), diag = k_len - q_len bottom-right, else 0 (top-left). offset:
// a key's global distance from the diagonal (y - x - shift) less its local
// one (j - i - diag), the same for every pair of the call (ALiBi's bias
// moves by slope * offset); only for calls of one query chunk and one key
// chunk. Bottom-right where it can say the band: a few rows against many
// keys then see biases near 0, not near slope * k_len, and the core's fp32
// LSE keeps its precision.
struct Call {
  std::int64_t q0, q_len, k0, k_len, window_left, window_right, offset;
  bool bottom_right = false;
  bool operator==(const Call&) const = default;
};

// What query chunk q sees of key chunk k under `band`, trimmed to the rows
// that see a key and the keys some row sees. Returns false when nothing.
bool block_call(const Visible& band, std::int64_t shift, const Chunk& q, const Chunk& k, Call* call);

// The calls of one step in a fixed order. With `fuse`, fully visible pairs
// side by side become as few calls as the chunk layout allows (all of Q
// against all of K, a query chunk against all keys, all of Q against a key
// chunk); without it (ALiBi: a call's offset must be one number) one call
// per pair.
std::vector<Call> plan_step(const Visible& band, std::int64_t shift, const std::vector<Chunk>& q,
                            const std::vector<Chunk>& k, bool fuse = true);

// A step's calls over paged K/V, each starting on a page (a block-table
// slot) of `page` keys: a call cut to start mid-page is widened back to the
// page's first key, bottom-right, so that its band and offset stay as they
// were and the keys put before it fall outside the band. Every call plan_step
// cuts so is bottom-right (near_diagonal) with its first row seeing its first
// key, which is what that needs; std::logic_error for a call that is not.
std::vector<Call> page_aligned(std::vector<Call> calls, std::int64_t page);

}  // namespace attnrt::mpi
