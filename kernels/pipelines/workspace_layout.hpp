// Carving a Workspace into 64-byte aligned pieces, in one place for every
// pipeline and for the sizing that must agree with it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace attnrt::kernels {

inline constexpr std::size_t kAlign = 64;
inline constexpr std::size_t align_up(std::size_t x) { return (x + kAlign - 1) & ~(kAlign - 1); }

// Hands out consecutive aligned slices; with base == nullptr it only counts.
class Carver {
 public:
  explicit Carver(void* base = nullptr) : base_(static_cast<std::byte*>(base)) {}
  template <class T = std::byte>
  T* take(std::size_t bytes) {
    std::byte* p = base_ ? base_ + used_ : nullptr;
    used_ += align_up(bytes);
    return reinterpret_cast<T*>(p);
  }
  std::size_t used() const { return used_; }

 private:
  std::byte* base_;
  std::size_t used_ = 0;
};

}  // namespace attnrt::kernels
