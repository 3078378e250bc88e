#include "mpi/src/blocks.hpp"

#include <algorithm>

namespace attnrt::mpi {

std::vector<Chunk> chunks_of(attnrt_mpi_layout layout, int r, int p, std::int64_t len) {
  switch (layout) {
    case ATTNRT_MPI_CONTEXT_ZIGZAG: {
      const std::int64_t half = len / 2;
      return {{r * half, 0, half}, {(2 * p - 1 - r) * half, half, half}};
    }
    case ATTNRT_MPI_CONTEXT:
    case ATTNRT_MPI_KEYS: return {{r * len, 0, len}};
    case ATTNRT_MPI_HEADS: break;
  }
  return {{0, 0, len}};
}

bool block_call(bool causal, std::int64_t shift, const Chunk& q, const Chunk& k, Call* call) {
  *call = {q.local, q.len, k.local, k.len, -1};
  if (!causal) return true;
  // Local query i sees local key j iff j <= i + d.
  const std::int64_t d = q.global - k.global + shift;
  if (d >= k.len - 1) return true;
  if (q.len - 1 + d < 0) return false;
  // Rows before -d see nothing: start the call at the first row that sees
  // a key, where the diagonal is then at j <= i + (first + d) >= 0.
  const std::int64_t first = std::max<std::int64_t>(0, -d);
  *call = {q.local + first, q.len - first, k.local, k.len, first + d};
  return true;
}

std::vector<Call> plan_step(bool causal, std::int64_t shift, const std::vector<Chunk>& q,
                            const std::vector<Chunk>& k) {
  const std::size_t nq = q.size(), nk = k.size();
  std::vector<Call> pair(nq * nk), calls;
  std::vector<char> seen(nq * nk), full(nq * nk), done(nq * nk);
  for (std::size_t a = 0; a < nq; ++a)
    for (std::size_t b = 0; b < nk; ++b) {
      const std::size_t i = a * nk + b;
      seen[i] = block_call(causal, shift, q[a], k[b], &pair[i]);
      full[i] = seen[i] && pair[i].window_right < 0;
      done[i] = !seen[i];
    }
  // Chunks are consecutive in the rank's tensor and in the ring buffer, so
  // runs of fully visible pairs are one call over the union.
  const std::int64_t q_all = q.back().local + q.back().len - q.front().local;
  const std::int64_t k_all = k.back().local + k.back().len - k.front().local;
  if (std::all_of(full.begin(), full.end(), [](char f) { return f; }))
    return {{q.front().local, q_all, k.front().local, k_all, -1}};
  for (std::size_t a = 0; a < nq && nk > 1; ++a) {
    bool row = true;
    for (std::size_t b = 0; b < nk; ++b) row = row && full[a * nk + b];
    if (!row) continue;
    calls.push_back({q[a].local, q[a].len, k.front().local, k_all, -1});
    for (std::size_t b = 0; b < nk; ++b) done[a * nk + b] = 1;
  }
  for (std::size_t b = 0; b < nk && nq > 1; ++b) {
    bool col = true;
    for (std::size_t a = 0; a < nq; ++a) col = col && full[a * nk + b] && !done[a * nk + b];
    if (!col) continue;
    calls.push_back({q.front().local, q_all, k[b].local, k[b].len, -1});
    for (std::size_t a = 0; a < nq; ++a) done[a * nk + b] = 1;
  }
  for (std::size_t i = 0; i < nq * nk; ++i)
    if (!done[i]) calls.push_back(pair[i]);
  return calls;
}

}  // namespace attnrt::mpi
