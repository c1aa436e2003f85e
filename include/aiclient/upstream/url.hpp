#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aiclient::upstream {

/// An absolute http(s) URL split into what a connection and a request line need.
struct url {
  std::string scheme;  ///< "http" or "https"
  std::string host;    ///< host name or IP literal (IPv6 without brackets)
  std::uint16_t port = 0;
  std::string path;  ///< path and query, "/" when empty; never ends with '/' unless it is "/"
  bool tls() const noexcept { return scheme == "https"; }
  /// "host:port" with brackets for IPv6, as a Host header / CONNECT target wants it.
  std::string authority() const;
  /// Appends authority() to `out` (no temporary string).
  void append_authority(std::string& out) const;
  /// Appends the host, in brackets for IPv6.
  void append_host(std::string& out) const;
  /// Parses "http[s]://host[:port][/path][?query]". No userinfo, no fragment.
  static std::optional<url> parse(std::string_view s);
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(std::string_view host) noexcept;

}  // namespace aiclient::upstream
