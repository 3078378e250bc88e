// attnrt-ab: two builds of libattnrt compared call for call in one process.
//
// On a shared host the speed of the same code drifts by 10-30% over minutes
// (a neighbour on the sibling hyperthread, the clock), so two builds timed in
// separate runs differ by more than most changes do. Here both libraries are
// loaded side by side (dlopen, RTLD_LOCAL: each keeps its own runtime) and
// called alternately on the same tensors, in pairs whose order alternates
// too; each pair sees the same moment of the machine, and the median of the
// per-pair ratios is what one build gains over the other (docs/testing.md
// says how to build the two libraries).
//
//   attnrt-ab LIB_A LIB_B [--batch B] [--heads H] [--kv-heads HKV] [--q-len M]
//             [--kv-len N] [--head-dim D] [--dtype fp32|fp16|bf16] [--causal] [--fast]
//             [--kv-dtype int8|fp8_e4m3|fp8_e5m2] [--page-size P] [--kv-layout heads|tokens]
//             [--pairs P] [--offset F]
//
// BHSD (fp32 unless --dtype; K and V [B, N, Hkv, D] with --kv-layout
// tokens, as FlashAttention lays them out), default scale, the accurate exp2 unless
// --fast (ATTNRT_EXP2_FAST); each tensor starts on a 64-byte
// boundary, as a framework's allocator hands them out, or F elements past
// one (--offset); K and V quantized with --kv-dtype (int8: a scale per
// key and KV head; fp8: one per KV head), in a paged cache with
// --page-size (pools [pages, Hkv, P, D], or [pages, P, Hkv, D] with
// --kv-layout tokens, each sequence's pages shuffled across the pool, as
// attnrt-bench --page-size keeps them); threads as
// ATTNRT_NUM_THREADS says. Prints the
// median speed of B over A (> 1: B is faster) with its quartiles, and each
// build's best and median GFLOP/s. Exit 1 when a library fails to load or a
// call fails, 2 on bad options.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "attnrt/attnrt.h"

namespace {

using Forward = attnrt_status (*)(const attnrt_tensor*, const attnrt_tensor*, const attnrt_tensor*,
                                  const attnrt_tensor*, const attnrt_params*);
using ParamsInit = void (*)(attnrt_params*);
using LastError = const char* (*)();

struct Library {
  Forward forward = nullptr;
  ParamsInit params_init = nullptr;
  LastError last_error = nullptr;
};

bool load(const char* path, Library* lib) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    std::fprintf(stderr, "attnrt-ab: cannot load %s: %s\n", path, dlerror());
    return false;
  }
  lib->forward = reinterpret_cast<Forward>(dlsym(h, "attnrt_attention_forward"));
  lib->params_init = reinterpret_cast<ParamsInit>(dlsym(h, "attnrt_params_init"));
  lib->last_error = reinterpret_cast<LastError>(dlsym(h, "attnrt_last_error"));
  if (!lib->forward || !lib->params_init || !lib->last_error) {
    std::fprintf(stderr, "attnrt-ab: %s does not export the attnrt C API\n", path);
    return false;
  }
  return true;
}

// Interpolated between the two nearest samples (for an even count, the
// median is the mean of the middle two).
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(at), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

int usage() {
  std::fprintf(stderr,
               "usage: attnrt-ab LIB_A LIB_B [--batch B] [--heads H] [--kv-heads HKV] [--q-len M]\n"
               "                 [--kv-len N] [--head-dim D] [--dtype fp32|fp16|bf16] [--causal] [--fast]\n"
               "                 [--kv-dtype int8|fp8_e4m3|fp8_e5m2] [--page-size P] [--kv-layout heads|tokens]\n"
               "                 [--pairs P] [--offset F]\n");
  return 2;
}

// n elements of `type` from `offset` elements past a 64-byte boundary,
// element i set to value(i).
class Elements {
 public:
  template <class Value>
  Elements(attnrt_dtype type, std::size_t n, int offset, Value value)
      : esz_(type == ATTNRT_F32 ? 4 : type == ATTNRT_F16 || type == ATTNRT_BF16 ? 2 : 1), offset_(offset) {
    base_ = static_cast<char*>(std::aligned_alloc(64, ((n + offset) * esz_ + 63) / 64 * 64));
    if (!base_) throw std::bad_alloc();
    for (std::size_t i = 0; i < n; ++i) {
      const float f = value(i);
      char* at = data() + i * esz_;
      if (type == ATTNRT_F32) {
        std::memcpy(at, &f, 4);
      } else if (esz_ == 1) {  // a quantized code: any byte will do (fp8's NaN codes aside)
        *at = static_cast<char>(static_cast<int>(f * 20.0f) % 64);
      } else if (type == ATTNRT_F16) {
        const _Float16 h = static_cast<_Float16>(f);
        std::memcpy(at, &h, 2);
      } else {  // bf16: the upper half (truncation; any bf16 values will do)
        std::uint32_t u;
        std::memcpy(&u, &f, 4);
        const std::uint16_t hi = static_cast<std::uint16_t>(u >> 16);
        std::memcpy(at, &hi, 2);
      }
    }
  }
  ~Elements() { std::free(base_); }
  Elements(const Elements&) = delete;
  Elements& operator=(const Elements&) = delete;
  char* data() { return base_ + offset_ * esz_; }

 private:
  char* base_;
  std::size_t esz_;
  int offset_;
};

}  // namespace

// Multiply-adds of Q·Kᵀ and P·V over the keys each query row sees
// (bottom-right causal: row i of M sees keys j <= i + N - M).
double flops(std::int64_t b, std::int64_t h, std::int64_t m, std::int64_t n, std::int64_t d, bool causal) {
  double entries = static_cast<double>(m) * static_cast<double>(n);
  if (causal) {
    entries = 0;
    for (std::int64_t i = 0; i < m; ++i) entries += static_cast<double>(std::clamp<std::int64_t>(i + n - m + 1, 0, n));
  }
  return 4.0 * entries * static_cast<double>(b * h * d);
}

int bad_option(const std::string& opt, const char* value, const char* rule) {
  std::fprintf(stderr, "attnrt-ab: %s (%s) must be %s\n", opt.c_str(), value, rule);
  return 2;
}

int run(int argc, char** argv) {
  if (argc < 3) return usage();
  std::int64_t b = 1, h = 8, hkv = 0, m = 2048, n = 2048, d = 128;  // hkv 0: as many as h
  int causal = 0, fast = 0, pairs = 16, offset = 0;
  std::int64_t page_size = 0;  // 0: dense K/V
  attnrt_dtype dtype = ATTNRT_F32, kv_dtype = ATTNRT_F32;  // kv_dtype F32: as dtype
  bool kv_tokens = false;  // K, V (and int8 scales) [B, N, Hkv, D] rather than [B, Hkv, N, D]
  for (int i = 3; i < argc; ++i) {
    const std::string opt = argv[i];
    if (opt == "--causal" || opt == "--fast") {
      (opt == "--causal" ? causal : fast) = 1;
      continue;
    }
    if (i + 1 >= argc) return usage();
    if (opt == "--dtype") {
      const std::string name = argv[++i];
      if (name == "fp32") dtype = ATTNRT_F32;
      else if (name == "fp16") dtype = ATTNRT_F16;
      else if (name == "bf16") dtype = ATTNRT_BF16;
      else return usage();
      continue;
    }
    if (opt == "--kv-dtype") {
      const std::string name = argv[++i];
      if (name == "int8") kv_dtype = ATTNRT_I8;
      else if (name == "fp8_e4m3") kv_dtype = ATTNRT_F8_E4M3;
      else if (name == "fp8_e5m2") kv_dtype = ATTNRT_F8_E5M2;
      else return usage();
      continue;
    }
    if (opt == "--kv-layout") {
      const std::string name = argv[++i];
      if (name == "heads" || name == "tokens") kv_tokens = name == "tokens";
      else return bad_option(opt, name.c_str(), "heads or tokens");
      continue;
    }
    const char* text = argv[++i];
    char* end = nullptr;
    const long long value = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0') return bad_option(opt, text, "an integer");
    if (opt == "--offset") {
      if (value < 0 || value > 15) return bad_option(opt, text, "in [0, 15]");
      offset = static_cast<int>(value);
      continue;
    }
    // Sizes as the library takes them; the tensors' products are checked by
    // the allocation (run's caller reports bad_alloc).
    if (value < 1 || value > (opt == "--pairs" ? 1000000 : opt == "--page-size" ? 256 : 2147483647LL))
      return bad_option(opt, text, opt == "--pairs" ? "in [1, 1000000]" : opt == "--page-size" ? "in [1, 256]"
                                                                                             : "in [1, 2^31 - 1]");
    if (opt == "--batch") b = value;
    else if (opt == "--heads") h = value;
    else if (opt == "--kv-heads") hkv = value;
    else if (opt == "--q-len") m = value;
    else if (opt == "--kv-len") n = value;
    else if (opt == "--head-dim") d = value;
    else if (opt == "--pairs") pairs = static_cast<int>(value);
    else if (opt == "--page-size") page_size = value;
    else return usage();
  }
  if (hkv == 0) hkv = h;
  if (h % hkv != 0) return bad_option("--kv-heads", std::to_string(hkv).c_str(), "a divisor of --heads");
  for (const std::int64_t heads : {h, hkv})
    if (static_cast<double>(b) * static_cast<double>(heads) * static_cast<double>(std::max(m, n)) * static_cast<double>(d) > 0x1p56) {
      std::fprintf(stderr, "attnrt-ab: the tensors (batch x heads x length x head-dim) are too large\n");
      return 2;
    }
  Library lib[2];
  if (!load(argv[1], &lib[0]) || !load(argv[2], &lib[1])) return 1;

  const auto pattern = [](std::size_t mul, std::size_t mod) {
    return [=](std::size_t i) { return static_cast<float>((i * mul) % mod) * 0.05f; };
  };
  const bool quantized = kv_dtype != ATTNRT_F32;
  const attnrt_dtype kv = quantized ? kv_dtype : dtype;
  // Paged: K and V as pools of `slots` pages per sequence, [pages, Hkv, P, D]
  // (kv_b x kv_s rows of each KV head below), the block table a shuffle of
  // every page, so that a sequence's pages sit anywhere in the pool.
  const std::int64_t slots = page_size > 0 ? (n + page_size - 1) / page_size : 0;
  const std::int64_t kv_b = page_size > 0 ? b * slots : b, kv_s = page_size > 0 ? page_size : n;
  std::vector<std::int32_t> table(static_cast<std::size_t>(b * slots));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), std::mt19937(2026));
  const std::vector<std::int64_t> kv_lens(static_cast<std::size_t>(b), n);
  Elements q(dtype, b * h * m * d, offset, pattern(7, 13)), k(kv, kv_b * hkv * kv_s * d, offset, pattern(5, 11)),
      v(kv, kv_b * hkv * kv_s * d, offset, pattern(3, 17)), o(dtype, b * h * m * d, offset, pattern(0, 1));
  // int8: a scale per key and KV head [B, Hkv, N, 1] (paged [pages, Hkv, P, 1]; laid
  // out as K and V);
  // fp8: one per KV head [1, Hkv, 1, 1].
  const bool per_key = kv_dtype == ATTNRT_I8;
  const std::int64_t scale_b = per_key ? kv_b : 1, scale_n = per_key ? kv_s : 1;
  Elements ks(ATTNRT_F32, scale_b * hkv * scale_n, 0, pattern(3, 7)), vs(ATTNRT_F32, scale_b * hkv * scale_n, 0, pattern(2, 5));
  const auto tensor = [&](Elements& x, attnrt_dtype t, std::int64_t bs, std::int64_t heads, std::int64_t s,
                          std::int64_t dim, bool tokens = false) {
    return tokens ? attnrt_tensor{x.data(), t, {bs, heads, s, dim}, {s * heads * dim, dim, heads * dim}}
                  : attnrt_tensor{x.data(), t, {bs, heads, s, dim}, {heads * s * dim, s * dim, dim}};
  };
  const attnrt_tensor tq = tensor(q, dtype, b, h, m, d), tk = tensor(k, kv, kv_b, hkv, kv_s, d, kv_tokens),
                      tv = tensor(v, kv, kv_b, hkv, kv_s, d, kv_tokens), to = tensor(o, dtype, b, h, m, d),
                      tks = tensor(ks, ATTNRT_F32, scale_b, hkv, scale_n, 1, kv_tokens && per_key),
                      tvs = tensor(vs, ATTNRT_F32, scale_b, hkv, scale_n, 1, kv_tokens && per_key);
  attnrt_params params;
  lib[0].params_init(&params);
  if (quantized) params.k_scale = &tks, params.v_scale = &tvs;
  if (page_size > 0) {
    params.block_table = table.data();
    params.block_table_stride = slots;
    params.kv_lens = kv_lens.data();
  }
  params.causal = causal;
  params.precision = fast ? ATTNRT_EXP2_FAST : ATTNRT_EXP2_ACCURATE;

  const auto seconds = [&](int which) {
    const auto t0 = std::chrono::steady_clock::now();
    if (lib[which].forward(&tq, &tk, &tv, &to, &params) != ATTNRT_OK) {
      std::fprintf(stderr, "attnrt-ab: the call through %s failed: %s\n", argv[1 + which], lib[which].last_error());
      std::exit(1);
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  seconds(0);  // warm both: arenas, thread pools, caches
  seconds(1);
  std::vector<double> ratio, ta, tb;
  for (int i = 0; i < pairs; ++i) {
    const bool a_first = i % 2 == 1;
    const double first = seconds(a_first ? 0 : 1), second = seconds(a_first ? 1 : 0);
    const double a = a_first ? first : second, bt = a_first ? second : first;
    ratio.push_back(a / bt);
    ta.push_back(a);
    tb.push_back(bt);
  }
  const double work = flops(b, h, m, n, d, causal != 0);
  const auto gflops = [&](double s) { return work / s * 1e-9; };
  const char* dtype_name = dtype == ATTNRT_F32 ? "fp32" : dtype == ATTNRT_F16 ? "fp16" : "bf16";
  const char* kv_name = kv_dtype == ATTNRT_I8        ? " int8 K/V"
                        : kv_dtype == ATTNRT_F8_E4M3 ? " fp8_e4m3 K/V"
                        : kv_dtype == ATTNRT_F8_E5M2 ? " fp8_e5m2 K/V"
                                                     : "";
  const std::string paged = (page_size > 0 ? " paged " + std::to_string(page_size) : "") + (kv_tokens ? ", K/V by token" : "");
  std::printf("B%lld H%lld/%lld M%lld N%lld D%lld %s%s%s%s%s, %d pairs\n", static_cast<long long>(b),
              static_cast<long long>(h), static_cast<long long>(hkv), static_cast<long long>(m), static_cast<long long>(n),
              static_cast<long long>(d), dtype_name, kv_name, paged.c_str(), causal ? " causal" : "", fast ? " fast" : "",
              pairs);
  std::printf("speed B/A: median %.3f (quartiles %.3f-%.3f)\n", quantile(ratio, 0.5),
              quantile(ratio, 0.25), quantile(ratio, 0.75));
  std::printf("A: best %.1f GFLOP/s, median %.1f\n", gflops(quantile(ta, 0.0)), gflops(quantile(ta, 0.5)));
  std::printf("B: best %.1f GFLOP/s, median %.1f\n", gflops(quantile(tb, 0.0)), gflops(quantile(tb, 0.5)));
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // tensors too large for this machine
    std::fprintf(stderr, "attnrt-ab: %s\n", e.what());
    return 1;
  }
}
