// server-soak: the server example left running. N client threads call
// attention_forward (the process-wide runtime) for S seconds with a mix of
// causal prefill and GQA decode requests of several lengths, and check
//   - every call succeeds,
//   - every output holds the same bits as that request served alone before
//     the run (results never depend on what runs beside them),
//   - resident memory stays flat once every request shape has been seen
//     (no per-call growth: memory is set up once and reused).
// Prints one line per 10% of the run and a summary; exits 1 on any failure.
//
//   server-soak [--seconds S] [--clients N] [--head-dim D] [--rss-slack-mib X]
#include <atomic>
#include <cstdio>
#include <exception>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "examples/scheduler_example.hpp"

namespace {

// Resident set size in MiB (Linux /proc/self/statm).
double rss_mib() {
  long pages_total = 0, pages_resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

// The request mix: prefill and decode of a few lengths each.
std::vector<example::Shape> request_shapes(std::int64_t head_dim) {
  std::vector<example::Shape> out;
  for (std::int64_t len : {64, 200, 512}) {
    example::Shape s;
    s.heads = 8, s.q_len = s.kv_len = len, s.head_dim = head_dim, s.causal = true;
    out.push_back(s);
  }
  for (std::int64_t context : {300, 2048}) {
    example::Shape s;
    s.heads = 32, s.kv_heads = 8, s.q_len = 1, s.kv_len = context, s.head_dim = head_dim;
    out.push_back(s);
  }
  return out;
}

struct Client {
  std::vector<std::unique_ptr<example::Tensors>> requests;
  std::vector<std::vector<float>> expected;  // each request's output, served alone
  std::uint64_t served = 0, errors = 0, mismatches = 0;
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10, rss_slack = 16;
  int clients = 8;
  std::int64_t head_dim = 64;
  example::Args args(argc, argv, " [--seconds S] [--clients N] [--head-dim D] [--rss-slack-mib X]");
  while (args.next()) {
    if (args.is("--seconds")) seconds = args.real(0, 1e9, true);
    else if (args.is("--clients")) clients = static_cast<int>(args.integer(1, 4096));
    else if (args.is("--head-dim")) head_dim = args.integer(1, INT32_MAX);
    else if (args.is("--rss-slack-mib")) rss_slack = args.real(0, 1e9);
    else args.unknown();
  }

  const std::vector<example::Shape> shapes = request_shapes(head_dim);
  std::vector<Client> cs(clients);
  try {
    for (int c = 0; c < clients; ++c)
      for (std::size_t r = 0; r < shapes.size(); ++r) {
        auto t = std::make_unique<example::Tensors>(shapes[r], static_cast<unsigned>(c * 100 + r + 1));
        attnrt::attention_forward(t->tq, t->tk, t->tv, t->to);
        cs[c].expected.push_back(t->o);
        cs[c].requests.push_back(std::move(t));
      }
  } catch (const std::exception& e) {  // attnrt::Error, or sizes too large to allocate
    std::fprintf(stderr, "server-soak: %s\n", e.what());
    return 1;
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      Client& me = cs[c];
      // Each client walks the mix from its own offset, so shapes interleave.
      for (std::size_t i = c; !stop.load(std::memory_order_relaxed); ++i) {
        const std::size_t r = i % me.requests.size();
        example::Tensors& t = *me.requests[r];
        std::fill(t.o.begin(), t.o.end(), -1.0f);
        try {
          attnrt::attention_forward(t.tq, t.tk, t.tv, t.to);
        } catch (const attnrt::Error& e) {
          if (me.errors++ == 0) std::fprintf(stderr, "server-soak: client %d: %s\n", c, e.what());
          continue;
        }
        if (std::memcmp(t.o.data(), me.expected[r].data(), t.o.size() * sizeof(float)) != 0 && me.mismatches++ == 0)
          std::fprintf(stderr, "server-soak: client %d request %zu differs from its result served alone\n", c, r);
        ++me.served;
      }
    });

  // RSS once every shape ran on every client (the warm-up), then each 10%.
  const double t0 = example::now(), warm = std::min(2.0, seconds * 0.1);
  double rss_warm = 0, rss_max = 0;
  for (int tick = 0; tick <= 10; ++tick) {
    const double until = tick == 0 ? warm : warm + (seconds - warm) * tick / 10.0;
    while (example::now() - t0 < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const double rss = rss_mib();
    if (tick == 0) rss_warm = rss;
    rss_max = std::max(rss_max, rss);
    std::uint64_t served = 0;
    for (const Client& c : cs) served += c.served;
    std::printf("server-soak: %6.1f s  %10llu requests  RSS %.1f MiB\n", example::now() - t0,
                static_cast<unsigned long long>(served), rss);
    std::fflush(stdout);
  }
  stop = true;
  for (auto& t : threads) t.join();

  std::uint64_t served = 0, errors = 0, mismatches = 0;
  for (const Client& c : cs) served += c.served, errors += c.errors, mismatches += c.mismatches;
  const double growth = rss_max - rss_warm;
  const bool ok = errors == 0 && mismatches == 0 && served > 0 && growth <= rss_slack;
  std::printf("server-soak: %d clients, %.0f s, %llu requests, %llu errors, %llu mismatches, RSS %.1f -> max %.1f MiB "
              "(+%.1f, allowed %.0f): %s\n",
              clients, seconds, static_cast<unsigned long long>(served), static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(mismatches), rss_warm, rss_max, growth, rss_slack,
              ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
