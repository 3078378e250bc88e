#include "kernels/pipelines/strip.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/convert.hpp"
#include "kernels/pipelines/exact_rows.hpp"
#include "kernels/pipelines/kv_runs.hpp"
#include "kernels/pipelines/scores.hpp"
#include "kernels/pipelines/wide_loops.hpp"
#include "kernels/weighted_row.hpp"

namespace attnrt::kernels {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::size_t elem_bytes(const KernelSet& ks) { return dtype_size(ks.dtype); }

// Calls f(r, count, stride) over runs of packed rows [r0, r0 + rows) that a
// single stride walks (ld, hs: the tensor's row and head strides): one run
// unless the rows cross a head boundary of a layout not dense over heads.
template <class F>
void for_each_run(const HeadProblem& p, int r0, int rows, std::int64_t ld, std::int64_t hs, F f) {
  if (const auto stride = packed_row_stride(p, r0, r0 + rows, ld, hs)) {
    f(0, rows, *stride);
    return;
  }
  for (int r = 0; r < rows;) {
    const int head_end = ((r0 + r) / p.m + 1) * p.m;
    const int count = std::min(rows - r, head_end - (r0 + r));
    f(r, count, ld);
    r += count;
  }
}

// How the few-row kernels `f` take their K/V runs: codes in place or not,
// spanning pieces or not, and where the CPU's row (f.stream) says, the
// next pages listed, pages left to the hardware where prefetches fill L2
// only, dense rows left to it too, rows far apart read from their end.
KvRunOptions few_row_runs(const FewRowKernels& f, bool codes, bool span) {
  return {.codes = codes, .pages_ahead = f.stream.across_pages, .pages_into_l2 = f.stream.into_l2,
          .dense_by_hardware = f.stream.dense_by_hardware, .apart_rows_down = f.stream.apart_rows_down,
          .span = span};
}

// S rows [0, rows) (Q rows at q, row stride ldq), columns c, with K in
// place (a call per page when paged: the direct Q·Kᵀ takes any key count at
// any S column); rows up to the next multiple of mr (the last strip's
// padding) get 0 where its softmax reads them (softmax_rows: not a few-row
// strip's, whose zeroing wrote a fifth as many bytes as int8 decode read).
void direct_scores(const KernelSet& ks, const HeadProblem& p, const RowBlock& rb, const float* q,
                   std::int64_t ldq, int rows, const KvSource& kv, Cols c, float* sc, std::int64_t lds) {
  if (c.count() <= 0) return;
  const float alpha = qk_alpha(p);
  // int8/fp8 K read as codes where the kernels widen them (rb.codes); key j's
  // scale then multiplies S's column j (a per-column factor of Q·Kᵀ).
  const bool codes = rb.codes;
  const QkDirectFn qk_codes = codes ? rb.few->codes[static_cast<int>(p.kv_format)].qk : nullptr;
  for_each_kv_run(p, KvSide::k, kv.key0 + c.c0, c.count(), 1, kv.stage, [&](const KvRun& r) {
    float* s = sc + c.c0 + r.c;
    if (!codes) return rb.few->qk(rows, r.count, p.d, q, ldq, r.rows, r.ld, alpha, s, lds, r.next);
    qk_codes(rows, r.count, p.d, q, ldq, r.rows, r.ld, alpha, s, lds, r.next);
    for (int i = 0; i < rows; ++i) scale_by_keys(s + i * lds, r.count, p, KvSide::k, kv.key0 + c.c0 + r.c);
  }, few_row_runs(*rb.few, codes, rows <= rb.few->span_rows));
  const int last_strip_rows = rows - (round_up(rows, ks.mr) - ks.mr);
  if (few_rows_pv(rb, last_strip_rows)) return;  // (direct mode has no short tiles)
  for (int r = rows; r < round_up(rows, ks.mr); ++r)
    std::fill(sc + r * lds + c.c0, sc + r * lds + c.c1, 0.0f);
}

}  // namespace

KeyRange visible_keys(const HeadProblem& p, const Tile& t, int r0, int r1) {
  const RowSpan span = row_span(p, r0, r1);
  return KeyRange{p.key_lo(span.first), p.key_hi(span.last)}.clip(t.key_begin, t.key_end);
}

void carve_row_block(Carver& c, const KernelSet& ks, int d, int dv, const Blocking& b,
                     RowBlock* rb) {
  const int mb = round_up(b.mb, ks.mr);
  rb->ldo = round_up(dv, ks.nv);
  rb->nb = b.nb;
  rb->dv = dv;
  rb->q_panels = c.take(a_panels_bytes(ks, mb, d));
  // Direct mode widens fp16/bf16 Q rows here (begin_row_block).
  const bool widened = has_direct_kv(ks) && ks.dtype != DType::f32;
  rb->q_gather = c.take(static_cast<std::size_t>(mb) * d * (widened ? sizeof(float) : elem_bytes(ks)));
  rb->o = c.take<float>(sizeof(float) * mb * rb->ldo);
  rb->m = c.take<float>(sizeof(float) * mb);
  rb->l = c.take<float>(sizeof(float) * mb);
  rb->started = c.take<bool>(mb / ks.mr);
  rb->tmp = c.take<float>(sizeof(float) * 4 * ks.mr);
  rb->m_safe = c.take<float>(sizeof(float) * mb);
  rb->strips = c.take<Strip>(sizeof(Strip) * (mb / ks.mr));
  rb->cols = c.take<Cols>(sizeof(Cols) * (mb / ks.mr));
  rb->kv_stage = c.take(kv_stage_bytes(kv_quantum(ks), d, dv, ks.dtype));
}

void carve_banks(Carver& c, const KernelSet& ks, const Blocking& b, RowBlock* rb) {
  const int mb = round_up(b.mb, ks.mr);
  rb->o_bank = c.take<double>(sizeof(double) * mb * rb->ldo);
  rb->l_bank = c.take<double>(sizeof(double) * mb);
  rb->m_bank = c.take<float>(sizeof(float) * mb);
}

const FewRowKernels* direct_kernels(const KernelSet& ks, const HeadProblem& p, const Blocking& b, int rows) {
  if (!b.direct_kv || !has_direct_kv(ks)) return nullptr;
  // The entry the plan names if it is this set's (a plan made for another
  // set names another's), else the first.
  const FewRowKernels* few = ks.few_rows.front();
  for (const FewRowKernels* f : ks.few_rows)
    if (f == b.few_rows) few = f;
  return pv_path_of(ks, p).pv_acc == ks.pv_acc || rows <= few->pv_rows_max ? few : nullptr;
}

namespace {
// Whether rows at q, stride_bytes apart, all start on a 64-byte boundary.
bool rows_aligned(const char* q, std::int64_t stride_bytes) {
  return reinterpret_cast<std::uintptr_t>(q) % kAlign == 0 && stride_bytes % static_cast<std::int64_t>(kAlign) == 0;
}
}  // namespace

void begin_row_block(const KernelSet& ks, const HeadProblem& p, const FewRowKernels* few, int r0, int r1,
                     RowBlock* rb) {
  const bool direct = few != nullptr;
  rb->r0 = r0;
  rb->r1 = r1;
  // Direct mode reads K and V in place with the direct kernels, whose P is
  // fp32 (the accurate P·V path) whatever the precision.
  rb->pv = direct ? pv_path(ks, Exp2Precision::accurate) : pv_path_of(ks, p);
  rb->qk = direct ? qk_path(ks, Exp2Precision::accurate) : qk_path_of(ks, p);
  // exp2_rows writes P in the type of pv_path(precision): a fast exp2 stays
  // where that is the block's P·V path (every set's fp32 P), else accurate.
  rb->exp2 = rb->pv.pv_acc == pv_path_of(ks, p).pv_acc ? p.precision : Exp2Precision::accurate;
  rb->few = few;
  rb->codes = direct && p.kv_format != KvFormat::plain && few->codes[static_cast<int>(p.kv_format)].qk;
  rb->short_tiles = !direct && ks.qk_rows && ks.pv_rows && rb->pv.pv_acc == ks.pv_acc && rb->qk.qk == ks.qk;
  const int rows = r1 - r0;
  const std::size_t esz = elem_bytes(ks);
  if (direct && ks.dtype != DType::f32) {
    // fp16/bf16 rows widened for the direct kernels, row by row in any layout.
    float* rows_f32 = reinterpret_cast<float*>(rb->q_gather);
    for (int r = 0; r < rows; ++r)
      few->widen_rows(static_cast<const char*>(p.q) + p.q_offset(r0 + r) * esz, p.d, 1, p.d,
                    rows_f32 + static_cast<std::int64_t>(r) * p.d);
    rb->q_rows = rows_f32;
    rb->ldq_rows = p.d;
  } else {
    const char* q = static_cast<const char*>(p.q) + p.q_offset(r0) * esz;
    std::int64_t ldq = 0;
    const auto ld = packed_row_stride(p, r0, r1, p.ldq, p.hsq);
    if (ld && !(direct && !rows_aligned(q, *ld * esz))) {
      ldq = *ld;
    } else {
      // Rows of several heads in a layout not dense over heads: gather them
      // into one dense block first (rows x d, a few KiB). So are direct
      // mode's rows off a 64-byte boundary: the direct Q·Kᵀ reads each Q
      // row once per key pair, and a load across two lines takes two of the
      // core's load slots, which the K stream then misses (S4 on Zen 5: 0.70x).
      const std::size_t row_bytes = static_cast<std::size_t>(p.d) * esz;
      for (int r = 0; r < rows; ++r)
        std::memcpy(rb->q_gather + r * row_bytes,
                    static_cast<const char*>(p.q) + p.q_offset(r0 + r) * esz, row_bytes);
      q = reinterpret_cast<const char*>(rb->q_gather);
      ldq = p.d;
    }
    if (direct) {
      rb->q_rows = reinterpret_cast<const float*>(q);
      rb->ldq_rows = ldq;
    } else {
      rb->qk.pack_q(q, ldq, rows, p.d, rb->q_panels);
    }
  }
  const int padded = round_up(rows, ks.mr);
  std::fill(rb->m, rb->m + padded, kNegInf);
  std::fill(rb->l, rb->l + padded, 0.0f);
  std::fill(rb->m_bank, rb->m_bank + padded, kNegInf);
  std::fill(rb->started, rb->started + padded / ks.mr, false);
}

namespace {
// Row r's o and l added into its bank (o only where its strip has P·V: a
// strip without counts its o as 0), the bank scaled from its max to the
// row's m, which it takes.
void bank_row(const RowBlock& rb, int r, bool with_o) {
  const float m = rb.m[r], mb = rb.m_bank[r];
  const float* o = rb.o + static_cast<std::int64_t>(r) * rb.ldo;
  double* bank = rb.o_bank + static_cast<std::int64_t>(r) * rb.ldo;
  if (mb == kNegInf) {  // an empty bank: o and l are the row's sums
    if (with_o) std::copy(o, o + rb.dv, bank);
    else std::fill_n(bank, rb.dv, 0.0);
    rb.l_bank[r] = rb.l[r];
  } else {  // o and l are relative to m (>= the bank's max: finite, or NaN)
    const double w = std::exp2(static_cast<double>(mb) - m);
    if (with_o) add_to_bank(bank, w, o, rb.dv);
    else for (int c = 0; c < rb.dv; ++c) bank[c] *= w;
    rb.l_bank[r] = rb.l_bank[r] * w + rb.l[r];
  }
  rb.m_bank[r] = m;
}

// Row r's bank added back into its o and l, scaled to the row's m.
void unbank_row(const RowBlock& rb, int r) {
  const float mb = rb.m_bank[r];
  if (mb == kNegInf) return;
  const double w = std::exp2(static_cast<double>(mb) - rb.m[r]);
  add_from_bank(rb.o_bank + static_cast<std::int64_t>(r) * rb.ldo, w,
                rb.o + static_cast<std::int64_t>(r) * rb.ldo, rb.dv);
  rb.l[r] = static_cast<float>(rb.l_bank[r] * w + rb.l[r]);
}

// Rows [r0, r1) of the block (relative to rb.r0), of a strip whose P·V
// has begun or not, banked and their sums set to 0.
void bank_rows(const RowBlock& rb, int r0, int r1, bool started) {
  // A row that has seen no key keeps its sums: 0, or the NaN of a hidden
  // key's 0 x inf that sends it to exact_row at the end. l is banked
  // whether or not the strip's P·V has begun (two_pass writes P, and sums
  // it, a ring slot ahead), so that a row's banks never depend on its
  // strip's rows.
  for (int r = r0; r < r1; ++r) {
    if (rb.m[r] == kNegInf) continue;
    bank_row(rb, r, started);
    if (started) std::fill_n(rb.o + static_cast<std::int64_t>(r) * rb.ldo, rb.dv, 0.0f);
    rb.l[r] = 0.0f;
  }
}
}  // namespace

void bank_strip(const RowBlock& rb, const Strip& s) {
  // Its real rows only: the kernels write no others, which stay 0.
  bank_rows(rb, s.r0 - rb.r0, s.r0 - rb.r0 + s.rows, *s.started);
}

void bank_sums(const KernelSet& ks, const RowBlock& rb) {
  for (int st = 0, r = 0; r < rb.r1 - rb.r0; ++st, r += ks.mr)
    bank_rows(rb, r, std::min(rb.r1 - rb.r0, r + ks.mr), rb.started[st]);
}

Strip strip_of(const KernelSet& ks, const HeadProblem& p, const Tile& t, const RowBlock& rb,
               int st) {
  Strip s;
  s.r0 = rb.r0 + st * ks.mr;
  s.rows = std::min(rb.r1 - s.r0, ks.mr);
  s.q = rb.q_panels + st * q_panel_bytes(ks, rb, p.d);
  s.q_rows = rb.direct() ? rb.q_rows + static_cast<std::int64_t>(st) * ks.mr * rb.ldq_rows : nullptr;
  s.o = rb.o + static_cast<std::int64_t>(st) * ks.mr * rb.ldo;
  s.m = rb.m + st * ks.mr;
  s.l = rb.l + st * ks.mr;
  s.started = rb.started + st;
  s.keys = visible_keys(p, t, s.r0, s.r0 + s.rows);
  return s;
}

KvSource stage_kv(const KernelSet& ks, const HeadProblem& p, const RowBlock& rb,
                  std::int64_t key0, int keys, std::byte* k_panels, std::byte* v_panels,
                  KvShare* share) {
  if (!rb.direct()) {
    KvSource kv = packed_kv(key0, nullptr, nullptr, keys);
    kv.share = share;
    kv.k_panels = pack_side(ks, p, share, KvSide::k, key0, keys, k_panels, rb.kv_stage, &kv.k_lease);
    kv.v_panels = pack_side(ks, p, share, KvSide::v, key0, keys, v_panels, rb.kv_stage, &kv.v_lease);
    return kv;
  }
  return {key0, nullptr, nullptr, 0, &p, rb.kv_stage};
}

void unstage_kv(const KvSource& kv) {
  if (!kv.share) return;
  kv.share->release(kv.k_lease);
  kv.share->release(kv.v_lease);
}

const std::byte* pack_side(const KernelSet& ks, const HeadProblem& p, KvShare* share, KvSide side,
                           std::int64_t key0, int keys, std::byte* own, std::byte* stage, KvLease* lease) {
  *lease = share ? share->acquire(side, key0, keys) : KvLease{};
  if (lease->panels && !lease->pack) return lease->panels;
  std::byte* panels = lease->panels ? lease->panels : own;
  if (side == KvSide::k)
    pack_k_rows(ks, p, key0, keys, panels, stage);
  else
    pack_v_rows(ks, p, key0, keys, panels, stage);
  if (lease->pack) share->publish(*lease);
  return panels;
}

Cols strip_scores(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Strip& s,
                  const RowBlock& rb, const KvSource& kv, KeyRange keys, float* sc,
                  std::int64_t lds) {
  const std::int64_t key0 = kv.key0;
  const auto [c0, c1] = cols_of(ks, keys, key0);
  const float alpha = qk_alpha(p);
  if (kv.direct()) {
    direct_scores(ks, p, rb, s.q_rows, rb.ldq_rows, s.rows, kv, {c0, c1}, sc, lds);
  } else {
    const int dp = round_up(p.d, ks.k_pack);
    const std::size_t k_panel = k_panel_bytes(ks, rb, p.d);
    const bool short_tiles = short_strip_tiles(ks, rb, s);
    for (int c = c0; c < c1; c += ks.nr) {
      const std::byte* k = kv.k_panels + (c / ks.nr) * k_panel;
      if (short_tiles)
        ks.qk_rows(s.rows, dp, s.q, k, alpha, sc + c, lds);
      else
        rb.qk.qk(dp, s.q, k, alpha, sc + c, lds);
    }
  }
  return finish_strip_scores(ks, p, t, s, key0, keys, sc, lds);
}

Cols finish_strip_scores(const KernelSet& ks, const HeadProblem& p, const Tile& t, const Strip& s,
                         std::int64_t key0, KeyRange keys, float* sc, std::int64_t lds) {
  const auto [c0, c1] = cols_of(ks, keys, key0);
  const bool finish_always = p.softcap > 0.0f || p.bias != nullptr || p.alibi != nullptr;
  if (c0 < c1 &&
      (finish_always || !block_unmasked(p, row_span(p, s.r0, s.r0 + s.rows), key0 + c0, key0 + c1)))
    finish_scores(p, sc + c0, lds, s.r0, s.rows, key0 + c0, c1 - c0, t.key_begin, t.key_end);
  return {c0, c1};
}

bool group_scores(const KernelSet& ks, const HeadProblem& p, const Tile& t, const RowBlock& rb,
                  const KvSource& kv, std::int64_t k0, std::int64_t k1, int st0, int n, float* sc,
                  std::int64_t lds) {
  bool any = false;
  for (int i = 0; i < n; ++i) {
    rb.strips[i] = strip_of(ks, p, t, rb, st0 + i);
    any |= !rb.strips[i].keys.clip(k0, k1).empty();
  }
  if (!any) return false;
  if (kv.direct() && n > 1) {  // the group's rows at once, for the keys some of them sees
    const Strip& first = rb.strips[0];
    const Strip& last = rb.strips[n - 1];
    const KeyRange keys = visible_keys(p, t, first.r0, last.r0 + last.rows).clip(k0, k1);
    direct_scores(ks, p, rb, first.q_rows, rb.ldq_rows, last.r0 + last.rows - first.r0, kv,
                  cols_of(ks, keys, kv.key0), sc, lds);
  }
  for (int i = 0; i < n; ++i) {
    const KeyRange keys = rb.strips[i].keys.clip(k0, k1);
    float* s = strip_s(ks, sc, lds, i);
    if (keys.empty())
      rb.cols[i] = {0, 0};
    else if (kv.direct() && n > 1)
      rb.cols[i] = finish_strip_scores(ks, p, t, rb.strips[i], kv.key0, keys, s, lds);
    else
      rb.cols[i] = strip_scores(ks, p, t, rb.strips[i], rb, kv, keys, s, lds);
  }
  return true;
}

void strips_pv(const KernelSet& ks, const RowBlock& rb, const Cols* c, int n,
               const std::byte* p_panels, std::size_t p_stride, const KvSource& kv) {
  const Strip* s = rb.strips;
  int lo = std::numeric_limits<int>::max(), hi = 0;
  for (int st = 0; st < n; ++st)
    if (c[st].count() > 0) lo = std::min(lo, c[st].c0), hi = std::max(hi, c[st].c1);
  // Columns [a0, a1) of every strip: one call each, or turns of strips in step.
  const auto run = [&](int a0, int a1) {
    const int turn = n == 1 ? a1 - a0 : kDirectPvTurnKeys;
    for (int k = a0; k < a1; k += turn)
      for (int st = 0; st < n; ++st) {
        const int a = std::max(k, c[st].c0), b = std::min({k + turn, a1, c[st].c1});
        if (a < b)
          strip_pv(ks, s[st], rb, round_up(b - a, ks.k_pack), p_panels + st * p_stride + p_offset(ks, rb, a - c[st].c0),
                   kv, a);
      }
  };
  if (!kv.direct()) return run(lo, hi);
  // Direct: cut and banked at the first column on the key grid (P's blocks
  // start there) past each multiple of kDirectBankKeys: where a strip's
  // keys start never moves a row's banks.
  const int step = key_step(ks);
  for (int a0 = lo; a0 < hi;) {
    const std::int64_t past = (kv.key0 + a0) / kDirectBankKeys * kDirectBankKeys + kDirectBankKeys - kv.key0;
    const std::int64_t cut = round_up(past, step);
    const int a1 = static_cast<int>(std::min<std::int64_t>(hi, cut));
    run(a0, a1);
    if (a1 == cut)
      for (int st = 0; st < n; ++st) bank_strip(rb, s[st]);
    a0 = a1;
  }
}

const float* fold_max(const KernelSet& ks, const Strip& s, const RowBlock& rb,
                      const float* m_new) {
  const int mr = ks.mr, rows = softmax_rows(ks, rb, s);
  float* m_safe = rb.m_safe + (s.r0 - rb.r0);
  float* alpha = rb.tmp + 2 * mr;
  std::fill(alpha + rows, alpha + mr, 1.0f);  // rows nobody reads: O's stay 0
  bool moved = false;
  for (int r = 0; r < rows; ++r) {
    m_safe[r] = m_new[r] == kNegInf ? 0.0f : m_new[r];
    alpha[r] = std::exp2(s.m[r] - m_safe[r]);
    moved |= m_new[r] != s.m[r];
    s.l[r] *= alpha[r];
    s.m[r] = m_new[r];
  }
  if (*s.started && moved) ks.rescale(s.o, rb.ldo, static_cast<int>(rb.ldo), alpha);
  return m_safe;
}

const float* update_max(const KernelSet& ks, const Strip& s, const RowBlock& rb, const float* sc,
                        std::int64_t lds, int cols) {
  float* m_new = rb.tmp + 3 * ks.mr;
  std::copy(s.m, s.m + ks.mr, m_new);
  ks.row_max(sc, lds, softmax_rows(ks, rb, s), cols, m_new);
  return fold_max(ks, s, rb, m_new);
}

void write_p(const KernelSet& ks, const Strip& s, const RowBlock& rb,
             const float* sc, std::int64_t lds, int cols, const float* m_safe,
             std::byte* p_panel) {
  ks.exp2_rows(sc, lds, softmax_rows(ks, rb, s), cols, m_safe, s.l, p_panel, rb.exp2);
}

void strip_pv(const KernelSet& ks, const Strip& s, const RowBlock& rb, int kp,
              const std::byte* p_panel, const KvSource& kv, int v_key) {
  const bool short_tiles = short_strip_tiles(ks, rb, s);
  // The kernels of a strip's real rows write those rows only; the whole
  // accumulator is zeroed once first, so a rescale never reads memory
  // nothing wrote.
  if ((short_tiles || few_rows_pv(rb, s)) && !*s.started) std::fill(s.o, s.o + ks.mr * rb.ldo, 0.0f);
  if (kv.direct()) {
    // V rows in place, run by run when paged; P is cut at its a_block
    // blocks only (a block straddling two pages is staged: kv_runs.hpp).
    const FewRowKernels& f = *rb.few;
    const bool few = few_rows_pv(rb, s);
    // int8/fp8 V read as codes where the kernels widen them; key j's scale then
    // multiplies P's column j, which this P·V alone reads.
    const bool codes = few && rb.codes;
    for_each_kv_run(*kv.rows, KvSide::v, kv.key0 + v_key, kp, a_block_of(ks), kv.stage, [&](const KvRun& r) {
      const std::byte* pr = p_panel + p_offset(ks, rb, r.c);
      const std::int64_t ld_bytes = r.ld * static_cast<std::int64_t>(elem_bytes(ks));
      if (codes) {
        // Row i of the run's block from key b0: w keys at a_panel_index(i, b0).
        float* pw = reinterpret_cast<float*>(const_cast<std::byte*>(pr));
        const int blk = a_block_of(ks);
        for (int b0 = 0; b0 < r.count; b0 += blk)
          for (int i = 0; i < s.rows; ++i)
            scale_by_keys(pw + a_panel_index(ks, i, b0, r.count), std::min(blk, r.count - b0), *kv.rows, KvSide::v,
                          kv.key0 + v_key + r.c + b0);
        f.codes[static_cast<int>(kv.rows->kv_format)].pv_rows(s.rows, r.count, pr, r.rows, r.ld, rb.dv, s.o, rb.ldo,
                                                               *s.started || r.c > 0, r.next);
        return;
      }
      if (few) {
        f.pv_rows(s.rows, r.count, pr, r.rows, r.ld, rb.dv, s.o, rb.ldo, *s.started || r.c > 0, r.next);
        return;
      }
      // A few keys at a time across all of O's columns, so that V is read
      // row after row (one stream the prefetchers follow) rather than one
      // nv-column slice of every row per call.
      for (int k0 = 0; k0 < r.count; k0 += kDirectPvKeys) {
        const int keys = std::min(kDirectPvKeys, r.count - k0);
        const auto pv = *s.started || r.c + k0 > 0 ? f.pv_acc : f.pv_init;
        const RowsAfter next = k0 + keys < r.count ? RowsAfter{} : r.next;  // ({}: the run's next keys)
        pv(keys, pr + p_offset(ks, rb, k0), r.rows + k0 * ld_bytes, r.ld, rb.dv, s.o, rb.ldo, next);
      }
    }, few_row_runs(f, codes, few && s.rows <= f.span_rows));
  } else {
    const std::size_t v_panel = v_offset(ks, rb, round_up(kv.v_keys, ks.k_pack));
    const std::byte* v = kv.v_panels + v_offset(ks, rb, v_key);
    const auto pv = *s.started ? rb.pv.pv_acc : rb.pv.pv_init;
    for (int vc = 0; vc < rb.ldo; vc += ks.nv, v += v_panel)
      if (short_tiles)
        ks.pv_rows(s.rows, kp, p_panel, v, s.o + vc, rb.ldo, *s.started);
      else
        pv(kp, p_panel, v, s.o + vc, rb.ldo);
  }
  *s.started = true;
}

void pack_k_rows(const KernelSet& ks, const HeadProblem& p, std::int64_t key0, int keys,
                 std::byte* k_panels, std::byte* stage) {
  // A K panel holds nr keys: runs start on panel boundaries.
  const QkPath qk = qk_path_of(ks, p);
  const std::size_t panel = static_cast<std::size_t>(ks.nr) * round_up(p.d, ks.k_pack) * qk.elem;
  for_each_kv_run(p, KvSide::k, key0, keys, ks.nr, stage, [&](const KvRun& r) {
    qk.pack_k(r.rows, r.ld, r.count, p.d, k_panels + r.c / ks.nr * panel);
  });
}

void pack_v_rows(const KernelSet& ks, const HeadProblem& p, std::int64_t key0, int keys,
                 std::byte* v_panels, std::byte* stage) {
  const PvPath pv = pv_path_of(ks, p);
  if (!p.pages && p.kv_format == KvFormat::plain) {
    pv.pack_v(static_cast<const char*>(p.v) + key0 * p.ldv * elem_bytes(ks), p.ldv, keys, p.dv, v_panels);
    return;
  }
  // The panels of nv columns each hold all `keys` keys (padded to k_pack),
  // so a run of keys (paged, or a dequantized chunk) is packed into each at its row: one call per run and
  // column slice, the slice's columns as a V of nv (or fewer) columns.
  const std::size_t esz = elem_bytes(ks);
  const std::size_t panel = static_cast<std::size_t>(round_up(keys, ks.k_pack)) * ks.nv * pv.elem;
  for_each_kv_run(p, KvSide::v, key0, keys, ks.k_pack, stage, [&](const KvRun& r) {
    for (int vc = 0; vc < p.dv; vc += ks.nv)
      pv.pack_v(r.rows + vc * esz, r.ld, r.count, std::min(ks.nv, p.dv - vc),
                v_panels + vc / ks.nv * panel + static_cast<std::size_t>(r.c) * ks.nv * pv.elem);
  });
}

namespace {

// A row's normalizer and LSE from its max m (log2 units, -inf if it saw no
// key) and sum l of exp2(s - m), with the row's ALiBi shift (scores are
// relative to its peak: scores.hpp) and sink (natural units, -inf: none).
// The keys' and the sink's log-sums meet in the true frame through their
// difference, so neither a large shift nor a large sink costs precision.
struct RowTotal {
  float inv;  // O = accumulator * inv
  float lse;  // natural log
};
RowTotal row_total(float m, float l, float shift, float sink) {
  if (l == 0.0f) return {0.0f, sink};  // no key: O = 0, LSE = the sink or -inf
  const float keys = m * kLn2 + std::log(l);  // the keys' LSE, relative to the shift
  if (sink == kNegInf) return {1.0f / l, keys + shift};
  const float diff = keys + (shift - sink);  // keys' LSE - sink
  const SinkJoin<float> join = join_sink(diff);
  return {join.share / l, (diff >= 0.0f ? keys + shift : sink) + join.rest};
}

}  // namespace

void end_row_block(const KernelSet& ks, const HeadProblem& p, const Tile& t, RowBlock* rb) {
  // A sink joins the tile that starts at key 0, so that split-KV pieces,
  // merged through their LSE, count it once.
  const float* sinks = t.key_begin == 0 ? p.sinks : nullptr;
  const int mr = ks.mr;
  const std::size_t esz = elem_bytes(ks);
  float* inv = rb->tmp;
  float* lse = rb->tmp + mr;
  for (int st = 0, r0 = rb->r0; r0 < rb->r1; ++st, r0 += mr) {
    const int rows = std::min(rb->r1 - r0, mr);
    float* o = rb->o + static_cast<std::int64_t>(st) * mr * rb->ldo;
    const float* m = rb->m + st * mr;
    const float* l = rb->l + st * mr;
    if (!rb->started[st]) std::fill(o, o + mr * rb->ldo, 0.0f);
    for (int r = 0; r < rows; ++r) unbank_row(*rb, st * mr + r);
    for (int r = 0; r < rows; ++r) {
      const float sink = sinks ? sinks[(r0 + r) / p.m] : kNegInf;
      const float shift = alibi_peak_value(p, r0 + r);
      // A split-KV piece (lse_unshifted) has no sink: the merge joins it.
      const RowTotal total = row_total(m[r], l[r], p.lse_unshifted ? 0.0f : shift, sink);
      inv[r] = total.inv;
      lse[r] = total.lse;
    }
    bool nonfinite = false;
    for_each_run(p, r0, rows, p.ldo, p.hso, [&](int r, int count, std::int64_t stride) {
      nonfinite |= ks.normalize(o + r * rb->ldo, rb->ldo, count, p.dv, inv + r,
                                static_cast<char*>(p.o) + p.o_offset(r0 + r) * esz, stride, p.dtype);
    });
    if (p.lse)
      for (int r = 0; r < rows; ++r) p.lse[p.lse_offset(r0 + r)] = lse[r];
    // A NaN or inf a row may not see shows as a non-finite accumulator
    // (0 x inf), which normalize reports: that row alone is computed again
    // exactly (exact_rows.hpp).
    for (int r = 0; r < rows; ++r)
      if ((nonfinite && any_nonfinite(o + r * rb->ldo, p.dv)) || std::isnan(lse[r]))
        exact_row(p, t, r0 + r);
  }
}

}  // namespace attnrt::kernels
