#include "aiclient/util/strings.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace aiclient::util {
namespace {
// strerror_r comes in a GNU (char*) and an XSI (int) flavour; accept both.
[[maybe_unused]] const char* pick_message(const char* returned, const char*) {
  return returned;
}
[[maybe_unused]] const char* pick_message(int, const char* buffer) {
  return buffer;
}
char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  // Walk the full length of `b` (the candidate) whatever `a` holds, so the time depends on
  // the lengths only.
  volatile std::uint8_t diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const std::uint8_t x = i < a.size() ? std::uint8_t(a[i]) : 0;
    diff = diff | std::uint8_t(x ^ std::uint8_t(b[i]));
  }
  return diff == 0;
}

std::string mask_secret(std::string_view secret) {
  if (secret.size() < 12) return "***";
  return std::string(secret.substr(0, 4)) + "..." + std::string(secret.substr(secret.size() - 4));
}

std::string_view trim(std::string_view s) noexcept {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(char(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string query_param(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key)
      return eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::string errno_text(int e) {
  char buffer[256] = {};
  return pick_message(::strerror_r(e, buffer, sizeof buffer), buffer);
}

}  // namespace aiclient::util
