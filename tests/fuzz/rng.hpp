// splitmix64: a tiny generator whose whole state is one word, so a case's
// stream follows from (seed, index) with no warm-up and no library version
// in the way (std distributions differ between standard libraries).
#pragma once

#include <cstdint>

namespace attnrt::fuzz {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (the modulo bias is irrelevant at these ranges).
  std::int64_t range(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  // True with probability per_cent / 100.
  bool chance(int per_cent) { return range(0, 99) < per_cent; }
  // Uniform in [lo, hi).
  double real(double lo, double hi) { return lo + (hi - lo) * static_cast<double>(next() >> 11) * 0x1p-53; }

 private:
  std::uint64_t state_;
};

// The seed of case `index` of a run seeded with `seed`.
inline std::uint64_t case_seed(std::uint64_t seed, std::uint64_t index) {
  return Rng(seed ^ (index * 0xd1b54a32d192ed03ull)).next();
}

}  // namespace attnrt::fuzz
