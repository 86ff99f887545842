#pragma once
// One-byte hashes of the tags of a set-associative array, kept beside the tags so a lookup
// finds the ways that may hold a tag with one 16-byte compare (SSE2) and reads only their
// tags. The tags stay the truth: a hash match is only a candidate.
#include <cstdint>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace virtsim {

inline constexpr unsigned kTagHintStride = 16;  // hash bytes per set: arrays of up to 16 ways
inline std::uint8_t tag_hint(std::uint64_t tag) { return static_cast<std::uint8_t>((tag * 0x9e3779b97f4a7c15ull) >> 56); }

// Bit w set when hints[w] is the hash of `tag`, for all 16 bytes of a row; owners that keep
// a mask of their ways apply it themselves.
inline unsigned tag_hint_row_matches(const std::uint8_t* hints, std::uint64_t tag) {
  const std::uint8_t wanted = tag_hint(tag);
#if defined(__SSE2__)
  const __m128i row = _mm_loadu_si128(reinterpret_cast<const __m128i*>(hints));
  return static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(row, _mm_set1_epi8(static_cast<char>(wanted)))));
#else
  unsigned equal = 0;
  for (unsigned w = 0; w < kTagHintStride; ++w) equal |= unsigned{hints[w] == wanted} << w;
  return equal;
#endif
}

// The same for w < ways (at most 16).
inline unsigned tag_hint_matches(const std::uint8_t* hints, std::uint64_t tag, unsigned ways) {
  const unsigned equal = tag_hint_row_matches(hints, tag);
  return ways >= 16 ? equal : equal & ((1u << ways) - 1);
}

// The same for arrays of up to 32 ways, whose hashes are 32 bytes apart per set (walk caches).
inline constexpr unsigned kWideTagHintStride = 32;
inline unsigned tag_hint_matches_wide(const std::uint8_t* hints, std::uint64_t tag, unsigned ways) {
  const unsigned both = tag_hint_row_matches(hints, tag) | (tag_hint_row_matches(hints + 16, tag) << 16);
  return ways >= 32 ? both : both & ((1u << ways) - 1);
}

// The lowest way of `candidates` (a tag_hint_matches() mask) for which `holds(way)` is true,
// or -1: hash matches are only candidates, the caller's tags decide.
template <typename Holds>
inline int first_holding_way(unsigned candidates, Holds holds) {
  for (; candidates; candidates &= candidates - 1)
    if (const auto way = static_cast<unsigned>(__builtin_ctz(candidates)); holds(way)) return static_cast<int>(way);
  return -1;
}

}  // namespace virtsim
