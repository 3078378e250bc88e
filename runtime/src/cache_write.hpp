// attnrt_cache_write: a step's new K or V rows stored into a cache slot by
// slot, quantized when the cache holds codes (attnrt.h says the contract).
#pragma once

#include <attnrt/attnrt.h>

#include <cstdint>

namespace attnrt::scheduler {
class Executor;
}

namespace attnrt::rt {

// Checks every argument before it writes anything; a broken rule throws a
// Failure that names the argument. With an executor, a write large enough
// to pay for it runs on its workers (each the tokens of its own pages, in
// token order: a slot named twice still keeps the later token).
void cache_write(const attnrt_tensor* src, const attnrt_tensor* cache, const attnrt_tensor* scale,
                 const std::int64_t* slots, scheduler::Executor* executor = nullptr);

}  // namespace attnrt::rt
