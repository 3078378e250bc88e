// Memory private to the calling thread for the length of one call: a call's
// partition and its split-KV partials live here, since a worker's arena
// workspace is reused by other callers' parts before this call's partials
// are merged. Grows when a thread first needs more (its first calls, or a
// larger shape than before), so a thread's steady-state calls allocate nothing.
#pragma once

#include <cstddef>

namespace attnrt::scheduler {

// What the memory is for: each use has its own buffer, so a thread that is
// both a call's caller and one of its workers (OpenMP's worker 0) keeps both.
enum class ScratchUse { call_state, workspace };

// At least `bytes`, 64-byte aligned; valid until this thread next asks for
// the same use.
void* thread_scratch(std::size_t bytes, ScratchUse use = ScratchUse::call_state);

}  // namespace attnrt::scheduler
