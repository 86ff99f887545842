# Every third-party dependency, found the way its Debian package supports.
find_package(PkgConfig REQUIRED)
# SystemC and TLM ship only pkg-config files on Debian.
pkg_check_modules(SystemC REQUIRED IMPORTED_TARGET systemc>=2.3)
pkg_check_modules(TLM REQUIRED IMPORTED_TARGET tlm)
find_package(HDF5 REQUIRED COMPONENTS CXX)
# zlib (a dependency of libhdf5-dev): the CRC-32 of result files.
find_package(ZLIB REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS graph)
# Only the tests and the microbenchmarks need these: the command line builds without them.
if(VIRTSIM_TESTS)
  find_package(GTest REQUIRED)
endif()
if(VIRTSIM_TESTS AND VIRTSIM_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(zstd REQUIRED)
find_package(Threads REQUIRED)

# One interface target for the HDF5 C++ API, since FindHDF5 hands back variables.
add_library(virtsim_hdf5 INTERFACE)
target_include_directories(virtsim_hdf5 SYSTEM INTERFACE ${HDF5_INCLUDE_DIRS})
target_link_libraries(virtsim_hdf5 INTERFACE ${HDF5_CXX_LIBRARIES} ${HDF5_LIBRARIES})
target_compile_definitions(virtsim_hdf5 INTERFACE ${HDF5_DEFINITIONS})

add_library(virtsim_systemc INTERFACE)
target_link_libraries(virtsim_systemc INTERFACE PkgConfig::SystemC PkgConfig::TLM Threads::Threads)
