#include "runtime/src/head_problem.hpp"

#include <algorithm>
#include <cmath>

namespace attnrt::rt {

kernels::HeadProblem head_problem(const attnrt_tensor& q, const attnrt_tensor& k,
                                  const attnrt_tensor& v, const attnrt_tensor& o,
                                  const attnrt_params& params, std::int64_t b, std::int64_t h0,
                                  int q_heads) {
  const std::size_t esz = q.dtype == ATTNRT_F32 ? 4 : 2;
  const std::int64_t D = q.shape[3];
  const std::int64_t hk = h0 / (q.shape[1] / k.shape[1]);
  // Where batch b's rows and keys start, and how many: a varlen sequence is
  // rows of batch 0 (validate() checked the offsets); paged keys are in the
  // pages of the sequence's row of the block table.
  const std::int64_t seq = b;
  std::int64_t M = q.shape[2], N = params.kv_lens ? params.kv_lens[b] : k.shape[2], q0 = 0, k0 = 0;
  if (params.cu_seqlens_q) {
    q0 = params.cu_seqlens_q[b];
    M = params.cu_seqlens_q[b + 1] - q0;
    if (params.cu_seqlens_k) {
      k0 = params.cu_seqlens_k[b];
      N = params.cu_seqlens_k[b + 1] - k0;
    }
    b = 0;
  }
  kernels::HeadProblem p{};
  p.dtype = static_cast<kernels::DType>(q.dtype);
  p.m = static_cast<int>(M);
  p.q_heads = q_heads;
  p.n = static_cast<int>(N);
  p.d = static_cast<int>(D);
  p.dv = static_cast<int>(v.shape[3]);
  p.q = static_cast<const char*>(q.data) + (b * q.stride[0] + h0 * q.stride[1] + q0 * q.stride[2]) * esz;
  p.ldq = q.stride[2];
  p.hsq = q.stride[1];
  const std::int64_t kb = params.block_table ? 0 : b;  // a pool's pages come from the table
  const std::size_t kv_esz = kv_format(k.dtype) == kernels::KvFormat::plain ? esz : 1;
  p.k = static_cast<const char*>(k.data) + (kb * k.stride[0] + hk * k.stride[1] + k0 * k.stride[2]) * kv_esz;
  p.ldk = k.stride[2];
  p.v = static_cast<const char*>(v.data) + (kb * v.stride[0] + hk * v.stride[1] + k0 * v.stride[2]) * kv_esz;
  p.ldv = v.stride[2];
  if (params.block_table) {
    p.pages = params.block_table + seq * params.block_table_stride;
    p.page_size = static_cast<int>(k.shape[2]);
    p.k_page_stride = k.stride[0];
    p.v_page_stride = v.stride[0];
  }
  p.kv_format = kv_format(k.dtype);
  if (p.kv_format != kernels::KvFormat::plain) {
    // A scale dimension of size 1 is broadcast: its stride counts as 0.
    const auto stride = [](const attnrt_tensor& t, int i) { return t.shape[i] == 1 ? 0 : t.stride[i]; };
    const auto base = [&](const attnrt_tensor& t) {
      return static_cast<const float*>(t.data) + kb * stride(t, 0) + hk * stride(t, 1) + k0 * stride(t, 2);
    };
    p.k_scale = base(*params.k_scale);
    p.v_scale = base(*params.v_scale);
    p.ld_k_scale = stride(*params.k_scale, 2);
    p.ld_v_scale = stride(*params.v_scale, 2);
    p.k_scale_page_stride = stride(*params.k_scale, 0);
    p.v_scale_page_stride = stride(*params.v_scale, 0);
  }
  p.o = static_cast<char*>(o.data) + (b * o.stride[0] + h0 * o.stride[1] + q0 * o.stride[2]) * esz;
  p.ldo = o.stride[2];
  p.hso = o.stride[1];
  if (params.lse) {
    const attnrt_tensor& l = *params.lse;
    p.lse = static_cast<float*>(l.data) + b * l.stride[0] + h0 * l.stride[1] + q0 * l.stride[2];
    p.ldlse = l.stride[2];
    p.hslse = l.stride[1];
  }
  if (params.bias) {
    // A bias broadcast over batch or heads has shape 1 there: stride 0.
    const attnrt_tensor& bi = *params.bias;
    const std::int64_t sb = bi.shape[0] == 1 ? 0 : bi.stride[0];
    const std::int64_t sh = bi.shape[1] == 1 ? 0 : bi.stride[1];
    p.bias = static_cast<const float*>(bi.data) + b * sb + h0 * sh;
    p.ldbias = bi.stride[2];
    p.hsbias = sh;
  }
  p.alibi = params.alibi_slopes ? params.alibi_slopes + h0 : nullptr;
  p.sinks = params.sinks ? params.sinks + h0 : nullptr;
  p.scale = params.scale != 0.0f ? params.scale : 1.0f / std::sqrt(static_cast<float>(D));
  p.softcap = params.softcap;
  p.diag = kernels::band_diag(params.align == ATTNRT_ALIGN_BOTTOM_RIGHT, M, p.n);
  p.band = mask_band(params, q.shape[2], key_capacity(k, params));
  p.precision = static_cast<kernels::Exp2Precision>(params.precision);
  return p;
}

kernels::KvFormat kv_format(attnrt_dtype t) {
  switch (t) {
    case ATTNRT_I8: return kernels::KvFormat::i8;
    case ATTNRT_F8_E4M3: return kernels::KvFormat::e4m3;
    case ATTNRT_F8_E5M2: return kernels::KvFormat::e5m2;
    default: return kernels::KvFormat::plain;
  }
}

CallExtent call_extent(const attnrt_tensor& q, const attnrt_tensor& k, const attnrt_params& params) {
  if (!params.cu_seqlens_q && !params.block_table) return {q.shape[0], q.shape[2], k.shape[2]};
  CallExtent e{params.cu_seqlens_q ? params.num_seqs : q.shape[0], params.cu_seqlens_q ? 0 : q.shape[2], 0};
  for (std::int64_t b = 0; b < e.batches; ++b) {
    if (params.cu_seqlens_q)
      e.rows = std::max<std::int64_t>(e.rows, params.cu_seqlens_q[b + 1] - params.cu_seqlens_q[b]);
    e.keys = std::max<std::int64_t>(e.keys, params.block_table ? params.kv_lens[b]
                                                               : params.cu_seqlens_k[b + 1] - params.cu_seqlens_k[b]);
  }
  return e;
}

std::int64_t key_capacity(const attnrt_tensor& k, const attnrt_params& params) {
  return params.block_table ? params.block_table_stride * k.shape[2] : k.shape[2];
}

kernels::Band mask_band(const attnrt_params& params, std::int64_t m, std::int64_t n) {
  const auto side = [wide = m + n](std::int64_t s) { return s >= wide ? -1 : s; };
  const std::int64_t right = side(params.window_right);
  return {side(params.window_left), params.causal ? (right < 0 ? 0 : std::min<std::int64_t>(right, 0)) : right};
}

}  // namespace attnrt::rt
