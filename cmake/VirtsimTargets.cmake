# Shared compile settings for every virtsim target.
add_library(virtsim_options INTERFACE)
target_compile_options(virtsim_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local
  -Wnon-virtual-dtor -Wno-unused-parameter)
if(VIRTSIM_SANITIZE)
  target_compile_options(virtsim_options INTERFACE -fsanitize=address,undefined
    -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(virtsim_options INTERFACE -fsanitize=address,undefined)
endif()

# virtsim_model_library(NAME SOURCES... DEPENDS ...): one library per model folder,
# public headers under include/, private code under src/.
function(virtsim_model_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPENDS} PRIVATE virtsim_options)
endfunction()

# Every test binary's main: SystemC's main() calls our sc_main(), which runs GoogleTest.
if(VIRTSIM_TESTS)
  add_library(virtsim_gtest_main OBJECT ${CMAKE_SOURCE_DIR}/tests/support/sc_gtest_main.cpp)
  target_link_libraries(virtsim_gtest_main PUBLIC GTest::gtest virtsim_systemc)
endif()

# virtsim_gtest(NAME SOURCES... DEPENDS ... [DEFINITIONS ...]): one GoogleTest binary registered
# with CTest; nothing when VIRTSIM_TESTS is off.
function(virtsim_gtest name)
  if(NOT VIRTSIM_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;DEFINITIONS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPENDS} virtsim_gtest_main virtsim_options)
  target_compile_definitions(${name} PRIVATE ${ARG_DEFINITIONS})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "SYSTEMC_DISABLE_COPYRIGHT_MESSAGE=1")
endfunction()
