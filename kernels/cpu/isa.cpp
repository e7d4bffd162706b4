#include "kernels/cpu/isa.hpp"

#include <algorithm>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace ragent::kernels {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// One CPUID feature bit. Used for F16C and AVX-VNNI, which not every compiler's
// __builtin_cpu_supports knows (clang 14 lacks both); the AVX state the OS must save is
// already implied by the avx2 check that precedes every use.
bool cpuid_bit(unsigned leaf, unsigned subleaf, int reg, int bit) {
  unsigned r[4] = {0, 0, 0, 0};
  if (__get_cpuid_count(leaf, subleaf, &r[0], &r[1], &r[2], &r[3]) == 0) return false;
  return ((r[reg] >> bit) & 1u) != 0;
}
constexpr int kEax = 0, kEcx = 2;
bool has_f16c() { return cpuid_bit(1, 0, kEcx, 29); }
#endif

Isa probe_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("fma") && has_f16c()) {
    return Isa::Avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c()) {
    return Isa::Avx2;
  }
#endif
  return Isa::Scalar;
}

}  // namespace

Isa detected_isa() {
  static const Isa isa = probe_cpu();
  return isa;
}

Isa usable_isa(Isa requested) { return std::min(requested, detected_isa()); }

Isa default_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("RAGENT_ISA");
    const std::optional<Isa> cap = env != nullptr ? parse_isa(env) : std::nullopt;
    return cap ? usable_isa(*cap) : detected_isa();
  }();
  return isa;
}

bool has_avx_vnni() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool vnni = [] {
    __builtin_cpu_init();
    return detected_isa() >= Isa::Avx2 && cpuid_bit(7, 1, kEax, 4);
  }();
  return vnni;
#else
  return false;
#endif
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

std::optional<Isa> parse_isa(std::string_view name) {
  if (name == "scalar") return Isa::Scalar;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  return std::nullopt;
}

}  // namespace ragent::kernels
