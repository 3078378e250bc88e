// The message of a failed attnrt_mpi_* call, kept per thread like
// attnrt_last_error, and the exception that carries it to the C boundary.
#pragma once

#include <attnrt/attnrt.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace attnrt::mpi {

struct Failure : std::runtime_error {
  attnrt_status status;
  Failure(attnrt_status s, const std::string& what) : std::runtime_error(what), status(s) {}
};

template <class... A>
[[noreturn]] void fail(attnrt_status s, const A&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Failure(s, os.str());
}

void set_last_error(const std::string& message);

}  // namespace attnrt::mpi
