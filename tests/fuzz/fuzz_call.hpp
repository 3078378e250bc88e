// The arguments of one call, as copies a case may break, and the call made
// through the API the case names.
#pragma once

#include <attnrt/attnrt.h>
#include <attnrt/attnrt.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_case.hpp"
#include "tests/fuzz/fuzz_inputs.hpp"

namespace attnrt::fuzz {

// The C++ layer's view of a C ABI view.
attnrt::Tensor to_cpp(const attnrt_tensor& t);

struct Call {
  explicit Call(const Inputs& in);
  Call(const Call&) = delete;  // params points into this object
  Call& operator=(const Call&) = delete;

  attnrt_tensor q, k, v, o, bias{}, lse{}, k_scale{}, v_scale{};
  std::vector<std::int64_t> kv_lens;
  std::vector<std::int32_t> cu_q, cu_k, block_table;
  attnrt_params params;
};

// Breaks the one rule c.breakage names; *runtime becomes null for
// Breakage::null_runtime. Returns what the error message must name (the
// argument broken), or "" where the rule does not say.
std::string break_call(Call& call, const Case& c, attnrt_runtime** runtime);

struct CallResult {
  attnrt_status status = ATTNRT_OK;
  std::string message;  // attnrt_last_error() or attnrt::Error::what()
};
// Through the C ABI (runtime null: the process-wide one unless the case
// broke it on purpose) or the C++ layer (runtime null: attention_forward).
CallResult call_c(const Call& call, attnrt_runtime* runtime, bool default_runtime);
CallResult call_cpp(const Call& call, attnrt::Runtime* runtime);

}  // namespace attnrt::fuzz
