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
  float* s;             // S tiles of the strips in step, mr x lds each
  std::byte* p;         // their P panels [nb][mr]
  std::size_t p_panel;  // bytes of one P panel
  std::int64_t lds;
  KvShare* share;       // K/V blocks other cores may pack (Workspace::kv_share)
};

OnlineBuffers carve(const KernelSet& ks, int d, int dv, const Blocking& b, void* base,
                    std::size_t* bytes) {
  Carver c(base);
  OnlineBuffers o{};
  carve_row_block(c, ks, d, dv, b, &o.rb);
  o.lds = b.nb + 16;  // a little skew so strip rows do not share L1 sets
  o.k_panels = c.take(k_panels_bytes(ks, b.nb, d));
  o.v_panels = c.take(v_panels_bytes(ks, b.nb, dv));
  // Direct mode moves every strip of a row block in step (strips_in_step).
  const int strips = b.direct_kv ? round_up(b.mb, ks.mr) / ks.mr : 1;
  o.s = c.take<float>(sizeof(float) * strips * ks.mr * o.lds);
  o.p_panel = a_panels_bytes(ks, ks.mr, b.nb);
  o.p = c.take(o.p_panel * strips);
  carve_banks(c, ks, b, &o.rb);
  if (bytes) *bytes = c.used();
  return o;
}

void row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
               OnlineBuffers& w, int r0, int r1) {
  begin_row_block(ks, p, direct_kernels(ks, p, b, r1 - r0), r0, r1, &w.rb);
  const KeyRange block = visible_keys(p, t, r0, r1);
  const int strips = strip_count(ks, w.rb), step = strips_in_step(ks, w.rb);
  for (std::int64_t k0 = first_block(t, block, b.nb); k0 < block.hi; k0 += b.nb) {
    if (bank_due(k0 - b.nb, k0, kBankKeys)) bank_sums(ks, w.rb);
    const int kb = static_cast<int>(std::min<std::int64_t>(b.nb, block.hi - k0));
    const KvSource kv = stage_kv(ks, p, w.rb, k0, kb, w.k_panels, w.v_panels, w.share);
    for (int st0 = 0; st0 < strips; st0 += step) {
      const int n = std::min(step, strips - st0);
      if (!group_scores(ks, p, t, w.rb, kv, k0, k0 + kb, st0, n, w.s, w.lds)) continue;
      for (int i = 0; i < n; ++i) {
        const Cols c = w.rb.cols[i];
        if (c.count() <= 0) continue;
        const float* sc = strip_s(ks, w.s, w.lds, i) + c.c0;
        const float* m_safe = update_max(ks, w.rb.strips[i], w.rb, sc, w.lds, c.count());
        write_p(ks, w.rb.strips[i], w.rb, sc, w.lds, c.count(), m_safe, w.p + i * w.p_panel);
      }
      strips_pv(ks, w.rb, w.rb.cols, n, w.p, w.p_panel, kv);
    }
    unstage_kv(kv);
  }
  end_row_block(ks, p, t, &w.rb);
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
  w.share = ws.kv_share;
  for (int r0 = t.row_begin; r0 < t.row_end; r0 += b.mb)
    row_block(ks, p, t, b, w, r0, std::min(t.row_end, r0 + b.mb));
}

}  // namespace attnrt::kernels
