// two_pass: per mr-row strip, first the S row block over a whole chunk of
// keys and its row max (pass 1), then exp2 and P·V interleaved through a
// ring of pipe_ahead P panels (pass 2): exp2 writes slot j + pipe_ahead - 1
// while P·V reads slot j, so a panel is consumed well after its stores and
// the exp2 work sits between P·V calls rather than in front of them.
//
// The softmax is exact (no rescale) when the visible keys fit one chunk;
// longer key ranges run chunk by chunk with one online rescale between
// chunks. The chunk's K and V are packed once per row block and reused by
// every strip, or in direct mode read in place, once for all the block's
// strips (they move in step), so that only their S rows are staged.
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

int direct_chunk_keys(const KernelSet& ks, const Blocking& b) {
  // K and V are read in place, once per chunk for all the block's strips
  // (strips_in_step): the stage holds only their S rows. Longer chunks
  // switch between the K and the V stream less often, each switch a few
  // keys read before the prefetches run ahead: S4 (B1 H2 M12 N32768 D256,
  // Zen 5) at 64% of the FMA peak with 280-key chunks, 68% with 1170,
  // 70-71% with 2340 to 9362 (this, S in 512 KiB).
  const std::size_t per_key = sizeof(float) * round_up(b.mb, ks.mr);
  const std::size_t fit = b.stage_bytes / per_key;
  const int step = key_step(ks);
  const int keys = static_cast<int>(std::min<std::size_t>(fit, 1 << 24)) / step * step;
  return std::max(keys, b.nb);
}

struct TwoPassBuffers {
  RowBlock rb;
  std::byte* k_panels;  // the chunk's K and V
  std::byte* v_panels;
  float* s;             // S row blocks of the strips in step, mr x lds each
  std::byte* ring;      // pipe_ahead slots, each the strips' P panels of nb keys
  std::size_t slot;     // bytes from one slot to the next
  std::size_t p_panel;  // bytes of one strip's P panel in a slot
  Cols* tile;           // the strips' S columns of one ring slot
  std::int64_t lds;
  int chunk;         // keys per chunk, K and V packed
  int direct_chunk;  // in direct mode (b.direct_kv)
  KvShare* share;    // chunks other cores may pack (Workspace::kv_share)
};

TwoPassBuffers carve(const KernelSet& ks, int d, int dv, const Blocking& b, void* base,
                     std::size_t* bytes) {
  Carver c(base);
  TwoPassBuffers w{};
  carve_row_block(c, ks, d, dv, b, &w.rb);
  w.chunk = two_pass_chunk_keys(ks, d, dv, b);
  w.direct_chunk = b.direct_kv ? direct_chunk_keys(ks, b) : w.chunk;
  w.lds = std::max(w.chunk, w.direct_chunk) + kSkew;
  w.k_panels = c.take(k_panels_bytes(ks, w.chunk, d));
  w.v_panels = c.take(v_panels_bytes(ks, w.chunk, dv));
  // Direct mode moves every strip of a row block in step (strips_in_step).
  const int strips = b.direct_kv ? round_up(b.mb, ks.mr) / ks.mr : 1;
  w.s = c.take<float>(sizeof(float) * strips * ks.mr * w.lds);
  w.p_panel = a_panels_bytes(ks, ks.mr, b.nb);
  w.slot = slot_stride(w.p_panel * strips);
  w.ring = c.take(w.slot * b.pipe_ahead);
  w.tile = c.take<Cols>(sizeof(Cols) * strips);
  carve_banks(c, ks, b, &w.rb);
  if (bytes) *bytes = c.used();
  return w;
}

// Pass 2 of the group's n strips (rb.strips, S columns rb.cols relative to
// the chunk), nb columns of each per ring slot.
void exp2_pv_ring(const KernelSet& ks, const Blocking& b,
                  const TwoPassBuffers& w, int n, const KvSource& kv) {
  const RowBlock& rb = w.rb;
  int tiles = 0;
  for (int i = 0; i < n; ++i) tiles = std::max(tiles, (rb.cols[i].count() + b.nb - 1) / b.nb);
  const int ahead = b.pipe_ahead - 1;
  auto tile = [&](int i, int j) {
    const Cols c = rb.cols[i];
    const int lo = c.c0 + j * b.nb;
    return lo < c.c1 ? Cols{lo, std::min(c.c1, lo + b.nb)} : Cols{0, 0};
  };
  auto slot = [&](int j) { return w.ring + (j % b.pipe_ahead) * w.slot; };
  auto produce = [&](int j) {
    for (int i = 0; i < n; ++i) {
      const Cols c = tile(i, j);
      if (c.count() <= 0) continue;
      const Strip& s = rb.strips[i];
      write_p(ks, s, rb, strip_s(ks, w.s, w.lds, i) + c.c0, w.lds,
              c.count(), safe_max(rb, s), slot(j) + i * w.p_panel);
    }
  };
  for (int j = 0; j < std::min(ahead, tiles); ++j) produce(j);
  for (int j = 0; j < tiles; ++j) {
    if (j + ahead < tiles) produce(j + ahead);
    for (int i = 0; i < n; ++i) w.tile[i] = tile(i, j);
    strips_pv(ks, rb, w.tile, n, slot(j), w.p_panel, kv);
  }
}

void row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
               TwoPassBuffers& w, int r0, int r1) {
  begin_row_block(ks, p, direct_kernels(ks, p, b, r1 - r0), r0, r1, &w.rb);
  const KeyRange block = visible_keys(p, t, r0, r1);
  const int strips = strip_count(ks, w.rb), step = strips_in_step(ks, w.rb);
  const int chunk = w.rb.direct() ? w.direct_chunk : w.chunk;
  for (std::int64_t k0 = first_block(t, block, chunk); k0 < block.hi; k0 += chunk) {
    if (bank_due(k0 - chunk, k0, kBankKeys)) bank_sums(ks, w.rb);
    const int ck = static_cast<int>(std::min<std::int64_t>(chunk, block.hi - k0));
    const KvSource kv = stage_kv(ks, p, w.rb, k0, ck, w.k_panels, w.v_panels, w.share);
    for (int st0 = 0; st0 < strips; st0 += step) {
      const int n = std::min(step, strips - st0);
      if (!group_scores(ks, p, t, w.rb, kv, k0, k0 + ck, st0, n, w.s, w.lds)) continue;
      for (int i = 0; i < n; ++i) {
        const Cols c = w.rb.cols[i];
        if (c.count() > 0)
          update_max(ks, w.rb.strips[i], w.rb, strip_s(ks, w.s, w.lds, i) + c.c0, w.lds, c.count());
      }
      exp2_pv_ring(ks, b, w, n, kv);
    }
    unstage_kv(kv);
  }
  end_row_block(ks, p, t, &w.rb);
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
  w.share = ws.kv_share;
  for (int r0 = t.row_begin; r0 < t.row_end; r0 += b.mb)
    row_block(ks, p, t, b, w, r0, std::min(t.row_end, r0 + b.mb));
}

}  // namespace attnrt::kernels
