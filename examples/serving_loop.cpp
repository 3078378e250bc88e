// Continuous batching over a shared paged int8 KV cache, as an inference
// server runs one attention layer: requests arrive, their prompts are
// prefilled in chunks, they decode one token per step, and they leave,
// freeing their pages. Each step stores its tokens' new K/V rows into their
// slots (attnrt::cache_write, quantizing them) and makes one attention call:
// the step's query rows packed (varlen Q, cu_seqlens_q), every running
// sequence's keys read from the page pools through its block table (int8
// codes with an fp32 scale per token and KV head), causal bottom-right so a
// prompt chunk sees the cached keys and itself. Reports p50/p99 request
// latency and tokens/s.
//
//   serving_loop [--requests R] [--arrival P] [--prompt L] [--output T]
//                [--chunk C] [--page-size S] [--pages N] [--heads H]
//                [--kv-heads Hkv] [--head-dim D] [--seed X]
#include <attnrt/attnrt.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "examples/args.hpp"

namespace {

struct Settings {
  int requests = 64;       // requests served in all
  double arrival = 0.5;    // chance a new request arrives at each step
  int prompt = 512;        // prompt lengths drawn from [prompt / 8, prompt]
  int output = 64;         // tokens generated, drawn from [1, output]
  int chunk = 128;         // prompt tokens per step and request (chunked prefill)
  int page_size = 16;
  int pages = 4096;        // the pool's pages
  int heads = 8, kv_heads = 2, head_dim = 64;
  unsigned seed = 1;
};

struct Request {
  int prompt = 0, output = 0;
  int cached = 0;     // tokens whose K/V are in the cache
  int generated = 0;  // tokens decoded
  std::vector<std::int32_t> pages;
  std::chrono::steady_clock::time_point arrived;
};

// The pools [pages, Hkv, page_size, D] (a head's keys of a page together:
// decode reads them faster than pools [pages, page_size, Hkv, D], README),
// int8 with a scale per (token, head), and the free pages.
struct Cache {
  int pages, page_size, kv_heads, head_dim;
  std::vector<std::int8_t> k, v;
  std::vector<float> k_scale, v_scale;
  std::vector<std::int32_t> free;

  Cache(const Settings& s)
      : pages(s.pages), page_size(s.page_size), kv_heads(s.kv_heads), head_dim(s.head_dim),
        k(static_cast<std::size_t>(s.pages) * s.page_size * s.kv_heads * s.head_dim),
        v(k.size()), k_scale(static_cast<std::size_t>(s.pages) * s.page_size * s.kv_heads), v_scale(k_scale.size()) {
    for (int p = s.pages - 1; p >= 0; --p) free.push_back(p);
  }
  attnrt::Tensor pool(std::vector<std::int8_t>& x) const {
    const std::int64_t d = head_dim;
    return {x.data(), attnrt::DType::i8, {pages, kv_heads, page_size, d}, {kv_heads * page_size * d, page_size * d, d}};
  }
  attnrt::Tensor scales(std::vector<float>& x) const {
    return {x.data(), attnrt::DType::f32, {pages, kv_heads, page_size, 1}, {kv_heads * page_size, page_size, 1}};
  }
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

Settings parse(int argc, char** argv) {
  Settings s;
  example::Args args(argc, argv,
                     " [--requests R] [--arrival P] [--prompt L] [--output T] [--chunk C] [--page-size S] [--pages N]"
                     " [--heads H] [--kv-heads Hkv] [--head-dim D] [--seed X]");
  const auto count = [&](int lo, int hi) { return static_cast<int>(args.integer(lo, hi)); };
  while (args.next()) {
    if (args.is("--requests")) s.requests = count(1, 1 << 30);
    else if (args.is("--arrival")) s.arrival = args.real(0, 1, true);
    else if (args.is("--prompt")) s.prompt = count(8, 1 << 24);
    else if (args.is("--output")) s.output = count(1, 1 << 24);
    else if (args.is("--chunk")) s.chunk = count(1, 1 << 24);
    else if (args.is("--page-size")) s.page_size = count(1, 256);
    else if (args.is("--pages")) s.pages = count(1, INT32_MAX);
    else if (args.is("--heads")) s.heads = count(1, 4096);
    else if (args.is("--kv-heads")) s.kv_heads = count(1, 4096);
    else if (args.is("--head-dim")) s.head_dim = count(1, 512);
    else if (args.is("--seed")) s.seed = static_cast<unsigned>(args.integer(0, UINT32_MAX));
    else args.unknown();
  }
  args.require(s.heads % s.kv_heads == 0, "--kv-heads must divide --heads");
  // A request may hold prompt + output tokens' pages at once.
  const long long need = (static_cast<long long>(s.prompt) + s.output + s.page_size - 1) / s.page_size;
  args.require(s.pages >= need, "--pages (" + std::to_string(s.pages) + ") must hold one request: at least " +
                                    std::to_string(need) + " pages of " + std::to_string(s.page_size) +
                                    " for a prompt of " + std::to_string(s.prompt) + " and " +
                                    std::to_string(s.output) + " tokens out");
  return s;
}

int serve(const Settings& s);

}  // namespace

int main(int argc, char** argv) {
  const Settings s = parse(argc, argv);
  try {
    return serve(s);
  } catch (const std::exception& e) {  // attnrt::Error (a bad ATTNRT_* variable), or memory
    std::fprintf(stderr, "serving_loop: %s\n", e.what());
    return 1;
  }
}

namespace {

int serve(const Settings& s) {
  std::mt19937 rng(s.seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Cache cache(s);
  const attnrt::Tensor k_pool = cache.pool(cache.k), v_pool = cache.pool(cache.v);
  const attnrt::Tensor k_scale = cache.scales(cache.k_scale), v_scale = cache.scales(cache.v_scale);
  const std::int64_t H = s.heads, D = s.head_dim;
  const int max_pages = (s.prompt + s.output + s.page_size - 1) / s.page_size;
  std::vector<Request> running;
  std::vector<double> latency_ms;
  std::vector<float> q, o, k_new, v_new;
  std::vector<std::int32_t> cu_q, table;
  std::vector<std::int64_t> kv_lens, slots;
  int arrived = 0, steps = 0;
  long long tokens = 0;
  attnrt::Runtime rt;
  const auto start = std::chrono::steady_clock::now();

  while (static_cast<int>(latency_ms.size()) < s.requests) {
    // Arrivals (one at once when idle), admitted while the pool has room for
    // their whole prompt and output.
    if (arrived < s.requests && (running.empty() || std::bernoulli_distribution(s.arrival)(rng)) &&
        static_cast<int>(cache.free.size()) >= max_pages * static_cast<int>(running.size() + 1)) {
      Request r;
      r.prompt = std::uniform_int_distribution<int>(s.prompt / 8, s.prompt)(rng);
      r.output = std::uniform_int_distribution<int>(1, s.output)(rng);
      r.arrived = std::chrono::steady_clock::now();
      running.push_back(r);
      ++arrived;
    }
    // The step's tokens per request: a prompt chunk, or the last token
    // decoded; each token's cache slot (a new page when it starts one).
    cu_q.assign(1, 0);
    table.assign(running.size() * max_pages, 0);
    kv_lens.clear();
    slots.clear();
    for (std::size_t b = 0; b < running.size(); ++b) {
      Request& r = running[b];
      const int n = r.cached < r.prompt ? std::min(s.chunk, r.prompt - r.cached) : 1;
      for (int t = 0; t < n; ++t, ++r.cached) {
        if (r.cached % s.page_size == 0) {
          r.pages.push_back(cache.free.back());
          cache.free.pop_back();
        }
        slots.push_back(std::int64_t{r.pages.back()} * s.page_size + r.cached % s.page_size);
      }
      cu_q.push_back(cu_q.back() + n);
      kv_lens.push_back(r.cached);
      std::copy(r.pages.begin(), r.pages.end(), table.begin() + static_cast<std::ptrdiff_t>(b * max_pages));
    }
    const std::int64_t rows = cu_q.back();
    q.resize(static_cast<std::size_t>(rows * H * D));
    o.assign(q.size(), 0.0f);
    k_new.resize(static_cast<std::size_t>(rows * s.kv_heads * D));
    v_new.resize(k_new.size());
    for (auto* x : {&q, &k_new, &v_new})
      for (float& e : *x) e = u(rng);
    // The model's new K/V rows ([1, rows, Hkv, D], as Q) quantized into their slots.
    const auto step_rows = [&](std::vector<float>& x) {
      return attnrt::Tensor::bshd(x.data(), attnrt::DType::f32, 1, s.kv_heads, rows, D);
    };
    attnrt::cache_write(step_rows(k_new), k_pool, &k_scale, slots.data());
    attnrt::cache_write(step_rows(v_new), v_pool, &v_scale, slots.data());
    // Q and O packed [1, rows, H, D] (BSHD), one call for the whole step.
    const attnrt::Tensor tq = attnrt::Tensor::bshd(q.data(), attnrt::DType::f32, 1, H, rows, D);
    const attnrt::Tensor to = attnrt::Tensor::bshd(o.data(), attnrt::DType::f32, 1, H, rows, D);
    attnrt::Params p;
    p.causal = true;
    p.cu_seqlens_q = cu_q.data();
    p.num_seqs = static_cast<std::int64_t>(running.size());
    p.kv_lens = kv_lens.data();
    p.block_table = table.data();
    p.block_table_stride = max_pages;
    p.k_scale = &k_scale;
    p.v_scale = &v_scale;
    rt.forward(tq, k_pool, v_pool, to, p);
    for (float x : o)
      if (!std::isfinite(x)) {
        std::fprintf(stderr, "serving_loop: a non-finite output at step %d\n", steps);
        return 1;
      }
    ++steps;
    tokens += rows;
    // Requests past their prompt produced a token; finished ones leave.
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t b = running.size(); b-- > 0;) {
      Request& r = running[b];
      if (r.cached >= r.prompt) ++r.generated;  // a prompt's last chunk gives its first token
      if (r.cached >= r.prompt && r.generated >= r.output) {
        latency_ms.push_back(std::chrono::duration<double, std::milli>(now - r.arrived).count());
        cache.free.insert(cache.free.end(), r.pages.begin(), r.pages.end());
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(b));
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("serving_loop: %d requests, %d steps, %d threads, H%lld/%d D%lld, int8 K/V in pages of %d\n",
              s.requests, steps, rt.num_threads(), static_cast<long long>(H), s.kv_heads, static_cast<long long>(D),
              s.page_size);
  std::printf("  request latency p50 %.2f ms, p99 %.2f ms; %.0f tokens/s (prefill and decode, %lld tokens)\n",
              percentile(latency_ms, 0.5), percentile(latency_ms, 0.99), static_cast<double>(tokens) / seconds, tokens);
  return 0;
}

}  // namespace
