#include "tests/fuzz/crash_note.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

// Defined when a sanitizer's runtime is in the process, whether or not this
// file was compiled with it (CI sanitizes the library, not the harness).
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

namespace attnrt::fuzz {
namespace {

// One note per calling thread (attnrt-fuzz --callers), all written by the
// handlers: the fault may come from a runtime's worker, not the caller
// whose case it runs, so every case in flight is named.
constexpr int kSlots = 64;
struct Note {
  char text[2048];
  std::atomic<std::size_t> len{0};
};
Note g_notes[kSlots];
std::atomic<int> g_next_slot{0};

void write_notes() {
  for (Note& n : g_notes) {
    const std::size_t len = n.len.load(std::memory_order_acquire);
    ssize_t ignored = write(STDERR_FILENO, n.text, len);
    (void)ignored;
  }
}

void on_fatal_signal(int sig) {
  write_notes();
  signal(sig, SIG_DFL);
  raise(sig);
}

void install() {
  // The sanitizers own SIGSEGV, SIGBUS and SIGFPE (their report names the
  // access) and end the process with _exit, no signal: they call this
  // after their report.
  const bool sanitized = __sanitizer_set_death_callback != nullptr;
  if (sanitized) __sanitizer_set_death_callback(write_notes);
  for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
    if (!sanitized || (sig != SIGSEGV && sig != SIGBUS && sig != SIGFPE)) signal(sig, on_fatal_signal);
}

}  // namespace

void set_crash_note(const std::string& note) {
  static const bool installed = (install(), true);
  (void)installed;
  thread_local const int slot = g_next_slot.fetch_add(1) % kSlots;
  Note& n = g_notes[slot];
  n.len.store(0, std::memory_order_release);  // a handler meanwhile writes nothing of it
  const std::size_t len = std::min(note.size(), sizeof n.text);
  std::memcpy(n.text, note.data(), len);
  n.len.store(len, std::memory_order_release);
}

}  // namespace attnrt::fuzz
