// Run-time instruction-set selection for the CPU kernels.
//
// The build targets generic x86-64; faster code paths are compiled per function with target
// attributes and chosen once, at first use, from what the CPU reports. RAGENT_ISA
// (scalar | avx2 | avx512) caps the level, so every path can be exercised on one machine.
#pragma once

#include <optional>
#include <string_view>

namespace ragent::kernels {

// Ordered: a higher level implies the lower ones are usable.
enum class Isa : int {
  Scalar = 0,  // portable C++
  Avx2 = 1,    // AVX2 + FMA + F16C (plus AVX-VNNI where present)
  Avx512 = 2,  // AVX-512 F/BW/VL/VNNI
};

// Best level this CPU supports (ignores RAGENT_ISA). Thread-safe; computed once.
Isa detected_isa();
// detected_isa() capped by RAGENT_ISA, read once at first call. An unknown value is ignored.
Isa default_isa();
// The lower of `requested` and detected_isa(): the level a caller asking for `requested` gets.
Isa usable_isa(Isa requested);
// True when the CPU also has AVX-VNNI (256-bit vpdpbusd without AVX-512).
bool has_avx_vnni();

std::string_view isa_name(Isa isa);
std::optional<Isa> parse_isa(std::string_view name);

}  // namespace ragent::kernels
