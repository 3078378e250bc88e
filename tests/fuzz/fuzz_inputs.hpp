// The buffers of a fuzz case: every input and output view in its own
// guarded region, inputs drawn from U(-1, 1) and then made read-only,
// padding of inputs NaN (a read outside a view poisons the result) and of
// outputs a NaN pattern checked after the call; plus the non-finite values
// the case asks for, hidden behind masks or in plain sight.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "tests/fuzz/fuzz_case.hpp"
#include "tests/fuzz/guarded_view.hpp"

namespace attnrt::fuzz {

struct Inputs {
  explicit Inputs(const Case& c);

  // The case's parameters over these buffers (valid while they live).
  attnrt_params params() const;

  GuardedView q, k, v, o;
  std::optional<GuardedView> bias, lse;
  std::vector<std::int64_t> kv_lens;
  const Case& spec;
};

}  // namespace attnrt::fuzz
