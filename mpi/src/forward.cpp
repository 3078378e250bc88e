// attnrt_mpi_forward: the collective check, then the layout's work (the K/V
// ring, the decode gather or the local heads), then one agreed status.
#include <attnrt/attnrt_mpi.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/fp_env.hpp"
#include "mpi/src/blocks.hpp"
#include "mpi/src/check.hpp"
#include "mpi/src/error.hpp"
#include "mpi/src/merge.hpp"
#include "runtime/src/view_rules.hpp"

namespace attnrt::mpi {
namespace {

constexpr int kTag = 0x4154;                  // attnrt's K/V blocks on the user's communicator
constexpr std::int64_t kPiece = 1LL << 30;    // bytes per message: MPI counts are int
constexpr std::int64_t kProgressPieces = 4;   // MPI progress points per call while K/V is in flight

using rt::element_bytes;

attnrt_tensor rows(attnrt_tensor t, std::int64_t r0, std::int64_t len) {
  t.data = static_cast<unsigned char*>(t.data) + r0 * t.stride[2] * static_cast<std::int64_t>(element_bytes(t.dtype));
  t.shape[2] = len;
  return t;
}

attnrt_tensor batch_range(attnrt_tensor t, std::int64_t b0, std::int64_t b1) {
  t.data = static_cast<unsigned char*>(t.data) + b0 * t.stride[0] * static_cast<std::int64_t>(element_bytes(t.dtype));
  t.shape[0] = b1 - b0;
  return t;
}

attnrt_tensor head_range(attnrt_tensor t, std::int64_t h0, std::int64_t h1) {
  t.data = static_cast<unsigned char*>(t.data) + h0 * t.stride[1] * static_cast<std::int64_t>(element_bytes(t.dtype));
  t.shape[1] = h1 - h0;
  return t;
}

attnrt_tensor dense(void* data, attnrt_dtype t, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  return {data, t, {b, h, s, d}, {h * s * d, s * d, d}};
}

// Keys [k0, k0 + len) of batches [b0, b1), heads [h0, h1), of K, V or
// their scales, a dimension of 1 (a broadcast scale) left whole; a paged
// pool is cut by heads only (its calls' block tables say the keys).
attnrt_tensor keys_of(attnrt_tensor t, bool pool, std::int64_t b0, std::int64_t b1, std::int64_t k0, std::int64_t len,
                      std::int64_t h0, std::int64_t h1) {
  if (t.shape[1] != 1) t = head_range(t, h0, h1);
  if (pool) return t;
  if (t.shape[0] != 1) t = batch_range(t, b0, b1);
  if (t.shape[2] != 1) t = rows(t, k0, len);
  return t;
}

// A bias's rows [q0, q0 + q_len) against its columns [col, col + k_len),
// of batches [b0, b1) and query heads [h0, h1) (a dimension of 1 broadcast).
attnrt_tensor bias_of(attnrt_tensor t, std::int64_t b0, std::int64_t b1, std::int64_t h0, std::int64_t h1, std::int64_t q0,
                      std::int64_t q_len, std::int64_t col, std::int64_t k_len) {
  if (t.shape[0] != 1) t = batch_range(t, b0, b1);
  if (t.shape[1] != 1) t = head_range(t, h0, h1);
  t = rows(t, q0, q_len);
  t.data = static_cast<float*>(t.data) + col;
  t.shape[3] = k_len;
  return t;
}

// The keys a call step reads: K and V, dense or a paged cache's pools,
// with their scales where quantized, as the core takes them.
struct KvBlock {
  attnrt_tensor k, v;
  const attnrt_tensor* k_scale = nullptr;
  const attnrt_tensor* v_scale = nullptr;
  const std::int32_t* table = nullptr;  // a paged cache's block table
  std::int64_t table_stride = 0;
  std::int64_t page() const { return table ? k.shape[2] : 1; }
};

// Element [b, h, s] of a view (a dimension of 1 broadcast, as a scale's).
std::int64_t element(const attnrt_tensor& t, std::int64_t b, std::int64_t h, std::int64_t s) {
  return (t.shape[0] == 1 ? 0 : b) * t.stride[0] + (t.shape[1] == 1 ? 0 : h) * t.stride[1] + (t.shape[2] == 1 ? 0 : s) * t.stride[2];
}

// Copies the rank's n keys of each sequence of K or V (`side` of kv: 0 K,
// 1 V) into dense [B, H, n, D] memory at dst, and their scales, if any,
// into [B, H, n] fp32 at scales: the ring's block. A paged cache's key j of
// sequence b is row j % page of the page its table names; keys at or past
// held[b] (past the sequence's kv_lens: never read, their pages maybe not
// given) are zeros.
void pack_keys(const KvBlock& kv, int side, std::int64_t batch, std::int64_t n, const std::vector<std::int64_t>& held,
               unsigned char* dst, float* scales) {
  const attnrt_tensor& t = side ? kv.v : kv.k;
  const attnrt_tensor* scale = side ? kv.v_scale : kv.k_scale;
  const std::size_t esz = element_bytes(t.dtype), row = static_cast<std::size_t>(t.shape[3]) * esz;
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < t.shape[1]; ++h)
      for (std::int64_t j = 0; j < n; ++j, dst += row) {
        if (j >= held[b]) {
          std::memset(dst, 0, row);
          if (scale) *scales++ = 0.0f;
          continue;
        }
        const std::int64_t at = kv.table ? kv.table[b * kv.table_stride + j / kv.page()] : b, r = kv.table ? j % kv.page() : j;
        std::memcpy(dst, static_cast<const unsigned char*>(t.data) + element(t, at, h, r) * static_cast<std::int64_t>(esz), row);
        if (scale) *scales++ = static_cast<const float*>(scale->data)[element(*scale, at, h, r)];
      }
}

// Per-thread buffers, grown to the largest call seen and reused after.
struct Scratch {
  std::vector<unsigned char> ring[2], part_o;
  std::vector<float> part_lse, gathered;
  std::vector<double> head_shift, gathered_lse;
  Accumulator acc, merged;
};
thread_local Scratch scratch;

class Work {
 public:
  Work(MPI_Comm comm, const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v,
       const attnrt_tensor& o, const attnrt_mpi_params& p, attnrt_mpi_stats& stats)
      : comm_(comm), q_(q), k_(k), v_(v), o_(o), p_(p), stats_(stats) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
  }

  void run() {
    // One rank of a context layout holds the whole sequence in order (zig-zag's
    // chunks 0 and 1 too): the plain call, with no ring and no merge, where
    // the core takes its inputs as they are (not a bias with pages).
    const bool alone = size_ == 1 && p_.layout != ATTNRT_MPI_KEYS && !(p_.attn.bias && p_.attn.block_table);
    switch (alone ? ATTNRT_MPI_HEADS : p_.layout) {
      case ATTNRT_MPI_HEADS: heads(); break;
      case ATTNRT_MPI_KEYS: keys(); break;
      default: ring(); break;
    }
  }
  const std::string& error() const { return error_; }
  attnrt_status status() const { return status_; }

 private:
  std::int64_t b_hq_m() const { return q_.shape[0] * q_.shape[1] * q_.shape[2]; }
  // Sequences: the batch, or packed query rows' (ATTNRT_MPI_KEYS, paged).
  std::int64_t seqs() const { return p_.attn.cu_seqlens_q ? p_.attn.num_seqs : q_.shape[0]; }

  // Global causal shift: query x sees key y iff y <= x + shift.
  std::int64_t shift(std::int64_t big_m, std::int64_t big_n) const {
    return p_.attn.align == ATTNRT_ALIGN_BOTTOM_RIGHT ? big_n - big_m : 0;
  }

  void call(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_tensor& v, const attnrt_tensor& o,
            const attnrt_params& params) {
    if (!error_.empty()) return;  // a rank that failed keeps the ring going, computing nothing
    const attnrt_status s = p_.runtime ? attnrt_runtime_forward(p_.runtime, &q, &k, &v, &o, &params)
                                       : attnrt_attention_forward(&q, &k, &v, &o, &params);
    if (s != ATTNRT_OK) error_ = attnrt_last_error(), status_ = s;
  }

  void heads() {
    const double t0 = MPI_Wtime();
    call(q_, k_, v_, o_, p_.attn);
    stats_.compute_seconds += MPI_Wtime() - t0;
    stats_.steps = 1;
  }

  // A call's own parameters: the user's scale, softcap, precision and
  // strategy, and the call's band; its views and inputs are set per call.
  // Its ALiBi bias is the global one less slope x offset, given back to its
  // LSE in the merge; sinks join once, at the end (Accumulator::add_sinks).
  attnrt_params call_params(const Call& c) const {
    attnrt_params params;
    attnrt_params_init(&params);
    params.scale = p_.attn.scale, params.softcap = p_.attn.softcap;
    params.precision = p_.attn.precision, params.strategy = p_.attn.strategy;
    params.align = c.bottom_right ? ATTNRT_ALIGN_BOTTOM_RIGHT : ATTNRT_ALIGN_TOP_LEFT;
    params.window_left = c.window_left, params.window_right = c.window_right;
    return params;
  }

  // The calls of one block of keys for batches [b0, b1) (-1: all), of
  // sequence `seq` of a paged cache (its table row), each merged into the
  // accumulator as soon as it is done. While transfers are in flight a call
  // runs in up to kProgressPieces groups of KV heads with MPI_Testall in
  // between: MPI moves rendezvous messages only inside MPI calls.
  void compute(const std::vector<Call>& calls, const KvBlock& kv, const std::vector<Chunk>& keys,
               std::vector<MPI_Request>& reqs, std::int64_t b0 = 0, std::int64_t b1 = -1, std::int64_t seq = 0) {
    const double t0 = MPI_Wtime();
    const std::int64_t b = q_.shape[0], hq = q_.shape[1], m = q_.shape[2], dv = v_.shape[3];
    const std::int64_t hkv = kv.k.shape[1], group = hq / hkv;
    const std::int64_t pieces = reqs.empty() ? 1 : std::min<std::int64_t>(hkv, kProgressPieces);
    if (b1 < 0) b1 = b;
    const attnrt_tensor q = batch_range(q_, b0, b1);
    const attnrt_tensor po = batch_range(dense(scratch.part_o.data(), q_.dtype, b, hq, m, dv), b0, b1);
    const attnrt_tensor pl = batch_range(dense(scratch.part_lse.data(), ATTNRT_F32, b, hq, m, 1), b0, b1);
    const float* slopes = p_.attn.alibi_slopes;
    // A paged cache (a sequence a call): the pools whole, the call's keys
    // from its block-table slot on (page_aligned: a page's first).
    const std::int32_t* table = kv.table;
    for (const Call& c : calls) {
      attnrt_params params = call_params(c);
      const std::int64_t call_keys = c.k_len;
      if (table) {
        params.block_table = table + seq * kv.table_stride + c.k0 / kv.page();
        params.block_table_stride = kv.table_stride;
        params.kv_lens = &call_keys;
      }
      if (slopes)
        for (std::int64_t h = 0; h < hq; ++h) scratch.head_shift[h] = static_cast<double>(slopes[h]) * static_cast<double>(c.offset);
      for (std::int64_t i = 0; i < pieces; ++i) {
        const std::int64_t h0 = i * hkv / pieces, h1 = (i + 1) * hkv / pieces;
        const auto cut = [&](const attnrt_tensor& t) { return keys_of(t, table, b0, b1, c.k0, c.k_len, h0, h1); };
        const attnrt_tensor lse = head_range(rows(pl, c.q0, c.q_len), h0 * group, h1 * group);
        attnrt_tensor k_scale, v_scale;
        if (kv.k_scale) params.k_scale = &(k_scale = cut(*kv.k_scale));
        if (kv.v_scale) params.v_scale = &(v_scale = cut(*kv.v_scale));
        params.lse = &lse;
        params.alibi_slopes = slopes ? slopes + h0 * group : nullptr;
        // A bias's columns: the rank's own keys in the key layout, all keys
        // (a call's global ones) on the ring; one key chunk a call (unfused).
        attnrt_tensor bias;
        if (p_.attn.bias)
          params.bias = &(bias = bias_of(*p_.attn.bias, b0, b1, h0 * group, h1 * group, c.q0, c.q_len,
                                         p_.layout == ATTNRT_MPI_KEYS ? c.k0 : global_of(keys, c.k0), c.k_len));
        call(head_range(rows(q, c.q0, c.q_len), h0 * group, h1 * group), cut(kv.k), cut(kv.v),
             head_range(rows(po, c.q0, c.q_len), h0 * group, h1 * group), params);
        if (!reqs.empty()) {
          int flag = 0;
          MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &flag, MPI_STATUSES_IGNORE);
        }
      }
      if (error_.empty())
        scratch.acc.merge(scratch.part_o.data(), q_.dtype, scratch.part_lse.data(), c.q0, c.q_len,
                          slopes ? scratch.head_shift.data() : nullptr, b0, b1);
    }
    stats_.compute_seconds += MPI_Wtime() - t0;
  }

  // The rank's query chunks `rows` of the big_m x big_n problem against the
  // key chunks `keys` of the block at hand: one set of calls, or with
  // kv_lens one per sequence, its keys cut at its length (a sequence ending
  // before the block costs nothing) and its band placed by that length;
  // packed rows (cu_seqlens_q) are each sequence's own rows.
  void attend(const std::vector<Chunk>& rows, const std::vector<Chunk>& keys, std::int64_t big_m, std::int64_t big_n,
              const KvBlock& kv, std::vector<MPI_Request>& reqs) {
    const Visible band = visible_of(p_.attn);
    // A call's ALiBi offset is one number, its bias columns one run of keys.
    const bool fuse = !p_.attn.alibi_slopes && !p_.attn.bias;
    const std::int64_t* lens = p_.attn.kv_lens;  // (always given with a paged cache)
    if (!lens) return compute(plan_step(band, shift(big_m, big_n), rows, keys, fuse), kv, keys, reqs);
    const std::int32_t* cu = p_.attn.cu_seqlens_q;
    std::vector<Chunk> held, packed(cu ? 1 : 0);
    const std::vector<Chunk>& own_rows = cu ? packed : rows;
    for (std::int64_t b = 0; b < seqs(); ++b) {
      if (cu) packed[0] = {0, cu[b], cu[b + 1] - cu[b]}, big_m = cu[b + 1] - cu[b];
      if (big_m == 0) continue;
      held.clear();
      for (Chunk c : keys)
        if ((c.len = before(c, lens[b])) > 0) held.push_back(c);
      if (held.empty()) continue;
      const std::vector<Call> calls = page_aligned(plan_step(band, shift(big_m, lens[b]), own_rows, held, fuse), kv.page());
      if (cu) compute(calls, kv, held, reqs, 0, 1, b);  // (the packed rows' one batch)
      else compute(calls, kv, held, reqs, b, b + 1, b);
    }
  }

  // Buffers are grown before any transfer, and every rank learns whether
  // all got theirs (a Failure on every rank if not): a rank out of memory
  // mid-ring would leave the others waiting for its blocks.
  template <class Grow>
  void grow_together(Grow&& grow) {
    std::string error;
    try {
      grow();
    } catch (const std::bad_alloc&) {
      error = "out of memory";
    } catch (const std::length_error& e) {
      error = e.what();
    }
    agree_on_status(comm_, error, ATTNRT_INTERNAL_ERROR);
  }

  void prepare_partials() {
    const std::int64_t b = q_.shape[0], hq = q_.shape[1], m = q_.shape[2], dv = v_.shape[3];
    scratch.part_o.resize(static_cast<std::size_t>(b * hq * m * dv) * element_bytes(q_.dtype));
    scratch.part_lse.resize(static_cast<std::size_t>(b * hq * m));
    scratch.head_shift.resize(static_cast<std::size_t>(hq));
    scratch.acc.reset(b, hq, m, dv);
  }

  void wait(std::vector<MPI_Request>& reqs) {
    const double t0 = MPI_Wtime();
    MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
    reqs.clear();
    stats_.wait_seconds += MPI_Wtime() - t0;
  }

  // Posts the transfer of `bytes` from `send` to the right neighbour and
  // into `recv` from the left one, in pieces MPI's int counts can carry.
  void post(unsigned char* send, unsigned char* recv, std::int64_t bytes, std::vector<MPI_Request>& reqs) {
    const int right = (rank_ + 1) % size_, left = (rank_ + size_ - 1) % size_;
    for (std::int64_t at = 0; at < bytes; at += kPiece) {
      const int len = static_cast<int>(std::min(kPiece, bytes - at));
      reqs.emplace_back();
      MPI_Irecv(recv + at, len, MPI_BYTE, left, kTag, comm_, &reqs.back());
      reqs.emplace_back();
      MPI_Isend(send + at, len, MPI_BYTE, right, kTag, comm_, &reqs.back());
    }
    stats_.bytes_sent += bytes;
  }

  // The rank's own K/V as the caller gave them, and how many keys of each
  // sequence it holds (n; a paged cache's block_table_stride pages).
  KvBlock own() const {
    return {k_, v_, p_.attn.k_scale, p_.attn.v_scale, p_.attn.block_table, p_.attn.block_table_stride};
  }
  std::int64_t keys_held() const { return k_.shape[2] * (p_.attn.block_table ? p_.attn.block_table_stride : 1); }

  // Of its n keys (chunks, in the rank's order), how many of each sequence
  // count (kv_lens, checked first): a prefix, chunks being in global order.
  // A paged cache's slots holding them are checked here, on every rank at
  // once.
  std::vector<std::int64_t> held(const std::vector<Chunk>& chunks, std::int64_t n) {
    std::vector<std::int64_t> count(static_cast<std::size_t>(seqs()), n);
    if (!p_.attn.kv_lens) return count;
    check_kv_lens(p_.attn.kv_lens, size_ * n);
    if (p_.attn.cu_seqlens_q) agree_on_values(p_.attn.cu_seqlens_q, seqs() + 1, "params.attn.cu_seqlens_q", "packed rows");
    for (std::int64_t b = 0; b < seqs(); ++b) {
      count[b] = 0;
      for (const Chunk& c : chunks) count[b] += before(c, p_.attn.kv_lens[b]);
    }
    if (p_.attn.block_table) agree_on_status(comm_, check_pages(p_.attn, k_, v_, count), ATTNRT_INVALID_ARGUMENT);
    return count;
  }

  // Context parallel: K/V blocks go around the ring; at step t this rank
  // holds rank (r - t)'s block, so partials merge in an order fixed by rank.
  // A block is dense (a paged cache's pages gathered once, as the ring's
  // first copy), its scales first where K or V is quantized.
  void ring() {
    const std::int64_t b = q_.shape[0], hkv = k_.shape[1], m = q_.shape[2], n = keys_held();
    const std::int64_t d = k_.shape[3], dv = v_.shape[3], rows_held = b * hkv * n;
    const std::int64_t ks_bytes = p_.attn.k_scale ? rows_held * 4 : 0, vs_bytes = p_.attn.v_scale ? rows_held * 4 : 0;
    const std::int64_t k_at = ks_bytes + vs_bytes, v_at = k_at + rows_held * d * static_cast<std::int64_t>(element_bytes(k_.dtype));
    const std::int64_t bytes = v_at + rows_held * dv * static_cast<std::int64_t>(element_bytes(v_.dtype));
    const std::vector<std::int64_t> count = held(chunks_of(p_.layout, rank_, size_, n), n);
    const double t0 = MPI_Wtime();
    grow_together([&] {
      for (auto& buf : scratch.ring) buf.resize(static_cast<std::size_t>(bytes));
      prepare_partials();
    });
    unsigned char* first = scratch.ring[0].data();
    pack_keys(own(), 0, b, n, count, first + k_at, reinterpret_cast<float*>(first));
    pack_keys(own(), 1, b, n, count, first + v_at, reinterpret_cast<float*>(first + ks_bytes));
    stats_.compute_seconds += MPI_Wtime() - t0;

    const auto q_chunks = chunks_of(p_.layout, rank_, size_, m);
    std::vector<MPI_Request> reqs;
    for (int t = 0; t < size_; ++t) {
      unsigned char* cur = scratch.ring[t % 2].data();
      if (t + 1 < size_) post(cur, scratch.ring[(t + 1) % 2].data(), bytes, reqs);
      const int src = (rank_ + size_ - t) % size_;
      const attnrt_tensor ks = dense(cur, ATTNRT_F32, b, hkv, n, 1), vs = dense(cur + ks_bytes, ATTNRT_F32, b, hkv, n, 1);
      const KvBlock block{dense(cur + k_at, k_.dtype, b, hkv, n, d), dense(cur + v_at, v_.dtype, b, hkv, n, dv),
                          ks_bytes ? &ks : nullptr, vs_bytes ? &vs : nullptr};
      attend(q_chunks, chunks_of(p_.layout, src, size_, n), size_ * m, size_ * n, block, reqs);
      wait(reqs);
    }
    stats_.steps = size_;
    const double t1 = MPI_Wtime();
    if (p_.attn.sinks) scratch.acc.add_sinks(p_.attn.sinks);
    scratch.acc.write(o_, p_.attn.lse);
    stats_.compute_seconds += MPI_Wtime() - t1;
  }

  // Decode: every rank attends to its keys, then all partials are gathered
  // and merged in rank order, so every rank holds the same bits.
  void keys() {
    const std::int64_t m = q_.shape[2], n = keys_held();
    const std::int64_t floats = b_hq_m() * v_.shape[3], rows = b_hq_m();  // each rank's O, and its LSE (double)
    if (floats > INT_MAX) fail(ATTNRT_INVALID_ARGUMENT, "q (", floats, " output values) is too large for ATTNRT_MPI_KEYS: at most ", INT_MAX);
    grow_together([&] {
      prepare_partials();
      scratch.gathered.resize(static_cast<std::size_t>(floats * size_));
      scratch.gathered_lse.resize(static_cast<std::size_t>(rows * size_));
    });
    const std::vector<Chunk> mine = chunks_of(ATTNRT_MPI_KEYS, rank_, size_, n);
    held(mine, n);  // (for its checks: the calls read pages in place, attend cuts the chunk)
    std::vector<MPI_Request> none;
    attend({{0, 0, m}}, mine, m, size_ * n, own(), none);

    const double t0 = MPI_Wtime();
    MPI_Allgather(scratch.acc.o(), static_cast<int>(floats), MPI_FLOAT, scratch.gathered.data(), static_cast<int>(floats),
                  MPI_FLOAT, comm_);
    MPI_Allgather(scratch.acc.lse(), static_cast<int>(rows), MPI_DOUBLE, scratch.gathered_lse.data(),
                  static_cast<int>(rows), MPI_DOUBLE, comm_);
    stats_.wait_seconds += MPI_Wtime() - t0;
    stats_.bytes_sent += floats * 4 + rows * 8;
    stats_.steps = 1;

    const double t1 = MPI_Wtime();
    Accumulator& out = scratch.merged;
    out.reset(q_.shape[0], q_.shape[1], m, v_.shape[3]);
    for (int r = 0; r < size_; ++r)
      out.merge(scratch.gathered.data() + r * floats, ATTNRT_F32, scratch.gathered_lse.data() + r * rows, 0, m);
    if (p_.attn.sinks) out.add_sinks(p_.attn.sinks);
    out.write(o_, p_.attn.lse);
    stats_.compute_seconds += MPI_Wtime() - t1;
  }

  // Every rank's kv_lens must be the same, each at most the keys all ranks
  // hold together: seen alike on every rank (two reductions), so every rank
  // fails at once or none does.
  void check_kv_lens(const std::int64_t* lens, std::int64_t capacity) {
    const std::vector<std::int64_t> same = agree_on_values(lens, seqs(), "params.attn.kv_lens", "key lengths");
    for (std::size_t b = 0; b < same.size(); ++b)
      if (same[b] > capacity)
        fail(ATTNRT_INVALID_ARGUMENT, "params.attn.kv_lens[", b, "] (", same[b], ") must be at most the keys all ranks hold (",
             capacity, " = ranks x the keys a rank holds)");
  }

  // values[0, count) (a count the ranks agreed on) the same on every rank, or
  // the same failure on all: seen alike everywhere (two reductions).
  template <class T>
  std::vector<std::int64_t> agree_on_values(const T* values, std::int64_t count, const char* name, const char* what) {
    std::vector<std::int64_t> lo(values, values + count), hi(lo);
    MPI_Allreduce(MPI_IN_PLACE, lo.data(), static_cast<int>(count), MPI_INT64_T, MPI_MIN, comm_);
    MPI_Allreduce(MPI_IN_PLACE, hi.data(), static_cast<int>(count), MPI_INT64_T, MPI_MAX, comm_);
    for (std::int64_t i = 0; i < count; ++i)
      if (lo[i] != hi[i])
        fail(ATTNRT_INVALID_ARGUMENT, name, "[", i, "] differs between ranks (", lo[i], " to ", hi[i], "): every rank must pass the same ",
             what);
    return lo;
  }


  MPI_Comm comm_;
  const attnrt_tensor &q_, &k_, &v_, &o_;
  const attnrt_mpi_params& p_;
  attnrt_mpi_stats& stats_;
  int rank_ = 0, size_ = 1;
  std::string error_;
  attnrt_status status_ = ATTNRT_OK;
};

attnrt_status forward(MPI_Comm comm, const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
                      const attnrt_tensor* o, const attnrt_mpi_params* p) {
  if (comm == MPI_COMM_NULL) fail(ATTNRT_INVALID_ARGUMENT, "comm is MPI_COMM_NULL: a communicator of no ranks");
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) fail(ATTNRT_INVALID_ARGUMENT, "MPI must be initialized (and not finalized) before attnrt_mpi_forward");

  attnrt_mpi_stats stats{};
  const double t0 = MPI_Wtime();
  std::string local_error;
  Shape shape{};
  try {
    int ranks = 1;
    MPI_Comm_size(comm, &ranks);
    shape = check_local(q, k, v, o, p, ranks);
  } catch (const Failure& f) {
    local_error = f.what();
  } catch (const std::exception& e) {  // every rank must reach the check together
    local_error = e.what();
  }
  check_together(comm, local_error, shape, p);
  stats.check_seconds += MPI_Wtime() - t0;

  Work work(comm, *q, *k, *v, *o, *p, stats);
  std::string error;
  attnrt_status status = ATTNRT_OK;
  try {
    // The merges (in double) and the output's rounding run in the core's
    // environment, whatever the caller's rounding mode.
    const kernels::DefaultFpEnvScope fp_env;
    work.run();
    error = work.error(), status = work.status();
  } catch (const Agreed&) {
    throw;  // every rank has it already
  } catch (const Failure& f) {
    error = f.what(), status = f.status;
  } catch (const std::bad_alloc&) {  // the others wait in agree_on_status for this rank's word
    error = "out of memory", status = ATTNRT_INTERNAL_ERROR;
  } catch (const std::exception& e) {
    error = e.what(), status = ATTNRT_INTERNAL_ERROR;
  }
  const double t1 = MPI_Wtime();
  agree_on_status(comm, error, status);
  stats.check_seconds += MPI_Wtime() - t1;
  stats.seconds = MPI_Wtime() - t0;
  if (p->stats) *p->stats = stats;
  return ATTNRT_OK;
}

}  // namespace
}  // namespace attnrt::mpi

extern "C" void attnrt_mpi_params_init(attnrt_mpi_params* params) {
  if (!params) return;
  attnrt_params_init(&params->attn);
  params->layout = ATTNRT_MPI_CONTEXT;
  params->runtime = nullptr;
  params->stats = nullptr;
}

extern "C" attnrt_status attnrt_mpi_forward(MPI_Comm comm, const attnrt_tensor* q, const attnrt_tensor* k,
                                            const attnrt_tensor* v, const attnrt_tensor* o,
                                            const attnrt_mpi_params* params) {
  try {
    attnrt::mpi::set_last_error("");
    return attnrt::mpi::forward(comm, q, k, v, o, params);
  } catch (const attnrt::mpi::Failure& f) {
    attnrt::mpi::set_last_error(f.what());
    return f.status;
  } catch (const std::bad_alloc&) {
    attnrt::mpi::set_last_error("out of memory");
    return ATTNRT_INTERNAL_ERROR;
  }
}
