// three_pass: a row block's scores for a chunk of keys are staged whole, in
// a slice of L2 sized by the plan (Blocking::stage_bytes):
//   1. S of every strip into the stage, one packed K block at a time, while
//      each row's max is tracked;
//   2. all of P from it (exp2, row sums, packed for P·V);
//   3. P·V, one packed V block at a time, with a clean L1;
// and the rows are normalized at the end of the row block. The softmax is
// exact (no rescale) when the visible keys fit one chunk; longer key ranges
// are staged chunk by chunk with one online rescale between chunks.
#include "kernels/pipelines/three_pass.hpp"

#include <algorithm>

#include "kernels/pipelines/strip.hpp"
#include "kernels/pipelines/workspace_layout.hpp"

namespace attnrt::kernels {
namespace {

constexpr int kSkew = 16;  // floats added to the S row stride, against L1 set conflicts

struct ThreePassBuffers {
  RowBlock rb;
  std::byte* k_panels;  // one block of nb keys
  std::byte* v_panels;
  float* s;             // the stage's S: mb x lds
  std::byte* p;         // the stage's P: one panel of chunk keys per strip
  float* chunk_max;     // mb: each row's max over the chunk's scores
  std::size_t p_strip;  // bytes of one strip's P panel
  std::int64_t lds;
  int chunk;
  KvShare* share;  // K/V blocks other cores may pack (Workspace::kv_share)
};

ThreePassBuffers carve(const KernelSet& ks, int d, int dv, const Blocking& b, void* base,
                       std::size_t* bytes) {
  Carver c(base);
  ThreePassBuffers w{};
  carve_row_block(c, ks, d, dv, b, &w.rb);
  const int mb = round_up(b.mb, ks.mr);
  w.chunk = three_pass_chunk_keys(ks, d, dv, b);
  w.lds = w.chunk + kSkew;
  w.k_panels = c.take(k_panels_bytes(ks, b.nb, d));
  w.v_panels = c.take(v_panels_bytes(ks, b.nb, dv));
  w.s = c.take<float>(sizeof(float) * mb * w.lds);
  w.p_strip = a_panels_bytes(ks, ks.mr, w.chunk);
  w.p = c.take(w.p_strip * (mb / ks.mr));
  w.chunk_max = c.take<float>(sizeof(float) * mb);
  carve_banks(c, ks, b, &w.rb);
  if (bytes) *bytes = c.used();
  return w;
}

void row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
               ThreePassBuffers& w, int r0, int r1) {
  begin_row_block(ks, p, /*few=*/nullptr, r0, r1, &w.rb);  // always packs
  const KeyRange block = visible_keys(p, t, r0, r1);
  const int strips = strip_count(ks, w.rb);
  auto s_of = [&](int st) { return strip_s(ks, w.s, w.lds, st); };
  auto p_of = [&](int st) { return w.p + st * w.p_strip; };

  for (std::int64_t k0 = first_block(t, block, w.chunk); k0 < block.hi; k0 += w.chunk) {
    if (bank_due(k0 - w.chunk, k0, kBankKeys)) bank_sums(ks, w.rb);
    const int ck = static_cast<int>(std::min<std::int64_t>(w.chunk, block.hi - k0));

    // 1. S into the stage, K block by K block; row max tracked.
    std::copy(w.rb.m, w.rb.m + strips * ks.mr, w.chunk_max);
    for (int kb0 = 0; kb0 < ck; kb0 += b.nb) {
      const int kb = std::min(b.nb, ck - kb0);
      KvLease lease;
      const std::byte* k_panels =
          pack_side(ks, p, w.share, KvSide::k, k0 + kb0, kb, w.k_panels, w.rb.kv_stage, &lease);
      for (int st = 0; st < strips; ++st) {
        const Strip s = strip_of(ks, p, t, w.rb, st);
        const KeyRange keys = s.keys.clip(k0 + kb0, k0 + kb0 + kb);
        if (keys.empty()) continue;
        float* sc = s_of(st) + kb0;
        const Cols c = strip_scores(ks, p, t, s, w.rb, packed_kv(k0 + kb0, k_panels, nullptr, 0),
                                    keys, sc, w.lds);
        ks.row_max(sc + c.c0, w.lds, softmax_rows(ks, w.rb, s), c.count(), w.chunk_max + st * ks.mr);
      }
      if (w.share) w.share->release(lease);
    }

    // 2. All of P: one rescale per chunk where the max moved, then exp2.
    for (int st = 0; st < strips; ++st) {
      const Strip s = strip_of(ks, p, t, w.rb, st);
      const Cols c = cols_of(ks, s.keys.clip(k0, k0 + ck), k0);
      if (c.count() <= 0) continue;
      const float* m_safe = fold_max(ks, s, w.rb, w.chunk_max + st * ks.mr);
      write_p(ks, s, w.rb, s_of(st) + c.c0, w.lds, c.count(), m_safe,
              p_of(st) + p_offset(ks, w.rb, c.c0));
    }

    // 3. P·V, V block by V block.
    for (int kb0 = 0; kb0 < ck; kb0 += b.nb) {
      const int kb = std::min(b.nb, ck - kb0);
      KvLease lease;
      const std::byte* v_panels =
          pack_side(ks, p, w.share, KvSide::v, k0 + kb0, kb, w.v_panels, w.rb.kv_stage, &lease);
      for (int st = 0; st < strips; ++st) {
        const Strip s = strip_of(ks, p, t, w.rb, st);
        const Cols c = cols_of(ks, s.keys.clip(k0, k0 + ck), k0);
        const int c0 = std::max(c.c0, kb0), c1 = std::min(c.c1, kb0 + kb);
        if (c0 >= c1) continue;
        strip_pv(ks, s, w.rb, round_up(c1 - c0, ks.k_pack), p_of(st) + p_offset(ks, w.rb, c0),
                 packed_kv(k0 + kb0, nullptr, v_panels, kb), c0 - kb0);
      }
      if (w.share) w.share->release(lease);
    }
  }
  end_row_block(ks, p, t, &w.rb);
}

}  // namespace

int three_pass_chunk_keys(const KernelSet& ks, int /*d*/, int /*dv*/, const Blocking& b) {
  // Per key, for every row of the block: one fp32 S entry and one packed P entry.
  const std::size_t mb = round_up(b.mb, ks.mr);
  const std::size_t per_key = mb * (sizeof(float) + ks.packed_elem);
  const std::size_t fixed = mb * sizeof(float) * kSkew;
  const std::size_t fit = b.stage_bytes > fixed ? (b.stage_bytes - fixed) / per_key : 0;
  const int keys = static_cast<int>(std::min<std::size_t>(fit, 1 << 24));
  return std::max(keys / b.nb * b.nb, b.nb);
}

std::size_t three_pass_workspace_bytes(const KernelSet& ks, int d, int dv, const Blocking& b) {
  std::size_t bytes = 0;
  carve(ks, d, dv, b, nullptr, &bytes);
  return bytes;
}

void three_pass_forward(const KernelSet& ks, const HeadProblem& p, const Tile& t,
                        const Blocking& b, Workspace ws) {
  ThreePassBuffers w = carve(ks, p.d, p.dv, b, ws.data, nullptr);
  w.share = ws.kv_share;
  for (int r0 = t.row_begin; r0 < t.row_end; r0 += b.mb)
    row_block(ks, p, t, b, w, r0, std::min(t.row_end, r0 + b.mb));
}

}  // namespace attnrt::kernels
