// attnrt_cache_write: a step's K or V rows stored into cache slots. Codes
// against a brute-force nearest-code search (every finite code of the
// format, ties to the even code) over the fp32 quotient x / scale; every
// finite code encodes back to itself, midpoints go to the even code, values
// past the format saturate. Per-token scales written as the row's largest
// magnitude over the format's largest value, per-head scales read; float
// caches rounded as the kernels round; skipped and unnamed slots untouched;
// a cache written token by token and read by a paged attention call against
// the double reference. Every argument rule is an error naming the argument,
// with nothing written.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/convert.hpp"
#include "kernels/quant.hpp"
#include "tests/caller_fp_env.hpp"
#include "tests/reference.hpp"
#include "tests/tensors.hpp"
#include "tests/tolerances.hpp"

namespace attnrt::test {
namespace {

constexpr attnrt_dtype kCodes[] = {ATTNRT_I8, ATTNRT_F8_E4M3, ATTNRT_F8_E5M2};

kernels::KvFormat format_of(attnrt_dtype t) {
  return t == ATTNRT_I8 ? kernels::KvFormat::i8 : t == ATTNRT_F8_E4M3 ? kernels::KvFormat::e4m3 : kernels::KvFormat::e5m2;
}

// The format's codes whose values are finite (int8: -128 excluded, as the
// writer never produces it), with those values.
struct Code {
  std::uint8_t code;
  double value;
};
std::vector<Code> finite_codes(attnrt_dtype t) {
  std::vector<Code> out;
  for (int c = 0; c < 256; ++c) {
    const double v = code_to_double(t, static_cast<std::uint8_t>(c));
    if (std::isfinite(v) && !(t == ATTNRT_I8 && c == 0x80)) out.push_back({static_cast<std::uint8_t>(c), v});
  }
  return out;
}

// The code nearest x (saturated: x beyond the largest value takes it), ties
// to the even code; zero keeps x's sign (an fp8 -0 is code 0x80, int8 has one).
std::uint8_t nearest_code(attnrt_dtype t, const std::vector<Code>& codes, float x) {
  std::uint8_t best = 0;
  double gap = std::numeric_limits<double>::infinity();
  for (const Code& c : codes) {
    const double g = std::abs(c.value - x);
    if (g < gap || (g == gap && (c.code & 1) == 0 && (best & 1) == 1)) {
      gap = g;
      best = c.code;
    }
  }
  if (t != ATTNRT_I8 && code_to_double(t, best) == 0) best = std::signbit(x) ? 0x80 : 0;
  return best;
}

std::uint8_t encode(attnrt_dtype t, float x) {
  std::uint8_t c = 0;
  kernels::quant_row(format_of(t), &x, 1, 1.0f, &c);
  return c;
}

TEST(CacheWrite, EveryFiniteCodeEncodesToItself) {
  for (attnrt_dtype t : kCodes)
    for (const Code& c : finite_codes(t))
      EXPECT_EQ(encode(t, static_cast<float>(c.value)), c.code) << "dtype " << t << " value " << c.value;
}

TEST(CacheWrite, MidpointsGoToTheEvenCode) {
  for (attnrt_dtype t : kCodes) {
    std::vector<Code> pos;
    for (const Code& c : finite_codes(t))
      if (c.value >= 0 && !(c.value == 0 && c.code != 0)) pos.push_back(c);
    std::sort(pos.begin(), pos.end(), [](const Code& a, const Code& b) { return a.value < b.value; });
    for (std::size_t i = 0; i + 1 < pos.size(); ++i) {
      const float lo = static_cast<float>(pos[i].value), hi = static_cast<float>(pos[i + 1].value);
      const float mid = (lo + hi) / 2;  // exact: a few significant bits
      ASSERT_EQ(static_cast<double>(mid), (pos[i].value + pos[i + 1].value) / 2);
      const std::uint8_t even = (pos[i].code & 1) == 0 ? pos[i].code : pos[i + 1].code;
      EXPECT_EQ(encode(t, mid), even) << "dtype " << t << " between " << lo << " and " << hi;
      EXPECT_EQ(encode(t, std::nextafter(mid, lo)), pos[i].code) << "dtype " << t << " below " << mid;
      EXPECT_EQ(encode(t, std::nextafter(mid, hi)), pos[i + 1].code) << "dtype " << t << " above " << mid;
      EXPECT_EQ(encode(t, -mid), nearest_code(t, finite_codes(t), -mid)) << "dtype " << t << " at " << -mid;
    }
  }
}

TEST(CacheWrite, SaturatesAtTheLargestValue) {
  EXPECT_EQ(encode(ATTNRT_I8, 127.5f), 0x7f);
  EXPECT_EQ(encode(ATTNRT_I8, -1e30f), 0x81);  // -127: -128 is never written
  EXPECT_EQ(encode(ATTNRT_F8_E4M3, 464.0f), 0x7e);  // past 448 (0x7f is NaN)
  EXPECT_EQ(encode(ATTNRT_F8_E4M3, -3e38f), 0xfe);
  EXPECT_EQ(encode(ATTNRT_F8_E5M2, 61440.0f), 0x7b);  // 57344's midpoint with inf
  EXPECT_EQ(encode(ATTNRT_F8_E5M2, -1e20f), 0xfb);
}

// A cache [pages, H, page, D] (or token-major [pages, page, H, D] memory)
// filled with a marker, its scales NaN; src [B, H, M, D] random in [-2, 2]
// with some elements far larger, in the src dtype; slots shuffled, some
// negative (skipped).
struct Case {
  attnrt_dtype src_t = ATTNRT_F32, cache_t = ATTNRT_I8;
  std::int64_t B = 3, M = 5, H = 3, D = 40, pages = 7, page = 4;
  bool token_major = false, per_head = false;
};

struct StoreCall {
  Case c;
  std::vector<std::uint8_t> src_mem, cache_mem;
  std::vector<float> scale_mem;
  attnrt_tensor src{}, cache{}, scale{};
  std::vector<std::int64_t> slots;

  explicit StoreCall(const Case& cs, unsigned seed = 1) : c(cs) {
    std::mt19937 rng(seed);
    const std::int64_t es = static_cast<std::int64_t>(dtype_bytes(c.src_t));
    const std::int64_t cs_bytes = static_cast<std::int64_t>(dtype_bytes(c.cache_t));
    const std::int64_t tokens = c.B * c.M;
    src_mem.resize(static_cast<std::size_t>(tokens * c.H * c.D * es));
    src = {src_mem.data(), c.src_t, {c.B, c.H, c.M, c.D}, {c.H * c.M * c.D, c.M * c.D, c.D}};
    std::uniform_real_distribution<float> u(-2, 2);
    for (std::int64_t i = 0; i < tokens * c.H * c.D; ++i) {
      float x = u(rng);
      if (i % 97 == 0) x *= 300;  // beyond every format's range at scale 1
      if (c.src_t == ATTNRT_F32) std::memcpy(&src_mem[i * 4], &x, 4);
      else {
        const std::uint16_t h = c.src_t == ATTNRT_F16 ? kernels::float_to_fp16(x) : kernels::float_to_bf16(x);
        std::memcpy(&src_mem[i * 2], &h, 2);
      }
    }
    cache_mem.assign(static_cast<std::size_t>(c.pages * c.page * c.H * c.D * cs_bytes), 0x5a);
    const std::int64_t P = c.page, H = c.H, D = c.D;
    cache = {cache_mem.data(), c.cache_t, {c.pages, H, P, D},
             {P * H * D, c.token_major ? D : P * D, c.token_major ? H * D : D}};
    if (dtype_bytes(c.cache_t) == 1) {  // codes: int8 or fp8
      if (c.per_head) {
        scale_mem.resize(static_cast<std::size_t>(H));
        for (std::int64_t h = 0; h < H; ++h) scale_mem[h] = 0.01f * static_cast<float>(h + 1);
        scale = {scale_mem.data(), ATTNRT_F32, {1, H, 1, 1}, {H, 1, 1}};
      } else {
        scale_mem.assign(static_cast<std::size_t>(c.pages * H * P), std::numeric_limits<float>::quiet_NaN());
        scale = {scale_mem.data(), ATTNRT_F32, {c.pages, H, P, 1},
                 {P * H, c.token_major ? 1 : P, c.token_major ? H : 1}};
      }
    }
    std::vector<std::int64_t> all(static_cast<std::size_t>(c.pages * P));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    slots.assign(all.begin(), all.begin() + tokens);
    for (std::int64_t t = 0; t < tokens; t += 4) slots[t] = -1 - t;  // padding tokens
  }
  bool codes() const { return scale.data != nullptr; }
  float src_at(std::int64_t t, std::int64_t h, std::int64_t d) const {
    return static_cast<float>(load(src, t / c.M, h, t % c.M, d));
  }
  const std::uint8_t* cache_row(std::int64_t slot, std::int64_t h) const {
    const std::int64_t e = (slot / c.page) * cache.stride[0] + h * cache.stride[1] + (slot % c.page) * cache.stride[2];
    return cache_mem.data() + e * static_cast<std::int64_t>(cache_mem.size() / (c.pages * c.page * c.H * c.D));
  }
  float* scale_at(std::int64_t slot, std::int64_t h) {
    if (c.per_head) return &scale_mem[h];
    return &scale_mem[(slot / c.page) * scale.stride[0] + h * scale.stride[1] + (slot % c.page) * scale.stride[2]];
  }
  attnrt_status write() { return attnrt_cache_write(&src, &cache, codes() ? &scale : nullptr, slots.data()); }
  attnrt_status write_on(attnrt_runtime* rt) {
    return attnrt_runtime_cache_write(rt, &src, &cache, codes() ? &scale : nullptr, slots.data());
  }
};

// Each written row against the brute-force codes of x / scale; every byte
// of a slot no kept token names still holds the marker.
void expect_written(StoreCall& s) {
  const Case& c = s.c;
  const std::vector<Code> codes = s.codes() ? finite_codes(c.cache_t) : std::vector<Code>{};
  const double top = c.cache_t == ATTNRT_I8 ? 127 : c.cache_t == ATTNRT_F8_E4M3 ? 448 : 57344;
  std::vector<bool> named(static_cast<std::size_t>(c.pages * c.page));
  for (std::int64_t t = 0; t < c.B * c.M; ++t) {
    if (s.slots[t] < 0) continue;
    named[s.slots[t]] = true;
    for (std::int64_t h = 0; h < c.H; ++h) {
      const std::uint8_t* row = s.cache_row(s.slots[t], h);
      float amax = 0;
      for (std::int64_t d = 0; d < c.D; ++d) amax = std::max(amax, std::abs(s.src_at(t, h, d)));
      const float scale = s.codes() ? *s.scale_at(s.slots[t], h) : 1.0f;
      if (s.codes() && !c.per_head) {
        EXPECT_EQ(scale, static_cast<float>(amax / static_cast<float>(top))) << "token " << t << " head " << h;
      }
      for (std::int64_t d = 0; d < c.D; ++d) {
        const float x = s.src_at(t, h, d);
        if (s.codes()) {
          ASSERT_EQ(row[d], nearest_code(c.cache_t, codes, x / scale)) << "token " << t << " head " << h << " d " << d;
          continue;
        }
        // A float cache: the value rounded to its dtype, bit for bit.
        float want = x, got = 0;
        if (c.cache_t == ATTNRT_F32) std::memcpy(&got, row + d * 4, 4);
        else {
          std::uint16_t bits = 0;
          std::memcpy(&bits, row + d * 2, 2);
          const bool f16 = c.cache_t == ATTNRT_F16;
          got = f16 ? kernels::fp16_to_float(bits) : kernels::bf16_to_float(bits);
          want = f16 ? kernels::fp16_to_float(kernels::float_to_fp16(x)) : kernels::bf16_to_float(kernels::float_to_bf16(x));
        }
        ASSERT_EQ(got, want) << "token " << t << " head " << h << " d " << d;
      }
    }
  }
  const std::int64_t bytes = static_cast<std::int64_t>(s.cache_mem.size()) / (c.pages * c.page * c.H * c.D);
  for (std::int64_t slot = 0; slot < c.pages * c.page; ++slot) {
    if (named[slot]) continue;
    for (std::int64_t h = 0; h < c.H; ++h) {
      const std::uint8_t* row = s.cache_row(slot, h);
      for (std::int64_t i = 0; i < c.D * bytes; ++i) ASSERT_EQ(row[i], 0x5a) << "slot " << slot << " head " << h;
      if (s.codes() && !c.per_head) {
        EXPECT_TRUE(std::isnan(*s.scale_at(slot, h))) << "slot " << slot << " head " << h;
      }
    }
  }
}

TEST(CacheWrite, PerTokenScalesWrittenAndCodesNearest) {
  for (attnrt_dtype cache_t : kCodes)
    for (attnrt_dtype src_t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
      for (bool token_major : {false, true}) {
        SCOPED_TRACE(testing::Message() << "cache " << cache_t << " src " << src_t << " token_major " << token_major);
        StoreCall s({.src_t = src_t, .cache_t = cache_t, .token_major = token_major});
        ASSERT_EQ(s.write(), ATTNRT_OK) << attnrt_last_error();
        expect_written(s);
      }
}

TEST(CacheWrite, PerHeadScalesRead) {
  for (attnrt_dtype cache_t : kCodes) {
    SCOPED_TRACE(testing::Message() << "cache " << cache_t);
    StoreCall s({.cache_t = cache_t, .per_head = true});
    const std::vector<float> before = s.scale_mem;
    ASSERT_EQ(s.write(), ATTNRT_OK) << attnrt_last_error();
    expect_written(s);
    EXPECT_EQ(s.scale_mem, before);
  }
}

TEST(CacheWrite, FloatCachesTakeRoundedRows) {
  for (attnrt_dtype cache_t : {ATTNRT_F32, ATTNRT_F16, ATTNRT_BF16})
    for (attnrt_dtype src_t : {ATTNRT_F32, ATTNRT_BF16}) {
      SCOPED_TRACE(testing::Message() << "cache " << cache_t << " src " << src_t);
      StoreCall s({.src_t = src_t, .cache_t = cache_t, .token_major = true});
      ASSERT_EQ(s.write(), ATTNRT_OK) << attnrt_last_error();
      expect_written(s);
    }
}

TEST(CacheWrite, ZeroRowsAndTheLaterOfTwoTokens) {
  StoreCall s({.B = 1, .M = 2, .H = 1, .D = 8, .pages = 1, .page = 2});
  std::fill(s.src_mem.begin(), s.src_mem.begin() + 8 * 4, 0);  // token 0 all zeros
  s.slots = {1, 0};
  ASSERT_EQ(s.write(), ATTNRT_OK) << attnrt_last_error();
  EXPECT_EQ(*s.scale_at(1, 0), 1.0f);  // any scale decodes zeros; 1, not 0 or NaN
  for (int d = 0; d < 8; ++d) EXPECT_EQ(s.cache_row(1, 0)[d], 0);
  const std::vector<std::uint8_t> token1(s.cache_row(0, 0), s.cache_row(0, 0) + 8);
  s.slots = {0, 0};  // both name slot 0: token 1 is stored last
  ASSERT_EQ(s.write(), ATTNRT_OK) << attnrt_last_error();
  EXPECT_EQ(std::vector<std::uint8_t>(s.cache_row(0, 0), s.cache_row(0, 0) + 8), token1);
}

// The caller's rounding mode never reaches the codes: nearest, ties to
// even, as in the default environment (the midpoints above would round up).
TEST(CacheWrite, TheCallersRoundingModeDoesNotReachTheCodes) {
  for (attnrt_dtype cache_t : kCodes)
    for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
      SCOPED_TRACE(testing::Message() << "cache " << cache_t << " rounding mode " << mode);
      StoreCall s({.cache_t = cache_t});
      attnrt_status st;
      {
        const CallerFpEnv env({.rounding = mode});
        st = s.write();
      }
      ASSERT_EQ(st, ATTNRT_OK) << attnrt_last_error();
      expect_written(s);
    }
}

// On a runtime's workers (a write large enough to be split by page among
// two): the bytes and scales the calling thread writes, a slot named twice
// (two tokens of one page) keeping the later token.
TEST(CacheWrite, RuntimeWorkersWriteTheSameBytes) {
  attnrt_config config;
  ASSERT_EQ(attnrt_config_init(&config), ATTNRT_OK);
  config.num_threads = 2;
  attnrt_runtime* rt = nullptr;
  ASSERT_EQ(attnrt_runtime_create(&config, &rt), ATTNRT_OK) << attnrt_last_error();
  const std::unique_ptr<attnrt_runtime, void (*)(attnrt_runtime*)> owned(rt, attnrt_runtime_destroy);
  for (attnrt_dtype cache_t : {ATTNRT_I8, ATTNRT_F8_E5M2, ATTNRT_BF16})
    for (bool per_head : {false, true}) {
      if (per_head && cache_t == ATTNRT_BF16) continue;
      SCOPED_TRACE(testing::Message() << "cache " << cache_t << " per_head " << per_head);
      // 4 x 128 tokens x 4 heads x D64: 2^17 values, two parts' worth.
      const Case c{.cache_t = cache_t, .B = 4, .M = 128, .H = 4, .D = 64, .pages = 40, .page = 16, .per_head = per_head};
      StoreCall alone(c), workers(c);
      alone.slots[2] = workers.slots[2] = alone.slots[1];  // tokens 1 and 2 name one slot
      ASSERT_EQ(alone.write(), ATTNRT_OK) << attnrt_last_error();
      ASSERT_EQ(workers.write_on(rt), ATTNRT_OK) << attnrt_last_error();
      EXPECT_EQ(workers.cache_mem, alone.cache_mem);
      EXPECT_EQ(std::memcmp(workers.scale_mem.data(), alone.scale_mem.data(), 4 * alone.scale_mem.size()), 0)
          << "scales (NaN where unwritten, compared as bytes)";
      StoreCall later(c);  // token 2 alone in that slot
      later.slots = alone.slots;
      later.slots[1] = -1;
      ASSERT_EQ(later.write(), ATTNRT_OK) << attnrt_last_error();
      EXPECT_TRUE(std::equal(alone.cache_row(alone.slots[1], 0), alone.cache_row(alone.slots[1], 0) + c.D,
                             later.cache_row(alone.slots[1], 0)))
          << "the slot named twice holds the later token";
    }
  StoreCall s({});
  EXPECT_EQ(s.write_on(nullptr), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("runtime"), std::string::npos) << attnrt_last_error();
}

// A prompt's K and V written token by token into shuffled int8 pages, then
// read by a paged decode and chunked-prefill call: the library's output
// against the double reference on the same cache.
TEST(CacheWrite, WrittenPagesReadByAttention) {
  const std::int64_t H = 2, D = 32, page = 4, pages = 12, n = 37, M = 3;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> kx(static_cast<std::size_t>(n * H * D)), vx(kx.size()), q(static_cast<std::size_t>(M * H * D));
  for (auto* x : {&kx, &vx, &q})
    for (float& e : *x) e = u(rng);
  std::vector<std::int8_t> kc(static_cast<std::size_t>(pages * H * page * D)), vc(kc.size());
  std::vector<float> ks(static_cast<std::size_t>(pages * H * page)), vs(ks.size());
  std::vector<std::int32_t> table(static_cast<std::size_t>(pages));
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  std::vector<std::int64_t> slots(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) slots[j] = table[j / page] * page + j % page;
  const Tensor pool_k{kc.data(), DType::i8, {pages, H, page, D}, {H * page * D, page * D, D}};
  const Tensor pool_v{vc.data(), DType::i8, {pages, H, page, D}, {H * page * D, page * D, D}};
  const Tensor scale_k{ks.data(), DType::f32, {pages, H, page, 1}, {H * page, page, 1}};
  const Tensor scale_v{vs.data(), DType::f32, {pages, H, page, 1}, {H * page, page, 1}};
  // The model's rows as a server holds them, token-major [1, H, n, D] views
  // (V through a C++ runtime's own writer).
  cache_write(Tensor::bshd(kx.data(), DType::f32, 1, H, n, D), pool_k, &scale_k, slots.data());
  Runtime writer(Config{.num_threads = 2});
  writer.cache_write(Tensor::bshd(vx.data(), DType::f32, 1, H, n, D), pool_v, &scale_v, slots.data());

  std::vector<float> o(q.size());
  const std::int64_t kv_len = n;
  Params p;
  p.causal = true;
  p.kv_lens = &kv_len;
  p.block_table = table.data();
  p.block_table_stride = pages;
  p.k_scale = &scale_k;
  p.v_scale = &scale_v;
  const Tensor tq = Tensor::bhsd(q.data(), DType::f32, 1, H, M, D), to = Tensor::bhsd(o.data(), DType::f32, 1, H, M, D);
  attention_forward(tq, pool_k, pool_v, to, p);

  // The reference reads codes unscaled: it gets the cache dequantized (code
  // times scale in fp32, as attnrt.h defines the values), dense [1, H, n, D].
  std::vector<float> kd(kx.size()), vd(kx.size());
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t row = (slots[j] / page) * H * page + h * page + slots[j] % page;
      for (std::int64_t d = 0; d < D; ++d) {
        kd[(h * n + j) * D + d] = static_cast<float>(kc[row * D + d]) * ks[row];
        vd[(h * n + j) * D + d] = static_cast<float>(vc[row * D + d]) * vs[row];
      }
    }
  attnrt_params dense;
  attnrt_params_init(&dense);
  dense.causal = 1;
  const attnrt_tensor cq = tq.c(), ck = Tensor::bhsd(kd.data(), DType::f32, 1, H, n, D).c(),
                      cv = Tensor::bhsd(vd.data(), DType::f32, 1, H, n, D).c();
  const RefResult ref = reference_forward(cq, ck, cv, dense);
  const Tolerance tol = tolerance(ATTNRT_F32, ATTNRT_EXP2_ACCURATE);
  for (std::size_t i = 0; i < o.size(); ++i) EXPECT_NEAR(o[i], ref.o[i], tol.o) << "element " << i;
  // And the cache holds the rows within half a code step of each scale.
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t row = (slots[j] / page) * H * page + h * page + slots[j] % page;
      for (std::int64_t d = 0; d < D; ++d)
        ASSERT_LE(std::abs(kc[row * D + d] * ks[row] - kx[(j * H + h) * D + d]), ks[row] * 0.5f * 1.0001f);
    }
}

// Each broken rule: the status, a message naming the argument, and nothing
// written (cache and scales as they were).
TEST(CacheWrite, ErrorsNameTheArgumentAndWriteNothing) {
  struct Broken {
    const char* name;
    void (*breaks)(StoreCall&);
    const char* says;
  };
  const Broken cases[] = {
      {"slot past the cache", [](StoreCall& s) { s.slots[3] = s.c.pages * s.c.page; }, "slots[3] (28) must be <"},
      {"non-finite src",  // element 45: token 1 (b 0, m 1), head 0, d 5
       [](StoreCall& s) {
         const float nan = std::numeric_limits<float>::quiet_NaN();
         std::memcpy(&s.src_mem[45 * 4], &nan, 4);
       },
       "src[token 1, head 0, 5] (nan) must be finite"},
      {"no scale", [](StoreCall& s) { s.scale.data = nullptr; }, "scale must not be NULL"},
      {"scale of another shape", [](StoreCall& s) { s.scale.shape[2] = 1; }, "scale ([7, 3, 1, 1]) must be per token"},
      {"scale not fp32", [](StoreCall& s) { s.scale.dtype = ATTNRT_BF16; }, "scale.dtype (bf16) must be fp32"},
      {"heads differ", [](StoreCall& s) { s.src.shape[1] = 2; }, "cache.heads (3) must equal src.heads (2)"},
      {"head_dim differs", [](StoreCall& s) { s.cache.shape[3] = 39; }, "cache.head_dim (39) must equal src.head_dim (40)"},
      {"quantized src", [](StoreCall& s) { s.src.dtype = ATTNRT_I8; }, "src.dtype"},
      {"no slots", [](StoreCall& s) { s.slots.clear(); }, "slots must not be NULL"},
      {"cache over src", [](StoreCall& s) { s.cache.data = s.src_mem.data(); }, "cache overlaps src"},
      {"cache rows overlap", [](StoreCall& s) { s.cache.stride[2] = 1; }, "cache.stride[seq] (1) makes elements"},
      {"scale over the cache", [](StoreCall& s) { s.scale.data = s.cache_mem.data(); }, "cache overlaps scale"},
  };
  for (const Broken& b : cases) {
    SCOPED_TRACE(b.name);
    StoreCall s({});
    b.breaks(s);
    const std::vector<std::uint8_t> cache = s.cache_mem;
    const std::vector<float> scale = s.scale_mem;
    const attnrt_tensor* scale_arg = s.scale.data ? &s.scale : nullptr;
    EXPECT_EQ(attnrt_cache_write(&s.src, &s.cache, scale_arg, s.slots.empty() ? nullptr : s.slots.data()),
              ATTNRT_INVALID_ARGUMENT);
    EXPECT_NE(std::string(attnrt_last_error()).find(b.says), std::string::npos) << attnrt_last_error();
    EXPECT_EQ(s.cache_mem, cache);
    EXPECT_EQ(std::memcmp(s.scale_mem.data(), scale.data(), scale.size() * 4), 0);  // NaNs compare by bits
  }
  // A read scale must be finite and positive; a float cache takes none.
  StoreCall head({.per_head = true});
  head.scale_mem[1] = 0;
  EXPECT_EQ(head.write(), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("scale[head 1] (0) must be finite and positive"), std::string::npos)
      << attnrt_last_error();
  StoreCall plain({.cache_t = ATTNRT_BF16});
  const attnrt_tensor stray = head.scale;
  EXPECT_EQ(attnrt_cache_write(&plain.src, &plain.cache, &stray, plain.slots.data()), ATTNRT_INVALID_ARGUMENT);
  EXPECT_NE(std::string(attnrt_last_error()).find("scale must be NULL with cache.dtype bf16"), std::string::npos)
      << attnrt_last_error();
}

}  // namespace
}  // namespace attnrt::test
