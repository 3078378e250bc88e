// Every argument rule (runtime/src/validate.cpp) and every null check of the
// C layer (runtime/src/c_api.cpp): each test starts from a valid call, breaks
// exactly one rule, and checks the status and that the message names the
// argument and the rule. The same broken call through the C++ layer must
// throw attnrt::Error with the same status and message.
#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "runtime/internal/attnrt_internal.hpp"

namespace attnrt::test {
namespace {

constexpr std::int64_t B = 2, Hq = 4, Hkv = 2, M = 5, N = 7, D = 8, Dv = 8;
constexpr const char* kDims[4] = {"batch", "heads", "seq", "head_dim"};

attnrt_tensor dense(void* data, attnrt_dtype t, std::int64_t b, std::int64_t h, std::int64_t s, std::int64_t d) {
  return {data, t, {b, h, s, d}, {h * s * d, s * d, d}};
}

using rt::raw_enum;

// Stores any int in a C enum field, as a C caller may (in C++ an enum
// object outside its enumerators' range may only be made through its bytes).
template <class E>
void set_raw(E& e, int v) {
  static_assert(sizeof(E) == sizeof(int));
  std::memcpy(&e, &v, sizeof v);
}

attnrt::Tensor to_cpp(const attnrt_tensor& t) {
  return {t.data, static_cast<attnrt::DType>(raw_enum(t.dtype)), {t.shape[0], t.shape[1], t.shape[2], t.shape[3]},
          {t.stride[0], t.stride[1], t.stride[2]}};
}

// A valid call with bias, LSE and key lengths. Each tensor lives in its own
// 1 MiB region of one arena, so enlarging a shape in a test never makes two
// views overlap by accident.
class Validation : public ::testing::Test {
 protected:
  static constexpr std::size_t kRegion = 1 << 20;

  void SetUp() override {
    arena_.reset(new std::byte[6 * kRegion + 64]);
    base_ = arena_.get() + (64 - reinterpret_cast<std::uintptr_t>(arena_.get()) % 64) % 64;
    attnrt_config config;
    ASSERT_EQ(attnrt_config_init(&config), ATTNRT_OK) << attnrt_last_error();
    config.num_threads = 1;
    ASSERT_EQ(attnrt_runtime_create(&config, &rt), ATTNRT_OK) << attnrt_last_error();
    reset();
  }
  void TearDown() override { attnrt_runtime_destroy(rt); }

  // Back to the valid call (a test breaking several rules in turn calls it
  // between them).
  void reset() {
    std::memset(base_, 0, 6 * kRegion);
    q = dense(region(0), ATTNRT_F32, B, Hq, M, D);
    k = dense(region(1), ATTNRT_F32, B, Hkv, N, D);
    v = dense(region(2), ATTNRT_F32, B, Hkv, N, Dv);
    o = dense(region(3), ATTNRT_F32, B, Hq, M, Dv);
    bias = dense(region(4), ATTNRT_F32, B, Hq, M, N);
    lse = dense(region(5), ATTNRT_F32, B, Hq, M, 1);
    kv_lens[0] = N;
    kv_lens[1] = 3;
    attnrt_params_init(&params);
    params.kv_lens = kv_lens;
    params.bias = &bias;
    params.lse = &lse;
  }

  std::byte* region(int i) { return base_ + i * kRegion; }

  attnrt_status call_c() { return attnrt_runtime_forward(rt, &q, &k, &v, &o, &params); }

  // The call through the C++ layer: nullopt if it succeeded, else the error.
  std::optional<attnrt::Error> call_cpp() {
    attnrt::Config config;
    config.num_threads = 1;
    attnrt::Runtime cpp_rt(config);
    const attnrt::Tensor cb = to_cpp(bias), cl = to_cpp(lse);
    attnrt::Params p;
    p.scale = params.scale;
    p.causal = params.causal != 0;
    p.align = static_cast<attnrt::Align>(raw_enum(params.align));
    p.window_left = params.window_left;
    p.window_right = params.window_right;
    p.kv_lens = params.kv_lens;
    p.bias = params.bias ? &cb : nullptr;
    p.softcap = params.softcap;
    p.precision = static_cast<attnrt::Precision>(raw_enum(params.precision));
    p.strategy = static_cast<attnrt::Strategy>(raw_enum(params.strategy));
    p.lse = params.lse ? &cl : nullptr;
    p.alibi_slopes = params.alibi_slopes;
    p.sinks = params.sinks;
    try {
      cpp_rt.forward(to_cpp(q), to_cpp(k), to_cpp(v), to_cpp(o), p);
    } catch (const attnrt::Error& e) {
      return e;
    }
    return std::nullopt;
  }

  // The call must fail with `status` and a message containing every part;
  // the C++ layer must throw the same (unless the broken value cannot be
  // expressed in C++, e.g. causal = 2).
  void expect_rejected(const std::vector<std::string>& parts, attnrt_status status = ATTNRT_INVALID_ARGUMENT,
                       bool cpp_too = true) {
    const attnrt_status got = call_c();
    const std::string message = attnrt_last_error();
    EXPECT_EQ(got, status) << message;
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "message \"" << message << "\" lacks \"" << part << "\"";
    if (!cpp_too) return;
    const std::optional<attnrt::Error> e = call_cpp();
    ASSERT_TRUE(e.has_value()) << "the C++ layer accepted what the C layer refused";
    EXPECT_EQ(e->status(), got);
    EXPECT_EQ(std::string(e->what()), message);
  }

  attnrt_tensor* tensor(const std::string& name) {
    if (name == "q") return &q;
    if (name == "k") return &k;
    if (name == "v") return &v;
    if (name == "o") return &o;
    if (name == "params.bias") return &bias;
    return &lse;
  }

  std::unique_ptr<std::byte[]> arena_;
  std::byte* base_ = nullptr;
  attnrt_tensor q, k, v, o, bias, lse;
  std::int64_t kv_lens[B];
  attnrt_params params;
  attnrt_runtime* rt = nullptr;
};

const std::vector<std::string> kAllTensors = {"q", "k", "v", "o", "params.bias", "params.lse"};

TEST_F(Validation, ValidCallSucceeds) {
  ASSERT_EQ(call_c(), ATTNRT_OK) << attnrt_last_error();
  EXPECT_STREQ(attnrt_last_error(), "");
  EXPECT_FALSE(call_cpp().has_value());
}

TEST_F(Validation, NullParamsMeanDefaults) {
  EXPECT_EQ(attnrt_runtime_forward(rt, &q, &k, &v, &o, nullptr), ATTNRT_OK) << attnrt_last_error();
}

TEST_F(Validation, HeadDimOf512IsAccepted) {
  const std::int64_t big = 512;
  q = dense(region(0), ATTNRT_F32, B, Hq, M, big);
  k = dense(region(1), ATTNRT_F32, B, Hkv, N, big);
  v = dense(region(2), ATTNRT_F32, B, Hkv, N, big);
  o = dense(region(3), ATTNRT_F32, B, Hq, M, big);
  EXPECT_EQ(call_c(), ATTNRT_OK) << attnrt_last_error();
}

TEST_F(Validation, BroadcastBiasIsAccepted) {
  bias.shape[0] = bias.shape[1] = 1;
  EXPECT_EQ(call_c(), ATTNRT_OK) << attnrt_last_error();
}

// ---- the C layer's own checks ------------------------------------------------

TEST_F(Validation, NullRuntime) {
  EXPECT_EQ(attnrt_runtime_forward(nullptr, &q, &k, &v, &o, &params), ATTNRT_INVALID_ARGUMENT);
  EXPECT_STREQ(attnrt_last_error(), "runtime must not be NULL");
}

TEST_F(Validation, NullTensorPointers) {
  for (const char* name : {"q", "k", "v", "o"}) {
    SCOPED_TRACE(name);
    const attnrt_tensor* t[4] = {&q, &k, &v, &o};
    t[std::string("qkvo").find(name[0])] = nullptr;
    EXPECT_EQ(attnrt_runtime_forward(rt, t[0], t[1], t[2], t[3], &params), ATTNRT_INVALID_ARGUMENT);
    EXPECT_EQ(std::string(attnrt_last_error()), std::string(name) + " must not be NULL");
    EXPECT_EQ(attnrt_attention_forward(t[0], t[1], t[2], t[3], &params), ATTNRT_INVALID_ARGUMENT);
    EXPECT_EQ(std::string(attnrt_last_error()), std::string(name) + " must not be NULL");
  }
}

TEST_F(Validation, NullConfigAndOut) {
  EXPECT_EQ(attnrt_config_init(nullptr), ATTNRT_INVALID_ARGUMENT);
  EXPECT_STREQ(attnrt_last_error(), "config must not be NULL");
  EXPECT_EQ(attnrt_runtime_create(nullptr, nullptr), ATTNRT_INVALID_ARGUMENT);
  EXPECT_STREQ(attnrt_last_error(), "out must not be NULL");
}

TEST_F(Validation, NullHandlesAreHarmless) {
  attnrt_params_init(nullptr);
  attnrt_runtime_destroy(nullptr);
  EXPECT_STREQ(attnrt_runtime_isa(nullptr), "");
  EXPECT_EQ(attnrt_runtime_num_threads(nullptr), 0);
  EXPECT_STRNE(attnrt_version(), "");
}

TEST_F(Validation, LastErrorIsPerThreadAndClearedBySuccess) {
  params.causal = 2;
  ASSERT_EQ(call_c(), ATTNRT_INVALID_ARGUMENT);
  std::string other;
  std::thread([&] { other = attnrt_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_STRNE(attnrt_last_error(), "");
  params.causal = 1;
  ASSERT_EQ(call_c(), ATTNRT_OK);
  EXPECT_STREQ(attnrt_last_error(), "");
}

// ---- each tensor's own rules ------------------------------------------------

TEST_F(Validation, NullData) {
  for (const std::string& name : kAllTensors) {
    SCOPED_TRACE(name);
    reset();
    tensor(name)->data = nullptr;
    expect_rejected({name + ".data must not be NULL"});
  }
  // An empty array (torch's data pointer may be NULL): its shape is named.
  reset();
  tensor("q")->data = nullptr;
  tensor("q")->shape[2] = 0;
  expect_rejected({"q.seq (0) must be positive"});
}

TEST_F(Validation, BadDtypeEnum) {
  for (const std::string& name : kAllTensors) {
    SCOPED_TRACE(name);
    reset();
    set_raw(tensor(name)->dtype, 7);
    expect_rejected({name + ".dtype (7) must be ATTNRT_F32, ATTNRT_F16 or ATTNRT_BF16"});
  }
}

TEST_F(Validation, NonPositiveSizes) {
  for (const std::string& name : kAllTensors)
    for (int dim = 0; dim < 4; ++dim)
      for (const std::int64_t bad : {std::int64_t{0}, std::int64_t{-3}}) {
        SCOPED_TRACE(name + " " + kDims[dim] + " " + std::to_string(bad));
        reset();
        tensor(name)->shape[dim] = bad;
        expect_rejected({name + "." + kDims[dim] + " (" + std::to_string(bad) + ") must be positive"});
      }
}

TEST_F(Validation, NegativeStrides) {
  for (const std::string& name : kAllTensors)
    for (int dim = 0; dim < 3; ++dim) {
      SCOPED_TRACE(name + " " + kDims[dim]);
      reset();
      tensor(name)->stride[dim] = -1;
      expect_rejected({name + ".stride[" + kDims[dim] + "] (-1) must not be negative"});
    }
}

TEST_F(Validation, SequenceLongerThanInt32) {
  for (const std::string& name : kAllTensors) {
    SCOPED_TRACE(name);
    reset();
    attnrt_tensor* t = tensor(name);
    t->shape[2] = std::int64_t{1} << 31;
    t->stride[2] = 0;  // keeps the view tiny; the length rule comes first
    expect_rejected({name + ".seq (2147483648) must be at most 2147483647"});
  }
}

// Work items index batches and heads with int: more would wrap into other
// (or negative) offsets.
TEST_F(Validation, BatchOrHeadsBeyondInt32) {
  for (const std::string& name : kAllTensors)
    for (int dim : {0, 1}) {
      SCOPED_TRACE(name + " " + kDims[dim]);
      reset();
      attnrt_tensor* t = tensor(name);
      t->shape[dim] = std::int64_t{1} << 31;
      t->stride[dim] = 0;
      expect_rejected({name + "." + kDims[dim] + " (2147483648) must be at most 2147483647"});
    }
}

TEST_F(Validation, MisalignedData) {
  for (const std::string& name : kAllTensors) {
    SCOPED_TRACE(name);
    reset();
    attnrt_tensor* t = tensor(name);
    t->data = static_cast<std::byte*>(t->data) + 2;
    expect_rejected({name + ".data must be aligned to its element size (4 bytes)"});
  }
  // A 2-byte dtype needs 2-byte alignment only.
  reset();
  for (attnrt_tensor* t : {&q, &k, &v, &o}) t->dtype = ATTNRT_F16;
  q.data = static_cast<std::byte*>(q.data) + 2;
  EXPECT_EQ(call_c(), ATTNRT_OK) << attnrt_last_error();
  q.data = static_cast<std::byte*>(q.data) + 1;
  expect_rejected({"q.data must be aligned to its element size (2 bytes)"});
}

TEST_F(Validation, SizeArithmeticOverflow) {
  for (const std::string& name : kAllTensors)
    for (int dim = 0; dim < 3; ++dim) {
      SCOPED_TRACE(name + " " + kDims[dim]);
      reset();
      attnrt_tensor* t = tensor(name);
      t->shape[dim] = 3;
      t->stride[dim] = std::numeric_limits<std::int64_t>::max() / 2 + 1;  // 2 * stride overflows
      expect_rejected({name + ": size arithmetic overflows int64"});
    }
  // The element count fits but the byte count does not.
  q.stride[0] = std::numeric_limits<std::int64_t>::max() / 4;
  expect_rejected({"q: size arithmetic overflows int64"});
}

TEST_F(Validation, ViewPastEndOfAddressSpace) {
  // Never dereferenced: the rule is checked on the address arithmetic.
  q.data = reinterpret_cast<void*>(std::numeric_limits<std::uintptr_t>::max() - 63);
  expect_rejected({"q: the view runs past the end of the address space"});
}

TEST_F(Validation, OutputElementsOverlap) {
  for (const std::string& name : {std::string("o"), std::string("params.lse")}) {
    attnrt_tensor* t = tensor(name);
    const std::int64_t row = t->shape[3];
    SCOPED_TRACE(name);
    t->stride[2] = row - 1 > 0 ? row - 1 : 0;  // rows overlap (or coincide for LSE)
    expect_rejected({name + ".stride[seq] (" + std::to_string(t->stride[2]) +
                     ") makes elements of the output overlap: it must be at least " + std::to_string(row)});
    reset();
    t = tensor(name);
    t->stride[0] = 0;  // every batch writes the same place
    expect_rejected({name + ".stride[batch] (0) makes elements of the output overlap"});
    reset();
    t = tensor(name);
    t->stride[1] = t->stride[2] * (M - 1);  // heads start inside the previous head's rows
    expect_rejected({name + ".stride[heads] (" + std::to_string(t->stride[1]) + ") makes elements of the output overlap"});
    reset();
  }
}

// An output whose shape breaks a rule while its strides fit the right
// shape is reported by the shape rule, not as overlapping elements.
TEST_F(Validation, OutputShapeRulesComeBeforeOverlap) {
  lse.shape[3] = 2;  // strides still those of [B, Hq, M, 1]
  expect_rejected({"params.lse.head_dim (2) must equal 1"});
  reset();
  o.shape[3] = 2 * Dv;
  expect_rejected({"o.head_dim (16) must equal v.head_dim (8)"});
}

TEST_F(Validation, ZeroStrideOnSizeOneOutputDimIsAccepted) {
  o.shape[0] = q.shape[0] = k.shape[0] = v.shape[0] = lse.shape[0] = bias.shape[0] = 1;
  o.stride[0] = 0;
  lse.stride[0] = 0;
  EXPECT_EQ(call_c(), ATTNRT_OK) << attnrt_last_error();
}

// ---- rules across tensors ---------------------------------------------------

TEST_F(Validation, DtypeMismatch) {
  for (const std::string name : {"k", "v", "o"}) {
    SCOPED_TRACE(name);
    reset();
    tensor(name)->dtype = ATTNRT_BF16;
    expect_rejected({name + ".dtype (bf16) must equal q.dtype (fp32)"});
  }
}

TEST_F(Validation, BatchMismatch) {
  for (const std::string name : {"k", "v", "o"}) {
    SCOPED_TRACE(name);
    reset();
    tensor(name)->shape[0] = 3;
    expect_rejected({name + ".batch (3) must equal q.batch (2)"});
  }
}

TEST_F(Validation, KvHeadsMustDivideQueryHeads) {
  k.shape[1] = v.shape[1] = 3;
  expect_rejected({"k.heads (3) must divide q.heads (4)"});
  k.shape[1] = v.shape[1] = 8;  // more KV heads than query heads
  expect_rejected({"k.heads (8) must divide q.heads (4)"});
}

TEST_F(Validation, HeadsMismatch) {
  v.shape[1] = 1;
  expect_rejected({"v.heads (1) must equal k.heads (2)"});
  reset();
  o.shape[1] = 2;
  expect_rejected({"o.heads (2) must equal q.heads (4)"});
}

TEST_F(Validation, SeqMismatch) {
  v.shape[2] = 6;
  expect_rejected({"v.seq (6) must equal k.seq (7)"});
  reset();
  o = dense(o.data, ATTNRT_F32, B, Hq, 4, Dv);
  expect_rejected({"o.seq (4) must equal q.seq (5)"});
}

TEST_F(Validation, HeadDimMismatch) {
  k.shape[3] = 16;
  expect_rejected({"k.head_dim (16) must equal q.head_dim (8)"});
  reset();
  o = dense(o.data, ATTNRT_F32, B, Hq, M, 16);
  expect_rejected({"o.head_dim (16) must equal v.head_dim (8)"});
}

TEST_F(Validation, HeadDimAbove512) {
  q.shape[3] = k.shape[3] = 513;
  expect_rejected({"q.head_dim (513) must be at most 512"});
  reset();
  v = dense(v.data, ATTNRT_F32, B, Hkv, N, 520);
  o = dense(o.data, ATTNRT_F32, B, Hq, M, 520);
  expect_rejected({"v.head_dim (520) must be at most 512"});
}

TEST_F(Validation, OutputOverlapsInputs) {
  for (const std::string name : {"q", "k", "v"}) {
    SCOPED_TRACE(name);
    reset();
    o.data = tensor(name)->data;
    expect_rejected({"o overlaps " + name + " in memory"});
    // Partly: O starts on the input's last element.
    reset();
    const attnrt_tensor* in = tensor(name);
    const std::int64_t last = (in->shape[0] - 1) * in->stride[0] + (in->shape[1] - 1) * in->stride[1] +
                              (in->shape[2] - 1) * in->stride[2] + in->shape[3] - 1;
    o.data = static_cast<float*>(in->data) + last;
    expect_rejected({"o overlaps " + name + " in memory"});
  }
  // O right after an input's last element is fine.
  reset();
  o.data = static_cast<float*>(q.data) + B * Hq * M * D;
  EXPECT_EQ(call_c(), ATTNRT_OK) << attnrt_last_error();
}

TEST_F(Validation, OutputOverlapsBias) {
  bias.data = o.data;
  expect_rejected({"o overlaps params.bias in memory"});
}

// Arrays read while the outputs are written (key lengths, per-head slopes
// and sinks) may not live inside o or lse: a worker would read what another
// had already written (key lengths from o's bits: reads past K).
TEST_F(Validation, OutputsOverlapArraysReadDuringTheCall) {
  for (const bool in_lse : {false, true}) {
    const std::string out = in_lse ? "params.lse" : "o";
    SCOPED_TRACE(out);
    reset();
    auto* inside = reinterpret_cast<std::int64_t*>(in_lse ? lse.data : o.data) + 1;
    std::copy(kv_lens, kv_lens + B, inside);
    params.kv_lens = inside;
    expect_rejected({out + " overlaps params.kv_lens in memory"});
    for (const std::string name : {"params.alibi_slopes", "params.sinks"}) {
      SCOPED_TRACE(name);
      reset();
      float* heads = static_cast<float*>(in_lse ? lse.data : o.data) + 2;
      std::fill(heads, heads + Hq, 0.25f);
      (name == "params.sinks" ? params.sinks : params.alibi_slopes) = heads;
      expect_rejected({out + " overlaps " + name + " in memory"});
    }
  }
}

TEST_F(Validation, LseOverlapsAnything) {
  for (const std::string name : {"q", "k", "v", "o", "params.bias"}) {
    SCOPED_TRACE(name);
    reset();
    lse.data = tensor(name)->data;
    expect_rejected({"params.lse overlaps " + name + " in memory"});
  }
}

// ---- parameters ------------------------------------------------------------

TEST_F(Validation, NonFiniteScale) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    params.scale = bad;
    expect_rejected({"params.scale (", ") must be finite"});
  }
}

TEST_F(Validation, BadSoftcap) {
  for (const float bad : {-1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    params.softcap = bad;
    expect_rejected({"params.softcap (", ") must be finite and >= 0 (0 = off)"});
  }
}

TEST_F(Validation, NonFiniteAlibiSlope) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    float slopes[Hq] = {0.5f, 0.25f, bad, 0.125f};
    params.alibi_slopes = slopes;
    expect_rejected({"params.alibi_slopes[2] (", ") must be finite"});
  }
}

TEST_F(Validation, SinkNaNOrPlusInf) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    SCOPED_TRACE(bad);
    float sinks[Hq] = {-std::numeric_limits<float>::infinity(), 1.0f, 0.0f, bad};  // -inf: no sink, allowed
    params.sinks = sinks;
    expect_rejected({"params.sinks[3] (", ") must be finite or -inf (no sink)"});
  }
}

TEST_F(Validation, OutputOverlapsSinks) {
  params.sinks = static_cast<const float*>(o.data) + 3;  // read while o is written
  expect_rejected({"o overlaps params.sinks in memory"});
}

TEST_F(Validation, CausalNotZeroOrOne) {
  for (const int bad : {2, -1}) {
    params.causal = bad;
    expect_rejected({"params.causal (" + std::to_string(bad) + ") must be 0 or 1"}, ATTNRT_INVALID_ARGUMENT,
                    /*cpp_too=*/false);  // attnrt::Params::causal is a bool
  }
}

TEST_F(Validation, BadAlignEnum) {
  set_raw(params.align, 2);
  expect_rejected({"params.align (2) must be ATTNRT_ALIGN_BOTTOM_RIGHT or ATTNRT_ALIGN_TOP_LEFT"});
}

TEST_F(Validation, WindowBelowMinusOne) {
  params.window_left = -2;
  expect_rejected({"params.window_left (-2) must be >= 0, or -1 for unbounded"});
  params.window_left = -1;
  params.window_right = -5;
  expect_rejected({"params.window_right (-5) must be >= 0, or -1 for unbounded"});
}

TEST_F(Validation, BadPrecisionEnum) {
  set_raw(params.precision, 2);
  expect_rejected({"params.precision (2) must be ATTNRT_EXP2_ACCURATE or ATTNRT_EXP2_FAST"});
}

TEST_F(Validation, BadStrategyEnum) {
  for (const int bad : {-1, 4}) {
    set_raw(params.strategy, bad);
    expect_rejected({"params.strategy (" + std::to_string(bad) + ") must be one of ATTNRT_STRATEGY_*"});
  }
}

TEST_F(Validation, KvLensOutOfRange) {
  kv_lens[1] = -1;
  expect_rejected({"params.kv_lens[1] (-1) must be in [0, k.seq (7)]"});
  kv_lens[1] = 3;
  kv_lens[0] = N + 1;
  expect_rejected({"params.kv_lens[0] (8) must be in [0, k.seq (7)]"});
}

TEST_F(Validation, BiasDtype) {
  bias.dtype = ATTNRT_F16;
  expect_rejected({"params.bias.dtype (fp16) must be fp32"});
}

TEST_F(Validation, BiasShape) {
  bias.shape[0] = 3;
  expect_rejected({"params.bias.batch (3) must be 1 or q.batch (2)"});
  reset();
  bias.shape[1] = 2;
  expect_rejected({"params.bias.heads (2) must be 1 or q.heads (4)"});
  reset();
  bias.shape[2] = 4;
  expect_rejected({"params.bias.seq (4) must equal q.seq (5)"});
  reset();
  bias.shape[3] = 6;
  expect_rejected({"params.bias.head_dim (its key dimension) (6) must equal k.seq (7)"});
}

TEST_F(Validation, LseDtype) {
  lse.dtype = ATTNRT_BF16;
  expect_rejected({"params.lse.dtype (bf16) must be fp32"});
}

TEST_F(Validation, LseShape) {
  lse.shape[0] = 1;
  expect_rejected({"params.lse.batch (1) must equal q.batch (2)"});
  reset();
  lse.shape[1] = 2;
  expect_rejected({"params.lse.heads (2) must equal q.heads (4)"});
  reset();
  lse = dense(lse.data, ATTNRT_F32, B, Hq, 6, 1);
  expect_rejected({"params.lse.seq (6) must equal q.seq (5)"});
  reset();
  lse = dense(lse.data, ATTNRT_F32, B, Hq, M, 2);
  expect_rejected({"params.lse.head_dim (2) must equal 1"});
}

}  // namespace
}  // namespace attnrt::test
