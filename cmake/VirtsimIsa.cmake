# The host instruction set the build targets. The machine that builds virtsim is the one that
# runs it (scripts/setup), so by default the build uses x86-64-v3 (AVX2, BMI2, FMA) when the
# build machine runs x86-64-v3 code: three-operand vector instructions and shifts by a
# register make the per-access path about 3 % shorter (callgrind, GUPS under EPT). Other
# machines get the compiler's baseline. -ffp-contract=off keeps every floating-point result
# the same as a baseline build's (no fused multiply-adds), so results do not depend on it.
#   -DVIRTSIM_ISA=auto (default) | baseline | <a -march value, e.g. native or x86-64-v2>
set(VIRTSIM_ISA "auto" CACHE STRING "Host instruction set: auto (x86-64-v3 when the build machine runs it), baseline, or a -march value")

include(CheckCXXSourceRuns)
set(virtsim_march "")
if(VIRTSIM_ISA STREQUAL "auto")
  set(CMAKE_REQUIRED_FLAGS "-march=x86-64-v3")
  set(CMAKE_REQUIRED_QUIET ON)
  check_cxx_source_runs("
    int main() {
      __builtin_cpu_init();
      return __builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"bmi2\") &&
             __builtin_cpu_supports(\"fma\") ? 0 : 1;
    }" VIRTSIM_HOST_RUNS_X86_64_V3)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_QUIET)
  if(VIRTSIM_HOST_RUNS_X86_64_V3)
    set(virtsim_march "x86-64-v3")
  endif()
elseif(NOT VIRTSIM_ISA STREQUAL "baseline")
  set(virtsim_march "${VIRTSIM_ISA}")
endif()
add_compile_options(-ffp-contract=off)
if(virtsim_march)
  add_compile_options(-march=${virtsim_march})
  message(STATUS "virtsim: host instruction set -march=${virtsim_march} (VIRTSIM_ISA=${VIRTSIM_ISA})")
else()
  message(STATUS "virtsim: host instruction set: the compiler's baseline (VIRTSIM_ISA=${VIRTSIM_ISA})")
endif()
