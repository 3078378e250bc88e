// online: FlashAttention-2 style. For each block of keys, an mr-row strip of
// S is computed into L1, its running max updated, the output accumulator
// rescaled where the max moved, and P·V accumulated. K and V blocks are
// packed once per block and reused by every row strip of the row block.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/pipelines/online.hpp"
#include "kernels/pipelines/scores.hpp"
#include "kernels/pipelines/workspace_layout.hpp"

namespace attnrt::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct OnlineBuffers {
  std::byte* q_panels;
  std::byte* k_panels;
  std::byte* v_panels;
  float* s;       // mr x lds
  std::byte* p;   // one A panel [nb][mr]
  float* o_acc;   // mb x ldo
  float* m;       // running max per row (log2 units), mb
  float* l;       // running sum per row, mb
  float* tmp;     // 3 * mr scratch: new max, safe max, alpha
  bool* started;  // per strip: has its accumulator been initialized
  std::int64_t lds, ldo;
};

OnlineBuffers carve(const KernelSet& ks, int d, int dv, const Blocking& b, void* base,
                    std::size_t* bytes) {
  Carver c(base);
  OnlineBuffers o{};
  o.lds = b.nb + 16;  // a little skew so strip rows do not share L1 sets
  o.ldo = round_up(dv, ks.nv);
  o.q_panels = c.take(a_panels_bytes(ks, b.mb, d));
  o.k_panels = c.take(k_panels_bytes(ks, b.nb, d));
  o.v_panels = c.take(v_panels_bytes(ks, b.nb, dv));
  o.s = c.take<float>(sizeof(float) * ks.mr * o.lds);
  o.p = c.take(a_panels_bytes(ks, ks.mr, b.nb));
  o.o_acc = c.take<float>(sizeof(float) * round_up(b.mb, ks.mr) * o.ldo);
  o.m = c.take<float>(sizeof(float) * round_up(b.mb, ks.mr));
  o.l = c.take<float>(sizeof(float) * round_up(b.mb, ks.mr));
  o.tmp = c.take<float>(sizeof(float) * 3 * ks.mr);
  o.started = c.take<bool>(round_up(b.mb, ks.mr) / ks.mr);
  if (bytes) *bytes = c.used();
  return o;
}

// One block of rows [i0, i1) (at most mb) of the tile.
void row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
               const OnlineBuffers& w, int i0, int i1) {
  const int rows = i1 - i0, mr = ks.mr;
  const int strips = (rows + mr - 1) / mr;
  const int dp = round_up(p.d, ks.k_pack);
  const std::size_t esz = dtype_size(p.dtype);
  const std::size_t q_strip = a_panels_bytes(ks, mr, p.d);
  const std::size_t k_panel = k_panels_bytes(ks, ks.nr, p.d);
  const float alpha_qk = qk_alpha(p);
  const bool finish_always = p.softcap > 0.0f || p.bias != nullptr;

  ks.pack_q(static_cast<const char*>(p.q) + i0 * p.ldq * esz, p.ldq, rows, p.d, w.q_panels);
  std::fill(w.m, w.m + strips * mr, kNegInf);
  std::fill(w.l, w.l + strips * mr, 0.0f);

  // Keys any row of the block can see. Key blocks start on a fixed grid
  // (multiples of nb from the tile's first key), not at the block's first
  // visible key: a row then meets the same key blocks, and sums in the same
  // order, however the rows were split into blocks, so results do not depend
  // on the thread count.
  const std::int64_t first = std::max<std::int64_t>(p.key_lo(i0), t.key_begin);
  const std::int64_t kb_lo = t.key_begin + (first - t.key_begin) / b.nb * b.nb;
  const std::int64_t kb_hi = std::min<std::int64_t>(p.key_hi(i1 - 1), t.key_end);
  bool* started = w.started;
  std::fill(started, started + strips, false);

  for (std::int64_t k0 = kb_lo; k0 < kb_hi; k0 += b.nb) {
    const int kb = static_cast<int>(std::min<std::int64_t>(b.nb, kb_hi - k0));
    const int kbp = round_up(kb, ks.k_pack);
    ks.pack_k(static_cast<const char*>(p.k) + k0 * p.ldk * esz, p.ldk, kb, p.d, w.k_panels);
    ks.pack_v(static_cast<const char*>(p.v) + k0 * p.ldv * esz, p.ldv, kb, p.dv, w.v_panels);
    const std::size_t v_panel = static_cast<std::size_t>(ks.nv) * kbp * ks.packed_elem;

    for (int st = 0; st < strips; ++st) {
      const int r0 = i0 + st * mr, r1 = std::min(i1, r0 + mr), real = r1 - r0;
      // Keys of this block some row of the strip sees, as strip columns.
      const std::int64_t lo = std::max({p.key_lo(r0), std::int64_t{t.key_begin}, k0});
      const std::int64_t hi = std::min({p.key_hi(r1 - 1), std::int64_t{t.key_end}, k0 + kb});
      if (lo >= hi) continue;
      const int c0 = static_cast<int>(lo - k0) / ks.nr * ks.nr;
      const int c1 = static_cast<int>(hi - k0);
      const int cols = c1 - c0;
      float* s = w.s + c0;
      for (int c = c0; c < c1; c += ks.nr)
        ks.qk(dp, w.q_panels + st * q_strip, w.k_panels + (c / ks.nr) * k_panel, alpha_qk,
              w.s + c, w.lds);
      if (finish_always || !block_unmasked(p, r0, r1, k0 + c0, k0 + c1))
        finish_scores(p, s, w.lds, real, r0, k0 + c0, cols, t.key_begin, t.key_end);

      float* m = w.m + st * mr;
      float* l = w.l + st * mr;
      float* m_new = w.tmp;
      float* m_safe = w.tmp + mr;
      float* alpha = w.tmp + 2 * mr;
      std::copy(m, m + mr, m_new);
      ks.row_max(s, w.lds, cols, m_new);
      bool moved = false;
      for (int r = 0; r < mr; ++r) {
        m_safe[r] = m_new[r] == kNegInf ? 0.0f : m_new[r];
        alpha[r] = std::exp2(m[r] - m_safe[r]);
        moved |= m_new[r] != m[r];
        l[r] *= alpha[r];
        m[r] = m_new[r];
      }
      float* o = w.o_acc + static_cast<std::int64_t>(st) * mr * w.ldo;
      if (started[st] && moved) ks.rescale(o, w.ldo, w.ldo, alpha);
      ks.exp2_rows(s, w.lds, cols, m_safe, l, w.p, p.precision);
      const int kp = round_up(cols, ks.k_pack);
      const std::size_t v_off = static_cast<std::size_t>(c0) * ks.nv * ks.packed_elem;
      for (int vc = 0; vc < w.ldo; vc += ks.nv) {
        const std::byte* vp = w.v_panels + (vc / ks.nv) * v_panel + v_off;
        if (started[st])
          ks.pv_acc(kp, w.p, vp, o + vc, w.ldo);
        else
          ks.pv_init(kp, w.p, vp, o + vc, w.ldo);
      }
      started[st] = true;
    }
  }

  // Normalize into the user's O; LSE in natural log. Rows that saw no key get
  // O = 0 and LSE = -inf.
  for (int st = 0; st < strips; ++st) {
    const int r0 = i0 + st * mr, real = std::min(i1, r0 + mr) - r0;
    float* o = w.o_acc + static_cast<std::int64_t>(st) * mr * w.ldo;
    const float* m = w.m + st * mr;
    const float* l = w.l + st * mr;
    float* inv = w.tmp;
    if (!started[st]) std::fill(o, o + mr * w.ldo, 0.0f);
    for (int r = 0; r < real; ++r) inv[r] = l[r] == 0.0f ? 0.0f : 1.0f / l[r];
    ks.normalize(o, w.ldo, real, p.dv, inv,
                 static_cast<char*>(p.o) + r0 * p.ldo * esz, p.ldo, p.dtype);
    if (p.lse)
      for (int r = 0; r < real; ++r) {
        const float ms = m[r] == kNegInf ? 0.0f : m[r];
        p.lse[(r0 + r) * p.ldlse] = l[r] == 0.0f ? kNegInf : (ms + std::log2(l[r])) * kLn2;
      }
  }
}

}  // namespace

std::size_t online_workspace_bytes(const KernelSet& ks, int d, int dv, const Blocking& b) {
  std::size_t bytes = 0;
  carve(ks, d, dv, b, nullptr, &bytes);
  return bytes;
}

void online_forward(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Blocking& b,
                    Workspace ws) {
  const OnlineBuffers w = carve(ks, p.d, p.dv, b, ws.data, nullptr);
  for (int i0 = t.row_begin; i0 < t.row_end; i0 += b.mb)
    row_block(ks, p, t, b, w, i0, std::min(t.row_end, i0 + b.mb));
}

}  // namespace attnrt::kernels
