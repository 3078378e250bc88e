#include <cstdlib>
#include <memory>
#include <new>

#include "scheduler/thread_scratch.hpp"

namespace attnrt::scheduler {
namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Scratch {
  std::unique_ptr<void, FreeDeleter> data;
  std::size_t bytes = 0;
};

}  // namespace

void* thread_scratch(std::size_t bytes, ScratchUse use) {
  thread_local Scratch scratch[2];
  Scratch& s = scratch[static_cast<int>(use)];
  if (bytes > s.bytes) {
    const std::size_t rounded = (bytes + 4095) / 4096 * 4096;
    void* p = std::aligned_alloc(4096, rounded);
    if (!p) throw std::bad_alloc();
    s.data.reset(p);
    s.bytes = rounded;
  }
  return s.data.get();
}

}  // namespace attnrt::scheduler
