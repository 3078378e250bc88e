#include "tests/fuzz/fuzz_call.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <limits>

#include "runtime/internal/attnrt_internal.hpp"
#include "tests/fuzz/rng.hpp"

namespace attnrt::fuzz {
namespace {

constexpr float kNaNf = std::numeric_limits<float>::quiet_NaN();
constexpr float kInff = std::numeric_limits<float>::infinity();
constexpr attnrt_dtype kCodes[] = {ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2};  // K/V-only dtypes

attnrt_dtype other_dtype(attnrt_dtype t, Rng& r) {
  return static_cast<attnrt_dtype>((t + r.range(1, 2)) % 3);
}

}  // namespace

attnrt::Tensor to_cpp(const attnrt_tensor& t) {
  return {t.data, static_cast<attnrt::DType>(rt::raw_enum(t.dtype)),
          {t.shape[0], t.shape[1], t.shape[2], t.shape[3]}, {t.stride[0], t.stride[1], t.stride[2]}};
}

Call::Call(const Inputs& in)
    : q(in.q.view()),
      k(in.k.view()),
      v(in.v.view()),
      o(in.o.view()),
      kv_lens(in.kv_lens),
      cu_q(in.spec.cu_q),
      cu_k(in.spec.cu_k),
      block_table(in.spec.block_table),
      params(in.params()) {
  if (in.bias) bias = in.bias->view();
  if (in.lse) lse = in.lse->view();
  if (in.k_scale) k_scale = in.k_scale->view();
  if (in.v_scale) v_scale = in.v_scale->view();
  params.kv_lens = kv_lens.empty() ? nullptr : kv_lens.data();
  params.bias = in.bias ? &bias : nullptr;
  params.lse = in.lse ? &lse : nullptr;
  params.k_scale = in.k_scale ? &k_scale : nullptr;
  params.v_scale = in.v_scale ? &v_scale : nullptr;
  if (params.cu_seqlens_q) params.cu_seqlens_q = cu_q.data();
  if (params.cu_seqlens_k) params.cu_seqlens_k = cu_k.data();
  if (params.block_table) params.block_table = block_table.data();
}

namespace {

// Bytes from a view's first element to one past its last.
std::size_t view_bytes(const attnrt_tensor& t) {
  std::int64_t last = t.shape[3] - 1;
  for (int i = 0; i < 3; ++i) last += (t.shape[i] - 1) * t.stride[i];
  return static_cast<std::size_t>(last + 1) * (t.dtype == ATTNRT_F32 ? 4 : 2);
}

// One array the call reads while it writes, copied into o or lse and read
// from there: its values stay valid, so only the overlap is
// wrong (the runner takes the outputs' snapshot after this). Falls back to
// o over q when no array fits either output.
std::string move_array_into_output(Call& call, const Case& c, Rng& r) {
  const bool lse = call.params.lse && r.chance(50);
  attnrt_tensor& out = lse ? call.lse : call.o;
  // At the first 8-byte boundary inside it: the library may read the
  // array as its type before it finds the overlap.
  auto* at = static_cast<unsigned char*>(out.data);
  const std::size_t skip = (8 - reinterpret_cast<std::uintptr_t>(at) % 8) % 8, bytes = view_bytes(out);
  const std::size_t room = bytes > skip ? bytes - skip : 0;
  at += skip;
  const std::int64_t seqs = c.varlen ? c.seqs() : c.B;
  struct Array {
    const char* name;
    const void* data;
    std::size_t bytes;
    const void** param;
  };
  attnrt_params& p = call.params;
  const Array arrays[] = {
      {"params.kv_lens", p.kv_lens, seqs * sizeof(std::int64_t), reinterpret_cast<const void**>(&p.kv_lens)},
      {"params.cu_seqlens_q", p.cu_seqlens_q, (seqs + 1) * sizeof(std::int32_t), reinterpret_cast<const void**>(&p.cu_seqlens_q)},
      {"params.cu_seqlens_k", p.cu_seqlens_k, (seqs + 1) * sizeof(std::int32_t), reinterpret_cast<const void**>(&p.cu_seqlens_k)},
      {"params.block_table", p.block_table, seqs * p.block_table_stride * sizeof(std::int32_t),
       reinterpret_cast<const void**>(&p.block_table)},
      {"params.alibi_slopes", p.alibi_slopes, c.Hq * sizeof(float), reinterpret_cast<const void**>(&p.alibi_slopes)},
      {"params.sinks", p.sinks, c.Hq * sizeof(float), reinterpret_cast<const void**>(&p.sinks)},
  };
  std::vector<const Array*> fit;
  for (const Array& a : arrays)
    if (a.data && a.bytes <= room) fit.push_back(&a);
  if (fit.empty()) {
    call.o.data = call.q.data;
    return "o";
  }
  const Array& a = *fit[r.range(0, static_cast<std::int64_t>(fit.size()) - 1)];
  std::memcpy(at, a.data, a.bytes);
  *a.param = at;
  return std::string(lse ? "params.lse" : "o") + " overlaps " + a.name;
}

// The serving rules (Breakage kinds after null_runtime); returns the
// argument the message must name.
std::string break_serving(Call& call, const Case& c, Rng& r) {
  constexpr std::int32_t kMin32 = std::numeric_limits<std::int32_t>::min(), kMax32 = std::numeric_limits<std::int32_t>::max();
  const std::int64_t b = r.range(0, c.B - 1);
  switch (c.breakage) {
    case Breakage::page_out_of_range:
    case Breakage::page_negative: {
      if (call.kv_lens[b] == 0) call.kv_lens[b] = 1;  // a key, so a slot the call must read
      const std::int64_t slot = r.range(0, (call.kv_lens[b] + c.page_size - 1) / c.page_size - 1);
      const bool negative = c.breakage == Breakage::page_negative;
      const std::int64_t k = r.range(0, 2);
      const std::int64_t page = negative ? (k == 0 ? -1 : k == 1 ? -r.range(2, 1000) : kMin32)
                                         : (k == 0 ? c.pages : k == 1 ? c.pages + r.range(1, 1000) : kMax32);
      call.block_table[b * c.table_stride + slot] = static_cast<std::int32_t>(page);
      return "params.block_table";
    }
    case Breakage::kv_len_beyond_pages:
      call.kv_lens[b] = c.table_stride * c.page_size + (r.chance(80) ? r.range(1, c.page_size + 1) : kMax32);
      return "params.kv_lens";
    case Breakage::cu_seqlens_decreasing:
    case Breakage::cu_seqlens_bad_total: {
      const bool q = c.paged || r.chance(50);  // paged calls take no cu_seqlens_k
      std::vector<std::int32_t>& cu = q ? call.cu_q : call.cu_k;
      if (c.breakage == Breakage::cu_seqlens_decreasing) {
        const std::int64_t i = r.range(1, c.B);
        cu[i] = static_cast<std::int32_t>(cu[i - 1] - r.range(1, 5));
      } else {
        cu[c.B] += static_cast<std::int32_t>(r.chance(50) ? r.range(1, 5) : -r.range(1, cu[c.B]));
      }
      return q ? "params.cu_seqlens_q" : "params.cu_seqlens_k";
    }
    case Breakage::scale_shape: {
      const bool k = r.chance(50);
      attnrt_tensor& s = k ? call.k_scale : call.v_scale;
      const std::int64_t dim = r.range(0, 3);
      s.shape[dim] = dim == 3 ? r.range(2, 8) : (k ? call.k : call.v).shape[dim] + r.range(1, 3);
      return k ? "params.k_scale" : "params.v_scale";
    }
    case Breakage::quantized_q_or_o: {
      const bool q = r.chance(70);
      (q ? call.q : call.o).dtype = kCodes[r.range(0, 2)];
      return q ? "q.dtype" : "o.dtype";
    }
    case Breakage::scale_missing: {
      const bool k = r.chance(50);
      (k ? call.params.k_scale : call.params.v_scale) = nullptr;
      return k ? "params.k_scale" : "params.v_scale";
    }
    case Breakage::kv_dtypes_differ:
      call.v.dtype = kCodes[(std::find(std::begin(kCodes), std::end(kCodes), c.kv_dtype) - kCodes + r.range(1, 2)) % 3];
      return "v.dtype";
    case Breakage::kv_lens_missing: call.params.kv_lens = nullptr; return "params.kv_lens";
    case Breakage::array_inside_output: return move_array_into_output(call, c, r);
    default: break;
  }
  return "";
}

}  // namespace

std::string break_call(Call& call, const Case& c, attnrt_runtime** runtime) {
  Rng r(c.data_seed ^ 0x5eed);
  attnrt_tensor* all[] = {&call.q, &call.k, &call.v, &call.o, &call.bias, &call.lse};
  const int tensors = 4 + (call.params.bias ? 1 : 0);  // lse is all[5], bias all[4]
  auto any_tensor = [&]() -> attnrt_tensor& {
    if (call.params.lse && r.chance(15)) return call.lse;
    return *all[r.range(0, tensors - 1)];
  };
  switch (c.breakage) {
    case Breakage::none: break;
    case Breakage::negative_stride: any_tensor().stride[r.range(0, 2)] = -r.range(1, 5); break;
    case Breakage::batch_mismatch: (r.chance(50) ? call.k : r.chance(50) ? call.v : call.o).shape[0] += 1; break;
    case Breakage::seq_mismatch: (r.chance(50) ? call.v : call.o).shape[2] += 1; break;
    case Breakage::head_dim_mismatch: (r.chance(50) ? call.k : call.o).shape[3] += 1; break;
    case Breakage::kv_heads_not_dividing: call.k.shape[1] = call.v.shape[1] = c.Hq + 1; break;
    case Breakage::head_dim_too_big:
      call.q.shape[3] = call.k.shape[3] = r.chance(50) ? 513 : std::int64_t{1} << 20;
      break;
    case Breakage::null_data: any_tensor().data = nullptr; break;
    case Breakage::dtype_mismatch: {
      attnrt_tensor& t = r.chance(50) ? call.k : r.chance(50) ? call.v : call.o;
      t.dtype = other_dtype(t.dtype, r);
      break;
    }
    case Breakage::misaligned_data: {
      attnrt_tensor& t = any_tensor();
      t.data = static_cast<unsigned char*>(t.data) + 1;
      break;
    }
    case Breakage::output_overlaps_input: call.o.data = (r.chance(50) ? call.q : r.chance(50) ? call.k : call.v).data; break;
    case Breakage::output_rows_overlap:
      // A dimension of size > 1 whose stride lets two elements meet.
      if (c.M > 1) call.o.stride[2] = c.Dv - 1;
      else if (c.Hq > 1) call.o.stride[1] = 0;
      else if (c.B > 1) call.o.stride[0] = 0;
      else call.o.stride[2] = -1;  // a one-element output cannot overlap; break its stride instead
      break;
    case Breakage::nonfinite_scale: call.params.scale = r.chance(50) ? kNaNf : r.chance(50) ? kInff : -kInff; break;
    case Breakage::bad_softcap: call.params.softcap = r.chance(50) ? -r.real(0.001, 10) : r.chance(50) ? kNaNf : kInff; break;
    case Breakage::window_below_minus_one:
      (r.chance(50) ? call.params.window_left : call.params.window_right) =
          r.chance(50) ? -2 : std::numeric_limits<std::int64_t>::min();
      break;
    case Breakage::kv_len_out_of_range:
      call.kv_lens[r.range(0, c.B - 1)] = r.chance(50) ? -1 : c.N + r.range(1, 1000);
      break;
    case Breakage::bias_shape: call.bias.shape[r.range(0, 3)] += 1; break;
    case Breakage::bias_dtype: call.bias.dtype = other_dtype(ATTNRT_F32, r); break;
    case Breakage::lse_shape: call.lse.shape[r.range(0, 3)] += 1; break;
    case Breakage::lse_dtype: call.lse.dtype = other_dtype(ATTNRT_F32, r); break;
    case Breakage::causal_not_bool: call.params.causal = r.chance(50) ? 2 : -1; break;
    case Breakage::null_runtime: *runtime = nullptr; break;
    default: return break_serving(call, c, r);
  }
  return "";
}

CallResult call_c(const Call& call, attnrt_runtime* runtime, bool default_runtime) {
  const attnrt_status s = default_runtime
                              ? attnrt_attention_forward(&call.q, &call.k, &call.v, &call.o, &call.params)
                              : attnrt_runtime_forward(runtime, &call.q, &call.k, &call.v, &call.o, &call.params);
  return {s, s == ATTNRT_OK ? "" : attnrt_last_error()};
}

CallResult call_cpp(const Call& call, attnrt::Runtime* runtime) {
  const attnrt_params& in = call.params;
  const attnrt::Tensor bias = to_cpp(call.bias), lse = to_cpp(call.lse), k_scale = to_cpp(call.k_scale),
                       v_scale = to_cpp(call.v_scale);
  attnrt::Params p;
  p.scale = in.scale;
  p.causal = in.causal != 0;
  p.align = static_cast<attnrt::Align>(rt::raw_enum(in.align));
  p.window_left = in.window_left;
  p.window_right = in.window_right;
  p.kv_lens = in.kv_lens;
  p.bias = in.bias ? &bias : nullptr;
  p.softcap = in.softcap;
  p.precision = static_cast<attnrt::Precision>(rt::raw_enum(in.precision));
  p.strategy = static_cast<attnrt::Strategy>(rt::raw_enum(in.strategy));
  p.lse = in.lse ? &lse : nullptr;
  p.alibi_slopes = in.alibi_slopes;
  p.sinks = in.sinks;
  p.cu_seqlens_q = in.cu_seqlens_q;
  p.cu_seqlens_k = in.cu_seqlens_k;
  p.num_seqs = in.num_seqs;
  p.block_table = in.block_table;
  p.block_table_stride = in.block_table_stride;
  p.k_scale = in.k_scale ? &k_scale : nullptr;
  p.v_scale = in.v_scale ? &v_scale : nullptr;
  try {
    if (runtime) runtime->forward(to_cpp(call.q), to_cpp(call.k), to_cpp(call.v), to_cpp(call.o), p);
    else attnrt::attention_forward(to_cpp(call.q), to_cpp(call.k), to_cpp(call.v), to_cpp(call.o), p);
  } catch (const attnrt::Error& e) {
    return {e.status(), e.what()};
  }
  return {};
}

}  // namespace attnrt::fuzz
