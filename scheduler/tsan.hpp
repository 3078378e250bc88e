// Telling ThreadSanitizer about hand-offs it cannot see: oneTBB's (and
// libgomp's) own synchronization lives in libraries built without TSan, so a
// job enqueued by one thread and run by another would look like a race.
// Release before handing over, acquire when picking up; no-ops otherwise.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define ATTNRT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ATTNRT_TSAN 1
#endif
#endif

#if ATTNRT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace attnrt::scheduler {

#if ATTNRT_TSAN
inline void tsan_release(void* addr) { __tsan_release(addr); }
inline void tsan_acquire(void* addr) { __tsan_acquire(addr); }
#else
inline void tsan_release(void*) {}
inline void tsan_acquire(void*) {}
#endif

}  // namespace attnrt::scheduler
