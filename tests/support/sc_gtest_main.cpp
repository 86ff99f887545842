// Test entry point. Debian's libsystemc.so owns main() and calls sc_main(), so GoogleTest
// runs from here, inside SystemC's context (tests may elaborate modules and sc_start once).
#include <gtest/gtest.h>

#include <cstdlib>
#include <systemc>

// SystemC prints its banner before sc_main; silence it during static initialization.
[[maybe_unused]] static const int kQuietBanner = setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);

int sc_main(int argc, char* argv[]) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
