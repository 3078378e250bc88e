#include "runtime/src/validate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

#include "kernels/kernel_set.hpp"
#include "runtime/src/error.hpp"
#include "runtime/src/raw_enum.hpp"
#include "runtime/src/view_rules.hpp"

namespace attnrt::rt {
namespace {

constexpr attnrt_status kBad = ATTNRT_INVALID_ARGUMENT;
constexpr const char* kDim[4] = {"batch", "heads", "seq", "head_dim"};
constexpr std::int64_t kMaxSeq = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kMaxPageSize = 256;  // vLLM's largest block size

// Byte extent [lo, hi) a view touches, with overflow checks.
struct Extent {
  std::uintptr_t lo, hi;
};

Extent extent_of(const char* name, const attnrt_tensor& t) {
  Extent e{};
  switch (byte_range(t, element_bytes(t.dtype), &e.lo, &e.hi)) {
    case RangeFault::none: break;
    case RangeFault::int64_overflow: fail(kBad, name, ": size arithmetic overflows int64 (shape and strides too large)");
    case RangeFault::past_address_space: fail(kBad, name, ": the view runs past the end of the address space");
  }
  return e;
}

}  // namespace

// kv: k and v may also hold int8/fp8 codes (a quantized KV cache).
void check_tensor(const char* name, const attnrt_tensor* t, bool kv) {
  if (!t) fail(kBad, name, " must not be NULL");
  const int dtype = raw_enum(t->dtype);
  if (dtype == ATTNRT_I8 || dtype == ATTNRT_F8_E4M3 || dtype == ATTNRT_F8_E5M2) {
    if (!kv)
      fail(kBad, name, ".dtype (", dtype_name(t->dtype),
           ") must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16: only k and v may be quantized");
  } else if (dtype != ATTNRT_F32 && dtype != ATTNRT_F16 && dtype != ATTNRT_BF16) {
    fail(kBad, name, ".dtype (", dtype, ") must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16",
         kv ? " (or ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2)" : "");
  }
  for (int i = 0; i < 4; ++i)
    if (t->shape[i] <= 0) fail(kBad, name, ".", kDim[i], " (", t->shape[i], ") must be positive");
  // After the shape: an empty array's data may well be NULL.
  if (!t->data) fail(kBad, name, ".data must not be NULL");
  for (int i = 0; i < 3; ++i)
    if (t->stride[i] < 0)
      fail(kBad, name, ".stride[", kDim[i], "] (", t->stride[i], ") must not be negative");
  // Lengths, and batches and heads as work items count them (int).
  for (int i = 0; i < 3; ++i)
    if (t->shape[i] > kMaxSeq) fail(kBad, name, ".", kDim[i], " (", t->shape[i], ") must be at most ", kMaxSeq);
  if (reinterpret_cast<std::uintptr_t>(t->data) % element_bytes(t->dtype) != 0)
    fail(kBad, name, ".data must be aligned to its element size (", element_bytes(t->dtype), " bytes)");
  extent_of(name, *t);
}

// An output's elements must be distinct: sorted by stride, each dimension
// must step past everything the smaller ones span. Checked after the shape
// rules, so a wrong shape is reported as such, not as the overlap it implies.
void check_distinct(const char* name, const attnrt_tensor& t) {
  if (const StrideOverlap o = stride_overlap(t); o.dim >= 0)
    fail(kBad, name, ".stride[", kDim[o.dim], "] (", o.stride, ") makes elements of the output overlap: it must be at least ",
         o.need);
}

void check_disjoint(const char* out_name, const attnrt_tensor& out, const char* in_name,
                    const attnrt_tensor& in) {
  const Extent a = extent_of(out_name, out), b = extent_of(in_name, in);
  if (a.lo < b.hi && b.lo < a.hi)
    fail(kBad, out_name, " overlaps ", in_name, " in memory (their address ranges meet: an output may not use ",
         "even the gaps between an input's elements)");
}

attnrt_tensor array_view(const void* a, std::int64_t bytes) {
  const std::int64_t n = (bytes + 3) / 4;
  return attnrt_tensor{const_cast<void*>(a), ATTNRT_F32, {1, 1, 1, n}, {n, n, n}};
}

void require_eq(const char* a, std::int64_t va, const char* b, std::int64_t vb) {
  if (va != vb) fail(kBad, a, " (", va, ") must equal ", b, " (", vb, ")");
}

namespace {

// cu_seqlens of a varlen call: 0 first, non-decreasing, ending at the tensor's
// seq (the total it packs). Sequences of 0 rows or keys are valid.
void check_offsets(const char* name, const std::int32_t* cu, std::int64_t seqs, const char* total_name,
                   std::int64_t total) {
  switch (const rt::OffsetFault f = rt::bad_offset(cu, seqs, total); f.rule) {
    case rt::OffsetFault::none: return;
    case rt::OffsetFault::first: fail(kBad, name, "[0] (", cu[0], ") must be 0");
    case rt::OffsetFault::order:
      fail(kBad, name, "[", f.at, "] (", cu[f.at], ") must be >= ", name, "[", f.at - 1, "] (", cu[f.at - 1],
           "): offsets are non-decreasing (sequence ", f.at - 1, " would have ", std::int64_t{cu[f.at]} - cu[f.at - 1],
           " rows)");
    case rt::OffsetFault::total:
      fail(kBad, name, "[", seqs, "] (", cu[seqs], ") must equal ", total_name, " (", total,
           "), the rows the sequences pack");
  }
}

// A varlen call (params.cu_seqlens_q): offsets, batch 1 (k, v and o have
// q's, checked before), and the inputs that have no per-sequence meaning yet.
// Paged K/V take their key counts from kv_lens, not from cu_seqlens_k.
void check_varlen(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_params& p) {
  const bool paged = p.block_table != nullptr;
  if (!p.cu_seqlens_q) {
    if (p.cu_seqlens_k)
      fail(kBad, "params.cu_seqlens_k needs params.cu_seqlens_q (varlen offsets come in pairs)");
    if (p.num_seqs != 0)
      fail(kBad, "params.num_seqs (", p.num_seqs, ") must be 0 when params.cu_seqlens_q is NULL");
    return;
  }
  if (paged && p.cu_seqlens_k)
    fail(kBad, "params.cu_seqlens_k must be NULL with params.block_table (key counts come from params.kv_lens)");
  if (!paged && !p.cu_seqlens_k) fail(kBad, "params.cu_seqlens_k must not be NULL when params.cu_seqlens_q is given");
  if (p.num_seqs < 1 || p.num_seqs > kMaxSeq)
    fail(kBad, "params.num_seqs (", p.num_seqs, ") must be in [1, ", kMaxSeq, "] with params.cu_seqlens_q");
  if (q.shape[0] != 1)
    fail(kBad, "q.batch (", q.shape[0], ") must be 1 with params.cu_seqlens_q: sequences are packed along seq");
  check_offsets("params.cu_seqlens_q", p.cu_seqlens_q, p.num_seqs, "q.seq", q.shape[2]);
  if (!paged) check_offsets("params.cu_seqlens_k", p.cu_seqlens_k, p.num_seqs, "k.seq", k.shape[2]);
  if (p.kv_lens && !paged) fail(kBad, "params.kv_lens must be NULL with params.cu_seqlens_q (key lengths come from cu_seqlens_k)");
  if (p.bias) fail(kBad, "params.bias is not supported with params.cu_seqlens_q (varlen)");
}

// A paged call (params.block_table): k and v are page pools of the same
// shape, each sequence's kv_lens fits its row of the table, and every slot
// those keys need names a page of the pool. Slots past a sequence's keys
// are never read, so they are not checked (a server leaves them stale).
void check_paged(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
                 const attnrt_params& p) {
  require_eq("v.pages", v.shape[0], "k.pages", k.shape[0]);
  require_eq("v.page_size", v.shape[2], "k.page_size", k.shape[2]);
  const std::int64_t page_size = k.shape[2], pages = k.shape[0];
  if (page_size > kMaxPageSize)
    fail(kBad, "k.page_size (", page_size, ") must be at most ", kMaxPageSize, " with params.block_table");
  if (p.block_table_stride < 1 || p.block_table_stride > kMaxSeq)
    fail(kBad, "params.block_table_stride (", p.block_table_stride, ") must be in [1, ", kMaxSeq,
         "] with params.block_table");
  if (!p.kv_lens) fail(kBad, "params.kv_lens must not be NULL with params.block_table (each sequence's key count)");
  const std::int64_t seqs = p.cu_seqlens_q ? p.num_seqs : q.shape[0];
  const std::int64_t room = p.block_table_stride * page_size;
  for (std::int64_t b = 0; b < seqs; ++b) {
    const std::int64_t n = p.kv_lens[b];
    if (n < 0 || n > room)
      fail(kBad, "params.kv_lens[", b, "] (", n, ") must be in [0, ", room, "]: params.block_table_stride (",
           p.block_table_stride, ") pages of k.page_size (", page_size, ") keys");
    if (n > kMaxSeq) fail(kBad, "params.kv_lens[", b, "] (", n, ") must be at most ", kMaxSeq);
    const std::int32_t* row = p.block_table + b * p.block_table_stride;
    for (std::int64_t slot = 0; slot < (n + page_size - 1) / page_size; ++slot)
      if (row[slot] < 0 || row[slot] >= pages)
        fail(kBad, "params.block_table[b=", b, "][slot ", slot, "] (", row[slot], ") must be in [0, k.pages (",
             pages, "))");
  }
}

// Quantized K/V: k and v of one 1-byte format, each with an fp32 scale view
// shaped like it with head_dim 1, a dimension of size 1 broadcast. Scales
// are user data: read as given, never checked for finiteness (a NaN or inf
// scale makes those keys' scores or values NaN/inf, as such K/V would).
// Plain K/V take no scales.
void check_scales(const attnrt_tensor& k, const attnrt_tensor& v, const attnrt_params& p) {
  if (!quantized(k.dtype) && !quantized(v.dtype)) {
    if (p.k_scale || p.v_scale)
      fail(kBad, p.k_scale ? "params.k_scale" : "params.v_scale", " must be NULL unless k and v are quantized (k.dtype is ",
           dtype_name(k.dtype), ")");
    return;
  }
  if (v.dtype != k.dtype)
    fail(kBad, "v.dtype (", dtype_name(v.dtype), ") must equal k.dtype (", dtype_name(k.dtype), ")");
  for (auto [name, s, kv, kv_name] : {std::tuple{"params.k_scale", p.k_scale, &k, "k"}, {"params.v_scale", p.v_scale, &v, "v"}}) {
    if (!s) fail(kBad, name, " must not be NULL with ", kv_name, ".dtype ", dtype_name(kv->dtype), " (the fp32 scales of its rows)");
    check_tensor(name, s);
    if (s->dtype != ATTNRT_F32) fail(kBad, name, ".dtype (", dtype_name(s->dtype), ") must be fp32");
    if (const int i = bad_scale_dim(*s, *kv); i == 3) {
      require_eq((std::string(name) + ".head_dim").c_str(), s->shape[3], "1", 1);
    } else if (i >= 0) {
      // Paged K and V are pools [pages, heads, page_size, D].
      const char* dim = !p.block_table ? kDim[i] : i == 0 ? "pages" : i == 2 ? "page_size" : kDim[i];
      fail(kBad, name, ".", dim, " (", s->shape[i], ") must be 1 (broadcast) or ", kv_name, ".", dim, " (",
           kv->shape[i], ")");
    }
  }
}

// Everything besides q, k and v that the call reads while it writes o and
// lse (checked against those where the rules above are): none may share
// memory with either, or a worker could read what another has already
// written (key lengths, offsets or page numbers from o's bits: reads past K).
void check_reads_apart_from_outputs(const attnrt_tensor& q, const attnrt_tensor& o, const attnrt_params& p) {
  auto apart = [&](const char* name, const attnrt_tensor& in) {
    check_disjoint("o", o, name, in);
    if (p.lse) check_disjoint("params.lse", *p.lse, name, in);
  };
  const std::int64_t seqs = p.cu_seqlens_q ? p.num_seqs : q.shape[0], heads = q.shape[1];
  if (p.bias) apart("params.bias", *p.bias);
  if (p.alibi_slopes) apart("params.alibi_slopes", array_view(p.alibi_slopes, heads * 4));
  if (p.sinks) apart("params.sinks", array_view(p.sinks, heads * 4));
  if (p.cu_seqlens_q) apart("params.cu_seqlens_q", array_view(p.cu_seqlens_q, (seqs + 1) * 4));
  if (p.cu_seqlens_k) apart("params.cu_seqlens_k", array_view(p.cu_seqlens_k, (seqs + 1) * 4));
  if (p.kv_lens) apart("params.kv_lens", array_view(p.kv_lens, seqs * 8));
  if (p.block_table) apart("params.block_table", array_view(p.block_table, seqs * p.block_table_stride * 4));
  if (p.k_scale) apart("params.k_scale", *p.k_scale);
  if (p.v_scale) apart("params.v_scale", *p.v_scale);
}

}  // namespace

void validate(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
              const attnrt_tensor* o, const attnrt_params& p) {
  check_tensor("q", q);
  check_tensor("k", k, true);
  check_tensor("v", v, true);
  check_tensor("o", o);

  for (auto [name, t] : {std::pair{"k", k}, {"v", v}, {"o", o}})
    if (t->dtype != q->dtype && !quantized(t->dtype))
      fail(kBad, name, ".dtype (", dtype_name(t->dtype), ") must equal q.dtype (", dtype_name(q->dtype), ")");

  const bool paged = p.block_table != nullptr;  // then k and v are page pools: check_paged
  if (!paged && p.block_table_stride != 0)
    fail(kBad, "params.block_table_stride (", p.block_table_stride, ") must be 0 when params.block_table is NULL");
  if (!paged) require_eq("k.batch", k->shape[0], "q.batch", q->shape[0]);
  if (!paged) require_eq("v.batch", v->shape[0], "q.batch", q->shape[0]);
  require_eq("o.batch", o->shape[0], "q.batch", q->shape[0]);
  if (q->shape[1] % k->shape[1] != 0)
    fail(kBad, "k.heads (", k->shape[1], ") must divide q.heads (", q->shape[1], ")");
  require_eq("v.heads", v->shape[1], "k.heads", k->shape[1]);
  require_eq("o.heads", o->shape[1], "q.heads", q->shape[1]);
  if (!paged) require_eq("v.seq", v->shape[2], "k.seq", k->shape[2]);
  require_eq("o.seq", o->shape[2], "q.seq", q->shape[2]);
  require_eq("k.head_dim", k->shape[3], "q.head_dim", q->shape[3]);
  require_eq("o.head_dim", o->shape[3], "v.head_dim", v->shape[3]);
  for (auto [name, t] : {std::pair{"q", q}, {"v", v}})
    if (t->shape[3] > kernels::kMaxHeadDim)
      fail(kBad, name, ".head_dim (", t->shape[3], ") must be at most ", kernels::kMaxHeadDim);

  check_distinct("o", *o);
  check_disjoint("o", *o, "q", *q);
  check_disjoint("o", *o, "k", *k);
  check_disjoint("o", *o, "v", *v);

  if (!std::isfinite(p.scale)) fail(kBad, "params.scale (", p.scale, ") must be finite");
  if (!std::isfinite(p.softcap) || p.softcap < 0)
    fail(kBad, "params.softcap (", p.softcap, ") must be finite and >= 0 (0 = off)");
  if (p.causal != 0 && p.causal != 1) fail(kBad, "params.causal (", p.causal, ") must be 0 or 1");
  const int align = raw_enum(p.align), precision = raw_enum(p.precision), strategy = raw_enum(p.strategy);
  if (align != ATTNRT_ALIGN_BOTTOM_RIGHT && align != ATTNRT_ALIGN_TOP_LEFT)
    fail(kBad, "params.align (", align, ") must be ATTNRT_ALIGN_BOTTOM_RIGHT or ATTNRT_ALIGN_TOP_LEFT");
  if (p.window_left < -1) fail(kBad, "params.window_left (", p.window_left, ") must be >= 0, or -1 for unbounded");
  if (p.window_right < -1) fail(kBad, "params.window_right (", p.window_right, ") must be >= 0, or -1 for unbounded");
  if (precision != ATTNRT_EXP2_ACCURATE && precision != ATTNRT_EXP2_FAST)
    fail(kBad, "params.precision (", precision, ") must be ATTNRT_EXP2_ACCURATE or ATTNRT_EXP2_FAST");
  if (strategy < ATTNRT_STRATEGY_AUTO || strategy > ATTNRT_STRATEGY_THREE_PASS)
    fail(kBad, "params.strategy (", strategy, ") must be one of ATTNRT_STRATEGY_*");

  check_varlen(*q, *k, p);
  if (p.kv_lens && !paged)
    for (std::int64_t b = 0; b < q->shape[0]; ++b)
      if (p.kv_lens[b] < 0 || p.kv_lens[b] > k->shape[2])
        fail(kBad, "params.kv_lens[", b, "] (", p.kv_lens[b], ") must be in [0, k.seq (", k->shape[2], ")]");

  // Per-head arrays: finite slopes; sinks finite or -inf (no sink).
  for (auto [name, a, sink] : {std::tuple{"params.alibi_slopes", p.alibi_slopes, false},
                               std::tuple{"params.sinks", p.sinks, true}}) {
    if (!a) continue;
    if (const std::int64_t h = bad_head_term(a, q->shape[1], sink); h >= 0)
      fail(kBad, name, "[", h, "] (", a[h], ") must be finite", sink ? " or -inf (no sink)" : "");
  }

  if (p.bias) {
    if (paged) fail(kBad, "params.bias is not supported with params.block_table (paged K/V)");
    const attnrt_tensor& b = *p.bias;
    check_tensor("params.bias", &b);
    if (b.dtype != ATTNRT_F32) fail(kBad, "params.bias.dtype (", dtype_name(b.dtype), ") must be fp32");
    if (b.shape[0] != 1 && b.shape[0] != q->shape[0])
      fail(kBad, "params.bias.batch (", b.shape[0], ") must be 1 or q.batch (", q->shape[0], ")");
    if (b.shape[1] != 1 && b.shape[1] != q->shape[1])
      fail(kBad, "params.bias.heads (", b.shape[1], ") must be 1 or q.heads (", q->shape[1], ")");
    require_eq("params.bias.seq", b.shape[2], "q.seq", q->shape[2]);
    require_eq("params.bias.head_dim (its key dimension)", b.shape[3], "k.seq", k->shape[2]);
  }
  if (p.lse) {
    const attnrt_tensor& l = *p.lse;
    check_tensor("params.lse", &l);
    if (l.dtype != ATTNRT_F32) fail(kBad, "params.lse.dtype (", dtype_name(l.dtype), ") must be fp32");
    require_eq("params.lse.batch", l.shape[0], "q.batch", q->shape[0]);
    require_eq("params.lse.heads", l.shape[1], "q.heads", q->shape[1]);
    require_eq("params.lse.seq", l.shape[2], "q.seq", q->shape[2]);
    require_eq("params.lse.head_dim", l.shape[3], "1", 1);
    check_distinct("params.lse", l);
    check_disjoint("params.lse", l, "q", *q);
    check_disjoint("params.lse", l, "k", *k);
    check_disjoint("params.lse", l, "v", *v);
    check_disjoint("params.lse", l, "o", *o);
  }
  if (paged) check_paged(*q, *k, *v, p);
  check_scales(*k, *v, p);
  check_reads_apart_from_outputs(*q, *o, p);
}

}  // namespace attnrt::rt
