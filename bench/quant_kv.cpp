#include "bench/quant_kv.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <functional>
#include <numeric>
#include <optional>
#include <vector>

#include "bench/check.hpp"
#include "bench/paged.hpp"
#include "bench/peak.hpp"
#include "bench/plan_text.hpp"
#include "bench/timing.hpp"
#include "bench/workload.hpp"
#include "kernels/quant.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::bench {
namespace {

kernels::KvFormat format_of(DType t) {
  return t == DType::i8 ? kernels::KvFormat::i8 : t == DType::f8_e4m3 ? kernels::KvFormat::e4m3 : kernels::KvFormat::e5m2;
}

// K or V quantized: codes [B, H, N, dim], scales [B, H, N, 1] (int8, a row's
// largest magnitude at 127) or [1, H, 1, 1] (fp8, a head's at the largest
// value). x (dense fp32) is overwritten with code * scale: what the
// quantized call computes with, so the fp32 call and the check see it too.
struct Quantized {
  Buffer codes, scales;
  Tensor view, scale_view;
};

Quantized quantize(const Tensor& x, DType t) {
  const std::int64_t B = x.shape[0], H = x.shape[1], N = x.shape[2], dim = x.shape[3];
  const kernels::KvFormat f = format_of(t);
  const bool per_row = t == DType::i8;
  Quantized q{Buffer(static_cast<std::size_t>(B * H * N * dim)), Buffer(sizeof(float) * (per_row ? B * H * N : H)), {}, {}};
  q.view = Tensor::bhsd(q.codes.data(), t, B, H, N, dim);
  q.scale_view = per_row ? Tensor::bhsd(q.scales.data(), DType::f32, B, H, N, 1)
                         : Tensor{q.scales.data(), DType::f32, {1, H, 1, 1}, {H, 1, 1}};
  float* xs = static_cast<float*>(x.data);
  float* scales = static_cast<float*>(q.scales.data());
  if (!per_row)  // a head's largest magnitude at the format's largest value
    for (std::int64_t h = 0; h < H; ++h) {
      float top = 0;
      for (std::int64_t b = 0; b < B; ++b)
        top = std::max(top, kernels::largest_magnitude(xs + (b * H + h) * N * dim, static_cast<int>(N * dim)));
      scales[h] = top > 0 ? top / kernels::largest_code_value(f) : 1.0f;
    }
  // Token b * N + j into slot b * N + j of the dense codes: the library's writer.
  std::vector<std::int64_t> slots(static_cast<std::size_t>(B * N));
  std::iota(slots.begin(), slots.end(), 0);
  attnrt::cache_write(x, q.view, &q.scale_view, slots.data());
  const auto* codes = static_cast<const std::uint8_t*>(q.codes.data());
#pragma omp parallel for schedule(static)
  for (std::int64_t r = 0; r < B * H * N; ++r) {
    const float s = per_row ? scales[r] : scales[r / N % H];
    for (std::int64_t d = 0; d < dim; ++d) xs[r * dim + d] = kernels::code_to_float(f, codes[r * dim + d]) * s;
  }
  return q;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// K/V as a call reads them: dense, or paged through the table (pools).
struct KvPair {
  Tensor k, v;
};

}  // namespace

int run_quant_kv(Engine& engine, const Options& opt) {
  // --varlen: one packed call of those sequences (self-attention) instead.
  std::vector<std::int32_t> cu{0};
  for (std::int64_t len : opt.varlen) cu.push_back(static_cast<std::int32_t>(cu.back() + len));
  Shape shape = opt.shape.value_or(Shape{});
  if (!opt.varlen.empty()) {
    shape.batch = 1;
    shape.q_len = shape.kv_len = cu.back();
  }
  const DType kv_t = opt.kv_dtype;
  Shape s32 = shape, s16 = shape;
  s32.dtype = DType::f32;
  s16.dtype = DType::bf16;
  const Workload w32(s32), w16(s16);
  std::optional<Workload> wh;
  if (shape.dtype == DType::f16) wh.emplace(shape);
  const Workload& wq = shape.dtype == DType::f32 ? w32 : shape.dtype == DType::bf16 ? w16 : *wh;
  Quantized qk = quantize(w32.k(), kv_t), qv = quantize(w32.v(), kv_t);

  const attnrt_params base = call_params(opt, shape);
  attnrt_params plain_p = base, quant_p = base;
  KvPair quant{qk.view, qv.view}, f32{w32.k(), w32.v()}, b16{w16.k(), w16.v()};
  Tensor k_scale = qk.scale_view, v_scale = qv.scale_view;
  std::vector<Pool> pools;
  std::vector<std::int32_t> table;
  // Keys per sequence: each batch item's, or (varlen) each packed sequence's.
  std::vector<std::int64_t> kv_lens(shape.batch, shape.kv_len);
  if (!opt.varlen.empty()) kv_lens = opt.varlen;
  if (opt.page_size) {
    const std::int64_t ps = opt.page_size, seqs = static_cast<std::int64_t>(kv_lens.size());
    const std::int64_t slots = (*std::max_element(kv_lens.begin(), kv_lens.end()) + ps - 1) / ps, pages = seqs * slots;
    table = shuffled_table(seqs, slots);
    const auto paged = [&](const Tensor& t) {
      pools.push_back(pool_of(t, pages, ps, table, slots, opt.varlen.empty() ? nullptr : &cu, opt.pages_token_major));
      return pools.back().view;
    };
    quant = {paged(qk.view), paged(qv.view)};
    f32 = {paged(w32.k()), paged(w32.v())};
    b16 = {paged(w16.k()), paged(w16.v())};
    if (kv_t == DType::i8) k_scale = paged(qk.scale_view), v_scale = paged(qv.scale_view);
    plain_p.kv_lens = quant_p.kv_lens = kv_lens.data();
    plain_p.block_table = quant_p.block_table = table.data();
    plain_p.block_table_stride = quant_p.block_table_stride = slots;
  }
  if (!opt.varlen.empty()) {  // paged: keys per sequence from kv_lens, no cu_seqlens_k
    plain_p.cu_seqlens_q = quant_p.cu_seqlens_q = cu.data();
    plain_p.cu_seqlens_k = quant_p.cu_seqlens_k = opt.page_size ? nullptr : cu.data();
    plain_p.num_seqs = quant_p.num_seqs = static_cast<std::int64_t>(opt.varlen.size());
  }
  const attnrt_tensor ks_c = k_scale.c(), vs_c = v_scale.c();
  quant_p.k_scale = &ks_c;
  quant_p.v_scale = &vs_c;

  const auto quant_call = [&] { engine.forward(wq.q(), quant.k, quant.v, wq.o(), quant_p); };
  const auto bf16_call = [&] { engine.forward(w16.q(), b16.k, b16.v, w16.o(), plain_p); };
  const auto fp32_call = [&] { engine.forward(w32.q(), f32.k, f32.v, w32.o(), plain_p); };

  // The quantized call against the reference on the dequantized K/V (w32's).
  wq.clear_output();
  release_openmp_threads();
  quant_call();
  const double tol = test::tolerance(static_cast<attnrt_dtype>(shape.dtype), base.precision).o;
  CheckResult c{};
  if (opt.varlen.empty()) c = check_sampled_rows(wq.q().c(), w32.k().c(), w32.v().c(), wq.o().c(), base, tol, 16);
  for (std::size_t b = 0; b < opt.varlen.size(); ++b) {  // varlen: each sequence as its own dense call
    const std::int64_t r0 = cu[b], n = cu[b + 1] - cu[b];
    const CheckResult s = check_sampled_rows(rows_of(wq.q(), r0, n).c(), rows_of(w32.k(), r0, n).c(),
                                             rows_of(w32.v(), r0, n).c(), rows_of(wq.o(), r0, n).c(), base, tol, 8);
    if (b == 0 || !s.pass() || s.max_abs_err > c.max_abs_err) c = s;
  }

  // In turns, each rep of each after an untimed call of its own; which goes
  // first rotates; a core's read bandwidth, with the call's threads reading
  // at once, sampled after every round.
  ReadProbe probe(std::size_t{512} << 20, std::size_t{256} << 20, engine.threads());
  // Process CPU seconds too: on a machine shared with other jobs wall time
  // counts their turns, CPU time does not (the read probe counts CPU time).
  const std::function<void()> calls[3] = {quant_call, bf16_call, fp32_call};
  std::vector<double> t[3], cpu[3], gbps;
  for (int r = 0; r < opt.reps; ++r) {
    for (int i = 0; i < 3; ++i) {
      const int c = (r + i) % 3;
      release_openmp_threads();
      calls[c]();
      const double c0 = process_cpu_seconds();
      t[c].push_back(seconds_of(calls[c]));
      cpu[c].push_back(process_cpu_seconds() - c0);
    }
    gbps.push_back(probe.sample_gbps());
  }
  const Timing tq = summarize(t[0]), tb = summarize(t[1]), tf = summarize(t[2]), bw = summarize(gbps);
  const Timing cq = summarize(cpu[0]), cb = summarize(cpu[1]), cf = summarize(cpu[2]);

  const double rows = static_cast<double>(shape.batch * shape.kv_heads * shape.kv_len);
  const double dims = static_cast<double>(shape.head_dim + shape.head_dim_v);
  const double scale_bytes = kv_t == DType::i8 ? rows * 2 * sizeof(float) : 0.0;
  const double bytes_q = rows * dims + scale_bytes, bytes_b = rows * dims * 2, bytes_f = rows * dims * 4;
  const double a_core = bw.median;
  const rt::Plan plan = engine.planned(wq.q(), quant.k, quant.v, wq.o(), quant_p);
  std::string layout = opt.page_size ? ", pages of " + std::to_string(opt.page_size) + " shuffled" +
                                           (opt.pages_token_major ? " (pools [pages, P, Hkv, D])" : "")
                                     : "";
  if (!opt.varlen.empty()) layout += ", varlen (" + std::to_string(opt.varlen.size()) + " sequences packed)";
  std::printf("attnrt-bench --kv-dtype %s: %s%s, %d threads, %s, median of %d reps, %s\n", dtype_name(kv_t),
              shape.label().c_str(), layout.c_str(), engine.threads(), engine.kernel_set_name(shape.dtype).c_str(),
              opt.reps, page_backing().c_str());
  std::printf("                          median ms  K/V GB/s   best ms   CPU ms  K/V GB/s of CPU time\n");
  const auto line = [](const char* what, const Timing& t, const Timing& c, double bytes) {
    std::printf("  %-22s  %9.3f %9.2f %9.3f %8.3f %9.2f\n", what, t.median * 1e3, bytes / t.median * 1e-9, t.min * 1e3,
                c.median * 1e3, bytes / c.median * 1e-9);
  };
  const std::string quant_what = std::string(dtype_name(kv_t)) + " K/V, " + dtype_name(shape.dtype) + " Q/O";
  line(quant_what.c_str(), tq, cq, bytes_q);
  line("bf16 Q/K/V/O", tb, cb, bytes_b);
  line("fp32 Q/K/V/O", tf, cf, bytes_f);
  // The set the call runs: a few-row shape may run another than the dtype's (Plan::kernel_set).
  const std::string set = plan.kernel_set ? plan.kernel_set->name : engine.kernel_set_name(shape.dtype);
  std::printf("  plan of the %s call: %s %s\n", dtype_name(kv_t), set.c_str(), plan_text(plan).c_str());
  std::printf("  read bandwidth, a core of %d reading at once: %.2f GB/s of CPU time (median of %d samples); %s K/V "
              "GB/s of CPU time / that: %.3f (issue 20 target: >= 0.85)\n",
              engine.threads(), a_core, opt.reps, dtype_name(kv_t), bytes_q / cq.median * 1e-9 / a_core);
  std::printf("  %s speed-up, median wall (CPU) time: %.3f (%.3f) over bf16 (target >= 1.8), %.3f (%.3f) over fp32 "
              "(target >= 3.5)\n",
              dtype_name(kv_t), tb.median / tq.median, cb.median / cq.median, tf.median / tq.median,
              cf.median / cq.median);
  // The same three ratios per round (timing.hpp, median_of_ratios).
  std::vector<double> share;
  for (std::size_t r = 0; r < cpu[0].size(); ++r) share.push_back(bytes_q / cpu[0][r] * 1e-9 / gbps[r]);
  std::printf("  median of rounds: bandwidth share %.3f, speed-up over bf16 %.3f, over fp32 %.3f (wall time)\n",
              summarize(share).median, median_of_ratios(t[1], t[0]), median_of_ratios(t[2], t[0]));
  std::printf("  check, sampled rows against the dequantized K/V: max |err| %.3g, tolerance %.3g: %s\n",
              c.max_abs_err, tol, c.pass() ? "pass" : "FAIL");
  return c.pass() ? 0 : 1;
}

}  // namespace attnrt::bench
