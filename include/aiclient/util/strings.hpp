#pragma once
#include <string>
#include <string_view>

namespace aiclient::util {

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;
/// ASCII case-insensitive prefix test.
bool istarts_with(std::string_view s, std::string_view prefix) noexcept;
/// ASCII lower-case copy.
std::string to_lower(std::string_view s);
/// Lower-cases the ASCII letters of [first, last) in place (other bytes untouched; no locale,
/// no call per byte).
inline void lower_in_place(char* first, char* last) noexcept {
  for (; first != last; ++first) {
    if (*first >= 'A' && *first <= 'Z') *first = static_cast<char>(*first - 'A' + 'a');
  }
}
/// The same for a whole string.
inline void lower_in_place(std::string& s) noexcept {
  lower_in_place(s.data(), s.data() + s.size());
}
/// Compares two secrets in time that depends only on their lengths, not on their content.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;
/// "sk-a...wxyz": keeps at most the first 4 and last 4 characters of a secret of 12+ chars,
/// "***" for shorter ones; never the whole secret.
std::string mask_secret(std::string_view secret);
/// Trims ASCII whitespace on both sides.
std::string_view trim(std::string_view s) noexcept;
/// Value of `key` in a URL query string ("a=1&key=x"), percent-decoded; empty when absent.
std::string query_param(std::string_view query, std::string_view key);
/// Percent-decodes ('+' stays '+').
std::string percent_decode(std::string_view s);
/// The system's message for an errno value (thread-safe strerror_r).
std::string errno_text(int e);

}  // namespace aiclient::util
