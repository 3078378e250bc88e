// attnrt-plan: how attnrt would split one call over the workers, without
// running it. With ATTNRT_TOPOLOGY naming another machine (for instance
// tests/data/a64fx.xml) a 48-core A64FX run can be planned on any box.
// Honours ATTNRT_NUM_THREADS, ATTNRT_DOMAINS and ATTNRT_BIND too.
//
//   ATTNRT_TOPOLOGY=tests/data/a64fx.xml attnrt-plan --batch 1 --heads 16 --q-len 4096 --kv-len 4096 --causal
//
// Prints the machine, each part (its domain, CPUs, work and items) and, last,
// the line `balance <max/mean>`: the most work on one worker over the mean.
// `--varlen 17,300,1000,2048` plans one packed call of those sequences
// (self-attention, cu_seqlens) instead of --batch/--q-len/--kv-len; its items
// name sequences (s0, s1, ...) instead of batches.
#include <attnrt/attnrt.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "examples/scheduler_example.hpp"
#include "runtime/internal/attnrt_internal.hpp"

namespace {

// A dense fp32 view at a made-up address after *next, which it moves past
// its bytes: the call is checked as a real one would be (never read).
bool fake_view(std::uintptr_t* next, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d,
               attnrt_tensor* t) {
  std::int64_t sd, hsd, bytes;
  if (__builtin_mul_overflow(s, d, &sd) || __builtin_mul_overflow(h, sd, &hsd) ||
      __builtin_mul_overflow(b, hsd, &bytes) || __builtin_mul_overflow(bytes, std::int64_t{4}, &bytes) ||
      bytes > (std::int64_t{1} << 56))
    return false;
  *t = {reinterpret_cast<void*>(*next), ATTNRT_F32, {b, h, s, d}, {hsd, sd, d}};
  *next += static_cast<std::uintptr_t>(bytes + 64) / 64 * 64;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  example::Shape s;
  std::vector<std::int32_t> cu{0};  // --varlen: the packed sequences' offsets
  example::Args args(argc, argv, std::string(example::kShapeUsage) + " [--varlen L1,L2,...]");
  while (args.next()) {
    if (!args.is("--varlen")) {
      if (!example::shape_option(args, s)) args.unknown();
      continue;
    }
    for (const char *text = args.value(), *at = text;;) {
      char* end = nullptr;
      const long len = std::strtol(at, &end, 10);
      // Lengths whose sum fits the int32 offsets cu_seqlens holds.
      if (end == at || len < 0 || len > (1 << 24) || cu.back() > INT32_MAX - len || (*end && *end != ','))
        args.fail(std::string("--varlen (") + text + ") must be lengths in [0, 2^24], summing to at most 2^31 - 1");
      cu.push_back(cu.back() + static_cast<std::int32_t>(len));
      if (!*end) break;
      at = end + 1;
    }
  }
  args.require(s.heads % s.kv() == 0, "--kv-heads must divide --heads");
  const bool varlen = cu.size() > 1;
  args.require(!varlen || cu.back() > 0, "--varlen needs a sequence of at least one row");
  if (varlen) s.batch = 1, s.q_len = s.kv_len = cu.back();
  try {
    attnrt_config c;
    attnrt::rt::config_from_env(c);
    c.verbose = 0;
    const attnrt::rt::Runtime rt(c);
    attnrt_tensor q, k, v, o;
    std::uintptr_t next = 64;
    if (!fake_view(&next, s.batch, s.heads, s.q_len, s.head_dim, &q) ||
        !fake_view(&next, s.batch, s.kv(), s.kv_len, s.head_dim, &k) ||
        !fake_view(&next, s.batch, s.kv(), s.kv_len, s.head_dim, &v) ||
        !fake_view(&next, s.batch, s.heads, s.q_len, s.head_dim, &o)) {
      std::fprintf(stderr, "attnrt-plan: %s: the tensors are too large (bytes past 2^56)\n", s.text().c_str());
      return 1;
    }
    attnrt_params params;
    attnrt_params_init(&params);
    params.causal = s.causal;
    if (varlen) {
      params.cu_seqlens_q = params.cu_seqlens_k = cu.data();
      params.num_seqs = static_cast<std::int64_t>(cu.size() - 1);
    }
    rt.plan_for(q, k, v, o, params);  // the library's checks: a call it would refuse is not planned
    const attnrt::rt::Runtime::Split split = rt.split(q, k, v, params);
    const attnrt::scheduler::Placement& pl = rt.placement();
    std::vector<std::byte> state(
        attnrt::scheduler::Partition::state_bytes(pl.workers(), split.options.parts_per_worker));
    const attnrt::scheduler::Partition part(split.shape, split.options, pl, state.data());

    std::printf("plan: %s%s, isa %s, strategy %s, lines of %d rows, key splits on multiples of %d\n",
                s.text().c_str(), varlen ? (" varlen, " + std::to_string(cu.size() - 1) + " sequences").c_str() : "", rt.isa(), attnrt::kernels::strategy_name(split.plan.strategy),
                split.options.rows_per_line, split.options.key_quantum);
    std::printf("%s\n%s\n", pl.machine().describe().c_str(), pl.describe().c_str());
    const int per_worker = part.parts_per_worker();
    const double mean = part.total_cost() / (pl.workers() * per_worker);
    std::printf("parts: %d per worker; any worker of a part's domain may run it\n", per_worker);
    std::printf("%-5s %-6s %-6s %-8s %-11s %-6s %s\n", "part", "worker", "domain", "cpus", "entries", "/mean", "items");
    for (int p = 0; p < pl.workers() * per_worker; ++p) {
      const int w = p / per_worker;
      std::string items;
      part.for_each_item(p, [&](const attnrt::scheduler::WorkItem& w) {
        char buf[160];
        int n = std::snprintf(buf, sizeof buf, "%s%s%d h%d", items.empty() ? "" : " | ", varlen ? "s" : "b", w.batch,
                              w.head);
        if (w.heads > 1) n += std::snprintf(buf + n, sizeof buf - n, "-%d", w.head + w.heads - 1);
        n += std::snprintf(buf + n, sizeof buf - n, " rows %d-%d", w.row_begin, w.row_end);
        if (w.piece >= 0)
          std::snprintf(buf + n, sizeof buf - n, " keys %d-%d (split line %d)", w.key_begin, w.key_end, w.line);
        items += buf;
      });
      std::printf("%-5d %-6d %-6d %-8s %-11.4g %-6.3f %s\n", p, w, pl.domain_of(w),
                  attnrt::scheduler::format_ranges(pl.cpus(w)).c_str(), part.cost(p),
                  mean > 0 ? part.cost(p) / mean : 1.0, items.empty() ? "-" : items.c_str());
    }
    for (int d = 0; d < static_cast<int>(pl.machine().domains().size()); ++d) {
      if (pl.workers_in(d) == 0) continue;
      double cost = 0;
      for (int p = pl.first_worker(d) * per_worker; p < (pl.first_worker(d) + pl.workers_in(d)) * per_worker; ++p)
        cost += part.cost(p);
      const double share = part.total_cost() > 0 ? 100 * cost / part.total_cost() : 0;
      std::printf("domain %d: workers %d-%d, %.1f%% of the work\n", d, pl.first_worker(d),
                  pl.first_worker(d) + pl.workers_in(d) - 1, share);
    }
    int lines = 0, pieces = 0;
    part.for_each_split_line([&](int, int n) { ++lines, pieces += n; });
    std::printf("parts used %d of %d, split-KV lines %d (%d pieces)\n", part.parts(), pl.workers() * per_worker,
                lines, pieces);
    std::printf("balance %.4f\n", part.balance());
  } catch (const attnrt::rt::Failure& e) {
    std::fprintf(stderr, "attnrt-plan: %s\n", e.what());
    return 1;
  }
  return 0;
}
