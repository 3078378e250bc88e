// A case that crashes the process (a fault on a guard page, a sanitizer
// report) still names itself: the note each calling thread sets before its
// case is written to stderr from the sanitizers' death callback or a
// fatal-signal handler, every caller's (the fault may be on a worker).
#pragma once

#include <string>

namespace attnrt::fuzz {

// Installs the handlers once; later calls only replace this thread's note.
void set_crash_note(const std::string& note);

}  // namespace attnrt::fuzz
