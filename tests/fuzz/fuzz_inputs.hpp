// The buffers of a fuzz case: every input and output view in its own
// guarded region, inputs drawn from U(-1, 1) and then made read-only,
// padding of inputs NaN (a read outside a view poisons the result) and of
// outputs a NaN pattern checked after the call; plus the non-finite values
// the case asks for, hidden behind masks or in plain sight (in quantized
// K/V: NaN/inf codes, or NaN/inf scales).
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <cstdint>
#include <optional>
#include <vector>

#include "tests/fuzz/fuzz_case.hpp"
#include "tests/fuzz/guarded_view.hpp"

namespace attnrt::fuzz {

// The runtimes a written case's writer may run on (Case::writer).
struct WriterRuntimes {
  attnrt_runtime* c = nullptr;
  attnrt::Runtime* cpp = nullptr;
};

struct Inputs {
  explicit Inputs(const Case& c, WriterRuntimes on = {});

  // The case's parameters over these buffers (valid while they live).
  attnrt_params params() const;

  GuardedView q, k, v, o;
  std::optional<GuardedView> bias, lse, k_scale, v_scale;
  // Serving cases: what the reference reads for k and v, fp32 [B, Hkv,
  // keys, D]: each sequence's keys gathered from varlen or paged K/V and
  // dequantized (code * scale in fp32, as the library computes them).
  // Quantized K/V with fp16/bf16 q: the same rounded to q's dtype too, the
  // other precision attnrt.h allows ("at q's dtype's precision or better").
  std::optional<GuardedView> k_ref, v_ref, k_ref_q, v_ref_q;
  std::vector<std::int64_t> kv_lens;
  const Case& spec;

  const attnrt_tensor& reference_k(bool rounded = false) const {
    return rounded ? k_ref_q->view() : k_ref ? k_ref->view() : k.view();
  }
  const attnrt_tensor& reference_v(bool rounded = false) const {
    return rounded ? v_ref_q->view() : v_ref ? v_ref->view() : v.view();
  }
};

}  // namespace attnrt::fuzz
