// A model server in miniature: N client threads call attention_forward (the
// process-wide runtime, configured by the environment) at once, each with a
// mix of prefill and decode requests. Reports throughput and p50/p99
// latency, then serves the same requests one after another on one thread and
// prints the ratio of the two throughputs. Rounds alternate the two modes so
// that a busy machine's load hits both alike; medians are printed.
//
//   server [--clients N] [--requests R] [--decode-share F] [--rounds K]
//          [--prefill-len L] [--context C] [--head-dim D]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "examples/scheduler_example.hpp"

namespace {

struct Client {
  std::unique_ptr<example::Tensors> prefill, decode;
  std::vector<bool> is_decode;  // the request mix, fixed per client
  std::vector<double> latency;
};

void serve(const Client& c, std::size_t i) {
  const example::Tensors& t = c.is_decode[i] ? *c.decode : *c.prefill;
  attnrt::attention_forward(t.tq, t.tk, t.tv, t.to);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  int clients = 8, requests = 40, rounds = 3;
  double decode_share = 0.75;
  example::Shape prefill, decode;
  prefill.heads = 8, prefill.q_len = prefill.kv_len = 512, prefill.causal = true;
  decode.heads = 32, decode.kv_heads = 8, decode.q_len = 1, decode.kv_len = 4096;
  example::Args args(argc, argv,
                     " [--clients N] [--requests R] [--decode-share F] [--rounds K] [--prefill-len L] [--context C]"
                     " [--head-dim D]");
  while (args.next()) {
    if (args.is("--clients")) clients = static_cast<int>(args.integer(1, 4096));
    else if (args.is("--requests")) requests = static_cast<int>(args.integer(1, 1 << 30));
    else if (args.is("--decode-share")) decode_share = args.real(0, 1);
    else if (args.is("--rounds")) rounds = static_cast<int>(args.integer(1, 1 << 30));
    else if (args.is("--prefill-len")) prefill.q_len = prefill.kv_len = args.integer(1, INT32_MAX);
    else if (args.is("--context")) decode.kv_len = args.integer(1, INT32_MAX);
    else if (args.is("--head-dim")) prefill.head_dim = decode.head_dim = args.integer(1, INT32_MAX);
    else args.unknown();
  }
  try {
    std::vector<Client> cs(clients);
    std::size_t total = 0, decodes = 0;
    for (int c = 0; c < clients; ++c) {
      cs[c].prefill = std::make_unique<example::Tensors>(prefill, 2 * c + 1);
      cs[c].decode = std::make_unique<example::Tensors>(decode, 2 * c + 2);
      std::mt19937 rng(c);
      std::uniform_real_distribution<> coin(0, 1);
      for (int r = 0; r < requests; ++r) cs[c].is_decode.push_back(coin(rng) < decode_share);
      total += cs[c].is_decode.size();
      decodes += std::count(cs[c].is_decode.begin(), cs[c].is_decode.end(), true);
      serve(cs[c], 0);  // warm up this thread's path and the runtime
    }

    std::vector<double> concurrent_rps, sequential_rps, all_latency;
    for (int round = 0; round < rounds; ++round) {
      // Concurrent: every client at once, from a common start.
      std::atomic<int> ready{0};
      std::atomic<bool> go{false};
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c)
        threads.emplace_back([&, c] {
          std::vector<double> lat;
          ready.fetch_add(1);
          while (!go.load()) std::this_thread::yield();
          for (std::size_t i = 0; i < cs[c].is_decode.size(); ++i) {
            const double t0 = example::now();
            serve(cs[c], i);
            lat.push_back(example::now() - t0);
          }
          cs[c].latency = std::move(lat);
        });
      while (ready.load() != clients) std::this_thread::yield();
      const double t0 = example::now();
      go = true;
      for (auto& t : threads) t.join();
      concurrent_rps.push_back(total / (example::now() - t0));
      for (const Client& c : cs) all_latency.insert(all_latency.end(), c.latency.begin(), c.latency.end());

      // Sequential: the same requests, one after another.
      const double s0 = example::now();
      for (const Client& c : cs)
        for (std::size_t i = 0; i < c.is_decode.size(); ++i) serve(c, i);
      sequential_rps.push_back(total / (example::now() - s0));
    }

    const double flops_per_request =
        (decodes * decode.flops() + (total - decodes) * prefill.flops()) / static_cast<double>(total);
    const double conc = example::median(concurrent_rps), seq = example::median(sequential_rps);
    std::printf("server: %d clients x %d requests (%zu decode %s, %zu prefill %s), %d rounds\n", clients, requests,
                decodes, decode.text().c_str(), total - decodes, prefill.text().c_str(), rounds);
    std::printf("concurrent: %.1f requests/s (%.2f GFLOP/s), latency p50 %.3f ms, p99 %.3f ms\n", conc,
                conc * flops_per_request * 1e-9, percentile(all_latency, 0.50) * 1e3,
                percentile(all_latency, 0.99) * 1e3);
    std::printf("one after another: %.1f requests/s (%.2f GFLOP/s)\n", seq, seq * flops_per_request * 1e-9);
    std::printf("concurrent / one after another: %.3f\n", conc / seq);
  } catch (const std::exception& e) {  // attnrt::Error, or sizes too large to allocate
    std::fprintf(stderr, "attnrt: %s\n", e.what());
    return 1;
  }
  return 0;
}
