// Seeded random numbers: the same seed gives the same numbers on every run and
// machine (no std:: distributions, whose output is implementation-defined).
#ifndef MINIGRAPH_FRAMEWORK_RANDOM_H_
#define MINIGRAPH_FRAMEWORK_RANDOM_H_

#include <cstdint>

namespace minigraph {

// Stateless mix of (seed, counter) into 64 uniform bits: the splitmix64 step
// applied to seed ^ (counter * an odd 64-bit multiplier). Dropout masks use
// it so element i's decision depends only on the seed and i.
uint64_t CounterHash(uint64_t seed, uint64_t counter);

// Uniform double in [0, 1) from the top 53 bits of a 64-bit word.
inline double BitsToUnit(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// xoshiro256** seeded through splitmix64.
class Generator {
 public:
  explicit Generator(uint64_t seed);
  uint64_t NextBits();
  // Uniform in [0, 1).
  double NextUnit() { return BitsToUnit(NextBits()); }
  // Standard normal by Box-Muller (both values of a pair are used).
  double NextNormal();

 private:
  uint64_t state_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace minigraph

#endif  // MINIGRAPH_FRAMEWORK_RANDOM_H_
