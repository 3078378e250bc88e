// two_pass: per mr-row strip, first the S row block over a whole chunk of
// keys and its row max (pass 1), then exp2 and P·V interleaved through a
// ring of pipe_ahead P panels (pass 2): exp2 writes slot j + pipe_ahead - 1
// while P·V reads slot j, so a panel is consumed well after its stores and
// the exp2 work sits between P·V calls rather than in front of them.
//
// The softmax is exact (no rescale) when the visible keys fit one chunk;
// longer key ranges run chunk by chunk with one online rescale between
// chunks. The chunk's K and V are packed once per row block and reused by
// every strip, or in direct mode read in place (the chunk, sized as if
// packed, then stays in L2 for the strips).
#include "kernels/pipelines/two_pass.hpp"

#include <algorithm>

#include "kernels/pipelines/strip.hpp"
#include "kernels/pipelines/workspace_layout.hpp"

namespace attnrt::kernels {
namespace {

constexpr int kSkew = 16;  // floats added to the S row stride, against L1 set conflicts

// Ring slots start an odd number of cache lines apart, so consecutive slots
// fall into different L1 sets whatever the (power of two) set count.
std::size_t slot_stride(std::size_t bytes) {
  const std::size_t lines = align_up(bytes) / kAlign;
  return (lines | 1) * kAlign;
}

struct TwoPassBuffers {
  RowBlock rb;
  std::byte* k_panels;  // the chunk's K and V
  std::byte* v_panels;
  float* s;             // one strip's S row block, mr x lds
  std::byte* ring;      // pipe_ahead P panels of nb keys
  std::size_t slot;     // bytes from one slot to the next
  std::int64_t lds;
  int chunk;
};

TwoPassBuffers carve(const KernelSet& ks, int d, int dv, const Blocking& b, void* base,
                     std::size_t* bytes) {
  Carver c(base);
  TwoPassBuffers w{};
  carve_row_block(c, ks, d, dv, b, &w.rb);
  w.chunk = two_pass_chunk_keys(ks, d, dv, b);
  w.lds = w.chunk + kSkew;
  w.k_panels = c.take(k_panels_bytes(ks, w.chunk, d));
  w.v_panels = c.take(v_panels_bytes(ks, w.chunk, dv));
  w.s = c.take<float>(sizeof(float) * ks.mr * w.lds);
  w.slot = slot_stride(a_panels_bytes(ks, ks.mr, b.nb));
  w.ring = c.take(w.slot * b.pipe_ahead);
  if (bytes) *bytes = c.used();
  return w;
}

// Pass 2 of one strip over S columns c (relative to the chunk at key0).
void exp2_pv_ring(const KernelSet& ks, const HeadProblem& p, const Blocking& b,
                  const TwoPassBuffers& w, const Strip& s, Cols c, const float* m_safe,
                  const KvSource& kv) {
  const int tiles = (c.count() + b.nb - 1) / b.nb;
  const int ahead = b.pipe_ahead - 1;
  auto col = [&](int j) { return c.c0 + j * b.nb; };
  auto width = [&](int j) { return std::min(b.nb, c.c1 - col(j)); };
  auto slot = [&](int j) { return w.ring + (j % b.pipe_ahead) * w.slot; };
  auto produce = [&](int j) {
    write_p(ks, p, s, w.rb, w.s + col(j), w.lds, width(j), m_safe, slot(j));
  };
  for (int j = 0; j < std::min(ahead, tiles); ++j) produce(j);
  for (int j = 0; j < tiles; ++j) {
    if (j + ahead < tiles) produce(j + ahead);
    strip_pv(ks, s, w.rb, round_up(width(j), ks.k_pack), slot(j), kv, col(j));
  }
}

void row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
               TwoPassBuffers& w, int r0, int r1) {
  begin_row_block(ks, p, direct_kv(ks, p, b), r0, r1, &w.rb);
  const KeyRange block = visible_keys(p, t, r0, r1);
  const int strips = strip_count(ks, w.rb);
  for (std::int64_t k0 = first_block(t, block, w.chunk); k0 < block.hi; k0 += w.chunk) {
    const int ck = static_cast<int>(std::min<std::int64_t>(w.chunk, block.hi - k0));
    const KvSource kv = stage_kv(ks, p, w.rb, k0, ck, w.k_panels, w.v_panels);
    for (int st = 0; st < strips; ++st) {
      const Strip s = strip_of(ks, p, t, w.rb, st);
      const KeyRange keys = s.keys.clip(k0, k0 + ck);
      if (keys.empty()) continue;
      const Cols c = strip_scores(ks, p, t, s, w.rb, kv, keys, w.s, w.lds);
      const float* m_safe = update_max(ks, p, s, w.rb, w.s + c.c0, w.lds, c.count());
      exp2_pv_ring(ks, p, b, w, s, c, m_safe, kv);
    }
  }
  end_row_block(ks, p, &w.rb);
}

}  // namespace

int two_pass_chunk_keys(const KernelSet& ks, int d, int dv, const Blocking& b) {
  // Per key: its packed K row and V column, and one S column of the strip.
  const std::size_t per_key =
      (static_cast<std::size_t>(round_up(d, ks.k_pack)) + round_up(dv, ks.nv)) * ks.packed_elem +
      sizeof(float) * ks.mr;
  const std::size_t fixed = sizeof(float) * ks.mr * kSkew;
  const std::size_t fit = b.stage_bytes > fixed ? (b.stage_bytes - fixed) / per_key : 0;
  const int step = key_step(ks);
  const int keys = static_cast<int>(std::min<std::size_t>(fit, 1 << 24)) / step * step;
  return std::max(keys, b.nb);
}

std::size_t two_pass_workspace_bytes(const KernelSet& ks, int d, int dv, const Blocking& b) {
  std::size_t bytes = 0;
  carve(ks, d, dv, b, nullptr, &bytes);
  return bytes;
}

void two_pass_forward(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
                      Workspace ws) {
  TwoPassBuffers w = carve(ks, p.d, p.dv, b, ws.data, nullptr);
  for (int r0 = t.row_begin; r0 < t.row_end; r0 += b.mb)
    row_block(ks, p, t, b, w, r0, std::min(t.row_end, r0 + b.mb));
}

}  // namespace attnrt::kernels
