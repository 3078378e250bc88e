#include "bench/cycles.hpp"

#if defined(__linux__)
#include <dirent.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#endif

namespace attnrt::bench {

#if defined(__linux__)
namespace {

int open_cycles(pid_t tid) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_HARDWARE;
  attr.config = PERF_COUNT_HW_CPU_CYCLES;
  attr.exclude_kernel = 1;  // user mode only: allowed at perf_event_paranoid 2
  attr.exclude_hv = 1;
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, tid, -1, -1, 0));
}

}  // namespace

ProcessCycles::ProcessCycles() {
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = open_cycles(static_cast<pid_t>(std::atoi(e->d_name)));
    if (fd < 0) {  // all threads or none: a partial sum would mean nothing
      for (int f : fds_) close(f);
      fds_.clear();
      break;
    }
    fds_.push_back(fd);
  }
  closedir(dir);
}

ProcessCycles::~ProcessCycles() {
  for (int fd : fds_) close(fd);
}

std::uint64_t ProcessCycles::read() const {
  std::uint64_t sum = 0;
  for (int fd : fds_) {
    std::uint64_t v = 0;
    if (::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v)) sum += v;
  }
  return sum;
}

#else

ProcessCycles::ProcessCycles() = default;
ProcessCycles::~ProcessCycles() = default;
std::uint64_t ProcessCycles::read() const { return 0; }

#endif

}  // namespace attnrt::bench
