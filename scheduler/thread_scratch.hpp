// Memory private to the calling thread for the length of one call: a call's
// partition and its split-KV partials live here, since a worker's arena
// workspace is reused by other callers' parts before this call's partials
// are merged. Grows when a thread first needs more (its first calls, or a
// larger shape than before), so a thread's steady-state calls allocate nothing.
#pragma once

#include <cstddef>

namespace attnrt::scheduler {

// At least `bytes`, 64-byte aligned; valid until this thread's next call.
void* thread_scratch(std::size_t bytes);

}  // namespace attnrt::scheduler
