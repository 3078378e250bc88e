#include "bench/paged.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "bench/check.hpp"
#include "bench/layout_read.hpp"
#include "bench/plan_text.hpp"
#include "bench/timing.hpp"
#include "bench/workload.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::bench {

Pool pool_of(const Tensor& dense, std::int64_t pages, std::int64_t ps, const std::vector<std::int32_t>& table,
             std::int64_t slots, const std::vector<std::int32_t>* cu, bool token_major) {
  const std::int64_t H = dense.shape[1], dim = dense.shape[3];
  const std::int64_t B = cu ? static_cast<std::int64_t>(cu->size()) - 1 : dense.shape[0];
  const std::size_t esz = dtype_bytes(dense.dtype), row = static_cast<std::size_t>(dim) * esz;
  Pool p{Buffer(static_cast<std::size_t>(pages * H * ps) * row), {}};
  // Rows a head apart and a key apart within a page.
  const std::int64_t head_rows = token_major ? 1 : ps, key_rows = token_major ? H : 1;
  p.view = Tensor{p.buffer.data(), dense.dtype, {pages, H, ps, dim}, {H * ps * dim, head_rows * dim, key_rows * dim}};
  std::memset(p.buffer.data(), 0xff, p.buffer.bytes());  // NaN in every slot no key uses
  for (std::int64_t b = 0; b < B; ++b) {
    // Sequence b: keys [0, n) at rows [r0, r0 + n) of batch item `batch`.
    const std::int64_t batch = cu ? 0 : b, r0 = cu ? (*cu)[b] : 0, n = cu ? (*cu)[b + 1] - r0 : dense.shape[2];
    for (std::int64_t h = 0; h < H; ++h)
      for (std::int64_t j = 0; j < n; ++j) {
        const std::int64_t page = table[b * slots + j / ps], at = batch * dense.stride[0] + h * dense.stride[1];
        std::memcpy(static_cast<char*>(p.buffer.data()) + (page * H * ps + h * head_rows + j % ps * key_rows) * row,
                    static_cast<const char*>(dense.data) + (at + (r0 + j) * dense.stride[2]) * esz, row);
      }
  }
  return p;
}

std::vector<std::int32_t> shuffled_table(std::int64_t batch, std::int64_t slots) {
  std::vector<std::int32_t> table(batch * slots);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(20));
  return table;
}

int run_paged(Engine& engine, const Options& opt) {
  const Shape shape = opt.shape.value_or(Shape{});
  const Workload w(shape);
  const std::int64_t ps = opt.page_size, slots = (shape.kv_len + ps - 1) / ps, pages = shape.batch * slots;
  const std::vector<std::int32_t> table = shuffled_table(shape.batch, slots);
  const bool tokens = opt.pages_token_major;
  const Pool k = pool_of(w.k(), pages, ps, table, slots, nullptr, tokens),
             v = pool_of(w.v(), pages, ps, table, slots, nullptr, tokens);
  const std::vector<std::int64_t> kv_lens(shape.batch, shape.kv_len);

  const attnrt_params dense_p = call_params(opt, shape);
  attnrt_params paged_p = dense_p;
  paged_p.kv_lens = kv_lens.data();
  paged_p.block_table = table.data();
  paged_p.block_table_stride = slots;
  const auto paged_call = [&] { engine.forward(w.q(), k.view, v.view, w.o(), paged_p); };
  const auto dense_call = [&] { engine.forward(w.q(), w.k(), w.v(), w.o(), dense_p); };

  // Each checked once on its own output (the pools hold the dense K/V's
  // values), then timed alternately.
  const double tol = test::tolerance(static_cast<attnrt_dtype>(shape.dtype), dense_p.precision).o;
  const auto fresh = [&] { w.clear_output(), release_openmp_threads(); };
  const auto [pass, worst] = check_each(fresh, [&](Checks& c) {
    c.add(check_sampled_rows(w.q().c(), w.k().c(), w.v().c(), w.o().c(), dense_p, tol, 16));
  }, paged_call, dense_call);
  const Alternated timed = time_alternately(opt.reps, paged_call, dense_call);
  const Timing &tp = timed.a, &td = timed.b;

  const double work = flops(shape);
  const double bytes = static_cast<double>(shape.batch * shape.kv_heads * shape.kv_len *
                                           (shape.head_dim + shape.head_dim_v) * dtype_bytes(shape.dtype));
  const rt::Plan plan = engine.planned(w.q(), k.view, v.view, w.o(), paged_p);
  std::printf("attnrt-bench --page-size %lld: %s, pages shuffled, %s, %d threads, %s, median of %d reps, %s\n",
              static_cast<long long>(ps), shape.label().c_str(),
              tokens ? "pools [pages, P, Hkv, D]" : "pools [pages, Hkv, P, D]", engine.threads(),
              engine.kernel_set_name(shape.dtype).c_str(), opt.reps, page_backing().c_str());
  std::printf("                     median ms  GFLOP/s  K/V GB/s   best ms  GFLOP/s\n");
  std::printf("  paged K/V         %9.3f %8.1f %9.2f %9.3f %8.1f  (%s)\n", tp.median * 1e3, work / tp.median * 1e-9,
              bytes / tp.median * 1e-9, tp.min * 1e3, work / tp.min * 1e-9, plan_text(plan).c_str());
  std::printf("  contiguous K/V    %9.3f %8.1f %9.2f %9.3f %8.1f\n", td.median * 1e3, work / td.median * 1e-9,
              bytes / td.median * 1e-9, td.min * 1e3, work / td.min * 1e-9);
  print_speed_ratio("paged / contiguous", timed, 0.95);
  // What the layout costs a plain read of the same bytes, in the same run.
  if (const auto r = time_layout_reads(k, v, w.k(), w.v(), table, slots, shape.kv_len, opt.reps)) {
    const auto gbps = [&](const Timing& t) { return r->bytes / t.median * 1e-9; };
    std::printf("  plain read of these K/V bytes, one core, GB/s: pieces in the call's order %.2f, contiguous %.2f "
                "(%s; %.3f); whole pages across heads %.2f (%.3f)\n",
                gbps(r->paged), gbps(r->contiguous), r->by_hardware ? "no prefetch" : "prefetched",
                r->contiguous.median / r->paged.median, gbps(r->page_major), r->contiguous.median / r->page_major.median);
  }
  std::printf("  check, sampled rows: max |err| %.3g, tolerance %.3g: %s\n", worst, tol, pass ? "pass" : "FAIL");
  return pass ? 0 : 1;
}

}  // namespace attnrt::bench
