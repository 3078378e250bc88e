#include "bench/shapes.hpp"

#include <array>
#include <limits>
#include <utility>

#include "bench/arg_parse.hpp"
#include "tests/reference.hpp"

namespace attnrt::bench {
namespace {

constexpr DType f32 = DType::f32, f16 = DType::f16, bf16 = DType::bf16;
constexpr std::int64_t kMaxInt = std::numeric_limits<std::int32_t>::max();
constexpr std::pair<std::string_view, DType> kDtypes[] = {{"fp32", f32}, {"fp16", f16}, {"bf16", bf16}};

// {batch, heads, kv_heads, q_len, kv_len, head_dim, head_dim_v, dtype, causal}
constexpr Shape kDefault[] = {
    {1, 8, 8, 2048, 2048, 128, 128, f32, false},
    {1, 8, 8, 2048, 2048, 128, 128, f32, true},
    {4, 32, 8, 1, 4096, 128, 128, f32, false},
    {1, 8, 8, 1024, 1024, 128, 128, bf16, false},
};
constexpr Shape kPrefill[] = {
    {1, 16, 16, 512, 512, 128, 128, f32, false},
    {1, 8, 8, 2048, 2048, 128, 128, f32, false},
    {1, 4, 4, 4096, 4096, 64, 64, f32, false},
    {1, 32, 8, 1024, 1024, 128, 128, f32, false},
    {1, 8, 8, 2048, 2048, 128, 128, f16, false},
    {1, 8, 8, 2048, 2048, 128, 128, bf16, false},
};
constexpr Shape kDecode[] = {
    {4, 32, 32, 1, 4096, 128, 128, f32, false},
    {4, 32, 8, 1, 4096, 128, 128, f32, false},
    {1, 2, 2, 12, 32768, 256, 256, f32, false},
    {8, 32, 8, 1, 2048, 128, 128, bf16, false},
};
// Narrow heads and odd sizes: tails in every dimension.
constexpr Shape kSkinny[] = {
    {1, 8, 8, 2048, 2048, 64, 64, f32, false},
    {1, 8, 8, 2048, 2048, 32, 32, f32, false},
    {2, 6, 3, 1000, 1000, 80, 80, f32, false},
    {1, 4, 4, 257, 4099, 96, 64, f32, false},
};
constexpr Shape kCausal[] = {
    {1, 8, 8, 2048, 2048, 128, 128, f32, true},
    {1, 4, 4, 4096, 4096, 64, 64, f32, true},
    {1, 8, 8, 512, 4096, 128, 128, f32, true},  // a chunk of queries at the end of a KV cache
    {1, 8, 8, 2048, 2048, 128, 128, bf16, true},
};

constexpr std::pair<std::string_view, std::span<const Shape>> kSets[] = {
    {"default", kDefault}, {"prefill", kPrefill}, {"decode", kDecode},
    {"skinny", kSkinny},   {"causal", kCausal},
};
constexpr std::array<std::string_view, std::size(kSets)> kSetNames = [] {
  std::array<std::string_view, std::size(kSets)> names{};
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = kSets[i].first;
  return names;
}();

}  // namespace

std::string Shape::label() const {
  // Appends only: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
  std::string s;
  const auto add = [&s](const char* prefix, std::int64_t v) {
    s += prefix;
    s += std::to_string(v);
  };
  add("B", batch);
  add(" H", heads);
  if (kv_heads != heads) add("/", kv_heads);
  add(" M", q_len);
  add(" N", kv_len);
  add(" D", head_dim);
  if (head_dim_v != head_dim) add("/", head_dim_v);
  s += ' ';
  s += dtype_name(dtype);
  if (causal) s += " causal";
  return s;
}

bool ShapeOptions::take(std::string_view opt, const std::function<std::string_view()>& value) {
  const auto count = [&](std::int64_t& field) { field = positive(opt, value(), kMaxInt); };
  if (opt == "--batch") count(s_.batch);
  else if (opt == "--heads") count(s_.heads);
  else if (opt == "--kv-heads") { count(s_.kv_heads); kv_heads_given_ = true; }
  else if (opt == "--q-len") count(s_.q_len);
  else if (opt == "--kv-len") count(s_.kv_len);
  else if (opt == "--head-dim") count(s_.head_dim);
  else if (opt == "--head-dim-v") { count(s_.head_dim_v); dv_given_ = true; }
  else if (opt == "--dtype") s_.dtype = choice(opt, value(), kDtypes);
  else if (opt == "--causal") s_.causal = true;
  else return false;
  given_ = true;
  return true;
}

Shape ShapeOptions::shape() const {
  Shape s = s_;
  if (!kv_heads_given_) s.kv_heads = s.heads;
  if (!dv_given_) s.head_dim_v = s.head_dim;
  if (s.heads % s.kv_heads != 0)
    throw UsageError("--kv-heads (" + std::to_string(s.kv_heads) + ") must divide --heads (" +
                     std::to_string(s.heads) + ")");
  return s;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "fp32";
    case DType::f16: return "fp16";
    case DType::bf16: return "bf16";
    case DType::i8: return "int8";
    case DType::f8_e4m3: return "fp8_e4m3";
    case DType::f8_e5m2: return "fp8_e5m2";
  }
  return "?";
}

std::size_t dtype_bytes(DType t) {
  return t == DType::f32 ? 4 : t == DType::f16 || t == DType::bf16 ? 2 : 1;
}

attnrt_params mask_params(const Shape& s) {
  attnrt_params p;
  attnrt_params_init(&p);
  p.causal = s.causal ? 1 : 0;
  return p;
}

double flops(const Shape& s) {
  const attnrt_params p = mask_params(s);
  double entries = 0;
  for (std::int64_t i = 0; i < s.q_len; ++i) {
    std::int64_t lo, hi;
    test::visible_keys(p, s.q_len, s.kv_len, i, &lo, &hi);
    if (hi > lo) entries += static_cast<double>(hi - lo);
  }
  return 2.0 * entries * static_cast<double>(s.batch * s.heads * (s.head_dim + s.head_dim_v));
}

double bytes_moved(const Shape& s) {
  const double q_o = static_cast<double>(s.batch * s.heads * s.q_len * (s.head_dim + s.head_dim_v));
  const double k_v = static_cast<double>(s.batch * s.kv_heads * s.kv_len * (s.head_dim + s.head_dim_v));
  return (q_o + k_v) * static_cast<double>(dtype_bytes(s.dtype));
}

std::span<const Shape> shape_set(std::string_view name) {
  for (const auto& [n, shapes] : kSets)
    if (n == name) return shapes;
  return {};
}

std::span<const std::string_view> shape_set_names() { return kSetNames; }

}  // namespace attnrt::bench
