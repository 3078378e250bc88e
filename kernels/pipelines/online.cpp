// online: FlashAttention-2 style. For each block of keys, an mr-row strip of
// S is computed into L1, its running max updated, the output accumulator
// rescaled where the max moved, and P·V accumulated. K and V blocks are
// packed once per block and reused by every row strip of the row block, or
// in direct mode read in place (the block then stays in L2 for the strips).
#include "kernels/pipelines/online.hpp"

#include <algorithm>

#include "kernels/pipelines/strip.hpp"
#include "kernels/pipelines/workspace_layout.hpp"

namespace attnrt::kernels {
namespace {

struct OnlineBuffers {
  RowBlock rb;
  std::byte* k_panels;  // one block of nb keys
  std::byte* v_panels;
  float* s;             // one strip's S tile, mr x lds (direct: every strip's)
  std::byte* p;         // its P panel [nb][mr] (direct: every strip's)
  std::size_t p_panel;  // bytes of one P panel
  Strip* strips;        // direct: the block's strips and their S columns
  Cols* cols;
  std::int64_t lds;
};

OnlineBuffers carve(const KernelSet& ks, int d, int dv, const Blocking& b, void* base,
                    std::size_t* bytes) {
  Carver c(base);
  OnlineBuffers o{};
  carve_row_block(c, ks, d, dv, b, &o.rb);
  o.lds = b.nb + 16;  // a little skew so strip rows do not share L1 sets
  o.k_panels = c.take(k_panels_bytes(ks, b.nb, d));
  o.v_panels = c.take(v_panels_bytes(ks, b.nb, dv));
  // Direct mode runs every strip of a row block in step: S and P for each.
  const int strips = b.direct_kv ? round_up(b.mb, ks.mr) / ks.mr : 1;
  o.s = c.take<float>(sizeof(float) * strips * ks.mr * o.lds);
  o.p_panel = a_panels_bytes(ks, ks.mr, b.nb);
  o.p = c.take(o.p_panel * strips);
  o.strips = c.take<Strip>(sizeof(Strip) * strips);
  o.cols = c.take<Cols>(sizeof(Cols) * strips);
  if (bytes) *bytes = c.used();
  return o;
}

// One key block of every strip in step, K and V read in place (see
// block_scores): raw scores of all rows, then each strip's softmax step and
// P, then P·V across the strips.
void direct_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, OnlineBuffers& w,
                  KeyRange block, const KvSource& kv, int strips) {
  block_scores(ks, p, w.rb, kv, block, w.s, w.lds);
  for (int st = 0; st < strips; ++st) {
    const Strip& s = w.strips[st] = strip_of(ks, p, t, w.rb, st);
    float* sc = w.s + static_cast<std::int64_t>(st) * ks.mr * w.lds;
    const KeyRange keys = s.keys.clip(block.lo, block.hi);
    Cols& c = w.cols[st] = keys.empty() ? Cols{0, 0} : finish_strip_scores(ks, p, t, s, kv.key0, keys, sc, w.lds);
    if (c.count() <= 0) continue;
    const float* m_safe = update_max(ks, p, s, w.rb, sc + c.c0, w.lds, c.count());
    write_p(ks, p, s, w.rb, sc + c.c0, w.lds, c.count(), m_safe, w.p + st * w.p_panel);
  }
  strips_pv(ks, w.rb, w.strips, w.cols, strips, w.p, w.p_panel, kv);
}

void row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
               OnlineBuffers& w, int r0, int r1) {
  begin_row_block(ks, p, direct_kv(ks, p, b), r0, r1, &w.rb);
  const KeyRange block = visible_keys(p, t, r0, r1);
  const int strips = strip_count(ks, w.rb);
  for (std::int64_t k0 = first_block(t, block, b.nb); k0 < block.hi; k0 += b.nb) {
    const int kb = static_cast<int>(std::min<std::int64_t>(b.nb, block.hi - k0));
    const KvSource kv = stage_kv(ks, p, w.rb, k0, kb, w.k_panels, w.v_panels);
    if (w.rb.direct) {
      direct_block(ks, p, t, w, block.clip(k0, k0 + kb), kv, strips);
      continue;
    }
    for (int st = 0; st < strips; ++st) {
      const Strip s = strip_of(ks, p, t, w.rb, st);
      const KeyRange keys = s.keys.clip(k0, k0 + kb);
      if (keys.empty()) continue;
      const Cols c = strip_scores(ks, p, t, s, w.rb, kv, keys, w.s, w.lds);
      const float* sc = w.s + c.c0;
      const float* m_safe = update_max(ks, p, s, w.rb, sc, w.lds, c.count());
      write_p(ks, p, s, w.rb, sc, w.lds, c.count(), m_safe, w.p);
      strip_pv(ks, s, w.rb, round_up(c.count(), ks.k_pack), w.p, kv, c.c0);
    }
  }
  end_row_block(ks, p, &w.rb);
}

}  // namespace

std::size_t online_workspace_bytes(const KernelSet& ks, int d, int dv, const Blocking& b) {
  std::size_t bytes = 0;
  carve(ks, d, dv, b, nullptr, &bytes);
  return bytes;
}

void online_forward(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
                    Workspace ws) {
  OnlineBuffers w = carve(ks, p.d, p.dv, b, ws.data, nullptr);
  for (int r0 = t.row_begin; r0 < t.row_end; r0 += b.mb)
    row_block(ks, p, t, b, w, r0, std::min(t.row_end, r0 + b.mb));
}

}  // namespace attnrt::kernels
