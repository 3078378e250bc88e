// A case that crashes the process (a fault on a guard page, a sanitizer
// report) still names itself: the note set before each case is written to
// stderr from the sanitizers' death callback or a fatal-signal handler.
#pragma once

#include <string>

namespace attnrt::fuzz {

// Installs the handlers once; later calls only replace the note.
void set_crash_note(const std::string& note);

}  // namespace attnrt::fuzz
