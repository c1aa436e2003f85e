#include "aiclient/upstream/url.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace aiclient::upstream {

namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Characters of a registered name or IPv4 literal (RFC 3986 unreserved, minus nothing useful).
bool is_host_char(char c) noexcept {
  return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

// Path and query characters: anything visible; no controls, spaces, DEL, non-ASCII or '#'.
// Rejecting whitespace and controls keeps the request line free of injected lines.
bool is_path_char(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != '#';
}

}  // namespace

std::string url::authority() const {
  std::string out;
  append_authority(out);
  return out;
}

void url::append_authority(std::string& out) const {
  append_host(out);
  char digits[8] = {':'};
  const auto end = std::to_chars(digits + 1, digits + sizeof digits, port).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void url::append_host(std::string& out) const {
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) out.push_back('[');
  out.append(host);
  if (v6) out.push_back(']');
}

std::optional<url> url::parse(std::string_view s) {
  url u;
  auto sep = s.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  for (char c : s.substr(0, sep)) u.scheme += lower(c);
  if (u.scheme == "http") {
    u.port = 80;
  } else if (u.scheme == "https") {
    u.port = 443;
  } else {
    return std::nullopt;
  }
  std::string_view rest = s.substr(sep + 3);
  auto auth_end = rest.find_first_of("/?#");
  std::string_view auth = rest.substr(0, auth_end);
  std::string_view tail =
      auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);

  std::string_view port_text;
  bool has_port = false;
  if (!auth.empty() && auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view h = auth.substr(1, close - 1);
    if (h.empty() || h.find(':') == std::string_view::npos) return std::nullopt;
    for (char c : h) {
      if (!is_hex(c) && c != ':' && c != '.') return std::nullopt;
      u.host += lower(c);
    }
    std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    auto colon = auth.find(':');
    std::string_view h = auth.substr(0, colon);
    if (h.empty()) return std::nullopt;
    for (char c : h) {
      if (!is_host_char(c)) return std::nullopt;  // also rejects userinfo ('@')
      u.host += lower(c);
    }
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = auth.substr(colon + 1);
    }
  }
  if (has_port && !port_text.empty()) {
    if (port_text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    u.port = static_cast<std::uint16_t>(value);
  }

  for (char c : tail) {
    if (!is_path_char(c)) return std::nullopt;  // fragments and whitespace are not accepted
  }
  auto q = tail.find('?');
  std::string_view path = tail.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : tail.substr(q);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) {
    u.path = "/";
  } else {
    u.path = path;
  }
  u.path += query;
  return u;
}

bool is_loopback_host(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.size() > 63) return false;
  char buf[64];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  for (std::size_t i = 0; i < host.size(); ++i) buf[i] = lower(buf[i]);
  std::string_view h(buf, host.size());
  if (h == "localhost" || h == "localhost.") return true;
  unsigned char addr[16];
  if (::inet_pton(AF_INET, buf, addr) == 1) return addr[0] == 127;
  if (::inet_pton(AF_INET6, buf, addr) == 1) {
    static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(addr, loop6, 16) == 0) return true;
    return std::memcmp(addr, mapped, 12) == 0 && addr[12] == 127;
  }
  return false;
}

}  // namespace aiclient::upstream
