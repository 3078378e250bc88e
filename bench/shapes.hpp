// Problem shapes the benchmarks run, the named shape sets, and what a shape
// costs: FLOPs over the score entries its mask leaves visible, and the bytes
// of Q, K, V and O it must move at least once.
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace attnrt::bench {

struct Shape {
  std::int64_t batch = 1, heads = 8, kv_heads = 8;
  std::int64_t q_len = 2048, kv_len = 2048;
  std::int64_t head_dim = 128, head_dim_v = 128;
  DType dtype = DType::f32;
  bool causal = false;

  std::string label() const;  // e.g. "B1 H8/2 M2048 N2048 D128 fp32 causal"
  bool operator==(const Shape&) const = default;
};

// The shape options (--batch ... --causal), shared by the command line and
// the shape files (shape_file.hpp).
class ShapeOptions {
 public:
  // Applies `opt` if it is a shape option, reading its value through
  // `value`; false if it is not one. Throws UsageError on a bad value.
  bool take(std::string_view opt, const std::function<std::string_view()>& value);
  bool given() const { return given_; }
  // The shape; --kv-heads defaults to --heads, --head-dim-v to --head-dim.
  // Throws UsageError when --kv-heads does not divide --heads.
  Shape shape() const;

 private:
  Shape s_;  // the defaults: B1 H8 M=N=2048 D128 fp32
  bool given_ = false, kv_heads_given_ = false, dv_given_ = false;
};

const char* dtype_name(DType t);
std::size_t dtype_bytes(DType t);

// The mask a shape implies, as the C ABI states it (causal aligned bottom-right).
attnrt_params mask_params(const Shape& s);

// 2·(D + Dv) per visible score entry: 4·B·Hq·M·N·D without a mask, about
// half of that when causal.
double flops(const Shape& s);

// Q and O once per query head, K and V once per KV head.
double bytes_moved(const Shape& s);

// Named sets: "default" (what attnrt-bench runs with no shape options,
// well under a minute on a 2-core box), "prefill", "decode", "skinny",
// "causal". An unknown name gives an empty span.
std::span<const Shape> shape_set(std::string_view name);
std::span<const std::string_view> shape_set_names();

}  // namespace attnrt::bench
