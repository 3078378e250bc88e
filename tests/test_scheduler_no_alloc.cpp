// No allocation on the hot path: after a few warm-up calls (which size the
// calling thread's scratch and let oneTBB / libgomp set up their threads),
// forward() allocates nothing, on any thread, for prefill, decode and split-KV
// calls, dense, varlen or paged, with either executor and with several callers. This binary counts
// every malloc-family call of the process by interposing them.
#include <dlfcn.h>
#include <execinfo.h>
#include <errno.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
std::atomic<void*> g_first_caller{nullptr};
void* g_trace[32];
int g_trace_len = 0;
void counted(void* caller) {
  if (!g_counting.load(std::memory_order_relaxed)) return;
  if (g_allocations.fetch_add(1, std::memory_order_relaxed) == 0) {
    g_first_caller = caller;
    g_trace_len = backtrace(g_trace, 32);
  }
}
#define COUNTED() counted(__builtin_return_address(0))
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  COUNTED();
  return __libc_malloc(n);
}
void* calloc(std::size_t a, std::size_t b) {
  COUNTED();
  return __libc_calloc(a, b);
}
void* realloc(void* p, std::size_t n) {
  COUNTED();
  return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) {
  COUNTED();
  return __libc_memalign(a, n);
}
void* aligned_alloc(std::size_t a, std::size_t n) {
  COUNTED();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, std::size_t a, std::size_t n) {
  COUNTED();
  *out = __libc_memalign(a, n);
  return *out ? 0 : ENOMEM;
}
void free(void* p) { __libc_free(p); }
}

namespace attnrt {
namespace {

struct Request {
  std::vector<float> q, k, v, o, lse;
  attnrt_tensor tq, tk, tv, to, tl;
  attnrt_params params;
  std::vector<std::int32_t> cu_q, cu_k;  // a varlen request's offsets
  std::vector<std::int64_t> kv_lens;      // a paged request's key counts
  std::vector<std::int32_t> table;        // and block table (pages in reverse)
  Request(std::int64_t hq, std::int64_t hkv, std::int64_t m, std::int64_t n, std::int64_t d, bool causal)
      : q(hq * m * d, 0.5f), k(hkv * n * d, 0.25f), v(hkv * n * d, 1.0f), o(hq * m * d), lse(hq * m) {
    tq = {q.data(), ATTNRT_F32, {1, hq, m, d}, {hq * m * d, m * d, d}};
    tk = {k.data(), ATTNRT_F32, {1, hkv, n, d}, {hkv * n * d, n * d, d}};
    tv = {v.data(), ATTNRT_F32, {1, hkv, n, d}, {hkv * n * d, n * d, d}};
    to = {o.data(), ATTNRT_F32, {1, hq, m, d}, {hq * m * d, m * d, d}};
    tl = {lse.data(), ATTNRT_F32, {1, hq, m, 1}, {hq * m, m, 1}};
    attnrt_params_init(&params);
    params.causal = causal;
    params.lse = &tl;
  }
  // Packed sequences of these query and key lengths (varlen).
  Request(std::int64_t hq, std::int64_t hkv, const std::vector<std::int32_t>& lens_q,
          const std::vector<std::int32_t>& lens_k, std::int64_t d, bool causal)
      : Request(hq, hkv, total(lens_q), total(lens_k), d, causal) {
    for (auto [cu, lens] : {std::pair{&cu_q, &lens_q}, {&cu_k, &lens_k}}) {
      cu->push_back(0);
      for (std::int32_t n : *lens) cu->push_back(cu->back() + n);
    }
    params.cu_seqlens_q = cu_q.data();
    params.cu_seqlens_k = cu_k.data();
    params.num_seqs = static_cast<std::int64_t>(lens_q.size());
  }
  // Paged decode: one query row per sequence against pages of page_size keys.
  Request(std::int64_t hq, std::int64_t hkv, const std::vector<std::int64_t>& lens, std::int64_t page_size,
          std::int64_t d)
      : Request(hq, hkv, 1, 1, d, false) {
    const std::int64_t b = static_cast<std::int64_t>(lens.size()), slots = 3000 / page_size + 1;
    const std::int64_t pages = b * slots, per_page = hkv * page_size * d;
    kv_lens = lens;
    for (std::int64_t i = 0; i < pages; ++i) table.push_back(static_cast<std::int32_t>(pages - 1 - i));
    q.assign(b * hq * d, 0.5f), k.assign(pages * per_page, 0.25f), v.assign(pages * per_page, 1.0f);
    o.assign(b * hq * d, 0.0f), lse.assign(b * hq, 0.0f);
    tq = {q.data(), ATTNRT_F32, {b, hq, 1, d}, {hq * d, d, d}};
    tk = {k.data(), ATTNRT_F32, {pages, hkv, page_size, d}, {per_page, page_size * d, d}};
    tv = {v.data(), ATTNRT_F32, {pages, hkv, page_size, d}, {per_page, page_size * d, d}};
    to = {o.data(), ATTNRT_F32, {b, hq, 1, d}, {hq * d, d, d}};
    tl = {lse.data(), ATTNRT_F32, {b, hq, 1, 1}, {hq, 1, 1}};
    params.kv_lens = kv_lens.data();
    params.block_table = table.data();
    params.block_table_stride = slots;
  }
  static std::int64_t total(const std::vector<std::int32_t>& lens) {
    std::int64_t t = 0;
    for (std::int32_t n : lens) t += n;
    return t;
  }
  Request(const Request&) = delete;
};

long allocations_in_steady_state(rt::Runtime& rt, int callers) {
  std::vector<std::unique_ptr<Request>> reqs;
  for (int c = 0; c < callers; ++c) {
    reqs.push_back(std::make_unique<Request>(4, 2, 1, 3000, 64, false));  // decode: split-KV on 48 workers
    reqs.push_back(std::make_unique<Request>(2, 2, 130, 130, 64, true));  // prefill
    // varlen: prefill of different lengths (one empty), and decode with split-KV
    reqs.push_back(std::make_unique<Request>(2, 1, std::vector<std::int32_t>{17, 0, 130, 40},
                                             std::vector<std::int32_t>{17, 5, 130, 40}, 64, true));
    reqs.push_back(std::make_unique<Request>(4, 2, std::vector<std::int32_t>{1, 1, 1},
                                             std::vector<std::int32_t>{3000, 7, 200}, 64, false));
    reqs.push_back(std::make_unique<Request>(4, 2, std::vector<std::int64_t>{3000, 7, 200}, 16, 64));  // paged decode
  }
  constexpr int kPerCaller = 5;
  auto work = [&](int c, int rounds) {
    for (int r = 0; r < rounds; ++r)
      for (int i = 0; i < kPerCaller; ++i) {
        Request& q = *reqs[kPerCaller * c + i];
        rt.forward(q.tq, q.tk, q.tv, q.to, q.params);
      }
  };
  // The measured callers warm up first (a thread's scratch grows on its
  // first calls), are made before counting starts and exit after it ends:
  // creating and ending threads allocates (an exiting OpenMP master ends
  // its team, whose threads unwind through libgcc_s, loaded on first use).
  std::atomic<int> warm{0}, go{0}, done{0}, leave{0};
  std::vector<std::thread> ts;
  for (int c = 0; c < callers; ++c)
    ts.emplace_back([&, c] {
      work(c, 3);
      warm.fetch_add(1);
      while (go.load() == 0) std::this_thread::yield();
      work(c, 10);
      done.fetch_add(1);
      while (leave.load() == 0) std::this_thread::yield();
    });
  while (warm.load() != callers) std::this_thread::yield();
  g_allocations = 0;
  g_counting = true;
  go = 1;
  while (done.load() != callers) std::this_thread::yield();
  g_counting = false;
  leave = 1;
  for (auto& t : ts) t.join();
  if (g_allocations.load()) {
    Dl_info info{};
    dladdr(g_first_caller.load(), &info);  // where it came from, to tell a regression from the test's own setup
    void* at = g_first_caller.load();
    const auto offset = static_cast<unsigned long>(static_cast<char*>(at) - static_cast<char*>(info.dli_fbase));
    std::fprintf(stderr, "first allocation from %p +%#lx (%s, %s)\n", at, offset,
                 info.dli_sname ? info.dli_sname : "?", info.dli_fname ? info.dli_fname : "?");
    backtrace_symbols_fd(g_trace, g_trace_len, 2);
  }
  return g_allocations.load();
}

std::vector<attnrt_executor> executors() {
  std::vector<attnrt_executor> e{ATTNRT_EXECUTOR_OPENMP};
  if (scheduler::has_executor(scheduler::ExecutorKind::tbb)) e.push_back(ATTNRT_EXECUTOR_TBB);
  return e;
}

TEST(NoAlloc, TheCounterSeesAllocations) {
  g_allocations = 0;
  g_counting = true;
  void* volatile p = std::malloc(100);
  std::vector<int>* volatile v = new std::vector<int>(10);
  g_counting = false;
  std::free(p);
  delete v;
  EXPECT_GE(g_allocations.load(), 3);
}

TEST(NoAlloc, SteadyStateCallsAllocateNothing) {
  const std::string a64fx = std::string(ATTNRT_TEST_DATA) + "/a64fx.xml";
  for (const char* topo : {static_cast<const char*>(nullptr), a64fx.c_str()})
    for (attnrt_executor ex : executors()) {
      if (topo && !scheduler::Machine::can_load()) continue;
      for (int callers : {1, 3}) {
        attnrt_config c{};
        c.executor = ex;
        c.topology = topo;
        rt::Runtime rt(c);
        SCOPED_TRACE(std::string(rt.executor().name()) + (topo ? " a64fx" : " this machine") + ", callers " +
                     std::to_string(callers));
        EXPECT_EQ(allocations_in_steady_state(rt, callers), 0);
      }
    }
}

}  // namespace
}  // namespace attnrt
