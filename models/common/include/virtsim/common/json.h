#pragma once
// Minimal JSON text helpers for the few places that emit JSON (describe, stats, attributes).
#include <string>

namespace virtsim::json {

std::string quote(const std::string& s);  // a JSON string literal with escapes
std::string number(double v);             // shortest round-trip form; NaN/inf become null

}  // namespace virtsim::json
