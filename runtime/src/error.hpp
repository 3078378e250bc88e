// The runtime's one error type: a status and a message that names the
// argument and the rule it broke. The C ABI turns it into a status code and
// a thread-local message.
#pragma once

#include <attnrt/attnrt.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace attnrt::rt {

class Failure : public std::runtime_error {
 public:
  Failure(attnrt_status s, const std::string& msg) : std::runtime_error(msg), status(s) {}
  attnrt_status status;
};

// fail(ATTNRT_INVALID_ARGUMENT, "k.heads (", 6, ") must divide q.heads (", 16, ")")
template <class... Parts>
[[noreturn]] void fail(attnrt_status s, const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Failure(s, os.str());
}

}  // namespace attnrt::rt
