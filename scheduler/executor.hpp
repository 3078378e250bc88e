// Runs a callable over work items on a team of workers. Each call of `body`
// gets the item index and the worker's index in [0, workers()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "scheduler/function_ref.hpp"

namespace attnrt::scheduler {

class Executor {
 public:
  virtual ~Executor() = default;
  virtual const char* name() const = 0;
  virtual int workers() const = 0;
  virtual void run(std::int64_t items, FunctionRef<void(std::int64_t item, int worker)> body) = 0;
};

std::unique_ptr<Executor> make_openmp_executor(int workers);

// Scratch memory private to the calling thread, at least `bytes`, 64-byte
// aligned. Grows only when a larger size is first asked for, so steady-state
// calls never allocate.
void* thread_scratch(std::size_t bytes);

}  // namespace attnrt::scheduler
