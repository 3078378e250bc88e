// attnrt_cache_write: a step's new K or V rows stored into a cache slot by
// slot, quantized when the cache holds codes (attnrt.h says the contract).
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>

namespace attnrt::rt {

// Checks every argument before it writes anything; a broken rule throws a
// Failure that names the argument.
void cache_write(const attnrt_tensor* src, const attnrt_tensor* cache, const attnrt_tensor* scale,
                 const std::int64_t* slots);

}  // namespace attnrt::rt
