#include "mpi/src/blocks.hpp"

#include <algorithm>
#include <stdexcept>

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

std::int64_t global_of(const std::vector<Chunk>& chunks, std::int64_t local) {
  for (const Chunk& c : chunks)
    if (local >= c.local && local < c.local + c.len) return c.global + (local - c.local);
  return -1;
}

Visible visible_of(const attnrt_params& p) {
  Visible v;
  if (p.window_left >= 0) v.lo = -p.window_left;
  if (p.window_right >= 0) v.hi = p.window_right;
  if (p.causal) v.hi = std::min<std::int64_t>(v.hi, 0);
  return v;
}

bool block_call(const Visible& band, std::int64_t shift, const Chunk& q, const Chunk& k, Call* call) {
  // Local query i sees local key j iff i + d + lo <= j <= i + d + hi.
  const std::int64_t d = q.global - k.global + shift;
  const bool all_lo = !band.bounded_lo() || q.len - 1 + d + band.lo <= 0;
  const bool all_hi = !band.bounded_hi() || d + band.hi >= k.len - 1;
  if (all_lo && all_hi) {
    *call = {q.local, q.len, k.local, k.len, -1, -1, -d};
    return true;
  }
  // Rows [first, end) see a key; keys [kfirst, kend) are seen by one of them.
  const std::int64_t first = band.bounded_hi() ? std::max<std::int64_t>(0, -(d + band.hi)) : 0;
  const std::int64_t end = band.bounded_lo() ? std::min(q.len, k.len - d - band.lo) : q.len;
  if (first >= end) return false;
  const std::int64_t kfirst = band.bounded_lo() ? std::max<std::int64_t>(0, first + d + band.lo) : 0;
  const std::int64_t kend = band.bounded_hi() ? std::min(k.len, end + d + band.hi) : k.len;
  if (kfirst >= kend) return false;
  // From row `first` and key `kfirst` on, the band is i + e + lo <= j <= i + e + hi.
  const std::int64_t e = first + d - kfirst;
  *call = {q.local + first, end - first, k.local + kfirst, kend - kfirst,
           band.bounded_lo() ? -(e + band.lo) : -1, band.bounded_hi() ? e + band.hi : -1, -e};
  return true;
}

namespace {
// The call bottom-right aligned where that says the same band (its right
// side not before the diagonal it moves to).
Call near_diagonal(Call c) {
  const std::int64_t diag = c.k_len - c.q_len;
  if (diag <= 0 || (c.window_right >= 0 && c.window_right < diag)) return c;
  if (c.window_left >= 0) c.window_left += diag;
  if (c.window_right >= 0) c.window_right -= diag;
  c.offset += diag;
  c.bottom_right = true;
  return c;
}
}  // namespace

std::vector<Call> plan_step(const Visible& band, std::int64_t shift, const std::vector<Chunk>& q,
                            const std::vector<Chunk>& k, bool fuse) {
  const std::size_t nq = q.size(), nk = k.size();
  std::vector<Call> pair(nq * nk), calls;
  std::vector<char> seen(nq * nk), full(nq * nk), done(nq * nk);
  for (std::size_t a = 0; a < nq; ++a)
    for (std::size_t b = 0; b < nk; ++b) {
      const std::size_t i = a * nk + b;
      seen[i] = block_call(band, shift, q[a], k[b], &pair[i]);
      pair[i] = near_diagonal(pair[i]);
      full[i] = fuse && seen[i] && pair[i].window_left < 0 && pair[i].window_right < 0;
      done[i] = !seen[i];
    }
  // Chunks are consecutive in the rank's tensor and in the ring buffer, so
  // runs of fully visible pairs are one call over the union (its offset has
  // no meaning: fused only without ALiBi).
  const std::int64_t q_all = q.back().local + q.back().len - q.front().local;
  const std::int64_t k_all = k.back().local + k.back().len - k.front().local;
  if (std::all_of(full.begin(), full.end(), [](char f) { return f; }))
    return {{q.front().local, q_all, k.front().local, k_all, -1, -1, 0}};
  for (std::size_t a = 0; a < nq && nk > 1; ++a) {
    bool row = true;
    for (std::size_t b = 0; b < nk; ++b) row = row && full[a * nk + b];
    if (!row) continue;
    calls.push_back({q[a].local, q[a].len, k.front().local, k_all, -1, -1, 0});
    for (std::size_t b = 0; b < nk; ++b) done[a * nk + b] = 1;
  }
  for (std::size_t b = 0; b < nk && nq > 1; ++b) {
    bool col = true;
    for (std::size_t a = 0; a < nq; ++a) col = col && full[a * nk + b] && !done[a * nk + b];
    if (!col) continue;
    calls.push_back({q.front().local, q_all, k[b].local, k[b].len, -1, -1, 0});
    for (std::size_t a = 0; a < nq; ++a) done[a * nk + b] = 1;
  }
  for (std::size_t i = 0; i < nq * nk; ++i)
    if (!done[i]) calls.push_back(pair[i]);
  return calls;
}

std::vector<Call> page_aligned(std::vector<Call> calls, std::int64_t page) {
  for (Call& c : calls) {
    // Keys put before the call move its bottom-right diagonal with them, so
    // its band stays where it was if no row saw a key before its first (row
    // 0's first key, diag - window_left, not negative).
    const std::int64_t more = c.k0 % page, diag = c.k_len - c.q_len;
    if (more == 0) continue;
    if (!(c.bottom_right || diag == 0) || c.window_left < 0 || c.window_left > diag)
      throw std::logic_error("attnrt_mpi: a call starting mid-page that bottom-right cannot say");
    c.bottom_right = true;  // (the same frame as top-left when diag is 0)
    c.k0 -= more;
    c.k_len += more;
  }
  return calls;
}

}  // namespace attnrt::mpi
