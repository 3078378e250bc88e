// Every rule a call's arguments must meet. Each broken rule throws a Failure
// whose message names the argument and the rule.
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>

namespace attnrt::rt {

// The rules of any view an entry point takes, each throwing a Failure that
// names it: a tensor's dtype (kv: int8 and fp8 codes too), shape, strides,
// data and extent; an output's elements distinct; an output apart from an
// input in memory; two sizes equal. array_view: a plain array of `bytes`
// as a view, for the overlap rule.
void check_tensor(const char* name, const attnrt_tensor* t, bool kv = false);
void check_distinct(const char* name, const attnrt_tensor& t);
void check_disjoint(const char* out_name, const attnrt_tensor& out, const char* in_name, const attnrt_tensor& in);
void require_eq(const char* a, std::int64_t va, const char* b, std::int64_t vb);
attnrt_tensor array_view(const void* a, std::int64_t bytes);

// Checks q, k, v, o and params (never null here: the C layer substitutes
// defaults for a null params).
void validate(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
              const attnrt_tensor* o, const attnrt_params& params);

}  // namespace attnrt::rt
