// The integer a C caller stored in an enum field. C lets any int sit in an
// enum object; C++ reading a value outside the enumerators' range through
// the enum type is undefined (UBSan's -fsanitize=enum aborts on it), so
// enum fields that arrive through the C ABI are checked through their bytes.
#pragma once

#include <cstring>
#include <type_traits>

namespace attnrt::rt {

template <class E>
int raw_enum(const E& e) {
  static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int));
  int v;
  std::memcpy(&v, &e, sizeof v);
  return v;
}

}  // namespace attnrt::rt
