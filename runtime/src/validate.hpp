// Every rule a call's arguments must meet. Each broken rule throws a Failure
// whose message names the argument and the rule.
#pragma once

#include <attnrt/attnrt.h>

namespace attnrt::rt {

// Checks q, k, v, o and params (never null here: the C layer substitutes
// defaults for a null params).
void validate(const attnrt_tensor* q, const attnrt_tensor* k, const attnrt_tensor* v,
              const attnrt_tensor* o, const attnrt_params& params);

}  // namespace attnrt::rt
