#include "mpi/src/error.hpp"

#include <attnrt/attnrt_mpi.h>

namespace attnrt::mpi {
namespace {
thread_local std::string last_error;
}
void set_last_error(const std::string& message) { last_error = message; }
}  // namespace attnrt::mpi

extern "C" const char* attnrt_mpi_last_error(void) { return attnrt::mpi::last_error.c_str(); }
