#include "tests/fuzz/crash_note.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define ATTNRT_FUZZ_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define ATTNRT_FUZZ_SANITIZED 1
#endif
#endif
#ifdef ATTNRT_FUZZ_SANITIZED
#include <sanitizer/common_interface_defs.h>
#endif

namespace attnrt::fuzz {
namespace {

// Per thread: the faulting thread runs the handlers (synchronous signals,
// sanitizer reports), so each caller thread's note names its own case.
thread_local char g_note[2048];  // written before each case; read only by the handlers
thread_local std::size_t g_note_len = 0;

void write_note() {
  ssize_t ignored = write(STDERR_FILENO, g_note, g_note_len);
  (void)ignored;
}

void on_fatal_signal(int sig) {
  write_note();
  signal(sig, SIG_DFL);
  raise(sig);
}

void install() {
#ifdef ATTNRT_FUZZ_SANITIZED
  // The sanitizers own SIGSEGV (their report names the access); they call
  // this after printing it.
  __sanitizer_set_death_callback(write_note);
#endif
  for (const int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
#ifdef ATTNRT_FUZZ_SANITIZED
    if (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE) continue;
#endif
    signal(sig, on_fatal_signal);
  }
}

}  // namespace

void set_crash_note(const std::string& note) {
  static const bool installed = (install(), true);
  (void)installed;
  g_note_len = std::min(note.size(), sizeof g_note);
  std::memcpy(g_note, note.data(), g_note_len);
}

}  // namespace attnrt::fuzz
