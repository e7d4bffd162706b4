#include "kernels/cpu/isa.hpp"

#include <algorithm>
#include <cstdlib>

namespace ragent::kernels {
namespace {

Isa probe_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    return Isa::Avx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c")) {
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
    return detected_isa() >= Isa::Avx2 && __builtin_cpu_supports("avxvnni");
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
