#pragma once
namespace virtsim {
const char* version();       // the project version, e.g. "0.1.0"
const char* git_revision();  // the commit the binary was built from, or "unknown"
}  // namespace virtsim
