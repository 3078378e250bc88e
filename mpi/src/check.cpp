#include "mpi/src/check.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

#include "mpi/src/error.hpp"
#include "runtime/src/view_rules.hpp"

namespace attnrt::mpi {
namespace {

constexpr attnrt_status kBad = ATTNRT_INVALID_ARGUMENT;
constexpr const char* kDim[4] = {"batch", "heads", "seq", "head_dim"};

constexpr std::int64_t kMaxSeq = std::numeric_limits<std::int32_t>::max();  // as the core

using rt::element_bytes, rt::quantized;

// Bytes [lo, hi) of a view check_view passed.
std::pair<std::uintptr_t, std::uintptr_t> range_of(const attnrt_tensor& t) {
  std::uintptr_t lo = 0, hi = 0;
  rt::byte_range(t, element_bytes(t.dtype), &lo, &hi);
  return {lo, hi};
}

// codes: a quantized K/V's int8 or fp8 codes are allowed too.
void check_view(const char* name, const attnrt_tensor* t, bool codes = false) {
  if (!t) fail(kBad, name, " must not be NULL");
  const int dtype = static_cast<int>(t->dtype);
  if (dtype != ATTNRT_F32 && dtype != ATTNRT_F16 && dtype != ATTNRT_BF16 && !(codes && quantized(t->dtype)))
    fail(kBad, name, ".dtype (", dtype, ") must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16",
         codes ? " (or int8/fp8 codes with a scale)" : "");
  for (int i = 0; i < 4; ++i)
    if (t->shape[i] <= 0) fail(kBad, name, ".", kDim[i], " (", t->shape[i], ") must be positive");
  if (!t->data) fail(kBad, name, ".data must not be NULL");
  for (int i = 0; i < 3; ++i)
    if (t->stride[i] < 0) fail(kBad, name, ".stride[", kDim[i], "] (", t->stride[i], ") must not be negative");
  if (t->shape[2] > kMaxSeq) fail(kBad, name, ".seq (", t->shape[2], ") must be at most ", kMaxSeq);
  std::int64_t elements = 1;
  for (int i = 0; i < 4; ++i)
    if (__builtin_mul_overflow(elements, t->shape[i], &elements))
      fail(kBad, name, ": its element count overflows int64 (shape too large)");
  std::uintptr_t lo, hi;
  switch (rt::byte_range(*t, element_bytes(t->dtype), &lo, &hi)) {
    case rt::RangeFault::none: break;
    case rt::RangeFault::int64_overflow: fail(kBad, name, ": size arithmetic overflows int64 (shape and strides too large)");
    case rt::RangeFault::past_address_space: fail(kBad, name, ": the view runs past the end of the address space");
  }
}

void expect(const char* a, std::int64_t va, const char* b, std::int64_t vb) {
  if (va != vb) fail(kBad, a, " (", va, ") must equal ", b, " (", vb, ")");
}

// attnrt_mpi writes o and lse itself (merged partials): their elements must
// be distinct, as the core requires of the outputs it writes.
void check_output(const char* name, const attnrt_tensor& t) {
  if (const rt::StrideOverlap o = rt::stride_overlap(t); o.dim >= 0)
    fail(kBad, name, ".stride[", kDim[o.dim], "] (", o.stride, ") makes elements of the output overlap: it must be at least ",
         o.need);
}

// What every rank must agree on, and what it says about itself.
struct Verdict {
  std::int64_t shape[7];
  std::int64_t window_left, window_right, num_seqs;
  std::int32_t layout, causal, align, dtype, k_dtype, v_dtype, has_lse, precision, strategy, failed;
  std::int32_t inputs;  // a bit per optional input given (kInputName)
  float scale, softcap;
  char error[400];
};

constexpr const char* kShapeName[7] = {"q.batch", "q.heads", "k.heads", "q.seq", "k.seq", "q.head_dim", "v.head_dim"};

constexpr const char* kInputName[8] = {"alibi_slopes", "sinks",       "kv_lens", "bias",
                                       "cu_seqlens_q", "block_table", "k_scale", "v_scale"};

std::int32_t inputs_of(const attnrt_params& a) {
  const void* given[8] = {a.alibi_slopes, a.sinks, a.kv_lens, a.bias, a.cu_seqlens_q, a.block_table, a.k_scale, a.v_scale};
  std::int32_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= given[i] ? 1 << i : 0;
  return bits;
}

}  // namespace

// Head parallel: each rank's call is the core's own call on its heads, with
// every input the core takes (paged, varlen, quantized K/V ...): the core
// checks them; here only what the ranks compare.
Shape check_heads(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v, const attnrt_tensor* o) {
  check_view("q", q), check_view("o", o);
  for (auto [name, t] : {std::pair{"k", k}, {"v", v}})
    if (!t) fail(kBad, name, " must not be NULL");
  return {q->shape[0], q->shape[1], k->shape[1], q->shape[2], k->shape[2], q->shape[3], v->shape[3], q->dtype, k->dtype, v->dtype};
}

// Per-head arrays the ring and the gather apply themselves (sinks) or hand to
// every call (slopes): checked as the core checks them, before any K/V moves.
void check_head_terms(const attnrt_params& a, std::int64_t heads) {
  for (auto [name, x, sink] : {std::tuple{"params.attn.alibi_slopes", a.alibi_slopes, false},
                               std::tuple{"params.attn.sinks", a.sinks, true}}) {
    if (!x) continue;
    if (const std::int64_t h = rt::bad_head_term(x, heads, sink); h >= 0)
      fail(kBad, name, "[", h, "] (", x[h], ") must be finite", sink ? " or -inf (no sink)" : "");
  }
  for (auto [name, w] : {std::pair{"params.attn.window_left", a.window_left}, {"params.attn.window_right", a.window_right}})
    if (w < -1) fail(kBad, name, " (", w, ") must be -1 (unbounded) or >= 0");
}

// A quantized K or V's scales: fp32, shaped like its codes (pool) with
// head_dim 1, a dimension of 1 broadcast. The core checks them again per
// call, on the slices it is given; here they are named with the caller's shapes.
void check_scales(const char* name, const attnrt_tensor* s, const char* of, const attnrt_tensor& codes) {
  if (!s) return;  // (the core's own error: codes need scales)
  check_view(name, s);
  if (s->dtype != ATTNRT_F32) fail(kBad, name, ".dtype must be ATTNRT_F32");
  if (const int i = rt::bad_scale_dim(*s, codes); i == 3)
    expect((std::string(name) + ".head_dim").c_str(), s->shape[3], "1", 1);
  else if (i >= 0)
    fail(kBad, name, ".", kDim[i], " (", s->shape[i], ") must equal ", of, ".", kDim[i], " (", codes.shape[i], ") or be 1");
}

// Packed query rows: batch 1, num_seqs sequences, offsets as the core
// takes them (view_rules.hpp's rule).
void check_packed_rows(const attnrt_params& a, const attnrt_tensor& q) {
  if (a.num_seqs < 1 || a.num_seqs > kMaxSeq)
    fail(kBad, "params.attn.num_seqs (", a.num_seqs, ") must be in [1, ", kMaxSeq, "] with params.attn.cu_seqlens_q");
  if (q.shape[0] != 1) fail(kBad, "q.batch (", q.shape[0], ") must be 1 with params.attn.cu_seqlens_q: sequences are packed along seq");
  const std::int32_t* cu = a.cu_seqlens_q;
  switch (const rt::OffsetFault f = rt::bad_offset(cu, a.num_seqs, q.shape[2]); f.rule) {
    case rt::OffsetFault::none: return;
    case rt::OffsetFault::first: fail(kBad, "params.attn.cu_seqlens_q[0] (", cu[0], ") must be 0");
    case rt::OffsetFault::order:
      fail(kBad, "params.attn.cu_seqlens_q[", f.at, "] (", cu[f.at], ") must be >= params.attn.cu_seqlens_q[", f.at - 1,
           "] (", cu[f.at - 1], "): offsets are non-decreasing");
    case rt::OffsetFault::total:
      fail(kBad, "params.attn.cu_seqlens_q[", f.at, "] (", cu[f.at], ") must equal q.seq (", q.shape[2],
           "), the rows the sequences pack");
  }
}

// A bias over a rank's rows (q.seq) and the keys its calls see: all keys
// (ranks x n) on the ring, the rank's own (n) in the key layout, where the
// core reads pages in place and takes no bias with them.
void check_bias(const attnrt_tensor& bias, const attnrt_tensor& q, std::int64_t keys, bool pages_in_place) {
  if (pages_in_place)
    fail(kBad, "params.attn.bias is not supported with params.attn.block_table under ATTNRT_MPI_KEYS (the core reads the "
               "pages in place, without bias; the ring layouts take both)");
  check_view("params.attn.bias", &bias);
  if (bias.dtype != ATTNRT_F32) fail(kBad, "params.attn.bias.dtype must be ATTNRT_F32");
  for (int i = 0; i < 2; ++i)
    if (bias.shape[i] != 1 && bias.shape[i] != q.shape[i])
      fail(kBad, "params.attn.bias.", kDim[i], " (", bias.shape[i], ") must be 1 or q.", kDim[i], " (", q.shape[i], ")");
  expect("params.attn.bias.seq", bias.shape[2], "q.seq", q.shape[2]);
  if (bias.shape[3] != keys)
    fail(kBad, "params.attn.bias.head_dim (its key dimension, ", bias.shape[3], ") must equal the keys the rank's rows see (",
         keys, ": all ranks' keys on the ring, its own with ATTNRT_MPI_KEYS)");
}

Shape check_local(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
                  const attnrt_tensor* o, const attnrt_mpi_params* p, int ranks) {
  if (!p) fail(kBad, "params must not be NULL (attnrt_mpi_params_init gives the defaults)");
  const int layout = static_cast<int>(p->layout);
  if (layout < ATTNRT_MPI_CONTEXT || layout > ATTNRT_MPI_HEADS)
    fail(kBad, "params.layout (", layout, ") must be one of ATTNRT_MPI_*");
  if (p->layout == ATTNRT_MPI_HEADS) return check_heads(q, k, v, o);
  const attnrt_params& a = p->attn;
  // A paged or quantized cache as the core takes it: the decode gather's
  // calls read it in place, the ring gathers it into its first block.
  const bool paged = a.block_table != nullptr;
  check_view("q", q), check_view("o", o);
  check_view("k", k, true), check_view("v", v, true);
  for (auto [name, t] : {std::pair{"k", k}, {"v", v}, {"o", o}})
    if (t->dtype != q->dtype && !quantized(t->dtype))
      fail(kBad, name, ".dtype (", t->dtype, ") must equal q.dtype (", q->dtype, ")");
  if (!paged) expect("k.batch", k->shape[0], "q.batch", q->shape[0]);  // (a pool's pages otherwise)
  for (int i = 0; i < 3; ++i) expect((std::string("v.") + kDim[i]).c_str(), v->shape[i], (std::string("k.") + kDim[i]).c_str(), k->shape[i]);
  expect("k.head_dim", k->shape[3], "q.head_dim", q->shape[3]);
  if (q->shape[1] % k->shape[1] != 0) fail(kBad, "k.heads (", k->shape[1], ") must divide q.heads (", q->shape[1], ")");
  for (int i = 0; i < 3; ++i) expect((std::string("o.") + kDim[i]).c_str(), o->shape[i], (std::string("q.") + kDim[i]).c_str(), q->shape[i]);
  expect("o.head_dim", o->shape[3], "v.head_dim", v->shape[3]);
  check_output("o", *o);

  if (a.causal != 0 && a.causal != 1) fail(kBad, "params.attn.causal (", a.causal, ") must be 0 or 1");
  if (a.align != ATTNRT_ALIGN_BOTTOM_RIGHT && a.align != ATTNRT_ALIGN_TOP_LEFT)
    fail(kBad, "params.attn.align (", static_cast<int>(a.align), ") must be ATTNRT_ALIGN_BOTTOM_RIGHT or ATTNRT_ALIGN_TOP_LEFT");
  // Packed query rows (cu_seqlens_q) over a key-sharded paged cache: each
  // rank holds every row, as the core packs them; the calls cut them per
  // sequence. Packed keys (cu_seqlens_k) are head parallel only.
  if (a.cu_seqlens_k) fail(kBad, "params.attn.cu_seqlens_k must be unset: attnrt_mpi shards it with ATTNRT_MPI_HEADS only");
  if (a.cu_seqlens_q && !(p->layout == ATTNRT_MPI_KEYS && paged))
    fail(kBad, "params.attn.cu_seqlens_q must be unset: attnrt_mpi takes packed query rows with ATTNRT_MPI_KEYS over a paged "
               "cache (block_table) or with ATTNRT_MPI_HEADS");
  if (!a.cu_seqlens_q && a.num_seqs != 0)
    fail(kBad, "params.attn.num_seqs (", a.num_seqs, ") must be 0 when params.attn.cu_seqlens_q is NULL");
  if (a.cu_seqlens_q) check_packed_rows(a, *q);
  const std::int64_t seqs = a.cu_seqlens_q ? a.num_seqs : q->shape[0];
  if (a.kv_lens)
    for (std::int64_t b = 0; b < seqs; ++b)
      if (a.kv_lens[b] < 0) fail(kBad, "params.attn.kv_lens[", b, "] (", a.kv_lens[b], ") must not be negative");
  check_scales("params.attn.k_scale", a.k_scale, "k", *k);
  check_scales("params.attn.v_scale", a.v_scale, "v", *v);
  std::int64_t n = k->shape[2];
  if (paged) {
    if (a.block_table_stride < 1)
      fail(kBad, "params.attn.block_table_stride (", a.block_table_stride, ") must be at least 1 with a block_table");
    if (!a.kv_lens) fail(kBad, "params.attn.kv_lens must be given with a block_table (each sequence's keys in all)");
    if (__builtin_mul_overflow(a.block_table_stride, k->shape[2], &n) || n > kMaxSeq)
      fail(kBad, "params.attn.block_table_stride x k.seq (the page size) must be at most ", kMaxSeq, " keys");
  }
  if (p->layout == ATTNRT_MPI_CONTEXT_ZIGZAG && (q->shape[2] % 2 || n % 2))
    fail(kBad, "q.seq (", q->shape[2], ") and ", paged ? "block_table_stride x k.seq" : "k.seq", " (", n,
         ") must be even with ATTNRT_MPI_CONTEXT_ZIGZAG (two chunks per rank)");
  check_head_terms(a, q->shape[1]);
  if (a.bias) check_bias(*a.bias, *q, p->layout == ATTNRT_MPI_KEYS ? n : ranks * n, paged && p->layout == ATTNRT_MPI_KEYS);
  if (a.lse) {
    check_view("params.attn.lse", a.lse);
    if (a.lse->dtype != ATTNRT_F32) fail(kBad, "params.attn.lse.dtype must be ATTNRT_F32");
    for (int i = 0; i < 3; ++i)
      expect((std::string("params.attn.lse.") + kDim[i]).c_str(), a.lse->shape[i], (std::string("q.") + kDim[i]).c_str(), q->shape[i]);
    expect("params.attn.lse.head_dim", a.lse->shape[3], "1", 1);
    check_output("params.attn.lse", *a.lse);
    const auto [o_lo, o_hi] = range_of(*o);
    const auto [l_lo, l_hi] = range_of(*a.lse);
    if (o_lo < l_hi && l_lo < o_hi) fail(kBad, "params.attn.lse overlaps o in memory");
  }
  return {q->shape[0], q->shape[1], k->shape[1], q->shape[2], n, q->shape[3], v->shape[3], q->dtype, k->dtype, v->dtype};
}

void check_together(MPI_Comm comm, const std::string& error, const Shape& shape, const attnrt_mpi_params* p) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  Verdict mine{};
  const std::int64_t s[7] = {shape.batch, shape.q_heads, shape.kv_heads, shape.m, shape.n, shape.d, shape.dv};
  std::copy(s, s + 7, mine.shape);
  mine.dtype = shape.dtype, mine.k_dtype = shape.k_dtype, mine.v_dtype = shape.v_dtype;
  if (p) {
    mine.layout = p->layout, mine.causal = p->attn.causal, mine.align = p->attn.align;
    mine.has_lse = p->attn.lse != nullptr, mine.precision = p->attn.precision, mine.strategy = p->attn.strategy;
    mine.scale = p->attn.scale, mine.softcap = p->attn.softcap;
    mine.window_left = p->attn.window_left, mine.window_right = p->attn.window_right, mine.num_seqs = p->attn.num_seqs;
    mine.inputs = inputs_of(p->attn);
  }
  mine.failed = !error.empty();
  std::strncpy(mine.error, error.c_str(), sizeof mine.error - 1);
  std::vector<Verdict> all(static_cast<std::size_t>(size));
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, comm);

  // Every rank runs this same loop over the same data: the same answer.
  for (int r = 0; r < size; ++r)
    if (all[r].failed) fail(kBad, "rank ", r, ": ", all[r].error);
  const Verdict& first = all[0];
  const bool heads = first.layout == ATTNRT_MPI_HEADS;
  for (int r = 1; r < size; ++r) {
    const Verdict& x = all[r];
    // (K/V dtypes: the ring's blocks are read as the sender's; head parallel's are each rank's own.)
    const std::int32_t mine_p[9] = {x.layout, x.causal, x.align, x.has_lse, x.precision, x.strategy, x.dtype,
                                    heads ? 0 : x.k_dtype, heads ? 0 : x.v_dtype};
    const std::int32_t first_p[9] = {first.layout, first.causal, first.align, first.has_lse, first.precision, first.strategy,
                                     first.dtype, heads ? 0 : first.k_dtype, heads ? 0 : first.v_dtype};
    constexpr const char* kParam[9] = {"params.layout", "params.attn.causal", "params.attn.align",
                                       "params.attn.lse (given or not)", "params.attn.precision", "params.attn.strategy",
                                       "q.dtype", "k.dtype", "v.dtype"};
    const auto value = [](int i, std::int32_t v) { return i >= 6 ? std::string(rt::dtype_name(static_cast<attnrt_dtype>(v))) : std::to_string(v); };
    for (int i = 0; i < 9; ++i)
      if (mine_p[i] != first_p[i])
        fail(kBad, "rank ", r, ": ", kParam[i], " (", value(i, mine_p[i]), ") differs from rank 0's (",
             value(i, first_p[i]), "): every rank must pass the same parameters");
    for (auto [name, mine_w, first_w] : {std::tuple{"params.attn.num_seqs", x.num_seqs, first.num_seqs},
                                         std::tuple{"params.attn.window_left", x.window_left, first.window_left},
                                         std::tuple{"params.attn.window_right", x.window_right, first.window_right}})
      if (mine_w != first_w)
        fail(kBad, "rank ", r, ": ", name, " (", mine_w, ") differs from rank 0's (", first_w,
             "): every rank must pass the same parameters");
    for (int i = 0; i < 8; ++i)
      if (((x.inputs ^ first.inputs) >> i) & 1)
        fail(kBad, "rank ", r, ": params.attn.", kInputName[i], (x.inputs >> i & 1) ? " is given" : " is NULL",
             " where rank 0's is ", (first.inputs >> i & 1) ? "given" : "NULL", ": every rank must pass the same parameters");
    if (std::memcmp(&x.scale, &first.scale, sizeof x.scale) || std::memcmp(&x.softcap, &first.softcap, sizeof x.softcap))
      fail(kBad, "rank ", r, ": params.attn.scale or softcap (", x.scale, ", ", x.softcap, ") differs from rank 0's (",
           first.scale, ", ", first.softcap, "): every rank must pass the same parameters");
    for (int i = 0; i < 7; ++i) {
      if (heads && (i == 1 || i == 2)) continue;  // head parallel: head counts are each rank's own
      const bool pages = i == 4 && (first.inputs >> 5 & 1);  // (block_table: a paged cache's n)
      if (x.shape[i] != first.shape[i])
        fail(kBad, "rank ", r, ": ", pages ? "block_table_stride x k.seq (the keys a rank holds)" : kShapeName[i], " (",
             x.shape[i], ") differs from rank 0's (", first.shape[i], "): every rank's shard must have the same shape");
    }
  }
}

std::string check_pages(const attnrt_params& a, const attnrt_tensor& k, const attnrt_tensor& v,
                        const std::vector<std::int64_t>& held) {
  const std::int64_t page = k.shape[2], pages = std::min(k.shape[0], v.shape[0]);
  for (std::size_t b = 0; b < held.size(); ++b)
    for (std::int64_t s = 0; s < (held[b] + page - 1) / page; ++s) {
      const std::int64_t at = static_cast<std::int64_t>(b) * a.block_table_stride + s, x = a.block_table[at];
      if (x < 0 || x >= pages)
        return "params.attn.block_table[" + std::to_string(at) + "] (" + std::to_string(x) + ") must be a page of k and v (0 to " +
               std::to_string(pages - 1) + "): sequence " + std::to_string(b) + "'s slot " + std::to_string(s) +
               " holds keys it has on this rank";
    }
  return "";
}

void agree_on_status(MPI_Comm comm, const std::string& error, attnrt_status status) {
  int rank = 0, size = 0;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int mine = error.empty() ? size : rank;
  int first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return;
  char text[512] = {};
  int code = status;
  if (rank == first) std::strncpy(text, error.c_str(), sizeof text - 1);
  MPI_Bcast(text, sizeof text, MPI_CHAR, first, comm);
  MPI_Bcast(&code, 1, MPI_INT, first, comm);
  throw Agreed(static_cast<attnrt_status>(code), "rank " + std::to_string(first) + ": " + text);
}

}  // namespace attnrt::mpi
