// What one core is told about one (batch, KV head) group of query heads:
// pointers, strides and the softmax parameters, already resolved by the
// runtime. Kernels and pipelines see nothing else: no threads, no
// allocation, no NUMA.
//
// Rows are packed: the q_heads query heads that share one KV head (GQA) may
// be stacked into one row dimension of q_heads * m rows, so skinny and
// decode shapes fill a register tile and read K and V once per KV head.
// Packed row r is row i = r % m of the group's head h = r / m. One head is
// the case q_heads == 1 (packed row = query row); nothing else changes.
//
// K and V rows are dense (key j at k + j * ldk) or paged (a vLLM-style KV
// cache: key j in page pages[j / page_size], at its row j % page_size).
// Pipelines reach them through k_offset/v_offset and cut key ranges at page
// boundaries (kv_runs.hpp); micro-kernels only ever see a pointer and a
// stride. Quantized K/V (kv_format) are 1-byte codes with a scale per row,
// dequantized by kv_runs.hpp into rows of `dtype` before any kernel sees
// them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "kernels/band.hpp"
#include "kernels/kernel_set.hpp"
#include "kernels/quant.hpp"

namespace attnrt::kernels {

struct HeadProblem {
  DType dtype;                // of Q and O, and of K and V unless kv_format says otherwise
  int m;                      // query rows per head
  int q_heads;                // query heads packed into the rows (>= 1)
  int n;                      // keys visible to this batch (its key length)
  int d, dv;                  // head dims of Q/K and of V/O
  // Row strides (ld*) and head strides (hs*: from one query head of the
  // group to the next), in elements.
  const void* q; std::int64_t ldq, hsq;
  const void* k; std::int64_t ldk;
  const void* v; std::int64_t ldv;
  void* o; std::int64_t ldo, hso;
  float* lse;                 // null or [m] per head, natural log; -inf for empty rows
  std::int64_t ldlse, hslse;
  const float* bias;          // null or [m x n_total] fp32 per head (hsbias may be 0: shared)
  std::int64_t ldbias, hsbias;
  float scale;                // multiplies Q·Kᵀ
  float softcap;              // 0 = off
  // Per query head of the group (packed row r: head r / m), natural units:
  // ALiBi slopes (adds slope * (key - (i + diag)) to row i's scores) and
  // sink logits (in the denominator and LSE, no value). Null = none.
  const float* alibi;
  const float* sinks;
  // Split-KV pieces: LSE without the row's ALiBi peak value (scores.hpp,
  // alibi_peak_value), which can be far from 0 where fp32 spacing would
  // skew the pieces' weights; the merge adds it back in double.
  bool lse_unshifted = false;
  // Query row i sees keys [key_lo(i), key_hi(i)): the band (band.hpp)
  // around its diagonal key i + diag, within [0, n).
  std::int64_t diag;
  Band band;
  Exp2Precision precision;
  // Paged K/V: null = dense. Else the sequence's row of the block table
  // (page indices, validated for every key < n), page_size keys per page,
  // and the element strides from one page to the next in the K and V pools
  // (ldk, ldv stay the row strides within a page).
  const std::int32_t* pages = nullptr;
  int page_size = 0;
  std::int64_t k_page_stride = 0, v_page_stride = 0;
  // Quantized K/V: key j's row is its codes times k_scale[k_scale_offset(j)]
  // (resp. v); the scale strides follow the rows' (0 where broadcast).
  KvFormat kv_format = KvFormat::plain;
  const float* k_scale = nullptr;
  const float* v_scale = nullptr;
  std::int64_t ld_k_scale = 0, ld_v_scale = 0;
  std::int64_t k_scale_page_stride = 0, v_scale_page_stride = 0;

  int rows() const { return m * q_heads; }

  std::int64_t key_lo(std::int64_t i) const { return band.key_lo(i, diag, n); }
  std::int64_t key_hi(std::int64_t i) const { return band.key_hi(i, diag, n); }

  // Element offsets of key j's K and V rows from k and v.
  std::int64_t k_offset(std::int64_t j) const {
    return pages ? pages[j / page_size] * k_page_stride + j % page_size * ldk : j * ldk;
  }
  std::int64_t v_offset(std::int64_t j) const {
    return pages ? pages[j / page_size] * v_page_stride + j % page_size * ldv : j * ldv;
  }

  std::int64_t k_scale_offset(std::int64_t j) const {
    return pages ? pages[j / page_size] * k_scale_page_stride + j % page_size * ld_k_scale : j * ld_k_scale;
  }
  std::int64_t v_scale_offset(std::int64_t j) const {
    return pages ? pages[j / page_size] * v_scale_page_stride + j % page_size * ld_v_scale : j * ld_v_scale;
  }
  // Bytes of one element of K and V as stored.
  std::size_t kv_elem_bytes() const { return kv_format == KvFormat::plain ? dtype_size(dtype) : 1; }

  // Element offsets of packed row r.
  std::int64_t q_offset(int r) const { return (r / m) * hsq + (r % m) * ldq; }
  std::int64_t o_offset(int r) const { return (r / m) * hso + (r % m) * ldo; }
  std::int64_t lse_offset(int r) const { return (r / m) * hslse + (r % m) * ldlse; }
  std::int64_t bias_offset(int r) const { return (r / m) * hsbias + (r % m) * ldbias; }
};

// The row stride that walks packed rows [r0, r1) of a tensor with row
// stride ld and head stride hs, or nothing when no single stride does (the
// rows cross a head boundary of a layout that is not dense over heads).
inline std::optional<std::int64_t> packed_row_stride(const HeadProblem& p, int r0, int r1,
                                                     std::int64_t ld, std::int64_t hs) {
  if (r0 / p.m == (r1 - 1) / p.m) return ld;  // one head
  if (p.m == 1) return hs;                     // one row per head
  if (hs == p.m * ld) return ld;               // heads dense one after another
  return std::nullopt;
}

// A work item's slice of one problem: packed rows [row_begin, row_end)
// against keys [key_begin, key_end). A key range narrower than [0, n) is a
// split-KV part: its O is normalized over its own keys and its LSE is theirs,
// so parts are merged later through their log-sum-exp.
struct Tile {
  int row_begin, row_end;
  int key_begin, key_end;
};

class KvShare;  // kernels/pipelines/kv_share.hpp

// Scratch a pipeline may use, handed in by the scheduler; 64-byte aligned.
// kv_share: where packed K/V panels may come from other cores (null: none).
struct Workspace {
  void* data;
  std::size_t bytes;
  KvShare* kv_share = nullptr;
};

}  // namespace attnrt::kernels
